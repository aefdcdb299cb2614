//! Glance's asynchronous tasks (`glance/domain/__init__.py` `Task`,
//! `glance/api/v2/tasks.py`): the task record and its status changes, its
//! three JSON views, the validation of `POST /v2/tasks`, and the
//! `GET /v2/tasks` query turned into SQL over the `tasks` table.
//!
//! The status machine itself is in [`status`]; a task changes only through
//! [`Task::begin`], [`Task::succeed`] and [`Task::fail`], each returning the
//! [`TaskTransition`] the store writes, and adding what Glance does around
//! it (the result or message, the expiry time of finished tasks).

pub mod status;

use serde_json::{json, Map, Value};

pub use self::status::{InvalidTaskTransition, TaskEvent, TaskStatus, TaskTransition};
use crate::domain::image::ImageId;
use crate::domain::listing::{page_link, rows_after, QueryError, SortPosition, SqlValue, DEFAULT_LIMIT, MAX_LIMIT};
use crate::domain::time::{format_utc, parse_iso8601};

/// Glance's `task_time_to_live` default: finished tasks expire after 48 hours.
pub const DEFAULT_TTL_HOURS: u64 = 48;

/// The kinds of task Glance records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskKind {
    /// The legacy `POST /v2/tasks` import (the only kind the tasks API creates).
    Import,
    /// An interoperable image import (`POST /v2/images/{id}/import`).
    ApiImageImport,
    /// Adding a location to an image (`POST /v2/images/{id}/locations`).
    LocationImport,
}

impl TaskKind {
    /// Every kind, in Glance's schema order.
    pub const ALL: [TaskKind; 3] = [TaskKind::Import, TaskKind::ApiImageImport, TaskKind::LocationImport];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Import => "import",
            TaskKind::ApiImageImport => "api_image_import",
            TaskKind::LocationImport => "location_import",
        }
    }

    /// The kind with this wire name.
    pub fn parse(raw: &str) -> Option<TaskKind> {
        TaskKind::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// A task as the catalog stores and shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The task id (a UUID).
    pub id: String,
    /// What the task does.
    pub kind: TaskKind,
    /// Where it is in its life.
    pub status: TaskStatus,
    /// The project that created it.
    pub owner: Option<String>,
    /// The request's `input` object.
    pub input: Value,
    /// What the task produced (an object), once finished.
    pub result: Option<Value>,
    /// Why it failed, or "".
    pub message: String,
    /// When a finished task may be scrubbed (`YYYY-MM-DDTHH:MM:SSZ`).
    pub expires_at: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// The image the task works on.
    pub image_id: Option<ImageId>,
    /// The request that created it (`x-openstack-request-id`).
    pub request_id: Option<String>,
    /// The user who created it.
    pub user_id: Option<String>,
}

impl Task {
    /// A fresh pending task with a new id.
    pub fn new(
        kind: TaskKind,
        owner: Option<String>,
        input: Value,
        image_id: Option<ImageId>,
        request_id: Option<String>,
        user_id: Option<String>,
        now: &str,
    ) -> Task {
        Task {
            id: uuid::Uuid::new_v4().hyphenated().to_string(),
            kind,
            status: TaskStatus::Pending,
            owner,
            input,
            result: None,
            message: String::new(),
            expires_at: None,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
            image_id,
            request_id,
            user_id,
        }
    }

    /// The worker picks the task up: pending -> processing.
    pub fn begin(&mut self, now: &str) -> Result<TaskTransition, InvalidTaskTransition> {
        self.apply(TaskEvent::Begin, now, 0)
    }

    /// Finishes a processing task successfully with its `result` object.
    pub fn succeed(
        &mut self,
        result: Value,
        now: &str,
        ttl_hours: u64,
    ) -> Result<TaskTransition, InvalidTaskTransition> {
        let transition = self.apply(TaskEvent::Succeed, now, ttl_hours)?;
        self.result = Some(result);
        Ok(transition)
    }

