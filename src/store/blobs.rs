//! Image bytes in R2. Uploads are JavaScript streams handed to R2 with the
//! runtime hashing them on the way (sha512 for `os_hash_value`; the md5 for
//! `checksum` comes from R2 for single-part puts and from a second digest
//! for multipart ones); downloads hand R2's body stream to the response.
//!
//! Nothing here leaves a partial object behind: a single `put` is atomic
//! (a stream that errors or has the wrong length stores nothing), and a
//! multipart upload is aborted on any failure. A body that sends nothing
//! for the idle bound is abandoned the same way: a watchdog compares the
//! time of the last chunk with the bound, so only silence counts, never the
//! length of the upload. Multipart uploads are
//! recorded in D1 while in flight (R2's binding cannot list them), so the
//! cron upkeep can abort any whose worker died.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{join, join_all, select, Either};
use futures_util::pin_mut;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};

use super::d1::Db;
use super::js::{
    self, now_seconds, settle, DigestStream, FixedLengthStream, JsReadable, JsReader, JsWritable, JsWriter, R2Bucket,
    R2MultipartUpload,
};
use super::StoreError;
pub use crate::domain::image::data::{StoredData, UploadFailure};
use crate::domain::image::ImageId;
use crate::domain::listing::SqlValue;

/// Part size for uploads of unknown length. R2 needs parts of one size
/// (>= 5 MiB) except the last; 10 MiB keeps memory bounded and calls few.
const PART_SIZE: u32 = 10 * 1024 * 1024;

/// How long the idle watchdogs wait, once they see the bound passed, for
/// pending I/O (a chunk already delivered) before calling a body stalled.
const CONFIRM_SILENCE: Duration = Duration::from_millis(500);

/// The longest the progress callback stays silent while bytes arrive.
const HEARTBEAT_SECONDS: f64 = 15.0;

impl From<super::js::Rejected> for UploadFailure {
    fn from(e: super::js::Rejected) -> UploadFailure {
        UploadFailure::Storage(e.0)
    }
}

/// The bounds an upload is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// Largest accepted size.
    pub size_cap: u64,
    /// Longest silence of the body before it is abandoned.
    pub idle_seconds: u64,
    /// Fault injection for the tests (`TEST_FAULTS`, never set in
    /// production and not reachable from a request): R2 refuses this put,
    /// after the body has been read, as a failing R2 would.
    pub fail_storage: bool,
}

/// The injected R2 failure's text.
const INJECTED: &str = "injected R2 failure (TEST_FAULTS)";

/// The object key of an image's data.
pub fn object_key(image_id: &ImageId) -> String {
    format!("images/{image_id}")
}

/// The object key of an image's staged data (glance-direct), in the
/// default store's bucket.
pub fn staging_key(image_id: &ImageId) -> String {
    format!("staging/{image_id}")
}

/// The R2 bucket holding image data, and the D1 record of its multipart
/// uploads in flight.
pub struct Blobs {
    store: String,
    pub(super) bucket: R2Bucket,
    journal: Db,
}

/// One chunk of a body, or its end.
enum Chunk {
    Data(js_sys::Uint8Array),
    End,
}

/// Reads the next chunk of a body.
async fn next_chunk(reader: &JsReader) -> Result<Chunk, UploadFailure> {
    let step = settle(reader.read()).await.map_err(|e| UploadFailure::Body(e.0))?;
    if js::property(&step, "done").is_truthy() {
        Ok(Chunk::End)
    } else {
        Ok(Chunk::Data(js::property(&step, "value").unchecked_into()))
    }
}

/// When bytes last arrived, and the heartbeat that tells D1 so (`beat`, at
/// most every [`HEARTBEAT_SECONDS`]). Noting a chunk costs a clock read: the
/// idle bound is kept by one watchdog per upload, not a timer per chunk.
struct Progress<'a> {
    beat: &'a dyn Fn(),
    last_chunk: Cell<f64>,
    last_beat: Cell<f64>,
}

