//! Workbooks: a bounded look inside the zip first, then calamine's streaming cell reader.
//!
//! calamine has no decompression bound, and `worksheet_range` sizes its grid from the sheet's
//! declared dimension: a 2 KB file that claims cell XFD1048576 makes it allocate hundreds of GB
//! and abort (calamine issue 693). So [`precheck`] reads the zip directory (entry count, sizes,
//! compression ratios), decompresses the parts calamine loads whole with a byte limit, and checks
//! that each sheet's declared dimension is a range a sheet can have; only then does [`read_sheet`]
//! stream cells row by row with `worksheet_cells_reader`, never `worksheet_range`, refusing a
//! value beyond the column limit and a cell below the last row of a sheet. A declared width past
//! the limit is no fault: Excel, openpyxl and xlsxwriter declare the range of formatted empty
//! cells too (a fill to column XFD), and the cell reader sizes nothing by it.
//!
//! calamine reads cell references with unchecked `u32` arithmetic: a reference too long for a
//! sheet wraps around in release builds (and panics in debug builds). A wrapped reference almost
//! always lands outside the sheet's grid, which [`read_sheet`] reports as a damaged file.

use std::borrow::Cow;
use std::io::{Read, Seek, SeekFrom};

use calamine::{DataRef, Reader, SheetType, SheetVisible, Xlsx, XlsxFormulaMetadata};

use super::digits::DigitPattern;
use crate::record::CellRef;
use crate::results::column_letters;
use crate::settings::SheetRef;

/// Bounds on what a workbook may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XlsxLimits {
    /// Most entries in the zip.
    pub max_entries: usize,
    /// Most bytes all entries may decompress to.
    pub max_total_bytes: u64,
    /// Most bytes a part loaded whole (shared strings, styles, workbook) may decompress to.
    pub max_part_bytes: u64,
    /// Highest compression ratio accepted for entries over 1 MiB.
    pub max_ratio: u64,
    /// Most columns a sheet may declare or use.
    pub max_columns: u32,
    /// Largest text a cell may hold, in bytes (`max_field_bytes`, as for a CSV field).
    pub max_field_bytes: usize,
}

impl Default for XlsxLimits {
    fn default() -> Self {
        XlsxLimits {
            max_entries: 10_000,
            max_total_bytes: 4 << 30,
            max_part_bytes: 256 << 20,
            max_ratio: 200,
            max_columns: 2048,
            max_field_bytes: 1 << 20,
        }
    }
}

/// Why a workbook cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XlsxError {
    /// Not a readable Office Open XML workbook.
    #[error("not a readable .xlsx workbook: {0}")]
    NotAWorkbook(String),
    /// Too many zip entries.
    #[error("the workbook has {count} zip entries, more than the limit of {limit}")]
    TooManyEntries {
        /// Entries found.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A part, or the whole, decompresses to more than allowed.
    #[error("{part} decompresses to more than {limit} bytes; the file may be a zip bomb")]
    TooLarge {
        /// The zip entry, or "the workbook".
        part: String,
        /// The limit.
        limit: u64,
    },
    /// A part read whole (the shared strings, styles, relationships) is larger than is held in
    /// memory at once, at a compression ratio no bomb has: a big export, not an attack.
    #[error(
        "{part} holds {size} bytes, more than the {limit} bytes read into memory at once (a workbook's shared \
         strings, styles and relationships are held whole while its sheets are read); save the sheet as CSV and \
         upload that, or split the workbook"
    )]
    PartTooLarge {
        /// The zip entry.
        part: String,
        /// Its uncompressed size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A part inflates to more than its zip entry declares: the classic way past size checks.
    #[error("{part} inflates to more than the {declared} bytes its zip entry declares; the file may be a zip bomb")]
    SizeMismatch {
        /// The zip entry.
        part: String,
        /// The size it declares.
        declared: u64,
    },
    /// A part compresses suspiciously well.
    #[error("{part} compresses {ratio}:1, more than the limit of {limit}:1; the file may be a zip bomb")]
    SuspiciousRatio {
        /// The zip entry.
        part: String,
        /// Its ratio.
        ratio: u64,
        /// The limit.
        limit: u64,
    },
    /// A sheet declares a dimension that no sheet can have (reversed, or beyond row 1048576 or
    /// column XFD): the file is damaged, and calamine's arithmetic on it would overflow.
    #[error("{part} declares the range {dimension:?}, which no sheet can have; the file is damaged")]
    BadDimension {
        /// The zip entry of the sheet.
        part: String,
        /// The declared range.
        dimension: String,
    },
    /// The shared strings claim millions of strings more than their bytes can hold: calamine
    /// reserves room for the count claimed before reading one, so a count of 2^31 in a file of
    /// 1 KB would ask for 51 GB and abort the process. (A count merely too high, as writers that
    /// copy `count` into `uniqueCount` leave it, reserves little and is read.)
    #[error("{part} claims {count} strings in {bytes} bytes, more than it can hold; the file is damaged")]
    BadStringCount {
        /// The zip entry.
        part: String,
        /// The `uniqueCount` it claims.
        count: u64,
        /// Its size.
        bytes: u64,
    },
    /// A cell lies beyond the column limit.
    #[error("sheet {sheet:?}, cell {cell}: more than {limit} columns")]
    TooManyColumns {
        /// Sheet name.
        sheet: String,
        /// The cell reference.
        cell: String,
        /// The limit.
        limit: u32,
    },
    /// A cell holds more text than a field may.
    #[error(
        "sheet {sheet:?}, cell {cell}: the text is {bytes} bytes, larger than the limit of {limit} bytes (max_field_bytes)"
    )]
    FieldTooLarge {
        /// Sheet name.
        sheet: String,
        /// The cell reference.
        cell: String,
        /// 1-based row.
        row: u64,
        /// 1-based column.
        column: u32,
        /// The text's size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The requested sheet does not exist.
    #[error("no sheet {wanted} in the workbook; its sheets are: {available}")]
    SheetNotFound {
        /// What was asked for.
        wanted: String,
        /// The worksheets there are.
        available: String,
    },
    /// A position that counts one sheet among worksheets and another among all the tabs, or
    /// among the tabs shown.
    #[error(
        "sheet {position} is unclear in this workbook: counting worksheets it is {worksheet:?}, counting {counting} it is the {tab_kind} {tab:?}; name the sheet instead"
    )]
    AmbiguousPosition {
        /// 1-based position asked for.
        position: u32,
        /// The sheet at that position among worksheets.
        worksheet: String,
        /// The sheet at that position in the other count.
        tab: String,
        /// What that tab is.
        tab_kind: &'static str,
        /// What the other count counts.
        counting: &'static str,
    },
    /// The worksheet at the requested position is hidden: a position is what a user sees, and
    /// no one sees it.
    #[error(
        "sheet {position} of the workbook, {name:?}, is hidden; name it to read it, or name a sheet shown: {shown}"
    )]
    HiddenAtPosition {
        /// 1-based position asked for.
        position: u32,
        /// The hidden sheet's name.
        name: String,
        /// The worksheets shown.
        shown: String,
    },
    /// The sheet at the requested position holds no cells (a chart sheet).
    #[error(
        "sheet {position} of the workbook, {name:?}, is a {kind}, which holds no cells; its worksheets are: {available}"
    )]
    NoCells {
        /// 1-based position among the workbook's tabs.
        position: u32,
        /// Its name.
        name: String,
        /// What it is.
        kind: &'static str,
        /// The worksheets there are.
        available: String,
    },
    /// The workbook has no worksheet.
    #[error("the workbook has no worksheet")]
    NoWorksheets,
    /// calamine failed while reading cells.
    #[error("sheet {sheet:?}: {message}")]
    Read {
        /// Sheet name.
        sheet: String,
        /// calamine's message.
        message: String,
    },
}

/// A workbook failure, or a failure of whoever receives the records.
#[derive(Debug)]
pub enum ReadError<E> {
    /// The file is at fault.
    File(XlsxError),
    /// The record receiver failed.
    Sink(E),
}

impl<E> From<XlsxError> for ReadError<E> {
    fn from(e: XlsxError) -> Self {
        ReadError::File(e)
    }
}

/// What a zip entry says its archive is, when that is another kind of document.
fn other_document(lower_name: &str) -> Option<&'static str> {
    Some(match lower_name {
        "xl/workbook.bin" => "an Excel binary workbook (.xlsb)",
        "content.xml" => "an OpenDocument file (.ods)",
        "index/document.iwa" => "an Apple Numbers document",
        "word/document.xml" => "a Word document",
        "ppt/presentation.xml" => "a PowerPoint presentation",
        _ => return None,
    })
}

/// A name the zip's central directory lists twice (part names compare ignoring case, as Office
/// reads them). `None` too when the directory cannot be walked here (ZIP64, a damaged end
/// record): the zip reader then judges the file.
fn listed_twice<R: Read + Seek>(reader: &mut R) -> Option<String> {
    let u16_at = |b: &[u8], at: usize| b.get(at..at + 2).map(|x| u16::from_le_bytes([x[0], x[1]]) as usize);
    let u32_at = |b: &[u8], at: usize| b.get(at..at + 4).map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]));
    let len = reader.seek(SeekFrom::End(0)).ok()?;
    // The end record: 22 bytes and a comment of at most 65,535.
    let tail_len = len.min(22 + 0xFFFF);
    reader.seek(SeekFrom::Start(len - tail_len)).ok()?;
    let mut tail = vec![0u8; tail_len as usize];
    reader.read_exact(&mut tail).ok()?;
    let end = tail.windows(4).rposition(|w| w == b"PK\x05\x06")?;
    let (count, size) = (u16_at(&tail, end + 10)?, u32_at(&tail, end + 12)?);
    if count == 0xFFFF || size == u32::MAX || u64::from(size) > 64 << 20 {
        return None;
    }
    let start = (len - tail_len + end as u64).checked_sub(u64::from(size))?;
    reader.seek(SeekFrom::Start(start)).ok()?;
    let mut directory = vec![0u8; size as usize];
    reader.read_exact(&mut directory).ok()?;
    let mut names = std::collections::HashSet::new();
    let mut at = 0;
    for _ in 0..count {
        if directory.get(at..at + 4)? != b"PK\x01\x02" {
            return None;
        }
        let name_len = u16_at(&directory, at + 28)?;
        let rest = name_len + u16_at(&directory, at + 30)? + u16_at(&directory, at + 32)?;
        let name = String::from_utf8_lossy(directory.get(at + 46..at + 46 + name_len)?);
        if !names.insert(name.to_lowercase()) {
            return Some(name.into_owned());
        }
        at += 46 + rest;
    }
    None
}

