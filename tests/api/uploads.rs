//! Resumable uploads over tus 1.0 (`/v2/images/{id}/uploads`) against the
//! real runtime: offsets mapped onto R2 parts, stale and concurrent
//! PATCHes, checksums, concatenation, termination, a PATCH cut off
//! mid-body over raw TCP, expiry by the cron, and the end of every upload:
//! staged data imported with glance-direct into an `active` image whose
//! md5 and sha512 are the bytes'.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine;
use serde_json::json;
use sha1::Digest;

use crate::helpers::{app, md5_hex, random_bytes, sha512_hex, unique_tag, wait_until, Reply};

const MIB: usize = 1 << 20;
const TUS: (&str, &str) = ("Tus-Resumable", "1.0.0");
const OCTETS: (&str, &str) = ("Content-Type", "application/offset+octet-stream");

fn uploads_of(image: &str) -> String {
    format!("/v2/images/{image}/uploads")
}

/// Creates an upload; returns its path (from the absolute `Location`).
fn create_upload(image: &str, headers: &[(&str, &str)]) -> String {
    let reply = app().request("POST", &uploads_of(image), &[&[TUS], headers].concat(), None);
    assert_eq!(reply.status, 201, "create: {}", String::from_utf8_lossy(&reply.body));
    assert_eq!(reply.header("tus-resumable"), Some("1.0.0"));
    let location = reply.header("location").expect("Location").to_owned();
    assert!(location.starts_with(&app().base), "{location} is absolute");
    location[app().base.len()..].to_owned()
}

fn whole_upload(image: &str, length: usize) -> String {
    create_upload(image, &[("Upload-Length", &length.to_string())])
}

fn send(path: &str, offset: usize, bytes: &[u8], extra: &[(&str, &str)]) -> Reply {
    let offset = offset.to_string();
    app().request("PATCH", path, &[&[TUS, OCTETS, ("Upload-Offset", offset.as_str())], extra].concat(), Some(bytes))
}

fn offset_of(path: &str) -> usize {
    let reply = app().request("HEAD", path, &[TUS], None);
    assert_eq!(reply.status, 200, "HEAD {path}");
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    reply.header("upload-offset").expect("Upload-Offset").parse().unwrap()
}

/// Sends `data` from `from` in PATCHes of the given sizes (the last one
/// takes the rest).
fn send_in(path: &str, data: &[u8], from: usize, sizes: &[usize]) {
    let mut at = from;
    for (i, size) in sizes.iter().enumerate() {
        let end = if i + 1 == sizes.len() { data.len() } else { (at + size).min(data.len()) };
        let reply = send(path, at, &data[at..end], &[]);
        assert_eq!(reply.status, 204, "PATCH at {at}: {}", String::from_utf8_lossy(&reply.body));
        assert_eq!(reply.header("upload-offset"), Some(end.to_string().as_str()));
        assert!(reply.header("upload-expires").is_some_and(|e| e.ends_with(" GMT")));
        at = end;
    }
}

/// Imports the staged data with glance-direct and checks the image is
/// active with the bytes' size and hashes.
fn import_and_check(image: &str, data: &[u8]) {
    let staged = app().show(image);
    assert_eq!(staged["status"], "uploading", "{staged}");
    assert_eq!(staged["size"], data.len());
    app().start_import(image, &json!({"method": {"name": "glance-direct"}}));
    let done = app().wait_for_import(image, Duration::from_secs(120));
    assert_eq!(done["status"], "active", "{done}");
    assert_eq!(done["size"], data.len());
    assert_eq!(done["checksum"].as_str(), Some(md5_hex(data).as_str()));
    assert_eq!(done["os_hash_value"].as_str(), Some(sha512_hex(data).as_str()));
    let downloaded = app().get(&format!("/v2/images/{image}/file"));
    assert!(downloaded.body == data, "the downloaded bytes are the uploaded ones");
}

fn upload_id(path: &str) -> &str {
    path.rsplit('/').next().unwrap()
}

