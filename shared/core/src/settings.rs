//! Import settings: what a template declares and what one import may override.
//!
//! A template carries a [`SettingsPatch`]; an import may carry another. Patches merge key by key
//! (the later one wins for every key it names) and resolve into [`Settings`], where every value is
//! concrete. The names and values follow Dromo's headless API (`invalid_data_behavior`,
//! `import_identifier`) and DatAscend's upload options (`locale`, `timezone_offset_minutes`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What finalize does with invalid rows (Dromo's `invalidDataBehavior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InvalidDataBehavior {
    /// Any invalid row sends the import to `NEEDS_REVIEW`; nothing is delivered.
    #[default]
    BlockSubmit,
    /// Only valid rows are kept and delivered.
    RemoveInvalidRows,
    /// Every row is kept and delivered; invalid rows carry their errors.
    IncludeInvalidRows,
}

impl InvalidDataBehavior {
    /// The wire name, as in the template and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BlockSubmit => "BLOCK_SUBMIT",
            Self::RemoveInvalidRows => "REMOVE_INVALID_ROWS",
            Self::IncludeInvalidRows => "INCLUDE_INVALID_ROWS",
        }
    }

    /// Parses the wire name; also accepts lower case and dashes, as typed on a command line.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_uppercase().replace('-', "_").as_str() {
            "BLOCK_SUBMIT" => Some(Self::BlockSubmit),
            "REMOVE_INVALID_ROWS" => Some(Self::RemoveInvalidRows),
            "INCLUDE_INVALID_ROWS" => Some(Self::IncludeInvalidRows),
            _ => None,
        }
    }
}

/// Which repeated rows count as duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dedupe {
    /// No row-level duplicate detection (field-level `unique` still applies).
    #[default]
    Off,
    /// A row whose normalized content repeats an earlier row of the same file is invalid.
    WithinFile,
    /// As `within_file`, and also against rows delivered by earlier imports of the same
    /// template and tenant (seed 004's row hash).
    AcrossImports,
}

/// The order of day, month and year in dates that are not ISO 8601.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DateOrder {
    /// `31/12/2024`
    Dmy,
    /// `12/31/2024`
    Mdy,
    /// `2024/12/31`
    Ymd,
}

/// A sheet chosen by name or by 1-based position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SheetRef {
    /// 1-based position among the workbook's sheets.
    Index(u32),
    /// The sheet's name as Excel shows it on its tab.
    Name(String),
}

impl fmt::Display for SheetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Index(i) => write!(f, "#{i}"),
            Self::Name(n) => write!(f, "{n:?}"),
        }
    }
}

/// Settings as written in a template or an import request: every key optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// See [`Settings::invalid_data_behavior`].
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "invalidDataBehavior")]
    pub invalid_data_behavior: Option<InvalidDataBehavior>,
    /// See [`Settings::max_error_percent`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_percent: Option<f64>,
    /// See [`Settings::import_identifier`].
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "importIdentifier")]
    pub import_identifier: Option<String>,
    /// See [`Settings::chunk_rows`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_rows: Option<u32>,
    /// See [`Settings::locale`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// See [`Settings::date_order`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_order: Option<DateOrder>,
    /// See [`Settings::decimal_comma`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimal_comma: Option<bool>,
    /// See [`Settings::timezone_offset_minutes`].
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "timezoneOffset")]
    pub timezone_offset_minutes: Option<i32>,
    /// See [`Settings::encoding`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// See [`Settings::delimiter`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// See [`Settings::sheet`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<SheetRef>,
    /// See [`Settings::header_row`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_row: Option<u32>,
    /// See [`Settings::mapping`]. Merged entry by entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<BTreeMap<String, Option<String>>>,
    /// See [`Settings::pass_through_unmapped`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_through_unmapped: Option<bool>,
    /// See [`Settings::dedupe`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedupe: Option<Dedupe>,
    /// See [`Settings::trim_whitespace`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trim_whitespace: Option<bool>,
    /// See [`Settings::null_values`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_values: Option<Vec<String>>,
    /// See [`Settings::max_columns`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_columns: Option<u32>,
    /// See [`Settings::max_field_bytes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_field_bytes: Option<u32>,
    /// See [`Settings::max_json_bytes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_json_bytes: Option<u64>,
}

