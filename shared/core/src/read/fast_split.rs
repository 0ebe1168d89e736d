//! Cutting a well-formed CSV into chunks without parsing it: quote parity.
//!
//! In RFC 4180 CSV, a line break is a record boundary exactly when an even number of `"` came
//! before it in the file, because quotes inside quoted fields come in `""` pairs. So one memchr
//! pass over `"`, `\n` and `\r` finds boundaries, counts physical lines and leaves the real
//! parsing to the chunk workers, in parallel. The splitter still parses the header with the real
//! reader.
//!
//! Parity can be fooled by a quote inside an unquoted field (`ab"c`), which the reader keeps as
//! text. A boundary placed by a fooled parity lies inside a quoted field, so the chunk before it
//! ends inside quotes and its worker meets an unterminated quote, which is how the pipeline
//! notices and falls back to the exact [`super::split::CsvSplitter`]. A file whose parity is odd
//! at the end is sent to the exact splitter at once.

use memchr::memchr3_iter;

use super::ChunkSpec;
use super::csv::{CsvParser, RecordSpans, Step};
use super::encoding::Utf8Stats;
use super::split::{HeaderInfo, SplitError, SplitOptions};

/// Splits a CSV stream fed block by block; chunks come out as soon as they are complete.
#[derive(Debug)]
pub struct FastCsvSplitter {
    opts: SplitOptions,
    /// Bytes kept while the header is not yet read.
    carry: Vec<u8>,
    header: Option<HeaderInfo>,
    nonblank_seen: u32,
    pending_skipped: Vec<u64>,
    /// File offset of the next byte to scan.
    offset: u64,
    /// Physical line of the next byte.
    line: u64,
    in_quotes: bool,
    /// The previous byte was `\r` (its line is counted; a following `\n` is not).
    after_cr: bool,
    chunk_start: u64,
    chunk_first_line: u64,
    /// Bytes per chunk, estimated from the records around the header.
    target: u64,
    /// Record ends seen (out of quotes) since the chunk's start: a chunk also ends at
    /// `chunk_rows` of them, so short rows after long ones never make a chunk of millions.
    records: u32,
    /// File offset where the record being scanned starts (after the last record end counted).
    record_start: u64,
    /// The bytes of that record from earlier blocks, while they fit a record's size limit
    /// (`None` once they did not: such a record is no empty row).
    record_head: Option<Vec<u8>>,
    /// The record before the chunk being gathered is an empty row.
    after_blank: bool,
    chunks: u32,
    utf8: Utf8Stats,
    utf8_carry: Vec<u8>,
    bytes: u64,
}

/// How a fast split ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastPlan {
    /// The header.
    pub header: HeaderInfo,
    /// The last chunks (the earlier ones came out of `feed`).
    pub last: Vec<ChunkSpec>,
    /// Chunks in all.
    pub chunk_count: u32,
    /// UTF-8 findings over the whole file.
    pub utf8: Utf8Stats,
    /// The file ended inside quotes: only the exact splitter can say where the fault is.
    pub needs_exact: bool,
}

impl FastCsvSplitter {
    /// A splitter for a file whose text starts at `opts.start_offset`.
    pub fn new(opts: SplitOptions) -> FastCsvSplitter {
        FastCsvSplitter {
            opts,
            carry: Vec::new(),
            header: None,
            nonblank_seen: 0,
            pending_skipped: Vec::new(),
            offset: opts.start_offset,
            line: 1,
            in_quotes: false,
            after_cr: false,
            chunk_start: 0,
            chunk_first_line: 0,
            target: u64::MAX,
            records: 0,
            record_start: opts.start_offset,
            record_head: Some(Vec::new()),
            after_blank: false,
            chunks: 0,
            utf8: Utf8Stats::default(),
            utf8_carry: Vec::new(),
            bytes: 0,
        }
    }

    /// The header, once read.
    pub fn header(&self) -> Option<&HeaderInfo> {
        self.header.as_ref()
    }

