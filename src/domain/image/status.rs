//! The image status machine, exactly as Glance implements it
//! (`glance/domain/__init__.py` `Image.valid_state_targets`); the task's is
//! in [`crate::domain::task::status`].
//!
//! Handlers never assign a status directly: they name an [`ImageEvent`] and
//! ask [`ImageStatus::apply`] for the next status. Every `(status, event)` pair
//! is spelled out in one exhaustive `match`, so adding a status or an event is
//! a compile error until each combination has been decided.

use std::fmt;
use std::str::FromStr;

/// The lifecycle status of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageStatus {
    /// Registered, no data yet.
    Queued,
    /// Data is being written by a direct upload.
    Saving,
    /// Data has been staged for an interoperable import.
    Uploading,
    /// An import task is moving staged data into the store.
    Importing,
    /// Data is stored and the image can be used.
    Active,
    /// A v1 upload failed; the image is unusable.
    Killed,
    /// The image was deleted (rows are soft-deleted and hidden).
    Deleted,
    /// Deleted with delayed delete: data awaits the scrubber.
    PendingDelete,
    /// Data download is blocked for non-admins.
    Deactivated,
}

/// Everything that can happen to an image's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageEvent {
    /// A direct upload (`PUT /file`, v1 `POST`/`PUT` with a body) begins.
    BeginUpload,
    /// Data is staged (`PUT /stage`).
    Stage,
    /// An import task starts.
    BeginImport,
    /// Data has been fully written and verified.
    DataStored,
    /// A v2 upload, stage or import failed: the image returns to `queued`.
    UploadFailed,
    /// A v1 upload failed: the image is killed.
    UploadKilled,
    /// `POST /actions/deactivate`; repeating it is a no-op.
    Deactivate,
    /// `POST /actions/reactivate`; repeating it is a no-op.
    Reactivate,
    /// Delete the image now.
    Delete,
    /// Delete with `delayed_delete`: keep the data for the scrubber.
    DelayedDelete,
    /// The scrubber's restore of a pending-delete image.
    RestoreDeleted,
}

impl ImageEvent {
    /// The status this event moves an image to where it is allowed (what a
    /// refusal names: "from active to saving is not allowed").
    pub fn intended(self) -> ImageStatus {
        match self {
            ImageEvent::BeginUpload => ImageStatus::Saving,
            ImageEvent::Stage => ImageStatus::Uploading,
            ImageEvent::BeginImport => ImageStatus::Importing,
            ImageEvent::DataStored | ImageEvent::Reactivate | ImageEvent::RestoreDeleted => ImageStatus::Active,
            ImageEvent::UploadFailed => ImageStatus::Queued,
            ImageEvent::UploadKilled => ImageStatus::Killed,
            ImageEvent::Deactivate => ImageStatus::Deactivated,
            ImageEvent::Delete => ImageStatus::Deleted,
            ImageEvent::DelayedDelete => ImageStatus::PendingDelete,
        }
    }
}

/// A transition the status machine refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Image status transition from {from} to {} is not allowed", event.intended())]
pub struct InvalidTransition {
    /// The status the image was in.
    pub from: ImageStatus,
    /// What was attempted.
    pub event: ImageEvent,
}

impl ImageStatus {
    /// Every status, for exhaustive tests and schema enums.
    pub const ALL: [ImageStatus; 9] = [
        ImageStatus::Queued,
        ImageStatus::Saving,
        ImageStatus::Uploading,
        ImageStatus::Importing,
        ImageStatus::Active,
        ImageStatus::Killed,
        ImageStatus::Deleted,
        ImageStatus::PendingDelete,
        ImageStatus::Deactivated,
    ];

