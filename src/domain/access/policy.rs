//! Who may do what: Glance's default policies (`glance/policies/image.py`,
//! secure RBAC with project scope) as one pure table. Handlers ask
//! [`authorize`] and never decide access themselves.
//!
//! Roles are `admin`, `member` and `reader` in the caller's project. An image
//! the caller may not see is "not found" (404), never "forbidden": a failed
//! check on an image the caller *can* see is 403.
//!
//! Every Glance policy has `scope_types=['project']`, enforced: a token
//! scoped to the system or a domain reaches this table as a caller without
//! project or roles (`RequestContext::from_identity`), which may create,
//! list and see no image (403, 403, 404), and is refused every other API
//! but discovery.

use crate::domain::access::member::MemberStatus;
use crate::domain::image::{Image, Visibility, Writer};
use crate::domain::listing::{MemberStatusFilter, VisibilityFilter};

/// What a caller asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create an image owned by the given project.
    Create,
    /// Show one image.
    Show,
    /// Change an image's metadata (PATCH, tags, v1 PUT).
    Update,
    /// Delete an image.
    Delete,
    /// Upload data.
    Upload,
    /// Download data.
    Download,
    /// Set visibility to `public`.
    Publicize,
    /// Set visibility to `community`.
    Communitize,
    /// Deactivate or reactivate.
    Deactivate,
    /// Add or remove members of a shared image.
    ManageMembers,
    /// Start an import (glance-direct, web-download, glance-download).
    Import,
    /// Copy an active image's data to more stores (copy-image).
    CopyImage,
    /// Add a location (`POST /locations`, PATCH add/replace `/locations`).
    AddLocation,
    /// List an image's locations (`GET /locations`).
    ListLocations,
    /// Remove a location, or the data in one store.
    DeleteLocation,
}

/// Who is asking: their project and roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller<'a> {
    /// The caller's project.
    pub project_id: Option<&'a str>,
    /// The caller's roles in that project.
    pub roles: &'a [String],
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allowed,
    /// The caller sees the image but may not do this (403).
    Forbidden(String),
    /// The caller may not even see the image (404).
    Invisible,
}

impl Caller<'_> {
    fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Holds the admin role.
    pub fn is_admin(&self) -> bool {
        self.has("admin")
    }

    /// Holds the `service` role (another OpenStack service's user).
    pub fn is_service(&self) -> bool {
        self.has("service")
    }

    /// May write in its project (admin implies member).
    fn is_member(&self) -> bool {
        self.is_admin() || self.has("member")
    }

    /// May read in its project (member implies reader).
    fn is_reader(&self) -> bool {
        self.is_member() || self.has("reader")
    }

    fn owns(&self, image: &Image) -> bool {
        image.owner.is_some() && image.owner.as_deref() == self.project_id
    }
}

/// Glance's `is_image_visible` (the database layer's filter, before any
/// policy): admin, ownerless, public or community, owned, or shared with the
/// caller's project (`is_member`, in any member status). An image that
/// passes may still be hidden by [`authorize`]: see [`may_get`].
pub fn can_see(caller: Caller<'_>, image: &Image, is_member: bool) -> bool {
    caller.is_admin()
        || image.owner.is_none()
        || matches!(image.visibility, Visibility::Public | Visibility::Community)
        || caller.owns(image)
        || (image.visibility == Visibility::Shared && is_member)
}

/// Glance's `get_image` rule: an admin, or a reader (member and admin
/// imply it) of the owning project, or of any project for a public,
/// community or shared image (which shared images a project sees at all is
/// [`can_see`]'s business). A caller without a role in a project (a system-
/// or domain-scoped token) gets nothing; nor does a non-admin an ownerless
/// image that is not public, community or shared.
pub fn may_get(caller: Caller<'_>, image: &Image) -> bool {
    caller.is_admin() || (caller.is_reader() && open_to(caller, image))
}

/// The targets of Glance's `get_image` and `download_image` rules beyond
/// the role: the owner's project, or any project for a public, community or
/// shared image.
fn open_to(caller: Caller<'_>, image: &Image) -> bool {
    caller.owns(image) || matches!(image.visibility, Visibility::Public | Visibility::Community | Visibility::Shared)
}

