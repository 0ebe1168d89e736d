use super::*;

use crate::record::StoredCell;
use crate::template::{Schema, TemplateSyntax, parse_template};

/// The kind of a one-field template, written as the inside of a YAML flow mapping.
fn kind(field: &str) -> Kind {
    let text = format!("name: t\nfields: [{{key: f, {field}}}]\n");
    let spec = parse_template(&text, TemplateSyntax::Yaml).unwrap_or_else(|e| panic!("{e}"));
    let mut schema = Schema::compile(spec).unwrap_or_else(|e| panic!("{e}"));
    schema.fields.remove(0).kind
}

fn iso() -> ParseOptions {
    ParseOptions {
        date_order: None,
        decimal_comma: false,
        thousands: None,
        space_thousands: false,
        lakh_grouping: false,
        buddhist_era: false,
        offset_seconds: 0,
        trim: true,
        is_1904: false,
        source_encoding: None,
    }
}

fn with_order(order: DateOrder) -> ParseOptions {
    ParseOptions { date_order: Some(order), ..iso() }
}

/// An outcome as one string: the value's JSON form, `empty`, or `!code` for a fault.
fn show(c: &Converted<'_>) -> String {
    match c {
        Converted::Valid(v) => {
            let mut out = crate::json::JsonOut::new();
            v.write_json(&mut out);
            out.as_str().to_string()
        }
        Converted::Empty => "empty".into(),
        Converted::Invalid(f) => format!("!{}", f.code),
    }
}

/// Reads `input` as a CSV cell would hold it.
fn read(kind: &Kind, opts: &ParseOptions, input: &str) -> String {
    show(&convert_cell(kind, CellRef::Bytes(Cow::Borrowed(input.as_bytes())), opts).value)
}

/// Runs a table of `(input, expected)` cases for one kind and options.
fn table(kind: &Kind, opts: &ParseOptions, cases: &[(&str, &str)]) {
    for (input, expected) in cases {
        assert_eq!(read(kind, opts, input), *expected, "input {input:?} as {kind:?}");
    }
}

/// The fault message for `input`.
fn fault(kind: &Kind, opts: &ParseOptions, input: &str) -> String {
    match convert_cell(kind, CellRef::Bytes(Cow::Borrowed(input.as_bytes())), opts).value {
        Converted::Invalid(f) => f.message,
        other => panic!("{input:?} is not invalid: {other:?}"),
    }
}

#[test]
fn integers_are_whole_64_bit_numbers_with_an_optional_sign() {
    table(
        &Kind::Integer,
        &iso(),
        &[
            ("0", "0"),
            ("42", "42"),
            ("-42", "-42"),
            ("+7", "7"),
            ("007", "7"),
            (" 12 ", "12"),
            ("999999999999999999", "999999999999999999"),
            ("-999999999999999999", "-999999999999999999"),
            ("1000000000000000000", "1000000000000000000"),
            ("9223372036854775807", "9223372036854775807"),
            ("-9223372036854775808", "-9223372036854775808"),
            ("9223372036854775808", "!invalid_integer"),
            ("-9223372036854775809", "!invalid_integer"),
            ("99999999999999999999999", "!invalid_integer"),
            // A whole number written with a zero fraction (pandas' float columns).
            ("1.0", "1"),
            ("-3.00", "-3"),
            ("9223372036854775807.0", "9223372036854775807"),
            ("1.000", "!invalid_integer"),
            ("250.000", "!invalid_integer"),
            ("1.5", "!invalid_integer"),
            ("1.01", "!invalid_integer"),
            ("1.", "!invalid_integer"),
            (".0", "!invalid_integer"),
            ("1.0.0", "!invalid_integer"),
            ("1,0", "!invalid_integer"),
            ("123a", "!invalid_integer"),
            ("1,000", "!invalid_integer"),
            ("1 000", "!invalid_integer"),
            ("1e3", "!invalid_integer"),
            ("--3", "!invalid_integer"),
            ("+-3", "!invalid_integer"),
            ("-", "!invalid_integer"),
            ("+", "!invalid_integer"),
            ("١٢", "!invalid_integer"),
            ("", "empty"),
            ("   ", "empty"),
        ],
    );
    assert!(fault(&Kind::Integer, &iso(), "9223372036854775808").contains("outside the 64-bit integer range"));
    assert_eq!(fault(&Kind::Integer, &iso(), "1.5"), "'1.5' is not a whole number");
    // With a decimal comma, the comma is the fraction's mark.
    let comma = ParseOptions { decimal_comma: true, ..iso() };
    table(
        &Kind::Integer,
        &comma,
        &[("12,00", "12"), ("12.0", "!invalid_integer"), ("12,5", "!invalid_integer"), ("12,000", "!invalid_integer")],
    );
    // Template inference stays strict: a column written `1.0` is inferred as decimal.
    assert!(parse_integer("1.0").is_err());
}

#[test]
fn decimals_follow_sql_numeric_precision_and_scale() {
    let money = kind("type: decimal, precision: 17, scale: 2");
    table(
        &money,
        &iso(),
        &[
            ("19.90", "\"19.90\""),
            ("19.9", "\"19.9\""),
            ("12", "\"12\""),
            ("+3.10", "\"3.10\""),
            ("-45.00", "\"-45.00\""),
            ("-0", "\"0\""),
            ("-0.00", "\"0.00\""),
            (".5", "\"0.5\""),
            ("5.", "\"5\""),
            ("0012.5", "\"12.5\""),
            ("12.340", "\"12.340\""),
            ("12.345", "!decimal_out_of_range"),
            ("0.001", "!decimal_out_of_range"),
            ("123456789012345.67", "\"123456789012345.67\""),
            ("999999999999999", "\"999999999999999\""),
            ("1234567890123456", "!decimal_out_of_range"),
            ("1234567890123456.7", "!decimal_out_of_range"),
            ("1,200.00", "!invalid_decimal"),
            ("1.234,56", "!invalid_decimal"),
            ("1e5", "!invalid_decimal"),
            ("1E-2", "!invalid_decimal"),
            ("$45.00", "!invalid_decimal"),
            ("45.00€", "!invalid_decimal"),
            ("--3", "!invalid_decimal"),
            ("1.2.3", "!invalid_decimal"),
            (".", "!invalid_decimal"),
            ("-", "!invalid_decimal"),
            ("NaN", "!invalid_decimal"),
            ("", "empty"),
        ],
    );
    assert_eq!(fault(&money, &iso(), "12.345"), "'12.345' has more than 2 digits after the decimal point");
    assert_eq!(
        fault(&money, &iso(), "1234567890123456"),
        "'1234567890123456' has more than 15 digits before the decimal point"
    );
    for (input, message) in [
        (
            "1,200.00",
            "'1,200.00' is not a decimal number (write it without thousands separators, such as 1234.56, or set the template's locale, such as en-US)",
        ),
        ("$45.00", "'$45.00' is not a decimal number (write it without a currency sign, such as 1234.56)"),
        ("-45.00€", "'-45.00€' is not a decimal number (write it without a currency sign, such as 1234.56)"),
        ("1e5", "'1e5' is not a decimal number (write it without an exponent, such as 1234.56)"),
        (
            "1E400",
            "'1E400' is not a decimal number (its exponent puts it beyond what a decimal holds, 28 significant digits)",
        ),
        (
            "1e-400",
            "'1e-400' is not a decimal number (its exponent puts it beyond what a decimal holds, 28 significant digits)",
        ),
        ("--3", "'--3' is not a decimal number (such as 1234.56)"),
        (
            "1,5",
            "'1,5' is not a decimal number (the decimal point is '.', such as 1234.56; set the template's locale if the file writes decimal commas)",
        ),
        (
            "12,345,678",
            "'12,345,678' is not a decimal number (write it without thousands separators, such as 1234.56, or set the template's locale, such as en-US)",
        ),
        ("abc", "'abc' is not a decimal number (such as 1234.56)"),
    ] {
        assert_eq!(fault(&money, &iso(), input), message);
    }
    // With a locale of decimal points set, it is named rather than suggested.
    let swiss = ParseOptions { thousands: Some(b'\''), ..iso() };
    assert_eq!(
        fault(&money, &swiss, "1234,50"),
        "'1234,50' is not a decimal number (the template's locale writes the decimal point '.', such as 1234.56)"
    );
    let comma = ParseOptions { decimal_comma: true, ..iso() };
    assert_eq!(
        fault(&money, &comma, "€ 45"),
        "'€ 45' is not a decimal number (write it without a currency sign, such as 1234,56)"
    );
}

#[test]
fn decimals_without_limits_hold_up_to_28_digits() {
    let any = kind("type: decimal");
    table(
        &any,
        &iso(),
        &[
            ("12.345", "\"12.345\""),
            ("0.0000000001", "\"0.0000000001\""),
            ("1234567890123456789012345678", "\"1234567890123456789012345678\""),
            ("12345678901234567890123456789", "!decimal_out_of_range"),
            ("0.12345678901234567890123456789", "!decimal_out_of_range"),
            ("000000000000000000000000000001", "\"1\""),
            // Zeros ending the fraction past 28 digits add nothing: NUMERIC(38,30) exports.
            ("1.500000000000000000000000000000", "\"1.500000000000000000000000000\""),
            ("-0.000000000000000000000000000000", "\"0.0000000000000000000000000000\""),
            ("1.5000000000000000000000000000001", "!decimal_out_of_range"),
            ("1.50000000000000000000000000000000000000000007", "!decimal_out_of_range"),
        ],
    );
    let scale_only = kind("type: decimal, scale: 0");
    table(&scale_only, &iso(), &[("12", "\"12\""), ("12.0", "\"12.0\""), ("12.5", "!decimal_out_of_range")]);
    // One significant digit, but 29 places: the message says which limit.
    assert_eq!(
        fault(&any, &iso(), "0.00000000000000000000000000001"),
        "'0.00000000000000000000000000001' has more than 28 digits after the decimal point (the most a decimal holds)"
    );
    assert_eq!(
        fault(&any, &iso(), "12345678901234567890123456789"),
        "'12345678901234567890123456789' has more than 28 significant digits"
    );
}

#[test]
fn a_decimal_comma_swaps_the_separators() {
    let money = kind("type: decimal, precision: 17, scale: 2");
    let comma = ParseOptions { decimal_comma: true, ..iso() };
    table(
        &money,
        &comma,
        &[
            ("1.234,56", "\"1234.56\""),
            ("1234,56", "\"1234.56\""),
            ("12.345.678,9", "\"12345678.9\""),
            ("1,5", "\"1.5\""),
            ("-0,50", "\"-0.50\""),
            ("1.234", "\"1234\""),
            (",5", "\"0.5\""),
            // No exponent, and a group separator never makes one (printf's %.3e of 2500 under
            // de-DE is 2.500e+03, not 2500000).
            ("2,5e+03", "!invalid_decimal"),
            ("2.500e+03", "!invalid_decimal"),
            ("1.230e1", "!invalid_decimal"),
            ("1.5", "!invalid_decimal"),
            ("1.23,5", "!invalid_decimal"),
            ("1.2345,6", "!invalid_decimal"),
            ("1,200.00", "!invalid_decimal"),
            (".5", "!invalid_decimal"),
            ("1,2,3", "!invalid_decimal"),
            ("1,234", "!decimal_out_of_range"),
            // A first group is 1 to 3 digits and starts with no zero: these group nothing.
            ("0.234", "!invalid_decimal"),
            ("0001.234", "!invalid_decimal"),
            ("6987.423", "!invalid_decimal"),
            ("1234.567.890", "!invalid_decimal"),
            ("0,23", "\"0.23\""),
            ("999.999", "\"999999\""),
        ],
    );
    assert!(fault(&money, &comma, "1.5").contains("such as 1234,56"));
}

