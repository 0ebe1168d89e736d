//! The bad-input corpus: every file under `tests/fixtures/bad/` goes through the `sluice` binary
//! and is held to the outcome `expected.json` promises for it, and to the rules every import keeps
//! whatever its input: no panic, an exit code that matches the status, a FAILED import with a
//! reason and no rows, every error on a line, no formula left live in `results.csv`.
//!
//! The binary belongs to package `sluice-local`, so Cargo does not build it for this package's
//! tests: [`sluice_tests::sluice_binary`] takes it from this test's build directory
//! (`target/<profile>/sluice`) and builds it there when it is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use sluice_tests::fixture;

/// How long one import may take before it counts as hung (the slowest cases retry a few times).
const TIMEOUT: Duration = Duration::from_secs(120);

/// Files of the corpus directory that are not inputs.
const NOT_INPUTS: &[&str] = &["expected.json", "make_text.py", "make_xlsx.py"];

fn corpus(name: &str) -> PathBuf {
    fixture("bad").join(name)
}

/// The `sluice` binary of this test's profile (built once if missing), looked up once.
fn sluice_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(sluice_tests::sluice_binary)
}

/// Runs `sluice` with `args`, killing it when it outlives [`TIMEOUT`].
fn run_sluice(args: &[&std::ffi::OsStr]) -> Result<Output, String> {
    let mut child = Command::new(sluice_binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start sluice: {e}"))?;
    // Drain the pipes while waiting, so a chatty process cannot block on a full pipe.
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let started = Instant::now();
    let status = loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(status) => break status,
            None if started.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("sluice did not finish within {TIMEOUT:?}"));
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    let collect = |h: Option<std::thread::JoinHandle<Vec<u8>>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
    Ok(Output { status, stdout: collect(stdout), stderr: collect(stderr) })
}

fn drain(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// The corpus and its promises.
fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(corpus("expected.json")).expect("expected.json is readable");
    let doc: Value = serde_json::from_str(&text).expect("expected.json is JSON");
    doc["cases"].as_array().expect("expected.json has a cases array").clone()
}

fn text<'a>(case: &'a Value, key: &str) -> &'a str {
    case[key].as_str().unwrap_or_else(|| panic!("case {} has no {key}", case["name"]))
}

