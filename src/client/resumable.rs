//! Resumable, parallel uploads through the catalog's tus protocol (tus
//! 1.0.0 with the creation, checksum and concatenation extensions; see
//! `/v2/images/{id}/uploads`).
//!
//! [`upload_file`] splits the file into up to N parts ([`split`], aligned on
//! the server's 8 MiB blocks), creates one partial upload per part
//! (`Upload-Concat: partial`) and sends the parts side by side, each in
//! PATCH chunks carrying `Upload-Checksum: sha1 <base64>`. When every part is
//! complete it creates the final upload (`Upload-Concat: final;<urls>`),
//! which stages the data on the image (a file in one part is one plain
//! upload, staged when complete), asks for the glance-direct import,
//! waits for `active` and checks the record's md5 and sha512 against the
//! file's.
//!
//! A part that meets a network error, a 5xx or a 423 asks the server where
//! it stands (HEAD) and goes on from that offset, with backoff, a bounded
//! number of times. The plan (image, file, part URLs and ranges) lives in a
//! state file ([`UploadState`], `<state dir>/uploads/<image id>.json`) from
//! the moment the parts exist, so a process killed mid-way is resumed by
//! running again with `resume`: every part continues from its server
//! offset. The state file is removed when the image is active and verified.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha1::Digest as _;

use super::transfer::{
    check_digests, digests_of, load_state, remove_if_present, save_state, split, ByteRange, FileStamp, Metered,
    Progress, RateLimit, RetryPolicy,
};
use super::{Client, ClientError, ImageRecord};

/// The tus version every request names.
const TUS_VERSION: &str = "1.0.0";

/// The server's storage block: parts (and, after a resume in mid-chunk, the
/// chunks) start on multiples of it, which the server concatenates cheapest.
pub const BLOCK: u64 = 8 << 20;

/// The layout of the state file; a file of another layout is refused.
const STATE_VERSION: u32 = 1;

/// How a resumable upload runs.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Parts sent side by side.
    pub parallel: usize,
    /// The most bytes in one PATCH (the platform caps a request body at
    /// 100 MB on most plans).
    pub chunk_size: u64,
    /// A cap on the bytes per second of the whole upload.
    pub limit_rate: Option<u64>,
    /// Retries of a part after network errors, 5xx and 423.
    pub retry: RetryPolicy,
    /// Where state files go (`uploads/<image id>.json` under it).
    pub state_dir: PathBuf,
    /// Continue the upload a state file describes, instead of starting over.
    pub resume: bool,
    /// How long the import may take before the upload gives up waiting.
    pub import_timeout: Duration,
}

impl UploadOptions {
    /// The defaults: 4 parts, 32 MiB chunks, no rate limit, not resuming.
    pub fn new(state_dir: PathBuf) -> UploadOptions {
        UploadOptions {
            parallel: 4,
            chunk_size: 32 << 20,
            limit_rate: None,
            retry: RetryPolicy::default(),
            state_dir,
            resume: false,
            import_timeout: Duration::from_secs(3600),
        }
    }
}

/// Where state files go when nothing else is said: `$XDG_STATE_HOME/edge-glance`,
/// else `~/.local/state/edge-glance`.
pub fn default_state_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".local/state"),
    };
    Some(base.join("edge-glance"))
}

/// The state file of the upload into `image_id`.
pub fn state_path(state_dir: &Path, image_id: &str) -> PathBuf {
    state_dir.join("uploads").join(format!("{image_id}.json"))
}

/// What a resume needs to know about an upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadState {
    /// The layout of this file ([`STATE_VERSION`]).
    pub version: u32,
    /// The catalog's URL: a resume against another catalog is refused.
    pub catalog: String,
    /// The image the data is for.
    pub image_id: String,
    /// The file being uploaded, as it was when the upload began.
    pub file: FileStamp,
    /// The parts, in file order.
    pub parts: Vec<PartState>,
}

/// One partial upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartState {
    /// The bytes of the file it carries.
    pub range: ByteRange,
    /// Its upload URL, once created.
    pub url: Option<String>,
    /// Bytes of it the server confirmed, last we heard (the server's HEAD
    /// is the authority on resume; this is for people and tests).
    pub offset: u64,
}

