//! Parallel, resumable downloads of an image's data into a file.
//!
//! [`download_file`] cuts what is missing of the data into pieces and
//! fetches them side by side with ranged GETs (`Range: bytes=a-b`,
//! `If-Range: "<etag>"`), each written at its offset into `FILE.part`. The
//! ranges already written are recorded in a state file beside it
//! (`FILE.part.json`, [`DownloadState`]): a piece that meets a network error
//! goes on from where it stopped, with backoff, and a process killed mid-way
//! fetches only the missing ranges when run again with `resume`. A ranged
//! request answered 200 means the image's data changed: everything starts
//! over. At the end the file's md5 and sha512 are checked against the record
//! (`checksum`, `os_hash_value`) and `FILE.part` becomes `FILE`; a mismatch
//! removes it and is an error.
//!
//! The ETag is the first response's `ETag` header, else `"<checksum>"` of
//! the record.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::transfer::{
    check_digests, digests_of, load_state, remove_if_present, save_state, spread, ByteRange, Progress, RangeSet,
    RateLimit, RetryPolicy,
};
use super::{Client, ClientError, ImageRecord};

/// The layout of the state file; a file of another layout starts over.
const STATE_VERSION: u32 = 1;

/// No piece smaller than this, unless its hole is: a resume with a few small
/// holes should not become many tiny requests.
const MIN_PIECE: u64 = 1 << 20;

/// Written bytes are recorded as done at least this often (so a killed
/// process loses at most this much per piece).
const RECORD_EVERY: u64 = 256 << 10;

/// The state file is rewritten at most this often (it is small, but every
/// piece records progress many times a second).
const SAVE_EVERY: Duration = Duration::from_millis(250);

/// How many times the data may change under a download before it gives up.
const MAX_RESTARTS: u32 = 2;

/// How a parallel download runs.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Ranged requests side by side.
    pub parallel: usize,
    /// A cap on the bytes per second of the whole download.
    pub limit_rate: Option<u64>,
    /// Retries of a piece after network errors and 5xx.
    pub retry: RetryPolicy,
    /// Continue from `FILE.part` and its state file instead of starting over.
    pub resume: bool,
}

impl DownloadOptions {
    /// The defaults: 4 requests, no rate limit, not resuming.
    pub fn new() -> DownloadOptions {
        DownloadOptions { parallel: 4, limit_rate: None, retry: RetryPolicy::default(), resume: false }
    }
}

impl Default for DownloadOptions {
    fn default() -> DownloadOptions {
        DownloadOptions::new()
    }
}

/// `FILE.part`: where the data is written until it is verified.
pub fn part_path(dest: &Path) -> PathBuf {
    suffixed(dest, ".part")
}

/// `FILE.part.json`: the download's state file.
pub fn state_path(dest: &Path) -> PathBuf {
    suffixed(dest, ".part.json")
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// What a resume needs to know about a download in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadState {
    /// The layout of this file ([`STATE_VERSION`]).
    pub version: u32,
    /// The catalog's URL.
    pub catalog: String,
    /// The image being downloaded.
    pub image_id: String,
    /// The data's size.
    pub size: u64,
    /// The data's md5 as the record had it: other data means starting over.
    pub checksum: Option<String>,
    /// The ETag sent as `If-Range`.
    pub etag: Option<String>,
    /// The ranges written into `FILE.part`.
    pub done: RangeSet,
}

impl DownloadState {
    fn fresh(catalog: &str, record: &ImageRecord, size: u64) -> DownloadState {
        DownloadState {
            version: STATE_VERSION,
            catalog: catalog.to_owned(),
            image_id: record.id.clone(),
            size,
            checksum: record.checksum.clone(),
            etag: None,
            done: RangeSet::default(),
        }
    }

    /// Whether this state continues a download of `record` from `catalog`.
    pub fn continues(&self, catalog: &str, record: &ImageRecord) -> bool {
        self.version == STATE_VERSION
            && self.catalog == catalog
            && self.image_id == record.id
            && Some(self.size) == record.size
            && self.checksum == record.checksum
    }
}

/// What a download did.
#[derive(Debug, Clone)]
pub struct DownloadReport {
    /// The image, as the data was verified against.
    pub image: ImageRecord,
    /// The data's size.
    pub size: u64,
    /// Bytes already in `FILE.part` when this run began.
    pub resumed_from: u64,
    /// Bytes this run fetched (retries and restarts included).
    pub fetched: u64,
    /// Times the data changed under the download and it started over.
    pub restarts: u32,
}

