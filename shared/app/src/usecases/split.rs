//! Splitting an accepted upload: sniff, decode, find the header, map columns, cut chunks.
//!
//! CSV is cut by quote parity while it is read, and each chunk is queued as soon as it is
//! complete, so workers validate the start of a file while the splitter is still reading its end.
//! When parity was fooled (a stray quote) or the file's end is broken, a worker or the splitter
//! asks for an exact re-split ([`App::resplit`]): a new generation whose splitter parses the
//! whole file and names the fault precisely. Workbooks and JSON are converted to chunk objects.

use std::cell::RefCell;

use bytes::Bytes;
use sluice_core::ImportStatus;
use sluice_core::engine::sink::RowsMode;
use sluice_core::mapping::{
    ColumnPlan, MappingProblem, csv_header_below_titles, header_below_titles, highest_mapped_column, map_columns,
    map_headerless,
};
use sluice_core::pipeline::ChunkLayout;
use sluice_core::read::ChunkSpec;
use sluice_core::read::cells::{CellsPlan, CellsSplitter};
use sluice_core::read::csv::CsvError;
use sluice_core::read::encoding::{
    Charset, Transcoder, Utf8Stats, encoding_for_label, guess_legacy, sniff_bom, sniff_unmarked, sniff_utf16,
};
use sluice_core::read::fast_split::FastCsvSplitter;
use sluice_core::read::json::{JsonInputError, read_json};
use sluice_core::read::sniff::{
    Format, csv_layout, detect_format_in, sampled_widths, separator_hint, unicode_text_one_column,
};
use sluice_core::read::split::{CsvSplitter, HeaderInfo, SplitError, SplitOptions, numbered_columns};
use sluice_core::read::xlsx::{self, ReadError, XlsxError};
use sluice_core::settings::InvalidDataBehavior;
use sluice_core::template::{Schema, TemplateSpec};

use super::{App, AppError, blocking};
use crate::keys;
use crate::model::{Detected, Failure, Import, ImportId, ImportJob, Job, TenantId};
use crate::ports::StoreError;

/// A file-level fault or a store failure.
pub(crate) enum SplitFault {
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

/// The failure an exact split or a chunk reports for a CSV fault.
pub(crate) fn csv_failure(e: SplitError) -> Failure {
    let message = e.to_string();
    let (code, line, column) = match &e {
        SplitError::Empty => ("empty_file", None, None),
        SplitError::NoHeader { .. } => ("no_header", None, None),
        SplitError::Csv(c) => {
            let (code, column) = match c {
                CsvError::UnterminatedQuote { column, .. } => ("unterminated_quote", Some(*column)),
                CsvError::FieldTooLarge { column, .. } => ("field_too_large", Some(*column)),
                CsvError::RecordTooLarge { .. } => ("record_too_large", None),
                CsvError::TooManyColumns { .. } => ("too_many_columns", None),
            };
            (code, Some(c.line()), column)
        }
    };
    Failure { code: code.into(), message, file: None, line, column, sheet: None }
}

fn xlsx_failure(e: XlsxError) -> SplitFault {
    let code = match &e {
        XlsxError::NotAWorkbook(_) => "not_a_workbook",
        XlsxError::TooManyEntries { .. }
        | XlsxError::TooLarge { .. }
        | XlsxError::SuspiciousRatio { .. }
        | XlsxError::SizeMismatch { .. } => "zip_bomb",
        XlsxError::TooManyColumns { .. } => "too_many_columns",
        XlsxError::SheetNotFound { .. }
        | XlsxError::NoCells { .. }
        | XlsxError::AmbiguousPosition { .. }
        | XlsxError::HiddenAtPosition { .. } => "sheet_not_found",
        XlsxError::NoWorksheets => "no_worksheets",
        XlsxError::PartTooLarge { .. } => "workbook_too_large",
        XlsxError::FieldTooLarge { .. } => "field_too_large",
        XlsxError::Read { .. } | XlsxError::BadDimension { .. } | XlsxError::BadStringCount { .. } => {
            "unreadable_sheet"
        }
    };
    let sheet = match &e {
        XlsxError::TooManyColumns { sheet, .. }
        | XlsxError::FieldTooLarge { sheet, .. }
        | XlsxError::Read { sheet, .. } => Some(sheet.clone()),
        _ => None,
    };
    let (line, column) = match &e {
        XlsxError::FieldTooLarge { row, column, .. } => (Some(*row), Some(*column)),
        _ => (None, None),
    };
    failure(code, e.to_string(), line, column, sheet)
}

/// What every format's splitter hands on: the header and how chunks are read.
struct Frame {
    header: HeaderInfo,
    layout: ChunkLayout,
    source_key: Option<String>,
    is_1904: bool,
    detected: Detected,
    /// With no header row, the most columns up to one holding a value in the rows read (all of
    /// a sheet's, a CSV's first ones).
    filled: Option<usize>,
    /// Another sheet of the workbook the template fits better than the one read by default.
    other_sheet: Option<OtherSheet>,
    /// Totals rows of a sheet's tables, left out of the rows.
    totals_rows: Vec<(u64, String)>,
    /// The delimiter a CSV's `sep=` line named, when the import gave none.
    sep_hint: Option<u8>,
}

/// A sheet of the workbook besides the one read by default that the template fits better.
enum OtherSheet {
    /// Its header maps, where the one read has a header the template does not (an instructions
    /// tab before the data).
    Maps(String),
    /// Its header maps twice as many of the template's fields or more than the one read, whose
    /// mapping has no problem but maps fewer than half the fields (a summary tab before the data,
    /// for a template of optional fields): the sheet read, the fields it maps, the other's name
    /// and the fields it maps.
    MapsMore { read: String, mapped: usize, name: String, more: usize },
}

/// The most bytes an import record may take with its column names and mapping.
const MAX_RECORD_BYTES: usize = 320 * 1024;

/// How splitting ended.
enum Ended {
    /// Chunks planned (and, for fast CSV, already queued).
    Planned(Vec<ChunkSpec>, Option<u64>),
    /// The columns need a person; nothing queued.
    NeedsReview,
    /// A new generation takes over.
    Resplit,
}

impl App {
    /// Splits an accepted upload into chunks and queues them. Running it again for the same
    /// generation re-queues planned chunks, or splits again from the start when the first run
    /// stopped half-way (chunk outputs are keyed by position, so nothing is counted twice).
    pub async fn split_upload(&self, tenant: &TenantId, id: &ImportId, generation: u32) -> Result<(), AppError> {
        let import = self.get_import(tenant, id).await?;
        if import.status != ImportStatus::Running || import.generation != generation {
            tracing::info!(import_id = %id, status = import.status.as_str(), "split skipped: import not running in this generation");
            return Ok(());
        }
        if import.chunks.total.is_some() {
            let chunks = self.load_chunks(tenant, id, generation).await?;
            return self.queue_chunks(&import, &chunks, true).await;
        }
        let spec: TemplateSpec = serde_json::from_slice(&self.blobs.get(&keys::template(tenant, id)).await?)
            .map_err(|e| AppError::Internal(format!("template snapshot of {id}: {e}")))?;
        let schema = Schema::compile(spec.clone()).map_err(|e| AppError::Internal(format!("template of {id}: {e}")))?;
        let ended = match self.split(&import, &schema).await {
            Ok(ended) => ended,
            Err(SplitFault::File(mut f)) => {
                f.file = import.original_filename.clone();
                return self.fail(tenant, id, generation, f).await;
            }
            Err(SplitFault::App(e)) => return Err(e),
        };
        match ended {
            Ended::Planned(chunks, records) => self.finish_split(&import, &chunks, records).await,
            Ended::NeedsReview | Ended::Resplit => Ok(()),
        }
    }

