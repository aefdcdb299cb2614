//! Stores: `GET /v2/info/stores[/detail]` and
//! `DELETE /v2/stores/{store}/{image}` (API v2.10), which removes the data
//! of an image from one store, never from its last.

use worker::Response;

use crate::api::app::App;
use crate::api::image_write::write_image;
use crate::api::respond::{json_response, no_content};
use crate::domain::access::policy::{self, Action};
use crate::domain::image::status::ImageStatus;
use crate::domain::image::ImageId;
use crate::domain::stores::StoreKind;
use crate::error::ApiError;

/// `GET /v2/info/stores`.
pub fn info(app: &App) -> Result<Response, ApiError> {
    json_response(200, &app.stores().info_json())
}

/// `GET /v2/info/stores/detail` (admins and services).
pub fn detail(app: &App) -> Result<Response, ApiError> {
    if !policy::may_see_store_details(app.caller.caller()) {
        return Err(ApiError::forbidden("Store details are for administrators and services only."));
    }
    json_response(200, &app.stores().detail_json())
}

/// `DELETE /v2/stores/{store}/{image}`.
pub async fn delete_from(app: &App, store_id: &str, id: &ImageId) -> Result<Response, ApiError> {
    let store =
        app.stores().get(store_id).ok_or_else(|| ApiError::conflict(format!("Unknown store {store_id}.")))?.clone();
    let mut removed = None;
    write_image(
        app,
        id,
        None,
        async || app.image_for(id, Action::DeleteLocation).await.map(Some),
        |image| {
            if image.status != ImageStatus::Active {
                return Err(ApiError::conflict(format!(
                    "Image {id} is {}: data can only be deleted from a store of an active image.",
                    image.status
                )));
            }
            // Glance checks this first: an image in one store cannot lose it.
            if image.locations.len() <= 1 {
                return Err(ApiError::forbidden(format!(
                    "Cannot delete image data from the only store containing it ({id}): delete the image instead."
                )));
            }
            let Some(location) = image.location_in(store_id).cloned() else {
                return Err(ApiError::not_found(format!("Image {id} has no data in store {store_id}.")));
            };
            if !matches!(store.kind, StoreKind::R2 { .. }) {
                return Err(ApiError::forbidden(format!(
                    "Store {store_id} is read-only: nothing can be deleted from it."
                )));
            }
            image.locations.retain(|l| l.url != location.url);
            removed = Some(location);
            Ok(None)
        },
    )
    .await?
    .ok_or_else(|| ApiError::image_not_found(id.as_str()))?;
    if let Some(location) = removed {
        let key = location.r2_key(store_id);
        if let Err(e) = app.bucket(store_id)?.delete(key).await {
            worker::console_error!("could not delete {key} from {store_id}: {e}");
        }
    }
    no_content()
}
