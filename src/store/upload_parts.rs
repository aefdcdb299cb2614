//! A resumable upload's bytes in R2: its multipart upload (`uploads/{id}`),
//! the parts and tails its PATCHes write (streamed by `js/segments.js`,
//! never through wasm), its completion, and the removal of everything it
//! wrote. Unlike the multipart uploads of `blobs`, these outlive the
//! request that began them: the `resumable_uploads` record in D1 keeps
//! their id until they complete, are terminated or expire.

use std::rc::Rc;

use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};

use super::blobs::{Blobs, UploadFailure, UploadLimits};
use super::js::{self, settle, DigestStream, R2MultipartUpload};
use super::StoreError;
use crate::domain::resumable::{Part, Segment};

/// The longest the beat stays silent while bytes arrive.
const BEAT_MS: f64 = 15_000.0;

/// What a PATCH's bytes are written from and to.
pub struct SegmentWrite<'a> {
    /// The upload's object key (its multipart upload's).
    pub key: &'a str,
    /// The multipart upload (none for an upload whose segments are all
    /// tails).
    pub multipart_id: Option<&'a str>,
    /// The tail object the first segment starts with.
    pub old_tail: Option<&'a str>,
    /// Where a new tail goes.
    pub new_tail: &'a str,
    /// The PATCH body (a JS stream) and its length.
    pub body: Option<JsValue>,
    /// Its length.
    pub body_size: u64,
    /// The planned segments.
    pub segments: &'a [Segment],
    /// A digest of the body to compute (`crypto.DigestStream` name).
    pub digest: Option<&'static str>,
}

/// What a PATCH stored.
#[derive(Debug)]
pub struct SegmentsWritten {
    /// How many of the planned segments are durably stored.
    pub stored: usize,
    /// The parts among them.
    pub parts: Vec<Part>,
    /// The body's digest, when asked for and the body was read whole.
    pub digest: Option<Vec<u8>>,
    /// Why it stopped early.
    pub error: Option<UploadFailure>,
}

impl Blobs {
    /// Begins the multipart upload of `key`, returning its id.
    pub async fn begin_parts(&self, key: &str) -> Result<String, StoreError> {
        let promise = self.bucket.create_multipart_upload(key).map_err(|e| StoreError::Backend(js::describe(&e)))?;
        let multipart: R2MultipartUpload = settle(promise).await?.unchecked_into();
        Ok(multipart.upload_id())
    }

    fn multipart(&self, key: &str, id: &str) -> Result<R2MultipartUpload, StoreError> {
        self.bucket.resume_multipart_upload(key, id).map_err(|e| StoreError::Backend(js::describe(&e)))
    }

