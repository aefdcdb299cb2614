//! A native client of the catalog (host only), mirroring the seed's client
//! class: [`Client::get_images`], [`Client::get_images_detailed`],
//! [`Client::get_image_meta`], [`Client::get_image`] (data as a stream of
//! chunks, verified against `os_hash_value` and `checksum`),
//! [`Client::add_image`] (metadata and data from any `Read`),
//! [`Client::update_image`] and [`Client::delete_image`].
//!
//! It speaks the v2 API, which covers every operation; errors are typed
//! ([`ClientError::NotFound`], [`ClientError::Duplicate`], ...).
//!
//! [`metadefs`] adds metadata definition namespaces: reading Glance's
//! definition files and [`Client::import_namespaces`].
//!
//! Large files travel in parallel and survive interruptions:
//! [`resumable`] uploads through the catalog's tus protocol (parallel
//! partial uploads, concatenated, then imported with glance-direct), and
//! [`download`] fetches ranges in parallel into a `.part` file. Both keep a
//! state file so a killed process can resume; [`transfer`] holds what they
//! share (ranges, rate limit, retries, state files, the final hash check).

pub mod download;
pub mod metadefs;
pub mod resumable;
pub mod transfer;

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use md5::Digest as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// What went wrong, by kind.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// 400: the request was refused as invalid.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 401: no valid identity.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 403: not allowed.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404: no such image (or not visible).
    #[error("not found: {0}")]
    NotFound(String),
    /// 409: the id is taken, or the image is in the wrong state.
    #[error("conflict: {0}")]
    Duplicate(String),
    /// 413: over a quota or size limit.
    #[error("too large: {0}")]
    TooLarge(String),
    /// Any other error status.
    #[error("HTTP {status}: {message}")]
    Http {
        /// The status code.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// Downloaded data did not match the image's recorded hashes.
    #[error("integrity check failed: {algorithm} is {actual}, the image records {expected}")]
    Integrity {
        /// `sha512`, `md5` or `size`.
        algorithm: String,
        /// What the image records.
        expected: String,
        /// What arrived.
        actual: String,
    },
    /// The server could not be reached or the connection broke.
    #[error("transport: {0}")]
    Transport(String),
    /// A local read or write failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The server answered something that is not the expected JSON.
    #[error("unexpected answer: {0}")]
    Protocol(String),
    /// A transfer's state file cannot be used (unreadable, or it describes
    /// another image, file or catalog).
    #[error("state file {}: {reason}", path.display())]
    State {
        /// The state file.
        path: std::path::PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// The import after a resumable upload did not make the image active.
    #[error("import of image {image} failed: the image is {status}{}", task.as_deref().map(|t| format!("; its task says: {t}")).unwrap_or_default())]
    ImportFailed {
        /// The image id.
        image: String,
        /// The image's status when the import was seen to have failed.
        status: String,
        /// The latest import task's status and message, when there is one.
        task: Option<String>,
    },
}

impl ClientError {
    /// Whether trying again later may succeed: the connection broke, or the
    /// server answered 5xx or 423 (another request holds the upload).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Transport(_) => true,
            ClientError::Http { status, .. } => *status >= 500 || *status == 423,
            _ => false,
        }
    }
}

/// The keys of an image record that are not custom properties.
const BASE_KEYS: [&str; 25] = [
    "id",
    "name",
    "status",
    "visibility",
    "protected",
    "os_hidden",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "size",
    "virtual_size",
    "min_disk",
    "min_ram",
    "disk_format",
    "container_format",
    "owner",
    "created_at",
    "updated_at",
    "tags",
    "self",
    "file",
    "schema",
    "stores",
    "direct_url",
    "locations",
];

/// A brief image record (what `get_images` returns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageSummary {
    /// Image id.
    pub id: String,
    /// Name.
    pub name: Option<String>,
    /// Disk format.
    pub disk_format: Option<String>,
    /// Container format.
    pub container_format: Option<String>,
    /// Size in bytes.
    pub size: Option<u64>,
    /// Status.
    pub status: String,
}

/// A full image record, as the v2 API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Image id.
    pub id: String,
    /// Name.
    pub name: Option<String>,
    /// Status.
    pub status: String,
    /// Visibility.
    pub visibility: String,
    /// Size in bytes.
    pub size: Option<u64>,
    /// Hex md5.
    pub checksum: Option<String>,
    /// Hash algorithm of `os_hash_value`.
    pub os_hash_algo: Option<String>,
    /// Hex digest.
    pub os_hash_value: Option<String>,
    /// Disk format.
    pub disk_format: Option<String>,
    /// Container format.
    pub container_format: Option<String>,
    /// Owner project.
    pub owner: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Everything else: base fields this struct doesn't name, and custom
    /// properties.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

