//! The use cases over the embedded adapters, with workers draining the queue.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sluice_app::ports::{JobQueue, ProgressSink, SystemClock};
use sluice_app::{App, Job};
use tokio::task::JoinHandle;

use crate::{FsBlobStore, LocalQueue, RedbStore};

/// Sluice on this machine.
#[derive(Clone)]
pub struct LocalRuntime {
    /// The use cases.
    pub app: App,
    /// The queue the workers drain.
    pub queue: Arc<LocalQueue>,
    /// Files.
    pub blobs: Arc<FsBlobStore>,
    /// The database.
    pub store: RedbStore,
    data_dir: PathBuf,
}

impl LocalRuntime {
    /// Opens the data directory (`blobs/` and `sluice.redb` inside). `durable` makes every
    /// database commit reach the disk before it returns.
    pub fn open(data_dir: &Path, durable: bool) -> anyhow::Result<LocalRuntime> {
        std::fs::create_dir_all(data_dir)?;
        let blobs = Arc::new(FsBlobStore::open(data_dir.join("blobs"))?);
        let store = RedbStore::open(&data_dir.join("sluice.redb"), durable)?;
        let queue = Arc::new(LocalQueue::new(Duration::from_secs(120), 5));
        let app = App::new(
            blobs.clone(),
            Arc::new(store.clone()),
            Arc::new(store.clone()),
            queue.clone(),
            Arc::new(SystemClock),
        )
        .with_items(Arc::new(store.clone()));
        Ok(LocalRuntime { app, queue, blobs, store, data_dir: data_dir.to_path_buf() })
    }

    /// Reports split progress to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn ProgressSink>) -> LocalRuntime {
        self.app = self.app.with_progress(progress);
        self
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Queues again the work of imports a previous process left unfinished (the queue lives in
    /// memory; the records say what was under way). Every job is safe to run twice.
    pub async fn resume(&self) -> anyhow::Result<usize> {
        let mut jobs = Vec::new();
        for import in self.store.unfinished().await? {
            let (tenant, id) = (import.tenant.clone(), import.id.clone());
            if import.status == sluice_core::ImportStatus::Running {
                jobs.push(Job::Split { tenant, import: id, generation: import.generation });
            } else if let Some(d) = &import.delivery {
                jobs.push(Job::Deliver { tenant, import: id, round: d.round, batch: d.batches_sent, attempt: 1 });
            }
        }
        let n = jobs.len();
        if n > 0 {
            tracing::info!(imports = n, "resuming unfinished imports");
            self.queue.send(jobs).await?;
        }
        Ok(n)
    }

    /// Starts `n` workers (one per core is right: chunk work is CPU-bound).
    pub fn spawn_workers(&self, n: usize) -> Vec<JoinHandle<()>> {
        (0..n.max(1)).map(|_| tokio::spawn(work(self.app.clone(), self.queue.clone()))).collect()
    }
}

/// Delay before retry `attempt` (1-based): 1 s, 2 s, 4 s ... up to a minute.
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}

async fn work(app: App, queue: Arc<LocalQueue>) {
    while let Some(delivery) = queue.receive().await {
        let runner = app.clone();
        let job = delivery.job.clone();
        // A panic in a use case ends this task only; the worker reports it and carries on.
        let outcome = tokio::spawn(async move { runner.handle(job).await }).await;
        let failure = match outcome {
            Ok(Ok(())) => {
                queue.ack(delivery.id);
                continue;
            }
            Ok(Err(e)) if e.is_retryable() => (e.to_string(), true),
            Ok(Err(e)) => (e.to_string(), false),
            Err(panic) => (format!("worker panicked: {panic}"), true),
        };
        let (reason, retryable) = failure;
        tracing::warn!(import_id = %delivery.job.import(), attempt = delivery.attempt, retryable, reason = reason.as_str(), "job failed");
        let dead = if retryable {
            !queue.retry(delivery.id, backoff(delivery.attempt), &reason)
        } else {
            queue.dead_letter(delivery.id, &reason);
            true
        };
        if dead {
            give_up(&app, &delivery.job, &reason).await;
        }
    }
}

async fn give_up(app: &App, job: &Job, reason: &str) {
    tracing::error!(import_id = %job.import(), reason, "job dead-lettered");
    if let Err(e) = app.abandon(job, reason).await {
        tracing::error!(import_id = %job.import(), error = %e, "could not mark the import failed");
    }
}
