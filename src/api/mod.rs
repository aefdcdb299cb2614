//! HTTP handlers. Each reads *parse the request -> apply to the domain ->
//! respond*. Errors are returned as [`ApiError`](crate::error::ApiError) and
//! rendered once, in `entry`.
//!
//! - [`dispatch`]: route -> handler, the one table of that;
//! - [`admission`]: the header budget and authentication, before any handler;
//! - [`config`]: binding names and settings; [`app`]: the per-request
//!   [`App`] and the policy-checked way to get an image;
//! - [`respond`]: shared request/response helpers;
//! - [`upload`]: the upload engine every byte stream into R2 goes through
//!   ([`upload::transfer`]); [`download`]: downloads; [`image_write`]: the
//!   one compare-and-set loop of image records; [`catalog`]: the
//!   list, update and delete operations they share;
//! - [`quota`]: per-project limits enforced where Glance enforces them;
//! - [`v2`], [`v1`], [`discovery`]: the handlers, by API;
//! - [`image_cache`]: the image cache API's engine over the edge cache
//!   (record fills and hits, purge), per data centre; [`precache`]: the
//!   fill `PUT /v2/cache/{id}` starts;
//! - [`jobs`]: the import queue's consumer (imports, location hashing,
//!   import tasks);
//! - [`maintenance`]: the cron upkeep (stalled uploads and imports, the
//!   scrubber, expired tasks).

pub mod admission;
pub mod app;
pub mod catalog;
pub mod conditional;
pub mod config;
pub mod discovery;
pub mod dispatch;
pub mod download;
pub mod image_cache;
pub mod image_write;
pub mod jobs;
pub mod maintenance;
pub mod precache;
pub mod quota;
pub mod respond;
pub mod staging;
pub mod upload;
pub mod v1;
pub mod v2;

pub use app::App;
pub use dispatch::handle;
