//! Format and delimiter detection from the first bytes of an upload.
//!
//! The content decides, not the name: a CSV named `.xlsx` is read as CSV and the import records
//! what was detected. Only when the bytes cannot tell (a JSON-looking CSV) does the name help.

use serde::{Deserialize, Serialize};

use super::csv::{CsvOptions, CsvParser, RecordSpans, Step};
use super::encoding::{Charset, sniff_bom, sniff_unmarked, sniff_utf16};

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
    /// A password-protected Office file (an OLE container holding an `EncryptedPackage`).
    #[error("this workbook is password-protected; remove the password, save it as .xlsx or .csv and upload again")]
    Encrypted,
    /// A zip that is not an Office workbook is reported by the workbook reader; other binaries here.
    #[error("this looks like a binary file ({0}), not CSV, XLSX or JSON")]
    Binary(&'static str),
    /// Text in UTF-32, which its byte order mark names.
    #[error("this text is UTF-32 (its byte order mark says so); save it as UTF-8 and upload again")]
    Utf32,
    /// A web page: many websites export a table as HTML under an `.xls` name, and a download
    /// that failed saves a login or error page under the name asked for.
    #[error(
        "this is a web page (HTML), not CSV, XLSX or JSON; if it holds a table (websites often export one as HTML named .xls), open it in a spreadsheet program, save it as .xlsx or .csv and upload again"
    )]
    Html,
    /// Excel's XML Spreadsheet 2003 format.
    #[error("this is an Excel XML Spreadsheet 2003 file; save it as .xlsx or .csv and upload again")]
    SpreadsheetXml,
    /// A flat OpenDocument file (LibreOffice's `.fods`).
    #[error("this is a flat OpenDocument (.fods) file; save it as .xlsx or .csv and upload again")]
    OpenDocumentXml,
    /// Other XML.
    #[error("this is an XML document, not CSV, XLSX or JSON")]
    Xml,
    /// A SYLK file (`ID;P…`), which Excel and LibreOffice still offer to save.
    #[error("this is a SYLK (.slk) spreadsheet file; save it as .xlsx or .csv and upload again")]
    Sylk,
    /// A DIF file (`TABLE`, `0,1`, ...).
    #[error("this is a DIF (.dif) spreadsheet file; save it as .xlsx or .csv and upload again")]
    Dif,
    /// A JSON file that holds one value (`null`, a string, a number) rather than rows.
    #[error("this JSON file holds a single value ({0}), not an array of objects or JSON Lines")]
    JsonValue(String),
    /// Rich text (TextEdit's default, Word's RTF), which starts like a JSON object.
    #[error("this is a rich text (RTF) document, not CSV, XLSX or JSON; save it as plain text (.csv) and upload again")]
    Rtf,
}

/// Whether text opens as JSON rows do, `[{"` or `{"key":`, which no CSV header does: an export
/// saved under a `.csv` or `.txt` name is still JSON.
fn json_rows_start(text: &[u8]) -> bool {
    let mut rest = text.iter().copied().filter(|b| !b.is_ascii_whitespace());
    match rest.next() {
        Some(b'[') => rest.next() == Some(b'{') && matches!(rest.next(), Some(b'"' | b'}')),
        Some(b'{') => {
            rest.next() == Some(b'"') && {
                let mut key = rest.skip_while(|b| *b != b'"');
                key.next() == Some(b'"') && key.next() == Some(b':')
            }
        }
        _ => false,
    }
}

/// Decides the format of an upload from its first bytes (and its name, when the bytes are ambiguous).
pub fn detect_format(head: &[u8], file_name: Option<&str>) -> Result<Format, FormatError> {
    detect_format_in(head, file_name, None)
}

