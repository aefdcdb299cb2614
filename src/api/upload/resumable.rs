//! Resumable uploads (tus): the upload engine's second way in, for images
//! larger than one request body may be. A PATCH's bytes are streamed into
//! R2 multipart parts (the offsets-to-parts rule is the domain's,
//! `domain::resumable`); they are not image data yet. When the last byte
//! arrives (or a final concatenation is created), the stored objects become
//! the image's staged data where they are (queued -> uploading with their
//! size, as `PUT /stage` leaves it; `api::staging` finds them), and
//! `glance-direct` imports them: the import's one pass through
//! [`super::transfer`] hashes (natively, in the queue consumer) and
//! inspects them. Nothing is copied just to be staged.
//!
//! A PATCH takes the upload's lease first (at the offset it was sent for),
//! so two PATCHes never write the same part; its progress is recorded only
//! under the lease, and only for the segments R2 stored. The work runs
//! under `waitUntil`, so a client that goes away mid-body still leaves
//! what was stored recorded, and HEAD tells it where to resume.

use std::rc::Rc;

use futures_channel::oneshot;
use worker::Context;

use crate::api::app::App;
use crate::api::image_write::update_image;
use crate::api::quota;
use crate::api::respond::now_seconds;
use crate::domain::image::status::{ImageEvent, ImageStatus};
use crate::domain::image::{Image, ImageId};
use crate::domain::quota::Resource;
use crate::domain::resumable::protocol::{Checksum, TusError};
use crate::domain::resumable::{
    data_key, max_size, part_size_for, scratch_prefix, tail_key, Concat, ResumableUpload, UploadId, UploadState,
};
use crate::error::ApiError;
use crate::store::blobs::{Blobs, UploadLimits};
use crate::store::upload_parts::SegmentWrite;
use crate::store::uploads::Progress;

/// A PATCH as received: where it claims to start, its body and length,
/// and the checksum it must have.
pub struct Patch {
    /// `Upload-Offset`.
    pub offset: u64,
    /// The body (a JS stream).
    pub body: Option<wasm_bindgen::JsValue>,
    /// Its length (`Content-Length`).
    pub size: u64,
    /// `Upload-Checksum`.
    pub checksum: Option<Checksum>,
}

/// What creating an upload asks for.
pub struct Creation {
    /// `Upload-Length` (none for a final concatenation).
    pub length: Option<u64>,
    /// Whole, partial or final.
    pub concat: Concat,
    /// `Upload-Metadata`.
    pub metadata: Option<String>,
}

/// How long a PATCH's lease lasts past its last sign of life: a live PATCH
/// renews it at least every 15 s while bytes arrive, and gives up after the
/// idle bound of silence.
fn lease_seconds(app: &App) -> i64 {
    app.config.upload_idle_seconds as i64 + 60
}

fn expiry(app: &App) -> i64 {
    now_seconds() + app.config.resumable_expiry_hours as i64 * 3600
}

fn limits(app: &App) -> UploadLimits {
    UploadLimits { size_cap: app.config.size_cap, idle_seconds: app.config.upload_idle_seconds, fail_storage: false }
}

/// Upload `upload_id` of image `image` (which the caller looked up with
/// `Action::Upload`): 404 for one of another image, 410 once expired.
pub async fn find(app: &App, image: &Image, upload_id: &UploadId) -> Result<ResumableUpload, ApiError> {
    let upload = app
        .uploads
        .get(upload_id)
        .await?
        .filter(|u| u.image_id == image.id.as_str())
        .ok_or_else(|| TusError::NotFound(upload_id.to_string()))?;
    if upload.expires_at < now_seconds() {
        return Err(TusError::Expired(upload_id.to_string()).into());
    }
    Ok(upload)
}

