//! Sluice's pure import domain: templates, readers, mapping, validation, chunk planning,
//! duplicate resolution, results and the import status machine.
//!
//! This crate does no I/O of its own beyond reading the bytes and readers it is handed, and it
//! must never name an AWS, Lambda, HTTP or async-runtime crate (the test command checks that
//! with `cargo tree`). Everything here is a function of its input, so the same code runs in
//! Lambda, in the local runtime, in benchmarks and in tests.

pub mod codes;
pub mod convert;
pub mod engine;
pub mod import;
pub mod json;
pub mod mapping;
pub mod pipeline;
pub mod read;
pub mod record;
pub mod results;
pub mod settings;
pub mod template;
pub mod value;

pub use engine::Counts;
pub use import::ImportStatus;
pub use settings::{Settings, SettingsPatch};
pub use template::{Schema, TemplateSpec};
