//! `TestApp`: typed helpers over HTTP for the tests.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A reply, whatever its status.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts the status and Glance's JSON error shape, with a message that
    /// mentions `needle`.
    pub fn assert_error(&self, status: u16, needle: &str) -> &Reply {
        assert_eq!(self.status, status, "body: {}", String::from_utf8_lossy(&self.body));
        assert_eq!(self.header("content-type"), Some("application/json"));
        let body = self.json();
        let message = body["message"].as_str().expect("message is a string");
        assert!(message.contains(needle), "message {message:?} should mention {needle:?}");
        assert!(body["code"].as_str().unwrap().starts_with(&status.to_string()));
        assert!(body["title"].is_string());
        self
    }
}

pub struct TestApp {
    pub base: String,
    state: Option<PathBuf>,
    agent: ureq::Agent,
}

pub fn app() -> &'static TestApp {
    static APP: OnceLock<TestApp> = OnceLock::new();
    APP.get_or_init(|| {
        let base = std::env::var("CATALOG_URL")
            .expect("CATALOG_URL is not set: run the integration tests with scripts/test, which starts the catalog");
        TestApp {
            base: base.trim_end_matches('/').to_owned(),
            state: std::env::var_os("CATALOG_STATE").map(PathBuf::from),
            agent: ureq::AgentBuilder::new().timeout(Duration::from_secs(300)).build(),
        }
    })
}

/// A tag unique to one test, to isolate its images in lists.
pub fn unique_tag() -> String {
    format!("t-{}", uuid::Uuid::new_v4().simple())
}

/// Deterministic pseudo-random bytes (xorshift), cheap to make in bulk.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(data))
}

pub fn sha512_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha512::digest(data))
}

