//! Resumable uploads (tus 1.0): the record of one upload and the rule that
//! maps its byte offsets onto R2 multipart parts.
//!
//! R2 wants the parts of one multipart upload to be of one size (at least
//! 5 MiB) except the last, and at most 10,000 of them; tus PATCHes may be of
//! any size. So an upload has a fixed part size (chosen from its length),
//! and the bytes it holds are always `parts` whole parts followed by a
//! *tail* shorter than a part, kept as an object of its own. A PATCH is
//! planned as [`Segment`]s: the tail and the body together fill as many
//! whole parts as they can, and what is left becomes the new tail (or,
//! when the PATCH ends the upload, the short last part). Every byte is
//! counted once: a part or a tail is durable only once stored, and the
//! offset only ever moves to the end of what was stored.
//!
//! [`protocol`] reads and writes the tus headers.

pub mod protocol;

use serde::{Deserialize, Serialize};

/// The smallest part (R2's minimum is 5 MiB; 8 MiB is what clients are told
/// to send multiples of).
pub const MIN_PART_SIZE: u64 = 8 << 20;
/// The largest part: a part is streamed, never held whole, but a bigger
/// part makes a cut-off PATCH lose more (the part it was in).
pub const MAX_PART_SIZE: u64 = 64 << 20;
/// R2's limit of parts per multipart upload.
pub const MAX_PARTS: u64 = 10_000;
/// The most partial uploads one final concatenation may join.
pub const MAX_CONCAT_PARTS: usize = 64;

/// The largest upload the protocol can carry: the size cap, unless the
/// parts cannot reach it.
pub fn max_size(size_cap: u64) -> u64 {
    size_cap.min(MAX_PART_SIZE * MAX_PARTS)
}

/// The part size of an upload of `length` bytes: the minimum, grown in
/// whole MiB until 10,000 parts hold the length.
pub fn part_size_for(length: u64) -> u64 {
    const MIB: u64 = 1 << 20;
    let needed = length.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    needed.clamp(MIN_PART_SIZE, MAX_PART_SIZE)
}

/// A resumable upload's id (a UUID, as image ids).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UploadId(String);

impl UploadId {
    /// A fresh id.
    pub fn generate() -> UploadId {
        UploadId(uuid::Uuid::new_v4().to_string())
    }

    /// `raw` if it is a UUID (any case; kept lower-case).
    pub fn parse(raw: &str) -> Option<UploadId> {
        uuid::Uuid::parse_str(raw).ok().filter(|_| raw.len() == 36).map(|u| UploadId(u.to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UploadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an upload is to the image: its whole data, a part of it to be
/// concatenated, or the concatenation of such parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Concat {
    /// The image's whole data.
    Whole,
    /// `Upload-Concat: partial`.
    Partial,
    /// `Upload-Concat: final;...`: these partial uploads, in order.
    Final(Vec<UploadId>),
}

/// Where an upload is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadState {
    /// Bytes are still expected.
    Receiving,
    /// Every byte is stored (as one object); a whole upload whose data the
    /// image did not take stays here, so finishing can be tried again.
    Complete,
    /// Its bytes became the image's staged data (nothing of it is stored
    /// any more; the record answers HEAD until it expires).
    Staged,
}

impl UploadState {
    /// The word stored in D1.
    pub fn as_str(self) -> &'static str {
        match self {
            UploadState::Receiving => "receiving",
            UploadState::Complete => "complete",
            UploadState::Staged => "staged",
        }
    }
}

/// A stored part of the multipart upload, as R2 must be told on completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// 1-based part number.
    #[serde(rename = "partNumber")]
    pub number: u32,
    /// R2's etag of the part.
    pub etag: String,
}

/// One resumable upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumableUpload {
    /// Its id.
    pub id: UploadId,
    /// The image it uploads to.
    pub image_id: String,
    /// Its total length (`Upload-Length`).
    pub length: u64,
    /// Bytes durably stored (`Upload-Offset`).
    pub offset: u64,
    /// The size of every part but the last.
    pub part_size: u64,
    /// Whole, partial or final.
    pub concat: Concat,
    /// `Upload-Metadata` as the client sent it (already checked).
    pub metadata: Option<String>,
    /// The R2 store its parts go to.
    pub store: String,
    /// The R2 multipart upload (none for an empty upload, or once complete).
    pub multipart_id: Option<String>,
    /// The stored parts, in order.
    pub parts: Vec<Part>,
    /// Bytes stored in the tail object (after the whole parts).
    pub tail_size: u64,
    /// Its state.
    pub state: UploadState,
    /// When it expires (Unix seconds).
    pub expires_at: i64,
}

/// The object key of an upload's data (its multipart upload's object).
pub fn data_key(id: &UploadId) -> String {
    format!("uploads/{id}")
}

