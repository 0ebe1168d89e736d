//! JSON input: an array of objects, one per row (Dromo's `initial_data`), or JSON Lines (one
//! object per line, rows numbered by their line).
//!
//! Keys become columns in order of first appearance; numbers keep their written text, so a
//! decimal never passes through a float; nested arrays of strings feed list fields.

use std::borrow::Cow;
use std::collections::HashMap;
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
    /// A value holds more text than a field may.
    #[error(
        "{} {row}, key {key:?}: the value is {bytes} bytes, larger than the limit of {limit} bytes (max_field_bytes)",
        if *.lines { "line" } else { "row" }
    )]
    FieldTooLarge {
        /// The row: the object's place in the array, or its line in JSON Lines.
        row: u64,
        /// Whether the input is JSON Lines.
        lines: bool,
        /// The value's key.
        key: String,
        /// The value's size, decoded.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// An empty array.
    #[error("the JSON array is empty")]
    Empty,
    /// One object alone: neither an array nor JSON Lines.
    #[error(
        "the file holds one JSON object, which is taken for a document, not a row; JSON input is an array of objects, one per row, or JSON Lines (an object on each line, more than one line; to import one object as a row, write it inside [ ]){hint}",
        hint = rows_hint(.rows_key.as_deref(), *.pandas)
    )]
    NotRows {
        /// The object's one key that holds an array of objects (`{"data": [...]}`), if any.
        rows_key: Option<String>,
        /// The pandas `to_json` orient the object is written in, if it looks like one.
        pandas: Option<&'static str>,
    },
}

/// A JSON syntax fault in words a person who wrote or exported the file can act on; `rest` is the
/// text from where it was found to the end of its line.
fn explain(message: String, before: &str, rest: &str, lines_mode: bool) -> String {
    // A surrogate escape just before the fault (`\ud800`).
    let tail = &before.as_bytes()[before.len().saturating_sub(12)..];
    let surrogate = tail.windows(4).any(|w| {
        w[0] == b'\\'
            && w[1] == b'u'
            && matches!(w[2], b'd' | b'D')
            && matches!(w[3], b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
    });
    let word: String = rest.trim_start_matches('-').chars().take_while(|c| c.is_alphabetic()).collect();
    if message == "expected value" || message == "invalid number" {
        match word.as_str() {
            "NaN" | "nan" | "Infinity" | "inf" | "infinity" => {
                return format!("{message}: NaN and Infinity are not JSON; write null or a number");
            }
            "None" | "True" | "False" | "undefined" => {
                return format!("{message}: {word} is not JSON; write null, true or false");
            }
            _ => {}
        }
    }
    let advice = match (message.as_str(), rest.chars().next()) {
        // Values are decoded later, where such an escape is the cell's error; a key is decoded
        // as the document is read.
        (m, _) if surrogate && (m.contains("hex escape") || m.contains("surrogate")) => {
            "an unpaired UTF-16 surrogate escape (such as \\ud800) in a key, which is no character; a key names a \
             column, so the file cannot be read until the key is written without it"
        }
        (m, _) if m.starts_with("EOF while parsing") && lines_mode => {
            "an object does not end on its line; JSON Lines needs each object on one line (jq writes one object over \
             several lines unless given -c)"
        }
        (m, _) if m.starts_with("EOF while parsing") => "the file ends before the JSON does (a ']' or '}' is missing)",
        (_, Some('/')) => "JSON has no comments; remove them",
        ("expected value" | "key must be a string", Some('\'')) => "JSON strings take double quotes, not single ones",
        ("trailing characters", _) => "text follows the end of the JSON",
        _ => return message,
    };
    format!("{message}: {advice}")
}

fn rows_hint(key: Option<&str>, pandas: Option<&str>) -> String {
    match (key, pandas) {
        (Some(k), _) => format!("; if the rows are the array of objects under its key {k:?}, upload that array"),
        (None, Some(orient)) => format!(
            "; it looks like pandas' to_json with orient={orient}: export the rows with to_json(orient='records') \
             (or lines=True as well, for JSON Lines)"
        ),
        (None, None) => String::new(),
    }
}

/// The orient of pandas' `to_json` an object is written in: `'split'` (`columns`, `index` and
/// `data`, an array of arrays), or `'columns'` (pandas' default) or `'index'` (every value an
/// object, of values by row or by column).
fn pandas_orient(text: &str) -> Option<&'static str> {
    let object: std::collections::BTreeMap<String, &RawValue> = serde_json::from_str(text).ok()?;
    let starts = |v: &RawValue, c: char| v.get().trim_start().starts_with(c);
    if let (Some(_), Some(data)) = (object.get("columns"), object.get("data"))
        && data.get().trim_start().strip_prefix('[').is_some_and(|rest| rest.trim_start().starts_with('['))
    {
        return Some("'split'");
    }
    (!object.is_empty() && object.values().all(|v| starts(v, '{'))).then_some("'columns' (its default) or 'index'")
}

