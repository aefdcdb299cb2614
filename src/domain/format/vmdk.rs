//! VMDK (VMware's "Virtual Disk Format 5.0"): a little-endian sparse
//! extent header ("KDMV") at offset 0 with an embedded text descriptor at
//! sector 1, and for streamOptimized disks written as a stream a footer
//! (a copy of the header) before the end-of-stream marker; or a bare text
//! descriptor. Only the single-file types are safe (monolithicSparse,
//! streamOptimized): the others name extents in other files.

use super::view::{field, View};
use super::{Finding, Format, Probe, Unsafe};

const MAGIC: &[u8; 4] = b"KDMV";
/// The sparse header fields read (through the grain directory offset).
const HEADER: usize = 64;
/// Where qemu requires the embedded descriptor, and its largest size.
const DESCRIPTOR_AT: u64 = 512;
const DESCRIPTOR_MAX: u64 = (1 << 20) - 1;
/// The grain directory offset meaning "in the footer".
const GD_AT_END: u64 = u64::MAX;
/// Marker types of a stream: end of stream, footer.
const MARKER_EOS: u32 = 0;
const MARKER_FOOTER: u32 = 3;
/// A create type longer than this is not read (a hostile descriptor).
const MAX_TYPE: usize = 64;
/// The single-file create types (lowercase: the descriptor is read so).
const SAFE_TYPES: [&str; 2] = ["monolithicsparse", "streamoptimized"];

/// Detects vmdk and runs its safety checks.
pub(crate) fn probe(view: &View) -> Probe {
    let head = view.read(0, super::HEAD)?;
    if head.starts_with(MAGIC) {
        return sparse(view, &head);
    }
    Ok(bare_descriptor(&head))
}

/// The fields of a sparse extent header (or footer) that matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sparse {
    magic: u32,
    version: u32,
    capacity: u64,
    descriptor_sector: u64,
    descriptor_sectors: u64,
    gd_offset: u64,
}

fn sparse_header(b: &[u8]) -> Sparse {
    Sparse {
        magic: field::u32_le(b, 0),
        version: field::u32_le(b, 4),
        capacity: field::u64_le(b, 12),
        descriptor_sector: field::u64_le(b, 28),
        descriptor_sectors: field::u64_le(b, 36),
        gd_offset: field::u64_le(b, 56),
    }
}

fn sparse(view: &View, head: &[u8]) -> Probe {
    if head.len() < HEADER {
        return Ok(Some(Finding::unsafe_(Format::Vmdk, Unsafe::Malformed("truncated header"))));
    }
    let header = sparse_header(head);
    if !(1..=3).contains(&header.version) {
        return Ok(Some(Finding::unsafe_(Format::Vmdk, Unsafe::Version(header.version))));
    }
    if header.descriptor_sector.checked_mul(512) != Some(DESCRIPTOR_AT) {
        return Ok(Some(Finding::unsafe_(Format::Vmdk, Unsafe::Malformed("descriptor not at sector 1"))));
    }
    let length = header.descriptor_sectors.saturating_mul(512).min(DESCRIPTOR_MAX);
    let descriptor = view.read(DESCRIPTOR_AT, length).map_err(|n| n.matched())?;
    let footer = if header.gd_offset == GD_AT_END {
        let tail_at = view.size().saturating_sub(super::TAIL);
        Some(view.read(tail_at, super::TAIL).map_err(|n| n.matched())?)
    } else {
        None
    };
    let mut finding = Finding::new(Format::Vmdk, None);
    match read_descriptor(&descriptor) {
        None => finding.problems.push(Unsafe::VmdkNoDescriptor),
        Some(d) => {
            if SAFE_TYPES.contains(&d.create_type.as_str()) {
                finding.virtual_size = Some(header.capacity.saturating_mul(512));
            }
            finding.problems.extend(check_descriptor(&d));
        }
    }
    if let Some(tail) = footer {
        finding.problems.extend(check_footer(&header, &tail).err());
    }
    Ok(Some(finding))
}

