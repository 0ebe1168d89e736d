//! `sluice template check | csv | infer`.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use sluice_core::convert::{serial_text, serial_time_text, trim};
use sluice_core::mapping::HEADER_SEARCH_ROWS;
use sluice_core::read::csv::{CsvOptions, CsvParser, RecordSpans, Step};
use sluice_core::read::encoding::{Transcoder, Utf8Stats, guess_legacy, sniff_bom, sniff_unmarked, sniff_utf16};
use sluice_core::read::json::read_json;
use sluice_core::read::sniff::{
    Format, csv_layout, detect_delimiter_below, detect_format, leading_records, separator_hint, unicode_text_one_column,
};
use sluice_core::read::xlsx::{self, ReadError, XlsxLimits};
use sluice_core::record::CellRef;
use sluice_core::settings::SheetRef;
use sluice_core::template::{FieldTypeName, Schema, infer_header_row, infer_template};

use super::{UsageError, load_template};

/// Checks a template: exit 0 and a summary when usable, exit 1 and the fault's path when not.
pub fn check(path: &Path) -> anyhow::Result<ExitCode> {
    let spec = match load_template(path) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    match Schema::compile(spec) {
        Ok(schema) => {
            let required = schema.fields.iter().filter(|f| f.required).count();
            let unique = schema.fields.iter().filter(|f| f.unique.is_some()).count();
            println!(
                "ok: template {:?} has {} fields ({required} required, {unique} unique); invalid data: {}",
                schema.name(),
                schema.fields.len(),
                schema.settings.invalid_data_behavior.as_str()
            );
            for (i, field) in schema.fields.iter().enumerate() {
                if let (Some(default), Some(_)) = (&field.default, &field.unique) {
                    eprintln!(
                        "warning: fields[{i}] ({}): a unique field with the default {default:?}: from the second \
                         row that leaves it empty, every such row fails not_unique",
                        field.key
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("template {}: {e}", path.display());
            Ok(ExitCode::from(1))
        }
    }
}

/// Prints the blank CSV template.
pub fn blank_csv(path: &Path) -> anyhow::Result<ExitCode> {
    let schema =
        Schema::compile(load_template(path)?).map_err(|e| UsageError(format!("template {}: {e}", path.display())))?;
    print!("{}", schema.blank_csv());
    Ok(ExitCode::SUCCESS)
}

/// Prints a template inferred from the first rows of a clean file.
pub fn infer(
    path: &Path,
    name: Option<String>,
    rows: usize,
    sheet: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if !path.is_file() {
        let why = if path.is_dir() { "is a directory, not a file" } else { "does not exist" };
        return Err(UsageError(format!("{} {why}", path.display())).into());
    }
    let (headers, sample, more) = sample(path, rows.max(1), sheet.map(SheetRef::Name))?;
    // As a template check would refuse it, before printing a template that cannot be used.
    let named = headers.iter().filter(|h| !trim(h).is_empty()).count();
    if named > MAX_TEMPLATE_FIELDS {
        return Err(UsageError(format!(
            "{}: the file has {named} named columns, and a template may have at most {MAX_TEMPLATE_FIELDS} fields",
            path.display()
        ))
        .into());
    }
    let name = name.unwrap_or_else(|| {
        path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "template".into())
    });
    let mut spec = infer_template(&name, &headers, &sample);
    // A few values repeated in the first rows are no list of every value the column holds (a
    // file sorted by region shows a handful of them first): the template would refuse its own
    // file's later rows. Such columns stay text unless the whole file was read.
    let mut repeated = Vec::new();
    if more {
        for field in spec.fields.iter_mut().filter(|f| f.field_type == FieldTypeName::Enum) {
            field.field_type = FieldTypeName::Text;
            field.values = None;
            repeated.push(field.key.clone());
        }
    }
    for (c, _) in headers.iter().enumerate().filter(|(_, h)| trim(h).is_empty()) {
        if sample.iter().any(|row| row.get(c).is_some_and(|v| !v.trim().is_empty())) {
            eprintln!(
                "note: column {} has no header, so the template leaves it out; give it a header in the file to import it",
                c + 1
            );
        }
    }
    // Headers the mapping cannot tell apart (one written twice, or `First Name` and
    // `first_name`): the file's import asks which column is which field (the template maps by
    // name, which a column inserted later cannot shift); say how to answer.
    let named: Vec<(usize, &str)> =
        headers.iter().enumerate().map(|(c, h)| (c, trim(h))).filter(|(_, h)| !h.is_empty()).collect();
    if let Ok(schema) = Schema::compile(spec.clone()) {
        let outcome = sluice_core::mapping::map_columns(&schema, &headers, &Default::default());
        let unsure: Vec<(usize, &str, &str)> = named
            .iter()
            .zip(&spec.fields)
            .filter(|((c, _), f)| outcome.columns.get(*c).and_then(|m| m.field.as_deref()) != Some(f.key.as_str()))
            .map(|((c, h), f)| (*c, *h, f.key.as_str()))
            .collect();
        if !outcome.problems.is_empty() && unsure.len() > 1 {
            let mut columns: Vec<String> = unsure.iter().map(|(c, _, _)| (c + 1).to_string()).collect();
            let last = columns.pop().unwrap_or_default();
            let mapping: Vec<String> = unsure.iter().map(|(c, _, k)| format!("--mapping {}={k}", c + 1)).collect();
            let first = unsure[0].1;
            let what = if unsure.iter().all(|(_, h, _)| *h == first) {
                format!("the header {first:?} is on columns {} and {last}", columns.join(", "))
            } else {
                let listed: Vec<String> = unsure.iter().map(|(c, h, _)| format!("{h:?} (column {})", c + 1)).collect();
                format!("the headers {} read as the same name", listed.join(", "))
            };
            eprintln!(
                "note: {what}: importing the file asks which is which field; give {} (or rename the headers)",
                mapping.join(" ")
            );
        }
    }
    if more {
        eprintln!(
            "note: the template comes from the first {} rows, and the file has more, which it may not fit (a zip code \
             with a leading zero further down is no integer): read more with --rows N",
            sample.len()
        );
    }
    if !repeated.is_empty() {
        eprintln!(
            "note: {} repeat a few values in those rows, and the rows after them may hold others, so they are text, \
             not enums: read the whole file with --rows N to list their values",
            repeated.join(", ")
        );
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&spec)?);
    } else {
        print!("{}", serde_norway::to_string(&spec)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// The most fields a template may have (a template check refuses more).
const MAX_TEMPLATE_FIELDS: usize = 1024;

/// The header, up to `rows` rows, and whether the file has more.
type Sample = (Vec<String>, Vec<Vec<String>>, bool);

/// The header and up to `rows` rows of a file (of `sheet`, in a workbook), as text.
fn sample(path: &Path, rows: usize, sheet: Option<SheetRef>) -> anyhow::Result<Sample> {
    let mut file = std::fs::File::open(path).map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
    let mut head = Vec::new();
    (&mut file).take(64 * 1024).read_to_end(&mut head)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let format = detect_format(&head, name.as_deref()).map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    if let Some(sheet) = sheet.as_ref().filter(|_| format != Format::Xlsx) {
        eprintln!("note: --sheet {sheet} was not used: {} is no workbook", path.display());
    }
    match format {
        Format::Csv => sample_csv(path, &head, rows),
        Format::Xlsx => sample_xlsx(path, rows, sheet.as_ref()),
        Format::Json => sample_json(path, rows),
    }
}

fn sample_csv(path: &Path, head: &[u8], rows: usize) -> anyhow::Result<Sample> {
    let mut raw = Vec::new();
    std::fs::File::open(path)?.take(16 << 20).read_to_end(&mut raw)?;
    let complete = raw.len() < 16 << 20;
    let encoding = sniff_bom(head).map(|b| b.encoding).or_else(|| sniff_unmarked(head));
    let utf16 = encoding.is_some_and(|e| e == encoding_rs::UTF_16LE || e == encoding_rs::UTF_16BE);
    let mut text = match encoding {
        Some(enc) if enc != encoding_rs::UTF_8 => {
            let mut out = Vec::new();
            Transcoder::new(enc).feed(&raw, true, &mut out);
            out
        }
        Some(_) => raw[3..].to_vec(),
        None => {
            // As an import decides: UTF-8 unless broken bytes outweigh its characters, else the
            // legacy encoding the lines around them suggest.
            let whole =
                if complete { raw.len() } else { raw.iter().rposition(|b| *b == b'\n').map_or(raw.len(), |i| i + 1) };
            let mut stats = Utf8Stats::default();
            stats.observe(&raw[..whole], 1);
            if stats.is_utf8(false) {
                raw
            } else {
                let mut out = Vec::new();
                Transcoder::new(guess_legacy(&stats.sample())).feed(&raw[..whole], true, &mut out);
                out
            }
        }
    };
    if !complete {
        // Keep whole records only.
        if let Some(end) = text.iter().rposition(|b| *b == b'\n') {
            text.truncate(end + 1);
        }
    }
    // As an import reads it: Excel's `sep=;` line names the delimiter and sits above the header.
    let sample = &text[..text.len().min(64 * 1024)];
    let (mut delimiter, header_row) = csv_layout(sample, complete, None, 1);
    // A one-cell title tells no delimiter apart: take the one under which a header shows below
    // the title and which is detected below that header.
    let one_cell = |d: u8| {
        let first = leading_records(sample, complete, d, header_row - 1, 1);
        first.first().is_some_and(|r| r.iter().filter(|c| !c.is_empty()).count() <= 1)
    };
    // Excel's "Unicode Text" of one column (no tab, values that may hold commas), as an import
    // reads it; else a title above the header.
    let unicode_tab = (utf16 && separator_hint(sample).is_none())
        .then(|| unicode_text_one_column(sample, complete, header_row))
        .flatten();
    if let Some(tab) = unicode_tab {
        delimiter = tab;
    } else if separator_hint(sample).is_none() && one_cell(delimiter) {
        let titled = |d: u8| {
            let first = leading_records(sample, complete, d, header_row - 1, HEADER_SEARCH_ROWS);
            let at = infer_header_row(&first) as u32;
            (at > 0 && detect_delimiter_below(sample, complete, header_row + at) == d).then_some(d)
        };
        if titled(delimiter).is_none()
            && let Some(d) = [b',', b';', b'\t', b'|'].into_iter().find_map(titled)
        {
            delimiter = d;
        }
    }
    let mut above = header_row - 1;
    let opts = CsvOptions { delimiter, ..CsvOptions::default() };
    let mut parser = CsvParser::new(&text, 1, opts, true);
    let mut rec = RecordSpans::default();
    let mut records: Vec<Vec<String>> = Vec::new();
    // One more than asked for tells whether the file has more.
    while records.len() <= rows.saturating_add(HEADER_SEARCH_ROWS) {
        match parser.next_record(&mut rec) {
            Ok(Step::Record) => {
                if rec.is_blank(&text) {
                    continue;
                }
                if above > 0 {
                    above -= 1;
                    continue;
                }
                let view = rec.view(&text);
                let cells: Vec<String> =
                    (0..rec.fields.len()).map(|c| String::from_utf8_lossy(&view.bytes(c)).trim().to_string()).collect();
                records.push(cells);
            }
            Ok(_) => break,
            Err(e) => return Err(UsageError(format!("{}: {e}", path.display())).into()),
        }
    }
    below_title(records, rows).ok_or_else(|| UsageError(format!("{}: the file is empty", path.display())).into())
}

/// The header and up to `rows` rows below it, from a file's first non-empty records: a title
/// above the header (a report's name, an export date) is passed over, as an import does.
fn below_title(mut records: Vec<Vec<String>>, rows: usize) -> Option<Sample> {
    let at = infer_header_row(&records[..records.len().min(HEADER_SEARCH_ROWS)]);
    let mut below = records.split_off(at.min(records.len()));
    if below.is_empty() {
        return None;
    }
    let header = below.remove(0);
    let more = below.len() > rows;
    below.truncate(rows);
    Some((header, below, more))
}

fn sample_xlsx(path: &Path, rows: usize, sheet: Option<&SheetRef>) -> anyhow::Result<Sample> {
    let limits = XlsxLimits::default();
    let mut file = std::fs::File::open(path)?;
    xlsx::precheck(&mut file, &limits).map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    let open = || std::fs::File::open(path).map(std::io::BufReader::new);
    // Cells as text, but date cells as their serials until the workbook's date system is known.
    let mut records: Vec<Vec<Result<String, f64>>> = Vec::new();
    // Columns holding numbers a spreadsheet does not store exactly, which an import refuses.
    let mut inexact = std::collections::BTreeSet::new();
    let result = xlsx::read_sheet(open, sheet, &limits, |_, cells| {
        for (c, cell) in cells.iter().enumerate() {
            if let CellRef::Number(n) = cell
                && n.fract() == 0.0
                && n.abs() >= sluice_core::convert::EXACT_INTEGERS
            {
                inexact.insert(c + 1);
            }
        }
        let texts: Vec<Result<String, f64>> = cells
            .iter()
            .map(|c| match c {
                CellRef::ExcelDate(serial) | CellRef::ExcelDateTime(serial) => Err(*serial),
                CellRef::ExcelTime(serial) => Ok(serial_time_text(*serial)),
                c => Ok(c.display().trim().to_string()),
            })
            .collect();
        if texts.iter().all(|t| t.as_ref().is_ok_and(String::is_empty)) {
            return Ok(());
        }
        records.push(texts);
        if records.len() > rows.saturating_add(HEADER_SEARCH_ROWS) { Err(()) } else { Ok(()) }
    });
    let failed = |e: xlsx::XlsxError| UsageError(format!("{}: {e}", path.display()));
    let is_1904 = match result {
        // An empty sheet read by default: the first visible sheet with cells, as an import reads.
        Ok(info) if records.is_empty() => {
            // An empty sheet read by default: the first visible sheet with cells, as an import
            // reads.
            let others = info.visible.iter().filter(|n| sheet.is_none() && **n != info.name);
            for name in others {
                if let Ok(sample) = sample_xlsx(path, rows, Some(&SheetRef::Name(name.clone()))) {
                    eprintln!("note: sheet {:?} is empty; read sheet {name:?}", info.name);
                    return Ok(sample);
                }
            }
            return Err(UsageError(format!("{}: sheet {:?} is empty", path.display(), info.name)).into());
        }
        Ok(info) => info.is_1904,
        Err(ReadError::Sink(())) => xlsx::uses_1904_dates(open()?).map_err(failed)?,
        Err(ReadError::File(e)) => return Err(failed(e).into()),
    };
    if !inexact.is_empty() {
        let columns: Vec<String> = inexact.iter().map(usize::to_string).collect();
        eprintln!(
            "note: column {} holds numbers of 9007199254740992 or more, which a spreadsheet does not store exactly, \
             so an import refuses them in every field: store the column as text in the workbook",
            columns.join(", ")
        );
    }
    // A date cell reads as the date it shows, as a text field reads it: not as its serial number.
    let records = records
        .into_iter()
        .map(|row| row.into_iter().map(|cell| cell.unwrap_or_else(|serial| serial_text(serial, is_1904))).collect())
        .collect();
    below_title(records, rows).ok_or_else(|| UsageError(format!("{}: the sheet is empty", path.display())).into())
}

fn sample_json(path: &Path, rows: usize) -> anyhow::Result<Sample> {
    // Within the limits an import of it has, so a template for a file it refuses is no surprise.
    let limits = sluice_core::settings::Settings::default();
    let size = std::fs::metadata(path).map_err(|e| UsageError(format!("{}: {e}", path.display())))?.len();
    if size > limits.max_json_bytes {
        let e = sluice_core::read::json::JsonInputError::TooLarge { size, limit: limits.max_json_bytes };
        return Err(UsageError(format!("{}: {e}", path.display())).into());
    }
    let bytes = std::fs::read(path).map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    // UTF-16 (PowerShell's `Out-File` writes JSON so), by its byte order mark or its zero bytes,
    // as an import reads it; else UTF-8.
    let text = match sniff_bom(&bytes)
        .map(|b| b.encoding)
        .filter(|e| *e != encoding_rs::UTF_8)
        .or_else(|| sniff_utf16(&bytes))
    {
        Some(encoding) => encoding.decode_with_bom_removal(&bytes).0.into_owned(),
        None => String::from_utf8(bytes).map_err(|e| UsageError(format!("{}: {e}", path.display())))?,
    };
    let mut header = Vec::new();
    let mut out = Vec::new();
    let mut more = false;
    let read = read_json(
        &text,
        2048,
        limits.max_field_bytes as usize,
        |_, cells| {
            if out.len() < rows {
                out.push(cells.iter().map(|c| c.display().trim().to_string()).collect());
            } else {
                more = true;
            }
            Ok::<(), ()>(())
        },
        |names| {
            header = names;
            Ok(())
        },
    );
    read.map_err(|e| UsageError(format!("{}: {e}", path.display())))?.ok();
    Ok((header, out, more))
}
