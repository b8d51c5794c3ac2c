//! WebVTT: the W3C parser algorithm (§6.1 "WebVTT file parsing"), with lenient extensions.
//!
//! Strict reads exactly the cues a browser would (region, style and settings are not kept).
//! Lenient also reads: a file without the `WEBVTT` line; lines holding only spaces as blank
//! lines (Netflix); timestamps outside the syntax (Teams' `0:0:0.570`, commas, minutes > 59).
use crate::build::Finish;
use crate::cues::{BreakList, Breaks, Cue, Drafter};
use crate::input::{self, Diag, Line, LineReader};
use crate::model::{Format, Mode, ParseError, Transcript, WarningKind};
use crate::time;

// Not inlined into `parse_text`: the hot loops' code layout then does not move with the other
// parsers' code (a few per cent on the large files).
#[inline(never)]
pub(crate) fn parse(text: &str, mode: Mode, mut diag: Diag) -> Result<Transcript, ParseError> {
    let mut drafter = Drafter::new(text, false, mode);
    read(text, mode, &mut diag, &mut |cue| drafter.push(cue))?;
    let language = header_language(text);
    drafter.finish(
        Finish {
            format: Format::Webvtt,
            mode,
            language,
            media_duration_ms: None,
        },
        diag,
    )
}

/// `Language: en` in the header block (YouTube, webvtt-py's fixtures).
fn header_language(text: &str) -> Option<String> {
    // `text.lines().skip(1)`, by hand: one `memchr` per line.
    let b = text.as_bytes();
    let mut start = memchr::memchr(b'\n', b)? + 1;
    while start < b.len() {
        let end = memchr::memchr(b'\n', &b[start..]).map_or(b.len(), |k| start + k);
        let mut line = &text[start..end];
        if end < b.len() {
            line = line.strip_suffix('\r').unwrap_or(line);
        }
        if input::trim(line).is_empty() || has_arrow(line) {
            return None;
        }
        if let Some(l) = line.strip_prefix("Language:") {
            return Some(input::trim(l).to_owned());
        }
        start = end + 1;
    }
    None
}

/// `line.contains("-->")`, without a substring searcher set up for each line.
fn has_arrow(line: &str) -> bool {
    let b = line.as_bytes();
    memchr::memchr_iter(b'>', b).any(|k| k >= 2 && &b[k - 2..k] == b"--")
}

fn is_signature(line: &str) -> bool {
    line.starts_with("WEBVTT") && matches!(line.as_bytes().get(6), None | Some(b' ' | b'\t'))
}

fn short(line: &str) -> String {
    let mut s: String = line.chars().take(60).collect();
    if s.len() < line.len() {
        s.push('…');
    }
    s
}

pub(crate) fn cues<'a>(
    text: &'a str,
    mode: Mode,
    diag: &mut Diag,
) -> Result<Vec<Cue<'a>>, ParseError> {
    let mut cues = Vec::new();
    read(text, mode, diag, &mut |cue| cues.push(cue))?;
    Ok(cues)
}

/// Reads the cues of `text` into `sink`, in order.
fn read<'a>(
    text: &'a str,
    mode: Mode,
    diag: &mut Diag,
    sink: &mut dyn FnMut(Cue<'a>),
) -> Result<(), ParseError> {
    if text.is_empty() {
        return Err(ParseError::Empty);
    }
    let mut r = LineReader::new(text);
    let Some((pos, line)) = usual_header(&mut r) else {
        return other_cues(&mut r, 0, 0, true, mode, (sink, 0), diag);
    };
    let (pos, line, count) = usual_blocks(&mut r, pos, line, sink);
    if pos >= text.len() {
        return Ok(());
    }
    other_cues(&mut r, pos, line, false, mode, (sink, count), diag)
}

/// WebVTT whitespace inside a line.
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\x0C')
}

/// Where the blocks start after a usual header: the signature line, then an empty line or a
/// header block (lines that neither hold `-->` nor are only whitespace) and an empty line or
/// the end. Byte offset and 0-based line; `None` when the header is not usual.
fn usual_header(r: &mut LineReader<'_>) -> Option<(usize, usize)> {
    let b = r.text().as_bytes();
    let (first, mut p) = r.line_at(0);
    if !is_signature(first.text) {
        return None;
    }
    let mut ln = 1;
    while p < b.len() {
        if let Some(next) = input::next_line(b, p) {
            return Some((next, ln + 1));
        }
        let (l, next) = r.line_at(p);
        // A line of only whitespace is blank in lenient mode (with a warning), text in strict
        // mode; other lines starting with whitespace (a style sheet's ` }`) are header lines.
        if l.arrow || (is_ws(b[p]) && l.text.bytes().all(is_ws)) {
            return None;
        }
        (p, ln) = (next, ln + 1);
    }
    Some((b.len(), ln))
}