/// A text file that names a create type is a bare descriptor: qemu opens
/// it and reads its extents from other files.
fn bare_descriptor(head: &[u8]) -> Option<Finding> {
    // oslo reads a sparse header of at least 64 bytes first; shorter is
    // not vmdk, nor is anything whose first sector is not text.
    let first = &head[..head.len().min(512)];
    if head.len() < HEADER || !first.iter().all(|&b| is_text(b)) {
        return None;
    }
    let d = read_descriptor(head)?;
    d.create_type_found.then_some(())?;
    let mut finding = Finding::new(Format::Vmdk, None);
    finding.problems.extend(check_descriptor(&d));
    if finding.problems.is_empty() {
        finding.problems.push(Unsafe::VmdkDescriptorOnly);
    }
    Some(finding)
}

fn is_text(b: u8) -> bool {
    (0x20..0x7f).contains(&b) || matches!(b, b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// A descriptor's text (lowercased: it is case-insensitive) and create
/// type ("formatnotfound" when absent, as oslo names it).
struct Descriptor {
    text: String,
    create_type: String,
    create_type_found: bool,
}

/// The descriptor text up to its NUL padding; None when empty or not
/// ASCII.
fn read_descriptor(bytes: &[u8]) -> Option<Descriptor> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let raw = &bytes[..end];
    if raw.is_empty() || !raw.is_ascii() {
        return None;
    }
    let text = String::from_utf8_lossy(raw).to_ascii_lowercase();
    const KEY: &str = "createtype=\"";
    let found = text.find(KEY).and_then(|at| {
        let rest = &text[at + KEY.len()..];
        let close = rest.find('"')?;
        (close < MAX_TYPE).then(|| rest[..close].to_owned())
    });
    let create_type_found = found.is_some();
    let create_type = found.unwrap_or_else(|| "formatnotfound".to_owned());
    Some(Descriptor { text, create_type, create_type_found })
}

/// oslo's descriptor check: a single-file type, every line understood
/// (comments, `ddb` lines, `key=value` headers, extents), extents present
/// and none naming a path.
fn check_descriptor(d: &Descriptor) -> Option<Unsafe> {
    if !SAFE_TYPES.contains(&d.create_type.as_str()) {
        let shown: String = d.create_type.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').collect();
        return Some(Unsafe::VmdkCreateType(shown));
    }
    let mut extents = Vec::new();
    for line in d.text.split('\n').map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with("ddb") {
            continue;
        }
        let key_is_a_word = line.split_once('=').is_some_and(|(key, _)| !key.contains(' '));
        if key_is_a_word {
            continue;
        }
        let access = line.split(' ').next().unwrap_or("");
        if matches!(access, "rw" | "rdonly" | "noaccess") {
            extents.push(line);
        } else {
            return Some(Unsafe::VmdkDescriptorLine);
        }
    }
    // oslo looks for '/'; a backslash is a separator on the other side.
    if extents.iter().any(|e| e.contains('/') || e.contains('\\')) {
        return Some(Unsafe::VmdkExtentPath);
    }
    if extents.is_empty() {
        return Some(Unsafe::VmdkNoExtents);
    }
    None
}

