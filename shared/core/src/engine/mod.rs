//! The row engine: mapped cells in, typed values and row errors out.
//!
//! One [`RowEngine`] runs over one chunk. It reads each record's mapped cells as their field
//! types, runs the validators, notes the keys that `unique` and `dedupe` must check across the
//! whole file, and hands every row to a [`RowSink`]. Whether a row repeats a row of *another*
//! chunk is decided later, in finalize, from the keys ([`finalize::find_duplicates_in_runs`]), so
//! chunks can be processed in parallel, in any order, any number of times.

pub mod finalize;
pub mod sink;

use std::borrow::Cow;
use std::ops::AddAssign;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_128;

use crate::codes;
use crate::convert::{
    Converted, Fault, Outcome, ParseOptions, convert_borrowed_into, convert_cell, is_blank_text, trim,
};
use crate::mapping::ColumnPlan;
use crate::record::{CellRef, Record};
use crate::results::{RowError, Severity};
use crate::template::{Check, Field, Kind, Matcher, Schema, UniqueMode, choice_text, within};
use crate::value::{Value, composed};

/// The note on the first of a run of empty rows; the rows of the run below it are counted as
/// skipped without one.
pub const EMPTY_ROWS_MESSAGE: &str = "empty row skipped (and any empty rows right below it)";

/// Row counts of a chunk or an import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Data rows (valid + invalid).
    pub rows: u64,
    /// Rows without errors.
    pub valid: u64,
    /// Rows with at least one error.
    pub invalid: u64,
    /// Empty rows skipped.
    pub skipped: u64,
    /// Error messages.
    pub errors: u64,
    /// Warning messages.
    pub warnings: u64,
}

impl AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.rows += o.rows;
        self.valid += o.valid;
        self.invalid += o.invalid;
        self.skipped += o.skipped;
        self.errors += o.errors;
        self.warnings += o.warnings;
    }
}

/// Key slot of the whole-row hash (`dedupe`); field slots are field indexes.
pub const ROW_HASH_SLOT: u16 = u16::MAX;

/// A value that must not repeat across the file: which field (or the row hash), its key, where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyEntry {
    /// Field index, or [`ROW_HASH_SLOT`].
    pub slot: u16,
    /// The value itself for integers; a 128-bit XXH3 hash of the normalized value otherwise.
    pub key: u128,
    /// Line of the row.
    pub line: u64,
    /// Whether the row was valid before whole-file checks (so finalize can count rows that a
    /// duplicate makes invalid without reading them).
    pub valid: bool,
}

impl KeyEntry {
    /// Bytes per encoded entry.
    pub const ENCODED_LEN: usize = 27;

    /// Appends the fixed-size little-endian encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.slot.to_le_bytes());
        out.extend_from_slice(&self.key.to_le_bytes());
        out.extend_from_slice(&self.line.to_le_bytes());
        out.push(u8::from(self.valid));
    }

    /// Decodes entries written by [`KeyEntry::encode`] straight into their packed form.
    pub fn decode_packed(bytes: &[u8], out: &mut Vec<PackedKey>) -> Result<(), String> {
        out.reserve(Self::count(bytes)?);
        out.extend(bytes.chunks_exact(Self::ENCODED_LEN).map(|e| PackedKey::pack(&Self::decode(e))));
        Ok(())
    }

    /// Decodes entries written by [`KeyEntry::encode`].
    pub fn decode_all(bytes: &[u8], out: &mut Vec<KeyEntry>) -> Result<(), String> {
        out.reserve(Self::count(bytes)?);
        out.extend(bytes.chunks_exact(Self::ENCODED_LEN).map(Self::decode));
        Ok(())
    }

    /// How many entries `bytes` holds, if a whole number.
    fn count(bytes: &[u8]) -> Result<usize, String> {
        if !bytes.len().is_multiple_of(Self::ENCODED_LEN) {
            return Err(format!("key file of {} bytes is not a whole number of entries", bytes.len()));
        }
        Ok(bytes.len() / Self::ENCODED_LEN)
    }

    /// One entry of [`KeyEntry::ENCODED_LEN`] bytes.
    fn decode(e: &[u8]) -> KeyEntry {
        let mut slot = [0u8; 2];
        let mut key = [0u8; 16];
        let mut line = [0u8; 8];
        slot.copy_from_slice(&e[0..2]);
        key.copy_from_slice(&e[2..18]);
        line.copy_from_slice(&e[18..26]);
        KeyEntry {
            slot: u16::from_le_bytes(slot),
            key: u128::from_le_bytes(key),
            line: u64::from_le_bytes(line),
            valid: e[26] != 0,
        }
    }
}

