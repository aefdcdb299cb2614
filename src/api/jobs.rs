//! The import queue's consumer: runs the tasks that `POST /import`,
//! `POST /v2/tasks` and `POST /locations` queued, outside any request, and
//! the pre-cache jobs of `PUT /v2/cache/{id}` (`precache` below).
//!
//! A message names a task; the task's input in D1 says what to do. Each
//! run starts by moving the task pending -> processing (compare-and-set, so
//! a redelivered message never runs a finished task), writes the bytes to
//! R2 through the same engine as uploads (native hashing, no partial
//! objects), and settles the image and the task together. A run that fails
//! for good settles them at once: the image goes back where Glance leaves
//! it (queued, or active with the stores that succeeded for copy-image)
//! and every object this import wrote is removed. Failures of the runtime
//! itself (D1 or R2 errors) are retried by the queue; after the retries the
//! dead-letter consumer settles the task the same way.

use std::rc::Rc;

use serde_json::{json, Value};
use worker::{Env, MessageBatch, MessageExt};

use super::app::App;
use super::catalog::WRITE_ATTEMPTS;
use super::config::Config;
use super::image_cache;
use super::respond::now;
use crate::context::RequestContext;
use crate::domain::access::auth::AuthMode;
use crate::domain::image::location::{Location, ValidationData};
use crate::domain::image::status::{ImageEvent, ImageStatus, TaskEvent, TaskStatus, Transition};
use crate::domain::image::{ContainerFormat, DiskFormat, Image, ImageId, Writer, HASH_ALGO};
use crate::domain::import::request::{ImportMethod, ImportRequest};
use crate::domain::task::{Task, TaskKind};
use crate::error::ApiError;
use crate::store::blobs::{object_key, staging_key, Blobs, StoredData, UploadFailure, UploadLimits};
use crate::store::cache::EdgeCache;
use crate::store::cache_entries::CacheState;
use crate::store::jobs::Job;
use crate::store::js::AbortController;
use crate::store::web::{self, WebError};

/// Properties glance-download copies from the remote image (Glance's
/// `glance_download_properties` default); `*` ends a prefix.
const REMOTE_PROPERTIES: [&str; 5] = ["hw_*", "trait:*", "os_distro", "os_secure_boot", "os_type"];

/// Why a run stopped.
enum Stop {
    /// For good: the task fails with this message.
    Failed(String),
    /// The runtime failed (D1, R2, the queue): let the queue retry.
    Retry(String),
}

impl From<ApiError> for Stop {
    fn from(error: ApiError) -> Stop {
        if error.status >= 500 {
            Stop::Retry(error.message)
        } else {
            Stop::Failed(error.message)
        }
    }
}

impl From<crate::store::StoreError> for Stop {
    fn from(error: crate::store::StoreError) -> Stop {
        Stop::Retry(error.to_string())
    }
}

/// Handles one batch of the import queue (`dead_letter`: of its
/// dead-letter queue, whose tasks have used up their retries).
pub async fn consume(batch: MessageBatch<Job>, env: &Env, dead_letter: bool) {
    let caller = RequestContext::noauth_admin("req-import".into(), "");
    let app = match App::new(env, Config::from_env(env), caller, String::new()) {
        Ok(app) => Rc::new(app),
        Err(error) => {
            worker::console_error!("import consumer cannot start: {error}");
            batch.retry_all();
            return;
        }
    };
    let messages = match batch.messages() {
        Ok(messages) => messages,
        Err(error) => {
            worker::console_error!("unreadable import messages: {error}");
            batch.ack_all();
            return;
        }
    };
    for message in messages {
        let job = message.body().clone();
        if let Some(image_id) = &job.precache {
            let outcome = match dead_letter {
                false => precache(&app, image_id).await,
                true => drop_precache(&app, image_id).await,
            };
            match outcome {
                Ok(()) => message.ack(),
                Err(e) => {
                    worker::console_warn!("pre-caching image {image_id} will be retried: {e}");
                    message.retry();
                }
            }
            continue;
        }
        if dead_letter {
            let reason = "The import failed after every retry (dead-letter queue).";
            if let Err(e) = give_up(&app, &job.task_id, reason).await {
                worker::console_error!("could not settle dead task {}: {e}", job.task_id);
            }
            message.ack();
            continue;
        }
        match run(&app, &job).await {
            Ok(()) => message.ack(),
            Err(e) => {
                worker::console_warn!("task {} will be retried: {e}", job.task_id);
                message.retry();
            }
        }
    }
}

