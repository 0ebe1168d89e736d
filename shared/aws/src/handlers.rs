//! The Lambda handlers, thin: an SQS batch in, a use case per message, the failed messages
//! out (`ReportBatchItemFailures`), so one bad message never fails its batch.
//!
//! - [`split`]: S3 `ObjectCreated` events (through SQS) and split jobs. An upload under an
//!   import's own key accepts it; an object under `drop/{tenant}/{template}/` starts an import.
//! - [`chunk`]: chunk and finalize jobs.
//! - [`deliver`]: webhook deliveries.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::{StreamExt as _, stream};
use jiff::Timestamp;
use serde_json::Value;
use sluice_app::model::{ImportId, TenantId};
use sluice_app::{AppError, Job};

use crate::runtime::AwsRuntime;
use crate::sqs::Envelope;

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done (or nothing to do): delete the message.
    Done,
    /// Not done: let SQS deliver it again (and, after the last receive, to the dead-letter queue).
    Retry(String),
}

fn response(failures: Vec<String>) -> SqsBatchResponse {
    let mut out = SqsBatchResponse::default();
    out.batch_item_failures = failures
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    out
}

fn receive_count(message: &SqsMessage) -> u32 {
    message.attributes.get("ApproximateReceiveCount").and_then(|v| v.parse().ok()).unwrap_or(1)
}

/// Runs `each` over the batch, `concurrency` messages at a time, and reports the failures.
async fn batch<'a, F, Fut>(event: &'a SqsEvent, concurrency: usize, each: F) -> SqsBatchResponse
where
    F: Fn(&'a SqsMessage) -> Fut,
    Fut: std::future::Future<Output = Outcome> + 'a,
{
    let outcomes: Vec<(Option<String>, Outcome)> = stream::iter(event.records.iter().map(|m| {
        let run = each(m);
        async move { (m.message_id.clone(), run.await) }
    }))
    .buffered(concurrency.max(1))
    .collect()
    .await;
    let mut failures = Vec::new();
    for (id, outcome) in outcomes {
        if let Outcome::Retry(why) = outcome {
            tracing::warn!(
                message_id = id.as_deref().unwrap_or_default(),
                reason = why.as_str(),
                "message will be retried"
            );
            match id {
                Some(id) => failures.push(id),
                None => tracing::error!("a failed message has no id; it cannot be retried"),
            }
        }
    }
    response(failures)
}

/// Runs a queued job: a deferred one goes back to wait; a failure that cannot pass marks the
/// import failed; a transient one is retried by SQS, and on its last receive marks the import
/// failed before the message goes to the dead-letter queue.
async fn run_job(rt: &AwsRuntime, message: &SqsMessage, envelope: Envelope) -> Outcome {
    if envelope.not_before.is_some_and(|t| t > Timestamp::now().as_second()) {
        return match rt.queue.defer(envelope).await {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Retry(format!("could not defer: {e}")),
        };
    }
    let job = envelope.job;
    let span = tracing::info_span!("job", import_id = %job.import(), kind = job_kind(&job));
    let _enter = span.enter();
    match rt.app.handle(job.clone()).await {
        Ok(()) => Outcome::Done,
        Err(e) if e.is_retryable() && receive_count(message) < rt.settings.max_receives => {
            Outcome::Retry(e.to_string())
        }
        Err(e) => {
            let reason = e.to_string();
            tracing::error!(import_id = %job.import(), reason = reason.as_str(), "job failed for good");
            if let Err(e2) = rt.app.abandon(&job, &reason).await {
                tracing::error!(import_id = %job.import(), error = %e2, "could not mark the import failed");
            }
            if e.is_retryable() { Outcome::Retry(reason) } else { Outcome::Done }
        }
    }
}

fn job_kind(job: &Job) -> &'static str {
    match job {
        Job::Split { .. } => "split",
        Job::Chunk { .. } => "chunk",
        Job::Finalize { .. } => "finalize",
        Job::Deliver { .. } => "deliver",
    }
}

fn envelope_of(body: &Value) -> Option<Envelope> {
    serde_json::from_value::<Envelope>(body.clone())
        .ok()
        .or_else(|| serde_json::from_value::<Job>(body.clone()).ok().map(|job| Envelope { job, not_before: None }))
}

/// Parses a job message; a body that is no job can never succeed and goes to the DLQ.
fn parse_job(message: &SqsMessage) -> Result<Envelope, Outcome> {
    let body = message.body.as_deref().unwrap_or_default();
    serde_json::from_str::<Value>(body)
        .ok()
        .as_ref()
        .and_then(envelope_of)
        .ok_or_else(|| Outcome::Retry(format!("not a job: {}", body.chars().take(200).collect::<String>())))
}

