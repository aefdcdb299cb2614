//! Interoperable import (API v2.6+): `PUT /v2/images/{id}/stage` and
//! `POST /v2/images/{id}/import`. The request is checked, the image locked
//! and moved (queued/uploading -> importing; copy-image leaves it active),
//! a task recorded and a queue message sent; the answer is 202 at once and
//! the consumer (`api::jobs`) does the work.

use std::rc::Rc;

use serde_json::{json, Value};
use worker::{Context, Request, Response};

use crate::api::app::App;
use crate::api::catalog::WRITE_ATTEMPTS;
use crate::api::data::{declared_size, receive, request_body, UploadRules};
use crate::api::respond::{empty_response, header, no_content, now, read_json};
use crate::domain::access::policy::Action;
use crate::domain::image::status::{TaskEvent, TaskStatus};
use crate::domain::image::Image;
use crate::domain::import::request::{ImportMethod, ImportRequest, IMPORT_TASK};
use crate::domain::stores::StoreError;
use crate::domain::task::{Task, TaskKind};
use crate::error::ApiError;
use crate::store::jobs::Job;

/// `PUT /v2/images/{id}/stage`: the data goes to the staging area and the
/// image becomes `uploading`; a failure unstages it and requeues.
pub async fn stage(app: Rc<App>, req: &Request, id: &str, ctx: &Context) -> Result<Response, ApiError> {
    if !app.config.import_methods.contains(&ImportMethod::GlanceDirect) {
        return Err(ApiError::not_found("The glance-direct import method is not enabled: nothing can be staged."));
    }
    let declared = declared_size(req, "x-openstack-image-size")?;
    receive(app, id, request_body(req), declared, UploadRules::stage(), ctx).await?;
    no_content()
}

/// `POST /v2/images/{id}/import`.
pub async fn import(app: &App, req: &mut Request, raw_id: &str) -> Result<Response, ApiError> {
    let body: Value = read_json(req).await?;
    let request = ImportRequest::parse(&body, &app.config.import_methods)?;
    let action = if request.method == ImportMethod::CopyImage { Action::CopyImage } else { Action::Import };
    let header_store = header(req, "x-image-meta-store");
    let token = if request.method == ImportMethod::GlanceDownload { header(req, "x-auth-token") } else { None };
    let filter = app.config.uri_filter.as_ref().map_err(ApiError::internal)?;

    for _ in 0..WRITE_ATTEMPTS {
        let mut image = app.image_for(raw_id, action).await?;
        release_dead_lock(app, &mut image).await?;
        request.check_image(&image)?;
        let already_in = image.store_ids();
        let copy = request.method == ImportMethod::CopyImage;
        let targets = app
            .stores()
            .resolve_import_targets(
                request.stores.as_deref(),
                request.all_stores,
                header_store.as_deref(),
                &already_in,
                copy,
            )
            .map_err(|e| match e {
                // Glance answers an unknown store with 409, other mistakes with 400.
                StoreError::Unknown(_) => ApiError::conflict(e.to_string()),
                other => ApiError::bad_request(other.to_string()),
            })?;
        // copy-image to a store that has the data already: 400, unless the
        // request asked for all stores (those that have it are skipped).
        if copy && !request.all_stores {
            if let Some(present) = targets.iter().find(|s| already_in.contains(s)) {
                return Err(ApiError::bad_request(format!(
                    "Image {raw_id} is already present in store {present}: nothing to copy there."
                )));
            }
        }
        let mut task = Task::new(
            TaskKind::ApiImageImport,
            image.owner.clone(),
            json!({ "image_id": image.id.as_str(), "import_req": body, "backend": targets }),
            Some(image.id.to_string()),
            Some(app.caller.request_id.clone()),
            app.caller.user_id.clone(),
            &now(),
        );
        if let Some(uri) = &request.uri {
            if let Err(refused) = filter.check(uri) {
                // Refused at once (400), and on the record: the image's task
                // list says why its import never ran.
                let message = refused.to_string();
                task.apply(TaskEvent::Fail, &now(), app.config.task_ttl_hours)
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                task.message.clone_from(&message);
                app.tasks.insert(&task).await?;
                return Err(ApiError::bad_request(message));
            }
        }
        let transition = match request.method.begin_event() {
            Some(event) => Some(image.status.transition(event)?),
            None => None,
        };
        image.begin_import(&task.id, &targets);
        image.updated_at = now();
        app.tasks.insert(&task).await?;
        if !app.images.write(&image, transition).await? {
            // Someone else wrote the image first: this attempt's task never
            // ran; record it as such and try again on the fresh record.
            abandon(app, task, "The image changed before the import could start; retried.").await;
            continue;
        }
        if let Err(e) = app.jobs.send(&Job { task_id: task.id.clone(), token: token.clone(), precache: None }).await {
            crate::api::jobs::give_up(app, &task.id, &format!("The import could not be queued: {e}"))
                .await
                .map_err(ApiError::internal)?;
            return Err(ApiError::unavailable(format!(
                "The import could not be queued ({e}); the image is unchanged."
            )));
        }
        return empty_response(202);
    }
    Err(ApiError::conflict(format!("Image {raw_id} is being changed by too many other requests at once; retry.")))
}

/// Glance's lock stealing: a lock held by a task that no longer exists or
/// has finished (its run ended without releasing it) is released, so the
/// image can be imported again. A live task keeps its lock (409).
async fn release_dead_lock(app: &App, image: &mut Image) -> Result<(), ApiError> {
    let Some(holder) = image.properties.get(IMPORT_TASK).cloned() else { return Ok(()) };
    let alive = app
        .tasks
        .get(&holder)
        .await?
        .is_some_and(|task| matches!(task.status, TaskStatus::Pending | TaskStatus::Processing));
    if !alive {
        image.end_import(&holder);
    }
    Ok(())
}

/// Marks a task that never ran as failed.
async fn abandon(app: &App, mut task: Task, reason: &str) {
    let from = task.status;
    if task.apply(TaskEvent::Fail, &now(), app.config.task_ttl_hours).is_ok() {
        task.message = reason.into();
        if let Err(e) = app.tasks.save(&task, from).await {
            worker::console_warn!("could not record abandoned task {}: {e}", task.id);
        }
    }
}