/// The one key of a JSON object whose value is an array of objects: where an export that wraps
/// its rows (`{"data": [...], "total": 2}`) keeps them.
fn rows_key(text: &str) -> Option<String> {
    let object: std::collections::BTreeMap<String, &RawValue> = serde_json::from_str(text).ok()?;
    let mut keys = object.iter().filter(|(_, v)| {
        let value = v.get().trim_start();
        value.starts_with('[') && value[1..].trim_start().starts_with('{')
    });
    let (key, _) = keys.next()?;
    keys.next().is_none().then(|| key.clone())
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
    max_field_bytes: usize,
    mut on_record: impl FnMut(u64, Vec<CellRef<'_>>) -> Result<(), E>,
    on_header: impl FnOnce(Vec<String>) -> Result<(), E>,
) -> Result<Result<(), E>, JsonInputError> {
    // A byte order mark before, and NUL padding or the DOS end-of-file mark after (as a CSV file
    // may end), are no part of the JSON.
    let text = text.trim_start_matches('\u{FEFF}').trim_end_matches(['\0', '\u{1A}', ' ', '\t', '\r', '\n']);
    // Lines that end in a carriage return alone (classic Mac OS) are lines too. JSON reads either
    // as white space, and neither may stand raw inside a string, so this changes no value.
    let text = lone_cr_as_lf(text);
    let text = text.as_ref();
    let lines_mode = text.trim_start().starts_with('{');
    let syntax = |e: serde_json::Error, line_offset: usize| {
        let message = e.to_string().split(" at line").next().unwrap_or_default().to_string();
        // serde_json counts a column in bytes, from 1 (0 for a value of the wrong type); an
        // editor counts characters.
        let line = text.lines().nth(e.line().saturating_sub(1) + line_offset).unwrap_or_default();
        let mut byte = e.column().saturating_sub(1).min(line.len());
        while !line.is_char_boundary(byte) {
            byte -= 1;
        }
        JsonInputError::Syntax {
            line: e.line() + line_offset,
            column: line[..byte].chars().count() + 1,
            // The text from the fault on, to its line's end.
            message: explain(message, &line[..byte], &line[byte..], lines_mode),
        }
    };
    // (line, object): array items are numbered from 1, JSON Lines by their line.
    let rows: Vec<(u64, Row<'_>)> = if lines_mode {
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Row<'_>>(line) {
                Ok(row) => rows.push((i as u64 + 1, row)),
                // One object written over several lines is a document, not JSON Lines.
                Err(_) if rows.is_empty() && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() => {
                    return Err(JsonInputError::NotRows { rows_key: rows_key(text), pandas: pandas_orient(text) });
                }
                Err(e) => return Err(syntax(e, i)),
            }
        }
        // One object alone is a document (an API response, say), not rows.
        if rows.len() == 1 {
            return Err(JsonInputError::NotRows { rows_key: rows_key(text), pandas: pandas_orient(text) });
        }
        rows
    } else {
        let rows: Rows<'_> = serde_json::from_str(text).map_err(|e| syntax(e, 0))?;
        rows.0.into_iter().enumerate().map(|(i, row)| (i as u64 + 1, row)).collect()
    };
    if rows.is_empty() {
        return Err(JsonInputError::Empty);
    }
    // A column is a key and which of its occurrences in an object it is: a key an object
    // repeats (`{"id": 1, "id": 2}`) is a second column of that name, as a repeated header is
    // in a CSV file, so no value is dropped unseen.
    let mut columns: HashMap<(&str, usize), usize> = HashMap::new();
    let mut names: Vec<&str> = Vec::new();
    let mut occurrences: HashMap<&str, usize> = HashMap::new();
    let mut row_columns: Vec<Vec<usize>> = Vec::with_capacity(rows.len());
    for (_, row) in &rows {
        occurrences.clear();
        let mut these = Vec::with_capacity(row.0.len());
        for (k, _) in &row.0 {
            let nth = occurrences.entry(k.as_ref()).or_default();
            let column = (k.as_ref(), *nth);
            *nth += 1;
            let next = names.len();
            let col = *columns.entry(column).or_insert(next);
            if col == next {
                if names.len() >= max_columns {
                    return Err(JsonInputError::TooManyKeys { limit: max_columns });
                }
                names.push(k);
            }
            these.push(col);
        }
        row_columns.push(these);
    }
    let header: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    if let Err(e) = on_header(header) {
        return Ok(Err(e));
    }
    for ((line, row), cols) in rows.iter().zip(&row_columns) {
        // As wide as the object's own keys reach, not every column.
        let mut cells = vec![CellRef::Empty; cols.iter().max().map_or(0, |last| last + 1)];
        for ((key, v), col) in row.0.iter().zip(cols) {
            let cell = raw_to_cell(v);
            let bytes = match &cell {
                CellRef::Str(t) | CellRef::Numeral(t) | CellRef::Json(t) | CellRef::Undecodable(t, _) => t.len(),
                CellRef::List(items) => items.iter().map(|i| i.len() + 1).sum::<usize>().saturating_sub(1),
                _ => 0,
            };
            if bytes > max_field_bytes {
                let (row, key, limit) = (*line, key.to_string(), max_field_bytes);
                return Err(JsonInputError::FieldTooLarge { row, lines: lines_mode, key, bytes, limit });
            }
            cells[*col] = cell;
        }
        // Nor do trailing nulls make cells (the engine reads missing cells as empty).
        let width = cells.iter().rposition(|c| !matches!(c, CellRef::Empty)).map_or(0, |last| last + 1);
        cells.truncate(width);
        if let Err(e) = on_record(*line, cells) {
            return Ok(Err(e));
        }
    }
    Ok(Ok(()))
}

