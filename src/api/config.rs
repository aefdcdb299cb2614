//! The worker's settings: binding and variable names (`wrangler.toml`) and
//! the [`Config`] read from them once per request.

use worker::Env;

use crate::domain::access::auth::{auth_mode, AuthMode};

/// Binding and variable names from `wrangler.toml`.
pub mod names {
    /// D1 database with image metadata.
    pub const METADATA_DB: &str = "DB";
    /// R2 bucket with image data.
    pub const IMAGES_BUCKET: &str = "IMAGES";
    /// The store id shown in `stores` and `/v2/info/stores`.
    pub const STORE_ID: &str = "STORE_ID";
    /// Largest accepted image, in bytes.
    pub const IMAGE_SIZE_CAP: &str = "IMAGE_SIZE_CAP";
    /// Minutes after which a `saving` image counts as a dead upload.
    pub const STALLED_UPLOAD_MINUTES: &str = "STALLED_UPLOAD_MINUTES";
    /// Seconds an upload's body may send nothing before it is abandoned.
    pub const UPLOAD_IDLE_SECONDS: &str = "UPLOAD_IDLE_SECONDS";
}

/// Glance's default `image_size_cap`: 1 TiB.
const DEFAULT_SIZE_CAP: u64 = 1 << 40;

/// A body that sends nothing for this long is abandoned (the bound:
/// at most 60 s by default). It counts from the last byte received, so a
/// slow but live upload of any size is never cut.
const DEFAULT_UPLOAD_IDLE_SECONDS: u64 = 60;

/// Settings read from the worker's variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// How callers are authenticated (`Err`: misconfigured, every
    /// authenticated route answers 500 rather than guessing).
    pub auth: Result<AuthMode, String>,
    /// Our store id.
    pub store_id: String,
    /// Largest image accepted.
    pub size_cap: u64,
    /// Minutes after which a `saving` image counts as a dead upload.
    pub stalled_upload_minutes: u64,
    /// Seconds an upload body may stall before it is abandoned.
    pub upload_idle_seconds: u64,
}

impl Config {
    /// Reads the settings from the worker's vars and secrets.
    pub fn from_env(env: &Env) -> Config {
        let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
        // Secrets (`wrangler secret put`) and vars are both plain strings.
        let var_or_secret = |name: &str| var(name).or_else(|| env.secret(name).ok().map(|v| v.to_string()));
        let number = |name: &str| var(name).and_then(|v| v.trim().parse::<u64>().ok());
        Config {
            auth: auth_mode(var_or_secret),
            store_id: var(names::STORE_ID).unwrap_or_else(|| "r2".into()),
            size_cap: number(names::IMAGE_SIZE_CAP).unwrap_or(DEFAULT_SIZE_CAP),
            stalled_upload_minutes: number(names::STALLED_UPLOAD_MINUTES).unwrap_or(60),
            upload_idle_seconds: number(names::UPLOAD_IDLE_SECONDS)
                .filter(|s| *s > 0)
                .unwrap_or(DEFAULT_UPLOAD_IDLE_SECONDS),
        }
    }
}