    /// Bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// Feeds the next block; returns the chunks it completed.
    pub fn feed(&mut self, block: &[u8]) -> Result<Vec<ChunkSpec>, SplitError> {
        self.bytes += block.len() as u64;
        self.check_utf8(block, false);
        if self.header.is_none() {
            self.carry.extend_from_slice(block);
            return self.read_header(false);
        }
        Ok(self.scan(block))
    }

    /// Ends the input.
    pub fn finish(mut self) -> Result<FastPlan, SplitError> {
        self.check_utf8(&[], true);
        let mut last = if self.header.is_none() { self.read_header(true)? } else { Vec::new() };
        let Some(header) = self.header.take() else {
            // Without a header row, what came before the data (an Excel `sep=` line) is no data.
            return Err(if self.nonblank_seen == 0 || self.opts.headerless {
                SplitError::Empty
            } else {
                SplitError::NoHeader { header_row: self.opts.header_row, found: self.nonblank_seen }
            });
        };
        // A last record without a line break, or trailing whitespace-only lines: one more chunk
        // (the worker skips blank rows).
        if self.offset > self.chunk_start {
            last.push(self.cut(self.offset));
        }
        Ok(FastPlan { header, last, chunk_count: self.chunks, utf8: self.utf8, needs_exact: self.in_quotes })
    }

    fn check_utf8(&mut self, block: &[u8], last: bool) {
        // Blocks may split a character: validate up to the last whole one, carry the rest.
        let mut region = std::mem::take(&mut self.utf8_carry);
        region.extend_from_slice(block);
        let keep = if last {
            0
        } else {
            let tail = region.len().saturating_sub(3);
            (tail..region.len()).find(|&i| region[i] >= 0xC0).map_or(0, |i| region.len() - i)
        };
        let cut = region.len() - keep;
        self.utf8.observe(&region[..cut], self.line);
        self.utf8_carry = region[cut..].to_vec();
    }

    /// Parses records until the header is found; then scans what is left.
    fn read_header(&mut self, is_final: bool) -> Result<Vec<ChunkSpec>, SplitError> {
        let carry = std::mem::take(&mut self.carry);
        // The carry holds the text from its start: the rows above the header are counted anew.
        self.nonblank_seen = 0;
        self.pending_skipped.clear();
        let mut parser = CsvParser::new(&carry, self.line, self.opts.csv, is_final);
        let mut rec = RecordSpans::default();
        loop {
            match parser.next_record(&mut rec)? {
                Step::Record => {
                    if rec.is_blank(&carry) {
                        continue;
                    }
                    self.nonblank_seen += 1;
                    if self.nonblank_seen < self.opts.header_row {
                        self.pending_skipped.push(rec.line);
                        continue;
                    }
                    let names = rec.header_names(&carry);
                    let skipped_lines = std::mem::take(&mut self.pending_skipped);
                    // Data starts below the header, or with no header row, at this record.
                    let (header, at, line) = if self.opts.headerless {
                        (HeaderInfo::numbered(names.len(), skipped_lines), rec.start, rec.line)
                    } else {
                        (HeaderInfo { names, line: rec.line, skipped_lines }, rec.end, parser.line())
                    };
                    self.header = Some(header);
                    // Everything fed so far is still in `carry`, which starts at the text's start.
                    let data = &carry[at..];
                    self.offset = self.opts.start_offset + at as u64;
                    self.after_cr = at > 0 && carry[at - 1] == b'\r';
                    self.line = line;
                    self.chunk_start = self.offset;
                    self.record_start = self.offset;
                    self.chunk_first_line = self.line;
                    self.target = self.estimate_target(data, is_final);
                    return Ok(self.scan(data));
                }
                Step::Incomplete { open_quote } => {
                    if carry.len() > self.opts.csv.max_record_bytes {
                        return Err(SplitError::Csv(super::csv::CsvError::RecordTooLarge {
                            line: parser.line(),
                            limit: self.opts.csv.max_record_bytes,
                            open_quote,
                        }));
                    }
                    self.carry = carry;
                    return Ok(Vec::new());
                }
                Step::End => {
                    self.carry = carry;
                    return Ok(Vec::new());
                }
            }
        }
    }

