//! Conditional requests and caching policy (issue 21): image metadata and
//! data carry `ETag` (the metadata's changes with every write, the data's
//! is its md5), `If-None-Match` and `If-Modified-Since` give 304,
//! `If-Match` on PATCH and on a data upload gives 412 when the image
//! changed (and changes nothing), and `Cache-Control` follows visibility.
//! The edge cache's purges are in `cache.rs`.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

const PATCH: &str = "application/openstack-images-v2.1-json-patch";

fn show_with(id: &str, headers: &[(&str, &str)]) -> Reply {
    app().request("GET", &format!("/v2/images/{id}"), headers, None)
}

fn rename(id: &str, name: &str, headers: &[(&str, &str)]) -> Reply {
    let ops = json!([{"op": "replace", "path": "/name", "value": name}]);
    app().request(
        "PATCH",
        &format!("/v2/images/{id}"),
        &[&[("Content-Type", PATCH)], headers].concat(),
        Some(ops.to_string().as_bytes()),
    )
}

#[test]
fn metadata_has_a_validator_that_changes_with_every_write_and_a_current_one_gives_304() {
    let id = app().create_uploadable(&unique_tag());
    let first = show_with(&id, &[]);
    assert_eq!(first.status, 200);
    let etag = first.header("etag").expect("ETag on show").to_owned();
    assert_eq!(first.header("cache-control"), Some("private, no-cache"));
    assert!(first.header("last-modified").is_some_and(|d| d.ends_with(" GMT")), "{:?}", first.header("last-modified"));

    let again = show_with(&id, &[("If-None-Match", &etag)]);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty(), "a 304 has no body");
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let listed = show_with(&id, &[("If-None-Match", &format!("\"other\", W/{etag}"))]);
    assert_eq!(listed.status, 304, "a list, and a weak tag, match for If-None-Match");

    let renamed = rename(&id, "renamed", &[]);
    assert_eq!(renamed.status, 200);
    let new_etag = renamed.header("etag").expect("ETag on PATCH").to_owned();
    assert_ne!(new_etag, etag);
    let stale = show_with(&id, &[("If-None-Match", &etag)]);
    assert_eq!(stale.status, 200, "the old tag no longer matches");
    assert_eq!(stale.json()["name"], "renamed");
    assert_eq!(stale.header("etag"), Some(new_etag.as_str()));

    // A tag write is a write too.
    let tagged = app().request("PUT", &format!("/v2/images/{id}/tags/extra"), &[], None);
    assert_eq!(tagged.status, 204);
    assert_eq!(show_with(&id, &[("If-None-Match", &new_etag)]).status, 200);
}

/// The default `REVALIDATION_MEMORY_SECONDS`.
const MEMORY_BOUND: Duration = Duration::from_secs(2);

