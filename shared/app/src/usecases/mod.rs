//! The use cases, as methods of [`App`]: the same calls from Lambda handlers, the local runtime
//! and tests.
//!
//! Every use case is idempotent: it checks the import's status and generation first, writes
//! outputs that are a pure function of its input (so a second run writes the same bytes), and
//! changes state with a conditional write (so only one run's change lands).

mod chunk;
mod create;
mod delivery;
mod destinations;
mod finalize;
mod manage;
mod split;
mod sync;
mod templates;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sluice_core::read::xlsx::XlsxLimits;
use sluice_core::template::Schema;

pub use create::CreateImport;
pub use delivery::DeliveryConfig;
pub use destinations::{ROTATION_GRACE, api_key_hash};
pub use manage::ImportPage;
pub use sync::SyncOutcome;
pub use templates::{DROP_ENVIRONMENT, TemplateView};

use crate::items::Items;
use crate::model::{Import, ImportId, ImportJob, Job, TenantId};
use crate::ports::{
    BlobStore, Clock, ImportRepo, ItemStore, JobQueue, NoProgress, ProgressSink, RowHashIndex, StoreError,
    StoreErrorKind, WebhookSender,
};

/// Why a use case did not complete.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such import (for this tenant).
    #[error("import {0} not found")]
    NotFound(String),
    /// The request is invalid (a template or setting), with the path of the fault.
    #[error("{0}")]
    Invalid(String),
    /// The import is not in a state that allows this.
    #[error("{0}")]
    Conflict(String),
    /// The request is well formed but cannot be honoured (an idempotency key reused).
    #[error("{0}")]
    Unprocessable(String),
    /// A bug or a corrupted work file.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// Whether running the same use case again may succeed (the queue should redeliver).
    pub fn is_retryable(&self) -> bool {
        match self {
            AppError::Store(e) => matches!(e.kind, StoreErrorKind::Transient | StoreErrorKind::Conflict),
            AppError::Internal(_) => true,
            _ => false,
        }
    }
}

/// Size limits of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes read per request while splitting.
    pub block_bytes: u64,
    /// Bytes after which a CSV chunk is cut early.
    pub max_chunk_bytes: u64,
    /// Workbook limits.
    pub xlsx: XlsxLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { block_bytes: 4 << 20, max_chunk_bytes: 32 << 20, xlsx: XlsxLimits::default() }
    }
}

/// The use cases with their ports.
#[derive(Clone)]
pub struct App {
    /// Objects.
    pub blobs: Arc<dyn BlobStore>,
    /// Import records.
    pub imports: Arc<dyn ImportRepo>,
    /// Row hashes of earlier imports.
    pub hashes: Arc<dyn RowHashIndex>,
    /// Work queue.
    pub queue: Arc<dyn JobQueue>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Live progress.
    pub progress: Arc<dyn ProgressSink>,
    /// Templates, destinations, keys, idempotency records, delivery attempts.
    pub items: Items,
    /// Webhook transport.
    pub webhooks: Arc<dyn WebhookSender>,
    /// Limits.
    pub limits: Limits,
    /// Webhook batching and retries.
    pub delivery: DeliveryConfig,
    jobs: Arc<Mutex<JobCache>>,
}

/// Loaded jobs by import and generation (chunk workers reuse them across chunks).
type JobCache = HashMap<(ImportId, u32), Arc<LoadedJob>>;

/// A job description with its compiled template.
pub(crate) struct LoadedJob {
    pub(crate) job: ImportJob,
    pub(crate) schema: Schema,
}

impl App {
    /// The use cases over these ports.
    pub fn new(
        blobs: Arc<dyn BlobStore>,
        imports: Arc<dyn ImportRepo>,
        hashes: Arc<dyn RowHashIndex>,
        queue: Arc<dyn JobQueue>,
        clock: Arc<dyn Clock>,
    ) -> App {
        App {
            blobs,
            imports,
            hashes,
            queue,
            items: Items::new(Arc::new(crate::memory::MemoryItemStore::with_clock(clock.clone()))),
            clock,
            progress: Arc::new(NoProgress),
            webhooks: Arc::new(crate::memory::RecordingWebhooks::default()),
            limits: Limits::default(),
            delivery: DeliveryConfig::default(),
            jobs: Arc::default(),
        }
    }

    /// Reports split progress to `progress`.
    pub fn with_progress(mut self, progress: Arc<dyn ProgressSink>) -> App {
        self.progress = progress;
        self
    }

    /// Keeps templates, destinations and the like in `store`.
    pub fn with_items(mut self, store: Arc<dyn ItemStore>) -> App {
        self.items = Items::new(store);
        self
    }

    /// Sends webhooks with `sender`.
    pub fn with_webhooks(mut self, sender: Arc<dyn WebhookSender>) -> App {
        self.webhooks = sender;
        self
    }

    /// Batches and retries webhooks as `config` says.
    pub fn with_delivery(mut self, config: DeliveryConfig) -> App {
        self.delivery = config;
        self
    }

    /// Uses other limits.
    pub fn with_limits(mut self, limits: Limits) -> App {
        self.limits = limits;
        self
    }

