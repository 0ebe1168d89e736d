//! Templates: the typed fields an import maps its columns onto.
//!
//! [`TemplateSpec`] is what people write (JSON or YAML). [`Schema::compile`] checks it and builds
//! the form the engine runs: compiled regexes, parsed bounds, choice tables. Every fault is
//! reported with the path of the offending key, so `fields[3].validators[0].regex: …` points a
//! person straight at the line to fix.

mod infer;
mod spec;

use std::collections::HashMap;

pub use infer::{infer_header_row, infer_template};
pub use spec::{ChoiceSpec, FieldSpec, FieldTypeName, ScalarText, TemplateSpec, UniqueMode, ValidatorSpec};

use crate::codes;
use crate::convert::{self, Converted, Fault, ParseOptions};
use crate::json::Snippet;
use crate::results::Severity;
use crate::settings::{Settings, SettingsError};
use crate::value::{Value, compare_bound, composed};

/// A template that cannot be used, with the path of the fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", at_path(.path))]
pub struct TemplateError {
    /// Where the fault is, such as `fields[3].validators[0].regex`; empty for the whole document.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// `path: `, or nothing for the whole document.
fn at_path(path: &str) -> String {
    if path.is_empty() { String::new() } else { format!("{path}: ") }
}

impl TemplateError {
    fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        TemplateError { path: path.into(), message: message.into() }
    }
}

impl From<SettingsError> for TemplateError {
    fn from(e: SettingsError) -> Self {
        TemplateError { path: e.path, message: e.message }
    }
}

/// The written form of a template file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateSyntax {
    /// JSON.
    Json,
    /// YAML (a superset of JSON, so also the fallback).
    Yaml,
}

impl TemplateSyntax {
    /// Picks the syntax from a file name: `.json` is JSON, anything else YAML.
    pub fn from_file_name(name: &str) -> TemplateSyntax {
        if name.to_ascii_lowercase().ends_with(".json") { Self::Json } else { Self::Yaml }
    }
}

/// Most bytes a YAML template may stand for once its aliases are expanded: a few kilobytes of
/// anchors and aliases (`- *field` a thousand times over a list of twenty thousand names, a
/// multi-line scalar named a thousand times) otherwise expand into gigabytes before any check.
const MAX_ALIAS_EXPANSION: usize = 8 << 20;

/// The largest template text, as a file or an API body: a megabyte holds a template of
/// thousands of fields or a hundred thousand choices.
pub const MAX_TEMPLATE_BYTES: u64 = 1 << 20;

/// Refuses a YAML template whose aliases expand it past [`MAX_ALIAS_EXPANSION`]. The document is
/// walked as YAML reads it, aliases replayed, adding up the bytes of every scalar and 8 for each
/// other node, and nothing kept: the walk stops at the bound, in the memory of the text alone.
/// Any other fault is left for the parse that follows to report.
fn check_aliases(text: &str) -> Result<(), TemplateError> {
    use serde::de::{DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
    use std::cell::Cell;

    #[derive(Clone, Copy)]
    struct Measure<'c>(&'c Cell<usize>);
    impl Measure<'_> {
        fn add<E: serde::de::Error>(self, n: usize) -> Result<(), E> {
            let total = self.0.get().saturating_add(n);
            self.0.set(total);
            if total > MAX_ALIAS_EXPANSION { Err(E::custom("over the bound")) } else { Ok(()) }
        }
    }
    impl<'de> DeserializeSeed<'de> for Measure<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Measure<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any YAML value")
        }
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
            self.add(8)
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
            self.add(8)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
            self.add(8)
        }
        fn visit_i128<E: serde::de::Error>(self, _: i128) -> Result<(), E> {
            self.add(16)
        }
        fn visit_u128<E: serde::de::Error>(self, _: u128) -> Result<(), E> {
            self.add(16)
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
            self.add(8)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
            self.add(v.len().max(8))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
            self.add(8)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
            self.add(8)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            self.add(8)?;
            while seq.next_element_seed(self)?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            self.add(8)?;
            while map.next_key_seed(self)?.is_some() {
                map.next_value_seed(self)?;
            }
            Ok(())
        }
        // A tagged value (`!name value`).
        fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
            let ((), variant) = data.variant_seed(self)?;
            variant.newtype_variant_seed(self)
        }
    }

    let total = Cell::new(0);
    // Faults other than the bound are the parse's to report, with their path.
    let _ = Measure(&total).deserialize(serde_norway::Deserializer::from_str(text));
    if total.get() > MAX_ALIAS_EXPANSION {
        return Err(TemplateError::at(
            "",
            format!(
                "its YAML aliases (*name) expand the template past {} MiB; write the values out",
                MAX_ALIAS_EXPANSION >> 20
            ),
        ));
    }
    Ok(())
}

/// Reads a template document, reporting the path of a shape error (`fields[3].type: unknown variant …`).
pub fn parse_template(text: &str, syntax: TemplateSyntax) -> Result<TemplateSpec, TemplateError> {
    fn split(path: String, message: String) -> TemplateError {
        // serde_path_to_error writes `?` for a position it cannot name (a syntax error), which
        // is no path a person can follow; the message carries the line and column instead.
        let path = path.strip_suffix(".?").or_else(|| path.strip_suffix('?')).unwrap_or(&path);
        let path = if path == "." { String::new() } else { path.to_string() };
        TemplateError { path, message }
    }
    // Editors on Windows save UTF-8 with a byte order mark; it is no part of the document.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match syntax {
        TemplateSyntax::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                split(path, format!("{inner}"))
            })
        }
        TemplateSyntax::Yaml => {
            check_aliases(text)?;
            let de = serde_norway::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let message = strip_yaml_path(&inner.to_string(), &path);
                let message = locate_top_level_duplicate(text, message);
                split(path, message)
            })
        }
    }
}

