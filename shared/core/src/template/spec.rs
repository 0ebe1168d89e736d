//! The template as written by people, in JSON or YAML: every field, option and validator.
//!
//! This is the serialized form. [`super::Schema::compile`] turns it into the checked form the
//! engine runs, reporting faults with their path (`fields[3].validators[0].regex: …`).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, IntoDeserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::settings::SettingsPatch;

/// A template: a name, typed fields and default settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    /// Human name of the template, such as `contacts`.
    pub name: String,
    /// What the template is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The fields every row is mapped onto, in output order.
    pub fields: Vec<FieldSpec>,
    /// Default settings of every import that uses this template.
    #[serde(default, skip_serializing_if = "is_default_patch")]
    pub settings: SettingsPatch,
}

fn is_default_patch(patch: &SettingsPatch) -> bool {
    *patch == SettingsPatch::default()
}

/// One field of a template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Key of the field in output rows: letters, digits and `_`, starting with a letter or `_`.
    pub key: String,
    /// Name shown to people, and matched against column headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The value type.
    #[serde(rename = "type", default)]
    pub field_type: FieldTypeName,
    /// Whether an empty value is an error.
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
    /// Whether a value may appear only once in the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique: Option<UniqueMode>,
    /// Other header names that map to this field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternate_matches: Vec<String>,
    /// What the field means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Value used when the cell is empty, written as it would appear in a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<ScalarText>,
    /// Extra checks on the parsed value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validators: Vec<ValidatorSpec>,
    /// Custom error messages by error code (`required`, `invalid_integer`, ...). `{value}` and
    /// `{label}` are replaced.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub messages: BTreeMap<String, String>,
    /// Allowed values of `enum` and `multi_enum` fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<ChoiceSpec>>,
    /// Whether `enum`/`multi_enum` values and `one_of` choices match ignoring case.
    #[serde(default, skip_serializing_if = "is_false")]
    pub case_insensitive: bool,
    /// Separator of list types (`multi_enum`, `tags`, `uuid_list`, `url_list`); a space by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    /// Spellings read as `true` by a boolean field, replacing the built-in list; matched exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub true_values: Option<Vec<String>>,
    /// Spellings read as `false` by a boolean field, replacing the built-in list; matched exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub false_values: Option<Vec<String>>,
    /// Most significant digits of a decimal field (SQL `numeric(precision, scale)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<u32>,
    /// Most digits after the decimal point of a decimal field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u32>,
    /// `strftime` format accepted by a date or datetime field besides ISO 8601.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl FieldSpec {
    /// A field with this key and type and every option left at its default.
    pub fn new(key: impl Into<String>, field_type: FieldTypeName) -> FieldSpec {
        FieldSpec {
            key: key.into(),
            label: None,
            field_type,
            required: false,
            unique: None,
            alternate_matches: Vec::new(),
            description: None,
            default: None,
            validators: Vec::new(),
            messages: BTreeMap::new(),
            values: None,
            case_insensitive: false,
            separator: None,
            true_values: None,
            false_values: None,
            precision: None,
            scale: None,
            format: None,
        }
    }
}

/// The value types a field can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldTypeName {
    /// Any text.
    #[default]
    #[serde(alias = "string")]
    Text,
    /// A whole number (64-bit).
    #[serde(alias = "int")]
    Integer,
    /// An exact decimal number.
    #[serde(alias = "number")]
    Decimal,
    /// `true`/`false` and the usual spellings.
    #[serde(alias = "bool", alias = "checkbox")]
    Boolean,
    /// A calendar date.
    Date,
    /// A date and time with a UTC offset.
    #[serde(alias = "date_time")]
    Datetime,
    /// One of a list of values.
    #[serde(alias = "select")]
    Enum,
    /// Several of a list of values, separated.
    #[serde(alias = "multi_select")]
    MultiEnum,
    /// Free-form labels, separated.
    Tags,
    /// An e-mail address.
    Email,
    /// An `http` or `https` URL.
    Url,
    /// A UUID, such as the id of a related record.
    #[serde(alias = "relationship")]
    Uuid,
    /// Several UUIDs, separated.
    UuidList,
    /// Several URLs, separated (file or image links).
    UrlList,
}

impl FieldTypeName {
    /// The name as written in templates.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Integer => "integer",
            Self::Decimal => "decimal",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::Datetime => "datetime",
            Self::Enum => "enum",
            Self::MultiEnum => "multi_enum",
            Self::Tags => "tags",
            Self::Email => "email",
            Self::Url => "url",
            Self::Uuid => "uuid",
            Self::UuidList => "uuid_list",
            Self::UrlList => "url_list",
        }
    }
}

/// How `unique` compares values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueMode {
    /// Values compare after parsing (so `007` and `7` are the same integer).
    Exact,
    /// Text compares ignoring case.
    CaseInsensitive,
}

impl Serialize for UniqueMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Exact => s.serialize_bool(true),
            Self::CaseInsensitive => s.serialize_str("case_insensitive"),
        }
    }
}

