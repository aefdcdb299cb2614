//! VDI (VirtualBox; qemu's `block/vdi.c`): a little-endian header whose
//! signature is at 0x40 and disk size at 0x170. oslo has no safety check
//! for it.

use super::view::{field, View};
use super::{Finding, Format, Probe};

const SIGNATURE: u32 = 0xbeda_107f;
const HEADER: u64 = 512;

/// Detects vdi.
pub(crate) fn probe(view: &View) -> Probe {
    let head = view.read(0, HEADER)?;
    // oslo matches only a whole 512-byte header.
    if head.len() < HEADER as usize || field::u32_le(&head, 0x40) != SIGNATURE {
        return Ok(None);
    }
    Ok(Some(Finding::new(Format::Vdi, Some(field::u64_le(&head, 0x170)).filter(|&s| s != 0))))
}

#[cfg(test)]
mod tests {
    use crate::domain::format::{inspect_bytes, Finding, Format};

    #[test]
    fn vdi_is_detected_with_its_size() {
        let mut img = vec![0u8; 512];
        img[0x40..0x44].copy_from_slice(&0xbeda_107fu32.to_le_bytes());
        img[0x170..0x178].copy_from_slice(&4096u64.to_le_bytes());
        assert_eq!(inspect_bytes(&img).matches, vec![Finding::new(Format::Vdi, Some(4096))]);
        assert!(inspect_bytes(&img[..511]).matches.is_empty());
    }
}