/// A [`KeyEntry`] packed for the whole-file sort: 24 bytes instead of 48.
///
/// The slot is folded into the top bits of the key (integer keys leave those bits zero, hashes
/// are uniform, so distinct slot-key pairs stay distinct), and line, slot and validity share the
/// third word with the line on top, so equal keys sort in line order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PackedKey([u64; 3]);

impl PackedKey {
    /// Packs an entry (lines must be below 2^47).
    #[inline]
    pub fn pack(k: &KeyEntry) -> PackedKey {
        let mixed = k.key ^ (u128::from(k.slot) << 112);
        PackedKey([(mixed >> 64) as u64, mixed as u64, (k.line << 17) | (u64::from(k.slot) << 1) | u64::from(k.valid)])
    }

    /// The entry back.
    pub fn unpack(&self) -> KeyEntry {
        let slot = ((self.0[2] >> 1) & 0xFFFF) as u16;
        let mixed = (u128::from(self.0[0]) << 64) | u128::from(self.0[1]);
        KeyEntry { slot, key: mixed ^ (u128::from(slot) << 112), line: self.0[2] >> 17, valid: self.0[2] & 1 == 1 }
    }

    /// Marks the row valid.
    #[inline]
    pub fn set_valid(&mut self) {
        self.0[2] |= 1;
    }

    /// The slot and value together, without the line: equal for entries that hold the same
    /// value of the same slot, ordered as the entries sort.
    #[inline]
    pub fn value(&self) -> (u64, u64) {
        (self.0[0], self.0[1])
    }
}

/// One finished row, as the sink sees it.
#[derive(Debug)]
pub struct RowView<'v, 'a> {
    /// Line of the row.
    pub line: u64,
    /// One value per field, template order (raw text for fields that failed).
    pub values: &'v [Value<'a>],
    /// Errors, warnings.
    pub issues: &'v [RowError],
    /// Pass-through cells: (0-based column, text).
    pub unmapped: &'v [(usize, Cow<'a, str>)],
    /// Whether the row has no errors.
    pub valid: bool,
}

/// Receives the engine's output.
pub trait RowSink {
    /// A data row.
    fn row(&mut self, row: &RowView<'_, '_>);
    /// A note about a skipped row.
    fn skipped(&mut self, note: &RowError);
}

/// A sink that keeps nothing (benchmarks, counting).
#[derive(Debug, Default)]
pub struct NullSink;

impl RowSink for NullSink {
    fn row(&mut self, _row: &RowView<'_, '_>) {}
    fn skipped(&mut self, _note: &RowError) {}
}

/// Validates the records of one chunk.
pub struct RowEngine<'a> {
    schema: &'a Schema,
    plan: &'a ColumnPlan,
    opts: ParseOptions,
    /// Whether `null_values` lists any marker (beside `opts`, read for every cell).
    has_nulls: bool,
    dedupe: bool,
    strict_width: bool,
    /// Whether a cell beyond the header's last column is an error though rows may be short
    /// (sheets: rows omit their trailing empty cells, but a value out there is under no header).
    extra_cells: bool,
    sheet: Option<String>,
    /// Whether a row may repeat the header: the file has a header of two names or more.
    header_repeats: bool,
    defaults: Vec<Option<Value<'a>>>,
    /// Each engine's own copy of the matchers: a `Regex` shared between threads hands its
    /// search cache around through a lock-protected pool, a clone has its own pool.
    regexes: Vec<Vec<Option<crate::template::Matcher>>>,
    values: Vec<Value<'a>>,
    issues: Vec<RowError>,
    unmapped: Vec<(usize, Cow<'a, str>)>,
    /// Packed as finalize sorts them: half the memory of [`KeyEntry`].
    keys: Vec<PackedKey>,
    /// The line the row being read starts on: its keys name the row by it (a cell after a
    /// quoted line break starts on a later line), as finalize attaches a duplicate's error to the
    /// row on that line.
    row_line: u64,
    /// The last record was an empty row: an empty row right below it is counted but gets no
    /// note of its own (a run of them gets one, at its first line).
    after_blank: bool,
    counts: Counts,
    scratch: Vec<u8>,
    /// Text that reads as an empty cell (the `null_values` setting), trimmed as cells are.
    nulls: Vec<Box<str>>,
}

