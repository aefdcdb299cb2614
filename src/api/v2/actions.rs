//! `POST /v2/images/{id}/actions/{deactivate,reactivate}`. Deactivating
//! purges the image's edge cache entry.

use worker::Response;

use crate::api::image_cache::purge;
use crate::api::respond::{no_content, now};
use crate::api::App;
use crate::domain::access::policy::Action;
use crate::domain::image::status::{ImageEvent, ImageStatus};
use crate::error::ApiError;

async fn act(app: &App, id: &str, event: ImageEvent, verb: &str) -> Result<Response, ApiError> {
    let image = app.image_for(id, Action::Deactivate).await?;
    // Glance answers 403 (not 409) for an action in the wrong status.
    let transition = image
        .status
        .transition(event)
        .map_err(|_| ApiError::forbidden(format!("Not allowed to {verb} image in status '{}'.", image.status)))?;
    if transition.to() != image.status && !app.images.move_status(&image.id, transition, &now()).await? {
        return Err(ApiError::conflict(format!("Image {id} changed status meanwhile; retry.")));
    }
    if transition.to() == ImageStatus::Deactivated {
        // A reactivated image starts from a fresh fill, never stale copies.
        purge(app, &image).await;
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
