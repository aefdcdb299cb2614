//! Operations on image records that v1 and v2 share: one page of a list,
//! a metadata update, a delete. Updates and deletes are compare-and-set on
//! the row's revision: a request whose record changed under it re-reads
//! the fresh record and applies its change again, so every acknowledged
//! write survives concurrent writers; after [`WRITE_ATTEMPTS`] lost races
//! it answers 409 rather than overwrite.

use super::app::App;
use super::respond::now;
use crate::domain::access::policy::Action;
use crate::domain::image::status::{ImageEvent, ImageStatus};
use crate::domain::image::{Image, ImageId};
use crate::domain::listing::ListQuery;
use crate::error::ApiError;
use crate::store::blobs::object_key;

/// How many times a write is re-applied to a fresh record before 409. Each
/// round lets at least one of the racing writers through, so this many
/// concurrent writers on one image all succeed.
pub const WRITE_ATTEMPTS: usize = 32;

/// One page of a list query, as the caller may see it.
pub async fn page(app: &App, query: &ListQuery) -> Result<Vec<Image>, ApiError> {
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
/// from the fresh record. Returns the record as written.
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
            return Ok(updated);
        }
    }
    Err(busy(raw_id))
}

/// Deletes an image (refused while protected) and then its data.
pub async fn remove_image(app: &App, raw_id: &str) -> Result<(), ApiError> {
    for _ in 0..WRITE_ATTEMPTS {
        let image = app.image_for(raw_id, Action::Delete).await?;
        if image.protected {
            return Err(ApiError::forbidden(format!("Image {raw_id} is protected and cannot be deleted.")));
        }
        let transition = image.status.transition(ImageEvent::Delete)?;
        if app.images.delete(&image, transition, &now()).await? {
            remove_data(app, &image.id).await;
            return Ok(());
        }
    }
    Err(busy(raw_id))
}

/// Deletes an image's object; failures are logged (the row is already gone).
pub async fn remove_data(app: &App, id: &ImageId) {
    if let Err(e) = app.blobs.delete(&object_key(id.as_str())).await {
        worker::console_error!("could not delete data of image {id}: {e}");
    }
}

fn busy(raw_id: &str) -> ApiError {
    ApiError::conflict(format!(
        "Image {raw_id} is being changed by too many other requests at once; retry the request."
    ))
}
