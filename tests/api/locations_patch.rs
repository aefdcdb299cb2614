//! PATCH operations on `/locations` (Glance's `show_multiple_locations`),
//! modeled on Tempest's `ImageLocationsTest` and `ImageLocationsAdminTest`
//! (`tempest/api/image/v2/test_images.py`, `admin/test_images.py`, with
//! `base.py` `check_set_location` / `check_set_multiple_locations`). They
//! run against catalog B (`SHOW_MULTIPLE_LOCATIONS=true`); the location
//! URLs are on the fixture server, which both catalogs' URI filters allow.
//! Catalog A runs with the default (locations hidden), where every
//! location operation is 403.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::fixture_server::{fixture, Route};
use crate::helpers::{app, app_b, md5_hex, random_bytes, sha512_hex, unique_tag, Reply, TestApp};

const PATCH_V21: &str = "application/openstack-images-v2.1-json-patch";

fn patch(app: &TestApp, id: &str, ops: Value) -> Reply {
    app.patch(id, PATCH_V21, &ops)
}

fn patch_ok(app: &TestApp, id: &str, ops: Value) -> Value {
    let reply = patch(app, id, ops.clone());
    assert_eq!(reply.status, 200, "PATCH {ops} on {id}: {}", String::from_utf8_lossy(&reply.body));
    reply.json()
}

fn locations_of(image: &Value) -> Vec<Value> {
    image["locations"].as_array().cloned().unwrap_or_else(|| panic!("no locations list: {image}"))
}

/// A queued raw/bare image on catalog B, checked to show `locations: []`.
fn queued_image(tag: &str) -> String {
    let image = app_b().create_image(json!({"container_format": "bare", "disk_format": "raw", "tags": [tag]}));
    assert_eq!(image["status"], "queued", "{image}");
    assert_eq!(image["locations"], json!([]), "no data, no locations: {image}");
    image["id"].as_str().unwrap().to_owned()
}

/// Data served by the fixture server, and its URL.
fn served(seed: u64) -> (Vec<u8>, String) {
    let data = random_bytes(48 * 1024 + seed as usize % 97, seed);
    let url = fixture().url(&fixture().serve(Route::Fixed(Arc::new(data.clone()))));
    (data, url)
}

/// Tempest's `check_set_location`: a queued image given an http location
/// by PATCH is active at once, unhashed. Returns (id, data, url, image).
fn check_set_location(seed: u64) -> (String, Vec<u8>, String, Value) {
    let id = queued_image(&unique_tag());
    let (data, url) = served(seed);
    let new_loc = json!({"metadata": {"foo": "bar"}, "url": url});
    patch_ok(app_b(), &id, json!([{"op": "add", "path": "/locations/-", "value": new_loc}]));
    let image = app_b().show(&id);
    let locations = locations_of(&image);
    assert_eq!(locations.len(), 1, "{image}");
    assert_eq!(locations[0]["url"], url.as_str(), "{image}");
    assert_eq!(locations[0]["metadata"]["foo"], "bar", "{image}");
    if let Some(direct) = image.get("direct_url") {
        assert_eq!(direct, &locations[0]["url"], "{image}");
    }
    // Added directly, the image goes straight to active and nothing is hashed.
    assert_eq!(image["status"], "active", "{image}");
    assert!(image["os_hash_algo"].is_null(), "{image}");
    assert!(image["os_hash_value"].is_null(), "{image}");
    (id, data, url, image)
}

/// Tempest's `check_set_multiple_locations`: a second location (`url#new`).
fn check_set_multiple_locations(seed: u64) -> (String, Vec<u8>, String, Value) {
    let (id, data, url, _) = check_set_location(seed);
    let new_url = format!("{url}#new");
    let new_loc = json!({"metadata": {"speed": "88mph"}, "url": new_url});
    patch_ok(app_b(), &id, json!([{"op": "add", "path": "/locations/-", "value": new_loc}]));
    let image = app_b().show(&id);
    let locations = locations_of(&image);
    assert_eq!(locations.len(), 2, "{image}");
    assert_eq!(locations[1]["url"], new_url.as_str(), "locations keep their order: {image}");
    assert_eq!(locations[1]["metadata"]["speed"], "88mph", "{image}");
    assert_eq!(image["status"], "active", "{image}");
    assert!(image["os_hash_algo"].is_null(), "{image}");
    assert!(image["os_hash_value"].is_null(), "{image}");
    if let Some(direct) = image.get("direct_url") {
        assert_eq!(direct, &locations[0]["url"], "{image}");
    }
    (id, data, url, image)
}

