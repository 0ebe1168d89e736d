//! Inferring a template from a clean sample, as OneSchema does: header names become keys and
//! labels, types are the narrowest that every non-empty value satisfies.

use std::borrow::Cow;

use super::{ChoiceSpec, FieldSpec, FieldTypeName, ScalarText, TemplateSpec, UniqueMode};
use crate::convert::{
    ParseOptions, check_email, check_url, parse_date, parse_datetime, parse_decimal, parse_uuid, read_decimal,
    read_integer, trim,
};
use crate::settings::{DateOrder, Settings, SettingsPatch};
use crate::value::composed;

/// A template whose fields fit `rows` (sample values, one `Vec` per row, aligned with `headers`).
/// When the values are written as one locale writes them (`12/31/2024`, `1.234,56`), the
/// template's settings name it and the columns are typed as it reads them.
pub fn infer_template(name: &str, headers: &[String], rows: &[Vec<String>]) -> TemplateSpec {
    let columns: Vec<Vec<&str>> =
        (0..headers.len()).map(|c| rows.iter().map(|r| r.get(c).map(|v| trim(v)).unwrap_or("")).collect()).collect();
    let named = infer_locale(&columns);
    let mut settings = SettingsPatch { locale: named.map(|n| n.tag.to_string()), ..Default::default() };
    let mut opts = ParseOptions::from_settings(&settings.resolve("settings").unwrap_or_else(|_| Settings::default()));
    if named.is_some_and(|n| !n.dates) {
        // Numbers named the locale; dates both orders read stay text rather than be guessed.
        opts.date_order = None;
    }
    // Dates alone named it: numbers its reading would change (`1,250`: 1250 under en-GB, but
    // 1,25 in a French file) stay text rather than be guessed.
    let numbers_named = named.is_none_or(|n| n.numbers);
    let markers = infer_null_values(&columns, &opts, numbers_named);
    let columns: Vec<Vec<&str>> = if markers.is_empty() {
        columns
    } else {
        settings.null_values = Some(markers.iter().map(|m| m.to_string()).collect());
        columns
            .into_iter()
            .map(|values| values.into_iter().map(|v| if markers.contains(&v) { "" } else { v }).collect())
            .collect()
    };
    // No two fields may share a name, even but for case (a template check refuses that): a
    // repeated header's field, or one written so but for case, is labelled with its column. Its file then asks for a mapping of the
    // repeated columns, which a later export with a column inserted cannot silently shift.
    let mut taken: Vec<String> = Vec::new();
    let mut fields = Vec::with_capacity(headers.len());
    for (c, (header, values)) in headers.iter().zip(&columns).enumerate() {
        // A column without a header (pandas' index, a spacer) has no name an import could map
        // it by: a field for it would be required and never found.
        if trim(header).is_empty() {
            continue;
        }
        let mut key = key_for(header, c);
        let base = key.clone();
        let mut n = 2;
        while taken.contains(&key) {
            // Within the 64 characters of a key, suffix and all.
            let suffix = format!("_{n}");
            let room = 64 - suffix.len();
            key = format!("{}{suffix}", base.get(..room).unwrap_or(&base));
            n += 1;
        }
        let mut field = infer_field(key, header, values, &opts, numbers_named);
        let label = field.label.clone().unwrap_or_else(|| field.key.clone());
        // Compared as a template check compares labels: but for case and Unicode composition
        // (`Prénom` written precomposed or as `e` and an accent).
        let same = |a: &str, b: &str| composed(a).to_lowercase() == composed(b).to_lowercase();
        if !trim(&label).is_empty() && taken.iter().any(|t| same(t, trim(&label))) {
            field.label = Some(format!("{} (column {})", trim(header), c + 1));
        }
        taken.push(field.key.clone());
        taken.push(trim(field.label.as_deref().unwrap_or(&field.key)).to_string());
        fields.push(field);
    }
    TemplateSpec { name: name.to_string(), description: None, fields, settings }
}

/// What exports write for "no value": MySQL's `\N`, SQL's `NULL`, R's `NA`, a spreadsheet's
/// `#N/A`, pandas' `NaN`, Python's `None`.
const NULL_MARKERS: [&str; 10] = ["\\N", "NULL", "null", "NA", "N/A", "n/a", "#N/A", "None", "NaN", "nan"];