/// The text with each carriage return that no line feed follows made a line feed, so lines and
/// positions count as an editor counts them.
fn lone_cr_as_lf(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let lone = |i: usize| bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n');
    if !memchr::memchr_iter(b'\r', bytes).any(lone) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for i in memchr::memchr_iter(b'\r', bytes).filter(|&i| lone(i)) {
        out.push_str(&text[from..i]);
        out.push('\n');
        from = i + 1;
    }
    out.push_str(&text[from..]);
    Cow::Owned(out)
}

/// JSON text without the white space between its tokens, so one structure is one text however
/// it was laid out (for `unique`, `dedupe` and the rows), as a list of strings is written back.
fn compact(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|b| b.is_ascii_whitespace()) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if !c.is_ascii_whitespace() {
            in_string = c == '"';
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn raw_to_cell(raw: &RawValue) -> CellRef<'_> {
    let text = raw.get().trim();
    match text.as_bytes().first() {
        Some(b'"') => match serde_json::from_str::<Cow<'_, str>>(text) {
            Ok(s) => CellRef::Str(s),
            // The syntax was checked with the document, so what fails here is an unpaired
            // surrogate escape: the rest of the text is kept, the fault becomes a field error.
            Err(_) => {
                let (text, at) = decode_lossy(text);
                CellRef::Undecodable(Cow::Owned(text), at)
            }
        },
        Some(b't') => CellRef::Bool(true),
        Some(b'f') => CellRef::Bool(false),
        Some(b'n') => CellRef::Empty,
        Some(b'[') => match serde_json::from_str::<Vec<Cow<'_, str>>>(text) {
            Ok(items) => CellRef::List(items),
            Err(_) => {
                scalar_list(text).or_else(|| undecodable_list(text)).unwrap_or_else(|| CellRef::Json(compact(text)))
            }
        },
        Some(b'{') => CellRef::Json(compact(text)),
        // A number with an exponent (`1e3`, `1.5E-7`, as pandas and JavaScript write some) is
        // the same number in plain digits, so number fields read it, when a decimal holds it
        // exactly; else it stays as written (and number fields refuse it).
        _ if text.contains(['e', 'E']) => match plain_digits(text) {
            Some(plain) => CellRef::Numeral(Cow::Owned(plain)),
            None => CellRef::Numeral(Cow::Borrowed(text)),
        },
        // A number: its syntax is JSON's whatever the locale.
        _ => CellRef::Numeral(Cow::Borrowed(text)),
    }
}

