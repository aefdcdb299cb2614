//! [`App`]: what a handler works with (the repositories, the settings, the
//! caller), and the one way a handler gets hold of an image: looked up,
//! checked for visibility and authorized by the policy table for the action
//! the handler is about to take.

use std::rc::Rc;

use worker::Env;

use super::config::{names, Config};
use crate::context::RequestContext;
use crate::domain::access::policy::{self, Action, Decision};
use crate::domain::image::{Image, ImageId, ImageView};
use crate::domain::stores::{NotWritable, Stores};
use crate::error::ApiError;
use crate::store::blobs::Blobs;
use crate::store::cache_entries::{CacheEntries, DataCentre};
use crate::store::d1::Db;
use crate::store::images::Images;
use crate::store::jobs::Jobs;
use crate::store::members::Members;
use crate::store::metadefs::Metadefs;
use crate::store::quotas::Quotas;
use crate::store::tasks::Tasks;
use crate::store::uploads::Uploads;

/// Everything a handler needs for one request.
pub struct App {
    /// Image metadata.
    pub images: Images,
    /// Image data: one bucket per R2 store, in configuration order.
    pub buckets: Vec<Blobs>,
    /// Image members.
    pub members: Members,
    /// Tasks.
    pub tasks: Tasks,
    /// The metadata definitions catalog.
    pub metadefs: Metadefs,
    /// The image cache's records of the data centre serving the request
    /// (what its edge cache holds or will).
    pub cache_entries: CacheEntries,
    /// Resumable uploads.
    pub uploads: Uploads,
    /// Quota usage.
    pub quotas: Quotas,
    /// The import queue.
    pub jobs: Jobs,
    /// Settings.
    pub config: Rc<Config>,
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

/// The metadata database's binding.
pub fn metadata_db(env: &Env) -> Result<worker::D1Database, ApiError> {
    env.d1(names::METADATA_DB).map_err(|e| ApiError::internal(format!("D1 binding: {e}")))
}

impl App {
    /// Builds the app from the environment, for an authenticated `caller`,
    /// on `db` (the request's D1 session, or the database itself), in data
    /// centre `here`.
    pub fn new(
        env: &Env,
        db: Db,
        config: Rc<Config>,
        caller: RequestContext,
        base_url: String,
        here: DataCentre,
    ) -> Result<App, ApiError> {
        let stores = config.stores.as_ref().map_err(Clone::clone)?;
        let mut buckets = Vec::new();
        for store in stores.r2_stores() {
            let (id, binding) = match &store.kind {
                crate::domain::stores::StoreKind::R2 { binding } => (store.id.as_str(), binding.as_str()),
                crate::domain::stores::StoreKind::Http => continue,
            };
            let bucket = js_sys::Reflect::get(env, &binding.into())
                .ok()
                .filter(|b| !b.is_undefined())
                .ok_or_else(|| ApiError::internal(format!("R2 binding {binding} of store {id} is missing")))?;
            buckets.push(Blobs::new(id, bucket, db.clone()));
        }
        let queue = env
            .queue(names::IMPORTS_QUEUE)
            .map_err(|e| ApiError::internal(format!("Queue binding {}: {e}", names::IMPORTS_QUEUE)))?;
        Ok(App {
            images: Images::new(db.clone()),
            buckets,
            members: Members::new(db.clone()),
            tasks: Tasks::new(db.clone()),
            metadefs: Metadefs::new(db.clone()),
            cache_entries: CacheEntries::new(db.clone(), here),
            uploads: Uploads::new(db.clone()),
            quotas: Quotas::new(db.clone()),
            jobs: Jobs::new(queue),
            config,
            caller,
            base_url,
        })
    }

    /// The configured stores (checked when the app was built).
    pub fn stores(&self) -> &Stores {
        self.config.stores.as_ref().expect("App::new checked the stores")
    }

    /// How images are shown.
    pub fn view(&self) -> ImageView<'_> {
        ImageView { stores: self.stores(), show_locations: self.config.show_multiple_locations }
    }

    /// The bucket of R2 store `store`.
    pub fn bucket(&self, store: &str) -> Result<&Blobs, NotWritable> {
        self.buckets.iter().find(|b| b.store() == store).ok_or_else(|| NotWritable(store.to_owned()))
    }

    /// The default store's bucket (uploads without a chosen store, and the
    /// staging area of glance-direct).
    pub fn default_bucket(&self) -> &Blobs {
        let id = &self.stores().default_store().id;
        self.buckets.iter().find(|b| b.store() == id).expect("the default store is an R2 store")
    }

    /// Image `id`, if it exists, the caller can see it and the policy
    /// table allows `action` on it: 404 for a missing or invisible image
    /// (the two are indistinguishable), 403 for a refused action.
    pub async fn image_for(&self, id: &ImageId, action: Action) -> Result<Image, ApiError> {
        let visible = self.visible_image(id).await?;
        self.authorize(action, &visible)?;
        Ok(visible.image)
    }

    /// Image `id` with the caller's membership, if it exists and the
    /// caller may see it; 404 otherwise.
    pub async fn visible_image(&self, id: &ImageId) -> Result<Visible, ApiError> {
        let image = self.images.get(id).await?.ok_or_else(|| ApiError::image_not_found(id.as_str()))?;
        let is_member = self.is_member(&image).await?;
        if !policy::can_see(self.caller.caller(), &image, is_member) {
            return Err(ApiError::image_not_found(id.as_str()));
        }
        Ok(Visible { image, is_member })
    }

    /// Image `id` as this isolate read it recently (`Images::recent`, within
    /// `REVALIDATION_MEMORY_SECONDS` and the request's bookmark) with the
    /// bookmark of that read, if the caller may do `action` to it without
    /// its membership deciding: for answers that may be boundedly stale,
    /// as a replica's are (revalidations). `None`: ask D1.
    pub fn recent_image_for(&self, id: &ImageId, action: Action) -> Option<(Image, Option<String>)> {
        if self.config.revalidation_memory_seconds == 0 {
            return None;
        }
        let (image, bookmark) = self.images.recent(id, self.config.revalidation_memory_seconds)?;
        let visible = Visible { image, is_member: false };
        if !policy::can_see(self.caller.caller(), &visible.image, false) || self.authorize(action, &visible).is_err() {
            return None;
        }
        Some((visible.image, bookmark))
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
