//! Header, skipped rows and chunking for decoded records (spreadsheets and JSON).
//!
//! Workbooks and JSON cannot be cut by byte range, so the splitter converts them: records are
//! written as JSON lines of [`StoredRecord`] into chunk objects of `chunk_rows` records each, and
//! chunk workers read those back through the same engine as CSV.

use super::ChunkSpec;
use super::split::HeaderInfo;
use crate::record::{CellRef, StoredCell, StoredRecord};

/// The result of converting a whole workbook sheet or JSON array.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellsPlan {
    /// The header.
    pub header: HeaderInfo,
    /// The chunks; `start`/`end` are 0 and the size of each converted chunk object.
    pub chunks: Vec<ChunkSpec>,
    /// Data records.
    pub records: u64,
}

/// Converts records into chunk objects, handing each finished chunk to `on_chunk`.
pub struct CellsSplitter<F> {
    chunk_rows: u32,
    header_row: u32,
    header: Option<HeaderInfo>,
    skipped: Vec<u64>,
    nonblank_seen: u32,
    buf: Vec<u8>,
    first_line: u64,
    in_chunk: u32,
    chunks: Vec<ChunkSpec>,
    records: u64,
    on_chunk: F,
}

impl<F, E> CellsSplitter<F>
where
    F: FnMut(ChunkSpec, Vec<u8>) -> Result<(), E>,
{
    /// A splitter that takes the `header_row`-th non-blank record as the header.
    pub fn new(chunk_rows: u32, header_row: u32, on_chunk: F) -> Self {
        CellsSplitter {
            chunk_rows: chunk_rows.max(1),
            header_row,
            header: None,
            skipped: Vec::new(),
            nonblank_seen: 0,
            buf: Vec::new(),
            first_line: 0,
            in_chunk: 0,
            chunks: Vec::new(),
            records: 0,
            on_chunk,
        }
    }

    /// A splitter whose header is already known (JSON keys).
    pub fn with_header(chunk_rows: u32, names: Vec<String>, on_chunk: F) -> Self {
        let mut s = Self::new(chunk_rows, 1, on_chunk);
        s.header = Some(HeaderInfo { names, line: 0, skipped_lines: Vec::new() });
        s
    }

    /// Sets the header (JSON keys arrive before the records).
    pub fn set_header(&mut self, names: Vec<String>) {
        self.header = Some(HeaderInfo { names, line: 0, skipped_lines: Vec::new() });
    }

    /// The header, once seen.
    pub fn header(&self) -> Option<&HeaderInfo> {
        self.header.as_ref()
    }

    /// Takes one record.
    pub fn push(&mut self, line: u64, cells: Vec<CellRef<'_>>) -> Result<(), E> {
        if self.header.is_none() {
            if cells.iter().all(CellRef::is_blank) {
                return Ok(());
            }
            self.nonblank_seen += 1;
            if self.nonblank_seen < self.header_row {
                self.skipped.push(line);
                return Ok(());
            }
            let names = cells.iter().map(|c| c.display().trim().to_string()).collect();
            self.header = Some(HeaderInfo { names, line, skipped_lines: std::mem::take(&mut self.skipped) });
            return Ok(());
        }
        if self.in_chunk == 0 {
            self.first_line = line;
        }
        let stored = StoredRecord(line, cells.into_iter().map(StoredCell::from_cell_ref).collect());
        // Serializing a record of strings, numbers and booleans cannot fail.
        if serde_json::to_writer(&mut self.buf, &stored).is_ok() {
            self.buf.push(b'\n');
        }
        self.in_chunk += 1;
        self.records += 1;
        if self.in_chunk >= self.chunk_rows {
            self.close()?;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), E> {
        let spec = ChunkSpec {
            index: self.chunks.len() as u32,
            start: 0,
            end: self.buf.len() as u64,
            first_line: self.first_line,
            records: self.in_chunk,
        };
        self.chunks.push(spec);
        self.in_chunk = 0;
        (self.on_chunk)(spec, std::mem::take(&mut self.buf))
    }

    /// Ends the input. `None` when no header was found (an empty sheet), with the count of
    /// non-blank rows seen.
    pub fn finish(mut self) -> Result<Result<CellsPlan, u32>, E> {
        if self.in_chunk > 0 {
            self.close()?;
        }
        Ok(match self.header {
            Some(header) => Ok(CellsPlan { header, chunks: self.chunks, records: self.records }),
            None => Err(self.nonblank_seen),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn records_are_chunked_after_the_header_and_round_trip() {
        let mut out: Vec<(ChunkSpec, Vec<u8>)> = Vec::new();
        let mut s = CellsSplitter::new(2, 1, |spec, bytes| {
            out.push((spec, bytes));
            Ok::<(), ()>(())
        });
        s.push(1, vec![CellRef::Empty, CellRef::Empty]).unwrap();
        s.push(2, vec![CellRef::Str(Cow::Borrowed("id")), CellRef::Str(Cow::Borrowed("when"))]).unwrap();
        for line in 3..8 {
            s.push(line, vec![CellRef::Number(line as f64), CellRef::ExcelDate(45000.0)]).unwrap();
        }
        let plan = s.finish().unwrap().unwrap();
        assert_eq!(plan.header.names, vec!["id", "when"]);
        assert_eq!(plan.header.line, 2);
        assert_eq!(plan.records, 5);
        assert_eq!(out.iter().map(|(c, _)| c.records).collect::<Vec<_>>(), vec![2, 2, 1]);
        let first = String::from_utf8(out[0].1.clone()).unwrap();
        let rec: StoredRecord<'_> = serde_json::from_str(first.lines().next().unwrap()).unwrap();
        assert_eq!(rec.0, 3);
        assert_eq!(rec.1[1], StoredCell::Tagged(crate::record::TaggedCell::Date(45000.0)));
    }
}
