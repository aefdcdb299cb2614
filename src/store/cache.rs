//! The edge cache (the runtime's `caches.default`): image data, and (for
//! `store::keystone`) token validations as small JSON documents. Image entries
//! are keyed by image id *and* checksum: an image's data never changes once
//! stored, so an entry can never be stale. Access checks happen before the
//! cache is consulted (handlers read D1 first), so a cached copy of a deleted
//! or deactivated image is never served.

use std::cell::RefCell;
use std::collections::HashSet;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::js::{property, settle, JsReadable};
use super::StoreError;

/// How long the edge keeps a copy (it may evict sooner).
const MAX_AGE_SECONDS: u32 = 7 * 24 * 3600;

/// The largest object Cloudflare's Cache API accepts.
pub const MAX_ENTRY_BYTES: u64 = 512 * 1024 * 1024;

thread_local! {
    /// Cache keys this isolate is filling right now.
    static FILLING: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
}

/// The right to fill one cache key, held by one fill at a time per isolate
/// (concurrent first downloads of one image fill it once); released when
/// dropped.
pub struct FillClaim {
    key: String,
}

impl FillClaim {
    /// Claims `key`, unless another fill in this isolate holds it.
    pub fn claim(key: &str) -> Option<FillClaim> {
        FILLING.with(|f| f.borrow_mut().insert(key.to_owned())).then(|| FillClaim { key: key.to_owned() })
    }
}

impl Drop for FillClaim {
    fn drop(&mut self) {
        FILLING.with(|f| f.borrow_mut().remove(&self.key));
    }
}

#[wasm_bindgen]
extern "C" {
    type JsCache;
    #[wasm_bindgen(method, js_name = match)]
    fn lookup(this: &JsCache, key: &str) -> js_sys::Promise;
    #[wasm_bindgen(method)]
    fn put(this: &JsCache, key: &str, response: &web_sys::Response) -> js_sys::Promise;
    #[wasm_bindgen(method)]
    fn delete(this: &JsCache, key: &str) -> js_sys::Promise;
}

/// The data centre's cache.
pub struct EdgeCache {
    cache: JsCache,
}

impl EdgeCache {
    /// `caches.default`, when the runtime has one.
    pub fn open() -> Option<EdgeCache> {
        let caches = property(&js_sys::global(), "caches");
        let default = property(&caches, "default");
        (!default.is_undefined() && !default.is_null()).then(|| EdgeCache { cache: default.unchecked_into() })
    }

    /// The cache key of an image's data.
    pub fn key(base_url: &str, image_id: &str, checksum: &str) -> String {
        format!("{base_url}/__edge-cache/images/{image_id}/{checksum}")
    }

    /// The cached body stream, if the edge has one.
    pub async fn get(&self, key: &str) -> Option<JsValue> {
        let response = settle(self.cache.lookup(key)).await.ok()?;
        if response.is_undefined() || response.is_null() {
            return None;
        }
        Some(property(&response, "body"))
    }

    /// Stores `body` (all `length` bytes) under `key`; resolves when written.
    /// On any failure the body is cancelled, so its source (an R2 read) is
    /// never left open.
    pub async fn put(&self, key: &str, body: JsValue, length: u64) -> Result<(), StoreError> {
        let stream: JsReadable = body.clone().unchecked_into();
        let outcome = self.put_response(key, body, length).await;
        if outcome.is_err() {
            let _ = settle(stream.cancel_stream()).await;
        }
        outcome
    }

    async fn put_response(&self, key: &str, body: JsValue, length: u64) -> Result<(), StoreError> {
        let headers = web_sys::Headers::new().map_err(backend)?;
        for (name, value) in [
            ("Content-Type", "application/octet-stream".to_string()),
            ("Content-Length", length.to_string()),
            ("Cache-Control", format!("public, max-age={MAX_AGE_SECONDS}")),
        ] {
            headers.set(name, &value).map_err(backend)?;
        }
        let init = web_sys::ResponseInit::new();
        init.set_headers(&headers);
        let stream: web_sys::ReadableStream = body.unchecked_into();
        let response =
            web_sys::Response::new_with_opt_readable_stream_and_init(Some(&stream), &init).map_err(backend)?;
        Ok(settle(self.cache.put(key, &response)).await.map(|_| ())?)
    }

    /// Deletes `key` from this data centre's cache; `true` if it held it.
    /// (Copies in other data centres stay until their max-age.)
    pub async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        Ok(settle(self.cache.delete(key)).await.map(|found| found.as_bool().unwrap_or(false))?)
    }

    /// A small cached text document (token validations).
    pub async fn get_text(&self, key: &str) -> Option<String> {
        let response = settle(self.cache.lookup(key)).await.ok()?;
        let response: web_sys::Response = response.dyn_into().ok()?;
        settle(response.text().ok()?).await.ok()?.as_string()
    }

    /// Stores a small text document for at most `max_age_seconds`.
    pub async fn put_text(&self, key: &str, text: &str, max_age_seconds: i64) -> Result<(), StoreError> {
        let headers = web_sys::Headers::new().map_err(backend)?;
        for (name, value) in [
            ("Content-Type", "application/json".to_string()),
            ("Cache-Control", format!("public, max-age={max_age_seconds}")),
        ] {
            headers.set(name, &value).map_err(backend)?;
        }
        let init = web_sys::ResponseInit::new();
        init.set_headers(&headers);
        let response = web_sys::Response::new_with_opt_str_and_init(Some(text), &init).map_err(backend)?;
        Ok(settle(self.cache.put(key, &response)).await.map(|_| ())?)
    }
}

fn backend(error: JsValue) -> StoreError {
    StoreError::Backend(super::js::describe(&error))
}