#[test]
fn an_uploaded_image_has_one_location() {
    let id = queued_image(&unique_tag());
    assert_eq!(app_b().upload(&id, b"location after upload").status, 204);
    let image = app_b().show(&id);
    assert_eq!(image["status"], "active", "{image}");
    let locations = locations_of(&image);
    assert_eq!(locations.len(), 1, "one location after the upload: {image}");
    assert!(locations[0]["url"].is_string() && locations[0]["metadata"].is_object(), "{image}");
    if let Some(direct) = image.get("direct_url") {
        assert_eq!(direct, &locations[0]["url"], "{image}");
    }
}

#[test]
fn an_http_location_activates_a_queued_image_and_downloads_read_through() {
    let (id, data, url, image) = check_set_location(1001);
    assert_eq!(image["size"].as_u64(), Some(data.len() as u64), "the size the URL announces: {image}");
    assert_eq!(image["stores"], "web", "{image}");
    let path = url.trim_start_matches(&fixture().url(""));
    let before = fixture().hits(path);
    let download = app_b().get(&format!("/v2/images/{id}/file"));
    assert_eq!(download.status, 200, "{}", String::from_utf8_lossy(&download.body));
    assert!(download.body == data, "the download differs from the bytes at the location");
    assert!(fixture().hits(path) > before, "the download did not read from the location");
    assert!(app_b().r2_keys_mentioning(&id).is_empty(), "an http location copies nothing into R2");
}

#[test]
fn a_second_location_is_appended() {
    check_set_multiple_locations(1002);
}

#[test]
fn replacing_locations_may_change_their_metadata_only() {
    let (id, _, url, image) = check_set_multiple_locations(1003);
    let mut original = locations_of(&image);

    // Replacing with the exact same list works.
    patch_ok(app_b(), &id, json!([{"op": "replace", "path": "/locations", "value": original}]));
    // Changing the metadata of a location works.
    original[0]["metadata"]["date"] = json!("2015-10-15");
    patch_ok(app_b(), &id, json!([{"op": "replace", "path": "/locations", "value": original}]));
    // Dropping a location this way does not.
    let reply = patch(app_b(), &id, json!([{"op": "replace", "path": "/locations", "value": [original[0]]}]));
    assert_eq!(reply.status, 400, "replace with fewer locations: {}", String::from_utf8_lossy(&reply.body));
    // Nor does swapping in another URL.
    let new_loc = json!({"metadata": original[1]["metadata"], "url": format!("{url}#new3")});
    let reply = patch(app_b(), &id, json!([{"op": "replace", "path": "/locations", "value": [original[0], new_loc]}]));
    assert_eq!(reply.status, 400, "replace with another URL: {}", String::from_utf8_lossy(&reply.body));
    // Nor emptying the list (403, as in Glance).
    let reply = patch(app_b(), &id, json!([{"op": "replace", "path": "/locations", "value": []}]));
    assert_eq!(reply.status, 403, "replace with []: {}", String::from_utf8_lossy(&reply.body));

    // The failures changed nothing; the metadata change stuck.
    let image = app_b().show(&id);
    assert_eq!(locations_of(&image).len(), 2, "{image}");
    assert_eq!(locations_of(&image), original, "{image}");
    assert_eq!(image["status"], "active", "{image}");
}

#[test]
fn a_location_with_a_scheme_other_than_http_is_refused() {
    let id = queued_image(&unique_tag());
    let new_loc = json!({"metadata": {"foo": "bar"}, "url": "gopher://info.cern.ch"});
    let reply = patch(app_b(), &id, json!([{"op": "add", "path": "/locations/-", "value": new_loc}]));
    assert_eq!(reply.status, 400, "{}", String::from_utf8_lossy(&reply.body));
    let image = app_b().show(&id);
    assert_eq!(image["status"], "queued", "{image}");
    assert_eq!(image["locations"], json!([]), "{image}");
}

