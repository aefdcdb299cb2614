//! `api_image_import` tasks: glance-direct, web-download and
//! glance-download into every target store (copy-image is [`super::copy`]).
//! The source is read once, into the first store, through the upload
//! engine; the other stores get copies of that object. The image goes
//! importing -> active with every store that succeeded, or back where
//! Glance leaves a failed import (queued, every object this import wrote
//! removed, the lock released).

use std::rc::Rc;

use serde_json::{json, Value};

use super::copy::copy_between;
use super::settle::{remove_objects, revert};
use super::JobError;
use crate::api::app::App;
use crate::api::image_write::update_image;
use crate::api::quota::{self, QuotaError};
use crate::api::staging;
use crate::api::upload::{transfer, Heartbeat, Incoming};
use crate::domain::access::auth::AuthMode;
use crate::domain::image::data::StoredData;
use crate::domain::image::location::Location;
use crate::domain::image::status::ImageEvent;
use crate::domain::image::{Image, ImageId};
use crate::domain::import::remote;
use crate::domain::import::request::{ImportMethod, ImportRequest, IMPORT_TASK};
use crate::domain::quota::{mib, Resource};
use crate::domain::task::Task;
use crate::store::blobs::object_key;
use crate::store::web;

/// The import request a task carries.
pub(super) fn request_of(task: &Task) -> Result<ImportRequest, JobError> {
    let body = task.input.get("import_req").cloned().unwrap_or(Value::Null);
    ImportRequest::parse(&body, &ImportMethod::ALL)
        .map_err(|e| JobError::Failed(format!("invalid import request: {e}")))
}