impl SettingsPatch {
    /// Lays `over` on top of `self`: every key `over` names wins; mapping entries merge.
    pub fn merged(&self, over: &SettingsPatch) -> SettingsPatch {
        fn pick<T: Clone>(base: &Option<T>, over: &Option<T>) -> Option<T> {
            over.clone().or_else(|| base.clone())
        }
        let mapping = match (&self.mapping, &over.mapping) {
            (Some(base), Some(top)) => {
                // A field the override maps is mapped by it alone: the base's column for it goes.
                let mut merged = base.clone();
                merged.retain(|_, field| field.as_ref().is_none_or(|f| !top.values().any(|t| t.as_ref() == Some(f))));
                merged.extend(top.iter().map(|(k, v)| (k.clone(), v.clone())));
                Some(merged)
            }
            (base, top) => pick(base, top),
        };
        SettingsPatch {
            invalid_data_behavior: pick(&self.invalid_data_behavior, &over.invalid_data_behavior),
            max_error_percent: pick(&self.max_error_percent, &over.max_error_percent),
            import_identifier: pick(&self.import_identifier, &over.import_identifier),
            chunk_rows: pick(&self.chunk_rows, &over.chunk_rows),
            locale: pick(&self.locale, &over.locale),
            date_order: pick(&self.date_order, &over.date_order),
            decimal_comma: pick(&self.decimal_comma, &over.decimal_comma),
            timezone_offset_minutes: pick(&self.timezone_offset_minutes, &over.timezone_offset_minutes),
            encoding: pick(&self.encoding, &over.encoding),
            delimiter: pick(&self.delimiter, &over.delimiter),
            sheet: pick(&self.sheet, &over.sheet),
            header_row: pick(&self.header_row, &over.header_row),
            mapping,
            pass_through_unmapped: pick(&self.pass_through_unmapped, &over.pass_through_unmapped),
            dedupe: pick(&self.dedupe, &over.dedupe),
            trim_whitespace: pick(&self.trim_whitespace, &over.trim_whitespace),
            null_values: pick(&self.null_values, &over.null_values),
            max_columns: pick(&self.max_columns, &over.max_columns),
            max_field_bytes: pick(&self.max_field_bytes, &over.max_field_bytes),
            max_json_bytes: pick(&self.max_json_bytes, &over.max_json_bytes),
        }
    }

