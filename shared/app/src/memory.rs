//! In-memory adapters: the reference behaviour of every port, for tests and examples.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use jiff::Timestamp;
use sluice_core::Counts;
use sluice_core::ImportStatus;

use crate::model::{Import, ImportFilter, ImportId, Job, TenantId};
use crate::ports::{
    BlobMeta, BlobStore, BlobWriter, ChunkCompletion, Clock, Condition, ImportRepo, Item, ItemStore, JobQueue,
    RowHashIndex, Segment, StoreError, StoreErrorKind, SystemClock, WebhookRequest, WebhookResponse, WebhookSender,
};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Objects in a map; clones share the same objects.
#[derive(Debug, Default, Clone)]
pub struct MemoryBlobStore {
    inner: Arc<BlobsInner>,
}

#[derive(Debug, Default)]
struct BlobsInner {
    objects: Mutex<BTreeMap<String, (Bytes, u64)>>,
    versions: AtomicU64,
}

impl BlobsInner {
    fn store(&self, key: &str, body: Bytes) {
        let version = self.versions.fetch_add(1, Ordering::Relaxed) + 1;
        lock(&self.objects).insert(key.to_string(), (body, version));
    }
}

impl MemoryBlobStore {
    /// Keys stored, sorted.
    pub fn keys(&self) -> Vec<String> {
        lock(&self.inner.objects).keys().cloned().collect()
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
        self.inner.store(key, body);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        lock(&self.inner.objects).get(key).map(|(b, _)| b.clone()).ok_or_else(|| StoreError::not_found(key))
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        let body = self.get(key).await?;
        let end = (range.end as usize).min(body.len());
        let start = (range.start as usize).min(end);
        Ok(body.slice(start..end))
    }

    async fn head(&self, key: &str) -> Result<Option<BlobMeta>, StoreError> {
        Ok(lock(&self.inner.objects).get(key).map(|(b, v)| BlobMeta { size: b.len() as u64, etag: format!("v{v}") }))
    }

    async fn writer(&self, key: &str) -> Result<Box<dyn BlobWriter>, StoreError> {
        Ok(Box::new(MemoryWriter { inner: self.inner.clone(), key: key.to_string(), buf: BytesMut::new() }))
    }

    async fn download_to(&self, key: &str, path: &Path) -> Result<(), StoreError> {
        let body = self.get(key).await?;
        std::fs::write(path, &body)
            .map_err(|e| StoreError::with_source(StoreErrorKind::Transient, "write local copy", e))
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<(), StoreError> {
        lock(&self.inner.objects).retain(|k, _| !k.starts_with(prefix));
        Ok(())
    }
}

/// Buffers a streamed write; the object appears at `finish`.
struct MemoryWriter {
    inner: Arc<BlobsInner>,
    key: String,
    buf: BytesMut,
}

#[async_trait]
impl BlobWriter for MemoryWriter {
    async fn write(&mut self, data: Bytes) -> Result<(), StoreError> {
        self.buf.extend_from_slice(&data);
        Ok(())
    }

    async fn append_object(&mut self, key: &str) -> Result<(), StoreError> {
        self.append_segments(key, vec![Segment::Range(0..u64::MAX)]).await
    }

    async fn append_segments(&mut self, key: &str, segments: Vec<Segment>) -> Result<(), StoreError> {
        let body = lock(&self.inner.objects).get(key).map(|(b, _)| b.clone());
        for segment in segments {
            match segment {
                Segment::Range(range) => {
                    let body = body.as_ref().ok_or_else(|| StoreError::not_found(key))?;
                    let end = (range.end as usize).min(body.len());
                    self.buf.extend_from_slice(&body[(range.start as usize).min(end)..end]);
                }
                Segment::Bytes(bytes) => self.buf.extend_from_slice(&bytes),
            }
        }
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<u64, StoreError> {
        let len = self.buf.len() as u64;
        self.inner.store(&self.key, self.buf.freeze());
        Ok(len)
    }
}

/// Import records in a map, with chunk markers, transactional under one lock.
#[derive(Debug, Default)]
pub struct MemoryImportRepo {
    state: Mutex<RepoState>,
}

#[derive(Debug, Default)]
struct RepoState {
    imports: HashMap<(TenantId, ImportId), Import>,
    markers: HashSet<(ImportId, u32, u32)>,
}

#[async_trait]
impl ImportRepo for MemoryImportRepo {
    async fn insert(&self, import: &Import) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        let key = (import.tenant.clone(), import.id.clone());
        if s.imports.contains_key(&key) {
            return Err(StoreError::new(StoreErrorKind::Conflict, format!("import {} exists", import.id)));
        }
        s.imports.insert(key, import.clone());
        Ok(())
    }

