//! [`App`]: what a handler works with (the repositories, the settings, the
//! caller), and the one way a handler gets hold of an image: looked up,
//! checked for visibility and authorized by the policy table for the action
//! the handler is about to take.

use worker::Env;

use super::config::{names, Config};
use crate::context::RequestContext;
use crate::domain::access::policy::{self, Action, Decision};
use crate::domain::image::{Image, ImageId};
use crate::error::ApiError;
use crate::store::blobs::Blobs;
use crate::store::images::Images;
use crate::store::members::Members;

/// Everything a handler needs for one request.
pub struct App {
    /// Image metadata.
    pub images: Images,
    /// Image data.
    pub blobs: Blobs,
    /// Image members.
    pub members: Members,
    /// Settings.
    pub config: Config,
    /// Who is calling.
    pub caller: RequestContext,
    /// `scheme://host[:port]` of this request, for absolute links.
    pub base_url: String,
}

/// An image the caller can see, with the membership fact the policy table
/// decided it on.
#[derive(Debug, Clone)]
pub struct Visible {
    /// The image.
    pub image: Image,
    /// The caller's project is a member of the image (looked up only for a
    /// shared image of another project, the one case where it decides).
    pub is_member: bool,
}

impl App {
    /// Builds the app from the environment, for an authenticated `caller`.
    pub fn new(env: &Env, config: Config, caller: RequestContext, base_url: String) -> Result<App, ApiError> {
        let d1 = || env.d1(names::METADATA_DB).map_err(|e| ApiError::internal(format!("D1 binding: {e}")));
        let bucket = js_sys::Reflect::get(env, &names::IMAGES_BUCKET.into())
            .ok()
            .filter(|b| !b.is_undefined())
            .ok_or_else(|| ApiError::internal("R2 binding IMAGES is missing"))?;
        Ok(App {
            images: Images::new(d1()?),
            blobs: Blobs::new(bucket, d1()?),
            members: Members::new(d1()?),
            config,
            caller,
            base_url,
        })
    }

    /// The image `raw_id`, if it exists, the caller can see it and the
    /// policy table allows `action` on it: 404 for a missing or invisible
    /// image (the two are indistinguishable), 403 for a refused action.
    pub async fn image_for(&self, raw_id: &str, action: Action) -> Result<Image, ApiError> {
        let visible = self.visible_image(raw_id).await?;
        self.authorize(action, &visible)?;
        Ok(visible.image)
    }

    /// The image `raw_id` with the caller's membership, if it exists and
    /// the caller may see it; 404 otherwise.
    pub async fn visible_image(&self, raw_id: &str) -> Result<Visible, ApiError> {
        let id = ImageId::parse(raw_id).ok_or_else(|| ApiError::image_not_found(raw_id))?;
        let image = self.images.get(&id).await?.ok_or_else(|| ApiError::image_not_found(raw_id))?;
        let is_member = self.is_member(&image).await?;
        if !policy::can_see(self.caller.caller(), &image, is_member) {
            return Err(ApiError::image_not_found(raw_id));
        }
        Ok(Visible { image, is_member })
    }

    /// Asks the policy table whether the caller may do `action` to a
    /// visible image: 403 for a refused action.
    pub fn authorize(&self, action: Action, visible: &Visible) -> Result<(), ApiError> {
        decide(policy::authorize(self.caller.caller(), action, &visible.image, visible.is_member), &visible.image)
    }

    /// Asks the policy table whether the caller may create `image` (its
    /// owner decides).
    pub fn authorize_create(&self, image: &Image) -> Result<(), ApiError> {
        decide(policy::authorize(self.caller.caller(), Action::Create, image, false), image)
    }

    /// Whether the caller's project is a member of `image`; D1 is asked only
    /// when membership could change the policy's answer (the caller cannot
    /// see the image without it, and could with it).
    async fn is_member(&self, image: &Image) -> Result<bool, ApiError> {
        let caller = self.caller.caller();
        let Some(project) = caller.project_id else {
            return Ok(false);
        };
        if policy::can_see(caller, image, false) || !policy::can_see(caller, image, true) {
            return Ok(false);
        }
        Ok(self.members.get(image.id.as_str(), project).await?.is_some())
    }
}

fn decide(decision: Decision, image: &Image) -> Result<(), ApiError> {
    match decision {
        Decision::Allowed => Ok(()),
        Decision::Forbidden(message) => Err(ApiError::forbidden(message)),
        Decision::Invisible => Err(ApiError::image_not_found(image.id.as_str())),
    }
}