    /// Resolves every key to a concrete value, checking ranges. `path` prefixes error paths.
    pub fn resolve(&self, path: &str) -> Result<Settings, SettingsError> {
        let err = |key: &str, message: String| SettingsError {
            path: if path.is_empty() { key.to_string() } else { format!("{path}.{key}") },
            message,
        };
        let defaults = Settings::default();
        if let Some(p) = self.max_error_percent
            && !(0.0..=100.0).contains(&p)
        {
            return Err(err("max_error_percent", format!("must be between 0 and 100, got {p}")));
        }
        let chunk_rows = self.chunk_rows.unwrap_or(defaults.chunk_rows);
        if !(1..=1_000_000).contains(&chunk_rows) {
            return Err(err("chunk_rows", format!("must be between 1 and 1000000, got {chunk_rows}")));
        }
        let locale = match &self.locale {
            Some(tag) => Some(Locale::parse(tag).ok_or_else(|| {
                err("locale", format!("unknown locale {tag:?}; use a tag such as en-US, en-GB, de-DE or fr-FR"))
            })?),
            None => None,
        };
        let date_order = self.date_order.or(locale.as_ref().map(|l| l.date_order));
        let decimal_comma = self.decimal_comma.or(locale.as_ref().map(|l| l.decimal_comma)).unwrap_or(false);
        let offset = self.timezone_offset_minutes.unwrap_or(0);
        if !(-18 * 60..=18 * 60).contains(&offset) {
            return Err(err("timezone_offset_minutes", format!("must be between -1080 and 1080, got {offset}")));
        }
        if let Some(label) = &self.encoding
            && crate::read::encoding::encoding_for_label(label).is_none()
        {
            return Err(err("encoding", format!("unknown encoding {label:?}")));
        }
        let delimiter = match &self.delimiter {
            Some(d) => Some(parse_delimiter(d).ok_or_else(|| {
                err("delimiter", format!("must be one ASCII character such as , ; | or \\t, got {d:?}"))
            })?),
            None => None,
        };
        if let Some(SheetRef::Index(0)) = self.sheet {
            return Err(err("sheet", "sheet positions start at 1".to_string()));
        }
        let header_row = self.header_row.unwrap_or(1);
        let trim_whitespace = self.trim_whitespace.unwrap_or(true);
        let null_values = self.null_values.clone().unwrap_or_default();
        if null_values.len() > MAX_NULL_VALUES {
            return Err(err("null_values", format!("at most {MAX_NULL_VALUES} markers, got {}", null_values.len())));
        }
        let mut markers = Vec::with_capacity(null_values.len());
        for (i, marker) in null_values.iter().enumerate() {
            let key = format!("null_values[{i}]");
            let read = if trim_whitespace { crate::convert::trim(marker) } else { marker.as_str() };
            if read.is_empty() {
                return Err(err(&key, "an empty marker: empty cells are null already".to_string()));
            }
            if read.len() > MAX_NULL_VALUE_BYTES {
                return Err(err(&key, format!("longer than {MAX_NULL_VALUE_BYTES} bytes")));
            }
            markers.push(read.to_string());
        }
        let max_columns = self.max_columns.unwrap_or(defaults.max_columns);
        if !(1..=16_384).contains(&max_columns) {
            return Err(err("max_columns", format!("must be between 1 and 16384, got {max_columns}")));
        }
        // Without a header row a number names a column, and the rows are read that wide.
        if header_row == 0
            && let Some((key, n)) = self.mapping.iter().flatten().find_map(|(key, _)| {
                crate::mapping::column_number(key).filter(|n| *n > max_columns as usize).map(|n| (key, n))
            })
        {
            return Err(err(
                &format!("mapping.{key}"),
                format!("column {n} is beyond the {max_columns} columns a file may have (max_columns)"),
            ));
        }
        let max_field_bytes = self.max_field_bytes.unwrap_or(defaults.max_field_bytes);
        if !(1..=64 << 20).contains(&max_field_bytes) {
            return Err(err("max_field_bytes", format!("must be between 1 and 67108864, got {max_field_bytes}")));
        }
        Ok(Settings {
            invalid_data_behavior: self.invalid_data_behavior.unwrap_or_default(),
            max_error_percent: self.max_error_percent,
            import_identifier: self.import_identifier.clone(),
            chunk_rows,
            locale: self.locale.clone(),
            date_order,
            decimal_comma,
            timezone_offset_minutes: offset,
            encoding: self.encoding.clone(),
            delimiter,
            sheet: self.sheet.clone(),
            header_row,
            header_row_given: self.header_row.is_some(),
            mapping: self.mapping.clone().unwrap_or_default(),
            pass_through_unmapped: self.pass_through_unmapped.unwrap_or(false),
            dedupe: self.dedupe.unwrap_or_default(),
            trim_whitespace,
            null_values: markers,
            max_columns,
            max_field_bytes,
            max_json_bytes: self.max_json_bytes.unwrap_or(defaults.max_json_bytes),
        })
    }
}

/// Most entries `null_values` may have.
const MAX_NULL_VALUES: usize = 64;
/// Longest entry of `null_values`, in bytes.
const MAX_NULL_VALUE_BYTES: usize = 256;

/// Parses a delimiter as written by a person: `,`, `;`, `|`, `\t`, `tab`.
pub fn parse_delimiter(text: &str) -> Option<u8> {
    match text {
        "\\t" | "tab" | "TAB" | "\t" => Some(b'\t'),
        _ => match text.as_bytes() {
            [b] if b.is_ascii() && !matches!(b, b'"' | b'\r' | b'\n') => Some(*b),
            // Empty, longer, or a quote or line break, which cannot part fields.
            _ => None,
        },
    }
}

