//! What readers hand the engine: one record at a time, one cell at a time.
//!
//! CSV records are spans into a chunk buffer; spreadsheet and JSON records are decoded cells.
//! Both reach the engine through [`Record`], so validation is written once.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// One cell as the reader found it, before any field type is applied.
#[derive(Debug, Clone, PartialEq)]
pub enum CellRef<'a> {
    /// Raw bytes of a CSV field (UTF-8 expected; invalid bytes become a field error).
    Bytes(Cow<'a, [u8]>),
    /// Text from a spreadsheet or JSON.
    Str(Cow<'a, str>),
    /// A JSON number as written (a `.` point, no grouping; an exponent written out where a decimal
    /// holds it exactly): number fields read it whatever the locale, so `1.234` is not 1234 under
    /// `de-DE`; other fields take the text.
    Numeral(Cow<'a, str>),
    /// A spreadsheet number.
    Number(f64),
    /// A spreadsheet integer.
    Int(i64),
    /// A spreadsheet whole number with the digits its number format shows (a zip code formatted
    /// `00000` shows 2134 as `02134`): text fields read what is shown, number fields the number.
    Shown(i64, Cow<'a, str>),
    /// A JSON boolean.
    Bool(bool),
    /// A spreadsheet's logical value: a boolean field reads the boolean, other fields the word
    /// the sheet shows (`TRUE`, `FALSE`).
    SheetBool(bool),
    /// A spreadsheet date-formatted serial number (in the workbook's date system).
    ExcelDate(f64),
    /// A date-formatted serial with a time of day, in a format that shows the time
    /// (`yyyy-mm-dd hh:mm`): a date field would drop what the sheet shows.
    ExcelDateTime(f64),
    /// A date-formatted serial of a whole day or more, in a format that shows its time of day
    /// alone (`hh:mm`): text fields read the time the sheet shows, date-time fields the moment.
    ExcelTime(f64),
    /// A spreadsheet error value such as `#DIV/0!`.
    Error(Cow<'a, str>),
    /// A JSON array of strings (list fields).
    List(Vec<Cow<'a, str>>),
    /// A JSON object or nested array: kept as JSON text.
    Json(Cow<'a, str>),
    /// Text the reader could not decode (a JSON string holding an unpaired surrogate escape):
    /// what could be read, U+FFFD in place of each fault, and the 1-based character position of
    /// the first one.
    Undecodable(Cow<'a, str>, u32),
    /// A spreadsheet formula saved without its result (a writer that does not calculate, such
    /// as openpyxl): the formula text, empty when the file does not repeat it on this cell.
    Uncalculated(Cow<'a, str>),
    /// Nothing.
    Empty,
}

impl CellRef<'_> {
    /// Whether the cell holds nothing but whitespace.
    pub fn is_blank(&self) -> bool {
        match self {
            CellRef::Bytes(b) => is_blank_bytes(b),
            CellRef::Str(s) => s.trim_matches(crate::convert::is_trimmed).is_empty(),
            CellRef::Empty => true,
            CellRef::List(items) => items.is_empty(),
            _ => false,
        }
    }

    /// The cell as text, for messages and pass-through columns.
    pub fn display(&self) -> Cow<'_, str> {
        match self {
            CellRef::Bytes(b) => String::from_utf8_lossy(b),
            CellRef::Str(s)
            | CellRef::Numeral(s)
            | CellRef::Error(s)
            | CellRef::Json(s)
            | CellRef::Undecodable(s, _)
            | CellRef::Shown(_, s) => Cow::Borrowed(s),
            CellRef::Number(n) => Cow::Owned(format_number(*n)),
            CellRef::Int(i) => Cow::Owned(i.to_string()),
            CellRef::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            CellRef::SheetBool(b) => Cow::Borrowed(if *b { "TRUE" } else { "FALSE" }),
            CellRef::ExcelDate(serial) | CellRef::ExcelDateTime(serial) | CellRef::ExcelTime(serial) => {
                Cow::Owned(format_number(*serial))
            }
            CellRef::List(items) => Cow::Owned(items.join(" ")),
            CellRef::Uncalculated(formula) if formula.is_empty() => Cow::Borrowed(""),
            CellRef::Uncalculated(formula) => Cow::Owned(format!("={formula}")),
            CellRef::Empty => Cow::Borrowed(""),
        }
    }
}

/// Whether bytes hold nothing but what [`crate::convert::trim`] takes off (white space, a
/// no-break space included, and zero-width spaces, word joiners, byte order marks), so a row
/// counts as empty exactly when trimming leaves every cell empty. Bytes that are not UTF-8 are
/// not white space. The DOS end-of-file mark (Ctrl-Z, 0x1A), which old
/// exporters still write after the last line, and NUL bytes, which pad some files to the end of
/// a block, count as blank too, so such a line is an empty row skipped rather than an invalid one.
#[inline]
pub fn is_blank_bytes(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    loop {
        let Some(i) = rest.iter().position(|b| !b.is_ascii_whitespace() && *b != DOS_EOF && *b != 0) else {
            return true;
        };
        rest = &rest[i..];
        // What trimming takes off beyond `is_ascii_whitespace` is U+000B or starts with one of
        // these bytes.
        let len = match rest[0] {
            0x0B => 1,
            0xC2 | 0xD8 => 2,
            0xE1..=0xE3 | 0xEF => 3,
            _ => return false,
        };
        match rest.get(..len).and_then(|c| std::str::from_utf8(c).ok()).and_then(|c| c.chars().next()) {
            Some(c) if crate::convert::is_trimmed(c) => rest = &rest[len..],
            _ => return false,
        }
    }
}

/// A number as a spreadsheet shows it: integers without `.0`, others in shortest round-trip form
/// (with an exponent where that form is very long).
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        return format!("{}", n as i64);
    }
    // Written out, 1e-300 takes 300 digits (and no decimal holds more than 28): an exponent.
    let plain = format!("{n}");
    if plain.len() > 40 { format!("{n:e}") } else { plain }
}

/// One record (row) from any reader.
pub trait Record<'a> {
    /// Line where the record starts.
    fn line(&self) -> u64;
    /// Number of cells.
    fn len(&self) -> usize;
    /// Whether the record has no cells.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The cell at a 0-based column (`col < len()`).
    fn cell(&self, col: usize) -> CellRef<'a>;
    /// The cell as borrowed text, when it is plain text that needs no rebuilding (the fast
    /// path); `None` sends the engine to [`Record::cell`].
    fn text(&self, col: usize) -> Option<&'a str> {
        let _ = col;
        None
    }
    /// Line where the cell starts (later than `line()` after a quoted line break).
    fn cell_line(&self, col: usize) -> u64 {
        let _ = col;
        self.line()
    }
    /// Whether every cell is blank (an empty row).
    fn is_blank(&self) -> bool {
        (0..self.len()).all(|c| self.cell(c).is_blank())
    }
    /// Whether any cell was read from malformed quoting.
    fn any_malformed(&self) -> bool {
        (0..self.len()).any(|c| self.cell_malformed(c) || self.cell_quote_after_space(c))
    }
    /// Whether the cell was read from malformed quoting (text after a closing quote).
    fn cell_malformed(&self, col: usize) -> bool {
        let _ = col;
        false
    }
    /// Whether the cell is unquoted but starts with spaces and a quote, so its quotes were read
    /// as text (`1, "Smith, John"`).
    fn cell_quote_after_space(&self, col: usize) -> bool {
        let _ = col;
        false
    }
}

/// A decoded cell in the chunk files the splitter writes for spreadsheets and JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StoredCell<'a> {
    /// Text.
    #[serde(borrow)]
    Str(Cow<'a, str>),
    /// A number (or integer).
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// Anything else, tagged.
    Tagged(TaggedCell<'a>),
    /// Empty.
    Null(()),
}

/// Read by the JSON shape each variant is written in. (Serde's untagged reading tries the
/// variants in turn and builds an error for each that fails: an empty cell, the last, cost four,
/// 0.6 µs, and a wide sparse sheet or JSON file millions of them.)
impl<'de: 'a, 'a> Deserialize<'de> for StoredCell<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Shape;
        impl<'de> serde::de::Visitor<'de> for Shape {
            type Value = StoredCell<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a stored cell: text, a number, a boolean, null or a tagged cell")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(StoredCell::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StoredCell::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(StoredCell::Str(Cow::Owned(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(StoredCell::Number(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(StoredCell::Number(v as f64))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(StoredCell::Number(v as f64))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(StoredCell::Bool(v))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(StoredCell::Null(()))
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(StoredCell::Null(()))
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
                TaggedCell::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(StoredCell::Tagged)
            }
        }
        deserializer.deserialize_any(Shape)
    }
}

