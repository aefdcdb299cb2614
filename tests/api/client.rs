//! The native client against the real catalog.

use std::collections::BTreeMap;
use std::io::Cursor;

use edge_glance::client::{Client, ClientError, ImageUpdate, NewImage};

use crate::helpers::{app, md5_hex, random_bytes, sha512_hex, unique_tag};

fn client() -> Client {
    Client::new(&app().base).with_token("local")
}

fn new_image(name: &str, tag: &str) -> NewImage {
    NewImage {
        name: name.into(),
        tags: vec![tag.into()],
        properties: BTreeMap::from([("os_distro".to_string(), "debian".to_string())]),
        ..NewImage::default()
    }
}

#[test]
fn add_image_with_data_then_get_image_streams_verified_chunks() {
    let tag = unique_tag();
    let data = random_bytes(2_500_000, 21);
    let image = client()
        .add_image(
            &new_image("client data", &tag),
            Some((Box::new(Cursor::new(data.clone())), Some(data.len() as u64))),
        )
        .unwrap();
    assert_eq!(image.status, "active");
    assert_eq!(image.checksum.as_deref(), Some(md5_hex(&data).as_str()));
    assert_eq!(image.os_hash_value.as_deref(), Some(sha512_hex(&data).as_str()));
    assert_eq!(image.properties()["os_distro"], "debian");

    let (meta, chunks) = client().get_image(&image.id).unwrap();
    assert_eq!(meta.id, image.id);
    let mut received = Vec::new();
    let mut count = 0;
    for chunk in chunks {
        received.extend(chunk.unwrap());
        count += 1;
    }
    assert!(count >= 3, "data arrives as a stream of chunks ({count})");
    assert!(received == data);
}

#[test]
fn add_image_of_unknown_length_uploads_chunked() {
    let data = random_bytes(700_000, 22);
    let image = client()
        .add_image(&new_image("chunked", &unique_tag()), Some((Box::new(Cursor::new(data.clone())), None)))
        .unwrap();
    assert_eq!(image.size, Some(data.len() as u64));
}

#[test]
fn get_images_and_detailed_follow_pages_and_filters() {
    let tag = unique_tag();
    let ids: Vec<String> =
        (0..5).map(|i| client().add_image(&new_image(&format!("c{i}"), &tag), None).unwrap().id).collect();
    let brief = client().get_images(&[("tag", &tag), ("limit", "2"), ("sort", "name:asc")]).unwrap();
    assert_eq!(brief.iter().map(|i| i.id.clone()).collect::<Vec<_>>(), ids);
    assert_eq!(brief[0].name.as_deref(), Some("c0"));
    let detailed = client().get_images_detailed(&[("tag", &tag), ("name", "c3")]).unwrap();
    assert_eq!(detailed.len(), 1);
    assert_eq!(detailed[0].tags, vec![tag]);
    assert_eq!(client().get_image_meta(&ids[3]).unwrap(), detailed[0]);
}

#[test]
fn update_image_sets_and_removes_properties() {
    let image = client().add_image(&new_image("before", &unique_tag()), None).unwrap();
    let changes = ImageUpdate {
        name: Some("after".into()),
        set_properties: BTreeMap::from([("hw_disk_bus".to_string(), "virtio".to_string())]),
        remove_properties: vec!["os_distro".into()],
        ..ImageUpdate::default()
    };
    let updated = client().update_image(&image.id, &changes).unwrap();
    assert_eq!(updated.name.as_deref(), Some("after"));
    assert_eq!(updated.properties(), BTreeMap::from([("hw_disk_bus".to_string(), "virtio".to_string())]));
}

#[test]
fn errors_are_typed() {
    let missing = "00000000-0000-0000-0000-000000000000";
    assert!(matches!(client().get_image_meta(missing), Err(ClientError::NotFound(m)) if m.contains(missing)));
    assert!(matches!(client().delete_image(missing), Err(ClientError::NotFound(_))));
    let image = client().add_image(&new_image("dup", &unique_tag()), None).unwrap();
    let again = NewImage { id: Some(image.id.clone()), ..new_image("dup", "x") };
    assert!(matches!(client().add_image(&again, None), Err(ClientError::Duplicate(_))));
    let bad = NewImage { disk_format: Some("floppy".into()), ..new_image("bad", "x") };
    assert!(matches!(client().add_image(&bad, None), Err(ClientError::BadRequest(m)) if m.contains("disk_format")));
    let protected = ImageUpdate { visibility: Some("everyone".into()), ..ImageUpdate::default() };
    assert!(matches!(client().update_image(&image.id, &protected), Err(ClientError::BadRequest(_))));
    assert!(matches!(client().get_image(&image.id), Err(ClientError::NotFound(m)) if m.contains("no data")));
}

#[test]
fn a_failed_add_leaves_no_image_behind() {
    let tag = unique_tag();
    // Declares more bytes than it sends: the upload fails and the image goes.
    let result = client().add_image(&new_image("short", &tag), Some((Box::new(Cursor::new(vec![1u8; 10])), Some(20))));
    assert!(matches!(result, Err(ClientError::BadRequest(m)) if m.contains("Size mismatch")));
    assert!(client().get_images(&[("tag", &tag)]).unwrap().is_empty());
}

#[test]
fn delete_image_removes_it() {
    let image = client().add_image(&new_image("gone", &unique_tag()), None).unwrap();
    client().delete_image(&image.id).unwrap();
    assert!(matches!(client().get_image_meta(&image.id), Err(ClientError::NotFound(_))));
}

#[test]
fn the_client_keeps_the_newest_bookmark_and_reads_its_own_writes_with_it() {
    let client = client();
    assert_eq!(client.bookmark(), None, "nothing seen yet");
    let image = client.add_image(&new_image("bookmarked", &unique_tag()), None).unwrap();
    let after_create = client.bookmark().expect("the create's answer carried a bookmark");
    let update = ImageUpdate { name: Some("bookmarked again".into()), ..ImageUpdate::default() };
    client.update_image(&image.id, &update).unwrap();
    let after_update = client.bookmark().unwrap();
    assert!(after_update >= after_create, "{after_update} < {after_create}");
    assert_eq!(client.get_image_meta(&image.id).unwrap().name.as_deref(), Some("bookmarked again"));
    assert!(client.bookmark().unwrap() >= after_update, "never goes back");
}