impl UploadState {
    /// A new plan: the file split into parts, none created yet.
    pub fn plan(catalog: &str, image_id: &str, file: FileStamp, parallel: usize) -> UploadState {
        let parts = split(file.size, parallel, BLOCK)
            .into_iter()
            .map(|range| PartState { range, url: None, offset: 0 })
            .collect();
        UploadState { version: STATE_VERSION, catalog: catalog.to_owned(), image_id: image_id.to_owned(), file, parts }
    }

    /// Whether this state may be resumed for `image_id` with `file` against
    /// `catalog`; `path` names the state file in the refusal.
    pub fn check(&self, path: &Path, catalog: &str, image_id: &str, file: &FileStamp) -> Result<(), ClientError> {
        let refuse = |reason: String| Err(ClientError::State { path: path.to_owned(), reason });
        if self.version != STATE_VERSION {
            return refuse(format!("layout {} is not {STATE_VERSION}", self.version));
        }
        if self.catalog != catalog || self.image_id != image_id {
            return refuse(format!("it is the upload of image {} to {}", self.image_id, self.catalog));
        }
        if self.file.path != file.path {
            return refuse(format!("it is the upload of {}, not {}", self.file.path.display(), file.path.display()));
        }
        if self.file != *file {
            return refuse(format!(
                "{} changed since the upload began (size or modification time); run without --resume to start over",
                file.path.display()
            ));
        }
        let covered: u64 = self.parts.iter().map(|p| p.range.len()).sum();
        if covered != file.size {
            return refuse(format!("its parts cover {covered} bytes of {}", file.size));
        }
        Ok(())
    }
}

/// The image id of an interrupted upload of the file at `path` to
/// `catalog` recorded in `state_dir` (what `create --resume` continues).
/// More than one is an error: the caller must name the image.
pub fn find_interrupted(state_dir: &Path, catalog: &str, path: &Path) -> Result<Option<String>, ClientError> {
    let path = std::fs::canonicalize(path)?;
    let entries = match std::fs::read_dir(state_dir.join("uploads")) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut found = Vec::new();
    for entry in entries {
        let file = entry?.path();
        if file.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        // A state file that cannot be read is not this file's; the upload
        // that owns it reports it when resumed.
        if let Ok(Some(state)) = load_state::<UploadState>(&file) {
            if state.catalog == catalog && state.file.path == path {
                found.push(state.image_id);
            }
        }
    }
    found.sort();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(ClientError::State {
            path: state_dir.join("uploads"),
            reason: format!(
                "several interrupted uploads of {} (images {}): resume one with `upload <id> <file> --resume`",
                path.display(),
                found.join(", ")
            ),
        }),
    }
}

/// What an upload did.
#[derive(Debug, Clone)]
pub struct UploadReport {
    /// The image, active and verified.
    pub image: ImageRecord,
    /// The file's size.
    pub size: u64,
    /// Partial uploads the file was sent in.
    pub parts: usize,
    /// Bytes the server already held when this run began (non-zero after a
    /// resume).
    pub resumed_from: u64,
    /// Bytes this run's PATCHes added to the server's offsets, as their
    /// answers said (refused or cut-off PATCHes count nothing): at most
    /// `size - resumed_from`.
    pub sent: u64,
}