/// What one run of one case left behind.
struct Outcome {
    output: Output,
    import: Value,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl Outcome {
    fn file(&self, name: &str) -> Option<String> {
        std::fs::read(self.out.join(name)).ok().map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    fn json_lines(&self, name: &str) -> Result<Option<Vec<Value>>, String> {
        let Some(text) = self.file(name) else { return Ok(None) };
        text.lines()
            .enumerate()
            .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("{name} line {}: not JSON ({e})", i + 1)))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

fn import_case(case: &Value) -> Result<Outcome, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let out = dir.path().join("out");
    let file = corpus(text(case, "file"));
    let template = corpus(text(case, "template"));
    let mut args: Vec<std::ffi::OsString> = vec![
        "import".into(),
        file.into_os_string(),
        "--template".into(),
        template.into_os_string(),
        "--out".into(),
        out.clone().into_os_string(),
        "--json".into(),
    ];
    args.extend(case["args"].as_array().into_iter().flatten().filter_map(Value::as_str).map(Into::into));
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let output = run_sluice(&args)?;
    let import = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    Ok(Outcome { output, import, out, _dir: dir })
}

/// Checks one case; returns what is wrong with it.
fn check_case(case: &Value) -> Vec<String> {
    let outcome = match import_case(case) {
        Ok(o) => o,
        Err(e) => return vec![e],
    };
    let mut problems = Vec::new();
    let stderr = String::from_utf8_lossy(&outcome.output.stderr);
    if stderr.contains("panicked") {
        let at = stderr.find("panicked").unwrap_or(0);
        problems.push(format!("panicked: {}", stderr[at..].lines().take(2).collect::<Vec<_>>().join(" ")));
    }
    let code = outcome.output.status.code();
    if code != case["exit"].as_i64().map(|c| c as i32) {
        problems.push(format!("exit code {code:?}, expected {}", case["exit"]));
    }
    if outcome.import.is_null() {
        problems.push(format!("no import JSON on stdout; stderr: {}", clip(&stderr)));
        return problems;
    }
    check_rules(case, &outcome, &mut problems);
    check_expectations(case, &outcome, &mut problems);
    problems
}

/// The rules every import keeps, whatever its input.
fn check_rules(case: &Value, outcome: &Outcome, problems: &mut Vec<String>) {
    let import = &outcome.import;
    let status = import["status"].as_str().unwrap_or_default();
    let exit_for_status = match status {
        "SUCCESSFUL" => Some(0),
        "NEEDS_REVIEW" => Some(2),
        _ => Some(1),
    };
    if outcome.output.status.code() != exit_for_status {
        problems.push(format!("exit code {:?} does not match status {status}", outcome.output.status.code()));
    }
    let rows_file = outcome.out.join("rows.jsonl");
    if status == "FAILED" {
        if import["status_reason"].as_str().is_none_or(str::is_empty) {
            problems.push("a FAILED import without a status_reason".into());
        }
        if rows_file.exists() {
            problems.push("a FAILED import has a rows.jsonl in --out".into());
        }
        if let Some(failure) = import["failure"].as_object() {
            if failure.get("file").and_then(Value::as_str) != Some(text(case, "file")) {
                problems.push(format!("the failure does not name the file: {:?}", failure.get("file")));
            }
            let message = failure.get("message").and_then(Value::as_str).unwrap_or_default();
            if message.is_empty() || !import["status_reason"].as_str().unwrap_or_default().contains(message) {
                problems.push(format!("the status_reason does not carry the failure message {message:?}"));
            }
            // A file-level failure produces no results at all, not half of them.
            for name in ["errors.jsonl", "results.csv"] {
                if outcome.out.join(name).exists() {
                    problems.push(format!("a file-level failure left {name} in --out"));
                }
            }
        }
    } else if !import["failure"].is_null() {
        problems.push(format!("a {status} import carries a failure: {}", import["failure"]));
    }
    if !outcome.out.join("import.json").exists() {
        problems.push("no import.json in --out".into());
    }
    let counts = &import["counts"];
    if counts["rows"].as_u64() != Some(counts["valid"].as_u64().unwrap_or(0) + counts["invalid"].as_u64().unwrap_or(0))
    {
        problems.push(format!("counts do not add up: {counts}"));
    }
    match outcome.json_lines("errors.jsonl") {
        Err(e) => problems.push(e),
        Ok(errors) => {
            for e in errors.iter().flatten() {
                if e["line"].as_u64().is_none_or(|l| l == 0) {
                    problems.push(format!("an error without a line: {e}"));
                }
                if e["code"].as_str().is_none_or(str::is_empty) || e["message"].as_str().is_none_or(str::is_empty) {
                    problems.push(format!("an error without a code or message: {e}"));
                }
            }
        }
    }
    match outcome.json_lines("rows.jsonl") {
        Err(e) => problems.push(e),
        Ok(None) => {}
        Ok(Some(rows)) => {
            if rows.iter().any(|r| r["line"].as_u64().is_none()) {
                problems.push("a row in rows.jsonl without a line".into());
            }
            let declared = import["results"]["row_count"].as_u64();
            if declared != Some(rows.len() as u64) {
                problems.push(format!("rows.jsonl holds {} rows, results.row_count says {declared:?}", rows.len()));
            }
        }
    }
    if let Some(results) = outcome.file("results.csv") {
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(results.as_bytes());
        for record in reader.records() {
            match record {
                Ok(record) => {
                    for cell in record.iter() {
                        if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                            problems.push(format!("results.csv has a live formula cell: {cell:?}"));
                        }
                    }
                }
                Err(e) => problems.push(format!("results.csv is not CSV: {e}")),
            }
        }
    }
}

