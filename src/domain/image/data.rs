//! An image's data fields (size, checksums, virtual size, where the bytes
//! are) and the two rules that change them: recording what a finished
//! transfer stored, and clearing them when the image goes back to `queued`.
//! Every status change of an image record goes through [`Image::enter`], so
//! "entering `queued` clears the data fields" is written once, here.

use super::location::Location;
use super::status::{ImageStatus, Transition};
use super::{Image, HASH_ALGO};
use crate::domain::format::FormatRefusal;
use crate::domain::hash::HashAlgorithm;

/// What a completed transfer stored: its length and the hex digests the
/// runtime computed on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredData {
    /// Bytes written.
    pub size: u64,
    /// Hex md5 (`checksum`).
    pub md5: String,
    /// Hex sha512 (`os_hash_value`).
    pub sha512: String,
    /// The disk's virtual size, as the format inspection found it (or the
    /// size of raw data); None: unknown.
    pub virtual_size: Option<u64>,
}

/// Why an upload stored nothing. Only [`UploadFailure::Storage`] is ours;
/// the others are the body's (its sender's) doing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadFailure {
    /// The body did not have the declared length (or the client went away
    /// before sending it all).
    #[error("the body had {received} bytes, not the {expected} declared")]
    SizeMismatch {
        /// The declared size.
        expected: u64,
        /// What arrived (at most one chunk past `expected` is read).
        received: u64,
    },
    /// More bytes than the size cap.
    #[error("the data exceeds the size cap of {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: u64,
    },
    /// The body sent nothing for the idle bound.
    #[error("the body sent nothing for {seconds} seconds")]
    Stalled {
        /// The idle bound.
        seconds: u64,
    },
    /// Reading the body failed (client disconnect).
    #[error("reading the body failed: {0}")]
    Body(String),
    /// R2 (or the runtime's digests) failed: our failure, worth a retry.
    #[error("the image store failed: {0}")]
    Storage(String),
    /// The format inspection refused the data (its reason).
    #[error("{0}")]
    Refused(#[from] FormatRefusal),
}

impl Image {
    /// Makes `transition` on the record: the status is its `to`, and an
    /// image that goes back to `queued` has no data any more (Glance's
    /// failed uploads and imports): size, checksums and virtual size are
    /// cleared, and locations in our stores dropped (their objects are
    /// removed by whoever failed); http locations stay, as Glance keeps a
    /// location whose hashing failed.
    pub fn enter(&mut self, transition: Transition) {
        self.status = transition.to();
        if transition.to() == ImageStatus::Queued {
            self.size = None;
            self.virtual_size = None;
            self.checksum = None;
            self.os_hash_algo = None;
            self.os_hash_value = None;
            self.locations.retain(Location::is_http);
        }
    }

    /// Records what a transfer stored: size, md5, sha512 and the virtual
    /// size that follows from the size (see [`Image::virtual_size_of`]).
    pub fn record_data(&mut self, data: &StoredData) {
        self.size = Some(data.size);
        self.virtual_size = data.virtual_size;
        self.checksum = Some(data.md5.clone());
        self.os_hash_algo = Some(HASH_ALGO.into());
        self.os_hash_value = Some(data.sha512.clone());
    }

    /// Records hashes computed with another algorithm (an http location's
    /// validation data names it).
    pub fn record_hashes(&mut self, size: u64, md5: &str, algorithm: HashAlgorithm, value: &str) {
        self.size = Some(size);
        self.virtual_size = self.virtual_size_of(size);
        self.checksum = Some(md5.to_owned());
        self.os_hash_algo = Some(algorithm.as_str().into());
        self.os_hash_value = Some(value.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::image::status::ImageEvent;
    use crate::domain::image::{DiskFormat, Visibility};

    fn stored() -> StoredData {
        StoredData { size: 10, md5: "m".into(), sha512: "s".into(), virtual_size: Some(10) }
    }

    #[test]
    fn recording_data_sets_every_data_field() {
        let mut image = Image::sample("p1", Visibility::Private);
        image.disk_format = Some(DiskFormat::Raw);
        image.record_data(&stored());
        assert_eq!(image.size, Some(10));
        assert_eq!(image.virtual_size, Some(10), "the virtual size the inspection found");
        assert_eq!(image.checksum.as_deref(), Some("m"));
        assert_eq!((image.os_hash_algo.as_deref(), image.os_hash_value.as_deref()), (Some("sha512"), Some("s")));
        image.record_data(&StoredData { virtual_size: None, ..stored() });
        assert_eq!(image.virtual_size, None, "none found, none recorded");
    }

    #[test]
    fn entering_queued_clears_the_data_fields_and_our_locations_only() {
        let mut image = Image::sample("p1", Visibility::Private);
        image.status = ImageStatus::Importing;
        image.record_data(&stored());
        image.locations =
            vec![Location::in_r2("primary", "images/x"), Location::new("web", "https://example.com/a".into())];
        image.enter(ImageStatus::Importing.transition(ImageEvent::UploadFailed).unwrap());
        assert_eq!(image.status, ImageStatus::Queued);
        assert_eq!(
            (image.size, image.virtual_size, image.checksum, image.os_hash_algo, image.os_hash_value),
            (None, None, None, None, None)
        );
        assert_eq!(image.locations, vec![Location::new("web", "https://example.com/a".into())]);
    }

    #[test]
    fn other_transitions_keep_the_data() {
        let mut image = Image::sample("p1", Visibility::Private);
        image.status = ImageStatus::Saving;
        image.record_data(&stored());
        image.enter(ImageStatus::Saving.transition(ImageEvent::DataStored).unwrap());
        assert_eq!((image.status, image.size), (ImageStatus::Active, Some(10)));
        image.enter(ImageStatus::Active.transition(ImageEvent::Deactivate).unwrap());
        assert_eq!((image.status, image.checksum.as_deref()), (ImageStatus::Deactivated, Some("m")));
    }
}
