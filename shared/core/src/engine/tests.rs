use super::*;
use crate::engine::sink::RowsMode;

use crate::convert::ParseOptions;
use crate::mapping::{ColumnPlan, map_columns};
use crate::read::csv::{CsvOptions, CsvParser, RecordSpans, Step};
use crate::template::{TemplateSyntax, parse_template};
use sink::JsonSink;

/// What the engine made of one CSV file.
#[derive(Debug)]
struct Output {
    /// Every row's JSON line (valid and invalid), in line order.
    rows: Vec<String>,
    /// Valid rows only.
    valid: String,
    /// Messages, as written.
    messages: Vec<RowError>,
    /// `errors.jsonl` lines, `None` when they are the messages as written.
    errors: Option<String>,
    counts: Counts,
    keys: Vec<KeyEntry>,
}

impl Output {
    /// Each message as `line code target`, the target being the field, else the header or column.
    fn issues(&self) -> Vec<String> {
        self.messages
            .iter()
            .map(|m| {
                let target = m
                    .field
                    .clone()
                    .or_else(|| m.header.clone())
                    .or_else(|| m.column.map(|c| format!("#{c}")))
                    .unwrap_or_else(|| "-".into());
                format!("{} {} {target}", m.line, m.code)
            })
            .collect()
    }

    /// The `values` object of the row on `line`.
    fn values(&self, line: u64) -> serde_json::Value {
        let row =
            self.rows.iter().find(|r| finalize::row_line(r.as_bytes()) == Some(line)).expect("no row on that line");
        let parsed: serde_json::Value = serde_json::from_str(row).unwrap();
        parsed["values"].clone()
    }
}

fn schema(yaml: &str) -> Schema {
    let spec = parse_template(yaml, TemplateSyntax::Yaml).unwrap_or_else(|e| panic!("{e}"));
    Schema::compile(spec).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a whole CSV (header first) through the engine, with the template's own settings.
fn run_with(schema: &Schema, csv: &str, dedupe: bool) -> Output {
    run_bytes(schema, csv.as_bytes(), dedupe)
}

/// As [`run_with`], over bytes that need not be UTF-8.
fn run_bytes(schema: &Schema, buf: &[u8], dedupe: bool) -> Output {
    let mut parser = CsvParser::new(buf, 1, CsvOptions::default(), true);
    let mut rec = RecordSpans::default();
    assert_eq!(parser.next_record(&mut rec).unwrap(), Step::Record, "no header");
    let view = rec.view(buf);
    let headers: Vec<String> =
        (0..view.len()).map(|c| String::from_utf8_lossy(&view.bytes(c)).trim().to_string()).collect();
    let mapping = map_columns(schema, &headers, &schema.settings.mapping);
    let plan = ColumnPlan::new(schema, &mapping.columns, schema.settings.pass_through_unmapped);
    let opts = ParseOptions::from_settings(&schema.settings);
    let mut engine = RowEngine::new(schema, &plan, opts, dedupe).null_values(&schema.settings.null_values);
    let mut sink = JsonSink::new(schema, &plan, RowsMode::ValidOnly);
    while let Step::Record = parser.next_record(&mut rec).unwrap() {
        engine.process(&rec.view(buf), &mut sink);
    }
    let (counts, keys) = engine.finish();
    let mut rows: Vec<String> =
        sink.rows.as_str().lines().chain(sink.invalid.as_str().lines()).map(str::to_string).collect();
    rows.sort_by_key(|r| finalize::row_line(r.as_bytes()));
    let messages = sink.messages.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    Output { rows, valid: sink.rows.as_str().to_string(), messages, errors: sink.errors, counts, keys }
}

fn run(yaml: &str, csv: &str) -> Output {
    run_with(&schema(yaml), csv, false)
}

const PEOPLE: &str = r#"
name: people
fields:
  - key: id
    type: integer
    required: true
  - key: name
    label: Full name
    required: true
  - key: status
    type: enum
    values: [active, closed]
    default: active
  - key: country
    default: NZ
"#;

#[test]
fn required_fields_are_reported_and_defaults_fill_empty_cells() {
    let out = run(PEOPLE, "id,Full name,status,country\n1,Ann,,\n,Bob,closed,AU\n3,  ,closed, \n");
    assert_eq!(out.issues(), ["3 required id", "4 required name"]);
    assert_eq!(out.values(2), serde_json::json!({"id": 1, "name": "Ann", "status": "active", "country": "NZ"}));
    assert_eq!(out.values(3), serde_json::json!({"id": null, "name": "Bob", "status": "closed", "country": "AU"}));
    assert_eq!(out.values(4), serde_json::json!({"id": 3, "name": null, "status": "closed", "country": "NZ"}));
    assert_eq!(out.messages[1].message, "Full name is required");
    assert_eq!(out.messages[1].column, Some(2));
    assert_eq!(out.messages[1].header.as_deref(), Some("Full name"));
    assert_eq!(out.counts, Counts { rows: 3, valid: 1, invalid: 2, skipped: 0, errors: 2, warnings: 0 });
}

#[test]
fn without_trimming_a_cell_of_spaces_is_still_empty() {
    // `trim_whitespace: false` keeps the spaces around a value, but spaces alone are no value:
    // they fail `required` and take the default, in the fast text path and through `CellRef`.
    let yaml = format!("{PEOPLE}settings:\n  trim_whitespace: false\n");
    let out = run(&yaml, "id,Full name,status,country\n1,  Ann ,,\u{3000}\n2,\u{200B} ,closed, \n");
    assert_eq!(out.issues(), ["3 required name"]);
    assert_eq!(out.values(2), serde_json::json!({"id": 1, "name": "  Ann ", "status": "active", "country": "NZ"}));
    assert_eq!(out.values(3)["country"], "NZ");
    let opts = ParseOptions::from_settings(&schema(&yaml).settings);
    let converted = convert_cell(&Kind::Text, CellRef::Str(Cow::Owned("\t ".into())), &opts);
    assert!(matches!(converted.value, Converted::Empty));
}

#[test]
fn a_field_with_no_column_is_empty_in_every_row() {
    let out = run(PEOPLE, "id,Full name\n1,Ann\n");
    assert!(out.issues().is_empty(), "{:?}", out.issues());
    assert_eq!(out.values(2), serde_json::json!({"id": 1, "name": "Ann", "status": "active", "country": "NZ"}));
}

const CHECKED: &str = r#"
name: checked
fields:
  - key: code
    validators: [{regex: "^[A-Z]{3}$"}]
  - key: qty
    type: integer
    validators: [{min: 1}, {max: 10}]
  - key: price
    type: decimal
    validators: [{min: "0.01"}]
  - key: name
    validators: [{min_length: 2}, {max_length: 5}]
  - key: colour
    case_insensitive: true
    validators: [{one_of: [red, {value: green, aliases: [gr]}]}]
  - key: since
    type: date
    validators: [{min: 2020-01-01}]
  - key: tags
    type: tags
    validators: [{max_length: 2}]
"#;

#[test]
fn validators_check_the_parsed_value() {
    let schema = schema(CHECKED);
    let header = "code,qty,price,name,colour,since,tags\n";
    let check = |row: &str, expected: &[&str]| {
        let out = run_with(&schema, &format!("{header}{row}\n"), false);
        let codes: Vec<String> = out.issues().into_iter().map(|i| i.split_once(' ').unwrap().1.to_string()).collect();
        assert_eq!(codes, expected, "{row}");
    };
    check("ABC,1,0.01,Al,red,2020-01-01,a b", &[]);
    check(",,,,,,", &["empty_row_skipped -"]);
    check("AB,5,1,Ann,red,2024-01-01,a", &["regex_mismatch code"]);
    check("abcd,5,1,Ann,red,2024-01-01,a", &["regex_mismatch code"]);
    check("ABC,0,1,Ann,red,2024-01-01,a", &["below_minimum qty"]);
    check("ABC,11,1,Ann,red,2024-01-01,a", &["above_maximum qty"]);
    check("ABC,007,1,Ann,red,2024-01-01,a", &[]);
    check("ABC,x,1,Ann,red,2024-01-01,a", &["invalid_integer qty"]);
    check("ABC,5,0.00,Ann,red,2024-01-01,a", &["below_minimum price"]);
    check("ABC,5,-3,Ann,red,2024-01-01,a", &["below_minimum price"]);
    check("ABC,5,1,A,red,2024-01-01,a", &["too_short name"]);
    check("ABC,5,1,Zoë Q,red,2024-01-01,a", &[]);
    check("ABC,5,1,Zoë Qu,red,2024-01-01,a", &["too_long name"]);
    check("ABC,5,1,Ann,RED,2024-01-01,a", &[]);
    check("ABC,5,1,Ann,blue,2024-01-01,a", &["not_one_of colour"]);
    check("ABC,5,1,Ann,red,2019-12-31,a", &["below_minimum since"]);
    check("ABC,5,1,Ann,red,2024-01-01,a b c", &["too_long tags"]);
    check(
        "ab,0,-1,A,blue,2019-12-31,a b c",
        &[
            "regex_mismatch code",
            "below_minimum qty",
            "below_minimum price",
            "too_short name",
            "not_one_of colour",
            "below_minimum since",
            "too_long tags",
        ],
    );
}

#[test]
fn builtin_validator_messages_quote_the_value_and_the_bound() {
    let schema = schema(CHECKED);
    let out = run_with(&schema, "code,qty,price,name,colour,since,tags\nab,0,-1,A,blue,2019-12-31,a b c\n", false);
    let messages: Vec<&str> = out.messages.iter().map(|m| m.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "'ab' does not match the pattern ^[A-Z]{3}$",
            "'0' is less than the minimum 1",
            "'-1' is less than the minimum 0.01",
            "'A' is shorter than 2 characters",
            "'blue' is not one of: red, green",
            "'2019-12-31' is less than the minimum 2020-01-01",
            "'a b c' has more than 2 items",
        ]
    );
    assert!(out.messages.iter().all(|m| m.severity == Severity::Error && m.line == 2));
    assert_eq!(out.messages[1].value.as_deref(), Some("0"));
}