    async fn split(&self, import: &Import, schema: &Schema) -> Result<Ended, SplitFault> {
        let key = &import.upload.key;
        let meta = self
            .blobs
            .head(key)
            .await?
            .ok_or_else(|| failure("upload_missing", "the uploaded file is missing".into(), None, None, None))?;
        let head = self.blobs.get_range(key, 0..meta.size.min(64 * 1024)).await?;
        // White space filling the head (a JSON writer's padding) hides the character that tells
        // the format: read on to it, up to a megabyte.
        let mut sniffed = head.to_vec();
        let blank = |b: &[u8]| b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b).iter().all(u8::is_ascii_whitespace);
        while blank(&sniffed) && (sniffed.len() as u64) < meta.size && sniffed.len() < 1 << 20 {
            let at = sniffed.len() as u64;
            sniffed.extend_from_slice(&self.blobs.get_range(key, at..meta.size.min(at + 64 * 1024)).await?);
        }
        let declared = import.settings.encoding.as_deref().and_then(encoding_for_label);
        let format = detect_format_in(&sniffed, import.original_filename.as_deref(), declared)
            .map_err(|e| failure("unsupported_format", e.to_string(), None, None, None))?;
        let outcome = match format {
            Format::Csv => self.split_csv(import, schema, meta.size, &head).await,
            Format::Xlsx => match self.split_xlsx(import, schema).await {
                Ok((frame, plan)) => self.planned_cells(import, schema, frame, plan).await,
                Err(e) => Err(e),
            },
            Format::Json => match self.split_json(import, schema, meta.size).await {
                Ok((frame, plan)) => self.planned_cells(import, schema, frame, plan).await,
                Err(e) => Err(e),
            },
        };
        if let Err(SplitFault::File(_)) = &outcome {
            self.note_detected(import, Detected { format: Some(format), ..Detected::default() }).await?;
        }
        outcome
    }

    async fn planned_cells(
        &self,
        import: &Import,
        schema: &Schema,
        frame: Frame,
        plan: CellsPlan,
    ) -> Result<Ended, SplitFault> {
        if !self.plan_columns(import, schema, frame).await? {
            return Ok(Ended::NeedsReview);
        }
        self.queue_chunks(import, &plan.chunks, false).await?;
        Ok(Ended::Planned(plan.chunks, Some(plan.records)))
    }

