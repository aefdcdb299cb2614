//! The one way an image record is changed after it was created: read the
//! record, apply the change (and, when it names one, the status event the
//! status machine turns into a [`Transition`]), write it whole as a
//! compare-and-set on the record's revision; on a lost race, start again
//! from the fresh record. So every acknowledged write survives concurrent
//! writers, and after [`WRITE_ATTEMPTS`] lost races the writer gets
//! [`Contended`] (409 for a request, a retry for a queue job) rather than
//! overwrite anything.

use super::app::App;
use super::respond::now;
use crate::domain::image::status::{Contended, ImageEvent, InvalidTransition};
use crate::domain::image::{Image, ImageId};
use crate::store::StoreError;

/// How many times a write is re-applied to a fresh record before giving
/// up. Each round lets at least one of the racing writers through, so this
/// many concurrent writers on one image all succeed.
pub const WRITE_ATTEMPTS: usize = 32;

/// Applies `change` to image `id`'s record and writes it: the record
/// `held` (one the caller just read or wrote) is tried first, then fresh
/// ones from `read`. `change` edits the record and returns the status event
/// to apply with it, if any ([`Image::enter`] then applies the rules of the
/// new status). Returns the record as written, or `None` when `read` finds
/// no image.
pub async fn write_image<E>(
    app: &App,
    id: &ImageId,
    mut held: Option<Image>,
    mut read: impl AsyncFnMut() -> Result<Option<Image>, E>,
    mut change: impl FnMut(&mut Image) -> Result<Option<ImageEvent>, E>,
) -> Result<Option<Image>, E>
where
    E: From<StoreError> + From<InvalidTransition> + From<Contended>,
{
    for _ in 0..WRITE_ATTEMPTS {
        let current = match held.take() {
            Some(image) => image,
            None => match read().await? {
                Some(image) => image,
                None => return Ok(None),
            },
        };
        let mut next = current.clone();
        let transition = change(&mut next)?.map(|event| current.status.transition(event)).transpose()?;
        if let Some(transition) = transition {
            next.enter(transition);
        }
        next.updated_at = now();
        if app.images.write(&next, transition).await? {
            next.version += 1;
            return Ok(Some(next));
        }
    }
    Err(Contended(id.to_string()).into())
}

/// [`write_image`] reading the record as stored (no caller to check: the
/// queue jobs, the upkeep).
pub async fn update_image<E>(
    app: &App,
    id: &ImageId,
    held: Option<Image>,
    change: impl FnMut(&mut Image) -> Result<Option<ImageEvent>, E>,
) -> Result<Option<Image>, E>
where
    E: From<StoreError> + From<InvalidTransition> + From<Contended>,
{
    write_image(app, id, held, async || Ok(app.images.get(id).await?), change).await
}