impl ImageRecord {
    /// The custom properties (string values outside Glance's base schema).
    pub fn properties(&self) -> BTreeMap<String, String> {
        self.other
            .iter()
            .filter(|(k, _)| !BASE_KEYS.contains(&k.as_str()))
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
            .collect()
    }

    /// The brief form.
    pub fn summary(&self) -> ImageSummary {
        ImageSummary {
            id: self.id.clone(),
            name: self.name.clone(),
            disk_format: self.disk_format.clone(),
            container_format: self.container_format.clone(),
            size: self.size,
            status: self.status.clone(),
        }
    }
}

/// Metadata of a new image (`add_image`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewImage {
    /// Name (required by the seed's client).
    pub name: String,
    /// A chosen id; generated by the server when `None`.
    pub id: Option<String>,
    /// Disk format (`raw` when data is given and this is `None`).
    pub disk_format: Option<String>,
    /// Container format (`bare` when data is given and this is `None`).
    pub container_format: Option<String>,
    /// `public`, `private`, `shared` or `community`.
    pub visibility: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Custom properties.
    pub properties: BTreeMap<String, String>,
}

/// Changes to an image (`update_image`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageUpdate {
    /// New name.
    pub name: Option<String>,
    /// New visibility.
    pub visibility: Option<String>,
    /// New disk format (queued images only).
    pub disk_format: Option<String>,
    /// New container format (queued images only).
    pub container_format: Option<String>,
    /// Custom properties to set.
    pub set_properties: BTreeMap<String, String>,
    /// Custom properties to remove.
    pub remove_properties: Vec<String>,
    /// Replace the tags.
    pub tags: Option<Vec<String>>,
}

impl ImageUpdate {
    /// The v2.1 JSON-patch operations of this update.
    pub fn to_patch(&self) -> Value {
        let mut ops = Vec::new();
        let mut replace = |path: &str, value: Value| ops.push(json!({"op": "replace", "path": path, "value": value}));
        if let Some(name) = &self.name {
            replace("/name", json!(name));
        }
        if let Some(visibility) = &self.visibility {
            replace("/visibility", json!(visibility));
        }
        if let Some(format) = &self.disk_format {
            replace("/disk_format", json!(format));
        }
        if let Some(format) = &self.container_format {
            replace("/container_format", json!(format));
        }
        if let Some(tags) = &self.tags {
            replace("/tags", json!(tags));
        }
        for (key, value) in &self.set_properties {
            ops.push(json!({"op": "add", "path": format!("/{}", pointer_escape(key)), "value": value}));
        }
        for key in &self.remove_properties {
            ops.push(json!({"op": "remove", "path": format!("/{}", pointer_escape(key))}));
        }
        Value::Array(ops)
    }
}

fn pointer_escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Image data arriving as chunks. When the last chunk has been read, the
/// data is checked against the image's size, `os_hash_value` (sha512) and
/// `checksum` (md5); a mismatch is the iterator's final item, an error.
pub struct ImageData {
    reader: Box<dyn Read + Send>,
    md5: md5::Md5,
    sha512: sha2::Sha512,
    received: u64,
    expected: ImageRecord,
    finished: bool,
    chunk_size: usize,
}

impl ImageData {
    /// Wraps a reader of the image's bytes.
    pub fn new(reader: Box<dyn Read + Send>, expected: ImageRecord) -> ImageData {
        ImageData {
            reader,
            md5: md5::Md5::new(),
            sha512: sha2::Sha512::new(),
            received: 0,
            expected,
            finished: false,
            chunk_size: 1 << 20,
        }
    }

    fn verify(&mut self) -> Result<(), ClientError> {
        let mismatch = |algorithm: &str, expected: &str, actual: String| ClientError::Integrity {
            algorithm: algorithm.into(),
            expected: expected.into(),
            actual,
        };
        if let Some(size) = self.expected.size {
            if size != self.received {
                return Err(mismatch("size", &size.to_string(), self.received.to_string()));
            }
        }
        let sha512 = hex(&std::mem::take(&mut self.sha512).finalize());
        if let (Some("sha512"), Some(expected)) = (self.expected.os_hash_algo.as_deref(), &self.expected.os_hash_value)
        {
            if *expected != sha512 {
                return Err(mismatch("sha512", expected, sha512));
            }
        }
        let md5 = hex(&std::mem::take(&mut self.md5).finalize());
        if let Some(expected) = &self.expected.checksum {
            if *expected != md5 {
                return Err(mismatch("md5", expected, md5));
            }
        }
        Ok(())
    }
}

