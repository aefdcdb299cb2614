//! LUKS (cryptsetup's "LUKS On-Disk Format Specification"): a big-endian
//! header ("LUKS\xba\xbe"). As oslo: version 1 only (its payload follows
//! the key material; the virtual size is what follows the payload offset),
//! and without a passphrase the inner format is not inspected.

use super::view::{field, View};
use super::{Finding, Format, Probe, Unsafe};

const MAGIC: &[u8; 6] = b"LUKS\xba\xbe";
/// The phdr up to the payload offset and key size.
const HEADER: u64 = 112;

/// Detects luks and runs its version check.
pub(crate) fn probe(view: &View) -> Probe {
    let head = view.read(0, HEADER)?;
    if !head.starts_with(MAGIC) {
        return Ok(None);
    }
    if head.len() < HEADER as usize {
        return Ok(Some(Finding::unsafe_(Format::Luks, Unsafe::Malformed("truncated header"))));
    }
    let version = field::u16_be(&head, 6);
    if version != 1 {
        return Ok(Some(Finding::unsafe_(Format::Luks, Unsafe::Version(version.into()))));
    }
    let payload = u64::from(field::u32_be(&head, 104)).saturating_mul(512);
    let size = view.size().checked_sub(payload).filter(|&s| s != 0);
    Ok(Some(Finding::new(Format::Luks, size)))
}

#[cfg(test)]
mod tests {
    use crate::domain::format::{inspect_bytes, Finding, Format, Unsafe};

    fn header(version: u16, payload_sectors: u32) -> Vec<u8> {
        let mut h = vec![0u8; 8192];
        h[..6].copy_from_slice(b"LUKS\xba\xbe");
        h[6..8].copy_from_slice(&version.to_be_bytes());
        h[104..108].copy_from_slice(&payload_sectors.to_be_bytes());
        h
    }

    #[test]
    fn luks1_is_detected_with_the_payload_size() {
        assert_eq!(inspect_bytes(&header(1, 4)).matches, vec![Finding::new(Format::Luks, Some(8192 - 2048))]);
        // A payload offset past the end: no size.
        assert_eq!(inspect_bytes(&header(1, u32::MAX)).matches, vec![Finding::new(Format::Luks, None)]);
    }

    #[test]
    fn other_versions_and_short_headers_are_refused() {
        assert_eq!(inspect_bytes(&header(2, 4)).matches[0].problems, vec![Unsafe::Version(2)]);
        assert_eq!(inspect_bytes(&header(1, 4)[..50]).matches[0].problems, vec![Unsafe::Malformed("truncated header")]);
    }
}