#[test]
fn a_locale_reads_its_thousands_separator_in_integers_and_decimals() {
    let money = kind("type: decimal, precision: 17, scale: 2");
    let us = ParseOptions { thousands: Some(b','), ..iso() };
    let cases = [
        ("1,234.56", "\"1234.56\""),
        ("-12,345,678.9", "\"-12345678.9\""),
        ("999,999", "\"999999\""),
        ("1,234", "\"1234\""),
        // Not groups of three, or a first group with a leading zero: errors, never 12.34 or 1234.
        ("12,34", "!invalid_decimal"),
        ("1,2345.6", "!invalid_decimal"),
        ("0,234", "!invalid_decimal"),
        ("1,234,56", "!invalid_decimal"),
        (",123", "!invalid_decimal"),
        ("1.234,56", "!invalid_decimal"),
    ];
    table(&money, &us, &cases);
    table(
        &Kind::Integer,
        &us,
        &[
            ("1,234", "1234"),
            ("-1,234,567", "-1234567"),
            ("1,234.00", "1234"),
            ("12,34", "!invalid_integer"),
            ("1,23,456", "!invalid_integer"),
            ("1.234", "!invalid_integer"),
        ],
    );
    // Without a locale a comma may be a decimal comma: an error that says what to do.
    assert!(fault(&money, &iso(), "1,234.56").contains("set the template's locale"));
    assert!(fault(&Kind::Integer, &iso(), "1,234").contains("set the template's locale"));
    assert_eq!(read(&Kind::Integer, &iso(), "12,34"), "!invalid_integer");
    assert_eq!(fault(&Kind::Integer, &iso(), "12,34"), "'12,34' is not a whole number");
    // A decimal comma groups with `.`, in integers too; Switzerland groups with `'`.
    let de = ParseOptions { decimal_comma: true, ..iso() };
    table(&Kind::Integer, &de, &[("1.234", "1234"), ("1.234,00", "1234"), ("1,234", "!invalid_integer")]);
    let ch = ParseOptions { thousands: Some(b'\''), ..iso() };
    table(&money, &ch, &[("1'234.50", "\"1234.50\""), ("1,234.50", "!invalid_decimal")]);
    assert!(
        fault(&Kind::Integer, &ch, "1,234")
            .ends_with("(the template's locale groups thousands with an apostrophe (1'234))")
    );
    assert!(fault(&money, &ch, "1,234.56").contains("groups thousands with an apostrophe"));
    // A first group of 0 groups nothing: `0,123` is a fraction with another separator.
    for (opts, input) in [(&us, "0,123"), (&us, "-0,123"), (&de, "0.123"), (&ch, "0'123")] {
        assert_eq!(read(&Kind::Integer, opts, input), "!invalid_integer", "{input}");
        assert_eq!(read(&money, opts, input), "!invalid_decimal", "{input}");
    }
    // The locale's own decimal point is never called a grouping: under en-US `1.234` is 1.234.
    assert_eq!(fault(&Kind::Integer, &us, "1.234"), "'1.234' is not a whole number");
    assert_eq!(fault(&Kind::Integer, &de, "1,234"), "'1,234' is not a whole number");
    assert_eq!(fault(&Kind::Integer, &ch, "1.234"), "'1.234' is not a whole number");
    assert_eq!(fault(&Kind::Integer, &iso(), "1.234"), "'1.234' is not a whole number");
    assert!(fault(&Kind::Integer, &iso(), "1'234").contains("such as de-CH"));
    // The Swiss grouping as Windows writes it: a typographic apostrophe, read as the straight one.
    table(
        &money,
        &ch,
        &[("1\u{2019}234.50", "\"1234.50\""), ("-12\u{2019}345", "\"-12345\""), ("1\u{2019}23.5", "!invalid_decimal")],
    );
    table(&Kind::Integer, &ch, &[("1\u{2019}234\u{2019}567", "1234567"), ("12\u{2019}34", "!invalid_integer")]);
    assert!(fault(&money, &ch, "1\u{2019}23.5").starts_with("'1\u{2019}23.5' is not a decimal number"));
    assert_eq!(
        read(&money, &us, "1\u{2019}234.50"),
        "!invalid_decimal",
        "only where the locale groups with apostrophes"
    );
    assert!(!fault(&money, &us, "1,234.567,8").contains("locale"));
    // The settings' locale sets it.
    let opts = |locale: &str| {
        let settings =
            crate::settings::SettingsPatch { locale: Some(locale.into()), ..Default::default() }.resolve("s").unwrap();
        ParseOptions::from_settings(&settings)
    };
    assert_eq!(opts("en-US").thousands, Some(b','));
    assert_eq!(opts("de-CH").thousands, Some(b'\''));
    assert_eq!((opts("de-LI").grouping(), opts("de-LI").decimal_comma), (Some(b'\''), false));
    assert_eq!(opts("de-DE").grouping(), Some(b'.'));
}

#[test]
fn french_and_nordic_locales_group_thousands_with_spaces() {
    let money = kind("type: decimal, precision: 17, scale: 2");
    let fr = ParseOptions { decimal_comma: true, space_thousands: true, ..iso() };
    table(
        &money,
        &fr,
        &[
            ("1 234,56", "\"1234.56\""),
            ("1\u{a0}234\u{a0}567,5", "\"1234567.5\""),
            ("-12\u{202f}345", "\"-12345\""),
            ("1.234,56", "\"1234.56\""),
            // Groups of three, one kind of space, none in the fraction: else an error.
            ("12 34,5", "!invalid_decimal"),
            ("1 234\u{a0}567", "!invalid_decimal"),
            ("1 234,567 8", "!invalid_decimal"),
            ("0 123", "!invalid_decimal"),
            ("1 234.5", "!invalid_decimal"),
            (" 1 234", "\"1234\""),
        ],
    );
    table(&Kind::Integer, &fr, &[("1 234", "1234"), ("1 234,00", "1234"), ("1 234,5", "!invalid_integer")]);
    // The error quotes the value as written.
    assert!(fault(&money, &fr, "12 34,5").starts_with("'12 34,5' is not a decimal number"));
    let tiny = kind("type: decimal, precision: 4, scale: 2");
    assert!(fault(&tiny, &fr, "1 234,56").starts_with("'1 234,56' has more than"), "{}", fault(&tiny, &fr, "1 234,56"));
    // Only where the locale writes them: de-DE and no locale refuse spaces.
    let de = ParseOptions { decimal_comma: true, ..iso() };
    assert_eq!(read(&money, &de, "1 234,56"), "!invalid_decimal");
    assert_eq!(read(&money, &iso(), "1 234.56"), "!invalid_decimal");
    let opts = |locale: &str| {
        let settings =
            crate::settings::SettingsPatch { locale: Some(locale.into()), ..Default::default() }.resolve("s").unwrap();
        ParseOptions::from_settings(&settings).space_thousands
    };
    assert!(opts("fr-FR") && opts("sv-SE") && opts("pl") && opts("pt-PT") && opts("nn-NO"));
    assert!(!opts("de-DE") && !opts("fr-CH") && !opts("pt-BR") && !opts("en-US"));
}

#[test]
fn a_locale_also_reads_year_first_dates_and_english_month_names() {
    let date = kind("type: date");
    let cases = [
        ("2024/01/31", "\"2024-01-31\""),
        ("2024.1.5", "\"2024-01-05\""),
        ("31-Jan-2024", "\"2024-01-31\""),
        ("31 January 2024", "\"2024-01-31\""),
        ("Jan 31, 2024", "\"2024-01-31\""),
        ("january 31st, 2024", "\"2024-01-31\""),
        ("Sept 2 2024", "\"2024-09-02\""),
        ("2024-Feb-29", "\"2024-02-29\""),
        ("31JAN2024", "\"2024-01-31\""),
        ("31-Jan-2024 00:00:00", "\"2024-01-31\""),
        ("Feb 30, 2024", "!invalid_date"),
        ("2024/13/01", "!invalid_date"),
        ("31-Jan-24", "!invalid_date"),
        ("Janu 31 2024", "!invalid_date"),
        ("31 Jan", "!invalid_date"),
        ("Jan 2024", "!invalid_date"),
        ("24/01/31", "!invalid_date"),
        ("31 Jan 2024 extra", "!invalid_date"),
        ("1th Mar 2024", "\"2024-03-01\""),
        ("st Jan 31 2024", "!invalid_date"),
        ("Jan st 31 2024", "!invalid_date"),
        ("2024th Jan 31", "!invalid_date"),
        // A day of the week first must be the date's.
        ("Wednesday, January 31, 2024", "\"2024-01-31\""),
        ("Wed, 31 Jan 2024", "\"2024-01-31\""),
        ("Thurs Feb 1st 2024", "\"2024-02-01\""),
        ("Thu, 01 Feb 2024 00:00:00 +0000", "\"2024-02-01\""),
        ("Tuesday, January 31, 2024", "!invalid_date"),
        ("Wedn 31 Jan 2024", "!invalid_date"),
        ("Jan Wed 31 2024", "!invalid_date"),
    ];
    for order in [DateOrder::Dmy, DateOrder::Mdy, DateOrder::Ymd] {
        table(&date, &with_order(order), &cases);
    }
    assert!(fault(&date, &with_order(DateOrder::Dmy), "Feb 30, 2024").contains("not a real date"));
    assert_eq!(
        fault(&date, &with_order(DateOrder::Dmy), "Tue, 31 Jan 2024"),
        "'Tue, 31 Jan 2024' names the wrong day of the week: 2024-01-31 is a Wednesday"
    );
    let dt = kind("type: datetime");
    let rfc2822 = [
        ("Wed, 31 Jan 2024 14:30:05 +0100", "\"2024-01-31T14:30:05+01:00\""),
        ("Wed Jan 31 2024 14:30:05 GMT+0100 (Central European Standard Time)", "\"2024-01-31T14:30:05+01:00\""),
    ];
    table(&dt, &with_order(DateOrder::Mdy), &rfc2822);
    let wrong_day = "names the wrong day of the week: 2024-01-31 is a Wednesday";
    assert_eq!(
        fault(&dt, &with_order(DateOrder::Mdy), "Tue, 31 Jan 2024 10:30 UTC"),
        format!("'Tue, 31 Jan 2024 10:30 UTC' {wrong_day}")
    );
    assert_eq!(
        fault(&date, &with_order(DateOrder::Mdy), "Tue, 31 Jan 2024 00:00"),
        format!("'Tue, 31 Jan 2024 00:00' {wrong_day}")
    );
    table(&date, &with_order(DateOrder::Mdy), &[("Wed, 31 Jan 2024 00:00:00 GMT", "\"2024-01-31\"")]);
    // Without a locale, ISO only, as before; the error says which setting reads the date.
    for (input, _) in &cases[..10] {
        assert_eq!(read(&date, &iso(), input), "!invalid_date", "{input}");
        assert!(fault(&date, &iso(), input).contains("set the template's locale"), "{input}");
    }
    assert!(
        fault(&date, &iso(), "12/31/2024")
            .ends_with("(expected YYYY-MM-DD; set the template's locale (such as en-US) to read it)")
    );
    assert!(fault(&date, &iso(), "31/12/2024").contains("(such as en-GB) to read it"));
    assert!(fault(&date, &iso(), "01/02/2024").contains("en-US (month first) or en-GB (day first)"));
    assert_eq!(fault(&date, &iso(), "31/31/2024"), "'31/31/2024' is not a date (expected YYYY-MM-DD)");
    assert_eq!(fault(&date, &iso(), "soon"), "'soon' is not a date (expected YYYY-MM-DD)");
    assert!(fault(&date, &iso(), "31-Jan-2024").contains("(any, such as en-US)"));
    // Both orders read it alike, but a year-first locale does not.
    assert!(fault(&date, &iso(), "01/01/2024").contains("(such as en-US or en-GB)"));
}

#[test]
fn booleans_accept_the_builtin_spellings_in_any_case() {
    let flag = kind("type: boolean");
    table(
        &flag,
        &iso(),
        &[
            ("true", "true"),
            ("TRUE", "true"),
            ("True", "true"),
            ("t", "true"),
            ("Yes", "true"),
            ("y", "true"),
            ("1", "true"),
            ("on", "true"),
            ("false", "false"),
            ("F", "false"),
            ("NO", "false"),
            ("n", "false"),
            ("0", "false"),
            ("Off", "false"),
            (" yes ", "true"),
            ("yes please", "!invalid_boolean"),
            ("2", "!invalid_boolean"),
            ("-1", "!invalid_boolean"),
            ("oui", "true"),
            ("FALSCH", "false"),
            ("vielleicht", "!invalid_boolean"),
            ("", "empty"),
        ],
    );
    assert!(fault(&flag, &iso(), "vielleicht").contains("use one of: true, t, yes"));
}

