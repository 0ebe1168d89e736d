//! One DynamoDB table for everything, with the tenant in every key.
//!
//! | item | `pk` | `sk` |
//! |---|---|---|
//! | import | `TENANT#{tenant}` | `IMPORT#{id}` (GSI `gsi1`: `FEED#{tenant}#{env}` / `{id}`) |
//! | chunk marker | `TENANT#{tenant}` | `CHUNK#{id}#{generation}#{chunk}` |
//! | row hash | `HASHES#{tenant}/{template}` | the hash, hex |
//! | templates, versions, destinations, keys, idempotency, delivery log | as `sluice-app`'s `Items` names them |
//!
//! An import item keeps its JSON document (`doc`) and optimistic version (`ver`) beside live
//! counters of the running generation (`c{gen}_done`, `c{gen}_rows`, ...). A chunk is counted by
//! one `TransactWriteItems`: its marker, put if absent, and an `ADD` to the counters on condition
//! that the import still runs that generation. A redelivered chunk finds its marker; the whole
//! transaction is refused and nothing is counted twice. Saving the document never touches the
//! counters, so it does not race the chunk workers.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, ReturnValue, TransactWriteItem, Update};
use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use jiff::Timestamp;
use sluice_app::model::{Import, ImportFilter, ImportId, TenantId};
use sluice_app::ports::{
    ChunkCompletion, Condition, ImportRepo, Item, ItemStore, RowHashIndex, StoreError, StoreErrorKind,
};
use sluice_core::{Counts, ImportStatus};

use crate::errors::{permanent, sort};

type Attrs = HashMap<String, AttributeValue>;

/// Counter names of a generation, in the order of [`Counts`]' fields.
const COUNTERS: [&str; 6] = ["rows", "valid", "invalid", "skipped", "errors", "warnings"];

/// The table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// Days a finished import, and the markers of its chunks, are kept.
    retention_days: u32,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s<'a>(item: &'a Attrs, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn get_n(item: &Attrs, name: &str) -> Option<u64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

fn tenant_pk(tenant: &TenantId) -> String {
    format!("TENANT#{tenant}")
}

fn import_sk(id: &ImportId) -> String {
    format!("IMPORT#{id}")
}

fn feed_pk(tenant: &TenantId, environment: &str) -> String {
    format!("FEED#{tenant}#{environment}")
}

impl DynamoStore {
    /// The table `table`; finished imports expire `retention_days` after they end.
    pub fn new(client: Client, table: impl Into<String>, retention_days: u32) -> DynamoStore {
        DynamoStore { client, table: table.into(), retention_days }
    }

    fn expiry(&self, from: Timestamp) -> i64 {
        from.as_second() + i64::from(self.retention_days) * 86_400
    }

    fn key(pk: String, sk: String) -> Attrs {
        HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
    }

    /// The import with the live counters of its running generation laid over its document.
    fn decode_import(item: &Attrs) -> Result<Import, StoreError> {
        let doc = get_s(item, "doc").ok_or_else(|| permanent("import item without a document"))?;
        let mut import: Import = serde_json::from_str(doc)
            .map_err(|e| StoreError::with_source(StoreErrorKind::Permanent, "stored import unreadable", e))?;
        import.version = get_n(item, "ver").unwrap_or(import.version);
        let g = import.generation;
        let done = get_n(item, &format!("c{g}_done")).unwrap_or(0) as u32;
        if import.status == ImportStatus::Running {
            let c = |name: &str| get_n(item, &format!("c{g}_{name}")).unwrap_or(0);
            import.counts = Counts {
                rows: c("rows"),
                valid: c("valid"),
                invalid: c("invalid"),
                skipped: c("skipped"),
                errors: c("errors"),
                warnings: c("warnings"),
            };
            import.chunks.done = import.chunks.done.max(done);
            if let Some(hb) = get_n(item, "hb").and_then(|t| Timestamp::from_second(t as i64).ok())
                && import.last_heartbeat_at.is_none_or(|at| at < hb)
            {
                import.last_heartbeat_at = Some(hb);
            }
        }
        Ok(import)
    }

    fn import_item(&self, import: &Import) -> Result<Attrs, StoreError> {
        let doc = serde_json::to_string(import).map_err(|e| permanent(format!("import not serializable: {e}")))?;
        let mut item = DynamoStore::key(tenant_pk(&import.tenant), import_sk(&import.id));
        item.insert("doc".into(), s(doc));
        item.insert("ver".into(), n(import.version));
        item.insert("gen".into(), n(import.generation));
        item.insert("st".into(), s(import.status.as_str()));
        item.insert("gsi1pk".into(), s(feed_pk(&import.tenant, &import.environment)));
        item.insert("gsi1sk".into(), s(import.id.to_string()));
        if let Some(from) = expires_from(import) {
            item.insert("ttl".into(), n(self.expiry(from)));
        }
        Ok(item)
    }