/// serde_norway names a key written twice at the top of a document without its line (inside a
/// field it gives one): the line of its second writing, where a person would delete it.
fn locate_top_level_duplicate(text: &str, message: String) -> String {
    let Some(key) = message.strip_prefix("duplicate field `").and_then(|m| m.strip_suffix('`')) else {
        return message;
    };
    let second = text
        .lines()
        .enumerate()
        .filter(|(_, line)| {
            [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
                .iter()
                .any(|k| line.strip_prefix(k.as_str()).is_some_and(|rest| rest.trim_start().starts_with(':')))
        })
        .nth(1);
    match second {
        Some((i, _)) => format!("{message} at line {} column 1", i + 1),
        None => message,
    }
}

/// serde_norway prefixes messages with its own path (`fields[2]: …`, `settings: …`); the path
/// is reported separately.
fn strip_yaml_path(message: &str, path: &str) -> String {
    match message.split_once(": ") {
        Some((head, rest))
            if !head.contains(' ') && (head.contains('[') || head.contains('.') || path.starts_with(head)) =>
        {
            rest.to_string()
        }
        _ => message.to_string(),
    }
}

/// A checked template, ready to validate rows.
#[derive(Debug, Clone)]
pub struct Schema {
    spec: TemplateSpec,
    /// The fields, in template order.
    pub fields: Vec<Field>,
    /// The template's own settings, resolved (an import may override them).
    pub settings: Settings,
}

/// A checked field.
#[derive(Debug, Clone)]
pub struct Field {
    /// Output key.
    pub key: String,
    /// Display name (the key when the template gives none).
    pub label: String,
    /// Value type with its options.
    pub kind: Kind,
    /// Whether an empty value is an error.
    pub required: bool,
    /// Whether values must not repeat within a file.
    pub unique: Option<UniqueMode>,
    /// Text used when the cell is empty, as the template writes it.
    pub default: Option<String>,
    /// The default read once, when the template is compiled (so the import's locale cannot
    /// reread `1.5` as fifteen).
    pub default_value: Option<Value<'static>>,
    /// Other header names for this field.
    pub alternate_matches: Vec<String>,
    /// Extra checks.
    pub validators: Vec<Validator>,
    messages: HashMap<String, String>,
    /// `,"key":` with JSON escaping, ready to write (the first field's comma is replaced by the
    /// `{` that opens the values).
    pub(crate) json_key: Snippet,
}

/// A field's type with its options.
#[derive(Debug, Clone)]
pub enum Kind {
    /// Any text.
    Text,
    /// A 64-bit whole number.
    Integer,
    /// An exact decimal with optional SQL-style precision and scale.
    Decimal {
        /// Most significant digits.
        precision: Option<u32>,
        /// Most digits after the point.
        scale: Option<u32>,
    },
    /// A boolean with its accepted spellings.
    Boolean(BoolWords),
    /// A calendar date, ISO 8601 or in the locale's order or the given format.
    Date {
        /// Extra accepted `strftime` format.
        format: Option<String>,
    },
    /// A date and time with offset.
    Datetime {
        /// Extra accepted `strftime` format.
        format: Option<String>,
    },
    /// One of the choices.
    Enum(Choices),
    /// Several of the choices.
    MultiEnum(Choices, String),
    /// Free labels.
    Tags(String),
    /// An e-mail address.
    Email,
    /// An http(s) URL.
    Url,
    /// A UUID.
    Uuid,
    /// Several UUIDs.
    UuidList(String),
    /// Several URLs.
    UrlList(String),
}

impl Kind {
    /// The list separator of list types.
    pub fn separator(&self) -> Option<&str> {
        match self {
            Kind::MultiEnum(_, s) | Kind::Tags(s) | Kind::UuidList(s) | Kind::UrlList(s) => Some(s),
            _ => None,
        }
    }
}

/// A string of at most 16 bytes as its length and two overlapping words, read with two loads:
/// equal keys mean equal strings, so a short spelling is compared in a few instructions,
/// without a library call or a byte loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ShortKey(usize, u64, u64);

impl ShortKey {
    const MAX: usize = 16;

    #[inline]
    fn of(b: &[u8]) -> Option<ShortKey> {
        let n = b.len();
        let word4 = |at: usize| u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]));
        let word8 = |at: usize| {
            u64::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5], b[at + 6], b[at + 7]])
        };
        Some(match n {
            0 => ShortKey(0, 0, 0),
            // First, middle and last byte cover every byte of 1 to 3.
            1..=3 => ShortKey(n, u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16, 0),
            4..=7 => ShortKey(n, word4(0), word4(n - 4)),
            8..=Self::MAX => ShortKey(n, word8(0), word8(n - 8)),
            _ => return None,
        })
    }

    /// The key of the text with ASCII letters lower-cased when `fold` (other bytes as they
    /// are, so equal keys mean `eq_ignore_ascii_case`).
    #[inline]
    fn of_folded(b: &[u8], fold: bool) -> Option<ShortKey> {
        if !fold || b.len() > Self::MAX {
            return Self::of(b);
        }
        let mut lower = [0u8; Self::MAX];
        for (l, c) in lower.iter_mut().zip(b) {
            *l = c.to_ascii_lowercase();
        }
        Self::of(&lower[..b.len()])
    }
}

/// Spellings a boolean field accepts.
#[derive(Debug, Clone)]
pub struct BoolWords {
    /// Spellings of true, as messages list them.
    pub truthy: Vec<String>,
    /// Spellings of false, as messages list them.
    pub falsy: Vec<String>,
    /// Every accepted spelling: its meaning, and whether it matches ignoring ASCII case (the
    /// built-in words do, custom ones do not).
    spellings: Vec<(String, bool, bool)>,
    /// The spellings as [`ShortKey`]s (folded as they match), when all are short enough.
    keys: Option<Vec<(ShortKey, bool, bool)>>,
    /// Whether every spelling ignores case (the built-in words alone).
    all_folded: bool,
}

/// The built-in spellings of true, any case.
const TRUE_WORDS: [&str; 6] = ["true", "t", "yes", "y", "1", "on"];
/// The built-in spellings of false, any case.
const FALSE_WORDS: [&str; 6] = ["false", "f", "no", "n", "0", "off"];
/// True as spreadsheets and people write it in other languages (German, French, Spanish,
/// Italian, Dutch, Portuguese, Swedish, Danish and Norwegian, Polish, Finnish, Russian): read,
/// not listed in messages.
const TRUE_ABROAD: [&str; 19] = [
    "wahr",
    "ja",
    "vrai",
    "oui",
    "verdadero",
    "si",
    "sí",
    "SÍ",
    "vero",
    "waar",
    "verdadeiro",
    "sant",
    "sand",
    "prawda",
    "tosi",
    "ИСТИНА",
    "истина",
    "да",
    "ДА",
];
/// False as [`TRUE_ABROAD`] has true.
const FALSE_ABROAD: [&str; 16] = [
    "falsch", "nein", "faux", "non", "falso", "onwaar", "falskt", "falsk", "fałsz", "FAŁSZ", "epätosi", "EPÄTOSI",
    "ЛОЖЬ", "ложь", "нет", "НЕТ",
];

impl BoolWords {
    fn with(
        truthy: Vec<String>,
        truthy_fold: bool,
        falsy: Vec<String>,
        falsy_fold: bool,
        more: &[(&str, bool)],
    ) -> BoolWords {
        let mut spellings: Vec<(String, bool, bool)> = truthy
            .iter()
            .map(|w| (w.clone(), true, truthy_fold))
            .chain(falsy.iter().map(|w| (w.clone(), false, falsy_fold)))
            .collect();
        for (w, meaning) in more {
            // A word the lists already read (either way) keeps their meaning.
            if !spellings.iter().any(|(s, _, _)| s.eq_ignore_ascii_case(w)) {
                spellings.push((w.to_string(), *meaning, true));
            }
        }
        let keys =
            spellings.iter().map(|(w, b, fold)| Some((ShortKey::of_folded(w.as_bytes(), *fold)?, *b, *fold))).collect();
        let all_folded = spellings.iter().all(|(_, _, fold)| *fold);
        BoolWords { truthy, falsy, spellings, keys, all_folded }
    }