impl<'a> RowEngine<'a> {
    /// An engine over a schema and a column plan. `dedupe` collects whole-row hashes.
    pub fn new(schema: &'a Schema, plan: &'a ColumnPlan, opts: ParseOptions, dedupe: bool) -> RowEngine<'a> {
        let defaults = schema.fields.iter().map(|f| f.default_value.clone()).collect();
        let regexes = schema
            .fields
            .iter()
            .map(|f| {
                f.validators
                    .iter()
                    .map(|v| match &v.check {
                        Check::Regex(re) => Some((**re).clone()),
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        RowEngine {
            schema,
            plan,
            opts,
            has_nulls: false,
            dedupe,
            regexes,
            strict_width: true,
            extra_cells: true,
            sheet: None,
            header_repeats: !plan.headerless && plan.headers.iter().filter(|h| !h.is_empty()).count() >= 2,
            defaults,
            // One slot per field, overwritten by each row: a value is written where it lives.
            values: vec![Value::Null; schema.fields.len()],
            issues: Vec::new(),
            unmapped: Vec::new(),
            keys: Vec::new(),
            row_line: 0,
            after_blank: false,
            counts: Counts::default(),
            scratch: Vec::new(),
            nulls: Vec::new(),
        }
    }

    /// Text cells that read as empty ones (the `null_values` setting, already trimmed).
    pub fn null_values(mut self, markers: &[String]) -> Self {
        self.nulls = markers.iter().map(|m| m.as_str().into()).collect();
        self.has_nulls = !self.nulls.is_empty();
        self
    }

    /// The record before the first one given is an empty row (the chunk starts inside a run of
    /// them, which the chunk before noted).
    pub fn after_blank(mut self, after_blank: bool) -> Self {
        self.after_blank = after_blank;
        self
    }

    /// Whether a cell's text (trimmed as cells are) is one of the `null_values` markers.
    #[inline]
    fn is_null_marker(&self, text: &str) -> bool {
        self.has_nulls && self.listed_null(text)
    }

    /// [`RowEngine::is_null_marker`] once there are markers: kept out of the cell path, which
    /// pays a flag test for the setting, not this loop.
    #[inline(never)]
    fn listed_null(&self, text: &str) -> bool {
        self.nulls.iter().any(|n| **n == *text)
    }

    /// Whether a cell that is not borrowed text is a `null_values` marker: text, error values
    /// such as `#N/A`, and numbers as a spreadsheet shows them (a sentinel `-999` is one in a
    /// workbook as in a CSV).
    fn cell_is_null_marker(&self, cell: &CellRef<'_>) -> bool {
        if !self.has_nulls {
            return false;
        }
        let shown;
        let text = match cell {
            CellRef::Str(s) | CellRef::Numeral(s) | CellRef::Error(s) | CellRef::Shown(_, s) => s.as_ref(),
            CellRef::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) => s,
                Err(_) => return false,
            },
            CellRef::Number(n) => {
                shown = crate::record::format_number(*n);
                &shown
            }
            CellRef::Int(i) => {
                shown = i.to_string();
                &shown
            }
            _ => return false,
        };
        self.is_null_marker(if self.opts.trim { trim(text) } else { text })
    }

    /// Records from spreadsheets: rows may omit trailing empty cells, and errors name the sheet.
    pub fn for_sheet(mut self, sheet: Option<String>) -> Self {
        self.strict_width = false;
        self.sheet = sheet;
        self
    }

    /// Records that name their columns themselves (JSON objects): none repeats a header row, and
    /// an object whose values are its keys is data.
    pub fn without_header_row(mut self) -> Self {
        self.header_repeats = false;
        self
    }

    /// Records whose width is not checked against the header (JSON objects).
    pub fn lenient_width(mut self) -> Self {
        self.strict_width = false;
        self.extra_cells = false;
        self
    }

    /// Counts so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Ends the chunk: its counts and the keys finalize must check across chunks, sorted as
    /// [`finalize::find_duplicates_in_runs`] merges them.
    pub fn finish(self) -> (Counts, Vec<KeyEntry>) {
        let (counts, keys) = self.finish_packed();
        (counts, keys.iter().map(PackedKey::unpack).collect())
    }

    /// [`RowEngine::finish`] with the keys packed: one run for
    /// [`finalize::find_duplicates_in_runs`].
    pub fn finish_packed(self) -> (Counts, Vec<PackedKey>) {
        (self.counts, finalize::sort_keys(self.keys))
    }

    /// Whether a record repeats the header cell for cell (trimmed), in a file with a header of
    /// two names or more: no data row, though every cell is text a text field takes. The first
    /// cell decides most rows at one comparison.
    fn repeats_header<R: Record<'a>>(&self, rec: &R) -> bool {
        let headers = &self.plan.headers;
        if !self.header_repeats {
            return false;
        }
        // A cell compared in place (a date cell as the header names it: the date shown, not its
        // serial number); past the record's end, an empty one.
        let same = |c: usize| {
            let header = headers.get(c).map_or("", String::as_str);
            if c >= rec.len() {
                return header.is_empty();
            }
            match rec.text(c) {
                Some(t) => trim(t) == header,
                None => match rec.cell(c) {
                    CellRef::ExcelDate(serial) | CellRef::ExcelDateTime(serial) => {
                        crate::convert::serial_text(serial, self.opts.is_1904) == header
                    }
                    CellRef::ExcelTime(serial) => crate::convert::serial_time_text(serial) == header,
                    cell => trim(&cell.display()) == header,
                },
            }
        };
        rec.len() > 0 && same(0) && (1..rec.len().max(headers.len())).all(same)
    }