/// Runs one task; `Err` asks the queue to retry.
async fn run(app: &Rc<App>, job: &Job) -> Result<(), String> {
    let Some(mut task) = app.tasks.get(&job.task_id).await.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    match task.status {
        TaskStatus::Success | TaskStatus::Failure => return Ok(()),
        TaskStatus::Pending => {
            let from = task.status;
            task.apply(TaskEvent::Begin, &now(), app.config.task_ttl_hours).map_err(|e| e.to_string())?;
            if !app.tasks.save(&task, from).await.map_err(|e| e.to_string())? {
                return Ok(()); // another delivery took it
            }
        }
        // A redelivery of a run that died: carry on (every write below is
        // idempotent or compare-and-set).
        TaskStatus::Processing => {}
    }
    let outcome = match task.kind {
        TaskKind::ApiImageImport => run_import(app, &task, job.token.as_deref()).await,
        TaskKind::Import => run_task_import(app, &task).await,
        TaskKind::LocationImport => run_location(app, &task).await,
    };
    match outcome {
        Ok(result) => finish_task(app, task, Ok(result)).await,
        Err(Stop::Failed(message)) => {
            worker::console_warn!("task {} failed: {message}", task.id);
            finish_task(app, task, Err(message)).await
        }
        Err(Stop::Retry(message)) => Err(message),
    }
}

/// Moves the task to success or failure.
async fn finish_task(app: &App, mut task: Task, outcome: Result<Value, String>) -> Result<(), String> {
    let from = task.status;
    let event = match outcome {
        Ok(result) => {
            task.result = Some(result);
            TaskEvent::Succeed
        }
        Err(message) => {
            task.message = message;
            TaskEvent::Fail
        }
    };
    task.apply(event, &now(), app.config.task_ttl_hours).map_err(|e| e.to_string())?;
    app.tasks.save(&task, from).await.map_err(|e| e.to_string()).map(|_| ())
}

/// Settles a task nobody will finish (dead-letter queue, or the upkeep
/// finding its consumer gone): the image goes back as a failed run would
/// leave it, the task fails with `reason`.
pub async fn give_up(app: &App, task_id: &str, reason: &str) -> Result<(), String> {
    let Some(task) = app.tasks.get(task_id).await.map_err(|e| e.to_string())? else { return Ok(()) };
    if matches!(task.status, TaskStatus::Success | TaskStatus::Failure) {
        return Ok(());
    }
    if let Some(image_id) = task.image_id.as_deref().and_then(ImageId::parse) {
        let result = match task.kind {
            TaskKind::ApiImageImport => {
                let method = import_request(&task).map(|r| r.method).unwrap_or(ImportMethod::WebDownload);
                let targets = targets_of(&task);
                for store in &targets {
                    if method != ImportMethod::CopyImage {
                        remove_object(app, store, &image_id).await;
                    }
                }
                revert_import(app, &image_id, &task.id, method, &[]).await
            }
            TaskKind::LocationImport => fail_location(app, &image_id).await,
            TaskKind::Import => Ok(()),
        };
        if let Err(e) = result {
            worker::console_warn!("could not settle image {image_id} of task {task_id}: {}", stop_text(&e));
        }
    }
    finish_task(app, task, Err(reason.to_owned())).await
}

fn stop_text(stop: &Stop) -> &str {
    match stop {
        Stop::Failed(m) | Stop::Retry(m) => m,
    }
}

fn import_request(task: &Task) -> Result<ImportRequest, Stop> {
    let body = task.input.get("import_req").cloned().unwrap_or(Value::Null);
    ImportRequest::parse(&body, &ImportMethod::ALL).map_err(|e| Stop::Failed(format!("invalid import request: {e}")))
}

