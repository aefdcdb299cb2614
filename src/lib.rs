//! # edge-glance: the OpenStack Image service (Glance) as a Cloudflare Worker
//!
//! Image metadata lives in D1, image bytes in R2; bytes stream between the
//! client and R2 as JavaScript streams and never enter wasm.
//!
//! Map of the crate:
//! - [`domain`]: pure rules, host-tested: the status machine
//!   ([`domain::image::status`]), the image record and its write rules
//!   ([`domain::image`]), JSON-patch ([`domain::image::patch`]), list queries and
//!   their SQL ([`domain::listing`]), download ranges ([`domain::wire::range`]),
//!   versions/schemas/info documents ([`domain::wire::documents`]), timestamps.
//! - [`router`]: the one route table (JSON 404/405 included).
//! - [`error`]: [`error::ApiError`], the single error rendered to clients.
//! - [`context`]: [`context::RequestContext`], who is calling.
//! - `store` (wasm only): the only code touching D1 and R2.
//! - `api` (wasm only): handlers, one per route, *parse -> apply -> respond*;
//!   `api::v2::image_data` is the upload/download path.
//! - `entry` (wasm only): `#[event(fetch)]`, thin.
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