/// Tempest's `_check_set_location_with_hash`, with the fixture data's own
/// digests (a PATCH location's validation data is taken on trust).
fn check_set_location_with_hash(seed: u64) -> (String, Vec<u8>, String, Value) {
    let id = queued_image(&unique_tag());
    let (data, url) = served(seed);
    let new_loc = json!({
        "validation_data": {"checksum": md5_hex(&data), "os_hash_value": sha512_hex(&data), "os_hash_algo": "sha512"},
        "metadata": {},
        "url": url,
    });
    patch_ok(app_b(), &id, json!([{"op": "add", "path": "/locations/-", "value": new_loc}]));
    let image = app_b().show(&id);
    let locations = locations_of(&image);
    assert_eq!(locations.len(), 1, "{image}");
    assert_eq!(image["checksum"], md5_hex(&data).as_str(), "{image}");
    assert_eq!(image["os_hash_value"], sha512_hex(&data).as_str(), "{image}");
    assert_eq!(image["os_hash_algo"], "sha512", "{image}");
    assert!(locations[0].get("validation_data").is_none(), "validation_data is write-only: {image}");
    assert_eq!(image["status"], "active", "{image}");
    (id, data, url, image)
}

#[test]
fn validation_data_on_the_first_location_sets_the_hashes() {
    let (id, data, _, _) = check_set_location_with_hash(1004);
    let download = app_b().get(&format!("/v2/images/{id}/file"));
    assert_eq!(download.status, 200);
    assert!(download.body == data);
}

#[test]
fn a_second_location_with_matching_validation_data_is_added() {
    let (id, _, url, original) = check_set_location_with_hash(1005);
    let new_loc = json!({
        "validation_data": {
            "checksum": original["checksum"],
            "os_hash_value": original["os_hash_value"],
            "os_hash_algo": original["os_hash_algo"],
        },
        "metadata": {},
        "url": format!("{url}#new"),
    });
    patch_ok(app_b(), &id, json!([{"op": "add", "path": "/locations/-", "value": new_loc}]));
    let image = app_b().show(&id);
    let locations = locations_of(&image);
    assert_eq!(locations.len(), 2, "{image}");
    for key in ["checksum", "os_hash_value", "os_hash_algo"] {
        assert_eq!(image[key], original[key], "{key}: {image}");
    }
    assert!(locations.iter().all(|l| l.get("validation_data").is_none()), "{image}");
}

#[test]
fn a_location_with_mismatching_validation_data_is_a_conflict_and_changes_nothing() {
    let (id, _, url, original) = check_set_location_with_hash(1006);
    // Tempest's substitutions, one at a time: Glance checks each value
    // against the image's before the values' own form (a sha256 with a
    // sha512-long digest is a conflict with the image's sha512, not a 400).
    let values =
        [("checksum", "2".repeat(32)), ("os_hash_value", "beefdead".repeat(16)), ("os_hash_algo", "sha256".to_owned())];
    let matching = json!({
        "checksum": original["checksum"],
        "os_hash_value": original["os_hash_value"],
        "os_hash_algo": original["os_hash_algo"],
    });
    for (key, value) in &values {
        let mut validation = matching.clone();
        validation[*key] = json!(value);
        let new_loc = json!({"validation_data": validation, "metadata": {}, "url": format!("{url}#new")});
        let reply = patch(app_b(), &id, json!([{"op": "add", "path": "/locations/-", "value": new_loc}]));
        assert_eq!(reply.status, 409, "mismatching {key}: {}", String::from_utf8_lossy(&reply.body));
    }
    // All of them at once.
    let all: serde_json::Map<String, Value> = values.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    let new_loc = json!({"validation_data": all, "metadata": {}, "url": format!("{url}#new")});
    let reply = patch(app_b(), &id, json!([{"op": "add", "path": "/locations/-", "value": new_loc}]));
    assert_eq!(reply.status, 409, "all mismatching: {}", String::from_utf8_lossy(&reply.body));

    let image = app_b().show(&id);
    let locations = locations_of(&image);
    assert_eq!(locations.len(), 1, "{image}");
    for key in ["checksum", "os_hash_value", "os_hash_algo"] {
        assert_eq!(image[key], original[key], "{key}: {image}");
    }
    assert!(locations[0].get("validation_data").is_none(), "{image}");
}

