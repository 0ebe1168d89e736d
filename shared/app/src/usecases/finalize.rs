//! Finalize: whole-file duplicate checks, the final status, the result files.
//!
//! Chunks already wrote their rows, `errors.jsonl` and `results.csv` parts. Finalize appends
//! them to the result files in chunk order (a server-side or kernel-side copy: their rows never
//! pass through here) and only rebuilds the parts of chunks that a whole-file duplicate touches.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use bytes::Bytes;

use sluice_core::ImportStatus;
use sluice_core::engine::finalize::{Duplicate, DuplicateOf, find_duplicates_in_runs, rows_made_invalid};
use sluice_core::engine::{KeyEntry, PackedKey, ROW_HASH_SLOT};
use sluice_core::import::{RowsKept, decide_outcome};
use sluice_core::pipeline::{
    ChunkLayout, OutputLayout, PatchedChunk, Piece, RowSpan, Section, duplicates_in, header_notes, patch_chunk,
};
use sluice_core::settings::Dedupe;

use super::{App, AppError, blocking};
use crate::keys;
use crate::model::{Delivery, DeliveryState, Import, ImportId, Results, TenantId};
use crate::ports::{BlobStore, BlobWriter, Segment};

/// How long after an import settled a delivery that has not started counts as never queued:
/// longer than a queued job waits in normal running, shorter than the queues' visibility
/// timeouts (12 minutes and more), after which a job whose run stopped comes again.
const DELIVERY_STALLED_AFTER: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