impl Progress<'_> {
    fn new(beat: &dyn Fn()) -> Progress<'_> {
        let now = js_sys::Date::now();
        Progress { beat, last_chunk: Cell::new(now), last_beat: Cell::new(now) }
    }

    /// Notes work done on our side (a part stored), so the time it took is
    /// not counted as the body's silence.
    fn touch(&self) {
        self.last_chunk.set(js_sys::Date::now());
    }

    /// Notes a chunk; true when it was also time to beat.
    fn chunk(&self) -> bool {
        let now = js_sys::Date::now();
        self.last_chunk.set(now);
        if now - self.last_beat.get() < HEARTBEAT_SECONDS * 1000.0 {
            return false;
        }
        self.last_beat.set(now);
        (self.beat)();
        true
    }

    /// Runs `work` (which reads `reader` and notes its chunks here) unless
    /// no chunk arrives for `idle` seconds: then the reader is cancelled and
    /// the upload is [`UploadFailure::Stalled`].
    async fn idle_bounded<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, UploadFailure>>,
        reader: &JsReader,
        idle: u64,
    ) -> Result<T, UploadFailure> {
        let limit = idle as f64 * 1000.0;
        // Checked a few times per bound, so silence is noticed at most a
        // quarter of the bound (and 5 s) late.
        let check = Duration::from_millis((limit / 4.0).clamp(250.0, 5000.0) as u64);
        let silent = || js_sys::Date::now() - self.last_chunk.get() >= limit;
        let watchdog = async {
            loop {
                worker::Delay::from(check).await;
                // A busy isolate (imports run side by side) may run this
                // timer before a chunk that has already arrived: silence is
                // confirmed after letting pending I/O in, so a live body is
                // never taken for a stalled one.
                if silent() {
                    worker::Delay::from(CONFIRM_SILENCE).await;
                    if silent() {
                        return;
                    }
                }
            }
        };
        pin_mut!(work);
        pin_mut!(watchdog);
        match select(work, watchdog).await {
            Either::Left((outcome, _)) => outcome,
            Either::Right(((), _)) => {
                let _ = settle(reader.cancel()).await;
                Err(UploadFailure::Stalled { seconds: idle })
            }
        }
    }
}

impl Blobs {
    /// Wraps the raw binding of store `store`'s bucket and the metadata
    /// database.
    pub fn new(store: &str, binding: JsValue, journal: Db) -> Blobs {
        Blobs { store: store.to_owned(), bucket: binding.unchecked_into(), journal }
    }

    /// The id of the store this bucket is.
    pub fn store(&self) -> &str {
        &self.store
    }

    /// Streams `body` into `key`. `declared` is the size the client announced
    /// (`x-openstack-image-size` or `Content-Length`); without it the data is
    /// written as a multipart upload. `beat` is called now and then while
    /// bytes arrive.
    pub async fn put_stream(
        &self,
        key: &str,
        body: Option<JsValue>,
        declared: Option<u64>,
        limits: UploadLimits,
        beat: Rc<dyn Fn()>,
    ) -> Result<StoredData, UploadFailure> {
        match (body, declared) {
            (None, Some(0) | None) => self.put_empty(key).await,
            (None, Some(expected)) => Err(UploadFailure::SizeMismatch { expected, received: 0 }),
            (Some(body), Some(expected)) => {
                if expected > limits.size_cap {
                    return Err(UploadFailure::TooLarge { limit: limits.size_cap });
                }
                self.put_known_length(key, body.unchecked_into(), expected, limits, beat).await
            }
            (Some(body), None) => self.put_unknown_length(key, body.unchecked_into(), limits, &*beat).await,
        }
    }

    async fn put_empty(&self, key: &str) -> Result<StoredData, UploadFailure> {
        let empty = js_sys::Uint8Array::new_with_length(0);
        let md5 = DigestStream::new("MD5");
        let sha = DigestStream::new("SHA-512");
        for digest in [&md5, &sha] {
            let writer = digest.unchecked_ref::<JsWritable>().get_writer();
            settle(writer.close()).await?;
        }
        self.put_value(key, &empty, false).await?;
        Ok(StoredData { size: 0, md5: digest_hex(&md5).await?, sha512: digest_hex(&sha).await?, virtual_size: None })
    }

    async fn put_value(&self, key: &str, value: &JsValue, fail: bool) -> Result<JsValue, UploadFailure> {
        if fail {
            return Err(UploadFailure::Storage(INJECTED.into()));
        }
        let promise = self.bucket.put(key, value).map_err(|e| UploadFailure::Storage(js::describe(&e)))?;
        Ok(settle(promise).await?)
    }