    /// The built-in words, any case, with `truthy` or `falsy` given in their place.
    fn builtin_with(truthy: Option<Vec<String>>, falsy: Option<Vec<String>>) -> BoolWords {
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (truthy_fold, falsy_fold) = (truthy.is_none(), falsy.is_none());
        // A built-in word the custom list of the other meaning names is left out (`true_values:
        // ['0']` takes `0` from false), not an error about a list no one wrote.
        let without = |builtin: Vec<String>, other: &Option<Vec<String>>| match other {
            Some(other) => builtin.into_iter().filter(|w| !other.iter().any(|o| o.eq_ignore_ascii_case(w))).collect(),
            None => builtin,
        };
        let t = truthy.clone().unwrap_or_else(|| without(words(&TRUE_WORDS), &falsy));
        let f = falsy.clone().unwrap_or_else(|| without(words(&FALSE_WORDS), &truthy));
        let more: Vec<(&str, bool)> = TRUE_ABROAD
            .iter()
            .filter(|_| truthy_fold)
            .map(|w| (*w, true))
            .chain(FALSE_ABROAD.iter().filter(|_| falsy_fold).map(|w| (*w, false)))
            .collect();
        BoolWords::with(t, truthy_fold, f, falsy_fold, &more)
    }

    fn builtin() -> BoolWords {
        BoolWords::builtin_with(None, None)
    }

    /// Reads a spelling.
    #[inline]
    pub fn read(&self, text: &str) -> Option<bool> {
        let found = self.read_as_written(text);
        if found.is_none() && !text.is_ascii() {
            return self.read_lower_case(text);
        }
        found
    }

    /// Words beyond ASCII match in any case too (`Истина`, `Epätosi`), where the built-in ones
    /// do: read again in lower case.
    #[cold]
    #[inline(never)]
    fn read_lower_case(&self, text: &str) -> Option<bool> {
        let lower = text.to_lowercase();
        self.read_as_written(&lower).filter(|_| self.spellings.iter().any(|(w, _, fold)| *fold && *w == lower))
    }

    #[inline]
    fn read_as_written(&self, text: &str) -> Option<bool> {
        if let Some(keys) = &self.keys {
            let folded = ShortKey::of_folded(text.as_bytes(), true)?;
            if self.all_folded {
                // The built-in words alone: one key.
                return keys.iter().find(|(k, _, _)| *k == folded).map(|(_, b, _)| *b);
            }
            let exact = ShortKey::of(text.as_bytes())?;
            return keys.iter().find(|(k, _, fold)| *k == if *fold { folded } else { exact }).map(|(_, b, _)| *b);
        }
        let eq =
            |w: &str, fold: bool| w.len() == text.len() && if fold { w.eq_ignore_ascii_case(text) } else { w == text };
        self.spellings.iter().find(|(w, _, fold)| eq(w, *fold)).map(|(_, b, _)| *b)
    }
}

/// A table of allowed values with their labels and aliases.
#[derive(Debug, Clone)]
pub struct Choices {
    /// Canonical values, in template order.
    pub values: Vec<String>,
    /// (spelling, index into `values`), spellings lower-cased when matching ignores case.
    spellings: Vec<(String, usize)>,
    index: Option<HashMap<String, usize>>,
    /// The spellings as [`ShortKey`]s, when there is no index, matching is exact and every
    /// spelling is short (the usual enum).
    short: Option<Vec<(ShortKey, usize)>>,
    /// Whether matching ignores case.
    pub case_insensitive: bool,
}

impl Choices {
    fn compile(specs: &[ChoiceSpec], case_insensitive: bool, path: &str) -> Result<Choices, TemplateError> {
        Choices::compile_with(specs, case_insensitive, path, None)
    }

    /// [`Choices::compile`], for a typed field's `one_of` with `typed`: the form a value takes
    /// once read as the field's type (`01` → `1`, `1.50` → `1.5`), which cells are matched by
    /// once read the same way. A typed choice has no aliases (its value is matched as read) and
    /// its label only names it.
    ///
    /// Values come first: a label or alias never shadows another choice's value, and one that
    /// names another choice is an error rather than a silent pick.
    fn compile_with(
        specs: &[ChoiceSpec],
        case_insensitive: bool,
        path: &str,
        typed: Option<&ReadChoice<'_>>,
    ) -> Result<Choices, TemplateError> {
        let canonical = |s: &str| typed.and_then(|read| read(s));
        if specs.is_empty() {
            return Err(TemplateError::at(path, "needs at least one value"));
        }
        let norm = |s: &str| {
            let s = crate::value::composed(s);
            if case_insensitive { s.to_lowercase() } else { s.into_owned() }
        };
        let mut values = Vec::with_capacity(specs.len());
        let mut spellings: Vec<(String, usize)> = Vec::new();
        // Which choice each spelling names, so a list of 200,000 choices compiles in linear time.
        let mut named: HashMap<String, usize> = HashMap::new();
        let mut add = |spellings: &mut Vec<(String, usize)>, s: &str, i: usize| -> Result<(), usize> {
            for key in std::iter::once(norm(s.trim())).chain(canonical(s.trim()).map(|c| norm(&c))) {
                match named.get(&key) {
                    Some(j) if *j != i => return Err(*j),
                    Some(_) => {}
                    None if key.is_empty() => {}
                    None => {
                        named.insert(key.clone(), i);
                        spellings.push((key, i));
                    }
                }
            }
            Ok(())
        };
        for (i, spec) in specs.iter().enumerate() {
            let value = spec.value().to_string();
            if value.trim().is_empty() {
                return Err(TemplateError::at(format!("{path}[{i}]"), "a value cannot be empty"));
            }
            if typed.is_some() && canonical(&value).is_none() {
                return Err(TemplateError::at(
                    format!("{path}[{i}]"),
                    format!("{value:?} is not a value of the field's type"),
                ));
            }
            if let Err(prev) = add(&mut spellings, &value, i) {
                return Err(TemplateError::at(
                    format!("{path}[{i}]"),
                    format!("value {value:?} repeats {path}[{prev}]"),
                ));
            }
            values.push(value);
        }
        for (i, spec) in specs.iter().enumerate() {
            if typed.is_some() {
                if spec.other_names().any(|(what, _)| what == "alias") {
                    return Err(TemplateError::at(
                        format!("{path}[{i}].aliases"),
                        "apply to text choices; a typed field's value is matched as read",
                    ));
                }
                continue;
            }
            for (what, spelling) in spec.other_names() {
                if let Err(other) = add(&mut spellings, spelling, i) {
                    return Err(TemplateError::at(
                        format!("{path}[{i}]"),
                        format!("{what} {spelling:?} already names {path}[{other}] ({:?})", values[other]),
                    ));
                }
            }
        }
        let index = (spellings.len() > 16).then_some(named);
        let short = if index.is_none() && !case_insensitive {
            spellings.iter().map(|(s, i)| Some((ShortKey::of(s.as_bytes())?, *i))).collect()
        } else {
            None
        };
        Ok(Choices { values, spellings, index, short, case_insensitive })
    }

    /// Finds the canonical value a spelling means. Text is compared composed (NFC): a letter
    /// written with a combining mark is the letter.
    #[inline]
    pub fn lookup(&self, text: &str) -> Option<&str> {
        self.lookup_as_written(text).or_else(|| match crate::value::composed(text) {
            std::borrow::Cow::Owned(text) => self.lookup_as_written(&text),
            std::borrow::Cow::Borrowed(_) => None,
        })
    }

