//! Interoperable image import (API v2.6+): glance-direct (stage, then
//! import), web-download (the catalog fetches a URL) and copy-image (an
//! active image copied to more stores), with Glance's checks, the import
//! lock and the bookkeeping properties (`glance/api/v2/images.py`
//! `import_image`, `glance/async_/flows/api_image_import.py`).
//!
//! The test catalog has stores `primary` (default, weight 100), `secondary`
//! (weight 50) and the read-only http store `web`; web-download URLs come
//! from the fixture server on 127.0.0.1:`CATALOG_FIXTURE_PORT`.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use crate::fixture_server::{fixture, Gate, Route};
use crate::helpers::{app, empty_or_absent, md5_hex, random_bytes, sha512_hex, unique_tag, wait_until, IMPORT_TIMEOUT};

fn glance_direct() -> Value {
    json!({"method": {"name": "glance-direct"}})
}

pub fn web_download(uri: &str) -> Value {
    json!({"method": {"name": "web-download", "uri": uri}})
}

/// A queued raw/bare image staged with `data` (status `uploading`).
fn staged(tag: &str, data: &[u8]) -> String {
    let id = app().create_importable(tag, "staged");
    let reply = app().stage(&id, data);
    assert_eq!(reply.status, 204, "stage {id}: {}", String::from_utf8_lossy(&reply.body));
    id
}

#[test]
fn glance_direct_stages_then_imports_into_the_default_store_with_verified_hashes() {
    let tag = unique_tag();
    let data = random_bytes(3 * 1024 * 1024 + 11, 101);
    let id = app().create_importable(&tag, "direct");

    let reply = app().stage(&id, &data);
    assert_eq!(reply.status, 204, "{}", String::from_utf8_lossy(&reply.body));
    let image = app().show(&id);
    assert_eq!(image["status"], "uploading", "a staged image is uploading: {image}");
    // Glance records the staged size; nothing is active or hashed yet.
    assert_eq!(image["size"].as_u64(), Some(data.len() as u64), "{image}");
    assert!(image["checksum"].is_null() && image["os_hash_value"].is_null(), "{image}");
    assert_eq!(app().get(&format!("/v2/images/{id}/file")).status, 204, "staged data is not downloadable");

    // Staging twice is a conflict (the data is already on staging).
    app().stage(&id, b"other bytes").assert_error(409, "");
    assert_eq!(app().status_of(&id), "uploading");

    let reply = app().start_import(&id, &glance_direct());
    let request_id = reply.header("x-openstack-request-id").expect("request id").to_owned();
    let image = app().wait_for_import(&id, IMPORT_TIMEOUT);
    app().assert_imported(&image, &data, "primary");

    let task = app().task_for_request(&id, Some(&request_id));
    assert_eq!(task["type"], "api_image_import");
    assert_eq!(task["status"], "success", "{task}");
    assert_eq!(task["input"]["import_req"]["method"]["name"], "glance-direct");
    assert_eq!(task["image_id"], id.as_str());

    // The staged object is gone: only the image's data remains in R2.
    let keys = app().r2_keys_mentioning(&id);
    assert_eq!(keys.len(), 1, "expected only the data object in the primary store, found {keys:?}");
}

#[test]
fn glance_direct_goes_to_the_store_asked_for_by_header_by_list_or_to_all_stores() {
    let tag = unique_tag();
    let data = random_bytes(256 * 1024 + 3, 102);
    // (case, body, extra headers, the stores the image ends up in)
    type Case = (&'static str, Value, Vec<(&'static str, &'static str)>, &'static str);
    let cases: Vec<Case> = vec![
        ("header", glance_direct(), vec![("X-Image-Meta-Store", "secondary")], "secondary"),
        ("stores", json!({"method": {"name": "glance-direct"}, "stores": ["secondary"]}), vec![], "secondary"),
        (
            "both stores",
            json!({"method": {"name": "glance-direct"}, "stores": ["secondary", "primary"]}),
            vec![],
            "primary,secondary",
        ),
        // all_stores means every writable store: the read-only `web` is not one.
        (
            "all_stores",
            json!({"method": {"name": "glance-direct"}, "all_stores": true, "all_stores_must_succeed": false}),
            vec![],
            "primary,secondary",
        ),
    ];
    for (case, body, headers, stores) in cases {
        let id = staged(&tag, &data);
        let reply = app().import_with(&id, &body, &headers);
        assert_eq!(reply.status, 202, "{case}: {}", String::from_utf8_lossy(&reply.body));
        let image = app().wait_for_import(&id, IMPORT_TIMEOUT);
        app().assert_imported(&image, &data, stores);
        let keys = app().r2_keys_mentioning(&id);
        assert_eq!(keys.len(), stores.split(',').count(), "{case}: one object per store and no staging left: {keys:?}");
    }
}

