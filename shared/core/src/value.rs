//! Typed values as they leave the engine, and their JSON form.
//!
//! JSON shapes: integers are numbers; decimals are strings (exact, no float rounding on the
//! receiving side); dates are `YYYY-MM-DD`; date-times are RFC 3339 with their offset; list types
//! are arrays of strings; an empty optional field is `null`.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt::Write;

use jiff::civil;
use rust_decimal::Decimal;

use crate::json::JsonOut;

/// A parsed field value. Text borrows from the input buffer or the template where it can.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Empty optional field.
    Null,
    /// Text, e-mail, URL, UUID or an enum's canonical value.
    Text(Cow<'a, str>),
    /// Whole number.
    Integer(i64),
    /// Exact decimal.
    Decimal(Decimal),
    /// Boolean.
    Boolean(bool),
    /// Calendar date.
    Date(civil::Date),
    /// Date and time with its UTC offset in seconds.
    DateTime(civil::DateTime, i32),
    /// Items of a list type.
    List(Vec<Cow<'a, str>>),
}

impl Value<'_> {
    /// A copy that borrows nothing.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Text(t) => Value::Text(Cow::Owned(t.into_owned())),
            Value::Integer(i) => Value::Integer(i),
            Value::Decimal(d) => Value::Decimal(d),
            Value::Boolean(b) => Value::Boolean(b),
            Value::Date(d) => Value::Date(d),
            Value::DateTime(d, o) => Value::DateTime(d, o),
            Value::List(items) => Value::List(items.into_iter().map(|i| Cow::Owned(i.into_owned())).collect()),
        }
    }

    /// Appends the JSON form.
    pub fn write_json(&self, out: &mut JsonOut) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Text(t) => out.push_json_str(t),
            Value::Integer(i) => out.push_i64(*i),
            Value::Decimal(d) => {
                out.push_ascii(b'"');
                push_decimal(out, d);
                out.push_ascii(b'"');
            }
            Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Date(d) => match date_digits(*d) {
                Some(digits) => out.push_quoted_date(&digits),
                None => {
                    out.push_ascii(b'"');
                    push_date(out, *d);
                    out.push_ascii(b'"');
                }
            },
            Value::DateTime(dt, offset) => {
                out.push_ascii(b'"');
                push_datetime(out, *dt, *offset);
                out.push_ascii(b'"');
            }
            Value::List(items) => {
                out.push_ascii(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_ascii(b',');
                    }
                    out.push_json_str(item);
                }
                out.push_ascii(b']');
            }
        }
    }

    /// The value as text, as it would be written back into a file.
    pub fn to_text(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Text(t) => t.to_string(),
            Value::Integer(i) => i.to_string(),
            Value::Decimal(d) => d.to_string(),
            Value::Boolean(b) => b.to_string(),
            Value::Date(d) => {
                let mut s = String::new();
                push_date(&mut s, *d);
                s
            }
            Value::DateTime(dt, o) => {
                let mut s = String::new();
                push_datetime(&mut s, *dt, *o);
                s
            }
            Value::List(items) => items.join(" "),
        }
    }
}

/// `YYYY-MM-DD` for years 0 to 9999.
#[inline]
fn date_digits(d: civil::Date) -> Option<[u8; 10]> {
    let y = u16::try_from(d.year()).ok().filter(|y| *y <= 9999)?;
    let (m, day) = (d.month() as u8, d.day() as u8);
    Some([
        b'0' + (y / 1000) as u8,
        b'0' + (y / 100 % 10) as u8,
        b'0' + (y / 10 % 10) as u8,
        b'0' + (y % 10) as u8,
        b'-',
        b'0' + m / 10,
        b'0' + m % 10,
        b'-',
        b'0' + day / 10,
        b'0' + day % 10,
    ])
}

/// Appends `YYYY-MM-DD` (years outside 0 to 9999 as `fmt` writes them).
pub fn push_date(out: &mut impl Write, d: civil::Date) {
    let _ = match date_digits(d) {
        Some(digits) => out.write_str(std::str::from_utf8(&digits).unwrap_or_default()),
        None => write!(out, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
    };
}

/// Appends a decimal as written (`-12.50`), without going through `fmt`.
fn push_decimal(out: &mut JsonOut, d: &Decimal) {
    let mantissa = d.mantissa();
    let scale = d.scale() as usize;
    let Ok(abs) = u64::try_from(mantissa.unsigned_abs()) else {
        let _ = write!(out, "{d}");
        return;
    };
    if mantissa < 0 {
        out.push_ascii(b'-');
    }
    let digits = crate::json::decimal_digits(abs);
    if scale == 0 {
        out.push_u64(abs);
    } else if digits > scale {
        // More digits than the scale: the point goes among them.
        out.push_u64(abs);
        out.insert_ascii(scale, b'.');
    } else {
        out.push_str("0.");
        for _ in digits..scale {
            out.push_ascii(b'0');
        }
        out.push_u64(abs);
    }
}

/// Appends RFC 3339 (`2024-06-15T14:30:00+02:00`, `Z` for UTC, fraction only when present).
pub fn push_datetime(out: &mut impl Write, dt: civil::DateTime, offset_seconds: i32) {
    push_date(out, dt.date());
    let _ = write!(out, "T{:02}:{:02}:{:02}", dt.hour(), dt.minute(), dt.second());
    let nanos = dt.subsec_nanosecond();
    if nanos != 0 {
        let mut frac = format!("{nanos:09}");
        while frac.ends_with('0') {
            frac.pop();
        }
        let _ = write!(out, ".{frac}");
    }
    if offset_seconds == 0 {
        let _ = out.write_char('Z');
    } else {
        let sign = if offset_seconds < 0 { '-' } else { '+' };
        let abs = offset_seconds.unsigned_abs();
        let _ = write!(out, "{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60);
    }
}

/// Text in Unicode's composed form (NFC), so a letter typed as one character (`é`) and as a
/// letter and a combining mark (`e` + U+0301, as macOS file names and some copies give it)
/// compare as what they are, the same text. Borrowed when it already is (all ASCII text is).
pub fn composed(text: &str) -> Cow<'_, str> {
    use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};
    if text.is_ascii() || is_nfc_quick(text.chars()) == IsNormalized::Yes {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfc().collect())
    }
}

