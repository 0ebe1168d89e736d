//! Typed configuration from the environment, read once at cold start: a missing or malformed
//! setting stops the function before it takes any event, with every fault listed.

use std::collections::HashMap;

/// How bearer tokens are verified.
#[derive(Clone, PartialEq, Eq)]
pub enum JwtKey {
    /// HS256, the secret read from Secrets Manager at this ARN.
    SecretArn(String),
    /// RS256 with this PEM public key.
    PublicKey(String),
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtKey::SecretArn(arn) => write!(f, "SecretArn({arn})"),
            JwtKey::PublicKey(_) => f.write_str("PublicKey(..)"),
        }
    }
}

/// Bearer-token settings (the `api` function only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud`.
    pub audience: String,
    /// The key.
    pub key: JwtKey,
}

/// What every function reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The DynamoDB table (`SLUICE_TABLE`).
    pub table: String,
    /// The upload and results bucket (`SLUICE_BUCKET`).
    pub bucket: String,
    /// Upload events and split jobs (`SLUICE_SPLIT_QUEUE_URL`).
    pub split_queue_url: String,
    /// Chunk and finalize jobs (`SLUICE_CHUNK_QUEUE_URL`).
    pub chunk_queue_url: String,
    /// Webhook deliveries (`SLUICE_DELIVERY_QUEUE_URL`).
    pub delivery_queue_url: String,
    /// Largest upload (`SLUICE_MAX_UPLOAD_BYTES`, default 5 GiB).
    pub max_upload_bytes: u64,
    /// Days finished imports are kept (`SLUICE_RETENTION_DAYS`, default 30).
    pub retention_days: u32,
    /// Receives of a message before it goes to the dead-letter queue, as the queue's redrive
    /// policy says (`SLUICE_MAX_RECEIVES`, default 5): the last one marks the import failed.
    pub max_receives: u32,
    /// Webhooks may go to private addresses (`SLUICE_ALLOW_PRIVATE_WEBHOOKS`, default false;
    /// for tests against local receivers only).
    pub allow_private_webhooks: bool,
    /// Token verification, when configured (`SLUICE_JWT_ISSUER`, `SLUICE_JWT_AUDIENCE`, and
    /// `SLUICE_JWT_SECRET_ARN` or `SLUICE_JWT_PUBLIC_KEY`).
    pub jwt: Option<JwtSettings>,
}