    /// Streams a PATCH into its segments; `beat` is called now and then
    /// while bytes arrive. Never fails as a whole: what was stored is
    /// reported with the reason it stopped.
    pub async fn write_segments(
        &self,
        write: SegmentWrite<'_>,
        limits: UploadLimits,
        beat: Rc<dyn Fn()>,
    ) -> Result<SegmentsWritten, StoreError> {
        let options = js_sys::Object::new();
        let set = |name: &str, value: &JsValue| {
            js_sys::Reflect::set(&options, &name.into(), value).ok();
        };
        set("bucket", &self.bucket);
        let multipart = write.multipart_id.map(|id| self.multipart(write.key, id)).transpose()?;
        set("multipart", multipart.as_ref().map_or(&JsValue::NULL, |m| m.as_ref()));
        set("tailKey", &write.old_tail.map_or(JsValue::NULL, JsValue::from_str));
        set("newTailKey", &JsValue::from_str(write.new_tail));
        set("body", write.body.as_ref().unwrap_or(&JsValue::NULL));
        set("bodySize", &JsValue::from_f64(write.body_size as f64));
        let segments = serde_json::to_string(write.segments).expect("segments serialize");
        set("segments", &js_sys::JSON::parse(&segments).map_err(|e| StoreError::Backend(js::describe(&e)))?);
        let digest = write.digest.map(DigestStream::new);
        set("digest", digest.as_ref().map_or(&JsValue::NULL, |d| d.as_ref()));
        set("idleMs", &JsValue::from_f64(limits.idle_seconds as f64 * 1000.0));
        set("beatMs", &JsValue::from_f64(BEAT_MS));
        let on_beat = Closure::<dyn Fn()>::new(move || beat());
        set("onBeat", on_beat.as_ref());
        let outcome = settle(js::write_segments(&options)).await?;
        let stored = js::property(&outcome, "stored").as_f64().unwrap_or(0.0) as usize;
        let parts: Vec<Part> = serde_json::from_str(
            &js_sys::JSON::stringify(&js::property(&outcome, "parts"))
                .map(String::from)
                .unwrap_or_else(|_| "[]".into()),
        )
        .map_err(|e| StoreError::Backend(format!("R2 part list: {e}")))?;
        let received = js::property(&outcome, "received").as_f64().unwrap_or(0.0) as u64;
        let error = js::property(&outcome, "error");
        let error = if error.is_null() || error.is_undefined() {
            None
        } else {
            let message = js::property(&error, "message").as_string().unwrap_or_default();
            Some(if js::property(&error, "stalled").is_truthy() {
                UploadFailure::Stalled { seconds: limits.idle_seconds }
            } else if js::property(&error, "storage").is_truthy() {
                UploadFailure::Storage(message)
            } else if received < write.body_size {
                UploadFailure::SizeMismatch { expected: write.body_size, received }
            } else {
                UploadFailure::Body(message)
            })
        };
        let digest_value = js::property(&outcome, "digest");
        let digest = (!digest_value.is_null() && !digest_value.is_undefined())
            .then(|| js_sys::Uint8Array::new(&digest_value).to_vec());
        Ok(SegmentsWritten { stored, parts, digest, error })
    }

    /// Completes the multipart upload `id` of `key` from `parts`.
    pub async fn complete_parts(&self, key: &str, id: &str, parts: &[Part]) -> Result<(), StoreError> {
        let list = js_sys::JSON::parse(&serde_json::to_string(parts).expect("parts serialize"))
            .map_err(|e| StoreError::Backend(js::describe(&e)))?;
        let promise = self
            .multipart(key, id)?
            .complete(list.unchecked_ref())
            .map_err(|e| StoreError::Backend(js::describe(&e)))?;
        settle(promise).await.map(|_| ()).map_err(StoreError::from)
    }

    /// Aborts the multipart upload `id` of `key` (one already completed or
    /// aborted is not an error).
    pub async fn abort_parts(&self, key: &str, id: &str) {
        match self.multipart(key, id).and_then(|m| m.abort().map_err(|e| StoreError::Backend(js::describe(&e)))) {
            Ok(promise) => {
                if let Err(e) = settle(promise).await {
                    worker::console_warn!("aborting multipart upload {id} of {key}: {e}");
                }
            }
            Err(e) => worker::console_warn!("aborting multipart upload {id} of {key}: {e}"),
        }
    }

    /// The objects `keys`, one after the other, as one stream.
    pub fn concatenated(&self, keys: &[String]) -> JsValue {
        let array = keys.iter().map(|k| JsValue::from_str(k)).collect::<js_sys::Array>();
        js::concat_objects(&self.bucket, &array)
    }

    /// Deletes every object under `prefix`.
    pub async fn delete_under(&self, prefix: &str) -> Result<usize, StoreError> {
        let mut cursor = JsValue::NULL;
        let mut deleted = 0;
        loop {
            let page = settle(js::keys_under(&self.bucket, prefix, &cursor)).await?;
            let keys: js_sys::Array = js::property(&page, "keys").unchecked_into();
            for key in keys.iter() {
                if let Some(key) = key.as_string() {
                    self.delete(&key).await?;
                    deleted += 1;
                }
            }
            cursor = js::property(&page, "cursor");
            if cursor.is_null() || cursor.is_undefined() {
                return Ok(deleted);
            }
        }
    }
}
