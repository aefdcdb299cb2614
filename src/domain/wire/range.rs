//! Download ranges as Glance serves them: one `Range: bytes=...` (or the
//! legacy request header `Content-Range: bytes s-e/t`), suffix ranges
//! included; several ranges are 400, a start past the end is 416, an end past
//! the end is clipped.

/// What a download should send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// The whole object (200).
    Full,
    /// `length` bytes from `offset` (206).
    Partial {
        /// First byte.
        offset: u64,
        /// Number of bytes.
        length: u64,
    },
}

/// Why a range was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeError {
    /// Malformed or several ranges (400).
    Invalid,
    /// Starts at or past the end of data of `size` bytes (416).
    Unsatisfiable {
        /// The size of the data.
        size: u64,
    },
}

impl ByteRange {
    /// `Content-Range` for a partial answer.
    pub fn content_range(self, size: u64) -> Option<String> {
        match self {
            ByteRange::Full => None,
            ByteRange::Partial { offset, length } => Some(format!("bytes {}-{}/{}", offset, offset + length - 1, size)),
        }
    }
}

/// Resolves the request's `Range` (preferred) or legacy `Content-Range`
/// header against an object of `size` bytes.
pub fn resolve(range: Option<&str>, legacy_content_range: Option<&str>, size: u64) -> Result<ByteRange, RangeError> {
    if let Some(header) = range {
        return parse_range(header, size);
    }
    if let Some(header) = legacy_content_range {
        return parse_legacy(header, size);
    }
    Ok(ByteRange::Full)
}

/// Whether a range request is honoured given its `If-Range` (RFC 9110
/// 13.1.5): always without one; with one, only when it is the data's
/// current strong `etag`. A date, a weak tag or another tag means the
/// client's copy is not ours: it gets the whole data (200).
pub fn range_applies(if_range: Option<&str>, etag: Option<&str>) -> bool {
    match if_range.map(str::trim) {
        None => true,
        Some(sent) => !sent.starts_with("W/") && etag.is_some_and(|tag| tag == sent),
    }
}

fn number(text: &str) -> Result<u64, RangeError> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RangeError::Invalid);
    }
    text.parse().map_err(|_| RangeError::Invalid)
}

fn parse_range(header: &str, size: u64) -> Result<ByteRange, RangeError> {
    let spec = header.trim().strip_prefix("bytes=").ok_or(RangeError::Invalid)?;
    if spec.contains(',') {
        return Err(RangeError::Invalid);
    }
    let (start, end) = spec.split_once('-').ok_or(RangeError::Invalid)?;
    if start.trim().is_empty() {
        // Suffix range: the last N bytes.
        let suffix = number(end)?;
        if suffix == 0 || size == 0 {
            return Err(RangeError::Unsatisfiable { size });
        }
        let length = suffix.min(size);
        return Ok(ByteRange::Partial { offset: size - length, length });
    }
    let start = number(start)?;
    let end = if end.trim().is_empty() { None } else { Some(number(end)?) };
    bounded(start, end, size)
}

fn parse_legacy(header: &str, size: u64) -> Result<ByteRange, RangeError> {
    let spec = header.trim().strip_prefix("bytes").ok_or(RangeError::Invalid)?.trim_start();
    let spec = spec.split('/').next().unwrap_or("");
    let (start, end) = spec.split_once('-').ok_or(RangeError::Invalid)?;
    bounded(number(start)?, Some(number(end)?), size)
}

fn bounded(start: u64, end: Option<u64>, size: u64) -> Result<ByteRange, RangeError> {
    if let Some(end) = end {
        if end < start {
            return Err(RangeError::Invalid);
        }
    }
    if start >= size {
        return Err(RangeError::Unsatisfiable { size });
    }
    let last = end.map_or(size - 1, |e| e.min(size - 1));
    Ok(ByteRange::Partial { offset: start, length: last - start + 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_range_honours_a_range_only_for_the_current_strong_etag() {
        let etag = Some("\"abc\"");
        assert!(range_applies(None, etag));
        assert!(range_applies(Some("\"abc\""), etag));
        assert!(!range_applies(Some("\"abd\""), etag));
        assert!(!range_applies(Some("W/\"abc\""), etag));
        assert!(!range_applies(Some("Sun, 06 Nov 1994 08:49:37 GMT"), etag));
        assert!(!range_applies(Some("\"abc\""), None));
    }

    fn range(h: &str, size: u64) -> Result<ByteRange, RangeError> {
        resolve(Some(h), None, size)
    }

    #[test]
    fn no_header_means_everything() {
        assert_eq!(resolve(None, None, 10), Ok(ByteRange::Full));
    }

    #[test]
    fn closed_open_and_suffix_ranges() {
        assert_eq!(range("bytes=0-9", 1024), Ok(ByteRange::Partial { offset: 0, length: 10 }));
        assert_eq!(range("bytes=1000-", 1024), Ok(ByteRange::Partial { offset: 1000, length: 24 }));
        assert_eq!(range("bytes=-10", 1024), Ok(ByteRange::Partial { offset: 1014, length: 10 }));
        assert_eq!(range("bytes=-5000", 1024), Ok(ByteRange::Partial { offset: 0, length: 1024 }));
    }

    #[test]
    fn an_end_past_the_size_is_clipped() {
        assert_eq!(range("bytes=1000-5000", 1024), Ok(ByteRange::Partial { offset: 1000, length: 24 }));
    }

    #[test]
    fn a_start_past_the_end_is_unsatisfiable() {
        assert_eq!(range("bytes=1024-", 1024), Err(RangeError::Unsatisfiable { size: 1024 }));
        assert_eq!(range("bytes=2000-3000", 1024), Err(RangeError::Unsatisfiable { size: 1024 }));
        assert_eq!(range("bytes=-0", 1024), Err(RangeError::Unsatisfiable { size: 1024 }));
        assert_eq!(range("bytes=0-", 0), Err(RangeError::Unsatisfiable { size: 0 }));
    }

    #[test]
    fn several_or_malformed_ranges_are_invalid() {
        for bad in ["bytes=0-1,5-6", "bytes=5-1", "items=0-1", "bytes=a-b", "bytes=", "bytes=-", "0-1"] {
            assert_eq!(range(bad, 1024), Err(RangeError::Invalid), "{bad}");
        }
    }

    #[test]
    fn legacy_content_range_request_header() {
        assert_eq!(resolve(None, Some("bytes 2-5/1024"), 1024), Ok(ByteRange::Partial { offset: 2, length: 4 }));
        assert_eq!(resolve(None, Some("bytes 2000-2005/*"), 1024), Err(RangeError::Unsatisfiable { size: 1024 }));
        assert_eq!(resolve(None, Some("nonsense"), 1024), Err(RangeError::Invalid));
    }

    #[test]
    fn content_range_header_text() {
        let r = range("bytes=0-9", 1024).unwrap();
        assert_eq!(r.content_range(1024).as_deref(), Some("bytes 0-9/1024"));
        assert_eq!(ByteRange::Full.content_range(1024), None);
    }
}