/// A JSON number with an exponent in plain digits, if a decimal holds it exactly: its significant
/// digits come out as they went in (`from_scientific` rounds what does not fit in 28).
fn plain_digits(number: &str) -> Option<String> {
    let n = rust_decimal::Decimal::from_scientific(number).ok()?.normalize();
    let mantissa = number.split(['e', 'E']).next()?;
    let significant = |digits: &str| -> String {
        let digits: String = digits.chars().filter(char::is_ascii_digit).collect();
        digits.trim_start_matches('0').trim_end_matches('0').to_string()
    };
    (significant(mantissa) == significant(&n.abs().to_string())).then(|| n.to_string())
}

/// A list of strings, numbers and booleans (`[1, 2]` in a tags field, as `JSON.stringify` writes
/// ids): each item as text, numbers as written, as a text field reads a number.
fn scalar_list(text: &str) -> Option<CellRef<'_>> {
    let items: Vec<&RawValue> = serde_json::from_str(text).ok()?;
    let items = items
        .into_iter()
        .map(|item| {
            let raw = item.get();
            match raw.as_bytes().first()? {
                b'"' => serde_json::from_str::<Cow<'_, str>>(raw).ok(),
                b't' | b'f' | b'-' | b'0'..=b'9' => Some(Cow::Borrowed(raw)),
                _ => None,
            }
        })
        .collect::<Option<Vec<_>>>()?;
    Some(CellRef::List(items))
}

/// A list of strings one of which holds an unpaired surrogate escape: the items as the list
/// shows them (joined by spaces) with the fault's position in that text. `None` when the array
/// holds anything but strings.
fn undecodable_list(token: &str) -> Option<CellRef<'static>> {
    let items = serde_json::from_str::<Vec<&RawValue>>(token).ok()?;
    let mut text = String::new();
    let mut first_fault = None;
    // Characters in `text`, counted as items are added.
    let mut written = 0u32;
    for (i, item) in items.iter().enumerate() {
        let item = item.get().trim();
        if !item.starts_with('"') {
            return None;
        }
        if i > 0 {
            text.push(' ');
            written += 1;
        }
        let decoded = match serde_json::from_str::<String>(item) {
            Ok(s) => s,
            Err(_) => {
                let (s, at) = decode_lossy(item);
                first_fault.get_or_insert(written + at);
                s
            }
        };
        written += decoded.chars().count() as u32;
        text.push_str(&decoded);
    }
    Some(CellRef::Undecodable(Cow::Owned(text), first_fault?))
}

