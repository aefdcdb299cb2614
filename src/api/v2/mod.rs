//! The Glance v2 API.

pub mod actions;
pub mod image_data;
pub mod images;
pub mod members;
pub mod tags;