/// [`Settings::delimiter`] as the character it is.
mod delimiter_text {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(delimiter: &Option<u8>, s: S) -> Result<S::Ok, S::Error> {
        match delimiter {
            Some(b) => s.serialize_some(&char::from(*b).to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Byte(u8),
            Text(String),
        }
        match Option::<Written>::deserialize(d)? {
            None => Ok(None),
            Some(Written::Byte(b)) => Ok(Some(b)),
            Some(Written::Text(t)) => {
                super::parse_delimiter(&t).map(Some).ok_or_else(|| D::Error::custom(format!("not a delimiter: {t:?}")))
            }
        }
    }
}

/// Every setting with a concrete value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// What finalize does with invalid rows.
    pub invalid_data_behavior: InvalidDataBehavior,
    /// Above this share of invalid rows (0–100) the import fails; `None` never fails on errors.
    pub max_error_percent: Option<f64>,
    /// A caller-chosen label carried on the import and in webhook payloads.
    pub import_identifier: Option<String>,
    /// Data rows per chunk.
    pub chunk_rows: u32,
    /// The locale tag the date order and decimal comma came from, if any.
    pub locale: Option<String>,
    /// How to read non-ISO dates; `None` accepts ISO 8601 only.
    pub date_order: Option<DateOrder>,
    /// Whether decimals are written with a comma (`1.234,56`).
    pub decimal_comma: bool,
    /// Offset applied to date-times written without one.
    pub timezone_offset_minutes: i32,
    /// Encoding label that overrides detection.
    pub encoding: Option<String>,
    /// Delimiter that overrides detection. Written as the character (`";"`); a number, as
    /// records written before held it, still reads.
    #[serde(with = "delimiter_text")]
    pub delimiter: Option<u8>,
    /// The sheet to read from a workbook; the first sheet when `None`.
    pub sheet: Option<SheetRef>,
    /// 1-based row (non-empty record) holding the column headers; rows above it are skipped.
    /// Left at 1, a title above the header is passed over (see
    /// [`crate::mapping::header_below_titles`]). 0: the file has no header row, every row is
    /// data, and columns are mapped by number (see [`crate::mapping::map_headerless`]).
    pub header_row: u32,
    /// Whether `header_row` was given (in the template or for the import): then a header row
    /// of 1 is the first row, and no title above it is looked for.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub header_row_given: bool,
    /// Explicit mapping: header name, or 1-based column number, to field key (`None` ignores the column).
    pub mapping: BTreeMap<String, Option<String>>,
    /// Whether columns mapped to no field travel with each row under `unmapped`.
    pub pass_through_unmapped: bool,
    /// Row-level duplicate detection.
    pub dedupe: Dedupe,
    /// Whether leading and trailing whitespace is removed from every cell before parsing.
    pub trim_whitespace: bool,
    /// Text cells that mean "no value" (`\N`, `NULL`, `NA`, `#N/A` as exports write them):
    /// read as empty cells, matched exactly (case and all) after trimming. None by default:
    /// `NA` is also Namibia.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub null_values: Vec<String>,
    /// Most columns a file may have.
    pub max_columns: u32,
    /// Largest single field, in bytes.
    pub max_field_bytes: u32,
    /// Largest JSON (`initial_data`) input, in bytes.
    pub max_json_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            invalid_data_behavior: InvalidDataBehavior::default(),
            max_error_percent: None,
            import_identifier: None,
            chunk_rows: 20_000,
            locale: None,
            date_order: None,
            decimal_comma: false,
            timezone_offset_minutes: 0,
            encoding: None,
            delimiter: None,
            sheet: None,
            header_row: 1,
            header_row_given: false,
            mapping: BTreeMap::new(),
            pass_through_unmapped: false,
            dedupe: Dedupe::Off,
            trim_whitespace: true,
            null_values: Vec::new(),
            max_columns: 2_048,
            max_field_bytes: 1 << 20,
            max_json_bytes: 15 * 1024 * 1024,
        }
    }
}

