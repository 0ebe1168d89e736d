//! Splitting an accepted upload: sniff, decode, find the header, map columns, cut chunks.

use std::cell::RefCell;

use bytes::Bytes;
use encoding_rs::Encoding;
use sluice_core::ImportStatus;
use sluice_core::mapping::{ColumnPlan, map_columns};
use sluice_core::pipeline::ChunkLayout;
use sluice_core::read::ChunkSpec;
use sluice_core::read::cells::{CellsPlan, CellsSplitter};
use sluice_core::read::csv::{CsvError, CsvOptions};
use sluice_core::read::encoding::{Transcoder, encoding_for_label, guess_legacy, sniff_bom, sniff_utf16};
use sluice_core::read::json::{JsonInputError, read_json};
use sluice_core::read::sniff::{Format, detect_delimiter, detect_format};
use sluice_core::read::split::{CsvPlan, CsvSplitter, HeaderInfo, SplitError, SplitOptions};
use sluice_core::read::xlsx::{self, ReadError, XlsxError};
use sluice_core::template::{Schema, TemplateSpec};

use super::{App, AppError, blocking};
use crate::keys;
use crate::model::{Failure, Import, ImportId, ImportJob, Job, TenantId};
use crate::ports::StoreError;

/// What splitting produced, before mapping.
struct Split {
    header: HeaderInfo,
    chunks: Vec<ChunkSpec>,
    records: u64,
    layout: ChunkLayout,
    source_key: Option<String>,
    is_1904: bool,
    format: Format,
    encoding: Option<String>,
    encoding_detected: bool,
    delimiter: Option<u8>,
    sheet: Option<String>,
    invalid_sequences: u64,
}

/// A file-level fault or a store failure.
enum SplitFault {
    File(Failure),
    App(AppError),
}

impl From<AppError> for SplitFault {
    fn from(e: AppError) -> Self {
        SplitFault::App(e)
    }
}

impl From<StoreError> for SplitFault {
    fn from(e: StoreError) -> Self {
        SplitFault::App(e.into())
    }
}

fn failure(code: &str, message: String, line: Option<u64>, column: Option<u32>, sheet: Option<String>) -> SplitFault {
    SplitFault::File(Failure { code: code.into(), message, file: None, line, column, sheet })
}

fn csv_failure(e: SplitError) -> SplitFault {
    let message = e.to_string();
    match e {
        SplitError::Empty => failure("empty_file", message, None, None, None),
        SplitError::NoHeader { .. } => failure("no_header", message, None, None, None),
        SplitError::Csv(c) => {
            let (code, column) = match &c {
                CsvError::UnterminatedQuote { column, .. } => ("unterminated_quote", Some(*column)),
                CsvError::FieldTooLarge { column, .. } => ("field_too_large", Some(*column)),
                CsvError::RecordTooLarge { .. } => ("record_too_large", None),
                CsvError::TooManyColumns { .. } => ("too_many_columns", None),
            };
            failure(code, message, Some(c.line()), column, None)
        }
    }
}

fn xlsx_failure(e: XlsxError) -> SplitFault {
    let code = match &e {
        XlsxError::NotAWorkbook(_) => "not_a_workbook",
        XlsxError::TooManyEntries { .. } | XlsxError::TooLarge { .. } | XlsxError::SuspiciousRatio { .. } => "zip_bomb",
        XlsxError::DeclaredTooWide { .. } | XlsxError::TooManyColumns { .. } => "too_many_columns",
        XlsxError::SheetNotFound { .. } => "sheet_not_found",
        XlsxError::NoWorksheets => "no_worksheets",
        XlsxError::Read { .. } => "unreadable_sheet",
    };
    let sheet = match &e {
        XlsxError::TooManyColumns { sheet, .. } | XlsxError::Read { sheet, .. } => Some(sheet.clone()),
        _ => None,
    };
    failure(code, e.to_string(), None, None, sheet)
}

