//! The upload engine: every byte stream that becomes image data goes
//! through [`transfer`], the one place a byte transfer into R2 starts:
//! direct uploads (v1 and v2 `PUT /file`), staging (`PUT /stage`), every
//! import method, copies between stores and the legacy import task. It owns
//! the size and idle bounds, the hashing (native, on the way), the progress
//! heartbeat, the clean-up of whatever a failed transfer wrote, and the
//! inspection hook that looks at stored data before it is taken as an
//! image's (see [`inspect`]).
//!
//! Above it, [`receive`] and [`fill`] take a direct upload from `queued` to
//! `active` (or `uploading` with staged data): queued -> saving by
//! compare-and-set (so of two concurrent uploads one wins and the other
//! gets 409), the transfer, then saving -> active with the data fields. On
//! any failure (a short or long body, a client that went away, a body that
//! stalls for the idle bound, a storage error) the object is removed
//! *before* the image leaves `saving` (back to queued in v2, killed in v1),
//! so a retry can never have its data deleted by the failed attempt. The
//! transfer runs under `waitUntil`: if the client disconnects, the runtime
//! cancels the request but the clean-up still runs.

pub mod resumable;

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use futures_channel::oneshot;
use wasm_bindgen::JsValue;
use worker::{Context, Request};

use super::app::App;
use super::conditional::IfMatch;
use super::image_write::update_image;
use super::quota;
use super::respond::{header, now, now_seconds};
use crate::domain::format::{self, Glimpse, Inspector};
use crate::domain::image::data::{StoredData, UploadFailure};
use crate::domain::image::location::Location;
use crate::domain::image::status::{ImageEvent, ImageStatus};
use crate::domain::image::{ContainerFormat, Image, ImageId, EMPTY_MD5, EMPTY_SHA512};
use crate::domain::quota::{mib, Resource};
use crate::error::ApiError;
use crate::store::blobs::{object_key, staging_key, Blobs, UploadLimits};

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

/// Bytes on their way in: a JavaScript stream (never read into wasm) and
/// the length its sender announced, if any.
pub struct Incoming {
    /// The stream (`None`: no body).
    pub body: Option<JsValue>,
    /// The announced length (`None`: unknown, written as a multipart upload).
    pub declared: Option<u64>,
}

impl Incoming {
    /// A request's body, of the size its headers declare.
    pub fn from_request(req: &Request, size_header: &str) -> Result<Incoming, ApiError> {
        Ok(Incoming { body: req.inner().body().map(JsValue::from), declared: declared_size(req, size_header)? })
    }
}

/// Who is told that bytes keep arriving, so the cron upkeep can tell a
/// live transfer from one whose worker died.
#[derive(Debug, Clone)]
pub enum Heartbeat {
    /// An upload: the image's progress time.
    Image(ImageId),
    /// A queue job: its task's update time (the job also beats on its own).
    Task(String),
}

impl Heartbeat {
    /// The callback for the byte path: renews the progress time in the
    /// background (the bytes never wait for D1).
    fn callback(self, app: Rc<App>) -> Rc<dyn Fn()> {
        Rc::new(move || {
            let (app, beat) = (app.clone(), self.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let renewed = match &beat {
                    Heartbeat::Image(id) => app.images.touch_progress(id, now_seconds()).await,
                    Heartbeat::Task(id) => app.tasks.touch(id, &now()).await,
                };
                if let Err(e) = renewed {
                    worker::console_warn!("could not record the progress of {beat:?}: {e}");
                }
            });
        })
    }
}

thread_local! {
    /// Images whose injected R2 failure has happened (tests only).
    static FAILED_ONCE: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
}

/// Whether this transfer for `image` gets the injected R2 failure: only
/// when the catalog was started with `TEST_FAIL_R2_PUT` (never in
/// production), for images named with that prefix, once per image.
fn injected_failure(app: &App, image: &Image) -> bool {
    let Some(prefix) = &app.config.test_fail_r2_put else { return false };
    if !image.name.as_deref().is_some_and(|name| name.starts_with(prefix.as_str())) {
        return false;
    }
    FAILED_ONCE.with(|failed| failed.borrow_mut().insert(image.id.to_string()))
}