#[test]
fn options_say_what_the_protocol_supports() {
    let image = app().create_importable(&unique_tag(), "tus options");
    let reply = app().request("OPTIONS", &uploads_of(&image), &[], None);
    assert_eq!(reply.status, 204);
    assert_eq!(reply.header("tus-version"), Some("1.0.0"));
    let extensions = reply.header("tus-extension").unwrap();
    for needed in ["creation", "creation-with-upload", "termination", "checksum", "expiration", "concatenation"] {
        assert!(extensions.split(',').any(|e| e == needed), "{needed} in {extensions}");
    }
    assert!(reply.header("tus-checksum-algorithm").unwrap().contains("sha1"));
    let max: u64 = reply.header("tus-max-size").unwrap().parse().unwrap();
    assert!(max > 0 && max <= 1 << 40, "Tus-Max-Size {max} is at most the size cap");
}

#[test]
fn uneven_patches_become_parts_and_tails_and_the_import_makes_the_image_active() {
    let image = app().create_importable(&unique_tag(), "tus whole");
    let data = random_bytes(21 * MIB + 12345, 1901);
    let path = whole_upload(&image, data.len());
    assert_eq!(offset_of(&path), 0);
    // 3 MiB (a tail only), 9 MiB (the tail opens part 1, 4 MiB tail),
    // 1 byte, then the rest (parts 2 and 3, the last one short).
    send_in(&path, &data, 0, &[3 * MIB, 9 * MIB, 1, 0]);
    assert_eq!(offset_of(&path), data.len());
    import_and_check(&image, &data);
    // Nothing of the upload is left in R2 but the image's data.
    let left: Vec<String> = app().r2_keys_mentioning(upload_id(&path));
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_stale_offset_is_409_and_changes_nothing() {
    let image = app().create_importable(&unique_tag(), "tus stale");
    let data = random_bytes(10 * MIB, 1902);
    let path = whole_upload(&image, data.len());
    send_in(&path, &data[..4 * MIB], 0, &[4 * MIB]);
    // Again at 0 (a client that did not see the answer), and ahead.
    for stale in [0, 2 * MIB, 5 * MIB] {
        let reply = send(&path, stale, &data[stale..stale + MIB], &[]);
        reply.assert_error(409, "resume from 4194304");
        assert_eq!(offset_of(&path), 4 * MIB);
    }
    let past = send(&path, 4 * MIB, &vec![0; 7 * MIB], &[]);
    past.assert_error(413, "past the upload's length");
    send_in(&path, &data, 4 * MIB, &[0]);
    import_and_check(&image, &data);
}

#[test]
fn checksums_are_checked_and_a_mismatch_keeps_nothing() {
    let image = app().create_importable(&unique_tag(), "tus checksum");
    let data = random_bytes(9 * MIB + 7, 1903);
    let path = whole_upload(&image, data.len());
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let first = &data[..6 * MIB];
    let wrong = format!("sha1 {}", b64(&sha1::Sha1::digest(&data[1..6 * MIB + 1])));
    send(&path, 0, first, &[("Upload-Checksum", &wrong)]).assert_error(460, "sha1");
    assert_eq!(offset_of(&path), 0, "nothing of a mismatched PATCH is kept");
    let unknown = send(&path, 0, first, &[("Upload-Checksum", "crc32 AAAAAA==")]);
    unknown.assert_error(400, "Upload-Checksum");
    let right = format!("sha1 {}", b64(&sha1::Sha1::digest(first)));
    assert_eq!(send(&path, 0, first, &[("Upload-Checksum", &right)]).status, 204);
    let rest = &data[6 * MIB..];
    let right = format!("sha256 {}", b64(&sha2::Sha256::digest(rest)));
    assert_eq!(send(&path, 6 * MIB, rest, &[("Upload-Checksum", &right)]).status, 204);
    import_and_check(&image, &data);
}

#[test]
fn partial_uploads_are_concatenated_in_the_final_ones_order() {
    let image = app().create_importable(&unique_tag(), "tus concat");
    let data = random_bytes(26 * MIB + 3, 1904);
    let cuts = [0, 9 * MIB + 1, 17 * MIB, data.len()];
    let partial = ("Upload-Concat", "partial");
    let paths: Vec<String> = cuts
        .windows(2)
        .map(|w| create_upload(&image, &[partial, ("Upload-Length", &(w[1] - w[0]).to_string())]))
        .collect();
    // Sent in another order than joined: the final's order decides.
    for i in [2, 0, 1] {
        let piece = &data[cuts[i]..cuts[i + 1]];
        send_in(&paths[i], piece, 0, &[5 * MIB, 0]);
    }
    let head = app().request("HEAD", &paths[0], &[TUS], None);
    assert_eq!(head.header("upload-concat"), Some("partial"));
    // A final naming an unfinished or foreign upload is refused.
    let other = app().create_importable(&unique_tag(), "tus other");
    let foreign = create_upload(&other, &[partial, ("Upload-Length", "5")]);
    let urls = |list: &[&String]| list.iter().map(|p| app().url(p)).collect::<Vec<_>>().join(" ");
    let refused = app().request(
        "POST",
        &uploads_of(&image),
        &[TUS, ("Upload-Concat", &format!("final;{}", urls(&[&paths[0], &foreign])))],
        None,
    );
    refused.assert_error(400, "not an upload of this image");
    let joined = format!("final;{}", urls(&paths.iter().collect::<Vec<_>>()));
    let final_path = create_upload(&image, &[("Upload-Concat", &joined)]);
    let head = app().request("HEAD", &final_path, &[TUS], None);
    assert_eq!(head.header("upload-offset"), Some(data.len().to_string().as_str()));
    assert!(head.header("upload-concat").unwrap().starts_with("final;"));
    let patched = send(&final_path, data.len(), b"x", &[]);
    assert_eq!(patched.status, 403, "a final upload takes no PATCH");
    // The partial uploads are gone once joined (their objects are the
    // staged data until the import has read them).
    for path in &paths {
        assert_eq!(app().request("HEAD", path, &[TUS], None).status, 404);
    }
    let terminated = app().request("DELETE", &final_path, &[TUS], None);
    assert_eq!(terminated.status, 409, "staged data is not terminated behind the image's back");
    import_and_check(&image, &data);
    for path in paths.iter().chain([&final_path]) {
        let left = app().r2_keys_mentioning(upload_id(path));
        assert!(left.is_empty(), "left behind after the import: {left:?}");
    }
}

#[test]
fn termination_removes_the_upload_and_everything_it_stored() {
    let image = app().create_importable(&unique_tag(), "tus terminate");
    let data = random_bytes(20 * MIB, 1905);
    let path = whole_upload(&image, data.len());
    send_in(&path, &data[..11 * MIB], 0, &[11 * MIB]);
    assert!(!app().r2_keys_mentioning(upload_id(&path)).is_empty(), "a part and a tail are stored");
    let reply = app().request("DELETE", &path, &[TUS], None);
    assert_eq!(reply.status, 204);
    assert_eq!(app().request("HEAD", &path, &[TUS], None).status, 404);
    let left = app().r2_keys_mentioning(upload_id(&path));
    assert!(left.is_empty(), "left behind: {left:?}");
    assert_eq!(app().status_of(&image), "queued", "the image never took the data");
}

#[test]
fn protocol_errors_are_clear_4xx() {
    let image = app().create_importable(&unique_tag(), "tus errors");
    let missing_version = app().request("POST", &uploads_of(&image), &[("Upload-Length", "5")], None);
    missing_version.assert_error(412, "Tus-Resumable");
    assert_eq!(missing_version.header("tus-version"), Some("1.0.0"));
    app().request("POST", &uploads_of(&image), &[TUS], None).assert_error(400, "Upload-Length");
    app()
        .request("POST", &uploads_of(&image), &[TUS, ("Upload-Length", "-4")], None)
        .assert_error(400, "Upload-Length");
    let huge = app().request("POST", &uploads_of(&image), &[TUS, ("Upload-Length", "99999999999999999")], None);
    huge.assert_error(413, "exceeds");
    app()
        .request("POST", &uploads_of(&image), &[TUS, ("Upload-Length", "5"), ("Upload-Metadata", "name %%%")], None)
        .assert_error(400, "Upload-Metadata");
    let path = whole_upload(&image, 5);
    let typed =
        app().request("PATCH", &path, &[TUS, ("Upload-Offset", "0"), ("Content-Type", "text/plain")], Some(b"12345"));
    typed.assert_error(415, "application/offset+octet-stream");
    send(&path, 0, b"1", &[("Upload-Offset", "x")]).assert_error(400, "Upload-Offset");
    let unknown = format!("{}/{}", uploads_of(&image), uuid::Uuid::new_v4());
    // HEAD answers carry no body: the PATCH says why.
    assert_eq!(app().request("HEAD", &unknown, &[TUS], None).status, 404);
    send(&unknown, 0, b"1", &[]).assert_error(404, "No upload");
    send(&format!("{}/nope", uploads_of(&image)), 0, b"1", &[]).assert_error(404, "No upload");
    // Another image's URL does not reach the upload.
    let other = app().create_importable(&unique_tag(), "tus other");
    let crossed = format!("{}/{}", uploads_of(&other), upload_id(&path));
    assert_eq!(app().request("HEAD", &crossed, &[TUS], None).status, 404);
    send(&crossed, 0, b"1", &[]).assert_error(404, "No upload");
    // An active image takes no upload.
    let active = app().create_active(&unique_tag(), b"data", None);
    let refused = app().request("POST", &uploads_of(&active), &[TUS, ("Upload-Length", "5")], None);
    assert_eq!(refused.status, 409, "{}", String::from_utf8_lossy(&refused.body));
}

#[test]
fn concurrent_patches_at_one_offset_store_the_bytes_once() {
    let image = app().create_importable(&unique_tag(), "tus race");
    let data = random_bytes(24 * MIB, 1906);
    let path = whole_upload(&image, data.len());
    for round in 0..3 {
        let at = offset_of(&path);
        let end = (at + 8 * MIB).min(data.len());
        let replies: Vec<u16> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..3).map(|_| s.spawn(|| send(&path, at, &data[at..end], &[]).status)).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(replies.iter().filter(|s| **s == 204).count(), 1, "round {round}: {replies:?}");
        assert!(replies.iter().all(|s| [204, 409, 423].contains(s)), "round {round}: {replies:?}");
        assert_eq!(offset_of(&path), end);
    }
    import_and_check(&image, &data);
}

