//! `/v1/images` (and `/images`): list, detail, HEAD, GET with data, POST with
//! optional data, PUT, DELETE. Header mapping and the seed's rules live in
//! `domain::wire::v1`; the upload engine (`api::upload`) and downloads
//! (`api::download`) are shared with v2, with v1's failure rule (killed).

use std::rc::Rc;

use serde_json::{json, Value};
use worker::{Context, Headers, Request, Response};

use crate::api::catalog::{page, remove_image, update_image};
use crate::api::download::{open_download, stream_response};
use crate::api::quota;
use crate::api::respond::{header, internal, json_response, now, request_headers};
use crate::api::upload::{declared_size, receive, record_empty, Incoming, UploadRules, UploadTarget};
use crate::api::App;
use crate::domain::access::policy::Action;
use crate::domain::image::status::ImageEvent;
use crate::domain::image::Image;
use crate::domain::image::ImageId;
use crate::domain::listing::ListQuery;
use crate::domain::wire::v1::{brief, detailed, header_safe, store_of, to_headers, V1Meta};
use crate::error::ApiError;

fn uri(app: &App, image: &Image) -> String {
    format!("{}/v1/images/{}", app.base_url, image.id)
}

/// `GET /v1/images` and `/v1/images/detail`: public images (unless the query
/// names another visibility), with v2's filters, sorting and paging.
pub async fn list(app: &App, raw_query: &str, detail: bool) -> Result<Response, ApiError> {
    let mut query = raw_query.to_owned();
    if !ListQuery::parse(raw_query)?.names_visibility() {
        query = if query.is_empty() { "visibility=public".into() } else { format!("{query}&visibility=public") };
    }
    let images = page(app, &ListQuery::parse(&query)?).await?;
    let records: Vec<Value> = images
        .iter()
        .map(|i| if detail { detailed(i, &uri(app, i), store_of(i, app.stores())) } else { brief(i, &uri(app, i)) })
        .collect();
    json_response(200, &json!({ "images": records }))
}

/// The `x-image-meta-*` headers of an image.
fn meta_headers(app: &App, image: &Image, headers: &Headers) -> Result<(), ApiError> {
    for (name, value) in to_headers(image, &uri(app, image), store_of(image, app.stores())) {
        headers.set(&name, &header_safe(&value)).map_err(internal)?;
    }
    Ok(())
}

/// `HEAD /v1/images/{id}`: the metadata as headers, no body.
pub async fn head(app: &App, id: &ImageId) -> Result<Response, ApiError> {
    let image = app.image_for(id, Action::Show).await?;
    let headers = Headers::new();
    meta_headers(app, &image, &headers)?;
    Ok(Response::empty().map_err(internal)?.with_headers(headers))
}

/// `GET /v1/images/{id}`: metadata headers and the data as the body
/// (`Content-Length` = `x-image-meta-size`).
pub async fn show(app: &App, id: &ImageId, ctx: &Context) -> Result<Response, ApiError> {
    let visible = app.visible_image(id).await?;
    app.authorize(Action::Show, &visible)?;
    app.authorize(Action::Download, &visible)?;
    let image = visible.image;
    let Some(download) = open_download(app, &image, None, None, ctx).await? else {
        return Err(ApiError::not_found(format!("Image {id} has no data (status {}).", image.status)));
    };
    meta_headers(app, &image, &download.headers)?;
    stream_response(download)
}

/// What the request body holds, from its headers.
enum Body {
    /// No body (no length, or a length of 0).
    Empty,
    /// A body of known or unknown (chunked) length.
    Data(Option<u64>),
}

fn body_of(req: &Request) -> Result<Body, ApiError> {
    let chunked = header(req, "transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let declared = declared_size(req, "x-image-meta-size")?;
    let length = header(req, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
    Ok(match (chunked, length, declared) {
        (true, _, declared) => Body::Data(declared),
        (false, Some(n), _) if n > 0 => Body::Data(Some(n)),
        (false, _, Some(n)) if n > 0 => {
            return Err(ApiError::bad_request(format!(
                "Size mismatch: x-image-meta-size is {n} but the request has no body."
            )))
        }
        _ => Body::Empty,
    })
}

/// v1 uploads go to the default store; a failure kills the image.
fn v1_rules(app: &App, meta: &V1Meta) -> UploadRules {
    UploadRules {
        begin: ImageEvent::BeginUpload,
        target: UploadTarget::Store(app.config.store_id.clone()),
        on_failure: ImageEvent::UploadKilled,
        require_formats: false,
        expected_md5: meta.checksum.clone(),
        if_match: Default::default(),
    }
}

fn record_response(app: &App, status: u16, image: &Image) -> Result<Response, ApiError> {
    let mut response =
        json_response(status, &json!({ "image": detailed(image, &uri(app, image), store_of(image, app.stores())) }))?;
    response.headers_mut().set("Location", &uri(app, image)).map_err(internal)?;
    Ok(response)
}

/// `POST /v1/images`: create from headers and store the body, if any, in
/// the same call. A zero `x-image-meta-size` makes the image active at once;
/// a failed upload leaves it `killed`.
pub async fn create(app: Rc<App>, req: &Request, ctx: &Context) -> Result<Response, ApiError> {
    let meta =
        V1Meta::from_headers(request_headers(req).iter().map(|(k, v)| (k.as_str(), v.as_str())), &app.config.store_id)?;
    let body = body_of(req)?;
    let image = meta.new_image(app.caller.writer(), &now())?;
    app.authorize_create(&image)?;
    quota::insert_image(&app, &image).await?;
    let image = match body {
        Body::Data(declared) => {
            let incoming = Incoming { body: req.inner().body().map(Into::into), declared };
            receive(app.clone(), image, incoming, v1_rules(&app, &meta), ctx).await?
        }
        Body::Empty if meta.size == Some(0) => record_empty(&app, image, meta.checksum.as_deref()).await?,
        Body::Empty => image,
    };
    record_response(&app, 201, &image)
}

/// `PUT /v1/images/{id}`: update metadata from headers; a body adds data to
/// an image that has none (409 if it has).
pub async fn update(app: Rc<App>, req: &Request, id: &ImageId, ctx: &Context) -> Result<Response, ApiError> {
    let meta =
        V1Meta::from_headers(request_headers(req).iter().map(|(k, v)| (k.as_str(), v.as_str())), &app.config.store_id)?;
    let body = body_of(req)?;
    let mut image = app.image_for(id, Action::Update).await?;
    if meta.id.as_deref().is_some_and(|given| given != image.id.as_str()) {
        return Err(ApiError::bad_request("x-image-meta-id cannot change an image's id."));
    }
    if !meta.attributes.is_empty() {
        let writer = app.caller.writer();
        image = update_image(&app, id, |current| {
            let mut updated = current.clone();
            meta.apply_to(&mut updated, writer)?;
            Ok(updated)
        })
        .await?;
    }
    if let Body::Data(declared) = body {
        if image.has_data() || image.size.is_some() {
            return Err(ApiError::conflict(format!("Image {id} already has data; v1 images take data only once.")));
        }
        let incoming = Incoming { body: req.inner().body().map(Into::into), declared };
        let to_fill = app.image_for(id, Action::Upload).await?;
        image = receive(app.clone(), to_fill, incoming, v1_rules(&app, &meta), ctx).await?;
    }
    record_response(&app, 200, &image)
}

/// `DELETE /v1/images/{id}`: 200, as v1 answered.
pub async fn delete(app: &App, id: &ImageId) -> Result<Response, ApiError> {
    remove_image(app, id).await?;
    Ok(Response::empty().map_err(internal)?.with_status(200))
}
