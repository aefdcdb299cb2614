use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{app, md5_hex, random_bytes, unique_tag, Reply, IMPORT_TIMEOUT};

fn create(headers: &[(&str, &str)], body: Option<&[u8]>) -> Reply {
    app().request("POST", "/v1/images", headers, body)
}

fn meta<'a>(reply: &'a Reply, field: &str) -> Option<&'a str> {
    reply.header(&format!("x-image-meta-{field}"))
}

#[test]
fn post_with_headers_and_body_creates_and_stores_in_one_call() {
    let data = random_bytes(300_000, 11);
    let size = data.len().to_string();
    let reply = create(
        &[
            ("x-image-meta-name", "Ubuntu 10.10 5G"),
            ("x-image-meta-type", "machine"),
            ("x-image-meta-is_public", "True"),
            ("x-image-meta-size", &size),
            ("x-image-meta-store", "primary"),
            ("X-Image-Meta-Property-Distro", "Ubuntu 10.10"),
            ("x-image-meta-property-OS-Version.Major", "10"),
            ("Content-Type", "application/octet-stream"),
        ],
        Some(&data),
    );
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    let image = reply.json()["image"].clone();
    let id = image["id"].as_str().unwrap().to_owned();
    assert_eq!(reply.header("location"), Some(format!("{}/v1/images/{id}", app().base).as_str()));
    assert_eq!(image["status"], "active");
    assert_eq!(image["is_public"], true);
    assert_eq!(image["size"].as_u64(), Some(data.len() as u64));
    assert_eq!(image["checksum"].as_str(), Some(md5_hex(&data).as_str()));
    assert_eq!(image["properties"], json!({"distro": "Ubuntu 10.10", "os_version_major": "10", "type": "machine"}));

    // HEAD: everything as headers, no body.
    let head = app().request("HEAD", &format!("/v1/images/{id}"), &[], None);
    assert_eq!(head.status, 200);
    assert_eq!(meta(&head, "name"), Some("Ubuntu 10.10 5G"));
    assert_eq!(meta(&head, "size"), Some(size.as_str()));
    assert_eq!(meta(&head, "is_public"), Some("true"));
    assert_eq!(meta(&head, "status"), Some("active"));
    assert_eq!(meta(&head, "store"), Some("primary"));
    assert_eq!(meta(&head, "uri"), Some(format!("{}/v1/images/{id}", app().base).as_str()));
    assert_eq!(meta(&head, "property-distro"), Some("Ubuntu 10.10"));
    let created = meta(&head, "created_at").unwrap();
    assert!(created.len() == 19 && created.as_bytes()[10] == b' ', "UTC as 2010-02-03 09:34:01: {created}");
    assert!(head.body.is_empty());

    // GET: the same headers plus the data, Content-Length = x-image-meta-size.
    let get = app().get(&format!("/images/{id}"));
    assert_eq!(get.status, 200);
    assert_eq!(get.header("content-type"), Some("application/octet-stream"));
    assert_eq!(get.header("content-length"), meta(&get, "size"));
    assert_eq!(meta(&get, "property-distro"), Some("Ubuntu 10.10"));
    assert!(get.body == data);
}

#[test]
fn name_is_required_and_store_must_be_ours() {
    create(&[("x-image-meta-type", "kernel")], None).assert_error(400, "x-image-meta-name is required");
    create(&[("x-image-meta-name", "n"), ("x-image-meta-store", "swift")], None).assert_error(400, "swift");
    create(&[("x-image-meta-name", "n"), ("x-image-meta-type", "floppy")], None).assert_error(400, "floppy");
    create(&[("x-image-meta-name", "n"), ("x-image-meta-status", "active")], None).assert_error(403, "read-only");
}

#[test]
fn a_given_id_is_used_and_a_taken_id_is_409() {
    let id = uuid::Uuid::new_v4().to_string();
    let reply = create(&[("x-image-meta-name", "with id"), ("x-image-meta-id", &id)], None);
    assert_eq!(reply.status, 201);
    assert_eq!(reply.json()["image"]["id"], id.as_str());
    assert_eq!(reply.json()["image"]["status"], "queued");
    create(&[("x-image-meta-name", "again"), ("x-image-meta-id", &id)], None).assert_error(409, "already exists");
}

#[test]
fn is_public_truthy_values_are_on_1_true_in_any_case() {
    for (value, public) in [
        ("on", true),
        ("ON", true),
        ("1", true),
        ("true", true),
        ("TrUe", true),
        ("off", false),
        ("0", false),
        ("yes", false),
    ] {
        let reply = create(&[("x-image-meta-name", "p"), ("x-image-meta-is_public", value)], None);
        assert_eq!(reply.json()["image"]["is_public"], public, "{value}");
    }
}

