//! The local stand-in for S3 presigned PUT URLs: `PUT /uploads/{token}`, where the token is
//! signed (HMAC-SHA256), names the import and its upload key, expires, and bounds the size.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use sluice_app::model::{ImportId, TenantId};
use sluice_app::ports::{StoreError, StoreErrorKind, UploadTarget, UploadUrls};

/// What an upload token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadGrant {
    /// Tenant.
    pub tenant: String,
    /// Import.
    pub import: String,
    /// Blob key.
    pub key: String,
    /// Exact size, when declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Largest accepted size.
    pub max: u64,
    /// Expiry, Unix seconds.
    pub exp: i64,
}

/// Signs and checks local upload URLs.
#[derive(Clone)]
pub struct LocalUploads {
    secret: Vec<u8>,
    base_url: String,
}

impl std::fmt::Debug for LocalUploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalUploads").field("base_url", &self.base_url).finish()
    }
}

impl LocalUploads {
    /// URLs under `base_url` (`http://127.0.0.1:8080`), signed with `secret`.
    pub fn new(secret: &[u8], base_url: &str) -> LocalUploads {
        LocalUploads { secret: secret.to_vec(), base_url: base_url.trim_end_matches('/').to_string() }
    }

    fn mac(&self, payload: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(b"sluice-upload.");
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The token of a grant.
    pub fn token(&self, grant: &UploadGrant) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(grant).unwrap_or_default());
        let signature = URL_SAFE_NO_PAD.encode(self.mac(&payload));
        format!("{payload}.{signature}")
    }

    /// Checks a token's signature and expiry.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<UploadGrant, String> {
        let (payload, signature) = token.split_once('.').ok_or("malformed upload token")?;
        let given = URL_SAFE_NO_PAD.decode(signature).map_err(|_| "malformed upload token")?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(b"sluice-upload.");
        mac.update(payload.as_bytes());
        mac.verify_slice(&given).map_err(|_| "the upload URL's signature does not match")?;
        let grant: UploadGrant =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).map_err(|_| "malformed upload token")?)
                .map_err(|_| "malformed upload token")?;
        if grant.exp <= now.as_second() {
            return Err("the upload URL has expired".into());
        }
        Ok(grant)
    }
}

#[async_trait]
impl UploadUrls for LocalUploads {
    async fn upload_url(
        &self,
        tenant: &TenantId,
        import: &ImportId,
        key: &str,
        size: Option<u64>,
        max_bytes: u64,
        expires_at: Timestamp,
    ) -> Result<UploadTarget, StoreError> {
        if size.is_some_and(|s| s > max_bytes) {
            return Err(StoreError::new(StoreErrorKind::Permanent, format!("files may be at most {max_bytes} bytes")));
        }
        let grant = UploadGrant {
            tenant: tenant.to_string(),
            import: import.to_string(),
            key: key.to_string(),
            size,
            max: size.unwrap_or(max_bytes),
            exp: expires_at.as_second(),
        };
        let mut headers = vec![("content-type".to_string(), "application/octet-stream".to_string())];
        if let Some(s) = size {
            headers.push(("content-length".to_string(), s.to_string()));
        }
        Ok(UploadTarget {
            url: format!("{}/uploads/{}", self.base_url, self.token(&grant)),
            method: "PUT".into(),
            headers,
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_signed_and_expire() {
        let uploads = LocalUploads::new(b"secret", "http://127.0.0.1:8080/");
        let grant = UploadGrant {
            tenant: "t".into(),
            import: "imp_1".into(),
            key: "k".into(),
            size: Some(3),
            max: 3,
            exp: 2_000_000_000,
        };
        let token = uploads.token(&grant);
        assert_eq!(uploads.verify(&token, Timestamp::UNIX_EPOCH).unwrap(), grant);
        let tampered = token.replacen('.', "x.", 1);
        assert!(uploads.verify(&tampered, Timestamp::UNIX_EPOCH).is_err());
        assert!(
            LocalUploads::new(b"other", "x").verify(&token, Timestamp::UNIX_EPOCH).unwrap_err().contains("signature")
        );
        let late = Timestamp::from_second(2_000_000_001).unwrap();
        assert!(uploads.verify(&token, late).unwrap_err().contains("expired"));
    }
}
