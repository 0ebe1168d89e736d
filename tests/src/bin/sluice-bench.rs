//! `sluice-bench`: Sluice and its peers on the same file, side by side, in one run.
//!
//! ```text
//! sluice-bench run [--rows N] [--seed S] [--runs R] [--kit DIR] [--work DIR] [--report FILE] [--skip-peers]
//! ```
//!
//! Generates the deterministic contacts file with the benchmark kit (`../shared/bench` by default,
//! or `$SLUICE_BENCH_KIT`), then measures, as separate processes on the same machine and file:
//! a raw `csv` crate parse (the floor), the Sluice engine alone on one core, the whole
//! `sluice import`, PapaParse+Zod and csv+pydantic. Each runs `--runs` times; the median wall
//! time and the peak RSS (from `getrusage`) are reported with ratios, and every validator must
//! report the kit's expected invalid count. The machine is shared and noisy: ratios measured in
//! the same run hold better than absolute seconds.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use sluice_core::convert::ParseOptions;
use sluice_core::engine::finalize::{find_duplicates_in_runs, rows_made_invalid};
use sluice_core::engine::sink::RowsMode;
use sluice_core::engine::{NullSink, RowEngine};
use sluice_core::mapping::{ColumnPlan, map_columns};
use sluice_core::read::csv::{CsvOptions, CsvParser, RecordSpans, Step};
use sluice_core::read::sniff::detect_delimiter;
use sluice_core::settings::Dedupe;
use sluice_core::template::{Schema, TemplateSyntax, parse_template};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("raw") => raw(Path::new(args.get(1).context("raw FILE")?)),
        Some("engine") => engine(
            Path::new(args.get(1).context("engine FILE TEMPLATE")?),
            Path::new(args.get(2).context("engine FILE TEMPLATE")?),
            args.get(3).is_some_and(|a| a == "--json"),
        ),
        Some("run") => run(&args[1..]),
        Some("measure") => measure_child(&args[1..]),
        _ => {
            eprintln!(
                "usage: sluice-bench run [--rows N] [--seed S] [--runs R] [--kit DIR] [--work DIR] [--report FILE] [--skip-peers]"
            );
            std::process::exit(64);
        }
    }
}

/// The floor: count records with the `csv` crate, no validation.
fn raw(file: &Path) -> anyhow::Result<()> {
    let mut reader = csv::ReaderBuilder::new().from_path(file)?;
    let mut record = csv::ByteRecord::new();
    let mut rows = 0u64;
    while reader.read_byte_record(&mut record)? {
        rows += 1;
    }
    println!("raw rows={rows}");
    Ok(())
}