#[test]
fn custom_boolean_spellings_replace_the_builtin_ones_and_match_exactly() {
    let flag = kind("type: boolean, true_values: [Y, true], false_values: [N, false]");
    table(
        &flag,
        &iso(),
        &[
            ("Y", "true"),
            ("true", "true"),
            ("N", "false"),
            ("false", "false"),
            ("y", "!invalid_boolean"),
            ("TRUE", "!invalid_boolean"),
            ("yes", "!invalid_boolean"),
            ("1", "!invalid_boolean"),
        ],
    );
    let only_true = kind("type: boolean, true_values: [ja]");
    table(
        &only_true,
        &iso(),
        &[("ja", "true"), ("false", "false"), ("Ja", "!invalid_boolean"), ("true", "!invalid_boolean")],
    );
    // Words are trimmed as cells are.
    let padded = kind("type: boolean, true_values: [' Ja '], false_values: [Nein]");
    table(&padded, &iso(), &[(" Ja ", "true"), ("Nein", "false")]);
}

#[test]
fn dates_are_iso_only_unless_an_order_or_format_is_given() {
    let date = kind("type: date");
    table(
        &date,
        &iso(),
        &[
            ("2020-05-01", "\"2020-05-01\""),
            ("2024-02-29", "\"2024-02-29\""),
            ("0001-01-01", "\"0001-01-01\""),
            ("2020/05/01", "!invalid_date"),
            ("13-05-2020", "!invalid_date"),
            ("05/13/2020", "!invalid_date"),
            // ISO's basic form; eight digits that are no such day are not one.
            ("20200501", "\"2020-05-01\""),
            ("20240229 00:00", "\"2024-02-29\""),
            ("20230229", "!invalid_date"),
            ("05012020", "!invalid_date"),
            ("12312024", "!invalid_date"),
            ("00010101", "!invalid_date"),
            ("2020050", "!invalid_date"),
            ("202005011", "!invalid_date"),
            ("+2020501", "!invalid_date"),
            ("10101010", "!invalid_date"),
            ("22000101", "!invalid_date"),
            ("2024-01-02 00:00:00 UTC", "\"2024-01-02\""),
            ("2024-01-02 00:00:00 gmt+01:00", "\"2024-01-02\""),
            ("2024-01-02 10:00:00 UTC", "!invalid_date"),
            ("2024-01-02 12:00 AM UTC", "\"2024-01-02\""),
            ("2024-01-02 00:00:00 GMT+0100 (CET)", "\"2024-01-02\""),
            ("2024-01-02 00:00:00Z", "\"2024-01-02\""),
            ("2024-01-02 00:00 UTCZ", "!invalid_date"),
            ("2024-01-02 00:00 GMT+", "!invalid_date"),
            ("2024-01-02 00:00 UTC-abc", "!invalid_date"),
            ("2024-01-02 00:00 UTC +01:00", "!invalid_date"),
            ("2024-01-02 00:00 GMT+ (CET)", "!invalid_date"),
            ("2024-01-02 00:00 (CET)", "!invalid_date"),
            ("2024-01-02 00:00 +053", "!invalid_date"),
            ("2024-01-02 00:00 +19", "!invalid_date"),
            ("2024-01-02 00:00 +01:99", "!invalid_date"),
            ("2024-01-02 00:00 -18:00", "\"2024-01-02\""),
            ("2024-01-02 00:00 Z", "\"2024-01-02\""),
            ("2024-01-02 12:00 AMZ", "\"2024-01-02\""),
            ("2024-01-02 00:00:00 GMT+0100 (Central European Standard Time)", "\"2024-01-02\""),
            ("99991231", "\"9999-12-31\""),
            ("2020-5-1", "!invalid_date"),
            ("2023-02-30", "!invalid_date"),
            ("2023-02-29", "!invalid_date"),
            ("2023-13-01", "!invalid_date"),
            ("2023-00-10", "!invalid_date"),
            ("2020-05-01T10:00", "!invalid_date"),
            ("May 1, 2020", "!invalid_date"),
            // A date at midnight, as date-time columns are exported, is the date.
            ("2020-05-01 00:00:00", "\"2020-05-01\""),
            ("2020-05-01T00:00:00.000Z", "\"2020-05-01\""),
            ("2020-05-01T00:00+02:00", "\"2020-05-01\""),
            ("2020-05-01 12:00:00 AM", "\"2020-05-01\""),
            ("2020-05-01 12:00 PM", "!invalid_date"),
            ("2020-05-01 00:00:01", "!invalid_date"),
            ("2020-05-01 00:00:00.5", "!invalid_date"),
            ("2020-05-01 24:00", "!invalid_date"),
            ("2020-05-01 0:00:00", "\"2020-05-01\""),
            ("2020-05-01 00:00:00 +0000", "\"2020-05-01\""),
            ("2020-05-01 00:00:00,000", "\"2020-05-01\""),
            // Spelled as a date-time field reads it, and nothing it refuses.
            ("2020-05-01t00:00:00z", "\"2020-05-01\""),
            ("2020-05-01T00:00:00.000000000Z", "\"2020-05-01\""),
            ("2020-05-01T00:00:00.Z", "!invalid_date"),
            ("2020-05-01 00:00:00.", "!invalid_date"),
            ("2020-05-01 00:00:00.0000000000", "!invalid_date"),
            ("2020-05-01 00:00:00 -", "!invalid_date"),
            ("2020-05-01 00:00 00:00", "!invalid_date"),
            ("2023-02-30 00:00:00", "!invalid_date"),
        ],
    );
    assert_eq!(
        fault(&date, &iso(), "2020-05-01 13:45"),
        "'2020-05-01 13:45' has a time of day; the field takes a date alone"
    );
    assert_eq!(fault(&date, &iso(), "2020-05-01 7 pm"), "'2020-05-01 7 pm' is not a date (expected YYYY-MM-DD)");
    assert_eq!(fault(&date, &iso(), "2023-02-30"), "'2023-02-30' is not a real date: that day does not exist");
    assert_eq!(fault(&date, &iso(), "20230230"), "'20230230' is not a real date: that day does not exist");
    assert_eq!(
        fault(&date, &iso(), "2024-01-02 10:30 AM GMT"),
        "'2024-01-02 10:30 AM GMT' has a time of day; the field takes a date alone"
    );
    assert_eq!(
        fault(&date, &iso(), "2023-02-30 00:00"),
        "'2023-02-30 00:00' is not a real date: that day does not exist"
    );
    // A field with a format reads eight digits by it alone.
    let swapped = kind("type: date, format: \"%Y%d%m\"");
    table(&swapped, &iso(), &[("20241206", "\"2024-06-12\""), ("20241306", "\"2024-06-13\"")]);
    let swapped_dt = kind("type: datetime, format: \"%Y%d%m %H:%M\"");
    table(&swapped_dt, &iso(), &[("20241206 10:30", "\"2024-06-12T10:30:00Z\"")]);
    // A spreadsheet number of eight digits that is a date reads as one; other numbers are serials.
    for cell in [CellRef::Int(20240615), CellRef::Number(20240615.0)] {
        assert_eq!(show(&convert_cell(&date, cell, &iso()).value), "\"2024-06-15\"");
    }
    assert_eq!(show(&convert_cell(&date, CellRef::Int(45000), &iso()).value), "\"2023-03-15\"");
    assert_eq!(show(&convert_cell(&swapped, CellRef::Int(20241206), &iso()).value), "\"2024-06-12\"");
    assert_eq!(show(&convert_cell(&swapped, CellRef::Int(20241315), &iso()).value), "!invalid_date");
    assert_eq!(show(&convert_cell(&swapped_dt, CellRef::Int(20241206), &iso()).value), "!invalid_datetime");
    assert_eq!(fault(&date, &iso(), "2023-13-01"), "'2023-13-01' is not a real date: there is no such month");
    assert_eq!(
        fault(&date, &iso(), "2020/05/01"),
        "'2020/05/01' is not a date (expected YYYY-MM-DD; set the template's locale (any, such as en-US) to read it)"
    );
}

#[test]
fn a_date_order_reads_day_month_and_year_in_that_order() {
    let date = kind("type: date");
    let check = |order: DateOrder, input: &str, expected: &str| {
        assert_eq!(read(&date, &with_order(order), input), expected, "{input:?} as {order:?}");
    };
    check(DateOrder::Dmy, "13-05-2020", "\"2020-05-13\"");
    check(DateOrder::Dmy, "13/05/2020", "\"2020-05-13\"");
    check(DateOrder::Dmy, "1.2.2024", "\"2024-02-01\"");
    check(DateOrder::Dmy, "2020-05-01", "\"2020-05-01\"");
    check(DateOrder::Dmy, "05/13/2020", "!invalid_date");
    check(DateOrder::Dmy, "31/04/2020", "!invalid_date");
    check(DateOrder::Dmy, "13/05/20", "!invalid_date");
    check(DateOrder::Dmy, "13/05/2020/1", "!invalid_date");
    check(DateOrder::Mdy, "05/13/2020", "\"2020-05-13\"");
    check(DateOrder::Mdy, "5/3/2020", "\"2020-05-03\"");
    check(DateOrder::Mdy, "13/05/2020", "!invalid_date");
    // Dots are written day first everywhere, whatever order the locale writes slashes in.
    check(DateOrder::Mdy, "05.01.2024", "\"2024-01-05\"");
    check(DateOrder::Mdy, "3.2.2024", "\"2024-02-03\"");
    check(DateOrder::Mdy, "2024.01.05", "\"2024-01-05\"");
    check(DateOrder::Ymd, "2020/05/01", "\"2020-05-01\"");
    check(DateOrder::Ymd, "2020.5.1", "\"2020-05-01\"");
    check(DateOrder::Ymd, "01/05/2020", "!invalid_date");
    // Spreadsheet exports of date-time cells at midnight.
    check(DateOrder::Dmy, "13/05/2020 00:00", "\"2020-05-13\"");
    check(DateOrder::Mdy, "5/13/2020 12:00:00 AM", "\"2020-05-13\"");
    check(DateOrder::Mdy, "5/13/2020 9:30:00 AM", "!invalid_date");
    check(DateOrder::Dmy, "15.01.2024 00:00:00,000", "\"2024-01-15\"");
    assert!(fault(&date, &with_order(DateOrder::Dmy), "31/04/2020").contains("not a real date"));
    assert!(fault(&date, &with_order(DateOrder::Mdy), "x").contains("expected YYYY-MM-DD, MM/DD/YYYY or Dec 31, 2024"));
}

#[test]
fn a_date_format_is_read_with_strftime() {
    let date = kind("type: date, format: '%d %b %Y'");
    table(
        &date,
        &iso(),
        &[
            ("01 May 2020", "\"2020-05-01\""),
            ("2020-05-01", "\"2020-05-01\""),
            ("May 01 2020", "!invalid_date"),
            ("31 Feb 2020", "!invalid_date"),
        ],
    );
    assert!(fault(&date, &iso(), "x").contains("expected YYYY-MM-DD or %d %b %Y"));
    // A format that writes what looks like ISO wins over ISO: year, day, month.
    let ydm = kind("type: date, format: '%Y-%d-%m'");
    table(&ydm, &iso(), &[("2024-05-01", "\"2024-01-05\""), ("2024-31-12", "\"2024-12-31\"")]);
    let ydm_time = kind("type: datetime, format: '%Y-%d-%m %H:%M'");
    table(
        &ydm_time,
        &iso(),
        &[("2024-05-01 10:00", "\"2024-01-05T10:00:00Z\""), ("2024-01-05T10:00:00Z", "\"2024-01-05T10:00:00Z\"")],
    );

    // The field's own format wins over the locale's order, and what it refuses is no date: read
    // the locale's way, one column would hold two readings (01/13/2024 month first beside
    // 05/06/2024 day first).
    let day_first = kind("type: date, format: '%d/%m/%Y'");
    table(
        &day_first,
        &with_order(DateOrder::Mdy),
        &[
            ("03/04/2020", "\"2020-04-03\""),
            ("13/04/2020", "\"2020-04-13\""),
            ("04.13.2020", "!invalid_date"),
            ("01/13/2024", "!invalid_date"),
            ("2020-04-13", "\"2020-04-13\""),
        ],
    );
    assert!(fault(&day_first, &with_order(DateOrder::Mdy), "01/13/2024").contains("expected YYYY-MM-DD or %d/%m/%Y"));
    let dt = kind("type: datetime, format: '%d.%m.%Y %H:%M'");
    table(
        &dt,
        &with_order(DateOrder::Mdy),
        &[
            ("03.04.2020 10:00", "\"2020-04-03T10:00:00Z\""),
            ("12.31.2024 10:00", "!invalid_datetime"),
            ("2024-12-31T10:00:00", "\"2024-12-31T10:00:00Z\""),
        ],
    );
    assert!(fault(&dt, &with_order(DateOrder::Mdy), "12.31.2024 10:00").contains("or %d.%m.%Y %H:%M"));
}