    #[inline]
    fn lookup_as_written(&self, text: &str) -> Option<&str> {
        if let Some(short) = &self.short {
            let key = ShortKey::of(text.as_bytes())?;
            return short.iter().find(|(k, _)| *k == key).map(|(_, i)| self.values[*i].as_str());
        }
        let i = match (&self.index, self.case_insensitive) {
            // Few spellings: for ASCII text, compared without a lower-cased copy.
            (None, false) => self.spellings.iter().find(|(s, _)| *s == text),
            (None, true) if text.is_ascii() => {
                self.spellings.iter().find(|(s, _)| s.len() == text.len() && s.eq_ignore_ascii_case(text))
            }
            (None, true) => {
                let folded = text.to_lowercase();
                self.spellings.iter().find(|(s, _)| *s == folded)
            }
            (Some(map), false) => return map.get(text).map(|i| self.values[*i].as_str()),
            (Some(map), true) => return map.get(&text.to_lowercase()).map(|i| self.values[*i].as_str()),
        }
        .map(|(_, i)| *i)?;
        Some(&self.values[i])
    }
}

/// A compiled validator.
#[derive(Debug, Clone)]
pub struct Validator {
    /// The check.
    pub check: Check,
    /// Custom message.
    pub message: Option<String>,
    /// Severity of a failure.
    pub severity: Severity,
}

