//! Format inspection on the ways in (issue 20), with real images made by
//! `qemu-img` (scripts/test installs it): each valid format gets its
//! virtual size; each hostile one is refused with 415 and the image stays
//! `queued` (a direct upload) or its import task fails with the reason
//! (web-download), whatever the image declares. Catalog A runs with
//! Glance's default `require_image_format_match` (on).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::fixture_server::{fixture, Route};
use crate::helpers::*;

const MIB: u64 = 1 << 20;

/// A scratch directory of this test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edge-glance-formats-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `qemu-img` with `args`; panics with its output if it fails (or is
/// missing: scripts/test installs it).
fn qemu_img(args: &[&str]) {
    let out = Command::new("qemu-img").args(args).output().expect("qemu-img is needed (scripts/test installs it)");
    assert!(out.status.success(), "qemu-img {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// `qemu-img info`'s virtual size of `path`.
fn virtual_size(path: &Path, format: &str) -> u64 {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json", "-f", format, path.to_str().unwrap()])
        .output()
        .expect("qemu-img info");
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    info["virtual-size"].as_u64().unwrap()
}

/// An image made by `qemu-img create -f format [options] path 10M`.
fn made(dir: &Path, name: &str, format: &str, options: &[&str]) -> (PathBuf, Vec<u8>) {
    let path = dir.join(name);
    let mut args = vec!["create", "-q", "-f", format];
    args.extend_from_slice(options);
    args.push(path.to_str().unwrap());
    args.push("10M");
    qemu_img(&args);
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

/// A queued image declaring `disk_format` (bare container).
fn declared(disk_format: &str) -> String {
    let image = app().create_image(json!({
        "name": "inspected", "disk_format": disk_format, "container_format": "bare", "tags": [unique_tag()]
    }));
    image["id"].as_str().unwrap().to_owned()
}

/// Uploads `data` to a new image declaring `disk_format`; returns the id
/// and the reply.
fn upload_as(disk_format: &str, data: &[u8]) -> (String, Reply) {
    let id = declared(disk_format);
    let reply = app().upload(&id, data);
    (id, reply)
}

fn assert_refused(id: &str, reply: &Reply, needle: &str) {
    reply.assert_error(415, needle);
    let image = app().show(id);
    assert_eq!(image["status"], "queued", "a refused upload leaves the image queued");
    assert!(image["size"].is_null() && image["checksum"].is_null(), "{image}");
    assert!(!app().object_exists(id), "a refused upload leaves no object");
}

#[test]
fn each_valid_format_made_by_qemu_img_becomes_active_with_its_virtual_size() {
    let dir = scratch("valid");
    for (disk_format, qemu_format, options) in [
        ("qcow2", "qcow2", &[][..]),
        ("vmdk", "vmdk", &["-o", "subformat=monolithicSparse"][..]),
        ("vmdk", "vmdk", &["-o", "subformat=streamOptimized"][..]),
        ("vhd", "vpc", &["-o", "subformat=dynamic"][..]),
        ("vhd", "vpc", &["-o", "subformat=fixed"][..]),
        ("vhdx", "vhdx", &[][..]),
    ] {
        let name = format!("{qemu_format}-{}", options.last().unwrap_or(&"plain"));
        let (path, bytes) = made(&dir, &name, qemu_format, options);
        let (id, reply) = upload_as(disk_format, &bytes);
        assert_eq!(reply.status, 204, "{name}: {}", String::from_utf8_lossy(&reply.body));
        let image = app().show(&id);
        assert_eq!(image["status"], "active", "{name}");
        assert_eq!(image["size"].as_u64(), Some(bytes.len() as u64), "{name}");
        let expected = virtual_size(&path, qemu_format);
        assert_eq!(image["virtual_size"].as_u64(), Some(expected), "{name}: qemu-img says {expected}");
        assert!(expected >= 10 * MIB, "{name}");
    }
    let raw = random_bytes(3 * MIB as usize, 20);
    let (id, reply) = upload_as("raw", &raw);
    assert_eq!(reply.status, 204);
    assert_eq!(app().show(&id)["virtual_size"].as_u64(), Some(raw.len() as u64), "raw data is its own disk");
}

#[test]
fn a_benign_qcow2_declared_raw_is_taken_as_raw_sized_by_its_bytes() {
    let (_, bytes) = made(&scratch("benign"), "plain.qcow2", "qcow2", &[]);
    let (id, reply) = upload_as("raw", &bytes);
    assert_eq!(reply.status, 204, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(app().show(&id)["virtual_size"].as_u64(), Some(bytes.len() as u64));
}

#[test]
fn a_qcow2_with_a_backing_file_is_refused_whatever_it_is_declared_as() {
    let dir = scratch("backing");
    let (base, _) = made(&dir, "base.raw", "raw", &[]);
    let (_, bytes) = made(&dir, "child.qcow2", "qcow2", &["-F", "raw", "-b", base.to_str().unwrap()]);
    for disk_format in ["qcow2", "raw"] {
        let (id, reply) = upload_as(disk_format, &bytes);
        assert_refused(&id, &reply, "backing file");
    }
}

#[test]
fn a_qcow2_with_an_external_data_file_is_refused() {
    let dir = scratch("datafile");
    let data = dir.join("data.raw");
    let (_, bytes) = made(&dir, "external.qcow2", "qcow2", &["-o", &format!("data_file={}", data.display())]);
    let (id, reply) = upload_as("qcow2", &bytes);
    assert_refused(&id, &reply, "qcow2");
}

#[test]
fn a_vmdk_whose_data_is_in_other_files_is_refused() {
    let dir = scratch("flat");
    // monolithicFlat: the .vmdk is a descriptor naming a separate extent.
    let (_, bytes) = made(&dir, "flat.vmdk", "vmdk", &["-o", "subformat=monolithicFlat"]);
    let (id, reply) = upload_as("vmdk", &bytes);
    assert_refused(&id, &reply, "vmdk");
}

#[test]
fn qed_is_refused_and_so_is_content_that_is_not_its_declared_format() {
    let (_, qed) = made(&scratch("qed"), "disk.qed", "qed", &[]);
    let (id, reply) = upload_as("raw", &qed);
    assert_refused(&id, &reply, "qed");
    // Random bytes are raw: declared qcow2 they do not match.
    let (id, reply) = upload_as("qcow2", &random_bytes(1 << 16, 21));
    assert_refused(&id, &reply, "does not match");
}

#[test]
fn a_refused_image_takes_acceptable_data_afterwards() {
    let dir = scratch("retry");
    let (base, _) = made(&dir, "base.raw", "raw", &[]);
    let (_, hostile) = made(&dir, "child.qcow2", "qcow2", &["-F", "raw", "-b", base.to_str().unwrap()]);
    let (_, benign) = made(&dir, "plain.qcow2", "qcow2", &[]);
    let (id, reply) = upload_as("qcow2", &hostile);
    assert_refused(&id, &reply, "backing file");
    let again = app().upload(&id, &benign);
    assert_eq!(again.status, 204, "{}", String::from_utf8_lossy(&again.body));
    assert_eq!(app().show(&id)["virtual_size"].as_u64(), Some(10 * MIB));
}

#[test]
fn a_hostile_image_fetched_by_web_download_fails_its_task_with_the_reason() {
    let dir = scratch("web");
    let (base, _) = made(&dir, "base.raw", "raw", &[]);
    let (_, hostile) = made(&dir, "child.qcow2", "qcow2", &["-F", "raw", "-b", base.to_str().unwrap()]);
    let url = fixture().url(&fixture().serve(Route::Fixed(Arc::new(hostile))));
    let id = declared("raw");
    app().start_import(&id, &json!({"method": {"name": "web-download", "uri": url}}));
    let task = wait_until("the import task to fail", Duration::from_secs(60), || match app().image_tasks(&id).last() {
        Some(task) if task_is_final(task) => Ok(task.clone()),
        other => Err(format!("{other:?}")),
    });
    assert_eq!(task["status"], "failure", "{task}");
    let message = task["message"].as_str().unwrap();
    assert!(message.contains("backing file"), "the task says why: {message}");
    app().wait_for_status(&id, "queued", Duration::from_secs(30));
    assert!(!app().object_exists(&id), "nothing of the refused data is kept");
}

#[test]
fn a_hostile_stage_is_refused_before_any_import() {
    let dir = scratch("stage");
    let (base, _) = made(&dir, "base.raw", "raw", &[]);
    let (_, hostile) = made(&dir, "child.qcow2", "qcow2", &["-F", "raw", "-b", base.to_str().unwrap()]);
    let id = declared("qcow2");
    let reply = app().stage(&id, &hostile);
    reply.assert_error(415, "backing file");
    assert_eq!(app().status_of(&id), "queued");
}

/// Adds an http location serving `data` (streamed, chunked) to a new image
/// declaring `disk_format`, with `validation` (if any), waits for its
/// hashing task; the image and task.
fn located_as(disk_format: &str, data: Vec<u8>, validation: Option<Value>) -> (Value, Value) {
    let url = fixture().url(&fixture().serve(Route::Chunked(Arc::new(data))));
    let id = declared(disk_format);
    let mut body = json!({"url": url});
    if let Some(validation) = validation {
        body["validation_data"] = validation;
    }
    let reply = app().post_json(&format!("/v2/images/{id}/locations"), &body);
    assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
    let image = app().wait_for_import(&id, IMPORT_TIMEOUT);
    let tasks = app().image_tasks(&id);
    let task = tasks.iter().find(|t| t["type"] == "location_import").cloned().expect("a location_import task");
    (image, task)
}

#[test]
fn an_http_location_is_inspected_as_it_is_hashed_its_virtual_size_read_from_its_head_and_tail() {
    let dir = scratch("location");
    let (_, qcow2) = made(&dir, "plain.qcow2", "qcow2", &[]);
    let (image, task) = located_as("qcow2", qcow2, None);
    assert_eq!(task["status"], "success", "{task}");
    assert_eq!(image["status"], "active", "{image}");
    assert_eq!(image["virtual_size"].as_u64(), Some(10 * MIB), "{image}");

    // A streamOptimized vmdk larger than the head the hashing keeps: its
    // size is in the footer, read from the tail.
    let raw = dir.join("noise.raw");
    std::fs::write(&raw, random_bytes(6 * MIB as usize, 2020)).unwrap();
    let vmdk = dir.join("stream.vmdk");
    qemu_img(&[
        "convert",
        "-q",
        "-f",
        "raw",
        "-O",
        "vmdk",
        "-o",
        "subformat=streamOptimized",
        raw.to_str().unwrap(),
        vmdk.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&vmdk).unwrap();
    assert!(bytes.len() as u64 > 4 * MIB, "the vmdk must outgrow the kept head: {}", bytes.len());
    let (image, task) = located_as("vmdk", bytes, None);
    assert_eq!(task["status"], "success", "{task}");
    assert_eq!(image["virtual_size"].as_u64(), Some(virtual_size(&vmdk, "vmdk")), "{image}");
}

#[test]
fn a_hostile_image_at_an_http_location_fails_its_task_with_the_reason() {
    let dir = scratch("location-hostile");
    let (base, _) = made(&dir, "base.raw", "raw", &[]);
    let (_, hostile) = made(&dir, "child.qcow2", "qcow2", &["-F", "raw", "-b", base.to_str().unwrap()]);

    // With validation data the image waits, importing, for the check: it
    // goes back to queued.
    let validation = json!({"os_hash_algo": "sha512", "os_hash_value": sha512_hex(&hostile)});
    let (image, task) = located_as("raw", hostile.clone(), Some(validation));
    assert_eq!(task["status"], "failure", "{task}");
    let message = task["message"].as_str().unwrap();
    assert!(message.contains("backing file"), "the task says why: {message}");
    assert_eq!(image["status"], "queued", "{image}");
    assert!(image["checksum"].is_null() && image["virtual_size"].is_null(), "{image}");

    // Without, it was active at once: it is deactivated.
    let (image, task) = located_as("raw", hostile, None);
    assert_eq!(task["status"], "failure", "{task}");
    assert!(task["message"].as_str().unwrap().contains("backing file"), "{task}");
    assert_eq!(image["status"], "deactivated", "{image}");
}