/// Downloads image `image_id` into `dest` with parallel ranged requests;
/// see the module documentation.
pub fn download_file(
    client: &Client,
    image_id: &str,
    dest: &Path,
    options: &DownloadOptions,
    progress: &dyn Progress,
) -> Result<DownloadReport, ClientError> {
    let (part, state_file) = (part_path(dest), state_path(dest));
    let catalog = client.base_url().to_owned();
    let mut record = options.retry.run(progress, "reading the image", || client.get_image_meta(image_id))?;
    let mut size = data_size(&record)?;
    let saved: Option<DownloadState> = if options.resume { load_state(&state_file).ok().flatten() } else { None };
    let usable = saved
        .filter(|s| s.continues(&catalog, &record))
        .filter(|_| std::fs::metadata(&part).map(|m| m.len() == size).unwrap_or(false));
    let mut state = match usable {
        Some(state) => state,
        None => {
            if options.resume {
                progress.note(&format!("nothing to resume in {}: starting from the beginning", part.display()));
            }
            start_over(&part, &catalog, &record, size)?
        }
    };
    let resumed_from = state.done.total();
    if resumed_from > 0 {
        progress.note(&format!("resuming: {resumed_from} of {size} bytes are already in {}", part.display()));
    }
    save_state(&state_file, &state)?;
    let mut fetched = 0;
    let mut restarts = 0;
    loop {
        let run = Run::new(client, &part, &state_file, options, progress, state);
        let outcome = run.fetch(&record);
        fetched += run.fetched.load(Ordering::Relaxed);
        state = run.into_state();
        save_state(&state_file, &state)?;
        match outcome {
            Ok(()) => break,
            Err(Fetch::Changed) if restarts < MAX_RESTARTS => {
                restarts += 1;
                progress.note("the image's data changed during the download: starting over");
                record = client.get_image_meta(image_id)?;
                size = data_size(&record)?;
                state = start_over(&part, &catalog, &record, size)?;
                save_state(&state_file, &state)?;
            }
            Err(Fetch::Changed) => {
                return Err(ClientError::Protocol(format!(
                    "the data of image {image_id} changed {} times during the download (or ranges are not honoured)",
                    restarts + 1
                )))
            }
            Err(Fetch::Failed(error)) => return Err(error),
        }
    }
    let digests = digests_of(&part, &AtomicBool::new(false))?
        .ok_or_else(|| ClientError::Protocol("hashing the download stopped".into()))?;
    if let Err(error) = check_digests(&record, &digests, false) {
        // Bad bytes are worth nothing to a resume: nothing stays.
        remove_if_present(&part)?;
        remove_if_present(&state_file)?;
        return Err(error);
    }
    std::fs::rename(&part, dest)?;
    remove_if_present(&state_file)?;
    Ok(DownloadReport { image: record, size, resumed_from, fetched, restarts })
}

fn data_size(record: &ImageRecord) -> Result<u64, ClientError> {
    match (record.status.as_str(), record.size) {
        ("active", Some(size)) => Ok(size),
        (status, _) => Err(ClientError::NotFound(format!("Image {} has no data to download ({status}).", record.id))),
    }
}

/// An empty `FILE.part` of the data's size, and a state with nothing done.
fn start_over(part: &Path, catalog: &str, record: &ImageRecord, size: u64) -> Result<DownloadState, ClientError> {
    let file = File::create(part)?;
    file.set_len(size)?;
    Ok(DownloadState::fresh(catalog, record, size))
}

/// Why a fetch stopped.
enum Fetch {
    /// A ranged request was answered with the whole (other) data.
    Changed,
    /// Anything else: the download fails with it.
    Failed(ClientError),
}

impl From<ClientError> for Fetch {
    fn from(error: ClientError) -> Fetch {
        Fetch::Failed(error)
    }
}

impl From<std::io::Error> for Fetch {
    fn from(error: std::io::Error) -> Fetch {
        Fetch::Failed(error.into())
    }
}

/// One pass over the missing ranges: the shared state of its piece threads.
struct Run<'a> {
    client: &'a Client,
    part: &'a Path,
    state_file: &'a Path,
    options: &'a DownloadOptions,
    progress: &'a dyn Progress,
    state: Mutex<(DownloadState, Instant)>,
    limit: Option<RateLimit>,
    fetched: AtomicU64,
    /// Set when a piece failed for good or saw the data change.
    abort: AtomicBool,
}