/// Decides `action` on `image` by `caller` (`is_member`: the caller's project
/// is a member of the image). For [`Action::Create`], `image` is the image
/// about to be created (its owner is checked).
///
/// As Glance's `ImageAPIPolicy`: an image [`can_see`] refuses is
/// [`Decision::Invisible`], and so is a refused action on an image the
/// caller may not [`may_get`] (its existence is not given away); a refused
/// action on an image it may get is [`Decision::Forbidden`].
pub fn authorize(caller: Caller<'_>, action: Action, image: &Image, is_member: bool) -> Decision {
    if action != Action::Create && !can_see(caller, image, is_member) {
        return Decision::Invisible;
    }
    let owner_member = caller.is_admin() || (caller.is_member() && caller.owns(image));
    let deactivated = image.status == crate::domain::image::status::ImageStatus::Deactivated;
    let allowed = match action {
        Action::Show => may_get(caller, image),
        // Glance's `download_image`: the member role, not reader.
        Action::Download => {
            (caller.is_admin() || (caller.is_member() && open_to(caller, image))) && (!deactivated || caller.is_admin())
        }
        Action::Create
        | Action::Update
        | Action::Delete
        | Action::Upload
        | Action::Deactivate
        | Action::Communitize
        | Action::ManageMembers
        | Action::Import => owner_member,
        // Glance's copy_image and delete_image_location: admin only.
        Action::CopyImage | Action::DeleteLocation => caller.is_admin(),
        // The location API (v2.17) is for the owner's members and for
        // services (Nova, Cinder) acting on images they can see.
        Action::AddLocation => owner_member || caller.is_service(),
        Action::ListLocations => caller.is_admin() || caller.is_service(),
        Action::Publicize => may_set_visibility(caller.is_admin(), Visibility::Public).is_ok(),
    };
    if allowed {
        return Decision::Allowed;
    }
    if action != Action::Create && !may_get(caller, image) {
        return Decision::Invisible;
    }
    Decision::Forbidden(match action {
        Action::Create if !caller.is_member() => "You are not permitted to create images.".into(),
        Action::Create => "You are not permitted to create images owned by another project.".into(),
        Action::Publicize => PUBLICIZE_REFUSED.into(),
        Action::Communitize => "Only the owner's members may make an image community.".into(),
        Action::Download if deactivated && caller.is_member() => {
            "The requested image has been deactivated. Image data download is forbidden.".into()
        }
        other => format!("You are not permitted to {} image {}.", verb(other), image.id),
    })
}

/// Glance's `get_images`: listing images takes a role in a project
/// (`reader` is enough); 403 otherwise (a system-scoped token).
pub fn may_list_images(caller: Caller<'_>) -> bool {
    caller.is_reader()
}

const PUBLICIZE_REFUSED: &str = "Only administrators may publicize images (visibility 'public').";

/// Glance's `publicize_image` rule, for the image record's write path
/// (`Image::set_attribute`, which knows the writer by admin-ness only):
/// only admins make an image `public`.
pub fn may_set_visibility(is_admin: bool, visibility: Visibility) -> Result<(), Refused> {
    if visibility == Visibility::Public && !is_admin {
        return Err(Refused(PUBLICIZE_REFUSED));
    }
    Ok(())
}

/// A write rule's refusal (403), saying why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub &'static str);

/// The owner rule of `add_image` and `modify_image`, for the same write
/// path: a non-admin may give an image only to its own project.
pub fn may_set_owner(
    is_admin: bool,
    project_id: Option<&str>,
    current: Option<&str>,
    owner: Option<&str>,
) -> Result<(), Refused> {
    if owner != current && !is_admin && owner != project_id {
        return Err(Refused("You are not permitted to set the owner of an image to another project."));
    }
    Ok(())
}

