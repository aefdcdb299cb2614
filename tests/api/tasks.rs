//! Tasks (API v2.2; per image v2.12): the `api_image_import` tasks imports
//! leave, `GET /v2/images/{id}/tasks`, the admin task list and task view,
//! and the legacy `POST /v2/tasks` of type `import` (`glance/api/v2/tasks.py`,
//! `glance/domain/__init__.py` `Task`). The noauth caller is an admin.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::fixture_server::{fixture, Route};
use crate::helpers::{app, md5_hex, random_bytes, sha512_hex, unique_tag, wait_until, IMPORT_TIMEOUT};

/// Timestamps look like 2015-11-29T22:21:42Z.
fn assert_timestamp(task: &Value, key: &str) {
    let value = task[key].as_str().unwrap_or_else(|| panic!("{key} is missing: {task}"));
    assert!(value.len() == 20 && value.ends_with('Z') && value.as_bytes()[10] == b'T', "{key} = {value:?}");
}

/// A finished glance-direct import of `data`; returns (image id, request id).
fn direct_import(tag: &str, data: &[u8]) -> (String, String) {
    let id = app().create_importable(tag, "task source");
    assert_eq!(app().stage(&id, data).status, 204);
    let reply = app().start_import(&id, &json!({"method": {"name": "glance-direct"}}));
    let request_id = reply.header("x-openstack-request-id").expect("x-openstack-request-id").to_owned();
    let image = app().wait_for_import(&id, IMPORT_TIMEOUT);
    assert_eq!(image["status"], "active", "{image}");
    (id, request_id)
}

fn task(id: &str) -> Value {
    let reply = app().get(&format!("/v2/tasks/{id}"));
    assert_eq!(reply.status, 200, "task {id}: {}", String::from_utf8_lossy(&reply.body));
    reply.json()
}

fn wait_for_task(id: &str) -> Value {
    wait_until(&format!("task {id} to finish"), IMPORT_TIMEOUT, || {
        let task = task(id);
        if crate::helpers::task_is_final(&task) {
            Ok(task)
        } else {
            Err(task.to_string())
        }
    })
}

fn list(query: &str) -> Value {
    let reply = app().get(&format!("/v2/tasks{query}"));
    assert_eq!(reply.status, 200, "GET /v2/tasks{query}: {}", String::from_utf8_lossy(&reply.body));
    reply.json()
}

fn ids(page: &Value) -> Vec<String> {
    page["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn an_import_leaves_a_task_with_glances_fields() {
    let data = random_bytes(70_000, 601);
    let (image_id, request_id) = direct_import(&unique_tag(), &data);
    let tasks = app().image_tasks(&image_id);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let listed = &tasks[0];
    let id = listed["id"].as_str().expect("task id").to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "task ids are UUIDs: {id}");
    assert_eq!(listed["type"], "api_image_import");
    assert_eq!(listed["status"], "success");
    assert_eq!(listed["image_id"], image_id.as_str());
    assert_eq!(listed["request_id"], request_id.as_str(), "the task keeps the import request's id");
    assert!(listed["user_id"].as_str().is_some_and(|u| !u.is_empty()), "{listed}");
    assert_eq!(listed["input"]["import_req"]["method"]["name"], "glance-direct");
    assert_eq!(listed["input"]["image_id"], image_id.as_str(), "{listed}");
    assert_eq!(listed["result"]["image_id"], image_id.as_str(), "{listed}");
    for key in ["created_at", "updated_at", "expires_at"] {
        assert_timestamp(listed, key);
    }
    assert!(listed["expires_at"].as_str() > listed["updated_at"].as_str(), "a finished task expires later: {listed}");

    // The task view has the same task, with its links.
    let shown = task(&id);
    for key in ["id", "type", "status", "input", "result", "image_id", "request_id", "user_id", "expires_at"] {
        assert_eq!(shown[key], listed[key], "{key}: {shown} vs {listed}");
    }
    assert_eq!(shown["self"], format!("/v2/tasks/{id}").as_str());
    assert_eq!(shown["schema"], "/v2/schemas/task");
    assert!(shown["owner"].is_string(), "{shown}");
    assert!(shown.get("message").is_some(), "the full view has message: {shown}");
}