/// The [`NULL_MARKERS`] a sample uses as such: those standing among the values of a column that,
/// without them, is of a type they are not (numbers, dates, ...). `NA` among country codes is
/// Namibia, and says nothing.
fn infer_null_values(columns: &[Vec<&str>], opts: &ParseOptions, numbers_named: bool) -> Vec<&'static str> {
    let mut found: Vec<&'static str> = Vec::new();
    // Markers that are also words (`NA` is Namibia, `None` an answer) count only where no column
    // holds them among text: there they are values, which `null_values` would empty everywhere.
    let ambiguous: Vec<&'static str> = ["NA", "N/A", "n/a", "None", "null"]
        .into_iter()
        .filter(|m| {
            columns.iter().any(|values| {
                values.contains(m) && {
                    // The other markers aside too: `NA` and `N/A` in one column of numbers.
                    let others: Vec<&str> =
                        values.iter().copied().filter(|v| !v.is_empty() && !NULL_MARKERS.contains(v)).collect();
                    !others.is_empty() && column_type(&others, opts, numbers_named) == FieldTypeName::Text
                }
            })
        })
        .collect();
    for values in columns {
        let markers: Vec<&'static str> =
            NULL_MARKERS.into_iter().filter(|m| values.contains(m) && !ambiguous.contains(m)).collect();
        if markers.is_empty() || markers.iter().all(|m| found.contains(m)) {
            continue;
        }
        let others: Vec<&str> = values.iter().copied().filter(|v| !v.is_empty() && !markers.contains(v)).collect();
        if column_type(&others, opts, numbers_named) != FieldTypeName::Text {
            found.extend(markers.into_iter().filter(|m| !found.contains(m)).collect::<Vec<_>>());
        }
    }
    found.sort_by_key(|m| NULL_MARKERS.iter().position(|n| n == m));
    found
}

/// The locale a sample is written in, when its values say so plainly, and whether its dates
/// and its numbers did. Only values one reading takes and the other refuses count:
/// - dates only month first reads (`12/31/2024`) say month first; only day first, or dates with
///   points (`01.02.2024`, never month first), day first;
/// - a number with comma grouping and a decimal point (`1,234.56`) says comma grouping;
/// - a number with point grouping and a decimal comma (`1.234,56`) says decimal comma, and so do
///   dates with points, as the locales that write them write numbers. A decimal comma alone says
///   nothing: `1,5` may be a list, and `8,10` a pair of sizes.
///
/// Values both readings take (`01/02/2024`, `1,234`, `1.250`) say nothing, readings that disagree
/// give no locale, and so do decimal points (`4.5`) next to decimal commas.
fn infer_locale(columns: &[Vec<&str>]) -> Option<Named> {
    let with = |locale: &str| {
        let patch = SettingsPatch { locale: Some(locale.into()), ..Default::default() };
        patch.resolve("settings").map(|s| ParseOptions::from_settings(&s)).ok()
    };
    let (us, de) = (with("en-US")?, with("de-DE")?);
    let mut order: Option<DateOrder> = None;
    let mut agree = true;
    let (mut dotted_dates, mut point_decimals, mut comma_grouping) = (false, false, false);
    let mut comma_decimals = false;
    for column in columns {
        let present: Vec<&str> = column.iter().copied().filter(|v| !v.is_empty()).collect();
        if present.is_empty() {
            continue;
        }
        let all = |f: &dyn Fn(&str) -> bool| present.iter().all(|v| f(v));
        let any = |f: &dyn Fn(&str) -> bool| present.iter().any(|v| f(v));
        let dated = |order: Option<DateOrder>| {
            all(&|v| parse_date(v, order, None).is_ok())
                || all(&|v| v.len() > 10 && parse_datetime(v, order, None, 0).is_ok())
        };
        if !dated(None) {
            let dotted = all(&|v| v.bytes().find(|b| !b.is_ascii_digit()) == Some(b'.'));
            let said = match (dated(Some(DateOrder::Mdy)), dated(Some(DateOrder::Dmy))) {
                (true, false) => Some(DateOrder::Mdy),
                (_, true) if dotted => Some(DateOrder::Dmy),
                (false, true) => Some(DateOrder::Dmy),
                _ => None,
            };
            if let Some(o) = said {
                agree &= *order.get_or_insert(o) == o;
                dotted_dates |= dotted;
            }
        }
        let (us_reads, de_reads) = (all(&|v| read_decimal(v, &us).is_ok()), all(&|v| read_decimal(v, &de).is_ok()));
        // Decimal points (`4.5`, which point grouping does not read): no decimal comma.
        point_decimals |=
            any(&|v| v.contains('.') && parse_decimal(v, false, None, None).is_ok() && read_decimal(v, &de).is_err());
        // Numbers read without a locale say nothing.
        let plain = all(&|v| parse_decimal(v, false, None, None).is_ok());
        if !plain && us_reads && !de_reads && any(&|v| v.contains(',') && v.contains('.')) {
            comma_grouping = true;
        } else if !plain && de_reads && !us_reads && any(&|v| v.contains(',') && v.contains('.')) {
            comma_decimals = true;
        }
    }
    let comma = comma_decimals || dotted_dates;
    if !agree || (comma && (point_decimals || comma_grouping)) {
        return None;
    }
    let locale = match (order, comma) {
        (Some(DateOrder::Mdy), true) => return None,
        (Some(DateOrder::Mdy), false) => "en-US",
        (_, true) => "de-DE",
        (Some(_), false) => "en-GB",
        (None, false) if comma_grouping => "en-US",
        (None, false) => return None,
    };
    // Month first is written in the United States only, with comma grouping.
    let numbers = comma_grouping || comma_decimals || order == Some(DateOrder::Mdy);
    Some(Named { tag: locale, dates: order.is_some(), numbers })
}

/// A locale a sample names, and what named it.
#[derive(Debug, Clone, Copy)]
struct Named {
    /// The tag, such as `en-US`.
    tag: &'static str,
    /// Dates named their order.
    dates: bool,
    /// Numbers named their separators.
    numbers: bool,
}