    /// Bytes per chunk: `chunk_rows` records at the average size of the first records.
    fn estimate_target(&self, data: &[u8], is_final: bool) -> u64 {
        let sample = &data[..data.len().min(256 * 1024)];
        let mut parser = CsvParser::new(sample, 1, self.opts.csv, is_final && sample.len() == data.len());
        let mut rec = RecordSpans::default();
        let mut records = 0u64;
        let mut end = 0usize;
        while let Ok(Step::Record) = parser.next_record(&mut rec) {
            records += 1;
            end = rec.end;
        }
        let average = (end as u64).checked_div(records).unwrap_or(256).max(1);
        average.saturating_mul(u64::from(self.opts.chunk_rows)).clamp(1, self.opts.max_chunk_bytes.max(1))
    }

    /// Scans data bytes (after the header) for boundaries.
    fn scan(&mut self, data: &[u8]) -> Vec<ChunkSpec> {
        let mut out = Vec::new();
        let base = self.offset;
        for pos in memchr3_iter(b'"', b'\n', b'\r', data) {
            let abs = base + pos as u64;
            match data[pos] {
                b'"' => self.in_quotes = !self.in_quotes,
                b'\n' => {
                    let crlf = if pos == 0 { self.after_cr } else { data[pos - 1] == b'\r' };
                    if !crlf {
                        self.line += 1;
                    }
                    if !self.in_quotes && self.record_ends(abs + 1) {
                        out.push(self.cut_after(data, base, abs + 1));
                    }
                }
                _ => {
                    // '\r' ends a line; when '\n' follows, the boundary comes after it. At the
                    // end of a block the next byte is unknown, so no cut there (a skipped
                    // boundary only makes a chunk longer).
                    self.line += 1;
                    let lone = data.get(pos + 1).is_some_and(|b| *b != b'\n');
                    if lone && !self.in_quotes && self.record_ends(abs + 1) {
                        out.push(self.cut_after(data, base, abs + 1));
                    }
                }
            }
        }
        self.after_cr = data.last() == Some(&b'\r');
        self.offset = base + data.len() as u64;
        // Keep what this block holds of the record it ends in, for telling whether that record
        // is an empty row if a chunk ends with it. (After a `\r` that ended a block, the record
        // before it is held too: room for two.)
        let limit = self.opts.csv.max_record_bytes.saturating_mul(2).saturating_add(2);
        if self.record_start >= base {
            let tail = &data[(self.record_start - base) as usize..];
            self.record_head = (tail.len() <= limit).then(|| tail.to_vec());
        } else if let Some(head) = self.record_head.as_mut() {
            head.extend_from_slice(&data[..data.len().min(limit + 1)]);
            if head.len() > limit {
                self.record_head = None;
            }
        }
        out
    }

    /// Ends the chunk at `end`, the end of a record that started at `record_start`.
    fn cut_after(&mut self, data: &[u8], base: u64, end: u64) -> ChunkSpec {
        let upto = (end - base) as usize;
        let blank = if self.record_start >= base {
            last_record_is_blank(&data[(self.record_start - base) as usize..upto], self.opts.csv)
        } else {
            self.record_head.as_ref().is_some_and(|head| {
                let mut record = head.clone();
                record.extend_from_slice(&data[..upto]);
                last_record_is_blank(&record, self.opts.csv)
            })
        };
        let spec = self.cut(end);
        self.after_blank = blank;
        spec
    }

    /// Counts a record ending at `end`; whether the chunk ends there (by bytes or records).
    fn record_ends(&mut self, end: u64) -> bool {
        self.records += 1;
        let cut = end - self.chunk_start >= self.target || self.records >= self.opts.chunk_rows;
        if !cut {
            self.record_start = end;
        }
        cut
    }

