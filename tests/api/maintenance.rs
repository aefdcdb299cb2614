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

    let reply = app().get("/__scheduled?cron=*/10+*+*+*+*");
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));

    app().wait_for_status(&stalled, "queued", Duration::from_secs(20));
    assert!(!app().object_exists(&stalled), "the stray object must be gone");
    assert_eq!(app().status_of(&busy), "saving");
    // The settled image takes data again.
    assert_eq!(app().upload(&stalled, b"complete upload").status, 204);
    std::fs::remove_file(stray).unwrap();
}
