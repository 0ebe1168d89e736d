//! Reading one cell as one field type: the type rules of seed 004 and the settings' locale.
//!
//! Every function here is total: a cell becomes a [`Value`], nothing (empty), or a [`Fault`] with
//! a stable code and a message that quotes the value. Dates are ISO 8601 unless the import names
//! a locale or the field a format, so `2020/05/01` is not silently read as some day in May.

use std::borrow::Cow;

use jiff::civil;
use rust_decimal::Decimal;

use crate::codes;
use crate::record::{CellRef, format_number};
use crate::settings::{DateOrder, Locale, Settings};
use crate::template::{BoolWords, Choices, Kind};
use crate::value::{Value, push_date};

/// How values are read, from the import's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Order of non-ISO dates; ISO only when `None`.
    pub date_order: Option<DateOrder>,
    /// Whether decimals use a comma (numbers may then group thousands with `.`).
    pub decimal_comma: bool,
    /// The thousands separator numbers written with a decimal point may use: `,` under a
    /// locale such as `en-US`, `'` in Switzerland; none without a locale, where `1,234` may
    /// as well be a decimal comma.
    pub thousands: Option<u8>,
    /// Whether numbers may also group thousands with spaces (`1 234,56` under `fr-FR`, with a
    /// space or the no-break spaces spreadsheets write).
    pub space_thousands: bool,
    /// Whether numbers may also group in lakhs and crores (`1,23,45,678.50` under `en-IN`).
    pub lakh_grouping: bool,
    /// Whether a written date's year of 2400 or more is of the Buddhist era (under `th-TH`, as
    /// Thai Excel writes dates: 15/01/2567 is 15 January 2024).
    pub buddhist_era: bool,
    /// Offset for date-times written without one.
    pub offset_seconds: i32,
    /// Whether cells are trimmed.
    pub trim: bool,
    /// Whether spreadsheet serial dates count from 1904.
    pub is_1904: bool,
    /// The file's encoding when it was not UTF-8 (its cells were converted to UTF-8, and a
    /// sequence invalid in it is marked): encoding errors then name it, not UTF-8.
    pub source_encoding: Option<&'static encoding_rs::Encoding>,
}

impl ParseOptions {
    /// The options an import's settings imply.
    pub fn from_settings(s: &Settings) -> ParseOptions {
        let locale = s.locale.as_deref().and_then(Locale::parse);
        ParseOptions {
            date_order: s.date_order,
            decimal_comma: s.decimal_comma,
            thousands: locale.map(|l| l.point_thousands),
            space_thousands: s.decimal_comma && locale.is_some_and(|l| l.space_thousands),
            lakh_grouping: !s.decimal_comma && locale.is_some_and(|l| l.lakh_grouping),
            buddhist_era: locale.is_some_and(|l| l.buddhist_era),
            offset_seconds: s.timezone_offset_minutes * 60,
            trim: s.trim_whitespace,
            is_1904: false,
            source_encoding: None,
        }
    }

    /// The options for numbers in a syntax of their own, whatever the locale: a template's own
    /// values (defaults, bounds, typed choices, as YAML and JSON write them), a spreadsheet's
    /// number cells and JSON's numbers. A `.` point and no grouping, so `max: 1.5` and a cell of
    /// 1.234 are what they say under `de-DE` too; dates and date-times in the settings' order and
    /// offset.
    pub fn plain_numbers(mut self) -> ParseOptions {
        self.decimal_comma = false;
        self.thousands = None;
        self.space_thousands = false;
        self.lakh_grouping = false;
        self
    }

    /// These options with dates read in ISO alone (`YYYY-MM-DD`), whatever the locale's order:
    /// a template's own dates (bounds, defaults) mean one day in every locale.
    pub fn iso_dates(mut self) -> ParseOptions {
        self.date_order = None;
        self.buddhist_era = false;
        self
    }

    /// The separator that may group thousands, if any.
    #[inline]
    fn grouping(&self) -> Option<u8> {
        if self.decimal_comma { Some(b'.') } else { self.thousands }
    }

    /// Notes the file's encoding, by name, for encoding errors (UTF-8 and unknown names change
    /// nothing).
    pub fn encoded_as(mut self, name: Option<&str>) -> ParseOptions {
        self.source_encoding =
            name.and_then(|n| encoding_rs::Encoding::for_label(n.as_bytes())).filter(|e| *e != encoding_rs::UTF_8);
        self
    }
}

/// Why a cell is not a valid value of its field's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Stable code from [`crate::codes`].
    pub code: &'static str,
    /// What is wrong, quoting the value.
    pub message: String,
}

impl Fault {
    fn new(code: &'static str, message: String) -> Fault {
        Fault { code, message }
    }
}

/// The outcome of reading one cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Converted<'a> {
    /// A value of the field's type.
    Valid(Value<'a>),
    /// Nothing there (after trimming).
    Empty,
    /// Something there that is not a value of the type (boxed: faults are rare, cells are many).
    Invalid(Box<Fault>),
}

/// A cell read as a field: the outcome and the cell's text (trimmed), for validators and errors.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertedCell<'a> {
    /// The outcome.
    pub value: Converted<'a>,
    /// The text as written (trimmed when trimming is on).
    pub text: Cow<'a, str>,
}

/// Reads a cell as a field of `kind`.
#[inline]
pub fn convert_cell<'a>(kind: &'a Kind, cell: CellRef<'a>, opts: &ParseOptions) -> ConvertedCell<'a> {
    let text: Cow<'a, str> = match cell {
        CellRef::Bytes(Cow::Borrowed(bytes)) => match std::str::from_utf8(bytes) {
            Ok(s) => Cow::Borrowed(if opts.trim { trim(s) } else { s }),
            Err(e) => return invalid_encoding(bytes, e, opts),
        },
        CellRef::Bytes(Cow::Owned(bytes)) => match String::from_utf8(bytes) {
            Ok(s) => trim_owned(s, opts.trim),
            Err(e) => {
                let bytes = e.into_bytes();
                let utf8_error = std::str::from_utf8(&bytes).unwrap_err();
                return invalid_encoding(&bytes, utf8_error, opts);
            }
        },
        CellRef::Str(Cow::Borrowed(s)) => Cow::Borrowed(if opts.trim { trim(s) } else { s }),
        CellRef::Str(Cow::Owned(s)) => trim_owned(s, opts.trim),
        CellRef::Empty => return ConvertedCell { value: Converted::Empty, text: Cow::Borrowed("") },
        // A JSON number is read in JSON's syntax, not the locale's: `1.234` is no 1234 in de-DE.
        CellRef::Numeral(number) => {
            // Nor is `1.000` a thousands group to refuse in an integer field: it is one.
            let whole = match (kind, number.split_once('.')) {
                (Kind::Integer, Some((int, fraction)))
                    if !int.is_empty() && !fraction.is_empty() && fraction.bytes().all(|b| b == b'0') =>
                {
                    Some(Cow::Owned(int.to_string()))
                }
                _ => None,
            };
            let value = convert_text(kind, whole.as_ref().unwrap_or(&number), &opts.plain_numbers());
            return ConvertedCell { value, text: number };
        }
        CellRef::Error(e) => {
            let message = format!("the spreadsheet cell holds the error {e}");
            return ConvertedCell {
                value: Converted::Invalid(Box::new(Fault::new(codes::CELL_ERROR, message))),
                text: e,
            };
        }
        CellRef::Uncalculated(formula) => {
            let what = if formula.is_empty() { "a formula".to_string() } else { format!("the formula ={formula}") };
            let message = format!(
                "the spreadsheet cell holds {what} but no calculated result (the program that wrote the file \
                 does not calculate formulas): open the file in a spreadsheet program, save it, and upload it again"
            );
            return ConvertedCell {
                value: Converted::Invalid(Box::new(Fault::new(codes::UNCALCULATED_FORMULA, message))),
                text: if formula.is_empty() { formula } else { Cow::Owned(format!("={formula}")) },
            };
        }
        CellRef::Undecodable(text, at) => {
            let message = format!(
                "character {at} is an unpaired UTF-16 surrogate escape (such as \\ud800), not a character; \
                 write the character itself or a complete surrogate pair"
            );
            return ConvertedCell {
                value: Converted::Invalid(Box::new(Fault::new(codes::INVALID_ENCODING, message))),
                text,
            };
        }
        CellRef::Number(n) => return convert_number(kind, n, opts),
        // Text fields read the digits as the sheet shows them (`02134`), number fields the number.
        // Date fields read the shown text too: a zip code's 2134 is no serial for 1905-11-03, and
        // `00\/00\/0000` shows 12312024 as the date it is, 12/31/2024.
        CellRef::Shown(i, shown) => match kind {
            Kind::Integer | Kind::Decimal { .. } | Kind::Boolean(_) => Cow::Owned(i.to_string()),
            _ => shown,
        },
        // A float cannot hold every 64-bit integer (`TaggedCell::Int` exists to keep them
        // exact), so only serial dates go through `f64`; everything else reads the digits.
        CellRef::Int(i) => match kind {
            Kind::Date { .. } | Kind::Datetime { .. } => return convert_number(kind, i as f64, opts),
            _ => Cow::Owned(i.to_string()),
        },
        CellRef::ExcelDate(serial) => return convert_serial(kind, serial, Serial::DateCell, opts),
        CellRef::ExcelDateTime(serial) => return convert_serial(kind, serial, Serial::DateTimeCell, opts),
        CellRef::ExcelTime(serial) => match kind {
            Kind::Date { .. } | Kind::Datetime { .. } => {
                return convert_serial(kind, serial, Serial::DateTimeCell, opts);
            }
            _ => return convert_time_of_day(kind, serial_milliseconds(serial.rem_euclid(1.0)), opts),
        },
        CellRef::Bool(b) | CellRef::SheetBool(b) => {
            let mut sheet = matches!(cell, CellRef::SheetBool(_));
            // An enum whose choices spell it as JSON does (`true`) takes the sheet's `TRUE` so.
            if let Kind::Enum(choices) = kind
                && sheet
                && choices.lookup(bool_text(b, true)).is_none()
                && choices.lookup(bool_text(b, false)).is_some()
            {
                sheet = false;
            }
            let text = Cow::Borrowed(bool_text(b, sheet));
            if let Kind::Boolean(_) = kind {
                return ConvertedCell { value: Converted::Valid(Value::Boolean(b)), text };
            }
            text
        }
        CellRef::List(items) => return convert_list_cell(kind, items, opts),
        CellRef::Json(json) => {
            if matches!(kind, Kind::Text) {
                return ConvertedCell { value: Converted::Valid(Value::Text(json.clone())), text: json };
            }
            let message = format!("'{}' is a structure, not a single value", clip(&json));
            return ConvertedCell {
                value: Converted::Invalid(Box::new(Fault::new(codes::INVALID_TYPE, message))),
                text: json,
            };
        }
    };
    if text.is_empty() || (!opts.trim && is_blank_text(&text)) {
        return ConvertedCell { value: Converted::Empty, text };
    }
    let value = convert_text(kind, &text, opts);
    ConvertedCell { value, text }
}

/// Whether trimming takes `c` off a cell's ends: white space, the invisible characters that
/// text copied from web pages and documents carries along (zero-width space, word joiner, a
/// stray byte order mark), and the DOS end-of-file mark (Ctrl-Z) old programs put after a last
/// line that has no line break.
#[inline]
pub fn is_trimmed(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{200B}' | '\u{2060}' | '\u{FEFF}' | '\u{1A}') || is_direction_mark(c)
}

/// Whether a cell holds nothing but what trimming takes off: with `trim_whitespace: false` it
/// keeps its spaces, yet it is as empty as a blank cell (`required` fails, a `default` fills it).
#[inline(never)]
pub fn is_blank_text(s: &str) -> bool {
    s.chars().all(is_trimmed)
}

/// The invisible marks that set the direction of text, which Hebrew, Arabic and Persian exports
/// put around numbers and dates (`\u{200E}-1234.50`): left-to-right and right-to-left marks,
/// the Arabic letter mark, embeddings, overrides and isolates.
fn is_direction_mark(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Trims [`is_trimmed`] characters, with a fast exit for the usual cell that starts and ends
/// with a visible character.
///
/// A non-ASCII first character is visible when its lead byte is above `0xC2` and not
/// `0xE1`–`0xE3` or `0xEF` (those lead every white-space and invisible character beyond ASCII),
/// so names such as "Łukasz" keep the fast exit too.
#[inline]
pub fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    let (Some(&a), Some(&z)) = (b.first(), b.last()) else {
        return s;
    };
    let start_ok = (a > b' ' && a < 0x80) || (a > 0xC2 && !(0xE1..=0xE3).contains(&a) && a != 0xEF);
    let end_ok = (z > b' ' && z < 0x80) || (z >= 0x80 && s.chars().next_back().is_some_and(|c| !is_trimmed(c)));
    if start_ok && end_ok { s } else { s.trim_matches(is_trimmed) }
}

/// A boolean as JSON writes it, or as a spreadsheet shows it (`TRUE`).
fn bool_text(b: bool, sheet: bool) -> &'static str {
    match (b, sheet) {
        (true, false) => "true",
        (false, false) => "false",
        (true, true) => "TRUE",
        (false, true) => "FALSE",
    }
}