/// The `api` function: an API Gateway (HTTP API, payload 2.0) event through the router, as
/// `lambda_http::run` does it.
/// The answer is the API Gateway response event, as JSON.
pub async fn api(
    router: axum::Router,
    event: lambda_http::LambdaEvent<lambda_http::request::LambdaRequest>,
) -> Result<Value, lambda_http::Error> {
    use lambda_http::Service as _;
    let mut adapter = lambda_http::Adapter::from(router);
    let response = match adapter.call(event).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    Ok(serde_json::to_value(response)?)
}

/// The `chunk-worker` function: chunk and finalize jobs, as many in parallel as there are cores.
pub async fn chunk(rt: &AwsRuntime, event: SqsEvent) -> SqsBatchResponse {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    batch(&event, cores, |m| async move {
        match parse_job(m) {
            Ok(envelope) => run_job(rt, m, envelope).await,
            Err(outcome) => outcome,
        }
    })
    .await
}

/// The `deliverer` function: webhook deliveries (retries are scheduled by the use case).
pub async fn deliver(rt: &AwsRuntime, event: SqsEvent) -> SqsBatchResponse {
    batch(&event, 4, |m| async move {
        match parse_job(m) {
            Ok(envelope) => run_job(rt, m, envelope).await,
            Err(outcome) => outcome,
        }
    })
    .await
}

/// The `splitter` function: upload events from S3 and split jobs, one at a time.
pub async fn split(rt: &AwsRuntime, event: SqsEvent) -> SqsBatchResponse {
    batch(&event, 1, |m| async move { split_message(rt, m).await }).await
}

async fn split_message(rt: &AwsRuntime, message: &SqsMessage) -> Outcome {
    let body = message.body.as_deref().unwrap_or_default();
    let Ok(mut value) = serde_json::from_str::<Value>(body) else {
        return Outcome::Retry(format!("not JSON: {}", body.chars().take(200).collect::<String>()));
    };
    // Through SNS, the S3 event is a string inside the notification.
    if value.get("Type").and_then(Value::as_str) == Some("Notification")
        && let Some(inner) = value.get("Message").and_then(Value::as_str).and_then(|m| serde_json::from_str(m).ok())
    {
        value = inner;
    }
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        tracing::info!("S3 test event skipped");
        return Outcome::Done;
    }
    if let Some(records) = value.get("Records").and_then(Value::as_array) {
        for record in records {
            if let Outcome::Retry(why) = s3_record(rt, record).await {
                return Outcome::Retry(why);
            }
        }
        return Outcome::Done;
    }
    match envelope_of(&value) {
        Some(envelope) => run_job(rt, message, envelope).await,
        None => {
            Outcome::Retry(format!("neither an S3 event nor a job: {}", body.chars().take(200).collect::<String>()))
        }
    }
}

/// An S3 object key as events carry it: form-encoded (`+` for a space, `%2F` ...).
pub fn decode_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// Where an object lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectPlace {
    /// The upload of an import.
    Upload(TenantId, ImportId),
    /// A dropped file: tenant, template (id or name), file name.
    Drop(TenantId, String, String),
    /// Anything else (results, chunk files ...).
    Other,
}

/// Sorts a key.
pub fn place_of(key: &str) -> ObjectPlace {
    let parts: Vec<&str> = key.split('/').collect();
    match parts.as_slice() {
        ["uploads", tenant, id, "source"] => match (TenantId::parse(tenant), ImportId::parse(id)) {
            (Some(t), Some(i)) => ObjectPlace::Upload(t, i),
            _ => ObjectPlace::Other,
        },
        ["drop", tenant, template, rest @ ..] if !rest.is_empty() && !template.is_empty() => {
            match TenantId::parse(tenant) {
                Some(t) if rest.last().is_some_and(|n| !n.is_empty()) => {
                    ObjectPlace::Drop(t, (*template).to_string(), rest.last().copied().unwrap_or_default().to_string())
                }
                _ => ObjectPlace::Other,
            }
        }
        _ => ObjectPlace::Other,
    }
}

fn retry_if_transient(e: AppError, what: &str) -> Outcome {
    if e.is_retryable() {
        Outcome::Retry(format!("{what}: {e}"))
    } else {
        tracing::warn!(reason = %e, "{what}: refused");
        Outcome::Done
    }
}