/// Checks the zip directory and the parts calamine loads whole, within limits, before opening.
pub fn precheck<R: Read + Seek>(reader: &mut R, limits: &XlsxLimits) -> Result<(), XlsxError> {
    // A part listed twice is read as one copy by some tools and as the other by others (a way
    // to show a scanner one sheet and import another); the zip reader keeps only the last.
    if let Some(twice) = listed_twice(reader) {
        return Err(XlsxError::NotAWorkbook(format!("the zip lists {twice} twice; the file is damaged")));
    }
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| XlsxError::NotAWorkbook(e.to_string()))?;
    if zip.len() > limits.max_entries {
        return Err(XlsxError::TooManyEntries { count: zip.len(), limit: limits.max_entries });
    }
    let mut total: u64 = 0;
    let mut has_workbook = false;
    let mut whole_parts = Vec::new();
    let mut sheets = Vec::new();
    let mut other_kind = None;
    // A file of data zipped up (an export downloaded as `.zip`), named in the error.
    let mut data_file = None;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|e| XlsxError::NotAWorkbook(e.to_string()))?;
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
        let size = entry.size();
        let compressed = entry.compressed_size().max(1);
        total = total.saturating_add(size);
        if total > limits.max_total_bytes {
            return Err(XlsxError::TooLarge { part: "the workbook".into(), limit: limits.max_total_bytes });
        }
        if size > 1 << 20 && size / compressed > limits.max_ratio {
            return Err(XlsxError::SuspiciousRatio { part: name, ratio: size / compressed, limit: limits.max_ratio });
        }
        let lower = name.to_ascii_lowercase();
        if lower.ends_with("workbook.xml") {
            has_workbook = true;
        }
        other_kind = other_kind.or_else(|| other_document(&lower));
        if data_file.is_none()
            && [".csv", ".tsv", ".txt", ".json", ".jsonl", ".xlsx"].iter().any(|e| lower.ends_with(e))
        {
            data_file = Some(name.clone());
        }
        if lower.starts_with("xl/worksheets/") && lower.ends_with(".xml") {
            sheets.push(i);
        } else if lower.ends_with(".xml") || lower.ends_with(".rels") {
            if size > limits.max_part_bytes {
                return Err(XlsxError::PartTooLarge { part: name, size, limit: limits.max_part_bytes });
            }
            whole_parts.push(i);
        }
    }
    if !has_workbook {
        return Err(XlsxError::NotAWorkbook(match other_kind {
            Some(kind) => format!("the file is {kind}; save it as .xlsx or .csv and upload that"),
            None => match data_file {
                Some(file) => format!("the file is a zip archive holding {file}; extract that file and upload it"),
                None => "the file is a zip archive, not a workbook (it holds no xl/workbook.xml)".into(),
            },
        }));
    }
    // Declared sizes can lie: decompress what calamine will hold in memory, with a hard stop.
    let mut buf = vec![0u8; 64 * 1024];
    for i in whole_parts {
        let entry = zip.by_index(i).map_err(|e| XlsxError::NotAWorkbook(e.to_string()))?;
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
        let declared = entry.size();
        let strings = name.to_ascii_lowercase().ends_with("sharedstrings.xml");
        let mut part = entry.take(limits.max_part_bytes + 1);
        let mut read: u64 = 0;
        loop {
            // Ask for the declared size, then for one byte more: when the zip reader stops an entry
            // that goes on past its declared size, it is then known to be for that reason.
            let left = declared.saturating_sub(read).max(1);
            let want = usize::try_from(left).map_or(buf.len(), |w| w.min(buf.len()));
            match part.read(&mut buf[..want]) {
                Ok(0) => break,
                Ok(n) => {
                    read += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) if read >= declared => return Err(XlsxError::SizeMismatch { part: name, declared }),
                Err(e) => return Err(XlsxError::NotAWorkbook(format!("{name}: {e}"))),
            }
        }
        if read > limits.max_part_bytes {
            return Err(XlsxError::TooLarge { part: name, limit: limits.max_part_bytes });
        }
        // Each string takes 5 bytes at least (`<si/>`).
        drop(part);
        let claimed = match strings {
            true => unique_count(
                zip.by_index(i).map_err(|e| XlsxError::NotAWorkbook(e.to_string()))?.take(limits.max_part_bytes),
            ),
            false => None,
        };
        if let Some(count) = claimed
            && count > read / 5 + 1
            && count > MAX_STRINGS_UNBACKED
        {
            return Err(XlsxError::BadStringCount { part: name, count, bytes: read });
        }
    }
    for i in sheets {
        let entry = zip.by_index(i).map_err(|e| XlsxError::NotAWorkbook(e.to_string()))?;
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
        let mut head = Vec::with_capacity(4096);
        entry.take(64 * 1024).read_to_end(&mut head).map_err(|e| XlsxError::NotAWorkbook(format!("{name}: {e}")))?;
        // The width is checked against the limit once the sheet is chosen ([`read_sheet`], which
        // can name it); here only what calamine must not see.
        if let Some(dimension) = declared_dimension(&head) {
            let ends: Option<Vec<(u64, u64)>> = dimension.split(':').map(cell_position).collect();
            match ends.as_deref() {
                Some([_]) => {}
                Some([first, last]) if first.0 <= last.0 && first.1 <= last.1 => {}
                _ => return Err(XlsxError::BadDimension { part: name, dimension }),
            }
        }
    }
    Ok(())
}

/// Strings the shared strings may claim beyond what their bytes hold: calamine reserves 24 bytes
/// of address space for each (192 MB here), which it never touches.
const MAX_STRINGS_UNBACKED: u64 = 8_000_000;

/// The `uniqueCount` the shared strings' `<sst>` start tag claims, found as calamine finds it
/// (its XML reader, past comments, padding and prolog, and its reading of attributes:
/// `uniqueCount ="7"` counts), or `None` where calamine reserves nothing.
fn unique_count(part: impl Read) -> Option<u64> {
    use quick_xml::events::Event;
    let mut xml = calamine_xml_reader(part);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf) {
            Ok(Event::Start(e) | Event::Empty(e)) if e.local_name().as_ref() == "sst" => {
                let (_, value) =
                    raw_attributes(e.attributes_raw().as_bytes()).find(|(key, _)| *key == b"uniqueCount")?;
                if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                    // Not a count calamine reads either.
                    return None;
                }
                // Digits past what a u64 holds claim more than any file can hold too.
                return Some(std::str::from_utf8(value).ok()?.parse().unwrap_or(u64::MAX));
            }
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// The first XML part of a workbook that calamine's XML reader stops in, and the byte it stops
/// at (`xl/styles.xml, byte 1187`).
fn xml_fault<R: Read + Seek>(reader: R) -> Option<String> {
    let mut zip = zip::ZipArchive::new(reader).ok()?;
    let mut buf = Vec::new();
    for i in 0..zip.len() {
        let entry = zip.by_index(i).ok()?;
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
        let lower = name.to_ascii_lowercase();
        if !lower.ends_with(".xml") && !lower.ends_with(".rels") {
            continue;
        }
        let mut xml = calamine_xml_reader(entry);
        loop {
            buf.clear();
            match xml.read_event_into(&mut buf) {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(_) => return Some(format!("{name}, byte {}", xml.error_position())),
            }
        }
    }
    None
}

/// What a calamine error means, said for someone holding the file: its own words name a byte in
/// hex (`got 24` for `$`), print the bytes of a part that is not UTF-8, or say `Expecting a
/// worksheet, got worksheet` for a sheet without cells.
fn calamine_message(e: &calamine::XlsxError) -> String {
    use calamine::XlsxError as E;
    match e {
        E::Alphanumeric(b) if b.is_ascii_graphic() => {
            format!("a cell reference holds '{}', which is no column letter or row number", *b as char)
        }
        E::Alphanumeric(b) => {
            format!("a cell reference holds the byte 0x{b:02X}, which is no column letter or row number")
        }
        E::NotAWorksheet(_) => "its XML is no worksheet with cells (no <sheetData>, or text not in UTF-8)".into(),
        E::WorksheetNotFound(name) => {
            format!("the workbook lists the sheet {name:?}, but no part of the zip is where its relationship points")
        }
        E::FileNotFound(part) => format!("the workbook names the part {part}, which the zip does not hold"),
        E::XmlEof(tag) => {
            let part = match &**tag {
                "sst" => "xl/sharedStrings.xml",
                "styleSheet" => "xl/styles.xml",
                "workbook" => "xl/workbook.xml",
                "Relationships" => "a relationships part (.rels)",
                _ => "an XML part",
            };
            format!("{part} ends before its closing </{tag}> (cut short, or empty); the file is damaged")
        }
        // Bytes of a part that is not text stay out of messages.
        other => other.to_string().chars().map(|c| if c.is_control() { '?' } else { c }).collect(),
    }
}

/// An XML reader configured as calamine configures its own: a fault it stops at stops this too,
/// and what it skips (comments, a prolog) this skips.
fn calamine_xml_reader<R: Read>(part: R) -> quick_xml::Reader<std::io::BufReader<R>> {
    let mut xml = quick_xml::Reader::from_reader(std::io::BufReader::new(part));
    let config = xml.config_mut();
    config.check_end_names = false;
    config.trim_text(false);
    config.check_comments = false;
    config.expand_empty_elements = true;
    xml
}

fn declared_dimension(head: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(head);
    // The first `<dimension` tag, or one with a namespace prefix (`<x:dimension`, as the Open
    // XML SDK writes), found in one pass over the tags.
    let tag = text.split('<').skip(1).find_map(|tag| {
        let name_end = tag.find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>').unwrap_or(tag.len());
        let name = &tag[..name_end];
        let local = name.rsplit_once(':').map_or(name, |(_, local)| local);
        (local == "dimension").then(|| &tag[name_end..tag.find('>').unwrap_or(tag.len())])
    })?;
    let value = &tag[tag.find("ref=")? + 4..];
    let quote = value.chars().next().filter(|q| matches!(q, '"' | '\''))?;
    let value = &value[1..];
    let close = value.find(quote)?;
    Some(value[..close].to_string())
}

/// Rows a sheet can have (Excel's grid ends at row 1048576 and column XFD).
const SHEET_ROWS: u64 = 1_048_576;
/// Columns a sheet can have.
const SHEET_COLUMNS: u64 = 16_384;

/// 1-based `(row, column)` of an A1 reference inside a sheet's grid; `None` for anything else.
fn cell_position(cell: &str) -> Option<(u64, u64)> {
    let letters = cell.bytes().take_while(u8::is_ascii_alphabetic).count();
    let (column, row) = cell.split_at(letters);
    if !(1..=3).contains(&letters) || !(1..=7).contains(&row.len()) || !row.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let column = column.bytes().fold(0u64, |acc, c| acc * 26 + u64::from(c.to_ascii_uppercase() - b'A' + 1));
    let row: u64 = row.parse().ok()?;
    ((1..=SHEET_ROWS).contains(&row) && (1..=SHEET_COLUMNS).contains(&column)).then_some((row, column))
}

