//! Resumable uploads over tus 1.0 (`/v2/images/{id}/uploads`): the
//! creation URL, and each upload at the `Location` it returns. Handlers
//! read the tus headers, check access through the policy table (an upload
//! URL is not a capability: only who may upload to the image may touch its
//! uploads), call the engine (`api::upload::resumable`) and answer with the
//! tus headers.

use std::rc::Rc;

use worker::{Context, Headers, Request, Response};

use crate::api::app::App;
use crate::api::config::Config;
use crate::api::quota;
use crate::api::respond::{header, internal};
use crate::api::upload::resumable::{self, Creation, Patch};
use crate::domain::access::policy::Action;
use crate::domain::image::status::ImageEvent;
use crate::domain::image::ImageId;
use crate::domain::import::request::ImportMethod;
use crate::domain::quota::{mib, Resource};
use crate::domain::resumable::protocol::{
    check_version, concat_header, parse_concat, parse_metadata, parse_size, upload_in_url, Checksum, TusError,
    CHECKSUM_ALGORITHMS, OFFSET_OCTET_STREAM, TUS_EXTENSIONS, TUS_VERSION,
};
use crate::domain::resumable::{max_size, ResumableUpload, UploadId, UploadState};
use crate::domain::time::format_http_date;
use crate::error::ApiError;

/// An answer carrying `Tus-Resumable`, and `headers`.
fn tus_response(status: u16, headers: &[(&str, String)]) -> Result<Response, ApiError> {
    let all = Headers::new();
    all.set("Tus-Resumable", TUS_VERSION).map_err(internal)?;
    for (name, value) in headers {
        all.set(name, value).map_err(internal)?;
    }
    Ok(Response::empty().map_err(internal)?.with_status(status).with_headers(all))
}

fn upload_url(app: &App, upload: &ResumableUpload) -> String {
    format!("{}/v2/images/{}/uploads/{}", app.base_url, upload.image_id, upload.id)
}

/// The headers that say where an upload stands.
fn state_headers(app: &App, upload: &ResumableUpload) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("Upload-Offset", upload.offset.to_string()),
        ("Upload-Length", upload.length.to_string()),
        ("Upload-Expires", format_http_date(upload.expires_at)),
        ("Cache-Control", "no-store".into()),
    ];
    let url_of = |id: &UploadId| format!("{}/v2/images/{}/uploads/{id}", app.base_url, upload.image_id);
    if let Some(concat) = concat_header(&upload.concat, url_of) {
        headers.push(("Upload-Concat", concat));
    }
    if let Some(metadata) = &upload.metadata {
        headers.push(("Upload-Metadata", metadata.clone()));
    }
    headers
}

/// `OPTIONS`: what the protocol supports here.
pub fn options(config: &Config) -> Result<Response, ApiError> {
    tus_response(
        204,
        &[
            ("Tus-Version", TUS_VERSION.into()),
            ("Tus-Extension", TUS_EXTENSIONS.into()),
            ("Tus-Max-Size", max_size(config.size_cap).to_string()),
            ("Tus-Checksum-Algorithm", CHECKSUM_ALGORITHMS.into()),
        ],
    )
}

fn parse_upload_id(raw: &str) -> Result<UploadId, TusError> {
    UploadId::parse(raw).ok_or_else(|| TusError::NotFound(raw.to_owned()))
}

/// The body of a PATCH (or of a creation with upload): its type checked,
/// its length known.
fn patch_of(req: &Request, offset: u64) -> Result<Patch, ApiError> {
    let content_type = header(req, "content-type").unwrap_or_default();
    if content_type.split(';').next().map(str::trim) != Some(OFFSET_OCTET_STREAM) {
        return Err(TusError::ContentType.into());
    }
    let size = match header(req, "content-length") {
        Some(raw) => parse_size("Content-Length", Some(&raw))?,
        None => {
            return Err(TusError::Header { name: "Content-Length", problem: "is required on a PATCH".into() }.into())
        }
    };
    Ok(Patch {
        offset,
        body: req.inner().body().map(wasm_bindgen::JsValue::from),
        size,
        checksum: Checksum::parse(header(req, "upload-checksum").as_deref())?,
    })
}

