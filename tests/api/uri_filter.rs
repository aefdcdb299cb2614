//! The URI filter in front of every download the catalog makes for a user
//! (Glance's `[import_filtering_opts]`, `glance/common/utils.py`
//! `validate_import_uri`): only http and https, ports 80 and 443, and no
//! loopback, private, link-local or unique-local hosts, except what the
//! operator allows. The test catalog allows host 127.0.0.1 and port
//! `CATALOG_FIXTURE_PORT` (`IMPORT_ALLOWED_HOSTS`, `IMPORT_ALLOWED_PORTS`),
//! where the fixture server listens; everything else below must be refused.
//!
//! A refused web-download URI answers 400 ("does not pass filtering"),
//! leaves the image `queued` and records the refusal as a failed task on the
//! image. Redirects are followed hop by hop and each hop is filtered again:
//! a redirect to a refused place fails the import asynchronously.

use std::sync::Arc;
use std::thread;

use serde_json::{json, Value};

use crate::fixture_server::{fixture, Route};
use crate::helpers::{app, empty_or_absent, random_bytes, unique_tag, IMPORT_TIMEOUT};
use crate::imports::{assert_failed_web_download, web_download};

/// Words one of which a refusal's task message should use to say why.
const REASON_WORDS: [&str; 9] =
    ["filter", "scheme", "port", "host", "address", "loopback", "private", "link-local", "not allowed"];

/// URIs the test catalog's filter must refuse, each with why. Paths are
/// registered on the fixture server so that a wrongly allowed loopback
/// request would be seen (and counted) there.
fn refused_uris(path: &str) -> Vec<(&'static str, String)> {
    let port = fixture().port();
    let unallowed_port = if port == 8080 { 8081 } else { 8080 };
    vec![
        ("another loopback address", fixture().url_on("127.0.0.2", path)),
        ("localhost by name", fixture().url_on("localhost", path)),
        ("IPv6 loopback", fixture().url_on("[::1]", path)),
        ("IPv4-mapped IPv6 loopback", fixture().url_on("[::ffff:127.0.0.2]", path)),
        ("127.0.0.2 written in hex", fixture().url_on("0x7f000002", path)),
        ("127.0.0.2 written as one number", fixture().url_on("2130706434", path)),
        ("the unspecified address", fixture().url_on("0.0.0.0", path)),
        ("link-local metadata service", "http://169.254.169.254/latest/meta-data/".to_owned()),
        ("private 10/8", fixture().url_on("10.0.0.1", path)),
        ("private 172.16/12", fixture().url_on("172.16.0.1", path)),
        ("private 192.168/16", fixture().url_on("192.168.0.1", path)),
        ("IPv4-mapped IPv6 private", fixture().url_on("[::ffff:10.0.0.1]", path)),
        ("IPv6 unique local", fixture().url_on("[fd00::1]", path)),
        ("IPv6 link-local", fixture().url_on("[fe80::1]", path)),
        ("allowed host, port not allowed", format!("http://127.0.0.1:1{path}")),
        ("allowed host, another port not allowed", format!("http://127.0.0.1:{unallowed_port}{path}")),
        ("userinfo hiding a private host", format!("http://127.0.0.1:{port}@10.0.0.1:{port}{path}")),
        ("ftp", format!("ftp://127.0.0.1:{port}{path}")),
        ("file", "file:///etc/passwd".to_owned()),
        ("gopher", format!("gopher://127.0.0.1:{port}{path}")),
        ("data", "data:application/octet-stream;base64,AAAA".to_owned()),
        ("no scheme", format!("127.0.0.1:{port}{path}")),
    ]
}

