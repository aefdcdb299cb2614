//! What a single pass over data keeps for the inspection when the data is
//! not stored (an http location hashed in the background): its first
//! [`MAX_BYTES`] and last [`TAIL`] bytes. The inspector reads its regions
//! from here as it would from R2; a region outside both reads as nothing,
//! so a format whose needed region lies there is incomplete, and refused.

use super::{MAX_BYTES, TAIL};

/// The first and last bytes of data of a known size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Glimpse {
    /// The first bytes (at most [`MAX_BYTES`]).
    pub head: Vec<u8>,
    /// The last bytes (at most [`TAIL`]), ending at the data's end.
    pub tail: Vec<u8>,
}

impl Glimpse {
    /// Bytes kept at the start.
    pub const HEAD_BYTES: u64 = MAX_BYTES;
    /// Bytes kept at the end.
    pub const TAIL_BYTES: u64 = TAIL;

    /// The bytes of `length` at `offset` of data of `size` bytes that it
    /// holds, from `offset` on (shorter, or empty, where it holds less).
    pub fn read(&self, size: u64, offset: u64, length: u64) -> &[u8] {
        let end = offset.saturating_add(length);
        let head_len = self.head.len() as u64;
        if offset < head_len {
            return &self.head[offset as usize..end.min(head_len) as usize];
        }
        let tail_start = size.saturating_sub(self.tail.len() as u64);
        if offset >= tail_start && offset < size {
            let from = (offset - tail_start) as usize;
            let to = (end.min(size) - tail_start) as usize;
            return &self.tail[from..to];
        }
        &[]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(size: usize) -> Vec<u8> {
        (0..size).map(|i| (i % 251) as u8).collect()
    }

    fn glimpse_of(data: &[u8]) -> Glimpse {
        let head = data[..data.len().min(MAX_BYTES as usize)].to_vec();
        let tail = data[data.len().saturating_sub(TAIL as usize)..].to_vec();
        Glimpse { head, tail }
    }

    #[test]
    fn reads_inside_the_head_or_the_tail_give_the_data_and_others_nothing() {
        let whole = data(6 << 20);
        let size = whole.len() as u64;
        let glimpse = glimpse_of(&whole);
        assert_eq!(glimpse.read(size, 0, 512), &whole[..512]);
        assert_eq!(glimpse.read(size, 1 << 20, 4096), &whole[1 << 20..(1 << 20) + 4096]);
        // Across the head's end: what the head holds.
        let near = MAX_BYTES - 100;
        assert_eq!(glimpse.read(size, near, 4096), &whole[near as usize..MAX_BYTES as usize]);
        assert_eq!(glimpse.read(size, size - 512, 512), &whole[whole.len() - 512..]);
        assert_eq!(glimpse.read(size, size - 512, 4096), &whole[whole.len() - 512..], "clipped at the end");
        assert!(glimpse.read(size, 5 << 20, 512).is_empty(), "between head and tail");
        assert!(glimpse.read(size, size, 512).is_empty(), "past the end");
        assert!(glimpse.read(size, u64::MAX - 1, u64::MAX).is_empty());
    }

    #[test]
    fn small_data_is_all_in_the_head() {
        let whole = data(3000);
        let glimpse = glimpse_of(&whole);
        assert_eq!(glimpse.read(3000, 0, 3000), &whole[..]);
        assert_eq!(glimpse.read(3000, 2900, 512), &whole[2900..]);
    }
}