/// The engine alone, one thread: parse, map, convert, validate every row, resolve `unique`
/// across the file. Output rows are discarded (no serialization, no files).
fn engine(file: &Path, template: &Path, with_json: bool) -> anyhow::Result<()> {
    let mut json_bytes = 0usize;
    let text = std::fs::read_to_string(template)?;
    let schema = Schema::compile(parse_template(&text, TemplateSyntax::from_file_name(&template.to_string_lossy()))?)?;
    let settings = &schema.settings;
    let mut input = std::fs::File::open(file)?;
    let mut buf: Vec<u8> = Vec::with_capacity(8 << 20);
    let mut line = 1u64;
    let mut eof = false;
    let mut delimiter = None;
    let mut plan: Option<ColumnPlan> = None;
    let mut runs = Vec::new();
    let mut counts = sluice_core::Counts::default();
    let opts = ParseOptions::from_settings(settings);
    let dedupe = settings.dedupe != Dedupe::Off;
    while !eof {
        let n = (&mut input).take(4 << 20).read_to_end(&mut buf)?;
        eof = n == 0;
        let delim = *delimiter.get_or_insert_with(|| detect_delimiter(&buf[..buf.len().min(64 * 1024)], eof));
        let csv = CsvOptions { delimiter: delim, ..CsvOptions::default() };
        // As chunk workers do: one UTF-8 check per block, cells handed out as text. The block
        // may end inside a character; the records before it are whole.
        let text = match sluice_core::read::utf8(&buf) {
            Ok(t) => Some(t),
            Err(e) if e.error_len().is_none() => std::str::from_utf8(&buf[..e.valid_up_to()]).ok(),
            Err(_) => None,
        };
        let data: &[u8] = text.map(str::as_bytes).unwrap_or(&buf);
        let mut parser = CsvParser::new(data, line, csv, eof);
        let mut rec = RecordSpans::default();
        let mut consumed = 0;
        if plan.is_none() {
            match parser.next_record(&mut rec)? {
                Step::Record => {
                    consumed = rec.end;
                    let view = rec.view(data);
                    let headers: Vec<String> = (0..rec.fields.len())
                        .map(|c| String::from_utf8_lossy(&view.bytes(c)).trim().to_string())
                        .collect();
                    let outcome = map_columns(&schema, &headers, &settings.mapping);
                    if !outcome.problems.is_empty() {
                        bail!("mapping needs review: {:?}", outcome.problems);
                    }
                    plan = Some(ColumnPlan::new(&schema, &outcome.columns, false));
                }
                _ => bail!("no header row"),
            }
        }
        if let Some(plan) = &plan {
            let mut engine = RowEngine::new(&schema, plan, opts, dedupe);
            let mut json =
                sluice_core::engine::sink::JsonSink::new(&schema, plan, RowsMode::ValidOnly).with_capacity(data.len());
            while let Step::Record = parser.next_record(&mut rec)? {
                consumed = rec.end;
                match (text, with_json) {
                    (Some(t), false) => engine.process(&rec.view_text(t), &mut NullSink),
                    (Some(t), true) => engine.process(&rec.view_text(t), &mut json),
                    (None, _) => engine.process(&rec.view(data), &mut NullSink),
                }
            }
            let (c, k) = engine.finish_packed();
            counts += c;
            runs.push(k);
            json_bytes += json.rows.len() + json.invalid.len();
        }
        line = parser.line();
        buf.drain(..consumed);
    }
    let dups = find_duplicates_in_runs(runs);
    let made_invalid = rows_made_invalid(&dups);
    println!("engine rows={} invalid={} json_bytes={json_bytes}", counts.rows, counts.invalid + made_invalid);
    Ok(())
}

struct Options {
    rows: u64,
    seed: u64,
    runs: usize,
    kit: PathBuf,
    work: PathBuf,
    report: Option<PathBuf>,
    skip_peers: bool,
}

fn parse_options(args: &[String]) -> anyhow::Result<Options> {
    let root = sluice_tests::repo_root();
    let mut o = Options {
        rows: 1_000_000,
        seed: 42,
        runs: 3,
        kit: std::env::var_os("SLUICE_BENCH_KIT").map(PathBuf::from).unwrap_or_else(|| root.join("../shared/bench")),
        work: std::env::temp_dir().join("sluice-bench"),
        report: None,
        skip_peers: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--rows" => o.rows = value()?.parse()?,
            "--seed" => o.seed = value()?.parse()?,
            "--runs" => o.runs = value()?.parse()?,
            "--kit" => o.kit = value()?.into(),
            "--work" => o.work = value()?.into(),
            "--report" => o.report = Some(value()?.into()),
            "--skip-peers" => o.skip_peers = true,
            other => bail!("unknown option {other}"),
        }
    }
    Ok(o)
}

/// One measured process run.
struct Sample {
    seconds: f64,
    peak_rss_kb: i64,
    stdout: String,
}

/// Runs a command to completion through `sluice-bench measure`, timing it and reading its peak
/// RSS: the wrapper has exactly one child, so `getrusage(RUSAGE_CHILDREN)` is that child's peak.
fn measure(cmd: &Command) -> anyhow::Result<Sample> {
    let mut wrapped = Command::new(std::env::current_exe()?);
    wrapped.arg("measure").arg(cmd.get_program()).args(cmd.get_args());
    wrapped.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let output = wrapped.output().with_context(|| format!("spawn {cmd:?}"))?;
    let seconds = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let peak_rss_kb = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("SLUICE_BENCH_PEAK_RSS_KB="))
        .and_then(|n| n.trim().parse().ok())
        .context("the measuring wrapper reported no peak RSS")?;
    // sluice exits 2 for NEEDS_REVIEW, which an import with invalid rows may legitimately reach.
    match output.status.code() {
        Some(0) | Some(2) => {}
        code => bail!("{cmd:?} exited with {code:?}: {stderr}"),
    }
    Ok(Sample { seconds, peak_rss_kb, stdout: String::from_utf8_lossy(&output.stdout).into_owned() })
}