impl App {
    /// Splits an accepted upload into chunks and queues them. Running it again for the same
    /// generation re-queues the planned chunks without planning again.
    pub async fn split_upload(&self, tenant: &TenantId, id: &ImportId, generation: u32) -> Result<(), AppError> {
        let import = self.get_import(tenant, id).await?;
        if import.status != ImportStatus::Running || import.generation != generation {
            tracing::info!(import_id = %id, status = import.status.as_str(), "split skipped: import not running in this generation");
            return Ok(());
        }
        if import.chunks.total.is_some() {
            return self.queue_chunks(&import).await;
        }
        let spec: TemplateSpec = serde_json::from_slice(&self.blobs.get(&keys::template(tenant, id)).await?)
            .map_err(|e| AppError::Internal(format!("template snapshot of {id}: {e}")))?;
        let schema = Schema::compile(spec.clone()).map_err(|e| AppError::Internal(format!("template of {id}: {e}")))?;
        let split = match self.split(&import).await {
            Ok(split) => split,
            Err(SplitFault::File(mut f)) => {
                f.file = import.original_filename.clone();
                return self.fail(tenant, id, generation, f).await;
            }
            Err(SplitFault::App(e)) => return Err(e),
        };
        let settings = &import.settings;
        let outcome = map_columns(&schema, &split.header.names, &settings.mapping);
        let plan = ColumnPlan::new(&schema, &outcome.columns, settings.pass_through_unmapped);
        let job = ImportJob {
            template: spec,
            settings: settings.clone(),
            plan,
            layout: split.layout.clone(),
            source_key: split.source_key.clone(),
            chunks: split.chunks.clone(),
            is_1904: split.is_1904,
            header_line: split.header.line,
            skipped_lines: split.header.skipped_lines.clone(),
        };
        let job_bytes = serde_json::to_vec(&job).map_err(|e| AppError::Internal(e.to_string()))?;
        self.blobs.put(&keys::job(tenant, id, generation), job_bytes.into()).await?;
        let needs_review = !outcome.problems.is_empty();
        let now = self.clock.now();
        let (import, changed) = self
            .update_import(tenant, id, |i| {
                if i.status != ImportStatus::Running || i.generation != generation || i.chunks.total.is_some() {
                    return false;
                }
                i.detected.format = Some(split.format);
                i.detected.encoding = split.encoding.clone();
                i.detected.encoding_detected = split.encoding_detected;
                i.detected.delimiter =
                    split.delimiter.map(|d| if d == b'\t' { "\\t".to_string() } else { (d as char).to_string() });
                i.detected.sheet = split.sheet.clone();
                i.detected.header_line = Some(split.header.line);
                i.detected.headers = split.header.names.clone();
                i.detected.invalid_byte_sequences = split.invalid_sequences;
                i.mapping = outcome.columns.clone();
                i.mapping_problems = outcome.problems.clone();
                i.records = Some(split.records);
                i.chunks.total = Some(split.chunks.len() as u32);
                i.last_heartbeat_at = Some(now);
                if needs_review {
                    i.status = ImportStatus::NeedsReview;
                    let reasons: Vec<&str> = outcome.problems.iter().map(|p| p.message.as_str()).collect();
                    i.status_reason = Some(format!("the columns need a mapping: {}", reasons.join("; ")));
                    i.ended_at = Some(now);
                }
                true
            })
            .await?;
        tracing::info!(
            import_id = %id,
            format = split.format.as_str(),
            records = split.records,
            chunks = split.chunks.len(),
            needs_review,
            "upload split"
        );
        if changed && !needs_review {
            self.queue_chunks(&import).await?;
        }
        Ok(())
    }

    /// Queues the chunks of the current generation (or finalize when there are none).
    async fn queue_chunks(&self, import: &Import) -> Result<(), AppError> {
        if import.status != ImportStatus::Running {
            return Ok(());
        }
        let loaded = self.load_job(&import.tenant, &import.id, import.generation).await?;
        let jobs: Vec<Job> = if loaded.job.chunks.is_empty() {
            vec![Job::Finalize {
                tenant: import.tenant.clone(),
                import: import.id.clone(),
                generation: import.generation,
            }]
        } else {
            loaded
                .job
                .chunks
                .iter()
                .map(|c| Job::Chunk {
                    tenant: import.tenant.clone(),
                    import: import.id.clone(),
                    generation: import.generation,
                    chunk: *c,
                })
                .collect()
        };
        self.queue.send(jobs).await?;
        Ok(())
    }

