//! A process that stops mid-import loses nothing: the queue lives in memory, but the records
//! say what was under way, and the next start queues it again.

use std::time::{Duration, Instant};

use sluice_app::{CreateImport, TenantId};
use sluice_core::ImportStatus;
use sluice_core::template::{TemplateSyntax, parse_template};
use sluice_local::LocalRuntime;
use sluice_tests::fixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_accepted_before_a_stop_finishes_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = TenantId::parse("acme").unwrap();
    let template =
        parse_template(&std::fs::read_to_string(fixture("contacts.yaml")).unwrap(), TemplateSyntax::Yaml).unwrap();
    let id = {
        // No workers: the split job sits in the in-memory queue when the process "stops".
        let runtime = LocalRuntime::open(dir.path(), true).unwrap();
        let import = runtime
            .app
            .create_import(CreateImport {
                tenant: tenant.clone(),
                environment: "production".into(),
                template,
                template_ref: None,
                settings: Default::default(),
                original_filename: Some("contacts.csv".into()),
                destination: None,
                user: None,
                metadata: None,
            })
            .await
            .unwrap();
        let meta = runtime.blobs.import_file(&fixture("contacts.csv"), &import.upload.key).await.unwrap();
        let accepted = runtime.app.accept_upload(&tenant, &import.id, meta).await.unwrap();
        assert_eq!(accepted.status, ImportStatus::Running);
        import.id
    };
    let runtime = LocalRuntime::open(dir.path(), true).unwrap();
    assert_eq!(runtime.resume().await.unwrap(), 1);
    let workers = runtime.spawn_workers(2);
    let deadline = Instant::now() + Duration::from_secs(30);
    let done = loop {
        let import = runtime.app.get_import(&tenant, &id).await.unwrap();
        if import.status != ImportStatus::Running {
            break import;
        }
        assert!(Instant::now() < deadline, "the import did not resume");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(done.status, ImportStatus::Successful);
    assert_eq!(done.counts.valid, 294);
    assert_eq!(runtime.resume().await.unwrap(), 0, "nothing is left to resume");
    for w in workers {
        w.abort();
    }
}
