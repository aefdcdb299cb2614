//! Format inspection against real images: files made by qemu-img,
//! genisoimage, parted and sgdisk in a temporary directory, read the way
//! the upload engine will read R2 (only the regions the inspector asks
//! for), then Glance's decision. Hostile images are real files with bytes
//! patched. A missing tool fails the test naming it (scripts/lib.sh's
//! `ensure_format_tools` installs them); nothing is skipped.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use edge_glance::domain::format::{
    decide, Accepted, Finding, Format, FormatRefusal, Inspection, Inspector, Unsafe, MAX_BYTES, MAX_ROUNDS,
};
use edge_glance::domain::image::DiskFormat;

const MIB: u64 = 1 << 20;

/// A fresh directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "edge-glance-formats-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs a tool, failing the test when it is missing or fails.
fn run(tool: &str, args: &[&str], dir: &Path) -> String {
    let out = Command::new(tool).args(args).current_dir(dir).output().unwrap_or_else(|e| {
        panic!("{tool} is missing ({e}): install it (scripts/lib.sh ensure_format_tools: qemu-utils, genisoimage, parted, gdisk)")
    });
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn qemu_img(dir: &Scratch, args: &[&str]) {
    run("qemu-img", args, &dir.0);
}

/// The virtual size qemu-img reports for `file` read as `format`.
fn qemu_size(dir: &Scratch, file: &str, format: &str) -> u64 {
    let info = run("qemu-img", &["info", "--output=json", "-f", format, file], &dir.0);
    let json: serde_json::Value = serde_json::from_str(&info).unwrap();
    json["virtual-size"].as_u64().unwrap()
}

/// Inspects a file the way the engine reads R2: only the wanted regions,
/// within the rounds and the byte budget.
fn inspect(path: &Path) -> Inspection {
    let mut file = fs::File::open(path).unwrap();
    let size = file.metadata().unwrap().len();
    let mut inspector = Inspector::new(size);
    let (mut rounds, mut read) = (0, 0);
    loop {
        let wanted = inspector.wanted();
        if wanted.is_empty() {
            break;
        }
        rounds += 1;
        assert!(rounds <= MAX_ROUNDS, "more than {MAX_ROUNDS} rounds");
        for r in wanted {
            assert!(r.offset + r.length <= size, "a region past the end: {r:?}");
            read += r.length;
            let mut buf = vec![0u8; r.length as usize];
            file.seek(SeekFrom::Start(r.offset)).unwrap();
            file.read_exact(&mut buf).unwrap();
            inspector.supply(r.offset, &buf);
        }
    }
    assert!(read <= MAX_BYTES, "read {read} bytes");
    inspector.finish()
}

/// The one finding of `path`.
fn only(path: &Path) -> Finding {
    let found = inspect(path);
    assert_eq!(found.matches.len(), 1, "{}: {found:?}", path.display());
    found.matches[0].clone()
}

fn len(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

/// Glance's decision for `path` declared as `declared` (match required).
fn decision(path: &Path, declared: DiskFormat) -> Result<Accepted, FormatRefusal> {
    decide(&inspect(path), declared, true, len(path))
}

fn patch(path: &Path, at: u64, bytes: &[u8]) {
    let mut data = fs::read(path).unwrap();
    data[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
    fs::write(path, data).unwrap();
}

#[test]
fn qcow2_plain_is_accepted_with_its_size() {
    let dir = Scratch::new("qcow2");
    qemu_img(&dir, &["create", "-f", "qcow2", "plain.qcow2", "64M"]);
    let path = dir.path("plain.qcow2");
    let f = only(&path);
    assert_eq!((f.format, f.virtual_size), (Format::Qcow2, Some(64 * MIB)));
    assert!(f.problems.is_empty());
    assert_eq!(
        decision(&path, DiskFormat::Qcow2),
        Ok(Accepted { virtual_size: Some(64 * MIB), detected: Format::Qcow2 })
    );
    // Declared raw: taken, sized by its bytes.
    assert_eq!(
        decision(&path, DiskFormat::Raw),
        Ok(Accepted { virtual_size: Some(len(&path)), detected: Format::Qcow2 })
    );
    // Declared something else: refused.
    let refused = decision(&path, DiskFormat::Vmdk).unwrap_err();
    assert_eq!(refused, FormatRefusal::Mismatch { declared: DiskFormat::Vmdk, detected: Format::Qcow2 });
}

#[test]
fn qcow2_with_a_backing_file_is_refused() {
    let dir = Scratch::new("qcow2-backing");
    qemu_img(&dir, &["create", "-f", "raw", "base.raw", "64M"]);
    qemu_img(&dir, &["create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "top.qcow2"]);
    let path = dir.path("top.qcow2");
    assert_eq!(only(&path).problems, vec![Unsafe::BackingFile]);
    for declared in [DiskFormat::Qcow2, DiskFormat::Raw] {
        let refused = decision(&path, declared).unwrap_err();
        assert_eq!(refused.to_string(), "Image data is qcow2 with a backing file: refused.");
    }
}

#[test]
fn qcow2_with_a_data_file_is_refused() {
    let dir = Scratch::new("qcow2-data");
    qemu_img(&dir, &["create", "-f", "qcow2", "-o", "data_file=data.raw", "meta.qcow2", "64M"]);
    let path = dir.path("meta.qcow2");
    assert_eq!(only(&path).problems, vec![Unsafe::DataFile]);
    assert_eq!(
        decision(&path, DiskFormat::Qcow2).unwrap_err().to_string(),
        "Image data is qcow2 with an external data file: refused."
    );
}

#[test]
fn qcow2_with_an_unknown_incompatible_feature_is_refused() {
    let dir = Scratch::new("qcow2-features");
    qemu_img(&dir, &["create", "-f", "qcow2", "x.qcow2", "64M"]);
    let path = dir.path("x.qcow2");
    // Bit 40 of the incompatible features (offset 72, big-endian).
    patch(&path, 74, &[0x01]);
    assert_eq!(only(&path).problems, vec![Unsafe::UnknownFeatures(1 << 40)]);
    assert!(matches!(decision(&path, DiskFormat::Qcow2), Err(FormatRefusal::Unsafe { .. })));
}

#[test]
fn vmdk_single_file_types_are_accepted() {
    let dir = Scratch::new("vmdk");
    for subformat in ["monolithicSparse", "streamOptimized"] {
        let name = format!("{subformat}.vmdk");
        qemu_img(&dir, &["create", "-f", "vmdk", "-o", &format!("subformat={subformat}"), &name, "64M"]);
        let path = dir.path(&name);
        let f = only(&path);
        assert_eq!((f.format, f.virtual_size), (Format::Vmdk, Some(64 * MIB)), "{subformat}");
        assert!(f.problems.is_empty(), "{subformat}: {:?}", f.problems);
        assert_eq!(
            decision(&path, DiskFormat::Vmdk),
            Ok(Accepted { virtual_size: Some(64 * MIB), detected: Format::Vmdk })
        );
    }
}

#[test]
fn vmdk_multi_file_types_are_refused() {
    let dir = Scratch::new("vmdk-multi");
    for (subformat, kind) in [("monolithicFlat", "monolithicflat"), ("twoGbMaxExtentSparse", "twogbmaxextentsparse")] {
        let name = format!("{subformat}.vmdk");
        qemu_img(&dir, &["create", "-f", "vmdk", "-o", &format!("subformat={subformat}"), &name, "64M"]);
        let path = dir.path(&name);
        assert_eq!(only(&path).problems, vec![Unsafe::VmdkCreateType(kind.into())], "{subformat}");
        let refused = decision(&path, DiskFormat::Vmdk).unwrap_err().to_string();
        assert_eq!(refused, format!("Image data is vmdk of unsupported VMDK create type \"{kind}\": refused."));
        assert!(decision(&path, DiskFormat::Raw).is_err());
    }
}

#[test]
fn vmdk_with_an_extent_path_is_refused() {
    let dir = Scratch::new("vmdk-extent");
    qemu_img(&dir, &["create", "-f", "vmdk", "-o", "subformat=monolithicSparse", "x.vmdk", "64M"]);
    let path = dir.path("x.vmdk");
    let mut data = fs::read(&path).unwrap();
    let end = 512 + data[512..].iter().position(|&b| b == 0).unwrap();
    let text = String::from_utf8(data[512..end].to_vec()).unwrap();
    assert!(text.contains("\"x.vmdk\""), "{text}");
    let hostile = text.replace("\"x.vmdk\"", "\"../etc/passwd\"");
    data[512..512 + hostile.len()].copy_from_slice(hostile.as_bytes());
    fs::write(&path, data).unwrap();
    assert_eq!(only(&path).problems, vec![Unsafe::VmdkExtentPath]);
    assert!(decision(&path, DiskFormat::Vmdk).is_err());
}

/// A real streamOptimized vmdk given a footer: the header's grain
/// directory offset set to "at the end", then the footer marker, the
/// footer (the original header) and the end-of-stream marker appended.
fn with_footer(dir: &Scratch) -> PathBuf {
    qemu_img(dir, &["create", "-f", "vmdk", "-o", "subformat=streamOptimized", "s.vmdk", "64M"]);
    let path = dir.path("s.vmdk");
    let mut data = fs::read(&path).unwrap();
    let header = data[..512].to_vec();
    data[56..64].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut marker = vec![0u8; 512];
    marker[0] = 1;
    marker[12] = 3;
    data.extend(marker);
    data.extend(header);
    data.extend(vec![0u8; 512]);
    fs::write(&path, data).unwrap();
    path
}

#[test]
fn vmdk_footer_must_agree_with_the_header() {
    let dir = Scratch::new("vmdk-footer");
    let path = with_footer(&dir);
    let f = only(&path);
    assert!(f.problems.is_empty(), "{:?}", f.problems);
    assert_eq!(f.virtual_size, Some(64 * MIB));
    // The footer's version corrupted.
    let footer_at = len(&path) - 1024;
    patch(&path, footer_at + 4, &[9]);
    assert_eq!(only(&path).problems, vec![Unsafe::VmdkFooter("has another version than the header")]);
    assert!(decision(&path, DiskFormat::Vmdk).is_err());
}

#[test]
fn vhd_dynamic_and_fixed_are_accepted() {
    let dir = Scratch::new("vhd");
    for (name, subformat, fixed) in [("d.vhd", "dynamic", false), ("f.vhd", "fixed", true)] {
        qemu_img(&dir, &["create", "-f", "vpc", "-o", &format!("subformat={subformat}"), name, "64M"]);
        let path = dir.path(name);
        let expected = qemu_size(&dir, name, "vpc");
        assert!(expected >= 64 * MIB);
        let f = only(&path);
        assert_eq!((f.format, f.virtual_size, f.raw_inside), (Format::Vhd, Some(expected), fixed), "{subformat}");
        assert_eq!(
            decision(&path, DiskFormat::Vhd),
            Ok(Accepted { virtual_size: Some(expected), detected: Format::Vhd })
        );
    }
}

#[test]
fn vhdx_is_accepted_with_its_size() {
    let dir = Scratch::new("vhdx");
    qemu_img(&dir, &["create", "-f", "vhdx", "x.vhdx", "64M"]);
    let path = dir.path("x.vhdx");
    assert_eq!(only(&path), only_vhdx(64 * MIB));
    assert_eq!(
        decision(&path, DiskFormat::Vhdx),
        Ok(Accepted { virtual_size: Some(64 * MIB), detected: Format::Vhdx })
    );
}

fn only_vhdx(size: u64) -> Finding {
    Finding { format: Format::Vhdx, virtual_size: Some(size), problems: vec![], incomplete: false, raw_inside: false }
}

#[test]
fn vdi_is_accepted_with_its_size() {
    let dir = Scratch::new("vdi");
    qemu_img(&dir, &["create", "-f", "vdi", "x.vdi", "64M"]);
    let path = dir.path("x.vdi");
    assert_eq!(decision(&path, DiskFormat::Vdi), Ok(Accepted { virtual_size: Some(64 * MIB), detected: Format::Vdi }));
}

#[test]
fn qed_is_refused_whatever_was_declared() {
    let dir = Scratch::new("qed");
    qemu_img(&dir, &["create", "-f", "qed", "x.qed", "64M"]);
    let path = dir.path("x.qed");
    let f = only(&path);
    assert_eq!((f.format, f.virtual_size), (Format::Qed, Some(64 * MIB)));
    for declared in [DiskFormat::Raw, DiskFormat::Qcow2] {
        assert!(decision(&path, declared).is_err());
    }
    assert_eq!(
        decision(&path, DiskFormat::Raw).unwrap_err().to_string(),
        "Image data is qed (a format that is not allowed): refused."
    );
}

#[test]
fn luks_v1_is_detected_and_taken_as_raw_when_declared_raw() {
    let dir = Scratch::new("luks");
    qemu_img(
        &dir,
        &["create", "-f", "luks", "--object", "secret,id=sec0,data=x", "-o", "key-secret=sec0", "x.luks", "64M"],
    );
    let path = dir.path("x.luks");
    let f = only(&path);
    assert_eq!((f.format, f.virtual_size), (Format::Luks, Some(64 * MIB)));
    assert!(f.problems.is_empty());
    assert_eq!(
        decision(&path, DiskFormat::Raw),
        Ok(Accepted { virtual_size: Some(len(&path)), detected: Format::Luks })
    );
    assert!(decision(&path, DiskFormat::Qcow2).is_err());
    // Made version 2: refused.
    patch(&path, 6, &[0, 2]);
    assert_eq!(only(&path).problems, vec![Unsafe::Version(2)]);
}

#[test]
fn raw_is_raw() {
    let dir = Scratch::new("raw");
    qemu_img(&dir, &["create", "-f", "raw", "x.raw", "64M"]);
    let path = dir.path("x.raw");
    assert_eq!(inspect(&path).matches, vec![]);
    assert_eq!(decision(&path, DiskFormat::Raw), Ok(Accepted { virtual_size: Some(64 * MIB), detected: Format::Raw }));
    assert_eq!(decision(&path, DiskFormat::Ami), Ok(Accepted { virtual_size: None, detected: Format::Raw }));
    assert!(decision(&path, DiskFormat::Qcow2).is_err());
}

/// An ISO of one small file, made by genisoimage with `extra` options.
fn iso(dir: &Scratch, name: &str, extra: &[&str]) -> PathBuf {
    fs::create_dir_all(dir.path("tree")).unwrap();
    fs::write(dir.path("tree/hello.txt"), "hello\n").unwrap();
    let mut args = vec!["-quiet", "-o", name, "-V", "TEST"];
    args.extend_from_slice(extra);
    args.push("tree");
    run("genisoimage", &args, &dir.0);
    dir.path(name)
}

#[test]
fn iso9660_and_udf_images_are_accepted() {
    let dir = Scratch::new("iso");
    for (name, extra) in [("plain.iso", &[][..]), ("udf.iso", &["-udf"][..])] {
        let path = iso(&dir, name, extra);
        let f = only(&path);
        assert_eq!((f.format, f.virtual_size), (Format::Iso, Some(len(&path))), "{name}");
        assert_eq!(
            decision(&path, DiskFormat::Iso),
            Ok(Accepted { virtual_size: Some(len(&path)), detected: Format::Iso })
        );
    }
}

#[test]
fn a_hybrid_iso_is_taken_as_iso() {
    let dir = Scratch::new("hybrid");
    let path = iso(&dir, "hybrid.iso", &[]);
    // An MBR in the system area, one bootable partition over the image.
    let mut entry = [0u8; 16];
    entry[0] = 0x80;
    entry[4] = 0x17;
    entry[12..16].copy_from_slice(&((len(&path) / 512) as u32).to_le_bytes());
    patch(&path, 446, &entry);
    patch(&path, 510, &[0x55, 0xaa]);
    let formats: Vec<Format> = inspect(&path).matches.iter().map(|f| f.format).collect();
    assert_eq!(formats, vec![Format::Iso, Format::Gpt]);
    assert_eq!(
        decision(&path, DiskFormat::Iso),
        Ok(Accepted { virtual_size: Some(len(&path)), detected: Format::Iso })
    );
}

#[test]
fn gpt_and_mbr_disks_are_partitioned_raw() {
    let dir = Scratch::new("partitions");
    qemu_img(&dir, &["create", "-f", "raw", "gpt.raw", "16M"]);
    run("sgdisk", &["-n", "1:2048:0", "-t", "1:8300", "gpt.raw"], &dir.0);
    qemu_img(&dir, &["create", "-f", "raw", "mbr.raw", "16M"]);
    run("parted", &["-s", "mbr.raw", "mklabel", "msdos", "mkpart", "primary", "ext4", "1MiB", "100%"], &dir.0);
    for name in ["gpt.raw", "mbr.raw"] {
        let path = dir.path(name);
        let f = only(&path);
        assert_eq!(f.format, Format::Gpt, "{name}");
        assert!(f.problems.is_empty(), "{name}: {:?}", f.problems);
        assert_eq!(
            decision(&path, DiskFormat::Raw),
            Ok(Accepted { virtual_size: Some(16 * MIB), detected: Format::Gpt })
        );
    }
    // The protective entry moved off LBA 1: refused.
    let path = dir.path("gpt.raw");
    patch(&path, 446 + 8, &[2]);
    assert_eq!(
        decision(&path, DiskFormat::Raw).unwrap_err().to_string(),
        "Image data is gpt with an invalid partition table (the protective entry does not start at LBA 1): refused."
    );
}

#[test]
fn a_fixed_vhd_of_a_partitioned_disk_is_a_vhd() {
    let dir = Scratch::new("vhd-gpt");
    qemu_img(&dir, &["create", "-f", "raw", "disk.raw", "16M"]);
    run("sgdisk", &["-n", "1:2048:0", "disk.raw"], &dir.0);
    qemu_img(&dir, &["convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed", "disk.raw", "disk.vhd"]);
    let path = dir.path("disk.vhd");
    let formats: Vec<Format> = inspect(&path).matches.iter().map(|f| f.format).collect();
    assert_eq!(formats, vec![Format::Vhd, Format::Gpt]);
    let expected = qemu_size(&dir, "disk.vhd", "vpc");
    assert_eq!(decision(&path, DiskFormat::Vhd), Ok(Accepted { virtual_size: Some(expected), detected: Format::Vhd }));
}
