//! `TestApp`: typed helpers over HTTP for the tests.

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
        let state = self.state.as_ref().expect("CATALOG_STATE is needed to reach the local D1/R2 state");
        let root = env!("CARGO_MANIFEST_DIR");
        Command::new(format!("{root}/node_modules/.bin/wrangler"))
            .current_dir(root)
            .env("WRANGLER_SEND_METRICS", "false")
            .args(args)
            .args(["--local", "--persist-to"])
            .arg(state)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run wrangler")
            .success()
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
        let state = self.state.as_ref().expect("CATALOG_STATE is needed to reach the local D1/R2 state");
        let root = env!("CARGO_MANIFEST_DIR");
        let output = Command::new(format!("{root}/node_modules/.bin/wrangler"))
            .current_dir(root)
            .env("WRANGLER_SEND_METRICS", "false")
            .args(["d1", "execute", "DB", "--json", "--command", sql, "--local", "--persist-to"])
            .arg(state)
            .stderr(Stdio::null())
            .output()
            .expect("run wrangler");
        assert!(output.status.success(), "d1 query failed: {sql}");
        let results: Value = serde_json::from_slice(&output.stdout).expect("wrangler d1 --json output");
        results[0]["results"].as_array().cloned().unwrap_or_default()
    }

    /// Runs SQL on the catalog's local D1 database behind its back.
    pub fn d1_execute(&self, sql: &str) {
        assert!(self.wrangler_local(&["d1", "execute", "DB", "--command", sql]), "d1 execute: {sql}");
    }

    /// Ids of a list response, in order.
    pub fn ids(reply: &Reply) -> Vec<String> {
        assert_eq!(reply.status, 200, "list failed: {}", String::from_utf8_lossy(&reply.body));
        reply.json()["images"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
    }
}