/// Creates an upload for `image` (queued; the caller looked it up with
/// `Action::Upload`). A final concatenation is finished at once: its
/// partial uploads' bytes become the image's staged data before this
/// returns.
pub async fn create(app: &Rc<App>, image: Image, creation: Creation) -> Result<ResumableUpload, ApiError> {
    // Only an image that could be staged takes an upload (409 otherwise).
    image.status.transition(ImageEvent::Stage)?;
    let max = max_size(app.config.size_cap);
    let (length, partials) = match &creation.concat {
        Concat::Final(ids) => {
            let mut partials = Vec::new();
            for id in ids {
                let partial = find(app, &image, id).await.map_err(|_| TusError::Concat(format!("no upload {id}")))?;
                if partial.concat != Concat::Partial {
                    return Err(TusError::Concat(format!("upload {id} is not a partial upload")).into());
                }
                if partial.state != UploadState::Complete {
                    return Err(TusError::Concat(format!(
                        "partial upload {id} holds {} of its {} bytes",
                        partial.offset, partial.length
                    ))
                    .into());
                }
                partials.push(partial);
            }
            let total = partials.iter().map(|p| p.length).sum::<u64>();
            if creation.length.is_some_and(|l| l != total) {
                return Err(
                    TusError::Concat(format!("Upload-Length must be the partial uploads' total, {total}")).into()
                );
            }
            (total, partials)
        }
        _ => (
            creation.length.ok_or(TusError::Header { name: "Upload-Length", problem: "is required".into() })?,
            Vec::new(),
        ),
    };
    if length > max {
        return Err(TusError::TooLarge { length, max }.into());
    }
    let store = app.default_bucket();
    let id = UploadId::generate();
    let receiving = matches!(creation.concat, Concat::Whole | Concat::Partial) && length > 0;
    let multipart_id = if receiving { Some(store.begin_parts(&data_key(&id)).await?) } else { None };
    if creation.concat == Concat::Partial && length == 0 {
        // An empty part is an empty object, so a final reads every part
        // it names alike.
        store.put_stream(&data_key(&id), None, Some(0), limits(app), Rc::new(|| ())).await?;
    }
    let upload = ResumableUpload {
        id,
        image_id: image.id.to_string(),
        length,
        offset: if receiving { 0 } else { length },
        part_size: part_size_for(length),
        concat: creation.concat,
        metadata: creation.metadata,
        store: store.store().to_owned(),
        multipart_id,
        parts: Vec::new(),
        tail_size: 0,
        state: if receiving { UploadState::Receiving } else { UploadState::Complete },
        expires_at: expiry(app),
    };
    if let Err(e) = app.uploads.insert(&upload, now_seconds()).await {
        if let Some(multipart) = &upload.multipart_id {
            store.abort_parts(&data_key(&upload.id), multipart).await;
        }
        return Err(e.into());
    }
    match upload.concat {
        Concat::Partial if !receiving => Ok(upload),
        Concat::Final(_) => finish_final(app, upload, partials).await,
        _ if !receiving => finish_whole(app, upload).await,
        _ => Ok(upload),
    }
}

