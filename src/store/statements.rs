//! The SQL of the single-statement writes whose rules live in the statement
//! itself (so no concurrent writer can slip between a read and a write).
//! Pure text, compiled on the host too, so `tests/sql_statements.rs` runs
//! each against SQLite with the real migrations.

/// Adds tag `?1` to image `?3` (`updated_at = ?2`) unless it has `?4` tags
/// already; a tag the image has is kept once. One row changes, or none when
/// the image is missing or its tags are full.
pub const ADD_TAG: &str = "UPDATE images SET \
     tags = CASE WHEN EXISTS (SELECT 1 FROM json_each(images.tags) WHERE value = ?1) \
            THEN tags ELSE json_insert(tags, '$[#]', ?1) END, \
     updated_at = ?2, version = version + 1 \
     WHERE id = ?3 AND deleted = 0 \
     AND (EXISTS (SELECT 1 FROM json_each(images.tags) WHERE value = ?1) OR json_array_length(tags) < ?4)";

/// Removes tag `?1` from image `?3` (`updated_at = ?2`), keeping the order
/// of the others. No row changes when the image does not carry the tag.
pub const REMOVE_TAG: &str = "UPDATE images SET \
     tags = (SELECT json_group_array(value) FROM json_each(images.tags) WHERE value != ?1), \
     updated_at = ?2, version = version + 1 \
     WHERE id = ?3 AND deleted = 0 AND EXISTS (SELECT 1 FROM json_each(images.tags) WHERE value = ?1)";

/// Adds member `?2` (status `?3`, times `?4`, `?5`) to image `?1` unless it
/// has `?6` members already. A duplicate fails on the primary key.
pub const ADD_MEMBER: &str = "INSERT INTO image_members (image_id, member, status, created_at, updated_at) \
     SELECT ?1, ?2, ?3, ?4, ?5 WHERE (SELECT COUNT(*) FROM image_members WHERE image_id = ?1) < ?6";

/// What project `?1` uses of each quota (`domain::quota::Usage`), from its
/// images as Glance counts them: stored size is each image's size times
/// its locations (one per store holding a copy); staging holds uploading
/// and importing images and those being copied to more stores
/// (`os_glance_importing_to_stores` not empty); the image count leaves out
/// killed images; the uploading count is saving, uploading and importing
/// images and those being copied. The status words are parameters: `?2`
/// killed, `?3` uploading, `?4` importing, `?5` saving. (Deleted and
/// pending-delete rows are `deleted = 1`.)
pub const QUOTA_USAGE: &str = "SELECT \
     COALESCE(SUM(CASE WHEN status != ?2 AND size > 0 THEN size * json_array_length(locations) END), 0) \
       AS size_total, \
     COALESCE(SUM(CASE WHEN size > 0 AND (status IN (?3, ?4) OR (status NOT IN (?2, ?3, ?4) \
       AND COALESCE(json_extract(properties, '$.os_glance_importing_to_stores'), '') != '')) THEN size END), 0) \
       AS stage_total, \
     COUNT(CASE WHEN status != ?2 THEN 1 END) AS count_total, \
     COUNT(CASE WHEN status IN (?5, ?3, ?4) OR (status NOT IN (?2, ?5, ?3, ?4) \
       AND COALESCE(json_extract(properties, '$.os_glance_importing_to_stores'), '') != '') THEN 1 END) \
       AS count_uploading \
     FROM images WHERE owner = ?1 AND deleted = 0";

/// Inserts an image (`columns`, bound as the first parameters in that
/// order) unless its owner already has the image count limit: the three
/// parameters after the columns are the owner, the `killed` status word
/// (killed images do not count) and the limit. One row changes, or none
/// when the project is at its limit: racing creates never take a project
/// over it.
pub fn insert_within_count(columns: &[&str]) -> String {
    let n = columns.len();
    let marks: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO images ({}) SELECT {} WHERE (SELECT COUNT(*) FROM images \
         WHERE owner = ?{} AND deleted = 0 AND status != ?{}) < ?{}",
        columns.join(", "),
        marks.join(", "),
        n + 1,
        n + 2,
        n + 3
    )
}
