//! Fixed wire formats that are not the image record itself.

pub mod bookmark;
pub mod conditional;
pub mod documents;
pub mod range;
pub mod v1;
