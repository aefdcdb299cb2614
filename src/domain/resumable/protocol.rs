//! The tus 1.0 wire format: the headers a client sends (read and checked
//! here, so a malformed one is a 4xx naming it) and the refusals the
//! protocol defines ([`TusError`], mapped to HTTP in `error.rs`).

use base64::Engine;

use super::{Concat, UploadId, MAX_CONCAT_PARTS};
use crate::domain::hash::HashAlgorithm;

/// The protocol version spoken.
pub const TUS_VERSION: &str = "1.0.0";
/// The extensions offered (`Tus-Extension`).
pub const TUS_EXTENSIONS: &str = "creation,creation-with-upload,termination,checksum,expiration,concatenation";
/// The checksum algorithms offered (`Tus-Checksum-Algorithm`): every
/// [`HashAlgorithm`].
pub const CHECKSUM_ALGORITHMS: &str = "md5,sha1,sha256,sha512";
/// The body type of PATCH (and of creation-with-upload).
pub const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
/// The longest `Upload-Metadata` kept.
const MAX_METADATA: usize = 4096;

/// A refusal the tus protocol defines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TusError {
    /// `Tus-Resumable` missing or another version: 412.
    #[error("This server speaks tus {TUS_VERSION}; the request's Tus-Resumable is {0}.")]
    Version(String),
    /// A header is missing or malformed: 400.
    #[error("{name} {problem}.")]
    Header {
        /// The header.
        name: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The upload would exceed what the catalog accepts: 413.
    #[error("Upload-Length {length} exceeds the largest upload accepted ({max} bytes).")]
    TooLarge {
        /// Requested.
        length: u64,
        /// `Tus-Max-Size`.
        max: u64,
    },
    /// A PATCH would go past `Upload-Length`: 413.
    #[error("The PATCH carries {body} bytes from offset {offset}, past the upload's length of {length} bytes.")]
    PastLength {
        /// `Upload-Offset`.
        offset: u64,
        /// The body's length.
        body: u64,
        /// `Upload-Length`.
        length: u64,
    },
    /// `Upload-Offset` is not the stored offset: 409, nothing changes.
    #[error("Upload-Offset is {sent} but the upload holds {stored} bytes: resume from {stored} (HEAD says so).")]
    OffsetMismatch {
        /// What the client sent.
        sent: u64,
        /// What is stored.
        stored: u64,
    },
    /// Another PATCH of the upload is in flight: 423.
    #[error("Another PATCH of this upload is in progress; retry once it ends.")]
    Locked,
    /// The body's checksum is not `Upload-Checksum`'s: 460, nothing kept.
    #[error("The body's {algorithm} checksum does not match Upload-Checksum; none of this PATCH was kept.")]
    ChecksumMismatch {
        /// The algorithm named.
        algorithm: String,
    },
    /// A PATCH to a final (concatenated) upload: 403.
    #[error("A final upload is the concatenation of its partial uploads; it takes no PATCH.")]
    FinalNotPatchable,
    /// The PATCH body is not `application/offset+octet-stream`: 415.
    #[error("A PATCH body must be {OFFSET_OCTET_STREAM}.")]
    ContentType,
    /// No such upload (or not the caller's to see): 404.
    #[error("No upload {0} for this image.")]
    NotFound(String),
    /// The upload expired: 410.
    #[error("Upload {0} expired; start a new one.")]
    Expired(String),
    /// The final concatenation names unusable partial uploads: 400.
    #[error("Upload-Concat: {0}")]
    Concat(String),
}

fn header_error(name: &'static str, problem: impl Into<String>) -> TusError {
    TusError::Header { name, problem: problem.into() }
}

/// Checks `Tus-Resumable`.
pub fn check_version(value: Option<&str>) -> Result<(), TusError> {
    match value.map(str::trim) {
        Some(TUS_VERSION) => Ok(()),
        Some(other) => Err(TusError::Version(format!("'{other}'"))),
        None => Err(TusError::Version("missing".into())),
    }
}

/// A non-negative integer header (`Upload-Length`, `Upload-Offset`).
pub fn parse_size(name: &'static str, value: Option<&str>) -> Result<u64, TusError> {
    let raw = value.ok_or_else(|| header_error(name, "is required"))?.trim();
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(header_error(name, format!("must be a non-negative integer, got '{raw}'")));
    }
    raw.parse::<u64>().map_err(|_| header_error(name, format!("is out of range: '{raw}'")))
}

