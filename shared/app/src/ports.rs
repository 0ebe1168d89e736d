//! The ports: narrow capability traits the use cases need, implemented by adapters.
//!
//! Adapters sort their failures at the edge into [`StoreErrorKind`]: transient failures are
//! retried (the queue redelivers), conflicts mean another writer won, not-found is an answer,
//! and permanent failures are reported and not retried.

use std::ops::Range;
use std::path::Path;

use async_trait::async_trait;
use bytes::Bytes;
use jiff::Timestamp;
use sluice_core::Counts;

use crate::model::{Import, ImportFilter, ImportId, Job, TenantId};

/// How a store failure should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// Try again later.
    Transient,
    /// A condition failed: someone else changed the item first.
    Conflict,
    /// The item does not exist.
    NotFound,
    /// Retrying will not help.
    Permanent,
}

/// A failure of an adapter.
#[derive(Debug, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct StoreError {
    /// How to handle it.
    pub kind: StoreErrorKind,
    /// What happened.
    pub message: String,
    /// The underlying error.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// A failure of the given kind.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> StoreError {
        StoreError { kind, message: message.into(), source: None }
    }

    /// A failure with its cause.
    pub fn with_source(
        kind: StoreErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError { kind, message: message.into(), source: Some(Box::new(source)) }
    }

    /// A missing item.
    pub fn not_found(what: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::NotFound, what)
    }

    /// Whether this is a not-found answer.
    pub fn is_not_found(&self) -> bool {
        self.kind == StoreErrorKind::NotFound
    }
}

/// Size and version of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    /// Size in bytes.
    pub size: u64,
    /// Entity tag: changes whenever the content does.
    pub etag: String,
}

/// Objects by key: uploads, chunk outputs, results.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores a whole object, replacing any previous one.
    async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError>;
    /// Stores an object given as parts in order (a chunk's output and its sections). The
    /// default joins them; a store that can write them one after another does.
    async fn put_parts(&self, key: &str, parts: Vec<Bytes>) -> Result<(), StoreError> {
        let mut body = bytes::BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
        for part in parts {
            body.extend_from_slice(&part);
        }
        self.put(key, body.freeze()).await
    }
    /// Reads a whole (small) object.
    async fn get(&self, key: &str) -> Result<Bytes, StoreError>;
    /// Reads a byte range.
    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError>;
    /// Reads several byte ranges of one object.
    async fn get_ranges(&self, key: &str, ranges: &[Range<u64>]) -> Result<Vec<Bytes>, StoreError> {
        let mut out = Vec::with_capacity(ranges.len());
        for r in ranges {
            out.push(self.get_range(key, r.clone()).await?);
        }
        Ok(out)
    }
    /// Size and etag, or `None` when absent.
    async fn head(&self, key: &str) -> Result<Option<BlobMeta>, StoreError>;
    /// Starts a streamed write; the object appears whole at `finish` or not at all.
    async fn writer(&self, key: &str) -> Result<Box<dyn BlobWriter>, StoreError>;
    /// Copies an object into a local file (workbooks need random access).
    async fn download_to(&self, key: &str, path: &Path) -> Result<(), StoreError>;
    /// Deletes every object under a prefix.
    async fn delete_prefix(&self, prefix: &str) -> Result<(), StoreError>;
}

/// A piece of a streamed write: a range of a stored object, or new bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Bytes of the stored object named in the call.
    Range(Range<u64>),
    /// New bytes.
    Bytes(Bytes),
}

/// A streamed object write.
#[async_trait]
pub trait BlobWriter: Send {
    /// Appends bytes.
    async fn write(&mut self, data: Bytes) -> Result<(), StoreError>;
    /// Appends a whole stored object without passing it through memory where the store can
    /// (S3: a part copy; files: a kernel-side copy).
    async fn append_object(&mut self, key: &str) -> Result<(), StoreError>;
    /// Appends pieces in order: byte ranges of a stored object (copied as
    /// [`BlobWriter::append_object`] does) and new bytes.
    async fn append_segments(&mut self, key: &str, segments: Vec<Segment>) -> Result<(), StoreError>;
    /// Completes the object; returns its size.
    async fn finish(self: Box<Self>) -> Result<u64, StoreError>;
}

/// The result of recording a processed chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkCompletion {
    /// Whether this call counted the chunk (false for a redelivered one).
    pub newly_counted: bool,
    /// Chunks done after this call.
    pub done: u32,
    /// Chunks planned.
    pub total: u32,
    /// This call counted the last chunk: it, and no concurrent call, queues the finalize.
    pub last: bool,
}

