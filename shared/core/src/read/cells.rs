//! Header, skipped rows and chunking for decoded records (spreadsheets and JSON).
//!
//! Workbooks and JSON cannot be cut by byte range, so the splitter converts them: records are
//! written as JSON lines of [`StoredRecord`] into chunk objects of `chunk_rows` records each, and
//! chunk workers read those back through the same engine as CSV.

use super::ChunkSpec;
use super::split::HeaderInfo;
use crate::mapping::HEADER_SEARCH_ROWS;
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
    /// Header cells that are dates (column, serial as `f64` bits): named in the 1900 system while
    /// the sheet is read, renamed by [`CellsPlan::date_headers_in`] once its system is known.
    pub header_dates: Vec<(usize, u64)>,
}

impl CellsPlan {
    /// Names the header's date cells as the workbook's date system shows them.
    pub fn date_headers_in(&mut self, is_1904: bool) {
        for &(column, bits) in &self.header_dates {
            if let Some(name) = self.header.names.get_mut(column) {
                *name = crate::convert::serial_text(f64::from_bits(bits), is_1904);
            }
        }
    }
}

/// A header cell's name: its text, a date cell as the sheet shows it (`2024-01-31`, not the
/// serial `45322`), in the 1900 system until the workbook's is known.
fn header_names(cells: &[CellRef<'_>]) -> (Vec<String>, Vec<(usize, u64)>) {
    let mut dates = Vec::new();
    let names = cells
        .iter()
        .enumerate()
        .map(|(i, c)| match c {
            CellRef::ExcelDate(serial) | CellRef::ExcelDateTime(serial) => {
                dates.push((i, serial.to_bits()));
                crate::convert::serial_text(*serial, false)
            }
            CellRef::ExcelTime(serial) => crate::convert::serial_time_text(*serial),
            other => other.display().trim().to_string(),
        })
        .collect();
    (names, dates)
}

/// Picks the header among the first non-empty rows' trimmed texts (see
/// [`crate::mapping::header_below_titles`]); `None` keeps the first.
pub type HeaderChoice = Box<dyn Fn(&[Vec<String>]) -> Option<usize> + Send>;

/// Records held at most (blank ones included) before the header is chosen.
const MAX_HELD: usize = 1_000;

/// A record held while the header is chosen.
struct Held {
    line: u64,
    names: Vec<String>,
    dates: Vec<(usize, u64)>,
    /// The record as a stored JSON line (without its newline).
    stored: Vec<u8>,
    blank: bool,
}

/// Converts records into chunk objects, handing each finished chunk to `on_chunk`.
pub struct CellsSplitter<F> {
    chunk_rows: u32,
    header_row: u32,
    /// No header row: the `header_row`-th non-blank record is the first data record.
    headerless: bool,
    /// With no header row, the most columns up to a non-blank cell in a data record: a sheet
    /// leaves trailing empty cells out, so the first row may be narrower than the sheet.
    widest: usize,
    header: Option<HeaderInfo>,
    /// The header's date cells (see [`CellsPlan::header_dates`]).
    header_dates: Vec<(usize, u64)>,
    /// While set, the first non-empty records are held and this picks the header among them.
    choose: Option<HeaderChoice>,
    held: Vec<Held>,
    skipped: Vec<u64>,
    nonblank_seen: u32,
    buf: Vec<u8>,
    first_line: u64,
    in_chunk: u32,
    /// The record before the chunk being gathered is an empty row.
    after_blank: bool,
    /// The last record stored is an empty row.
    last_blank: bool,
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
            headerless: false,
            widest: 0,
            header: None,
            header_dates: Vec::new(),
            choose: None,
            held: Vec::new(),
            skipped: Vec::new(),
            nonblank_seen: 0,
            buf: Vec::new(),
            first_line: 0,
            in_chunk: 0,
            after_blank: false,
            last_blank: false,
            chunks: Vec::new(),
            records: 0,
            on_chunk,
        }
    }

    /// A splitter for a sheet without a header row: the `header_row`-th non-blank record is the
    /// first data record and columns are named by number (no header is chosen).
    pub fn headerless(mut self) -> Self {
        self.headerless = true;
        self.choose = None;
        self
    }

    /// Holds the first [`HEADER_SEARCH_ROWS`] non-empty records and lets `choose` pick the
    /// header among them (for a header row left at 1: a title may sit above the header).
    pub fn choosing_header(mut self, choose: HeaderChoice) -> Self {
        if self.header_row == 1 && !self.headerless {
            self.choose = Some(choose);
        }
        self
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
        if self.header.is_none() && self.choose.is_some() {
            return self.hold(line, cells);
        }
        if self.header.is_none() {
            if cells.iter().all(CellRef::is_blank) {
                return Ok(());
            }
            self.nonblank_seen += 1;
            if self.nonblank_seen < self.header_row {
                self.skipped.push(line);
                return Ok(());
            }
            let skipped_lines = std::mem::take(&mut self.skipped);
            if self.headerless {
                // The record is the first data record: it is stored below.
                self.header = Some(HeaderInfo::numbered(cells.len(), skipped_lines));
            } else {
                let (names, dates) = header_names(&cells);
                self.header_dates = dates;
                self.header = Some(HeaderInfo { names, line, skipped_lines });
                return Ok(());
            }
        }
        if self.in_chunk == 0 {
            self.first_line = line;
        }
        if self.headerless {
            let width = cells.iter().rposition(|c| !c.is_blank()).map_or(0, |i| i + 1);
            self.widest = self.widest.max(width);
        }
        self.last_blank = cells.iter().all(CellRef::is_blank);
        let stored = StoredRecord(line, cells.into_iter().map(StoredCell::from_cell_ref).collect());
        // Serializing a record of strings, numbers and booleans cannot fail.
        if serde_json::to_writer(&mut self.buf, &stored).is_ok() {
            self.buf.push(b'\n');
        }
        self.counted()
    }

    /// Holds a record while the header is not chosen; chooses once enough are held.
    fn hold(&mut self, line: u64, cells: Vec<CellRef<'_>>) -> Result<(), E> {
        let blank = cells.iter().all(CellRef::is_blank);
        if blank && self.held.is_empty() {
            return Ok(());
        }
        let (names, dates) = header_names(&cells);
        let stored = StoredRecord(line, cells.into_iter().map(StoredCell::from_cell_ref).collect());
        let stored = serde_json::to_vec(&stored).unwrap_or_default();
        self.held.push(Held { line, names, dates, stored, blank });
        // Blank rows count towards a cap, so a title over a sea of empty formatted rows is not
        // held whole.
        if self.held.len() >= MAX_HELD || self.held.iter().filter(|h| !h.blank).count() >= HEADER_SEARCH_ROWS {
            self.choose_header()?;
        }
        Ok(())
    }

    /// Takes the chosen header from the held records; those below it become data records.
    fn choose_header(&mut self) -> Result<(), E> {
        let Some(choose) = self.choose.take() else {
            return Ok(());
        };
        let held = std::mem::take(&mut self.held);
        let candidates: Vec<Vec<String>> = held.iter().filter(|h| !h.blank).map(|h| h.names.clone()).collect();
        if candidates.is_empty() {
            return Ok(());
        }
        let pick = choose(&candidates).filter(|i| *i < candidates.len()).unwrap_or(0);
        let at = held.iter().enumerate().filter(|(_, h)| !h.blank).nth(pick).map_or(0, |(i, _)| i);
        self.nonblank_seen = pick as u32 + 1;
        let mut rest = held.into_iter();
        let skipped = rest.by_ref().take(at).filter(|h| !h.blank).map(|h| h.line).collect();
        let header = rest.next().expect("the pick is among the held records");
        self.header_dates = header.dates;
        self.header = Some(HeaderInfo { names: header.names, line: header.line, skipped_lines: skipped });
        for record in rest {
            if self.in_chunk == 0 {
                self.first_line = record.line;
            }
            self.buf.extend_from_slice(&record.stored);
            self.buf.push(b'\n');
            self.last_blank = record.blank;
            self.counted()?;
        }
        Ok(())
    }

    /// Counts a record written into the chunk buffer; closes the chunk when full.
    fn counted(&mut self) -> Result<(), E> {
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
            after_blank: self.after_blank,
        };
        self.after_blank = self.last_blank;
        self.chunks.push(spec);
        self.in_chunk = 0;
        (self.on_chunk)(spec, std::mem::take(&mut self.buf))
    }

    /// Ends the input. `None` when no header was found (an empty sheet), with the count of
    /// non-blank rows seen.
    pub fn finish(mut self) -> Result<Result<CellsPlan, u32>, E> {
        self.choose_header()?;
        if self.in_chunk > 0 {
            self.close()?;
        }
        Ok(match self.header {
            Some(mut header) => {
                if self.headerless {
                    header.names = super::split::numbered_columns(self.widest);
                }
                Ok(CellsPlan { header, chunks: self.chunks, records: self.records, header_dates: self.header_dates })
            }
            None => Err(self.nonblank_seen),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn a_date_cell_in_the_header_is_named_as_the_sheet_shows_it() {
        let mut s = CellsSplitter::new(10, 1, |_, _| Ok::<(), ()>(()));
        s.push(1, vec![CellRef::Str(Cow::Borrowed("id")), CellRef::ExcelDate(45322.0), CellRef::Number(1.5)]).unwrap();
        let mut plan = s.finish().unwrap().unwrap();
        assert_eq!(plan.header.names, ["id", "2024-01-31", "1.5"]);
        let mut in_1904 = plan.clone();
        in_1904.date_headers_in(true);
        assert_eq!(in_1904.header.names[1], "2028-02-01");
        plan.date_headers_in(false);
        assert_eq!(plan.header.names[1], "2024-01-31");
    }

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

    #[test]
    fn a_chunk_says_whether_the_record_before_it_is_an_empty_row() {
        // Held while the header is chosen, and pushed after it: the flag is the same.
        for choose in [false, true] {
            let mut specs: Vec<ChunkSpec> = Vec::new();
            let mut s = CellsSplitter::new(2, 1, |spec, _| {
                specs.push(spec);
                Ok::<(), ()>(())
            });
            if choose {
                s = s.choosing_header(Box::new(|_: &[Vec<String>]| Some(0)));
            }
            s.push(1, vec![CellRef::Str(Cow::Borrowed("id"))]).unwrap();
            let empty = || vec![CellRef::Empty, CellRef::Str(Cow::Borrowed(" "))];
            let row = |n: f64| vec![CellRef::Number(n)];
            for (line, cells) in [(2, row(1.0)), (3, empty()), (4, empty()), (5, row(2.0)), (6, empty()), (7, row(3.0))]
            {
                s.push(line, cells).unwrap();
            }
            s.finish().unwrap().unwrap();
            let flags: Vec<(u64, bool)> = specs.iter().map(|c| (c.first_line, c.after_blank)).collect();
            assert_eq!(flags, [(2, false), (4, true), (6, false)], "choosing the header: {choose}");
        }
    }

    #[test]
    fn without_a_header_row_the_first_record_is_data_and_the_widest_row_counts_the_columns() {
        let mut out: Vec<(ChunkSpec, Vec<u8>)> = Vec::new();
        let mut s = CellsSplitter::new(10, 1, |spec, bytes| {
            out.push((spec, bytes));
            Ok::<(), ()>(())
        })
        .headerless()
        .choosing_header(Box::new(|_| Some(1)));
        s.push(1, vec![CellRef::Empty]).unwrap();
        s.push(2, vec![CellRef::Number(1.0), text("a")]).unwrap();
        s.push(3, vec![CellRef::Number(2.0), text("b"), CellRef::Number(5.0), CellRef::Empty]).unwrap();
        let plan = s.finish().unwrap().unwrap();
        assert_eq!(plan.header, HeaderInfo::numbered(3, vec![]));
        assert_eq!(plan.records, 2);
        assert_eq!((out[0].0.first_line, out[0].0.records), (2, 2));
    }

    fn text(s: &'static str) -> CellRef<'static> {
        CellRef::Str(Cow::Borrowed(s))
    }

    /// Each chunk's records as (line, number of cells).
    type Chunks = Vec<Vec<(u64, usize)>>;

    /// Records pushed through a splitter: the plan, and the chunks' records.
    fn run(choose: Option<HeaderChoice>, records: &[(u64, Vec<CellRef<'static>>)]) -> (Result<CellsPlan, u32>, Chunks) {
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut s = CellsSplitter::new(2, 1, |_, bytes| {
            out.push(bytes);
            Ok::<(), ()>(())
        });
        if let Some(choose) = choose {
            s = s.choosing_header(choose);
        }
        for (line, cells) in records {
            s.push(*line, cells.clone()).unwrap();
        }
        let plan = s.finish().unwrap();
        let chunks = out
            .iter()
            .map(|bytes| {
                std::str::from_utf8(bytes)
                    .unwrap()
                    .lines()
                    .map(|l| {
                        let rec: StoredRecord<'_> = serde_json::from_str(l).unwrap();
                        (rec.0, rec.1.len())
                    })
                    .collect()
            })
            .collect();
        (plan, chunks)
    }

    #[test]
    fn a_chosen_header_takes_the_rows_above_as_skipped_and_the_rows_below_as_data() {
        let records = vec![
            (1, vec![text("Sales report")]),
            (2, vec![CellRef::Empty]),
            (3, vec![text("id"), text("name")]),
            (4, vec![CellRef::Number(1.0), text("a")]),
            (5, vec![CellRef::Empty, CellRef::Empty]),
            (6, vec![CellRef::Number(2.0), text("b")]),
            (7, vec![CellRef::Number(3.0), text("c")]),
        ];
        let pick_id = |rows: &[Vec<String>]| rows.iter().position(|r| r.first().is_some_and(|c| c == "id"));
        let (plan, chunks) = run(Some(Box::new(pick_id)), &records);
        let plan = plan.unwrap();
        assert_eq!(plan.header.names, vec!["id", "name"]);
        assert_eq!((plan.header.line, plan.header.skipped_lines.clone()), (3, vec![1]));
        // Every record below the header, the blank one too, in order and in chunks of two.
        assert_eq!(chunks, vec![vec![(4, 2), (5, 2)], vec![(6, 2), (7, 2)]]);
        assert_eq!(plan.records, 4);

        // Choosing the first row gives what a splitter that does not choose gives.
        let (kept, kept_chunks) = run(Some(Box::new(|_: &[Vec<String>]| None)), &records);
        let (plain, plain_chunks) = run(None, &records);
        assert_eq!(kept, plain);
        assert_eq!(kept_chunks, plain_chunks);
        assert_eq!(kept.unwrap().header.line, 1);

        // More rows than are held: the choice is made once enough are held, the rest streams.
        let many: Vec<(u64, Vec<CellRef<'static>>)> = (1..=30).map(|l| (l, vec![CellRef::Number(l as f64)])).collect();
        let (plan, chunks) = run(Some(Box::new(|_: &[Vec<String>]| Some(1))), &many);
        assert_eq!(plan.unwrap().header.line, 2);
        let lines: Vec<u64> = chunks.iter().flatten().map(|(l, _)| *l).collect();
        assert_eq!(lines, (3..=30).collect::<Vec<_>>());

        // A title over many blank rows: the choice is made among what is held so far.
        let mut sparse: Vec<(u64, Vec<CellRef<'static>>)> = vec![(1, vec![text("Report")])];
        sparse.extend((2..=2_000).map(|l| (l, vec![CellRef::Empty])));
        sparse.push((2_001, vec![text("id")]));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(0));
        let counted = seen.clone();
        let choose = move |rows: &[Vec<String>]| {
            *counted.lock().unwrap() = rows.len();
            None
        };
        let (plan, chunks) = run(Some(Box::new(choose)), &sparse);
        assert_eq!((plan.unwrap().header.line, *seen.lock().unwrap()), (1, 1));
        assert_eq!(chunks.iter().flatten().count(), 2_000);

        // Only blank rows: no header.
        let (none, _) = run(Some(Box::new(|_: &[Vec<String>]| Some(0))), &[(1, vec![CellRef::Empty])]);
        assert_eq!(none, Err(0));
    }
}
