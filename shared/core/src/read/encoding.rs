//! Text encodings: byte order marks, UTF-16 without one, legacy code pages, transcoding.
//!
//! Order of precedence: an explicit encoding setting; a byte order mark; UTF-16 recognised by
//! its zero bytes; valid UTF-8 (the whole file, checked while splitting); else a guess from the
//! bytes (chardetng, as browsers do). A mostly-UTF-8 file with a few broken bytes stays UTF-8 and
//! the broken cells become `invalid_encoding` errors, so one bad row never garbles the others.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

/// A text encoding: one of the web's (WHATWG, as `encoding_rs` reads them) or an IBM PC code page
/// of DOS, which old bank and ERP exports still write and the web's list leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// A WHATWG encoding.
    Web(&'static Encoding),
    /// A DOS code page.
    Dos(&'static DosPage),
}

/// An IBM PC code page: ASCII, then one character for each byte from 0x80.
#[derive(Debug, PartialEq, Eq)]
pub struct DosPage {
    name: &'static str,
    /// The characters of bytes 0x80 to 0xFF, in order.
    high: &'static str,
}

/// Code page 437, the original IBM PC's (US DOS): accented letters, then box drawing and Greek.
pub static CP437: DosPage = DosPage {
    name: "IBM437",
    high: "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{a0}",
};

/// Code page 850, DOS's "Multilingual (Latin-1)", usual in Western Europe: 437 with the box
/// drawing and Greek mostly traded for the accented capitals.
pub static CP850: DosPage = DosPage {
    name: "IBM850",
    high: "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜø£Ø×ƒáíóúñÑªº¿®¬½¼¡«»░▒▓│┤ÁÂÀ©╣║╗╝¢¥┐└┴┬├─┼ãÃ╚╔╩╦╠═╬¤ðÐÊËÈıÍÎÏ┘┌█▄¦Ì▀ÓßÔÒõÕµþÞÚÛÙýÝ¯´\u{ad}±‗¾¶§÷¸°¨·¹³²■\u{a0}",
};

impl Charset {
    /// The encoding's name, as an import records it (and as a setting may give it).
    pub fn name(self) -> &'static str {
        match self {
            Charset::Web(e) => e.name(),
            Charset::Dos(page) => page.name,
        }
    }

    /// Whether ASCII bytes are ASCII characters in it (no UTF-16).
    pub fn is_ascii_compatible(self) -> bool {
        match self {
            Charset::Web(e) => e.is_ascii_compatible(),
            Charset::Dos(_) => true,
        }
    }

    /// The character of one byte of a single-byte encoding (a replacement character where it
    /// has none).
    fn char_of(self, byte: u8) -> char {
        match self {
            Charset::Web(e) => {
                e.decode_without_bom_handling(&[byte]).0.chars().next().unwrap_or(char::REPLACEMENT_CHARACTER)
            }
            Charset::Dos(page) => page.char_of(byte),
        }
    }
}

impl DosPage {
    fn char_of(&self, byte: u8) -> char {
        match byte.checked_sub(0x80) {
            None => char::from(byte),
            Some(i) => self.high.chars().nth(usize::from(i)).unwrap_or(char::REPLACEMENT_CHARACTER),
        }
    }
}

impl From<&'static Encoding> for Charset {
    fn from(e: &'static Encoding) -> Charset {
        Charset::Web(e)
    }
}

impl PartialEq<&'static Encoding> for Charset {
    fn eq(&self, other: &&'static Encoding) -> bool {
        matches!(self, Charset::Web(e) if e == other)
    }
}

/// A byte order mark at the start of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bom {
    /// The encoding it announces.
    pub encoding: &'static Encoding,
    /// Its length in bytes.
    pub len: usize,
}

/// Reads a byte order mark.
pub fn sniff_bom(head: &[u8]) -> Option<Bom> {
    Encoding::for_bom(head).map(|(encoding, len)| Bom { encoding, len })
}

/// Recognises UTF-16 without a byte order mark by its zero bytes: the high byte of every ASCII
/// character (digits, delimiters, line breaks), so zeros in one position of the pairs and almost
/// none in the other. Text mostly in another script (`Иван Петров`, `山田太郎`) has fewer of
/// them; it is taken when at least a quarter of the pairs have one, it decodes without a broken
/// surrogate and it breaks lines, as a CSV or JSON file does.
pub fn sniff_utf16(head: &[u8]) -> Option<&'static Encoding> {
    let sample = &head[..head.len().min(4096) & !1];
    if sample.len() < 8 {
        return None;
    }
    let pairs = sample.len() / 2;
    let even_zeros = sample.iter().step_by(2).filter(|b| **b == 0).count();
    let odd_zeros = sample.iter().skip(1).step_by(2).filter(|b| **b == 0).count();
    let (encoding, zeros, others) =
        if odd_zeros >= even_zeros { (UTF_16LE, odd_zeros, even_zeros) } else { (UTF_16BE, even_zeros, odd_zeros) };
    if zeros * 10 >= pairs * 7 && others * 10 <= pairs {
        return Some(encoding);
    }
    if zeros * 4 < pairs || others * 20 > pairs {
        return None;
    }
    let units = sample.chunks_exact(2).map(|p| {
        if encoding == UTF_16LE { u16::from_le_bytes([p[0], p[1]]) } else { u16::from_be_bytes([p[0], p[1]]) }
    });
    // The sample may end inside a surrogate pair; only a broken one before that counts.
    let mut breaks_lines = false;
    let mut broken = 0;
    for unit in char::decode_utf16(units) {
        match unit {
            Ok('\n' | '\r') => breaks_lines = true,
            Ok(_) => {}
            Err(_) => broken += 1,
        }
    }
    (breaks_lines && broken <= 1).then_some(encoding)
}

/// Recognises ISO-2022-JP (JIS), the seven-bit Japanese of old mail and Unix tools: ASCII bytes
/// alone, with the escape that switches to JIS X 0208 (`ESC $ B`, or `ESC $ @`). Its bytes are
/// valid UTF-8 too, which would keep the escapes and show the kanji as ASCII letters.
pub fn sniff_iso_2022_jp(head: &[u8]) -> bool {
    head.is_ascii()
        && (memchr::memmem::find(head, b"\x1b$B").is_some() || memchr::memmem::find(head, b"\x1b$@").is_some())
}

/// The encoding text without a byte order mark is in by its bytes alone: UTF-16 by its zero
/// bytes, ISO-2022-JP by its escapes.
pub fn sniff_unmarked(head: &[u8]) -> Option<&'static Encoding> {
    sniff_utf16(head).or_else(|| sniff_iso_2022_jp(head).then_some(encoding_rs::ISO_2022_JP))
}

/// Guesses a legacy encoding from sample bytes that are not valid UTF-8.
pub fn guess_legacy(sample: &[u8]) -> Charset {
    let guess = guess_web(sample);
    // Mac OS Roman is taken for an encoding of the Latin script, never for KOI8-R or Greek.
    let latin = [
        encoding_rs::WINDOWS_1252,
        encoding_rs::ISO_8859_15,
        encoding_rs::WINDOWS_1250,
        encoding_rs::ISO_8859_2,
        encoding_rs::ISO_8859_4,
        encoding_rs::WINDOWS_1257,
        encoding_rs::ISO_8859_13,
        encoding_rs::WINDOWS_1254,
    ];
    let central = [encoding_rs::WINDOWS_1250, encoding_rs::ISO_8859_2].contains(&guess);
    let mac = latin.contains(&guess) && reads_as_mac_roman(sample, guess)
        // Danish in Mac OS Roman (`ø` and `æ` are Central Europe's `ż` and `ž`): read as
        // plausibly both ways, of which the common Western letters win. Polish or Czech text has
        // letters Mac OS Roman reads as signs or capitals, which keep the guess.
        || central && more_common_letters(sample, Charset::Web(encoding_rs::MACINTOSH), Charset::Web(guess), NORDIC_LETTERS);
    // A DOS code page's `ö` and `Ö` (0x94, 0x99) are Central Europe's `”` and `™` too, and
    // chardetng takes a Swedish `G”ran ™stlund` for Windows-1250.
    let western = guess == encoding_rs::WINDOWS_1252 || guess == encoding_rs::ISO_8859_15;
    if (western || central)
        && let Some(page) = reads_as_dos(sample, if central { guess } else { encoding_rs::WINDOWS_1252 })
    {
        // Mac OS Roman too has letters where Windows-1252 has none: of the two, the reading
        // with more plausible letters, or as plausible, the more common ones (850's `Søren` is
        // Mac OS Roman's `Sõren`).
        let (dos, mac_roman) = (Charset::Dos(page), Charset::Web(encoding_rs::MACINTOSH));
        let (dos_wins, mac_wins) = plausibility(sample, dos, mac_roman);
        if !mac
            || dos_wins > mac_wins
            || dos_wins == mac_wins && !more_common_letters(sample, mac_roman, dos, WESTERN_LETTERS)
        {
            return Charset::Dos(page);
        }
    }
    Charset::Web(if mac { encoding_rs::MACINTOSH } else { guess })
}

/// The WHATWG encoding chardetng takes sample bytes for, with its usual mistakes mended.
fn guess_web(sample: &[u8]) -> &'static Encoding {
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    // A sample that does not end a line ends inside a long one, maybe inside a character: the
    // guess reads it as the prefix of a longer text.
    detector.feed(sample, sample.last().is_none_or(|b| *b == b'\n'));
    let guess = detector.guess(None, chardetng::Utf8Detection::Deny);
    let guess = if guess == UTF_8 { encoding_rs::WINDOWS_1252 } else { guess };
    // ISO-8859-4 (Latin-4, long replaced by Windows-1257 and UTF-8) is what chardetng takes a
    // lone `ï` for (`naïve` read as `naīve`): Windows-1252 wins wherever it reads every accent
    // as a letter.
    let guess = if guess == encoding_rs::ISO_8859_4 && letters_in_words(sample, encoding_rs::WINDOWS_1252) {
        encoding_rs::WINDOWS_1252
    } else {
        guess
    };
    // Hebrew written in a single byte today is Windows-1255, which ISO-8859-8 is a part of but for
    // the shekel sign (`₪100` read as `¤100`), punctuation and vowel points.
    let guess = if guess == encoding_rs::ISO_8859_8 || guess == encoding_rs::ISO_8859_8_I {
        encoding_rs::WINDOWS_1255
    } else {
        guess
    };
    // Signs by numbers (`£825`, `¥1000`, `½ kg`) are letters of Central Europe's encodings
    // (`Ł825`): a file with no other sign of them is Windows-1252.
    let central = guess == encoding_rs::WINDOWS_1250 || guess == encoding_rs::ISO_8859_2;
    if central && signs_by_numbers(sample) && letters_in_words(sample, encoding_rs::WINDOWS_1252) {
        return encoding_rs::WINDOWS_1252;
    }
    // Icelandic `ð` and `þ`, Portuguese `ã`, Spanish `ñ` and Nordic `ø` are letters of Central
    // Europe's, Turkey's and the Baltic's encodings (`Guðrún` read as `Guđrún`, `Guimarães` as
    // `Guimarăes`, `Muñoz` as `Muńoz`, `Strøm` as `Strųm`). Central European
    // and Turkish text never has them together with what tells these languages, so the file may
    // have other Western names too (`Jüri`); Baltic text does (Lithuanian `š` and `į` are `ð` and
    // `á`), so there every accent must be the language's.
    let baltic = [encoding_rs::WINDOWS_1257, encoding_rs::ISO_8859_13].contains(&guess);
    let mixed = (central || guess == encoding_rs::WINDOWS_1254) && letters_in_words(sample, encoding_rs::WINDOWS_1252);
    // Nordic `ø` only against Baltic `ų`: it is Czech `ř` in Windows-1250 (`Přerov`).
    let nordic = if baltic { Some(&NORDIC) } else { None };
    if (mixed || baltic)
        && [&ICELANDIC, &PORTUGUESE, &FRENCH, &SPANISH]
            .into_iter()
            .chain(nordic)
            .any(|language| reads_as(sample, language, baltic))
    {
        return encoding_rs::WINDOWS_1252;
    }
    let turkish = if guess == encoding_rs::WINDOWS_1252 || guess == encoding_rs::ISO_8859_15 {
        reads_as_turkish(sample, b"\xFC\xDC\xE7\xC7", true, b"")
    } else if central {
        reads_as_turkish(sample, b"\xFC\xDC\xE7\xC7\xF6\xD6\xFD", false, b"\xE4\xC4\xDF")
    } else {
        baltic && reads_as_turkish(sample, b"\xFC\xDC", false, b"")
    };
    if turkish {
        return encoding_rs::WINDOWS_1254;
    }
    if guess == encoding_rs::WINDOWS_1252 && (reads_as_hungarian(sample) || polish_inside_words(sample)) {
        return encoding_rs::WINDOWS_1250;
    }
    if (guess == encoding_rs::WINDOWS_1252 || guess == encoding_rs::ISO_8859_15) && reads_as_baltic(sample) {
        return encoding_rs::WINDOWS_1257;
    }
    // After the Baltic letters, which are these too (Latvian `Čaka`).
    if guess == encoding_rs::WINDOWS_1252 && central_letters(sample) {
        return encoding_rs::WINDOWS_1250;
    }
    // ISO-8859-2 has Polish `ą` at 0xB1 and Czech `š` at 0xB9, where Windows-1250 has `ą`: `š`
    // beside letters only Polish writes (`Dšbrowska` beside `Łukasz`) is Windows-1250's `ą`.
    if guess == encoding_rs::ISO_8859_2 && polish_ogonek_at_b9(sample) {
        return encoding_rs::WINDOWS_1250;
    }
    if guess == encoding_rs::WINDOWS_1252 && reads_as_latin_9(sample) { encoding_rs::ISO_8859_15 } else { guess }
}

