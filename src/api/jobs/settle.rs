//! Putting an image back when the work on it fails: the objects a job
//! wrote removed, staged data removed, and the image unlocked and (but for
//! copy-image) queued again, as Glance leaves a failed import. Shared by
//! every job kind and the dead-letter consumer.

use super::JobError;
use crate::api::app::App;
use crate::api::image_write::update_image;
use crate::api::staging;
use crate::domain::image::status::{ImageEvent, ImageStatus};
use crate::domain::image::ImageId;
use crate::domain::import::request::ImportMethod;
use crate::store::blobs::object_key;

/// Removes image `id`'s object from each of `stores`; failures are logged
/// (the upkeep cannot find an object its image no longer names).
pub(super) async fn remove_objects(app: &App, id: &ImageId, stores: &[String]) {
    for store in stores {
        if let Ok(bucket) = app.bucket(store) {
            if let Err(e) = bucket.delete(&object_key(id)).await {
                worker::console_error!("could not remove {id} from {store}: {e}");
            }
        }
    }
}

/// Puts an image whose import failed back where Glance leaves it: every
/// object this import wrote removed (`written`), then (not for copy-image)
/// importing -> queued, and the lock released.
pub(super) async fn revert(
    app: &App,
    id: &ImageId,
    task_id: &str,
    method: ImportMethod,
    written: &[String],
) -> Result<(), JobError> {
    remove_objects(app, id, written).await;
    if method == ImportMethod::GlanceDirect {
        staging::remove(app, id).await;
    }
    let requeue = method != ImportMethod::CopyImage;
    update_image(app, id, None, |image| {
        image.end_import(task_id);
        Ok::<_, JobError>((requeue && image.status == ImageStatus::Importing).then_some(ImageEvent::UploadFailed))
    })
    .await
    .map(|_| ())
}