    /// Runs one queued job.
    pub async fn handle(&self, job: Job) -> Result<(), AppError> {
        let result = match &job {
            Job::Split { tenant, import, generation } => self.split_upload(tenant, import, *generation).await,
            Job::Chunk { tenant, import, generation, chunk } => {
                self.process_chunk(tenant, import, *generation, *chunk).await
            }
            Job::Finalize { tenant, import, generation } => self.finalize_import(tenant, import, *generation).await,
            Job::Deliver { tenant, import, round, batch, attempt } => {
                return self.deliver(tenant, import, *round, *batch, *attempt).await;
            }
        };
        let (Job::Split { tenant, import, generation }
        | Job::Chunk { tenant, import, generation, .. }
        | Job::Finalize { tenant, import, generation }) = &job
        else {
            return result;
        };
        if result.is_err()
            && let Ok(now) = self.get_import(tenant, import).await
            && (now.generation != *generation || now.status != sluice_core::ImportStatus::Running)
        {
            // The import was split again, or settled (by a concurrent run of the same job, or
            // by a failing chunk), while this job ran, and its work files went with that
            // generation: the failure is that, and nothing is left to do. A job that failed for
            // it would be retried and dead-lettered, raising an alarm.
            tracing::info!(
                import_id = %import,
                job = job.kind(),
                generation,
                "job dropped: the import moved on while it ran"
            );
            return Ok(());
        }
        result
    }

    /// Gives up on a job that kept failing: its import ends as `FAILED` with the reason, so no
    /// import is left running forever.
    pub async fn abandon(&self, job: &Job, reason: &str) -> Result<(), AppError> {
        let (tenant, import, generation) = match job {
            Job::Split { tenant, import, generation }
            | Job::Chunk { tenant, import, generation, .. }
            | Job::Finalize { tenant, import, generation } => (tenant, import, *generation),
            Job::Deliver { tenant, import, round, .. } => {
                // A delivery that keeps failing fails the delivery, not the import.
                let current = self.get_import(tenant, import).await?;
                return self
                    .delivery_failed(&current, *round, format!("processing stopped after repeated failures: {reason}"))
                    .await;
            }
        };
        let failure = crate::model::Failure {
            code: "processing_failed".into(),
            message: format!("processing stopped after repeated failures: {reason}"),
            file: None,
            line: None,
            column: None,
            sheet: None,
        };
        self.fail(tenant, import, generation, failure).await
    }

    /// Ends the import as `FAILED` with a file-level fault.
    pub(crate) async fn fail(
        &self,
        tenant: &TenantId,
        id: &ImportId,
        generation: u32,
        failure: crate::model::Failure,
    ) -> Result<(), AppError> {
        let now = self.clock.now();
        let (import, changed) = self
            .update_import(tenant, id, |i| {
                if i.generation != generation || !i.status.can_become(sluice_core::ImportStatus::Failed) {
                    return false;
                }
                // Name the file, whichever step failed.
                let mut failure = failure.clone();
                if failure.file.is_none() {
                    failure.file = i.original_filename.clone();
                }
                i.status = sluice_core::ImportStatus::Failed;
                i.status_reason = Some(match &failure.file {
                    Some(file) => format!("{file}: {}", failure.message),
                    None => failure.message.clone(),
                });
                i.failure = Some(failure);
                i.ended_at = Some(now);
                true
            })
            .await?;
        if changed {
            tracing::warn!(
                import_id = %id,
                code = failure.code.as_str(),
                message = import.status_reason.as_deref().unwrap_or_default(),
                "import failed"
            );
        }
        Ok(())
    }

    /// Reads an import.
    pub async fn get_import(&self, tenant: &TenantId, id: &ImportId) -> Result<Import, AppError> {
        self.imports.get(tenant, id).await?.ok_or_else(|| AppError::NotFound(id.to_string()))
    }

    /// Applies `change` to the stored import and saves it, retrying on concurrent writes.
    /// `change` returns `false` to leave the import as it is. Returns the import as stored.
    pub(crate) async fn update_import(
        &self,
        tenant: &TenantId,
        id: &ImportId,
        mut change: impl FnMut(&mut Import) -> bool,
    ) -> Result<(Import, bool), AppError> {
        for _ in 0..50 {
            let mut import = self.get_import(tenant, id).await?;
            if !change(&mut import) {
                return Ok((import, false));
            }
            import.version += 1;
            match self.imports.save(&import).await {
                Ok(()) => return Ok((import, true)),
                Err(e) if e.kind == StoreErrorKind::Conflict => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Store(StoreError::new(StoreErrorKind::Transient, format!("import {id} kept changing"))))
    }

    async fn load_job(&self, tenant: &TenantId, id: &ImportId, generation: u32) -> Result<Arc<LoadedJob>, AppError> {
        let key = (id.clone(), generation);
        if let Some(job) = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(job.clone());
        }
        let bytes = self.blobs.get(&crate::keys::job(tenant, id, generation)).await?;
        let job: ImportJob =
            serde_json::from_slice(&bytes).map_err(|e| AppError::Internal(format!("job of {id} unreadable: {e}")))?;
        let schema = Schema::compile(job.template.clone())
            .map_err(|e| AppError::Internal(format!("pinned template of {id}: {e}")))?;
        let loaded = Arc::new(LoadedJob { job, schema });
        let mut cache = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= 64 {
            cache.clear();
        }
        cache.insert(key, loaded.clone());
        Ok(loaded)
    }
}

/// Runs CPU-heavy work off the async worker threads.
///
/// On a multi-threaded runtime the work stays on the calling worker thread (`block_in_place`):
/// the runtime has one worker per core, so CPU work never oversubscribes the machine, and the
/// buffers of a chunk are allocated and freed by the same few threads instead of by whichever
/// of the blocking pool's threads is free (each of which would keep its own allocator arena
/// full of freed chunk buffers). Elsewhere (a current-thread runtime) it goes to the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, AppError> {
    if tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
        return Ok(tokio::task::block_in_place(f));
    }
    tokio::task::spawn_blocking(f).await.map_err(|e| AppError::Internal(format!("worker task failed: {e}")))
}

#[cfg(test)]
mod tests;
