//! What resumable uploads ([`super::resumable`]) and parallel downloads
//! ([`super::download`]) share: byte ranges and how a length is split into
//! parts, the set of ranges already done, sizes as people type them (`64M`),
//! a rate limit shared by every thread of a transfer, the retry policy,
//! progress reports, state files written atomically, and the final check of
//! a file's md5 and sha512 against the image record.
//!
//! Everything here is pure or local-file only, and unit-tested on the host.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use md5::Digest as _;
use serde::{Deserialize, Serialize};

use super::{hex, ClientError, ImageRecord};

/// A half-open byte range `[start, end)` of a file or an image's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl ByteRange {
    /// `[start, end)`.
    pub fn new(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether it holds no byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Splits `len` bytes into at most `parts` consecutive ranges of equal size
/// (the last one shorter), each a multiple of `align` bytes long (except the
/// last): the tus server stores its data in blocks, and parts that start on a
/// block boundary are the cheapest to concatenate. Fewer parts come back when
/// `len` is too small for `parts` aligned ones.
pub fn split(len: u64, parts: usize, align: u64) -> Vec<ByteRange> {
    if len == 0 {
        return Vec::new();
    }
    let parts = parts.max(1) as u64;
    let align = align.max(1);
    let size = len.div_ceil(parts).div_ceil(align) * align;
    (0..parts)
        .map(|i| i * size)
        .take_while(|&start| start < len)
        .map(|start| ByteRange::new(start, (start + size).min(len)))
        .collect()
}

/// Cuts `missing` ranges into pieces for `workers` parallel requests: about
/// the same amount of bytes each, none smaller than `min_piece` unless its
/// range is, so a download resumed with a few small holes does not turn into
/// many tiny requests.
pub fn spread(missing: &[ByteRange], workers: usize, min_piece: u64) -> Vec<ByteRange> {
    let total: u64 = missing.iter().map(ByteRange::len).sum();
    let target = total.div_ceil(workers.max(1) as u64).max(min_piece.max(1));
    let mut pieces = Vec::new();
    for range in missing {
        let mut start = range.start;
        while start < range.end {
            // A remainder smaller than `min_piece` rides along with the piece before it.
            let end = if range.end - start < target + min_piece { range.end } else { start + target };
            pieces.push(ByteRange::new(start, end));
            start = end;
        }
    }
    pieces
}

/// The ranges of a file already done: sorted, disjoint, adjacent ones merged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RangeSet(Vec<ByteRange>);

impl RangeSet {
    /// Marks `range` done.
    pub fn insert(&mut self, range: ByteRange) {
        if range.is_empty() {
            return;
        }
        let mut merged = range;
        let mut kept = Vec::with_capacity(self.0.len() + 1);
        for r in self.0.drain(..) {
            if r.end < merged.start || r.start > merged.end {
                kept.push(r);
            } else {
                merged = ByteRange::new(merged.start.min(r.start), merged.end.max(r.end));
            }
        }
        kept.push(merged);
        kept.sort_by_key(|r| r.start);
        self.0 = kept;
    }

    /// Bytes done.
    pub fn total(&self) -> u64 {
        self.0.iter().map(ByteRange::len).sum()
    }

    /// The done ranges, in order.
    pub fn ranges(&self) -> &[ByteRange] {
        &self.0
    }

    /// What of `[0, len)` is not done yet, in order.
    pub fn missing(&self, len: u64) -> Vec<ByteRange> {
        let mut missing = Vec::new();
        let mut at = 0;
        for r in &self.0 {
            if r.start > at {
                missing.push(ByteRange::new(at, r.start.min(len)));
            }
            at = at.max(r.end);
        }
        if at < len {
            missing.push(ByteRange::new(at, len));
        }
        missing.retain(|r| !r.is_empty());
        missing
    }
}

/// A size that is not a number of bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{0}' is not a size: expected bytes, optionally with K, M or G (powers of 1024), e.g. 64M")]
pub struct NotASize(pub String);

/// A size as curl's `--limit-rate` takes it: `1048576`, `512K`, `64M`,
/// `1G` (binary multiples; `KiB`/`MB`-style endings are accepted too).
pub fn parse_size(raw: &str) -> Result<u64, NotASize> {
    let text = raw.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().map_err(|_| NotASize(raw.to_owned()))?;
    let unit = unit.trim().to_ascii_lowercase();
    let shift = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(NotASize(raw.to_owned())),
    };
    number.checked_mul(1 << shift).ok_or_else(|| NotASize(raw.to_owned()))
}

