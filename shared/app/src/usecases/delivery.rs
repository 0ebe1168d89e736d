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

/// Byte ranges of `rows.jsonl` that make the batches.
fn batch_ranges(rows: &[u8], batch_rows: usize, batch_bytes: usize) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let (mut start, mut count) = (0usize, 0usize);
    for end in memchr::memchr_iter(b'\n', rows) {
        count += 1;
        if count >= batch_rows || end + 1 - start >= batch_bytes {
            out.push((start as u64, end as u64 + 1));
            start = end + 1;
            count = 0;
        }
    }
    if start < rows.len() {
        out.push((start as u64, rows.len() as u64));
    }
    out
}

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
                let rows = self.blobs.get(&results.rows_key).await?;
                let ranges = batch_ranges(&rows, self.delivery.batch_rows.max(1), self.delivery.batch_bytes.max(1));
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

    #[test]
    fn batches_close_at_the_row_count_or_the_byte_cap() {
        let rows = b"a\nbb\nccc\ndddd\n";
        assert_eq!(batch_ranges(rows, 2, 1000), vec![(0, 5), (5, 14)]);
        assert_eq!(batch_ranges(rows, 100, 6), vec![(0, 9), (9, 14)]);
        assert_eq!(batch_ranges(b"", 2, 10), Vec::<(u64, u64)>::new());
    }
}