/// The instant a date-time names, in seconds and nanoseconds since the Unix epoch. Computed, not
/// taken from a `jiff::Timestamp`: those end at 9999-12-30T22:00Z, and a date-time past that
/// (`9999-12-31T23:59:59Z`, a common "no end" value) must still compare and be told apart.
pub fn instant(dt: civil::DateTime, offset_seconds: i32) -> (i64, i32) {
    let days = days_from_civil(i64::from(dt.year()), i64::from(dt.month()), i64::from(dt.day()));
    let secs = days * 86_400 + i64::from(dt.hour()) * 3_600 + i64::from(dt.minute()) * 60 + i64::from(dt.second())
        - i64::from(offset_seconds);
    (secs, dt.subsec_nanosecond())
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Orders a value against a min/max bound of the same field type.
pub fn compare_bound(value: &Value<'_>, bound: &Value<'_>) -> Option<Ordering> {
    match (value, bound) {
        (Value::Integer(a), Value::Integer(b)) => Some(a.cmp(b)),
        (Value::Decimal(a), Value::Decimal(b)) => Some(a.cmp(b)),
        (Value::Date(a), Value::Date(b)) => Some(a.cmp(b)),
        (Value::DateTime(a, ao), Value::DateTime(b, bo)) => Some(instant(*a, *ao).cmp(&instant(*b, *bo))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(v: Value<'_>) -> String {
        let mut out = JsonOut::new();
        v.write_json(&mut out);
        out.as_str().to_string()
    }

    #[test]
    fn values_have_stable_json_shapes() {
        let dt = civil::date(2024, 6, 15).at(14, 30, 0, 0);
        let cases: Vec<(Value<'_>, &str)> = vec![
            (Value::Null, "null"),
            (Value::Text("a\"b\n".into()), r#""a\"b\n""#),
            (Value::Integer(-42), "-42"),
            (Value::Decimal("19.90".parse().unwrap()), r#""19.90""#),
            (Value::Decimal("-0.05".parse().unwrap()), r#""-0.05""#),
            (Value::Decimal("1234567".parse().unwrap()), r#""1234567""#),
            (Value::Decimal("-12.3".parse().unwrap()), r#""-12.3""#),
            (Value::Boolean(true), "true"),
            (Value::Date(civil::date(2024, 2, 29)), r#""2024-02-29""#),
            (Value::DateTime(dt, 0), r#""2024-06-15T14:30:00Z""#),
            (Value::DateTime(dt, -(5 * 3600 + 1800)), r#""2024-06-15T14:30:00-05:30""#),
            (
                Value::DateTime(civil::date(2024, 6, 15).at(1, 2, 3, 500_000_000), 7200),
                r#""2024-06-15T01:02:03.5+02:00""#,
            ),
            (Value::List(vec!["a".into(), "b c".into()]), r#"["a","b c"]"#),
        ];
        for (value, expected) in cases {
            assert_eq!(json(value), expected);
        }
    }

    #[test]
    fn datetimes_compare_as_instants() {
        let a = Value::DateTime(civil::date(2024, 1, 1).at(12, 0, 0, 0), 3600);
        let b = Value::DateTime(civil::date(2024, 1, 1).at(11, 30, 0, 0), 0);
        assert_eq!(compare_bound(&a, &b), Some(Ordering::Less));
    }

    #[test]
    fn instants_are_those_of_jiff_and_go_on_past_its_last_one() {
        for (dt, offset) in [
            (civil::date(1970, 1, 1).at(0, 0, 0, 0), 0),
            (civil::date(2024, 2, 29).at(23, 59, 59, 999_999_999), -(5 * 3600 + 1800)),
            (civil::date(1, 1, 1).at(0, 0, 0, 0), 3600),
            (civil::date(1600, 3, 1).at(12, 0, 0, 0), 0),
            (civil::date(9999, 12, 30).at(21, 0, 0, 0), 0),
        ] {
            let ts = jiff::tz::Offset::from_seconds(offset).unwrap().to_timestamp(dt).unwrap();
            assert_eq!(instant(dt, offset), (ts.as_second(), ts.subsec_nanosecond()), "{dt} {offset}");
        }
        // Past jiff's last instant (9999-12-30T22:00Z): still told apart and ordered.
        let late = |h: i8, m: i8| Value::DateTime(civil::date(9999, 12, 31).at(h, m, 0, 0), 0);
        let bound = Value::DateTime(civil::date(2030, 1, 1).at(0, 0, 0, 0), 0);
        assert_eq!(compare_bound(&late(23, 59), &bound), Some(Ordering::Greater));
        assert_eq!(compare_bound(&late(23, 0), &late(23, 59)), Some(Ordering::Less));
    }
}
