//! Operations on image records that v1 and v2 share: one page of a list,
//! a metadata update, a delete. Updates and deletes are compare-and-set on
//! the row's revision: a request whose record changed under it re-reads
//! the fresh record and applies its change again, so every acknowledged
//! write survives concurrent writers; after [`WRITE_ATTEMPTS`] lost races
//! it answers 409 rather than overwrite.

use super::app::App;
use super::image_cache::purge;
use super::respond::now;
use crate::domain::access::policy::{self, Action};
use crate::domain::image::status::{ImageEvent, ImageStatus};
use crate::domain::image::Image;
use crate::domain::listing::ListQuery;
use crate::domain::stores::StoreKind;
use crate::error::ApiError;
use crate::store::blobs::staging_key;

/// How many times a write is re-applied to a fresh record before 409. Each
/// round lets at least one of the racing writers through, so this many
/// concurrent writers on one image all succeed.
pub const WRITE_ATTEMPTS: usize = 32;

/// One page of a list query, as the caller may see it.
pub async fn page(app: &App, query: &ListQuery) -> Result<Vec<Image>, ApiError> {
    if !policy::may_list_images(app.caller.caller()) {
        return Err(ApiError::forbidden("You are not permitted to list images."));
    }
    let marker = match &query.marker {
        None => None,
        Some(id) => {
            let not_found = || ApiError::bad_request(format!("No image found with ID {id}"));
            let visible = app.visible_image(id.as_str()).await.map_err(|_| not_found())?;
            app.authorize(Action::Show, &visible).map_err(|_| not_found())?;
            if visible.image.status == ImageStatus::Killed {
                return Err(not_found());
            }
            Some(visible.image)
        }
    };
    let (sql, params) = query.to_sql(&app.caller.viewer(), marker.as_ref());
    Ok(app.images.list(&sql, &params).await?)
}

/// Applies `change` to the image's current record and writes the result,
/// provided nothing else wrote the image meanwhile; otherwise starts again
/// from the fresh record. Returns the record as written. A change of
/// visibility purges the image's edge cache entry.
pub async fn update_image(
    app: &App,
    raw_id: &str,
    change: impl Fn(&Image) -> Result<Image, ApiError>,
) -> Result<Image, ApiError> {
    for _ in 0..WRITE_ATTEMPTS {
        let current = app.image_for(raw_id, Action::Update).await?;
        let mut updated = change(&current)?;
        updated.updated_at = now();
        if app.images.update_metadata(&updated).await? {
            updated.version += 1;
            if updated.visibility != current.visibility {
                // See `image_cache`: not needed for safety, a fresh record.
                purge(app, &updated).await;
            }
            return Ok(updated);
        }
    }
    Err(busy(raw_id))
}

/// Deletes an image (refused while protected), purges its edge cache
/// entry, and then deletes its data. With
/// delayed delete on, an active image with data becomes `pending_delete`
/// and keeps its data until the scrubber (cron) removes it.
pub async fn remove_image(app: &App, raw_id: &str) -> Result<(), ApiError> {
    for _ in 0..WRITE_ATTEMPTS {
        let image = app.image_for(raw_id, Action::Delete).await?;
        if image.protected {
            return Err(ApiError::forbidden(format!("Image {raw_id} is protected and cannot be deleted.")));
        }
        let delayed = app.config.delayed_delete && !image.locations.is_empty();
        let transition = match image.status.transition(ImageEvent::DelayedDelete) {
            Ok(pending) if delayed => pending,
            _ => image.status.transition(ImageEvent::Delete)?,
        };
        if app.images.delete(&image, transition, &now()).await? {
            purge(app, &image).await;
            if transition.to() == ImageStatus::Deleted {
                remove_data(app, &image).await;
            }
            return Ok(());
        }
    }
    Err(busy(raw_id))
}

/// Deletes an image's objects in every R2 store holding it, and any staged
/// data; failures are logged (the row is already gone, and the cron's
/// upkeep cannot find an object without its row, so they are errors).
pub async fn remove_data(app: &App, image: &Image) {
    for location in &image.locations {
        let Some(store) = location.store().and_then(|id| app.stores().get(id)) else { continue };
        if !matches!(store.kind, StoreKind::R2 { .. }) {
            continue;
        }
        let key = location.r2_key(&store.id);
        match app.bucket(&store.id) {
            Ok(bucket) => {
                if let Err(e) = bucket.delete(key).await {
                    worker::console_error!("could not delete data of image {} in {}: {e}", image.id, store.id);
                }
            }
            Err(e) => worker::console_error!("image {}: {}", image.id, e.message),
        }
    }
    if let Err(e) = app.default_bucket().delete(&staging_key(image.id.as_str())).await {
        worker::console_error!("could not delete staged data of image {}: {e}", image.id);
    }
}

fn busy(raw_id: &str) -> ApiError {
    ApiError::conflict(format!(
        "Image {raw_id} is being changed by too many other requests at once; retry the request."
    ))
}