/// The prefix of every object an upload writes besides its data (tails).
pub fn scratch_prefix(id: &UploadId) -> String {
    format!("uploads/{id}/")
}

/// The key of an upload's tail object that ends at `offset`. A new tail
/// never overwrites the one the record names: a PATCH that is refused or
/// cut off leaves the old tail as it was.
pub fn tail_key(id: &UploadId, offset: u64) -> String {
    format!("uploads/{id}/tail-{offset}")
}

/// A piece of a PATCH: where its bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Segment {
    /// Part `number` of the multipart upload, `size` bytes (the old tail's
    /// bytes first, for the first part).
    Part {
        /// 1-based.
        number: u32,
        /// Bytes.
        size: u64,
    },
    /// The new tail object: what is left, shorter than a part.
    Tail {
        /// Bytes.
        size: u64,
    },
}

impl Segment {
    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        match self {
            Segment::Part { size, .. } | Segment::Tail { size } => *size,
        }
    }
}

/// Where an upload stands after a PATCH stored some of its segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advance {
    /// The new offset.
    pub offset: u64,
    /// The new tail's size (0: no tail).
    pub tail_size: u64,
    /// Whether the tail changed (a new tail object, or none any more).
    pub tail_replaced: bool,
}

impl ResumableUpload {
    /// The key of its tail object, if it has a tail: the tail always ends
    /// at the offset (see [`tail_key`]), so the key follows from the record.
    pub fn tail_object(&self) -> Option<String> {
        (self.tail_size > 0).then(|| tail_key(&self.id, self.offset))
    }

    /// Bytes still expected.
    pub fn remaining(&self) -> u64 {
        self.length - self.offset
    }

    /// The segments a PATCH of `body` bytes fills: the tail and the body
    /// cut into whole parts after the stored ones, then either the short
    /// last part (when the PATCH ends the upload) or a new tail.
    pub fn plan(&self, body: u64) -> Vec<Segment> {
        let total = self.tail_size + body;
        let ends = self.offset + body == self.length;
        let mut segments = Vec::new();
        let mut left = total;
        let mut number = self.parts.len() as u32 + 1;
        while left >= self.part_size || (ends && left > 0) {
            let size = left.min(self.part_size);
            segments.push(Segment::Part { number, size });
            number += 1;
            left -= size;
        }
        if left > 0 {
            segments.push(Segment::Tail { size: left });
        }
        segments
    }

