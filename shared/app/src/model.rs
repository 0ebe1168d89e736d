//! The import record, the job description chunk workers read, and queue messages.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sluice_core::Counts;
use sluice_core::engine::sink::RowsMode;
use sluice_core::import::{ImportStatus, RowsKept};
use sluice_core::mapping::{ColumnMapping, ColumnPlan, MappingProblem};
use sluice_core::pipeline::ChunkLayout;
use sluice_core::read::ChunkSpec;
use sluice_core::read::sniff::Format;
use sluice_core::settings::Settings;
use sluice_core::template::TemplateSpec;

macro_rules! id_type {
    ($name:ident, $prefix:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new, time-sortable id (prefix + ULID).
            pub fn generate() -> Self {
                $name(format!(concat!($prefix, "_{}"), ulid::Ulid::new()))
            }

            /// Reads an id, checking prefix and characters (ids appear in keys and paths).
            pub fn parse(text: &str) -> Option<Self> {
                let rest = text.strip_prefix(concat!($prefix, "_"))?;
                (!rest.is_empty() && rest.len() <= 64 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
                    .then(|| $name(text.to_string()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(ImportId, "imp", "An import's id: `imp_` and a ULID.");
id_type!(TemplateId, "tpl", "A stored template's id: `tpl_` and a ULID.");

/// A tenant: every resource belongs to exactly one, taken from the verified credential.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(String);

impl TenantId {
    /// Reads a tenant name: 1-64 of letters, digits, `-` and `_` (it appears in keys).
    pub fn parse(text: &str) -> Option<TenantId> {
        (!text.is_empty()
            && text.len() <= 64
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| TenantId(text.to_string()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The template an import uses, pinned at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRef {
    /// Template id (`inline` for a template given with the import).
    pub id: String,
    /// Version pinned.
    pub version: u32,
    /// Template name.
    pub name: String,
}

/// Where the upload goes and what was received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// Blob key of the uploaded file.
    pub key: String,
    /// Declared or received size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Entity tag of the object accepted (a replayed event for another object is ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The split of the accepted object was queued: a replayed upload event changes nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub queued: bool,
}

/// What the splitter found out about the file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Detected {
    /// `csv`, `xlsx` or `json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// Encoding name (CSV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Whether the encoding was detected (not set by the import).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub encoding_detected: bool,
    /// Delimiter (CSV).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// Sheet read (XLSX).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// Empty sheets passed over to the first with cells, when no sheet was set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub empty_sheets_skipped: Vec<String>,
    /// Line of the header row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_line: Option<u64>,
    /// Column headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// Byte sequences that were not valid in the encoding.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub invalid_byte_sequences: u64,
    /// Lines of a file read in a guessed single-byte encoding that were UTF-8 and read as such
    /// (two exports joined), and the first of them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub utf8_lines: u64,
    /// See `utf8_lines`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_utf8_line: Option<u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A file-level failure: what and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Stable code (`unterminated_quote`, `empty_file`, `zip_bomb`, ...).
    pub code: String,
    /// What is wrong, with the position.
    pub message: String,
    /// File name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// Sheet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
}

/// Chunk progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChunkProgress {
    /// Chunks planned (known after splitting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u32>,
    /// Chunks processed.
    pub done: u32,
}

/// How a CSV upload is split.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SplitPlan {
    /// Parse the whole file to find boundaries (after quote parity was fooled, or to locate a
    /// file-level fault exactly); otherwise cut by quote parity and parse in the chunks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exact: bool,
    /// Encoding decided after a first pass (a legacy code page found past the first block).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Why the upload was split again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where the delivery of an import's rows stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// `pending`, `delivering`, `delivered` or `failed`.
    pub state: DeliveryState,
    /// Delivery round: 1, then one more per redelivery.
    pub round: u32,
    /// Batches of rows (the completion event comes after them).
    pub batch_count: u32,
    /// Batches acknowledged by the receiver.
    pub batches_sent: u32,
    /// Why the delivery failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// States of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Queued.
    Pending,
    /// Batches going out.
    Delivering,
    /// Every batch and the completion event acknowledged.
    Delivered,
    /// Given up after retries (or the destination is disabled); can be redelivered.
    Failed,
}

/// The finished results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Results {
    /// Which rows `rows.jsonl` holds.
    pub rows_kept: RowsKept,
    /// Rows in `rows.jsonl`.
    pub row_count: u64,
    /// Blob key of `rows.jsonl`.
    pub rows_key: String,
    /// Blob key of `errors.jsonl`.
    pub errors_key: String,
    /// Blob key of `results.csv`.
    pub results_key: String,
}

/// An import: the record every runtime keeps and the API returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Import {
    /// Id.
    pub id: ImportId,
    /// Owner.
    pub tenant: TenantId,
    /// Environment (`production` unless named).
    pub environment: String,
    /// Status.
    pub status: ImportStatus,
    /// Why the import is in `NEEDS_REVIEW` or `FAILED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// The file-level failure, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Template pinned.
    pub template: TemplateRef,
    /// Effective settings (template merged with the import's overrides).
    pub settings: Settings,
    /// Name of the uploaded file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_filename: Option<String>,
    /// Caller's label (Dromo's `importIdentifier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_identifier: Option<String>,
    /// Where the upload is.
    pub upload: Upload,
    /// What the splitter found.
    #[serde(default)]
    pub detected: Detected,
    /// Column decisions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mapping: Vec<ColumnMapping>,
    /// Mapping problems a person must resolve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mapping_problems: Vec<MappingProblem>,
    /// Row counts (final after finalize).
    pub counts: Counts,
    /// Data rows found by the splitter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
    /// Chunk progress.
    pub chunks: ChunkProgress,
    /// Split generation (a new one after a mapping review, or a re-split).
    pub generation: u32,
    /// How the current generation splits.
    #[serde(default)]
    pub split: SplitPlan,
    /// The results, once finalized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<Results>,
    /// Webhook destination key, or `None` for metadata only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// Delivery of the rows to the destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// Who started it (free-form, as in Dromo's `user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<serde_json::Value>,
    /// Caller's metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// Created.
    pub created_at: Timestamp,
    /// Upload accepted, processing started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// Reached a settled status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// Last sign of life from a worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_at: Option<Timestamp>,
    /// Optimistic-concurrency version, bumped by every write.
    pub version: u64,
}

impl Import {
    /// Progress in percent: splitting is the first 5, chunks up to 95, finalize the rest.
    pub fn progress(&self) -> u8 {
        if self.status.is_settled() && self.status != sluice_core::ImportStatus::NeedsReview {
            return 100;
        }
        match self.chunks.total {
            None => 0,
            Some(0) => 95,
            Some(total) => (5 + (u64::from(self.chunks.done) * 90 / u64::from(total))) as u8,
        }
    }

    /// Milliseconds from start to end (or to `now` while running).
    pub fn duration_ms(&self, now: Timestamp) -> Option<i64> {
        let start = self.started_at?;
        let end = self.ended_at.unwrap_or(now);
        Some(end.duration_since(start).as_millis() as i64)
    }

    /// The import as the API and the CLI show it: the record plus derived fields.
    pub fn to_view(&self, now: Timestamp) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            obj.remove("version");
            obj.insert("progress".into(), self.progress().into());
            if let Some(ms) = self.duration_ms(now) {
                obj.insert("duration_ms".into(), ms.into());
            }
        }
        v
    }
}

/// Which imports an activity feed shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportFilter {
    /// Only this status.
    pub status: Option<ImportStatus>,
    /// Only this template.
    pub template_id: Option<String>,
    /// Only this environment.
    pub environment: Option<String>,
    /// Created at or after.
    pub created_from: Option<Timestamp>,
    /// Created before.
    pub created_to: Option<Timestamp>,
}

impl ImportFilter {
    /// Whether an import passes.
    pub fn matches(&self, i: &Import) -> bool {
        self.status.is_none_or(|s| s == i.status)
            && self.template_id.as_ref().is_none_or(|t| *t == i.template.id)
            && self.environment.as_ref().is_none_or(|e| *e == i.environment)
            && self.created_from.is_none_or(|t| i.created_at >= t)
            && self.created_to.is_none_or(|t| i.created_at < t)
    }
}

/// Everything a chunk worker needs, written once by the splitter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportJob {
    /// The template as pinned.
    pub template: TemplateSpec,
    /// Effective settings.
    pub settings: Settings,
    /// Where each field comes from.
    pub plan: ColumnPlan,
    /// How chunk bytes are laid out.
    pub layout: ChunkLayout,
    /// Which rows chunk row files hold.
    pub rows_mode: RowsMode,
    /// Blob holding CSV chunk bytes (the upload or its UTF-8 transcoding); `None` for converted chunks.
    pub source_key: Option<String>,
    /// Whether workbook serial dates count from 1904.
    pub is_1904: bool,
    /// Line of the header.
    pub header_line: u64,
    /// Lines skipped above the header.
    pub skipped_lines: Vec<u64>,
    /// Totals rows of a sheet's tables, skipped: the line and the table's name.
    #[serde(default)]
    pub totals_rows: Vec<(u64, String)>,
}

