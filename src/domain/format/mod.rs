//! Disk-image format inspection, as Glance does it on upload (glance
//! `location.py` with oslo.utils' `imageutils.format_inspector`): which
//! format bytes are, the virtual size they declare, and whether they are
//! safe. It reads bounded regions only: the [`Inspector`] asks for byte
//! ranges ([`Inspector::wanted`]), the caller reads them from wherever the
//! image lives and hands them back ([`Inspector::supply`]), for at most
//! [`MAX_ROUNDS`] rounds and [`MAX_BYTES`] bytes; every length taken from a
//! header is capped. [`decide()`] then applies Glance's rules for the declared
//! `disk_format`.
//!
//! One parser per file: [`qcow2`], [`vmdk`], [`vhd`], [`vhdx`], [`iso`],
//! [`partition`] (gpt/mbr), [`qed`], [`luks`], [`vdi`]; [`view`] holds the
//! bytes read so far, [`safety`] the safety checks' failures, [`glimpse`]
//! what a pass over data that is not stored keeps for the inspection.

pub mod decide;
pub mod glimpse;
pub mod iso;
pub mod luks;
pub mod partition;
pub mod qcow2;
pub mod qed;
pub mod safety;
pub mod vdi;
pub mod vhd;
pub mod vhdx;
pub mod view;
pub mod vmdk;

pub use decide::{decide, Accepted, FormatRefusal};
pub use glimpse::Glimpse;
pub use safety::Unsafe;

use view::{first_uncovered, Need, View};

/// Rounds of reads the inspector may ask for (vhdx needs four: head,
/// region table, metadata table, the size item).
pub const MAX_ROUNDS: u32 = 4;
/// Bytes the inspector may ask for in all (the largest single read is a
/// vmdk descriptor, capped at 1 MiB as qemu does).
pub const MAX_BYTES: u64 = 4 * 1024 * 1024;
/// The head every inspection reads first: every format's fixed header,
/// the ISO 9660 / UDF volume descriptors (sectors 16 to 31), and a
/// vmdk's embedded descriptor as qemu writes it.
pub const HEAD: u64 = 64 * 1024;
/// The tail every inspection reads first: a vhd footer (512 bytes) and a
/// streamOptimized vmdk's footer marker, footer and end-of-stream marker.
pub const TAIL: u64 = 1536;

/// A byte range of the image the inspector wants to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// First byte.
    pub offset: u64,
    /// Number of bytes.
    pub length: u64,
}

/// A disk-image format, by qemu's (and Glance's) name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    /// Nothing recognized: plain bytes.
    Raw,
    /// QEMU copy-on-write (v2/v3).
    Qcow2,
    /// VMware disk (sparse header or bare descriptor).
    Vmdk,
    /// Virtual PC / Hyper-V VHD ("vpc" in qemu).
    Vhd,
    /// Hyper-V VHDX.
    Vhdx,
    /// ISO 9660 or UDF optical disc image.
    Iso,
    /// A disk with an MBR or GPT partition table.
    Gpt,
    /// QEMU enhanced disk (detected, never allowed).
    Qed,
    /// LUKS encrypted volume.
    Luks,
    /// VirtualBox disk.
    Vdi,
}

impl Format {
    /// The name Glance and qemu use.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
            Format::Vmdk => "vmdk",
            Format::Vhd => "vhd",
            Format::Vhdx => "vhdx",
            Format::Iso => "iso",
            Format::Gpt => "gpt",
            Format::Qed => "qed",
            Format::Luks => "luks",
            Format::Vdi => "vdi",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One format the bytes match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The format.
    pub format: Format,
    /// The virtual size the format declares (None when unknown).
    pub virtual_size: Option<u64>,
    /// The safety checks that failed (empty when safe).
    pub problems: Vec<Unsafe>,
    /// Whether its regions could not all be read (the rounds or the byte
    /// budget ran out, or the image ends inside them).
    pub incomplete: bool,
    /// Whether the format's data is a raw disk in place (a fixed VHD: the
    /// disk then its footer), so a partition table inside is expected.
    pub raw_inside: bool,
}

impl Finding {
    /// A safe match.
    pub(crate) fn new(format: Format, virtual_size: Option<u64>) -> Finding {
        Finding { format, virtual_size, problems: Vec::new(), incomplete: false, raw_inside: false }
    }

    /// A match that fails `problem`.
    pub(crate) fn unsafe_(format: Format, problem: Unsafe) -> Finding {
        Finding { problems: vec![problem], ..Finding::new(format, None) }
    }
}

/// What a parser made of the bytes so far: `Ok(None)` not this format,
/// `Ok(Some)` this format, `Err` a region to read first.
pub(crate) type Probe = Result<Option<Finding>, Need>;

/// What was found in an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The image's size in bytes.
    pub size: u64,
    /// Every format other than raw that matched, in [`Format`] order
    /// (empty: raw).
    pub matches: Vec<Finding>,
}

/// A format's parser.
type Parser = fn(&View) -> Probe;

/// The parsers, in [`Format`] order, with the format each reports.
const PARSERS: [(Format, Parser); 9] = [
    (Format::Qcow2, qcow2::probe),
    (Format::Vmdk, vmdk::probe),
    (Format::Vhd, vhd::probe),
    (Format::Vhdx, vhdx::probe),
    (Format::Iso, iso::probe),
    (Format::Gpt, partition::probe),
    (Format::Qed, qed::probe),
    (Format::Luks, luks::probe),
    (Format::Vdi, vdi::probe),
];

