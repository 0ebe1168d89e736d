//! Sluice on AWS, proven against moto (`SLUICE_MOTO_URL`, started by `./infra/check.sh`): the
//! adapters one by one, then whole imports through the real handler functions, with this test
//! playing API Gateway (v2 event JSON) and Lambda's SQS event source (redelivering some
//! messages, out of order).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::SqsEvent;
use bytes::Bytes;
use jiff::Timestamp;
use serde_json::{Value, json};
use sluice_app::model::{Import, ImportFilter, ImportId, TenantId};
use sluice_app::ports::{
    BlobStore, Condition, ImportRepo, ItemStore, JobQueue, RowHashIndex, Segment, StoreErrorKind, UploadUrls,
};
use sluice_app::{Job, keys};
use sluice_aws::dynamo::DynamoStore;
use sluice_aws::handlers;
use sluice_aws::provision::{EventSource, Names, emulator_config, provision};
use sluice_aws::s3::S3Uploads;
use sluice_aws::{AwsRuntime, Settings};
use sluice_core::{Counts, ImportStatus};
use sluice_http::JwtConfig;
use sluice_tests::fixture;

fn moto() -> String {
    std::env::var("SLUICE_MOTO_URL").expect(
        "SLUICE_MOTO_URL is not set: these tests need moto server. ./infra/check.sh installs and starts it; \
         or run `moto_server -p 5000` and export SLUICE_MOTO_URL=http://127.0.0.1:5000",
    )
}

struct Deployment {
    sdk: aws_config::SdkConfig,
    settings: Settings,
    rt: AwsRuntime,
}

