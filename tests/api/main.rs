//! Integration tests: HTTP against the real worker under `wrangler dev`
//! (real workerd, D1 and R2). `scripts/test` starts one catalog per run with
//! fresh state and passes its URL in `CATALOG_URL` (and its state directory in
//! `CATALOG_STATE`, so tests can look into R2 with `wrangler r2 object get`).
//! Tests share the server; each isolates its images with a unique tag.

mod helpers;

mod cli;
mod client;
mod concurrency;
mod cutoff;
mod discovery;
mod errors;
mod image_data;
mod images;
mod listing;
mod maintenance;
mod members;
mod patching;
mod v1;
