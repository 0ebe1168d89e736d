//! The whole-file decisions finalize makes after every chunk is done.
//!
//! `unique` and `dedupe` cannot be decided inside one chunk: a value may first appear in a chunk
//! processed later. Chunks therefore only record keys; [`find_duplicates`] groups equal keys
//! of the whole file and marks every occurrence after the first (by line) as a duplicate, which
//! is the same answer a single pass over the file gives, whatever the chunk order.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

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

/// Finds every occurrence of a value but the one that keeps it, sorted by line then slot. The
/// first valid row holding a value keeps it (the first row when none is valid): a row with an
/// error is not delivered under `REMOVE_INVALID_ROWS`, so a valid row after it must not be
/// removed as its repeat, leaving the value delivered by no row. A row that repeats one unique
/// value is invalid, so it keeps none of its other values either.
pub fn find_duplicates(keys: Vec<KeyEntry>) -> Vec<Duplicate> {
    find_duplicates_in_runs(vec![keys.iter().map(PackedKey::pack).collect()])
}

/// [`find_duplicates`] over runs of packed entries: one run per chunk, as finalize reads them.
///
/// Chunk workers store their keys sorted ([`sort_keys`]), so finalize only merges: runs are
/// merged by their heads, and the part of the leading run that comes before every other head
/// is taken at once, so runs that do not overlap (ascending ids, chunk after chunk) cost one
/// pass. In the merged order equal values are adjacent, in line order: every one but the
/// first valid one (or the first) is a duplicate of it. A run that is not sorted (a chunk
/// written by an earlier version) is sorted here first.
///
/// Each run is a vector of its own, so the file's keys never need one large allocation (which
/// the allocator would map afresh, on top of the memory the chunks freed).
pub fn find_duplicates_in_runs(mut runs: Vec<Vec<PackedKey>>) -> Vec<Duplicate> {
    runs.retain(|run| !run.is_empty());
    for run in &mut runs {
        if !run.is_sorted() {
            *run = sort_keys(std::mem::take(run));
        }
    }
    let mut next = vec![0usize; runs.len()];
    let mut heads: BinaryHeap<Reverse<(PackedKey, usize)>> =
        runs.iter().enumerate().map(|(r, run)| Reverse((run[0], r))).collect();
    let mut repeated = Repeated::default();
    // The entries of the value being read (one, nearly always).
    let mut group: Vec<PackedKey> = Vec::new();
    while let Some(Reverse((_, r))) = heads.pop() {
        let run = &runs[r];
        let start = next[r];
        let end = match heads.peek() {
            Some(Reverse((limit, _))) => start + 1 + gallop(&run[start + 1..], limit),
            None => run.len(),
        };
        for k in &run[start..end] {
            if group.last().is_some_and(|g| g.value() != k.value()) {
                repeated.take(&mut group);
            }
            group.push(*k);
        }
        next[r] = end;
        if end < run.len() {
            heads.push(Reverse((run[end], r)));
        }
    }
    repeated.take(&mut group);
    settle(&repeated)
}

/// The values held by more than one row: their entries, value after value, each value's in line
/// order.
#[derive(Default)]
struct Repeated {
    /// Line, slot and validity of each entry (the value itself is no longer needed).
    entries: Vec<Holder>,
    /// Where each value's entries start in `entries`.
    starts: Vec<usize>,
}

impl Repeated {
    /// Keeps the entries of one value (in line order) if more than one row holds it, emptying
    /// `group`.
    #[inline]
    fn take(&mut self, group: &mut Vec<PackedKey>) {
        if group.len() > 1 {
            self.starts.push(self.entries.len());
            self.entries.extend(group.iter().map(|k| {
                let e = k.unpack();
                Holder { line: e.line, slot: e.slot, valid: e.valid }
            }));
        }
        group.clear();
    }

    fn values(&self) -> impl Iterator<Item = &[Holder]> {
        let ends = self.starts.iter().skip(1).copied().chain([self.entries.len()]);
        self.starts.iter().zip(ends).map(|(&start, end)| &self.entries[start..end])
    }
}

/// One row's entry for a repeated value.
#[derive(Clone, Copy)]
struct Holder {
    line: u64,
    slot: u16,
    valid: bool,
}