/// Applies a PATCH to `upload`: 409 at a stale offset and 423 while
/// another PATCH holds the upload, both changing nothing. Returns the
/// upload as the PATCH left it (finished, when it was the last).
pub async fn patch(
    app: Rc<App>,
    upload: ResumableUpload,
    patch: Patch,
    ctx: &Context,
) -> Result<ResumableUpload, ApiError> {
    if matches!(upload.concat, Concat::Final(_)) {
        return Err(TusError::FinalNotPatchable.into());
    }
    if upload.state != UploadState::Receiving {
        // Every byte is in; an empty PATCH at the end asks again for a
        // finish that failed (the image was busy, the store failed).
        let retry = upload.state == UploadState::Complete && upload.concat == Concat::Whole;
        if retry && patch.size == 0 && patch.offset == upload.length {
            return finish_whole(&app, upload).await;
        }
        return Err(TusError::OffsetMismatch { sent: patch.offset, stored: upload.length }.into());
    }
    if patch.offset != upload.offset {
        return Err(TusError::OffsetMismatch { sent: patch.offset, stored: upload.offset }.into());
    }
    if upload.offset == upload.length {
        // Every byte is in but the upload was never completed (its worker
        // died in between): the empty PATCH at the end completes it.
        return complete(&app, upload).await;
    }
    if patch.offset + patch.size > upload.length {
        return Err(TusError::PastLength { offset: patch.offset, body: patch.size, length: upload.length }.into());
    }
    if patch.size == 0 {
        return Ok(upload);
    }
    let token = UploadId::generate().to_string();
    let now = now_seconds();
    if !app.uploads.claim(&upload.id, upload.offset, &token, now + lease_seconds(&app), now).await? {
        return Err(match app.uploads.get(&upload.id).await? {
            None => TusError::NotFound(upload.id.to_string()),
            Some(current) if current.offset != patch.offset || current.state != UploadState::Receiving => {
                TusError::OffsetMismatch { sent: patch.offset, stored: current.offset }
            }
            Some(_) => TusError::Locked,
        }
        .into());
    }
    // Under waitUntil: a client that goes away still leaves its stored
    // parts recorded and the lease given back.
    let (sender, receiver) = oneshot::channel();
    // The same fetch event's context, for the finish's own `waitUntil`.
    ctx.wait_until(async move {
        let outcome = write(&app, upload, patch, &token).await;
        if let Err(error) = &outcome {
            worker::console_warn!("resumable upload PATCH failed: {}", error.message);
        }
        let _ = sender.send(outcome);
    });
    receiver.await.unwrap_or_else(|_| Err(ApiError::internal("PATCH ended without an answer")))
}

/// The body of a PATCH holding the lease `token`: its segments stored,
/// the progress recorded, the upload finished when this was its end.
async fn write(app: &Rc<App>, upload: ResumableUpload, patch: Patch, token: &str) -> Result<ResumableUpload, ApiError> {
    let bucket = app.bucket(&upload.store)?;
    let old_tail = upload.tail_object();
    let plan = upload.plan(patch.size);
    let new_tail = tail_key(&upload.id, upload.offset + patch.size);
    let key = data_key(&upload.id);
    let beat = {
        let (app, id, token) = (app.clone(), upload.id.clone(), token.to_owned());
        Rc::new(move || {
            let (app, id, token) = (app.clone(), id.clone(), token.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let until = now_seconds() + lease_seconds(&app);
                if let Err(e) = app.uploads.renew(&id, &token, until).await {
                    worker::console_warn!("could not renew the lease of upload {id}: {e}");
                }
            });
        }) as Rc<dyn Fn()>
    };
    let write = SegmentWrite {
        key: &key,
        multipart_id: upload.multipart_id.as_deref(),
        old_tail: old_tail.as_deref(),
        new_tail: &new_tail,
        body: patch.body,
        body_size: patch.size,
        segments: &plan,
        digest: patch.checksum.as_ref().map(|c| c.algorithm.runtime_name()),
    };
    let written = match bucket.write_segments(write, limits(app), beat).await {
        Ok(written) => written,
        Err(e) => {
            release(app, bucket, &upload, token, &new_tail).await;
            return Err(e.into());
        }
    };
    // With a checksum, the PATCH is all or nothing.
    if let Some(checksum) = &patch.checksum {
        if let Some(failure) = written.error {
            release(app, bucket, &upload, token, &new_tail).await;
            return Err(failure.into());
        }
        if written.digest.as_deref() != Some(checksum.digest.as_slice()) {
            release(app, bucket, &upload, token, &new_tail).await;
            return Err(TusError::ChecksumMismatch { algorithm: checksum.algorithm.as_str().into() }.into());
        }
    }
    let advance = upload.advance(&plan, written.stored);
    let mut parts = upload.parts.clone();
    parts.extend(written.parts);
    let tail_now = match (advance.tail_replaced, advance.tail_size) {
        (false, _) => old_tail.clone(),
        (true, 0) => None,
        (true, _) => Some(new_tail.clone()),
    };
    let progress = Progress {
        offset: advance.offset,
        parts: &parts,
        tail_key: tail_now.as_deref(),
        tail_size: advance.tail_size,
        expires_at: expiry(app),
    };
    if !app.uploads.advance(&upload.id, token, progress).await? {
        // The lease was lost (this PATCH stalled past it, or the upload was
        // terminated): another writer owns the upload now.
        delete_logged(bucket, &new_tail).await;
        return Err(TusError::Locked.into());
    }
    if advance.tail_replaced {
        if let Some(old) = &old_tail {
            delete_logged(bucket, old).await;
        }
    }
    let upload = ResumableUpload {
        offset: advance.offset,
        parts,
        tail_size: advance.tail_size,
        expires_at: expiry(app),
        ..upload
    };
    if let Some(failure) = written.error {
        let error: ApiError = failure.into();
        return Err(ApiError {
            message: format!("{} The upload holds {} bytes; resume from there.", error.message, upload.offset),
            ..error
        });
    }
    if upload.offset < upload.length {
        return Ok(upload);
    }
    complete(app, upload).await
}

