//! The add-location API (v2.17, `images.py` `add_location` and
//! `glance/async_/flows/location_import.py`): `POST /v2/images/{id}/locations`
//! on a queued image starts a `location_import` task that checks the data at
//! the URL against `validation_data` (or hashes it when none is given) and
//! makes the image active in the read-only http store `web`; downloads then
//! read through from the URL. `GET /v2/images/{id}/locations` lists them.
//! The URL passes the same filter as web-download.

use std::sync::Arc;
use std::thread;

use serde_json::{json, Value};

use crate::fixture_server::{fixture, Route};
use crate::helpers::{app, md5_hex, random_bytes, sha256_hex, sha512_hex, unique_tag, IMPORT_TIMEOUT};

fn add_location(id: &str, body: &Value) -> crate::helpers::Reply {
    app().post_json(&format!("/v2/images/{id}/locations"), body)
}

fn locations(id: &str) -> Vec<Value> {
    let reply = app().get(&format!("/v2/images/{id}/locations"));
    assert_eq!(reply.status, 200, "locations of {id}: {}", String::from_utf8_lossy(&reply.body));
    reply.json().as_array().cloned().unwrap_or_else(|| panic!("a JSON list of locations for {id}"))
}

fn location_task(id: &str) -> Value {
    let tasks = app().image_tasks(id);
    let found: Vec<_> = tasks.iter().filter(|t| t["type"] == "location_import").collect();
    assert_eq!(found.len(), 1, "one location_import task on {id}: {tasks:?}");
    found[0].clone()
}

