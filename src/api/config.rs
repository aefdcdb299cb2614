//! The worker's settings: binding and variable names (`wrangler.toml`) and
//! the [`Config`] read from them once per isolate.

use std::rc::Rc;

use worker::Env;

use crate::domain::access::auth::{auth_mode, AuthMode};
use crate::domain::import::request::ImportMethod;
use crate::domain::import::uri_filter::UriFilter;
use crate::domain::quota::LimitSource;
use crate::domain::stores::Stores;
use crate::domain::Misconfigured;

/// Binding and variable names from `wrangler.toml`.
pub mod names {
    /// D1 database with image metadata.
    pub const METADATA_DB: &str = "DB";
    /// R2 bucket with image data.
    pub const IMAGES_BUCKET: &str = "IMAGES";
    /// The image stores (JSON; see `domain::stores`).
    pub const STORES: &str = "STORES";
    /// The import queue.
    pub const IMPORTS_QUEUE: &str = "IMPORTS";
    /// The import methods offered.
    pub const IMPORT_METHODS: &str = "IMPORT_METHODS";
    /// Show and manage `locations` (Glance's `show_multiple_locations`).
    pub const SHOW_MULTIPLE_LOCATIONS: &str = "SHOW_MULTIPLE_LOCATIONS";
    /// Glance's `delayed_delete`.
    pub const DELAYED_DELETE: &str = "DELAYED_DELETE";
    /// Seconds a pending-delete image keeps its data.
    pub const SCRUB_TIME_SECONDS: &str = "SCRUB_TIME_SECONDS";
    /// Hours a finished task is kept.
    pub const TASK_TIME_TO_LIVE_HOURS: &str = "TASK_TIME_TO_LIVE_HOURS";
    /// Largest accepted image, in bytes.
    pub const IMAGE_SIZE_CAP: &str = "IMAGE_SIZE_CAP";
    /// Minutes after which a `saving` image counts as a dead upload.
    pub const STALLED_UPLOAD_MINUTES: &str = "STALLED_UPLOAD_MINUTES";
    /// Seconds an upload's body may send nothing before it is abandoned.
    pub const UPLOAD_IDLE_SECONDS: &str = "UPLOAD_IDLE_SECONDS";
    /// Hours a resumable upload lives after its last progress.
    pub const RESUMABLE_UPLOAD_EXPIRY_HOURS: &str = "RESUMABLE_UPLOAD_EXPIRY_HOURS";
    /// Refuse data whose format is not the declared `disk_format`
    /// (Glance's `require_image_format_match`); the safety checks run
    /// either way.
    pub const REQUIRE_IMAGE_FORMAT_MATCH: &str = "REQUIRE_IMAGE_FORMAT_MATCH";
    /// Seconds an isolate may answer a revalidation of an image's metadata
    /// (`If-None-Match`, 304) from its own recent read instead of D1
    /// (0: never).
    pub const REVALIDATION_MEMORY_SECONDS: &str = "REVALIDATION_MEMORY_SECONDS";
    /// The name this catalog gives the data centre serving its requests
    /// (default: Cloudflare's `request.cf.colo`): local runs name theirs.
    pub const DATA_CENTRE: &str = "DATA_CENTRE";
    /// Fault injection for the tests only (never in `wrangler.toml`): the
    /// first R2 put of each image whose name starts with this value fails.
    pub const TEST_FAIL_R2_PUT: &str = "TEST_FAIL_R2_PUT";
}

/// Glance's default `image_size_cap`: 1 TiB.
const DEFAULT_SIZE_CAP: u64 = 1 << 40;

/// A `saving` image (or running task) with no progress for this long is
/// taken for one whose worker died (`STALLED_UPLOAD_MINUTES`).
const DEFAULT_STALLED_MINUTES: u64 = 5;

/// A body that sends nothing for this long is abandoned (the bound:
/// at most 60 s by default). It counts from the last byte received, so a
/// slow but live upload of any size is never cut.
const DEFAULT_UPLOAD_IDLE_SECONDS: u64 = 60;

/// A resumable upload not advanced for this long expires (its storage is
/// removed by the cron).
const DEFAULT_RESUMABLE_EXPIRY_HOURS: u64 = 24;

/// How stale a revalidation answered from an isolate's memory may be: about
/// what a D1 read replica may lag, which a client without the bookmark
/// accepts already; a client that sends its bookmark never gets an older
/// answer than it asked for.
const DEFAULT_REVALIDATION_MEMORY_SECONDS: u64 = 2;

/// Settings read from the worker's variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// How callers are authenticated (`Err`: misconfigured, every
    /// authenticated route answers 500 rather than guessing).
    pub auth: Result<AuthMode, Misconfigured>,
    /// The image stores (`Err`: misconfigured; routes that need them
    /// answer 500 naming the problem).
    pub stores: Result<Stores, Misconfigured>,
    /// The default store's id (v1 shows it as the image's store).
    pub store_id: String,
    /// The import methods offered.
    pub import_methods: Vec<ImportMethod>,
    /// What web-download, import tasks and locations may fetch (`Err`:
    /// misconfigured; nothing is fetched, fetching routes answer 500).
    pub uri_filter: Result<UriFilter, Misconfigured>,
    /// Show and manage `locations`.
    pub show_multiple_locations: bool,
    /// DELETE leaves images `pending_delete` for the scrubber.
    pub delayed_delete: bool,
    /// Seconds before the scrubber deletes a pending-delete image's data.
    pub scrub_time_seconds: u64,
    /// Hours a finished task is kept.
    pub task_ttl_hours: u64,
    /// Largest image accepted.
    pub size_cap: u64,
    /// Minutes after which a `saving` image counts as a dead upload.
    pub stalled_upload_minutes: u64,
    /// Seconds an upload body may stall before it is abandoned.
    pub upload_idle_seconds: u64,
    /// Hours a resumable upload lives after its last progress.
    pub resumable_expiry_hours: u64,
    /// Data must be of its declared `disk_format` (on unless
    /// `REQUIRE_IMAGE_FORMAT_MATCH` is false).
    pub require_format_match: bool,
    /// Where the per-project limits come from (`Err`: misconfigured; routes
    /// that enforce a limit answer 500 naming the problem).
    pub quotas: Result<LimitSource, Misconfigured>,
    /// Seconds a revalidation may be answered from the isolate's recent
    /// read of the image (0: always from D1).
    pub revalidation_memory_seconds: u64,
    /// The data centre's name when set (`DATA_CENTRE`), else the colo each
    /// request reports.
    pub data_centre: Option<String>,
    /// Tests only: images whose name starts with this have their first R2
    /// put fail (see [`names::TEST_FAIL_R2_PUT`]).
    pub test_fail_r2_put: Option<String>,
}

