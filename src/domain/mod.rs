//! Pure domain logic: no runtime, HTTP or storage imports; all unit-tested
//! on the host. One room per concept:
//!
//! - [`image`]: the image record and its write rules, the status machines
//!   ([`image::status`]) and JSON-patch ([`image::patch`]);
//! - [`access`]: who may do what: the policy table ([`access::policy`]),
//!   Keystone identities ([`access::auth`]) and image members
//!   ([`access::member`]);
//! - [`hash`]: the digest algorithms;
//! - [`listing`]: list queries (filters, sorts, paging) and their SQL;
//! - [`wire`]: fixed wire formats: v1 headers ([`wire::v1`]), the versions,
//!   schemas and info documents ([`wire::documents`]), download ranges
//!   ([`wire::range`]);
//! - [`metadefs`]: the metadata definitions catalog (namespaces and their
//!   objects, properties, tags and resource type associations);
//! - [`resumable`]: resumable uploads (tus): offsets mapped onto R2 parts,
//!   and the tus headers;
//! - [`quota`]: per-project limits (Glance's unified limits), usage and the
//!   check;
//! - [`time`]: Glance's timestamps;
//! - [`format`]: disk-image format inspection (formats, virtual sizes,
//!   safety checks) and Glance's decision against the declared format.

pub mod access;
pub mod format;
pub mod hash;
pub mod image;
pub mod import;
pub mod listing;
pub mod metadefs;
pub mod quota;
pub mod resumable;
pub mod stores;
pub mod task;
pub mod time;
pub mod wire;

/// An operator's setting that cannot be used, saying what is wrong with
/// it. Routes that need the setting answer 500 (the detail goes to the
/// log), rather than guess.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Misconfigured(pub String);
