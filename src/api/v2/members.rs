//! `/v2/images/{id}/members[/{member}]`: sharing a `shared` image with other
//! projects. The owner (or an admin) adds and removes members; only the
//! member (or an admin) answers with a status.

use serde_json::json;
use worker::{Request, Response};

use crate::api::respond::{json_response, no_content, now, read_body};
use crate::api::App;
use crate::domain::access::member::{parse_new_member, parse_status_change, Member, MemberStatus, MAX_MEMBERS};
use crate::domain::access::policy::{may_answer_share, sees_membership, Action};
use crate::domain::image::ImageId;
use crate::domain::image::{Image, Visibility};
use crate::error::ApiError;

/// Members exist only on `shared` images (403 otherwise, as Glance).
fn require_shared(image: &Image) -> Result<(), ApiError> {
    if image.visibility == Visibility::Shared {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "Only shared images have members; image {} is {}.",
            image.id,
            image.visibility.as_str()
        )))
    }
}

fn member_not_found(image_id: &ImageId, member: &str) -> ApiError {
    ApiError::not_found(format!("Member {member} not found for image {image_id}."))
}

/// `GET .../members`.
pub async fn list(app: &App, id: &ImageId) -> Result<Response, ApiError> {
    let image = app.image_for(id, Action::Show).await?;
    require_shared(&image)?;
    let members = app.members.list(image.id.as_str()).await?;
    let caller = app.caller.caller();
    let records: Vec<_> =
        members.iter().filter(|m| sees_membership(caller, &image, &m.member_id)).map(Member::to_json).collect();
    json_response(200, &json!({"members": records, "schema": "/v2/schemas/members"}))
}

/// `POST .../members` with `{"member": "<project>"}`: a new pending member.
pub async fn add(app: &App, req: &mut Request, id: &ImageId) -> Result<Response, ApiError> {
    let member_id = parse_new_member(&read_body(req).await?)?;
    let image = app.image_for(id, Action::ManageMembers).await?;
    require_shared(&image)?;
    let now = now();
    let member = Member {
        image_id: image.id.to_string(),
        member_id,
        status: MemberStatus::Pending,
        created_at: now.clone(),
        updated_at: now,
    };
    // One statement: the quota holds against concurrent adds too.
    match app.members.insert(&member, MAX_MEMBERS).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(ApiError::too_large(format!("Image {id} already has the maximum of {MAX_MEMBERS} members.")))
        }
        Err(crate::store::StoreError::Duplicate) => {
            return Err(ApiError::conflict(format!("Project {} is already a member of image {id}.", member.member_id)))
        }
        Err(other) => return Err(other.into()),
    }
    json_response(200, &member.to_json())
}

/// `GET .../members/{member}` (404 on images that are not shared).
pub async fn show(app: &App, id: &ImageId, member: &str) -> Result<Response, ApiError> {
    let image = app.image_for(id, Action::Show).await?;
    if image.visibility != Visibility::Shared || !sees_membership(app.caller.caller(), &image, member) {
        return Err(member_not_found(id, member));
    }
    let found = app.members.get(image.id.as_str(), member).await?.ok_or_else(|| member_not_found(id, member))?;
    json_response(200, &found.to_json())
}

/// `PUT .../members/{member}` with `{"status": ...}`: the member's answer.
pub async fn update(app: &App, req: &mut Request, id: &ImageId, member: &str) -> Result<Response, ApiError> {
    let status = parse_status_change(&read_body(req).await?)?;
    let image = app.image_for(id, Action::Show).await?;
    require_shared(&image)?;
    if !may_answer_share(app.caller.caller(), member) {
        return Err(ApiError::forbidden("Only the member itself may accept or reject a share."));
    }
    if !app.members.set_status(image.id.as_str(), member, status, &now()).await? {
        return Err(member_not_found(id, member));
    }
    let updated = app.members.get(image.id.as_str(), member).await?.ok_or_else(|| member_not_found(id, member))?;
    json_response(200, &updated.to_json())
}

/// `DELETE .../members/{member}`.
pub async fn remove(app: &App, id: &ImageId, member: &str) -> Result<Response, ApiError> {
    let image = app.image_for(id, Action::ManageMembers).await?;
    require_shared(&image)?;
    if !app.members.delete(image.id.as_str(), member).await? {
        return Err(member_not_found(id, member));
    }
    no_content()
}