fn targets_of(task: &Task) -> Vec<String> {
    task.input
        .get("backend")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Re-applies `change` to the image's fresh record until the write wins:
/// `transition`, when given, moves the status in the same write. `None`
/// when the image is gone.
async fn update(
    app: &App,
    id: &ImageId,
    transition_from: impl Fn(&Image) -> Result<Option<Transition>, Stop>,
    change: impl Fn(&mut Image),
) -> Result<Option<Image>, Stop> {
    for _ in 0..WRITE_ATTEMPTS {
        let Some(mut image) = app.images.get(id).await? else { return Ok(None) };
        let transition = transition_from(&image)?;
        change(&mut image);
        image.updated_at = now();
        if app.images.write(&image, transition).await? {
            if let Some(t) = transition {
                image.status = t.to();
            }
            return Ok(Some(image));
        }
    }
    Err(Stop::Retry(format!("image {id} kept changing under the import")))
}

fn limits(app: &App) -> UploadLimits {
    UploadLimits { size_cap: app.config.size_cap, idle_seconds: app.config.upload_idle_seconds }
}

/// A heartbeat for long writes: renews the task's update time, so the
/// upkeep can tell a live import from a dead one.
fn task_heartbeat(app: Rc<App>, task_id: String) -> Rc<dyn Fn()> {
    Rc::new(move || {
        let (app, task_id) = (app.clone(), task_id.clone());
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = app.tasks.touch(&task_id, &now()).await {
                worker::console_warn!("could not record progress of task {task_id}: {e}");
            }
        });
    })
}

fn upload_failure(store: &str, failure: UploadFailure) -> Stop {
    match failure {
        UploadFailure::Storage(e) => Stop::Retry(format!("store {store} failed: {e}")),
        UploadFailure::SizeMismatch { expected } => {
            Stop::Failed(format!("the source did not send the {expected} bytes it announced"))
        }
        UploadFailure::TooLarge { limit } => Stop::Failed(format!("the data exceeds the size cap of {limit} bytes")),
        UploadFailure::Stalled { seconds } => Stop::Failed(format!("the source sent nothing for {seconds} seconds")),
        UploadFailure::Body(e) => Stop::Failed(format!("reading the source failed: {e}")),
    }
}

async fn remove_object(app: &App, store: &str, id: &ImageId) {
    if let Ok(bucket) = app.bucket(store) {
        if let Err(e) = bucket.delete(&object_key(id.as_str())).await {
            worker::console_error!("could not remove {id} from {store}: {e}");
        }
    }
}

/// Copies the object of image `id` from `source` to `target` (R2 to R2,
/// streams only), checking the copy's md5 against `md5`.
async fn copy_between(
    app: &Rc<App>,
    task_id: &str,
    source: &Blobs,
    target: &Blobs,
    id: &ImageId,
    size: u64,
    md5: &str,
) -> Result<StoredData, Stop> {
    let key = object_key(id.as_str());
    let stream = source
        .get_stream(&key, None)
        .await
        .map_err(Stop::Retry)?
        .ok_or_else(|| Stop::Failed(format!("the data of image {id} is missing from store {}", source.store())))?;
    let heartbeat = task_heartbeat(app.clone(), task_id.to_owned());
    let stored = target
        .put_stream(&key, Some(stream), Some(size), limits(app), heartbeat)
        .await
        .map_err(|f| upload_failure(target.store(), f))?;
    if stored.md5 != md5 {
        let _ = target.delete(&key).await;
        return Err(Stop::Failed(format!(
            "the copy in store {} has md5 {} instead of {md5}",
            target.store(),
            stored.md5
        )));
    }
    Ok(stored)
}