/// The blocks written the usual way, read without the line table of [`other_cues`]: empty
/// lines between blocks; blocks of lines that do not start with whitespace, with `-->` only
/// in a W3C timing line that is first or after an identifier. These are exactly the blocks
/// [`other_cues`] reads without a warning (in either mode). Stops at the first block that is
/// not usual; returns its byte offset and 0-based line (`text.len()` when all were), and the
/// number of cues read.
fn usual_blocks<'a>(
    r: &mut LineReader<'a>,
    mut pos: usize,
    mut line: usize,
    sink: &mut dyn FnMut(Cue<'a>),
) -> (usize, usize, usize) {
    let mut count = 0;
    let text = r.text();
    let b = text.as_bytes();
    let len = b.len();
    loop {
        while pos < len
            && let Some(next) = input::next_line(b, pos)
        {
            (pos, line) = (next, line + 1);
        }
        if pos >= len {
            return (len, line, count);
        }
        if is_ws(b[pos]) {
            return (pos, line, count);
        }
        let (first, next) = r.line_at(pos);
        let (id, timing, mut p, timing_line) = if first.arrow {
            ("", first.text, next, line)
        } else if next >= len {
            return (len, line + 1, count);
        } else if let Some(after) = input::next_line(b, next) {
            // A block of one line without a timing: nothing to read.
            (pos, line) = (after, line + 2);
            continue;
        } else if is_ws(b[next]) {
            return (pos, line, count);
        } else {
            let (second, after) = r.line_at(next);
            if !second.arrow {
                // A block without a cue (a note, a style…): up to the next empty line.
                let (mut q, mut ln) = (after, line + 2);
                loop {
                    if q >= len {
                        return (len, ln, count);
                    }
                    if let Some(n) = input::next_line(b, q) {
                        (pos, line) = (n, ln + 1);
                        break;
                    }
                    let (l, n) = r.line_at(q);
                    if is_ws(b[q]) || l.arrow {
                        return (pos, line, count);
                    }
                    (q, ln) = (n, ln + 1);
                }
                continue;
            }
            (first.text, second.text, after, line + 1)
        };
        let Some((start_ms, end_ms, settings)) = time::w3c_timing(timing) else {
            return (pos, line, count);
        };
        let mut ln = timing_line + 1;
        let mut span: Option<(usize, usize)> = None;
        let mut regular = true;
        let mut breaks = BreakList::new();
        while p < len {
            if let Some(next) = input::next_line(b, p) {
                (p, ln) = (next, ln + 1);
                break;
            }
            if is_ws(b[p]) {
                return (pos, line, count);
            }
            let (l, next) = r.line_at(p);
            if l.arrow {
                return (pos, line, count);
            }
            if let Some((a, end)) = span {
                breaks.push(end - a);
            }
            span = Some((span.map_or(p, |s| s.0), p + l.text.len()));
            regular &= l.regular;
            (p, ln) = (next, ln + 1);
        }
        count += 1;
        sink(Cue {
            index: None,
            id,
            start_ms,
            end_ms,
            settings,
            text: span.map_or("", |(a, b)| &text[a..b]),
            timing_line,
            regular,
            breaks: breaks.done(),
        });
        (pos, line) = (p, ln);
    }
}

/// The cues from byte `from` (a line start; `base` lines before it), line by line, with the
/// header first when `header`.
fn other_cues<'a>(
    r: &mut LineReader<'a>,
    from: usize,
    base: usize,
    header: bool,
    mode: Mode,
    (sink, count): (&mut dyn FnMut(Cue<'a>), usize),
    diag: &mut Diag,
) -> Result<(), ParseError> {
    let text = r.text();
    let lines = input::split_marked_from(r, from);
    let mut p = Parser {
        text,
        lines: &lines,
        base,
        mode,
        sink,
        count,
    };
    let mut i = 0;
    if header {
        let Some(first) = lines.first() else {
            return Err(ParseError::Empty);
        };
        if is_signature(first.text) {
            i = 1;
            if i < lines.len() {
                if p.blank(lines[i].text) {
                    p.note_blank(lines[i].text, i, diag);
                    i += 1;
                } else {
                    i = p.block(i, true, diag);
                }
            }
        } else if mode == Mode::Strict {
            return Err(ParseError::Invalid {
                line: Some(1),
                message: "a WebVTT file starts with a `WEBVTT` line".into(),
            });
        } else {
            diag.warn(
                WarningKind::MissingHeader,
                Some(1),
                "the file does not start with a `WEBVTT` line; read as WebVTT anyway",
            );
            if first.text.starts_with("WEBVTT") {
                i = 1;
            }
        }
    }
    loop {
        while i < lines.len() && p.blank(lines[i].text) {
            p.note_blank(lines[i].text, i, diag);
            i += 1;
        }
        if i >= lines.len() {
            break;
        }
        i = p.block(i, false, diag);
    }
    Ok(())
}

struct Parser<'a, 'l> {
    text: &'a str,
    lines: &'l [Line<'a>],
    /// Lines before `lines[0]`.
    base: usize,
    mode: Mode,
    sink: &'l mut dyn FnMut(Cue<'a>),
    /// Cues read so far.
    count: usize,
}

