//! Pure domain logic: no runtime imports, all unit-tested on the host.

pub mod auth;
pub mod documents;
pub mod image;
pub mod member;
pub mod patch;
pub mod policy;
pub mod query;
pub mod range;
pub mod status;
pub mod time;
pub mod v1;
