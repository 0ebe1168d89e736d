//! A CSV record reader with physical line numbers, size limits and honest errors.
//!
//! Why not the `csv` crate: it silently swallows the rest of a file after an unterminated quote
//! (rust-csv issue 289), counts only `\n` as a line break, and cannot resume mid-record across
//! blocks the way the splitter needs. This reader is one small state machine used twice: by the
//! splitter, block by block, to find record boundaries; and by chunk workers on exactly one chunk.
//! Because both use the same code, a chunk boundary is always a record boundary.
//!
//! Rules: RFC 4180 quoting (`""` inside quotes is a quote); a quote inside an unquoted field is
//! an ordinary character; text after a closing quote is kept and the field is flagged malformed,
//! as is an unquoted field that opens with spaces and a quote (`1, "Smith, John"`);
//! `\r\n`, `\n` and a lone `\r` each end a line, inside quotes too, so line numbers match what an
//! editor shows. A field written as Excel's text formula, `="01234"` (or quoted, `"=""01234"""`),
//! is the text between its quotes, as a spreadsheet shows it: exporters write it to keep leading
//! zeros.

use std::borrow::Cow;

use memchr::memchr3;

use crate::record::{CellRef, Record};

/// Dialect and limits of one CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    /// Field separator.
    pub delimiter: u8,
    /// Largest field, in bytes.
    pub max_field_bytes: usize,
    /// Largest record, in bytes.
    pub max_record_bytes: usize,
    /// Most fields in one record.
    pub max_columns: usize,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions { delimiter: b',', max_field_bytes: 1 << 20, max_record_bytes: 4 << 20, max_columns: 2048 }
    }
}

/// A file-level CSV fault: reading cannot go on past it without guessing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    /// A quoted field is still open at the end of the file.
    #[error("line {line}, column {column}: a quoted field starts here and is never closed")]
    UnterminatedQuote {
        /// Line of the opening quote.
        line: u64,
        /// Column (1-based field number) of the opening quote.
        column: u32,
    },
    /// A field exceeds the size limit.
    #[error("line {line}, column {column}: field is larger than the limit of {limit} bytes{}", quoted_hint(.quoted))]
    FieldTooLarge {
        /// Line where the field starts.
        line: u64,
        /// 1-based field number.
        column: u32,
        /// The limit.
        limit: usize,
        /// Whether the field opens with a quote: then a missing closing quote is the likely cause.
        quoted: bool,
    },
    /// A record exceeds the size limit.
    #[error("line {line}: record is larger than the limit of {limit} bytes{}", open_quote_hint(.open_quote))]
    RecordTooLarge {
        /// Line where the record starts.
        line: u64,
        /// The limit.
        limit: usize,
        /// Where a still-open quote started, the likely cause.
        open_quote: Option<(u64, u32)>,
    },
    /// A record has more fields than allowed.
    #[error("line {line}: more than {limit} columns")]
    TooManyColumns {
        /// Line where the record starts.
        line: u64,
        /// The limit.
        limit: usize,
    },
}

fn quoted_hint(quoted: &bool) -> &'static str {
    if *quoted { "; the field opens with a quote here, which may never be closed" } else { "" }
}

fn open_quote_hint(open: &Option<(u64, u32)>) -> String {
    match open {
        Some((line, column)) => format!("; a quote opened at line {line}, column {column} may never be closed"),
        None => String::new(),
    }
}

impl CsvError {
    /// The line the fault is reported at.
    pub fn line(&self) -> u64 {
        match self {
            CsvError::UnterminatedQuote { line, .. }
            | CsvError::FieldTooLarge { line, .. }
            | CsvError::RecordTooLarge { line, .. }
            | CsvError::TooManyColumns { line, .. } => *line,
        }
    }
}

/// Where one field lies in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FieldSpan {
    /// First byte of the content (after an opening quote).
    pub start: u32,
    /// End of the content (before a closing quote, or after trailing text when malformed).
    pub end: u32,
    /// Lines between the record's first line and this field's first line.
    pub line_offset: u32,
    /// `QUOTED`, `ESCAPED`, `MALFORMED` bits.
    pub flags: u8,
}

