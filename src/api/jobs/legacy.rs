//! The legacy `import` task (`POST /v2/tasks`): creates an image from the
//! task's `image_properties` and fills it from `import_from` through the
//! upload engine, as a direct v2 upload would be (queued -> saving ->
//! active; a failed transfer removes its object and leaves the image
//! queued). The image's id is recorded on the task before any byte moves,
//! so a retried run fills the image it created instead of making another.

use std::rc::Rc;

use serde_json::{json, Value};

use super::settle::remove_objects;
use super::JobError;
use crate::api::app::App;
use crate::api::image_write::update_image;
use crate::api::upload::{begin, fill, Heartbeat, Incoming, UploadRules};
use crate::domain::image::status::{ImageEvent, ImageStatus};
use crate::domain::image::{Image, ImageId, Writer};
use crate::domain::task::Task;
use crate::store::web;

/// Runs an `import` task.
pub async fn run(app: &Rc<App>, task: &Task) -> Result<Value, JobError> {
    let image = match &task.image_id {
        Some(id) => app
            .images
            .get(id)
            .await?
            .ok_or_else(|| JobError::Failed(format!("image {id} was deleted during the import")))?,
        None => create(app, task).await?,
    };
    let done = json!({ "image_id": image.id.as_str() });
    match image.status {
        // A run that stored the data but died before finishing the task.
        ImageStatus::Active => return Ok(done),
        ImageStatus::Queued => {}
        other => return Err(JobError::Failed(format!("image {} is {other}, not queued", image.id))),
    }
    let url = task.input.get("import_from").and_then(Value::as_str).unwrap_or_default();
    let body = web::open(url, app.config.filter()?, &[]).await?;
    let begun = begin(app, image, ImageEvent::BeginUpload, &Default::default()).await?;
    let store = app.stores().default_store().id.clone();
    let incoming = Incoming { body: body.stream, declared: body.length };
    fill(app, begun, incoming, &UploadRules::v2(store), Heartbeat::Task(task.id.clone())).await?;
    Ok(done)
}

/// Creates the task's image and records it on the task.
async fn create(app: &App, task: &Task) -> Result<Image, JobError> {
    let properties = task.input.get("image_properties").cloned().unwrap_or_else(|| json!({}));
    let writer = Writer { is_admin: true, project_id: task.owner.as_deref() };
    let mut image = Image::from_create_request(&properties, writer, &crate::api::respond::now())
        .map_err(|e| JobError::Failed(format!("image_properties: {e}")))?;
    image.owner.clone_from(&task.owner);
    app.images.insert(&image).await?;
    app.tasks.set_image(&task.id, &image.id).await?;
    Ok(image)
}

/// Settles the image of an import task nobody will finish: an upload
/// whose worker died is failed as a direct upload would be.
pub(super) async fn abandon(app: &App, id: &ImageId) -> Result<(), JobError> {
    if !app.images.get(id).await?.is_some_and(|image| image.status == ImageStatus::Saving) {
        return Ok(());
    }
    let stores: Vec<String> = app.buckets.iter().map(|b| b.store().to_owned()).collect();
    remove_objects(app, id, &stores).await;
    update_image(app, id, None, |image| {
        Ok::<_, JobError>((image.status == ImageStatus::Saving).then_some(ImageEvent::UploadFailed))
    })
    .await
    .map(|_| ())
}