fn trim_owned<'a>(s: String, trim: bool) -> Cow<'a, str> {
    let trimmed = if trim { s.trim_matches(is_trimmed) } else { &s };
    if trimmed.len() != s.len() { Cow::Owned(trimmed.to_string()) } else { Cow::Owned(s) }
}

fn invalid_encoding<'a>(bytes: &[u8], e: std::str::Utf8Error, opts: &ParseOptions) -> ConvertedCell<'a> {
    let at = e.valid_up_to();
    let text = String::from_utf8_lossy(bytes).into_owned();
    let message = match opts.source_encoding {
        // The bytes there are the converter's mark, not the file's: name the place only.
        Some(encoding) => format!(
            "character {} is not valid {}; re-save the file in that encoding or name its encoding",
            String::from_utf8_lossy(&bytes[..at]).chars().count() + 1,
            encoding.name()
        ),
        None => {
            // The faulty sequence alone (a byte, or a character cut short at the end).
            let len = e.error_len().unwrap_or(bytes.len() - at).min(4);
            let bad: Vec<String> = bytes[at..at + len].iter().map(|b| format!("{b:02X}")).collect();
            let (what, are) = if len == 1 { ("byte", "is") } else { ("bytes", "are") };
            format!(
                "the {what} {} at position {} {are} not valid UTF-8; re-save the file as UTF-8 or name its encoding",
                bad.join(" "),
                at + 1
            )
        }
    };
    ConvertedCell {
        value: Converted::Invalid(Box::new(Fault::new(codes::INVALID_ENCODING, message))),
        text: Cow::Owned(text),
    }
}

/// A slice of `text` that borrows from the input when `text` does.
fn sub<'a>(text: &Cow<'a, str>, part: &str) -> Cow<'a, str> {
    match text {
        Cow::Borrowed(s) => {
            let start = part.as_ptr() as usize - s.as_ptr() as usize;
            Cow::Borrowed(&s[start..start + part.len()])
        }
        Cow::Owned(_) => Cow::Owned(part.to_string()),
    }
}

/// Text shortened for a message.
pub(crate) fn clip(s: &str) -> Cow<'_, str> {
    if s.chars().count() <= 60 {
        Cow::Borrowed(s)
    } else {
        let head: String = s.chars().take(57).collect();
        Cow::Owned(format!("{head}..."))
    }
}

/// Reads text (already trimmed, not empty) as a field of `kind`.
pub fn convert_text<'a>(kind: &'a Kind, text: &Cow<'a, str>, opts: &ParseOptions) -> Converted<'a> {
    let mut value = Value::Null;
    let outcome = match text {
        Cow::Borrowed(s) => convert_into(kind, Borrowed(s), opts, &mut value),
        Cow::Owned(_) => convert_into(kind, Shared(text), opts, &mut value),
    };
    match outcome {
        Outcome::Value => Converted::Valid(value),
        Outcome::Empty => Converted::Empty,
        Outcome::Invalid(fault) => Converted::Invalid(fault),
    }
}

/// Reads borrowed text (already trimmed, not empty) as a field of `kind` into `out`, which
/// should be the row's own slot: the engine's hot path.
#[inline]
pub fn convert_borrowed_into<'a>(kind: &'a Kind, s: &'a str, opts: &ParseOptions, out: &mut Value<'a>) -> Outcome {
    convert_into(kind, Borrowed(s), opts, out)
}

/// Where converted values get their text: borrowed from the input, or copied from a cell that
/// had to be rebuilt (unescaped quotes, numbers from spreadsheets).
trait Source<'a>: Copy {
    fn text(&self) -> &str;
    fn whole(&self) -> Cow<'a, str>;
    fn part(&self, part: &str) -> Cow<'a, str>;
}

#[derive(Clone, Copy)]
struct Borrowed<'a>(&'a str);

impl<'a> Source<'a> for Borrowed<'a> {
    #[inline]
    fn text(&self) -> &str {
        self.0
    }
    #[inline]
    fn whole(&self) -> Cow<'a, str> {
        Cow::Borrowed(self.0)
    }
    #[inline]
    fn part(&self, part: &str) -> Cow<'a, str> {
        let start = part.as_ptr() as usize - self.0.as_ptr() as usize;
        Cow::Borrowed(&self.0[start..start + part.len()])
    }
}

#[derive(Clone, Copy)]
struct Shared<'c, 'a>(&'c Cow<'a, str>);

impl<'a> Source<'a> for Shared<'_, 'a> {
    fn text(&self) -> &str {
        self.0
    }
    fn whole(&self) -> Cow<'a, str> {
        self.0.clone()
    }
    fn part(&self, part: &str) -> Cow<'a, str> {
        sub(self.0, part)
    }
}

/// What [`convert_into`] found in a cell.
#[derive(Debug)]
pub enum Outcome {
    /// A value of the field's type, written to the slot.
    Value,
    /// Nothing there (a list without items).
    Empty,
    /// Something there that is not a value of the type; the slot holds [`Value::Null`].
    Invalid(Box<Fault>),
}

/// Reads `src` (already trimmed, not empty) as a field of `kind` into `out`.
///
/// Every arm writes its value straight into the slot, which on the engine's hot path is the
/// row's vector: building the value on the stack and copying it there (or wrapping a `Result`
/// and re-wrapping it) costs a store-forwarding stall per cell.
#[inline]
fn convert_into<'a>(kind: &'a Kind, src: impl Source<'a>, opts: &ParseOptions, out: &mut Value<'a>) -> Outcome {
    // The slot's old value is dropped first, so the stores below need no drop in between (a
    // call there makes the compiler park the new value on the stack).
    *out = Value::Null;
    let s: &str = src.text();
    match kind {
        Kind::Text => *out = Value::Text(src.whole()),
        Kind::Integer => match plain_integer(s) {
            Some(i) => *out = Value::Integer(i),
            None => match parse_integer_general(s, Some(if opts.decimal_comma { b',' } else { b'.' }), opts.grouping())
                .or_else(|f| space_grouped(s, opts, f, |t| parse_integer_general(t, Some(b','), None)))
                .or_else(|f| {
                    apostrophe_grouped(s, opts, f, |t| {
                        parse_integer_general(t, Some(if opts.decimal_comma { b',' } else { b'.' }), opts.grouping())
                    })
                })
                .or_else(|f| lakh_grouped(s, opts, f, |t| parse_integer_general(t, Some(b'.'), None)))
            {
                Ok(i) => *out = Value::Integer(i),
                Err(f) => return Outcome::Invalid(Box::new(f)),
            },
        },
        Kind::Decimal { precision, scale } => match PlainDecimal::read(s, opts.decimal_comma) {
            Some(plain) => match plain.check(s, *precision, *scale) {
                Ok(()) => *out = Value::Decimal(plain.decimal()),
                Err(fault) => return Outcome::Invalid(fault),
            },
            None => match parse_decimal_general(s, opts.decimal_comma, opts.grouping(), *precision, *scale)
                .or_else(|f| space_grouped(s, opts, f, |t| parse_decimal_general(t, true, None, *precision, *scale)))
                .or_else(|f| {
                    apostrophe_grouped(s, opts, f, |t| {
                        parse_decimal_general(t, opts.decimal_comma, opts.grouping(), *precision, *scale)
                    })
                })
                .or_else(|f| lakh_grouped(s, opts, f, |t| parse_decimal_general(t, false, None, *precision, *scale)))
            {
                Ok(d) => *out = Value::Decimal(d),
                Err(f) => return Outcome::Invalid(Box::new(f)),
            },
        },
        Kind::Boolean(words) => match read_bool(words, s) {
            Ok(b) => *out = Value::Boolean(b),
            Err(f) => return Outcome::Invalid(Box::new(f)),
        },
        Kind::Date { .. } if opts.buddhist_era => return buddhist_date(kind, s, opts, out),
        Kind::Date { format } => match plain_date(s).filter(|_| format.is_none()) {
            Some(d) => *out = Value::Date(d),
            None => match parse_date_general(s, opts.date_order, format.as_deref(), AtMidnight::Read) {
                Ok(d) => *out = Value::Date(d),
                Err(f) => return Outcome::Invalid(Box::new(f)),
            },
        },
        Kind::Enum(choices) => match choices.lookup(s) {
            Some(canonical) => *out = Value::Text(Cow::Borrowed(canonical)),
            None => return Outcome::Invalid(Box::new(choice_fault(choices, s))),
        },
        Kind::Email => match check_email(s) {
            Ok(()) => *out = Value::Text(src.whole()),
            Err(f) => return Outcome::Invalid(Box::new(f)),
        },
        _ => return convert_rare(kind, src, opts, out),
    }
    Outcome::Value
}

/// [`convert_into`] for the types less often seen: out of line, so the usual cell's path stays
/// small (registers, stack frame) in the engine's loop.
#[inline(never)]
fn convert_rare<'a>(kind: &'a Kind, src: impl Source<'a>, opts: &ParseOptions, out: &mut Value<'a>) -> Outcome {
    let s: &str = src.text();
    match kind {
        Kind::Text
        | Kind::Integer
        | Kind::Decimal { .. }
        | Kind::Boolean(_)
        | Kind::Date { .. }
        | Kind::Enum(_)
        | Kind::Email => {
            // Only reached through `convert_into`, which reads these itself.
            return convert_into(kind, src, opts, out);
        }
        Kind::Datetime { .. } if opts.buddhist_era => return buddhist_date(kind, s, opts, out),
        Kind::Datetime { format } => match parse_datetime(s, opts.date_order, format.as_deref(), opts.offset_seconds) {
            Ok((dt, o)) => *out = Value::DateTime(dt, o),
            Err(f) => return Outcome::Invalid(Box::new(f)),
        },
        Kind::Url => match check_url(s) {
            Ok(()) => *out = Value::Text(src.whole()),
            Err(f) => return Outcome::Invalid(Box::new(f)),
        },
        Kind::Uuid => match parse_uuid(s) {
            Ok(u) => *out = Value::Text(canonical_or(src, s, u)),
            Err(f) => return Outcome::Invalid(Box::new(f)),
        },
        Kind::MultiEnum(choices, sep) => {
            let sep = list_separator(s, sep);
            let mut items: Vec<Cow<'a, str>> = Vec::new();
            let mut unknown = Vec::new();
            for item in split_items(s, sep) {
                match choices.lookup(item) {
                    Some(c) => {
                        if !items.iter().any(|i| i == c) {
                            items.push(Cow::Borrowed(c));
                        }
                    }
                    None => unknown.push(item),
                }
            }
            if !unknown.is_empty() {
                return Outcome::Invalid(Box::new(unknown_choices(choices, &unknown)));
            }
            return list(items, out);
        }
        Kind::Tags(sep) => return list(split_items(s, list_separator(s, sep)).map(|i| src.part(i)).collect(), out),
        Kind::UuidList(sep) => {
            let sep = list_separator(s, sep);
            match split_items(s, sep).map(|item| parse_uuid(item).map(|u| canonical_or(src, item, u))).collect() {
                Ok(items) => return list(items, out),
                Err(f) => return Outcome::Invalid(Box::new(f)),
            }
        }
        Kind::UrlList(sep) => {
            match split_items(s, sep).map(|item| check_url(item).map(|()| src.part(item))).collect() {
                Ok(items) => return list(items, out),
                Err(f) => return Outcome::Invalid(Box::new(f)),
            }
        }
    }
    Outcome::Value
}

/// A date or date-time under a Thai locale: a year of 2400 or more (1857 in the common era, so
/// never a Gregorian year in a file) is of the Buddhist era, 543 years ahead; other dates are
/// read as they are. The date is read first, so only its year moves (never a fraction of a
/// second or a time that happens to hold such digits); where the year stands alone in the text,
/// the text is read again with the common era's year, so a day of the week is checked against
/// the right day; and a 29 February that only the Buddhist year has (2567 is 2024, a leap year)
/// is read from the common era's year.
#[cold]
#[inline(never)]
fn buddhist_date<'a>(kind: &'a Kind, s: &str, opts: &ParseOptions, out: &mut Value<'a>) -> Outcome {
    let common = ParseOptions { buddhist_era: false, ..*opts };
    let read = |text: &str| {
        let mut value = Value::Null;
        let outcome = convert_into(kind, Shared(&Cow::Owned(text.to_string())), &common, &mut value);
        (outcome, value.into_owned())
    };
    let (outcome, value) = read(s);
    match outcome {
        Outcome::Value => {
            let Some(year) = value_year(&value).filter(|y| (2400..=2999).contains(y)) else {
                *out = value;
                return Outcome::Value;
            };
            let (outcome, shifted) = match year_written_alone(s, year) {
                Some(common_text) => {
                    let (outcome, shifted) = read(&common_text);
                    let outcome = match outcome {
                        Outcome::Invalid(mut fault) => {
                            fault.message = fault.message.replace(&*clip(&common_text), &clip(s));
                            Outcome::Invalid(fault)
                        }
                        other => other,
                    };
                    (outcome, shifted)
                }
                None => match shift_year(&value, -543) {
                    Some(shifted) => (Outcome::Value, shifted),
                    None => {
                        let message = format!(
                            "'{}' is no real date: its year {year} of the Buddhist era is {} in the common era",
                            clip(s),
                            year - 543
                        );
                        (Outcome::Invalid(Box::new(Fault::new(invalid_code(kind), message))), Value::Null)
                    }
                },
            };
            if let Outcome::Value = outcome {
                *out = shifted;
            }
            outcome
        }
        Outcome::Invalid(fault) => {
            // A leap day of a Buddhist year, which the same number as a Gregorian year lacks.
            for (at, year) in year_runs(s) {
                if let (Outcome::Value, value) = read(&common_year_at(s, at, year))
                    && value_year(&value) == Some(year - 543)
                {
                    *out = value;
                    return Outcome::Value;
                }
            }
            Outcome::Invalid(fault)
        }
        Outcome::Empty => Outcome::Empty,
    }
}

