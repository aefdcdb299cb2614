//! `POST /v2/images/{id}/actions/{deactivate,reactivate}` and the image's
//! task list.

use serde_json::json;
use worker::Response;

use crate::api::{json_response, no_content, now, App};
use crate::domain::access::policy::Action;
use crate::domain::image::status::ImageEvent;
use crate::error::ApiError;

async fn act(app: &App, id: &str, event: ImageEvent, verb: &str) -> Result<Response, ApiError> {
    let image = app.visible_image(id).await?;
    app.authorize(Action::Deactivate, &image)?;
    // Glance answers 403 (not 409) for an action in the wrong status.
    let next = image
        .status
        .apply(event)
        .map_err(|_| ApiError::forbidden(format!("Not allowed to {verb} image in status '{}'.", image.status)))?;
    if next != image.status && !app.images.move_status(&image.id, image.status, next, &now()).await? {
        return Err(ApiError::conflict(format!("Image {id} changed status meanwhile; retry.")));
    }
    no_content()
}

/// Deactivate an active image (repeating is a no-op).
pub async fn deactivate(app: &App, id: &str) -> Result<Response, ApiError> {
    act(app, id, ImageEvent::Deactivate, "deactivate").await
}

/// Reactivate a deactivated image (repeating is a no-op).
pub async fn reactivate(app: &App, id: &str) -> Result<Response, ApiError> {
    act(app, id, ImageEvent::Reactivate, "reactivate").await
}

/// `GET /v2/images/{id}/tasks`: no import tasks exist yet, so always empty.
pub async fn image_tasks(app: &App, id: &str) -> Result<Response, ApiError> {
    app.visible_image(id).await?;
    json_response(200, &json!({"tasks": []}))
}
