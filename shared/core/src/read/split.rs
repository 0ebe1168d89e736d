//! Cutting a CSV stream into chunks at record boundaries, one block at a time.
//!
//! The splitter reads the whole file once, sequentially, with the same record reader the chunk
//! workers use, so a boundary can never fall inside a quoted field (the benchmark file has
//! quoted line breaks; splitting on bare newlines breaks on it). The same pass finds the header,
//! counts records, checks UTF-8 and catches every file-level fault, so an import with a broken
//! file fails before any chunk is processed. Memory holds one block plus at most one record.

use super::ChunkSpec;
use super::csv::{CsvError, CsvOptions, CsvParser, RecordSpans, Step};
use super::encoding::Utf8Stats;

/// What the splitter needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitOptions {
    /// Dialect and limits.
    pub csv: CsvOptions,
    /// Records per chunk.
    pub chunk_rows: u32,
    /// Bytes after which a chunk is cut early.
    pub max_chunk_bytes: u64,
    /// Which non-blank record is the header (1-based); with `headerless`, the first data record.
    pub header_row: u32,
    /// The file has no header row: columns are named by number, after the first data record.
    pub headerless: bool,
    /// File offset where the text starts (after a byte order mark).
    pub start_offset: u64,
}

/// The header row and the lines skipped to reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderInfo {
    /// Column names as written (lossy UTF-8, trimmed); for a file without a header row,
    /// [`numbered_columns`].
    pub names: Vec<String>,
    /// Line of the header; 0 when there is none (JSON keys, a file without a header row).
    pub line: u64,
    /// Lines of non-blank records above the header.
    pub skipped_lines: Vec<u64>,
}

impl HeaderInfo {
    /// The header of a file without a header row, whose first data record has `columns`
    /// columns, found below the non-blank records on `skipped_lines`.
    pub fn numbered(columns: usize, skipped_lines: Vec<u64>) -> HeaderInfo {
        HeaderInfo { names: numbered_columns(columns), line: 0, skipped_lines }
    }
}

/// Names for the columns of a file without a header row: `Column 1`, `Column 2`, ...
pub fn numbered_columns(columns: usize) -> Vec<String> {
    (1..=columns).map(|c| format!("Column {c}")).collect()
}

/// The result of splitting a whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvPlan {
    /// The header.
    pub header: HeaderInfo,
    /// The chunks, in file order.
    pub chunks: Vec<ChunkSpec>,
    /// Data records (after the header), blank ones included.
    pub records: u64,
    /// UTF-8 findings over the whole file.
    pub utf8: Utf8Stats,
    /// Total bytes read.
    pub bytes: u64,
}

/// Why a file cannot be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// The file holds no records at all.
    #[error("the file is empty: no line holds any data")]
    Empty,
    /// The file ends before the header row.
    #[error("the file has {found} non-empty rows, so row {header_row} cannot be the header")]
    NoHeader {
        /// The configured header row.
        header_row: u32,
        /// Non-blank records found.
        found: u32,
    },
    /// A CSV fault.
    #[error(transparent)]
    Csv(#[from] CsvError),
}

/// Splits a CSV stream fed block by block.
#[derive(Debug)]
pub struct CsvSplitter {
    opts: SplitOptions,
    carry: Vec<u8>,
    /// File offset of `carry[0]`.
    carry_offset: u64,
    line: u64,
    header: Option<HeaderInfo>,
    pending_skipped: Vec<u64>,
    nonblank_seen: u32,
    chunks: Vec<ChunkSpec>,
    chunk_start: u64,
    chunk_first_line: u64,
    chunk_records: u32,
    /// The record before the chunk being gathered is an empty row.
    after_blank: bool,
    records: u64,
    utf8: Utf8Stats,
    bytes: u64,
    rec: RecordSpans,
}

impl CsvSplitter {
    /// A splitter for a file whose text starts at `opts.start_offset`.
    pub fn new(opts: SplitOptions) -> CsvSplitter {
        CsvSplitter {
            opts,
            carry: Vec::new(),
            carry_offset: opts.start_offset,
            line: 1,
            header: None,
            pending_skipped: Vec::new(),
            nonblank_seen: 0,
            chunks: Vec::new(),
            chunk_start: 0,
            chunk_first_line: 0,
            chunk_records: 0,
            after_blank: false,
            records: 0,
            utf8: Utf8Stats::default(),
            bytes: 0,
            rec: RecordSpans::default(),
        }
    }

    /// Bytes consumed so far (for progress).
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// The header, once read.
    pub fn header(&self) -> Option<&HeaderInfo> {
        self.header.as_ref()
    }