/// As [`detect_format`], for bytes said to be in `declared` (an import's `encoding`): UTF-16
/// without a byte order mark, whose text in another script has too few zero bytes to be
/// recognised by them, is then that text, not binary data.
pub fn detect_format_in(
    head: &[u8],
    file_name: Option<&str>,
    declared: Option<Charset>,
) -> Result<Format, FormatError> {
    let declared_utf16 =
        [encoding_rs::UTF_16LE, encoding_rs::UTF_16BE].into_iter().find(|e| declared == Some(Charset::Web(e)));
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Ok(Format::Xlsx);
    }
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        // Office encrypts a password-protected .xlsx into the same container as an old .xls;
        // its directory names the stream `EncryptedPackage` (UTF-16), near the start.
        let encrypted: Vec<u8> = "EncryptedPackage".bytes().flat_map(|b| [b, 0]).collect();
        if head.windows(encrypted.len()).any(|w| w == encrypted.as_slice()) {
            return Err(FormatError::Encrypted);
        }
        return Err(FormatError::LegacyXls);
    }
    // Before UTF-16: the UTF-32LE mark begins with the UTF-16LE one.
    if head.starts_with(b"\xFF\xFE\0\0") || head.starts_with(b"\0\0\xFE\xFF") {
        return Err(FormatError::Utf32);
    }
    for (magic, what) in [
        (&b"%PDF"[..], "PDF"),
        (&b"\x89PNG"[..], "PNG image"),
        (&b"\xFF\xD8\xFF"[..], "JPEG image"),
        (
            &b"\x1F\x8B"[..],
            "a gzip archive: decompress it and upload the file inside, or if it is a Gnumeric workbook, save it as .xlsx or .csv",
        ),
        (&b"GIF8"[..], "GIF image"),
    ] {
        if head.starts_with(magic) {
            return Err(FormatError::Binary(what));
        }
    }
    if declared_utf16.is_none() && looks_binary(head) {
        return Err(FormatError::Binary("unrecognised binary data"));
    }
    // UTF-16 text is told by its characters, as UTF-8 text is (Windows PowerShell's `Out-File`
    // writes JSON in UTF-16).
    let utf16 = sniff_bom(head)
        .map(|b| b.encoding)
        .filter(|e| *e != encoding_rs::UTF_8)
        .or_else(|| sniff_utf16(head))
        .or(declared_utf16);
    let decoded = utf16.map(|encoding| encoding.decode_with_bom_removal(head).0.into_owned());
    let text = match &decoded {
        Some(decoded) => decoded.as_bytes(),
        None => head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head),
    };
    if let Some(markup) = markup(text) {
        return Err(markup);
    }
    if let Some(old) = old_spreadsheet_text(text) {
        return Err(old);
    }
    let first = text.iter().copied().find(|b| !b.is_ascii_whitespace());
    let name = file_name.unwrap_or("").to_ascii_lowercase();
    let csv_name = [".csv", ".tsv", ".txt", ".tab", ".psv"].iter().any(|ext| name.ends_with(ext));
    let json_name = [".json", ".jsonl", ".ndjson"].iter().any(|ext| name.ends_with(ext));
    match first {
        // An array of objects, or JSON Lines (one object per line).
        Some(b'[' | b'{') if !csv_name || json_rows_start(text) => Ok(Format::Json),
        // `null`, `"text"`, `42` named .json: a JSON value, but no rows (read as CSV, it was a
        // one-column file whose header is the value).
        // JSON with a comment before the rows: the JSON reader says what is wrong.
        Some(b'/') if json_name => Ok(Format::Json),
        _ if json_name => {
            let end =
                text.iter().rposition(|b| !b.is_ascii_whitespace() && !matches!(b, 0 | 0x1A)).map_or(0, |i| i + 1);
            let values: Result<Vec<serde_json::Value>, _> =
                serde_json::Deserializer::from_slice(&text[..end]).into_iter::<serde_json::Value>().collect();
            match values {
                Ok(values) if values.iter().all(|v| !v.is_array() && !v.is_object()) && !values.is_empty() => {
                    Err(FormatError::JsonValue(crate::convert::clip(&values[0].to_string()).into_owned()))
                }
                _ => Ok(Format::Csv),
            }
        }
        _ => Ok(Format::Csv),
    }
}

