//! Dispatch: resolve the route, pass the admission checks, build the
//! [`App`] and call the route's handler. The only place routes meet
//! handlers.

use std::rc::Rc;

use worker::{Cf, Context, Env, Request, Response};

use super::admission::{authenticate, check_header_budget};
use super::app::{metadata_db, App};
use super::config::Config;
use super::respond::{header, internal, text_response};
use super::{discovery, v1, v2};
use crate::domain::wire::bookmark::{self, SessionStart};
use crate::error::ApiError;
use crate::router::{self, Route};
use crate::store::cache_entries::DataCentre;
use crate::store::d1::Db;

/// Resolves and runs the handler for one request.
pub async fn handle(req: Request, env: &Env, ctx: &Context, request_id: String) -> Result<Response, ApiError> {
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
    let config = Config::of(env);
    // The tus capabilities are discovery, answered without a token too.
    if route == Route::UploadOptions {
        return v2::uploads::options(&config);
    }
    let caller = authenticate(&req, &config, request_id, &base_url).await?;
    // One D1 session per request, shared by every repository: it starts
    // after the bookmark the client sent back, else at the nearest replica
    // for a read and at the primary for a write; the answer carries its
    // latest bookmark, whatever the outcome.
    let start = SessionStart::for_request(req.method().as_ref(), header(&req, "x-d1-bookmark").as_deref())?;
    let db = Db::session(&metadata_db(env)?, &start)?;
    // Only routes that touch storage build the app (and its bindings).
    // The data centre is read (a call into the request's `cf`) only by the
    // routes that build the app: never by a revalidation answered from
    // memory.
    let cf = req.cf().cloned();
    let app = || {
        let here = data_centre(cf.as_ref(), &config);
        App::new(env, db.clone(), config.clone(), caller.clone(), base_url.clone(), here).map(Rc::new)
    };
    let answer = route_request(route, req, &query, &config, app, ctx).await;
    with_bookmark(answer, &db)
}

/// The data centre serving a request with `cf`: the configured name, else
/// the colo Cloudflare reports (`request.cf.colo`).
fn data_centre(cf: Option<&Cf>, config: &Config) -> DataCentre {
    let colo = || cf.map(Cf::colo).unwrap_or_default();
    DataCentre::named(config.data_centre.clone().unwrap_or_else(colo))
}

/// Sets `X-D1-Bookmark` on an answer, success or error.
fn with_bookmark(answer: Result<Response, ApiError>, db: &Db) -> Result<Response, ApiError> {
    let Some(bookmark) = db.bookmark() else { return answer };
    match answer {
        Ok(mut response) => {
            response.headers_mut().set(bookmark::HEADER, &bookmark).map_err(internal)?;
            Ok(response)
        }
        Err(error) => Err(error.with_header(bookmark::HEADER, &bookmark)),
    }
}

async fn route_request(
    route: Route,
    mut req: Request,
    query: &str,
    config: &Config,
    app: impl Fn() -> Result<Rc<App>, ApiError>,
    ctx: &Context,
) -> Result<Response, ApiError> {
    match route {
        Route::VersionsMultipleChoice | Route::Versions | Route::Healthcheck | Route::UploadOptions => {
            unreachable!("answered above")
        }
        Route::CreateUpload(id) => v2::uploads::create(app()?, &req, &id, ctx).await,
        Route::UploadOffset(id, upload) => v2::uploads::offset(&*app()?, &req, &id, &upload).await,
        Route::ResumeUpload(id, upload) => v2::uploads::resume(app()?, &req, &id, &upload, ctx).await,
        Route::TerminateUpload(id, upload) => v2::uploads::terminate(&*app()?, &req, &id, &upload).await,
        Route::Schema(name) => discovery::schema(name),
        Route::ImportInfo => discovery::import_info(&config.import_methods),
        Route::StoresInfo => v2::stores::info(&*app()?),
        Route::StoresDetail => v2::stores::detail(&*app()?),
        Route::UsageInfo => v2::usage::show(&*app()?).await,
        Route::ListImages => v2::images::list(&*app()?, query).await,
        Route::CreateImage => v2::images::create(&*app()?, &mut req).await,
        Route::ShowImage(id) => v2::images::show(&*app()?, &req, &id).await,
        Route::UpdateImage(id) => v2::images::update(&*app()?, &mut req, &id).await,
        Route::DeleteImage(id) => v2::images::delete(&*app()?, &id).await,
        Route::AddTag(id, tag) => v2::tags::add(&*app()?, &id, &tag).await,
        Route::DeleteTag(id, tag) => v2::tags::delete(&*app()?, &id, &tag).await,
        Route::Deactivate(id) => v2::actions::deactivate(&*app()?, &id).await,
        Route::Reactivate(id) => v2::actions::reactivate(&*app()?, &id).await,
        Route::ImageTasks(id) => v2::tasks::of_image(&*app()?, &id).await,
        Route::StageData(id) => v2::imports::stage(app()?, &req, &id, ctx).await,
        Route::Import(id) => v2::imports::import(&*app()?, &mut req, &id).await,
        Route::AddLocation(id) => v2::locations::add(&*app()?, &mut req, &id).await,
        Route::ListLocations(id) => v2::locations::list(&*app()?, &id).await,
        Route::DeleteFromStore(store, id) => v2::stores::delete_from(&*app()?, &store, &id).await,
        Route::ListCache => v2::cache::list(&*app()?).await,
        Route::ClearCache => v2::cache::clear(&*app()?, &req).await,
        Route::QueueCache(id) => v2::cache::queue(app()?, &id, ctx).await,
        Route::DeleteCacheEntry(id) => v2::cache::delete(&*app()?, &id).await,
        Route::ListTasks => v2::tasks::list(&*app()?, query).await,
        Route::CreateTask => v2::tasks::create(&*app()?, &mut req).await,
        Route::ShowTask(id) => v2::tasks::show(&*app()?, &id).await,
        Route::ListMembers(id) => v2::members::list(&*app()?, &id).await,
        Route::AddMember(id) => v2::members::add(&*app()?, &mut req, &id).await,
        Route::ShowMember(id, member) => v2::members::show(&*app()?, &id, &member).await,
        Route::UpdateMember(id, member) => v2::members::update(&*app()?, &mut req, &id, &member).await,
        Route::RemoveMember(id, member) => v2::members::remove(&*app()?, &id, &member).await,
        Route::UploadData(id) => v2::image_data::upload(app()?, &req, &id, ctx).await,
        Route::DownloadData(id) => v2::image_data::download(&*app()?, &req, &id, ctx).await,
        Route::Metadef(route) => v2::metadefs::handle(&*app()?, &mut req, route, query).await,
        Route::V1List => v1::images::list(&*app()?, query, false).await,
        Route::V1ListDetailed => v1::images::list(&*app()?, query, true).await,
        Route::V1Create => v1::images::create(app()?, &req, ctx).await,
        Route::V1Head(id) => v1::images::head(&*app()?, &id).await,
        Route::V1Show(id) => v1::images::show(&*app()?, &id, ctx).await,
        Route::V1Update(id) => v1::images::update(app()?, &req, &id, ctx).await,
        Route::V1Delete(id) => v1::images::delete(&*app()?, &id).await,
    }
}
