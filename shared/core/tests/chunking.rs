//! Chunking never changes an import's results.
//!
//! A file processed as many chunks, in any order, some of them twice, then finalized (duplicates
//! found over every chunk's keys, chunks assembled in file order) gives byte for byte the rows,
//! errors and results CSV, and exactly the counts, of the same file processed as one chunk.

use std::collections::HashMap;

use proptest::prelude::*;
use sluice_core::convert::ParseOptions;
use sluice_core::engine::finalize::{Duplicate, DuplicateOf, find_duplicates, rows_made_invalid};
use sluice_core::engine::sink::RowsMode;
use sluice_core::engine::{Counts, ROW_HASH_SLOT};
use sluice_core::import::RowsKept;
use sluice_core::mapping::{ColumnPlan, map_columns};
use sluice_core::pipeline::{ChunkContext, ChunkLayout, ChunkOutput, assemble_chunk, duplicates_in, process_chunk};
use sluice_core::read::csv::CsvOptions;
use sluice_core::read::fast_split::FastCsvSplitter;
use sluice_core::read::split::{SplitOptions, split_bytes};
use sluice_core::settings::{Dedupe, SettingsPatch};
use sluice_core::template::{Schema, TemplateSyntax, parse_template};

const TEMPLATE: &str = r#"
name: orders
fields:
  - key: id
    type: integer
    required: true
    unique: true
  - key: email
    type: email
    required: true
  - key: amount
    type: decimal
    precision: 10
    scale: 2
  - key: status
    type: enum
    case_insensitive: true
    values: [active, closed, {value: pending, aliases: [p]}]
  - key: note
settings:
  pass_through_unmapped: true
"#;

/// `ref` matches no field and travels with each row.
const HEADER: &str = "id,email,amount,status,note,ref";

fn schema(dedupe: Dedupe) -> Schema {
    let mut spec = parse_template(TEMPLATE, TemplateSyntax::Yaml).expect("the template parses");
    spec.settings = spec.settings.merged(&SettingsPatch { dedupe: Some(dedupe), ..SettingsPatch::default() });
    Schema::compile(spec).expect("the template compiles")
}

/// How one import run cuts and schedules the file.
#[derive(Debug, Clone, Copy)]
struct Schedule<'s> {
    chunk_rows: u32,
    block: usize,
    /// Sort keys that shuffle the chunks (cycled).
    order: &'s [u64],
    /// Whether each processing (cycled) is done a second time, as a redelivered message would.
    twice: &'s [bool],
    /// Cut by quote parity (the fast splitter) instead of by parsing.
    fast: bool,
}

const ONE_CHUNK: Schedule<'static> =
    Schedule { chunk_rows: u32::MAX, block: usize::MAX, order: &[0], twice: &[false], fast: false };

/// Everything an import produces.
#[derive(Debug, PartialEq, Eq)]
struct Finished {
    /// `rows.jsonl`.
    rows: String,
    /// `errors.jsonl`.
    errors: String,
    /// `results.csv` without its header.
    results: String,
    /// Counts before duplicates, summed over chunks.
    counts: Counts,
    /// Rows that duplicates made invalid.
    newly_invalid: u64,
    /// Duplicate errors added.
    added_errors: u64,
    /// Every duplicate in the file.
    dups: Vec<Duplicate>,
    /// Valid rows before duplicates, in file order.
    valid_before: String,
}

impl Finished {
    /// Valid and invalid rows once duplicates count.
    fn final_counts(&self) -> (u64, u64) {
        (self.counts.valid - self.newly_invalid, self.counts.invalid + self.newly_invalid)
    }
}

