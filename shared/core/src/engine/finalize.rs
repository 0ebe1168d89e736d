//! The whole-file decisions finalize makes after every chunk is done.
//!
//! `unique` and `dedupe` cannot be decided inside one chunk: a value may first appear in a chunk
//! processed later. Chunks therefore only record keys; [`find_duplicates`] sorts all of them
//! and marks every occurrence after the first (by line) as a duplicate, which is the same answer
//! a single pass over the file gives, whatever the chunk order.

use std::borrow::Cow;

use super::{KeyEntry, PackedKey, ROW_HASH_SLOT};
use crate::codes;
use crate::mapping::ColumnPlan;
use crate::results::{RowError, Severity};
use crate::template::Schema;

/// What a duplicate repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DuplicateOf {
    /// An earlier line of the same file.
    Line(u64),
    /// A row delivered by an earlier import.
    Import(String),
}

/// A row that repeats a value (or a whole row) that must be unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// Line of the repeating row.
    pub line: u64,
    /// Field index, or the row-hash slot.
    pub slot: u16,
    /// What it repeats.
    pub of: DuplicateOf,
    /// Whether the repeating row was otherwise valid (and so becomes invalid now).
    pub row_valid: bool,
}

/// Finds every key occurrence after the first, sorted by line then slot.
pub fn find_duplicates(keys: Vec<KeyEntry>) -> Vec<Duplicate> {
    find_duplicates_packed(keys.iter().map(PackedKey::pack).collect())
}

/// [`find_duplicates`] over packed entries (what finalize holds for a whole file).
pub fn find_duplicates_packed(mut keys: Vec<PackedKey>) -> Vec<Duplicate> {
    // A stable merge sort finds the long ascending runs that ids in file order make: close to
    // linear on the usual file.
    keys.sort();
    let mut dups = Vec::new();
    let mut i = 0;
    while i < keys.len() {
        let first = keys[i];
        let mut j = i + 1;
        while j < keys.len() && keys[j].same_value(&first) {
            let (dup, original) = (keys[j].unpack(), first.unpack());
            dups.push(Duplicate {
                line: dup.line,
                slot: dup.slot,
                of: DuplicateOf::Line(original.line),
                row_valid: dup.valid,
            });
            j += 1;
        }
        i = j;
    }
    dups.sort_unstable_by_key(|d| (d.line, d.slot));
    dups
}

/// How many otherwise-valid rows the duplicates make invalid (`dups` sorted by line).
pub fn rows_made_invalid(dups: &[Duplicate]) -> u64 {
    let mut count = 0;
    let mut last = None;
    for d in dups.iter().filter(|d| d.row_valid) {
        if last != Some(d.line) {
            count += 1;
            last = Some(d.line);
        }
    }
    count
}

/// The error a duplicate becomes. `value` is the repeated value, when known.
pub fn duplicate_error(schema: &Schema, plan: &ColumnPlan, dup: &Duplicate, value: Option<String>) -> RowError {
    let whence = match &dup.of {
        DuplicateOf::Line(line) => format!("line {line}"),
        DuplicateOf::Import(import) => format!("import {import}"),
    };
    if dup.slot == ROW_HASH_SLOT {
        return RowError {
            line: dup.line,
            column: None,
            header: None,
            field: None,
            code: Cow::Borrowed(codes::DUPLICATE_ROW),
            message: format!("this row repeats the row at {whence}"),
            severity: Severity::Error,
            value: None,
            sheet: None,
        };
    }
    let field = &schema.fields[dup.slot as usize];
    let col = plan.field_columns.get(dup.slot as usize).copied().flatten();
    let shown = value.as_deref().map(|v| format!(" '{v}'")).unwrap_or_default();
    let builtin = || format!("{}{shown} already appears at {whence}", field.label);
    RowError {
        line: dup.line,
        column: col.map(|c| c as u32 + 1),
        header: col.and_then(|c| plan.headers.get(c).cloned()),
        field: Some(field.key.clone()),
        code: Cow::Borrowed(codes::NOT_UNIQUE),
        message: field.message(codes::NOT_UNIQUE, builtin, value.as_deref().unwrap_or("")),
        severity: Severity::Error,
        value,
        sheet: None,
    }
}

/// The line number at the start of a row's JSON (`{"line":N,...`).
pub fn row_line(json: &[u8]) -> Option<u64> {
    let rest = json.strip_prefix(b"{\"line\":")?;
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// A row's JSON line with more errors added (valid rows gain an `errors` array).
pub fn add_errors(row_json: &str, errors: &[RowError]) -> String {
    let body = row_json.trim_end_matches('\n');
    let mut out = String::with_capacity(body.len() + 200 * errors.len());
    let encoded: Vec<String> = errors.iter().filter_map(|e| serde_json::to_string(e).ok()).collect();
    if let Some(head) = body.strip_suffix("]}")
        && head.contains(",\"errors\":[")
    {
        out.push_str(head);
        for e in &encoded {
            out.push(',');
            out.push_str(e);
        }
        out.push_str("]}\n");
        return out;
    }
    out.push_str(body.strip_suffix('}').unwrap_or(body));
    out.push_str(",\"errors\":[");
    out.push_str(&encoded.join(","));
    out.push_str("]}\n");
    out
}

/// A field's value as written in a row's JSON, for duplicate messages.
pub fn value_in_row(row_json: &str, key: &str) -> Option<String> {
    let row: serde_json::Value = serde_json::from_str(row_json).ok()?;
    match row.get("values")?.get(key)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_after_the_first_is_a_duplicate_whatever_the_input_order() {
        let k = |slot, key, line| KeyEntry { slot, key, line, valid: line != 90 };
        let keys = vec![
            k(0, 7, 90),
            k(0, 7, 12),
            k(1, 7, 12),
            k(0, 8, 3),
            k(0, 7, 40),
            k(ROW_HASH_SLOT, 1, 5),
            k(ROW_HASH_SLOT, 1, 2),
        ];
        let dups = find_duplicates(keys);
        assert_eq!(
            dups,
            vec![
                Duplicate { line: 5, slot: ROW_HASH_SLOT, of: DuplicateOf::Line(2), row_valid: true },
                Duplicate { line: 40, slot: 0, of: DuplicateOf::Line(12), row_valid: true },
                Duplicate { line: 90, slot: 0, of: DuplicateOf::Line(12), row_valid: false },
            ]
        );
    }

    #[test]
    fn errors_are_added_to_valid_and_invalid_rows_alike() {
        let e = RowError {
            line: 3,
            column: Some(1),
            header: None,
            field: Some("id".into()),
            code: "not_unique".into(),
            message: "dup".into(),
            severity: Severity::Error,
            value: Some("7".into()),
            sheet: None,
        };
        let valid = "{\"line\":3,\"values\":{\"id\":7}}\n";
        let out = add_errors(valid, std::slice::from_ref(&e));
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["errors"][0]["code"], "not_unique");
        let again = add_errors(&out, std::slice::from_ref(&e));
        let parsed: serde_json::Value = serde_json::from_str(&again).unwrap();
        assert_eq!(parsed["errors"].as_array().unwrap().len(), 2);
        assert_eq!(row_line(again.as_bytes()), Some(3));
        assert_eq!(value_in_row(valid, "id").as_deref(), Some("7"));
    }
}
