//! Matching file columns to template fields.
//!
//! Order of preference: an explicit mapping (by header name or 1-based column number) → the
//! exact key or label → the same ignoring case, spaces and punctuation → an `alternate_matches`
//! entry → a fuzzy match (typing slips and filler words, see `fuzzy_score`) with its confidence. Every decision is recorded with its
//! method and confidence. A required field left unmapped or a tie between candidates is a
//! problem that sends the import to `NEEDS_REVIEW` rather than a guess.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::read::sniff::DELIMITERS;
use crate::template::Schema;

/// How a column came to be mapped (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchMethod {
    /// Named in the import's or template's `mapping`.
    Explicit,
    /// Header equals the field's key or label.
    Exact,
    /// Equal ignoring case, spaces and punctuation.
    Normalized,
    /// Equals one of the field's `alternate_matches`.
    Alternate,
    /// Similar enough.
    Fuzzy,
    /// Taken by position: the file has no header row and as many columns as the template has
    /// fields, in the template's order.
    Position,
    /// Explicitly ignored.
    Ignored,
    /// Matched no field.
    Unmapped,
}

/// The decision for one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnMapping {
    /// 1-based column number.
    pub column: u32,
    /// Header as written.
    pub header: String,
    /// Field key, when mapped.
    pub field: Option<String>,
    /// How it was decided.
    pub method: MatchMethod,
    /// Confidence between 0 and 1, in hundredths.
    pub confidence: f64,
}

/// Something a person has to decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingProblem {
    /// `required_field_unmapped`, `no_field_matched`, `ambiguous_match`, `unknown_column`,
    /// `unknown_field` or `another_sheet_maps_more`.
    pub code: String,
    /// What to decide.
    pub message: String,
    /// The field concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The columns concerned (1-based).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<u32>,
}

/// Rows looked at, from the first, for a header below a title.
pub const HEADER_SEARCH_ROWS: usize = 10;

/// Which of a file's first non-empty rows (at most [`HEADER_SEARCH_ROWS`]) is its header when
/// the first cannot be: exports often put a title, a date or a note above the header
/// (`Contacts export`, `Generated 2024-01-05`). The first row stays the header (`None`) unless
/// its mapping has a problem; then of the rows that map at least two fields (one for a template
/// of one field) and more than the first, the header is one that holds no value (an e-mail
/// address, a number, a phone number or a date: see [`looks_like_value`]) if any does, then the
/// one that maps the most fields, then the most by name, the earliest on a tie. By name is equal
/// to a key, label or alternate match, ignoring case, spaces and punctuation, or named in the
/// `explicit` mapping; fuzzy matches count too, so a header whose names only resemble the fields
/// (`Company Name`, `E-mail Address`) is no data row that holds field names as values
/// (`Acme Ltd, info@acme.com, Company, Mobile`). A mapping by column number fits any row wide
/// enough, so it does not count.
pub fn header_below_titles(
    schema: &Schema,
    rows: &[Vec<String>],
    explicit: &BTreeMap<String, Option<String>>,
) -> Option<usize> {
    let first = rows.first()?;
    if map_columns(schema, first, explicit).problems.is_empty() {
        return None;
    }
    let by_name = by_name(explicit);
    // Whether the row holds no value, the fields it maps, and of those, the ones mapped by name.
    let score = |row: &[String]| {
        let outcome = map_columns(schema, row, &by_name);
        let mapped = outcome.columns.iter().filter(|c| c.field.is_some());
        let by_name = mapped.clone().filter(|c| c.method != MatchMethod::Fuzzy).count();
        (!row.iter().any(|c| looks_like_value(c)), mapped.count(), by_name)
    };
    let needed = schema.fields.len().clamp(1, 2).max(score(first).1 + 1);
    let filled = |row: &[String]| row.iter().filter(|c| !c.trim().is_empty()).count();
    // A group header repeats its names over the columns it groups (`Contact,Contact,Billing`, as
    // pandas writes two-level columns): at most half its cells hold names of their own, and its
    // names count once each. (A header with a name written twice, `Contact by,Contact by`, is
    // still a header.)
    let names = {
        let mut distinct: Vec<&str> = first.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).collect();
        let cells = distinct.len();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() * 2 <= cells { distinct.len() } else { cells }
    };
    let mut best: Option<(usize, (bool, usize, usize))> = None;
    for (i, row) in rows.iter().enumerate().take(HEADER_SEARCH_ROWS).skip(1) {
        let n = score(row);
        // A title is narrower than the header under it (or one cell over a header of one), and
        // so is a group header; a first row of as many names is a header, whose names may just
        // be unknown (`Ref,Customer,Contact by` over rows holding `Phone`, `Email`).
        if n.1 >= needed && best.is_none_or(|(_, m)| n > m) && names < filled(row).max(2) {
            best = Some((i, n));
        }
    }
    best.map(|(i, _)| i)
}

/// Whether a cell holds a value rather than a column's name: an e-mail address, or digits without
/// a letter that no header is: seven or more (a phone number, a date, a long id), or five or more
/// written together (a zip code, an id). A year (`2024`) or a period (`2024-01`, `2023-24`)
/// heads columns of reports, so it is no value here.
fn looks_like_value(cell: &str) -> bool {
    let t = cell.trim();
    let email = t.split_once('@').is_some_and(|(name, domain)| !name.is_empty() && domain.contains('.'));
    let digits = t.bytes().filter(u8::is_ascii_digit).count();
    let separated = t.bytes().any(|b| !b.is_ascii_digit());
    let number = !t.chars().any(char::is_alphabetic) && (digits >= 7 || (digits >= 5 && !separated));
    (email && !t.contains(' ')) || number
}

/// The entries of an explicit mapping that name a column by its header.
fn by_name(explicit: &BTreeMap<String, Option<String>>) -> BTreeMap<String, Option<String>> {
    explicit.iter().filter(|(name, _)| column_number(name).is_none()).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// How many of a row's cells name a field as a header would: equal to a key, label or
/// alternate match (ignoring case, spaces and punctuation), or named in the `explicit` mapping.
fn named_fields(schema: &Schema, row: &[String], explicit: &BTreeMap<String, Option<String>>) -> usize {
    let outcome = map_columns(schema, row, &by_name(explicit));
    outcome.columns.iter().filter(|c| c.field.is_some() && c.method != MatchMethod::Fuzzy).count()
}

/// [`header_below_titles`] over a CSV sample: the delimiter and the header row (as the
/// `header_row` setting counts) when a header lies below a title. `header_row` is where the
/// header would be otherwise (after a `sep=` hint). A title tells no delimiter apart (it is one
/// cell, or split by a comma in its text), so unless the delimiter is `fixed` (given, or named
/// by a hint) the others are tried too, and one is taken when it finds a header and is also the
/// delimiter detected below it. Data rows do not match field names, so a comma file with
/// semicolons in its data keeps its comma.
pub fn csv_header_below_titles(
    schema: &Schema,
    explicit: &BTreeMap<String, Option<String>>,
    sample: &[u8],
    is_complete: bool,
    delimiter: u8,
    fixed: bool,
    header_row: u32,
) -> Option<(u8, u32)> {
    let skip = header_row.saturating_sub(1);
    let rows_by = |d: u8| crate::read::sniff::leading_records(sample, is_complete, d, skip, HEADER_SEARCH_ROWS);
    let rows = rows_by(delimiter);
    let first = rows.first()?;
    if let Some(i) = header_below_titles(schema, &rows, explicit) {
        return Some((delimiter, header_row + i as u32));
    }
    if fixed {
        return None;
    }
    // Another delimiter's header must name more fields than the first row does as read: a `;`
    // inside a cell of a tab file whose first row names every field moves nothing, while a
    // title `Export;id` over a tab file (whose first row, read at `;`, names one) does not keep
    // the tab header below it from being found.
    let base = named_fields(schema, first, explicit);
    DELIMITERS.into_iter().filter(|d| *d != delimiter).find_map(|d| {
        let rows = rows_by(d);
        let i = header_below_titles(schema, &rows, explicit)?;
        if named_fields(schema, &rows[i], explicit) <= base {
            return None;
        }
        let row = header_row + i as u32;
        (crate::read::sniff::detect_delimiter_below(sample, is_complete, row) == d).then_some((d, row))
    })
}

/// The column a mapping entry names by its number (`3`, `#3`), if it is one.
pub(crate) fn column_number(name: &str) -> Option<usize> {
    let digits = name.trim().trim_start_matches('#');
    digits.bytes().all(|b| b.is_ascii_digit()).then(|| digits.parse().ok()).flatten()
}

/// Column decisions and open problems.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MappingOutcome {
    /// One entry per column.
    pub columns: Vec<ColumnMapping>,
    /// Problems; empty when the mapping can be used as is.
    pub problems: Vec<MappingProblem>,
}

impl MappingOutcome {
    /// The outcome for an import that passes unmapped columns through or not: when it does, a
    /// header that matches no field is no problem, as every value still arrives (under
    /// `unmapped`).
    pub fn with_pass_through(mut self, pass_through_unmapped: bool) -> MappingOutcome {
        if pass_through_unmapped {
            self.problems.retain(|p| p.code != NO_FIELD_MATCHED);
        }
        self
    }