    /// Counts a row that is no data as skipped, with a note saying why.
    fn skip(&mut self, line: u64, code: &'static str, message: &str, sink: &mut impl RowSink) {
        self.counts.skipped += 1;
        sink.skipped(&RowError {
            line,
            column: None,
            header: None,
            field: None,
            code: Cow::Borrowed(code),
            message: message.into(),
            severity: Severity::Info,
            value: None,
            sheet: self.sheet.clone(),
        });
    }

    /// Validates one record and hands the row to the sink.
    pub fn process<R: Record<'a>>(&mut self, rec: &R, sink: &mut impl RowSink) {
        let n = rec.len();
        let line = rec.line();
        self.row_line = line;
        if rec.is_blank() {
            // One note for a run of empty rows: a sheet formatted down to row 1,048,576 exports
            // a million of them, and a note each made the results 60 times the file.
            if std::mem::replace(&mut self.after_blank, true) {
                self.counts.skipped += 1;
                return;
            }
            return self.skip(line, codes::EMPTY_ROW_SKIPPED, EMPTY_ROWS_MESSAGE, sink);
        }
        self.after_blank = false;
        if self.repeats_header(rec) {
            let message = "the header repeated (two exports joined, or a header on every page) skipped";
            return self.skip(line, codes::HEADER_REPEATED_SKIPPED, message, sink);
        }
        self.issues.clear();
        self.unmapped.clear();
        let first_key = self.keys.len();
        let width = self.plan.headers.len();
        if self.strict_width {
            self.check_width(rec, n, width);
        } else if self.extra_cells && n > width {
            self.check_extra_cells(rec, n, width);
        }
        for c in 0..if rec.any_malformed() { n } else { 0 } {
            let message = if rec.cell_malformed(c) {
                "text follows the closing quote of this cell; the row may be cut wrong"
            } else if rec.cell_quote_after_space(c) {
                "a space comes before this cell's opening quote, so its quotes are read as text and a delimiter \
                 inside them cuts the cell; remove the space"
            } else {
                continue;
            };
            let issue = self.issue(
                rec.cell_line(c),
                Some(c),
                None,
                codes::MALFORMED_QUOTES,
                message.into(),
                Severity::Error,
                Some(rec.cell(c).display().into_owned()),
            );
            self.issues.push(issue);
        }
        let (schema, plan) = (self.schema, self.plan);
        for (fi, (field, column)) in schema.fields.iter().zip(&plan.field_columns).enumerate() {
            match column.filter(|c| *c < n) {
                Some(c) => match rec.text(c) {
                    Some(raw) => self.field_text(fi, field, c, raw, rec.cell_line(c)),
                    None => self.field(fi, field, Some(c), rec.cell(c), rec.cell_line(c)),
                },
                None => self.empty(fi, field, None, line),
            }
        }
        for &c in &self.plan.pass_through {
            if c < n {
                let cell = rec.cell(c);
                if self.plan.headers[c].is_empty() && cell.is_blank() {
                    // A column without a header travels only where it holds something (not the
                    // empty column a comma at the end of every line makes).
                    continue;
                }
                if self.cell_is_null_marker(&cell) {
                    // Carried as an empty cell is.
                    self.unmapped.push((c, Cow::Borrowed("")));
                    continue;
                }
                let trimmed = |text: Cow<'a, str>| match text {
                    Cow::Borrowed(t) if self.opts.trim => Cow::Borrowed(trim(t)),
                    Cow::Owned(t) if self.opts.trim && trim(&t).len() != t.len() => Cow::Owned(trim(&t).to_string()),
                    text => text,
                };
                let text = match cell {
                    // Trimmed as a mapped cell is, so `dedupe` takes ` Cy ` for `Cy` here too.
                    CellRef::Bytes(b) => trimmed(match b {
                        Cow::Borrowed(b) => String::from_utf8_lossy(b),
                        Cow::Owned(b) => Cow::Owned(String::from_utf8_lossy(&b).into_owned()),
                    }),
                    CellRef::Str(s) => trimmed(s),
                    // A spreadsheet number this large may not be the digits written (a 64-bit id
                    // read as a float): it travels empty, with a warning, rather than as a
                    // neighbour no one would notice.
                    CellRef::Number(n) if n.fract() == 0.0 && n.abs() >= crate::convert::EXACT_INTEGERS => {
                        let issue = self.issue(
                            rec.cell_line(c),
                            Some(c),
                            None,
                            codes::INVALID_TYPE,
                            format!(
                                "'{}' is a spreadsheet number of 9007199254740992 or more, which a spreadsheet does \
                                 not store exactly, so it may not be the digits written; it travels empty: store the \
                                 column as text",
                                crate::record::format_number(n)
                            ),
                            Severity::Warning,
                            None,
                        );
                        self.issues.push(issue);
                        Cow::Borrowed("")
                    }
                    // Its value is unknown, and the formula is not one: it travels empty, with a
                    // warning, so no one takes the empty text for the cell's.
                    CellRef::Uncalculated(formula) => {
                        let what = if formula.is_empty() {
                            "a formula".to_string()
                        } else {
                            format!("the formula ={formula}")
                        };
                        let issue = self.issue(
                            rec.cell_line(c),
                            Some(c),
                            None,
                            codes::UNCALCULATED_FORMULA,
                            format!(
                                "the spreadsheet cell holds {what} but no calculated result, so it travels empty: \
                                 open the file in a spreadsheet program, save it, and upload it again"
                            ),
                            Severity::Warning,
                            None,
                        );
                        self.issues.push(issue);
                        Cow::Borrowed("")
                    }
                    // A JSON list travels as its JSON text, as an object does: `["a b"]` is not
                    // `["a", "b"]`.
                    CellRef::List(items) => Cow::Owned(serde_json::to_string(&items).unwrap_or_default()),
                    // A date cell as the sheet shows it, not its serial number.
                    CellRef::ExcelDate(serial) | CellRef::ExcelDateTime(serial) => {
                        Cow::Owned(crate::convert::serial_text(serial, self.opts.is_1904))
                    }
                    CellRef::ExcelTime(serial) => Cow::Owned(crate::convert::serial_time_text(serial)),
                    other => Cow::Owned(other.display().into_owned()),
                };
                self.unmapped.push((c, text));
            }
        }
        let errors = if self.issues.is_empty() {
            0
        } else {
            self.issues.iter().filter(|i| i.severity == Severity::Error).count() as u64
        };
        let valid = errors == 0;
        self.counts.rows += 1;
        self.counts.errors += errors;
        self.counts.warnings += self.issues.len() as u64 - errors;
        if valid {
            self.counts.valid += 1;
            for k in &mut self.keys[first_key..] {
                k.set_valid();
            }
            if self.dedupe {
                let key = self.row_hash();
                self.keys.push(PackedKey::pack(&KeyEntry { slot: ROW_HASH_SLOT, key, line, valid: true }));
            }
        } else {
            self.counts.invalid += 1;
        }
        sink.row(&RowView { line, values: &self.values, issues: &self.issues, unmapped: &self.unmapped, valid });
    }

    /// A sheet's row with a value right of the header's last column: the value belongs to no
    /// column (not even a blank-headed one passed through), so it would be lost unseen.
    fn check_extra_cells<R: Record<'a>>(&mut self, rec: &R, n: usize, width: usize) {
        if let Some(extra) = (width..n).find(|c| {
            let cell = rec.cell(*c);
            !cell.is_blank() && !self.cell_is_null_marker(&cell)
        }) {
            let issue = self.issue(
                rec.cell_line(extra),
                Some(extra),
                None,
                codes::TOO_MANY_COLUMNS,
                format!(
                    "column {} holds a value, right of the header's last column ({}); give the column a header, or clear the cell",
                    crate::results::column_letters(extra as u32 + 1),
                    crate::results::column_letters(width.max(1) as u32),
                ),
                Severity::Error,
                Some(rec.cell(extra).display().into_owned()),
            );
            self.issues.push(issue);
        }
    }

    fn check_width<R: Record<'a>>(&mut self, rec: &R, n: usize, width: usize) {
        // Only written for a row of another width (this runs for every row).
        let has = |headerless: bool| match headerless {
            false => format!("the header has {width} columns"),
            true => format!(
                "the file has {width} columns (it has no header row: they are counted on its first rows; map a column right of them by number)"
            ),
        };
        if n > width {
            if let Some(extra) = (width..n).find(|c| !rec.cell(*c).is_blank()) {
                let issue = self.issue(
                    rec.cell_line(extra),
                    Some(extra),
                    None,
                    codes::TOO_MANY_COLUMNS,
                    format!("the row has {n} cells but {}", has(self.plan.headerless)),
                    Severity::Error,
                    Some(rec.cell(extra).display().into_owned()),
                );
                self.issues.push(issue);
            }
        } else if n < width && !self.plan.headerless {
            // Without a header row, a short row's missing cells are empty.
            let issue = self.issue(
                rec.line(),
                None,
                None,
                codes::TOO_FEW_COLUMNS,
                format!("the row has {n} cells but {}", has(self.plan.headerless)),
                Severity::Error,
                None,
            );
            self.issues.push(issue);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn issue(
        &self,
        line: u64,
        col: Option<usize>,
        field: Option<&Field>,
        code: &'static str,
        message: String,
        severity: Severity,
        value: Option<String>,
    ) -> RowError {
        RowError {
            line,
            column: col.map(|c| c as u32 + 1),
            header: col.and_then(|c| self.plan.headers.get(c).cloned()),
            field: field.map(|f| f.key.clone()),
            code: Cow::Borrowed(code),
            message,
            severity,
            value,
            sheet: self.sheet.clone(),
        }
    }

    /// The usual cell: text borrowed from the chunk, converted without building a `CellRef`,
    /// straight into the field's slot.
    #[inline]
    fn field_text(&mut self, fi: usize, field: &'a Field, col: usize, raw: &'a str, line: u64) {
        let s = if self.opts.trim { trim(raw) } else { raw };
        if s.is_empty() || (!self.opts.trim && is_blank_text(s)) || (self.has_nulls && self.listed_null(s)) {
            return self.empty(fi, field, Some(col), line);
        }
        match convert_borrowed_into(&field.kind, s, &self.opts, &mut self.values[fi]) {
            Outcome::Value => self.check(fi, field, Some(col), line, s),
            Outcome::Empty => self.empty(fi, field, Some(col), line),
            Outcome::Invalid(fault) => self.invalid(fi, field, Some(col), line, &fault, Cow::Borrowed(s)),
        }
    }

    fn field(&mut self, fi: usize, field: &'a Field, col: Option<usize>, cell: CellRef<'a>, line: u64) {
        if let CellRef::Str(Cow::Borrowed(raw)) = cell
            && let Some(c) = col
        {
            return self.field_text(fi, field, c, raw, line);
        }
        if self.has_nulls && self.cell_is_null_marker(&cell) {
            return self.empty(fi, field, col, line);
        }
        let converted = convert_cell(&field.kind, cell, &self.opts);
        match converted.value {
            Converted::Valid(value) => self.validate(fi, field, col, line, value, &converted.text),
            Converted::Empty => self.empty(fi, field, col, line),
            Converted::Invalid(fault) => self.invalid(fi, field, col, line, &fault, converted.text),
        }
    }

    /// An empty cell, or a field without a column. The usual case (optional, no default) is
    /// settled inline.
    #[inline]
    fn empty(&mut self, fi: usize, field: &'a Field, col: Option<usize>, line: u64) {
        if !field.required && self.defaults[fi].is_none() {
            self.values[fi] = Value::Null;
            return;
        }
        self.empty_filled(fi, field, col, line)
    }

    /// [`RowEngine::empty`] for a field with a default or a required one.
    #[inline(never)]
    fn empty_filled(&mut self, fi: usize, field: &'a Field, col: Option<usize>, line: u64) {
        if let Some(default) = &self.defaults[fi] {
            // Validators read the text too (regex, one_of): give them the default's.
            let value = default.clone();
            return self.validate(fi, field, col, line, value, field.default.as_deref().unwrap_or_default().trim());
        }
        if field.required {
            let message = field.message(codes::REQUIRED, || format!("{} is required", field.label), "");
            let issue = self.issue(line, col, Some(field), codes::REQUIRED, message, Severity::Error, None);
            self.issues.push(issue);
        }
        self.values[fi] = Value::Null;
    }

    #[cold]
    fn invalid(
        &mut self,
        fi: usize,
        field: &'a Field,
        col: Option<usize>,
        line: u64,
        fault: &Fault,
        text: Cow<'a, str>,
    ) {
        let message = field.message(fault.code, || fault.message.clone(), &text);
        let issue = self.issue(line, col, Some(field), fault.code, message, Severity::Error, Some(text.to_string()));
        self.issues.push(issue);
        self.values[fi] = Value::Text(text);
    }

    fn validate(&mut self, fi: usize, field: &'a Field, col: Option<usize>, line: u64, value: Value<'a>, text: &str) {
        self.values[fi] = value;
        self.check(fi, field, col, line, text);
    }

    /// Runs the field's validators on the field's value (whose text is `text`) and notes its
    /// unique key.
    #[inline]
    fn check(&mut self, fi: usize, field: &'a Field, col: Option<usize>, line: u64, text: &str) {
        if field.validators.is_empty() && field.unique.is_none() {
            return;
        }
        for (vi, v) in field.validators.iter().enumerate() {
            let ok = match &v.check {
                // The engine's own copy of the matcher (see `regexes`).
                Check::Regex(_) => self.regexes[fi][vi].as_ref().is_none_or(|re| re.is_match(text)),
                check => passes(check, &mut self.values[fi], text, None, &field.kind),
            };
            if !ok {
                let code = v.check.code();
                let value = &self.values[fi];
                let builtin = || validator_message(&v.check, text, value);
                let message = match &v.message {
                    Some(m) => crate::template::fill_message(m, text, &field.label),
                    None => field.message(code, builtin, text),
                };
                let issue = self.issue(line, col, Some(field), code, message, v.severity, Some(text.to_string()));
                self.issues.push(issue);
            }
        }
        if let Some(mode) = field.unique {
            let key = unique_key(&self.values[fi], mode, &mut self.scratch);
            self.keys.push(PackedKey::pack(&KeyEntry { slot: fi as u16, key, line: self.row_line, valid: false }));
        }
    }

    /// The hash `dedupe` compares: every field's value, then every column carried through
    /// unmapped (by its header; an empty one counts as absent, as a short row leaves it), so two
    /// rows that differ only in a carried column are not one.
    fn row_hash(&mut self) -> u128 {
        self.scratch.clear();
        for v in &self.values {
            canonical_bytes(v, &mut self.scratch);
            self.scratch.push(0x1F);
        }
        for (c, text) in &self.unmapped {
            if text.is_empty() {
                continue;
            }
            // A column without a header by its position.
            let header = match self.plan.headers.get(*c).map_or("", String::as_str) {
                "" => Cow::Owned(format!("\u{1F}{c}")),
                h => composed(h),
            };
            for part in [header, composed(text)] {
                self.scratch.extend_from_slice(&(part.len() as u64).to_le_bytes());
                self.scratch.extend_from_slice(part.as_bytes());
            }
        }
        xxh3_128(&self.scratch)
    }
}