impl<'a> Run<'a> {
    fn new(
        client: &'a Client,
        part: &'a Path,
        state_file: &'a Path,
        options: &'a DownloadOptions,
        progress: &'a dyn Progress,
        state: DownloadState,
    ) -> Run<'a> {
        Run {
            client,
            part,
            state_file,
            options,
            progress,
            state: Mutex::new((state, Instant::now())),
            limit: options.limit_rate.map(RateLimit::new),
            fetched: AtomicU64::new(0),
            abort: AtomicBool::new(false),
        }
    }

    fn into_state(self) -> DownloadState {
        self.state.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner()).0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (DownloadState, Instant)> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records `range` as written (and, now and then, the state file).
    fn done(&self, range: ByteRange) -> Result<(), ClientError> {
        let mut guard = self.lock();
        let (state, saved) = &mut *guard;
        state.done.insert(range);
        self.progress.update(state.done.total());
        if saved.elapsed() >= SAVE_EVERY {
            save_state(self.state_file, &*state)?;
            *saved = Instant::now();
        }
        Ok(())
    }

    fn path(&self) -> String {
        format!("/v2/images/{}/file", self.lock().0.image_id)
    }

    fn ranged(&self, range: ByteRange, etag: Option<&str>) -> Result<ureq::Response, ClientError> {
        let mut request =
            self.client.request("GET", &self.path()).set("Range", &format!("bytes={}-{}", range.start, range.end - 1));
        if let Some(etag) = etag {
            request = request.set("If-Range", etag);
        }
        self.client.send(request.call())
    }

    /// Fetches every missing range.
    fn fetch(&self, record: &ImageRecord) -> Result<(), Fetch> {
        let (missing, size, done, known_etag) = {
            let state = &self.lock().0;
            (state.done.missing(state.size), state.size, state.done.total(), state.etag.clone())
        };
        self.progress.begin(size, done);
        let pieces = spread(&missing, self.options.parallel, MIN_PIECE);
        let Some((&first, rest)) = pieces.split_first() else { return Ok(()) };
        // The first request goes alone: its ETag is what every other piece
        // sends as If-Range. Until then, the record's checksum stands in.
        let guess = known_etag.clone().or_else(|| record.checksum.as_ref().map(|c| format!("\"{c}\"")));
        let response =
            self.options.retry.run(self.progress, "starting the download", || self.ranged(first, guess.as_deref()))?;
        if response.status() == 200 || differs(response.header("ETag"), known_etag.as_deref()) {
            return Err(Fetch::Changed);
        }
        let etag = response.header("ETag").map(str::to_owned).or(guess);
        self.lock().0.etag = etag.clone();
        let results: Vec<Result<(), Fetch>> = std::thread::scope(|scope| {
            let etag = etag.as_deref();
            let mut workers = vec![scope.spawn(move || self.piece(first, Some(response), etag))];
            workers.extend(rest.iter().map(|&piece| scope.spawn(move || self.piece(piece, None, etag))));
            workers.into_iter().map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
        });
        // A change of the data outranks other failures: it restarts.
        let mut failure = None;
        for result in results {
            match result {
                Err(Fetch::Changed) => return Err(Fetch::Changed),
                Err(error) => failure = failure.or(Some(error)),
                Ok(()) => {}
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Fetches one piece, starting with `response` when the first request
    /// was made already; after a failure worth retrying, asks for the rest
    /// of the piece from where it stopped.
    fn piece(&self, piece: ByteRange, mut response: Option<ureq::Response>, etag: Option<&str>) -> Result<(), Fetch> {
        let result = self.piece_from(piece, &mut response, etag);
        if result.is_err() {
            self.abort.store(true, Ordering::Relaxed);
        }
        result
    }

    fn piece_from(
        &self,
        piece: ByteRange,
        first: &mut Option<ureq::Response>,
        etag: Option<&str>,
    ) -> Result<(), Fetch> {
        let mut file = OpenOptions::new().write(true).open(self.part)?;
        let mut at = piece.start;
        let mut failures = 0u32;
        while at < piece.end {
            if self.abort.load(Ordering::Relaxed) {
                return Ok(());
            }
            let wanted = ByteRange::new(at, piece.end);
            let response = match first.take() {
                Some(response) => Ok(response),
                None => self.ranged(wanted, etag),
            };
            let outcome = match response {
                // The server's answer to If-Range is the rule; an ETag that
                // differs on a 206 is the same news from a server that
                // ignores If-Range.
                Ok(response) if response.status() == 206 && differs(response.header("ETag"), etag) => {
                    return Err(Fetch::Changed)
                }
                Ok(response) if response.status() == 206 => {
                    let before = at;
                    let copied = self.copy(response, wanted, &mut file, &mut at);
                    if at > before {
                        failures = 0;
                    }
                    copied
                }
                Ok(response) if response.status() == 200 => return Err(Fetch::Changed),
                Ok(response) => {
                    return Err(ClientError::Protocol(format!("a ranged GET answered {}", response.status())).into())
                }
                Err(error) => Err(error),
            };
            if let Err(error) = outcome {
                failures += 1;
                if !error.is_transient() || failures >= self.options.retry.attempts {
                    return Err(error.into());
                }
                let delay = self.options.retry.delay(failures);
                self.progress.note(&format!("bytes {at}-{}: {error}; resuming in {delay:?}", piece.end - 1));
                std::thread::sleep(delay);
            }
        }
        Ok(())
    }

    /// Writes a 206 answer for `wanted` at its offset, recording progress
    /// as it goes; `at` follows what was written. A broken connection is a
    /// transient error (the caller resumes from `at`).
    fn copy(
        &self,
        response: ureq::Response,
        wanted: ByteRange,
        file: &mut File,
        at: &mut u64,
    ) -> Result<(), ClientError> {
        let expected = format!("bytes {}-{}/", wanted.start, wanted.end - 1);
        match response.header("Content-Range") {
            Some(range) if range.starts_with(&expected) => {}
            other => {
                return Err(ClientError::Protocol(format!("asked for {expected}, got Content-Range {other:?}")));
            }
        }
        let grain = self.limit.as_ref().map_or(256 << 10, |l| l.grain());
        let mut reader = response.into_reader().take(wanted.len());
        let mut buffer = vec![0u8; grain];
        file.seek(SeekFrom::Start(*at))?;
        let mut recorded = *at;
        while *at < wanted.end {
            if self.abort.load(Ordering::Relaxed) {
                break;
            }
            let n = match reader.read(&mut buffer) {
                Ok(0) => {
                    self.done(ByteRange::new(recorded, *at))?;
                    return Err(ClientError::Transport(format!("the answer ended at byte {}", *at)));
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.done(ByteRange::new(recorded, *at))?;
                    return Err(ClientError::Transport(e.to_string()));
                }
            };
            if let Some(limit) = &self.limit {
                limit.take(n);
            }
            // Written before it is recorded: a killed process leaves the
            // bytes in the page cache, so what the state says is there.
            file.write_all(&buffer[..n])?;
            *at += n as u64;
            self.fetched.fetch_add(n as u64, Ordering::Relaxed);
            if *at - recorded >= RECORD_EVERY {
                self.done(ByteRange::new(recorded, *at))?;
                recorded = *at;
            }
        }
        self.done(ByteRange::new(recorded, *at))
    }
}

/// Whether a response's ETag names other data than `ours`.
fn differs(theirs: Option<&str>, ours: Option<&str>) -> bool {
    matches!((theirs, ours), (Some(theirs), Some(ours)) if theirs != ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, size: u64, checksum: &str) -> ImageRecord {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": null, "status": "active", "visibility": "private", "size": size,
            "checksum": checksum, "os_hash_algo": null, "os_hash_value": null,
            "disk_format": "raw", "container_format": "bare", "owner": null
        }))
        .unwrap()
    }

    #[test]
    fn the_part_and_state_files_sit_beside_the_destination() {
        let dest = Path::new("/tmp/out/disk.img");
        assert_eq!(part_path(dest), Path::new("/tmp/out/disk.img.part"));
        assert_eq!(state_path(dest), Path::new("/tmp/out/disk.img.part.json"));
    }

    #[test]
    fn a_state_round_trips_and_continues_only_the_same_data() {
        let image = record("img", 100, "abc");
        let mut state = DownloadState::fresh("http://c", &image, 100);
        state.etag = Some("\"abc\"".into());
        state.done.insert(ByteRange::new(10, 40));
        state.done.insert(ByteRange::new(60, 70));
        let json = serde_json::to_string(&state).unwrap();
        let back: DownloadState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, state);
        assert_eq!(back.done.missing(100), [ByteRange::new(0, 10), ByteRange::new(40, 60), ByteRange::new(70, 100)]);
        assert!(back.continues("http://c", &image));
        assert!(!back.continues("http://other", &image));
        assert!(!back.continues("http://c", &record("img", 101, "abc")));
        assert!(!back.continues("http://c", &record("img", 100, "def")));
        assert!(!back.continues("http://c", &record("other", 100, "abc")));
    }

    #[test]
    fn only_another_etag_means_other_data() {
        assert!(differs(Some("\"b\""), Some("\"a\"")));
        assert!(!differs(Some("\"a\""), Some("\"a\"")));
        assert!(!differs(None, Some("\"a\"")));
        assert!(!differs(Some("\"a\""), None));
    }

    #[test]
    fn only_active_images_with_a_size_are_downloaded() {
        assert_eq!(data_size(&record("i", 5, "x")).unwrap(), 5);
        let mut queued = record("i", 5, "x");
        queued.status = "queued".into();
        assert!(matches!(data_size(&queued), Err(ClientError::NotFound(_))));
        let mut sizeless = record("i", 5, "x");
        sizeless.size = None;
        assert!(matches!(data_size(&sizeless), Err(ClientError::NotFound(_))));
    }
}
