//! `PUT/GET /v2/images/{id}/file`: the data path. Bytes flow as JavaScript
//! streams between the client and R2; this module decides statuses and
//! headers.
//!
//! Upload: queued -> saving by compare-and-set (so of two concurrent uploads
//! one wins and the other gets 409), stream into R2 while hashing, then
//! saving -> active with size/checksum/os_hash_value. On any failure the
//! object is removed *before* the image returns to queued, so a retry can
//! never have its data deleted by the failed attempt. The transfer runs under
//! `waitUntil`: if the client disconnects, the runtime cancels the request
//! but the clean-up still runs.

use futures_channel::oneshot;
use worker::{Context, Headers, Request, Response, ResponseBody};

use crate::api::{header, internal, no_content, now, App};
use crate::domain::image::{DiskFormat, Image};
use crate::domain::range::{self, ByteRange, RangeError};
use crate::domain::status::{ImageEvent, ImageStatus};
use crate::error::ApiError;
use crate::store::blobs::{object_key, StoredData, UploadFailure};
use crate::store::cache::EdgeCache;
use crate::store::images::DataRecord;
use crate::store::js::JsReadable;
use wasm_bindgen::JsCast;

/// The size the client declares: `x-openstack-image-size`, else
/// `Content-Length`; `None` for a chunked body of unknown length.
fn declared_size(req: &Request) -> Result<Option<u64>, ApiError> {
    let parse = |name: &str, raw: String| {
        raw.trim()
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request(format!("{name} must be a non-negative integer, got '{raw}'.")))
    };
    let explicit = header(req, "x-openstack-image-size").map(|v| parse("x-openstack-image-size", v)).transpose()?;
    let length = header(req, "content-length").map(|v| parse("Content-Length", v)).transpose()?;
    match (explicit, length) {
        (Some(declared), Some(sent)) if declared != sent => Err(ApiError::bad_request(format!(
            "Size mismatch: x-openstack-image-size is {declared} but the request body has {sent} bytes."
        ))),
        (Some(declared), _) => Ok(Some(declared)),
        (None, length) => Ok(length),
    }
}

/// `PUT /v2/images/{id}/file`.
pub async fn upload(app: App, req: &Request, id: &str, ctx: &Context) -> Result<Response, ApiError> {
    let content_type = header(req, "content-type").unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/octet-stream") {
        return Err(ApiError::unsupported_media_type(format!(
            "Invalid content type {content_type}: image data must be sent as application/octet-stream."
        )));
    }
    let declared = declared_size(req)?;
    let image = app.visible_image(id).await?;
    image.status.apply(ImageEvent::BeginUpload).map_err(|_| {
        ApiError::conflict(format!("Image status transition from {} to saving is not allowed", image.status))
    })?;
    image.check_ready_for_data()?;
    if let Some(size) = declared.filter(|s| *s > app.config.size_cap) {
        return Err(ApiError::too_large(format!(
            "Image size {size} exceeds the size cap of {} bytes.",
            app.config.size_cap
        )));
    }
    if !app.images.move_status(&image.id, ImageStatus::Queued, ImageStatus::Saving, &now()).await? {
        return Err(ApiError::conflict(format!(
            "Image {id} is no longer queued (another upload is in progress or has finished): status transition to saving is not allowed"
        )));
    }

    let body = req.inner().body().map(wasm_bindgen::JsValue::from);
    let (sender, receiver) = oneshot::channel();
    ctx.wait_until(async move {
        let outcome = transfer(&app, &image, body, declared).await;
        if let Err(error) = &outcome {
            worker::console_warn!("upload of image {} failed: {error}", image.id);
        }
        // The receiver is gone if the client disconnected; nothing to tell.
        let _ = sender.send(outcome);
    });
    receiver.await.unwrap_or_else(|_| Err(ApiError::internal("upload task ended without an answer")))?;
    no_content()
}

/// Streams the body into R2 and settles the image's status either way.
async fn transfer(
    app: &App,
    image: &Image,
    body: Option<wasm_bindgen::JsValue>,
    declared: Option<u64>,
) -> Result<(), ApiError> {
    let key = object_key(image.id.as_str());
    let stored = app.blobs.put_stream(&key, body, declared, app.config.size_cap).await;
    match stored {
        Ok(data) => finish(app, image, &key, data).await,
        Err(failure) => {
            // Remove whatever might exist before giving the image back.
            if let Err(e) = app.blobs.delete(&key).await {
                worker::console_error!("could not remove failed upload {key}: {e}");
            }
            app.images.move_status(&image.id, ImageStatus::Saving, ImageStatus::Queued, &now()).await?;
            Err(match failure {
                UploadFailure::SizeMismatch { expected } => ApiError::bad_request(format!(
                    "Size mismatch: the request body did not contain the declared {expected} bytes; the image is queued again."
                )),
                UploadFailure::TooLarge { limit } => ApiError::too_large(format!("Image data exceeds the size cap of {limit} bytes.")),
                UploadFailure::Body(e) => ApiError::bad_request(format!("The upload was interrupted ({e}); the image is queued again.")),
                UploadFailure::Storage(e) => ApiError::unavailable(format!("The image store failed ({e}); the image is queued again.")),
            })
        }
    }
}