/// Uploads the file at `path` as the data of the queued image `image_id`
/// and imports it; see the module documentation.
pub fn upload_file(
    client: &Client,
    image_id: &str,
    path: &Path,
    options: &UploadOptions,
    progress: &dyn Progress,
) -> Result<UploadReport, ClientError> {
    let stamp = FileStamp::of(path)?;
    let state_file = state_path(&options.state_dir, image_id);
    let catalog = client.base_url().to_owned();
    let saved: Option<UploadState> = load_state(&state_file)?;
    let resuming = options.resume && saved.is_some();
    let state = match saved {
        Some(saved) if options.resume => {
            saved.check(&state_file, &catalog, image_id, &stamp)?;
            saved
        }
        Some(old) => {
            progress.note(&format!(
                "an earlier interrupted upload into image {image_id} is abandoned (--resume continues one)"
            ));
            terminate(client, &old);
            UploadState::plan(&catalog, image_id, stamp.clone(), options.parallel)
        }
        None => {
            if options.resume {
                progress.note(&format!(
                    "no interrupted upload into image {image_id} in {}: starting from the beginning",
                    options.state_dir.display()
                ));
            }
            UploadState::plan(&catalog, image_id, stamp.clone(), options.parallel)
        }
    };
    save_state(&state_file, &state)?;
    let session = Session::new(client, path, options, progress, state, state_file.clone());

    let image = options.retry.run(progress, "reading the image", || client.get_image_meta(image_id))?;
    // Only a queued image takes bytes. On a resume the bytes may already be
    // staged: the final upload went through before the process died.
    let staged = resuming
        && matches!(image.status.as_str(), "uploading" | "importing" | "active")
        && image.size == Some(stamp.size);
    let resumed_from = if staged {
        progress.note(&format!("the data of image {image_id} is already staged"));
        stamp.size
    } else {
        session.send_parts()?
    };
    session.import()?;

    // The file is hashed while the catalog imports (it hashes too).
    let stop = AtomicBool::new(false);
    let (image, digests) = std::thread::scope(|scope| {
        let hashing = scope.spawn(|| digests_of(path, &stop));
        let image = session.wait_active();
        if image.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        let digests = hashing.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (image, digests)
    });
    let image = image?;
    let digests = digests?.ok_or_else(|| ClientError::Protocol("hashing the file stopped".into()))?;
    check_digests(&image, &digests, true)?;
    remove_if_present(&state_file)?;
    Ok(UploadReport {
        image,
        size: stamp.size,
        parts: session.parts(),
        resumed_from,
        sent: session.sent.load(Ordering::Relaxed),
    })
}

/// Ends the partial uploads of an abandoned plan, so the server frees their
/// storage now rather than when they expire. Failures are ignored: expiry
/// cleans up anyway.
fn terminate(client: &Client, old: &UploadState) {
    for url in old.parts.iter().filter_map(|p| p.url.as_deref()) {
        let _ = client.request("DELETE", url).set("Tus-Resumable", TUS_VERSION).call();
    }
}

/// One run of an upload: the shared state of its part threads.
struct Session<'a> {
    client: &'a Client,
    path: &'a Path,
    options: &'a UploadOptions,
    progress: &'a dyn Progress,
    state: Mutex<UploadState>,
    state_file: PathBuf,
    limit: Option<RateLimit>,
    /// Per part: bytes confirmed plus bytes of the PATCH in flight (what the
    /// progress bar shows).
    done: Vec<AtomicU64>,
    /// Bytes this run's PATCHes added to the server's offsets.
    sent: AtomicU64,
    /// Set when a part failed for good: the others stop at their next chunk.
    abort: AtomicBool,
}

