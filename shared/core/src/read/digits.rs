//! Spreadsheet number formats that change the digits a whole number shows: zero padding and
//! separators, as in zip codes (`00000` shows 2134 as `02134`), ZIP+4 (`00000-0000`), social
//! security numbers (`000-00-0000`) and account numbers (`00000000`), also in a colour or a
//! locale (`[Red]00000`, `[$-409]00000`) and in the sections Excel's own special formats choose
//! by value (`[<=99999]00000;00000-0000`, `[<=9999999]###-####;(###) ###-####`).
//!
//! A workbook stores such a cell as the number; the zeros exist only in its format. Read as
//! text, the number alone would lose them silently. Only formats made of digit placeholders
//! (`0`, `#`) and literal text are read; anything else (decimals, grouping, percentages,
//! scientific notation, currencies, dates) shows a number's own digits or is not a code's, and
//! is left alone.

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

/// A section's condition (`[<=99999]`): the numbers it shows.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Condition {
    op: Op,
    bound: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Equal,
    NotEqual,
}

impl Condition {
    /// `<=99999` and the like: the inside of a bracket.
    fn parse(text: &str) -> Option<Condition> {
        let (op, rest) = [
            ("<=", Op::LessOrEqual),
            (">=", Op::GreaterOrEqual),
            ("<>", Op::NotEqual),
            ("<", Op::Less),
            (">", Op::Greater),
            ("=", Op::Equal),
        ]
        .into_iter()
        .find_map(|(sign, op)| text.strip_prefix(sign).map(|rest| (op, rest)))?;
        let bound: f64 = rest.trim().parse().ok()?;
        bound.is_finite().then_some(Condition { op, bound })
    }

    fn holds(&self, n: u64) -> bool {
        let n = n as f64;
        match self.op {
            Op::Less => n < self.bound,
            Op::LessOrEqual => n <= self.bound,
            Op::Greater => n > self.bound,
            Op::GreaterOrEqual => n >= self.bound,
            Op::Equal => n == self.bound,
            Op::NotEqual => n != self.bound,
        }
    }
}

/// One section of a format: its condition, if any, and its parts.
#[derive(Debug, Clone, PartialEq)]
struct Section {
    condition: Option<Condition>,
    parts: Vec<Part>,
}

impl Section {
    /// A section made of digit placeholders and literal text, after any colour, locale or
    /// condition in brackets; `None` for anything else.
    fn parse(code: &str) -> Option<Section> {
        let mut parts = Vec::new();
        let mut condition = None;
        let mut chars = code.chars();
        let mut literal = String::new();
        let flush = |literal: &mut String, parts: &mut Vec<Part>| {
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(literal)));
            }
        };
        while let Some(c) = chars.next() {
            match c {
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
                '[' => {
                    let inside: String = chars.by_ref().take_while(|q| *q != ']').collect();
                    match Bracket::of(&inside)? {
                        Bracket::Shown => {}
                        Bracket::Condition(c) if condition.is_none() => condition = Some(c),
                        Bracket::Condition(_) => return None,
                    }
                }
                '\\' => literal.push(chars.next()?),
                // Not `/`: between placeholders it makes a fraction (`0/0` shows 4 as 4/1).
                '-' | '+' | '(' | ')' | ':' | ' ' => literal.push(c),
                _ => return None,
            }
        }
        flush(&mut literal, &mut parts);
        Some(Section { condition, parts })
    }

    fn placeholders(&self) -> usize {
        self.parts.iter().filter(|p| !matches!(p, Part::Literal(_))).count()
    }

    /// Whether the section shows a whole number otherwise than its plain digits: more than one
    /// `0` (padding), or text among the digits.
    fn changes_digits(&self) -> bool {
        let zeros = self.parts.iter().filter(|p| **p == Part::Zero).count();
        zeros > 1 || self.parts.iter().any(|p| matches!(p, Part::Literal(_)))
    }
}

/// What a bracket in a section holds, of what a digit pattern may have.
enum Bracket {
    /// A colour (`[Red]`, `[Color10]`) or a locale without a currency (`[$-409]`): nothing shown.
    Shown,
    /// A condition.
    Condition(Condition),
}

impl Bracket {
    fn of(inside: &str) -> Option<Bracket> {
        if let Some(locale) = inside.strip_prefix("$-") {
            return locale.chars().all(|c| c.is_ascii_hexdigit()).then_some(Bracket::Shown);
        }
        if let Some(n) = inside.get(..5).filter(|p| p.eq_ignore_ascii_case("color")).map(|_| &inside[5..]) {
            return (!n.is_empty() && n.chars().all(|c| c.is_ascii_digit())).then_some(Bracket::Shown);
        }
        const COLOURS: [&str; 8] = ["black", "blue", "cyan", "green", "magenta", "red", "white", "yellow"];
        if COLOURS.iter().any(|c| c.eq_ignore_ascii_case(inside)) {
            return Some(Bracket::Shown);
        }
        Condition::parse(inside).map(Bracket::Condition)
    }
}

