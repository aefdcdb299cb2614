//! Glance's decision on uploaded data (glance `location.py`,
//! `ImageProxy.set_data`, for `container_format: bare`): the detected
//! format against the declared `disk_format`, the virtual size recorded,
//! then the detected format's safety checks whatever was declared.

use super::{Finding, Format, Inspection, Unsafe};
use crate::domain::image::DiskFormat;

/// Data Glance accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The virtual size to record (None: leave it unset, as Glance does
    /// when it has none or it is 0).
    pub virtual_size: Option<u64>,
    /// The format the data was taken as.
    pub detected: Format,
}

/// Why data is refused; the Display is the reason sentence (a 415 body,
/// a failed task's message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatRefusal {
    /// Several formats matched (not an ISO with a partition table).
    #[error("Image data matches several formats ({}): refused.", names(.0))]
    Multiple(Vec<Format>),
    /// The data is not the declared format.
    #[error("Image disk_format {} does not match the image data, which is {detected}: refused.", .declared.as_str())]
    Mismatch {
        /// What the image says.
        declared: DiskFormat,
        /// What the data is.
        detected: Format,
    },
    /// A safety check failed.
    #[error("Image data is {format} {problem}: refused.")]
    Unsafe {
        /// The detected format.
        format: Format,
        /// The first check that failed.
        problem: Unsafe,
    },
    /// The format's headers could not all be read, so it was not checked.
    #[error("Image data is {format} but could not be read far enough to check it: refused.")]
    Incomplete {
        /// The detected format.
        format: Format,
    },
}

fn names(formats: &[Format]) -> String {
    formats.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
}

/// The inspector a declared format is checked against; None for the
/// formats Glance cannot inspect (ami, ari, aki, ploop).
pub fn inspectable(declared: DiskFormat) -> Option<Format> {
    match declared {
        DiskFormat::Raw => Some(Format::Raw),
        DiskFormat::Qcow2 => Some(Format::Qcow2),
        DiskFormat::Vhd => Some(Format::Vhd),
        DiskFormat::Vhdx => Some(Format::Vhdx),
        DiskFormat::Vmdk => Some(Format::Vmdk),
        DiskFormat::Vdi => Some(Format::Vdi),
        DiskFormat::Iso => Some(Format::Iso),
        DiskFormat::Ami | DiskFormat::Ari | DiskFormat::Aki | DiskFormat::Ploop => None,
    }
}

/// The one finding the data is taken as (None: raw), or the formats that
/// matched together.
fn choose(matches: &[Finding]) -> Result<Option<Finding>, Vec<Format>> {
    let formats: Vec<Format> = matches.iter().map(|f| f.format).collect();
    let pick = |format| matches.iter().find(|f| f.format == format).cloned();
    match formats.as_slice() {
        [] => Ok(None),
        [_] => Ok(matches.first().cloned()),
        // A bootable ISO may carry a partition table in its system area
        // (Glance then checks the ISO only).
        [Format::Iso, Format::Gpt] => Ok(pick(Format::Iso)),
        // A fixed VHD is a raw disk then its footer: its partition table is
        // the disk's own (Glance cannot see fixed VHDs at all, and would
        // take the disk as gpt), so the table's checks still apply.
        [Format::Vhd, Format::Gpt] if matches[0].raw_inside => {
            let mut vhd = matches[0].clone();
            vhd.problems.extend(matches[1].problems.iter().cloned());
            Ok(Some(vhd))
        }
        _ => Err(formats),
    }
}

