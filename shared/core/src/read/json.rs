//! JSON input: an array of objects, one per row (Dromo's `initial_data`).
//!
//! Keys become columns in order of first appearance; numbers keep their written text, so a
//! decimal never passes through a float; nested arrays of strings feed list fields.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::record::CellRef;

/// Why JSON input cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonInputError {
    /// Larger than allowed.
    #[error("JSON input is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Not valid JSON of the expected shape.
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        /// Line of the fault.
        line: usize,
        /// Column of the fault.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// More distinct keys than columns allowed.
    #[error("the objects have more than {limit} distinct keys")]
    TooManyKeys {
        /// The limit.
        limit: usize,
    },
    /// An empty array.
    #[error("the JSON array is empty")]
    Empty,
}

struct Row<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Row<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Row<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object (one row)")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Row<'a>, M::Error> {
                let mut fields = Vec::new();
                while let Some((k, v)) = map.next_entry::<Cow<'a, str>, &'a RawValue>()? {
                    fields.push((k, v));
                }
                Ok(Row(fields))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

struct Rows<'a>(Vec<Row<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Rows<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Rows<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of objects, one per row")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Rows<'a>, S::Error> {
                let mut rows = Vec::new();
                while let Some(row) = seq.next_element::<Row<'a>>()? {
                    rows.push(row);
                }
                Ok(Rows(rows))
            }
        }
        d.deserialize_seq(V(std::marker::PhantomData))
    }
}

/// Reads JSON input: returns the column names, then hands each object to `on_record` as
/// `(1-based index, cells in column order)`.
pub fn read_json<E>(
    text: &str,
    max_columns: usize,
    mut on_record: impl FnMut(u64, Vec<CellRef<'_>>) -> Result<(), E>,
    on_header: impl FnOnce(Vec<String>) -> Result<(), E>,
) -> Result<Result<(), E>, JsonInputError> {
    let text = text.trim_start_matches('\u{FEFF}');
    let rows: Rows<'_> = serde_json::from_str(text).map_err(|e| JsonInputError::Syntax {
        line: e.line(),
        column: e.column(),
        message: e.to_string().split(" at line").next().unwrap_or_default().to_string(),
    })?;
    if rows.0.is_empty() {
        return Err(JsonInputError::Empty);
    }
    let mut names: Vec<&str> = Vec::new();
    for row in &rows.0 {
        for (k, _) in &row.0 {
            if !names.contains(&k.as_ref()) {
                if names.len() >= max_columns {
                    return Err(JsonInputError::TooManyKeys { limit: max_columns });
                }
                names.push(k);
            }
        }
    }
    let header: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    if let Err(e) = on_header(header) {
        return Ok(Err(e));
    }
    for (i, row) in rows.0.iter().enumerate() {
        let mut cells = vec![CellRef::Empty; names.len()];
        for (k, v) in &row.0 {
            if let Some(col) = names.iter().position(|n| *n == k.as_ref()) {
                cells[col] = raw_to_cell(v);
            }
        }
        if let Err(e) = on_record(i as u64 + 1, cells) {
            return Ok(Err(e));
        }
    }
    Ok(Ok(()))
}

fn raw_to_cell(raw: &RawValue) -> CellRef<'_> {
    let text = raw.get().trim();
    match text.as_bytes().first() {
        Some(b'"') => match serde_json::from_str::<Cow<'_, str>>(text) {
            Ok(s) => CellRef::Str(s),
            Err(_) => CellRef::Json(Cow::Borrowed(text)),
        },
        Some(b't') => CellRef::Bool(true),
        Some(b'f') => CellRef::Bool(false),
        Some(b'n') => CellRef::Empty,
        Some(b'[') => match serde_json::from_str::<Vec<Cow<'_, str>>>(text) {
            Ok(items) => CellRef::List(items),
            Err(_) => CellRef::Json(Cow::Borrowed(text)),
        },
        Some(b'{') => CellRef::Json(Cow::Borrowed(text)),
        _ => CellRef::Str(Cow::Borrowed(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_columns_in_order_of_first_appearance_and_numbers_keep_their_text() {
        let mut header = Vec::new();
        let mut rows = Vec::new();
        let text =
            r#"[{"name": "Zeph", "amount": 12.50}, {"tags": ["a", "b"], "name": "Al\"i", "ok": true, "x": null}]"#;
        read_json(
            text,
            100,
            |line, cells| {
                rows.push((line, cells.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>()));
                Ok::<(), ()>(())
            },
            |h| {
                header = h;
                Ok(())
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(header, vec!["name", "amount", "tags", "ok", "x"]);
        assert_eq!(rows[0].0, 1);
        assert!(rows[0].1[1].contains("12.50"));
        assert!(rows[1].1[0].contains("Al\\\"i"));
        assert!(rows[1].1[2].contains("List"));
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let err = read_json("[\n{\"a\": 1},\n{\"a\": }\n]", 10, |_, _| Ok::<(), ()>(()), |_| Ok(())).unwrap_err();
        assert!(matches!(err, JsonInputError::Syntax { line: 3, .. }), "{err:?}");
        let err = read_json("{\"a\": 1}", 10, |_, _| Ok::<(), ()>(()), |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("array of objects"), "{err}");
    }
}