/// Whether a value, and its cell's text as written, passes one check. `regex` is the engine's
/// own copy of a regex check's matcher (none: the check's own). A text value `one_of` takes
/// becomes the choice's canonical spelling; a `uuid` is compared, and stays, as read (lower
/// case, no braces), not as written.
#[inline]
pub(crate) fn passes<'a>(
    check: &'a Check,
    value: &mut Value<'a>,
    text: &str,
    regex: Option<&Matcher>,
    kind: &Kind,
) -> bool {
    match check {
        Check::Regex(own) => regex.unwrap_or(own).is_match(text),
        Check::Min(bound) => within(value, bound, true),
        Check::Max(bound) => within(value, bound, false),
        // A string has at most as many characters as bytes, and at least a quarter as many: most
        // length checks are settled without counting.
        Check::MinLength(n) => {
            let n = *n as usize;
            match value {
                Value::Text(t) if t.len() < n => false,
                // Text is never empty (an empty cell is no value), so it has one character.
                Value::Text(t) if n <= 1 || t.len() >= MAX_DECOMPOSED_BYTES * n => true,
                value => length(value, text) >= n,
            }
        }
        Check::MaxLength(n) => {
            let n = *n as usize;
            match value {
                Value::Text(t) if t.len() <= n => true,
                value => length(value, text) <= n,
            }
        }
        Check::OneOf(choices) => match value {
            Value::Text(t) if matches!(kind, Kind::Uuid) => choices.lookup(t).is_some(),
            Value::Text(t) => match choices.lookup(text).or_else(|| choices.lookup(logical_as_json(text)?)) {
                Some(canonical) => {
                    *t = Cow::Borrowed(canonical);
                    true
                }
                None => false,
            },
            // Each item of a list is one of them; a typed value is, as read (`+1` is 1, and
            // `03/04/2020` the date the import's locale makes of it).
            Value::List(items) => items.iter().all(|item| choices.lookup(item).is_some()),
            value => choices.lookup(&choice_text(value)).is_some(),
        },
    }
}

