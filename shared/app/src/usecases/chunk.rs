//! Processing one chunk: read its bytes, validate, write its outputs, count it once.

use bytes::Bytes;
use sluice_core::ImportStatus;
use sluice_core::convert::ParseOptions;
use sluice_core::pipeline::{ChunkContext, ChunkError, process_chunk};
use sluice_core::read::ChunkSpec;
use sluice_core::read::split::SplitError;
use sluice_core::settings::Dedupe;

use super::split::csv_failure;
use super::{App, AppError, blocking};
use crate::keys;
use crate::model::{Failure, ImportId, Job, TenantId};

impl App {
    /// Validates one chunk. Its output is written as one object under the chunk's own key (a
    /// second run writes the same bytes), then the chunk is counted in one conditional
    /// transaction; the run that completes the last chunk queues finalize.
    pub async fn process_chunk(
        &self,
        tenant: &TenantId,
        id: &ImportId,
        generation: u32,
        spec: ChunkSpec,
    ) -> Result<(), AppError> {
        let import = self.get_import(tenant, id).await?;
        if import.status != ImportStatus::Running || import.generation != generation {
            tracing::info!(import_id = %id, chunk = spec.index, status = import.status.as_str(), "chunk skipped");
            return Ok(());
        }
        let started = std::time::Instant::now();
        let loaded = self.load_job(tenant, id, generation).await?;
        let bytes: Bytes = match &loaded.job.source_key {
            Some(source) => self.blobs.get_range(source, spec.start..spec.end).await?,
            None => self.blobs.get(&keys::cells(tenant, id, generation, spec.index)).await?,
        };
        let read_at = started.elapsed();
        let job = loaded.clone();
        let encoding = import.detected.encoding.clone();
        let output = blocking(move || {
            let mut opts = ParseOptions::from_settings(&job.job.settings).encoded_as(encoding.as_deref());
            opts.is_1904 = job.job.is_1904;
            let ctx = ChunkContext {
                schema: &job.schema,
                plan: &job.job.plan,
                opts,
                null_values: &job.job.settings.null_values,
                dedupe: job.job.settings.dedupe != Dedupe::Off,
                layout: &job.job.layout,
                mode: job.job.rows_mode,
            };
            process_chunk(&ctx, &spec, &bytes)
        })
        .await?;
        let output = match output {
            Ok(output) => output,
            Err(ChunkError::Csv(e)) if !import.split.exact => {
                // Quote parity put a boundary inside a quoted field, or the file is broken:
                // only reading the whole file can tell which, and where.
                let reason = format!("chunk {} could not be read as cut ({e})", spec.index);
                return self.resplit(tenant, id, generation, None, reason).await;
            }
            Err(ChunkError::Csv(e)) => {
                let mut failure = csv_failure(SplitError::Csv(e));
                failure.file = import.original_filename.clone();
                return self.fail(tenant, id, generation, failure).await;
            }
            Err(e) => {
                let failure = Failure {
                    code: "unreadable_chunk".into(),
                    message: e.to_string(),
                    file: import.original_filename.clone(),
                    line: Some(spec.first_line),
                    column: None,
                    sheet: None,
                };
                return self.fail(tenant, id, generation, failure).await;
            }
        };
        let processed_at = started.elapsed();
        let counts = output.counts;
        let parts = output.into_parts().into_iter().map(Bytes::from).collect();
        self.blobs.put_parts(&keys::chunk_output(tenant, id, generation, spec.index), parts).await?;
        let written_at = started.elapsed();
        let done = self.imports.complete_chunk(tenant, id, generation, spec.index, counts, self.clock.now()).await?;
        tracing::debug!(
            import_id = %id,
            chunk = spec.index,
            newly = done.newly_counted,
            done = done.done,
            total = done.total,
            read_ms = read_at.as_millis() as u64,
            process_ms = (processed_at - read_at).as_millis() as u64,
            write_ms = (written_at - processed_at).as_millis() as u64,
            count_ms = (started.elapsed() - written_at).as_millis() as u64,
            "chunk done"
        );
        // The call that counted the last chunk queues the finalize; so does a redelivered chunk
        // that finds all counted (the first run may have stopped before queueing). Finalize
        // itself is a conditional transition that happens once.
        let redelivered_after_all = !done.newly_counted && done.total > 0 && done.done == done.total;
        if done.last || redelivered_after_all {
            self.queue.send(vec![Job::Finalize { tenant: tenant.clone(), import: id.clone(), generation }]).await?;
        }
        Ok(())
    }
}