    fn cut(&mut self, end: u64) -> ChunkSpec {
        let spec = ChunkSpec {
            index: self.chunks,
            start: self.chunk_start,
            end,
            first_line: self.chunk_first_line,
            records: 0,
            after_blank: self.after_blank,
        };
        self.chunks += 1;
        self.records = 0;
        self.chunk_start = end;
        self.record_start = end;
        self.chunk_first_line = self.line;
        spec
    }
}

/// Whether the last record of `bytes` (which start at a record's start) is an empty row, as the
/// chunk worker will read it: a cut may follow a missed record end (a `\r` at a block's end), so
/// the bytes can hold more than one record.
fn last_record_is_blank(bytes: &[u8], csv: super::csv::CsvOptions) -> bool {
    let mut parser = CsvParser::new(bytes, 1, csv, true);
    let mut rec = RecordSpans::default();
    let mut blank = false;
    while let Ok(Step::Record) = parser.next_record(&mut rec) {
        blank = rec.is_blank(bytes);
    }
    blank
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::csv::CsvOptions;
    use crate::read::split::split_bytes;

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

    fn fast(data: &[u8], chunk_rows: u32, block: usize) -> (Vec<ChunkSpec>, FastPlan) {
        fast_with(data, opts(chunk_rows), block)
    }

    fn fast_with(data: &[u8], o: SplitOptions, block: usize) -> (Vec<ChunkSpec>, FastPlan) {
        let mut s = FastCsvSplitter::new(o);
        let mut chunks = Vec::new();
        for piece in data.chunks(block.max(1)) {
            chunks.extend(s.feed(piece).unwrap());
        }
        let plan = s.finish().unwrap();
        chunks.extend(plan.last.clone());
        (chunks, plan)
    }

    /// Every fast boundary is an exact record boundary, with the same line number.
    fn check_against_exact(data: &[u8]) {
        check_against_exact_with(data, opts(1));
    }

    fn check_against_exact_with(data: &[u8], o: SplitOptions) {
        let exact = split_bytes(data, o, 64).unwrap();
        let starts: Vec<(u64, u64, bool)> =
            exact.chunks.iter().map(|c| (c.start, c.first_line, c.after_blank)).collect();
        for block in [1, 2, 3, 5, 8, 13, 4096] {
            let (chunks, plan) = fast_with(data, o, block);
            assert_eq!(plan.header, exact.header);
            assert!(!plan.needs_exact);
            assert_eq!(chunks.first().map(|c| c.start), exact.chunks.first().map(|c| c.start), "block {block}");
            for c in &chunks {
                assert!(
                    starts.contains(&(c.start, c.first_line, c.after_blank)),
                    "block {block}: {c:?} not at an exact boundary in {starts:?}"
                );
            }
            for w in chunks.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            assert_eq!(chunks.last().map(|c| c.end), Some(data.len() as u64));
        }
    }

    #[test]
    fn boundaries_and_lines_match_the_exact_splitter_whatever_the_line_endings() {
        check_against_exact(b"id,note\n1,\"a\nb\"\n2,x\r\n3,\"c\"\"d\"\n4,y\n");
        check_against_exact(b"id,note\r\n1,\"a\r\nb\"\r\n2,x\r\n3,y");
        check_against_exact(b"id,note\r1,\"a\rb\"\r2,x\r3,y\r");
        check_against_exact(b"id,note\n1,a\r\n2,\"b\r\n\"\r3,c\n\n4,d\n");
    }

    #[test]
    fn a_chunk_says_whether_the_record_before_it_is_an_empty_row() {
        // Empty rows of every kind, quoted and in CR, LF and CRLF lines, before and between data;
        // with one record a chunk, every kind ends a chunk, in blocks small enough to split it.
        check_against_exact(b"id,note\n\n,\n1,a\r\n \t,\"\"\r\n=\"\",\r2,\"b\n\"\n\"\",\"\"\n\r\n3,c\n,,\n");
        let (chunks, _) = fast(b"id,note\n1,a\n,\n,\n2,\"\n\"\n3,c", 1, 4096);
        let flags: Vec<(u64, bool)> = chunks.iter().map(|c| (c.first_line, c.after_blank)).collect();
        assert_eq!(flags, [(2, false), (3, false), (4, true), (5, true), (7, false)]);
    }

    #[test]
    fn without_a_header_row_data_starts_at_the_first_record_as_the_exact_splitter_has_it() {
        let headerless = SplitOptions { headerless: true, ..opts(1) };
        check_against_exact_with(b"1,\"a\nb\"\n2,x\r\n3,y\n", headerless);
        check_against_exact_with(b"\r\n\r\n1,a\r\n2,b", headerless);
        check_against_exact_with(b"\r1,a\r2,\"b\r\"\r", headerless);
        // An Excel `sep=` line above the data (counted by `header_row`).
        check_against_exact_with(b"sep=,\n1,a\n2,b\n", SplitOptions { header_row: 2, ..headerless });
        let (chunks, plan) = fast_with(b"\n1,a,\n2,b,c\n", headerless, 3);
        assert_eq!(plan.header, HeaderInfo::numbered(3, vec![]));
        assert_eq!((chunks[0].start, chunks[0].first_line), (1, 2));
    }

    #[test]
    fn a_file_ending_inside_quotes_needs_the_exact_splitter() {
        let (_, plan) = fast(b"id,note\n1,\"open\n2,x\n", 1, 4);
        assert!(plan.needs_exact);
    }

    #[test]
    fn chunk_sizes_follow_chunk_rows() {
        let mut data = b"id,name\n".to_vec();
        for i in 0..1000 {
            data.extend_from_slice(format!("{i},name number {i}\n").as_bytes());
        }
        let (chunks, _) = fast(&data, 100, 4096);
        assert!((8..=14).contains(&chunks.len()), "{} chunks", chunks.len());
    }

    #[test]
    fn short_rows_after_long_ones_still_make_chunks_of_chunk_rows() {
        // The byte target comes from the first records: here 200 times the later rows' size.
        let mut data = b"id,name\n".to_vec();
        for i in 0..20 {
            data.extend_from_slice(format!("{i},{}\n", "x".repeat(1000)).as_bytes());
        }
        for i in 20..10_000 {
            data.extend_from_slice(format!("{i},a\n").as_bytes());
        }
        for block in [7, 4096, 1 << 20] {
            let (chunks, _) = fast(&data, 100, block);
            assert!(chunks.len() >= 100, "block {block}: {} chunks", chunks.len());
            for c in &chunks {
                let rows = data[c.start as usize..c.end as usize].iter().filter(|b| **b == b'\n').count();
                assert!(rows <= 100, "block {block}: {c:?} holds {rows} rows");
            }
        }
    }

    #[test]
    fn rows_above_the_header_are_counted_once_however_the_file_arrives() {
        let data = b"title\n\nnote,x\nid,name\n1,a\n";
        for block in [1, 2, 3, 7, 4096] {
            let mut s = FastCsvSplitter::new(SplitOptions { header_row: 3, ..opts(1) });
            for piece in data.chunks(block) {
                s.feed(piece).unwrap();
            }
            let plan = s.finish().unwrap();
            assert_eq!(plan.header.names, vec!["id", "name"], "block {block}");
            assert_eq!(plan.header.line, 4);
            assert_eq!(plan.header.skipped_lines, vec![1, 3]);
        }
        // Fewer rows than `header_row`: no header, whether the rows came in one block or many.
        for block in [1, 4096] {
            let mut s = FastCsvSplitter::new(SplitOptions { header_row: 2, ..opts(1) });
            for piece in b"a,b\n".chunks(block) {
                s.feed(piece).unwrap();
            }
            assert_eq!(s.finish().unwrap_err(), SplitError::NoHeader { header_row: 2, found: 1 }, "block {block}");
        }
    }

    #[test]
    fn the_header_may_arrive_over_several_blocks() {
        let (chunks, plan) = fast(b"\n\nid,\"long\nheader\"\n1,a\n", 1, 3);
        assert_eq!(plan.header.names, vec!["id", "long\nheader"]);
        assert_eq!(plan.header.line, 3);
        assert_eq!(chunks[0].first_line, 5);
    }
}