    /// Fails the task (pending or processing), saying why in `message`.
    pub fn fail(&mut self, message: &str, now: &str, ttl_hours: u64) -> Result<TaskTransition, InvalidTaskTransition> {
        let transition = self.apply(TaskEvent::Fail, now, ttl_hours)?;
        self.message = message.to_owned();
        Ok(transition)
    }

    /// Moves the task by `event`. Reaching success or failure starts the
    /// expiry clock, as Glance's `_set_task_status`: `expires_at` is `now`
    /// plus `ttl_hours`. A refused event changes nothing.
    fn apply(&mut self, event: TaskEvent, now: &str, ttl_hours: u64) -> Result<TaskTransition, InvalidTaskTransition> {
        let transition = self.status.transition(event)?;
        self.status = transition.to();
        self.updated_at = now.to_owned();
        if transition.to().is_final() {
            // `now` is always one of our own timestamps; should it not
            // parse, the task simply never expires rather than failing.
            let ttl = i64::try_from(ttl_hours.saturating_mul(3600)).unwrap_or(i64::MAX / 2);
            self.expires_at = parse_iso8601(now).map(|at| format_utc(at.saturating_add(ttl)));
        }
        Ok(transition)
    }

    /// `self`: where the task is shown.
    pub fn location(&self) -> String {
        format!("/v2/tasks/{}", self.id)
    }

    /// The fields every view shares. Glance leaves `expires_at` out until
    /// the task has finished (`_format_task` writes it only when set).
    fn view(&self, full: bool) -> Map<String, Value> {
        let mut view = Map::new();
        view.insert("id".into(), json!(self.id));
        view.insert("type".into(), json!(self.kind.as_str()));
        view.insert("status".into(), json!(self.status.as_str()));
        view.insert("owner".into(), json!(self.owner));
        if full {
            view.insert("input".into(), self.input.clone());
            view.insert("result".into(), self.result.clone().unwrap_or(Value::Null));
            view.insert("message".into(), json!(self.message));
        }
        if let Some(expires_at) = &self.expires_at {
            view.insert("expires_at".into(), json!(expires_at));
        }
        view.insert("created_at".into(), json!(self.created_at));
        view.insert("updated_at".into(), json!(self.updated_at));
        view.insert("self".into(), json!(self.location()));
        view.insert("schema".into(), json!("/v2/schemas/task"));
        view
    }

    /// `GET /v2/tasks/{id}`.
    pub fn to_json(&self) -> Value {
        Value::Object(self.view(true))
    }

    /// An entry of `GET /v2/tasks`: Glance leaves out `input`, `result` and
    /// `message` in lists.
    pub fn to_list_json(&self) -> Value {
        Value::Object(self.view(false))
    }

    /// An entry of `GET /v2/images/{id}/tasks`: the full view plus who and
    /// which request started it.
    pub fn to_image_task_json(&self) -> Value {
        let mut view = self.view(true);
        view.insert("image_id".into(), json!(self.image_id.as_ref().map(ImageId::as_str)));
        view.insert("request_id".into(), json!(self.request_id));
        view.insert("user_id".into(), json!(self.user_id));
        Value::Object(view)
    }
}

/// A `POST /v2/tasks` body Glance would refuse (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskRequestError {
    /// The body is not a JSON object.
    #[error("Task request body must be a JSON object")]
    NotAnObject,
    /// `type` or `input` is missing.
    #[error("Task '{0}' is required")]
    Missing(&'static str),
    /// A key other than `type` and `input`.
    #[error("Attribute '{0}' is not allowed when creating a task: only 'type' and 'input' may be given")]
    NotAllowed(String),
    /// A `type` that is not `import`.
    #[error("Invalid type value: {0}")]
    InvalidType(String),
    /// `input` is not an object.
    #[error("Task 'input' must be an object")]
    InputNotObject,
    /// An import input without one of its required keys (or of the wrong type).
    #[error("Input '{key}' is required for an import task and must be {expected}")]
    MissingInput {
        /// The input key.
        key: &'static str,
        /// What it must be ("a string", "an object").
        expected: &'static str,
    },
}

