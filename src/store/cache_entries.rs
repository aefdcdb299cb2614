//! The image cache's records in D1 (`image_cache`, migration 0007): which
//! images this catalog put into the edge cache, and which wait on the queue
//! to be put there. The bytes themselves are `store::cache`'s business;
//! this module never touches the Cache API.

use std::rc::Rc;

use serde::Deserialize;

use super::d1::Db;
use super::StoreError;
use crate::domain::image::status::ImageStatus;
use crate::domain::listing::SqlValue;

/// Where an image stands in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheState {
    /// Waiting for the Queue consumer to fill the edge cache.
    Queued,
    /// Put into the edge cache (by a download or by pre-caching).
    Cached,
}

impl CacheState {
    /// Every state.
    pub const ALL: [CacheState; 2] = [CacheState::Queued, CacheState::Cached];

    /// The stored name: the only place the words are written; the SQL binds
    /// them as parameters.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheState::Queued => "queued",
            CacheState::Cached => "cached",
        }
    }

    /// The state stored as `raw`.
    fn parse(raw: &str) -> Option<CacheState> {
        CacheState::ALL.into_iter().find(|state| state.as_str() == raw)
    }
}

/// One image's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// The image.
    pub image_id: String,
    /// Queued or cached.
    pub state: CacheState,
    /// The edge cache key of its bytes.
    pub cache_key: String,
    /// Bytes cached (0 while queued).
    pub size: i64,
    /// Downloads served from the edge cache since it was recorded.
    pub hits: i64,
    /// Last download served from the cache (Unix seconds).
    pub last_accessed: i64,
    /// When it was filled (or queued), Unix seconds.
    pub last_modified: i64,
}

#[derive(Deserialize)]
struct EntryRow {
    image_id: String,
    state: String,
    cache_key: String,
    size: i64,
    hits: i64,
    last_accessed: i64,
    last_modified: i64,
}

impl TryFrom<EntryRow> for CacheEntry {
    type Error = StoreError;
    fn try_from(row: EntryRow) -> Result<CacheEntry, StoreError> {
        let state = CacheState::parse(&row.state)
            .ok_or_else(|| StoreError::Corrupt(format!("cache state of image {}", row.image_id)))?;
        Ok(CacheEntry {
            image_id: row.image_id,
            state,
            cache_key: row.cache_key,
            size: row.size,
            hits: row.hits,
            last_accessed: row.last_accessed,
            last_modified: row.last_modified,
        })
    }
}

/// Records a fill (state `?6`, cached), but only while the image is still
/// in status `?7` (active) with this checksum: a fill that finishes after
/// the image was deleted, deactivated or purged records nothing (and its
/// caller removes the key it wrote).
const RECORD_FILL: &str =
    "INSERT INTO image_cache (image_id, state, cache_key, size, hits, last_accessed, last_modified)
     SELECT id, ?6, ?2, ?3, 0, ?4, ?4 FROM images
      WHERE id = ?1 AND deleted = 0 AND status = ?7 AND checksum = ?5
     ON CONFLICT (image_id) DO UPDATE SET
        state = excluded.state, cache_key = excluded.cache_key, size = excluded.size,
        last_modified = excluded.last_modified";

/// The image cache's rows. Cheap to clone (one shared binding), so a
/// background task can take its own handle.
#[derive(Clone)]
pub struct CacheEntries {
    db: Rc<Db>,
}

impl CacheEntries {
    /// Wraps the D1 binding.
    pub fn new(db: Db) -> CacheEntries {
        CacheEntries { db: Rc::new(db) }
    }

    async fn rows(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<CacheEntry>, StoreError> {
        self.db.rows::<EntryRow>(sql, params).await?.into_iter().map(CacheEntry::try_from).collect()
    }

    /// Every row, oldest first.
    pub async fn list(&self) -> Result<Vec<CacheEntry>, StoreError> {
        self.rows("SELECT * FROM image_cache ORDER BY last_modified, image_id", &[]).await
    }

    /// One image's row.
    pub async fn get(&self, image_id: &str) -> Result<Option<CacheEntry>, StoreError> {
        let rows = self.rows("SELECT * FROM image_cache WHERE image_id = ?", &[text(image_id)]).await?;
        Ok(rows.into_iter().next())
    }

    /// Queues an image for pre-caching under `cache_key`; `false` when it
    /// is already queued or cached (nothing to do, as Glance).
    pub async fn queue(&self, image_id: &str, cache_key: &str, now: i64) -> Result<bool, StoreError> {
        let sql = "INSERT INTO image_cache (image_id, state, cache_key, size, hits, last_accessed, last_modified)
                   VALUES (?, ?, ?, 0, 0, ?, ?) ON CONFLICT (image_id) DO NOTHING";
        let params = [
            text(image_id),
            text(CacheState::Queued.as_str()),
            text(cache_key),
            SqlValue::Int(now),
            SqlValue::Int(now),
        ];
        Ok(self.db.changes(sql, &params).await? == 1)
    }

    /// Records that `cache_key` now holds the `size` bytes of the image
    /// with `checksum`; `false` when the image is no longer active with
    /// that checksum (nothing recorded).
    pub async fn record_fill(
        &self,
        image_id: &str,
        checksum: &str,
        cache_key: &str,
        size: u64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let params = [
            text(image_id),
            text(cache_key),
            SqlValue::Int(size as i64),
            SqlValue::Int(now),
            text(checksum),
            text(CacheState::Cached.as_str()),
            text(ImageStatus::Active.as_str()),
        ];
        Ok(self.db.changes(RECORD_FILL, &params).await? >= 1)
    }

    /// Counts a download served from the edge cache (a row that was never
    /// recorded stays unrecorded: the list shows what this catalog filled).
    pub async fn record_hit(&self, image_id: &str, now: i64) -> Result<(), StoreError> {
        let sql = "UPDATE image_cache SET hits = hits + 1, last_accessed = ? WHERE image_id = ? AND state = ?";
        let params = [SqlValue::Int(now), text(image_id), text(CacheState::Cached.as_str())];
        self.db.changes(sql, &params).await.map(|_| ())
    }

    /// Removes an image's row, returning what was removed.
    pub async fn remove(&self, image_id: &str) -> Result<Vec<CacheEntry>, StoreError> {
        self.rows("DELETE FROM image_cache WHERE image_id = ? RETURNING *", &[text(image_id)]).await
    }

    /// Removes an image's row if it is still queued; `false` otherwise.
    pub async fn dequeue(&self, image_id: &str) -> Result<bool, StoreError> {
        let sql = "DELETE FROM image_cache WHERE image_id = ? AND state = ?";
        Ok(self.db.changes(sql, &[text(image_id), text(CacheState::Queued.as_str())]).await? == 1)
    }

    /// Removes every row in `state` (`None`: every row), returning them.
    pub async fn clear(&self, state: Option<CacheState>) -> Result<Vec<CacheEntry>, StoreError> {
        match state {
            Some(state) => {
                self.rows("DELETE FROM image_cache WHERE state = ? RETURNING *", &[text(state.as_str())]).await
            }
            None => self.rows("DELETE FROM image_cache RETURNING *", &[]).await,
        }
    }
}

fn text(value: &str) -> SqlValue {
    SqlValue::Text(value.to_owned())
}
