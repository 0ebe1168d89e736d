//! Readers: bytes in, records out, with every file-level fault named by file position.
//!
//! - [`sniff`]: format, encoding and delimiter from the first bytes.
//! - [`encoding`]: byte order marks, UTF-16, legacy code pages, streaming transcoding to UTF-8.
//! - [`csv`]: the record reader shared by the splitter and the chunk workers.
//! - [`split`]: cuts a CSV stream into chunks at record boundaries, block by block.
//! - [`xlsx`]: bounded zip pre-check and calamine's streaming cell reader.
//! - [`json`]: an array of objects (Dromo's `initial_data`).
//! - [`cells`]: header, skipped rows and chunking for spreadsheet and JSON records.

pub mod cells;
pub mod csv;
pub mod digits;
pub mod encoding;
pub mod fast_split;
pub mod json;
pub mod sniff;
pub mod split;
pub mod xlsx;

use serde::{Deserialize, Serialize};

/// `std::str::from_utf8`, checked with SIMD first: a chunk is validated once, whole, and the
/// usual chunk is valid. Only a failing chunk is checked again by `std` for the error's position.
pub fn utf8(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(_) => std::str::from_utf8(bytes),
    }
}

/// One chunk of an upload: a byte range of a CSV, or a converted chunk object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkSpec {
    /// 0-based position of the chunk.
    pub index: u32,
    /// First byte (CSV) in the source object; 0 for converted chunks.
    pub start: u64,
    /// End byte (exclusive).
    pub end: u64,
    /// Line of the chunk's first record.
    pub first_line: u64,
    /// Records in the chunk (blank ones included); 0 when the splitter did not count them
    /// (the fast CSV splitter cuts by quote parity without parsing).
    pub records: u32,
    /// The record before the chunk's first one is an empty row: an empty row that starts the
    /// chunk continues a run the chunk before noted (one note a run, wherever chunks are cut).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_blank: bool,
}