/// Which row keeps each repeated value, and so every other occurrence: the duplicates, sorted by
/// line then slot.
///
/// Rows are taken in line order, as one pass over the file would: a row keeps its values when
/// it was valid in its chunk and none of its values is kept by an earlier row. A row that
/// repeats one value (an `id`) is invalid, so it keeps none of its others (its `email`): a later
/// valid row holding that e-mail keeps it, where taking each value apart would have made the
/// later row its repeat and removed both, leaving the e-mail delivered by no row. A value that
/// no row keeps stays with the first row holding it.
fn settle(repeated: &Repeated) -> Vec<Duplicate> {
    // (line, value, valid in its chunk) for every entry of a repeated value, in line order.
    let mut holders: Vec<(u64, usize, bool)> = Vec::with_capacity(repeated.entries.len());
    for (value, entries) in repeated.values().enumerate() {
        holders.extend(entries.iter().map(|e| (e.line, value, e.valid)));
    }
    holders.sort_unstable();
    let mut keeper: Vec<Option<u64>> = vec![None; repeated.starts.len()];
    for row in holders.chunk_by(|a, b| a.0 == b.0) {
        let (line, _, valid) = row[0];
        if valid && row.iter().all(|&(_, value, _)| keeper[value].is_none()) {
            for &(_, value, _) in row {
                keeper[value] = Some(line);
            }
        }
    }
    let mut dups = Vec::new();
    for (entries, keeper) in repeated.values().zip(keeper) {
        let of = keeper.unwrap_or(entries[0].line);
        dups.extend(entries.iter().filter(|e| e.line != of).map(|e| Duplicate {
            line: e.line,
            slot: e.slot,
            of: DuplicateOf::Line(of),
            row_valid: e.valid,
        }));
    }
    dups.sort_unstable_by_key(|d| (d.line, d.slot));
    dups
}

/// Sorts one chunk's keys for [`find_duplicates_in_runs`].
///
/// Files usually list their ids in ascending order, so the keys above every key before them
/// (the ascending run) are already in order; only the rest (repeats, and keys out of order) is
/// sorted, then merged in. Keys in random order (hashes) all land in the rest: a plain sort.
pub fn sort_keys(keys: Vec<PackedKey>) -> Vec<PackedKey> {
    let mut run = Vec::with_capacity(keys.len());
    let mut rest = Vec::new();
    for k in keys {
        match run.last() {
            Some(last) if k <= *last => rest.push(k),
            _ => run.push(k),
        }
    }
    if rest.is_empty() {
        return run;
    }
    rest.sort_unstable();
    let mut merged = Vec::with_capacity(run.len() + rest.len());
    let (mut i, mut j) = (0, 0);
    while i < run.len() && j < rest.len() {
        if run[i] < rest[j] {
            merged.push(run[i]);
            i += 1;
        } else {
            merged.push(rest[j]);
            j += 1;
        }
    }
    merged.extend_from_slice(&run[i..]);
    merged.extend_from_slice(&rest[j..]);
    merged
}

