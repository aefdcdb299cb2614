//! Oversized input: every value that would be stored in D1 is bounded where
//! it is parsed, so a 3 MB value is a JSON 4xx naming the problem (never a
//! 500 from D1's row limit), and nothing was done: no task recorded, the
//! image unchanged. The bounds (`MAX_URL_BYTES`, `MAX_METADATA_BYTES`,
//! `MAX_REQUEST_BYTES` in `domain::image::location` and
//! `domain::import::request`) are unit-tested at their edges; here each way
//! in is tried with 3 MB against the real catalog.
//!
//! The URLs are on the fixture server's port, which the catalogs' URI
//! filters allow: without the bounds they would pass the filter and reach D1.

use serde_json::{json, Value};

use crate::fixture_server::fixture;
use crate::helpers::{app, app_b, unique_tag, TestApp};

const THREE_MB: usize = 3 * 1024 * 1024;

/// A 3 MB URL the URI filter would let through.
fn huge_url() -> String {
    fixture().url(&format!("/{}", "a".repeat(THREE_MB)))
}

/// The image is still queued, with no location and no task.
fn assert_untouched(app: &TestApp, id: &str) {
    let image = app.show(id);
    assert_eq!(image["status"], "queued", "{image}");
    assert!(image.get("locations").is_none_or(|l| l == &json!([])), "{image}");
    assert_eq!(app.image_tasks(id), Vec::<Value>::new(), "no task was recorded for {id}");
}

#[test]
fn a_3_mb_location_url_is_400_and_nothing_is_started() {
    let id = app().create_importable(&unique_tag(), "huge location");
    let body = json!({
        "url": huge_url(),
        "validation_data": {"os_hash_algo": "sha256", "os_hash_value": "a".repeat(64)},
    });
    app().post_json(&format!("/v2/images/{id}/locations"), &body).assert_error(400, "url is too long");
    assert_untouched(app(), &id);
}

#[test]
fn a_3_mb_location_metadata_or_url_in_a_patch_is_400_and_the_image_is_unchanged() {
    let app = app_b();
    let image = app.create_image(json!({"container_format": "bare", "disk_format": "raw", "tags": [unique_tag()]}));
    let id = image["id"].as_str().unwrap();
    let small_url = fixture().url("/small");
    let ops = json!([{"op": "add", "path": "/locations/-",
                      "value": {"url": small_url, "metadata": {"note": "m".repeat(THREE_MB)}}}]);
    app.patch(id, "application/openstack-images-v2.1-json-patch", &ops).assert_error(400, "metadata is too large");
    let ops = json!([{"op": "add", "path": "/locations/-", "value": {"url": huge_url(), "metadata": {}}}]);
    app.patch(id, "application/openstack-images-v2.1-json-patch", &ops).assert_error(400, "url is too long");
    assert_untouched(app, id);
}

#[test]
fn a_3_mb_import_uri_is_400_and_no_task_is_recorded() {
    let id = app().create_importable(&unique_tag(), "huge uri");
    let body = json!({"method": {"name": "web-download", "uri": huge_url()}});
    app().import(&id, &body).assert_error(400, "method.uri is too long");
    assert_untouched(app(), &id);
}

#[test]
fn a_3_mb_import_request_is_413_whatever_carries_the_bulk() {
    // Glance ignores keys it does not know, but the body becomes the task's
    // input: its size is bounded as a whole.
    let id = app().create_importable(&unique_tag(), "huge body");
    let body = json!({"method": {"name": "web-download", "uri": fixture().url("/x")}, "note": "n".repeat(THREE_MB)});
    app().import(&id, &body).assert_error(413, "import request is too large");
    let body =
        json!({"method": {"name": "web-download", "uri": fixture().url("/x")}, "stores": ["s".repeat(THREE_MB)]});
    app().import(&id, &body).assert_error(400, "store id");
    assert_untouched(app(), &id);
}

#[test]
fn a_3_mb_legacy_task_input_is_a_4xx_and_no_task_is_created() {
    let tag = unique_tag();
    let input = |url: String, properties: Value| json!({"type": "import", "input": {"import_from": url, "import_from_format": "raw", "image_properties": properties}});
    let properties = json!({"name": "huge", "disk_format": "raw", "container_format": "bare", "tags": [tag]});
    app().post_json("/v2/tasks", &input(huge_url(), properties)).assert_error(400, "import_from is too long");
    let bulky = json!({"name": "huge", "disk_format": "raw", "container_format": "bare", "tags": [tag],
                       "description": "d".repeat(THREE_MB)});
    app().post_json("/v2/tasks", &input(fixture().url("/x"), bulky)).assert_error(413, "task input is too large");
    let recorded = app().d1_query(&format!("SELECT id FROM tasks WHERE input LIKE '%{tag}%'"));
    assert_eq!(recorded, Vec::<Value>::new(), "no task was recorded");
}

#[test]
fn other_stored_values_of_3_mb_are_400_too() {
    let big = "v".repeat(THREE_MB);
    app().post_json("/v2/images", &json!({"name": "n", "os_distro": big})).assert_error(400, "os_distro");
    app().post_json("/v2/images", &json!({ big.clone(): "v" })).assert_error(400, "Property key");
    let id = app().create_importable(&unique_tag(), "bounded");
    let ops = json!([{"op": "add", "path": "/os_distro", "value": big}]);
    app().patch(&id, "application/openstack-images-v2.1-json-patch", &ops).assert_error(400, "os_distro");
    let ops = json!([{"op": "replace", "path": "/tags", "value": [big]}]);
    app().patch(&id, "application/openstack-images-v2.1-json-patch", &ops).assert_error(400, "Tag");
    let image = app().show(&id);
    assert!(image.get("os_distro").is_none() && image["tags"].as_array().unwrap().len() == 1, "{image}");

    let shared = app().create_image(json!({"name": "shared", "visibility": "shared"}));
    let shared = shared["id"].as_str().unwrap();
    app().post_json(&format!("/v2/images/{shared}/members"), &json!({"member": big})).assert_error(400, "member");
    let members = app().get(&format!("/v2/images/{shared}/members")).json();
    assert_eq!(members["members"], json!([]), "{members}");
}
