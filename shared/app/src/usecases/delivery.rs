//! Webhook delivery: an import's rows in ordered, signed batches, then `import.completed`.
//!
//! One job per message, chained: batch *n + 1* is queued when batch *n* is acknowledged, so a
//! receiver sees batches in order. A failed send is retried with exponential backoff and jitter
//! over hours, honouring `Retry-After`; `410 Gone` disables the destination; after the last
//! attempt the delivery is `failed` and can be replayed (`redeliver`). Every attempt is logged.
//! The `webhook-id` of a message is stable across retries and replays, so receivers can drop
//! duplicates.

use std::time::Duration;

use bytes::Bytes;
use sluice_core::ImportStatus;

use super::{App, AppError};
use crate::items::DeliveryAttempt;
use crate::keys;
use crate::model::{Delivery, DeliveryState, Import, ImportId, Job, TenantId};
use crate::ports::{WebhookRequest, WebhookResponse};
use crate::webhook;

/// How deliveries batch and retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Rows per batch.
    pub batch_rows: usize,
    /// Largest batch body, in bytes (a batch closes early past it).
    pub batch_bytes: usize,
    /// Delay before each retry; the number of entries is the number of retries.
    pub retries: Vec<Duration>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        DeliveryConfig {
            batch_rows: 1000,
            batch_bytes: 4 << 20,
            // About 21 hours in all.
            retries: vec![
                Duration::from_secs(10),
                minutes(1),
                minutes(5),
                minutes(15),
                minutes(30),
                minutes(60),
                minutes(120),
                minutes(240),
                minutes(360),
                minutes(480),
            ],
        }
    }
}

/// Cuts `rows.jsonl` into the byte ranges of the batches, fed a window at a time so memory stays
/// flat however many rows there are. A batch closes at the row count or once it reaches the byte
/// cap, always at the end of a row.
struct BatchCutter {
    batch_rows: usize,
    batch_bytes: u64,
    start: u64,
    count: usize,
    ranges: Vec<(u64, u64)>,
}

impl BatchCutter {
    fn new(batch_rows: usize, batch_bytes: usize) -> BatchCutter {
        BatchCutter {
            batch_rows: batch_rows.max(1),
            batch_bytes: batch_bytes.max(1) as u64,
            start: 0,
            count: 0,
            ranges: Vec::new(),
        }
    }

    /// The next window, which begins `at` bytes into the file.
    fn feed(&mut self, at: u64, window: &[u8]) {
        for end in memchr::memchr_iter(b'\n', window) {
            let end = at + end as u64 + 1;
            self.count += 1;
            if self.count >= self.batch_rows || end - self.start >= self.batch_bytes {
                self.ranges.push((self.start, end));
                self.start = end;
                self.count = 0;
            }
        }
    }

    /// The ranges of a file of `size` bytes (a last row without a line break included).
    fn finish(mut self, size: u64) -> Vec<(u64, u64)> {
        if self.start < size {
            self.ranges.push((self.start, size));
        }
        self.ranges
    }
}

/// How much of the rows file a delivery reads at once to cut the batches.
const CUT_WINDOW: u64 = 8 << 20;

impl App {
    /// Queues the delivery of a finished import to its destination.
    pub(crate) async fn start_delivery(&self, import: &Import) -> Result<(), AppError> {
        if let Some(d) = &import.delivery {
            let job = Job::Deliver {
                tenant: import.tenant.clone(),
                import: import.id.clone(),
                round: d.round,
                batch: 0,
                attempt: 1,
            };
            self.queue.send(vec![job]).await?;
        }
        Ok(())
    }

    /// Delivers the rows again (after a failure, or to a fixed receiver).
    pub async fn redeliver(&self, tenant: &TenantId, id: &ImportId) -> Result<Import, AppError> {
        let (import, changed) = self
            .update_import(tenant, id, |i| {
                if i.status != ImportStatus::Successful || i.destination.is_none() {
                    return false;
                }
                let round = i.delivery.as_ref().map_or(1, |d| d.round + 1);
                i.delivery = Some(Delivery {
                    state: DeliveryState::Pending,
                    round,
                    batch_count: 0,
                    batches_sent: 0,
                    error: None,
                });
                true
            })
            .await?;
        if !changed {
            return Err(AppError::Conflict(format!(
                "import {id} has nothing to deliver: it is {} {}",
                import.status.as_str(),
                if import.destination.is_none() { "with no destination" } else { "" }
            )));
        }
        self.start_delivery(&import).await?;
        Ok(import)
    }

