//! Image bytes in R2. Uploads are JavaScript streams handed to R2 with the
//! runtime hashing them on the way (sha512 for `os_hash_value`; the md5 for
//! `checksum` comes from R2 for single-part puts and from a second digest
//! for multipart ones); downloads hand R2's body stream to the response.
//!
//! Nothing here leaves a partial object behind: a single `put` is atomic
//! (a stream that errors or has the wrong length stores nothing), and a
//! multipart upload is aborted on any failure.

use futures_util::future::join_all;
use wasm_bindgen::{JsCast, JsValue};

use super::js::{
    self, settle, DigestStream, FixedLengthStream, JsReadable, JsWritable, JsWriter, R2Bucket, R2MultipartUpload,
};

/// Part size for uploads of unknown length. R2 needs parts of one size
/// (>= 5 MiB) except the last; 10 MiB keeps memory bounded and calls few.
const PART_SIZE: u32 = 10 * 1024 * 1024;

/// What a completed upload stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredData {
    /// Bytes written.
    pub size: u64,
    /// Hex md5.
    pub md5: String,
    /// Hex sha512.
    pub sha512: String,
}

/// Why an upload stored nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadFailure {
    /// The body did not have the declared length (or the client went away
    /// before sending it all).
    SizeMismatch {
        /// The declared size.
        expected: u64,
    },
    /// More bytes than the size cap.
    TooLarge {
        /// The cap.
        limit: u64,
    },
    /// Reading the body failed (client disconnect).
    Body(String),
    /// R2 refused or failed.
    Storage(String),
}

/// The object key of an image's data.
pub fn object_key(image_id: &str) -> String {
    format!("images/{image_id}")
}

/// The R2 bucket holding image data.
pub struct Blobs {
    bucket: R2Bucket,
}

impl Blobs {
    /// Wraps the raw binding (`env[IMAGES_BUCKET]`).
    pub fn new(binding: JsValue) -> Blobs {
        Blobs { bucket: binding.unchecked_into() }
    }

    /// Streams `body` into `key`. `declared` is the size the client announced
    /// (`x-openstack-image-size` or `Content-Length`); without it the data is
    /// written as a multipart upload.
    pub async fn put_stream(
        &self,
        key: &str,
        body: Option<JsValue>,
        declared: Option<u64>,
        limit: u64,
    ) -> Result<StoredData, UploadFailure> {
        match (body, declared) {
            (None, Some(0) | None) => self.put_empty(key).await,
            (None, Some(expected)) => Err(UploadFailure::SizeMismatch { expected }),
            (Some(body), Some(expected)) => {
                if expected > limit {
                    return Err(UploadFailure::TooLarge { limit });
                }
                self.put_known_length(key, body.unchecked_into(), expected).await
            }
            (Some(body), None) => self.put_unknown_length(key, body.unchecked_into(), limit).await,
        }
    }

    async fn put_empty(&self, key: &str) -> Result<StoredData, UploadFailure> {
        let empty = js_sys::Uint8Array::new_with_length(0);
        let md5 = DigestStream::new("MD5");
        let sha = DigestStream::new("SHA-512");
        for digest in [&md5, &sha] {
            let writer = digest.unchecked_ref::<JsWritable>().get_writer();
            settle(writer.close()).await.map_err(UploadFailure::Storage)?;
        }
        self.put_value(key, &empty).await?;
        Ok(StoredData { size: 0, md5: digest_hex(&md5).await?, sha512: digest_hex(&sha).await? })
    }

    async fn put_value(&self, key: &str, value: &JsValue) -> Result<JsValue, UploadFailure> {
        let promise = self.bucket.put(key, value).map_err(|e| UploadFailure::Storage(js::describe(&e)))?;
        settle(promise).await.map_err(UploadFailure::Storage)
    }

    /// Known length: tee the body two ways, into R2 through a
    /// FixedLengthStream (which also enforces the length) and into a native
    /// sha512 digest. The md5 is the one R2 computes for a single-part put,
    /// so it costs no second hash. Every branch is native; wasm only wires
    /// them together.
    async fn put_known_length(&self, key: &str, body: JsReadable, expected: u64) -> Result<StoredData, UploadFailure> {
        let fixed = FixedLengthStream::new(expected as f64).map_err(|e| UploadFailure::Storage(js::describe(&e)))?;
        let branches = body.tee();
        let to_store: JsReadable = branches.get(0).unchecked_into();
        let to_hash: JsReadable = branches.get(1).unchecked_into();
        let sha = DigestStream::new("SHA-512");
        let into_fixed = to_store.pipe_to(&fixed.writable());
        let into_sha = to_hash.pipe_to(&sha);
        let put = self.bucket.put(key, &fixed.readable()).map_err(|e| UploadFailure::Storage(js::describe(&e)))?;
        // Await everything so no rejection is left unobserved.
        let [piped, hashed, stored] = join_all([into_fixed, into_sha, put].map(settle))
            .await
            .try_into()
            .map_err(|_| UploadFailure::Storage("upload branches went missing".into()))?;
        if let Some(error) = [&piped, &hashed, &stored].iter().find_map(|r| r.as_ref().err()) {
            worker::console_warn!("upload to {key} failed: {error}");
            return Err(UploadFailure::SizeMismatch { expected });
        }
        let object = stored.unwrap_or(JsValue::UNDEFINED);
        let md5 = js::property(&js::property(&object, "checksums"), "md5");
        if md5.is_undefined() || md5.is_null() {
            return Err(UploadFailure::Storage(format!("R2 reported no md5 for {key}")));
        }
        Ok(StoredData { size: expected, md5: js::hex_of(&md5), sha512: digest_hex(&sha).await? })
    }