#[test]
fn a_revalidation_may_be_answered_from_the_isolates_memory_for_a_bounded_time_never_past_the_bookmark_sent() {
    let id = app().create_uploadable(&unique_tag());
    let read = show_with(&id, &[]);
    let read_at = Instant::now();
    let etag = read.header("etag").unwrap().to_owned();
    let read_bookmark = read.header("x-d1-bookmark").expect("a bookmark on the read").to_owned();
    // Another data centre renames the image: this isolate does not see the
    // write, as it would not in production.
    let changed = app().d1_write_elsewhere(&format!(
        "UPDATE images SET name = 'renamed elsewhere', version = version + 1 WHERE id = '{id}'"
    ));
    assert_eq!(changed, 1);

    // Without a bookmark, within the bound: the remembered revision
    // answers (boundedly stale, as a replica's read may be), carrying the
    // bookmark of the read it comes from.
    let remembered = show_with(&id, &[("If-None-Match", &etag)]);
    if read_at.elapsed() < MEMORY_BOUND {
        assert_eq!(remembered.status, 304, "a revalidation within the bound is answered from memory");
        assert_eq!(remembered.header("x-d1-bookmark"), Some(read_bookmark.as_str()));
    }

    // With a bookmark newer than that read: D1 answers, with the write.
    let later = app().request("GET", "/v2/images?limit=1", &[], None);
    let later_bookmark = later.header("x-d1-bookmark").unwrap().to_owned();
    assert!(later_bookmark > read_bookmark, "{later_bookmark} after {read_bookmark}");
    let fresh = show_with(&id, &[("If-None-Match", &etag), ("X-D1-Bookmark", &later_bookmark)]);
    assert_eq!(fresh.status, 200, "a bookmark newer than the remembered read goes to D1");
    assert_eq!(fresh.json()["name"], "renamed elsewhere");
    let new_etag = fresh.header("etag").unwrap().to_owned();
    assert_ne!(new_etag, etag);

    // That read is remembered now: its revision answers 304 ...
    assert_eq!(show_with(&id, &[("If-None-Match", &new_etag)]).status, 304);
    // ... and past the bound nothing older than D1 answers.
    let changed = app().d1_write_elsewhere(&format!(
        "UPDATE images SET name = 'renamed again', version = version + 1 WHERE id = '{id}'"
    ));
    assert_eq!(changed, 1);
    std::thread::sleep(MEMORY_BOUND + Duration::from_millis(300));
    let current = show_with(&id, &[("If-None-Match", &new_etag)]);
    assert_eq!(current.status, 200, "past the bound, D1 answers");
    assert_eq!(current.json()["name"], "renamed again");
}

/// An image this isolate read, then deleted elsewhere: once this isolate's
/// own read finds it gone, a revalidation within the bound is 404, never a
/// 304 from the record it remembered.
#[test]
fn a_revalidation_after_this_isolate_saw_the_image_gone_is_404() {
    let id = app().create_uploadable(&unique_tag());
    let read = show_with(&id, &[]);
    let read_at = Instant::now();
    let etag = read.header("etag").unwrap().to_owned();
    let changed = app().d1_write_elsewhere(&format!("UPDATE images SET deleted = 1 WHERE id = '{id}'"));
    assert_eq!(changed, 1);
    assert_eq!(show_with(&id, &[]).status, 404, "a full read goes to D1");
    let revalidated = show_with(&id, &[("If-None-Match", &etag)]);
    assert!(read_at.elapsed() < MEMORY_BOUND, "the check ran within the bound; too slow a machine to tell");
    assert_eq!(revalidated.status, 404, "the isolate's own read saw it gone");
}

#[test]
fn if_modified_since_gives_304_until_the_image_changes() {
    let id = app().create_uploadable(&unique_tag());
    let first = show_with(&id, &[]);
    let modified = first.header("last-modified").unwrap().to_owned();
    assert_eq!(show_with(&id, &[("If-Modified-Since", &modified)]).status, 304);
    let long_ago = "Thu, 01 Jan 2015 00:00:00 GMT";
    assert_eq!(show_with(&id, &[("If-Modified-Since", long_ago)]).status, 200);
    assert_eq!(show_with(&id, &[("If-Modified-Since", "not a date")]).status, 200, "an invalid date is ignored");
}

#[test]
fn a_patch_whose_if_match_names_an_older_revision_is_412_and_changes_nothing() {
    let id = app().create_uploadable(&unique_tag());
    let etag = show_with(&id, &[]).header("etag").unwrap().to_owned();
    assert_eq!(rename(&id, "first", &[("If-Match", &etag)]).status, 200, "the current revision may be written");
    let refused = rename(&id, "second", &[("If-Match", &etag)]);
    refused.assert_error(412, "changed since the client read it");
    assert_eq!(app().show(&id)["name"], "first", "a refused write changes nothing");
    let weak = rename(&id, "third", &[("If-Match", &format!("W/{}", show_with(&id, &[]).header("etag").unwrap()))]);
    assert_eq!(weak.status, 412, "a weak tag never allows a write");
    assert_eq!(rename(&id, "fourth", &[("If-Match", "*")]).status, 200);
}