/// Validates a `POST /v2/tasks` body: only `import` tasks may be created
/// through the API, and their input names the data (`import_from`), its
/// format (`import_from_format`) and the new image (`image_properties`).
pub fn parse_create_request(body: &Value) -> Result<(TaskKind, Value), TaskRequestError> {
    let object = body.as_object().ok_or(TaskRequestError::NotAnObject)?;
    // Read-only attributes (`status`, `id`, ...) are the server's to set.
    if let Some(extra) = object.keys().find(|k| *k != "type" && *k != "input") {
        return Err(TaskRequestError::NotAllowed(extra.clone()));
    }
    let kind = object.get("type").ok_or(TaskRequestError::Missing("type"))?;
    let input = object.get("input").ok_or(TaskRequestError::Missing("input"))?;
    let kind = match kind.as_str().and_then(TaskKind::parse) {
        Some(TaskKind::Import) => TaskKind::Import,
        // The other kinds exist, but only Glance itself creates them.
        _ => return Err(TaskRequestError::InvalidType(kind.as_str().map_or_else(|| kind.to_string(), str::to_owned))),
    };
    let fields = input.as_object().ok_or(TaskRequestError::InputNotObject)?;
    for (key, expected) in
        [("import_from", "a string"), ("import_from_format", "a string"), ("image_properties", "an object")]
    {
        let ok = match fields.get(key) {
            Some(Value::String(_)) => expected == "a string",
            Some(Value::Object(_)) => expected == "an object",
            _ => false,
        };
        if !ok {
            return Err(TaskRequestError::MissingInput { key, expected });
        }
    }
    Ok((kind, input.clone()))
}

/// The keys `GET /v2/tasks` sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskSortKey {
    /// `created_at` (the default)
    CreatedAt,
    /// `updated_at`
    UpdatedAt,
    /// `id`
    Id,
    /// `type`
    Type,
    /// `status`
    Status,
    /// `expires_at` (NULL until a task finishes)
    ExpiresAt,
}

impl TaskSortKey {
    const ALL: [TaskSortKey; 6] = [
        TaskSortKey::CreatedAt,
        TaskSortKey::UpdatedAt,
        TaskSortKey::Id,
        TaskSortKey::Type,
        TaskSortKey::Status,
        TaskSortKey::ExpiresAt,
    ];

    /// The column (and query) name.
    pub fn column(self) -> &'static str {
        match self {
            TaskSortKey::CreatedAt => "created_at",
            TaskSortKey::UpdatedAt => "updated_at",
            TaskSortKey::Id => "id",
            TaskSortKey::Type => "type",
            TaskSortKey::Status => "status",
            TaskSortKey::ExpiresAt => "expires_at",
        }
    }

    fn value_of(self, task: &Task) -> SqlValue {
        let text = |s: &str| SqlValue::Text(s.to_owned());
        match self {
            TaskSortKey::CreatedAt => text(&task.created_at),
            TaskSortKey::UpdatedAt => text(&task.updated_at),
            TaskSortKey::Id => text(&task.id),
            TaskSortKey::Type => text(task.kind.as_str()),
            TaskSortKey::Status => text(task.status.as_str()),
            TaskSortKey::ExpiresAt => task.expires_at.as_deref().map_or(SqlValue::Null, text),
        }
    }
}

/// A parsed `GET /v2/tasks` request.
///
/// As Glance's `RequestDeserializer.index`, parameters other than the
/// filters, sort and paging ones are ignored (Glance passes them to the
/// database, which drops keys that are not columns). The `type` and `status`
/// filters are validated.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskQuery {
    /// Only tasks of this kind.
    pub kind: Option<TaskKind>,
    /// Only tasks in this status.
    pub status: Option<TaskStatus>,
    /// The sort key; `created_at` and `id` follow as tie-breakers.
    pub sort_key: TaskSortKey,
    /// Ascending or descending (default descending), for every key.
    pub descending: bool,
    /// Page size.
    pub limit: u32,
    /// Start after this task id.
    pub marker: Option<String>,
    /// The query as given (for `first`/`next`).
    pairs: Vec<(String, String)>,
}

