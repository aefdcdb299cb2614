//! qcow2 (QEMU copy-on-write, versions 2 and 3; qemu's
//! `docs/interop/qcow2.txt`): a big-endian header at offset 0, then header
//! extensions. Safe means no backing file, no external data file and no
//! incompatible feature this inspector does not know.

use super::view::{field, View};
use super::{Finding, Format, Probe, Unsafe};

const MAGIC: &[u8; 4] = b"QFI\xfb";
/// The fixed header of version 2; version 3 adds fields up to 104.
const V2_HEADER: usize = 72;
/// Incompatible feature bits: dirty, corrupt, external data file,
/// compression type. Any other bit is refused (oslo knows bits 0 to 3).
const KNOWN_INCOMPATIBLE: u64 = 0b1111;
const DATA_FILE_BIT: u64 = 1 << 2;
/// The header extension naming an external data file ("DATA").
const EXT_DATA_FILE: u32 = 0x4441_5441;
/// Header extensions walked at most (each is at least 8 bytes; the walk
/// also stops at the end of the head read).
const MAX_EXTENSIONS: usize = 1024;

/// Detects qcow2 and runs its safety checks.
pub(crate) fn probe(view: &View) -> Probe {
    let head = view.read(0, super::HEAD)?;
    if !head.starts_with(MAGIC) {
        return Ok(None);
    }
    Ok(Some(inspect(&head)))
}

/// Parses a header that starts with the magic.
pub(crate) fn inspect(head: &[u8]) -> Finding {
    if head.len() < V2_HEADER {
        return Finding::unsafe_(Format::Qcow2, Unsafe::Malformed("truncated header"));
    }
    let version = field::u32_be(head, 4);
    let mut finding = Finding::new(Format::Qcow2, Some(field::u64_be(head, 24)));
    if field::u64_be(head, 8) != 0 {
        finding.problems.push(Unsafe::BackingFile);
    }
    let extensions_at = match version {
        2 => V2_HEADER,
        3 => {
            let features = field::u64_be(head, 72);
            if features & DATA_FILE_BIT != 0 {
                finding.problems.push(Unsafe::DataFile);
            }
            if features & !KNOWN_INCOMPATIBLE != 0 {
                finding.problems.push(Unsafe::UnknownFeatures(features & !KNOWN_INCOMPATIBLE));
            }
            // header_length: 104 or more in version 3.
            (field::u32_be(head, 100) as usize).max(104)
        }
        other => {
            finding.problems.push(Unsafe::Version(other));
            return finding;
        }
    };
    if has_data_file_extension(head, extensions_at) && !finding.problems.contains(&Unsafe::DataFile) {
        finding.problems.push(Unsafe::DataFile);
    }
    finding
}

/// Whether the header extensions (within `head`) name a data file.
fn has_data_file_extension(head: &[u8], mut at: usize) -> bool {
    for _ in 0..MAX_EXTENSIONS {
        if at.saturating_add(8) > head.len() {
            return false;
        }
        let kind = field::u32_be(head, at);
        if kind == 0 {
            return false;
        }
        if kind == EXT_DATA_FILE {
            return true;
        }
        let length = field::u32_be(head, at + 4) as usize;
        // Data padded to a multiple of 8.
        at = at.saturating_add(8).saturating_add(length.saturating_add(7) & !7);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-3 header of `size` bytes of virtual disk.
    pub(crate) fn header(size: u64) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..4].copy_from_slice(MAGIC);
        h[4..8].copy_from_slice(&3u32.to_be_bytes());
        h[20..24].copy_from_slice(&16u32.to_be_bytes());
        h[24..32].copy_from_slice(&size.to_be_bytes());
        h[100..104].copy_from_slice(&112u32.to_be_bytes());
        h
    }

    #[test]
    fn a_plain_header_is_safe_with_its_size() {
        let f = inspect(&header(1 << 30));
        assert_eq!(f.virtual_size, Some(1 << 30));
        assert!(f.problems.is_empty());
    }

    #[test]
    fn a_backing_file_is_refused() {
        let mut h = header(1);
        h[8..16].copy_from_slice(&0x200u64.to_be_bytes());
        assert_eq!(inspect(&h).problems, vec![Unsafe::BackingFile]);
    }

    #[test]
    fn a_data_file_bit_or_extension_is_refused() {
        let mut h = header(1);
        h[79] = 0x04;
        assert_eq!(inspect(&h).problems, vec![Unsafe::DataFile]);
        let mut h = header(1);
        // An unknown extension first, then DATA.
        h[112..116].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        h[116..120].copy_from_slice(&3u32.to_be_bytes());
        h[128..132].copy_from_slice(&EXT_DATA_FILE.to_be_bytes());
        assert_eq!(inspect(&h).problems, vec![Unsafe::DataFile]);
    }

    #[test]
    fn unknown_incompatible_features_are_refused() {
        let mut h = header(1);
        h[79] = 0x1f; // bit 4 (extended L2) is beyond what oslo knows
        assert_eq!(inspect(&h).problems, vec![Unsafe::DataFile, Unsafe::UnknownFeatures(0x10)]);
        let mut h = header(1);
        h[72] = 0x80;
        assert_eq!(inspect(&h).problems, vec![Unsafe::UnknownFeatures(1 << 63)]);
        // Known bits (dirty, corrupt, compression type) pass.
        let mut h = header(1);
        h[79] = 0x0b;
        assert!(inspect(&h).problems.is_empty());
    }

    #[test]
    fn version_2_has_no_feature_field_and_other_versions_are_refused() {
        let mut h = header(1);
        h[7] = 2;
        h[79] = 0xff; // not a feature field in version 2
        assert!(inspect(&h).problems.is_empty());
        h[7] = 1;
        assert_eq!(inspect(&h).problems, vec![Unsafe::Version(1)]);
    }

    #[test]
    fn a_truncated_header_is_malformed() {
        let h = header(1);
        assert_eq!(inspect(&h[..40]).problems, vec![Unsafe::Malformed("truncated header")]);
    }

    #[test]
    fn a_hostile_extension_chain_ends() {
        let mut h = header(1);
        for at in (112..512).step_by(8) {
            h[at..at + 4].copy_from_slice(&1u32.to_be_bytes());
            h[at + 4..at + 8].copy_from_slice(&u32::MAX.to_be_bytes());
        }
        assert!(inspect(&h).problems.is_empty());
    }
}
