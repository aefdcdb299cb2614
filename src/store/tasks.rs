//! Tasks in D1 (`tasks`, migration 0005): the record of every import and
//! location-hashing job. Status moves are compare-and-set on the expected
//! status, so a redelivered queue message cannot run a finished task again
//! and two consumers cannot both start one.

use serde::Deserialize;

use super::d1::Db;
use super::StoreError;
use crate::domain::image::ImageId;
use crate::domain::listing::SqlValue;
use crate::domain::task::{Task, TaskKind, TaskStatus, TaskTransition};

/// Tasks in D1.
pub struct Tasks {
    db: Db,
}

#[derive(Deserialize)]
struct TaskRow {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    status: String,
    owner: Option<String>,
    image_id: Option<String>,
    request_id: Option<String>,
    user_id: Option<String>,
    input: String,
    result: Option<String>,
    message: String,
    expires_at: Option<String>,
    created_at: String,
    updated_at: String,
}

fn corrupt(what: &str, id: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} of task {id}"))
}

impl TryFrom<TaskRow> for Task {
    type Error = StoreError;
    fn try_from(row: TaskRow) -> Result<Task, StoreError> {
        let status = TaskStatus::parse(&row.status).ok_or_else(|| corrupt("status", &row.id))?;
        let image_id = match row.image_id.as_deref() {
            None => None,
            Some(raw) => Some(ImageId::parse(raw).ok_or_else(|| corrupt("image_id", &row.id))?),
        };
        Ok(Task {
            kind: TaskKind::parse(&row.kind).ok_or_else(|| corrupt("type", &row.id))?,
            status,
            owner: row.owner,
            image_id,
            request_id: row.request_id,
            user_id: row.user_id,
            input: serde_json::from_str(&row.input).map_err(|_| corrupt("input", &row.id))?,
            result: row
                .result
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|_| corrupt("result", &row.id))?,
            message: row.message,
            expires_at: row.expires_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
            id: row.id,
        })
    }
}

fn text(value: Option<&str>) -> SqlValue {
    value.map_or(SqlValue::Null, |s| SqlValue::Text(s.to_owned()))
}

impl Tasks {
    /// Wraps the D1 binding.
    pub fn new(db: Db) -> Tasks {
        Tasks { db }
    }

    async fn rows(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Task>, StoreError> {
        self.db.rows::<TaskRow>(sql, params).await?.into_iter().map(Task::try_from).collect()
    }

    /// Records a new task.
    pub async fn insert(&self, task: &Task) -> Result<(), StoreError> {
        let sql = "INSERT INTO tasks (id, type, status, owner, image_id, request_id, user_id, input, result, message, expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
        let params = [
            SqlValue::Text(task.id.clone()),
            SqlValue::Text(task.kind.as_str().into()),
            SqlValue::Text(task.status.as_str().into()),
            text(task.owner.as_deref()),
            text(task.image_id.as_ref().map(ImageId::as_str)),
            text(task.request_id.as_deref()),
            text(task.user_id.as_deref()),
            SqlValue::Text(task.input.to_string()),
            task.result.as_ref().map_or(SqlValue::Null, |r| SqlValue::Text(r.to_string())),
            SqlValue::Text(task.message.clone()),
            text(task.expires_at.as_deref()),
            SqlValue::Text(task.created_at.clone()),
            SqlValue::Text(task.updated_at.clone()),
        ];
        self.db.insert(sql, &params).await.map(|_| ())
    }

    /// The task, unless missing or swept.
    pub async fn get(&self, id: &str) -> Result<Option<Task>, StoreError> {
        let rows = self.rows("SELECT * FROM tasks WHERE id = ? AND deleted = 0", &[SqlValue::Text(id.into())]).await?;
        Ok(rows.into_iter().next())
    }

    /// Makes `transition` (the one [`Task::begin`], [`Task::succeed`] or
    /// [`Task::fail`] returned for `task`) with the task's result, message
    /// and times, if the stored task is still in its `from` status: `false`
    /// when another run moved it first.
    pub async fn save(&self, task: &Task, transition: TaskTransition) -> Result<bool, StoreError> {
        let sql = "UPDATE tasks SET status = ?, result = ?, message = ?, expires_at = ?, updated_at = ?, input = ? WHERE id = ? AND status = ? AND deleted = 0";
        let params = [
            SqlValue::Text(transition.to().as_str().into()),
            task.result.as_ref().map_or(SqlValue::Null, |r| SqlValue::Text(r.to_string())),
            SqlValue::Text(task.message.clone()),
            text(task.expires_at.as_deref()),
            SqlValue::Text(task.updated_at.clone()),
            SqlValue::Text(task.input.to_string()),
            SqlValue::Text(task.id.clone()),
            SqlValue::Text(transition.from().as_str().into()),
        ];
        Ok(self.db.changes(sql, &params).await? == 1)
    }

    /// Renews a running task's update time (its run's heartbeat, or a
    /// pending task's message sent again).
    pub async fn touch(&self, id: &str, now: &str) -> Result<(), StoreError> {
        let sql = "UPDATE tasks SET updated_at = ? WHERE id = ? AND status IN (?, ?)";
        let params = [
            SqlValue::Text(now.into()),
            SqlValue::Text(id.into()),
            SqlValue::Text(TaskStatus::Pending.as_str().into()),
            SqlValue::Text(TaskStatus::Processing.as_str().into()),
        ];
        self.db.changes(sql, &params).await.map(|_| ())
    }

    /// Records the image a task created (the legacy import), unless it
    /// already names one.
    pub async fn set_image(&self, id: &str, image_id: &ImageId) -> Result<(), StoreError> {
        let sql = "UPDATE tasks SET image_id = ? WHERE id = ? AND image_id IS NULL";
        self.db.changes(sql, &[SqlValue::Text(image_id.as_str().into()), SqlValue::Text(id.into())]).await.map(|_| ())
    }

    /// The tasks of an image, oldest first.
    pub async fn of_image(&self, image_id: &ImageId) -> Result<Vec<Task>, StoreError> {
        self.rows(
            "SELECT * FROM tasks WHERE image_id = ? AND deleted = 0 ORDER BY created_at, id",
            &[SqlValue::Text(image_id.as_str().into())],
        )
        .await
    }

    /// Runs a list query built by `domain::task`.
    pub async fn list(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Task>, StoreError> {
        self.rows(sql, params).await
    }

    /// Tasks in `status` not updated since `before` (an ISO time): running
    /// tasks whose heartbeat stopped (their consumer died), or pending ones
    /// whose message may have been lost, for the upkeep.
    pub async fn not_updated_since(&self, status: TaskStatus, before: &str) -> Result<Vec<Task>, StoreError> {
        self.rows(
            "SELECT * FROM tasks WHERE deleted = 0 AND status = ? AND updated_at < ? LIMIT 100",
            &[SqlValue::Text(status.as_str().into()), SqlValue::Text(before.into())],
        )
        .await
    }

    /// Marks finished tasks that expired before `now` as deleted.
    pub async fn sweep_expired(&self, now: &str) -> Result<usize, StoreError> {
        self.db
            .changes(
                "UPDATE tasks SET deleted = 1 WHERE deleted = 0 AND expires_at IS NOT NULL AND expires_at < ?",
                &[SqlValue::Text(now.into())],
            )
            .await
    }
}
