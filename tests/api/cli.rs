//! The `edge-glance` command-line tool against the real catalog.

use std::process::{Command, Output};

use serde_json::Value;

use crate::helpers::{app, md5_hex, random_bytes, unique_tag};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edge-glance"))
        .arg("--url")
        .arg(&app().base)
        .args(args)
        .output()
        .expect("run edge-glance")
}

fn ok(args: &[&str]) -> String {
    let output = cli(args);
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&ok(&[&["--json"], args].concat())).unwrap()
}

#[test]
fn create_with_a_file_list_show_download_update_and_delete() {
    let dir = std::env::temp_dir().join(unique_tag());
    std::fs::create_dir_all(&dir).unwrap();
    let data = random_bytes(1_500_000, 31);
    let input = dir.join("disk.img");
    std::fs::write(&input, &data).unwrap();
    let tag = unique_tag();

    let created = json(&[
        "create",
        "--name",
        "cli image",
        "--file",
        input.to_str().unwrap(),
        "--tag",
        &tag,
        "--property",
        "os_distro=debian",
    ]);
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["status"], "active");
    assert_eq!(created["checksum"].as_str(), Some(md5_hex(&data).as_str()));

    let listed = json(&["list", "--filter", &format!("tag={tag}")]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    let table = ok(&["list", "--filter", &format!("tag={tag}")]);
    assert!(table.contains("| ID ") && table.contains(&id) && table.contains("cli image"), "{table}");

    let shown = ok(&["show", &id]);
    assert!(shown.contains("| os_distro ") && shown.contains("debian"), "{shown}");

    let output = dir.join("copy.img");
    ok(&["download", &id, "--file", output.to_str().unwrap()]);
    assert!(std::fs::read(&output).unwrap() == data);

    let updated = json(&[
        "update",
        &id,
        "--name",
        "renamed",
        "--property",
        "hw_disk_bus=virtio",
        "--remove-property",
        "os_distro",
    ]);
    assert_eq!(updated["name"], "renamed");
    assert_eq!(updated["hw_disk_bus"], "virtio");
    assert!(updated.get("os_distro").is_none());

    ok(&["delete", &id]);
    let missing = cli(&["show", &id]);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("not found") && stderr.contains(&id), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_exit_non_zero_with_a_message() {
    let output = cli(&["create", "--name", "x", "--disk-format", "floppy"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("disk_format"));
    let output = cli(&["download", "00000000-0000-0000-0000-000000000000", "--file", "/tmp/never-written"]);
    assert!(!output.status.success());
    assert!(!std::path::Path::new("/tmp/never-written").exists());
}
