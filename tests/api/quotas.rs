//! Per-project quotas (Glance's unified limits, here from `IMAGE_QUOTAS` on
//! catalog C): 413 with Glance's words where Glance refuses, the soft size
//! limits, racing creates and uploads against the count limits, and
//! `/v2/info/usage`. Catalog C has one project, so these tests take turns
//! (`TURN`) and each removes its images; each reads the usage first, so
//! leftovers of another test do not make it wrong.

use std::sync::{Barrier, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

static TURN: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `/v2/info/usage` of catalog C's project.
fn usage() -> Value {
    let reply = app_c().get("/v2/info/usage");
    assert_eq!(reply.status, 200, "usage: {}", String::from_utf8_lossy(&reply.body));
    reply.json()["usage"].clone()
}

fn used(resource: &str) -> u64 {
    usage()[resource]["usage"].as_u64().unwrap_or_else(|| panic!("no usage of {resource}: {}", usage()))
}

/// Deletes `ids` (whatever their status).
fn remove(ids: &[String]) {
    for id in ids {
        let reply = app_c().delete(&format!("/v2/images/{id}"));
        assert!(matches!(reply.status, 204 | 404), "delete {id}: {}", reply.status);
    }
}

/// `bytes` of data sent chunked (no declared size, so the size quotas
/// see a delta of 0, as Glance's do for such a body).
fn chunked(method: &str, path: &str, bytes: usize) -> Reply {
    let data = random_bytes(bytes, bytes as u64);
    app_c().request_chunked(method, path, &[("Content-Type", "application/octet-stream")], &data[..])
}

const MIB: usize = 1 << 20;

/// Glance's 413: its `LimitExceeded` text around oslo.limit's.
fn assert_over(reply: &Reply, resource: &str) {
    reply.assert_error(413, "The request returned a 413 Request Entity Too Large.");
    let message = reply.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains(&format!("is over a limit for [Resource {resource} is over limit of")), "{message}");
    assert_eq!(reply.header("retry-after"), None, "waiting frees no quota");
}

#[test]
fn usage_reports_each_limit_and_what_the_project_uses() {
    let _turn = turn();
    let before = usage();
    for (resource, limit) in [
        ("image_count_total", QUOTA_COUNT_TOTAL),
        ("image_count_uploading", QUOTA_COUNT_UPLOADING),
        ("image_size_total", QUOTA_SIZE_TOTAL_MIB),
        ("image_stage_total", QUOTA_STAGE_TOTAL_MIB),
    ] {
        assert_eq!(before[resource]["limit"], json!(limit), "{before}");
        assert!(before[resource]["usage"].is_u64(), "{before}");
    }
    let tag = unique_tag();
    let id = app_c().create_active(&tag, &random_bytes(2 * MIB, 7), None);
    let after = usage();
    assert_eq!(after["image_count_total"]["usage"], json!(before["image_count_total"]["usage"].as_u64().unwrap() + 1));
    assert_eq!(after["image_size_total"]["usage"], json!(before["image_size_total"]["usage"].as_u64().unwrap() + 2));
    remove(&[id]);
    assert_eq!(usage()["image_count_total"], before["image_count_total"]);
}

#[test]
fn usage_is_empty_where_quotas_are_off() {
    let reply = app().get("/v2/info/usage");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"usage": {}}));
}

#[test]
fn racing_creates_stop_exactly_at_the_image_count_limit() {
    let _turn = turn();
    let room = QUOTA_COUNT_TOTAL.saturating_sub(used("image_count_total"));
    let tries = room as usize + 5;
    let barrier = Barrier::new(tries);
    let replies: Vec<Reply> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..tries)
            .map(|i| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    app_c().post_json("/v2/images", &json!({"name": format!("racer-{i}")}))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let created: Vec<String> =
        replies.iter().filter(|r| r.status == 201).map(|r| r.json()["id"].as_str().unwrap().to_owned()).collect();
    for reply in replies.iter().filter(|r| r.status != 201) {
        assert_over(reply, "image_count_total");
    }
    assert_eq!(created.len() as u64, room, "exactly the room left is created, never more");
    assert_eq!(used("image_count_total"), QUOTA_COUNT_TOTAL);
    remove(&created);
    // Room again once they are gone.
    let again = app_c().post_json("/v2/images", &json!({"name": "after"}));
    assert_eq!(again.status, 201);
    remove(&[again.json()["id"].as_str().unwrap().to_owned()]);
}

