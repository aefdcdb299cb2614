//! `PUT/GET /v2/images/{id}/file`: the data path. Bytes flow as JavaScript
//! streams between the client and R2; this module decides statuses and
//! headers.
//!
//! Upload: queued -> saving by compare-and-set (so of two concurrent uploads
//! one wins and the other gets 409), stream into R2 while hashing, then
//! saving -> active with size/checksum/os_hash_value. On any failure the
//! object is removed *before* the image leaves `saving` (back to queued in
//! v2, killed in v1), so a retry can never have its data deleted by the
//! failed attempt. The v1 handlers share this path. The transfer runs under
//! `waitUntil`: if the client disconnects, the runtime cancels the request
//! but the clean-up still runs.

use std::rc::Rc;

use futures_channel::oneshot;
use wasm_bindgen::{JsCast, JsValue};
use worker::{Context, Headers, Request, Response, ResponseBody};

use crate::api::{header, internal, no_content, now, App};
use crate::domain::access::policy::Action;
use crate::domain::image::status::{ImageEvent, ImageStatus};
use crate::domain::image::{DiskFormat, Image};
use crate::domain::wire::range::{self, ByteRange, RangeError};
use crate::error::ApiError;
use crate::store::blobs::{object_key, StoredData, UploadFailure};
use crate::store::cache::EdgeCache;
use crate::store::images::DataRecord;
use crate::store::js::JsReadable;

/// The size the client declares: `size_header` (`x-openstack-image-size`,
/// or v1's `x-image-meta-size`), else `Content-Length`; `None` for a chunked
/// body of unknown length.
pub fn declared_size(req: &Request, size_header: &str) -> Result<Option<u64>, ApiError> {
    let parse = |name: &str, raw: String| {
        raw.trim()
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request(format!("{name} must be a non-negative integer, got '{raw}'.")))
    };
    let explicit = header(req, size_header).map(|v| parse(size_header, v)).transpose()?;
    let length = header(req, "content-length").map(|v| parse("Content-Length", v)).transpose()?;
    match (explicit, length) {
        (Some(declared), Some(sent)) if declared != sent => Err(ApiError::bad_request(format!(
            "Size mismatch: {size_header} is {declared} but the request body has {sent} bytes."
        ))),
        (Some(declared), _) => Ok(Some(declared)),
        (None, length) => Ok(length),
    }
}

/// How an upload is received: what a failure does to the image, and what
/// the data must satisfy. v2 requeues on failure; v1 kills the image.
pub struct UploadRules {
    /// The event applied to a `saving` image when the upload fails.
    pub on_failure: ImageEvent,
    /// Both formats must be set first (v2); v1 images may have none.
    pub require_formats: bool,
    /// An md5 the data must match (v1 `x-image-meta-checksum`).
    pub expected_md5: Option<String>,
}

impl UploadRules {
    /// Glance v2: failures return the image to `queued`.
    pub fn v2() -> UploadRules {
        UploadRules { on_failure: ImageEvent::UploadFailed, require_formats: true, expected_md5: None }
    }
}

/// `PUT /v2/images/{id}/file`.
pub async fn upload(app: Rc<App>, req: &Request, id: &str, ctx: &Context) -> Result<Response, ApiError> {
    let content_type = header(req, "content-type").unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/octet-stream") {
        return Err(ApiError::unsupported_media_type(format!(
            "Invalid content type {content_type}: image data must be sent as application/octet-stream."
        )));
    }
    let declared = declared_size(req, "x-openstack-image-size")?;
    let image = app.visible_image(id).await?;
    receive(app, image, request_body(req), declared, UploadRules::v2(), ctx).await?;
    no_content()
}

/// The request's body as a JavaScript stream (never read into wasm).
pub fn request_body(req: &Request) -> Option<JsValue> {
    req.inner().body().map(JsValue::from)
}

/// Receives an image's data: checks the image may take it, moves it
/// queued -> saving by compare-and-set, streams the body into R2 under
/// `waitUntil` and settles the status either way.
pub async fn receive(
    app: Rc<App>,
    image: Image,
    body: Option<JsValue>,
    declared: Option<u64>,
    rules: UploadRules,
    ctx: &Context,
) -> Result<(), ApiError> {
    app.authorize(Action::Upload, &image)?;
    let id = image.id.clone();
    image.status.apply(ImageEvent::BeginUpload).map_err(|_| {
        ApiError::conflict(format!("Image status transition from {} to saving is not allowed", image.status))
    })?;
    if rules.require_formats {
        image.check_ready_for_data()?;
    }
    if let Some(size) = declared.filter(|s| *s > app.config.size_cap) {
        return Err(ApiError::too_large(format!(
            "Image size {size} exceeds the size cap of {} bytes.",
            app.config.size_cap
        )));
    }
    if !app.images.move_status(&id, ImageStatus::Queued, ImageStatus::Saving, &now()).await? {
        return Err(ApiError::conflict(format!(
            "Image {id} is no longer queued (another upload is in progress or has finished): status transition to saving is not allowed"
        )));
    }

    let (sender, receiver) = oneshot::channel();
    ctx.wait_until(async move {
        let outcome = transfer(&app, &image, body, declared, &rules).await;
        if let Err(error) = &outcome {
            worker::console_warn!("upload of image {} failed: {error}", image.id);
        }
        // The receiver is gone if the client disconnected; nothing to tell.
        let _ = sender.send(outcome);
    });
    receiver.await.unwrap_or_else(|_| Err(ApiError::internal("upload task ended without an answer")))
}