/// Every fault found, one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_vars(&std::env::vars().collect())
    }

    /// Reads a set of variables.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Settings, ConfigError> {
        let mut faults = Vec::new();
        let mut required = |name: &str| match vars.get(name).map(|v| v.trim()) {
            Some(v) if !v.is_empty() => v.to_string(),
            _ => {
                faults.push(format!("{name} is not set"));
                String::new()
            }
        };
        let table = required("SLUICE_TABLE");
        let bucket = required("SLUICE_BUCKET");
        let split_queue_url = required("SLUICE_SPLIT_QUEUE_URL");
        let chunk_queue_url = required("SLUICE_CHUNK_QUEUE_URL");
        let delivery_queue_url = required("SLUICE_DELIVERY_QUEUE_URL");
        fn number<T: std::str::FromStr>(
            vars: &HashMap<String, String>,
            name: &str,
            default: T,
            faults: &mut Vec<String>,
        ) -> T {
            match vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
                None => default,
                Some(v) => v.parse().unwrap_or_else(|_| {
                    faults.push(format!("{name}={v:?} is not a whole number"));
                    default
                }),
            }
        }
        let max_upload_bytes = number(vars, "SLUICE_MAX_UPLOAD_BYTES", 5 * 1024 * 1024 * 1024, &mut faults);
        let retention_days = number(vars, "SLUICE_RETENTION_DAYS", 30, &mut faults);
        let max_receives = number(vars, "SLUICE_MAX_RECEIVES", 5, &mut faults);
        if retention_days == 0 {
            faults.push("SLUICE_RETENTION_DAYS must be at least 1".into());
        }
        let allow_private_webhooks =
            match vars.get("SLUICE_ALLOW_PRIVATE_WEBHOOKS").map(|v| v.trim().to_ascii_lowercase()) {
                None => false,
                Some(v) if v.is_empty() || v == "false" || v == "0" => false,
                Some(v) if v == "true" || v == "1" => true,
                Some(v) => {
                    faults.push(format!("SLUICE_ALLOW_PRIVATE_WEBHOOKS={v:?}: use true or false"));
                    false
                }
            };
        let get = |name: &str| vars.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let jwt = match (
            get("SLUICE_JWT_ISSUER"),
            get("SLUICE_JWT_AUDIENCE"),
            get("SLUICE_JWT_SECRET_ARN"),
            get("SLUICE_JWT_PUBLIC_KEY"),
        ) {
            (None, None, None, None) => None,
            (Some(issuer), Some(audience), Some(arn), None) => {
                Some(JwtSettings { issuer, audience, key: JwtKey::SecretArn(arn) })
            }
            (Some(issuer), Some(audience), None, Some(pem)) => {
                Some(JwtSettings { issuer, audience, key: JwtKey::PublicKey(pem) })
            }
            (_, _, Some(_), Some(_)) => {
                faults.push("set SLUICE_JWT_SECRET_ARN or SLUICE_JWT_PUBLIC_KEY, not both".into());
                None
            }
            (issuer, audience, _, _) => {
                for (name, value) in [("SLUICE_JWT_ISSUER", &issuer), ("SLUICE_JWT_AUDIENCE", &audience)] {
                    if value.is_none() {
                        faults.push(format!("{name} is not set"));
                    }
                }
                faults.push("set SLUICE_JWT_SECRET_ARN (HS256) or SLUICE_JWT_PUBLIC_KEY (RS256)".into());
                None
            }
        };
        if !faults.is_empty() {
            faults.dedup();
            return Err(ConfigError(faults));
        }
        Ok(Settings {
            table,
            bucket,
            split_queue_url,
            chunk_queue_url,
            delivery_queue_url,
            max_upload_bytes,
            retention_days,
            max_receives,
            allow_private_webhooks,
            jwt,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const BASE: &[(&str, &str)] = &[
        ("SLUICE_TABLE", "t"),
        ("SLUICE_BUCKET", "b"),
        ("SLUICE_SPLIT_QUEUE_URL", "https://sqs/split"),
        ("SLUICE_CHUNK_QUEUE_URL", "https://sqs/chunk"),
        ("SLUICE_DELIVERY_QUEUE_URL", "https://sqs/delivery"),
    ];

    #[test]
    fn every_fault_is_listed_at_once() {
        let e =
            Settings::from_vars(&vars(&[("SLUICE_MAX_UPLOAD_BYTES", "lots"), ("SLUICE_JWT_ISSUER", "i")])).unwrap_err();
        let text = e.to_string();
        for expected in [
            "SLUICE_TABLE is not set",
            "SLUICE_BUCKET",
            "SLUICE_MAX_UPLOAD_BYTES=\"lots\"",
            "SLUICE_JWT_AUDIENCE is not set",
        ] {
            assert!(text.contains(expected), "{text}");
        }
    }

    #[test]
    fn defaults_and_a_jwt_key() {
        let mut v = vars(BASE);
        let s = Settings::from_vars(&v).unwrap();
        assert_eq!(
            (s.max_upload_bytes, s.retention_days, s.max_receives, s.allow_private_webhooks),
            (5 << 30, 30, 5, false)
        );
        assert!(s.jwt.is_none());
        v.extend(vars(&[("SLUICE_JWT_ISSUER", "i"), ("SLUICE_JWT_AUDIENCE", "a"), ("SLUICE_JWT_PUBLIC_KEY", "PEM")]));
        let s = Settings::from_vars(&v).unwrap();
        assert_eq!(s.jwt.unwrap().key, JwtKey::PublicKey("PEM".into()));
        assert!(!format!("{:?}", JwtKey::PublicKey("SECRETISH".into())).contains("SECRETISH"));
    }
}
