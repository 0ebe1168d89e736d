use super::*;

/// A small template in YAML, the form most people write.
const CONTACTS_YAML: &str = r#"
name: contacts
description: People to invite
fields:
  - key: id
    type: integer
    required: true
    unique: true
  - key: email
    label: E-mail
    type: email
    required: true
    alternate_matches: [mail, email address]
  - key: status
    type: enum
    case_insensitive: true
    default: active
    values:
      - active
      - value: closed
        label: Closed for good
        aliases: [gone, shut]
  - key: amount
    type: decimal
    precision: 17
    scale: 2
    validators:
      - min: 0
        message: "{label} cannot be negative, got {value}"
      - max: 1000000
        severity: warning
  - key: note
    validators:
      - max_length: 200
    messages:
      too_long: keep {label} short
settings:
  chunk_rows: 500
  invalid_data_behavior: REMOVE_INVALID_ROWS
  mapping:
    Mail: email
"#;

/// The same template in JSON.
const CONTACTS_JSON: &str = r#"{
  "name": "contacts",
  "description": "People to invite",
  "fields": [
    {"key": "id", "type": "integer", "required": true, "unique": true},
    {"key": "email", "label": "E-mail", "type": "email", "required": true,
     "alternate_matches": ["mail", "email address"]},
    {"key": "status", "type": "enum", "case_insensitive": true, "default": "active",
     "values": ["active", {"value": "closed", "label": "Closed for good", "aliases": ["gone", "shut"]}]},
    {"key": "amount", "type": "decimal", "precision": 17, "scale": 2,
     "validators": [
       {"min": 0, "message": "{label} cannot be negative, got {value}"},
       {"max": 1000000, "severity": "warning"}
     ]},
    {"key": "note", "validators": [{"max_length": 200}], "messages": {"too_long": "keep {label} short"}}
  ],
  "settings": {"chunk_rows": 500, "invalid_data_behavior": "REMOVE_INVALID_ROWS", "mapping": {"Mail": "email"}}
}"#;

