//! Who is calling: a bearer JWT (HS256 or RS256, algorithm pinned, `exp`/`iss`/`aud`/`sub`
//! required) or a backend API key (`sk_…`, stored only as a hash). The tenant and environment
//! come from the verified credential, never from the path or the body.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sluice_app::TenantId;

use crate::ApiState;
use crate::problem::Problem;

/// The verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Tenant every resource is scoped to.
    pub tenant: TenantId,
    /// Environment the credential acts in.
    pub environment: String,
    /// Subject (user) of the token, or the API key id.
    pub subject: String,
}

/// The claims Sluice reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Subject.
    pub sub: String,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Issued at.
    #[serde(default)]
    pub iat: i64,
    /// Tenant.
    pub tenant: String,
    /// Environment.
    pub environment: String,
}

/// How bearer tokens are verified.
#[derive(Clone)]
pub struct JwtConfig {
    algorithm: Algorithm,
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys never reach logs.
        f.debug_struct("JwtConfig")
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl JwtConfig {
    /// HS256 with a shared secret (which can also mint tokens).
    pub fn hs256(secret: &[u8], issuer: &str, audience: &str) -> JwtConfig {
        JwtConfig {
            algorithm: Algorithm::HS256,
            decoding: DecodingKey::from_secret(secret),
            encoding: Some(EncodingKey::from_secret(secret)),
            issuer: issuer.into(),
            audience: audience.into(),
        }
    }

    /// RS256 with a PEM public key (verify only).
    pub fn rs256(public_key_pem: &[u8], issuer: &str, audience: &str) -> Result<JwtConfig, String> {
        Ok(JwtConfig {
            algorithm: Algorithm::RS256,
            decoding: DecodingKey::from_rsa_pem(public_key_pem).map_err(|e| format!("RS256 public key: {e}"))?,
            encoding: None,
            issuer: issuer.into(),
            audience: audience.into(),
        })
    }

    /// Verifies a token: signature with the pinned algorithm, expiry, issuer, audience, subject.
    pub fn verify(&self, token: &str) -> Result<Claims, String> {
        let mut validation = Validation::new(self.algorithm);
        validation.algorithms = vec![self.algorithm];
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_audience(&[self.audience.as_str()]);
        validation.leeway = 30;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).map(|d| d.claims).map_err(|e| e.to_string())
    }

    /// Mints a token (HS256 only) for a tenant and environment, valid for `ttl_seconds`.
    pub fn mint(&self, subject: &str, tenant: &str, environment: &str, ttl_seconds: i64) -> Result<String, String> {
        let key = self.encoding.as_ref().ok_or("this configuration verifies tokens only")?;
        let now = jiff::Timestamp::now().as_second();
        let claims = Claims {
            sub: subject.into(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now + ttl_seconds,
            iat: now,
            tenant: tenant.into(),
            environment: environment.into(),
        };
        jsonwebtoken::encode(&Header::new(self.algorithm), &claims, key).map_err(|e| e.to_string())
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Caller, Problem> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| Problem::unauthorized("send Authorization: Bearer <token or API key>"))?;
        let value = value.to_str().map_err(|_| Problem::unauthorized("the Authorization header is not text"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| Problem::unauthorized("the Authorization header must be Bearer"))?
            .trim();
        if token.starts_with("sk_") {
            let key = state.app.verify_api_key(token).await.map_err(Problem::from)?;
            let key = key.ok_or_else(|| Problem::unauthorized("unknown API key"))?;
            return Ok(Caller { tenant: key.tenant, environment: key.environment, subject: key.id });
        }
        let claims = state.jwt.verify(token).map_err(|e| Problem::unauthorized(format!("invalid token: {e}")))?;
        let tenant = TenantId::parse(&claims.tenant)
            .ok_or_else(|| Problem::unauthorized("the token's tenant claim is not a tenant name"))?;
        if !valid_environment(&claims.environment) {
            return Err(Problem::unauthorized("the token's environment claim is not an environment name"));
        }
        Ok(Caller { tenant, environment: claims.environment, subject: claims.sub })
    }
}

/// Environment names: 1-32 lower-case letters, digits and `-`.
pub fn valid_environment(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    // A key pair made for these tests only.
    const PRIVATE: &[u8] = include_bytes!("../tests/keys/rs256-private.pem");
    const PUBLIC: &[u8] = include_bytes!("../tests/keys/rs256-public.pem");

    fn claims(exp_in: i64) -> Claims {
        let now = jiff::Timestamp::now().as_second();
        Claims {
            sub: "u1".into(),
            iss: "https://idp.example".into(),
            aud: "sluice".into(),
            exp: now + exp_in,
            iat: now,
            tenant: "acme".into(),
            environment: "production".into(),
        }
    }

    #[test]
    fn rs256_tokens_verify_with_the_public_key_and_hmac_ones_made_with_it_do_not() {
        let config = JwtConfig::rs256(PUBLIC, "https://idp.example", "sluice").unwrap();
        let key = EncodingKey::from_rsa_pem(PRIVATE).unwrap();
        let good = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims(600), &key).unwrap();
        assert_eq!(config.verify(&good).unwrap().tenant, "acme");
        let expired = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims(-3600), &key).unwrap();
        assert!(config.verify(&expired).unwrap_err().contains("Expired"));
        // The classic confusion: an HS256 token whose HMAC key is the public key's text.
        let confused =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims(600), &EncodingKey::from_secret(PUBLIC))
                .unwrap();
        assert!(config.verify(&confused).is_err());
        assert!(config.mint("u", "acme", "production", 60).is_err(), "a public key cannot mint");
    }

    #[test]
    fn the_keys_never_reach_debug_output() {
        let config = JwtConfig::hs256(b"very-secret-key", "i", "a");
        assert!(!format!("{config:?}").contains("very-secret"));
    }
}
