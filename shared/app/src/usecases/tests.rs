use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use jiff::Timestamp;
use sluice_core::settings::{Dedupe, InvalidDataBehavior, SettingsPatch};
use sluice_core::template::{TemplateSyntax, parse_template};
use sluice_core::{Counts, ImportStatus};

use super::*;
use crate::memory::{
    CollectingQueue, FixedClock, MemoryBlobStore, MemoryImportRepo, MemoryRowHashIndex, RecordingWebhooks,
};
use crate::model::DeliveryState;
use crate::model::{Import, Job};
use crate::ports::WebhookResponse;
use crate::ports::{ChunkCompletion, ImportRepo};

const TEMPLATE: &str = r#"
name: contacts
fields:
  - { key: id, type: integer, required: true, unique: true }
  - { key: email, type: email, required: true }
  - { key: amount, type: decimal, precision: 17, scale: 2 }
  - { key: status, type: enum, values: [active, closed] }
  - { key: note, type: text }
settings:
  invalid_data_behavior: INCLUDE_INVALID_ROWS
  chunk_rows: 3
"#;

/// Counts the saves that move an import from RUNNING to a settled status.
#[derive(Default)]
struct CountingRepo {
    inner: MemoryImportRepo,
    settled: AtomicUsize,
    /// When set, counting a chunk finds the import split again meanwhile (its generation moved
    /// on, and the chunk's work files with it) and fails, as a store then does.
    moved_on: std::sync::atomic::AtomicBool,
    /// When set, the next read of an import whose chunks are all done hands out the import as
    /// it was, then settles it and removes its work files from this store: another run of
    /// finalize finished right after the read.
    overtaken: std::sync::Mutex<Option<MemoryBlobStore>>,
}

#[async_trait]
impl ImportRepo for CountingRepo {
    async fn insert(&self, import: &Import) -> Result<(), StoreError> {
        self.inner.insert(import).await
    }
    async fn get(&self, tenant: &TenantId, id: &ImportId) -> Result<Option<Import>, StoreError> {
        let read = self.inner.get(tenant, id).await?;
        if let Some(import) = &read
            && import.status == ImportStatus::Running
            && import.chunks.total.is_some_and(|t| import.chunks.done >= t)
        {
            let blobs = self.overtaken.lock().unwrap().take();
            if let Some(blobs) = blobs {
                let mut settled = import.clone();
                settled.status = ImportStatus::Successful;
                settled.version += 1;
                self.save(&settled).await?;
                blobs.delete_prefix(&crate::keys::generation(tenant, id, import.generation)).await?;
            }
        }
        Ok(read)
    }
    async fn save(&self, import: &Import) -> Result<(), StoreError> {
        let before = self.inner.get(&import.tenant, &import.id).await?.map(|i| i.status);
        self.inner.save(import).await?;
        if before == Some(ImportStatus::Running) && import.status.is_settled() {
            self.settled.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
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
        if self.moved_on.load(Ordering::SeqCst) {
            let mut import = self.inner.get(tenant, id).await?.expect("the import exists");
            import.generation = generation + 1;
            import.version += 1;
            self.inner.save(&import).await?;
            return Err(StoreError::new(crate::ports::StoreErrorKind::NotFound, "write work/g1/chunks/000001.out"));
        }
        self.inner.complete_chunk(tenant, id, generation, chunk, counts, at).await
    }
    async fn list(
        &self,
        tenant: &TenantId,
        filter: &crate::model::ImportFilter,
        after: Option<&ImportId>,
        limit: usize,
    ) -> Result<Vec<Import>, StoreError> {
        self.inner.list(tenant, filter, after, limit).await
    }
}

struct Harness {
    app: App,
    blobs: MemoryBlobStore,
    repo: Arc<CountingRepo>,
    queue: Arc<CollectingQueue>,
    webhooks: Arc<RecordingWebhooks>,
    clock: Arc<FixedClock>,
    tenant: TenantId,
}

fn harness() -> Harness {
    let blobs = MemoryBlobStore::default();
    let repo = Arc::new(CountingRepo::default());
    let queue = Arc::new(CollectingQueue::default());
    let clock = Arc::new(FixedClock::at("2026-11-21T12:00:00Z".parse().unwrap()));
    let webhooks = Arc::new(RecordingWebhooks::default());
    let app = App::new(
        Arc::new(blobs.clone()),
        repo.clone(),
        Arc::new(MemoryRowHashIndex::default()),
        queue.clone(),
        clock.clone(),
    )
    .with_webhooks(webhooks.clone())
    .with_delivery(DeliveryConfig {
        batch_rows: 2,
        batch_bytes: 1 << 20,
        retries: vec![std::time::Duration::ZERO; 3],
    });
    Harness { app, blobs, repo, queue, webhooks, clock, tenant: TenantId::parse("acme").unwrap() }
}

impl Harness {
    async fn start(&self, file: &[u8], settings: SettingsPatch) -> ImportId {
        self.start_to(file, settings, None).await
    }