    /// Maps the header onto the template. With problems the import goes to `NEEDS_REVIEW` and
    /// `false` comes back; otherwise the job description is stored for the workers.
    async fn plan_columns(&self, import: &Import, schema: &Schema, frame: Frame) -> Result<bool, SplitFault> {
        let (tenant, id, generation) = (&import.tenant, &import.id, import.generation);
        let settings = &import.settings;
        // JSON names its columns in every object, with or without the setting.
        let headerless = settings.headerless() && frame.detected.format != Some(Format::Json);
        let filled = frame.filled.unwrap_or(frame.header.names.len());
        let mut frame = frame;
        let mapped = highest_mapped_column(&settings.mapping);
        if headerless && mapped > frame.header.names.len() {
            // A column the first rows do not reach, named by number: rows without it are short.
            frame.header.names = numbered_columns(mapped);
        }
        let mut outcome = match headerless {
            true => map_headerless(schema, &frame.header.names, filled, &settings.mapping),
            false => map_columns(schema, &frame.header.names, &settings.mapping),
        }
        .with_pass_through(settings.pass_through_unmapped)
        .with_given_delimiter(settings.delimiter.or(frame.sep_hint), settings.delimiter.is_none());
        if let Some(OtherSheet::MapsMore { read, mapped, name, more }) = &frame.other_sheet {
            let total = schema.fields.len();
            outcome.problems.push(MappingProblem {
                code: "another_sheet_maps_more".into(),
                message: format!(
                    "the sheet read, {read:?}, maps {mapped} of the template's {total} fields, and the sheet {name:?} \
                     maps {more}: give the sheet to import (--sheet {})",
                    shell_word(name)
                ),
                field: None,
                columns: vec![],
            });
        }
        // The column names and their mapping are kept on the import record, which a store may
        // cap (DynamoDB: 400 KB an item): a header too wide or too long to keep is a clear
        // failure, not an import that cannot be saved.
        let record_bytes = {
            let mut probe = import.clone();
            probe.detected.headers = frame.header.names.clone();
            probe.mapping = outcome.columns.clone();
            probe.mapping_problems = outcome.problems.clone();
            serde_json::to_vec(&probe).map_or(usize::MAX, |v| v.len())
        };
        if record_bytes > MAX_RECORD_BYTES {
            let columns = frame.header.names.len();
            let (what, line, hint) = match frame.header.line {
                0 if headerless => (format!("the first row's {columns} columns"), None, String::new()),
                0 => (format!("the objects' {columns} keys"), None, String::new()),
                line => (
                    format!("the header row's {columns} columns"),
                    Some(line),
                    format!("; is line {line} really the header?"),
                ),
            };
            let message = format!(
                "{what} and their mapping take {record_bytes} bytes on the import record, more than the \
                 {MAX_RECORD_BYTES} it may hold{hint}"
            );
            return Err(failure("header_too_large", message, line, None, frame.detected.sheet.clone()));
        }
        let plan = ColumnPlan::new(schema, &outcome.columns, settings.pass_through_unmapped).headerless(headerless);
        let rows_mode = match settings.invalid_data_behavior {
            InvalidDataBehavior::RemoveInvalidRows => RowsMode::ValidOnly,
            InvalidDataBehavior::IncludeInvalidRows | InvalidDataBehavior::BlockSubmit => RowsMode::All,
        };
        let job = ImportJob {
            template: schema.spec().clone(),
            settings: settings.clone(),
            plan,
            layout: frame.layout,
            rows_mode,
            source_key: frame.source_key,
            is_1904: frame.is_1904,
            header_line: frame.header.line,
            skipped_lines: frame.header.skipped_lines.clone(),
            totals_rows: frame.totals_rows.clone(),
        };
        let job_bytes = serde_json::to_vec(&job).map_err(|e| AppError::Internal(e.to_string()))?;
        self.blobs.put(&keys::job(tenant, id, generation), job_bytes.into()).await?;
        let needs_review = !outcome.problems.is_empty();
        let other_sheet = frame.other_sheet;
        let now = self.clock.now();
        let mut detected = frame.detected;
        detected.header_line = Some(frame.header.line);
        detected.headers = frame.header.names;
        let (_, changed) = self
            .update_import(tenant, id, |i| {
                if i.status != ImportStatus::Running || i.generation != generation {
                    return false;
                }
                i.detected = detected.clone();
                i.mapping = outcome.columns.clone();
                i.mapping_problems = outcome.problems.clone();
                i.last_heartbeat_at = Some(now);
                if needs_review {
                    i.status = ImportStatus::NeedsReview;
                    let reasons: Vec<&str> = outcome.problems.iter().map(|p| p.message.as_str()).collect();
                    let sheet_only = outcome.problems.iter().all(|p| p.code == "another_sheet_maps_more");
                    let mut reason = match sheet_only {
                        true => reasons.join("; "),
                        false => format!("the columns need a mapping: {}", reasons.join("; ")),
                    };
                    if let Some(OtherSheet::Maps(other)) = &other_sheet {
                        reason.push_str(&format!(
                            "; the sheet {other:?} has the template's columns: give the sheet to import (--sheet {})",
                            shell_word(other)
                        ));
                    }
                    i.status_reason = Some(reason);
                    i.ended_at = Some(now);
                }
                true
            })
            .await?;
        if needs_review {
            tracing::info!(import_id = %id, problems = outcome.problems.len(), "mapping needs review");
        }
        Ok(changed && !needs_review)
    }

    /// Stores the chunk list and the total; queues finalize when every chunk is already done.
    async fn finish_split(&self, import: &Import, chunks: &[ChunkSpec], records: Option<u64>) -> Result<(), AppError> {
        let (tenant, id, generation) = (&import.tenant, &import.id, import.generation);
        let list = serde_json::to_vec(chunks).map_err(|e| AppError::Internal(e.to_string()))?;
        self.blobs.put(&keys::chunks(tenant, id, generation), list.into()).await?;
        let total = chunks.len() as u32;
        let mut all_done = false;
        let (_, changed) = self
            .update_import(tenant, id, |i| {
                if i.status != ImportStatus::Running || i.generation != generation || i.chunks.total.is_some() {
                    return false;
                }
                i.chunks.total = Some(total);
                i.records = records;
                all_done = i.chunks.done >= total;
                true
            })
            .await?;
        tracing::info!(import_id = %id, chunks = total, "upload split");
        if changed && all_done {
            // The workers finished before the total was known: nobody else will queue finalize.
            self.queue.send(vec![Job::Finalize { tenant: tenant.clone(), import: id.clone(), generation }]).await?;
        }
        Ok(())
    }

    pub(crate) async fn load_chunks(
        &self,
        tenant: &TenantId,
        id: &ImportId,
        generation: u32,
    ) -> Result<Vec<ChunkSpec>, AppError> {
        let bytes = self.blobs.get(&keys::chunks(tenant, id, generation)).await?;
        serde_json::from_slice(&bytes).map_err(|e| AppError::Internal(format!("chunk list of {id}: {e}")))
    }