    /// Feeds the next block of the file (after the byte order mark).
    pub fn feed(&mut self, block: &[u8]) -> Result<(), SplitError> {
        self.bytes += block.len() as u64;
        self.carry.extend_from_slice(block);
        self.consume(false)
    }

    /// Ends the input and returns the plan.
    pub fn finish(mut self) -> Result<CsvPlan, SplitError> {
        self.consume(true)?;
        if self.header.is_none() {
            // Without a header row, what came before the data (an Excel `sep=` line) is no data.
            return Err(if self.nonblank_seen == 0 || self.opts.headerless {
                SplitError::Empty
            } else {
                SplitError::NoHeader { header_row: self.opts.header_row, found: self.nonblank_seen }
            });
        }
        if self.chunk_records > 0 {
            self.close_chunk(self.carry_offset);
        }
        Ok(CsvPlan {
            header: self.header.take().unwrap_or_default(),
            chunks: self.chunks,
            records: self.records,
            utf8: self.utf8,
            bytes: self.bytes,
        })
    }

    fn consume(&mut self, is_final: bool) -> Result<(), SplitError> {
        let carry = std::mem::take(&mut self.carry);
        let mut parser = CsvParser::new(&carry, self.line, self.opts.csv, is_final);
        let mut consumed = 0usize;
        let mut rec = std::mem::take(&mut self.rec);
        let outcome = loop {
            match parser.next_record(&mut rec) {
                Ok(Step::Record) => {
                    let start = self.carry_offset + rec.start as u64;
                    let end = self.carry_offset + rec.end as u64;
                    self.on_record(&rec, &carry, start, end);
                    consumed = rec.end;
                }
                Ok(Step::End) => break Ok(()),
                Ok(Step::Incomplete { open_quote }) => {
                    if carry.len() - consumed > self.opts.csv.max_record_bytes {
                        break Err(CsvError::RecordTooLarge {
                            line: parser.line(),
                            limit: self.opts.csv.max_record_bytes,
                            open_quote,
                        }
                        .into());
                    }
                    break Ok(());
                }
                Err(e) => break Err(e.into()),
            }
        };
        self.utf8.observe(&carry[..consumed], self.line);
        self.line = parser.line();
        self.rec = rec;
        self.carry_offset += consumed as u64;
        self.carry = carry;
        self.carry.drain(..consumed);
        outcome
    }

    fn on_record(&mut self, rec: &RecordSpans, buf: &[u8], start: u64, end: u64) {
        if self.header.is_none() {
            if rec.is_blank(buf) {
                return;
            }
            self.nonblank_seen += 1;
            if self.nonblank_seen < self.opts.header_row {
                self.pending_skipped.push(rec.line);
                return;
            }
            let skipped_lines = std::mem::take(&mut self.pending_skipped);
            if self.opts.headerless {
                // The record is the first data record: it is counted below.
                self.header = Some(HeaderInfo::numbered(rec.header_names(buf).len(), skipped_lines));
            } else {
                self.header = Some(HeaderInfo { names: rec.header_names(buf), line: rec.line, skipped_lines });
                self.chunk_start = end;
                return;
            }
        }
        if self.chunk_records == 0 {
            self.chunk_start = start;
            self.chunk_first_line = rec.line;
        }
        self.chunk_records += 1;
        self.records += 1;
        if self.chunk_records >= self.opts.chunk_rows || end - self.chunk_start >= self.opts.max_chunk_bytes {
            self.close_chunk(end);
            self.after_blank = rec.is_blank(buf);
        }
    }

    fn close_chunk(&mut self, end: u64) {
        self.chunks.push(ChunkSpec {
            index: self.chunks.len() as u32,
            start: self.chunk_start,
            end,
            first_line: self.chunk_first_line,
            records: self.chunk_records,
            after_blank: self.after_blank,
        });
        self.chunk_records = 0;
        self.chunk_start = end;
    }
}

