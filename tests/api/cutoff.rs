//! Uploads cut off or stalled mid-body (issue 10, defects 2 and 3), sent
//! over raw TCP to the same server `scripts/dev` runs. A chunked upload of
//! unknown size (what `glance image-upload` sends) that never sends its
//! terminating chunk must never become `active`: it is `queued` again within
//! the idle bound (`UPLOAD_IDLE_SECONDS`, which `scripts/test` sets to
//! `CATALOG_UPLOAD_IDLE_SECONDS`), leaves no object, and a fresh upload then
//! works. A body that stops making progress is abandoned the same way, while
//! one that is slow but alive is not.

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use crate::helpers::{app, random_bytes, unique_tag};

/// The idle bound the test catalog runs with.
fn idle_bound() -> Duration {
    let seconds = std::env::var("CATALOG_UPLOAD_IDLE_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    Duration::from_secs(seconds)
}

/// Opens a chunked upload of unknown size and returns the socket.
fn open_chunked(id: &str) -> TcpStream {
    let address = app().base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).expect("connect");
    let head = format!(
        "PUT /v2/images/{id}/file HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

/// Writes `len` bytes as chunks of 64 KiB.
fn send_chunks(stream: &mut TcpStream, len: usize, seed: u64) {
    let data = random_bytes(len, seed);
    for piece in data.chunks(64 * 1024) {
        stream.write_all(format!("{:x}\r\n", piece.len()).as_bytes()).unwrap();
        stream.write_all(piece).unwrap();
        stream.write_all(b"\r\n").unwrap();
    }
    stream.flush().unwrap();
}

/// How a client cuts its upload short.
#[derive(Debug, Clone, Copy)]
enum Cut {
    /// Closes after a complete chunk (the terminating chunk never comes).
    AfterChunk,
    /// Closes in the middle of a chunk's data.
    MidChunk,
    /// Closes in the middle of a chunk-size line.
    MidSizeLine,
    /// Resets the connection (RST, not FIN).
    Reset,
    /// Keeps the connection open and sends nothing more.
    Stall,
}

fn cut_upload(id: &str, cut: Cut, before: usize) -> Option<TcpStream> {
    let mut stream = open_chunked(id);
    send_chunks(&mut stream, before, before as u64);
    match cut {
        Cut::AfterChunk => {}
        Cut::MidChunk => {
            stream.write_all(b"10000\r\n").unwrap();
            stream.write_all(&[7u8; 1000]).unwrap();
        }
        Cut::MidSizeLine => stream.write_all(b"100").unwrap(),
        Cut::Reset => {
            socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO)).unwrap();
        }
        Cut::Stall => {
            stream.flush().unwrap();
            return Some(stream);
        }
    }
    stream.flush().unwrap();
    thread::sleep(Duration::from_millis(300));
    drop(stream);
    None
}

/// Polls the image until it is `queued` again; fails if it is ever `active`.
fn assert_requeued_never_active(id: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let status = app().status_of(id);
        assert_ne!(status, "active", "a cut-off upload of image {id} became active");
        if status == "queued" {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "image {id} stayed {status} for {:?}", start.elapsed());
        thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn chunked_uploads_cut_off_before_the_last_chunk_never_become_active_and_are_queued_again() {
    let bound = idle_bound() + Duration::from_secs(20);
    // Small bodies (one part, single put) and bodies over 10 MiB (an R2
    // multipart upload in flight), each cut every way.
    let mut cases = Vec::new();
    for before in [256 * 1024, 12 * 1024 * 1024] {
        for cut in [Cut::AfterChunk, Cut::MidChunk, Cut::MidSizeLine, Cut::Reset, Cut::Stall] {
            cases.push((before, cut));
        }
    }
    let handles: Vec<_> = cases
        .into_iter()
        .map(|(before, cut)| {
            thread::spawn(move || {
                let id = app().create_uploadable(&unique_tag());
                let held = cut_upload(&id, cut, before);
                let took = assert_requeued_never_active(&id, bound);
                drop(held);
                (id, before, cut, took)
            })
        })
        .collect();
    for handle in handles {
        let (id, before, cut, took) = handle.join().unwrap();
        let image = app().show(&id);
        assert!(image["size"].is_null() && image["checksum"].is_null(), "{cut:?}/{before}: {image}");
        assert!(!app().object_exists(&id), "{cut:?}/{before}: a cut-off upload left an object in R2");
        let data = random_bytes(3 * 1024 * 1024 + 5, 9);
        let retry = app().request_chunked(
            "PUT",
            &format!("/v2/images/{id}/file"),
            &[("Content-Type", "application/octet-stream")],
            data.as_slice(),
        );
        assert_eq!(retry.status, 204, "{cut:?}/{before}: the retry after {took:?} failed");
        assert_eq!(app().show(&id)["size"].as_u64(), Some(data.len() as u64));
    }
}

#[test]
fn a_slow_upload_that_keeps_sending_outlives_the_idle_bound() {
    // Progress, not age, is what counts: a body that sends a little more
    // often than the idle bound completes however long it takes in all.
    let id = app().create_uploadable(&unique_tag());
    let mut stream = open_chunked(&id);
    let pause = idle_bound() / 3;
    let deadline = Instant::now() + idle_bound() * 2;
    let mut sent = 0;
    while Instant::now() < deadline {
        send_chunks(&mut stream, 1024, sent as u64 + 1);
        sent += 1024;
        thread::sleep(pause);
        assert_eq!(app().status_of(&id), "saving", "a live upload was abandoned after {sent} bytes");
    }
    stream.write_all(b"0\r\n\r\n").unwrap();
    stream.flush().unwrap();
    let start = Instant::now();
    while app().status_of(&id) != "active" {
        assert!(start.elapsed() < Duration::from_secs(30), "the slow upload did not complete");
        thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(app().show(&id)["size"].as_u64(), Some(sent as u64));
}
