//! `location_import` tasks: an http location's data hashed in the
//! background (read, never stored), checked against the validation data
//! the client gave and judged by the upload engine's format inspection
//! (from the first and last bytes the hashing kept). The image goes
//! importing -> active with the hashes and virtual size, or back to queued
//! (its http location stays, as in Glance). An image already active (a
//! location without validation data) whose data the inspection refuses is
//! deactivated: nobody but an admin can download it, and an admin
//! reactivates it knowingly. The
//! run stops early if the image is deleted meanwhile; however long the
//! source takes, the task's heartbeat shows its worker alive.

use std::rc::Rc;

use futures_util::future::{select, Either};
use futures_util::pin_mut;
use serde_json::{json, Value};

use super::import::image_of;
use super::JobError;
use crate::api::app::App;
use crate::api::image_write::update_image;
use crate::api::upload::{inspect, Inspected};
use crate::domain::hash::HashAlgorithm;
use crate::domain::image::location::ValidationData;
use crate::domain::image::status::{ImageEvent, ImageStatus};
use crate::domain::image::ImageId;
use crate::domain::task::Task;
use crate::store::js::AbortController;
use crate::store::web;

/// How often the run checks that its image still exists.
const DELETION_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs a `location_import` task.
pub async fn run(app: &Rc<App>, task: &Task) -> Result<Value, JobError> {
    let image_id = image_of(task)?;
    let url = task.input.get("url").and_then(Value::as_str).unwrap_or_default().to_owned();
    let validation = ValidationData::parse(task.input.get("validation_data").filter(|v| !v.is_null()))
        .map_err(|e| JobError::Failed(e.to_string()))?
        .unwrap_or_default();
    let algorithm = validation.os_hash_algo.as_deref().and_then(HashAlgorithm::parse).unwrap_or(HashAlgorithm::Sha512);
    let stop = AbortController::new().map_err(|_| JobError::Retry("the runtime has no AbortController".into()))?;
    let watcher = watch_deletion(app, image_id, &stop);
    let algorithms = [HashAlgorithm::Md5.runtime_name(), algorithm.runtime_name()];
    let digest = web::digest(&url, app.config.filter()?, &algorithms, &stop);
    pin_mut!(watcher);
    pin_mut!(digest);
    let hashed = match select(digest, watcher).await {
        Either::Left((hashed, _)) => hashed,
        Either::Right(_) => return Err(JobError::Failed(format!("image {image_id} was deleted; hashing cancelled"))),
    };
    let digested = match hashed {
        Ok(found) => found,
        Err(e) => {
            fail_location(app, image_id).await?;
            return Err(JobError::Failed(format!("hashing {url} failed: {e}")));
        }
    };
    let size = digested.size;
    let (md5, value) = (digested.digests[0].clone(), digested.digests[1].clone());
    let mismatch = validation.checksum.as_ref().is_some_and(|c| *c != md5)
        || validation.os_hash_value.as_ref().is_some_and(|v| *v != value);
    if mismatch {
        fail_location(app, image_id).await?;
        return Err(JobError::Failed(format!(
            "the data at {url} does not match the validation data (md5 {md5}, {} {value})",
            algorithm.as_str()
        )));
    }
    let Some(image) = app.images.get(image_id).await? else {
        return Err(JobError::Failed(format!("image {image_id} was deleted; hashing cancelled")));
    };
    let virtual_size = match inspect(app, &image, size, Inspected::Seen(&digested.glimpse)).await {
        Ok(virtual_size) => virtual_size,
        Err(refused) => {
            refuse_location(app, image_id).await?;
            return Err(JobError::Failed(format!("the data at {url} was refused: {refused}")));
        }
    };
    // The record just read is tried first (a compare-and-set on its
    // revision: if it changed meanwhile, the write re-reads it).
    let written = update_image(app, image_id, Some(image), |image| {
        image.record_hashes(size, &md5, algorithm, &value);
        image.virtual_size = virtual_size;
        Ok::<_, JobError>((image.status == ImageStatus::Importing).then_some(ImageEvent::DataStored))
    })
    .await?;
    if written.is_none() {
        return Err(JobError::Failed(format!("image {image_id} was deleted; hashing cancelled")));
    }
    Ok(json!({ "image_id": image_id.as_str() }))
}

/// Resolves once image `id` is gone, aborting `stop`.
async fn watch_deletion(app: &App, id: &ImageId, stop: &AbortController) {
    loop {
        worker::Delay::from(DELETION_CHECK).await;
        if matches!(app.images.get(id).await, Ok(None)) {
            stop.abort();
            return;
        }
    }
}

/// A location whose data failed validation: an importing image goes back
/// to queued with no hashes (its http location stays, as in Glance).
pub(super) async fn fail_location(app: &App, id: &ImageId) -> Result<(), JobError> {
    update_image(app, id, None, |image| {
        Ok::<_, JobError>((image.status == ImageStatus::Importing).then_some(ImageEvent::UploadFailed))
    })
    .await
    .map(|_| ())
}

/// A location whose data the format inspection refused: an importing image
/// goes back to queued (as for data that failed validation), an active one
/// (no validation data: active at once) is deactivated.
async fn refuse_location(app: &App, id: &ImageId) -> Result<(), JobError> {
    update_image(app, id, None, |image| {
        Ok::<_, JobError>(match image.status {
            ImageStatus::Importing => Some(ImageEvent::UploadFailed),
            ImageStatus::Active => Some(ImageEvent::Deactivate),
            _ => None,
        })
    })
    .await
    .map(|_| ())
}
