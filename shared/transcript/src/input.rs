//! Bytes to text, lines, and the warnings collected on the way.
use std::borrow::Cow;

use crate::model::{Warning, WarningKind};

/// A warning before segments have ids: `cue` is the index of the draft it concerns.
#[derive(Debug, Clone)]
pub(crate) struct Note {
    pub kind: WarningKind,
    pub line: Option<u32>,
    pub cue: Option<usize>,
    pub message: String,
}

#[derive(Debug, Default)]
pub(crate) struct Diag {
    pub notes: Vec<Note>,
}

impl Diag {
    pub fn warn(&mut self, kind: WarningKind, line: Option<u32>, message: impl Into<String>) {
        self.notes.push(Note {
            kind,
            line,
            cue: None,
            message: message.into(),
        });
    }

    pub fn warn_cue(
        &mut self,
        kind: WarningKind,
        line: Option<u32>,
        cue: usize,
        message: impl Into<String>,
    ) {
        self.notes.push(Note {
            kind,
            line,
            cue: Some(cue),
            message: message.into(),
        });
    }

    pub fn into_warnings(self, id_of: impl Fn(usize) -> Option<String>) -> Vec<Warning> {
        self.notes
            .into_iter()
            .map(|n| Warning {
                kind: n.kind,
                line: n.line,
                segment: n.cue.and_then(&id_of),
                message: n.message,
            })
            .collect()
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Decodes the bytes: UTF-8 (a BOM is removed), or UTF-16 with a BOM (converted, with a
/// warning). Invalid UTF-8 is replaced with U+FFFD (with a warning), and so is NUL, as the
/// WebVTT parser's preprocessing does.
pub(crate) fn decode<'a>(bytes: &'a [u8], diag: &mut Diag) -> Cow<'a, str> {
    let text: Cow<'a, str> = if let Some(rest) = bytes.strip_prefix(UTF8_BOM) {
        utf8(rest, diag)
    } else if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        diag.warn(
            WarningKind::Transcoded,
            None,
            "the file is UTF-16 (little endian); converted to UTF-8",
        );
        Cow::Owned(utf16(rest, u16::from_le_bytes))
    } else if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        diag.warn(
            WarningKind::Transcoded,
            None,
            "the file is UTF-16 (big endian); converted to UTF-8",
        );
        Cow::Owned(utf16(rest, u16::from_be_bytes))
    } else {
        utf8(bytes, diag)
    };
    if memchr::memchr(0, text.as_bytes()).is_some() {
        Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        text
    }
}

fn utf8<'a>(bytes: &'a [u8], diag: &mut Diag) -> Cow<'a, str> {
    // SIMD validation first (several times std's on large files); std's again only to locate
    // the first bad byte.
    if let Ok(s) = simdutf8::basic::from_utf8(bytes) {
        return Cow::Borrowed(s);
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(e) => {
            let line = line_at(bytes, e.valid_up_to());
            diag.warn(
                WarningKind::InvalidUtf8,
                Some(line),
                format!(
                    "bytes that are not UTF-8 (first at byte {}); replaced with U+FFFD",
                    e.valid_up_to()
                ),
            );
            String::from_utf8_lossy(bytes)
        }
    }
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> String {
    let units = bytes.chunks_exact(2).map(|c| unit([c[0], c[1]]));
    let mut s: String = char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    if bytes.len() % 2 == 1 {
        s.push(char::REPLACEMENT_CHARACTER);
    }
    s.strip_prefix('\u{FEFF}').map(str::to_owned).unwrap_or(s)
}

/// The 1-based line of a byte offset (CR, LF and CRLF each end a line).
pub(crate) fn line_at(bytes: &[u8], offset: usize) -> u32 {
    let head = &bytes[..offset.min(bytes.len())];
    let lf = memchr::memchr_iter(b'\n', head).count();
    let lone_cr = memchr::memchr_iter(b'\r', head)
        .filter(|&i| head.get(i + 1) != Some(&b'\n'))
        .count();
    u32::try_from(lf + lone_cr + 1).unwrap_or(u32::MAX)
}

/// Splits on LF, CR and CRLF. A final line terminator does not start an extra line, so
/// `"a\n"` is one line and `"a\n\n"` is two (the second empty). Line `i` is line `i + 1` in
/// messages.
pub(crate) fn split_lines(s: &str) -> Vec<&str> {
    let bytes = s.as_bytes();
    let mut lines = Vec::with_capacity(bytes.len() / 24 + 1);
    let mut start = 0;
    while start < bytes.len() {
        match memchr::memchr2(b'\n', b'\r', &bytes[start..]) {
            Some(off) => {
                let end = start + off;
                lines.push(&s[start..end]);
                start = if bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n') {
                    end + 2
                } else {
                    end + 1
                };
            }
            None => {
                lines.push(&s[start..]);
                break;
            }
        }
    }
    lines
}