/// The bytes an import reads from: opened once for the first store.
async fn open_source(
    app: &App,
    request: &ImportRequest,
    image_id: &ImageId,
    token: Option<&str>,
) -> Result<(Option<wasm_bindgen::JsValue>, Option<u64>, Option<Value>), Stop> {
    match request.method {
        ImportMethod::GlanceDirect => {
            let key = staging_key(image_id.as_str());
            let stream = app.default_bucket().get_stream(&key, None).await.map_err(Stop::Retry)?;
            let stream = stream.ok_or_else(|| Stop::Failed(format!("image {image_id} has no staged data")))?;
            let size = app.images.get(image_id).await?.and_then(|i| i.size);
            Ok((Some(stream), size, None))
        }
        ImportMethod::WebDownload => {
            let uri = request.uri.as_deref().unwrap_or_default();
            let body = web::open(uri, filter(app)?, &[]).await.map_err(web_failure)?;
            Ok((body.stream, body.length, None))
        }
        ImportMethod::GlanceDownload => {
            let remote = request.remote.as_ref().ok_or_else(|| Stop::Failed("no remote image".into()))?;
            let token = token.ok_or_else(|| Stop::Failed("glance-download needs the caller's token".into()))?;
            let Ok(AuthMode::Keystone(settings)) = &app.config.auth else {
                return Err(Stop::Failed("glance-download needs the catalog in keystone mode".into()));
            };
            let endpoint = crate::store::keystone::image_endpoint(settings, token, &remote.region, &remote.interface)
                .await
                .map_err(Stop::Failed)?;
            let headers = [("X-Auth-Token", token)];
            let base = endpoint.trim_end_matches('/');
            let record = web::get_json(&format!("{base}/v2/images/{}", remote.image_id), filter(app)?, &headers)
                .await
                .map_err(web_failure)?
                .ok_or_else(|| Stop::Failed(format!("image {} was not found in {base}", remote.image_id)))?;
            if record.get("status").and_then(Value::as_str) != Some("active") {
                return Err(Stop::Failed(format!("remote image {} is not active", remote.image_id)));
            }
            let body = web::open(&format!("{base}/v2/images/{}/file", remote.image_id), filter(app)?, &headers)
                .await
                .map_err(web_failure)?;
            Ok((body.stream, body.length, Some(record)))
        }
        ImportMethod::CopyImage => Err(Stop::Failed("copy-image reads from the image's own stores".into())),
    }
}

fn filter(app: &App) -> Result<&crate::domain::import::uri_filter::UriFilter, Stop> {
    app.config.uri_filter.as_ref().map_err(|e| Stop::Failed(format!("the URI filter is misconfigured: {e}")))
}

fn web_failure(error: WebError) -> Stop {
    Stop::Failed(error.to_string())
}

