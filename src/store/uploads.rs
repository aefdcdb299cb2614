//! Resumable uploads in D1 (`resumable_uploads`, migration 0008). A PATCH
//! first takes the upload's lease (only at the offset it read, only if no
//! live lease is held), and its progress is written only under that lease:
//! two PATCHes never write the same part, and a stale one changes nothing.

use serde::Deserialize;

use super::d1::Db;
use super::StoreError;
use crate::domain::listing::SqlValue;
use crate::domain::resumable::{Concat, Part, ResumableUpload, UploadId, UploadState};

/// Resumable uploads in D1.
pub struct Uploads {
    db: Db,
}

#[derive(Deserialize)]
struct UploadRow {
    id: String,
    image_id: String,
    length: i64,
    upload_offset: i64,
    part_size: i64,
    concat: String,
    concat_parts: Option<String>,
    metadata: Option<String>,
    store: String,
    multipart_id: Option<String>,
    parts: String,
    tail_size: i64,
    state: UploadState,
    expires_at: i64,
}

fn corrupt(what: &str, id: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} of upload {id}"))
}

impl TryFrom<UploadRow> for ResumableUpload {
    type Error = StoreError;
    fn try_from(row: UploadRow) -> Result<ResumableUpload, StoreError> {
        let concat = match row.concat.as_str() {
            "whole" => Concat::Whole,
            "partial" => Concat::Partial,
            "final" => {
                let ids: Vec<String> = serde_json::from_str(row.concat_parts.as_deref().unwrap_or("[]"))
                    .map_err(|_| corrupt("concat_parts", &row.id))?;
                Concat::Final(
                    ids.iter()
                        .map(|i| UploadId::parse(i))
                        .collect::<Option<_>>()
                        .ok_or_else(|| corrupt("concat_parts", &row.id))?,
                )
            }
            _ => return Err(corrupt("concat", &row.id)),
        };
        let size = |v: i64, what: &str| u64::try_from(v).map_err(|_| corrupt(what, &row.id));
        Ok(ResumableUpload {
            id: UploadId::parse(&row.id).ok_or_else(|| corrupt("id", &row.id))?,
            length: size(row.length, "length")?,
            offset: size(row.upload_offset, "upload_offset")?,
            part_size: size(row.part_size, "part_size")?,
            concat,
            metadata: row.metadata,
            store: row.store,
            multipart_id: row.multipart_id,
            parts: serde_json::from_str::<Vec<Part>>(&row.parts).map_err(|_| corrupt("parts", &row.id))?,
            tail_size: size(row.tail_size, "tail_size")?,
            state: row.state,
            expires_at: row.expires_at,
            image_id: row.image_id,
        })
    }
}

fn int(n: u64) -> SqlValue {
    SqlValue::Int(n as i64)
}

fn text_or_null(value: Option<&str>) -> SqlValue {
    value.map_or(SqlValue::Null, |v| SqlValue::Text(v.to_owned()))
}

fn parts_json(parts: &[Part]) -> SqlValue {
    SqlValue::Text(serde_json::to_string(parts).expect("parts serialize"))
}

/// A PATCH's progress, written under its lease.
pub struct Progress<'a> {
    /// The new offset.
    pub offset: u64,
    /// Every stored part.
    pub parts: &'a [Part],
    /// The tail object now (none: no tail).
    pub tail_key: Option<&'a str>,
    /// Its size.
    pub tail_size: u64,
    /// The new expiry.
    pub expires_at: i64,
}

impl Uploads {
    /// Wraps the binding.
    pub fn new(db: Db) -> Uploads {
        Uploads { db }
    }