/// The attribute rules, asked by the image record's write path
/// (`Image::set_attribute`) of the writer it is given.
impl Writer<'_> {
    /// [`may_set_visibility`] for this writer.
    pub fn may_set_visibility(&self, visibility: Visibility) -> Result<(), Refused> {
        may_set_visibility(self.is_admin, visibility)
    }

    /// [`may_set_owner`] for this writer: from `current` to `owner`.
    pub fn may_set_owner(&self, current: Option<&str>, owner: Option<&str>) -> Result<(), Refused> {
        may_set_owner(self.is_admin, self.project_id, current, owner)
    }
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Show => "show",
        Action::Update => "modify",
        Action::Delete => "delete",
        Action::Upload => "upload data to",
        Action::Download => "download",
        Action::Publicize => "publicize",
        Action::Communitize => "communitize",
        Action::Deactivate => "deactivate or reactivate",
        Action::ManageMembers => "change the members of",
        Action::Import => "import data into",
        Action::CopyImage => "copy the data of",
        Action::AddLocation => "add a location to",
        Action::ListLocations => "list the locations of",
        Action::DeleteLocation => "remove data or locations of",
    }
}

/// The tasks API (`GET/POST /v2/tasks`) is admin-only, as Glance's
/// `tasks_api_access` default.
pub fn may_use_tasks_api(caller: Caller<'_>) -> bool {
    caller.is_admin()
}

/// The image cache API (`/v2/cache`, v2.14): admin-only, as Glance's
/// `cache_list`, `cache_image`, `cache_delete` and `cache_delete_all`
/// defaults (`role:admin`). Whether a cached copy may be *downloaded* is not
/// decided here: a download is authorized against the image's current
/// record ([`authorize`] with [`Action::Download`]) before the edge cache is
/// consulted, so the cache never widens who sees an image's data.
pub fn may_manage_image_cache(caller: Caller<'_>) -> bool {
    caller.is_admin()
}

/// `GET /v2/info/stores/detail`: admins and services.
pub fn may_see_store_details(caller: Caller<'_>) -> bool {
    caller.is_admin() || caller.is_service()
}

/// Only the member itself (or an admin) answers a share; the owner may not
/// accept on the member's behalf (tempest `test_image_share_owner_cannot_accept`).
/// Glance's `modify_member`: the member's own project, with a role that may
/// write (a reader may not), or an admin.
pub fn may_answer_share(caller: Caller<'_>, member_id: &str) -> bool {
    caller.is_admin() || (caller.is_member() && caller.project_id == Some(member_id))
}

/// Whether the caller may see the membership of `member_id` in `image`
/// (`_image_member_find`): admins and the owner's project see every
/// membership, a member project only its own.
pub fn sees_membership(caller: Caller<'_>, image: &Image, member_id: &str) -> bool {
    caller.is_admin() || caller.owns(image) || caller.project_id == Some(member_id)
}

/// Writes to the metadata definitions catalog (namespaces, objects,
/// properties, tags, resource type associations): admin only, as Glance's
/// `glance/policies/metadef.py` defaults.
pub fn may_write_metadefs(caller: Caller<'_>) -> bool {
    caller.is_admin()
}

/// Whether the caller sees a metadefs namespace owned by `owner`: public
/// namespaces are for every reader, private ones for the owner's project
/// (and admins). An unseen namespace is "not found".
pub fn can_see_namespace(caller: Caller<'_>, owner: Option<&str>, public: bool) -> bool {
    caller.is_admin() || (may_read_metadefs(caller) && (public || (owner.is_some() && owner == caller.project_id)))
}

/// Reads of the catalog (the resource type list, visible namespaces):
/// any role that may read in its project.
pub fn may_read_metadefs(caller: Caller<'_>) -> bool {
    caller.is_reader()
}

/// How a refused metadefs call is answered (`message`: the 403's). Glance's
/// `MetadefAPIPolicy` turns every refusal into "not found" unless the
/// caller could read a namespace of its own project, so a caller without a
/// reading role there (a system-scoped token) gets 404 from every metadefs
/// call, lists and creates included; anyone else gets 403.
pub fn metadefs_refusal(caller: Caller<'_>, message: &str) -> Decision {
    if may_read_metadefs(caller) {
        Decision::Forbidden(message.into())
    } else {
        Decision::Invisible
    }
}