/// What reading a sheet found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetInfo {
    /// The sheet read.
    pub name: String,
    /// Whether serial dates count from 1904.
    pub is_1904: bool,
    /// The workbook's visible worksheets, in order (the one read among them).
    pub visible: Vec<String>,
    /// Totals rows of the sheet's tables (Excel's "Total Row"), and rows holding a SUBTOTAL
    /// formula, left out of the rows: the sheet row and the table's name (empty for the others).
    pub totals_rows: Vec<(u64, String)>,
}

/// Streams a sheet's rows to `on_record(line, cells)`: line is the sheet row (1-based), cells are
/// padded with empties so column positions hold. `open` opens the workbook's bytes (a second
/// time for a sheet holding an error value calamine does not know). Run [`precheck`] on the same
/// bytes first.
pub fn read_sheet<R, E>(
    open: impl Fn() -> std::io::Result<R>,
    sheet: Option<&SheetRef>,
    limits: &XlsxLimits,
    mut on_record: impl FnMut(u64, Vec<CellRef<'_>>) -> Result<(), E>,
) -> Result<SheetInfo, ReadError<E>>
where
    R: Read + Seek,
{
    let open_reader = || open().map_err(|e| XlsxError::NotAWorkbook(e.to_string()));
    // An XML fault calamine meets opening the workbook says where it is.
    let unreadable = |e: calamine::XlsxError| {
        let xml =
            matches!(e, calamine::XlsxError::Xml(_) | calamine::XlsxError::XmlAttr(_) | calamine::XlsxError::XmlEof(_));
        match xml.then(|| open_reader().ok().and_then(xml_fault)).flatten() {
            Some(at) => XlsxError::NotAWorkbook(format!("{at}: {}", calamine_message(&e))),
            None => XlsxError::NotAWorkbook(calamine_message(&e)),
        }
    };
    let open_book = || -> Result<Xlsx<R>, XlsxError> { Xlsx::new(open_reader()?).map_err(unreadable) };
    let mut reader = open_reader()?;
    let stale = formulas_marked_stale(&mut reader, limits)?;
    reader.seek(SeekFrom::Start(0)).map_err(|e| XlsxError::NotAWorkbook(e.to_string()))?;
    let mut workbook: Xlsx<R> = Xlsx::new(reader).map_err(unreadable)?;
    // The workbook's sheets in order (hidden ones too, as Excel's `Sheets(n)` counts them); only
    // worksheets hold cells.
    let tabs: Vec<&calamine::Sheet> = workbook.sheets_metadata().iter().filter(|s| s.typ != SheetType::Vba).collect();
    let metadata: Vec<&calamine::Sheet> = tabs.iter().copied().filter(|s| s.typ == SheetType::WorkSheet).collect();
    // The worksheets as messages list them, hidden ones said to be.
    let worksheets: Vec<String> = metadata
        .iter()
        .map(|s| match s.visible {
            SheetVisible::Visible => format!("{:?}", s.name),
            _ => format!("{:?} (hidden)", s.name),
        })
        .collect();
    if worksheets.is_empty() {
        return Err(XlsxError::NoWorksheets.into());
    }
    // Excel refuses two sheets of one name (whatever the case): a sheet named would be either.
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = tabs.iter().find(|t| !seen.insert(t.name.to_lowercase())) {
        let name = &twice.name;
        return Err(XlsxError::NotAWorkbook(format!("two sheets are named {name:?}; the file is damaged")).into());
    }
    let no_cells = |i: u32, tab: &calamine::Sheet| XlsxError::NoCells {
        position: i,
        name: tab.name.clone(),
        kind: sheet_kind(tab.typ),
        available: worksheets.join(", "),
    };
    // A position counts worksheets, as it always has. Where a chart sheet before it makes the
    // tab at that position another sheet, which one is meant is unclear: say so, never guess.
    let at = |i: u32| {
        let j = i.checked_sub(1).map_or(usize::MAX, |j| j as usize);
        match (metadata.get(j).copied(), tabs.get(j).copied()) {
            (Some(w), Some(t)) if w.name == t.name => Ok(w.name.clone()),
            (Some(w), Some(t)) => Err(XlsxError::AmbiguousPosition {
                position: i,
                worksheet: w.name.clone(),
                tab: t.name.clone(),
                tab_kind: if t.typ == SheetType::WorkSheet { "worksheet" } else { sheet_kind(t.typ) },
                counting: "every tab (chart sheets too)",
            }),
            (None, Some(t)) if t.typ != SheetType::WorkSheet => Err(no_cells(i, t)),
            (None, Some(t)) => Ok(t.name.clone()),
            _ => Err(not_found(sheet, &worksheets)),
        }
        // A hidden sheet is no tab a user counts: reading it by position would read what no one
        // sees. Where hidden sheets before it shift the tabs shown, say so too.
        .and_then(|name| {
            let shown = |s: &&&calamine::Sheet| s.visible == SheetVisible::Visible;
            let sheet = metadata.iter().find(|s| s.name == name).copied();
            if sheet.is_some_and(|s| s.visible != SheetVisible::Visible) {
                let names: Vec<String> = metadata.iter().filter(shown).map(|s| s.name.clone()).collect();
                return Err(XlsxError::HiddenAtPosition { position: i, name, shown: quoted(&names) });
            }
            match tabs.iter().filter(shown).nth(j) {
                Some(t) if t.name != name => Err(XlsxError::AmbiguousPosition {
                    position: i,
                    worksheet: name,
                    tab: t.name.clone(),
                    tab_kind: if t.typ == SheetType::WorkSheet { "worksheet" } else { sheet_kind(t.typ) },
                    counting: "the tabs shown (hidden sheets are not)",
                }),
                _ => Ok(name),
            }
        })
    };
    let name = match sheet {
        // The first sheet a user sees: hidden ones (lookup lists, settings) are skipped.
        None => metadata.iter().find(|s| s.visible == SheetVisible::Visible).unwrap_or(&metadata[0]).name.clone(),
        Some(SheetRef::Index(i)) => at(*i)?,
        // A number names a sheet if one is called so (`2023`), else gives its position: the
        // command line cannot tell them apart.
        Some(SheetRef::Name(n)) => {
            let named = tabs
                .iter()
                .position(|t| t.name == *n)
                .or_else(|| tabs.iter().position(|t| t.name.trim().to_lowercase() == n.trim().to_lowercase()));
            match (named, position(n)) {
                (Some(j), _) if tabs[j].typ == SheetType::WorkSheet => tabs[j].name.clone(),
                (Some(j), _) => return Err(no_cells(j as u32 + 1, tabs[j]).into()),
                (None, Some(i)) => at(i)?,
                (None, None) => return Err(not_found(sheet, &worksheets).into()),
            }
        }
    };
    let is_1904 = workbook.has_1904_epoch();
    let visible: Vec<String> =
        metadata.iter().filter(|s| s.visible == SheetVisible::Visible).map(|s| s.name.clone()).collect();
    // A table's totals row sums or counts the rows above it: no row of data.
    let mut totals_rows = table_totals_rows(&mut workbook, open_reader, &name, limits);
    let totals: std::collections::HashSet<u64> = totals_rows.iter().map(|(line, _)| *line).collect();
    // So is a row holding a SUBTOTAL formula: a table's totals row after the table became a
    // plain range, or a total from Excel's Subtotal command. Noted as the cells are read; left
    // out when the row ends. (Whatever else the row holds: a count, a SUM, a currency beside
    // the total.)
    let subtotals = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let mut on_record = |line: u64, cells: Vec<CellRef<'_>>| match totals.contains(&line) {
        true => Ok(()),
        false if subtotals.borrow().contains(&line) => Ok(()),
        false => on_record(line, cells),
    };
    let read_err = |e: calamine::XlsxError| XlsxError::Read { sheet: name.clone(), message: calamine_message(&e) };
    let mut cells = workbook.worksheet_cells_reader(&name).map_err(read_err)?;
    // Number formats that change what a cell shows beyond its value: a whole number's digits
    // padded or separated (a zip code's `00000`), or a date's time of day. A second reader walks
    // the cells' styles alongside, only when the workbook has such a format.
    let patterns: Vec<Option<Shows>> = cells
        .styles()
        .iter()
        .map(|style| {
            let code = &style.number_format.as_ref()?.format_code;
            match DigitPattern::parse(code) {
                Some(pattern) => Some(Shows::Digits(pattern, DigitPattern::zero_section(code))),
                None => match DurationPattern::parse(code) {
                    Some(pattern) => Some(Shows::Duration(pattern)),
                    None if shows_time_of_day(code) && !shows_date(code) => Some(Shows::TimeOnly),
                    None => shows_time_of_day(code).then_some(Shows::TimeOfDay),
                },
            }
        })
        .collect();
    let mut style_book = if patterns.iter().any(Option::is_some) { Some(open_book()?) } else { None };
    let mut styles = match style_book.as_mut() {
        Some(book) => Some(StyleWalk::new(book.worksheet_cells_reader(&name).map_err(read_err)?, patterns)),
        None => None,
    };
    let mut shown = |pos: (u32, u32), value: CellRef<'static>, duration: Option<f64>| match styles.as_mut() {
        Some(walk) => walk.shown(pos, value, duration),
        None => value,
    };
    let duration_of = |cell: &calamine::XlsxCellFormulaMetadataRecord<'_>| match &cell.value {
        DataRef::DateTime(dt) if dt.is_duration() && dt.as_f64().is_finite() => Some(dt.as_f64()),
        _ => None,
    };
    // Cells merged down several rows show their value in every row, but hold it in the first.
    // Reading the regions walks the sheet's XML once more; a look for the word in the sheets'
    // bytes first spares most workbooks, which merge nothing, that walk. A damaged sheet is the
    // value reader's to report.
    let regions = match any_merged_cells(&mut open_reader()?, limits)? {
        true => open_book()?.merge_cells_by_sheet_name(&name).unwrap_or_default(),
        false => Vec::new(),
    };
    let mut merged = MergeFill::new(regions);
    let mut row: Vec<CellRef<'static>> = Vec::new();
    let mut current: Option<u32> = None;
    // The last cell read: a damaged cell is the one after it.
    let mut last: Option<(u32, u32)> = None;
    let damaged = |e: calamine::XlsxError, last: Option<(u32, u32)>| {
        let whence = match last {
            Some((r, c)) => format!("after cell {}{}", column_letters(c + 1), u64::from(r) + 1),
            None => "before its first cell".to_string(),
        };
        let e = calamine_message(&e);
        XlsxError::Read { sheet: name.clone(), message: format!("{e} ({whence}); the file is damaged") }
    };
    let mut place = |(r, c): (u32, u32), value: CellRef<'static>| -> Result<(), ReadError<E>> {
        // Rows come in order in every sheet a spreadsheet writes. One listed again further down
        // would be read as a second record with the same line, which unique checks, dedupe and
        // the results, all keyed by line, cannot tell apart: refused, as a damaged file.
        if let Some(prev) = current
            && r < prev
        {
            return Err(XlsxError::Read {
                sheet: name.clone(),
                message: format!(
                    "row {} is listed after row {}: the sheet's rows are out of order; the file is damaged",
                    u64::from(r) + 1,
                    u64::from(prev) + 1
                ),
            }
            .into());
        }
        if current != Some(r) {
            if let Some(prev) = current
                && !row.is_empty()
            {
                merged.fill(prev, &mut row);
                on_record(u64::from(prev) + 1, std::mem::take(&mut row)).map_err(ReadError::Sink)?;
            }
            row.clear();
            current = Some(r);
        }
        if u64::from(r) >= SHEET_ROWS {
            return Err(XlsxError::Read {
                sheet: name.clone(),
                message: format!(
                    "a cell lies on row {}, below the last row a sheet can have ({SHEET_ROWS}); the file is damaged",
                    u64::from(r) + 1
                ),
            }
            .into());
        }
        if c >= limits.max_columns {
            // An empty cell out there (a styled one) holds nothing to lose.
            if value.is_blank() {
                return Ok(());
            }
            return Err(XlsxError::TooManyColumns {
                sheet: name.clone(),
                cell: format!("{}{}", column_letters(c + 1), r + 1),
                limit: limits.max_columns,
            }
            .into());
        }
        if let CellRef::Str(text) = &value
            && text.len() > limits.max_field_bytes
        {
            return Err(XlsxError::FieldTooLarge {
                sheet: name.clone(),
                cell: format!("{}{}", column_letters(c + 1), u64::from(r) + 1),
                row: u64::from(r) + 1,
                column: c + 1,
                bytes: text.len(),
                limit: limits.max_field_bytes,
            }
            .into());
        }
        merged.note((r, c), &value);
        let at = c as usize;
        if at < row.len() {
            // The same cell twice: one of its two values would be lost unseen.
            if !row[at].is_blank() {
                return Err(XlsxError::Read {
                    sheet: name.clone(),
                    message: format!(
                        "cell {}{} is listed twice; the file is damaged",
                        column_letters(c + 1),
                        u64::from(r) + 1
                    ),
                }
                .into());
            }
            row[at] = value;
        } else {
            row.resize(at, CellRef::Empty);
            row.push(value);
        }
        Ok(())
    };
    // A formula's result is unknown when none is saved, or when it is 0 in a marked workbook:
    // writers that do not calculate (xlsxwriter) save 0 as every result and mark it; a result
    // they could not have faked is kept.
    let value_of = |cell: calamine::XlsxCellFormulaMetadataRecord<'_>| {
        let unknown = match cell.value {
            DataRef::Empty => true,
            DataRef::Int(0) => stale,
            DataRef::Float(f) => stale && f == 0.0,
            _ => false,
        };
        match cell.formula {
            Some(formula) if unknown => match formula_text(formula) {
                // `=""`, which shows nothing whether calculated or not (xlsxwriter saves it with
                // no result): an empty cell, as a sheet shows it.
                text if text.trim() == "\"\"" => CellRef::Empty,
                text => CellRef::Uncalculated(Cow::Owned(text)),
            },
            _ => to_cell(&cell.value),
        }
    };
    // Cells read, in the sheet's order.
    let mut read: u64 = 0;
    // With each cell's formula, so one saved without its result is an error, not an empty cell.
    let unknown_error = loop {
        match cells.next_cell_with_formula_metadata() {
            Ok(Some(cell)) => {
                read += 1;
                let pos = cell.pos;
                last = Some(pos);
                let line = u64::from(pos.0) + 1;
                if cell.formula.as_ref().is_some_and(|f| totals_rows_above(f, line)) {
                    subtotals.borrow_mut().insert(line);
                }
                let duration = duration_of(&cell);
                place(pos, shown(pos, value_of(cell), duration))?;
            }
            Ok(None) => break None,
            Err(calamine::XlsxError::CellError(value)) => break Some(value),
            Err(e) => return Err(damaged(e, last).into()),
        }
    };
    // An error value calamine does not know (Excel 365's `#SPILL!`, `#CALC!`, ...) stops its
    // reader inside that cell without saying where it is. It reads on from the next cell, so
    // the rest is read on, with each cell's position from a second reader that walks the same
    // cells without reading their values: the cell that failed is an error cell where it lies.
    if let Some(first) = unknown_error {
        // `next_formula` keeps each shared formula at its index, sized by the index written: a
        // huge one would take all memory. No real sheet has one: such a file is damaged.
        if !shared_formula_indexes_within(open_reader()?, MAX_SHARED_FORMULA_INDEX)? {
            let message = format!(
                "a shared formula's index (si) is beyond {MAX_SHARED_FORMULA_INDEX}, which no sheet needs; the file is damaged"
            );
            return Err(XlsxError::Read { sheet: name.clone(), message }.into());
        }
        let mut book = open_book()?;
        let mut walk = book.worksheet_cells_reader(&name).map_err(read_err)?;
        let mut next_position = || walk.next_formula().map(|cell| cell.map(|c| c.get_position()));
        for _ in 0..read {
            next_position().map_err(|e| damaged(e, last))?;
        }
        let mut failed = Some(first);
        while let Some(pos) = next_position().map_err(|e| damaged(e, last))? {
            let (value, duration) = match failed.take() {
                Some(error) => (CellRef::Error(Cow::Owned(error)), None),
                None => match cells.next_cell_with_formula_metadata() {
                    Ok(Some(cell)) => {
                        let duration = duration_of(&cell);
                        (value_of(cell), duration)
                    }
                    Ok(None) => break,
                    Err(calamine::XlsxError::CellError(error)) => (CellRef::Error(Cow::Owned(error)), None),
                    Err(e) => return Err(damaged(e, last).into()),
                },
            };
            last = Some(pos);
            place(pos, shown(pos, value, duration))?;
        }
    }
    if let Some(prev) = current
        && !row.is_empty()
    {
        merged.fill(prev, &mut row);
        on_record(u64::from(prev) + 1, row).map_err(ReadError::Sink)?;
    }
    totals_rows.extend(subtotals.take().into_iter().filter(|line| !totals.contains(line)).map(|l| (l, String::new())));
    totals_rows.sort();
    Ok(SheetInfo { name, is_1904, visible, totals_rows })
}

