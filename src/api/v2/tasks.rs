//! The tasks API (`/v2/tasks`, admin-only as Glance's `tasks_api_access`)
//! and an image's task list (`GET /v2/images/{id}/tasks`, API v2.12).

use serde_json::{json, Value};
use worker::{Request, Response};

use crate::api::app::App;
use crate::api::respond::{internal, json_response, now, read_json};
use crate::domain::access::policy::{self, Action};
use crate::domain::image::ImageId;
use crate::domain::import::request::check_task_input;
use crate::domain::task::{parse_create_request, Task, TaskKind, TaskQuery};
use crate::error::ApiError;

fn check_access(app: &App) -> Result<(), ApiError> {
    if policy::may_use_tasks_api(app.caller.caller()) {
        Ok(())
    } else {
        Err(ApiError::forbidden("The tasks API is for administrators only."))
    }
}

/// `GET /v2/tasks`.
pub async fn list(app: &App, raw_query: &str) -> Result<Response, ApiError> {
    check_access(app)?;
    let query = TaskQuery::parse(raw_query)?;
    let marker = match &query.marker {
        None => None,
        Some(id) => {
            Some(app.tasks.get(id).await?.ok_or_else(|| ApiError::bad_request(format!("No task found with ID {id}")))?)
        }
    };
    let (sql, params) = query.to_sql(None, marker.as_ref());
    let tasks = app.tasks.list(&sql, &params).await?;
    json_response(200, &query.list_json(&tasks))
}

/// `GET /v2/tasks/{id}`.
pub async fn show(app: &App, id: &str) -> Result<Response, ApiError> {
    check_access(app)?;
    let task = app
        .tasks
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Task with the given ID {id} could not be found.")))?;
    json_response(200, &task.to_image_task_json())
}

/// `POST /v2/tasks` (201): the legacy `import` task: the consumer creates
/// the image from `image_properties` and fills it from `import_from`.
pub async fn create(app: &App, req: &mut Request) -> Result<Response, ApiError> {
    check_access(app)?;
    let body: Value = read_json(req).await?;
    let (kind, input) = parse_create_request(&body)?;
    if kind != TaskKind::Import {
        return Err(ApiError::bad_request(format!("Tasks of type {} cannot be created.", kind.as_str())));
    }
    // The input is kept whole as the task's: bounded before anything is done.
    check_task_input(&input)?;
    let url = input.get("import_from").and_then(Value::as_str).unwrap_or_default();
    app.config.filter()?.check(url)?;
    let task = Task::new(
        kind,
        app.caller.project_id.clone(),
        input,
        None,
        Some(app.caller.request_id.clone()),
        app.caller.user_id.clone(),
        &now(),
    );
    app.tasks.insert(&task).await?;
    crate::api::jobs::enqueue(app, &task.id, None).await?;
    let mut response = json_response(201, &task.to_json())?;
    response.headers_mut().set("Location", &format!("{}{}", app.base_url, task.location())).map_err(internal)?;
    Ok(response)
}

/// `GET /v2/images/{id}/tasks`: every task of the image, oldest first.
pub async fn of_image(app: &App, id: &ImageId) -> Result<Response, ApiError> {
    let image = app.image_for(id, Action::Show).await?;
    let tasks = app.tasks.of_image(&image.id).await?;
    json_response(200, &json!({ "tasks": tasks.iter().map(Task::to_image_task_json).collect::<Vec<_>>() }))
}