    /// Ends the import as `FAILED` with a file-level fault.
    pub(crate) async fn fail(
        &self,
        tenant: &TenantId,
        id: &ImportId,
        generation: u32,
        failure: Failure,
    ) -> Result<(), AppError> {
        let now = self.clock.now();
        let message = match &failure.file {
            Some(file) => format!("{file}: {}", failure.message),
            None => failure.message.clone(),
        };
        tracing::warn!(import_id = %id, code = failure.code.as_str(), message = message.as_str(), "import failed");
        self.update_import(tenant, id, |i| {
            if i.generation != generation || !i.status.can_become(ImportStatus::Failed) {
                return false;
            }
            i.status = ImportStatus::Failed;
            i.status_reason = Some(message.clone());
            i.failure = Some(failure.clone());
            i.ended_at = Some(now);
            true
        })
        .await?;
        Ok(())
    }

    async fn split(&self, import: &Import) -> Result<Split, SplitFault> {
        let key = &import.upload.key;
        let meta = self
            .blobs
            .head(key)
            .await?
            .ok_or_else(|| failure("upload_missing", "the uploaded file is missing".into(), None, None, None))?;
        let head = self.blobs.get_range(key, 0..meta.size.min(64 * 1024)).await?;
        let format = detect_format(&head, import.original_filename.as_deref())
            .map_err(|e| failure("unsupported_format", e.to_string(), None, None, None))?;
        match format {
            Format::Csv => self.split_csv(import, meta.size, &head).await,
            Format::Xlsx => self.split_xlsx(import).await,
            Format::Json => self.split_json(import, meta.size).await,
        }
    }

    async fn split_csv(&self, import: &Import, size: u64, head: &[u8]) -> Result<Split, SplitFault> {
        let settings = &import.settings;
        let (tenant, id, generation) = (&import.tenant, &import.id, import.generation);
        let explicit = settings.encoding.as_deref().and_then(encoding_for_label);
        let bom = sniff_bom(head);
        // Decide how to read the bytes: as UTF-8 from an offset, or transcoded first.
        let mut transcode_from: Option<&'static Encoding> = None;
        let mut start_offset = 0u64;
        let mut encoding_detected = true;
        match explicit {
            Some(enc) if enc == encoding_rs::UTF_8 => {
                encoding_detected = false;
                if let Some(b) = bom.filter(|b| b.encoding == encoding_rs::UTF_8) {
                    start_offset = b.len as u64;
                }
            }
            Some(enc) => {
                encoding_detected = false;
                transcode_from = Some(enc);
            }
            None => match bom {
                Some(b) if b.encoding == encoding_rs::UTF_8 => start_offset = b.len as u64,
                Some(b) => transcode_from = Some(b.encoding),
                None => transcode_from = sniff_utf16(head),
            },
        }
        let csv_opts = |delimiter| CsvOptions {
            delimiter,
            max_field_bytes: settings.max_field_bytes as usize,
            max_record_bytes: settings.max_record_bytes(),
            max_columns: settings.max_columns as usize,
        };
        let mut source = import.upload.key.clone();
        let mut source_size = size;
        let mut encoding = transcode_from.unwrap_or(encoding_rs::UTF_8);
        if let Some(enc) = transcode_from {
            source_size =
                self.transcode(&import.upload.key, size, enc, &keys::normalized(tenant, id, generation)).await?;
            source = keys::normalized(tenant, id, generation);
            start_offset = 0;
        }
        let sample = self.blobs.get_range(&source, start_offset..source_size.min(start_offset + 64 * 1024)).await?;
        let delimiter =
            settings.delimiter.unwrap_or_else(|| detect_delimiter(&sample, source_size <= start_offset + 64 * 1024));
        let split_opts = SplitOptions {
            csv: csv_opts(delimiter),
            chunk_rows: settings.chunk_rows,
            max_chunk_bytes: self.limits.max_chunk_bytes,
            header_row: settings.header_row,
            start_offset,
        };
        let mut plan = self.split_pass(id, &source, source_size, split_opts).await?;
        if transcode_from.is_none() && explicit.is_none() && !plan.utf8.is_utf8() {
            // Not UTF-8 after all: guess the legacy encoding, transcode, split again.
            let legacy = guess_legacy(&plan.utf8.sample);
            source_size =
                self.transcode(&import.upload.key, size, legacy, &keys::normalized(tenant, id, generation)).await?;
            source = keys::normalized(tenant, id, generation);
            encoding = legacy;
            let opts = SplitOptions { start_offset: 0, ..split_opts };
            plan = self.split_pass(id, &source, source_size, opts).await?;
        }
        let invalid_sequences = plan.utf8.invalid_sequences;
        Ok(Split {
            header: plan.header,
            records: plan.records,
            chunks: plan.chunks,
            layout: ChunkLayout::Csv {
                delimiter,
                max_field_bytes: settings.max_field_bytes as usize,
                max_record_bytes: settings.max_record_bytes(),
                max_columns: settings.max_columns as usize,
            },
            source_key: Some(source),
            is_1904: false,
            format: Format::Csv,
            encoding: Some(encoding.name().to_string()),
            encoding_detected: encoding_detected && explicit.is_none(),
            delimiter: Some(delimiter),
            sheet: None,
            invalid_sequences,
        })
    }

