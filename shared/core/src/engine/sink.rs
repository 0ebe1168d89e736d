//! The JSON-lines output of a chunk: valid rows, invalid rows and messages, each in line order.
//!
//! Row shape (the same in `rows.jsonl`, webhook batches and the rows API):
//! `{"line":N,"values":{"key":value,...}}`, plus `"unmapped":{header:text}` when pass-through is
//! on, plus `"errors":[...]` (always last) on invalid rows.

use super::{RowSink, RowView};
use crate::mapping::ColumnPlan;
use crate::results::{RowError, push_json_str};
use crate::template::Schema;

/// Collects a chunk's output as JSON lines.
#[derive(Debug)]
pub struct JsonSink<'s> {
    schema: &'s Schema,
    plan: &'s ColumnPlan,
    /// Valid rows.
    pub valid: String,
    /// Invalid rows, with their errors.
    pub invalid: String,
    /// Every message (errors, warnings, skipped-row notes), one JSON object per line.
    pub messages: String,
}

impl<'s> JsonSink<'s> {
    /// An empty sink.
    pub fn new(schema: &'s Schema, plan: &'s ColumnPlan) -> JsonSink<'s> {
        JsonSink { schema, plan, valid: String::new(), invalid: String::new(), messages: String::new() }
    }
}

/// Appends one row as a JSON line.
pub fn write_row(out: &mut String, schema: &Schema, plan: &ColumnPlan, row: &RowView<'_, '_>, with_errors: bool) {
    out.push_str("{\"line\":");
    out.push_str(itoa::Buffer::new().format(row.line));
    out.push_str(",\"values\":{");
    for (i, (field, value)) in schema.fields.iter().zip(row.values).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&field.json_key);
        value.write_json(out);
    }
    out.push('}');
    if !row.unmapped.is_empty() {
        out.push_str(",\"unmapped\":{");
        for (i, (col, text)) in row.unmapped.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_str(out, &plan.headers[*col]);
            out.push(':');
            push_json_str(out, text);
        }
        out.push('}');
    }
    if with_errors && !row.issues.is_empty() {
        out.push_str(",\"errors\":[");
        for (i, issue) in row.issues.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            if let Ok(json) = serde_json::to_string(issue) {
                out.push_str(&json);
            }
        }
        out.push(']');
    }
    out.push_str("}\n");
}

impl RowSink for JsonSink<'_> {
    fn row(&mut self, row: &RowView<'_, '_>) {
        if row.valid {
            write_row(&mut self.valid, self.schema, self.plan, row, false);
        } else {
            write_row(&mut self.invalid, self.schema, self.plan, row, true);
        }
        for issue in row.issues {
            issue.write_jsonl(&mut self.messages);
        }
    }

    fn skipped(&mut self, note: &RowError) {
        note.write_jsonl(&mut self.messages);
    }
}
