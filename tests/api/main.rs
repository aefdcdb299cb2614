//! Integration tests: HTTP against the real worker under `wrangler dev`
//! (real workerd, D1 and R2). `scripts/test` starts one catalog per run with
//! fresh state and passes its URL in `CATALOG_URL` (and its state directory in
//! `CATALOG_STATE`, so tests can look into R2 with `wrangler r2 object get`).
//! Tests share the server; each isolates its images with a unique tag.
//!
//! The import, URI-filter, task and location tests also need
//! `CATALOG_FIXTURE_PORT`: the loopback port the catalog's URI filter allows
//! (started with `IMPORT_ALLOWED_HOSTS=127.0.0.1` and
//! `IMPORT_ALLOWED_PORTS=80,443,$CATALOG_FIXTURE_PORT`), where
//! `fixture_server` serves the bodies the catalog downloads. The catalog's
//! stores are `primary` (default, weight 100), `secondary` (50) and the
//! read-only http store `web` (0).
//!
//! `delayed_delete` and `locations_patch` also need catalog B
//! (`CATALOG_B_URL`, `CATALOG_B_STATE`): a second catalog `scripts/test`
//! starts with `DELAYED_DELETE=true`, `SCRUB_TIME_SECONDS=2` and
//! `SHOW_MULTIPLE_LOCATIONS=true` (see `helpers::app_b`); `quotas` needs
//! catalog C (`CATALOG_C_URL`), started with `IMAGE_QUOTAS` (see
//! `helpers::app_c`).

mod fixture_server;
mod helpers;

mod bookmarks;
mod bounds;
mod cache;
mod cli;
mod cli_resume;
mod client;
mod concurrency;
mod conditional;
mod cutoff;
mod delayed_delete;
mod discovery;
mod errors;
mod faults;
mod formats;
mod image_data;
mod images;
mod imports;
mod listing;
mod locations;
mod locations_patch;
mod maintenance;
mod members;
mod metadefs;
mod patching;
mod queue;
mod quotas;
mod stores;
mod tasks;
mod uploads;
mod uri_filter;
mod v1;
