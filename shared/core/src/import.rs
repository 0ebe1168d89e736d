//! The import's status machine and the rule that turns counts into a final status.
//!
//! `AWAITING_UPLOAD → RUNNING → SUCCESSFUL | FAILED | NEEDS_REVIEW` as in Dromo's headless API;
//! `NEEDS_REVIEW` may go back to `RUNNING` once a person supplies a mapping, and anything not yet
//! final may be `CANCELLED`.

use serde::{Deserialize, Serialize};

use crate::engine::Counts;
use crate::settings::{InvalidDataBehavior, Settings};

/// Where an import is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ImportStatus {
    /// Created; waiting for the file.
    AwaitingUpload,
    /// Splitting, validating or finalizing.
    Running,
    /// Done; rows are available (and delivered, with a destination).
    Successful,
    /// Stopped by a file-level fault or too many invalid rows.
    Failed,
    /// Waiting for a person: a mapping to confirm, or invalid rows under `BLOCK_SUBMIT`.
    NeedsReview,
    /// Stopped on request.
    Cancelled,
}

impl ImportStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingUpload => "AWAITING_UPLOAD",
            Self::Running => "RUNNING",
            Self::Successful => "SUCCESSFUL",
            Self::Failed => "FAILED",
            Self::NeedsReview => "NEEDS_REVIEW",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Whether nothing more happens without a person (or ever).
    pub fn is_settled(self) -> bool {
        matches!(self, Self::Successful | Self::Failed | Self::NeedsReview | Self::Cancelled)
    }

    /// Whether the status can move to `to`.
    pub fn can_become(self, to: ImportStatus) -> bool {
        use ImportStatus::*;
        matches!(
            (self, to),
            (AwaitingUpload, Running)
                | (AwaitingUpload | Running | NeedsReview, Failed | Cancelled)
                | (Running, Successful | NeedsReview)
                | (NeedsReview, Running)
        )
    }
}

/// Which rows the import's `rows` output holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowsKept {
    /// None (the import failed).
    None,
    /// Valid rows only.
    Valid,
    /// Every row; invalid ones carry their errors.
    All,
}

/// The final decision on a validated import.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The final status.
    pub status: ImportStatus,
    /// Why, when not plainly successful.
    pub reason: Option<String>,
    /// Which rows are kept in the output.
    pub rows: RowsKept,
    /// Whether rows go to the destination.
    pub deliver: bool,
}