    /// The outcome for a file read with a delimiter the import gave, or the file's own `sep=`
    /// line (`by_sep_line`): a header read as one cell that holds another delimiter was split by
    /// the wrong one (it is not a file of lines quoted whole, as it would be with a detected
    /// delimiter).
    pub fn with_given_delimiter(mut self, given: Option<u8>, by_sep_line: bool) -> MappingOutcome {
        let Some(given) = given else { return self };
        for p in self.problems.iter_mut().filter(|p| p.code == "lines_quoted_whole") {
            let Some(only) = self.columns.first().map(|c| c.header.as_str()) else { continue };
            let Some(held) = DELIMITERS.into_iter().find(|&d| d != given && only.as_bytes().contains(&d)) else {
                continue;
            };
            let name = |d: u8| if d == b'\t' { "tab".to_string() } else { format!("'{}'", char::from(d)) };
            p.code = "wrong_delimiter".into();
            p.message = match by_sep_line {
                false => format!(
                    "the header is one cell, {:?}: it holds {} but the delimiter given is {}; give {} or leave the delimiter out to detect it",
                    crate::convert::clip(only),
                    name(held),
                    name(given),
                    name(held),
                ),
                true => format!(
                    "the header is one cell, {:?}: it holds {} but the file's first line, sep={}, names {}; delete that line, or give the delimiter {} (which wins over it)",
                    crate::convert::clip(only),
                    name(held),
                    char::from(given),
                    name(given),
                    name(held),
                ),
            };
        }
        self
    }
}

/// The code of a header that matches no field.
const NO_FIELD_MATCHED: &str = "no_field_matched";

/// Whether a header is signs alone (`#`, `№`): no word it stands for, as beside a word it does.
/// A lone `#` heads an export's row counter, which is no field's `number`.
fn signs_alone(s: &str) -> bool {
    !s.chars().any(char::is_alphanumeric)
}

/// The word a sign in a header stands for: it changes what the column holds, so `Amount ¢` is
/// not `Amount`, nor `Amount (€)` an `Amount (USD)`.
fn sign_word(c: char) -> Option<&'static str> {
    match c {
        '#' | '№' => Some("number"),
        '%' => Some("percent"),
        '‰' => Some("permille"),
        '¢' => Some("cent"),
        _ => currency_word(c),
    }
}

/// The currency code a currency sign stands for (`$` for the US dollar, which most headers
/// with it mean).
fn currency_word(c: char) -> Option<&'static str> {
    Some(match c {
        '$' => "usd",
        '€' => "eur",
        '£' => "gbp",
        '¥' | '￥' => "jpy",
        '₹' => "inr",
        '₩' => "krw",
        '₽' => "rub",
        '₺' => "try",
        '₪' => "ils",
        '฿' => "thb",
        '₫' => "vnd",
        '₱' => "php",
        '₴' => "uah",
        '₦' => "ngn",
        _ => return None,
    })
}

/// Words that name a currency in a field's key or label: a header whose currency sign matches
/// no field by its code does not drop the sign to match a field of another currency.
const CURRENCY_WORDS: &[&str] = &[
    "usd", "eur", "gbp", "jpy", "cny", "rmb", "inr", "cad", "aud", "nzd", "chf", "sek", "nok", "dkk", "pln", "czk",
    "huf", "brl", "mxn", "krw", "rub", "try", "ils", "thb", "vnd", "php", "uah", "ngn", "zar", "sgd", "hkd", "dollar",
    "dollars", "euro", "euros", "pound", "pounds", "yen", "yuan", "rupee", "rupees",
];

/// Whether a name holds a currency sign or names a currency.
fn names_currency(name: &str) -> bool {
    name.chars().any(|c| currency_word(c).is_some()) || has_currency_code(name)
}

/// Whether a name spells a currency out (`USD`, `CAD`, `dollars`): a sign beside it adds nothing
/// (`Amount ($USD)`, `Price (CAD $)`), and `$` there is not always the US dollar.
fn has_currency_code(name: &str) -> bool {
    name.split(|c: char| !c.is_ascii_alphabetic())
        .any(|w| !w.is_empty() && CURRENCY_WORDS.contains(&w.to_ascii_lowercase().as_str()))
}