fn into_reply(result: Result<ureq::Response, ureq::Error>) -> Reply {
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("request failed: {e}"),
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .filter_map(|name| response.header(&name).map(|v| (name.clone(), v.to_owned())))
        .collect();
    let mut body = Vec::new();
    response.into_reader().take(1 << 31).read_to_end(&mut body).expect("read body");
    Reply { status, headers, body }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Reply {
        // Ask for JSON as Glance's JSON clients do (errors then come flat);
        // a test may override it.
        let mut request = self.agent.request(method, &self.url(path)).set("Accept", "application/json");
        for (k, v) in headers {
            request = request.set(k, v);
        }
        into_reply(match body {
            Some(bytes) => request.send_bytes(bytes),
            None => request.call(),
        })
    }

    /// Sends `body` with `Transfer-Encoding: chunked` (no length known up front).
    pub fn request_chunked(&self, method: &str, path: &str, headers: &[(&str, &str)], body: impl Read) -> Reply {
        let mut request = self.agent.request(method, &self.url(path)).set("Accept", "application/json");
        for (k, v) in headers {
            request = request.set(k, v);
        }
        into_reply(request.set("Transfer-Encoding", "chunked").send(body))
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], None)
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.request("POST", path, &[("Content-Type", "application/json")], Some(body.to_string().as_bytes()))
    }

    pub fn patch(&self, id: &str, media_type: &str, ops: &Value) -> Reply {
        self.request(
            "PATCH",
            &format!("/v2/images/{id}"),
            &[("Content-Type", media_type)],
            Some(ops.to_string().as_bytes()),
        )
    }

    pub fn create_image(&self, body: Value) -> Value {
        let reply = self.post_json("/v2/images", &body);
        assert_eq!(reply.status, 201, "create failed: {}", String::from_utf8_lossy(&reply.body));
        reply.json()
    }

    /// A queued raw/bare image (ready for data), tagged `tag`.
    pub fn create_uploadable(&self, tag: &str) -> String {
        let image =
            self.create_image(json!({"name": "data", "disk_format": "raw", "container_format": "bare", "tags": [tag]}));
        image["id"].as_str().unwrap().to_owned()
    }

    pub fn upload(&self, id: &str, data: &[u8]) -> Reply {
        self.request(
            "PUT",
            &format!("/v2/images/{id}/file"),
            &[("Content-Type", "application/octet-stream")],
            Some(data),
        )
    }

    pub fn show(&self, id: &str) -> Value {
        let reply = self.get(&format!("/v2/images/{id}"));
        assert_eq!(reply.status, 200, "show {id}: {}", String::from_utf8_lossy(&reply.body));
        reply.json()
    }

    pub fn status_of(&self, id: &str) -> String {
        self.show(id)["status"].as_str().unwrap().to_owned()
    }

    /// Polls until the image reaches `status` (for work finishing after a
    /// client went away).
    pub fn wait_for_status(&self, id: &str, status: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            let now = self.status_of(id);
            if now == status {
                return;
            }
            assert!(start.elapsed() < timeout, "image {id} stayed {now}, expected {status}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Runs `wrangler <args> --local --persist-to <catalog state>` against
    /// the catalog's own local D1/R2 state; true if it succeeded.
    fn wrangler_local(&self, args: &[&str]) -> bool {
        self.wrangler_output(args).status.success()
    }

    /// Runs `wrangler <args> --local --persist-to <catalog state>` and
    /// returns its output. Two wranglers on one state at once can find its
    /// SQLite files locked (`SQLITE_BUSY`, the command fails): the test's
    /// wranglers run one at a time, and a run that met a lock is retried.
    fn wrangler_output(&self, args: &[&str]) -> std::process::Output {
        static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let state = self.state.as_ref().expect("CATALOG_STATE is needed to reach the local D1/R2 state");
        let root = env!("CARGO_MANIFEST_DIR");
        let mut attempt = 0;
        loop {
            let output = {
                let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                Command::new(format!("{root}/node_modules/.bin/wrangler"))
                    .current_dir(root)
                    .env("WRANGLER_SEND_METRICS", "false")
                    .args(args)
                    .args(["--local", "--persist-to"])
                    .arg(state)
                    .stdin(Stdio::null())
                    .output()
                    .expect("run wrangler")
            };
            let stderr = String::from_utf8_lossy(&output.stderr);
            let locked = stderr.contains("SQLITE_BUSY") || stderr.contains("database is locked");
            attempt += 1;
            if output.status.success() || !locked || attempt >= 8 {
                return output;
            }
            std::thread::sleep(Duration::from_millis(250 * attempt));
        }
    }

    /// Whether R2 holds an object for the image's data, read straight from
    /// the catalog's local R2 state with `wrangler r2 object get`.
    pub fn object_exists(&self, id: &str) -> bool {
        self.wrangler_local(&["r2", "object", "get", &format!("edge-glance-images/images/{id}"), "--pipe"])
    }

    /// Writes an object for the image's data behind the catalog's back.
    pub fn put_object(&self, id: &str, file: &std::path::Path) {
        let key = format!("edge-glance-images/images/{id}");
        assert!(self.wrangler_local(&["r2", "object", "put", &key, "--file", file.to_str().unwrap()]), "r2 put");
    }

    /// The rows a query returns from the catalog's local D1 database.
    pub fn d1_query(&self, sql: &str) -> Vec<Value> {
        let output = self.wrangler_output(&["d1", "execute", "DB", "--json", "--command", sql]);
        assert!(output.status.success(), "d1 query failed: {sql}: {}", String::from_utf8_lossy(&output.stderr));
        let results: Value = serde_json::from_slice(&output.stdout).expect("wrangler d1 --json output");
        results[0]["results"].as_array().cloned().unwrap_or_default()
    }

    /// Runs SQL on the catalog's local D1 database behind its back.
    pub fn d1_execute(&self, sql: &str) {
        assert!(self.wrangler_local(&["d1", "execute", "DB", "--command", sql]), "d1 execute: {sql}");
    }

    /// Runs SQL straight on the catalog's local D1 file, as a write from
    /// another isolate or data centre would land: in milliseconds (unlike
    /// `d1_execute`, which starts wrangler) and unseen by this catalog's
    /// isolate. Returns the rows changed.
    pub fn d1_write_elsewhere(&self, sql: &str) -> usize {
        let state = self.state.as_ref().expect("CATALOG_STATE is needed to reach the local D1/R2 state");
        let dir = state.join("v3").join("d1").join("miniflare-D1DatabaseObject");
        let file = std::fs::read_dir(&dir)
            .expect("the local D1 directory")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "sqlite") && !p.ends_with("metadata.sqlite"))
            .expect("the local D1 database file");
        let db = rusqlite::Connection::open(&file).expect("open the local D1 file");
        db.busy_timeout(std::time::Duration::from_secs(10)).expect("busy timeout");
        db.execute(sql, []).expect("write to the local D1 file")
    }

    /// Ids of a list response, in order.
    pub fn ids(reply: &Reply) -> Vec<String> {
        assert_eq!(reply.status, 200, "list failed: {}", String::from_utf8_lossy(&reply.body));
        reply.json()["images"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
    }
}

