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
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(e) => {
            let line = line_at(bytes, e.valid_up_to());
            diag.warn(
                WarningKind::InvalidUtf8,
                Some(line),
                format!(
                    "bytes that are not UTF-8 (first at byte {}) were replaced with U+FFFD",
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