#[test]
fn a_format_reads_only_what_it_would_write() {
    // strftime's reader takes a year of any length and a sign, and run-together numbers short.
    let day_first = kind("type: date, format: '%d/%m/%Y'");
    table(
        &day_first,
        &iso(),
        &[("31/12/24", "!invalid_date"), ("3/4/2020", "\"2020-04-03\""), ("31/12/-5", "!invalid_date")],
    );
    assert!(fault(&day_first, &iso(), "31/12/24").contains("four-digit year from 1000 to 9999"));
    // Four digits that are no year a date column holds are told the same way, not that they are short.
    assert!(fault(&day_first, &iso(), "01/01/0000").contains("does not have a four-digit year from 1000 to 9999"));
    let compact = kind("type: date, format: '%Y%m%d'");
    table(&compact, &iso(), &[("20241203", "\"2024-12-03\""), ("2024123", "!invalid_date")]);
    assert!(fault(&compact, &iso(), "2024123").contains("full width"));
    let dt = kind("type: datetime, format: '%m/%d/%Y %H:%M'");
    table(&dt, &iso(), &[("12/31/-5 10:00", "!invalid_datetime"), ("12/31/2024 10:00", "\"2024-12-31T10:00:00Z\"")]);
    let compact_dt = kind("type: datetime, format: '%Y%m%d%H%M%z'");
    table(
        &compact_dt,
        &iso(),
        &[("202412031005+0100", "\"2024-12-03T10:05:00+01:00\""), ("20241203105+0100", "!invalid_datetime")],
    );
    // A two-digit year is what %y is for.
    let short = kind("type: date, format: '%d/%m/%y'");
    table(&short, &iso(), &[("31/12/24", "\"2024-12-31\"")]);
}

#[test]
fn datetimes_keep_their_offset_and_take_the_default_when_none_is_written() {
    let dt = kind("type: datetime");
    table(
        &dt,
        &iso(),
        &[
            ("2024-06-15T14:30:00Z", "\"2024-06-15T14:30:00Z\""),
            ("2024-06-15t14:30:00z", "\"2024-06-15T14:30:00Z\""),
            ("2024-06-15T14:30:00+02:00", "\"2024-06-15T14:30:00+02:00\""),
            ("2024-06-15T14:30:00+0200", "\"2024-06-15T14:30:00+02:00\""),
            ("2024-06-15T14:30:00+02", "\"2024-06-15T14:30:00+02:00\""),
            ("2024-06-15T14:30:00-05:30", "\"2024-06-15T14:30:00-05:30\""),
            ("2024-06-15T14:30:00 +01:00", "\"2024-06-15T14:30:00+01:00\""),
            ("2024-06-15 14:30", "\"2024-06-15T14:30:00Z\""),
            ("20240615 14:30", "\"2024-06-15T14:30:00Z\""),
            ("2024-06-15T14:30:05.5Z", "\"2024-06-15T14:30:05.5Z\""),
            ("2024-06-15T14:30:05,123456789Z", "\"2024-06-15T14:30:05.123456789Z\""),
            ("2024-06-15", "\"2024-06-15T00:00:00Z\""),
            ("2024-06-15T14:30:05.1234567891Z", "!invalid_datetime"),
            ("2024-06-15T14:30:05.Z", "!invalid_datetime"),
            ("2024-06-15T25:00", "!invalid_datetime"),
            ("2024-06-15T14:60", "!invalid_datetime"),
            ("2024-06-15T14", "!invalid_datetime"),
            ("2024-06-15T", "!invalid_datetime"),
            ("2024-06-15T14:30:00+19:00", "!invalid_datetime"),
            ("2024-06-15T14:30:00+02:60", "!invalid_datetime"),
            ("2024-06-15T14:30:00+18:30", "!invalid_datetime"),
            ("2024-06-15T14:30:00+18:00", "\"2024-06-15T14:30:00+18:00\""),
            ("2024-06-15T14:30:00-18:00", "\"2024-06-15T14:30:00-18:00\""),
            ("2024-06-15T14:30:00 CEST", "!invalid_datetime"),
            ("2024-06-15 14:30:00 UTC", "\"2024-06-15T14:30:00Z\""),
            ("2024-06-15 14:30 gmt", "\"2024-06-15T14:30:00Z\""),
            ("2024-06-15T14:30:00UTC", "\"2024-06-15T14:30:00Z\""),
            ("2024-06-15 14:30:00 GMT+0100", "\"2024-06-15T14:30:00+01:00\""),
            ("2024-06-15 14:30:00 UTC-05:00", "\"2024-06-15T14:30:00-05:00\""),
            ("2024-06-15 14:30:00 UTC +01:00", "!invalid_datetime"),
            ("2024-06-15 14:30:00 UTCX", "!invalid_datetime"),
            ("2024-06-15 14:30:00 GMT+19", "!invalid_datetime"),
            ("2024-06-15 14:30:00 UT", "!invalid_datetime"),
            ("2024-06-15 14:30:00 UTCZ", "!invalid_datetime"),
            ("2024-06-15 14:30:00 GMT+0100 (Central European Standard Time)", "\"2024-06-15T14:30:00+01:00\""),
            ("2024-06-15 14:30:00 (CET)", "!invalid_datetime"),
            ("2024-06-15 14:30:00 UTC (2024-06-16 05:00 local)", "!invalid_datetime"),
            ("2024-06-15 14:30:00 Z (x) junk)", "!invalid_datetime"),
            ("2024-06-15 14:30:00 +01:00 (a) (b)", "!invalid_datetime"),
            ("2024-06-15 14:30:00 GMT+0100 ()", "!invalid_datetime"),
            ("2024-06-15 14:30:00 Z (Coordinated Universal Time)", "\"2024-06-15T14:30:00Z\""),
            ("2024-02-30T10:00", "!invalid_datetime"),
            ("15/06/2024 14:30", "!invalid_datetime"),
            ("yesterday", "!invalid_datetime"),
        ],
    );
    assert!(fault(&dt, &iso(), "2024-02-30T10:00").contains("not a real date"));
    assert!(fault(&dt, &iso(), "2024-06-15T25:00").contains("no such time of day"));
    assert!(fault(&dt, &iso(), "2024-06-15T14:30+19:00").ends_with("has the offset +19:00, beyond -18:00 to +18:00"));
    let berlin = ParseOptions { offset_seconds: 3600, ..iso() };
    table(
        &dt,
        &berlin,
        &[("2024-06-15 14:30", "\"2024-06-15T14:30:00+01:00\""), ("2024-06-15T14:30Z", "\"2024-06-15T14:30:00Z\"")],
    );
    let dmy = with_order(DateOrder::Dmy);
    table(&dt, &dmy, &[("15/06/2024 14:30", "\"2024-06-15T14:30:00Z\""), ("31/06/2024 14:30", "!invalid_datetime")]);
}

#[test]
fn datetimes_as_exports_write_them_one_digit_hours_and_a_12_hour_clock() {
    let dt = kind("type: datetime");
    let us = with_order(DateOrder::Mdy);
    table(
        &dt,
        &us,
        &[
            ("1/19/2024 9:30", "\"2024-01-19T09:30:00Z\""),
            ("1/19/2024 10:30 PM", "\"2024-01-19T22:30:00Z\""),
            ("1/19/2024 10:30:15 pm", "\"2024-01-19T22:30:15Z\""),
            ("1/19/2024 12:05 AM", "\"2024-01-19T00:05:00Z\""),
            ("1/19/2024 12:05 PM", "\"2024-01-19T12:05:00Z\""),
            ("1/19/2024 9:30AM", "\"2024-01-19T09:30:00Z\""),
            ("1/19/2024 10:30 PM +02:00", "\"2024-01-19T22:30:00+02:00\""),
            ("Jan 19, 2024 10:30 AM", "\"2024-01-19T10:30:00Z\""),
            ("19-Oct-2024 9:30", "\"2024-10-19T09:30:00Z\""),
            ("19 October 2024 09:30:00", "\"2024-10-19T09:30:00Z\""),
            ("2024-06-15 7:05", "\"2024-06-15T07:05:00Z\""),
            // JavaScript's `toLocaleString()` and Salesforce's newer formats: a comma after the date.
            ("1/19/2024, 10:30:00 AM", "\"2024-01-19T10:30:00Z\""),
            ("Jan 19, 2024, 10:30 AM", "\"2024-01-19T10:30:00Z\""),
            ("1/19/2024,, 10:30", "!invalid_datetime"),
            ("Feb 30, 2024, 10:30", "!invalid_datetime"),
            ("1/19/2024 13:30 PM", "!invalid_datetime"),
            ("1/19/2024 0:30 AM", "!invalid_datetime"),
            ("1/19/2024 10:30 XM", "!invalid_datetime"),
            ("1/19/2024 9:3", "!invalid_datetime"),
            ("Feb 30, 2024 10:30", "!invalid_datetime"),
            ("Jan 19, 2024 later", "!invalid_datetime"),
        ],
    );
    assert!(fault(&dt, &us, "1/19/2024 13:30 PM").contains("no such time of day"));
    assert!(fault(&dt, &us, "Feb 30, 2024 10:30").contains("not a real date"));
    assert_eq!(
        fault(&dt, &us, "Feb 30, 2024, 10:30"),
        "'Feb 30, 2024, 10:30' is not a real date: that day does not exist"
    );
    // A date field takes such a date at midnight.
    let date = kind("type: date");
    table(&date, &us, &[("1/19/2024, 12:00:00 AM", "\"2024-01-19\""), ("1/19/2024, 9:00 AM", "!invalid_date")]);
    assert!(fault(&dt, &us, "tomorrow").contains("or 12/31/2024 11:59 PM"));
    // Without a locale, ISO dates only, whatever the time.
    assert_eq!(read(&dt, &iso(), "Jan 19, 2024 10:30 AM"), "!invalid_datetime");
    assert_eq!(read(&dt, &iso(), "2024-06-15 10:30 PM"), "\"2024-06-15T22:30:00Z\"");
}

#[test]
fn a_datetime_format_is_read_with_strftime_and_may_carry_an_offset() {
    let dt = kind("type: datetime, format: '%d/%m/%Y %H:%M'");
    let offset = ParseOptions { offset_seconds: -3600, ..iso() };
    table(
        &dt,
        &offset,
        &[("15/06/2024 14:30", "\"2024-06-15T14:30:00-01:00\""), ("2024-06-15T14:30Z", "\"2024-06-15T14:30:00Z\"")],
    );
    let zoned = kind("type: datetime, format: '%d.%m.%Y %H:%M %z'");
    table(
        &zoned,
        &iso(),
        &[("15.06.2024 14:30 +0200", "\"2024-06-15T14:30:00+02:00\""), ("15.06.2024", "!invalid_datetime")],
    );
}

#[test]
fn a_datetime_format_of_unix_seconds_reads_an_instant_in_utc() {
    let epoch = kind("type: datetime, format: '%s'");
    let offset = ParseOptions { offset_seconds: 3600, ..iso() };
    table(
        &epoch,
        &offset,
        &[
            ("1700000000", "\"2023-11-14T22:13:20Z\""),
            ("0", "\"1970-01-01T00:00:00Z\""),
            ("-86400", "\"1969-12-31T00:00:00Z\""),
            ("17e8", "!invalid_datetime"),
        ],
    );
}