/// At most this many cells (rows times template fields) go into one chunk, whatever
/// `chunk_rows` says: a chunk's results are built in memory, and a row can hold an error for
/// every field, each some hundreds of bytes in `errors.jsonl`, `results.csv` and (with invalid
/// rows included) `rows.jsonl`. 20,000 rows of a 100-field template that are all invalid made
/// 650 MB of results in one chunk; at this bound they make about 100 MB, in chunks that run in
/// parallel. Templates of up to 13 fields keep the default 20,000 rows.
pub const CELLS_PER_CHUNK: u32 = 1 << 18;

impl Settings {
    /// Data rows per chunk for a template of `fields` fields: `chunk_rows`, but no more than
    /// [`CELLS_PER_CHUNK`] cells.
    pub fn rows_per_chunk(&self, fields: usize) -> u32 {
        let fields = u32::try_from(fields.max(1)).unwrap_or(u32::MAX);
        self.chunk_rows.min(CELLS_PER_CHUNK / fields).max(1)
    }

    /// Whether the file has no header row (`header_row` 0).
    pub fn headerless(&self) -> bool {
        self.header_row == 0
    }

    /// The non-empty record the reader starts at: the header's, or with no header row, the
    /// first.
    pub fn first_row(&self) -> u32 {
        self.header_row.max(1)
    }

    /// Largest record (one row with all its fields), in bytes.
    pub fn max_record_bytes(&self) -> usize {
        (self.max_field_bytes as usize).saturating_mul(4).max(1 << 20)
    }
}

/// ISO 639-1 language codes.
const LANGUAGES: &str = "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv \
    cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig \
    ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn \
    mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk \
    sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za \
    zh zu";

/// Languages that write a decimal comma (outside Switzerland and Liechtenstein), as CLDR has
/// them.
const DECIMAL_COMMA_LANGUAGES: &str = "de fr es it pt nl da nb no nn sv fi pl cs sk ru uk tr el ro hu id vi lt lv et \
    sl hr sr bg ca gl eu is fo mk bs be az lb kk sq hy ka uz ky tk tg br fy se kl lo km";

/// Regions where Arabic is written with Latin digits and a decimal comma (CLDR): the Maghreb
/// and Lebanon.
const ARABIC_DECIMAL_COMMA_REGIONS: &str = "dz lb ma tn";

/// Regions where English is written with a decimal comma (CLDR), as in the region's own
/// language.
const ENGLISH_DECIMAL_COMMA_REGIONS: &str = "at be de dk fi nl se si";

/// Regions where Spanish is written with a decimal point (CLDR): Latin America as a whole
/// (`419`), Mexico, the US, Central America, the Caribbean, Peru.
const SPANISH_DECIMAL_POINT_REGIONS: &str = "419 mx us gt hn ni pa pr sv do cu pe bz";

/// Languages with a decimal comma that group thousands with spaces (`1 234,56`); also `pt-PT`.
const SPACE_GROUPING_LANGUAGES: &str =
    "fr sv nb no nn fi pl cs sk ru uk bg et lt lv hu be kk sq hy ka uz ky tk tg br se";

/// Languages of India (and Bangladesh and Nepal) whose numbers group in lakhs and crores
/// (`1,23,45,678`), as CLDR has them; any language in region `IN` does too (`en-IN`).
const LAKH_LANGUAGES: &str = "hi bn gu kn ml mr ta te pa or as ne";

/// ISO 639-2 codes of the most used languages that have a two-letter code, which a tag must use.
const HAS_TWO_LETTER_CODE: &str = "ara ben ces chi cze dan deu dut ell eng fas fin fra fre ger gre heb hin hun ind \
    ita jpn kor msa nld nor per pol por ron rum rus spa swe tha tur ukr urd vie zho";

/// The parts of a locale that change how values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locale {
    /// Order of non-ISO dates.
    pub date_order: DateOrder,
    /// Whether the decimal separator is a comma.
    pub decimal_comma: bool,
    /// The thousands separator of numbers written with a decimal point: `,`, or `'` in
    /// Switzerland and Liechtenstein. (With a decimal comma it is `.`.)
    pub point_thousands: u8,
    /// Whether numbers group thousands with spaces (`1 234,56` in French, Nordic and Slavic
    /// languages; spreadsheets write a no-break space).
    pub space_thousands: bool,
    /// Whether numbers may group in lakhs and crores, as India writes them (`1,23,45,678.50`:
    /// three digits last, twos before them).
    pub lakh_grouping: bool,
    /// Whether written dates may count years in the Buddhist era, as Thai exports write them
    /// (2567 is 2024).
    pub buddhist_era: bool,
}

