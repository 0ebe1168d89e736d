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
    pub rows: Vec<u8>,
    /// Invalid rows, JSON lines ([`RowsMode::ValidOnly`] only).
    pub invalid: Vec<u8>,
    /// Messages, JSON lines.
    pub messages: String,
    /// The chunk's part of `errors.jsonl` when no duplicate touches it; `None` when that is
    /// `messages` (no skipped-row note), stored once.
    pub errors: Option<String>,
    /// The chunk's part of `results.csv` when no duplicate touches it.
    pub results: String,
    /// Row index of `rows` (see [`RowSpan::read_index`]).
    pub rows_index: Vec<u8>,
    /// Row index of `invalid`.
    pub invalid_index: Vec<u8>,
}

/// A section of a stored chunk output, in the order the object holds them: the small parts
/// finalize reads first, the rows last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Keys, [`KeyEntry::encode`]d.
    Keys,
    /// Row index of the rows (see [`RowSpan::read_index`]).
    RowsIndex,
    /// Row index of the invalid rows.
    InvalidIndex,
    /// Messages, JSON lines.
    Messages,
    /// The chunk's part of `errors.jsonl`.
    Errors,
    /// The chunk's part of `results.csv`.
    Results,
    /// Invalid rows ([`RowsMode::ValidOnly`] only).
    Invalid,
    /// Rows.
    Rows,
}

/// Where the sections of a stored chunk output lie. The object is one file per chunk (a file
/// per section cost eight creates, renames and deletes per chunk): an 8-byte tag, the eight
/// section lengths as little-endian u64, then the sections in [`Section`] order. The length of
/// [`Section::Errors`] may be [`OutputLayout::SAME_AS_MESSAGES`]: the section is then not
/// stored and its range is that of the messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLayout {
    ranges: [std::ops::Range<u64>; 8],
}

impl OutputLayout {
    /// Bytes of the header.
    pub const HEADER_LEN: u64 = 8 + 8 * 8;
    const TAG: &'static [u8; 8] = b"SLCHUNK1";
    /// The length that stores the errors as the messages.
    pub const SAME_AS_MESSAGES: u64 = u64::MAX;

    /// The layout of sections of these lengths.
    fn of(lengths: [u64; 8]) -> Result<OutputLayout, String> {
        let mut at = Self::HEADER_LEN;
        let mut ranges: [std::ops::Range<u64>; 8] = Default::default();
        for (i, len) in lengths.into_iter().enumerate() {
            ranges[i] = if i == Section::Errors as usize && len == Self::SAME_AS_MESSAGES {
                ranges[Section::Messages as usize].clone()
            } else {
                let end = at.checked_add(len).ok_or("chunk output: section lengths overflow")?;
                std::mem::replace(&mut at, end)..end
            };
        }
        Ok(OutputLayout { ranges })
    }

    /// Reads the header at the start of a stored chunk output.
    pub fn parse(header: &[u8]) -> Result<OutputLayout, String> {
        let fields = header.get(..Self::HEADER_LEN as usize).ok_or("chunk output: header cut short")?;
        if &fields[..8] != Self::TAG {
            return Err("chunk output: not a chunk output object".into());
        }
        let mut lengths = [0u64; 8];
        for (len, bytes) in lengths.iter_mut().zip(fields[8..].chunks_exact(8)) {
            *len = u64::from_le_bytes(bytes.try_into().map_err(|_| "chunk output: header cut short")?);
        }
        OutputLayout::of(lengths)
    }

    /// Where a section lies in the object.
    pub fn range(&self, section: Section) -> std::ops::Range<u64> {
        self.ranges[section as usize].clone()
    }

    /// Bytes of a section.
    pub fn len(&self, section: Section) -> u64 {
        let range = self.range(section);
        range.end - range.start
    }

    /// The object's size.
    pub fn total_len(&self) -> u64 {
        self.ranges[Section::Rows as usize].end
    }
}

