//! The task status machine (`glance/domain/__init__.py` `Task`): pending ->
//! processing -> success | failure, and pending -> failure. A status change
//! is a [`TaskTransition`], made only by [`TaskStatus::transition`]; the
//! store writes a task's status only from one, as a compare-and-set on its
//! `from` status, so a redelivered message can never run a finished task
//! and two consumers can never both start one.

use std::fmt;

/// The status of an asynchronous task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// Created, not started.
    Pending,
    /// Running.
    Processing,
    /// Finished successfully.
    Success,
    /// Finished with an error.
    Failure,
}

/// What can happen to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskEvent {
    /// The worker picks the task up.
    Begin,
    /// The work completed.
    Succeed,
    /// The work failed (also allowed before it began).
    Fail,
}

/// A task transition the machine refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Task status transition from {from} by {event:?} is not allowed")]
pub struct InvalidTaskTransition {
    /// The status the task was in.
    pub from: TaskStatus,
    /// What was attempted.
    pub event: TaskEvent,
}

/// A status change the machine accepted. Only [`TaskStatus::transition`]
/// makes one, and it is the only thing the store writes a status from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskTransition {
    from: TaskStatus,
    to: TaskStatus,
}

impl TaskTransition {
    /// The status the stored task must still be in.
    pub fn from(self) -> TaskStatus {
        self.from
    }

    /// The status written.
    pub fn to(self) -> TaskStatus {
        self.to
    }
}

impl TaskStatus {
    /// Every task status.
    pub const ALL: [TaskStatus; 4] =
        [TaskStatus::Pending, TaskStatus::Processing, TaskStatus::Success, TaskStatus::Failure];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Processing => "processing",
            TaskStatus::Success => "success",
            TaskStatus::Failure => "failure",
        }
    }

    /// The status with this wire name.
    pub fn parse(raw: &str) -> Option<TaskStatus> {
        TaskStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Whether the task has finished (success or failure: final).
    pub fn is_final(self) -> bool {
        matches!(self, TaskStatus::Success | TaskStatus::Failure)
    }

    /// The status after `event`: pending -> processing | failure,
    /// processing -> success | failure; success and failure are final.
    pub fn apply(self, event: TaskEvent) -> Result<TaskStatus, InvalidTaskTransition> {
        use TaskEvent as E;
        use TaskStatus as S;
        let next = match (self, event) {
            (S::Pending, E::Begin) => Some(S::Processing),
            (S::Pending | S::Processing, E::Fail) => Some(S::Failure),
            (S::Processing, E::Succeed) => Some(S::Success),
            (S::Pending, E::Succeed)
            | (S::Processing, E::Begin)
            | (S::Success | S::Failure, E::Begin | E::Succeed | E::Fail) => None,
        };
        next.ok_or(InvalidTaskTransition { from: self, event })
    }

    /// [`TaskStatus::apply`], as a [`TaskTransition`] the store can write.
    pub fn transition(self, event: TaskEvent) -> Result<TaskTransition, InvalidTaskTransition> {
        self.apply(event).map(|to| TaskTransition { from: self, to })
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_status_event_pair() {
        use TaskEvent as TE;
        use TaskStatus as TS;
        let table = [
            (TS::Pending, TE::Begin, Some(TS::Processing)),
            (TS::Pending, TE::Succeed, None),
            (TS::Pending, TE::Fail, Some(TS::Failure)),
            (TS::Processing, TE::Begin, None),
            (TS::Processing, TE::Succeed, Some(TS::Success)),
            (TS::Processing, TE::Fail, Some(TS::Failure)),
            (TS::Success, TE::Begin, None),
            (TS::Success, TE::Succeed, None),
            (TS::Success, TE::Fail, None),
            (TS::Failure, TE::Begin, None),
            (TS::Failure, TE::Succeed, None),
            (TS::Failure, TE::Fail, None),
        ];
        assert_eq!(table.len(), TS::ALL.len() * 3);
        for (status, event, want) in table {
            assert_eq!(status.apply(event).ok(), want, "{status:?} + {event:?}");
            let transition = status.transition(event).ok();
            assert_eq!(transition.map(|t| (t.from(), t.to())), want.map(|to| (status, to)));
        }
        assert_eq!(TS::ALL.map(|s| s.as_str()), ["pending", "processing", "success", "failure"]);
    }

    #[test]
    fn names_round_trip_and_only_success_and_failure_are_final() {
        for status in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(status.as_str()), Some(status));
            let has_a_way_out =
                [TaskEvent::Begin, TaskEvent::Succeed, TaskEvent::Fail].iter().any(|e| status.apply(*e).is_ok());
            assert_eq!(status.is_final(), !has_a_way_out, "{status}");
        }
        assert_eq!(TaskStatus::parse("done"), None);
    }
}