/// Whether a byte that is a sign beside numbers in Windows-1252 (`£` and `¥` before one, `¹ ² ³
/// ¼ ½ ¾` after one) and a letter in Central Europe's encodings stands by a digit.
fn signs_by_numbers(sample: &[u8]) -> bool {
    sample.iter().enumerate().any(|(i, &b)| {
        let after = sample.get(i + 1).copied();
        let after = if after == Some(b' ') { sample.get(i + 2).copied() } else { after };
        let before = i.checked_sub(1).map(|j| sample[j]);
        match b {
            0xA3 | 0xA5 => after.is_some_and(|a| a.is_ascii_digit()),
            0xB2 | 0xB3 | 0xB9 | 0xBC | 0xBD | 0xBE => before.is_some_and(|a| a.is_ascii_digit()),
            _ => false,
        }
    })
}

/// A language of Western Europe whose letters other encodings read as their own: the bytes of
/// its accented letters in Windows-1252, and what tells it (at least once in a file written in
/// it): the letter at a place of the sample, in its context.
struct Western {
    letters: &'static [u8],
    tells: fn(&[u8], usize) -> bool,
}

/// Whether a byte may be part of a word: an ASCII letter, or any byte above ASCII (a letter in the
/// encodings these rules weigh).
fn word_byte(b: &u8) -> bool {
    b.is_ascii_alphabetic() || *b >= 0x80
}

/// Whether the byte at `i` touches a byte that may be part of a word.
fn in_word(sample: &[u8], i: usize) -> bool {
    i.checked_sub(1).is_some_and(|j| word_byte(&sample[j])) || sample.get(i + 1).is_some_and(word_byte)
}

/// The bytes before and after `i`, small.
fn around(sample: &[u8], i: usize) -> (Option<u8>, Option<u8>, Option<u8>) {
    let at = |j: Option<usize>| j.and_then(|j| sample.get(j)).map(u8::to_ascii_lowercase);
    (at(i.checked_sub(1)), at(Some(i + 1)), at(Some(i + 2)))
}

/// Icelandic: `á é í ó ú ý ö æ ð þ`, told by `ð` or `þ` in a word with an acute vowel (`Guðrún`,
/// `Þórður`) or ending in `sson` (`Sigurðsson`), which Croatian (`Đurić`, `đ` and `ć` where
/// Icelandic has `ð` and `æ`), Romanian (`Constanţa`) and Turkish (`Beşiktaş`) words never are,
/// though a Czech or Hungarian name beside them may have an acute vowel.
const ICELANDIC: Western = Western {
    letters: b"\xE1\xE9\xED\xF3\xFA\xFD\xF6\xE6\xF0\xFE\xC1\xC9\xCD\xD3\xDA\xDD\xD6\xC6\xD0\xDE",
    tells: |sample, i| {
        if !matches!(sample[i], 0xF0 | 0xFE | 0xD0 | 0xDE) {
            return false;
        }
        let start = sample[..i].iter().rposition(|b| !word_byte(b)).map_or(0, |j| j + 1);
        let end = sample[i..].iter().position(|b| !word_byte(b)).map_or(sample.len(), |j| i + j);
        let word = &sample[start..end];
        word.iter().any(|b| b"\xE1\xE9\xED\xF3\xFA\xC1\xC9\xCD\xD3\xDA".contains(b))
            || word.to_ascii_lowercase().ends_with(b"sson")
    },
};

/// Portuguese: `á é í ó ú â ê ô ã õ ç à ü`, told by `ã` or `õ` before `o` or `e` (`João`, `mães`,
/// `Simões`), which Romanian `ă` and Hungarian `ő` (the same bytes in Windows-1250) seldom stand
/// before, ending words instead.
const PORTUGUESE: Western = Western {
    letters:
        b"\xE1\xE9\xED\xF3\xFA\xE2\xEA\xF4\xE3\xF5\xE7\xE0\xFC\xC1\xC9\xCD\xD3\xDA\xC2\xCA\xD4\xC3\xD5\xC7\xC0\xDC",
    tells: |sample, i| {
        matches!(sample[i], 0xE3 | 0xC3 | 0xF5 | 0xD5) && matches!(around(sample, i).1, Some(b'o' | b'e'))
    },
};

/// French: `à â ç é è ê ë î ï ô ù û ü ÿ œ æ`, told where Central European and Baltic words do not
/// have the letters these bytes are there: `è` between consonants before `e` (`Hélène`, `Père`;
/// Czech `začne` has a vowel before `č`), `î` or `û` after a vowel (`Benoît`, `maître`, `goût`),
/// `œu` (`cœur`), `ë` after `a` or `o` (`Noël`, `Gaëlle`). Not `ç`, which Turkish writes before
/// `a` too.
const FRENCH: Western = Western {
    letters: b"\xE0\xE2\xE7\xE9\xE8\xEA\xEB\xEE\xEF\xF4\xF9\xFB\xFC\xFF\x9C\xE6\xC0\xC2\xC7\xC9\xC8\xCA\xCB\xCE\xCF\xD4\xD9\xDB\xDC\x8C\xC6",
    tells: |sample, i| {
        let (before, next, after) = around(sample, i);
        match sample[i] {
            0xE8 => {
                before.is_some_and(|b| b.is_ascii_alphabetic() && !b"aeiouy".contains(&b))
                    && matches!(next, Some(b'r' | b'v' | b's' | b'g' | b'z' | b'n'))
                    && after == Some(b'e')
            }
            0xEE => matches!(before, Some(b'a' | b'o')),
            0xFB => before == Some(b'o'),
            0x9C | 0x8C => next == Some(b'u'),
            0xEB => matches!(before, Some(b'a' | b'o')),
            _ => false,
        }
    },
};

/// Danish and Norwegian: `æ ø å`, told by `ø` inside a word (`Strøm`, `Gjøvik`), where Lithuanian,
/// whose `ų` it is in Windows-1257, writes it only in endings (`Vokiečių`) and before `j`
/// (`Naujųjų`).
const NORDIC: Western = Western {
    letters: b"\xE6\xF8\xE5\xE4\xF6\xE9\xC6\xD8\xC5\xC4\xD6\xC9",
    tells: |sample, i| {
        matches!(sample[i], 0xF8 | 0xD8)
            && sample.get(i + 1).is_some_and(|b| b.is_ascii_alphabetic() && !b.eq_ignore_ascii_case(&b'j'))
    },
};

/// Spanish: `á é í ó ú ñ ü`, told by `ñ` before a vowel (`Muñoz`, `Íñigo`), where Polish, whose `ń`
/// it is in Windows-1250 and 1257, writes `ni`.
const SPANISH: Western = Western {
    letters: b"\xE1\xE9\xED\xF3\xFA\xF1\xFC\xC1\xC9\xCD\xD3\xDA\xD1\xDC",
    tells: |sample, i| {
        matches!(sample[i], 0xF1 | 0xD1) && matches!(around(sample, i).1, Some(b'a' | b'e' | b'i' | b'o' | b'u'))
    },
};

/// Whether the sample tells `language`, with no accent in words that is not its letter when
/// `alone`.
fn reads_as(sample: &[u8], language: &Western, alone: bool) -> bool {
    let mut told = false;
    for (i, &b) in sample.iter().enumerate() {
        if b < 0x80 || !in_word(sample, i) {
            continue;
        }
        if alone && !language.letters.contains(&b) {
            return false;
        }
        told = told || (language.tells)(sample, i);
    }
    told
}

/// Whether text taken for another encoding is Turkish in Windows-1254, whose `ğ ş ı İ` are
/// Windows-1252's Icelandic `ð þ ý Ý` (`Doðan`, `Beþiktaþ`), Windows-1250's `đ ţ ý Ý`
/// (`Beţiktaţ`) and Windows-1257's `š ž` (`Büžra`). So it is when every accent in words is a
/// Turkish letter (`ç ğ ı İ ö ş ü â î û`: no acute vowel, which Icelandic writes), one of `ğ ş İ`
/// is there, and a byte of `tells` (`ü`, `ç`: Icelandic has neither; Latvian's `ē` is `ç`) or, when
/// `ending`, `ş` after a vowel or ending a word (`Ayşe`, `Ateş`; Icelandic has no such `þ`,
/// Romanian has such `ţ`: `Galaţi`). Against Windows-1250 the tells take `ö` and `ı` too: Czech
/// and Slovak `ý` and Hungarian `ö` seldom stand beside Romanian `ţ` or Croatian `đ`. Letters
/// `also` are letters of names that may stand beside (German `ä`, `ß`), which both read alike.
fn reads_as_turkish(sample: &[u8], tells: &[u8], ending: bool, also: &[u8]) -> bool {
    const TURKISH: &[u8] = b"\xE7\xC7\xF0\xD0\xFD\xDD\xF6\xD6\xFE\xDE\xFC\xDC\xE2\xC2\xEE\xCE\xFB\xDB";
    let (mut own, mut told) = (false, false);
    for (i, &b) in sample.iter().enumerate() {
        if b < 0x80 || !in_word(sample, i) {
            continue;
        }
        if !TURKISH.contains(&b) && !also.contains(&b) {
            return false;
        }
        own |= matches!(b, 0xF0 | 0xD0 | 0xFE | 0xDE | 0xDD);
        told |= tells.contains(&b);
        if ending && matches!(b, 0xFE | 0xDE) {
            let before = i.checked_sub(1).map(|j| sample[j]);
            let after = sample.get(i + 1).copied();
            let vowel = |c: u8| b"aeiouyAEIOUY\xFC\xF6\xFD\xDC\xD6".contains(&c);
            told |= before.is_some_and(vowel) || after.is_none_or(|c| c < 0x80 && !c.is_ascii_alphabetic());
        }
    }
    own && told
}

/// Whether Windows-1252 reads superscripts or a yen sign between two letters, where Windows-1250
/// has Polish `ł`, `ą` and `Ą` (`Wroc³aw`, `mas³o`, `k¹pielowy`): no Western text writes them
/// there (`m³` has a letter on one side only).
fn polish_inside_words(sample: &[u8]) -> bool {
    sample
        .windows(3)
        .any(|w| matches!(w[1], 0xB3 | 0xB9 | 0xA5) && w[0].is_ascii_alphabetic() && w[2].is_ascii_alphabetic())
}

/// Whether Windows-1252 text has a letter where no Western language writes it and Windows-1250 has
/// a Central European one: `ñ` ending a word or before a consonant (Polish `ń`: `Poznañ`,
/// `Gdañsk`; Spanish writes `ñ` before vowels), or `è` starting a word before a vowel or ending one
/// after `i`, `e` or `a` (`č`: `èokolada`, `Petriè`, `Kovaè`; French and Italian do neither).
fn central_letters(sample: &[u8]) -> bool {
    let letter = |b: Option<u8>| b.as_ref().is_some_and(word_byte);
    let vowel = |b: Option<u8>| b.is_some_and(|b| b"aeiou".contains(&b.to_ascii_lowercase()));
    sample.iter().enumerate().any(|(i, &b)| {
        let before = i.checked_sub(1).map(|j| sample[j]);
        let after = sample.get(i + 1).copied();
        match b {
            0xF1 | 0xD1 => {
                letter(before) && (!letter(after) || after.is_some_and(|a| a.is_ascii_alphabetic()) && !vowel(after))
            }
            0xE8 | 0xC8 => {
                !letter(before) && vowel(after)
                    || !letter(after)
                        && matches!(before.map(|b| b.to_ascii_lowercase()), Some(b'i' | b'e' | b'a' | 0xE1))
            }
            _ => false,
        }
    })
}