    /// Reads the CSV once, block by block, and plans its chunks.
    async fn split_pass(&self, id: &ImportId, key: &str, size: u64, opts: SplitOptions) -> Result<CsvPlan, SplitFault> {
        let mut splitter = CsvSplitter::new(opts);
        let mut offset = opts.start_offset;
        let block = self.limits.block_bytes.max(1);
        // Read the next block while the current one is parsed.
        let mut next = (offset < size).then(|| {
            let blobs = self.blobs.clone();
            let key = key.to_string();
            let end = (offset + block).min(size);
            tokio::spawn(async move { blobs.get_range(&key, offset..end).await })
        });
        while let Some(pending) = next.take() {
            let bytes: Bytes = pending.await.map_err(|e| AppError::Internal(e.to_string()))??;
            offset += bytes.len() as u64;
            if bytes.is_empty() {
                break;
            }
            if offset < size {
                let blobs = self.blobs.clone();
                let key = key.to_string();
                let end = (offset + block).min(size);
                let start = offset;
                next = Some(tokio::spawn(async move { blobs.get_range(&key, start..end).await }));
            }
            let (back, result) = blocking(move || {
                let r = splitter.feed(&bytes);
                (splitter, r)
            })
            .await?;
            splitter = back;
            result.map_err(csv_failure)?;
            self.progress.split_progress(id, offset, size);
        }
        blocking(move || splitter.finish()).await?.map_err(csv_failure)
    }

    /// Transcodes an object to UTF-8 into `dest`; returns the new size.
    async fn transcode(
        &self,
        key: &str,
        size: u64,
        encoding: &'static Encoding,
        dest: &str,
    ) -> Result<u64, SplitFault> {
        let mut writer = self.blobs.writer(dest).await?;
        let mut transcoder = Transcoder::new(encoding);
        let mut offset = 0;
        let block = self.limits.block_bytes.max(1);
        while offset < size {
            let bytes = self.blobs.get_range(key, offset..(offset + block).min(size)).await?;
            if bytes.is_empty() {
                break;
            }
            offset += bytes.len() as u64;
            let mut out = Vec::with_capacity(bytes.len() * 2);
            transcoder.feed(&bytes, offset >= size, &mut out);
            writer.write(out.into()).await?;
        }
        if size == 0 {
            let mut out = Vec::new();
            transcoder.feed(&[], true, &mut out);
            writer.write(out.into()).await?;
        }
        Ok(writer.finish().await?)
    }