#[test]
fn a_patch_cut_off_mid_body_keeps_its_whole_parts_and_resumes() {
    let image = app().create_importable(&unique_tag(), "tus cut");
    let data = random_bytes(30 * MIB, 1907);
    let path = whole_upload(&image, data.len());
    // Over raw TCP: 20 MiB announced, 17 MiB sent, then the connection
    // goes away. Two whole 8 MiB parts were stored; the rest is lost.
    let address = app().base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).unwrap();
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nHost: {address}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n\
         Content-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        20 * MIB
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&data[..17 * MIB]).unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    drop(stream);
    // The PATCH's work runs on after the client is gone: it records what
    // was stored, and HEAD then says so.
    let kept = wait_until("the cut PATCH to record its parts", Duration::from_secs(30), || match offset_of(&path) {
        0 => Err("offset still 0".to_owned()),
        offset => Ok(offset),
    });
    assert_eq!(kept, 16 * MIB, "the two whole parts are kept, nothing else");
    send_in(&path, &data, kept, &[0]);
    import_and_check(&image, &data);
}

#[test]
fn the_cron_removes_expired_uploads_and_what_they_stored() {
    let _turn = crate::maintenance::upkeep_turn();
    let image = app().create_importable(&unique_tag(), "tus expiry");
    let data = random_bytes(12 * MIB, 1908);
    let path = whole_upload(&image, data.len());
    send_in(&path, &data[..10 * MIB], 0, &[10 * MIB]);
    let live = whole_upload(&image, 5);
    let id = upload_id(&path);
    assert!(!app().r2_keys_mentioning(id).is_empty());
    app().d1_execute(&format!("UPDATE resumable_uploads SET expires_at = 1000 WHERE id = '{id}'"));
    assert_eq!(app().request("HEAD", &path, &[TUS], None).status, 410);
    send(&path, 10 * MIB, b"1", &[]).assert_error(410, "expired");
    app().fire_cron();
    assert_eq!(app().request("HEAD", &path, &[TUS], None).status, 404);
    let left = app().r2_keys_mentioning(id);
    assert!(left.is_empty(), "left behind: {left:?} (the multipart upload must be aborted too)");
    assert_eq!(offset_of(&live), 0, "an upload that has not expired stays");
}

