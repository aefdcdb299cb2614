//! Scheduled upkeep (the worker's cron trigger). A live upload settles
//! itself, even when its client disconnects or its body stalls (`waitUntil`
//! and the idle bound). Only a worker killed outright (a restart, a crash)
//! leaves an image `saving` with nobody to settle it, and perhaps an R2
//! object or an unfinished multipart upload. The upkeep treats uploads that
//! made no progress for `STALLED_UPLOAD_MINUTES` as failed, as a failed v2
//! upload would be: object removed, then the image back to `queued` by
//! compare-and-set; and it aborts multipart uploads nothing has fed for as
//! long. The same bound settles stages that died midway (an `uploading`
//! image whose data never finished) and imports whose consumer died (a task
//! not renewed for as long): the image goes back where a failed import
//! leaves it. It also runs Glance's scrubber (the data of `pending_delete`
//! images, `SCRUB_TIME_SECONDS` after the delete) and sweeps expired tasks.

use worker::Env;

use super::app::App;
use super::config::Config;
use super::respond::{now, now_seconds};
use super::{catalog, jobs};
use crate::context::RequestContext;
use crate::domain::image::status::{ImageEvent, ImageStatus};
use crate::domain::time::format_utc;
use crate::error::ApiError;
use crate::store::blobs::{object_key, staging_key};

/// What one round of upkeep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Upkeep {
    /// Images given back (`saving` -> `queued`).
    pub settled_uploads: usize,
    /// Multipart uploads aborted.
    pub aborted_multiparts: usize,
    /// Stages that died midway, unstaged (`uploading` -> `queued`).
    pub settled_stages: usize,
    /// Tasks whose consumer died, failed.
    pub settled_tasks: usize,
    /// Pending-delete images scrubbed.
    pub scrubbed: usize,
    /// Expired tasks swept.
    pub swept_tasks: usize,
}

/// Settles uploads with no progress for `STALLED_UPLOAD_MINUTES` and aborts
/// the multipart uploads they (or anything else) left behind.
pub async fn run(env: &Env) -> Result<Upkeep, ApiError> {
    // The upkeep acts as the catalog itself, not on behalf of a caller.
    let caller = RequestContext::noauth_admin("req-scheduled".into(), "");
    let app = App::new(env, Config::from_env(env), caller, String::new())?;
    let now = now();
    // A live upload renews its progress at least every few seconds while
    // bytes arrive and gives up after `upload_idle_seconds` of silence, so
    // the stalled bound must exceed the idle bound to never touch it.
    let stalled_seconds = (60 * app.config.stalled_upload_minutes).max(2 * app.config.upload_idle_seconds + 60) as i64;
    let before = now_seconds() - stalled_seconds;
    let mut upkeep = Upkeep::default();
    for image in app.images.without_progress_since(ImageStatus::Saving, before).await? {
        let back = image.status.transition(ImageEvent::UploadFailed)?;
        for bucket in &app.buckets {
            bucket.delete(&object_key(image.id.as_str())).await.map_err(ApiError::internal)?;
        }
        if app.images.move_status(&image.id, back, &now).await? {
            worker::console_warn!(
                "upload of image {} made no progress since {before}; it is {} again",
                image.id,
                back.to()
            );
            upkeep.settled_uploads += 1;
        }
    }
    for image in app.images.without_progress_since(ImageStatus::Uploading, before).await? {
        // A staged image records its size when the stage completes: only
        // one without a size is a stage that never finished.
        if image.size.is_some() {
            continue;
        }
        let back = image.status.transition(ImageEvent::UploadFailed)?;
        app.default_bucket().delete(&staging_key(image.id.as_str())).await.map_err(ApiError::internal)?;
        if app.images.move_status(&image.id, back, &now).await? {
            upkeep.settled_stages += 1;
        }
    }
    for bucket in &app.buckets {
        upkeep.aborted_multiparts += bucket.abort_abandoned_multiparts(before).await?;
    }
    let stalled_since = format_utc(now_seconds() - stalled_seconds);
    for task in app.tasks.stalled(&stalled_since).await? {
        let reason = format!("The task made no progress since {stalled_since}: its worker stopped.");
        match jobs::give_up(&app, &task.id, &reason).await {
            Ok(()) => upkeep.settled_tasks += 1,
            Err(e) => worker::console_warn!("could not settle stalled task {}: {e}", task.id),
        }
    }
    let scrub_before = format_utc(now_seconds() - app.config.scrub_time_seconds as i64);
    for image in app.images.pending_delete_since(&scrub_before).await? {
        catalog::remove_data(&app, &image).await;
        let done = image.status.transition(ImageEvent::Delete)?;
        if app.images.finish_delete(&image.id, done, &now).await? {
            upkeep.scrubbed += 1;
        }
    }
    upkeep.swept_tasks = app.tasks.sweep_expired(&now).await?;
    Ok(upkeep)
}
