//! JSON text written fast: the buffer rows are written into, and string escaping.
//!
//! A row of the benchmark file is about thirty small pieces (keys, numbers, short strings).
//! Appending each with `String::push_str` costs a call to `memcpy` per piece, which was more
//! than the bytes themselves. [`JsonOut`] keeps zeroed room past its end, so pieces of a known
//! small size (keys, digits, dates) are copied as one fixed-size block and the cursor moves by
//! their real length; only text from the input is copied by length.

use std::fmt;

/// Room kept past the written bytes, for fixed-size block copies.
const SLACK: usize = 64;

/// Bytes zeroed at a time as the buffer fills.
const ZERO_STEP: usize = 64 * 1024;

/// Longest text a [`Snippet`] copies as one block.
const SNIPPET: usize = 32;

/// Growable JSON output. Everything written comes from `str` or is ASCII, so the bytes are
/// always UTF-8. Safe code cannot write into a `Vec`'s spare capacity, so the room past the
/// cursor is kept zeroed (a step at a time) and written as ordinary bytes.
#[derive(Clone, Default)]
pub struct JsonOut {
    /// Zeroed bytes; `buf[..len]` is written, the rest is scratch.
    buf: Vec<u8>,
    len: usize,
}

impl fmt::Debug for JsonOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl JsonOut {
    /// An empty buffer.
    pub fn new() -> JsonOut {
        JsonOut::default()
    }

    /// An empty buffer with room for `bytes`.
    pub fn with_capacity(bytes: usize) -> JsonOut {
        JsonOut { buf: Vec::with_capacity(bytes + SLACK), len: 0 }
    }

    /// Bytes written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes written.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The text written.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("JsonOut is only written from str and ASCII")
    }

    /// The bytes written, without the scratch room.
    pub fn into_bytes(mut self) -> Vec<u8> {
        self.buf.truncate(self.len);
        self.buf
    }

    /// At least `n` writable bytes at the cursor.
    #[inline(always)]
    fn room(&mut self, n: usize) -> &mut [u8] {
        if self.buf.len() - self.len < n {
            self.grow(n);
        }
        &mut self.buf[self.len..]
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, n: usize) {
        // Zeroed a step at a time, just ahead of the writes (the capacity grows as a `Vec`'s).
        let want = (self.len + n + SLACK).max(self.buf.len() + ZERO_STEP);
        self.buf.resize(want, 0);
    }

    /// Copies all of `block` and keeps its first `len` bytes, which must end on a character
    /// boundary of text (the rest is scratch, overwritten by what comes next).
    #[inline(always)]
    fn push_block<const N: usize>(&mut self, block: &[u8; N], len: usize) {
        debug_assert!(len <= N);
        self.room(N)[..N].copy_from_slice(block);
        self.len += len;
    }

    /// Appends one ASCII byte.
    #[inline(always)]
    pub fn push_ascii(&mut self, b: u8) {
        debug_assert!(b.is_ascii());
        self.room(1)[0] = b;
        self.len += 1;
    }

    /// Appends text as it is (no quoting, no escaping).
    #[inline]
    pub fn push_str(&mut self, s: &str) {
        let n = s.len();
        self.room(n)[..n].copy_from_slice(s.as_bytes());
        self.len += n;
    }

    /// Appends a snippet of constant text.
    #[inline(always)]
    pub fn push_snippet(&mut self, s: &Snippet) {
        match s.block.as_ref() {
            Some(block) => self.push_block(block, s.text.len()),
            None => self.push_str(&s.text),
        }
    }

    /// Appends an unsigned integer in decimal.
    #[inline]
    pub fn push_u64(&mut self, v: u64) {
        let n = decimal_digits(v);
        let dst: &mut [u8; 20] = (&mut self.room(20)[..20]).try_into().expect("20 bytes");
        write_digits(dst, n, v);
        self.len += n;
    }

    /// Appends a signed integer in decimal.
    #[inline]
    pub fn push_i64(&mut self, v: i64) {
        if v < 0 {
            self.push_ascii(b'-');
        }
        self.push_u64(v.unsigned_abs());
    }

    /// Appends a JSON string literal (quoted, escaped).
    #[inline]
    pub fn push_json_str(&mut self, s: &str) {
        let n = s.len();
        if is_clean(s.as_bytes()) {
            let room = self.room(n + 2);
            room[0] = b'"';
            room[1..=n].copy_from_slice(s.as_bytes());
            room[n + 1] = b'"';
            self.len += n + 2;
            return;
        }
        self.push_ascii(b'"');
        escaped_pieces(s, |piece| self.push_str(piece));
        self.push_ascii(b'"');
    }

    /// Appends a 10-byte ASCII date (`YYYY-MM-DD`) in quotes.
    #[inline]
    pub(crate) fn push_quoted_date(&mut self, digits: &[u8; 10]) {
        let mut block = [b'"'; 12];
        block[1..11].copy_from_slice(digits);
        self.push_block(&block, 12);
    }

    /// Inserts `b` before the last `from_end` bytes written (a decimal point into digits).
    pub(crate) fn insert_ascii(&mut self, from_end: usize, b: u8) {
        debug_assert!(b.is_ascii() && from_end <= self.len);
        self.room(1);
        let at = self.len - from_end;
        for i in (at..self.len).rev() {
            self.buf[i + 1] = self.buf[i];
        }
        self.buf[at] = b;
        self.len += 1;
    }

    /// Overwrites the ASCII byte at `at` (already written) with another ASCII byte.
    #[inline]
    pub(crate) fn replace_ascii(&mut self, at: usize, b: u8) {
        debug_assert!(at < self.len && self.buf[at].is_ascii() && b.is_ascii());
        self.buf[at] = b;
    }
}