#[test]
fn ten_uploads_racing_an_uploading_count_of_three_never_leave_more_than_three_accepted() {
    let _turn = turn();
    let tag = unique_tag();
    let ids: Vec<String> = (0..10).map(|_| app_c().create_uploadable(&tag)).collect();
    let data = random_bytes(256 * 1024, 3);
    let barrier = Barrier::new(ids.len());
    let replies: Vec<Reply> = std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .iter()
            .map(|id| {
                let (barrier, data) = (&barrier, &data);
                s.spawn(move || {
                    barrier.wait();
                    app_c().upload(id, data)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut accepted = 0;
    for (id, reply) in ids.iter().zip(&replies) {
        match reply.status {
            204 => {
                accepted += 1;
                assert_eq!(app_c().status_of(id), "active");
            }
            _ => {
                assert_over(reply, "image_count_uploading");
                assert_eq!(app_c().status_of(id), "queued", "a refused upload leaves its image queued");
            }
        }
    }
    assert!(accepted <= QUOTA_COUNT_UPLOADING, "{accepted} uploads were let through a limit of 3");
    assert_eq!(used("image_count_uploading"), 0, "nothing is left uploading");
    // The refusals were the count's: one at a time, every image takes its data.
    for (id, reply) in ids.iter().zip(&replies) {
        if reply.status != 204 {
            let retry = app_c().upload(id, &data);
            assert_eq!(retry.status, 204, "{}", String::from_utf8_lossy(&retry.body));
        }
    }
    remove(&ids);
}

#[test]
fn the_stored_size_limit_is_soft_one_upload_crosses_it_and_the_next_is_refused() {
    let _turn = turn();
    let tag = unique_tag();
    let room = QUOTA_SIZE_TOTAL_MIB.saturating_sub(used("image_size_total")) as usize;
    // Declared up front, an upload that would not fit is refused at once.
    let too_big = app_c().create_uploadable(&tag);
    // (The local runtime drains a body its worker did not read before the
    // answer goes out, so the whole body is sent.)
    let reply = app_c().upload(&too_big, &random_bytes((room + 1) * MIB, 1));
    assert_over(&reply, "image_size_total");
    let message = reply.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains(&format!("delta {}]", room + 1)), "the declared size is the delta: {message}");
    assert_eq!(app_c().status_of(&too_big), "queued");
    // Without a declared size, one upload may cross the limit...
    let crossing = app_c().create_uploadable(&tag);
    let reply = chunked("PUT", &format!("/v2/images/{crossing}/file"), (room + 1) * MIB);
    assert_eq!(reply.status, 204, "{}", String::from_utf8_lossy(&reply.body));
    assert!(used("image_size_total") > QUOTA_SIZE_TOTAL_MIB);
    // ...and the next one is refused, even empty-handed.
    let next = app_c().create_uploadable(&tag);
    assert_over(&chunked("PUT", &format!("/v2/images/{next}/file"), 1), "image_size_total");
    assert_eq!(app_c().status_of(&next), "queued");
    // Deleting frees it.
    remove(std::slice::from_ref(&crossing));
    assert_eq!(chunked("PUT", &format!("/v2/images/{next}/file"), 1).status, 204);
    remove(&[too_big, next]);
}

#[test]
fn the_staging_limit_refuses_the_stage_after_the_one_that_crossed_it_until_an_import_frees_it() {
    let _turn = turn();
    let tag = unique_tag();
    let room = QUOTA_STAGE_TOTAL_MIB.saturating_sub(used("image_stage_total")) as usize;
    let first = app_c().create_importable(&tag, "first");
    let reply = chunked("PUT", &format!("/v2/images/{first}/stage"), (room + 1) * MIB);
    assert_eq!(reply.status, 204, "{}", String::from_utf8_lossy(&reply.body));
    let second = app_c().create_importable(&tag, "second");
    assert_over(&chunked("PUT", &format!("/v2/images/{second}/stage"), MIB), "image_stage_total");
    assert_eq!(app_c().status_of(&second), "queued");
    // A resumable upload is held to the same limit when it is created.
    let tus = app_c().request(
        "POST",
        &format!("/v2/images/{second}/uploads"),
        &[("Tus-Resumable", "1.0.0"), ("Upload-Length", &MIB.to_string())],
        None,
    );
    assert_over(&tus, "image_stage_total");
    // Importing the first takes it out of staging.
    app_c().start_import(&first, &json!({"method": {"name": "glance-direct"}}));
    app_c().wait_for_status(&first, "active", Duration::from_secs(60));
    let reply = chunked("PUT", &format!("/v2/images/{second}/stage"), MIB);
    assert_eq!(reply.status, 204, "{}", String::from_utf8_lossy(&reply.body));
    remove(&[first, second]);
}

#[test]
fn an_import_that_would_take_the_stored_size_over_its_limit_fails_its_task_and_requeues_the_image() {
    let _turn = turn();
    let tag = unique_tag();
    let staged = app_c().create_importable(&tag, "staged");
    assert_eq!(chunked("PUT", &format!("/v2/images/{staged}/stage"), 3 * MIB).status, 204);
    // Fill the stored size to one MiB under the limit: the API lets the
    // import in (the project is not over), its task refuses the 3 MiB.
    let room = QUOTA_SIZE_TOTAL_MIB.saturating_sub(used("image_size_total")) as usize;
    let filler = app_c().create_active(&tag, &random_bytes((room - 1) * MIB, 2), None);
    app_c().start_import(&staged, &json!({"method": {"name": "glance-direct"}}));
    let task = wait_until("the import's task to fail", Duration::from_secs(60), || {
        let tasks = app_c().image_tasks(&staged);
        match tasks.last() {
            Some(task) if task["status"] == "failure" => Ok(task.clone()),
            other => Err(format!("{other:?}")),
        }
    });
    let message = task["message"].as_str().unwrap();
    assert!(message.contains("Resource image_size_total is over limit of 16"), "{message}");
    assert_eq!(app_c().status_of(&staged), "queued");
    // Once over, the API refuses imports at once.
    let crossing = app_c().create_uploadable(&tag);
    assert_eq!(chunked("PUT", &format!("/v2/images/{crossing}/file"), 2 * MIB).status, 204);
    let again = app_c().create_importable(&tag, "again");
    assert_over(
        &app_c().import(&again, &json!({"method": {"name": "web-download", "uri": "http://127.0.0.1/x"}})),
        "image_size_total",
    );
    remove(&[staged, filler, crossing, again]);
}

/// A tus request to catalog C.
fn tus(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Reply {
    app_c().request(method, path, &[&[("Tus-Resumable", "1.0.0")], headers].concat(), body)
}

#[test]
fn a_resumable_upload_is_held_to_the_uploading_count_when_created_and_when_it_completes() {
    let _turn = turn();
    let tag = unique_tag();
    let data = random_bytes(64 * 1024, 31);
    let length = data.len().to_string();
    // An upload created while there is room for one more uploading image.
    let room = QUOTA_COUNT_UPLOADING - used("image_count_uploading");
    assert!(room >= 1, "another test left {QUOTA_COUNT_UPLOADING} images uploading");
    let resumable = app_c().create_importable(&tag, "resumable");
    let created = tus("POST", &format!("/v2/images/{resumable}/uploads"), &[("Upload-Length", &length)], None);
    assert_eq!(created.status, 201, "{}", String::from_utf8_lossy(&created.body));
    let location = created.header("location").unwrap().to_owned();
    let path = &location[app_c().base.len()..];
    // Meanwhile, stages fill the count.
    let staged: Vec<String> = (0..room).map(|i| app_c().create_importable(&tag, &format!("staged-{i}"))).collect();
    for id in &staged {
        let reply = app_c().stage(id, &data);
        assert_eq!(reply.status, 204, "{}", String::from_utf8_lossy(&reply.body));
    }
    // No new upload now: refused before any byte is sent.
    let another = app_c().create_importable(&tag, "another");
    let refused = tus("POST", &format!("/v2/images/{another}/uploads"), &[("Upload-Length", &length)], None);
    assert_over(&refused, "image_count_uploading");
    // The last bytes of the earlier one are kept, but it cannot become
    // staged data: 413, the image stays queued, nothing left uploading
    // beyond the limit.
    let octets = ("Content-Type", "application/offset+octet-stream");
    let last = tus("PATCH", path, &[octets, ("Upload-Offset", "0")], Some(&data));
    assert_over(&last, "image_count_uploading");
    assert_eq!(app_c().status_of(&resumable), "queued");
    assert_eq!(used("image_count_uploading"), QUOTA_COUNT_UPLOADING);
    let head = tus("HEAD", path, &[], None);
    assert_eq!(head.header("upload-offset"), Some(length.as_str()), "the bytes were kept");
    // Once a stage is gone, an empty PATCH at the end finishes it.
    remove(&staged[..1]);
    let finish = tus("PATCH", path, &[octets, ("Upload-Offset", &length)], Some(&[]));
    assert_eq!(finish.status, 204, "{}", String::from_utf8_lossy(&finish.body));
    assert_eq!(app_c().status_of(&resumable), "uploading");
    app_c().start_import(&resumable, &json!({"method": {"name": "glance-direct"}}));
    app_c().wait_for_status(&resumable, "active", Duration::from_secs(60));
    remove(&[resumable, another]);
    remove(&staged);
}