fn import(file: &[u8], schema: &Schema, keep: RowsKept, schedule: Schedule<'_>) -> Finished {
    let csv = CsvOptions::default();
    let split = SplitOptions {
        csv,
        chunk_rows: schedule.chunk_rows,
        max_chunk_bytes: u64::MAX,
        header_row: 1,
        headerless: false,
        start_offset: 0,
    };
    let mut plan = split_bytes(file, split, schedule.block.min(file.len())).expect("a generated file always splits");
    if schedule.fast {
        // The generator quotes every value holding a quote, so quote parity never misleads:
        // the fast splitter's chunks must parse, and give the same results.
        let mut fast = FastCsvSplitter::new(split);
        let mut chunks = Vec::new();
        for piece in file.chunks(schedule.block.clamp(1, file.len().max(1))) {
            chunks.extend(fast.feed(piece).expect("fast split feeds"));
        }
        let end = fast.finish().expect("fast split ends");
        assert!(!end.needs_exact, "quotes are balanced");
        assert_eq!(end.header, plan.header);
        chunks.extend(end.last);
        plan.chunks = chunks;
    }
    let mapping = map_columns(schema, &plan.header.names, &schema.settings.mapping);
    assert!(mapping.problems.is_empty(), "{:?}", mapping.problems);
    let columns = ColumnPlan::new(schema, &mapping.columns, schema.settings.pass_through_unmapped);
    assert_eq!(columns.pass_through, [5]);
    let opts = ParseOptions::from_settings(&schema.settings);
    let dedupe = schema.settings.dedupe != Dedupe::Off;
    let layout = ChunkLayout::Csv {
        delimiter: csv.delimiter,
        max_field_bytes: csv.max_field_bytes,
        max_record_bytes: csv.max_record_bytes,
        max_columns: csv.max_columns,
    };

    let n = plan.chunks.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (schedule.order[i % schedule.order.len()], i));
    let mut outputs: Vec<Option<ChunkOutput>> = vec![None; n];
    let mut keys = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        let spec = &plan.chunks[i];
        let bytes = &file[spec.start as usize..spec.end as usize];
        let mode = if keep == RowsKept::Valid { RowsMode::ValidOnly } else { RowsMode::All };
        let ctx = ChunkContext {
            schema,
            plan: &columns,
            opts,
            null_values: &schema.settings.null_values,
            dedupe,
            layout: &layout,
            mode,
        };
        let process = || process_chunk(&ctx, spec, bytes).expect("a planned chunk processes");
        let mut out = process();
        if schedule.twice[k % schedule.twice.len()] {
            let again = process();
            assert_eq!(again, out, "processing chunk {i} again gives the same output");
            out = again;
        }
        keys.extend_from_slice(&out.keys);
        outputs[i] = Some(out);
    }
    let dups = find_duplicates(keys);

    let mut finished = Finished {
        rows: String::new(),
        errors: String::new(),
        results: String::new(),
        counts: Counts::default(),
        newly_invalid: 0,
        added_errors: 0,
        dups: Vec::new(),
        valid_before: String::new(),
    };
    for (i, (spec, out)) in plan.chunks.iter().zip(outputs).enumerate() {
        let out = out.expect("every chunk was processed");
        let next = plan.chunks.get(i + 1).map(|c| c.first_line);
        let mine = duplicates_in(&dups, spec.first_line, next);
        // Row files are bytes; the engine writes them from text only.
        let rows = std::str::from_utf8(&out.rows).expect("rows are UTF-8");
        let invalid = std::str::from_utf8(&out.invalid).expect("invalid rows are UTF-8");
        let part = assemble_chunk(schema, &columns, keep, rows, invalid, &out.messages, mine);
        // The sink's row index locates every row of the row file.
        let index = sluice_core::pipeline::RowSpan::read_index(&out.rows_index, rows.len() as u64);
        assert_eq!(index.len(), rows.lines().count());
        for span in &index {
            let row = &rows[span.start as usize..span.end as usize];
            assert!(row.starts_with(&format!("{{\"line\":{},", span.line)) && row.ends_with('\n'), "{row:?}");
        }
        if mine.is_empty() {
            // Finalize reuses an untouched chunk's own files: they must be what assembly gives.
            assert_eq!(part.rows, rows, "rows of untouched chunk {i}");
            // (Stored as the messages when they are the same.)
            assert_eq!(&part.errors, out.errors.as_ref().unwrap_or(&out.messages), "errors of untouched chunk {i}");
            assert_eq!(part.results, out.results, "results of untouched chunk {i}");
        }
        finished.rows.push_str(&part.rows);
        finished.errors.push_str(&part.errors);
        finished.results.push_str(&part.results);
        finished.newly_invalid += part.newly_invalid;
        finished.added_errors += part.added_errors;
        finished.counts += out.counts;
        for row in rows.lines().filter(|r| !r.contains(",\"errors\":[")) {
            finished.valid_before.push_str(row);
            finished.valid_before.push('\n');
        }
    }
    finished.dups = dups;
    finished
}

/// One line of the generated file, before its line break.
#[derive(Debug, Clone)]
enum Line {
    /// Whitespace or empty cells only.
    Blank(&'static str),
    /// A data row.
    Data(String),
    /// A copy of an earlier data row (the n-th, cycled).
    Repeat(usize),
}

fn text(options: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(options).prop_map(str::to_string)
}

/// A cell as written in CSV: quoted when it must be, or when asked.
fn encode(value: &str, quote: bool) -> String {
    if quote || value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// Mostly `good` values, sometimes `bad` ones.
fn mostly(good: &'static [&'static str], bad: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![8 => text(good), 1 => text(bad)]
}

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (1u32..16).prop_map(|n| n.to_string()),
        1 => text(&["007", " 3 ", "x1", "", "-2", "99999999999999999999"]),
    ]
}