#[test]
fn one_of_writes_the_canonical_choice() {
    let out = run(CHECKED, "code,colour\nABC,GR\nABC, Red \n");
    assert!(out.issues().is_empty(), "{:?}", out.issues());
    assert_eq!(out.values(2)["colour"], "green");
    assert_eq!(out.values(3)["colour"], "red");
}

#[test]
fn one_of_on_a_typed_field_compares_values_as_read() {
    let yaml = r#"
name: typed
fields:
  - key: n
    type: integer
    validators: [{one_of: [1, 2, 3]}]
  - key: amount
    type: decimal
    validators: [{one_of: ["1.5", 2]}]
  - key: ok
    type: boolean
    validators: [{one_of: ["true"]}]
  - key: tags
    type: tags
    validators: [{one_of: [a, b]}]
"#;
    let out = run(yaml, "n,amount,ok,tags\n+1,1.50,yes,a b\n01,2.0,1,b\n4,2.5,no,a c\n");
    assert_eq!(out.issues(), ["4 not_one_of n", "4 not_one_of amount", "4 not_one_of ok", "4 not_one_of tags"]);
    assert_eq!(out.values(2), serde_json::json!({"n": 1, "amount": "1.50", "ok": true, "tags": ["a", "b"]}));
}

#[test]
fn a_text_field_with_choices_spelled_true_and_false_takes_a_sheets_logical_values() {
    // Sheets show logical values as TRUE and FALSE, and so do the CSVs saved from them; pandas
    // writes True. Choices spelled as JSON spells them take those; other words still fail.
    let yaml = "name: t\nfields:\n  - key: flag\n    validators: [{one_of: ['true', 'false']}]\n";
    let out = run(yaml, "flag\nTRUE\nFALSE\nTrue\ntrue\nyes\n");
    assert_eq!(out.issues(), ["6 not_one_of flag"]);
    assert_eq!(out.values(2)["flag"], "true");
    assert_eq!(out.values(3)["flag"], "false");
    assert_eq!(out.values(4)["flag"], "true");
}