/// Completes an upload that holds every byte: its multipart upload becomes
/// one object, and a whole upload becomes its image's staged data. Also
/// what an empty PATCH at the end asks for when a worker died between the
/// last bytes and this (R2 may then already have the object).
async fn complete(app: &Rc<App>, upload: ResumableUpload) -> Result<ResumableUpload, ApiError> {
    let bucket = app.bucket(&upload.store)?;
    let key = data_key(&upload.id);
    if let Some(multipart) = &upload.multipart_id {
        if let Err(e) = bucket.complete_parts(&key, multipart, &upload.parts).await {
            if !bucket.exists(&key).await? {
                return Err(e.into());
            }
        }
    }
    app.uploads.settle(&upload.id, UploadState::Receiving, UploadState::Complete).await?;
    let upload = ResumableUpload { state: UploadState::Complete, multipart_id: None, tail_size: 0, ..upload };
    match upload.concat {
        Concat::Whole => finish_whole(app, upload).await,
        _ => Ok(upload),
    }
}

/// Gives the lease back after a PATCH that keeps nothing.
async fn release(app: &App, bucket: &Blobs, upload: &ResumableUpload, token: &str, new_tail: &str) {
    delete_logged(bucket, new_tail).await;
    if let Err(e) = app.uploads.release(&upload.id, token).await {
        worker::console_warn!("could not release the lease of upload {}: {e}", upload.id);
    }
}

async fn delete_logged(bucket: &Blobs, key: &str) {
    if let Err(e) = bucket.delete(key).await {
        worker::console_warn!("could not remove {key}: {e}");
    }
}

/// A whole upload's bytes become its image's staged data where they are
/// (no copy): the image goes queued -> uploading with their size, as
/// `PUT /stage` leaves it, and the import reads them (`api::staging`). When
/// the image cannot take them (it moved on), the upload stays complete, so
/// finishing can be asked for again.
async fn finish_whole(app: &Rc<App>, upload: ResumableUpload) -> Result<ResumableUpload, ApiError> {
    stage_in_place(app, &upload).await?;
    if !app.uploads.settle(&upload.id, UploadState::Complete, UploadState::Staged).await? {
        // Terminated meanwhile: its objects are gone, the image has nothing.
        unstage(app, &upload).await;
        return Err(TusError::NotFound(upload.id.to_string()).into());
    }
    Ok(ResumableUpload { state: UploadState::Staged, ..upload })
}