fn bad(message: impl Into<String>) -> QueryError {
    QueryError(message.into())
}

impl TaskQuery {
    /// Parses a raw query string (without the `?`).
    pub fn parse(query: &str) -> Result<TaskQuery, QueryError> {
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let mut parsed = TaskQuery {
            kind: None,
            status: None,
            sort_key: TaskSortKey::CreatedAt,
            descending: true,
            limit: DEFAULT_LIMIT,
            marker: None,
            pairs: Vec::new(),
        };
        for (key, value) in &pairs {
            match key.as_str() {
                // Glance filters by `import` only (the kind the tasks API
                // creates): the other kinds are 400 too.
                "type" if !value.is_empty() => {
                    let kind = TaskKind::parse(value)
                        .filter(|kind| *kind == TaskKind::Import)
                        .ok_or_else(|| bad(format!("Invalid type value: {value}")))?;
                    parsed.kind = Some(kind);
                }
                "status" => {
                    let status =
                        TaskStatus::parse(value).ok_or_else(|| bad(format!("Invalid status value: {value}")))?;
                    parsed.status = Some(status);
                }
                "sort_key" => {
                    parsed.sort_key = TaskSortKey::ALL.into_iter().find(|k| k.column() == value).ok_or_else(|| {
                        bad(format!(
                            "Invalid sort_key '{value}': sort by {}.",
                            TaskSortKey::ALL.map(TaskSortKey::column).join(", ")
                        ))
                    })?;
                }
                "sort_dir" => {
                    parsed.descending = match value.as_str() {
                        "asc" => false,
                        "desc" => true,
                        other => return Err(bad(format!("Invalid sort direction: {other}"))),
                    }
                }
                "limit" => {
                    let n: i64 = value.trim().parse().map_err(|_| bad("limit param must be an integer"))?;
                    if n < 0 {
                        return Err(bad("limit param must be positive"));
                    }
                    parsed.limit = n.min(i64::from(MAX_LIMIT)) as u32;
                }
                "marker" => {
                    let id = uuid::Uuid::parse_str(value).map_err(|_| bad("Invalid marker format"))?;
                    parsed.marker = Some(id.hyphenated().to_string());
                }
                _ => {}
            }
        }
        parsed.pairs = pairs;
        Ok(parsed)
    }

    /// Sort keys in order: the requested one, then `created_at` and `id`
    /// as tie-breakers (Glance's `task_get_all`), all in one direction.
    fn sort(&self) -> Vec<TaskSortKey> {
        let mut keys = vec![self.sort_key];
        for tie_breaker in [TaskSortKey::CreatedAt, TaskSortKey::Id] {
            if !keys.contains(&tie_breaker) {
                keys.push(tie_breaker);
            }
        }
        keys
    }

    /// The SQL selecting one page of the `tasks` table: every task when
    /// `owner` is `None` (admins), else that project's; after `marker`
    /// when given (the caller loads it, and answers 400 if it is not found).
    pub fn to_sql(&self, owner: Option<&str>, marker: Option<&Task>) -> (String, Vec<SqlValue>) {
        let mut conditions = vec!["deleted = 0".to_owned()];
        let mut params = Vec::new();
        if let Some(owner) = owner {
            conditions.push("owner = ?".into());
            params.push(SqlValue::Text(owner.to_owned()));
        }
        if let Some(kind) = self.kind {
            conditions.push("type = ?".into());
            params.push(SqlValue::Text(kind.as_str().into()));
        }
        if let Some(status) = self.status {
            conditions.push("status = ?".into());
            params.push(SqlValue::Text(status.as_str().into()));
        }
        let keys = self.sort();
        if let Some(marker) = marker {
            let (condition, values) = self.after_marker(&keys, marker);
            conditions.push(condition);
            params.extend(values);
        }
        let dir = if self.descending { "DESC" } else { "ASC" };
        let order: Vec<String> = keys.iter().map(|k| format!("{} {dir}", k.column())).collect();
        let sql = format!(
            "SELECT * FROM tasks WHERE {} ORDER BY {} LIMIT {}",
            conditions.join(" AND "),
            order.join(", "),
            self.limit
        );
        (sql, params)
    }