#[test]
fn spreadsheet_serials_count_days_in_either_date_system() {
    let check = |serial: f64, is_1904: bool, expected: Option<&str>| {
        let got = excel_serial_to_datetime(serial, is_1904).map(|dt| dt.to_string());
        assert_eq!(got.as_deref(), expected, "serial {serial} (1904: {is_1904})");
    };
    check(1.0, false, Some("1900-01-01T00:00:00"));
    check(31.0, false, Some("1900-01-31T00:00:00"));
    check(59.0, false, Some("1900-02-28T00:00:00"));
    check(60.0, false, None);
    check(60.5, false, None);
    check(61.0, false, Some("1900-03-01T00:00:00"));
    check(36526.0, false, Some("2000-01-01T00:00:00"));
    check(45000.0, false, Some("2023-03-15T00:00:00"));
    check(45000.5, false, Some("2023-03-15T12:00:00"));
    check(45000.75, false, Some("2023-03-15T18:00:00"));
    check(45000.0 + 1.0 / 86_400.0, false, Some("2023-03-15T00:00:01"));
    check(45000.0000005, false, Some("2023-03-15T00:00:00.043"));
    check(45000.000000005, false, Some("2023-03-15T00:00:00"));
    check(45000.9999999999, false, Some("2023-03-16T00:00:00"));
    check(2958465.0, false, Some("9999-12-31T00:00:00"));
    check(2958466.0, false, None);
    check(0.0, false, None);
    check(0.5, false, None);
    check(-1.0, false, None);
    check(f64::NAN, false, None);
    check(f64::INFINITY, false, None);
    check(0.0, true, Some("1904-01-01T00:00:00"));
    check(0.25, true, Some("1904-01-01T06:00:00"));
    check(1.0, true, Some("1904-01-02T00:00:00"));
    check(43538.0, true, Some("2023-03-15T00:00:00"));
}

/// Reads a spreadsheet (or JSON) cell: the outcome and the text kept for messages.
fn cell(kind: &Kind, opts: &ParseOptions, c: CellRef<'_>) -> (String, String) {
    let converted = convert_cell(kind, c, opts);
    (show(&converted.value), converted.text.into_owned())
}

#[test]
fn spreadsheet_numbers_are_read_as_the_field_type() {
    let money = kind("type: decimal, precision: 17, scale: 2");
    let date = kind("type: date");
    let dt = kind("type: datetime");
    let flag = kind("type: boolean");
    let check = |k: &Kind, c: CellRef<'_>, value: &str, text: &str| {
        let label = format!("{c:?} as {k:?}");
        assert_eq!(cell(k, &iso(), c), (value.to_string(), text.to_string()), "{label}");
    };
    check(&Kind::Integer, CellRef::Number(42.0), "42", "42");
    check(&Kind::Integer, CellRef::Number(-3.0), "-3", "-3");
    check(&Kind::Integer, CellRef::Number(42.5), "!invalid_integer", "42.5");
    check(&Kind::Integer, CellRef::Number(1e19), "!invalid_integer", "10000000000000000000");
    // Beyond 2^53 a float may not hold the digits the file wrote: an error, not a neighbour.
    check(&Kind::Integer, CellRef::Number(9_007_199_254_740_991.0), "9007199254740991", "9007199254740991");
    // The digits 9007199254740993 read as 2^53 itself.
    check(&Kind::Integer, CellRef::Number("9007199254740993".parse().unwrap()), "!invalid_integer", "9007199254740992");
    check(&Kind::Integer, CellRef::Number(9_007_199_254_740_994.0), "!invalid_integer", "9007199254740994");
    check(&kind("type: decimal"), CellRef::Number(-1e17), "!invalid_decimal", "-100000000000000000");
    // Nor as text: a writer's exact digits (a 64-bit id) would silently become a neighbour.
    check(&Kind::Text, CellRef::Number(1e17), "!invalid_type", "100000000000000000");
    check(&Kind::Text, CellRef::Number("9007199254740993".parse().unwrap()), "!invalid_type", "9007199254740992");
    check(&Kind::Text, CellRef::Number(9_007_199_254_740_991.0), "\"9007199254740991\"", "9007199254740991");
    check(&Kind::Text, CellRef::Number(1.5e20), "!invalid_type", "150000000000000000000");
    check(&Kind::Text, CellRef::Number(12345678.5), "\"12345678.5\"", "12345678.5");
    check(&Kind::Integer, CellRef::Int(7), "7", "7");
    check(&Kind::Integer, CellRef::Int(i64::MAX), "9223372036854775807", "9223372036854775807");
    check(&Kind::Integer, CellRef::Int(i64::MIN), "-9223372036854775808", "-9223372036854775808");
    check(&money, CellRef::Number(19.9), "\"19.9\"", "19.9");
    check(&money, CellRef::Number(12.0), "\"12\"", "12");
    check(&money, CellRef::Number(12.345), "!decimal_out_of_range", "12.345");
    check(&kind("type: decimal"), CellRef::Int(9_007_199_254_740_993), "\"9007199254740993\"", "9007199254740993");
    check(&Kind::Text, CellRef::Number(42.0), "\"42\"", "42");
    check(&Kind::Text, CellRef::Number(0.5), "\"0.5\"", "0.5");
    check(&date, CellRef::Number(45000.0), "\"2023-03-15\"", "2023-03-15");
    check(&date, CellRef::Number(60.0), "!invalid_date", "60");
    check(&dt, CellRef::Number(45000.5), "\"2023-03-15T12:00:00Z\"", "2023-03-15T12:00:00");
    check(&flag, CellRef::Number(1.0), "true", "1");
    check(&flag, CellRef::Number(0.0), "false", "0");
    check(&flag, CellRef::Number(2.0), "!invalid_boolean", "2");
    check(&Kind::Uuid, CellRef::Number(1.0), "!invalid_uuid", "1");
}

#[test]
fn spreadsheet_dates_errors_and_booleans_are_read_as_the_field_type() {
    let date = kind("type: date");
    let dt = kind("type: datetime");
    let flag = kind("type: boolean");
    let tags = kind("type: tags");
    let check = |k: &Kind, c: CellRef<'_>, value: &str, text: &str| {
        let label = format!("{c:?} as {k:?}");
        assert_eq!(cell(k, &iso(), c), (value.to_string(), text.to_string()), "{label}");
    };
    check(&date, CellRef::ExcelDate(45000.0), "\"2023-03-15\"", "2023-03-15");
    // A date cell's date, as a date format shows it; a plain number with a fraction is no date.
    check(&date, CellRef::ExcelDate(45000.25), "\"2023-03-15\"", "2023-03-15T06:00:00");
    // In a format that shows the time, the time would be lost: an error, unless it is midnight.
    check(&date, CellRef::ExcelDateTime(45000.25), "!invalid_date", "2023-03-15T06:00:00");
    check(&date, CellRef::ExcelDateTime(45000.0), "\"2023-03-15\"", "2023-03-15");
    check(&dt, CellRef::ExcelDateTime(45000.25), "\"2023-03-15T06:00:00Z\"", "2023-03-15T06:00:00");
    check(&Kind::Text, CellRef::ExcelDateTime(45000.25), "\"2023-03-15T06:00:00\"", "2023-03-15T06:00:00");
    // In a format that shows the time alone, a text field reads the time the sheet shows; a
    // date-time field still reads the moment the cell holds.
    check(&Kind::Text, CellRef::ExcelTime(45000.75), "\"18:00:00\"", "18:00:00");
    check(&Kind::Text, CellRef::ExcelTime(45001.0), "\"00:00:00\"", "00:00:00");
    check(&dt, CellRef::ExcelTime(45000.75), "\"2023-03-15T18:00:00Z\"", "2023-03-15T18:00:00");
    check(&date, CellRef::ExcelTime(45000.75), "!invalid_date", "2023-03-15T18:00:00");
    check(&kind("type: integer"), CellRef::ExcelTime(45000.75), "!invalid_integer", "18:00:00");
    check(&date, CellRef::Number(36585.5), "!invalid_date", "2000-02-29T12:00:00");
    let in_1904 = ParseOptions { is_1904: true, ..iso() };
    assert_eq!(cell(&date, &in_1904, CellRef::ExcelDate(0.0)), ("\"1904-01-01\"".into(), "1904-01-01".into()));
    assert_eq!(cell(&date, &in_1904, CellRef::ExcelDate(0.5)).0, "!invalid_date", "a time of day");
    // Below 1 in a format that shows a date and its time: the first day of 1904, as the sheet
    // shows it (`01/01/1904 06:00`), not a time of day. In the 1900 system, whose day 0 is no
    // day, a time of day still.
    let moment = CellRef::ExcelDateTime(0.25);
    assert_eq!(
        cell(&Kind::Text, &in_1904, moment.clone()),
        ("\"1904-01-01T06:00:00\"".into(), "1904-01-01T06:00:00".into())
    );
    assert_eq!(cell(&dt, &in_1904, moment.clone()).0, "\"1904-01-01T06:00:00Z\"");
    assert_eq!(cell(&date, &in_1904, moment.clone()).0, "!invalid_date");
    assert_eq!(cell(&Kind::Text, &in_1904, CellRef::ExcelDateTime(0.0)).0, "\"1904-01-01\"");
    check(&Kind::Text, moment, "\"06:00:00\"", "06:00:00");
    check(&date, CellRef::ExcelDate(60.0), "!invalid_date", "60");
    check(&dt, CellRef::ExcelDate(45000.25), "\"2023-03-15T06:00:00Z\"", "2023-03-15T06:00:00");
    check(&dt, CellRef::ExcelDate(-2.0), "!invalid_datetime", "-2");
    check(&Kind::Text, CellRef::ExcelDate(45000.0), "\"2023-03-15\"", "2023-03-15");
    // A date or time cell in a number field: its serial is no number anyone wrote.
    check(&Kind::Integer, CellRef::ExcelDate(45000.0), "!invalid_integer", "2023-03-15");
    let amount = kind("type: decimal");
    check(&amount, CellRef::ExcelDate(45000.25), "!invalid_decimal", "2023-03-15T06:00:00");
    check(&amount, CellRef::ExcelDate(0.5), "!invalid_decimal", "12:00:00");
    match convert_cell(&Kind::Integer, CellRef::ExcelDate(45000.0), &iso()).value {
        Converted::Invalid(f) => assert!(
            f.message
                .starts_with("'2023-03-15' is a date (the spreadsheet cell is formatted as one), not a whole number"),
            "{}",
            f.message
        ),
        other => panic!("{other:?}"),
    }
    check(&Kind::Integer, CellRef::Error(Cow::Borrowed("#DIV/0!")), "!cell_error", "#DIV/0!");
    check(&Kind::Text, CellRef::Error(Cow::Borrowed("#N/A")), "!cell_error", "#N/A");
    check(&flag, CellRef::Bool(true), "true", "true");
    check(&Kind::Text, CellRef::Bool(false), "\"false\"", "false");
    check(&Kind::Integer, CellRef::Bool(true), "!invalid_integer", "true");
    // A spreadsheet's logical value is the word the sheet shows, as its CSV export writes it.
    check(&flag, CellRef::SheetBool(false), "false", "FALSE");
    check(&Kind::Text, CellRef::SheetBool(true), "\"TRUE\"", "TRUE");
    check(&kind("type: enum, values: ['TRUE', 'FALSE']"), CellRef::SheetBool(false), "\"FALSE\"", "FALSE");
    check(&kind("type: enum, values: ['true', 'false']"), CellRef::SheetBool(false), "\"false\"", "false");
    check(&Kind::Integer, CellRef::Str(Cow::Borrowed(" 12 ")), "12", "12");
    check(&Kind::Integer, CellRef::Empty, "empty", "");
    check(&Kind::Text, CellRef::Json(Cow::Borrowed("{\"a\":1}")), "\"{\\\"a\\\":1}\"", "{\"a\":1}");
    check(&Kind::Integer, CellRef::Json(Cow::Borrowed("[[1]]")), "!invalid_type", "[[1]]");
    check(&Kind::Text, CellRef::Undecodable(Cow::Borrowed("x\u{FFFD}"), 2), "!invalid_encoding", "x\u{FFFD}");
    // A formula saved without its result is not an empty cell, whatever the field's type.
    check(&Kind::Text, CellRef::Uncalculated(Cow::Borrowed("SUM(A1:A3)")), "!uncalculated_formula", "=SUM(A1:A3)");
    check(&Kind::Integer, CellRef::Uncalculated(Cow::Borrowed("")), "!uncalculated_formula", "");
    check(&tags, CellRef::List(vec![Cow::Borrowed("a"), Cow::Borrowed("b")]), "[\"a\",\"b\"]", "a b");
    check(&tags, CellRef::List(vec![Cow::Borrowed("a b")]), "[\"a b\"]", "a b");
    check(&tags, CellRef::List(vec![]), "empty", "");
    // A text field keeps a JSON list as its JSON text, as it keeps an object.
    check(&Kind::Text, CellRef::List(vec![Cow::Borrowed("a")]), "\"[\\\"a\\\"]\"", "[\"a\"]");
    check(&Kind::Integer, CellRef::List(vec![Cow::Borrowed("1")]), "!invalid_type", "1");
    check(&Kind::Text, CellRef::List(vec![]), "empty", "");
    // An item holding the separator: the array says where items end, so it is one item.
    check(
        &tags,
        CellRef::List(vec![Cow::Borrowed(" New York "), Cow::Borrowed(""), Cow::Borrowed("Paris")]),
        "[\"New York\",\"Paris\"]",
        "New York Paris",
    );
    // A choice is never spelled with the separator, so such an item is no choice; others are
    // read as choices, each once.
    let places = kind("type: multi_enum, values: [NY, Paris]");
    check(
        &places,
        CellRef::List(vec![Cow::Borrowed("New York"), Cow::Borrowed("Paris")]),
        "!invalid_choice",
        "New York Paris",
    );
    match convert_cell(&places, CellRef::List(vec![Cow::Borrowed("New York"), Cow::Borrowed("Rome")]), &iso()).value {
        Converted::Invalid(f) => {
            assert!(f.message.starts_with("'New York', 'Rome' are not among the allowed values"), "{}", f.message)
        }
        other => panic!("{other:?}"),
    }
    check(
        &places,
        CellRef::List(vec![Cow::Borrowed("NY"), Cow::Borrowed("Paris"), Cow::Borrowed(" NY ")]),
        "[\"NY\",\"Paris\"]",
        "NY Paris NY",
    );
    let ids = kind("type: uuid_list");
    check(
        &ids,
        CellRef::List(vec![Cow::Borrowed("{123E4567-E89B-12D3-A456-426614174000} ")]),
        "[\"123e4567-e89b-12d3-a456-426614174000\"]",
        "{123E4567-E89B-12D3-A456-426614174000}",
    );
    let opts_1904 = ParseOptions { is_1904: true, ..iso() };
    assert_eq!(cell(&date, &opts_1904, CellRef::ExcelDate(1.0)).0, "\"1904-01-02\"");
    // Below 1, a serial is a time of day, as spreadsheets store times: text, never a date.
    let text = Kind::Text;
    check(&text, CellRef::ExcelDate(0.5452430555555555), "\"13:05:09\"", "13:05:09");
    check(&text, CellRef::ExcelDate(0.25 + 0.5 / 86_400.0), "\"06:00:00.500\"", "06:00:00.500");
    check(&text, CellRef::ExcelDate(0.0), "\"00:00:00\"", "00:00:00");
    check(&date, CellRef::ExcelDate(0.5), "!invalid_date", "12:00:00");
    check(&dt, CellRef::ExcelDate(0.5), "!invalid_datetime", "12:00:00");
    assert_eq!(cell(&date, &opts_1904, CellRef::ExcelDate(0.5)).0, "!invalid_date");
    check(&text, CellRef::ExcelDate(0.99999999999), "\"23:59:59.999\"", "23:59:59.999");
    check(&text, CellRef::ExcelDate(1.0), "\"1900-01-01\"", "1900-01-01");
}