impl Locale {
    /// Reads a BCP 47 tag such as `en-US`, `de_DE` or `fr`.
    pub fn parse(tag: &str) -> Option<Locale> {
        // POSIX spellings carry a codeset or modifier: `en_US.UTF-8`, `de_DE@euro`.
        let tag = tag.trim().split(['.', '@']).next().unwrap_or_default().replace('_', "-").to_ascii_lowercase();
        let mut parts = tag.split('-');
        // A language that is not one (`eng-US`, a typo) must not quietly read dates day-first.
        let language = match parts.next()? {
            // Java's old codes for Hebrew, Indonesian and Yiddish.
            "iw" => "he",
            "in" => "id",
            "ji" => "yi",
            l if l.len() == 2 && LANGUAGES.split(' ').any(|k| k == l) => l,
            // Three letters name a language without a two-letter code (`fil`, `nds`); those
            // that have one (`eng`, `deu`) are the spellings a typo or a mix-up gives.
            l if l.len() == 3
                && l.bytes().all(|b| b.is_ascii_lowercase())
                && !HAS_TWO_LETTER_CODE.split(' ').any(|k| k == l) =>
            {
                l
            }
            _ => return None,
        };
        let region = parts.next().unwrap_or("");
        // English in the US and its territories (Puerto Rico, Guam, the Virgin Islands, American
        // Samoa, the Northern Marianas, the outlying islands) writes the month first, as CLDR has it.
        let mdy = matches!(
            (language, region),
            ("en", "us" | "" | "ph" | "pr" | "gu" | "vi" | "as" | "mp" | "um")
                | ("es", "us" | "pa" | "pr")
                | ("fil", _)
        );
        let ymd = matches!(language, "zh" | "ja" | "ko" | "hu" | "lt" | "sv" | "mn");
        let listed = |list: &str| list.split(' ').any(|l| l == language);
        let region_listed = |list: &str| list.split(' ').any(|r| r == region);
        // Regions that write numbers otherwise than their language mostly does (CLDR): Mexico,
        // Central America, the Caribbean, Peru and the US write Spanish with a decimal point
        // (`1,234.56`). (South Africa's CLDR decimal comma is left out: its banks and ERP exports
        // write decimal points, and a comma reading would take `12.345` for 12345.)
        let point_spanish = language == "es" && region_listed(SPANISH_DECIMAL_POINT_REGIONS);
        let decimal_comma = (listed(DECIMAL_COMMA_LANGUAGES)
            || (language == "ar" && region_listed(ARABIC_DECIMAL_COMMA_REGIONS))
            || (language == "en" && region_listed(ENGLISH_DECIMAL_COMMA_REGIONS)))
            && !matches!(region, "ch" | "li")
            && !point_spanish;
        let point_thousands = if matches!(region, "ch" | "li") { b'\'' } else { b',' };
        let space_thousands = decimal_comma && (listed(SPACE_GROUPING_LANGUAGES) || (language, region) == ("pt", "pt"));
        let lakh_grouping = !decimal_comma
            && (region == "in"
                || (region.is_empty() && listed(LAKH_LANGUAGES))
                || matches!((language, region), ("bn", "bd") | ("ne", "np")));
        Some(Locale {
            date_order: if ymd {
                DateOrder::Ymd
            } else if mdy {
                DateOrder::Mdy
            } else {
                DateOrder::Dmy
            },
            decimal_comma,
            point_thousands,
            space_thousands,
            lakh_grouping,
            // Unless the tag asks for the Gregorian calendar (`th-TH-u-ca-gregory`).
            buddhist_era: language == "th" && !tag.contains("-ca-gregory"),
        })
    }
}

