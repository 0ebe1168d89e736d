//! The local server's secrets: the HS256 key that signs bearer tokens and the key that signs
//! upload URLs. Created on first use in `<data-dir>/secrets.json`, readable by the owner only.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// Issuer of the tokens the local server mints and accepts.
pub const LOCAL_ISSUER: &str = "sluice-local";
/// Audience of the tokens the local server mints and accepts.
pub const LOCAL_AUDIENCE: &str = "sluice";

/// The keys.
#[derive(Clone, Serialize, Deserialize)]
pub struct LocalSecrets {
    /// HS256 key of bearer tokens (base64).
    jwt_hs256: String,
    /// HMAC key of upload URLs (base64).
    upload: String,
}

impl std::fmt::Debug for LocalSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalSecrets { .. }")
    }
}

fn random_key() -> anyhow::Result<String> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(STANDARD.encode(key))
}

impl LocalSecrets {
    /// The secrets file of a data directory.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("secrets.json")
    }

    /// Reads the data directory's secrets, creating them on first use.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<LocalSecrets> {
        std::fs::create_dir_all(data_dir)?;
        let path = LocalSecrets::path(data_dir);
        match std::fs::read(&path) {
            Ok(bytes) => {
                return serde_json::from_slice(&bytes)
                    .map_err(|e| anyhow::anyhow!("{} is damaged ({e}); delete it to make new keys", path.display()));
            }
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(anyhow::anyhow!("cannot read {}: {e}", path.display()));
            }
            Err(_) => {}
        }
        let secrets = LocalSecrets { jwt_hs256: random_key()?, upload: random_key()? };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut file) => {
                file.write_all(&serde_json::to_vec_pretty(&secrets)?)?;
                file.sync_all()?;
                Ok(secrets)
            }
            // Another process made them first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => LocalSecrets::load_or_create(data_dir),
            Err(e) => Err(anyhow::anyhow!("cannot write {}: {e}", path.display())),
        }
    }

    fn decode(value: &str) -> anyhow::Result<Vec<u8>> {
        STANDARD.decode(value).map_err(|e| anyhow::anyhow!("secrets.json holds a key that is not base64: {e}"))
    }

    /// The bearer-token configuration (HS256, which also mints tokens).
    pub fn jwt(&self) -> anyhow::Result<sluice_http::JwtConfig> {
        Ok(sluice_http::JwtConfig::hs256(&LocalSecrets::decode(&self.jwt_hs256)?, LOCAL_ISSUER, LOCAL_AUDIENCE))
    }

    /// The key of upload URLs.
    pub fn upload_key(&self) -> anyhow::Result<Vec<u8>> {
        LocalSecrets::decode(&self.upload)
    }
}
