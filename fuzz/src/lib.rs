//! What the fuzz targets share: every decision over one inspection.

use edge_glance::domain::format::{decide, Inspection};
use edge_glance::domain::image::DiskFormat;

/// Decides `found` for every declared format, with and without a required
/// match; a refusal must be a reason sentence.
pub fn decide_all(found: &Inspection, size: u64) {
    for declared in DiskFormat::ALL {
        for require in [true, false] {
            if let Err(refusal) = decide(found, *declared, require, size) {
                assert!(refusal.to_string().ends_with("refused."));
            }
        }
    }
}