/// Cells that JSON has no plain shape for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TaggedCell<'a> {
    /// A date-formatted serial.
    Date(f64),
    /// A JSON number as written (see [`CellRef::Numeral`]).
    #[serde(borrow)]
    Numeral(Cow<'a, str>),
    /// A serial in a format that shows its time (see [`CellRef::ExcelDateTime`]).
    DateTime(f64),
    /// A serial in a format that shows its time alone (see [`CellRef::ExcelTime`]).
    Time(f64),
    /// A spreadsheet's logical value (see [`CellRef::SheetBool`]).
    SheetBool(bool),
    /// A spreadsheet error value.
    #[serde(borrow)]
    Error(Cow<'a, str>),
    /// A list of strings.
    #[serde(borrow)]
    List(Vec<Cow<'a, str>>),
    /// Nested JSON text.
    #[serde(borrow)]
    Json(Cow<'a, str>),
    /// A 64-bit integer that a float cannot hold exactly.
    Int(i64),
    /// A whole number and the digits its format shows (see [`CellRef::Shown`]).
    Shown(i64, #[serde(borrow)] Cow<'a, str>),
    /// Text that could not be decoded, and where (see [`CellRef::Undecodable`]).
    Undecodable(#[serde(borrow)] Cow<'a, str>, u32),
    /// A formula without its result (see [`CellRef::Uncalculated`]).
    #[serde(borrow)]
    Uncalculated(Cow<'a, str>),
}

impl<'a> StoredCell<'a> {
    /// The cell the engine reads.
    pub fn to_cell_ref(&self) -> CellRef<'a> {
        match self {
            StoredCell::Str(s) => CellRef::Str(s.clone()),
            StoredCell::Number(n) => CellRef::Number(*n),
            StoredCell::Bool(b) => CellRef::Bool(*b),
            StoredCell::Null(()) => CellRef::Empty,
            StoredCell::Tagged(TaggedCell::Date(d)) => CellRef::ExcelDate(*d),
            StoredCell::Tagged(TaggedCell::Numeral(n)) => CellRef::Numeral(n.clone()),
            StoredCell::Tagged(TaggedCell::DateTime(d)) => CellRef::ExcelDateTime(*d),
            StoredCell::Tagged(TaggedCell::Time(d)) => CellRef::ExcelTime(*d),
            StoredCell::Tagged(TaggedCell::SheetBool(b)) => CellRef::SheetBool(*b),
            StoredCell::Tagged(TaggedCell::Error(e)) => CellRef::Error(e.clone()),
            StoredCell::Tagged(TaggedCell::List(l)) => CellRef::List(l.clone()),
            StoredCell::Tagged(TaggedCell::Json(j)) => CellRef::Json(j.clone()),
            StoredCell::Tagged(TaggedCell::Int(i)) => CellRef::Int(*i),
            StoredCell::Tagged(TaggedCell::Shown(i, s)) => CellRef::Shown(*i, s.clone()),
            StoredCell::Tagged(TaggedCell::Undecodable(s, at)) => CellRef::Undecodable(s.clone(), *at),
            StoredCell::Tagged(TaggedCell::Uncalculated(f)) => CellRef::Uncalculated(f.clone()),
        }
    }

    /// The stored form of a cell.
    pub fn from_cell_ref(cell: CellRef<'a>) -> StoredCell<'a> {
        match cell {
            CellRef::Bytes(b) => StoredCell::Str(match b {
                Cow::Borrowed(b) => String::from_utf8_lossy(b),
                Cow::Owned(b) => Cow::Owned(String::from_utf8_lossy(&b).into_owned()),
            }),
            CellRef::Str(s) => StoredCell::Str(s),
            CellRef::Numeral(n) => StoredCell::Tagged(TaggedCell::Numeral(n)),
            CellRef::Number(n) => StoredCell::Number(n),
            CellRef::Int(i) if (i.unsigned_abs()) < (1u64 << 53) => StoredCell::Number(i as f64),
            CellRef::Int(i) => StoredCell::Tagged(TaggedCell::Int(i)),
            CellRef::Shown(i, s) => StoredCell::Tagged(TaggedCell::Shown(i, s)),
            CellRef::Bool(b) => StoredCell::Bool(b),
            CellRef::SheetBool(b) => StoredCell::Tagged(TaggedCell::SheetBool(b)),
            CellRef::ExcelDate(d) => StoredCell::Tagged(TaggedCell::Date(d)),
            CellRef::ExcelDateTime(d) => StoredCell::Tagged(TaggedCell::DateTime(d)),
            CellRef::ExcelTime(d) => StoredCell::Tagged(TaggedCell::Time(d)),
            CellRef::Error(e) => StoredCell::Tagged(TaggedCell::Error(e)),
            CellRef::List(l) => StoredCell::Tagged(TaggedCell::List(l)),
            CellRef::Json(j) => StoredCell::Tagged(TaggedCell::Json(j)),
            CellRef::Undecodable(s, at) => StoredCell::Tagged(TaggedCell::Undecodable(s, at)),
            CellRef::Uncalculated(f) => StoredCell::Tagged(TaggedCell::Uncalculated(f)),
            CellRef::Empty => StoredCell::Null(()),
        }
    }
}

/// One stored record per line of a chunk file: `[line, [cells…]]`, or where most of its cells
/// are empty, `[line, width, [[column, cell]…]]` with only the others. A JSON object whose one key
/// is the 2,048th column was stored and read as 2,047 empty cells and one.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord<'a>(pub u64, pub Vec<StoredCell<'a>>);

impl StoredRecord<'_> {
    /// Records narrower than this are stored whole, whatever their empty cells.
    const SPARSE_FROM: usize = 64;
}

impl Serialize for StoredRecord<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let filled = self.1.iter().filter(|c| !matches!(c, StoredCell::Null(()))).count();
        if self.1.len() < StoredRecord::SPARSE_FROM || filled * 4 >= self.1.len() {
            let mut t = serializer.serialize_tuple(2)?;
            t.serialize_element(&self.0)?;
            t.serialize_element(&self.1)?;
            return t.end();
        }
        let cells: Vec<(usize, &StoredCell<'_>)> =
            self.1.iter().enumerate().filter(|(_, c)| !matches!(c, StoredCell::Null(()))).collect();
        let mut t = serializer.serialize_tuple(3)?;
        t.serialize_element(&self.0)?;
        t.serialize_element(&self.1.len())?;
        t.serialize_element(&cells)?;
        t.end()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for StoredRecord<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, SeqAccess, Visitor};
        /// The second element: the cells, or the width of a sparse record.
        enum Second<'a> {
            Cells(Vec<StoredCell<'a>>),
            Width(u64),
        }
        impl<'de: 'a, 'a> Deserialize<'de> for Second<'a> {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Shape;
                impl<'de> Visitor<'de> for Shape {
                    type Value = Second<'de>;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a record's cells or its width")
                    }
                    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                        Ok(Second::Width(v))
                    }
                    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                        let mut cells = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                        while let Some(cell) = seq.next_element()? {
                            cells.push(cell);
                        }
                        Ok(Second::Cells(cells))
                    }
                }
                deserializer.deserialize_any(Shape)
            }
        }
        struct Shape;
        impl<'de> Visitor<'de> for Shape {
            type Value = StoredRecord<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a stored record: [line, [cells]] or [line, width, [[column, cell]]]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let line: u64 = seq.next_element()?.ok_or_else(|| A::Error::invalid_length(0, &self))?;
                let cells = match seq.next_element()?.ok_or_else(|| A::Error::invalid_length(1, &self))? {
                    Second::Cells(cells) => cells,
                    Second::Width(width) => {
                        // A chunk file is ours, but a width is never trusted to allocate.
                        let width = usize::try_from(width).ok().filter(|w| *w <= MAX_STORED_WIDTH);
                        let width = width.ok_or_else(|| A::Error::custom("a stored record wider than any sheet"))?;
                        let filled: Vec<(usize, StoredCell<'de>)> =
                            seq.next_element()?.ok_or_else(|| A::Error::invalid_length(2, &self))?;
                        let mut cells = vec![StoredCell::Null(()); width];
                        for (col, cell) in filled {
                            let slot =
                                cells.get_mut(col).ok_or_else(|| A::Error::custom("a stored cell past its width"))?;
                            *slot = cell;
                        }
                        cells
                    }
                };
                if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    return Err(A::Error::custom("a stored record with more elements than it has"));
                }
                Ok(StoredRecord(line, cells))
            }
        }
        deserializer.deserialize_seq(Shape)
    }
}