    /// The wire name (`pending_delete`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ImageStatus::Queued => "queued",
            ImageStatus::Saving => "saving",
            ImageStatus::Uploading => "uploading",
            ImageStatus::Importing => "importing",
            ImageStatus::Active => "active",
            ImageStatus::Killed => "killed",
            ImageStatus::Deleted => "deleted",
            ImageStatus::PendingDelete => "pending_delete",
            ImageStatus::Deactivated => "deactivated",
        }
    }

    /// Glance's `valid_state_targets`: the statuses this one may move to.
    pub fn valid_targets(self) -> &'static [ImageStatus] {
        use ImageStatus::*;
        match self {
            Queued => &[Saving, Uploading, Importing, Active, Deleted],
            Saving => &[Active, Killed, Deleted, Queued],
            Uploading => &[Importing, Queued, Deleted],
            Importing => &[Active, Deleted, Queued],
            Active => &[PendingDelete, Deleted, Deactivated],
            Killed => &[Deleted],
            PendingDelete => &[Deleted, Active],
            Deactivated => &[Active, Deleted],
            Deleted => &[],
        }
    }

    /// The status after `event`, or the refusal.
    ///
    /// Deactivate/reactivate are idempotent (Glance answers a repeat with 204),
    /// so `Deactivated + Deactivate` and `Active + Reactivate` stay put; every
    /// other accepted pair is a move listed in [`ImageStatus::valid_targets`].
    pub fn apply(self, event: ImageEvent) -> Result<ImageStatus, InvalidTransition> {
        use ImageEvent as E;
        use ImageStatus as S;
        let next = match (self, event) {
            (S::Queued, E::BeginUpload) => Some(S::Saving),
            (S::Queued, E::Stage) => Some(S::Uploading),
            (S::Queued | S::Uploading, E::BeginImport) => Some(S::Importing),
            (S::Saving | S::Importing, E::DataStored) => Some(S::Active),
            // A zero-length v1 image becomes active with no write at all.
            (S::Queued, E::DataStored) => Some(S::Active),
            (S::Saving | S::Uploading | S::Importing, E::UploadFailed) => Some(S::Queued),
            (S::Saving, E::UploadKilled) => Some(S::Killed),
            (S::Active | S::Deactivated, E::Deactivate) => Some(S::Deactivated),
            (S::Deactivated | S::Active, E::Reactivate) => Some(S::Active),
            (
                S::Queued
                | S::Saving
                | S::Uploading
                | S::Importing
                | S::Active
                | S::Killed
                | S::PendingDelete
                | S::Deactivated,
                E::Delete,
            ) => Some(S::Deleted),
            (S::Active, E::DelayedDelete) => Some(S::PendingDelete),
            (S::PendingDelete, E::RestoreDeleted) => Some(S::Active),
            // Everything below is refused; listed so the match stays exhaustive
            // without a catch-all that could silently accept a new pair.
            (S::Deleted, _)
            | (
                S::Saving | S::Uploading | S::Importing | S::Active | S::Killed | S::PendingDelete | S::Deactivated,
                E::BeginUpload,
            )
            | (
                S::Saving | S::Uploading | S::Importing | S::Active | S::Killed | S::PendingDelete | S::Deactivated,
                E::Stage,
            )
            | (S::Saving | S::Importing | S::Active | S::Killed | S::PendingDelete | S::Deactivated, E::BeginImport)
            | (S::Uploading | S::Active | S::Killed | S::PendingDelete | S::Deactivated, E::DataStored)
            | (S::Queued | S::Active | S::Killed | S::PendingDelete | S::Deactivated, E::UploadFailed)
            | (
                S::Queued | S::Uploading | S::Importing | S::Active | S::Killed | S::PendingDelete | S::Deactivated,
                E::UploadKilled,
            )
            | (
                S::Queued | S::Saving | S::Uploading | S::Importing | S::Killed | S::PendingDelete,
                E::Deactivate | E::Reactivate,
            )
            | (
                S::Queued | S::Saving | S::Uploading | S::Importing | S::Killed | S::PendingDelete | S::Deactivated,
                E::DelayedDelete,
            )
            | (
                S::Queued | S::Saving | S::Uploading | S::Importing | S::Active | S::Killed | S::Deactivated,
                E::RestoreDeleted,
            ) => None,
        };
        next.ok_or(InvalidTransition { from: self, event })
    }
}

/// A status change the machine accepted: `from` -> `to` by an event. It can
/// only be made by [`ImageStatus::transition`], and it is the only way to
/// ask the store to write a status, so every status written is one the
/// machine returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    from: ImageStatus,
    to: ImageStatus,
}

impl Transition {
    /// The status the image must still be in (the compare of compare-and-set).
    pub fn from(self) -> ImageStatus {
        self.from
    }

    /// The status written.
    pub fn to(self) -> ImageStatus {
        self.to
    }
}

impl ImageStatus {
    /// [`ImageStatus::apply`], as a [`Transition`] the store can write.
    pub fn transition(self, event: ImageEvent) -> Result<Transition, InvalidTransition> {
        self.apply(event).map(|to| Transition { from: self, to })
    }
}

/// A write of an image record lost its compare-and-set race every time it
/// was tried: too many others were writing the same image at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Image {0} is being changed by too many other requests at once; retry the request.")]
pub struct Contended(pub String);

