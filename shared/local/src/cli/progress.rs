//! Progress bars on stderr (hidden when stderr is not a terminal).

use std::sync::Arc;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sluice_app::model::ImportId;
use sluice_app::ports::ProgressSink;

/// The splitting and chunk bars.
#[derive(Clone)]
pub struct Bars {
    split: ProgressBar,
    chunks: ProgressBar,
}

impl Bars {
    /// Bars on stderr, or none with `quiet`.
    pub fn new(quiet: bool) -> Arc<Bars> {
        let multi =
            if quiet { MultiProgress::with_draw_target(ProgressDrawTarget::hidden()) } else { MultiProgress::new() };
        let style =
            |template: &str| ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
        let split = multi.add(ProgressBar::new(0));
        split.set_style(style("{prefix:>9} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})").progress_chars("=> "));
        split.set_prefix("splitting");
        let chunks = multi.add(ProgressBar::new(0));
        chunks.set_style(style("{prefix:>9} [{bar:30}] {pos}/{len} chunks").progress_chars("=> "));
        chunks.set_prefix("chunks");
        Arc::new(Bars { split, chunks })
    }

    /// Shows chunk progress.
    pub fn chunks(&self, done: u32, total: Option<u32>) {
        if let Some(total) = total {
            if self.split.length() != Some(0) || !self.split.is_finished() {
                self.split.finish();
            }
            self.chunks.set_length(u64::from(total));
            self.chunks.set_position(u64::from(done));
        }
    }

    /// Removes the bars.
    pub fn clear(&self) {
        self.split.finish_and_clear();
        self.chunks.finish_and_clear();
    }
}

impl ProgressSink for Bars {
    fn split_progress(&self, _import: &ImportId, read: u64, total: u64) {
        self.split.set_length(total);
        self.split.set_position(read);
    }
}
