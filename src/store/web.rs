//! Outbound HTTP for image data: web-download, import tasks, http locations
//! and glance-download read image bytes (and a remote catalog's records)
//! from URLs. Redirects are followed here, one hop at a time, so the URI
//! filter judges every hop before it is fetched: a public URL redirecting
//! to the metadata address or a private host is refused like the address
//! itself. Bodies stay JavaScript streams; the caller pipes them into R2.

use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::pin_mut;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::js::{self, describe, digest_stream, settle, AbortController};
use crate::domain::format::Glimpse;
use crate::domain::import::uri_filter::UriFilter;

/// Most redirects followed for one URL (browsers stop at 20; Python's
/// requests, which Glance uses, at 30; a chain this long is a loop).
const MAX_REDIRECTS: usize = 10;

/// Longest wait for a response's headers; the body may then take as long
/// as it needs (the upload path bounds its silences).
const HEADERS_TIMEOUT: Duration = Duration::from_secs(30);

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn js_fetch(url: &str, init: &JsValue) -> js_sys::Promise;
}

/// Why a URL gave no data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebError {
    /// The URL, or a hop it redirected to, is refused by the URI filter.
    #[error("{0}")]
    Refused(String),
    /// The server could not be reached, answered an error, or looped.
    #[error("{0}")]
    Failed(String),
}

impl From<js::Rejected> for WebError {
    fn from(e: js::Rejected) -> WebError {
        WebError::Failed(e.0)
    }
}

/// A successful answer: its body and what it says about it.
pub struct WebBody {
    /// The body stream (`None` for an empty body).
    pub stream: Option<JsValue>,
    /// `Content-Length`, when the server sent one.
    pub length: Option<u64>,
    /// The URL that answered, after redirects.
    pub final_url: String,
    /// The answer was a 206 (a Range was honoured).
    pub partial: bool,
}

/// GETs `url` (following redirects through `filter`) with `headers`, and
/// returns the body of a 2xx answer.
pub async fn open(url: &str, filter: &UriFilter, headers: &[(&str, &str)]) -> Result<WebBody, WebError> {
    let mut current = url.to_owned();
    for _ in 0..=MAX_REDIRECTS {
        filter.check(&current).map_err(|refused| WebError::Refused(refused.to_string()))?;
        let response = send(&current, "GET", headers).await?;
        let status = response.status();
        if (300..400).contains(&status) && status != 304 {
            let target = response
                .headers()
                .get("location")
                .ok()
                .flatten()
                .ok_or_else(|| WebError::Failed(format!("{current} answered {status} without a Location")))?;
            if let Some(body) = response.body() {
                let _ = settle(body.cancel()).await;
            }
            current = url::Url::parse(&current)
                .and_then(|base| base.join(&target))
                .map_err(|e| WebError::Failed(format!("{current} redirected to an invalid URL '{target}': {e}")))?
                .to_string();
            continue;
        }
        if !(200..300).contains(&status) {
            if let Some(body) = response.body() {
                let _ = settle(body.cancel()).await;
            }
            return Err(WebError::Failed(format!("{current} answered HTTP {status}")));
        }
        let length = response.headers().get("content-length").ok().flatten().and_then(|v| v.trim().parse::<u64>().ok());
        return Ok(WebBody {
            stream: response.body().map(JsValue::from),
            length,
            final_url: current,
            partial: status == 206,
        });
    }
    Err(WebError::Failed(format!("{url} redirected more than {MAX_REDIRECTS} times")))
}

/// What hashing a location's data found.
pub struct Digested {
    /// Bytes read.
    pub size: u64,
    /// The digests, hex, in the order asked for.
    pub digests: Vec<String>,
    /// Its first and last bytes, for the format inspection.
    pub glimpse: Glimpse,
}

/// The size of `url`'s data, its digests under `algorithms` (the
/// runtime's names: `MD5`, `SHA-1`, `SHA-256`, `SHA-512`) and its glimpse,
/// read without storing it. `stop` aborting ends the read early (an error).
pub async fn digest(
    url: &str,
    filter: &UriFilter,
    algorithms: &[&str],
    stop: &AbortController,
) -> Result<Digested, WebError> {
    let body = open(url, filter, &[]).await?;
    let Some(stream) = body.stream else {
        return Err(WebError::Failed(format!("{url} sent no body")));
    };
    let names: js_sys::Array = algorithms.iter().map(|a| JsValue::from_str(a)).collect();
    let (head, tail) = (Glimpse::HEAD_BYTES as f64, Glimpse::TAIL_BYTES as f64);
    let answer = settle(digest_stream(&stream, &names, &stop.signal(), head, tail)).await?;
    let size = js::property(&answer, "size").as_f64().unwrap_or(0.0) as u64;
    let digests: js_sys::Array = js::property(&answer, "digests").unchecked_into();
    let bytes = |name: &str| js_sys::Uint8Array::new(&js::property(&answer, name)).to_vec();
    Ok(Digested {
        size,
        digests: digests.iter().map(|d| d.as_string().unwrap_or_default()).collect(),
        glimpse: Glimpse { head: bytes("head"), tail: bytes("tail") },
    })
}

/// GETs `url` (through `filter`, redirects included) and parses a JSON
/// answer; `Ok(None)` for a 404.
pub async fn get_json(
    url: &str,
    filter: &UriFilter,
    headers: &[(&str, &str)],
) -> Result<Option<serde_json::Value>, WebError> {
    filter.check(url).map_err(|refused| WebError::Refused(refused.to_string()))?;
    let response = send(url, "GET", headers).await?;
    if response.status() == 404 {
        return Ok(None);
    }
    if !(200..300).contains(&response.status()) {
        return Err(WebError::Failed(format!("{url} answered HTTP {}", response.status())));
    }
    let text =
        settle(response.text().map_err(|e| WebError::Failed(describe(&e)))?).await?.as_string().unwrap_or_default();
    serde_json::from_str(&text).map(Some).map_err(|e| WebError::Failed(format!("{url} answered invalid JSON: {e}")))
}

/// One request without following redirects; the headers must arrive
/// within [`HEADERS_TIMEOUT`].
async fn send(url: &str, method: &str, headers: &[(&str, &str)]) -> Result<web_sys::Response, WebError> {
    let failed = |what: String| WebError::Failed(format!("{url}: {what}"));
    let js_headers = web_sys::Headers::new().map_err(|e| failed(describe(&e)))?;
    for (name, value) in headers {
        js_headers.append(name, value).map_err(|e| failed(describe(&e)))?;
    }
    let controller = AbortController::new().map_err(|e| failed(describe(&e)))?;
    let init = js_sys::Object::new();
    let set = |key: &str, value: &JsValue| js_sys::Reflect::set(&init, &key.into(), value).map(|_| ());
    set("method", &method.into())
        .and_then(|_| set("headers", &js_headers))
        .and_then(|_| set("redirect", &"manual".into()))
        .and_then(|_| set("signal", &controller.signal()))
        .map_err(|e| failed(describe(&e)))?;
    let answer = settle(js_fetch(url, &init));
    let timeout = worker::Delay::from(HEADERS_TIMEOUT);
    pin_mut!(answer);
    match select(answer, timeout).await {
        Either::Left((Ok(response), _)) => {
            response.dyn_into::<web_sys::Response>().map_err(|_| failed("fetch gave no Response".into()))
        }
        Either::Left((Err(e), _)) => Err(failed(e.0)),
        Either::Right(((), _)) => {
            controller.abort();
            Err(failed(format!("no answer within {} s", HEADERS_TIMEOUT.as_secs())))
        }
    }
}