/// How many keys at the start of the sorted `run` are below `limit`: doubling steps, then a
/// binary search in the last step, so a short answer costs a comparison or two.
fn gallop(run: &[PackedKey], limit: &PackedKey) -> usize {
    let mut below = 0;
    let mut step = 1;
    while below < run.len() {
        let probe = (below + step).min(run.len());
        if run[probe - 1] < *limit {
            below = probe;
            step *= 2;
        } else {
            return below + run[below..probe - 1].partition_point(|k| k < limit);
        }
    }
    below
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
    // The row that keeps a value is the first valid one holding it, so an invalid row before it
    // repeats a value that a later line holds.
    let builtin = || match &dup.of {
        DuplicateOf::Line(kept) if *kept > dup.line => {
            format!("{}{shown} also appears at {whence}, which keeps it as the first valid row", field.label)
        }
        _ => format!("{}{shown} already appears at {whence}", field.label),
    };
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

/// A row's JSON line with more errors added (valid rows gain an `errors` array, which takes in
/// their `warnings`: an invalid row carries every message under `errors`).
pub fn add_errors(row_json: &str, errors: &[RowError]) -> String {
    let body = row_json.trim_end_matches('\n');
    let mut out = String::with_capacity(body.len() + 200 * errors.len());
    let encoded: Vec<String> = errors.iter().filter_map(|e| serde_json::to_string(e).ok()).collect();
    // Keys and text are JSON strings, whose quotes are escaped: `,"warnings":[` is the key.
    const WARNINGS: &str = ",\"warnings\":[";
    if let Some(head) = body.strip_suffix("]}")
        && let Some(at) = head.rfind(WARNINGS)
        && !head.contains(",\"errors\":[")
    {
        out.push_str(&head[..at]);
        out.push_str(",\"errors\":[");
        out.push_str(&head[at + WARNINGS.len()..]);
        for e in &encoded {
            out.push(',');
            out.push_str(e);
        }
        out.push_str("]}\n");
        return out;
    }
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
///
/// Only that value is built: the rest of the row is read past, not into a map of values (a
/// chunk whose every row repeats an id spent half its finalize building them).
pub fn value_in_row(row_json: &str, key: &str) -> Option<String> {
    use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
    use std::borrow::Cow;

    /// The value at a path of keys into nested objects; every other value is read past.
    struct At<'p>(&'p [&'p str]);

    impl<'de> DeserializeSeed<'de> for At<'_> {
        type Value = Option<serde_json::Value>;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            match self.0 {
                [] => serde::Deserialize::deserialize(d).map(Some),
                _ => d.deserialize_map(self),
            }
        }
    }
    impl<'de> Visitor<'de> for At<'_> {
        type Value = Option<serde_json::Value>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(name) = map.next_key::<Cow<'de, str>>()? {
                if name == self.0[0] {
                    found = map.next_value_seed(At(&self.0[1..]))?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }

    let mut de = serde_json::Deserializer::from_str(row_json);
    let value = At(&["values", key]).deserialize(&mut de).ok()?;
    de.end().ok()?;
    match value? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_read_from_a_row_as_written() {
        let row = r#"{"line":4,"values":{"a\"b":"x\ny","n":15,"tags":["p","q"],"none":null,"id":"7"},"errors":[{"code":"c","value":"{\"id\":1}"}]}"#;
        assert_eq!(value_in_row(row, "id").as_deref(), Some("7"));
        assert_eq!(value_in_row(row, "a\"b").as_deref(), Some("x\ny"));
        assert_eq!(value_in_row(row, "n").as_deref(), Some("15"));
        assert_eq!(value_in_row(row, "tags").as_deref(), Some(r#"["p","q"]"#));
        assert_eq!(value_in_row(row, "none"), None);
        assert_eq!(value_in_row(row, "missing"), None);
        assert_eq!(value_in_row(&format!("{row}\n"), "id").as_deref(), Some("7"));
        assert_eq!(value_in_row(r#"{"line":4,"values":[1]}"#, "id"), None);
        assert_eq!(value_in_row(r#"{"line":4,"values":{"id":7}} x"#, "id"), None);
        assert_eq!(value_in_row("[1]", "id"), None);
    }

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
    fn the_first_valid_row_keeps_a_value_that_invalid_rows_before_it_hold() {
        let k = |key, line, valid| KeyEntry { slot: 0, key, line, valid };
        let keys = vec![k(1, 2, false), k(1, 3, true), k(1, 4, true), k(2, 5, false), k(2, 6, false)];
        assert_eq!(
            find_duplicates(keys),
            vec![
                Duplicate { line: 2, slot: 0, of: DuplicateOf::Line(3), row_valid: false },
                Duplicate { line: 4, slot: 0, of: DuplicateOf::Line(3), row_valid: true },
                Duplicate { line: 6, slot: 0, of: DuplicateOf::Line(5), row_valid: false },
            ]
        );
    }

    #[test]
    fn a_row_that_repeats_one_unique_value_keeps_none_of_its_others() {
        // Line 3 repeats line 2's id (slot 0); its e-mail (slot 1) is then kept by line 4, the
        // first valid row holding it, so REMOVE_INVALID_ROWS still delivers that e-mail. Line 5
        // repeats line 4's e-mail; its id 9 goes to line 6 (line 5 is named its repeat, as an
        // invalid row before the keeper is), and line 7's id 9 repeats line 6. Line 8, invalid in
        // its chunk, keeps nothing, but no valid row holds its id 5: it stays with line 8.
        let k = |slot, key, line, valid| KeyEntry { slot, key, line, valid };
        let keys = vec![
            k(0, 1, 2, true),
            k(1, 100, 2, true),
            k(0, 1, 3, true),
            k(1, 200, 3, true),
            k(0, 2, 4, true),
            k(1, 200, 4, true),
            k(0, 9, 5, true),
            k(1, 200, 5, true),
            k(0, 9, 6, true),
            k(1, 300, 6, true),
            k(0, 9, 7, true),
            k(1, 400, 7, true),
            k(0, 5, 8, false),
            k(0, 5, 9, false),
        ];
        let dup = |line, slot, of, row_valid| Duplicate { line, slot, of: DuplicateOf::Line(of), row_valid };
        assert_eq!(
            find_duplicates(keys),
            vec![
                dup(3, 0, 2, true),
                dup(3, 1, 4, true),
                dup(5, 0, 6, true),
                dup(5, 1, 4, true),
                dup(7, 0, 6, true),
                dup(9, 0, 8, false),
            ]
        );
    }

    /// The answer by definition: rows in line order, each keeping its values if it was valid
    /// and none of them is kept yet; every entry but the keeper's (or the first, when no row
    /// keeps the value) repeats it.
    fn naive(keys: &[KeyEntry]) -> Vec<Duplicate> {
        let value = |k: &KeyEntry| (k.slot, k.key);
        let mut lines: Vec<u64> = keys.iter().map(|k| k.line).collect();
        lines.sort_unstable();
        lines.dedup();
        let mut kept: Vec<((u16, u128), u64)> = Vec::new();
        let keeper = |kept: &[((u16, u128), u64)], v| kept.iter().find(|(kv, _)| *kv == v).map(|(_, l)| *l);
        for line in lines {
            let row: Vec<&KeyEntry> = keys.iter().filter(|k| k.line == line).collect();
            if row[0].valid && row.iter().all(|k| keeper(&kept, value(k)).is_none()) {
                kept.extend(row.iter().map(|k| (value(k), line)));
            }
        }
        let mut dups = Vec::new();
        for k in keys {
            let first = keys.iter().filter(|o| value(o) == value(k)).map(|o| o.line).min().unwrap();
            let of = keeper(&kept, value(k)).unwrap_or(first);
            if k.line != of {
                dups.push(Duplicate { line: k.line, slot: k.slot, of: DuplicateOf::Line(of), row_valid: k.valid });
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
                let valid = r % 5 != 0;
                // One unique field, or (every fourth round) up to three, with a row hash now
                // and then: rows that repeat one value and hold others.
                let slots: &[u16] = match (round % 4, r % 4) {
                    (3, 0) => &[0, 1, ROW_HASH_SLOT],
                    (3, 1) => &[1],
                    (3, _) => &[0, 1],
                    _ => &[0],
                };
                for &slot in slots {
                    let r = next();
                    let key = match round % 4 {
                        0 if r % 10 == 0 => u128::from(r % line),
                        0 => u128::from(line),
                        1 => u128::from(r % (n / 2 + 1)),
                        2 => u128::from(r) << 64 | u128::from(next()),
                        _ => u128::from(if r % 3 == 0 { r % 7 } else { line }),
                    };
                    keys.push(KeyEntry { slot, key, line, valid });
                }
            }
            if round % 8 == 7 {
                let half = keys.len() / 2;
                keys.rotate_left(half);
            }
            let mut sorted: Vec<PackedKey> = keys.iter().map(PackedKey::pack).collect();
            let packed = sorted.clone();
            sorted.sort_unstable();
            assert_eq!(sort_keys(packed), sorted, "round {round}: sort_keys");
            let expected = naive(&keys);
            assert_eq!(find_duplicates(keys.clone()), expected, "round {round}");
            // The same keys cut into runs (chunks) at random places, sorted as chunk workers
            // store them, except now and then one left in file order (an earlier version).
            let mut runs = Vec::new();
            let mut rest: &[KeyEntry] = &keys;
            while !rest.is_empty() {
                let cut = (next() % 60 + 1).min(rest.len() as u64) as usize;
                let mut run: Vec<PackedKey> = rest[..cut].iter().map(PackedKey::pack).collect();
                if next() % 7 != 0 {
                    run.sort_unstable();
                }
                runs.push(run);
                rest = &rest[cut..];
                if next() % 9 == 0 {
                    runs.push(Vec::new());
                }
            }
            if round % 3 == 1 {
                runs.reverse();
            }
            assert_eq!(find_duplicates_in_runs(runs), expected, "round {round}, in runs");
        }
    }

    #[test]
    fn gallop_counts_the_keys_below_the_limit() {
        let run: Vec<PackedKey> = (0..100u64)
            .map(|i| PackedKey::pack(&KeyEntry { slot: 0, key: u128::from(i * 2), line: 1, valid: true }))
            .collect();
        for limit in 0..202u64 {
            let limit = PackedKey::pack(&KeyEntry { slot: 0, key: u128::from(limit), line: 0, valid: false });
            let expected = run.iter().filter(|k| **k < limit).count();
            assert_eq!(gallop(&run, &limit), expected, "{limit:?}");
        }
        assert_eq!(gallop(&[], &run[0]), 0);
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
        // A valid row's warnings join the errors it gains.
        let warned = "{\"line\":3,\"values\":{\"id\":7},\"warnings\":[{\"code\":\"too_long\"}]}\n";
        let out = add_errors(warned, std::slice::from_ref(&e));
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        let codes: Vec<&str> =
            parsed["errors"].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap()).collect();
        assert_eq!((codes, parsed.get("warnings")), (vec!["too_long", "not_unique"], None), "{out}");
    }
}
