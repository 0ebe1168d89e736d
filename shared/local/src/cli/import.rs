//! `sluice import`: one file through the whole pipeline, on embedded backends.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_app::model::{Import, TenantId};
use sluice_app::{AppError, CreateImport};
use sluice_core::ImportStatus;
use sluice_core::import::RowsKept;
use sluice_core::mapping::MatchMethod;
use sluice_core::read::sniff::Format;
use sluice_core::settings::{InvalidDataBehavior, SettingsPatch, SheetRef};
use sluice_local::LocalRuntime;

use super::progress::Bars;
use super::{ImportArgs, Interrupted, UsageError, load_template};

/// Runs `sluice import`.
pub fn run(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let template = load_template(&args.template)?;
    let settings = settings_from(&args)?;
    // A bad flag value is the command line's fault, not the template's: say which flag.
    if let Err(e) = settings.resolve("") {
        // `--invalid-data` and `--mapping` are checked as they are read; the rest are named alike.
        let flag = match e.path.split(['.', '[']).next().unwrap_or_default() {
            "null_values" => "null-value".to_string(),
            setting => setting.replace('_', "-"),
        };
        return Err(UsageError(format!("--{flag}: {}", e.message)).into());
    }
    check_mapping_targets(&args, &template)?;
    if args.file.as_os_str() == "-" {
        return Err(UsageError(
            "reading from standard input is not supported (chunks are read by position): give the file's path".into(),
        )
        .into());
    }
    let meta =
        std::fs::metadata(&args.file).map_err(|e| UsageError(format!("cannot read {}: {e}", args.file.display())))?;
    if !meta.is_file() {
        return Err(UsageError(format!("{} is not a file", args.file.display())).into());
    }
    // Opened now, so a file this user may not read is a usage error, not a failed import.
    std::fs::File::open(&args.file).map_err(|e| UsageError(format!("cannot read {}: {e}", args.file.display())))?;
    if let Some(out) = &args.out {
        check_out_dir(out, &args.file)?;
    }
    if let Some(dir) = &args.data_dir
        && dir.exists()
        && !dir.is_dir()
    {
        return Err(UsageError(format!("--data-dir {}: not a directory", dir.display())).into());
    }
    if let Some(n) = args.workers
        && !(1..=MAX_WORKERS).contains(&n)
    {
        return Err(UsageError(format!("--workers: must be between 1 and {MAX_WORKERS}, got {n}")).into());
    }
    let workers = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    // Chunk work runs on the runtime's workers (one per core); the blocking pool only does file
    // and database calls. Few threads, because each keeps its own allocator arena, holding on to
    // freed chunk buffers: with the default pool, peak memory doubles (two per worker added
    // 10 to 20 MB). But at least two: a worker inside `block_in_place` is replaced by a thread of
    // this pool, and the work it blocks on (a sheet's or a JSON file's chunks written as they are
    // cut) needs one more; with one, `--workers 1` waited for ever on an XLSX or JSON file.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .max_blocking_threads(workers.max(2))
        .enable_all()
        .build()?;
    runtime.block_on(import(args, template, settings, workers))
}

/// Most worker threads `--workers` may ask for.
const MAX_WORKERS: usize = 1024;

/// The names `--out` writes.
const OUTPUT_FILES: [&str; 4] = ["rows.jsonl", "errors.jsonl", "results.csv", "import.json"];

/// `--out` must be a directory this user can write, and none of the files written there may be
/// the input: checked before the import runs, not after.
fn check_out_dir(out: &Path, input: &Path) -> Result<(), UsageError> {
    let cannot = |e: std::io::Error| UsageError(format!("cannot write to --out {}: {e}", out.display()));
    std::fs::create_dir_all(out).map_err(cannot)?;
    tempfile::tempfile_in(out).map_err(cannot)?;
    let input = std::fs::canonicalize(input).ok();
    for name in OUTPUT_FILES {
        if input.is_some() && std::fs::canonicalize(out.join(name)).ok() == input {
            return Err(UsageError(format!(
                "--out {} would overwrite the input {name}: choose another directory",
                out.display()
            )));
        }
    }
    Ok(())
}

/// Each `--mapping` names a field of the template (the command line's fault, said as such).
fn check_mapping_targets(args: &ImportArgs, template: &sluice_core::TemplateSpec) -> Result<(), UsageError> {
    for m in &args.mapping {
        let Some((header, key)) = m.rsplit_once('=') else { continue };
        let key = key.trim();
        if header.trim().is_empty() {
            return Err(UsageError(format!("--mapping {m:?}: name a header or a column number before '='")));
        }
        if header.trim().trim_start_matches('#') == "0" {
            return Err(UsageError(format!("--mapping {m:?}: columns are numbered from 1")));
        }
        if !key.is_empty() && !template.fields.iter().any(|f| f.key == key) {
            let keys: Vec<&str> = template.fields.iter().map(|f| f.key.as_str()).collect();
            return Err(UsageError(format!(
                "--mapping {m:?}: the template has no field {key:?} (its fields: {})",
                keys.join(", ")
            )));
        }
    }
    Ok(())
}

