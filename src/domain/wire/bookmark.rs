//! D1 read replication as the catalog speaks it over HTTP (Cloudflare's
//! documented convention): every answer carries the request's D1 session
//! bookmark in `X-D1-Bookmark`, and a request that sends one back reads at
//! least that fresh (read-your-writes across requests and data centres).
//! Without one, a read may go to the nearest replica (boundedly stale),
//! and a write starts at the primary.

use std::fmt;

/// The header both ways.
pub const HEADER: &str = "X-D1-Bookmark";

/// Longest bookmark accepted (D1's are about 60 characters).
const MAX_LEN: usize = 256;

/// A bookmark a client sent back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bookmark(String);

impl Bookmark {
    /// The bookmark as D1 takes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A header value that cannot be a bookmark.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{HEADER} must be a bookmark a previous answer carried (up to {MAX_LEN} printable characters), not {0:?}")]
pub struct NotABookmark(pub String);

impl Bookmark {
    /// Parses the header's value. D1 judges the content; this keeps out
    /// what cannot be one (empty, long, spaces or control characters).
    pub fn parse(raw: &str) -> Result<Bookmark, NotABookmark> {
        let raw = raw.trim();
        let printable = raw.bytes().all(|b| b.is_ascii_graphic());
        if raw.is_empty() || raw.len() > MAX_LEN || !printable {
            let shown: String = raw.chars().take(40).collect();
            return Err(NotABookmark(shown));
        }
        Ok(Bookmark(raw.to_owned()))
    }
}

/// Where a request's D1 session starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStart {
    /// At least as fresh as this bookmark.
    After(Bookmark),
    /// Any replica (a read without a bookmark).
    Nearest,
    /// The primary (a write without a bookmark: its reads before the write
    /// see the latest state).
    Primary,
}

impl SessionStart {
    /// For a request: its bookmark if it sent one, else by method (`GET`
    /// and `HEAD` read).
    pub fn for_request(method: &str, bookmark: Option<&str>) -> Result<SessionStart, NotABookmark> {
        match bookmark {
            Some(raw) => Bookmark::parse(raw).map(SessionStart::After),
            None if matches!(method, "GET" | "HEAD") => Ok(SessionStart::Nearest),
            None => Ok(SessionStart::Primary),
        }
    }

    /// What `withSession` takes.
    pub fn constraint(&self) -> &str {
        match self {
            SessionStart::After(bookmark) => bookmark.as_str(),
            SessionStart::Nearest => "first-unconstrained",
            SessionStart::Primary => "first-primary",
        }
    }

    /// Whether what a session read at `read_at` (its bookmark then) is
    /// fresh enough for a request starting here: any read serves a request
    /// without a bookmark, one at or after its bookmark serves one with
    /// (D1's bookmarks sort in commit order), and none serves a write.
    pub fn satisfied_by(&self, read_at: Option<&str>) -> bool {
        match self {
            SessionStart::Nearest => true,
            SessionStart::After(bookmark) => read_at.is_some_and(|read| read >= bookmark.as_str()),
            SessionStart::Primary => false,
        }
    }
}

impl fmt::Display for SessionStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.constraint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_starts_after_its_bookmark_else_reads_nearest_and_writes_at_the_primary() {
        let bookmark = "00000001-00000002-00004f3a-c2b9e2d6b1f4a1b9e0b8c6a2f7d9e3b1";
        assert_eq!(SessionStart::for_request("GET", Some(bookmark)).unwrap().constraint(), bookmark);
        assert_eq!(SessionStart::for_request("PATCH", Some(bookmark)).unwrap().constraint(), bookmark);
        assert_eq!(SessionStart::for_request("GET", None).unwrap(), SessionStart::Nearest);
        assert_eq!(SessionStart::for_request("HEAD", None).unwrap().constraint(), "first-unconstrained");
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            assert_eq!(SessionStart::for_request(method, None).unwrap().constraint(), "first-primary");
        }
    }

    #[test]
    fn a_remembered_read_serves_a_request_only_if_it_is_at_least_as_fresh_as_asked() {
        let early = "00000001-00000002-00004f3a-aa";
        let late = "00000001-00000003-00004f3a-aa";
        let after = |b: &str| SessionStart::for_request("GET", Some(b)).unwrap();
        assert!(SessionStart::Nearest.satisfied_by(None));
        assert!(SessionStart::Nearest.satisfied_by(Some(early)));
        assert!(after(early).satisfied_by(Some(early)));
        assert!(after(early).satisfied_by(Some(late)));
        assert!(!after(late).satisfied_by(Some(early)));
        assert!(!after(early).satisfied_by(None));
        assert!(!SessionStart::Primary.satisfied_by(Some(late)));
    }

    #[test]
    fn what_cannot_be_a_bookmark_is_refused_naming_the_header() {
        for bad in ["", "   ", "has space", "tab\there", &"x".repeat(257), "caf\u{e9}"] {
            let error = SessionStart::for_request("GET", Some(bad)).unwrap_err();
            assert!(error.to_string().starts_with("X-D1-Bookmark must be"), "{error}");
        }
    }
}
