//! HTTP handlers. Each reads *parse the request -> apply to the domain ->
//! respond*; [`handle`] resolves the route and calls one of them. Errors are
//! returned as [`ApiError`] and rendered once, in `entry`.

pub mod discovery;
pub mod maintenance;
pub mod v1;
pub mod v2;

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::Value;
use worker::{Context, Env, Headers, Request, Response, ResponseBody};

use crate::context::RequestContext;
use crate::domain::access::auth::{auth_mode, AuthMode};
use crate::domain::access::policy::{self, Action, Decision};
use crate::domain::image::{Image, ImageId, Visibility};
use crate::domain::time::format_utc;
use crate::domain::wire::v1::{header_bytes, HEADER_BUDGET};
use crate::error::ApiError;
use crate::router::{self, Route};
use crate::store::blobs::Blobs;
use crate::store::images::Images;
use crate::store::keystone::{AuthFailure, Keystone};
use crate::store::members::Members;

/// Binding and variable names from `wrangler.toml`.
pub mod names {
    /// D1 database with image metadata.
    pub const METADATA_DB: &str = "DB";
    /// R2 bucket with image data.
    pub const IMAGES_BUCKET: &str = "IMAGES";
    /// The store id shown in `stores` and `/v2/info/stores`.
    pub const STORE_ID: &str = "STORE_ID";
    /// Largest accepted image, in bytes.
    pub const IMAGE_SIZE_CAP: &str = "IMAGE_SIZE_CAP";
    /// Minutes after which a `saving` image counts as a dead upload.
    pub const STALLED_UPLOAD_MINUTES: &str = "STALLED_UPLOAD_MINUTES";
}

/// Glance's default `image_size_cap`: 1 TiB.
const DEFAULT_SIZE_CAP: u64 = 1 << 40;

/// Settings read from the worker's variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// How callers are authenticated (`Err`: misconfigured, every
    /// authenticated route answers 500 rather than guessing).
    pub auth: Result<AuthMode, String>,
    /// Our store id.
    pub store_id: String,
    /// Largest image accepted.
    pub size_cap: u64,
    /// Minutes after which a `saving` image counts as a dead upload.
    pub stalled_upload_minutes: u64,
}

impl Config {
    pub fn from_env(env: &Env) -> Config {
        let var = |name: &str| env.var(name).ok().map(|v| v.to_string());
        // Secrets (`wrangler secret put`) and vars are both plain strings.
        let var_or_secret = |name: &str| var(name).or_else(|| env.secret(name).ok().map(|v| v.to_string()));
        Config {
            auth: auth_mode(var_or_secret),
            store_id: var(names::STORE_ID).unwrap_or_else(|| "r2".into()),
            size_cap: var(names::IMAGE_SIZE_CAP).and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_SIZE_CAP),
            stalled_upload_minutes: var(names::STALLED_UPLOAD_MINUTES).and_then(|v| v.parse().ok()).unwrap_or(60),
        }
    }
}

/// Everything a handler needs for one request.
pub struct App {
    /// Image metadata.
    pub images: Images,
    /// Image data.
    pub blobs: Blobs,
    /// Image members.
    pub members: Members,
    /// Settings.
    pub config: Config,
    /// Who is calling.
    pub caller: RequestContext,
    /// `scheme://host[:port]` of this request, for absolute links.
    pub base_url: String,
    /// Images this request found the caller's project to be a member of.
    member_of: RefCell<Vec<String>>,
}

impl App {
    /// Builds the app from the environment, for an authenticated `caller`.
    pub fn new(env: &Env, config: Config, caller: RequestContext, base_url: String) -> Result<App, ApiError> {
        let d1 = || env.d1(names::METADATA_DB).map_err(|e| ApiError::internal(format!("D1 binding: {e}")));
        let bucket = js_sys::Reflect::get(env, &names::IMAGES_BUCKET.into())
            .ok()
            .filter(|b| !b.is_undefined())
            .ok_or_else(|| ApiError::internal("R2 binding IMAGES is missing"))?;
        Ok(App {
            images: Images::new(d1()?),
            blobs: Blobs::new(bucket),
            members: Members::new(d1()?),
            config,
            caller,
            base_url,
            member_of: RefCell::new(Vec::new()),
        })
    }