impl<'a> Session<'a> {
    fn new(
        client: &'a Client,
        path: &'a Path,
        options: &'a UploadOptions,
        progress: &'a dyn Progress,
        state: UploadState,
        state_file: PathBuf,
    ) -> Session<'a> {
        let done = state.parts.iter().map(|p| AtomicU64::new(p.offset)).collect();
        Session {
            client,
            path,
            options,
            progress,
            state: Mutex::new(state),
            state_file,
            limit: options.limit_rate.map(RateLimit::new),
            done,
            sent: AtomicU64::new(0),
            abort: AtomicBool::new(false),
        }
    }

    fn parts(&self) -> usize {
        self.lock().parts.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, UploadState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn tus(&self, method: &str, url: &str) -> ureq::Request {
        self.client.request(method, url).set("Tus-Resumable", TUS_VERSION)
    }

    fn image_id(&self) -> String {
        self.lock().image_id.clone()
    }

    fn report(&self) {
        self.progress.update(self.done.iter().map(|d| d.load(Ordering::Relaxed)).sum());
    }

    /// Records a part's URL or confirmed offset in the state file.
    fn record(&self, index: usize, change: impl FnOnce(&mut PartState)) -> Result<(), ClientError> {
        let mut state = self.lock();
        change(&mut state.parts[index]);
        save_state(&self.state_file, &*state)
    }

    /// Sends every part (creating or resynchronizing each first), then
    /// creates the final upload. Answers the bytes the server held before.
    fn send_parts(&self) -> Result<u64, ClientError> {
        let (size, count) = {
            let state = self.lock();
            (state.file.size, state.parts.len())
        };
        let mut offsets = Vec::with_capacity(count);
        for index in 0..count {
            offsets.push(self.prepare(index)?);
        }
        let resumed_from: u64 = offsets.iter().sum();
        if resumed_from > 0 {
            self.progress.note(&format!("resuming: the server holds {resumed_from} of {size} bytes"));
        }
        self.progress.begin(size, resumed_from);
        let results: Vec<Result<(), ClientError>> = std::thread::scope(|scope| {
            let workers: Vec<_> = offsets
                .iter()
                .enumerate()
                .map(|(index, &offset)| scope.spawn(move || self.send_part(index, offset)))
                .collect();
            workers.into_iter().map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
        });
        // The first failure is the one to report; the others stopped for it.
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        if !self.whole() {
            self.concatenate(size)?;
        }
        Ok(resumed_from)
    }

    /// Whether the file goes as one plain upload rather than partial ones.
    fn whole(&self) -> bool {
        self.lock().parts.len() == 1
    }

    /// Whether the image holds the file's bytes as staged data already.
    fn staged(&self) -> Result<bool, ClientError> {
        let (image_id, size) = {
            let state = self.lock();
            (state.image_id.clone(), state.file.size)
        };
        let image = self.client.get_image_meta(&image_id)?;
        Ok(image.status != "queued" && image.size == Some(size))
    }

    /// A part's server offset: created when it has no URL yet (or the server
    /// forgot it: expired), asked with HEAD otherwise.
    fn prepare(&self, index: usize) -> Result<u64, ClientError> {
        let (url, range) = {
            let state = self.lock();
            (state.parts[index].url.clone(), state.parts[index].range)
        };
        if let Some(url) = url {
            match self.options.retry.run(self.progress, "asking where a part stands", || self.head(&url)) {
                Ok(offset) => {
                    self.done[index].store(offset, Ordering::Relaxed);
                    self.record(index, |p| p.offset = offset)?;
                    return Ok(offset);
                }
                Err(ClientError::NotFound(_)) => {
                    self.progress.note(&format!("part {} expired on the server: sending it again", index + 1));
                }
                Err(error) => return Err(error),
            }
        }
        let url =
            self.options.retry.run(self.progress, "creating a partial upload", || self.create_partial(index, range))?;
        self.done[index].store(0, Ordering::Relaxed);
        self.record(index, |p| {
            p.url = Some(url);
            p.offset = 0;
        })?;
        Ok(0)
    }

    fn create_partial(&self, index: usize, range: ByteRange) -> Result<String, ClientError> {
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        let metadata = format!("filename {},part {}", b64(&name), b64(&(index + 1).to_string()));
        let mut request = self
            .tus("POST", &format!("/v2/images/{}/uploads", self.image_id()))
            .set("Upload-Length", &range.len().to_string())
            .set("Upload-Metadata", &metadata);
        // A file in one part is one plain upload: complete, it is the staged
        // data, with no final upload to make.
        if !self.whole() {
            request = request.set("Upload-Concat", "partial");
        }
        location(&self.client.send(request.send_bytes(&[]))?)
    }

    fn head(&self, url: &str) -> Result<u64, ClientError> {
        let response = self.client.send(self.tus("HEAD", url).call())?;
        upload_offset(&response)
    }

    /// Sends one part from `offset` to its end, chunk by chunk; after a
    /// failure worth retrying, asks the server where the part stands (HEAD)
    /// and goes on from there.
    fn send_part(&self, index: usize, mut offset: u64) -> Result<(), ClientError> {
        let result = self.send_part_from(index, &mut offset);
        if result.is_err() {
            self.abort.store(true, Ordering::Relaxed);
        }
        result
    }

    fn send_part_from(&self, index: usize, offset: &mut u64) -> Result<(), ClientError> {
        let (url, range) = {
            let state = self.lock();
            (state.parts[index].url.clone().unwrap_or_default(), state.parts[index].range)
        };
        let chunk_size = self.options.chunk_size.max(1);
        let mut file = std::fs::File::open(self.path)?;
        let mut failures = 0u32;
        let mut resync = false;
        loop {
            if self.abort.load(Ordering::Relaxed) {
                return Ok(());
            }
            if resync {
                match self.head(&url) {
                    Ok(at) => {
                        *offset = at;
                        resync = false;
                        self.done[index].store(at, Ordering::Relaxed);
                        self.report();
                    }
                    // A plain upload is gone once complete: the answer of
                    // its last PATCH was lost, and the image has the data.
                    Err(ClientError::NotFound(_)) if self.whole() && self.staged()? => return Ok(()),
                    Err(error) => {
                        self.pause(index, &mut failures, error)?;
                        continue;
                    }
                }
            }
            if *offset >= range.len() {
                return Ok(());
            }
            let end = chunk_end(*offset, chunk_size, range.len());
            let body = read_at(&mut file, range.start + *offset, end - *offset)?;
            match self.patch(index, &url, *offset, &body) {
                Ok(at) => {
                    *offset = at;
                    failures = 0;
                    self.done[index].store(at, Ordering::Relaxed);
                    self.report();
                    self.record(index, |p| p.offset = at)?;
                }
                Err(error) => {
                    self.pause(index, &mut failures, error)?;
                    resync = true;
                }
            }
        }
    }

    /// After a failed request of part `index`: waits before the next try,
    /// or gives up (a failure not worth retrying, or too many in a row).
    fn pause(&self, index: usize, failures: &mut u32, error: ClientError) -> Result<(), ClientError> {
        // 409: our offset is not the server's (a PATCH we thought lost got
        // through); 460: the chunk arrived damaged. Both heal by resending.
        let retry =
            error.is_transient() || matches!(error, ClientError::Duplicate(_) | ClientError::Http { status: 460, .. });
        *failures += 1;
        if !retry || *failures >= self.options.retry.attempts {
            return Err(error);
        }
        let delay = self.options.retry.delay(*failures);
        self.progress.note(&format!("part {}: {error}; resuming in {delay:?}", index + 1));
        std::thread::sleep(delay);
        Ok(())
    }

    /// One PATCH of `body` at `offset`; answers the new offset.
    fn patch(&self, index: usize, url: &str, offset: u64, body: &[u8]) -> Result<u64, ClientError> {
        let checksum = base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(body));
        let counted = |n: u64| {
            self.done[index].fetch_add(n, Ordering::Relaxed);
            self.report();
        };
        let reader = Metered::new(body, self.limit.as_ref(), &counted);
        let result = self
            .tus("PATCH", url)
            .set("Upload-Offset", &offset.to_string())
            .set("Content-Type", "application/offset+octet-stream")
            .set("Upload-Checksum", &format!("sha1 {checksum}"))
            .set("Content-Length", &body.len().to_string())
            .send(reader);
        let at = upload_offset(&self.client.send(result)?)?;
        if at <= offset {
            return Err(ClientError::Protocol(format!("PATCH at {offset} answered Upload-Offset {at}")));
        }
        self.sent.fetch_add(at - offset, Ordering::Relaxed);
        Ok(at)
    }

    /// Creates the final upload: the parts, in order, become the image's
    /// staged data. If the answer is lost, the image itself tells whether
    /// it went through (it is `uploading` with the file's size).
    fn concatenate(&self, size: u64) -> Result<(), ClientError> {
        let (image_id, urls) = {
            let state = self.lock();
            let urls: Vec<String> = state.parts.iter().filter_map(|p| p.url.clone()).collect();
            (state.image_id.clone(), urls)
        };
        let concat = format!("final;{}", urls.join(" "));
        let result = self.options.retry.run(self.progress, "concatenating the parts", || {
            // tus: the final upload has no Upload-Length; it is the sum of its parts.
            let response = self.client.send(
                self.tus("POST", &format!("/v2/images/{image_id}/uploads"))
                    .set("Upload-Concat", &concat)
                    .send_bytes(&[]),
            )?;
            match response.status() {
                200..=299 => Ok(()),
                status => Err(ClientError::Protocol(format!("creating the final upload answered {status}"))),
            }
        });
        match result {
            Ok(()) => Ok(()),
            Err(error) => match self.client.get_image_meta(&image_id) {
                Ok(image) if image.status == "uploading" && image.size == Some(size) => Ok(()),
                _ => Err(error),
            },
        }
    }

    /// Asks for the glance-direct import of the staged data (unless an
    /// earlier run already did).
    fn import(&self) -> Result<(), ClientError> {
        let image_id = self.image_id();
        let image =
            self.options.retry.run(self.progress, "reading the image", || self.client.get_image_meta(&image_id))?;
        match image.status.as_str() {
            "uploading" => match self
                .options
                .retry
                .run(self.progress, "starting the import", || self.client.import_staged(&image_id))
            {
                // Lost answer of a request that went through: the import runs.
                Err(ClientError::Duplicate(_)) => Ok(()),
                other => other,
            },
            "importing" | "active" => Ok(()),
            status => Err(self.import_failed(&image_id, status)),
        }
    }

    /// Polls the image until it is active; a status that cannot become
    /// active any more is the import's failure, reported with its task.
    fn wait_active(&self) -> Result<ImageRecord, ClientError> {
        let image_id = self.image_id();
        let deadline = Instant::now() + self.options.import_timeout;
        loop {
            let image =
                self.options.retry.run(self.progress, "reading the image", || self.client.get_image_meta(&image_id))?;
            match image.status.as_str() {
                "active" => return Ok(image),
                "uploading" | "importing" | "saving" if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(300))
                }
                "uploading" | "importing" | "saving" => {
                    return Err(ClientError::ImportFailed {
                        image: image_id,
                        status: image.status,
                        task: Some(format!("not finished after {:?}", self.options.import_timeout)),
                    })
                }
                status => return Err(self.import_failed(&image_id, status)),
            }
        }
    }

    fn import_failed(&self, image_id: &str, status: &str) -> ClientError {
        let task = self.client.image_tasks(image_id).ok().and_then(|tasks| {
            tasks
                .into_iter()
                .max_by(|a, b| a["created_at"].as_str().cmp(&b["created_at"].as_str()))
                .map(|t| format!("{} ({})", t["message"].as_str().unwrap_or(""), t["status"].as_str().unwrap_or("?")))
        });
        ClientError::ImportFailed { image: image_id.to_owned(), status: status.to_owned(), task }
    }
}