/// The promises of one case.
fn check_expectations(case: &Value, outcome: &Outcome, problems: &mut Vec<String>) {
    let import = &outcome.import;
    if import["status"] != case["status"] {
        problems
            .push(format!("status {} ({}), expected {}", import["status"], import["status_reason"], case["status"]));
    }
    check_failure(case.get("failure"), &import["failure"], problems);
    if let Some(fragment) = case["reason_contains"].as_str()
        && !import["status_reason"].as_str().unwrap_or_default().contains(fragment)
    {
        problems.push(format!("status_reason {} lacks {fragment:?}", import["status_reason"]));
    }
    if let Some(counts) = case["counts"].as_object() {
        for (key, want) in counts {
            if &import["counts"][key] != want {
                problems.push(format!("counts.{key} = {}, expected {want}", import["counts"][key]));
            }
        }
    }
    if let Some(detected) = case["detected"].as_object() {
        compare_fields("detected", detected, &normalized_detected(&import["detected"]), problems);
    }
    if let Some(split) = case["split"].as_object() {
        let mut actual = import["split"].as_object().cloned().unwrap_or_default();
        actual.entry("exact").or_insert(Value::Bool(false));
        compare_fields("split", split, &Value::Object(actual), problems);
    }
    let problem_codes: Vec<Value> =
        import["mapping_problems"].as_array().into_iter().flatten().map(|p| p["code"].clone()).collect();
    let expected_codes = case["mapping_problems"].as_array().cloned().unwrap_or_default();
    if problem_codes != expected_codes {
        problems.push(format!("mapping problems {problem_codes:?}, expected {expected_codes:?}"));
    }
    if !problem_codes.is_empty() && outcome.out.join("rows.jsonl").exists() {
        problems.push("an import waiting for a mapping already wrote rows.jsonl".into());
    }

    let errors: Vec<Value> = match outcome.json_lines("errors.jsonl") {
        Ok(errors) => errors.unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let expected_errors = case["errors"].as_array().cloned().unwrap_or_default();
    let shown: Vec<Value> = errors
        .iter()
        .zip(expected_errors.iter().map(Some).chain(std::iter::repeat(None)))
        .map(|(e, want)| {
            let mut shape = serde_json::json!({"line": e["line"], "column": e["column"], "code": e["code"]});
            if want.is_some_and(|w| w.get("sheet").is_some()) {
                shape["sheet"] = e["sheet"].clone();
            }
            // A part the message must hold: kept when it does, the whole message shown when not.
            if let Some(part) = want.and_then(|w| w.get("message_contains")).and_then(Value::as_str) {
                let message = e["message"].as_str().unwrap_or_default();
                shape["message_contains"] = Value::from(if message.contains(part) { part } else { message });
            }
            shape
        })
        .collect();
    if shown != expected_errors {
        problems.push(format!("errors.jsonl holds {}, expected {}", Value::from(shown), Value::from(expected_errors)));
    }

    let rows = outcome.json_lines("rows.jsonl").ok().flatten();
    if let Some(lines) = case["row_lines"].as_array() {
        let actual: Vec<Value> = rows.iter().flatten().map(|r| r["line"].clone()).collect();
        if rows.is_none() {
            problems.push("no rows.jsonl".into());
        } else if &actual != lines {
            problems.push(format!(
                "rows.jsonl has lines {}, expected {}",
                Value::from(actual),
                Value::from(lines.clone())
            ));
        }
    }
    for want in case["rows"].as_array().into_iter().flatten() {
        match rows.iter().flatten().find(|r| r["line"] == want["line"]) {
            None => problems.push(format!("no row at line {} in rows.jsonl", want["line"])),
            Some(row) => {
                for (key, value) in want["values"].as_object().into_iter().flatten() {
                    if &row["values"][key] != value {
                        problems.push(format!(
                            "line {}: {key} is {}, expected {value}",
                            want["line"],
                            clip(&row["values"][key].to_string())
                        ));
                    }
                }
            }
        }
    }
    let results = outcome.file("results.csv").unwrap_or_default();
    for line in case["results_csv_contains"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if !results.contains(line) {
            problems.push(format!("results.csv lacks {line:?}"));
        }
    }
    for line in case["results_csv_lacks"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if results.contains(line) {
            problems.push(format!("results.csv holds {line:?}"));
        }
    }
    if let Some(expected) = case["results_csv_lines"].as_u64()
        && results.lines().count() as u64 != expected
    {
        problems.push(format!("results.csv has {} lines, expected {expected}", results.lines().count()));
    }
}

fn check_failure(expected: Option<&Value>, actual: &Value, problems: &mut Vec<String>) {
    let expected = expected.unwrap_or(&Value::Null);
    if expected.is_null() {
        if !actual.is_null() {
            problems.push(format!("unexpected failure {actual}"));
        }
        return;
    }
    if actual.is_null() {
        problems.push(format!("no failure, expected {}", expected["code"]));
        return;
    }
    for key in ["code", "line", "column", "sheet"] {
        let want = expected.get(key).unwrap_or(&Value::Null);
        let got = actual.get(key).unwrap_or(&Value::Null);
        if want != got {
            problems.push(format!("failure.{key} = {got}, expected {want} ({})", actual["message"]));
        }
    }
    let message = actual["message"].as_str().unwrap_or_default();
    for part in expected["message_contains"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if !message.contains(part) {
            problems.push(format!("failure message {message:?} lacks {part:?}"));
        }
    }
}

/// `detected` with the values the import view leaves out written in.
fn normalized_detected(detected: &Value) -> Value {
    let mut map = detected.as_object().cloned().unwrap_or_default();
    map.entry("encoding_detected").or_insert(Value::Bool(false));
    map.entry("invalid_byte_sequences").or_insert(Value::from(0));
    map.entry("headers").or_insert(Value::Array(Vec::new()));
    Value::Object(map)
}

/// Compares the listed keys; `null` expects the key to be absent.
fn compare_fields(what: &str, expected: &Map<String, Value>, actual: &Value, problems: &mut Vec<String>) {
    for (key, want) in expected {
        let got = actual.get(key).unwrap_or(&Value::Null);
        if got != want {
            problems.push(format!("{what}.{key} = {}, expected {want}", clip(&got.to_string())));
        }
    }
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[test]
fn every_bad_file_gets_the_outcome_the_corpus_promises() {
    sluice_binary();
    let cases = cases();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 4);
    let mut failures: Vec<(usize, String, Vec<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut found = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(case) = cases.get(i) else { break };
                        let problems = check_case(case);
                        if !problems.is_empty() {
                            found.push((i, text(case, "name").to_string(), problems));
                        }
                    }
                    found
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("a corpus worker panicked")).collect()
    });
    failures.sort();
    let report: Vec<String> =
        failures.iter().map(|(_, name, problems)| format!("{name}:\n    {}", problems.join("\n    "))).collect();
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases do not keep their promises:\n{}",
        failures.len(),
        cases.len(),
        report.join("\n")
    );
}

