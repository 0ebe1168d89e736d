//! Stored templates: versions that never change once written, and snapshots pushed to an
//! environment (OneSchema's "push changes"). Imports pin the version they use.

use sluice_core::template::{Schema, TemplateSpec};

use super::{App, AppError};
use crate::items::TemplateRecord;
use crate::model::{TemplateId, TemplateRef, TenantId};
use crate::ports::{Condition, StoreErrorKind};

/// The environment imports of dropped files run in.
pub const DROP_ENVIRONMENT: &str = "production";

/// A template with the content of one of its versions.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateView {
    /// The record.
    pub record: TemplateRecord,
    /// The version shown.
    pub version: u32,
    /// Its content.
    pub spec: TemplateSpec,
}

fn check(spec: &TemplateSpec) -> Result<(), AppError> {
    Schema::compile(spec.clone()).map(|_| ()).map_err(|e| AppError::Invalid(format!("template: {e}")))
}

impl App {
    /// Creates a template at version 1 (pushed nowhere yet).
    pub async fn create_template(&self, tenant: &TenantId, spec: TemplateSpec) -> Result<TemplateView, AppError> {
        check(&spec)?;
        let now = self.clock.now();
        let id = TemplateId::generate();
        self.items.put_template_version(tenant, &id, 1, &spec).await?;
        let record = TemplateRecord {
            id,
            name: spec.name.clone(),
            latest_version: 1,
            pushed: Default::default(),
            created_at: now,
            updated_at: now,
        };
        self.items.put_template(tenant, &record, Condition::Absent).await?;
        Ok(TemplateView { record, version: 1, spec })
    }

    /// Lists a tenant's templates.
    pub async fn list_templates(&self, tenant: &TenantId) -> Result<Vec<TemplateRecord>, AppError> {
        let mut list = self.items.templates(tenant).await?;
        list.sort_by_key(|t| std::cmp::Reverse(t.created_at));
        Ok(list)
    }

    /// Reads a template at its latest version, or at `version`.
    pub async fn get_template(
        &self,
        tenant: &TenantId,
        id: &TemplateId,
        version: Option<u32>,
    ) -> Result<TemplateView, AppError> {
        let (record, _) =
            self.items.template(tenant, id).await?.ok_or_else(|| AppError::NotFound(format!("template {id}")))?;
        let version = version.unwrap_or(record.latest_version);
        let spec = self
            .items
            .template_version(tenant, id, version)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("template {id} version {version}")))?;
        Ok(TemplateView { record, version, spec })
    }

    /// Stores a new version; earlier versions stay as they were.
    pub async fn update_template(
        &self,
        tenant: &TenantId,
        id: &TemplateId,
        spec: TemplateSpec,
    ) -> Result<TemplateView, AppError> {
        check(&spec)?;
        for _ in 0..20 {
            let (mut record, version) =
                self.items.template(tenant, id).await?.ok_or_else(|| AppError::NotFound(format!("template {id}")))?;
            let next = record.latest_version + 1;
            match self.items.put_template_version(tenant, id, next, &spec).await {
                Ok(()) => {}
                Err(e) if e.kind == StoreErrorKind::Conflict => continue,
                Err(e) => return Err(e.into()),
            }
            record.latest_version = next;
            record.name = spec.name.clone();
            record.updated_at = self.clock.now();
            match self.items.put_template(tenant, &record, Condition::Version(version)).await {
                Ok(()) => return Ok(TemplateView { record, version: next, spec }),
                Err(e) if e.kind == StoreErrorKind::Conflict => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Conflict(format!("template {id} kept changing")))
    }

    /// Deletes a template. Imports keep the snapshot they pinned.
    pub async fn delete_template(&self, tenant: &TenantId, id: &TemplateId) -> Result<(), AppError> {
        self.items.template(tenant, id).await?.ok_or_else(|| AppError::NotFound(format!("template {id}")))?;
        self.items.delete_template(tenant, id).await?;
        Ok(())
    }

    /// Pushes a version (the latest by default) to an environment.
    pub async fn push_template(
        &self,
        tenant: &TenantId,
        id: &TemplateId,
        environment: &str,
        version: Option<u32>,
    ) -> Result<TemplateRecord, AppError> {
        for _ in 0..20 {
            let (mut record, v) =
                self.items.template(tenant, id).await?.ok_or_else(|| AppError::NotFound(format!("template {id}")))?;
            let version = version.unwrap_or(record.latest_version);
            if version == 0 || version > record.latest_version {
                return Err(AppError::Invalid(format!(
                    "version: template {id} has versions 1 to {}, not {version}",
                    record.latest_version
                )));
            }
            record.pushed.insert(environment.to_string(), version);
            record.updated_at = self.clock.now();
            match self.items.put_template(tenant, &record, Condition::Version(v)).await {
                Ok(()) => return Ok(record),
                Err(e) if e.kind == StoreErrorKind::Conflict => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Conflict(format!("template {id} kept changing")))
    }

    /// The snapshot pushed to an environment, which an import there must use.
    pub async fn pushed_template(
        &self,
        tenant: &TenantId,
        id: &TemplateId,
        environment: &str,
    ) -> Result<(TemplateSpec, TemplateRef), AppError> {
        let (record, _) =
            self.items.template(tenant, id).await?.ok_or_else(|| AppError::NotFound(format!("template {id}")))?;
        let Some(&version) = record.pushed.get(environment) else {
            return Err(AppError::Conflict(format!(
                "No pushed changes: template {id} has not been pushed to the {environment} environment"
            )));
        };
        let spec = self
            .items
            .template_version(tenant, id, version)
            .await?
            .ok_or_else(|| AppError::Internal(format!("template {id} version {version} is missing")))?;
        Ok((spec, TemplateRef { id: id.to_string(), version, name: record.name }))
    }

    /// A template by id (`tpl_…`) or by name, as a drop folder path names it.
    pub async fn find_template(&self, tenant: &TenantId, id_or_name: &str) -> Result<TemplateId, AppError> {
        if let Some(id) = TemplateId::parse(id_or_name) {
            return Ok(id);
        }
        let matches: Vec<TemplateId> =
            self.list_templates(tenant).await?.into_iter().filter(|t| t.name == id_or_name).map(|t| t.id).collect();
        match matches.as_slice() {
            [id] => Ok(id.clone()),
            [] => Err(AppError::NotFound(format!("template named {id_or_name:?} of tenant {tenant}"))),
            _ => Err(AppError::Invalid(format!(
                "tenant {tenant} has several templates named {id_or_name:?}; use the template id"
            ))),
        }
    }

    /// Creates the import of a file dropped under `drop/{tenant}/{template}/`: the template's
    /// snapshot pushed to [`DROP_ENVIRONMENT`], no destination. The caller stores the file at
    /// the import's upload key and accepts it.
    pub async fn create_drop_import(
        &self,
        tenant: &TenantId,
        template: &str,
        file_name: &str,
    ) -> Result<crate::Import, AppError> {
        let id = self.find_template(tenant, template).await?;
        let (spec, reference) = self.pushed_template(tenant, &id, DROP_ENVIRONMENT).await?;
        self.create_import(crate::CreateImport {
            tenant: tenant.clone(),
            environment: DROP_ENVIRONMENT.into(),
            template: spec,
            template_ref: Some(reference),
            settings: Default::default(),
            original_filename: Some(file_name.to_string()),
            destination: None,
            user: None,
            metadata: Some(serde_json::json!({ "source": "drop_folder" })),
        })
        .await
    }
}
