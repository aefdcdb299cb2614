//! The only code that talks to D1, R2 and Keystone.
//!
//! - [`row`]: the `images` table row and its mapping to the domain `Image`
//!   (pure, host-tested);
//! - [`statements`]: the single-statement writes (tags, members), pure SQL
//!   tested against SQLite on the host;
//! - `images` (wasm): the D1 repository, with compare-and-set status moves;
//! - `blobs` (wasm): R2 objects, fed and drained as JavaScript streams with
//!   md5/sha512 computed by the runtime's `DigestStream`;
//! - `cache` (wasm): the edge cache of downloaded image data (the Cache API);
//! - `cache_entries` (wasm): the image cache API's records in D1 (what was
//!   cached or queued for pre-caching);
//! - `members` (wasm): image memberships in D1;
//! - `tasks` (wasm): import and location tasks in D1;
//! - `metadefs` (wasm): the metadata definitions catalog in D1;
//! - `uploads` (wasm): resumable uploads in D1, written under a PATCH's
//!   lease; `upload_parts` (wasm): their parts and tails in R2;
//! - `quotas` (wasm): what a project uses of each quota, counted in D1;
//! - `jobs` (wasm): the import queue's producer side;
//! - `web` (wasm): outbound HTTP for image data, every redirect hop judged
//!   by the URI filter;
//! - `keystone` (wasm): token validation and the service token, with
//!   validations cached at the edge;
//! - `d1` (wasm): the binding and row plumbing both repositories share.

pub mod row;
pub mod statements;

#[cfg(target_arch = "wasm32")]
pub mod blobs;
#[cfg(target_arch = "wasm32")]
pub mod cache;
#[cfg(target_arch = "wasm32")]
pub mod cache_entries;
#[cfg(target_arch = "wasm32")]
pub mod d1;
#[cfg(target_arch = "wasm32")]
pub mod images;
#[cfg(target_arch = "wasm32")]
pub mod jobs;
#[cfg(target_arch = "wasm32")]
pub mod js;
#[cfg(target_arch = "wasm32")]
pub mod keystone;
#[cfg(target_arch = "wasm32")]
pub mod members;
#[cfg(target_arch = "wasm32")]
pub mod metadefs;
#[cfg(target_arch = "wasm32")]
pub mod quotas;
#[cfg(target_arch = "wasm32")]
pub mod recent;
#[cfg(target_arch = "wasm32")]
pub mod tasks;
#[cfg(target_arch = "wasm32")]
pub mod upload_parts;
#[cfg(target_arch = "wasm32")]
pub mod uploads;
#[cfg(target_arch = "wasm32")]
pub mod web;

/// What went wrong in storage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A row with this id already exists.
    #[error("duplicate id")]
    Duplicate,
    /// A stored row could not be read back.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database or bucket failed.
    #[error("storage failure: {0}")]
    Backend(String),
    /// D1 did not take the client's session bookmark (`X-D1-Bookmark`).
    #[error("{0}")]
    InvalidBookmark(String),
}