/// Moves `incoming` into `key` of `bucket` as data of `image`: the one
/// place a byte transfer into R2 starts. Bounded by the size cap and the
/// idle bound, hashed on the way, with `heartbeat` renewed while bytes
/// arrive; whatever a failed transfer wrote is removed before it returns,
/// and stored data passes [`inspect`] before it is returned.
pub async fn transfer(
    app: &Rc<App>,
    image: &Image,
    bucket: &Blobs,
    key: &str,
    incoming: Incoming,
    heartbeat: Heartbeat,
) -> Result<StoredData, UploadFailure> {
    let limits = UploadLimits {
        size_cap: app.config.size_cap,
        idle_seconds: app.config.upload_idle_seconds,
        fail_storage: injected_failure(app, image),
    };
    let beat = heartbeat.callback(app.clone());
    let stored = match bucket.put_stream(key, incoming.body, incoming.declared, limits, beat).await {
        Ok(mut stored) => match inspect(app, image, stored.size, Inspected::Stored { bucket, key }).await {
            Ok(virtual_size) => {
                stored.virtual_size = virtual_size;
                Ok(stored)
            }
            Err(refused) => Err(refused),
        },
        Err(failure) => Err(failure),
    };
    if stored.is_err() {
        // A failed single put stores nothing and a failed multipart upload
        // is aborted; this removes what an inspection refused, and anything
        // a runtime failure may have left.
        if let Err(e) = bucket.delete(key).await {
            worker::console_error!("could not remove failed transfer {key} in {}: {e}", bucket.store());
        }
    }
    stored
}

/// The data [`inspect`] judges, and where it reads it from.
pub enum Inspected<'a> {
    /// Stored in `bucket` under `key`: read back in bounded ranges.
    Stored { bucket: &'a Blobs, key: &'a str },
    /// Seen in passing and never stored (an http location hashed in the
    /// background): its first and last bytes, as the hashing kept them.
    Seen(&'a Glimpse),
}

impl Inspected<'_> {
    async fn read(&self, size: u64, offset: u64, length: u64) -> Result<Vec<u8>, UploadFailure> {
        match self {
            Inspected::Stored { bucket, key } => {
                bucket.read_range(key, offset, length).await.map_err(|e| UploadFailure::Storage(e.to_string()))
            }
            Inspected::Seen(glimpse) => Ok(glimpse.read(size, offset, length).to_vec()),
        }
    }
}

/// The inspection hook: all data passes here before it is taken as
/// `image`'s, whatever way it came in (direct uploads, stages, every
/// import method, copies: through [`transfer`]; an http location's data
/// when it is hashed). The format is read from bounded regions, a few KiB
/// to at most `format::MAX_BYTES` (never the whole image through wasm),
/// and judged as Glance 33 judges it (`domain::format::decide`): the
/// declared `disk_format` against the content (unless
/// `REQUIRE_IMAGE_FORMAT_MATCH` is off), the detected format's safety
/// checks whatever was declared, and the virtual size, which it returns.
/// Glance inspects `bare` containers only; an image with no disk format
/// (v1 allows it) is not inspected either.
pub async fn inspect(app: &App, image: &Image, size: u64, data: Inspected<'_>) -> Result<Option<u64>, UploadFailure> {
    let Some(declared) = image.disk_format else { return Ok(image.virtual_size_of(size)) };
    if image.container_format.is_some_and(|c| c != ContainerFormat::Bare) {
        return Ok(image.virtual_size_of(size));
    }
    let mut inspector = Inspector::new(size);
    for _ in 0..format::MAX_ROUNDS {
        let wanted = inspector.wanted();
        if wanted.is_empty() || size == 0 {
            break;
        }
        for region in wanted {
            let bytes = data.read(size, region.offset, region.length).await?;
            inspector.supply(region.offset, &bytes);
        }
    }
    let accepted = format::decide(&inspector.finish(), declared, app.config.require_format_match, size)?;
    Ok(accepted.virtual_size)
}

