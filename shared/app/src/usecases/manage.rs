//! Imports as the API manages them: the activity feed, cancelling, resuming a review with a
//! mapping, idempotent creation.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sluice_core::ImportStatus;

use super::{App, AppError};
use crate::items::IdempotencyRecord;
use crate::model::{Import, ImportFilter, ImportId, Job, TenantId};

/// A page of the activity feed.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportPage {
    /// Imports, newest first.
    pub imports: Vec<Import>,
    /// Opaque token of the next page.
    pub next_page_token: Option<String>,
}

impl App {
    /// The Import Activity feed: a tenant's imports, newest first, filtered, paged by an opaque token.
    pub async fn list_imports(
        &self,
        tenant: &TenantId,
        filter: &ImportFilter,
        page_token: Option<&str>,
        limit: usize,
    ) -> Result<ImportPage, AppError> {
        let after = match page_token {
            Some(token) => {
                let raw = URL_SAFE_NO_PAD.decode(token).ok().and_then(|b| String::from_utf8(b).ok());
                Some(
                    raw.and_then(|r| ImportId::parse(&r))
                        .ok_or_else(|| AppError::Invalid("page_token: not a token of this feed".into()))?,
                )
            }
            None => None,
        };
        let limit = limit.clamp(1, 200);
        let mut imports = self.imports.list(tenant, filter, after.as_ref(), limit + 1).await?;
        let next_page_token = if imports.len() > limit {
            imports.truncate(limit);
            imports.last().map(|i| URL_SAFE_NO_PAD.encode(i.id.as_str()))
        } else {
            None
        };
        Ok(ImportPage { imports, next_page_token })
    }

    /// Cancels an import that has not finished (or waits for review). Its queued work is then
    /// skipped; nothing is delivered.
    pub async fn cancel_import(&self, tenant: &TenantId, id: &ImportId) -> Result<Import, AppError> {
        let now = self.clock.now();
        let (import, changed) = self
            .update_import(tenant, id, |i| {
                if !i.status.can_become(ImportStatus::Cancelled) {
                    return false;
                }
                i.status = ImportStatus::Cancelled;
                i.status_reason = Some("cancelled on request".into());
                i.ended_at = Some(now);
                true
            })
            .await?;
        if !changed && import.status != ImportStatus::Cancelled {
            return Err(AppError::Conflict(format!(
                "import {id} is {} and cannot be cancelled",
                import.status.as_str()
            )));
        }
        Ok(import)
    }

    /// Resumes an import in `NEEDS_REVIEW` with a mapping (header name or 1-based column number
    /// → field key, `None` to ignore a column): the upload is split again with it.
    pub async fn apply_mapping(
        &self,
        tenant: &TenantId,
        id: &ImportId,
        mapping: BTreeMap<String, Option<String>>,
    ) -> Result<Import, AppError> {
        let spec: sluice_core::TemplateSpec =
            serde_json::from_slice(&self.blobs.get(&crate::keys::template(tenant, id)).await?)
                .map_err(|e| AppError::Internal(format!("template snapshot of {id}: {e}")))?;
        for (column, target) in &mapping {
            if let Some(key) = target
                && !spec.fields.iter().any(|f| &f.key == key)
            {
                return Err(AppError::Invalid(format!("mapping.{column}: no field has the key {key:?}")));
            }
        }
        let (import, changed) = self
            .update_import(tenant, id, |i| {
                if i.status != ImportStatus::NeedsReview {
                    return false;
                }
                i.settings.mapping.extend(mapping.iter().map(|(k, v)| (k.clone(), v.clone())));
                i.status = ImportStatus::Running;
                i.status_reason = None;
                i.mapping_problems.clear();
                i.generation += 1;
                i.chunks = Default::default();
                i.counts = Default::default();
                i.records = None;
                i.results = None;
                i.ended_at = None;
                true
            })
            .await?;
        if !changed {
            return Err(AppError::Conflict(format!("import {id} is {}, not NEEDS_REVIEW", import.status.as_str())));
        }
        self.queue
            .send(vec![Job::Split { tenant: tenant.clone(), import: id.clone(), generation: import.generation }])
            .await?;
        Ok(import)
    }

    /// Runs `create` once per idempotency key: the same key with the same request gets the
    /// first response again; with a different request, an error.
    pub async fn idempotent<F, Fut>(
        &self,
        tenant: &TenantId,
        scope: &str,
        request_hash: &str,
        create: F,
    ) -> Result<(u16, serde_json::Value), AppError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(u16, serde_json::Value), AppError>>,
    {
        if let Some(seen) = self.items.idempotency(tenant, scope).await? {
            return if seen.request_hash == request_hash {
                Ok((seen.status, seen.body))
            } else {
                Err(AppError::Unprocessable("Idempotency-Key was used with a different request".into()))
            };
        }
        let (status, body) = create().await?;
        let record = IdempotencyRecord { request_hash: request_hash.to_string(), status, body: body.clone() };
        if self.items.put_idempotency(tenant, scope, &record, self.clock.now()).await.is_err() {
            // A concurrent request with the same key won: answer what it answered.
            if let Some(seen) = self.items.idempotency(tenant, scope).await? {
                return Ok((seen.status, seen.body));
            }
        }
        Ok((status, body))
    }
}