/// Streams the body into R2 and settles the image's status either way.
async fn transfer(
    app: &App,
    image: &Image,
    body: Option<JsValue>,
    declared: Option<u64>,
    rules: &UploadRules,
) -> Result<(), ApiError> {
    let key = object_key(image.id.as_str());
    let stored = app.blobs.put_stream(&key, body, declared, app.config.size_cap).await;
    let error = match stored {
        Ok(data) => match &rules.expected_md5 {
            Some(expected) if *expected != data.md5 => ApiError::bad_request(format!(
                "Checksum mismatch: x-image-meta-checksum is {expected} but the data's md5 is {}.",
                data.md5
            )),
            _ => return finish(app, image, &key, data).await,
        },
        Err(UploadFailure::SizeMismatch { expected }) => ApiError::bad_request(format!(
            "Size mismatch: the request body did not contain the declared {expected} bytes."
        )),
        Err(UploadFailure::TooLarge { limit }) => {
            ApiError::too_large(format!("Image data exceeds the size cap of {limit} bytes."))
        }
        Err(UploadFailure::Body(e)) => ApiError::bad_request(format!("The upload was interrupted ({e}).")),
        Err(UploadFailure::Storage(e)) => ApiError::unavailable(format!("The image store failed ({e}).")),
    };
    // Remove whatever might exist *before* the image leaves `saving`, so a
    // retry can never lose its data to this failed attempt.
    if let Err(e) = app.blobs.delete(&key).await {
        worker::console_error!("could not remove failed upload {key}: {e}");
    }
    let target = ImageStatus::Saving.apply(rules.on_failure)?;
    app.images.move_status(&image.id, ImageStatus::Saving, target, &now()).await?;
    Err(ApiError { message: format!("{} The image is {target}.", error.message), ..error })
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
    check_downloadable(app, &image)?;
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
    let (body, cache_state) = open_data(app, &image, window, ctx).await?;
    let headers = data_headers(&image, length, cache_state)?;
    if let Some(content_range) = range.content_range(size) {
        headers.set("Content-Range", &content_range).map_err(internal)?;
    }
    stream_response(status, body, headers)
}

/// The policy's download check (non-admins may not download a deactivated
/// image).
pub fn check_downloadable(app: &App, image: &Image) -> Result<(), ApiError> {
    app.authorize(Action::Download, image)
}

/// The headers of a data answer of `length` bytes.
pub fn data_headers(image: &Image, length: u64, cache_state: Option<&str>) -> Result<Headers, ApiError> {
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(internal);
    set("Content-Type", "application/octet-stream")?;
    set("Content-Length", &length.to_string())?;
    set("Accept-Ranges", "bytes")?;
    if let Some(checksum) = &image.checksum {
        set("Content-MD5", checksum)?;
        set("ETag", &format!("\"{checksum}\""))?;
    }
    if let Some(state) = cache_state {
        set("X-Edge-Cache", state)?;
    }
    Ok(headers)
}

/// A response streaming a JavaScript body.
pub fn stream_response(status: u16, body: JsValue, headers: Headers) -> Result<Response, ApiError> {
    let stream: web_sys::ReadableStream = body.unchecked_into();
    Ok(Response::from_body(ResponseBody::Stream(stream)).map_err(internal)?.with_status(status).with_headers(headers))
}

/// The image's data as a stream: whole objects from the edge cache when it
/// has them (else from R2, copied into the cache on the way), windows from R2.
/// Also says whether the cache answered (`HIT`/`MISS`; `None` if not used).
pub async fn open_data(
    app: &App,
    image: &Image,
    window: Option<(u64, u64)>,
    ctx: &Context,
) -> Result<(JsValue, Option<&'static str>), ApiError> {
    let cache = match (&image.checksum, window) {
        (Some(checksum), None) => {
            EdgeCache::open().map(|cache| (cache, EdgeCache::key(&app.base_url, image.id.as_str(), checksum)))
        }
        _ => None,
    };
    if let Some((cache, cache_key)) = &cache {
        if let Some(cached) = cache.get(cache_key).await {
            return Ok((cached, Some("HIT")));
        }
    }
    let key = object_key(image.id.as_str());
    let Some(stream) = app.blobs.get_stream(&key, window).await.map_err(ApiError::internal)? else {
        return Err(ApiError::internal(format!("image {} is active but {key} is missing from R2", image.id)));
    };
    let Some((cache, cache_key)) = cache else {
        return Ok((stream, None));
    };
    // One branch to the client, one into the cache.
    let branches = stream.unchecked_into::<JsReadable>().tee();
    let to_cache = branches.get(1);
    let size = image.size.unwrap_or(0);
    ctx.wait_until(async move {
        if let Err(e) = cache.put(&cache_key, to_cache, size).await {
            worker::console_warn!("could not cache {cache_key}: {e}");
        }
    });
    Ok((branches.get(0), Some("MISS")))
}