/// The wrapper: runs PROGRAM ARGS, passes its output and exit code through, then reports the
/// child's peak RSS on stderr.
fn measure_child(args: &[String]) -> anyhow::Result<()> {
    let (program, rest) = args.split_first().context("measure PROGRAM [ARGS...]")?;
    let status = Command::new(program).args(rest).status().with_context(|| format!("spawn {program}"))?;
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?;
    eprintln!("SLUICE_BENCH_PEAK_RSS_KB={}", usage.max_rss());
    std::process::exit(status.code().unwrap_or(1));
}

struct Contender {
    name: &'static str,
    command: Command,
    expect_invalid: bool,
    /// Removed before each run (outside the timing), so no run pays for deleting the last
    /// run's output.
    fresh_dir: Option<PathBuf>,
}

struct Row {
    name: &'static str,
    seconds: f64,
    rss_mb: f64,
    invalid: Option<u64>,
}

fn invalid_of(stdout: &str) -> Option<u64> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(stdout) {
        return v["counts"]["invalid"].as_u64();
    }
    stdout.split_whitespace().find_map(|w| w.strip_prefix("invalid=")).and_then(|n| n.parse().ok())
}

fn run(args: &[String]) -> anyhow::Result<()> {
    let o = parse_options(args)?;
    std::fs::create_dir_all(&o.work)?;
    let kit = o.kit.canonicalize().with_context(|| format!("benchmark kit not found at {}", o.kit.display()))?;
    let file = o.work.join(format!("contacts-{}-{}.csv", o.rows, o.seed));
    let expected_path = PathBuf::from(format!("{}.expected", file.display()));
    if !expected_path.exists() {
        eprintln!("generating {} ...", file.display());
        let status = Command::new("python3")
            .arg(kit.join("gen_contacts.py"))
            .arg(&file)
            .arg(o.rows.to_string())
            .arg(o.seed.to_string())
            .status()?;
        if !status.success() {
            bail!("gen_contacts.py failed");
        }
    }
    let expected: u64 = std::fs::read_to_string(&expected_path)?
        .split_whitespace()
        .find_map(|w| w.strip_prefix("invalid="))
        .context("no invalid= in the .expected file")?
        .parse()?;
    let exe_dir = std::env::current_exe()?.parent().context("exe dir")?.to_path_buf();
    let sluice = exe_dir.join("sluice");
    if !sluice.exists() {
        bail!("{} not found: build it first with `cargo build --release --bins`", sluice.display());
    }
    let template = sluice_tests::fixture("contacts.yaml");
    let me = std::env::current_exe()?;
    let mut contenders = vec![
        Contender {
            name: "csv crate, raw parse (floor)",
            command: cmd(&me, &["raw", &file.to_string_lossy()]),
            expect_invalid: false,
            fresh_dir: None,
        },
        Contender {
            name: "sluice engine alone (1 core)",
            command: cmd(&me, &["engine", &file.to_string_lossy(), &template.to_string_lossy()]),
            expect_invalid: true,
            fresh_dir: None,
        },
        Contender {
            name: "sluice import (whole pipeline)",
            command: cmd(
                &sluice,
                &[
                    "import",
                    &file.to_string_lossy(),
                    "--template",
                    &template.to_string_lossy(),
                    "--out",
                    &o.work.join("out").to_string_lossy(),
                    "--json",
                    "--quiet",
                ],
            ),
            expect_invalid: true,
            fresh_dir: Some(o.work.join("out")),
        },
    ];
    if !o.skip_peers {
        let peers = setup_peers(&kit, &o.work)?;
        contenders.push(Contender {
            name: "PapaParse + Zod (node)",
            command: {
                let mut c = Command::new("node");
                c.arg(peers.join("papa_zod.mjs")).arg("validate").arg(&file);
                c
            },
            expect_invalid: true,
            fresh_dir: None,
        });
        contenders.push(Contender {
            name: "csv + pydantic (python)",
            command: {
                let mut c = Command::new(o.work.join("venv/bin/python"));
                c.arg(peers.join("pydantic_rows.py")).arg("validate").arg(&file);
                c
            },
            expect_invalid: true,
            fresh_dir: None,
        });
    }
    let mut rows = Vec::new();
    for c in &contenders {
        let mut samples = Vec::new();
        for i in 0..o.runs.max(1) {
            if let Some(dir) = &c.fresh_dir {
                let _ = std::fs::remove_dir_all(dir);
            }
            let s = measure(&c.command)?;
            eprintln!("  {:<32} run {}: {:.3} s, {:.0} MB", c.name, i + 1, s.seconds, s.peak_rss_kb as f64 / 1024.0);
            samples.push(s);
        }
        samples.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
        let median = &samples[samples.len() / 2];
        let invalid = invalid_of(&median.stdout);
        if c.expect_invalid && invalid != Some(expected) {
            bail!("{} reported invalid={invalid:?}, the kit expects {expected}", c.name);
        }
        let peak = samples.iter().map(|s| s.peak_rss_kb).max().unwrap_or(0);
        rows.push(Row { name: c.name, seconds: median.seconds, rss_mb: peak as f64 / 1024.0, invalid });
    }
    let report = render(&o, &file, expected, &rows);
    println!("{report}");
    if let Some(path) = &o.report {
        std::fs::write(path, &report)?;
    }
    Ok(())
}