#[test]
fn every_corpus_file_has_an_expectation_and_every_expectation_a_file() {
    let cases = cases();
    let mut names = std::collections::HashSet::new();
    for case in &cases {
        assert!(names.insert(text(case, "name")), "two cases are named {}", case["name"]);
        for key in ["file", "template"] {
            assert!(corpus(text(case, key)).is_file(), "case {}: no {key} {}", case["name"], case[key]);
        }
        for key in ["exit", "status"] {
            assert!(!case[key].is_null(), "case {} does not say its {key}", case["name"]);
        }
    }
    let used: std::collections::HashSet<&str> = cases.iter().map(|c| text(c, "file")).collect();
    for entry in std::fs::read_dir(corpus("")).expect("the corpus directory is readable") {
        let name = entry.expect("a directory entry").file_name().to_string_lossy().into_owned();
        if NOT_INPUTS.contains(&name.as_str()) || name.ends_with(".yaml") {
            continue;
        }
        assert!(used.contains(name.as_str()), "{name} is in the corpus but no case imports it");
    }
}

#[test]
fn the_committed_corpus_stays_light() {
    for entry in std::fs::read_dir(corpus("")).expect("the corpus directory is readable") {
        let entry = entry.expect("a directory entry");
        let size = entry.metadata().expect("file metadata").len();
        assert!(size < 512 * 1024, "{} is {size} bytes; keep corpus files well under 1 MB", entry.path().display());
    }
}

#[test]
fn a_failed_import_leaves_no_stale_results_in_the_output_directory() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("out");
    let template = corpus("people.yaml");
    let run = |file: &str| {
        let args: [std::ffi::OsString; 7] = [
            "import".into(),
            corpus(file).into_os_string(),
            "--template".into(),
            template.clone().into_os_string(),
            "--out".into(),
            out.clone().into_os_string(),
            "--quiet".into(),
        ];
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        run_sluice(&args).expect("sluice runs")
    };
    assert_eq!(run("ragged_rows.csv").status.code(), Some(0));
    assert!(out.join("rows.jsonl").exists());
    assert_eq!(run("unterminated_quote_near_end.csv").status.code(), Some(1));
    for name in ["rows.jsonl", "errors.jsonl", "results.csv"] {
        assert!(!out.join(name).exists(), "{name} of the earlier import is still there");
    }
    let import: Value =
        serde_json::from_slice(&std::fs::read(out.join("import.json")).expect("import.json")).expect("JSON");
    assert_eq!(import["failure"]["code"], "unterminated_quote");
}