/// The last 1536 bytes of a streamOptimized disk: the footer marker, the
/// footer (which must agree with the header), the end-of-stream marker.
fn check_footer(header: &Sparse, tail: &[u8]) -> Result<(), Unsafe> {
    if tail.len() < super::TAIL as usize {
        return Err(Unsafe::VmdkFooter("is missing"));
    }
    let footer = sparse_header(&tail[512..1024]);
    if footer.magic != header.magic {
        return Err(Unsafe::VmdkFooter("does not have the header's signature"));
    }
    if footer.version != header.version {
        return Err(Unsafe::VmdkFooter("has another version than the header"));
    }
    if (footer.descriptor_sector, footer.descriptor_sectors) != (header.descriptor_sector, header.descriptor_sectors) {
        return Err(Unsafe::VmdkFooter("names another descriptor than the header"));
    }
    if footer.gd_offset == GD_AT_END {
        return Err(Unsafe::VmdkFooter("points to another footer"));
    }
    let marker =
        |b: &[u8]| (field::u64_le(b, 0), field::u32_le(b, 8), field::u32_le(b, 12), b[16..512].iter().all(|&x| x == 0));
    let (_, size, kind, zero) = marker(&tail[..512]);
    if size != 0 || kind != MARKER_FOOTER || !zero {
        return Err(Unsafe::VmdkFooter("is not preceded by a footer marker"));
    }
    let (value, size, kind, zero) = marker(&tail[1024..]);
    if value != 0 || size != 0 || kind != MARKER_EOS || !zero {
        return Err(Unsafe::VmdkFooter("is not followed by an end-of-stream marker"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::format::{inspect_bytes, Finding};

    const DESCRIPTOR: &str = "# Disk DescriptorFile\nversion=1\nCID=1234abcd\nparentCID=ffffffff\n\
createType=\"monolithicSparse\"\n\n# Extent description\nRW 2048 SPARSE \"disk.vmdk\"\n\n\
# The Disk Data Base\n#DDB\n\nddb.virtualHWVersion = \"4\"\nddb.geometry.cylinders = \"2\"\n";

    /// A monolithicSparse image of `sectors` sectors with `descriptor`.
    fn image(sectors: u64, descriptor: &str, gd: u64) -> Vec<u8> {
        let mut img = vec![0u8; 64 * 1024];
        img[..4].copy_from_slice(MAGIC);
        img[4..8].copy_from_slice(&1u32.to_le_bytes());
        img[12..20].copy_from_slice(&sectors.to_le_bytes());
        img[20..28].copy_from_slice(&128u64.to_le_bytes());
        img[28..36].copy_from_slice(&1u64.to_le_bytes());
        img[36..44].copy_from_slice(&20u64.to_le_bytes());
        img[56..64].copy_from_slice(&gd.to_le_bytes());
        img[512..512 + descriptor.len()].copy_from_slice(descriptor.as_bytes());
        img
    }

    fn only(img: &[u8]) -> Finding {
        let found = inspect_bytes(img);
        assert_eq!(found.matches.len(), 1, "{found:?}");
        found.matches[0].clone()
    }

    #[test]
    fn a_monolithic_sparse_disk_is_safe_with_its_size() {
        let f = only(&image(2048, DESCRIPTOR, 21));
        assert_eq!((f.format, f.virtual_size), (Format::Vmdk, Some(2048 * 512)));
        assert!(f.problems.is_empty(), "{:?}", f.problems);
    }

    #[test]
    fn other_create_types_are_refused() {
        let d = DESCRIPTOR.replace("monolithicSparse", "monolithicFlat");
        let f = only(&image(2048, &d, 21));
        assert_eq!(f.problems, vec![Unsafe::VmdkCreateType("monolithicflat".into())]);
        assert_eq!(f.virtual_size, None);
        let d = DESCRIPTOR.replace("createType", "kind");
        assert_eq!(only(&image(1, &d, 21)).problems, vec![Unsafe::VmdkCreateType("formatnotfound".into())]);
        let long = format!("createType=\"{}\"", "x".repeat(100));
        let d = DESCRIPTOR.replace("createType=\"monolithicSparse\"", &long);
        assert_eq!(only(&image(1, &d, 21)).problems, vec![Unsafe::VmdkCreateType("formatnotfound".into())]);
    }

    #[test]
    fn extent_paths_and_strange_lines_are_refused() {
        let d = DESCRIPTOR.replace("\"disk.vmdk\"", "\"../etc/passwd\"");
        assert_eq!(only(&image(1, &d, 21)).problems, vec![Unsafe::VmdkExtentPath]);
        let d = DESCRIPTOR.replace("\"disk.vmdk\"", "\"c:\\\\disk.vmdk\"");
        assert_eq!(only(&image(1, &d, 21)).problems, vec![Unsafe::VmdkExtentPath]);
        let d = DESCRIPTOR.replace("RW 2048", "FOO 2048");
        assert_eq!(only(&image(1, &d, 21)).problems, vec![Unsafe::VmdkDescriptorLine]);
        let d = DESCRIPTOR.replace("RW 2048 SPARSE \"disk.vmdk\"", "");
        assert_eq!(only(&image(1, &d, 21)).problems, vec![Unsafe::VmdkNoExtents]);
    }

    #[test]
    fn a_bad_header_is_refused() {
        let mut img = image(1, DESCRIPTOR, 21);
        img[4] = 9;
        assert_eq!(only(&img).problems, vec![Unsafe::Version(9)]);
        let mut img = image(1, DESCRIPTOR, 21);
        img[28] = 2;
        assert_eq!(only(&img).problems, vec![Unsafe::Malformed("descriptor not at sector 1")]);
        let mut img = image(1, DESCRIPTOR, 21);
        img[512] = 0xff;
        assert_eq!(only(&img).problems, vec![Unsafe::VmdkNoDescriptor]);
        assert_eq!(only(&img[..40]).problems, vec![Unsafe::Malformed("truncated header")]);
    }

    /// A stream-optimized image with its footer at the end.
    fn streamed() -> Vec<u8> {
        let d = DESCRIPTOR.replace("monolithicSparse", "streamOptimized");
        let mut img = image(2048, &d, GD_AT_END);
        img.resize(128 * 1024, 0);
        let end = img.len();
        let footer: Vec<u8> = img[..512].to_vec();
        img[end - 1536 + 8..end - 1536 + 12].copy_from_slice(&0u32.to_le_bytes());
        img[end - 1536..end - 1536 + 8].copy_from_slice(&1u64.to_le_bytes());
        img[end - 1536 + 12..end - 1536 + 16].copy_from_slice(&MARKER_FOOTER.to_le_bytes());
        img[end - 1024..end - 512].copy_from_slice(&footer);
        img[end - 1024 + 56..end - 1024 + 64].copy_from_slice(&30u64.to_le_bytes());
        img
    }

    #[test]
    fn a_stream_footer_must_agree_with_the_header() {
        let img = streamed();
        let f = only(&img);
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        assert_eq!(f.virtual_size, Some(2048 * 512));
        let end = img.len();
        let cases: [(usize, u8, &str); 5] = [
            (end - 1024 + 4, 2, "has another version than the header"),
            (end - 1024 + 36, 21, "names another descriptor than the header"),
            (end - 1024 + 56, 0xff, "is not preceded by a footer marker"),
            (end - 1536 + 12, 0, "is not preceded by a footer marker"),
            (end - 100, 1, "is not followed by an end-of-stream marker"),
        ];
        for (at, value, why) in cases {
            let mut bad = img.clone();
            bad[at] = value;
            if why == "is not preceded by a footer marker" && at == end - 1024 + 56 {
                // All of the grain directory offset: another footer.
                bad[end - 1024 + 56..end - 1024 + 64].fill(0xff);
                assert_eq!(only(&bad).problems, vec![Unsafe::VmdkFooter("points to another footer")]);
                continue;
            }
            assert_eq!(only(&bad).problems, vec![Unsafe::VmdkFooter(why)], "{why}");
        }
        let mut bad = img.clone();
        bad[end - 1024] = b'X';
        assert_eq!(only(&bad).problems, vec![Unsafe::VmdkFooter("does not have the header's signature")]);
    }

    #[test]
    fn a_bare_descriptor_is_vmdk_and_refused() {
        let flat = DESCRIPTOR.replace("monolithicSparse", "monolithicFlat").replace("SPARSE", "FLAT");
        assert_eq!(only(flat.as_bytes()).problems, vec![Unsafe::VmdkCreateType("monolithicflat".into())]);
        assert_eq!(only(DESCRIPTOR.as_bytes()).problems, vec![Unsafe::VmdkDescriptorOnly]);
        // Text without a create type, or binary, is not vmdk.
        assert!(inspect_bytes("hello world, this is only some text without any type in it..".repeat(3).as_bytes())
            .matches
            .is_empty());
        assert!(inspect_bytes(&[0x80; 600]).matches.is_empty());
    }
}