/// The year of a date or date-time value.
fn value_year(value: &Value<'_>) -> Option<i16> {
    match value {
        Value::Date(d) => Some(d.year()),
        Value::DateTime(dt, _) => Some(dt.year()),
        _ => None,
    }
}

/// The value with its year moved by `years`; `None` when the day does not exist then.
fn shift_year(value: &Value<'_>, years: i16) -> Option<Value<'static>> {
    match value {
        Value::Date(d) => Some(Value::Date(civil::Date::new(d.year() + years, d.month(), d.day()).ok()?)),
        Value::DateTime(dt, offset) => {
            let date = civil::Date::new(dt.year() + years, dt.month(), dt.day()).ok()?;
            Some(Value::DateTime(date.to_datetime(dt.time()), *offset))
        }
        _ => None,
    }
}

/// The code of a date or date-time field's fault.
fn invalid_code(kind: &Kind) -> &'static str {
    if matches!(kind, Kind::Datetime { .. }) { codes::INVALID_DATETIME } else { codes::INVALID_DATE }
}

/// Four digits standing alone (no digit beside them) that read 2400 to 2999: where they start
/// and the number.
fn year_runs(s: &str) -> impl Iterator<Item = (usize, i16)> + '_ {
    let b = s.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() {
            let at = i;
            let run = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            i += run.max(1);
            if run == 4
                && let Ok(year) = s[at..at + 4].parse::<i16>()
                && (2400..=2999).contains(&year)
            {
                return Some((at, year));
            }
        }
        None
    })
}

/// `s` with the year `year`, where it stands alone once, written in the common era.
fn year_written_alone(s: &str, year: i16) -> Option<String> {
    let mut runs = year_runs(s).filter(|(_, y)| *y == year);
    let (at, _) = runs.next()?;
    if runs.next().is_some() {
        return None;
    }
    Some(common_year_at(s, at, year))
}

/// `s` with the Buddhist year `year`, written at `at`, in the common era.
fn common_year_at(s: &str, at: usize, year: i16) -> String {
    format!("{}{}{}", &s[..at], year - 543, &s[at + 4..])
}

fn list<'a>(items: Vec<Cow<'a, str>>, out: &mut Value<'a>) -> Outcome {
    if items.is_empty() {
        return Outcome::Empty;
    }
    *out = Value::List(items);
    Outcome::Value
}

/// Reads a template literal (a default or a bound) as a field of `kind`.
pub fn convert_str<'a>(kind: &'a Kind, text: &'a str, opts: &ParseOptions) -> Converted<'a> {
    let text = text.trim_matches(is_trimmed);
    if text.is_empty() {
        return Converted::Empty;
    }
    convert_text(kind, &Cow::Borrowed(text), opts)
}

fn canonical_or<'a>(src: impl Source<'a>, item: &str, canonical: String) -> Cow<'a, str> {
    if canonical == item { src.part(item) } else { Cow::Owned(canonical) }
}

/// The separator a list cell uses: the field's, except that under the space separator (the
/// default) a cell written as a list with a semicolon and a space, or else a comma and a space,
/// is split there, as exports write tags (`Summer Sale, Clearance`, `Smith, J.; Doe, K.`): no item
/// ends with a comma. A comma or semicolon without a space after it is part of an item (`1,5`,
/// `R&D,Ops, Sales` is `R&D,Ops` and `Sales`). Not for URLs, which may hold `, `.
fn list_separator<'s>(s: &str, sep: &'s str) -> &'s str {
    if sep != " " {
        return sep;
    }
    let b = s.as_bytes();
    if memchr::memmem::find(b, b"; ").is_some() {
        "; "
    } else if memchr::memmem::find(b, b", ").is_some() {
        ", "
    } else {
        sep
    }
}

fn split_items<'s>(s: &'s str, sep: &'s str) -> impl Iterator<Item = &'s str> {
    s.split(sep).map(|i| i.trim_matches(is_trimmed)).filter(|i| !i.is_empty())
}

fn choice_list(choices: &Choices) -> String {
    let shown: Vec<&str> = choices.values.iter().take(12).map(String::as_str).collect();
    let more = if choices.values.len() > 12 { ", ..." } else { "" };
    format!("{}{more}", shown.join(", "))
}

/// The fault of a multi-enum's items that are no choice: the one, or all of them.
fn unknown_choices(choices: &Choices, unknown: &[&str]) -> Fault {
    match unknown {
        [one] => choice_fault(choices, one),
        many => Fault::new(
            codes::INVALID_CHOICE,
            format!("'{}' are not among the allowed values ({})", clip(&many.join("', '")), choice_list(choices)),
        ),
    }
}

fn choice_fault(choices: &Choices, s: &str) -> Fault {
    Fault::new(codes::INVALID_CHOICE, format!("'{}' is not one of: {}", clip(s), choice_list(choices)))
}

/// 2^53: from here on a spreadsheet number (a 64-bit float) no longer holds every integer, and
/// the digits 9007199254740993 already read as this very number.
pub const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;

/// A number from a spreadsheet, read as a field of `kind`.
fn convert_number<'a>(kind: &'a Kind, n: f64, opts: &ParseOptions) -> ConvertedCell<'a> {
    let text = Cow::Owned(format_number(n));
    if n.abs() >= EXACT_INTEGERS && matches!(kind, Kind::Integer | Kind::Decimal { .. }) {
        // The file's digits may not be these: 9007199254740993 reads as ...992. Say so rather
        // than store a neighbour.
        let code = if matches!(kind, Kind::Integer) { codes::INVALID_INTEGER } else { codes::INVALID_DECIMAL };
        let message = format!(
            "'{text}' is 9007199254740992 or more, where a spreadsheet number no longer holds every \
             integer exactly; store the column as text"
        );
        return ConvertedCell { value: Converted::Invalid(Box::new(Fault::new(code, message))), text };
    }
    let value = match kind {
        Kind::Integer => {
            if n.fract() == 0.0 && n.abs() < 9.2e18 {
                Converted::Valid(Value::Integer(n as i64))
            } else {
                Converted::Invalid(Box::new(Fault::new(
                    codes::INVALID_INTEGER,
                    format!("'{text}' is not a whole number"),
                )))
            }
        }
        // Eight digits (`20241231`, a number to the spreadsheet) are read as the same text in a
        // file would be, by the field's format or as ISO's basic form: no serial is that large.
        Kind::Date { .. } | Kind::Datetime { .. } if n.fract() == 0.0 && (1e7..1e8).contains(&n) => {
            convert_text(kind, &text, opts)
        }
        Kind::Date { .. } | Kind::Datetime { .. } => return convert_serial(kind, n, Serial::Number, opts),
        Kind::Boolean(words) if n == 1.0 || n == 0.0 => match read_bool(words, &text) {
            Ok(b) => Converted::Valid(Value::Boolean(b)),
            Err(f) => Converted::Invalid(Box::new(f)),
        },
        // A whole number this large may not be the digits the file holds (a long id or card
        // number written as a number): as text it would be a neighbour, silently.
        _ if n.fract() == 0.0 && n.abs() >= EXACT_INTEGERS => Converted::Invalid(Box::new(Fault::new(
            codes::INVALID_TYPE,
            format!(
                "'{text}' is a spreadsheet number of 9007199254740992 or more, which a spreadsheet does not \
                 store exactly, so it may not be the digits written; store the column as text"
            ),
        ))),
        // The cell holds a number, not text in the locale's writing: `1.234` is no 1234 in de-DE.
        _ => convert_text(kind, &text, &opts.plain_numbers()),
    };
    // Text values of numbers are owned; hand the text back alongside.
    ConvertedCell { value: value_into_static(value), text }
}

/// A spreadsheet serial below 1 in a date or time format: a time of day (`hh:mm:ss`), which is how
/// spreadsheets store times. It reads as text, never as a date. In the 1904 system the same
/// serials are also 1904-01-01, the epoch itself; a time is far likelier there too.
fn convert_time_of_day<'a>(kind: &'a Kind, ms: u32, opts: &ParseOptions) -> ConvertedCell<'a> {
    let text = time_of_day_text(u64::from(ms));
    let fault = |code, what| {
        Converted::Invalid(Box::new(Fault::new(code, format!("'{text}' is a time of day without a {what}"))))
    };
    let value = match kind {
        Kind::Date { .. } => fault(codes::INVALID_DATE, "date"),
        Kind::Datetime { .. } => fault(codes::INVALID_DATETIME, "date"),
        Kind::Integer | Kind::Decimal { .. } => not_a_number(kind, &text, "a time of day"),
        _ => value_into_static(convert_text(kind, &Cow::Borrowed(text.as_str()), opts)),
    };
    ConvertedCell { value, text: Cow::Owned(text) }
}

/// A date or time cell in a number field: its serial (45292 for 2024-01-01, 0.5 for noon) is no
/// number anyone wrote, so an error names what the sheet shows instead of delivering it.
fn not_a_number<'a>(kind: &Kind, shown: &str, what: &str) -> Converted<'a> {
    let (code, number) = match kind {
        Kind::Integer => (codes::INVALID_INTEGER, "a whole number"),
        _ => (codes::INVALID_DECIMAL, "a number"),
    };
    Converted::Invalid(Box::new(Fault::new(
        code,
        format!(
            "'{shown}' is {what} (the spreadsheet cell is formatted as one), not {number}; format the column as \
             numbers in the spreadsheet, or make the field a date"
        ),
    )))
}

fn value_into_static<'a>(c: Converted<'_>) -> Converted<'a> {
    match c {
        Converted::Valid(v) => Converted::Valid(v.into_owned()),
        Converted::Empty => Converted::Empty,
        Converted::Invalid(f) => Converted::Invalid(f),
    }
}

/// `HH:MM:SS`, with milliseconds when there are any; hours past 24 as many as there are (a
/// spreadsheet duration).
pub(crate) fn time_of_day_text(ms: u64) -> String {
    let (h, m, sec, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if milli == 0 { format!("{h:02}:{m:02}:{sec:02}") } else { format!("{h:02}:{m:02}:{sec:02}.{milli:03}") }
}

/// A serial below 1 in milliseconds of its day: rounded, but never up to the next day.
fn serial_milliseconds(serial: f64) -> u32 {
    ((serial * 86_400_000.0).round() as u32).min(86_399_999)
}

/// The time of day of a serial in a format that shows the time alone (`hh:mm`), as a text field
/// reads it.
pub fn serial_time_text(serial: f64) -> String {
    time_of_day_text(u64::from(serial_milliseconds(serial.rem_euclid(1.0))))
}

/// A date-formatted spreadsheet serial as the spreadsheet shows it, as a text field reads it: a
/// time of day below 1, a date at midnight, else a date and time; outside the calendar, the
/// number.
pub fn serial_text(serial: f64, is_1904: bool) -> String {
    if (0.0..1.0).contains(&serial) {
        return time_of_day_text(u64::from(serial_milliseconds(serial)));
    }
    match excel_serial_to_datetime(serial, is_1904) {
        Some(dt) if dt.time() == civil::Time::midnight() => {
            let mut s = String::new();
            push_date(&mut s, dt.date());
            s
        }
        Some(dt) => dt.to_string(),
        None => format_number(serial),
    }
}

/// Why a date cell's serial is no date: before the workbook's first day, 1900 or 1904 (LibreOffice
/// and Gnumeric write such dates as negative serials, which Excel cannot show), Excel's 29
/// February 1900 (serial 60, a day that never was), or past 9999.
fn serial_fault(serial: f64, text: &str, is_1904: bool) -> String {
    if serial < 0.0 && is_1904 {
        format!(
            "{text} is a date before 1904, which a spreadsheet date cannot hold in the 1904 date system this workbook \
             uses; store the column as text"
        )
    } else if serial < 0.0 {
        format!(
            "{text} is a date before 1900, which a spreadsheet date cannot hold in Excel's system; store the column as text"
        )
    } else if !is_1904 && (60.0..61.0).contains(&serial) {
        format!(
            "{text} is 29 February 1900, a day Excel's date system counts but the calendar does not have; store the column as text"
        )
    } else {
        format!("{text} is not a spreadsheet date serial number")
    }
}

/// What a spreadsheet serial is, by the cell's number format.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Serial {
    /// A plain number.
    Number,
    /// A cell in a date format (or one whose format is not known to show a time).
    DateCell,
    /// A cell in a format that shows its time of day too (`yyyy-mm-dd hh:mm`).
    DateTimeCell,
}