/// A rate limit in bytes per second shared by every thread of one transfer
/// (curl's `--limit-rate` caps a transfer, not each of its connections).
///
/// Each caller reserves the next slot for its bytes: no credit builds up
/// while nobody sends, so a pause is not followed by a burst.
pub struct RateLimit {
    bytes_per_second: u64,
    next: Mutex<Instant>,
}

impl RateLimit {
    /// A limit of `bytes_per_second` (at least 1).
    pub fn new(bytes_per_second: u64) -> RateLimit {
        RateLimit { bytes_per_second: bytes_per_second.max(1), next: Mutex::new(Instant::now()) }
    }

    /// Blocks until `bytes` more may go.
    pub fn take(&self, bytes: usize) {
        let now = Instant::now();
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let slot = (*next).max(now);
            *next = slot + Duration::from_secs_f64(bytes as f64 / self.bytes_per_second as f64);
            slot
        };
        if slot > now {
            std::thread::sleep(slot - now);
        }
    }

    /// How much to read at once so the pacing stays smooth (about 1/20 s).
    pub fn grain(&self) -> usize {
        (self.bytes_per_second / 20).clamp(1024, 256 * 1024) as usize
    }
}

/// A reader paced by an optional [`RateLimit`], telling `on_read` how many
/// bytes passed (what the progress bar and the transfer report count).
pub struct Metered<'a, R> {
    inner: R,
    limit: Option<&'a RateLimit>,
    on_read: &'a (dyn Fn(u64) + Sync),
}

impl<'a, R: Read> Metered<'a, R> {
    /// Wraps `inner`.
    pub fn new(inner: R, limit: Option<&'a RateLimit>, on_read: &'a (dyn Fn(u64) + Sync)) -> Metered<'a, R> {
        Metered { inner, limit, on_read }
    }
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = match self.limit {
            Some(limit) => buf.len().min(limit.grain()),
            None => buf.len(),
        };
        let n = self.inner.read(&mut buf[..want])?;
        if let Some(limit) = self.limit {
            limit.take(n);
        }
        (self.on_read)(n as u64);
        Ok(n)
    }
}

/// How often, and how patiently, a part of a transfer is retried after a
/// network error or an answer that says "later" (5xx, 423).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Failures in a row a part survives; progress resets the count.
    pub attempts: u32,
    /// The wait after the first failure; it doubles with each one after.
    pub first_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Eight tries over about 40 s: long enough for the catalog to notice a
    /// cut-off request (its idle timeout) and release the upload's lock.
    fn default() -> RetryPolicy {
        RetryPolicy { attempts: 8, first_delay: Duration::from_millis(500), max_delay: Duration::from_secs(10) }
    }
}

impl RetryPolicy {
    /// The wait after the `failure`-th failure in a row (1-based).
    pub fn delay(&self, failure: u32) -> Duration {
        let factor = 1u32 << failure.saturating_sub(1).min(16);
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

impl RetryPolicy {
    /// Runs `op` until it succeeds, fails for good, or has failed
    /// transiently ([`ClientError::is_transient`]) `attempts` times, waiting
    /// between tries and telling `progress` about each retry.
    pub fn run<T>(
        &self,
        progress: &dyn Progress,
        what: &str,
        mut op: impl FnMut() -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let mut failures = 0;
        loop {
            match op() {
                Ok(value) => return Ok(value),
                Err(error) if error.is_transient() && failures + 1 < self.attempts => {
                    failures += 1;
                    let delay = self.delay(failures);
                    progress.note(&format!("{what}: {error}; retrying in {delay:?}"));
                    std::thread::sleep(delay);
                }
                Err(error) => return Err(error),
            }
        }
    }
}

/// Whom a transfer reports to (the CLI's progress bar; nothing in tests).
pub trait Progress: Sync {
    /// The transfer's length and what is already done (a resumed transfer
    /// starts part-way).
    fn begin(&self, total: u64, done: u64);
    /// Bytes done so far.
    fn update(&self, done: u64);
    /// A line for the person watching: a retry, a resume, a restart.
    fn note(&self, message: &str);
}

/// A [`Progress`] that reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _: u64, _: u64) {}
    fn update(&self, _: u64) {}
    fn note(&self, _: &str) {}
}

/// A file's identity as a state file records it: a resume refuses a file
/// that changed since (same path, but another size or modification time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    /// Absolute path.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: u128,
}