#[test]
fn list_lengths_count_items_and_say_so() {
    let yaml = r#"
name: lists
fields:
  - key: tags
    type: tags
    validators: [{max_length: 2}, {min_length: 2}]
"#;
    let out = run(yaml, "tags\na b c\nsolo\na b\n");
    assert_eq!(out.issues(), ["2 too_long tags", "3 too_short tags"]);
    assert_eq!(out.messages[0].message, "'a b c' has more than 2 items");
    assert_eq!(out.messages[1].message, "'solo' has fewer than 2 items");
}

#[test]
fn a_list_outside_its_choices_names_the_item() {
    let yaml = "name: lists\nfields:\n  - key: tags\n    type: tags\n    validators: [{one_of: [a, b]}]\n";
    let out = run(yaml, "tags\na c\n");
    assert_eq!(out.issues(), ["2 not_one_of tags"]);
    assert_eq!(out.messages[0].message, "'c' is not one of: a, b");
}

#[test]
fn lengths_count_characters_as_composed_whatever_the_file_wrote() {
    let yaml = "name: lengths\nfields:\n  - key: name\n    validators: [{min_length: 4}, {max_length: 4}]\n";
    // `Café` with a one-character é and with an e and a combining accent; Hangul syllables as
    // three jamo each (한국x is 3 characters in 19 bytes); an accent no letter composes with
    // counts apart.
    let out = run(
        yaml,
        "name\nCaf\u{e9}\nCafe\u{301}\n\u{1112}\u{1161}\u{11ab}\u{1100}\u{116e}\u{11a8}x\nabc\u{301}\u{301}\n",
    );
    assert_eq!(out.issues(), ["4 too_short name"]);
    assert_eq!(
        out.messages[0].message,
        "'\u{1112}\u{1161}\u{11ab}\u{1100}\u{116e}\u{11a8}x' is shorter than 4 characters"
    );
}

#[test]
fn a_default_value_passes_the_validators_of_its_field() {
    let yaml = r#"
name: defaults
fields:
  - key: id
  - key: status
    default: active
    validators: [{one_of: [active, closed]}, {regex: "^[a-z]+$"}, {min_length: 3}]
"#;
    let out = run(yaml, "id,status\n1,\n2,closed\n3,open\n");
    assert_eq!(out.issues(), ["4 not_one_of status"]);
    assert_eq!(out.values(2)["status"], "active");
}

#[test]
fn custom_messages_replace_value_and_label() {
    let yaml = r#"
name: messages
fields:
  - key: qty
    label: Quantity
    type: integer
    required: true
    messages:
      invalid_integer: "{label} must be a whole number, not '{value}'"
      required: "Fill in {label}"
      below_minimum: "{label} is too small"
    validators:
      - min: 1
      - max: 10
        message: "{value} is more {label} than we stock"
"#;
    let out = run(yaml, "Quantity\nlots\n\n0\n11\n,\n");
    let messages: Vec<(u64, &str, &str)> =
        out.messages.iter().map(|m| (m.line, m.code.as_ref(), m.message.as_str())).collect();
    assert_eq!(
        messages,
        [
            (2, "invalid_integer", "Quantity must be a whole number, not 'lots'"),
            (3, "empty_row_skipped", "empty row skipped (and any empty rows right below it)"),
            (4, "below_minimum", "Quantity is too small"),
            (5, "above_maximum", "11 is more Quantity than we stock"),
            (6, "empty_row_skipped", "empty row skipped (and any empty rows right below it)"),
        ]
    );
}

#[test]
fn a_warning_is_reported_but_keeps_the_row_valid() {
    let yaml = r#"
name: warnings
fields:
  - key: amount
    type: decimal
    validators:
      - max: 1000
        severity: warning
        message: "unusually large"
      - min: 0
"#;
    let out = run(yaml, "amount\n5000\n-1\n50\n");
    assert_eq!(out.issues(), ["2 above_maximum amount", "3 below_minimum amount"]);
    assert_eq!(out.messages[0].severity, Severity::Warning);
    assert_eq!(out.counts, Counts { rows: 3, valid: 2, invalid: 1, skipped: 0, errors: 1, warnings: 1 });
    // The valid row carries its warning, for whoever takes the row (webhooks, the rows API).
    assert_eq!(
        out.valid,
        "{\"line\":2,\"values\":{\"amount\":\"5000\"},\"warnings\":[{\"line\":2,\"column\":1,\"header\":\"amount\",\
         \"field\":\"amount\",\"code\":\"above_maximum\",\"message\":\"unusually large\",\"severity\":\"warning\",\
         \"value\":\"5000\"}]}\n{\"line\":4,\"values\":{\"amount\":\"50\"}}\n"
    );
}

const THREE: &str = "name: three\nfields:\n  - key: a\n  - key: b\n  - key: c\n";

#[test]
fn a_row_repeating_the_header_is_skipped_with_a_note() {
    // Two exports joined: the second header, trimmed and with its byte order mark, is no row.
    let out = run(THREE, "a,b,c\n1,2,3\n\u{feff}a, b ,c\n4,5,6\na,b,x\n");
    assert_eq!(out.issues(), ["3 header_repeated_skipped -"]);
    assert_eq!((out.counts.rows, out.counts.skipped), (3, 1));
    // A one-column file's value may be its header's name.
    let one = run("name: one\nfields:\n  - key: status\n", "status\nstatus\n");
    assert!(one.issues().is_empty() && one.counts.rows == 1);
}

#[test]
fn errors_are_kept_apart_from_the_messages_only_once_a_note_comes() {
    let out = run(THREE, "a,b,c\n1,2\n3,4\n");
    assert_eq!(out.issues(), ["2 too_few_columns -", "3 too_few_columns -"]);
    assert_eq!(out.errors, None, "every message is an error: stored once");
    let out = run(THREE, "a,b,c\n1,2\n\n3,4\n");
    assert_eq!(out.issues(), ["2 too_few_columns -", "3 empty_row_skipped -", "4 too_few_columns -"]);
    let errors = out.errors.expect("a note came");
    let lines: Vec<RowError> = errors.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines, [out.messages[0].clone(), out.messages[2].clone()]);
}