    /// Asks the policy table whether the caller may do `action` to `image`:
    /// 404 for an image it may not see, 403 for a refused action.
    pub fn authorize(&self, action: Action, image: &Image) -> Result<(), ApiError> {
        let is_member = self.member_of.borrow().iter().any(|id| id == image.id.as_str());
        match policy::authorize(self.caller.caller(), action, image, is_member) {
            Decision::Allowed => Ok(()),
            Decision::Forbidden(message) => Err(ApiError::forbidden(message)),
            Decision::Invisible => Err(ApiError::image_not_found(image.id.as_str())),
        }
    }

    /// The image `raw_id` if it exists and the caller may see it; 404 otherwise
    /// (an invisible image is indistinguishable from a missing one).
    pub async fn visible_image(&self, raw_id: &str) -> Result<Image, ApiError> {
        let id = ImageId::parse(raw_id).ok_or_else(|| ApiError::image_not_found(raw_id))?;
        match self.images.get(&id).await? {
            Some(image) if self.is_visible(&image).await? => Ok(image),
            _ => Err(ApiError::image_not_found(raw_id)),
        }
    }

    /// Whether the caller may see `image`; membership is looked up only when
    /// it decides (a shared image of another project), and remembered for
    /// [`App::authorize`].
    pub async fn is_visible(&self, image: &Image) -> Result<bool, ApiError> {
        if self.caller.can_see(image, false) {
            return Ok(true);
        }
        let Some(project) = self.caller.project_id.as_deref() else {
            return Ok(false);
        };
        if image.visibility != Visibility::Shared {
            return Ok(false);
        }
        let is_member = self.members.get(image.id.as_str(), project).await?.is_some();
        if is_member {
            self.member_of.borrow_mut().push(image.id.to_string());
        }
        Ok(is_member)
    }
}

/// Seconds since the Unix epoch.
pub fn now_seconds() -> i64 {
    (js_sys::Date::now() / 1000.0).floor() as i64
}

/// Now, as Glance writes timestamps.
pub fn now() -> String {
    format_utc(now_seconds())
}

/// A request header, if present and valid text.
pub fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// A JSON response with `status`.
pub fn json_response(status: u16, value: &Value) -> Result<Response, ApiError> {
    text_response(status, "application/json", value.to_string())
}

/// A text response with a content type.
pub fn text_response(status: u16, content_type: &str, body: String) -> Result<Response, ApiError> {
    let headers = Headers::new();
    headers.set("Content-Type", content_type).map_err(internal)?;
    Ok(Response::from_body(ResponseBody::Body(body.into_bytes()))
        .map_err(internal)?
        .with_status(status)
        .with_headers(headers))
}

/// 204 with no body.
pub fn no_content() -> Result<Response, ApiError> {
    Ok(Response::empty().map_err(internal)?.with_status(204))
}

/// Wraps a runtime error as a 500 (detail logged, not shown).
pub fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

/// Reads a small request body (JSON documents) into memory.
pub async fn read_body(req: &mut Request) -> Result<Vec<u8>, ApiError> {
    req.bytes().await.map_err(|e| ApiError::bad_request(format!("Could not read the request body: {e}")))
}

/// All request headers, names lower-cased by the runtime.
pub fn request_headers(req: &Request) -> Vec<(String, String)> {
    req.headers().entries().collect()
}

/// The seed's 8 KiB budget for request headers, answered with a clear 431
/// (Glance under uWSGI just drops such a connection).
fn check_header_budget(req: &Request) -> Result<(), ApiError> {
    let headers = request_headers(req);
    let bytes = header_bytes(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if bytes > HEADER_BUDGET {
        return Err(ApiError::headers_too_large(format!(
            "The request headers take {bytes} bytes, more than the {HEADER_BUDGET} byte budget; send fewer or shorter x-image-meta-property-* headers."
        )));
    }
    Ok(())
}

/// Who is calling, by the configured mode. `keystone`: the `X-Auth-Token`
/// validated by Keystone (401 without a valid one, 503 when Keystone cannot
/// answer); `noauth`: the local admin.
async fn authenticate(
    req: &Request,
    config: &Config,
    request_id: String,
    base_url: &str,
) -> Result<RequestContext, ApiError> {
    let mode = config.auth.as_ref().map_err(|e| ApiError::internal(format!("authentication misconfigured: {e}")))?;
    let settings = match mode {
        AuthMode::NoAuth { project_id } => return Ok(RequestContext::noauth_admin(request_id, project_id)),
        AuthMode::Keystone(settings) => settings,
    };
    let unauthorized = |why: &str| {
        ApiError::unauthorized(format!("The request you have made requires authentication: {why}."))
            .with_header("WWW-Authenticate", settings.www_authenticate())
    };
    let token = header(req, "x-auth-token")
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| unauthorized("send a Keystone token in X-Auth-Token"))?;
    match Keystone::new(settings, base_url).validate(token.trim(), now_seconds()).await {
        Ok(identity) => Ok(RequestContext::from_identity(request_id, identity)),
        Err(AuthFailure::Rejected) => Err(unauthorized("the X-Auth-Token is invalid, expired or revoked")),
        Err(AuthFailure::Unavailable(detail)) => {
            worker::console_error!("Keystone unavailable: {detail}");
            Err(ApiError::unavailable("Keystone, the identity service, is unavailable; please retry later."))
        }
    }
}