/// Decodes a JSON string token (quotes included, syntax already checked) whose escapes do not
/// all name characters: each unpaired surrogate escape becomes U+FFFD. Returns the text and the
/// 1-based character position of the first one.
fn decode_lossy(token: &str) -> (String, u32) {
    let inner = token.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(token);
    let mut out = String::with_capacity(inner.len());
    let mut first_fault = None;
    // Characters written so far: counted as they go, never recounted (a string of a million
    // faults stays linear).
    let mut written = 0u32;
    let mut chars = inner.chars();
    let hex4 = |chars: &mut std::str::Chars<'_>| -> Option<u32> {
        let digits: String = chars.by_ref().take(4).collect();
        u32::from_str_radix(&digits, 16).ok().filter(|_| digits.len() == 4)
    };
    while let Some(c) = chars.next() {
        written += 1;
        if c != '\\' {
            out.push(c);
            continue;
        }
        let decoded = match chars.next() {
            Some('b') => Some('\u{8}'),
            Some('f') => Some('\u{c}'),
            Some('n') => Some('\n'),
            Some('r') => Some('\r'),
            Some('t') => Some('\t'),
            Some('u') => match hex4(&mut chars) {
                Some(high @ 0xD800..=0xDBFF) => {
                    // A pair only when a low surrogate escape follows at once.
                    let mut ahead = chars.clone();
                    let low = (ahead.next() == Some('\\') && ahead.next() == Some('u'))
                        .then(|| hex4(&mut ahead))
                        .flatten()
                        .filter(|low| (0xDC00..=0xDFFF).contains(low));
                    match low {
                        Some(low) => {
                            chars = ahead;
                            char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
                        }
                        None => None,
                    }
                }
                Some(code) => char::from_u32(code),
                None => None,
            },
            Some(other) => Some(other),
            None => None,
        };
        match decoded {
            Some(c) => out.push(c),
            None => {
                first_fault.get_or_insert(written);
                out.push(char::REPLACEMENT_CHARACTER);
            }
        }
    }
    (out, first_fault.unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header and every record, `(line, cells as Debug text)`, of readable input.
    fn read_all(text: &str) -> (Vec<String>, Vec<(u64, Vec<String>)>) {
        let mut header = Vec::new();
        let mut rows = Vec::new();
        read_json(
            text,
            100,
            1 << 20,
            |line, cells| {
                rows.push((line, cells.iter().map(|c| format!("{c:?}")).collect()));
                Ok::<(), ()>(())
            },
            |h| {
                header = h;
                Ok(())
            },
        )
        .unwrap()
        .unwrap();
        (header, rows)
    }

    #[test]
    fn keys_become_columns_in_order_of_first_appearance_and_numbers_keep_their_text() {
        let text =
            r#"[{"name": "Zeph", "amount": 12.50}, {"tags": ["a", "b"], "name": "Al\"i", "ok": true, "x": null}]"#;
        let (header, rows) = read_all(text);
        assert_eq!(header, vec!["name", "amount", "tags", "ok", "x"]);
        assert_eq!(rows[0].0, 1);
        assert!(rows[0].1[1].contains("12.50"));
        assert!(rows[1].1[0].contains("Al\\\"i"));
        assert!(rows[1].1[2].contains("List"));
        // An object without the last keys ends at its own last value (`null` is an empty cell).
        let (header, rows) = read_all(r#"[{"a": 1, "b": 2, "c": 3}, {"a": 4}, {"b": 5}, {"c": null}]"#);
        assert_eq!(header, vec!["a", "b", "c"]);
        assert_eq!(rows.iter().map(|(_, cells)| cells.len()).collect::<Vec<_>>(), [3, 1, 2, 0]);
    }

    #[test]
    fn numbers_with_an_exponent_are_written_out_exactly() {
        let text = r#"[{"a": 1e3, "b": 1.5E-7, "c": -2.50e+2, "d": 1e400, "e": "1e3", "f": 0.1}]"#;
        let (_, rows) = read_all(text);
        assert_eq!(
            rows[0].1,
            [
                r#"Numeral("1000")"#,
                r#"Numeral("0.00000015")"#,
                r#"Numeral("-250")"#,
                r#"Numeral("1e400")"#,
                r#"Str("1e3")"#,
                r#"Numeral("0.1")"#
            ]
        );
        // Digits a decimal cannot hold exactly stay as written, never rounded.
        let text = r#"[{"a": 9.999999999999999999999999999999e0, "b": 0.12345678901234567890123456789e1, "c": 1.5e-29, "d": -0e0, "e": 1.2345678901234567890123456789e5}]"#;
        let (_, rows) = read_all(text);
        assert_eq!(
            rows[0].1,
            [
                r#"Numeral("9.999999999999999999999999999999e0")"#,
                r#"Numeral("0.12345678901234567890123456789e1")"#,
                r#"Numeral("1.5e-29")"#,
                r#"Numeral("0")"#,
                r#"Numeral("123456.78901234567890123456789")"#
            ]
        );
    }

    #[test]
    fn a_key_an_object_repeats_is_a_second_column_of_that_name() {
        let text = r#"[{"id": 1, "name": "a", "id": 2}, {"name": "b", "id": 3}, {"id": 4, "id": 5, "id": 6}]"#;
        let (header, rows) = read_all(text);
        assert_eq!(header, vec!["id", "name", "id", "id"]);
        let values: Vec<Vec<&str>> = rows.iter().map(|(_, cells)| cells.iter().map(String::as_str).collect()).collect();
        assert_eq!(
            values,
            vec![
                vec![r#"Numeral("1")"#, r#"Str("a")"#, r#"Numeral("2")"#],
                vec![r#"Numeral("3")"#, r#"Str("b")"#],
                vec![r#"Numeral("4")"#, "Empty", r#"Numeral("5")"#, r#"Numeral("6")"#],
            ]
        );
    }

    #[test]
    fn a_value_larger_than_max_field_bytes_names_its_row_and_key() {
        let read = |text: &str, limit: usize| read_json(text, 10, limit, |_, _| Ok::<(), ()>(()), |_| Ok(()));
        let text = "[{\"a\": \"abcd\"}, {\"a\": \"x\", \"notes\": \"a\\u00e9cde\"}]";
        assert_eq!(read(text, 6), Ok(Ok(())), "six bytes decoded (é is two), though eleven written");
        let err = read(text, 5).unwrap_err();
        assert_eq!(
            err,
            JsonInputError::FieldTooLarge { row: 2, lines: false, key: "notes".into(), bytes: 6, limit: 5 }
        );
        assert!(err.to_string().starts_with("row 2, key \"notes\": the value is 6 bytes"), "{err}");
        let lines = "{\"a\": 1}\n\n{\"a\": [\"abc\", \"de\"]}\n";
        let err = read(lines, 5).unwrap_err();
        assert!(err.to_string().starts_with("line 3, key \"a\": the value is 6 bytes"), "{err}");
        assert_eq!(read(lines, 6), Ok(Ok(())));
    }

    #[test]
    fn a_list_of_numbers_reads_as_their_digits_and_a_damaged_key_says_why() {
        let mut cells = Vec::new();
        let text = r#"[{"tags": [1, 2.50, "x", true, -3]}, {"tags": [1, [2]]}, {"tags": [null]}]"#;
        read_json(
            text,
            10,
            1 << 20,
            |_, row| {
                cells.push(format!("{:?}", row[0]));
                Ok::<(), ()>(())
            },
            |_| Ok(()),
        )
        .unwrap()
        .unwrap();
        let list =
            |items: &[&'static str]| format!("{:?}", CellRef::List(items.iter().map(|i| Cow::Borrowed(*i)).collect()));
        assert_eq!(cells[0], list(&["1", "2.50", "x", "true", "-3"]));
        // A nested list or a null is a structure still.
        assert!(cells[1].starts_with("Json"), "{}", cells[1]);
        assert!(cells[2].starts_with("Json"), "{}", cells[2]);
        let err = read_json(r#"[{"id": 1, "na\ud800me": "x"}]"#, 10, 1 << 20, |_, _| Ok::<(), ()>(()), |_| Ok(()))
            .unwrap_err();
        assert!(err.to_string().contains("unpaired UTF-16 surrogate escape (such as \\ud800) in a key"), "{err}");
    }

    #[test]
    fn an_unpaired_surrogate_escape_is_a_cell_fault_that_keeps_the_rest_of_the_text() {
        let mut cells = Vec::new();
        let text = r#"[{"a": "x\ud800y", "b": "\udc00", "c": "\ud83d\ude00 \"ok\"\n\ud83d", "d": ["ab", "c\udfff"]}]"#;
        read_json(
            text,
            10,
            1 << 20,
            |_, row| {
                cells = row.into_iter().map(|c| format!("{c:?}")).collect();
                Ok::<(), ()>(())
            },
            |_| Ok(()),
        )
        .unwrap()
        .unwrap();
        let fault = |text: &str, at: u32| format!("{:?}", CellRef::Undecodable(Cow::Borrowed(text), at));
        assert_eq!(cells[0], fault("x\u{FFFD}y", 2));
        assert_eq!(cells[1], fault("\u{FFFD}", 1));
        assert_eq!(cells[2], fault("😀 \"ok\"\n\u{FFFD}", 8));
        assert_eq!(cells[3], fault("ab c\u{FFFD}", 5));
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let err =
            read_json("[\n{\"a\": 1},\n{\"a\": }\n]", 10, 1 << 20, |_, _| Ok::<(), ()>(()), |_| Ok(())).unwrap_err();
        assert!(matches!(err, JsonInputError::Syntax { line: 3, .. }), "{err:?}");
        let err = read_json("{\n  \"a\": 1\n}\n", 10, 1 << 20, |_, _| Ok::<(), ()>(()), |_| Ok(())).unwrap_err();
        assert_eq!(err, JsonInputError::NotRows { rows_key: None, pandas: None });
        assert!(err.to_string().contains("array of objects"), "{err}");
        let one =
            read_json("{\"data\": [{\"a\": 1}], \"total\": 1}\n", 10, 1 << 20, |_, _| Ok::<(), ()>(()), |_| Ok(()));
        let err = one.unwrap_err();
        assert_eq!(
            err,
            JsonInputError::NotRows { rows_key: Some("data".into()), pandas: None },
            "a minified response is not one row"
        );
        assert!(
            err.to_string()
                .ends_with("; if the rows are the array of objects under its key \"data\", upload that array"),
            "{err}"
        );
        // Two arrays of objects: no guess.
        let two = read_json(
            "{\"a\": [{\"x\": 1}],\n \"b\": [ {\"x\": 2}]}",
            10,
            1 << 20,
            |_, _| Ok::<(), ()>(()),
            |_| Ok(()),
        );
        assert_eq!(two.unwrap_err(), JsonInputError::NotRows { rows_key: None, pandas: None });
        let pretty = read_json(
            "{\n  \"records\": [\n    {\"a\": 1}\n  ],\n  \"offset\": null\n}",
            10,
            1 << 20,
            |_, _| Ok::<(), ()>(()),
            |_| Ok(()),
        );
        assert_eq!(pretty.unwrap_err(), JsonInputError::NotRows { rows_key: Some("records".into()), pandas: None });
        // pandas' to_json in its other orients: named, with the one to use.
        for (text, orient) in [
            ("{\"columns\":[\"a\"],\"index\":[0,1],\"data\":[[1],[2]]}", "'split'"),
            ("{\"a\":{\"0\":1,\"1\":2},\"b\":{\"0\":3,\"1\":4}}", "'columns' (its default) or 'index'"),
        ] {
            let err = read_json(text, 10, 1 << 20, |_, _| Ok::<(), ()>(()), |_| Ok(())).unwrap_err();
            assert_eq!(err, JsonInputError::NotRows { rows_key: None, pandas: Some(orient) });
            assert!(err.to_string().contains("to_json(orient='records')"), "{err}");
        }
        let err = read_json("{\"a\": 1}\n{\"a\": 2}\n{\"a\": }\n", 10, 1 << 20, |_, _| Ok::<(), ()>(()), |_| Ok(()))
            .unwrap_err();
        assert!(matches!(err, JsonInputError::Syntax { line: 3, column: 7, .. }), "{err:?}");
        let err = read_json("{\"a\": 1}\n[1]\n", 10, 1 << 20, |_, _| Ok::<(), ()>(()), |_| Ok(())).unwrap_err();
        assert!(matches!(err, JsonInputError::Syntax { line: 2, column: 1, .. }), "{err:?}");
    }

    #[test]
    fn structures_are_kept_as_compact_json_text() {
        assert_eq!(compact("{\"k\": [1,\n 2], \"s\": \"a \\\" b\"}"), "{\"k\":[1,2],\"s\":\"a \\\" b\"}");
        assert_eq!(compact("[1, {\"a\": \"x y\"}]"), "[1,{\"a\":\"x y\"}]");
        assert!(matches!(compact("{\"a\":1}"), Cow::Borrowed(_)));
    }

    #[test]
    fn syntax_faults_say_what_to_do() {
        let message = |text: &str| match read_json(text, 10, 1 << 20, |_, _| Ok::<(), ()>(()), |_| Ok(())).unwrap_err()
        {
            JsonInputError::Syntax { message, .. } => message,
            other => panic!("{other:?}"),
        };
        assert!(message("{\"a\": 1}\n{\n  \"a\": 2\n}\n").ends_with("unless given -c)"));
        assert!(message("[{\"a\": 1}").ends_with("(a ']' or '}' is missing)"));
        assert!(message("[{\"a\": 1} // first\n]").ends_with("JSON has no comments; remove them"));
        assert!(message("[{\"a\": NaN}]").ends_with("write null or a number"));
        assert!(message("[{\"a\": -Infinity}]").ends_with("write null or a number"));
        assert!(message("[{\"a\": None}]").ends_with("None is not JSON; write null, true or false"));
        assert!(message("[{'a': 1}]").ends_with("not single ones"));
        assert!(message("[{\"a\": 1}] x").ends_with("text follows the end of the JSON"));
        // NUL padding and the DOS end-of-file mark after the JSON are not part of it.
        let (_, rows) = read_all("[{\"a\": 1}]\n\u{1A}\0\0");
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn json_lines_are_rows_numbered_by_their_line() {
        let text = "\u{FEFF}{\"id\": 1, \"name\": \"a\"}\r\n\r\n{\"id\": 2, \"tags\": [\"x\"]}\n  \n{}";
        let (header, rows) = read_all(text);
        assert_eq!(header, vec!["id", "name", "tags"]);
        let shape: Vec<(u64, usize)> = rows.iter().map(|(line, cells)| (*line, cells.len())).collect();
        // Each as wide as its last key (`{}` has none).
        assert_eq!(shape, vec![(1, 2), (3, 3), (5, 0)]);
        // Lines ended by a carriage return alone are lines too, and faults count them.
        let (_, rows) = read_all("{\"id\": 1}\r{\"id\": 2}\r\r{\"id\": 3}\r");
        let lines: Vec<u64> = rows.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, vec![1, 2, 4]);
        let err = read_json("{\"a\": 1}\r{\"a\": 2}\r{\"a\": x}\r", 10, 1 << 20, |_, _| Ok::<(), ()>(()), |_| Ok(()))
            .unwrap_err();
        assert!(matches!(err, JsonInputError::Syntax { line: 3, column: 7, .. }), "{err:?}");
        let err = read_json("[{\"a\": 1},\r{\"a\": }]", 10, 1 << 20, |_, _| Ok::<(), ()>(()), |_| Ok(())).unwrap_err();
        assert!(matches!(err, JsonInputError::Syntax { line: 2, column: 7, .. }), "{err:?}");
        // Columns count characters, as an editor does, not bytes.
        let err =
            read_json("[{\"b\": \"ééé\", \"a\": }]", 10, 1 << 20, |_, _| Ok::<(), ()>(()), |_| Ok(())).unwrap_err();
        assert!(matches!(err, JsonInputError::Syntax { line: 1, column: 20, .. }), "{err:?}");
        // A carriage return inside a string is refused either way.
        assert!(read_json("[{\"a\": \"x\ry\"}]", 10, 1 << 20, |_, _| Ok::<(), ()>(()), |_| Ok(())).is_err());
    }
}
