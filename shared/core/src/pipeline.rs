//! The pure steps of an import that run per chunk and at finalize, shared by every runtime.
//!
//! - [`process_chunk`]: one chunk's bytes → valid rows, invalid rows, messages, keys, counts.
//! - [`assemble_chunk`]: at finalize, one chunk's output plus the whole-file duplicates →
//!   the chunk's part of `rows.jsonl`, `errors.jsonl` and `results.csv`.
//!
//! Finalize calls [`assemble_chunk`] for chunks in order and concatenates, so memory holds one
//! chunk at a time. Processing a file as one chunk or as many, in any order, gives byte-identical
//! results; the property test in `tests/chunking.rs` holds the code to that.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::convert::ParseOptions;
use crate::engine::finalize::{Duplicate, add_errors, duplicate_error, row_line, value_in_row};
use crate::engine::sink::{JsonSink, RowsMode};
use crate::engine::{Counts, KeyEntry, ROW_HASH_SLOT, RowEngine};
use crate::import::RowsKept;
use crate::mapping::ColumnPlan;
use crate::read::ChunkSpec;
use crate::read::csv::{CsvError, CsvOptions, CsvParser, RecordSpans, Step};
use crate::record::StoredRecord;
use crate::results::{RESULTS_CSV_HEADER, RowError, Severity};
use crate::template::Schema;

/// How a chunk's bytes are laid out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChunkLayout {
    /// A byte range of CSV text (UTF-8).
    Csv {
        /// The delimiter.
        delimiter: u8,
        /// Largest field.
        max_field_bytes: usize,
        /// Largest record.
        max_record_bytes: usize,
        /// Most columns.
        max_columns: usize,
    },
    /// JSON lines of stored records (converted workbook or JSON input).
    Cells {
        /// Sheet name for messages (workbooks).
        sheet: Option<String>,
        /// Whether rows may be shorter than the header (workbooks omit trailing empties).
        lenient_width: bool,
    },
}

/// One chunk's output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkOutput {
    /// Counts before whole-file duplicate checks.
    pub counts: Counts,
    /// Keys for `unique` and `dedupe`.
    pub keys: Vec<KeyEntry>,
    /// Rows, JSON lines, as the [`RowsMode`] says.
    pub rows: String,
    /// Invalid rows, JSON lines ([`RowsMode::ValidOnly`] only).
    pub invalid: String,
    /// Messages, JSON lines.
    pub messages: String,
    /// The chunk's part of `errors.jsonl` when no duplicate touches it.
    pub errors: String,
    /// The chunk's part of `results.csv` when no duplicate touches it.
    pub results: String,
}

/// A fault in a chunk that the splitter should have caught (a changed file, a bug): the chunk
/// cannot be processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// The CSV is malformed.
    #[error(transparent)]
    Csv(#[from] CsvError),
    /// A converted chunk line is not a stored record.
    #[error("converted chunk {chunk}, line {line}: {message}")]
    Stored {
        /// Chunk index.
        chunk: u32,
        /// 1-based line in the chunk object.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The chunk holds a different number of records than planned.
    #[error("chunk {chunk} holds {found} records, {expected} were planned; the upload changed after splitting")]
    RecordCount {
        /// Chunk index.
        chunk: u32,
        /// Planned.
        expected: u32,
        /// Found.
        found: u32,
    },
}

/// Validates one chunk.
pub fn process_chunk(
    schema: &Schema,
    plan: &ColumnPlan,
    opts: ParseOptions,
    dedupe: bool,
    layout: &ChunkLayout,
    spec: &ChunkSpec,
    bytes: &[u8],
    mode: RowsMode,
) -> Result<ChunkOutput, ChunkError> {
    let mut sink = JsonSink::new(schema, plan, mode);
    let mut found = 0u32;
    let engine = match layout {
        ChunkLayout::Csv { delimiter, max_field_bytes, max_record_bytes, max_columns } => {
            let csv = CsvOptions {
                delimiter: *delimiter,
                max_field_bytes: *max_field_bytes,
                max_record_bytes: *max_record_bytes,
                max_columns: *max_columns,
            };
            let mut engine = RowEngine::new(schema, plan, opts, dedupe);
            let mut parser = CsvParser::new(bytes, spec.first_line, csv, true);
            let mut rec = RecordSpans::default();
            // One UTF-8 check for the whole chunk instead of one per cell; a chunk with broken
            // bytes is read cell by cell so only the broken cells become errors.
            match std::str::from_utf8(bytes) {
                Ok(text) => {
                    while let Step::Record = parser.next_record(&mut rec)? {
                        engine.process(&rec.view_text(text), &mut sink);
                        found += 1;
                    }
                }
                Err(_) => {
                    while let Step::Record = parser.next_record(&mut rec)? {
                        engine.process(&rec.view(bytes), &mut sink);
                        found += 1;
                    }
                }
            }
            engine
        }
        ChunkLayout::Cells { sheet, lenient_width } => {
            let mut engine = RowEngine::new(schema, plan, opts, dedupe);
            engine = if *lenient_width { engine.for_sheet(sheet.clone()) } else { engine };
            for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if line.is_empty() {
                    continue;
                }
                let record: StoredRecord<'_> = serde_json::from_slice(line).map_err(|e| ChunkError::Stored {
                    chunk: spec.index,
                    line: i + 1,
                    message: e.to_string(),
                })?;
                engine.process(&record, &mut sink);
                found += 1;
            }
            engine
        }
    };
    if spec.records != 0 && found != spec.records {
        return Err(ChunkError::RecordCount { chunk: spec.index, expected: spec.records, found });
    }
    let (counts, keys) = engine.finish();
    Ok(ChunkOutput {
        counts,
        keys,
        rows: sink.rows,
        invalid: sink.invalid,
        messages: sink.messages,
        errors: sink.errors,
        results: sink.results,
    })
}

