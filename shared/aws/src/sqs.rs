//! Jobs on SQS: splits on the split queue (which also carries S3's upload events), chunks and
//! finalize on the chunk queue, webhook deliveries on the delivery queue.
//!
//! Messages are batched ten to a `SendMessageBatch`. SQS delays a message by 15 minutes at
//! most; a longer delay (webhook retries run for hours) rides in the message as `not_before`,
//! and the consumer puts the message back, delayed again, until its time comes.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sluice_app::Job;
use sluice_app::ports::{JobQueue, StoreError, StoreErrorKind};

use crate::errors::{permanent, sort};

/// The longest delay SQS takes.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

/// A job as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The job.
    pub job: Job,
    /// Not to run before this time (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<i64>,
}

/// The queues, by URL.
#[derive(Debug, Clone)]
pub struct SqsJobQueue {
    client: Client,
    split_url: String,
    chunk_url: String,
    delivery_url: String,
}

impl SqsJobQueue {
    /// Jobs routed to their queues.
    pub fn new(client: Client, split_url: String, chunk_url: String, delivery_url: String) -> SqsJobQueue {
        SqsJobQueue { client, split_url, chunk_url, delivery_url }
    }

    fn url_of(&self, job: &Job) -> &str {
        match job {
            Job::Split { .. } => &self.split_url,
            Job::Chunk { .. } | Job::Finalize { .. } => &self.chunk_url,
            Job::Deliver { .. } => &self.delivery_url,
        }
    }

    /// Sends envelopes to one queue, ten to a request, retrying entries SQS refused once.
    async fn send_to(&self, url: &str, envelopes: Vec<(Envelope, u32)>) -> Result<(), StoreError> {
        for batch in envelopes.chunks(10) {
            let mut entries: Vec<SendMessageBatchRequestEntry> = Vec::with_capacity(batch.len());
            for (i, (envelope, delay)) in batch.iter().enumerate() {
                let body =
                    serde_json::to_string(envelope).map_err(|e| permanent(format!("job not serializable: {e}")))?;
                entries.push(
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .delay_seconds(*delay as i32)
                        .build()
                        .map_err(|e| permanent(e.to_string()))?,
                );
            }
            let mut attempt = 0;
            while !entries.is_empty() {
                attempt += 1;
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(url)
                    .set_entries(Some(entries.clone()))
                    .send()
                    .await
                    .map_err(|e| sort("send jobs", e, &[]))?;
                let failed: Vec<String> = out.failed().iter().map(|f| f.id().to_string()).collect();
                if failed.is_empty() {
                    break;
                }
                if attempt >= 3 {
                    let why =
                        out.failed().first().map(|f| f.message().unwrap_or_default().to_string()).unwrap_or_default();
                    return Err(StoreError::new(
                        StoreErrorKind::Transient,
                        format!("SQS refused {} jobs: {why}", failed.len()),
                    ));
                }
                entries.retain(|e| failed.iter().any(|f| f == e.id()));
            }
        }
        Ok(())
    }

    /// Puts a job back until `not_before`, in steps of at most 15 minutes.
    pub async fn defer(&self, envelope: Envelope) -> Result<(), StoreError> {
        let now = Timestamp::now().as_second();
        let wait = envelope.not_before.map_or(0, |t| (t - now).max(0)) as u64;
        let delay = wait.min(MAX_DELAY.as_secs()) as u32;
        let url = self.url_of(&envelope.job).to_string();
        self.send_to(&url, vec![(envelope, delay)]).await
    }
}

#[async_trait]
impl JobQueue for SqsJobQueue {
    async fn send(&self, jobs: Vec<Job>) -> Result<(), StoreError> {
        let mut by_queue: Vec<(String, Vec<(Envelope, u32)>)> = Vec::new();
        for job in jobs {
            let url = self.url_of(&job).to_string();
            let envelope = (Envelope { job, not_before: None }, 0);
            match by_queue.iter_mut().find(|(u, _)| *u == url) {
                Some((_, list)) => list.push(envelope),
                None => by_queue.push((url, vec![envelope])),
            }
        }
        for (url, envelopes) in by_queue {
            self.send_to(&url, envelopes).await?;
        }
        Ok(())
    }

    async fn send_after(&self, job: Job, delay: Duration) -> Result<(), StoreError> {
        let not_before = (delay > MAX_DELAY).then(|| Timestamp::now().as_second() + delay.as_secs() as i64);
        let url = self.url_of(&job).to_string();
        let seconds = delay.min(MAX_DELAY).as_secs() as u32;
        self.send_to(&url, vec![(Envelope { job, not_before }, seconds)]).await
    }
}