    async fn get_item(&self, key: Attrs, what: &str) -> Result<Option<Attrs>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sort(what, e, &[]))?;
        Ok(out.item)
    }
}

/// When an import starts its retention period: when it ended, or, never uploaded, when it was
/// created. Running imports and those waiting for a mapping do not expire.
fn expires_from(import: &Import) -> Option<Timestamp> {
    match import.status {
        ImportStatus::Successful | ImportStatus::Failed | ImportStatus::Cancelled => {
            Some(import.ended_at.unwrap_or(import.created_at))
        }
        ImportStatus::AwaitingUpload => Some(import.created_at),
        ImportStatus::Running | ImportStatus::NeedsReview => None,
    }
}

fn transaction_refused(e: &SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>) -> bool {
    matches!(e, SdkError::ServiceError(s) if matches!(s.err(), TransactWriteItemsError::TransactionCanceledException(c)
        if c.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed"))))
}

#[async_trait]
impl ImportRepo for DynamoStore {
    async fn insert(&self, import: &Import) -> Result<(), StoreError> {
        let item = self.import_item(import)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sort(&format!("insert import {}", import.id), e, &[]))
    }

    async fn get(&self, tenant: &TenantId, id: &ImportId) -> Result<Option<Import>, StoreError> {
        let item =
            self.get_item(DynamoStore::key(tenant_pk(tenant), import_sk(id)), &format!("get import {id}")).await?;
        item.as_ref().map(DynamoStore::decode_import).transpose()
    }

    async fn save(&self, import: &Import) -> Result<(), StoreError> {
        let item = self.import_item(import)?;
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut sets = Vec::new();
        for (i, (name, value)) in item.into_iter().filter(|(k, _)| k != "pk" && k != "sk").enumerate() {
            names.insert(format!("#a{i}"), name);
            values.insert(format!(":a{i}"), value);
            sets.push(format!("#a{i} = :a{i}"));
        }
        values.insert(":expected".into(), n(import.version.saturating_sub(1)));
        let mut update = format!("SET {}", sets.join(", "));
        if expires_from(import).is_none() {
            update.push_str(" REMOVE #ttl");
            names.insert("#ttl".into(), "ttl".into());
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(DynamoStore::key(tenant_pk(&import.tenant), import_sk(&import.id))))
            .update_expression(update)
            .condition_expression("attribute_exists(pk) AND ver = :expected")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let e = sort(&format!("save import {}", import.id), e, &[]);
                if e.kind == StoreErrorKind::Conflict {
                    StoreError::new(StoreErrorKind::Conflict, format!("import {} changed", import.id))
                } else {
                    e
                }
            })
    }

    async fn list(
        &self,
        tenant: &TenantId,
        filter: &ImportFilter,
        after: Option<&ImportId>,
        limit: usize,
    ) -> Result<Vec<Import>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Attrs> = None;
        // Newest first: ids are ULIDs, so descending sort-key order is creation order reversed.
        let (index, pk_name, pk, sk_name) = match &filter.environment {
            Some(env) => (Some("gsi1"), "gsi1pk", feed_pk(tenant, env), "gsi1sk"),
            None => (None, "pk", tenant_pk(tenant), "sk"),
        };
        let bound = match (after, index) {
            (Some(a), Some(_)) => Some(a.to_string()),
            (Some(a), None) => Some(import_sk(a)),
            (None, _) => None,
        };
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(String::from))
                .scan_index_forward(false)
                .limit(100)
                .expression_attribute_names("#pk", pk_name)
                .expression_attribute_names("#sk", sk_name)
                .expression_attribute_values(":pk", s(pk.clone()))
                .set_exclusive_start_key(start.take());
            query = match (&bound, index) {
                (Some(b), Some(_)) => query
                    .key_condition_expression("#pk = :pk AND #sk < :bound")
                    .expression_attribute_values(":bound", s(b.clone())),
                (Some(b), None) => query
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :bound")
                    .expression_attribute_values(":lo", s("IMPORT#"))
                    .expression_attribute_values(":bound", s(b.clone())),
                (None, Some(_)) => query
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_values(":prefix", s("imp_")),
                (None, None) => query
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_values(":prefix", s("IMPORT#")),
            };
            let page = query.send().await.map_err(|e| sort("list imports", e, &[]))?;
            for item in page.items() {
                // The index projects whole items; the `after` bound itself is not in the page.
                if bound.as_deref().is_some_and(|b| get_s(item, sk_name) == Some(b)) {
                    continue;
                }
                let import = DynamoStore::decode_import(item)?;
                if filter.matches(&import) {
                    out.push(import);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(out),
            }
        }
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
        let mut marker = DynamoStore::key(tenant_pk(tenant), format!("CHUNK#{id}#{generation:06}#{chunk:08}"));
        marker.insert("ttl".into(), n(self.expiry(at)));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(marker))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| permanent(e.to_string()))?;
        let values = [counts.rows, counts.valid, counts.invalid, counts.skipped, counts.errors, counts.warnings];
        let mut adds = vec![format!("c{generation}_done :one")];
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(DynamoStore::key(tenant_pk(tenant), import_sk(id))))
            .condition_expression("gen = :gen AND st = :running")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":gen", n(generation))
            .expression_attribute_values(":running", s(ImportStatus::Running.as_str()))
            .expression_attribute_values(":hb", n(at.as_second()));
        for (name, value) in COUNTERS.iter().zip(values) {
            adds.push(format!("c{generation}_{name} :{name}"));
            update = update.expression_attribute_values(format!(":{name}"), n(value));
        }
        let update = update
            .update_expression(format!("ADD {} SET hb = :hb", adds.join(", ")))
            .build()
            .map_err(|e| permanent(e.to_string()))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(update).build())
            .send()
            .await;
        let newly_counted = match result {
            Ok(_) => true,
            // The marker exists (a redelivered chunk) or the import moved on: nothing counted.
            Err(e) if transaction_refused(&e) => false,
            Err(e) => return Err(sort(&format!("count chunk {chunk} of {id}"), e, &[])),
        };
        let import =
            ImportRepo::get(self, tenant, id).await?.ok_or_else(|| StoreError::not_found(format!("import {id}")))?;
        let total = import.chunks.total.unwrap_or(0);
        let done = import.chunks.done;
        // Several workers can read the last count; the one whose claim lands queues the finalize.
        let last =
            newly_counted && total > 0 && done == total && self.claim_finalize(tenant, id, generation, total).await?;
        Ok(ChunkCompletion { newly_counted, done, total, last })
    }
}