/// The text formats spreadsheets still save besides CSV: SYLK (`ID;P…`, then records such as
/// `C;X1;Y1;K"id"`) and DIF (`TABLE`, `0,1`). A `;` file whose header starts `ID;P` is no SYLK:
/// its next line is data, not a record.
fn old_spreadsheet_text(text: &[u8]) -> Option<FormatError> {
    let mut lines = text.split(|b| *b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let (first, second) = (lines.next()?, lines.next()?);
    let record = |l: &[u8]| {
        [&b"B;"[..], b"C;", b"F;", b"P;", b"O;", b"W;", b"NN;", b"NE;", b"NU;"].iter().any(|r| l.starts_with(r))
    };
    if first.starts_with(b"ID;P") && record(second) {
        return Some(FormatError::Sylk);
    }
    (first == b"TABLE" && second == b"0,1").then_some(FormatError::Dif)
}

/// HTML, XML or rich text where a table of text was expected: text whose first tag opens a
/// document (no CSV starts with `<?xml`, `<html` or `{\rtf`).
fn markup(text: &[u8]) -> Option<FormatError> {
    let mut text = trim_start(text);
    if text.starts_with(b"{\\rtf") {
        return Some(FormatError::Rtf);
    }
    // Comments before the first tag (`<!-- saved from url=… -->`).
    while text.starts_with(b"<!--") {
        let end = text.windows(3).position(|w| w == b"-->")?;
        text = trim_start(&text[end + 3..]);
    }
    let opens = |tag: &[u8]| {
        text.len() > tag.len()
            && text[..tag.len()].eq_ignore_ascii_case(tag)
            && matches!(text[tag.len()], b' ' | b'>' | b'\t' | b'\r' | b'\n')
    };
    if opens(b"<!doctype") && trim_start(&text[9..]).get(..4).is_some_and(|t| t.eq_ignore_ascii_case(b"html")) {
        return Some(FormatError::Html);
    }
    // A page closes its tags or has table rows and cells; a header of placeholders
    // (`<body>,<subject>,<to>`) does neither.
    let closes_a_tag = || text.windows(3).any(|w| w[0] == b'<' && w[1] == b'/' && w[2].is_ascii_alphabetic());
    let cells = || {
        text.windows(4).any(|w| {
            w[0] == b'<'
                && [&b"tr"[..], b"td", b"th"].iter().any(|t| w[1..3].eq_ignore_ascii_case(t))
                && matches!(w[3], b' ' | b'>' | b'\t' | b'\r' | b'\n')
        })
    };
    if [&b"<html"[..], b"<head", b"<body", b"<table", b"<meta"].iter().any(|tag| opens(tag))
        && (closes_a_tag() || cells())
    {
        return Some(FormatError::Html);
    }
    if opens(b"<?xml") {
        let sheet = b"urn:schemas-microsoft-com:office:spreadsheet";
        let open_document = b"urn:oasis:names:tc:opendocument";
        let html = |w: &[u8]| w.eq_ignore_ascii_case(b"<html");
        return Some(if text.windows(sheet.len()).any(|w| w == sheet) {
            FormatError::SpreadsheetXml
        } else if text.windows(open_document.len()).any(|w| w == open_document) {
            FormatError::OpenDocumentXml
        } else if text.windows(5).any(html) {
            FormatError::Html
        } else {
            FormatError::Xml
        });
    }
    None
}

fn trim_start(text: &[u8]) -> &[u8] {
    let start = text.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(text.len());
    &text[start..]
}

/// Whether the first bytes are binary data rather than text: more than one in twenty of them are
/// control characters other than tab, line breaks and form feed (text, even with a stray NUL, has
/// next to none). UTF-16 text, whose every other byte is zero, is not binary.
fn looks_binary(head: &[u8]) -> bool {
    if sniff_bom(head).is_some() || sniff_unmarked(head).is_some() {
        return false;
    }
    let mut sample = &head[..head.len().min(8192)];
    // NUL bytes padding text after its last line to the end of a block (some exporters do) say
    // nothing about the text; NUL bytes after anything else are counted.
    let text_end = sample.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    if text_end < sample.len() && matches!(sample[..text_end].last(), Some(b'\n' | b'\r')) {
        sample = &sample[..text_end];
    }
    let controls = sample.iter().filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C)).count();
    controls >= 4 && controls * 20 > sample.len()
}

/// How to cut a CSV sample: the delimiter (the setting, else the one Excel's `sep=` hint names,
/// else detected below the header) and which non-empty record is the header (`header_row`, one
/// further down under a hint, which is a line above the header).
pub fn csv_layout(sample: &[u8], is_complete: bool, delimiter: Option<u8>, header_row: u32) -> (u8, u32) {
    let hint = separator_hint(sample);
    let delimiter = delimiter.or(hint).unwrap_or_else(|| detect_delimiter_below(sample, is_complete, header_row));
    (delimiter, header_row.saturating_add(u32::from(hint.is_some())))
}