/// Where a direct upload's bytes go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadTarget {
    /// The image's object in this R2 store; the image becomes active.
    Store(String),
    /// The staging area of glance-direct (in the default store's bucket);
    /// the image stays `uploading` until it is imported.
    Staging,
}

/// How a direct upload is received: what starts it and what a failure
/// does to the image, where the bytes go, and what they must satisfy. v2
/// requeues on failure; v1 kills the image.
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
    /// The revision the image must still have when the upload begins
    /// (`If-Match`; 412 otherwise).
    pub if_match: IfMatch,
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
            if_match: IfMatch::default(),
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
            if_match: IfMatch::default(),
        }
    }
}

/// Receives the data of `image` (which the caller looked up with
/// `Action::Upload`): checks it may take data, begins the upload and fills
/// it under `waitUntil`, settling the status either way. Returns the record
/// as the upload left it.
pub async fn receive(
    app: Rc<App>,
    image: Image,
    incoming: Incoming,
    rules: UploadRules,
    ctx: &Context,
) -> Result<Image, ApiError> {
    if let UploadTarget::Store(store) = &rules.target {
        app.bucket(store)?;
    }
    if rules.require_formats {
        image.check_ready_for_data()?;
    }
    if let Some(size) = incoming.declared.filter(|s| *s > app.config.size_cap) {
        return Err(ApiError::too_large(format!(
            "Image size {size} exceeds the size cap of {} bytes.",
            app.config.size_cap
        )));
    }
    // Glance's quotas: the size one before the bytes (soft: what is stored
    // now plus what this declares), the uploading count once this upload is
    // on the record, counting it, and undone if that is one too many.
    let size_quota = match rules.target {
        UploadTarget::Store(_) => Resource::ImageSizeTotal,
        UploadTarget::Staging => Resource::ImageStageTotal,
    };
    quota::enforce(&app, &[(size_quota, mib(incoming.declared.unwrap_or(0)))]).await?;
    rules.if_match.check(&image)?;
    let begun = begin(&app, image, rules.begin, &rules.if_match).await?;
    if let Err(refused) = quota::enforce(&app, &[(Resource::ImageCountUploading, 0)]).await {
        fall_back(&app, begun, ImageEvent::UploadFailed).await?;
        return Err(refused.into());
    }
    let (sender, receiver) = oneshot::channel();
    ctx.wait_until(async move {
        let id = begun.id.clone();
        let outcome = fill(&app, begun, incoming, &rules, Heartbeat::Image(id.clone())).await;
        if let Err(error) = &outcome {
            worker::console_warn!("upload of image {id} failed: {error}");
        }
        // The receiver is gone if the client disconnected; nothing to tell.
        let _ = sender.send(outcome);
    });
    receiver.await.unwrap_or_else(|_| Err(ApiError::internal("upload task ended without an answer")))
}

/// Moves `image` by `event` (queued -> saving or uploading), as a
/// compare-and-set: of two uploads racing, one begins and the other gets
/// 409. Returns the record as written.
pub async fn begin(app: &App, image: Image, event: ImageEvent, if_match: &IfMatch) -> Result<Image, ApiError> {
    let id = image.id.clone();
    update_image(app, &id, Some(image), |current| {
        if_match.check(current)?;
        Ok::<_, ApiError>(Some(event))
    })
    .await?
    .ok_or_else(|| ApiError::image_not_found(id.as_str()))
}