    /// The delivery log of an import.
    pub async fn delivery_log(&self, tenant: &TenantId, id: &ImportId) -> Result<Vec<DeliveryAttempt>, AppError> {
        self.get_import(tenant, id).await?;
        Ok(self.items.attempts(tenant, id).await?)
    }

    /// Sends one batch (or the completion event) and chains the next, or schedules a retry.
    pub async fn deliver(
        &self,
        tenant: &TenantId,
        id: &ImportId,
        round: u32,
        batch: u32,
        attempt: u32,
    ) -> Result<(), AppError> {
        let import = self.get_import(tenant, id).await?;
        let Some(delivery) = import.delivery.clone() else { return Ok(()) };
        if delivery.round != round
            || matches!(delivery.state, DeliveryState::Delivered | DeliveryState::Failed)
            || delivery.batches_sent != batch
        {
            return Ok(());
        }
        let Some(key) = import.destination.clone() else { return Ok(()) };
        let Some((destination, _)) = self.items.destination(tenant, &import.environment, &key).await? else {
            return self.delivery_failed(&import, round, format!("destination {key:?} no longer exists")).await;
        };
        if let Some(why) = &destination.disabled {
            return self.delivery_failed(&import, round, format!("destination {key:?} is disabled: {why}")).await;
        }
        let results =
            import.results.clone().ok_or_else(|| AppError::Internal(format!("import {id} has no results")))?;
        // Batches are cut once, from the rows file.
        let batches_key = keys::result(tenant, id, "batches.json");
        let batches: Vec<(u64, u64)> = match self.blobs.get(&batches_key).await {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| AppError::Internal(format!("batches of {id}: {e}")))?,
            Err(e) if e.is_not_found() => {
                let size = match self.blobs.head(&results.rows_key).await? {
                    Some(meta) => meta.size,
                    None => return Err(AppError::Internal(format!("the rows of {id} are missing"))),
                };
                let mut cutter = BatchCutter::new(self.delivery.batch_rows, self.delivery.batch_bytes);
                let mut at = 0;
                while at < size {
                    let end = (at + CUT_WINDOW).min(size);
                    cutter.feed(at, &self.blobs.get_range(&results.rows_key, at..end).await?);
                    at = end;
                }
                let ranges = cutter.finish(size);
                let body = serde_json::to_vec(&ranges).map_err(|e| AppError::Internal(e.to_string()))?;
                self.blobs.put(&batches_key, body.into()).await?;
                ranges
            }
            Err(e) => return Err(e.into()),
        };
        let count = batches.len() as u32;
        let (kind, msg_id, body) = if batch < count {
            let (start, end) = batches[batch as usize];
            let rows = self.blobs.get_range(&results.rows_key, start..end).await?;
            let mut body = format!(
                "{{\"type\":\"import.rows\",\"import_id\":\"{id}\",\"batch_index\":{batch},\"batch_count\":{count},\"rows\":["
            )
            .into_bytes();
            for (i, row) in rows.split(|b| *b == b'\n').filter(|r| !r.is_empty()).enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(row);
            }
            body.extend_from_slice(b"]}");
            ("batch", format!("msg_{id}_{batch}"), body)
        } else {
            let event = serde_json::json!({
                "type": "import.completed",
                "import_id": id,
                "status": import.status,
                "import_identifier": import.import_identifier,
                "template": import.template,
                "counts": import.counts,
                "rows_delivered": results.row_count,
                "batch_count": count,
            });
            ("import.completed", format!("msg_{id}_completed"), serde_json::to_vec(&event).unwrap_or_default())
        };
        let now = self.clock.now();
        let secrets = destination.active_secrets(now);
        let headers = webhook::headers(&secrets, &msg_id, now.as_second(), &body).map_err(AppError::Internal)?;
        let response =
            self.webhooks.send(WebhookRequest { url: destination.url.clone(), headers, body: Bytes::from(body) }).await;
        let (status_code, error) = match &response {
            WebhookResponse::Status { code, .. } => (Some(*code), None),
            WebhookResponse::Unreachable(e) | WebhookResponse::Forbidden(e) => (None, Some(e.clone())),
        };
        let logged = DeliveryAttempt {
            round,
            kind: kind.into(),
            batch,
            attempt,
            at: now,
            status_code,
            error: error.clone(),
            webhook_id: msg_id.clone(),
        };
        self.items.put_attempt(tenant, id, &logged).await?;
        tracing::info!(import_id = %id, batch, attempt, status = ?status_code, error = ?error, "webhook sent");
        match response {
            WebhookResponse::Status { code, .. } if (200..300).contains(&code) => {
                let done = batch >= count;
                let (_, changed) = self
                    .update_import(tenant, id, |i| {
                        let Some(d) = i.delivery.as_mut() else { return false };
                        if d.round != round || d.batches_sent != batch {
                            return false;
                        }
                        d.batch_count = count;
                        d.batches_sent = batch + 1;
                        d.state = if done { DeliveryState::Delivered } else { DeliveryState::Delivering };
                        true
                    })
                    .await?;
                if changed && !done {
                    let next = Job::Deliver {
                        tenant: tenant.clone(),
                        import: id.clone(),
                        round,
                        batch: batch + 1,
                        attempt: 1,
                    };
                    self.queue.send(vec![next]).await?;
                }
                Ok(())
            }
            WebhookResponse::Status { code: 410, .. } => {
                let why = format!("the receiver answered 410 Gone at {now}");
                self.disable_destination(tenant, &import.environment, &key, why.clone()).await?;
                self.delivery_failed(&import, round, format!("destination {key:?} disabled: {why}")).await
            }
            WebhookResponse::Forbidden(why) => self.delivery_failed(&import, round, why).await,
            other => {
                let Some(base) = self.delivery.retries.get(attempt as usize - 1).copied() else {
                    let last = match other {
                        WebhookResponse::Status { code, .. } => format!("status {code}"),
                        WebhookResponse::Unreachable(e) | WebhookResponse::Forbidden(e) => e,
                    };
                    return self
                        .delivery_failed(&import, round, format!("gave up after {attempt} attempts; last: {last}"))
                        .await;
                };
                let retry_after = match other {
                    WebhookResponse::Status { retry_after: Some(s), .. } => Duration::from_secs(s),
                    _ => Duration::ZERO,
                };
                let delay = jitter(base).max(retry_after);
                let next =
                    Job::Deliver { tenant: tenant.clone(), import: id.clone(), round, batch, attempt: attempt + 1 };
                self.queue.send_after(next, delay).await?;
                Ok(())
            }
        }
    }

    pub(crate) async fn delivery_failed(&self, import: &Import, round: u32, why: String) -> Result<(), AppError> {
        tracing::warn!(import_id = %import.id, reason = why.as_str(), "delivery failed");
        self.update_import(&import.tenant, &import.id, |i| {
            let Some(d) = i.delivery.as_mut() else { return false };
            if d.round != round {
                return false;
            }
            d.state = DeliveryState::Failed;
            d.error = Some(why.clone());
            true
        })
        .await?;
        Ok(())
    }
}

