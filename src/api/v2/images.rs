//! `/v2/images` and `/v2/images/{id}`: list, create, show, update, delete.

use serde_json::{json, Value};
use worker::{Request, Response};

use crate::api::{header, internal, json_response, no_content, now, read_body, App};
use crate::domain::access::policy::Action;
use crate::domain::image::patch::{self, Dialect, ACCEPT_PATCH};
use crate::domain::image::status::{ImageEvent, ImageStatus};
use crate::domain::image::{Image, ImageId};
use crate::domain::listing::ListQuery;
use crate::domain::wire::documents::IMPORT_METHODS;
use crate::error::ApiError;
use crate::store::blobs::object_key;

/// `GET /v2/images`.
pub async fn list(app: &App, raw_query: &str) -> Result<Response, ApiError> {
    let query = ListQuery::parse(raw_query)?;
    let images = page(app, &query).await?;
    let mut body = json!({
        "images": images.iter().map(|i| i.to_json(&app.config.store_id)).collect::<Vec<Value>>(),
        "first": query.first_link(),
        "schema": "/v2/schemas/images",
    });
    if query.limit > 0 && images.len() == query.limit as usize {
        if let Some(last) = images.last() {
            body["next"] = Value::String(query.next_link(last.id.as_str()));
        }
    }
    json_response(200, &body)
}

/// One page of a list query, as the caller may see it (shared with v1).
pub async fn page(app: &App, query: &ListQuery) -> Result<Vec<Image>, ApiError> {
    let marker = match &query.marker {
        None => None,
        Some(id) => {
            let image = app.images.get(id).await?.filter(|i| i.status != ImageStatus::Killed);
            match image {
                Some(image) if app.is_visible(&image).await? => Some(image),
                _ => return Err(ApiError::bad_request(format!("No image found with ID {id}"))),
            }
        }
    };
    let (sql, params) = query.to_sql(&app.caller.viewer(), marker.as_ref());
    Ok(app.images.list(&sql, &params).await?)
}

/// `POST /v2/images`.
pub async fn create(app: &App, req: &mut Request) -> Result<Response, ApiError> {
    let body = read_body(req).await?;
    let document: Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::bad_request("Malformed JSON in request body."))?;
    let image = Image::from_create_request(&document, app.caller.writer(), &now())?;
    app.authorize(Action::Create, &image)?;
    app.images.insert(&image).await?;
    let mut response = json_response(201, &image.to_json(&app.config.store_id))?;
    let headers = response.headers_mut();
    headers.set("Location", &format!("{}/v2/images/{}", app.base_url, image.id)).map_err(internal)?;
    headers.set("OpenStack-image-import-methods", &IMPORT_METHODS.join(",")).map_err(internal)?;
    headers.set("OpenStack-image-store-ids", &app.config.store_id).map_err(internal)?;
    Ok(response)
}

/// `GET /v2/images/{id}`.
pub async fn show(app: &App, id: &str) -> Result<Response, ApiError> {
    let image = app.visible_image(id).await?;
    json_response(200, &image.to_json(&app.config.store_id))
}

/// `PATCH /v2/images/{id}`.
pub async fn update(app: &App, req: &mut Request, id: &str) -> Result<Response, ApiError> {
    let content_type = header(req, "content-type").unwrap_or_default();
    let dialect = Dialect::from_content_type(&content_type).ok_or_else(|| {
        ApiError::unsupported_media_type(format!(
            "The request media type {content_type} is not supported by this server. Image PATCH expects Content-Type one of: {ACCEPT_PATCH}"
        ))
        .with_header("Accept-Patch", ACCEPT_PATCH)
    })?;
    let ops = patch::parse(dialect, &read_body(req).await?)?;
    let image = app.visible_image(id).await?;
    app.authorize(Action::Update, &image)?;
    let mut updated = patch::apply(&image, dialect, &ops, app.caller.writer())?;
    updated.updated_at = now();
    save_metadata(app, &updated, image.status).await?;
    json_response(200, &updated.to_json(&app.config.store_id))
}

/// Writes metadata changes unless the image moved under us.
pub async fn save_metadata(app: &App, image: &Image, read_status: ImageStatus) -> Result<(), ApiError> {
    if app.images.update_metadata(image, read_status).await? {
        Ok(())
    } else {
        Err(ApiError::conflict(format!(
            "Image {} changed status while it was being updated; retry the request.",
            image.id
        )))
    }
}

/// `DELETE /v2/images/{id}`.
pub async fn delete(app: &App, id: &str) -> Result<Response, ApiError> {
    remove_image(app, id).await?;
    no_content()
}

/// Deletes an image (refused while protected) and its data (shared with v1).
pub async fn remove_image(app: &App, id: &str) -> Result<(), ApiError> {
    let image = app.visible_image(id).await?;
    app.authorize(Action::Delete, &image)?;
    if image.protected {
        return Err(ApiError::forbidden(format!("Image {id} is protected and cannot be deleted.")));
    }
    image.status.apply(ImageEvent::Delete)?;
    if !app.images.delete(&image.id, image.status, &now()).await? {
        return Err(ApiError::conflict(format!("Image {id} changed status while it was being deleted; retry.")));
    }
    remove_data(app, &image.id).await;
    Ok(())
}

/// Deletes an image's object; failures are logged (the row is already gone).
pub async fn remove_data(app: &App, id: &ImageId) {
    if let Err(e) = app.blobs.delete(&object_key(id.as_str())).await {
        worker::console_error!("could not delete data of image {id}: {e}");
    }
}