/// Glance's decision for data declared as `declared`, `stored_size` bytes.
pub fn decide(
    inspection: &Inspection,
    declared: DiskFormat,
    require_format_match: bool,
    stored_size: u64,
) -> Result<Accepted, FormatRefusal> {
    let chosen = match choose(&inspection.matches) {
        Ok(chosen) => chosen,
        // Glance cannot name one format: refused when a match is required,
        // else accepted without a size and without safety checks.
        Err(formats) if require_format_match => return Err(FormatRefusal::Multiple(formats)),
        Err(formats) => return Ok(Accepted { virtual_size: None, detected: formats[0] }),
    };
    let detected = chosen.as_ref().map_or(Format::Raw, |f| f.format);
    let virtual_size = if inspectable(declared) == Some(detected) {
        // Raw's virtual size is the bytes themselves.
        chosen.as_ref().map_or(Some(stored_size), |f| f.virtual_size)
    } else if detected == Format::Raw && inspectable(declared).is_none() {
        None
    } else if declared == DiskFormat::Raw {
        // Declared raw, but a richer format: taken as raw, sized by bytes.
        Some(stored_size)
    } else if require_format_match {
        return Err(FormatRefusal::Mismatch { declared, detected });
    } else {
        // Glance logs the mismatch and stops there: no size, no checks.
        return Ok(Accepted { virtual_size: None, detected });
    };
    let virtual_size = virtual_size.filter(|&s| s != 0);
    if let Some(finding) = chosen {
        if let Some(problem) = finding.problems.first() {
            return Err(FormatRefusal::Unsafe { format: detected, problem: problem.clone() });
        }
        // Glance cannot safety-check an incomplete inspection: an error
        // that refuses the data only when a match is required.
        if finding.incomplete && require_format_match {
            return Err(FormatRefusal::Incomplete { format: detected });
        }
    }
    Ok(Accepted { virtual_size, detected })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspection(matches: Vec<Finding>) -> Inspection {
        Inspection { size: 1000, matches }
    }

    fn qcow2(size: u64) -> Finding {
        Finding::new(Format::Qcow2, Some(size))
    }

    #[test]
    fn a_match_takes_the_detected_size() {
        let got = decide(&inspection(vec![qcow2(1 << 30)]), DiskFormat::Qcow2, true, 1000);
        assert_eq!(got, Ok(Accepted { virtual_size: Some(1 << 30), detected: Format::Qcow2 }));
        let got = decide(&inspection(vec![]), DiskFormat::Raw, true, 1000);
        assert_eq!(got, Ok(Accepted { virtual_size: Some(1000), detected: Format::Raw }));
        let got = decide(&inspection(vec![Finding::new(Format::Iso, None)]), DiskFormat::Iso, true, 1000);
        assert_eq!(got, Ok(Accepted { virtual_size: None, detected: Format::Iso }));
    }

    #[test]
    fn declared_raw_takes_any_safe_format_sized_by_its_bytes() {
        let got = decide(&inspection(vec![qcow2(1 << 30)]), DiskFormat::Raw, true, 1000);
        assert_eq!(got, Ok(Accepted { virtual_size: Some(1000), detected: Format::Qcow2 }));
        let unsafe_ = Finding::unsafe_(Format::Qcow2, Unsafe::BackingFile);
        let got = decide(&inspection(vec![unsafe_]), DiskFormat::Raw, false, 1000).unwrap_err();
        assert_eq!(got.to_string(), "Image data is qcow2 with a backing file: refused.");
    }

    #[test]
    fn uninspectable_formats_take_raw_data_only() {
        for declared in [DiskFormat::Ami, DiskFormat::Ari, DiskFormat::Aki, DiskFormat::Ploop] {
            let got = decide(&inspection(vec![]), declared, true, 1000);
            assert_eq!(got, Ok(Accepted { virtual_size: None, detected: Format::Raw }));
            let got = decide(&inspection(vec![qcow2(5)]), declared, true, 1000);
            assert_eq!(got, Err(FormatRefusal::Mismatch { declared, detected: Format::Qcow2 }));
        }
    }

    #[test]
    fn a_mismatch_is_refused_only_when_a_match_is_required() {
        let got = decide(&inspection(vec![]), DiskFormat::Qcow2, true, 1000).unwrap_err();
        assert_eq!(got.to_string(), "Image disk_format qcow2 does not match the image data, which is raw: refused.");
        let got = decide(&inspection(vec![]), DiskFormat::Qcow2, false, 1000);
        assert_eq!(got, Ok(Accepted { virtual_size: None, detected: Format::Raw }));
        // Glance runs no safety check after a mismatch it lets through.
        let unsafe_ = Finding::unsafe_(Format::Qcow2, Unsafe::BackingFile);
        let got = decide(&inspection(vec![unsafe_]), DiskFormat::Vmdk, false, 1000);
        assert_eq!(got, Ok(Accepted { virtual_size: None, detected: Format::Qcow2 }));
    }

    #[test]
    fn safety_checks_run_whatever_was_declared() {
        let unsafe_ = Finding::unsafe_(Format::Vmdk, Unsafe::VmdkExtentPath);
        for require in [true, false] {
            let got = decide(&inspection(vec![unsafe_.clone()]), DiskFormat::Vmdk, require, 1000).unwrap_err();
            assert_eq!(
                got.to_string(),
                "Image data is vmdk with an extent file name containing a path separator: refused."
            );
        }
        let qed = Finding::unsafe_(Format::Qed, Unsafe::Banned);
        let got = decide(&inspection(vec![qed]), DiskFormat::Raw, true, 1000).unwrap_err();
        assert_eq!(got.to_string(), "Image data is qed (a format that is not allowed): refused.");
    }

    #[test]
    fn several_formats_are_refused_except_iso_with_a_partition_table() {
        let iso = Finding::new(Format::Iso, Some(4096));
        let gpt = Finding::new(Format::Gpt, Some(1000));
        let got = decide(&inspection(vec![iso.clone(), gpt.clone()]), DiskFormat::Iso, true, 1000);
        assert_eq!(got, Ok(Accepted { virtual_size: Some(4096), detected: Format::Iso }));
        let got = decide(&inspection(vec![qcow2(1), gpt.clone()]), DiskFormat::Qcow2, true, 1000).unwrap_err();
        assert_eq!(got.to_string(), "Image data matches several formats (qcow2, gpt): refused.");
        let got = decide(&inspection(vec![qcow2(1), gpt.clone()]), DiskFormat::Qcow2, false, 1000);
        assert_eq!(got, Ok(Accepted { virtual_size: None, detected: Format::Qcow2 }));
        // A fixed VHD holding a partitioned disk is a vhd.
        let fixed = Finding { raw_inside: true, ..Finding::new(Format::Vhd, Some(900)) };
        let got = decide(&inspection(vec![fixed.clone(), gpt.clone()]), DiskFormat::Vhd, true, 1000);
        assert_eq!(got, Ok(Accepted { virtual_size: Some(900), detected: Format::Vhd }));
        // Its partition table is still checked.
        let bad = Finding::unsafe_(Format::Gpt, Unsafe::PartitionTable("no partition is defined"));
        let got = decide(&inspection(vec![fixed, bad]), DiskFormat::Raw, true, 1000).unwrap_err();
        assert_eq!(
            got.to_string(),
            "Image data is vhd with an invalid partition table (no partition is defined): refused."
        );
        let dynamic = Finding::new(Format::Vhd, Some(900));
        assert!(decide(&inspection(vec![dynamic, gpt]), DiskFormat::Vhd, true, 1000).is_err());
    }

    #[test]
    fn an_incomplete_inspection_is_refused_when_a_match_is_required() {
        let f = Finding { incomplete: true, ..Finding::new(Format::Vhdx, None) };
        let got = decide(&inspection(vec![f.clone()]), DiskFormat::Vhdx, true, 1000).unwrap_err();
        assert_eq!(got.to_string(), "Image data is vhdx but could not be read far enough to check it: refused.");
        let got = decide(&inspection(vec![f]), DiskFormat::Vhdx, false, 1000);
        assert_eq!(got, Ok(Accepted { virtual_size: None, detected: Format::Vhdx }));
    }

    #[test]
    fn a_zero_size_is_no_size() {
        let got = decide(&inspection(vec![]), DiskFormat::Raw, true, 0);
        assert_eq!(got, Ok(Accepted { virtual_size: None, detected: Format::Raw }));
    }
}
