//! Quota enforcement, where Glance enforces it: the project's limits (the
//! configured `IMAGE_QUOTAS`, the same for every project, or the project's
//! own from Keystone's unified limits) against what it uses, counted in D1
//! at the moment of the check. A refusal is 413 with Glance's words
//! (`domain::quota::OverLimit`).
//!
//! Races: the image count is checked inside the insert itself; the
//! uploading count is checked *after* the image's move into saving,
//! uploading or importing is written, counting that image too, and the
//! move is undone on a refusal (as Glance does), so racing uploads never
//! leave a project above its limit. The size limits are soft, as Glance's:
//! checked before the bytes arrive against what is stored, so one upload
//! may cross the limit and the next is refused.

use serde_json::Value;

use super::app::App;
use super::respond::now_seconds;
use crate::domain::access::auth::AuthMode;
use crate::domain::image::Image;
use crate::domain::quota::{self, Excess, LimitSource, Limits, OverLimit, Resource};
use crate::domain::Misconfigured;
use crate::store::keystone::{AuthFailure, Keystone};
pub use crate::store::quotas::QuotaError;

/// `project`'s limits, if quotas are on.
async fn limits(app: &App, project: &str) -> Result<Option<Limits>, QuotaError> {
    match app.config.quotas.as_ref().map_err(Clone::clone)? {
        LimitSource::Off => Ok(None),
        LimitSource::Configured(limits) => Ok(Some(limits.clone())),
        LimitSource::Keystone(registry) => {
            let Ok(AuthMode::Keystone(settings)) = &app.config.auth else {
                return Err(Misconfigured("Keystone limits without AUTH_MODE keystone".into()).into());
            };
            let keystone = Keystone::new(settings, &app.base_url);
            match keystone.project_limits(project, registry, now_seconds()).await {
                Ok(limits) => Ok(Some(limits)),
                Err(AuthFailure::Unavailable(reason)) => Err(QuotaError::LimitsUnavailable(reason)),
                Err(AuthFailure::Rejected) => {
                    Err(QuotaError::LimitsUnavailable("Keystone refused the catalog's service token".into()))
                }
            }
        }
    }
}

/// Refuses (413) a request that would take `project` over a limit:
/// each `(resource, delta)` is what the request adds.
pub async fn enforce_for(app: &App, project: Option<&str>, deltas: &[(Resource, u64)]) -> Result<(), QuotaError> {
    // A caller with no project creates nothing (the policy table answers
    // it first); nothing of its own to count.
    let Some(project) = project else { return Ok(()) };
    let Some(limits) = limits(app, project).await? else { return Ok(()) };
    let usage = app.quotas.usage(project).await?;
    Ok(quota::enforce(project, &limits, &usage, deltas)?)
}

/// [`enforce_for`] the caller's project.
pub async fn enforce(app: &App, deltas: &[(Resource, u64)]) -> Result<(), QuotaError> {
    enforce_for(app, app.caller.project_id.as_deref(), deltas).await
}

/// Inserts a new image unless the caller's project has its image count
/// limit already (checked in the insert itself: racing creates never pass
/// it).
pub async fn insert_image(app: &App, image: &Image) -> Result<(), QuotaError> {
    let Some(project) = app.caller.project_id.as_deref() else {
        return Ok(app.images.insert(image).await?);
    };
    let Some(limits) = limits(app, project).await? else {
        return Ok(app.images.insert(image).await?);
    };
    let resource = Resource::ImageCountTotal;
    let limit = limits.get(resource);
    let max = limits.allowed(resource).map_or(i64::MAX, |max| max as i64);
    if app.images.insert_within_count(image, project, max).await? {
        return Ok(());
    }
    let usage = app.quotas.usage(project).await?;
    let excess = Excess { resource, limit, usage: usage.count_total, delta: 1 };
    Err(OverLimit { project: project.to_owned(), excesses: vec![excess] }.into())
}

/// `GET /v2/info/usage`'s document for the caller's project.
pub async fn usage_document(app: &App) -> Result<Value, QuotaError> {
    let Some(project) = app.caller.project_id.as_deref() else {
        return Ok(quota::usage_document(None, &Default::default()));
    };
    let limits = limits(app, project).await?;
    let usage = match &limits {
        Some(_) => app.quotas.usage(project).await?,
        None => Default::default(),
    };
    Ok(quota::usage_document(limits.as_ref(), &usage))
}