impl fmt::Write for JsonOut {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

/// Constant text (a key and its punctuation) kept ready to copy as one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    text: Box<str>,
    /// The text padded with zeros, when it fits.
    block: Option<[u8; SNIPPET]>,
}

impl Snippet {
    /// A snippet of `text`.
    pub fn new(text: impl Into<Box<str>>) -> Snippet {
        let text: Box<str> = text.into();
        let block = (text.len() <= SNIPPET).then(|| {
            let mut block = [0; SNIPPET];
            block[..text.len()].copy_from_slice(text.as_bytes());
            block
        });
        Snippet { text, block }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Number of decimal digits of `v` (1 for 0).
#[inline]
pub(crate) fn decimal_digits(v: u64) -> usize {
    v.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// "00" to "99".
static PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Writes the `n` digits of `v` into `dst[..n]`.
#[inline]
fn write_digits(dst: &mut [u8; 20], n: usize, mut v: u64) {
    let mut i = n;
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        dst[i] = PAIRS[pair];
        dst[i + 1] = PAIRS[pair + 1];
    }
    if v >= 10 {
        let pair = v as usize * 2;
        dst[i - 2] = PAIRS[pair];
        dst[i - 1] = PAIRS[pair + 1];
    } else {
        dst[i - 1] = b'0' + v as u8;
    }
}

/// Bytes JSON strings must escape: control characters, `"` and `\`.
#[inline]
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// One high bit per byte of `w` that JSON must escape (below 0x20, `"` or `\`), by the
/// classic "has zero byte" and "has byte less than" tests. The lowest set bit is exact; bits
/// above it may be false (a borrow runs on from a matching byte).
#[inline(always)]
fn special_bytes(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    control | zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\')))
}

/// Length of the longest prefix of `bytes` that needs no escaping, eight bytes at a time.
#[inline]
fn clean_prefix(bytes: &[u8]) -> usize {
    let mut words = bytes.chunks_exact(8);
    let mut i = 0;
    for word in &mut words {
        let mask = special_bytes(u64::from_le_bytes(word.try_into().expect("8 bytes")));
        if mask != 0 {
            return i + mask.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    let tail = words.remainder();
    i + tail.iter().position(|&b| needs_escape(b)).unwrap_or(tail.len())
}

/// Whether no byte of `bytes` needs escaping. Whole words, the last one overlapping the one
/// before, so there is no loop over the last few bytes (whose varying count costs a
/// mispredicted branch per string).
#[inline]
fn is_clean(bytes: &[u8]) -> bool {
    let n = bytes.len();
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
    let half = |b: &[u8]| u64::from(u32::from_le_bytes(b.try_into().expect("4 bytes")));
    if n >= 8 {
        let mut found = special_bytes(word(&bytes[n - 8..]));
        let mut i = 0;
        while i < n - 8 {
            found |= special_bytes(word(&bytes[i..i + 8]));
            i += 8;
        }
        found == 0
    } else if n >= 4 {
        special_bytes(half(&bytes[..4]) | half(&bytes[n - 4..]) << 32) == 0
    } else {
        n == 0 || !(needs_escape(bytes[0]) || needs_escape(bytes[n / 2]) || needs_escape(bytes[n - 1]))
    }
}

/// `\u0000` to `\u001f`.
static CONTROL: &str = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    const BYTES: [u8; 192] = {
        let mut out = [0; 192];
        let mut b = 0;
        while b < 32 {
            let at = b * 6;
            out[at] = b'\\';
            out[at + 1] = b'u';
            out[at + 2] = b'0';
            out[at + 3] = b'0';
            out[at + 4] = HEX[b >> 4];
            out[at + 5] = HEX[b & 15];
            b += 1;
        }
        out
    };
    match std::str::from_utf8(&BYTES) {
        Ok(s) => s,
        Err(_) => panic!("the escapes are ASCII"),
    }
};

/// The escape of a byte that [`needs_escape`].
fn escape(b: u8) -> &'static str {
    match b {
        b'"' => "\\\"",
        b'\\' => "\\\\",
        b'\n' => "\\n",
        b'\r' => "\\r",
        b'\t' => "\\t",
        _ => &CONTROL[usize::from(b) * 6..][..6],
    }
}

/// Hands `emit` the content of `s` as a JSON string, in pieces: runs that need no escaping and
/// the escapes between them.
#[inline]
pub fn escaped_pieces(s: &str, mut emit: impl FnMut(&str)) {
    let mut rest = s;
    loop {
        let clean = clean_prefix(rest.as_bytes());
        emit(&rest[..clean]);
        let Some(&b) = rest.as_bytes().get(clean) else { return };
        emit(escape(b));
        rest = &rest[clean + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(s: &str) -> String {
        serde_json::to_string(s).expect("a string serializes")
    }

    /// Deterministic pseudo-random strings over an alphabet heavy in what needs escaping.
    fn strings() -> Vec<String> {
        let alphabet = ['a', 'Z', ' ', '"', '\\', '\n', '\r', '\t', '\u{1}', '\u{1f}', 'é', '€', '😀', '/', '\u{7f}'];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut out = vec![String::new()];
        for len in 0..200 {
            for _ in 0..20 {
                let s: String = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        // Mostly plain letters, so clean runs of every length occur.
                        if state.is_multiple_of(4) { alphabet[(state >> 8) as usize % alphabet.len()] } else { 'q' }
                    })
                    .collect();
                out.push(s);
            }
        }
        out
    }

    #[test]
    fn strings_escape_as_serde_json_does() {
        for s in strings() {
            let mut out = JsonOut::new();
            out.push_json_str(&s);
            assert_eq!(out.as_str(), reference(&s), "{s:?}");
        }
    }

    #[test]
    fn clean_prefix_stops_at_the_first_byte_to_escape() {
        for s in strings() {
            let expected = s.bytes().position(needs_escape).unwrap_or(s.len());
            assert_eq!(clean_prefix(s.as_bytes()), expected, "{s:?}");
        }
        // Bytes next to the tested values in each word (0x1f/0x20, 0x21/0x22/0x23, 0x5b/0x5c/0x5d)
        // and high bytes, in every position of a word.
        for b in 0..=255u8 {
            for pos in 0..16 {
                let mut bytes = vec![b'a'; 16];
                bytes[pos] = b;
                let expected = if needs_escape(b) { pos } else { 16 };
                assert_eq!(clean_prefix(&bytes), expected, "byte {b:#x} at {pos}");
            }
        }
    }

    #[test]
    fn is_clean_agrees_with_a_byte_loop() {
        for s in strings() {
            assert_eq!(is_clean(s.as_bytes()), !s.bytes().any(needs_escape), "{s:?}");
        }
        for b in 0..=255u8 {
            for len in 1..20 {
                for pos in 0..len {
                    let mut bytes = vec![b'a'; len];
                    bytes[pos] = b;
                    assert_eq!(is_clean(&bytes), !needs_escape(b), "byte {b:#x} at {pos} of {len}");
                }
            }
        }
    }

    #[test]
    fn integers_match_std() {
        let mut values = vec![0u64, 1, 9, 10, 99, 100, 101, 999, 1000, u64::MAX, u64::MAX - 1];
        for d in 1..20 {
            let p = 10u64.pow(d);
            values.extend([p - 1, p, p + 1]);
        }
        let mut state = 88172645463325252u64;
        for _ in 0..10_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            values.push(state >> (state % 64));
        }
        for v in values {
            let mut out = JsonOut::new();
            out.push_u64(v);
            out.push_ascii(b',');
            out.push_i64(v as i64);
            assert_eq!(out.as_str(), format!("{v},{}", v as i64));
        }
        let mut out = JsonOut::new();
        out.push_i64(i64::MIN);
        assert_eq!(out.as_str(), i64::MIN.to_string());
    }

    #[test]
    fn growth_keeps_what_was_written() {
        let mut out = JsonOut::with_capacity(3);
        let mut expected = String::new();
        for i in 0..5000u64 {
            let key = Snippet::new(format!(",\"k{i}\":"));
            out.push_snippet(&key);
            out.push_u64(i);
            out.push_json_str("x\"y");
            expected.push_str(&format!(",\"k{i}\":{i}\"x\\\"y\""));
        }
        let long = Snippet::new("l".repeat(100));
        out.push_snippet(&long);
        expected.push_str(&"l".repeat(100));
        assert_eq!(out.as_str(), expected);
        assert_eq!(out.len(), expected.len());
        assert_eq!(out.into_bytes(), expected.into_bytes());
    }

    #[test]
    fn insert_and_replace_edit_written_bytes() {
        let mut out = JsonOut::new();
        out.push_u64(12345);
        out.insert_ascii(2, b'.');
        assert_eq!(out.as_str(), "123.45");
        out.replace_ascii(0, b'9');
        assert_eq!(out.as_str(), "923.45");
    }
}
