//! Pre-cache jobs (`PUT /v2/cache/{id}`): the image's data read from its
//! heaviest store and put into the edge cache under the key recorded when
//! it was queued, then recorded cached. An entry that was dequeued, or an
//! image that is gone or no longer active, ends the job quietly; `Err` asks
//! the queue to retry.

use super::JobError;
use crate::api::app::App;
use crate::api::image_cache;
use crate::domain::image::ImageId;
use crate::store::cache::EdgeCache;
use crate::store::cache_entries::CacheState;

/// Pre-caches image `image_id`.
pub async fn run(app: &App, image_id: &str) -> Result<(), JobError> {
    let entries = &app.cache_entries;
    let Some(entry) = entries.get(image_id).await? else {
        return Ok(()); // dequeued meanwhile
    };
    if entry.state != CacheState::Queued {
        return Ok(()); // a download filled it first
    }
    let image = match ImageId::parse(image_id) {
        Some(id) => app.images.get(&id).await?,
        None => None,
    };
    let Some(image) = image.filter(|image| image_cache::check_cacheable(image).is_ok()) else {
        entries.dequeue(image_id).await?;
        return Ok(());
    };
    let (Some(checksum), Some(size)) = (image.checksum.as_deref(), image.size) else { return Ok(()) };
    let Some(cache) = EdgeCache::open() else {
        return Err(JobError::Retry("the runtime has no edge cache (caches.default)".into()));
    };
    if size == 0 {
        // Nothing to fetch: an empty image is cached as what it is.
        image_cache::record_fill(entries, &cache, image_id, checksum, &entry.cache_key, 0).await?;
        return Ok(());
    }
    let body = crate::api::download::open_whole(app, &image).await?;
    cache.put(&entry.cache_key, body, size).await?;
    image_cache::record_fill(entries, &cache, image_id, checksum, &entry.cache_key, size).await?;
    Ok(())
}

/// Drops a pre-cache job that used up its retries from the queue's list.
pub async fn drop(app: &App, image_id: &str) -> Result<(), JobError> {
    app.cache_entries.dequeue(image_id).await?;
    Ok(())
}