/// A setting that cannot be used, with the path of the offending key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SettingsError {
    /// Where the fault is, such as `settings.chunk_rows`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_override_wins_key_by_key_and_mappings_merge() {
        let template = SettingsPatch {
            invalid_data_behavior: Some(InvalidDataBehavior::BlockSubmit),
            chunk_rows: Some(500),
            mapping: Some(BTreeMap::from([("E-mail".into(), Some("email".into()))])),
            ..Default::default()
        };
        let import = SettingsPatch {
            invalid_data_behavior: Some(InvalidDataBehavior::RemoveInvalidRows),
            mapping: Some(BTreeMap::from([("2".into(), Some("name".into()))])),
            ..Default::default()
        };
        let s = template.merged(&import).resolve("settings").unwrap();
        assert_eq!(s.invalid_data_behavior, InvalidDataBehavior::RemoveInvalidRows);
        assert_eq!(s.chunk_rows, 500);
        assert_eq!(s.mapping.len(), 2);
        // A field the import maps is its mapping alone: the template's column for it goes.
        let import = SettingsPatch {
            mapping: Some(BTreeMap::from([("Mail".into(), Some("email".into()))])),
            ..Default::default()
        };
        let s = template.merged(&import).resolve("settings").unwrap();
        assert_eq!(s.mapping, BTreeMap::from([("Mail".into(), Some("email".into()))]));
    }

    #[test]
    fn a_locale_sets_date_order_and_decimal_comma() {
        let check = |tag: &str, order: DateOrder, comma: bool| {
            let l = Locale::parse(tag).unwrap();
            assert_eq!((l.date_order, l.decimal_comma), (order, comma), "{tag}");
        };
        check("en-US", DateOrder::Mdy, false);
        check("en-GB", DateOrder::Dmy, false);
        check("de_DE", DateOrder::Dmy, true);
        check("fr", DateOrder::Dmy, true);
        check("ja-JP", DateOrder::Ymd, false);
        assert!(Locale::parse("x").is_none());
        check("in-ID", DateOrder::Dmy, true);
        check("en_US.UTF-8", DateOrder::Mdy, false);
        check("de_DE@euro", DateOrder::Dmy, true);
        check("fil-PH", DateOrder::Mdy, false);
        check("nds-DE", DateOrder::Dmy, false);
        check("zh-Hant-TW", DateOrder::Ymd, false);
        // Regions that write numbers otherwise than their language mostly does (CLDR).
        for tag in ["es-MX", "es-419", "es_US", "es-PE", "es-DO"] {
            assert!(!Locale::parse(tag).unwrap().decimal_comma, "{tag}");
        }
        check("es-ES", DateOrder::Dmy, true);
        check("es-AR", DateOrder::Dmy, true);
        check("es-US", DateOrder::Mdy, false);
        check("es-PA", DateOrder::Mdy, false);
        // South Africa's exports write decimal points, whatever CLDR says.
        check("en-ZA", DateOrder::Dmy, false);
        check("af-ZA", DateOrder::Dmy, false);
        // Every language CLDR writes with a decimal comma, and regions whose English or Arabic
        // does as their own language does.
        for tag in ["ca-ES", "gl-ES", "eu-ES", "is-IS", "fo-FO", "mk-MK", "bs-BA", "be-BY", "az-AZ", "lb-LU"] {
            check(tag, DateOrder::Dmy, true);
        }
        for tag in ["kk-KZ", "sq-AL", "hy-AM", "ka-GE", "uz-UZ", "lo-LA", "ar-MA", "ar-TN", "en-DE", "en-NL"] {
            check(tag, DateOrder::Dmy, true);
        }
        check("ar-EG", DateOrder::Dmy, false);
        assert!(Locale::parse("be-BY").unwrap().space_thousands && !Locale::parse("ca-ES").unwrap().space_thousands);
        // English in the US territories writes the month first.
        for tag in ["en-PR", "en-GU", "en-VI", "en-AS", "en-MP"] {
            check(tag, DateOrder::Mdy, false);
        }
        // Not languages: typos must not read dates day-first.
        for typo in ["eng-US", "deu", "us", "english", "xx-YY", "e", "-US", "C", "POSIX"] {
            assert!(Locale::parse(typo).is_none(), "{typo}");
        }
    }

    #[test]
    fn a_chunk_holds_at_most_the_cell_budget() {
        let settings = SettingsPatch::default().resolve("settings").unwrap();
        assert_eq!(settings.rows_per_chunk(11), 20_000);
        assert_eq!(settings.rows_per_chunk(100), CELLS_PER_CHUNK / 100);
        assert_eq!(settings.rows_per_chunk(2048), 128);
        assert_eq!(settings.rows_per_chunk(0), 20_000);
        assert_eq!(settings.rows_per_chunk(1 << 20), 1);
    }

    #[test]
    fn out_of_range_settings_name_their_key() {
        let bad = SettingsPatch { chunk_rows: Some(0), ..Default::default() };
        assert_eq!(bad.resolve("settings").unwrap_err().path, "settings.chunk_rows");
        let bad = SettingsPatch { delimiter: Some(",,".into()), ..Default::default() };
        assert_eq!(bad.resolve("").unwrap_err().path, "delimiter");
        let bad = SettingsPatch { encoding: Some("klingon".into()), ..Default::default() };
        assert!(bad.resolve("").unwrap_err().message.contains("klingon"));
        // Without a header row a column named by number is read that wide: one past the limit
        // (4294967297 asked for a list of four billion column names) is refused.
        let far = |column: &str, header_row: u32| SettingsPatch {
            header_row: Some(header_row),
            mapping: Some(BTreeMap::from([(column.to_string(), Some("id".to_string()))])),
            ..Default::default()
        };
        let refused = far("4294967297", 0).resolve("settings").unwrap_err();
        assert_eq!(refused.path, "settings.mapping.4294967297");
        assert!(refused.message.contains("2048 columns"), "{}", refused.message);
        assert!(far("#2049", 0).resolve("").is_err());
        assert!(far("2048", 0).resolve("").is_ok());
        // With a header row it may be a header's name.
        assert!(far("4294967297", 1).resolve("").is_ok());
    }

    #[test]
    fn null_markers_are_trimmed_as_cells_are_and_bounded() {
        let markers = |list: &[&str], trim: bool| SettingsPatch {
            null_values: Some(list.iter().map(|m| m.to_string()).collect()),
            trim_whitespace: Some(trim),
            ..Default::default()
        };
        assert_eq!(markers(&["\\N", " NULL "], true).resolve("").unwrap().null_values, ["\\N", "NULL"]);
        assert_eq!(markers(&[" NULL "], false).resolve("").unwrap().null_values, [" NULL "]);
        let e = markers(&["NA", " "], true).resolve("settings").unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            ("settings.null_values[1]", "an empty marker: empty cells are null already")
        );
        assert_eq!(markers(&[""], false).resolve("").unwrap_err().path, "null_values[0]");
        assert_eq!(markers(&["x"; 65], true).resolve("").unwrap_err().path, "null_values");
        assert!(markers(&[&"x".repeat(257)], true).resolve("").unwrap_err().message.contains("256 bytes"));
        assert!(Settings::default().null_values.is_empty());
    }

    #[test]
    fn a_delimiter_is_recorded_as_its_character_and_a_number_still_reads() {
        let mut settings = SettingsPatch { delimiter: Some("\\t".into()), ..Default::default() }.resolve("").unwrap();
        let json = serde_json::to_value(&settings).unwrap();
        assert_eq!(json["delimiter"], "\t");
        assert_eq!(serde_json::from_value::<Settings>(json).unwrap(), settings);
        settings.delimiter = None;
        let mut json = serde_json::to_value(&settings).unwrap();
        assert!(json["delimiter"].is_null());
        json["delimiter"] = 59.into();
        assert_eq!(serde_json::from_value::<Settings>(json).unwrap().delimiter, Some(b';'));
    }

    #[test]
    fn delimiters_are_read_as_people_write_them() {
        assert_eq!(parse_delimiter("\\t"), Some(b'\t'));
        assert_eq!(parse_delimiter(";"), Some(b';'));
        assert_eq!(parse_delimiter("\""), None);
        assert_eq!(parse_delimiter("ab"), None);
        assert_eq!(parse_delimiter(""), None, "empty: no panic");
    }
}