/// Whether a formula on sheet row `line` totals the rows above it with SUBTOTAL
/// (`SUBTOTAL(109,C2:C4)` on row 5), as Excel writes a table's totals row and its Subtotal
/// command's rows: it names a range, and every cell it names lies above its own row. A running
/// count or total (`SUBTOTAL(3,$B$2:B2)`, numbering the rows a filter shows) takes in its own
/// row or anchors its start alone (`$B$1:B1`), a total above the data (`SUBTOTAL(9,B2:B40)` in
/// the header row) counts rows below, and one cell (`SUBTOTAL(9,C4)`) is a value taken over:
/// those are no totals rows.
fn totals_rows_above(formula: &XlsxFormulaMetadata, line: u64) -> bool {
    let text = match formula {
        XlsxFormulaMetadata::Normal { formula } | XlsxFormulaMetadata::Shared { formula, .. } => formula,
        _ => return false,
    };
    let text = text.trim_start().trim_start_matches('=');
    // SUBTOTAL first, or inside another function (`ROUND(SUBTOTAL(9,C2:C4),2)`); every
    // reference of the formula must lie above.
    if !text.as_bytes().windows(9).any(|w| w.eq_ignore_ascii_case(b"SUBTOTAL(")) {
        return false;
    }
    // The row of each cell reference: the digits after its column letters (and any `$`), and
    // whether a `$` anchors it.
    let b = text.as_bytes();
    let mut rows = Vec::new();
    let mut anchored = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_alphabetic() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let mut j = i;
            while j < b.len() && b[j].is_ascii_alphabetic() {
                j += 1;
            }
            let dollar = j < b.len() && b[j] == b'$';
            if dollar {
                j += 1;
            }
            let start = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            // Not a function's name (`LOG10(`) nor a sheet's (`Sheet1!`).
            if j > start
                && j - i <= 12
                && (j == b.len() || !b[j].is_ascii_alphanumeric() && !b"(!".contains(&b[j]))
                && let Ok(row) = text[start..j].parse::<u64>()
            {
                rows.push(row);
                anchored.push(dollar);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    // A range anchored at its start and not at its end (`$B$1:B1`) grows with each row filled
    // down: a running count, wherever its rows lie.
    let running = anchored.iter().any(|a| *a) && anchored.iter().any(|a| !*a);
    // A total sums a range (`C2:C4`); a single cell (`SUBTOTAL(9,C4)`) is a value taken over.
    text.contains(':') && !rows.is_empty() && !running && rows.iter().all(|r| *r < line)
}

/// Cells merged down several rows (a region's label, pandas' repeated index values): the sheet
/// shows the value in every row of the region, but the file holds it in the first cell only. Each
/// row below gets it in the region's first column, where it holds nothing of its own. Regions one
/// row high (a title across the columns) are left as stored, so no value is copied across
/// columns, and so are regions that start in the sheet's first row (a title, or a header merged
/// down over a second header row or into the data when no title is above it: the reader does not
/// know which row the header is, so a header merged down below a title is filled).
struct MergeFill {
    /// (first row, last row, column), by first row.
    regions: Vec<(u32, u32, u32)>,
    /// Each region's value, once its first cell is read.
    values: Vec<Option<CellRef<'static>>>,
    /// Regions not yet begun (from this index), and those the rows being read lie in.
    next: usize,
    active: Vec<usize>,
    /// The sheet's first row with a cell: a region that starts there or above is a header's or a
    /// title's (`Region` merged down beside a two-row header), not a value of rows below.
    first_row: Option<u32>,
}

impl MergeFill {
    fn new(regions: Vec<calamine::Dimensions>) -> Self {
        // By column then first row, keeping in each column only regions that do not overlap an
        // earlier one (Excel writes none; a crafted file repeating one region thousands of times
        // would make every row walk them all).
        let mut by_column: Vec<(u32, u32, u32)> =
            regions.iter().filter(|d| d.end.0 > d.start.0).map(|d| (d.start.1, d.start.0, d.end.0)).collect();
        by_column.sort_unstable();
        let mut regions: Vec<(u32, u32, u32)> = Vec::with_capacity(by_column.len());
        let mut last: Option<(u32, u32)> = None;
        for (col, r0, r1) in by_column {
            if last.is_some_and(|(c, end)| c == col && r0 <= end) {
                continue;
            }
            last = Some((col, r1));
            regions.push((r0, r1, col));
        }
        // By first row then column, for `note`'s binary search and `fill`'s sweep.
        regions.sort_unstable_by_key(|&(r0, _, col)| (r0, col));
        let values = vec![None; regions.len()];
        MergeFill { regions, values, next: 0, active: Vec::new(), first_row: None }
    }

    /// Keeps the value of a region's first cell.
    fn note(&mut self, (r, c): (u32, u32), value: &CellRef<'static>) {
        if self.regions.is_empty() {
            return;
        }
        self.first_row.get_or_insert(r);
        if let Ok(i) = self.regions.binary_search_by_key(&(r, c), |&(r0, _, col)| (r0, col)) {
            self.values[i] = Some(value.clone());
        }
    }

    /// Fills row `r` (0-based) below the first row of each region it lies in.
    fn fill(&mut self, r: u32, row: &mut Vec<CellRef<'static>>) {
        // A row with nothing of its own (Excel writes an empty styled cell for every cell of a
        // formatted merged area) stays an empty row.
        if self.regions.is_empty() || row.iter().all(CellRef::is_blank) {
            return;
        }
        while self.next < self.regions.len() && self.regions[self.next].0 < r {
            self.active.push(self.next);
            self.next += 1;
        }
        let regions = &self.regions;
        self.active.retain(|&i| regions[i].1 >= r);
        for &i in &self.active {
            let (r0, _, col) = self.regions[i];
            let below_the_top = self.first_row.is_some_and(|first| r0 > first);
            let (Some(value), true) = (&self.values[i], r0 < r && below_the_top) else { continue };
            let col = col as usize;
            if col >= row.len() {
                row.resize(col + 1, CellRef::Empty);
            }
            if row[col].is_blank() {
                row[col] = value.clone();
            }
        }
    }
}

/// What a cell's number format shows that its value alone does not.
enum Shows {
    /// A whole number's digits as the pattern shows them, and whether the format shows zero its
    /// own way.
    Digits(DigitPattern, bool),
    /// A date's time of day.
    TimeOfDay,
    /// A time of day alone (`hh:mm`), also of a serial that holds a date.
    TimeOnly,
    /// A duration's units.
    Duration(DurationPattern),
}

/// A duration format (`[h]:mm:ss`, `[h]:mm`, `[mm]:ss`, `[ss].00`): its bracketed unit counted
/// whole, hours past 24 and all, then the smaller units it shows, rounded to the smallest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DurationPattern {
    /// Milliseconds of the bracketed unit.
    unit: u64,
    /// Least digits of the whole units (`[hh]`: 2).
    width: usize,
    minutes: bool,
    seconds: bool,
    /// Digits of a second's fraction (`ss.00`: 2).
    decimals: u32,
}

