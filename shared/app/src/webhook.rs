//! Standard Webhooks: message ids, payloads and signatures.
//!
//! <https://www.standardwebhooks.com/>: the receiver verifies
//! `base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))` sent as `webhook-signature: v1,…`, with
//! the key being the base64 part of a `whsec_…` secret. During a secret rotation both secrets
//! sign, space-separated, so receivers on either secret keep verifying.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A new `whsec_…` secret: 24 random bytes.
pub fn new_secret() -> Result<String, String> {
    let mut key = [0u8; 24];
    getrandom::fill(&mut key).map_err(|e| format!("no randomness: {e}"))?;
    Ok(format!("whsec_{}", STANDARD.encode(key)))
}

/// The signature of one message with one secret, as `v1,<base64>`.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = STANDARD.decode(encoded).map_err(|e| format!("secret is not base64: {e}"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// The three Standard Webhooks headers for a message signed with every active secret.
pub fn headers(secrets: &[&str], msg_id: &str, timestamp: i64, body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let signatures = secrets.iter().map(|s| sign(s, msg_id, timestamp, body)).collect::<Result<Vec<_>, _>>()?;
    Ok(vec![
        ("content-type".into(), "application/json".into()),
        ("webhook-id".into(), msg_id.into()),
        ("webhook-timestamp".into(), timestamp.to_string()),
        ("webhook-signature".into(), signatures.join(" ")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specification_test_vector_signs_as_published() {
        // From the Standard Webhooks specification.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_rotation_signs_with_both_secrets() {
        let (a, b) = (new_secret().unwrap(), new_secret().unwrap());
        assert!(a.starts_with("whsec_") && a != b);
        let h = headers(&[&a, &b], "msg_1", 1, b"{}").unwrap();
        let sig = &h.iter().find(|(k, _)| k == "webhook-signature").unwrap().1;
        assert_eq!(sig.split(' ').count(), 2);
    }
}