#[test]
fn an_upload_whose_if_match_names_an_older_revision_is_412_and_stores_nothing() {
    let id = app().create_uploadable(&unique_tag());
    let etag = show_with(&id, &[]).header("etag").unwrap().to_owned();
    assert_eq!(rename(&id, "changed", &[]).status, 200);
    let data = random_bytes(4096, 21);
    let headers = [("Content-Type", "application/octet-stream"), ("If-Match", etag.as_str())];
    let refused = app().request("PUT", &format!("/v2/images/{id}/file"), &headers, Some(&data));
    refused.assert_error(412, "changed since the client read it");
    assert_eq!(app().status_of(&id), "queued");
    assert!(!app().object_exists(&id), "nothing was stored");
    let current = show_with(&id, &[]).header("etag").unwrap().to_owned();
    let headers = [("Content-Type", "application/octet-stream"), ("If-Match", current.as_str())];
    let accepted = app().request("PUT", &format!("/v2/images/{id}/file"), &headers, Some(&data));
    assert_eq!(accepted.status, 204, "{}", String::from_utf8_lossy(&accepted.body));
}

#[test]
fn data_has_its_md5_as_validator_and_a_current_copy_gives_304() {
    let data = random_bytes(64 * 1024, 22);
    let id = app().create_active(&unique_tag(), &data, None);
    let path = format!("/v2/images/{id}/file");
    let full = app().get(&path);
    assert_eq!(full.status, 200);
    let etag = full.header("etag").unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", md5_hex(&data)));
    let again = app().request("GET", &path, &[("If-None-Match", &etag)], None);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    assert_eq!(app().request("GET", &path, &[("If-None-Match", "\"something-else\"")], None).status, 200);
    // No data yet: nothing to match.
    let queued = app().create_uploadable(&unique_tag());
    assert_eq!(app().request("GET", &format!("/v2/images/{queued}/file"), &[("If-None-Match", "*")], None).status, 204);
}

#[test]
fn data_cache_control_follows_visibility() {
    let data = random_bytes(1024, 23);
    for (visibility, expected) in [
        ("public", "public, max-age=86400, immutable"),
        ("community", "public, max-age=86400, immutable"),
        ("shared", "private, no-cache"),
        ("private", "private, no-cache"),
    ] {
        let id = app().create_active(&unique_tag(), &data, None);
        let ops = json!([{"op": "replace", "path": "/visibility", "value": visibility}]);
        assert_eq!(app().patch(&id, PATCH, &ops).status, 200);
        let download = app().get(&format!("/v2/images/{id}/file"));
        assert_eq!(download.status, 200);
        assert_eq!(download.header("cache-control"), Some(expected), "{visibility}");
        let ranged = app().request("GET", &format!("/v2/images/{id}/file"), &[("Range", "bytes=0-9")], None);
        assert_eq!(ranged.status, 206);
        assert_eq!(ranged.header("cache-control"), Some(expected), "{visibility}, a range");
    }
    // A deactivated public image's data is no longer for shared caches.
    let id = app().create_active(&unique_tag(), &data, None);
    let ops = json!([{"op": "replace", "path": "/visibility", "value": "public"}]);
    assert_eq!(app().patch(&id, PATCH, &ops).status, 200);
    assert_eq!(app().request("POST", &format!("/v2/images/{id}/actions/deactivate"), &[], None).status, 204);
    let download = app().get(&format!("/v2/images/{id}/file"));
    assert_eq!(download.header("cache-control"), Some("private, no-cache"), "{}", download.status);
}

#[test]
fn of_racing_patches_naming_one_revision_exactly_one_is_written() {
    let id = app().create_uploadable(&unique_tag());
    let etag = show_with(&id, &[]).header("etag").unwrap().to_owned();
    let barrier = std::sync::Barrier::new(8);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (barrier, etag, id) = (&barrier, &etag, &id);
                s.spawn(move || {
                    barrier.wait();
                    rename(id, &format!("racer-{i}"), &[("If-Match", etag)]).status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| matches!(s, 200 | 412)), "{statuses:?}");
    let winner = app().show(&id)["name"].as_str().unwrap().to_owned();
    assert!(winner.starts_with("racer-"), "{winner}");
}