impl DurationPattern {
    /// The pattern of a format code whose first section counts a unit whole (`[h]`, `[m]`,
    /// `[s]`, as a duration does), outside quoted text and escapes.
    fn parse(code: &str) -> Option<DurationPattern> {
        let section: String = {
            let mut out = String::new();
            let mut chars = code.chars();
            while let Some(c) = chars.next() {
                match c {
                    ';' => break,
                    '"' => {
                        chars.by_ref().find(|q| *q == '"');
                    }
                    '\\' | '_' | '*' => {
                        chars.next();
                    }
                    c => out.push(c.to_ascii_lowercase()),
                }
            }
            out
        };
        let mut brackets = section.match_indices('[');
        let (unit, width, after) = brackets.find_map(|(at, _)| {
            let inner = &section[at + 1..at + 1 + section[at + 1..].find(']')?];
            let unit = match inner.chars().next()? {
                'h' => 3_600_000,
                'm' => 60_000,
                's' => 1000,
                _ => return None,
            };
            let first = inner.chars().next()?;
            // A width past a u64's 20 digits pads with zeros only (and one past 65,535 panicked
            // the formatter).
            inner.chars().all(|c| c == first).then_some((unit, inner.len().min(20), at + inner.len() + 2))
        })?;
        let rest = &section[after..];
        let seconds = unit > 1000 && rest.contains('s');
        let decimals = match rest.find("s.").or_else(|| (unit == 1000).then(|| rest.find('.')).flatten()) {
            Some(at) => {
                let from = at + if unit == 1000 && !rest[at..].starts_with("s.") { 1 } else { 2 };
                rest[from..].chars().take_while(|c| *c == '0').count().min(3) as u32
            }
            None => 0,
        };
        Some(DurationPattern { unit, width, minutes: unit == 3_600_000 && rest.contains('m'), seconds, decimals })
    }

    /// `ms` as the format shows it.
    fn show(&self, ms: i64) -> String {
        let smallest = match (self.decimals, self.seconds || self.unit == 1000, self.minutes || self.unit == 60_000) {
            (d, _, _) if d > 0 => 10u64.pow(3 - d),
            (_, true, _) => 1000,
            (_, _, true) => 60_000,
            _ => 3_600_000,
        };
        let abs = ms.unsigned_abs();
        let total = (abs + smallest / 2) / smallest * smallest;
        let sign = if ms < 0 && total > 0 { "-" } else { "" };
        let mut text = format!("{sign}{:0width$}", total / self.unit, width = self.width);
        if self.minutes {
            text.push_str(&format!(":{:02}", total / 60_000 % 60));
        }
        if self.seconds {
            text.push_str(&format!(":{:02}", total / 1000 % 60));
        }
        if self.decimals > 0 {
            let d = self.decimals;
            text.push_str(&format!(".{:0d$}", total % 1000 / 10u64.pow(3 - d), d = d as usize));
        }
        text
    }
}

/// Whether a number format's first section shows a time of day: hours, seconds or an AM/PM
/// marker (`[h]` is a duration, which calamine reads as one already).
fn shows_time_of_day(code: &str) -> bool {
    format_codes(code).any(|(c, rest)| match c {
        'h' | 'H' | 's' | 'S' => true,
        'a' | 'A' => {
            let marker = |m: &str| rest.get(..m.len()).is_some_and(|r| r.eq_ignore_ascii_case(m));
            marker("m/pm") || marker("/p")
        }
        _ => false,
    })
}

/// Whether a number format's first section shows any part of a date: a day, a year (an era's
/// or a Buddhist one too), or a month's name (`mmm`; `mm` beside hours is minutes).
fn shows_date(code: &str) -> bool {
    format_codes(code).any(|(c, rest)| match c.to_ascii_lowercase() {
        'd' | 'y' | 'e' | 'g' | 'b' => true,
        'm' => rest.get(..2).is_some_and(|r| r.eq_ignore_ascii_case("mm")),
        _ => false,
    })
}

/// The letters of a number format's first section that are codes, each with the rest of the
/// format after it: quoted text, escaped characters and brackets (colours, locales, durations)
/// are skipped, and an unclosed quote or bracket ends the codes.
fn format_codes(code: &str) -> impl Iterator<Item = (char, &str)> {
    let mut chars = code.chars();
    std::iter::from_fn(move || {
        loop {
            match chars.next()? {
                ';' => return None,
                c @ ('"' | '[') => {
                    let close = if c == '"' { '"' } else { ']' };
                    if !chars.by_ref().any(|q| q == close) {
                        return None;
                    }
                }
                '\\' | '_' | '*' => {
                    chars.next();
                }
                c => return Some((c, chars.as_str())),
            }
        }
    })
}

/// A walk through a sheet's cell styles beside the reader of its values, for the number formats
/// that change what a cell shows ([`Shows`]).
struct StyleWalk<'a, R: Read + Seek> {
    reader: Option<calamine::XlsxCellReader<'a, R>>,
    /// What each style shows, by style id.
    patterns: Vec<Option<Shows>>,
    /// The next styled cell: row, column, style id.
    next: Option<(u32, u32, usize)>,
}

impl<'a, R: Read + Seek> StyleWalk<'a, R> {
    fn new(reader: calamine::XlsxCellReader<'a, R>, patterns: Vec<Option<Shows>>) -> Self {
        StyleWalk { reader: Some(reader), patterns, next: None }
    }