#[test]
fn a_zero_size_image_is_active_at_once() {
    let reply = create(&[("x-image-meta-name", "properties bucket"), ("x-image-meta-size", "0")], None);
    assert_eq!(reply.status, 201);
    let image = reply.json()["image"].clone();
    assert_eq!((image["status"].as_str(), image["size"].as_u64()), (Some("active"), Some(0)));
}

#[test]
fn a_size_that_disagrees_with_the_body_is_400() {
    // Known up front: refused before anything is created.
    let reply = create(&[("x-image-meta-name", "mismatch"), ("x-image-meta-size", "5")], Some(b"1234"));
    reply.assert_error(400, "Size mismatch");
    create(&[("x-image-meta-name", "mismatch"), ("x-image-meta-size", "5")], None).assert_error(400, "Size mismatch");
}

#[test]
fn a_failed_v1_upload_ends_killed_with_nothing_in_r2() {
    let id = uuid::Uuid::new_v4().to_string();
    let reply = app().request_chunked(
        "POST",
        "/v1/images",
        &[("x-image-meta-name", "doomed"), ("x-image-meta-id", &id), ("x-image-meta-size", "100")],
        &[9u8; 40][..],
    );
    reply.assert_error(400, "killed");
    let head = app().request("HEAD", &format!("/v1/images/{id}"), &[], None);
    assert_eq!(meta(&head, "status"), Some("killed"));
    assert!(!app().object_exists(&id));
    // A wrong checksum kills too.
    let reply = create(
        &[("x-image-meta-name", "bad sum"), ("x-image-meta-checksum", "00000000000000000000000000000000")],
        Some(b"data"),
    );
    reply.assert_error(400, "Checksum mismatch");
}

#[test]
fn put_updates_metadata_and_adds_data_once() {
    let reply = create(&[("x-image-meta-name", "empty"), ("x-image-meta-property-a", "1")], None);
    let id = reply.json()["image"]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/images/{id}");
    let reply = app().request(
        "PUT",
        &path,
        &[("x-image-meta-name", "renamed"), ("x-image-meta-property-b", "2"), ("x-image-meta-min_ram", "256")],
        None,
    );
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let image = reply.json()["image"].clone();
    assert_eq!((image["name"].as_str(), image["min_ram"].as_u64()), (Some("renamed"), Some(256)));
    assert_eq!(image["properties"], json!({"a": "1", "b": "2"}));
    let reply = app().request("PUT", &path, &[("Content-Type", "application/octet-stream")], Some(b"the data"));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["image"]["status"], "active");
    app().request("PUT", &path, &[], Some(b"more data")).assert_error(409, "already has data");
    assert_eq!(app().get(&format!("/v2/images/{id}/file")).body, b"the data");
}

#[test]
fn delete_returns_200_and_the_image_is_gone() {
    let reply = create(&[("x-image-meta-name", "bye")], Some(b"x"));
    let id = reply.json()["image"]["id"].as_str().unwrap().to_owned();
    assert_eq!(app().request("DELETE", &format!("/v1/images/{id}"), &[], None).status, 200);
    assert_eq!(app().request("HEAD", &format!("/v1/images/{id}"), &[], None).status, 404);
    app().get(&format!("/v1/images/{id}")).assert_error(404, &id);
    assert!(!app().object_exists(&id));
}

#[test]
fn lists_show_public_images_brief_and_detailed() {
    let tag = unique_tag();
    let public = create(
        &[("x-image-meta-name", &tag), ("x-image-meta-is_public", "1"), ("x-image-meta-property-tagged", &tag)],
        Some(b"pub"),
    );
    let public_id = public.json()["image"]["id"].as_str().unwrap().to_owned();
    create(&[("x-image-meta-name", &tag), ("x-image-meta-property-tagged", &tag)], Some(b"private"));
    let brief = app().get(&format!("/v1/images?tagged={tag}")).json();
    let images = brief["images"].as_array().unwrap();
    assert_eq!(images.len(), 1, "only the public one: {brief}");
    let mut keys: Vec<&str> = images[0].as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["checksum", "container_format", "disk_format", "id", "name", "size", "uri"]);
    assert_eq!(images[0]["id"], public_id.as_str());
    let detail = app().get(&format!("/images/detail?tagged={tag}")).json();
    let record = &detail["images"][0];
    assert_eq!(record["properties"]["tagged"], tag.as_str());
    assert_eq!(record["is_public"], true);
    assert!(record["created_at"].as_str().unwrap().contains(' '));
}