/// The field was quoted.
pub const QUOTED: u8 = 1;
/// The field holds `""` pairs (or a closing quote, when malformed) to undo.
pub const ESCAPED: u8 = 2;
/// Text follows the closing quote.
pub const MALFORMED: u8 = 4;
/// An unquoted field whose first character after spaces is a quote (`1, "Smith, John"`): the
/// quote is text, as RFC 4180 reads it, so a delimiter meant to be inside splits the cell.
pub const QUOTE_AFTER_SPACE: u8 = 8;

/// The spans of one record, reused from record to record.
#[derive(Debug, Clone, Default)]
pub struct RecordSpans {
    /// Line where the record starts.
    pub line: u64,
    /// Byte offset of the record in the buffer.
    pub start: usize,
    /// Byte offset just past the record's terminator.
    pub end: usize,
    /// The fields.
    pub fields: Vec<FieldSpan>,
    /// Union of the fields' flags.
    pub flags: u8,
}

impl RecordSpans {
    /// The record's fields over the buffer they were read from.
    pub fn view<'a, 'r>(&'r self, buf: &'a [u8]) -> CsvRecord<'a, 'r> {
        CsvRecord { buf, text: None, spans: self }
    }

    /// The record's fields over a buffer already checked to be UTF-8 (`text` is `buf` as a
    /// `str`): cells are handed out as text without checking each one again.
    pub fn view_text<'a, 'r>(&'r self, text: &'a str) -> CsvRecord<'a, 'r> {
        CsvRecord { buf: text.as_bytes(), text: Some(text), spans: self }
    }

    /// Whether every field is empty or blank (`=""`, Excel's empty text formula, too), as its
    /// value reads: quoting undone first.
    pub fn is_blank(&self, buf: &[u8]) -> bool {
        use crate::record::is_blank_bytes;
        self.fields.iter().all(|f| {
            let raw = &buf[f.start as usize..f.end as usize];
            if is_blank_bytes(raw) {
                return true;
            }
            if raw.first() != Some(&b'=') {
                return false;
            }
            let value = if f.flags & ESCAPED == 0 { Cow::Borrowed(raw) } else { Cow::Owned(unescape(raw)) };
            text_formula(&value).is_some_and(|r| is_blank_bytes(&value[r]))
        })
    }

    /// The record read as a header: each field as text (lossy UTF-8), trimmed as cells are (a
    /// byte order mark or zero-width space included).
    pub fn header_names(&self, buf: &[u8]) -> Vec<String> {
        let view = self.view(buf);
        (0..self.fields.len())
            .map(|c| crate::convert::trim(&String::from_utf8_lossy(&view.bytes(c))).to_string())
            .collect()
    }
}

/// A record over its buffer.
#[derive(Debug, Clone, Copy)]
pub struct CsvRecord<'a, 'r> {
    buf: &'a [u8],
    text: Option<&'a str>,
    spans: &'r RecordSpans,
}

impl<'a> CsvRecord<'a, '_> {
    /// The raw bytes of a field, with quoting undone.
    #[inline]
    pub fn bytes(&self, col: usize) -> Cow<'a, [u8]> {
        let f = self.spans.fields[col];
        let raw = &self.buf[f.start as usize..f.end as usize];
        if f.flags & ESCAPED == 0 {
            Cow::Borrowed(text_formula(raw).map_or(raw, |r| &raw[r]))
        } else {
            let mut bytes = unescape(raw);
            if let Some(r) = text_formula(&bytes) {
                bytes.truncate(r.end);
                bytes.drain(..r.start);
            }
            Cow::Owned(bytes)
        }
    }
}