/// A delay between 80% and 120% of `base`, so many failing deliveries do not retry in step.
fn jitter(base: Duration) -> Duration {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    base.mul_f64(0.8 + 0.4 * f64::from(byte[0]) / 255.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(rows: &[u8], batch_rows: usize, batch_bytes: usize, window: usize) -> Vec<(u64, u64)> {
        let mut cutter = BatchCutter::new(batch_rows, batch_bytes);
        for (i, w) in rows.chunks(window).enumerate() {
            cutter.feed((i * window) as u64, w);
        }
        cutter.finish(rows.len() as u64)
    }

    #[test]
    fn batches_close_at_the_row_count_or_the_byte_cap() {
        let rows = b"a\nbb\nccc\ndddd\n";
        assert_eq!(cut(rows, 2, 1000, 100), vec![(0, 5), (5, 14)]);
        assert_eq!(cut(rows, 100, 6, 100), vec![(0, 9), (9, 14)]);
        assert_eq!(cut(b"", 2, 10, 100), Vec::<(u64, u64)>::new());
        assert_eq!(cut(b"a\nbb", 1, 10, 100), vec![(0, 2), (2, 4)]);
    }

    #[test]
    fn batches_do_not_depend_on_the_windows_the_file_is_read_in() {
        let rows: Vec<u8> = (0..500)
            .flat_map(|i| format!("{{\"line\":{i},\"v\":\"{}\"}}\n", "x".repeat(i % 37)).into_bytes())
            .collect();
        for (batch_rows, batch_bytes) in [(1, 1), (7, 1 << 20), (1000, 300), (13, 555)] {
            let whole = cut(&rows, batch_rows, batch_bytes, rows.len());
            assert_eq!(whole.first().map(|r| r.0), Some(0));
            assert_eq!(whole.last().map(|r| r.1), Some(rows.len() as u64));
            for window in [1, 2, 3, 64, 1000, 4096] {
                assert_eq!(cut(&rows, batch_rows, batch_bytes, window), whole, "{batch_rows} {batch_bytes} {window}");
            }
        }
    }
}
