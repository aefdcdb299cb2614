//! The staging area of glance-direct: where an `uploading` image's staged
//! data is, opened by the import and removed once done with. Staged data
//! is either the staging object a `PUT /stage` wrote, or the objects a
//! resumable upload left in place (its own, or a final concatenation's
//! partial uploads, read one after the other): a big upload is never
//! copied just to be staged; the import's one pass through the upload
//! engine hashes and inspects it.

use super::app::App;
use super::upload::resumable::remove_objects;
use super::upload::Incoming;
use crate::domain::image::{Image, ImageId};
use crate::domain::resumable::{data_key, Concat, ResumableUpload};
use crate::store::blobs::staging_key;
use crate::store::StoreError;

/// The objects holding a staged resumable upload's bytes, in order.
pub fn objects_of(upload: &ResumableUpload) -> Vec<String> {
    match &upload.concat {
        Concat::Final(ids) => ids.iter().map(data_key).collect(),
        Concat::Whole | Concat::Partial => vec![data_key(&upload.id)],
    }
}

/// `image`'s staged data as a stream of known length, if there is any.
pub async fn open(app: &App, image: &Image) -> Result<Option<Incoming>, StoreError> {
    if let Some(upload) = app.uploads.staged_for(image.id.as_str()).await?.into_iter().next() {
        let bucket = app.bucket(&upload.store).map_err(|e| StoreError::Backend(e.to_string()))?;
        let keys = objects_of(&upload);
        let body = match keys.as_slice() {
            _ if upload.length == 0 => None,
            [one] => match bucket.get_stream(one, None).await? {
                Some(stream) => Some(stream),
                None => return Ok(None),
            },
            many => Some(bucket.concatenated(many)),
        };
        return Ok(Some(Incoming { body, declared: Some(upload.length) }));
    }
    let stream = app.default_bucket().get_stream(&staging_key(&image.id), None).await?;
    Ok(stream.map(|body| Incoming { body: Some(body), declared: image.size }))
}

/// Removes image `id`'s staged data, wherever it is; failures are logged
/// (the cron removes staged uploads whose image moved on).
pub async fn remove(app: &App, id: &ImageId) {
    if let Err(e) = app.default_bucket().delete(&staging_key(id)).await {
        worker::console_error!("could not remove the staged data of {id}: {e}");
    }
    match app.uploads.staged_for(id.as_str()).await {
        Ok(uploads) => {
            for upload in uploads {
                if let Ok(bucket) = app.bucket(&upload.store) {
                    remove_objects(bucket, &upload).await;
                }
                if let Err(e) = app.uploads.delete(&upload.id).await {
                    worker::console_error!("could not forget staged upload {}: {e}", upload.id);
                }
            }
        }
        Err(e) => worker::console_error!("could not find the staged uploads of {id}: {e}"),
    }
}