    /// Queues chunks (or finalize when the plan is final and has none).
    async fn queue_chunks(&self, import: &Import, chunks: &[ChunkSpec], plan_final: bool) -> Result<(), AppError> {
        if import.status != ImportStatus::Running {
            return Ok(());
        }
        let (tenant, id, generation) = (&import.tenant, &import.id, import.generation);
        let jobs: Vec<Job> = if chunks.is_empty() && plan_final {
            vec![Job::Finalize { tenant: tenant.clone(), import: id.clone(), generation }]
        } else {
            chunks
                .iter()
                .map(|c| Job::Chunk { tenant: tenant.clone(), import: id.clone(), generation, chunk: *c })
                .collect()
        };
        if !jobs.is_empty() {
            self.queue.send(jobs).await?;
        }
        Ok(())
    }

    /// Starts a new generation that splits the upload again: exactly, or from another encoding.
    /// Chunks of the old generation still in flight are no longer counted.
    pub async fn resplit(
        &self,
        tenant: &TenantId,
        id: &ImportId,
        generation: u32,
        encoding: Option<String>,
        reason: String,
    ) -> Result<(), AppError> {
        let (import, changed) = self
            .update_import(tenant, id, |i| {
                if i.status != ImportStatus::Running || i.generation != generation {
                    return false;
                }
                i.generation += 1;
                if encoding.is_some() {
                    i.split.encoding = encoding.clone();
                } else {
                    i.split.exact = true;
                }
                i.split.reason = Some(reason.clone());
                i.chunks = Default::default();
                i.counts = Default::default();
                i.records = None;
                true
            })
            .await?;
        if changed {
            tracing::info!(import_id = %id, generation = import.generation, reason = reason.as_str(), "splitting again");
            self.queue
                .send(vec![Job::Split { tenant: tenant.clone(), import: id.clone(), generation: import.generation }])
                .await?;
            let _ = self.blobs.delete_prefix(&keys::generation(tenant, id, generation)).await;
        }
        Ok(())
    }

