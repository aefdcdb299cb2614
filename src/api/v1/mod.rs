//! The original v1 API (`x-image-meta-*` headers), a second view of the same
//! images the v2 API serves.

pub mod images;