/// A logical value as JSON spells it, for choices spelled so: a spreadsheet shows `TRUE` (an
/// enum does the same when converting), pandas writes `True`.
fn logical_as_json(text: &str) -> Option<&'static str> {
    if text.eq_ignore_ascii_case("true") {
        Some("true")
    } else if text.eq_ignore_ascii_case("false") {
        Some("false")
    } else {
        None
    }
}

fn length(value: &Value<'_>, text: &str) -> usize {
    match value {
        Value::List(items) => items.len(),
        Value::Text(t) => char_count(t),
        _ => char_count(text),
    }
}

/// Counts characters as written composed (NFC), so `Café` is 4 characters whether its `é` is one
/// character or an `e` and a combining accent, as `unique` and `one_of` already take it.
fn char_count(s: &str) -> usize {
    if s.is_ascii() {
        return s.len();
    }
    composed(s).chars().count()
}

/// The most bytes one composed character can take when written decomposed: a Hangul syllable
/// as three 3-byte jamo is 9, a Greek letter with three accents is 8; 12 leaves room to spare.
/// Text of `n` times as many bytes has at least `n` characters.
const MAX_DECOMPOSED_BYTES: usize = 12;

fn validator_message(check: &Check, text: &str, value: &Value<'_>) -> String {
    let is_list = matches!(value, Value::List(_));
    let shown: String = if text.chars().count() > 60 {
        format!("{}...", text.chars().take(57).collect::<String>())
    } else {
        text.to_string()
    };
    match check {
        Check::Regex(re) => format!("'{shown}' does not match the pattern {}", re.as_str()),
        Check::Min(b) => format!("'{shown}' is less than the minimum {}", b.to_text()),
        Check::Max(b) => format!("'{shown}' is more than the maximum {}", b.to_text()),
        Check::MinLength(n) if is_list => {
            format!("'{shown}' has fewer than {n} {}", if *n == 1 { "item" } else { "items" })
        }
        Check::MaxLength(n) if is_list => {
            format!("'{shown}' has more than {n} {}", if *n == 1 { "item" } else { "items" })
        }
        Check::MinLength(n) => {
            format!("'{shown}' is shorter than {n} {}", if *n == 1 { "character" } else { "characters" })
        }
        Check::MaxLength(n) => {
            format!("'{shown}' is longer than {n} {}", if *n == 1 { "character" } else { "characters" })
        }
        Check::OneOf(choices) => {
            let values: Vec<&str> = choices.values.iter().take(12).map(String::as_str).collect();
            // A list names its first item that is not one of them, as a multi-enum does.
            let item = match value {
                Value::List(items) => items.iter().find(|item| choices.lookup(item).is_none()),
                _ => None,
            };
            match item {
                Some(item) => format!("'{item}' is not one of: {}", values.join(", ")),
                None => format!("'{shown}' is not one of: {}", values.join(", ")),
            }
        }
    }
}

