//! The SQL whose rules live in the statement itself, run against SQLite with
//! every migration applied (D1 is SQLite): the tag and member writes of
//! `store::statements`, and the grouped tag/property/`in:` filters of
//! `ListQuery::to_sql`.

#[path = "support/sqlite.rs"]
mod sqlite;

use edge_glance::domain::image::MAX_TAGS;
use edge_glance::domain::listing::{ListQuery, Viewer};
use edge_glance::store::statements::{insert_within_count, ADD_MEMBER, ADD_TAG, QUOTA_USAGE, REMOVE_TAG};
use rusqlite::{params, Connection};
use sqlite::database;

fn insert_image(db: &Connection, id: &str, tags: &str, properties: &str) {
    db.execute(
        "INSERT INTO images (id, name, status, visibility, owner, created_at, updated_at, tags, properties) \
         VALUES (?1, ?1, 'active', 'public', 'p1', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', ?2, ?3)",
        params![id, tags, properties],
    )
    .unwrap();
}

fn tags_of(db: &Connection, id: &str) -> (Vec<String>, i64) {
    let (tags, version): (String, i64) =
        db.query_row("SELECT tags, version FROM images WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    (serde_json::from_str(&tags).unwrap(), version)
}

#[test]
fn adding_a_tag_appends_it_once_and_bumps_the_revision() {
    let db = database();
    insert_image(&db, "i1", r#"["a","b"]"#, "{}");
    assert_eq!(db.execute(ADD_TAG, params!["c", "now", "i1", MAX_TAGS as i64]).unwrap(), 1);
    assert_eq!(db.execute(ADD_TAG, params!["a", "now", "i1", MAX_TAGS as i64]).unwrap(), 1);
    assert_eq!(tags_of(&db, "i1"), (vec!["a".into(), "b".into(), "c".into()], 2));
    assert_eq!(db.execute(ADD_TAG, params!["x", "now", "missing", MAX_TAGS as i64]).unwrap(), 0);
}

#[test]
fn a_full_tag_list_refuses_a_new_tag_but_keeps_an_existing_one() {
    let db = database();
    insert_image(&db, "i1", r#"["a","b"]"#, "{}");
    assert_eq!(db.execute(ADD_TAG, params!["c", "now", "i1", 2]).unwrap(), 0, "over the quota");
    assert_eq!(db.execute(ADD_TAG, params!["b", "now", "i1", 2]).unwrap(), 1, "already there");
    assert_eq!(tags_of(&db, "i1").0, vec!["a", "b"]);
}

#[test]
fn removing_a_tag_keeps_the_order_of_the_others_and_a_missing_tag_changes_nothing() {
    let db = database();
    insert_image(&db, "i1", r#"["a","b","c"]"#, "{}");
    assert_eq!(db.execute(REMOVE_TAG, params!["b", "now", "i1"]).unwrap(), 1);
    assert_eq!(tags_of(&db, "i1"), (vec!["a".into(), "c".into()], 1));
    assert_eq!(db.execute(REMOVE_TAG, params!["zzz", "now", "i1"]).unwrap(), 0);
    assert_eq!(db.execute(REMOVE_TAG, params!["a", "now", "i1"]).unwrap(), 1);
    assert_eq!(db.execute(REMOVE_TAG, params!["c", "now", "i1"]).unwrap(), 1);
    assert_eq!(tags_of(&db, "i1").0, Vec::<String>::new());
}

#[test]
fn members_are_added_up_to_the_quota_and_never_twice() {
    let db = database();
    let add = |member: &str| db.execute(ADD_MEMBER, params!["i1", member, "pending", "t", "t", 2]);
    assert_eq!(add("p1").unwrap(), 1);
    assert!(add("p1").unwrap_err().to_string().contains("UNIQUE"));
    assert_eq!(add("p2").unwrap(), 1);
    assert_eq!(add("p3").unwrap(), 0, "the quota is full");
}

/// An image of `owner` in `status` with `size` bytes, `locations` copies
/// and `properties`, deleted or not.
fn add_owned(db: &Connection, id: &str, owner: &str, status: &str, size: Option<i64>, copies: usize, props: &str) {
    let locations = serde_json::to_string(&vec![serde_json::json!({"url": "x"}); copies]).unwrap();
    db.execute(
        "INSERT INTO images (id, status, visibility, owner, size, locations, properties, created_at, updated_at) \
         VALUES (?1, ?2, 'private', ?3, ?4, ?5, ?6, 't', 't')",
        params![id, status, owner, size, locations, props],
    )
    .unwrap();
}

fn usage(db: &Connection, owner: &str) -> (i64, i64, i64, i64) {
    db.query_row(QUOTA_USAGE, params![owner, "killed", "uploading", "importing", "saving"], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .unwrap()
}

#[test]
fn quota_usage_counts_as_glance_counts() {
    let db = database();
    let mib = 1 << 20;
    assert_eq!(usage(&db, "p1"), (0, 0, 0, 0), "nothing yet: zeros, not NULLs");
    add_owned(&db, "active-two-stores", "p1", "active", Some(3 * mib), 2, "{}");
    add_owned(&db, "queued", "p1", "queued", None, 0, "{}");
    add_owned(&db, "saving", "p1", "saving", Some(0), 0, "{}");
    add_owned(&db, "staged", "p1", "uploading", Some(5 * mib), 0, "{}");
    add_owned(&db, "importing", "p1", "importing", Some(7 * mib), 0, "{}");
    let copying = r#"{"os_glance_importing_to_stores": "second"}"#;
    add_owned(&db, "copying", "p1", "active", Some(11 * mib), 1, copying);
    add_owned(&db, "done-copying", "p1", "active", Some(mib), 1, r#"{"os_glance_importing_to_stores": ""}"#);
    add_owned(&db, "killed", "p1", "killed", Some(13 * mib), 1, copying);
    add_owned(&db, "other-project", "p2", "active", Some(17 * mib), 1, "{}");
    add_owned(&db, "deleted", "p1", "deleted", Some(19 * mib), 1, "{}");
    db.execute("UPDATE images SET deleted = 1 WHERE id = 'deleted'", []).unwrap();
    // Stored: 3 x 2 copies + 11 + 1. Staging: 5 + 7 + 11 (being copied).
    // Images: all but killed, deleted and p2's. Uploading: saving, staged,
    // importing, copying.
    assert_eq!(usage(&db, "p1"), (18 * mib, 23 * mib, 7, 4));
    assert_eq!(usage(&db, "p2"), (17 * mib, 0, 1, 0));
}

#[test]
fn an_image_is_inserted_only_below_its_owners_count_limit_and_killed_images_do_not_count() {
    let db = database();
    let sql = insert_within_count(&["id", "status", "visibility", "owner", "created_at", "updated_at"]);
    let create = |id: &str, owner: &str, limit: i64| {
        db.execute(&sql, params![id, "queued", "private", owner, "t", "t", owner, "killed", limit]).unwrap()
    };
    assert_eq!(create("a", "p1", 2), 1);
    assert_eq!(create("b", "p1", 2), 1);
    assert_eq!(create("c", "p1", 2), 0, "at the limit");
    assert_eq!(create("c", "p2", 2), 1, "another project has its own count");
    db.execute("UPDATE images SET status = 'killed' WHERE id = 'a'", []).unwrap();
    assert_eq!(create("d", "p1", 2), 1, "a killed image no longer counts");
    db.execute("UPDATE images SET deleted = 1 WHERE id = 'b'", []).unwrap();
    assert_eq!(create("e", "p1", 2), 1, "nor a deleted one");
    assert_eq!(create("f", "p1", 2), 0);
}

fn listed(db: &Connection, query: &str) -> Vec<String> {
    let (sql, params) =
        ListQuery::parse(query).unwrap().to_sql(&Viewer { project_id: Some("p1".into()), is_admin: true }, None);
    let mut ids = sqlite::ids(db, &sql, params);
    ids.sort();
    ids
}

#[test]
fn grouped_tag_property_and_in_filters_mean_what_the_separate_conditions_meant() {
    let db = database();
    insert_image(&db, "i1", r#"["a","b"]"#, r#"{"os":"x","arch":"y"}"#);
    insert_image(&db, "i2", r#"["a"]"#, r#"{"os":"x"}"#);
    insert_image(&db, "i3", r#"[]"#, r#"{"os":"z","arch":"y"}"#);
    assert_eq!(listed(&db, "tag=a"), ["i1", "i2"]);
    assert_eq!(listed(&db, "tag=a&tag=b"), ["i1"], "tags are AND-ed");
    assert_eq!(listed(&db, "tag=a&tag=a"), ["i1", "i2"], "a repeated tag is one tag");
    assert_eq!(listed(&db, "tag=a&tag=c"), Vec::<String>::new());
    assert_eq!(listed(&db, "os=x"), ["i1", "i2"]);
    assert_eq!(listed(&db, "os=x&arch=y"), ["i1"], "properties are AND-ed");
    assert_eq!(listed(&db, "os=x&os=z"), Vec::<String>::new(), "one key, two values: nothing");
    assert_eq!(listed(&db, "name=in:i1,i3,nope"), ["i1", "i3"]);
    let many: Vec<String> = (0..500).map(|i| format!("n{i}")).chain(["i2".into()]).collect();
    assert_eq!(listed(&db, &format!("name=in:{}", many.join(","))), ["i2"]);
    let tags: String = (0..200).map(|_| "&tag=a").collect();
    assert_eq!(listed(&db, &format!("os=x{tags}")), ["i1", "i2"]);
}