/// A line of [`split_marked`]: its text, whether it holds `-->` (a cue timing arrow), and
/// whether its whitespace is regular: no tab, vertical tab or form feed, no two spaces in a
/// row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line<'a> {
    pub text: &'a str,
    pub arrow: bool,
    pub regular: bool,
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Eight bytes from `s[i..]` (`i + 8 <= s.len()`), first byte lowest.
#[inline(always)]
pub(crate) fn word(s: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[i..i + 8]);
    u64::from_le_bytes(w)
}

/// High bit set in each byte of `v` that is zero. Exact up to the lowest set bit (a borrow can
/// flag bytes above a zero byte), so only `trailing_zeros` of the result is to be trusted.
#[inline(always)]
pub(crate) fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(LO) & !v & HI
}

/// Like [`zero_bytes`], for bytes of `v` below `n` (`n <= 128`).
#[inline(always)]
pub(crate) fn bytes_below(v: u64, n: u8) -> u64 {
    v.wrapping_sub(LO * u64::from(n)) & !v & HI
}

/// `b` repeated in each byte.
#[inline(always)]
pub(crate) const fn splat(b: u8) -> u64 {
    LO * b as u64
}

/// The first index `>= i` of a byte below `' '` or of `>` in `s`, or `s.len()`.
#[inline]
fn find_line_mark(s: &[u8], mut i: usize) -> usize {
    while i + 8 <= s.len() {
        let w = word(s, i);
        let m = bytes_below(w, b' ') | zero_bytes(w ^ splat(b'>'));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < s.len() && s[i] >= b' ' && s[i] != b'>' {
        i += 1;
    }
    i
}

/// Like [`bytes_below`], exact in every byte.
#[inline(always)]
fn below_exact(v: u64, n: u8) -> u64 {
    // Seven-bit bytes plus `0x80 - n` carry into their high bit when they are at least `n`,
    // and never into the next byte.
    !(((v & !HI).wrapping_add(splat(0x80 - n))) | v) & HI
}

/// Like [`zero_bytes`], exact in every byte.
#[inline(always)]
fn zero_exact(v: u64) -> u64 {
    !(((v & !HI).wrapping_add(!HI)) | v) & HI
}

/// The end, arrow and whitespace of the line from `start`, as [`LineReader::line_at`] finds
/// them, for lines read into a table: a word with marks (bytes below `' '`, `>`) is gone
/// through mark by mark without starting over at each (lines of tags have many `>`).
fn scan_line(s: &[u8], start: usize) -> (usize, bool, bool) {
    let mut arrow = false;
    let mut whitespace = false;
    // Whether the mark at `k` ends the line; notes the others.
    let mut look = |k: usize| match s[k] {
        b'\n' | b'\r' => true,
        b'>' => {
            arrow |= k >= start + 2 && &s[k - 2..k] == b"--";
            false
        }
        b'\t' | b'\x0B' | b'\x0C' => {
            whitespace = true;
            false
        }
        _ => false,
    };
    let mut i = start;
    let end = 'end: {
        while i + 8 <= s.len() {
            let w = word(s, i);
            // Nonzero when the word has a mark (the lowest flag is exact).
            if bytes_below(w, b' ') | zero_bytes(w ^ splat(b'>')) != 0 {
                let mut m = below_exact(w, b' ') | zero_exact(w ^ splat(b'>'));
                while m != 0 {
                    let k = i + (m.trailing_zeros() / 8) as usize;
                    if look(k) {
                        break 'end k;
                    }
                    m &= m - 1;
                }
            }
            i += 8;
        }
        while i < s.len() {
            if (s[i] < b' ' || s[i] == b'>') && look(i) {
                break 'end i;
            }
            i += 1;
        }
        s.len()
    };
    (end, arrow, whitespace)
}

/// Finds two spaces in a row. `memmem` gives up its SIMD prefilter for a needle made of the
/// most common byte; the packed-pair searcher does not.
struct DoubleSpace {
    #[cfg(target_arch = "x86_64")]
    simd: Option<memchr::arch::x86_64::avx2::packedpair::Finder>,
}

impl DoubleSpace {
    fn new() -> Self {
        DoubleSpace {
            #[cfg(target_arch = "x86_64")]
            simd: memchr::arch::x86_64::avx2::packedpair::Finder::new(b"  "),
        }
    }