/// Whether ISO-8859-2 text with `š` at 0xB9 is Windows-1250 with `ą` there: letters only Polish
/// writes and both place alike (`ł ń ę ż` and their capitals) stand in words too, and no `ą` of
/// ISO-8859-2 (0xB1) does.
fn polish_ogonek_at_b9(sample: &[u8]) -> bool {
    let in_words = |bytes: &[u8]| (0..sample.len()).any(|i| bytes.contains(&sample[i]) && beside_letter(sample, i));
    in_words(b"\xB9") && in_words(b"\xB3\xA3\xF1\xD1\xEA\xCA\xBF\xAF") && !in_words(b"\xB1\xA1")
}

/// Whether text taken for Windows-1252 is Lithuanian or Latvian in Windows-1257, whose letters
/// are where Windows-1252 has Western ones (`Telšiai` read as `Telðiai`, `Bērziņš` as `Bçrziòð`,
/// `Vaitkevičiūtė` as `Vaitkevièiûtë`). So it is when every accent in words that the two read
/// apart is a letter of the two languages in Windows-1257, no word has Icelandic's `ð` or `þ`
/// beside `í`, `ó` or `é`, and one letter stands where no Western language writes the
/// Windows-1252 one: `è` before a vowel (`č`: `Vaitkevièiûtë`, `Èaka`), `ì` before a letter (`ģ`:
/// Italian ends words with it), `ò` after `i` or `ï` before a letter (`ņ`: `Kalniòa`, `Vaïòu`),
/// `ç` between consonants but after `h` (`ē`: `Cçsis`; French and Portuguese write it before `a`,
/// `o`, `u`, Albanian after its digraphs, `Gjithçka`), `ð` starting a word (`š`: `Ðiauliai`;
/// Icelandic never does), `ø` ending a word after `i` (`ų`: `Vokieèiø`), or `ë` ending the
/// surnames of married and unmarried women (`ė`: `Kazlauskienë`, `Paulauskaitë`; Albanian, which
/// writes `ë` after any consonant, has no such words). `ï` after a consonant (`ļ`: `Kïaviòð`)
/// tells nothing, Welsh writing it so (`Gwenllïan`), nor `þ` after a vowel (`ž`: `Maþeikiai`),
/// Icelandic too (`Eyþór`, `Aþena`). Turkish, whose `ş` and `ğ` are these `þ` and `ð`, is weighed
/// before.
fn reads_as_baltic(sample: &[u8]) -> bool {
    const BALTIC: &[u8] = b"\xE0\xE1\xE2\xE6\xE7\xE8\xEB\xEC\xED\xEE\xEF\xF0\xF2\xF8\xFB\xFE\
                            \xC0\xC1\xC2\xC6\xC7\xC8\xCB\xCC\xCD\xCE\xCF\xD0\xD2\xD8\xDB\xDE";
    let vowel = |b: u8| b"aeiouy".contains(&b.to_ascii_lowercase());
    let consonant = |b: u8| b.is_ascii_alphabetic() && !vowel(b);
    // Icelandic writes `ð` and `þ` beside `í`, `ó` and `é` (`Eyþórsson`, `Ferðaþjónustan`,
    // `Þuríður`); Lithuanian and Latvian have no `ó` or `é`, and `í` (Latvian `ķ`) seldom beside `š`.
    let icelandic = |word: &[u8]| {
        word.iter().any(|b| matches!(b, 0xF0 | 0xD0 | 0xFE | 0xDE))
            && word.iter().any(|b| matches!(b, 0xF3 | 0xD3 | 0xE9 | 0xC9 | 0xED | 0xCD))
    };
    if sample.split(|b| !word_byte(b)).any(icelandic) {
        return false;
    }
    let mut told = false;
    for (i, &b) in sample.iter().enumerate() {
        let (before, after) = (i.checked_sub(1).map(|j| sample[j]), sample.get(i + 1).copied());
        let (letter_before, letter_after) =
            (before.as_ref().is_some_and(word_byte), after.as_ref().is_some_and(word_byte));
        if b < 0x80 || !(letter_before || letter_after) {
            continue;
        }
        let western = Charset::Web(encoding_rs::WINDOWS_1252).char_of(b);
        if western == Charset::Web(encoding_rs::WINDOWS_1257).char_of(b) {
            continue;
        }
        if !BALTIC.contains(&b) {
            return false;
        }
        told |= match b {
            0xE8 | 0xC8 => after.is_some_and(vowel),
            0xEC | 0xCC => letter_after,
            0xF2 | 0xD2 => matches!(before, Some(b'i' | 0xEF)) && letter_after,
            0xE7 | 0xC7 => before.is_some_and(consonant) && before != Some(b'h') && after.is_some_and(consonant),
            0xF0 | 0xD0 => !letter_before && letter_after,
            0xF8 | 0xD8 => before == Some(b'i') && !letter_after,
            0xEB => {
                let stem = sample[i.saturating_sub(3)..i].to_ascii_lowercase();
                !letter_after && (stem == b"ien" || stem == b"ait")
            }
            _ => false,
        };
    }
    told
}

/// Whether text taken for Windows-1252 is Hungarian in Windows-1250 (or ISO-8859-2, alike for
/// its letters): `ő` and `ű` are where Windows-1252 has `õ` and `û` (`Kőrösi` read as `Kõrösi`),
/// the rest of its accents (`á é í ó ö ú ü`) are where Windows-1252 has them. So it is when every
/// accent in words is one Hungarian writes and a word with `õ` or `û` looks Hungarian
/// ([`hungarian_word`]). Portuguese `õ` comes before `e` (`Simões`), or with `ã` or `ç`, Estonian
/// `õ` before `u` or `i` (`Mõisaküla`), in words of its own (`Tõnisson`) or with `ä`, French `û`
/// with `é` at most (`Sûreté`): they stay.
fn reads_as_hungarian(sample: &[u8]) -> bool {
    for (i, &b) in sample.iter().enumerate() {
        let in_word = i.checked_sub(1).is_some_and(|j| hungarian_letter(sample[j]))
            || sample.get(i + 1).is_some_and(|&b| hungarian_letter(b));
        if b < 0x80 || !in_word || HUNGARIAN_SHARED.contains(&b) {
            continue;
        }
        // `õe` is Portuguese (`Simões`), `õu`, `õõ` and `õi` inside a word Estonian (`Lõuna`,
        // `Sõõru`, `Mõisaküla`); `női` ends a Hungarian word.
        let next = |at: usize| sample.get(i + at).map(u8::to_ascii_lowercase);
        if HUNGARIAN_OWN[..2].contains(&b)
            && (matches!(next(1), Some(b'e' | b'u' | 0xF5 | 0xD5))
                || next(1) == Some(b'i') && next(2).is_some_and(|b| b.is_ascii_alphabetic()))
        {
            return false;
        }
        // What both read alike says nothing: punctuation (`„Szőke”`, `Kft.®`), and the letters of
        // German names beside Hungarian ones (`Schäfer`, `Weiß`); any other letter, no.
        let western = Charset::Web(encoding_rs::WINDOWS_1252).char_of(b);
        if !HUNGARIAN_OWN.contains(&b) && western != Charset::Web(encoding_rs::WINDOWS_1250).char_of(b) {
            return false;
        }
    }
    // Or a word with `ő` or `ű` in a file whose words elsewhere are Hungarian (`Bíró Lőrinc` beside
    // `Juhász`, `Gyöngyi`): a digraph only Hungarian and Polish write, and an accent.
    let words = || sample.split(|b| !hungarian_letter(*b));
    let magyar = |word: &[u8]| {
        word.to_ascii_lowercase().windows(2).any(|w| matches!(w, b"sz" | b"zs" | b"cs" | b"gy"))
            && word.iter().any(|b| HUNGARIAN_SHARED.contains(b))
    };
    words().any(hungarian_word)
        || words().any(|word| word.iter().any(|b| HUNGARIAN_OWN.contains(b))) && words().any(magyar)
}

/// `á é í ó ö ú ü` and their capitals, where Windows-1250 and Windows-1252 agree.
const HUNGARIAN_SHARED: &[u8] = b"\xE1\xE9\xED\xF3\xF6\xFA\xFC\xC1\xC9\xCD\xD3\xD6\xDA\xDC";
/// `ő Ő`, then `ű Ű`: `õ Õ û Û` in Windows-1252.
const HUNGARIAN_OWN: &[u8] = b"\xF5\xD5\xFB\xDB";

fn hungarian_letter(b: u8) -> bool {
    b.is_ascii_alphabetic() || HUNGARIAN_SHARED.contains(&b) || HUNGARIAN_OWN.contains(&b)
}

/// Whether a word with `ő` or `ű` looks Hungarian: it writes one of the language's digraphs
/// (`Szőke`, `Győr`, `Szűcs`, `Lőrincz`), another of its accents (`Kőrösi`, `Művelődési`;
/// besides `ű`, one other than `é`, for French `Sûreté`), or ends one letter at most after its
/// last `ő` (`Fő`, `Előd`, `bőr`, `női`, `Erdős`, `Tőserdő`), or in `űs` or `űz` (`Hegedűs`,
/// `tűz`). Estonian and French words with `õ` or `û` do not (`Tõnisson`, `Jõgi`, `kõrvarõngad`,
/// `goût`, `dû`).
fn hungarian_word(word: &[u8]) -> bool {
    let Some(last) = word.iter().rposition(|b| HUNGARIAN_OWN.contains(b)) else {
        return false;
    };
    let lower = word.to_ascii_lowercase();
    let digraph = lower.windows(2).any(|w| matches!(w, b"sz" | b"zs" | b"cs" | b"cz" | b"gy" | b"ny" | b"ly" | b"ty"));
    let o = HUNGARIAN_OWN[..2].contains(&word[last]);
    let accent = word.iter().any(|&b| HUNGARIAN_SHARED.contains(&b) && (o || b != 0xE9 && b != 0xC9));
    let ending = match &lower[last + 1..] {
        [] | [_] if o => true,
        [b's' | b'z'] => true,
        _ => false,
    };
    digraph || accent || ending
}

/// The DOS code page text read as Windows-1252 (or `against`, a Central European encoding) is in,
/// if it is in one. Such text has letters
/// where Windows-1252 has punctuation or nothing: `M„dchen` (0x84, `ä`), `Gr”áe` (`ö`, `ß`), and
/// 0x81 (`ü`) is no character of Windows-1252 at all. Each byte above ASCII next to an ASCII
/// letter is read both ways, as [`reads_as_mac_roman`] does; the code page wins when its reading
/// does, clearly (once is enough when a byte Windows-1252 leaves undefined is there). It is 850
/// when a letter only 850 has (`Á`, `Ê`, `õ`, ...) stands in a word,
/// else 437.
fn reads_as_dos(sample: &[u8], against: &'static Encoding) -> Option<&'static DosPage> {
    let windows = Charset::Web(against);
    // One letter is enough where a byte is no character of the other encoding at all (a C1
    // control: 0x81, 0x8D, 0x8F, 0x90 and 0x9D in Windows-1252).
    let undefined = sample.iter().any(|&b| b >= 0x80 && ('\u{80}'..='\u{9F}').contains(&windows.char_of(b)));
    let least = if undefined { 1 } else { 2 };
    let wins = |page: &'static DosPage| {
        let (dos_wins, other_wins) = plausibility(sample, Charset::Dos(page), windows);
        dos_wins >= least && dos_wins >= 4 * other_wins
    };
    // Where 850 has letters and 437 signs: `ø` (`¢` in 437), and the accented capitals and
    // Nordic letters in place of 437's box drawing.
    let latin = sample.iter().enumerate().any(|(i, &b)| {
        beside_letter(sample, i) && CP850.char_of(b).is_alphabetic() && !CP437.char_of(b).is_alphabetic()
    });
    match (wins(&CP437), wins(&CP850)) {
        (true, true) => Some(if latin { &CP850 } else { &CP437 }),
        (true, false) => Some(&CP437),
        (false, true) => Some(&CP850),
        (false, false) => None,
    }
}

