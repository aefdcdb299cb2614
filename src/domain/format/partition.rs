//! Partition tables (Glance's "gpt" format): a disk whose first sector is
//! an MBR (signature 0x55AA at 510), a GPT's protective MBR included, and
//! not a FAT boot sector. oslo's sanity checks on the four MBR entries
//! (UEFI 2.10 section 5.2): boot flags 0x00 or 0x80, at least one
//! partition, and a protective entry (type 0xEE) alone, starting at CHS
//! 0/2/0 and LBA 1 (where the GPT header, "EFI PART", is).

use super::view::{field, View};
use super::{Finding, Format, Probe, Unsafe};

const SECTOR: u64 = 512;
const ENTRIES: usize = 446;
const PROTECTIVE: u8 = 0xee;
/// A FAT boot sector has the same signature: two FATs and the fixed-disk
/// media descriptor tell it apart.
const FAT_COUNT_AT: usize = 0x10;
const FAT_MEDIA_AT: usize = 0x15;
const FIXED_DISK_MEDIA: u8 = 0xf8;

/// Detects an MBR/GPT disk and runs the MBR checks.
pub(crate) fn probe(view: &View) -> Probe {
    let mbr = view.read(0, SECTOR)?;
    if mbr.len() < SECTOR as usize || mbr[510..512] != [0x55, 0xaa] {
        return Ok(None);
    }
    if mbr[FAT_COUNT_AT] == 2 && mbr[FAT_MEDIA_AT] == FIXED_DISK_MEDIA {
        return Ok(None);
    }
    // Like raw: the virtual size is the size of the data.
    let mut finding = Finding::new(Format::Gpt, Some(view.size()));
    finding.problems.extend(check_entries(&mbr).err());
    Ok(Some(finding))
}

fn check_entries(mbr: &[u8]) -> Result<(), Unsafe> {
    let mut used = Vec::new();
    let mut protective = false;
    for i in 0..4 {
        let e = &mbr[ENTRIES + 16 * i..ENTRIES + 16 * (i + 1)];
        if !matches!(e[0], 0x00 | 0x80) {
            return Err(Unsafe::PartitionTable("an entry has an invalid boot flag"));
        }
        if e[4] != 0 {
            used.push(i);
        }
        if e[4] == PROTECTIVE {
            protective = true;
            if e[1..4] != [0x00, 0x02, 0x00] {
                return Err(Unsafe::PartitionTable("the protective entry has an invalid start CHS"));
            }
            if field::u32_le(e, 8) != 1 {
                return Err(Unsafe::PartitionTable("the protective entry does not start at LBA 1"));
            }
        }
    }
    if protective && used != [0] {
        return Err(Unsafe::PartitionTable("a protective MBR defines other partitions"));
    }
    if used.is_empty() {
        return Err(Unsafe::PartitionTable("no partition is defined"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::format::inspect_bytes;

    fn disk() -> Vec<u8> {
        let mut img = vec![0u8; 8192];
        img[510] = 0x55;
        img[511] = 0xaa;
        img
    }

    fn entry(img: &mut [u8], i: usize, boot: u8, kind: u8, chs: [u8; 3], lba: u32) {
        let e = &mut img[ENTRIES + 16 * i..ENTRIES + 16 * (i + 1)];
        e[0] = boot;
        e[1..4].copy_from_slice(&chs);
        e[4] = kind;
        e[8..12].copy_from_slice(&lba.to_le_bytes());
    }

    fn problems(img: &[u8]) -> Vec<Unsafe> {
        let found = inspect_bytes(img);
        assert_eq!(found.matches.len(), 1, "{found:?}");
        assert_eq!(found.matches[0].virtual_size, Some(img.len() as u64));
        found.matches[0].problems.clone()
    }

    #[test]
    fn sane_mbr_and_gpt_disks_pass() {
        let mut img = disk();
        entry(&mut img, 0, 0x80, 0x83, [0, 0x21, 0], 2048);
        entry(&mut img, 1, 0, 0x82, [0, 0, 0], 4096);
        assert!(problems(&img).is_empty());
        let mut img = disk();
        entry(&mut img, 0, 0, PROTECTIVE, [0, 2, 0], 1);
        img[512..520].copy_from_slice(b"EFI PART");
        assert!(problems(&img).is_empty());
    }

    #[test]
    fn insane_tables_are_refused() {
        let mut img = disk();
        assert_eq!(problems(&img), vec![Unsafe::PartitionTable("no partition is defined")]);
        entry(&mut img, 0, 0x81, 0x83, [0, 0, 0], 1);
        assert_eq!(problems(&img), vec![Unsafe::PartitionTable("an entry has an invalid boot flag")]);
        let mut img = disk();
        entry(&mut img, 0, 0, PROTECTIVE, [0, 2, 0], 1);
        entry(&mut img, 1, 0, 0x83, [0, 0, 0], 100);
        assert_eq!(problems(&img), vec![Unsafe::PartitionTable("a protective MBR defines other partitions")]);
        let mut img = disk();
        entry(&mut img, 0, 0, PROTECTIVE, [0, 1, 0], 1);
        assert_eq!(problems(&img), vec![Unsafe::PartitionTable("the protective entry has an invalid start CHS")]);
        let mut img = disk();
        entry(&mut img, 0, 0, PROTECTIVE, [0, 2, 0], 2);
        assert_eq!(problems(&img), vec![Unsafe::PartitionTable("the protective entry does not start at LBA 1")]);
    }

    #[test]
    fn fat_boot_sectors_and_unsigned_sectors_are_not_disks() {
        let mut img = disk();
        img[FAT_COUNT_AT] = 2;
        img[FAT_MEDIA_AT] = FIXED_DISK_MEDIA;
        assert!(inspect_bytes(&img).matches.is_empty());
        let mut img = disk();
        img[511] = 0;
        assert!(inspect_bytes(&img).matches.is_empty());
        assert!(inspect_bytes(&disk()[..511]).matches.is_empty());
    }
}
