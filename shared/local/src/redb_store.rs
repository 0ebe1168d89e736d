//! Import state in redb, an embedded database with ACID transactions.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use jiff::Timestamp;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use sluice_app::model::{Import, ImportFilter, ImportId, TenantId};
use sluice_app::ports::{
    ChunkCompletion, Condition, ImportRepo, Item, ItemStore, RowHashIndex, StoreError, StoreErrorKind,
};
use sluice_core::{Counts, ImportStatus};

/// `tenant/import` → the import as JSON.
const IMPORTS: TableDefinition<&str, &[u8]> = TableDefinition::new("imports");
/// `import/generation/chunk` → nothing: the chunk was counted.
const CHUNK_MARKERS: TableDefinition<&str, ()> = TableDefinition::new("chunk_markers");
/// (scope, row hash) → the import that delivered the row first.
const ROW_HASHES: TableDefinition<(&str, u128), &str> = TableDefinition::new("row_hashes");
/// (partition key, sort key) → version, expiry (Unix seconds, 0 for none), document.
const ITEMS: TableDefinition<(&str, &str), (u64, i64, &[u8])> = TableDefinition::new("items");

/// Import records, chunk markers and row hashes in one redb file.
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
    durable: bool,
}

fn db_error(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::with_source(StoreErrorKind::Transient, "embedded database", e)
}

fn import_key(tenant: &TenantId, id: &ImportId) -> String {
    format!("{tenant}/{id}")
}

async fn run<T: Send + 'static>(f: impl FnOnce() -> Result<T, StoreError> + Send + 'static) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::new(StoreErrorKind::Transient, format!("database task failed: {e}")))?
}

impl RedbStore {
    /// Opens (or creates) the database file. With `durable`, every commit is on disk when it
    /// returns; without, commits are atomic but may be lost in a crash (one-shot CLI imports).
    pub fn open(path: &Path, durable: bool) -> Result<RedbStore, StoreError> {
        let db = Database::create(path).map_err(db_error)?;
        let txn = db.begin_write().map_err(db_error)?;
        {
            txn.open_table(IMPORTS).map_err(db_error)?;
            txn.open_table(CHUNK_MARKERS).map_err(db_error)?;
            txn.open_table(ROW_HASHES).map_err(db_error)?;
            txn.open_table(ITEMS).map_err(db_error)?;
        }
        txn.commit().map_err(db_error)?;
        Ok(RedbStore { db: Arc::new(db), durable })
    }

    fn write(&self) -> Result<redb::WriteTransaction, StoreError> {
        let mut txn = self.db.begin_write().map_err(db_error)?;
        if !self.durable {
            txn.set_durability(Durability::None).map_err(db_error)?;
        }
        Ok(txn)
    }

    /// Every import of a tenant, newest first.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<Import>, StoreError> {
        let store = self.clone();
        let prefix = format!("{tenant}/");
        run(move || {
            let txn = store.db.begin_read().map_err(db_error)?;
            let table = txn.open_table(IMPORTS).map_err(db_error)?;
            let mut out = Vec::new();
            for entry in table.range(prefix.as_str()..).map_err(db_error)? {
                let (k, v) = entry.map_err(db_error)?;
                if !k.value().starts_with(&prefix) {
                    break;
                }
                out.push(decode(v.value())?);
            }
            out.reverse();
            Ok(out)
        })
        .await
    }
    /// Imports of every tenant that were interrupted: running, or with a delivery under way.
    pub async fn unfinished(&self) -> Result<Vec<Import>, StoreError> {
        let store = self.clone();
        run(move || {
            let txn = store.db.begin_read().map_err(db_error)?;
            let table = txn.open_table(IMPORTS).map_err(db_error)?;
            let mut out = Vec::new();
            for entry in table.iter().map_err(db_error)? {
                let (_, v) = entry.map_err(db_error)?;
                let import = decode(v.value())?;
                let delivering = import.delivery.as_ref().is_some_and(|d| {
                    matches!(
                        d.state,
                        sluice_app::model::DeliveryState::Pending | sluice_app::model::DeliveryState::Delivering
                    )
                });
                if import.status == sluice_core::ImportStatus::Running || delivering {
                    out.push(import);
                }
            }
            Ok(out)
        })
        .await
    }
}

fn decode(bytes: &[u8]) -> Result<Import, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::with_source(StoreErrorKind::Permanent, "stored import unreadable", e))
}

fn encode(import: &Import) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(import)
        .map_err(|e| StoreError::with_source(StoreErrorKind::Permanent, "import not serializable", e))
}

#[async_trait]
impl ImportRepo for RedbStore {
    async fn insert(&self, import: &Import) -> Result<(), StoreError> {
        let store = self.clone();
        let key = import_key(&import.tenant, &import.id);
        let bytes = encode(import)?;
        run(move || {
            let txn = store.write()?;
            {
                let mut table = txn.open_table(IMPORTS).map_err(db_error)?;
                if table.get(key.as_str()).map_err(db_error)?.is_some() {
                    return Err(StoreError::new(StoreErrorKind::Conflict, format!("import {key} exists")));
                }
                table.insert(key.as_str(), bytes.as_slice()).map_err(db_error)?;
            }
            txn.commit().map_err(db_error)
        })
        .await
    }