/// The sections of a format code, split at `;` outside quoted text and escapes.
fn sections(code: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut from) = (false, false, 0);
    for (i, c) in code.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '"' => quoted = !quoted,
            '\\' if !quoted => escaped = true,
            ';' if !quoted => {
                out.push(&code[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    out.push(&code[from..]);
    out
}

/// A number format that shows whole numbers as padded or separated digits.
#[derive(Debug, Clone, PartialEq)]
pub struct DigitPattern {
    /// The section for positive numbers, or the sections a condition chooses among.
    sections: Vec<Section>,
}

impl DigitPattern {
    /// The pattern of a format code, if the code is one that changes how a whole number's digits
    /// show (a plain `0` or `#,##0` does not).
    pub fn parse(code: &str) -> Option<DigitPattern> {
        let all = sections(code);
        let conditional = all.iter().any(|s| s.contains("[<") || s.contains("[>") || s.contains("[="));
        let sections: Vec<Section> = if conditional {
            // A number is shown by the first section whose condition it meets; a section
            // without one takes every number the ones before it did not (Excel reads no more
            // than three).
            all.iter().take(3).map(|s| Section::parse(s)).collect::<Option<_>>()?
        } else {
            // The first section is for positive numbers (and all numbers when it is the only one).
            vec![Section::parse(all[0]).filter(|s| s.condition.is_none())?]
        };
        // A format without a placeholder (`"N/A"`, `"-"`) shows no digits at all: a text field
        // would lose the number to it.
        let shows_digits = sections.iter().all(|s| s.placeholders() > 0);
        (shows_digits && sections.iter().any(Section::changes_digits)).then_some(DigitPattern { sections })
    }

    /// Whether a format code has a section of its own for zero (`0000;-0000;"none"`), which
    /// the pattern does not show. In a format whose sections have conditions, the third is for
    /// the numbers the others do not take.
    pub fn zero_section(code: &str) -> bool {
        let all = sections(code);
        all.len() >= 3 && !all.iter().any(|s| s.contains("[<") || s.contains("[>") || s.contains("[="))
    }

    /// How a whole number shows. Placeholders take the number's digits from the right; the
    /// leftmost takes any digits left over, as a spreadsheet shows a number wider than its
    /// format. A number no section takes shows its plain digits.
    pub fn show(&self, n: u64) -> String {
        let section = self.sections.iter().enumerate().find(|(i, s)| match s.condition {
            Some(c) => c.holds(n),
            // Unconditional: the positive section alone, or the one for numbers the conditions
            // before it did not take.
            None => *i > 0 || self.sections.len() == 1,
        });
        let Some((_, section)) = section else { return n.to_string() };
        let digits = n.to_string();
        let digits = if n == 0 { "" } else { digits.as_str() };
        let mut rest = digits.as_bytes();
        let placeholders = section.placeholders();
        let mut shown: Vec<String> = Vec::with_capacity(section.parts.len());
        let mut seen = 0;
        for part in section.parts.iter().rev() {
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
        assert!(!DigitPattern::zero_section("[<10]00;[<100]000;0000"), "conditions choose the third");
    }

    #[test]
    fn colours_locales_and_conditions_choose_how_the_digits_show() {
        assert_eq!(show("[Red]00000", 2134).as_deref(), Some("02134"));
        assert_eq!(show("[$-409]00000", 2134).as_deref(), Some("02134"));
        assert_eq!(show("[Color10]000-00-0000", 12345678).as_deref(), Some("012-34-5678"));
        // Excel's special formats: Zip Code + 4, and Phone Number.
        let zip = "[<=99999]00000;00000-0000";
        assert_eq!(show(zip, 2134).as_deref(), Some("02134"));
        assert_eq!(show(zip, 21340042).as_deref(), Some("02134-0042"));
        assert_eq!(show("[>99999]00000-0000;00000", 2134).as_deref(), Some("02134"));
        let phone = "[<=9999999]###-####;(###) ###-####";
        assert_eq!(show(phone, 5551234).as_deref(), Some("555-1234"));
        assert_eq!(show(phone, 2125551234).as_deref(), Some("(212) 555-1234"));
        // Two conditions and the rest; a number no section takes shows its own digits.
        let three = "[<10]\"0\"0;[<100]000;0000";
        assert_eq!(show(three, 7).as_deref(), Some("07"));
        assert_eq!(show(three, 42).as_deref(), Some("042"));
        assert_eq!(show(three, 420).as_deref(), Some("0420"));
        assert_eq!(show("[<10]00;[<100]000", 420).as_deref(), Some("420"));
    }

    #[test]
    fn codes_that_show_a_numbers_own_digits_or_more_than_digits_are_left_alone() {
        for code in
            ["General", "0", "#", "#,##0", "0.00", "0%", "0.00E+00", "@", "[Red]0", "yyyy-mm-dd", "$#,##0", "0_)"]
                .into_iter()
                .chain(["0/0", "00/00", "#/#", "\"N/A\"", "\"-\"", "\\x", "\"x\";\"y\"", "\"ID-0000"])
                .chain(["[$€-407]00000", "[h]00", "[<100]0;0", "[<=99999]00000;\"big\"", "[Redd]00000"])
        {
            assert_eq!(DigitPattern::parse(code), None, "{code}");
        }
    }
}
