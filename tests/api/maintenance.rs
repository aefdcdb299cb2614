use std::time::Duration;

use serde_json::json;

use crate::helpers::{app, empty_or_absent, random_bytes, unique_tag, wait_until};

/// The tests here age rows behind the catalog's back and then fire the
/// cron, whose upkeep acts on every aged row: one test firing it while
/// another is still setting up would settle the other's rows early. Each
/// holds this for its whole run.
pub(crate) fn upkeep_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn the_cron_trigger_settles_uploads_whose_worker_died_and_removes_their_objects() {
    let _turn = upkeep_turn();
    // Simulate a worker killed mid-upload: the row says `saving` since long
    // ago, and a stray object sits in R2.
    let stalled = app().create_uploadable(&unique_tag());
    app().d1_execute(&format!(
        "UPDATE images SET status = 'saving', updated_at = '2000-01-01T00:00:00Z' WHERE id = '{stalled}'"
    ));
    let stray = std::env::temp_dir().join(format!("{stalled}.bin"));
    std::fs::write(&stray, b"half an upload").unwrap();
    app().put_object(&stalled, &stray);
    assert!(app().object_exists(&stalled));
    assert_eq!(app().status_of(&stalled), "saving");
    // An upload that is merely in progress (recently updated) is left alone.
    let busy = app().create_uploadable(&unique_tag());
    app().d1_execute(&format!("UPDATE images SET status = 'saving' WHERE id = '{busy}'"));

    let reply = app().get("/__scheduled?cron=*/5+*+*+*+*");
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));

    app().wait_for_status(&stalled, "queued", Duration::from_secs(20));
    assert!(!app().object_exists(&stalled), "the stray object must be gone");
    assert_eq!(app().status_of(&busy), "saving");
    // The settled image takes data again.
    assert_eq!(app().upload(&stalled, b"complete upload").status, 204);
    std::fs::remove_file(stray).unwrap();
}