fn settings_from(args: &ImportArgs) -> Result<SettingsPatch, UsageError> {
    let mut patch = SettingsPatch {
        // A number is a sheet of that name if there is one (`--sheet 2023`), else a position.
        sheet: args.sheet.clone().map(SheetRef::Name),
        encoding: args.encoding.clone(),
        delimiter: args.delimiter.clone(),
        chunk_rows: args.chunk_rows,
        header_row: args.header_row,
        null_values: (!args.null_values.is_empty()).then(|| args.null_values.clone()),
        ..Default::default()
    };
    if let Some(b) = &args.invalid_data {
        patch.invalid_data_behavior = Some(InvalidDataBehavior::parse(b).ok_or_else(|| {
            UsageError(format!("--invalid-data {b:?}: use BLOCK_SUBMIT, REMOVE_INVALID_ROWS or INCLUDE_INVALID_ROWS"))
        })?);
    }
    if !args.mapping.is_empty() {
        let mut mapping = BTreeMap::new();
        for m in &args.mapping {
            let (header, key) =
                m.rsplit_once('=').ok_or_else(|| UsageError(format!("--mapping {m:?}: write HEADER=KEY")))?;
            let key = key.trim();
            let target = (!key.is_empty()).then(|| key.to_string());
            if let Some(earlier) = mapping.insert(header.to_string(), target.clone())
                && earlier != target
            {
                let name = |t: &Option<String>| t.clone().unwrap_or_else(|| "nothing".into());
                return Err(UsageError(format!(
                    "--mapping: {header:?} is mapped twice, to {} and to {}; give it once",
                    name(&earlier),
                    name(&target)
                )));
            }
        }
        patch.mapping = Some(mapping);
    }
    Ok(patch)
}

async fn import(
    args: ImportArgs,
    template: sluice_core::TemplateSpec,
    settings: SettingsPatch,
    workers: usize,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let temp;
    let (data_dir, durable) = match &args.data_dir {
        Some(dir) => (dir.clone(), true),
        None => {
            temp = tempfile::Builder::new().prefix("sluice-").tempdir()?;
            (temp.path().to_path_buf(), false)
        }
    };
    let bars = Bars::new(args.quiet);
    let rt = LocalRuntime::open(&data_dir, durable)
        .map_err(|e| {
            if format!("{e:#}").contains("already open") {
                anyhow::anyhow!(
                    "the data directory {} is in use by another sluice process; wait for it, or give another --data-dir",
                    data_dir.display()
                )
            } else {
                e
            }
        })?
        .with_progress(bars.clone());
    let handles = rt.spawn_workers(workers);
    let tenant = TenantId::parse("local").expect("a valid tenant name");
    let file_name = args.file.file_name().map(|n| n.to_string_lossy().into_owned());
    let created = rt
        .app
        .create_import(CreateImport {
            tenant: tenant.clone(),
            environment: "production".into(),
            template,
            template_ref: None,
            settings,
            original_filename: file_name.clone(),
            destination: None,
            user: None,
            metadata: None,
        })
        .await;
    let created = match created {
        Ok(i) => i,
        Err(AppError::Invalid(message)) => {
            return Err(UsageError(format!("{}: {message}", args.template.display())).into());
        }
        Err(e) => return Err(e.into()),
    };
    // The file a link names (a relative link would not resolve from the store).
    let source = std::fs::canonicalize(&args.file).unwrap_or_else(|_| args.file.clone());
    let meta =
        std::fs::metadata(&source).map_err(|e| UsageError(format!("cannot read {}: {e}", args.file.display())))?;
    let before = (meta.len(), meta.modified().ok());
    let object = rt.blobs.import_file(&source, &created.upload.key).await?;
    rt.app.accept_upload(&tenant, &created.id, object).await?;

    let import = tokio::select! {
        import = wait(&rt, &tenant, &created, &bars) => import?,
        _ = tokio::signal::ctrl_c() => {
            bars.clear();
            rt.queue.close();
            for h in handles {
                h.abort();
            }
            // Returning drops the temporary data directory, and with it the work files.
            let kept = if durable {
                format!("; the import stays in {} and `sluice serve --data-dir` finishes it", data_dir.display())
            } else {
                String::new()
            };
            return Err(Interrupted(kept).into());
        }
    };
    bars.clear();
    rt.queue.close();
    for h in handles {
        h.abort();
    }
    // The upload is the file itself (a hard link): one rewritten in place meanwhile gives
    // results that may mix both versions.
    if std::fs::metadata(&source).ok().map(|m| (m.len(), m.modified().ok())) != Some(before) {
        anyhow::bail!(
            "{} changed while it was imported; its results may mix both versions: import it again",
            args.file.display()
        );
    }
    if let Some(out) = &args.out {
        write_outputs(&rt, &import, out, durable).await?;
    }
    let view = import.to_view(jiff::Timestamp::now());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    }
    if !args.quiet {
        summary(&import, file_name.as_deref(), args.out.as_deref(), started.elapsed());
        // Options this kind of file has no use for: say so rather than seem to apply them.
        let unused = |flag: &str, value: &str, what: &str, format: Format| {
            eprintln!("  note: {flag} {value:?} was not used: {what}, and this file is {}", format.as_str());
        };
        if let Some(format) = import.detected.format {
            if let (Some(sheet), Format::Csv | Format::Json) = (&args.sheet, format) {
                unused("--sheet", sheet, "sheets are a workbook's", format);
            }
            if format != Format::Csv {
                if let Some(delimiter) = &args.delimiter {
                    unused("--delimiter", delimiter, "a delimiter is a text file's", format);
                }
                if let Some(encoding) = &args.encoding {
                    let what = "an encoding is a text file's (JSON is read as UTF-8, or UTF-16 by its bytes)";
                    unused("--encoding", encoding, what, format);
                }
            }
            if let (Some(row), Format::Json) = (args.header_row, format) {
                unused("--header-row", &row.to_string(), "JSON objects name their columns", format);
            }
        }
    } else if import.status == ImportStatus::Failed {
        // Quiet keeps stderr for errors, and a failed import is one: say why.
        let reason = import.status_reason.as_deref().unwrap_or("the import failed");
        let name = file_name.as_deref().unwrap_or("input");
        // A file's fault names the file already (`data.slk: this is a SYLK file`).
        match reason.strip_prefix(name).is_some_and(|rest| rest.starts_with(':')) {
            true => eprintln!("FAILED  {reason}"),
            false => eprintln!("FAILED  {name}: {reason}"),
        }
    }
    Ok(ExitCode::from(match import.status {
        ImportStatus::Successful => 0,
        ImportStatus::NeedsReview => 2,
        _ => 1,
    }))
}