/// One compiled check.
#[derive(Debug, Clone)]
pub enum Check {
    /// Text must match (anywhere; anchor with `^…$` for the whole value).
    Regex(Box<Matcher>),
    /// Value must not be below.
    Min(Value<'static>),
    /// Value must not be above.
    Max(Value<'static>),
    /// At least so many characters or items.
    MinLength(u32),
    /// At most so many characters or items.
    MaxLength(u32),
    /// Must be one of these.
    OneOf(Choices),
}

impl Check {
    /// The error code of a value that fails the check.
    pub fn code(&self) -> &'static str {
        match self {
            Check::Regex(_) => codes::REGEX_MISMATCH,
            Check::Min(_) => codes::BELOW_MINIMUM,
            Check::Max(_) => codes::ABOVE_MAXIMUM,
            Check::MinLength(_) => codes::TOO_SHORT,
            Check::MaxLength(_) => codes::TOO_LONG,
            Check::OneOf(_) => codes::NOT_ONE_OF,
        }
    }
}

/// Reads a typed field's choice the way its cells are read: the form [`choice_text`] gives.
type ReadChoice<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// A typed value as `one_of` compares it: its text, decimals without trailing zeros.
pub fn choice_text(value: &Value<'_>) -> String {
    match value {
        Value::Decimal(d) => d.normalize().to_string(),
        other => other.to_text(),
    }
}

/// A compiled `regex` validator.
///
/// Validators run on every row, on short values, where the `regex` crate's per-search set-up
/// costs more than the search itself. Most validator patterns compile to a small, fully built
/// DFA, which needs no cache (so no lock between threads) and spends a few instructions per
/// byte; the rest, and any search the DFA gives up on, use the `regex` crate. The simplest
/// anchored patterns (`^[A-Z]{2}$`, a phone number's `^\+?[0-9 ()\-]{7,20}$`) skip even the DFA:
/// see [`Runs`].
#[derive(Debug, Clone)]
pub struct Matcher {
    runs: Option<Runs>,
    /// The DFA and its start state at the start of a value: shared by the engines' copies (a
    /// DFA needs no cache).
    dfa: Option<std::sync::Arc<(regex_automata::dfa::dense::DFA<Vec<u32>>, regex_automata::util::primitives::StateID)>>,
    regex: regex::Regex,
    /// The pattern as the template writes it (`regex` holds it with ASCII classes spelled out).
    written: std::sync::Arc<str>,
}

/// A pattern with `\d`, `\w` and `\b` (and their negations) as JavaScript reads them: ASCII
/// digits, ASCII word characters and boundaries between them. The `regex` crate reads them as
/// Unicode classes, so `^\d{3}$` took `١٢٣` and `１２３`, which a "digits only" code is not.
fn javascript_classes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    // Inside a bracket class (the `regex` crate nests them).
    let mut depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('d' | 'D' | 'w' | 'W')) => {
                    let class = match e {
                        'd' => "[:digit:]",
                        'D' => "[:^digit:]",
                        'w' => "[:word:]",
                        _ => "[:^word:]",
                    };
                    if depth > 0 {
                        out.push_str(class);
                    } else {
                        out.push('[');
                        out.push_str(class);
                        out.push(']');
                    }
                }
                Some(e @ ('b' | 'B')) if depth == 0 => {
                    out.push_str("(?-u:\\");
                    out.push(e);
                    out.push(')');
                }
                Some(e) => {
                    out.push('\\');
                    out.push(e);
                }
                None => out.push('\\'),
            },
            // `[:alpha:]` inside a class is one item, not a class of its own.
            '[' if depth > 0 && chars.peek() == Some(&':') => {
                out.push('[');
                for x in chars.by_ref() {
                    out.push(x);
                    if x == ']' {
                        break;
                    }
                }
            }
            '[' => {
                depth += 1;
                out.push('[');
                // A `]` first (after an optional `^`) is a literal.
                if let Some(caret) = chars.next_if_eq(&'^') {
                    out.push(caret);
                }
                if let Some(bracket) = chars.next_if_eq(&']') {
                    out.push(bracket);
                }
            }
            ']' if depth > 0 => {
                depth -= 1;
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

/// Memory the DFAs of one template may take (a DFA that could not be built within its limit
/// counts its limit: the work was done). Past it, patterns are matched by the `regex` crate:
/// three hundred patterns of bounded repetitions took 4 s and 140 MB to check.
const DFA_BUDGET: usize = 16 << 20;
/// Largest DFA of one pattern, and the `regex` crate's cache per copy of one.
const PATTERN_LIMIT: usize = 1 << 20;

impl Matcher {
    /// Compiles `pattern`; its DFA, if any, is taken from the template's `budget` of bytes.
    fn new(pattern: &str, budget: &mut usize) -> Result<Matcher, regex::Error> {
        use regex_automata::dfa::Automaton;
        // Faults are reported in the pattern as written.
        regex::RegexBuilder::new(pattern).size_limit(PATTERN_LIMIT).dfa_size_limit(PATTERN_LIMIT).build()?;
        let written = std::sync::Arc::from(pattern);
        let pattern = &javascript_classes(pattern);
        let regex =
            regex::RegexBuilder::new(pattern).size_limit(PATTERN_LIMIT).dfa_size_limit(PATTERN_LIMIT).build()?;
        let runs = Runs::of(pattern);
        if runs.is_some() || *budget < PATTERN_LIMIT {
            return Ok(Matcher { runs, dfa: None, regex, written });
        }
        let built = regex_automata::dfa::dense::Builder::new()
            .configure(
                regex_automata::dfa::dense::Config::new()
                    .start_kind(regex_automata::dfa::StartKind::Unanchored)
                    .dfa_size_limit(Some(PATTERN_LIMIT))
                    .determinize_size_limit(Some(PATTERN_LIMIT)),
            )
            .build(pattern)
            .ok();
        *budget -= built.as_ref().map_or(PATTERN_LIMIT, |dfa| dfa.memory_usage().min(PATTERN_LIMIT));
        let dfa = built.and_then(|dfa| {
            let at_start =
                regex_automata::util::start::Config::new().anchored(regex_automata::Anchored::No).look_behind(None);
            let start = dfa.start_state(&at_start).ok()?;
            Some(std::sync::Arc::new((dfa, start)))
        });
        Ok(Matcher { runs, dfa, regex, written })
    }

    /// Whether the text matches anywhere.
    ///
    /// Walks the DFA byte by byte from the precomputed start state: no search set-up at all.
    /// Matches are reported one byte late by these DFAs, hence the end-of-input step.
    #[inline]
    pub fn is_match(&self, text: &str) -> bool {
        use regex_automata::dfa::Automaton;
        if let Some(runs) = &self.runs {
            return runs.is_match(text.as_bytes());
        }
        if let Some(built) = &self.dfa {
            let (dfa, start) = &**built;
            let mut state = *start;
            for &byte in text.as_bytes() {
                state = dfa.next_state(state, byte);
                if dfa.is_special_state(state) {
                    if dfa.is_match_state(state) {
                        return true;
                    }
                    if dfa.is_dead_state(state) {
                        return false;
                    }
                    if dfa.is_quit_state(state) {
                        return self.regex.is_match(text);
                    }
                }
            }
            return dfa.is_match_state(dfa.next_eoi_state(state));
        }
        self.regex.is_match(text)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.written
    }
}

/// A pattern that is a whole value made of runs of ASCII classes, `^A{m,n}B{m,n}…$`, where no
/// byte belongs to two of the classes.
///
/// Then every byte can only be consumed by the one run whose class holds it, so the value
/// matches exactly when it is, in order, a run of each class of an allowed length: one pass
/// with a table lookup per byte, no states, no backtracking.
#[derive(Debug, Clone)]
struct Runs {
    /// For each byte, 1 + the index of the run whose class holds it, or 0.
    owner: [u8; 256],
    /// Allowed lengths of each run.
    lengths: Vec<(usize, usize)>,
}

/// One run while the pattern is read: its class (bit `c` for ASCII byte `c`) and lengths.
struct Run {
    class: u128,
    min: usize,
    max: usize,
}

impl Runs {
    /// The runs of `pattern`, or `None` when it is not of this simple form.
    fn of(pattern: &str) -> Option<Runs> {
        use regex_syntax::hir::{Class, HirKind, Look};
        let hir = regex_syntax::parse(pattern).ok()?;
        let HirKind::Concat(parts) = hir.kind() else {
            return None;
        };
        let (first, rest) = parts.split_first()?;
        let (last, middle) = rest.split_last()?;
        if !matches!(first.kind(), HirKind::Look(Look::Start)) || !matches!(last.kind(), HirKind::Look(Look::End)) {
            return None;
        }
        let class_of = |hir: &regex_syntax::hir::Hir| -> Option<u128> {
            let ranges: Vec<(u32, u32)> = match hir.kind() {
                HirKind::Literal(lit) if lit.0.len() == 1 => vec![(u32::from(lit.0[0]), u32::from(lit.0[0]))],
                HirKind::Class(Class::Unicode(c)) => {
                    c.ranges().iter().map(|r| (r.start() as u32, r.end() as u32)).collect()
                }
                HirKind::Class(Class::Bytes(c)) => {
                    c.ranges().iter().map(|r| (r.start().into(), r.end().into())).collect()
                }
                _ => return None,
            };
            let mut class = 0u128;
            for (start, end) in ranges {
                if end > 0x7F {
                    return None;
                }
                for c in start..=end {
                    class |= 1 << c;
                }
            }
            Some(class)
        };
        let mut runs = Vec::new();
        let mut seen = 0u128;
        for part in middle {
            let run = match part.kind() {
                HirKind::Repetition(rep) => Run {
                    class: class_of(&rep.sub)?,
                    min: rep.min as usize,
                    max: rep.max.map_or(usize::MAX, |m| m as usize),
                },
                _ => Run { class: class_of(part)?, min: 1, max: 1 },
            };
            if run.class & seen != 0 || run.class == 0 {
                return None;
            }
            seen |= run.class;
            runs.push(run);
        }
        if runs.is_empty() || runs.len() > 254 {
            return None;
        }
        let mut owner = [0u8; 256];
        for (i, run) in runs.iter().enumerate() {
            for (c, o) in owner.iter_mut().enumerate().take(128) {
                if run.class >> c & 1 == 1 {
                    *o = i as u8 + 1;
                }
            }
        }
        Some(Runs { owner, lengths: runs.iter().map(|r| (r.min, r.max)).collect() })
    }

    #[inline]
    fn is_match(&self, b: &[u8]) -> bool {
        // `run` is 1 + the index of the run being read (0 before the first), `len` its length.
        let (mut run, mut len) = (0usize, 0usize);
        for &c in b {
            let o = usize::from(self.owner[usize::from(c)]);
            if o == 0 {
                return false;
            } else if o == run {
                len += 1;
            } else if o > run && self.ends(run, len, o - 1) {
                (run, len) = (o, 1);
            } else {
                return false;
            }
        }
        self.ends(run, len, self.lengths.len())
    }

    /// Whether run `run` (1-based, 0 = none yet) may end at length `len` and the runs after it,
    /// up to but not including index `next`, may be empty.
    #[inline]
    fn ends(&self, run: usize, len: usize, next: usize) -> bool {
        let this = run == 0 || {
            let (min, max) = self.lengths[run - 1];
            len >= min && len <= max
        };
        this && self.lengths[run..next].iter().all(|(min, _)| *min == 0)
    }
}

impl Schema {
    /// Checks a template and compiles it.
    pub fn compile(spec: TemplateSpec) -> Result<Schema, TemplateError> {
        if spec.name.trim().is_empty() {
            return Err(TemplateError::at("name", "cannot be empty"));
        }
        if spec.fields.is_empty() {
            return Err(TemplateError::at("fields", "a template needs at least one field"));
        }
        if spec.fields.len() > 1024 {
            return Err(TemplateError::at("fields", "a template may have at most 1024 fields"));
        }
        let settings = spec.settings.resolve("settings")?;
        let options = ParseOptions::from_settings(&settings).plain_numbers().iso_dates();
        let mut fields: Vec<Field> = Vec::with_capacity(spec.fields.len());
        let mut dfa_budget = DFA_BUDGET;
        for (i, f) in spec.fields.iter().enumerate() {
            let path = format!("fields[{i}]");
            let field = compile_field(f, &path, &options, &mut dfa_budget)?;
            if let Some(prev) = fields.iter().position(|p| p.key == field.key) {
                return Err(TemplateError::at(
                    format!("{path}.key"),
                    format!("duplicate key {:?} (also fields[{prev}])", field.key),
                ));
            }
            fields.push(field);
        }
        // Two fields a header names alike, exactly or but for case: every file with that header
        // would need a review, or its case would pick the field (`Company` the one labelled so,
        // `company` the one keyed so). (Names alike but for punctuation, `Amount (€)` and
        // `Amount ($)`, are told apart by a header written as one of them.)
        // Compared composed (NFC), as headers are: `Prénom` is one name with its accent written
        // either way.
        let names: Vec<[String; 2]> =
            fields.iter().map(|f| [f.key.to_lowercase(), composed(f.label.trim()).to_lowercase()]).collect();
        for (i, mine) in names.iter().enumerate() {
            for (j, earlier) in names[..i].iter().enumerate() {
                if let Some(which) = (0..2).find(|&w| !mine[w].is_empty() && earlier.contains(&mine[w])) {
                    let (what, name) = if which == 0 { ("key", &fields[i].key) } else { ("label", &fields[i].label) };
                    let others = [&fields[j].key, &fields[j].label];
                    let how = if others.iter().any(|n| n.trim() == name.trim()) {
                        ""
                    } else if others.iter().any(|n| composed(n.trim()) == composed(name.trim())) {
                        ", its accents written another way"
                    } else {
                        ", but for case"
                    };
                    return Err(TemplateError::at(
                        format!("fields[{i}].{what}"),
                        format!(
                            "{name:?} names fields[{j}] ({}) too{how}: a column headed so could fill either; \
                             give each field its own label",
                            fields[j].key,
                        ),
                    ));
                }
            }
        }
        // An alternate that names another field, but for case, could never pick its own: a header
        // written so maps to the field it names first.
        let owner: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .flat_map(|(j, n)| n.iter().filter(|s| !s.is_empty()).map(move |s| (s.as_str(), j)))
            .collect();
        for (i, f) in fields.iter().enumerate() {
            for (k, alternate) in f.alternate_matches.iter().enumerate() {
                let name = composed(alternate.trim()).to_lowercase();
                if let Some(&j) = owner.get(name.as_str())
                    && j != i
                {
                    return Err(TemplateError::at(
                        format!("fields[{i}].alternate_matches[{k}]"),
                        format!(
                            "{alternate:?} names fields[{j}] ({}): a column headed so maps to that field, never \
                             to this one; remove it here",
                            fields[j].key
                        ),
                    ));
                }
            }
        }
        for (key, target) in &settings.mapping {
            if key.trim() == "0" {
                return Err(TemplateError::at(
                    format!("settings.mapping.{key}"),
                    "columns are numbered from 1".to_string(),
                ));
            }
            if let Some(target) = target
                && !fields.iter().any(|f| &f.key == target)
            {
                return Err(TemplateError::at(
                    format!("settings.mapping.{key}"),
                    format!("no field has the key {target:?}"),
                ));
            }
        }
        Ok(Schema { spec, fields, settings })
    }

    /// The template as written.
    pub fn spec(&self) -> &TemplateSpec {
        &self.spec
    }

    /// The template's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Index of the field with this key.
    pub fn field_index(&self, key: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.key == key)
    }

    /// The blank CSV template: one header row with every field's label.
    pub fn blank_csv(&self) -> String {
        let mut line = String::new();
        for (i, f) in self.fields.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            crate::results::push_csv_cell(&mut line, &f.label);
        }
        line.push_str("\r\n");
        line
    }
}