    async fn get(&self, tenant: &TenantId, id: &ImportId) -> Result<Option<Import>, StoreError> {
        let store = self.clone();
        let key = import_key(tenant, id);
        run(move || {
            let txn = store.db.begin_read().map_err(db_error)?;
            let table = txn.open_table(IMPORTS).map_err(db_error)?;
            match table.get(key.as_str()).map_err(db_error)? {
                Some(v) => Ok(Some(decode(v.value())?)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn save(&self, import: &Import) -> Result<(), StoreError> {
        let store = self.clone();
        let key = import_key(&import.tenant, &import.id);
        let bytes = encode(import)?;
        let expected = import.version - 1;
        run(move || {
            let txn = store.write()?;
            {
                let mut table = txn.open_table(IMPORTS).map_err(db_error)?;
                let current = match table.get(key.as_str()).map_err(db_error)? {
                    Some(v) => decode(v.value())?,
                    None => return Err(StoreError::not_found(format!("import {key}"))),
                };
                if current.version != expected {
                    return Err(StoreError::new(StoreErrorKind::Conflict, format!("import {key} changed")));
                }
                table.insert(key.as_str(), bytes.as_slice()).map_err(db_error)?;
            }
            txn.commit().map_err(db_error)
        })
        .await
    }

    async fn list(
        &self,
        tenant: &TenantId,
        filter: &ImportFilter,
        after: Option<&ImportId>,
        limit: usize,
    ) -> Result<Vec<Import>, StoreError> {
        let store = self.clone();
        let prefix = format!("{tenant}/");
        let start = prefix.clone();
        let end = match after {
            Some(a) => format!("{tenant}/{a}"),
            None => format!("{tenant}0"),
        };
        let filter = filter.clone();
        run(move || {
            // Ids are ULIDs: descending key order is newest first.
            let txn = store.db.begin_read().map_err(db_error)?;
            let table = txn.open_table(IMPORTS).map_err(db_error)?;
            let mut out = Vec::new();
            for entry in table.range(start.as_str()..end.as_str()).map_err(db_error)?.rev() {
                let (k, v) = entry.map_err(db_error)?;
                if !k.value().starts_with(&prefix) {
                    break;
                }
                let import = decode(v.value())?;
                if filter.matches(&import) {
                    out.push(import);
                    if out.len() >= limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
        .await
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
        let store = self.clone();
        let key = import_key(tenant, id);
        let marker = format!("{id}/{generation}/{chunk}");
        run(move || {
            // Marker and counters in one transaction: a redelivered chunk finds its marker and
            // changes nothing.
            let txn = store.write()?;
            let completion = {
                let mut imports = txn.open_table(IMPORTS).map_err(db_error)?;
                let mut markers = txn.open_table(CHUNK_MARKERS).map_err(db_error)?;
                let mut import = match imports.get(key.as_str()).map_err(db_error)? {
                    Some(v) => decode(v.value())?,
                    None => return Err(StoreError::not_found(format!("import {key}"))),
                };
                let total = import.chunks.total.unwrap_or(0);
                let counted = markers.get(marker.as_str()).map_err(db_error)?.is_some();
                if counted || import.generation != generation || import.status != ImportStatus::Running {
                    return Ok(ChunkCompletion { newly_counted: false, done: import.chunks.done, total, last: false });
                }
                markers.insert(marker.as_str(), ()).map_err(db_error)?;
                import.counts += counts;
                import.chunks.done += 1;
                import.last_heartbeat_at = Some(at);
                import.version += 1;
                imports.insert(key.as_str(), encode(&import)?.as_slice()).map_err(db_error)?;
                ChunkCompletion {
                    newly_counted: true,
                    done: import.chunks.done,
                    total,
                    last: total > 0 && import.chunks.done == total,
                }
            };
            txn.commit().map_err(db_error)?;
            Ok(completion)
        })
        .await
    }
}

#[async_trait]
impl RowHashIndex for RedbStore {
    async fn owned_by_others(
        &self,
        scope: &str,
        hashes: &[u128],
        import: &ImportId,
    ) -> Result<Vec<(u128, ImportId)>, StoreError> {
        let store = self.clone();
        let scope = scope.to_string();
        let hashes = hashes.to_vec();
        let me = import.clone();
        run(move || {
            let txn = store.db.begin_read().map_err(db_error)?;
            let table = txn.open_table(ROW_HASHES).map_err(db_error)?;
            let mut out = Vec::new();
            for h in hashes {
                if let Some(owner) = table.get((scope.as_str(), h)).map_err(db_error)?
                    && let Some(owner) = ImportId::parse(owner.value())
                    && owner != me
                {
                    out.push((h, owner));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn register(&self, scope: &str, hashes: &[u128], import: &ImportId) -> Result<(), StoreError> {
        let store = self.clone();
        let scope = scope.to_string();
        let hashes = hashes.to_vec();
        let owner = import.to_string();
        run(move || {
            let txn = store.write()?;
            {
                let mut table = txn.open_table(ROW_HASHES).map_err(db_error)?;
                for h in hashes {
                    if table.get((scope.as_str(), h)).map_err(db_error)?.is_none() {
                        table.insert((scope.as_str(), h), owner.as_str()).map_err(db_error)?;
                    }
                }
            }
            txn.commit().map_err(db_error)
        })
        .await
    }
}

#[async_trait]
impl ItemStore for RedbStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let store = self.clone();
        let (pk, sk) = (pk.to_string(), sk.to_string());
        run(move || {
            let txn = store.db.begin_read().map_err(db_error)?;
            let table = txn.open_table(ITEMS).map_err(db_error)?;
            let now = Timestamp::now().as_second();
            Ok(table.get((pk.as_str(), sk.as_str())).map_err(db_error)?.and_then(|v| {
                let (version, expires, body) = v.value();
                (expires == 0 || expires > now).then(|| Item { value: Bytes::copy_from_slice(body), version })
            }))
        })
        .await
    }

    async fn put(
        &self,
        pk: &str,
        sk: &str,
        value: Bytes,
        condition: Condition,
        expires_at: Option<i64>,
    ) -> Result<u64, StoreError> {
        let store = self.clone();
        let (pk, sk) = (pk.to_string(), sk.to_string());
        run(move || {
            let txn = store.write()?;
            let version = {
                let mut table = txn.open_table(ITEMS).map_err(db_error)?;
                let now = Timestamp::now().as_second();
                let current = table
                    .get((pk.as_str(), sk.as_str()))
                    .map_err(db_error)?
                    .map(|v| {
                        let (version, expires, _) = v.value();
                        (version, expires)
                    })
                    .filter(|(_, expires)| *expires == 0 || *expires > now)
                    .map(|(version, _)| version);
                let ok = match condition {
                    Condition::None => true,
                    Condition::Absent => current.is_none(),
                    Condition::Version(v) => current == Some(v),
                };
                if !ok {
                    return Err(StoreError::new(StoreErrorKind::Conflict, format!("{pk}/{sk} changed")));
                }
                let version = current.unwrap_or(0) + 1;
                table
                    .insert((pk.as_str(), sk.as_str()), (version, expires_at.unwrap_or(0), value.as_ref()))
                    .map_err(db_error)?;
                version
            };
            txn.commit().map_err(db_error)?;
            Ok(version)
        })
        .await
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        let store = self.clone();
        let (pk, sk) = (pk.to_string(), sk.to_string());
        run(move || {
            let txn = store.write()?;
            {
                let mut table = txn.open_table(ITEMS).map_err(db_error)?;
                let current = table.get((pk.as_str(), sk.as_str())).map_err(db_error)?.map(|v| v.value().0);
                match (condition, current) {
                    (Condition::Version(v), Some(c)) if v != c => {
                        return Err(StoreError::new(StoreErrorKind::Conflict, format!("{pk}/{sk} changed")));
                    }
                    (Condition::Absent, Some(_)) => {
                        return Err(StoreError::new(StoreErrorKind::Conflict, format!("{pk}/{sk} exists")));
                    }
                    _ => {}
                }
                table.remove((pk.as_str(), sk.as_str())).map_err(db_error)?;
            }
            txn.commit().map_err(db_error)
        })
        .await
    }

    async fn query(
        &self,
        pk: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<Vec<(String, Item)>, StoreError> {
        let store = self.clone();
        let (pk, prefix, after) = (pk.to_string(), prefix.to_string(), after.map(str::to_string));
        run(move || {
            let txn = store.db.begin_read().map_err(db_error)?;
            let table = txn.open_table(ITEMS).map_err(db_error)?;
            let now = Timestamp::now().as_second();
            let mut upper = prefix.clone();
            upper.push(char::MAX);
            let range = table.range((pk.as_str(), prefix.as_str())..(pk.as_str(), upper.as_str())).map_err(db_error)?;
            let mut out = Vec::new();
            let mut consider = |entry: Result<
                (redb::AccessGuard<'_, (&str, &str)>, redb::AccessGuard<'_, (u64, i64, &[u8])>),
                redb::StorageError,
            >|
             -> Result<bool, StoreError> {
                let (k, v) = entry.map_err(db_error)?;
                let (_, sk) = k.value();
                let (version, expires, body) = v.value();
                let past = after.as_deref().is_some_and(|a| if descending { sk >= a } else { sk <= a });
                if !past && (expires == 0 || expires > now) {
                    out.push((sk.to_string(), Item { value: Bytes::copy_from_slice(body), version }));
                }
                Ok(out.len() < limit)
            };
            if descending {
                for entry in range.rev() {
                    if !consider(entry)? {
                        break;
                    }
                }
            } else {
                for entry in range {
                    if !consider(entry)? {
                        break;
                    }
                }
            }
            Ok(out)
        })
        .await
    }
}