    /// Rows strictly after `marker` in the sort order.
    fn after_marker(&self, keys: &[TaskSortKey], marker: &Task) -> (String, Vec<SqlValue>) {
        let positions: Vec<SortPosition> = keys
            .iter()
            .map(|key| SortPosition { column: key.column(), descending: self.descending, value: key.value_of(marker) })
            .collect();
        rows_after(&positions)
    }

    /// `first`: the query without its marker.
    pub fn first_link(&self) -> String {
        page_link("/v2/tasks", &self.pairs, None)
    }

    /// `next`: the query with the marker set to the page's last task.
    pub fn next_link(&self, last_id: &str) -> String {
        page_link("/v2/tasks", &self.pairs, Some(last_id))
    }

    /// The `GET /v2/tasks` body for one page: `next` only when the page is
    /// full (there may be more).
    pub fn list_json(&self, page: &[Task]) -> Value {
        let mut body = Map::new();
        body.insert("tasks".into(), Value::Array(page.iter().map(Task::to_list_json).collect()));
        body.insert("first".into(), json!(self.first_link()));
        body.insert("schema".into(), json!("/v2/schemas/tasks"));
        if let Some(last) = page.last().filter(|_| self.limit > 0 && page.len() as u64 >= u64::from(self.limit)) {
            body.insert("next".into(), json!(self.next_link(&last.id)));
        }
        Value::Object(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-01-01T00:00:00Z";

    fn import_input() -> Value {
        json!({
            "import_from": "https://example.com/a.qcow2",
            "import_from_format": "qcow2",
            "image_properties": {"name": "a"}
        })
    }

    const IMAGE: &str = "6a4d3e5c-0e0a-4e33-8b9b-1d3cb4a5e2f0";

    fn task() -> Task {
        Task::new(
            TaskKind::ApiImageImport,
            Some("p1".into()),
            json!({"image_id": "i1"}),
            ImageId::parse(IMAGE),
            Some("req-1".into()),
            Some("u1".into()),
            NOW,
        )
    }

    #[test]
    fn a_new_task_is_pending_with_a_uuid_and_no_expiry() {
        let t = task();
        assert_eq!(t.status, TaskStatus::Pending);
        assert!(uuid::Uuid::parse_str(&t.id).is_ok());
        assert_eq!(t.message, "");
        assert_eq!((t.expires_at.as_deref(), t.created_at.as_str(), t.updated_at.as_str()), (None, NOW, NOW));
    }

    #[test]
    fn finishing_a_task_sets_expires_at_after_the_ttl() {
        let mut t = task();
        let begun = t.begin("2026-01-01T00:00:05Z").unwrap();
        assert_eq!((begun.from(), begun.to()), (TaskStatus::Pending, TaskStatus::Processing));
        assert_eq!(t.status, TaskStatus::Processing);
        assert_eq!(t.expires_at, None);
        assert_eq!(t.updated_at, "2026-01-01T00:00:05Z");
        t.succeed(json!({"image_id": "i1"}), "2026-01-01T00:01:00Z", DEFAULT_TTL_HOURS).unwrap();
        assert_eq!(t.status, TaskStatus::Success);
        assert_eq!(t.expires_at.as_deref(), Some("2026-01-03T00:01:00Z"));
        assert_eq!(t.result, Some(json!({"image_id": "i1"})));
        let refused = t.fail("late", "2026-01-01T00:02:00Z", 48).unwrap_err();
        assert_eq!(refused, InvalidTaskTransition { from: TaskStatus::Success, event: TaskEvent::Fail });
        assert_eq!(t.updated_at, "2026-01-01T00:01:00Z", "a refused event changes nothing");
        assert_eq!(t.message, "", "a refused event changes nothing");

        let mut failed = task();
        failed.fail("boom", "2026-02-28T12:00:00Z", 24).unwrap();
        assert_eq!(failed.status, TaskStatus::Failure);
        assert_eq!(failed.message, "boom");
        assert_eq!(failed.expires_at.as_deref(), Some("2026-03-01T12:00:00Z"));
        let mut pending = task();
        assert!(pending.succeed(json!({}), NOW, 48).is_err(), "a pending task cannot succeed");
        assert_eq!(pending.result, None, "a refused success records no result");
    }

    #[test]
    fn the_three_views_have_glances_fields() {
        let mut t = task();
        t.id = "6a4d3e5c-0e0a-4e33-8b9b-1d3cb4a5e2f1".into();
        let full = t.to_json();
        assert_eq!(
            full,
            json!({
                "id": t.id, "type": "api_image_import", "status": "pending", "owner": "p1",
                "input": {"image_id": "i1"}, "result": null, "message": "",
                "created_at": NOW, "updated_at": NOW,
                "self": "/v2/tasks/6a4d3e5c-0e0a-4e33-8b9b-1d3cb4a5e2f1", "schema": "/v2/schemas/task"
            })
        );
        let keys: Vec<&str> = full.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "id",
                "type",
                "status",
                "owner",
                "input",
                "result",
                "message",
                "created_at",
                "updated_at",
                "self",
                "schema"
            ]
        );
        let list = t.to_list_json();
        for hidden in ["input", "result", "message"] {
            assert!(list.get(hidden).is_none(), "{hidden}");
        }
        assert_eq!(list["self"], full["self"]);
        let image = t.to_image_task_json();
        assert_eq!(
            (image["image_id"].as_str(), image["request_id"].as_str(), image["user_id"].as_str()),
            (Some(IMAGE), Some("req-1"), Some("u1"))
        );
        assert_eq!(image["input"], json!({"image_id": "i1"}));
        t.fail("x", NOW, 48).unwrap();
        assert_eq!(t.to_json()["expires_at"], "2026-01-03T00:00:00Z");
        assert_eq!(t.to_list_json()["expires_at"], "2026-01-03T00:00:00Z");
    }

