//! Pre-caching (`PUT /v2/cache/{id}`): the fill of this data centre's edge
//! cache with a queued image's data, run by the isolate that queued it
//! after its answer (the Cache API writes only where it runs).

use std::rc::Rc;

use worker::Context;

use super::app::App;
use super::download;
use super::image_cache::{check_cacheable, record_fill};
use crate::domain::image::ImageId;
use crate::error::ApiError;
use crate::store::cache::EdgeCache;
use crate::store::cache_entries::CacheState;

/// Fills this data centre's edge cache with image `image_id`'s data after
/// the answer (`PUT /v2/cache/{id}` queued it here): read from its heaviest
/// store, put under the key recorded when it was queued, then recorded
/// cached. An entry dequeued meanwhile, or an image gone or no longer
/// active, ends quietly; a failed fill is dequeued (logged), so nothing
/// looks queued that no one is filling, and can be queued again.
pub fn precache(app: Rc<App>, image_id: String, ctx: &Context) {
    ctx.wait_until(async move {
        if let Err(e) = fill_queued(&app, &image_id).await {
            worker::console_warn!("could not pre-cache image {image_id}: {e}");
            if let Err(e) = app.cache_entries.dequeue(&image_id).await {
                worker::console_warn!("could not dequeue image {image_id} after a failed fill: {e}");
            }
        }
    });
}

async fn fill_queued(app: &App, image_id: &str) -> Result<(), ApiError> {
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
    let Some(image) = image.filter(|image| check_cacheable(image).is_ok()) else {
        entries.dequeue(image_id).await?;
        return Ok(());
    };
    let (Some(checksum), Some(size)) = (image.checksum.as_deref(), image.size) else { return Ok(()) };
    let cache =
        EdgeCache::open().ok_or_else(|| ApiError::internal("the runtime has no edge cache (caches.default)"))?;
    if size > 0 {
        let body = download::open_whole(app, &image).await?;
        cache.put(&entry.cache_key, body, size).await?;
    }
    // An empty image is cached as what it is, with nothing to fetch.
    record_fill(entries, &cache, image_id, checksum, &entry.cache_key, size).await?;
    Ok(())
}
