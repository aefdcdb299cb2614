//! Downloads, v1 and v2 alike: an image's bytes streamed back out of R2
//! (or the edge cache, or an http location) as JavaScript streams; this
//! module picks the copy and decides the status and headers. Uploads are
//! `api::upload`.

use wasm_bindgen::{JsCast, JsValue};
use worker::{Context, Headers, Response, ResponseBody};

use super::app::App;
use super::image_cache::record_fill;
use super::respond::internal;
use crate::domain::image::Image;
use crate::domain::stores::StoreKind;
use crate::domain::wire::conditional::{data_cache_control, data_etag};
use crate::domain::wire::range::{self, ByteRange};
use crate::error::ApiError;
use crate::store::blobs::Blobs;
use crate::store::cache::{EdgeCache, FillClaim, MAX_ENTRY_BYTES};

/// An image's data ready to be answered: its bytes (whole or a window),
/// status (200/206) and headers.
pub struct Download {
    /// 200 or 206.
    pub status: u16,
    /// The body stream (`None`: no bytes to send).
    pub body: Option<JsValue>,
    /// Content-Type, Content-Length, Content-MD5, ETag, ...
    pub headers: Headers,
}

/// Opens `image`'s data for a caller already authorized to download it:
/// `range`/`content_range` are the request's headers (v2; v1 passes none).
/// `None` when the image has no data.
pub async fn open_download(
    app: &App,
    image: &Image,
    range_header: Option<&str>,
    content_range: Option<&str>,
    ctx: &Context,
) -> Result<Option<Download>, ApiError> {
    let (Some(size), true) = (image.size, image.has_data()) else {
        return Ok(None);
    };
    let range = range::resolve(range_header, content_range, size)?;
    let (status, length, window) = match range {
        ByteRange::Full => (200, size, None),
        ByteRange::Partial { offset, length } => (206, length, Some((offset, length))),
    };
    let (body, cache_state) = open_data(app, image, window, ctx).await?;
    let headers = data_headers(image, length, cache_state)?;
    if let Some(content_range) = range.content_range(size) {
        headers.set("Content-Range", &content_range).map_err(internal)?;
    }
    Ok(Some(Download { status, body, headers }))
}

/// The headers of a data answer of `length` bytes.
fn data_headers(image: &Image, length: u64, cache_state: Option<&str>) -> Result<Headers, ApiError> {
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(internal);
    set("Content-Type", "application/octet-stream")?;
    set("Content-Length", &length.to_string())?;
    set("Accept-Ranges", "bytes")?;
    if let Some(checksum) = &image.checksum {
        set("Content-MD5", checksum)?;
    }
    if let Some(etag) = data_etag(image) {
        set("ETag", &etag)?;
    }
    set("Cache-Control", &data_cache_control(image))?;
    if let Some(state) = cache_state {
        set("X-Edge-Cache", state)?;
    }
    Ok(headers)
}

/// A response streaming a download.
pub fn stream_response(download: Download) -> Result<Response, ApiError> {
    let body = match download.body {
        Some(stream) => ResponseBody::Stream(stream.unchecked_into::<web_sys::ReadableStream>()),
        None => ResponseBody::Empty,
    };
    Ok(Response::from_body(body).map_err(internal)?.with_status(download.status).with_headers(download.headers))
}