/// `Upload-Metadata`: comma-separated `key [base64 value]` pairs, checked
/// and kept as sent.
pub fn parse_metadata(value: Option<&str>) -> Result<Option<String>, TusError> {
    let Some(raw) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    if raw.len() > MAX_METADATA {
        return Err(header_error("Upload-Metadata", format!("is longer than {MAX_METADATA} bytes")));
    }
    let mut keys = std::collections::HashSet::new();
    for pair in raw.split(',') {
        let mut words = pair.trim().split(' ');
        let key = words.next().unwrap_or("");
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(header_error("Upload-Metadata", format!("has a malformed key in '{pair}'")));
        }
        if !keys.insert(key) {
            return Err(header_error("Upload-Metadata", format!("names '{key}' twice")));
        }
        if let Some(encoded) = words.next() {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| header_error("Upload-Metadata", format!("value of '{key}' is not base64")))?;
        }
        if words.next().is_some() {
            return Err(header_error("Upload-Metadata", format!("has more than a key and a value in '{pair}'")));
        }
    }
    Ok(Some(raw.to_owned()))
}

/// `Upload-Checksum: <algorithm> <base64 digest>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    /// The algorithm.
    pub algorithm: HashAlgorithm,
    /// The expected digest.
    pub digest: Vec<u8>,
}

impl Checksum {
    /// Reads the header (absent: no checksum).
    pub fn parse(value: Option<&str>) -> Result<Option<Checksum>, TusError> {
        let Some(raw) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
        let (name, encoded) = raw
            .split_once(' ')
            .ok_or_else(|| header_error("Upload-Checksum", "must be '<algorithm> <base64 digest>'"))?;
        let algorithm = HashAlgorithm::parse(&name.to_ascii_lowercase()).ok_or_else(|| {
            header_error("Upload-Checksum", format!("names '{name}'; supported: {CHECKSUM_ALGORITHMS}"))
        })?;
        let digest = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| header_error("Upload-Checksum", "digest is not base64"))?;
        let expected = algorithm.hex_len() / 2;
        if digest.len() != expected {
            return Err(header_error(
                "Upload-Checksum",
                format!("digest has {} bytes; a {} digest has {expected}", digest.len(), algorithm.as_str()),
            ));
        }
        Ok(Some(Checksum { algorithm, digest }))
    }
}

/// `Upload-Concat` of a creation request. `upload_of` reads the upload id
/// out of one of the final's URLs (and checks it names this image's
/// uploads).
pub fn parse_concat(value: Option<&str>, upload_of: impl Fn(&str) -> Option<UploadId>) -> Result<Concat, TusError> {
    let Some(raw) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(Concat::Whole) };
    if raw == "partial" {
        return Ok(Concat::Partial);
    }
    let Some(urls) = raw.strip_prefix("final;") else {
        return Err(header_error("Upload-Concat", format!("must be 'partial' or 'final;<urls>', got '{raw}'")));
    };
    let mut ids = Vec::new();
    for url in urls.split(' ').filter(|u| !u.is_empty()) {
        let id = upload_of(url).ok_or_else(|| TusError::Concat(format!("'{url}' is not an upload of this image")))?;
        if ids.contains(&id) {
            return Err(TusError::Concat(format!("'{url}' is named twice")));
        }
        ids.push(id);
    }
    if ids.is_empty() {
        return Err(TusError::Concat("a final upload names at least one partial upload".into()));
    }
    if ids.len() > MAX_CONCAT_PARTS {
        return Err(TusError::Concat(format!("at most {MAX_CONCAT_PARTS} partial uploads can be joined")));
    }
    Ok(Concat::Final(ids))
}

/// The upload id in `url` when it is (absolute, or a path) an upload of
/// image `image_id`: `.../v2/images/{image_id}/uploads/{upload_id}`.
pub fn upload_in_url(url: &str, image_id: &str) -> Option<UploadId> {
    let path = match url.find("://") {
        Some(scheme_end) => {
            let after = &url[scheme_end + 3..];
            &after[after.find('/')?..]
        }
        None => url,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        [.., "v2", "images", image, "uploads", upload] if image.eq_ignore_ascii_case(image_id) => {
            UploadId::parse(upload)
        }
        _ => None,
    }
}