    /// The index of the first `"  "` in `s[from..]`, or `usize::MAX`.
    fn find(&self, s: &[u8], from: usize) -> usize {
        let hay = &s[from..];
        #[cfg(target_arch = "x86_64")]
        let found = match &self.simd {
            Some(f) if hay.len() >= f.min_haystack_len() => f.find(hay, b"  "),
            _ => memchr::memmem::find(hay, b"  "),
        };
        #[cfg(not(target_arch = "x86_64"))]
        let found = memchr::memmem::find(hay, b"  ");
        found.map_or(usize::MAX, |k| from + k)
    }
}

/// Reads [`Line`]s one at a time, from any line start.
pub(crate) struct LineReader<'a> {
    s: &'a str,
    double: DoubleSpace,
    /// The first `"  "` at or after the last line read (`usize::MAX`: none).
    next_double: usize,
}

impl<'a> LineReader<'a> {
    pub fn new(s: &'a str) -> Self {
        let double = DoubleSpace::new();
        let next_double = double.find(s.as_bytes(), 0);
        LineReader {
            s,
            double,
            next_double,
        }
    }

    pub fn text(&self) -> &'a str {
        self.s
    }

    /// The line starting at `start` (`< s.len()`, after a line end), and where the next one
    /// starts (`s.len()` after the last).
    #[inline(always)]
    pub fn line_at(&mut self, start: usize) -> (Line<'a>, usize) {
        let bytes = self.s.as_bytes();
        let mut arrow = false;
        let mut whitespace = false;
        let mut i = start;
        let end = loop {
            let end = find_line_mark(bytes, i);
            if end == bytes.len() || matches!(bytes[end], b'\n' | b'\r') {
                break end;
            }
            match bytes[end] {
                b'>' => arrow |= end >= start + 2 && &bytes[end - 2..end] == b"--",
                b'\t' | b'\x0B' | b'\x0C' => whitespace = true,
                _ => {}
            }
            i = end + 1;
        };
        self.line_to(start, end, arrow, whitespace)
    }

    /// [`LineReader::line_at`] once the line's end and marks are known.
    #[inline(always)]
    fn line_to(
        &mut self,
        start: usize,
        end: usize,
        arrow: bool,
        whitespace: bool,
    ) -> (Line<'a>, usize) {
        let bytes = self.s.as_bytes();
        if self.next_double < start {
            self.next_double = self.double.find(bytes, start);
        }
        let mut regular = !whitespace;
        if self.next_double < end {
            regular = false;
            // Two spaces never straddle a line end: the next pair is past this line.
            self.next_double = self.double.find(bytes, end);
        }
        let next = if end == bytes.len() {
            end
        } else if bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n') {
            end + 2
        } else {
            end + 1
        };
        let line = Line {
            text: &self.s[start..end],
            arrow,
            regular,
        };
        (line, next)
    }
}

/// [`split_lines`], each line marked as [`Line`] says.
#[cfg(test)]
pub(crate) fn split_marked(s: &str) -> Vec<Line<'_>> {
    split_marked_from(&mut LineReader::new(s), 0)
}

/// [`split_marked`] of the reader's text from `from` (a line start), with a reader already
/// set up, wherever it read last (the lines are those of `split_marked(&text[from..])`).
pub(crate) fn split_marked_from<'a>(reader: &mut LineReader<'a>, from: usize) -> Vec<Line<'a>> {
    let s = reader.text();
    // The reader may have read past `from`: its next double space is looked for again.
    reader.next_double = reader.double.find(s.as_bytes(), from);
    let mut lines = Vec::with_capacity((s.len() - from) / 24 + 1);
    let mut start = from;
    while start < s.len() {
        let (end, arrow, whitespace) = scan_line(s.as_bytes(), start);
        let (line, next) = reader.line_to(start, end, arrow, whitespace);
        lines.push(line);
        start = next;
    }
    lines
}

/// Where the line after the one ending at `e` starts, if a line ends at `e`.
pub(crate) fn next_line(b: &[u8], e: usize) -> Option<usize> {
    match b.get(e) {
        None => Some(e),
        Some(b'\n') => Some(e + 1),
        Some(b'\r') if b.get(e + 1) == Some(&b'\n') => Some(e + 2),
        Some(b'\r') => Some(e + 1),
        Some(_) => None,
    }
}