#[test]
fn ragged_rows_are_errors_only_when_cells_are_missing_or_extra_cells_hold_text() {
    let check = |row: &str, expected: &[&str]| {
        let out = run(THREE, &format!("a,b,c\n{row}\n"));
        assert_eq!(out.issues(), expected, "{row:?}");
    };
    check("1,2,3", &[]);
    check("1,2,3,", &[]);
    check("1,2,3, ,  ", &[]);
    check("1,2,3,4", &["2 too_many_columns #4"]);
    check("1,2,3,,x", &["2 too_many_columns #5"]);
    check("1,2", &["2 too_few_columns -"]);
    check("1", &["2 too_few_columns -"]);
    check("1,\"x\ny\",3,\"\nz\"", &["3 too_many_columns #4"]);
    let out = run(THREE, "a,b,c\n1,2,3,4\n");
    assert_eq!(out.messages[0].message, "the row has 4 cells but the header has 3 columns");
    assert_eq!(out.messages[0].value.as_deref(), Some("4"));
    assert_eq!(out.values(2), serde_json::json!({"a": "1", "b": "2", "c": "3"}));
}

#[test]
fn blank_rows_are_skipped_with_an_info_note() {
    // Each kind of empty row below a row of data. A no-break space is white space too: trimming
    // empties the cell, so the row is empty.
    let mut file = String::from("a,b,c\n");
    for empty in ["", ",,", " \t, ,", "\"\",\"\",\"\"", "\u{A0},\"\u{3000} \","] {
        file.push_str("1,2,3\n");
        file.push_str(empty);
        file.push('\n');
    }
    file.push_str("4,5,6\n");
    let out = run(THREE, &file);
    assert_eq!(
        out.issues(),
        [
            "3 empty_row_skipped -",
            "5 empty_row_skipped -",
            "7 empty_row_skipped -",
            "9 empty_row_skipped -",
            "11 empty_row_skipped -"
        ]
    );
    assert!(out.messages.iter().all(|m| m.severity == Severity::Info));
    assert_eq!(out.counts, Counts { rows: 6, valid: 6, invalid: 0, skipped: 5, errors: 0, warnings: 0 });
    assert_eq!(out.rows.len(), 6);
}

#[test]
fn a_run_of_empty_rows_gets_one_note_at_its_first_line() {
    // A sheet formatted far below its data exports thousands of empty rows.
    let out = run(THREE, &format!("a,b,c\n1,2,3\n{}4,5,6\n\n,,\na,b,c\n\n", ",,\n".repeat(10_000)));
    assert_eq!(
        out.issues(),
        [
            "3 empty_row_skipped -",
            "10004 empty_row_skipped -",
            "10006 header_repeated_skipped -",
            "10007 empty_row_skipped -"
        ]
    );
    assert_eq!(out.messages[0].message, "empty row skipped (and any empty rows right below it)");
    assert_eq!(out.counts, Counts { rows: 2, valid: 2, invalid: 0, skipped: 10_004, errors: 0, warnings: 0 });
}

