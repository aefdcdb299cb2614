//! Imports run side by side: the consumer works on a batch's messages at
//! once, so a slow or stalled source never holds the others, and every
//! import ends with its own outcome (active, or a failed task naming its
//! own reason), never with "the worker stopped" for a task that merely
//! waited. A location whose source trickles for longer than the upkeep's
//! stall bound keeps its task alive by its heartbeat.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fixture_server::{fixture, Gate, Route};
use crate::helpers::{app, app_b, md5_hex, random_bytes, sha512_hex, task_is_final, unique_tag, wait_until};

/// What an import is expected to end as.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    /// Active with the data served.
    Active,
    /// A failed task whose message mentions this.
    Failed(&'static str),
}

fn web_download(url: &str) -> Value {
    json!({"method": {"name": "web-download", "uri": url}})
}

/// The image and its single task once the task is final.
fn settled(id: &str, timeout: Duration) -> (Value, Value) {
    wait_until(&format!("the import of {id} to end"), timeout, || {
        let tasks = app().image_tasks(id);
        match tasks.as_slice() {
            [task] if task_is_final(task) => Ok((app().show(id), task.clone())),
            other => Err(format!("tasks {other:?}")),
        }
    })
}

#[test]
fn twelve_imports_at_once_each_end_with_their_own_outcome_and_stalled_sources_hold_none() {
    let tag = unique_tag();
    let stalled = Gate::new();
    let mut cases: Vec<(String, Option<Vec<u8>>, Outcome)> = Vec::new();
    for i in 0..6 {
        let data = random_bytes(200 * 1024 + i * 777, 900 + i as u64);
        let route =
            if i % 2 == 0 { Route::Fixed(Arc::new(data.clone())) } else { Route::Chunked(Arc::new(data.clone())) };
        cases.push((fixture().url(&fixture().serve(route)), Some(data), Outcome::Active));
    }
    // A slow but live source (~3 s), which must hold nobody either.
    let slow = random_bytes(96 * 1024, 990);
    let route = Route::Slow { data: Arc::new(slow.clone()), piece: 8 * 1024, pause: Duration::from_millis(250) };
    cases.push((fixture().url(&fixture().serve(route)), Some(slow), Outcome::Active));
    cases.push((fixture().url(&fixture().serve(Route::Status(404))), None, Outcome::Failed("404")));
    cases.push((fixture().url(&fixture().serve(Route::Status(500))), None, Outcome::Failed("500")));
    let refused_hop = Route::Redirect { status: 302, location: "http://169.254.169.254/latest/meta-data/".into() };
    cases.push((fixture().url(&fixture().serve(refused_hop)), None, Outcome::Failed("filter")));
    for seed in [991, 992] {
        let data = Arc::new(random_bytes(128 * 1024, seed));
        let route = Route::Gated { data, before: 16 * 1024, gate: stalled.clone() };
        cases.push((fixture().url(&fixture().serve(route)), None, Outcome::Failed("sent nothing")));
    }
    assert_eq!(cases.len(), 12);

    let start = Instant::now();
    let ids: Vec<String> = cases
        .iter()
        .enumerate()
        .map(|(i, (url, _, _))| {
            let id = app().create_importable(&tag, &format!("side by side {i}"));
            app().start_import(&id, &web_download(url));
            id
        })
        .collect();
    let handles: Vec<_> = ids
        .into_iter()
        .zip(cases)
        .map(|(id, (url, data, outcome))| {
            thread::spawn(move || {
                let (image, task) = settled(&id, Duration::from_secs(30).saturating_sub(start.elapsed()));
                let message = task["message"].as_str().unwrap_or_default().to_owned();
                assert!(!message.contains("worker stopped"), "{url}: failed as dead although it ran: {task}");
                match outcome {
                    Outcome::Active => {
                        let data = data.expect("data of an import expected to succeed");
                        assert_eq!(task["status"], "success", "{url}: {task}");
                        assert_eq!(image["status"], "active", "{url}: {image}");
                        assert_eq!(image["checksum"], md5_hex(&data).as_str(), "{url}: {image}");
                        assert_eq!(image["os_hash_value"], sha512_hex(&data).as_str(), "{url}: {image}");
                    }
                    Outcome::Failed(reason) => {
                        assert_eq!(task["status"], "failure", "{url}: {task}");
                        assert!(message.contains(reason), "{url}: the task should say {reason:?}: {task}");
                        assert_eq!(image["status"], "queued", "{url}: a failed web-download leaves it queued: {image}");
                    }
                }
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(thread::JoinHandle::join).collect();
    stalled.open();
    for result in results {
        result.expect("an import did not end as expected within 30 s");
    }
}

#[test]
fn a_location_whose_source_trickles_past_the_stall_bound_becomes_active_with_its_hashes() {
    // The upkeep's stall bound here is its floor, 2 x UPLOAD_IDLE_SECONDS
    // + 60 s (the catalogs run with a 6 s idle bound): the source takes
    // twice that, sending a little every 4 s, while the cron fires every
    // 10 s. On catalog B, whose cron only tests holding its turn fire, so
    // the other suites' upkeep is left alone.
    let app = app_b();
    let idle: u64 = std::env::var("CATALOG_UPLOAD_IDLE_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let bound = Duration::from_secs(2 * idle + 60);
    let pause = Duration::from_secs(4);
    let pieces = (2 * bound.as_secs()).div_ceil(pause.as_secs()) as usize + 1;
    let data = random_bytes(pieces * 1024, 995);
    let route = Route::Slow { data: Arc::new(data.clone()), piece: 1024, pause };
    let url = fixture().url(&fixture().serve(route));
    let id = app.create_importable(&unique_tag(), "trickling location");
    let sha512 = sha512_hex(&data);
    let body = json!({"url": url, "validation_data": {"os_hash_algo": "sha512", "os_hash_value": sha512}});
    let reply = app.post_json(&format!("/v2/images/{id}/locations"), &body);
    assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
    let start = Instant::now();
    let deadline = 2 * bound + Duration::from_secs(60);
    loop {
        let tasks = app.image_tasks(&id);
        let task = tasks.first().cloned().unwrap_or_default();
        if task_is_final(&task) {
            assert_eq!(task["status"], "success", "{task}");
            break;
        }
        assert!(start.elapsed() < deadline, "the hashing did not finish within {deadline:?}: {task}");
        {
            let _turn = crate::delayed_delete::scrub_turn();
            app.fire_cron();
        }
        thread::sleep(Duration::from_secs(10));
    }
    assert!(start.elapsed() > bound, "the source was meant to outlast the stall bound ({bound:?})");
    let image = app.show(&id);
    assert_eq!(image["status"], "active", "{image}");
    assert_eq!(image["size"].as_u64(), Some(data.len() as u64), "{image}");
    assert_eq!(image["checksum"], md5_hex(&data).as_str(), "{image}");
    assert_eq!(image["os_hash_value"], sha512.as_str(), "{image}");
}
