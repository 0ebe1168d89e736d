//! Synchronous validation: a small CSV in, every row's outcome out, nothing stored (On Key's
//! synchronous import mode).

use serde::Serialize;
use sluice_core::Counts;
use sluice_core::convert::ParseOptions;
use sluice_core::engine::finalize::{find_duplicates, rows_made_invalid};
use sluice_core::engine::sink::RowsMode;
use sluice_core::import::{ImportStatus, RowsKept, decide_outcome};
use sluice_core::mapping::{
    ColumnMapping, ColumnPlan, MappingProblem, highest_mapped_column, map_columns, map_headerless,
};
use sluice_core::pipeline::{ChunkContext, ChunkLayout, assemble_chunk, process_chunk};
use sluice_core::read::csv::CsvOptions;
use sluice_core::read::sniff::{csv_layout, sampled_widths};
use sluice_core::read::split::{SplitOptions, numbered_columns, split_bytes};
use sluice_core::settings::{Dedupe, SettingsPatch};
use sluice_core::template::{Schema, TemplateSpec};

use super::{App, AppError, blocking};

/// The outcome of a synchronous validation.
#[derive(Debug, Clone, Serialize)]
pub struct SyncOutcome {
    /// What the import would end as.
    pub status: ImportStatus,
    /// Why, when not plainly successful.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// Counts.
    pub counts: Counts,
    /// How the columns were mapped.
    pub mapping: Vec<ColumnMapping>,
    /// Mapping problems (no rows are validated then).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mapping_problems: Vec<MappingProblem>,
    /// Every row, invalid ones with their errors.
    pub rows: Vec<serde_json::Value>,
    /// Every error and warning.
    pub errors: Vec<serde_json::Value>,
}

impl App {
    /// Validates a small CSV in memory and answers every row.
    pub async fn validate_sync(
        &self,
        spec: TemplateSpec,
        overrides: SettingsPatch,
        csv: bytes::Bytes,
    ) -> Result<SyncOutcome, AppError> {
        let schema = Schema::compile(spec).map_err(|e| AppError::Invalid(format!("template: {e}")))?;
        let settings = schema
            .spec()
            .settings
            .merged(&overrides)
            .resolve("settings")
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        blocking(move || {
            let start = if csv.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
            std::str::from_utf8(&csv[start..]).map_err(|e| {
                AppError::Invalid(format!(
                    "the body must be UTF-8 CSV (invalid byte at offset {})",
                    e.valid_up_to() + start
                ))
            })?;
            let (delimiter, header_row) = csv_layout(&csv[start..], true, settings.delimiter, settings.first_row());
            let csv_opts = CsvOptions {
                delimiter,
                max_field_bytes: settings.max_field_bytes as usize,
                max_record_bytes: settings.max_record_bytes(),
                max_columns: settings.max_columns as usize,
            };
            let split = SplitOptions {
                csv: csv_opts,
                chunk_rows: u32::MAX,
                max_chunk_bytes: u64::MAX,
                header_row,
                headerless: settings.headerless(),
                start_offset: start as u64,
            };
            let mut plan = split_bytes(&csv, split, 1 << 20).map_err(|e| AppError::Invalid(format!("csv: {e}")))?;
            let outcome = match settings.headerless() {
                true => {
                    // The columns the first rows reach, as an upload's (see `split_csv`).
                    let sampled = sampled_widths(&csv[start..], true, delimiter, header_row - 1);
                    let (width, filled) = sampled.unwrap_or((plan.header.names.len(), plan.header.names.len()));
                    plan.header.names = numbered_columns(width.max(highest_mapped_column(&settings.mapping)));
                    map_headerless(&schema, &plan.header.names, filled, &settings.mapping)
                }
                false => map_columns(&schema, &plan.header.names, &settings.mapping),
            }
            .with_pass_through(settings.pass_through_unmapped)
            .with_given_delimiter(settings.delimiter, false);
            if !outcome.problems.is_empty() {
                return Ok(SyncOutcome {
                    status: ImportStatus::NeedsReview,
                    status_reason: Some("the columns need a mapping".into()),
                    counts: Counts::default(),
                    mapping: outcome.columns,
                    mapping_problems: outcome.problems,
                    rows: Vec::new(),
                    errors: Vec::new(),
                });
            }
            let columns = ColumnPlan::new(&schema, &outcome.columns, settings.pass_through_unmapped)
                .headerless(settings.headerless());
            let layout = ChunkLayout::Csv {
                delimiter,
                max_field_bytes: csv_opts.max_field_bytes,
                max_record_bytes: csv_opts.max_record_bytes,
                max_columns: csv_opts.max_columns,
            };
            let ctx = ChunkContext {
                schema: &schema,
                plan: &columns,
                opts: ParseOptions::from_settings(&settings),
                null_values: &settings.null_values,
                dedupe: settings.dedupe != Dedupe::Off,
                layout: &layout,
                mode: RowsMode::All,
            };
            let mut counts = Counts::default();
            let mut rows = Vec::new();
            let mut errors = Vec::new();
            for spec in &plan.chunks {
                let out = process_chunk(&ctx, spec, &csv[spec.start as usize..spec.end as usize])
                    .map_err(|e| AppError::Invalid(format!("csv: {e}")))?;
                let dups = find_duplicates(out.keys.clone());
                let made_invalid = rows_made_invalid(&dups);
                let (valid, invalid) = (String::from_utf8_lossy(&out.rows), String::from_utf8_lossy(&out.invalid));
                let assembled =
                    assemble_chunk(&schema, &columns, RowsKept::All, &valid, &invalid, &out.messages, &dups);
                counts += out.counts;
                counts.valid -= made_invalid;
                counts.invalid += made_invalid;
                counts.errors += dups.len() as u64;
                rows.extend(assembled.rows.lines().filter_map(|l| serde_json::from_str(l).ok()));
                errors.extend(assembled.errors.lines().filter_map(|l| serde_json::from_str(l).ok()));
            }
            let decided = decide_outcome(&settings, &counts);
            Ok(SyncOutcome {
                status: decided.status,
                status_reason: decided.reason,
                counts,
                mapping: outcome.columns,
                mapping_problems: Vec::new(),
                rows,
                errors,
            })
        })
        .await?
    }
}
