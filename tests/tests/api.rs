//! The HTTP API end to end, through real sockets: `sluice serve`'s server on port 0, a plain
//! HTTP client, and a webhook receiver that checks every signature with an independent
//! Standard Webhooks implementation (the `standardwebhooks` crate).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Client;
use serde_json::{Value, json};
use sluice_app::usecases::DeliveryConfig;
use sluice_http::JwtConfig;
use sluice_local::server::{ServeOptions, Server};
use sluice_tests::fixture;

const SECRET: &[u8] = b"a test secret of thirty-two bytes!";
const ISSUER: &str = "sluice-local";
const AUDIENCE: &str = "sluice";

struct Harness {
    server: Server,
    client: Client,
    jwt: JwtConfig,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn start(allow_private: bool) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut options = ServeOptions::new("127.0.0.1:0".parse().unwrap(), dir.path());
        options.allow_private_webhooks = allow_private;
        options.workers = 2;
        options.jwt = Some(JwtConfig::hs256(SECRET, ISSUER, AUDIENCE));
        options.delivery = DeliveryConfig {
            batch_rows: 100,
            retries: vec![Duration::from_millis(50), Duration::from_millis(100), Duration::from_millis(200)],
            ..DeliveryConfig::default()
        };
        options.drop_interval = Some(Duration::from_millis(100));
        let server = Server::start(options).await.unwrap();
        Harness {
            server,
            client: Client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
            jwt: JwtConfig::hs256(SECRET, ISSUER, AUDIENCE),
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url)
    }

    fn token(&self, tenant: &str, env: &str) -> String {
        self.jwt.mint("tester", tenant, env, 600).unwrap()
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, headers, value)
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.call(reqwest::Method::GET, path, token, None).await;
        (s, v)
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self.call(reqwest::Method::POST, path, token, Some(body)).await;
        (s, v)
    }

    /// Creates the contacts template and pushes it to `env`; returns its id.
    async fn contacts_template(&self, token: &str, env: &str) -> String {
        let response = self
            .client
            .post(self.url("/v1/templates"))
            .bearer_auth(token)
            .header("content-type", "application/yaml")
            .body(std::fs::read(fixture("contacts.yaml")).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let created: Value = response.json().await.unwrap();
        let id = created["id"].as_str().unwrap().to_string();
        assert!(id.starts_with("tpl_"), "{id}");
        let (status, pushed) =
            self.post(&format!("/v1/templates/{id}/push"), token, json!({ "environment": env })).await;
        assert_eq!(status, StatusCode::OK, "{pushed}");
        id
    }

    /// Polls an import until it leaves RUNNING and AWAITING_UPLOAD.
    async fn wait_terminal(&self, id: &str, token: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, import) = self.get(&format!("/v1/imports/{id}"), token).await;
            assert_eq!(status, StatusCode::OK, "{import}");
            if !matches!(import["status"].as_str(), Some("RUNNING" | "AWAITING_UPLOAD")) {
                return import;
            }
            assert!(Instant::now() < deadline, "import {id} did not finish: {import}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls an import until its delivery is delivered or failed.
    async fn wait_delivery(&self, id: &str, token: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, import) = self.get(&format!("/v1/imports/{id}"), token).await;
            if matches!(import["delivery"]["state"].as_str(), Some("delivered" | "failed")) {
                return import;
            }
            assert!(Instant::now() < deadline, "delivery of {id} did not end: {import}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
    answered: u16,
}

/// A webhook receiver on port 0 that fails the first `failures` requests with 500.
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(failures: usize) -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let (store, count) = (got.clone(), calls.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (store, count) = (store.clone(), count.clone());
                async move {
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    let answered = if n < failures { 500 } else { 200 };
                    store.lock().unwrap().push(Received { headers, body: body.to_vec(), answered });
                    StatusCode::from_u16(answered).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url: format!("http://{addr}/hook"), got }
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

/// Checks a request's signature with the independent implementation.
fn verify(secret: &str, r: &Received) {
    let wh = standardwebhooks::Webhook::new(secret).unwrap();
    wh.verify(&r.body, &r.headers).unwrap_or_else(|e| {
        panic!("signature of {} does not verify: {e:?}", r.headers["webhook-id"].to_str().unwrap())
    });
}

async fn upload(client: &Client, import: &Value, body: Vec<u8>) -> reqwest::Response {
    let upload = &import["upload"];
    assert_eq!(upload["method"], "PUT");
    let mut request = client.put(upload["url"].as_str().unwrap());
    for (name, value) in upload["headers"].as_object().unwrap() {
        request = request.header(name.as_str(), value.as_str().unwrap());
    }
    request.body(body).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_goes_through_the_api_and_its_rows_reach_the_webhook_signed() {
    let h = Harness::start(true).await;
    let token = h.token("acme", "production");
    let template = h.contacts_template(&token, "production").await;
    let receiver = Receiver::start(0).await;
    let (status, destination) = h.post("/v1/destinations", &token, json!({ "key": "crm", "url": receiver.url })).await;
    assert_eq!(status, StatusCode::CREATED, "{destination}");
    let secret = destination["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let (_, listed) = h.get("/v1/destinations", &token).await;
    assert!(listed["destinations"][0].get("secret").is_none(), "secrets are shown once: {listed}");

    let file = std::fs::read(fixture("contacts.csv")).unwrap();
    let (status, import) = h
        .post(
            "/v1/imports",
            &token,
            json!({ "template_id": template, "destination": "crm", "original_filename": "contacts.csv",
                    "file_size": file.len(), "user": {"id": "u1"}, "metadata": {"batch": 7} }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{import}");
    assert_eq!(import["status"], "AWAITING_UPLOAD");
    let (_, headers, _) =
        h.call(reqwest::Method::GET, &format!("/v1/imports/{}", import["id"].as_str().unwrap()), &token, None).await;
    assert_eq!(headers["retry-after"], "2", "Retry-After while the import is not finished");
    let id = import["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("imp_"));
    let expires: jiff::Timestamp = import["upload"]["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(expires <= jiff::Timestamp::now() + jiff::SignedDuration::from_mins(30));

    // The upload URL takes exactly the declared size.
    let short =
        h.client.put(import["upload"]["url"].as_str().unwrap()).body(file[..100].to_vec()).send().await.unwrap();
    assert_eq!(short.status(), StatusCode::FORBIDDEN);
    let uploaded = upload(&h.client, &import, file.clone()).await;
    assert_eq!(uploaded.status(), StatusCode::OK, "{:?}", uploaded.text().await);
    let again = upload(&h.client, &import, file.clone()).await;
    assert_eq!(again.status(), StatusCode::CONFLICT, "an upload URL is good for one upload");

    let done = h.wait_terminal(&id, &token).await;
    assert_eq!(done["status"], "SUCCESSFUL", "{done}");
    assert_eq!(done["counts"]["rows"], 300);
    assert_eq!(done["counts"]["valid"], 294);
    assert_eq!(done["counts"]["invalid"], 6);
    assert_eq!(done["template"]["version"], 1, "the import pins the template version");
    assert_eq!(done["detected"]["format"], "csv");

    // Rows, page by page.
    let mut rows = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let path = match &next {
            Some(t) => format!("/v1/imports/{id}/rows?limit=100&page_token={t}"),
            None => format!("/v1/imports/{id}/rows?limit=100"),
        };
        let (status, page) = h.get(&path, &token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        rows.extend(page["rows"].as_array().unwrap().iter().cloned());
        match page["next_page_token"].as_str() {
            Some(t) => next = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(rows.len(), 294);
    let (_, errors) = h.get(&format!("/v1/imports/{id}/errors?limit=1000"), &token).await;
    let errors = errors["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["code"] == "required" && e["line"] == 20 && e["field"] == "first_name"),
        "{errors:?}"
    );

    let csv = h.client.get(h.url(&format!("/v1/imports/{id}/results.csv"))).bearer_auth(&token).send().await.unwrap();
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("Code,Message,Severity,LineNumber,Properties,EntityId"), "{csv}");
    assert!(csv.contains("required,First name is required,Error,20,"), "{csv}");

    // Delivery: three ordered batches of at most 100 rows, then import.completed, all signed.
    let delivered = h.wait_delivery(&id, &token).await;
    assert_eq!(delivered["delivery"]["state"], "delivered", "{delivered}");
    let got = receiver.received();
    assert_eq!(got.len(), 4, "{got:?}");
    let mut delivered_rows = Vec::new();
    for (i, r) in got.iter().enumerate() {
        verify(&secret, r);
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["import_id"], id.as_str());
        if i < 3 {
            assert_eq!(body["batch_index"], i);
            assert_eq!(body["batch_count"], 3);
            delivered_rows.extend(body["rows"].as_array().unwrap().iter().cloned());
        } else {
            assert_eq!(body["type"], "import.completed");
            assert_eq!(body["counts"]["valid"], 294);
        }
    }
    assert_eq!(delivered_rows, rows, "the webhook carries the same rows the API pages");
    let (_, log) = h.get(&format!("/v1/imports/{id}/deliveries"), &token).await;
    let attempts = log["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 4, "{log}");
    assert!(attempts.iter().all(|a| a["status_code"] == 200), "{log}");

    // ETag and If-None-Match, once nothing changes any more.
    let (_, headers, _) = h.call(reqwest::Method::GET, &format!("/v1/imports/{id}"), &token, None).await;
    let etag = headers["etag"].to_str().unwrap().to_string();
    assert!(headers.get("retry-after").is_none(), "no Retry-After once finished");
    let not_modified = h
        .client
        .get(h.url(&format!("/v1/imports/{id}")))
        .bearer_auth(&token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    let stale = h
        .client
        .get(h.url(&format!("/v1/imports/{id}")))
        .bearer_auth(&token)
        .header("if-none-match", "\"imp_x-1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::OK);

    // Redelivery replays the same messages.
    let (status, _) = h.post(&format!("/v1/imports/{id}/redeliver"), &token, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    h.wait_delivery(&id, &token).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.received().len() < 8 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = receiver.received();
    assert_eq!(got[0].headers["webhook-id"], got[4].headers["webhook-id"]);

    // The activity feed lists it; a filter on another status does not.
    let (_, feed) = h.get("/v1/imports?status=successful", &token).await;
    assert_eq!(feed["imports"][0]["id"], id.as_str());
    let (_, feed) = h.get("/v1/imports?status=FAILED", &token).await;
    assert_eq!(feed["imports"].as_array().unwrap().len(), 0);
    h.server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_fails_then_recovers_gets_retries_with_the_same_webhook_id() {
    let h = Harness::start(true).await;
    let token = h.token("acme", "production");
    let template = h.contacts_template(&token, "production").await;
    let receiver = Receiver::start(2).await;
    let (_, destination) = h.post("/v1/destinations", &token, json!({ "key": "crm", "url": receiver.url })).await;
    let secret = destination["secret"].as_str().unwrap().to_string();
    let (_, import) = h
        .post(
            "/v1/imports",
            &token,
            json!({ "template_id": template, "destination": "crm", "original_filename": "c.csv" }),
        )
        .await;
    let id = import["id"].as_str().unwrap().to_string();
    assert_eq!(
        upload(&h.client, &import, std::fs::read(fixture("contacts.csv")).unwrap()).await.status(),
        StatusCode::OK
    );
    let done = h.wait_delivery(&id, &token).await;
    assert_eq!(done["delivery"]["state"], "delivered", "{done}");
    let got = receiver.received();
    assert_eq!(got.iter().map(|r| r.answered).collect::<Vec<_>>(), [500, 500, 200, 200, 200, 200]);
    let first_id = &got[0].headers["webhook-id"];
    assert!(got[..3].iter().all(|r| r.headers["webhook-id"] == first_id), "retries keep the webhook-id");
    assert_ne!(&got[3].headers["webhook-id"], first_id);
    for r in &got {
        verify(&secret, r);
    }
    let (_, log) = h.get(&format!("/v1/imports/{id}/deliveries"), &token).await;
    let codes: Vec<u64> =
        log["attempts"].as_array().unwrap().iter().map(|a| a["status_code"].as_u64().unwrap_or(0)).collect();
    assert_eq!(codes, [500, 500, 200, 200, 200, 200], "{log}");
    h.server.stop().await.unwrap();
}

/// A token with the given header and claims, signed with `key` (HMAC) or unsigned.
fn forge(alg: jsonwebtoken::Algorithm, claims: &Value, key: &[u8]) -> String {
    jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), claims, &jsonwebtoken::EncodingKey::from_secret(key)).unwrap()
}

fn claims(overrides: Value) -> Value {
    let now = jiff::Timestamp::now().as_second();
    let mut c = json!({ "sub": "u", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, "iat": now, "tenant": "acme", "environment": "production" });
    for (k, v) in overrides.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_credential_is_refused() {
    let h = Harness::start(false).await;
    let good = h.token("acme", "production");
    let (status, _) = h.get("/v1/imports", &good).await;
    assert_eq!(status, StatusCode::OK);

    let now = jiff::Timestamp::now().as_second();
    let hs = jsonwebtoken::Algorithm::HS256;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(json!({}))).unwrap());
    let cases: Vec<(&str, String)> = vec![
        ("expired", forge(hs, &claims(json!({ "exp": now - 3600 })), SECRET)),
        ("wrong audience", forge(hs, &claims(json!({ "aud": "someone-else" })), SECRET)),
        ("wrong issuer", forge(hs, &claims(json!({ "iss": "https://evil.example" })), SECRET)),
        ("no subject", forge(hs, &claims(json!({ "sub": null })), SECRET)),
        ("no expiry", forge(hs, &claims(json!({ "exp": null })), SECRET)),
        ("wrong algorithm", forge(jsonwebtoken::Algorithm::HS512, &claims(json!({})), SECRET)),
        ("wrong key", forge(hs, &claims(json!({})), b"another secret of thirty-two byte")),
        ("unsigned", format!("{header}.{payload}.")),
        ("garbage", "not-a-token".into()),
        ("unknown API key", "sk_production_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()),
    ];
    for (what, token) in cases {
        let response = h.client.get(h.url("/v1/imports")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{what}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{what}");
    }
    let bare = h.client.get(h.url("/v1/imports")).send().await.unwrap();
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);

    // Another tenant's import answers 404; so does one of another environment.
    let template = h.contacts_template(&good, "production").await;
    let (_, import) =
        h.post("/v1/imports", &good, json!({ "template_id": template, "original_filename": "c.csv" })).await;
    let id = import["id"].as_str().unwrap();
    let other_tenant = h.token("globex", "production");
    let staging = h.token("acme", "staging");
    for (who, token) in [("other tenant", &other_tenant), ("other environment", &staging)] {
        for path in [format!("/v1/imports/{id}"), format!("/v1/imports/{id}/rows"), format!("/v1/templates/{template}")]
        {
            let (status, body) = h.get(&path, token).await;
            let expected = if who == "other environment" && path.contains("templates") {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(status, expected, "{who} {path}: {body}");
        }
        let (status, _) = h.post(&format!("/v1/imports/{id}/cancel"), token, json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{who} cancel");
    }
    let (_, feed) = h.get("/v1/imports", &other_tenant).await;
    assert_eq!(feed["imports"].as_array().unwrap().len(), 0);
    // A staging credential cannot act in production, even by asking.
    let (status, body) = h
        .post(
            "/v1/imports",
            &staging,
            json!({ "template_id": template, "environment": "production", "original_filename": "c.csv" }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // And the template has no snapshot in staging.
    let (status, body) =
        h.post("/v1/imports", &staging, json!({ "template_id": template, "original_filename": "c.csv" })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["detail"].as_str().unwrap().starts_with("No pushed changes"), "{body}");

    // API keys: scoped to the tenant and environment they were made for.
    let (status, key) = h.post("/v1/api-keys", &staging, json!({ "name": "ci" })).await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let key = key["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("sk_staging_"));
    let (status, _) = h.get(&format!("/v1/imports/{id}"), &key).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a staging key does not see production imports");
    let (status, _) = h.get("/v1/imports", &key).await;
    assert_eq!(status, StatusCode::OK);
    h.server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_replays_and_a_different_body_is_refused() {
    let h = Harness::start(false).await;
    let token = h.token("acme", "production");
    let template = h.contacts_template(&token, "production").await;
    let body = json!({ "template_id": template, "original_filename": "a.csv" });
    let send = |body: Value, key: &'static str| {
        h.client.post(h.url("/v1/imports")).bearer_auth(&token).header("idempotency-key", key).json(&body).send()
    };
    let first = send(body.clone(), "k-1").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let second = send(body.clone(), "k-1").await.unwrap();
    assert_eq!(second.status(), StatusCode::CREATED);
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    assert_eq!(first, second, "the replay is the same answer");
    let different = send(json!({ "template_id": template, "original_filename": "b.csv" }), "k-1").await.unwrap();
    assert_eq!(different.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fresh = send(body, "k-2").await.unwrap();
    let fresh: Value = fresh.json().await.unwrap();
    assert_ne!(fresh["id"], first["id"]);
    let (_, feed) = h.get("/v1/imports", &token).await;
    assert_eq!(feed["imports"].as_array().unwrap().len(), 2);
    h.server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destinations_on_private_loopback_and_metadata_addresses_are_refused() {
    let h = Harness::start(false).await;
    let token = h.token("acme", "production");
    let urls = [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://10.0.0.8/hook",
        "http://192.168.1.1/hook",
        "http://0.0.0.0/hook",
        "http://2130706433/hook",
        "file:///etc/passwd",
        "http://user:pass@example.com/hook",
    ];
    for url in urls {
        let (status, body) = h.post("/v1/destinations", &token, json!({ "key": "x", "url": url })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        assert!(body["detail"].as_str().unwrap().starts_with("url:"), "{url}: {body}");
    }
    let (_, listed) = h.get("/v1/destinations", &token).await;
    assert_eq!(listed["destinations"].as_array().unwrap().len(), 0);
    h.server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_problem_details() {
    let h = Harness::start(false).await;
    let token = h.token("acme", "production");
    let template = h.contacts_template(&token, "production").await;
    let problem = |r: &reqwest::Response| r.headers()["content-type"] == "application/problem+json";

    let cases: Vec<(Value, &str)> = vec![
        (json!({ "template_id": template, "fields": [] }), "not both"),
        (json!({ "original_filename": "a.csv" }), "template_id"),
        (json!({ "template_id": template, "original_filename": "a.csv", "initial_data": [] }), "not both"),
        (json!({ "template_id": template, "initial_data": { "name": "a" } }), "initial_data must be an array"),
        (
            json!({ "template_id": template, "settings": { "invalid_data_behavior": "SOMETIMES" } }),
            "settings.invalid_data_behavior",
        ),
        (json!({ "template_id": template, "colour": "red" }), "colour"),
        (json!({ "fields": [{ "key": "a", "type": "integr" }], "original_filename": "a.csv" }), "fields[0]"),
    ];
    for (body, expected) in cases {
        let r = h.client.post(h.url("/v1/imports")).bearer_auth(&token).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        assert!(problem(&r));
        let p: Value = r.json().await.unwrap();
        assert!(p["detail"].as_str().unwrap().contains(expected), "{body}: {p}");
        assert_eq!(p["status"], 400);
    }
    let r = h
        .client
        .post(h.url("/v1/imports"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(problem(&r));
    let r = h.client.get(h.url("/v1/imports/imp_01ARZ3NDEKTSV4RRFFQ69G5FAV")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(problem(&r));
    let r = h.client.get(h.url("/v2/nothing")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(problem(&r));
    let r = h.client.delete(h.url("/v1/imports")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(problem(&r));
    // Too large, by its declared length (answered before the body is sent) and by what arrives.
    let path = format!("/v1/imports/sync?template_id={template}");
    let declared = raw_request(&h, &path, &token, &format!("Content-Length: {}\r\n", 5 * 1024 * 1024 + 1), None).await;
    assert!(declared.starts_with("HTTP/1.1 413") && declared.contains("application/problem+json"), "{declared}");
    let big = vec![b'a'; 5 * 1024 * 1024 + 1];
    let streamed = raw_request(&h, &path, &token, "Transfer-Encoding: chunked\r\n", Some(&big)).await;
    assert!(streamed.starts_with("HTTP/1.1 413") && streamed.contains("application/problem+json"), "{streamed}");
    let r = h.client.get(h.url("/v1/imports?limit=many")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(problem(&r));
    h.server.stop().await.unwrap();
}

/// A hand-written HTTP/1.1 POST (a `text/csv` body, chunked when given); returns the answer's
/// head and as much body as arrives.
async fn raw_request(h: &Harness, path: &str, token: &str, length: &str, chunked_body: Option<&[u8]>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(h.server.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: text/csv\r\nConnection: close\r\n{length}\r\n",
        h.server.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    if let Some(body) = chunked_body {
        for piece in body.chunks(64 * 1024) {
            if stream.write_all(format!("{:x}\r\n", piece.len()).as_bytes()).await.is_err()
                || stream.write_all(piece).await.is_err()
                || stream.write_all(b"\r\n").await.is_err()
            {
                break;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_keep_every_version_and_imports_pin_theirs() {
    let h = Harness::start(false).await;
    let token = h.token("acme", "production");
    let fields = json!([{ "key": "name", "type": "text", "required": true }, { "key": "age", "type": "integer" }]);
    let (status, created) = h.post("/v1/templates", &token, json!({ "name": "people", "fields": fields })).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (status, body) =
        h.post("/v1/imports", &token, json!({ "template_id": id, "initial_data": [{ "name": "a", "age": 1 }] })).await;
    assert_eq!(status, StatusCode::CONFLICT, "not pushed yet: {body}");
    h.post(&format!("/v1/templates/{id}/push"), &token, json!({})).await;
    let (_, v1_import) = h
        .post("/v1/imports", &token, json!({ "template_id": id, "initial_data": [{ "name": "a", "age": "x" }] }))
        .await;

    let fields2 = json!([{ "key": "name", "type": "text", "required": true }, { "key": "age", "type": "text" }]);
    let (status, updated) = h
        .call(
            reqwest::Method::PUT,
            &format!("/v1/templates/{id}"),
            &token,
            Some(json!({ "name": "people", "fields": fields2 })),
        )
        .await
        .into_parts();
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["version"], 2);
    let (_, v1) = h.get(&format!("/v1/templates/{id}?version=1"), &token).await;
    assert_eq!(v1["template"]["fields"][1]["type"], "integer");
    // Production still has version 1 until version 2 is pushed.
    let (_, still_v1) = h
        .post("/v1/imports", &token, json!({ "template_id": id, "initial_data": [{ "name": "a", "age": "x" }] }))
        .await;
    h.post(&format!("/v1/templates/{id}/push"), &token, json!({ "version": 2 })).await;
    let (_, v2_import) = h
        .post("/v1/imports", &token, json!({ "template_id": id, "initial_data": [{ "name": "a", "age": "x" }] }))
        .await;
    for (import, version, invalid) in [(&v1_import, 1, 1), (&still_v1, 1, 1), (&v2_import, 2, 0)] {
        let done = h.wait_terminal(import["id"].as_str().unwrap(), &token).await;
        assert_eq!(done["template"]["version"], version, "{done}");
        assert_eq!(done["counts"]["invalid"], invalid, "{done}");
    }
    let csv =
        h.client.get(h.url(&format!("/v1/templates/{id}/template.csv"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(csv.text().await.unwrap().trim(), "name,age");
    let r = h.client.delete(h.url(&format!("/v1/templates/{id}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (status, _) = h.get(&format!("/v1/templates/{id}"), &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, kept) = h.get(&format!("/v1/imports/{}", v2_import["id"].as_str().unwrap()), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kept["template"]["version"], 2);
    h.server.stop().await.unwrap();
}

trait IntoParts {
    fn into_parts(self) -> (StatusCode, Value);
}

impl IntoParts for (StatusCode, HeaderMap, Value) {
    fn into_parts(self) -> (StatusCode, Value) {
        (self.0, self.2)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synchronous_import_answers_every_row_inline() {
    let h = Harness::start(false).await;
    let token = h.token("acme", "production");
    let template = h.contacts_template(&token, "production").await;
    let body = std::fs::read(fixture("contacts.csv")).unwrap();
    let r = h
        .client
        .post(h.url(&format!("/v1/imports/sync?template_id={template}")))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let outcome: Value = r.json().await.unwrap();
    assert_eq!(outcome["counts"]["rows"], 300, "{outcome}");
    assert_eq!(outcome["counts"]["invalid"], 6);
    assert_eq!(outcome["rows"].as_array().unwrap().len(), 300, "every row is answered");
    assert!(outcome["errors"].as_array().unwrap().iter().any(|e| e["line"] == 20));
    let (_, feed) = h.get("/v1/imports", &token).await;
    assert_eq!(feed["imports"].as_array().unwrap().len(), 0, "nothing is stored");
    h.server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_in_the_drop_folder_starts_an_import_by_itself() {
    let h = Harness::start(false).await;
    let token = h.token("acme", "production");
    h.contacts_template(&token, "production").await;
    let folder = h.server.runtime.data_dir().join("drop").join("acme").join("contacts");
    std::fs::create_dir_all(&folder).unwrap();
    // Written under a temporary name, then renamed: the watcher never sees half a file.
    std::fs::copy(fixture("contacts.csv"), folder.join("march.csv.part")).unwrap();
    std::fs::rename(folder.join("march.csv.part"), folder.join("march.csv")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let id = loop {
        let (_, feed) = h.get("/v1/imports", &token).await;
        if let Some(first) = feed["imports"].as_array().unwrap().first() {
            break first["id"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no import started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let done = h.wait_terminal(&id, &token).await;
    assert_eq!(done["status"], "SUCCESSFUL", "{done}");
    assert_eq!(done["original_filename"], "march.csv");
    assert_eq!(done["counts"]["valid"], 294);
    assert!(!folder.join("march.csv").exists(), "the file moved into the store");

    // A file for a template that does not exist is set aside with the reason.
    let unknown = h.server.runtime.data_dir().join("drop").join("acme").join("nothing");
    std::fs::create_dir_all(&unknown).unwrap();
    std::fs::write(unknown.join("x.csv"), "a,b\n1,2\n").unwrap();
    let note = h.server.runtime.data_dir().join("drop-rejected/acme/nothing/x.csv.error.txt");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !note.exists() {
        assert!(Instant::now() < deadline, "the file was not set aside");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(std::fs::read_to_string(note).unwrap().contains("template named \"nothing\""));
    h.server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_matches_its_snapshot_and_is_served() {
    let spec = sluice_http::openapi().to_pretty_json().unwrap() + "\n";
    let path = sluice_tests::repo_root().join("tests/snapshots/openapi.json");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &spec).unwrap();
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        stored == spec,
        "the API changed: review the difference and run UPDATE_SNAPSHOTS=1 cargo nextest run -p sluice-tests openapi"
    );
    let parsed: Value = serde_json::from_str(&spec).unwrap();
    assert!(parsed["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths: BTreeMap<String, Value> = serde_json::from_value(parsed["paths"].clone()).unwrap();
    for p in [
        "/v1/imports",
        "/v1/imports/{id}",
        "/v1/imports/sync",
        "/v1/imports/{id}/results.csv",
        "/v1/templates/{id}/push",
        "/v1/destinations",
    ] {
        assert!(paths.contains_key(p), "{p} is not documented");
    }

    let h = Harness::start(false).await;
    let served: Value = h.client.get(h.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(served, parsed);
    let docs = h.client.get(h.url("/docs")).send().await.unwrap().text().await.unwrap();
    assert!(docs.contains("/v1/imports/{id}/mapping") && docs.contains("<h2 id=\"imports\">"), "{docs}");
    h.server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sluice_serve_prints_a_dev_token_mints_more_makes_keys_and_stops_on_sigterm() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let mut child = std::process::Command::new(sluice_tests::sluice_binary())
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir", data_arg, "--workers", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut printed = Vec::new();
    for _ in 0..5 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        printed.push(line.trim().to_string());
    }
    let url = printed[0].split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_string();
    let dev_token = printed[4].clone();
    let client = Client::new();
    let get = |token: String| client.get(format!("{url}/v1/imports")).bearer_auth(token).send();
    assert_eq!(get(dev_token).await.unwrap().status(), StatusCode::OK, "{printed:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("secrets.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the secrets file is the owner's only");
    }

    let minted = sluice_tests::sluice(&["token", "--tenant", "acme", "--env", "staging", "--data-dir", data_arg]);
    assert!(minted.status.success());
    let token = String::from_utf8(minted.stdout).unwrap().trim().to_string();
    assert_eq!(get(token).await.unwrap().status(), StatusCode::OK);
    // The server holds the database; `keys create` asks it.
    let made =
        sluice_tests::sluice(&["keys", "create", "--tenant", "acme", "--env", "staging", "--data-dir", data_arg]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let key = String::from_utf8(made.stdout).unwrap().trim().to_string();
    assert!(key.starts_with("sk_staging_"), "{key}");
    assert_eq!(get(key.clone()).await.unwrap().status(), StatusCode::OK);
    let bad = sluice_tests::sluice(&["token", "--tenant", "no spaces", "--data-dir", data_arg]);
    assert_eq!(bad.status.code(), Some(64));

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!data.join("server.json").exists());
    // With the server stopped, `keys create` writes the database itself, and the key works
    // after a restart.
    let made =
        sluice_tests::sluice(&["keys", "create", "--tenant", "acme", "--env", "production", "--data-dir", data_arg]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let offline_key = String::from_utf8(made.stdout).unwrap().trim().to_string();
    let mut options = ServeOptions::new("127.0.0.1:0".parse().unwrap(), &data);
    options.drop_interval = None;
    let server = Server::start(options).await.unwrap();
    let r = client.get(format!("{}/v1/imports", server.base_url)).bearer_auth(&offline_key).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client.get(format!("{}/v1/imports", server.base_url)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "keys survive restarts");
    server.stop().await.unwrap();
}