impl ChunkOutput {
    /// The stored form: the header, then the sections, as parts to write one after another (the
    /// rows are not copied into one buffer).
    pub fn into_parts(self) -> Vec<Vec<u8>> {
        let ChunkOutput { counts: _, keys, rows, invalid, messages, errors, results, rows_index, invalid_index } = self;
        let errors_are_messages = errors.is_none();
        let mut key_bytes = Vec::with_capacity(keys.len() * KeyEntry::ENCODED_LEN);
        for k in &keys {
            k.encode(&mut key_bytes);
        }
        // In `Section` order.
        let sections = [
            key_bytes,
            rows_index,
            invalid_index,
            messages.into_bytes(),
            errors.map(String::into_bytes).unwrap_or_default(),
            results.into_bytes(),
            invalid,
            rows,
        ];
        let mut header = Vec::with_capacity(OutputLayout::HEADER_LEN as usize);
        header.extend_from_slice(OutputLayout::TAG);
        for (i, section) in sections.iter().enumerate() {
            let same = i == Section::Errors as usize && errors_are_messages;
            let len = if same { OutputLayout::SAME_AS_MESSAGES } else { section.len() as u64 };
            header.extend_from_slice(&len.to_le_bytes());
        }
        let mut parts = Vec::with_capacity(1 + sections.len());
        parts.push(header);
        parts.extend(sections);
        parts
    }
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

/// What a chunk worker needs besides the chunk: the checked template, the column plan, how
/// to read values, and how chunks and their rows are laid out.
#[derive(Debug, Clone, Copy)]
pub struct ChunkContext<'a> {
    /// The template.
    pub schema: &'a Schema,
    /// Where each field comes from.
    pub plan: &'a ColumnPlan,
    /// How values are read.
    pub opts: ParseOptions,
    /// Text cells that read as empty ones (the `null_values` setting).
    pub null_values: &'a [String],
    /// Whether whole-row hashes are collected.
    pub dedupe: bool,
    /// How chunk bytes are laid out.
    pub layout: &'a ChunkLayout,
    /// Which rows the row file holds.
    pub mode: RowsMode,
}