#[test]
fn the_task_list_is_sorted_paged_and_filtered() {
    let tag = unique_tag();
    let mut ours = BTreeSet::new();
    for seed in 0..3 {
        let (image_id, _) = direct_import(&tag, &random_bytes(1000, 610 + seed));
        ours.insert(app().image_tasks(&image_id)[0]["id"].as_str().unwrap().to_owned());
    }

    let all = list("?limit=1000");
    assert_eq!(all["schema"], "/v2/schemas/tasks");
    assert!(all["first"].as_str().unwrap().starts_with("/v2/tasks"), "{}", all["first"]);
    let listed: BTreeSet<String> = ids(&all).into_iter().collect();
    assert!(ours.is_subset(&listed), "our tasks {ours:?} are not all listed");
    for entry in all["tasks"].as_array().unwrap() {
        for key in ["input", "result", "message"] {
            assert!(entry.get(key).is_none(), "list entries omit {key}: {entry}");
        }
        for key in ["id", "type", "status", "owner", "created_at", "updated_at", "self", "schema"] {
            assert!(entry.get(key).is_some(), "list entries have {key}: {entry}");
        }
    }
    // Newest first by default; sort_dir=asc reverses; sort_key works too.
    let created = |page: &Value| -> Vec<String> {
        page["tasks"].as_array().unwrap().iter().map(|t| t["created_at"].as_str().unwrap().to_owned()).collect()
    };
    assert!(created(&all).windows(2).all(|w| w[0] >= w[1]), "default order is created_at desc");
    assert!(created(&list("?limit=1000&sort_dir=asc")).windows(2).all(|w| w[0] <= w[1]), "sort_dir=asc");
    let by_update = list("?limit=1000&sort_key=updated_at&sort_dir=asc");
    let updated: Vec<&str> =
        by_update["tasks"].as_array().unwrap().iter().map(|t| t["updated_at"].as_str().unwrap()).collect();
    assert!(updated.windows(2).all(|w| w[0] <= w[1]), "sort_key=updated_at");

    // Pages: `limit`, then `next` carries the marker.
    let first = list("?limit=2");
    assert_eq!(ids(&first).len(), 2);
    let next = first["next"].as_str().expect("a full page has a next link").to_owned();
    assert!(next.starts_with("/v2/tasks?") && next.contains(&format!("marker={}", ids(&first)[1])), "{next}");
    let reply = app().get(&next);
    assert_eq!(reply.status, 200);
    let second = reply.json();
    let overlap: Vec<_> = ids(&second).into_iter().filter(|i| ids(&first).contains(i)).collect();
    assert!(overlap.is_empty(), "pages overlap: {overlap:?}");
    // Newest first, so the second page starts no later than the first ended.
    let (last, next_first) = (created(&first).last().cloned(), created(&second).first().cloned());
    assert!(next_first.is_none() || next_first <= last, "the second page continues the first: {last:?} {next_first:?}");

    // Filters.
    let successes = list("?limit=1000&status=success");
    assert!(successes["tasks"].as_array().unwrap().iter().all(|t| t["status"] == "success"));
    assert!(ours.is_subset(&ids(&successes).into_iter().collect()));
    let failures = list("?limit=1000&status=failure");
    assert!(failures["tasks"].as_array().unwrap().iter().all(|t| t["status"] == "failure"));
    assert!(ours.is_disjoint(&ids(&failures).into_iter().collect()));
    let imports = list("?limit=1000&type=import");
    assert!(imports["tasks"].as_array().unwrap().iter().all(|t| t["type"] == "import"));

    // Glance's checks on the query (400 each).
    for query in [
        "?status=bogus",
        "?type=bogus",
        "?sort_dir=sideways",
        "?limit=-1",
        "?limit=abc",
        "?marker=not-a-uuid",
        "?marker=00000000-0000-0000-0000-000000000000",
    ] {
        let reply = app().get(&format!("/v2/tasks{query}"));
        assert_eq!(reply.status, 400, "GET /v2/tasks{query}: {}", String::from_utf8_lossy(&reply.body));
    }
}

