use std::time::Duration;

use crate::helpers::{app, unique_tag};

#[test]
fn the_cron_trigger_settles_uploads_whose_worker_died_and_removes_their_objects() {
    // Simulate a worker killed mid-upload: the row says `saving` since long
    // ago, and a stray object sits in R2.
    let stalled = app().create_uploadable(&unique_tag());
    app().d1_execute(&format!(
        "UPDATE images SET status = 'saving', updated_at = '2000-01-01T00:00:00Z' WHERE id = '{stalled}'"
    ));
    let stray = std::env::temp_dir().join(format!("{stalled}.bin"));
    std::fs::write(&stray, b"half an upload").unwrap();
    app().put_object(&stalled, &stray);
    assert!(app().object_exists(&stalled));
    assert_eq!(app().status_of(&stalled), "saving");
    // An upload that is merely in progress (recently updated) is left alone.
    let busy = app().create_uploadable(&unique_tag());
    app().d1_execute(&format!("UPDATE images SET status = 'saving' WHERE id = '{busy}'"));

    let reply = app().get("/__scheduled?cron=*/5+*+*+*+*");
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));

    app().wait_for_status(&stalled, "queued", Duration::from_secs(20));
    assert!(!app().object_exists(&stalled), "the stray object must be gone");
    assert_eq!(app().status_of(&busy), "saving");
    // The settled image takes data again.
    assert_eq!(app().upload(&stalled, b"complete upload").status, 204);
    std::fs::remove_file(stray).unwrap();
}

#[test]
fn the_cron_trigger_aborts_multipart_uploads_nothing_has_fed_and_keeps_live_ones() {
    // R2's binding cannot list unfinished multipart uploads, so the catalog
    // records each in D1 while it is in flight. A record with no progress
    // for longer than any live upload may stall belongs to a dead worker.
    let (old, live) = (format!("dead-{}", unique_tag()), format!("live-{}", unique_tag()));
    app().d1_execute(&format!(
        "INSERT INTO multipart_uploads (upload_id, object_key, progress_at) VALUES ('{old}', 'images/{old}', 1000), ('{live}', 'images/{live}', unixepoch())"
    ));
    let reply = app().get("/__scheduled?cron=*/5+*+*+*+*");
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let left: Vec<String> = app()
        .d1_query(&format!("SELECT upload_id FROM multipart_uploads WHERE upload_id IN ('{old}', '{live}')"))
        .iter()
        .map(|row| row["upload_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(left, vec![live.clone()]);
    app().d1_execute(&format!("DELETE FROM multipart_uploads WHERE upload_id = '{live}'"));
}

#[test]
fn finished_and_abandoned_multipart_uploads_leave_no_record_behind() {
    // 12 MiB of unknown length: an R2 multipart upload (10 MiB parts).
    let id = app().create_uploadable(&unique_tag());
    let data = crate::helpers::random_bytes(12 * 1024 * 1024, 12);
    let reply = app().request_chunked(
        "PUT",
        &format!("/v2/images/{id}/file"),
        &[("Content-Type", "application/octet-stream")],
        data.as_slice(),
    );
    assert_eq!(reply.status, 204);
    let records = app().d1_query(&format!("SELECT upload_id FROM multipart_uploads WHERE object_key = 'images/{id}'"));
    assert!(records.is_empty(), "a completed multipart upload is still recorded: {records:?}");
}