/// A comparison before a number spelled as a word (`Due > 90 days` is `Due over 90 days`, no
/// `Due < 90 days`); `<` and `>` elsewhere (`<Name>`) are punctuation.
fn spell_comparisons(s: &str) -> Cow<'_, str> {
    if !s.contains(['<', '>', '≤', '≥']) {
        return Cow::Borrowed(s);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        let word = match c {
            '<' => "under",
            '>' => "over",
            '≤' => "atmost",
            '≥' => "atleast",
            _ => {
                out.push(c);
                continue;
            }
        };
        let next = chars[i + 1..].iter().find(|n| !n.is_whitespace() && **n != '=');
        if next.is_some_and(|n| n.is_ascii_digit()) {
            out.push(' ');
            out.push_str(word);
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The words of a header or field name: runs of letters or of digits, split where a lower-case
/// letter meets an upper-case one (`firstName`), lower case, accents composed, `#` and `%` as
/// words, full-width forms as ASCII.
fn words(s: &str) -> Vec<String> {
    if signs_alone(s) {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut last: Option<char> = None;
    let spelled = has_currency_code(s);
    for c in spell_comparisons(s).nfc() {
        let c = match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        };
        // `#`, `%`, `‰` and `¢` are words (`Street #`, `Tax %`, `Amount ¢`), and so is a
        // currency sign, unless the currency is spelled out too.
        if let Some(sign) = sign_word(c).filter(|_| !(spelled && currency_word(c).is_some())) {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            out.push(sign.to_string());
            last = None;
            continue;
        }
        let breaks = match last {
            _ if !c.is_alphanumeric() => true,
            Some(l) => l.is_numeric() != c.is_numeric() || (l.is_lowercase() && c.is_uppercase()),
            None => false,
        };
        if breaks && !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
            last = Some(c);
        } else {
            last = None;
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    // A lone letter belongs to the word after it: `E-mail`.
    let mut joined: Vec<String> = Vec::with_capacity(out.len());
    let mut pending: Option<String> = None;
    for w in out {
        let lone = w.chars().count() == 1 && w.chars().all(char::is_alphabetic);
        match pending.take() {
            Some(p) if w.chars().all(char::is_alphabetic) => joined.push(p + &w),
            Some(p) => {
                joined.push(p);
                if lone { pending = Some(w) } else { joined.push(w) }
            }
            None if lone => pending = Some(w),
            None => joined.push(w),
        }
    }
    joined.extend(pending);
    joined
}

/// Words a header may add to a field's name, or leave out of it, and still name it, each with
/// the words it keeps the meaning of: `Email address`, `Phone number`, `Zip code`, `Company
/// name`, `Address line 1`. Elsewhere the same words change the meaning (`Company number`,
/// `Employee number`, `Street number`, `Phone code`, `SKU name`), so they count there as the
/// words they are.
const FILLERS: [(&str, &[&str]); 8] = [
    ("line", &["address", "street"]),
    (
        "address",
        &["email", "mail", "city", "state", "province", "zip", "postal", "country", "region", "street", "line"],
    ),
    ("number", PHONES),
    ("no", PHONES),
    ("nr", PHONES),
    ("num", PHONES),
    ("code", &["zip", "postal", "post"]),
    ("name", &["company", "organization", "organisation", "business", "vendor", "supplier"]),
];

/// A phone's number is the phone.
const PHONES: &[&str] = &["phone", "telephone", "tel", "mobile", "cell", "fax"];

/// Whether `word` is a filler beside the words `kept` (see [`FILLERS`]).
fn filler_beside(word: &str, kept: &[&str]) -> bool {
    FILLERS.iter().any(|(filler, cores)| *filler == word && kept.iter().any(|k| cores.contains(k)))
}

/// Whether `word` is a filler beside any word.
fn is_filler(word: &str) -> bool {
    FILLERS.iter().any(|(filler, _)| *filler == word)
}

/// Prefixes that turn a word into its opposite: `Inactive` is not `Is active`, `Unsubscribed`
/// not `Subscribed`.
const NEGATIONS: [&str; 10] = ["non", "not", "no", "un", "in", "im", "il", "ir", "dis", "de"];

/// Whether two words are one typing slip apart, the first letter kept: two neighbouring letters
/// swapped in words of five letters or more (`Emial`, `Frist`; not `Form` for `From`), or a
/// double letter typed once or a letter typed twice in words of four or more (`Adress`, `Citty`). Other one-letter differences are as often other
/// words (`County` and `Country`, `Contact` and `Contract`, `Shipped` and `Shipper`, `Stage` and
/// `State`), and so are plurals (`Orders` counts orders, `Units` is no unit of measure): they
/// are left to `alternate_matches`.
fn slip_apart(a: &str, b: &str) -> Option<usize> {
    if a == b {
        return Some(0);
    }
    // Told apart before the letters are collected: most pairs of names are far apart, and a
    // template of 1,024 fields meets 2,048 columns in some 2 million pairs.
    if a.chars().next() != b.chars().next() {
        return None;
    }
    let (a_len, b_len) = (a.chars().count(), b.chars().count());
    if a_len.min(b_len) < 4 || a_len.abs_diff(b_len) > 1 {
        return None;
    }
    let (x, y): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // Four-letter words swap into other words (`Form`, `From`).
    let swapped = x.len() == y.len() && x.len() >= 5 && {
        let differ: Vec<usize> = (0..x.len()).filter(|&i| x[i] != y[i]).collect();
        differ.len() == 2 && differ[1] == differ[0] + 1 && x[differ[0]] == y[differ[1]] && x[differ[1]] == y[differ[0]]
    };
    (swapped || doubled(&x, &y)).then_some(1)
}

/// Whether one word is the other with one letter of a double letter dropped.
fn doubled(a: &[char], b: &[char]) -> bool {
    let (short, long) = if a.len() < b.len() { (a, b) } else { (b, a) };
    if long.len() != short.len() + 1 {
        return false;
    }
    (1..long.len()).any(|i| long[i] == long[i - 1] && long[..i] == short[..i] && long[i + 1..] == short[i..])
}

/// The numbers among words, in order: `Sales 2024` has `2024`, `Q1 revenue` has `1`.
fn numbers(words: &[String]) -> Vec<&str> {
    let mut n: Vec<&str> = words.iter().filter(|w| w.chars().all(char::is_numeric)).map(String::as_str).collect();
    n.sort_unstable();
    n
}

/// A name's [`words`], with the [`numbers`] among them and the words joined, found once for
/// every pair of names they are compared in.
struct Words {
    words: Vec<String>,
    numbers: Vec<String>,
    joined: String,
    /// The first letter of the first word, unless that word is a filler (which may be passed
    /// over), and the first letter of the words joined: [`fuzzy_score`]'s first test.
    first_letters: Option<(Option<char>, Option<char>)>,
}

impl Words {
    fn of(name: &str) -> Words {
        let words = words(name);
        let numbers = numbers(&words).into_iter().map(str::to_string).collect();
        let joined = words.concat();
        let first_letters = words.first().filter(|w| !is_filler(w)).map(|w| (w.chars().next(), joined.chars().next()));
        Words { joined, numbers, words, first_letters }
    }
}

/// How well a header names a field name (`target`) that it neither equals nor names after
/// normalization: its words are the target's words in the same order, each equal or a typing
/// slip apart, with [`FILLERS`] added or left out on one side only; or, where the words do not
/// line up (`Lastnmae`), its letters are a slip apart from the target's. Numbers must agree
/// (`Sales 2024` is not `Sales 2023`, `Phone 2` not `Phone`) and a negation is never a slip.
/// `None` below that: a close-looking header of another meaning (`Phone ext`, `Send date`,
/// `Username`, `County`, `Price list`) is left unmapped, where a similarity score mapped it to
/// the wrong field.
fn fuzzy_score(normalized_header: &str, header: &Words, target: &Words) -> Option<f64> {
    let nt = &target.joined;
    if nt.is_empty() || header.numbers != target.numbers {
        return None;
    }
    let (header_words, target_words) = (&header.words, &target.words);
    let nh = normalized_header;
    // Most pairs part at their first letter: words line up only from first words a slip apart
    // (so with one first letter) or a filler, and letters only from one first letter. Said
    // before anything else, as 2,048 columns meet a template's 100,000 names in 200 million pairs.
    if let (Some((h, _)), Some((t, t_joined))) = (header.first_letters, target.first_letters)
        && h != t
        && nh.chars().next() != t_joined
    {
        return None;
    }
    let negates = |a: &str, b: &str| {
        NEGATIONS.iter().any(|p| a.strip_prefix(p).is_some_and(|rest| rest.len() >= 3 && b.ends_with(rest)))
    };
    if negates(nh, nt) || negates(nt, nh) {
        return None;
    }
    // Word by word, in order; a filler may be passed over on either side.
    let (mut i, mut j) = (0, 0);
    let mut slips = 0;
    let mut kept: Vec<&str> = Vec::new();
    let (mut added, mut left_out): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    let aligned = loop {
        let slip = match (header_words.get(i), target_words.get(j)) {
            (Some(h), Some(t)) => slip_apart(h, t),
            _ => None,
        };
        match (header_words.get(i), target_words.get(j)) {
            (None, None) => break true,
            (Some(_), Some(t)) if slip.is_some() => {
                slips += slip.unwrap_or(0);
                kept.push(t);
                i += 1;
                j += 1;
            }
            (_, Some(t)) if is_filler(t) => {
                left_out.push(t);
                j += 1;
            }
            (Some(h), _) if is_filler(h) => {
                added.push(h);
                i += 1;
            }
            _ => break false,
        }
    };
    let fillers_fit = |ws: &[&str]| ws.iter().all(|w| filler_beside(w, &kept));
    let core = kept.iter().any(|k| !is_filler(k)) || left_out.is_empty();
    if aligned
        && !kept.is_empty()
        && core
        && (added.is_empty() || left_out.is_empty())
        && fillers_fit(&added)
        && fillers_fit(&left_out)
    {
        let fillers = added.len() + left_out.len();
        return Some(0.94 - 0.03 * slips as f64 - 0.02 * fillers as f64);
    }
    // Letters, where the words do not line up (`Lastnmae` for `Last name`): one slip apart.
    // Where they do, the words decide (`Firm name` is not `First name`). A word of one letter is
    // no slip of the word before it: `Weight (t)` is not `Weightt`, a weight typed with a
    // letter twice, but a weight in tonnes.
    if header_words.len() == target_words.len() || header_words.iter().any(|w| w.chars().count() == 1) {
        return None;
    }
    slip_apart(nh, nt).filter(|d| *d == 1).map(|d| 0.92 - 0.03 * d as f64)
}

/// Letters and digits only, lower case, accents composed (`Prénom` is one name whether its `é`
/// is one character or `e` and a combining accent, as macOS writes it, but not `Prenom`: accents
/// tell words apart, `Zahler` from `Zähler`, `Facturé` from `Facture`), `#` and `%` as the
/// words `number` and `percent`, full-width forms (`ＩＤ`, common in East Asian spreadsheets) as
/// their ASCII letters.
pub(crate) fn normalize(s: &str) -> String {
    normalize_signs(s, true)
}

/// [`normalize`], with currency signs as words or left out.
fn normalize_signs(s: &str, currency: bool) -> String {
    if signs_alone(s) {
        return String::new();
    }
    let mut out = String::with_capacity(s.len());
    let currency = currency && !has_currency_code(s);
    for c in spell_comparisons(s).nfc() {
        let c = match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        };
        match c {
            c if !currency && currency_word(c).is_some() => {}
            // Signs that are words: `Street #` is a street number, `Tax %` a rate, `Amount ¢`
            // an amount in cents, `Amount (€)` one in euros.
            c if let Some(sign) = sign_word(c) => out.push_str(sign),
            c if c.is_alphanumeric() => out.extend(c.to_lowercase()),
            _ => {}
        }
    }
    out
}

/// Maps `headers` onto the schema's fields, honouring `explicit` entries first.
pub fn map_columns(schema: &Schema, headers: &[String], explicit: &BTreeMap<String, Option<String>>) -> MappingOutcome {
    let mut columns: Vec<ColumnMapping> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| ColumnMapping {
            column: i as u32 + 1,
            header: h.clone(),
            field: None,
            method: MatchMethod::Unmapped,
            confidence: 0.0,
        })
        .collect();
    let mut problems = Vec::new();
    let mut field_taken = vec![false; schema.fields.len()];
    let mut column_taken = vec![false; headers.len()];

    for (name, target) in explicit {
        let mut named: Vec<usize> = headers.iter().enumerate().filter(|(_, h)| *h == name).map(|(i, _)| i).collect();
        // `--mapping email=...` for a header `Email`: the one header equal but for case.
        if named.is_empty() {
            named = headers
                .iter()
                .enumerate()
                .filter(|(_, h)| h.to_lowercase() == name.to_lowercase())
                .map(|(i, _)| i)
                .collect();
        }
        let col = match named.as_slice() {
            [one] => Some(*one),
            [] => match column_number(name) {
                Some(n) if n >= 1 && n <= headers.len() => Some(n - 1),
                _ => {
                    problems.push(MappingProblem {
                        code: "unknown_column".into(),
                        message: format!("the mapping names column {name:?}, which the file does not have"),
                        field: target.clone(),
                        columns: vec![],
                    });
                    None
                }
            },
            many => {
                problems.push(MappingProblem {
                    code: "ambiguous_match".into(),
                    message: format!(
                        "the file has {} columns named {name:?}; map them by column number instead",
                        many.len()
                    ),
                    field: target.clone(),
                    columns: many.iter().map(|c| *c as u32 + 1).collect(),
                });
                None
            }
        };
        let Some(col) = col else { continue };
        if column_taken[col] {
            problems.push(MappingProblem {
                code: "ambiguous_match".into(),
                message: format!("column {} ({:?}) is mapped twice", col + 1, headers[col]),
                field: target.clone(),
                columns: vec![col as u32 + 1],
            });
            continue;
        }
        column_taken[col] = true;
        match target {
            None => {
                columns[col].method = MatchMethod::Ignored;
                columns[col].confidence = 1.0;
            }
            Some(key) => match schema.field_index(key) {
                Some(f) if field_taken[f] => {
                    let first = columns.iter().position(|c| c.field.as_deref() == Some(key)).unwrap_or(col);
                    let (a, b) = (first.min(col), first.max(col));
                    problems.push(MappingProblem {
                        code: "ambiguous_match".into(),
                        message: format!(
                            "field {key:?} is mapped from more than one column: {} ({:?}) and {} ({:?}); map it once",
                            a + 1,
                            headers[a],
                            b + 1,
                            headers[b]
                        ),
                        field: Some(key.clone()),
                        columns: vec![a as u32 + 1, b as u32 + 1],
                    })
                }
                Some(f) => {
                    field_taken[f] = true;
                    columns[col].field = Some(key.clone());
                    columns[col].method = MatchMethod::Explicit;
                    columns[col].confidence = 1.0;
                }
                None => problems.push(MappingProblem {
                    code: "unknown_field".into(),
                    message: format!(
                        "the mapping targets {key:?}, which is not a field of template {:?}",
                        schema.name()
                    ),
                    field: Some(key.clone()),
                    columns: vec![col as u32 + 1],
                }),
            },
        }
    }

    // Score every free (column, field) pair.
    let fields: Vec<(String, String)> =
        schema.fields.iter().map(|f| (normalize(&f.key), normalize(&f.label))).collect();
    // The words of each field's key, label and alternates, found once, not once per column: a
    // template of 1,024 fields against as many columns took 2.3 s finding them over again.
    let field_words: Vec<Vec<Words>> = schema
        .fields
        .iter()
        .map(|f| {
            std::iter::once(&f.key)
                .chain(std::iter::once(&f.label))
                .chain(&f.alternate_matches)
                .map(|n| Words::of(n))
                .collect()
        })
        .collect();
    // The fields each alternate names, as written and normalized: looked up for a column, not
    // scanned (a template's 100,000 alternates against 2,048 columns).
    let mut alternate_fields: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut normalized_alternates: HashMap<String, Vec<(usize, &str)>> = HashMap::new();
    for (f, field) in schema.fields.iter().enumerate() {
        for alternate in &field.alternate_matches {
            alternate_fields.entry(alternate).or_default().push(f);
            normalized_alternates.entry(normalize(alternate)).or_default().push((f, alternate));
        }
    }
    let mut by_alternate = vec![false; schema.fields.len()];
    // Fields with a currency in their name, which a header of another currency must not reach
    // by leaving its sign out.
    let field_currency: Vec<bool> =
        schema.fields.iter().map(|f| names_currency(&f.key) || names_currency(&f.label)).collect();
    let mut candidates: Vec<(f64, usize, usize, MatchMethod)> = Vec::new();
    for (c, header) in headers.iter().enumerate() {
        if column_taken[c] || header.trim().is_empty() {
            continue;
        }
        let nh = normalize(header);
        let header_words = Words::of(header);
        // Ignoring punctuation must not join numbers: `Sales 20-23` is not `Sales 2023`.
        let same =
            |normalized: &String, name: &str| *normalized == nh && header_words.numbers == Words::of(name).numbers;
        by_alternate.fill(false);
        for &f in alternate_fields.get(header.as_str()).into_iter().flatten() {
            by_alternate[f] = true;
        }
        if !nh.is_empty() {
            for &(f, alternate) in normalized_alternates.get(nh.as_str()).into_iter().flatten() {
                by_alternate[f] |= header_words.numbers == Words::of(alternate).numbers;
            }
        }
        // Fields taken by an explicit mapping are scored too: a column whose best field is taken
        // does not fall to a fuzzy second best (below).
        for (f, field) in schema.fields.iter().enumerate() {
            let (nkey, nlabel) = &fields[f];
            let scored = if header == &field.key || header == &field.label {
                Some((1.0, MatchMethod::Exact))
            } else if !nh.is_empty() && (same(nkey, &field.key) || same(nlabel, &field.label)) {
                Some((0.98, MatchMethod::Normalized))
            } else if by_alternate[f] {
                Some((0.95, MatchMethod::Alternate))
            } else if nh.len() >= 3 {
                field_words[f]
                    .iter()
                    .filter_map(|target| fuzzy_score(&nh, &header_words, target))
                    .reduce(f64::max)
                    .map(|score| (score, MatchMethod::Fuzzy))
            } else {
                None
            };
            if let Some((score, method)) = scored {
                candidates.push((score, c, f, method));
            }
        }
        // A currency sign no field names (`Price (€)` in a template of `Price`): the header
        // without it matches a field that names no currency, a little below a match with it.
        let named = candidates.iter().rev().take_while(|k| k.1 == c).any(|k| k.3 != MatchMethod::Fuzzy);
        if !named && header.chars().any(|ch| currency_word(ch).is_some()) {
            let bare = normalize_signs(header, false);
            for (f, field) in schema.fields.iter().enumerate() {
                let (nkey, nlabel) = &fields[f];
                if !bare.is_empty()
                    && !field_currency[f]
                    && (*nkey == bare || *nlabel == bare)
                    && header_words.numbers == Words::of(if *nkey == bare { &field.key } else { &field.label }).numbers
                {
                    candidates.push((0.97, c, f, MatchMethod::Normalized));
                }
            }
        }
    }
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    // Each column's best score, over every field.
    let mut best = vec![0.0f64; headers.len()];
    for &(score, c, _, _) in &candidates {
        best[c] = best[c].max(score);
    }
    let tie = |a: f64, b: f64, m: MatchMethod| if m == MatchMethod::Fuzzy { (a - b).abs() < 0.02 } else { a == b };
    let mut blocked_field = vec![false; schema.fields.len()];
    let mut blocked_column = vec![false; headers.len()];
    for &(score, c, f, method) in &candidates {
        if column_taken[c] || field_taken[f] || blocked_field[f] || blocked_column[c] {
            continue;
        }
        // A fuzzy match is a column's best guess or none: a column that names a field taken by
        // another (`Phone` beside `--mapping Cell=phone`, `Countr` beside `Country`) does not
        // slide into the next field that looks like it.
        if method == MatchMethod::Fuzzy && score < best[c] {
            continue;
        }
        // Rivals: columns that match the field as well, or that name it too (by its key, label
        // or an alternate, however written: `name` and `NAME`), where it is their best match.
        // Either could be meant, so neither is picked and the other's values dropped.
        let names_it = |o: &(f64, usize, usize, MatchMethod)| {
            method != MatchMethod::Fuzzy && o.3 != MatchMethod::Fuzzy && o.0 >= best[o.1]
        };
        let rivals: Vec<&(f64, usize, usize, MatchMethod)> = candidates
            .iter()
            .filter(|o| o.2 == f && o.1 != c && !column_taken[o.1] && !blocked_column[o.1])
            .filter(|o| tie(score, o.0, method) || names_it(o))
            .collect();
        let how = if rivals.iter().all(|o| tie(score, o.0, method)) { "equally well" } else { "by name" };
        let rival_columns: Vec<usize> = rivals.iter().map(|o| o.1).collect();
        if !rival_columns.is_empty() {
            blocked_field[f] = true;
            let mut cols: Vec<u32> = std::iter::once(c).chain(rival_columns).map(|c| c as u32 + 1).collect();
            cols.sort_unstable();
            let names: Vec<String> = cols.iter().map(|c| format!("{} ({:?})", c, headers[*c as usize - 1])).collect();
            problems.push(MappingProblem {
                code: "ambiguous_match".into(),
                message: format!(
                    "field {:?} matches columns {} {how}; choose one with a mapping",
                    schema.fields[f].key,
                    names.join(" and "),
                ),
                field: Some(schema.fields[f].key.clone()),
                columns: cols,
            });
            continue;
        }
        let rival_fields: Vec<usize> = candidates
            .iter()
            .filter(|o| o.1 == c && o.2 != f && !field_taken[o.2] && !blocked_field[o.2] && tie(score, o.0, method))
            .map(|o| o.2)
            .collect();
        if !rival_fields.is_empty() {
            blocked_column[c] = true;
            let keys: Vec<String> =
                std::iter::once(f).chain(rival_fields).map(|f| format!("{:?}", schema.fields[f].key)).collect();
            problems.push(MappingProblem {
                code: "ambiguous_match".into(),
                message: format!(
                    "column {} ({:?}) matches fields {} equally well; choose one with a mapping",
                    c + 1,
                    headers[c],
                    keys.join(" and ")
                ),
                field: None,
                columns: vec![c as u32 + 1],
            });
            continue;
        }
        column_taken[c] = true;
        field_taken[f] = true;
        columns[c].field = Some(schema.fields[f].key.clone());
        columns[c].method = method;
        columns[c].confidence = (score * 100.0).round() / 100.0;
    }
    for (f, field) in schema.fields.iter().enumerate() {
        if field.required && !field_taken[f] && !blocked_field[f] && field.default.is_none() {
            problems.push(MappingProblem {
                code: "required_field_unmapped".into(),
                message: format!("required field {:?} ({}) matches no column of the file", field.key, field.label),
                field: Some(field.key.clone()),
                columns: vec![],
            });
        }
    }
    // Not one column for any field: what was read as the header is most likely not the header
    // (a title or PowerShell's `#TYPE` line above it, a wrong delimiter or encoding). No value
    // of the file would arrive (the rows would be empty, or hold defaults), and without a
    // required field nothing above says so. Unless unmapped columns pass through
    // ([`MappingOutcome::with_pass_through`]).
    if problems.is_empty() && !schema.fields.is_empty() && columns.iter().all(|c| c.field.is_none()) {
        let mut shown: Vec<String> = headers.iter().take(5).map(|h| format!("{:?}", crate::convert::clip(h))).collect();
        if headers.len() > 5 {
            shown.push(format!("and {} more", headers.len() - 5));
        }
        let read = match shown.is_empty() {
            true => "the file names no columns".to_string(),
            false => format!("the header read: {}", shown.join(", ")),
        };
        problems.push(MappingProblem {
            code: NO_FIELD_MATCHED.into(),
            message: format!(
                "no column matches a field of template {:?} ({read}); check the header row, delimiter and encoding, or supply a mapping",
                schema.name(),
            ),
            field: None,
            columns: vec![],
        });
    }
    // A header with characters its encoding could not read (`Pr\u{FFFD}nom`): it cannot match
    // its field, and the encoding is the likely fault, not the names.
    let broken: Vec<usize> =
        (0..headers.len()).filter(|&c| headers[c].contains('\u{FFFD}') && columns[c].field.is_none()).collect();
    if !problems.is_empty() && !broken.is_empty() {
        let named: Vec<String> =
            broken.iter().map(|&c| format!("{} ({:?})", c + 1, crate::convert::clip(&headers[c]))).collect();
        problems.push(MappingProblem {
            code: "undecodable_header".into(),
            message: format!(
                "the header of column {} holds bytes its encoding does not read (shown as \u{FFFD}); give the file's encoding (such as windows-1252) and run again",
                named.join(", ")
            ),
            field: None,
            columns: broken.iter().map(|&c| c as u32 + 1).collect(),
        });
    }
    // One column named like a whole header (`"id,name,email"`): the file's lines were quoted
    // whole, so no delimiter splits them. Say so rather than leave only "matches no column".
    if !problems.is_empty()
        && let [only] = headers
        && only.bytes().any(|b| DELIMITERS.contains(&b))
    {
        problems.push(MappingProblem {
            code: "lines_quoted_whole".into(),
            message: format!(
                "the header is one quoted cell, {:?}: each line of the file seems to be wrapped in quotes whole; save it again without quotes around whole lines",
                crate::convert::clip(only)
            ),
            field: None,
            columns: vec![1],
        });
    }
    MappingOutcome { columns, problems }
}

/// Maps the columns of a file without a header row (named by [`numbered_columns`]). With an
/// explicit mapping, by it (column numbers); without one, column by column onto the template's
/// fields in their order, which holds only when there are as many columns as fields (the CSV
/// template's order: `sluice template csv`). Otherwise the columns need a mapping.
///
/// [`numbered_columns`]: crate::read::split::numbered_columns
pub fn map_headerless(
    schema: &Schema,
    headers: &[String],
    filled: usize,
    explicit: &BTreeMap<String, Option<String>>,
) -> MappingOutcome {
    if !explicit.is_empty() {
        return map_columns(schema, headers, explicit);
    }
    // Columns right of the last one holding a value (a delimiter ending every line) count for
    // nothing.
    let filled = filled.min(headers.len());
    if filled != schema.fields.len() {
        let mut outcome = map_columns(schema, headers, &BTreeMap::new());
        // Names like `Column 3` match no field, so every required field is unmapped: the count
        // is what needs saying.
        outcome.problems.clear();
        let example: Vec<String> =
            schema.fields.iter().take(2).enumerate().map(|(i, f)| format!("{}={}", i + 1, f.key)).collect();
        outcome.problems.insert(
            0,
            MappingProblem {
                code: "headerless_columns".into(),
                message: format!(
                    "the file has no header row and {}, template {:?} {}: columns are taken in the template's \
                     order only when the counts agree; map them by column number ({}, ...)",
                    count(filled, "column", "columns"),
                    schema.name(),
                    count(schema.fields.len(), "field", "fields"),
                    example.join(", ")
                ),
                field: None,
                columns: vec![],
            },
        );
        return outcome;
    }
    let columns = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let field = schema.fields.get(i);
            ColumnMapping {
                column: i as u32 + 1,
                header: h.clone(),
                field: field.map(|f| f.key.clone()),
                method: if field.is_some() { MatchMethod::Position } else { MatchMethod::Unmapped },
                confidence: if field.is_some() { 1.0 } else { 0.0 },
            }
        })
        .collect();
    MappingOutcome { columns, problems: Vec::new() }
}