async fn finish(app: &App, image: &Image, key: &str, data: StoredData) -> Result<(), ApiError> {
    // Raw data is its own disk; other formats would need header inspection.
    let virtual_size = (image.disk_format == Some(DiskFormat::Raw)).then_some(data.size);
    let record = DataRecord { size: data.size, checksum: &data.md5, os_hash_value: &data.sha512, virtual_size };
    if app.images.record_data(&image.id, ImageStatus::Saving, record, &now()).await? {
        return Ok(());
    }
    // The image was deleted (or reset) while the bytes were in flight.
    if let Err(e) = app.blobs.delete(key).await {
        worker::console_error!("could not remove data of vanished image {key}: {e}");
    }
    Err(ApiError::gone(format!("Image {} was deleted during the upload; its data was discarded.", image.id)))
}

/// `GET /v2/images/{id}/file`. Whole-object downloads go through the edge
/// cache (`X-Edge-Cache: HIT|MISS` says which); ranges are read from R2.
pub async fn download(app: &App, req: &Request, id: &str, ctx: &Context) -> Result<Response, ApiError> {
    let image = app.visible_image(id).await?;
    if image.status == ImageStatus::Deactivated && !app.caller.is_admin() {
        return Err(ApiError::forbidden("The requested image has been deactivated. Image data download is forbidden."));
    }
    let (Some(size), true) = (image.size, image.has_data()) else {
        return no_content();
    };
    let range = range::resolve(header(req, "range").as_deref(), header(req, "content-range").as_deref(), size)
        .map_err(|e| match e {
            RangeError::Invalid => {
                ApiError::bad_request("Invalid Range header: send a single range such as bytes=0-1023 or bytes=-1024.")
            }
            RangeError::Unsatisfiable => ApiError::range_not_satisfiable(size),
        })?;
    let (status, length, window) = match range {
        ByteRange::Full => (200, size, None),
        ByteRange::Partial { offset, length } => (206, length, Some((offset, length))),
    };
    let cache = match (&image.checksum, window) {
        (Some(checksum), None) => {
            EdgeCache::open().map(|cache| (cache, EdgeCache::key(&app.base_url, image.id.as_str(), checksum)))
        }
        _ => None,
    };
    let mut cache_state = None;
    let mut body = None;
    if let Some((cache, cache_key)) = &cache {
        body = cache.get(cache_key).await;
        cache_state = Some(if body.is_some() { "HIT" } else { "MISS" });
    }
    let body = match body {
        Some(cached) => cached,
        None => {
            let key = object_key(image.id.as_str());
            let stream = app.blobs.get_stream(&key, window).await.map_err(ApiError::internal)?;
            let Some(stream) = stream else {
                return Err(ApiError::internal(format!("image {id} is active but {key} is missing from R2")));
            };
            match cache {
                Some((cache, cache_key)) => {
                    // One branch to the client, one into the cache.
                    let branches = stream.unchecked_into::<JsReadable>().tee();
                    let to_cache = branches.get(1);
                    ctx.wait_until(async move {
                        if let Err(e) = cache.put(&cache_key, to_cache, size).await {
                            worker::console_warn!("could not cache {cache_key}: {e}");
                        }
                    });
                    branches.get(0)
                }
                None => stream,
            }
        }
    };
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(internal);
    set("Content-Type", "application/octet-stream")?;
    set("Content-Length", &length.to_string())?;
    set("Accept-Ranges", "bytes")?;
    if let Some(checksum) = &image.checksum {
        set("Content-MD5", checksum)?;
        set("ETag", &format!("\"{checksum}\""))?;
    }
    if let Some(content_range) = range.content_range(size) {
        set("Content-Range", &content_range)?;
    }
    if let Some(state) = cache_state {
        set("X-Edge-Cache", state)?;
    }
    let stream: web_sys::ReadableStream = body.unchecked_into();
    Ok(Response::from_body(ResponseBody::Stream(stream)).map_err(internal)?.with_status(status).with_headers(headers))
}