    /// Records a new upload.
    pub async fn insert(&self, upload: &ResumableUpload, created_at: i64) -> Result<(), StoreError> {
        let (concat, concat_parts) = match &upload.concat {
            Concat::Whole => ("whole", None),
            Concat::Partial => ("partial", None),
            Concat::Final(ids) => ("final", Some(serde_json::to_string(ids).expect("ids serialize"))),
        };
        self.db
            .insert(
                "INSERT INTO resumable_uploads (id, image_id, length, upload_offset, part_size, concat, concat_parts, \
                 metadata, store, multipart_id, parts, tail_size, state, expires_at, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                &[
                    SqlValue::Text(upload.id.to_string()),
                    SqlValue::Text(upload.image_id.clone()),
                    int(upload.length),
                    int(upload.offset),
                    int(upload.part_size),
                    SqlValue::Text(concat.into()),
                    text_or_null(concat_parts.as_deref()),
                    text_or_null(upload.metadata.as_deref()),
                    SqlValue::Text(upload.store.clone()),
                    text_or_null(upload.multipart_id.as_deref()),
                    parts_json(&upload.parts),
                    int(upload.tail_size),
                    SqlValue::Text(upload.state.as_str().into()),
                    SqlValue::Int(upload.expires_at),
                    SqlValue::Int(created_at),
                ],
            )
            .await
            .map(|_| ())
    }

    /// Upload `id`, if recorded.
    pub async fn get(&self, id: &UploadId) -> Result<Option<ResumableUpload>, StoreError> {
        let rows: Vec<UploadRow> =
            self.db.rows("SELECT * FROM resumable_uploads WHERE id = ?", &[SqlValue::Text(id.to_string())]).await?;
        rows.into_iter().next().map(ResumableUpload::try_from).transpose()
    }

    /// Takes the lease of upload `id` for a PATCH at `offset`: only while
    /// it is receiving at that offset and no live lease is held.
    pub async fn claim(
        &self,
        id: &UploadId,
        offset: u64,
        token: &str,
        until: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let changed = self
            .db
            .changes(
                "UPDATE resumable_uploads SET lease = ?, lease_until = ? WHERE id = ? AND upload_offset = ? \
                 AND state = 'receiving' AND (lease IS NULL OR lease_until < ?)",
                &[
                    SqlValue::Text(token.into()),
                    SqlValue::Int(until),
                    SqlValue::Text(id.to_string()),
                    int(offset),
                    SqlValue::Int(now),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Keeps the lease while bytes arrive.
    pub async fn renew(&self, id: &UploadId, token: &str, until: i64) -> Result<(), StoreError> {
        self.db
            .changes(
                "UPDATE resumable_uploads SET lease_until = ? WHERE id = ? AND lease = ?",
                &[SqlValue::Int(until), SqlValue::Text(id.to_string()), SqlValue::Text(token.into())],
            )
            .await
            .map(|_| ())
    }

    /// Gives the lease back without progress.
    pub async fn release(&self, id: &UploadId, token: &str) -> Result<(), StoreError> {
        self.db
            .changes(
                "UPDATE resumable_uploads SET lease = NULL, lease_until = NULL WHERE id = ? AND lease = ?",
                &[SqlValue::Text(id.to_string()), SqlValue::Text(token.into())],
            )
            .await
            .map(|_| ())
    }

    /// Writes a PATCH's progress and gives the lease back, only if the
    /// lease is still `token`'s. False: it was lost (nothing written).
    pub async fn advance(&self, id: &UploadId, token: &str, progress: Progress<'_>) -> Result<bool, StoreError> {
        let changed = self
            .db
            .changes(
                "UPDATE resumable_uploads SET upload_offset = ?, parts = ?, tail_key = ?, tail_size = ?, \
                 expires_at = ?, lease = NULL, lease_until = NULL WHERE id = ? AND lease = ?",
                &[
                    int(progress.offset),
                    parts_json(progress.parts),
                    text_or_null(progress.tail_key),
                    int(progress.tail_size),
                    SqlValue::Int(progress.expires_at),
                    SqlValue::Text(id.to_string()),
                    SqlValue::Text(token.into()),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Moves upload `id` from `from` to `to` (its multipart upload is done
    /// with: completed or aborted). False when it was not in `from`.
    pub async fn settle(&self, id: &UploadId, from: UploadState, to: UploadState) -> Result<bool, StoreError> {
        let changed = self
            .db
            .changes(
                "UPDATE resumable_uploads SET state = ?, multipart_id = NULL, tail_key = NULL, tail_size = 0 \
                 WHERE id = ? AND state = ?",
                &[
                    SqlValue::Text(to.as_str().into()),
                    SqlValue::Text(id.to_string()),
                    SqlValue::Text(from.as_str().into()),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    /// Removes upload `id`'s record.
    pub async fn delete(&self, id: &UploadId) -> Result<bool, StoreError> {
        Ok(self.db.changes("DELETE FROM resumable_uploads WHERE id = ?", &[SqlValue::Text(id.to_string())]).await? == 1)
    }

    /// The uploads staged as image `image_id`'s data (one, unless
    /// something went wrong), newest first.
    pub async fn staged_for(&self, image_id: &str) -> Result<Vec<ResumableUpload>, StoreError> {
        let rows: Vec<UploadRow> = self
            .db
            .rows(
                "SELECT * FROM resumable_uploads WHERE image_id = ? AND state = 'staged' ORDER BY created_at DESC",
                &[SqlValue::Text(image_id.into())],
            )
            .await?;
        rows.into_iter().map(ResumableUpload::try_from).collect()
    }

    /// Uploads to clear away (at most `limit`): unfinished ones that
    /// expired before `now`, those of an image that is gone or deleted, and
    /// staged ones whose image moved on (imported, or put back) without
    /// removing them. Staged data never expires while its image waits.
    pub async fn finished_with(&self, now: i64, limit: u32) -> Result<Vec<ResumableUpload>, StoreError> {
        let rows: Vec<UploadRow> = self
            .db
            .rows(
                "SELECT u.* FROM resumable_uploads u LEFT JOIN images i ON i.id = u.image_id \
                 WHERE (u.state != 'staged' AND u.expires_at < ?) OR i.id IS NULL OR i.deleted = 1 \
                 OR (u.state = 'staged' AND i.status NOT IN ('uploading', 'importing')) LIMIT ?",
                &[SqlValue::Int(now), SqlValue::Int(i64::from(limit))],
            )
            .await?;
        rows.into_iter().map(ResumableUpload::try_from).collect()
    }
}
