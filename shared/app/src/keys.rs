//! Where an import's objects live in the blob store. Every key starts with the tenant, so a
//! tenant's data can be listed, retained and deleted as one prefix.

use crate::model::{ImportId, TenantId};

/// The uploaded file.
pub fn upload(tenant: &TenantId, id: &ImportId) -> String {
    format!("uploads/{tenant}/{id}/source")
}

/// The template snapshot the import pinned.
pub fn template(tenant: &TenantId, id: &ImportId) -> String {
    format!("work/{tenant}/{id}/template.json")
}

fn work(tenant: &TenantId, id: &ImportId, generation: u32) -> String {
    format!("work/{tenant}/{id}/g{generation}")
}

/// The job description chunk workers read.
pub fn job(tenant: &TenantId, id: &ImportId, generation: u32) -> String {
    format!("{}/job.json", work(tenant, id, generation))
}

/// The chunk list, written when splitting ends.
pub fn chunks(tenant: &TenantId, id: &ImportId, generation: u32) -> String {
    format!("{}/chunks.json", work(tenant, id, generation))
}

/// Everything of one split generation (removed once the import is final).
pub fn generation(tenant: &TenantId, id: &ImportId, generation: u32) -> String {
    format!("{}/", work(tenant, id, generation))
}

/// A finalize-time file: a chunk's part rewritten for duplicates, or the results header.
pub fn final_part(tenant: &TenantId, id: &ImportId, generation: u32, name: &str) -> String {
    format!("{}/final/{name}", work(tenant, id, generation))
}

/// The upload transcoded to UTF-8.
pub fn normalized(tenant: &TenantId, id: &ImportId, generation: u32) -> String {
    format!("{}/normalized.csv", work(tenant, id, generation))
}

/// A converted chunk (workbook or JSON input).
pub fn cells(tenant: &TenantId, id: &ImportId, generation: u32, chunk: u32) -> String {
    format!("{}/cells/{chunk:06}.jsonl", work(tenant, id, generation))
}

/// The output of a processed chunk: one object of sections (see
/// [`sluice_core::pipeline::OutputLayout`]).
pub fn chunk_output(tenant: &TenantId, id: &ImportId, generation: u32, chunk: u32) -> String {
    format!("{}/chunks/{chunk:06}.out", work(tenant, id, generation))
}

/// A final result file (`rows.jsonl`, `errors.jsonl`, `results.csv`).
pub fn result(tenant: &TenantId, id: &ImportId, file: &str) -> String {
    format!("results/{tenant}/{id}/{file}")
}
