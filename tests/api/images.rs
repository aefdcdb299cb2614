use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::helpers::{app, unique_tag};

/// The keys Glance returns for a queued image (from the recorded create).
const RECORDED_KEYS: [&str; 22] = [
    "name",
    "disk_format",
    "container_format",
    "visibility",
    "size",
    "virtual_size",
    "status",
    "checksum",
    "protected",
    "min_ram",
    "min_disk",
    "owner",
    "os_hidden",
    "os_hash_algo",
    "os_hash_value",
    "id",
    "created_at",
    "updated_at",
    "tags",
    "self",
    "file",
    "schema",
];

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn create_returns_201_with_location_and_import_headers() {
    let reply = app().post_json("/v2/images", &json!({"name": "sample", "disk_format": "raw", "container_format": "bare", "os_distro": "debian", "tags": ["a", "b"]}));
    assert_eq!(reply.status, 201);
    let image = reply.json();
    let id = image["id"].as_str().unwrap();
    assert_eq!(reply.header("location"), Some(format!("{}/v2/images/{id}", app().base).as_str()));
    assert!(reply.header("openstack-image-import-methods").is_some());
    assert!(reply.header("openstack-image-store-ids").is_some());
    assert_eq!(image["os_distro"], "debian");
    assert_eq!(image["tags"], json!(["a", "b"]));
    assert_eq!(image["status"], "queued");
    let mut expected: BTreeSet<String> = RECORDED_KEYS.iter().map(|k| k.to_string()).collect();
    expected.insert("os_distro".into());
    assert_eq!(keys(&image), expected);
    assert_eq!(app().show(id), image, "show returns what create returned");
}

#[test]
fn create_with_no_attributes_gets_glances_defaults() {
    let image = app().create_image(json!({}));
    assert_eq!(keys(&image), RECORDED_KEYS.iter().map(|k| k.to_string()).collect());
    assert_eq!(image["visibility"], "shared");
    assert_eq!(image["protected"], false);
    assert_eq!(image["os_hidden"], false);
    assert_eq!((image["min_disk"].as_u64(), image["min_ram"].as_u64()), (Some(0), Some(0)));
    assert!(image["name"].is_null() && image["size"].is_null() && image["checksum"].is_null());
    let created = image["created_at"].as_str().unwrap();
    assert_eq!(created.len(), 20, "timestamps look like 2015-11-29T22:21:42Z: {created}");
    assert!(created.ends_with('Z'));
}

#[test]
fn create_with_a_given_id_keeps_it_and_a_reused_id_returns_409() {
    let id = uuid::Uuid::new_v4().to_string();
    let image = app().create_image(json!({"id": id}));
    assert_eq!(image["id"], id.as_str());
    app().post_json("/v2/images", &json!({"id": id})).assert_error(409, "already exists");
    // Even after deletion the id stays taken, as in Glance.
    assert_eq!(app().request("DELETE", &format!("/v2/images/{id}"), &[], None).status, 204);
    app().post_json("/v2/images", &json!({"id": id})).assert_error(409, "already exists");
}

#[test]
fn create_refuses_read_only_reserved_and_invalid_attributes() {
    for key in ["status", "checksum", "size", "created_at", "os_hash_value", "self"] {
        app().post_json("/v2/images", &json!({ key: "x" })).assert_error(403, "read-only");
    }
    for key in ["os_glance_importing_to_stores", "deleted", "location"] {
        app().post_json("/v2/images", &json!({ key: "x" })).assert_error(403, "reserved");
    }
    app().post_json("/v2/images", &json!({"locations": []})).assert_error(403, "locations");
    app().post_json("/v2/images", &json!({"disk_format": "nope"})).assert_error(400, "disk_format");
    app().post_json("/v2/images", &json!({"container_format": "nope"})).assert_error(400, "container_format");
    app().post_json("/v2/images", &json!({"visibility": "everyone"})).assert_error(400, "visibility");
    app().post_json("/v2/images", &json!({"min_ram": -1})).assert_error(400, "min_ram");
    app().post_json("/v2/images", &json!({"name": "n".repeat(256)})).assert_error(400, "name");
    app().post_json("/v2/images", &json!({"custom": 5})).assert_error(400, "custom");
    app().post_json("/v2/images", &json!({"id": "not-a-uuid"})).assert_error(400, "id");
    app().post_json("/v2/images", &json!({"tags": ["x".repeat(256)]})).assert_error(400, "Tag");
    let reply = app().request("POST", "/v2/images", &[("Content-Type", "application/json")], Some(b"{not json"));
    reply.assert_error(400, "Malformed JSON");
}

