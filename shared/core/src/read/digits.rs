//! Spreadsheet number formats that change the digits a whole number shows: zero padding and
//! separators, as in zip codes (`00000` shows 2134 as `02134`), ZIP+4 (`00000-0000`), social
//! security numbers (`000-00-0000`) and account numbers (`00000000`).
//!
//! A workbook stores such a cell as the number; the zeros exist only in its format. Read as
//! text, the number alone would lose them silently. Only formats made of digit placeholders
//! (`0`, `#`) and literal text are read; anything else (decimals, grouping, percentages,
//! scientific notation, colours, conditions, dates) shows a number's own digits or is not a
//! code's, and is left alone.

/// One part of a digit pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// `0`: a digit, or 0 where the number has none.
    Zero,
    /// `#`: a digit, or nothing.
    Hash,
    /// Text shown as written.
    Literal(String),
}

/// A number format that shows whole numbers as padded or separated digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitPattern {
    parts: Vec<Part>,
}

impl DigitPattern {
    /// The pattern of a format code, if the code is one that changes how a whole number's digits
    /// show (a plain `0` or `#,##0` does not).
    pub fn parse(code: &str) -> Option<DigitPattern> {
        // The first section is for positive numbers (and all numbers when it is the only one).
        let mut parts = Vec::new();
        let mut chars = code.chars();
        let mut literal = String::new();
        let flush = |literal: &mut String, parts: &mut Vec<Part>| {
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(literal)));
            }
        };
        while let Some(c) = chars.next() {
            match c {
                ';' => break,
                '0' | '#' => {
                    flush(&mut literal, &mut parts);
                    parts.push(if c == '0' { Part::Zero } else { Part::Hash });
                }
                '"' => {
                    let mut closed = false;
                    for q in chars.by_ref() {
                        if q == '"' {
                            closed = true;
                            break;
                        }
                        literal.push(q);
                    }
                    if !closed {
                        return None;
                    }
                }
                '\\' => literal.push(chars.next()?),
                // Not `/`: between placeholders it makes a fraction (`0/0` shows 4 as 4/1).
                '-' | '+' | '(' | ')' | ':' | ' ' => literal.push(c),
                _ => return None,
            }
        }
        flush(&mut literal, &mut parts);
        let pattern = DigitPattern { parts };
        let zeros = pattern.parts.iter().filter(|p| **p == Part::Zero).count();
        let placeholders = pattern.parts.iter().filter(|p| !matches!(p, Part::Literal(_))).count();
        let literals = pattern.parts.iter().any(|p| matches!(p, Part::Literal(_)));
        // A format without a placeholder (`"N/A"`, `"-"`) shows no digits at all: a text field
        // would lose the number to it.
        (placeholders > 0 && (zeros > 1 || literals)).then_some(pattern)
    }

    /// Whether a format code has a section of its own for zero (`0000;-0000;"none"`), which
    /// the pattern does not show.
    pub fn zero_section(code: &str) -> bool {
        let mut sections = 1;
        let mut quoted = false;
        let mut chars = code.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => quoted = !quoted,
                '\\' if !quoted => {
                    chars.next();
                }
                ';' if !quoted => sections += 1,
                _ => {}
            }
        }
        sections >= 3
    }

    /// How a whole number shows. Placeholders take the number's digits from the right; the
    /// leftmost takes any digits left over, as a spreadsheet shows a number wider than its
    /// format.
    pub fn show(&self, n: u64) -> String {
        let digits = n.to_string();
        let digits = if n == 0 { "" } else { digits.as_str() };
        let mut rest = digits.as_bytes();
        let placeholders = self.parts.iter().filter(|p| !matches!(p, Part::Literal(_))).count();
        let mut shown: Vec<String> = Vec::with_capacity(self.parts.len());
        let mut seen = 0;
        for part in self.parts.iter().rev() {
            match part {
                Part::Literal(text) => shown.push(text.chars().rev().collect()),
                Part::Zero | Part::Hash => {
                    seen += 1;
                    let take = if seen == placeholders { rest.len() } else { rest.len().min(1) };
                    let (left, taken) = rest.split_at(rest.len() - take);
                    rest = left;
                    let mut text: String = taken.iter().rev().map(|&b| b as char).collect();
                    if text.is_empty() && *part == Part::Zero {
                        text.push('0');
                    }
                    shown.push(text);
                }
            }
        }
        shown.concat().chars().rev().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(code: &str, n: u64) -> Option<String> {
        DigitPattern::parse(code).map(|p| p.show(n))
    }

    #[test]
    fn padded_and_separated_codes_show_their_zeros() {
        assert_eq!(show("00000", 2134).as_deref(), Some("02134"));
        assert_eq!(show("00000", 123456).as_deref(), Some("123456"), "wider than the format");
        assert_eq!(show("00000-0000", 21340042).as_deref(), Some("02134-0042"));
        assert_eq!(show("000-00-0000", 12345678).as_deref(), Some("012-34-5678"));
        assert_eq!(show("000-00-0000", 1).as_deref(), Some("000-00-0001"));
        assert_eq!(show("\"ID-\"000000", 42).as_deref(), Some("ID-000042"));
        assert_eq!(show("\\A0000", 7).as_deref(), Some("A0007"));
        assert_eq!(show("00\\/00\\/0000", 12312024).as_deref(), Some("12/31/2024"), "an escaped slash");
        assert_eq!(show("###-####", 5551234).as_deref(), Some("555-1234"));
        assert_eq!(show("00000;[Red]-00000", 2134).as_deref(), Some("02134"), "the first section");
        assert_eq!(show("00", 0).as_deref(), Some("00"));
        assert_eq!(show("(000) 000-0000", 2125551234).as_deref(), Some("(212) 555-1234"));
    }

    #[test]
    fn a_section_for_zero_is_told() {
        assert!(DigitPattern::zero_section("0000;-0000;\"zero\""));
        assert!(!DigitPattern::zero_section("00000;[Red]-00000"));
        assert!(!DigitPattern::zero_section("\"a;b;c\"0000"));
    }

    #[test]
    fn codes_that_show_a_numbers_own_digits_or_more_than_digits_are_left_alone() {
        for code in
            ["General", "0", "#", "#,##0", "0.00", "0%", "0.00E+00", "@", "[Red]00000", "yyyy-mm-dd", "$#,##0", "0_)"]
                .into_iter()
                .chain(["0/0", "00/00", "#/#", "\"N/A\"", "\"-\"", "\\x", "\"x\";\"y\"", "\"ID-0000"])
        {
            assert_eq!(DigitPattern::parse(code), None, "{code}");
        }
    }
}
