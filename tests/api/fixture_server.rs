//! A small HTTP server the catalog downloads from: web-download imports, the
//! legacy `import` task and http locations. The test catalog only lets
//! loopback through its URI filter on one port (`IMPORT_ALLOWED_HOSTS=127.0.0.1`,
//! `IMPORT_ALLOWED_PORTS=80,443,$CATALOG_FIXTURE_PORT`), so this server
//! listens on 127.0.0.1:`CATALOG_FIXTURE_PORT`, started once per test binary.
//!
//! Bodies are registered in memory under a path (`serve` picks a unique one)
//! and served with plain std::net and a thread per connection, one request
//! per connection (`Connection: close`). Each GET or HEAD is counted per
//! path, so a test can tell whether the catalog ever asked for a URL.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How long a gated body waits for its gate at most; after that the
/// connection is closed with the body cut short (so a forgotten gate fails
/// the import instead of hanging the suite).
const GATE_MAX_WAIT: Duration = Duration::from_secs(120);

/// A gate a `Route::Gated` body waits on between its two halves.
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    /// Lets every body waiting on this gate (and any later one) finish.
    pub fn open(&self) {
        let (open, signal) = &*self.0;
        *open.lock().unwrap() = true;
        signal.notify_all();
    }

    /// Waits until the gate is open; false if `max` passed first.
    fn wait(&self, max: Duration) -> bool {
        let (open, signal) = &*self.0;
        let guard = open.lock().unwrap();
        let (guard, _) = signal.wait_timeout_while(guard, max, |open| !*open).unwrap();
        *guard
    }
}

/// What the server answers on a path.
#[derive(Clone)]
pub enum Route {
    /// 200 with `Content-Length`.
    Fixed(Arc<Vec<u8>>),
    /// 200 with `Transfer-Encoding: chunked` (no length up front), 64 KiB chunks.
    Chunked(Arc<Vec<u8>>),
    /// A redirect (`status` 301/302/303/307/308) to `location`.
    Redirect { status: u16, location: String },
    /// A bare status with a short text body (404, 500, ...).
    Status(u16),
    /// 200 with `Content-Length`, `piece` bytes every `pause`.
    Slow { data: Arc<Vec<u8>>, piece: usize, pause: Duration },
    /// 200 with `Content-Length`: the first `before` bytes at once, the rest
    /// once `gate` is opened (the body is cut short if it never is).
    Gated { data: Arc<Vec<u8>>, before: usize, gate: Gate },
    /// 200 with `Content-Length`: `block` sent `times` times over (a large
    /// body without holding it all in memory; tests/big_import.rs).
    #[allow(dead_code)]
    Repeated { block: Arc<Vec<u8>>, times: usize },
    /// Announces `Content-Length` of the whole of `data` but sends only the
    /// first `sent` bytes, then closes: a download cut off midway.
    Truncated { data: Arc<Vec<u8>>, sent: usize },
}

pub struct FixtureServer {
    port: u16,
    routes: Mutex<HashMap<String, Route>>,
    hits: Mutex<HashMap<String, usize>>,
}

/// The fixture server, started on first use. Panics (never skips) when
/// `CATALOG_FIXTURE_PORT` is unset or the port cannot be bound.
pub fn fixture() -> &'static FixtureServer {
    static SERVER: OnceLock<&'static FixtureServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let raw = std::env::var("CATALOG_FIXTURE_PORT").unwrap_or_else(|_| {
            panic!(
                "CATALOG_FIXTURE_PORT is not set: the import, URI-filter, task and location tests need the loopback \
                 port the catalog's URI filter allows (IMPORT_ALLOWED_PORTS) for their fixture HTTP server; run them \
                 with scripts/test"
            )
        });
        let port: u16 =
            raw.trim().parse().unwrap_or_else(|_| panic!("CATALOG_FIXTURE_PORT={raw:?} is not a port number"));
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| {
            panic!("the fixture HTTP server cannot listen on 127.0.0.1:{port} (CATALOG_FIXTURE_PORT): {e}")
        });
        let server: &'static FixtureServer = Box::leak(Box::new(FixtureServer {
            port,
            routes: Mutex::new(HashMap::new()),
            hits: Mutex::new(HashMap::new()),
        }));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || server.handle(stream));
            }
        });
        server
    })
}

