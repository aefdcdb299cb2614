//! The Glance v2 API.

pub mod actions;
pub mod cache;
pub mod image_data;
pub mod images;
pub mod imports;
pub mod locations;
pub mod members;
pub mod metadefs;
pub mod stores;
pub mod tags;
pub mod tasks;
pub mod uploads;
pub mod usage;
