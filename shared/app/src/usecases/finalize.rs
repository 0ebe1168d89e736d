//! Finalize: whole-file duplicate checks, the final status, the result files.

use std::collections::HashSet;

use bytes::Bytes;
use sluice_core::ImportStatus;
use sluice_core::engine::finalize::{Duplicate, DuplicateOf, find_duplicates, rows_made_invalid};
use sluice_core::engine::{KeyEntry, ROW_HASH_SLOT};
use sluice_core::import::decide_outcome;
use sluice_core::pipeline::{ChunkLayout, assemble_chunk, duplicates_in, header_notes};
use sluice_core::settings::Dedupe;

use super::{App, AppError, blocking};
use crate::keys;
use crate::model::{ImportId, Results, TenantId};

impl App {
    /// Finalizes an import whose chunks are all done. Concurrent or repeated runs write the same
    /// result files; exactly one of them moves the import to its final status.
    pub async fn finalize_import(&self, tenant: &TenantId, id: &ImportId, generation: u32) -> Result<(), AppError> {
        let import = self.get_import(tenant, id).await?;
        let total = import.chunks.total.unwrap_or(0);
        if import.status != ImportStatus::Running || import.generation != generation || import.chunks.done < total {
            tracing::info!(import_id = %id, status = import.status.as_str(), "finalize skipped");
            return Ok(());
        }
        let loaded = self.load_job(tenant, id, generation).await?;
        let job = &loaded.job;
        let chunk_key = |chunk: u32, file: &str| keys::chunk_output(tenant, id, generation, chunk, file);

        // Whole-file duplicates from every chunk's keys.
        let mut all_keys = Vec::new();
        for c in &job.chunks {
            let bytes = self.blobs.get(&chunk_key(c.index, "keys.bin")).await?;
            KeyEntry::decode_all(&bytes, &mut all_keys).map_err(AppError::Internal)?;
        }
        let row_hashes: Vec<KeyEntry> = all_keys.iter().filter(|k| k.slot == ROW_HASH_SLOT).copied().collect();
        let mut dups = blocking(move || find_duplicates(all_keys)).await?;
        let scope = format!("{}/{}", tenant, import.template.id);
        let across = job.settings.dedupe == Dedupe::AcrossImports;
        if across {
            let dup_lines: HashSet<u64> = dups.iter().filter(|d| d.slot == ROW_HASH_SLOT).map(|d| d.line).collect();
            let firsts: Vec<&KeyEntry> = row_hashes.iter().filter(|k| !dup_lines.contains(&k.line)).collect();
            let first_hashes: Vec<u128> = firsts.iter().map(|k| k.key).collect();
            let owned = self.hashes.owned_by_others(&scope, &first_hashes, id).await?;
            if !owned.is_empty() {
                let owners: std::collections::HashMap<u128, ImportId> = owned.into_iter().collect();
                for k in firsts {
                    if let Some(owner) = owners.get(&k.key) {
                        dups.push(Duplicate {
                            line: k.line,
                            slot: ROW_HASH_SLOT,
                            of: DuplicateOf::Import(owner.to_string()),
                            row_valid: k.valid,
                        });
                    }
                }
                dups.sort_by_key(|d| (d.line, d.slot));
            }
        }

        // The final counts and status.
        let mut counts = import.counts;
        let made_invalid = rows_made_invalid(&dups);
        counts.valid -= made_invalid.min(counts.valid);
        counts.invalid += made_invalid;
        counts.errors += dups.len() as u64;
        let outcome = decide_outcome(&job.settings, &counts);

        // The result files, one chunk at a time.
        let rows_key = keys::result(tenant, id, "rows.jsonl");
        let errors_key = keys::result(tenant, id, "errors.jsonl");
        let results_key = keys::result(tenant, id, "results.csv");
        let mut rows_out = self.blobs.writer(&rows_key).await?;
        let mut errors_out = self.blobs.writer(&errors_key).await?;
        let mut results_out = self.blobs.writer(&results_key).await?;
        let sheet = match &job.layout {
            ChunkLayout::Cells { sheet, .. } => sheet.clone(),
            ChunkLayout::Csv { .. } => None,
        };
        results_out.write(header_notes(job.header_line, &job.skipped_lines, sheet.as_deref()).into()).await?;
        let mut row_count = 0u64;
        for (i, c) in job.chunks.iter().enumerate() {
            let (valid_key, invalid_key, messages_key) = (
                chunk_key(c.index, "valid.jsonl"),
                chunk_key(c.index, "invalid.jsonl"),
                chunk_key(c.index, "messages.jsonl"),
            );
            let (valid, invalid, messages) = tokio::try_join!(
                self.blobs.get(&valid_key),
                self.blobs.get(&invalid_key),
                self.blobs.get(&messages_key)
            )?;
            let next = job.chunks.get(i + 1).map(|n| n.first_line);
            let chunk_dups = duplicates_in(&dups, c.first_line, next).to_vec();
            let assembled = {
                let loaded = loaded.clone();
                let keep = outcome.rows;
                blocking(move || {
                    let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
                    assemble_chunk(
                        &loaded.schema,
                        &loaded.job.plan,
                        keep,
                        &text(&valid),
                        &text(&invalid),
                        &text(&messages),
                        &chunk_dups,
                    )
                })
                .await?
            };
            row_count += assembled.rows.bytes().filter(|b| *b == b'\n').count() as u64;
            rows_out.write(assembled.rows.into()).await?;
            errors_out.write(assembled.errors.into()).await?;
            results_out.write(assembled.results.into()).await?;
        }
        rows_out.finish().await?;
        errors_out.finish().await?;
        results_out.finish().await?;

        if across && outcome.deliver && outcome.status == ImportStatus::Successful {
            let dup_lines: HashSet<u64> = dups.iter().map(|d| d.line).collect();
            let delivered: Vec<u128> =
                row_hashes.iter().filter(|k| !dup_lines.contains(&k.line)).map(|k| k.key).collect();
            self.hashes.register(&scope, &delivered, id).await?;
        }

        let now = self.clock.now();
        let results = Results { rows_kept: outcome.rows, row_count, rows_key, errors_key, results_key };
        let (_, changed) = self
            .update_import(tenant, id, |i| {
                if i.status != ImportStatus::Running || i.generation != generation {
                    return false;
                }
                i.status = outcome.status;
                i.status_reason = outcome.reason.clone();
                i.counts = counts;
                i.results = Some(results.clone());
                i.ended_at = Some(now);
                i.last_heartbeat_at = Some(now);
                true
            })
            .await?;
        if changed {
            tracing::info!(
                import_id = %id,
                status = outcome.status.as_str(),
                rows = counts.rows,
                valid = counts.valid,
                invalid = counts.invalid,
                "import finalized"
            );
        }
        Ok(())
    }
}