/// The widest stored record read: an XLSX sheet has 16,384 columns.
const MAX_STORED_WIDTH: usize = 1 << 14;

impl<'a> Record<'a> for StoredRecord<'a> {
    fn line(&self) -> u64 {
        self.0
    }
    fn len(&self) -> usize {
        self.1.len()
    }
    fn cell(&self, col: usize) -> CellRef<'a> {
        self.1[col].to_cell_ref()
    }
}

/// The DOS end-of-file mark, Ctrl-Z.
const DOS_EOF: u8 = 0x1A;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mostly_empty_record_is_stored_by_its_filled_cells_and_read_back_whole() {
        let mut cells = vec![StoredCell::Null(()); 2048];
        cells[5] = StoredCell::Str("five".into());
        cells[2047] = StoredCell::Number(7.5);
        let sparse = StoredRecord(12, cells);
        let text = serde_json::to_string(&sparse).unwrap();
        assert_eq!(text, r#"[12,2048,[[5,"five"],[2047,7.5]]]"#);
        assert_eq!(serde_json::from_str::<StoredRecord<'_>>(&text).unwrap(), sparse);
        // Narrow or mostly filled records are stored whole.
        let narrow = StoredRecord(3, vec![StoredCell::Null(()), StoredCell::Bool(true)]);
        let text = serde_json::to_string(&narrow).unwrap();
        assert_eq!(text, "[3,[null,true]]");
        assert_eq!(serde_json::from_str::<StoredRecord<'_>>(&text).unwrap(), narrow);
        let full = StoredRecord(4, vec![StoredCell::Str("x".into()); 100]);
        assert!(serde_json::to_string(&full).unwrap().starts_with("[4,[\"x\","));
        // Damage is an error, not a panic or a large allocation.
        for bad in ["[1,4,[[4,\"x\"]]]", "[1,99999999999,[]]", "[1,[null],3]", "[1]", "[1,4]", "[1,\"x\"]"] {
            assert!(serde_json::from_str::<StoredRecord<'_>>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn blank_bytes_are_what_trimming_empties() {
        assert!(is_blank_bytes(b"\x1A") && is_blank_bytes(b" \x1A\r\n"), "the DOS end-of-file mark");
        assert!(!is_blank_bytes(b"\x1Ax"));
        assert!(is_blank_bytes(b"\0\0\0"), "NUL padding");
        for blank in [
            "",
            " \t\r\n",
            "\u{A0}",
            " \u{3000}\u{2028} \u{85}\u{B}",
            "\u{1680}",
            "\u{FEFF}\u{200B}\u{2060}",
            "\u{061C}\u{200E}",
        ] {
            assert!(is_blank_bytes(blank.as_bytes()), "{blank:?}");
            assert!(crate::convert::trim(blank).is_empty());
        }
        for text in ["a", " \u{A0}x", "\u{A1}", "\u{2030}", "Łukasz", "\u{FEFE}", "\u{200D}", "\u{061B}", "ب"] {
            assert!(!is_blank_bytes(text.as_bytes()), "{text:?}");
            assert!(!crate::convert::trim(text).is_empty());
        }
        assert!(!is_blank_bytes(b" \xC2"), "a cut character is not white space");
        assert!(!is_blank_bytes(b"\xE2\x80"), "a cut character is not white space");
    }

    #[test]
    fn stored_records_round_trip_every_cell_kind() {
        let record = StoredRecord(
            12,
            vec![
                StoredCell::Str("a \"quoted\" text".into()),
                StoredCell::Number(1.5),
                StoredCell::Bool(false),
                StoredCell::Null(()),
                StoredCell::Tagged(TaggedCell::Date(45000.25)),
                StoredCell::Tagged(TaggedCell::Error("#DIV/0!".into())),
                StoredCell::Tagged(TaggedCell::List(vec!["x".into(), "y".into()])),
                StoredCell::Tagged(TaggedCell::Int(i64::MAX)),
                StoredCell::Tagged(TaggedCell::Undecodable("a\u{FFFD}\"b".into(), 2)),
                StoredCell::Tagged(TaggedCell::Uncalculated("IF(A1=\"\",1,2)".into())),
            ],
        );
        let json = serde_json::to_string(&record).unwrap();
        let back: StoredRecord<'_> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, record);
        // Numbers written as integers, text borrowed where it has no escapes, and a tag no cell
        // has refused.
        let back: StoredRecord<'_> = serde_json::from_str(r#"[3,[5,-2,"t",null,true]]"#).unwrap();
        let cells = [
            StoredCell::Number(5.0),
            StoredCell::Number(-2.0),
            StoredCell::Str("t".into()),
            StoredCell::Null(()),
            StoredCell::Bool(true),
        ];
        assert_eq!(back, StoredRecord(3, cells.to_vec()));
        assert!(matches!(&back.1[2], StoredCell::Str(Cow::Borrowed("t"))));
        assert!(serde_json::from_str::<StoredRecord<'_>>(r#"[1,[{"nope":1}]]"#).is_err());
    }

    #[test]
    fn stored_numbers_come_back_bit_for_bit() {
        // serde_json parses floats to within a unit in the last place unless `float_roundtrip`
        // is on: 9007199254740991 came back as ...990, an id changed silently.
        let numbers = [
            9_007_199_254_740_991.0,
            2_000_000_000_000_001.0,
            8_999_999_999_999_999.0,
            0.1 + 0.2,
            1e-300,
            45_000.123_456_789,
        ];
        let record = StoredRecord(1, numbers.iter().map(|n| StoredCell::Number(*n)).collect());
        let json = serde_json::to_string(&record).unwrap();
        let back: StoredRecord<'_> = serde_json::from_str(&json).unwrap();
        for (cell, n) in back.1.iter().zip(numbers) {
            assert_eq!(*cell, StoredCell::Number(n), "{n:?}");
        }
    }

    #[test]
    fn numbers_print_as_spreadsheets_show_them() {
        assert_eq!(format_number(1.0), "1");
        assert_eq!(format_number(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_number(-12.5), "-12.5");
        assert_eq!(format_number(1.5e-27), "0.0000000000000000000000000015");
        assert_eq!(format_number(-1e-300), "-1e-300");
        assert_eq!(format_number(1.5e300), "1.5e300");
    }
}