/// The highest column number an explicit mapping names (`5=amount`), 0 for none: a file without
/// a header row has at least as many columns.
pub fn highest_mapped_column(explicit: &BTreeMap<String, Option<String>>) -> usize {
    explicit.keys().filter_map(|name| column_number(name)).max().unwrap_or(0)
}

/// `1 column`, `3 columns`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Where each field's value comes from, for the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnPlan {
    /// For each field (template order), its 0-based source column.
    pub field_columns: Vec<Option<usize>>,
    /// Header of every source column.
    pub headers: Vec<String>,
    /// Columns carried along under `unmapped`.
    pub pass_through: Vec<usize>,
    /// The key each column travels under in `unmapped` (one per column, empty for those that
    /// do not): its header, `column N` for a blank one, `Header (column N)` for a header an
    /// earlier carried column has, so no value is lost to a repeated key. Empty in plans written
    /// before it existed, whose columns travel under their headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmapped_keys: Vec<String>,
    /// The file has no header row: its columns were counted on its first rows.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub headerless: bool,
}

impl ColumnPlan {
    /// Builds the plan from decided columns.
    pub fn new(schema: &Schema, columns: &[ColumnMapping], pass_through_unmapped: bool) -> ColumnPlan {
        let field_columns = schema
            .fields
            .iter()
            .map(|f| columns.iter().find(|c| c.field.as_deref() == Some(&f.key)).map(|c| c.column as usize - 1))
            .collect();
        let pass_through: Vec<usize> = if pass_through_unmapped {
            columns.iter().filter(|c| c.method == MatchMethod::Unmapped).map(|c| c.column as usize - 1).collect()
        } else {
            Vec::new()
        };
        let headers: Vec<String> = columns.iter().map(|c| c.header.clone()).collect();
        let mut unmapped_keys = Vec::new();
        if !pass_through.is_empty() {
            unmapped_keys = vec![String::new(); headers.len()];
            let mut taken = std::collections::HashSet::new();
            for &c in &pass_through {
                let header = headers[c].as_str();
                let key = if header.is_empty() {
                    format!("column {}", c + 1)
                } else if taken.contains(header) {
                    format!("{header} (column {})", c + 1)
                } else {
                    header.to_string()
                };
                taken.insert(key.clone());
                unmapped_keys[c] = key;
            }
        }
        ColumnPlan { field_columns, headers, pass_through, unmapped_keys, headerless: false }
    }

