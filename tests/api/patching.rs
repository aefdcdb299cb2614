use serde_json::{json, Value};

use crate::helpers::{app, unique_tag};

const V21: &str = "application/openstack-images-v2.1-json-patch";
const V20: &str = "application/openstack-images-v2.0-json-patch";

fn sample() -> (String, Value) {
    let image = app().create_image(
        json!({"name": "sample", "disk_format": "raw", "container_format": "bare", "k": "v", "tags": [unique_tag()]}),
    );
    (image["id"].as_str().unwrap().to_owned(), image)
}

#[test]
fn v2_1_add_and_replace_update_the_image() {
    let (id, _) = sample();
    let reply = app().patch(&id, V21, &json!([{"op": "add", "path": "/k2", "value": "v2"}, {"op": "replace", "path": "/name", "value": "sample2"}, {"op": "replace", "path": "/min_ram", "value": 512}]));
    assert_eq!(reply.status, 200);
    let image = reply.json();
    assert_eq!(
        (image["name"].as_str(), image["k2"].as_str(), image["min_ram"].as_u64()),
        (Some("sample2"), Some("v2"), Some(512))
    );
    assert_eq!(app().show(&id), image);
}

#[test]
fn v2_1_add_of_an_existing_property_overwrites_but_v2_0_returns_409() {
    let (id, _) = sample();
    assert_eq!(app().patch(&id, V21, &json!([{"op": "add", "path": "/k", "value": "w"}])).json()["k"], "w");
    app().patch(&id, V20, &json!([{"add": "/k", "value": "x"}])).assert_error(409, "k");
}

#[test]
fn v2_0_draft_4_syntax_works_under_its_media_type() {
    let (id, _) = sample();
    let image = app().patch(&id, V20, &json!([{"replace": "/name", "value": "old-style"}, {"remove": "/k"}])).json();
    assert_eq!(image["name"], "old-style");
    assert!(image.get("k").is_none());
}

#[test]
fn other_media_types_get_415_with_accept_patch() {
    let (id, _) = sample();
    for media_type in ["application/json", "application/json-patch+json", "text/plain"] {
        let reply = app().patch(&id, media_type, &json!([]));
        reply.assert_error(415, media_type);
        let accepted = reply.header("accept-patch").unwrap();
        assert!(accepted.contains(V20) && accepted.contains(V21));
    }
}

#[test]
fn each_syntax_is_refused_under_the_other_media_type() {
    let (id, _) = sample();
    app().patch(&id, V21, &json!([{"replace": "/name", "value": "x"}])).assert_error(400, "op");
    app().patch(&id, V20, &json!([{"op": "replace", "path": "/name", "value": "x"}])).assert_error(400, "op");
}

#[test]
fn malformed_patches_are_400() {
    let (id, _) = sample();
    let cases = [
        (json!({"op": "add"}), "array"),
        (json!([{"op": "move", "path": "/name", "from": "/k"}]), "move"),
        (json!([{"op": "add", "path": "/name"}]), "value"),
        (json!([{"op": "add", "path": "/tags/0", "value": "x"}]), "/tags/0"),
        (json!([{"op": "add", "path": "name", "value": "x"}]), "pointer"),
        (json!([{"op": "replace", "path": "/min_ram", "value": -1}]), "min_ram"),
        (json!([{"op": "replace", "path": "/disk_format", "value": "floppy"}]), "disk_format"),
        (json!([{"op": "add", "path": "/custom", "value": 1}]), "custom"),
    ];
    for (ops, needle) in cases {
        app().patch(&id, V21, &ops).assert_error(400, needle);
    }
    let reply = app().request("PATCH", &format!("/v2/images/{id}"), &[("Content-Type", V21)], Some(b"[{"));
    reply.assert_error(400, "Malformed JSON");
}

#[test]
fn read_only_reserved_and_base_properties_are_403() {
    let (id, _) = sample();
    app()
        .patch(&id, V21, &json!([{"op": "replace", "path": "/status", "value": "active"}]))
        .assert_error(403, "read-only");
    app()
        .patch(&id, V21, &json!([{"op": "add", "path": "/os_glance_import_task", "value": "x"}]))
        .assert_error(403, "reserved");
    app().patch(&id, V21, &json!([{"op": "remove", "path": "/name"}])).assert_error(403, "name");
    app()
        .patch(&id, V21, &json!([{"op": "add", "path": "/locations/-", "value": {"url": "http://x", "metadata": {}}}]))
        .assert_error(403, "locations");
}

#[test]
fn removing_or_replacing_a_missing_property_is_409() {
    let (id, _) = sample();
    app()
        .patch(&id, V21, &json!([{"op": "remove", "path": "/stores"}]))
        .assert_error(409, "Property stores does not exist");
    app().patch(&id, V21, &json!([{"op": "replace", "path": "/missing", "value": "v"}])).assert_error(409, "missing");
}

#[test]
fn a_failing_operation_leaves_the_image_unchanged() {
    let (id, before) = sample();
    app()
        .patch(
            &id,
            V21,
            &json!([{"op": "replace", "path": "/name", "value": "changed"}, {"op": "remove", "path": "/nope"}]),
        )
        .assert_error(409, "nope");
    assert_eq!(app().show(&id), before);
}

#[test]
fn formats_are_frozen_once_the_image_has_data() {
    let (id, _) = sample();
    assert_eq!(app().upload(&id, b"bytes").status, 204);
    app()
        .patch(&id, V21, &json!([{"op": "replace", "path": "/disk_format", "value": "qcow2"}]))
        .assert_error(403, "disk_format");
    // Other attributes may still change.
    assert_eq!(
        app().patch(&id, V21, &json!([{"op": "replace", "path": "/tags", "value": ["x", "y"]}])).json()["tags"],
        json!(["x", "y"])
    );
}

#[test]
fn patching_an_unknown_image_is_404() {
    app().patch("00000000-0000-0000-0000-000000000000", V21, &json!([])).assert_error(404, "No image found");
}