/// Which of a file's first non-empty rows is its header, with no template to match: the first,
/// unless it is a title (it fills fewer than half the columns most rows below it fill, or is one
/// cell alone over rows of two or more, as a report's name over a header that starts with an
/// empty cell). Then it is the first row below that fills as many columns as most rows, with
/// names (no number but a year, which heads a report's columns; no name twice), if one does; else
/// the first. Rows of one cell below (more titles, a footer) count towards "most rows" only when
/// no row fills two.
pub fn infer_header_row(rows: &[Vec<String>]) -> usize {
    let is_year = |c: &str| c.len() == 4 && c.bytes().all(|b| b.is_ascii_digit()) && ("1900".."2100").contains(&c);
    let filled = |row: &Vec<String>| row.iter().filter(|c| !trim(c).is_empty()).count();
    let Some(first) = rows.first() else {
        return 0;
    };
    let mut below: Vec<usize> = rows.iter().skip(1).map(filled).collect();
    if below.iter().any(|w| *w >= 2) {
        below.retain(|w| *w >= 2);
    }
    // The width most rows below fill (the widest on a tie).
    let Some(width) = below.iter().copied().max_by_key(|w| (below.iter().filter(|x| *x == w).count(), *w)) else {
        return 0;
    };
    let names = |row: &Vec<String>| {
        let cells: Vec<&str> = row.iter().map(|c| trim(c)).filter(|c| !c.is_empty()).collect();
        cells.len() >= width
            && cells.iter().all(|c| parse_decimal(c, false, None, None).is_err() || is_year(c))
            && cells.iter().enumerate().all(|(i, c)| !cells[..i].contains(c))
    };
    // Group names over the header (pandas' two-level columns: `Contact`, ``, `Billing`, ``): two
    // or more, each over an empty cell, above a row of names under every column they span.
    let cells: Vec<&str> = first.iter().map(|c| trim(c)).collect();
    let groups: Vec<usize> = (0..cells.len()).filter(|i| !cells[*i].is_empty()).collect();
    let grouped = groups.len() >= 2
        // (A sheet leaves a row's trailing empty cells out: the last group may end the row.)
        && groups.iter().all(|i| cells.get(i + 1).is_none_or(|c| c.is_empty()))
        && rows.get(1).is_some_and(|next| {
            let named: Vec<&str> = next.iter().map(|c| trim(c)).filter(|c| !c.is_empty()).collect();
            groups.iter().all(|i| next.get(*i).is_some_and(|c| !trim(c).is_empty()))
                && groups.iter().all(|i| next.get(i + 1).is_some_and(|c| !trim(c).is_empty()))
                && named.iter().all(|c| parse_decimal(c, false, None, None).is_err() || is_year(c))
                && named.iter().enumerate().all(|(i, c)| !named[..i].contains(c))
        });
    if grouped {
        return 1;
    }
    if filled(first) * 2 >= width {
        // Half the width and more is a header, but for one cell alone over rows of two (a
        // report's name over a header that starts with an empty cell), which may as well be a
        // header of one name over unnamed columns (`Name`, then `Ann, Smith`): a title only when
        // the names below it head rows that are no names.
        let lone_cell = first.len() == 1 && width >= 2;
        return match lone_cell {
            true => {
                (1..rows.len()).find(|i| names(&rows[*i]) && rows.get(i + 1).is_some_and(|r| !names(r))).unwrap_or(0)
            }
            false => 0,
        };
    }
    rows.iter().position(names).unwrap_or(0)
}

/// A key from a header: lower-case ASCII words joined by `_`, accents taken off Latin letters
/// (`Prénom` is `prenom`, `Straße` `strasse`); `column_N` when nothing is left.
fn key_for(header: &str, column: usize) -> String {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;
    let mut key = String::new();
    let mut plain = String::new();
    for ch in trim(header).nfd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase) {
        match ch {
            'ß' => plain.push_str("ss"),
            'æ' => plain.push_str("ae"),
            'œ' => plain.push_str("oe"),
            'þ' => plain.push_str("th"),
            'ø' => plain.push('o'),
            'ł' => plain.push('l'),
            'đ' | 'ð' => plain.push('d'),
            'ı' => plain.push('i'),
            _ => plain.push(ch),
        }
    }
    for ch in plain.chars() {
        // `#` and `%` are words to the mapping (`Discount %` is not `Discount`), so to keys too.
        let word = match ch {
            '#' => Some("number"),
            '%' => Some("percent"),
            _ => None,
        };
        if let Some(word) = word {
            if !key.is_empty() && !key.ends_with('_') {
                key.push('_');
            }
            key.push_str(word);
            key.push('_');
        } else if ch.is_ascii_alphanumeric() {
            key.push(ch);
        } else if !key.ends_with('_') && !key.is_empty() {
            key.push('_');
        }
    }
    let key = key.trim_end_matches('_').chars().take(64).collect::<String>();
    match key.chars().next() {
        None => format!("column_{}", column + 1),
        Some(c) if c.is_ascii_digit() => format!("_{key}").chars().take(64).collect(),
        _ => key,
    }
}

