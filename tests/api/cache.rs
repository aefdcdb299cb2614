//! The image cache API (`/v2/cache`, v2.14) over the edge cache: pre-caching,
//! what downloads record, removal, clearing, the purges that image changes
//! cause, and a cache per data centre (catalog A serves a second data
//! centre, `remote`, in the same runtime: `CATALOG_REMOTE_URL`).
//!
//! The catalog runs in noauth mode, where every caller is an admin, so the
//! admin-only policy (403 for others) is tested at the unit level
//! (`policy::may_manage_image_cache`) and by Tempest's
//! `test_image_caching_cycle` under Keystone.
//!
//! `GET /v2/cache` and `DELETE /v2/cache` are data-centre-wide, so the tests
//! of this module take turns (`serial`) and look only at their own images.

use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{app, app_remote, random_bytes, unique_tag, wait_until, Reply, TestApp};

const CACHED_IN_TIME: Duration = Duration::from_secs(60);

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn cache_list() -> Value {
    cache_list_at(app())
}

/// The cache list of the data centre `at` serves.
fn cache_list_at(at: &TestApp) -> Value {
    let reply = at.get("/v2/cache");
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    reply.json()
}

/// The image's entry among `cached_images`, if any.
fn cached(id: &str) -> Option<Value> {
    cached_at(app(), id)
}

fn cached_at(at: &TestApp, id: &str) -> Option<Value> {
    cache_list_at(at)["cached_images"].as_array().unwrap().iter().find(|e| e["image_id"] == id).cloned()
}

fn queued(id: &str) -> bool {
    cache_list()["queued_images"].as_array().unwrap().iter().any(|q| q == id)
}

fn queue(id: &str) -> Reply {
    queue_at(app(), id)
}

fn queue_at(at: &TestApp, id: &str) -> Reply {
    at.request("PUT", &format!("/v2/cache/{id}"), &[], None)
}

fn download(id: &str) -> Reply {
    let reply = app().get(&format!("/v2/images/{id}/file"));
    assert_eq!(reply.status, 200, "download {id}: {}", String::from_utf8_lossy(&reply.body));
    reply
}

/// An active image queued for pre-caching and seen cached.
fn precached(data: &[u8]) -> String {
    let id = app().create_active(&unique_tag(), data, None);
    let reply = queue(&id);
    assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
    wait_until("the image to be cached", CACHED_IN_TIME, || cached(&id).ok_or_else(|| cache_list().to_string()));
    id
}

/// The name catalog A gives the data centre serving `CATALOG_URL` (the
/// colo the local runtime reports), read from the row of an image it
/// pre-cached.
fn here() -> &'static str {
    static HERE: OnceLock<String> = OnceLock::new();
    HERE.get_or_init(|| {
        let id = precached(b"where am I");
        let rows = app().d1_query(&format!("SELECT data_centre FROM image_cache WHERE image_id = '{id}'"));
        assert_eq!(rows.len(), 1, "one data centre filled it: {rows:?}");
        let name = rows[0]["data_centre"].as_str().unwrap().to_owned();
        assert!(!name.is_empty() && name != "remote", "the local colo names the data centre: {name:?}");
        assert_eq!(app().delete(&format!("/v2/cache/{id}")).status, 204);
        name
    })
}

/// A row `queued` for `id` in this data centre, written behind the
/// catalog's back (the catalog fills a real one within moments).
fn fake_queued(id: &str) {
    let here = here();
    app().d1_execute(&format!(
        "INSERT INTO image_cache (data_centre, image_id, state, cache_key, last_accessed, last_modified) \
         VALUES ('{here}', '{id}', 'queued', 'http://127.0.0.1/__edge-cache/images/{id}/none', 0, 0)"
    ));
}

