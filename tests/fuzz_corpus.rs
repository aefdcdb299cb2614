//! The fuzz corpus (fuzz/corpus/<target>/, made by fuzz/make_corpus.py from
//! real images) replayed on stable: every seed through `inspect_bytes` and
//! `decide` for every declared format, without panicking; each parser's
//! seeds are detected as that parser's format (so the seeds stay useful).

use std::fs;
use std::path::Path;

use edge_glance::domain::format::{decide, inspect_bytes, inspect_bytes_as, Format};
use edge_glance::domain::image::DiskFormat;

fn format_of(target: &str) -> Option<Format> {
    Some(match target {
        "qcow2" => Format::Qcow2,
        "vmdk" => Format::Vmdk,
        "vhd" => Format::Vhd,
        "vhdx" => Format::Vhdx,
        "iso" => Format::Iso,
        "partition" => Format::Gpt,
        "qed" => Format::Qed,
        "luks" => Format::Luks,
        "vdi" => Format::Vdi,
        "inspect_bytes" => return None,
        other => panic!("fuzz/corpus/{other}: no such fuzz target"),
    })
}

#[test]
fn every_seed_is_inspected_and_decided_without_panicking() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut seeds = 0;
    let mut total = 0;
    for dir in fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display())) {
        let dir = dir.unwrap().path();
        let target = dir.file_name().unwrap().to_string_lossy().into_owned();
        let format = format_of(&target);
        for file in fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            let data = fs::read(&path).unwrap();
            seeds += 1;
            total += data.len();
            let found = inspect_bytes(&data);
            if let Some(format) = format {
                assert!(
                    found.matches.iter().any(|f| f.format == format),
                    "{}: not detected as {format}: {found:?}",
                    path.display()
                );
                let alone = inspect_bytes_as(&data, format);
                assert_eq!(alone.matches.len(), 1, "{}", path.display());
            }
            for declared in DiskFormat::ALL {
                for require in [true, false] {
                    if let Err(refusal) = decide(&found, *declared, require, data.len() as u64) {
                        assert!(refusal.to_string().ends_with("refused."), "{refusal}");
                    }
                }
            }
        }
    }
    assert!(seeds >= 20, "only {seeds} seeds under fuzz/corpus");
    assert!(total < 1 << 20, "the corpus is {total} bytes: keep it under 1 MiB");
}

#[test]
fn the_compacted_vhdx_seed_keeps_its_size() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/vhdx/compact");
    let found = inspect_bytes(&fs::read(path).unwrap());
    assert_eq!(found.matches[0].virtual_size, Some(64 << 20));
}
