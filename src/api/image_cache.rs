//! The image cache API (Glance's `/v2/cache`, v2.14) on top of the edge
//! cache: what "cached" means here, and the operations the handlers, the
//! download path and the pre-cache fill share.
//!
//! An image is *cached* in a data centre when this catalog put its whole
//! data into that data centre's edge cache (`caches.default`,
//! `store::cache`) and recorded it there in D1 (`store::cache_entries`): a
//! download's MISS fills it, and so does `PUT /v2/cache/{id}`, whose fill
//! (`api::precache`) runs in the requesting isolate after the answer
//! (`ctx.waitUntil`), since the Cache API only writes to the data centre it
//! runs in. Like Glance's per-node cache, each data centre lists, removes
//! and clears its own entries (`DELETE /v2/cache/{id}` and `DELETE
//! /v2/cache` act where they are served).
//!
//! Entries are purged when the image is deleted, deactivated, or its
//! visibility changes: the rows of every data centre, and the edge key
//! where the purge runs; copies elsewhere expire by their max-age, never
//! served meanwhile (every download is authorized against D1 before the
//! cache is looked at). Sharing changes are ignored: the key holds nothing
//! caller-specific (image id and checksum), and who may read an entry is
//! decided per download from the image's current record and membership, so
//! adding or removing a member cannot make a cached copy reach anyone the
//! policy refuses. The visibility purge is not needed for
//! safety either, for the same reason; it is done so that an image whose
//! audience changed starts with a fresh record (hits, times) in `/v2/cache`.

use worker::Context;

use super::app::App;
use super::respond::now_seconds;
use crate::domain::image::Image;
use crate::error::ApiError;
use crate::store::cache::{EdgeCache, MAX_ENTRY_BYTES};
use crate::store::cache_entries::{CacheEntries, CacheEntry};
use crate::store::StoreError;

/// The edge cache key of `image`'s whole data, as downloads use it (`None`
/// without a checksum: such data is never cached).
pub fn key_of(base_url: &str, image: &Image) -> Option<String> {
    image.checksum.as_deref().map(|checksum| EdgeCache::key(base_url, image.id.as_str(), checksum))
}

/// Whether `image` can be queued for pre-caching: active, with data the
/// Cache API can hold ([`Image::check_cacheable`]); an empty image can.
pub fn check_cacheable(image: &Image) -> Result<(), ApiError> {
    image.check_cacheable(MAX_ENTRY_BYTES).map_err(ApiError::from)
}

/// Records that `key` now holds image `image_id`'s data (`checksum`,
/// `size` bytes). If the image stopped being active with that checksum
/// meanwhile (deleted, deactivated, purged between the fill and now), the
/// fill is undone instead, so a purge can never be outrun by a late fill.
pub async fn record_fill(
    entries: &CacheEntries,
    cache: &EdgeCache,
    image_id: &str,
    checksum: &str,
    key: &str,
    size: u64,
) -> Result<(), StoreError> {
    let recorded = entries.record_fill(image_id, checksum, key, size, now_seconds()).await?;
    if !recorded {
        cache.delete(key).await?;
    }
    Ok(())
}

/// Counts a download served from the edge cache, in the background (never
/// on the byte path).
pub fn record_hit(app: &App, image: &Image, ctx: &Context) {
    let (entries, id) = (app.cache_entries.clone(), image.id.as_str().to_owned());
    ctx.wait_until(async move {
        if let Err(e) = entries.record_hit(&id, now_seconds()).await {
            worker::console_warn!("could not count a cache hit of image {id}: {e}");
        }
    });
}

/// Removes `image` from the cache and its queue in every data centre: the
/// D1 rows, the edge keys they recorded and the key downloads through this
/// host would use (deleted in this data centre). Failures are logged: the
/// caller's change (delete, deactivate, PATCH) already happened, and a
/// leftover key is never served (D1 is read first).
pub async fn purge(app: &App, image: &Image) {
    let removed = app.cache_entries.remove_everywhere(image.id.as_str()).await;
    drop_keys(app, image, removed).await;
}

/// Removes `image` from this data centre's cache and queue
/// (`DELETE /v2/cache/{id}`): its row and edge keys, as [`purge`] does
/// everywhere.
pub async fn evict(app: &App, image: &Image) {
    let removed = app.cache_entries.remove(image.id.as_str()).await;
    drop_keys(app, image, removed).await;
}

async fn drop_keys(app: &App, image: &Image, removed: Result<Vec<CacheEntry>, StoreError>) {
    let removed = removed.unwrap_or_else(|e| {
        worker::console_error!("could not remove the cache record of image {}: {e}", image.id);
        Vec::new()
    });
    let mut keys: Vec<String> = removed.into_iter().map(|entry| entry.cache_key).collect();
    if let Some(key) = key_of(&app.base_url, image).filter(|key| !keys.contains(key)) {
        keys.push(key);
    }
    delete_keys(&keys).await;
}

/// Deletes the edge keys of removed rows (in this data centre).
pub async fn forget(removed: &[CacheEntry]) {
    let keys: Vec<String> = removed.iter().map(|entry| entry.cache_key.clone()).collect();
    delete_keys(&keys).await;
}

async fn delete_keys(keys: &[String]) {
    let Some(cache) = EdgeCache::open() else { return };
    for key in keys {
        if let Err(e) = cache.delete(key).await {
            worker::console_warn!("could not delete {key} from the edge cache: {e}");
        }
    }
}
