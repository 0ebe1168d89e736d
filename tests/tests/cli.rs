//! The `sluice` command as a person uses it: the README's main job, exit codes, template tools.

use std::path::Path;

use serde_json::Value;
use sluice_tests::{fixture, sluice};

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| json(l.as_bytes())).collect()
}

#[test]
fn the_readme_import_writes_rows_errors_results_and_the_import() {
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().join("out");
    let file = fixture("contacts.csv");
    let template = fixture("contacts.yaml");
    let run = sluice(&[
        "import",
        file.to_str().unwrap(),
        "--template",
        template.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let import = json(&run.stdout);
    assert_eq!(import["status"], "SUCCESSFUL");
    assert_eq!(import["counts"]["rows"], 300);
    assert_eq!(import["counts"]["invalid"], 6);
    assert_eq!(import["detected"]["format"], "csv");
    assert_eq!(import["detected"]["encoding"], "UTF-8");
    assert_eq!(import["progress"], 100);
    assert!(import["id"].as_str().unwrap().starts_with("imp_"));
    assert!(import["mapping"].as_array().unwrap().iter().all(|m| m["method"] == "exact"));

    let rows = lines(&out_dir.join("rows.jsonl"));
    assert_eq!(rows.len(), 294, "REMOVE_INVALID_ROWS keeps the valid rows");
    assert_eq!(rows[0]["line"], 2);
    assert_eq!(rows[0]["values"]["id"], 1);
    assert!(rows[0]["values"]["amount"].is_string(), "decimals travel as exact strings");
    let errors = lines(&out_dir.join("errors.jsonl"));
    assert_eq!(errors.len(), 6);
    assert!(errors.iter().all(|e| e["line"].as_u64().unwrap() > 1 && e["code"].is_string()));
    let results = std::fs::read_to_string(out_dir.join("results.csv")).unwrap();
    assert!(results.starts_with("Code,Message,Severity,LineNumber,Properties,EntityId\r\n"));
    let written = json(&std::fs::read(out_dir.join("import.json")).unwrap());
    assert_eq!(written["id"], import["id"]);
    let summary = String::from_utf8_lossy(&run.stderr);
    assert!(summary.contains("SUCCESSFUL") && summary.contains("300 rows"), "{summary}");
}

#[test]
fn block_submit_exits_2_with_the_reason() {
    let file = fixture("contacts.csv");
    let template = fixture("contacts.yaml");
    let run = sluice(&[
        "import",
        file.to_str().unwrap(),
        "--template",
        template.to_str().unwrap(),
        "--invalid-data",
        "block_submit",
        "--json",
        "--quiet",
    ]);
    assert_eq!(run.status.code(), Some(2));
    let import = json(&run.stdout);
    assert_eq!(import["status"], "NEEDS_REVIEW");
    assert!(import["status_reason"].as_str().unwrap().contains("BLOCK_SUBMIT"));
}

#[test]
fn a_missing_required_column_exits_2_and_a_mapping_fixes_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("people.csv");
    std::fs::write(&file, "code,full_name,mail\n7,Ada,ada@example.com\n").unwrap();
    let template = dir.path().join("people.yaml");
    std::fs::write(
        &template,
        "name: people\nfields:\n  - {key: id, type: integer, required: true}\n  - {key: email, type: email, required: true}\n",
    )
    .unwrap();
    let run = sluice(&["import", file.to_str().unwrap(), "--template", template.to_str().unwrap(), "--json"]);
    assert_eq!(run.status.code(), Some(2));
    let import = json(&run.stdout);
    assert_eq!(import["mapping_problems"][0]["code"], "required_field_unmapped");
    assert!(String::from_utf8_lossy(&run.stderr).contains("--mapping"));

    let run = sluice(&[
        "import",
        file.to_str().unwrap(),
        "--template",
        template.to_str().unwrap(),
        "--mapping",
        "code=id",
        "--mapping",
        "3=email",
        "--json",
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let import = json(&run.stdout);
    assert_eq!(import["counts"]["valid"], 1);
    assert_eq!(import["mapping"][0]["method"], "explicit");
}

#[test]
fn the_summary_names_columns_that_map_to_no_field() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("extra.csv");
    std::fs::write(&csv, "Name,Qty,Shoe size,\nAnn,2,38,\n").unwrap();
    let template = dir.path().join("t.yaml");
    std::fs::write(&template, "name: t\nfields:\n  - {key: name, type: text}\n  - {key: qty, type: integer}\n")
        .unwrap();
    let out = dir.path().join("out");
    let run = sluice(&[
        "import",
        csv.to_str().unwrap(),
        "--template",
        template.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&run.stderr);
    // The blank header of a trailing comma holds nothing to name.
    assert!(stderr.contains("  1 column maps to no field: 3 \"Shoe size\" (map one with"), "{stderr}");
    assert_eq!(lines(&out.join("rows.jsonl"))[0]["values"], serde_json::json!({"name": "Ann", "qty": 2}));
}

#[test]
fn usage_errors_exit_64_and_say_what_is_wrong() {
    let template = fixture("contacts.yaml");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["import"], "required"),
        (vec!["import", "nope.csv", "--template", template.to_str().unwrap()], "nope.csv"),
        (vec!["import", "tests/fixtures/contacts.csv", "--template", "missing.yaml"], "missing.yaml"),
        (
            vec![
                "import",
                "tests/fixtures/contacts.csv",
                "--template",
                template.to_str().unwrap(),
                "--invalid-data",
                "sometimes",
            ],
            "--invalid-data",
        ),
        (
            vec![
                "import",
                "tests/fixtures/contacts.csv",
                "--template",
                template.to_str().unwrap(),
                "--mapping",
                "oops",
            ],
            "HEADER=KEY",
        ),
        (
            vec![
                "import",
                "tests/fixtures/contacts.csv",
                "--template",
                template.to_str().unwrap(),
                "--mapping",
                "email=email",
                "--mapping",
                "email=notes",
            ],
            "\"email\" is mapped twice, to email and to notes",
        ),
        (
            vec![
                "import",
                "tests/fixtures/contacts.csv",
                "--template",
                template.to_str().unwrap(),
                "--delimiter",
                ",,",
            ],
            "--delimiter: must be one ASCII character",
        ),
        (
            vec!["import", "tests/fixtures/contacts.csv", "--template", template.to_str().unwrap(), "--delimiter", ""],
            "--delimiter: must be one ASCII character such as , ; | or \\t, got \"\"",
        ),
        (
            vec![
                "import",
                "tests/fixtures/contacts.csv",
                "--template",
                template.to_str().unwrap(),
                "--encoding",
                "bogus",
            ],
            "--encoding: unknown encoding \"bogus\"",
        ),
        (
            vec![
                "import",
                "tests/fixtures/contacts.csv",
                "--template",
                template.to_str().unwrap(),
                "--chunk-rows",
                "0",
            ],
            "--chunk-rows: must be between 1",
        ),
        (
            vec![
                "import",
                "tests/fixtures/contacts.csv",
                "--template",
                template.to_str().unwrap(),
                "--null-value",
                " ",
            ],
            "--null-value: an empty marker",
        ),
        (
            vec!["import", "tests/fixtures/contacts.csv", "--template", template.to_str().unwrap(), "--workers", "0"],
            "--workers: must be between 1 and 1024",
        ),
        (
            vec![
                "import",
                "tests/fixtures/contacts.csv",
                "--template",
                template.to_str().unwrap(),
                "--mapping",
                "0=email",
            ],
            "columns are numbered from 1",
        ),
        (
            vec![
                "import",
                "tests/fixtures/contacts.csv",
                "--template",
                template.to_str().unwrap(),
                "--mapping",
                "=email",
            ],
            "name a header or a column number",
        ),
        (
            vec![
                "import",
                "tests/fixtures/contacts.csv",
                "--template",
                template.to_str().unwrap(),
                "--mapping",
                "Mail=nokey",
            ],
            "the template has no field \"nokey\"",
        ),
        (
            vec![
                "import",
                "tests/fixtures/contacts.csv",
                "--template",
                template.to_str().unwrap(),
                "--data-dir",
                "Cargo.toml",
            ],
            "--data-dir Cargo.toml: not a directory",
        ),
        (vec!["import", "-", "--template", template.to_str().unwrap()], "reading from standard input is not supported"),
        (vec!["frobnicate"], "unrecognized"),
    ];
    for (args, says) in cases {
        let run = sluice(&args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(64), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?} should mention {says:?}: {stderr}");
    }
    // A directory, or a template larger than the API takes (or endless), is refused without
    // reading past the limit (by `template check` as an unusable template, exit 1).
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    std::fs::write(&big, format!("name: big\n#{}\nfields:\n  - key: a\n", "x".repeat(1 << 20))).unwrap();
    let cases = [
        ("tests/fixtures", "is a directory"),
        (big.to_str().unwrap(), "larger than 1024 KiB"),
        ("/dev/zero", "larger than 1024 KiB"),
    ];
    for (template, says) in cases {
        let import = vec!["import", "tests/fixtures/contacts.csv", "--template", template];
        for (args, code) in [(import, 64), (vec!["template", "check", template], 1)] {
            let run = sluice(&args);
            let stderr = String::from_utf8_lossy(&run.stderr);
            assert_eq!(run.status.code(), Some(code), "{args:?}: {stderr}");
            assert!(stderr.contains(says), "{args:?} should mention {says:?}: {stderr}");
        }
    }
    assert_eq!(sluice(&["--help"]).status.code(), Some(0));
}

#[test]
fn null_markers_from_the_template_or_the_command_line_read_as_empty_cells() {
    let dir = tempfile::tempdir().unwrap();
    // As MySQL's SELECT ... INTO OUTFILE writes NULL, and a spreadsheet's #N/A.
    let file = dir.path().join("export.csv");
    std::fs::write(&file, "id,name,joined\n1,Ann,\\N\n2,\\N,2024-01-31\n3,#N/A,\\N\n").unwrap();
    let template = dir.path().join("t.yaml");
    let fields = "name: t\nfields:\n  - key: id\n    type: integer\n  - key: name\n  - key: joined\n    type: date\n";
    std::fs::write(&template, format!("{fields}settings:\n  null_values: ['\\N']\n")).unwrap();
    let import = |extra: &[&str]| {
        let out = dir.path().join("out");
        let mut args = vec!["import", file.to_str().unwrap(), "--template", template.to_str().unwrap()];
        args.extend(["--out", out.to_str().unwrap(), "--invalid-data", "INCLUDE_INVALID_ROWS"]);
        args.extend(extra);
        let run = sluice(&args);
        assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
        lines(&out.join("rows.jsonl")).into_iter().map(|r| r["values"].clone()).collect::<Vec<_>>()
    };
    let rows = import(&[]);
    assert_eq!(rows[0], serde_json::json!({"id": 1, "name": "Ann", "joined": null}));
    assert_eq!(rows[1], serde_json::json!({"id": 2, "name": null, "joined": "2024-01-31"}));
    assert_eq!(rows[2], serde_json::json!({"id": 3, "name": "#N/A", "joined": null}));
    // The command line's markers replace the template's.
    let rows = import(&["--null-value", "#N/A", "--null-value", "\\N"]);
    assert_eq!(rows[2], serde_json::json!({"id": 3, "name": null, "joined": null}));
    let rows = import(&["--null-value", "#N/A"]);
    assert_eq!(rows[0]["joined"], "\\N", "{rows:?}");
    // A marker that starts with a hyphen is the option's value, not another option.
    let rows = import(&["--null-value", "-999", "--null-value", "\\N"]);
    assert_eq!(rows[0], serde_json::json!({"id": 1, "name": "Ann", "joined": null}));

    // `template infer` finds `\N` among dates, and its template imports the file clean.
    let run = sluice(&["template", "infer", file.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    std::fs::write(&template, &run.stdout).unwrap();
    let rows = import(&[]);
    assert_eq!(std::fs::read_to_string(dir.path().join("out/errors.jsonl")).unwrap(), "");
    assert_eq!(rows[0], serde_json::json!({"id": 1, "name": "Ann", "joined": null}));
    assert_eq!(rows[1], serde_json::json!({"id": 2, "name": null, "joined": "2024-01-31"}));
}

/// Imports `csv` with a template of `fields` under REMOVE_INVALID_ROWS, a chunk per row, and
/// returns the directory holding the outputs (under `out`), after checking it succeeded.
fn import_removing_invalid_rows(csv: &str, fields: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rows.csv");
    std::fs::write(&file, csv).unwrap();
    let template = dir.path().join("t.yaml");
    std::fs::write(
        &template,
        format!("name: t\nfields:\n{fields}settings:\n  invalid_data_behavior: REMOVE_INVALID_ROWS\n"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = sluice(
        &["import", file.to_str().unwrap(), "--template", template.to_str().unwrap()]
            .into_iter()
            .chain(["--out", out.to_str().unwrap(), "--chunk-rows", "1"])
            .collect::<Vec<_>>(),
    );
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    dir
}

#[test]
fn a_row_with_an_error_does_not_take_a_unique_value_from_the_valid_row_after_it() {
    let dir = import_removing_invalid_rows(
        "id,amt\n1,bad\n1,5\n2,6\n1,7\n",
        "  - {key: id, type: integer, unique: true}\n  - {key: amt, type: decimal}\n",
    );
    let out = dir.path().join("out");
    let kept: Vec<(u64, u64)> = lines(&out.join("rows.jsonl"))
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["values"]["id"].as_u64().unwrap()))
        .collect();
    assert_eq!(kept, [(3, 1), (4, 2)], "id 1 is delivered once, by its first valid row");
    let errors: Vec<(u64, String, String)> = lines(&out.join("errors.jsonl"))
        .iter()
        .map(|e| {
            (e["line"].as_u64().unwrap(), e["code"].as_str().unwrap().into(), e["message"].as_str().unwrap().into())
        })
        .collect();
    assert_eq!(
        errors[1],
        (2, "not_unique".into(), "id '1' also appears at line 3, which keeps it as the first valid row".into()),
        "{errors:?}"
    );
    assert_eq!(errors[2], (5, "not_unique".into(), "id '1' already appears at line 3".into()), "{errors:?}");
}

#[test]
fn a_row_that_repeats_one_unique_value_does_not_take_another_from_a_later_row() {
    let dir = import_removing_invalid_rows(
        "id,email\n1,a@x.io\n1,b@x.io\n2,b@x.io\n3,c@x.io\n",
        "  - {key: id, type: integer, unique: true}\n  - {key: email, type: email, unique: true}\n",
    );
    let out = dir.path().join("out");
    let kept: Vec<(u64, String)> = lines(&out.join("rows.jsonl"))
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["values"]["email"].as_str().unwrap().into()))
        .collect();
    // Line 3 repeats id 1, so it is dropped and keeps nothing: b@x.io is delivered by line 4.
    assert_eq!(kept, [(2, "a@x.io".into()), (4, "b@x.io".into()), (5, "c@x.io".into())]);
}

#[test]
fn the_outputs_never_overwrite_the_input_and_a_link_to_it_imports() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("results.csv");
    std::fs::copy(fixture("contacts.csv"), &input).unwrap();
    let template = fixture("contacts.yaml");
    let run = sluice(&[
        "import",
        input.to_str().unwrap(),
        "--template",
        template.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(64), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stderr).contains("would overwrite the input results.csv"));
    assert_eq!(std::fs::read(&input).unwrap(), std::fs::read(fixture("contacts.csv")).unwrap());
    // A relative link, from another directory: the store keeps the file it names.
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let link = dir.path().join("sub/link.csv");
    std::os::unix::fs::symlink("../results.csv", &link).unwrap();
    let run = sluice(&["import", link.to_str().unwrap(), "--template", template.to_str().unwrap(), "--quiet"]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(run.stderr.is_empty(), "--quiet: {}", String::from_utf8_lossy(&run.stderr));
    // Quiet, a failed import still says why.
    let broken = dir.path().join("broken.csv");
    let header = std::fs::read_to_string(fixture("contacts.csv")).unwrap().lines().next().unwrap().to_string();
    std::fs::write(&broken, format!("{header}\n1,\"never closed\n")).unwrap();
    let run = sluice(&["import", broken.to_str().unwrap(), "--template", template.to_str().unwrap(), "--quiet"]);
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.starts_with("FAILED  broken.csv: ") && stderr.contains("line 2"), "{stderr}");
    assert!(!stderr.contains("broken.csv: broken.csv"), "the file is named once: {stderr}");
}