/// A spreadsheet serial, read as a field of `kind`.
fn convert_serial<'a>(kind: &'a Kind, serial: f64, cell: Serial, opts: &ParseOptions) -> ConvertedCell<'a> {
    // In the 1904 system serial 0 is also 1904-01-01, which is what a date field asks for, and
    // a serial below 1 in a format that shows the date and its time is a moment of that day, as
    // the sheet shows it (`01/01/1904 06:00`; in the 1900 system that day is `00/01/1900`).
    let epoch_1904 = opts.is_1904 && serial == 0.0 && matches!(kind, Kind::Date { .. });
    let first_day_1904 = opts.is_1904 && cell == Serial::DateTimeCell;
    if (0.0..1.0).contains(&serial) && !epoch_1904 && !first_day_1904 {
        return convert_time_of_day(kind, serial_milliseconds(serial), opts);
    }
    let dt = excel_serial_to_datetime(serial, opts.is_1904);
    let text = match dt {
        Some(dt) if epoch_1904 || first_day_1904 && serial < 1.0 => {
            if dt.time() == civil::Time::midnight() {
                dt.date().to_string()
            } else {
                dt.to_string()
            }
        }
        _ => serial_text(serial, opts.is_1904),
    };
    let value = match (kind, dt) {
        // A date cell's date is what a date field takes: a date format shows the date alone
        // whatever time the cell holds (`=NOW()` formatted dd/mm/yyyy). A plain number with a
        // fraction is no date written as one, and a cell whose format shows its time would lose
        // what the sheet shows.
        (Kind::Date { .. }, Some(dt)) if cell == Serial::Number && dt.time() != civil::Time::midnight() => {
            Converted::Invalid(Box::new(Fault::new(
                codes::INVALID_DATE,
                format!("'{text}' has a time of day; the field takes a date alone"),
            )))
        }
        (Kind::Date { .. }, Some(dt)) if cell == Serial::DateTimeCell && dt.time() != civil::Time::midnight() => {
            Converted::Invalid(Box::new(Fault::new(
                codes::INVALID_DATE,
                format!(
                    "'{text}' is a date and time (the spreadsheet cell shows its time); the field takes a date \
                     alone: make the field a datetime, or format the column as dates without the time"
                ),
            )))
        }
        (Kind::Date { .. }, Some(dt)) => Converted::Valid(Value::Date(dt.date())),
        (Kind::Datetime { .. }, Some(dt)) => Converted::Valid(Value::DateTime(dt, opts.offset_seconds)),
        (Kind::Date { .. }, None) => {
            Converted::Invalid(Box::new(Fault::new(codes::INVALID_DATE, serial_fault(serial, &text, opts.is_1904))))
        }
        (Kind::Datetime { .. }, None) => {
            Converted::Invalid(Box::new(Fault::new(codes::INVALID_DATETIME, serial_fault(serial, &text, opts.is_1904))))
        }
        (Kind::Integer | Kind::Decimal { .. }, Some(dt)) if dt.time() == civil::Time::midnight() => {
            not_a_number(kind, &text, "a date")
        }
        (Kind::Integer | Kind::Decimal { .. }, Some(_)) => not_a_number(kind, &text, "a date and time"),
        // Outside the calendar (Excel's 29 February 1900, negative serials): still a date cell.
        (Kind::Integer | Kind::Decimal { .. }, None) => not_a_number(kind, &text, "a date"),
        _ => value_into_static(convert_text(kind, &Cow::Borrowed(text.as_str()), opts)),
    };
    ConvertedCell { value, text: Cow::Owned(text) }
}

/// A list field's value from items given one by one (a JSON array): each trimmed, empty ones
/// left out, each read as one item of the field's type.
fn list_items<'a>(kind: &'a Kind, items: &[Cow<'a, str>]) -> Converted<'a> {
    let mut out: Vec<Cow<'a, str>> = Vec::new();
    // Every item that is no choice is named, as for a cell.
    let mut unknown = Vec::new();
    for item in items.iter().map(|i| i.trim_matches(is_trimmed)).filter(|i| !i.is_empty()) {
        let read = match kind {
            Kind::MultiEnum(choices, _) => match choices.lookup(item) {
                Some(c) if out.iter().any(|i| i == c) => continue,
                Some(c) => Ok(Cow::Borrowed(c)),
                None => {
                    unknown.push(item);
                    continue;
                }
            },
            Kind::UuidList(_) => parse_uuid(item).map(Cow::Owned),
            Kind::UrlList(_) => check_url(item).map(|()| Cow::Owned(item.to_string())),
            _ => Ok(Cow::Owned(item.to_string())),
        };
        match read {
            Ok(item) => out.push(item),
            Err(fault) => return Converted::Invalid(Box::new(fault)),
        }
    }
    if let Kind::MultiEnum(choices, _) = kind
        && !unknown.is_empty()
    {
        return Converted::Invalid(Box::new(unknown_choices(choices, &unknown)));
    }
    if out.is_empty() { Converted::Empty } else { Converted::Valid(Value::List(out)) }
}

fn convert_list_cell<'a>(kind: &'a Kind, items: Vec<Cow<'a, str>>, opts: &ParseOptions) -> ConvertedCell<'a> {
    let sep = kind.separator();
    let joined = items
        .iter()
        .map(|i| i.trim_matches(is_trimmed))
        .filter(|i| !i.is_empty())
        .collect::<Vec<_>>()
        .join(sep.unwrap_or(" "));
    let text: Cow<'a, str> = Cow::Owned(joined);
    match sep {
        Some(_) if items.iter().all(|i| sep.is_none_or(|s| !i.contains(s))) => {
            if text.is_empty() {
                return ConvertedCell { value: Converted::Empty, text };
            }
            let value = value_into_static(convert_text(kind, &text, opts));
            ConvertedCell { value, text }
        }
        // An item holding the separator (`["machine learning", "ai"]` for space-separated tags):
        // the array says where items end, so each is read alone rather than split.
        Some(_) => ConvertedCell { value: list_items(kind, &items), text },
        // A text field keeps a list as its JSON text, as it keeps any other structure.
        None if matches!(kind, Kind::Text) => {
            if text.is_empty() {
                return ConvertedCell { value: Converted::Empty, text };
            }
            let json = serde_json::to_string(&items).unwrap_or_default();
            ConvertedCell { value: Converted::Valid(Value::Text(Cow::Owned(json.clone()))), text: Cow::Owned(json) }
        }
        None => {
            let message = format!("'{}' is a list, not a single value", clip(&text));
            ConvertedCell { value: Converted::Invalid(Box::new(Fault::new(codes::INVALID_TYPE, message))), text }
        }
    }
}

/// Reads a whole number: optional sign and ASCII digits, within 64 bits.
pub fn parse_integer(s: &str) -> Result<i64, Fault> {
    match plain_integer(s) {
        Some(i) => Ok(i),
        None => parse_integer_general(s, None, None),
    }
}

/// The usual integer: an optional sign and at most 18 digits, which cannot overflow. Comes
/// back in registers; `None` leaves the decision (and the message) to [`parse_integer_general`].
#[inline]
fn plain_integer(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let (neg, digits) = split_sign(b);
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut acc: i64 = 0;
    for &d in digits {
        let v = d.wrapping_sub(b'0');
        if v > 9 {
            return None;
        }
        acc = acc * 10 + i64::from(v);
    }
    Some(if neg { -acc } else { acc })
}

/// [`parse_integer`] for long numbers and every error; with `zero_fraction` (the locale's
/// decimal separator), also whole numbers written with a fraction of zeros, and with
/// `grouping`, digits grouped in thousands by it (`1,234` under `en-US`, `1.234` under `de-DE`).
#[inline(never)]
fn parse_integer_general(s: &str, zero_fraction: Option<u8>, grouping: Option<u8>) -> Result<i64, Fault> {
    let b = s.as_bytes();
    let (neg, digits) = split_sign(b);
    let bad = || {
        // Digits grouped by a separator that is not the locale's decimal point (`1,234` under
        // en-US is no grouping of 1.234): say which setting reads them.
        let point = zero_fraction.unwrap_or(b'.');
        let found = [b',', b'.', b'\''].into_iter().find(|&g| g != point && thousands_grouped(digits, g));
        let hint = match (found, grouping) {
            (Some(b','), None) => {
                " (write it without thousands separators, or set the template's locale, such as en-US)".to_string()
            }
            (Some(g), None) => format!(
                " (write it without thousands separators, or set the template's locale, such as {})",
                if g == b'.' { "de-DE" } else { "de-CH" }
            ),
            (Some(g), Some(ours)) if g != ours => {
                format!(" (the template's locale groups thousands with {})", separator_name(ours))
            }
            _ => String::new(),
        };
        Fault::new(codes::INVALID_INTEGER, format!("'{}' is not a whole number{hint}", clip(s)))
    };
    // `3.0`, `3.00`: a whole number written as a decimal, as pandas writes a column of whole
    // numbers with a gap in it (a float column) and spreadsheets with two places. Three zeros
    // (`1.000`) may be a thousands group, and any other fraction is not whole: both stay errors.
    let digits = match zero_fraction.and_then(|sep| digits.iter().position(|&d| d == sep)) {
        Some(at) if at > 0 && matches!(&digits[at + 1..], b"0" | b"00") => &digits[..at],
        _ => digits,
    };
    if digits.is_empty() {
        return Err(bad());
    }
    let group = grouping.filter(|&g| digits.contains(&g));
    if let Some(g) = group
        && !thousands_grouped(digits, g)
    {
        return Err(bad());
    }
    let mut acc: i64 = 0;
    for &d in digits {
        if Some(d) == group {
            continue;
        }
        if !d.is_ascii_digit() {
            return Err(bad());
        }
        let digit = i64::from(d - b'0');
        acc = acc
            .checked_mul(10)
            .and_then(|a| if neg { a.checked_sub(digit) } else { a.checked_add(digit) })
            .ok_or_else(|| {
                Fault::new(codes::INVALID_INTEGER, format!("'{}' is outside the 64-bit integer range", clip(s)))
            })?;
    }
    Ok(acc)
}

/// A number that failed to read as `fault` says, read again with its digit groups joined when
/// the locale groups thousands with spaces and `s` is so grouped (`1 234 567,5`; a space, a
/// no-break space or a narrow one, the same throughout, between groups of three). A fault of
/// the joined number quotes `s`.
#[cold]
#[inline(never)]
fn space_grouped<T>(
    s: &str,
    opts: &ParseOptions,
    fault: Fault,
    read: impl Fn(&str) -> Result<T, Fault>,
) -> Result<T, Fault> {
    const SPACES: [char; 4] = [' ', '\u{a0}', '\u{202f}', '\u{2009}'];
    let Some(space) = s.chars().find(|c| SPACES.contains(c)).filter(|_| opts.space_thousands) else {
        return Err(fault);
    };
    let (_, body) = split_sign(s.as_bytes());
    let body = &s[s.len() - body.len()..];
    let whole = body.split(',').next().unwrap_or(body);
    let grouped = whole.split(space).all(|g| g.bytes().all(|b| b.is_ascii_digit()))
        && thousands_grouped(whole.replace(space, "_").as_bytes(), b'_')
        && !body[whole.len()..].contains(SPACES);
    if !grouped {
        return Err(fault);
    }
    read_as_written(s, &s.replace(space, ""), read)
}

/// A number that failed to read as `fault` says, read again with its commas taken out when the
/// locale groups in lakhs and crores and `s` is so grouped (`1,23,45,678.50`). A fault of the
/// joined number quotes `s`.
#[cold]
#[inline(never)]
fn lakh_grouped<T>(
    s: &str,
    opts: &ParseOptions,
    fault: Fault,
    read: impl Fn(&str) -> Result<T, Fault>,
) -> Result<T, Fault> {
    if !opts.lakh_grouping {
        return Err(fault);
    }
    let (_, body) = split_sign(s.as_bytes());
    let body = &s[s.len() - body.len()..];
    let whole = body.split('.').next().unwrap_or(body);
    if !lakhs(whole.as_bytes()) || body[whole.len()..].contains(',') {
        return Err(fault);
    }
    read_as_written(s, &s.replace(',', ""), read)
}

/// Whether `digits` is grouped by commas in lakhs and crores: 1 or 2 digits not starting with 0,
/// groups of 2, then a last group of 3 (`1,00,000`, `12,34,56,789`).
fn lakhs(digits: &[u8]) -> bool {
    let groups: Vec<&[u8]> = digits.split(|&b| b == b',').collect();
    let [first, middle @ .., last] = groups.as_slice() else { return false };
    let digits_only = |g: &[u8]| g.iter().all(u8::is_ascii_digit);
    (1..=2).contains(&first.len())
        && first[0] != b'0'
        && digits_only(first)
        && !middle.is_empty()
        && middle.iter().all(|g| g.len() == 2 && digits_only(g))
        && last.len() == 3
        && digits_only(last)
}

/// `read` of `respelled`, a number as written in `s` with its grouping made plain; a fault quotes
/// `s`, as the user wrote it.
fn read_as_written<T>(s: &str, respelled: &str, read: impl Fn(&str) -> Result<T, Fault>) -> Result<T, Fault> {
    read(respelled).map_err(|f| {
        let message = f.message.replacen(&format!("'{}'", clip(respelled)), &format!("'{}'", clip(s)), 1);
        Fault { message, ..f }
    })
}

/// A number that failed to read as `fault` says, read again with typographic apostrophes (`’`,
/// which Windows writes for the Swiss locales) as the `'` the locale groups thousands with
/// (`1’234.50` under `de-CH`). A fault of that number quotes `s`.
#[cold]
#[inline(never)]
fn apostrophe_grouped<T>(
    s: &str,
    opts: &ParseOptions,
    fault: Fault,
    read: impl Fn(&str) -> Result<T, Fault>,
) -> Result<T, Fault> {
    if opts.grouping() != Some(b'\'') || !s.contains('\u{2019}') {
        return Err(fault);
    }
    read_as_written(s, &s.replace('\u{2019}', "'"), read)
}

/// Reads a whole number strictly (no fraction, not even `.0`), with the thousands grouping
/// `opts` allow: what template inference takes for an integer column.
pub fn read_integer(s: &str, opts: &ParseOptions) -> Result<i64, Fault> {
    match plain_integer(s) {
        Some(i) => Ok(i),
        None => parse_integer_general(s, None, opts.grouping()),
    }
}

/// Reads a decimal as an import with `opts` does (its separator and grouping), with no limits.
pub fn read_decimal(s: &str, opts: &ParseOptions) -> Result<Decimal, Fault> {
    match PlainDecimal::read(s, opts.decimal_comma) {
        Some(plain) => Ok(plain.decimal()),
        None => parse_decimal_general(s, opts.decimal_comma, opts.grouping(), None, None),
    }
}

/// A leading `-` or `+` taken off: whether it was `-`, and the rest. The minus sign U+2212 (`−5`,
/// as typeset numbers and Gnumeric's formatted exports write it) and a leading en dash (`–5`) are
/// minus signs too.
#[inline]
fn split_sign(b: &[u8]) -> (bool, &[u8]) {
    match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        // The en dash too: Gnumeric's Windows-1252 export writes its minus sign so (byte 0x96).
        Some(0xE2) if b.starts_with("\u{2212}".as_bytes()) || b.starts_with("\u{2013}".as_bytes()) => (true, &b[3..]),
        _ => (false, b),
    }
}