/// Validates one chunk.
pub fn process_chunk(ctx: &ChunkContext<'_>, spec: &ChunkSpec, bytes: &[u8]) -> Result<ChunkOutput, ChunkError> {
    let ChunkContext { schema, plan, opts, null_values, dedupe, layout, mode } = *ctx;
    let mut sink = JsonSink::new(schema, plan, mode).with_capacity(bytes.len());
    let mut found = 0u32;
    let engine = match layout {
        ChunkLayout::Csv { delimiter, max_field_bytes, max_record_bytes, max_columns } => {
            let csv = CsvOptions {
                delimiter: *delimiter,
                max_field_bytes: *max_field_bytes,
                max_record_bytes: *max_record_bytes,
                max_columns: *max_columns,
            };
            let mut engine =
                RowEngine::new(schema, plan, opts, dedupe).null_values(null_values).after_blank(spec.after_blank);
            let mut parser = CsvParser::new(bytes, spec.first_line, csv, true);
            let mut rec = RecordSpans::default();
            // One UTF-8 check for the whole chunk instead of one per cell; a chunk with broken
            // bytes is read cell by cell so only the broken cells become errors.
            match crate::read::utf8(bytes) {
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
            let mut engine =
                RowEngine::new(schema, plan, opts, dedupe).null_values(null_values).after_blank(spec.after_blank);
            engine = if *lenient_width { engine.for_sheet(sheet.clone()) } else { engine };
            // Cells without a sheet are JSON objects, which have no header row to repeat, and
            // whose keys name their columns: an object without the last ones is no short row.
            engine = if sheet.is_none() { engine.without_header_row().lenient_width() } else { engine };
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
        rows: sink.rows.into_bytes(),
        invalid: sink.invalid.into_bytes(),
        messages: sink.messages,
        errors: sink.errors,
        results: sink.results,
        rows_index: sink.rows_index,
        invalid_index: sink.invalid_index,
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

/// Where one row lies in a chunk's row file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowSpan {
    /// The row's line.
    pub line: u64,
    /// First byte.
    pub start: u64,
    /// End (exclusive, after the `\n`).
    pub end: u64,
}

impl RowSpan {
    /// Reads a row index written by the chunk's sink (`line`, `start` as little-endian u64
    /// pairs); the last row ends at `file_len`.
    pub fn read_index(index: &[u8], file_len: u64) -> Vec<RowSpan> {
        let pairs: Vec<(u64, u64)> = index
            .chunks_exact(16)
            .map(|e| {
                let mut line = [0u8; 8];
                let mut start = [0u8; 8];
                line.copy_from_slice(&e[..8]);
                start.copy_from_slice(&e[8..]);
                (u64::from_le_bytes(line), u64::from_le_bytes(start))
            })
            .collect();
        (0..pairs.len())
            .map(|i| RowSpan { line: pairs[i].0, start: pairs[i].1, end: pairs.get(i + 1).map_or(file_len, |n| n.1) })
            .collect()
    }

    /// The span of a line, in an index sorted by line.
    pub fn find(index: &[RowSpan], line: u64) -> Option<RowSpan> {
        index.binary_search_by_key(&line, |s| s.line).ok().map(|i| index[i])
    }
}

/// A piece of a chunk's rebuilt row file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes of the chunk's own row file, unchanged.
    Copy(std::ops::Range<u64>),
    /// New text (a row with duplicate errors added).
    Text(String),
}

/// A chunk's share of the final results when duplicates touch it, as pieces: most of the row
/// file is copied as it is, only the duplicate rows change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchedChunk {
    /// The row file, rebuilt.
    pub pieces: Vec<Piece>,
    /// Its part of `errors.jsonl`.
    pub errors: String,
    /// Its part of `results.csv` (without the header line).
    pub results: String,
    /// Rows that were valid in the chunk and are duplicates in the file.
    pub newly_invalid: u64,
    /// Duplicate errors added.
    pub added_errors: u64,
}

/// Rebuilds a chunk's share of the results for the duplicates in it (sorted by line).
///
/// `rows_index` locates the rows of the chunk's row file (`rows_len` bytes); `row_text` gives
/// the text of a duplicate row, from the row file or the invalid-row file. Only duplicate rows
/// are ever read: the rest is copied by range. `sheet` is the workbook sheet the rows came from,
/// which their errors name.
#[allow(clippy::too_many_arguments)]
pub fn patch_chunk<'t>(
    schema: &Schema,
    plan: &ColumnPlan,
    sheet: Option<&str>,
    keep: RowsKept,
    rows_index: &[RowSpan],
    rows_len: u64,
    row_text: impl Fn(u64) -> Option<&'t str>,
    messages: &str,
    dups: &[Duplicate],
) -> PatchedChunk {
    let mut out = PatchedChunk::default();
    // Duplicate errors, grouped by line, with the repeated value read from the row.
    let mut dup_errors: HashMap<u64, Vec<RowError>> = HashMap::new();
    for dup in dups {
        let value = if dup.slot == ROW_HASH_SLOT {
            None
        } else {
            row_text(dup.line).and_then(|row| value_in_row(row, &schema.fields[dup.slot as usize].key))
        };
        let mut error = duplicate_error(schema, plan, dup, value);
        error.sheet = sheet.map(str::to_string);
        dup_errors.entry(dup.line).or_default().push(error);
        out.added_errors += 1;
    }
    let mut lines: Vec<u64> = dup_errors.keys().copied().collect();
    lines.sort_unstable();
    // Rows: copied by range around the duplicate rows, which are dropped (keep valid) or get
    // their duplicate errors (keep all).
    let mut pos = 0;
    for &line in &lines {
        let Some(span) = RowSpan::find(rows_index, line) else { continue };
        let row = row_text(line).unwrap_or_default();
        if !row.contains(",\"errors\":[") {
            out.newly_invalid += 1;
        }
        if span.start > pos {
            out.pieces.push(Piece::Copy(pos..span.start));
        }
        if keep == RowsKept::All {
            out.pieces.push(Piece::Text(add_errors(row, &dup_errors[&line])));
        }
        pos = span.end;
    }
    if rows_len > pos {
        out.pieces.push(Piece::Copy(pos..rows_len));
    }
    if keep == RowsKept::None {
        out.pieces.clear();
    }
    // Messages, merged by line: the chunk's own first, then the duplicates of that line.
    let mut pending = lines.iter().flat_map(|l| dup_errors[l].iter().map(move |e| (*l, e))).peekable();
    let emit = |e: &RowError, out: &mut PatchedChunk| {
        if e.severity != Severity::Info {
            e.write_jsonl(&mut out.errors);
        }
        e.write_results_csv(&mut out.results);
    };
    for msg in lines_of(messages) {
        let Ok(e) = serde_json::from_str::<RowError>(msg) else { continue };
        while let Some((line, dup)) = pending.peek() {
            if *line < e.line {
                emit(dup, &mut out);
                pending.next();
            } else {
                break;
            }
        }
        emit(&e, &mut out);
    }
    for (_, dup) in pending {
        emit(dup, &mut out);
    }
    out
}

/// [`patch_chunk`] over row files held in memory, with the pieces put together: the reference
/// the property tests hold the chunked pipeline to.
pub fn assemble_chunk(
    schema: &Schema,
    plan: &ColumnPlan,
    keep: RowsKept,
    rows: &str,
    invalid: &str,
    messages: &str,
    dups: &[Duplicate],
) -> AssembledChunk {
    let index = |text: &str| -> Vec<RowSpan> {
        let mut spans = Vec::new();
        let mut start = 0usize;
        for line in lines_of(text) {
            let end = start + line.len() + 1;
            if let Some(l) = row_line(line.as_bytes()) {
                spans.push(RowSpan { line: l, start: start as u64, end: end as u64 });
            }
            start = end;
        }
        spans
    };
    let (rows_index, invalid_index) = (index(rows), index(invalid));
    let text_of = |line: u64| {
        RowSpan::find(&rows_index, line)
            .map(|s| &rows[s.start as usize..s.end as usize])
            .or_else(|| RowSpan::find(&invalid_index, line).map(|s| &invalid[s.start as usize..s.end as usize]))
    };
    let patched = patch_chunk(schema, plan, None, keep, &rows_index, rows.len() as u64, text_of, messages, dups);
    let mut out = String::new();
    for piece in &patched.pieces {
        match piece {
            Piece::Copy(r) => out.push_str(&rows[r.start as usize..r.end as usize]),
            Piece::Text(t) => out.push_str(t),
        }
    }
    AssembledChunk {
        rows: out,
        errors: patched.errors,
        results: patched.results,
        newly_invalid: patched.newly_invalid,
        added_errors: patched.added_errors,
    }
}