    /// Unknown length (chunked without `x-openstack-image-size`): R2 needs a
    /// known length per request, so the body is cut into equal parts of a
    /// multipart upload. Chunks are copied between JS buffers only.
    async fn put_unknown_length(&self, key: &str, body: JsReadable, limit: u64) -> Result<StoredData, UploadFailure> {
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

        let outcome: Result<(), UploadFailure> = async {
            loop {
                let step = settle(reader.read()).await.map_err(UploadFailure::Body)?;
                if js::property(&step, "done").is_truthy() {
                    break;
                }
                let chunk: js_sys::Uint8Array = js::property(&step, "value").unchecked_into();
                total += u64::from(chunk.length());
                if total > limit {
                    let _ = settle(reader.cancel()).await;
                    return Err(UploadFailure::TooLarge { limit });
                }
                let hashed = join_all([md5_writer.write(&chunk), sha_writer.write(&chunk)].map(settle)).await;
                if let Some(Err(e)) = hashed.into_iter().find(Result::is_err) {
                    return Err(UploadFailure::Storage(e));
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
                            None => upload.insert(self.begin_multipart(key).await?),
                        };
                        let number = parts.length() + 1;
                        let uploaded = upload_part(multipart, number, &part).await?;
                        parts.push(&uploaded);
                        part = js_sys::Uint8Array::new_with_length(PART_SIZE);
                        filled = 0;
                    }
                }
            }
            let rest = part.subarray(0, filled);
            match &upload {
                None => {
                    self.put_value(key, &rest).await?;
                }
                Some(multipart) => {
                    if filled > 0 {
                        let uploaded = upload_part(multipart, parts.length() + 1, &rest).await?;
                        parts.push(&uploaded);
                    }
                    let promise = multipart.complete(&parts).map_err(|e| UploadFailure::Storage(js::describe(&e)))?;
                    settle(promise).await.map_err(UploadFailure::Storage)?;
                }
            }
            Ok(())
        }
        .await;

        if let Err(failure) = outcome {
            if let Some(multipart) = &upload {
                if let Ok(promise) = multipart.abort() {
                    let _ = settle(promise).await;
                }
            }
            let _ = settle(md5_writer.abort()).await;
            let _ = settle(sha_writer.abort()).await;
            return Err(failure);
        }
        close_writer(&md5_writer).await?;
        close_writer(&sha_writer).await?;
        Ok(StoredData { size: total, md5: digest_hex(&md5).await?, sha512: digest_hex(&sha).await? })
    }

    async fn begin_multipart(&self, key: &str) -> Result<R2MultipartUpload, UploadFailure> {
        let promise = self.bucket.create_multipart_upload(key).map_err(|e| UploadFailure::Storage(js::describe(&e)))?;
        Ok(settle(promise).await.map_err(UploadFailure::Storage)?.unchecked_into())
    }

    /// The object's body stream (whole, or `length` bytes from `offset`),
    /// or `None` when the object is missing.
    pub async fn get_stream(&self, key: &str, range: Option<(u64, u64)>) -> Result<Option<JsValue>, String> {
        let options = js_sys::Object::new();
        if let Some((offset, length)) = range {
            let r = js_sys::Object::new();
            js_sys::Reflect::set(&r, &"offset".into(), &JsValue::from_f64(offset as f64)).ok();
            js_sys::Reflect::set(&r, &"length".into(), &JsValue::from_f64(length as f64)).ok();
            js_sys::Reflect::set(&options, &"range".into(), &r).ok();
        }
        let promise = self.bucket.get(key, &options).map_err(|e| js::describe(&e))?;
        let object = settle(promise).await?;
        if object.is_null() || object.is_undefined() {
            return Ok(None);
        }
        Ok(Some(js::property(&object, "body")))
    }

    /// Whether an object exists under `key`.
    pub async fn exists(&self, key: &str) -> Result<bool, String> {
        let promise = self.bucket.head(key).map_err(|e| js::describe(&e))?;
        let object = settle(promise).await?;
        Ok(!(object.is_null() || object.is_undefined()))
    }

    /// Deletes `key` (a missing key is not an error).
    pub async fn delete(&self, key: &str) -> Result<(), String> {
        let promise = self.bucket.delete(key).map_err(|e| js::describe(&e))?;
        settle(promise).await.map(|_| ())
    }
}

async fn upload_part(
    multipart: &R2MultipartUpload,
    number: u32,
    bytes: &js_sys::Uint8Array,
) -> Result<JsValue, UploadFailure> {
    let promise = multipart.upload_part(number, bytes).map_err(|e| UploadFailure::Storage(js::describe(&e)))?;
    settle(promise).await.map_err(UploadFailure::Storage)
}

async fn close_writer(writer: &JsWriter) -> Result<(), UploadFailure> {
    settle(writer.close()).await.map(|_| ()).map_err(UploadFailure::Storage)
}

async fn digest_hex(stream: &DigestStream) -> Result<String, UploadFailure> {
    let buffer = settle(stream.digest()).await.map_err(UploadFailure::Storage)?;
    Ok(js::hex_of(&buffer))
}