/// Waits for the import to settle, moving the bars.
async fn wait(rt: &LocalRuntime, tenant: &TenantId, created: &Import, bars: &Arc<Bars>) -> anyhow::Result<Import> {
    let mut idle_since: Option<Instant> = None;
    loop {
        // A state read is microseconds; a short period keeps the wait after the end short.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let import = rt.app.get_import(tenant, &created.id).await?;
        bars.chunks(import.chunks.done, import.chunks.total);
        if import.status.is_settled() {
            return Ok(import);
        }
        // The queue empty while the import still runs means a job was lost: say so, never hang.
        if rt.queue.is_idle() {
            let since = *idle_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_secs(5) {
                let dead = rt.queue.dead_letters();
                anyhow::bail!("processing stopped with the import still {}: {dead:?}", import.status.as_str());
            }
        } else {
            idle_since = None;
        }
    }
}

async fn write_outputs(rt: &LocalRuntime, import: &Import, out: &Path, durable: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).map_err(|e| UsageError(format!("cannot create {}: {e}", out.display())))?;
    for file in ["rows.jsonl", "errors.jsonl", "results.csv"] {
        let dest = out.join(file);
        match &import.results {
            // A failed import keeps its errors but delivers no rows.
            Some(results) if file == "rows.jsonl" && results.rows_kept == RowsKept::None => {
                let _ = std::fs::remove_file(&dest);
            }
            Some(results) => {
                let key = match file {
                    "rows.jsonl" => &results.rows_key,
                    "errors.jsonl" => &results.errors_key,
                    _ => &results.results_key,
                };
                if durable {
                    // The data directory outlives the command (`sluice serve` hands its results
                    // out): the files given to the user are theirs to change.
                    rt.blobs.copy_out(key, &dest).await?;
                } else {
                    rt.blobs.export_file(key, &dest).await?;
                }
            }
            None => {
                // A failed file has no results; leave no stale ones from an earlier run.
                let _ = std::fs::remove_file(&dest);
            }
        }
    }
    let view = import.to_view(jiff::Timestamp::now());
    std::fs::write(out.join("import.json"), serde_json::to_string_pretty(&view)? + "\n")?;
    Ok(())
}