    async fn split_csv(&self, import: &Import, schema: &Schema, size: u64, head: &[u8]) -> Result<Ended, SplitFault> {
        let settings = &import.settings;
        let (tenant, id, generation) = (&import.tenant, &import.id, import.generation);
        // The legacy encoding this file is read in once its bytes proved not UTF-8.
        let legacy = import.split.encoding.as_deref().and_then(encoding_for_label);
        let setting = settings.encoding.as_deref().and_then(encoding_for_label);
        let bom = sniff_bom(head);
        // How to read the bytes: as UTF-8 from an offset, or transcoded first (from an offset).
        let mut transcode_from: Option<Charset> = None;
        let mut start_offset = 0u64;
        // A byte order mark names the encoding for certain, over the setting too (as browsers let
        // it win over a declared charset): a template set to Windows-1252 still reads Excel's
        // "CSV UTF-8", whose mark would otherwise become `ï»¿` in the first header. Only bytes
        // that then prove not UTF-8 after its mark are read in a legacy encoding (the setting's,
        // else the one they look like), without the mark.
        match (bom, legacy, setting) {
            (_, Some(enc), _) => {
                transcode_from = Some(enc);
                start_offset = bom.filter(|b| b.encoding == encoding_rs::UTF_8).map_or(0, |b| b.len as u64);
            }
            (Some(b), None, _) if b.encoding == encoding_rs::UTF_8 => start_offset = b.len as u64,
            (Some(b), None, _) => transcode_from = Some(b.encoding.into()),
            (None, None, Some(enc)) if enc == encoding_rs::UTF_8 => {}
            (None, None, Some(enc)) => transcode_from = Some(enc),
            (None, None, None) => transcode_from = sniff_unmarked(head).map(Charset::from),
        }
        let mut source = import.upload.key.clone();
        let mut source_size = size;
        let mut utf8_lines = (0, None);
        if let Some(enc) = transcode_from {
            let dest = keys::normalized(tenant, id, generation);
            // An encoding guessed from the bytes leaves lines that are UTF-8 as they are.
            let guessed = legacy.is_some();
            (source_size, utf8_lines) =
                self.transcode(&import.upload.key, start_offset, size, enc, guessed, &dest).await?;
            source = dest;
            start_offset = 0;
        }
        let encoding = transcode_from.unwrap_or(Charset::Web(encoding_rs::UTF_8));
        let sample = self.blobs.get_range(&source, start_offset..source_size.min(start_offset + 64 * 1024)).await?;
        let complete = source_size <= start_offset + 64 * 1024;
        let (mut delimiter, mut header_row) = csv_layout(&sample, complete, settings.delimiter, settings.first_row());
        // Excel's "Unicode Text" of one column: no tab, and values that may hold commas.
        let utf16 =
            matches!(transcode_from, Some(Charset::Web(e)) if e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE);
        if utf16
            && settings.delimiter.is_none()
            && separator_hint(&sample).is_none()
            && let Some(tab) = unicode_text_one_column(&sample, complete, header_row)
        {
            delimiter = tab;
        }
        // A title above the header, when no header row was given.
        if settings.header_row == 1 && !settings.header_row_given {
            let fixed = settings.delimiter.is_some() || separator_hint(&sample).is_some();
            let found =
                csv_header_below_titles(schema, &settings.mapping, &sample, complete, delimiter, fixed, header_row);
            if let Some(found) = found {
                (delimiter, header_row) = found;
            }
        }
        // Text that is not UTF-8 near the start is most likely read again in another encoding:
        // its columns are mapped once that is known (a header below a title was not found in
        // the bytes as they are, and mojibake maps nothing).
        let undecoded = match std::str::from_utf8(&sample) {
            Ok(_) => false,
            Err(e) => e.error_len().is_some() || complete,
        };
        let csv = sluice_core::read::csv::CsvOptions {
            delimiter,
            max_field_bytes: settings.max_field_bytes as usize,
            max_record_bytes: settings.max_record_bytes(),
            max_columns: settings.max_columns as usize,
        };
        let opts = SplitOptions {
            csv,
            chunk_rows: settings.rows_per_chunk(schema.fields.len()),
            max_chunk_bytes: self.limits.max_chunk_bytes,
            header_row,
            headerless: settings.headerless(),
            start_offset,
        };
        let detected = Detected {
            format: Some(Format::Csv),
            encoding: Some(encoding.name().to_string()),
            // Not the encoding set: by its mark, or by its bytes.
            encoding_detected: setting != Some(encoding),
            delimiter: Some(if delimiter == b'\t' { "\\t".to_string() } else { (delimiter as char).to_string() }),
            utf8_lines: utf8_lines.0,
            first_utf8_line: utf8_lines.1,
            ..Detected::default()
        };
        let layout = ChunkLayout::Csv {
            delimiter,
            max_field_bytes: csv.max_field_bytes,
            max_record_bytes: csv.max_record_bytes,
            max_columns: csv.max_columns,
        };
        // Without a header row, the columns are those of the first rows up to the last one
        // holding a value (the first row may be short; a delimiter may end every line). A
        // value right of them is a row error.
        // (A first record longer than the sample leaves the splitter's count.)
        let sampled = settings
            .headerless()
            .then(|| sampled_widths(&sample, complete, delimiter, header_row.saturating_sub(1)))
            .flatten();
        let frame = |mut header: HeaderInfo, detected: Detected| {
            if let Some((width, _)) = sampled {
                header.names = numbered_columns(width);
            }
            Frame {
                header,
                layout: layout.clone(),
                source_key: Some(source.clone()),
                is_1904: false,
                detected,
                filled: sampled.map(|(_, filled)| filled),
                other_sheet: None,
                totals_rows: Vec::new(),
                sep_hint: separator_hint(&sample).filter(|d| *d == delimiter),
            }
        };
        // Whether the bytes decide the encoding: then text that is not UTF-8 is read again in the
        // legacy encoding it most likely is (or the setting's, which a UTF-8 mark overrode), and
        // no column is mapped on mojibake.
        let overridden = bom.is_some() && setting.is_some_and(|e| e != encoding_rs::UTF_8);
        let may_guess_encoding = transcode_from.is_none() && (setting.is_none() || overridden);
        let utf8_mark = bom.is_some_and(|b| b.encoding == encoding_rs::UTF_8);
        let outcome = async {
            if import.split.exact {
                let plan = self.exact_pass(id, &source, source_size, opts).await?;
                if may_guess_encoding && !plan.utf8.is_utf8(utf8_mark) {
                    return Ok(self.resplit_as_legacy(import, &plan.utf8, setting).await?);
                }
                let mut detected = detected.clone();
                detected.invalid_byte_sequences = plan.utf8.invalid_sequences;
                if !self.plan_columns(import, schema, frame(plan.header, detected)).await? {
                    return Ok(Ended::NeedsReview);
                }
                self.queue_chunks(import, &plan.chunks, false).await?;
                return Ok(Ended::Planned(plan.chunks, Some(plan.records)));
            }

            // Fast: cut by quote parity while reading, queue chunks as they complete.
            let mut splitter = FastCsvSplitter::new(opts);
            let mut chunks: Vec<ChunkSpec> = Vec::new();
            let mut planned = false;
            let mut offset = start_offset;
            let block = self.limits.block_bytes.max(1);
            let mut next = self.prefetch(&source, offset, block, source_size);
            while let Some(pending) = next.take() {
                let bytes: Bytes = pending.await.map_err(|e| AppError::Internal(e.to_string()))??;
                offset += bytes.len() as u64;
                if bytes.is_empty() {
                    break;
                }
                next = self.prefetch(&source, offset, block, source_size);
                let (back, found) = blocking(move || {
                    let r = splitter.feed(&bytes);
                    (splitter, r)
                })
                .await?;
                splitter = back;
                let found = found.map_err(|e| SplitFault::File(csv_failure(e)))?;
                if !planned && let Some(header) = splitter.header() {
                    // A header with bytes that are not UTF-8 (or a start with such bytes) waits for
                    // the whole file, which tells its encoding: the columns are then mapped on the
                    // real names.
                    let undecided =
                        may_guess_encoding && (undecoded || header.names.iter().any(|n| n.contains('\u{FFFD}')));
                    if !undecided {
                        if !self.plan_columns(import, schema, frame(header.clone(), detected.clone())).await? {
                            return Ok(Ended::NeedsReview);
                        }
                        planned = true;
                    }
                }
                if planned {
                    self.queue_chunks(import, &found, false).await?;
                }
                chunks.extend(found);
                self.progress.split_progress(id, offset, source_size);
            }
            let plan = blocking(move || splitter.finish()).await?.map_err(|e| SplitFault::File(csv_failure(e)))?;
            // Both checks come before mapping the columns: a file read again is mapped then.
            if may_guess_encoding && !plan.utf8.is_utf8(utf8_mark) {
                return Ok(self.resplit_as_legacy(import, &plan.utf8, setting).await?);
            }
            if plan.needs_exact {
                let reason = "the quotes of the file do not pair up (a stray quote, or a quoted field left open): \
                              reading it record by record"
                    .to_string();
                self.resplit(tenant, id, generation, None, reason).await?;
                return Ok(Ended::Resplit);
            }
            if !planned {
                if !self.plan_columns(import, schema, frame(plan.header.clone(), detected.clone())).await? {
                    return Ok(Ended::NeedsReview);
                }
                self.queue_chunks(import, &chunks, false).await?;
            }
            if plan.utf8.invalid_sequences > 0 {
                let n = plan.utf8.invalid_sequences;
                self.update_import(tenant, id, |i| {
                    i.detected.invalid_byte_sequences = n;
                    i.generation == generation
                })
                .await?;
            }
            self.queue_chunks(import, &plan.last, false).await?;
            chunks.extend(plan.last);
            Ok(Ended::Planned(chunks, None))
        }
        .await;
        if let Err(SplitFault::File(_)) = &outcome {
            self.note_detected(import, detected).await?;
        }
        outcome
    }