impl<'a> Record<'a> for CsvRecord<'a, '_> {
    fn line(&self) -> u64 {
        self.spans.line
    }
    fn len(&self) -> usize {
        self.spans.fields.len()
    }
    #[inline(always)]
    fn cell(&self, col: usize) -> CellRef<'a> {
        match self.text {
            // Fields start and end at ASCII bytes (delimiters, quotes, line breaks), so slicing
            // valid UTF-8 there always lands on character boundaries.
            Some(text) => {
                let f = self.spans.fields[col];
                let raw = &text[f.start as usize..f.end as usize];
                if f.flags & ESCAPED == 0 {
                    CellRef::Str(Cow::Borrowed(text_formula(raw.as_bytes()).map_or(raw, |r| &raw[r])))
                } else {
                    let mut s = unescape_str(raw);
                    if let Some(r) = text_formula(s.as_bytes()) {
                        s.truncate(r.end);
                        s.drain(..r.start);
                    }
                    CellRef::Str(Cow::Owned(s))
                }
            }
            None => CellRef::Bytes(self.bytes(col)),
        }
    }
    #[inline(always)]
    fn text(&self, col: usize) -> Option<&'a str> {
        let f = self.spans.fields[col];
        if f.flags & ESCAPED != 0 {
            return None;
        }
        let raw = self.text?.get(f.start as usize..f.end as usize)?;
        Some(text_formula(raw.as_bytes()).map_or(raw, |r| &raw[r]))
    }
    #[inline(always)]
    fn cell_line(&self, col: usize) -> u64 {
        self.spans.line + u64::from(self.spans.fields[col].line_offset)
    }
    #[inline]
    fn is_blank(&self) -> bool {
        self.spans.is_blank(self.buf)
    }
    #[inline(always)]
    fn any_malformed(&self) -> bool {
        self.spans.flags & (MALFORMED | QUOTE_AFTER_SPACE) != 0
    }
    #[inline(always)]
    fn cell_malformed(&self, col: usize) -> bool {
        self.spans.fields[col].flags & MALFORMED != 0
    }
    #[inline(always)]
    fn cell_quote_after_space(&self, col: usize) -> bool {
        self.spans.fields[col].flags & QUOTE_AFTER_SPACE != 0
    }
}

/// Where the text is in a field written as Excel's text formula, `="…"` with no other quote:
/// between the two quotes. Both ends are ASCII, so the range is on character boundaries.
#[inline(always)]
fn text_formula(raw: &[u8]) -> Option<std::ops::Range<usize>> {
    if raw.first() != Some(&b'=') {
        return None;
    }
    let inner = raw.strip_prefix(b"=\"")?.strip_suffix(b"\"")?;
    (!inner.contains(&b'"')).then_some(2..raw.len() - 1)
}