    async fn start_to(&self, file: &[u8], settings: SettingsPatch, destination: Option<&str>) -> ImportId {
        self.start_of(TEMPLATE, file, settings, destination).await
    }

    async fn start_of(
        &self,
        template: &str,
        file: &[u8],
        settings: SettingsPatch,
        destination: Option<&str>,
    ) -> ImportId {
        let template = parse_template(template, TemplateSyntax::Yaml).unwrap();
        let import = self
            .app
            .create_import(CreateImport {
                tenant: self.tenant.clone(),
                environment: "production".into(),
                template,
                template_ref: None,
                settings,
                original_filename: Some("contacts.csv".into()),
                destination: destination.map(str::to_string),
                user: None,
                metadata: None,
            })
            .await
            .unwrap();
        self.blobs.put(&import.upload.key, Bytes::copy_from_slice(file)).await.unwrap();
        let meta = self.blobs.head(&import.upload.key).await.unwrap().unwrap();
        self.app.accept_upload(&self.tenant, &import.id, meta).await.unwrap();
        import.id
    }

    /// Runs queued jobs until none are left; `scramble` reorders and duplicates deliveries.
    async fn drain(&self, scramble: bool) {
        let mut seed = 0x2545F4914F6CDD1Du64;
        for _ in 0..1000 {
            let mut jobs = self.queue.take();
            if jobs.is_empty() {
                return;
            }
            if scramble {
                let copies: Vec<Job> =
                    jobs.iter().filter(|j| matches!(j, Job::Chunk { .. } | Job::Finalize { .. })).cloned().collect();
                jobs.extend(copies);
                for i in (1..jobs.len()).rev() {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    jobs.swap(i, (seed % (i as u64 + 1)) as usize);
                }
            }
            for job in jobs {
                self.app.handle(job).await.unwrap();
            }
        }
        panic!("the queue never drained");
    }

    /// Runs queued jobs until none are left but finalize's, which come back unrun.
    async fn drain_but_finalize(&self) -> Vec<Job> {
        let mut finalize = Vec::new();
        loop {
            let jobs = self.queue.take();
            if jobs.is_empty() {
                return finalize;
            }
            for job in jobs {
                match job {
                    Job::Finalize { .. } => finalize.push(job),
                    job => self.app.handle(job).await.unwrap(),
                }
            }
        }
    }

    async fn import(&self, id: &ImportId) -> Import {
        self.app.get_import(&self.tenant, id).await.unwrap()
    }

