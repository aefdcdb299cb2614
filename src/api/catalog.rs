//! Operations on image records that v1 and v2 share: one page of a list,
//! a metadata update, a delete. Updates and deletes go through
//! [`write_image`]: a request whose record changed under it re-reads the
//! fresh record (checking the caller's rights again) and applies its
//! change again, so every acknowledged write survives concurrent writers.

use super::app::App;
use super::image_cache::purge;
use super::image_write::write_image;
use super::staging;
use crate::domain::access::policy::{self, Action};
use crate::domain::image::status::{ImageEvent, ImageStatus};
use crate::domain::image::{Image, ImageId};
use crate::domain::listing::ListQuery;
use crate::domain::stores::StoreKind;
use crate::error::ApiError;

/// One page of a list query, as the caller may see it.
pub async fn page(app: &App, query: &ListQuery) -> Result<Vec<Image>, ApiError> {
    if !policy::may_list_images(app.caller.caller()) {
        return Err(ApiError::forbidden("You are not permitted to list images."));
    }
    let marker = match &query.marker {
        None => None,
        Some(id) => {
            let not_found = || ApiError::bad_request(format!("No image found with ID {id}"));
            let visible = app.visible_image(id).await.map_err(|_| not_found())?;
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
    id: &ImageId,
    change: impl Fn(&Image) -> Result<Image, ApiError>,
) -> Result<Image, ApiError> {
    let mut before = None;
    let written = write_image(
        app,
        id,
        None,
        async || app.image_for(id, Action::Update).await.map(Some),
        |image| {
            before = Some(image.visibility);
            *image = change(image)?;
            Ok(None)
        },
    )
    .await?
    .ok_or_else(|| ApiError::image_not_found(id.as_str()))?;
    if before.is_some_and(|visibility| visibility != written.visibility) {
        // See `image_cache`: not needed for safety, a fresh record.
        purge(app, &written).await;
    }
    Ok(written)
}

/// Deletes an image (refused while protected), purges its edge cache
/// entry, and then deletes its data. With delayed delete on, an active
/// image with data becomes `pending_delete` and keeps its data until the
/// scrubber (cron) removes it.
pub async fn remove_image(app: &App, id: &ImageId) -> Result<(), ApiError> {
    let delayed = app.config.delayed_delete;
    let deleted = write_image(
        app,
        id,
        None,
        async || app.image_for(id, Action::Delete).await.map(Some),
        |image| {
            if image.protected {
                return Err(ApiError::forbidden(format!("Image {id} is protected and cannot be deleted.")));
            }
            let keep_data = delayed && !image.locations.is_empty();
            Ok(Some(match image.status.apply(ImageEvent::DelayedDelete) {
                Ok(_) if keep_data => ImageEvent::DelayedDelete,
                _ => ImageEvent::Delete,
            }))
        },
    )
    .await?
    .ok_or_else(|| ApiError::image_not_found(id.as_str()))?;
    purge(app, &deleted).await;
    if deleted.status == ImageStatus::Deleted {
        remove_data(app, &deleted).await;
    }
    Ok(())
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
            Err(e) => worker::console_error!("image {}: {}", image.id, e),
        }
    }
    staging::remove(app, &image.id).await;
}
