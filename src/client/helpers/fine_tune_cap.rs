//! At most N fine-tune jobs running at once.
//!
//! Creates queue (first come, first served) on one lock shared by all clones
//! of a client. Under the lock, the running jobs are counted (the server's
//! list, plus the jobs this client started and has not yet seen end); a
//! create goes out only below the cap. At the cap, or when the server
//! answers 409, the gate polls the running jobs' status until one ends.
//!
//! A job whose status the gate does not know (a value outside the spec's
//! list, or none at all) may never reach a status the gate calls terminal,
//! so it counts only for [`UNKNOWN_STATUS_LIMIT`] after it was first seen
//! so; past that the gate stops waiting for it.

use std::collections::BTreeMap;
use std::time::Duration;

use http::StatusCode;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::client::types::{FineTune, FineTuneRequest, FineTuneStatus};
use crate::client::{Error, Together};

/// How long a job of unknown status holds a place under the cap.
pub(crate) const UNKNOWN_STATUS_LIMIT: Duration = Duration::from_secs(30 * 60);

/// The jobs counted as running: for each, since when its status has been
/// unknown (`None` while it is a known, running status).
type Running = BTreeMap<String, Option<Instant>>;

pub(crate) struct FineTuneGate {
    cap: usize,
    running: Mutex<Running>,
}

/// Whether the gate knows what `status` means.
fn known(status: &FineTuneStatus) -> bool {
    !matches!(status, FineTuneStatus::Other(_)) || status.is_terminal()
}

/// Records what a job's status says: gone when terminal, else counted, with
/// the time its status was first unknown. Returns whether it ended.
fn observe(running: &mut Running, job: &FineTune, now: Instant) -> bool {
    if job.id.is_empty() {
        return false;
    }
    if job.status.is_terminal() {
        return running.remove(&job.id).is_some();
    }
    let since = running.entry(job.id.clone()).or_insert(None);
    if known(&job.status) {
        *since = None;
    } else if since.is_none() {
        tracing::debug!(id = %job.id, status = %job.status, "fine-tune job of unknown status");
        *since = Some(now);
    }
    false
}

/// Drops the jobs whose status has been unknown too long. Returns whether
/// any was dropped.
fn expire_unknown(running: &mut Running, now: Instant) -> bool {
    let before = running.len();
    running.retain(|id, since| {
        let keep = since.is_none_or(|at| now.saturating_duration_since(at) < UNKNOWN_STATUS_LIMIT);
        if !keep {
            tracing::warn!(%id, "fine-tune job's status unknown for too long; no longer counted");
        }
        keep
    });
    running.len() < before
}

impl FineTuneGate {
    pub(crate) fn new(cap: usize) -> Self {
        FineTuneGate {
            cap: cap.max(1),
            running: Mutex::new(BTreeMap::new()),
        }
    }

    pub(crate) async fn create(
        &self,
        client: &Together,
        request: FineTuneRequest,
    ) -> Result<FineTune, Error> {
        let mut running = self.running.lock().await;
        self.refresh(client, &mut running).await;
        loop {
            if running.len() < self.cap {
                match client.send(request.clone()).await {
                    Ok(job) => {
                        observe(&mut running, &job, Instant::now());
                        return Ok(job);
                    }
                    // The server's own cap: wait as for ours, never treat
                    // it as a job that already exists.
                    Err(e) if e.status() == Some(StatusCode::CONFLICT) => {
                        tracing::debug!("fine-tune create answered 409; waiting for a job to end");
                    }
                    Err(e) => return Err(e),
                }
            }
            self.wait_for_one_to_end(client, &mut running).await?;
        }
    }

    /// Adds the server's non-terminal jobs to `running`, and drops the ones
    /// it lists as ended. A failure to list is not fatal: the jobs this
    /// client knows of still count, and a 409 still makes it wait.
    async fn refresh(&self, client: &Together, running: &mut Running) {
        match client.list_fine_tunes().await {
            Ok(jobs) => {
                let now = Instant::now();
                for job in &jobs {
                    observe(running, job, now);
                }
                expire_unknown(running, now);
            }
            Err(e) => tracing::debug!(error = %e, "cannot list fine-tune jobs"),
        }
    }

    /// Polls the running jobs until at least one has ended.
    async fn wait_for_one_to_end(
        &self,
        client: &Together,
        running: &mut Running,
    ) -> Result<(), Error> {
        let interval = client.inner.config.poll_interval;
        loop {
            tokio::time::sleep(interval).await;
            if running.is_empty() {
                // A 409 with no job known: ask the server again, then retry.
                self.refresh(client, running).await;
                if running.len() < self.cap {
                    return Ok(());
                }
            }
            let mut ended = false;
            let ids: Vec<String> = running.keys().cloned().collect();
            for id in ids {
                match client.get_fine_tune(&id).await {
                    Ok(job) => ended |= observe(running, &job, Instant::now()),
                    Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => {
                        running.remove(&id);
                        ended = true;
                    }
                    Err(e) => return Err(e),
                }
            }
            ended |= expire_unknown(running, Instant::now());
            if ended {
                return Ok(());
            }
        }
    }
}
