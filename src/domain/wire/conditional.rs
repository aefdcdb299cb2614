//! Conditional requests (RFC 9110 section 13) and the caching policy of
//! image answers: the validators of an image's metadata (its revision,
//! which every write bumps) and of its data (its md5: data never changes
//! once an image has it), what `If-None-Match`, `If-Modified-Since` and
//! `If-Match` ask of them, and `Cache-Control` by visibility.

use crate::domain::image::status::ImageStatus;
use crate::domain::image::{Image, Visibility};
use crate::domain::time::parse_http_date;

/// How long a shared cache may keep a public or community image's data
/// (a day: the data never changes, but the image may be deleted or made
/// private, and a cache downstream is not purged).
pub const PUBLIC_DATA_MAX_AGE: u64 = 86_400;

/// Metadata may change at any moment: a cache may keep it for its own
/// user only, and must ask again (a cheap 304 with its `ETag`) each time.
pub const METADATA_CACHE_CONTROL: &str = "private, no-cache";

/// The strong validator of an image's metadata: its revision.
pub fn metadata_etag(image: &Image) -> String {
    format!("\"{}-{}\"", image.id, image.version)
}

/// The strong validator of an image's data: its md5, quoted (`None`: no
/// data yet).
pub fn data_etag(image: &Image) -> Option<String> {
    image.checksum.as_ref().map(|checksum| format!("\"{checksum}\""))
}

/// `Cache-Control` of an image's data: a public or community active image's
/// may be kept by any cache, as immutable; any other only by its user's,
/// asking again each time (access can change).
pub fn data_cache_control(image: &Image) -> String {
    let public = matches!(image.visibility, Visibility::Public | Visibility::Community);
    if public && image.status == ImageStatus::Active {
        format!("public, max-age={PUBLIC_DATA_MAX_AGE}, immutable")
    } else {
        "private, no-cache".into()
    }
}

/// Whether entity tag `sent` (from a request's list) matches `current`:
/// `weak` compares the opaque tags whatever their `W/` (RFC 9110's weak
/// comparison, for `If-None-Match`), else both must be strong and equal.
fn tag_matches(sent: &str, current: &str, weak: bool) -> bool {
    if weak {
        sent.trim_start_matches("W/") == current.trim_start_matches("W/")
    } else {
        !sent.starts_with("W/") && !current.starts_with("W/") && sent == current
    }
}

/// Whether a list of entity tags (`"a", W/"b"`, or `*`) names `current`
/// (`None`: the resource has no such representation, which `*` does not
/// match either).
fn list_names(header: &str, current: Option<&str>, weak: bool) -> bool {
    let Some(current) = current else { return false };
    header.split(',').map(str::trim).filter(|t| !t.is_empty()).any(|t| t == "*" || tag_matches(t, current, weak))
}

/// What a read's preconditions say (RFC 9110 section 13.2.2, steps 3 and 4
/// for GET and HEAD): `true` when the client's copy is current and the
/// answer is 304. `If-None-Match` decides when sent (weak comparison);
/// else `If-Modified-Since`, against `last_modified` (seconds), an invalid
/// date being ignored.
pub fn not_modified(
    if_none_match: Option<&str>,
    if_modified_since: Option<&str>,
    etag: Option<&str>,
    last_modified: Option<i64>,
) -> bool {
    if let Some(header) = if_none_match {
        return list_names(header, etag, true);
    }
    match (if_modified_since.and_then(parse_http_date), last_modified) {
        (Some(since), Some(modified)) => modified <= since,
        _ => false,
    }
}

/// What a write's `If-Match` says (strong comparison): `true` when the
/// write may go ahead (no `If-Match`, or it names the current tag).
pub fn write_allowed(if_match: Option<&str>, etag: Option<&str>) -> bool {
    if_match.is_none_or(|header| list_names(header, etag, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::image::ImageId;

    fn image(visibility: Visibility, status: ImageStatus) -> Image {
        let mut image =
            Image::new(ImageId::parse("1bea47ed-f6a9-463b-b423-14b9cca9ad27").unwrap(), None, "2026-12-07T10:00:00Z");
        image.visibility = visibility;
        image.status = status;
        image.version = 7;
        image
    }

    #[test]
    fn the_metadata_tag_follows_the_revision_and_the_data_tag_the_md5() {
        let mut shown = image(Visibility::Private, ImageStatus::Queued);
        let before = metadata_etag(&shown);
        assert_eq!(before, "\"1bea47ed-f6a9-463b-b423-14b9cca9ad27-7\"");
        shown.version += 1;
        assert_ne!(metadata_etag(&shown), before);
        assert_eq!(data_etag(&shown), None);
        shown.checksum = Some("abc".into());
        assert_eq!(data_etag(&shown).as_deref(), Some("\"abc\""));
    }

    #[test]
    fn only_active_public_or_community_data_is_public_and_immutable() {
        for visibility in [Visibility::Public, Visibility::Community, Visibility::Shared, Visibility::Private] {
            for status in [ImageStatus::Active, ImageStatus::Deactivated, ImageStatus::Queued] {
                let policy = data_cache_control(&image(visibility, status));
                let public =
                    matches!(visibility, Visibility::Public | Visibility::Community) && status == ImageStatus::Active;
                if public {
                    assert_eq!(policy, "public, max-age=86400, immutable");
                } else {
                    assert_eq!(policy, "private, no-cache", "{visibility:?} {status:?}");
                }
            }
        }
    }

    #[test]
    fn if_none_match_compares_weakly_lists_and_star_and_beats_if_modified_since() {
        let tag = Some("\"a\"");
        assert!(not_modified(Some("\"a\""), None, tag, None));
        assert!(not_modified(Some("W/\"a\""), None, tag, None));
        assert!(not_modified(Some("\"x\", \"a\""), None, tag, None));
        assert!(not_modified(Some("*"), None, tag, None));
        assert!(!not_modified(Some("*"), None, None, None), "no data: nothing to match");
        assert!(!not_modified(Some("\"b\""), None, tag, None));
        let date = "Mon, 07 Dec 2026 10:00:00 GMT";
        let modified = parse_http_date(date);
        assert!(!not_modified(Some("\"b\""), Some(date), tag, modified), "If-None-Match decides when sent");
    }

    #[test]
    fn if_modified_since_compares_seconds_and_ignores_a_bad_date() {
        let date = "Mon, 07 Dec 2026 10:00:00 GMT";
        let at = parse_http_date(date).unwrap();
        assert!(not_modified(None, Some(date), None, Some(at)));
        assert!(not_modified(None, Some(date), None, Some(at - 1)));
        assert!(!not_modified(None, Some(date), None, Some(at + 1)));
        assert!(!not_modified(None, Some("yesterday"), None, Some(at)));
        assert!(!not_modified(None, None, Some("\"a\""), Some(at)));
    }

    #[test]
    fn if_match_compares_strongly() {
        let tag = Some("\"a\"");
        assert!(write_allowed(None, tag));
        assert!(write_allowed(Some("\"a\""), tag));
        assert!(write_allowed(Some("\"b\", \"a\""), tag));
        assert!(write_allowed(Some("*"), tag));
        assert!(!write_allowed(Some("W/\"a\""), tag), "a weak tag never matches for a write");
        assert!(!write_allowed(Some("\"b\""), tag));
        assert!(!write_allowed(Some("*"), None));
    }
}