/// The first `n` non-empty records of a CSV sample after `skip` non-empty ones, as trimmed text:
/// the candidates for the header when a title sits above it.
pub fn leading_records(sample: &[u8], is_complete: bool, delimiter: u8, skip: u32, n: usize) -> Vec<Vec<String>> {
    let opts = CsvOptions { delimiter, ..CsvOptions::default() };
    let mut parser = CsvParser::new(sample, 1, opts, is_complete);
    let mut rec = RecordSpans::default();
    let mut rows = Vec::new();
    let mut skipped = 0;
    while rows.len() < n {
        match parser.next_record(&mut rec) {
            Ok(Step::Record) if rec.is_blank(sample) => {}
            Ok(Step::Record) if skipped < skip => skipped += 1,
            Ok(Step::Record) => rows.push(rec.header_names(sample)),
            _ => break,
        }
    }
    rows
}

/// For a file without a header row, over the first records of a sample after `skip` non-empty
/// ones: its columns, and the most up to a column holding a value. The columns are those up to
/// the last value (a short first row does not narrow them, a delimiter ending every line adds
/// none), or the widest record's when no record holds a value; `None` without a whole record.
pub fn sampled_widths(sample: &[u8], is_complete: bool, delimiter: u8, skip: u32) -> Option<(usize, usize)> {
    let rows = leading_records(sample, is_complete, delimiter, skip, 200);
    let widest = rows.iter().map(Vec::len).max().filter(|w| *w > 0)?;
    let filled = rows.iter().map(|r| r.iter().rposition(|c| !c.is_empty()).map_or(0, |i| i + 1)).max().unwrap_or(0);
    Some((if filled > 0 { filled } else { widest }, filled))
}

/// The delimiter named by Excel's first-line hint, `sep=;` (or `"sep=;"`), if the text starts
/// with one. The hint is not the header: readers take it as a line above the header (so line
/// numbers stay those an editor shows) and Excel, which hides it, agrees on which row is first.
pub fn separator_hint(text: &[u8]) -> Option<u8> {
    let quoted = text.first() == Some(&b'"');
    let rest = &text[usize::from(quoted)..];
    if rest.len() < 5 || !rest[..4].eq_ignore_ascii_case(b"sep=") {
        return None;
    }
    let delimiter = rest[4];
    if !(delimiter == b'\t' || delimiter.is_ascii_graphic()) || delimiter == b'"' {
        return None;
    }
    let mut end = &rest[5..];
    if quoted {
        end = end.strip_prefix(b"\"")?;
    }
    matches!(end.first(), None | Some(b'\r' | b'\n')).then_some(delimiter)
}

/// The delimiters detection chooses among, in the order that wins ties.
pub const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// Picks the delimiter among `,` `;` tab `|`: the one that splits the sample's records into the
/// same number of fields most consistently (and into more than one). `,` wins ties and
/// single-column files.
pub fn detect_delimiter(sample: &[u8], is_complete: bool) -> u8 {
    detect_delimiter_below(sample, is_complete, 1)
}

/// [`detect_delimiter`] for a file whose header is its `header_row`-th non-empty record: the
/// records above it (a title, an export date) say nothing about the delimiter and are passed over.
pub fn detect_delimiter_below(sample: &[u8], is_complete: bool, header_row: u32) -> u8 {
    let mut best = (b',', Score::default());
    for delimiter in DELIMITERS {
        let score = delimiter_score(sample, delimiter, is_complete, header_row.saturating_sub(1) as usize);
        // Two delimiters that split every row alike (`1;Smith, John;2,5`, a file without a
        // header row): the one whose fields read as numbers more often (`2,5` is one number).
        if score.rank > best.1.rank || (score.rank == best.1.rank && score.rank > 0.0 && score.numbers > best.1.numbers)
        {
            best = (delimiter, score);
        }
    }
    best.0
}

/// For Excel's "Unicode Text" (UTF-16, tab-separated) whose header is one cell under every
/// delimiter: tab when it cuts none of the sample's records, a file of one column whose values
/// may hold commas (`Note 1, with a comma`), which [`detect_delimiter_below`] would cut at them.
/// (A UTF-8 file of that shape may as well be a title over a comma-separated table.)
pub fn unicode_text_one_column(sample: &[u8], is_complete: bool, header_row: u32) -> Option<u8> {
    let skip = header_row.saturating_sub(1);
    let one_cell = DELIMITERS.iter().all(|d| delimiter_score(sample, *d, is_complete, skip as usize).rank == 0.0);
    // The first 200 records after the header too, as detection samples them.
    let records = leading_records(sample, is_complete, b'\t', skip, 201);
    (one_cell && !records.is_empty() && records.iter().all(|r| r.len() == 1)).then_some(b'\t')
}

