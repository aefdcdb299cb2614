//! The `edge-glance` CLI's parallel, resumable transfers against the real
//! catalog: an upload (tus partial uploads, concatenated, imported) and a
//! download (ranged GETs into `FILE.part`) killed mid-way with SIGKILL and
//! continued with `--resume` from where they stopped, verified by md5 and
//! sha512; a resumed download whose kept bytes were damaged fails its
//! verification (so the kept bytes were not fetched again), and one whose
//! data changed starts over.
//!
//! `--limit-rate` slows the first run so it can be caught mid-way; the
//! tests wait for progress the server (HEAD) or the state file shows before
//! killing, never for a fixed time.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{app, md5_hex, random_bytes, sha512_hex, unique_tag, wait_until};

const MIB: usize = 1 << 20;

fn cli(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_edge-glance"));
    command.arg("--url").arg(&app().base).args(args);
    command
}

fn run(args: &[&str]) -> Output {
    cli(args).output().expect("run edge-glance")
}

fn ok_json(args: &[&str]) -> Value {
    let output = run(&[&["--json"], args].concat());
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

/// Starts the CLI in the background, its stderr kept in `log` for when a
/// test fails.
fn spawn(args: &[&str], log: &Path) -> Child {
    cli(args)
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
        .spawn()
        .expect("start edge-glance")
}

/// SIGKILL: nothing of the CLI runs after it, no clean-up, no last save.
fn kill(mut child: Child, log: &Path) {
    if let Some(status) = child.try_wait().unwrap() {
        panic!("the CLI ended ({status}) before it was killed: {}", std::fs::read_to_string(log).unwrap_or_default());
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cli-resume-{}", unique_tag()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn read_json(path: &Path) -> Result<Value, String> {
    let body = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&body).map_err(|e| format!("{}: {e}", path.display()))
}

/// The server's offset of a tus upload.
fn server_offset(url: &str) -> u64 {
    let path = url.strip_prefix(&app().base).unwrap_or(url);
    let reply = app().request("HEAD", path, &[("Tus-Resumable", "1.0.0")], None);
    assert_eq!(reply.status, 200, "HEAD {url}");
    reply.header("upload-offset").expect("Upload-Offset").parse().unwrap()
}

#[test]
fn an_upload_killed_mid_way_resumes_from_the_servers_offsets_and_ends_active_with_the_files_hashes() {
    // 8 MiB/s for the whole upload: each of the 4 parts finishes its first
    // 8 MiB chunk after about 4 s, the rest would take 4 s per chunk more.
    killed_upload_resumes(64 * MIB, "4", 91);
}

#[test]
fn an_upload_in_one_part_killed_mid_way_resumes_too() {
    // One plain tus upload (no concatenation): 3 chunks of 8 MiB.
    killed_upload_resumes(24 * MIB, "1", 95);
}

/// Creates an image from a file of `size` bytes sent in `parallel` parts
/// at 8 MiB/s, kills the CLI once a chunk is confirmed, resumes it with
/// `upload ID FILE --resume` and checks the result.
fn killed_upload_resumes(size: usize, parallel: &str, seed: u64) {
    let dir = scratch();
    let data = random_bytes(size, seed);
    let file = dir.join("disk.img");
    std::fs::write(&file, &data).unwrap();
    let state_dir = dir.join("state");
    let (file_arg, state_arg) = (file.to_str().unwrap(), state_dir.to_str().unwrap());
    let tag = unique_tag();
    let log = dir.join("create.log");
    let options = ["--parallel-threshold", "1M", "--chunk-size", "8M", "--parallel", parallel];

    let creating = spawn(
        &[
            &["create", "--name", "resumed", "--tag", &tag, "--file", file_arg, "--state-dir", state_arg],
            &options[..],
            &["--limit-rate", "8M"],
        ]
        .concat(),
        &log,
    );
    let uploads = state_dir.join("uploads");
    let (state_file, state) = wait_until("a part's first chunk in the state file", Duration::from_secs(120), || {
        let entry = std::fs::read_dir(&uploads).map_err(|e| e.to_string())?.next().ok_or("no state file")?;
        let path = entry.map_err(|e| e.to_string())?.path();
        let state = read_json(&path)?;
        let confirmed: u64 =
            state["parts"].as_array().ok_or("no parts")?.iter().filter_map(|p| p["offset"].as_u64()).sum();
        if confirmed > 0 {
            Ok((path, state))
        } else {
            Err(format!("{state}"))
        }
    });
    kill(creating, &log);

    let id = state["image_id"].as_str().unwrap().to_owned();
    assert_eq!(state_file.file_name().unwrap().to_str().unwrap(), format!("{id}.json"));
    let parts = state["parts"].as_array().unwrap();
    assert_eq!(parts.len() > 1, parallel != "1", "{state}");
    // What the server holds, asked independently of the CLI.
    let held: u64 = parts.iter().map(|p| server_offset(p["url"].as_str().expect("every part was created"))).sum();
    assert!(held > 0 && held < data.len() as u64, "the server holds {held} bytes");
    assert_eq!(app().status_of(&id), "queued", "nothing is staged before the final upload");

    let done = ok_json(&[&["upload", &id, file_arg, "--resume", "--state-dir", state_arg], &options[..]].concat());
    assert_eq!(done["id"], id.as_str());
    assert_eq!(done["status"], "active", "{done}");
    assert_eq!(done["size"], data.len());
    assert_eq!(done["checksum"].as_str(), Some(md5_hex(&data).as_str()));
    assert_eq!(done["os_hash_value"].as_str(), Some(sha512_hex(&data).as_str()));
    assert_eq!(app().show(&id)["os_hash_value"].as_str(), Some(sha512_hex(&data).as_str()));
    // The resume went on from the server's offsets: it found at least what
    // the server held before, and sent no more than the rest.
    let transfer = &done["transfer"];
    assert_eq!(transfer["parts"], parts.len());
    let (resumed_from, sent) = (transfer["resumed_from"].as_u64().unwrap(), transfer["sent"].as_u64().unwrap());
    assert!(resumed_from >= held, "resumed from {resumed_from}, the server held {held}");
    assert!(sent + held <= data.len() as u64, "sent {sent} after the server held {held} of {}", data.len());
    assert!(sent > 0);
    assert!(!state_file.exists(), "the state file is removed once the image is verified");

    app().delete(&format!("/v2/images/{id}"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn upload_and_download_above_the_threshold_go_in_parallel_parts_and_below_it_in_one_request() {
    let dir = scratch();
    let data = random_bytes(20 * MIB + 123, 92);
    let file = dir.join("disk.img");
    std::fs::write(&file, &data).unwrap();
    let state_arg = dir.join("state");
    let tag = unique_tag();

    // Both images are made first: the helpers' POSTs are not retried on a
    // pooled connection the catalog closed while the CLI worked.
    let id = app().create_importable(&tag, "parallel");
    let small_id = app().create_importable(&tag, "small");
    let done = ok_json(
        &[
            &["upload", &id, file.to_str().unwrap(), "--state-dir", state_arg.to_str().unwrap()],
            &["--parallel-threshold", "1M", "--chunk-size", "3M", "--parallel", "3"][..],
        ]
        .concat(),
    );
    assert_eq!(done["status"], "active", "{done}");
    assert_eq!(done["checksum"].as_str(), Some(md5_hex(&data).as_str()));
    assert_eq!(done["os_hash_value"].as_str(), Some(sha512_hex(&data).as_str()));
    // 20 MiB in 3 parts aligned on 8 MiB blocks: 8 + 8 + 4.
    assert_eq!(done["transfer"]["parts"], 3);
    assert_eq!(done["transfer"]["resumed_from"], 0);
    assert_eq!(done["transfer"]["sent"], data.len());
    assert_eq!(std::fs::read_dir(state_arg.join("uploads")).unwrap().count(), 0);

    let copy = dir.join("copy.img");
    let fetched = ok_json(&["download", &id, "-o", copy.to_str().unwrap(), "--parallel-threshold", "1M"]);
    assert_eq!(fetched["parallel"], true, "{fetched}");
    assert_eq!(fetched["fetched"], data.len());
    assert!(std::fs::read(&copy).unwrap() == data);
    assert!(!dir.join("copy.img.part").exists() && !dir.join("copy.img.part.json").exists());

    // At the default threshold (64 MiB) the same image is one request.
    let single = dir.join("single.img");
    let fetched = ok_json(&["download", &id, "-o", single.to_str().unwrap()]);
    assert!(fetched.get("parallel").is_none(), "{fetched}");
    assert!(std::fs::read(&single).unwrap() == data);

    // A small upload stays a single PUT, even with --limit-rate.
    let small = random_bytes(300_000, 93);
    let small_file = dir.join("small.img");
    std::fs::write(&small_file, &small).unwrap();
    let shown = ok_json(&[
        "upload",
        &small_id,
        small_file.to_str().unwrap(),
        "--limit-rate",
        "1M",
        "--state-dir",
        state_arg.to_str().unwrap(),
    ]);
    assert_eq!(shown["status"], "active");
    assert!(shown.get("transfer").is_none(), "{shown}");
    assert_eq!(shown["checksum"].as_str(), Some(md5_hex(&small).as_str()));

    app().delete(&format!("/v2/images/{id}"));
    app().delete(&format!("/v2/images/{small_id}"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Starts a slow parallel download of `id` into `dest`, waits until its
/// state file records at least `at_least` bytes, kills it; answers the
/// state file then.
fn killed_download(id: &str, dest: &Path, at_least: u64) -> Value {
    let log = dest.with_extension("log");
    let downloading = spawn(
        &["download", id, "-o", dest.to_str().unwrap(), "--parallel-threshold", "1M", "--limit-rate", "4M"],
        &log,
    );
    let state_file = PathBuf::from(format!("{}.part.json", dest.display()));
    wait_until("progress in the download's state file", Duration::from_secs(120), || {
        let state = read_json(&state_file)?;
        let done: u64 = state["done"].as_array().ok_or("no done ranges")?.iter().map(range_len).sum();
        if done >= at_least {
            Ok(())
        } else {
            Err(format!("{state}"))
        }
    });
    kill(downloading, &log);
    assert!(!dest.exists(), "no FILE before the data is verified");
    read_json(&state_file).unwrap()
}

fn range_len(range: &Value) -> u64 {
    range["end"].as_u64().unwrap() - range["start"].as_u64().unwrap()
}

fn done_bytes(state: &Value) -> u64 {
    state["done"].as_array().unwrap().iter().map(range_len).sum()
}

#[test]
fn a_download_killed_mid_way_resumes_with_only_the_missing_ranges_and_is_verified() {
    let dir = scratch();
    let data = random_bytes(48 * MIB, 94);
    let id = app().create_active(&unique_tag(), &data, None);

    // Resumed: only what the state file did not record is fetched.
    let dest = dir.join("copy.img");
    let state = killed_download(&id, &dest, 4 * MIB as u64);
    let before = done_bytes(&state);
    assert!(before < data.len() as u64, "{state}");
    let resumed = ok_json(&["download", &id, "-o", dest.to_str().unwrap(), "--parallel-threshold", "1M", "--resume"]);
    assert_eq!(resumed["verified"], true);
    assert_eq!(resumed["resumed_from"], before);
    assert_eq!(resumed["fetched"].as_u64(), Some(data.len() as u64 - before), "{resumed}");
    assert!(std::fs::read(&dest).unwrap() == data, "the resumed download is the image's data");
    assert!(!dir.join("copy.img.part").exists() && !dir.join("copy.img.part.json").exists());

    // Resumed after the kept bytes were damaged: the resume trusts them (it
    // does not fetch them again), so the check at the end catches it and
    // leaves nothing behind.
    let damaged = dir.join("damaged.img");
    let state = killed_download(&id, &damaged, 4 * MIB as u64);
    let kept = &state["done"][0];
    let at = (kept["start"].as_u64().unwrap() + kept["end"].as_u64().unwrap()) / 2;
    let part = dir.join("damaged.img.part");
    let mut bytes = std::fs::read(&part).unwrap();
    bytes[at as usize] ^= 0xff;
    std::fs::write(&part, bytes).unwrap();
    let failed = run(&["download", &id, "-o", damaged.to_str().unwrap(), "--parallel-threshold", "1M", "--resume"]);
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("integrity check failed"), "{stderr}");
    assert!(!damaged.exists() && !part.exists() && !dir.join("damaged.img.part.json").exists());

    // Resumed with an ETag that is not the data's any more (the image
    // changed meanwhile): the download starts over and fetches it all.
    let changed = dir.join("changed.img");
    let mut state = killed_download(&id, &changed, 4 * MIB as u64);
    state["etag"] = Value::String("\"0123456789abcdef0123456789abcdef\"".into());
    std::fs::write(dir.join("changed.img.part.json"), state.to_string()).unwrap();
    let restarted =
        ok_json(&["download", &id, "-o", changed.to_str().unwrap(), "--parallel-threshold", "1M", "--resume"]);
    assert_eq!(restarted["restarts"], 1, "{restarted}");
    assert_eq!(restarted["fetched"].as_u64(), Some(data.len() as u64), "{restarted}");
    assert!(std::fs::read(&changed).unwrap() == data);

    app().delete(&format!("/v2/images/{id}"));
    std::fs::remove_dir_all(&dir).unwrap();
}