/// The `Upload-Concat` value shown for an upload.
pub fn concat_header(concat: &Concat, url_of: impl Fn(&UploadId) -> String) -> Option<String> {
    match concat {
        Concat::Whole => None,
        Concat::Partial => Some("partial".into()),
        Concat::Final(ids) => Some(format!("final;{}", ids.iter().map(url_of).collect::<Vec<_>>().join(" "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: &str = "3f1a7e52-6b1e-4c43-9d7b-0c5b0c8f9a11";
    const UPLOAD: &str = "9a3c5d7e-1b2f-4a6c-8d0e-2f4a6c8e0b1d";

    #[test]
    fn only_tus_1_0_0_is_spoken() {
        assert_eq!(check_version(Some("1.0.0")), Ok(()));
        assert!(matches!(check_version(Some("0.2.2")), Err(TusError::Version(_))));
        assert!(matches!(check_version(None), Err(TusError::Version(_))));
    }

    #[test]
    fn sizes_are_plain_non_negative_integers() {
        assert_eq!(parse_size("Upload-Length", Some(" 42 ")), Ok(42));
        for bad in ["", "-1", "1e3", "0x10", "99999999999999999999999"] {
            assert!(parse_size("Upload-Length", Some(bad)).is_err(), "{bad}");
        }
        assert!(matches!(parse_size("Upload-Offset", None), Err(TusError::Header { name: "Upload-Offset", .. })));
    }

    #[test]
    fn metadata_pairs_are_checked() {
        assert_eq!(
            parse_metadata(Some("filename ZGlzay5pbWc=,is_confidential")).unwrap().as_deref(),
            Some("filename ZGlzay5pbWc=,is_confidential")
        );
        assert_eq!(parse_metadata(None), Ok(None));
        for bad in ["filename not*base64", "a eA==,a eA==", "a eA== extra", " ", "k\u{7f} eA=="] {
            if bad.trim().is_empty() {
                assert_eq!(parse_metadata(Some(bad)), Ok(None));
            } else {
                assert!(parse_metadata(Some(bad)).is_err(), "{bad}");
            }
        }
        assert!(parse_metadata(Some(&"k ".repeat(3000))).is_err());
    }

    #[test]
    fn every_hash_algorithm_is_offered_for_checksums() {
        let names: Vec<&str> = HashAlgorithm::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(CHECKSUM_ALGORITHMS, names.join(","));
    }

    #[test]
    fn checksums_name_an_algorithm_and_a_digest_of_its_length() {
        let sha1 = Checksum::parse(Some("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=")).unwrap().unwrap();
        assert_eq!(sha1.algorithm, HashAlgorithm::Sha1);
        assert_eq!(sha1.digest.len(), 20);
        assert_eq!(Checksum::parse(None), Ok(None));
        for bad in ["sha1", "crc32 AAAA", "sha1 %%%", "sha1 AAAA", "md5 Kq5sNclPz7QV2+lfQIuc6R7oRu0="] {
            assert!(Checksum::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn final_concatenations_name_this_images_partial_uploads() {
        let url = format!("http://h:8/v2/images/{IMAGE}/uploads/{UPLOAD}");
        let of = |u: &str| upload_in_url(u, IMAGE);
        assert_eq!(parse_concat(Some("partial"), of), Ok(Concat::Partial));
        assert_eq!(parse_concat(None, of), Ok(Concat::Whole));
        let parsed = parse_concat(Some(&format!("final;{url} /v2/images/{IMAGE}/uploads/{IMAGE}")), of).unwrap();
        assert_eq!(parsed, Concat::Final(vec![UploadId::parse(UPLOAD).unwrap(), UploadId::parse(IMAGE).unwrap()]));
        for bad in [
            format!("final;{url} {url}"),
            "final;".into(),
            format!("final;http://h/v2/images/{UPLOAD}/uploads/{UPLOAD}"),
            format!("final;http://h/v2/images/{IMAGE}/uploads/not-a-uuid"),
            "whole".into(),
        ] {
            assert!(parse_concat(Some(&bad), of).is_err(), "{bad}");
        }
        let many = (0..65).map(|_| format!("/v2/images/{IMAGE}/uploads/{}", UploadId::generate())).collect::<Vec<_>>();
        assert!(parse_concat(Some(&format!("final;{}", many.join(" "))), of).is_err());
        let shown = concat_header(&parsed, |id| format!("/u/{id}")).unwrap();
        assert!(shown.starts_with("final;/u/") && shown.contains(' '));
    }
}