/// A final concatenation: its partial uploads' objects, in its order,
/// become the image's staged data where they are; the partial uploads'
/// records go (a partial upload joins one final). When the image cannot
/// take them, the final upload is forgotten and the partial uploads kept,
/// so the final can be created again.
async fn finish_final(
    app: &Rc<App>,
    upload: ResumableUpload,
    partials: Vec<ResumableUpload>,
) -> Result<ResumableUpload, ApiError> {
    if let Err(error) = stage_in_place(app, &upload).await {
        if let Err(e) = app.uploads.delete(&upload.id).await {
            worker::console_warn!("could not forget final upload {}: {e}", upload.id);
        }
        return Err(error);
    }
    app.uploads.settle(&upload.id, UploadState::Complete, UploadState::Staged).await?;
    for partial in &partials {
        if let Err(e) = app.uploads.delete(&partial.id).await {
            worker::console_warn!("could not forget partial upload {}: {e}", partial.id);
        }
    }
    Ok(ResumableUpload { state: UploadState::Staged, ..upload })
}

/// queued -> uploading with the upload's size, by compare-and-set (of two
/// stages racing, one wins; the other gets 409). Then the uploading count,
/// as `PUT /stage` checks it: counting this image, and undone (the image
/// queued again, the upload left complete) if that is one too many.
async fn stage_in_place(app: &App, upload: &ResumableUpload) -> Result<(), ApiError> {
    let id = ImageId::parse(&upload.image_id)
        .ok_or_else(|| ApiError::internal(format!("upload {} names no image", upload.id)))?;
    let length = upload.length;
    update_image(app, &id, None, |image| {
        let event = ImageEvent::Stage;
        image.status.transition(event)?;
        image.size = Some(length);
        Ok::<_, ApiError>(Some(event))
    })
    .await?
    .ok_or_else(|| ApiError::image_not_found(id.as_str()))?;
    if let Err(refused) = quota::enforce(app, &[(Resource::ImageCountUploading, 0)]).await {
        unstage(app, upload).await;
        return Err(refused.into());
    }
    Ok(())
}

/// Puts back an image staged from an upload that vanished.
async fn unstage(app: &App, upload: &ResumableUpload) {
    let Some(id) = ImageId::parse(&upload.image_id) else { return };
    let back = update_image(app, &id, None, |image| {
        Ok::<_, ApiError>((image.status == ImageStatus::Uploading).then_some(ImageEvent::UploadFailed))
    })
    .await;
    if let Err(e) = back {
        worker::console_warn!("could not unstage image {id}: {}", e.message);
    }
}

/// Removes everything `upload` stored (its multipart upload, its objects
/// (a final's are its partial uploads'), its tails).
pub async fn remove_objects(bucket: &Blobs, upload: &ResumableUpload) {
    let key = data_key(&upload.id);
    if let Some(multipart) = &upload.multipart_id {
        bucket.abort_parts(&key, multipart).await;
    }
    let mut ids = vec![upload.id.clone()];
    if let Concat::Final(partials) = &upload.concat {
        ids.extend(partials.iter().cloned());
    }
    for id in ids {
        delete_logged(bucket, &data_key(&id)).await;
        if let Err(e) = bucket.delete_under(&scratch_prefix(&id)).await {
            worker::console_warn!("could not remove the tails of upload {id}: {e}");
        }
    }
}

/// Terminates `upload`: its record first (a PATCH in flight then records
/// nothing), then everything it stored.
pub async fn terminate(app: &App, upload: ResumableUpload) -> Result<(), ApiError> {
    if upload.state == UploadState::Staged {
        return Err(ApiError::conflict(format!(
            "Upload {} is image {}'s staged data: import the image, or delete it.",
            upload.id, upload.image_id
        )));
    }
    app.uploads.delete(&upload.id).await?;
    remove_objects(app.bucket(&upload.store)?, &upload).await;
    Ok(())
}

/// The cron's share: uploads expired, or whose image is gone, are removed
/// with everything they stored. Returns how many.
pub async fn expire(app: &App) -> Result<usize, ApiError> {
    let mut removed = 0;
    for upload in app.uploads.finished_with(now_seconds(), 100).await? {
        if let Ok(bucket) = app.bucket(&upload.store) {
            remove_objects(bucket, &upload).await;
        }
        if app.uploads.delete(&upload.id).await? {
            removed += 1;
        }
    }
    Ok(removed)
}