    /// Where the upload stands once the first `stored` segments of `plan`
    /// are durably stored (all of them, or fewer when the body was cut
    /// off): the old tail counts only once the first part holding it is
    /// stored, so a PATCH that stored nothing changes nothing.
    pub fn advance(&self, plan: &[Segment], stored: usize) -> Advance {
        let done = &plan[..stored.min(plan.len())];
        let parts: u64 = done.iter().filter(|s| matches!(s, Segment::Part { .. })).map(Segment::size).sum();
        let new_tail = done.iter().find_map(|s| match s {
            Segment::Tail { size } => Some(*size),
            Segment::Part { .. } => None,
        });
        if parts == 0 && new_tail.is_none() {
            return Advance { offset: self.offset, tail_size: self.tail_size, tail_replaced: false };
        }
        let body_stored = parts + new_tail.unwrap_or(0) - self.tail_size;
        Advance { offset: self.offset + body_stored, tail_size: new_tail.unwrap_or(0), tail_replaced: true }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn upload(length: u64, offset: u64, parts: u32, tail_size: u64) -> ResumableUpload {
        ResumableUpload {
            id: UploadId::generate(),
            image_id: "i".into(),
            length,
            offset,
            part_size: part_size_for(length),
            concat: Concat::Whole,
            metadata: None,
            store: "primary".into(),
            multipart_id: Some("m".into()),
            parts: (1..=parts).map(|n| Part { number: n, etag: format!("e{n}") }).collect(),
            tail_size,
            state: UploadState::Receiving,
            expires_at: 0,
        }
    }

    #[test]
    fn part_sizes_stay_within_r2_limits_for_every_length() {
        for length in [0, 1, 5 * MIB, 300 * MIB, 80 << 30, 600 << 30, 625 << 30] {
            let part = part_size_for(length);
            assert!(part >= 5 * MIB && part.is_multiple_of(MIB), "{length}: {part}");
            if length <= max_size(u64::MAX) {
                assert!(length.div_ceil(part) <= MAX_PARTS, "{length}: {part}");
            }
        }
        assert_eq!(part_size_for(300 * MIB), MIN_PART_SIZE);
        assert_eq!(max_size(1 << 40), MAX_PART_SIZE * MAX_PARTS);
        assert_eq!(max_size(MIB), MIB);
    }

    #[test]
    fn a_patch_fills_whole_parts_and_keeps_the_rest_as_the_tail() {
        let up = upload(300 * MIB, 0, 0, 0);
        let plan = up.plan(50 * MIB);
        assert_eq!(plan.len(), 7);
        assert!(plan[..6].iter().enumerate().all(|(i, s)| *s == Segment::Part { number: i as u32 + 1, size: 8 * MIB }));
        assert_eq!(plan[6], Segment::Tail { size: 2 * MIB });
        let after = up.advance(&plan, plan.len());
        assert_eq!(after, Advance { offset: 50 * MIB, tail_size: 2 * MIB, tail_replaced: true });
    }

    #[test]
    fn the_old_tail_opens_the_next_part() {
        let up = upload(300 * MIB, 50 * MIB, 6, 2 * MIB);
        let plan = up.plan(50 * MIB);
        assert_eq!(plan[0], Segment::Part { number: 7, size: 8 * MIB });
        let total: u64 = plan.iter().map(Segment::size).sum();
        assert_eq!(total, 52 * MIB, "tail + body, each byte once");
        assert_eq!(plan.last(), Some(&Segment::Tail { size: 4 * MIB }));
        assert_eq!(up.advance(&plan, plan.len()).offset, 100 * MIB);
    }

    #[test]
    fn the_patch_that_ends_the_upload_sends_a_short_last_part() {
        let up = upload(20 * MIB + 5, 16 * MIB, 2, 0);
        let plan = up.plan(4 * MIB + 5);
        assert_eq!(plan, vec![Segment::Part { number: 3, size: 4 * MIB + 5 }]);
        let after = up.advance(&plan, 1);
        assert_eq!(after, Advance { offset: 20 * MIB + 5, tail_size: 0, tail_replaced: true });
        // A tiny image is one short part.
        let tiny = upload(10, 0, 0, 0);
        assert_eq!(tiny.plan(10), vec![Segment::Part { number: 1, size: 10 }]);
    }

    #[test]
    fn a_cut_off_patch_keeps_only_the_parts_it_stored() {
        let up = upload(300 * MIB, 50 * MIB, 6, 2 * MIB);
        let plan = up.plan(50 * MIB);
        // Nothing stored: nothing changes, the old tail stays.
        assert_eq!(up.advance(&plan, 0), Advance { offset: 50 * MIB, tail_size: 2 * MIB, tail_replaced: false });
        // Two parts stored: the old tail and 14 MiB of the body are in them.
        assert_eq!(up.advance(&plan, 2), Advance { offset: 64 * MIB, tail_size: 0, tail_replaced: true });
    }

    #[test]
    fn small_patches_only_grow_the_tail() {
        let up = upload(300 * MIB, 3 * MIB, 0, 3 * MIB);
        let plan = up.plan(MIB);
        assert_eq!(plan, vec![Segment::Tail { size: 4 * MIB }]);
        assert_eq!(up.advance(&plan, 1), Advance { offset: 4 * MIB, tail_size: 4 * MIB, tail_replaced: true });
        assert!(up.plan(0).len() == 1, "an empty PATCH rewrites the same tail");
    }

    #[test]
    fn every_byte_is_counted_once_whatever_the_chunking() {
        // Random chunkings of a 100 MiB + 7 upload: each plan's bytes are
        // the tail plus the body, and the offsets add up to the length.
        let mut seed = 7u64;
        for _ in 0..200 {
            let mut up = upload(100 * MIB + 7, 0, 0, 0);
            while up.offset < up.length {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let body = (seed >> 33) % (30 * MIB) + 1;
                let body = body.min(up.remaining());
                let plan = up.plan(body);
                assert_eq!(plan.iter().map(Segment::size).sum::<u64>(), up.tail_size + body);
                let after = up.advance(&plan, plan.len());
                assert_eq!(after.offset, up.offset + body);
                for s in &plan {
                    if let Segment::Part { number, size } = s {
                        assert_eq!(*number as usize, up.parts.len() + 1);
                        assert!(*size == up.part_size || after.offset == up.length);
                        up.parts.push(Part { number: *number, etag: String::new() });
                    }
                }
                up.offset = after.offset;
                up.tail_size = after.tail_size;
            }
            let stored: u64 = up.parts.len() as u64 * up.part_size;
            assert!(stored >= up.length && stored - up.length < up.part_size);
            assert_eq!(up.tail_size, 0);
        }
    }

    #[test]
    fn upload_ids_are_uuids() {
        let id = UploadId::generate();
        assert_eq!(UploadId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(UploadId::parse(&id.as_str().to_uppercase()), Some(id));
        assert_eq!(UploadId::parse("../etc"), None);
        assert_eq!(UploadId::parse("0b8e5b5c1f7a4e8e9b3b2c1d0e9f8a7b"), None);
    }
}