/// Reads an exact decimal: optional sign, digits, one decimal separator; no exponent, no currency.
///
/// With `decimal_comma`, the separator is `,` and `.` may group thousands (`1.234,56`). The
/// written scale is kept (`19.90` stays `19.90`); trailing zeros do not count against `scale`.
///
pub fn parse_decimal(
    s: &str,
    decimal_comma: bool,
    precision: Option<u32>,
    scale: Option<u32>,
) -> Result<Decimal, Fault> {
    match PlainDecimal::read(s, decimal_comma) {
        Some(plain) => match plain.check(s, precision, scale) {
            Ok(()) => Ok(plain.decimal()),
            Err(fault) => Err(*fault),
        },
        None => parse_decimal_general(s, decimal_comma, decimal_comma.then_some(b'.'), precision, scale),
    }
}

/// A decimal as the fast path reads it: an optional sign, at most 19 digits and one point, no
/// grouping, so a `u64` holds the mantissa.
///
/// It is 16 bytes, so it comes back from a call in registers and the [`Decimal`] is built where
/// it is stored: a `Result<Decimal, _>` returned through memory is written in pieces and read
/// whole, which stalls the store buffer once per cell.
#[derive(Debug, Clone, Copy)]
struct PlainDecimal {
    mantissa: u64,
    int_digits: u8,
    frac_digits: u8,
    neg: bool,
}

impl PlainDecimal {
    #[inline]
    fn read(s: &str, decimal_comma: bool) -> Option<PlainDecimal> {
        let b = s.as_bytes();
        let (neg, body) = split_sign(b);
        if body.len() > 19 || body.is_empty() {
            return None;
        }
        let point = if decimal_comma { b',' } else { b'.' };
        let mut m: u64 = 0;
        let (mut int_digits, mut frac_digits) = (0u8, 0u8);
        let (mut seen_point, mut any_digit) = (false, false);
        for &c in body {
            if c.is_ascii_digit() {
                any_digit = true;
                m = m * 10 + u64::from(c - b'0');
                if seen_point {
                    frac_digits += 1;
                } else if m != 0 {
                    int_digits += 1;
                }
            } else if c == point && !seen_point {
                seen_point = true;
            } else {
                return None;
            }
        }
        any_digit.then_some(PlainDecimal { mantissa: m, int_digits, frac_digits, neg })
    }

    /// Digits after the point without the trailing zeros, which do not make a value less exact.
    #[inline]
    fn used_scale(self) -> u32 {
        let (mut m, mut used) = (self.mantissa, u32::from(self.frac_digits));
        while used > 0 && m.is_multiple_of(10) {
            m /= 10;
            used -= 1;
        }
        used
    }

    #[inline]
    fn check(self, s: &str, precision: Option<u32>, scale: Option<u32>) -> Result<(), Box<Fault>> {
        if precision.is_none() && scale.is_none() {
            return Ok(());
        }
        decimal_limits(s, u32::from(self.int_digits), self.used_scale(), precision, scale)
    }

    /// The value (a zero is never negative). 19 digits fit 64 bits and a scale of 19 is within
    /// the 28 a `Decimal` allows, so this cannot fail.
    #[inline(always)]
    fn decimal(self) -> Decimal {
        let neg = self.neg && self.mantissa != 0;
        Decimal::from_parts(self.mantissa as u32, (self.mantissa >> 32) as u32, 0, neg, u32::from(self.frac_digits))
    }
}

/// Applies `precision` and `scale` (SQL `numeric(precision, scale)`) to a decimal with
/// `int_digits` significant digits before the point and `used_scale` after it.
#[inline]
fn decimal_limits(
    s: &str,
    int_digits: u32,
    used_scale: u32,
    precision: Option<u32>,
    scale: Option<u32>,
) -> Result<(), Box<Fault>> {
    #[cold]
    fn out_of_range(message: String) -> Box<Fault> {
        Box::new(Fault::new(codes::DECIMAL_OUT_OF_RANGE, message))
    }
    if let Some(max_scale) = scale
        && used_scale > max_scale
    {
        return Err(out_of_range(format!("'{}' has more than {max_scale} digits after the decimal point", clip(s))));
    }
    if let Some(p) = precision {
        let max_int = p - scale.unwrap_or(0);
        if int_digits > max_int {
            return Err(out_of_range(format!("'{}' has more than {max_int} digits before the decimal point", clip(s))));
        }
        if int_digits + used_scale > p {
            return Err(out_of_range(format!("'{}' has more than {p} digits", clip(s))));
        }
    }
    Ok(())
}

/// Whether `digits` is grouped by `sep` in thousands: 1 to 3 digits not starting with 0 (`0,123`
/// groups nothing: it is a fraction written with another separator), then groups of exactly 3.
fn thousands_grouped(digits: &[u8], sep: u8) -> bool {
    let mut groups = digits.split(|&b| b == sep);
    let first = groups.next().unwrap_or_default();
    let first_ok = (1..=3).contains(&first.len()) && first.iter().all(u8::is_ascii_digit) && first[0] != b'0';
    let mut rest = groups.peekable();
    first_ok && rest.peek().is_some() && rest.all(|g| g.len() == 3 && g.iter().all(u8::is_ascii_digit))
}

/// A thousands separator, named for a message.
fn separator_name(sep: u8) -> &'static str {
    match sep {
        b',' => "a comma (1,234)",
        b'.' => "a point (1.234)",
        b'\'' => "an apostrophe (1'234)",
        _ => "another separator",
    }
}

/// [`parse_decimal`] beyond the fast path: grouping, long mantissas, and every error.
#[inline(never)]
fn parse_decimal_general(
    s: &str,
    decimal_comma: bool,
    group: Option<u8>,
    precision: Option<u32>,
    scale: Option<u32>,
) -> Result<Decimal, Fault> {
    let bad = || {
        let example = if decimal_comma { "1234,56" } else { "1234.56" };
        let t = s.trim_start_matches(['-', '+']);
        // The usual ways a spreadsheet's money looks, each with its own advice.
        let hint = if t.starts_with(['$', '€', '£', '¥']) || t.ends_with(['$', '€', '£', '¥']) {
            format!("write it without a currency sign, such as {example}")
        } else if t.trim_end().ends_with('%') {
            "a percentage: write it as a number (12.5% as 12.5, or 0.125 for a share)".to_string()
        } else if !decimal_comma && t.contains(',') && t.bytes().all(|b| b.is_ascii_digit() || b == b',' || b == b'.') {
            let grouped = thousands_grouped(t.split('.').next().unwrap_or(t).as_bytes(), b',');
            if lakhs(t.split('.').next().unwrap_or(t).as_bytes()) {
                format!(
                    "digits grouped in lakhs and crores, as India writes them, are read under a locale such as \
                     en-IN; else write it without separators, such as {example}"
                )
            } else if grouped && group.is_none() {
                format!(
                    "write it without thousands separators, such as {example}, or set the template's locale, such as en-US"
                )
            } else if grouped && group != Some(b',') {
                format!("the template's locale groups thousands with {}", separator_name(group.unwrap_or(b',')))
            } else if grouped {
                format!("such as {example}")
            } else if group.is_some() {
                // A locale is set, and it writes decimal points.
                format!("the template's locale writes the decimal point '.', such as {example}")
            } else {
                // `1,5` is a decimal comma, not a grouping: dropping the comma would make it 15.
                format!(
                    "the decimal point is '.', such as {example}; set the template's locale if the file writes decimal commas"
                )
            }
        } else if t.bytes().any(|b| b == b'e' || b == b'E')
            && t.bytes().all(|b| b.is_ascii_digit() || b"eE.,+-".contains(&b))
        {
            // `1E400` written out would be 401 digits: no writing of it fits a decimal.
            let exponent = t.split(['e', 'E']).nth(1).and_then(|e| e.parse::<i64>().ok());
            match exponent {
                Some(e) if e.abs() > 28 => {
                    "its exponent puts it beyond what a decimal holds, 28 significant digits".to_string()
                }
                _ => format!("write it without an exponent, such as {example}"),
            }
        } else {
            format!("such as {example}")
        };
        Fault::new(codes::INVALID_DECIMAL, format!("'{}' is not a decimal number ({hint})", clip(s)))
    };
    let b = s.as_bytes();
    let (neg, body) = split_sign(b);
    let point = if decimal_comma { b',' } else { b'.' };
    let mut mantissa: u128 = 0;
    let mut int_digits: u32 = 0;
    let mut frac_digits: u32 = 0;
    let mut seen_point = false;
    let mut any_digit = false;
    let mut significant = false;
    let mut since_group: Option<u32> = None;
    let mut total_digits: u32 = 0;
    // Digits before any separator, and whether they start with a zero: a first group is 1 to 3
    // digits and not `0.234`, which is no grouping of 234.
    let (mut lead_digits, mut lead_zero) = (0u32, false);
    for &c in body {
        match c {
            b'0'..=b'9' => {
                if since_group.is_none() && !seen_point {
                    lead_zero |= lead_digits == 0 && c == b'0';
                    lead_digits += 1;
                }
                any_digit = true;
                if let Some(n) = since_group.as_mut() {
                    *n += 1;
                }
                // Zeros that end the fraction past the 28 digits a decimal holds add nothing
                // (`1.500…0` as a NUMERIC(38,30) column exports 1.5): dropped. Another digit after
                // them is the 29th, refused below.
                if seen_point && total_digits >= 28 && c == b'0' {
                    continue;
                }
                if seen_point {
                    frac_digits += 1;
                } else if c != b'0' || significant {
                    significant = true;
                    int_digits += 1;
                }
                if significant || seen_point {
                    total_digits += 1;
                    if total_digits > 28 {
                        // Zeros after the point count too: `0.000…01` is one significant digit
                        // but 29 places.
                        let what = if int_digits == 0 {
                            "digits after the decimal point (the most a decimal holds)"
                        } else {
                            "significant digits"
                        };
                        return Err(Fault::new(
                            codes::DECIMAL_OUT_OF_RANGE,
                            format!("'{}' has more than 28 {what}", clip(s)),
                        ));
                    }
                }
                mantissa = mantissa * 10 + u128::from(c - b'0');
            }
            c if c == point && !seen_point => {
                if since_group.is_some_and(|n| n != 3) {
                    return Err(bad());
                }
                seen_point = true;
                since_group = None;
            }
            c if Some(c) == group && !seen_point && any_digit => {
                if since_group.is_some_and(|n| n != 3) || (since_group.is_none() && (lead_digits > 3 || lead_zero)) {
                    return Err(bad());
                }
                since_group = Some(0);
            }
            _ => return Err(bad()),
        }
    }
    if !any_digit || since_group.is_some_and(|n| n != 3) {
        return Err(bad());
    }
    finish_decimal(s, mantissa, neg, int_digits, frac_digits, precision, scale)
}

