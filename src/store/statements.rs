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