/// Reads `len` bytes of `file` at `at` (a chunk is hashed before it is
/// sent, so it is read whole: at most `chunk_size` per part in memory).
fn read_at(file: &mut std::fs::File, at: u64, len: u64) -> Result<Vec<u8>, ClientError> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(at))?;
    let mut body = Vec::with_capacity(len as usize);
    file.take(len).read_to_end(&mut body)?;
    if body.len() as u64 != len {
        return Err(ClientError::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the file got shorter during the upload",
        )));
    }
    Ok(body)
}

/// Where the PATCH starting at `offset` of a part of `len` bytes ends:
/// chunks end on multiples of the chunk size, so after a resume in
/// mid-chunk the chunks after the first are aligned again.
fn chunk_end(offset: u64, chunk_size: u64, len: u64) -> u64 {
    ((offset / chunk_size + 1) * chunk_size).min(len)
}

fn location(response: &ureq::Response) -> Result<String, ClientError> {
    response
        .header("Location")
        .map(str::to_owned)
        .ok_or_else(|| ClientError::Protocol(format!("{} answer without a Location", response.status())))
}

fn upload_offset(response: &ureq::Response) -> Result<u64, ClientError> {
    response
        .header("Upload-Offset")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| ClientError::Protocol(format!("{} answer without a valid Upload-Offset", response.status())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("edge-glance-resumable-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_plan_covers_the_file_in_aligned_parts_and_survives_its_state_file() {
        let dir = temp_dir();
        let data = dir.join("disk.img");
        std::fs::write(&data, vec![1u8; 3 * BLOCK as usize + 5]).unwrap();
        let stamp = FileStamp::of(&data).unwrap();
        let mut plan = UploadState::plan("http://catalog", "img-1", stamp.clone(), 4);
        assert_eq!(
            plan.parts.iter().map(|p| p.range).collect::<Vec<_>>(),
            [
                ByteRange::new(0, BLOCK),
                ByteRange::new(BLOCK, 2 * BLOCK),
                ByteRange::new(2 * BLOCK, 3 * BLOCK),
                ByteRange::new(3 * BLOCK, 3 * BLOCK + 5)
            ]
        );
        plan.parts[1].url = Some("http://catalog/v2/images/img-1/uploads/u2".into());
        plan.parts[1].offset = 1234;
        let path = state_path(&dir, "img-1");
        assert_eq!(path, dir.join("uploads/img-1.json"));
        save_state(&path, &plan).unwrap();
        let loaded: UploadState = load_state(&path).unwrap().unwrap();
        assert_eq!(loaded, plan);
        loaded.check(&path, "http://catalog", "img-1", &stamp).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn chunks_end_on_multiples_of_the_chunk_size() {
        const M: u64 = 1 << 20;
        assert_eq!(chunk_end(0, 8 * M, 20 * M), 8 * M);
        assert_eq!(chunk_end(8 * M, 8 * M, 20 * M), 16 * M);
        assert_eq!(chunk_end(16 * M, 8 * M, 20 * M), 20 * M);
        // A resume at 3 MiB sends 5 MiB, then whole chunks again.
        assert_eq!(chunk_end(3 * M, 8 * M, 20 * M), 8 * M);
        assert_eq!(chunk_end(19 * M, 8 * M, 20 * M), 20 * M);
        assert_eq!(chunk_end(0, 8 * M, 5), 5);
    }

    #[test]
    fn a_resume_refuses_another_image_catalog_or_a_changed_file() {
        let dir = temp_dir();
        let data = dir.join("disk.img");
        std::fs::write(&data, b"0123456789").unwrap();
        let stamp = FileStamp::of(&data).unwrap();
        let plan = UploadState::plan("http://a", "img", stamp.clone(), 2);
        let path = dir.join("state.json");
        let refused = |result: Result<(), ClientError>| match result {
            Err(ClientError::State { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert!(refused(plan.check(&path, "http://b", "img", &stamp)).contains("http://a"));
        assert!(refused(plan.check(&path, "http://a", "other", &stamp)).contains("image img"));
        let grown = FileStamp { size: 11, ..stamp.clone() };
        assert!(refused(plan.check(&path, "http://a", "img", &grown)).contains("changed"));
        let touched = FileStamp { mtime_ns: stamp.mtime_ns + 1, ..stamp.clone() };
        assert!(refused(plan.check(&path, "http://a", "img", &touched)).contains("changed"));
        let mut short = plan.clone();
        short.parts.pop();
        assert!(refused(short.check(&path, "http://a", "img", &stamp)).contains("cover"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_interrupted_upload_is_found_by_its_file() {
        let dir = temp_dir();
        let (a, b) = (dir.join("a.img"), dir.join("b.img"));
        std::fs::write(&a, b"aaaa").unwrap();
        std::fs::write(&b, b"bbbb").unwrap();
        assert_eq!(find_interrupted(&dir, "http://c", &a).unwrap(), None);
        let plan = UploadState::plan("http://c", "img-a", FileStamp::of(&a).unwrap(), 1);
        save_state(&state_path(&dir, "img-a"), &plan).unwrap();
        std::fs::write(dir.join("uploads/junk.json"), "not a state").unwrap();
        assert_eq!(find_interrupted(&dir, "http://c", &a).unwrap().as_deref(), Some("img-a"));
        assert_eq!(find_interrupted(&dir, "http://c", &b).unwrap(), None);
        assert_eq!(find_interrupted(&dir, "http://other", &a).unwrap(), None);
        let again = UploadState::plan("http://c", "img-a2", FileStamp::of(&a).unwrap(), 1);
        save_state(&state_path(&dir, "img-a2"), &again).unwrap();
        assert!(matches!(find_interrupted(&dir, "http://c", &a), Err(ClientError::State { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
