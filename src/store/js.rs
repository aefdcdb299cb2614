//! Bindings to the JavaScript objects the byte path uses: streams, R2, the
//! runtime's `DigestStream` and `FixedLengthStream`. Declared here (rather
//! than through `worker`'s wrappers) so that bodies stay JavaScript values:
//! a chunk is handed from one JS object to another, never copied into wasm.

use wasm_bindgen::prelude::*;

use super::StoreError;

#[wasm_bindgen]
extern "C" {
    /// A `ReadableStream`.
    #[derive(Debug, Clone)]
    pub type JsReadable;
    #[wasm_bindgen(method)]
    pub fn tee(this: &JsReadable) -> js_sys::Array;
    #[wasm_bindgen(method, js_name = pipeTo)]
    pub fn pipe_to(this: &JsReadable, destination: &JsValue) -> js_sys::Promise;
    #[wasm_bindgen(method, js_name = pipeTo)]
    pub fn pipe_to_with(this: &JsReadable, destination: &JsValue, options: &JsValue) -> js_sys::Promise;
    #[wasm_bindgen(method, js_name = getReader)]
    pub fn get_reader(this: &JsReadable) -> JsReader;
    #[wasm_bindgen(method, js_name = cancel)]
    pub fn cancel_stream(this: &JsReadable) -> js_sys::Promise;

    /// A `ReadableStreamDefaultReader`.
    pub type JsReader;
    #[wasm_bindgen(method)]
    pub fn read(this: &JsReader) -> js_sys::Promise;
    #[wasm_bindgen(method)]
    pub fn cancel(this: &JsReader) -> js_sys::Promise;

    /// A `WritableStream`.
    pub type JsWritable;
    #[wasm_bindgen(method, js_name = getWriter)]
    pub fn get_writer(this: &JsWritable) -> JsWriter;

    /// A `WritableStreamDefaultWriter`.
    pub type JsWriter;
    #[wasm_bindgen(method)]
    pub fn write(this: &JsWriter, chunk: &JsValue) -> js_sys::Promise;
    #[wasm_bindgen(method)]
    pub fn close(this: &JsWriter) -> js_sys::Promise;
    #[wasm_bindgen(method)]
    pub fn abort(this: &JsWriter) -> js_sys::Promise;

    /// `crypto.DigestStream`: a writable that hashes natively.
    pub type DigestStream;
    #[wasm_bindgen(constructor, js_namespace = crypto)]
    pub fn new(algorithm: &str) -> DigestStream;
    #[wasm_bindgen(method, getter)]
    pub fn digest(this: &DigestStream) -> js_sys::Promise;

    /// `FixedLengthStream`: an identity transform whose readable has a known
    /// length (what R2 `put` needs) and which errors on too few/many bytes.
    pub type FixedLengthStream;
    #[wasm_bindgen(constructor, catch)]
    pub fn new(length: f64) -> Result<FixedLengthStream, JsValue>;
    #[wasm_bindgen(method, getter)]
    pub fn readable(this: &FixedLengthStream) -> JsReadable;
    #[wasm_bindgen(method, getter)]
    pub fn writable(this: &FixedLengthStream) -> JsValue;

    /// An `AbortController` (stops a `pipeTo`).
    pub type AbortController;
    #[wasm_bindgen(constructor, catch)]
    pub fn new() -> Result<AbortController, JsValue>;
    #[wasm_bindgen(method, getter)]
    pub fn signal(this: &AbortController) -> JsValue;
    #[wasm_bindgen(method)]
    pub fn abort(this: &AbortController);

    /// An R2 bucket binding.
    pub type R2Bucket;
    #[wasm_bindgen(method, catch)]
    pub fn put(this: &R2Bucket, key: &str, value: &JsValue) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    pub fn get(this: &R2Bucket, key: &str, options: &JsValue) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    pub fn head(this: &R2Bucket, key: &str) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    pub fn delete(this: &R2Bucket, key: &str) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = createMultipartUpload)]
    pub fn create_multipart_upload(this: &R2Bucket, key: &str) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(method, catch, js_name = resumeMultipartUpload)]
    pub fn resume_multipart_upload(this: &R2Bucket, key: &str, upload_id: &str) -> Result<R2MultipartUpload, JsValue>;

    /// An R2 multipart upload in progress.
    pub type R2MultipartUpload;
    #[wasm_bindgen(method, getter, js_name = uploadId)]
    pub fn upload_id(this: &R2MultipartUpload) -> String;
    #[wasm_bindgen(method, catch, js_name = uploadPart)]
    pub fn upload_part(this: &R2MultipartUpload, part_number: u32, value: &JsValue)
        -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    pub fn complete(this: &R2MultipartUpload, parts: &js_sys::Array) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    pub fn abort(this: &R2MultipartUpload) -> Result<js_sys::Promise, JsValue>;
}

