//! Conditional requests at the HTTP edge (the rules are
//! `domain::wire::conditional`): image metadata answers carry `ETag`,
//! `Last-Modified` and `Cache-Control` and are 304 when the client's copy
//! is current; data answers likewise; a write with `If-Match` naming
//! another revision is 412, checked against the record the write applies
//! to (so a racing writer cannot slip between the check and the write).

use worker::{Request, Response};

use super::app::App;
use super::respond::{header, internal, json_response};
use crate::domain::access::policy::Action;
use crate::domain::image::{Image, ImageId};
use crate::domain::time::{format_http_date, parse_iso8601};
use crate::domain::wire::bookmark;
use crate::domain::wire::conditional::{
    data_cache_control, data_etag, metadata_etag, not_modified, write_allowed, METADATA_CACHE_CONTROL,
};
use crate::error::ApiError;

/// What a request's `If-Match` asks of the image it writes.
#[derive(Debug, Clone, Default)]
pub struct IfMatch(Option<String>);

impl IfMatch {
    /// The request's `If-Match`, if any.
    pub fn of(req: &Request) -> IfMatch {
        IfMatch(header(req, "if-match"))
    }

    /// 412 unless `image` (the record about to be written) is the revision
    /// the client named.
    pub fn check(&self, image: &Image) -> Result<(), ApiError> {
        if write_allowed(self.0.as_deref(), Some(&metadata_etag(image))) {
            return Ok(());
        }
        Err(ApiError::precondition_failed(format!(
            "Image {} changed since the client read it (If-Match does not name its current ETag {}).",
            image.id,
            metadata_etag(image)
        )))
    }
}

fn last_modified(image: &Image) -> Option<i64> {
    parse_iso8601(&image.updated_at)
}

/// Whether `req`'s `If-None-Match` / `If-Modified-Since` say the client's
/// copy with validator `etag` is current.
fn fresh(req: &Request, etag: Option<&str>, image: &Image) -> bool {
    not_modified(
        header(req, "if-none-match").as_deref(),
        header(req, "if-modified-since").as_deref(),
        etag,
        last_modified(image),
    )
}

/// Sets a metadata answer's validators and caching policy.
pub fn with_metadata_validators(mut response: Response, image: &Image) -> Result<Response, ApiError> {
    let headers = response.headers_mut();
    headers.set("ETag", &metadata_etag(image)).map_err(internal)?;
    headers.set("Cache-Control", METADATA_CACHE_CONTROL).map_err(internal)?;
    if let Some(modified) = last_modified(image) {
        headers.set("Last-Modified", &format_http_date(modified)).map_err(internal)?;
    }
    Ok(response)
}

/// An image's metadata document: 304 when `req` (if any) holds the
/// current revision, else 200 with `document`; both with the validators.
pub fn metadata_answer(
    req: Option<&Request>,
    image: &Image,
    document: &impl serde::Serialize,
) -> Result<Response, ApiError> {
    let etag = metadata_etag(image);
    let response = if req.is_some_and(|req| fresh(req, Some(&etag), image)) {
        Response::empty().map_err(internal)?.with_status(304)
    } else {
        json_response(200, document)?
    };
    with_metadata_validators(response, image)
}

/// A revalidation of image `id`'s metadata answered from this isolate's
/// recent read of it, without D1 (`App::recent_image_for`): 304 when the
/// client holds that revision. `None`: not a revalidation, nothing usable
/// remembered, or a copy that is not current (the usual way answers).
pub fn revalidated_from_memory(app: &App, req: &Request, id: &ImageId) -> Result<Option<Response>, ApiError> {
    if header(req, "if-none-match").is_none() && header(req, "if-modified-since").is_none() {
        return Ok(None);
    }
    let Some((image, read_at)) = app.recent_image_for(id, Action::Show) else { return Ok(None) };
    if !fresh(req, Some(&metadata_etag(&image)), &image) {
        return Ok(None);
    }
    let mut response = with_metadata_validators(Response::empty().map_err(internal)?.with_status(304), &image)?;
    if let Some(bookmark) = read_at {
        response.headers_mut().set(bookmark::HEADER, &bookmark).map_err(internal)?;
    }
    Ok(Some(response))
}

/// 304 for a data request whose client holds the image's data already.
pub fn data_not_modified(req: &Request, image: &Image) -> Result<Option<Response>, ApiError> {
    let Some(etag) = data_etag(image).filter(|etag| fresh(req, Some(etag), image)) else {
        return Ok(None);
    };
    let mut response = Response::empty().map_err(internal)?.with_status(304);
    let headers = response.headers_mut();
    headers.set("ETag", &etag).map_err(internal)?;
    headers.set("Cache-Control", &data_cache_control(image)).map_err(internal)?;
    Ok(Some(response))
}
