//! Interoperable import (API v2.6+): `PUT /v2/images/{id}/stage` and
//! `POST /v2/images/{id}/import`. The request is checked, the image locked
//! and moved (queued/uploading -> importing; copy-image leaves it active),
//! a task recorded and a queue message sent; the answer is 202 at once and
//! the consumer (`api::jobs`) does the work.

use std::rc::Rc;

use serde_json::{json, Value};
use worker::{Context, Request, Response};

use crate::api::app::App;
use crate::api::conditional::IfMatch;
use crate::api::image_write::write_image;
use crate::api::jobs;
use crate::api::quota;
use crate::api::respond::{empty_response, header, no_content, now, read_json};
use crate::api::upload::{receive, Incoming, UploadRules};
use crate::domain::access::policy::Action;
use crate::domain::image::{Image, ImageId};
use crate::domain::import::request::{ImportMethod, ImportRequest, IMPORT_TASK};
use crate::domain::quota::Resource;
use crate::domain::task::{Task, TaskKind};
use crate::error::ApiError;

/// `PUT /v2/images/{id}/stage`: the data goes to the staging area and the
/// image becomes `uploading`; a failure unstages it and requeues.
pub async fn stage(app: Rc<App>, req: &Request, id: &ImageId, ctx: &Context) -> Result<Response, ApiError> {
    if !app.config.import_methods.contains(&ImportMethod::GlanceDirect) {
        return Err(ApiError::not_found("The glance-direct import method is not enabled: nothing can be staged."));
    }
    let incoming = Incoming::from_request(req, "x-openstack-image-size")?;
    let image = app.image_for(id, Action::Upload).await?;
    let rules = UploadRules { if_match: IfMatch::of(req), ..UploadRules::stage() };
    receive(app, image, incoming, rules, ctx).await?;
    no_content()
}

/// `POST /v2/images/{id}/import`.
pub async fn import(app: &App, req: &mut Request, id: &ImageId) -> Result<Response, ApiError> {
    let body: Value = read_json(req).await?;
    let request = ImportRequest::parse(&body, &app.config.import_methods)?;
    let action = if request.method == ImportMethod::CopyImage { Action::CopyImage } else { Action::Import };
    let header_store = header(req, "x-image-meta-store");
    let token = if request.method == ImportMethod::GlanceDownload { header(req, "x-auth-token") } else { None };
    // Glance's first check: a project over its stored size refuses any
    // import; the import's own deltas are checked when its task runs.
    quota::enforce(app, &[(Resource::ImageSizeTotal, 0)]).await?;
    let image = app.image_for(id, action).await?;
    let dead_lock = dead_lock_of(app, &image).await?;
    let copy = request.method == ImportMethod::CopyImage;
    // What the import does to the image's record (also checked on the
    // first read before anything is recorded, so a request that cannot
    // start answers 409/400 with nothing written): its targets, and the
    // lock taken.
    let lock = |image: &mut Image, task_id: &str| -> Result<Vec<String>, ApiError> {
        // Glance's lock stealing: a lock held by a task that no longer
        // exists or has finished is released; a live one keeps it (409).
        if let Some(dead) = dead_lock.as_deref() {
            image.end_import(dead);
        }
        request.check_image(image)?;
        let already_in = image.store_ids();
        let targets = app.stores().resolve_import_targets(
            request.stores.as_deref(),
            request.all_stores,
            header_store.as_deref(),
            &already_in,
            copy,
        )?;
        // copy-image to a store that has the data already: 400, unless the
        // request asked for all stores (those that have it are skipped).
        if copy && !request.all_stores {
            if let Some(present) = targets.iter().find(|s| already_in.contains(s)) {
                return Err(ApiError::bad_request(format!(
                    "Image {id} is already present in store {present}: nothing to copy there."
                )));
            }
        }
        image.begin_import(task_id, &targets);
        Ok(targets)
    };
    let mut task = Task::new(
        TaskKind::ApiImageImport,
        image.owner.clone(),
        json!({ "image_id": id.as_str(), "import_req": body, "backend": [] }),
        Some(id.clone()),
        Some(app.caller.request_id.clone()),
        app.caller.user_id.clone(),
        &now(),
    );
    lock(&mut image.clone(), &task.id)?;
    if let Some(uri) = &request.uri {
        if let Err(refused) = app.config.filter()?.check(uri) {
            // Refused at once (400), and on the record: the image's task
            // list says why its import never ran.
            task.fail(&refused.to_string(), &now(), app.config.task_ttl_hours)?;
            app.tasks.insert(&task).await?;
            return Err(refused.into());
        }
    }
    let mut targets = Vec::new();
    write_image(
        app,
        id,
        Some(image),
        async || app.image_for(id, action).await.map(Some),
        |image| {
            targets = lock(image, &task.id)?;
            Ok(request.method.begin_event())
        },
    )
    .await?
    .ok_or_else(|| ApiError::image_not_found(id.as_str()))?;
    task.input["backend"] = json!(targets);
    if let Err(e) = app.tasks.insert(&task).await {
        jobs::import_not_recorded(app, id, &task.id, request.method).await;
        return Err(e.into());
    }
    jobs::enqueue(app, &task.id, token).await?;
    empty_response(202)
}

/// The task holding `image`'s import lock, if it is dead: gone, or
/// finished without releasing the lock.
async fn dead_lock_of(app: &App, image: &Image) -> Result<Option<String>, ApiError> {
    let Some(holder) = image.properties.get(IMPORT_TASK) else { return Ok(None) };
    let alive = app.tasks.get(holder).await?.is_some_and(|task| !task.status.is_final());
    Ok((!alive).then(|| holder.clone()))
}