/// Accented letters common in the languages of Western Europe.
const WESTERN_LETTERS: &str = "éèàäöüåøæñçáíóúâêôßÄÖÜÅØÆÉ";
/// The Nordic letters Mac OS Roman has where Central Europe's encodings have `ż ž Ż Ž` (and
/// Slovenian `š ž` are Mac OS Roman's `ö û`: no sign of Mac OS Roman).
const NORDIC_LETTERS: &str = "øæåØÆÅ";

/// Whether `one` reads text at least as plausibly as `other` everywhere (see [`plausibility`]),
/// with more of the `common` letters: `ø æ å` over `ż ž`, `ø` over `õ`.
fn more_common_letters(sample: &[u8], one: Charset, other: Charset, common: &str) -> bool {
    let (one_wins, other_wins) = plausibility(sample, one, other);
    let weight = |charset: Charset| -> u32 {
        let mut sum = 0;
        for (i, &b) in sample.iter().enumerate() {
            if b >= 0x80 && beside_letter(sample, i) {
                let c = charset.char_of(b);
                sum += if common.contains(c) { 2 } else { u32::from(c.is_alphabetic()) };
            }
        }
        sum
    };
    one_wins >= other_wins && other_wins == 0 && weight(one) > weight(other)
}

/// Whether the byte at `i` touches an ASCII letter.
fn beside_letter(sample: &[u8], i: usize) -> bool {
    let before = i.checked_sub(1).map(|j| sample[j]);
    let after = sample.get(i + 1).copied();
    before.is_some_and(|b| b.is_ascii_alphabetic()) || after.is_some_and(|b| b.is_ascii_alphabetic())
}

/// How many bytes above ASCII next to an ASCII letter only `one` reads plausibly, and how many
/// only `other` does. A letter, or punctuation that touches words (quotes and guillemets, `¿`,
/// dashes, `™`, `€`, `°`, superscripts), is plausible there, but not a capital inside a word of
/// small letters ("RenŽe", "JŸrgen"), nor a control character.
fn plausibility(sample: &[u8], one: Charset, other: Charset) -> (u32, u32) {
    let table = |charset: Charset| -> Vec<char> { (0x80..=0xFFu8).map(|b| charset.char_of(b)).collect() };
    let (one, other) = (table(one), table(other));
    let plausible = |c: char, before: Option<u8>, after: Option<u8>| {
        // Between two letters of a word, only a letter, an apostrophe or a middle dot (`l·l`):
        // `M„dchen` and `S›ren` are no words, `Mädchen` (437) and `Søren` (850) are.
        let inside = before.is_some_and(|b| b.is_ascii_alphabetic()) && after.is_some_and(|b| b.is_ascii_alphabetic());
        let word_mark = if inside {
            "’´·".contains(c)
        } else {
            "'‘’“”„‚«»‹›¿¡–—…·´™®©€•°§¹²³¼½¾".contains(c)
        };
        let inner_capital = c.is_uppercase()
            && (before.is_some_and(|b| b.is_ascii_lowercase())
                || before.is_some_and(|b| b.is_ascii_alphabetic()) && after.is_some_and(|b| b.is_ascii_lowercase()));
        // A Greek letter (Mac OS Roman's `π` and `Ω`, 437's `α` to `Ω`) in a Latin word is none.
        let latin = (c as u32) < 0x250 || (0x1E00..0x1F00).contains(&(c as u32));
        ((c.is_alphabetic() && latin) || word_mark) && !inner_capital
    };
    let (mut one_wins, mut other_wins) = (0u32, 0u32);
    for (i, &b) in sample.iter().enumerate() {
        if b < 0x80 || !beside_letter(sample, i) {
            continue;
        }
        let before = i.checked_sub(1).map(|j| sample[j]);
        let after = sample.get(i + 1).copied();
        let at = usize::from(b - 0x80);
        match (plausible(one[at], before, after), plausible(other[at], before, after)) {
            (true, false) => one_wins += 1,
            (false, true) => other_wins += 1,
            _ => {}
        }
    }
    (one_wins, other_wins)
}

/// Whether Windows-1252 text is ISO-8859-15 (Latin-9, which LibreOffice and Gnumeric write for
/// "Western Europe (ISO-8859-15)"): it puts `€ Š š Ž ž Œ œ Ÿ` where Windows-1252 has the symbols
/// `¤ ¦ ¨ ´ ¸ ¼ ½ ¾`. A currency sign `¤`, or `¦ ¨ ¼ ½ ¾` inside a word (`c½ur`, `Ca¦ko`), says
/// Latin-9, unless a byte only Windows-1252 prints (0x80 to 0x9F: its `€`, curly quotes, dashes)
/// is there. `´` and `¸` do not: people type them for an apostrophe or a cedilla (`don´t`).
fn reads_as_latin_9(sample: &[u8]) -> bool {
    if sample.iter().any(|b| (0x80..=0x9F).contains(b)) {
        return false;
    }
    sample.iter().enumerate().any(|(i, &b)| {
        let before = i.checked_sub(1).map(|j| sample[j]);
        let after = sample.get(i + 1).copied();
        let letter = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphabetic() || b >= 0xC0);
        match b {
            0xA4 => true,
            0xA6 | 0xA8 | 0xBC | 0xBD | 0xBE => letter(before) || letter(after),
            _ => false,
        }
    })
}

/// Whether every byte above ASCII next to an ASCII letter reads, in the single-byte `encoding`,
/// as a letter that is no capital inside a word of small letters.
fn letters_in_words(sample: &[u8], encoding: &'static Encoding) -> bool {
    sample.iter().enumerate().filter(|(_, b)| **b >= 0x80).all(|(i, &b)| {
        let before = i.checked_sub(1).map(|j| sample[j]);
        let after = sample.get(i + 1).copied();
        let c = encoding.decode_without_bom_handling(&[b]).0.chars().next().unwrap_or(char::REPLACEMENT_CHARACTER);
        let in_word = before.is_some_and(|b| b.is_ascii_alphabetic()) || after.is_some_and(|b| b.is_ascii_alphabetic());
        !in_word || (c.is_alphabetic() && !(c.is_uppercase() && before.is_some_and(|b| b.is_ascii_lowercase())))
    })
}

/// Whether text is Mac OS Roman rather than the single-byte `guess`. Excel for Mac saves "CSV
/// (Macintosh)" in Mac OS Roman, which a detector of web encodings (chardetng knows none of the
/// Mac ones) takes for Windows-1252: "Renée" would read as "RenŽe", and "ç", "è", "ê" (bytes
/// 1252 leaves undefined) would vanish.
///
/// Letters sit inside words, so each byte above ASCII next to an ASCII letter is read both ways:
/// a letter, or punctuation that touches words (quotes and guillemets, `¿`, dashes, `™`, `€`,
/// `°`, superscripts), is plausible there, but not a capital inside a word of small letters
/// ("RenŽe", "JŸrgen"). Bytes that only one reading makes plausible count for it; the file is
/// Mac OS Roman when that reading wins clearly, with at least two such bytes. Mac OS Roman text whose accents are all read plausibly both ways (only
/// "í", "ñ", "ó") is not recognised; its encoding can be set.
fn reads_as_mac_roman(sample: &[u8], guess: &'static Encoding) -> bool {
    let (mac_wins, other_wins) = plausibility(sample, Charset::Web(encoding_rs::MACINTOSH), Charset::Web(guess));
    mac_wins >= 2 && mac_wins >= 4 * other_wins
}

/// Looks an encoding up by label: the WHATWG labels (`windows-1252`, `latin1`, `utf-16le`,
/// `shift_jis`, ...), with `_` for `-` (`iso_8859_2`), and the names Python and Windows give
/// some of them (`utf-8-sig`, `cp932`, `mac_roman`, `cp949`).
pub fn encoding_for_label(label: &str) -> Option<Charset> {
    let label = label.trim().to_ascii_lowercase();
    let dos = match label.replace(['_', ' '], "-").as_str() {
        "ibm437" | "ibm-437" | "cp437" | "cp-437" | "437" | "dos-437" | "cspc8codepage437" | "oem-us" => Some(&CP437),
        "ibm850" | "ibm-850" | "cp850" | "cp-850" | "850" | "dos-850" | "cspc850multilingual" => Some(&CP850),
        _ => None,
    };
    if let Some(page) = dos {
        return Some(Charset::Dos(page));
    }
    web_encoding_for_label(&label).map(Charset::Web)
}

fn web_encoding_for_label(label: &str) -> Option<&'static Encoding> {
    Encoding::for_label(label.as_bytes()).or_else(|| {
        let dashed = label.replace('_', "-");
        Encoding::for_label(dashed.as_bytes()).or(match dashed.as_str() {
            "utf-8-sig" | "utf8-sig" => Some(UTF_8),
            "utf-16-le" => Some(UTF_16LE),
            "utf-16-be" => Some(UTF_16BE),
            "cp932" | "ms932" | "ms-932" => Some(encoding_rs::SHIFT_JIS),
            "mac-roman" | "macroman" | "mac" => Some(encoding_rs::MACINTOSH),
            "mac-cyrillic" | "maccyrillic" => Some(encoding_rs::X_MAC_CYRILLIC),
            "latin-1" | "iso-latin-1" => Some(encoding_rs::WINDOWS_1252),
            "cp936" | "ms936" => Some(encoding_rs::GBK),
            "cp949" | "ms949" | "uhc" => Some(encoding_rs::EUC_KR),
            "cp950" | "ms950" => Some(encoding_rs::BIG5),
            _ => None,
        })
    })
}

/// What the splitter learned about UTF-8 validity while reading a whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Utf8Stats {
    /// Invalid byte sequences seen.
    pub invalid_sequences: u64,
    /// Valid multi-byte characters seen (counted up to plenty, and always near broken bytes).
    pub multibyte_chars: u64,
    /// Line of the first invalid sequence.
    pub first_invalid_line: Option<u64>,
    /// Whole lines around invalid sequences, for guessing the real encoding.
    sample: Vec<u8>,
    /// Whether the last region ended inside a line (so the next one begins inside it, maybe
    /// inside a character).
    mid_line: bool,
    /// The line the last region ended inside, from its start, while it is no longer than
    /// [`Self::LINE_LIMIT`]; `None` once it is.
    open_line: Option<Vec<u8>>,
    /// Whether that line holds an invalid sequence and goes into the sample once it ends.
    open_line_sampled: bool,
    /// The start of the first line to sample that was too long and had no byte to cut it at
    /// (a field of kanji or Cyrillic written without a space): cut anywhere, maybe inside a
    /// character, so it ends the sample, which the guess reads as a prefix.
    cut: Vec<u8>,
}

impl Utf8Stats {
    const SAMPLE_LIMIT: usize = 256 * 1024;
    const LINE_LIMIT: usize = 4096;
    const ENOUGH_EVIDENCE: u64 = 4096;

    /// Accounts for one region of the file that starts on `line`. Regions follow one another
    /// and may be cut anywhere, inside a line or a character.
    pub fn observe(&mut self, region: &[u8], line: u64) {
        // Where the line an earlier region ended inside ends, if in this region.
        let first_break = memchr::memchr2(b'\n', b'\r', region);
        // Lines up to here are in the sample, or will be.
        let mut sampled_to = 0;
        if self.mid_line && self.open_line_sampled {
            sampled_to = first_break.unwrap_or(region.len());
            if let Some(end) = first_break {
                self.push_line_end(region, end);
                self.open_line_sampled = false;
            }
        }
        match super::utf8(region) {
            // Evidence of UTF-8 is counted until there is plenty (regions with broken bytes
            // always count theirs), so a long valid file costs one validation pass.
            Ok(_) if self.multibyte_chars < Self::ENOUGH_EVIDENCE && !region.is_ascii() => {
                self.multibyte_chars += region.iter().filter(|b| **b >= 0xC0).count() as u64;
            }
            Ok(_) => {}
            Err(_) => self.observe_slow(region, line, sampled_to),
        }
        self.carry_open_line(region);
    }

