//! The import queue's consumer: runs the tasks that `POST /import`,
//! `POST /v2/tasks` and `POST /locations` queued, outside any request. One
//! room per job kind: [`import`] (glance-direct, web-download,
//! glance-download), [`copy`] (copy-image), [`legacy`] (the `import` task
//! of the tasks API), [`location`] (hashing an http location); [`settle`]
//! puts an image back when its job fails.
//!
//! A message names a task; the task's input in D1 says what to do. This
//! module owns the task's life: a run begins it (pending -> processing, a
//! compare-and-set, so a redelivered message never runs a finished task),
//! beats while it works (so the upkeep fails only runs whose worker died),
//! and succeeds or fails it through the task machine. The messages of a
//! batch run side by side, so a slow source never holds the others.
//! Failures of the runtime itself (D1, R2, the queue) are retried by the
//! queue; after the retries the dead-letter consumer settles the task as a
//! failed run would.

mod copy;
mod import;
mod legacy;
mod location;
mod settle;

use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{join_all, select, Either};
use futures_util::pin_mut;
use serde_json::Value;
use worker::{Env, Message, MessageBatch, MessageExt};

use super::app::{metadata_db, App};
use super::config::Config;
use super::quota::QuotaError;
use super::respond::now;
use crate::context::RequestContext;
use crate::domain::image::data::UploadFailure;
use crate::domain::image::status::{Contended, InvalidTransition};
use crate::domain::stores::NotWritable;
use crate::domain::task::{InvalidTaskTransition, Task, TaskKind, TaskStatus};
use crate::domain::Misconfigured;
use crate::error::ApiError;
use crate::store::cache_entries::DataCentre;
use crate::store::d1::Db;
use crate::store::jobs::Job;
use crate::store::web::WebError;
use crate::store::StoreError;

/// How often a running task renews its update time, whatever it is doing
/// (waiting for a source's headers, hashing, copying).
const HEARTBEAT: Duration = Duration::from_secs(15);

/// Why a run stopped before finishing its task.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// For good: the task fails with this message.
    #[error("{0}")]
    Failed(String),
    /// The runtime failed (D1, R2, the queue): the queue retries the run.
    #[error("will be retried: {0}")]
    Retry(String),
}