/// Fills an image whose upload began (`saving`, or `uploading` for a
/// stage): transfers the bytes, then records the data (saving -> active,
/// or the staged size). On failure the object is gone first, then the image
/// moves by `rules.on_failure`.
pub async fn fill(
    app: &Rc<App>,
    image: Image,
    incoming: Incoming,
    rules: &UploadRules,
    heartbeat: Heartbeat,
) -> Result<Image, ApiError> {
    let (bucket, key) = match &rules.target {
        UploadTarget::Store(store) => (app.bucket(store)?, object_key(&image.id)),
        UploadTarget::Staging => (app.default_bucket(), staging_key(&image.id)),
    };
    let failure: ApiError = match transfer(app, &image, bucket, &key, incoming, heartbeat).await {
        Ok(data) => match &rules.expected_md5 {
            Some(expected) if *expected != data.md5 => {
                if let Err(e) = bucket.delete(&key).await {
                    worker::console_error!("could not remove mismatched upload {key}: {e}");
                }
                ApiError::bad_request(format!(
                    "Checksum mismatch: x-image-meta-checksum is {expected} but the data's md5 is {}.",
                    data.md5
                ))
            }
            _ => return record(app, image, bucket, &key, &rules.target, &data).await,
        },
        Err(failure) => failure.into(),
    };
    let status = fall_back(app, image, rules.on_failure).await?;
    Err(ApiError { message: format!("{} The image is {status}.", failure.message), ..failure })
}

/// Moves an image whose upload began (and did not finish) by `event`, back
/// where a failed upload leaves it, unless it moved on meanwhile (deleted,
/// reset: then it is left as it is). Returns its status after.
async fn fall_back(app: &App, image: Image, event: ImageEvent) -> Result<ImageStatus, ApiError> {
    let (begun, id) = (image.status, image.id.clone());
    let back = update_image(app, &id, Some(image), |image| Ok::<_, ApiError>((image.status == begun).then_some(event)))
        .await?;
    Ok(back.map_or(ImageStatus::Deleted, |image| image.status))
}

/// Records what a transfer stored on the image it was for, unless the
/// image was deleted (or reset) meanwhile: then the data is removed.
async fn record(
    app: &App,
    image: Image,
    bucket: &Blobs,
    key: &str,
    target: &UploadTarget,
    data: &StoredData,
) -> Result<Image, ApiError> {
    let begun = image.status;
    let id = image.id.clone();
    let written = update_image(app, &id, Some(image), |image| {
        if image.status != begun {
            return Err(ApiError::gone(format!("Image {id} was reset during the upload; its data was discarded.")));
        }
        Ok(match target {
            UploadTarget::Store(store) => {
                image.record_data(data);
                image.locations = vec![Location::in_r2(store, key)];
                Some(ImageEvent::DataStored)
            }
            // Staged data waits for the import; the image stays uploading.
            UploadTarget::Staging => {
                image.size = Some(data.size);
                None
            }
        })
    })
    .await;
    match written {
        Ok(Some(image)) => Ok(image),
        other => {
            if let Err(e) = bucket.delete(key).await {
                worker::console_error!("could not remove data of vanished image {key}: {e}");
            }
            match other {
                Ok(_) => {
                    Err(ApiError::gone(format!("Image {id} was deleted during the upload; its data was discarded.")))
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// v1's zero-size rule: an image created with `x-image-meta-size: 0` and no
/// body becomes `active` at once (queued -> active, no object: there is no
/// data to store), with the hashes of empty data.
pub async fn record_empty(app: &App, image: Image, expected_md5: Option<&str>) -> Result<Image, ApiError> {
    if let Some(expected) = expected_md5.filter(|e| *e != EMPTY_MD5) {
        return Err(ApiError::bad_request(format!(
            "Checksum mismatch: x-image-meta-checksum is {expected} but the image has no data (md5 {EMPTY_MD5})."
        )));
    }
    let empty = StoredData {
        size: 0,
        md5: EMPTY_MD5.into(),
        sha512: EMPTY_SHA512.into(),
        virtual_size: image.virtual_size_of(0),
    };
    let id = image.id.clone();
    update_image(app, &id, Some(image), |image| {
        image.record_data(&empty);
        image.locations.clear();
        Ok::<_, ApiError>(Some(ImageEvent::DataStored))
    })
    .await?
    .ok_or_else(|| ApiError::image_not_found(id.as_str()))
}
