//! The SQL of `GET /v2/images` agrees with the policy table: for every
//! visibility, owner and membership of an image, every kind of caller and
//! every visibility/member_status variant of the list, the rows SQLite returns
//! for `ListQuery::to_sql` are exactly the images `policy::listed` predicts.
//! Runs on the host against an in-memory SQLite with every migration applied.

#[path = "support/sqlite.rs"]
mod sqlite;

use std::collections::BTreeSet;

use edge_glance::domain::access::member::MemberStatus;
use edge_glance::domain::access::policy::{self, Caller};
use edge_glance::domain::image::status::ImageStatus;
use edge_glance::domain::image::{Image, ImageId, Visibility};
use edge_glance::domain::listing::{ListQuery, SqlValue, Viewer};
use rusqlite::Connection;
use sqlite::database;

/// The projects whose membership each image records, one status each.
const PROJECTS: [&str; 2] = ["p1", "p2"];
const MEMBERSHIPS: [Option<MemberStatus>; 4] =
    [None, Some(MemberStatus::Pending), Some(MemberStatus::Accepted), Some(MemberStatus::Rejected)];
const QUERIES: [&str; 10] = [
    "",
    "visibility=all",
    "visibility=community",
    "visibility=shared",
    "visibility=private",
    "visibility=public",
    "member_status=all",
    "member_status=pending",
    "member_status=rejected",
    "visibility=shared&member_status=all",
];

/// One image row and the membership each project has in it.
struct Row {
    image: Image,
    memberships: [Option<MemberStatus>; 2],
}

impl Row {
    fn membership_of(&self, project: Option<&str>) -> Option<MemberStatus> {
        let index = PROJECTS.iter().position(|p| Some(*p) == project)?;
        self.memberships[index]
    }
}

/// Every visibility x owner (p1, p2, none) x membership of p1 x membership of p2.
fn images(db: &Connection) -> Vec<Row> {
    let mut rows = Vec::new();
    for &visibility in Visibility::ALL {
        for owner in [Some("p1"), Some("p2"), None] {
            for p1 in MEMBERSHIPS {
                for p2 in MEMBERSHIPS {
                    let now = format!("2026-01-01T00:{:02}:{:02}Z", rows.len() / 60, rows.len() % 60);
                    let mut image = Image::new(ImageId::generate(), owner.map(str::to_owned), &now);
                    image.visibility = visibility;
                    image.status = ImageStatus::Active;
                    db.execute(
                        "INSERT INTO images (id, status, visibility, protected, os_hidden, min_disk, min_ram, owner, \
                         created_at, updated_at, tags, properties) \
                         VALUES (?1, 'active', ?2, 0, 0, 0, 0, ?3, ?4, ?4, '[]', '{}')",
                        (image.id.as_str(), visibility.as_str(), owner, &now),
                    )
                    .unwrap();
                    for (project, membership) in PROJECTS.iter().zip([p1, p2]) {
                        if let Some(status) = membership {
                            db.execute(
                                "INSERT INTO image_members (image_id, member, status, created_at, updated_at) \
                                 VALUES (?1, ?2, ?3, ?4, ?4)",
                                (image.id.as_str(), project, status.as_str(), &now),
                            )
                            .unwrap();
                        }
                    }
                    rows.push(Row { image, memberships: [p1, p2] });
                }
            }
        }
    }
    rows
}

fn run(db: &Connection, sql: &str, params: Vec<SqlValue>) -> BTreeSet<String> {
    sqlite::ids(db, sql, params).into_iter().collect()
}

#[test]
fn every_list_returns_exactly_the_images_the_policy_lists() {
    let db = database();
    let rows = images(&db);
    let (admin, member, reader) = (
        vec!["admin".to_string(), "member".into(), "reader".into()],
        vec!["member".to_string(), "reader".into()],
        vec!["reader".to_string()],
    );
    let callers = [
        ("admin of p1", Caller { project_id: Some("p1"), roles: &admin }),
        ("member of p1", Caller { project_id: Some("p1"), roles: &member }),
        ("reader of p1", Caller { project_id: Some("p1"), roles: &reader }),
        ("member of p2", Caller { project_id: Some("p2"), roles: &member }),
        ("caller without a project", Caller { project_id: None, roles: &reader }),
        ("admin without a project", Caller { project_id: None, roles: &admin }),
    ];
    let mut failures = Vec::new();
    let mut cells = 0;
    for (who, caller) in callers {
        let viewer = Viewer { project_id: caller.project_id.map(str::to_owned), is_admin: caller.is_admin() };
        for query in QUERIES {
            let parsed = ListQuery::parse(&format!("limit=1000&{query}")).unwrap();
            let (sql, params) = parsed.to_sql(&viewer, None);
            let returned = run(&db, &sql, params);
            let expected: BTreeSet<String> = rows
                .iter()
                .filter(|row| {
                    let membership = row.membership_of(caller.project_id);
                    policy::listed(caller, &row.image, membership, parsed.visibility, parsed.member_status)
                })
                .map(|row| row.image.id.as_str().to_owned())
                .collect();
            cells += rows.len();
            for row in &rows {
                let id = row.image.id.as_str();
                let (got, want) = (returned.contains(id), expected.contains(id));
                if got != want {
                    failures.push(format!(
                        "{who}, ?{query}: {} image of {:?} (p1 {:?}, p2 {:?}): SQL {} it, policy {} it",
                        row.image.visibility.as_str(),
                        row.image.owner,
                        row.memberships[0],
                        row.memberships[1],
                        if got { "lists" } else { "omits" },
                        if want { "lists" } else { "omits" },
                    ));
                }
            }
        }
    }
    assert_eq!(cells, 192 * 6 * 10);
    let shown = failures.iter().take(40).cloned().collect::<Vec<_>>().join("\n");
    assert!(failures.is_empty(), "{} disagreements (first 40):\n{shown}", failures.len());
}

#[test]
fn the_matrix_lists_something_for_every_caller_and_omits_something_too() {
    // Guards the main test against a vacuous matrix (nothing or everything listed).
    let db = database();
    let rows = images(&db);
    let member = vec!["member".to_string()];
    let viewer = Viewer { project_id: Some("p2".into()), is_admin: false };
    let (sql, params) = ListQuery::parse("limit=1000").unwrap().to_sql(&viewer, None);
    let returned = run(&db, &sql, params);
    assert!(!returned.is_empty() && returned.len() < rows.len(), "{} of {}", returned.len(), rows.len());
    let caller = Caller { project_id: Some("p2"), roles: &member };
    let shared_accepted = rows
        .iter()
        .find(|r| {
            r.image.visibility == Visibility::Shared
                && r.image.owner.as_deref() == Some("p1")
                && r.membership_of(Some("p2")) == Some(MemberStatus::Accepted)
        })
        .unwrap();
    assert!(returned.contains(shared_accepted.image.id.as_str()));
    assert!(policy::can_see(caller, &shared_accepted.image, true));
}
