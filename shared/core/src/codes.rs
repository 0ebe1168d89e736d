//! Stable machine codes for row and file problems.
//!
//! Codes are part of the API: clients branch on them, templates override their messages by them.
//! Never rename one; add new ones instead.

/// A required field is empty.
pub const REQUIRED: &str = "required";
/// Not a whole number, or out of the 64-bit range.
pub const INVALID_INTEGER: &str = "invalid_integer";
/// Not a decimal number.
pub const INVALID_DECIMAL: &str = "invalid_decimal";
/// More digits than the field's precision or scale allow.
pub const DECIMAL_OUT_OF_RANGE: &str = "decimal_out_of_range";
/// Not one of the boolean spellings.
pub const INVALID_BOOLEAN: &str = "invalid_boolean";
/// Not a date, or not a real calendar day.
pub const INVALID_DATE: &str = "invalid_date";
/// Not a date and time.
pub const INVALID_DATETIME: &str = "invalid_datetime";
/// Not one of an enum's values.
pub const INVALID_CHOICE: &str = "invalid_choice";
/// Not an e-mail address.
pub const INVALID_EMAIL: &str = "invalid_email";
/// Not an http(s) URL.
pub const INVALID_URL: &str = "invalid_url";
/// Not a UUID.
pub const INVALID_UUID: &str = "invalid_uuid";
/// A cell holds a structure where a scalar was expected (JSON input), or a spreadsheet number too
/// large to be exact where text is expected.
pub const INVALID_TYPE: &str = "invalid_type";
/// The text does not match the field's regex.
pub const REGEX_MISMATCH: &str = "regex_mismatch";
/// Below the field's minimum.
pub const BELOW_MINIMUM: &str = "below_minimum";
/// Above the field's maximum.
pub const ABOVE_MAXIMUM: &str = "above_maximum";
/// Fewer characters (or items) than allowed.
pub const TOO_SHORT: &str = "too_short";
/// More characters (or items) than allowed.
pub const TOO_LONG: &str = "too_long";
/// Not one of the `one_of` choices.
pub const NOT_ONE_OF: &str = "not_one_of";
/// The value of a `unique` field already appeared on an earlier line.
pub const NOT_UNIQUE: &str = "not_unique";
/// The bytes of the cell are not valid in the file's encoding.
pub const INVALID_ENCODING: &str = "invalid_encoding";
/// A spreadsheet error value (`#DIV/0!`, `#N/A`, ...).
pub const CELL_ERROR: &str = "cell_error";
/// A spreadsheet formula saved without its result, so the cell's value is unknown.
pub const UNCALCULATED_FORMULA: &str = "uncalculated_formula";

/// Codes of problems in one field; a template may override their messages.
pub const FIELD_CODES: &[&str] = &[
    REQUIRED,
    INVALID_INTEGER,
    INVALID_DECIMAL,
    DECIMAL_OUT_OF_RANGE,
    INVALID_BOOLEAN,
    INVALID_DATE,
    INVALID_DATETIME,
    INVALID_CHOICE,
    INVALID_EMAIL,
    INVALID_URL,
    INVALID_UUID,
    INVALID_TYPE,
    REGEX_MISMATCH,
    BELOW_MINIMUM,
    ABOVE_MAXIMUM,
    TOO_SHORT,
    TOO_LONG,
    NOT_ONE_OF,
    NOT_UNIQUE,
    INVALID_ENCODING,
    CELL_ERROR,
    UNCALCULATED_FORMULA,
];

/// The row repeats an earlier row (`dedupe`).
pub const DUPLICATE_ROW: &str = "duplicate_row";
/// The row has more non-empty cells than the header has columns.
pub const TOO_MANY_COLUMNS: &str = "too_many_columns";
/// The row has fewer cells than the header has columns.
pub const TOO_FEW_COLUMNS: &str = "too_few_columns";
/// Characters follow a closing quote (`"ab"c`): the cell was read as written but may be cut wrong.
pub const MALFORMED_QUOTES: &str = "malformed_quotes";

/// Informational: the header row (and rows above it) were not data.
pub const HEADER_SKIPPED: &str = "header_skipped";
/// Informational: an empty row was skipped.
pub const EMPTY_ROW_SKIPPED: &str = "empty_row_skipped";
/// Informational: a row that repeats the header (two exports joined, a header on every page)
/// was skipped.
pub const HEADER_REPEATED_SKIPPED: &str = "header_repeated_skipped";
/// Informational: a sheet table's totals row (Excel's "Total Row") was skipped.
pub const TOTALS_ROW_SKIPPED: &str = "totals_row_skipped";
