//! What a project uses of each quota, counted in D1 from its images in one
//! query (`statements::QUOTA_USAGE`), and the images a project may still
//! create (a conditional insert in `Images`, so racing creates never pass
//! the count limit).

use serde::Deserialize;

use super::d1::Db;
use super::statements::QUOTA_USAGE;
use super::StoreError;
use crate::domain::image::status::ImageStatus;
use crate::domain::listing::SqlValue;
use crate::domain::quota::{mib, OverLimit, Usage};
use crate::domain::Misconfigured;

/// Why a quota check did not pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    /// The request would take the project over a limit (413).
    #[error(transparent)]
    Over(#[from] OverLimit),
    /// The usage or the limits could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The limits are misconfigured.
    #[error(transparent)]
    Misconfigured(#[from] Misconfigured),
    /// Keystone's unified limits could not be read (503: ours, retryable).
    #[error("Keystone's unified limits could not be read: {0}")]
    LimitsUnavailable(String),
}

/// Quota usage in D1.
pub struct Quotas {
    db: Db,
}

/// D1 hands numbers over as JavaScript numbers (exact up to 2^53).
#[derive(Deserialize)]
struct UsageRow {
    size_total: f64,
    stage_total: f64,
    count_total: f64,
    count_uploading: f64,
}

impl Quotas {
    /// Wraps the D1 binding.
    pub fn new(db: Db) -> Quotas {
        Quotas { db }
    }

    /// What `project` uses now.
    pub async fn usage(&self, project: &str) -> Result<Usage, StoreError> {
        let word = |s: ImageStatus| SqlValue::Text(s.as_str().into());
        let params = [
            SqlValue::Text(project.into()),
            word(ImageStatus::Killed),
            word(ImageStatus::Uploading),
            word(ImageStatus::Importing),
            word(ImageStatus::Saving),
        ];
        let row = self.db.rows::<UsageRow>(QUOTA_USAGE, &params).await?.into_iter().next();
        let row = row.ok_or_else(|| StoreError::Backend("the usage query returned no row".into()))?;
        Ok(Usage {
            size_total_mib: mib(row.size_total as u64),
            stage_total_mib: mib(row.stage_total as u64),
            count_total: row.count_total as u64,
            count_uploading: row.count_uploading as u64,
        })
    }
}