fn cmd(program: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

/// Installs the peers' packages once into the work directory.
fn setup_peers(kit: &Path, work: &Path) -> anyhow::Result<PathBuf> {
    let peers = work.join("peers");
    std::fs::create_dir_all(&peers)?;
    for f in ["package.json", "papa_zod.mjs", "pydantic_rows.py", "requirements.txt"] {
        std::fs::copy(kit.join("peers").join(f), peers.join(f))?;
    }
    if !peers.join("node_modules/papaparse").exists() {
        eprintln!("installing PapaParse and Zod ...");
        let ok = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&peers)
            .status()?
            .success();
        if !ok {
            bail!("npm install failed in {}", peers.display());
        }
    }
    let venv = work.join("venv");
    if !venv.join("bin/python").exists() {
        eprintln!("creating a virtualenv with pydantic ...");
        if !Command::new("python3").arg("-m").arg("venv").arg(&venv).status()?.success() {
            bail!("python3 -m venv failed");
        }
    }
    let has_pydantic =
        Command::new(venv.join("bin/python")).args(["-c", "import pydantic"]).stderr(Stdio::null()).status()?.success();
    if !has_pydantic {
        let ok = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "-r"])
            .arg(peers.join("requirements.txt"))
            .status()?
            .success();
        if !ok {
            bail!("pip install pydantic failed");
        }
    }
    Ok(peers)
}

fn render(o: &Options, file: &Path, expected: u64, rows: &[Row]) -> String {
    let find = |prefix: &str| rows.iter().find(|r| r.name.starts_with(prefix));
    let raw = find("csv crate").map(|r| r.seconds).unwrap_or(f64::NAN);
    let import = find("sluice import").map(|r| r.seconds).unwrap_or(f64::NAN);
    let mut out = String::new();
    out.push_str(&format!(
        "Benchmark: {} rows (seed {}), {:.0} MB, expected invalid={expected}, median of {} runs, {} cores\n\n",
        o.rows,
        o.seed,
        std::fs::metadata(file).map(|m| m.len() as f64 / 1e6).unwrap_or(0.0),
        o.runs,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    ));
    out.push_str("| what | seconds | rows/s | peak RSS | invalid | vs raw parse | vs sluice import |\n");
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for r in rows {
        out.push_str(&format!(
            "| {} | {:.3} | {:.0} | {:.0} MB | {} | {:.2}x | {:.2}x |\n",
            r.name,
            r.seconds,
            o.rows as f64 / r.seconds,
            r.rss_mb,
            r.invalid.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
            r.seconds / raw,
            r.seconds / import
        ));
    }
    let engine = find("sluice engine").map(|r| r.seconds).unwrap_or(f64::NAN);
    let import_rss = find("sluice import").map(|r| r.rss_mb).unwrap_or(f64::NAN);
    out.push_str("\nTargets:\n");
    out.push_str(&format!("- engine alone <= 2x raw parse: {:.2}x {}\n", engine / raw, verdict(engine / raw <= 2.0)));
    if let Some(papa) = find("PapaParse") {
        out.push_str(&format!(
            "- sluice import >= 10x faster than PapaParse+Zod: {:.1}x {}\n",
            papa.seconds / import,
            verdict(papa.seconds / import >= 10.0)
        ));
    }
    out.push_str(&format!("- sluice import peak RSS: {import_rss:.0} MB (target: 64 MB plus the unique-key index)\n"));
    out
}

fn verdict(ok: bool) -> &'static str {
    if ok { "(met)" } else { "(NOT met)" }
}
