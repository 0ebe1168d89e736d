//! Sending webhooks over HTTP, refusing private destinations.
//!
//! A destination URL must resolve only to public addresses: loopback, private, link-local
//! (which holds the cloud metadata service, 169.254.169.254), unique-local, multicast and
//! unspecified addresses are refused, at registration and again at every send. The send then
//! connects to exactly the address that was checked, so a DNS answer that changes in between
//! (rebinding) cannot redirect it. 15-second timeout; redirects are not followed.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use sluice_app::ports::{WebhookRequest, WebhookResponse, WebhookSender};

/// The reqwest sender.
#[derive(Debug, Clone)]
pub struct HttpWebhookSender {
    allow_private: bool,
    timeout: Duration,
}

impl HttpWebhookSender {
    /// A sender; `allow_private` lets destinations on private and loopback addresses through
    /// (a local server talking to services on the same machine).
    pub fn new(allow_private: bool) -> HttpWebhookSender {
        HttpWebhookSender { allow_private, timeout: Duration::from_secs(15) }
    }

    /// Checks a URL and returns the address to connect to.
    async fn resolve(&self, url: &str) -> Result<(url::Url, SocketAddr), String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("only http and https destinations are allowed, not {}", parsed.scheme()));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("credentials in the URL are not allowed".into());
        }
        let host =
            parsed.host_str().ok_or("the URL has no host")?.trim_start_matches('[').trim_end_matches(']').to_string();
        let port = parsed.port_or_known_default().ok_or("the URL has no port")?;
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("{host} does not resolve: {e}"))?
            .collect();
        if addrs.is_empty() {
            return Err(format!("{host} does not resolve"));
        }
        if !self.allow_private
            && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip()))
        {
            return Err(format!(
                "{host} resolves to {}, a private, loopback, link-local or metadata address",
                bad.ip()
            ));
        }
        Ok((parsed, addrs[0]))
    }
}

/// Whether an address is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn check_url(&self, url: &str) -> Result<(), String> {
        self.resolve(url).await.map(|_| ())
    }

    async fn send(&self, request: WebhookRequest) -> WebhookResponse {
        let (url, addr) = match self.resolve(&request.url).await {
            Ok(r) => r,
            Err(why) if why.contains("private") => return WebhookResponse::Forbidden(why),
            Err(why) => return WebhookResponse::Unreachable(why),
        };
        let host = url.host_str().unwrap_or_default().to_string();
        let client = match reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .resolve(&host, addr)
            .build()
        {
            Ok(c) => c,
            Err(e) => return WebhookResponse::Unreachable(format!("HTTP client: {e}")),
        };
        let mut builder = client.post(url);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        match builder.body(request.body).send().await {
            Ok(response) => {
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| retry_after_seconds(v, jiff::Timestamp::now()));
                WebhookResponse::Status { code: response.status().as_u16(), retry_after }
            }
            Err(e) if e.is_timeout() => {
                WebhookResponse::Unreachable(format!("no answer within {} s", self.timeout.as_secs()))
            }
            Err(e) => WebhookResponse::Unreachable(e.to_string()),
        }
    }
}

/// `Retry-After` as seconds from `now`: delay-seconds, or an HTTP-date (one already past is 0).
fn retry_after_seconds(value: &str, now: jiff::Timestamp) -> Option<u64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds);
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new().parse_timestamp(value).ok()?;
    Some(u64::try_from(at.duration_since(now).as_secs()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        let now: jiff::Timestamp = "2026-11-21T12:00:00Z".parse().unwrap();
        assert_eq!(retry_after_seconds(" 120 ", now), Some(120));
        assert_eq!(retry_after_seconds("Sat, 21 Nov 2026 12:01:30 GMT", now), Some(90));
        assert_eq!(retry_after_seconds("Sat, 21 Nov 2026 11:00:00 GMT", now), Some(0));
        assert_eq!(retry_after_seconds("soon", now), None);
        assert_eq!(retry_after_seconds("-5", now), None);
    }

    #[test]
    fn private_loopback_link_local_and_metadata_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn destinations_on_private_addresses_are_refused_unless_allowed() {
        let strict = HttpWebhookSender::new(false);
        for url in [
            "http://127.0.0.1:9/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/x",
            "http://localhost/x",
        ] {
            let err = strict.check_url(url).await.unwrap_err();
            assert!(err.contains("private") || err.contains("resolve"), "{url}: {err}");
        }
        assert!(strict.check_url("ftp://example.com/x").await.unwrap_err().contains("http"));
        assert!(strict.check_url("http://user:pw@example.com/x").await.is_err());
        assert!(HttpWebhookSender::new(true).check_url("http://127.0.0.1:9/hook").await.is_ok());
        let refused = strict
            .send(WebhookRequest { url: "http://127.0.0.1:9/".into(), headers: vec![], body: Default::default() })
            .await;
        assert!(matches!(refused, WebhookResponse::Forbidden(_)), "{refused:?}");
    }
}