#[test]
fn emails_need_one_at_and_a_dotted_domain() {
    table(
        &Kind::Email,
        &iso(),
        &[
            ("john.smith42@gmail.com", "\"john.smith42@gmail.com\""),
            ("a.b+tag@sub.example.co.uk", "\"a.b+tag@sub.example.co.uk\""),
            ("O'Brien@example.ie", "\"O'Brien@example.ie\""),
            ("zoë@exämple.com", "\"zoë@exämple.com\""),
            (" padded@example.com ", "\"padded@example.com\""),
            ("john.smith42gmail.com", "!invalid_email"),
            ("john@localhost", "!invalid_email"),
            ("john doe@x.com", "!invalid_email"),
            ("@nodomain.com", "!invalid_email"),
            ("a@b@c.com", "!invalid_email"),
            ("john@example..com", "!invalid_email"),
            ("john@.com", "!invalid_email"),
            ("john@example.", "!invalid_email"),
            ("john@", "!invalid_email"),
            ("tab\t@x.com", "!invalid_email"),
            (".garcia1078@acme.io", "\".garcia1078@acme.io\""),
            ("mailto:a@x.com", "!invalid_email"),
            ("<a@x.com>", "!invalid_email"),
            ("a,b@x.com", "!invalid_email"),
            ("a@-x.com", "!invalid_email"),
            ("a@x-.com", "!invalid_email"),
            ("a@[1.2.3.4]", "!invalid_email"),
            ("a@123.45.67.89", "!invalid_email"),
            ("a@example.123", "!invalid_email"),
            ("a@123.example.com", "\"a@123.example.com\""),
            ("a@3m.com", "\"a@3m.com\""),
            ("a@x_y.com", "!invalid_email"),
            ("a@x.com\u{200B}", "\"a@x.com\""),
            ("a@x\u{200B}.com", "!invalid_email"),
            ("\"john doe\"@x.com", "!invalid_email"),
            ("first-last_x!#$%&*/=?^`{|}~@a-b.example.com", "\"first-last_x!#$%&*/=?^`{|}~@a-b.example.com\""),
            ("用户@例子.广告", "\"用户@例子.广告\""),
            ("user@xn--bcher-kva.example", "\"user@xn--bcher-kva.example\""),
        ],
    );
    let label = format!("a@{}.com", "b".repeat(64));
    assert!(fault(&Kind::Email, &iso(), &label).contains("longer than 63 bytes"));
    for (input, why) in [
        ("mailto:a@x.com", "':' cannot appear before the @"),
        ("a@-x.com", "starts or ends with -"),
        ("a\u{1}@x.com", "contains a control character (U+0001)"),
        ("a@x\u{200B}.com", "contains an invisible character (U+200B)"),
        ("a@x_y.com", "'_' cannot appear in the domain"),
        ("x@10.0.0.1", "the domain ends in a number: an address needs a domain name, as in example.com"),
    ] {
        assert!(fault(&Kind::Email, &iso(), input).ends_with(why), "{input:?}: {}", fault(&Kind::Email, &iso(), input));
    }
    let long_local = format!("{}@example.com", "a".repeat(65));
    assert_eq!(read(&Kind::Email, &iso(), &long_local), "!invalid_email");
    let long = format!("a@{}.com", "b".repeat(250));
    assert_eq!(read(&Kind::Email, &iso(), &long), "!invalid_email");
    assert_eq!(
        fault(&Kind::Email, &iso(), "john.smith42gmail.com"),
        "'john.smith42gmail.com' is not an e-mail address: no @"
    );
    assert!(fault(&Kind::Email, &iso(), "john@localhost").contains("needs a dot"));
    assert!(fault(&Kind::Email, &iso(), "john doe@x.com").contains("contains a space"));
    assert!(fault(&Kind::Email, &iso(), "@nodomain.com").contains("nothing before the @"));
}

#[test]
fn urls_must_be_absolute_http_or_https_with_a_host() {
    table(
        &Kind::Url,
        &iso(),
        &[
            ("https://example.com", "\"https://example.com\""),
            ("http://example.com:8080/path?q=1#x", "\"http://example.com:8080/path?q=1#x\""),
            ("HTTPS://EXAMPLE.COM/", "\"HTTPS://EXAMPLE.COM/\""),
            ("http://[::1]:80/", "\"http://[::1]:80/\""),
            ("http://user:pw@host.example/x", "\"http://user:pw@host.example/x\""),
            ("http://localhost", "\"http://localhost\""),
            ("example.com", "!invalid_url"),
            ("www.example.com/x", "!invalid_url"),
            ("ftp://example.com", "!invalid_url"),
            ("javascript://alert(1)", "!invalid_url"),
            ("https://", "!invalid_url"),
            ("https:///path", "!invalid_url"),
            ("https://exa mple.com", "!invalid_url"),
            ("http://example.com:99999", "!invalid_url"),
            ("http://example.com:", "!invalid_url"),
            ("http://example.com:8o", "!invalid_url"),
            ("https://.example.com", "!invalid_url"),
            ("https://exa<mple.com", "!invalid_url"),
            ("http://[zz]/", "!invalid_url"),
            ("http://[::1]evil.com/", "!invalid_url"),
            ("http://x..com", "!invalid_url"),
            ("http://x.com:+80", "!invalid_url"),
            ("http://x.com:0/", "!invalid_url"),
            ("https://exa\u{200B}mple.com", "!invalid_url"),
            ("https://example.com/a\u{2060}b", "!invalid_url"),
            ("https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com/", "!invalid_url"),
            (
                "https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com/",
                "\"https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com/\"",
            ),
            ("http://256.256.256.256/", "!invalid_url"),
            ("http://10.0.0.1:8080/x", "\"http://10.0.0.1:8080/x\""),
            ("http://[2001:db8::1]/", "\"http://[2001:db8::1]/\""),
            ("https://example.com./", "\"https://example.com./\""),
            ("https://bücher.example/", "\"https://bücher.example/\""),
            ("http://my_host.local/", "\"http://my_host.local/\""),
        ],
    );
}

#[test]
fn uuids_are_canonicalised_to_lower_case_hyphenated_form() {
    let canonical = "\"123e4567-e89b-12d3-a456-426614174000\"";
    table(
        &Kind::Uuid,
        &iso(),
        &[
            ("123e4567-e89b-12d3-a456-426614174000", canonical),
            ("123E4567-E89B-12D3-A456-426614174000", canonical),
            ("{123e4567-e89b-12d3-a456-426614174000}", canonical),
            ("123e4567e89b12d3a456426614174000", canonical),
            ("{123E4567E89B12D3A456426614174000}", canonical),
            ("123e4567-e89b-12d3-a456-42661417400", "!invalid_uuid"),
            ("123e4567-e89b-12d3-a456-42661417400g", "!invalid_uuid"),
            ("123e4567e-89b-12d3-a456-426614174000", "!invalid_uuid"),
            ("123e4567-e89b-12d3-a456-4266-14174000", "!invalid_uuid"),
            ("urn:uuid:123e4567-e89b-12d3-a456-426614174000", "!invalid_uuid"),
            ("not-a-uuid", "!invalid_uuid"),
        ],
    );
}

#[test]
fn enums_canonicalise_values_labels_and_aliases() {
    let status =
        kind("type: enum, case_insensitive: true, values: [active, {value: closed, label: Closed, aliases: [gone]}]");
    table(
        &status,
        &iso(),
        &[
            ("active", "\"active\""),
            ("ACTIVE", "\"active\""),
            ("closed", "\"closed\""),
            ("Gone", "\"closed\""),
            ("open", "!invalid_choice"),
        ],
    );
    assert_eq!(fault(&status, &iso(), "open"), "'open' is not one of: active, closed");
    let strict = kind("type: enum, values: [A, B]");
    table(&strict, &iso(), &[("A", "\"A\""), ("a", "!invalid_choice")]);
}

