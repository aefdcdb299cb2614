//! The D1 repository of image metadata. Every write is one statement that
//! is a compare-and-set: a record is written whole on the row's revision
//! and, with a status transition, on its `from` status (so of two racing
//! uploads exactly one wins, and a concurrent write is retried on fresh
//! data by `api::image_write`, never overwritten); tags are written in
//! place. The loser learns it lost from the row count.

use super::d1::Db;
use super::recent;
use super::row::{data_values, insert_values, mutable_values, ImageRow};
use super::statements;
use super::StoreError;
use crate::domain::image::status::{ImageStatus, Transition};
use crate::domain::image::{Image, ImageId};
use crate::domain::listing::SqlValue;

/// Image metadata in D1.
pub struct Images {
    db: Db,
}

impl Images {
    /// Wraps the D1 binding.
    pub fn new(db: Db) -> Images {
        Images { db }
    }

    async fn rows(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Image>, StoreError> {
        self.db.rows::<ImageRow>(sql, params).await?.into_iter().map(Image::try_from).collect()
    }

    async fn changes(&self, sql: &str, params: &[SqlValue]) -> Result<usize, StoreError> {
        self.db.changes(sql, params).await
    }

    /// A write of image `id`'s record: this isolate forgets what it
    /// remembered of it (before, so no read remembers the old record while
    /// the write runs; after, for a read that ended meanwhile).
    async fn change(&self, id: &ImageId, sql: &str, params: &[SqlValue]) -> Result<usize, StoreError> {
        recent::forget(id.as_str());
        let changed = self.db.changes(sql, params).await;
        recent::forget(id.as_str());
        changed
    }

    /// The image, unless missing or deleted (remembered for revalidations,
    /// see [`Images::recent`]).
    pub async fn get(&self, id: &ImageId) -> Result<Option<Image>, StoreError> {
        let writes_before = recent::writes();
        let rows =
            self.rows("SELECT * FROM images WHERE id = ? AND deleted = 0", &[SqlValue::Text(id.to_string())]).await?;
        let image = rows.into_iter().next();
        match &image {
            Some(image) => recent::remember(image, self.db.bookmark(), writes_before),
            None => recent::drop_missing(id.as_str()),
        }
        Ok(image)
    }

    /// The record of image `id` as this isolate read it at most
    /// `max_age_seconds` ago, if that read is as fresh as the request's
    /// session asks, with the bookmark it was read at (`store::recent`).
    pub fn recent(&self, id: &ImageId, max_age_seconds: u64) -> Option<(Image, Option<String>)> {
        recent::recall(id.as_str(), max_age_seconds as f64 * 1000.0, self.db.start())
    }

    /// Inserts a new image; `Duplicate` if the id was ever used.
    pub async fn insert(&self, image: &Image) -> Result<(), StoreError> {
        let values = insert_values(image);
        let columns: Vec<&str> = values.iter().map(|(c, _)| *c).collect();
        let marks = vec!["?"; values.len()].join(", ");
        let sql = format!("INSERT INTO images ({}) VALUES ({marks})", columns.join(", "));
        let params: Vec<SqlValue> = values.into_iter().map(|(_, v)| v).collect();
        self.db.insert(&sql, &params).await.map(|_| ())
    }

    /// Inserts a new image unless `project` already has `limit` images
    /// (killed ones aside): one statement, so racing creates never take a
    /// project over its limit. `false`: at the limit, nothing inserted.
    pub async fn insert_within_count(&self, image: &Image, project: &str, limit: i64) -> Result<bool, StoreError> {
        let values = insert_values(image);
        let columns: Vec<&str> = values.iter().map(|(c, _)| *c).collect();
        let sql = statements::insert_within_count(&columns);
        let mut params: Vec<SqlValue> = values.into_iter().map(|(_, v)| v).collect();
        params.push(SqlValue::Text(project.into()));
        params.push(SqlValue::Text(ImageStatus::Killed.as_str().into()));
        params.push(SqlValue::Int(limit));
        Ok(self.db.insert(&sql, &params).await? == 1)
    }

    /// Writes the whole record (metadata, data fields and, with a
    /// `transition`, the status) if the row is still at the revision
    /// `image` was read at and, with a transition, in its `from` status:
    /// every change of a record (status, data, locations, bookkeeping
    /// properties) lands whole or not at all. `image.status` is ignored:
    /// only a transition moves the status, and one into `deleted` or
    /// `pending_delete` also marks the row deleted. `false`: another write
    /// came first, or the image is gone.
    pub async fn write(&self, image: &Image, transition: Option<Transition>) -> Result<bool, StoreError> {
        let mut values = mutable_values(image);
        values.extend(data_values(image));
        let mut assignments: Vec<String> = values.iter().map(|(c, _)| format!("{c} = ?")).collect();
        let mut params: Vec<SqlValue> = values.into_iter().map(|(_, v)| v).collect();
        if let Some(t) = transition {
            assignments.push("status = ?".into());
            params.push(SqlValue::Text(t.to().as_str().into()));
            if matches!(t.to(), ImageStatus::Deleted | ImageStatus::PendingDelete) {
                assignments.push("deleted = 1".into());
                assignments.push("deleted_at = ?".into());
                params.push(SqlValue::Text(image.updated_at.clone()));
            }
        }
        let mut sql = format!(
            "UPDATE images SET {}, version = version + 1 WHERE id = ? AND deleted = 0 AND version = ?",
            assignments.join(", ")
        );
        params.push(SqlValue::Text(image.id.to_string()));
        params.push(SqlValue::Int(image.version as i64));
        if let Some(t) = transition {
            sql.push_str(" AND status = ?");
            params.push(SqlValue::Text(t.from().as_str().into()));
        }
        Ok(self.change(&image.id, &sql, &params).await? == 1)
    }

    /// Adds `tag` in one statement (no read-modify-write to lose), unless
    /// the image already has `max` tags; a tag it has is left as it is.
    /// `false`: no such image, or the quota is full.
    pub async fn add_tag(&self, id: &ImageId, tag: &str, max: usize, now: &str) -> Result<bool, StoreError> {
        let sql = statements::ADD_TAG;
        let params = [
            SqlValue::Text(tag.into()),
            SqlValue::Text(now.into()),
            SqlValue::Text(id.to_string()),
            SqlValue::Int(max as i64),
        ];
        Ok(self.change(id, sql, &params).await? == 1)
    }

    /// Removes `tag` in one statement; `false` if the image does not carry it.
    pub async fn remove_tag(&self, id: &ImageId, tag: &str, now: &str) -> Result<bool, StoreError> {
        let sql = statements::REMOVE_TAG;
        let params = [SqlValue::Text(tag.into()), SqlValue::Text(now.into()), SqlValue::Text(id.to_string())];
        Ok(self.change(id, sql, &params).await? == 1)
    }

    /// Images deleted with delayed delete before `before` (ISO time), whose
    /// data the scrubber may now remove.
    pub async fn pending_delete_since(&self, before: &str) -> Result<Vec<Image>, StoreError> {
        self.rows(
            "SELECT * FROM images WHERE deleted = 1 AND status = ? AND deleted_at <= ? LIMIT 100",
            &[SqlValue::Text(ImageStatus::PendingDelete.as_str().into()), SqlValue::Text(before.into())],
        )
        .await
    }

    /// The scrubber's last step: a pending-delete row becomes `deleted`.
    pub async fn finish_delete(&self, id: &ImageId, transition: Transition, now: &str) -> Result<bool, StoreError> {
        let sql = "UPDATE images SET status = ?, updated_at = ?, version = version + 1 WHERE id = ? AND deleted = 1 AND status = ?";
        let params = [
            SqlValue::Text(transition.to().as_str().into()),
            SqlValue::Text(now.into()),
            SqlValue::Text(id.to_string()),
            SqlValue::Text(transition.from().as_str().into()),
        ];
        Ok(self.change(id, sql, &params).await? == 1)
    }

    /// Renews an upload's progress time (Unix seconds). Not a revision:
    /// progress is not a change of the record.
    pub async fn touch_progress(&self, id: &ImageId, now: i64) -> Result<(), StoreError> {
        let sql = "UPDATE images SET progress_at = ? WHERE id = ? AND deleted = 0 AND status IN (?, ?)";
        let params = [
            SqlValue::Int(now),
            SqlValue::Text(id.to_string()),
            SqlValue::Text(ImageStatus::Saving.as_str().into()),
            SqlValue::Text(ImageStatus::Uploading.as_str().into()),
        ];
        self.changes(sql, &params).await.map(|_| ())
    }

    /// Images in `status` with no progress since `before` (Unix seconds):
    /// neither a renewed progress time nor a status change (`updated_at`)
    /// since then. Uploads whose worker died without settling them.
    pub async fn without_progress_since(&self, status: ImageStatus, before: i64) -> Result<Vec<Image>, StoreError> {
        self.rows(
            "SELECT * FROM images WHERE deleted = 0 AND status = ?1 AND COALESCE(progress_at, 0) < ?2 AND unixepoch(updated_at) < ?2 LIMIT 100",
            &[SqlValue::Text(status.as_str().into()), SqlValue::Int(before)],
        )
        .await
    }

    /// Runs a list query built by `domain::listing`.
    pub async fn list(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Image>, StoreError> {
        self.rows(sql, params).await
    }
}