// ---- Import, stores, tasks and locations (additive) ----

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(data))
}

/// Polls `probe` every 200 ms until it returns `Ok`; panics after
/// `timeout` naming `what` and the last state the probe reported (`Err`).
pub fn wait_until<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match probe() {
            Ok(value) => return value,
            Err(state) => {
                assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}; last seen: {state}")
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// How long a background import of a few MiB from loopback may take at most.
pub const IMPORT_TIMEOUT: Duration = Duration::from_secs(90);

/// Whether a task status is final.
pub fn task_is_final(task: &Value) -> bool {
    matches!(task["status"].as_str(), Some("success" | "failure"))
}

/// A string property that Glance leaves as "" (or drops) when empty.
pub fn empty_or_absent(image: &Value, key: &str) -> bool {
    image.get(key).is_none() || image[key].is_null() || image[key] == ""
}

impl TestApp {
    pub fn delete(&self, path: &str) -> Reply {
        self.request("DELETE", path, &[], None)
    }

    /// `PUT /v2/images/{id}/stage` (glance-direct's first step).
    pub fn stage(&self, id: &str, data: &[u8]) -> Reply {
        self.request(
            "PUT",
            &format!("/v2/images/{id}/stage"),
            &[("Content-Type", "application/octet-stream")],
            Some(data),
        )
    }

    /// `POST /v2/images/{id}/import` with `body` and extra headers.
    pub fn import_with(&self, id: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
        let mut all = vec![("Content-Type", "application/json")];
        all.extend_from_slice(headers);
        self.request("POST", &format!("/v2/images/{id}/import"), &all, Some(body.to_string().as_bytes()))
    }

    pub fn import(&self, id: &str, body: &Value) -> Reply {
        self.import_with(id, body, &[])
    }

    /// Starts an import that must be accepted (202); returns the reply.
    pub fn start_import(&self, id: &str, body: &Value) -> Reply {
        let reply = self.import(id, body);
        assert_eq!(reply.status, 202, "import {body} of {id}: {}", String::from_utf8_lossy(&reply.body));
        reply
    }

    /// A queued image with both formats set (raw/bare), tagged `tag`, named `name`.
    pub fn create_importable(&self, tag: &str, name: &str) -> String {
        let image =
            self.create_image(json!({"name": name, "disk_format": "raw", "container_format": "bare", "tags": [tag]}));
        image["id"].as_str().unwrap().to_owned()
    }

    /// An image made active by a plain upload (to the default store unless
    /// `store` is given).
    pub fn create_active(&self, tag: &str, data: &[u8], store: Option<&str>) -> String {
        let id = self.create_uploadable(tag);
        let mut headers = vec![("Content-Type", "application/octet-stream")];
        if let Some(store) = store {
            headers.push(("X-Image-Meta-Store", store));
        }
        let reply = self.request("PUT", &format!("/v2/images/{id}/file"), &headers, Some(data));
        assert_eq!(reply.status, 204, "upload to {id}: {}", String::from_utf8_lossy(&reply.body));
        id
    }

    /// `GET /v2/images/{id}/tasks` as a list.
    pub fn image_tasks(&self, id: &str) -> Vec<Value> {
        let reply = self.get(&format!("/v2/images/{id}/tasks"));
        assert_eq!(reply.status, 200, "tasks of {id}: {}", String::from_utf8_lossy(&reply.body));
        reply.json()["tasks"].as_array().cloned().unwrap_or_else(|| panic!("no tasks array for {id}"))
    }

    /// Waits for an import (or location import) on `id` to be over: no
    /// import lock, not `importing`, and every task of the image final.
    /// Returns the image as it is then.
    pub fn wait_for_import(&self, id: &str, timeout: Duration) -> Value {
        wait_until(&format!("the import of image {id} to finish"), timeout, || {
            // Tasks first: once they are final, the image read after them
            // shows what they did.
            let tasks = self.image_tasks(id);
            let image = self.show(id);
            let locked = !empty_or_absent(&image, "os_glance_import_task");
            let importing = image["status"] == "importing" || image["status"] == "saving";
            if !locked && !importing && !tasks.is_empty() && tasks.iter().all(task_is_final) {
                Ok(image)
            } else {
                let states: Vec<_> = tasks.iter().map(|t| t["status"].clone()).collect();
                Err(format!(
                    "status {}, os_glance_import_task {}, task states {states:?}",
                    image["status"], image["os_glance_import_task"]
                ))
            }
        })
    }

    /// The task of `id` made by the request whose `x-openstack-request-id`
    /// is `request_id` (falls back to the only task if there is one).
    pub fn task_for_request(&self, id: &str, request_id: Option<&str>) -> Value {
        let tasks = self.image_tasks(id);
        if let Some(rid) = request_id {
            if let Some(task) = tasks.iter().find(|t| t["request_id"] == rid) {
                return task.clone();
            }
        }
        assert_eq!(tasks.len(), 1, "no task of image {id} carries request id {request_id:?}: {tasks:?}");
        tasks[0].clone()
    }

    /// Asserts a successful import: active, the data's size and hashes,
    /// the stores listed, no lock or import bookkeeping left, and the bytes
    /// downloaded back.
    pub fn assert_imported(&self, image: &Value, data: &[u8], stores: &str) {
        let id = image["id"].as_str().unwrap();
        assert_eq!(image["status"], "active", "image {id} after import: {image}");
        assert_eq!(image["size"].as_u64(), Some(data.len() as u64), "{image}");
        assert_eq!(image["checksum"], md5_hex(data).as_str(), "{image}");
        assert_eq!(image["os_hash_algo"], "sha512", "{image}");
        assert_eq!(image["os_hash_value"], sha512_hex(data).as_str(), "{image}");
        assert_eq!(image["stores"], stores, "{image}");
        for key in ["os_glance_import_task", "os_glance_importing_to_stores", "os_glance_failed_import"] {
            assert!(empty_or_absent(image, key), "{key} left behind after a successful import: {image}");
        }
        let download = self.get(&format!("/v2/images/{id}/file"));
        assert_eq!(download.status, 200);
        assert!(download.body == data, "the downloaded bytes of {id} differ from the imported ones");
    }

    /// Every R2 object key (in any bucket of the catalog's local state) that
    /// mentions `id`, plus multipart uploads still in progress for such
    /// keys, read straight from miniflare's SQLite files under
    /// `$CATALOG_STATE/v3/r2`. Store-agnostic: staged, partial and final
    /// objects alike show up, whatever bucket or prefix holds them.
    pub fn r2_keys_mentioning(&self, id: &str) -> Vec<String> {
        let state = self.state.as_ref().expect("CATALOG_STATE is needed to reach the local D1/R2 state");
        let mut files = Vec::new();
        let mut dirs = vec![state.join("v3").join("r2")];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "sqlite") {
                    files.push(path);
                }
            }
        }
        let pattern = format!("%{id}%");
        let mut found = Vec::new();
        for file in files {
            let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let Ok(db) = rusqlite::Connection::open_with_flags(&file, flags) else { continue };
            let name = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            for (sql, kind) in [
                ("SELECT key FROM _mf_objects WHERE key LIKE ?1", "object"),
                ("SELECT key FROM _mf_multipart_uploads WHERE key LIKE ?1 AND state = 0", "multipart upload"),
            ] {
                let Ok(mut statement) = db.prepare(sql) else { continue };
                let keys: Vec<String> = statement
                    .query_map([&pattern], |row| row.get::<_, String>(0))
                    .map(|rows| rows.flatten().collect())
                    .unwrap_or_default();
                found.extend(keys.into_iter().map(|k| format!("{kind} {k} (bucket file {name})")));
            }
        }
        found
    }

    /// The R2 bucket names wrangler.toml binds (`bucket_name = "..."`).
    pub fn configured_buckets(&self) -> Vec<String> {
        let root = env!("CARGO_MANIFEST_DIR");
        let config = std::fs::read_to_string(format!("{root}/wrangler.toml")).expect("read wrangler.toml");
        config
            .lines()
            .filter_map(|line| {
                let (key, value) = line.split_once('=')?;
                (key.trim() == "bucket_name")
                    .then(|| value.split('#').next().unwrap_or_default().trim().trim_matches('"').to_owned())
            })
            .collect()
    }

    /// Whether `bucket/key` exists in the catalog's local R2 state.
    pub fn r2_object_in(&self, bucket: &str, key: &str) -> bool {
        self.wrangler_local(&["r2", "object", "get", &format!("{bucket}/{key}"), "--pipe"])
    }

    /// Overwrites `bucket/key` behind the catalog's back.
    pub fn r2_put_in(&self, bucket: &str, key: &str, data: &[u8]) {
        let file = std::env::temp_dir().join(format!("r2-put-{}", uuid::Uuid::new_v4().simple()));
        std::fs::write(&file, data).unwrap();
        let ok =
            self.wrangler_local(&["r2", "object", "put", &format!("{bucket}/{key}"), "--file", file.to_str().unwrap()]);
        std::fs::remove_file(&file).ok();
        assert!(ok, "wrangler r2 object put {bucket}/{key}");
    }

    /// (bucket, key) of every object in a configured bucket that holds
    /// image `id`'s data (keys found by `r2_keys_mentioning`).
    pub fn r2_locate(&self, id: &str) -> Vec<(String, String)> {
        let keys: Vec<String> = self
            .r2_keys_mentioning(id)
            .into_iter()
            .filter_map(|k| {
                k.strip_prefix("object ").map(|rest| rest.split(" (bucket file").next().unwrap().to_owned())
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut found = Vec::new();
        for bucket in self.configured_buckets() {
            for key in &keys {
                if self.r2_object_in(&bucket, key) {
                    found.push((bucket.clone(), key.clone()));
                }
            }
        }
        found
    }
}

/// Catalog A's second data centre (`scripts/serve.mjs --data-centre
/// PORT:remote`: the same worker in the same runtime, on the same state, as
/// another data centre of one deployment), at `CATALOG_REMOTE_URL`.
pub fn app_remote() -> &'static TestApp {
    static REMOTE: OnceLock<TestApp> = OnceLock::new();
    REMOTE.get_or_init(|| {
        let base = std::env::var("CATALOG_REMOTE_URL").unwrap_or_else(|_| {
            panic!("CATALOG_REMOTE_URL is not set: run the tests with scripts/test, which serves catalog A's second data centre")
        });
        TestApp {
            base: base.trim_end_matches('/').to_owned(),
            state: std::env::var_os("CATALOG_STATE").map(PathBuf::from),
            agent: ureq::AgentBuilder::new().timeout(Duration::from_secs(300)).build(),
        }
    })
}