#[test]
fn list_types_split_on_their_separator() {
    let colours = kind(
        "type: multi_enum, separator: ';', case_insensitive: true, values: [red, green, {value: blue, aliases: [navy]}]",
    );
    table(
        &colours,
        &iso(),
        &[
            ("red;Green", "[\"red\",\"green\"]"),
            ("red; navy ;red", "[\"red\",\"blue\"]"),
            ("red;;", "[\"red\"]"),
            (";", "empty"),
            ("red;pink", "!invalid_choice"),
            ("pink;mauve", "!invalid_choice"),
            ("red green", "!invalid_choice"),
        ],
    );
    assert_eq!(fault(&colours, &iso(), "red;pink"), "'pink' is not one of: red, green, blue");
    assert!(fault(&colours, &iso(), "pink;mauve").starts_with("'pink', 'mauve' are not among the allowed values"));

    let spaced = kind("type: tags");
    table(&spaced, &iso(), &[("x  y", "[\"x\",\"y\"]"), ("solo", "[\"solo\"]")]);
    // Under the space separator, a cell written as a list with `; ` (or else `, `) is split
    // there: no item ends with a comma. A comma or semicolon alone is part of an item. A URL
    // may hold `, `: its lists are split at spaces.
    table(
        &spaced,
        &iso(),
        &[
            ("Summer Sale, Clearance, Men", "[\"Summer Sale\",\"Clearance\",\"Men\"]"),
            ("red; dark blue", "[\"red\",\"dark blue\"]"),
            ("Smith, J.; Doe, K.", "[\"Smith, J.\",\"Doe, K.\"]"),
            ("1,5 2,5", "[\"1,5\",\"2,5\"]"),
            ("x;y z", "[\"x;y\",\"z\"]"),
            ("1,5, 2,5", "[\"1,5\",\"2,5\"]"),
            ("a ,b , c", "[\"a ,b\",\"c\"]"),
        ],
    );
    let spaced_colours = kind("type: multi_enum, values: [red, green, 'R&D,Ops']");
    table(
        &spaced_colours,
        &iso(),
        &[
            ("red, green", "[\"red\",\"green\"]"),
            ("red green", "[\"red\",\"green\"]"),
            ("R&D,Ops red", "[\"R&D,Ops\",\"red\"]"),
            ("R&D,Ops, red", "[\"R&D,Ops\",\"red\"]"),
        ],
    );
    assert_eq!(fault(&spaced_colours, &iso(), "red, pink"), "'pink' is not one of: red, green, R&D,Ops");
    let spaced_links = kind("type: url_list");
    table(&spaced_links, &iso(), &[("https://x.io/a,b https://y.io", "[\"https://x.io/a,b\",\"https://y.io\"]")]);
    let tags = kind("type: tags, separator: ','");
    table(&tags, &iso(), &[("a, b ,c", "[\"a\",\"b\",\"c\"]"), ("a,a", "[\"a\",\"a\"]"), (" , ", "empty")]);

    let ids = kind("type: uuid_list, separator: ','");
    table(
        &ids,
        &iso(),
        &[
            (
                "123E4567-E89B-12D3-A456-426614174000, {00000000-0000-0000-0000-000000000001}",
                "[\"123e4567-e89b-12d3-a456-426614174000\",\"00000000-0000-0000-0000-000000000001\"]",
            ),
            ("123e4567-e89b-12d3-a456-426614174000,nope", "!invalid_uuid"),
        ],
    );
    let links = kind("type: url_list, separator: '|'");
    table(
        &links,
        &iso(),
        &[
            ("https://a.example/x.png | http://b.example", "[\"https://a.example/x.png\",\"http://b.example\"]"),
            ("https://a.example|b.example", "!invalid_url"),
        ],
    );
}

#[test]
fn invalid_utf8_bytes_are_an_encoding_error_that_names_them() {
    let check = |c: CellRef<'_>| {
        let (value, text) = cell(&Kind::Text, &iso(), c);
        assert_eq!(value, "!invalid_encoding");
        assert_eq!(text, "caf\u{FFFD} ol\u{E9}");
    };
    check(CellRef::Bytes(Cow::Borrowed(b"caf\xE9 ol\xC3\xA9")));
    check(CellRef::Bytes(Cow::Owned(b"caf\xE9 ol\xC3\xA9".to_vec())));
    let c = convert_cell(&Kind::Integer, CellRef::Bytes(Cow::Borrowed(b"1\xFF\xFE")), &iso());
    let Converted::Invalid(f) = c.value else { panic!("not invalid") };
    assert_eq!(f.code, crate::codes::INVALID_ENCODING);
    assert!(f.message.starts_with("the byte FF at position 2 is not valid UTF-8"), "{}", f.message);
    // A character cut short at the end: its bytes.
    let c = convert_cell(&Kind::Text, CellRef::Bytes(Cow::Borrowed(b"ab\xE2\x82")), &iso());
    let Converted::Invalid(f) = c.value else { panic!("not invalid") };
    assert!(f.message.starts_with("the bytes E2 82 at position 3 are not valid UTF-8"), "{}", f.message);
    // A file converted from another encoding: the marked place, in characters, and that encoding.
    let utf16 = ParseOptions { source_encoding: Some(encoding_rs::UTF_16LE), ..iso() };
    let c = convert_cell(&Kind::Text, CellRef::Bytes(Cow::Borrowed(b"\xC3\xA9\xFFx")), &utf16);
    let Converted::Invalid(f) = c.value else { panic!("not invalid") };
    assert_eq!(f.message, "character 2 is not valid UTF-16LE; re-save the file in that encoding or name its encoding");
}

#[test]
fn trimming_can_be_turned_off() {
    let keep = ParseOptions { trim: false, ..iso() };
    let check = |opts: &ParseOptions, k: &Kind, input: &str, value: &str, text: &str| {
        for c in [
            CellRef::Bytes(Cow::Borrowed(input.as_bytes())),
            CellRef::Str(Cow::Borrowed(input)),
            CellRef::Str(Cow::Owned(input.to_string())),
        ] {
            let label = format!("{c:?} (trim: {})", opts.trim);
            let converted = convert_cell(k, c, opts);
            assert_eq!((show(&converted.value), converted.text.as_ref()), (value.to_string(), text), "{label}");
        }
    };
    check(&iso(), &Kind::Text, "  hello ", "\"hello\"", "hello");
    check(&keep, &Kind::Text, "  hello ", "\"  hello \"", "  hello ");
    check(&iso(), &Kind::Integer, " 12 ", "12", "12");
    check(&keep, &Kind::Integer, " 12 ", "!invalid_integer", " 12 ");
    check(&iso(), &Kind::Text, " \t ", "empty", "");
    // Spaces alone are still no value: `required` fails on them.
    check(&keep, &Kind::Text, " \t ", "empty", " \t ");
    check(&keep, &Kind::Text, "", "empty", "");
}

#[test]
fn borrowed_text_stays_borrowed() {
    let input = "  plain text ";
    let c = convert_cell(&Kind::Text, CellRef::Bytes(Cow::Borrowed(input.as_bytes())), &iso());
    assert!(matches!(c.text, Cow::Borrowed("plain text")));
    assert!(matches!(c.value, Converted::Valid(Value::Text(Cow::Borrowed("plain text")))));
    let tags = kind("type: tags");
    let Converted::Valid(Value::List(items)) = convert_text(&tags, &Cow::Borrowed("a b"), &iso()) else {
        panic!("not a list")
    };
    assert!(items.iter().all(|i| matches!(i, Cow::Borrowed(_))));
}

#[test]
fn template_literals_are_read_like_cells() {
    let money = kind("type: decimal, precision: 5, scale: 2");
    assert_eq!(show(&convert_str(&money, " 12.50 ", &iso())), "\"12.50\"");
    assert_eq!(show(&convert_str(&money, "   ", &iso())), "empty");
    assert_eq!(show(&convert_str(&money, "1234.5", &iso())), "!decimal_out_of_range");
}

#[test]
fn the_import_settings_set_the_parse_options() {
    let settings = crate::settings::SettingsPatch {
        locale: Some("de-DE".into()),
        timezone_offset_minutes: Some(-90),
        trim_whitespace: Some(false),
        ..Default::default()
    }
    .resolve("")
    .unwrap();
    let opts = ParseOptions::from_settings(&settings);
    assert_eq!(
        opts,
        ParseOptions {
            date_order: Some(DateOrder::Dmy),
            decimal_comma: true,
            thousands: Some(b','),
            space_thousands: false,
            lakh_grouping: false,
            buddhist_era: false,
            offset_seconds: -5400,
            trim: false,
            is_1904: false,
            source_encoding: None,
        }
    );
}

#[test]
fn the_email_fast_path_never_passes_what_the_full_check_refuses() {
    let parts =
        ["a", "B.c", "@", ".", "..", " ", "\t", "é", "x", "-", "+", "\u{7f}", "ü@", "com", "@@", "_", ":", "-.", "9"];
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut s = String::new();
        let mut r = state;
        for _ in 0..(state % 9) {
            s.push_str(parts[(r % parts.len() as u64) as usize]);
            r /= parts.len() as u64;
        }
        if plain_email(s.as_bytes()) {
            assert!(check_email_general(&s).is_ok(), "{s:?} passed the fast path only");
        }
        assert_eq!(check_email(&s).is_ok(), check_email_general(&s).is_ok(), "{s:?}");
    }
    assert!(plain_email(b"kevin.davis410@acme.io"));
    assert!(!plain_email("łukasz@example.com".as_bytes()), "non-ASCII goes to the full check");
    assert!(check_email("łukasz@example.com").is_ok());
}

#[test]
fn trim_agrees_with_str_trim() {
    for s in [
        "",
        " ",
        "a",
        " a",
        "a ",
        "Łukasz",
        " Łukasz ",
        "\u{a0}x",
        "x\u{a0}",
        "\u{3000}名前\u{3000}",
        "\u{2003}b",
        "\u{1680}c",
        "\u{85}d",
        "é",
        "ée ",
        "\t\n",
        "日本",
        "\u{7f}",
        "\u{ff21}",
        "\u{ffe5}1",
    ] {
        assert_eq!(trim(s), s.trim(), "{s:?}");
    }
}

#[test]
fn trimming_also_takes_off_invisible_characters_at_the_ends() {
    // Zero-width space, word joiner and byte order mark, as text copied from web pages carries them.
    for (s, want) in [
        ("\u{200B}2024-01-02", "2024-01-02"),
        ("true\u{FEFF}", "true"),
        ("\u{2060} 12 \u{200B}\u{a0}", "12"),
        ("a\u{200B}b", "a\u{200B}b"),
        ("\u{200D}x\u{200C}", "\u{200D}x\u{200C}"),
        ("\u{FEFF}", ""),
        // Direction marks, as Hebrew, Arabic and Persian exports put around numbers and dates.
        ("\u{200E}-1234.50", "-1234.50"),
        ("12/05/2024\u{200F}", "12/05/2024"),
        ("\u{061C}\u{2066}42\u{2069}", "42"),
        ("\u{202B}\u{200E}\u{202C}", ""),
    ] {
        assert_eq!(trim(s), want, "{s:?}");
        assert_eq!(crate::record::is_blank_bytes(s.as_bytes()), want.is_empty(), "{s:?}");
    }
    let iso = iso();
    for c in [
        CellRef::Bytes(Cow::Borrowed("\u{200B}42\u{FEFF}".as_bytes())),
        CellRef::Str(Cow::Owned("\u{200B}42\u{FEFF}".to_string())),
    ] {
        let converted = convert_cell(&Kind::Integer, c, &iso);
        assert_eq!((show(&converted.value), converted.text.as_ref()), ("42".to_string(), "42"));
    }
    let keep = ParseOptions { trim: false, ..iso };
    let converted = convert_cell(&Kind::Text, CellRef::Str(Cow::Owned("x\u{200B}".into())), &keep);
    assert_eq!(converted.text, "x\u{200B}");
}

#[test]
fn the_minus_sign_character_is_a_minus() {
    let opts = ParseOptions::from_settings(&crate::settings::Settings::default());
    assert_eq!(read_integer("\u{2212}5", &opts).unwrap(), -5);
    assert_eq!(read_decimal("\u{2212}0.25", &opts).unwrap().to_string(), "-0.25");
    let fr = crate::settings::SettingsPatch { locale: Some("fr-FR".into()), ..Default::default() };
    let fr = ParseOptions::from_settings(&fr.resolve("").unwrap());
    assert_eq!(cell(&kind("type: decimal"), &fr, CellRef::Str("\u{2212}1\u{202f}234,5".into())).0, "\"-1234.5\"");
    assert!(read_integer("\u{2212}", &opts).is_err());
    assert!(read_integer("5\u{2212}", &opts).is_err());
    assert_eq!(read_integer("\u{2013}7", &opts).unwrap(), -7);
    assert!(read_integer("5\u{2013}10", &opts).is_err(), "a range is no number");
}