/// Builds the decimal of [`parse_decimal_general`] and applies `precision` and `scale`.
fn finish_decimal(
    s: &str,
    mantissa: u128,
    neg: bool,
    int_digits: u32,
    frac_digits: u32,
    precision: Option<u32>,
    scale: Option<u32>,
) -> Result<Decimal, Fault> {
    let mut value =
        Decimal::try_from_i128_with_scale(if neg { -(mantissa as i128) } else { mantissa as i128 }, frac_digits)
            .map_err(|_| {
                Fault::new(codes::DECIMAL_OUT_OF_RANGE, format!("'{}' is too large for a decimal", clip(s)))
            })?;
    if value.is_zero() {
        value.set_sign_positive(true);
    }
    let mut used_scale = frac_digits;
    let mut m = mantissa;
    while used_scale > 0 && m.is_multiple_of(10) {
        m /= 10;
        used_scale -= 1;
    }
    decimal_limits(s, int_digits, used_scale, precision, scale).map_err(|f| *f)?;
    Ok(value)
}

/// Inlined: the usual spelling is settled by [`BoolWords::read`] in registers.
#[inline]
fn read_bool(words: &BoolWords, s: &str) -> Result<bool, Fault> {
    words.read(s).ok_or_else(|| bool_fault(words, s))
}

#[cold]
fn bool_fault(words: &BoolWords, s: &str) -> Fault {
    let shown: Vec<&str> = words.truthy.iter().chain(&words.falsy).map(String::as_str).collect();
    Fault::new(codes::INVALID_BOOLEAN, format!("'{}' is not a boolean (use one of: {})", clip(s), shown.join(", ")))
}

fn two_digits(b: &[u8]) -> Option<i8> {
    match b {
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => Some(((a - b'0') * 10 + (b - b'0')) as i8),
        [a] if a.is_ascii_digit() => Some((a - b'0') as i8),
        _ => None,
    }
}

fn four_digits(b: &[u8]) -> Option<i16> {
    if b.len() != 4 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0i16, |acc, d| acc * 10 + i16::from(d - b'0')))
}

/// ISO 8601's basic form, `20241231`, as bank and mainframe exports write dates: its year, month
/// and day when it looks like one (a year from 1800 to 2199, a month 1 to 12, a day 1 to 31; or
/// 99991231).
/// Other eight digits are not taken for a date: `12312024`, a US date without separators, or an
/// identifier such as `10101010`. A field with a `format` reads it by that format alone.
fn basic_date_parts(b: &[u8]) -> Option<(i16, i8, i8)> {
    if b.len() != 8 {
        return None;
    }
    if b == b"99991231" {
        // "Until further notice", as SAP and bank exports write an open end.
        return Some((9999, 12, 31));
    }
    let (y, m, d) = (four_digits(&b[0..4])?, two_digits(&b[4..6])?, two_digits(&b[6..8])?);
    ((1800..=2199).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

fn ymd(y: i16, m: i8, d: i8, s: &str) -> Result<civil::Date, Fault> {
    civil::Date::new(y, m, d).map_err(|_| {
        let why = if (1..=12).contains(&m) { "that day does not exist" } else { "there is no such month" };
        Fault::new(codes::INVALID_DATE, format!("'{}' is not a real date: {why}", clip(s)))
    })
}

/// Reads a date alone: ISO `YYYY-MM-DD` (or its basic form, `YYYYMMDD`); with a date order also
/// `31/12/2024`, `12.31.2024` and the like, the year first (`2024/12/31`) and English month names
/// (`31-Dec-2024`); with a format, that `strftime` format. (A date field's cells also take a date at
/// midnight; template inference, which uses this, takes a column of those for date-times.)
pub fn parse_date(s: &str, order: Option<DateOrder>, format: Option<&str>) -> Result<civil::Date, Fault> {
    if format.is_none()
        && let Some(date) = plain_date(s)
    {
        return Ok(date);
    }
    parse_date_general(s, order, format, AtMidnight::Refused)
}

/// A real calendar day written `YYYY-MM-DD`, the usual date: comes back in registers. `None`
/// leaves the decision (and the message) to [`parse_date_general`].
#[inline]
fn plain_date(s: &str) -> Option<civil::Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (four_digits(&b[0..4])?, two_digits(&b[5..7])?, two_digits(&b[8..10])?);
    civil::Date::new(y, m, d).ok()
}

/// [`parse_date`] for other spellings and every error.
#[inline(never)]
fn parse_date_general(
    s: &str,
    order: Option<DateOrder>,
    format: Option<&str>,
    at_midnight: AtMidnight,
) -> Result<civil::Date, Fault> {
    let b = s.as_bytes();
    // The field's own format wins over the locale's order (`%d/%m/%Y` reads 03/04/2020 as
    // 3 April even under en-US) and over ISO (`%Y-%d-%m` reads 2024-05-01 as 5 January).
    if let Some(fmt) = format
        && let Ok(date) = civil::Date::strptime(fmt, s)
    {
        if let Some(message) = misread_by_format(fmt, s, date.year(), || Some(date.strftime(fmt).to_string())) {
            return Err(Fault::new(codes::INVALID_DATE, message));
        }
        return Ok(date);
    }
    if b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && let (Some(y), Some(m), Some(d)) = (four_digits(&b[0..4]), two_digits(&b[5..7]), two_digits(&b[8..10]))
    {
        return ymd(y, m, d, s);
    }
    if format.is_none()
        && let Some((y, m, d)) = basic_date_parts(b)
    {
        return ymd(y, m, d, s);
    }
    // With a locale, its order, and the spellings that need none: the year first
    // (`2024/01/31`, `2024.01.31`, as East Asian and Scandinavian exports write) and a month by
    // its English name (`31-Jan-2024`). Without one, ISO only: a file's dates are read one way.
    // With a format, the format alone (and ISO): a date it refuses read the locale's way would
    // mix two readings in one column (`05/06/2024` day first, `01/13/2024` month first).
    let order = order.filter(|_| format.is_none());
    if let Some(order) = order
        && let Some(date) = parse_ordered_date(s, order)
            .or_else(|| {
                parse_ordered_date(s, DateOrder::Ymd).filter(|_| s.bytes().take_while(u8::is_ascii_digit).count() == 4)
            })
            .or_else(|| named_month_date(s))
    {
        return date;
    }
    // A date at midnight, as exports of date-time columns write dates (pandas, spreadsheets):
    // the date. Another time of day is not dropped.
    if at_midnight == AtMidnight::Read
        && let Some(found) = date_and_time(s, order, format)
    {
        let (day, midnight) = found?;
        return if midnight {
            Ok(day)
        } else {
            Err(Fault::new(
                codes::INVALID_DATE,
                format!("'{}' has a time of day; the field takes a date alone", clip(s)),
            ))
        };
    }
    let expected = match (order, format) {
        (_, Some(fmt)) => format!("YYYY-MM-DD or {fmt}"),
        (Some(DateOrder::Dmy), None) => "YYYY-MM-DD, DD/MM/YYYY or 31 Dec 2024".to_string(),
        (Some(DateOrder::Mdy), None) => "YYYY-MM-DD, MM/DD/YYYY or Dec 31, 2024".to_string(),
        (Some(DateOrder::Ymd), None) => "YYYY-MM-DD or YYYY/MM/DD".to_string(),
        (None, None) => {
            // A date a locale would read: say which setting reads it.
            let reads = |order| parse_date_general(s, Some(order), None, at_midnight).ok();
            let which = match (reads(DateOrder::Mdy), reads(DateOrder::Dmy)) {
                (Some(_), None) => "such as en-US",
                (None, Some(_)) => "such as en-GB",
                (Some(a), Some(b)) if a == b && reads(DateOrder::Ymd) == Some(a) => "any, such as en-US",
                (Some(a), Some(b)) if a == b => "such as en-US or en-GB",
                (Some(_), Some(_)) => "such as en-US (month first) or en-GB (day first)",
                (None, None) => {
                    return Err(Fault::new(
                        codes::INVALID_DATE,
                        format!("'{}' is not a date (expected YYYY-MM-DD){}", clip(s), epoch_note(s)),
                    ));
                }
            };
            format!("YYYY-MM-DD; set the template's locale ({which}) to read it")
        }
    };
    Err(Fault::new(codes::INVALID_DATE, format!("'{}' is not a date (expected {expected}){}", clip(s), epoch_note(s))))
}

/// For a number that reads as a Unix time (seconds or milliseconds since 1970, between 1990 and
/// 2100), what it would be: pandas' `to_json` writes dates so unless told `date_format='iso'`.
/// Only said, never read so: the same digits may be an id or an amount.
fn epoch_note(s: &str) -> String {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return String::new();
    }
    let Ok(n) = s.parse::<i64>() else { return String::new() };
    let (instant, unit) = match digits.len() {
        // Days since 1899-12-30, as a spreadsheet holds a date when the column is saved as a
        // number (25569 is 1970-01-01, 73050 is 2099-12-31).
        5 if (25_569..=73_050).contains(&n) => {
            return format!(
                "; it looks like a spreadsheet's serial date, {}: format the column as a date before saving the file",
                serial_text(n as f64, false)
            );
        }
        9 | 10 => (jiff::Timestamp::from_second(n).ok(), "seconds"),
        12 | 13 => (jiff::Timestamp::from_millisecond(n).ok(), "milliseconds"),
        _ => return String::new(),
    };
    match instant {
        Some(t) if (631_152_000..4_102_444_800).contains(&t.as_second()) => format!(
            "; it looks like a Unix time in {unit}, {t}, as pandas' to_json writes dates unless given \
             date_format='iso': export the dates as text"
        ),
        _ => String::new(),
    }
}

/// Whether [`parse_date_general`] reads a date followed by midnight as the date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AtMidnight {
    Read,
    /// A date alone: [`parse_date`] (template inference), and the date part of a date-time,
    /// which has one time at most.
    Refused,
}

/// A date followed by a time of day (after `T`, `t` or a space, as date-times are written): the
/// date, and whether the time is midnight; or why the date is not a real one.
fn date_and_time(
    s: &str,
    order: Option<DateOrder>,
    format: Option<&str>,
) -> Option<Result<(civil::Date, bool), Fault>> {
    // Date-times are short (JavaScript's, with its zone's name, are about 60 bytes): a long cell
    // is not split at each of its spaces.
    if s.len() > 100 {
        return None;
    }
    s.match_indices(['T', 't', ' ']).find_map(|(at, _)| {
        let midnight = time_of_day(&s[at + 1..])?;
        let date = date_before_time(&s[..at]);
        match parse_date_general(date, order, format, AtMidnight::Refused) {
            Ok(date) => Some(Ok((date, midnight))),
            Err(f) => real_date_fault(f, date, s).map(Err),
        }
    })
}

/// The date written before a time: without the spaces, and one comma, between them.
fn date_before_time(s: &str) -> &str {
    let s = s.trim_end();
    s.strip_suffix(',').unwrap_or(s)
}

/// Reads a time of day as date-time columns are written (`00:00`, `00:00:00.000`,
/// `00:00:00,000`, `12:00:00 AM`, with an optional `Z` or offset): `Some(true)` at midnight,
/// `Some(false)` at another time, `None` if it is not a time.
fn time_of_day(t: &str) -> Option<bool> {
    let t = without_zone(t.trim());
    let (t, meridiem) = match t.len().checked_sub(2).and_then(|at| t.get(at..)).map(str::to_ascii_uppercase) {
        Some(m) if m == "AM" || m == "PM" => (t[..t.len() - 2].trim_end(), Some(m == "PM")),
        _ => (t, None),
    };
    let mut parts = t.split(':');
    let (h, m) = (parts.next()?, parts.next()?);
    let sec = parts.next();
    if parts.next().is_some() {
        return None;
    }
    // Minutes and seconds have two digits; the hour one or two.
    let number = |p: &str| (p.len() == 2).then(|| two_digits(p.as_bytes())).flatten().map(|n| n as u32);
    let (mut hour, minute) = (two_digits(h.as_bytes())? as u32, number(m)?);
    let (second, fraction_zero) = match sec {
        None => (0, true),
        Some(sec) => {
            // A fraction of one to nine digits, as date-times take.
            let (whole, fraction) = match sec.split_once(['.', ',']) {
                Some((whole, fraction))
                    if (1..=9).contains(&fraction.len()) && fraction.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    (whole, fraction)
                }
                Some(_) => return None,
                None => (sec, ""),
            };
            (number(whole)?, fraction.bytes().all(|b| b == b'0'))
        }
    };
    if let Some(pm) = meridiem {
        if !(1..=12).contains(&hour) {
            return None;
        }
        hour = match (hour, pm) {
            (12, false) => 0,
            (12, true) => 12,
            (h, true) => h + 12,
            (h, false) => h,
        };
    }
    (hour < 24 && minute < 60 && second < 60).then_some(hour == 0 && minute == 0 && second == 0 && fraction_zero)
}

fn parse_ordered_date(s: &str, order: DateOrder) -> Option<Result<civil::Date, Fault>> {
    let sep = s.bytes().find(|c| matches!(c, b'/' | b'.' | b'-'))?;
    let mut parts = s.split(sep as char);
    let (a, b, c) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    // No one writes dates month first with dots (`05.01.2024` is 5 January in every locale
    // that writes dots, as in German); a month-first locale's file holding them came from one
    // of those.
    let order = if sep == b'.' && order == DateOrder::Mdy { DateOrder::Dmy } else { order };
    let (y, m, d) = match order {
        DateOrder::Dmy => (c, b, a),
        DateOrder::Mdy => (c, a, b),
        DateOrder::Ymd => (a, b, c),
    };
    let (y, m, d) = (four_digits(y.as_bytes())?, two_digits(m.as_bytes())?, two_digits(d.as_bytes())?);
    Some(ymd(y, m, d, s))
}

