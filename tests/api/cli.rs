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

/// A fixture of tests/fixtures/metadefs with its namespace renamed to `name`.
fn definition(fixture: &str, name: &str) -> Value {
    let path = format!("{}/tests/fixtures/metadefs/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let mut document: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    document["namespace"] = Value::String(name.to_owned());
    document
}

fn write_definition(dir: &std::path::Path, file: &str, document: &Value) {
    std::fs::write(dir.join(file), serde_json::to_string_pretty(document).unwrap()).unwrap();
}

fn namespace(name: &str) -> Value {
    let reply = app().get(&format!("/v2/metadefs/namespaces/{name}"));
    assert_eq!(reply.status, 200, "GET namespace {name}: {}", String::from_utf8_lossy(&reply.body));
    reply.json()
}

/// Deletes a namespace, clearing `protected` first.
fn remove_namespace(name: &str) {
    let path = format!("/v2/metadefs/namespaces/{name}");
    let unprotect = serde_json::json!({"namespace": name, "protected": false}).to_string();
    app().request("PUT", &path, &[("Content-Type", "application/json")], Some(unprotect.as_bytes()));
    let reply = app().delete(&path);
    assert!(matches!(reply.status, 204 | 404), "DELETE {name}: {}", String::from_utf8_lossy(&reply.body));
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> =
        list.as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

fn results(outcomes: &Value) -> Vec<(String, String)> {
    outcomes
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["namespace"].as_str().unwrap_or("").to_owned(), o["result"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn metadefs_import_creates_namespaces_skips_existing_and_replaces() {
    let tag = unique_tag();
    let dir = std::env::temp_dir().join(format!("metadefs-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    let storage = format!("EdgeGlance::Storage::{tag}");
    let minimal = format!("EdgeGlance::Minimal::{tag}");
    let mut document = definition("edge-storage.json", &storage);
    write_definition(&dir, "a-storage.json", &document);
    write_definition(&dir, "b-minimal.json", &definition("edge-minimal.json", &minimal));
    std::fs::write(dir.join("notes.txt"), "not a definition").unwrap();

    let outcomes = json(&["metadefs", "import", dir.to_str().unwrap()]);
    assert_eq!(
        results(&outcomes),
        [(storage.clone(), "created".to_owned()), (minimal.clone(), "created".to_owned())],
        "{outcomes}"
    );

    // Everything in the file arrived: the namespace's own fields, its
    // resource type associations, properties, objects and tags.
    let shown = namespace(&storage);
    assert_eq!(shown["namespace"], storage.as_str());
    assert_eq!(shown["display_name"], "Edge storage hints");
    assert_eq!(shown["visibility"], "public");
    assert_eq!(shown["protected"], true);
    assert_eq!(names(&shown["resource_type_associations"]), ["OS::Cinder::Volume", "OS::Glance::Image"]);
    let volume = shown["resource_type_associations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "OS::Cinder::Volume")
        .unwrap();
    assert_eq!(volume["prefix"], "edge_");
    assert_eq!(volume["properties_target"], "image");
    let properties = shown["properties"].as_object().unwrap();
    let mut keys: Vec<&String> = properties.keys().collect();
    keys.sort();
    assert_eq!(keys, ["replicas", "tier"]);
    assert_eq!(properties["tier"]["title"], "Storage tier");
    assert_eq!(properties["tier"]["type"], "string");
    assert_eq!(properties["tier"]["enum"], serde_json::json!(["hot", "warm", "cold"]));
    assert_eq!(properties["replicas"]["maximum"], 5);
    assert_eq!(names(&shown["objects"]), ["Placement"]);
    let placement = &shown["objects"][0];
    assert_eq!(placement["required"], serde_json::json!(["region"]));
    assert_eq!(placement["properties"]["region"]["maxLength"], 64);
    assert_eq!(placement["properties"]["pinned"]["type"], "boolean");
    assert_eq!(names(&shown["tags"]), ["edge-cached", "edge-replicated"]);
    // The sub-resources are there on their own too.
    let objects = app().get(&format!("/v2/metadefs/namespaces/{storage}/objects")).json();
    assert_eq!(names(&objects["objects"]), ["Placement"]);
    let tag_list = app().get(&format!("/v2/metadefs/namespaces/{storage}/tags")).json();
    assert_eq!(names(&tag_list["tags"]), ["edge-cached", "edge-replicated"]);
    let property = app().get(&format!("/v2/metadefs/namespaces/{storage}/properties/replicas")).json();
    assert_eq!(property["type"], "integer");

    let empty = namespace(&minimal);
    assert_eq!(empty["visibility"], "private");
    assert_eq!(empty["protected"], false);

    let table = ok(&["metadefs", "show", &storage]);
    assert!(table.contains("Placement") && table.contains("tier") && table.contains("edge-cached"), "{table}");

    // Again: both exist and are left alone (not a failure).
    document["description"] = Value::String("changed".into());
    document["tags"].as_array_mut().unwrap().push(serde_json::json!({"name": "edge-new"}));
    write_definition(&dir, "a-storage.json", &document);
    let table = ok(&["metadefs", "import", dir.to_str().unwrap()]);
    assert_eq!(table.matches("skipped").count(), 2, "{table}");
    assert_ne!(namespace(&storage)["description"], "changed");

    // --replace: deleted (the protected one too) and created from the file.
    let outcomes = json(&["metadefs", "import", "--replace", dir.to_str().unwrap()]);
    assert_eq!(
        results(&outcomes),
        [(storage.clone(), "replaced".to_owned()), (minimal.clone(), "replaced".to_owned())],
        "{outcomes}"
    );
    let replaced = namespace(&storage);
    assert_eq!(replaced["description"], "changed");
    assert_eq!(replaced["protected"], true);
    assert_eq!(names(&replaced["tags"]), ["edge-cached", "edge-new", "edge-replicated"]);
    assert_eq!(names(&replaced["objects"]), ["Placement"]);

    remove_namespace(&storage);
    remove_namespace(&minimal);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn metadefs_import_reports_each_failed_file_and_exits_non_zero() {
    let tag = unique_tag();
    let dir = std::env::temp_dir().join(format!("metadefs-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    let good = format!("EdgeGlance::Good::{tag}");
    let refused = format!("EdgeGlance::Refused::{tag}");
    std::fs::write(dir.join("a-broken.json"), "{\"namespace\": ").unwrap();
    let mut bad_visibility = definition("edge-minimal.json", &refused);
    bad_visibility["visibility"] = Value::String("everyone".into());
    write_definition(&dir, "b-refused.json", &bad_visibility);
    write_definition(&dir, "c-good.json", &definition("edge-minimal.json", &good));

    let output = cli(&["--json", "metadefs", "import", dir.to_str().unwrap()]);
    assert!(!output.status.success());
    let outcomes: Value = serde_json::from_slice(&output.stdout).unwrap();
    let outcomes = outcomes.as_array().unwrap();
    assert_eq!(outcomes.len(), 3);
    assert_eq!(outcomes[0]["result"], "failed");
    assert!(outcomes[0]["namespace"].is_null());
    assert!(outcomes[0]["message"].as_str().unwrap().contains("not valid JSON"), "{}", outcomes[0]);
    // The server refused it (400), and its message is passed on.
    assert_eq!(outcomes[1]["result"], "failed");
    assert_eq!(outcomes[1]["namespace"], refused.as_str());
    assert!(outcomes[1]["message"].as_str().unwrap().starts_with("bad request: "), "{}", outcomes[1]);
    // One file's failure doesn't stop the others.
    assert_eq!(outcomes[2]["result"], "created");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("a-broken.json") && stderr.contains("2 of 3 files failed"), "{stderr}");
    assert_eq!(app().get(&format!("/v2/metadefs/namespaces/{refused}")).status, 404);
    assert_eq!(namespace(&good)["namespace"], good.as_str());

    let empty = std::env::temp_dir().join(format!("metadefs-empty-{tag}"));
    std::fs::create_dir_all(&empty).unwrap();
    let output = cli(&["metadefs", "import", empty.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no *.json files"));

    remove_namespace(&good);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&empty).unwrap();
}