#[test]
fn staged_uploads_go_with_their_image() {
    let image = app().create_importable(&unique_tag(), "tus deleted");
    let data = random_bytes(9 * MIB, 1909);
    let path = whole_upload(&image, data.len());
    send_in(&path, &data, 0, &[0]);
    assert_eq!(app().status_of(&image), "uploading");
    assert!(!app().r2_keys_mentioning(upload_id(&path)).is_empty(), "the staged data stays where it was sent");
    // A second upload cannot stage over it.
    let second = whole_upload(&app().create_importable(&unique_tag(), "other"), 1);
    assert_eq!(send(&second, 0, b"x", &[]).status, 204);
    let late = create_upload_reply(&image, &[("Upload-Length", "1")]);
    assert_eq!(late.status, 409, "an uploading image takes no new upload");
    assert_eq!(app().delete(&format!("/v2/images/{image}")).status, 204);
    let left = app().r2_keys_mentioning(upload_id(&path));
    assert!(left.is_empty(), "left behind by the delete: {left:?}");
    assert_eq!(app().request("HEAD", &path, &[TUS], None).status, 404);
}

fn create_upload_reply(image: &str, headers: &[(&str, &str)]) -> Reply {
    app().request("POST", &uploads_of(image), &[&[TUS], headers].concat(), None)
}