// ---- Catalog B (additive) ----

/// Catalog B: the second catalog `scripts/test` starts, with the settings
/// some behaviours need (`DELAYED_DELETE=true`, `SCRUB_TIME_SECONDS=2`,
/// `SHOW_MULTIPLE_LOCATIONS=true`), at `CATALOG_B_URL` with its own state in
/// `CATALOG_B_STATE` (so `d1_query`, `r2_keys_mentioning` and the other
/// state helpers look into B's D1/R2 when called on it).
pub fn app_b() -> &'static TestApp {
    static APP_B: OnceLock<TestApp> = OnceLock::new();
    APP_B.get_or_init(|| {
        let base = std::env::var("CATALOG_B_URL").unwrap_or_else(|_| {
            panic!(
                "CATALOG_B_URL is not set: the delayed-delete and location-PATCH tests need catalog B (DELAYED_DELETE=true, \
                 SCRUB_TIME_SECONDS=2, SHOW_MULTIPLE_LOCATIONS=true); run them with scripts/test, which starts it"
            )
        });
        TestApp {
            base: base.trim_end_matches('/').to_owned(),
            state: std::env::var_os("CATALOG_B_STATE").map(PathBuf::from),
            agent: ureq::AgentBuilder::new().timeout(Duration::from_secs(300)).build(),
        }
    })
}