#[test]
fn a_precached_image_is_listed_with_glances_keys_and_the_next_download_is_a_hit() {
    let _turn = serial();
    let data = random_bytes(300_000, 141);
    let id = precached(&data);
    let entry = cached(&id).unwrap();
    let mut keys: Vec<&str> = entry.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["hits", "image_id", "last_accessed", "last_modified", "size"]);
    assert_eq!(entry["size"].as_u64(), Some(data.len() as u64));
    assert_eq!(entry["hits"], 0);
    assert!(entry["last_modified"].is_f64());
    assert!(!queued(&id));

    let reply = download(&id);
    assert_eq!(reply.header("x-edge-cache"), Some("HIT"));
    assert!(reply.body == data, "cached bytes differ");
    wait_until("the hit to be counted", Duration::from_secs(10), || match cached(&id) {
        Some(entry) if entry["hits"] == 1 => Ok(()),
        other => Err(format!("{other:?}")),
    });
    // Queueing a cached image again changes nothing.
    assert_eq!(queue(&id).status, 202);
    assert!(!queued(&id));
    assert_eq!(app().delete(&format!("/v2/cache/{id}")).status, 204);
}

#[test]
fn a_download_that_fills_the_cache_records_the_entry() {
    let _turn = serial();
    let data = random_bytes(70_000, 142);
    let id = app().create_active(&unique_tag(), &data, None);
    assert_eq!(download(&id).header("x-edge-cache"), Some("MISS"));
    let entry = wait_until("the fill to be recorded", Duration::from_secs(30), || {
        cached(&id).ok_or_else(|| "not cached yet".to_string())
    });
    assert_eq!(entry["size"].as_u64(), Some(data.len() as u64));
    assert_eq!(app().delete(&format!("/v2/cache/{id}")).status, 204);
}

#[test]
fn queueing_answers_404_for_a_missing_image_and_400_for_one_that_is_not_active() {
    let _turn = serial();
    queue("non-existing-image-id").assert_error(404, "non-existing-image-id");
    queue("6f0c2a5e-0000-4000-8000-000000000000").assert_error(404, "No image found");
    let not_uploaded = app().create_uploadable(&unique_tag());
    queue(&not_uploaded).assert_error(400, "active");
    assert!(!queued(&not_uploaded));
    let deactivated = app().create_active(&unique_tag(), b"deactivated", None);
    assert_eq!(app().post_json(&format!("/v2/images/{deactivated}/actions/deactivate"), &json!({})).status, 204);
    queue(&deactivated).assert_error(400, "active");
    app().delete("/v2/cache/non-existing-image-id").assert_error(404, "non-existing-image-id");
}

#[test]
fn deleting_an_entry_removes_it_and_the_next_download_misses() {
    let _turn = serial();
    let id = precached(&random_bytes(50_000, 143));
    assert_eq!(app().delete(&format!("/v2/cache/{id}")).status, 204);
    assert!(cached(&id).is_none());
    assert_eq!(download(&id).header("x-edge-cache"), Some("MISS"), "the edge key was purged");
    // Deleting what is not cached is fine too.
    let other = app().create_uploadable(&unique_tag());
    assert_eq!(app().delete(&format!("/v2/cache/{other}")).status, 204);
    // A queued entry goes as well.
    fake_queued(&other);
    assert!(queued(&other));
    assert_eq!(app().delete(&format!("/v2/cache/{other}")).status, 204);
    assert!(!queued(&other));
    let _ = wait_until("the MISS fill to be recorded", Duration::from_secs(30), || {
        cached(&id).ok_or_else(|| "not yet".to_string())
    });
    assert_eq!(app().delete(&format!("/v2/cache/{id}")).status, 204);
}

