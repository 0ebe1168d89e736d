//! Row problems and the result files built from them: `errors.jsonl` and the On Key results CSV.
//!
//! A bad row is data, not an error: it becomes a [`RowError`] with its line, column, field and a
//! stable code. The results CSV follows On Key's download
//! (`Code,Message,Severity,LineNumber,Properties,EntityId`) and defangs every cell that a
//! spreadsheet would run as a formula.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// How serious a row message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The row is invalid.
    Error,
    /// Reported; the row stays valid.
    Warning,
    /// Context such as a skipped header or empty row.
    Info,
}

impl Severity {
    /// The word On Key's results CSV uses.
    pub fn on_key_name(self) -> &'static str {
        match self {
            Severity::Error => "Error",
            Severity::Warning => "Warning",
            Severity::Info => "Information",
        }
    }
}

/// One problem (or note) about one row, and where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// Physical line (CSV), sheet row (XLSX) or 1-based record (JSON) where the cell starts.
    pub line: u64,
    /// 1-based column of the cell, when the problem is in one cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// Header of that column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Template field key, when the problem is in one field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Stable machine code (see [`crate::codes`]).
    pub code: Cow<'static, str>,
    /// What is wrong, for people.
    pub message: String,
    /// How serious it is.
    pub severity: Severity,
    /// The offending value as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Sheet name, for workbooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
}

impl RowError {
    /// Appends this problem as one JSON line.
    pub fn write_jsonl(&self, out: &mut String) {
        // serde_json cannot fail on this shape (string keys, no maps with other keys).
        if let Ok(json) = serde_json::to_string(self) {
            out.push_str(&json);
            out.push('\n');
        }
    }

    /// Appends this problem as one line of the results CSV.
    pub fn write_results_csv(&self, out: &mut String) {
        let mut props = String::new();
        let mut prop = |k: &str, v: &str| {
            if !props.is_empty() {
                props.push_str("; ");
            }
            let _ = write!(props, "{k}={v}");
        };
        if let Some(sheet) = &self.sheet {
            prop("sheet", sheet);
        }
        if let Some(field) = &self.field {
            prop("field", field);
        }
        if let Some(column) = self.column {
            prop("column", &column.to_string());
        }
        if let Some(header) = &self.header {
            prop("header", header);
        }
        if let Some(value) = &self.value {
            prop("value", value);
        }
        push_csv_cell(out, &self.code);
        out.push(',');
        push_csv_cell(out, &self.message);
        out.push(',');
        out.push_str(self.severity.on_key_name());
        out.push(',');
        out.push_str(itoa::Buffer::new().format(self.line));
        out.push(',');
        push_csv_cell(out, &props);
        out.push_str(",\r\n");
    }
}

/// The header line of the results CSV.
pub const RESULTS_CSV_HEADER: &str = "Code,Message,Severity,LineNumber,Properties,EntityId\r\n";

/// Appends a JSON string literal.
#[inline]
pub fn push_json_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    crate::json::escaped_pieces(s, |piece| out.push_str(piece));
    out.push('"');
}

/// Appends one CSV cell, quoted when needed, with spreadsheet formulas defanged.
///
/// A cell that starts with `=`, `+`, `-`, `@` (after spaces too), a tab or a carriage return is
/// run as a formula by Excel and LibreOffice (CSV injection); it gets a leading `'`, which they
/// show as text.
pub fn push_csv_cell(out: &mut String, cell: &str) {
    // Spreadsheets skip leading spaces before a formula too (`  =HYPERLINK(...)`).
    let defang = cell.starts_with(['\t', '\r']) || cell.trim_start().starts_with(['=', '+', '-', '@']);
    let quote = defang || cell.contains([',', '"', '\n', '\r']) || cell.starts_with(' ') || cell.ends_with(' ');
    if quote {
        out.push('"');
    }
    if defang {
        out.push('\'');
    }
    for part in cell.split_inclusive('"') {
        out.push_str(part);
        if part.ends_with('"') {
            out.push('"');
        }
    }
    if quote {
        out.push('"');
    }
}

/// Spreadsheet column letters for a 1-based column (`1` → `A`, `28` → `AB`).
pub fn column_letters(mut column: u32) -> String {
    let mut letters = Vec::new();
    while column > 0 {
        let rem = (column - 1) % 26;
        letters.push(b'A' + rem as u8);
        column = (column - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_quotes_backslashes_and_controls() {
        let check = |input: &str, expected: &str| {
            let mut out = String::new();
            push_json_str(&mut out, input);
            assert_eq!(out, expected);
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), input);
        };
        check("plain", "\"plain\"");
        check("a\"b\\c", r#""a\"b\\c""#);
        check("line\nbreak\ttab\u{1}", r#""line\nbreak\ttab\u0001""#);
        check("Zoë 李", "\"Zoë 李\"");
    }

    #[test]
    fn csv_cells_are_quoted_and_formulas_defanged() {
        let check = |input: &str, expected: &str| {
            let mut out = String::new();
            push_csv_cell(&mut out, input);
            assert_eq!(out, expected, "{input:?}");
        };
        check("plain", "plain");
        check("a,b", "\"a,b\"");
        check("say \"hi\"", "\"say \"\"hi\"\"\"");
        check("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\"");
        check("+1", "\"'+1\"");
        check("-2", "\"'-2\"");
        check("@SUM(A1)", "\"'@SUM(A1)\"");
        check("multi\nline", "\"multi\nline\"");
        check("  =7 is not a number", "\"'  =7 is not a number\"");
        check("\u{a0}@x", "\"'\u{a0}@x\"");
        check(" plain ", "\" plain \"");
    }

    #[test]
    fn a_results_line_carries_code_message_severity_line_and_properties() {
        let e = RowError {
            line: 7,
            column: Some(4),
            header: Some("Email".into()),
            field: Some("email".into()),
            code: "invalid_email".into(),
            message: "not an e-mail address".into(),
            severity: Severity::Error,
            value: Some("=cmd|' /C calc'!A0".into()),
            sheet: None,
        };
        let mut out = String::new();
        e.write_results_csv(&mut out);
        assert_eq!(
            out,
            "invalid_email,not an e-mail address,Error,7,field=email; column=4; header=Email; value==cmd|' /C calc'!A0,\r\n"
        );
        // The properties cell starts with "f", so it is safe; a value alone at the start is defanged.
        let mut cell = String::new();
        push_csv_cell(&mut cell, e.value.as_deref().unwrap());
        assert!(cell.starts_with("\"'="));
    }

    #[test]
    fn column_letters_follow_spreadsheets() {
        assert_eq!(column_letters(1), "A");
        assert_eq!(column_letters(26), "Z");
        assert_eq!(column_letters(27), "AA");
        assert_eq!(column_letters(16384), "XFD");
    }
}
