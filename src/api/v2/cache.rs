//! The image cache API (`/v2/cache`, v2.14; admin-only): list what the
//! edge cache holds and what waits to be pre-cached, queue an image, remove
//! one, clear the cache or the queue. What "cached" means on Cloudflare is
//! explained in [`crate::api::image_cache`].

use std::rc::Rc;

use serde_json::{json, Value};
use worker::{Context, Request, Response};

use crate::api::app::App;
use crate::api::image_cache::{check_cacheable, evict, forget, key_of};
use crate::api::precache::precache;
use crate::api::respond::{empty_response, header, json_response, no_content, now_seconds};
use crate::domain::access::policy;
use crate::domain::image::ImageId;
use crate::error::ApiError;
use crate::store::cache_entries::{CacheEntry, CacheState};

/// The header of `DELETE /v2/cache` that picks what to clear.
const CLEAR_TARGET: &str = "x-image-cache-clear-target";

fn check_access(app: &App) -> Result<(), ApiError> {
    if policy::may_manage_image_cache(app.caller.caller()) {
        Ok(())
    } else {
        Err(ApiError::forbidden("The image cache API is for administrators only."))
    }
}

/// `GET /v2/cache`: this data centre's `cached_images` (with Glance's keys)
/// and the ids of its `queued_images`.
pub async fn list(app: &App) -> Result<Response, ApiError> {
    check_access(app)?;
    let entries = app.cache_entries.list().await?;
    let (cached, queued): (Vec<CacheEntry>, Vec<CacheEntry>) =
        entries.into_iter().partition(|entry| entry.state == CacheState::Cached);
    let cached: Vec<Value> = cached
        .iter()
        .map(|entry| {
            json!({
                "image_id": entry.image_id,
                "hits": entry.hits,
                // Glance reports Unix times as floats.
                "last_accessed": entry.last_accessed as f64,
                "last_modified": entry.last_modified as f64,
                "size": entry.size,
            })
        })
        .collect();
    let queued: Vec<&str> = queued.iter().map(|entry| entry.image_id.as_str()).collect();
    json_response(200, &json!({"cached_images": cached, "queued_images": queued}))
}

/// `PUT /v2/cache/{id}`: queue an active image for pre-caching in this data
/// centre (202; an image already cached or queued here is left as it is),
/// filled by this isolate after the answer (`api::precache`).
pub async fn queue(app: Rc<App>, id: &ImageId, ctx: &Context) -> Result<Response, ApiError> {
    check_access(&app)?;
    let image = app.visible_image(id).await?.image;
    check_cacheable(&image)?;
    let key = key_of(&app.base_url, &image).ok_or_else(|| ApiError::bad_request("The image has no checksum."))?;
    if app.cache_entries.queue(image.id.as_str(), &key, now_seconds()).await? {
        precache(app, image.id.as_str().to_owned(), ctx);
    }
    empty_response(202)
}

/// `DELETE /v2/cache/{id}`: remove the image from this data centre's cache
/// (its edge key) and queue.
pub async fn delete(app: &App, id: &ImageId) -> Result<Response, ApiError> {
    check_access(app)?;
    let image = app.visible_image(id).await?.image;
    evict(app, &image).await;
    no_content()
}

/// `DELETE /v2/cache`: clear what `x-image-cache-clear-target` names
/// (`cache`, `queue`; absent: both) in this data centre.
pub async fn clear(app: &App, req: &Request) -> Result<Response, ApiError> {
    check_access(app)?;
    let target = match header(req, CLEAR_TARGET).as_deref().map(str::trim) {
        None | Some("") => None,
        Some("cache") => Some(CacheState::Cached),
        Some("queue") => Some(CacheState::Queued),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "If provided, {CLEAR_TARGET} must be 'cache' or 'queue', not '{other}'."
            )))
        }
    };
    let removed = app.cache_entries.clear(target).await?;
    forget(&removed).await;
    no_content()
}