/// A spreadsheet's error values, which a formula shows when it fails (`#N/A` is a null marker).
const SHEET_ERRORS: [&str; 9] =
    ["#DIV/0!", "#REF!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!", "#GETTING_DATA"];

/// The field of one column. `opts` reads its values; unless `numbers_named`, only numbers every
/// locale reads alike are numbers. A spreadsheet's error value (`#REF!`) is no value of the
/// column's type, nor one of its enum's: the import reports each as an error of its cell.
fn infer_field(key: String, header: &str, values: &[&str], opts: &ParseOptions, numbers_named: bool) -> FieldSpec {
    let filled = values.iter().filter(|v| !v.is_empty()).count();
    let present: Vec<&str> = values.iter().copied().filter(|v| !v.is_empty() && !SHEET_ERRORS.contains(v)).collect();
    let field_type = column_type(&present, opts, numbers_named);
    let mut field = FieldSpec::new(key.clone(), field_type);
    if trim(header) != key {
        field.label = Some(trim(header).to_string());
    }
    field.required = !values.is_empty() && filled == values.len();
    let mut distinct: Vec<&str> = Vec::new();
    for v in &present {
        if !distinct.contains(v) {
            distinct.push(v);
            if distinct.len() > 12 {
                break;
            }
        }
    }
    if field_type == FieldTypeName::Text
        && present.len() >= 20
        && distinct.len() <= 10
        && distinct.len() * 4 <= present.len()
    {
        field.field_type = FieldTypeName::Enum;
        field.values = Some(distinct.iter().map(|v| ChoiceSpec::Plain(ScalarText((*v).to_string()))).collect());
    }
    let id_like = key == "id" || key.ends_with("_id") || key.ends_with("_uuid");
    let all_distinct = {
        let mut sorted: Vec<Cow<'_, str>> = present.iter().map(|v| Cow::Borrowed(*v)).collect();
        sorted.sort_unstable();
        sorted.windows(2).all(|w| w[0] != w[1])
    };
    if id_like
        && field.required
        && all_distinct
        && matches!(field_type, FieldTypeName::Integer | FieldTypeName::Uuid | FieldTypeName::Text)
    {
        field.unique = Some(UniqueMode::Exact);
    }
    field
}