async fn s3_record(rt: &AwsRuntime, record: &Value) -> Outcome {
    let event_name = record.get("eventName").and_then(Value::as_str).unwrap_or_default();
    if !event_name.starts_with("ObjectCreated") {
        return Outcome::Done;
    }
    let bucket = record.pointer("/s3/bucket/name").and_then(Value::as_str).unwrap_or_default();
    if !bucket.is_empty() && bucket != rt.settings.bucket {
        tracing::warn!(bucket, "event for another bucket skipped");
        return Outcome::Done;
    }
    let Some(raw_key) = record.pointer("/s3/object/key").and_then(Value::as_str) else {
        tracing::warn!("S3 record without an object key skipped");
        return Outcome::Done;
    };
    let key = decode_key(raw_key);
    let event_etag = record.pointer("/s3/object/eTag").and_then(Value::as_str).map(|e| e.trim_matches('"').to_string());
    let place = place_of(&key);
    if place == ObjectPlace::Other {
        return Outcome::Done;
    }
    let meta = match rt.blobs_head(&key).await {
        Ok(Some(meta)) => meta,
        Ok(None) => {
            tracing::info!(key = key.as_str(), "the object is gone; event skipped");
            return Outcome::Done;
        }
        Err(e) => return retry_if_transient(e, "read the object"),
    };
    // Pin the object the event names: an event for an object since replaced is stale.
    if let Some(tag) = &event_etag
        && !tag.is_empty()
        && *tag != meta.etag
    {
        tracing::info!(key = key.as_str(), "the object changed since this event; skipped");
        return Outcome::Done;
    }
    match place {
        ObjectPlace::Upload(tenant, id) => match rt.app.accept_upload(&tenant, &id, meta).await {
            Ok(_) => Outcome::Done,
            Err(AppError::NotFound(_)) => {
                tracing::warn!(key = key.as_str(), "an upload for no import; skipped");
                Outcome::Done
            }
            Err(e) => retry_if_transient(e, "accept the upload"),
        },
        ObjectPlace::Drop(tenant, template, name) => dropped(rt, &key, &meta.etag, tenant, &template, &name).await,
        ObjectPlace::Other => Outcome::Done,
    }
}

/// A dropped object: one import per object version (a replayed event finds the import its first
/// delivery made), the object copied to the import's upload key (whose event accepts it), and
/// removed from `drop/`.
async fn dropped(rt: &AwsRuntime, key: &str, etag: &str, tenant: TenantId, template: &str, name: &str) -> Outcome {
    let scope = format!("drop#{key}#{etag}");
    let app = rt.app.clone();
    let started = app
        .idempotent(&tenant, &scope, etag, || async {
            let import = app.create_drop_import(&tenant, template, name).await?;
            Ok((201, serde_json::json!({ "id": import.id, "upload_key": import.upload.key })))
        })
        .await;
    let (_, body) = match started {
        Ok(r) => r,
        Err(e) if e.is_retryable() => return Outcome::Retry(format!("start an import for a dropped file: {e}")),
        Err(e) => return reject(rt, key, &e.to_string()).await,
    };
    let (Some(id), Some(upload_key)) = (body["id"].as_str(), body["upload_key"].as_str()) else {
        return Outcome::Retry("idempotency record without an import".into());
    };
    if let Err(e) = rt.blobs.copy(key, upload_key).await {
        return retry_if_transient(e.into(), "copy the dropped file");
    }
    tracing::info!(key, import_id = id, "dropped file: import started");
    if let Err(e) = rt.blobs.delete(key).await {
        tracing::warn!(key, error = %e, "dropped file imported but not removed");
    }
    Outcome::Done
}

/// Sets a dropped file that cannot start an import aside, under `drop-rejected/`, with a
/// `.error.txt` beside it saying why.
async fn reject(rt: &AwsRuntime, key: &str, why: &str) -> Outcome {
    use sluice_app::ports::BlobStore as _;
    tracing::warn!(key, reason = why, "dropped file refused");
    let aside = format!("drop-rejected/{}", key.trim_start_matches("drop/"));
    if let Err(e) = rt.blobs.copy(key, &aside).await {
        return retry_if_transient(e.into(), "set the refused file aside");
    }
    if let Err(e) = rt.blobs.put(&format!("{aside}.error.txt"), bytes::Bytes::from(format!("{why}\n"))).await {
        return retry_if_transient(e.into(), "write why the file was refused");
    }
    if let Err(e) = rt.blobs.delete(key).await {
        tracing::warn!(key, error = %e, "refused file set aside but not removed");
    }
    Outcome::Done
}

impl AwsRuntime {
    async fn blobs_head(&self, key: &str) -> Result<Option<sluice_app::ports::BlobMeta>, AppError> {
        use sluice_app::ports::BlobStore as _;
        Ok(self.blobs.head(key).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_form_decoded_and_sorted() {
        assert_eq!(decode_key("drop/acme/contacts/March+2026%2Fv2.csv"), "drop/acme/contacts/March 2026/v2.csv");
        assert_eq!(decode_key("a%2Bb"), "a+b");
        let upload = "uploads/acme/imp_01ARZ3NDEKTSV4RRFFQ69G5FAV/source";
        assert!(matches!(place_of(upload), ObjectPlace::Upload(..)));
        assert_eq!(
            place_of("drop/acme/contacts/sub/f.csv"),
            ObjectPlace::Drop(TenantId::parse("acme").unwrap(), "contacts".into(), "f.csv".into())
        );
        for other in ["drop/acme/f.csv", "drop/acme/contacts/", "results/acme/x/rows.jsonl", "uploads/acme/nope/source"]
        {
            assert_eq!(place_of(other), ObjectPlace::Other, "{other}");
        }
    }
}