#[test]
fn v1_and_v2_are_two_views_of_the_same_images() {
    // Created in v1, read, listed and downloaded in v2.
    let reply = create(
        &[
            ("x-image-meta-name", "from v1"),
            ("x-image-meta-disk_format", "raw"),
            ("x-image-meta-container_format", "bare"),
            ("x-image-meta-property-origin", "v1"),
        ],
        Some(b"v1 bytes"),
    );
    let id = reply.json()["image"]["id"].as_str().unwrap().to_owned();
    let shown = app().show(&id);
    assert_eq!(
        (shown["name"].as_str(), shown["origin"].as_str(), shown["visibility"].as_str()),
        (Some("from v1"), Some("v1"), Some("private"))
    );
    assert_eq!(shown["checksum"].as_str(), Some(md5_hex(b"v1 bytes").as_str()));
    assert_eq!(app().get(&format!("/v2/images/{id}/file")).body, b"v1 bytes");
    let listed = app().get("/v2/images?origin=v1&limit=1000");
    assert!(crate::helpers::TestApp::ids(&listed).contains(&id));

    // Created in v2, read, listed and downloaded in v1.
    let tag = unique_tag();
    // ami: a format Glance cannot inspect, so any bytes are taken.
    let v2 = app().create_image(json!({"name": "from v2", "disk_format": "ami", "container_format": "bare", "visibility": "public", "origin": tag}));
    let id = v2["id"].as_str().unwrap().to_owned();
    assert_eq!(app().upload(&id, b"v2 bytes").status, 204);
    let head = app().request("HEAD", &format!("/v1/images/{id}"), &[], None);
    assert_eq!(
        (meta(&head, "name"), meta(&head, "disk_format"), meta(&head, "property-origin")),
        (Some("from v2"), Some("ami"), Some(tag.as_str()))
    );
    assert_eq!(app().get(&format!("/v1/images/{id}")).body, b"v2 bytes");
    let listed = app().get(&format!("/v1/images?origin={tag}")).json();
    assert_eq!(listed["images"][0]["id"], id.as_str());
}

#[test]
fn headers_over_the_8_kib_budget_get_a_clear_431() {
    let big = "a".repeat(9000);
    let reply = create(&[("x-image-meta-name", "too big"), ("x-image-meta-property-big", &big)], None);
    reply.assert_error(431, "8192 byte budget");
    // Just under the budget still works: 25 properties of 250 characters.
    let names: Vec<String> = (0..25).map(|i| format!("x-image-meta-property-p{i}")).collect();
    let value = "v".repeat(250);
    let mut headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), value.as_str())).collect();
    headers.push(("x-image-meta-name", "fits"));
    let reply = create(&headers, None);
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(reply.json()["image"]["properties"].as_object().unwrap().len(), 25);
}

#[test]
fn non_ascii_property_values_survive_as_percent_encoding_in_headers() {
    let reply = app().post_json("/v2/images", &json!({"name": "unicode", "city": "Zürich"}));
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let head = app().request("HEAD", &format!("/v1/images/{id}"), &[], None);
    assert_eq!(meta(&head, "property-city"), Some("Z%C3%BCrich"));
    // JSON records carry the value as is.
    std::thread::sleep(Duration::from_millis(1));
    let detail = app().get("/v1/images/detail?city=Z%C3%BCrich&visibility=all").json();
    assert_eq!(detail["images"][0]["properties"]["city"], "Zürich");
}

#[test]
fn an_image_only_in_the_secondary_store_is_shown_in_secondary() {
    let tag = unique_tag();
    let data = random_bytes(20_000, 71);
    // Uploaded to secondary alone, and copied there then removed from primary.
    let uploaded = app().create_active(&tag, &data, Some("secondary"));
    let moved = app().create_active(&tag, &data, None);
    app().start_import(&moved, &json!({"method": {"name": "copy-image"}, "stores": ["secondary"]}));
    app().wait_for_import(&moved, IMPORT_TIMEOUT);
    assert_eq!(app().delete(&format!("/v2/stores/primary/{moved}")).status, 204);
    for id in [&uploaded, &moved] {
        assert_eq!(app().show(id)["stores"], "secondary");
        let head = app().request("HEAD", &format!("/v1/images/{id}"), &[], None);
        assert_eq!(head.status, 200);
        assert_eq!(meta(&head, "store"), Some("secondary"), "HEAD {id}");
        let get = app().get(&format!("/v1/images/{id}"));
        assert_eq!(get.status, 200);
        assert_eq!(meta(&get, "store"), Some("secondary"), "GET {id}");
        assert!(get.body == data, "the data of {id}");
    }
    let detail = app().get(&format!("/v1/images/detail?visibility=all&tag={tag}")).json();
    let stores: Vec<&Value> = detail["images"].as_array().unwrap().iter().map(|i| &i["store"]).collect();
    assert_eq!(stores, [&json!("secondary"), &json!("secondary")], "{detail}");
    // An image in both stores is read from (and shown in) the heavier one.
    let both = app().create_active(&tag, &data, None);
    app().start_import(&both, &json!({"method": {"name": "copy-image"}, "stores": ["secondary"]}));
    app().wait_for_import(&both, IMPORT_TIMEOUT);
    let head = app().request("HEAD", &format!("/v1/images/{both}"), &[], None);
    assert_eq!(meta(&head, "store"), Some("primary"));
}
