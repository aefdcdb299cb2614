//! A failure of ours is never blamed on the client. Catalog B runs with
//! `TEST_FAIL_R2_PUT=fault-injected` (a setting only `scripts/test` gives,
//! never `wrangler.toml`, and no request can change): the first R2 put of
//! each image named `fault-injected...` fails as a failing R2 would, after
//! the body has been read whole. An upload then answers 503 naming the
//! store, with the image queued again and nothing left in R2; an import is
//! retried by the queue and succeeds.

use std::time::Duration;

use serde_json::json;

use crate::fixture_server::{fixture, Route};
use crate::helpers::{app_b, md5_hex, random_bytes, sha512_hex, unique_tag, TestApp};

fn faulty_image(app: &TestApp) -> String {
    let image = app.create_image(json!({
        "name": format!("fault-injected {}", uuid::Uuid::new_v4()),
        "disk_format": "raw", "container_format": "bare", "tags": [unique_tag()],
    }));
    image["id"].as_str().unwrap().to_owned()
}

fn assert_storage_failure(app: &TestApp, id: &str, reply: &crate::helpers::Reply) {
    reply.assert_error(503, "image store failed");
    let message = reply.json()["message"].as_str().unwrap().to_owned();
    assert!(!message.to_lowercase().contains("mismatch"), "a storage failure blamed on the body: {message}");
    let image = app.show(id);
    assert_eq!(image["status"], "queued", "{image}");
    assert!(image["size"].is_null() && image["checksum"].is_null(), "{image}");
    let left = app.r2_keys_mentioning(id);
    assert!(left.is_empty(), "a failed put left objects behind: {left:?}");
}

#[test]
fn an_upload_whose_store_fails_is_a_503_naming_storage_and_leaves_the_image_queued_and_r2_empty() {
    let app = app_b();
    let data = random_bytes(300 * 1024, 4242);
    let id = faulty_image(app);
    let reply = app.upload(&id, &data);
    assert_storage_failure(app, &id, &reply);
    // The store works again: the same upload now succeeds.
    assert_eq!(app.upload(&id, &data).status, 204);
    let image = app.show(&id);
    assert_eq!((image["status"].as_str(), image["checksum"].as_str()), (Some("active"), Some(md5_hex(&data).as_str())));
}

#[test]
fn a_chunked_upload_whose_store_fails_is_a_503_too() {
    let app = app_b();
    let data = random_bytes(3 * 1024 * 1024 + 5, 4243);
    let id = faulty_image(app);
    let reply = app.request_chunked(
        "PUT",
        &format!("/v2/images/{id}/file"),
        &[("Content-Type", "application/octet-stream")],
        std::io::Cursor::new(data.clone()),
    );
    assert_storage_failure(app, &id, &reply);
}

#[test]
fn an_import_whose_store_fails_is_retried_by_the_queue_and_succeeds() {
    let app = app_b();
    let data = random_bytes(256 * 1024, 4244);
    let path = fixture().serve(Route::Fixed(std::sync::Arc::new(data.clone())));
    let url = fixture().url(&path);
    let id = faulty_image(app);
    let reply = app.import(&id, &json!({"method": {"name": "web-download", "uri": url}}));
    assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
    let image = app.wait_for_import(&id, Duration::from_secs(60));
    let tasks = app.image_tasks(&id);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["status"], "success", "the queue retried the run: {tasks:?}");
    assert_eq!(image["status"], "active", "{image}");
    assert_eq!(image["checksum"], md5_hex(&data).as_str(), "{image}");
    assert_eq!(image["os_hash_value"], sha512_hex(&data).as_str(), "{image}");
    assert!(fixture().hits(&path) >= 2, "the source was read once: the failed run was not retried");
    let download = app.get(&format!("/v2/images/{id}/file"));
    assert!(download.body == data, "the bytes stored after the retry differ");
}