impl FileStamp {
    /// The stamp of the file at `path` now.
    pub fn of(path: &Path) -> Result<FileStamp, ClientError> {
        let path = std::fs::canonicalize(path)?;
        let meta = std::fs::metadata(&path)?;
        let mtime_ns = meta.modified()?.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        Ok(FileStamp { path, size: meta.len(), mtime_ns })
    }
}

/// Writes `value` as JSON to `path` through a temporary file and a rename,
/// so a process killed mid-write leaves the previous state, never half of
/// one.
pub fn save_state<T: Serialize>(path: &Path, value: &T) -> Result<(), ClientError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let body = serde_json::to_vec_pretty(value)
        .map_err(|e| ClientError::State { path: path.to_owned(), reason: format!("cannot serialize: {e}") })?;
    let mut file = File::create(&temporary)?;
    file.write_all(&body)?;
    file.flush()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    Ok(())
}

/// Reads a state file; `None` when there is none.
pub fn load_state<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, ClientError> {
    match std::fs::read(path) {
        Ok(body) => serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| ClientError::State { path: path.to_owned(), reason: format!("not a state file: {e}") }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Removes a file that may not exist.
pub fn remove_if_present(path: &Path) -> Result<(), ClientError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// A file's md5 and sha512, hex: what the catalog records as `checksum` and
/// `os_hash_value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    /// Bytes read.
    pub size: u64,
    /// Hex md5.
    pub md5: String,
    /// Hex sha512.
    pub sha512: String,
}

/// Hashes the file at `path`; `None` when `stop` was set before the end (the
/// transfer the hash was for failed, and nobody waits for it any more).
pub fn digests_of(path: &Path, stop: &AtomicBool) -> Result<Option<Digests>, ClientError> {
    let mut file = File::open(path)?;
    let mut md5 = md5::Md5::new();
    let mut sha512 = sha2::Sha512::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        md5.update(&buffer[..n]);
        sha512.update(&buffer[..n]);
        size += n as u64;
    }
    Ok(Some(Digests { size, md5: hex(&md5.finalize()), sha512: hex(&sha512.finalize()) }))
}

