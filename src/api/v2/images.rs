//! `/v2/images` and `/v2/images/{id}`: list, create, show, update, delete.

use serde::Serialize;
use worker::{Request, Response};

use crate::api::catalog::{page, remove_image, update_image};
use crate::api::conditional::{metadata_answer, revalidated_from_memory, with_metadata_validators, IfMatch};
use crate::api::quota;
use crate::api::respond::{header, internal, json_response, no_content, now, read_body, read_json};
use crate::api::App;
use crate::domain::access::policy::Action;
use crate::domain::image::document::ImageDocument;
use crate::domain::image::patch::{self, Dialect, ACCEPT_PATCH};
use crate::domain::image::Image;
use crate::domain::image::ImageId;
use crate::domain::listing::ListQuery;
use crate::error::ApiError;

/// `GET /v2/images`.
pub async fn list(app: &App, raw_query: &str) -> Result<Response, ApiError> {
    let query = ListQuery::parse(raw_query)?;
    let images = page(app, &query).await?;
    let view = app.view();
    let full_page = query.limit > 0 && images.len() == query.limit as usize;
    let body = ImageList {
        images: images.iter().map(|i| i.document(&view)).collect(),
        first: query.first_link(),
        schema: "/v2/schemas/images",
        next: images.last().filter(|_| full_page).map(|last| query.next_link(last.id.as_str())),
    };
    json_response(200, &body)
}

/// A page of `GET /v2/images`, in Glance's key order.
#[derive(Serialize)]
struct ImageList<'a> {
    images: Vec<ImageDocument<'a>>,
    first: String,
    schema: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

/// `POST /v2/images`.
pub async fn create(app: &App, req: &mut Request) -> Result<Response, ApiError> {
    let document = read_json(req).await?;
    let image = Image::from_create_request(&document, app.caller.writer(), &now())?;
    app.authorize_create(&image)?;
    quota::insert_image(app, &image).await?;
    let mut response = with_metadata_validators(json_response(201, &image.document(&app.view()))?, &image)?;
    let headers = response.headers_mut();
    headers.set("Location", &format!("{}/v2/images/{}", app.base_url, image.id)).map_err(internal)?;
    let methods: Vec<&str> = app.config.import_methods.iter().map(|m| m.as_str()).collect();
    if !methods.is_empty() {
        headers.set("OpenStack-image-import-methods", &methods.join(",")).map_err(internal)?;
    }
    let writable: Vec<&str> = app.stores().r2_stores().map(|s| s.id.as_str()).collect();
    headers.set("OpenStack-image-store-ids", &writable.join(",")).map_err(internal)?;
    Ok(response)
}

/// `GET /v2/images/{id}`.
pub async fn show(app: &App, req: &Request, id: &ImageId) -> Result<Response, ApiError> {
    if let Some(not_modified) = revalidated_from_memory(app, req, id)? {
        return Ok(not_modified);
    }
    let image = app.image_for(id, Action::Show).await?;
    metadata_answer(Some(req), &image, &image.document(&app.view()))
}

/// `PATCH /v2/images/{id}`: the operations are applied, all or nothing, to
/// the image's current record (again, if another write came first).
pub async fn update(app: &App, req: &mut Request, id: &ImageId) -> Result<Response, ApiError> {
    let content_type = header(req, "content-type").unwrap_or_default();
    let dialect = Dialect::from_content_type(&content_type).ok_or_else(|| {
        ApiError::unsupported_media_type(format!(
            "The request media type {content_type} is not supported by this server. Image PATCH expects Content-Type one of: {ACCEPT_PATCH}"
        ))
        .with_header("Accept-Patch", ACCEPT_PATCH)
    })?;
    let ops = patch::parse(dialect, &read_body(req).await?)?;
    let if_match = IfMatch::of(req);
    if patch::touches_locations(&ops) {
        let updated = crate::api::v2::locations::patch(app, id, dialect, &ops, &if_match).await?;
        return metadata_answer(None, &updated, &updated.document(&app.view()));
    }
    let writer = app.caller.writer();
    let rules = patch::LocationRules::HIDDEN;
    let updated = update_image(app, id, |image| {
        if_match.check(image)?;
        Ok(patch::apply(image, dialect, &ops, writer, &rules)?)
    })
    .await?;
    metadata_answer(None, &updated, &updated.document(&app.view()))
}

/// `DELETE /v2/images/{id}`.
pub async fn delete(app: &App, id: &ImageId) -> Result<Response, ApiError> {
    remove_image(app, id).await?;
    no_content()
}
