//! Optical disc images: ISO 9660 (ECMA-119) and UDF (ECMA-167). 2048-byte
//! sectors; the first 16 are the system area (a hybrid ISO's boot code and
//! partition table live there). ISO 9660's primary volume descriptor is at
//! sector 16 and gives the volume size; UDF announces itself by a volume
//! recognition sequence (BEA01, then NSR02 or NSR03) from sector 16 and an
//! anchor volume descriptor pointer at sector 256. No safety check (as
//! oslo).

use super::view::{field, View};
use super::{Finding, Format, Probe};

const SECTOR: u64 = 2048;
const FIRST_DESCRIPTOR: u64 = 16;
/// The volume recognition sequence is read within the head (sectors 16
/// to 31).
const LAST_DESCRIPTOR: u64 = super::HEAD / SECTOR - 1;
const ANCHOR: u64 = 256;
/// The anchor volume descriptor pointer's tag identifier.
const ANCHOR_TAG: u16 = 2;
const PRIMARY: u8 = 1;

/// Detects an ISO 9660 or UDF image.
pub(crate) fn probe(view: &View) -> Probe {
    let first = view.read(FIRST_DESCRIPTOR * SECTOR, SECTOR)?;
    if first.len() < SECTOR as usize {
        return Ok(None);
    }
    // oslo's rule: sector 16 identifies itself as ISO 9660 or as UDF.
    if matches!(&first[1..6], b"CD001" | b"NSR02" | b"NSR03") {
        return Ok(Some(Finding::new(Format::Iso, primary_size(&first))));
    }
    if !recognition_sequence(view)? {
        return Ok(None);
    }
    let anchor = view.read(ANCHOR * SECTOR, 16)?;
    let found = anchor.len() == 16 && field::u16_le(&anchor, 0) == ANCHOR_TAG;
    Ok(found.then(|| Finding::new(Format::Iso, None)))
}

/// A primary volume descriptor's size: volume space size (both-endian
/// 32-bit at 80) times logical block size (both-endian 16-bit at 128).
fn primary_size(d: &[u8]) -> Option<u64> {
    if d[0] != PRIMARY || &d[1..6] != b"CD001" {
        return None;
    }
    let blocks = u64::from(field::u32_le(d, 80));
    let block = u64::from(field::u16_le(d, 128));
    Some(blocks * block).filter(|&s| s != 0)
}

/// Whether the sectors from 16 hold BEA01 followed by NSR02 or NSR03.
fn recognition_sequence(view: &View) -> Result<bool, super::view::Need> {
    let mut begun = false;
    for sector in FIRST_DESCRIPTOR..=LAST_DESCRIPTOR {
        let d = view.read(sector * SECTOR, 8)?;
        if d.len() < 6 {
            return Ok(false);
        }
        match &d[1..6] {
            b"BEA01" => begun = true,
            b"NSR02" | b"NSR03" if begun => return Ok(true),
            b"TEA01" => return Ok(false),
            // Other descriptors (CD001, BOOT2, CDW02) may sit between.
            b"CD001" | b"BOOT2" | b"CDW02" => {}
            _ => return Ok(false),
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use crate::domain::format::{inspect_bytes, Finding, Format};

    fn descriptor(img: &mut [u8], sector: usize, kind: u8, id: &[u8; 5]) {
        img[sector * 2048] = kind;
        img[sector * 2048 + 1..sector * 2048 + 6].copy_from_slice(id);
    }

    #[test]
    fn an_iso9660_image_has_its_volume_size() {
        let mut img = vec![0u8; 40 * 2048];
        descriptor(&mut img, 16, 1, b"CD001");
        img[16 * 2048 + 80..16 * 2048 + 84].copy_from_slice(&40u32.to_le_bytes());
        img[16 * 2048 + 128..16 * 2048 + 130].copy_from_slice(&2048u16.to_le_bytes());
        assert_eq!(inspect_bytes(&img).matches, vec![Finding::new(Format::Iso, Some(40 * 2048))]);
        // Not primary: no size.
        img[16 * 2048] = 2;
        assert_eq!(inspect_bytes(&img).matches, vec![Finding::new(Format::Iso, None)]);
        // Cut inside sector 16: not an ISO.
        assert!(inspect_bytes(&img[..33000]).matches.is_empty());
    }

    #[test]
    fn a_udf_image_needs_its_sequence_and_anchor() {
        let mut img = vec![0u8; 300 * 2048];
        descriptor(&mut img, 16, 0, b"BEA01");
        descriptor(&mut img, 17, 0, b"NSR03");
        descriptor(&mut img, 18, 0, b"TEA01");
        assert!(inspect_bytes(&img).matches.is_empty());
        img[256 * 2048] = 2;
        assert_eq!(inspect_bytes(&img).matches, vec![Finding::new(Format::Iso, None)]);
        // No BEA01 first: not UDF.
        descriptor(&mut img, 16, 0, b"XXXXX");
        assert!(inspect_bytes(&img).matches.is_empty());
        // NSR at sector 16 is UDF by oslo's rule.
        descriptor(&mut img, 16, 0, b"NSR02");
        assert_eq!(inspect_bytes(&img).matches, vec![Finding::new(Format::Iso, None)]);
    }
}