/// Checks `digests` against the image record: its size, `checksum` (md5)
/// and, when `os_hash_algo` is sha512, `os_hash_value`. With `require_both`
/// a record without either hash fails too (an upload just imported must
/// have both; an older image being downloaded may lack them).
pub fn check_digests(record: &ImageRecord, digests: &Digests, require_both: bool) -> Result<(), ClientError> {
    let mismatch = |algorithm: &str, expected: &str, actual: &str| ClientError::Integrity {
        algorithm: algorithm.into(),
        expected: expected.into(),
        actual: actual.into(),
    };
    if let Some(size) = record.size {
        if size != digests.size {
            return Err(mismatch("size", &size.to_string(), &digests.size.to_string()));
        }
    }
    match (record.os_hash_algo.as_deref(), record.os_hash_value.as_deref()) {
        (Some("sha512"), Some(expected)) if expected != digests.sha512 => {
            return Err(mismatch("sha512", expected, &digests.sha512))
        }
        (Some("sha512"), Some(_)) => {}
        _ if require_both => return Err(mismatch("sha512", "nothing", &digests.sha512)),
        _ => {}
    }
    match record.checksum.as_deref() {
        Some(expected) if expected != digests.md5 => Err(mismatch("md5", expected, &digests.md5)),
        None if require_both => Err(mismatch("md5", "nothing", &digests.md5)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(pairs: &[(u64, u64)]) -> Vec<ByteRange> {
        pairs.iter().map(|&(s, e)| ByteRange::new(s, e)).collect()
    }

    #[test]
    fn a_length_splits_into_aligned_parts_that_cover_it_exactly() {
        const MIB: u64 = 1 << 20;
        assert_eq!(
            split(64 * MIB, 4, 8 * MIB),
            ranges(&[(0, 16), (16, 32), (32, 48), (48, 64)].map(|(s, e)| (s * MIB, e * MIB)))
        );
        // 40 MiB in 4: 10 MiB each, rounded up to 16 MiB: three parts.
        assert_eq!(split(40 * MIB, 4, 8 * MIB), ranges(&[(0, 16 * MIB), (16 * MIB, 32 * MIB), (32 * MIB, 40 * MIB)]));
        assert_eq!(split(10, 3, 1), ranges(&[(0, 4), (4, 8), (8, 10)]));
        assert_eq!(split(5, 1, 8 * MIB), ranges(&[(0, 5)]));
        assert_eq!(split(0, 4, 1), ranges(&[]));
        for (len, parts, align) in [(1_000_003u64, 7usize, 4096u64), (123, 200, 1), (99 * MIB + 1, 4, 8 * MIB)] {
            let split = split(len, parts, align);
            assert!(split.len() <= parts && !split.is_empty());
            assert_eq!(split[0].start, 0);
            assert_eq!(split.last().unwrap().end, len);
            for pair in split.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
                assert_eq!(pair[0].len() % align, 0);
            }
        }
    }

    #[test]
    fn missing_ranges_spread_over_workers_without_tiny_pieces() {
        let pieces = spread(&ranges(&[(0, 100)]), 4, 1);
        assert_eq!(pieces, ranges(&[(0, 25), (25, 50), (50, 75), (75, 100)]));
        // Holes smaller than a piece stay whole; a big hole is cut.
        let pieces = spread(&ranges(&[(0, 10), (50, 250)]), 2, 20);
        assert_eq!(pieces, ranges(&[(0, 10), (50, 155), (155, 250)]));
        // A remainder below the minimum joins the piece before it.
        let pieces = spread(&ranges(&[(0, 105)]), 2, 60);
        assert_eq!(pieces, ranges(&[(0, 105)]));
        assert!(spread(&[], 4, 1).is_empty());
    }

    #[test]
    fn done_ranges_merge_and_tell_what_is_missing() {
        let mut done = RangeSet::default();
        assert_eq!(done.missing(10), ranges(&[(0, 10)]));
        done.insert(ByteRange::new(2, 4));
        done.insert(ByteRange::new(6, 8));
        done.insert(ByteRange::new(7, 7));
        assert_eq!(done.ranges(), ranges(&[(2, 4), (6, 8)]));
        assert_eq!(done.missing(10), ranges(&[(0, 2), (4, 6), (8, 10)]));
        // Adjacent and overlapping ranges merge.
        done.insert(ByteRange::new(4, 6));
        assert_eq!(done.ranges(), ranges(&[(2, 8)]));
        done.insert(ByteRange::new(0, 3));
        done.insert(ByteRange::new(7, 10));
        assert_eq!(done.ranges(), ranges(&[(0, 10)]));
        assert_eq!(done.total(), 10);
        assert!(done.missing(10).is_empty());
        let json = serde_json::to_string(&done).unwrap();
        assert_eq!(json, r#"[{"start":0,"end":10}]"#);
        assert_eq!(serde_json::from_str::<RangeSet>(&json).unwrap(), done);
    }

    #[test]
    fn sizes_read_like_curls() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("8m"), Ok(8 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size(" 3 KB "), Ok(3 << 10));
        for bad in ["", "M", "1.5M", "-1", "10X", "99999999999999999999G"] {
            assert_eq!(parse_size(bad), Err(NotASize(bad.to_owned())), "{bad}");
        }
    }

    #[test]
    fn the_rate_limit_paces_what_passes() {
        let limit = RateLimit::new(1_000_000);
        let start = Instant::now();
        let counted = std::sync::atomic::AtomicU64::new(0);
        let count = |n: u64| {
            counted.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        };
        let mut reader = Metered::new(io::Cursor::new(vec![7u8; 300_000]), Some(&limit), &count);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out.len(), 300_000);
        assert_eq!(counted.into_inner(), 300_000);
        // The first grain goes at once, the rest at 1 MB/s.
        assert!(start.elapsed() >= Duration::from_millis(240), "{:?}", start.elapsed());
    }

    #[test]
    fn retries_back_off_exponentially_up_to_a_cap() {
        let policy = RetryPolicy::default();
        let waits: Vec<u64> = (1..=7).map(|n| policy.delay(n).as_millis() as u64).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 10000, 10000]);
    }

    #[test]
    fn only_transient_failures_are_retried_and_only_so_often() {
        let policy =
            RetryPolicy { attempts: 3, first_delay: Duration::from_millis(1), max_delay: Duration::from_millis(1) };
        let mut tries = 0;
        let result: Result<(), _> = policy.run(&Silent, "test", || {
            tries += 1;
            Err(ClientError::Http { status: 503, message: "later".into() })
        });
        assert!(matches!(result, Err(ClientError::Http { status: 503, .. })));
        assert_eq!(tries, 3);
        let mut tries = 0;
        let result: Result<(), _> = policy.run(&Silent, "test", || {
            tries += 1;
            Err(ClientError::BadRequest("no".into()))
        });
        assert!(matches!(result, Err(ClientError::BadRequest(_))));
        assert_eq!(tries, 1);
        let mut tries = 0;
        let result = policy.run(&Silent, "test", || {
            tries += 1;
            if tries < 3 {
                Err(ClientError::Http { status: 423, message: "locked".into() })
            } else {
                Ok(tries)
            }
        });
        assert_eq!(result.unwrap(), 3);
    }

    #[test]
    fn state_files_round_trip_and_a_missing_one_is_none() {
        let dir = std::env::temp_dir().join(format!("edge-glance-state-{}", uuid::Uuid::new_v4().simple()));
        let path = dir.join("nested/state.json");
        assert_eq!(load_state::<RangeSet>(&path).unwrap(), None);
        let mut done = RangeSet::default();
        done.insert(ByteRange::new(5, 9));
        save_state(&path, &done).unwrap();
        assert_eq!(load_state::<RangeSet>(&path).unwrap(), Some(done));
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(load_state::<RangeSet>(&path), Err(ClientError::State { .. })));
        remove_if_present(&path).unwrap();
        remove_if_present(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn record(size: u64, md5: Option<&str>, sha512: Option<&str>) -> ImageRecord {
        serde_json::from_value(serde_json::json!({
            "id": "i", "name": null, "status": "active", "visibility": "private", "size": size,
            "checksum": md5, "os_hash_algo": sha512.map(|_| "sha512"), "os_hash_value": sha512,
            "disk_format": "raw", "container_format": "bare", "owner": null
        }))
        .unwrap()
    }

    #[test]
    fn a_files_digests_are_checked_against_the_record() {
        let path = std::env::temp_dir().join(format!("edge-glance-digest-{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&path, b"abc").unwrap();
        let digests = digests_of(&path, &AtomicBool::new(false)).unwrap().unwrap();
        assert_eq!(digests_of(&path, &AtomicBool::new(true)).unwrap(), None);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(digests.size, 3);
        assert_eq!(digests.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert!(digests.sha512.starts_with("ddaf35a193617aba"));
        let good = record(3, Some(&digests.md5), Some(&digests.sha512));
        check_digests(&good, &digests, true).unwrap();
        let failed = |record: &ImageRecord, strict: bool| match check_digests(record, &digests, strict) {
            Err(ClientError::Integrity { algorithm, .. }) => algorithm,
            other => panic!("{other:?}"),
        };
        assert_eq!(failed(&record(4, Some(&digests.md5), Some(&digests.sha512)), false), "size");
        assert_eq!(failed(&record(3, Some(&digests.md5), Some(&"0".repeat(128))), false), "sha512");
        assert_eq!(failed(&record(3, Some(&"0".repeat(32)), Some(&digests.sha512)), false), "md5");
        // A record without hashes passes a lenient check, not a strict one.
        check_digests(&record(3, None, None), &digests, false).unwrap();
        assert_eq!(failed(&record(3, Some(&digests.md5), None), true), "sha512");
        assert_eq!(failed(&record(3, None, Some(&digests.sha512)), true), "md5");
    }
}