/// A date with its month named in English, as spreadsheets and reports write them:
/// `31-Jan-2024`, `31 January 2024`, `Jan 31, 2024`, `January 31st 2024`, `2024-Jan-31`,
/// `31JAN2024` (SAS). The year has four digits; case does not matter.
fn named_month_date(s: &str) -> Option<Result<civil::Date, Fault>> {
    if s.len() > 32 || !s.bytes().any(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    // Runs of digits and of letters; spaces, `-`, `/`, `,` and `.` only separate them.
    let mut runs: Vec<&str> = Vec::with_capacity(4);
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if matches!(c, b' ' | b'-' | b'/' | b',' | b'.') {
            i += 1;
            continue;
        }
        let digit = c.is_ascii_digit();
        if !digit && !c.is_ascii_alphabetic() {
            return None;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() == digit && (digit || b[i].is_ascii_alphabetic()) {
            i += 1;
        }
        // An ordinal's letters right after a day (`31st`, `2nd`) are not a run of their own.
        let ordinal = matches!(s[start..i].to_ascii_lowercase().as_str(), "st" | "nd" | "rd" | "th")
            && start > 0
            && b[start - 1].is_ascii_digit()
            && runs.last().is_some_and(|day| day.len() <= 2);
        if !ordinal {
            runs.push(&s[start..i]);
        }
    }
    // A day of the week first (`Tuesday, January 2, 2024`, `Tue, 02 Jan 2024`) must be the
    // date's.
    let (weekday, x, y, z) = match runs[..] {
        [w, x, y, z] => (Some(weekday_number(w)?), x, y, z),
        [x, y, z] => (None, x, y, z),
        _ => return None,
    };
    let (year, month, day) = match (month_number(x), month_number(y), month_number(z)) {
        (Some(m), None, None) if z.len() == 4 => (z, m, y),
        (None, Some(m), None) if z.len() == 4 => (z, m, x),
        (None, Some(m), None) if x.len() == 4 => (x, m, z),
        _ => return None,
    };
    let (y, d) = (four_digits(year.as_bytes())?, two_digits(day.as_bytes())?);
    Some(ymd(y, month, d, s).and_then(|date| match weekday {
        Some(w) if w != date.weekday().to_monday_zero_offset() => Err(Fault::new(
            codes::INVALID_DATE,
            format!("'{}' names the wrong day of the week: {date} is a {:?}", clip(s), date.weekday()),
        )),
        _ => Ok(date),
    }))
}

/// Monday 0 to Sunday 6, for an English day of the week or its abbreviation (`Tue`, `Tues`,
/// `thursday`).
fn weekday_number(word: &str) -> Option<i8> {
    const DAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
    let word = word.to_ascii_lowercase();
    let found = DAYS.iter().position(|d| {
        *d == word
            || (word.len() == 3 && d.starts_with(word.as_str()))
            || matches!(word.as_str(), "tues" | "thur" | "thurs") && d.starts_with(word.as_str())
    })?;
    Some(found as i8)
}

/// The number of an English month name or its abbreviation (`Jan`, `Sept`, `january`).
fn month_number(word: &str) -> Option<i8> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let word = word.to_ascii_lowercase();
    let found = MONTHS.iter().position(|m| {
        *m == word || (word.len() == 3 && m.starts_with(word.as_str())) || (word == "sept" && *m == "september")
    })?;
    Some(found as i8 + 1)
}

/// Why a value a field's strftime `format` read was not written as the format writes it, where
/// the reader is lenient: `%Y` takes any number of digits and a sign (`31/12/24` is year 24,
/// `-5` year −5), and digits run together (`%Y%m%d`) take a short run (`2024123` would be
/// 2024-12-03). `written` is the value written back by the format.
fn misread_by_format(fmt: &str, s: &str, year: i16, written: impl FnOnce() -> Option<String>) -> Option<String> {
    if fmt.contains("%Y") && !(1000..=9999).contains(&year) {
        return Some(format!(
            "'{}' does not have a four-digit year from 1000 to 9999, which the format {fmt} names (%Y)",
            clip(s)
        ));
    }
    if run_together_numbers(fmt) && written().as_deref() != Some(s) {
        return Some(format!(
            "'{}' does not have every number of the format {fmt} at its full width (its numbers run together)",
            clip(s)
        ));
    }
    None
}

/// Whether a strftime format writes two numbers with nothing between them (`%Y%m%d`, `%H%M`).
fn run_together_numbers(fmt: &str) -> bool {
    const NUMBERS: &[u8] = b"YymdjHIMS";
    fmt.as_bytes()
        .windows(4)
        .any(|w| w[0] == b'%' && NUMBERS.contains(&w[1]) && w[2] == b'%' && NUMBERS.contains(&w[3]))
}

/// Reads a date-time: ISO 8601 / RFC 3339 with `T` or a space, optional seconds and fraction,
/// optional offset (`Z`, `+02:00`, `+0200`, `UTC`, `GMT+01:00`); without one, `default_offset`
/// applies.
pub fn parse_datetime(
    s: &str,
    order: Option<DateOrder>,
    format: Option<&str>,
    default_offset: i32,
) -> Result<(civil::DateTime, i32), Fault> {
    // The field's own format first, then ISO, then the locale's order: a format wins over ISO
    // and over the locale, as for dates.
    let iso_order = if format.is_some() { None } else { order };
    let iso = || parse_iso_datetime(s, iso_order, default_offset, format.is_none());
    if format.is_none()
        && let Some(parsed) = iso()
    {
        return parsed;
    }
    if let Some(fmt) = format
        && let Ok(tm) = jiff::fmt::strtime::BrokenDownTime::parse(fmt, s)
    {
        if let Ok(dt) = tm.to_datetime() {
            let written = || {
                let mut again = jiff::fmt::strtime::BrokenDownTime::from(dt);
                again.set_offset(tm.offset());
                again.to_string(fmt).ok()
            };
            if let Some(message) = misread_by_format(fmt, s, dt.year(), written) {
                return Err(Fault::new(codes::INVALID_DATETIME, message));
            }
            let offset = tm.offset().map(|o| o.seconds()).unwrap_or(default_offset);
            return Ok((dt, offset));
        }
        // `%s`: seconds since 1970-01-01 UTC, an instant without civil fields, kept in UTC.
        if let Ok(instant) = tm.to_timestamp() {
            return Ok((instant.to_zoned(jiff::tz::TimeZone::UTC).datetime(), 0));
        }
    }
    if format.is_some()
        && let Some(parsed) = iso()
    {
        return parsed;
    }
    // A value the format refuses is not read the locale's way, as for dates.
    let expected = match (format, order) {
        (Some(f), _) => format!(" or {f}"),
        (None, Some(DateOrder::Mdy)) => " or 12/31/2024 11:59 PM".to_string(),
        (None, Some(DateOrder::Dmy)) => " or 31/12/2024 23:59".to_string(),
        (None, Some(DateOrder::Ymd)) => " or 2024/12/31 23:59".to_string(),
        (None, None) => String::new(),
    };
    Err(Fault::new(
        codes::INVALID_DATETIME,
        format!(
            "'{}' is not a date and time (expected YYYY-MM-DDTHH:MM:SS with an optional offset{expected}){}",
            clip(s),
            epoch_note(s)
        ),
    ))
}

/// [`parse_datetime`] for ISO and the locale's spellings; `basic` also reads a date in ISO's
/// basic form (`20241231 10:30`), which a field with a `format` reads by that format alone.
fn parse_iso_datetime(
    s: &str,
    order: Option<DateOrder>,
    default_offset: i32,
    basic: bool,
) -> Option<Result<(civil::DateTime, i32), Fault>> {
    let first = s.find(['T', 't', ' ']).unwrap_or(s.len());
    if !basic && first == 8 && s.as_bytes()[..8].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let (date, split) = match parse_date(&s[..first], order, None) {
        Ok(d) => (d, first),
        Err(f) => {
            if let Some(f) = real_date_fault(f, &s[..first], s) {
                return Some(Err(Fault::new(codes::INVALID_DATETIME, f.message)));
            }
            // A date written with spaces or letters (`Jan 31, 2024 10:30`, `31-Oct-2024 9:30`),
            // or followed by a comma (`1/31/2024, 10:30 AM`, as JavaScript's `toLocaleString`
            // writes): the date is what comes before the time.
            let at = time_start(s)?;
            let date = date_before_time(&s[..at]);
            match parse_date(date, order, None) {
                Ok(d) => (d, at),
                Err(f) => {
                    return real_date_fault(f, date, s).map(|f| Err(Fault::new(codes::INVALID_DATETIME, f.message)));
                }
            }
        }
    };
    let rest = &s[split..];
    if rest.is_empty() {
        return Some(Ok((date.to_datetime(civil::Time::midnight()), default_offset)));
    }
    let rest = rest[1..].trim_start();
    let b = rest.as_bytes();
    // H:MM or HH:MM, then [:SS[.fraction]]
    let colon = match b {
        [_, b':', ..] => 1,
        [_, _, b':', ..] => 2,
        _ => return None,
    };
    if b.len() < colon + 3 {
        return None;
    }
    let mut hour = two_digits(&b[..colon])?;
    let minute = two_digits(&b[colon + 1..colon + 3])?;
    let mut i = colon + 3;
    let mut second = 0i8;
    let mut nanos = 0i32;
    if b.len() >= i + 3 && b[i] == b':' {
        second = two_digits(&b[i + 1..i + 3])?;
        i += 3;
        if i < b.len() && (b[i] == b'.' || b[i] == b',') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let digits = &rest[start..i];
            if digits.is_empty() || digits.len() > 9 {
                return None;
            }
            nanos = format!("{digits:0<9}").parse().ok()?;
        }
    }
    // A 12-hour clock (`10:30 PM`, as US exports write times): 12 AM is midnight.
    let mut tail = rest[i..].trim_start();
    if let Some(pm) = tail.get(..2).and_then(|m| match m.to_ascii_uppercase().as_str() {
        "AM" => Some(false),
        "PM" => Some(true),
        _ => None,
    }) {
        if !(1..=12).contains(&hour) {
            return Some(Err(Fault::new(codes::INVALID_DATETIME, format!("'{}' has no such time of day", clip(s)))));
        }
        hour = hour % 12 + if pm { 12 } else { 0 };
        tail = tail[2..].trim_start();
    }
    // `UTC` or `GMT`, alone (`10:30:00 UTC`, as Rails and many logs write) or before an offset
    // (`GMT+0100 (Central European Standard Time)`, as JavaScript writes dates).
    tail = strip_zone_comment(tail);
    if let Some(rest) = strip_zone_name(tail) {
        tail = if rest.is_empty() { "Z" } else { rest };
    }
    let offset = match tail.as_bytes() {
        [] => default_offset,
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), body @ ..] => {
            let (h, m) = match body {
                [h1, h2] => (two_digits(&[*h1, *h2])?, 0),
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => (two_digits(&[*h1, *h2])?, two_digits(&[*m1, *m2])?),
                _ => return None,
            };
            let secs = i32::from(h) * 3600 + i32::from(m) * 60;
            if m > 59 || secs > 18 * 3600 {
                // Offsets run from -18:00 to +18:00, as `timezone_offset_minutes` does.
                let message = format!("'{}' has the offset {}, beyond -18:00 to +18:00", clip(s), clip(tail));
                return Some(Err(Fault::new(codes::INVALID_DATETIME, message)));
            }
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    let time = match civil::Time::new(hour, minute, second, nanos) {
        Ok(t) => t,
        Err(_) => {
            return Some(Err(Fault::new(codes::INVALID_DATETIME, format!("'{}' has no such time of day", clip(s)))));
        }
    };
    Some(Ok((date.to_datetime(time), offset)))
}

/// A time of day without the zone written after it, as [`parse_iso_datetime`] reads zones: `Z`
/// right after the time; an offset, after the time or a space (`00:00:00 +0000`, as Go and Ruby
/// write it), perhaps right after `UTC` or `GMT`; `UTC` or `GMT` alone; and after an offset or a
/// zone name, a zone's name in parentheses (`GMT+0100 (CET)`, as JavaScript writes it). Text that
/// is none of these stays, and the time is then not read.
fn without_zone(t: &str) -> &str {
    let t = strip_zone_comment(t);
    if let Some(rest) = t.strip_suffix(['Z', 'z']).map(str::trim_end)
        && (rest.ends_with(|c: char| c.is_ascii_digit())
            || rest
                .get(rest.len().saturating_sub(2)..)
                .is_some_and(|m| m.eq_ignore_ascii_case("AM") || m.eq_ignore_ascii_case("PM")))
    {
        return rest;
    }
    if let Some(at) = t.rfind(['+', '-'])
        && is_offset_body(&t.as_bytes()[at + 1..])
    {
        return without_zone_name(&t[..at]).unwrap_or(&t[..at]).trim_end();
    }
    without_zone_name(t).map_or(t, str::trim_end)
}

