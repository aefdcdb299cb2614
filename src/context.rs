//! Who is calling. Every handler receives a [`RequestContext`] and asks it,
//! never the request, about identity. It is built in one place (`api::App`)
//! from the authentication mode: the local `noauth` admin, or the identity
//! Keystone gave for the request's token.

use crate::domain::access::auth::{Identity, Scope};
use crate::domain::access::policy::Caller;
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
    /// The caller's roles in that project: none without one (a token
    /// scoped to the system or a domain, or unscoped).
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

    /// The caller a validated Keystone token names. Glance 33 has no system
    /// (or domain) scope: every one of its policies has
    /// `scope_types=['project']` and scope is enforced, so roles held on the
    /// system or a domain count for nothing. Such a caller has no project
    /// and no roles, and the policy table answers it as Glance does
    /// (creating and listing images 403, every image 404).
    pub fn from_identity(request_id: String, identity: Identity) -> RequestContext {
        let (project_id, roles) = match identity.scope {
            Scope::Project(project_id) => (Some(project_id), identity.roles),
            Scope::Domain(_) | Scope::System | Scope::Unscoped => (None, Vec::new()),
        };
        RequestContext { request_id, user_id: Some(identity.user_id), project_id, roles }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::access::policy;
    use crate::domain::image::{Image, Visibility};

    fn sees(ctx: &RequestContext, owner: &str, visibility: Visibility) -> bool {
        policy::can_see(ctx.caller(), &Image::sample(owner, visibility), false)
    }

    #[test]
    fn noauth_is_an_admin_of_the_default_project() {
        let ctx = RequestContext::noauth_admin("req-1".into(), "demo");
        assert!(ctx.is_admin());
        assert_eq!(ctx.project_id.as_deref(), Some("demo"));
        assert!(sees(&ctx, "other", Visibility::Private));
        assert_eq!(RequestContext::noauth_admin("r".into(), "").project_id, None);
    }

    #[test]
    fn a_keystone_identity_gives_user_project_and_roles() {
        let identity = Identity {
            user_id: "u1".into(),
            scope: Scope::Project("p1".into()),
            roles: vec!["reader".into()],
            expires_at: 0,
        };
        let ctx = RequestContext::from_identity("r".into(), identity);
        assert_eq!(ctx.user_id.as_deref(), Some("u1"));
        assert_eq!(ctx.project_id.as_deref(), Some("p1"));
        assert!(!ctx.is_admin());
        assert!(sees(&ctx, "p1", Visibility::Private));
        assert!(!sees(&ctx, "p2", Visibility::Private));
        assert_eq!(ctx.viewer(), Viewer { project_id: Some("p1".into()), is_admin: false });
    }

    /// A system-scoped admin token (and a domain-scoped one) is no admin of
    /// anything here: no project, no roles, so the policy table refuses it
    /// what Glance 33 refuses it.
    #[test]
    fn roles_on_the_system_or_a_domain_count_for_nothing() {
        let admin: Vec<String> = ["admin", "member", "reader"].map(String::from).to_vec();
        for scope in [Scope::System, Scope::Domain("default".into()), Scope::Unscoped] {
            let identity = Identity { user_id: "u1".into(), scope: scope.clone(), roles: admin.clone(), expires_at: 0 };
            let ctx = RequestContext::from_identity("r".into(), identity);
            assert_eq!(ctx.project_id, None, "{scope:?}");
            assert!(ctx.roles.is_empty(), "{scope:?}");
            assert!(!ctx.is_admin(), "{scope:?}");
            assert!(!ctx.writer().is_admin);
            assert_eq!(ctx.viewer(), Viewer { project_id: None, is_admin: false });
            assert!(!policy::may_list_images(ctx.caller()), "{scope:?}");
            assert!(!policy::may_use_tasks_api(ctx.caller()));
            assert!(!policy::may_manage_image_cache(ctx.caller()));
            assert!(!policy::may_see_store_details(ctx.caller()));
            assert!(!policy::may_read_metadefs(ctx.caller()));
            for visibility in [Visibility::Public, Visibility::Community, Visibility::Shared, Visibility::Private] {
                let image = Image::sample("p1", visibility);
                assert_eq!(
                    policy::authorize(ctx.caller(), policy::Action::Show, &image, false),
                    policy::Decision::Invisible,
                    "{scope:?} {visibility:?}"
                );
            }
        }
        let project =
            Identity { user_id: "u1".into(), scope: Scope::Project("p1".into()), roles: admin, expires_at: 0 };
        assert!(RequestContext::from_identity("r".into(), project).is_admin());
    }
}