    /// Known length: tee the body two ways. One branch goes to R2 natively
    /// through a FixedLengthStream (which also enforces the length); the
    /// other is piped into a native sha512 digest by `js/watched_pipe.js`,
    /// which is where silence is noticed: a stalled body aborts the R2
    /// branch's pipe, so the put stores nothing. The md5 is the one R2
    /// computes for a single-part put. The hash branch also counts the
    /// body's bytes, which is how a failed put is told apart: the body had
    /// the declared length (R2 failed: ours) or not (the sender's).
    async fn put_known_length(
        &self,
        key: &str,
        body: JsReadable,
        expected: u64,
        limits: UploadLimits,
        beat: Rc<dyn Fn()>,
    ) -> Result<StoredData, UploadFailure> {
        let idle = limits.idle_seconds;
        let fixed = FixedLengthStream::new(expected as f64).map_err(|e| UploadFailure::Storage(js::describe(&e)))?;
        let branches = body.tee();
        let to_store: JsReadable = branches.get(0).unchecked_into();
        let to_hash: JsReadable = branches.get(1).unchecked_into();
        let abort = js::AbortController::new().map_err(|e| UploadFailure::Storage(js::describe(&e)))?;
        let options = js_sys::Object::new();
        js_sys::Reflect::set(&options, &"signal".into(), &abort.signal()).ok();
        let into_fixed = to_store.pipe_to_with(&fixed.writable(), &options);
        let put = if limits.fail_storage {
            js_sys::Promise::reject(&JsValue::from_str(INJECTED))
        } else {
            self.bucket.put(key, &fixed.readable()).map_err(|e| UploadFailure::Storage(js::describe(&e)))?
        };

        let sha = DigestStream::new("SHA-512");
        let on_beat = Closure::<dyn Fn()>::new(move || beat());
        let idle_ms = idle as f64 * 1000.0;
        let piping =
            js::watched_pipe(&to_hash, &sha, idle_ms, HEARTBEAT_SECONDS * 1000.0, on_beat.as_ref().unchecked_ref());
        let hashing = async {
            match wasm_bindgen_futures::JsFuture::from(piping).await {
                Ok(count) => Ok(count.as_f64().unwrap_or(0.0) as u64),
                Err(error) => {
                    // Stop the R2 branch too: its put then rejects, storing nothing.
                    abort.abort();
                    if js::property(&error, "stalled").is_truthy() {
                        Err(UploadFailure::Stalled { seconds: idle })
                    } else {
                        Err(UploadFailure::Body(js::describe(&error)))
                    }
                }
            }
        };
        let storing = async {
            // The put decides: if it fails (too many bytes, R2) without
            // draining the FixedLengthStream, the pipe into it would wait
            // forever, so it is aborted. The hash branch still reads the
            // body to its end (within the idle bound): a body left unread
            // would cost the client its connection before it reads the 400.
            let stored = settle(put).await;
            if stored.is_err() {
                abort.abort();
            }
            (settle(into_fixed).await, stored)
        };
        // Await everything so no rejection is left unobserved.
        let (hashed, (piped, stored)) = join(hashing, storing).await;
        // The body decides first: a stall, a broken body, or a body of the
        // wrong length is the sender's; only a body read whole with the
        // declared length makes a failed put R2's.
        let received = hashed?;
        if received != expected {
            return Err(UploadFailure::SizeMismatch { expected, received });
        }
        if let Some(error) = [&stored, &piped].iter().find_map(|r| r.as_ref().err()) {
            worker::console_warn!("upload to {key} failed in the store: {error}");
            return Err(UploadFailure::Storage(error.0.clone()));
        }
        let object = stored.unwrap_or(JsValue::UNDEFINED);
        let md5 = js::property(&js::property(&object, "checksums"), "md5");
        if md5.is_undefined() || md5.is_null() {
            return Err(UploadFailure::Storage(format!("R2 reported no md5 for {key}")));
        }
        Ok(StoredData { size: expected, md5: js::hex_of(&md5), sha512: digest_hex(&sha).await?, virtual_size: None })
    }