/// How well a delimiter cuts a sample.
#[derive(Debug, Default, Clone, Copy)]
struct Score {
    /// Consistency first, then the number of columns.
    rank: f64,
    /// Fields that read as a number.
    numbers: usize,
}

fn delimiter_score(sample: &[u8], delimiter: u8, is_complete: bool, skip: usize) -> Score {
    let opts = CsvOptions {
        delimiter,
        max_field_bytes: usize::MAX / 4,
        max_record_bytes: usize::MAX / 4,
        max_columns: 20_000,
    };
    let mut parser = CsvParser::new(sample, 1, opts, is_complete);
    let mut rec = RecordSpans::default();
    let mut counts: Vec<usize> = Vec::new();
    let mut skipped = 0;
    let mut stray_quotes = 0;
    let mut numbers = 0;
    while counts.len() < 200 {
        match parser.next_record(&mut rec) {
            Ok(Step::Record) => {
                if rec.is_blank(sample) {
                    continue;
                }
                if skipped < skip {
                    skipped += 1;
                } else {
                    counts.push(rec.fields.len());
                    stray_quotes += usize::from(has_stray_quote(&rec, sample));
                    numbers +=
                        rec.fields.iter().filter(|f| is_number(&sample[f.start as usize..f.end as usize])).count();
                }
            }
            _ => break,
        }
    }
    let Some(&header) = counts.first() else {
        return Score::default();
    };
    if header < 2 {
        return Score::default();
    }
    let same = counts.iter().filter(|c| **c == header).count();
    // A record whose quote the delimiter leaves inside a field (`1,"a;b` read at `;`) was most
    // likely cut where the file does not cut it: the lines of a quoted field read as rows. (A
    // quote every delimiter leaves so, an inch mark, costs every one alike.)
    let stray = stray_quotes as f64 / counts.len() as f64;
    let consistency = same as f64 / counts.len() as f64 - stray;
    // Consistency matters most; more columns breaks ties between consistent candidates.
    Score { rank: consistency * 1000.0 + (header.min(999) as f64), numbers }
}

/// A field that is a number as some locale writes it: digits with one `.` or `,` inside, an
/// optional sign.
fn is_number(field: &[u8]) -> bool {
    let digits = field.strip_prefix(b"-").unwrap_or(field);
    let mut separators = 0;
    !digits.is_empty()
        && digits.first().is_some_and(u8::is_ascii_digit)
        && digits.last().is_some_and(u8::is_ascii_digit)
        && digits.iter().all(|b| {
            separators += usize::from(matches!(b, b'.' | b','));
            b.is_ascii_digit() || matches!(b, b'.' | b',')
        })
        && separators <= 1
}