#[test]
fn an_admin_removes_a_location_but_never_the_last() {
    let (id, _, _, image) = check_set_multiple_locations(1007);
    let expected_remaining = locations_of(&image)[1].clone();
    // noauth callers are admins.
    patch_ok(app_b(), &id, json!([{"op": "remove", "path": "/locations/0"}]));
    let image = app_b().show(&id);
    let locations = locations_of(&image);
    assert_eq!(locations.len(), 1, "{image}");
    assert_eq!(locations[0]["url"], expected_remaining["url"], "{image}");
    if let Some(direct) = image.get("direct_url") {
        assert_eq!(direct, &locations[0]["url"], "{image}");
    }
    let reply = patch(app_b(), &id, json!([{"op": "remove", "path": "/locations/0"}]));
    assert_eq!(reply.status, 403, "removing the last location: {}", String::from_utf8_lossy(&reply.body));
    assert_eq!(locations_of(&app_b().show(&id)).len(), 1);
    assert_eq!(app_b().status_of(&id), "active");
}

#[test]
fn removing_the_r2_location_deletes_its_object_and_downloads_read_through() {
    // Uploaded data (an R2 location), then the same bytes at an http URL.
    let (data, url) = served(1008);
    let id = app_b().create_active(&unique_tag(), &data, None);
    assert!(app_b().object_exists(&id));
    let new_loc = json!({"url": url, "metadata": {}, "validation_data": {"checksum": md5_hex(&data)}});
    patch_ok(app_b(), &id, json!([{"op": "add", "path": "/locations/-", "value": new_loc}]));
    let image = app_b().show(&id);
    assert_eq!(locations_of(&image).len(), 2, "{image}");
    patch_ok(app_b(), &id, json!([{"op": "remove", "path": "/locations/0"}]));
    let image = app_b().show(&id);
    let locations = locations_of(&image);
    assert_eq!(locations.len(), 1, "{image}");
    assert_eq!(locations[0]["url"], url.as_str(), "{image}");
    assert_eq!(image["stores"], "web", "{image}");
    assert!(!app_b().object_exists(&id), "the removed R2 location's object must be deleted");
    let download = app_b().get(&format!("/v2/images/{id}/file"));
    assert_eq!(download.status, 200);
    assert!(download.body == data);
}

#[test]
fn with_locations_hidden_every_location_operation_is_forbidden() {
    // Catalog A: SHOW_MULTIPLE_LOCATIONS=false (the default).
    let tag = unique_tag();
    let url = fixture().serve_bytes(b"hidden locations");
    let queued = app().create_uploadable(&tag);
    let active = app().create_active(&tag, b"hidden locations", None);
    for id in [&queued, &active] {
        let cases = [
            json!([{"op": "add", "path": "/locations/-", "value": {"url": url, "metadata": {}}}]),
            json!([{"op": "add", "path": "/locations/0", "value": {"url": url, "metadata": {}}}]),
            json!([{"op": "replace", "path": "/locations", "value": [{"url": url, "metadata": {}}]}]),
            json!([{"op": "remove", "path": "/locations/0"}]),
        ];
        for ops in cases {
            let reply = app().patch(id, PATCH_V21, &ops);
            assert_eq!(reply.status, 403, "{ops} on {id}: {}", String::from_utf8_lossy(&reply.body));
        }
    }
    assert_eq!(app().status_of(&queued), "queued");
    let image = app().show(&active);
    assert_eq!(image["status"], "active", "{image}");
    assert_eq!(app().get(&format!("/v2/images/{active}/file")).body, b"hidden locations");
}
