//! The bytes of an image the inspector has been given so far: a sparse set
//! of chunks at offsets, and the ranges already read (a range read short,
//! past the end or cut by the engine, still counts as read, so nothing is
//! asked twice).

use super::Region;

/// What the parsers see of an image: its size and the bytes read so far.
pub(crate) struct View<'a> {
    size: u64,
    chunks: &'a [(u64, Vec<u8>)],
    attempted: &'a [Region],
}

/// A read a parser could not make yet: the region to fetch first, and
/// whether the format's magic was already seen (an image that never gets
/// its region is then this format, uninspectable, rather than not it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Need {
    pub region: Region,
    pub matched: bool,
}

impl Need {
    /// The same need, after the magic matched.
    pub fn matched(mut self) -> Need {
        self.matched = true;
        self
    }
}

impl<'a> View<'a> {
    pub fn new(size: u64, chunks: &'a [(u64, Vec<u8>)], attempted: &'a [Region]) -> View<'a> {
        View { size, chunks, attempted }
    }

    /// The image's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The bytes at `offset..offset + length` clipped to the image, or
    /// what was read of them (shorter when the read came back short); a
    /// `Need` when that range has not been read yet.
    pub fn read(&self, offset: u64, length: u64) -> Result<Vec<u8>, Need> {
        if offset >= self.size || length == 0 {
            return Ok(Vec::new());
        }
        let end = offset.saturating_add(length).min(self.size);
        if !covered(self.attempted, offset, end) {
            return Err(Need { region: Region { offset, length: end - offset }, matched: false });
        }
        Ok(contiguous(self.chunks, offset, end))
    }
}

/// Whether `start..end` lies within the union of `ranges`.
pub(crate) fn covered(ranges: &[Region], start: u64, end: u64) -> bool {
    first_uncovered(ranges, start, end) >= end
}

/// The first byte of `start..end` outside `ranges` (`end` when none).
pub(crate) fn first_uncovered(ranges: &[Region], start: u64, end: u64) -> u64 {
    let mut at = start;
    // At most one pass per range: each pass either moves `at` or stops.
    for _ in 0..=ranges.len() {
        if at >= end {
            break;
        }
        match ranges.iter().find(|r| r.offset <= at && at < r.offset.saturating_add(r.length)) {
            Some(r) => at = r.offset.saturating_add(r.length),
            None => break,
        }
    }
    at.min(end)
}

/// The bytes held from `start` on, up to `end`, as far as they run without
/// a gap.
fn contiguous(chunks: &[(u64, Vec<u8>)], start: u64, end: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = start;
    for _ in 0..=chunks.len() {
        if at >= end {
            break;
        }
        let Some((offset, bytes)) = chunks.iter().find(|(o, b)| *o <= at && at < o.saturating_add(b.len() as u64))
        else {
            break;
        };
        let from = (at - offset) as usize;
        let take = ((end - at) as usize).min(bytes.len() - from);
        out.extend_from_slice(&bytes[from..from + take]);
        at += take as u64;
    }
    out
}

/// Little- and big-endian field readers over a header that may be short:
/// a field past the end reads as zero (the parsers check lengths first
/// where a zero would mislead).
pub(crate) mod field {
    fn take<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(s) = b.get(at..at.saturating_add(N)) {
            out.copy_from_slice(s);
        }
        out
    }
    pub fn u16_le(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes(take(b, at))
    }
    pub fn u32_le(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(take(b, at))
    }
    pub fn u64_le(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(take(b, at))
    }
    pub fn u16_be(b: &[u8], at: usize) -> u16 {
        u16::from_be_bytes(take(b, at))
    }
    pub fn u32_be(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(take(b, at))
    }
    pub fn u64_be(b: &[u8], at: usize) -> u64 {
        u64::from_be_bytes(take(b, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(offset: u64, length: u64) -> Region {
        Region { offset, length }
    }

    #[test]
    fn reads_only_what_was_attempted_and_clips_to_the_size() {
        let chunks = vec![(0, vec![1, 2, 3, 4]), (4, vec![5, 6])];
        let attempted = [r(0, 4), r(4, 4)];
        let view = View::new(10, &chunks, &attempted);
        assert_eq!(view.read(1, 4), Ok(vec![2, 3, 4, 5]));
        // Read short: attempted up to 8, held up to 6.
        assert_eq!(view.read(2, 6), Ok(vec![3, 4, 5, 6]));
        assert_eq!(view.read(6, 4).unwrap_err().region, r(6, 4));
        assert_eq!(view.read(10, 4), Ok(vec![]));
        assert_eq!(view.read(u64::MAX, u64::MAX), Ok(vec![]));
        assert_eq!(view.read(9, u64::MAX).unwrap_err().region, r(9, 1));
    }

    #[test]
    fn coverage_follows_overlapping_ranges() {
        let ranges = [r(0, 10), r(5, 10), r(20, 5)];
        assert!(covered(&ranges, 0, 15));
        assert!(!covered(&ranges, 0, 16));
        assert_eq!(first_uncovered(&ranges, 3, 30), 15);
        assert_eq!(first_uncovered(&ranges, 20, 30), 25);
        assert!(covered(&[], 5, 5));
    }

    #[test]
    fn short_fields_read_as_zero() {
        assert_eq!(field::u32_le(&[1, 0], 0), 0);
        assert_eq!(field::u16_be(&[1, 2], 0), 0x0102);
        assert_eq!(field::u64_le(&[], usize::MAX), 0);
    }
}