#[test]
fn unmapped_columns_travel_with_the_row_when_asked() {
    let yaml = format!("{THREE}settings:\n  pass_through_unmapped: true\n");
    // A blank header travels as its column's number where it holds something, a repeated one
    // with its column's number: no key twice, so no value lost to a JSON reader.
    let out = run(&yaml, "a,Notes,b,c,,Extra,Notes\n1,hello,2,3,kept,\"x,y\",again\n4,,5,6,,z,\n7,,8\n");
    assert_eq!(
        out.rows,
        [
            r#"{"line":2,"values":{"a":"1","b":"2","c":"3"},"unmapped":{"Notes":"hello","column 5":"kept","Extra":"x,y","Notes (column 7)":"again"}}"#,
            r#"{"line":3,"values":{"a":"4","b":"5","c":"6"},"unmapped":{"Notes":"","Extra":"z","Notes (column 7)":""}}"#,
            r#"{"line":4,"values":{"a":"7","b":"8","c":null},"unmapped":{"Notes":""},"errors":[{"line":4,"code":"too_few_columns","message":"the row has 3 cells but the header has 7 columns","severity":"error"}]}"#,
        ]
    );
    let without = run(THREE, "a,Notes,b,c\n1,hello,2,3\n");
    assert_eq!(without.rows, [r#"{"line":2,"values":{"a":"1","b":"2","c":"3"}}"#]);
}

const UNIQUE: &str = r#"
name: unique
fields:
  - key: id
    type: integer
    unique: true
  - key: email
    type: email
    unique: case_insensitive
  - key: code
    unique: exact
  - key: amount
    type: decimal
    unique: true
"#;

#[test]
fn unique_keys_are_emitted_for_every_parsed_value_even_on_invalid_rows() {
    let schema = schema(UNIQUE);
    let out = run_with(
        &schema,
        "id,email,code,amount,extra\n7,A@x.com,ab,1.5,\n007,a@X.COM,AB,1.50,\nx,bad,ab,2,oops\n,,,,\n",
        false,
    );
    // Keys come sorted for finalize's merge; read them in line order.
    let mut keys: Vec<(u16, u64, bool)> = out.keys.iter().map(|k| (k.slot, k.line, k.valid)).collect();
    keys.sort_by_key(|k| (k.1, k.0));
    assert_eq!(
        keys,
        [
            (0, 2, true),
            (1, 2, true),
            (2, 2, true),
            (3, 2, true),
            (0, 3, true),
            (1, 3, true),
            (2, 3, true),
            (3, 3, true),
            (2, 4, false),
            (3, 4, false)
        ]
    );
    let key = |slot: u16, line: u64| out.keys.iter().find(|k| k.slot == slot && k.line == line).unwrap().key;
    assert_eq!(key(0, 2), 7, "integers are their own key");
    assert_eq!(key(0, 3), 7, "007 and 7 are the same integer");
    assert_eq!(key(1, 2), key(1, 3), "case_insensitive folds case");
    assert_ne!(key(2, 2), key(2, 3), "exact keeps case");
    assert_eq!(key(2, 2), key(2, 4));
    assert_eq!(key(3, 2), key(3, 3), "1.5 and 1.50 are the same decimal");
    assert!(out.keys.iter().all(|k| k.slot != ROW_HASH_SLOT), "no row hashes without dedupe");
    let dups = finalize::find_duplicates(out.keys.clone());
    let found: Vec<(u64, u16, bool)> = dups.iter().map(|d| (d.line, d.slot, d.row_valid)).collect();
    assert_eq!(found, [(3, 0, true), (3, 1, true), (3, 3, true), (4, 2, false)]);
    assert_eq!(finalize::rows_made_invalid(&dups), 1);
}

#[test]
fn negative_integers_keep_distinct_unique_keys() {
    let keys = |value: i64| unique_key(&Value::Integer(value), UniqueMode::Exact, &mut Vec::new());
    assert_ne!(keys(-1), keys(1));
    assert_ne!(keys(-1), keys(0));
    assert_eq!(keys(-1), keys(-1));
}

#[test]
fn list_unique_keys_fold_case_when_asked_and_keep_item_boundaries() {
    let list = |items: &[&str]| Value::List(items.iter().map(|i| Cow::Owned(i.to_string())).collect());
    let key = |items: &[&str], mode| unique_key(&list(items), mode, &mut Vec::new());
    assert_eq!(key(&["Red", "Blue"], UniqueMode::CaseInsensitive), key(&["red", "BLUE"], UniqueMode::CaseInsensitive));
    assert_ne!(key(&["Red", "Blue"], UniqueMode::Exact), key(&["red", "blue"], UniqueMode::Exact));
    // No item's bytes pass for the boundary between two.
    assert_ne!(key(&["a\u{1e}b"], UniqueMode::Exact), key(&["a", "b"], UniqueMode::Exact));
    assert_ne!(key(&["ab", ""], UniqueMode::Exact), key(&["a", "b"], UniqueMode::Exact));
    // Date-times past jiff's last instant keep apart.
    let late = |m: i8| Value::DateTime(jiff::civil::date(9999, 12, 31).at(23, m, 0, 0), 0);
    assert_ne!(
        unique_key(&late(0), UniqueMode::Exact, &mut Vec::new()),
        unique_key(&late(59), UniqueMode::Exact, &mut Vec::new())
    );
}

#[test]
fn text_compares_composed_in_choices_and_unique_keys() {
    // `é` as one character, and as `e` and a combining acute accent.
    let (one, two) = ("Caf\u{e9}", "Cafe\u{301}");
    let key = |t: &str, mode| unique_key(&Value::Text(Cow::Borrowed(t)), mode, &mut Vec::new());
    assert_eq!(key(one, UniqueMode::Exact), key(two, UniqueMode::Exact));
    assert_eq!(key(one, UniqueMode::Exact), xxh3_128(one.as_bytes()), "composed text keeps its key");
    assert_eq!(key("CAF\u{c9}", UniqueMode::CaseInsensitive), key(two, UniqueMode::CaseInsensitive));
    let list = |t: &str| Value::List(vec![Cow::Owned(t.to_string())]);
    assert_eq!(
        unique_key(&list(one), UniqueMode::Exact, &mut Vec::new()),
        unique_key(&list(two), UniqueMode::Exact, &mut Vec::new())
    );
    let yaml =
        "name: c\nfields:\n  - key: place\n    type: enum\n    values: [\"Cafe\u{301}\", Bar]\n    unique: true\n";
    let out = run(yaml, &format!("place\n{one}\n{two}\nBar\n"));
    assert_eq!(out.counts.valid, 3, "{:?}", out.messages);
    let place = |row: &str| serde_json::from_str::<serde_json::Value>(row).unwrap()["values"]["place"].clone();
    assert_eq!(place(&out.rows[0]), serde_json::json!(two), "the template's spelling is the value");
    // The two spellings are one key: the second is a duplicate (found across the file).
    let mut keys: Vec<u128> = out.keys.iter().map(|k| k.key).collect();
    keys.dedup();
    assert_eq!(keys.len(), 2);
}

#[test]
fn dedupe_hashes_only_valid_rows_by_their_parsed_values() {
    let yaml = r#"
name: dedupe
fields:
  - key: id
    type: integer
  - key: amount
    type: decimal
  - key: name
    required: true
"#;
    let schema = schema(yaml);
    let out = run_with(&schema, "id,amount,name\n1,1.5,Ann\n01, 1.50 , Ann\n1,1.5,\n1,1.5,ann\n\n1,1.5,Ann\n", true);
    let mut hashes: Vec<(u64, u128)> =
        out.keys.iter().filter(|k| k.slot == ROW_HASH_SLOT).map(|k| (k.line, k.key)).collect();
    hashes.sort_unstable();
    let lines: Vec<u64> = hashes.iter().map(|h| h.0).collect();
    assert_eq!(lines, [2, 3, 5, 7], "no hash for the invalid row or the blank one");
    assert_eq!(hashes[0].1, hashes[1].1);
    assert_eq!(hashes[0].1, hashes[3].1);
    assert_ne!(hashes[0].1, hashes[2].1);
    assert!(out.keys.iter().all(|k| k.valid));
    let dups = finalize::find_duplicates(out.keys);
    assert_eq!(dups.iter().map(|d| d.line).collect::<Vec<_>>(), [3, 7]);
}

#[test]
fn dedupe_compares_the_columns_carried_through_unmapped_too() {
    let yaml = r#"
name: dedupe
fields:
  - key: name
settings:
  pass_through_unmapped: true
"#;
    let schema = schema(yaml);
    // Lines 2 and 3 differ only in the carried note, 4 repeats 2, 5 leaves it empty, 6 and 7
    // carry the same text under different headerless columns.
    let csv = "name,note,,\nAnn,first,,\nAnn,second,,\nAnn,first,,\nAnn,,,\nBo,,x,\nBo,,,x\n";
    let out = run_with(&schema, csv, true);
    let dups = finalize::find_duplicates(out.keys);
    assert_eq!(dups.iter().map(|d| d.line).collect::<Vec<_>>(), [4]);
}

#[test]
fn rows_are_json_lines_with_errors_last_on_invalid_rows() {
    let yaml = r#"
name: shape
fields:
  - key: id
    type: integer
  - key: email
    label: E-mail
    type: email
  - key: when
    type: datetime
  - key: tags
    type: tags
  - key: ok
    type: boolean
  - key: note
"#;
    let out =
        run(yaml, "id,E-mail,when,tags,ok,note\n1,a@b.co,2024-06-15 14:30,x y,yes,\"say \"\"hi\"\"\"\nx,nope,,,,\n");
    assert_eq!(
        out.rows,
        [
            r#"{"line":2,"values":{"id":1,"email":"a@b.co","when":"2024-06-15T14:30:00Z","tags":["x","y"],"ok":true,"note":"say \"hi\""}}"#,
            concat!(
                r#"{"line":3,"values":{"id":"x","email":"nope","when":null,"tags":null,"ok":null,"note":null},"errors":["#,
                r#"{"line":3,"column":1,"header":"id","field":"id","code":"invalid_integer","message":"'x' is not a whole number","severity":"error","value":"x"},"#,
                r#"{"line":3,"column":2,"header":"E-mail","field":"email","code":"invalid_email","message":"'nope' is not an e-mail address: no @","severity":"error","value":"nope"}]}"#
            ),
        ]
    );
    for row in &out.rows {
        let parsed: serde_json::Value = serde_json::from_str(row).unwrap();
        assert_eq!(finalize::row_line(row.as_bytes()), parsed["line"].as_u64());
    }
}

#[test]
fn a_space_before_an_opening_quote_is_a_row_error_not_a_silent_split() {
    let out = run(THREE, "a,b,c\n1, \"Smith, John\"\n2,\t\"Doe\",x\n3,a \"b\",\"c\"\n");
    assert_eq!(out.issues(), ["2 malformed_quotes b", "3 malformed_quotes b"]);
    assert!(out.messages[0].message.contains("remove the space"), "{}", out.messages[0].message);
    assert_eq!(out.messages[0].value.as_deref(), Some(" \"Smith"));
    // A quote later in an unquoted cell is text, as before (`5" screw`).
    assert_eq!(out.counts.valid, 1);
}

#[test]
fn errors_point_at_the_physical_line_of_their_cell() {
    let out = run(THREE, "a,b,c\n\"x\ny\",\"\"\"\"bad,\"p\nq\"\n");
    assert_eq!(out.issues(), ["3 malformed_quotes b"]);
    assert_eq!(out.messages[0].column, Some(2));
    assert_eq!(out.messages[0].value.as_deref(), Some("\"bad"));
    let email = "name: e\nfields:\n  - key: note\n  - key: email\n    type: email\n";
    let out = run(email, "note,email\n\"line one\nline two\r\nline three\",nope\n");
    assert_eq!(out.issues(), ["4 invalid_email email"]);
    assert_eq!(finalize::row_line(out.rows[0].as_bytes()), Some(2));
}

#[test]
fn bytes_that_are_not_utf8_make_only_their_cell_invalid() {
    let out = run_bytes(&schema(THREE), b"a,b,c\ncaf\xE9,ok,\xC3\xA9\n", false);
    assert_eq!(
        out.rows,
        [concat!(
            r#"{"line":2,"values":{"a":"caf�","b":"ok","c":"é"},"errors":[{"line":2,"column":1,"header":"a","field":"a","code":"invalid_encoding","#,
            r#""message":"the byte E9 at position 4 is not valid UTF-8; re-save the file as UTF-8 or name its encoding","severity":"error","value":"caf�"}]}"#,
        )]
    );
}

/// Spreadsheet records through the engine as a cells chunk feeds it: (valid rows, invalid rows,
/// messages, counts).
fn run_cells(
    yaml: &str,
    headers: &[&str],
    sheet: Option<&str>,
    mode: RowsMode,
    records: &[crate::record::StoredRecord<'_>],
) -> (String, String, String, Counts) {
    let schema = schema(yaml);
    let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let mapping = map_columns(&schema, &headers, &Default::default());
    let plan = ColumnPlan::new(&schema, &mapping.columns, schema.settings.pass_through_unmapped);
    let mut engine = RowEngine::new(&schema, &plan, ParseOptions::from_settings(&schema.settings), false)
        .for_sheet(sheet.map(str::to_string))
        .null_values(&schema.settings.null_values);
    let mut sink = JsonSink::new(&schema, &plan, mode);
    for record in records {
        engine.process(record, &mut sink);
    }
    let counts = engine.counts();
    (sink.rows.as_str().to_string(), sink.invalid.as_str().to_string(), sink.messages, counts)
}

#[test]
fn spreadsheet_rows_may_be_short_and_name_their_sheet() {
    use crate::record::{StoredCell, StoredRecord};
    let (_, invalid, messages, counts) = run_cells(
        "name: s\nfields:\n  - key: a\n    type: integer\n  - key: b\n    required: true\n",
        &["a", "b"],
        Some("Data"),
        RowsMode::ValidOnly,
        &[
            StoredRecord(4, vec![StoredCell::Number(12.0)]),
            StoredRecord(5, vec![StoredCell::Null(()), StoredCell::Str("".into())]),
        ],
    );
    assert_eq!(
        invalid,
        "{\"line\":4,\"values\":{\"a\":12,\"b\":null},\"errors\":[{\"line\":4,\"field\":\"b\",\"code\":\"required\",\"message\":\"b is required\",\"severity\":\"error\",\"sheet\":\"Data\"}]}\n"
    );
    assert!(messages.ends_with("{\"line\":5,\"code\":\"empty_row_skipped\",\"message\":\"empty row skipped (and any empty rows right below it)\",\"severity\":\"info\",\"sheet\":\"Data\"}\n"));
    assert_eq!(counts, Counts { rows: 1, valid: 0, invalid: 1, skipped: 1, errors: 1, warnings: 0 });
}

#[test]
fn a_formula_without_its_result_is_an_error_in_a_field_and_empty_when_passed_through() {
    use crate::record::{StoredCell, StoredRecord, TaggedCell};
    let formula = |f: &str| StoredCell::Tagged(TaggedCell::Uncalculated(f.to_string().into()));
    let (valid, invalid, messages, counts) = run_cells(
        "name: s\nfields:\n  - key: a\n    type: integer\nsettings:\n  pass_through_unmapped: true\n",
        &["a", "total"],
        None,
        RowsMode::All,
        &[
            StoredRecord(2, vec![StoredCell::Number(1.0), formula("A2*2")]),
            StoredRecord(3, vec![formula("B3+1"), StoredCell::Number(5.0)]),
        ],
    );
    let rows = format!("{valid}{invalid}");
    assert!(rows.contains(r#"{"line":2,"values":{"a":1},"unmapped":{"total":""},"warnings":[{"line":2"#), "{rows}");
    assert!(rows.contains(r#""code":"uncalculated_formula","message":"the spreadsheet cell holds the formula =B3+1 but no calculated result"#), "{rows}");
    // The empty text passed through comes with a warning that says why.
    assert!(
        messages.contains(r#""line":2,"column":2,"header":"total","code":"uncalculated_formula","message":"the spreadsheet cell holds the formula =A2*2 but no calculated result, so it travels empty"#),
        "{messages}"
    );
    assert!(messages.contains(r#""severity":"warning""#), "{messages}");
    assert_eq!(counts, Counts { rows: 2, valid: 1, invalid: 1, skipped: 0, errors: 1, warnings: 1 });
}

#[test]
fn a_uuid_is_one_of_its_choices_as_read_not_as_written() {
    let s = schema(
        "name: s\nfields:\n  - key: u\n    type: uuid\n    validators:\n      - one_of: [123E4567-E89B-12D3-A456-426614174000]\n",
    );
    let out = run_with(
        &s,
        "u\n123E4567-E89B-12D3-A456-426614174000\n{123e4567-e89b-12d3-a456-426614174000}\n00000000-0000-0000-0000-000000000000\n",
        false,
    );
    let id = serde_json::json!({"u": "123e4567-e89b-12d3-a456-426614174000"});
    assert_eq!((out.values(2), out.values(3)), (id.clone(), id));
    assert_eq!(out.issues(), ["4 not_one_of u"]);
}

#[test]
fn null_markers_read_as_empty_cells() {
    let s = schema(
        r#"
name: s
fields:
  - key: id
    type: integer
    unique: true
  - key: name
    required: true
  - key: score
    type: decimal
    default: "0"
  - key: note
settings:
  null_values: ['\N', NULL]
  pass_through_unmapped: true
"#,
    );
    let out = run_with(
        &s,
        "id,name,score,note,extra\n\
         \\N,Ann,\\N,NULL,\\N\n\
         \\N,NULL, NULL ,null,x\n\
         null,Bo,1.5,\\\\N,NULL\n",
        false,
    );
    // Markers are empty cells: null, a default, a required field's error; two `\N` ids are no
    // duplicate. Other spellings are text.
    assert_eq!(out.values(2), serde_json::json!({"id": null, "name": "Ann", "score": "0", "note": null}));
    assert_eq!(out.values(3), serde_json::json!({"id": null, "name": null, "score": "0", "note": "null"}));
    assert_eq!(out.values(4), serde_json::json!({"id": "null", "name": "Bo", "score": "1.5", "note": "\\\\N"}));
    assert_eq!(out.issues(), ["3 required name", "4 invalid_integer id"]);
    assert!(out.rows[0].ends_with(r#""unmapped":{"extra":""}}"#), "{}", out.rows[0]);
    assert!(out.rows[2].contains(r#""unmapped":{"extra":""}"#), "{}", out.rows[2]);
    assert!(out.keys.is_empty(), "{:?}", out.keys);
}

#[test]
fn null_markers_match_text_error_and_number_cells_of_sheets() {
    use crate::record::{StoredCell, StoredRecord, TaggedCell};
    let (valid, _, _, counts) = run_cells(
        "name: s\nfields:\n  - key: a\n    type: integer\n  - key: b\nsettings:\n  null_values: [NA, '#N/A', '-999']\n",
        &["a", "b"],
        None,
        RowsMode::All,
        &[
            StoredRecord(2, vec![StoredCell::Str(String::from(" NA ").into()), StoredCell::Number(-999.0)]),
            StoredRecord(3, vec![StoredCell::Tagged(TaggedCell::Error("#N/A".into())), StoredCell::Str("NA".into())]),
            StoredRecord(4, vec![StoredCell::Number(7.0), StoredCell::Number(-999.25)]),
        ],
    );
    // Text, listed error values and numbers as a sheet shows them are markers, as in a CSV.
    assert_eq!(
        valid,
        "{\"line\":2,\"values\":{\"a\":null,\"b\":null}}\n{\"line\":3,\"values\":{\"a\":null,\"b\":null}}\n{\"line\":4,\"values\":{\"a\":7,\"b\":\"-999.25\"}}\n"
    );
    assert_eq!(counts, Counts { rows: 3, valid: 3, invalid: 0, skipped: 0, errors: 0, warnings: 0 });
}

#[test]
fn key_entries_survive_their_encoding() {
    let keys = vec![
        KeyEntry { slot: 0, key: 7, line: 2, valid: true },
        KeyEntry { slot: ROW_HASH_SLOT, key: u128::MAX - 1, line: u64::MAX, valid: false },
    ];
    let mut bytes = Vec::new();
    for k in &keys {
        k.encode(&mut bytes);
    }
    assert_eq!(bytes.len(), 2 * KeyEntry::ENCODED_LEN);
    let mut back = Vec::new();
    KeyEntry::decode_all(&bytes, &mut back).unwrap();
    assert_eq!(back, keys);
    assert!(KeyEntry::decode_all(&bytes[1..], &mut back).is_err());
}

#[test]
fn counts_add_up_across_chunks() {
    let mut total = Counts { rows: 1, valid: 1, invalid: 0, skipped: 2, errors: 0, warnings: 3 };
    total += Counts { rows: 2, valid: 1, invalid: 1, skipped: 0, errors: 4, warnings: 0 };
    assert_eq!(total, Counts { rows: 3, valid: 2, invalid: 1, skipped: 2, errors: 4, warnings: 3 });
}

#[test]
fn a_json_list_passed_through_keeps_its_items() {
    use crate::record::{StoredCell, StoredRecord, TaggedCell};
    fn list(items: &[&'static str]) -> StoredCell<'static> {
        StoredCell::Tagged(TaggedCell::List(items.iter().map(|i| (*i).into()).collect()))
    }
    let (valid, _, _, _) = run_cells(
        "name: s\nfields:\n  - key: a\n    type: integer\nsettings:\n  pass_through_unmapped: true\n",
        &["a", "tags"],
        None,
        RowsMode::All,
        &[
            StoredRecord(1, vec![StoredCell::Number(1.0), list(&["a b"])]),
            StoredRecord(2, vec![StoredCell::Number(2.0), list(&["a", "b"])]),
        ],
    );
    assert!(valid.contains(r#"{"line":1,"values":{"a":1},"unmapped":{"tags":"[\"a b\"]"}}"#), "{valid}");
    assert!(valid.contains(r#"{"line":2,"values":{"a":2},"unmapped":{"tags":"[\"a\",\"b\"]"}}"#), "{valid}");
}

#[test]
fn a_sheet_row_repeating_a_header_with_a_date_is_skipped() {
    use crate::record::{StoredCell, StoredRecord, TaggedCell};
    let (valid, _, _, counts) = run_cells(
        "name: s\nfields:\n  - key: name\n  - key: email\n",
        &["Name", "Email", "2024-01-31"],
        Some("S"),
        RowsMode::All,
        &[
            StoredRecord(
                2,
                vec![StoredCell::Str("Ann".into()), StoredCell::Str("a@x.io".into()), StoredCell::Number(1.0)],
            ),
            StoredRecord(
                3,
                vec![
                    StoredCell::Str("Name".into()),
                    StoredCell::Str("Email".into()),
                    StoredCell::Tagged(TaggedCell::Date(45322.0)),
                ],
            ),
        ],
    );
    assert!(!valid.contains(r#""line":3"#), "{valid}");
    assert_eq!((counts.rows, counts.skipped), (1, 1));
}

#[test]
fn a_date_cell_passed_through_is_the_date_the_sheet_shows() {
    use crate::record::{StoredCell, StoredRecord, TaggedCell};
    let (valid, _, _, _) = run_cells(
        "name: s\nfields:\n  - key: a\n    type: integer\nsettings:\n  pass_through_unmapped: true\n  null_values: [NULL]\n",
        &["a", "when"],
        Some("S"),
        RowsMode::All,
        &[
            StoredRecord(2, vec![StoredCell::Number(1.0), StoredCell::Tagged(TaggedCell::Date(45292.0))]),
            StoredRecord(3, vec![StoredCell::Number(2.0), StoredCell::Tagged(TaggedCell::Date(45293.5))]),
            // A null marker right of the header is as empty as a blank cell there.
            StoredRecord(4, vec![StoredCell::Number(3.0), StoredCell::Null(()), StoredCell::Str("NULL".into())]),
        ],
    );
    assert!(valid.contains(r#"{"line":2,"values":{"a":1},"unmapped":{"when":"2024-01-01"}}"#), "{valid}");
    assert!(valid.contains(r#"{"line":3,"values":{"a":2},"unmapped":{"when":"2024-01-02T12:00:00"}}"#), "{valid}");
    assert!(valid.contains(r#"{"line":4,"values":{"a":3}"#), "{valid}");
}

#[test]
fn passed_through_cells_are_trimmed_and_a_number_past_exact_integers_travels_empty() {
    use crate::record::{StoredCell, StoredRecord};
    let (valid, _, messages, counts) = run_cells(
        "name: s\nfields:\n  - key: a\n    type: integer\nsettings:\n  pass_through_unmapped: true\n",
        &["a", "extra"],
        Some("S"),
        RowsMode::All,
        &[
            StoredRecord(2, vec![StoredCell::Number(1.0), StoredCell::Str("  zz\u{200b} ".into())]),
            StoredRecord(3, vec![StoredCell::Number(2.0), StoredCell::Number(9_007_199_254_740_992.0)]),
            StoredRecord(4, vec![StoredCell::Number(3.0), StoredCell::Number(9_007_199_254_740_991.0)]),
        ],
    );
    assert!(valid.contains(r#"{"line":2,"values":{"a":1},"unmapped":{"extra":"zz"}}"#), "{valid}");
    assert!(valid.contains(r#"{"line":3,"values":{"a":2},"unmapped":{"extra":""},"warnings":[{"line":3"#), "{valid}");
    assert!(valid.contains(r#"{"line":4,"values":{"a":3},"unmapped":{"extra":"9007199254740991"}}"#), "{valid}");
    assert!(
        messages.contains(r#""column":2,"header":"extra","code":"invalid_type","message":"'9007199254740992' is a spreadsheet number of 9007199254740992 or more"#),
        "{messages}"
    );
    assert_eq!((counts.valid, counts.warnings), (3, 1));
    // Trimmed in a CSV too, so `dedupe` takes ` Cy ` for `Cy`.
    let yaml = format!("{THREE}settings:\n  pass_through_unmapped: true\n");
    let out = run(&yaml, "a,b,c,extra\n1,2,3, Cy \n");
    assert!(out.rows[0].contains(r#""unmapped":{"extra":"Cy"}"#), "{:?}", out.rows);
}

#[test]
fn a_not_unique_message_says_which_way_the_kept_row_lies() {
    let schema = schema("name: u\nfields:\n  - key: id\n    label: ID\n    type: integer\n    unique: true\n");
    let plan = ColumnPlan::new(&schema, &map_columns(&schema, &["id".to_string()], &Default::default()).columns, false);
    let message = |line, of| {
        let dup = finalize::Duplicate { line, slot: 0, of: finalize::DuplicateOf::Line(of), row_valid: false };
        finalize::duplicate_error(&schema, &plan, &dup, Some("2".into())).message
    };
    assert_eq!(message(5, 3), "ID '2' already appears at line 3");
    assert_eq!(message(2, 3), "ID '2' also appears at line 3, which keeps it as the first valid row");
}
