//! WebVTT: the W3C parser algorithm (§6.1 "WebVTT file parsing"), with lenient extensions.
//!
//! Strict reads exactly the cues a browser would (region, style and settings are not kept).
//! Lenient also reads: a file without the `WEBVTT` line; lines holding only spaces as blank
//! lines (Netflix); timestamps outside the syntax (Teams' `0:0:0.570`, commas, minutes > 59).
use crate::build::{self, Finish};
use crate::cues::{self, Cue};
use crate::input::{self, Diag};
use crate::model::{Format, Mode, ParseError, Transcript, WarningKind};
use crate::time;

pub(crate) fn parse(text: &str, mode: Mode, mut diag: Diag) -> Result<Transcript, ParseError> {
    let cues = cues(text, mode, &mut diag)?;
    let drafts = cues::to_drafts(&cues, false, mode, &mut diag);
    let language = header_language(text);
    build::finish(
        Finish {
            format: Format::Webvtt,
            mode,
            language,
            media_duration_ms: None,
        },
        drafts,
        diag,
    )
}

/// `Language: en` in the header block (YouTube, webvtt-py's fixtures).
fn header_language(text: &str) -> Option<String> {
    text.lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty() && !l.contains("-->"))
        .find_map(|l| l.strip_prefix("Language:"))
        .map(|l| l.trim().to_owned())
}

fn has_arrow(line: &str) -> bool {
    let b = line.as_bytes();
    memchr::memchr_iter(b'>', b).any(|i| i >= 2 && &b[i - 2..i] == b"--")
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
    let lines = input::split_lines(text);
    let Some(first) = lines.first() else {
        return Err(ParseError::Empty);
    };
    let mut p = Parser {
        text,
        lines: &lines,
        mode,
        cues: Vec::with_capacity(lines.len() / 4),
    };
    let mut i = 0;
    if is_signature(first) {
        i = 1;
        if i < lines.len() {
            if p.blank(lines[i]) {
                p.note_blank(lines[i], i, diag);
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
        if first.starts_with("WEBVTT") {
            i = 1;
        }
    }
    loop {
        while i < lines.len() && p.blank(lines[i]) {
            p.note_blank(lines[i], i, diag);
            i += 1;
        }
        if i >= lines.len() {
            break;
        }
        i = p.block(i, false, diag);
    }
    Ok(p.cues)
}

struct Parser<'a, 'l> {
    text: &'a str,
    lines: &'l [&'a str],
    mode: Mode,
    cues: Vec<Cue<'a>>,
}

impl<'a> Parser<'a, '_> {
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
                input::line_no(index),
                "a line of only spaces was read as a blank line",
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
                input::line_no(index),
                self.cues.len(),
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
            input::line_no(index),
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
            let line = lines[i];
            line_count += 1;
            i += 1;
            if has_arrow(line) {
                if !in_header && (line_count == 1 || (line_count == 2 && !seen_arrow)) {
                    seen_arrow = true;
                    previous = i;
                    let id = if line_count == 2 { lines[start] } else { "" };
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
                        .any(|l| !l.is_empty() && l.trim().is_empty());
                    diag.warn(
                        WarningKind::MissingBlankLine,
                        input::line_no(i),
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
            let text = match buf {
                Some((a, b)) => {
                    let from = input::offset_in(self.text, lines[a]);
                    let to = input::offset_in(self.text, lines[b]) + lines[b].len();
                    &self.text[from..to]
                }
                None => "",
            };
            self.cues.push(Cue {
                index: None,
                id,
                start_ms,
                end_ms,
                settings,
                text,
                timing_line,
            });
        }
        i
    }
}