    /// Unknown length (chunked without `x-openstack-image-size`): R2 needs a
    /// known length per request, so the body is cut into equal parts of a
    /// multipart upload. Chunks are copied between JS buffers only.
    async fn put_unknown_length(
        &self,
        key: &str,
        body: JsReadable,
        limits: UploadLimits,
        beat: &dyn Fn(),
    ) -> Result<StoredData, UploadFailure> {
        let md5 = DigestStream::new("MD5");
        let sha = DigestStream::new("SHA-512");
        let md5_writer = md5.unchecked_ref::<JsWritable>().get_writer();
        let sha_writer = sha.unchecked_ref::<JsWritable>().get_writer();
        let reader = body.get_reader();
        let mut part = js_sys::Uint8Array::new_with_length(PART_SIZE);
        let mut filled: u32 = 0;
        let mut total: u64 = 0;
        let mut upload: Option<R2MultipartUpload> = None;
        let parts = js_sys::Array::new();
        let progress = Progress::new(beat);

        let work = async {
            loop {
                let chunk = match next_chunk(&reader).await? {
                    Chunk::End => break,
                    Chunk::Data(chunk) => chunk,
                };
                if progress.chunk() {
                    if let Some(multipart) = &upload {
                        self.record_progress(multipart).await;
                    }
                }
                total += u64::from(chunk.length());
                if total > limits.size_cap {
                    let _ = settle(reader.cancel()).await;
                    return Err(UploadFailure::TooLarge { limit: limits.size_cap });
                }
                let hashed = join_all([md5_writer.write(&chunk), sha_writer.write(&chunk)].map(settle)).await;
                if let Some(Err(e)) = hashed.into_iter().find(Result::is_err) {
                    return Err(e.into());
                }
                let mut offset: u32 = 0;
                while offset < chunk.length() {
                    let take = (PART_SIZE - filled).min(chunk.length() - offset);
                    part.set(&chunk.subarray(offset, offset + take), filled);
                    filled += take;
                    offset += take;
                    if filled == PART_SIZE {
                        let multipart = match &upload {
                            Some(m) => m,
                            None => upload.insert(self.begin_multipart(key, limits.fail_storage).await?),
                        };
                        let number = parts.length() + 1;
                        let uploaded = upload_part(multipart, number, &part).await?;
                        parts.push(&uploaded);
                        progress.touch();
                        part = js_sys::Uint8Array::new_with_length(PART_SIZE);
                        filled = 0;
                    }
                }
            }
            let rest = part.subarray(0, filled);
            match &upload {
                None => {
                    self.put_value(key, &rest, limits.fail_storage).await?;
                }
                Some(multipart) => {
                    if filled > 0 {
                        let uploaded = upload_part(multipart, parts.length() + 1, &rest).await?;
                        parts.push(&uploaded);
                    }
                    let promise = multipart.complete(&parts).map_err(|e| UploadFailure::Storage(js::describe(&e)))?;
                    settle(promise).await?;
                    self.forget_logged(multipart).await;
                }
            }
            Ok(())
        };
        let outcome = progress.idle_bounded(work, &reader, limits.idle_seconds).await;

        if let Err(failure) = outcome {
            if let Some(multipart) = &upload {
                if let Ok(promise) = multipart.abort() {
                    if settle(promise).await.is_ok() {
                        self.forget_logged(multipart).await;
                    }
                }
            }
            let _ = settle(md5_writer.abort()).await;
            let _ = settle(sha_writer.abort()).await;
            return Err(failure);
        }
        close_writer(&md5_writer).await?;
        close_writer(&sha_writer).await?;
        Ok(StoredData {
            size: total,
            md5: digest_hex(&md5).await?,
            sha512: digest_hex(&sha).await?,
            virtual_size: None,
        })
    }

    /// Begins a multipart upload and records it, so it is never orphaned.
    async fn begin_multipart(&self, key: &str, fail: bool) -> Result<R2MultipartUpload, UploadFailure> {
        if fail {
            return Err(UploadFailure::Storage(INJECTED.into()));
        }
        let promise = self.bucket.create_multipart_upload(key).map_err(|e| UploadFailure::Storage(js::describe(&e)))?;
        let multipart: R2MultipartUpload = settle(promise).await?.unchecked_into();
        let recorded = self
            .journal
            .changes(
                "INSERT INTO multipart_uploads (upload_id, object_key, progress_at, store) VALUES (?, ?, ?, ?)",
                &[
                    SqlValue::Text(multipart.upload_id()),
                    SqlValue::Text(key.into()),
                    SqlValue::Int(now_seconds()),
                    SqlValue::Text(self.store.clone()),
                ],
            )
            .await;
        if let Err(e) = recorded {
            if let Ok(promise) = multipart.abort() {
                let _ = settle(promise).await;
            }
            return Err(UploadFailure::Storage(format!("could not record the multipart upload: {e}")));
        }
        Ok(multipart)
    }

    async fn record_progress(&self, multipart: &R2MultipartUpload) {
        let sql = "UPDATE multipart_uploads SET progress_at = ? WHERE upload_id = ?";
        let params = [SqlValue::Int(now_seconds()), SqlValue::Text(multipart.upload_id())];
        if let Err(e) = self.journal.changes(sql, &params).await {
            worker::console_warn!("could not record multipart progress: {e}");
        }
    }

    /// Removes the record of a finished or aborted multipart upload.
    async fn forget_multipart(&self, upload_id: String) -> Result<(), StoreError> {
        let sql = "DELETE FROM multipart_uploads WHERE upload_id = ?";
        self.journal.changes(sql, &[SqlValue::Text(upload_id)]).await.map(|_| ())
    }