#[test]
fn delete_returns_204_then_the_image_is_gone() {
    let id = app().create_image(json!({"name": "doomed"}))["id"].as_str().unwrap().to_owned();
    assert_eq!(app().request("DELETE", &format!("/v2/images/{id}"), &[], None).status, 204);
    app().get(&format!("/v2/images/{id}")).assert_error(404, &id);
    app().request("DELETE", &format!("/v2/images/{id}"), &[], None).assert_error(404, &id);
}

#[test]
fn delete_of_a_protected_image_returns_403_and_keeps_it() {
    let id = app().create_image(json!({"protected": true}))["id"].as_str().unwrap().to_owned();
    app().request("DELETE", &format!("/v2/images/{id}"), &[], None).assert_error(403, "protected");
    assert_eq!(app().status_of(&id), "queued");
}

#[test]
fn tags_are_added_idempotently_and_removed() {
    let tag = unique_tag();
    let id = app().create_uploadable(&tag);
    let path = format!("/v2/images/{id}/tags/extra%20tag");
    assert_eq!(app().request("PUT", &path, &[], None).status, 204);
    assert_eq!(app().request("PUT", &path, &[], None).status, 204);
    assert_eq!(app().show(&id)["tags"], json!([tag.clone(), "extra tag"]));
    assert_eq!(app().request("DELETE", &path, &[], None).status, 204);
    assert_eq!(app().show(&id)["tags"], json!([tag]));
    app().request("DELETE", &path, &[], None).assert_error(404, "extra tag");
    let long = format!("/v2/images/{id}/tags/{}", "x".repeat(256));
    app().request("PUT", &long, &[], None).assert_error(400, "Tag");
    app()
        .request("PUT", "/v2/images/00000000-0000-0000-0000-000000000000/tags/x", &[], None)
        .assert_error(404, "No image");
}

#[test]
fn deactivate_and_reactivate_follow_glances_rules() {
    let id = app().create_uploadable(&unique_tag());
    let action = |verb: &str| app().request("POST", &format!("/v2/images/{id}/actions/{verb}"), &[], None);
    action("deactivate").assert_error(403, "queued");
    action("reactivate").assert_error(403, "queued");
    assert_eq!(app().upload(&id, b"data").status, 204);
    assert_eq!(action("deactivate").status, 204);
    assert_eq!(app().status_of(&id), "deactivated");
    assert_eq!(action("deactivate").status, 204, "repeating is a no-op");
    // The local identity is an admin, and admins may still download.
    assert_eq!(app().get(&format!("/v2/images/{id}/file")).body, b"data");
    assert_eq!(action("reactivate").status, 204);
    assert_eq!(action("reactivate").status, 204);
    assert_eq!(app().status_of(&id), "active");
}

#[test]
fn image_tasks_list_is_empty_for_uploaded_images() {
    let id = app().create_uploadable(&unique_tag());
    let reply = app().get(&format!("/v2/images/{id}/tasks"));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"tasks": []}));
}

#[test]
fn min_disk_and_min_ram_are_32_bit_and_stored_exactly() {
    // Glance's columns are 32-bit; 2^53+1 used to read back as 2^53.
    let id = app().create_image(json!({"name": "mins", "min_disk": 2147483647u64}))["id"].as_str().unwrap().to_owned();
    assert_eq!(app().show(&id)["min_disk"].as_u64(), Some(2147483647));
    for (field, value) in [
        ("min_disk", json!(2147483648u64)),
        ("min_ram", json!(9007199254740993u64)),
        ("min_ram", json!(9223372036854775807u64)),
        ("min_disk", json!(-1)),
    ] {
        app().post_json("/v2/images", &json!({ field: value })).assert_error(400, field);
        let ops = json!([{"op": "replace", "path": format!("/{field}"), "value": value}]);
        app().patch(&id, "application/openstack-images-v2.1-json-patch", &ops).assert_error(400, field);
    }
    app().post_json("/v2/images", &json!({"min_ram": 1.5})).assert_error(400, "min_ram");
    assert_eq!(app().show(&id)["min_disk"].as_u64(), Some(2147483647));
}

#[test]
fn an_empty_image_id_is_404_for_show_and_delete() {
    // Tempest's test_get_image_null_id and test_delete_image_null_id.
    app().get("/v2/images/").assert_error(404, "No image found");
    app().request("DELETE", "/v2/images/", &[], None).assert_error(404, "No image found");
}