#[test]
fn template_check_names_the_path_of_the_fault() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "name: t\nfields:\n  - {key: a, type: text}\n  - {key: b, type: text}\n  - {key: c, type: text}\n  - {key: d, type: text, validators: [{regex: '(unclosed'}]}\n",
    )
    .unwrap();
    let run = sluice(&["template", "check", broken.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("fields[3].validators[0].regex"), "{stderr}");

    let run = sluice(&["template", "check", fixture("contacts.yaml").to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&run.stdout).contains("11 fields"));
    assert!(run.stderr.is_empty(), "{}", String::from_utf8_lossy(&run.stderr));

    // Usable, with a warning: a default on a unique field makes every empty cell after the
    // first a duplicate.
    let shared = dir.path().join("shared_default.yaml");
    std::fs::write(
        &shared,
        "name: t\nfields:\n  - {key: a, type: text}\n  - {key: code, type: text, unique: exact, default: X}\n",
    )
    .unwrap();
    let run = sluice(&["template", "check", shared.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("warning: fields[1] (code): a unique field with the default \"X\""), "{stderr}");
}

#[test]
fn template_csv_prints_the_blank_header_row() {
    let run = sluice(&["template", "csv", fixture("contacts.yaml").to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "ID,First name,Last name,Email,Phone,Signup date,Amount,Status,Active,Country,Notes\r\n"
    );
}

#[test]
fn template_infer_gives_a_template_that_imports_its_own_file() {
    let run = sluice(&["template", "infer", fixture("contacts.csv").to_str().unwrap(), "--json"]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let inferred = json(&run.stdout);
    let types: Vec<(&str, &str)> = inferred["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["key"].as_str().unwrap(), f["type"].as_str().unwrap_or("text")))
        .collect();
    assert_eq!(types[0], ("id", "text"), "one id of the sample is '69a', so ids are text");
    assert_eq!(types[3], ("email", "email"));
    assert_eq!(types[5], ("signup_date", "date"));
    assert_eq!(types[6], ("amount", "decimal"));
    assert_eq!(types[7], ("status", "enum"));
    assert_eq!(types[8], ("is_active", "boolean"));
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("inferred.json");
    std::fs::write(&template, &run.stdout).unwrap();
    let run = sluice(&["template", "check", template.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
}

#[test]
fn template_infer_says_when_the_file_has_more_rows_than_it_read_and_reads_utf16_json() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("zips.csv");
    std::fs::write(&csv, "id,zip\n1,10001\n2,10002\n3,02134\n").unwrap();
    let run = sluice(&["template", "infer", csv.to_str().unwrap(), "--rows", "2"]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("comes from the first 2 rows, and the file has more"), "{stderr}");
    let run = sluice(&["template", "infer", csv.to_str().unwrap(), "--rows", "3"]);
    assert!(!String::from_utf8_lossy(&run.stderr).contains("the file has more"));
    // UTF-16 JSON, as PowerShell writes it, read as an import reads it.
    let json_file = dir.path().join("people.json");
    let text = "[{\"id\": 1, \"name\": \"Zoë\"}]";
    let bytes: Vec<u8> = [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect();
    std::fs::write(&json_file, bytes).unwrap();
    let run = sluice(&["template", "infer", json_file.to_str().unwrap(), "--json"]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(json(&run.stdout)["fields"][1]["key"], "name");
    // A workbook's sheet is chosen as an import chooses it; a sample of no rows is refused.
    let book = fixture("bad/instructions_first.xlsx");
    let run = sluice(&["template", "infer", book.to_str().unwrap(), "--sheet", "People", "--json"]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(json(&run.stdout)["fields"][0]["key"], "id");
    assert_eq!(sluice(&["template", "infer", book.to_str().unwrap(), "--rows", "0"]).status.code(), Some(64));
    // Numbers a spreadsheet does not store exactly, which the import would refuse, are named.
    let big = fixture("bad/big_whole_numbers.xlsx");
    let run = sluice(&["template", "infer", big.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&run.stderr).contains("note: column 2 holds numbers of 9007199254740992 or more"));
}

#[test]
fn template_infer_lists_enum_values_only_from_the_whole_file() {
    // Sorted by region: the first rows show one region only, the rest others.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("regions.csv");
    let rows: String = (1..=60).map(|i| format!("{i},{}\n", if i <= 40 { "North" } else { "South" })).collect();
    std::fs::write(&csv, format!("id,region\n{rows}")).unwrap();
    let run = sluice(&["template", "infer", csv.to_str().unwrap(), "--rows", "30", "--json"]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(json(&run.stdout)["fields"][1]["type"], "text");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("region repeat a few values in those rows"), "{stderr}");
    // Its template imports the whole file.
    let template = dir.path().join("inferred.json");
    std::fs::write(&template, &run.stdout).unwrap();
    let run = sluice(&["import", csv.to_str().unwrap(), "--template", template.to_str().unwrap(), "--json"]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    // Read whole, the column is an enum of both.
    let run = sluice(&["template", "infer", csv.to_str().unwrap(), "--json"]);
    let inferred = json(&run.stdout);
    assert_eq!(inferred["fields"][1]["type"], "enum");
    assert_eq!(inferred["fields"][1]["values"], serde_json::json!(["North", "South"]));
}

#[test]
fn template_infer_passes_over_a_title_and_its_template_imports_the_file() {
    for file in ["bad/report_title_block.csv", "bad/report_title_semicolon.csv", "bad/title_above_header.xlsx"] {
        let file = fixture(file);
        let run = sluice(&["template", "infer", file.to_str().unwrap(), "--json"]);
        assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
        let inferred = json(&run.stdout);
        let keys: Vec<&str> =
            inferred["fields"].as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap()).collect();
        assert_eq!(keys, ["id", "name", "amount"], "{}: the title is not the header", file.display());
        let dir = tempfile::tempdir().unwrap();
        let template = dir.path().join("inferred.json");
        std::fs::write(&template, &run.stdout).unwrap();
        let run = sluice(&["import", file.to_str().unwrap(), "--template", template.to_str().unwrap(), "--json"]);
        assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
        assert_eq!(json(&run.stdout)["counts"]["valid"], 2, "{}", file.display());
    }
}

#[test]
fn template_infer_says_how_to_map_a_repeated_header_and_its_template_then_imports_the_file() {
    // A header written twice, twice but for case, and two that import maps alike.
    let cases = [
        ("Name,Amount,Name", "the header \"Name\" is on columns 1 and 3", ["1=name", "3=name_2"]),
        ("id,Amount,ID", "the headers \"id\" (column 1), \"ID\" (column 3) read as the same name", ["1=id", "3=id_2"]),
        (
            "First Name,Amount,first_name",
            "the headers \"First Name\" (column 1), \"first_name\" (column 3) read as the same name",
            ["1=first_name", "3=first_name_2"],
        ),
    ];
    for (header, note, mapping) in cases {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("names.csv");
        std::fs::write(&file, format!("{header}\nAnn,1.5,Smith\nBob,2,Jones\n")).unwrap();
        let run = sluice(&["template", "infer", file.to_str().unwrap()]);
        assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
        let stderr = String::from_utf8_lossy(&run.stderr);
        let given = format!("--mapping {} --mapping {}", mapping[0], mapping[1]);
        assert!(stderr.contains(note) && stderr.contains(&given), "{header}: {stderr}");
        let template = dir.path().join("names.yaml");
        std::fs::write(&template, &run.stdout).unwrap();
        let check = sluice(&["template", "check", template.to_str().unwrap()]);
        assert_eq!(check.status.code(), Some(0), "{header}: {}", String::from_utf8_lossy(&check.stderr));
        let import = |extra: &[&str]| {
            let mut args = vec!["import", file.to_str().unwrap(), "--template", template.to_str().unwrap(), "--json"];
            args.extend_from_slice(extra);
            sluice(&args)
        };
        // Without the mapping the columns need a person; with the one the note gives, the file
        // imports.
        assert_eq!(import(&[]).status.code(), Some(2), "{header}");
        let run = import(&["--mapping", mapping[0], "--mapping", mapping[1]]);
        assert_eq!(run.status.code(), Some(0), "{header}: {}", String::from_utf8_lossy(&run.stderr));
        assert_eq!(json(&run.stdout)["counts"]["valid"], 2, "{header}");
    }
}

#[test]
fn template_infer_types_date_cells_of_a_sheet_as_dates() {
    // The whole sheet read, and a sample cut short (`--rows 1`), in either date system.
    for (file, rows) in [("bad/valid.xlsx", "1000"), ("bad/dates_1904.xlsx", "1000"), ("bad/dates_1904.xlsx", "1")] {
        let file = fixture(file);
        let run = sluice(&["template", "infer", file.to_str().unwrap(), "--rows", rows, "--json"]);
        assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
        let inferred = json(&run.stdout);
        let fields = inferred["fields"].as_array().unwrap();
        let date = fields.iter().find(|f| ["joined", "day"].contains(&f["key"].as_str().unwrap())).unwrap();
        assert_eq!(date["type"], "date", "{} --rows {rows}: {date}", file.display());
    }
}

#[test]
fn template_infer_reads_an_excel_separator_hint_as_an_import_does() {
    let file = fixture("bad/excel_sep_hint.csv");
    let run = sluice(&["template", "infer", file.to_str().unwrap(), "--json"]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let inferred = json(&run.stdout);
    let keys: Vec<&str> = inferred["fields"].as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["id", "name", "amount"], "the sep=; line is not the header");
}

#[test]
fn template_infer_names_the_locale_a_file_is_written_in_and_its_template_imports_it() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "us.csv",
            "id,signed,amount,at\r\n1,12/31/2024,\"1,234.56\",1/19/2024 10:30 PM\r\n2,1/5/2024,7.5,2/1/2024 9:05 AM\r\n",
            "en-US",
        ),
        ("de.csv", "id;datum;betrag\r\n1;31.12.2024;1.234,56\r\n2;05.01.2024;12,5\r\n", "de-DE"),
    ];
    for (name, text, locale) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        let run = sluice(&["template", "infer", file.to_str().unwrap(), "--json"]);
        assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
        let inferred = json(&run.stdout);
        assert_eq!(inferred["settings"]["locale"], locale, "{name}");
        let types: Vec<&str> =
            inferred["fields"].as_array().unwrap().iter().map(|f| f["type"].as_str().unwrap()).collect();
        assert_eq!(types[1..3], ["date", "decimal"], "{name}");
        let template = dir.path().join(format!("{name}.json"));
        std::fs::write(&template, &run.stdout).unwrap();
        let out = dir.path().join(format!("{name}.out"));
        let run = sluice(&[
            "import",
            file.to_str().unwrap(),
            "--template",
            template.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
        assert_eq!(json(&run.stdout)["counts"]["valid"], 2, "{name}");
        let rows = std::fs::read_to_string(out.join("rows.jsonl")).unwrap();
        let first = json(rows.lines().next().unwrap().as_bytes());
        assert_eq!(
            first["values"]["amount"].as_str().or(first["values"]["betrag"].as_str()),
            Some("1234.56"),
            "{name}"
        );
    }
}

/// `--workers 1` once waited for ever on a sheet or a JSON file: the split, blocking its
/// worker, wrote chunks through a blocking pool that had no thread left. Each run is given a
/// minute before it counts as hung.
#[test]
fn one_worker_imports_a_sheet_and_a_json_file() {
    for file in ["bad/valid.xlsx", "bad/rows.json"] {
        let out = tempfile::tempdir().unwrap();
        let path = fixture(file);
        let template = fixture("bad/people.yaml");
        let mut child = std::process::Command::new(sluice_tests::sluice_binary())
            .args(["import", path.to_str().unwrap(), "--template", template.to_str().unwrap()])
            .args(["--workers", "1", "--out", out.path().to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > std::time::Duration::from_secs(60) {
                child.kill().unwrap();
                panic!("{file} with --workers 1 did not finish within a minute");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(0), "{file}");
        assert!(!lines(&out.path().join("rows.jsonl")).is_empty(), "{file}");
    }
}

#[test]
fn a_sheet_given_for_a_text_file_is_named_as_unused() {
    let template = fixture("contacts.yaml");
    let run =
        sluice(&["import", "tests/fixtures/contacts.csv", "--template", template.to_str().unwrap(), "--sheet", "2"]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("--sheet \"2\" was not used"), "{stderr}");
    // So are a text file's options given for JSON.
    let (bad, people) = ("tests/fixtures/bad/rows.json", "tests/fixtures/bad/people.yaml");
    let args = ["import", bad, "--template", people, "--delimiter", ";", "--encoding", "latin1", "--header-row", "2"];
    let run = sluice(&args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    for flag in ["--delimiter \";\"", "--encoding \"latin1\"", "--header-row \"2\""] {
        assert!(stderr.contains(&format!("note: {flag} was not used")), "{flag}: {stderr}");
    }
}