#[test]
fn refused_web_download_uris_answer_400_leave_the_image_queued_and_record_a_failed_task() {
    let tag = unique_tag();
    let path = fixture().serve(Route::Fixed(Arc::new(b"must never be fetched".to_vec())));
    let handles: Vec<_> = refused_uris(&path)
        .into_iter()
        .map(|(why, uri)| {
            let tag = tag.clone();
            thread::spawn(move || {
                let id = app().create_importable(&tag, why);
                let reply = app().import(&id, &web_download(&uri));
                assert_eq!(
                    reply.status,
                    400,
                    "{why} ({uri}) must be refused: {}",
                    String::from_utf8_lossy(&reply.body)
                );
                reply.assert_error(400, "does not pass filtering");
                let image = app().show(&id);
                assert_eq!(image["status"], "queued", "{why}: {image}");
                assert!(empty_or_absent(&image, "os_glance_import_task"), "{why}: a refused import holds the lock");
                assert!(image["size"].is_null() && image["checksum"].is_null(), "{why}: {image}");
                let tasks = app().image_tasks(&id);
                assert_eq!(tasks.len(), 1, "{why}: the refusal is recorded as one task: {tasks:?}");
                let task = &tasks[0];
                assert_eq!(task["status"], "failure", "{why}: {task}");
                assert_eq!(task["type"], "api_image_import", "{why}: {task}");
                assert_eq!(task["input"]["import_req"]["method"]["uri"], uri.as_str(), "{why}: {task}");
                let message = task["message"].as_str().unwrap_or_default().to_lowercase();
                assert!(
                    REASON_WORDS.iter().any(|w| message.contains(w)),
                    "{why}: the failed task should say why {uri} was refused, says {message:?}"
                );
                // The image is still usable: an allowed URI imports.
                let data = random_bytes(10_000, uri.len() as u64);
                app().start_import(&id, &web_download(&fixture().serve_bytes(&data)));
                let image = app().wait_for_import(&id, IMPORT_TIMEOUT);
                app().assert_imported(&image, &data, "primary");
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("a refused-URI case failed");
    }
    assert_eq!(fixture().hits(&path), 0, "the catalog fetched a refused URI through a loopback alias");
}

#[test]
fn a_web_download_without_a_uri_is_refused() {
    let id = app().create_importable(&unique_tag(), "no uri");
    app().import(&id, &json!({"method": {"name": "web-download"}})).assert_error(400, "");
    app().import(&id, &web_download("")).assert_error(400, "");
    assert_eq!(app().status_of(&id), "queued");
}

#[test]
fn the_allowed_loopback_origin_passes_the_filter() {
    let data = random_bytes(512 * 1024 + 7, 401);
    let path = fixture().serve(Route::Fixed(Arc::new(data.clone())));
    let id = app().create_importable(&unique_tag(), "allowed");
    app().start_import(&id, &web_download(&fixture().url(&path)));
    let image = app().wait_for_import(&id, IMPORT_TIMEOUT);
    app().assert_imported(&image, &data, "primary");
    assert_eq!(fixture().hits(&path), 1, "fetched exactly once");
}

#[test]
fn a_redirect_to_a_refused_place_fails_the_import_asynchronously() {
    let tag = unique_tag();
    // A body on the fixture server that must not be reached through an alias.
    let decoy = fixture().serve(Route::Fixed(Arc::new(b"decoy".to_vec())));
    let port = fixture().port();
    let allowed_then_private = {
        let last = fixture()
            .url(&fixture().serve(Route::Redirect { status: 302, location: fixture().url_on("10.0.0.1", "/") }));
        fixture().url(&fixture().serve(Route::Redirect { status: 301, location: last }))
    };
    let targets: Vec<(&str, String)> = vec![
        ("metadata service", "http://169.254.169.254/latest/meta-data/".to_owned()),
        ("private host on the allowed port", format!("http://10.0.0.1:{port}/")),
        ("localhost alias of the fixture", fixture().url_on("localhost", &decoy)),
        ("another loopback address", fixture().url_on("127.0.0.2", &decoy)),
        ("a refused scheme", format!("ftp://127.0.0.1:{port}{decoy}")),
        ("a refused port", format!("http://127.0.0.1:1{decoy}")),
        ("an allowed hop, then a private host", allowed_then_private),
    ];
    let handles: Vec<_> = targets
        .into_iter()
        .map(|(why, target)| {
            let tag = tag.clone();
            thread::spawn(move || {
                let path = fixture().serve(Route::Redirect { status: 302, location: target.clone() });
                let url = fixture().url(&path);
                let id = app().create_importable(&tag, why);
                // The first URI passes the filter: accepted, then the hop fails.
                let reply = app().import(&id, &web_download(&url));
                assert_eq!(reply.status, 202, "{why}: {}", String::from_utf8_lossy(&reply.body));
                let image: Value = assert_failed_web_download(&id, &url);
                assert!(fixture().hits(&path) >= 1, "{why}: the allowed first URI was never fetched");
                let task = app().image_tasks(&id).into_iter().find(|t| t["status"] == "failure").unwrap();
                assert!(
                    !task["message"].as_str().unwrap_or_default().is_empty(),
                    "{why}: the failed task should say the redirect to {target} was refused: {task} {image}"
                );
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("a refused-redirect case failed");
    }
    assert_eq!(fixture().hits(&decoy), 0, "a redirect reached the fixture through a refused alias");
}
