//! The D1 repository of image metadata. Status moves are compare-and-set
//! (`... WHERE status = <expected>`), so of two racing requests exactly one
//! wins and the other learns it lost from the row count.

use worker::D1Database;

use super::d1::Db;
use super::row::{insert_values, mutable_values, ImageRow};
use super::StoreError;
use crate::domain::image::status::ImageStatus;
use crate::domain::image::{Image, ImageId};
use crate::domain::listing::SqlValue;

/// Image metadata in D1.
pub struct Images {
    db: Db,
}

/// What a finished upload records.
pub struct DataRecord<'a> {
    /// Bytes.
    pub size: u64,
    /// Hex md5.
    pub checksum: &'a str,
    /// Hex sha512.
    pub os_hash_value: &'a str,
    /// Virtual size, when known.
    pub virtual_size: Option<u64>,
}

impl Images {
    /// Wraps the D1 binding.
    pub fn new(db: D1Database) -> Images {
        Images { db: Db::new(db) }
    }

    async fn rows(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Image>, StoreError> {
        self.db.rows::<ImageRow>(sql, params).await?.into_iter().map(Image::try_from).collect()
    }

    async fn changes(&self, sql: &str, params: &[SqlValue]) -> Result<usize, StoreError> {
        self.db.changes(sql, params).await
    }

    /// The image, unless missing or deleted.
    pub async fn get(&self, id: &ImageId) -> Result<Option<Image>, StoreError> {
        let rows =
            self.rows("SELECT * FROM images WHERE id = ? AND deleted = 0", &[SqlValue::Text(id.to_string())]).await?;
        Ok(rows.into_iter().next())
    }

    /// Inserts a new image; `Duplicate` if the id was ever used.
    pub async fn insert(&self, image: &Image) -> Result<(), StoreError> {
        let values = insert_values(image);
        let columns: Vec<&str> = values.iter().map(|(c, _)| *c).collect();
        let marks = vec!["?"; values.len()].join(", ");
        let sql = format!("INSERT INTO images ({}) VALUES ({marks})", columns.join(", "));
        let params: Vec<SqlValue> = values.into_iter().map(|(_, v)| v).collect();
        self.db.insert(&sql, &params).await
    }

    /// Writes the mutable metadata of `image`, provided its status is still
    /// `expected` (formats may only change in some statuses). `false` if the
    /// image moved or vanished meanwhile.
    pub async fn update_metadata(&self, image: &Image, expected: ImageStatus) -> Result<bool, StoreError> {
        let values = mutable_values(image);
        let assignments: Vec<String> = values.iter().map(|(c, _)| format!("{c} = ?")).collect();
        let sql = format!("UPDATE images SET {} WHERE id = ? AND deleted = 0 AND status = ?", assignments.join(", "));
        let mut params: Vec<SqlValue> = values.into_iter().map(|(_, v)| v).collect();
        params.push(SqlValue::Text(image.id.to_string()));
        params.push(SqlValue::Text(expected.as_str().into()));
        Ok(self.changes(&sql, &params).await? == 1)
    }

    /// Compare-and-set of the status alone. Entering `queued` clears the
    /// data fields, as Glance does.
    pub async fn move_status(
        &self,
        id: &ImageId,
        from: ImageStatus,
        to: ImageStatus,
        now: &str,
    ) -> Result<bool, StoreError> {
        let clear = if to == ImageStatus::Queued {
            ", size = NULL, virtual_size = NULL, checksum = NULL, os_hash_algo = NULL, os_hash_value = NULL"
        } else {
            ""
        };
        let sql =
            format!("UPDATE images SET status = ?, updated_at = ?{clear} WHERE id = ? AND deleted = 0 AND status = ?");
        let params = [
            SqlValue::Text(to.as_str().into()),
            SqlValue::Text(now.into()),
            SqlValue::Text(id.to_string()),
            SqlValue::Text(from.as_str().into()),
        ];
        Ok(self.changes(&sql, &params).await? == 1)
    }

    /// `from` -> `active` with the data's size and hashes recorded.
    pub async fn record_data(
        &self,
        id: &ImageId,
        from: ImageStatus,
        data: DataRecord<'_>,
        now: &str,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE images SET status = 'active', size = ?, checksum = ?, os_hash_algo = ?, os_hash_value = ?, virtual_size = ?, updated_at = ? WHERE id = ? AND deleted = 0 AND status = ?";
        let params = [
            SqlValue::Int(data.size as i64),
            SqlValue::Text(data.checksum.into()),
            SqlValue::Text(crate::domain::image::HASH_ALGO.into()),
            SqlValue::Text(data.os_hash_value.into()),
            data.virtual_size.map_or(SqlValue::Null, |n| SqlValue::Int(n as i64)),
            SqlValue::Text(now.into()),
            SqlValue::Text(id.to_string()),
            SqlValue::Text(from.as_str().into()),
        ];
        Ok(self.changes(sql, &params).await? == 1)
    }

    /// Soft-deletes the image if its status is still `from`.
    pub async fn delete(&self, id: &ImageId, from: ImageStatus, now: &str) -> Result<bool, StoreError> {
        let sql = "UPDATE images SET status = 'deleted', deleted = 1, deleted_at = ?, updated_at = ? WHERE id = ? AND deleted = 0 AND status = ?";
        let params = [
            SqlValue::Text(now.into()),
            SqlValue::Text(now.into()),
            SqlValue::Text(id.to_string()),
            SqlValue::Text(from.as_str().into()),
        ];
        Ok(self.changes(sql, &params).await? == 1)
    }

    /// Images that have been `saving` since before `cutoff`: uploads whose
    /// worker died without settling them.
    pub async fn stalled_uploads(&self, cutoff: &str) -> Result<Vec<Image>, StoreError> {
        self.rows(
            "SELECT * FROM images WHERE deleted = 0 AND status = 'saving' AND updated_at < ? LIMIT 100",
            &[SqlValue::Text(cutoff.into())],
        )
        .await
    }

    /// Runs a list query built by `domain::listing`.
    pub async fn list(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Image>, StoreError> {
        self.rows(sql, params).await
    }
}