/// Splits a whole in-memory CSV (tests, the synchronous API, the engine benchmark).
pub fn split_bytes(bytes: &[u8], opts: SplitOptions, block: usize) -> Result<CsvPlan, SplitError> {
    let mut splitter = CsvSplitter::new(opts);
    for piece in bytes[opts.start_offset as usize..].chunks(block.max(1)) {
        splitter.feed(piece)?;
    }
    splitter.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(chunk_rows: u32) -> SplitOptions {
        SplitOptions {
            csv: CsvOptions::default(),
            chunk_rows,
            max_chunk_bytes: u64::MAX,
            header_row: 1,
            headerless: false,
            start_offset: 0,
        }
    }

    #[test]
    fn chunks_end_at_record_boundaries_even_inside_quoted_newlines() {
        let data = b"id,note\n1,\"a\nb\"\n2,x\r\n3,\"c\"\"d\"\n4,y\n";
        for block in [1, 2, 3, 7, 64] {
            let plan = split_bytes(data, opts(2), block).unwrap();
            assert_eq!(plan.header.names, vec!["id", "note"]);
            assert_eq!(plan.records, 4);
            let spans: Vec<_> = plan.chunks.iter().map(|c| (c.start, c.end, c.first_line, c.records)).collect();
            assert_eq!(spans, vec![(8, 21, 2, 2), (21, 34, 5, 2)], "block {block}");
        }
    }

    #[test]
    fn an_unterminated_quote_names_its_line_whatever_the_block_size() {
        let data = b"id,note\n1,ok\n2,\"never closed\n3,x\n4,y\n";
        for block in [1, 5, 1000] {
            let err = split_bytes(data, opts(10), block).unwrap_err();
            assert_eq!(err, SplitError::Csv(CsvError::UnterminatedQuote { line: 3, column: 2 }), "block {block}");
        }
    }

    #[test]
    fn a_runaway_quote_stops_at_the_record_limit_and_says_where_it_opened() {
        let mut data = b"id,note\n1,\"open\n".to_vec();
        data.extend(std::iter::repeat_n(b"filler line\n".as_slice(), 200).flatten());
        let mut o = opts(10);
        o.csv.max_record_bytes = 1000;
        o.csv.max_field_bytes = 100_000;
        let err = split_bytes(&data, o, 256).unwrap_err();
        assert_eq!(err, SplitError::Csv(CsvError::RecordTooLarge { line: 2, limit: 1000, open_quote: Some((2, 2)) }));
    }

    #[test]
    fn empty_and_header_only_files_have_defined_outcomes() {
        assert_eq!(split_bytes(b"", opts(10), 8).unwrap_err(), SplitError::Empty);
        assert_eq!(split_bytes(b"\n\r\n  \n", opts(10), 8).unwrap_err(), SplitError::Empty);
        let plan = split_bytes(b"id,name\n", opts(10), 8).unwrap();
        assert_eq!((plan.records, plan.chunks.len()), (0, 0));
        let mut o = opts(10);
        o.header_row = 3;
        assert_eq!(split_bytes(b"a\nb\n", o, 8).unwrap_err(), SplitError::NoHeader { header_row: 3, found: 2 });
    }

    #[test]
    fn rows_above_the_header_are_skipped_and_reported() {
        let mut o = opts(10);
        o.header_row = 2;
        let plan = split_bytes(b"Export of 2024-06-01\n\nid,name\n1,a\n", o, 4).unwrap();
        assert_eq!(plan.header.line, 3);
        assert_eq!(plan.header.skipped_lines, vec![1]);
        assert_eq!(plan.chunks[0].first_line, 4);
    }

    #[test]
    fn without_a_header_row_every_record_is_data_and_columns_are_numbered() {
        let o = SplitOptions { headerless: true, ..opts(2) };
        for block in [1, 3, 4096] {
            let plan = split_bytes(b"\n1,\"a\nb\",x\n2,c,y\n3,d,z\n", o, block).unwrap();
            assert_eq!(
                plan.header,
                HeaderInfo {
                    names: vec!["Column 1".into(), "Column 2".into(), "Column 3".into()],
                    line: 0,
                    skipped_lines: vec![]
                }
            );
            assert_eq!(plan.records, 3, "block {block}");
            let spans: Vec<_> = plan.chunks.iter().map(|c| (c.start, c.first_line, c.records)).collect();
            assert_eq!(spans, vec![(1, 2, 2), (17, 5, 1)], "block {block}");
        }
        // Rows `header_row` passes over (an Excel `sep=` line) are skipped above the data.
        let plan = split_bytes(b"sep=,\n1,a\n", SplitOptions { header_row: 2, ..o }, 4).unwrap();
        assert_eq!((plan.header.line, plan.header.skipped_lines.clone(), plan.records), (0, vec![1], 1));
        assert_eq!(split_bytes(b"\n\n", o, 4).unwrap_err(), SplitError::Empty);
        assert_eq!(split_bytes(b"sep=;\n\n", SplitOptions { header_row: 2, ..o }, 4).unwrap_err(), SplitError::Empty);
    }

    #[test]
    fn chunks_are_cut_early_when_they_grow_too_large() {
        let mut o = opts(1000);
        o.max_chunk_bytes = 10;
        let plan = split_bytes(b"h\naaaaaa\nbbbbbb\ncccccc\n", o, 3).unwrap();
        assert_eq!(plan.chunks.iter().map(|c| c.records).collect::<Vec<_>>(), vec![2, 1]);
    }
}