impl FixtureServer {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT{path}`: the one origin the catalog may fetch.
    pub fn url(&self, path: &str) -> String {
        self.url_on("127.0.0.1", path)
    }

    /// `http://{host}:PORT{path}` (for hosts the filter must refuse).
    pub fn url_on(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }

    /// Registers `route` under a fresh unique path and returns the path.
    pub fn serve(&self, route: Route) -> String {
        let path = format!("/f/{}/image.raw", uuid::Uuid::new_v4().simple());
        self.serve_at(&path, route);
        path
    }

    pub fn serve_at(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(path.to_owned(), route);
    }

    /// A fixed body (with `Content-Length`); returns its full URL.
    pub fn serve_bytes(&self, data: &[u8]) -> String {
        self.url(&self.serve(Route::Fixed(Arc::new(data.to_vec()))))
    }

    /// How many requests reached `path` so far.
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Polls until `path` was requested at least once.
    pub fn wait_for_hit(&self, path: &str, timeout: Duration) {
        let start = Instant::now();
        while self.hits(path) == 0 {
            assert!(start.elapsed() < timeout, "the catalog never requested {path} within {timeout:?}");
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn handle(&self, mut stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let Some((method, target)) = read_request_head(&mut stream) else { return };
        let path = target.split(['?', '#']).next().unwrap_or("").to_owned();
        *self.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
        let route = self.routes.lock().unwrap().get(&path).cloned();
        let head_only = method == "HEAD";
        let _ = respond(&mut stream, route.unwrap_or(Route::Status(404)), head_only);
        let _ = stream.flush();
    }
}

/// Reads up to the blank line; returns (method, request target).
fn read_request_head(stream: &mut TcpStream) -> Option<(String, String)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 * 1024 || stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut parts = text.lines().next()?.split_whitespace();
    Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn write_head(stream: &mut TcpStream, status: u16, headers: &[(&str, String)]) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\nConnection: close\r\n", reason(status));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())
}

fn octets(len: usize) -> Vec<(&'static str, String)> {
    vec![("Content-Type", "application/octet-stream".into()), ("Content-Length", len.to_string())]
}

fn respond(stream: &mut TcpStream, route: Route, head_only: bool) -> std::io::Result<()> {
    match route {
        Route::Fixed(data) => {
            write_head(stream, 200, &octets(data.len()))?;
            if !head_only {
                stream.write_all(&data)?;
            }
        }
        Route::Repeated { block, times } => {
            write_head(stream, 200, &octets(block.len() * times))?;
            if !head_only {
                for _ in 0..times {
                    stream.write_all(&block)?;
                }
            }
        }
        Route::Chunked(data) => {
            let headers =
                [("Content-Type", "application/octet-stream".to_owned()), ("Transfer-Encoding", "chunked".into())];
            write_head(stream, 200, &headers)?;
            if !head_only {
                for piece in data.chunks(64 * 1024) {
                    stream.write_all(format!("{:x}\r\n", piece.len()).as_bytes())?;
                    stream.write_all(piece)?;
                    stream.write_all(b"\r\n")?;
                }
                stream.write_all(b"0\r\n\r\n")?;
            }
        }
        Route::Redirect { status, location } => {
            write_head(stream, status, &[("Location", location), ("Content-Length", "0".into())])?;
        }
        Route::Status(status) => {
            let body = format!("{status} {}\n", reason(status));
            let headers = [("Content-Type", "text/plain".to_owned()), ("Content-Length", body.len().to_string())];
            write_head(stream, status, &headers)?;
            if !head_only {
                stream.write_all(body.as_bytes())?;
            }
        }
        Route::Slow { data, piece, pause } => {
            write_head(stream, 200, &octets(data.len()))?;
            if !head_only {
                for part in data.chunks(piece.max(1)) {
                    stream.write_all(part)?;
                    stream.flush()?;
                    thread::sleep(pause);
                }
            }
        }
        Route::Gated { data, before, gate } => {
            write_head(stream, 200, &octets(data.len()))?;
            if !head_only {
                let before = before.min(data.len());
                stream.write_all(&data[..before])?;
                stream.flush()?;
                if gate.wait(GATE_MAX_WAIT) {
                    stream.write_all(&data[before..])?;
                }
            }
        }
        Route::Truncated { data, sent } => {
            write_head(stream, 200, &octets(data.len()))?;
            if !head_only {
                stream.write_all(&data[..sent.min(data.len())])?;
                stream.flush()?;
            }
        }
    }
    Ok(())
}
