//! Typed records over the single-table [`ItemStore`]: templates and their versions, webhook
//! destinations, API keys, idempotency records, delivery attempts.
//!
//! Keys follow the design card: the partition key is `TENANT#{tenant}`, so one tenant's items
//! live together and no query can reach another tenant's. API keys are also indexed by their
//! hash (`APIKEY#{hash}`), the only lookup that starts without a tenant.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sluice_core::template::TemplateSpec;

use crate::model::{ImportId, TemplateId, TenantId};
use crate::ports::{Condition, Item, ItemStore, StoreError, StoreErrorKind};

/// Partition of a tenant.
pub fn tenant_pk(tenant: &TenantId) -> String {
    format!("TENANT#{tenant}")
}

fn decode<T: DeserializeOwned>(item: &Item, what: &str) -> Result<T, StoreError> {
    serde_json::from_slice(&item.value)
        .map_err(|e| StoreError::with_source(StoreErrorKind::Permanent, format!("stored {what} unreadable"), e))
}

fn encode<T: Serialize>(value: &T) -> Result<Bytes, StoreError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| StoreError::with_source(StoreErrorKind::Permanent, "record not serializable", e))
}

/// A stored template: its versions are separate items, pushed snapshots name a version per
/// environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateRecord {
    /// Id.
    pub id: TemplateId,
    /// Name (of the latest version).
    pub name: String,
    /// Newest version.
    pub latest_version: u32,
    /// Version pushed to each environment.
    #[serde(default)]
    pub pushed: BTreeMap<String, u32>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
}

/// A webhook signing secret; an old one stays valid until `expires_at` after a rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    /// `whsec_` and base64 of the key.
    pub value: String,
    /// When it stops being used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

/// A webhook destination of one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// Key chosen by the tenant (`crm`, `warehouse`).
    pub key: String,
    /// Environment.
    pub environment: String,
    /// Where batches go.
    pub url: String,
    /// Signing secrets, newest first.
    pub secrets: Vec<Secret>,
    /// Set when the receiver answered 410 Gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<String>,
    /// Created.
    pub created_at: Timestamp,
}

impl Destination {
    /// Secrets still valid at `now`.
    pub fn active_secrets(&self, now: Timestamp) -> Vec<&str> {
        self.secrets.iter().filter(|s| s.expires_at.is_none_or(|t| t > now)).map(|s| s.value.as_str()).collect()
    }
}

/// An API key, known only by its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// `key_` and a ULID, for listing and revoking.
    pub id: String,
    /// Owner.
    pub tenant: TenantId,
    /// Environment it may act in.
    pub environment: String,
    /// Its visible beginning (`sk_production_AbC1`).
    pub prefix: String,
    /// A person's name for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Created.
    pub created_at: Timestamp,
}

/// A response remembered for an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// SHA-256 of the request body.
    pub request_hash: String,
    /// Status code of the first response.
    pub status: u16,
    /// Its body.
    pub body: serde_json::Value,
}

/// One attempt to send a batch or the completion event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// Delivery round.
    pub round: u32,
    /// `batch` or `import.completed`.
    pub kind: String,
    /// Batch index (the batch count for the completion event).
    pub batch: u32,
    /// Attempt number.
    pub attempt: u32,
    /// When.
    pub at: Timestamp,
    /// The receiver's status code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// What went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `webhook-id` of the message.
    pub webhook_id: String,
}

/// The typed records.
#[derive(Clone)]
pub struct Items {
    store: Arc<dyn ItemStore>,
}

impl Items {
    /// Records over a store.
    pub fn new(store: Arc<dyn ItemStore>) -> Items {
        Items { store }
    }

    async fn get<T: DeserializeOwned>(&self, pk: &str, sk: &str, what: &str) -> Result<Option<(T, u64)>, StoreError> {
        match self.store.get(pk, sk).await? {
            Some(item) => Ok(Some((decode(&item, what)?, item.version))),
            None => Ok(None),
        }
    }

    // Templates.

    /// Reads a template record.
    pub async fn template(
        &self,
        tenant: &TenantId,
        id: &TemplateId,
    ) -> Result<Option<(TemplateRecord, u64)>, StoreError> {
        self.get(&tenant_pk(tenant), &format!("TPL#{id}"), "template").await
    }

    /// Writes a template record if `condition` holds.
    pub async fn put_template(
        &self,
        tenant: &TenantId,
        record: &TemplateRecord,
        condition: Condition,
    ) -> Result<(), StoreError> {
        self.store
            .put(&tenant_pk(tenant), &format!("TPL#{}", record.id), encode(record)?, condition, None)
            .await
            .map(|_| ())
    }

    /// Every template of a tenant.
    pub async fn templates(&self, tenant: &TenantId) -> Result<Vec<TemplateRecord>, StoreError> {
        let items = self.store.query(&tenant_pk(tenant), "TPL#", None, usize::MAX, false).await?;
        items.iter().map(|(_, item)| decode(item, "template")).collect()
    }