    /// The plan for a file without a header row (its row errors say so).
    pub fn headerless(mut self, headerless: bool) -> ColumnPlan {
        self.headerless = headerless;
        self
    }

    /// The key column `col` travels under in `unmapped`.
    pub fn unmapped_key(&self, col: usize) -> &str {
        match self.unmapped_keys.get(col) {
            Some(key) if !key.is_empty() => key,
            _ => &self.headers[col],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{FieldSpec, FieldTypeName, TemplateSpec};

    fn schema() -> Schema {
        let mut email = FieldSpec::new("email", FieldTypeName::Email);
        email.required = true;
        email.label = Some("E-mail address".into());
        let mut first = FieldSpec::new("first_name", FieldTypeName::Text);
        first.label = Some("First Name".into());
        first.alternate_matches = vec!["given name".into(), "forename".into()];
        let mut last = FieldSpec::new("last_name", FieldTypeName::Text);
        last.alternate_matches = vec!["surname".into()];
        let phone = FieldSpec::new("phone_number", FieldTypeName::Text);
        Schema::compile(TemplateSpec {
            name: "contacts".into(),
            description: None,
            fields: vec![email, first, last, phone],
            settings: Default::default(),
        })
        .unwrap()
    }

    fn mapped(outcome: &MappingOutcome) -> Vec<(String, Option<String>, MatchMethod)> {
        outcome.columns.iter().map(|c| (c.header.clone(), c.field.clone(), c.method)).collect()
    }

    #[test]
    fn without_a_header_row_columns_follow_the_fields_only_when_the_counts_agree() {
        let numbered = |n| crate::read::split::numbered_columns(n);
        let out = map_headerless(&schema(), &numbered(4), 4, &BTreeMap::new());
        let fields: Vec<_> = out.columns.iter().map(|c| (c.field.as_deref(), c.method)).collect();
        assert_eq!(
            fields,
            vec![
                (Some("email"), MatchMethod::Position),
                (Some("first_name"), MatchMethod::Position),
                (Some("last_name"), MatchMethod::Position),
                (Some("phone_number"), MatchMethod::Position),
            ]
        );
        assert!(out.problems.is_empty());
        for n in [3, 5] {
            let out = map_headerless(&schema(), &numbered(n), n, &BTreeMap::new());
            let codes: Vec<_> = out.problems.iter().map(|p| p.code.as_str()).collect();
            assert_eq!(codes, ["headerless_columns"], "{n} columns");
            assert!(out.problems[0].message.contains(&format!("{n} columns")), "{}", out.problems[0].message);
            assert!(out.columns.iter().all(|c| c.field.is_none()));
        }
        // A mapping decides alone, by number or by the column's name.
        let explicit: BTreeMap<String, Option<String>> =
            [("2".to_string(), Some("email".to_string())), ("Column 1".to_string(), Some("first_name".to_string()))]
                .into();
        let out = map_headerless(&schema(), &numbered(5), 5, &explicit);
        let fields: Vec<_> = out.columns.iter().map(|c| c.field.as_deref()).collect();
        assert_eq!(fields, [Some("first_name"), Some("email"), None, None, None]);
        assert!(out.problems.is_empty(), "{:?}", out.problems);
        // Empty columns after the last value (a delimiter ending every line) do not count.
        let out = map_headerless(&schema(), &numbered(6), 4, &BTreeMap::new());
        let fields: Vec<_> = out.columns.iter().map(|c| c.field.as_deref()).collect();
        assert_eq!(fields, [Some("email"), Some("first_name"), Some("last_name"), Some("phone_number"), None, None]);
        assert!(out.problems.is_empty(), "{:?}", out.problems);
    }

    #[test]
    fn each_matching_rule_is_tried_in_order() {
        let headers: Vec<String> = ["Email", "first_name", "SURNAME", "Phone", "Notes"].map(String::from).to_vec();
        let out = map_columns(&schema(), &headers, &BTreeMap::new());
        assert_eq!(
            mapped(&out),
            vec![
                ("Email".into(), Some("email".into()), MatchMethod::Normalized),
                ("first_name".into(), Some("first_name".into()), MatchMethod::Exact),
                ("SURNAME".into(), Some("last_name".into()), MatchMethod::Alternate),
                ("Phone".into(), Some("phone_number".into()), MatchMethod::Fuzzy),
                ("Notes".into(), None, MatchMethod::Unmapped),
            ]
        );
        assert!(out.problems.is_empty(), "{:?}", out.problems);
        assert!(out.columns[3].confidence < 0.95);
    }

    #[test]
    fn fuzzy_matches_forgive_typing_slips_and_filler_words_not_other_meanings() {
        let score =
            |header: &str, target: &str| fuzzy_score(&normalize(header), &Words::of(header), &Words::of(target));
        for (header, target) in [
            ("Emial", "email"),
            ("Adress", "address"),
            ("Addresss", "address"),
            ("Citty", "city"),
            ("Street Adress", "street address"),
            ("Frist name", "first_name"),
            ("Lastnmae", "Last name"),
            ("E-mail Address", "email"),
            ("Phone Number", "phone"),
            ("Phone #", "phone"),
            ("Zip code", "zip"),
            ("Company name", "company"),
            ("Phone", "phone_number"),
            ("Line 1", "address line 1"),
            ("Address 1", "address line 1"),
        ] {
            assert!(score(header, target).is_some_and(|s| (0.8..0.95).contains(&s)), "{header} ~ {target}");
        }
        for (header, target) in [
            ("Username", "last_name"),
            ("Send date", "end_date"),
            ("Postal address", "postal code"),
            ("Phone ext", "phone"),
            ("Firm name", "first_name"),
            ("Firm name", "forename"),
            ("Ship to name", "ship_to_address"),
            ("Zip4", "zip"),
            ("fname", "name"),
            ("Name (first)", "name"),
            ("Sales 2024", "Sales 2023"),
            ("Q2 revenue", "Q1 revenue"),
            ("Email 2", "email"),
            ("Phone #", "phone2"),
            ("Signoff date", "signup_date"),
            ("Country of birth", "country"),
            ("Inactive", "is_active"),
            ("Unsubscribed", "subscribed"),
            ("Unverified", "verified"),
            ("Non-taxable", "taxable"),
            ("Nonactive", "active"),
            ("Deactive", "active"),
            ("ids", "id"),
            ("Name", "name_code"),
            ("Subscribed No", "subscribed"),
            ("Account Name", "account_number"),
            ("County", "country"),
            ("Stage", "state"),
            ("Nodes", "notes"),
            ("Weight (t)", "weight"),
            ("Amount (T€)", "amount"),
            ("Fuel (l)", "fuel"),
            ("Smart date", "start_date"),
            ("Company Number", "company"),
            ("Employee Number", "employee"),
            ("Street #", "street"),
            ("street_number", "street"),
            ("Phone Code", "phone"),
            ("Company Address", "company"),
            ("SKU Name", "sku"),
            ("Active No", "is_active"),
            ("Contact ID", "contract_id"),
            ("Shipped", "shipper"),
            ("Orders", "order_number"),
            ("Units", "unit"),
            ("Price List", "list_price"),
            ("Date end", "end date"),
            ("Telefaxnummer", "Telefonnummer"),
            ("Tax %", "tax"),
            ("Amount ¢", "amount"),
            ("Rate ‰", "rate"),
            ("Invoice №", "invoice"),
            ("Form", "from"),
        ] {
            assert_eq!(score(header, target), None, "{header} !~ {target}");
        }
        assert_eq!(words("firstName_2 E-mail ＩＤ"), ["first", "name", "2", "email", "id"]);
    }

    #[test]
    fn numbers_are_not_joined_and_a_column_takes_only_its_best_fuzzy_match() {
        let field = |key: &str, label: &str| {
            let mut f = FieldSpec::new(key, FieldTypeName::Text);
            f.label = Some(label.into());
            f
        };
        let schema = Schema::compile(TemplateSpec {
            name: "t".into(),
            description: None,
            fields: vec![field("sales_2023", "Sales 2023"), field("country", "Country"), field("county", "County")],
            settings: Default::default(),
        })
        .unwrap();
        let headers: Vec<String> = ["Sales 20-23", "Country", "Cuonty", "email"].map(String::from).to_vec();
        let out = map_columns(&schema, &headers, &BTreeMap::from([("EMAIL".to_string(), None)]));
        let fields: Vec<Option<&str>> = out.columns.iter().map(|c| c.field.as_deref()).collect();
        // `Cuonty` is a slip of `County`; `Sales 20-23` names no year 2023.
        assert_eq!(fields, [None, Some("country"), Some("county"), None]);
        assert_eq!(out.columns[3].method, MatchMethod::Ignored, "an explicit entry differing only in case");
        // `Countryy` is a slip of `Country`, which `Country` holds: it stays unmapped rather
        // than slide into `County`.
        let headers: Vec<String> = ["Country", "Countryy"].map(String::from).to_vec();
        let out = map_columns(&schema, &headers, &BTreeMap::new());
        assert_eq!(out.columns[1].field, None, "{:?}", out.columns);
    }

    #[test]
    fn a_column_left_out_of_a_field_does_not_slide_into_a_numbered_one() {
        let mut phone = FieldSpec::new("phone", FieldTypeName::Text);
        phone.label = Some("Phone".into());
        let mut phone2 = FieldSpec::new("phone2", FieldTypeName::Text);
        phone2.label = Some("Phone 2".into());
        let schema = Schema::compile(TemplateSpec {
            name: "t".into(),
            description: None,
            fields: vec![phone, phone2],
            settings: Default::default(),
        })
        .unwrap();
        let headers: Vec<String> = ["Cell", "Phone"].map(String::from).to_vec();
        let explicit = BTreeMap::from([("Cell".to_string(), Some("phone".to_string()))]);
        let out = map_columns(&schema, &headers, &explicit);
        assert_eq!(out.columns[1].field, None, "{:?}", out.columns);
    }

    #[test]
    fn punctuation_and_case_do_not_matter() {
        let headers: Vec<String> =
            ["E-Mail Address", "FIRST NAME", "Last-Name", "ＰＨＯＮＥ＿ＮＵＭＢＥＲ"].map(String::from).to_vec();
        let out = map_columns(&schema(), &headers, &BTreeMap::new());
        let methods: Vec<_> = out.columns.iter().map(|c| c.method).collect();
        assert_eq!(methods, vec![MatchMethod::Normalized; 4]);
        assert_eq!(out.columns[3].field.as_deref(), Some("phone_number"));
        // An accent written as one character or as a letter and a combining accent is one
        // accent; an accent left out makes another word (`Zahler` is no `Zähler`).
        assert_eq!(normalize("Pre\u{301}nom"), normalize("Prénom"));
        assert_ne!(normalize("Prenom"), normalize("Prénom"));
        assert_eq!(normalize("Street #"), "streetnumber");
        // A sign alone is no word: a lone `#` heads a row counter, not a field's number.
        assert_eq!((normalize("#"), normalize(" № ")), (String::new(), String::new()));
        assert!(words("#").is_empty());
        assert_eq!(normalize("Amount ¢"), "amountcent");
        assert_eq!(normalize("Amount $"), "amountusd");
        assert_eq!(normalize_signs("Amount $", false), "amount");
    }

    #[test]
    fn currency_and_comparison_signs_keep_headers_apart() {
        let field = |key: &str, label: &str| {
            let mut f = FieldSpec::new(key, FieldTypeName::Text);
            f.label = Some(label.into());
            f
        };
        let schema_of = |fields: Vec<FieldSpec>| {
            Schema::compile(TemplateSpec { name: "t".into(), description: None, fields, settings: Default::default() })
                .unwrap()
        };
        let map = |schema: &Schema, header: &str| {
            let out = map_columns(schema, &[header.to_string()], &BTreeMap::new());
            (out.columns[0].field.clone(), out.columns[0].method)
        };
        let money = schema_of(vec![field("amount", "Amount"), field("amount_eur", "Amount (EUR)")]);
        assert_eq!(map(&money, "Amount (€)"), (Some("amount_eur".into()), MatchMethod::Normalized));
        assert_eq!(map(&money, "Amount"), (Some("amount".into()), MatchMethod::Exact));
        // A sign no field names: the field that names no currency, never one of another.
        assert_eq!(map(&money, "Amount ($)"), (Some("amount".into()), MatchMethod::Normalized));
        let usd = schema_of(vec![field("price", "Price (USD)")]);
        assert_eq!(map(&usd, "Price ($)").0.as_deref(), Some("price"));
        // A sign beside the currency spelled out adds nothing.
        assert_eq!(map(&usd, "Price ($USD)").0.as_deref(), Some("price"));
        assert_eq!(map(&usd, "Price (USD $)").0.as_deref(), Some("price"));
        let cad = schema_of(vec![field("price", "Price (CAD)")]);
        assert_eq!(map(&cad, "Price (CAD $)").0.as_deref(), Some("price"));
        assert_eq!(map(&cad, "Price ($)").0, None, "$ alone is read as the US dollar");
        assert_eq!(map(&usd, "Price €").0, None);
        let dollars = schema_of(vec![field("price", "Price in dollars")]);
        assert_eq!(map(&dollars, "Price in £").0, None);
        let plain = schema_of(vec![field("price", "Price")]);
        assert_eq!(map(&plain, "Price (€)").0.as_deref(), Some("price"));
        // A comparison before a number is a word; `<` and `>` elsewhere are punctuation.
        let aging = schema_of(vec![field("due_over_90", "Due > 90 days")]);
        assert_eq!(map(&aging, "Due < 90 days").0, None);
        assert_eq!(map(&aging, "Due >90 days").0.as_deref(), Some("due_over_90"));
        assert_eq!(map(&aging, "Due over 90 days").0.as_deref(), Some("due_over_90"));
        let name = schema_of(vec![field("name", "Name")]);
        assert_eq!(map(&name, "<Name>").0.as_deref(), Some("name"));
    }

    #[test]
    fn explicit_mapping_wins_by_name_or_column_number() {
        let headers: Vec<String> = ["contact", "col2", "Email"].map(String::from).to_vec();
        let explicit = BTreeMap::from([
            ("contact".to_string(), Some("email".to_string())),
            ("2".to_string(), Some("first_name".to_string())),
            ("Email".to_string(), None),
        ]);
        let out = map_columns(&schema(), &headers, &explicit);
        assert_eq!(
            mapped(&out),
            vec![
                ("contact".into(), Some("email".into()), MatchMethod::Explicit),
                ("col2".into(), Some("first_name".into()), MatchMethod::Explicit),
                ("Email".into(), None, MatchMethod::Ignored),
            ]
        );
        assert!(out.problems.is_empty());
    }

    #[test]
    fn a_missing_required_field_and_duplicate_headers_need_review() {
        let out = map_columns(&schema(), &["First Name".to_string()], &BTreeMap::new());
        assert_eq!(out.problems.len(), 1);
        assert_eq!(out.problems[0].code, "required_field_unmapped");

        let headers: Vec<String> = ["email", "email"].map(String::from).to_vec();
        let out = map_columns(&schema(), &headers, &BTreeMap::new());
        assert_eq!(out.problems[0].code, "ambiguous_match");
        assert_eq!(out.problems[0].columns, vec![1, 2]);
        assert!(out.columns.iter().all(|c| c.field.is_none()));

        // Two columns that both name a field, however written: neither is picked (one's values
        // were dropped unseen).
        for pair in [["email", "EMAIL"], ["First Name", "first_name"], ["surname", "last_name"]] {
            let headers: Vec<String> = pair.map(String::from).to_vec();
            let out = map_columns(&schema(), &headers, &BTreeMap::new());
            let ambiguous: Vec<&MappingProblem> = out.problems.iter().filter(|p| p.code == "ambiguous_match").collect();
            assert_eq!(ambiguous.len(), 1, "{pair:?}: {:?}", out.problems);
            assert_eq!(ambiguous[0].columns, vec![1, 2], "{pair:?}");
            assert!(ambiguous[0].message.contains("choose one"), "{}", ambiguous[0].message);
        }
        // A fuzzy look-alike beside the field's own name is no rival; nor is a column that names
        // another field better.
        let headers: Vec<String> = ["email", "emial", "First Name"].map(String::from).to_vec();
        let out = map_columns(&schema(), &headers, &BTreeMap::new());
        assert!(out.problems.is_empty(), "{:?}", out.problems);
        assert_eq!(out.columns[0].field.as_deref(), Some("email"));
    }

    #[test]
    fn a_field_mapped_from_two_columns_names_both() {
        let headers: Vec<String> = ["email", "surname", "First Name"].map(String::from).to_vec();
        let explicit = BTreeMap::from([
            ("surname".to_string(), Some("first_name".to_string())),
            ("First Name".to_string(), Some("first_name".to_string())),
        ]);
        let out = map_columns(&schema(), &headers, &explicit);
        let p = out.problems.iter().find(|p| p.code == "ambiguous_match").expect("named");
        assert_eq!(p.columns, vec![2, 3]);
        assert!(p.message.contains("2 (\"surname\") and 3 (\"First Name\")"), "{}", p.message);
    }

    #[test]
    fn a_header_its_encoding_could_not_read_says_so() {
        let headers: Vec<String> = ["E-mail address", "Pr\u{FFFD}nom"].map(String::from).to_vec();
        let mut s = schema();
        let out = map_columns(&s, &headers, &BTreeMap::new());
        assert!(out.problems.is_empty(), "no problem, no hint: {:?}", out.problems);
        s.fields[1].required = true;
        let out = map_columns(&s, &headers, &BTreeMap::new());
        let p = out.problems.iter().find(|p| p.code == "undecodable_header").expect("named");
        assert_eq!(p.columns, vec![2]);
        assert!(p.message.starts_with("the header of column 2 (\"Pr\u{FFFD}nom\")"), "{}", p.message);
    }

    #[test]
    fn a_header_split_by_a_wrong_given_delimiter_says_so() {
        let headers = vec!["email,first_name".to_string()];
        let out = map_columns(&schema(), &headers, &BTreeMap::new());
        assert!(out.problems.iter().any(|p| p.code == "lines_quoted_whole"), "{:?}", out.problems);
        let given = out.clone().with_given_delimiter(Some(b';'), false);
        let p = given.problems.iter().find(|p| p.code == "wrong_delimiter").expect("named");
        assert!(p.message.contains("holds ',' but the delimiter given is ';'"), "{}", p.message);
        // Given the delimiter it holds, the lines were quoted whole after all.
        let same = out.clone().with_given_delimiter(Some(b','), false);
        assert!(same.problems.iter().any(|p| p.code == "lines_quoted_whole"));
        // Named by the file's `sep=` line, the fault is said to be that line's.
        let hinted = out.with_given_delimiter(Some(b'|'), true);
        let p = hinted.problems.iter().find(|p| p.code == "wrong_delimiter").expect("named");
        assert!(
            p.message.contains("holds ',' but the file's first line, sep=|, names '|'; delete that line"),
            "{}",
            p.message
        );
    }

    #[test]
    fn a_header_that_matches_no_field_needs_review_though_no_field_is_required() {
        let optional = Schema::compile(TemplateSpec {
            name: "optional".into(),
            description: None,
            fields: vec![FieldSpec::new("id", FieldTypeName::Integer), FieldSpec::new("name", FieldTypeName::Text)],
            settings: Default::default(),
        })
        .unwrap();
        let headers: Vec<String> = ["#TYPE System.Management.Automation.PSCustomObject"].map(String::from).to_vec();
        let out = map_columns(&optional, &headers, &BTreeMap::new());
        let codes: Vec<&str> = out.problems.iter().map(|p| p.code.as_str()).collect();
        assert_eq!(codes, ["no_field_matched"]);
        assert_eq!(
            out.problems[0].message,
            "no column matches a field of template \"optional\" (the header read: \"#TYPE System.Management.Automation.PSCustomObject\"); check the header row, delimiter and encoding, or supply a mapping"
        );
        let many: Vec<String> = (1..=7).map(|i| format!("c{i}")).collect();
        assert!(map_columns(&optional, &many, &BTreeMap::new()).problems[0].message.contains("\"c5\", and 2 more)"));
        // Columns passed through arrive: no problem then.
        assert!(map_columns(&optional, &headers, &BTreeMap::new()).with_pass_through(true).problems.is_empty());
        assert_eq!(map_columns(&optional, &headers, &BTreeMap::new()).with_pass_through(false).problems.len(), 1);
        assert!(
            map_columns(&optional, &[], &BTreeMap::new()).problems[0].message.contains("(the file names no columns)")
        );
        // One field is enough; so is a mapping.
        assert!(map_columns(&optional, &["ID".to_string(), "x".to_string()], &BTreeMap::new()).problems.is_empty());
        let explicit = BTreeMap::from([("1".to_string(), Some("name".to_string()))]);
        assert!(map_columns(&optional, &headers, &explicit).problems.is_empty());
        // So the header below a title, or below PowerShell's type line, is found.
        let typed = rows(&[&["#TYPE System.Management.Automation.PSCustomObject"], &["id", "name"], &["1", "a"]]);
        assert_eq!(header_below_titles(&optional, &typed, &BTreeMap::new()), Some(1));
        let title = rows(&[&["Customer list"], &["Exported 2024-06-01"], &["id", "name"], &["1", "a"]]);
        assert_eq!(header_below_titles(&optional, &title, &BTreeMap::new()), Some(2));
    }

    #[test]
    fn a_header_quoted_whole_is_named_as_the_problem() {
        let out = map_columns(&schema(), &["email,first_name".to_string()], &BTreeMap::new());
        let codes: Vec<&str> = out.problems.iter().map(|p| p.code.as_str()).collect();
        assert_eq!(codes, ["required_field_unmapped", "lines_quoted_whole"]);
        assert!(out.problems[1].message.contains("\"email,first_name\": each line of the file seems to be wrapped"));
        // One column with no delimiter in its name, or one that maps: no such guess.
        let out = map_columns(&schema(), &["name".to_string()], &BTreeMap::new());
        assert!(out.problems.iter().all(|p| p.code != "lines_quoted_whole"));
        let out = map_columns(&schema(), &["e-mail; address".to_string()], &BTreeMap::new());
        assert!(out.problems.is_empty(), "{:?}", out.problems);
    }

    #[test]
    fn a_lone_sign_header_names_no_field() {
        let mut number = FieldSpec::new("number", FieldTypeName::Text);
        number.label = Some("Invoice number".into());
        let mut counter = FieldSpec::new("row", FieldTypeName::Integer);
        counter.alternate_matches = vec!["#".into()];
        let schema = Schema::compile(TemplateSpec {
            name: "invoices".into(),
            description: None,
            fields: vec![number, counter],
            settings: Default::default(),
        })
        .unwrap();
        let headers = ["#", "Invoice number", "№"].map(String::from);
        let out = map_columns(&schema, &headers, &BTreeMap::new());
        let got: Vec<Option<&str>> = out.columns.iter().map(|c| c.field.as_deref()).collect();
        // `#` is the row counter's by its alternate match, written so; `№` alone names nothing.
        assert_eq!(got, [Some("row"), Some("number"), None]);
        let out = map_columns(&schema, &["#".to_string(), "Amount".to_string()], &BTreeMap::new());
        assert_eq!(out.columns[0].method, MatchMethod::Alternate);
        let plain = Schema::compile(TemplateSpec {
            name: "n".into(),
            description: None,
            fields: vec![FieldSpec::new("number", FieldTypeName::Text)],
            settings: Default::default(),
        })
        .unwrap();
        let out = map_columns(&plain, &["#".to_string(), "Invoice".to_string()], &BTreeMap::new());
        assert!(out.columns.iter().all(|c| c.field.is_none()), "{:?}", out.columns);
    }

    #[test]
    fn explicit_entries_that_name_nothing_are_problems() {
        let explicit = BTreeMap::from([("Nope".to_string(), Some("email".to_string()))]);
        let out = map_columns(&schema(), &["email".to_string()], &explicit);
        assert_eq!(out.problems[0].code, "unknown_column");
    }

    fn rows(rows: &[&[&str]]) -> Vec<Vec<String>> {
        rows.iter().map(|r| r.iter().map(|c| c.to_string()).collect()).collect()
    }

    #[test]
    fn a_header_below_a_title_is_found() {
        let title = rows(&[
            &["Contacts export"],
            &["Generated 2024-01-05", "by", "nobody"],
            &["E-mail address", "First name", "Surname"],
            &["ann@x.io", "Ann", "Lee"],
        ]);
        assert_eq!(header_below_titles(&schema(), &title, &BTreeMap::new()), Some(2));
        // The row that matches most wins; data below a header never does.
        let two_headers = rows(&[&["Contact", "", ""], &["Email", "Name", ""], &["Email", "First name", "Surname"]]);
        assert_eq!(header_below_titles(&schema(), &two_headers, &BTreeMap::new()), Some(2));
        // Two-level columns as pandas writes them to CSV: the group header repeats its names.
        let grouped = rows(&[
            &["", "Contact", "Contact", "Contact", "Billing"],
            &["", "Email", "First name", "Surname", "Amount"],
            &["0", "a@x.io", "Ann", "Lee", "5"],
        ]);
        assert_eq!(header_below_titles(&schema(), &grouped, &BTreeMap::new()), Some(1));
        // A header with a name written twice is no group header: the row below is data.
        let twice = rows(&[&["Ref", "Customer", "Contact by", "Contact by"], &["R-1", "Acme", "Email", "First name"]]);
        assert_eq!(header_below_titles(&schema(), &twice, &BTreeMap::new()), None);
        // Year columns in a header are names, not values: a sort line above does not win.
        let years = rows(&[
            &["Staff report"],
            &["Sorted by", "Email", "First name"],
            &["Email", "First name", "Surname", "2024", "2025"],
            &["a@x.io", "Ann", "Lee", "5", "6"],
        ]);
        assert_eq!(header_below_titles(&schema(), &years, &BTreeMap::new()), Some(2));
        // A header repeated on every page below is still the header.
        let paged = rows(&[&["Contacts"], &["Email", "First name"], &["a@x.io", "Ann"], &["Email", "First name"]]);
        assert_eq!(header_below_titles(&schema(), &paged, &BTreeMap::new()), Some(1));
    }

    #[test]
    fn a_data_row_holding_field_names_is_no_header() {
        // A first row as wide as the rows below is a header of unknown names, not a title: the
        // row under it naming fields (`Email`, `Phone` as values) is data.
        let contact = rows(&[
            &["Ref", "Customer", "Contact by", "Backup contact"],
            &["1", "Bob", "Email", "First name"],
            &["2", "Ann", "First name", "Email"],
        ]);
        assert_eq!(header_below_titles(&schema(), &contact, &BTreeMap::new()), None);
        // A title as wide as the header is no title: the file's columns need a person.
        let wide = rows(&[&["Report", "2024", "Q1"], &["Email", "First name", "Surname"], &["a@x.io", "Ann", "Lee"]]);
        assert_eq!(header_below_titles(&schema(), &wide, &BTreeMap::new()), None);
    }

    #[test]
    fn a_header_of_names_that_only_resemble_the_fields_beats_a_data_row_holding_field_names() {
        let mut company = FieldSpec::new("company", FieldTypeName::Text);
        company.required = true;
        let crm = Schema::compile(TemplateSpec {
            name: "crm".into(),
            description: None,
            fields: vec![
                company,
                FieldSpec::new("phone", FieldTypeName::Text),
                FieldSpec::new("mobile", FieldTypeName::Text),
                FieldSpec::new("email", FieldTypeName::Email),
            ],
            settings: Default::default(),
        })
        .unwrap();
        let export = rows(&[
            &["Accounts report"],
            &["Exported 2024-05-01"],
            &["Company Name", "Phone Number", "E-mail Address", "Record type", "Preferred line", "Owner"],
            &["Acme Ltd", "555-1234567", "info@acme.com", "Company", "Mobile", "Ann"],
            &["Bob Lee", "555-7654321", "bob@lee.io", "Person", "Phone", "Ann"],
        ]);
        assert_eq!(header_below_titles(&crm, &export, &BTreeMap::new()), Some(2));
        // Also when the header names fewer fields exactly than the data row holds as values.
        let mut exact = export.clone();
        exact[2][1] = "Phone".into();
        exact[3][5] = "Phone".into();
        assert_eq!(header_below_titles(&crm, &exact, &BTreeMap::new()), Some(2));
        assert!(looks_like_value("info@acme.com") && looks_like_value("555-1234") && looks_like_value("2024-01-05"));
        assert!(looks_like_value("10001") && looks_like_value("+44 20 7123 4567"));
        assert!(!looks_like_value("E-mail Address") && !looks_like_value("Address 2") && !looks_like_value("12"));
        for period in ["2024", "2024-01", "2023-24", "120"] {
            assert!(!looks_like_value(period), "{period}: periods head report columns");
        }
    }

    #[test]
    fn the_first_row_stays_the_header_unless_another_matches_better() {
        // A header that maps: kept, whatever follows.
        let good = rows(&[&["email", "first_name"], &["email", "first_name", "last_name"]]);
        assert_eq!(header_below_titles(&schema(), &good, &BTreeMap::new()), None);
        // Unknown names over data: nothing below matches two fields, so the file needs review
        // with its own header rather than a guess.
        let custom = rows(&[&["contact", "who"], &["ann@x.io", "Ann"], &["bob@x.io", "Bob"]]);
        assert_eq!(header_below_titles(&schema(), &custom, &BTreeMap::new()), None);
        // One matching name below is not enough to move the header.
        let one = rows(&[&["Report"], &["Email"], &["ann@x.io"]]);
        assert_eq!(header_below_titles(&schema(), &one, &BTreeMap::new()), None);
        // Only the first rows are looked at.
        let mut far = vec![vec!["Report".to_string()]; HEADER_SEARCH_ROWS];
        far.push(vec!["email".into(), "first_name".into()]);
        assert_eq!(header_below_titles(&schema(), &far, &BTreeMap::new()), None);
        assert_eq!(header_below_titles(&schema(), &[], &BTreeMap::new()), None);
        // A mapping by the names of a header below a title finds it; one that the first row
        // satisfies keeps it.
        let named = rows(&[&["Report"], &["contact", "who"], &["ann@x.io", "Ann"]]);
        let by_name = BTreeMap::from([("contact".to_string(), Some("email".to_string()))]);
        assert_eq!(header_below_titles(&schema(), &named, &by_name), None, "one field is not enough");
        let both = BTreeMap::from([
            ("contact".to_string(), Some("email".to_string())),
            ("who".to_string(), Some("first_name".to_string())),
        ]);
        assert_eq!(header_below_titles(&schema(), &named, &both), Some(1));
        let first = rows(&[&["contact", "who"], &["contact", "who", "email"]]);
        assert_eq!(header_below_titles(&schema(), &first, &both), None);
    }

    #[test]
    fn only_names_count_when_a_header_is_sought() {
        // A fuzzy match can take a data value for a name: `SKU-001` is close to `SKU`.
        let mut sku = FieldSpec::new("sku", FieldTypeName::Text);
        sku.label = Some("SKU".into());
        sku.required = true;
        let one = Schema::compile(TemplateSpec {
            name: "items".into(),
            description: None,
            fields: vec![sku],
            settings: Default::default(),
        })
        .unwrap();
        let items = rows(&[&["Item"], &["SKU-001"], &["SKU-002"]]);
        assert_eq!(header_below_titles(&one, &items, &BTreeMap::new()), None);
        assert_eq!(header_below_titles(&one, &rows(&[&["Items"], &["sku"], &["SKU-001"]]), &BTreeMap::new()), Some(1));
        // A mapping by column number fits any row wide enough: a data row is not a header for it.
        let numbers = BTreeMap::from([
            ("1".to_string(), Some("email".to_string())),
            ("#2".to_string(), Some("first_name".to_string())),
            ("3".to_string(), Some("last_name".to_string())),
        ]);
        let narrow = rows(&[&["Email", "Name"], &["ann@x.io", "Ann", "Lee"], &["bob@x.io", "Bob", "Ray"]]);
        assert_eq!(header_below_titles(&schema(), &narrow, &numbers), None);
    }

    #[test]
    fn a_header_below_a_title_of_one_cell_finds_its_delimiter() {
        let csv = |text: &str, delimiter: u8, fixed: bool| {
            csv_header_below_titles(&schema(), &BTreeMap::new(), text.as_bytes(), true, delimiter, fixed, 1)
        };
        let semicolons = "People report\nExported 2024-06-01\n\nEmail;First name;Surname\nann@x.io;Ann;Lee\n";
        assert_eq!(csv(semicolons, b',', false), Some((b';', 3)));
        assert_eq!(csv(semicolons, b',', true), None, "a delimiter given is kept");
        let tabs = "People report\nEmail\tFirst name\tSurname\nann@x.io\tAnn\tLee\n";
        assert_eq!(csv(tabs, b',', false), Some((b'\t', 2)));
        // Below a `sep=` hint the header row counts the hint.
        let hinted = "sep=;\nPeople report\nEmail;First name\nann@x.io;Ann\n";
        let found = csv_header_below_titles(&schema(), &BTreeMap::new(), hinted.as_bytes(), true, b';', true, 2);
        assert_eq!(found, Some((b';', 3)));
        assert_eq!(csv("Email,First name\nann@x.io,Ann\n", b',', false), None);
        // A title with a comma in its text over a ';' file.
        assert_eq!(csv("Report, June\nEmail;First name;Surname\nann@x.io;Ann;Lee\n", b',', false), Some((b';', 2)));
        // Semicolons in the data of a comma file with a header that maps: nothing moves.
        assert_eq!(csv("Email,First name\nann@x.io,Ann;Lee;Ray\nbob@x.io,Bob;Cy;Di\n", b',', false), None);
        // A cell of a tab file that reads as a header when split at ';' moves nothing: the first
        // row maps every field as read (rows below it were dropped as lines above a header).
        let tabs = "email\tfirst_name\tlast_name\tphone_number\nann@x.io\tAnn\tLee\tx;email;first_name;z\n";
        assert_eq!(csv(tabs, b'\t', false), None);
        // Nor when the first row has a problem but names more fields than the other reading.
        let partial = "email\tfirst_name\tnotes\nann@x.io\tAnn\tx;email;first name;z\n";
        assert_eq!(csv(partial, b'\t', false), None);
        // A title that names a field when read at `;`, over a tab file.
        let titled = "Export;email\nemail\tfirst_name\tlast_name\nann@x.io\tAnn\tLee\nbob@x.io\tBob\tRay\n";
        assert_eq!(csv(titled, b';', false), Some((b'\t', 2)));
    }
}