/// `api_image_import`: glance-direct, web-download, glance-download and
/// copy-image, to every target store.
async fn run_import(app: &Rc<App>, task: &Task, token: Option<&str>) -> Result<Value, Stop> {
    let request = import_request(task)?;
    let image_id = task
        .image_id
        .as_deref()
        .and_then(ImageId::parse)
        .ok_or_else(|| Stop::Failed("the task names no image".into()))?;
    let targets = targets_of(task);
    let Some(image) = app.images.get(&image_id).await? else {
        return Err(Stop::Failed(format!("image {image_id} was deleted before the import ran")));
    };
    if image.properties.get(crate::domain::import::request::IMPORT_TASK) != Some(&task.id) {
        return Err(Stop::Failed(format!("image {image_id} is no longer locked by this import")));
    }
    if request.method == ImportMethod::CopyImage {
        return run_copy(app, task, &image, &targets, request.all_stores_must_succeed).await;
    }

    let mut stored: Option<StoredData> = None;
    let mut done: Vec<String> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut remote_record = None;
    for store in &targets {
        let bucket = app.bucket(store)?;
        let attempt = match &stored {
            None => {
                let (stream, length, record) = match open_source(app, &request, &image_id, token).await {
                    Ok(source) => source,
                    Err(stop) => {
                        revert_import(app, &image_id, &task.id, request.method, &[]).await?;
                        return Err(stop);
                    }
                };
                remote_record = record;
                let heartbeat = task_heartbeat(app.clone(), task.id.clone());
                bucket
                    .put_stream(&object_key(image_id.as_str()), stream, length, limits(app), heartbeat)
                    .await
                    .map_err(|f| upload_failure(store, f))
            }
            Some(data) => {
                let first = app.bucket(&done[0])?;
                copy_between(app, &task.id, first, bucket, &image_id, data.size, &data.md5).await
            }
        };
        match attempt {
            Ok(data) => {
                stored.get_or_insert(data);
                done.push(store.clone());
                note_store(app, &image_id, store, true).await?;
            }
            Err(Stop::Retry(e)) if stored.is_none() => {
                revert_import(app, &image_id, &task.id, request.method, &done).await?;
                return Err(Stop::Retry(e));
            }
            Err(stop) => {
                failures.push(format!("{store}: {}", stop_text(&stop)));
                note_store(app, &image_id, store, false).await?;
                if stored.is_none() || request.all_stores_must_succeed {
                    revert_import(app, &image_id, &task.id, request.method, &done).await?;
                    return Err(Stop::Failed(format!("import to {}", failures.join("; "))));
                }
            }
        }
    }
    let Some(data) = stored else {
        revert_import(app, &image_id, &task.id, request.method, &done).await?;
        return Err(Stop::Failed("no store was written".into()));
    };
    let task_id = task.id.clone();
    let locations: Vec<Location> =
        done.iter().map(|store| Location::in_r2(store, &object_key(image_id.as_str()))).collect();
    let finished = update(
        app,
        &image_id,
        |image| Ok(Some(image.status.transition(ImageEvent::DataStored).map_err(|e| Stop::Failed(e.to_string()))?)),
        |image| {
            image.size = Some(data.size);
            image.checksum = Some(data.md5.clone());
            image.os_hash_algo = Some(HASH_ALGO.into());
            image.os_hash_value = Some(data.sha512.clone());
            image.virtual_size = image.virtual_size_of(data.size);
            image.locations = locations.clone();
            if let Some(record) = &remote_record {
                copy_remote_record(image, record);
            }
            image.end_import(&task_id);
        },
    )
    .await?;
    if finished.is_none() {
        for store in &done {
            remove_object(app, store, &image_id).await;
        }
        return Err(Stop::Failed(format!("image {image_id} was deleted during the import; its data was discarded")));
    }
    if request.method == ImportMethod::GlanceDirect {
        let _ = app.default_bucket().delete(&staging_key(image_id.as_str())).await;
    }
    Ok(json!({ "image_id": image_id.as_str() }))
}

/// glance-download: the remote image's formats and the configured
/// properties come along.
fn copy_remote_record(image: &mut Image, record: &Value) {
    if let Some(format) = record.get("disk_format").and_then(Value::as_str).and_then(|f| DiskFormat::parse(f).ok()) {
        image.disk_format = Some(format);
    }
    if let Some(format) =
        record.get("container_format").and_then(Value::as_str).and_then(|f| ContainerFormat::parse(f).ok())
    {
        image.container_format = Some(format);
    }
    let Some(object) = record.as_object() else { return };
    for (key, value) in object {
        let wanted = REMOTE_PROPERTIES.iter().any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => key.starts_with(prefix),
            None => key == pattern,
        });
        if let (true, Some(text)) = (wanted, value.as_str()) {
            image.properties.insert(key.clone(), text.to_owned());
        }
    }
}

/// Records one store's outcome in the image's bookkeeping.
async fn note_store(app: &App, id: &ImageId, store: &str, succeeded: bool) -> Result<(), Stop> {
    update(app, id, |_| Ok(None), |image| image.import_store_done(store, succeeded)).await.map(|_| ())
}