/// Resolves and runs the handler for one request.
pub async fn handle(mut req: Request, env: &Env, ctx: &Context, request_id: String) -> Result<Response, ApiError> {
    let method = req.inner().method();
    check_header_budget(&req)?;
    let url = req.url().map_err(internal)?;
    let route = router::resolve(&method, url.path())?;
    let base_url = url.origin().ascii_serialization();
    let query = url.query().unwrap_or("").to_owned();
    // Version discovery and the health check answer without a token, as
    // Glance's do; everything else needs an identity first.
    match route {
        Route::VersionsMultipleChoice => return discovery::versions(&base_url, 300),
        Route::Versions => return discovery::versions(&base_url, 200),
        Route::Healthcheck => return text_response(200, "text/plain; charset=UTF-8", "OK".into()),
        _ => {}
    }
    let config = Config::from_env(env);
    let caller = authenticate(&req, &config, request_id, &base_url).await?;
    // Only routes that touch storage build the app (and its bindings).
    let app = || App::new(env, config.clone(), caller.clone(), base_url.clone()).map(Rc::new);
    match route {
        Route::VersionsMultipleChoice | Route::Versions | Route::Healthcheck => unreachable!("answered above"),
        Route::Schema(name) => discovery::schema(name),
        Route::ImportInfo => discovery::import_info(),
        Route::StoresInfo => discovery::stores_info(&config.store_id),
        Route::ListImages => v2::images::list(&*app()?, &query).await,
        Route::CreateImage => v2::images::create(&*app()?, &mut req).await,
        Route::ShowImage(id) => v2::images::show(&*app()?, &id).await,
        Route::UpdateImage(id) => v2::images::update(&*app()?, &mut req, &id).await,
        Route::DeleteImage(id) => v2::images::delete(&*app()?, &id).await,
        Route::AddTag(id, tag) => v2::tags::add(&*app()?, &id, &tag).await,
        Route::DeleteTag(id, tag) => v2::tags::delete(&*app()?, &id, &tag).await,
        Route::Deactivate(id) => v2::actions::deactivate(&*app()?, &id).await,
        Route::Reactivate(id) => v2::actions::reactivate(&*app()?, &id).await,
        Route::ImageTasks(id) => v2::actions::image_tasks(&*app()?, &id).await,
        Route::ListMembers(id) => v2::members::list(&*app()?, &id).await,
        Route::AddMember(id) => v2::members::add(&*app()?, &mut req, &id).await,
        Route::ShowMember(id, member) => v2::members::show(&*app()?, &id, &member).await,
        Route::UpdateMember(id, member) => v2::members::update(&*app()?, &mut req, &id, &member).await,
        Route::RemoveMember(id, member) => v2::members::remove(&*app()?, &id, &member).await,
        Route::UploadData(id) => v2::image_data::upload(app()?, &req, &id, ctx).await,
        Route::DownloadData(id) => v2::image_data::download(&*app()?, &req, &id, ctx).await,
        Route::V1List => v1::images::list(&*app()?, &query, false).await,
        Route::V1ListDetailed => v1::images::list(&*app()?, &query, true).await,
        Route::V1Create => v1::images::create(app()?, &req, ctx).await,
        Route::V1Head(id) => v1::images::head(&*app()?, &id).await,
        Route::V1Show(id) => v1::images::show(&*app()?, &id, ctx).await,
        Route::V1Update(id) => v1::images::update(app()?, &req, &id, ctx).await,
        Route::V1Delete(id) => v1::images::delete(&*app()?, &id).await,
    }
}
