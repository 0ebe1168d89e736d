//! The drop folder: a file placed under `<data-dir>/drop/{tenant}/{template}/` starts an import
//! by itself, as the S3 `drop/` prefix does on AWS.
//!
//! A file is taken once it has stopped changing (same size and modification time on two scans
//! in a row); names starting with `.` or ending in `.part`, `.tmp` or `~` are still being written
//! and are left alone. `{template}` is a template id (`tpl_…`) or a template's name; the import
//! uses the snapshot pushed to the `production` environment. A file that cannot start an import
//! moves to `<data-dir>/drop-rejected/…` with a `.error.txt` beside it saying why.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sluice_app::AppError;
use sluice_app::model::{ImportId, TenantId};

use crate::LocalRuntime;

/// Watches a drop folder.
#[derive(Debug)]
pub struct DropFolder {
    root: PathBuf,
    rejected: PathBuf,
    seen: HashMap<PathBuf, Stamp>,
    /// Files already imported that could not be removed: not taken again while unchanged.
    taken: HashMap<PathBuf, Stamp>,
}

type Stamp = (u64, Option<SystemTime>);

/// What became of a dropped file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dropped {
    /// An import started.
    Started(ImportId),
    /// The file was refused, for this reason.
    Rejected(String),
}

fn in_progress(name: &str) -> bool {
    name.starts_with('.') || name.ends_with(".part") || name.ends_with(".tmp") || name.ends_with('~')
}

impl DropFolder {
    /// The drop folder of a data directory (created if missing).
    pub fn open(data_dir: &Path) -> std::io::Result<DropFolder> {
        let root = data_dir.join("drop");
        std::fs::create_dir_all(&root)?;
        Ok(DropFolder { root, rejected: data_dir.join("drop-rejected"), seen: HashMap::new(), taken: HashMap::new() })
    }

    /// The folder watched.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Files that have not changed since the previous scan, with their tenant and template.
    fn settled(&mut self) -> Vec<(PathBuf, String, String)> {
        let mut now = HashMap::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if in_progress(&name) {
                    continue;
                }
                let path = entry.path();
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_dir() {
                    stack.push(path);
                } else if meta.is_file() {
                    now.insert(path, (meta.len(), meta.modified().ok()));
                }
            }
        }
        let mut ready = Vec::new();
        for (path, stamp) in &now {
            if self.seen.get(path) != Some(stamp) || self.taken.get(path) == Some(stamp) {
                continue;
            }
            let Ok(relative) = path.strip_prefix(&self.root) else { continue };
            let parts: Vec<String> =
                relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            if parts.len() < 3 {
                // A file directly under drop/ or drop/{tenant}/ names no template.
                ready.push((path.clone(), parts.first().cloned().unwrap_or_default(), String::new()));
            } else {
                ready.push((path.clone(), parts[0].clone(), parts[1].clone()));
            }
        }
        ready.sort();
        self.taken.retain(|path, _| now.contains_key(path));
        self.seen = now;
        ready
    }

    /// Scans once and starts an import for every settled file.
    pub async fn scan(&mut self, runtime: &LocalRuntime) -> Vec<(PathBuf, Dropped)> {
        let mut out = Vec::new();
        for (path, tenant, template) in self.settled() {
            let outcome = match start(runtime, &path, &tenant, &template).await {
                Ok(id) => {
                    tracing::info!(file = %path.display(), import_id = %id, "drop folder: import started");
                    Dropped::Started(id)
                }
                Err(Refusal::Retry(e)) => {
                    tracing::warn!(file = %path.display(), error = %e, "drop folder: will try again");
                    self.seen.remove(&path);
                    continue;
                }
                Err(Refusal::Reject(why)) => {
                    tracing::warn!(file = %path.display(), reason = why.as_str(), "drop folder: file refused");
                    self.reject(&path, &why);
                    Dropped::Rejected(why)
                }
            };
            if let Some(stamp) = self.seen.remove(&path)
                && path.exists()
            {
                self.taken.insert(path.clone(), stamp);
            }
            out.push((path, outcome));
        }
        out
    }

    fn reject(&self, path: &Path, why: &str) {
        let relative = path.strip_prefix(&self.root).unwrap_or(path);
        let dest = self.rejected.join(relative);
        if let Some(parent) = dest.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let note = PathBuf::from(format!("{}.error.txt", dest.display()));
        let _ = std::fs::write(&note, format!("{why}\n"));
        if let Err(e) = std::fs::rename(path, &dest) {
            tracing::error!(file = %path.display(), error = %e, "drop folder: could not move a refused file");
        }
    }

    /// Scans every `interval` until the task is dropped.
    pub async fn watch(mut self, runtime: LocalRuntime, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.scan(&runtime).await;
        }
    }
}

enum Refusal {
    Retry(AppError),
    Reject(String),
}

impl From<AppError> for Refusal {
    fn from(e: AppError) -> Refusal {
        if e.is_retryable() { Refusal::Retry(e) } else { Refusal::Reject(e.to_string()) }
    }
}

async fn start(runtime: &LocalRuntime, path: &Path, tenant: &str, template: &str) -> Result<ImportId, Refusal> {
    let app = &runtime.app;
    if template.is_empty() {
        return Err(Refusal::Reject(
            "put files in drop/{tenant}/{template}/, not directly in drop/ or drop/{tenant}/".into(),
        ));
    }
    let tenant = TenantId::parse(tenant).ok_or_else(|| Refusal::Reject(format!("{tenant:?} is not a tenant name")))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let import = app.create_drop_import(&tenant, template, &name).await?;
    let meta = runtime.blobs.import_file(path, &import.upload.key).await.map_err(|e| Refusal::Retry(e.into()))?;
    app.accept_upload(&tenant, &import.id, meta).await?;
    // The file is in the store now; a crash before this line imports it once more, never zero times.
    if let Err(e) = std::fs::remove_file(path) {
        tracing::error!(file = %path.display(), error = %e, "drop folder: imported, but could not remove the file");
    }
    Ok(import.id)
}
