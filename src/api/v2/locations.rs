//! Image locations: the v2.17 API (`POST`/`GET /v2/images/{id}/locations`)
//! and, with `show_multiple_locations`, the PATCH operations on
//! `/locations`. A location added through the API is hashed in the
//! background (a `location_import` task on the queue) and, with
//! `validation_data`, verified before the image becomes active; a PATCH
//! location takes its validation data on trust, as in Glance.

use serde_json::{json, Value};
use worker::{Request, Response};

use crate::api::app::App;
use crate::api::catalog::WRITE_ATTEMPTS;
use crate::api::respond::{empty_response, json_response, now, read_json};
use crate::domain::access::policy::Action;
use crate::domain::image::location::NewLocation;
use crate::domain::image::patch::{self, Dialect, LocationRules, OpKind, PatchOp};
use crate::domain::image::status::{ImageEvent, ImageStatus};
use crate::domain::image::{Image, HASH_ALGO};
use crate::domain::stores::StoreKind;
use crate::domain::task::{Task, TaskKind};
use crate::error::ApiError;
use crate::store::jobs::Job;

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
pub async fn add(app: &App, req: &mut Request, raw_id: &str) -> Result<Response, ApiError> {
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
    let filter = app.config.uri_filter.as_ref().map_err(ApiError::internal)?;
    filter.check(&new.url).map_err(|refused| ApiError::bad_request(refused.to_string()))?;
    let lower = new.url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(ApiError::bad_request(format!("Invalid location {}: only http and https URLs.", new.url)));
    }
    for _ in 0..WRITE_ATTEMPTS {
        let mut image = app.image_for(raw_id, Action::AddLocation).await?;
        if image.status != ImageStatus::Queued {
            return Err(ApiError::conflict(format!(
                "Locations can be added through this API to queued images only; image {raw_id} is {}.",
                image.status
            )));
        }
        image.check_new_location(&new)?;
        let event = if new.validation.is_some() { ImageEvent::BeginImport } else { ImageEvent::DataStored };
        let transition = image.status.transition(event)?;
        if new.validation.is_none() {
            image.os_hash_algo = Some(HASH_ALGO.into());
        }
        image.locations.push(new.clone().into_location(&store));
        image.updated_at = now();
        let task = Task::new(
            TaskKind::LocationImport,
            image.owner.clone(),
            json!({ "image_id": image.id.as_str(), "url": new.url, "validation_data": body.get("validation_data") }),
            Some(image.id.to_string()),
            Some(app.caller.request_id.clone()),
            app.caller.user_id.clone(),
            &now(),
        );
        app.tasks.insert(&task).await?;
        if !app.images.write(&image, Some(transition)).await? {
            continue;
        }
        if let Err(e) = app.jobs.send(&Job { task_id: task.id.clone(), token: None, precache: None }).await {
            crate::api::jobs::give_up(app, &task.id, &format!("The hashing could not be queued: {e}"))
                .await
                .map_err(ApiError::internal)?;
            return Err(ApiError::unavailable(format!("The location's hashing could not be queued ({e}).")));
        }
        return empty_response(202);
    }
    Err(ApiError::conflict(format!("Image {raw_id} is being changed by too many other requests at once; retry.")))
}

/// `GET /v2/images/{id}/locations` (services and admins).
pub async fn list(app: &App, raw_id: &str) -> Result<Response, ApiError> {
    let image = app.image_for(raw_id, Action::ListLocations).await?;
    json_response(200, &Value::Array(image.locations.iter().map(|l| l.to_json()).collect()))
}

/// PATCH with operations on `/locations` (and possibly others): applied
/// together, with the status move a first location makes (queued ->
/// active), by compare-and-set on the image's revision.
pub async fn patch(app: &App, raw_id: &str, dialect: Dialect, ops: &[PatchOp]) -> Result<Image, ApiError> {
    let store = app.stores().http_store().map(|s| s.id.clone());
    let filter = app.config.uri_filter.as_ref().map_err(ApiError::internal)?;
    let rules = LocationRules {
        visible: app.config.show_multiple_locations,
        http_store: store.as_deref(),
        filter: Some(filter),
    };
    let needs = |kind: OpKind| ops.iter().any(|op| op.attribute == "locations" && op.kind == kind);
    for _ in 0..WRITE_ATTEMPTS {
        let visible = app.visible_image(raw_id).await?;
        app.authorize(Action::Update, &visible)?;
        if needs(OpKind::Add) || needs(OpKind::Replace) {
            app.authorize(Action::AddLocation, &visible)?;
        }
        if needs(OpKind::Remove) {
            app.authorize(Action::DeleteLocation, &visible)?;
        }
        let current = visible.image;
        let mut updated = patch::apply(&current, dialect, ops, app.caller.writer(), &rules)?;
        let transition = if current.status == ImageStatus::Queued && !updated.locations.is_empty() {
            if updated.size.is_none() {
                updated.size = size_of_first_http(app, &updated).await;
            }
            Some(current.status.transition(ImageEvent::DataStored)?)
        } else {
            None
        };
        updated.updated_at = now();
        if app.images.write(&updated, transition).await? {
            remove_dropped(app, &current, &updated).await;
            if let Some(t) = transition {
                updated.status = t.to();
            }
            updated.version += 1;
            return Ok(updated);
        }
    }
    Err(ApiError::conflict(format!("Image {raw_id} is being changed by too many other requests at once; retry.")))
}

/// The size an http location announces (`Content-Length`), if any.
async fn size_of_first_http(app: &App, image: &Image) -> Option<u64> {
    let location = image.locations.iter().find(|l| l.is_http())?;
    let filter = app.config.uri_filter.as_ref().ok()?;
    let body = crate::store::web::open(&location.url, filter, &[]).await.ok()?;
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
