//! # edge-glance: the OpenStack Image service (Glance) as a Cloudflare Worker
//!
//! Image metadata and tasks live in D1, image bytes in R2 (several buckets,
//! Glance's stores); bytes stream between the client, the web and R2 as
//! JavaScript streams and never enter wasm; imports run on a Queue.
//!
//! Map of the crate:
//! - [`domain`]: pure rules, host-tested, one room per concept:
//!   [`domain::image`] (the record and its write rules, the status machine
//!   in [`domain::image::status`], data fields, the plain columns,
//!   JSON-patch, locations), [`domain::access`]
//!   (the policy table, Keystone identities, members), [`domain::listing`]
//!   (list queries and their SQL), [`domain::import`] (import requests, the
//!   URI filter), [`domain::stores`], [`domain::task`] (the task record and
//!   its status machine), [`domain::wire`] (v1
//!   headers, documents, ranges).
//! - [`router`]: the one route table (JSON 404/405 included).
//! - [`error`]: [`error::ApiError`], the single error rendered to clients, and
//!   the one mapping of domain and store errors to HTTP.
//! - [`context`]: [`context::RequestContext`], who is calling.
//! - [`store`]: the only code touching D1, R2, Queues, Keystone and the web
//!   (wasm), plus the
//!   row mapping and the single-statement SQL (host-tested).
//! - `api` (wasm only): handlers, one per route, *parse -> apply -> respond*;
//!   `api::dispatch` maps routes to them, `api::app` is the policy-checked way
//!   to get an image, `api::upload` the upload engine every byte stream into
//!   R2 goes through, `api::download` downloads, `api::image_write` the one
//!   compare-and-set loop of image records,
//!   `api::jobs` the queue consumer that runs imports.
//! - `entry` (wasm only): `#[event(fetch)]`, `#[event(scheduled)]` and
//!   `#[event(queue)]`, thin.
//! - `client` (host only): the native client the `edge-glance` CLI
//!   (`src/bin/edge-glance.rs`) and the integration tests use.

#[cfg(not(target_arch = "wasm32"))]
pub mod client;
pub mod context;
pub mod domain;
pub mod error;
pub mod router;
pub mod store;

#[cfg(target_arch = "wasm32")]
mod api;
#[cfg(target_arch = "wasm32")]
mod entry;
