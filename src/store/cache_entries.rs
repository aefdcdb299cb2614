//! The image cache's records in D1 (`image_cache`, migrations 0007 and
//! 0009): per data centre, which images this catalog put into that data
//! centre's edge cache, and which wait to be put there. The bytes
//! themselves are `store::cache`'s business; this module never touches the
//! Cache API.

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

/// The name of a data centre, as the cache records know it: where a
/// request was served (Cloudflare's `request.cf.colo`, or the catalog's
/// `DATA_CENTRE` setting). The Cache API holds a copy only in the data
/// centre that put it there, so each one has its own records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataCentre(String);

impl DataCentre {
    /// The data centre named `name`.
    pub fn named(name: impl Into<String>) -> DataCentre {
        DataCentre(name.into())
    }

    /// Work done outside any request (the queue consumer, the cron): no
    /// data centre of its own (the name '', which no request has).
    pub fn background() -> DataCentre {
        DataCentre(String::new())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
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

/// Records a fill in data centre `?8` (state `?6`, cached), but only while
/// the image is still in status `?7` (active) with this checksum: a fill
/// that finishes after the image was deleted, deactivated or purged records
/// nothing (and its caller removes the key it wrote).
const RECORD_FILL: &str =
    "INSERT INTO image_cache (data_centre, image_id, state, cache_key, size, hits, last_accessed, last_modified)
     SELECT ?8, id, ?6, ?2, ?3, 0, ?4, ?4 FROM images
      WHERE id = ?1 AND deleted = 0 AND status = ?7 AND checksum = ?5
     ON CONFLICT (data_centre, image_id) DO UPDATE SET
        state = excluded.state, cache_key = excluded.cache_key, size = excluded.size,
        last_modified = excluded.last_modified";

/// The image cache's rows of one data centre (`here`). Cheap to clone (one
/// shared binding), so a background task can take its own handle.
#[derive(Clone)]
pub struct CacheEntries {
    db: Rc<Db>,
    here: Rc<DataCentre>,
}

impl CacheEntries {
    /// The records of data centre `here`, on the D1 binding.
    pub fn new(db: Db, here: DataCentre) -> CacheEntries {
        CacheEntries { db: Rc::new(db), here: Rc::new(here) }
    }

    fn here(&self) -> SqlValue {
        text(self.here.as_str())
    }

    async fn rows(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<CacheEntry>, StoreError> {
        self.db.rows::<EntryRow>(sql, params).await?.into_iter().map(CacheEntry::try_from).collect()
    }

    /// Every row of this data centre, oldest first.
    pub async fn list(&self) -> Result<Vec<CacheEntry>, StoreError> {
        let sql = "SELECT * FROM image_cache WHERE data_centre = ? ORDER BY last_modified, image_id";
        self.rows(sql, &[self.here()]).await
    }

    /// One image's row in this data centre.
    pub async fn get(&self, image_id: &str) -> Result<Option<CacheEntry>, StoreError> {
        let sql = "SELECT * FROM image_cache WHERE data_centre = ? AND image_id = ?";
        let rows = self.rows(sql, &[self.here(), text(image_id)]).await?;
        Ok(rows.into_iter().next())
    }

    /// Queues an image for pre-caching under `cache_key`; `false` when it
    /// is already queued or cached (nothing to do, as Glance).
    pub async fn queue(&self, image_id: &str, cache_key: &str, now: i64) -> Result<bool, StoreError> {
        let sql = "INSERT INTO image_cache
                     (data_centre, image_id, state, cache_key, size, hits, last_accessed, last_modified)
                   VALUES (?, ?, ?, ?, 0, 0, ?, ?) ON CONFLICT (data_centre, image_id) DO NOTHING";
        let params = [
            self.here(),
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
            self.here(),
        ];
        Ok(self.db.changes(RECORD_FILL, &params).await? >= 1)
    }

    /// Counts a download served from the edge cache (a row that was never
    /// recorded stays unrecorded: the list shows what this catalog filled).
    pub async fn record_hit(&self, image_id: &str, now: i64) -> Result<(), StoreError> {
        let sql = "UPDATE image_cache SET hits = hits + 1, last_accessed = ?
                   WHERE data_centre = ? AND image_id = ? AND state = ?";
        let params = [SqlValue::Int(now), self.here(), text(image_id), text(CacheState::Cached.as_str())];
        self.db.changes(sql, &params).await.map(|_| ())
    }

    /// Removes an image's row in this data centre, returning what was
    /// removed.
    pub async fn remove(&self, image_id: &str) -> Result<Vec<CacheEntry>, StoreError> {
        let sql = "DELETE FROM image_cache WHERE data_centre = ? AND image_id = ? RETURNING *";
        self.rows(sql, &[self.here(), text(image_id)]).await
    }

    /// Removes an image's rows in every data centre (its data changed
    /// hands: deleted, deactivated, another audience), returning them.
    pub async fn remove_everywhere(&self, image_id: &str) -> Result<Vec<CacheEntry>, StoreError> {
        self.rows("DELETE FROM image_cache WHERE image_id = ? RETURNING *", &[text(image_id)]).await
    }

    /// Removes an image's row in this data centre if it is still queued;
    /// `false` otherwise.
    pub async fn dequeue(&self, image_id: &str) -> Result<bool, StoreError> {
        let sql = "DELETE FROM image_cache WHERE data_centre = ? AND image_id = ? AND state = ?";
        let params = [self.here(), text(image_id), text(CacheState::Queued.as_str())];
        Ok(self.db.changes(sql, &params).await? == 1)
    }

    /// Removes every row of this data centre in `state` (`None`: every
    /// row), returning them.
    pub async fn clear(&self, state: Option<CacheState>) -> Result<Vec<CacheEntry>, StoreError> {
        match state {
            Some(state) => {
                let sql = "DELETE FROM image_cache WHERE data_centre = ? AND state = ? RETURNING *";
                self.rows(sql, &[self.here(), text(state.as_str())]).await
            }
            None => self.rows("DELETE FROM image_cache WHERE data_centre = ? RETURNING *", &[self.here()]).await,
        }
    }

    /// Removes the rows of every data centre queued before `before` (Unix
    /// seconds): fills that never finished (their isolate went away), so
    /// that nothing looks queued forever. Returns how many.
    pub async fn drop_stale_queued(&self, before: i64) -> Result<usize, StoreError> {
        let sql = "DELETE FROM image_cache WHERE state = ? AND last_modified < ?";
        self.db.changes(sql, &[text(CacheState::Queued.as_str()), SqlValue::Int(before)]).await
    }
}

fn text(value: &str) -> SqlValue {
    SqlValue::Text(value.to_owned())
}