#[test]
fn clearing_takes_the_cache_the_queue_or_both_and_refuses_other_targets() {
    let _turn = serial();
    let clear = |target: Option<&str>| {
        let headers: Vec<(&str, &str)> = target.map(|t| vec![("x-image-cache-clear-target", t)]).unwrap_or_default();
        app().request("DELETE", "/v2/cache", &headers, None)
    };
    clear(Some("invalid")).assert_error(400, "x-image-cache-clear-target");

    let id = precached(b"clear me");
    let waiting = app().create_uploadable(&unique_tag());
    fake_queued(&waiting);
    assert_eq!(clear(Some("cache")).status, 204);
    assert!(cached(&id).is_none());
    assert!(queued(&waiting), "clearing the cache keeps the queue");
    assert_eq!(download(&id).header("x-edge-cache"), Some("MISS"), "the edge key was purged");

    let _ = wait_until("the MISS fill to be recorded", Duration::from_secs(30), || {
        cached(&id).ok_or_else(|| "not yet".to_string())
    });
    assert_eq!(clear(Some("queue")).status, 204);
    assert!(!queued(&waiting));
    assert!(cached(&id).is_some(), "clearing the queue keeps the cache");

    fake_queued(&waiting);
    assert_eq!(clear(None).status, 204);
    // Other modules' downloads may fill the cache meanwhile: look at ours.
    assert!(cached(&id).is_none());
    assert!(!queued(&waiting));
}

#[test]
fn deleting_an_image_purges_its_entry() {
    let _turn = serial();
    let id = precached(b"to be deleted");
    assert_eq!(app().delete(&format!("/v2/images/{id}")).status, 204);
    assert!(cached(&id).is_none());
}

#[test]
fn deactivating_purges_the_entry_and_a_download_after_reactivation_is_not_a_stale_hit() {
    let _turn = serial();
    let id = precached(b"deactivate me");
    assert_eq!(app().post_json(&format!("/v2/images/{id}/actions/deactivate"), &json!({})).status, 204);
    assert!(cached(&id).is_none());
    assert_eq!(app().post_json(&format!("/v2/images/{id}/actions/reactivate"), &json!({})).status, 204);
    let reply = download(&id);
    assert_eq!(reply.header("x-edge-cache"), Some("MISS"));
    assert_eq!(reply.body, b"deactivate me");
    let _ = wait_until("the MISS fill to be recorded", Duration::from_secs(30), || {
        cached(&id).ok_or_else(|| "not yet".to_string())
    });
    assert_eq!(app().delete(&format!("/v2/images/{id}")).status, 204);
}

#[test]
fn changing_visibility_purges_the_entry_and_other_changes_do_not() {
    let _turn = serial();
    let id = precached(b"visibility");
    let patch = |ops: Value| app().patch(&id, "application/openstack-images-v2.1-json-patch", &ops);
    assert_eq!(patch(json!([{"op": "add", "path": "/color", "value": "blue"}])).status, 200);
    assert!(cached(&id).is_some(), "a property change keeps the entry");
    assert_eq!(patch(json!([{"op": "replace", "path": "/visibility", "value": "public"}])).status, 200);
    assert!(cached(&id).is_none());
    assert_eq!(app().delete(&format!("/v2/images/{id}")).status, 204);
}

#[test]
fn an_empty_active_image_is_queued_and_recorded_cached_with_size_0() {
    let _turn = serial();
    // Empty data uploaded through v2 (an empty object in R2), and a v1
    // zero-size image (no object at all): nothing to fetch either way.
    let uploaded = app().create_active(&unique_tag(), b"", None);
    let reply =
        app().request("POST", "/v1/images", &[("x-image-meta-name", "empty"), ("x-image-meta-size", "0")], None);
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    let v1_empty = reply.json()["image"]["id"].as_str().unwrap().to_owned();
    for id in [&uploaded, &v1_empty] {
        assert_eq!(app().show(id)["size"], 0);
        let reply = queue(id);
        assert_eq!(reply.status, 202, "queueing empty image {id}: {}", String::from_utf8_lossy(&reply.body));
        let entry = wait_until("the empty image to be recorded cached", CACHED_IN_TIME, || {
            cached(id).ok_or_else(|| cache_list().to_string())
        });
        assert_eq!(entry["size"], 0, "{entry}");
        assert!(!queued(id));
        let reply = app().get(&format!("/v2/images/{id}/file"));
        assert_eq!((reply.status, reply.body.len()), (200, 0));
        assert_eq!(app().delete(&format!("/v2/cache/{id}")).status, 204);
    }
}