    /// Starts a generation that reads the file in the legacy encoding its bytes suggest.
    /// Reads the file again in a legacy encoding: `setting` (one a UTF-8 byte order mark
    /// overrode, which the bytes proved wrong), else the one its bytes look like.
    async fn resplit_as_legacy(
        &self,
        import: &Import,
        utf8: &Utf8Stats,
        setting: Option<Charset>,
    ) -> Result<Ended, AppError> {
        // Only a legacy encoding can read what follows a UTF-8 mark (UTF-16 cannot).
        let legacy = setting
            .filter(|e| e.is_ascii_compatible() && *e != encoding_rs::UTF_8)
            .unwrap_or_else(|| guess_legacy(&utf8.sample()));
        let reason = format!("the file is not UTF-8; reading it as {}", legacy.name());
        self.resplit(&import.tenant, &import.id, import.generation, Some(legacy.name().to_string()), reason).await?;
        Ok(Ended::Resplit)
    }

    /// Keeps what was learned about a file that turned out unreadable (format, encoding,
    /// delimiter) next to its failure, unless a mapped header already said more.
    async fn note_detected(&self, import: &Import, detected: Detected) -> Result<(), AppError> {
        let generation = import.generation;
        self.update_import(&import.tenant, &import.id, |i| {
            if i.status != ImportStatus::Running || i.generation != generation || i.detected != Detected::default() {
                return false;
            }
            i.detected = detected.clone();
            true
        })
        .await?;
        Ok(())
    }

    fn prefetch(
        &self,
        key: &str,
        offset: u64,
        block: u64,
        size: u64,
    ) -> Option<tokio::task::JoinHandle<Result<Bytes, StoreError>>> {
        (offset < size).then(|| {
            let blobs = self.blobs.clone();
            let key = key.to_string();
            let end = (offset + block).min(size);
            tokio::spawn(async move { blobs.get_range(&key, offset..end).await })
        })
    }

    /// Reads the CSV once with the real reader and plans its chunks exactly.
    async fn exact_pass(
        &self,
        id: &ImportId,
        key: &str,
        size: u64,
        opts: SplitOptions,
    ) -> Result<sluice_core::read::split::CsvPlan, SplitFault> {
        let mut splitter = CsvSplitter::new(opts);
        let mut offset = opts.start_offset;
        let block = self.limits.block_bytes.max(1);
        let mut next = self.prefetch(key, offset, block, size);
        while let Some(pending) = next.take() {
            let bytes: Bytes = pending.await.map_err(|e| AppError::Internal(e.to_string()))??;
            offset += bytes.len() as u64;
            if bytes.is_empty() {
                break;
            }
            next = self.prefetch(key, offset, block, size);
            let (back, result) = blocking(move || {
                let r = splitter.feed(&bytes);
                (splitter, r)
            })
            .await?;
            splitter = back;
            result.map_err(|e| SplitFault::File(csv_failure(e)))?;
            self.progress.split_progress(id, offset, size);
        }
        blocking(move || splitter.finish()).await?.map_err(|e| SplitFault::File(csv_failure(e)))
    }

    /// Transcodes an object to UTF-8 into `dest`; returns the new size.
    async fn transcode(
        &self,
        key: &str,
        from: u64,
        size: u64,
        encoding: Charset,
        keep_utf8_lines: bool,
        dest: &str,
    ) -> Result<(u64, (u64, Option<u64>)), SplitFault> {
        let mut writer = self.blobs.writer(dest).await?;
        let mut transcoder = Transcoder::new(encoding);
        if keep_utf8_lines {
            transcoder = transcoder.keeping_utf8_lines();
        }
        let mut offset = from;
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
        Ok((writer.finish().await?, (transcoder.utf8_lines, transcoder.first_utf8_line)))
    }

    async fn split_xlsx(&self, import: &Import, schema: &Schema) -> Result<(Frame, CellsPlan), SplitFault> {
        let dir = TempDir(std::env::temp_dir().join(format!("sluice-{}", import.id)));
        std::fs::create_dir_all(&dir.0).map_err(|e| AppError::Internal(format!("temp dir: {e}")))?;
        self.split_xlsx_file(import, schema, &dir.0.join("upload.xlsx")).await
    }

