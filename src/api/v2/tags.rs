//! `PUT/DELETE /v2/images/{id}/tags/{tag}`. Each is one statement on the
//! image's row, so concurrent tag writes never lose one another.

use worker::Response;

use crate::api::respond::{no_content, now};
use crate::api::App;
use crate::domain::access::policy::Action;
use crate::domain::image::ImageId;
use crate::domain::image::{validate_tag, MAX_TAGS};
use crate::error::ApiError;

/// `PUT`: add a tag (idempotent); 413 when the image has the most tags.
pub async fn add(app: &App, id: &ImageId, tag: &str) -> Result<Response, ApiError> {
    validate_tag(tag)?;
    let image = app.image_for(id, Action::Update).await?;
    if !app.images.add_tag(&image.id, tag, MAX_TAGS, &now()).await? {
        // Either the image went away meanwhile (404) or its tags are full.
        app.image_for(id, Action::Update).await?;
        return Err(ApiError::too_large(format!("Maximum number of tags ({MAX_TAGS}) exceeded.")));
    }
    no_content()
}

/// `DELETE`: remove a tag; 404 if the image does not carry it.
pub async fn delete(app: &App, id: &ImageId, tag: &str) -> Result<Response, ApiError> {
    let image = app.image_for(id, Action::Update).await?;
    if !app.images.remove_tag(&image.id, tag, &now()).await? {
        return Err(ApiError::not_found(format!("Tag {tag} not found on image {id}.")));
    }
    no_content()
}