    /// The sample for [`guess_legacy`]: whole lines around invalid sequences, each ended by a
    /// line break (also the last line of a file that ends without one), then the start of a long
    /// line cut anywhere, if there is one.
    pub fn sample(&self) -> Cow<'_, [u8]> {
        match &self.open_line {
            Some(open) if self.open_line_sampled => {
                Cow::Owned([&self.sample, open.as_slice(), b"\n", &self.cut].concat())
            }
            _ if self.cut.is_empty() => Cow::Borrowed(&self.sample),
            _ => Cow::Owned([&self.sample, self.cut.as_slice()].concat()),
        }
    }

    fn observe_slow(&mut self, region: &[u8], line: u64, mut sampled_to: usize) {
        let mut offset = 0usize;
        for chunk in region.utf8_chunks() {
            let valid = chunk.valid();
            self.multibyte_chars += valid.bytes().filter(|b| *b >= 0xC0).count() as u64;
            offset += valid.len();
            if !chunk.invalid().is_empty() {
                self.invalid_sequences += 1;
                if self.first_invalid_line.is_none() {
                    let breaks = count_line_breaks(&region[..offset]);
                    self.first_invalid_line = Some(line + breaks);
                }
                if self.sample.len() < Self::SAMPLE_LIMIT && offset >= sampled_to {
                    sampled_to = self.sample_line(region, offset);
                }
                offset += chunk.invalid().len();
            }
        }
    }

    /// Samples the line around `at`, whole: line breaks are single bytes in every encoding a
    /// guess can name, so no character is cut there. A cut fragment would look invalid in the
    /// very encoding the file is in (a Shift_JIS pair split in two), and the guess would rule it
    /// out; a line of one word (`Петров`) cut short would leave nothing to guess from. A line
    /// that began in an earlier region is taken from its start, kept for it; one that runs past
    /// the region is taken when it ends (or the file does). A line longer than the limit is cut
    /// at a byte below `0x30` (a space, comma, tab, semicolon or quote), which no encoding here
    /// uses inside a character, or anywhere when that would leave no accent ([`Self::push_line`]).
    /// Returns the end of the line.
    fn sample_line(&mut self, region: &[u8], at: usize) -> usize {
        let Some(end) = memchr::memchr2(b'\n', b'\r', &region[at..]).map(|i| at + i) else {
            // Taken once it ends (see `observe` and `carry_open_line`).
            self.open_line_sampled = true;
            return region.len();
        };
        match memchr::memrchr2(b'\n', b'\r', &region[..at]) {
            Some(i) => self.push_line(&region[i + 1..end]),
            None if !self.mid_line => self.push_line(&region[..end]),
            None => self.push_line_end(region, end),
        }
        end
    }

    /// Samples the line that began in an earlier region and ends at `end` of this one: from its
    /// start, kept unless it was too long, else from the first byte no character holds (the
    /// region may begin inside one).
    fn push_line_end(&mut self, region: &[u8], end: usize) {
        match self.open_line.take() {
            Some(open) => self.push_line(&[&open, &region[..end]].concat()),
            None => {
                if let Some(i) = region[..end].iter().position(|b| *b < 0x30) {
                    self.push_line(&region[i + 1..end]);
                }
            }
        }
    }

    /// Adds a line to the sample, cut after a byte below `0x30` when longer than the limit. The
    /// first such line whose bytes above ASCII all come after the last byte below `0x30` (`1,"`
    /// and kanji) is kept whole up to the limit, as [`Self::cut`], instead.
    fn push_line(&mut self, line: &[u8]) {
        let line = if line.len() > Self::LINE_LIMIT {
            let head = &line[..Self::LINE_LIMIT];
            match head.iter().rposition(|b| *b < 0x30) {
                Some(i) if head[..=i].iter().any(|b| *b >= 0x80) || !self.cut.is_empty() => &head[..=i],
                _ => {
                    if self.cut.is_empty() {
                        self.cut = head.to_vec();
                    }
                    return;
                }
            }
        } else {
            line
        };
        if !line.is_empty() {
            self.sample.extend_from_slice(line);
            self.sample.push(b'\n');
        }
    }

    /// Keeps the start of the line the region ends inside, for the next region. A line to
    /// sample that grows past the limit goes into the sample at once, cut.
    fn carry_open_line(&mut self, region: &[u8]) {
        let Some(last) = region.last() else {
            return;
        };
        let (open, rest) = match memchr::memrchr2(b'\n', b'\r', region) {
            Some(i) => (Some(Vec::new()), &region[i + 1..]),
            None if self.mid_line => (self.open_line.take(), region),
            None => (Some(Vec::new()), region),
        };
        self.open_line = match open {
            Some(open) if open.len() + rest.len() <= Self::LINE_LIMIT => Some([&open, rest].concat()),
            Some(open) if self.open_line_sampled => {
                // Past the limit, so `push_line` cuts it.
                self.push_line(&[&open, &rest[..rest.len().min(Self::LINE_LIMIT + 1)]].concat());
                self.open_line_sampled = false;
                None
            }
            _ => None,
        };
        self.mid_line = !matches!(last, b'\n' | b'\r');
    }

    /// Whether the file is plain UTF-8 (possibly with a few broken bytes): no broken sequence,
    /// or at least as many valid multi-byte characters as broken sequences (a legacy file's
    /// accented letters are broken UTF-8, and two of them seldom pass for one valid character);
    /// with a UTF-8 byte order mark, a single valid character confirms it.
    pub fn is_utf8(&self, marked: bool) -> bool {
        self.invalid_sequences == 0
            || self.multibyte_chars >= self.invalid_sequences
            || (marked && self.multibyte_chars > 0)
    }
}

/// Counts line breaks (`\r\n`, `\n`, lone `\r`).
pub fn count_line_breaks(bytes: &[u8]) -> u64 {
    let lf = memchr::memchr_iter(b'\n', bytes).count() as u64;
    let cr_alone = memchr::memchr_iter(b'\r', bytes).filter(|&i| bytes.get(i + 1) != Some(&b'\n')).count() as u64;
    lf + cr_alone
}

/// The byte written in place of input that is not valid in its encoding: `0xFF` never occurs in
/// UTF-8, so the cell holding it is reported as `invalid_encoding` with its line and column, as a
/// broken byte in a UTF-8 file is. A U+FFFD would pass as text and change the value silently.
pub const MALFORMED_MARK: u8 = 0xFF;

/// Streaming conversion of any encoding to UTF-8. Input that is not valid in the encoding (a lone
/// UTF-16 surrogate, a truncated Shift_JIS pair) becomes [`MALFORMED_MARK`] and is counted, so
/// the output is UTF-8 except exactly there.
pub struct Transcoder {
    decoder: Decoder,
    /// Input sequences that were not valid in the encoding (each written as [`MALFORMED_MARK`]).
    pub replacements: u64,
    /// With [`Transcoder::keeping_utf8_lines`]: the start of a line not yet ended.
    open_line: Option<Vec<u8>>,
    /// Lines passed through as UTF-8, and the first of them (1-based, counting `\n`).
    pub utf8_lines: u64,
    /// See `utf8_lines`.
    pub first_utf8_line: Option<u64>,
    /// Lines ended so far.
    lines: u64,
    /// The line being read outgrew [`Transcoder::LONG_LINE`] and is decoded as it comes.
    long_line: bool,
}

enum Decoder {
    Web(encoding_rs::Decoder),
    /// A DOS code page: UTF-8 of each byte from 0x80.
    Dos(Vec<String>),
}

impl Transcoder {
    /// A transcoder from `encoding`, which ignores a byte order mark of that encoding.
    pub fn new(encoding: impl Into<Charset>) -> Transcoder {
        let decoder = match encoding.into() {
            Charset::Web(e) => Decoder::Web(e.new_decoder_with_bom_removal()),
            Charset::Dos(page) => Decoder::Dos(page.high.chars().map(String::from).collect()),
        };
        Transcoder {
            decoder,
            replacements: 0,
            open_line: None,
            utf8_lines: 0,
            first_utf8_line: None,
            lines: 0,
            long_line: false,
        }
    }

    /// The longest line held whole to be told UTF-8 or not: longer (a file whose lines end in a
    /// lone `\r`, as old Mac exports do, is one line here) it is decoded as it comes, so memory
    /// stays bounded.
    const LONG_LINE: usize = 1 << 20;

    /// Passes lines that are valid UTF-8 (with a character past ASCII) through as they are, for
    /// a file whose encoding was guessed single-byte: two exports joined, one of them UTF-8,
    /// would otherwise show that part as mojibake (`JosÃ©`) with no error. In a single-byte
    /// encoding such a line would be letter pairs like `Ã©` throughout, which text does not
    /// hold. Other encodings decode every line.
    pub fn keeping_utf8_lines(mut self) -> Transcoder {
        let single_byte = match self.decoder {
            Decoder::Web(ref d) => d.encoding().is_single_byte(),
            Decoder::Dos(_) => true,
        };
        if single_byte {
            self.open_line = Some(Vec::new());
        }
        self
    }

    /// Converts `input`, appending UTF-8 to `out`. `last` flushes the decoder.
    pub fn feed(&mut self, input: &[u8], last: bool, out: &mut Vec<u8>) {
        let Some(mut open) = self.open_line.take() else {
            return self.decode(input, last, out);
        };
        let mut rest = input;
        while let Some(end) = memchr::memchr(b'\n', rest) {
            let (line, after) = rest.split_at(end + 1);
            rest = after;
            self.lines += 1;
            if self.long_line {
                self.decode(line, false, out);
                self.long_line = false;
            } else if open.is_empty() {
                self.line(line, out);
            } else {
                open.extend_from_slice(line);
                self.line(&open, out);
                open.clear();
            }
        }
        if self.long_line {
            self.decode(rest, last, out);
            self.open_line = Some(open);
            return;
        }
        open.extend_from_slice(rest);
        if open.len() > Self::LONG_LINE {
            self.decode(&open, last, out);
            open.clear();
            self.long_line = !last;
        }
        if last && !open.is_empty() {
            self.lines += 1;
            self.line(&open, out);
            open.clear();
        }
        self.open_line = Some(open);
    }