/// Puts an image whose import failed back where Glance leaves it: every
/// object this import wrote removed (`written`), then (not for copy-image)
/// importing -> queued, and the lock released.
async fn revert_import(
    app: &App,
    id: &ImageId,
    task_id: &str,
    method: ImportMethod,
    written: &[String],
) -> Result<(), Stop> {
    for store in written {
        remove_object(app, store, id).await;
    }
    if method == ImportMethod::GlanceDirect {
        let _ = app.default_bucket().delete(&staging_key(id.as_str())).await;
    }
    let copy = method == ImportMethod::CopyImage;
    update(
        app,
        id,
        |image| {
            if copy || image.status != ImageStatus::Importing {
                return Ok(None);
            }
            Ok(Some(image.status.transition(ImageEvent::UploadFailed).map_err(|e| Stop::Failed(e.to_string()))?))
        },
        |image| {
            image.end_import(task_id);
            if !copy && image.status == ImageStatus::Importing {
                image.size = None;
                image.virtual_size = None;
                image.checksum = None;
                image.os_hash_algo = None;
                image.os_hash_value = None;
                image.locations.retain(|l| l.is_http());
            }
        },
    )
    .await
    .map(|_| ())
}

/// copy-image: copies the active image's data to each target store that
/// does not hold it; the image stays active whatever happens.
async fn run_copy(
    app: &Rc<App>,
    task: &Task,
    image: &Image,
    targets: &[String],
    must_succeed: bool,
) -> Result<Value, Stop> {
    let (Some(size), Some(md5)) = (image.size, image.checksum.clone()) else {
        revert_import(app, &image.id, &task.id, ImportMethod::CopyImage, &[]).await?;
        return Err(Stop::Failed(format!("image {} has no data to copy", image.id)));
    };
    let source_store = app
        .stores()
        .download_order(&image.store_ids())
        .into_iter()
        .find(|s| app.bucket(&s.id).is_ok())
        .map(|s| s.id.clone())
        .ok_or_else(|| Stop::Failed(format!("image {} is in no R2 store to copy from", image.id)))?;
    let mut failures = Vec::new();
    for store in targets {
        let copied =
            copy_between(app, &task.id, app.bucket(&source_store)?, app.bucket(store)?, &image.id, size, &md5).await;
        let key = object_key(image.id.as_str());
        let ok = copied.is_ok();
        if let Err(stop) = copied {
            failures.push(format!("{store}: {}", stop_text(&stop)));
        }
        let added = update(
            app,
            &image.id,
            |_| Ok(None),
            |image| {
                if ok && image.location_in(store).is_none() {
                    image.locations.push(Location::in_r2(store, &key));
                }
                image.import_store_done(store, ok);
            },
        )
        .await?;
        if added.is_none() {
            remove_object(app, store, &image.id).await;
            return Err(Stop::Failed(format!("image {} was deleted during the copy", image.id)));
        }
    }
    let task_id = task.id.clone();
    update(app, &image.id, |_| Ok(None), |image| image.end_import(&task_id)).await?;
    if !failures.is_empty() && must_succeed {
        return Err(Stop::Failed(format!("copy to {}", failures.join("; "))));
    }
    Ok(json!({ "image_id": image.id.as_str() }))
}