/// The stores a task imports to.
pub(super) fn targets_of(task: &Task) -> Vec<String> {
    task.input
        .get("backend")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The image a task works on.
pub(super) fn image_of(task: &Task) -> Result<&ImageId, JobError> {
    task.image_id.as_ref().ok_or_else(|| JobError::Failed("the task names no image".into()))
}

/// Runs an `api_image_import` task.
pub async fn run(app: &Rc<App>, task: &Task, token: Option<&str>) -> Result<Value, JobError> {
    let request = request_of(task)?;
    let image_id = image_of(task)?;
    let targets = targets_of(task);
    let Some(image) = app.images.get(image_id).await? else {
        return Err(JobError::Failed(format!("image {image_id} was deleted before the import ran")));
    };
    if image.properties.get(IMPORT_TASK) != Some(&task.id) {
        return Err(JobError::Failed(format!("image {image_id} is no longer locked by this import")));
    }
    // Glance's checks once the image is marked as importing (it counts as
    // uploading now): glance-direct adds its staged size to what is
    // stored; the others stage what they fetch or copy.
    let size = mib(image.size.unwrap_or(0));
    let deltas = match request.method {
        ImportMethod::GlanceDirect => vec![(Resource::ImageSizeTotal, size)],
        _ => vec![(Resource::ImageStageTotal, size), (Resource::ImageCountUploading, 0)],
    };
    match quota::enforce_for(app, task.owner.as_deref(), &deltas).await {
        Ok(()) => {}
        Err(retry @ (QuotaError::Store(_) | QuotaError::LimitsUnavailable(_))) => return Err(retry.into()),
        Err(refused) => {
            revert(app, image_id, &task.id, request.method, &[]).await?;
            return Err(refused.into());
        }
    }
    if request.method == ImportMethod::CopyImage {
        return super::copy::run(app, task, &image, &targets, request.all_stores_must_succeed).await;
    }

    let mut stored: Option<StoredData> = None;
    let mut done: Vec<String> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut remote_record = None;
    let key = object_key(image_id);
    for store in &targets {
        let bucket = app.bucket(store)?;
        let attempt = match &stored {
            None => match open_source(app, &request, &image, token).await {
                Ok((incoming, record)) => {
                    remote_record = record;
                    let heartbeat = Heartbeat::Task(task.id.clone());
                    transfer(app, &image, bucket, &key, incoming, heartbeat).await.map_err(JobError::from)
                }
                Err(JobError::Failed(reason)) => {
                    revert(app, &image.id, &task.id, request.method, &[]).await?;
                    return Err(JobError::Failed(reason));
                }
                // Ours: the image stays locked for the queue's retry (or,
                // after the retries, the dead-letter consumer's revert).
                Err(retry) => return Err(retry),
            },
            Some(data) => copy_between(app, &image, &task.id, app.bucket(&done[0])?, bucket, data).await,
        };
        match attempt {
            Ok(data) => {
                stored.get_or_insert(data);
                done.push(store.clone());
                note_store(app, image_id, store, true).await?;
            }
            // Ours, before the source was read whole: the run is retried
            // from the start, with the image still locked by this task (the
            // transfer removed what it wrote).
            Err(retry @ JobError::Retry(_)) if stored.is_none() => return Err(retry),
            Err(stop) => {
                failures.push(format!("{store}: {stop}"));
                note_store(app, image_id, store, false).await?;
                if stored.is_none() || request.all_stores_must_succeed {
                    revert(app, image_id, &task.id, request.method, &done).await?;
                    return Err(JobError::Failed(format!("import to {}", failures.join("; "))));
                }
            }
        }
    }
    let Some(data) = stored else {
        revert(app, image_id, &task.id, request.method, &done).await?;
        return Err(JobError::Failed("no store was written".into()));
    };
    let locations: Vec<Location> = done.iter().map(|store| Location::in_r2(store, &key)).collect();
    let finished = update_image(app, image_id, None, |image| {
        image.record_data(&data);
        image.locations.clone_from(&locations);
        if let Some(record) = &remote_record {
            image.copy_remote_record(record);
        }
        image.end_import(&task.id);
        Ok::<_, JobError>(Some(ImageEvent::DataStored))
    })
    .await?;
    if finished.is_none() {
        remove_objects(app, image_id, &done).await;
        return Err(JobError::Failed(format!(
            "image {image_id} was deleted during the import; its data was discarded"
        )));
    }
    if request.method == ImportMethod::GlanceDirect {
        staging::remove(app, image_id).await;
    }
    Ok(json!({ "image_id": image_id.as_str() }))
}

/// The bytes an import reads from, and (glance-download) the remote
/// image's record.
async fn open_source(
    app: &App,
    request: &ImportRequest,
    image: &Image,
    token: Option<&str>,
) -> Result<(Incoming, Option<Value>), JobError> {
    let filter = app.config.filter()?;
    match request.method {
        ImportMethod::GlanceDirect => {
            let staged = staging::open(app, image).await?;
            let staged = staged.ok_or_else(|| JobError::Failed(format!("image {} has no staged data", image.id)))?;
            Ok((staged, None))
        }
        ImportMethod::WebDownload => {
            let uri = request.uri.as_deref().unwrap_or_default();
            let body = web::open(uri, filter, &[]).await?;
            Ok((Incoming { body: body.stream, declared: body.length }, None))
        }
        ImportMethod::GlanceDownload => {
            let remote = request.remote.as_ref().ok_or_else(|| JobError::Failed("no remote image".into()))?;
            let token = token.ok_or_else(|| JobError::Failed("glance-download needs the caller's token".into()))?;
            let Ok(AuthMode::Keystone(settings)) = &app.config.auth else {
                return Err(JobError::Failed("glance-download needs the catalog in keystone mode".into()));
            };
            let endpoint =
                crate::store::keystone::image_endpoint(settings, token, &remote.region, &remote.interface).await?;
            let headers = [("X-Auth-Token", token)];
            let base = endpoint.trim_end_matches('/');
            let record = web::get_json(&format!("{base}/v2/images/{}", remote.image_id), filter, &headers)
                .await?
                .ok_or_else(|| JobError::Failed(format!("image {} was not found in {base}", remote.image_id)))?;
            if !remote::is_active(&record) {
                return Err(JobError::Failed(format!("remote image {} is not active", remote.image_id)));
            }
            let body = web::open(&format!("{base}/v2/images/{}/file", remote.image_id), filter, &headers).await?;
            Ok((Incoming { body: body.stream, declared: body.length }, Some(record)))
        }
        ImportMethod::CopyImage => Err(JobError::Failed("copy-image reads from the image's own stores".into())),
    }
}

/// Records one store's outcome in the image's bookkeeping.
async fn note_store(app: &App, id: &ImageId, store: &str, succeeded: bool) -> Result<(), JobError> {
    update_image(app, id, None, |image| {
        image.import_store_done(store, succeeded);
        Ok::<_, JobError>(None)
    })
    .await
    .map(|_| ())
}

/// Settles the image of an import nobody will finish: its objects removed
/// (not for copy-image, whose image keeps its data), the image reverted.
pub(super) async fn abandon(app: &App, task: &Task, id: &ImageId) -> Result<(), JobError> {
    let method = request_of(task).map(|r| r.method).unwrap_or(ImportMethod::WebDownload);
    let written = if method == ImportMethod::CopyImage { Vec::new() } else { targets_of(task) };
    revert(app, id, &task.id, method, &written).await
}