#[test]
fn import_requests_are_checked_as_glance_checks_them() {
    let tag = unique_tag();
    // glance-direct needs staged data: a queued image is a conflict.
    let queued = app().create_importable(&tag, "queued");
    app().import(&queued, &glance_direct()).assert_error(409, "staged");
    // copy-image needs an active image.
    let body = json!({"method": {"name": "copy-image"}, "stores": ["secondary"]});
    app().import(&queued, &body).assert_error(409, "active");
    // An active image can't be the target of web-download or glance-direct.
    let active = app().create_active(&tag, b"active data", None);
    app().import(&active, &web_download("http://127.0.0.1:9/x")).assert_error(409, "active");
    app().import(&active, &glance_direct()).assert_error(409, "active");
    // web-download needs a queued image: a staged one is a conflict.
    let uploading = staged(&tag, b"staged data");
    app().import(&uploading, &web_download("http://127.0.0.1:9/x")).assert_error(409, "queued");

    // The body: a method with a known name; booleans that are booleans.
    app().import(&uploading, &json!({})).assert_error(400, "method");
    app().import(&uploading, &json!({"method": {}})).assert_error(400, "name");
    app().import(&uploading, &json!({"method": {"name": "bogus-method"}})).assert_error(400, "bogus-method");
    let body = json!({"method": {"name": "glance-direct"}, "all_stores": "yes"});
    app().import(&uploading, &body).assert_error(400, "all_stores");
    let body = json!({"method": {"name": "glance-direct"}, "all_stores_must_succeed": "no"});
    app().import(&uploading, &body).assert_error(400, "all_stores_must_succeed");
    let reply = app().request(
        "POST",
        &format!("/v2/images/{uploading}/import"),
        &[("Content-Type", "application/json")],
        Some(b"{not json"),
    );
    assert_eq!(reply.status, 400, "{}", String::from_utf8_lossy(&reply.body));

    // Stores: an unknown one is a conflict (glance_store.UnknownScheme ->
    // 409); a list and the header together, or all_stores with either, 400.
    let body = json!({"method": {"name": "glance-direct"}, "stores": ["nope"]});
    app().import(&uploading, &body).assert_error(409, "nope");
    app().import_with(&uploading, &glance_direct(), &[("X-Image-Meta-Store", "nope")]).assert_error(409, "nope");
    let body = json!({"method": {"name": "glance-direct"}, "stores": ["primary"]});
    app().import_with(&uploading, &body, &[("X-Image-Meta-Store", "secondary")]).assert_error(400, "");
    let body = json!({"method": {"name": "glance-direct"}, "stores": ["primary"], "all_stores": true});
    app().import(&uploading, &body).assert_error(400, "");

    // Both formats must be set before an import (409, checked before the URI).
    let bare = app().create_image(json!({"name": "no formats", "tags": [tag]}))["id"].as_str().unwrap().to_owned();
    app().import(&bare, &web_download("http://127.0.0.1:9/x")).assert_error(409, "container_format");
    let no_disk =
        app().create_image(json!({"container_format": "bare", "tags": [tag]}))["id"].as_str().unwrap().to_owned();
    app().import(&no_disk, &web_download("http://127.0.0.1:9/x")).assert_error(409, "disk_format");

    app()
        .import("00000000-0000-0000-0000-000000000000", &glance_direct())
        .assert_error(404, "00000000-0000-0000-0000-000000000000");

    // None of the refusals changed anything or left a task behind.
    assert_eq!(app().status_of(&queued), "queued");
    assert_eq!(app().status_of(&uploading), "uploading");
    assert_eq!(app().status_of(&active), "active");
    for id in [&queued, &uploading, &active, &bare, &no_disk] {
        let image = app().show(id);
        assert!(empty_or_absent(&image, "os_glance_import_task"), "a refused import took the lock: {image}");
        assert_eq!(app().image_tasks(id), Vec::<Value>::new(), "a refused import left a task on {id}");
    }
    // ... and the staged image can still be imported.
    app().start_import(&uploading, &glance_direct());
    let image = app().wait_for_import(&uploading, IMPORT_TIMEOUT);
    app().assert_imported(&image, b"staged data", "primary");
}

