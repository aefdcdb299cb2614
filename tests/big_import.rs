//! The 1 GiB web-download (issue 11's bound), alone: a transfer that
//! saturates the local runtime delays the other requests its single
//! isolate serves (measured: concurrent requests of the api suite were
//! reset while it ran), so it runs after `tests/api`, not beside it.
//! Same catalog and environment as `tests/api` (see `tests/api/main.rs`).

#[allow(dead_code)]
#[path = "api/fixture_server.rs"]
mod fixture_server;
#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::fixture_server::{fixture, Route};
use crate::helpers::{app, random_bytes, unique_tag};

/// The bound: an image of at least 1 GiB goes in by web-download
/// (the only way a stock client gets an image over the request-body limit
/// into the catalog), with the checksums the catalog computed verified
/// against the source, and the same bytes come back out.
#[test]
fn a_one_gib_web_download_completes_with_verified_checksums() {
    use md5::Digest as _;
    const BLOCK: usize = 64 << 20;
    const TIMES: usize = 16;
    let block = Arc::new(random_bytes(BLOCK, 1_073_741_824));
    let hashes = |read: &mut dyn std::io::Read| {
        let (mut md5, mut sha, mut size) = (md5::Md5::new(), sha2::Sha512::new(), 0u64);
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let n = read.read(&mut buffer).expect("reading the download");
            if n == 0 {
                break;
            }
            md5.update(&buffer[..n]);
            sha.update(&buffer[..n]);
            size += n as u64;
        }
        (size, crate::helpers::hex(&md5.finalize()), crate::helpers::hex(&sha.finalize()))
    };
    // Hash the source as the server will send it, a block at a time.
    let expected = {
        let (mut md5, mut sha) = (md5::Md5::new(), sha2::Sha512::new());
        for _ in 0..TIMES {
            md5.update(block.as_slice());
            sha.update(block.as_slice());
        }
        ((BLOCK * TIMES) as u64, crate::helpers::hex(&md5.finalize()), crate::helpers::hex(&sha.finalize()))
    };
    let url = fixture().url(&fixture().serve(Route::Repeated { block, times: TIMES }));
    let id = app().create_importable(&unique_tag(), "one-gib");
    app().start_import(&id, &json!({"method": {"name": "web-download", "uri": url}}));
    let image = app().wait_for_import(&id, Duration::from_secs(900));
    assert_eq!(image["status"], "active", "{image}");
    assert_eq!(image["size"].as_u64(), Some(expected.0), "{image}");
    assert_eq!(image["checksum"], expected.1.as_str(), "{image}");
    assert_eq!(image["os_hash_value"], expected.2.as_str(), "{image}");
    let response = ureq::get(&app().url(&format!("/v2/images/{id}/file"))).call().expect("download");
    assert_eq!(response.header("content-md5"), Some(expected.1.as_str()));
    let downloaded = hashes(&mut response.into_reader());
    assert_eq!(downloaded, expected, "the bytes downloaded differ from the bytes imported");
    app().delete(&format!("/v2/images/{id}"));
}