    /// A non-negative whole number as its format shows it, and a date with a time of day in a
    /// format that shows the time as such, at `pos`; any other cell as it is. Cells come in the
    /// sheet's order, so the walk only goes forward; a sheet whose cells are out of order, or a
    /// style part the walk cannot read, loses what the format adds, never the value.
    fn shown(&mut self, pos: (u32, u32), value: CellRef<'static>, duration: Option<f64>) -> CellRef<'static> {
        let n = match value {
            _ if duration.is_some() => None,
            CellRef::Int(i) if i >= 0 => Some(i),
            CellRef::Number(f) if f >= 0.0 && f.fract() == 0.0 && f < 9_007_199_254_740_992.0 => Some(f as i64),
            CellRef::ExcelDate(_) => None,
            _ => return value,
        };
        while let Some(reader) = self.reader.as_mut()
            && self.next.is_none_or(|(r, c, _)| (r, c) < pos)
        {
            match reader.next_style_id() {
                Ok(Some(next)) => self.next = Some(next),
                Ok(None) | Err(_) => self.reader = None,
            }
        }
        let Some((r, c, style)) = self.next else { return value };
        if (r, c) != pos {
            return value;
        }
        match (self.patterns.get(style).and_then(Option::as_ref), n, value) {
            (Some(Shows::Digits(_, true)), Some(0), value) => value,
            (Some(Shows::Digits(pattern, _)), Some(n), _) => CellRef::Shown(n, Cow::Owned(pattern.show(n as u64))),
            (Some(Shows::TimeOfDay), None, CellRef::ExcelDate(serial)) if serial.fract() != 0.0 => {
                CellRef::ExcelDateTime(serial)
            }
            (Some(Shows::TimeOnly), None, CellRef::ExcelDate(serial)) if serial >= 1.0 => CellRef::ExcelTime(serial),
            (Some(Shows::Duration(pattern)), None, CellRef::Str(_)) if let Some(days) = duration => {
                CellRef::Str(Cow::Owned(pattern.show((days * 86_400_000.0).round() as i64)))
            }
            (_, _, value) => value,
        }
    }
}

/// The largest shared formula index (`si`) the second reader of [`read_sheet`] accepts: a
/// sheet numbers its shared formulas from 0, one per group, so a million is far beyond any real
/// one, and keeping that many costs tens of MB at most.
const MAX_SHARED_FORMULA_INDEX: u64 = 1 << 20;

/// Whether no element in a workbook's XML parts gives a shared formula an index (`si="N"`) above
/// `limit`, read with calamine's XML reader and as calamine reads attributes (spaces around `=`,
/// leading zeros, a `>` inside a value, any element of a cell): text cannot hold a tag, so cell
/// text never counts.
fn shared_formula_indexes_within<R: Read + Seek>(reader: R, limit: u64) -> Result<bool, XlsxError> {
    use quick_xml::events::Event;
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| XlsxError::NotAWorkbook(e.to_string()))?;
    let mut buf = Vec::new();
    for i in 0..zip.len() {
        let entry = zip.by_index(i).map_err(|e| XlsxError::NotAWorkbook(e.to_string()))?;
        if !entry.name().map(|n| n.to_ascii_lowercase()).unwrap_or_default().ends_with(".xml") {
            continue;
        }
        // A fault calamine's reader stops at stops this too, and nothing past it is read by either.
        let mut xml = calamine_xml_reader(entry);
        loop {
            buf.clear();
            match xml.read_event_into(&mut buf) {
                Ok(Event::Start(e) | Event::Empty(e)) => {
                    // calamine takes `si` from any element inside a cell (`<v t="shared" si=..>`).
                    let beyond = raw_attributes(e.attributes_raw().as_bytes())
                        .any(|(key, value)| (key == b"si" || key.ends_with(b":si")) && index_beyond(value, limit));
                    if beyond {
                        return Ok(false);
                    }
                }
                Ok(Event::Eof) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
    Ok(true)
}

/// The attributes of a start tag as calamine reads them (its `RawAttrIter`): a key up to `=`,
/// white space around it, a value between quotes; it stops at the first that is none.
fn raw_attributes(raw: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let skip_space = |mut at: usize| {
            while raw.get(at).is_some_and(u8::is_ascii_whitespace) {
                at += 1;
            }
            at
        };
        pos = skip_space(pos);
        let key_start = pos;
        let eq = key_start + memchr::memchr(b'=', raw.get(key_start..)?)?;
        let key = raw[key_start..eq].trim_ascii_end();
        let open = skip_space(eq + 1);
        let quote = *raw.get(open).filter(|q| matches!(q, b'"' | b'\''))?;
        let value_start = open + 1;
        let value_end = memchr::memchr(quote, &raw[value_start..]).map_or(raw.len(), |n| value_start + n);
        pos = (value_end + 1).min(raw.len());
        Some((key, &raw[value_start..value_end]))
    })
}

/// Whether a shared formula's index, as calamine parses it (digits, leading zeros allowed),
/// exceeds `limit`. One that is no number makes calamine fail, not allocate.
fn index_beyond(value: &[u8], limit: u64) -> bool {
    let digits = &value[value.iter().take_while(|b| **b == b'0').count()..];
    value.iter().all(u8::is_ascii_digit)
        && (digits.len() > 19
            || std::str::from_utf8(digits).ok().and_then(|d| d.parse::<u64>().ok()).is_some_and(|n| n > limit))
}

/// Whether a workbook counts its serial dates from 1904 (as old Excel for Mac did).
pub fn uses_1904_dates<R: Read + Seek>(reader: R) -> Result<bool, XlsxError> {
    let workbook: Xlsx<R> = Xlsx::new(reader).map_err(|e| XlsxError::NotAWorkbook(e.to_string()))?;
    Ok(workbook.has_1904_epoch())
}

/// A sheet name that is a 1-based position.
fn position(name: &str) -> Option<u32> {
    let name = name.trim();
    name.bytes().all(|b| b.is_ascii_digit()).then(|| name.parse().ok()).flatten().filter(|i| *i >= 1)
}

fn not_found(wanted: Option<&SheetRef>, worksheets: &[String]) -> XlsxError {
    let wanted = match wanted {
        Some(SheetRef::Name(n)) if position(n).is_some() => {
            format!("named {n:?} nor any at position {}", n.trim())
        }
        Some(w) => w.to_string(),
        None => String::new(),
    };
    XlsxError::SheetNotFound { wanted, available: worksheets.join(", ") }
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|w| format!("{w:?}")).collect::<Vec<_>>().join(", ")
}

fn sheet_kind(typ: SheetType) -> &'static str {
    match typ {
        SheetType::ChartSheet => "chart sheet",
        SheetType::DialogSheet => "dialog sheet",
        SheetType::MacroSheet => "macro sheet",
        _ => "sheet without cells",
    }
}

/// A fraction as the spreadsheet shows and computes with it: 15 significant digits, so
/// `57/100*100` (stored as `56.99999999999999`) reads as 57 and `0.1+0.2` as 0.3. Whole numbers
/// are kept as stored, every digit the file holds, and so are numbers of 16 digits or more before
/// the point, where 15 digits would change the whole part (1234567890123456.5 is no
/// 1234567890123460) unless they differ by the float's last step alone.
fn as_shown(n: f64) -> f64 {
    if n.fract() == 0.0 || !n.is_finite() {
        return n;
    }
    let shown: f64 = format!("{n:.14e}").parse().unwrap_or(n);
    if n.abs() >= 1e15 {
        // Fifteen digits are the whole number but for the float's last step
        // (`1000000000000000*1.1` is stored as 1100000000000000.125): that number; further
        // off, the digits stored.
        let step = f64::from_bits(n.abs().to_bits() + 1) - n.abs();
        return if (shown - n).abs() <= step { shown } else { n };
    }
    shown
}

/// An ISO date cell (`t="d"`): a moment at midnight is the date alone, as a serial date at
/// midnight reads.
fn iso_date_cell(s: &str) -> &str {
    match s.split_once('T') {
        Some((date, time))
            if !time.is_empty() && time.trim_end_matches('Z').bytes().all(|b| matches!(b, b'0' | b':' | b'.')) =>
        {
            date
        }
        _ => s,
    }
}

/// The totals rows (1-based sheet rows) of the tables on `sheet`, with each table's name. The
/// workbook names its tables per sheet; each table's part gives its range and how many totals
/// rows end it. A part that cannot be read gives none: the rows are then read as they are.
fn table_totals_rows<R: Read + Seek>(
    workbook: &mut Xlsx<R>,
    open_reader: impl Fn() -> Result<R, XlsxError>,
    sheet: &str,
    limits: &XlsxLimits,
) -> Vec<(u64, String)> {
    if workbook.load_tables().is_err() {
        return Vec::new();
    }
    let names: Vec<String> = workbook.table_names_in_sheet(sheet).into_iter().cloned().collect();
    if names.is_empty() {
        return Vec::new();
    }
    let Some(mut zip) = open_reader().ok().and_then(|r| zip::ZipArchive::new(r).ok()) else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for i in 0..zip.len() {
        if !xml_part_under(&mut zip, i, "xl/tables/") {
            continue;
        }
        let Ok(entry) = zip.by_index(i) else { continue };
        let mut xml = String::new();
        if entry.take(limits.max_part_bytes.min(4 << 20)).read_to_string(&mut xml).is_err() {
            continue;
        }
        let Some(attrs) = start_tag(&xml, "table") else { continue };
        let attr = |key: &str| attrs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let Some(table_name) = attr("displayName").or_else(|| attr("name")) else { continue };
        if !names.iter().any(|n| n == table_name) {
            continue;
        }
        let count: u64 = attr("totalsRowCount").and_then(|v| v.trim().parse().ok()).unwrap_or(0);
        let last = attr("ref").and_then(|r| r.split(':').next_back()).and_then(cell_position).map(|(row, _)| row);
        if let Some(last) = last.filter(|_| (1..=16).contains(&count)) {
            rows.extend((last.saturating_sub(count) + 1..=last).map(|row| (row, table_name.to_string())));
        }
    }
    rows.sort();
    rows
}

/// Whether entry `i` of a workbook's zip is an XML part under `folder` (lower case), its name
/// compared ignoring case.
fn xml_part_under<R: Read + Seek>(zip: &mut zip::ZipArchive<R>, i: usize, folder: &str) -> bool {
    zip.by_index_raw(i)
        .ok()
        .and_then(|e| e.name().ok().map(|n| n.to_ascii_lowercase()))
        .is_some_and(|name| name.starts_with(folder) && name.ends_with(".xml"))
}

/// The attributes (`key="value"`, prefixes dropped from keys) of the first start tag whose local
/// name is `local`.
fn start_tag<'x>(xml: &'x str, local: &str) -> Option<Vec<(&'x str, &'x str)>> {
    let mut at = 0;
    while let Some(open) = xml[at..].find('<') {
        let tag_start = at + open + 1;
        let end = tag_start + xml[tag_start..].find('>')?;
        let tag = &xml[tag_start..end];
        at = end;
        let name_len = tag.find(|c: char| c.is_whitespace() || c == '/').unwrap_or(tag.len());
        let name = &tag[..name_len];
        if name.rsplit(':').next() != Some(local) {
            continue;
        }
        let mut attrs = Vec::new();
        let mut rest = &tag[name_len..];
        while let Some(eq) = rest.find('=') {
            let key = rest[..eq].trim();
            let after = rest[eq + 1..].trim_start();
            let quote = after.chars().next()?;
            if quote != '"' && quote != '\'' {
                return Some(attrs);
            }
            let close = after[1..].find(quote)? + 1;
            attrs.push((key.rsplit(':').next().unwrap_or(key), &after[1..close]));
            rest = &after[close + 1..];
        }
        return Some(attrs);
    }
    None
}

/// Whether any worksheet part holds the word `mergeCell` (its merged regions): a scan of the
/// decompressed bytes, much cheaper than reading the XML.
fn any_merged_cells<R: Read + Seek>(reader: &mut R, limits: &XlsxLimits) -> Result<bool, XlsxError> {
    const WORD: &[u8] = b"mergeCell";
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| XlsxError::NotAWorkbook(e.to_string()))?;
    let finder = memchr::memmem::Finder::new(WORD);
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..zip.len() {
        if !xml_part_under(&mut zip, i, "xl/worksheets/") {
            continue;
        }
        let Ok(mut entry) = zip.by_index(i) else { continue };
        let mut entry = (&mut entry).take(limits.max_total_bytes);
        // The last bytes of each read are kept before the next, so the word is found across reads.
        let mut kept = 0;
        loop {
            let n = match entry.read(&mut buf[kept..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if finder.find(&buf[..kept + n]).is_some() {
                return Ok(true);
            }
            let end = kept + n;
            let tail = (WORD.len() - 1).min(end);
            buf.copy_within(end - tail..end, 0);
            kept = tail;
        }
    }
    Ok(false)
}

/// Whether the workbook asks to be recalculated when opened (`<calcPr fullCalcOnLoad="1">`): the
/// mark of writers that do not calculate (xlsxwriter saves 0 as every formula's result, openpyxl
/// nothing), and of some that do (EPPlus). A formula result of 0 in such a workbook is taken as
/// not calculated. A spreadsheet program that opens and saves the file calculates and drops the
/// mark.
fn formulas_marked_stale<R: Read + Seek>(reader: &mut R, limits: &XlsxLimits) -> Result<bool, XlsxError> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| XlsxError::NotAWorkbook(e.to_string()))?;
    let damaged = |e: &dyn std::fmt::Display| XlsxError::NotAWorkbook(format!("xl/workbook.xml: {e}"));
    for i in 0..zip.len() {
        if zip.by_index_raw(i).map_err(|e| damaged(&e))?.name().is_ok_and(|n| n.eq_ignore_ascii_case("xl/workbook.xml"))
        {
            let mut xml = Vec::new();
            let entry = zip.by_index(i).map_err(|e| damaged(&e))?;
            entry.take(limits.max_part_bytes).read_to_end(&mut xml).map_err(|e| damaged(&e))?;
            return Ok(full_calc_on_load(&xml));
        }
    }
    Ok(false)
}

