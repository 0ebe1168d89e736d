//! Webhook destinations and API keys.

use jiff::SignedDuration;
use sha2::{Digest, Sha256};

use super::{App, AppError};
use crate::items::{ApiKeyRecord, Destination, Secret};
use crate::model::TenantId;
use crate::ports::{Condition, StoreErrorKind};
use crate::webhook::new_secret;

/// How long an old signing secret keeps signing after a rotation.
pub const ROTATION_GRACE: SignedDuration = SignedDuration::from_hours(24);

/// The SHA-256 (hex) under which an API key is stored.
pub fn api_key_hash(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_token(len: usize) -> Result<String, AppError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Internal(format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect())
}

/// Checks a destination key: 1-64 of letters, digits, `-`, `_`.
fn check_key(key: &str) -> Result<(), AppError> {
    let ok =
        !key.is_empty() && key.len() <= 64 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(AppError::Invalid(format!("key: {key:?} is not 1-64 letters, digits, - or _"))) }
}

impl App {
    /// Registers a destination. The URL is checked (scheme, and that it resolves to no
    /// private, loopback, link-local or metadata address); the secret is returned only here.
    pub async fn create_destination(
        &self,
        tenant: &TenantId,
        environment: &str,
        key: &str,
        url: &str,
    ) -> Result<Destination, AppError> {
        check_key(key)?;
        self.webhooks.check_url(url).await.map_err(|why| AppError::Invalid(format!("url: {why}")))?;
        let d = Destination {
            key: key.to_string(),
            environment: environment.to_string(),
            url: url.to_string(),
            secrets: vec![Secret { value: new_secret().map_err(AppError::Internal)?, expires_at: None }],
            disabled: None,
            created_at: self.clock.now(),
        };
        match self.items.put_destination(tenant, &d, Condition::Absent).await {
            Ok(()) => Ok(d),
            Err(e) if e.kind == StoreErrorKind::Conflict => {
                Err(AppError::Conflict(format!("a destination with the key {key:?} exists")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The destinations of an environment.
    pub async fn list_destinations(&self, tenant: &TenantId, environment: &str) -> Result<Vec<Destination>, AppError> {
        Ok(self.items.destinations(tenant, environment).await?)
    }

    /// Reads a destination.
    pub async fn get_destination(
        &self,
        tenant: &TenantId,
        environment: &str,
        key: &str,
    ) -> Result<Destination, AppError> {
        Ok(self
            .items
            .destination(tenant, environment, key)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("destination {key}")))?
            .0)
    }

    /// Deletes a destination.
    pub async fn delete_destination(&self, tenant: &TenantId, environment: &str, key: &str) -> Result<(), AppError> {
        self.get_destination(tenant, environment, key).await?;
        Ok(self.items.delete_destination(tenant, environment, key).await?)
    }

    /// Gives a destination a new secret; the old one keeps signing for [`ROTATION_GRACE`].
    /// Also re-enables a destination disabled by a 410.
    pub async fn rotate_destination_secret(
        &self,
        tenant: &TenantId,
        environment: &str,
        key: &str,
    ) -> Result<Destination, AppError> {
        for _ in 0..20 {
            let (mut d, version) = self
                .items
                .destination(tenant, environment, key)
                .await?
                .ok_or_else(|| AppError::NotFound(format!("destination {key}")))?;
            let now = self.clock.now();
            let until = now.checked_add(ROTATION_GRACE).unwrap_or(now);
            for s in &mut d.secrets {
                if s.expires_at.is_none_or(|t| t > until) {
                    s.expires_at = Some(until);
                }
            }
            d.secrets.retain(|s| s.expires_at.is_none_or(|t| t > now));
            d.secrets.insert(0, Secret { value: new_secret().map_err(AppError::Internal)?, expires_at: None });
            d.disabled = None;
            match self.items.put_destination(tenant, &d, Condition::Version(version)).await {
                Ok(()) => return Ok(d),
                Err(e) if e.kind == StoreErrorKind::Conflict => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AppError::Conflict(format!("destination {key} kept changing")))
    }

    /// Marks a destination disabled (the receiver answered 410 Gone).
    pub(crate) async fn disable_destination(
        &self,
        tenant: &TenantId,
        environment: &str,
        key: &str,
        why: String,
    ) -> Result<(), AppError> {
        for _ in 0..20 {
            let Some((mut d, version)) = self.items.destination(tenant, environment, key).await? else { return Ok(()) };
            d.disabled = Some(why.clone());
            match self.items.put_destination(tenant, &d, Condition::Version(version)).await {
                Ok(()) => return Ok(()),
                Err(e) if e.kind == StoreErrorKind::Conflict => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Creates a backend API key for a tenant and environment. The key itself is returned only
    /// here; only its SHA-256 is stored.
    pub async fn create_api_key(
        &self,
        tenant: &TenantId,
        environment: &str,
        name: Option<String>,
    ) -> Result<(String, ApiKeyRecord), AppError> {
        let secret = format!("sk_{environment}_{}", random_token(32)?);
        let record = ApiKeyRecord {
            id: format!("key_{}", ulid::Ulid::new()),
            tenant: tenant.clone(),
            environment: environment.to_string(),
            prefix: secret.chars().take(secret.len() - 28).collect(),
            name,
            created_at: self.clock.now(),
        };
        self.items.put_api_key(&api_key_hash(&secret), &record).await?;
        Ok((secret, record))
    }

    /// The tenant and environment an API key acts for.
    pub async fn verify_api_key(&self, key: &str) -> Result<Option<ApiKeyRecord>, AppError> {
        Ok(self.items.api_key(&api_key_hash(key)).await?)
    }
}
