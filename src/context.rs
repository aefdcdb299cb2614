//! Who is calling. Every handler receives a [`RequestContext`] and asks it,
//! never the request, about identity. It is built in one place (`api::App`)
//! from the authentication mode: the local `noauth` admin, or the identity
//! Keystone gave for the request's token.

use crate::domain::access::auth::Identity;
use crate::domain::access::policy::{self, Caller};
use crate::domain::image::Writer;
use crate::domain::listing::Viewer;

/// The identity and request facts a handler may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// `req-<uuid>`, echoed as `x-openstack-request-id`.
    pub request_id: String,
    /// The caller's user.
    pub user_id: Option<String>,
    /// The caller's project.
    pub project_id: Option<String>,
    /// The caller's roles in that project.
    pub roles: Vec<String>,
}

impl RequestContext {
    /// Local mode: every request acts as an admin of `project_id`.
    /// For local development only: there is no authentication at all.
    pub fn noauth_admin(request_id: String, project_id: &str) -> RequestContext {
        RequestContext {
            request_id,
            user_id: Some("noauth-admin".into()),
            project_id: (!project_id.is_empty()).then(|| project_id.to_owned()),
            roles: vec!["admin".into(), "member".into(), "reader".into()],
        }
    }

    /// The caller a validated Keystone token names.
    pub fn from_identity(request_id: String, identity: Identity) -> RequestContext {
        RequestContext {
            request_id,
            user_id: Some(identity.user_id),
            project_id: identity.project_id,
            roles: identity.roles,
        }
    }

    /// Whether the caller holds the admin role.
    pub fn is_admin(&self) -> bool {
        self.caller().is_admin()
    }

    /// The caller as a writer of image attributes.
    pub fn writer(&self) -> Writer<'_> {
        Writer { is_admin: self.is_admin(), project_id: self.project_id.as_deref() }
    }

    /// The caller as a viewer of lists.
    pub fn viewer(&self) -> Viewer {
        Viewer { project_id: self.project_id.clone(), is_admin: self.is_admin() }
    }

    /// The caller as the policy table sees it.
    pub fn caller(&self) -> Caller<'_> {
        Caller { project_id: self.project_id.as_deref(), roles: &self.roles }
    }

    /// Whether the caller may see `image` at all (`is_image_visible`),
    /// `is_member` saying whether its project is a member of the image.
    pub fn can_see(&self, image: &crate::domain::image::Image, is_member: bool) -> bool {
        policy::can_see(self.caller(), image, is_member)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::image::{Image, ImageId, Visibility};

    fn image(owner: &str, visibility: Visibility) -> Image {
        let mut image = Image::new(ImageId::generate(), Some(owner.into()), "2026-01-01T00:00:00Z");
        image.visibility = visibility;
        image
    }

    #[test]
    fn noauth_is_an_admin_of_the_default_project() {
        let ctx = RequestContext::noauth_admin("req-1".into(), "demo");
        assert!(ctx.is_admin());
        assert_eq!(ctx.project_id.as_deref(), Some("demo"));
        assert!(ctx.can_see(&image("other", Visibility::Private), false));
        assert_eq!(RequestContext::noauth_admin("r".into(), "").project_id, None);
    }

    #[test]
    fn a_keystone_identity_gives_user_project_and_roles() {
        let identity = Identity {
            user_id: "u1".into(),
            project_id: Some("p1".into()),
            roles: vec!["reader".into()],
            expires_at: 0,
        };
        let ctx = RequestContext::from_identity("r".into(), identity);
        assert_eq!(ctx.user_id.as_deref(), Some("u1"));
        assert_eq!(ctx.project_id.as_deref(), Some("p1"));
        assert!(!ctx.is_admin());
        assert!(ctx.can_see(&image("p1", Visibility::Private), false));
        assert!(!ctx.can_see(&image("p2", Visibility::Private), false));
    }

    #[test]
    fn non_admins_see_public_community_and_owned_images() {
        let ctx = RequestContext {
            request_id: "r".into(),
            user_id: None,
            project_id: Some("p1".into()),
            roles: vec!["member".into()],
        };
        assert!(ctx.can_see(&image("other", Visibility::Public), false));
        assert!(ctx.can_see(&image("other", Visibility::Community), false));
        assert!(ctx.can_see(&image("p1", Visibility::Private), false));
        assert!(!ctx.can_see(&image("other", Visibility::Private), false));
        assert!(!ctx.can_see(&image("other", Visibility::Shared), false));
        assert!(ctx.can_see(&image("other", Visibility::Shared), true));
    }
}