/// `POST /v2/images/{id}/uploads`: creation (with upload, or a final
/// concatenation).
pub async fn create(app: Rc<App>, req: &Request, id: &ImageId, ctx: &Context) -> Result<Response, ApiError> {
    check_version(header(req, "tus-resumable").as_deref())?;
    if !app.config.import_methods.contains(&ImportMethod::GlanceDirect) {
        return Err(ApiError::not_found(
            "The glance-direct import method is not enabled: resumable uploads have nowhere to stage.",
        ));
    }
    if header(req, "upload-defer-length").is_some() {
        return Err(TusError::Header {
            name: "Upload-Defer-Length",
            problem: "is not supported: send Upload-Length".into(),
        }
        .into());
    }
    let concat = parse_concat(header(req, "upload-concat").as_deref(), |url| upload_in_url(url, id.as_str()))?;
    let final_upload = matches!(concat, crate::domain::resumable::Concat::Final(_));
    let length = match header(req, "upload-length") {
        Some(raw) => Some(parse_size("Upload-Length", Some(&raw))?),
        None if final_upload => None,
        None => return Err(TusError::Header { name: "Upload-Length", problem: "is required".into() }.into()),
    };
    let metadata = parse_metadata(header(req, "upload-metadata").as_deref())?;
    let with_body = header(req, "content-length").is_some_and(|l| l.trim() != "0");
    let first_patch = if with_body && !final_upload { Some(patch_of(req, 0)?) } else { None };
    let image = app.image_for(id, Action::Upload).await?;
    // What an upload will stage counts against the staging quota as a
    // PUT /stage of that size would (a final concatenation adds nothing),
    // and the image will be one more uploading: refused before any byte is
    // sent (the completion checks the uploading count again, for good).
    quota::enforce(
        &app,
        &[
            (Resource::ImageStageTotal, mib(length.filter(|_| !final_upload).unwrap_or(0))),
            (Resource::ImageCountUploading, 1),
        ],
    )
    .await?;
    let mut upload = resumable::create(&app, image, Creation { length, concat, metadata }).await?;
    let location = upload_url(&app, &upload);
    if let Some(first) = first_patch {
        // The upload exists whatever became of its first bytes: the client
        // is told where it is and how far it got, and resumes with PATCH.
        let image = ImageId::parse(&upload.image_id).unwrap_or_else(|| id.clone());
        upload = match resumable::patch(app.clone(), upload.clone(), first, ctx).await {
            Ok(advanced) => advanced,
            Err(error) => {
                worker::console_warn!("the first bytes of upload {location} were not all kept: {}", error.message);
                let image = app.image_for(&image, Action::Upload).await?;
                resumable::find(&app, &image, &upload.id).await?
            }
        };
    }
    let mut headers = vec![("Location", location)];
    headers.extend(state_headers(&app, &upload).into_iter().filter(|(name, _)| *name != "Cache-Control"));
    tus_response(201, &headers)
}

/// `HEAD` of an upload: its offset.
pub async fn offset(app: &App, req: &Request, id: &ImageId, upload: &str) -> Result<Response, ApiError> {
    check_version(header(req, "tus-resumable").as_deref())?;
    let upload_id = parse_upload_id(upload)?;
    let image = app.image_for(id, Action::Upload).await?;
    let upload = resumable::find(app, &image, &upload_id).await?;
    tus_response(200, &state_headers(app, &upload))
}

/// `PATCH` of an upload: more bytes at its offset.
pub async fn resume(
    app: Rc<App>,
    req: &Request,
    id: &ImageId,
    upload: &str,
    ctx: &Context,
) -> Result<Response, ApiError> {
    check_version(header(req, "tus-resumable").as_deref())?;
    let upload_id = parse_upload_id(upload)?;
    let offset = parse_size("Upload-Offset", header(req, "upload-offset").as_deref())?;
    let patch = patch_of(req, offset)?;
    let image = app.image_for(id, Action::Upload).await?;
    let upload = resumable::find(&app, &image, &upload_id).await?;
    if upload.state == UploadState::Receiving {
        // Bytes for an image that can no longer take them are refused at
        // once, not after they were all sent (409).
        image.status.transition(ImageEvent::Stage)?;
    }
    let upload = resumable::patch(app.clone(), upload, patch, ctx).await?;
    tus_response(
        204,
        &[("Upload-Offset", upload.offset.to_string()), ("Upload-Expires", format_http_date(upload.expires_at))],
    )
}

/// `DELETE` of an upload (termination).
pub async fn terminate(app: &App, req: &Request, id: &ImageId, upload: &str) -> Result<Response, ApiError> {
    check_version(header(req, "tus-resumable").as_deref())?;
    let upload_id = parse_upload_id(upload)?;
    let image = app.image_for(id, Action::Upload).await?;
    let upload = resumable::find(app, &image, &upload_id).await?;
    resumable::terminate(app, upload).await?;
    tus_response(204, &[])
}