    /// One whole line of a single-byte encoding: through as UTF-8, or decoded.
    fn line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        if !line.is_ascii() && std::str::from_utf8(line).is_ok() {
            self.utf8_lines += 1;
            self.first_utf8_line.get_or_insert(self.lines);
            out.extend_from_slice(line);
        } else {
            self.decode(line, false, out);
        }
    }

    fn decode(&mut self, input: &[u8], last: bool, out: &mut Vec<u8>) {
        let decoder = match &mut self.decoder {
            Decoder::Web(decoder) => decoder,
            Decoder::Dos(high) => {
                // Every byte is a character: nothing is malformed, nothing waits for more.
                out.reserve(input.len() + input.len() / 2);
                for run in input.split_inclusive(|b| *b >= 0x80) {
                    match run.split_last() {
                        Some((&b, ascii)) if b >= 0x80 => {
                            out.extend_from_slice(ascii);
                            out.extend_from_slice(high[usize::from(b - 0x80)].as_bytes());
                        }
                        _ => out.extend_from_slice(run),
                    }
                }
                return;
            }
        };
        let room =
            |decoder: &encoding_rs::Decoder, n: usize| decoder.max_utf8_buffer_length(n).unwrap_or(n * 3 + 16) + 16;
        // One buffer for the whole input and its marks: growing it again at each malformed
        // sequence zero-filled room for the rest of the input each time, which took quadratic
        // time on a file with a broken character on every line.
        let mut at = out.len();
        out.resize(at + room(decoder, input.len()), 0);
        let mut read = 0;
        loop {
            let (result, r, w) = decoder.decode_to_utf8_without_replacement(&input[read..], &mut out[at..], last);
            read += r;
            at += w;
            match result {
                encoding_rs::DecoderResult::InputEmpty => break,
                encoding_rs::DecoderResult::OutputFull => {
                    let more = room(decoder, input.len() - read);
                    out.resize(out.len() + more, 0);
                }
                encoding_rs::DecoderResult::Malformed(_, _) => {
                    self.replacements += 1;
                    if at == out.len() {
                        out.push(0);
                    }
                    out[at] = MALFORMED_MARK;
                    at += 1;
                }
            }
        }
        out.truncate(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_found_by_the_names_programs_give_them() {
        for (label, want) in [
            ("windows-1252", encoding_rs::WINDOWS_1252),
            ("mac_cyrillic", encoding_rs::X_MAC_CYRILLIC),
            (" Latin1 ", encoding_rs::WINDOWS_1252),
            ("latin-1", encoding_rs::WINDOWS_1252),
            ("ISO_8859_2", encoding_rs::ISO_8859_2),
            ("utf-8-sig", UTF_8),
            ("UTF_8", UTF_8),
            ("cp932", encoding_rs::SHIFT_JIS),
            ("mac_roman", encoding_rs::MACINTOSH),
            ("macroman", encoding_rs::MACINTOSH),
            ("cp949", encoding_rs::EUC_KR),
            ("cp950", encoding_rs::BIG5),
            ("cp1250", encoding_rs::WINDOWS_1250),
            ("utf_16_le", UTF_16LE),
            ("UTF_16_BE", UTF_16BE),
        ] {
            assert_eq!(encoding_for_label(label), Some(Charset::Web(want)), "{label:?}");
        }
        for (label, want) in
            [("cp437", &CP437), ("IBM437", &CP437), ("437", &CP437), ("cp850", &CP850), ("ibm_850", &CP850)]
        {
            assert_eq!(encoding_for_label(label), Some(Charset::Dos(want)), "{label:?}");
        }
        assert_eq!(encoding_for_label("IBM850").map(Charset::name), Some("IBM850"));
        assert_eq!(encoding_for_label("klingon"), None);
    }

    /// Text as a DOS program writes it, in code page `cp` (437 or 850).
    fn dos(text: &str, cp: &DosPage) -> Vec<u8> {
        text.chars()
            .map(|c| match c {
                c if c.is_ascii() => c as u8,
                c => 0x80 + cp.high.chars().position(|h| h == c).expect("a character of the page") as u8,
            })
            .collect()
    }

    #[test]
    fn dos_code_pages_are_recognised_and_read() {
        // German and French in 437 (no letter only 850 has), then with letters only 850 has.
        // The last with one telling letter: its byte (0x81, `ü`) is none of Windows-1252's.
        for text in [
            "id,name,city\n1,Müller,Köln\n2,Björn Größe,Zürich\n",
            "id,nom\n1,Françoise Lefèvre\n2,Hélène Bâtard\n",
            "id,name\n1,Müller\n2,Ärger\n3,Straße\n",
        ] {
            let bytes = dos(text, &CP437);
            assert_eq!(guess_legacy(&bytes), Charset::Dos(&CP437), "{text}");
            let mut out = Vec::new();
            Transcoder::new(Charset::Dos(&CP437)).feed(&bytes, true, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), text);
        }
        let text = "id,nome,cidade\n1,João Gonçalves,São Paulo\n2,Ângela Simões,Açores\n";
        let bytes = dos(text, &CP850);
        assert_eq!(guess_legacy(&bytes), Charset::Dos(&CP850), "{text}");
        let mut out = Vec::new();
        Transcoder::new(Charset::Dos(&CP850)).feed(&bytes, true, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), text);
        // Windows-1252 text stays Windows-1252.
        for text in ["id,name\n1,Müller\n2,Größe\n", "id,nom\n1,Françoise “Fanfan” Lefèvre – Paris\n"] {
            let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text);
            assert_eq!(guess_legacy(&bytes), encoding_rs::WINDOWS_1252, "{text}");
        }
    }

    #[test]
    fn nordic_dos_and_mac_text_is_read_by_its_letters_not_as_quotes_inside_words() {
        // `„` and `”` inside a word are no quotes (Finnish and Swedish in 437; the Swedish one
        // chardetng takes for Windows-1250); `›` and `‘` none either (Danish in 850).
        let cases = [
            ("id,name\r\n1,Mäkinen\r\n2,Järvinen\r\n3,Hämäläinen\r\n", Charset::Dos(&CP437)),
            ("id,name\r\n1,Göran Östlund\r\n2,Åsa Åberg\r\n3,Märta Södergren\r\n", Charset::Dos(&CP437)),
            ("id,name\r\n1,Søren Nørgaard\r\n2,Asbjørn Kjær\r\n3,Håkon Jørgensen\r\n", Charset::Dos(&CP850)),
        ];
        for (text, page) in cases {
            let Charset::Dos(cp) = page else { unreachable!() };
            assert_eq!(guess_legacy(&dos(text, cp)), page, "{text}");
        }
        // Danish in Mac OS Roman: `ø` and `æ` are Central Europe's `ż` and `ž`.
        let text = "id,name\r\n1,Jørgensen\r\n2,Nørgaard\r\n3,Kjærsti\r\n4,Bjørn Ærø\r\n".repeat(5);
        let (bytes, _, _) = encoding_rs::MACINTOSH.encode(&text);
        assert_eq!(guess_legacy(&bytes), encoding_rs::MACINTOSH);
        // Polish, Czech and Slovenian keep their encodings (Slovenian `š ž` are Mac OS Roman's
        // `ö û`).
        for text in [
            "id,name\n1,Małgorzata Żak\n2,Józef Piłsudski\n3,Łódź\n",
            "id,name\n1,Jiří Dvořák\n2,Věra Čáslavská\n",
            "id,name\n1,Janez Košir\n2,Maja Žužek\n3,Peter Pušnik\n",
        ] {
            let (bytes, _, _) = encoding_rs::WINDOWS_1250.encode(text);
            assert_eq!(guess_legacy(&bytes), encoding_rs::WINDOWS_1250, "{text}");
            // ISO-8859-2's `š` is Mac OS Roman's `π`: no letter of a Latin word.
            let (bytes, _, _) = encoding_rs::ISO_8859_2.encode(text);
            assert_ne!(guess_legacy(&bytes), encoding_rs::MACINTOSH, "{text}");
        }
    }

    #[test]
    fn byte_order_marks_are_recognised() {
        assert_eq!(sniff_bom(b"\xEF\xBB\xBFid").unwrap(), Bom { encoding: UTF_8, len: 3 });
        assert_eq!(sniff_bom(b"\xFF\xFEi\0").unwrap().encoding, UTF_16LE);
        assert_eq!(sniff_bom(b"\xFE\xFF\0i").unwrap().encoding, UTF_16BE);
        assert!(sniff_bom(b"id,name").is_none());
    }

    #[test]
    fn utf16_without_a_bom_is_recognised_by_its_zero_bytes() {
        let le: Vec<u8> = "id,name\r\n1,Zoë\r\n".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        let be: Vec<u8> = "id,name\r\n1,Zoë\r\n".encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
        assert_eq!(sniff_utf16(&le), Some(UTF_16LE));
        assert_eq!(sniff_utf16(&be), Some(UTF_16BE));
        assert_eq!(sniff_utf16(b"id,name\r\n1,Zoe\r\n"), None);
        // Mostly another script: fewer zero bytes, still one side only, and lines.
        for text in
            ["id,name\r\n1,Иван Петров\r\n2,Мария Иванова\r\n", "id,name\r\n1,山田太郎さん\r\n2,鈴木一郎くん\r\n"]
        {
            let le: Vec<u8> = text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
            let be: Vec<u8> = text.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
            assert_eq!(sniff_utf16(&le), Some(UTF_16LE), "{text}");
            assert_eq!(sniff_utf16(&be), Some(UTF_16BE), "{text}");
            // Without a line break it is no CSV.
            let one_line: Vec<u8> = "Иван Петров Мария 1 2 3 4".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
            assert_eq!(sniff_utf16(&one_line), None);
        }
        // Zeros on both sides are binary data, not text.
        let mut binary = b"id,name\r\n".to_vec();
        binary.extend((0..64u8).flat_map(|i| [0, i, 0, 0]));
        assert_eq!(sniff_utf16(&binary), None);
    }

    #[test]
    fn a_broken_sequence_weighs_as_much_as_a_valid_character_and_a_utf8_mark_more() {
        // Excel's "CSV UTF-8" cut off inside its last `€`: one valid `é`, one broken sequence.
        let mut cut = Utf8Stats::default();
        cut.observe("a,b\n1,Renée,10 ".as_bytes(), 1);
        cut.observe(b"\xE2\x82", 3);
        assert_eq!((cut.multibyte_chars, cut.invalid_sequences), (1, 1));
        assert!(cut.is_utf8(false));
        let mut two_broken = Utf8Stats::default();
        two_broken.observe(b"a,b\n1,Ren\xC3\xA9e,\xE2\x82 x \xFF\n", 1);
        two_broken.observe(b"2,\xFF\n", 3);
        assert!(!two_broken.is_utf8(false));
        assert!(two_broken.is_utf8(true), "after a UTF-8 mark one valid character is enough");
        let mut legacy = Utf8Stats::default();
        legacy.observe(b"id,name\n1,Ren\xE9e\n", 1);
        assert!(!legacy.is_utf8(true), "nothing valid: the mark was wrong");
    }

    #[test]
    fn windows_1252_is_told_from_utf8_with_a_broken_byte() {
        let mut legacy = Utf8Stats::default();
        legacy.observe(b"id,name\n1,Ren\xE9e\n2,Fran\xE7ois\n3,J\xFCrgen\n", 1);
        assert!(!legacy.is_utf8(false));
        assert_eq!(legacy.first_invalid_line, Some(2));
        assert_eq!(guess_legacy(&legacy.sample()), encoding_rs::WINDOWS_1252);

        let mut broken = Utf8Stats::default();
        broken.observe("id,name\n1,Renée\n2,François\n3,Jürgen\n4,Zoë\n".as_bytes(), 1);
        broken.observe(b"5,bad \xFF byte\n", 6);
        assert!(broken.is_utf8(false));
        assert_eq!(broken.invalid_sequences, 1);
        assert_eq!(broken.first_invalid_line, Some(6));
    }

    #[test]
    fn mac_roman_is_told_from_windows_1252() {
        let mac = |text: &str| encoding_rs::MACINTOSH.encode(text).0.into_owned();
        let windows = |text: &str| encoding_rs::WINDOWS_1252.encode(text).0.into_owned();
        // What Excel for Mac saves as "CSV (Macintosh)": Mac OS Roman, lines ended by CR.
        for text in [
            "id,nom,ville\r1,François Lefèvre,Besançon\r2,Hélène Côté,Orléans\r",
            "id,name,stadt\r1,Jürgen Müller,München\r2,Käthe Schäfer,Köln\r",
            "id,nombre\r1,José Pérez\r2,María Cádiz\r",
            "id,name\r1,Renée Dupré\r",
        ] {
            assert_eq!(guess_legacy(&mac(text)), encoding_rs::MACINTOSH, "{text}");
            assert_eq!(guess_legacy(&windows(text)).name(), "windows-1252", "{text}");
        }
        // Windows-1252 whose punctuation reads as letters in Mac OS Roman stays as it is.
        for text in [
            "id,note\r\n1,don’t stop – it’s “fine”\r\n2,Brand™ and Brand®\r\n",
            "id,price\r\n1,12 €\r\n2,7 €\r\n3,€8\r\n",
            "id,city\r\n1,MÜNCHEN\r\n2,ÉCOLE\r\n3,cœur naïve\r\n",
            "id,title\r\n1,Libro «Il nome della rosa»\r\n2,DVD «La vita è bella»\r\n3,Romanzo «I promessi sposi» di Manzoni\r\n4,Saggio «Perché leggere i classici»\r\n",
            "id,question\r\n1,¿Fuma?\r\n2,¿Bebe?\r\n3,¿Trabaja?\r\n",
            "id,size\r\n1,m² and m³\r\n2,¾ inch\r\n3,Art§5 20°C\r\n",
        ] {
            assert_ne!(guess_legacy(&windows(text)), encoding_rs::MACINTOSH, "{text}");
        }
        let central = encoding_rs::WINDOWS_1250.encode("id,name\r\n1,Śląsk «Gazeta» i «Wyborcza»\r\n2,Kraków\r\n").0;
        assert_ne!(guess_legacy(&central), encoding_rs::MACINTOSH);
        // One accent is too little to tell.
        assert_ne!(guess_legacy(&mac("id,name\r1,Renée\r")), encoding_rs::MACINTOSH);
    }

    #[test]
    fn neighbouring_single_byte_encodings_are_told_apart_by_their_words() {
        let windows = |text: &str| encoding_rs::WINDOWS_1252.encode(text).0.into_owned();
        let central = |text: &str| encoding_rs::WINDOWS_1250.encode(text).0.into_owned();
        // `£825` read as `Ł825`: the pound sign was the only accent of UK invoices.
        for text in [
            "id,text\n1,Invoice 1042 total £825.00\n2,Refund of £2.50 issued\n3,Deposit £1,200 received\n",
            "id,text\n1,£ 12\n",
            "id,text\n1,Café Müller £3.50\n2,Crème brûlée £4\n",
            "id,price\n1,¥1000\n2,½ kg for 3½\n",
        ] {
            assert_eq!(guess_legacy(&windows(text)), encoding_rs::WINDOWS_1252, "{text}");
        }
        // Polish whose ł and ą Windows-1252 reads as superscripts, or ISO-8859-2 as Czech š.
        for text in [
            "id,product,price,city\n1,masło,207.25,Poznań\n2,miód lipowy,137.51,Gorzów Wielkopolski\n",
            "id,product\n1,ręcznik kąpielowy\n",
            "id,name\n1,Żaneta Dąbrowska\n2,Łukasz Nowak\n",
        ] {
            assert_eq!(guess_legacy(&central(text)), encoding_rs::WINDOWS_1250, "{text}");
        }
        assert!(!polish_inside_words(b"12 m\xB3, 5 m\xB2"), "m³ has a letter on one side only");
        let latin2 = encoding_rs::ISO_8859_2.encode("id,name\n1,Żaneta Dąbrowska\n2,Łukasz Nowak\n").0;
        assert_eq!(guess_legacy(&latin2), encoding_rs::ISO_8859_2, "ą at 0xB1 is ISO-8859-2's own");
        // Polish stays Central European, Ł and all.
        for text in ["id,city\n1,Łódź\n2,Kraków\n3,Wrocław 100 zł\n", "id,text\n1,Łukasz Żółć £\n2,Zażółć gęślą jaźń\n"]
        {
            assert_eq!(guess_legacy(&central(text)), encoding_rs::WINDOWS_1250, "{text}");
        }
        // Hungarian: ő and ű are õ and û in Windows-1252.
        for text in [
            "id,text\n1,Kőrösi Csoma Sándor\n2,Szűcs Erzsébet\n3,Fővárosi Művelődési Ház\n",
            "id,name\n1,Szőke Péter\n2,Kovács Anna\n",
            "id,text\n1,„Első” szélvédő\n",
            "id,name\n1,Szőke Péter\n",
            "id,name\n1,Szűcs Ádám\n",
            "id,address\n1,Fő utca 12\n2,Pécs\n",
            "id,name\n1,Hegedűs Tímea\n",
            "id,name\n1,Erdős Pál\n",
            "id,name\n1,Győr\n",
            "id,name\n1,Szűcs\n",
            "id,name,street\n1,Tóth Előd,Széchenyi tér 1\n",
            "id,product\n1,női kabát\n",
            "id,name\n1,Vörös Réka,Tőserdő\n",
            "id,name\n1,Pintér Gyöngyi\n2,Bíró Lőrinc\n3,Juhász Kinga\n",
            "id,name,city\n1,Sabine Schäfer,Würzburg\n2,Szőke Péter,Győr\n3,Jürgen Weiß,Fürth\n",
        ] {
            assert_eq!(guess_legacy(&central(text)), encoding_rs::WINDOWS_1250, "{text}");
        }
        // French, Portuguese and Estonian with õ or û stay Western.
        for text in [
            "id,text\n1,15 août 2024\n2,Été\n",
            "id,text\n1,Coût élevé\n",
            "id,text\n1,Milhões de ações\n2,João\n",
            "id,text\n1,Tõnu Mägi\n",
            "id,text\n1,Crème brûlée à la carte\n",
            "id,text\n1,Sûreté\n",
            "id,text\n1,Põe\n",
            "id,name\n1,José Simões\n",
            "id,name\n1,Jüri Tõnisson\n",
            "id,name\n1,Mõisaküla\n2,Kõue\n",
            "id,name,city\n1,Rein Sõõru,Türi\n",
            "id,product,city\n1,kõrvarõngad,Kuressaare\n2,õlu,Haapsalu\n",
            "id,name\n1,Müller\n2,Sûreté\n",
            "id,name\n1,José\n2,Dûment\n3,Ramón\n",
            "id,text\n1,Je suis dû\n2,Café\n",
        ] {
            assert_eq!(guess_legacy(&windows(text)), encoding_rs::WINDOWS_1252, "{text}");
        }
        // Icelandic, Portuguese and French, whose letters read as Central European, Turkish or
        // Baltic ones.
        for text in [
            "id,name\n1,Ástþór\n",
            "id,name\n1,Guðrún Halldór\n2,Björk\n",
            "id,name\n1,Guimarães\n",
            "id,name\n1,Mãe\n",
            "id,name\n1,Paraná Simões\n",
            "id,name\n1,Hélène\n",
            "id,name\n1,Benoît Frère\n",
            "id,name\n1,Œuvre\n",
            "id,name\n1,Cœur Zoé\n",
            "id,name\n1,Théâtre Maître\n",
            "id,name\n1,Goût Île\n",
            "id,name\n1,Garçon Óðinn\n",
            "id,name\n1,Guðrún Müller\n",
            // As sampled: the lines with accents.
            "1,Þóra Kristjánsdóttir,Borgarnes\n",
            "1,Kari Strøm,Tromsø\n",
            "1,kjøttkaker,289.64,Tromsø\n",
            "1,Martín López,Málaga\n2,Íñigo Muñoz,Alcalá de Henares\n",
            "1,Andrés Álvarez,Calle Núñez de Balboa 30,Cádiz\n",
        ] {
            assert_eq!(guess_legacy(&windows(text)), encoding_rs::WINDOWS_1252, "{text}");
        }
        // Croatian, Romanian and Turkish keep their own.
        for text in [
            "id,name\n1,Đurđević\n2,Đakovo\n",
            "id,name\n1,Brăila Bacău\n2,Făgăraş\n",
            "id,name\n1,začne Kroměříž\n",
            "id,name\n1,Dvořák\n2,Kučera\n",
            "id,name\n1,Galaţi\n",
            "id,name,city\n1,Nagy Ákos,Constanţa\n",
            "id,name,city\n1,Petr Novák,Praha\n2,Ivan Đurić,Zagreb\n",
            "id,name,city\n1,Đurđa Šarić,Zagreb\n2,Jürgen Weiß,Köln\n",
            "1,klobása,\"52,39\",Liptovský Mikuláš\n2,vino,1824.00,Đurđevac\n3,kroštule,245,Đurđevac\n",
        ] {
            assert_eq!(guess_legacy(&central(text)), encoding_rs::WINDOWS_1250, "{text}");
        }
        // Turkish whose ğ, ş and ı read as Icelandic or Central European letters.
        for text in [
            "id,name\n1,Beşiktaş Doğan\n2,Işık Yılmaz\n",
            "id,name\n1,Çağlar Koçak\n2,Çorum\n",
            "id,name\n1,Ayşe Öztürk\n",
            "id,name\n1,Büşra Niğde\n",
            "id,name\n1,Koç Iğdır\n",
            "id,name\n1,Ateş\n",
            // As sampled, read as Windows-1250 letters: with `ö` or `ı`, or beside German names.
            "1,Özlem Arslan,Şişli\n",
            "1,kaşar peyniri,275.13,Diyarbakır\n",
            "1,Uğur Arslan,Kırşehir\n",
            "1,Uwe Weiß,Füssen\n2,Sabine Akbaş,Antalya\n",
            "1,yün kazak,67.31,Uşak\n2,Fußmatte,123.46,Köln\n",
        ] {
            let turkish = encoding_rs::WINDOWS_1254.encode(text).0;
            assert_eq!(guess_legacy(&turkish), encoding_rs::WINDOWS_1254, "{text}");
        }
        // Central European letters where Western languages write none of Windows-1252's, as sampled
        // (the lines with accents): `Gdañsk`, `Poznañ`, `Petriè`, `èokolada`.
        for text in [
            "1,Grzegorz Szczęsny,ul. Piotrkowska 104,Gdańsk\n",
            "1,pierogi ruskie,5.92,Poznań\n",
            "1,Tina Petrič,Koper\n",
            "1,Tibor Kováč,Banská Bystrica\n",
            "1,fritule,192.12,Poreč\n",
            "1,kulen,49.92,Varaždin\n2,čokolada,2.31,Koprivnica\n",
            "1,čokoladni piškoti,5.87,Črnomelj\n",
            "1,Łukasz Zieliński,Opole\n2,Pintér Ildikó,Szentendre\n",
        ] {
            assert_eq!(guess_legacy(&central(text)), encoding_rs::WINDOWS_1250, "{text}");
        }
        // Western words with those letters: Spanish `ñ` before vowels, `è` ending Italian and
        // Catalan words after other letters, or starting French `ère`.
        for word in [&b"Espa\xF1a Mu\xF1oz"[..], b"caff\xE8 No\xE8", b"perqu\xE8", b"\xE8re", b"Ib\xE1\xF1ez"] {
            assert!(!central_letters(word), "{}", String::from_utf8_lossy(word));
        }
        // Lithuanian and Latvian whose letters read as Western ones (`Bçrziòð`, `Ðalna`).
        for text in [
            "id,name,city\n1,Gintarė Navickienė,Marijampolė\n2,Saulius Kazlauskienė,Druskininkai\n",
            "id,name,city\n1,Dace Liepiņš,Dobele\n",
            "id,name,city\n1,Aistė Šalna,Vilnius\n",
            "id,name,street,city\n1,Giedrė Jasikevičius,Gedimino pr. 9,Kaunas\n",
            "id,name,city\n1,Gunta Rinkēvičs,Kuldīga\n",
            "id,name,city\n1,Vaira Andrejeva,Daugavpils\n2,Mārtiņš Barons,Ventspils\n",
            "id,name\n1,Anna Kļaviņa\n",
            "id,name\n1,Vaira Bērziņš,Cēsis\n",
            "id,street\n1,Vokiečių g. 2\n",
            // `ų` before `j` is no Nordic `ø` inside a word.
            "1,Naujųjų metų proga\n",
        ] {
            let baltic = encoding_rs::WINDOWS_1257.encode(text).0;
            assert_eq!(guess_legacy(&baltic), encoding_rs::WINDOWS_1257, "{text}");
        }
        // The same bytes where Western words have their letters: Albanian `ë` and `ç` after
        // consonants, Icelandic `ð` and `þ`, Italian `ì` and `ò` ending words, French and Dutch `ï`
        // after vowels, `ç` before vowels, Catalan `ò` inside words.
        for text in [
            "id,name,city\n1,Arbër Gashi,Tiranë\n2,Erëza Hoxha,Korçë\n3,Dritëro,Gjirokastër\n",
            "id,name,city\n1,Guðrún Þórðardóttir,Hafnarfjörður\n2,Sigurður,Akureyri\n",
            "id,name,city\n1,Niccolò Rossi,Forlì\n2,Perciò,Città\n",
            "id,name\n1,Anaïs Noël\n2,Loïc Garçon\n",
            "id,name\n1,ruïne België\n",
            "id,name\n1,Història de Sòller\n2,Lluïsa\n",
            "id,name\n1,Næstved Bækkelund\n",
            // From a second hunt, as sampled: Albanian `ç` after `th`, Welsh `ï` after consonants,
            // Icelandic `þ` after a vowel beside `ó`.
            "1,Gjithçka në rregull\n",
            "1,Gwenllïan Morris,Caernarfon\n",
            "1,Copïwch y dderbynneb\n",
            "1,Jón Eyþórsson,Hveragerði\n",
            "1,Ferðaþjónustan er lokuð\n",
            "1,Geir Bøe,Fjordveien 10,Lillehammer\n3,Þuríður Árnason,Bankastræti 42,Aþena\n",
        ] {
            let western = encoding_rs::WINDOWS_1252.encode(text).0;
            assert_eq!(guess_legacy(&western), encoding_rs::WINDOWS_1252, "{text}");
        }
        // Czech and Icelandic `ý` is no Turkish `ı`; Romanian `ţ` after a vowel no `ş`.
        assert!(!reads_as_turkish(b"Nov\xFD M\xFCller", b"\xFC", true, b""));
        assert!(!reads_as_turkish(b"Gala\xFEi", b"\xFC", false, b""));
        assert!(reads_as_turkish(b"Ay\xFEe", b"\xFC", true, b""));
        // KOI8-R whose bytes would read as plausible Mac OS Roman stays KOI8.
        let koi8 = encoding_rs::KOI8_R.encode("id,text\n1,Центр «Мир»\n2,Москва\n3,Иванов Пётр\n").0.into_owned();
        assert_ne!(guess_legacy(&koi8), encoding_rs::MACINTOSH);
    }

    #[test]
    fn a_lone_accent_is_not_taken_for_latin_4() {
        let windows = |text: &str| encoding_rs::WINDOWS_1252.encode(text).0.into_owned();
        for text in ["id,name\r\n1,naïve\r\n", "id,name\r\n1,Café\r\n", "id,name\r\n1,Noël\r\n"] {
            assert_eq!(guess_legacy(&windows(text)), encoding_rs::WINDOWS_1252, "{text}");
        }
        assert!(letters_in_words(b"na\xEFve", encoding_rs::WINDOWS_1252));
        assert!(!letters_in_words(b"Ren\x8Ee", encoding_rs::WINDOWS_1252), "RenŽe: a capital inside a word");
        assert!(!letters_in_words(b"m\xB2", encoding_rs::WINDOWS_1252), "m²: not a letter");
    }

    #[test]
    fn latin_9_and_windows_1255_are_told_from_their_neighbours() {
        let latin9 = |text: &str| encoding_rs::ISO_8859_15.encode(text).0.into_owned();
        for text in [
            "id,price\r\n1,12 €\r\n2,Zoë\r\n",
            "id,name,notes\r\n1,François Müller,-0.01 €\r\n2,Ñuñez,€ sign and œ and ß\r\n",
        ] {
            assert_eq!(guess_legacy(&latin9(text)), encoding_rs::ISO_8859_15, "{text}");
        }
        let windows = |text: &str| encoding_rs::WINDOWS_1252.encode(text).0.into_owned();
        for text in [
            "id,note\r\n1,I don´t know where Renée and Zoë went\r\n2,the café was closed\r\n",
            "id,qty\r\n1,1½ cups\r\n2,Café\r\n",
            "id,p\r\n1,€ 5 ½\r\n",
        ] {
            assert_eq!(guess_legacy(&windows(text)), encoding_rs::WINDOWS_1252, "{text}");
        }
        let hebrew = encoding_rs::WINDOWS_1255.encode("id,name,price\r\n1,שלום עולם,₪100\r\n2,ירושלים,₪5\r\n").0;
        assert_eq!(guess_legacy(&hebrew), encoding_rs::WINDOWS_1255);
    }

    #[test]
    fn double_byte_encodings_are_guessed_from_whole_lines() {
        // Every other byte is invalid UTF-8 here: samples cut around each one would split pairs
        // and rule the right encoding out.
        let cases: [(&str, &'static Encoding); 5] = [
            ("山田太郎,東京\n佐藤花子,大阪\n鈴木一郎,名古屋\n高橋,札幌\n", encoding_rs::SHIFT_JIS),
            ("山田太郎,東京\n佐藤花子,大阪\n鈴木一郎,名古屋\n高橋,札幌\n", encoding_rs::EUC_JP),
            ("张伟,北京\n王芳,上海\n李娜,广州\n刘洋,深圳\n", encoding_rs::GBK),
            ("陳小明,台北\n林美玲,高雄\n黃志強,台中\n張,新竹\n", encoding_rs::BIG5),
            ("김민준,서울\n이서연,부산\n박지훈,대구\n최,인천\n", encoding_rs::EUC_KR),
        ];
        for (text, encoding) in cases {
            let mut bytes = b"id,name,city\n".to_vec();
            for (i, line) in text.repeat(3).lines().enumerate() {
                bytes.extend_from_slice(format!("{},", i + 1).as_bytes());
                bytes.extend_from_slice(&encoding.encode(line).0);
                bytes.push(b'\n');
            }
            let mut stats = Utf8Stats::default();
            stats.observe(&bytes, 1);
            assert!(!stats.is_utf8(false), "{}", encoding.name());
            assert_eq!(guess_legacy(&stats.sample()), encoding, "{}", encoding.name());
        }
    }

    #[test]
    fn lines_cut_by_region_edges_are_sampled_from_and_to_whole_characters() {
        // Regions are cut anywhere: here at every byte, inside characters too.
        let text = "1,陳小明,台北\n2,林美玲,高雄\n3,黃志強,台中\n4,張,新竹\n".repeat(3);
        let bytes = encoding_rs::BIG5.encode(&text).0.into_owned();
        for cut in 1..bytes.len() {
            let mut stats = Utf8Stats::default();
            stats.observe(&bytes[..cut], 1);
            stats.observe(&bytes[cut..], 1);
            assert_eq!(guess_legacy(&stats.sample()), encoding_rs::BIG5, "cut at {cut}");
        }
    }

    #[test]
    fn a_line_cut_by_a_region_edge_is_sampled_whole() {
        // One Cyrillic word, the file's only text: the splitter cuts its blocks before a
        // character that may continue, so the word straddles two regions (it was sampled as
        // `1,"`, and the file read as Windows-1252: `Ïåòðîâ`).
        let bytes = encoding_rs::WINDOWS_1251.encode("id,text\n1,\"Петров\"\n").0.into_owned();
        for cut in 0..=bytes.len() {
            let mut stats = Utf8Stats::default();
            stats.observe(&bytes[..cut], 1);
            stats.observe(&bytes[cut..], 1);
            assert_eq!(stats.sample().as_ref(), &bytes[8..], "cut at {cut}");
            assert_eq!(guess_legacy(&stats.sample()), encoding_rs::WINDOWS_1251, "cut at {cut}");
        }
        // A last line without a line break, cut into three regions.
        let bytes = encoding_rs::WINDOWS_1251.encode("id,text\n1,Петров Иван").0.into_owned();
        for cut in 8..bytes.len() {
            let mut stats = Utf8Stats::default();
            stats.observe(&bytes[..cut], 1);
            stats.observe(&bytes[cut..cut + (bytes.len() - cut) / 2], 1);
            stats.observe(&bytes[cut + (bytes.len() - cut) / 2..], 1);
            assert_eq!(stats.sample().as_ref(), [&bytes[8..], b"\n"].concat(), "cut at {cut}");
        }
        // A line longer than the limit across regions is sampled cut after a byte below 0x30.
        let line = encoding_rs::WINDOWS_1251.encode(&"Петров Иван, ".repeat(500)).0.into_owned();
        let mut stats = Utf8Stats::default();
        for part in line.chunks(1000) {
            stats.observe(part, 1);
        }
        stats.observe(b"\n", 1);
        let sample = stats.sample();
        assert!(sample.len() <= 4097 && sample.len() > 3000, "{}", sample.len());
        assert_eq!(&sample[sample.len() - 2..], b" \n");
        assert_eq!(guess_legacy(&sample), encoding_rs::WINDOWS_1251);
    }

    #[test]
    fn a_first_line_of_legacy_text_is_sampled_from_its_start() {
        // The header itself in Shift_JIS, and a file of one such column.
        for text in ["名前,ID\n佐藤花子,1\n鈴木一郎,2\n高橋,3\n", "名前\n佐藤花子\n鈴木一郎\n高橋\n山田太郎\n"]
        {
            let bytes = encoding_rs::SHIFT_JIS.encode(text).0.into_owned();
            let mut stats = Utf8Stats::default();
            stats.observe(&bytes, 1);
            assert!(stats.sample().starts_with(&bytes[..4]), "{text:?}");
            assert_eq!(guess_legacy(&stats.sample()), encoding_rs::SHIFT_JIS, "{text:?}");
        }
    }

    #[test]
    fn a_long_line_is_sampled_up_to_an_ascii_byte() {
        let mut stats = Utf8Stats::default();
        let line = "山田太郎,東京,佐藤花子,大阪,鈴木一郎,名古屋,".repeat(200);
        let bytes = encoding_rs::SHIFT_JIS.encode(&line).0.into_owned();
        stats.observe(&bytes, 1);
        assert!(stats.sample().len() <= 4097);
        let sample = stats.sample();
        assert_eq!(sample[sample.len() - 2], b',');
        assert_eq!(guess_legacy(&stats.sample()), encoding_rs::SHIFT_JIS);
    }

    #[test]
    fn a_long_field_without_a_space_is_sampled_cut_anywhere() {
        // A 300 KB quoted field of kanji with no byte to cut it at left only `7,"` in the
        // sample, and the file was read as Windows-1252. (Korean and Cyrillic text has spaces.)
        for (encoding, text) in [
            (encoding_rs::SHIFT_JIS, "山田太郎佐藤花子日本語テキスト"),
            (encoding_rs::GBK, "张伟王芳李娜刘洋陈静"),
            (encoding_rs::BIG5, "張偉王芳李娜劉洋陳靜"),
        ] {
            let line = format!("id,name\n7,\"{}\",1\n8,Ann,2\n", text.repeat(2000));
            let bytes = encoding.encode(&line).0.into_owned();
            for region in [4096, 65536, bytes.len()] {
                let mut stats = Utf8Stats::default();
                let mut line_no = 1;
                for part in bytes.chunks(region) {
                    stats.observe(part, line_no);
                    line_no += count_line_breaks(part);
                }
                let sample = stats.sample();
                assert!(sample.len() <= 4096 + 16, "{} {region} {}", sample.len(), encoding.name());
                assert_eq!(guess_legacy(&sample), encoding, "{} in regions of {region}", encoding.name());
            }
        }
        // Only the first such line is kept; later ones are cut at their last byte below 0x30.
        let mut stats = Utf8Stats::default();
        let line = format!("\"{}\"\n", "ИвановПетров".repeat(500));
        let bytes = encoding_rs::WINDOWS_1251.encode(&line.repeat(3)).0.into_owned();
        stats.observe(&bytes, 1);
        assert_eq!(stats.sample().len(), 2 + 2 + 4096, "two lines of `\"` and a line break, then the cut");
    }

    #[test]
    fn transcoding_keeps_line_structure_and_counts_replacements() {
        let mut t = Transcoder::new(encoding_rs::WINDOWS_1252);
        let mut out = Vec::new();
        t.feed(b"a,Ren\xE9e\r\n", false, &mut out);
        t.feed(b"b,\x80\n", true, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "a,Renée\r\nb,€\n");
        assert_eq!(t.replacements, 0);

        let mut t = Transcoder::new(UTF_16LE);
        let mut out = Vec::new();
        let bytes: Vec<u8> = "x,ÿ\n".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        // Split inside a code unit: the decoder carries the half over.
        t.feed(&bytes[..3], false, &mut out);
        t.feed(&bytes[3..], true, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "x,ÿ\n");

        // A lone surrogate is marked with a byte that is never UTF-8, not silently replaced.
        let mut t = Transcoder::new(UTF_16LE);
        let mut out = Vec::new();
        t.feed(b"a\0,\0\x00\xD8b\0\n\0", true, &mut out);
        assert_eq!(out, b"a,\xFFb\n");
        assert_eq!(t.replacements, 1);
    }

    #[test]
    fn lines_that_are_utf8_pass_through_a_single_byte_encoding_when_asked() {
        let input = b"id,name\n1,Ren\xE9e\n2,Jos\xC3\xA9\r\n3,Zo\xEB\n4,Andr\xC3\xA9";
        for block in [1, 2, 5, 64] {
            let mut t = Transcoder::new(encoding_rs::WINDOWS_1252).keeping_utf8_lines();
            let mut out = Vec::new();
            let pieces: Vec<&[u8]> = input.chunks(block).collect();
            for (i, piece) in pieces.iter().enumerate() {
                t.feed(piece, i + 1 == pieces.len(), &mut out);
            }
            assert_eq!(String::from_utf8(out).unwrap(), "id,name\n1,Renée\n2,José\r\n3,Zoë\n4,André", "block {block}");
            assert_eq!((t.utf8_lines, t.first_utf8_line), (2, Some(3)), "block {block}");
        }
        // Without asking, and for an encoding of several bytes, every line is decoded.
        let mut out = Vec::new();
        Transcoder::new(encoding_rs::WINDOWS_1252).feed(input, true, &mut out);
        assert!(String::from_utf8(out).unwrap().contains("JosÃ©"));
        let mut t = Transcoder::new(encoding_rs::SHIFT_JIS).keeping_utf8_lines();
        let mut out = Vec::new();
        t.feed("a,é\n".as_bytes(), true, &mut out);
        assert_eq!(t.utf8_lines, 0);
        // A line longer than a megabyte (lines ending in a lone CR) is decoded as it comes.
        let mut t = Transcoder::new(encoding_rs::WINDOWS_1252).keeping_utf8_lines();
        let mut out = Vec::new();
        let long = b"Ren\xE9e\r".repeat(200_000);
        for piece in long.chunks(64 * 1024) {
            t.feed(piece, false, &mut out);
            assert!(t.open_line.as_ref().is_some_and(|l| l.len() <= Transcoder::LONG_LINE + 64 * 1024));
        }
        t.feed(b"\nJos\xC3\xA9\n", true, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.len(), 200_000 * 7 + 1 + 6);
        assert!(text.starts_with("Renée\r") && text.ends_with("\nJosé\n"));
        assert_eq!((t.utf8_lines, t.first_utf8_line), (1, Some(2)));
    }

    #[test]
    fn line_breaks_count_crlf_lf_and_lone_cr_once_each() {
        assert_eq!(count_line_breaks(b"a\r\nb\nc\rd"), 3);
    }
}
