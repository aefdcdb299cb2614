//! copy-image: an active image's data copied to each target store that
//! does not hold it, R2 to R2 through the upload engine, each copy's md5
//! checked against the image's. The image stays active whatever happens;
//! the stores that succeeded are added to its locations.

use std::rc::Rc;

use serde_json::{json, Value};

use super::settle::{remove_objects, revert};
use super::JobError;
use crate::api::app::App;
use crate::api::image_write::update_image;
use crate::api::upload::{transfer, Heartbeat, Incoming};
use crate::domain::image::data::StoredData;
use crate::domain::image::location::Location;
use crate::domain::image::Image;
use crate::domain::import::request::ImportMethod;
use crate::domain::task::Task;
use crate::store::blobs::{object_key, Blobs};

/// Copies `image`'s object from `source` to `target` (streams only), as
/// `task_id`'s work, checking the copy against `data` (the source's size
/// and md5). A copy that does not match is removed.
pub(super) async fn copy_between(
    app: &Rc<App>,
    image: &Image,
    task_id: &str,
    source: &Blobs,
    target: &Blobs,
    data: &StoredData,
) -> Result<StoredData, JobError> {
    let key = object_key(&image.id);
    let stream = source.get_stream(&key, None).await?.ok_or_else(|| {
        JobError::Failed(format!("the data of image {} is missing from store {}", image.id, source.store()))
    })?;
    let incoming = Incoming { body: Some(stream), declared: Some(data.size) };
    let copied = transfer(app, image, target, &key, incoming, Heartbeat::Task(task_id.to_owned())).await?;
    if copied.md5 != data.md5 {
        remove_objects(app, &image.id, &[target.store().to_owned()]).await;
        return Err(JobError::Failed(format!(
            "the copy in store {} has md5 {} instead of {}",
            target.store(),
            copied.md5,
            data.md5
        )));
    }
    Ok(copied)
}

/// Runs copy-image to `targets`.
pub(super) async fn run(
    app: &Rc<App>,
    task: &Task,
    image: &Image,
    targets: &[String],
    must_succeed: bool,
) -> Result<Value, JobError> {
    let (Some(size), Some(md5)) = (image.size, image.checksum.clone()) else {
        revert(app, &image.id, &task.id, ImportMethod::CopyImage, &[]).await?;
        return Err(JobError::Failed(format!("image {} has no data to copy", image.id)));
    };
    let data = StoredData {
        size,
        md5,
        sha512: image.os_hash_value.clone().unwrap_or_default(),
        virtual_size: image.virtual_size,
    };
    let source_store = app
        .stores()
        .download_order(&image.store_ids())
        .into_iter()
        .find(|s| app.bucket(&s.id).is_ok())
        .map(|s| s.id.clone())
        .ok_or_else(|| JobError::Failed(format!("image {} is in no R2 store to copy from", image.id)))?;
    let key = object_key(&image.id);
    let mut failures = Vec::new();
    for store in targets {
        let copied = copy_between(app, image, &task.id, app.bucket(&source_store)?, app.bucket(store)?, &data).await;
        let ok = copied.is_ok();
        if let Err(stop) = copied {
            failures.push(format!("{store}: {stop}"));
        }
        let added = update_image(app, &image.id, None, |image| {
            if ok && image.location_in(store).is_none() {
                image.locations.push(Location::in_r2(store, &key));
            }
            image.import_store_done(store, ok);
            Ok::<_, JobError>(None)
        })
        .await?;
        if added.is_none() {
            remove_objects(app, &image.id, std::slice::from_ref(store)).await;
            return Err(JobError::Failed(format!("image {} was deleted during the copy", image.id)));
        }
    }
    update_image(app, &image.id, None, |image| {
        image.end_import(&task.id);
        Ok::<_, JobError>(None)
    })
    .await?;
    if !failures.is_empty() && must_succeed {
        return Err(JobError::Failed(format!("copy to {}", failures.join("; "))));
    }
    Ok(json!({ "image_id": image.id.as_str() }))
}
