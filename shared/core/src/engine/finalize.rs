//! The whole-file decisions finalize makes after every chunk is done.
//!
//! `unique` and `dedupe` cannot be decided inside one chunk: a value may first appear in a chunk
//! processed later. Chunks therefore only record keys; [`find_duplicates`] groups equal keys
//! of the whole file and marks every occurrence after the first (by line) as a duplicate, which
//! is the same answer a single pass over the file gives, whatever the chunk order.

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
///
/// Files usually list their ids in ascending order, so the keys above every key before them
/// (the ascending run) are already sorted and repeat nothing among themselves. Only the rest
/// (repeats, and keys out of order) is sorted; each of its values is then looked up in the run.
/// Keys in random order (hashes) all land in the rest: a plain sort, as before.
pub fn find_duplicates_packed(mut keys: Vec<PackedKey>) -> Vec<Duplicate> {
    let mut rest = Vec::new();
    let mut kept = 0;
    for i in 0..keys.len() {
        let k = keys[i];
        if kept == 0 || k.value() > keys[kept - 1].value() {
            keys[kept] = k;
            kept += 1;
        } else {
            rest.push(k);
        }
    }
    keys.truncate(kept);
    let run = keys;
    rest.sort_unstable();
    let mut dups = Vec::new();
    let mut group: Vec<PackedKey> = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        let value = rest[i].value();
        group.clear();
        while i < rest.len() && rest[i].value() == value {
            group.push(rest[i]);
            i += 1;
        }
        let at = run.partition_point(|k| k.value() < value);
        if at < run.len() && run[at].value() == value {
            group.push(run[at]);
        }
        if group.len() < 2 {
            continue;
        }
        // Entries sort by value, then line: the first is the original.
        group.sort_unstable();
        let original = group[0].unpack();
        dups.extend(group[1..].iter().map(|k| {
            let dup = k.unpack();
            Duplicate { line: dup.line, slot: dup.slot, of: DuplicateOf::Line(original.line), row_valid: dup.valid }
        }));
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

    /// The answer by definition: sort everything, every entry after the first of its value
    /// repeats it.
    fn naive(keys: &[KeyEntry]) -> Vec<Duplicate> {
        let mut sorted: Vec<PackedKey> = keys.iter().map(PackedKey::pack).collect();
        sorted.sort();
        let mut dups = Vec::new();
        for (i, k) in sorted.iter().enumerate() {
            let first = sorted.iter().position(|o| o.value() == k.value()).unwrap();
            if first != i {
                let (dup, original) = (k.unpack(), sorted[first].unpack());
                dups.push(Duplicate {
                    line: dup.line,
                    slot: dup.slot,
                    of: DuplicateOf::Line(original.line),
                    row_valid: dup.valid,
                });
            }
        }
        dups.sort_unstable_by_key(|d| (d.line, d.slot));
        dups
    }

    #[test]
    fn duplicates_are_found_in_ascending_shuffled_and_mixed_key_orders() {
        // A small deterministic generator: ids mostly ascending with repeats of earlier ids,
        // shuffled ids, hashes, several slots, and chunks concatenated out of order.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..200 {
            let n = next() % 400 + 1;
            let mut keys = Vec::new();
            for line in 2..n + 2 {
                let r = next();
                let key = match round % 4 {
                    0 if r % 10 == 0 => u128::from(r % line),
                    0 => u128::from(line),
                    1 => u128::from(r % (n / 2 + 1)),
                    2 => u128::from(r) << 64 | u128::from(next()),
                    _ => u128::from(if r % 3 == 0 { r % 7 } else { line }),
                };
                let slot = if round % 4 == 3 { (r % 3) as u16 } else { 0 };
                keys.push(KeyEntry { slot, key, line, valid: r % 5 != 0 });
            }
            if round % 8 == 7 {
                let half = keys.len() / 2;
                keys.rotate_left(half);
            }
            assert_eq!(find_duplicates(keys.clone()), naive(&keys), "round {round}");
        }
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
