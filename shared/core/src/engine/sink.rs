//! The output of a chunk: its rows as JSON lines, its messages, and its share of `errors.jsonl`
//! and `results.csv` already rendered, each in line order.
//!
//! Row shape (the same in `rows.jsonl`, webhook batches and the rows API):
//! `{"line":N,"values":{"key":value,...}}`, plus `"unmapped":{header:text}` when pass-through is
//! on, plus `"errors":[...]` (always last) on invalid rows, every message of the row, or
//! `"warnings":[...]` on valid rows that have some.

use super::{RowSink, RowView};
use crate::json::JsonOut;
use crate::mapping::ColumnPlan;
use crate::results::RowError;
use crate::template::Schema;

/// Which rows a chunk's row file holds, from `invalid_data_behavior`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowsMode {
    /// Valid rows only; invalid rows go to a side file (`REMOVE_INVALID_ROWS`).
    ValidOnly,
    /// Every row in line order, invalid ones with their errors (`INCLUDE_INVALID_ROWS`, and
    /// `BLOCK_SUBMIT`, whose reviewers see every row).
    All,
}

/// Collects a chunk's output.
#[derive(Debug)]
pub struct JsonSink<'s> {
    schema: &'s Schema,
    plan: &'s ColumnPlan,
    mode: RowsMode,
    /// Rows, as [`RowsMode`] says.
    pub rows: JsonOut,
    /// Invalid rows, with their errors (only in [`RowsMode::ValidOnly`]).
    pub invalid: JsonOut,
    /// Every message (errors, warnings, skipped-row notes), one JSON object per line.
    pub messages: String,
    /// Errors and warnings as `errors.jsonl` lines; `None` while they are `messages` itself
    /// (no skipped-row note came yet), so error-heavy chunks hold and write them once.
    pub errors: Option<String>,
    /// Every message as `results.csv` lines.
    pub results: String,
    /// Where each row of `rows` starts (see [`crate::pipeline::RowSpan`]).
    pub rows_index: Vec<u8>,
    /// Where each row of `invalid` starts.
    pub invalid_index: Vec<u8>,
}

impl<'s> JsonSink<'s> {
    /// An empty sink.
    pub fn new(schema: &'s Schema, plan: &'s ColumnPlan, mode: RowsMode) -> JsonSink<'s> {
        JsonSink {
            schema,
            plan,
            mode,
            rows: JsonOut::new(),
            invalid: JsonOut::new(),
            messages: String::new(),
            errors: None,
            results: String::new(),
            rows_index: Vec::new(),
            invalid_index: Vec::new(),
        }
    }

    /// Reserves room for a chunk of about `input_bytes` bytes.
    pub fn with_capacity(mut self, input_bytes: usize) -> Self {
        // JSON rows run about twice the size of the CSV they come from; one reallocation
        // would copy megabytes.
        self.rows = JsonOut::with_capacity(input_bytes * 5 / 2 + 1024);
        self
    }

    fn message(&mut self, e: &RowError) {
        let start = self.messages.len();
        e.write_jsonl(&mut self.messages);
        let note = e.severity == crate::results::Severity::Info;
        match &mut self.errors {
            None if note => self.errors = Some(self.messages[..start].to_string()),
            Some(errors) if !note => errors.push_str(&self.messages[start..]),
            _ => {}
        }
        e.write_results_csv(&mut self.results);
    }
}

/// Appends one row as a JSON line: an invalid row with its messages under `errors`, a valid one
/// with its warnings, if any, under `warnings` (webhooks and the rows API send this shape, so a
/// warning reaches whoever takes the row).
pub fn write_row(out: &mut JsonOut, schema: &Schema, plan: &ColumnPlan, row: &RowView<'_, '_>) {
    out.push_str("{\"line\":");
    out.push_u64(row.line);
    out.push_str(",\"values\":");
    let open = out.len();
    for (field, value) in schema.fields.iter().zip(row.values) {
        // `,"key":` each, the first comma then turned into the `{`.
        out.push_snippet(&field.json_key);
        value.write_json(out);
    }
    if out.len() == open {
        out.push_ascii(b'{');
    } else {
        out.replace_ascii(open, b'{');
    }
    out.push_ascii(b'}');
    if !row.unmapped.is_empty() {
        out.push_str(",\"unmapped\":{");
        for (i, (col, text)) in row.unmapped.iter().enumerate() {
            if i > 0 {
                out.push_ascii(b',');
            }
            out.push_json_str(plan.unmapped_key(*col));
            out.push_ascii(b':');
            out.push_json_str(text);
        }
        out.push_ascii(b'}');
    }
    if !row.issues.is_empty() {
        out.push_str(if row.valid { ",\"warnings\":[" } else { ",\"errors\":[" });
        for (i, issue) in row.issues.iter().enumerate() {
            if i > 0 {
                out.push_ascii(b',');
            }
            if let Ok(json) = serde_json::to_string(issue) {
                out.push_str(&json);
            }
        }
        out.push_ascii(b']');
    }
    out.push_str("}\n");
}

impl RowSink for JsonSink<'_> {
    fn row(&mut self, row: &RowView<'_, '_>) {
        let (out, index) = match (row.valid, self.mode) {
            (true, _) | (false, RowsMode::All) => (&mut self.rows, &mut self.rows_index),
            (false, RowsMode::ValidOnly) => (&mut self.invalid, &mut self.invalid_index),
        };
        index.extend_from_slice(&row.line.to_le_bytes());
        index.extend_from_slice(&(out.len() as u64).to_le_bytes());
        write_row(out, self.schema, self.plan, row);
        for issue in row.issues {
            self.message(issue);
        }
    }

    fn skipped(&mut self, note: &RowError) {
        self.message(note);
    }
}
