//! The import queue (`wrangler.toml` `[[queues.producers]]` `IMPORTS`):
//! a message names a task; the consumer (`api::jobs`) reads everything else
//! from D1, so a message is small, carries no secret of its own, and a
//! redelivered one finds the task's current state.

use serde::{Deserialize, Serialize};

use super::StoreError;

/// One job: run the task `task_id`.
/// `token` is the caller's Keystone token for a glance-download (the remote
/// catalog is asked on the caller's behalf, as Glance does); no other job
/// carries one. Messages queued before pre-caching existed (a task id only)
/// still read as task jobs, and those of the pre-cache jobs queued before
/// the request's own isolate did the filling (`precache`) still read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Job {
    /// The task to run (empty for a pre-cache job).
    #[serde(default)]
    pub task_id: String,
    /// The caller's token, for glance-download only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The image a pre-cache job of an earlier version was for (never
    /// sent now: acknowledged and ignored by the consumer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precache: Option<String>,
}

/// The producer side of the import queue.
pub struct Jobs {
    queue: worker::Queue,
}

impl Jobs {
    /// Wraps the binding.
    pub fn new(queue: worker::Queue) -> Jobs {
        Jobs { queue }
    }

    /// Queues `job`.
    pub async fn send(&self, job: &Job) -> Result<(), StoreError> {
        self.queue.send(job.clone()).await.map_err(|e| StoreError::Backend(format!("queue: {e}")))
    }
}
