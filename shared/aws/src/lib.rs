//! Sluice on AWS: the adapters behind `sluice-app`'s ports, and the Lambda handlers.
//!
//! - [`s3`]: objects (ranged reads, multipart writes with server-side part copies, presigned
//!   upload URLs).
//! - [`dynamo`]: one table for imports, chunk markers, row hashes and every item of
//!   `sluice-app`'s `Items` (templates, destinations, API keys, idempotency, delivery log).
//! - [`sqs`]: the job queues.
//! - [`config`]: typed settings from the environment; [`runtime`] builds the use cases.
//! - [`handlers`]: what each function does with its events.
//! - [`provision`]: creates the table, queues and bucket on an emulator or a scratch account.
//!
//! This is the only crate that names SDK types; SDK errors are sorted into the ports' error
//! kinds in [`errors`].

pub mod config;
pub mod dynamo;
pub mod errors;
pub mod handlers;
pub mod provision;
pub mod runtime;
pub mod s3;
pub mod sqs;

pub use config::Settings;
pub use runtime::{AwsRuntime, sdk_config};
