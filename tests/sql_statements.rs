//! The SQL whose rules live in the statement itself, run against SQLite with
//! every migration applied (D1 is SQLite): the tag and member writes of
//! `store::statements`, and the grouped tag/property/`in:` filters of
//! `ListQuery::to_sql`.

#[path = "support/sqlite.rs"]
mod sqlite;

use edge_glance::domain::image::MAX_TAGS;
use edge_glance::domain::listing::{ListQuery, Viewer};
use edge_glance::store::statements::{ADD_MEMBER, ADD_TAG, REMOVE_TAG};
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