impl<'de> Deserialize<'de> for UniqueMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = UniqueMode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, \"exact\" or \"case_insensitive\"")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<UniqueMode, E> {
                if v { Ok(UniqueMode::Exact) } else { Err(E::custom("write `unique: true` or leave `unique` out")) }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<UniqueMode, E> {
                match v {
                    "exact" => Ok(UniqueMode::Exact),
                    "case_insensitive" => Ok(UniqueMode::CaseInsensitive),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A scalar written in a template (a default or a bound): kept as the text a file would hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalarText(pub String);

impl Serialize for ScalarText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ScalarText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            // Integers past 64 bits arrive whole (YAML reads them so).
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ScalarText, E> {
                // A number read as a float past 2^53 may not be the digits written
                // (`99999999999999999.99` is 1e17), nor may one whose shortest form needs
                // more than the 15 significant digits a float always keeps
                // (`123456789.123456789` reads as `123456789.12345679`): said, not used.
                let text = v.to_string();
                let huge = v.abs() >= 9_007_199_254_740_992.0;
                if huge || significant_digits(&text) > 15 {
                    let shown = if huge { format!("{v:e}") } else { text };
                    return Err(E::custom(format!(
                        "this number reads as {shown}, past the digits a number here keeps exactly; write the value in quotes"
                    )));
                }
                Ok(ScalarText(text))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ScalarText, E> {
                Ok(ScalarText(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Digits from the first non-zero one to the last non-zero one (`0.0120` has 2, `1200` has 2).
fn significant_digits(number: &str) -> usize {
    let digits: Vec<u8> = number.bytes().filter(u8::is_ascii_digit).collect();
    match (digits.iter().position(|d| *d != b'0'), digits.iter().rposition(|d| *d != b'0')) {
        (Some(first), Some(last)) => last - first + 1,
        _ => 0,
    }
}

/// One allowed value: a plain string, or `{value, label, aliases}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ChoiceSpec {
    /// The value itself.
    Plain(ScalarText),
    /// A value with a display label and other spellings that mean it.
    Full {
        /// The canonical value written to output rows.
        value: ScalarText,
        /// Display name; matched like an alias.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// Other spellings that mean this value.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        aliases: Vec<String>,
    },
}

/// Read by hand rather than as an untagged enum: a mistyped key (`lable:`) is then refused by
/// name, where the untagged form ignored it (or said only that no variant matched).
impl<'de> Deserialize<'de> for ChoiceSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            value: ScalarText,
            #[serde(default)]
            label: Option<String>,
            #[serde(default)]
            aliases: Vec<String>,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ChoiceSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value, or {value, label, aliases}")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ChoiceSpec, E> {
                ScalarText::deserialize(v.into_deserializer()).map(ChoiceSpec::Plain)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ChoiceSpec, E> {
                ScalarText::deserialize(v.into_deserializer()).map(ChoiceSpec::Plain)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ChoiceSpec, E> {
                ScalarText::deserialize(v.into_deserializer()).map(ChoiceSpec::Plain)
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<ChoiceSpec, E> {
                ScalarText::deserialize(v.into_deserializer()).map(ChoiceSpec::Plain)
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<ChoiceSpec, E> {
                ScalarText::deserialize(v.into_deserializer()).map(ChoiceSpec::Plain)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ChoiceSpec, E> {
                ScalarText::deserialize(v.into_deserializer()).map(ChoiceSpec::Plain)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ChoiceSpec, E> {
                Ok(ChoiceSpec::Plain(ScalarText(v.to_string())))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<ChoiceSpec, A::Error> {
                let Full { value, label, aliases } = Full::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(ChoiceSpec::Full { value, label, aliases })
            }
        }
        d.deserialize_any(V)
    }
}

impl ChoiceSpec {
    /// The canonical value.
    pub fn value(&self) -> &str {
        match self {
            Self::Plain(v) | Self::Full { value: v, .. } => &v.0,
        }
    }

    /// The other spellings that name the choice, each with what it is: its label, then its
    /// aliases.
    pub fn other_names(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let (label, aliases) = match self {
            Self::Full { label, aliases, .. } => (label.as_deref(), aliases.as_slice()),
            Self::Plain(_) => (None, &[][..]),
        };
        label.map(|l| ("label", l)).into_iter().chain(aliases.iter().map(|a| ("alias", a.as_str())))
    }
}

/// One validator: exactly one check, an optional custom message and severity.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorSpec {
    /// The value must match this regular expression somewhere, as JavaScript's `test` and
    /// Dromo's regex validator do; `^…$` anchors it to the whole value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// Smallest allowed number or date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<ScalarText>,
    /// Largest allowed number or date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<ScalarText>,
    /// Fewest characters (or list items, for list types).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
    /// Most characters (or list items, for list types).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// The value must be one of these (matched against value, label and aliases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<ChoiceSpec>>,
    /// Message shown when the check fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `error` (default) makes the row invalid; `warning` reports without invalidating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<crate::results::Severity>,
}