// ---- Catalog C (quotas) ----

/// The limits catalog C enforces (`IMAGE_QUOTAS`, set by `scripts/test`),
/// in MiB for the sizes.
pub const QUOTA_COUNT_TOTAL: u64 = 20;
pub const QUOTA_COUNT_UPLOADING: u64 = 3;
pub const QUOTA_SIZE_TOTAL_MIB: u64 = 16;
pub const QUOTA_STAGE_TOTAL_MIB: u64 = 4;

/// Catalog C: a third catalog `scripts/test` starts with per-project
/// limits (`IMAGE_QUOTAS=image_count_total=20,image_count_uploading=3,
/// image_size_total=16,image_stage_total=4`), at `CATALOG_C_URL`.
pub fn app_c() -> &'static TestApp {
    static APP_C: OnceLock<TestApp> = OnceLock::new();
    APP_C.get_or_init(|| {
        let base = std::env::var("CATALOG_C_URL").unwrap_or_else(|_| {
            panic!(
                "CATALOG_C_URL is not set: the quota tests need catalog C (IMAGE_QUOTAS); run them with scripts/test"
            )
        });
        TestApp {
            base: base.trim_end_matches('/').to_owned(),
            state: std::env::var_os("CATALOG_C_STATE").map(PathBuf::from),
            agent: ureq::AgentBuilder::new().timeout(Duration::from_secs(300)).build(),
        }
    })
}

impl TestApp {
    /// Fires the cron trigger (`GET /__scheduled`; the catalogs run with
    /// `--test-scheduled`) and waits for the upkeep to finish.
    pub fn fire_cron(&self) {
        let reply = self.get("/__scheduled?cron=*/5+*+*+*+*");
        assert_eq!(reply.status, 200, "cron: {}", String::from_utf8_lossy(&reply.body));
    }

    /// The one row of `SELECT {columns} FROM {table} WHERE id = '{id}'` in
    /// the catalog's D1 database (deleted rows included).
    pub fn d1_row(&self, table: &str, columns: &str, id: &str) -> Value {
        let rows = self.d1_query(&format!("SELECT {columns} FROM {table} WHERE id = '{id}'"));
        assert_eq!(rows.len(), 1, "one {table} row with id {id}: {rows:?}");
        rows[0].clone()
    }
}