/// `"a", "b" and "c"`.
fn quoted_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.join(""),
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn summary(import: &Import, file: Option<&str>, out: Option<&Path>, elapsed: Duration) {
    let c = &import.counts;
    let file = file.unwrap_or("input");
    let n = |count: u64, one: &str, many: &str| format!("{} {}", thousands(count), if count == 1 { one } else { many });
    eprintln!(
        "{}  {file}: {}, {} valid, {} invalid ({}, {}), {} empty skipped in {:.2} s",
        import.status.as_str(),
        n(c.rows, "row", "rows"),
        thousands(c.valid),
        thousands(c.invalid),
        n(c.errors, "error", "errors"),
        n(c.warnings, "warning", "warnings"),
        thousands(c.skipped),
        elapsed.as_secs_f64()
    );
    let d = &import.detected;
    let mut detected = Vec::new();
    if let Some(f) = d.format {
        detected.push(f.as_str().to_string());
    }
    if let Some(e) = &d.encoding {
        detected.push(e.to_lowercase());
    }
    if let Some(first) = d.first_utf8_line {
        let lines = n(d.utf8_lines, "line", "lines");
        detected.push(format!("but {lines} in UTF-8 from line {first} (two encodings in one file)"));
    }
    if let Some(dl) = &d.delimiter {
        detected.push(format!("delimiter '{dl}'"));
    }
    if let Some(s) = &d.sheet {
        match d.empty_sheets_skipped.as_slice() {
            [] => detected.push(format!("sheet {s:?}")),
            [one] => detected.push(format!("sheet {s:?} (sheet {one:?} before it is empty)")),
            many => detected.push(format!("sheet {s:?} (sheets {} before it are empty)", quoted_list(many))),
        }
    }
    if import.settings.headerless() && matches!(d.format, Some(Format::Csv | Format::Xlsx)) {
        detected.push("no header row".to_string());
    } else if let Some(line) = d.header_line.filter(|l| *l > 1) {
        detected.push(format!("header on {} {line}", if d.sheet.is_some() { "row" } else { "line" }));
    }
    if let Some(t) = import.chunks.total {
        detected.push(format!("{t} {}", if t == 1 { "chunk" } else { "chunks" }));
    }
    if !detected.is_empty() {
        eprintln!("  read as {}", detected.join(", "));
    }
    // Columns left out: a demanding user wants to see data that goes nowhere (`Qty (units)`
    // under a template whose field is `quantity`), by number too (two columns may share a name).
    if import.mapping_problems.is_empty() && !import.settings.pass_through_unmapped {
        let left: Vec<String> = import
            .mapping
            .iter()
            .filter(|m| m.method == MatchMethod::Unmapped && !m.header.trim().is_empty())
            .map(|m| format!("{} {:?}", m.column, m.header))
            .collect();
        if !left.is_empty() {
            let shown = left.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
            let more = if left.len() > 5 { format!(" and {} more", left.len() - 5) } else { String::new() };
            eprintln!(
                "  {} no field: {shown}{more} (map one with --mapping 'HEADER=field_key' or 'COLUMN=field_key')",
                n(left.len() as u64, "column maps to", "columns map to")
            );
        }
    }
    if let Some(reason) = &import.status_reason {
        eprintln!("  {reason}");
    }
    if !import.mapping_problems.is_empty() {
        eprintln!("  mapping:");
        for m in &import.mapping {
            let target = m.field.as_deref().unwrap_or("-");
            eprintln!(
                "    {:>3} {:<28} -> {:<20} {:?} {:.2}",
                m.column,
                format!("{:?}", m.header),
                target,
                m.method,
                m.confidence
            );
        }
        // A sheet to choose is no mapping to supply.
        if import.mapping_problems.iter().any(|p| p.code != "another_sheet_maps_more") {
            eprintln!(
                "  supply the mapping with --mapping 'HEADER=field_key' (or COLUMN_NUMBER=field_key) and run again"
            );
        }
        let other_sheet = import.status_reason.as_deref().is_some_and(|r| r.contains("(--sheet "));
        if !import.mapping.iter().any(|m| m.field.is_some()) && !import.settings.headerless() && !other_sheet {
            // Nothing matched: the row read as the header may not be the header.
            eprintln!(
                "  or, if the column names are on another row, give it with --header-row N (N counts non-empty rows)"
            );
            eprintln!(
                "  or, if the file has no header row, run with --header-row 0 (its columns then follow the template's fields in order)"
            );
        }
    }
    if let Some(out) = out {
        match &import.results {
            Some(r) if r.rows_kept == RowsKept::None => eprintln!(
                "  wrote {}, results.csv, import.json (no rows.jsonl: the import delivers no rows)",
                out.join("errors.jsonl").display()
            ),
            Some(r) => eprintln!(
                "  wrote {} ({} {}), errors.jsonl, results.csv, import.json",
                out.join("rows.jsonl").display(),
                thousands(r.row_count),
                if r.row_count == 1 { "row" } else { "rows" }
            ),
            None => eprintln!("  wrote {}", out.join("import.json").display()),
        }
    }
}