/// `t` without `UTC` or `GMT` (any case) at its end, if it ends so.
fn without_zone_name(t: &str) -> Option<&str> {
    let at = t.len().checked_sub(3)?;
    is_zone_name(t.get(at..)?).then(|| &t[..at])
}

/// `UTC` or `GMT`, in any case.
fn is_zone_name(s: &str) -> bool {
    s.eq_ignore_ascii_case("UTC") || s.eq_ignore_ascii_case("GMT")
}

/// The digits of an offset after its sign, `01`, `0100` or `01:00`, within -18:00 to +18:00.
fn is_offset_body(b: &[u8]) -> bool {
    let (h, m) = match b {
        [h1, h2] => (two_digits(&[*h1, *h2]), Some(0)),
        [h1, h2, m1, m2] | [h1, h2, b':', m1, m2] => (two_digits(&[*h1, *h2]), two_digits(&[*m1, *m2])),
        _ => return false,
    };
    matches!((h, m), (Some(h), Some(m)) if m < 60 && i32::from(h) * 60 + i32::from(m) <= 18 * 60)
}

/// `t` without a zone's name in parentheses after a zone (`GMT+0100 (Central European Standard
/// Time)`, as JavaScript writes date-times): only letters and spaces inside, and a `Z`, an offset
/// or `UTC`/`GMT` before it.
fn strip_zone_comment(t: &str) -> &str {
    let Some(inner) = t.strip_suffix(')') else { return t };
    let Some(at) = inner.rfind(" (") else { return t };
    let (before, name) = (inner[..at].trim_end(), &inner[at + 2..]);
    let named = !name.trim().is_empty() && name.chars().all(|c| c.is_alphabetic() || c == ' ');
    let zoned = before.ends_with(['Z', 'z'])
        || before.rfind(['+', '-']).is_some_and(|i| is_offset_body(&before.as_bytes()[i + 1..]))
        || without_zone_name(before).is_some();
    if named && zoned { before } else { t }
}

/// What follows `UTC` or `GMT` (any case) at the start of `tail`: nothing, or an offset.
fn strip_zone_name(tail: &str) -> Option<&str> {
    let rest = tail.get(3..).filter(|_| is_zone_name(&tail[..3]))?;
    (rest.is_empty() || rest.starts_with(['+', '-'])).then_some(rest)
}

/// A fault about a date that is written well but is not a real one (`Feb 30`, a day of the
/// week that is not the date's): worth its own message where the date, `part`, is part of more,
/// `whole`, which the message then quotes.
fn real_date_fault(f: Fault, part: &str, whole: &str) -> Option<Fault> {
    (f.message.contains("not a real date") || f.message.contains("wrong day of the week")).then(|| {
        let message = f.message.replacen(&format!("'{}'", clip(part)), &format!("'{}'", clip(whole)), 1);
        Fault::new(f.code, message)
    })
}

/// Where the time of a date-time starts after a date written with spaces: the byte index of
/// the space (or `T`) before the first `H:MM` or `HH:MM` that follows one.
fn time_start(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    (1..b.len())
        .find(|&at| {
            matches!(b[at - 1], b' ' | b'T' | b't')
                && match &b[at..] {
                    [h, b':', m1, m2, ..] | [_, h, b':', m1, m2, ..] => {
                        h.is_ascii_digit() && m1.is_ascii_digit() && m2.is_ascii_digit() && b[at].is_ascii_digit()
                    }
                    _ => false,
                }
        })
        .map(|at| at - 1)
}

/// Converts a spreadsheet serial date (1900 or 1904 system) to a date-time, to the millisecond.
///
/// The 1900 system counts 1900-01-01 as 1 and includes Lotus 1-2-3's phantom 1900-02-29 as 60;
/// serials 0 and 60 name no real day and are rejected.
pub fn excel_serial_to_datetime(serial: f64, is_1904: bool) -> Option<civil::DateTime> {
    if !serial.is_finite() || !(0.0..2_958_466.0).contains(&serial) {
        return None;
    }
    let mut days = serial.floor() as i64;
    let mut ms = ((serial - serial.floor()) * 86_400_000.0).round() as i64;
    if ms >= 86_400_000 {
        days += 1;
        ms -= 86_400_000;
    }
    let (epoch, offset) = if is_1904 {
        (civil::date(1904, 1, 1), days)
    } else if days == 0 || days == 60 {
        return None;
    } else if days < 60 {
        (civil::date(1899, 12, 31), days)
    } else {
        (civil::date(1899, 12, 30), days)
    };
    let date = epoch.checked_add(jiff::Span::new().days(offset)).ok()?;
    let time = civil::Time::new(
        (ms / 3_600_000) as i8,
        ((ms / 60_000) % 60) as i8,
        ((ms / 1000) % 60) as i8,
        ((ms % 1000) * 1_000_000) as i32,
    )
    .ok()?;
    Some(date.to_datetime(time))
}

/// Checks an address as mail systems take it: a local part of RFC 5322 atom characters (letters,
/// digits, `!#$%&'*+-/=?^_`{|}~` and dots, and any other character beyond ASCII but spaces,
/// controls and invisible ones), one `@`, and a domain of dot-separated names (letters, digits,
/// inner hyphens) up to 63 bytes each. RFC 5321 lengths: 64 bytes before the `@`, 254 in all.
/// Quoted local parts and bracketed IP domains are refused: imports hold mailbox addresses.
/// Dots in the local part are not policed (`.garcia@acme.io`, from an empty first name, is the
/// benchmark kit's valid address, and mail providers differ on them).
#[inline]
pub fn check_email(s: &str) -> Result<(), Fault> {
    if plain_email(s.as_bytes()) { Ok(()) } else { check_email_general(s) }
}

/// Bytes an ASCII local part may hold (RFC 5322 `atext`, and the dot).
const fn local_bytes() -> [bool; 128] {
    let mut t = [false; 128];
    let mut c = 0;
    while c < 128 {
        t[c] = (c as u8).is_ascii_alphanumeric();
        c += 1;
    }
    let extra = b"!#$%&'*+-/=?^_`{|}~.";
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}
const LOCAL: [bool; 128] = local_bytes();

/// Whether an ASCII byte may appear in a domain name: letters, digits, hyphens and dots.
#[inline(always)]
fn domain_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() | (c == b'-') | (c == b'.')
}

/// A domain name's labels: 1–63 bytes, no hyphen at either end, at least two of them, and a last
/// one that is not all digits (no top-level domain is: `x@10.0.0.1` is an IP address).
#[inline]
fn domain_labels(domain: &[u8]) -> Result<(), &'static str> {
    let mut labels = 0;
    let last = domain.rsplit(|c| *c == b'.').next().unwrap_or_default();
    if !last.is_empty() && last.iter().all(u8::is_ascii_digit) {
        return Err("the domain ends in a number: an address needs a domain name, as in example.com");
    }
    for label in domain.split(|c| *c == b'.') {
        if label.is_empty() {
            return Err("the domain needs a dot between non-empty parts, as in example.com");
        }
        if label.len() > 63 {
            return Err("a part of the domain is longer than 63 bytes");
        }
        if label[0] == b'-' || label[label.len() - 1] == b'-' {
            return Err("a part of the domain starts or ends with -");
        }
        labels += 1;
    }
    if labels < 2 { Err("the domain needs a dot between non-empty parts, as in example.com") } else { Ok(()) }
}

/// The usual address, passed in one sweep without library calls: ASCII, the local part's bytes
/// allowed, one `@` after 1–64 bytes, a domain of letters, digits, hyphens and dots. `false`
/// means "not sure": [`check_email_general`] then decides and says why.
#[inline]
fn plain_email(b: &[u8]) -> bool {
    if b.len() > 254 {
        return false;
    }
    let Some(at) = memchr::memchr(b'@', b) else {
        return false;
    };
    if at == 0 || at > 64 {
        return false;
    }
    let (local, domain) = (&b[..at], &b[at + 1..]);
    let local_ok = local.iter().fold(true, |ok, &c| ok & (c < 128 && LOCAL[c as usize]));
    let domain_ok = domain.iter().fold(true, |ok, &c| ok & domain_byte(c));
    local_ok && domain_ok && domain_labels(domain).is_ok()
}

/// A character that shows nothing: zero-width and direction marks, the byte order mark.
fn invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{AD}')
}

/// What an address (e-mail or URL) holds that no address may: a space, other white space, a
/// control or an invisible character, named.
fn unprintable(s: &str) -> Option<String> {
    let c = s.chars().find(|c| c.is_whitespace() || c.is_control() || invisible(*c))?;
    Some(if c == ' ' {
        "contains a space".to_string()
    } else if c.is_whitespace() {
        format!("contains white space (U+{:04X})", c as u32)
    } else if c.is_control() {
        format!("contains a control character (U+{:04X})", c as u32)
    } else {
        format!("contains an invisible character (U+{:04X})", c as u32)
    })
}

/// [`check_email`] for what [`plain_email`] does not settle: non-ASCII text and every error.
#[inline(never)]
fn check_email_general(s: &str) -> Result<(), Fault> {
    let bad = |why: &str| Fault::new(codes::INVALID_EMAIL, format!("'{}' is not an e-mail address: {why}", clip(s)));
    if s.len() > 254 {
        return Err(bad("longer than 254 bytes"));
    }
    if let Some(why) = unprintable(s) {
        return Err(bad(&why));
    }
    let b = s.as_bytes();
    let Some(at) = memchr::memchr(b'@', b) else {
        return Err(bad("no @"));
    };
    if memchr::memchr(b'@', &b[at + 1..]).is_some() {
        return Err(bad("more than one @"));
    }
    if at == 0 {
        return Err(bad("nothing before the @"));
    }
    if at > 64 {
        return Err(bad("more than 64 bytes before the @"));
    }
    let (local, domain) = (&s[..at], &s[at + 1..]);
    if let Some(c) = local.chars().find(|c| c.is_ascii() && !LOCAL[*c as usize]) {
        return Err(bad(&format!("'{c}' cannot appear before the @")));
    }
    if let Some(c) = domain
        .chars()
        .find(|c| if c.is_ascii() { !domain_byte(*c as u8) } else { !c.is_alphanumeric() && !is_mark(*c) })
    {
        return Err(bad(&format!("'{c}' cannot appear in the domain")));
    }
    domain_labels(domain.as_bytes()).map_err(bad)
}

/// Combining marks that spell letters in decomposed text (é as e + U+0301).
fn is_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}' | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
        || matches!(c, '\u{0900}'..='\u{0DFF}' | '\u{0E00}'..='\u{0EFF}')
}

/// Checks an absolute `http`/`https` URL with a host and no whitespace.
pub fn check_url(s: &str) -> Result<(), Fault> {
    let bad = |why: &str| Fault::new(codes::INVALID_URL, format!("'{}' is not a URL: {why}", clip(s)));
    let Some((scheme, rest)) = s.split_once("://") else {
        return Err(bad("it needs to start with http:// or https://"));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(bad("only http and https are accepted"));
    }
    if let Some(why) = unprintable(s) {
        return Err(bad(&why));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host_ok, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        // An IPv6 literal: it must be one.
        match bracketed.split_once(']') {
            Some((ip, after)) => (
                ip.parse::<std::net::Ipv6Addr>().is_ok() && (after.is_empty() || after.starts_with(':')),
                after.strip_prefix(':'),
            ),
            None => (false, None),
        }
    } else {
        let (host, port) = match host_port.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        };
        // Names of letters, digits, hyphens and underscores between single dots (a final dot is
        // the root); all digits and dots is an IPv4 address, which must be one.
        let name = host.strip_suffix('.').unwrap_or(host);
        let ok = if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            name.parse::<std::net::Ipv4Addr>().is_ok()
        } else {
            // ASCII labels of at most 63 bytes, as DNS allows (an internationalised label's
            // limit is on its punycode form, which this does not compute).
            !name.is_empty()
                && name.split('.').all(|label| {
                    !label.is_empty()
                        && (label.len() <= 63 || !label.is_ascii())
                        && label.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_'))
                })
        };
        (ok, port)
    };
    if !host_ok {
        return Err(bad("no valid host"));
    }
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || !port.parse::<u16>().is_ok_and(|p| p > 0))
    {
        return Err(bad("invalid port"));
    }
    Ok(())
}

/// Reads a UUID (hyphenated, braced, or 32 hex digits) into lower-case hyphenated form.
pub fn parse_uuid(s: &str) -> Result<String, Fault> {
    let bad = || Fault::new(codes::INVALID_UUID, format!("'{}' is not a UUID", clip(s)));
    let inner = s.strip_prefix('{').and_then(|x| x.strip_suffix('}')).unwrap_or(s);
    let hex: Vec<u8> = match inner.len() {
        36 => {
            let b = inner.as_bytes();
            if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
                return Err(bad());
            }
            inner.bytes().filter(|c| *c != b'-').collect()
        }
        32 => inner.bytes().collect(),
        _ => return Err(bad()),
    };
    if hex.len() != 32 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return Err(bad());
    }
    let h = String::from_utf8_lossy(&hex).to_ascii_lowercase();
    Ok(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
}

#[cfg(test)]
mod tests;