/// Import records.
#[async_trait]
pub trait ImportRepo: Send + Sync + 'static {
    /// Stores a new import; `Conflict` when the id exists.
    async fn insert(&self, import: &Import) -> Result<(), StoreError>;
    /// Reads an import of a tenant.
    async fn get(&self, tenant: &TenantId, id: &ImportId) -> Result<Option<Import>, StoreError>;
    /// Replaces an import if its stored version is `import.version - 1`; `Conflict` otherwise.
    async fn save(&self, import: &Import) -> Result<(), StoreError>;
    /// A page of a tenant's imports, newest first, after the import `after` when given.
    async fn list(
        &self,
        tenant: &TenantId,
        filter: &ImportFilter,
        after: Option<&ImportId>,
        limit: usize,
    ) -> Result<Vec<Import>, StoreError>;
    /// Records chunk `chunk` of `generation` as done, adding its counts, exactly once: the chunk
    /// marker and the counters change in one transaction, so a redelivered chunk is not counted
    /// twice. A chunk of a stale generation, or of an import no longer running, is not counted.
    async fn complete_chunk(
        &self,
        tenant: &TenantId,
        id: &ImportId,
        generation: u32,
        chunk: u32,
        counts: Counts,
        at: Timestamp,
    ) -> Result<ChunkCompletion, StoreError>;
}

/// Hashes of rows delivered by earlier imports (`dedupe: across_imports`).
#[async_trait]
pub trait RowHashIndex: Send + Sync + 'static {
    /// Which of `hashes` were registered in `scope` by an import other than `import`, and by which.
    async fn owned_by_others(
        &self,
        scope: &str,
        hashes: &[u128],
        import: &ImportId,
    ) -> Result<Vec<(u128, ImportId)>, StoreError>;
    /// Registers `hashes` for `import` where no owner exists yet (idempotent).
    async fn register(&self, scope: &str, hashes: &[u128], import: &ImportId) -> Result<(), StoreError>;
}

/// The work queue (at-least-once: a job may arrive twice).
#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// Enqueues jobs.
    async fn send(&self, jobs: Vec<Job>) -> Result<(), StoreError>;
    /// Enqueues a job to run no sooner than `delay` from now (webhook retries).
    async fn send_after(&self, job: Job, delay: std::time::Duration) -> Result<(), StoreError>;
}

/// A stored item: a JSON document and the version that conditional writes compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The document.
    pub value: Bytes,
    /// Bumped by every write.
    pub version: u64,
}

/// When a write may happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Always.
    None,
    /// Only if the item does not exist.
    Absent,
    /// Only if the item has this version.
    Version(u64),
}

/// Items by partition and sort key: templates, destinations, API keys, idempotency records,
/// delivery attempts. The single-table layout of the design card (`PK = TENANT#{tenant}`).
#[async_trait]
pub trait ItemStore: Send + Sync + 'static {
    /// Reads an item (an expired one reads as absent).
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError>;
    /// Writes an item if `condition` holds (`Conflict` otherwise); returns its new version.
    /// `expires_at` (Unix seconds) lets the store drop it later (a DynamoDB TTL).
    async fn put(
        &self,
        pk: &str,
        sk: &str,
        value: Bytes,
        condition: Condition,
        expires_at: Option<i64>,
    ) -> Result<u64, StoreError>;
    /// Deletes an item if `condition` holds.
    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError>;
    /// Items whose sort key starts with `prefix`, in sort-key order (or reversed), after the
    /// sort key `after` when given, at most `limit`.
    async fn query(
        &self,
        pk: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<Vec<(String, Item)>, StoreError>;
}

/// A webhook request as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    /// Destination URL.
    pub url: String,
    /// Headers (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`).
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: Bytes,
}

/// What the receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookResponse {
    /// An HTTP status, with `Retry-After` seconds when given.
    Status {
        /// The status code.
        code: u16,
        /// `Retry-After`, in seconds.
        retry_after: Option<u64>,
    },
    /// No answer: connection refused, timeout, TLS failure.
    Unreachable(String),
    /// Refused before sending: the URL resolves to a private, loopback, link-local or metadata address.
    Forbidden(String),
}

/// Sends webhooks (15 s timeout, no redirects, addresses checked at send time).
#[async_trait]
pub trait WebhookSender: Send + Sync + 'static {
    /// Sends one request.
    async fn send(&self, request: WebhookRequest) -> WebhookResponse;
    /// Checks a destination URL at registration: `Err` with the reason when it is refused.
    async fn check_url(&self, url: &str) -> Result<(), String>;
}

/// Time.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Live progress for a watching person (the CLI's bars); runtimes without one use [`NoProgress`].
pub trait ProgressSink: Send + Sync + 'static {
    /// Bytes of the upload read by the splitter.
    fn split_progress(&self, import: &ImportId, read: u64, total: u64);
}

/// Progress reported nowhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn split_progress(&self, _import: &ImportId, _read: u64, _total: u64) {}
}

/// Where and how to upload a file: an S3 presigned PUT, or the local server's stand-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadTarget {
    /// URL to send the file to.
    pub url: String,
    /// HTTP method (`PUT`).
    pub method: String,
    /// Headers the upload must carry.
    pub headers: Vec<(String, String)>,
    /// When the URL stops working.
    pub expires_at: Timestamp,
}

/// Hands out upload URLs for an import's upload key.
#[async_trait]
pub trait UploadUrls: Send + Sync + 'static {
    /// A URL that accepts one upload to `key`, of exactly `size` bytes when declared (at most
    /// `max_bytes` otherwise), until `expires_at`.
    async fn upload_url(
        &self,
        tenant: &TenantId,
        import: &ImportId,
        key: &str,
        size: Option<u64>,
        max_bytes: u64,
        expires_at: Timestamp,
    ) -> Result<UploadTarget, StoreError>;
}