/// One chunk's share of the final results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssembledChunk {
    /// Its part of `rows.jsonl`.
    pub rows: String,
    /// Its part of `errors.jsonl` (errors and warnings).
    pub errors: String,
    /// Its part of `results.csv` (without the header line).
    pub results: String,
    /// Rows that were valid in the chunk and are duplicates in the file.
    pub newly_invalid: u64,
    /// Duplicate errors added.
    pub added_errors: u64,
}

/// Builds a chunk's part of the final results from its output and the whole-file duplicates
/// whose lines fall in it (sorted by line, see [`crate::engine::finalize::find_duplicates`]).
///
/// `rows` and `invalid` are the chunk's row files as written in `mode`. With no duplicates and
/// rows kept, the result is the chunk's own files, so finalize can reuse them without reading.
pub fn assemble_chunk(
    schema: &Schema,
    plan: &ColumnPlan,
    keep: RowsKept,
    rows: &str,
    invalid: &str,
    messages: &str,
    dups: &[Duplicate],
) -> AssembledChunk {
    let mut out = AssembledChunk::default();
    // Duplicate errors, grouped by line, with the repeated value read from the row.
    let mut dup_errors: HashMap<u64, Vec<RowError>> = HashMap::new();
    if !dups.is_empty() {
        let wanted: std::collections::HashSet<u64> = dups.iter().map(|d| d.line).collect();
        let mut rows_by_line: HashMap<u64, &str> = HashMap::new();
        for row in lines(rows).chain(lines(invalid)) {
            if let Some(line) = row_line(row.as_bytes())
                && wanted.contains(&line)
            {
                rows_by_line.insert(line, row);
            }
        }
        for dup in dups {
            let value = if dup.slot == ROW_HASH_SLOT {
                None
            } else {
                rows_by_line.get(&dup.line).and_then(|row| value_in_row(row, &schema.fields[dup.slot as usize].key))
            };
            dup_errors.entry(dup.line).or_default().push(duplicate_error(schema, plan, dup, value));
            out.added_errors += 1;
        }
    }
    // Rows: kept as they are, or without the ones duplicates invalidate (keep valid), or with
    // the duplicate errors added (keep all).
    for row in lines(rows) {
        let extra = if dup_errors.is_empty() { None } else { row_line(row.as_bytes()).and_then(|l| dup_errors.get(&l)) };
        match (keep, extra) {
            (RowsKept::None, _) => {}
            (_, None) => {
                out.rows.push_str(row);
                out.rows.push('\n');
            }
            (RowsKept::Valid, Some(_)) => {}
            (RowsKept::All, Some(errors)) => out.rows.push_str(&add_errors(row, errors)),
        }
        if extra.is_some() && !row.contains(",\"errors\":[") {
            out.newly_invalid += 1;
        }
    }
    // Messages, merged by line: the chunk's own first, then the duplicates of that line.
    let mut pending: Vec<(u64, &RowError)> = Vec::new();
    let mut dup_lines: Vec<u64> = dup_errors.keys().copied().collect();
    dup_lines.sort_unstable();
    for line in dup_lines {
        for e in &dup_errors[&line] {
            pending.push((line, e));
        }
    }
    let mut next_dup = pending.into_iter().peekable();
    let emit = |e: &RowError, out: &mut AssembledChunk| {
        if e.severity != Severity::Info {
            e.write_jsonl(&mut out.errors);
        }
        e.write_results_csv(&mut out.results);
    };
    for msg in lines(messages) {
        let Ok(e) = serde_json::from_str::<RowError>(msg) else { continue };
        while let Some((line, dup)) = next_dup.peek() {
            if *line < e.line {
                emit(dup, &mut out);
                next_dup.next();
            } else {
                break;
            }
        }
        emit(&e, &mut out);
    }
    for (_, dup) in next_dup {
        emit(dup, &mut out);
    }
    out
}

/// The lines of a JSON-lines text (without their `\n`), found with memchr.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = memchr::memchr(b'\n', rest.as_bytes()).unwrap_or(rest.len());
        let line = &rest[..end];
        rest = &rest[(end + 1).min(rest.len())..];
        Some(line)
    })
}

/// Notes for the results CSV about rows above the data: the header and anything skipped.
pub fn header_notes(header_line: u64, skipped_lines: &[u64], sheet: Option<&str>) -> String {
    let mut out = String::from(RESULTS_CSV_HEADER);
    let note = |line: u64, code: &'static str, message: String| RowError {
        line,
        column: None,
        header: None,
        field: None,
        code: code.into(),
        message,
        severity: Severity::Info,
        value: None,
        sheet: sheet.map(str::to_string),
    };
    for &line in skipped_lines {
        note(line, crate::codes::HEADER_SKIPPED, format!("skipped line {line} above the header"))
            .write_results_csv(&mut out);
    }
    if header_line > 0 {
        note(header_line, crate::codes::HEADER_SKIPPED, format!("skipped header line {header_line}"))
            .write_results_csv(&mut out);
    }
    out
}

/// The duplicates whose lines lie in `[first_line, next_first_line)`.
pub fn duplicates_in(dups: &[Duplicate], first_line: u64, next_first_line: Option<u64>) -> &[Duplicate] {
    let from = dups.partition_point(|d| d.line < first_line);
    let to = match next_first_line {
        Some(n) => dups.partition_point(|d| d.line < n),
        None => dups.len(),
    };
    &dups[from..to]
}
