//! `PUT/GET /v2/images/{id}/file`: v2's wire rules around the upload engine
//! ([`crate::api::upload`]) and the downloads ([`crate::api::download`]).

use std::rc::Rc;

use worker::{Context, Request, Response};

use crate::api::conditional::{data_not_modified, IfMatch};
use crate::api::download::{open_download, stream_response};
use crate::api::respond::{header, no_content};
use crate::api::upload::{receive, Incoming, UploadRules};
use crate::api::App;
use crate::domain::access::policy::Action;
use crate::domain::image::ImageId;
use crate::domain::wire::conditional::data_etag;
use crate::domain::wire::range::range_applies;
use crate::error::ApiError;

/// `PUT /v2/images/{id}/file`.
pub async fn upload(app: Rc<App>, req: &Request, id: &ImageId, ctx: &Context) -> Result<Response, ApiError> {
    let content_type = header(req, "content-type").unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/octet-stream") {
        return Err(ApiError::unsupported_media_type(format!(
            "Invalid content type {content_type}: image data must be sent as application/octet-stream."
        )));
    }
    let incoming = Incoming::from_request(req, "x-openstack-image-size")?;
    // `X-Image-Meta-Store` picks the store (multi-store), else the default.
    let store = match header(req, "x-image-meta-store") {
        Some(store) if app.stores().is_writable(&store) => store,
        // Glance: "Adding images to store is disabled" (410) for a read-only store.
        Some(store) if app.stores().get(&store).is_some() => {
            return Err(ApiError::gone(format!("Store {store} is read-only: images cannot be uploaded to it.")))
        }
        Some(store) => return Err(ApiError::bad_request(format!("Unknown store {store}."))),
        None => app.stores().default_store().id.clone(),
    };
    let image = app.image_for(id, Action::Upload).await?;
    let rules = UploadRules { if_match: IfMatch::of(req), ..UploadRules::v2(store) };
    receive(app, image, incoming, rules, ctx).await?;
    no_content()
}

/// `GET /v2/images/{id}/file`: 204 when the image has no data; one range
/// (`Range`, or the legacy `Content-Range` request header) gives 206.
/// Whole-object downloads go through the edge cache (`X-Edge-Cache:
/// HIT|MISS` says which); ranges are read from R2.
pub async fn download(app: &App, req: &Request, id: &ImageId, ctx: &Context) -> Result<Response, ApiError> {
    let image = app.image_for(id, Action::Download).await?;
    if let Some(not_modified) = data_not_modified(req, &image)? {
        return Ok(not_modified);
    }
    // A range is for the copy the client holds: `If-Range` naming another
    // copy gets the whole data.
    let current = range_applies(header(req, "if-range").as_deref(), data_etag(&image).as_deref());
    let range = header(req, "range").filter(|_| current);
    let content_range = header(req, "content-range").filter(|_| current);
    match open_download(app, &image, range.as_deref(), content_range.as_deref(), ctx).await? {
        Some(download) => stream_response(download),
        None => no_content(),
    }
}
