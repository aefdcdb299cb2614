//! `PUT/DELETE /v2/images/{id}/tags/{tag}`.

use worker::Response;

use super::images::save_metadata;
use crate::api::{no_content, now, App};
use crate::domain::access::policy::Action;
use crate::error::ApiError;

/// `PUT`: add a tag (idempotent).
pub async fn add(app: &App, id: &str, tag: &str) -> Result<Response, ApiError> {
    let mut image = app.visible_image(id).await?;
    app.authorize(Action::Update, &image)?;
    let read_status = image.status;
    image.add_tag(tag)?;
    image.updated_at = now();
    save_metadata(app, &image, read_status).await?;
    no_content()
}

/// `DELETE`: remove a tag; 404 if the image does not carry it.
pub async fn delete(app: &App, id: &str, tag: &str) -> Result<Response, ApiError> {
    let mut image = app.visible_image(id).await?;
    app.authorize(Action::Update, &image)?;
    let read_status = image.status;
    if !image.remove_tag(tag) {
        return Err(ApiError::not_found(format!("Tag {tag} not found on image {id}.")));
    }
    image.updated_at = now();
    save_metadata(app, &image, read_status).await?;
    no_content()
}