/// The legacy `import` task (`POST /v2/tasks`): creates the image from
/// `image_properties` and fills it from `import_from`.
async fn run_task_import(app: &Rc<App>, task: &Task) -> Result<Value, Stop> {
    let input = &task.input;
    let url = input.get("import_from").and_then(Value::as_str).unwrap_or_default().to_owned();
    let properties = input.get("image_properties").cloned().unwrap_or_else(|| json!({}));
    let now = now();
    let writer = Writer { is_admin: true, project_id: task.owner.as_deref() };
    let mut image = Image::from_create_request(&properties, writer, &now)
        .map_err(|e| Stop::Failed(format!("image_properties: {e}")))?;
    image.owner = task.owner.clone();
    // A retried run finds the image it created before.
    let existing =
        task.result.as_ref().and_then(|r| r.get("image_id")).and_then(Value::as_str).and_then(ImageId::parse);
    if let Some(id) = existing {
        image.id = id;
    } else if let Err(e) = app.images.insert(&image).await {
        return Err(Stop::Retry(e.to_string()));
    }
    let store = app.stores().default_store().id.clone();
    let begin = image.status.transition(ImageEvent::BeginUpload).map_err(|e| Stop::Failed(e.to_string()))?;
    if !app.images.move_status(&image.id, begin, &now).await? {
        return Err(Stop::Failed(format!("image {} is no longer queued", image.id)));
    }
    let body = match web::open(&url, filter(app)?, &[]).await {
        Ok(body) => body,
        Err(e) => return Err(requeue_task_image(app, &store, &image.id, e.to_string()).await),
    };
    let heartbeat = task_heartbeat(app.clone(), task.id.clone());
    let key = object_key(image.id.as_str());
    let data = match app.bucket(&store)?.put_stream(&key, body.stream, body.length, limits(app), heartbeat).await {
        Ok(data) => data,
        Err(failure) => {
            let message = stop_text(&upload_failure(&store, failure)).to_owned();
            return Err(requeue_task_image(app, &store, &image.id, message).await);
        }
    };
    let locations = [Location::in_r2(&store, &key)];
    let record = crate::store::images::DataRecord {
        size: data.size,
        checksum: &data.md5,
        os_hash_value: &data.sha512,
        virtual_size: image.virtual_size_of(data.size),
        locations: &locations,
    };
    let stored = ImageStatus::Saving.transition(ImageEvent::DataStored).map_err(|e| Stop::Failed(e.to_string()))?;
    if !app.images.record_data(&image.id, stored, record, &self::now()).await? {
        let _ = app.bucket(&store)?.delete(&key).await;
        return Err(Stop::Failed(format!("image {} was deleted during the import", image.id)));
    }
    Ok(json!({ "image_id": image.id.as_str() }))
}

/// A failed legacy import: no object left, the image queued again.
async fn requeue_task_image(app: &App, store: &str, id: &ImageId, message: String) -> Stop {
    remove_object(app, store, id).await;
    if let Ok(back) = ImageStatus::Saving.transition(ImageEvent::UploadFailed) {
        if let Err(e) = app.images.move_status(id, back, &now()).await {
            worker::console_warn!("could not requeue image {id}: {e}");
        }
    }
    Stop::Failed(message)
}

/// The runtime's name of a hash algorithm.
fn runtime_algorithm(algo: &str) -> &'static str {
    match algo {
        "md5" => "MD5",
        "sha1" => "SHA-1",
        "sha256" => "SHA-256",
        _ => "SHA-512",
    }
}

/// `location_import`: hashes an http location's data in the background
/// and checks it against the validation data. Stops early if the image is
/// deleted meanwhile.
async fn run_location(app: &Rc<App>, task: &Task) -> Result<Value, Stop> {
    let image_id = task
        .image_id
        .as_deref()
        .and_then(ImageId::parse)
        .ok_or_else(|| Stop::Failed("the task names no image".into()))?;
    let url = task.input.get("url").and_then(Value::as_str).unwrap_or_default().to_owned();
    let validation = ValidationData::parse(task.input.get("validation_data").filter(|v| !v.is_null()))
        .map_err(|e| Stop::Failed(e.to_string()))?
        .unwrap_or_default();
    let algo = validation.os_hash_algo.clone().unwrap_or_else(|| HASH_ALGO.into());
    let stop = AbortController::new().map_err(|_| Stop::Retry("no AbortController".into()))?;
    let watcher = watch_deletion(app, &image_id, &stop);
    let algorithms = ["MD5", runtime_algorithm(&algo)];
    let digest = web::digest(&url, filter(app)?, &algorithms, &stop);
    futures_util::pin_mut!(watcher);
    futures_util::pin_mut!(digest);
    let hashed = match futures_util::future::select(digest, watcher).await {
        futures_util::future::Either::Left((hashed, _)) => hashed,
        futures_util::future::Either::Right(_) => {
            return Err(Stop::Failed(format!("image {image_id} was deleted; hashing cancelled")))
        }
    };
    let (size, digests) = match hashed {
        Ok(found) => found,
        Err(e) => {
            fail_location(app, &image_id).await?;
            return Err(Stop::Failed(format!("hashing {url} failed: {e}")));
        }
    };
    let (md5, value) = (digests[0].clone(), digests[1].clone());
    let mismatch = validation.checksum.as_ref().is_some_and(|c| *c != md5)
        || validation.os_hash_value.as_ref().is_some_and(|v| *v != value);
    if mismatch {
        fail_location(app, &image_id).await?;
        return Err(Stop::Failed(format!(
            "the data at {url} does not match the validation data (md5 {md5}, {algo} {value})"
        )));
    }
    let written = update(
        app,
        &image_id,
        |image| {
            Ok(match image.status {
                ImageStatus::Importing => {
                    Some(image.status.transition(ImageEvent::DataStored).map_err(|e| Stop::Failed(e.to_string()))?)
                }
                _ => None,
            })
        },
        |image| {
            image.size = Some(size);
            image.virtual_size = image.virtual_size_of(size);
            image.checksum = Some(md5.clone());
            image.os_hash_algo = Some(algo.clone());
            image.os_hash_value = Some(value.clone());
        },
    )
    .await?;
    if written.is_none() {
        return Err(Stop::Failed(format!("image {image_id} was deleted; hashing cancelled")));
    }
    Ok(json!({ "image_id": image_id.as_str() }))
}