/// Inspects one image by asking for regions of it.
#[derive(Debug, Clone)]
pub struct Inspector {
    size: u64,
    chunks: Vec<(u64, Vec<u8>)>,
    attempted: Vec<Region>,
    /// The regions of the round being read (what `wanted` gave when the
    /// round began).
    round: Vec<Region>,
    rounds: u32,
    /// Only this format's parser (fuzzing one parser), else all.
    only: Option<Format>,
}

impl Inspector {
    /// For an image of `size` bytes.
    pub fn new(size: u64) -> Inspector {
        Inspector { size, chunks: Vec::new(), attempted: Vec::new(), round: Vec::new(), rounds: 0, only: None }
    }

    /// For an image of `size` bytes, running one format's parser only.
    pub fn for_format(size: u64, format: Format) -> Inspector {
        Inspector { only: Some(format), ..Inspector::new(size) }
    }

    fn parsers(&self) -> impl Iterator<Item = &(Format, Parser)> + '_ {
        PARSERS.iter().filter(|(format, _)| self.only.is_none_or(|only| only == *format))
    }

    /// Regions it still needs (already clipped to the image's size); empty
    /// when it has all it needs.
    pub fn wanted(&self) -> Vec<Region> {
        let pending: Vec<Region> = self.round.iter().copied().filter(|r| !self.was_attempted(r)).collect();
        if !pending.is_empty() || self.rounds >= MAX_ROUNDS {
            return pending;
        }
        self.next_round()
    }

    /// Hands it `bytes` read at `offset`. Only the parts inside wanted
    /// regions are kept, so memory stays within [`MAX_BYTES`] whatever is
    /// supplied; a short read marks the region read all the same.
    pub fn supply(&mut self, offset: u64, bytes: &[u8]) {
        let pending =
            self.round.iter().any(|r| r.offset <= offset && offset < r.offset + r.length && !self.was_attempted(r));
        if !pending {
            if self.rounds >= MAX_ROUNDS {
                return;
            }
            self.round = self.next_round();
            self.rounds += 1;
        }
        let end = offset.saturating_add(bytes.len() as u64);
        let mut done = Vec::new();
        for r in &self.round {
            let r_end = r.offset + r.length;
            let (from, to) = (offset.max(r.offset), end.min(r_end));
            if from < to {
                let slice = &bytes[(from - offset) as usize..(to - offset) as usize];
                self.chunks.push((from, slice.to_vec()));
            }
            // Read from its start: done, whatever came back.
            if offset <= r.offset && (r.offset < end || offset == r.offset) {
                done.push(*r);
            }
        }
        self.attempted.extend(done);
    }

    /// What was found.
    pub fn finish(self) -> Inspection {
        let view = View::new(self.size, &self.chunks, &self.attempted);
        let matches = self
            .parsers()
            .filter_map(|(format, probe)| match probe(&view) {
                Ok(found) => found,
                // Its magic matched but a region it needs was never read:
                // this format, not checked (refused, as Glance refuses an
                // incomplete inspection).
                Err(need) if need.matched => Some(Finding { incomplete: true, ..Finding::new(*format, None) }),
                Err(_) => None,
            })
            .collect();
        Inspection { size: self.size, matches }
    }

    fn was_attempted(&self, r: &Region) -> bool {
        self.attempted.contains(r)
    }

    /// The regions the parsers need next, after the head and tail, merged,
    /// without what was read, within the byte budget.
    fn next_round(&self) -> Vec<Region> {
        let view = View::new(self.size, &self.chunks, &self.attempted);
        let mut needs =
            vec![Region { offset: 0, length: HEAD }, Region { offset: self.size.saturating_sub(TAIL), length: TAIL }];
        needs.extend(self.parsers().filter_map(|(_, probe)| probe(&view).err().map(|n| n.region)));
        let mut spent: u64 = self.attempted.iter().map(|r| r.length).sum();
        let mut out: Vec<Region> = Vec::new();
        for need in needs {
            let end = need.offset.saturating_add(need.length).min(self.size);
            // Skip the part already read (or already asked for this round).
            let start = first_uncovered(&self.attempted, need.offset, end);
            let start = first_uncovered(&out, start, end);
            if start >= end {
                continue;
            }
            let length = end - start;
            if spent.saturating_add(length) > MAX_BYTES {
                continue;
            }
            spent += length;
            out.push(Region { offset: start, length });
        }
        out
    }
}

/// Runs the engine's loop over an image held in memory (tests, fuzzing):
/// reads exactly the wanted regions, at most [`MAX_ROUNDS`] times.
pub fn inspect_bytes(image: &[u8]) -> Inspection {
    run(Inspector::new(image.len() as u64), image)
}

/// [`inspect_bytes`] with one format's parser only (fuzzing one parser).
pub fn inspect_bytes_as(image: &[u8], format: Format) -> Inspection {
    run(Inspector::for_format(image.len() as u64, format), image)
}

fn run(mut inspector: Inspector, image: &[u8]) -> Inspection {
    for _ in 0..MAX_ROUNDS {
        let wanted = inspector.wanted();
        if wanted.is_empty() {
            break;
        }
        for r in wanted {
            let start = r.offset.min(image.len() as u64) as usize;
            let end = r.offset.saturating_add(r.length).min(image.len() as u64) as usize;
            inspector.supply(r.offset, &image[start..end]);
        }
    }
    inspector.finish()
}

#[cfg(test)]
mod tests;
