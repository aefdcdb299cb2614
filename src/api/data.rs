//! The data engine v1 and v2 share: receiving an image's bytes into R2 and
//! streaming them back out. Bytes flow as JavaScript streams between the
//! client and R2; this module decides statuses and headers.
//!
//! Upload: queued -> saving by compare-and-set (so of two concurrent uploads
//! one wins and the other gets 409), stream into R2 while hashing, then
//! saving -> active with size/checksum/os_hash_value. On any failure (a
//! short or long body, a client that went away, a body that stalls for the
//! idle bound, a storage error) the object is removed *before* the image
//! leaves `saving` (back to queued in v2, killed in v1), so a retry can
//! never have its data deleted by the failed attempt. The transfer runs
//! under `waitUntil`: if the client disconnects, the runtime cancels the
//! request but the clean-up still runs. While bytes arrive the image's
//! progress time is renewed, so the cron upkeep can tell a live upload from
//! one whose worker died.

use std::rc::Rc;

use futures_channel::oneshot;
use wasm_bindgen::{JsCast, JsValue};
use worker::{Context, Headers, Request, Response, ResponseBody};

use super::app::App;
use super::image_cache::record_fill;
use super::respond::{header, internal, now, now_seconds};
use crate::domain::access::policy::Action;
use crate::domain::image::location::Location;
use crate::domain::image::status::{ImageEvent, ImageStatus, Transition};
use crate::domain::image::{Image, ImageId, EMPTY_MD5, EMPTY_SHA512};
use crate::domain::stores::StoreKind;
use crate::domain::wire::range::{self, ByteRange, RangeError};
use crate::error::ApiError;
use crate::store::blobs::{object_key, staging_key, Blobs, StoredData, UploadFailure, UploadLimits};
use crate::store::cache::{EdgeCache, FillClaim, MAX_ENTRY_BYTES};
use crate::store::images::DataRecord;

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

/// The request's body as a JavaScript stream (never read into wasm).
pub fn request_body(req: &Request) -> Option<JsValue> {
    req.inner().body().map(JsValue::from)
}

/// Where received bytes go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadTarget {
    /// The image's object in this R2 store; the image becomes active.
    Store(String),
    /// The staging area of glance-direct (in the default store's bucket);
    /// the image stays `uploading` until it is imported.
    Staging,
}

/// How an upload is received: what starts and what a failure does to the
/// image, where the bytes go, and what they must satisfy. v2 requeues on
/// failure; v1 kills the image.
pub struct UploadRules {
    /// The event that starts the upload (queued -> saving, or -> uploading
    /// for a stage).
    pub begin: ImageEvent,
    /// Where the bytes go.
    pub target: UploadTarget,
    /// The event applied to the image when the upload fails.
    pub on_failure: ImageEvent,
    /// Both formats must be set first (v2); v1 images may have none.
    pub require_formats: bool,
    /// An md5 the data must match (v1 `x-image-meta-checksum`).
    pub expected_md5: Option<String>,
}

impl UploadRules {
    /// Glance v2 `PUT /file` into `store`: failures return the image to
    /// `queued`.
    pub fn v2(store: String) -> UploadRules {
        UploadRules {
            begin: ImageEvent::BeginUpload,
            target: UploadTarget::Store(store),
            on_failure: ImageEvent::UploadFailed,
            require_formats: true,
            expected_md5: None,
        }
    }

    /// `PUT /stage`: queued -> uploading; failures unstage and requeue.
    pub fn stage() -> UploadRules {
        UploadRules {
            begin: ImageEvent::Stage,
            target: UploadTarget::Staging,
            on_failure: ImageEvent::UploadFailed,
            require_formats: false,
            expected_md5: None,
        }
    }
}