impl<'a> Parser<'a, '_> {
    fn line_no(&self, index: usize) -> Option<u32> {
        input::line_no(self.base + index)
    }

    fn blank(&self, line: &str) -> bool {
        line.is_empty()
            || (self.mode == Mode::Lenient
                && line.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\x0C')))
    }

    /// Notes a lenient blank line that W3C would read as text.
    fn note_blank(&self, line: &str, index: usize, diag: &mut Diag) {
        if !line.is_empty() {
            diag.warn(
                WarningKind::WhitespaceLine,
                self.line_no(index),
                "a line holds only spaces; read as a blank line",
            );
        }
    }

    fn timing(&self, line: &'a str, index: usize, diag: &mut Diag) -> Option<(u64, u64, &'a str)> {
        if let Some(t) = time::w3c_timing(line) {
            return Some(t);
        }
        if self.mode == Mode::Lenient
            && let Some(t) = time::lenient_timing(line)
        {
            let odd = if time::w3c_timestamp(line.trim_start().as_bytes(), &mut 0).is_none() {
                &t.start
            } else {
                &t.end
            };
            diag.warn_cue(
                WarningKind::NonstandardTimestamp,
                self.line_no(index),
                self.count,
                format!(
                    "the timing line `{}` has {}; read anyway",
                    short(line),
                    time::vtt_deviation(odd)
                ),
            );
            return Some((t.start.ms, t.end.ms, t.settings));
        }
        diag.warn(
            WarningKind::InvalidTiming,
            self.line_no(index),
            format!(
                "the timing line `{}` cannot be read; its cue was dropped",
                short(line)
            ),
        );
        None
    }

    /// "Collect a WebVTT block" from line `i`; returns the index of the next line to read.
    fn block(&mut self, mut i: usize, in_header: bool, diag: &mut Diag) -> usize {
        let lines = self.lines;
        let start = i;
        let mut line_count = 0;
        let mut previous = i;
        let mut seen_arrow = false;
        let mut cue: Option<(u64, u64, &'a str, usize, &'a str)> = None;
        let mut buf: Option<(usize, usize)> = None;
        while i < lines.len() {
            let Line {
                text: line, arrow, ..
            } = lines[i];
            line_count += 1;
            i += 1;
            if arrow {
                if !in_header && (line_count == 1 || (line_count == 2 && !seen_arrow)) {
                    seen_arrow = true;
                    previous = i;
                    let id = if line_count == 2 {
                        lines[start].text
                    } else {
                        ""
                    };
                    cue = self
                        .timing(line, i - 1, diag)
                        .map(|(s, e, settings)| (s, e, settings, i - 1, id));
                    if cue.is_some() {
                        buf = None;
                    }
                } else {
                    i = previous;
                    let spaces = lines[start..i]
                        .iter()
                        .any(|l| !l.text.is_empty() && l.text.trim().is_empty());
                    diag.warn(
                        WarningKind::MissingBlankLine,
                        self.line_no(i),
                        if spaces {
                            "a cue starts without a blank line before it (a line of spaces is not blank in WebVTT)"
                        } else {
                            "a cue starts without a blank line before it"
                        },
                    );
                    break;
                }
            } else if self.blank(line) {
                self.note_blank(line, i - 1, diag);
                break;
            } else {
                buf = Some((buf.map_or(i - 1, |b| b.0), i - 1));
                previous = i;
            }
        }
        if let Some((start_ms, end_ms, settings, timing_line, id)) = cue {
            let (text, regular) = match buf {
                Some((a, b)) => {
                    let from = input::offset_in(self.text, lines[a].text);
                    let to = input::offset_in(self.text, lines[b].text) + lines[b].text.len();
                    (&self.text[from..to], lines[a..=b].iter().all(|l| l.regular))
                }
                None => ("", true),
            };
            self.count += 1;
            (self.sink)(Cue {
                index: None,
                id,
                start_ms,
                end_ms,
                settings,
                text,
                timing_line: self.base + timing_line,
                regular,
                breaks: Breaks::UNKNOWN,
            });
        }
        i
    }
}