#[wasm_bindgen(module = "/src/store/js/watched_pipe.js")]
extern "C" {
    /// `readable` piped into `writable`, resolving with the number of bytes
    /// piped, rejecting with `{stalled: true}` after `idle_ms` without a
    /// chunk; `on_beat` is called at most every
    /// `beat_ms` while chunks arrive (see `js/watched_pipe.js`).
    #[wasm_bindgen(js_name = watchedPipe)]
    pub fn watched_pipe(
        readable: &JsReadable,
        writable: &JsValue,
        idle_ms: f64,
        beat_ms: f64,
        on_beat: &js_sys::Function,
    ) -> js_sys::Promise;
}

#[wasm_bindgen(module = "/src/store/js/segments.js")]
extern "C" {
    /// A resumable upload's PATCH streamed into its planned segments;
    /// resolves (never rejects) with what was stored (see
    /// `js/segments.js`).
    #[wasm_bindgen(js_name = writeSegments)]
    pub fn write_segments(options: &JsValue) -> js_sys::Promise;
    /// The objects `keys` of `bucket` as one stream, in order.
    #[wasm_bindgen(js_name = concatObjects)]
    pub fn concat_objects(bucket: &R2Bucket, keys: &js_sys::Array) -> JsValue;
    /// One page of the keys under `prefix`: `{keys, cursor}`.
    #[wasm_bindgen(js_name = keysUnder)]
    pub fn keys_under(bucket: &R2Bucket, prefix: &str, cursor: &JsValue) -> js_sys::Promise;
}

#[wasm_bindgen(module = "/src/store/js/digest.js")]
extern "C" {
    /// The digests (`"MD5"`, `"SHA-512"`, ...) and size of `readable`,
    /// read to its end unless `signal` aborts (see `js/digest.js`).
    #[wasm_bindgen(js_name = digestStream)]
    pub fn digest_stream(
        readable: &JsValue,
        algorithms: &js_sys::Array,
        signal: &JsValue,
        head_bytes: f64,
        tail_bytes: f64,
    ) -> js_sys::Promise;
}

/// Seconds since the Unix epoch, by the runtime's clock.
pub fn now_seconds() -> i64 {
    (js_sys::Date::now() / 1000.0).floor() as i64
}

/// A promise's rejection (or a thrown value), described.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejected(pub String);

impl From<Rejected> for StoreError {
    fn from(e: Rejected) -> StoreError {
        StoreError::Backend(e.0)
    }
}

/// Awaits a promise, turning a rejection into its description.
pub async fn settle(promise: js_sys::Promise) -> Result<JsValue, Rejected> {
    wasm_bindgen_futures::JsFuture::from(promise).await.map_err(|e| Rejected(describe(&e)))
}

/// A readable description of a thrown JavaScript value.
pub fn describe(error: &JsValue) -> String {
    if let Some(e) = error.dyn_ref::<js_sys::Error>() {
        return String::from(e.message());
    }
    error.as_string().unwrap_or_else(|| format!("{error:?}"))
}

/// Reads `object[key]`.
pub fn property(object: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// Lower-case hex of an `ArrayBuffer` (a digest: 16 or 64 bytes).
pub fn hex_of(buffer: &JsValue) -> String {
    js_sys::Uint8Array::new(buffer).to_vec().iter().map(|b| format!("{b:02x}")).collect()
}