    async fn get(&self, tenant: &TenantId, id: &ImportId) -> Result<Option<Import>, StoreError> {
        Ok(lock(&self.state).imports.get(&(tenant.clone(), id.clone())).cloned())
    }

    async fn save(&self, import: &Import) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        let key = (import.tenant.clone(), import.id.clone());
        match s.imports.get(&key) {
            Some(current) if current.version + 1 == import.version => {
                s.imports.insert(key, import.clone());
                Ok(())
            }
            Some(_) => Err(StoreError::new(StoreErrorKind::Conflict, format!("import {} changed", import.id))),
            None => Err(StoreError::not_found(format!("import {}", import.id))),
        }
    }

    async fn list(
        &self,
        tenant: &TenantId,
        filter: &ImportFilter,
        after: Option<&ImportId>,
        limit: usize,
    ) -> Result<Vec<Import>, StoreError> {
        let s = lock(&self.state);
        let mut all: Vec<&Import> = s.imports.values().filter(|i| &i.tenant == tenant && filter.matches(i)).collect();
        all.sort_by(|a, b| b.id.cmp(&a.id));
        Ok(all.into_iter().filter(|i| after.is_none_or(|a| &i.id < a)).take(limit).cloned().collect())
    }

    async fn complete_chunk(
        &self,
        tenant: &TenantId,
        id: &ImportId,
        generation: u32,
        chunk: u32,
        counts: Counts,
        at: Timestamp,
    ) -> Result<ChunkCompletion, StoreError> {
        let mut s = lock(&self.state);
        let key = (tenant.clone(), id.clone());
        let marker = (id.clone(), generation, chunk);
        let already = s.markers.contains(&marker);
        let import = s.imports.get_mut(&key).ok_or_else(|| StoreError::not_found(format!("import {id}")))?;
        let total = import.chunks.total.unwrap_or(0);
        if already || import.generation != generation || import.status != ImportStatus::Running {
            return Ok(ChunkCompletion { newly_counted: false, done: import.chunks.done, total, last: false });
        }
        import.counts += counts;
        import.chunks.done += 1;
        import.last_heartbeat_at = Some(at);
        import.version += 1;
        let done = import.chunks.done;
        s.markers.insert(marker);
        Ok(ChunkCompletion { newly_counted: true, done, total, last: total > 0 && done == total })
    }
}

/// Row hashes in a map.
#[derive(Debug, Default)]
pub struct MemoryRowHashIndex {
    owners: Mutex<HashMap<(String, u128), ImportId>>,
}

#[async_trait]
impl RowHashIndex for MemoryRowHashIndex {
    async fn owned_by_others(
        &self,
        scope: &str,
        hashes: &[u128],
        import: &ImportId,
    ) -> Result<Vec<(u128, ImportId)>, StoreError> {
        let owners = lock(&self.owners);
        Ok(hashes
            .iter()
            .filter_map(|h| owners.get(&(scope.to_string(), *h)).filter(|o| *o != import).map(|o| (*h, o.clone())))
            .collect())
    }

    async fn register(&self, scope: &str, hashes: &[u128], import: &ImportId) -> Result<(), StoreError> {
        let mut owners = lock(&self.owners);
        for h in hashes {
            owners.entry((scope.to_string(), *h)).or_insert_with(|| import.clone());
        }
        Ok(())
    }
}

/// A queue that only collects jobs; the test decides when, in which order and how often to run them.
#[derive(Debug, Default)]
pub struct CollectingQueue {
    jobs: Mutex<Vec<Job>>,
    delays: Mutex<Vec<std::time::Duration>>,
}

impl CollectingQueue {
    /// The delays asked of `send_after` so far, in order.
    pub fn delays(&self) -> Vec<std::time::Duration> {
        lock(&self.delays).clone()
    }

    /// Takes every job sent so far.
    pub fn take(&self) -> Vec<Job> {
        std::mem::take(&mut *lock(&self.jobs))
    }
}

#[async_trait]
impl JobQueue for CollectingQueue {
    async fn send(&self, jobs: Vec<Job>) -> Result<(), StoreError> {
        lock(&self.jobs).extend(jobs);
        Ok(())
    }

    async fn send_after(&self, job: Job, delay: std::time::Duration) -> Result<(), StoreError> {
        lock(&self.delays).push(delay);
        lock(&self.jobs).push(job);
        Ok(())
    }
}

