//! Image members in D1 (`image_members`).

use serde::Deserialize;

use super::d1::Db;
use super::statements;
use super::StoreError;
use crate::domain::access::member::{Member, MemberStatus};
use crate::domain::listing::SqlValue;

/// The memberships of images.
pub struct Members {
    db: Db,
}

#[derive(Deserialize)]
struct MemberRow {
    image_id: String,
    member: String,
    status: String,
    created_at: String,
    updated_at: String,
}

fn text(params: &[&str]) -> Vec<SqlValue> {
    params.iter().map(|p| SqlValue::Text((*p).to_owned())).collect()
}

impl TryFrom<MemberRow> for Member {
    type Error = StoreError;
    fn try_from(row: MemberRow) -> Result<Member, StoreError> {
        Ok(Member {
            status: MemberStatus::parse(&row.status)
                .map_err(|_| StoreError::Corrupt(format!("member status of image {}", row.image_id)))?,
            image_id: row.image_id,
            member_id: row.member,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

impl Members {
    /// Wraps the D1 binding.
    pub fn new(db: Db) -> Members {
        Members { db }
    }

    async fn rows(&self, sql: &str, params: &[&str]) -> Result<Vec<Member>, StoreError> {
        self.db.rows::<MemberRow>(sql, &text(params)).await?.into_iter().map(Member::try_from).collect()
    }

    async fn changes(&self, sql: &str, params: &[&str]) -> Result<usize, StoreError> {
        self.db.changes(sql, &text(params)).await
    }

    /// Every member of an image, oldest first.
    pub async fn list(&self, image_id: &str) -> Result<Vec<Member>, StoreError> {
        self.rows("SELECT * FROM image_members WHERE image_id = ? ORDER BY created_at, member", &[image_id]).await
    }

    /// One membership.
    pub async fn get(&self, image_id: &str, member: &str) -> Result<Option<Member>, StoreError> {
        let rows =
            self.rows("SELECT * FROM image_members WHERE image_id = ? AND member = ?", &[image_id, member]).await?;
        Ok(rows.into_iter().next())
    }

    /// Adds a membership unless the image already has `max` members, in one
    /// statement (so concurrent adds cannot exceed the quota); `false` when
    /// the quota is full, `Duplicate` if the project already is a member.
    pub async fn insert(&self, member: &Member, max: usize) -> Result<bool, StoreError> {
        let sql = statements::ADD_MEMBER;
        let mut params = text(&[
            member.image_id.as_str(),
            member.member_id.as_str(),
            member.status.as_str(),
            member.created_at.as_str(),
            member.updated_at.as_str(),
        ]);
        params.push(SqlValue::Int(max as i64));
        Ok(self.db.insert(sql, &params).await? == 1)
    }

    /// Sets a member's status; `false` if there is no such membership.
    pub async fn set_status(
        &self,
        image_id: &str,
        member: &str,
        status: MemberStatus,
        now: &str,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE image_members SET status = ?, updated_at = ? WHERE image_id = ? AND member = ?";
        Ok(self.changes(sql, &[status.as_str(), now, image_id, member]).await? == 1)
    }

    /// Removes a membership; `false` if there was none.
    pub async fn delete(&self, image_id: &str, member: &str) -> Result<bool, StoreError> {
        Ok(self.changes("DELETE FROM image_members WHERE image_id = ? AND member = ?", &[image_id, member]).await? == 1)
    }
}