/// Each data centre has its own cache, as each Glance node has (the Cache
/// API holds a copy only where it was put): an image pre-cached here is not
/// listed in another data centre until pre-cached there too; removing or
/// clearing in one leaves the other; deleting the image purges them all.
#[test]
fn each_data_centre_lists_queues_and_clears_its_own_cache_and_a_delete_purges_them_all() {
    let _turn = serial();
    let remote = app_remote();
    let data = random_bytes(40_000, 144);
    let id = precached(&data);
    assert!(cached_at(remote, &id).is_none(), "pre-cached here, not in the other data centre");

    assert_eq!(queue_at(remote, &id).status, 202);
    wait_until("the image to be cached in the other data centre", CACHED_IN_TIME, || {
        cached_at(remote, &id).ok_or_else(|| cache_list_at(remote).to_string())
    });
    assert!(cached(&id).is_some());
    let rows = app().d1_query(&format!("SELECT data_centre FROM image_cache WHERE image_id = '{id}' ORDER BY 1"));
    let mut names: Vec<&str> = rows.iter().map(|r| r["data_centre"].as_str().unwrap()).collect();
    names.sort();
    let mut expected = vec![here(), "remote"];
    expected.sort();
    assert_eq!(names, expected);

    // Removing the entry, then clearing, in the other data centre leaves
    // this one's.
    assert_eq!(remote.delete(&format!("/v2/cache/{id}")).status, 204);
    assert!(cached_at(remote, &id).is_none());
    assert!(cached(&id).is_some(), "removed over there only");
    assert_eq!(queue_at(remote, &id).status, 202);
    wait_until("the image to be cached over there again", CACHED_IN_TIME, || {
        cached_at(remote, &id).ok_or_else(|| "not yet".to_string())
    });
    assert_eq!(remote.request("DELETE", "/v2/cache", &[], None).status, 204);
    assert!(cached_at(remote, &id).is_none());
    assert!(cached(&id).is_some(), "cleared over there only");

    // A download served over there fills (and records) its own cache.
    let reply = remote.get(&format!("/v2/images/{id}/file"));
    assert_eq!(reply.status, 200);
    assert!(reply.body == data);
    wait_until("the download's fill to be recorded over there", Duration::from_secs(30), || {
        cached_at(remote, &id).ok_or_else(|| "not yet".to_string())
    });

    // Deleting the image purges every data centre's entry.
    assert_eq!(remote.delete(&format!("/v2/images/{id}")).status, 204);
    assert!(cached(&id).is_none() && cached_at(remote, &id).is_none());
    assert!(app().d1_query(&format!("SELECT 1 FROM image_cache WHERE image_id = '{id}'")).is_empty());
}

/// A pre-cache fill runs in the isolate that queued it, for at most 30 s
/// past its answer: an entry still queued 15 minutes later is one whose
/// isolate went away, and the upkeep dequeues it (in any data centre) so
/// that it can be queued again; a recent one is left to its fill.
#[test]
fn the_upkeep_dequeues_fills_that_never_finished_and_leaves_recent_ones() {
    let _turn = serial();
    let stale = app().create_uploadable(&unique_tag());
    let recent = app().create_uploadable(&unique_tag());
    fake_queued(&stale);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    app().d1_execute(&format!(
        "INSERT INTO image_cache (data_centre, image_id, state, cache_key, last_accessed, last_modified) \
         VALUES ('remote', '{recent}', 'queued', 'http://127.0.0.1/__edge-cache/images/{recent}/none', {now}, {now})"
    ));
    let remote_queued =
        || cache_list_at(app_remote())["queued_images"].as_array().unwrap().iter().any(|q| q == &recent);
    assert!(queued(&stale) && remote_queued());
    app().fire_cron();
    assert!(!queued(&stale), "a fill queued long ago is dequeued");
    assert!(remote_queued(), "a recent one is left to its fill");
    assert_eq!(app_remote().delete(&format!("/v2/cache/{recent}")).status, 204);
    assert!(!remote_queued());
}