    async fn result(&self, id: &ImportId, file: &str) -> String {
        let bytes = self.blobs.get(&crate::keys::result(&self.tenant, id, file)).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}

const FILE: &[u8] = b"id,email,amount,status,note\n\
1,a@example.com,1.50,active,plain\n\
2,b@example.com,abc,active,\"quoted, with comma\"\n\
3,c@example.com,3,closed,\"two\nlines\"\n\
1,d@example.com,4,active,duplicate id of line 2\n\
5,not-an-email,5,open,two errors\n\
\n\
7,g@example.com,7.25,closed,last\n";

#[tokio::test]
async fn an_import_runs_from_upload_to_results() {
    let h = harness();
    let id = h.start(FILE, SettingsPatch::default()).await;
    h.drain(false).await;
    let import = h.import(&id).await;
    assert_eq!(import.status, ImportStatus::Successful, "{:?}", import.status_reason);
    assert_eq!(import.counts, Counts { rows: 6, valid: 3, invalid: 3, skipped: 1, errors: 4, warnings: 0 });
    assert!(import.chunks.total.unwrap() >= 2, "{:?}", import.chunks);
    assert_eq!(import.detected.delimiter.as_deref(), Some(","));
    assert_eq!(import.progress(), 100);
    let rows = h.result(&id, "rows.jsonl").await;
    let lines: Vec<u64> =
        rows.lines().map(|l| sluice_core::engine::finalize::row_line(l.as_bytes()).unwrap()).collect();
    assert_eq!(lines, vec![2, 3, 4, 6, 7, 9]);
    assert!(rows.lines().nth(3).unwrap().contains("\"code\":\"not_unique\""));
    let errors = h.result(&id, "errors.jsonl").await;
    let codes: Vec<String> = errors
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes, vec!["invalid_decimal", "not_unique", "invalid_email", "invalid_choice"]);
    let results = h.result(&id, "results.csv").await;
    assert!(results.starts_with("Code,Message,Severity,LineNumber,Properties,EntityId\r\nheader_skipped,"));
    assert!(
        results.contains("empty_row_skipped,empty row skipped (and any empty rows right below it),Information,8,,")
    );
    assert_eq!(h.repo.settled.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_wide_template_gets_chunks_of_fewer_rows() {
    // 1,024 fields (the most a template has): the cell budget allows 256 rows per chunk, so 600
    // rows make 3 chunks
    // instead of the 1 that `chunk_rows` alone would. One cell of each row is invalid.
    let fields = 1024;
    let template: String = std::iter::once("name: wide\nfields:\n".to_string())
        .chain((0..fields).map(|i| format!("  - {{ key: f{i}, type: integer }}\n")))
        .collect();
    let mut file = (0..fields).map(|i| format!("f{i}")).collect::<Vec<_>>().join(",") + "\n";
    for row in 0..600 {
        let cells: Vec<&str> = (0..fields).map(|i| if i == row * 7 % fields { "x" } else { "1" }).collect();
        file += &cells.join(",");
        file += "\n";
    }
    let h = harness();
    let settings = SettingsPatch { chunk_rows: Some(20_000), ..Default::default() };
    let id = h.start_of(&template, file.as_bytes(), settings, None).await;
    h.drain(true).await;
    let import = h.import(&id).await;
    assert_eq!(import.chunks.total, Some(3), "{:?}", import.chunks);
    assert_eq!(import.counts, Counts { rows: 600, valid: 0, invalid: 600, skipped: 0, errors: 600, warnings: 0 });
    let errors = h.result(&id, "errors.jsonl").await;
    let found: Vec<(u64, String)> = errors
        .lines()
        .map(|l| (json(l)["line"].as_u64().unwrap(), json(l)["field"].as_str().unwrap().to_string()))
        .collect();
    let expected: Vec<(u64, String)> = (0..600).map(|row| (row as u64 + 2, format!("f{}", row * 7 % fields))).collect();
    assert_eq!(found, expected);
}

#[tokio::test]
async fn chunks_in_random_order_and_delivered_twice_change_nothing_and_finalize_once() {
    let ordered = harness();
    let a = ordered.start(FILE, SettingsPatch::default()).await;
    ordered.drain(false).await;
    let scrambled = harness();
    let b = scrambled.start(FILE, SettingsPatch::default()).await;
    scrambled.drain(true).await;
    let (ia, ib) = (ordered.import(&a).await, scrambled.import(&b).await);
    assert_eq!(ia.counts, ib.counts);
    assert_eq!(ia.status, ib.status);
    for file in ["rows.jsonl", "errors.jsonl", "results.csv"] {
        assert_eq!(ordered.result(&a, file).await, scrambled.result(&b, file).await, "{file}");
    }
    assert_eq!(scrambled.repo.settled.load(Ordering::SeqCst), 1, "finalize must settle the import exactly once");
}

#[tokio::test]
async fn block_submit_sends_an_import_with_invalid_rows_to_review() {
    let h = harness();
    let settings =
        SettingsPatch { invalid_data_behavior: Some(InvalidDataBehavior::BlockSubmit), ..Default::default() };
    let id = h.start(FILE, settings).await;
    h.drain(true).await;
    let import = h.import(&id).await;
    assert_eq!(import.status, ImportStatus::NeedsReview);
    assert!(import.status_reason.unwrap().contains("BLOCK_SUBMIT"));
}

#[tokio::test]
async fn remove_invalid_rows_keeps_only_valid_rows() {
    let h = harness();
    let settings =
        SettingsPatch { invalid_data_behavior: Some(InvalidDataBehavior::RemoveInvalidRows), ..Default::default() };
    let id = h.start(FILE, settings).await;
    h.drain(false).await;
    let rows = h.result(&id, "rows.jsonl").await;
    assert_eq!(rows.lines().count(), 3);
    assert!(!rows.contains("\"errors\""));
    assert_eq!(h.import(&id).await.results.unwrap().row_count, 3);
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap()
}

#[tokio::test]
async fn a_repeated_unique_value_after_a_quoted_line_break_makes_its_row_invalid() {
    // The id cell starts a line or two below its row: the duplicate is still the row's, so
    // REMOVE_INVALID_ROWS leaves it out and the counts agree with the rows delivered.
    let file = b"note,id,email,amount,status\n\
\"two\nlines\",1,a@example.com,1,active\n\
plain,1,b@example.com,2,active\n\
\"three\nmore\nlines\",1,c@example.com,3,active\n\
ok,4,d@example.com,4,closed\n";
    let h = harness();
    let settings =
        SettingsPatch { invalid_data_behavior: Some(InvalidDataBehavior::RemoveInvalidRows), ..Default::default() };
    let id = h.start(file, settings).await;
    h.drain(false).await;
    let import = h.import(&id).await;
    assert_eq!((import.counts.valid, import.counts.invalid), (2, 2));
    let rows = h.result(&id, "rows.jsonl").await;
    let lines: Vec<u64> = rows.lines().map(|r| json(r)["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [2, 8]);
    assert_eq!(import.results.unwrap().row_count, 2);
    let errors = h.result(&id, "errors.jsonl").await;
    let found: Vec<(u64, String)> = errors
        .lines()
        .map(|e| (json(e)["line"].as_u64().unwrap(), json(e)["message"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        found,
        [(4, "id '1' already appears at line 2".to_string()), (5, "id '1' already appears at line 2".to_string())]
    );
}

#[tokio::test]
async fn a_missing_required_column_needs_review_before_any_chunk_runs() {
    let h = harness();
    let id = h.start(b"id,amount\n1,2\n", SettingsPatch::default()).await;
    h.drain(false).await;
    let import = h.import(&id).await;
    assert_eq!(import.status, ImportStatus::NeedsReview);
    assert_eq!(import.mapping_problems[0].code, "required_field_unmapped");
    assert_eq!(import.counts.rows, 0);
}

#[tokio::test]
async fn an_unterminated_quote_fails_the_import_with_its_position() {
    let h = harness();
    let id = h.start(b"id,email\n1,a@b.co\n2,\"open\n3,c@d.co\n", SettingsPatch::default()).await;
    h.drain(false).await;
    let import = h.import(&id).await;
    assert_eq!(import.status, ImportStatus::Failed);
    let failure = import.failure.unwrap();
    assert_eq!((failure.code.as_str(), failure.line, failure.column), ("unterminated_quote", Some(3), Some(2)));
    assert!(import.status_reason.unwrap().starts_with("contacts.csv: line 3, column 2"));
    assert!(import.results.is_none(), "a failed file writes no results");
}

#[tokio::test]
async fn a_replayed_upload_event_does_not_split_twice() {
    let h = harness();
    let id = h.start(FILE, SettingsPatch::default()).await;
    h.drain(false).await;
    let before = h.import(&id).await;
    let meta = h.blobs.head(&before.upload.key).await.unwrap().unwrap();
    h.app.accept_upload(&h.tenant, &id, meta).await.unwrap();
    h.drain(false).await;
    assert_eq!(h.import(&id).await, before);
}

#[tokio::test]
async fn windows_1252_is_detected_and_transcoded() {
    let h = harness();
    let id =
        h.start(b"id,email,note\n1,a@b.co,Ren\xE9e\n2,c@d.co,Fran\xE7ois \x80 5\n", SettingsPatch::default()).await;
    h.drain(false).await;
    let import = h.import(&id).await;
    assert_eq!(import.detected.encoding.as_deref(), Some("windows-1252"));
    assert!(import.detected.encoding_detected);
    let rows = h.result(&id, "rows.jsonl").await;
    assert!(rows.contains("Renée") && rows.contains("François € 5"), "{rows}");
}

#[tokio::test]
async fn duplicate_rows_are_found_across_imports_of_the_same_template() {
    let h = harness();
    let settings = SettingsPatch { dedupe: Some(Dedupe::AcrossImports), ..Default::default() };
    let first = h.start(b"id,email\n1,a@b.co\n2,c@d.co\n", settings.clone()).await;
    h.drain(false).await;
    assert_eq!(h.import(&first).await.counts.valid, 2);
    let second = h.start(b"id,email\n2,c@d.co\n3,e@f.co\n3,e@f.co\n", settings).await;
    h.drain(false).await;
    let import = h.import(&second).await;
    assert_eq!((import.counts.valid, import.counts.invalid), (1, 2));
    let errors = h.result(&second, "errors.jsonl").await;
    assert!(errors.contains(&format!("import {first}")), "{errors}");
    assert!(errors.contains("duplicate_row") && errors.contains("not_unique"));
    // Another template given with its import (as every command-line one is): its rows are its
    // own, though they repeat the first template's values.
    let other = TEMPLATE.replace("name: contacts", "name: suppliers");
    let third = h.start_of(&other, b"id,email\n1,a@b.co\n", settings_across(), None).await;
    h.drain(false).await;
    let import = h.import(&third).await;
    assert_eq!((import.counts.valid, import.counts.invalid), (1, 0), "{}", h.result(&third, "errors.jsonl").await);
}

fn settings_across() -> SettingsPatch {
    SettingsPatch { dedupe: Some(Dedupe::AcrossImports), ..Default::default() }
}

#[tokio::test]
async fn a_missing_chunk_output_at_finalize_processes_the_upload_again() {
    let reference = harness();
    let a = reference.start(FILE, SettingsPatch::default()).await;
    reference.drain(false).await;

    let h = harness();
    let id = h.start(FILE, SettingsPatch::default()).await;
    // Every job but finalize, then the first chunk's output goes missing (as chunks written by an
    // earlier version under other keys would be).
    let finalize = h.drain_but_finalize().await;
    assert_eq!(finalize.len(), 1);
    h.blobs.delete_prefix(&crate::keys::chunk_output(&h.tenant, &id, 1, 0)).await.unwrap();
    for job in finalize {
        h.app.handle(job).await.unwrap();
    }
    h.drain(false).await;
    let import = h.import(&id).await;
    assert_eq!(import.status, ImportStatus::Successful, "{:?}", import.status_reason);
    assert_eq!(import.generation, 2);
    assert!(import.split.reason.as_deref().unwrap_or_default().contains("chunk 0 is missing"), "{:?}", import.split);
    assert_eq!(import.counts, reference.import(&a).await.counts);
    for file in ["rows.jsonl", "errors.jsonl", "results.csv"] {
        assert_eq!(h.result(&id, file).await, reference.result(&a, file).await, "{file}");
    }
    assert_eq!(h.repo.settled.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_stray_quote_that_fools_quote_parity_is_split_again_exactly() {
    // Line 2 has a quote inside an unquoted field (kept as text); from there quote parity is
    // odd, so the quoted line break on line 4 looks like a record boundary to the fast splitter.
    let mut file = b"id,email,amount,status,note\n1,a@b.co,1,active,ab\"c\n".to_vec();
    for i in 2..8 {
        file.extend_from_slice(format!("{i},x{i}@b.co,1,active,\"multi\nline\"\n").as_bytes());
    }
    let h = harness();
    let settings = SettingsPatch { chunk_rows: Some(1), ..Default::default() };
    let id = h.start(&file, settings).await;
    h.drain(true).await;
    let import = h.import(&id).await;
    assert_eq!(import.status, ImportStatus::Successful, "{:?}", import.status_reason);
    assert!(import.split.exact, "the import fell back to the exact splitter");
    assert_eq!(import.counts.rows, 7);
    assert_eq!(import.counts.invalid, 0);
    let rows = h.result(&id, "rows.jsonl").await;
    assert!(rows.contains("\"note\":\"ab\\\"c\""), "{rows}");
    assert_eq!(h.repo.settled.load(Ordering::SeqCst), 1);
}

fn header<'r>(r: &'r crate::ports::WebhookRequest, name: &str) -> &'r str {
    &r.headers.iter().find(|(k, _)| k == name).unwrap().1
}

#[tokio::test]
async fn rows_are_delivered_in_ordered_signed_batches_then_the_completion_event() {
    let h = harness();
    let dest = h.app.create_destination(&h.tenant, "production", "crm", "https://crm.example.com/hook").await.unwrap();
    let secret = dest.secrets[0].value.clone();
    let settings =
        SettingsPatch { invalid_data_behavior: Some(InvalidDataBehavior::RemoveInvalidRows), ..Default::default() };
    let id = h.start_to(FILE, settings, Some("crm")).await;
    h.drain(false).await;
    let import = h.import(&id).await;
    let delivery = import.delivery.unwrap();
    assert_eq!((delivery.state, delivery.batch_count, delivery.batches_sent), (DeliveryState::Delivered, 2, 3));
    let sent = h.webhooks.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 3, "two batches of two rows (three valid rows), then import.completed");
    let bodies: Vec<serde_json::Value> = sent.iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect();
    assert_eq!(bodies[0]["type"], "import.rows");
    assert_eq!((bodies[0]["batch_index"].as_u64(), bodies[0]["batch_count"].as_u64()), (Some(0), Some(2)));
    assert_eq!(bodies[0]["rows"].as_array().unwrap().len(), 2);
    assert_eq!(bodies[1]["rows"][0]["line"], 9);
    assert_eq!(bodies[2]["type"], "import.completed");
    assert_eq!(bodies[2]["counts"]["valid"], 3);
    for r in &sent {
        let expected = crate::webhook::sign(
            &secret,
            header(r, "webhook-id"),
            header(r, "webhook-timestamp").parse().unwrap(),
            &r.body,
        )
        .unwrap();
        assert_eq!(header(r, "webhook-signature"), expected);
    }
    assert_eq!(h.app.delivery_log(&h.tenant, &id).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_finalize_that_stopped_before_queueing_the_delivery_queues_it_when_it_comes_again() {
    let h = harness();
    h.app.create_destination(&h.tenant, "production", "crm", "https://crm.example.com/hook").await.unwrap();
    let settings =
        SettingsPatch { invalid_data_behavior: Some(InvalidDataBehavior::RemoveInvalidRows), ..Default::default() };
    let id = h.start_to(FILE, settings, Some("crm")).await;
    // Run everything up to and including the finalize; then lose the delivery job it queued, as
    // a crash between settling the import and queueing would.
    let mut finalize = None;
    while finalize.is_none() {
        let jobs = h.queue.take();
        assert!(!jobs.is_empty(), "the import never reached its finalize");
        for job in jobs {
            if matches!(job, Job::Finalize { .. }) {
                finalize = Some(job.clone());
            }
            h.app.handle(job).await.unwrap();
        }
    }
    let lost = h.queue.take();
    assert!(lost.iter().all(|j| matches!(j, Job::Deliver { .. })) && !lost.is_empty(), "{lost:?}");
    assert_eq!(h.import(&id).await.delivery.unwrap().state, DeliveryState::Pending);
    // A duplicate soon after (a redelivered chunk queues finalize again) queues nothing: the
    // delivery may be waiting in the queue.
    h.app.handle(finalize.clone().unwrap()).await.unwrap();
    assert!(h.queue.take().is_empty());
    // The queue hands the unacknowledged finalize out again after its visibility timeout.
    let later = h.clock.now().checked_add(jiff::SignedDuration::from_mins(12)).unwrap();
    *h.clock.0.lock().unwrap() = later;
    h.app.handle(finalize.clone().unwrap()).await.unwrap();
    h.drain(false).await;
    let delivery = h.import(&id).await.delivery.unwrap();
    assert_eq!((delivery.state, delivery.batches_sent), (DeliveryState::Delivered, 3));
    assert_eq!(h.webhooks.sent.lock().unwrap().len(), 3, "each batch and the completion event once");
    // Once the delivery is under way or done, another repeat queues nothing.
    h.app.handle(finalize.unwrap()).await.unwrap();
    assert!(h.queue.take().is_empty());
}

#[tokio::test]
async fn a_failing_receiver_gets_retries_with_the_same_webhook_id_until_it_recovers() {
    let h = harness();
    h.app.create_destination(&h.tenant, "production", "crm", "https://crm.example.com/hook").await.unwrap();
    h.webhooks.answers.lock().unwrap().extend([
        WebhookResponse::Status { code: 500, retry_after: None },
        WebhookResponse::Unreachable("connection refused".into()),
        WebhookResponse::Status { code: 429, retry_after: Some(0) },
    ]);
    let id = h.start_to(b"id,email\n1,a@b.co\n", SettingsPatch::default(), Some("crm")).await;
    h.drain(false).await;
    let sent = h.webhooks.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 5, "three failures, then the batch, then the completion event");
    let ids: Vec<&str> = sent.iter().map(|r| header(r, "webhook-id")).collect();
    assert!(ids[..4].iter().all(|i| *i == ids[0]), "{ids:?}");
    assert_eq!(h.import(&id).await.delivery.unwrap().state, DeliveryState::Delivered);
    let log = h.app.delivery_log(&h.tenant, &id).await.unwrap();
    let codes: Vec<Option<u16>> = log.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, vec![Some(500), None, Some(429), Some(200), Some(200)]);
}

#[tokio::test]
async fn retries_back_off_exponentially_with_jitter_and_honour_retry_after() {
    let mut h = harness();
    h.app = h.app.clone().with_delivery(DeliveryConfig::default());
    h.app.create_destination(&h.tenant, "production", "crm", "https://crm.example.com/hook").await.unwrap();
    h.webhooks.answers.lock().unwrap().extend([
        WebhookResponse::Status { code: 500, retry_after: None },
        WebhookResponse::Status { code: 503, retry_after: None },
        WebhookResponse::Status { code: 429, retry_after: Some(3600) },
        WebhookResponse::Status { code: 502, retry_after: None },
    ]);
    let id = h.start_to(b"id,email\n1,a@b.co\n", SettingsPatch::default(), Some("crm")).await;
    h.drain(false).await;
    assert_eq!(h.import(&id).await.delivery.unwrap().state, DeliveryState::Delivered);
    let delays = h.queue.delays();
    let schedule = DeliveryConfig::default().retries;
    assert_eq!(delays.len(), 4, "{delays:?}");
    for (i, delay) in delays.iter().enumerate() {
        let base = schedule[i];
        if i == 2 {
            assert!(*delay >= Duration::from_secs(3600), "Retry-After wins over a shorter backoff: {delay:?}");
        } else {
            assert!(
                *delay >= base.mul_f64(0.5) && *delay <= base.mul_f64(1.5),
                "attempt {}: {delay:?} around {base:?}",
                i + 1
            );
        }
    }
    assert!(
        schedule.windows(2).all(|w| w[1] > w[0]) && schedule.iter().sum::<Duration>() > Duration::from_secs(6 * 3600)
    );
}

#[tokio::test]
async fn gone_disables_the_destination_and_a_redelivery_can_replay() {
    let h = harness();
    h.app.create_destination(&h.tenant, "production", "crm", "https://crm.example.com/hook").await.unwrap();
    h.webhooks.answers.lock().unwrap().push_back(WebhookResponse::Status { code: 410, retry_after: None });
    let id = h.start_to(b"id,email\n1,a@b.co\n", SettingsPatch::default(), Some("crm")).await;
    h.drain(false).await;
    let delivery = h.import(&id).await.delivery.unwrap();
    assert_eq!(delivery.state, DeliveryState::Failed);
    assert!(delivery.error.unwrap().contains("410"));
    assert!(h.app.get_destination(&h.tenant, "production", "crm").await.unwrap().disabled.is_some());
    // A rotated (re-enabled) destination takes a replay.
    h.app.rotate_destination_secret(&h.tenant, "production", "crm").await.unwrap();
    h.app.redeliver(&h.tenant, &id).await.unwrap();
    h.drain(false).await;
    let delivery = h.import(&id).await.delivery.unwrap();
    assert_eq!((delivery.state, delivery.round), (DeliveryState::Delivered, 2));
}

#[tokio::test]
async fn exhausted_retries_fail_the_delivery_not_the_import() {
    let h = harness();
    h.app.create_destination(&h.tenant, "production", "crm", "https://crm.example.com/hook").await.unwrap();
    h.webhooks
        .answers
        .lock()
        .unwrap()
        .extend(std::iter::repeat_n(WebhookResponse::Status { code: 503, retry_after: None }, 10));
    let id = h.start_to(b"id,email\n1,a@b.co\n", SettingsPatch::default(), Some("crm")).await;
    h.drain(false).await;
    let import = h.import(&id).await;
    assert_eq!(import.status, ImportStatus::Successful);
    let delivery = import.delivery.unwrap();
    assert_eq!(delivery.state, DeliveryState::Failed);
    assert!(delivery.error.unwrap().contains("gave up after 4 attempts"));
}

#[tokio::test]
async fn an_import_of_a_stored_template_needs_a_pushed_snapshot_and_pins_its_version() {
    let h = harness();
    let spec = parse_template(TEMPLATE, TemplateSyntax::Yaml).unwrap();
    let view = h.app.create_template(&h.tenant, spec.clone()).await.unwrap();
    let id = view.record.id.clone();
    let err = h.app.pushed_template(&h.tenant, &id, "production").await.unwrap_err();
    assert!(err.to_string().starts_with("No pushed changes"), "{err}");
    h.app.push_template(&h.tenant, &id, "production", None).await.unwrap();
    let mut v2 = spec.clone();
    v2.name = "contacts v2".into();
    let updated = h.app.update_template(&h.tenant, &id, v2).await.unwrap();
    assert_eq!(updated.version, 2);
    let (pinned, reference) = h.app.pushed_template(&h.tenant, &id, "production").await.unwrap();
    assert_eq!((pinned.name.as_str(), reference.version), ("contacts", 1), "production still has version 1");
    assert!(h.app.push_template(&h.tenant, &id, "staging", Some(3)).await.is_err());
    let other = TenantId::parse("globex").unwrap();
    assert!(matches!(h.app.get_template(&other, &id, None).await, Err(AppError::NotFound(_))));
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_response_and_refuses_another_request() {
    let h = harness();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let make = || async {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok((201u16, serde_json::json!({"id": "imp_1"})))
    };
    let first = h.app.idempotent(&h.tenant, "production#key-1", "hash-a", make).await.unwrap();
    let again = h.app.idempotent(&h.tenant, "production#key-1", "hash-a", make).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let other = h.app.idempotent(&h.tenant, "production#key-1", "hash-b", make).await;
    assert!(matches!(other, Err(AppError::Unprocessable(_))));
}

#[tokio::test]
async fn a_review_resumes_with_a_mapping_and_a_cancelled_import_stays_cancelled() {
    let h = harness();
    let id = h.start(b"ident,mail\n1,a@b.co\n", SettingsPatch::default()).await;
    h.drain(false).await;
    assert_eq!(h.import(&id).await.status, ImportStatus::NeedsReview);
    let mapping = std::collections::BTreeMap::from([
        ("ident".to_string(), Some("id".to_string())),
        ("2".to_string(), Some("email".to_string())),
    ]);
    h.app.apply_mapping(&h.tenant, &id, mapping).await.unwrap();
    h.drain(false).await;
    let import = h.import(&id).await;
    assert_eq!((import.status, import.counts.valid, import.generation), (ImportStatus::Successful, 1, 2));

    let other = h.start(FILE, SettingsPatch::default()).await;
    h.app.cancel_import(&h.tenant, &other).await.unwrap();
    h.drain(true).await;
    let cancelled = h.import(&other).await;
    assert_eq!(cancelled.status, ImportStatus::Cancelled);
    assert!(cancelled.results.is_none());
    assert!(h.app.cancel_import(&h.tenant, &id).await.is_err(), "a finished import cannot be cancelled");
}

#[tokio::test]
async fn the_activity_feed_pages_newest_first_and_filters() {
    let h = harness();
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(h.start(b"id,email\n1,a@b.co\n", SettingsPatch::default()).await);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    h.drain(false).await;
    let filter = crate::model::ImportFilter::default();
    let page1 = h.app.list_imports(&h.tenant, &filter, None, 2).await.unwrap();
    let page2 = h.app.list_imports(&h.tenant, &filter, page1.next_page_token.as_deref(), 2).await.unwrap();
    let page3 = h.app.list_imports(&h.tenant, &filter, page2.next_page_token.as_deref(), 2).await.unwrap();
    let seen: Vec<ImportId> =
        [page1.imports, page2.imports, page3.imports].concat().into_iter().map(|i| i.id).collect();
    ids.reverse();
    assert_eq!(seen, ids);
    assert!(page3.next_page_token.is_none());
    let only_review = crate::model::ImportFilter { status: Some(ImportStatus::NeedsReview), ..Default::default() };
    assert!(h.app.list_imports(&h.tenant, &only_review, None, 10).await.unwrap().imports.is_empty());
    assert!(h.app.list_imports(&h.tenant, &filter, Some("bogus"), 10).await.is_err());
}

#[tokio::test]
async fn a_sync_validation_finds_the_delimiter_below_a_title_as_an_import_does() {
    let h = harness();
    let spec = parse_template(TEMPLATE, TemplateSyntax::Yaml).unwrap();
    // The title line has more semicolons than commas; the rows below it are comma-separated.
    let csv = "Export; 2026; Q3; final\nid,email,amount\n1,a@example.com,1.50\n2,b@example.com,2\n";
    let settings = SettingsPatch { header_row: Some(2), ..Default::default() };
    let outcome = h.app.validate_sync(spec, settings, Bytes::from(csv)).await.unwrap();
    assert_eq!(outcome.status, ImportStatus::Successful, "{:?}", outcome.status_reason);
    assert_eq!((outcome.counts.rows, outcome.counts.valid), (2, 2));
}

#[tokio::test]
async fn a_chunk_whose_import_was_split_again_while_it_ran_ends_quietly() {
    let h = harness();
    let id = h.start(FILE, SettingsPatch::default()).await;
    // Split; the chunk jobs wait in the queue.
    for job in h.queue.take() {
        h.app.handle(job).await.unwrap();
    }
    let chunk = h.queue.take().into_iter().find(|j| matches!(j, Job::Chunk { .. })).expect("a chunk job");
    h.repo.moved_on.store(true, Ordering::SeqCst);
    // Its failure is that the import moved on: nothing to retry, nothing to dead-letter.
    h.app.handle(chunk).await.unwrap();
    assert_eq!(h.import(&id).await.generation, 2);
}

#[tokio::test]
async fn a_finalize_overtaken_by_another_run_of_it_ends_quietly() {
    let h = harness();
    let id = h.start(FILE, SettingsPatch::default()).await;
    let mut finalize = h.drain_but_finalize().await;
    assert_eq!(finalize.len(), 1);
    *h.repo.overtaken.lock().unwrap() = Some(h.blobs.clone());
    // It read the import as running, then found the work files gone: the other run settled it.
    h.app.handle(finalize.pop().unwrap()).await.unwrap();
    assert!(h.repo.overtaken.lock().unwrap().is_none(), "the race was staged");
    assert_eq!(h.import(&id).await.status, ImportStatus::Successful);
    assert_eq!(h.repo.settled.load(Ordering::SeqCst), 1);
    // A split job redelivered now finds nothing to do either.
    h.app.handle(Job::Split { tenant: h.tenant.clone(), import: id.clone(), generation: 1 }).await.unwrap();
}
