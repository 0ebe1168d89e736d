//! Sluice on one machine: embedded adapters for every port and the runtime that drives them.
//!
//! - [`FsBlobStore`]: objects as files under a data directory, written atomically.
//! - [`RedbStore`]: import records, chunk markers and row hashes in redb, with real
//!   transactions (a chunk marker and its counters commit together).
//! - [`LocalQueue`]: an in-process queue with at-least-once delivery: a job not acknowledged
//!   within its visibility timeout is delivered again, as SQS does.
//! - [`LocalRuntime`]: the use cases of `sluice-app` over these adapters, with one worker per core.
//! - [`server::Server`]: `sluice serve`, the HTTP API of `sluice-http` with the workers and the
//!   [`drop`] folder; [`secrets`] holds the keys of its tokens and upload URLs.
//!
//! Nothing here decides anything about imports; that is `sluice-app`'s and `sluice-core`'s job.

pub mod drop;
mod fs_blobs;
mod queue;
mod redb_store;
mod runtime;
pub mod secrets;
pub mod server;

pub use fs_blobs::FsBlobStore;
pub use queue::{Delivery, LocalQueue};
pub use redb_store::RedbStore;
pub use runtime::LocalRuntime;
