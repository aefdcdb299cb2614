//! # edge-glance: the OpenStack Image service (Glance) as a Cloudflare Worker
//!
//! Image metadata lives in D1, image bytes in R2; bytes stream between the
//! client and R2 as JavaScript streams and never enter wasm.
//!
//! Map of the crate:
//! - [`domain`]: pure rules, host-tested, one room per concept:
//!   [`domain::image`] (the record and its write rules, the status machines
//!   in [`domain::image::status`], JSON-patch), [`domain::access`] (the policy
//!   table, Keystone identities, members), [`domain::listing`] (list queries
//!   and their SQL), [`domain::wire`] (v1 headers, documents, ranges).
//! - [`router`]: the one route table (JSON 404/405 included).
//! - [`error`]: [`error::ApiError`], the single error rendered to clients, and
//!   the one mapping of domain and store errors to HTTP.
//! - [`context`]: [`context::RequestContext`], who is calling.
//! - [`store`]: the only code touching D1, R2 and Keystone (wasm), plus the
//!   row mapping and the single-statement SQL (host-tested).
//! - `api` (wasm only): handlers, one per route, *parse -> apply -> respond*;
//!   `api::dispatch` maps routes to them, `api::app` is the policy-checked way
//!   to get an image, `api::data` the upload/download engine v1 and v2 share.
//! - `entry` (wasm only): `#[event(fetch)]` and `#[event(scheduled)]`, thin.
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