/// Receives the data of image `raw_id`: checks the caller may upload and
/// the image may take data, moves it queued -> saving by compare-and-set,
/// streams the body into R2 under `waitUntil` and settles the status
/// either way.
pub async fn receive(
    app: Rc<App>,
    raw_id: &str,
    body: Option<JsValue>,
    declared: Option<u64>,
    rules: UploadRules,
    ctx: &Context,
) -> Result<(), ApiError> {
    let image = app.image_for(raw_id, Action::Upload).await?;
    let begin = image.status.transition(rules.begin).map_err(|e| {
        let to = ImageStatus::Queued.apply(rules.begin).map(|s| s.as_str()).unwrap_or("saving");
        ApiError::conflict(format!("Image status transition from {} to {to} is not allowed", e.from))
    })?;
    if let UploadTarget::Store(store) = &rules.target {
        app.bucket(store)?;
    }
    if rules.require_formats {
        image.check_ready_for_data()?;
    }
    if let Some(size) = declared.filter(|s| *s > app.config.size_cap) {
        return Err(ApiError::too_large(format!(
            "Image size {size} exceeds the size cap of {} bytes.",
            app.config.size_cap
        )));
    }
    if !app.images.move_status(&image.id, begin, &now()).await? {
        return Err(ApiError::conflict(format!(
            "Image {} is no longer queued (another upload is in progress or has finished): status transition to {} is not allowed",
            image.id,
            begin.to()
        )));
    }

    let (sender, receiver) = oneshot::channel();
    ctx.wait_until(async move {
        let outcome = transfer(&app, &image, begin, body, declared, &rules).await;
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
    app: &Rc<App>,
    image: &Image,
    begun: Transition,
    body: Option<JsValue>,
    declared: Option<u64>,
    rules: &UploadRules,
) -> Result<(), ApiError> {
    let (bucket, key) = match &rules.target {
        UploadTarget::Store(store) => (app.bucket(store)?, object_key(image.id.as_str())),
        UploadTarget::Staging => (app.default_bucket(), staging_key(image.id.as_str())),
    };
    let limits = UploadLimits { size_cap: app.config.size_cap, idle_seconds: app.config.upload_idle_seconds };
    let heartbeat = Rc::new(progress_heartbeat(app.clone(), image.id.clone()));
    let stored = bucket.put_stream(&key, body, declared, limits, heartbeat).await;
    let error = match stored {
        Ok(data) => match &rules.expected_md5 {
            Some(expected) if *expected != data.md5 => ApiError::bad_request(format!(
                "Checksum mismatch: x-image-meta-checksum is {expected} but the data's md5 is {}.",
                data.md5
            )),
            _ => return finish(app, image, begun, bucket, &key, &rules.target, data).await,
        },
        Err(failure) => upload_error(failure),
    };
    // Remove whatever might exist *before* the image leaves `saving`, so a
    // retry can never lose its data to this failed attempt.
    if let Err(e) = bucket.delete(&key).await {
        worker::console_error!("could not remove failed upload {key}: {e}");
    }
    let back = begun.to().transition(rules.on_failure)?;
    app.images.move_status(&image.id, back, &now()).await?;
    Err(ApiError { message: format!("{} The image is {}.", error.message, back.to()), ..error })
}

/// The answer to an upload that stored nothing.
fn upload_error(failure: UploadFailure) -> ApiError {
    match failure {
        UploadFailure::SizeMismatch { expected } => ApiError::bad_request(format!(
            "Size mismatch: the request body did not contain the declared {expected} bytes."
        )),
        UploadFailure::TooLarge { limit } => {
            ApiError::too_large(format!("Image data exceeds the size cap of {limit} bytes."))
        }
        UploadFailure::Stalled { seconds } => ApiError::bad_request(format!(
            "The upload was abandoned: the request body sent nothing for {seconds} seconds."
        )),
        UploadFailure::Body(e) => ApiError::bad_request(format!("The upload was interrupted ({e}).")),
        UploadFailure::Storage(e) => ApiError::unavailable(format!("The image store failed ({e}).")),
    }
}

/// A callback for the byte path: renews the image's progress time (in the
/// background; the bytes never wait for D1).
fn progress_heartbeat(app: Rc<App>, id: ImageId) -> impl Fn() {
    move || {
        let (app, id) = (app.clone(), id.clone());
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = app.images.touch_progress(&id, now_seconds()).await {
                worker::console_warn!("could not record upload progress of {id}: {e}");
            }
        });
    }
}

async fn finish(
    app: &App,
    image: &Image,
    begun: Transition,
    bucket: &Blobs,
    key: &str,
    target: &UploadTarget,
    data: StoredData,
) -> Result<(), ApiError> {
    let kept = match target {
        UploadTarget::Store(store) => {
            let virtual_size = image.virtual_size_of(data.size);
            let locations = [Location::in_r2(store, key)];
            let record = DataRecord {
                size: data.size,
                checksum: &data.md5,
                os_hash_value: &data.sha512,
                virtual_size,
                locations: &locations,
            };
            let stored = begun.to().transition(ImageEvent::DataStored)?;
            app.images.record_data(&image.id, stored, record, &now()).await?
        }
        // Staged data waits for the import; it is kept while the image is
        // still the one that was staged.
        UploadTarget::Staging => app.images.record_staged(&image.id, data.size, &now()).await?,
    };
    if kept {
        return Ok(());
    }
    // The image was deleted (or reset) while the bytes were in flight.
    if let Err(e) = bucket.delete(key).await {
        worker::console_error!("could not remove data of vanished image {key}: {e}");
    }
    Err(ApiError::gone(format!("Image {} was deleted during the upload; its data was discarded.", image.id)))
}

/// v1's zero-size rule: an image created with `x-image-meta-size: 0` and no
/// body becomes `active` at once (queued -> active, no write: there is no
/// object to store), with the hashes of empty data.
pub async fn record_empty(app: &App, image: &Image, expected_md5: Option<&str>) -> Result<(), ApiError> {
    if let Some(expected) = expected_md5.filter(|e| *e != EMPTY_MD5) {
        return Err(ApiError::bad_request(format!(
            "Checksum mismatch: x-image-meta-checksum is {expected} but the image has no data (md5 {EMPTY_MD5})."
        )));
    }
    let stored = image.status.transition(ImageEvent::DataStored)?;
    let record = DataRecord {
        size: 0,
        checksum: EMPTY_MD5,
        os_hash_value: EMPTY_SHA512,
        virtual_size: image.virtual_size_of(0),
        locations: &[],
    };
    if !app.images.record_data(&image.id, stored, record, &now()).await? {
        return Err(ApiError::conflict(format!("Image {} changed status meanwhile; retry.", image.id)));
    }
    Ok(())
}

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
    let range = range::resolve(range_header, content_range, size).map_err(|e| match e {
        RangeError::Invalid => {
            ApiError::bad_request("Invalid Range header: send a single range such as bytes=0-1023 or bytes=-1024.")
        }
        RangeError::Unsatisfiable => ApiError::range_not_satisfiable(size),
    })?;
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
        set("ETag", &format!("\"{checksum}\""))?;
    }
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
    let stream = bucket.get_stream(&key, window).await.map_err(ApiError::internal)?;
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
    let stream = bucket.get_stream(&key, None).await.map_err(ApiError::internal)?;
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
    let body = crate::store::web::open(url, app.config.uri_filter.as_ref().map_err(ApiError::internal)?, &headers)
        .await
        .map_err(|e| ApiError::unavailable(format!("The image's http location could not be read: {e}")))?;
    if window.is_some() && !body.partial {
        return Err(ApiError::unavailable(format!("The image's http location {url} does not serve byte ranges.")));
    }
    body.stream.ok_or_else(|| ApiError::unavailable(format!("The image's http location {url} sent no data.")))
}