#[test]
fn web_download_fetches_sized_and_chunked_bodies_and_follows_redirects() {
    let tag = unique_tag();
    let fixed = random_bytes(2 * 1024 * 1024 + 5, 201);
    let chunked = random_bytes(1024 * 1024 + 77, 202);
    let redirected = random_bytes(300 * 1024 + 1, 203);
    let fixed_url = fixture().serve_bytes(&fixed);
    let chunked_url = fixture().url(&fixture().serve(Route::Chunked(Arc::new(chunked.clone()))));
    // 302 -> 301 -> 307 -> the body: every hop on the allowed origin.
    let target = fixture().serve_bytes(&redirected);
    let hop3 = fixture().url(&fixture().serve(Route::Redirect { status: 307, location: target }));
    let hop2 = fixture().url(&fixture().serve(Route::Redirect { status: 301, location: hop3 }));
    let hop1 = fixture().url(&fixture().serve(Route::Redirect { status: 302, location: hop2 }));

    let handles: Vec<_> = [(fixed_url, fixed), (chunked_url, chunked), (hop1, redirected)]
        .into_iter()
        .map(|(url, data)| {
            let tag = tag.clone();
            thread::spawn(move || {
                let id = app().create_importable(&tag, "web");
                let reply = app().start_import(&id, &web_download(&url));
                let request_id = reply.header("x-openstack-request-id").map(str::to_owned);
                let image = app().wait_for_import(&id, IMPORT_TIMEOUT);
                app().assert_imported(&image, &data, "primary");
                let task = app().task_for_request(&id, request_id.as_deref());
                assert_eq!(task["status"], "success", "{url}: {task}");
                assert_eq!(task["input"]["import_req"]["method"]["name"], "web-download");
                assert_eq!(task["input"]["import_req"]["method"]["uri"], url.as_str());
                let keys = app().r2_keys_mentioning(&id);
                assert_eq!(keys.len(), 1, "{url}: only the data object may remain: {keys:?}");
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("a web-download case failed");
    }
}

#[test]
fn web_download_into_a_chosen_store() {
    let data = random_bytes(64 * 1024, 204);
    let id = app().create_importable(&unique_tag(), "web to secondary");
    let body =
        json!({"method": {"name": "web-download", "uri": fixture().serve_bytes(&data)}, "stores": ["secondary"]});
    app().start_import(&id, &body);
    let image = app().wait_for_import(&id, IMPORT_TIMEOUT);
    app().assert_imported(&image, &data, "secondary");
}

/// The web-download fails; the image must be `queued` again with no data,
/// no lock, the store named in `os_glance_failed_import`, a failed task and
/// nothing left in R2. Returns the image.
pub fn assert_failed_web_download(id: &str, url: &str) -> Value {
    let image = app().wait_for_import(id, IMPORT_TIMEOUT);
    assert_eq!(image["status"], "queued", "a failed web-download of {url} must leave the image queued: {image}");
    for key in ["size", "checksum", "os_hash_value", "virtual_size"] {
        assert!(image[key].is_null(), "{key} set after a failed import: {image}");
    }
    assert!(image.get("stores").is_none() || image["stores"] == "", "stores after a failed import: {image}");
    assert!(empty_or_absent(&image, "os_glance_import_task"), "the lock outlived the failure: {image}");
    assert!(empty_or_absent(&image, "os_glance_importing_to_stores"), "{image}");
    let failed = image["os_glance_failed_import"].as_str().unwrap_or_default();
    assert!(failed.split(',').any(|s| s == "primary"), "os_glance_failed_import should name primary: {image}");
    let tasks = app().image_tasks(id);
    let task = tasks.iter().find(|t| t["status"] == "failure").unwrap_or_else(|| panic!("no failed task: {tasks:?}"));
    assert!(!task["message"].as_str().unwrap_or_default().is_empty(), "a failed task explains itself: {task}");
    assert_eq!(app().get(&format!("/v2/images/{id}/file")).status, 204, "no data after a failed import");
    let keys = app().r2_keys_mentioning(id);
    assert!(keys.is_empty(), "a failed import of {url} left objects behind: {keys:?}");
    image
}

#[test]
fn a_web_download_that_fails_leaves_the_image_queued_without_objects_and_it_can_be_retried() {
    let tag = unique_tag();
    let data = random_bytes(1024 * 1024 + 9, 205);
    let cases = [
        ("404", fixture().url(&fixture().serve(Route::Status(404)))),
        ("500", fixture().url(&fixture().serve(Route::Status(500)))),
        // Content-Length promised, the connection closed halfway.
        ("cut off", fixture().url(&fixture().serve(Route::Truncated { data: Arc::new(data.clone()), sent: 400_000 }))),
    ];
    let handles: Vec<_> = cases
        .into_iter()
        .map(|(case, url)| {
            let (tag, data) = (tag.clone(), data.clone());
            thread::spawn(move || {
                let id = app().create_importable(&tag, case);
                app().start_import(&id, &web_download(&url));
                assert_failed_web_download(&id, &url);
                // The lock is free again: the same image imports fine.
                app().start_import(&id, &web_download(&fixture().serve_bytes(&data)));
                let image = app().wait_for_import(&id, IMPORT_TIMEOUT);
                app().assert_imported(&image, &data, "primary");
                let tasks = app().image_tasks(&id);
                let statuses: Vec<_> = tasks.iter().map(|t| t["status"].as_str().unwrap().to_owned()).collect();
                let mut sorted = statuses.clone();
                sorted.sort();
                assert_eq!(sorted, ["failure", "success"], "{case}: tasks {tasks:?}");
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("a failing web-download case failed");
    }
}

#[test]
fn an_import_in_progress_holds_the_lock_and_shows_its_bookkeeping() {
    let tag = unique_tag();
    let data = random_bytes(2 * 1024 * 1024 + 1, 206);
    let gate = Gate::new();
    let path = fixture().serve(Route::Gated { data: Arc::new(data.clone()), before: 256 * 1024, gate: gate.clone() });
    let id = app().create_importable(&tag, "locked");
    let reply = app().start_import(&id, &web_download(&fixture().url(&path)));
    let request_id = reply.header("x-openstack-request-id").expect("request id").to_owned();
    fixture().wait_for_hit(&path, Duration::from_secs(30));

    // While the body is held back the import is running.
    let image = wait_until("the image to be importing", Duration::from_secs(30), || {
        let image = app().show(&id);
        if image["status"] == "importing" {
            Ok(image)
        } else {
            Err(image.to_string())
        }
    });
    let lock = image["os_glance_import_task"].as_str().unwrap_or_else(|| panic!("no import lock: {image}")).to_owned();
    assert_eq!(image["os_glance_importing_to_stores"], "primary", "{image}");
    assert!(empty_or_absent(&image, "os_glance_failed_import"), "{image}");
    let tasks = app().image_tasks(&id);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["id"], lock.as_str(), "the lock names the running task");
    assert_eq!(tasks[0]["request_id"], request_id.as_str());
    assert_eq!(tasks[0]["status"], "processing", "{}", tasks[0]);

    // Anything else on the image waits its turn.
    let again = app().import(&id, &web_download(&fixture().serve_bytes(b"other")));
    assert_eq!(again.status, 409, "a second import during the first: {}", String::from_utf8_lossy(&again.body));
    app().import(&id, &glance_direct()).assert_error(409, "");
    app().stage(&id, b"late staging").assert_error(409, "");
    assert_eq!(app().upload(&id, b"late upload").status, 409);
    assert_eq!(app().show(&id)["os_glance_import_task"], lock.as_str(), "the refused requests kept the lock as it was");
    assert_eq!(app().image_tasks(&id).len(), 1, "a refused import must not leave a task");

    gate.open();
    let image = app().wait_for_import(&id, IMPORT_TIMEOUT);
    app().assert_imported(&image, &data, "primary");
    let task = app().task_for_request(&id, Some(&request_id));
    assert_eq!(task["status"], "success");
    assert_eq!(task["result"]["image_id"], id.as_str(), "{task}");
}

#[test]
fn copy_image_adds_a_store_and_either_copy_serves_the_same_bytes() {
    let tag = unique_tag();
    let data = random_bytes(1024 * 1024 + 333, 301);
    let copy = json!({"method": {"name": "copy-image"}, "stores": ["secondary"]});
    for (kept, dropped) in [("secondary", "primary"), ("primary", "secondary")] {
        let id = app().create_active(&tag, &data, None);
        assert_eq!(app().show(&id)["stores"], "primary");
        let reply = app().start_import(&id, &copy);
        let request_id = reply.header("x-openstack-request-id").map(str::to_owned);
        // copy-image never takes the image out of `active`.
        let image = wait_until("the copy to finish", IMPORT_TIMEOUT, || {
            let image = app().show(&id);
            assert_eq!(image["status"], "active", "copy-image must keep the image active: {image}");
            let done = empty_or_absent(&image, "os_glance_import_task")
                && app().image_tasks(&id).iter().all(crate::helpers::task_is_final);
            if done {
                Ok(image)
            } else {
                Err(image.to_string())
            }
        });
        app().assert_imported(&image, &data, "primary,secondary");
        let task = app().task_for_request(&id, request_id.as_deref());
        assert_eq!(
            (task["status"].as_str(), task["input"]["import_req"]["method"]["name"].as_str()),
            (Some("success"), Some("copy-image"))
        );
        assert_eq!(app().r2_keys_mentioning(&id).len(), 2, "one object per store");

        // Copying again to a store that has it: 400 (Glance: "already present").
        app().import(&id, &copy).assert_error(400, "secondary");

        // Drop one copy: the other serves the same bytes and checksum.
        assert_eq!(app().delete(&format!("/v2/stores/{dropped}/{id}")).status, 204);
        let image = app().show(&id);
        assert_eq!(image["stores"], kept, "{image}");
        let download = app().get(&format!("/v2/images/{id}/file"));
        assert_eq!(download.status, 200);
        assert!(download.body == data, "the copy in {kept} serves other bytes");
        assert_eq!(md5_hex(&download.body), image["checksum"].as_str().unwrap());
        assert_eq!(sha512_hex(&download.body), image["os_hash_value"].as_str().unwrap());
        assert_eq!(app().r2_keys_mentioning(&id).len(), 1, "the dropped copy's object is gone");
    }
}

#[test]
fn copy_image_with_all_stores_skips_the_stores_that_already_hold_it() {
    let tag = unique_tag();
    let data = random_bytes(128 * 1024, 302);
    let id = app().create_active(&tag, &data, Some("secondary"));
    assert_eq!(app().show(&id)["stores"], "secondary");
    app().start_import(&id, &json!({"method": {"name": "copy-image"}, "all_stores": true}));
    let image = app().wait_for_import(&id, IMPORT_TIMEOUT);
    app().assert_imported(&image, &data, "primary,secondary");
    let tasks = app().image_tasks(&id);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["status"], "success");

    // Nothing left to copy: accepted, and nothing changes.
    let reply = app().import(&id, &json!({"method": {"name": "copy-image"}, "all_stores": true}));
    assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
    let image = app().wait_for_import(&id, IMPORT_TIMEOUT);
    app().assert_imported(&image, &data, "primary,secondary");
    assert!(app().image_tasks(&id).iter().all(|t| t["status"] == "success"), "no copy may fail");
}

#[test]
fn copy_image_checks_its_stores() {
    let tag = unique_tag();
    let id = app().create_active(&tag, b"copy checks", None);
    // An unknown store: 409 (glance_store.UnknownScheme).
    app().import(&id, &json!({"method": {"name": "copy-image"}, "stores": ["nope"]})).assert_error(409, "nope");
    // Already there: 400.
    app().import(&id, &json!({"method": {"name": "copy-image"}, "stores": ["primary"]})).assert_error(400, "primary");
    let image = app().show(&id);
    assert_eq!(image["stores"], "primary");
    assert!(empty_or_absent(&image, "os_glance_import_task"), "{image}");
}

#[test]
fn a_slow_but_steady_web_download_completes() {
    // 640 KiB in 64 KiB pieces every 300 ms: about 3 s of trickle.
    let data = random_bytes(640 * 1024, 207);
    let route = Route::Slow { data: Arc::new(data.clone()), piece: 64 * 1024, pause: Duration::from_millis(300) };
    let url = fixture().url(&fixture().serve(route));
    let id = app().create_importable(&unique_tag(), "slow");
    app().start_import(&id, &web_download(&url));
    let image = app().wait_for_import(&id, IMPORT_TIMEOUT);
    app().assert_imported(&image, &data, "primary");
}