#[test]
fn the_cron_trigger_aborts_multipart_uploads_nothing_has_fed_and_keeps_live_ones() {
    let _turn = upkeep_turn();
    // R2's binding cannot list unfinished multipart uploads, so the catalog
    // records each in D1 while it is in flight. A record with no progress
    // for longer than any live upload may stall belongs to a dead worker.
    let (old, live) = (format!("dead-{}", unique_tag()), format!("live-{}", unique_tag()));
    app().d1_execute(&format!(
        "INSERT INTO multipart_uploads (upload_id, object_key, progress_at) VALUES ('{old}', 'images/{old}', 1000), ('{live}', 'images/{live}', unixepoch())"
    ));
    let reply = app().get("/__scheduled?cron=*/5+*+*+*+*");
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let left: Vec<String> = app()
        .d1_query(&format!("SELECT upload_id FROM multipart_uploads WHERE upload_id IN ('{old}', '{live}')"))
        .iter()
        .map(|row| row["upload_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(left, vec![live.clone()]);
    app().d1_execute(&format!("DELETE FROM multipart_uploads WHERE upload_id = '{live}'"));
}

#[test]
fn finished_and_abandoned_multipart_uploads_leave_no_record_behind() {
    // 12 MiB of unknown length: an R2 multipart upload (10 MiB parts).
    let id = app().create_uploadable(&unique_tag());
    let data = crate::helpers::random_bytes(12 * 1024 * 1024, 12);
    let reply = app().request_chunked(
        "PUT",
        &format!("/v2/images/{id}/file"),
        &[("Content-Type", "application/octet-stream")],
        data.as_slice(),
    );
    assert_eq!(reply.status, 204);
    let records = app().d1_query(&format!("SELECT upload_id FROM multipart_uploads WHERE object_key = 'images/{id}'"));
    assert!(records.is_empty(), "a completed multipart upload is still recorded: {records:?}");
}

/// An ISO time `offset` ago in the catalog's format (`...T..:..:..Z`), as
/// SQLite computes it (`offset` like `-1 hour`).
fn sql_time(offset: &str) -> String {
    format!("strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '{offset}')")
}

/// The staged and stored objects R2 holds for an image.
fn objects_of(id: &str) -> Vec<String> {
    app().r2_keys_mentioning(id)
}

#[test]
fn the_cron_trigger_fails_an_import_whose_consumer_died_and_gives_the_image_back() {
    let _turn = upkeep_turn();
    // A glance-direct import whose queue consumer died mid-way: the image is
    // `importing` under the task's lock, the task `processing` and not
    // renewed for an hour, the staged data still there.
    let id = app().create_importable(&unique_tag(), "stuck import");
    let data = random_bytes(40 * 1024, 31);
    let reply = app().stage(&id, &data);
    assert_eq!(reply.status, 204, "stage: {}", String::from_utf8_lossy(&reply.body));
    assert!(!objects_of(&id).is_empty(), "staging stored an object");
    let task_id = locked_import(&id, "processing", json!({"name": "glance-direct"}), &sql_time("-1 hour"));
    let image = app().show(&id);
    assert_eq!(image["status"], "importing", "{image}");
    assert_eq!(image["os_glance_import_task"], task_id.as_str(), "{image}");
    let task = app().get(&format!("/v2/tasks/{task_id}"));
    assert_eq!(task.status, 200, "{}", String::from_utf8_lossy(&task.body));
    assert_eq!(task.json()["status"], "processing");

    app().fire_cron();

    let task = wait_until("the stalled task to fail", Duration::from_secs(20), || {
        let task = app().get(&format!("/v2/tasks/{task_id}")).json();
        if task["status"] == "failure" {
            Ok(task)
        } else {
            Err(task.to_string())
        }
    });
    assert!(!task["message"].as_str().unwrap_or_default().is_empty(), "a failed task says why: {task}");
    assert!(task["expires_at"].is_string(), "a finished task expires: {task}");
    let image = app().show(&id);
    assert_eq!(image["status"], "queued", "{image}");
    assert!(empty_or_absent(&image, "os_glance_import_task"), "the import lock must be released: {image}");
    assert!(empty_or_absent(&image, "os_glance_importing_to_stores"), "{image}");
    assert_eq!(image["os_glance_failed_import"], "primary", "the store counts as failed: {image}");
    assert!(image["size"].is_null() && image["checksum"].is_null(), "{image}");
    let left = objects_of(&id);
    assert!(left.is_empty(), "the staged data must be removed: {left:?}");
    // The image takes data again.
    assert_eq!(app().upload(&id, b"after the dead import").status, 204);
}

#[test]
fn the_cron_trigger_unstages_a_stage_that_died_and_leaves_a_live_one() {
    let _turn = upkeep_turn();
    // A stage whose worker died: `uploading`, no size recorded (only a
    // completed stage records one), no progress for long, an object behind.
    let dead = app().create_importable(&unique_tag(), "dead stage");
    assert_eq!(app().stage(&dead, &random_bytes(20 * 1024, 32)).status, 204);
    app().d1_execute(&format!(
        "UPDATE images SET size = NULL, progress_at = 1000, updated_at = '2000-01-01T00:00:00Z' WHERE id = '{dead}'"
    ));
    assert_eq!(app().status_of(&dead), "uploading");
    assert!(!objects_of(&dead).is_empty());
    // One with recent progress is a stage still going on.
    let live = app().create_importable(&unique_tag(), "live stage");
    assert_eq!(app().stage(&live, &random_bytes(20 * 1024, 33)).status, 204);
    app().d1_execute(&format!("UPDATE images SET size = NULL WHERE id = '{live}'"));
    // And a completed stage (size recorded) is never touched, however old.
    let complete = app().create_importable(&unique_tag(), "complete stage");
    assert_eq!(app().stage(&complete, &random_bytes(20 * 1024, 34)).status, 204);
    app().d1_execute(&format!(
        "UPDATE images SET progress_at = 1000, updated_at = '2000-01-01T00:00:00Z' WHERE id = '{complete}'"
    ));

    app().fire_cron();

    app().wait_for_status(&dead, "queued", Duration::from_secs(20));
    let left = objects_of(&dead);
    assert!(left.is_empty(), "the dead stage's object must be removed: {left:?}");
    assert!(app().show(&dead)["size"].is_null());
    assert_eq!(app().status_of(&live), "uploading");
    assert!(!objects_of(&live).is_empty(), "a live stage keeps its data");
    assert_eq!(app().status_of(&complete), "uploading");
    assert!(!objects_of(&complete).is_empty(), "a completed stage keeps its data");
    // The settled image can be staged again.
    assert_eq!(app().stage(&dead, b"staged again").status, 204);
    assert_eq!(app().status_of(&dead), "uploading");
}

#[test]
fn the_cron_trigger_sweeps_expired_tasks_only() {
    let _turn = upkeep_turn();
    let (expired, live) = (uuid::Uuid::new_v4().to_string(), uuid::Uuid::new_v4().to_string());
    let input = r#"{"import_from": "http://example.com/x", "import_from_format": "raw", "image_properties": {}}"#;
    for (id, expires) in [(&expired, sql_time("-1 minute")), (&live, sql_time("+1 hour"))] {
        let done = sql_time("-2 hours");
        app().d1_execute(&format!(
            "INSERT INTO tasks (id, type, status, owner, input, message, expires_at, created_at, updated_at) \
             VALUES ('{id}', 'import', 'success', 'admin', '{input}', '', {expires}, {done}, {done})"
        ));
    }
    for id in [&expired, &live] {
        let reply = app().get(&format!("/v2/tasks/{id}"));
        assert_eq!(reply.status, 200, "task {id} before the sweep: {}", String::from_utf8_lossy(&reply.body));
    }

    app().fire_cron();

    wait_until("the expired task to be swept", Duration::from_secs(20), || {
        let status = app().get(&format!("/v2/tasks/{expired}")).status;
        if status == 404 {
            Ok(())
        } else {
            app().fire_cron();
            Err(format!("GET /v2/tasks/{expired} is {status}"))
        }
    });
    app().get(&format!("/v2/tasks/{expired}")).assert_error(404, "");
    let listed = app().get("/v2/tasks?limit=1000");
    assert_eq!(listed.status, 200);
    assert!(!listed.json()["tasks"].as_array().unwrap().iter().any(|t| t["id"] == expired.as_str()));
    let reply = app().get(&format!("/v2/tasks/{live}"));
    assert_eq!(reply.status, 200, "a task not yet expired stays: {}", String::from_utf8_lossy(&reply.body));
    assert_eq!(reply.json()["status"], "success");
}

/// An import task of image `id` recorded behind the catalog's back: in
/// `status`, importing with `method` to `primary`, created and last updated
/// at `created` (an SQL time), and holding the image's import lock, as a
/// consumer that died (processing) or a lost message (pending) leaves it.
fn locked_import(id: &str, status: &str, method: serde_json::Value, created: &str) -> String {
    let task_id = uuid::Uuid::new_v4().to_string();
    let input = json!({"image_id": id, "import_req": {"method": method}, "backend": ["primary"]});
    app().d1_execute(&format!(
        "INSERT INTO tasks (id, type, status, owner, image_id, input, message, created_at, updated_at) \
         VALUES ('{task_id}', 'api_image_import', '{status}', 'admin', '{id}', '{input}', '', {created}, {created})"
    ));
    app().d1_execute(&format!(
        "UPDATE images SET status = 'importing', \
         properties = json_set(properties, '$.os_glance_import_task', '{task_id}', '$.os_glance_importing_to_stores', 'primary') \
         WHERE id = '{id}'"
    ));
    task_id
}

/// A web-download task pending since `created`, as if its queue message
/// had been lost.
fn pending_import(id: &str, url: &str, created: &str) -> String {
    locked_import(id, "pending", json!({"name": "web-download", "uri": url}), created)
}

fn task_once_final(task_id: &str) -> serde_json::Value {
    wait_until("the task to finish", Duration::from_secs(30), || {
        let task = app().get(&format!("/v2/tasks/{task_id}")).json();
        if crate::helpers::task_is_final(&task) {
            Ok(task)
        } else {
            Err(task.to_string())
        }
    })
}

#[test]
fn a_task_waiting_for_its_lost_message_is_sent_again_never_failed_for_waiting() {
    let _turn = upkeep_turn();
    let data = random_bytes(64 * 1024, 77);
    let path =
        crate::fixture_server::fixture().serve(crate::fixture_server::Route::Fixed(std::sync::Arc::new(data.clone())));
    let url = crate::fixture_server::fixture().url(&path);
    let id = app().create_importable(&unique_tag(), "lost message");
    let task_id = pending_import(&id, &url, &sql_time("-1 hour"));

    app().fire_cron();

    let task = task_once_final(&task_id);
    assert_eq!(task["status"], "success", "the message sent again ran the import: {task}");
    let image = app().show(&id);
    assert_eq!(image["status"], "active", "{image}");
    assert_eq!(image["checksum"], crate::helpers::md5_hex(&data).as_str(), "{image}");
}

#[test]
fn a_task_that_never_started_within_a_day_is_failed_saying_its_message_was_lost() {
    let _turn = upkeep_turn();
    let url = crate::fixture_server::fixture().url("/never-fetched");
    let id = app().create_importable(&unique_tag(), "message lost for good");
    let task_id = pending_import(&id, &url, &sql_time("-25 hours"));

    app().fire_cron();

    let task = task_once_final(&task_id);
    assert_eq!(task["status"], "failure", "{task}");
    let message = task["message"].as_str().unwrap_or_default();
    assert!(message.contains("message was lost"), "{task}");
    assert_eq!(crate::fixture_server::fixture().hits("/never-fetched"), 0, "the lost task must not run");
    let image = app().show(&id);
    assert_eq!(image["status"], "queued", "{image}");
    assert!(empty_or_absent(&image, "os_glance_import_task"), "the lock is released: {image}");
}
