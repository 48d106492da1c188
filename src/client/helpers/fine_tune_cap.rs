//! At most N fine-tune jobs running at once.
//!
//! Creates queue (first come, first served) on one lock shared by all clones
//! of a client. Under the lock, the running jobs are counted (the server's
//! list, plus the jobs this client started and has not yet seen end); a
//! create goes out only below the cap. At the cap, or when the server
//! answers 409, the gate polls the running jobs' status until one ends.

use std::collections::BTreeSet;

use http::StatusCode;
use tokio::sync::Mutex;

use crate::client::types::{FineTune, FineTuneRequest};
use crate::client::{Error, Together};

pub(crate) struct FineTuneGate {
    cap: usize,
    running: Mutex<BTreeSet<String>>,
}

impl FineTuneGate {
    pub(crate) fn new(cap: usize) -> Self {
        FineTuneGate {
            cap: cap.max(1),
            running: Mutex::new(BTreeSet::new()),
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
                        if !job.status.is_terminal() {
                            running.insert(job.id.clone());
                        }
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
    async fn refresh(&self, client: &Together, running: &mut BTreeSet<String>) {
        match client.list_fine_tunes().await {
            Ok(jobs) => {
                for job in jobs {
                    if job.status.is_terminal() {
                        running.remove(&job.id);
                    } else if !job.id.is_empty() {
                        running.insert(job.id);
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot list fine-tune jobs"),
        }
    }

    /// Polls the running jobs until at least one has ended.
    async fn wait_for_one_to_end(
        &self,
        client: &Together,
        running: &mut BTreeSet<String>,
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
            for id in running.clone() {
                match client.get_fine_tune(&id).await {
                    Ok(job) if job.status.is_terminal() => {
                        running.remove(&id);
                        ended = true;
                    }
                    Ok(_) => {}
                    Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => {
                        running.remove(&id);
                        ended = true;
                    }
                    Err(e) => return Err(e),
                }
            }
            if ended {
                return Ok(());
            }
        }
    }
}