fn note() -> impl Strategy<Value = String> {
    let chars = prop::collection::vec(prop::sample::select(&['a', 'b', ' ', ',', '"', '\r', '\n', 'é'][..]), 0..8);
    prop_oneof![
        12 => (chars, any::<bool>()).prop_map(|(cs, quote)| encode(&cs.into_iter().collect::<String>(), quote)),
        // Text after a closing quote: read as written, flagged malformed.
        1 => text(&["\"ab\"c", "\"\"x"]),
    ]
}

fn data_row() -> impl Strategy<Value = String> {
    let cells = (
        id(),
        mostly(&["a@example.com", "B@example.com", "b@example.com"], &["john.smith42gmail.com", "john@localhost", ""]),
        mostly(&["12.50", "12.5", "0", "-3.10", ""], &["1e5", "12.345", "1,200.00"]),
        mostly(&["active", "ACTIVE", "p", "closed", ""], &["bogus"]),
        note(),
        text(&["", "r1", "\"r,2\""]),
    );
    // Rows may miss cells or carry extra ones, blank or not.
    let shape = prop_oneof![12 => Just(None), 2 => (0usize..4, text(&["", " ", "extra"])).prop_map(Some)];
    (cells, shape).prop_map(|((id, email, amount, status, note, reference), shape)| {
        let mut cells = vec![encode(&id, false), email, encode(&amount, false), status, note, reference];
        match shape {
            Some((0, extra)) => cells.push(extra),
            Some((drop, _)) => cells.truncate(6 - drop),
            None => {}
        }
        cells.join(",")
    })
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        8 => data_row().prop_map(Line::Data),
        1 => prop::sample::select(&["", " ", ",,,,,", " , \t", "\"\",\"\"", "=\"\",,"][..]).prop_map(Line::Blank),
        2 => any::<usize>().prop_map(Line::Repeat),
    ]
}

/// A CSV file: the header, then lines with mixed line breaks, maybe without a final one.
fn file() -> impl Strategy<Value = Vec<u8>> {
    let lines = prop::collection::vec((line(), text(&["\n", "\r\n", "\r"])), 0..40);
    (lines, any::<bool>()).prop_map(|(lines, last_break)| {
        let mut out = format!("{HEADER}\n");
        let mut data: Vec<String> = Vec::new();
        let count = lines.len();
        for (i, (line, brk)) in lines.into_iter().enumerate() {
            let body = match line {
                Line::Blank(b) => b.to_string(),
                Line::Data(row) => {
                    data.push(row.clone());
                    row
                }
                Line::Repeat(_) if data.is_empty() => String::new(),
                Line::Repeat(n) => data[n % data.len()].clone(),
            };
            out.push_str(&body);
            if i + 1 < count || last_break {
                out.push_str(&brk);
            }
        }
        out.into_bytes()
    })
}

fn schedule() -> impl Strategy<Value = (u32, usize, Vec<u64>, Vec<bool>)> {
    (
        prop_oneof![1u32..=6, 1u32..=50],
        1usize..=64,
        prop::collection::vec(any::<u64>(), 1..8),
        prop::collection::vec(any::<bool>(), 1..8),
    )
}

