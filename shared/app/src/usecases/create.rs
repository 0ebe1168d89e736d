//! Creating an import and accepting its upload.

use serde_json::Value;
use sluice_core::ImportStatus;
use sluice_core::settings::SettingsPatch;
use sluice_core::template::{Schema, TemplateSpec};

use super::{App, AppError};
use crate::keys;
use crate::model::{ChunkProgress, Detected, Import, ImportId, Job, TemplateRef, TenantId, Upload};
use crate::ports::BlobMeta;

/// A request to create an import.
#[derive(Debug, Clone)]
pub struct CreateImport {
    /// Owner.
    pub tenant: TenantId,
    /// Environment.
    pub environment: String,
    /// The template's content.
    pub template: TemplateSpec,
    /// The stored template and version it came from; `None` for an inline template.
    pub template_ref: Option<TemplateRef>,
    /// Settings laid over the template's.
    pub settings: SettingsPatch,
    /// Name of the file to come.
    pub original_filename: Option<String>,
    /// Webhook destination key.
    pub destination: Option<String>,
    /// Who starts it.
    pub user: Option<Value>,
    /// Caller's metadata.
    pub metadata: Option<Value>,
}

impl App {
    /// Creates an import waiting for its upload. The template is checked and pinned.
    pub async fn create_import(&self, req: CreateImport) -> Result<Import, AppError> {
        let schema = Schema::compile(req.template.clone()).map_err(|e| AppError::Invalid(format!("template: {e}")))?;
        let settings = schema
            .spec()
            .settings
            .merged(&req.settings)
            .resolve("settings")
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        for (column, target) in &settings.mapping {
            if let Some(key) = target
                && schema.field_index(key).is_none()
            {
                return Err(AppError::Invalid(format!("settings.mapping.{column}: no field has the key {key:?}")));
            }
        }
        if let Some(key) = &req.destination
            && self.items.destination(&req.tenant, &req.environment, key).await?.is_none()
        {
            return Err(AppError::Invalid(format!(
                "destination: no webhook destination {key:?} in the {} environment",
                req.environment
            )));
        }
        let id = ImportId::generate();
        let template_ref = req.template_ref.unwrap_or_else(|| TemplateRef {
            id: "inline".into(),
            version: 1,
            name: schema.name().to_string(),
        });
        let snapshot = serde_json::to_vec(schema.spec()).map_err(|e| AppError::Internal(e.to_string()))?;
        self.blobs.put(&keys::template(&req.tenant, &id), snapshot.into()).await?;
        let import = Import {
            upload: Upload { key: keys::upload(&req.tenant, &id), size: None, etag: None, queued: false },
            id,
            tenant: req.tenant,
            environment: req.environment,
            status: ImportStatus::AwaitingUpload,
            status_reason: None,
            failure: None,
            template: template_ref,
            import_identifier: settings.import_identifier.clone(),
            settings,
            original_filename: req.original_filename,
            detected: Detected::default(),
            mapping: Vec::new(),
            mapping_problems: Vec::new(),
            counts: Default::default(),
            records: None,
            chunks: ChunkProgress::default(),
            generation: 0,
            split: Default::default(),
            results: None,
            destination: req.destination,
            delivery: None,
            user: req.user,
            metadata: req.metadata,
            created_at: self.clock.now(),
            started_at: None,
            ended_at: None,
            last_heartbeat_at: None,
            version: 1,
        };
        self.imports.insert(&import).await?;
        tracing::info!(import_id = %import.id, tenant = %import.tenant, "import created");
        Ok(import)
    }

    /// Accepts the uploaded object of an import and queues the split. A replayed event for the
    /// same object queues the split again (splitting is idempotent); an event for an import
    /// that already moved on is ignored.
    pub async fn accept_upload(&self, tenant: &TenantId, id: &ImportId, object: BlobMeta) -> Result<Import, AppError> {
        let now = self.clock.now();
        let (import, changed) = self
            .update_import(tenant, id, |import| {
                if import.status != ImportStatus::AwaitingUpload {
                    return false;
                }
                import.status = ImportStatus::Running;
                import.generation = 1;
                import.started_at = Some(now);
                import.last_heartbeat_at = Some(now);
                import.upload.size = Some(object.size);
                import.upload.etag = Some(object.etag.clone());
                true
            })
            .await?;
        let same_object = import.upload.etag.as_deref() == Some(object.etag.as_str());
        // Queued again only when a first attempt stopped between accepting and queueing; once
        // the split is queued, a replayed or duplicated upload event changes nothing.
        let unqueued = import.status == ImportStatus::Running
            && same_object
            && !import.upload.queued
            && import.chunks.total.is_none();
        if changed || unqueued {
            self.queue
                .send(vec![Job::Split { tenant: tenant.clone(), import: id.clone(), generation: import.generation }])
                .await?;
            let etag = object.etag.clone();
            let (queued, _) = self
                .update_import(tenant, id, |i| {
                    if i.upload.etag.as_deref() != Some(etag.as_str()) || i.upload.queued {
                        return false;
                    }
                    i.upload.queued = true;
                    true
                })
                .await?;
            tracing::info!(import_id = %id, size = object.size, "upload accepted");
            return Ok(queued);
        }
        tracing::info!(import_id = %id, status = import.status.as_str(), "upload event ignored");
        Ok(import)
    }
}
