//! Scheduled upkeep (the worker's cron trigger). A live upload settles
//! itself, even when its client disconnects or its body stalls (`waitUntil`
//! and the idle bound), and a live queue job beats while it works. Only a
//! worker killed outright (a restart, a crash) leaves work with nobody to
//! settle it. The upkeep, with the bound `STALLED_UPLOAD_MINUTES`:
//! - fails uploads that made no progress for the bound, as a failed v2
//!   upload would be (object removed, then `saving` -> `queued` by
//!   compare-and-set), unstages stages that died midway, and aborts
//!   multipart uploads nothing has fed for as long;
//! - fails running tasks whose heartbeat stopped for the bound (their
//!   image put back as a failed run leaves it). A task still waiting for
//!   its message is never failed for waiting: after the bound its message
//!   is sent again (the local queue loses messages over a restart), and
//!   only a task that never started within [`LOST_MESSAGE_HOURS`] is
//!   failed, saying its message was lost;
//! - removes resumable uploads that expired (`Upload-Expires`) or whose
//!   image is gone: their multipart uploads aborted, their objects deleted;
//! - runs Glance's scrubber (the data of `pending_delete` images,
//!   `SCRUB_TIME_SECONDS` after the delete) and sweeps expired tasks.

use worker::Env;

use super::app::{metadata_db, App};
use super::config::Config;
use super::image_write::update_image;
use super::respond::{now, now_seconds};
use super::{catalog, jobs, upload};
use crate::context::RequestContext;
use crate::domain::image::status::{ImageEvent, ImageStatus};
use crate::domain::task::TaskStatus;
use crate::domain::time::{format_utc, parse_iso8601};
use crate::error::ApiError;
use crate::store::blobs::{object_key, staging_key};
use crate::store::cache_entries::DataCentre;
use crate::store::d1::Db;

/// A task still pending this long after it was created never got its
/// message (sent again at every round of upkeep meanwhile): it is failed.
pub const LOST_MESSAGE_HOURS: i64 = 24;

/// A pre-cache fill runs in the isolate that queued it, at most 30 seconds
/// past its answer (`waitUntil`): one still queued after this long never
/// finishes, and is dequeued so that it can be queued again.
pub const STALE_CACHE_FILL_SECONDS: i64 = 15 * 60;

/// What one round of upkeep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Upkeep {
    /// Images given back (`saving` -> `queued`).
    pub settled_uploads: usize,
    /// Multipart uploads aborted.
    pub aborted_multiparts: usize,
    /// Stages that died midway, unstaged (`uploading` -> `queued`).
    pub settled_stages: usize,
    /// Running tasks whose worker died, failed.
    pub settled_tasks: usize,
    /// Pending tasks whose message was sent again.
    pub resent_tasks: usize,
    /// Pending tasks whose message was lost for good, failed.
    pub lost_tasks: usize,
    /// Pending-delete images scrubbed.
    pub scrubbed: usize,
    /// Expired tasks swept.
    pub swept_tasks: usize,
    /// Resumable uploads expired (or whose image is gone), removed with
    /// their multipart uploads and objects.
    pub expired_uploads: usize,
    /// Pre-cache fills queued long ago that never finished (their isolate
    /// went away), dequeued.
    pub dropped_cache_fills: usize,
}

/// One round of upkeep.
pub async fn run(env: &Env) -> Result<Upkeep, ApiError> {
    // The upkeep acts as the catalog itself, not on behalf of a caller.
    let caller = RequestContext::noauth_admin("req-scheduled".into(), "");
    let app =
        App::new(env, Db::new(metadata_db(env)?), Config::of(env), caller, String::new(), DataCentre::background())?;
    let now = now();
    // A live upload renews its progress at least every few seconds while
    // bytes arrive and gives up after `upload_idle_seconds` of silence, so
    // the stalled bound must exceed the idle bound to never touch it.
    let stalled_seconds = (60 * app.config.stalled_upload_minutes).max(2 * app.config.upload_idle_seconds + 60) as i64;
    let before = now_seconds() - stalled_seconds;
    let mut upkeep = Upkeep::default();
    for image in app.images.without_progress_since(ImageStatus::Saving, before).await? {
        for bucket in &app.buckets {
            bucket.delete(&object_key(&image.id)).await?;
        }
        if requeue(&app, image, ImageStatus::Saving).await? {
            upkeep.settled_uploads += 1;
        }
    }
    for image in app.images.without_progress_since(ImageStatus::Uploading, before).await? {
        // A staged image records its size when the stage completes: only
        // one without a size is a stage that never finished.
        if image.size.is_some() {
            continue;
        }
        app.default_bucket().delete(&staging_key(&image.id)).await?;
        if requeue(&app, image, ImageStatus::Uploading).await? {
            upkeep.settled_stages += 1;
        }
    }
    for bucket in &app.buckets {
        upkeep.aborted_multiparts += bucket.abort_abandoned_multiparts(before).await?;
    }
    let stalled_since = format_utc(now_seconds() - stalled_seconds);
    for task in app.tasks.not_updated_since(TaskStatus::Processing, &stalled_since).await? {
        let reason = format!("The task's worker stopped: no heartbeat since {stalled_since}.");
        match jobs::give_up(&app, &task.id, &reason).await {
            Ok(()) => upkeep.settled_tasks += 1,
            Err(e) => worker::console_warn!("could not settle stalled task {}: {e}", task.id),
        }
    }
    let lost_before = now_seconds() - LOST_MESSAGE_HOURS * 3600;
    for task in app.tasks.not_updated_since(TaskStatus::Pending, &stalled_since).await? {
        let lost = parse_iso8601(&task.created_at).is_some_and(|created| created < lost_before);
        let settled = if lost {
            let reason =
                format!("The task never started within {LOST_MESSAGE_HOURS} hours: its queue message was lost.");
            jobs::give_up(&app, &task.id, &reason).await.map(|()| upkeep.lost_tasks += 1).map_err(|e| e.to_string())
        } else {
            jobs::resend(&app, &task.id).await.map(|()| upkeep.resent_tasks += 1).map_err(|e| e.to_string())
        };
        if let Err(e) = settled {
            worker::console_warn!("could not settle pending task {}: {e}", task.id);
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
    upkeep.expired_uploads = upload::resumable::expire(&app).await?;
    upkeep.dropped_cache_fills = app.cache_entries.drop_stale_queued(now_seconds() - STALE_CACHE_FILL_SECONDS).await?;
    Ok(upkeep)
}

/// Fails an upload or stage whose worker died (`image`, found in `status`
/// with no progress): back to queued, unless it moved on meanwhile.
async fn requeue(app: &App, image: crate::domain::image::Image, status: ImageStatus) -> Result<bool, ApiError> {
    let id = image.id.clone();
    let back = update_image(app, &id, Some(image), |image| {
        Ok::<_, ApiError>((image.status == status).then_some(ImageEvent::UploadFailed))
    })
    .await?;
    let requeued = back.is_some_and(|image| image.status == ImageStatus::Queued);
    if requeued {
        worker::console_warn!("upload of image {id} made no progress; it is queued again");
    }
    Ok(requeued)
}