    async fn split_xlsx_file(
        &self,
        import: &Import,
        schema: &Schema,
        path: &std::path::Path,
    ) -> Result<(Frame, CellsPlan), SplitFault> {
        self.blobs.download_to(&import.upload.key, path).await?;
        let settings = import.settings.clone();
        let schema = schema.clone();
        let limits = xlsx::XlsxLimits {
            max_columns: settings.max_columns,
            max_field_bytes: settings.max_field_bytes as usize,
            ..self.limits.xlsx
        };
        let path = path.to_path_buf();
        let app = self.clone();
        let (tenant, id, generation) = (import.tenant.clone(), import.id.clone(), import.generation);
        let handle = tokio::runtime::Handle::current();
        type Read = (xlsx::SheetInfo, Result<CellsPlan, u32>, Option<OtherSheet>, Vec<String>);
        let (info, plan, other_sheet, empty_sheets) = blocking(move || -> Result<Read, SplitFault> {
            let open =
                || std::fs::File::open(&path).map_err(|e| AppError::Internal(format!("open {}: {e}", path.display())));
            let mut file = open()?;
            xlsx::precheck(&mut file, &limits).map_err(xlsx_failure)?;
            let read = |sheet: Option<&sluice_core::settings::SheetRef>| -> Result<(xlsx::SheetInfo, Result<CellsPlan, u32>), SplitFault> {
                let put = |spec: ChunkSpec, bytes: Vec<u8>| -> Result<(), StoreError> {
                    handle.block_on(app.blobs.put(&keys::cells(&tenant, &id, generation, spec.index), bytes.into()))
                };
                let mut splitter =
                    CellsSplitter::new(settings.rows_per_chunk(schema.fields.len()), settings.first_row(), put);
                if settings.headerless() {
                    splitter = splitter.headerless();
                }
                // A title above the header, when no header row was given (`choosing_header` asks).
                if !settings.header_row_given {
                    let (schema, mapping) = (schema.clone(), settings.mapping.clone());
                    splitter =
                        splitter.choosing_header(Box::new(move |rows| header_below_titles(&schema, rows, &mapping)));
                }
                let info = xlsx::read_sheet(
                    || std::fs::File::open(&path).map(std::io::BufReader::new),
                    sheet,
                    &limits,
                    |line, cells| splitter.push(line, cells),
                )
                .map_err(|e| match e {
                    ReadError::File(f) => xlsx_failure(f),
                    ReadError::Sink(s) => SplitFault::App(s.into()),
                })?;
                Ok((info, splitter.finish()?))
            };
            let (mut info, mut plan) = read(settings.sheet.as_ref())?;
            // An empty sheet read by default (openpyxl's "Sheet" left before the one written, an
            // empty tab first): the first visible sheet with cells is read instead, and named.
            let mut empty_sheets = Vec::new();
            if settings.sheet.is_none() && matches!(plan, Err(0)) {
                let mut skipped = vec![info.name.clone()];
                for name in info.visible.clone() {
                    if skipped.contains(&name) {
                        continue;
                    }
                    // A sheet that cannot be read is passed over too: the import reports the empty
                    // one read by default, as it would have.
                    let Ok((next_info, next_plan)) = read(Some(&sluice_core::settings::SheetRef::Name(name.clone())))
                    else {
                        continue;
                    };
                    if matches!(next_plan, Err(0)) {
                        skipped.push(name);
                        continue;
                    }
                    (info, plan, empty_sheets) = (next_info, next_plan, skipped);
                    break;
                }
            }
            // A sheet read by default whose header the template does not map, in a workbook of
            // several (an instructions tab before the data): look for one it maps. One whose
            // header maps some of the fields (a summary tab before the data, for a template of
            // optional fields): look for one that maps more.
            let other = match (&settings.sheet, &plan) {
                (None, Ok(plan)) if info.visible.len() > 1 && !settings.headerless() => {
                    let outcome = map_columns(&schema, &plan.header.names, &settings.mapping)
                        .with_pass_through(settings.pass_through_unmapped);
                    let mapped = outcome.columns.iter().filter(|c| c.field.is_some()).count();
                    let open = || std::fs::File::open(&path).map(std::io::BufReader::new);
                    if !outcome.problems.is_empty() {
                        sheet_with_columns(open, &limits, &schema, &settings, &info, 0)
                            .map(|(n, _)| OtherSheet::Maps(n))
                    } else if mapped * 2 < schema.fields.len() {
                        // Fewer than half the fields, where another sheet maps twice as many: a
                        // summary before the data, not the data with an optional column or a few
                        // left out (beside last year's tab, or an example tab, which map all).
                        sheet_with_columns(open, &limits, &schema, &settings, &info, (2 * mapped).saturating_sub(1))
                            .map(|(name, more)| OtherSheet::MapsMore { read: info.name.clone(), mapped, name, more })
                    } else {
                        None
                    }
                }
                _ => None,
            };
            Ok((info, plan, other, empty_sheets))
        })
        .await??;
        let mut plan = plan.map_err(|found| {
            if found == 0 {
                failure("empty_file", format!("sheet {:?} is empty", info.name), None, None, Some(info.name.clone()))
            } else {
                let err = SplitError::NoHeader { header_row: import.settings.first_row(), found };
                failure("no_header", format!("sheet {:?}: {err}", info.name), None, None, Some(info.name.clone()))
            }
        })?;
        plan.date_headers_in(info.is_1904);
        let totals_rows = info.totals_rows.clone();
        let frame = Frame {
            header: plan.header.clone(),
            layout: ChunkLayout::Cells { sheet: Some(info.name.clone()), lenient_width: true },
            source_key: None,
            is_1904: info.is_1904,
            detected: Detected {
                format: Some(Format::Xlsx),
                sheet: Some(info.name),
                empty_sheets_skipped: empty_sheets,
                ..Detected::default()
            },
            // A sheet's columns are counted up to its last value already.
            filled: None,
            other_sheet,
            totals_rows,
            sep_hint: None,
        };
        Ok((frame, plan))
    }