impl Field {
    /// The message for a failed check: the template's custom one, else the built-in one.
    pub fn message(&self, code: &str, builtin: impl FnOnce() -> String, value: &str) -> String {
        match self.messages.get(code) {
            Some(custom) => fill_message(custom, value, &self.label),
            None => builtin(),
        }
    }
}

/// A custom message with `{value}` and `{label}` replaced, in one pass: a value that holds
/// `{label}` is quoted as written.
pub fn fill_message(message: &str, value: &str, label: &str) -> String {
    let mut out = String::with_capacity(message.len() + value.len());
    let mut rest = message;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("{value}") {
            out.push_str(value);
            rest = after;
        } else if let Some(after) = tail.strip_prefix("{label}") {
            out.push_str(label);
            rest = after;
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// The first `{word}` in a custom message that is not `{value}` or `{label}` (a typo such as
/// `{vaule}` would be shown as written).
fn unknown_placeholder(message: &str) -> Option<&str> {
    let mut rest = message;
    while let Some(at) = rest.find('{') {
        let tail = &rest[at + 1..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        let word = &tail[..end];
        let named = word.starts_with(|c: char| c.is_ascii_alphabetic());
        if named && tail[end..].starts_with('}') && word != "value" && word != "label" {
            return Some(&rest[at..at + end + 2]);
        }
        rest = tail;
    }
    None
}

fn compile_field(
    f: &FieldSpec,
    path: &str,
    options: &ParseOptions,
    dfa_budget: &mut usize,
) -> Result<Field, TemplateError> {
    let key_ok = !f.key.is_empty()
        && f.key.len() <= 64
        && f.key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && f.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !key_ok {
        return Err(TemplateError::at(
            format!("{path}.key"),
            format!("{:?} is not a key: use 1-64 letters, digits and _, starting with a letter or _", f.key),
        ));
    }
    let t = f.field_type;
    let only = |present: bool, name: &str, allowed: &[FieldTypeName]| -> Result<(), TemplateError> {
        if present && !allowed.contains(&t) {
            let names: Vec<_> = allowed.iter().map(|a| a.as_str()).collect();
            return Err(TemplateError::at(
                format!("{path}.{name}"),
                format!("applies to {} fields, not {}", names.join(" and "), t.as_str()),
            ));
        }
        Ok(())
    };
    use FieldTypeName as T;
    only(f.values.is_some(), "values", &[T::Enum, T::MultiEnum])?;
    only(f.separator.is_some(), "separator", &[T::MultiEnum, T::Tags, T::UuidList, T::UrlList])?;
    only(f.true_values.is_some(), "true_values", &[T::Boolean])?;
    only(f.false_values.is_some(), "false_values", &[T::Boolean])?;
    only(f.precision.is_some(), "precision", &[T::Decimal])?;
    only(f.scale.is_some(), "scale", &[T::Decimal])?;
    only(f.format.is_some(), "format", &[T::Date, T::Datetime])?;
    let separator = || -> Result<String, TemplateError> {
        let sep = f.separator.clone().unwrap_or_else(|| " ".to_string());
        if sep.is_empty() {
            return Err(TemplateError::at(format!("{path}.separator"), "cannot be empty"));
        }
        Ok(sep)
    };
    let choices = || -> Result<Choices, TemplateError> {
        match &f.values {
            Some(values) => Choices::compile(values, f.case_insensitive, &format!("{path}.values")),
            None => Err(TemplateError::at(
                format!("{path}.values"),
                format!("an {} field needs a list of values", t.as_str()),
            )),
        }
    };
    let kind = match t {
        T::Text => Kind::Text,
        T::Integer => Kind::Integer,
        T::Decimal => {
            if let Some(p) = f.precision
                && !(1..=28).contains(&p)
            {
                return Err(TemplateError::at(format!("{path}.precision"), "must be between 1 and 28"));
            }
            if let Some(s) = f.scale {
                if s > 28 {
                    return Err(TemplateError::at(format!("{path}.scale"), "must be at most 28"));
                }
                if let Some(p) = f.precision
                    && s > p
                {
                    return Err(TemplateError::at(format!("{path}.scale"), "cannot exceed precision"));
                }
            }
            Kind::Decimal { precision: f.precision, scale: f.scale }
        }
        T::Boolean => {
            let words = match (&f.true_values, &f.false_values) {
                (None, None) => BoolWords::builtin(),
                (t_vals, f_vals) => {
                    // Cells are trimmed before they are read, so the words are too.
                    let trimmed = |words: &Vec<String>| words.iter().map(|w| w.trim().to_string()).collect::<Vec<_>>();
                    let (truthy, falsy) = (t_vals.as_ref().map(trimmed), f_vals.as_ref().map(trimmed));
                    for (name, words) in [("true_values", &truthy), ("false_values", &falsy)] {
                        let Some(words) = words else { continue };
                        if words.iter().any(String::is_empty) {
                            return Err(TemplateError::at(format!("{path}.{name}"), "a word cannot be empty"));
                        }
                        if words.is_empty() {
                            return Err(TemplateError::at(format!("{path}.{name}"), "cannot be empty"));
                        }
                    }
                    if let (Some(t), Some(f)) = (&truthy, &falsy)
                        && let Some(both) = t.iter().find(|w| f.contains(w))
                    {
                        return Err(TemplateError::at(
                            format!("{path}.false_values"),
                            format!("{both:?} is also in true_values"),
                        ));
                    }
                    let words = BoolWords::builtin_with(truthy, falsy);
                    if words.truthy.is_empty() || words.falsy.is_empty() {
                        let name = if words.truthy.is_empty() { "false_values" } else { "true_values" };
                        return Err(TemplateError::at(
                            format!("{path}.{name}"),
                            "takes every built-in word of the other meaning: give both true_values and false_values",
                        ));
                    }
                    words
                }
            };
            Kind::Boolean(words)
        }
        T::Date => Kind::Date { format: f.format.clone() },
        T::Datetime => Kind::Datetime { format: f.format.clone() },
        T::Enum => Kind::Enum(choices()?),
        T::MultiEnum => {
            let (choices, sep) = (choices()?, separator()?);
            // A value, label or alias holding the separator would be cut in two before it is
            // matched.
            for (i, spec) in f.values.iter().flatten().enumerate() {
                for spelling in std::iter::once(spec.value()).chain(spec.other_names().map(|(_, s)| s)) {
                    if spelling.trim().contains(sep.as_str()) {
                        return Err(TemplateError::at(
                            format!("{path}.values[{i}]"),
                            format!("{spelling:?} contains the separator {sep:?}; choose another separator"),
                        ));
                    }
                }
            }
            Kind::MultiEnum(choices, sep)
        }
        T::Tags => Kind::Tags(separator()?),
        T::Email => Kind::Email,
        T::Url => Kind::Url,
        T::Uuid => Kind::Uuid,
        T::UuidList => Kind::UuidList(separator()?),
        T::UrlList => Kind::UrlList(separator()?),
    };
    let mut validators = Vec::with_capacity(f.validators.len());
    for (j, v) in f.validators.iter().enumerate() {
        validators.push(compile_validator(
            v,
            &kind,
            t,
            &format!("{path}.validators[{j}]"),
            options,
            f.case_insensitive,
            dfa_budget,
        )?);
    }
    check_bounds(&validators, path)?;
    for (code, message) in &f.messages {
        if !codes::FIELD_CODES.contains(&code.as_str()) {
            return Err(TemplateError::at(
                format!("{path}.messages.{code}"),
                format!("unknown error code; known codes: {}", codes::FIELD_CODES.join(", ")),
            ));
        }
        if let Some(word) = unknown_placeholder(message) {
            return Err(TemplateError::at(
                format!("{path}.messages.{code}"),
                format!("unknown placeholder {word}: use {{value}} or {{label}}"),
            ));
        }
    }
    for (j, v) in f.validators.iter().enumerate() {
        if let Some(word) = v.message.as_deref().and_then(unknown_placeholder) {
            return Err(TemplateError::at(
                format!("{path}.validators[{j}].message"),
                format!("unknown placeholder {word}: use {{value}} or {{label}}"),
            ));
        }
    }
    let has_one_of = f.validators.iter().any(|v| v.one_of.is_some());
    if f.case_insensitive && !matches!(t, T::Enum | T::MultiEnum) && !has_one_of {
        return Err(TemplateError::at(
            format!("{path}.case_insensitive"),
            format!("applies to enum and multi_enum fields and one_of validators; this {} field has none", t.as_str()),
        ));
    }
    if let Some(format) = &f.format {
        check_format(format, t == T::Date).map_err(|m| TemplateError::at(format!("{path}.format"), m))?;
    }
    let label = f.label.clone().filter(|l| !l.trim().is_empty()).unwrap_or_else(|| f.key.clone());
    let mut json_key = String::with_capacity(f.key.len() + 4);
    json_key.push(',');
    crate::results::push_json_str(&mut json_key, &f.key);
    json_key.push(':');
    let field = Field {
        key: f.key.clone(),
        label,
        kind,
        required: f.required,
        unique: f.unique,
        default: f.default.as_ref().map(|d| d.0.clone()),
        default_value: None,
        alternate_matches: f.alternate_matches.clone(),
        validators,
        messages: f.messages.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        json_key: Snippet::new(json_key),
    };
    let mut field = field;
    if let Some(default) = &field.default {
        match convert::convert_str(&field.kind, default, options) {
            Converted::Invalid(fault) => {
                return Err(TemplateError::at(format!("{path}.default"), not_a_value(default, t, Some(&fault))));
            }
            // Every empty cell would get an error about a value no one wrote.
            Converted::Valid(value) => {
                for (j, v) in field.validators.iter().enumerate().filter(|(_, v)| v.severity == Severity::Error) {
                    let mut value = value.clone();
                    if !crate::engine::passes(&v.check, &mut value, default.trim(), None, &field.kind) {
                        return Err(TemplateError::at(
                            format!("{path}.default"),
                            format!("{default:?} fails the field's own validators[{j}] ({})", v.check.code()),
                        ));
                    }
                }
                field.default_value = Some(value.into_owned());
            }
            Converted::Empty => {}
        }
    }
    Ok(field)
}

/// Why a template's own value (a default, a bound) is no value of its field's type, in the
/// reader's words; a number with a comma is told how a template writes numbers.
fn not_a_value(text: &str, t: FieldTypeName, fault: Option<&Fault>) -> String {
    let why = match (t, fault) {
        // The reader's advice (set a locale) is for files, not for the template's own numbers.
        (FieldTypeName::Integer | FieldTypeName::Decimal, _) if text.contains(',') => {
            ": a template writes its numbers with a '.' point and no grouping, whatever its locale (1234.5)".into()
        }
        (_, Some(f)) => format!(": {}", f.message),
        (_, None) => String::new(),
    };
    format!("{text:?} is not a valid {}{why}", t.as_str())
}

/// Refuses bounds no value can meet: a `min` above a `max`, a `min_length` above a `max_length`
/// (a warning's bound lets values pass, with the warning).
fn check_bounds(validators: &[Validator], path: &str) -> Result<(), TemplateError> {
    let errors = || validators.iter().enumerate().filter(|(_, v)| v.severity == Severity::Error);
    for (i, low) in errors() {
        for (j, high) in errors() {
            let clash = match (&low.check, &high.check) {
                (Check::Min(lo), Check::Max(hi)) => {
                    (compare_bound(lo, hi) == Some(std::cmp::Ordering::Greater)).then(|| (lo.to_text(), hi.to_text()))
                }
                (Check::MinLength(lo), Check::MaxLength(hi)) => (lo > hi).then(|| (lo.to_string(), hi.to_string())),
                _ => None,
            };
            if let Some((lo, hi)) = clash {
                let name = if matches!(high.check, Check::Max(_)) { "max" } else { "max_length" };
                return Err(TemplateError::at(
                    format!("{path}.validators[{j}].{name}"),
                    format!("{hi} is below the minimum {lo} of validators[{i}]: no value could pass"),
                ));
            }
        }
    }
    Ok(())
}

/// The strftime conversions a `format` may use.
const FORMAT_CONVERSIONS: &str = "aAbBCdDeFfGghHIjklmMnNpPqQRsStTuUVwWyYzZ%";

/// Conversions that write a whole date but that the reader cannot read back: the locale's
/// date and time (`%c`, `%x`) and ISO 8601 as a whole (`%+`, which ISO cells need no format for).
const UNREADABLE_CONVERSIONS: &str = "cx+";

/// Refuses a date or date-time `format` that names no whole date (`%H:%M` for a date, `hello`),
/// holds a conversion strftime does not have (`%K`) or one the reader cannot read back (`%c`):
/// every cell not in ISO form would be refused. A date's format cannot be `%s`, an instant whose
/// day depends on the time zone.
fn check_format(format: &str, date: bool) -> Result<(), String> {
    // The conversions a format holds, past `%` and any flags, width or precision.
    let mut conversions = Vec::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.by_ref().find(|c| !matches!(c, '-' | '_' | '0'..='9' | '^' | '#' | ':' | '.')) {
                Some(spec) if FORMAT_CONVERSIONS.contains(spec) => conversions.push(spec),
                Some(spec) if UNREADABLE_CONVERSIONS.contains(spec) => {
                    return Err(format!(
                        "the format {format:?}: %{spec} cannot be read back; write the date's parts, such as %d/%m/%Y"
                    ));
                }
                Some(spec) => return Err(format!("invalid format {format:?}: %{spec} is no strftime conversion")),
                None => return Err(format!("invalid format {format:?}: it ends with a lone %")),
            }
        }
    }
    let has = |set: &str| conversions.iter().any(|c| set.contains(*c));
    if date && has("s") {
        return Err(format!(
            "the format {format:?}: %s reads seconds since 1970, an instant whose day depends on the time zone; \
             make the field a datetime"
        ));
    }
    let year = has("YyCGg");
    let iso_week = has("Gg") && has("V") && has("uwaA");
    if has("FDs") || (year && has("mbBh") && has("de")) || (year && has("j")) || iso_week {
        Ok(())
    } else {
        Err(format!("the format {format:?} names no whole date (a year, a month and a day, such as %d/%m/%Y)"))
    }
}

fn compile_validator(
    v: &ValidatorSpec,
    kind: &Kind,
    t: FieldTypeName,
    path: &str,
    options: &ParseOptions,
    case_insensitive: bool,
    dfa_budget: &mut usize,
) -> Result<Validator, TemplateError> {
    let set = [
        v.regex.is_some(),
        v.min.is_some(),
        v.max.is_some(),
        v.min_length.is_some(),
        v.max_length.is_some(),
        v.one_of.is_some(),
    ];
    if set.iter().filter(|s| **s).count() != 1 {
        return Err(TemplateError::at(
            path,
            "a validator holds exactly one of regex, min, max, min_length, max_length, one_of",
        ));
    }
    use FieldTypeName as T;
    let ordered = matches!(t, T::Integer | T::Decimal | T::Date | T::Datetime);
    let sized = matches!(t, T::Text | T::Email | T::Url | T::Tags | T::MultiEnum | T::UuidList | T::UrlList | T::Enum);
    let bound = |text: &ScalarText, name: &str| -> Result<Value<'static>, TemplateError> {
        if !ordered {
            return Err(TemplateError::at(
                format!("{path}.{name}"),
                format!("applies to integer, decimal, date and datetime fields, not {}", t.as_str()),
            ));
        }
        match convert::convert_str(kind, &text.0, options) {
            Converted::Valid(value) => Ok(value.into_owned()),
            Converted::Invalid(fault) => {
                Err(TemplateError::at(format!("{path}.{name}"), not_a_value(&text.0, t, Some(&fault))))
            }
            Converted::Empty => Err(TemplateError::at(format!("{path}.{name}"), not_a_value(&text.0, t, None))),
        }
    };
    let check = if let Some(pattern) = &v.regex {
        if pattern.is_empty() {
            return Err(TemplateError::at(format!("{path}.regex"), "an empty pattern matches every value"));
        }
        Check::Regex(Box::new(
            Matcher::new(pattern, dfa_budget)
                .map_err(|e| TemplateError::at(format!("{path}.regex"), regex_message(&e)))?,
        ))
    } else if let Some(min) = &v.min {
        Check::Min(bound(min, "min")?)
    } else if let Some(max) = &v.max {
        Check::Max(bound(max, "max")?)
    } else if let Some(n) = v.min_length {
        if !sized {
            return Err(TemplateError::at(
                format!("{path}.min_length"),
                format!("does not apply to {} fields", t.as_str()),
            ));
        }
        Check::MinLength(n)
    } else if let Some(n) = v.max_length {
        if !sized {
            return Err(TemplateError::at(
                format!("{path}.max_length"),
                format!("does not apply to {} fields", t.as_str()),
            ));
        }
        Check::MaxLength(n)
    } else if let Some(choices) = &v.one_of {
        // A typed field's choices match by value too: `one_of: [1, 2]` takes `+1` and `01`.
        // So does a uuid: `{A1B2…}` is `a1b2…`.
        let typed =
            !matches!(t, T::Text | T::Email | T::Url | T::Enum | T::MultiEnum | T::Tags | T::UuidList | T::UrlList);
        let canonical = |s: &str| match convert::convert_str(kind, s, options) {
            Converted::Valid(value) => Some(choice_text(&value)),
            _ => None,
        };
        let typed = typed.then_some(&canonical as &ReadChoice<'_>);
        Check::OneOf(Choices::compile_with(choices, case_insensitive, &format!("{path}.one_of"), typed)?)
    } else {
        unreachable!("exactly one validator kind is set")
    };
    if v.severity == Some(Severity::Info) {
        // Info is for the import's own notes (an empty row skipped); a check that fails is an
        // error or a warning, and goes to errors.jsonl as such.
        return Err(TemplateError::at(
            format!("{path}.severity"),
            "use error or warning (info is for the import's own notes)",
        ));
    }
    Ok(Validator { check, message: v.message.clone(), severity: v.severity.unwrap_or(Severity::Error) })
}

fn regex_message(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(s) => {
            // The syntax error is a multi-line drawing; its last line says what is wrong.
            let last = s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(s);
            format!("invalid regex: {}", last.trim().trim_start_matches("error: "))
        }
        regex::Error::CompiledTooBig(limit) => format!("regex too large (compiled size over {limit} bytes)"),
        other => format!("invalid regex: {other}"),
    }
}

/// Whether `value` lies within a min (`is_min`) or max bound.
pub(crate) fn within(value: &Value<'_>, bound: &Value<'_>, is_min: bool) -> bool {
    match compare_bound(value, bound) {
        Some(ord) => {
            if is_min {
                ord != std::cmp::Ordering::Less
            } else {
                ord != std::cmp::Ordering::Greater
            }
        }
        None => true,
    }
}

#[cfg(test)]
mod tests;
