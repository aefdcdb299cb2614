//! VHDX (Microsoft's [MS-VHDX]): the file type identifier ("vhdxfile") at
//! 0, the region table at 192 KiB (signature "regi", up to 2047 entries),
//! whose metadata region entry locates the metadata table (signature
//! "metadata", up to 2047 entries), whose Virtual Disk Size item holds the
//! size. Little-endian; GUIDs in their on-disk (mixed-endian) byte order.
//! No safety check (as oslo); a table that cannot be followed leaves the
//! size unknown, as in oslo.

use super::view::{field, View};
use super::{Finding, Format, Probe};

const IDENTIFIER: &[u8; 8] = b"vhdxfile";
const REGION_TABLE_AT: u64 = 192 * 1024;
/// A region table, and a metadata table: 64 KiB each, at most 2047
/// entries of 32 bytes after a 16- or 32-byte header.
const TABLE: u64 = 64 * 1024;
const MAX_ENTRIES: usize = 2047;
const REGION_SIGNATURE: &[u8; 4] = b"regi";
const METADATA_SIGNATURE: &[u8; 8] = b"metadata";
/// 8B7CA206-4790-4B9A-B8FE-575F050F886E: the metadata region.
const METADATA_REGION: [u8; 16] =
    [0x06, 0xa2, 0x7c, 0x8b, 0x90, 0x47, 0x9a, 0x4b, 0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e];
/// 2FA54224-CD1B-4876-B211-5DBED83BF4B8: the Virtual Disk Size item.
const VIRTUAL_DISK_SIZE: [u8; 16] =
    [0x24, 0x42, 0xa5, 0x2f, 0x1b, 0xcd, 0x76, 0x48, 0xb2, 0x11, 0x5d, 0xbe, 0xd8, 0x3b, 0xf4, 0xb8];

/// Detects vhdx and finds its virtual size.
pub(crate) fn probe(view: &View) -> Probe {
    let head = view.read(0, IDENTIFIER.len() as u64)?;
    if !head.starts_with(IDENTIFIER) {
        return Ok(None);
    }
    let size = virtual_size(view).map_err(|n| n.matched())?;
    Ok(Some(Finding::new(Format::Vhdx, size.filter(|&s| s != 0))))
}

fn virtual_size(view: &View) -> Result<Option<u64>, super::view::Need> {
    let regions = view.read(REGION_TABLE_AT, TABLE)?;
    let Some(metadata_at) = find(&regions, REGION_SIGNATURE, 8, 16, &METADATA_REGION, |e| field::u64_le(e, 16)) else {
        return Ok(None);
    };
    let metadata = view.read(metadata_at, TABLE)?;
    let Some(item) =
        find(&metadata, METADATA_SIGNATURE, 10, 32, &VIRTUAL_DISK_SIZE, |e| u64::from(field::u32_le(e, 16)))
    else {
        return Ok(None);
    };
    let Some(item_at) = metadata_at.checked_add(item) else { return Ok(None) };
    let value = view.read(item_at, 8)?;
    Ok((value.len() == 8).then(|| field::u64_le(&value, 0)))
}

/// In a table starting with `signature`, whose entry count is at
/// `count_at` (u32 for regions, u16 for metadata: read as u16 here, the
/// bound is 2047 either way) and whose 32-byte entries start at `first`,
/// the entry with `guid`, through `value`.
fn find(
    table: &[u8],
    signature: &[u8],
    count_at: usize,
    first: usize,
    guid: &[u8; 16],
    value: impl Fn(&[u8]) -> u64,
) -> Option<u64> {
    if !table.starts_with(signature) {
        return None;
    }
    let count = if signature == REGION_SIGNATURE {
        field::u32_le(table, count_at) as usize
    } else {
        usize::from(field::u16_le(table, count_at))
    };
    if count > MAX_ENTRIES {
        return None;
    }
    (0..count).find_map(|i| {
        let entry = table.get(first + 32 * i..first + 32 * (i + 1))?;
        (&entry[..16] == guid).then(|| value(entry))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::format::inspect_bytes;

    /// A vhdx image whose metadata table is at `meta` and size item at
    /// `meta + item`.
    pub(crate) fn image(size: u64, meta: u64, item: u32) -> Vec<u8> {
        let mut img = vec![0u8; (meta + u64::from(item) + 4096) as usize];
        img[..8].copy_from_slice(IDENTIFIER);
        let rt = REGION_TABLE_AT as usize;
        img[rt..rt + 4].copy_from_slice(REGION_SIGNATURE);
        img[rt + 8..rt + 12].copy_from_slice(&2u32.to_le_bytes());
        // A first entry (the BAT, any GUID), then the metadata region.
        img[rt + 16..rt + 32].copy_from_slice(&[1; 16]);
        img[rt + 48..rt + 64].copy_from_slice(&METADATA_REGION);
        img[rt + 64..rt + 72].copy_from_slice(&meta.to_le_bytes());
        let m = meta as usize;
        img[m..m + 8].copy_from_slice(METADATA_SIGNATURE);
        img[m + 10..m + 12].copy_from_slice(&2u16.to_le_bytes());
        img[m + 32..m + 48].copy_from_slice(&[2; 16]);
        img[m + 64..m + 80].copy_from_slice(&VIRTUAL_DISK_SIZE);
        img[m + 80..m + 84].copy_from_slice(&item.to_le_bytes());
        let at = m + item as usize;
        img[at..at + 8].copy_from_slice(&size.to_le_bytes());
        img
    }

    #[test]
    fn the_size_is_found_through_the_tables() {
        let img = image(1 << 30, 1 << 20, 65536);
        assert_eq!(inspect_bytes(&img).matches, vec![Finding::new(Format::Vhdx, Some(1 << 30))]);
    }

    #[test]
    fn broken_tables_leave_the_size_unknown() {
        let good = image(1 << 30, 1 << 20, 65536);
        let rt = REGION_TABLE_AT as usize;
        let m = 1 << 20;
        let breakages: [(usize, &[u8]); 5] = [
            (rt, b"xxxx"),
            (rt + 8, &[0xff, 0xff, 0, 0]),
            (m, b"xxxxxxxx"),
            (m + 10, &[0x00, 0x08]),
            (rt + 64, &[0xff; 8]),
        ];
        for (at, bytes) in breakages {
            let mut img = good.clone();
            img[at..at + bytes.len()].copy_from_slice(bytes);
            assert_eq!(inspect_bytes(&img).matches, vec![Finding::new(Format::Vhdx, None)], "at {at}");
        }
        // Truncated before the region table.
        assert_eq!(inspect_bytes(&good[..4096]).matches, vec![Finding::new(Format::Vhdx, None)]);
    }
}