async fn deploy() -> Deployment {
    let sdk = emulator_config(&moto()).await;
    let names = Names { prefix: format!("t{}", ulid::Ulid::new().to_string().to_ascii_lowercase()) };
    let mut settings = provision(&sdk, &names).await.expect("moto takes the resources");
    settings.allow_private_webhooks = true;
    let rt = AwsRuntime::new(&sdk, settings.clone());
    Deployment { sdk, settings, rt }
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_objects_round_trip_and_multipart_writes_copy_parts_server_side() {
    let d = deploy().await;
    let s3 = d.rt.blobs.clone();
    s3.put("a/one", Bytes::from_static(b"hello, world")).await.unwrap();
    assert_eq!(s3.get("a/one").await.unwrap(), "hello, world");
    assert_eq!(s3.get_range("a/one", 7..12).await.unwrap(), "world");
    assert_eq!(
        s3.get_ranges("a/one", &[0..5, 7..12, 3..3]).await.unwrap(),
        vec![Bytes::from("hello"), Bytes::from("world"), Bytes::new()]
    );
    let meta = s3.head("a/one").await.unwrap().unwrap();
    assert_eq!(meta.size, 12);
    assert!(!meta.etag.contains('"'));
    assert!(s3.head("a/none").await.unwrap().is_none());
    assert_eq!(s3.get("a/none").await.unwrap_err().kind, StoreErrorKind::NotFound);

    // Small writes become one PUT.
    let mut w = s3.writer("a/small").await.unwrap();
    w.write(Bytes::from_static(b"abc")).await.unwrap();
    w.append_object("a/one").await.unwrap();
    assert_eq!(w.finish().await.unwrap(), 15);
    assert_eq!(s3.get("a/small").await.unwrap(), "abchello, world");

    // Large ones: buffered parts, part copies of big ranges, bytes in between.
    let big = pattern(7 * 1024 * 1024, 3);
    s3.put("a/big", Bytes::from(big.clone())).await.unwrap();
    let mut expected = Vec::new();
    let mut w = s3.writer("a/multi").await.unwrap();
    w.write(Bytes::from_static(b"head|")).await.unwrap();
    expected.extend_from_slice(b"head|");
    w.append_object("a/big").await.unwrap();
    expected.extend_from_slice(&big);
    w.append_segments(
        "a/big",
        vec![
            Segment::Range(10..20),
            Segment::Bytes(Bytes::from_static(b"|mid|")),
            Segment::Range(1024..(6 * 1024 * 1024 + 1024)),
        ],
    )
    .await
    .unwrap();
    expected.extend_from_slice(&big[10..20]);
    expected.extend_from_slice(b"|mid|");
    expected.extend_from_slice(&big[1024..6 * 1024 * 1024 + 1024]);
    w.append_object("a/one").await.unwrap();
    expected.extend_from_slice(b"hello, world");
    assert_eq!(w.finish().await.unwrap(), expected.len() as u64);
    let got = s3.get("a/multi").await.unwrap();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "the assembled object differs");
    // A large range is read as several GETs in flight and comes back whole.
    let range = s3.get_range("a/multi", 3..expected.len() as u64 + 100).await.unwrap();
    assert!(range == expected[3..], "a large range differs");

    let dir = tempfile::tempdir().unwrap();
    s3.download_to("a/multi", &dir.path().join("x")).await.unwrap();
    assert_eq!(std::fs::read(dir.path().join("x")).unwrap().len(), expected.len());

    s3.delete_prefix("a/").await.unwrap();
    assert!(s3.head("a/one").await.unwrap().is_none());
    assert!(s3.head("a/multi").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_upload_urls_are_signed_for_the_size_and_expire_within_30_minutes() {
    let d = deploy().await;
    let uploads = S3Uploads::new(d.rt.blobs.clone());
    let id = ImportId::generate();
    let key = keys::upload(&tenant(), &id);
    let body = b"id,name\n1,a\n".to_vec();
    let expires = Timestamp::now() + jiff::SignedDuration::from_hours(2);
    let target = uploads.upload_url(&tenant(), &id, &key, Some(body.len() as u64), 1 << 30, expires).await.unwrap();
    assert_eq!(target.method, "PUT");
    let url = url::Url::parse(&target.url).unwrap();
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(query["X-Amz-Expires"], "1800", "capped at 30 minutes");
    assert!(query["X-Amz-SignedHeaders"].split(';').any(|h| h == "content-length"), "{query:?}");
    assert!(target.expires_at <= Timestamp::now() + jiff::SignedDuration::from_mins(30));
    let client = reqwest::Client::new();
    let mut request = client.put(&target.url);
    for (name, value) in &target.headers {
        request = request.header(name, value);
    }
    let response = request.body(body.clone()).send().await.unwrap();
    assert!(response.status().is_success(), "{:?}", response.text().await);
    assert_eq!(d.rt.blobs.head(&key).await.unwrap().unwrap().size, body.len() as u64);
    let refused = uploads.upload_url(&tenant(), &id, &key, None, 1 << 30, expires).await.unwrap_err();
    assert!(refused.message.contains("file_size"), "{refused}");
    let too_big = uploads.upload_url(&tenant(), &id, &key, Some(2 << 30), 1 << 30, expires).await.unwrap_err();
    assert!(too_big.message.contains("larger"), "{too_big}");
}

fn sample_import(env: &str) -> Import {
    let id = ImportId::generate();
    let now = Timestamp::now();
    let mut v = json!({
        "id": id, "tenant": "acme", "environment": env, "status": "RUNNING",
        "template": { "id": "tpl_01ARZ3NDEKTSV4RRFFQ69G5FAV", "name": "t", "version": 1 },
        "settings": {}, "upload": { "key": keys::upload(&tenant(), &id) },
        "detected": {}, "counts": { "rows": 0, "valid": 0, "invalid": 0, "skipped": 0, "errors": 0, "warnings": 0 }, "chunks": { "total": 3, "done": 0 }, "generation": 1,
        "created_at": now, "version": 1
    });
    v["settings"] = serde_json::to_value(sluice_core::settings::Settings::default()).unwrap();
    serde_json::from_value(v).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_counts_each_chunk_once_saves_with_versions_and_serves_the_feed() {
    let d = deploy().await;
    let store: DynamoStore = d.rt.table.clone();
    let mut import = sample_import("production");
    store.insert(&import).await.unwrap();
    assert_eq!(store.insert(&import).await.unwrap_err().kind, StoreErrorKind::Conflict);
    let at = Timestamp::now();
    let counts = Counts { rows: 10, valid: 9, invalid: 1, skipped: 0, errors: 1, warnings: 0 };
    let first = store.complete_chunk(&tenant(), &import.id, 1, 0, counts, at).await.unwrap();
    assert!(first.newly_counted);
    assert_eq!((first.done, first.total), (1, 3));
    let again = store.complete_chunk(&tenant(), &import.id, 1, 0, counts, at).await.unwrap();
    assert!(!again.newly_counted, "a redelivered chunk is not counted twice");
    assert_eq!(again.done, 1);
    let stale = store.complete_chunk(&tenant(), &import.id, 2, 1, counts, at).await.unwrap();
    assert!(!stale.newly_counted, "another generation's chunk is not counted");
    // Concurrent completions of the other chunks: each counted once.
    let t = tenant();
    let (a, b) = tokio::join!(
        store.complete_chunk(&t, &import.id, 1, 1, counts, at),
        store.complete_chunk(&t, &import.id, 1, 2, counts, at)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.newly_counted && b.newly_counted);
    assert!(a.last != b.last, "exactly one of the workers that count the last chunks queues the finalize: {a:?} {b:?}");
    assert!(!first.last);
    let read = ImportRepo::get(&store, &tenant(), &import.id).await.unwrap().unwrap();
    assert_eq!(read.chunks.done, 3);
    assert_eq!(read.counts.rows, 30);
    assert_eq!(read.counts.invalid, 3);

    // Saving the document does not race the counters; a stale version is refused.
    import = read.clone();
    import.version += 1;
    import.status = ImportStatus::Successful;
    import.ended_at = Some(Timestamp::now());
    store.save(&import).await.unwrap();
    let mut stale_copy = read.clone();
    stale_copy.version += 1;
    assert_eq!(store.save(&stale_copy).await.unwrap_err().kind, StoreErrorKind::Conflict);
    let finished = ImportRepo::get(&store, &tenant(), &import.id).await.unwrap().unwrap();
    assert_eq!(finished.status, ImportStatus::Successful);
    assert_eq!(finished.counts.rows, 30, "final counts are the document's");

    // The feed: newest first, by environment, filtered and paged.
    let mut ids = vec![import.id.clone()];
    for env in ["production", "staging", "production"] {
        let i = sample_import(env);
        store.insert(&i).await.unwrap();
        ids.push(i.id);
    }
    let production = ImportFilter { environment: Some("production".into()), ..ImportFilter::default() };
    let page = store.list(&tenant(), &production, None, 2).await.unwrap();
    assert_eq!(page.iter().map(|i| i.id.clone()).collect::<Vec<_>>(), vec![ids[3].clone(), ids[1].clone()]);
    let rest = store.list(&tenant(), &production, Some(&ids[1]), 10).await.unwrap();
    assert_eq!(rest.iter().map(|i| i.id.clone()).collect::<Vec<_>>(), vec![ids[0].clone()]);
    let running = ImportFilter { status: Some(ImportStatus::Running), ..production.clone() };
    assert_eq!(store.list(&tenant(), &running, None, 10).await.unwrap().len(), 2);
    let after_newest = store.list(&tenant(), &ImportFilter::default(), Some(&ids[3]), 10).await.unwrap();
    assert_eq!(after_newest.len(), 3, "the base table pages too");
    assert_eq!(store.list(&tenant(), &ImportFilter::default(), None, 10).await.unwrap().len(), 4);
    let other = TenantId::parse("globex").unwrap();
    assert!(store.list(&other, &production, None, 10).await.unwrap().is_empty());
    assert!(ImportRepo::get(&store, &other, &import.id).await.unwrap().is_none(), "the tenant is in the key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_keep_versions_conditions_order_and_expiry_and_row_hashes_keep_their_first_owner() {
    let d = deploy().await;
    let store: DynamoStore = d.rt.table.clone();
    let v1 = ItemStore::put(&store, "TENANT#acme", "TPL#a", Bytes::from_static(b"one"), Condition::Absent, None)
        .await
        .unwrap();
    assert_eq!(v1, 1);
    let conflict = ItemStore::put(&store, "TENANT#acme", "TPL#a", Bytes::from_static(b"x"), Condition::Absent, None)
        .await
        .unwrap_err();
    assert_eq!(conflict.kind, StoreErrorKind::Conflict);
    let v2 = ItemStore::put(&store, "TENANT#acme", "TPL#a", Bytes::from_static(b"two"), Condition::Version(1), None)
        .await
        .unwrap();
    assert_eq!(v2, 2);
    assert!(ItemStore::put(&store, "TENANT#acme", "TPL#a", Bytes::new(), Condition::Version(1), None).await.is_err());
    let item = ItemStore::get(&store, "TENANT#acme", "TPL#a").await.unwrap().unwrap();
    assert_eq!((item.value, item.version), (Bytes::from_static(b"two"), 2));
    for sk in ["TPL#b", "TPL#c", "DEST#x"] {
        ItemStore::put(&store, "TENANT#acme", sk, Bytes::from(sk), Condition::None, None).await.unwrap();
    }
    let all = ItemStore::query(&store, "TENANT#acme", "TPL#", None, 10, false).await.unwrap();
    assert_eq!(all.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["TPL#a", "TPL#b", "TPL#c"]);
    let desc = ItemStore::query(&store, "TENANT#acme", "TPL#", Some("TPL#c"), 1, true).await.unwrap();
    assert_eq!(desc[0].0, "TPL#b");
    // Expired items are absent before DynamoDB gets round to deleting them.
    let past = Timestamp::now().as_second() - 10;
    ItemStore::put(&store, "TENANT#acme", "IDEM#k", Bytes::from_static(b"r"), Condition::Absent, Some(past))
        .await
        .unwrap();
    assert!(ItemStore::get(&store, "TENANT#acme", "IDEM#k").await.unwrap().is_none());
    ItemStore::put(&store, "TENANT#acme", "IDEM#k", Bytes::from_static(b"r2"), Condition::Absent, None).await.unwrap();
    ItemStore::delete(&store, "TENANT#acme", "TPL#a", Condition::None).await.unwrap();
    assert!(ItemStore::get(&store, "TENANT#acme", "TPL#a").await.unwrap().is_none());

    let (first, second) = (ImportId::generate(), ImportId::generate());
    let hashes: Vec<u128> = (0..250u128).map(|i| i * 7919 + 1).collect();
    store.register("acme/tpl", &hashes[..200], &first).await.unwrap();
    store.register("acme/tpl", &hashes[150..], &second).await.unwrap();
    let owned = store.owned_by_others("acme/tpl", &hashes, &second).await.unwrap();
    assert_eq!(owned.len(), 200, "the first import keeps the hashes it registered");
    assert!(owned.iter().all(|(_, o)| *o == first));
    assert!(store.owned_by_others("acme/other", &hashes, &second).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_longer_than_sqs_allows_is_carried_in_the_message_and_waited_out() {
    let d = deploy().await;
    let job = Job::Deliver { tenant: tenant(), import: ImportId::generate(), round: 1, batch: 0, attempt: 2 };
    d.rt.queue.send_after(job.clone(), Duration::from_secs(2 * 3600)).await.unwrap();
    let source = EventSource::new(&d.sdk, &d.settings.delivery_queue_url);
    assert_eq!(source.depth().await.unwrap(), 1, "the message waits in the queue (its first 15 minutes in SQS)");
    // What the deliverer gets when that leg ends: it puts the message back, untouched and not run.
    let not_before = Timestamp::now().as_second() + 3600;
    let mut event = SqsEvent::default();
    let mut m = aws_lambda_events::event::sqs::SqsMessage::default();
    m.message_id = Some("m1".into());
    m.body = Some(json!({ "job": job, "not_before": not_before }).to_string());
    event.records.push(m);
    let response = handlers::deliver(&d.rt, event).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(source.depth().await.unwrap(), 2, "deferred again, not run and not lost");
    // And a job whose time has come runs (here: an import that does not exist, so nothing to do).
    let mut event = SqsEvent::default();
    let mut m = aws_lambda_events::event::sqs::SqsMessage::default();
    m.message_id = Some("m2".into());
    m.body = Some(json!({ "job": job, "not_before": Timestamp::now().as_second() - 1 }).to_string());
    event.records.push(m);
    let response = handlers::deliver(&d.rt, event).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(source.depth().await.unwrap(), 2);
}

/// A webhook receiver that records what it gets.
async fn receiver() -> (String, Arc<Mutex<Vec<(axum::http::HeaderMap, Bytes)>>>) {
    let got: Arc<Mutex<Vec<(axum::http::HeaderMap, Bytes)>>> = Arc::default();
    let store = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push((headers, body));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), got)
}

/// API Gateway (HTTP API, payload 2.0) in front of the `api` handler.
struct Gateway {
    router: axum::Router,
    token: String,
}

impl Gateway {
    async fn call(&self, method: &str, path: &str, body: Option<(&str, String)>) -> (u16, Value) {
        let (path_only, query) = path.split_once('?').unwrap_or((path, ""));
        let mut headers = json!({ "authorization": format!("Bearer {}", self.token), "host": "api.example.com" });
        if let Some((content_type, _)) = &body {
            headers["content-type"] = json!(content_type);
        }
        let event = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path_only,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012", "apiId": "api1", "domainName": "api.example.com", "domainPrefix": "api",
                "http": { "method": method, "path": path_only, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "test" },
                "requestId": "req-1", "routeKey": "$default", "stage": "$default", "time": "21/Nov/2026:10:00:00 +0000", "timeEpoch": 1795000000000u64
            },
            "body": body.as_ref().map(|(_, b)| b.clone()),
            "isBase64Encoded": false
        });
        let request: lambda_http::request::LambdaRequest = serde_json::from_value(event).unwrap();
        let answer =
            handlers::api(self.router.clone(), lambda_http::LambdaEvent::new(request, lambda_http::Context::default()))
                .await
                .unwrap();
        let status = answer["statusCode"].as_u64().unwrap() as u16;
        let text = answer["body"].as_str().unwrap_or_default();
        let body = if answer["isBase64Encoded"] == true {
            use base64::Engine as _;
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(text).unwrap()).unwrap()
        } else {
            text.to_string()
        };
        (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
    }
}

/// Plays Lambda's event sources until `done` holds: every queue is drained into its handler;
/// chunk messages are handed over out of order, and every third one twice.
async fn pump(d: &Deployment, mut done: impl AsyncFnMut() -> bool) {
    let split = EventSource::new(&d.sdk, &d.settings.split_queue_url);
    let chunk = EventSource::new(&d.sdk, &d.settings.chunk_queue_url);
    let delivery = EventSource::new(&d.sdk, &d.settings.delivery_queue_url);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut n = 0usize;
    while !done().await {
        assert!(Instant::now() < deadline, "the pipeline did not finish");
        let event = split.receive(1, 0).await.unwrap();
        if !event.records.is_empty() {
            let response = handlers::split(&d.rt, event.clone()).await;
            split.settle(&event, &response).await.unwrap();
        }
        let mut event = chunk.receive(10, 0).await.unwrap();
        if !event.records.is_empty() {
            event.records.reverse();
            let response = handlers::chunk(&d.rt, event.clone()).await;
            n += 1;
            if n.is_multiple_of(3) {
                // At-least-once: the same messages again, before they are deleted.
                let again = handlers::chunk(&d.rt, event.clone()).await;
                assert!(again.batch_item_failures.is_empty(), "a redelivered chunk message fails: {again:?}");
            }
            chunk.settle(&event, &response).await.unwrap();
        }
        let event = delivery.receive(10, 0).await.unwrap();
        if !event.records.is_empty() {
            let response = handlers::deliver(&d.rt, event.clone()).await;
            delivery.settle(&event, &response).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn import_of(d: &Deployment, id: &ImportId) -> Import {
    d.rt.app.get_import(&tenant(), id).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_runs_through_the_handlers_from_the_api_call_to_the_signed_webhooks() {
    let d = deploy().await;
    let jwt = JwtConfig::hs256(b"a test secret of thirty-two bytes!", "https://idp.example", "sluice");
    let gateway = Gateway {
        router: sluice_http::router(d.rt.api_state(jwt.clone())),
        token: jwt.mint("u1", "acme", "production", 600).unwrap(),
    };

    let yaml = std::fs::read_to_string(fixture("contacts.yaml")).unwrap();
    let (status, template) = gateway.call("POST", "/v1/templates", Some(("application/yaml", yaml))).await;
    assert_eq!(status, 201, "{template}");
    let template_id = template["id"].as_str().unwrap().to_string();
    let (status, _) = gateway
        .call("POST", &format!("/v1/templates/{template_id}/push"), Some(("application/json", "{}".into())))
        .await;
    assert_eq!(status, 200);
    let (hook, got) = receiver().await;
    let (status, destination) = gateway
        .call("POST", "/v1/destinations", Some(("application/json", json!({ "key": "crm", "url": hook }).to_string())))
        .await;
    assert_eq!(status, 201, "{destination}");
    let secret = destination["secret"].as_str().unwrap().to_string();

    let file = std::fs::read(fixture("contacts.csv")).unwrap();
    let body = json!({ "template_id": template_id, "destination": "crm", "original_filename": "contacts.csv", "file_size": file.len() });
    let (status, created) = gateway.call("POST", "/v1/imports", Some(("application/json", body.to_string()))).await;
    assert_eq!(status, 201, "{created}");
    let id = ImportId::parse(created["id"].as_str().unwrap()).unwrap();
    assert_eq!(created["status"], "AWAITING_UPLOAD");

    // A plain HTTP client PUTs the file to the presigned URL; S3 tells the split queue.
    let client = reqwest::Client::new();
    let mut put = client.put(created["upload"]["url"].as_str().unwrap());
    for (name, value) in created["upload"]["headers"].as_object().unwrap() {
        put = put.header(name.as_str(), value.as_str().unwrap());
    }
    let response = put.body(file).send().await.unwrap();
    assert!(response.status().is_success());

    pump(&d, async || {
        let import = import_of(&d, &id).await;
        import.delivery.as_ref().is_some_and(|dl| {
            matches!(dl.state, sluice_app::model::DeliveryState::Delivered | sluice_app::model::DeliveryState::Failed)
        })
    })
    .await;
    let import = import_of(&d, &id).await;
    assert_eq!(import.status, ImportStatus::Successful, "{import:?}");
    assert_eq!((import.counts.rows, import.counts.valid, import.counts.invalid), (300, 294, 6));
    assert_eq!(import.delivery.as_ref().unwrap().state, sluice_app::model::DeliveryState::Delivered);
    assert!(import.upload.queued);

    let (status, view) = gateway.call("GET", &format!("/v1/imports/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(view["status"], "SUCCESSFUL");
    let (_, rows) = gateway.call("GET", &format!("/v1/imports/{id}/rows?limit=1000"), None).await;
    assert_eq!(rows["rows"].as_array().unwrap().len(), 294);
    let (_, feed) = gateway.call("GET", "/v1/imports", None).await;
    assert_eq!(feed["imports"][0]["id"], id.to_string());

    let received = got.lock().unwrap().clone();
    assert_eq!(received.len(), 2, "one batch of 294 rows, then import.completed");
    let wh = standardwebhooks::Webhook::new(&secret).unwrap();
    for (headers, body) in &received {
        wh.verify(body, headers).unwrap();
    }
    let batch: Value = serde_json::from_slice(&received[0].1).unwrap();
    assert_eq!(batch["rows"].as_array().unwrap().len(), 294);
    let completed: Value = serde_json::from_slice(&received[1].1).unwrap();
    assert_eq!(completed["type"], "import.completed");

    // A replayed upload event changes nothing: the import is not split again.
    let replay = json!({ "Records": [{ "eventName": "ObjectCreated:Put", "s3": { "bucket": { "name": d.settings.bucket },
        "object": { "key": keys::upload(&tenant(), &id), "eTag": import.upload.etag } } }] });
    let mut event = SqsEvent::default();
    let mut m = aws_lambda_events::event::sqs::SqsMessage::default();
    m.message_id = Some("replay".into());
    m.body = Some(replay.to_string());
    event.records.push(m);
    assert!(handlers::split(&d.rt, event).await.batch_item_failures.is_empty());
    let after = import_of(&d, &id).await;
    assert_eq!((after.generation, after.status, after.version), (import.generation, import.status, import.version));
    let chunk_queue = EventSource::new(&d.sdk, &d.settings.chunk_queue_url);
    assert_eq!(chunk_queue.depth().await.unwrap(), 0);
    let split_queue = EventSource::new(&d.sdk, &d.settings.split_queue_url);
    assert_eq!(split_queue.depth().await.unwrap(), 0, "no split was queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_dropped_under_drop_starts_an_import_and_a_bad_one_is_set_aside() {
    let d = deploy().await;
    let spec = sluice_core::template::parse_template(
        &std::fs::read_to_string(fixture("contacts.yaml")).unwrap(),
        sluice_core::template::TemplateSyntax::Yaml,
    )
    .unwrap();
    let template = d.rt.app.create_template(&tenant(), spec).await.unwrap();
    d.rt.app.push_template(&tenant(), &template.record.id, "production", None).await.unwrap();
    // Spaces and a subfolder: the event carries the key form-encoded.
    let key = "drop/acme/contacts/March 2026/contacts+v2.csv";
    d.rt.blobs.put(key, Bytes::from(std::fs::read(fixture("contacts.csv")).unwrap())).await.unwrap();
    d.rt.blobs.put("drop/acme/no-such-template/x.csv", Bytes::from_static(b"a,b\n1,2\n")).await.unwrap();
    let started = async || {
        let page = d.rt.app.list_imports(&tenant(), &ImportFilter::default(), None, 10).await.unwrap();
        page.imports.first().is_some_and(|i| i.status == ImportStatus::Successful)
            && d.rt.blobs.head("drop-rejected/acme/no-such-template/x.csv.error.txt").await.unwrap().is_some()
    };
    pump(&d, started).await;
    let page = d.rt.app.list_imports(&tenant(), &ImportFilter::default(), None, 10).await.unwrap();
    assert_eq!(page.imports.len(), 1, "one import per dropped file, whatever the redeliveries");
    let import = &page.imports[0];
    assert_eq!(import.original_filename.as_deref(), Some("contacts+v2.csv"));
    assert_eq!(import.counts.valid, 294);
    assert_eq!(import.environment, "production");
    assert!(d.rt.blobs.head(key).await.unwrap().is_none(), "the dropped file was moved");
    let why = d.rt.blobs.get("drop-rejected/acme/no-such-template/x.csv.error.txt").await.unwrap();
    assert!(String::from_utf8_lossy(&why).contains("no-such-template"), "{why:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_test_events_and_malformed_messages_do_not_fail_their_batch() {
    let d = deploy().await;
    let mut event = SqsEvent::default();
    for (id, body) in [
        ("test", r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-21T00:00:00Z","Bucket":"b"}"#.to_string()),
        ("junk", "not json".to_string()),
        ("other", json!({ "Records": [{ "eventName": "ObjectCreated:Put", "s3": { "object": { "key": "results/x" } } }] }).to_string()),
        ("lenient", json!({ "Records": [{ "eventName": "ObjectCreated:Put", "s3": { "object": { "key": "uploads/acme/imp_01ARZ3NDEKTSV4RRFFQ69G5FAV/source" } } }] }).to_string()),
    ] {
        let mut m = aws_lambda_events::event::sqs::SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body);
        event.records.push(m);
    }
    let response = handlers::split(&d.rt, event).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["junk"], "only the malformed message is retried (and, in the end, dead-lettered)");
}
