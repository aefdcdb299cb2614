//! Image locations: the v2.17 API (`POST`/`GET /v2/images/{id}/locations`)
//! and, with `show_multiple_locations`, the PATCH operations on
//! `/locations`. A location added through the API is hashed in the
//! background (a `location_import` task on the queue) and, with
//! `validation_data`, verified before the image becomes active; a PATCH
//! location takes its validation data on trust, as in Glance.

use serde_json::{json, Value};
use worker::{Request, Response};

use crate::api::app::App;
use crate::api::conditional::IfMatch;
use crate::api::image_write::write_image;
use crate::api::respond::{empty_response, json_response, now, read_json};
use crate::domain::access::policy::Action;
use crate::domain::image::location::NewLocation;
use crate::domain::image::patch::{self, Dialect, LocationRules, OpKind, PatchOp};
use crate::domain::image::status::{ImageEvent, ImageStatus};
use crate::domain::image::{Image, ImageId, HASH_ALGO};
use crate::domain::stores::StoreKind;
use crate::domain::task::{Task, TaskKind};
use crate::error::ApiError;

/// The read-only store http locations belong to.
fn http_store(app: &App) -> Result<String, ApiError> {
    app.stores()
        .http_store()
        .map(|s| s.id.clone())
        .ok_or_else(|| ApiError::bad_request("This catalog has no http store: http locations cannot be added."))
}

/// `POST /v2/images/{id}/locations` (202): adds an http location to a
/// queued image and queues the hashing. With `validation_data` the image
/// is `importing` until the hashes are checked; without, it is active at
/// once with `os_hash_algo` set and the hashes filled in when known.
pub async fn add(app: &App, req: &mut Request, id: &ImageId) -> Result<Response, ApiError> {
    let body: Value = read_json(req).await?;
    let new = NewLocation::parse(&body)?;
    // The v2.17 API verifies the data itself: validation data names a hash
    // (os_hash_algo + os_hash_value); a bare md5 `checksum` is PATCH's.
    if body.get("validation_data").and_then(Value::as_object).is_some_and(|v| v.contains_key("checksum")) {
        return Err(ApiError::bad_request(
            "validation_data of POST /locations takes os_hash_algo and os_hash_value only.",
        ));
    }
    let store = http_store(app)?;
    app.config.filter()?.check(&new.url)?;
    let lower = new.url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(ApiError::bad_request(format!("Invalid location {}: only http and https URLs.", new.url)));
    }
    let image = app.image_for(id, Action::AddLocation).await?;
    let mut task = Task::new(
        TaskKind::LocationImport,
        image.owner.clone(),
        json!({ "image_id": id.as_str(), "url": new.url, "validation_data": body.get("validation_data") }),
        Some(id.clone()),
        Some(app.caller.request_id.clone()),
        app.caller.user_id.clone(),
        &now(),
    );
    // Recorded first: the image never names a location whose hashing has
    // no task. A task whose image write then fails is failed at once.
    app.tasks.insert(&task).await?;
    let written = write_image(
        app,
        id,
        Some(image),
        async || app.image_for(id, Action::AddLocation).await.map(Some),
        |image| {
            if image.status != ImageStatus::Queued {
                return Err(ApiError::conflict(format!(
                    "Locations can be added through this API to queued images only; image {id} is {}.",
                    image.status
                )));
            }
            image.check_new_location(&new)?;
            if new.validation.is_none() {
                image.os_hash_algo = Some(HASH_ALGO.into());
            }
            image.locations.push(new.clone().into_location(&store));
            Ok(Some(if new.validation.is_some() { ImageEvent::BeginImport } else { ImageEvent::DataStored }))
        },
    )
    .await;
    if let Err(error) = written {
        if let Ok(failed) = task.fail(&error.message, &now(), app.config.task_ttl_hours) {
            if let Err(e) = app.tasks.save(&task, failed).await {
                worker::console_warn!("could not record failed task {}: {e}", task.id);
            }
        }
        return Err(error);
    }
    crate::api::jobs::enqueue(app, &task.id, None).await?;
    empty_response(202)
}