/// A unit of queued work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Split an accepted upload.
    Split {
        /// Owner.
        tenant: TenantId,
        /// Import.
        import: ImportId,
        /// Generation to split into.
        generation: u32,
    },
    /// Process one chunk.
    Chunk {
        /// Owner.
        tenant: TenantId,
        /// Import.
        import: ImportId,
        /// Generation the chunk belongs to.
        generation: u32,
        /// The chunk.
        chunk: ChunkSpec,
    },
    /// Finalize after the last chunk.
    Finalize {
        /// Owner.
        tenant: TenantId,
        /// Import.
        import: ImportId,
        /// Generation to finalize.
        generation: u32,
    },
    /// Deliver one batch of rows (or, after the last, the completion event) to the destination.
    Deliver {
        /// Owner.
        tenant: TenantId,
        /// Import.
        import: ImportId,
        /// Delivery round (a redelivery starts a new one).
        round: u32,
        /// Batch to send; `batch_count` means the `import.completed` event.
        batch: u32,
        /// Attempt number, from 1.
        attempt: u32,
    },
}

impl Job {
    /// The import the job is for.
    pub fn import(&self) -> &ImportId {
        match self {
            Job::Split { import, .. }
            | Job::Chunk { import, .. }
            | Job::Finalize { import, .. }
            | Job::Deliver { import, .. } => import,
        }
    }

    /// The job's kind, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Split { .. } => "split",
            Job::Chunk { .. } => "chunk",
            Job::Finalize { .. } => "finalize",
            Job::Deliver { .. } => "deliver",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_sortable_and_checked() {
        let a = ImportId::generate();
        assert!(a.as_str().starts_with("imp_"));
        assert_eq!(ImportId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(ImportId::parse("imp_../../etc"), None);
        assert_eq!(ImportId::parse("tpl_01ABC"), None);
        assert!(TenantId::parse("acme-prod_1").is_some());
        assert!(TenantId::parse("acme/../x").is_none());
    }
}