#[test]
fn a_missing_task_is_404_and_tasks_are_never_deleted() {
    app().get("/v2/tasks/00000000-0000-0000-0000-000000000000").assert_error(404, "");
    let (image_id, _) = direct_import(&unique_tag(), b"not deletable");
    let id = app().image_tasks(&image_id)[0]["id"].as_str().unwrap().to_owned();
    let reply = app().delete(&format!("/v2/tasks/{id}"));
    assert_eq!(reply.status, 405, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(reply.header("allow"), Some("GET"));
    assert_eq!(task(&id)["status"], "success", "the task is still there");
}

/// A small but well-formed qcow2 (v2 header, 1 MiB virtual size, 64 KiB
/// clusters), padded with random bytes, so a format check has a real header.
fn qcow2_bytes() -> Vec<u8> {
    let mut data = random_bytes(256 * 1024, 620);
    let mut header = Vec::new();
    header.extend_from_slice(b"QFI\xfb");
    header.extend_from_slice(&2u32.to_be_bytes()); // version
    header.extend_from_slice(&0u64.to_be_bytes()); // backing_file_offset
    header.extend_from_slice(&0u32.to_be_bytes()); // backing_file_size
    header.extend_from_slice(&16u32.to_be_bytes()); // cluster_bits
    header.extend_from_slice(&(1u64 << 20).to_be_bytes()); // size
    header.extend_from_slice(&0u32.to_be_bytes()); // crypt_method
    header.extend_from_slice(&1u32.to_be_bytes()); // l1_size
    header.extend_from_slice(&(3u64 << 16).to_be_bytes()); // l1_table_offset
    header.extend_from_slice(&(1u64 << 16).to_be_bytes()); // refcount_table_offset
    header.extend_from_slice(&1u32.to_be_bytes()); // refcount_table_clusters
    header.extend_from_slice(&0u32.to_be_bytes()); // nb_snapshots
    header.extend_from_slice(&0u64.to_be_bytes()); // snapshots_offset
    data[..header.len()].copy_from_slice(&header);
    data[header.len()..4096].fill(0);
    data[3 << 16..(3 << 16) + 8].fill(0); // an empty L1 table
    data
}

#[test]
fn a_legacy_import_task_creates_an_active_image_from_a_url() {
    let data = qcow2_bytes();
    let url = fixture().url(&fixture().serve(Route::Fixed(Arc::new(data.clone()))));
    let name = format!("legacy-{}", unique_tag());
    let body = json!({"type": "import", "input": {
        "import_from": url,
        "import_from_format": "qcow2",
        "image_properties": {"name": name, "disk_format": "qcow2", "container_format": "bare"},
    }});
    let reply = app().post_json("/v2/tasks", &body);
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    let created = reply.json();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(reply.header("location").is_some_and(|l| l.ends_with(&format!("/v2/tasks/{id}"))), "{:?}", reply.headers);
    assert_eq!(created["type"], "import");
    assert!(matches!(created["status"].as_str(), Some("pending" | "processing")), "{created}");
    assert_eq!(created["input"], body["input"], "the input is kept as given");

    let done = wait_for_task(&id);
    assert_eq!(done["status"], "success", "{done}");
    let image_id = done["result"]["image_id"].as_str().unwrap_or_else(|| panic!("no result.image_id: {done}"));
    let image = app().show(image_id);
    assert_eq!(image["status"], "active", "{image}");
    assert_eq!((image["name"].as_str(), image["disk_format"].as_str()), (Some(name.as_str()), Some("qcow2")));
    assert_eq!(image["container_format"], "bare");
    assert_eq!(image["size"].as_u64(), Some(data.len() as u64));
    assert_eq!(image["checksum"], md5_hex(&data).as_str());
    assert_eq!(image["os_hash_value"], sha512_hex(&data).as_str());
    assert!(app().get(&format!("/v2/images/{image_id}/file")).body == data);
    assert_timestamp(&done, "expires_at");
}

#[test]
fn a_legacy_import_task_from_an_unreachable_url_is_refused_or_fails() {
    // Tempest accepts both: 400 at creation, or a task that ends in failure.
    let body = json!({"type": "import", "input": {
        "import_from": "http://does-not.exist/x.qcow2",
        "import_from_format": "qcow2",
        "image_properties": {"name": "unreachable", "disk_format": "qcow2", "container_format": "bare"},
    }});
    let reply = app().post_json("/v2/tasks", &body);
    match reply.status {
        400 => {}
        201 => {
            let id = reply.json()["id"].as_str().unwrap().to_owned();
            let done = wait_for_task(&id);
            assert_eq!(done["status"], "failure", "{done}");
            assert!(!done["message"].as_str().unwrap_or_default().is_empty(), "a failure says why: {done}");
        }
        other => panic!("expected 400 or 201, got {other}: {}", String::from_utf8_lossy(&reply.body)),
    }
}

#[test]
fn malformed_task_bodies_are_400() {
    let input = json!({
        "import_from": "http://127.0.0.1:9/x.qcow2",
        "import_from_format": "qcow2",
        "image_properties": {"name": "bad", "disk_format": "qcow2", "container_format": "bare"},
    });
    let without = |key: &str| {
        let mut input = input.clone();
        input.as_object_mut().unwrap().remove(key);
        json!({"type": "import", "input": input})
    };
    let bodies = [
        ("no type", json!({"input": input})),
        ("no input", json!({"type": "import"})),
        ("type foo", json!({"type": "foo", "input": input})),
        ("no import_from", without("import_from")),
        ("no import_from_format", without("import_from_format")),
        ("no image_properties", without("image_properties")),
        ("input not an object", json!({"type": "import", "input": "x"})),
    ];
    for (case, body) in bodies {
        let reply = app().post_json("/v2/tasks", &body);
        assert_eq!(reply.status, 400, "{case}: {}", String::from_utf8_lossy(&reply.body));
    }
    let reply = app().request("POST", "/v2/tasks", &[("Content-Type", "application/json")], Some(b"{not json"));
    assert_eq!(reply.status, 400);
}

#[test]
fn filtering_tasks_by_a_type_other_than_import_is_400_as_in_glance() {
    // The catalog records api_image_import and location_import tasks too,
    // but Glance's task list filters by `import` only.
    for kind in ["api_image_import", "location_import", "bogus"] {
        app().get(&format!("/v2/tasks?type={kind}")).assert_error(400, &format!("Invalid type value: {kind}"));
    }
    assert_eq!(app().get("/v2/tasks?type=import&limit=1").status, 200);
    assert_eq!(app().get("/v2/tasks?type=&limit=1").status, 200, "an empty filter is no filter");
}