thread_local! {
    /// The isolate's settings: its vars and secrets are fixed for its life
    /// (a new deployment or `wrangler secret put` starts new isolates), so
    /// they are read and parsed once, not on every request.
    static ISOLATE_CONFIG: std::cell::OnceCell<Rc<Config>> = const { std::cell::OnceCell::new() };
}

impl Config {
    /// The settings of this isolate (read from `env` the first time).
    pub fn of(env: &Env) -> Rc<Config> {
        ISOLATE_CONFIG.with(|cell| cell.get_or_init(|| Rc::new(Config::from_env(env))).clone())
    }

    /// Reads the settings from the worker's vars and secrets.
    fn from_env(env: &Env) -> Config {
        let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
        // Secrets (`wrangler secret put`) and vars are both plain strings.
        let var_or_secret = |name: &str| var(name).or_else(|| env.secret(name).ok().map(|v| v.to_string()));
        let number = |name: &str| var(name).and_then(|v| v.trim().parse::<u64>().ok());
        let flag = |name: &str| var(name).is_some_and(|v| matches!(v.trim(), "true" | "True" | "1" | "yes" | "on"));
        let stores = match var(names::STORES).filter(|v| !v.trim().is_empty()) {
            Some(raw) => Stores::parse(&raw).map_err(|e| Misconfigured(format!("{}: {e}", names::STORES))),
            None => Ok(Stores::single("primary", names::IMAGES_BUCKET)),
        };
        let store_id = stores.as_ref().map(|s| s.default_store().id.clone()).unwrap_or_else(|_| "primary".into());
        let import_methods = match var(names::IMPORT_METHODS) {
            Some(raw) => ImportMethod::parse_list(&raw).unwrap_or_else(|e| {
                worker::console_error!("{}: {e}; no import method is offered", names::IMPORT_METHODS);
                Vec::new()
            }),
            None => ImportMethod::ALL.to_vec(),
        };
        let auth = auth_mode(var_or_secret);
        // glance-download asks another region's catalog found in Keystone's
        // service catalog: only offered when there is a Keystone.
        let import_methods: Vec<ImportMethod> = import_methods
            .into_iter()
            .filter(|m| *m != ImportMethod::GlanceDownload || matches!(auth, Ok(AuthMode::Keystone(_))))
            .collect();
        let quotas = LimitSource::from_vars(var, matches!(auth, Ok(AuthMode::Keystone(_))));
        Config {
            require_format_match: var(names::REQUIRE_IMAGE_FORMAT_MATCH)
                .is_none_or(|v| !matches!(v.trim(), "false" | "False" | "0" | "no" | "off")),
            quotas,
            auth,
            stores,
            store_id,
            import_methods,
            uri_filter: UriFilter::from_vars(var).map_err(|e| Misconfigured(e.to_string())),
            show_multiple_locations: flag(names::SHOW_MULTIPLE_LOCATIONS),
            delayed_delete: flag(names::DELAYED_DELETE),
            scrub_time_seconds: number(names::SCRUB_TIME_SECONDS).unwrap_or(0),
            task_ttl_hours: number(names::TASK_TIME_TO_LIVE_HOURS).unwrap_or(48),
            size_cap: number(names::IMAGE_SIZE_CAP).unwrap_or(DEFAULT_SIZE_CAP),
            stalled_upload_minutes: number(names::STALLED_UPLOAD_MINUTES).unwrap_or(DEFAULT_STALLED_MINUTES),
            upload_idle_seconds: number(names::UPLOAD_IDLE_SECONDS)
                .filter(|s| *s > 0)
                .unwrap_or(DEFAULT_UPLOAD_IDLE_SECONDS),
            resumable_expiry_hours: number(names::RESUMABLE_UPLOAD_EXPIRY_HOURS)
                .filter(|h| *h > 0)
                .unwrap_or(DEFAULT_RESUMABLE_EXPIRY_HOURS),
            revalidation_memory_seconds: number(names::REVALIDATION_MEMORY_SECONDS)
                .unwrap_or(DEFAULT_REVALIDATION_MEMORY_SECONDS),
            data_centre: var(names::DATA_CENTRE).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()),
            test_fail_r2_put: var(names::TEST_FAIL_R2_PUT).filter(|v| !v.is_empty()),
        }
    }
}

impl Config {
    /// The URI filter, if its settings are usable.
    pub fn filter(&self) -> Result<&UriFilter, Misconfigured> {
        self.uri_filter.as_ref().map_err(Clone::clone)
    }
}