impl App {
    /// Finalizes an import whose chunks are all done. Concurrent or repeated runs write the same
    /// result files; exactly one of them moves the import to its final status.
    pub async fn finalize_import(&self, tenant: &TenantId, id: &ImportId, generation: u32) -> Result<(), AppError> {
        let import = self.get_import(tenant, id).await?;
        let Some(total) = import.chunks.total else {
            tracing::info!(import_id = %id, "finalize skipped: still splitting");
            return Ok(());
        };
        if import.status != ImportStatus::Running || import.generation != generation || import.chunks.done < total {
            tracing::info!(import_id = %id, status = import.status.as_str(), "finalize skipped");
            return self.finish_settled(&import, generation).await;
        }
        let started = std::time::Instant::now();
        let loaded = self.load_job(tenant, id, generation).await?;
        let job = &loaded.job;
        let chunks = self.load_chunks(tenant, id, generation).await?;
        let output_key = |chunk: u32| keys::chunk_output(tenant, id, generation, chunk);

        // Where each chunk output's sections lie.
        let mut layouts = Vec::with_capacity(chunks.len());
        for c in &chunks {
            let header = match self.blobs.get_range(&output_key(c.index), 0..OutputLayout::HEADER_LEN).await {
                Ok(header) => header,
                Err(e) if e.is_not_found() => {
                    // Lost, or written under other keys by an earlier version during an upgrade:
                    // the upload is processed again in a new generation. (A finalize that already
                    // settled the import and removed its files changes nothing here.)
                    let reason = format!("the output of chunk {} is missing; the upload is processed again", c.index);
                    return self.resplit(tenant, id, generation, None, reason).await;
                }
                Err(e) => return Err(e.into()),
            };
            layouts.push(OutputLayout::parse(&header).map_err(AppError::Internal)?);
        }
        // Whole-file duplicates from every chunk's keys: a sorted run per chunk, held packed
        // (24 bytes a key).
        let mut runs = Vec::with_capacity(chunks.len());
        for (c, layout) in chunks.iter().zip(&layouts) {
            let bytes = read_section(self.blobs.as_ref(), &output_key(c.index), layout, Section::Keys).await?;
            let mut run = Vec::new();
            KeyEntry::decode_packed(&bytes, &mut run).map_err(AppError::Internal)?;
            runs.push(run);
        }
        let across = job.settings.dedupe == Dedupe::AcrossImports;
        let row_hashes: Vec<KeyEntry> = if across {
            runs.iter().flatten().map(PackedKey::unpack).filter(|k| k.slot == ROW_HASH_SLOT).collect()
        } else {
            Vec::new()
        };
        let mut dups = blocking(move || find_duplicates_in_runs(runs)).await?;
        // The rows an earlier import of the same template delivered: a stored template by its
        // id; one given with the import (every such one is `inline`) by its name.
        let scope = match import.template.id.as_str() {
            "inline" => format!("{tenant}/inline:{}", import.template.name),
            template => format!("{tenant}/{template}"),
        };
        if across {
            let dup_lines: HashSet<u64> = dups.iter().filter(|d| d.slot == ROW_HASH_SLOT).map(|d| d.line).collect();
            let firsts: Vec<&KeyEntry> = row_hashes.iter().filter(|k| !dup_lines.contains(&k.line)).collect();
            let first_hashes: Vec<u128> = firsts.iter().map(|k| k.key).collect();
            let owned = self.hashes.owned_by_others(&scope, &first_hashes, id).await?;
            if !owned.is_empty() {
                let owners: HashMap<u128, ImportId> = owned.into_iter().collect();
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

        let dups_at = started.elapsed();
        // The final counts and status.
        let mut counts = import.counts;
        let made_invalid = rows_made_invalid(&dups);
        counts.valid -= made_invalid.min(counts.valid);
        counts.invalid += made_invalid;
        counts.errors += dups.len() as u64;
        let outcome = decide_outcome(&job.settings, &counts);

        // The result files, chunk by chunk in order: a chunk no duplicate touches is appended
        // from its own files; the others are rebuilt, a few at a time ahead of the writer.
        let sheet = match &job.layout {
            ChunkLayout::Cells { sheet, .. } => sheet.clone(),
            ChunkLayout::Csv { .. } => None,
        };
        let rows_key = keys::result(tenant, id, "rows.jsonl");
        let errors_key = keys::result(tenant, id, "errors.jsonl");
        let results_key = keys::result(tenant, id, "results.csv");
        let mut rows_out = self.blobs.writer(&rows_key).await?;
        let mut errors_out = self.blobs.writer(&errors_key).await?;
        let mut results_out = self.blobs.writer(&results_key).await?;
        results_out
            .write(header_notes(job.header_line, &job.skipped_lines, &job.totals_rows, sheet.as_deref()).into())
            .await?;
        let keep = outcome.rows;
        let touched: Vec<(usize, Vec<Duplicate>)> = chunks
            .iter()
            .enumerate()
            .map(|(i, c)| (i, duplicates_in(&dups, c.first_line, chunks.get(i + 1).map(|n| n.first_line)).to_vec()))
            .filter(|(_, d)| !d.is_empty())
            .collect();
        let window = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) + 1;
        // The rows file is written by one task and the two message files by another, side by
        // side: for a file of invalid rows they are as large as the rows.
        let (rows_tx, mut rows_rx) = tokio::sync::mpsc::channel::<(String, Vec<Segment>)>(window);
        let (side_tx, mut side_rx) = tokio::sync::mpsc::channel::<SidePart>(window);
        let lost = || AppError::Internal("a result file's writer stopped".into());
        let plan = async move {
            let mut ahead = std::collections::VecDeque::new();
            let mut pending = touched.into_iter();
            for (i, c) in chunks.iter().enumerate() {
                while ahead.len() < window
                    && let Some((j, mine)) = pending.next()
                {
                    let (spec, layout) = (chunks[j], layouts[j].clone());
                    let patch = self.spawn_patch(loaded.clone(), output_key(spec.index), layout, keep, mine);
                    ahead.push_back((j, patch));
                }
                let key = output_key(c.index);
                let layout = &layouts[i];
                if ahead.front().is_some_and(|(j, _)| *j == i) {
                    let (_, task) = ahead.pop_front().expect("checked above");
                    let patched = task.await.map_err(|e| AppError::Internal(format!("patch task failed: {e}")))??;
                    let rows_at = layout.range(Section::Rows).start;
                    let segments = patched
                        .pieces
                        .into_iter()
                        .filter_map(|piece| match piece {
                            Piece::Copy(range) if range.is_empty() => None,
                            Piece::Copy(range) => Some(Segment::Range(rows_at + range.start..rows_at + range.end)),
                            Piece::Text(text) => Some(Segment::Bytes(text.into())),
                        })
                        .collect();
                    rows_tx.send((key, segments)).await.map_err(|_| lost())?;
                    side_tx
                        .send(SidePart::Text(patched.errors.into(), patched.results.into()))
                        .await
                        .map_err(|_| lost())?;
                } else {
                    let rows = layout.range(Section::Rows);
                    if keep != RowsKept::None && !rows.is_empty() {
                        rows_tx.send((key.clone(), vec![Segment::Range(rows)])).await.map_err(|_| lost())?;
                    }
                    side_tx.send(SidePart::Sections(key, layout.clone())).await.map_err(|_| lost())?;
                }
            }
            Ok::<_, AppError>(())
        };
        let rows = async move {
            while let Some((key, segments)) = rows_rx.recv().await {
                rows_out.append_segments(&key, segments).await?;
            }
            rows_out.finish().await?;
            Ok::<_, AppError>(())
        };
        let side = async move {
            while let Some(part) = side_rx.recv().await {
                match part {
                    SidePart::Text(errors, results) => {
                        errors_out.write(errors).await?;
                        results_out.write(results).await?;
                    }
                    SidePart::Sections(key, layout) => {
                        append_section(errors_out.as_mut(), &key, &layout, Section::Errors).await?;
                        append_section(results_out.as_mut(), &key, &layout, Section::Results).await?;
                    }
                }
            }
            errors_out.finish().await?;
            results_out.finish().await?;
            Ok::<_, AppError>(())
        };
        tokio::try_join!(plan, rows, side)?;
        tracing::debug!(
            import_id = %id,
            duplicates = dups.len(),
            dups_ms = dups_at.as_millis() as u64,
            results_ms = (started.elapsed() - dups_at).as_millis() as u64,
            "results written"
        );

        if across && outcome.deliver && outcome.status == ImportStatus::Successful {
            let dup_lines: HashSet<u64> = dups.iter().map(|d| d.line).collect();
            let delivered: Vec<u128> =
                row_hashes.iter().filter(|k| !dup_lines.contains(&k.line)).map(|k| k.key).collect();
            self.hashes.register(&scope, &delivered, id).await?;
        }

        let now = self.clock.now();
        let row_count = match outcome.rows {
            RowsKept::None => 0,
            RowsKept::Valid => counts.valid,
            RowsKept::All => counts.rows,
        };
        let results = Results { rows_kept: outcome.rows, row_count, rows_key, errors_key, results_key };
        let (settled, changed) = self
            .update_import(tenant, id, |i| {
                if i.status != ImportStatus::Running || i.generation != generation {
                    return false;
                }
                i.status = outcome.status;
                i.status_reason = outcome.reason.clone();
                i.counts = counts;
                i.records.get_or_insert(counts.rows + counts.skipped);
                i.results = Some(results.clone());
                i.ended_at = Some(now);
                i.last_heartbeat_at = Some(now);
                if outcome.deliver && outcome.status == ImportStatus::Successful && i.destination.is_some() {
                    i.delivery = Some(Delivery {
                        state: DeliveryState::Pending,
                        round: 1,
                        batch_count: 0,
                        batches_sent: 0,
                        error: None,
                    });
                }
                true
            })
            .await?;
        if changed {
            // Queued once the import is final. After a crash between the two, the finalize job
            // comes again and `finish_settled` queues it.
            self.start_delivery(&settled).await?;
            tracing::info!(
                import_id = %id,
                status = outcome.status.as_str(),
                rows = counts.rows,
                valid = counts.valid,
                invalid = counts.invalid,
                "import finalized"
            );
            // The work files of every generation are no longer needed.
            for g in 1..=generation {
                let _ = self.blobs.delete_prefix(&keys::generation(tenant, id, g)).await;
            }
        }
        Ok(())
    }

    /// A finalize job that comes again after its import settled. Most are duplicates (a
    /// redelivered chunk queues finalize again) and change nothing. One that comes long after
    /// (the queue hands a job out again when the run that took it stopped before acknowledging
    /// it) finds a delivery that never started if that run stopped between settling the import
    /// and queueing the delivery, and queues it.
    async fn finish_settled(&self, import: &Import, generation: u32) -> Result<(), AppError> {
        if import.generation != generation || import.status != ImportStatus::Successful {
            return Ok(());
        }
        let (tenant, id) = (&import.tenant, &import.id);
        let now = self.clock.now();
        let stalled = import.ended_at.is_some_and(|t| now.duration_since(t) >= DELIVERY_STALLED_AFTER);
        let unstarted = import
            .delivery
            .as_ref()
            .is_some_and(|d| d.state == DeliveryState::Pending && d.round == 1 && d.batches_sent == 0);
        if stalled && unstarted && self.items.attempts(tenant, id).await?.is_empty() {
            tracing::info!(import_id = %id, "delivery queued again after a finalize that stopped early");
            self.start_delivery(import).await?;
        }
        for g in 1..=generation {
            let _ = self.blobs.delete_prefix(&keys::generation(tenant, id, g)).await;
        }
        Ok(())
    }

    /// Rebuilds a chunk's parts for its duplicates: reads only its row index, messages and the
    /// duplicate rows themselves.
    fn spawn_patch(
        &self,
        loaded: std::sync::Arc<super::LoadedJob>,
        key: String,
        layout: OutputLayout,
        keep: RowsKept,
        dups: Vec<Duplicate>,
    ) -> tokio::task::JoinHandle<Result<PatchedChunk, AppError>> {
        let blobs = self.blobs.clone();
        tokio::spawn(async move {
            let blobs = blobs.as_ref();
            let (rows_idx, invalid_idx, messages) = tokio::try_join!(
                read_section(blobs, &key, &layout, Section::RowsIndex),
                read_section(blobs, &key, &layout, Section::InvalidIndex),
                read_section(blobs, &key, &layout, Section::Messages),
            )?;
            let (rows, invalid) = (layout.range(Section::Rows), layout.range(Section::Invalid));
            let rows_len = layout.len(Section::Rows);
            let rows_index = RowSpan::read_index(&rows_idx, rows_len);
            let invalid_index = RowSpan::read_index(&invalid_idx, layout.len(Section::Invalid));
            // The duplicate rows' own text, read in one request per section.
            let mut texts: HashMap<u64, String> = HashMap::new();
            for (section, index) in [(&rows, &rows_index), (&invalid, &invalid_index)] {
                let mut lines: Vec<u64> = dups.iter().map(|d| d.line).collect();
                lines.dedup();
                let spans: Vec<RowSpan> = lines
                    .into_iter()
                    .filter(|l| !texts.contains_key(l))
                    .filter_map(|l| RowSpan::find(index, l))
                    .collect();
                if spans.is_empty() {
                    continue;
                }
                let ranges: Vec<_> = spans.iter().map(|s| section.start + s.start..section.start + s.end).collect();
                for (span, bytes) in spans.iter().zip(read_ranges(blobs, &key, &ranges).await?) {
                    texts.insert(span.line, String::from_utf8_lossy(&bytes).into_owned());
                }
            }
            blocking(move || {
                let messages = String::from_utf8_lossy(&messages);
                let sheet = match &loaded.job.layout {
                    ChunkLayout::Cells { sheet, .. } => sheet.as_deref(),
                    ChunkLayout::Csv { .. } => None,
                };
                patch_chunk(
                    &loaded.schema,
                    &loaded.job.plan,
                    sheet,
                    keep,
                    &rows_index,
                    rows_len,
                    |line| texts.get(&line).map(String::as_str),
                    &messages,
                    &dups,
                )
            })
            .await
        })
    }
}

/// A chunk's share of `errors.jsonl` and `results.csv`: rebuilt, or its stored sections.
enum SidePart {
    Text(Bytes, Bytes),
    Sections(String, OutputLayout),
}

/// Reads one section of a chunk output (nothing for an empty one: a store cannot read an empty
/// range).
async fn read_section(
    blobs: &dyn BlobStore,
    key: &str,
    layout: &OutputLayout,
    section: Section,
) -> Result<Bytes, AppError> {
    let range = layout.range(section);
    if range.is_empty() {
        return Ok(Bytes::new());
    }
    Ok(blobs.get_range(key, range).await?)
}

/// Reads `ranges` of `key` in few requests: ranges at most [`READ_GAP`] apart are read as one
/// (up to [`READ_SPAN`] bytes) and cut apart here. A chunk whose every row repeats an id has
/// 20,000 duplicate rows to read, each a few hundred bytes after the last: one request each made
/// 20,000 reads of a file, or 20,000 GETs of an S3 object, per chunk.
async fn read_ranges(blobs: &dyn BlobStore, key: &str, ranges: &[Range<u64>]) -> Result<Vec<Bytes>, AppError> {
    // Each read: its range, and how many of `ranges` it holds.
    let mut reads: Vec<(Range<u64>, usize)> = Vec::new();
    for range in ranges {
        match reads.last_mut() {
            Some((read, count))
                if range.start >= read.end
                    && range.start - read.end <= READ_GAP
                    && range.end - read.start <= READ_SPAN =>
            {
                read.end = range.end;
                *count += 1;
            }
            _ => reads.push((range.clone(), 1)),
        }
    }
    let spans: Vec<Range<u64>> = reads.iter().map(|(read, _)| read.clone()).collect();
    let read = blobs.get_ranges(key, &spans).await?;
    let mut out = Vec::with_capacity(ranges.len());
    let mut wanted = ranges.iter();
    for ((span, count), bytes) in reads.iter().zip(read) {
        for range in wanted.by_ref().take(*count) {
            let (start, end) = ((range.start - span.start) as usize, (range.end - span.start) as usize);
            if start > end || end > bytes.len() {
                return Err(AppError::Internal(format!("{key}: bytes {range:?} are not within it")));
            }
            out.push(bytes.slice(start..end));
        }
    }
    Ok(out)
}

/// Ranges at most this far apart are read in one request by [`read_ranges`].
const READ_GAP: u64 = 64 << 10;
/// The most one request of [`read_ranges`] reads.
const READ_SPAN: u64 = 8 << 20;

/// Appends one section of a chunk output to a result file.
async fn append_section(
    out: &mut dyn BlobWriter,
    key: &str,
    layout: &OutputLayout,
    section: Section,
) -> Result<(), AppError> {
    let range = layout.range(section);
    if !range.is_empty() {
        out.append_segments(key, vec![Segment::Range(range)]).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryBlobStore;

    #[tokio::test]
    async fn ranges_are_read_together_and_cut_apart_as_asked() {
        let blobs = MemoryBlobStore::default();
        let body: Vec<u8> = (0..(READ_SPAN as usize + (1 << 20))).map(|i| (i % 251) as u8).collect();
        blobs.put("k", Bytes::from(body.clone())).await.unwrap();
        let far = READ_GAP + 10;
        let ranges = vec![
            0..5,
            5..9,                                   // adjacent
            100..200,                               // a small gap
            200 + far..300 + far,                   // too far: a read of its own
            READ_SPAN - 10..READ_SPAN + 20,         // past the span of that read: another
            READ_SPAN + 20..READ_SPAN + 20,         // empty
            READ_SPAN + 100..READ_SPAN + (1 << 20), // to the end
        ];
        let got = read_ranges(&blobs, "k", &ranges).await.unwrap();
        assert_eq!(got.len(), ranges.len());
        for (range, bytes) in ranges.iter().zip(&got) {
            assert_eq!(bytes.as_ref(), &body[range.start as usize..range.end as usize], "{range:?}");
        }
        let past = read_ranges(&blobs, "k", &[0..5, 10..body.len() as u64 + 5]).await;
        assert!(past.is_err(), "{past:?}");
    }
}
