//! docs/architecture.md names every source file: a file added, moved or
//! removed without the map following fails here, so the map cannot go
//! stale.

use std::path::{Path, PathBuf};

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("rs" | "js" | "json")) {
            out.push(path);
        }
    }
}

/// The paths the map lists: the first word of each line of its file tree
/// (a fenced block), with nested lines under their folder.
fn listed(map: &str) -> Vec<String> {
    let tree = map.split("```").nth(1).expect("docs/architecture.md has a fenced file tree");
    let mut folder = String::new();
    let mut paths = Vec::new();
    for line in tree.lines() {
        let Some(word) = line.split_whitespace().next() else { continue };
        if !line.starts_with(' ') {
            if let Some(dir) = word.strip_suffix('/') {
                folder = format!("{dir}/");
                continue;
            }
            folder.clear();
            paths.push(word.to_owned());
        } else if line.starts_with("  ") && !line.starts_with("   ") && word.contains('.') {
            paths.push(format!("{folder}{word}"));
        }
    }
    paths
}

#[test]
fn every_source_file_is_on_the_map_and_every_file_on_the_map_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let map = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let listed = listed(&map);
    let mut files = Vec::new();
    source_files(&root.join("src"), &mut files);
    let mut missing: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(root).unwrap().to_string_lossy().into_owned())
        .filter(|f| !f.starts_with("src/schemas/") && !listed.contains(f))
        .collect();
    missing.sort();
    assert!(missing.is_empty(), "source files missing from docs/architecture.md's file tree: {missing:#?}");
    let gone: Vec<&String> = listed.iter().filter(|p| p.starts_with("src/") && !root.join(p).exists()).collect();
    assert!(gone.is_empty(), "docs/architecture.md lists files that do not exist: {gone:#?}");
}