/// Row-hash duplicates as a single pass over the valid rows would find them: rows whose values
/// are equal (decimals compared by value), and whose columns carried unmapped are (an empty one
/// as an absent one), repeat the first such row.
fn row_duplicates_by_hand(valid_rows: &str) -> Vec<(u64, u64)> {
    let mut first: HashMap<String, u64> = HashMap::new();
    let mut dups = Vec::new();
    for row in valid_rows.lines() {
        let row: serde_json::Value = serde_json::from_str(row).expect("rows are JSON");
        let line = row["line"].as_u64().expect("rows have a line");
        let mut values = row["values"].clone();
        if let Some(amount) = values["amount"].as_str() {
            let exact: rust_decimal::Decimal = amount.parse().expect("valid decimals parse");
            values["amount"] = serde_json::Value::String(exact.normalize().to_string());
        }
        let mut carried = row["unmapped"].as_object().cloned().unwrap_or_default();
        carried.retain(|_, v| v.as_str() != Some(""));
        let key = format!("{values}{}", serde_json::Value::Object(carried));
        match first.get(&key) {
            Some(&of) => dups.push((line, of)),
            None => {
                first.insert(key, line);
            }
        }
    }
    dups
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn chunks_in_any_order_give_the_results_of_one_chunk(
        file in file(),
        (chunk_rows, block, order, twice) in schedule(),
        dedupe in prop::sample::select(&[Dedupe::Off, Dedupe::WithinFile][..]),
        fast in any::<bool>(),
    ) {
        let schema = schema(dedupe);
        let chunked = Schedule { chunk_rows, block, order: &order, twice: &twice, fast };
        for keep in [RowsKept::All, RowsKept::Valid] {
            let whole = import(&file, &schema, keep, ONE_CHUNK);
            let parts = import(&file, &schema, keep, chunked);
            prop_assert_eq!(&parts, &whole, "{:?}, keep {:?}", String::from_utf8_lossy(&file), keep);
            prop_assert_eq!(parts.final_counts(), whole.final_counts());

            // The totals agree with each other, whichever way they are counted.
            let c = whole.counts;
            prop_assert_eq!(c.rows, c.valid + c.invalid);
            prop_assert_eq!(whole.added_errors, whole.dups.len() as u64);
            prop_assert_eq!(whole.newly_invalid, rows_made_invalid(&whole.dups));
            let kept = whole.rows.lines().count() as u64;
            let (valid, invalid) = whole.final_counts();
            match keep {
                RowsKept::All => prop_assert_eq!(kept, valid + invalid),
                _ => {
                    prop_assert_eq!(kept, valid);
                    prop_assert!(!whole.rows.contains("\"errors\":["));
                }
            }
        }
    }

    #[test]
    fn row_duplicates_do_not_depend_on_chunking(
        file in file(),
        (chunk_rows, block, order, twice) in schedule(),
    ) {
        let schema = schema(Dedupe::WithinFile);
        let chunked = Schedule { chunk_rows, block, order: &order, twice: &twice, fast: false };
        let whole = import(&file, &schema, RowsKept::All, ONE_CHUNK);
        let parts = import(&file, &schema, RowsKept::All, chunked);
        prop_assert_eq!(&parts.dups, &whole.dups);
        let by_hash: Vec<(u64, u64)> = whole
            .dups
            .iter()
            .filter(|d| d.slot == ROW_HASH_SLOT)
            .map(|d| match d.of {
                DuplicateOf::Line(of) => (d.line, of),
                DuplicateOf::Import(_) => unreachable!("within_file compares lines"),
            })
            .collect();
        prop_assert_eq!(by_hash, row_duplicates_by_hand(&whole.valid_before));
    }
}

#[test]
fn a_row_repeated_in_full_gets_each_duplicate_error_once() {
    let schema = schema(Dedupe::WithinFile);
    let file = format!("{HEADER}\n1,a@example.com,1,active,x,\n1,a@example.com,1,active,x,\n");
    let whole = import(file.as_bytes(), &schema, RowsKept::All, ONE_CHUNK);
    let codes: Vec<String> = whole
        .errors
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("errors are JSON")["code"].to_string())
        .collect();
    assert_eq!(codes, ["\"not_unique\"", "\"duplicate_row\""]);
    assert_eq!(whole.results.lines().count(), 2);
    assert_eq!((whole.newly_invalid, whole.added_errors), (1, 2));
    assert_eq!(whole.final_counts(), (1, 1));
}

#[test]
fn chunks_split_a_file_with_every_kind_of_line_break_the_same_way() {
    let schema = schema(Dedupe::WithinFile);
    let file = format!(
        "{HEADER}\r\n1,a@example.com,1,active,\"two\r\nlines\",r\r\n\r\n2,b@example.com,x,p,\"cr\ronly\"\r3,bad,2,closed,\"say \"\"hi\"\"\",\n1,a@example.com,1,active,\"two\r\nlines\",r"
    );
    let whole = import(file.as_bytes(), &schema, RowsKept::All, ONE_CHUNK);
    for chunk_rows in 1..=4 {
        for block in [1, 3, 7] {
            let parts = import(
                file.as_bytes(),
                &schema,
                RowsKept::All,
                Schedule { chunk_rows, block, order: &[3, 1, 2], twice: &[true, false], fast: chunk_rows % 2 == 0 },
            );
            assert_eq!(parts, whole, "chunk_rows {chunk_rows}, block {block}");
        }
    }
    let lines: Vec<u64> = whole
        .rows
        .lines()
        .map(|r| serde_json::from_str::<serde_json::Value>(r).expect("JSON")["line"].as_u64().expect("line"))
        .collect();
    assert_eq!(lines, [2, 5, 7, 8]);
    assert_eq!(whole.dups.iter().map(|d| (d.line, d.slot)).collect::<Vec<_>>(), [(8, 0), (8, ROW_HASH_SLOT)]);
}