/// Whether `image` appears in the caller's `GET /v2/images` for these
/// `visibility` and `member_status` filters (`membership`: the caller's
/// project's membership of the image). Glance's `_select_images_query` and
/// the visibility filter of `image_get_all`: admins start from every image,
/// others from public and community images, their own project's images, and
/// `shared` images whose membership passes `member_status`. Without a
/// visibility filter, community images stay only if the caller's project
/// owns them. Never lists an image [`can_see`] refuses.
pub fn listed(
    caller: Caller<'_>,
    image: &Image,
    membership: Option<MemberStatus>,
    visibility: VisibilityFilter,
    member_status: MemberStatusFilter,
) -> bool {
    let owned = caller.owns(image);
    let shared_with_caller = image.visibility == Visibility::Shared
        && membership.is_some_and(|status| match member_status {
            MemberStatusFilter::All => true,
            MemberStatusFilter::Pending => status == MemberStatus::Pending,
            MemberStatusFilter::Accepted => status == MemberStatus::Accepted,
            MemberStatusFilter::Rejected => status == MemberStatus::Rejected,
        });
    let candidate = caller.is_admin()
        || matches!(image.visibility, Visibility::Public | Visibility::Community)
        || owned
        || shared_with_caller;
    let kept = match visibility {
        VisibilityFilter::All => true,
        VisibilityFilter::Only(only) => image.visibility == only,
        VisibilityFilter::Default => image.visibility != Visibility::Community || owned,
    };
    candidate && kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::image::status::ImageStatus;

    fn image(owner: &str, visibility: Visibility) -> Image {
        Image::sample(owner, visibility)
    }

    fn roles(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// The expected table, written out by hand from glance/policies/image.py:
    /// (caller kind, action) -> allowed, for an image the caller can see.
    #[test]
    fn the_policy_table_for_visible_images() {
        let admin = roles(&["admin", "member", "reader"]);
        let member = roles(&["member", "reader"]);
        let reader = roles(&["reader"]);
        let owned = image("p1", Visibility::Private);
        let foreign_public = image("p2", Visibility::Public);
        use Action::*;
        #[rustfmt::skip]
        let table: [(&[String], &Image, Action, bool); 27] = [
            (&admin, &foreign_public, Show, true), (&admin, &foreign_public, Update, true), (&admin, &foreign_public, Delete, true),
            (&admin, &foreign_public, Upload, true), (&admin, &foreign_public, Download, true), (&admin, &foreign_public, Publicize, true),
            (&admin, &foreign_public, Communitize, true), (&admin, &foreign_public, Deactivate, true), (&admin, &foreign_public, Create, true),
            (&member, &owned, Show, true), (&member, &owned, Update, true), (&member, &owned, Delete, true),
            (&member, &owned, Upload, true), (&member, &owned, Download, true), (&member, &owned, Publicize, false),
            (&member, &owned, Communitize, true), (&member, &owned, Deactivate, true), (&member, &foreign_public, Update, false),
            (&member, &foreign_public, Delete, false), (&member, &foreign_public, Download, true), (&member, &foreign_public, Deactivate, false),
            (&reader, &owned, Show, true), (&reader, &owned, Download, false), (&reader, &owned, Update, false),
            (&reader, &owned, Delete, false), (&reader, &owned, Upload, false), (&reader, &owned, Create, false),
        ];
        for (roles, image, action, allowed) in table {
            let caller = Caller { project_id: Some("p1"), roles };
            let decision = authorize(caller, action, image, false);
            assert_eq!(
                decision == Decision::Allowed,
                allowed,
                "{roles:?} {action:?} on {:?}: {decision:?}",
                image.owner
            );
            if !allowed {
                assert!(matches!(decision, Decision::Forbidden(_)));
            }
        }
    }

    #[test]
    fn invisible_images_are_not_found_whatever_the_action() {
        let member = roles(&["member", "reader"]);
        let caller = Caller { project_id: Some("p1"), roles: &member };
        for visibility in [Visibility::Private, Visibility::Shared] {
            for action in [Action::Show, Action::Update, Action::Delete, Action::Download, Action::Deactivate] {
                assert_eq!(authorize(caller, action, &image("p2", visibility), false), Decision::Invisible);
            }
        }
        assert!(can_see(caller, &image("p2", Visibility::Community), false));
        let mut ownerless = image("x", Visibility::Private);
        ownerless.owner = None;
        assert!(can_see(caller, &ownerless, false));
    }

    #[test]
    fn members_see_and_download_shared_images_but_do_not_change_them() {
        let member = roles(&["member", "reader"]);
        let caller = Caller { project_id: Some("p1"), roles: &member };
        let shared = image("p2", Visibility::Shared);
        assert!(can_see(caller, &shared, true));
        assert_eq!(authorize(caller, Action::Show, &shared, true), Decision::Allowed);
        assert_eq!(authorize(caller, Action::Download, &shared, true), Decision::Allowed);
        for action in [Action::Update, Action::Delete, Action::Upload, Action::ManageMembers, Action::Deactivate] {
            assert!(matches!(authorize(caller, action, &shared, true), Decision::Forbidden(_)), "{action:?}");
        }
        // Membership opens shared images only.
        assert!(!can_see(caller, &image("p2", Visibility::Private), true));
    }

    #[test]
    fn only_admins_download_deactivated_images() {
        let mut deactivated = image("p1", Visibility::Private);
        deactivated.status = ImageStatus::Deactivated;
        let member = roles(&["member"]);
        let admin = roles(&["admin"]);
        assert!(matches!(
            authorize(Caller { project_id: Some("p1"), roles: &member }, Action::Download, &deactivated, false),
            Decision::Forbidden(m) if m.contains("deactivated")
        ));
        assert_eq!(
            authorize(Caller { project_id: Some("p9"), roles: &admin }, Action::Download, &deactivated, false),
            Decision::Allowed
        );
    }

    #[test]
    fn members_are_managed_by_the_owner_and_answered_by_the_member() {
        let member = roles(&["member"]);
        let owner = Caller { project_id: Some("p1"), roles: &member };
        let shared = image("p1", Visibility::Shared);
        assert_eq!(authorize(owner, Action::ManageMembers, &shared, false), Decision::Allowed);
        let other = Caller { project_id: Some("p2"), roles: &member };
        assert!(matches!(
            authorize(other, Action::ManageMembers, &image("p1", Visibility::Public), false),
            Decision::Forbidden(_)
        ));
        assert!(!may_answer_share(owner, "p2"), "the owner cannot accept for the member");
        assert!(may_answer_share(other, "p2"));
        let admin = roles(&["admin"]);
        assert!(may_answer_share(Caller { project_id: Some("p9"), roles: &admin }, "p2"));
        let reader = roles(&["reader"]);
        assert!(!may_answer_share(Caller { project_id: Some("p2"), roles: &reader }, "p2"), "readers never write");
    }

    #[test]
    fn members_see_their_own_membership_owners_and_admins_see_all() {
        let reader = roles(&["reader"]);
        let admin = roles(&["admin"]);
        let shared = image("p1", Visibility::Shared);
        let owner_reader = Caller { project_id: Some("p1"), roles: &reader };
        let member = Caller { project_id: Some("p2"), roles: &reader };
        assert!(sees_membership(owner_reader, &shared, "p2"));
        assert!(sees_membership(owner_reader, &shared, "p3"));
        assert!(sees_membership(member, &shared, "p2"));
        assert!(!sees_membership(member, &shared, "p3"));
        assert!(sees_membership(Caller { project_id: Some("p9"), roles: &admin }, &shared, "p3"));
    }

    #[test]
    fn creating_for_another_project_needs_admin() {
        let member = roles(&["member"]);
        let caller = Caller { project_id: Some("p1"), roles: &member };
        assert_eq!(authorize(caller, Action::Create, &image("p1", Visibility::Shared), false), Decision::Allowed);
        assert!(matches!(
            authorize(caller, Action::Create, &image("p2", Visibility::Shared), false),
            Decision::Forbidden(_)
        ));
    }

    #[test]
    fn only_admins_write_metadefs() {
        for (names, allowed) in [(&["admin"][..], true), (&["member", "reader"][..], false), (&["reader"][..], false)] {
            let held = roles(names);
            assert_eq!(may_write_metadefs(Caller { project_id: Some("p1"), roles: &held }), allowed, "{names:?}");
        }
    }

    #[test]
    fn private_namespaces_are_seen_by_their_project_and_admins() {
        let reader = roles(&["reader"]);
        let admin = roles(&["admin"]);
        let none: Vec<String> = Vec::new();
        let own = Caller { project_id: Some("p1"), roles: &reader };
        let other = Caller { project_id: Some("p2"), roles: &reader };
        let admin = Caller { project_id: Some("p2"), roles: &admin };
        let roleless = Caller { project_id: Some("p1"), roles: &none };
        assert!(can_see_namespace(own, Some("p1"), false));
        assert!(!can_see_namespace(other, Some("p1"), false));
        assert!(can_see_namespace(other, Some("p1"), true));
        assert!(can_see_namespace(admin, Some("p1"), false));
        assert!(!can_see_namespace(other, None, false));
        assert!(!can_see_namespace(roleless, Some("p1"), true));
    }

    #[test]
    fn only_admins_manage_the_image_cache() {
        for (names, allowed) in [
            (&["admin", "member", "reader"][..], true),
            (&["member", "reader"][..], false),
            (&["reader"][..], false),
            (&["service"][..], false),
            (&[][..], false),
        ] {
            let roles = roles(names);
            let caller = Caller { project_id: Some("p1"), roles: &roles };
            assert_eq!(may_manage_image_cache(caller), allowed, "{names:?}");
        }
    }

    /// A cached copy is served only through a download the policy allows on
    /// the image's current record: an image the caller cannot see (private
    /// to another project, shared without membership) or a deactivated one
    /// is refused whatever the edge cache holds.
    #[test]
    fn downloads_that_could_hit_the_cache_are_decided_on_the_current_record() {
        let member = roles(&["member", "reader"]);
        let caller = Caller { project_id: Some("p1"), roles: &member };
        let private = image("p2", Visibility::Private);
        assert_eq!(authorize(caller, Action::Download, &private, false), Decision::Invisible);
        let shared = image("p2", Visibility::Shared);
        assert_eq!(authorize(caller, Action::Download, &shared, false), Decision::Invisible);
        assert_eq!(authorize(caller, Action::Download, &shared, true), Decision::Allowed);
        let mut deactivated = image("p1", Visibility::Private);
        deactivated.status = ImageStatus::Deactivated;
        assert!(matches!(authorize(caller, Action::Download, &deactivated, false), Decision::Forbidden(_)));
    }

    const VISIBILITIES: [Visibility; 4] =
        [Visibility::Public, Visibility::Community, Visibility::Shared, Visibility::Private];
    const ACTIONS: [Action; 14] = [
        Action::Show,
        Action::Update,
        Action::Delete,
        Action::Upload,
        Action::Download,
        Action::Publicize,
        Action::Communitize,
        Action::Deactivate,
        Action::ManageMembers,
        Action::Import,
        Action::CopyImage,
        Action::AddLocation,
        Action::ListLocations,
        Action::DeleteLocation,
    ];

    /// Glance's `download_image` needs the member role: a reader sees the
    /// image (show is 200) but its data is 403, whatever the visibility,
    /// its own project's images included.
    #[test]
    fn readers_see_images_but_may_not_download_them() {
        let reader = roles(&["reader"]);
        let caller = Caller { project_id: Some("p1"), roles: &reader };
        for owner in ["p1", "p2"] {
            for visibility in VISIBILITIES {
                let image = image(owner, visibility);
                let is_member = visibility == Visibility::Shared && owner == "p2";
                if !can_see(caller, &image, is_member) {
                    assert_eq!((owner, visibility), ("p2", Visibility::Private));
                    continue;
                }
                assert_eq!(authorize(caller, Action::Show, &image, is_member), Decision::Allowed);
                assert!(
                    matches!(authorize(caller, Action::Download, &image, is_member), Decision::Forbidden(m) if m.contains("download")),
                    "{owner} {visibility:?}"
                );
            }
        }
        let member = roles(&["member"]);
        let member = Caller { project_id: Some("p1"), roles: &member };
        for visibility in [Visibility::Public, Visibility::Community] {
            assert_eq!(authorize(member, Action::Download, &image("p2", visibility), false), Decision::Allowed);
        }
        assert_eq!(authorize(member, Action::Download, &image("p2", Visibility::Shared), true), Decision::Allowed);
    }

    /// A system-scoped token (no project, its roles dropped by the
    /// context) and a project token without any role: every image is
    /// hidden, whatever its visibility or owner (an ownerless one too),
    /// creating is 403 and so is listing.
    #[test]
    fn callers_without_a_role_in_a_project_see_no_image_and_create_none() {
        let none: Vec<String> = Vec::new();
        let service = roles(&["service"]);
        for caller in [Caller { project_id: None, roles: &none }, Caller { project_id: Some("p1"), roles: &none }] {
            for visibility in VISIBILITIES {
                for owner in [Some("p1"), Some("p2"), None] {
                    let mut image = image("p1", visibility);
                    image.owner = owner.map(str::to_owned);
                    for action in ACTIONS {
                        assert_eq!(
                            authorize(caller, action, &image, true),
                            Decision::Invisible,
                            "{caller:?} {action:?} {visibility:?} {owner:?}"
                        );
                    }
                }
            }
            let mut ownerless = image("x", Visibility::Private);
            ownerless.owner = None;
            assert!(matches!(authorize(caller, Action::Create, &ownerless, false), Decision::Forbidden(_)));
            assert!(!may_list_images(caller));
            assert_eq!(metadefs_refusal(caller, "no"), Decision::Invisible);
        }
        // A service-only caller may still list the locations of an image it
        // can see (Glance's `fetch_image_location` is the service's own
        // rule) but not read the image.
        let caller = Caller { project_id: Some("p9"), roles: &service };
        let public = image("p1", Visibility::Public);
        assert_eq!(authorize(caller, Action::ListLocations, &public, false), Decision::Allowed);
        assert_eq!(authorize(caller, Action::Show, &public, false), Decision::Invisible);
    }

    #[test]
    fn every_reading_role_may_list_images() {
        for names in [&["reader"][..], &["member"][..], &["admin"][..]] {
            let held = roles(names);
            assert!(may_list_images(Caller { project_id: Some("p1"), roles: &held }), "{names:?}");
        }
        let reader = roles(&["reader"]);
        assert!(matches!(
            metadefs_refusal(Caller { project_id: Some("p1"), roles: &reader }, "no"),
            Decision::Forbidden(m) if m == "no"
        ));
    }

    /// Glance's `get_image` wants a project for a non-admin: an ownerless
    /// private image is hidden from members, shown to admins.
    #[test]
    fn ownerless_private_images_are_for_admins() {
        let mut ownerless = image("x", Visibility::Private);
        ownerless.owner = None;
        let member = roles(&["member", "reader"]);
        let member = Caller { project_id: Some("p1"), roles: &member };
        assert!(can_see(member, &ownerless, false), "the database layer lets it through");
        assert_eq!(authorize(member, Action::Show, &ownerless, false), Decision::Invisible);
        assert_eq!(authorize(member, Action::Update, &ownerless, false), Decision::Invisible);
        let admin = roles(&["admin"]);
        assert_eq!(
            authorize(Caller { project_id: Some("p1"), roles: &admin }, Action::Show, &ownerless, false),
            Decision::Allowed
        );
        let mut ownerless_public = image("x", Visibility::Public);
        ownerless_public.owner = None;
        assert_eq!(authorize(member, Action::Show, &ownerless_public, false), Decision::Allowed);
    }
}