/// A quota refusal fails the task with Glance's words; a usage or limits
/// that could not be read are retried.
impl From<QuotaError> for JobError {
    fn from(e: QuotaError) -> JobError {
        match e {
            QuotaError::Store(e) => e.into(),
            unavailable @ QuotaError::LimitsUnavailable(_) => JobError::Retry(unavailable.to_string()),
            other => JobError::Failed(other.to_string()),
        }
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> JobError {
        JobError::Retry(e.to_string())
    }
}

impl From<Contended> for JobError {
    fn from(e: Contended) -> JobError {
        JobError::Retry(e.to_string())
    }
}

impl From<InvalidTransition> for JobError {
    fn from(e: InvalidTransition) -> JobError {
        JobError::Failed(e.to_string())
    }
}

impl From<InvalidTaskTransition> for JobError {
    fn from(e: InvalidTaskTransition) -> JobError {
        JobError::Failed(e.to_string())
    }
}

impl From<UploadFailure> for JobError {
    fn from(failure: UploadFailure) -> JobError {
        match failure {
            UploadFailure::Storage(_) => JobError::Retry(failure.to_string()),
            other => JobError::Failed(other.to_string()),
        }
    }
}

impl From<WebError> for JobError {
    fn from(e: WebError) -> JobError {
        JobError::Failed(e.to_string())
    }
}

impl From<Misconfigured> for JobError {
    fn from(e: Misconfigured) -> JobError {
        JobError::Failed(format!("the catalog is misconfigured: {e}"))
    }
}

impl From<NotWritable> for JobError {
    fn from(e: NotWritable) -> JobError {
        JobError::Failed(e.to_string())
    }
}

/// An error of the request-side engine (the upload engine the legacy
/// import shares): ours (5xx) is retried, the source's fails the task.
impl From<ApiError> for JobError {
    fn from(error: ApiError) -> JobError {
        if error.status >= 500 {
            JobError::Retry(error.to_string())
        } else {
            JobError::Failed(error.message)
        }
    }
}

/// Handles one batch of the import queue (`dead_letter`: of its
/// dead-letter queue, whose tasks have used up their retries), every
/// message at once.
pub async fn consume(batch: MessageBatch<Job>, env: &Env, dead_letter: bool) {
    let caller = RequestContext::noauth_admin("req-import".into(), "");
    let app = match metadata_db(env)
        .and_then(|db| App::new(env, Db::new(db), Config::of(env), caller, String::new(), DataCentre::background()))
    {
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
    join_all(messages.into_iter().map(|message| handle(&app, message, dead_letter))).await;
}

/// Runs one message and acknowledges it, or asks for a retry.
async fn handle(app: &Rc<App>, message: Message<Job>, dead_letter: bool) {
    let job = message.body().clone();
    let outcome = match (&job.precache, dead_letter) {
        // Queued when pre-caching went through the queue: the consumer
        // cannot fill the cache of the data centre that asked (the Cache
        // API is per data centre), so the request's own isolate fills it
        // now (`api::precache`); the row such a job left queued goes with
        // the upkeep's sweep of stale fills.
        (Some(_), _) => Ok(()),
        (None, true) => give_up(app, &job.task_id, "The import failed after every retry (dead-letter queue).").await,
        (None, false) => run(app, &job).await,
    };
    match outcome {
        Ok(()) => message.ack(),
        Err(e) => {
            worker::console_warn!("job {job:?} failed: {e}");
            message.retry();
        }
    }
}

/// Runs one task to its end; `Err` asks the queue to retry.
async fn run(app: &Rc<App>, job: &Job) -> Result<(), JobError> {
    let Some(mut task) = app.tasks.get(&job.task_id).await? else {
        return Ok(());
    };
    match task.status {
        TaskStatus::Success | TaskStatus::Failure => return Ok(()),
        TaskStatus::Pending => {
            let begun = task.begin(&now())?;
            if !app.tasks.save(&task, begun).await? {
                return Ok(()); // another delivery took it
            }
        }
        // A redelivery of a run that died or asked for a retry: carry on
        // (every write of a run is idempotent or compare-and-set).
        TaskStatus::Processing => {}
    }
    let work = async {
        match task.kind {
            TaskKind::ApiImageImport => import::run(app, &task, job.token.as_deref()).await,
            TaskKind::Import => legacy::run(app, &task).await,
            TaskKind::LocationImport => location::run(app, &task).await,
        }
    };
    match beating(app, &task.id, work).await {
        Ok(result) => finish(app, task, Ending::Succeeded(result)).await,
        Err(JobError::Failed(message)) => {
            worker::console_warn!("task {} failed: {message}", task.id);
            finish(app, task, Ending::Failed(message)).await
        }
        Err(retry) => Err(retry),
    }
}

/// Runs `work`, renewing task `task_id`'s update time every [`HEARTBEAT`]
/// meanwhile: a running task whose time stops moving is one whose worker
/// died.
async fn beating<T>(app: &App, task_id: &str, work: impl std::future::Future<Output = T>) -> T {
    let beat = async {
        loop {
            worker::Delay::from(HEARTBEAT).await;
            if let Err(e) = app.tasks.touch(task_id, &now()).await {
                worker::console_warn!("could not record progress of task {task_id}: {e}");
            }
        }
    };
    pin_mut!(work);
    pin_mut!(beat);
    match select(work, beat).await {
        Either::Left((outcome, _)) => outcome,
        Either::Right(_) => unreachable!("the heartbeat never ends"),
    }
}

/// How a task ends.
enum Ending {
    /// With its result object.
    Succeeded(Value),
    /// Saying why it failed.
    Failed(String),
}

/// Moves the task to success or failure through the task machine.
async fn finish(app: &App, mut task: Task, ending: Ending) -> Result<(), JobError> {
    let ttl = app.config.task_ttl_hours;
    let transition = match ending {
        Ending::Succeeded(result) => task.succeed(result, &now(), ttl)?,
        Ending::Failed(message) => task.fail(&message, &now(), ttl)?,
    };
    app.tasks.save(&task, transition).await?;
    Ok(())
}

/// Settles a task nobody will finish (dead-letter queue, the upkeep finding
/// its worker gone, a message that could not be queued): the image goes
/// back as a failed run would leave it, the task fails with `reason`.
pub async fn give_up(app: &App, task_id: &str, reason: &str) -> Result<(), JobError> {
    let Some(task) = app.tasks.get(task_id).await? else { return Ok(()) };
    if task.status.is_final() {
        return Ok(());
    }
    if let Some(image_id) = &task.image_id {
        let settled = match task.kind {
            TaskKind::ApiImageImport => import::abandon(app, &task, image_id).await,
            TaskKind::LocationImport => location::fail_location(app, image_id).await,
            TaskKind::Import => legacy::abandon(app, image_id).await,
        };
        if let Err(e) = settled {
            worker::console_warn!("could not settle image {image_id} of task {task_id}: {e}");
        }
    }
    finish(app, task, Ending::Failed(reason.to_owned())).await
}

/// Sends task `task_id`'s message again (a pending task whose message was
/// lost, which the local queue does not keep over a restart).
pub async fn resend(app: &App, task_id: &str) -> Result<(), StoreError> {
    app.tasks.touch(task_id, &now()).await?;
    app.jobs.send(&Job { task_id: task_id.to_owned(), token: None, precache: None }).await
}

/// Queues task `task_id`'s run (`token`: the caller's, for a
/// glance-download). If the queue refuses, the task is settled at once as
/// a failed run (its image put back) and the caller gets a 503.
pub async fn enqueue(app: &App, task_id: &str, token: Option<String>) -> Result<(), ApiError> {
    let Err(e) = app.jobs.send(&Job { task_id: task_id.to_owned(), token, precache: None }).await else {
        return Ok(());
    };
    let reason = format!("The task could not be queued: {e}");
    if let Err(settling) = give_up(app, task_id, &reason).await {
        worker::console_error!("could not settle unqueued task {task_id}: {settling}");
    }
    let mut error = ApiError::unavailable("The task could not be queued; nothing was changed. Retry the request.");
    error.log_detail = Some(e.to_string());
    Err(error)
}

/// Puts back an image whose import began but whose task could not be
/// recorded (so it will never run): unlocked, and queued again.
pub async fn import_not_recorded(
    app: &App,
    id: &crate::domain::image::ImageId,
    task_id: &str,
    method: crate::domain::import::request::ImportMethod,
) {
    if let Err(e) = settle::revert(app, id, task_id, method, &[]).await {
        worker::console_error!("could not put back image {id} of unrecorded task {task_id}: {e}");
    }
}
