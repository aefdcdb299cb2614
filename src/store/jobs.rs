//! The import queue (`wrangler.toml` `[[queues.producers]]` `IMPORTS`):
//! a message names a task; the consumer (`api::jobs`) reads everything else
//! from D1, so a message is small, carries no secret of its own, and a
//! redelivered one finds the task's current state.

use serde::{Deserialize, Serialize};

use super::StoreError;

/// One job: run the task `task_id`. `token` is the caller's Keystone token
/// for a glance-download (the remote catalog is asked on the caller's
/// behalf, as Glance does); no other job carries one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// The task to run.
    pub task_id: String,
    /// The caller's token, for glance-download only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
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