/// Whether workbook XML has a `calcPr` element with `fullCalcOnLoad` true.
fn full_calc_on_load(xml: &[u8]) -> bool {
    let Some(at) = memchr::memmem::find_iter(xml, b"calcPr").find(|&at| {
        at > 0
            && matches!(xml[at - 1], b'<' | b':')
            && xml.get(at + 6).is_some_and(|b| b.is_ascii_whitespace() || matches!(b, b'/' | b'>'))
    }) else {
        return false;
    };
    let element = &xml[at..];
    let element = &element[..memchr::memchr(b'>', element).unwrap_or(element.len())];
    let Some(attr) = memchr::memmem::find(element, b"fullCalcOnLoad") else {
        return false;
    };
    let value: Vec<u8> = element[attr + b"fullCalcOnLoad".len()..]
        .iter()
        .copied()
        .skip_while(|b| b.is_ascii_whitespace() || *b == b'=')
        .skip(1)
        .take_while(|b| *b != b'"' && *b != b'\'')
        .collect();
    matches!(value.as_slice(), b"1" | b"true")
}

/// The text of a formula; a cell that shares another cell's formula does not repeat it.
fn formula_text(formula: XlsxFormulaMetadata) -> String {
    match formula {
        XlsxFormulaMetadata::Normal { formula } | XlsxFormulaMetadata::Shared { formula, .. } => formula,
        _ => String::new(),
    }
}

