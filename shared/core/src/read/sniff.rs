//! Format and delimiter detection from the first bytes of an upload.
//!
//! The content decides, not the name: a CSV named `.xlsx` is read as CSV and the import records
//! what was detected. Only when the bytes cannot tell (a JSON-looking CSV) does the name help.

use serde::{Deserialize, Serialize};

use super::csv::{CsvOptions, CsvParser, RecordSpans, Step};

/// The formats Sluice reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Delimited text.
    Csv,
    /// Office Open XML workbook.
    Xlsx,
    /// An array of objects.
    Json,
}

impl Format {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Json => "json",
        }
    }
}

/// Why the bytes are not a readable upload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// An old binary Excel file.
    #[error("this is a legacy Excel 97-2003 (.xls) workbook; save it as .xlsx or .csv and upload again")]
    LegacyXls,
    /// A zip that is not an Office workbook is reported by the workbook reader; other binaries here.
    #[error("this looks like a binary file ({0}), not CSV, XLSX or JSON")]
    Binary(&'static str),
    /// JSON that is not an array.
    #[error("JSON input must be an array of objects, one per row")]
    JsonNotArray,
}

/// Decides the format of an upload from its first bytes (and its name, when the bytes are ambiguous).
pub fn detect_format(head: &[u8], file_name: Option<&str>) -> Result<Format, FormatError> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Ok(Format::Xlsx);
    }
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Err(FormatError::LegacyXls);
    }
    for (magic, what) in [
        (&b"%PDF"[..], "PDF"),
        (&b"\x89PNG"[..], "PNG image"),
        (&b"\xFF\xD8\xFF"[..], "JPEG image"),
        (&b"\x1F\x8B"[..], "gzip archive"),
        (&b"GIF8"[..], "GIF image"),
    ] {
        if head.starts_with(magic) {
            return Err(FormatError::Binary(what));
        }
    }
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let first = text.iter().copied().find(|b| !b.is_ascii_whitespace());
    let name = file_name.unwrap_or("").to_ascii_lowercase();
    let csv_name = [".csv", ".tsv", ".txt", ".tab", ".psv"].iter().any(|ext| name.ends_with(ext));
    match first {
        Some(b'[') if !csv_name => Ok(Format::Json),
        Some(b'{') if name.ends_with(".json") => Err(FormatError::JsonNotArray),
        _ => Ok(Format::Csv),
    }
}

/// Picks the delimiter among `,` `;` tab `|`: the one that splits the sample's records into the
/// same number of fields most consistently (and into more than one). `,` wins ties and
/// single-column files.
pub fn detect_delimiter(sample: &[u8], is_complete: bool) -> u8 {
    let mut best = (b',', 0.0f64);
    for delimiter in [b',', b';', b'\t', b'|'] {
        let score = delimiter_score(sample, delimiter, is_complete);
        if score > best.1 {
            best = (delimiter, score);
        }
    }
    best.0
}

fn delimiter_score(sample: &[u8], delimiter: u8, is_complete: bool) -> f64 {
    let opts = CsvOptions {
        delimiter,
        max_field_bytes: usize::MAX / 4,
        max_record_bytes: usize::MAX / 4,
        max_columns: 20_000,
    };
    let mut parser = CsvParser::new(sample, 1, opts, is_complete);
    let mut rec = RecordSpans::default();
    let mut counts: Vec<usize> = Vec::new();
    while counts.len() < 200 {
        match parser.next_record(&mut rec) {
            Ok(Step::Record) => {
                if !rec.is_blank(sample) {
                    counts.push(rec.fields.len());
                }
            }
            _ => break,
        }
    }
    let Some(&header) = counts.first() else {
        return 0.0;
    };
    if header < 2 {
        return 0.0;
    }
    let same = counts.iter().filter(|c| **c == header).count();
    let consistency = same as f64 / counts.len() as f64;
    // Consistency matters most; more columns breaks ties between consistent candidates.
    consistency * 1000.0 + (header.min(999) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_content_before_names() {
        let check = |head: &[u8], name: Option<&str>, expected: Result<Format, FormatError>| {
            assert_eq!(detect_format(head, name), expected, "{name:?}");
        };
        check(b"PK\x03\x04rest", Some("data.csv"), Ok(Format::Xlsx));
        check(b"id,name\n1,a\n", Some("data.xlsx"), Ok(Format::Csv));
        check(b"  [{\"id\": 1}]", None, Ok(Format::Json));
        check(b"[note],x\n", Some("notes.csv"), Ok(Format::Csv));
        check(b"{\"id\": 1}", Some("rows.json"), Err(FormatError::JsonNotArray));
        check(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", Some("old.xls"), Err(FormatError::LegacyXls));
        check(b"%PDF-1.7", Some("x.csv"), Err(FormatError::Binary("PDF")));
    }

    #[test]
    fn delimiters_are_detected_quote_aware() {
        let check = |sample: &str, expected: u8| {
            assert_eq!(detect_delimiter(sample.as_bytes(), true) as char, expected as char, "{sample:?}");
        };
        check("id,name,amount\n1,a,2\n2,b,3\n", b',');
        check("id;name;amount\n1;\"a,b\";2,50\n2;c;3,10\n", b';');
        check("id\tname\n1\tx\n", b'\t');
        check("id|name|note\n1|a|x,y\n2|b|z\n", b'|');
        check("single\nvalue\n", b',');
        check("a,b;c\n\"x;y\",z;w\n", b',');
    }
}