/// `s.trim()`, looking at characters only when an end is not ASCII (cue settings and header
/// lines usually start and end with ASCII).
pub(crate) fn trim(s: &str) -> &str {
    let ascii_ws = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r');
    let b = s.as_bytes();
    let mut a = 0;
    while a < b.len() && ascii_ws(b[a]) {
        a += 1;
    }
    let mut e = b.len();
    while e > a && ascii_ws(b[e - 1]) {
        e -= 1;
    }
    // `a` and `e` are at ASCII bytes or the ends: char boundaries.
    let t = &s[a..e];
    let t = if b.get(a).is_some_and(|&c| c >= 0x80) {
        t.trim_start()
    } else {
        t
    };
    if e > a && b[e - 1] >= 0x80 {
        t.trim_end()
    } else {
        t
    }
}

/// A line number for messages from a 0-based index.
pub(crate) fn line_no(index: usize) -> Option<u32> {
    Some(u32::try_from(index + 1).unwrap_or(u32::MAX))
}

/// The byte offset of `part` inside `whole` (`part` must be a subslice of `whole`).
pub(crate) fn offset_in(whole: &str, part: &str) -> usize {
    (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_on_every_terminator() {
        assert_eq!(split_lines("a\r\nb\rc\nd"), vec!["a", "b", "c", "d"]);
        assert_eq!(split_lines("a\n"), vec!["a"]);
        assert_eq!(split_lines("a\n\n"), vec!["a", ""]);
        assert_eq!(split_lines("\n\r\n"), vec!["", ""]);
        assert!(split_lines("").is_empty());
        for s in [
            "a\r\nb\rc\nd",
            "a\n",
            "a\n\n",
            "\n\r\n",
            "",
            "x --> y\n>-->\r-->\n->",
            "--\n>",
        ] {
            let marked = split_marked(s);
            let texts: Vec<&str> = marked.iter().map(|l| l.text).collect();
            assert_eq!(texts, split_lines(s));
            for l in marked {
                assert_eq!(l.arrow, l.text.contains("-->"), "{:?}", l.text);
            }
        }
        for (s, regular) in [
            ("a b\n  c\rd\te\n f \n", vec![true, false, false, true]),
            (
                "x  \r\n\x0C\ny z w\n\nab  cd\x01",
                vec![false, false, true, true, false],
            ),
            ("a\x01 b\x1F\n", vec![true]),
            (
                "abcdefg  h\nabcdefgh  \nabcdefghijklmno p\r\n  ",
                vec![false, false, true, false],
            ),
            (
                "a -->  b\nabcdefg \n01234567 \r\n\r\n",
                vec![false, true, true, true],
            ),
        ] {
            let marked: Vec<bool> = split_marked(s).iter().map(|l| l.regular).collect();
            assert_eq!(marked, regular, "{s:?}");
        }
    }

    #[test]
    fn regular_lines_are_regular() {
        let alphabet = [
            b' ', b' ', b'a', b'!', b'>', b'-', b'\n', b'\r', b'\t', 0x0B, 0x0C, 0x01, 0xC3, 0xA9,
        ];
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 200) as usize;
            let mut bytes = Vec::with_capacity(len);
            let mut r = seed;
            for _ in 0..len {
                r = r.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                bytes.push(alphabet[(r >> 33) as usize % alphabet.len()]);
            }
            let s = String::from_utf8_lossy(&bytes);
            let marked = split_marked(&s);
            let texts: Vec<&str> = marked.iter().map(|l| l.text).collect();
            assert_eq!(texts, split_lines(&s));
            let mut reader = LineReader::new(&s);
            let mut start = 0;
            for l in marked {
                let regular = !l.text.contains(['\t', '\x0B', '\x0C']) && !l.text.contains("  ");
                assert_eq!(l.regular, regular, "{:?}", l.text);
                assert_eq!(l.arrow, l.text.contains("-->"), "{:?}", l.text);
                // The table's reading and the one line at a time agree.
                let (one, next) = reader.line_at(start);
                assert_eq!(
                    (one.text, one.arrow, one.regular),
                    (l.text, l.arrow, l.regular)
                );
                start = next;
            }
        }
    }

    #[test]
    fn utf16_and_bad_utf8_are_decoded_with_warnings() {
        let mut d = Diag::default();
        let le: Vec<u8> = b"\xFF\xFE"
            .iter()
            .copied()
            .chain("hé\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode(&le, &mut d), "hé\n");
        assert_eq!(d.notes[0].kind, WarningKind::Transcoded);

        let mut d = Diag::default();
        assert_eq!(decode(b"a\nb\xFFc\0", &mut d), "a\nb\u{FFFD}c\u{FFFD}");
        assert_eq!(d.notes[0].kind, WarningKind::InvalidUtf8);
        assert_eq!(d.notes[0].line, Some(2));
    }
}