/// The narrowest type every value of a column (its non-empty values) fits; text when none.
fn column_type(present: &[&str], opts: &ParseOptions, numbers_named: bool) -> FieldTypeName {
    let all = |f: &dyn Fn(&str) -> bool| !present.is_empty() && present.iter().all(|v| f(v));
    // One number whichever way it is read: without a locale, as `opts` read, with a decimal
    // comma (`7`, `7.5`; not `1.234`, which Madrid reads 1234, nor `1,250`).
    let comma = ParseOptions { decimal_comma: true, ..*opts };
    let one_reading = |v: &str| {
        parse_decimal(v, false, None, None).is_ok_and(|plain| {
            read_decimal(v, opts).is_ok_and(|d| d == plain) && read_decimal(v, &comma).map_or(true, |d| d == plain)
        })
    };
    let numbers = numbers_named || all(&one_reading);
    let point = if opts.decimal_comma { "0," } else { "0." };
    let leading_zero = present.iter().any(|v| v.len() > 1 && v.starts_with('0') && !v.starts_with(point));
    // A plus sign before seven digits or more is a phone number's (`+442071234567`), whose `+` a
    // number field would drop.
    let phone = present.iter().any(|v| v.starts_with('+') && v.bytes().filter(u8::is_ascii_digit).count() >= 7);
    let leading_zero = leading_zero || phone;
    let words = ["true", "false", "yes", "no", "y", "n", "t", "f", "on", "off", "1", "0"];
    // And as spreadsheets write them in other languages (`WAHR`, `FAUX`), which a boolean reads.
    let abroad = |v: &str| {
        let lower = v.to_lowercase();
        super::TRUE_ABROAD.iter().chain(super::FALSE_ABROAD.iter()).any(|w| w.to_lowercase() == lower)
    };
    let boolean = all(&|v| words.contains(&v.to_ascii_lowercase().as_str()) || abroad(v))
        && present.iter().any(|v| !v.bytes().all(|b| b.is_ascii_digit()));

    if present.is_empty() {
        FieldTypeName::Text
    } else if boolean {
        FieldTypeName::Boolean
    } else if numbers && !leading_zero && all(&|v| read_integer(v, opts).is_ok()) {
        FieldTypeName::Integer
    } else if numbers && !leading_zero && all(&|v| read_decimal(v, opts).is_ok()) {
        FieldTypeName::Decimal
    } else if all(&|v| parse_date(v, opts.date_order, None).is_ok()) {
        FieldTypeName::Date
    } else if all(&|v| {
        // Date-times, some at midnight written as the date alone (a sheet's date-time cells at
        // midnight read so): a datetime field takes both.
        parse_date(v, opts.date_order, None).is_ok()
            || (v.len() > 10 && parse_datetime(v, opts.date_order, None, 0).is_ok())
    }) {
        FieldTypeName::Datetime
    } else if all(&|v| parse_uuid(v).is_ok()) {
        FieldTypeName::Uuid
    } else if all(&|v| check_email(v).is_ok()) {
        FieldTypeName::Email
    } else if all(&|v| check_url(v).is_ok()) {
        FieldTypeName::Url
    } else {
        FieldTypeName::Text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_above_the_header_is_passed_over_without_a_template() {
        let rows = |rows: &[&[&str]]| -> Vec<Vec<String>> {
            rows.iter().map(|r| r.iter().map(|c| c.to_string()).collect()).collect()
        };
        let titled =
            rows(&[&["People report"], &["Exported", "2024-06-01"], &["ID", "Name", "Amount"], &["1", "Ann", "5"]]);
        assert_eq!(infer_header_row(&titled), 2, "the export line holds a date, so it is no header");
        // A first row that fills the columns is the header, whatever it holds.
        assert_eq!(infer_header_row(&rows(&[&["id", "name"], &["1", "a"], &["2", "b"]])), 0);
        assert_eq!(infer_header_row(&rows(&[&["a", ""], &["1", "x"]])), 0, "half the width is not a title");
        // A title over rows of data only: no row below is a header, so the first stays.
        assert_eq!(infer_header_row(&rows(&[&["Totals"], &["1", "2", "3"], &["4", "5", "6"]])), 0);
        // Names repeated are data, not a header.
        assert_eq!(infer_header_row(&rows(&[&["Report"], &["x", "x", "y"], &["y", "z", "w"]])), 2);
        assert_eq!(infer_header_row(&[]), 0);
        assert_eq!(infer_header_row(&rows(&[&["only"]])), 0);
        // A report's name over a header that starts with an empty cell (QuickBooks, a pandas
        // index), and more titles and a footer of one cell each.
        assert_eq!(infer_header_row(&rows(&[&["Report"], &["", "Name", "Amount"], &["", "Ann", "5"]])), 1);
        let quickbooks = rows(&[
            &["Acme Inc"],
            &["Transaction List by Date"],
            &["January 1-31, 2024"],
            &["", "Date", "Type", "Num", "Name", "Memo", "Account", "Amount"],
            &["", "01/02/2024", "Invoice", "1001", "Bob Ltd", "", "Receivable", "1,250.00"],
            &["", "01/05/2024", "Payment", "", "Bob Ltd", "", "Funds", "-250.00"],
            &["Accrual Basis Monday, June 3, 2024"],
        ]);
        assert_eq!(infer_header_row(&quickbooks), 3);
        // Two-level columns: the group names over the header.
        let grouped = rows(&[
            &["Contact", "", "Billing", ""],
            &["name", "email", "amount", "currency"],
            &["Ann", "a@x", "5", "EUR"],
        ]);
        assert_eq!(infer_header_row(&grouped), 1);
        // With pandas' index column, empty over the header and numbered below it.
        let indexed = rows(&[
            &["", "Contact", "", "Billing"],
            &["", "first", "last", "amount", "currency"],
            &["0", "Ann", "A", "1.5", "EUR"],
        ]);
        assert_eq!(infer_header_row(&indexed), 1);
        // A header with an empty name over rows of text is no group row.
        assert_eq!(infer_header_row(&rows(&[&["Name", "", "City"], &["Ann", "Smith", "Paris"]])), 0);
        // One cell over unnamed columns of text is the header; a one-column file cut at its
        // commas has no title either.
        assert_eq!(infer_header_row(&rows(&[&["Name"], &["Ann", "Smith"], &["Bob", "Jones"]])), 0);
        assert_eq!(infer_header_row(&rows(&[&["Notes"], &["Note 1", " with a comma"], &["Note 2", " too"]])), 0);
        // One column: its first row is its header.
        assert_eq!(infer_header_row(&rows(&[&["Name"], &["Ann"], &["Bob"]])), 0);
    }

    #[test]
    fn types_keys_and_constraints_are_inferred_from_clean_values() {
        let headers: Vec<String> =
            ["ID", "E-mail", "Signup Date", "Amount", "Active", "Zip", "Status", "Notes"].map(String::from).to_vec();
        let rows: Vec<Vec<String>> = (0..40)
            .map(|i| {
                vec![
                    (i + 1).to_string(),
                    format!("user{i}@example.com"),
                    format!("2024-01-{:02}", i % 28 + 1),
                    format!("{i}.50"),
                    if i % 2 == 0 { "true" } else { "false" }.into(),
                    format!("0{}", 1000 + i),
                    ["active", "closed"][i % 2].into(),
                    if i % 3 == 0 { String::new() } else { format!("note {i}") },
                ]
            })
            .collect();
        let t = infer_template("contacts", &headers, &rows);
        let got: Vec<(&str, FieldTypeName, bool)> =
            t.fields.iter().map(|f| (f.key.as_str(), f.field_type, f.required)).collect();
        assert_eq!(
            got,
            vec![
                ("id", FieldTypeName::Integer, true),
                ("e_mail", FieldTypeName::Email, true),
                ("signup_date", FieldTypeName::Date, true),
                ("amount", FieldTypeName::Decimal, true),
                ("active", FieldTypeName::Boolean, true),
                ("zip", FieldTypeName::Text, true),
                ("status", FieldTypeName::Enum, true),
                ("notes", FieldTypeName::Text, false),
            ]
        );
        assert_eq!(t.fields[0].unique, Some(UniqueMode::Exact));
        assert_eq!(t.settings.locale, None, "ISO values name no locale");
        assert_eq!(t.fields[1].label.as_deref(), Some("E-mail"));
        crate::template::Schema::compile(t).unwrap();
    }

    #[test]
    fn spreadsheet_errors_are_no_values_of_a_column() {
        let headers: Vec<String> = ["region", "ratio"].map(String::from).to_vec();
        let rows: Vec<Vec<String>> = (0..30)
            .map(|i| {
                let region = if i == 7 { "#REF!" } else { ["north", "south"][i % 2] };
                let ratio = if i == 3 { "#DIV/0!".to_string() } else { format!("{i}.5") };
                vec![region.to_string(), ratio]
            })
            .collect();
        let t = infer_template("t", &headers, &rows);
        assert_eq!(t.fields[0].field_type, FieldTypeName::Enum);
        let values: Vec<String> = t.fields[0]
            .values
            .iter()
            .flatten()
            .map(|v| match v {
                ChoiceSpec::Plain(ScalarText(v)) => v.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(values, ["north", "south"]);
        assert_eq!(t.fields[1].field_type, FieldTypeName::Decimal, "#DIV/0! is an error of its cell");
        assert!(t.fields[1].required);
    }

    #[test]
    fn a_column_without_a_header_is_left_out() {
        // pandas writes its index so: a blank header over 0, 1, 2.
        let headers: Vec<String> = ["", "id", " ", "name"].map(String::from).to_vec();
        let rows: Vec<Vec<String>> =
            (0..5).map(|i| vec![i.to_string(), (i + 1).to_string(), String::new(), format!("n{i}")]).collect();
        let t = infer_template("t", &headers, &rows);
        let keys: Vec<&str> = t.fields.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["id", "name"]);
    }

    #[test]
    fn null_markers_among_typed_values_are_named_and_read_as_empty() {
        let headers: Vec<String> = ["id", "joined", "score", "country", "note"].map(String::from).to_vec();
        let rows: Vec<Vec<String>> = [
            ["1", "2024-01-31", "NA", "IT", "\\N"],
            ["2", "\\N", "4.5", "DE", "hello"],
            ["3", "2024-02-01", "5", "FR", "NULL"],
        ]
        .iter()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
        let t = infer_template("t", &headers, &rows);
        // `\N` among dates and `NA` among numbers are markers; `NULL` stands among text only.
        assert_eq!(t.settings.null_values, Some(vec!["\\N".to_string(), "NA".to_string()]));
        let got: Vec<(&str, FieldTypeName, bool)> =
            t.fields.iter().map(|f| (f.key.as_str(), f.field_type, f.required)).collect();
        assert_eq!(
            got,
            vec![
                ("id", FieldTypeName::Integer, true),
                ("joined", FieldTypeName::Date, false),
                ("score", FieldTypeName::Decimal, false),
                ("country", FieldTypeName::Text, true),
                ("note", FieldTypeName::Text, false),
            ]
        );
        // Without a typed column to show it, `NA` is a value (Namibia).
        let t = infer_template("t", &headers[3..4], &[vec!["NA".into()], vec!["DE".into()]]);
        assert_eq!((t.settings.null_values, t.fields[0].required), (None, true));
        // Nor when a text column holds it among its values, though a number column uses it.
        let t = infer_template("t", &headers[2..4], &[vec!["NA".into(), "NA".into()], vec!["4.5".into(), "DE".into()]]);
        assert_eq!(t.settings.null_values, None);
        assert_eq!(t.fields[1].field_type, FieldTypeName::Text);
        // Two markers in one column of numbers: both are markers.
        let column = |values: &[&str]| values.iter().map(|v| vec![v.to_string()]).collect::<Vec<_>>();
        let t = infer_template("t", &headers[2..3], &column(&["NA", "5", "N/A", "12"]));
        assert_eq!(t.settings.null_values, Some(vec!["NA".to_string(), "N/A".to_string()]));
        assert_eq!(t.fields[0].field_type, FieldTypeName::Integer);
        // Booleans as German Excel writes them.
        let t = infer_template("t", &headers[2..3], &column(&["WAHR", "FALSCH", "wahr"]));
        assert_eq!(t.fields[0].field_type, FieldTypeName::Boolean);
    }

    #[test]
    fn date_times_some_written_as_dates_are_date_times() {
        let headers: Vec<String> = ["updated", "day"].map(String::from).to_vec();
        let rows: Vec<Vec<String>> = [["2024-01-15", "2024-01-15"], ["2024-06-01T13:45:30", "2024-06-02"]]
            .iter()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect();
        let t = infer_template("t", &headers, &rows);
        assert_eq!((t.fields[0].field_type, t.fields[1].field_type), (FieldTypeName::Datetime, FieldTypeName::Date));
    }

    #[test]
    fn repeated_headers_get_their_own_labels() {
        let headers: Vec<String> = ["Name", "Name", "E-mail", "email", "Phone 2"].map(String::from).to_vec();
        let rows = vec![["Ann", "Smith", "a@x.org", "b@x.org", "1"].map(String::from).to_vec()];
        let t = infer_template("t", &headers, &rows);
        let got: Vec<(&str, &str)> =
            t.fields.iter().map(|f| (f.key.as_str(), f.label.as_deref().unwrap_or(&f.key))).collect();
        assert_eq!(
            got,
            [
                ("name", "Name"),
                ("name_2", "Name (column 2)"),
                ("e_mail", "E-mail"),
                ("email", "email"),
                ("phone_2", "Phone 2")
            ]
        );
        assert_eq!(t.settings.mapping, None, "no mapping by position, which a column inserted would shift");
        crate::template::Schema::compile(t).unwrap();
    }

    #[test]
    fn accented_headers_make_plain_keys_and_one_written_two_ways_gets_its_own_label() {
        // `Prénom` precomposed, then as `e` and a combining accent: the same name to a template.
        let headers: Vec<String> =
            ["Pr\u{e9}nom", "Pre\u{301}nom", "Straße", "Łódź", "Ærø", "Имя"].map(String::from).to_vec();
        let rows = vec![["a", "b", "c", "d", "e", "f"].map(String::from).to_vec()];
        let t = infer_template("t", &headers, &rows);
        let got: Vec<(&str, &str)> =
            t.fields.iter().map(|f| (f.key.as_str(), f.label.as_deref().unwrap_or(&f.key))).collect();
        assert_eq!(
            got,
            [
                ("prenom", "Pr\u{e9}nom"),
                ("prenom_2", "Pre\u{301}nom (column 2)"),
                ("strasse", "Straße"),
                ("lodz", "Łódź"),
                ("aero", "Ærø"),
                ("column_6", "Имя")
            ]
        );
        crate::template::Schema::compile(t).unwrap();
    }

    #[test]
    fn signs_make_their_own_keys_and_long_keys_keep_their_suffix_within_64() {
        let long = "customer lifetime value estimate for the current fiscal year in euros";
        let headers: Vec<String> =
            ["Discount %", "Discount", "Street #", long, &format!("{long} net")].map(String::from).to_vec();
        let rows = vec![["5", "6", "7", "8", "9"].map(String::from).to_vec()];
        let t = infer_template("t", &headers, &rows);
        let keys: Vec<&str> = t.fields.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys[..3], ["discount_percent", "discount", "street_number"]);
        assert!(keys[4].ends_with("_2") && keys[4].len() == 64, "{}", keys[4]);
        let schema = crate::template::Schema::compile(t).unwrap();
        let outcome = crate::mapping::map_columns(&schema, &headers, &Default::default());
        assert!(outcome.problems.is_empty(), "{:?}", outcome.problems);
    }

    #[test]
    fn phone_numbers_with_a_plus_stay_text() {
        let headers: Vec<String> = ["phone", "delta"].map(String::from).to_vec();
        let rows =
            vec![["+442071234567", "+5"].map(String::from).to_vec(), ["+15551234567", "-3"].map(String::from).to_vec()];
        let t = infer_template("t", &headers, &rows);
        assert_eq!((t.fields[0].field_type, t.fields[1].field_type), (FieldTypeName::Text, FieldTypeName::Integer));
    }

    #[test]
    fn invisible_characters_are_trimmed_as_an_import_trims_them() {
        let headers: Vec<String> = ["Id", "Note", "Qty\u{200B}"].map(String::from).to_vec();
        let rows: Vec<Vec<String>> = [["1", "hello", "5\u{200B}"], ["2", "\u{200B}", "\u{FEFF}6"], ["3", "world", "7"]]
            .iter()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect();
        let t = infer_template("t", &headers, &rows);
        let got: Vec<(&str, FieldTypeName, bool)> =
            t.fields.iter().map(|f| (f.key.as_str(), f.field_type, f.required)).collect();
        assert_eq!(
            got,
            vec![
                ("id", FieldTypeName::Integer, true),
                ("note", FieldTypeName::Text, false),
                ("qty", FieldTypeName::Integer, true)
            ]
        );
        assert_eq!(t.fields[2].label, Some("Qty".into()));
    }

    #[test]
    fn a_sample_written_as_a_locale_writes_names_it_and_is_typed_as_it_reads() {
        let infer = |headers: &[&str], rows: &[&[&str]]| {
            let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
            let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
            let t = infer_template("t", &headers, &rows);
            let types: Vec<FieldTypeName> = t.fields.iter().map(|f| f.field_type).collect();
            (t.settings.locale.clone(), types)
        };
        use FieldTypeName::{Date, Datetime, Decimal, Integer, Text};
        // Month first (31 is no month), comma grouping.
        let us = infer(
            &["Signed", "Amount", "Count", "At"],
            &[
                &["12/31/2024", "1,234.56", "1,200", "1/19/2024 10:30 PM"],
                &["1/5/2024", "5.00", "7", "2/1/2024 9:05 AM"],
            ],
        );
        assert_eq!(us, (Some("en-US".into()), vec![Date, Decimal, Integer, Datetime]));
        // Day first, decimal comma, point grouping.
        let de =
            infer(&["Datum", "Betrag", "Menge"], &[&["31.12.2024", "1.234,56", "1.200"], &["05.01.2024", "12,5", "7"]]);
        assert_eq!(de, (Some("de-DE".into()), vec![Date, Decimal, Integer]));
        let gb = infer(&["Date", "Amount"], &[&["31/12/2024", "1234.5"], &["05/01/2024", "7"]]);
        assert_eq!(gb, (Some("en-GB".into()), vec![Date, Decimal]));
        // Nothing tells: ISO dates, and dates or numbers both ways read, keep no locale.
        let none = infer(
            &["Date", "Slash", "Grouped"],
            &[&["2024-12-31", "01/02/2024", "1,234"], &["2024-01-05", "03/04/2024", "5,678"]],
        );
        assert_eq!(none, (None, vec![Date, Text, Text]));
        // Columns that disagree (month first and day first) leave it to a person.
        let mixed = infer(&["A", "B"], &[&["12/31/2024", "31/12/2024"]]);
        assert_eq!(mixed, (None, vec![Text, Text]));
        // Decimal points beside decimal commas: no locale, so `1.234` is never read as 1234.
        assert_eq!(infer(&["Sizes", "Price"], &[&["1,5", "1.234"], &["2,10", "4.5"]]), (None, vec![Text, Decimal]));
        // A decimal comma alone may be a list: it names nothing, and stays text beside en-US.
        assert_eq!(infer(&["A", "B"], &[&["12/31/2024", "12,5"]]), (Some("en-US".into()), vec![Date, Text]));
        assert_eq!(infer(&["Ids", "Weight"], &[&["1,2", "1.250"], &["3,4", "2.500"]]), (None, vec![Text, Decimal]));
        // Nor do numbers only German grouping reads (addresses), or grouping alone (codes).
        let ip = infer(&["Ip", "Price"], &[&["192.168.100.200", "1.250"], &["10.100.200.100", "2.500"]]);
        assert_eq!(ip, (None, vec![Text, Decimal]));
        let codes = infer(&["Code", "On"], &[&["101,202,303", "01/02/2024"], &["404,505,606", "03/04/2024"]]);
        assert_eq!(codes, (None, vec![Text, Text]));
        // Numbers alone name a locale, but dates both orders read are not guessed: text.
        let numbers = infer(&["On", "Amount"], &[&["01/02/2024", "1,234.56"], &["03/04/2024", "2,000.00"]]);
        assert_eq!(numbers, (Some("en-US".into()), vec![Text, Decimal]));
        // Dates alone name the locale: numbers it would read otherwise than without one stay text
        // (`1,250` is 1250 in London and 1,25 in Paris; `1.500` is 1500 in Berlin and 1.5 in Zurich).
        let dotted =
            infer(&["Datum", "Betrag", "Preis"], &[&["31.12.2024", "1.234", "4"], &["15.01.2024", "2.500", "7"]]);
        assert_eq!(dotted, (Some("de-DE".into()), vec![Date, Text, Integer]));
        let french =
            infer(&["Date", "Qte", "Prix"], &[&["31/12/2024", "1,250", "12"], &["15/01/2024", "2,000", "7.5"]]);
        assert_eq!(french, (Some("en-GB".into()), vec![Date, Text, Decimal]));
        let spanish = infer(&["Fecha", "Importe"], &[&["31/12/2024", "1.234"], &["15/01/2024", "25.000"]]);
        assert_eq!(spanish, (Some("en-GB".into()), vec![Date, Text]));
        let ip = infer(&["Datum", "Ip"], &[&["31.12.2024", "192.168.100.200"], &["15.01.2024", "10.100.200.100"]]);
        assert_eq!(ip, (Some("de-DE".into()), vec![Date, Text]));
        let ambiguous_dotted = infer(&["Datum"], &[&["01.02.2024"], &["03.04.2024"]]);
        assert_eq!(ambiguous_dotted, (Some("de-DE".into()), vec![Date]));
        // Unless decimal points say otherwise (a Swiss file).
        let swiss = infer(&["Datum", "Betrag"], &[&["31.12.2024", "12.50"], &["15.01.2024", "1'234.05"]]);
        assert_eq!(swiss.0, None);
        // A leading zero before the decimal comma is a number, not a code.
        assert_eq!(infer(&["A", "B", "C"], &[&["0,5", "31.12.2024", "1.234,56"]]).1, vec![Decimal, Date, Decimal]);
    }

    #[test]
    fn inference_stays_strict_where_import_is_lenient() {
        // A date field takes a date at midnight and an integer field `3.0`, but a column of them
        // says date-time and decimal: later rows may have a time, or a fraction.
        let headers: Vec<String> = ["At", "Count"].map(String::from).to_vec();
        let rows: Vec<Vec<String>> = ["2024-01-15 00:00:00", "2024-01-17T00:00:00+05:00"]
            .iter()
            .enumerate()
            .map(|(i, at)| vec![at.to_string(), format!("{i}.0")])
            .collect();
        let t = infer_template("t", &headers, &rows);
        let types: Vec<FieldTypeName> = t.fields.iter().map(|f| f.field_type).collect();
        assert_eq!(types, vec![FieldTypeName::Datetime, FieldTypeName::Decimal]);
    }
}