/// Whether a field of the record holds a quote it was not quoted with, or text after its
/// closing quote.
fn has_stray_quote(rec: &RecordSpans, sample: &[u8]) -> bool {
    rec.fields.iter().any(|f| {
        f.flags & crate::read::csv::MALFORMED != 0
            || (f.flags & crate::read::csv::QUOTED == 0 && sample[f.start as usize..f.end as usize].contains(&b'"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_records_are_the_non_empty_records_after_those_skipped() {
        let text = b"sep=;\r\nReport\r\n\r\n\" id \";name\r\n1;\"a\r\nb\"\r\n2;c";
        let rows = leading_records(text, true, b';', 1, 10);
        assert_eq!(rows, vec![vec!["Report"], vec!["id", "name"], vec!["1", "a\r\nb"], vec!["2", "c"]]);
        assert_eq!(leading_records(text, true, b';', 1, 2).len(), 2);
        // An open quote at the end of an incomplete sample ends the list.
        assert_eq!(leading_records(b"a\n\"b\nc", false, b',', 0, 10), vec![vec!["a"]]);
    }

    #[test]
    fn unicode_text_of_one_column_is_not_cut_at_the_commas_its_values_hold() {
        assert_eq!(unicode_text_one_column(b"Notes\r\nNote 1, with a comma\r\nNote 2, too\r\n", true, 1), Some(b'\t'));
        // A header of two columns, or a tab in a record: detection decides.
        assert_eq!(unicode_text_one_column(b"id\tnote\r\n1\tx, y\r\n", true, 1), None);
        assert_eq!(unicode_text_one_column(b"Notes\r\na\tb\r\n", true, 1), None);
        // Detection alone still cuts such a file at `,` (a UTF-8 file of this shape may be a
        // title over a table).
        assert_eq!(detect_delimiter(b"Notes\r\nNote 1, with a comma\r\nNote 2, too\r\n", true), b',');
    }

    #[test]
    fn delimiters_that_split_rows_alike_are_told_apart_by_how_text_uses_them() {
        // No header row to tell: `;` cuts three columns, and so does `,` (in `Smith, John` and
        // a decimal comma).
        assert_eq!(detect_delimiter(b"1;Smith, John;2,5\n2;Doe, Jane;3,5\n3;Roe, Ann;4,5\n", true), b';');
        assert_eq!(detect_delimiter(b"1,Smith; John,2.5\n2,Doe; Jane,3.5\n", true), b',');
        // The lines of a quoted first field are not rows of another delimiter.
        let mut text = String::from("1,\"");
        text.push_str(&(0..200).map(|j| format!("a;b;c;d {j}")).collect::<Vec<_>>().join("\n"));
        text.push_str("\",1\n2,n,2.5\n3,m,3.5\n");
        assert_eq!(detect_delimiter(text.as_bytes(), true), b',');
        // Numbers with decimal commas; an inch mark in every row (a quote every delimiter
        // leaves inside a field).
        assert_eq!(detect_delimiter(b"1;2,50;3,75\n2;4,00;1,25\n3;10,10;0,5\n", true), b';');
        assert_eq!(detect_delimiter(b"1;2,5\n2;3,5\n", true), b';');
        let inches = "1;TV 55\", schwarz, 4K;1.299,99\n2;Monitor 27\";199,00\n3;Tablet 10\";249,50\n4;Laptop 15\", grau;899,00\n";
        assert_eq!(detect_delimiter(inches.as_bytes(), true), b';');
        assert_eq!(
            detect_delimiter(b"1,12\" pizza; extra; cheese; olives,9.99\n2,10\" pizza,7.50\n3,8\" pizza,5.00\n", true),
            b','
        );
    }

    #[test]
    fn excel_separator_hints_name_the_delimiter() {
        for (text, want) in [
            (&b"sep=;\r\nid;name\r\n"[..], Some(b';')),
            (b"SEP=|\nid|name\n", Some(b'|')),
            (b"\"sep=,\"\nid,name\n", Some(b',')),
            (b"sep=\t\rid\tname", Some(b'\t')),
            (b"sep=;", Some(b';')),
            (b"sep=;x\n", None),
            (b"sep=\n", None),
            (b"\"sep=;\n", None),
            (b"sep,name\n", None),
            (b"separator\n", None),
            (b"", None),
        ] {
            assert_eq!(separator_hint(text), want, "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn formats_come_from_content_before_names() {
        let check = |head: &[u8], name: Option<&str>, expected: Result<Format, FormatError>| {
            assert_eq!(detect_format(head, name), expected, "{name:?}");
        };
        check(b"PK\x03\x04rest", Some("data.csv"), Ok(Format::Xlsx));
        check(b"id,name\n1,a\n", Some("data.xlsx"), Ok(Format::Csv));
        check(b"  [{\"id\": 1}]", None, Ok(Format::Json));
        check(b"[note],x\n", Some("notes.csv"), Ok(Format::Csv));
        check(b"{\"id\": 1}\n{\"id\": 2}\n", Some("rows.jsonl"), Ok(Format::Json));
        check(b"{\"id\": 1}", None, Ok(Format::Json));
        check(b"null\n", Some("rows.json"), Err(FormatError::JsonValue("null".into())));
        check(b" \"s\"", Some("rows.JSON"), Err(FormatError::JsonValue("\"s\"".into())));
        check(b"123", Some("rows.jsonl"), Err(FormatError::JsonValue("123".into())));
        check(b"123", Some("rows.csv"), Ok(Format::Csv));
        check(b"42\0\0", Some("rows.json"), Err(FormatError::JsonValue("42".into())));
        check(b"42\n43\n", Some("rows.json"), Err(FormatError::JsonValue("42".into())));
        check(b"// export\n[{\"id\": 1}]", Some("rows.json"), Ok(Format::Json));
        check(b"id,name\n1,a\n", Some("rows.json"), Ok(Format::Csv));
        // UTF-16 by its characters, with a byte order mark or without.
        let utf16 = |text: &str, bom: &[u8]| -> Vec<u8> {
            bom.iter().copied().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect()
        };
        check(&utf16("[\r\n {\"id\": 1}\r\n]", b"\xFF\xFE"), Some("out.json"), Ok(Format::Json));
        check(&utf16("[\r\n {\"id\": 1}\r\n]", b""), None, Ok(Format::Json));
        check(&utf16("id,name\r\n1,a\r\n", b"\xFF\xFE"), None, Ok(Format::Csv));
        check(&utf16("<html><body><p>x</p></body></html>", b"\xFF\xFE"), None, Err(FormatError::Html));
        check(b"{id},{name}\n", Some("braces.csv"), Ok(Format::Csv));
        // JSON rows saved under a CSV's name: nothing a CSV header starts with.
        check(b"[{\"ID\":1,\"Name\":\"a\"}]", Some("export.csv"), Ok(Format::Json));
        check(b"[\r\n  {\r\n    \"ID\": 1\r\n  }\r\n]", Some("export.txt"), Ok(Format::Json));
        check(b"{\"ID\": 1}\n{\"ID\": 2}\n", Some("export.csv"), Ok(Format::Json));
        check(b"{\"a\",b\n", Some("braces.csv"), Ok(Format::Csv));
        check(b"[\"a\",\"b\"]\n", Some("list.csv"), Ok(Format::Csv));
        check(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", Some("old.xls"), Err(FormatError::LegacyXls));
        check(b"%PDF-1.7", Some("x.csv"), Err(FormatError::Binary("PDF")));
        let utf32 = |bom: &[u8], text: Vec<u8>| [bom, &text].concat();
        let le = utf32(b"\xFF\xFE\0\0", "id\n1\n".chars().flat_map(|c| (c as u32).to_le_bytes()).collect());
        let be = utf32(b"\0\0\xFE\xFF", "id\n1\n".chars().flat_map(|c| (c as u32).to_be_bytes()).collect());
        check(&le, Some("x.csv"), Err(FormatError::Utf32));
        check(&be, Some("x.csv"), Err(FormatError::Utf32));
        check(b"\xFF\xFEi\0d\0", Some("x.csv"), Ok(Format::Csv));
        let mut encrypted = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec();
        encrypted.extend(std::iter::repeat_n(0u8, 1000));
        encrypted.extend("EncryptedPackage".bytes().flat_map(|b| [b, 0]));
        check(&encrypted, Some("secret.xlsx"), Err(FormatError::Encrypted));
        // Markup where a table of text was expected.
        check(b"<html><body><table><tr><td>id</td>", Some("export.xls"), Err(FormatError::Html));
        check(b"\xEF\xBB\xBF\r\n  <!DOCTYPE html>\n<html>", Some("data.csv"), Err(FormatError::Html));
        check(b"<TABLE border=1>\n<TR><TD>id", Some("report.xls"), Err(FormatError::Html));
        check(b"<meta charset=utf-8><table><tr><td>id", Some("report.xls"), Err(FormatError::Html));
        check(b"<meta>,<title>\nx,y\n", Some("tags.csv"), Ok(Format::Csv));
        let spreadsheet_xml = b"<?xml version=\"1.0\"?>\n<?mso-application progid=\"Excel.Sheet\"?>\n<Workbook xmlns=\"urn:schemas-microsoft-com:office:spreadsheet\">";
        check(spreadsheet_xml, Some("book.xml"), Err(FormatError::SpreadsheetXml));
        let fods = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<office:document xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\">";
        check(fods, Some("people.fods"), Err(FormatError::OpenDocumentXml));
        check(b"ID;PCALCOOO32\nC;X1;Y1;K\"id\"\n", Some("people.slk"), Err(FormatError::Sylk));
        check(b"TABLE\r\n0,1\r\n\"People\"\r\n", Some("people.dif"), Err(FormatError::Dif));
        check(b"ID;PRODUCT;PRICE\n1;Pen;2\n", Some("p.csv"), Ok(Format::Csv));
        check(b"TABLE\nchair\n", Some("t.csv"), Ok(Format::Csv));
        check(b"<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\">", None, Err(FormatError::Html));
        check(b"<?xml version=\"1.0\"?><rows><row/></rows>", Some("rows.csv"), Err(FormatError::Xml));
        // A header that only starts like a tag is text.
        check(b"<id>,<name>\n1,a\n", Some("tags.csv"), Ok(Format::Csv));
        check(b"<html_id,name\n1,a\n", Some("x.csv"), Ok(Format::Csv));
        check(b"<table", Some("x.csv"), Ok(Format::Csv));
        check(b"<body>,<subject>,<to>\nHi,Offer,a@b.co\n", Some("merge.csv"), Ok(Format::Csv));
        check(b"<table>\t<column>\t<type>\nusers\tid\tint\n", Some("schema.tsv"), Ok(Format::Csv));
        check(b"<!DOCTYPE  HTML>\n<html><body></body></html>", Some("x.csv"), Err(FormatError::Html));
        check(
            b"<!-- saved from url=(0014)about:internet -->\r\n<html>\r\n<body><table></table>",
            None,
            Err(FormatError::Html),
        );
        check(b"{\\rtf1\\ansi\\ansicpg1252\\cocoartf2761\n", Some("contacts.txt"), Err(FormatError::Rtf));
        check(b"{\\rtf1\\ansi", Some("contacts.rtf"), Err(FormatError::Rtf));
    }

    #[test]
    fn seven_bit_japanese_and_utf16_said_to_be_so_are_text() {
        // ISO-2022-JP's escapes are no binary data.
        let jis = b"id,name\n1,\x1b$B;3ED\x1b(B\n2,\x1b$B:4F#\x1b(B\n3,\x1b$B9b66\x1b(B\n";
        assert_eq!(detect_format(jis, Some("x.csv")), Ok(Format::Csv));
        assert!(crate::read::encoding::sniff_iso_2022_jp(jis));
        assert!(!crate::read::encoding::sniff_iso_2022_jp(b"id\n1,\x1b[0m\n"));
        // UTF-16 in a script of its own has too few zero bytes to be told; an import that says
        // it is UTF-16 reads it.
        let gothic: Vec<u8> = "𐌓𐌀𐌔𐌍𐌀𐌓𐌀𐌔𐌍𐌀,𐌓𐌀𐌔𐌍𐌀𐌓𐌀𐌔𐌍𐌀\n".repeat(4).encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert!(detect_format(&gothic, Some("x.csv")).is_err());
        let utf16le = Some(Charset::Web(encoding_rs::UTF_16LE));
        assert_eq!(detect_format_in(&gothic, Some("x.csv"), utf16le), Ok(Format::Csv));
        let elf = [0x7F, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0x3E, 0];
        assert!(detect_format_in(&elf, Some("x.csv"), Some(Charset::Web(encoding_rs::WINDOWS_1252))).is_err());
    }

    #[test]
    fn binary_data_is_told_from_text_with_a_stray_control_byte() {
        let binary =
            |head: &[u8]| detect_format(head, Some("x.csv")) == Err(FormatError::Binary("unrecognised binary data"));
        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.extend(std::iter::repeat_n(0u8, 200));
        assert!(binary(&elf));
        assert!(!binary(b"id,name\n1,a\x00b\n2,c\n"));
        assert!(!binary(b"id\tname\r\n1\tx\x0c\r\n"));
        // NUL padding after the last line is not binary; NUL bytes after anything else are.
        assert!(!binary(b"id,name\n1,a\n\0\0\0\0\0\0\0\0"));
        assert!(binary(b"id,name\n1,a\0\0\0\0\0\0\0\0"));
        assert!(binary(&[0u8; 64]));
        let utf16: Vec<u8> = "id,name\r\n1,Zo\u{eb}\r\n".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        assert!(!binary(&utf16));
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

    #[test]
    fn rows_above_the_header_do_not_decide_the_delimiter() {
        let sample = b"Export of people\nGenerated 2024-06-01, by nobody\nid;name;amount\n1;a;1,5\n2;b;2\n";
        assert_eq!(detect_delimiter_below(sample, true, 3), b';');
    }
}