#[test]
fn a_location_with_matching_validation_data_makes_the_image_active_and_reads_through() {
    let tag = unique_tag();
    type Digest = fn(&[u8]) -> String;
    let cases: Vec<(&str, Digest)> = vec![("sha256", sha256_hex), ("sha512", sha512_hex)];
    let handles: Vec<_> = cases
        .into_iter()
        .map(|(algo, digest)| {
            let tag = tag.clone();
            thread::spawn(move || {
                let data = random_bytes(700 * 1024 + 3, algo.len() as u64 + 700);
                let path = fixture().serve(Route::Fixed(Arc::new(data.clone())));
                let url = fixture().url(&path);
                let id = app().create_importable(&tag, algo);
                let body =
                    json!({"url": url, "validation_data": {"os_hash_algo": algo, "os_hash_value": digest(&data)}});
                let reply = add_location(&id, &body);
                assert_eq!(reply.status, 202, "{algo}: {}", String::from_utf8_lossy(&reply.body));
                let image = app().wait_for_import(&id, IMPORT_TIMEOUT);
                let task = location_task(&id);
                assert_eq!(task["status"], "success", "{algo}: {task}");
                assert_eq!(task["request_id"].as_str(), reply.header("x-openstack-request-id"), "{task}");
                assert_eq!(image["status"], "active", "{algo}: {image}");
                assert_eq!(image["size"].as_u64(), Some(data.len() as u64), "{image}");
                assert_eq!(image["checksum"], md5_hex(&data).as_str(), "{image}");
                assert_eq!(image["os_hash_algo"], algo, "{image}");
                assert_eq!(image["os_hash_value"], digest(&data).as_str(), "{image}");
                assert_eq!(image["stores"], "web", "{image}");

                let listed = locations(&id);
                assert_eq!(listed.len(), 1, "{listed:?}");
                assert_eq!(listed[0]["url"], url.as_str());
                assert!(listed[0]["metadata"].is_object(), "{listed:?}");
                assert!(listed[0].get("validation_data").is_none(), "validation_data is write-only: {listed:?}");

                // The data stays at the URL: downloads read through.
                let before = fixture().hits(&path);
                let download = app().get(&format!("/v2/images/{id}/file"));
                assert_eq!(download.status, 200);
                assert!(download.body == data, "{algo}: the read-through download differs");
                assert!(fixture().hits(&path) > before, "the download did not read from the URL");
                let keys = app().r2_keys_mentioning(&id);
                assert!(keys.is_empty(), "an http location copies nothing into R2: {keys:?}");
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("a validation-data case failed");
    }
}

#[test]
fn a_location_without_validation_data_is_hashed_in_the_background() {
    let data = random_bytes(1024 * 1024 + 1, 702);
    let url = fixture().url(&fixture().serve(Route::Chunked(Arc::new(data.clone()))));
    let id = app().create_importable(&unique_tag(), "unvalidated");
    let reply = add_location(&id, &json!({"url": url}));
    assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
    let image = app().wait_for_import(&id, IMPORT_TIMEOUT);
    assert_eq!(location_task(&id)["status"], "success");
    assert_eq!(image["status"], "active", "{image}");
    assert_eq!(image["os_hash_algo"], "sha512", "{image}");
    assert_eq!(image["os_hash_value"], sha512_hex(&data).as_str(), "{image}");
    assert_eq!(image["checksum"], md5_hex(&data).as_str(), "{image}");
    assert_eq!(image["stores"], "web");
    assert!(app().get(&format!("/v2/images/{id}/file")).body == data);
}

#[test]
fn a_location_whose_data_does_not_match_fails_and_leaves_the_image_queued() {
    let data = random_bytes(300 * 1024, 703);
    let url = fixture().serve_bytes(&data);
    let id = app().create_importable(&unique_tag(), "mismatch");
    let wrong = sha256_hex(b"something else entirely");
    let reply =
        add_location(&id, &json!({"url": url, "validation_data": {"os_hash_algo": "sha256", "os_hash_value": wrong}}));
    assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
    let image = app().wait_for_import(&id, IMPORT_TIMEOUT);
    let task = location_task(&id);
    assert_eq!(task["status"], "failure", "{task}");
    assert!(!task["message"].as_str().unwrap_or_default().is_empty(), "{task}");
    assert_eq!(image["status"], "queued", "{image}");
    for key in ["checksum", "os_hash_algo", "os_hash_value"] {
        assert!(image[key].is_null(), "{key} must be cleared after a failed verification: {image}");
    }
    assert_eq!(app().get(&format!("/v2/images/{id}/file")).status, 204, "no data to download");
}

#[test]
fn bad_location_requests_are_refused() {
    let tag = unique_tag();
    let data = b"location checks";
    let url = fixture().serve_bytes(data);
    let id = app().create_importable(&tag, "checks");
    let sha256 = sha256_hex(data);
    let bodies = [
        ("no url", json!({"validation_data": {"os_hash_algo": "sha256", "os_hash_value": sha256}})),
        ("unknown algorithm", json!({"url": url, "validation_data": {"os_hash_algo": "md4", "os_hash_value": sha256}})),
        (
            "value too short for sha256",
            json!({"url": url, "validation_data": {"os_hash_algo": "sha256", "os_hash_value": &sha256[2..]}}),
        ),
        (
            "sha512 length for sha256",
            json!({"url": url, "validation_data": {"os_hash_algo": "sha256", "os_hash_value": sha512_hex(data)}}),
        ),
        (
            "not hexadecimal",
            json!({"url": url, "validation_data": {"os_hash_algo": "sha256", "os_hash_value": "zz".repeat(32)}}),
        ),
        ("value without algorithm", json!({"url": url, "validation_data": {"os_hash_value": sha256}})),
        ("algorithm without value", json!({"url": url, "validation_data": {"os_hash_algo": "sha256"}})),
        (
            "unknown key",
            json!({"url": url, "validation_data": {"os_hash_algo": "sha256", "os_hash_value": sha256, "checksum": md5_hex(data)}}),
        ),
        ("validation_data not an object", json!({"url": url, "validation_data": "sha256"})),
    ];
    for (case, body) in bodies {
        let reply = add_location(&id, &body);
        assert_eq!(reply.status, 400, "{case}: {}", String::from_utf8_lossy(&reply.body));
    }
    // URLs the filter refuses.
    for refused in [
        fixture().url_on("10.0.0.1", "/x"),
        fixture().url_on("127.0.0.2", "/x"),
        fixture().url_on("localhost", "/x"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("ftp://127.0.0.1:{}/x", fixture().port()),
    ] {
        add_location(&id, &json!({"url": refused})).assert_error(400, "does not pass filtering");
    }
    let image = app().show(&id);
    assert_eq!(image["status"], "queued", "{image}");
    assert!(image["checksum"].is_null());
    assert!(locations(&id).is_empty(), "nothing was added");
    let tasks = app().image_tasks(&id);
    assert!(tasks.iter().all(|t| t["status"] == "failure"), "no location task started or succeeded: {tasks:?}");

    // Only queued images take a location; missing images are 404.
    let active = app().create_active(&tag, data, None);
    add_location(&active, &json!({"url": url})).assert_error(409, "active");
    add_location("00000000-0000-0000-0000-000000000000", &json!({"url": url})).assert_error(404, "");

    // The checks left the image usable.
    let reply =
        add_location(&id, &json!({"url": url, "validation_data": {"os_hash_algo": "sha256", "os_hash_value": sha256}}));
    assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(app().wait_for_import(&id, IMPORT_TIMEOUT)["status"], "active");
}

#[test]
fn an_image_without_locations_lists_none() {
    let id = app().create_importable(&unique_tag(), "no locations");
    assert!(locations(&id).is_empty());
    let active = app().create_active(&unique_tag(), b"in r2", None);
    // Data in an R2 store is a location too; whatever its url, it has metadata.
    assert!(locations(&active).iter().all(|l| l["url"].is_string() && l["metadata"].is_object()));
    app().get("/v2/images/00000000-0000-0000-0000-000000000000/locations").assert_error(404, "");
}