    async fn split_xlsx(&self, import: &Import) -> Result<Split, SplitFault> {
        let dir = std::env::temp_dir().join(format!("sluice-{}", import.id));
        std::fs::create_dir_all(&dir).map_err(|e| AppError::Internal(format!("temp dir: {e}")))?;
        let path = dir.join("upload.xlsx");
        let result = self.split_xlsx_file(import, &path).await;
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    async fn split_xlsx_file(&self, import: &Import, path: &std::path::Path) -> Result<Split, SplitFault> {
        self.blobs.download_to(&import.upload.key, path).await?;
        let settings = import.settings.clone();
        let limits = xlsx::XlsxLimits { max_columns: settings.max_columns, ..self.limits.xlsx };
        let path = path.to_path_buf();
        let app = self.clone();
        let (tenant, id, generation) = (import.tenant.clone(), import.id.clone(), import.generation);
        let handle = tokio::runtime::Handle::current();
        let outcome = blocking(move || -> Result<(xlsx::SheetInfo, Result<CellsPlan, u32>), SplitFault> {
            let mut file =
                std::fs::File::open(&path).map_err(|e| AppError::Internal(format!("open {}: {e}", path.display())))?;
            xlsx::precheck(&mut file, &limits).map_err(xlsx_failure)?;
            let file =
                std::fs::File::open(&path).map_err(|e| AppError::Internal(format!("open {}: {e}", path.display())))?;
            let put = |spec: ChunkSpec, bytes: Vec<u8>| -> Result<(), StoreError> {
                handle.block_on(app.blobs.put(&keys::cells(&tenant, &id, generation, spec.index), bytes.into()))
            };
            let mut splitter = CellsSplitter::new(settings.chunk_rows, settings.header_row, put);
            let info =
                xlsx::read_sheet(std::io::BufReader::new(file), settings.sheet.as_ref(), &limits, |line, cells| {
                    splitter.push(line, cells)
                })
                .map_err(|e| match e {
                    ReadError::File(f) => xlsx_failure(f),
                    ReadError::Sink(s) => SplitFault::App(s.into()),
                })?;
            let plan = splitter.finish()?;
            Ok((info, plan))
        })
        .await??;
        let (info, plan) = outcome;
        let plan = plan.map_err(|found| {
            if found == 0 {
                failure("empty_file", format!("sheet {:?} is empty", info.name), None, None, Some(info.name.clone()))
            } else {
                let err = SplitError::NoHeader { header_row: import.settings.header_row, found };
                failure("no_header", format!("sheet {:?}: {err}", info.name), None, None, Some(info.name.clone()))
            }
        })?;
        Ok(cells_split(plan, Format::Xlsx, Some(info.name), info.is_1904, true))
    }

    async fn split_json(&self, import: &Import, size: u64) -> Result<Split, SplitFault> {
        let limit = import.settings.max_json_bytes;
        if size > limit {
            let e = JsonInputError::TooLarge { size, limit };
            return Err(failure("json_too_large", e.to_string(), None, None, None));
        }
        let bytes = self.blobs.get(&import.upload.key).await?;
        let settings = import.settings.clone();
        let app = self.clone();
        let (tenant, id, generation) = (import.tenant.clone(), import.id.clone(), import.generation);
        let handle = tokio::runtime::Handle::current();
        let plan = blocking(move || -> Result<CellsPlan, SplitFault> {
            let text = std::str::from_utf8(&bytes).map_err(|e| {
                failure(
                    "invalid_encoding",
                    format!("JSON input must be UTF-8: invalid byte at offset {}", e.valid_up_to()),
                    None,
                    None,
                    None,
                )
            })?;
            let put = |spec: ChunkSpec, bytes: Vec<u8>| -> Result<(), StoreError> {
                handle.block_on(app.blobs.put(&keys::cells(&tenant, &id, generation, spec.index), bytes.into()))
            };
            let splitter = RefCell::new(CellsSplitter::new(settings.chunk_rows, 1, put));
            let read = read_json(
                text,
                settings.max_columns as usize,
                |line, cells| splitter.borrow_mut().push(line, cells),
                |names| {
                    splitter.borrow_mut().set_header(names);
                    Ok(())
                },
            )
            .map_err(|e| {
                let (code, line, column) = match &e {
                    JsonInputError::Syntax { line, column, .. } => {
                        ("invalid_json", Some(*line as u64), Some(*column as u32))
                    }
                    JsonInputError::TooLarge { .. } => ("json_too_large", None, None),
                    JsonInputError::TooManyKeys { .. } => ("too_many_columns", None, None),
                    JsonInputError::Empty => ("empty_file", None, None),
                };
                failure(code, e.to_string(), line, column, None)
            })?;
            read?;
            let plan = splitter.into_inner().finish()?;
            plan.map_err(|_| failure("empty_file", "the JSON array is empty".into(), None, None, None))
        })
        .await??;
        Ok(cells_split(plan, Format::Json, None, false, false))
    }
}

fn cells_split(plan: CellsPlan, format: Format, sheet: Option<String>, is_1904: bool, lenient_width: bool) -> Split {
    Split {
        header: plan.header,
        records: plan.records,
        chunks: plan.chunks,
        layout: ChunkLayout::Cells { sheet: sheet.clone(), lenient_width },
        source_key: None,
        is_1904,
        format,
        encoding: None,
        encoding_detected: false,
        delimiter: None,
        sheet,
        invalid_sequences: 0,
    }
}