/// The image's data as a stream: whole objects from the edge cache when it
/// has them, else from R2; windows from R2; empty data from nowhere (a
/// zero-size image may have no object). Also says whether the cache
/// answered (`HIT`, `MISS`, or `BYPASS` for images over the Cache API's
/// 512 MB; `None` for windows).
///
/// On a miss the client gets R2's stream untouched, and the cache is filled
/// in the background from a second R2 read (one fill per image at a time in
/// an isolate): a slow or vanished client never holds the fill, and a failed
/// fill never holds the client. A fill that succeeds is recorded for the
/// image cache API (`/v2/cache`), and a hit counted, both in the background.
async fn open_data(
    app: &App,
    image: &Image,
    window: Option<(u64, u64)>,
    ctx: &Context,
) -> Result<(Option<JsValue>, Option<&'static str>), ApiError> {
    if image.size == Some(0) || window.is_some_and(|(_, length)| length == 0) {
        return Ok((None, None));
    }
    let size = image.size.unwrap_or(0);
    let too_large = size > MAX_ENTRY_BYTES;
    let cache = match (&image.checksum, window) {
        (Some(checksum), None) => {
            EdgeCache::open().map(|cache| (cache, EdgeCache::key(&app.base_url, image.id.as_str(), checksum)))
        }
        _ => None,
    };
    if let (Some((cache, cache_key)), false) = (&cache, too_large) {
        if let Some(cached) = cache.get(cache_key).await {
            super::image_cache::record_hit(app, image, ctx);
            return Ok((Some(cached), Some("HIT")));
        }
    }
    let (bucket, key) = match source_of(app, image)? {
        Source::R2(bucket, key) => (bucket, key),
        Source::Http(url) => return Ok((Some(read_through(app, &url, window).await?), None)),
    };
    let stream = bucket.get_stream(&key, window).await?;
    let stream = stream
        .ok_or_else(|| ApiError::internal(format!("image {} is active but {key} is missing from R2", image.id)))?;
    let Some((cache, cache_key)) = cache else {
        return Ok((Some(stream), None));
    };
    if too_large {
        return Ok((Some(stream), Some("BYPASS")));
    }
    if let Some(claim) = FillClaim::claim(&cache_key) {
        match bucket.get_stream(&key, None).await {
            Ok(Some(to_cache)) => {
                let entries = app.cache_entries.clone();
                let id = image.id.as_str().to_owned();
                let checksum = image.checksum.clone().unwrap_or_default();
                ctx.wait_until(async move {
                    let filled = match cache.put(&cache_key, to_cache, size).await {
                        Ok(()) => record_fill(&entries, &cache, &id, &checksum, &cache_key, size).await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = filled {
                        worker::console_warn!("could not cache {cache_key}: {e}");
                    }
                    drop(claim);
                })
            }
            other => worker::console_warn!("could not open {key} to cache it: {other:?}"),
        }
    }
    Ok((Some(stream), Some("MISS")))
}

/// The image's whole data as a stream, from the copy downloads read (the
/// Queue consumer's pre-cache).
pub async fn open_whole(app: &App, image: &Image) -> Result<JsValue, ApiError> {
    let (bucket, key) = match source_of(app, image)? {
        Source::R2(bucket, key) => (bucket, key),
        Source::Http(url) => return read_through(app, &url, None).await,
    };
    let stream = bucket.get_stream(&key, None).await?;
    stream.ok_or_else(|| ApiError::internal(format!("image {} is active but {key} is missing from R2", image.id)))
}

/// Where a download reads from.
enum Source<'a> {
    /// An object in one of our buckets.
    R2(&'a Blobs, String),
    /// An http location, read through.
    Http(String),
}

/// The copy to serve: the heaviest store holding the image (R2 stores
/// before the read-only http store when the weights say so).
fn source_of<'a>(app: &'a App, image: &Image) -> Result<Source<'a>, ApiError> {
    for store in app.stores().download_order(&image.store_ids()) {
        let Some(location) = image.location_in(&store.id) else { continue };
        match &store.kind {
            StoreKind::R2 { .. } => {
                let key = location.r2_key(&store.id);
                return Ok(Source::R2(app.bucket(&store.id)?, key.to_owned()));
            }
            StoreKind::Http => return Ok(Source::Http(location.url.clone())),
        }
    }
    Err(ApiError::internal(format!("image {} has data but no location in a configured store", image.id)))
}

/// Streams an http location's bytes (a window with a Range request, which
/// the server must honour with 206).
async fn read_through(app: &App, url: &str, window: Option<(u64, u64)>) -> Result<JsValue, ApiError> {
    let range = window.map(|(offset, length)| format!("bytes={offset}-{}", offset + length - 1));
    let headers: Vec<(&str, &str)> = range.as_deref().map(|r| vec![("Range", r)]).unwrap_or_default();
    let body = crate::store::web::open(url, app.config.filter()?, &headers)
        .await
        .map_err(|e| ApiError::unavailable(format!("The image's http location could not be read: {e}")))?;
    if window.is_some() && !body.partial {
        return Err(ApiError::unavailable(format!("The image's http location {url} does not serve byte ranges.")));
    }
    body.stream.ok_or_else(|| ApiError::unavailable(format!("The image's http location {url} sent no data.")))
}