    /// [`Blobs::forget_multipart`] on the upload path: a record left
    /// behind only costs the upkeep an abort that finds nothing.
    async fn forget_logged(&self, multipart: &R2MultipartUpload) {
        if let Err(e) = self.forget_multipart(multipart.upload_id()).await {
            worker::console_warn!("could not forget multipart upload: {e}");
        }
    }

    /// Aborts the multipart uploads that made no progress since `before`
    /// (Unix seconds): their worker is gone, nothing will complete them.
    /// Returns how many were aborted.
    pub async fn abort_abandoned_multiparts(&self, before: i64) -> Result<usize, StoreError> {
        #[derive(serde::Deserialize)]
        struct Abandoned {
            upload_id: String,
            object_key: String,
        }
        let rows: Vec<Abandoned> = self
            .journal
            .rows(
                "SELECT upload_id, object_key FROM multipart_uploads WHERE progress_at < ? AND store = ? LIMIT 100",
                &[SqlValue::Int(before), SqlValue::Text(self.store.clone())],
            )
            .await?;
        let mut aborted = 0;
        for row in rows {
            let multipart = self
                .bucket
                .resume_multipart_upload(&row.object_key, &row.upload_id)
                .map_err(|e| StoreError::Backend(js::describe(&e)))?;
            match multipart.abort() {
                Ok(promise) => match settle(promise).await {
                    Ok(_) => aborted += 1,
                    // Already completed or aborted: only the record is left.
                    Err(e) => worker::console_warn!("multipart upload {} of {}: {e}", row.upload_id, row.object_key),
                },
                Err(e) => worker::console_warn!("multipart upload {}: {}", row.upload_id, js::describe(&e)),
            }
            self.forget_multipart(row.upload_id).await?;
        }
        Ok(aborted)
    }

    /// The object's body stream (whole, or `length` bytes from `offset`),
    /// or `None` when the object is missing.
    pub async fn get_stream(&self, key: &str, range: Option<(u64, u64)>) -> Result<Option<JsValue>, StoreError> {
        let options = js_sys::Object::new();
        if let Some((offset, length)) = range {
            let r = js_sys::Object::new();
            js_sys::Reflect::set(&r, &"offset".into(), &JsValue::from_f64(offset as f64)).ok();
            js_sys::Reflect::set(&r, &"length".into(), &JsValue::from_f64(length as f64)).ok();
            js_sys::Reflect::set(&options, &"range".into(), &r).ok();
        }
        let promise = self.bucket.get(key, &options).map_err(backend)?;
        let object = settle(promise).await?;
        if object.is_null() || object.is_undefined() {
            return Ok(None);
        }
        Ok(Some(js::property(&object, "body")))
    }

    /// The bytes of `key` in `[offset, offset + length)` (fewer at its end):
    /// a header region for the format inspection, bounded by its caller
    /// (`domain::format::MAX_BYTES` in all), the only image bytes read into
    /// wasm.
    pub async fn read_range(&self, key: &str, offset: u64, length: u64) -> Result<Vec<u8>, StoreError> {
        let Some(body) = self.get_stream(key, Some((offset, length))).await? else {
            return Err(StoreError::Backend(format!("{key} is missing from store {}", self.store)));
        };
        let response = web_sys::Response::new_with_opt_readable_stream(Some(body.unchecked_ref())).map_err(backend)?;
        let buffer = settle(response.array_buffer().map_err(backend)?).await?;
        Ok(js_sys::Uint8Array::new(&buffer).to_vec())
    }

    /// Whether an object exists under `key`.
    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        let promise = self.bucket.head(key).map_err(backend)?;
        let object = settle(promise).await?;
        Ok(!(object.is_null() || object.is_undefined()))
    }

    /// Deletes `key` (a missing key is not an error).
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let promise = self.bucket.delete(key).map_err(backend)?;
        Ok(settle(promise).await.map(|_| ())?)
    }
}

fn backend(error: JsValue) -> StoreError {
    StoreError::Backend(js::describe(&error))
}

async fn upload_part(
    multipart: &R2MultipartUpload,
    number: u32,
    bytes: &js_sys::Uint8Array,
) -> Result<JsValue, UploadFailure> {
    let promise = multipart.upload_part(number, bytes).map_err(|e| UploadFailure::Storage(js::describe(&e)))?;
    Ok(settle(promise).await?)
}

async fn close_writer(writer: &JsWriter) -> Result<(), UploadFailure> {
    Ok(settle(writer.close()).await.map(|_| ())?)
}

async fn digest_hex(stream: &DigestStream) -> Result<String, UploadFailure> {
    let buffer = settle(stream.digest()).await?;
    Ok(js::hex_of(&buffer))
}