/// [`unescape`] for text.
fn unescape_str(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('"') {
        out.push_str(&rest[..i]);
        if rest[i + 1..].starts_with('"') {
            out.push('"');
            rest = &rest[i + 2..];
        } else {
            rest = &rest[i + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// Undoes quoting: `""` becomes `"`, a lone `"` (the closing quote of a malformed field) is dropped.
fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'"' {
            if raw.get(i + 1) == Some(&b'"') {
                out.push(b'"');
                i += 2;
            } else {
                i += 1;
            }
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

/// What [`CsvParser::next_record`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A whole record was read into the spans.
    Record,
    /// The buffer ends inside a record; more input is needed (never when the buffer is final).
    Incomplete {
        /// Where a quote still open at the end of the buffer started.
        open_quote: Option<(u64, u32)>,
    },
    /// No more records.
    End,
}

/// Reads records from a buffer that starts at a record boundary.
#[derive(Debug, Clone)]
pub struct CsvParser<'a> {
    buf: &'a [u8],
    pos: usize,
    line: u64,
    opts: CsvOptions,
    is_final: bool,
    stop: [bool; 256],
}

impl<'a> CsvParser<'a> {
    /// A parser over `buf`, whose first byte is on `first_line`. `is_final` says no more input
    /// follows (so the buffer's end is the end of the file or chunk).
    pub fn new(buf: &'a [u8], first_line: u64, opts: CsvOptions, is_final: bool) -> CsvParser<'a> {
        assert!(buf.len() < u32::MAX as usize, "CSV buffers are cut into chunks well below 4 GiB");
        let mut stop = [false; 256];
        stop[usize::from(opts.delimiter)] = true;
        stop[usize::from(b'\n')] = true;
        stop[usize::from(b'\r')] = true;
        CsvParser { buf, pos: 0, line: first_line, opts, is_final, stop }
    }

    /// Byte offset of the next record.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Line of the next record.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Where the line break at `b[i]` (`\n`, or `\r` alone or before `\n`) ends; `None` when a
    /// `\r` ends the input and more may follow.
    #[inline]
    fn past_line_break(&self, b: &[u8], i: usize) -> Option<usize> {
        match b.get(i + 1) {
            _ if b[i] == b'\n' => Some(i + 1),
            Some(next) => Some(i + if *next == b'\n' { 2 } else { 1 }),
            None if self.is_final => Some(i + 1),
            None => None,
        }
    }

    /// Reads the next record into `rec`. On `Incomplete` nothing is consumed.
    pub fn next_record(&mut self, rec: &mut RecordSpans) -> Result<Step, CsvError> {
        let b = self.buf;
        let n = b.len();
        let start = self.pos;
        if start >= n {
            return Ok(Step::End);
        }
        let delim = self.opts.delimiter;
        let max_field = self.opts.max_field_bytes;
        let record_line = self.line;
        let mut line = record_line;
        let mut i = start;
        rec.fields.clear();
        rec.flags = 0;
        rec.line = record_line;
        rec.start = start;
        loop {
            let field_line = line;
            let column = rec.fields.len() as u32 + 1;
            if column as usize > self.opts.max_columns {
                // Cells past the limit that are all empty (a row ending in thousands of
                // delimiters, as an export of formatted blank columns writes) hold nothing to
                // lose: the record ends at its line break. A value there is still an error.
                let blank = |s: &[u8]| s.iter().all(|c| *c == delim || matches!(c, b' ' | b'\t'));
                match memchr::memchr2(b'\n', b'\r', &b[i..]) {
                    Some(k) if blank(&b[i..i + k]) => i += k,
                    None if self.is_final && blank(&b[i..]) => i = n,
                    None if !self.is_final && blank(&b[i..]) => return Ok(Step::Incomplete { open_quote: None }),
                    _ => return Err(CsvError::TooManyColumns { line: record_line, limit: self.opts.max_columns }),
                }
                if i < n {
                    let Some(next) = self.past_line_break(b, i) else {
                        return Ok(Step::Incomplete { open_quote: None });
                    };
                    i = next;
                    line += 1;
                }
                break;
            }
            let mut span = FieldSpan { start: 0, end: 0, line_offset: (field_line - record_line) as u32, flags: 0 };
            if i < n && b[i] == b'"' {
                span.flags = QUOTED;
                let content = i + 1;
                i = content;
                loop {
                    let Some(off) = memchr3(b'"', b'\n', b'\r', &b[i..]) else {
                        return self.open_quote_at_end(field_line, column, content);
                    };
                    i += off;
                    match b[i] {
                        b'\n' => {
                            line += 1;
                            i += 1;
                        }
                        b'\r' => {
                            if i + 1 < n {
                                i += if b[i + 1] == b'\n' { 2 } else { 1 };
                            } else if self.is_final {
                                i += 1;
                            } else {
                                return Ok(Step::Incomplete { open_quote: Some((field_line, column)) });
                            }
                            line += 1;
                        }
                        _ => {
                            if i + 1 < n && b[i + 1] == b'"' {
                                span.flags |= ESCAPED;
                                i += 2;
                            } else if i + 1 >= n && !self.is_final {
                                return Ok(Step::Incomplete { open_quote: Some((field_line, column)) });
                            } else {
                                break;
                            }
                        }
                    }
                    if i - content > max_field {
                        return Err(CsvError::FieldTooLarge {
                            line: field_line,
                            column,
                            limit: max_field,
                            quoted: true,
                        });
                    }
                }
                // `i` is on the closing quote.
                span.start = content as u32;
                span.end = i as u32;
                i += 1;
                if i < n && !self.stop[usize::from(b[i])] {
                    // Text after the closing quote: keep it, flag the field.
                    while i < n && !self.stop[usize::from(b[i])] {
                        i += 1;
                    }
                    span.end = i as u32;
                    span.flags |= MALFORMED | ESCAPED;
                }
                if i - content > max_field + 1 {
                    return Err(CsvError::FieldTooLarge { line: field_line, column, limit: max_field, quoted: false });
                }
            } else {
                let field_start = i;
                i = self.scan_unquoted(b, i);
                if i - field_start > max_field {
                    return Err(CsvError::FieldTooLarge { line: field_line, column, limit: max_field, quoted: false });
                }
                span.start = field_start as u32;
                span.end = i as u32;
                if matches!(b.get(field_start), Some(b' ' | b'\t'))
                    && b[field_start..i].iter().find(|c| !matches!(c, b' ' | b'\t')) == Some(&b'"')
                {
                    span.flags = QUOTE_AFTER_SPACE;
                }
            }
            if i >= n && !self.is_final {
                return Ok(Step::Incomplete { open_quote: None });
            }
            rec.flags |= span.flags;
            rec.fields.push(span);
            if i >= n {
                break;
            }
            match b[i] {
                c if c == delim => {
                    i += 1;
                    if i >= n && !self.is_final {
                        return Ok(Step::Incomplete { open_quote: None });
                    }
                    // A trailing delimiter at the very end: the next pass reads one more, empty
                    // field, on the current line and within the column limit like any other.
                }
                b'\n' => {
                    i += 1;
                    line += 1;
                    break;
                }
                _ => {
                    let Some(next) = self.past_line_break(b, i) else {
                        return Ok(Step::Incomplete { open_quote: None });
                    };
                    i = next;
                    line += 1;
                    break;
                }
            }
            if i - start > self.opts.max_record_bytes {
                return Err(CsvError::RecordTooLarge {
                    line: record_line,
                    limit: self.opts.max_record_bytes,
                    open_quote: None,
                });
            }
        }
        if i - start > self.opts.max_record_bytes {
            return Err(CsvError::RecordTooLarge {
                line: record_line,
                limit: self.opts.max_record_bytes,
                open_quote: None,
            });
        }
        rec.end = i;
        self.pos = i;
        self.line = line;
        Ok(Step::Record)
    }

    /// The first delimiter, `\n` or `\r` at or after `i` (or `b.len()`), eight bytes at a time.
    ///
    /// SWAR: for each target byte `t`, `(x - LO) & !x & HI` with `x = word ^ (t * LO)` sets the
    /// high bit of every byte of `word` equal to `t`. Borrows can set spurious bits, but only
    /// above a true match, so the lowest set bit of the combined mask is exact.
    #[inline]
    fn scan_unquoted(&self, b: &[u8], mut i: usize) -> usize {
        const LO: u64 = 0x0101_0101_0101_0101;
        const HI: u64 = 0x8080_8080_8080_8080;
        let d = LO * u64::from(self.opts.delimiter);
        while i + 8 <= b.len() {
            let mut word = [0u8; 8];
            word.copy_from_slice(&b[i..i + 8]);
            let w = u64::from_le_bytes(word);
            let (xd, xn, xr) = (w ^ d, w ^ (LO * u64::from(b'\n')), w ^ (LO * u64::from(b'\r')));
            let hits = ((xd.wrapping_sub(LO) & !xd) | (xn.wrapping_sub(LO) & !xn) | (xr.wrapping_sub(LO) & !xr)) & HI;
            if hits != 0 {
                return i + (hits.trailing_zeros() / 8) as usize;
            }
            i += 8;
        }
        while i < b.len() && !self.stop[usize::from(b[i])] {
            i += 1;
        }
        i
    }

    fn open_quote_at_end(&self, line: u64, column: u32, content: usize) -> Result<Step, CsvError> {
        if self.is_final {
            if self.buf.len() - content > self.opts.max_field_bytes {
                return Err(CsvError::FieldTooLarge { line, column, limit: self.opts.max_field_bytes, quoted: true });
            }
            Err(CsvError::UnterminatedQuote { line, column })
        } else {
            Ok(Step::Incomplete { open_quote: Some((line, column)) })
        }
    }
}

#[cfg(test)]
mod tests;
