//! Glance's delayed delete (`delayed_delete = True` and the scrubber),
//! against catalog B (`DELAYED_DELETE=true`, `SCRUB_TIME_SECONDS=2`): a
//! deleted image with data is gone from the API at once but keeps its data
//! as `pending_delete`; the cron's scrubber removes the data once the scrub
//! time has passed and the row becomes `deleted`. An image without data is
//! deleted outright; a protected one is not deleted at all.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{app_b, random_bytes, unique_tag, wait_until, TestApp};

/// `SCRUB_TIME_SECONDS` of catalog B.
const SCRUB_TIME: Duration = Duration::from_secs(2);

/// Each test that looks for a `pending_delete` row holds this for its
/// whole run, and every test firing the cron on catalog B holds it meanwhile: another test's
/// scrubber run must not finish the delete it is looking at.
pub(crate) fn scrub_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn listed(app: &TestApp, tag: &str) -> Vec<String> {
    TestApp::ids(&app.get(&format!("/v2/images?tag={tag}")))
}

fn objects_of(app: &TestApp, id: &str) -> Vec<String> {
    app.r2_keys_mentioning(id).into_iter().filter(|k| k.starts_with("object ")).collect()
}

#[test]
fn deleting_an_active_image_keeps_its_data_until_the_scrubber_runs() {
    let _turn = scrub_turn();
    let app = app_b();
    let tag = unique_tag();
    let data = random_bytes(64 * 1024 + 5, 901);
    let id = app.create_active(&tag, &data, None);
    assert!(app.object_exists(&id), "the upload stored an object in the default store");
    assert_eq!(listed(app, &tag), vec![id.clone()]);

    let reply = app.delete(&format!("/v2/images/{id}"));
    assert_eq!(reply.status, 204, "{}", String::from_utf8_lossy(&reply.body));
    let deleted_at = Instant::now();

    // Gone from the API at once...
    app.get(&format!("/v2/images/{id}")).assert_error(404, "");
    assert_eq!(app.get(&format!("/v2/images/{id}/file")).status, 404);
    assert!(listed(app, &tag).is_empty(), "a pending-delete image is not listed");
    app.delete(&format!("/v2/images/{id}")).assert_error(404, "");
    // ...but its row is pending_delete and its data is still in R2.
    let row = app.d1_row("images", "status, deleted, deleted_at", &id);
    assert_eq!(row["status"], "pending_delete", "{row}");
    assert_eq!(row["deleted"], 1, "{row}");
    assert!(row["deleted_at"].is_string(), "{row}");
    assert!(!objects_of(app, &id).is_empty(), "the data must stay until the scrubber runs");

    // Before the scrub time the scrubber leaves it alone (only checked when
    // the cron fires within a second of the delete: deleted_at has whole
    // seconds, and a slower machine would be past the bound already).
    app.fire_cron();
    if deleted_at.elapsed() < Duration::from_secs(1) {
        assert!(!objects_of(app, &id).is_empty(), "scrubbed before SCRUB_TIME_SECONDS had passed");
        assert_eq!(app.d1_row("images", "status", &id)["status"], "pending_delete");
    }

    // After it, the cron scrubs: object gone, row deleted.
    std::thread::sleep((SCRUB_TIME + Duration::from_millis(1100)).saturating_sub(deleted_at.elapsed()));
    app.fire_cron();
    wait_until("the scrubber to remove the data", Duration::from_secs(20), || {
        let objects = objects_of(app, &id);
        let status = app.d1_row("images", "status", &id)["status"].clone();
        if objects.is_empty() && status == "deleted" {
            Ok(())
        } else {
            app.fire_cron();
            Err(format!("status {status}, objects {objects:?}"))
        }
    });
    assert!(!app.object_exists(&id), "wrangler still finds the object");
    let row = app.d1_row("images", "status, deleted", &id);
    assert_eq!(row["deleted"], 1, "{row}");
    app.get(&format!("/v2/images/{id}")).assert_error(404, "");
}

#[test]
fn deleting_a_queued_image_deletes_it_at_once() {
    let app = app_b();
    let tag = unique_tag();
    let id = app.create_uploadable(&tag);
    let reply = app.delete(&format!("/v2/images/{id}"));
    assert_eq!(reply.status, 204, "{}", String::from_utf8_lossy(&reply.body));
    app.get(&format!("/v2/images/{id}")).assert_error(404, "");
    assert!(listed(app, &tag).is_empty());
    // No data, nothing to scrub: deleted, never pending_delete.
    let row = app.d1_row("images", "status, deleted", &id);
    assert_eq!(row["status"], "deleted", "{row}");
    assert_eq!(row["deleted"], 1, "{row}");
    assert!(app.r2_keys_mentioning(&id).is_empty());
}

#[test]
fn a_protected_image_cannot_be_deleted() {
    let _turn = scrub_turn();
    let app = app_b();
    let tag = unique_tag();
    let image = app.create_image(
        json!({"name": "kept", "disk_format": "raw", "container_format": "bare", "tags": [tag], "protected": true}),
    );
    let id = image["id"].as_str().unwrap().to_owned();
    assert_eq!(app.upload(&id, b"protected data").status, 204);
    app.delete(&format!("/v2/images/{id}")).assert_error(403, "protected");
    let image = app.show(&id);
    assert_eq!(image["status"], "active", "{image}");
    assert_eq!(app.d1_row("images", "status, deleted", &id)["deleted"], 0);
    assert!(app.object_exists(&id));
    assert_eq!(app.get(&format!("/v2/images/{id}/file")).body, b"protected data");

    // Unprotected, it goes the delayed way like any image with data.
    let reply = app.patch(
        &id,
        "application/openstack-images-v2.1-json-patch",
        &json!([{"op": "replace", "path": "/protected", "value": false}]),
    );
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(app.delete(&format!("/v2/images/{id}")).status, 204);
    assert_eq!(app.d1_row("images", "status", &id)["status"], "pending_delete");
}