/// Resolves once image `id` is gone (checked every 2 s), aborting `stop`.
async fn watch_deletion(app: &App, id: &ImageId, stop: &AbortController) {
    loop {
        worker::Delay::from(std::time::Duration::from_secs(2)).await;
        if matches!(app.images.get(id).await, Ok(None)) {
            stop.abort();
            return;
        }
    }
}

/// A location whose data failed validation: an importing image goes back
/// to queued with no hashes (its http location stays, as in Glance).
async fn fail_location(app: &App, id: &ImageId) -> Result<(), Stop> {
    update(
        app,
        id,
        |image| {
            Ok(match image.status {
                ImageStatus::Importing => {
                    Some(image.status.transition(ImageEvent::UploadFailed).map_err(|e| Stop::Failed(e.to_string()))?)
                }
                _ => None,
            })
        },
        |image| {
            if image.status == ImageStatus::Importing {
                image.checksum = None;
                image.os_hash_algo = None;
                image.os_hash_value = None;
                image.size = None;
                image.virtual_size = None;
            }
        },
    )
    .await
    .map(|_| ())
}

/// The Queue consumer's pre-cache of image `image_id`: reads the image's
/// data from its heaviest store and puts it into the edge cache under the
/// key recorded when it was queued, then records it cached. An entry that
/// was dequeued, or an image that is gone or no longer active, ends the job
/// quietly; `Err` asks the queue to retry.
async fn precache(app: &App, image_id: &str) -> Result<(), String> {
    let entries = &app.cache_entries;
    let Some(entry) = entries.get(image_id).await.map_err(|e| e.to_string())? else {
        return Ok(()); // dequeued meanwhile
    };
    if entry.state != CacheState::Queued {
        return Ok(()); // a download filled it first
    }
    let image = match crate::domain::image::ImageId::parse(image_id) {
        Some(id) => app.images.get(&id).await.map_err(|e| e.to_string())?,
        None => None,
    };
    let Some(image) = image.filter(|image| image_cache::check_cacheable(image).is_ok()) else {
        entries.dequeue(image_id).await.map_err(|e| e.to_string())?;
        return Ok(());
    };
    let (Some(checksum), Some(size)) = (image.checksum.as_deref(), image.size) else { return Ok(()) };
    let Some(cache) = EdgeCache::open() else {
        return Err("the runtime has no edge cache (caches.default)".into());
    };
    if size == 0 {
        // Empty data: nothing to fetch or to put; recorded cached, 0 bytes.
        return image_cache::record_fill(entries, &cache, image_id, checksum, &entry.cache_key, 0).await;
    }
    let body = super::data::open_whole(app, &image).await.map_err(|e| e.message)?;
    cache.put(&entry.cache_key, body, size).await?;
    image_cache::record_fill(entries, &cache, image_id, checksum, &entry.cache_key, size).await
}

/// Drops a pre-cache job that used up its retries from the queue's list.
async fn drop_precache(app: &App, image_id: &str) -> Result<(), String> {
    app.cache_entries.dequeue(image_id).await.map(|_| ()).map_err(|e| e.to_string())
}
