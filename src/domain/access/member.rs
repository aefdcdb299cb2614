//! Image members: the projects a `shared` image is shared with, and the
//! status each gives the share (pending, accepted, rejected). Pure: request
//! bodies parsed and records rendered as Glance's `member` schema.

use serde_json::{json, Value};

use crate::domain::image::{ValidationError, MAX_STRING};

/// Glance's default `image_member_quota`.
pub const MAX_MEMBERS: usize = 128;

/// A member's answer to the share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberStatus {
    /// Not answered yet (every new member).
    Pending,
    /// Accepted: the image shows in the member's default list.
    Accepted,
    /// Rejected.
    Rejected,
}

impl MemberStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Pending => "pending",
            MemberStatus::Accepted => "accepted",
            MemberStatus::Rejected => "rejected",
        }
    }

    /// Parses a wire name.
    pub fn parse(raw: &str) -> Result<MemberStatus, ValidationError> {
        match raw {
            "pending" => Ok(MemberStatus::Pending),
            "accepted" => Ok(MemberStatus::Accepted),
            "rejected" => Ok(MemberStatus::Rejected),
            other => Err(ValidationError::Invalid(format!(
                "Invalid member status '{other}': must be pending, accepted or rejected."
            ))),
        }
    }
}

/// One membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The shared image.
    pub image_id: String,
    /// The member project.
    pub member_id: String,
    /// Its answer.
    pub status: MemberStatus,
    /// When it was added.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

impl Member {
    /// The `member` schema's JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "created_at": self.created_at,
            "image_id": self.image_id,
            "member_id": self.member_id,
            "schema": "/v2/schemas/member",
            "status": self.status.as_str(),
            "updated_at": self.updated_at,
        })
    }
}

fn object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ValidationError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ValidationError::Invalid("The request body must be a JSON object.".into())),
        Err(_) => Err(ValidationError::Invalid("Malformed JSON in request body.".into())),
    }
}

/// `POST /members` body: `{"member": "<project id>"}`.
pub fn parse_new_member(body: &[u8]) -> Result<String, ValidationError> {
    let map = object(body)?;
    match map.get("member") {
        Some(Value::String(id)) if !id.is_empty() && id.chars().count() <= MAX_STRING => Ok(id.clone()),
        Some(_) => {
            Err(ValidationError::Invalid(format!("'member' must be a project id of 1 to {MAX_STRING} characters.")))
        }
        None => Err(ValidationError::Invalid(
            "Member to be added not specified: send {\"member\": \"<project id>\"}.".into(),
        )),
    }
}

/// `PUT /members/{member}` body: `{"status": "accepted"}`.
pub fn parse_status_change(body: &[u8]) -> Result<MemberStatus, ValidationError> {
    let map = object(body)?;
    match map.get("status") {
        Some(Value::String(status)) => MemberStatus::parse(status),
        Some(_) => Err(ValidationError::Invalid("'status' must be a string.".into())),
        None => Err(ValidationError::Invalid("Status not specified: send {\"status\": \"accepted\"}.".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_json_has_the_schemas_keys() {
        let member = Member {
            image_id: "i".into(),
            member_id: "p2".into(),
            status: MemberStatus::Pending,
            created_at: "t".into(),
            updated_at: "t".into(),
        };
        let schema: Value = serde_json::from_str(include_str!("../../schemas/member.json")).unwrap();
        let mut expected: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        expected.sort();
        let shown = member.to_json();
        let mut keys: Vec<&String> = shown.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, expected);
    }

    #[test]
    fn bodies_are_validated() {
        assert_eq!(parse_new_member(br#"{"member": "p2"}"#), Ok("p2".into()));
        for bad in [&br#"{}"#[..], br#"{"member": ""}"#, br#"{"member": 5}"#, b"[]", b"{"] {
            assert!(parse_new_member(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_status_change(br#"{"status": "accepted"}"#), Ok(MemberStatus::Accepted));
        for bad in [&br#"{"status": "maybe"}"#[..], br#"{}"#, br#"{"status": 1}"#] {
            assert!(parse_status_change(bad).is_err());
        }
    }
}
