//! An in-process job queue with at-least-once delivery, as SQS behaves.
//!
//! A received job stays in flight until acknowledged; if its visibility timeout passes first
//! (a worker died, or is too slow), it is delivered again. Failed jobs are retried with a delay
//! and, after too many attempts, moved to a dead-letter list.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use sluice_app::model::Job;
use sluice_app::ports::{JobQueue, StoreError};
use tokio::sync::Notify;
use tokio::time::Instant;

/// A received job.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Receipt for `ack` and `retry`.
    pub id: u64,
    /// The job.
    pub job: Job,
    /// Delivery attempt, from 1.
    pub attempt: u32,
}

#[derive(Debug)]
struct Envelope {
    id: u64,
    job: Job,
    attempts: u32,
    not_before: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    ready: VecDeque<Envelope>,
    in_flight: HashMap<u64, (Envelope, Instant)>,
    dead: Vec<(Job, String)>,
    next_id: u64,
    closed: bool,
}

/// The queue.
#[derive(Debug)]
pub struct LocalQueue {
    state: Mutex<State>,
    notify: Notify,
    visibility: Duration,
    max_attempts: u32,
}

impl LocalQueue {
    /// A queue whose deliveries become visible again after `visibility`, and that gives up on a
    /// job after `max_attempts`.
    pub fn new(visibility: Duration, max_attempts: u32) -> LocalQueue {
        LocalQueue { state: Mutex::default(), notify: Notify::new(), visibility, max_attempts }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the next job; `None` once the queue is closed and empty.
    pub async fn receive(&self) -> Option<Delivery> {
        loop {
            // Registered before the state is read, so a `send` between the read and the wait
            // still wakes this worker (`notify_waiters` only wakes registered waiters).
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wait = {
                let mut s = self.state();
                let now = Instant::now();
                // Deliveries whose visibility timed out go back to the queue.
                let expired: Vec<u64> =
                    s.in_flight.iter().filter(|(_, (_, until))| *until <= now).map(|(id, _)| *id).collect();
                for id in expired {
                    if let Some((env, _)) = s.in_flight.remove(&id) {
                        tracing::warn!(import_id = %env.job.import(), attempt = env.attempts, "delivery timed out; redelivering");
                        s.ready.push_back(env);
                    }
                }
                if let Some(pos) = s.ready.iter().position(|e| e.not_before.is_none_or(|t| t <= now)) {
                    let mut env = s.ready.remove(pos)?;
                    env.attempts += 1;
                    let delivery = Delivery { id: env.id, job: env.job.clone(), attempt: env.attempts };
                    let until = now + self.visibility;
                    s.in_flight.insert(env.id, (env, until));
                    return Some(delivery);
                }
                if s.closed && s.ready.is_empty() && s.in_flight.is_empty() {
                    return None;
                }
                let next_ready = s.ready.iter().filter_map(|e| e.not_before).min();
                let next_expiry = s.in_flight.values().map(|(_, until)| *until).min();
                [next_ready, next_expiry].into_iter().flatten().min().map(|t| t.saturating_duration_since(now))
            };
            let wait = wait.unwrap_or(Duration::from_millis(200)).min(Duration::from_millis(200));
            let _ = tokio::time::timeout(wait, notified).await;
        }
    }

    /// Acknowledges a delivery: the job is done.
    pub fn ack(&self, id: u64) {
        self.state().in_flight.remove(&id);
        self.notify.notify_waiters();
    }

    /// Puts a failed delivery back after `delay`, or dead-letters it after too many attempts.
    /// Returns `false` when the job was dead-lettered.
    pub fn retry(&self, id: u64, delay: Duration, reason: &str) -> bool {
        let mut s = self.state();
        let Some((mut env, _)) = s.in_flight.remove(&id) else { return true };
        if env.attempts >= self.max_attempts {
            s.dead.push((env.job, reason.to_string()));
            drop(s);
            self.notify.notify_waiters();
            return false;
        }
        env.not_before = Some(Instant::now() + delay);
        s.ready.push_back(env);
        drop(s);
        self.notify.notify_waiters();
        true
    }

    /// Moves a delivery to the dead-letter list at once.
    pub fn dead_letter(&self, id: u64, reason: &str) {
        let mut s = self.state();
        if let Some((env, _)) = s.in_flight.remove(&id) {
            s.dead.push((env.job, reason.to_string()));
        }
        drop(s);
        self.notify.notify_waiters();
    }

    /// Jobs given up on, with the last failure.
    pub fn dead_letters(&self) -> Vec<(Job, String)> {
        self.state().dead.clone()
    }

    /// Whether nothing is queued or in flight.
    pub fn is_idle(&self) -> bool {
        let s = self.state();
        s.ready.is_empty() && s.in_flight.is_empty()
    }

    /// Lets workers stop once the queue is empty.
    pub fn close(&self) {
        self.state().closed = true;
        self.notify.notify_waiters();
    }
}

#[async_trait]
impl JobQueue for LocalQueue {
    async fn send_after(&self, job: Job, delay: Duration) -> Result<(), StoreError> {
        let mut s = self.state();
        s.next_id += 1;
        let id = s.next_id;
        s.ready.push_back(Envelope { id, job, attempts: 0, not_before: Some(Instant::now() + delay) });
        drop(s);
        self.notify.notify_waiters();
        Ok(())
    }

    async fn send(&self, jobs: Vec<Job>) -> Result<(), StoreError> {
        let mut s = self.state();
        for job in jobs {
            s.next_id += 1;
            let id = s.next_id;
            s.ready.push_back(Envelope { id, job, attempts: 0, not_before: None });
        }
        drop(s);
        self.notify.notify_waiters();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_app::model::{ImportId, TenantId};

    fn job() -> Job {
        Job::Finalize { tenant: TenantId::parse("t").unwrap(), import: ImportId::generate(), generation: 1 }
    }

    #[tokio::test(start_paused = true)]
    async fn an_unacknowledged_job_is_delivered_again_after_its_visibility_timeout() {
        let q = LocalQueue::new(Duration::from_secs(30), 5);
        q.send(vec![job()]).await.unwrap();
        let first = q.receive().await.unwrap();
        assert_eq!(first.attempt, 1);
        // Not acknowledged: after the timeout the same job comes back.
        let second = q.receive().await.unwrap();
        assert_eq!((second.id, second.attempt), (first.id, 2));
        q.ack(second.id);
        assert!(q.is_idle());
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_that_keeps_failing_is_dead_lettered() {
        let q = LocalQueue::new(Duration::from_secs(30), 2);
        q.send(vec![job()]).await.unwrap();
        let d = q.receive().await.unwrap();
        assert!(q.retry(d.id, Duration::from_secs(1), "boom"));
        let d = q.receive().await.unwrap();
        assert_eq!(d.attempt, 2);
        assert!(!q.retry(d.id, Duration::from_secs(1), "boom again"));
        assert_eq!(q.dead_letters().len(), 1);
        q.close();
        assert!(q.receive().await.is_none());
    }
}