impl Iterator for ImageData {
    type Item = Result<Vec<u8>, ClientError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let mut buffer = vec![0u8; self.chunk_size];
        let mut filled = 0;
        while filled < buffer.len() {
            match self.reader.read(&mut buffer[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.finished = true;
                    return Some(Err(ClientError::Io(e)));
                }
            }
        }
        if filled == 0 {
            self.finished = true;
            return self.verify().err().map(Err);
        }
        buffer.truncate(filled);
        self.md5.update(&buffer);
        self.sha512.update(&buffer);
        self.received += filled as u64;
        Some(Ok(buffer))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The D1 session bookmark's header, both ways.
const BOOKMARK_HEADER: &str = "X-D1-Bookmark";

/// A connection to one catalog.
pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
    /// The newest D1 session bookmark an answer carried (`X-D1-Bookmark`),
    /// sent with every later request: this client reads its own writes
    /// wherever its requests land.
    bookmark: Mutex<Option<String>>,
}

impl Client {
    /// A client of the catalog at `base_url` (e.g. `http://127.0.0.1:8787`).
    pub fn new(base_url: &str) -> Client {
        Client {
            base: base_url.trim_end_matches('/').to_owned(),
            token: None,
            bookmark: Mutex::new(None),
            // Read and write timeouts turn a server that stopped answering
            // mid-transfer into an error a resumable transfer can retry,
            // instead of a hang.
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(10))
                .timeout_read(Duration::from_secs(120))
                .timeout_write(Duration::from_secs(120))
                .build(),
        }
    }

    /// The catalog's URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends `X-Auth-Token` with every request.
    pub fn with_token(mut self, token: impl Into<String>) -> Client {
        self.token = Some(token.into());
        self
    }

    fn request(&self, method: &str, path: &str) -> ureq::Request {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{}", self.base, path)
        };
        let mut request = self.agent.request(method, &url).set("Accept", "application/json");
        if let Some(token) = &self.token {
            request = request.set("X-Auth-Token", token);
        }
        if let Some(bookmark) = self.bookmark() {
            request = request.set(BOOKMARK_HEADER, &bookmark);
        }
        request
    }

    /// The newest bookmark an answer carried, if any.
    pub fn bookmark(&self) -> Option<String> {
        self.bookmark.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Keeps `response`'s bookmark if it is newer (D1's bookmarks sort in
    /// commit order; answers of parallel requests arrive in any order).
    fn remember_bookmark(&self, response: &ureq::Response) {
        let Some(seen) = response.header(BOOKMARK_HEADER) else { return };
        let mut kept = self.bookmark.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if kept.as_deref().is_none_or(|current| seen > current) {
            *kept = Some(seen.to_owned());
        }
    }

    fn send(&self, result: Result<ureq::Response, ureq::Error>) -> Result<ureq::Response, ClientError> {
        match &result {
            Ok(response) | Err(ureq::Error::Status(_, response)) => self.remember_bookmark(response),
            Err(_) => {}
        }
        match result {
            Ok(response) => Ok(response),
            Err(ureq::Error::Status(status, response)) => {
                let body = response.into_string().unwrap_or_default();
                let message = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| v.get("message").or_else(|| v.get("error").and_then(|e| e.get("message"))).cloned())
                    .and_then(|m| m.as_str().map(str::to_owned))
                    .unwrap_or(body);
                Err(match status {
                    400 => ClientError::BadRequest(message),
                    401 => ClientError::Unauthorized(message),
                    403 => ClientError::Forbidden(message),
                    404 => ClientError::NotFound(message),
                    409 => ClientError::Duplicate(message),
                    413 => ClientError::TooLarge(message),
                    _ => ClientError::Http { status, message },
                })
            }
            Err(e) => Err(ClientError::Transport(e.to_string())),
        }
    }

    fn json<T: serde::de::DeserializeOwned>(response: ureq::Response) -> Result<T, ClientError> {
        response.into_json().map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Every image matching `filters` (v2 list parameters), following `next`.
    pub fn get_images_detailed(&self, filters: &[(&str, &str)]) -> Result<Vec<ImageRecord>, ClientError> {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in filters {
            query.append_pair(k, v);
        }
        let query = query.finish();
        let mut path = if query.is_empty() { "/v2/images".to_owned() } else { format!("/v2/images?{query}") };
        let mut images = Vec::new();
        loop {
            let page: Value = Self::json(self.send(self.request("GET", &path).call())?)?;
            let records: Vec<ImageRecord> = serde_json::from_value(page["images"].clone())
                .map_err(|e| ClientError::Protocol(format!("image list: {e}")))?;
            images.extend(records);
            match page.get("next").and_then(Value::as_str) {
                Some(next) => path = next.to_owned(),
                None => return Ok(images),
            }
        }
    }

    /// Every image matching `filters`, brief.
    pub fn get_images(&self, filters: &[(&str, &str)]) -> Result<Vec<ImageSummary>, ClientError> {
        Ok(self.get_images_detailed(filters)?.iter().map(ImageRecord::summary).collect())
    }

    /// The image's metadata.
    pub fn get_image_meta(&self, id: &str) -> Result<ImageRecord, ClientError> {
        Self::json(self.send(self.request("GET", &format!("/v2/images/{id}")).call())?)
    }

    /// The image's metadata and its data as verified chunks.
    pub fn get_image(&self, id: &str) -> Result<(ImageRecord, ImageData), ClientError> {
        let meta = self.get_image_meta(id)?;
        let response = self.send(self.request("GET", &format!("/v2/images/{id}/file")).call())?;
        if response.status() == 204 {
            return Err(ClientError::NotFound(format!("Image {id} has no data.")));
        }
        let data = ImageData::new(Box::new(response.into_reader()), meta.clone());
        Ok((meta, data))
    }

    /// Creates an image and, when `data` is given, uploads it (`size` is
    /// sent as `x-openstack-image-size` when known; otherwise chunked). If
    /// the upload fails the new image is deleted, so nothing half-made stays.
    pub fn add_image(
        &self,
        meta: &NewImage,
        data: Option<(Box<dyn Read + Send>, Option<u64>)>,
    ) -> Result<ImageRecord, ClientError> {
        let created = self.create_image(meta, data.is_some())?;
        let Some((reader, size)) = data else {
            return Ok(created);
        };
        if let Err(error) = self.upload(&created.id, reader, size) {
            let _ = self.delete_image(&created.id);
            return Err(error);
        }
        self.get_image_meta(&created.id)
    }

    /// Creates the image record (`queued`). `with_data` says data will
    /// follow: the formats default to raw and bare then, as data needs them.
    pub fn create_image(&self, meta: &NewImage, with_data: bool) -> Result<ImageRecord, ClientError> {
        let mut body = Map::new();
        body.insert("name".into(), json!(meta.name));
        if let Some(id) = &meta.id {
            body.insert("id".into(), json!(id));
        }
        let disk_format = meta.disk_format.clone().or_else(|| with_data.then(|| "raw".into()));
        let container_format = meta.container_format.clone().or_else(|| with_data.then(|| "bare".into()));
        if let Some(format) = disk_format {
            body.insert("disk_format".into(), json!(format));
        }
        if let Some(format) = container_format {
            body.insert("container_format".into(), json!(format));
        }
        if let Some(visibility) = &meta.visibility {
            body.insert("visibility".into(), json!(visibility));
        }
        if !meta.tags.is_empty() {
            body.insert("tags".into(), json!(meta.tags));
        }
        for (k, v) in &meta.properties {
            body.insert(k.clone(), json!(v));
        }
        Self::json(self.send(self.request("POST", "/v2/images").send_json(Value::Object(body)))?)
    }

    /// Uploads data to a queued image.
    pub fn upload(&self, id: &str, reader: Box<dyn Read + Send>, size: Option<u64>) -> Result<(), ClientError> {
        let mut request =
            self.request("PUT", &format!("/v2/images/{id}/file")).set("Content-Type", "application/octet-stream");
        if let Some(size) = size {
            request = request.set("x-openstack-image-size", &size.to_string());
        }
        self.send(request.send(reader))?;
        Ok(())
    }

    /// Starts the interoperable import of the data staged for the image
    /// (`glance-direct`): 202, and the catalog makes it active in the
    /// background.
    pub fn import_staged(&self, id: &str) -> Result<(), ClientError> {
        let body = json!({"method": {"name": "glance-direct"}});
        self.send(self.request("POST", &format!("/v2/images/{id}/import")).send_json(body))?;
        Ok(())
    }

    /// The image's tasks (`GET /v2/images/{id}/tasks`), as the API shows them.
    pub fn image_tasks(&self, id: &str) -> Result<Vec<Value>, ClientError> {
        let page: Value = Self::json(self.send(self.request("GET", &format!("/v2/images/{id}/tasks")).call())?)?;
        match page.get("tasks") {
            Some(Value::Array(tasks)) => Ok(tasks.clone()),
            _ => Err(ClientError::Protocol(format!("the tasks of image {id} are not a list"))),
        }
    }

    /// Applies `changes` with one JSON-patch request.
    pub fn update_image(&self, id: &str, changes: &ImageUpdate) -> Result<ImageRecord, ClientError> {
        let request = self
            .request("PATCH", &format!("/v2/images/{id}"))
            .set("Content-Type", "application/openstack-images-v2.1-json-patch");
        Self::json(self.send(request.send_string(&changes.to_patch().to_string()))?)
    }

    /// Deletes the image.
    pub fn delete_image(&self, id: &str) -> Result<(), ClientError> {
        self.send(self.request("DELETE", &format!("/v2/images/{id}")).call())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn record(data: &[u8]) -> ImageRecord {
        serde_json::from_value(json!({
            "id": "i", "name": "n", "status": "active", "visibility": "private", "size": data.len(),
            "checksum": hex(&md5::Md5::digest(data)), "os_hash_algo": "sha512",
            "os_hash_value": hex(&sha2::Sha512::digest(data)), "disk_format": "raw", "container_format": "bare",
            "owner": null, "tags": [], "os_distro": "debian", "min_ram": 0, "self": "/v2/images/i"
        }))
        .unwrap()
    }

    fn collect(data: ImageData) -> Result<Vec<u8>, ClientError> {
        let mut out = Vec::new();
        for chunk in data {
            out.extend(chunk?);
        }
        Ok(out)
    }

    #[test]
    fn matching_data_streams_through_in_chunks() {
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut data = ImageData::new(Box::new(Cursor::new(bytes.clone())), record(&bytes));
        let first = data.next().unwrap().unwrap();
        assert_eq!(first.len(), 1 << 20);
        let mut all = first;
        all.extend(collect(data).unwrap());
        assert_eq!(all, bytes);
    }

    #[test]
    fn corrupted_data_is_reported_after_the_last_chunk() {
        let bytes = b"the real bytes".to_vec();
        let mut wrong = bytes.clone();
        wrong[0] ^= 1;
        let error = collect(ImageData::new(Box::new(Cursor::new(wrong)), record(&bytes))).unwrap_err();
        assert!(matches!(error, ClientError::Integrity { ref algorithm, .. } if algorithm == "sha512"), "{error}");
        let error = collect(ImageData::new(Box::new(Cursor::new(b"short".to_vec())), record(&bytes))).unwrap_err();
        assert!(matches!(error, ClientError::Integrity { ref algorithm, .. } if algorithm == "size"));
    }

    #[test]
    fn md5_is_checked_when_there_is_no_sha512() {
        let bytes = b"abc".to_vec();
        let mut expected = record(&bytes);
        expected.os_hash_algo = None;
        expected.checksum = Some("00000000000000000000000000000000".into());
        let error = collect(ImageData::new(Box::new(Cursor::new(bytes)), expected)).unwrap_err();
        assert!(matches!(error, ClientError::Integrity { ref algorithm, .. } if algorithm == "md5"));
    }

    #[test]
    fn custom_properties_are_told_apart_from_base_fields() {
        let image = record(b"x");
        assert_eq!(image.properties(), BTreeMap::from([("os_distro".to_string(), "debian".to_string())]));
    }

    #[test]
    fn updates_become_v2_1_patch_operations() {
        let update = ImageUpdate {
            name: Some("n2".into()),
            set_properties: BTreeMap::from([("a/b".to_string(), "1".to_string())]),
            remove_properties: vec!["old".into()],
            tags: Some(vec!["t".into()]),
            ..ImageUpdate::default()
        };
        assert_eq!(
            update.to_patch(),
            json!([
                {"op": "replace", "path": "/name", "value": "n2"},
                {"op": "replace", "path": "/tags", "value": ["t"]},
                {"op": "add", "path": "/a~1b", "value": "1"},
                {"op": "remove", "path": "/old"}
            ])
        );
    }
}
