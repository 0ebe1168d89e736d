//! Sluice's use cases over ports: create an import, accept its upload, split it into chunks,
//! process a chunk, finalize. Lambda handlers and the local runtime call exactly these.
//!
//! This crate knows nothing of AWS, HTTP or files on disk: storage, state, queues and time come
//! in through the narrow traits in [`ports`], implemented by `shared/aws` and `shared/local`
//! (and by [`memory`] for tests). Every use case is safe to run twice with the same input.

pub mod items;
pub mod keys;
pub mod memory;
pub mod model;
pub mod ports;
pub mod usecases;
pub mod webhook;

pub use model::{Import, ImportId, Job, TenantId};
pub use ports::{
    BlobStore, Clock, ImportRepo, ItemStore, JobQueue, RowHashIndex, StoreError, StoreErrorKind, WebhookSender,
};
pub use usecases::{App, AppError, CreateImport, Limits};