/// A clock that stands still unless moved.
#[derive(Debug)]
pub struct FixedClock(pub Mutex<Timestamp>);

impl FixedClock {
    /// A clock at `at`.
    pub fn at(at: Timestamp) -> FixedClock {
        FixedClock(Mutex::new(at))
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        *lock(&self.0)
    }
}

/// A stored item: body, version, expiry (Unix seconds).
type StoredItem = (Bytes, u64, Option<i64>);

/// Items in a sorted map, conditional writes under one lock. Items expire by `clock` (the
/// system clock by default), so an app on a fixed clock sees its records expire when that clock
/// says, not when the wall clock does.
pub struct MemoryItemStore {
    items: Mutex<BTreeMap<(String, String), StoredItem>>,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryItemStore {
    fn default() -> Self {
        MemoryItemStore::with_clock(Arc::new(SystemClock))
    }
}

impl MemoryItemStore {
    /// An empty store whose items expire by `clock`.
    pub fn with_clock(clock: Arc<dyn Clock>) -> MemoryItemStore {
        MemoryItemStore { items: Mutex::default(), clock }
    }
}

#[async_trait]
impl ItemStore for MemoryItemStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let now = self.clock.now().as_second();
        Ok(lock(&self.items)
            .get(&(pk.to_string(), sk.to_string()))
            .filter(|(_, _, exp)| exp.is_none_or(|e| e > now))
            .map(|(v, version, _)| Item { value: v.clone(), version: *version }))
    }

    async fn put(
        &self,
        pk: &str,
        sk: &str,
        value: Bytes,
        condition: Condition,
        expires_at: Option<i64>,
    ) -> Result<u64, StoreError> {
        let mut items = lock(&self.items);
        let key = (pk.to_string(), sk.to_string());
        let now = self.clock.now().as_second();
        let current = items.get(&key).filter(|(_, _, exp)| exp.is_none_or(|e| e > now)).map(|(_, v, _)| *v);
        let ok = match condition {
            Condition::None => true,
            Condition::Absent => current.is_none(),
            Condition::Version(v) => current == Some(v),
        };
        if !ok {
            return Err(StoreError::new(StoreErrorKind::Conflict, format!("{pk}/{sk} changed")));
        }
        let version = current.unwrap_or(0) + 1;
        items.insert(key, (value, version, expires_at));
        Ok(version)
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        let mut items = lock(&self.items);
        let key = (pk.to_string(), sk.to_string());
        let current = items.get(&key).map(|(_, v, _)| *v);
        match (condition, current) {
            (Condition::Version(v), Some(c)) if v != c => {
                return Err(StoreError::new(StoreErrorKind::Conflict, format!("{pk}/{sk} changed")));
            }
            (Condition::Absent, Some(_)) => {
                return Err(StoreError::new(StoreErrorKind::Conflict, format!("{pk}/{sk} exists")));
            }
            _ => {}
        }
        items.remove(&key);
        Ok(())
    }

    async fn query(
        &self,
        pk: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<Vec<(String, Item)>, StoreError> {
        let items = lock(&self.items);
        let now = self.clock.now().as_second();
        let mut out: Vec<(String, Item)> = items
            .iter()
            .filter(|((p, s), (_, _, exp))| p == pk && s.starts_with(prefix) && exp.is_none_or(|e| e > now))
            .map(|((_, s), (v, version, _))| (s.clone(), Item { value: v.clone(), version: *version }))
            .collect();
        if descending {
            out.reverse();
        }
        let out = out
            .into_iter()
            .filter(|(s, _)| after.is_none_or(|a| if descending { s.as_str() < a } else { s.as_str() > a }))
            .take(limit)
            .collect();
        Ok(out)
    }
}

/// Webhooks recorded instead of sent; answers are scripted.
#[derive(Debug, Default)]
pub struct RecordingWebhooks {
    /// Requests, in order.
    pub sent: Mutex<Vec<WebhookRequest>>,
    /// Answers to give, in order (then 200).
    pub answers: Mutex<std::collections::VecDeque<WebhookResponse>>,
}

#[async_trait]
impl WebhookSender for RecordingWebhooks {
    async fn send(&self, request: WebhookRequest) -> WebhookResponse {
        lock(&self.sent).push(request);
        lock(&self.answers).pop_front().unwrap_or(WebhookResponse::Status { code: 200, retry_after: None })
    }

    async fn check_url(&self, url: &str) -> Result<(), String> {
        if url.starts_with("http://") || url.starts_with("https://") {
            Ok(())
        } else {
            Err("not an http(s) URL".into())
        }
    }
}