#[test]
fn empty_partial_uploads_join_like_the_others() {
    let image = app().create_importable(&unique_tag(), "tus empty part");
    let data = random_bytes(3 * MIB + 1, 1910);
    let partial = ("Upload-Concat", "partial");
    let empty = create_upload(&image, &[partial, ("Upload-Length", "0")]);
    let full = create_upload(&image, &[partial, ("Upload-Length", &data.len().to_string())]);
    send_in(&full, &data, 0, &[0]);
    let joined = format!("final;{} {} {}", app().url(&empty), app().url(&full), app().url(&empty));
    let refused = create_upload_reply(&image, &[("Upload-Concat", &joined)]);
    refused.assert_error(400, "named twice");
    create_upload(&image, &[("Upload-Concat", &format!("final;{} {}", app().url(&empty), app().url(&full)))]);
    import_and_check(&image, &data);
}

#[test]
fn bytes_for_an_image_that_moved_on_are_refused_at_once() {
    let image = app().create_importable(&unique_tag(), "tus moved on");
    let path = whole_upload(&image, 10);
    assert_eq!(app().upload(&image, b"direct upload").status, 204);
    let late = send(&path, 0, b"0123456789", &[]);
    assert_eq!(late.status, 409, "{}", String::from_utf8_lossy(&late.body));
    assert_eq!(offset_of(&path), 0);
    assert_eq!(app().show(&image)["checksum"].as_str(), Some(md5_hex(b"direct upload").as_str()));
}

#[test]
fn a_lease_or_a_completion_left_by_a_dead_worker_is_taken_over() {
    let image = app().create_importable(&unique_tag(), "tus dead worker");
    let data = random_bytes(9 * MIB, 1911);
    let path = whole_upload(&image, data.len());
    let id = upload_id(&path).to_owned();
    // A live lease (another PATCH in flight) refuses a PATCH with 423 ...
    app().d1_execute(&format!(
        "UPDATE resumable_uploads SET lease = 'dead', lease_until = unixepoch() + 600 WHERE id = '{id}'"
    ));
    send(&path, 0, &data[..MIB], &[]).assert_error(423, "in progress");
    // ... and one whose worker died (past its time) is taken over.
    app().d1_execute(&format!("UPDATE resumable_uploads SET lease_until = 1000 WHERE id = '{id}'"));
    assert_eq!(send(&path, 0, &data[..8 * MIB], &[]).status, 204);
    let last = send(&path, 8 * MIB, &data[8 * MIB..], &[]);
    assert_eq!(last.status, 204);
    assert_eq!(app().status_of(&image), "uploading");
    // Every byte recorded, the object completed, but the worker died before
    // the image was staged: HEAD says all is there, and the empty PATCH at
    // the end finishes it.
    app().d1_execute(&format!("UPDATE images SET status = 'queued', size = NULL WHERE id = '{image}'"));
    app().d1_execute(&format!("UPDATE resumable_uploads SET state = 'receiving' WHERE id = '{id}'"));
    assert_eq!(offset_of(&path), data.len());
    assert_eq!(send(&path, data.len(), b"", &[]).status, 204);
    import_and_check(&image, &data);
}
