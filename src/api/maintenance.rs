//! Scheduled upkeep (the worker's cron trigger). An upload whose worker was
//! killed outright (not a client disconnect, which `waitUntil` settles) would
//! leave its image `saving` forever and perhaps an object in R2. The reaper
//! treats such uploads as failed: it removes the object, then moves the image
//! back to `queued` by compare-and-set, as a failed v2 upload would.

use worker::Env;

use super::{now, now_seconds, App, Config};
use crate::context::RequestContext;
use crate::domain::image::status::{ImageEvent, ImageStatus};
use crate::domain::time::format_utc;
use crate::error::ApiError;
use crate::store::blobs::object_key;

/// Settles uploads stalled for longer than `STALLED_UPLOAD_MINUTES`;
/// returns how many images were given back.
pub async fn reap_stalled_uploads(env: &Env) -> Result<usize, ApiError> {
    // The upkeep acts as the catalog itself, not on behalf of a caller.
    let caller = RequestContext::noauth_admin("req-scheduled".into(), "");
    let app = App::new(env, Config::from_env(env), caller, String::new())?;
    let now = now();
    let cutoff = format_utc(now_seconds() - 60 * app.config.stalled_upload_minutes as i64);
    let target = ImageStatus::Saving.apply(ImageEvent::UploadFailed)?;
    let mut reaped = 0;
    for image in app.images.stalled_uploads(&cutoff).await? {
        app.blobs.delete(&object_key(image.id.as_str())).await.map_err(ApiError::internal)?;
        if app.images.move_status(&image.id, ImageStatus::Saving, target, &now).await? {
            worker::console_warn!(
                "upload of image {} stalled since {}; it is {target} again",
                image.id,
                image.updated_at
            );
            reaped += 1;
        }
    }
    Ok(reaped)
}