#[test]
fn percentages_and_dates_excel_cannot_hold_get_advice() {
    let decimal = kind("type: decimal");
    assert!(fault(&decimal, &iso(), "12.5%").contains("a percentage: write it as a number"));
    let date = kind("type: date");
    let message = |serial: f64| match convert_cell(&date, CellRef::ExcelDate(serial), &iso()).value {
        Converted::Invalid(f) => f.message,
        other => panic!("{serial} read as {other:?}"),
    };
    assert!(message(-18095.0).contains("a date before 1900"), "{}", message(-18095.0));
    assert!(message(60.0).contains("29 February 1900"), "{}", message(60.0));
    // In the 1904 system, its own first day (1900-01-01 is serial -1461 there).
    let mut mac = iso();
    mac.is_1904 = true;
    match convert_cell(&date, CellRef::ExcelDate(-1461.0), &mac).value {
        Converted::Invalid(f) => assert!(f.message.contains("a date before 1904"), "{}", f.message),
        other => panic!("read as {other:?}"),
    }
}

#[test]
fn indian_locales_read_digits_grouped_in_lakhs_and_crores() {
    let settings = |locale: &str| {
        let patch = crate::settings::SettingsPatch { locale: Some(locale.into()), ..Default::default() };
        ParseOptions::from_settings(&patch.resolve("").unwrap())
    };
    let india = settings("en-IN");
    assert!(india.lakh_grouping && settings("hi").lakh_grouping && settings("bn-BD").lakh_grouping);
    assert!(!settings("en-US").lakh_grouping && !settings("ta-LK").lakh_grouping && !settings("de-DE").lakh_grouping);
    let amount = kind("type: decimal");
    let read = |k: &Kind, text: &str| show(&convert_str(k, text, &india));
    assert_eq!(read(&Kind::Integer, "1,00,000"), "100000");
    assert_eq!(read(&Kind::Integer, "-12,34,56,789"), "-123456789");
    assert_eq!(read(&amount, "1,23,45,678.50"), "\"12345678.50\"");
    assert_eq!(read(&amount, "1,234.5"), "\"1234.5\"", "thousands as elsewhere");
    assert_eq!(read(&amount, "12,345"), "\"12345\"");
    for bad in ["1,2,345", "1,23,4567", "01,23,456", "1,23,456,78", "123,45,678", "1,23,45.6,7"] {
        assert_eq!(read(&amount, bad), "!invalid_decimal", "{bad}");
    }
    // A fault of the joined number quotes the number as written.
    let money = kind("type: decimal, precision: 6, scale: 2");
    match convert_str(&money, "1,23,45,678.50", &india) {
        Converted::Invalid(f) => assert!(f.message.starts_with("'1,23,45,678.50'"), "{}", f.message),
        other => panic!("{other:?}"),
    }
    // Elsewhere such a number is refused, and the message names the locale that reads it.
    let us = settings("en-US");
    match convert_str(&amount, "1,23,456.78", &us) {
        Converted::Invalid(f) => assert!(f.message.contains("under a locale such as en-IN"), "{}", f.message),
        other => panic!("{other:?}"),
    }
    assert_eq!(show(&convert_str(&Kind::Integer, "1,00,000", &us)), "!invalid_integer");
}

#[test]
fn thai_dates_count_years_in_the_buddhist_era() {
    let settings = |locale: &str| {
        let patch = crate::settings::SettingsPatch { locale: Some(locale.into()), ..Default::default() };
        ParseOptions::from_settings(&patch.resolve("").unwrap())
    };
    let thai = settings("th-TH");
    assert!(thai.buddhist_era && !settings("en-GB").buddhist_era && !thai.iso_dates().buddhist_era);
    let date = kind("type: date");
    let dt = kind("type: datetime");
    table(
        &date,
        &thai,
        &[
            ("15/01/2567", "\"2024-01-15\""),
            ("2567-01-15", "\"2024-01-15\""),
            // 2567 is no leap year, 2024 is: the day exists in the Buddhist year's calendar.
            ("29/02/2567", "\"2024-02-29\""),
            // A Gregorian year stays one.
            ("15/01/2024", "\"2024-01-15\""),
            ("31/02/2567", "!invalid_date"),
        ],
    );
    table(&dt, &thai, &[("15/01/2567 10:30", "\"2024-01-15T10:30:00Z\"")]);
    // Only the year moves: a fraction of a second or a time holding such digits stays.
    table(
        &dt,
        &thai,
        &[
            ("2024-03-01T08:15:30.2459+07:00", "\"2024-03-01T08:15:30.2459+07:00\""),
            ("2567-03-01T08:15:30.2459+07:00", "\"2024-03-01T08:15:30.2459+07:00\""),
        ],
    );
    let time_first = kind("type: datetime, format: '%H:%M:%S%.f %d/%m/%Y'");
    table(&time_first, &thai, &[("10:00:00.2459 15/01/2567", "\"2024-01-15T10:00:00.2459Z\"")]);
    let hhmm = kind("type: datetime, format: '%d/%m/%Y %H%M'");
    table(&hhmm, &thai, &[("15/01/2024 2459", "!invalid_datetime"), ("15/01/2567 1030", "\"2024-01-15T10:30:00Z\"")]);
    let basic = kind("type: date, format: '%Y%m%d'");
    table(&basic, &thai, &[("25670115", "\"2024-01-15\""), ("25670229", "!invalid_date")]);
    // A leap day of a Gregorian year that the Buddhist one lacks, and the other way round.
    table(&date, &thai, &[("29/02/2564", "!invalid_date"), ("2400-02-29", "!invalid_date")]);
    // The day of the week is checked against the common era's date (15 January 2024, a Monday).
    table(&date, &thai, &[("Mon, 15 Jan 2567", "\"2024-01-15\""), ("Thu, 15 Jan 2567", "!invalid_date")]);
    assert!(
        fault(&date, &thai, "Thu, 15 Jan 2567").contains("'Thu, 15 Jan 2567'"),
        "{}",
        fault(&date, &thai, "Thu, 15 Jan 2567")
    );
    // The Gregorian calendar asked for in the tag.
    assert!(!settings("th-TH-u-ca-gregory").buddhist_era);
    // The message quotes the date as written.
    assert!(fault(&date, &thai, "31/02/2567").contains("'31/02/2567'"), "{}", fault(&date, &thai, "31/02/2567"));
    // Elsewhere 2567 is a year of the common era.
    assert_eq!(show(&convert_str(&date, "15/01/2567", &settings("en-GB"))), "\"2567-01-15\"");
    // A spreadsheet's serial is a day, whatever the locale.
    assert_eq!(cell(&date, &thai, CellRef::ExcelDate(45306.0)).0, "\"2024-01-15\"");
}

#[test]
fn typed_numbers_keep_their_own_syntax_under_a_decimal_comma_locale() {
    let de = ParseOptions { decimal_comma: true, thousands: Some(b'.'), ..iso() };
    let amount = kind("type: decimal");
    let read = |k: &Kind, cell: CellRef<'static>| show(&convert_cell(k, cell, &de).value);
    // A spreadsheet's number cell and a JSON number are numbers, not de-DE text: 1.234 is not 1234.
    assert_eq!(read(&amount, CellRef::Number(1.234)), "\"1.234\"");
    assert_eq!(read(&amount, CellRef::Number(1.5)), "\"1.5\"");
    assert_eq!(read(&amount, CellRef::Numeral("1.234".into())), "\"1.234\"");
    assert_eq!(read(&amount, CellRef::Numeral("-0.001".into())), "\"-0.001\"");
    assert_eq!(read(&Kind::Integer, CellRef::Numeral("1234".into())), "1234");
    assert_eq!(read(&Kind::Integer, CellRef::Numeral("1.234".into())), "!invalid_integer");
    // A JSON number's point is always `.`: `1.000` is one, not a thousands group.
    assert_eq!(read(&Kind::Integer, CellRef::Numeral("1.000".into())), "1");
    assert_eq!(read(&Kind::Integer, CellRef::Numeral("-1000.000".into())), "-1000");
    assert_eq!(read(&Kind::Integer, CellRef::Numeral("1.0001".into())), "!invalid_integer");
    assert_eq!(read(&Kind::Text, CellRef::Numeral("1.50".into())), "\"1.50\"", "as written");
    // Text is the locale's: there the point groups thousands.
    assert_eq!(read(&amount, CellRef::Str("1.234".into())), "\"1234\"");
    assert_eq!(read(&amount, CellRef::Str("1.234,5".into())), "\"1234.5\"");
    // Through chunk storage and back.
    let stored = serde_json::to_string(&StoredCell::from_cell_ref(CellRef::Numeral("1.234".into()))).unwrap();
    let back: StoredCell<'_> = serde_json::from_str(&stored).unwrap();
    assert_eq!(back.to_cell_ref(), CellRef::Numeral("1.234".into()), "{stored}");
}

#[test]
fn a_padded_spreadsheet_number_is_text_as_shown_and_a_number_as_stored() {
    let zip = || CellRef::Shown(2134, "02134".into());
    assert_eq!(show(&convert_cell(&Kind::Text, zip(), &iso()).value), "\"02134\"");
    assert_eq!(show(&convert_cell(&kind("type: enum, values: ['02134']"), zip(), &iso()).value), "\"02134\"");
    assert_eq!(show(&convert_cell(&Kind::Integer, zip(), &iso()).value), "2134");
    assert_eq!(show(&convert_cell(&kind("type: decimal"), zip(), &iso()).value), "\"2134\"");
    // A date field reads what the sheet shows, not a serial: the zip code is no date, the
    // digits shown as a date are that date.
    let date = kind("type: date");
    assert_eq!(show(&convert_cell(&date, zip(), &iso()).value), "!invalid_date");
    assert_eq!(show(&convert_cell(&date, CellRef::Shown(45000, "45000".into()), &iso()).value), "!invalid_date");
    let us = with_order(DateOrder::Mdy);
    let shown_date = || CellRef::Shown(12312024, "12/31/2024".into());
    assert_eq!(show(&convert_cell(&date, shown_date(), &us).value), "\"2024-12-31\"");
    assert_eq!(show(&convert_cell(&kind("type: datetime"), zip(), &iso()).value), "!invalid_datetime");
    // Through chunk storage and back.
    let stored = serde_json::to_string(&StoredCell::from_cell_ref(zip())).unwrap();
    let back: StoredCell<'_> = serde_json::from_str(&stored).unwrap();
    assert_eq!(back.to_cell_ref(), zip(), "{stored}");
    assert_eq!(zip().display(), "02134");
}

#[test]
fn a_unix_time_in_a_date_field_is_named_not_read() {
    let date = kind("type: date");
    let dt = kind("type: datetime");
    for (kind, code) in [(&date, "!invalid_date"), (&dt, "!invalid_datetime")] {
        table(kind, &iso(), &[("1706659200000", code), ("1706659200", code)]);
    }
    assert!(
        fault(&date, &iso(), "1706659200000")
            .ends_with("; it looks like a Unix time in milliseconds, 2024-01-31T00:00:00Z, as pandas' to_json writes dates unless given date_format='iso': export the dates as text")
    );
    assert!(fault(&dt, &iso(), "1706659200").contains("Unix time in seconds, 2024-01-31T00:00:00Z"));
    // Digits of other lengths, or far from today, say nothing of it.
    for text in ["12345", "99999999999999", "100000000"] {
        assert!(!fault(&date, &iso(), text).contains("Unix"), "{text}");
        assert!(!fault(&date, &iso(), text).contains("serial"), "{text}");
    }
    // A spreadsheet's serial date saved as a number, named too.
    assert!(
        fault(&date, &iso(), "45292").ends_with(
            "; it looks like a spreadsheet's serial date, 2024-01-01: format the column as a date before saving the file"
        ),
        "{}",
        fault(&date, &iso(), "45292")
    );
}
