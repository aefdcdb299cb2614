//! VHD (Microsoft's "Virtual Hard Disk Image Format Specification"; "vpc"
//! in qemu): a 512-byte big-endian footer ("conectix") at the end of every
//! disk, copied to offset 0 in dynamic and differencing disks. A fixed disk
//! is the raw disk followed by its footer. Differencing disks (they read a
//! parent file) are refused.

use super::view::{field, View};
use super::{Finding, Format, Probe, Unsafe};

const COOKIE: &[u8; 8] = b"conectix";
const FOOTER: u64 = 512;
const FIXED: u32 = 2;
const DIFFERENCING: u32 = 4;

/// Detects vhd (the copy at offset 0, else a fixed disk's footer at the
/// end) and runs its safety check.
pub(crate) fn probe(view: &View) -> Probe {
    let head = view.read(0, FOOTER)?;
    if head.starts_with(COOKIE) {
        return Ok(Some(footer(&head)));
    }
    let tail = view.read(view.size().saturating_sub(FOOTER), FOOTER)?;
    // Only a fixed disk has its footer at the end alone.
    if tail.len() == FOOTER as usize && tail.starts_with(COOKIE) && field::u32_be(&tail, 60) == FIXED {
        return Ok(Some(Finding { raw_inside: true, ..footer(&tail) }));
    }
    Ok(None)
}

/// Reads a footer that starts with the cookie: the size (the "original
/// size" field, as oslo reads it) and the disk type.
fn footer(b: &[u8]) -> Finding {
    if b.len() < FOOTER as usize {
        return Finding::unsafe_(Format::Vhd, Unsafe::Malformed("truncated footer"));
    }
    let mut finding = Finding::new(Format::Vhd, Some(field::u64_be(b, 40)).filter(|&s| s != 0));
    if field::u32_be(b, 60) == DIFFERENCING {
        finding.problems.push(Unsafe::VhdDifferencing);
    }
    finding
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::format::inspect_bytes;

    fn footer_bytes(size: u64, kind: u32) -> Vec<u8> {
        let mut f = vec![0u8; 512];
        f[..8].copy_from_slice(COOKIE);
        f[40..48].copy_from_slice(&size.to_be_bytes());
        f[48..56].copy_from_slice(&size.to_be_bytes());
        f[60..64].copy_from_slice(&kind.to_be_bytes());
        f
    }

    #[test]
    fn a_dynamic_disk_is_read_from_its_copy_at_the_start() {
        let mut img = footer_bytes(1 << 26, 3);
        img.extend(vec![0u8; 2048]);
        img.extend(footer_bytes(1 << 26, 3));
        let found = inspect_bytes(&img);
        assert_eq!(found.matches, vec![Finding::new(Format::Vhd, Some(1 << 26))]);
    }

    #[test]
    fn a_fixed_disk_is_read_from_its_footer() {
        let mut img = vec![0u8; 4096];
        img.extend(footer_bytes(4096, FIXED));
        let found = inspect_bytes(&img);
        assert_eq!(found.matches.len(), 1);
        assert_eq!((found.matches[0].virtual_size, found.matches[0].raw_inside), (Some(4096), true));
        // A footer at the end of a dynamic type is not a fixed disk.
        let mut img = vec![0u8; 4096];
        img.extend(footer_bytes(4096, 3));
        assert!(inspect_bytes(&img).matches.is_empty());
    }

    #[test]
    fn a_differencing_disk_is_refused() {
        let f = footer(&footer_bytes(1, DIFFERENCING));
        assert_eq!(f.problems, vec![Unsafe::VhdDifferencing]);
        assert_eq!(footer(&COOKIE[..]).problems, vec![Unsafe::Malformed("truncated footer")]);
    }
}