/// `GET /v2/images/{id}/locations` (services and admins).
pub async fn list(app: &App, id: &ImageId) -> Result<Response, ApiError> {
    let image = app.image_for(id, Action::ListLocations).await?;
    json_response(200, &Value::Array(image.locations.iter().map(|l| l.to_json()).collect()))
}

/// PATCH with operations on `/locations` (and possibly others): applied
/// together, with the status move a first location makes (queued ->
/// active), by compare-and-set on the image's revision.
pub async fn patch(
    app: &App,
    id: &ImageId,
    dialect: Dialect,
    ops: &[PatchOp],
    if_match: &IfMatch,
) -> Result<Image, ApiError> {
    let store = app.stores().http_store().map(|s| s.id.clone());
    let rules = LocationRules {
        visible: app.config.show_multiple_locations,
        http_store: store.as_deref(),
        filter: Some(app.config.filter()?),
    };
    let needs = |kind: OpKind| ops.iter().any(|op| op.attribute == "locations" && op.kind == kind);
    let read = async || {
        let visible = app.visible_image(id).await?;
        app.authorize(Action::Update, &visible)?;
        if needs(OpKind::Add) || needs(OpKind::Replace) {
            app.authorize(Action::AddLocation, &visible)?;
        }
        if needs(OpKind::Remove) {
            app.authorize(Action::DeleteLocation, &visible)?;
        }
        Ok::<_, ApiError>(Some(visible.image))
    };
    // A queued image's first location makes it active with the size the
    // location announces, asked once, before the write.
    let first = read().await?.ok_or_else(|| ApiError::image_not_found(id.as_str()))?;
    if_match.check(&first)?;
    let preview = patch::apply(&first, dialect, ops, app.caller.writer(), &rules)?;
    let announced = match preview.locations.iter().find(|l| l.is_http()) {
        Some(location) if first.status == ImageStatus::Queued && preview.size.is_none() => {
            Some((location.url.clone(), size_of(app, &location.url).await))
        }
        _ => None,
    };
    let mut dropped_from = first.clone();
    let written = write_image(app, id, Some(first), read, |image| {
        if_match.check(image)?;
        dropped_from = image.clone();
        let mut updated = patch::apply(image, dialect, ops, app.caller.writer(), &rules)?;
        let event =
            (image.status == ImageStatus::Queued && !updated.locations.is_empty()).then_some(ImageEvent::DataStored);
        if event.is_some() && updated.size.is_none() {
            let url = updated.locations.iter().find(|l| l.is_http()).map(|l| l.url.clone());
            updated.size =
                announced.as_ref().filter(|(known, _)| Some(known) == url.as_ref()).and_then(|(_, size)| *size);
        }
        *image = updated;
        Ok(event)
    })
    .await?
    .ok_or_else(|| ApiError::image_not_found(id.as_str()))?;
    remove_dropped(app, &dropped_from, &written).await;
    Ok(written)
}

/// The size the http location at `url` announces (`Content-Length`), if any.
async fn size_of(app: &App, url: &str) -> Option<u64> {
    let filter = app.config.filter().ok()?;
    let body = crate::store::web::open(url, filter, &[]).await.ok()?;
    if let Some(stream) = body.stream {
        let stream: crate::store::js::JsReadable = wasm_bindgen::JsCast::unchecked_into(stream);
        let _ = crate::store::js::settle(stream.cancel_stream()).await;
    }
    body.length
}

/// Deletes the R2 objects of locations a PATCH removed.
async fn remove_dropped(app: &App, before: &Image, after: &Image) {
    for location in &before.locations {
        if after.locations.iter().any(|l| l.url == location.url) {
            continue;
        }
        let Some(store) = location.store().and_then(|id| app.stores().get(id)) else { continue };
        if let (StoreKind::R2 { .. }, Ok(bucket)) = (&store.kind, app.bucket(&store.id)) {
            let key = location.r2_key(&store.id);
            if let Err(e) = bucket.delete(key).await {
                worker::console_error!("could not delete {key} from {}: {e}", store.id);
            }
        }
    }
}