/// Applies `max_error_percent` and `invalid_data_behavior` to the final counts.
pub fn decide_outcome(settings: &Settings, counts: &Counts) -> Outcome {
    if let Some(limit) = settings.max_error_percent
        && counts.rows > 0
    {
        let percent = counts.invalid as f64 * 100.0 / counts.rows as f64;
        if percent > limit {
            // As many places as show it is over the limit: 1 of 3 is 33.333%, over 33.33%.
            let places =
                (2..=8).find(|&p| format!("{percent:.p$}").parse::<f64>().is_ok_and(|r| r > limit)).unwrap_or(8);
            return Outcome {
                status: ImportStatus::Failed,
                reason: Some(format!(
                    "{} of {} rows ({percent:.places$}%) are invalid, more than max_error_percent ({limit}%)",
                    counts.invalid, counts.rows
                )),
                rows: RowsKept::None,
                deliver: false,
            };
        }
    }
    match settings.invalid_data_behavior {
        InvalidDataBehavior::BlockSubmit if counts.invalid > 0 => Outcome {
            status: ImportStatus::NeedsReview,
            reason: Some(format!(
                "{} of {} rows are invalid and invalid_data_behavior is BLOCK_SUBMIT: fix the file or import again with REMOVE_INVALID_ROWS or INCLUDE_INVALID_ROWS",
                counts.invalid, counts.rows
            )),
            rows: RowsKept::All,
            deliver: false,
        },
        // Nothing would be delivered: that is no success.
        InvalidDataBehavior::RemoveInvalidRows if counts.invalid > 0 && counts.valid == 0 => Outcome {
            status: ImportStatus::Failed,
            reason: Some(format!(
                "all {} rows are invalid: REMOVE_INVALID_ROWS leaves none to deliver",
                counts.invalid
            )),
            rows: RowsKept::None,
            deliver: false,
        },
        InvalidDataBehavior::BlockSubmit | InvalidDataBehavior::RemoveInvalidRows => {
            Outcome { status: ImportStatus::Successful, reason: None, rows: RowsKept::Valid, deliver: true }
        }
        InvalidDataBehavior::IncludeInvalidRows => {
            Outcome { status: ImportStatus::Successful, reason: None, rows: RowsKept::All, deliver: true }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(rows: u64, invalid: u64) -> Counts {
        Counts { rows, valid: rows - invalid, invalid, ..Default::default() }
    }

    #[test]
    fn each_behavior_decides_as_dromo_does() {
        let with = |b: InvalidDataBehavior| Settings { invalid_data_behavior: b, ..Settings::default() };
        let block = decide_outcome(&with(InvalidDataBehavior::BlockSubmit), &counts(10, 1));
        assert_eq!((block.status, block.rows, block.deliver), (ImportStatus::NeedsReview, RowsKept::All, false));
        let clean = decide_outcome(&with(InvalidDataBehavior::BlockSubmit), &counts(10, 0));
        assert_eq!((clean.status, clean.rows), (ImportStatus::Successful, RowsKept::Valid));
        let remove = decide_outcome(&with(InvalidDataBehavior::RemoveInvalidRows), &counts(10, 3));
        assert_eq!((remove.status, remove.rows), (ImportStatus::Successful, RowsKept::Valid));
        let include = decide_outcome(&with(InvalidDataBehavior::IncludeInvalidRows), &counts(10, 3));
        assert_eq!((include.status, include.rows), (ImportStatus::Successful, RowsKept::All));
        // Every row removed leaves nothing to deliver: no success.
        let none_left = decide_outcome(&with(InvalidDataBehavior::RemoveInvalidRows), &counts(4, 4));
        assert_eq!(
            (none_left.status, none_left.rows, none_left.deliver),
            (ImportStatus::Failed, RowsKept::None, false)
        );
        assert_eq!(
            none_left.reason.as_deref(),
            Some("all 4 rows are invalid: REMOVE_INVALID_ROWS leaves none to deliver")
        );
        let empty = decide_outcome(&with(InvalidDataBehavior::RemoveInvalidRows), &counts(0, 0));
        assert_eq!(empty.status, ImportStatus::Successful);
    }

    #[test]
    fn too_many_invalid_rows_fail_the_import() {
        let s = Settings {
            max_error_percent: Some(10.0),
            invalid_data_behavior: InvalidDataBehavior::RemoveInvalidRows,
            ..Settings::default()
        };
        assert_eq!(decide_outcome(&s, &counts(100, 10)).status, ImportStatus::Successful);
        let failed = decide_outcome(&s, &counts(100, 11));
        assert_eq!(failed.status, ImportStatus::Failed);
        assert!(failed.reason.unwrap().contains("11 of 100 rows (11.00%)"));
        let third = Settings { max_error_percent: Some(33.33), ..s };
        let reason = decide_outcome(&third, &counts(3, 1)).reason.unwrap();
        assert!(reason.contains("1 of 3 rows (33.333%) are invalid, more than max_error_percent (33.33%)"), "{reason}");
    }

    #[test]
    fn the_status_machine_allows_only_forward_moves() {
        use ImportStatus::*;
        assert!(AwaitingUpload.can_become(Running));
        assert!(Running.can_become(NeedsReview));
        assert!(NeedsReview.can_become(Running));
        assert!(!Successful.can_become(Running));
        assert!(!Failed.can_become(Successful));
        assert!(!AwaitingUpload.can_become(Successful));
    }
}
