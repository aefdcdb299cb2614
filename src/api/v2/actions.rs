//! `POST /v2/images/{id}/actions/{deactivate,reactivate}`. Deactivating
//! purges the image's edge cache entry. An action in the wrong status is
//! refused by the status machine (403, as Glance answers, in `error.rs`).

use worker::Response;

use crate::api::image_cache::purge;
use crate::api::image_write::write_image;
use crate::api::respond::no_content;
use crate::api::App;
use crate::domain::access::policy::Action;
use crate::domain::image::status::{ImageEvent, ImageStatus};
use crate::domain::image::ImageId;
use crate::error::ApiError;

async fn act(app: &App, id: &ImageId, event: ImageEvent) -> Result<Response, ApiError> {
    let image = app.image_for(id, Action::Deactivate).await?;
    let next = image.status.apply(event)?;
    if next == image.status {
        return no_content(); // repeating an action changes nothing
    }
    let written = write_image(
        app,
        id,
        Some(image),
        async || app.image_for(id, Action::Deactivate).await.map(Some),
        |_| Ok::<_, ApiError>(Some(event)),
    )
    .await?
    .ok_or_else(|| ApiError::image_not_found(id.as_str()))?;
    if written.status == ImageStatus::Deactivated {
        // A reactivated image starts from a fresh fill, never stale copies.
        purge(app, &written).await;
    }
    no_content()
}

/// Deactivate an active image (repeating is a no-op).
pub async fn deactivate(app: &App, id: &ImageId) -> Result<Response, ApiError> {
    act(app, id, ImageEvent::Deactivate).await
}

/// Reactivate a deactivated image (repeating is a no-op).
pub async fn reactivate(app: &App, id: &ImageId) -> Result<Response, ApiError> {
    act(app, id, ImageEvent::Reactivate).await
}