fn yaml(text: &str) -> TemplateSpec {
    parse_template(text, TemplateSyntax::Yaml).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// A template named `t` with the given YAML field list.
fn with_fields(fields: &str) -> String {
    format!("name: t\nfields:\n{fields}")
}

#[test]
fn json_and_yaml_templates_read_the_same() {
    let from_yaml = yaml(CONTACTS_YAML);
    let from_json = parse_template(CONTACTS_JSON, TemplateSyntax::Json).unwrap();
    assert_eq!(from_yaml, from_json);
    assert_eq!(from_yaml.fields.len(), 5);
    assert_eq!(from_yaml.fields[0].unique, Some(UniqueMode::Exact));
    assert_eq!(from_yaml.fields[3].validators[0].min, Some(ScalarText("0".into())));
    assert_eq!(from_yaml.fields[4].field_type, FieldTypeName::Text, "the type defaults to text");
    assert_eq!(from_yaml.settings.chunk_rows, Some(500));
}

#[test]
fn a_template_survives_a_round_trip_through_json_and_yaml() {
    let spec = yaml(CONTACTS_YAML);
    let json = serde_json::to_string(&spec).unwrap();
    assert_eq!(parse_template(&json, TemplateSyntax::Json).unwrap(), spec);
    let yaml_text = serde_norway::to_string(&spec).unwrap();
    assert_eq!(parse_template(&yaml_text, TemplateSyntax::Yaml).unwrap(), spec);
}

#[test]
fn a_compiled_template_holds_checked_fields_and_resolved_settings() {
    let schema = Schema::compile(yaml(CONTACTS_YAML)).unwrap();
    assert_eq!(schema.name(), "contacts");
    let keys: Vec<&str> = schema.fields.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(keys, ["id", "email", "status", "amount", "note"]);
    assert_eq!(schema.field_index("amount"), Some(3));
    assert_eq!(schema.field_index("nope"), None);
    assert_eq!(schema.fields[0].label, "id", "the label defaults to the key");
    assert_eq!(schema.fields[1].label, "E-mail");
    assert!(matches!(schema.fields[3].kind, Kind::Decimal { precision: Some(17), scale: Some(2) }));
    assert!(matches!(schema.fields[3].validators[0].check, Check::Min(Value::Decimal(_))));
    assert_eq!(schema.fields[3].validators[1].severity, Severity::Warning);
    assert_eq!(schema.settings.chunk_rows, 500);
    assert_eq!(schema.settings.invalid_data_behavior, crate::settings::InvalidDataBehavior::RemoveInvalidRows);
    assert_eq!(schema.spec().fields.len(), 5);
}

#[test]
fn aliases_of_types_are_accepted() {
    let check = |written: &str, expected: FieldTypeName| {
        let spec = yaml(&with_fields(&format!("  - key: f\n    type: {written}\n")));
        assert_eq!(spec.fields[0].field_type, expected, "{written}");
    };
    check("string", FieldTypeName::Text);
    check("int", FieldTypeName::Integer);
    check("number", FieldTypeName::Decimal);
    check("bool", FieldTypeName::Boolean);
    check("checkbox", FieldTypeName::Boolean);
    check("date_time", FieldTypeName::Datetime);
    check("select", FieldTypeName::Enum);
    check("multi_select", FieldTypeName::MultiEnum);
    check("relationship", FieldTypeName::Uuid);
    check("url_list", FieldTypeName::UrlList);
}

#[test]
fn shape_errors_name_the_path_of_the_offending_key() {
    let check = |syntax: TemplateSyntax, text: &str, path: &str, fragment: &str| {
        let err = parse_template(text, syntax).unwrap_err();
        assert_eq!(err.path, path, "{text}\n{err}");
        assert!(err.message.contains(fragment), "{:?} lacks {fragment:?}", err.message);
    };
    use TemplateSyntax::{Json, Yaml};
    check(
        Json,
        r#"{"name":"t","fields":[{"key":"a"},{"key":"b","type":"money"}]}"#,
        "fields[1].type",
        "unknown variant `money`",
    );
    check(Yaml, &with_fields("  - key: a\n  - key: b\n    type: money\n"), "fields[1].type", "unknown variant `money`");
    check(Yaml, &with_fields("  - key: a\n    reqired: true\n"), "fields[0].reqired", "unknown field `reqired`");
    check(Json, r#"{"name":"t","fields":[{"key":"a","unique":false}]}"#, "fields[0].unique", "write `unique: true`");
    check(Yaml, &with_fields("  - key: a\n    unique: sometimes\n"), "fields[0].unique", "sometimes");
    check(
        Yaml,
        &with_fields("  - key: a\n    validators:\n      - regex: x\n        mesage: m\n"),
        "fields[0].validators[0].mesage",
        "unknown field `mesage`",
    );
    check(
        Yaml,
        &format!("{}settings:\n  chunk_rows: lots\n", with_fields("  - key: a\n")),
        "settings.chunk_rows",
        "invalid type",
    );
    check(Json, r#"{"fields":[]}"#, "", "missing field `name`");
    check(Json, r#"{"name":"t","fields":[{"key":"a"}]"#, "", "EOF while parsing an object at line 1 column 34");
    check(Json, r#"{"name":"t","fields":[{"key":"a", x}]}"#, "fields[0]", "key must be a string at line 1 column 35");
    check(
        Yaml,
        "name: t\nfields:\n  - key: a\n  -key: b\n",
        "fields",
        "did not find expected '-' indicator at line 4 column 3",
    );
    check(Yaml, "- 1\n", "", "expected struct TemplateSpec");
    // A key written twice at the top: serde_norway gives no line; the second writing is named.
    check(Yaml, "name: x\nfields:\n  - key: a\n'name' : y\n", "", "duplicate field `name` at line 4 column 1");
    check(Yaml, "name: t\nfields:\n  - key: a\n    key: b\n", "fields[0]", "duplicate field `key` at line 3");
    // As shown: a fault of the whole document has no path before it, and the path is said once.
    assert_eq!(
        parse_template(r#"{"fields":[]}"#, Json).unwrap_err().to_string(),
        "missing field `name` at line 1 column 13"
    );
    let err = parse_template(&format!("{}settings:\n  type: x\n", with_fields("  - key: a\n")), Yaml).unwrap_err();
    assert_eq!(err.path, "settings.type");
    assert!(err.to_string().starts_with("settings.type: unknown field `type`"), "{err}");
}

#[test]
fn the_syntax_follows_the_file_name() {
    assert_eq!(TemplateSyntax::from_file_name("contacts.JSON"), TemplateSyntax::Json);
    assert_eq!(TemplateSyntax::from_file_name("contacts.yaml"), TemplateSyntax::Yaml);
    assert_eq!(TemplateSyntax::from_file_name("contacts"), TemplateSyntax::Yaml);
}

#[test]
fn compile_errors_name_the_path_of_the_offending_key() {
    let check = |fields: &str, path: &str, fragment: &str| {
        let text = with_fields(fields);
        let err = Schema::compile(yaml(&text)).unwrap_err();
        assert_eq!(err.path, path, "{text}\n{err}");
        assert!(err.message.contains(fragment), "{:?} lacks {fragment:?}", err.message);
        assert_eq!(err.to_string(), format!("{path}: {}", err.message));
    };
    let a = "  - key: a\n";
    check(&format!("{a}  - key: a\n    type: integer\n"), "fields[1].key", "duplicate key \"a\" (also fields[0])");
    check("  - key: 1st\n", "fields[0].key", "is not a key");
    check("  - key: has space\n", "fields[0].key", "is not a key");
    check(
        &format!("{a}  - key: b\n    validators:\n      - regex: ok\n      - regex: \"(unclosed\"\n"),
        "fields[1].validators[1].regex",
        "invalid regex",
    );
    check(&format!("{a}  - key: s\n    type: enum\n"), "fields[1].values", "needs a list of values");
    check("  - key: s\n    type: enum\n    values: []\n", "fields[0].values", "at least one value");
    check(
        "  - key: s\n    type: enum\n    values: [a, b, A]\n    case_insensitive: true\n",
        "fields[0].values[2]",
        "repeats fields[0].values[0]",
    );
    check("  - key: s\n    type: enum\n    values: [a, \" \"]\n", "fields[0].values[1]", "cannot be empty");
    check(
        "  - key: s\n    type: multi_enum\n    values: [a, new york]\n",
        "fields[0].values[1]",
        "\"new york\" contains the separator \" \"; choose another separator",
    );
    check("  - key: b\n    type: boolean\n    true_values: [\" \"]\n", "fields[0].true_values", "cannot be empty");
    check("  - key: b\n    type: boolean\n    false_values: [no, \"\"]\n", "fields[0].false_values", "cannot be empty");
    check(
        "  - key: s\n    type: multi_enum\n    values: [a, {value: dr, label: Dark red}]\n",
        "fields[0].values[1]",
        "\"Dark red\" contains the separator",
    );
    check(
        "  - key: n\n    type: integer\n    validators:\n      - one_of: [1, {value: 2, aliases: [\"20\"]}]\n",
        "fields[0].validators[0].one_of[1].aliases",
        "a typed field's value is matched as read",
    );
    check(
        "  - key: n\n    type: integer\n    validators:\n      - one_of: [1, abc]\n",
        "fields[0].validators[0].one_of[1]",
        "\"abc\" is not a value of the field's type",
    );
    // A label or alias that names another choice would make that choice unreachable or ambiguous.
    check(
        "  - key: s\n    type: enum\n    values: [{value: x, label: Y}, Y]\n",
        "fields[0].values[0]",
        "label \"Y\" already names fields[0].values[1] (\"Y\")",
    );
    check(
        "  - key: s\n    type: enum\n    values: [a, {value: b, aliases: [a]}]\n",
        "fields[0].values[1]",
        "alias \"a\" already names fields[0].values[0]",
    );
    check(
        "  - key: n\n    type: decimal\n    validators:\n      - one_of: [\"1.5\", \"1.50\"]\n",
        "fields[0].validators[0].one_of[1]",
        "repeats fields[0].validators[0].one_of[0]",
    );
    // An alternate naming another field, but for case, could never pick its own.
    check(
        "  - key: email\n    label: Email\n  - key: backup\n    alternate_matches: [other mail, EMAIL]\n",
        "fields[1].alternate_matches[1]",
        "\"EMAIL\" names fields[0] (email): a column headed so maps to that field, never to this one",
    );
    // A long list is checked whole: the repeat at its end names the value it repeats.
    let long: Vec<String> = (0..50_000).map(|i| format!("v{i}")).chain(["V123".to_string()]).collect();
    check(
        &format!("  - key: s\n    type: enum\n    case_insensitive: true\n    values: [{}]\n", long.join(", ")),
        "fields[0].values[50000]",
        "repeats fields[0].values[123]",
    );
    check("  - key: a\n    values: [x]\n", "fields[0].values", "applies to enum and multi_enum fields, not text");
    check(
        "  - key: a\n    validators:\n      - min_length: 1\n        max_length: 3\n",
        "fields[0].validators[0]",
        "exactly one of",
    );
    check(
        "  - key: a\n    validators:\n      - message: nothing to check\n",
        "fields[0].validators[0]",
        "exactly one of",
    );
    check("  - key: a\n    validators:\n      - min: 3\n", "fields[0].validators[0].min", "not text");
    check(
        "  - key: a\n    type: integer\n    validators:\n      - max: lots\n",
        "fields[0].validators[0].max",
        "\"lots\" is not a valid integer",
    );
    check(
        "  - key: a\n    type: integer\n    validators:\n      - min_length: 2\n",
        "fields[0].validators[0].min_length",
        "does not apply to integer",
    );
    check(
        "  - key: a\n    type: boolean\n    validators:\n      - max_length: 2\n",
        "fields[0].validators[0].max_length",
        "does not apply to boolean",
    );
    check(
        "  - key: a\n    type: integer\n    default: seven\n",
        "fields[0].default",
        "\"seven\" is not a valid integer: 'seven' is not a whole number",
    );
    check(
        "  - key: a\n    type: decimal\n    default: '1,5'\nsettings:\n  locale: de-DE\n",
        "fields[0].default",
        "with a '.' point and no grouping, whatever its locale",
    );
    check("  - key: a\n    type: date\n    default: 2023-02-30\n", "fields[0].default", "that day does not exist");
    check(
        "  - key: a\n    messages:\n      required: fill it in\n      too_lng: typo\n",
        "fields[0].messages.too_lng",
        "unknown error code",
    );
    check("  - key: a\n    type: decimal\n    precision: 0\n", "fields[0].precision", "between 1 and 28");
    check(
        "  - key: a\n    type: decimal\n    precision: 4\n    scale: 5\n",
        "fields[0].scale",
        "cannot exceed precision",
    );
    check("  - key: a\n    type: integer\n    scale: 2\n", "fields[0].scale", "applies to decimal fields, not integer");
    check("  - key: a\n    format: \"%d\"\n", "fields[0].format", "applies to date and datetime fields");
    check("  - key: a\n    type: tags\n    separator: \"\"\n", "fields[0].separator", "cannot be empty");
    check("  - key: a\n    type: boolean\n    true_values: []\n", "fields[0].true_values", "cannot be empty");
    check(
        "  - key: a\n    type: boolean\n    true_values: [si]\n    false_values: [no, si]\n",
        "fields[0].false_values",
        "\"si\" is also in true_values",
    );
    // Templates no cell could pass, or whose messages and names cannot work as written.
    check(
        "  - key: n\n    type: integer\n    validators:\n      - min: 10\n      - max: 1\n",
        "fields[0].validators[1].max",
        "1 is below the minimum 10 of validators[0]",
    );
    check(
        "  - key: d\n    type: date\n    validators:\n      - max: 2024-01-01\n      - min: 2025-01-01\n",
        "fields[0].validators[0].max",
        "2024-01-01 is below the minimum 2025-01-01 of validators[1]",
    );
    check(
        "  - key: t\n    validators:\n      - min_length: 10\n      - max_length: 1\n",
        "fields[0].validators[1].max_length",
        "no value could pass",
    );
    check(
        "  - key: n\n    type: integer\n    default: \"5\"\n    validators:\n      - max: 3\n",
        "fields[0].default",
        "\"5\" fails the field's own validators[0] (above_maximum)",
    );
    check(
        "  - key: t\n    default: abc\n    validators:\n      - regex: \"^[0-9]+$\"\n",
        "fields[0].default",
        "validators[0] (regex_mismatch)",
    );
    check("  - key: d\n    type: date\n    format: \"%H:%M\"\n", "fields[0].format", "names no whole date");
    check("  - key: d\n    type: date\n    format: hello\n", "fields[0].format", "names no whole date");
    check("  - key: d\n    type: date\n    format: \"%s\"\n", "fields[0].format", "make the field a datetime");
    check("  - key: d\n    type: datetime\n    format: \"%Y\"\n", "fields[0].format", "names no whole date");
    check("  - key: d\n    type: date\n    format: \"%d/%m/%Y %K\"\n", "fields[0].format", "invalid format");
    check("  - key: d\n    type: date\n    format: \"%c\"\n", "fields[0].format", "%c cannot be read back");
    check("  - key: d\n    type: datetime\n    format: \"%+\"\n", "fields[0].format", "%+ cannot be read back");
    check("  - key: t\n    validators:\n      - regex: \"\"\n", "fields[0].validators[0].regex", "empty pattern");
    check(
        "  - key: t\n    validators:\n      - max_length: 3\n        severity: info\n",
        "fields[0].validators[0].severity",
        "use error or warning",
    );
    check(
        "  - key: t\n    messages:\n      required: \"{vaule} is missing\"\n",
        "fields[0].messages.required",
        "unknown placeholder {vaule}",
    );
    check(
        "  - key: t\n    validators:\n      - max_length: 3\n        message: \"{lable} too long\"\n",
        "fields[0].validators[0].message",
        "unknown placeholder {lable}",
    );
    check(
        "  - key: n\n    type: integer\n    case_insensitive: true\n",
        "fields[0].case_insensitive",
        "applies to enum and multi_enum fields and one_of validators",
    );
    check("  - key: a\n    label: Name\n  - key: b\n    label: Name\n", "fields[1].label", "names fields[0] (a) too");
    check("  - key: a\n    label: b\n  - key: b\n", "fields[1].key", "names fields[0] (a) too");
    // But for case: the header's case would pick the field (`Company` one, `company` the other).
    check(
        "  - key: name\n    label: Company\n  - key: company\n    label: Company name\n",
        "fields[1].key",
        "\"company\" names fields[0] (name) too, but for case",
    );
    // Accents written composed or not: a header would pick a field by how its bytes spell them.
    check(
        "  - key: a\n    label: \"Pr\\u00e9nom\"\n  - key: b\n    label: \"Pre\\u0301nom\"\n",
        "fields[1].label",
        "names fields[0] (a) too, its accents written another way",
    );
    check(
        "  - key: u\n    type: uuid\n    validators:\n      - one_of: [not-a-uuid]\n",
        "fields[0].validators[0].one_of[0]",
        "is not a value of the field's type",
    );
}

#[test]
fn formats_that_name_a_whole_date_are_accepted() {
    for (kind, format) in [
        ("date", "%d/%m/%Y"),
        ("date", "%d.%m.%y"),
        ("date", "%b %e, %Y"),
        ("date", "%Y%m%d"),
        ("date", "%d/%m/%Y %H:%M"),
        ("datetime", "%d/%m/%Y %H:%M"),
        ("datetime", "%Y-%m-%dT%H:%M:%S%z"),
        ("datetime", "%m/%d/%Y %I:%M %p"),
        ("date", "%Y-%m-%d %H:%M:%S %Z"),
        ("date", "%Y-%j"),
        ("datetime", "%s"),
        ("date", "%G-W%V-%u"),
    ] {
        let text = with_fields(&format!("  - key: d\n    type: {kind}\n    format: \"{format}\"\n"));
        Schema::compile(yaml(&text)).unwrap_or_else(|e| panic!("{kind} {format}: {e}"));
    }
}

#[test]
fn custom_messages_fill_their_placeholders_once() {
    assert_eq!(super::fill_message("{label}: bad {value}", "{label} x", "Amount"), "Amount: bad {label} x");
    assert_eq!(super::fill_message("{ {value}} {other}", "v", "L"), "{ v} {other}");
    assert_eq!(super::fill_message("no placeholders", "v", "L"), "no placeholders");
    // Braces that are no placeholder are text: a pattern's `{2}`.
    let text = with_fields("  - key: t\n    messages:\n      regex_mismatch: \"like [A-Z]{2}[0-9]{4}: {value}\"\n");
    assert!(Schema::compile(yaml(&text)).is_ok());
    // Labels alike but for punctuation are told apart by a header written as one of them.
    assert!(
        Schema::compile(yaml(&with_fields("  - key: a\n    label: Amount (€)\n  - key: b\n    label: Amount ($)\n")))
            .is_ok()
    );
}

#[test]
fn template_wide_faults_name_their_section() {
    let check = |text: &str, path: &str, fragment: &str| {
        let err = Schema::compile(yaml(text)).unwrap_err();
        assert_eq!(err.path, path, "{text}\n{err}");
        assert!(err.message.contains(fragment), "{:?} lacks {fragment:?}", err.message);
    };
    let fields = "fields:\n  - key: email\n";
    check(
        &format!("name: t\n{fields}settings:\n  chunk_rows: 0\n"),
        "settings.chunk_rows",
        "between 1 and 1000000, got 0",
    );
    check(&format!("name: t\n{fields}settings:\n  chunk_rows: 2000000\n"), "settings.chunk_rows", "got 2000000");
    check(&format!("name: t\n{fields}settings:\n  locale: klingon\n"), "settings.locale", "unknown locale");
    check(
        &format!("name: t\n{fields}settings:\n  mapping:\n    Mail: email\n    Name: name\n"),
        "settings.mapping.Name",
        "no field has the key \"name\"",
    );
    check(&format!("name: \" \"\n{fields}"), "name", "cannot be empty");
    check(&format!("name: t\n{fields}settings:\n  mapping:\n    0: email\n"), "settings.mapping.0", "numbered from 1");
    check("name: t\nfields: []\n", "fields", "at least one field");
}

#[test]
fn a_mapping_may_ignore_a_column() {
    let text = "name: t\nfields:\n  - key: email\nsettings:\n  mapping:\n    Internal: null\n";
    let schema = Schema::compile(yaml(text)).unwrap();
    assert_eq!(schema.settings.mapping.get("Internal"), Some(&None));
}

#[test]
fn the_blank_csv_is_one_header_row_of_labels() {
    let check = |fields: &str, expected: &str| {
        let schema = Schema::compile(yaml(&with_fields(fields))).unwrap();
        assert_eq!(schema.blank_csv(), expected);
    };
    check("  - key: id\n", "id\r\n");
    check(
        "  - key: id\n  - key: email\n    label: E-mail\n  - key: name\n    label: \"Name, full\"\n",
        "id,E-mail,\"Name, full\"\r\n",
    );
    check("  - key: q\n    label: 'Say \"hi\"'\n  - key: f\n    label: \"=1+1\"\n", "\"Say \"\"hi\"\"\",\"'=1+1\"\r\n");
    check("  - key: blank_label\n    label: \" \"\n", "blank_label\r\n");
}

fn choices(case_insensitive: bool) -> Choices {
    let flag = if case_insensitive { "    case_insensitive: true\n" } else { "" };
    let text = with_fields(&format!(
        "  - key: s\n    type: enum\n{flag}    values:\n      - active\n      - value: closed\n        label: Closed for good\n        aliases: [gone, \" shut \"]\n      - 42\n"
    ));
    let schema = Schema::compile(yaml(&text)).unwrap();
    match &schema.fields[0].kind {
        Kind::Enum(c) => c.clone(),
        other => panic!("not an enum: {other:?}"),
    }
}

#[test]
fn choices_are_found_by_value_label_or_alias() {
    let check = |case_insensitive: bool, input: &str, expected: Option<&str>| {
        assert_eq!(
            choices(case_insensitive).lookup(input),
            expected,
            "{input:?} (case_insensitive: {case_insensitive})"
        );
    };
    check(false, "active", Some("active"));
    check(false, "closed", Some("closed"));
    check(false, "Closed for good", Some("closed"));
    check(false, "gone", Some("closed"));
    check(false, "shut", Some("closed"));
    check(false, "42", Some("42"));
    check(false, "Active", None);
    check(false, "GONE", None);
    check(false, "open", None);
    check(false, "", None);
    check(true, "Active", Some("active"));
    check(true, "ACTIVE", Some("active"));
    check(true, "closed FOR good", Some("closed"));
    check(true, "Gone", Some("closed"));
    check(true, "open", None);
    assert_eq!(choices(true).values, ["active", "closed", "42"]);
}

#[test]
fn long_choice_lists_are_found_through_their_index() {
    let values: Vec<String> = (0..40).map(|i| format!("      - value: v{i}\n        aliases: [Alias{i}]\n")).collect();
    let text = with_fields(&format!(
        "  - key: s\n    type: enum\n    case_insensitive: true\n    values:\n{}",
        values.concat()
    ));
    let schema = Schema::compile(yaml(&text)).unwrap();
    let Kind::Enum(choices) = &schema.fields[0].kind else { panic!("not an enum") };
    let check = |input: &str, expected: Option<&str>| assert_eq!(choices.lookup(input), expected, "{input}");
    check("v0", Some("v0"));
    check("V39", Some("v39"));
    check("alias17", Some("v17"));
    check("v40", None);
}

#[test]
fn custom_messages_replace_value_and_label() {
    let schema = Schema::compile(yaml(CONTACTS_YAML)).unwrap();
    let note = &schema.fields[4];
    assert_eq!(note.message(crate::codes::TOO_LONG, || "builtin".into(), "x"), "keep note short");
    assert_eq!(note.message(crate::codes::REQUIRED, || "builtin".into(), "x"), "builtin");
}

#[test]
fn one_of_validators_follow_the_field_case_rule() {
    let text = with_fields(
        "  - key: c\n    case_insensitive: true\n    validators:\n      - one_of: [red, {value: green, aliases: [gr]}]\n",
    );
    let schema = Schema::compile(yaml(&text)).unwrap();
    let Check::OneOf(choices) = &schema.fields[0].validators[0].check else { panic!("not one_of") };
    assert_eq!(choices.lookup("RED"), Some("red"));
    assert_eq!(choices.lookup("GR"), Some("green"));
    assert_eq!(choices.lookup("blue"), None);
}

#[test]
fn bounds_compare_within_their_type() {
    let check = |value: Value<'_>, bound: Value<'_>, is_min: bool, expected: bool| {
        assert_eq!(within(&value, &bound, is_min), expected, "{value:?} vs {bound:?} (min: {is_min})");
    };
    check(Value::Integer(5), Value::Integer(5), true, true);
    check(Value::Integer(4), Value::Integer(5), true, false);
    check(Value::Integer(6), Value::Integer(5), false, false);
    check(Value::Decimal("0.01".parse().unwrap()), Value::Decimal("0".parse().unwrap()), true, true);
    check(Value::Text("x".into()), Value::Integer(5), true, true);
}

#[test]
fn choices_match_spellings_exactly_or_ignoring_case() {
    let specs = vec![
        ChoiceSpec::Plain(ScalarText("Active".into())),
        ChoiceSpec::Full {
            value: ScalarText("closed".into()),
            label: Some("Fermé".into()),
            aliases: vec!["done".into()],
        },
    ];
    let exact = Choices::compile(&specs, false, "values").unwrap();
    assert_eq!(exact.lookup("Active"), Some("Active"));
    assert_eq!(exact.lookup("active"), None);
    assert_eq!(exact.lookup("Activ"), None);
    assert_eq!(exact.lookup("Fermé"), Some("closed"));
    assert_eq!(exact.lookup("done"), Some("closed"));
    let folded = Choices::compile(&specs, true, "values").unwrap();
    assert_eq!(folded.lookup("ACTIVE"), Some("Active"));
    assert_eq!(folded.lookup("FERMÉ"), Some("closed"));
    assert_eq!(folded.lookup("Done"), Some("closed"));
    assert_eq!(folded.lookup("nope"), None);
    // More than 16 spellings: looked up through the index.
    let many: Vec<ChoiceSpec> = (0..20).map(|i| ChoiceSpec::Plain(ScalarText(format!("V{i}")))).collect();
    let indexed = Choices::compile(&many, true, "values").unwrap();
    assert_eq!(indexed.lookup("v17"), Some("V17"));
    assert_eq!(Choices::compile(&many, false, "values").unwrap().lookup("v17"), None);
}

#[test]
fn short_keys_are_equal_exactly_for_equal_strings() {
    let words = [
        "",
        "a",
        "b",
        "ab",
        "ba",
        "aa",
        "abc",
        "acb",
        "abcd",
        "abce",
        "abcdefg",
        "abcdefh",
        "bbcdefg",
        "abcdefgh",
        "abcdefghijklmnop",
        "abcdefghijklmnoq",
        "xbcdefghijklmnop",
        "abcdefghXjklmnop",
        "é",
        "éa",
    ];
    for a in words {
        for b in words {
            assert_eq!(ShortKey::of(a.as_bytes()) == ShortKey::of(b.as_bytes()), a == b, "{a:?} {b:?}");
        }
    }
    assert_eq!(ShortKey::of(&[b'x'; 17]), None);
    assert_eq!(ShortKey::of_folded(b"TrUe", true), ShortKey::of(b"true"));
    assert_ne!(ShortKey::of_folded(b"TrUe", false), ShortKey::of(b"true"));
}

#[test]
fn boolean_words_match_by_case_as_configured() {
    let builtin = BoolWords::builtin();
    assert_eq!(builtin.read("YES"), Some(true));
    assert_eq!(builtin.read("Off"), Some(false));
    assert_eq!(builtin.read("maybe"), None);
    assert_eq!(builtin.read("a very long spelling indeed"), None);
    let custom =
        BoolWords::builtin_with(Some(vec!["Ja".into(), "wahr und wirklich ganz".into()]), Some(vec!["nein".into()]));
    assert_eq!(custom.read("Ja"), Some(true));
    assert_eq!(custom.read("ja"), None);
    assert_eq!(custom.read("wahr und wirklich ganz"), Some(true));
    assert_eq!(custom.read("nein"), Some(false));
    // Spreadsheets in other languages write their own words; custom lists replace them.
    for (word, meaning) in [("WAHR", true), ("FALSCH", false), ("Vrai", true), ("FAUX", false), ("VERDADERO", true)] {
        assert_eq!(builtin.read(word), Some(meaning), "{word}");
    }
    assert_eq!((builtin.read("ИСТИНА"), builtin.read("ЛОЖЬ")), (Some(true), Some(false)));
    let finnish_spanish_russian =
        [builtin.read("TOSI"), builtin.read("EPÄTOSI"), builtin.read("SÍ"), builtin.read("нет")];
    assert_eq!(finnish_spanish_russian, [Some(true), Some(false), Some(true), Some(false)]);
    let mixed_case = [
        builtin.read("Да"),
        builtin.read("Нет"),
        builtin.read("Ложь"),
        builtin.read("Истина"),
        builtin.read("Epätosi"),
    ];
    assert_eq!(mixed_case, [Some(true), Some(false), Some(false), Some(true), Some(false)]);
    assert!(!builtin.truthy.contains(&"wahr".to_string()), "messages list the English words");
    assert_eq!(custom.read("WAHR"), None);
    // Only true_values given: the built-in false words stay, any case, but one named true.
    let only_true = BoolWords::builtin_with(Some(vec!["ja".into(), "0".into()]), None);
    assert_eq!((only_true.read("ja"), only_true.read("JA")), (Some(true), None));
    assert_eq!(
        (only_true.read("FALSE"), only_true.read("No"), only_true.read("nein")),
        (Some(false), Some(false), Some(false))
    );
    assert_eq!(only_true.read("0"), Some(true));
    assert_eq!(only_true.read("wahr"), None, "the true words are the custom ones");
}

#[test]
fn simple_anchored_patterns_match_as_the_regex_crate_does() {
    let patterns = [
        r"^\+?[0-9 ()\-]{7,20}$",
        r"^[A-Z]{2}$",
        r"^[a-z]+[0-9]*$",
        r"^x?y{2,}$",
        r"^[A-Z]{2}[0-9]{2}$",
        // Not of the simple form: classes that overlap, no anchors, alternations.
        r"^[a-z]*[a-f]$",
        r"[A-Z]{2}",
        r"^(ab|cd)$",
        r"^é+$",
    ];
    let alphabet = ["A", "Z", "a", "f", "z", "0", "9", "+", " ", "(", ")", "-", "x", "y", "é", "\n", "ab", "cd"];
    let mut state = 0x1234_5678_9ABC_DEF1u64;
    for pattern in patterns {
        let ours = Matcher::new(pattern, &mut { DFA_BUDGET }).unwrap();
        let regex = regex::Regex::new(pattern).unwrap();
        for _ in 0..3000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut r = state;
            let mut text = String::new();
            for _ in 0..(state % 23) {
                text.push_str(alphabet[(r % alphabet.len() as u64) as usize]);
                r = (r / alphabet.len() as u64) ^ state.rotate_left(17);
            }
            assert_eq!(ours.is_match(&text), regex.is_match(&text), "{pattern} on {text:?}");
        }
        for text in ["+1 (555) 123-4567", "5551234", "555123", "US", "us", "USA", "ab12", "x", "yy", "xyyy"] {
            assert_eq!(ours.is_match(text), regex.is_match(text), "{pattern} on {text:?}");
        }
    }
    assert!(Runs::of(r"^\+?[0-9 ()\-]{7,20}$").is_some());
    assert!(Runs::of(r"^[A-Z]{2}$").is_some());
    assert!(Runs::of(r"^[a-z]*[a-f]$").is_none(), "overlapping classes");
    assert!(Runs::of(r"[A-Z]{2}").is_none(), "not anchored");
}

#[test]
fn digit_and_word_classes_are_ascii_as_in_javascript() {
    let m = |pattern: &str| Matcher::new(pattern, &mut { DFA_BUDGET }).unwrap();
    let digits = m(r"^\d{3}$");
    assert!(digits.is_match("123"));
    assert_eq!(digits.as_str(), r"^\d{3}$", "messages quote the pattern as written");
    assert!(!digits.is_match("١٢٣") && !digits.is_match("１２３"), "Arabic-Indic and full-width digits");
    assert!(m(r"^[\d-]+$").is_match("12-3") && !m(r"^[\d-]+$").is_match("١-٢"));
    assert!(m(r"^\D+$").is_match("١٢٣") && !m(r"^[^\d]+$").is_match("a1"));
    assert!(m(r"^\w+$").is_match("ab_1") && !m(r"^\w+$").is_match("é"));
    assert!(m(r"\bcat\b").is_match("a cat.") && !m(r"\bcat\b").is_match("concatenate"));
    // Escapes and classes stay as written: a literal backslash, `]` first in a class, POSIX and
    // Unicode classes.
    assert!(m(r"^\\d$").is_match("\\d"));
    assert!(m(r"^[]a]+$").is_match("]a") && m(r"^[^]a]$").is_match("b"));
    assert!(m(r"^[[:alpha:]\d]+$").is_match("a1"));
    assert!(m(r"^\p{L}+$").is_match("é"));
    assert_eq!(javascript_classes(r"a\d[\w.]\b\\w[]\d]"), r"a[[:digit:]][[:word:].](?-u:\b)\\w[][:digit:]]");
}

#[test]
fn yaml_aliases_that_expand_a_template_past_8_mebibytes_are_refused() {
    let names: Vec<String> = (0..2000).map(|i| format!("alias{i}")).collect();
    let mut bomb = format!("name: t\nfields:\n  - &f {{key: a, alternate_matches: [{}]}}\n", names.join(","));
    bomb.push_str(&"  - *f\n".repeat(600));
    let err = parse_template(&bomb, TemplateSyntax::Yaml).unwrap_err();
    assert!(err.message.contains("its YAML aliases (*name) expand the template past 8 MiB"), "{err}");
    // Nested aliases multiply: nine levels of ten over a list of ten words, in 2 KB.
    let mut laughs = String::from(
        "name: t\ndescription: x\nfields:\n  - key: a\n    alternate_matches: &l0 [a,b,c,d,e,f,g,h,i,j]\n",
    );
    for level in 1..9 {
        let refs = vec![format!("*l{}", level - 1); 10].join(",");
        laughs.push_str(&format!("  - key: k{level}\n    alternate_matches: &l{level} [{refs}]\n"));
    }
    // (YAML's own bound on replays stops this walk first, and the shape is wrong anyway: refused
    // in little memory.)
    assert!(parse_template(&laughs, TemplateSyntax::Yaml).is_err());
    // Multi-line scalars, escaped quotes and comments inside nodes are measured as YAML reads
    // them: a scalar of 100 KB over several lines, named a hundred times.
    let big = "word ".repeat(20_000);
    let folded = format!("name: t\ndescription: &s |\n  {big}\n  {big}\nfields:\n");
    let mut folded = folded;
    for i in 0..100 {
        folded.push_str(&format!("  - key: f{i}\n    description: *s\n"));
    }
    let err = parse_template(&folded, TemplateSyntax::Yaml).unwrap_err();
    assert!(err.message.contains("expand the template"), "{err}");
    // An apostrophe in a plain scalar is no quote.
    let mut apostrophes = String::from(
        "name: t\nfields:\n  - key: f0\n    validators: &v [{min: 0, message: Can't be negative}]\n    type: integer\n",
    );
    for i in 1..400 {
        apostrophes.push_str(&format!("  - key: f{i}\n    type: integer\n    validators: *v\n"));
    }
    assert_eq!(parse_template(&apostrophes, TemplateSyntax::Yaml).unwrap().fields.len(), 400);
    // Many aliases of small rules, as a long template shares them, are fine.
    let mut shared = String::from("name: t\nfields:\n  - key: f0\n    validators: &rules [{max_length: 80}]\n");
    for i in 1..200 {
        shared.push_str(&format!("  - key: f{i}\n    validators: *rules\n"));
    }
    assert_eq!(parse_template(&shared, TemplateSyntax::Yaml).unwrap().fields.len(), 200);
    // A block node, over the lines indented below its anchor.
    let mut block = String::from("name: t\nfields:\n  - key: a\n    alternate_matches: &names\n");
    for i in 0..20_000 {
        block.push_str(&format!("      - name{i}\n"));
    }
    for i in 0..300 {
        block.push_str(&format!("  - key: b{i}\n    alternate_matches: *names\n"));
    }
    let err = parse_template(&block, TemplateSyntax::Yaml).unwrap_err();
    assert!(err.message.contains("expand the template"), "{err}");
    // A few aliases in a template of ordinary size read as YAML does.
    let text = "name: t\nfields:\n  - key: a\n    messages: &m {required: fill it in}\n  - key: b\n    messages: *m\n";
    let spec = parse_template(text, TemplateSyntax::Yaml).unwrap();
    assert_eq!(spec.fields[1].messages.get("required").map(String::as_str), Some("fill it in"));
    // A `*` inside a pattern is no alias.
    assert!(
        parse_template(
            "name: t\nfields:\n  - key: a\n    validators:\n      - regex: '^a*b*$'\n",
            TemplateSyntax::Yaml
        )
        .is_ok()
    );
}

#[test]
fn a_template_s_dfas_share_one_budget() {
    let pattern = "[a-z]{1,30}x[0-9a-f]{1,30}y[a-z]{1,20}";
    let mut budget = DFA_BUDGET;
    let first = Matcher::new(pattern, &mut budget).unwrap();
    assert!(budget < DFA_BUDGET, "building a DFA takes from the budget");
    // With the budget spent, a pattern is matched by the regex crate alone, and alike.
    let mut spent = PATTERN_LIMIT - 1;
    let later = Matcher::new(pattern, &mut spent).unwrap();
    assert_eq!(spent, PATTERN_LIMIT - 1);
    assert!(later.dfa.is_none());
    for text in ["abcx12y", "x1y", "abc", "zzzxffyq"] {
        assert_eq!(first.is_match(text), later.is_match(text), "{text}");
    }
    // Simple anchored patterns need no DFA.
    let mut untouched = DFA_BUDGET;
    Matcher::new("^[A-Z]{2}$", &mut untouched).unwrap();
    assert_eq!(untouched, DFA_BUDGET);
}

#[test]
fn numbers_a_template_cannot_hold_exactly_are_refused_and_big_integers_kept() {
    let yaml =
        |bound: &str| with_fields(&format!("  - key: a\n    type: decimal\n    validators:\n      - max: {bound}\n"));
    let err = parse_template(&yaml("99999999999999999.99"), TemplateSyntax::Yaml).unwrap_err();
    assert_eq!(err.path, "fields[0].validators[0].max");
    assert!(err.message.contains("reads as 1e17") && err.message.contains("write the value in quotes"), "{err}");
    let spec = parse_template(&yaml("99999999999999999999"), TemplateSyntax::Yaml).unwrap();
    assert_eq!(spec.fields[0].validators[0].max.as_ref().map(|t| t.0.as_str()), Some("99999999999999999999"));
    assert!(parse_template(&yaml("\"99999999999999999.99\""), TemplateSyntax::Yaml).is_ok());
    assert!(parse_template(&yaml("0.5"), TemplateSyntax::Yaml).is_ok());
    // A fraction past the 15 digits a float keeps is not the number written either.
    let err = parse_template(&yaml("123456789.123456789"), TemplateSyntax::Yaml).unwrap_err();
    assert!(err.message.contains("reads as 123456789.12345679"), "{err}");
    let json = r#"{"name": "t", "fields": [{"key": "a", "type": "decimal", "default": 0.12345678901234567}]}"#;
    assert_eq!(parse_template(json, TemplateSyntax::Json).unwrap_err().path, "fields[0].default");
    for fine in ["123456.789012345", "0.000000000000001", "1.5e-7", "100000000000000000000"] {
        assert!(parse_template(&yaml(fine), TemplateSyntax::Yaml).is_ok(), "{fine}");
    }
}

#[test]
fn a_templates_own_numbers_are_read_without_the_locale() {
    let schema = Schema::compile(yaml(
        "name: t\nsettings: {locale: de-DE}\nfields:\n  - {key: price, type: decimal, default: 1.234, validators: [{max: 1.5}]}\n",
    ))
    .unwrap();
    let price = &schema.fields[0];
    assert_eq!(price.default_value.as_ref().map(crate::template::choice_text).as_deref(), Some("1.234"));
    let Check::Max(bound) = &price.validators[0].check else { panic!("a max") };
    assert_eq!(crate::template::choice_text(bound), "1.5");
    // A grouped number is the locale's way of writing cells, not a template's.
    let err = Schema::compile(
        parse_template(
            "name: t\nsettings: {locale: de-DE}\nfields:\n  - {key: n, type: decimal, default: \"1.234,5\"}\n",
            TemplateSyntax::Yaml,
        )
        .unwrap(),
    )
    .unwrap_err();
    assert_eq!(err.path, "fields[0].default");
}

#[test]
fn a_mistyped_key_of_a_choice_is_refused_by_name() {
    let err = parse_template(
        "name: t\nfields:\n  - key: s\n    type: enum\n    values:\n      - {value: active, lable: Active}\n",
        TemplateSyntax::Yaml,
    )
    .unwrap_err();
    assert_eq!(err.path, "fields[0].values[0].lable");
    assert!(err.message.contains("unknown field `lable`"), "{err}");
    let spec = parse_template(
        "name: t\nfields:\n  - key: s\n    type: enum\n    values: [on, 2, {value: 3, label: Three, aliases: [drei]}]\n",
        TemplateSyntax::Yaml,
    )
    .unwrap();
    let values: Vec<&str> = spec.fields[0].values.as_ref().unwrap().iter().map(|c| c.value()).collect();
    assert_eq!(values, ["on", "2", "3"]);
}

#[test]
fn a_byte_order_mark_before_a_template_is_no_part_of_it() {
    for (text, syntax) in [
        ("\u{feff}name: t\nfields: [{key: a}]\n", TemplateSyntax::Yaml),
        ("\u{feff}{\"name\": \"t\", \"fields\": [{\"key\": \"a\"}]}", TemplateSyntax::Json),
    ] {
        assert_eq!(parse_template(text, syntax).unwrap().name, "t");
    }
}

#[test]
fn a_templates_own_dates_are_iso_whatever_the_locale() {
    // `01/02/2024` would be 2 January under en-US and 1 February under de-DE: a bound means one
    // day in every locale, so it is written as ISO.
    for locale in ["en-US", "de-DE"] {
        let text = format!(
            "name: t\nfields:\n  - key: d\n    type: date\n    validators:\n      - {{ max: \"01/02/2024\" }}\nsettings:\n  locale: {locale}\n"
        );
        let err = Schema::compile(yaml(&text)).unwrap_err();
        assert_eq!(err.path, "fields[0].validators[0].max", "{locale}: {err}");
        assert!(err.message.contains("YYYY-MM-DD"), "{locale}: {err}");
        let iso = text.replace("01/02/2024", "2024-02-01");
        Schema::compile(yaml(&iso)).unwrap_or_else(|e| panic!("{locale}: {e}"));
    }
    // A field's own format reads its bounds, as it reads its cells.
    let formatted = "name: t\nfields:\n  - { key: d, type: date, format: '%d/%m/%Y', default: '31/12/2024' }\nsettings:\n  locale: en-US\n";
    Schema::compile(yaml(formatted)).unwrap();
}