impl fmt::Display for ImageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown status name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid status value: {0}")]
pub struct UnknownStatus(pub String);

impl FromStr for ImageStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageStatus::ALL.into_iter().find(|status| status.as_str() == s).ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ImageEvent as E;
    use ImageStatus as S;

    const EVENTS: [ImageEvent; 11] = [
        E::BeginUpload,
        E::Stage,
        E::BeginImport,
        E::DataStored,
        E::UploadFailed,
        E::UploadKilled,
        E::Deactivate,
        E::Reactivate,
        E::Delete,
        E::DelayedDelete,
        E::RestoreDeleted,
    ];

    /// The expected outcome of every (status, event) pair, written out by hand
    /// from Glance's `valid_state_targets` and its handlers; `None` = refused.
    #[rustfmt::skip]
    fn expected(status: ImageStatus, event: ImageEvent) -> Option<ImageStatus> {
        let row: [Option<ImageStatus>; 11] = match status {
            //              BeginUpload      Stage               BeginImport         DataStored       UploadFailed     UploadKilled     Deactivate            Reactivate       Delete           DelayedDelete          RestoreDeleted
            S::Queued => [Some(S::Saving), Some(S::Uploading), Some(S::Importing), Some(S::Active), None, None, None, None, Some(S::Deleted), None, None],
            S::Saving => [None, None, None, Some(S::Active), Some(S::Queued), Some(S::Killed), None, None, Some(S::Deleted), None, None],
            S::Uploading => [None, None, Some(S::Importing), None, Some(S::Queued), None, None, None, Some(S::Deleted), None, None],
            S::Importing => [None, None, None, Some(S::Active), Some(S::Queued), None, None, None, Some(S::Deleted), None, None],
            S::Active => [None, None, None, None, None, None, Some(S::Deactivated), Some(S::Active), Some(S::Deleted), Some(S::PendingDelete), None],
            S::Killed => [None, None, None, None, None, None, None, None, Some(S::Deleted), None, None],
            S::Deleted => [None; 11],
            S::PendingDelete => [None, None, None, None, None, None, None, None, Some(S::Deleted), None, Some(S::Active)],
            S::Deactivated => [None, None, None, None, None, None, Some(S::Deactivated), Some(S::Active), Some(S::Deleted), None, None],
        };
        let column = EVENTS.iter().position(|e| *e == event).unwrap();
        row[column]
    }

    #[test]
    fn every_status_event_pair_matches_the_expected_table() {
        for status in S::ALL {
            for event in EVENTS {
                let got = status.apply(event).ok();
                assert_eq!(got, expected(status, event), "{status} + {event:?}");
            }
        }
    }

    #[test]
    fn every_accepted_move_is_one_glance_allows_or_an_idempotent_action() {
        for status in S::ALL {
            for event in EVENTS {
                if let Ok(next) = status.apply(event) {
                    let idempotent = next == status && matches!(event, E::Deactivate | E::Reactivate);
                    assert!(
                        idempotent || status.valid_targets().contains(&next),
                        "{status} -> {next} by {event:?} is not in valid_state_targets"
                    );
                }
            }
        }
    }

    #[test]
    fn a_refusal_names_where_the_event_leads() {
        for status in S::ALL {
            for event in EVENTS {
                if status.apply(event).is_err() {
                    let reached = S::ALL.iter().any(|s| s.apply(event) == Ok(event.intended()));
                    assert!(reached, "{event:?} never leads to {}", event.intended());
                }
            }
        }
        let refused = S::Active.apply(E::BeginUpload).unwrap_err();
        assert_eq!(refused.to_string(), "Image status transition from active to saving is not allowed");
    }

    #[test]
    fn every_glance_target_is_reachable_by_some_event() {
        for status in S::ALL {
            for target in status.valid_targets() {
                assert!(EVENTS.iter().any(|e| status.apply(*e) == Ok(*target)), "{status} -> {target} has no event");
            }
        }
    }

    #[test]
    fn deleted_is_final() {
        assert!(S::Deleted.valid_targets().is_empty());
        for event in EVENTS {
            assert_eq!(S::Deleted.apply(event), Err(InvalidTransition { from: S::Deleted, event }));
        }
    }

    #[test]
    fn status_names_round_trip() {
        for status in S::ALL {
            assert_eq!(status.as_str().parse::<ImageStatus>(), Ok(status));
        }
        assert_eq!("bogus".parse::<ImageStatus>(), Err(UnknownStatus("bogus".into())));
    }
}