impl DynamoStore {
    /// Claims the finalize of a generation once every chunk is counted: true for one caller.
    async fn claim_finalize(
        &self,
        tenant: &TenantId,
        id: &ImportId,
        generation: u32,
        total: u32,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(DynamoStore::key(tenant_pk(tenant), import_sk(id))))
            .update_expression(format!("SET fin{generation} = :yes"))
            .condition_expression(format!("attribute_not_exists(fin{generation}) AND c{generation}_done = :total"))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":total", n(total))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = sort(&format!("claim the finalize of {id}"), e, &[]);
                if e.kind == StoreErrorKind::Conflict { Ok(false) } else { Err(e) }
            }
        }
    }
}

fn hash_pk(scope: &str) -> String {
    format!("HASHES#{scope}")
}

#[async_trait]
impl RowHashIndex for DynamoStore {
    async fn owned_by_others(
        &self,
        scope: &str,
        hashes: &[u128],
        import: &ImportId,
    ) -> Result<Vec<(u128, ImportId)>, StoreError> {
        let pk = hash_pk(scope);
        let me = import.to_string();
        let batches: Vec<Vec<u128>> = hashes.chunks(100).map(<[u128]>::to_vec).collect();
        let found: Vec<Vec<(u128, ImportId)>> = stream::iter(batches.into_iter().map(|batch| {
            let pk = pk.clone();
            let me = me.clone();
            async move {
                let mut keys: Vec<Attrs> =
                    batch.iter().map(|h| DynamoStore::key(pk.clone(), format!("{h:032x}"))).collect();
                let mut out = Vec::new();
                let mut rounds = 0;
                while !keys.is_empty() {
                    rounds += 1;
                    let request = KeysAndAttributes::builder()
                        .set_keys(Some(keys))
                        .consistent_read(true)
                        .build()
                        .map_err(|e| permanent(e.to_string()))?;
                    let page = self
                        .client
                        .batch_get_item()
                        .request_items(&self.table, request)
                        .send()
                        .await
                        .map_err(|e| sort("read row hashes", e, &[]))?;
                    for item in page.responses.unwrap_or_default().remove(&self.table).unwrap_or_default() {
                        let (Some(sk), Some(owner)) = (get_s(&item, "sk"), get_s(&item, "owner")) else { continue };
                        if owner != me
                            && let (Ok(h), Some(owner)) = (u128::from_str_radix(sk, 16), ImportId::parse(owner))
                        {
                            out.push((h, owner));
                        }
                    }
                    keys = page
                        .unprocessed_keys
                        .and_then(|mut u| u.remove(&self.table))
                        .map(|k| k.keys)
                        .unwrap_or_default();
                    if !keys.is_empty() {
                        if rounds > 8 {
                            return Err(StoreError::new(
                                StoreErrorKind::Transient,
                                "row hash reads kept being throttled",
                            ));
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(50 << rounds)).await;
                    }
                }
                Ok::<_, StoreError>(out)
            }
        }))
        .buffer_unordered(8)
        .try_collect()
        .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn register(&self, scope: &str, hashes: &[u128], import: &ImportId) -> Result<(), StoreError> {
        let pk = hash_pk(scope);
        let owner = import.to_string();
        let items: Vec<Attrs> = hashes
            .iter()
            .map(|h| {
                let mut item = DynamoStore::key(pk.clone(), format!("{h:032x}"));
                item.insert("owner".into(), s(owner.clone()));
                item
            })
            .collect();
        stream::iter(items.into_iter().map(|item| {
            async move {
                match self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(pk)")
                    .send()
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        let e = sort("register row hash", e, &[]);
                        // The first import to deliver a row keeps it.
                        if e.kind == StoreErrorKind::Conflict { Ok(()) } else { Err(e) }
                    }
                }
            }
        }))
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await
        .map(|_| ())
    }
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, StoreError> {
        let Some(item) = self.get_item(DynamoStore::key(pk.into(), sk.into()), &format!("get {pk}/{sk}")).await? else {
            return Ok(None);
        };
        // TTL deletion is lazy: an expired item is absent.
        if get_n(&item, "ttl").is_some_and(|t| (t as i64) <= Timestamp::now().as_second()) {
            return Ok(None);
        }
        Ok(Some(decode_item(&item)))
    }

    async fn put(
        &self,
        pk: &str,
        sk: &str,
        value: Bytes,
        condition: Condition,
        expires_at: Option<i64>,
    ) -> Result<u64, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(DynamoStore::key(pk.into(), sk.into())))
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":val", AttributeValue::B(value.to_vec().into()))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew);
        update = match expires_at {
            Some(t) => update
                .update_expression("SET val = :val, #ttl = :ttl ADD ver :one")
                .expression_attribute_values(":ttl", n(t)),
            None => update.update_expression("SET val = :val REMOVE #ttl ADD ver :one"),
        };
        update = match condition {
            Condition::None => update,
            Condition::Absent => update
                .condition_expression("attribute_not_exists(pk) OR #ttl <= :now")
                .expression_attribute_values(":now", n(Timestamp::now().as_second())),
            Condition::Version(v) => {
                update.condition_expression("ver = :expected").expression_attribute_values(":expected", n(v))
            }
        };
        let out = update.send().await.map_err(|e| sort(&format!("put {pk}/{sk}"), e, &[]))?;
        Ok(out.attributes.as_ref().and_then(|a| get_n(a, "ver")).unwrap_or(1))
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), StoreError> {
        let mut delete =
            self.client.delete_item().table_name(&self.table).set_key(Some(DynamoStore::key(pk.into(), sk.into())));
        delete = match condition {
            Condition::None => delete,
            Condition::Absent => delete.condition_expression("attribute_not_exists(pk)"),
            Condition::Version(v) => delete
                .condition_expression("attribute_not_exists(pk) OR ver = :expected")
                .expression_attribute_values(":expected", n(v)),
        };
        delete.send().await.map(|_| ()).map_err(|e| sort(&format!("delete {pk}/{sk}"), e, &[]))
    }

    async fn query(
        &self,
        pk: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        descending: bool,
    ) -> Result<Vec<(String, Item)>, StoreError> {
        let now = Timestamp::now().as_second();
        let mut out = Vec::new();
        let mut start = after.map(|a| DynamoStore::key(pk.into(), a.into()));
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":prefix", s(prefix))
                .scan_index_forward(!descending)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sort(&format!("query {pk}/{prefix}"), e, &[]))?;
            for item in page.items() {
                if get_n(item, "ttl").is_some_and(|t| (t as i64) <= now) {
                    continue;
                }
                let Some(sk) = get_s(item, "sk") else { continue };
                out.push((sk.to_string(), decode_item(item)));
                if out.len() >= limit {
                    return Ok(out);
                }
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(out),
            }
        }
    }
}

fn decode_item(item: &Attrs) -> Item {
    let value =
        item.get("val").and_then(|v| v.as_b().ok()).map(|b| Bytes::copy_from_slice(b.as_ref())).unwrap_or_default();
    Item { value, version: get_n(item, "ver").unwrap_or(1) }
}