    /// Deletes a template and its versions.
    pub async fn delete_template(&self, tenant: &TenantId, id: &TemplateId) -> Result<(), StoreError> {
        let pk = tenant_pk(tenant);
        for (sk, _) in self.store.query(&pk, &format!("TPLV#{id}#"), None, usize::MAX, false).await? {
            self.store.delete(&pk, &sk, Condition::None).await?;
        }
        self.store.delete(&pk, &format!("TPL#{id}"), Condition::None).await
    }

    /// Reads one version of a template.
    pub async fn template_version(
        &self,
        tenant: &TenantId,
        id: &TemplateId,
        version: u32,
    ) -> Result<Option<TemplateSpec>, StoreError> {
        Ok(self.get(&tenant_pk(tenant), &format!("TPLV#{id}#{version:08}"), "template version").await?.map(|(s, _)| s))
    }

    /// Stores a new version of a template (never overwrites one).
    pub async fn put_template_version(
        &self,
        tenant: &TenantId,
        id: &TemplateId,
        version: u32,
        spec: &TemplateSpec,
    ) -> Result<(), StoreError> {
        let sk = format!("TPLV#{id}#{version:08}");
        self.store.put(&tenant_pk(tenant), &sk, encode(spec)?, Condition::Absent, None).await.map(|_| ())
    }

    // Destinations.

    /// Reads a destination.
    pub async fn destination(
        &self,
        tenant: &TenantId,
        env: &str,
        key: &str,
    ) -> Result<Option<(Destination, u64)>, StoreError> {
        self.get(&tenant_pk(tenant), &format!("DEST#{env}#{key}"), "destination").await
    }

    /// Writes a destination if `condition` holds.
    pub async fn put_destination(
        &self,
        tenant: &TenantId,
        d: &Destination,
        condition: Condition,
    ) -> Result<(), StoreError> {
        let sk = format!("DEST#{}#{}", d.environment, d.key);
        self.store.put(&tenant_pk(tenant), &sk, encode(d)?, condition, None).await.map(|_| ())
    }

    /// Destinations of an environment.
    pub async fn destinations(&self, tenant: &TenantId, env: &str) -> Result<Vec<Destination>, StoreError> {
        let items = self.store.query(&tenant_pk(tenant), &format!("DEST#{env}#"), None, usize::MAX, false).await?;
        items.iter().map(|(_, item)| decode(item, "destination")).collect()
    }

    /// Deletes a destination.
    pub async fn delete_destination(&self, tenant: &TenantId, env: &str, key: &str) -> Result<(), StoreError> {
        self.store.delete(&tenant_pk(tenant), &format!("DEST#{env}#{key}"), Condition::None).await
    }

    // API keys.

    /// Stores an API key under its hash and in its tenant's list.
    pub async fn put_api_key(&self, hash: &str, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let body = encode(record)?;
        self.store.put(&format!("APIKEY#{hash}"), "KEY", body.clone(), Condition::Absent, None).await?;
        self.store
            .put(&tenant_pk(&record.tenant), &format!("KEY#{}", record.id), body, Condition::Absent, None)
            .await?;
        Ok(())
    }

    /// Finds an API key by the hash of its secret.
    pub async fn api_key(&self, hash: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self.get(&format!("APIKEY#{hash}"), "KEY", "API key").await?.map(|(k, _)| k))
    }

    // Idempotency.

    /// Reads the remembered response of an idempotency key.
    pub async fn idempotency(&self, tenant: &TenantId, scope: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(self.get(&tenant_pk(tenant), &format!("IDEM#{scope}"), "idempotency record").await?.map(|(r, _)| r))
    }

    /// Remembers a response for a day; `Conflict` if another request stored one first.
    pub async fn put_idempotency(
        &self,
        tenant: &TenantId,
        scope: &str,
        record: &IdempotencyRecord,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let expires = now.as_second() + 24 * 3600;
        self.store
            .put(&tenant_pk(tenant), &format!("IDEM#{scope}"), encode(record)?, Condition::Absent, Some(expires))
            .await
            .map(|_| ())
    }

    // Delivery attempts.

    /// Records a delivery attempt.
    pub async fn put_attempt(
        &self,
        tenant: &TenantId,
        import: &ImportId,
        a: &DeliveryAttempt,
    ) -> Result<(), StoreError> {
        let sk = format!("DELIVERY#{import}#{:04}#{:08}#{:04}", a.round, a.batch, a.attempt);
        self.store.put(&tenant_pk(tenant), &sk, encode(a)?, Condition::None, None).await.map(|_| ())
    }

    /// The delivery log of an import, oldest first.
    pub async fn attempts(&self, tenant: &TenantId, import: &ImportId) -> Result<Vec<DeliveryAttempt>, StoreError> {
        let items =
            self.store.query(&tenant_pk(tenant), &format!("DELIVERY#{import}#"), None, usize::MAX, false).await?;
        let mut attempts: Vec<DeliveryAttempt> =
            items.iter().map(|(_, i)| decode(i, "delivery attempt")).collect::<Result<_, _>>()?;
        attempts.sort_by_key(|a| a.at);
        Ok(attempts)
    }
}