    #[test]
    fn kinds_and_statuses_round_trip() {
        for kind in TaskKind::ALL {
            assert_eq!(TaskKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(TaskKind::parse("export"), None);
    }

    #[test]
    fn only_well_formed_import_tasks_may_be_created() {
        let body = json!({"type": "import", "input": import_input()});
        assert_eq!(parse_create_request(&body), Ok((TaskKind::Import, import_input())));

        let error = |body: Value| parse_create_request(&body).unwrap_err().to_string();
        assert_eq!(error(json!([])), "Task request body must be a JSON object");
        assert_eq!(error(json!({"input": import_input()})), "Task 'type' is required");
        assert_eq!(error(json!({"type": "import"})), "Task 'input' is required");
        assert_eq!(error(json!({"type": "api_image_import", "input": {}})), "Invalid type value: api_image_import");
        assert_eq!(error(json!({"type": "export", "input": {}})), "Invalid type value: export");
        assert_eq!(error(json!({"type": 7, "input": {}})), "Invalid type value: 7");
        assert_eq!(error(json!({"type": "import", "input": "x"})), "Task 'input' must be an object");
        assert!(error(json!({"type": "import", "input": import_input(), "status": "success"})).contains("'status'"));
        for key in ["import_from", "import_from_format", "image_properties"] {
            let mut input = import_input();
            input.as_object_mut().unwrap().remove(key);
            let message = error(json!({"type": "import", "input": input}));
            assert!(message.contains(key), "{message}");
        }
        let mut input = import_input();
        input["image_properties"] = json!("name=a");
        assert!(error(json!({"type": "import", "input": input})).contains("image_properties"));
    }

    fn query(q: &str) -> TaskQuery {
        TaskQuery::parse(q).unwrap()
    }

    fn query_error(q: &str) -> String {
        TaskQuery::parse(q).unwrap_err().0
    }

    #[test]
    fn list_query_defaults_and_validation() {
        let q = query("");
        assert_eq!(
            (q.sort_key, q.descending, q.limit, q.kind, q.status),
            (TaskSortKey::CreatedAt, true, 25, None, None)
        );
        let q = query("type=import&status=success&sort_key=expires_at&sort_dir=asc&limit=5000&unknown=x");
        assert_eq!(q.kind, Some(TaskKind::Import));
        assert_eq!(q.status, Some(TaskStatus::Success));
        assert_eq!((q.sort_key, q.descending, q.limit), (TaskSortKey::ExpiresAt, false, 1000));
        assert_eq!(query_error("type=export"), "Invalid type value: export");
        assert_eq!(query_error("type=api_image_import"), "Invalid type value: api_image_import");
        assert_eq!(query_error("type=location_import"), "Invalid type value: location_import");
        assert_eq!(query("type=").kind, None, "an empty filter is no filter, as in Glance");
        assert_eq!(query_error("status=done"), "Invalid status value: done");
        assert!(query_error("sort_key=owner").contains("Invalid sort_key"));
        assert_eq!(query_error("sort_dir=up"), "Invalid sort direction: up");
        assert_eq!(query_error("limit=x"), "limit param must be an integer");
        assert_eq!(query_error("limit=-1"), "limit param must be positive");
        assert_eq!(query_error("marker=nope"), "Invalid marker format");
        assert_eq!(
            query("marker=6A4D3E5C-0E0A-4E33-8B9B-1D3CB4A5E2F1").marker.as_deref(),
            Some("6a4d3e5c-0e0a-4e33-8b9b-1d3cb4a5e2f1")
        );
    }

    #[test]
    fn list_sql_has_the_filters_owner_and_order() {
        let (sql, params) = query("").to_sql(None, None);
        assert_eq!(sql, "SELECT * FROM tasks WHERE deleted = 0 ORDER BY created_at DESC, id DESC LIMIT 25");
        assert!(params.is_empty());
        let (sql, params) =
            query("type=import&status=failure&sort_key=status&sort_dir=asc&limit=3").to_sql(Some("p1"), None);
        assert_eq!(
            sql,
            "SELECT * FROM tasks WHERE deleted = 0 AND owner = ? AND type = ? AND status = ? ORDER BY status ASC, created_at ASC, id ASC LIMIT 3"
        );
        assert_eq!(
            params,
            vec![SqlValue::Text("p1".into()), SqlValue::Text("import".into()), SqlValue::Text("failure".into())]
        );
        let (sql, params) = query("sort_key=updated_at").to_sql(None, Some(&task()));
        assert!(sql.contains("(((updated_at < ? OR updated_at IS NULL)) OR (updated_at IS ? AND (created_at < ? OR created_at IS NULL)) OR (updated_at IS ? AND created_at IS ? AND (id < ? OR id IS NULL)))"), "{sql}");
        assert_eq!(sql.matches('?').count(), params.len());
    }

    #[test]
    fn links_and_list_body() {
        let q = query("limit=2&marker=6a4d3e5c-0e0a-4e33-8b9b-1d3cb4a5e2f1&status=success");
        assert_eq!(q.first_link(), "/v2/tasks?limit=2&status=success");
        assert_eq!(q.next_link("t2"), "/v2/tasks?limit=2&status=success&marker=t2");
        assert_eq!(query("").first_link(), "/v2/tasks");
        let page = [task(), task()];
        let body = q.list_json(&page);
        assert_eq!(body["tasks"].as_array().unwrap().len(), 2);
        assert_eq!(body["schema"], "/v2/schemas/tasks");
        assert_eq!(body["next"], json!(format!("/v2/tasks?limit=2&status=success&marker={}", page[1].id)));
        assert!(q.list_json(&page[..1]).get("next").is_none(), "a short page is the last");
    }

    /// The statements run on SQLite (D1's engine) with the table the
    /// migration creates, and paging through every sort visits every task
    /// once, in order.
    #[test]
    fn paging_on_sqlite_visits_every_task_once_in_order() {
        use rusqlite::types::Value as Sql;
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute_batch(
            "CREATE TABLE tasks(id TEXT PRIMARY KEY, type TEXT, status TEXT, owner TEXT, image_id TEXT, request_id TEXT, user_id TEXT, input TEXT, result TEXT, message TEXT, expires_at TEXT, created_at TEXT, updated_at TEXT, deleted INTEGER DEFAULT 0)",
        )
        .unwrap();
        let mut tasks = Vec::new();
        for i in 0..9 {
            // Shared timestamps and statuses force the tie-breakers to work.
            let created = format!("2026-01-0{}T00:00:00Z", 1 + i % 3);
            let mut t =
                Task::new(TaskKind::ALL[i % 3], Some(format!("p{}", i % 2)), json!({}), None, None, None, &created);
            if i % 2 == 0 {
                t.begin(&created).unwrap();
            }
            if i % 4 == 0 {
                t.fail("x", &format!("2026-01-0{}T00:00:00Z", 4 + i % 2), 48).unwrap();
            }
            let row = rusqlite::params![
                t.id,
                t.kind.as_str(),
                t.status.as_str(),
                t.owner,
                t.message,
                t.expires_at,
                t.created_at,
                t.updated_at
            ];
            db.execute(
                "INSERT INTO tasks(id, type, status, owner, input, message, expires_at, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, '{}', ?5, ?6, ?7, ?8)",
                row,
            )
            .unwrap();
            tasks.push(t);
        }
        db.execute(
            "INSERT INTO tasks(id, type, status, created_at, updated_at, deleted) \
             VALUES ('gone', 'import', 'success', 'x', 'x', 1)",
            [],
        )
        .unwrap();

        let run = |sql: &str, params: Vec<SqlValue>| -> Vec<String> {
            let values = params.into_iter().map(|p| match p {
                SqlValue::Null => Sql::Null,
                SqlValue::Text(t) => Sql::Text(t),
                SqlValue::Int(n) => Sql::Integer(n),
            });
            let mut statement = db.prepare(sql).unwrap();
            let rows =
                statement.query_map(rusqlite::params_from_iter(values), |row| row.get::<_, String>("id")).unwrap();
            rows.map(Result::unwrap).collect()
        };
        for key in TaskSortKey::ALL {
            for dir in ["asc", "desc"] {
                let all = query(&format!("sort_key={}&sort_dir={dir}&limit=100", key.column()));
                let (sql, params) = all.to_sql(None, None);
                let expected = run(&sql, params);
                assert_eq!(expected.len(), 9, "deleted tasks are hidden");
                let page_query = query(&format!("sort_key={}&sort_dir={dir}&limit=2", key.column()));
                let mut seen = Vec::new();
                let mut marker: Option<&Task> = None;
                loop {
                    let (sql, params) = page_query.to_sql(None, marker);
                    let page = run(&sql, params);
                    seen.extend(page.iter().cloned());
                    match page.last() {
                        Some(last) if page.len() == 2 => marker = tasks.iter().find(|t| &t.id == last),
                        _ => break,
                    }
                }
                assert_eq!(seen, expected, "{key:?} {dir}");
            }
        }
        let (sql, params) = query("limit=100").to_sql(Some("p1"), None);
        assert_eq!(run(&sql, params).len(), 4);
        let (sql, params) = query("status=failure&type=import").to_sql(None, None);
        assert_eq!(
            run(&sql, params).len(),
            tasks.iter().filter(|t| t.status == TaskStatus::Failure && t.kind == TaskKind::Import).count()
        );
    }
}