    async fn split_json(&self, import: &Import, schema: &Schema, size: u64) -> Result<(Frame, CellsPlan), SplitFault> {
        let fields = schema.fields.len();
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
        // JSON in UTF-16 (Windows PowerShell's `Out-File` writes it so), by its byte order mark or
        // its zero bytes; otherwise UTF-8, as RFC 8259 asks.
        let utf16 =
            sniff_bom(&bytes).map(|b| b.encoding).filter(|e| *e != encoding_rs::UTF_8).or_else(|| sniff_utf16(&bytes));
        let plan = blocking(move || -> Result<CellsPlan, SplitFault> {
            let decoded = match utf16 {
                Some(encoding) => {
                    let mut decoder = encoding.new_decoder_with_bom_removal();
                    let room = decoder.max_utf8_buffer_length_without_replacement(bytes.len()).unwrap_or(usize::MAX);
                    let mut text = String::with_capacity(room);
                    match decoder.decode_to_string_without_replacement(&bytes, &mut text, true) {
                        (encoding_rs::DecoderResult::InputEmpty, _) => Some(text),
                        // Malformed (a lone surrogate, an odd last byte): where, in what decoded.
                        _ => {
                            let line = text.matches('\n').count() as u64 + 1;
                            let column = text.rsplit('\n').next().unwrap_or("").chars().count() as u32 + 1;
                            return Err(failure(
                                "invalid_encoding",
                                format!("line {line}, column {column}: the text is not valid {}", encoding.name()),
                                Some(line),
                                Some(column),
                                None,
                            ));
                        }
                    }
                }
                None => None,
            };
            let text = match &decoded {
                Some(text) => Ok(text.as_str()),
                None => std::str::from_utf8(&bytes),
            };
            let text = text.map_err(|e| {
                let before = &bytes[..e.valid_up_to()];
                let line = before.iter().filter(|b| **b == b'\n').count() as u64 + 1;
                let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                let column = String::from_utf8_lossy(&before[line_start..]).chars().count() as u32 + 1;
                failure(
                    "invalid_encoding",
                    format!(
                        "line {line}, column {column}: the byte {:02X} is not UTF-8; JSON input must be UTF-8",
                        bytes[e.valid_up_to()]
                    ),
                    Some(line),
                    Some(column),
                    None,
                )
            })?;
            let put = |spec: ChunkSpec, bytes: Vec<u8>| -> Result<(), StoreError> {
                handle.block_on(app.blobs.put(&keys::cells(&tenant, &id, generation, spec.index), bytes.into()))
            };
            let splitter = RefCell::new(CellsSplitter::new(settings.rows_per_chunk(fields), 1, put));
            let read = read_json(
                text,
                settings.max_columns as usize,
                settings.max_field_bytes as usize,
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
                    JsonInputError::FieldTooLarge { row, .. } => ("field_too_large", Some(*row), None),
                    JsonInputError::Empty => ("empty_file", None, None),
                    JsonInputError::NotRows { .. } => ("unsupported_format", None, None),
                };
                failure(code, e.to_string(), line, column, None)
            })?;
            read?;
            let plan = splitter.into_inner().finish()?;
            plan.map_err(|_| failure("empty_file", "the JSON array is empty".into(), None, None, None))
        })
        .await??;
        let frame = Frame {
            header: plan.header.clone(),
            layout: ChunkLayout::Cells { sheet: None, lenient_width: false },
            source_key: None,
            is_1904: false,
            detected: Detected {
                format: Some(Format::Json),
                encoding: utf16.map(|e| e.name().to_string()),
                encoding_detected: utf16.is_some(),
                ..Detected::default()
            },
            filled: None,
            other_sheet: None,
            totals_rows: Vec::new(),
            sep_hint: None,
        };
        Ok((frame, plan))
    }
}

/// A local directory removed when dropped, also when the work in it panicked.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The first visible sheet besides the one read whose header (in its first rows, below any
/// title) the template maps without a problem, and to more than `more_than` fields, with the
/// fields it maps; among the first eight others (each look reads the workbook's parts again).
fn sheet_with_columns<R: std::io::Read + std::io::Seek>(
    open: impl Fn() -> std::io::Result<R>,
    limits: &xlsx::XlsxLimits,
    schema: &Schema,
    settings: &sluice_core::settings::Settings,
    read: &xlsx::SheetInfo,
    more_than: usize,
) -> Option<(String, usize)> {
    read.visible.iter().filter(|name| **name != read.name).take(8).find_map(|name| {
        let mut rows: Vec<Vec<String>> = Vec::new();
        let sheet = sluice_core::settings::SheetRef::Name(name.clone());
        // The rows a header may be on, then a stop.
        let _ = xlsx::read_sheet(&open, Some(&sheet), limits, |_, cells| {
            let row: Vec<String> = cells.iter().map(|c| c.display().trim().to_string()).collect();
            if row.iter().any(|c| !c.is_empty()) {
                rows.push(row);
            }
            if rows.len() < sluice_core::mapping::HEADER_SEARCH_ROWS { Ok(()) } else { Err(()) }
        });
        let at = header_below_titles(schema, &rows, &settings.mapping).unwrap_or(0);
        let header = rows.get(at)?;
        let outcome = map_columns(schema, header, &settings.mapping).with_pass_through(settings.pass_through_unmapped);
        let mapped = outcome.columns.iter().filter(|c| c.field.is_some()).count();
        (outcome.problems.is_empty() && mapped > more_than).then(|| (name.clone(), mapped))
    })
}

/// A sheet name as a shell takes it: quoted when it holds anything but letters, digits and
/// `-_.`.
fn shell_word(name: &str) -> String {
    if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c)) {
        name.to_string()
    } else {
        format!("'{}'", name.replace('\'', "'\\''"))
    }
}