fn to_cell(value: &DataRef<'_>) -> CellRef<'static> {
    match value {
        DataRef::Int(i) => CellRef::Int(*i),
        // `INF`, `NaN` or `1e400` (XML Schema doubles, or past them; no spreadsheet writes one):
        // an error cell, as a spreadsheet shows such a result (#NUM!), in every field; as a
        // number, chunk storage would lose it.
        DataRef::Float(f) if !f.is_finite() => CellRef::Error(Cow::Owned(format!("#NUM! ({f})"))),
        DataRef::DateTime(dt) if !dt.as_f64().is_finite() => {
            CellRef::Error(Cow::Owned(format!("#NUM! ({})", dt.as_f64())))
        }
        DataRef::Float(f) => CellRef::Number(as_shown(*f)),
        DataRef::String(s) => CellRef::Str(Cow::Owned(s.clone())),
        DataRef::SharedString(s) => CellRef::Str(Cow::Owned((*s).to_string())),
        DataRef::Bool(b) => CellRef::SheetBool(*b),
        // A duration (`[h]:mm:ss`) as the sheet shows it, hours past 24 and all: its day
        // fraction (0.0625 for 1:30) is no number anyone wrote.
        DataRef::DateTime(dt) if dt.is_duration() => CellRef::Str(Cow::Owned(duration_text(dt.as_f64()))),
        DataRef::DateTime(dt) => CellRef::ExcelDate(dt.as_f64()),
        DataRef::DateTimeIso(s) => CellRef::Str(Cow::Owned(iso_date_cell(s).to_string())),
        DataRef::DurationIso(s) => CellRef::Str(Cow::Owned(s.clone())),
        DataRef::Error(e) => CellRef::Error(Cow::Owned(e.to_string())),
        DataRef::Empty => CellRef::Empty,
    }
}

/// A duration in days as `h:mm:ss` (hours as many as it has, at least two digits; milliseconds
/// when there are any), as a `[hh]:mm:ss` format shows it.
fn duration_text(days: f64) -> String {
    let ms = (days.abs() * 86_400_000.0).round() as u64;
    let sign = if days < 0.0 && ms > 0 { "-" } else { "" };
    format!("{sign}{}", crate::convert::time_of_day_text(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_too_large_to_hold_is_named_as_such_and_a_bomb_as_a_bomb() {
        use std::io::Write;
        let workbook = |shared: &[u8]| {
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            let options = zip::write::SimpleFileOptions::default();
            zip.start_file("xl/workbook.xml", options).unwrap();
            zip.write_all(b"<workbook/>").unwrap();
            zip.start_file("xl/sharedStrings.xml", options).unwrap();
            zip.write_all(shared).unwrap();
            zip.finish().unwrap()
        };
        let limits = XlsxLimits { max_part_bytes: 4 << 20, ..XlsxLimits::default() };
        // 5 MiB of varied text (it compresses to about half, as real strings do): no bomb.
        let mut state = 0x9E37_79B9u32;
        let text: Vec<u8> = (0..5 << 20)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                b"abcdefghijklmnopqrstuvwxyz0123456789 "[(state % 37) as usize]
            })
            .collect();
        let err = precheck(&mut workbook(&text), &limits).unwrap_err();
        assert!(matches!(err, XlsxError::PartTooLarge { size, .. } if size == 5 << 20), "{err:?}");
        assert!(err.to_string().contains("save the sheet as CSV"), "{err}");
        // The same size of one repeated byte: a bomb.
        let err = precheck(&mut workbook(&vec![b'a'; 5 << 20]), &limits).unwrap_err();
        assert!(matches!(err, XlsxError::SuspiciousRatio { .. }), "{err:?}");
    }

    #[test]
    fn merged_regions_fill_rows_of_their_own_once_each() {
        let region = |r0, r1, c| calamine::Dimensions { start: (r0, c), end: (r1, c) };
        // The same region 1,000 times, one overlapping it, and a one-row title.
        let mut regions: Vec<calamine::Dimensions> = (0..1000).map(|_| region(1, 4, 0)).collect();
        regions.push(region(2, 6, 0));
        regions.push(calamine::Dimensions { start: (0, 0), end: (0, 3) });
        let mut fill = MergeFill::new(regions);
        assert_eq!(fill.regions, [(1, 4, 0)]);
        let text = |s: &'static str| CellRef::Str(Cow::Borrowed(s));
        fill.note((0, 0), &text("Title"));
        fill.note((1, 0), &text("North"));
        let mut row = vec![CellRef::Empty, text("x")];
        fill.fill(2, &mut row);
        assert_eq!(row[0], text("North"));
        // A row with nothing of its own stays empty.
        let mut blank = vec![CellRef::Empty];
        fill.fill(3, &mut blank);
        assert_eq!(blank, [CellRef::Empty]);
        let mut after = vec![CellRef::Empty, text("y")];
        fill.fill(5, &mut after);
        assert_eq!(after[0], CellRef::Empty, "below the region");
    }

    #[test]
    fn duration_formats_show_their_units() {
        // 26 h 3 min 4.5 s.
        let ms = ((26 * 60 + 3) * 60 + 4) * 1000 + 500;
        for (code, shown) in [
            ("[h]:mm:ss", "26:03:05"),
            ("[hh]:mm:ss.000", "26:03:04.500"),
            ("[h]:mm", "26:03"),
            ("[mm]:ss", "1563:05"),
            ("[mm]:ss.0", "1563:04.5"),
            ("[ss]", "93785"),
            ("[s].00", "93784.50"),
            ("[h]", "26"),
            ("[Red][h]:mm", "26:03"),
            // Its words are the format's: the value is the hours and minutes.
            ("\"took \"[h]\" h \"mm\" min\"", "26:03"),
        ] {
            let pattern = DurationPattern::parse(code).unwrap_or_else(|| panic!("{code}"));
            assert_eq!(pattern.show(ms), shown, "{code}");
        }
        assert_eq!(DurationPattern::parse("[h]:mm").unwrap().show(-90 * 60_000), "-1:30");
        assert_eq!(DurationPattern::parse("[h]:mm").unwrap().show(20_000), "0:00");
        // A bracket of 70,000 `h` panicked the formatter (widths stop at 65,535).
        let wide = format!("[{}]:mm", "h".repeat(70_000));
        assert_eq!(DurationPattern::parse(&wide).unwrap().show(90 * 60_000), format!("{}1:30", "0".repeat(19)));
        for code in ["h:mm", "0.00", "[Red]0.00", "[$-409]h:mm AM/PM", "\"[h]\" 0"] {
            assert_eq!(DurationPattern::parse(code), None, "{code}");
        }
    }

    #[test]
    fn durations_read_as_the_sheet_shows_them() {
        assert_eq!(duration_text(0.0625), "01:30:00");
        assert_eq!(duration_text(1.085416666666667), "26:03:00");
        assert_eq!(duration_text(-0.5), "-12:00:00");
        assert_eq!(duration_text(0.0), "00:00:00");
        assert_eq!(duration_text(1.5 / 86_400.0), "00:00:01.500");
        let duration =
            DataRef::DateTime(calamine::ExcelDateTime::new(0.0625, calamine::ExcelDateTimeType::TimeDelta, false));
        assert_eq!(to_cell(&duration), CellRef::Str("01:30:00".into()));
    }

    #[test]
    fn fractions_read_as_the_spreadsheet_shows_them() {
        assert_eq!(as_shown(56.99999999999999), 57.0);
        assert_eq!(as_shown(2.9999999999999996), 3.0);
        assert_eq!(as_shown(0.1 + 0.2), 0.3);
        assert_eq!(as_shown(0.07 * 3.0), 0.21);
        assert_ne!(0.07 * 3.0, 0.21);
        assert_eq!(as_shown(-1234.5678), -1234.5678);
        assert_eq!(as_shown(1e-20 / 3.0), 3.33333333333333e-21);
        // Whole numbers keep every digit the file holds.
        assert_eq!(as_shown(9_007_199_254_740_992.0), 9_007_199_254_740_992.0);
        assert_eq!(as_shown(1_234_567_890_123_456.5), 1_234_567_890_123_456.5, "16 whole digits");
        assert_eq!(as_shown(1_000_000_000_000_000.0 * 1.1), 1_100_000_000_000_000.0, "a float's last step");
        assert_eq!(as_shown(-4_503_599_627_370_495.5), -4_503_599_627_370_495.5);
        assert_eq!(as_shown(123_456_789_012_345_680.0), 123_456_789_012_345_680.0);
    }

    #[test]
    fn shared_formula_indexes_are_found_across_read_blocks() {
        let zip_of = |xml: &str| {
            let mut out = std::io::Cursor::new(Vec::new());
            let mut zip = zip::ZipWriter::new(&mut out);
            let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
            zip.start_file("xl/worksheets/sheet1.xml", stored).unwrap();
            std::io::Write::write_all(&mut zip, xml.as_bytes()).unwrap();
            zip.finish().unwrap();
            out.set_position(0);
            out
        };
        // The tag at every offset around the first block's end (64 KiB), spelled as calamine
        // still reads it.
        for pad in 65_500..65_560 {
            for tag in [
                "<f t=\"shared\" si=\"4000000000\" ref=\"B3:B4\">A1</f>",
                "<x:f t=\"shared\" si =\"4000000000\" ref=\"B3:B4\">A1</x:f>",
                "<f t=\"shared\" si= '0000000000000000000000000000000000000004000000000' ref=\"B3:B4\"/>",
                // calamine reads `si` on any element of a cell, and `>` may stand in a value.
                "<c r=\"A1\"><v t=\"shared\" si=\"4000000000\" ref=\"A1\">1</v></c>",
                "<f t=\"shared\" ref=\"A1:A2\" x=\">\" si=\"4000000000\">A1</f>",
            ] {
                let huge = format!("{}{tag}", " ".repeat(pad));
                assert!(!shared_formula_indexes_within(zip_of(&huge), 1 << 20).unwrap(), "padding {pad}: {tag}");
            }
        }
        // Small indexes, other attributes, and text (whose `<` is escaped) are fine.
        let fine = format!(
            "{}<f t='shared' si='12' ref='B3:B4'/><c xmlns:xsi=\"http://x\" si=\"7\"/><t>note si=\"123456789\" &lt;f si=\"123456789\"</t>",
            " ".repeat(70_000)
        );
        assert!(shared_formula_indexes_within(zip_of(&fine), 1 << 20).unwrap());
    }

    #[test]
    fn an_xml_fault_is_found_in_its_part() {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, xml) in [
            ("xl/workbook.xml", "<workbook><sheets><sheet name=\"S\"/></sheets></workbook>"),
            ("xl/styles.xml", "<styleSheet><numFmts count=\"1\"><numFmt numFmtId=\"164\""),
        ] {
            zip.start_file(name, stored).unwrap();
            std::io::Write::write_all(&mut zip, xml.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
        out.set_position(0);
        assert_eq!(xml_fault(out).as_deref(), Some("xl/styles.xml, byte 31"), "where the open tag starts");
    }

    #[test]
    fn numbers_that_are_not_finite_are_errors() {
        assert_eq!(to_cell(&DataRef::Float(f64::INFINITY)), CellRef::Error("#NUM! (inf)".into()));
        assert_eq!(to_cell(&DataRef::Float(f64::NEG_INFINITY)), CellRef::Error("#NUM! (-inf)".into()));
        assert_eq!(to_cell(&DataRef::Float(f64::NAN)), CellRef::Error("#NUM! (NaN)".into()));
        assert_eq!(to_cell(&DataRef::Float(1.5)), CellRef::Number(1.5));
        // In a date format too (chunk storage could not hold it as a date).
        let date = |v| DataRef::DateTime(calamine::ExcelDateTime::new(v, calamine::ExcelDateTimeType::DateTime, false));
        assert_eq!(to_cell(&date(f64::INFINITY)), CellRef::Error("#NUM! (inf)".into()));
        assert_eq!(to_cell(&date(45000.0)), CellRef::ExcelDate(45000.0));
    }

    #[test]
    fn formats_that_show_a_time_of_day_are_told() {
        for code in
            ["m/d/yy h:mm", "yyyy-mm-dd hh:mm:ss", "h:mm AM/PM", "dd/mm/yyyy h:mm a/p", "mm:ss", "[$-409]d-mmm h:mm"]
        {
            assert!(shows_time_of_day(code), "{code}");
        }
        // Quoted or escaped letters, brackets, later sections and durations show no hour.
        for code in [
            "yyyy-mm-dd",
            "d\"th\" mmmm yyyy",
            "d\\h mmm",
            "[Red]dd/mm/yyyy",
            "dd/mm/yyyy;h:mm",
            "General",
            "\"unclosed h",
        ] {
            assert!(!shows_time_of_day(code), "{code}");
        }
    }

    #[test]
    fn a_subtotal_of_the_rows_above_makes_a_totals_row_and_a_running_one_does_not() {
        let f = |text: &str| XlsxFormulaMetadata::Normal { formula: text.to_string() };
        assert!(totals_rows_above(&f("SUBTOTAL(109,C2:C4)"), 5));
        assert!(totals_rows_above(&f("subtotal(9,$C$2:$C$40)"), 41));
        assert!(totals_rows_above(&f("SUBTOTAL(9,Sheet1!C2:C4)"), 5), "the sheet's name is no reference");
        assert!(!totals_rows_above(&f("SUBTOTAL(3,$B$2:B2)"), 2), "numbering the rows a filter shows");
        assert!(!totals_rows_above(&f("SUBTOTAL(3,$B$1:B1)"), 2), "counting from the header row");
        assert!(!totals_rows_above(&f("SUBTOTAL(9,$B$2:B7)"), 7), "a running total");
        assert!(!totals_rows_above(&f("SUBTOTAL(9,B2:B40)"), 1), "a total above the data");
        assert!(!totals_rows_above(&f("SUM(C2:C4)"), 5));
        assert!(totals_rows_above(&f("ROUND(SUBTOTAL(9,C2:C4),2)"), 5), "inside another function");
        assert!(!totals_rows_above(&f("IF(A5=\"\",\"\",SUBTOTAL(9,C2:C4))"), 5), "a reference to its own row");
        assert!(!totals_rows_above(&f("SUBTOTAL(9,Amounts)"), 5), "a named range: unknown rows");
        assert!(!totals_rows_above(&f("SUBTOTAL(9,C4)"), 5), "one cell is no total");
    }

    #[test]
    fn formats_that_show_a_time_alone_are_told_from_date_and_time_formats() {
        for code in ["h:mm", "hh:mm:ss", "h:mm AM/PM", "[$-409]h:mm:ss AM/PM", "mm:ss.0", "\"at\" hh:mm", "hh\\hmm"] {
            assert!(shows_time_of_day(code) && !shows_date(code), "{code}");
        }
        for code in
            ["m/d/yy h:mm", "yyyy-mm-dd hh:mm", "dd hh:mm", "mmm hh:mm", "[$-409]ddd h:mm", "e/m/d h:mm", "bbbb hh:mm"]
        {
            assert!(shows_date(code), "{code}");
        }
    }

    #[test]
    fn iso_date_cells_at_midnight_are_dates() {
        assert_eq!(iso_date_cell("2024-03-01T00:00:00"), "2024-03-01");
        assert_eq!(iso_date_cell("1999-12-31T00:00:00.000Z"), "1999-12-31");
        assert_eq!(iso_date_cell("2024-03-01T13:05:00"), "2024-03-01T13:05:00");
        assert_eq!(iso_date_cell("2024-03-01"), "2024-03-01");
        assert_eq!(iso_date_cell("2024-03-01T"), "2024-03-01T");
    }

    #[test]
    fn a_workbook_marked_for_recalculation_is_told() {
        assert!(full_calc_on_load(br#"<workbook><calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>"#));
        assert!(full_calc_on_load(br#"<x:calcPr fullCalcOnLoad = 'true' calcId="1"/>"#));
        assert!(!full_calc_on_load(br#"<workbook><calcPr calcId="191029"/></workbook>"#));
        assert!(!full_calc_on_load(br#"<calcPr fullCalcOnLoad="0"/>"#));
        assert!(!full_calc_on_load(br#"<calcPr calcId="1"/><x fullCalcOnLoad="1"/>"#));
        assert!(!full_calc_on_load(b"<workbook/>"));
        assert!(full_calc_on_load(b"<calcPr\n  fullCalcOnLoad=\"1\"/>"));
        assert!(!full_calc_on_load(b"<calcPrX fullCalcOnLoad=\"1\"/>"));
    }

    #[test]
    fn the_shared_strings_count_is_read_from_the_part_head() {
        assert_eq!(unique_count(&br#"<sst xmlns="x" count="9" uniqueCount="7"><si>"#[..]), Some(7));
        assert_eq!(unique_count(&b"<sst uniqueCount='2147483647'>"[..]), Some(2_147_483_647));
        assert_eq!(unique_count(&br#"<sst uniqueCount="99999999999999999999999">"#[..]), Some(u64::MAX));
        assert_eq!(unique_count(&br#"<sst uniqueCount="-1">"#[..]), None, "not a count calamine reads");
        assert_eq!(unique_count(&br#"<sst count="3">"#[..]), None);
        // Read as calamine reads it: spaces around `=`, a comment or padding before the tag.
        assert_eq!(unique_count(&br#"<sst uniqueCount ="4611686018427387904">"#[..]), Some(4_611_686_018_427_387_904));
        let commented = br#"<?xml version="1.0"?><!-- uniqueCount="2" --><x:sst uniqueCount="123456789012">"#;
        assert_eq!(unique_count(&commented[..]), Some(123_456_789_012));
        let padded = format!("{}<sst uniqueCount=\"99999999999\">", " ".repeat(8192));
        assert_eq!(unique_count(padded.as_bytes()), Some(99_999_999_999));
    }

    #[test]
    fn declared_dimensions_are_read_from_the_sheet_head() {
        let head = br#"<?xml version="1.0"?><worksheet><dimension ref="A1:XFD1048576"/><sheetData>"#;
        let dim = declared_dimension(head).unwrap();
        assert_eq!(dim, "A1:XFD1048576");
        let prefixed = br#"<x:worksheet xmlns:x="urn"><x:sheetPr/><x:dimension ref="A1:C3"/><x:sheetData>"#;
        assert_eq!(declared_dimension(prefixed).as_deref(), Some("A1:C3"));
        assert_eq!(declared_dimension(br#"<worksheet><note text="dimension ref=1"/>"#), None);
        assert_eq!(declared_dimension("<x:dimension ref=éA1:C3é/>".as_bytes()), None);
        assert_eq!(declared_dimension(b"<dimension ref='B2:C3'/>").as_deref(), Some("B2:C3"));
        // Linear in the head, whatever it holds.
        let noise = format!("<x:a b=\"{}\"/>", "dimension".repeat(7000));
        assert_eq!(declared_dimension(noise.as_bytes()), None);
    }

    #[test]
    fn cell_references_must_lie_inside_a_sheet() {
        assert_eq!(cell_position("A1"), Some((1, 1)));
        assert_eq!(cell_position("xfd1048576"), Some((1_048_576, 16_384)));
        assert_eq!(cell_position("XFE1"), None);
        assert_eq!(cell_position("A1048577"), None);
        assert_eq!(cell_position("A99999999999"), None);
        assert_eq!(cell_position("A0"), None);
        assert_eq!(cell_position("1"), None);
        assert_eq!(cell_position("A"), None);
        assert_eq!(cell_position("$A$1"), None);
    }
}