fn canonical_bytes(v: &Value<'_>, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(0),
        Value::Text(t) => {
            out.push(1);
            out.extend_from_slice(composed(t).as_bytes());
        }
        Value::Integer(i) => {
            out.push(2);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Decimal(d) => {
            out.push(3);
            out.extend_from_slice(d.normalize().to_string().as_bytes());
        }
        Value::Boolean(b) => out.extend_from_slice(&[4, u8::from(*b)]),
        Value::Date(d) => {
            out.push(5);
            out.extend_from_slice(&d.year().to_le_bytes());
            out.extend_from_slice(&[d.month() as u8, d.day() as u8]);
        }
        Value::DateTime(dt, offset) => {
            out.push(6);
            let (secs, nanos) = crate::value::instant(*dt, *offset);
            out.extend_from_slice(&secs.to_le_bytes());
            out.extend_from_slice(&nanos.to_le_bytes());
        }
        Value::List(items) => {
            out.push(7);
            // Each item after its length, so no item's bytes can pass for a boundary.
            for item in items {
                let item = composed(item);
                out.extend_from_slice(&(item.len() as u64).to_le_bytes());
                out.extend_from_slice(item.as_bytes());
            }
        }
    }
}

/// The key under which `unique` compares a value: integers exactly, everything else by a
/// 128-bit hash of its canonical form (text composed, and case-folded for `case_insensitive`).
pub fn unique_key(value: &Value<'_>, mode: UniqueMode, scratch: &mut Vec<u8>) -> u128 {
    match (value, mode) {
        (Value::Integer(i), _) => u128::from(*i as u64),
        (Value::Text(t), UniqueMode::Exact) => xxh3_128(composed(t).as_bytes()),
        (Value::Text(t), UniqueMode::CaseInsensitive) => xxh3_128(composed(t).to_lowercase().as_bytes()),
        (Value::List(items), UniqueMode::CaseInsensitive) => {
            let folded = Value::List(items.iter().map(|i| Cow::Owned(composed(i).to_lowercase())).collect());
            scratch.clear();
            canonical_bytes(&folded, scratch);
            xxh3_128(scratch)
        }
        (other, _) => {
            scratch.clear();
            canonical_bytes(other, scratch);
            xxh3_128(scratch)
        }
    }
}

#[cfg(test)]
mod tests;