/// The lines of a JSON-lines text (without their `\n`), found with memchr.
fn lines_of(text: &str) -> impl Iterator<Item = &str> {
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
pub fn header_notes(
    header_line: u64,
    skipped_lines: &[u64],
    totals_rows: &[(u64, String)],
    sheet: Option<&str>,
) -> String {
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
    // Without a header (a file without a header row), the skipped lines lie above the data.
    let above = if header_line > 0 { "the header" } else { "the first row" };
    for &line in skipped_lines {
        note(line, crate::codes::HEADER_SKIPPED, format!("skipped line {line} above {above}"))
            .write_results_csv(&mut out);
    }
    if header_line > 0 {
        note(header_line, crate::codes::HEADER_SKIPPED, format!("skipped header line {header_line}"))
            .write_results_csv(&mut out);
    }
    for (line, table) in totals_rows {
        let message = match table.is_empty() {
            true => format!(
                "skipped row {line}: a row of SUBTOTAL formulas, the totals of rows above it, not a row of data"
            ),
            false => format!("skipped row {line}: the totals row of the table {table:?}, not a row of data"),
        };
        note(*line, crate::codes::TOTALS_ROW_SKIPPED, message).write_results_csv(&mut out);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_chunk_output_gives_back_each_section() {
        let keys = vec![
            KeyEntry { slot: 0, key: 7, line: 2, valid: true },
            KeyEntry { slot: 1, key: u128::MAX, line: 3, valid: false },
        ];
        let output = ChunkOutput {
            counts: Counts::default(),
            keys: keys.clone(),
            rows: b"{\"line\":2}\n".to_vec(),
            invalid: b"{\"line\":3}\n".to_vec(),
            messages: "m\n".into(),
            errors: Some(String::new()),
            results: "r,\r\n".into(),
            rows_index: vec![1; 16],
            invalid_index: vec![2; 16],
        };
        let object: Vec<u8> = output.clone().into_parts().concat();
        let layout = OutputLayout::parse(&object).expect("a header");
        assert_eq!(layout.total_len(), object.len() as u64);
        let section = |s: Section| &object[layout.range(s).start as usize..layout.range(s).end as usize];
        let mut decoded = Vec::new();
        KeyEntry::decode_all(section(Section::Keys), &mut decoded).expect("keys decode");
        assert_eq!(decoded, keys);
        assert_eq!(section(Section::Rows), output.rows.as_slice());
        assert_eq!(section(Section::Invalid), output.invalid.as_slice());
        assert_eq!(section(Section::Messages), output.messages.as_bytes());
        assert_eq!(section(Section::Errors), b"");
        assert_eq!(section(Section::Results), output.results.as_bytes());
        assert_eq!(section(Section::RowsIndex), output.rows_index.as_slice());
        assert_eq!(section(Section::InvalidIndex), output.invalid_index.as_slice());

        // Errors that are the messages are stored once and read from the messages.
        let same = ChunkOutput { errors: None, messages: "e\n".into(), ..output.clone() };
        let object: Vec<u8> = same.clone().into_parts().concat();
        let layout = OutputLayout::parse(&object).expect("a header");
        assert_eq!(layout.total_len(), object.len() as u64);
        assert_eq!(layout.range(Section::Errors), layout.range(Section::Messages));
        assert_eq!(&object[layout.range(Section::Rows).start as usize..], same.rows.as_slice());
        assert_eq!(&object[layout.range(Section::Results).start as usize..][..4], b"r,\r\n");

        assert!(OutputLayout::parse(&object[..20]).is_err(), "a short header");
        let mut huge = object[..OutputLayout::HEADER_LEN as usize].to_vec();
        huge[8..16].copy_from_slice(&(u64::MAX - 8).to_le_bytes());
        assert!(OutputLayout::parse(&huge).is_err(), "lengths past the end of u64");
        assert!(OutputLayout::parse(&[0; 80]).is_err(), "another kind of object");
    }
}
