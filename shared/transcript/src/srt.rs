//! SRT (SubRip). No formal spec; strict is `N`, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, text, blank
//! line. Lenient also reads, with a warning each: dots or short milliseconds, missing hours,
//! minutes > 59, a missing cue number, a missing blank line, text going on after a blank line
//! (kept, as cdown/srt does), cue numbers without a timing line (dropped), text outside cues
//! (dropped). Byte order marks and CR, LF or CRLF line ends are fine in both modes.
use crate::build::{self, Finish};
use crate::cues::{self, Cue};
use crate::input::{self, Diag};
use crate::model::{Format, Mode, ParseError, Transcript, WarningKind};
use crate::time;

pub(crate) fn parse(text: &str, mode: Mode, mut diag: Diag) -> Result<Transcript, ParseError> {
    let cues = cues(text, &mut diag);
    let drafts = cues::to_drafts(&cues, true, mode, &mut diag);
    build::finish(
        Finish {
            format: Format::Srt,
            mode,
            language: None,
            media_duration_ms: None,
        },
        drafts,
        diag,
    )
}

fn blank(line: &str) -> bool {
    line.bytes().all(|b| b.is_ascii_whitespace())
}

fn index_of(line: &str) -> Option<u64> {
    let t = line.trim();
    if t.is_empty() || t.len() > 19 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

fn timing_like(line: &str) -> bool {
    let b = line.as_bytes();
    memchr::memchr_iter(b'>', b).any(|i| i >= 2 && &b[i - 2..i] == b"--")
}

fn short(line: &str) -> String {
    let mut s: String = line.trim().chars().take(60).collect();
    if s.len() < line.trim().len() {
        s.push('…');
    }
    s
}

struct Lines<'a, 'l> {
    lines: &'l [&'a str],
}

impl Lines<'_, '_> {
    /// A cue starts at `k`: a timing line, or a number and then a timing line.
    fn starts_cue(&self, k: usize) -> bool {
        let l = self.lines;
        timing_like(l[k])
            || (index_of(l[k]).is_some() && l.get(k + 1).is_some_and(|n| timing_like(n)))
    }

    /// A cue number whose timing line is missing.
    fn index_without_timing(&self, k: usize) -> bool {
        index_of(self.lines[k]).is_some() && !self.lines.get(k + 1).is_some_and(|n| timing_like(n))
    }
}

pub(crate) fn cues<'a>(text: &'a str, diag: &mut Diag) -> Vec<Cue<'a>> {
    let lines = input::split_lines(text);
    let l = Lines { lines: &lines };
    let n = lines.len();
    let mut cues = Vec::with_capacity(n / 4);
    let mut i = 0;
    while i < n {
        if blank(lines[i]) {
            i += 1;
            continue;
        }
        let (index, t) = match index_of(lines[i]) {
            Some(ix) if i + 1 < n && timing_like(lines[i + 1]) => (Some(ix), i + 1),
            _ if timing_like(lines[i]) => (None, i),
            ix => {
                let mut j = i + 1;
                while j < n && !blank(lines[j]) && !l.starts_cue(j) {
                    j += 1;
                }
                match ix {
                    Some(ix) => diag.warn(
                        WarningKind::InvalidTiming,
                        input::line_no(i),
                        format!("cue {ix} has no timing line; its lines were dropped"),
                    ),
                    None => diag.warn(
                        WarningKind::OrphanText,
                        input::line_no(i),
                        format!("text outside any cue was dropped: `{}`", short(lines[i])),
                    ),
                }
                i = j;
                continue;
            }
        };

        // The text: up to the next cue, across blank lines that are not followed by one.
        let mut j = t + 1;
        let mut first: Option<usize> = None;
        let mut last = 0;
        let mut before_last: Option<usize> = None;
        while j < n {
            if blank(lines[j]) {
                let mut k = j + 1;
                while k < n && blank(lines[k]) {
                    k += 1;
                }
                if k >= n || l.starts_cue(k) || l.index_without_timing(k) {
                    j = k;
                    break;
                }
                diag.warn(
                    WarningKind::TextAfterBlankLine,
                    input::line_no(k),
                    "the text of a cue goes on after a blank line; kept in that cue",
                );
                j = k;
                continue;
            }
            if timing_like(lines[j]) && time::lenient_timing(lines[j]).is_some() {
                let mut stop = j;
                if first.is_some() && last + 1 == j && index_of(lines[last]).is_some() {
                    stop = last;
                    match before_last {
                        Some(b) => last = b,
                        None => first = None,
                    }
                }
                diag.warn(
                    WarningKind::MissingBlankLine,
                    input::line_no(stop),
                    "a cue starts without a blank line before it",
                );
                j = stop;
                break;
            }
            if first.is_none() {
                first = Some(j);
            } else {
                before_last = Some(last);
            }
            last = j;
            j += 1;
        }

        let line = lines[t];
        let Some(timing) = time::lenient_timing(line) else {
            diag.warn(
                WarningKind::InvalidTiming,
                input::line_no(t),
                format!(
                    "the timing line `{}` cannot be read; its cue was dropped",
                    short(line)
                ),
            );
            i = j;
            continue;
        };
        let k = cues.len();
        if index.is_none() {
            diag.warn_cue(
                WarningKind::MissingIndex,
                input::line_no(t),
                k,
                "a cue has no number before its timing line",
            );
        }
        for st in [&timing.start, &timing.end] {
            if !st.is_srt() {
                diag.warn_cue(
                    WarningKind::NonstandardTimestamp,
                    input::line_no(t),
                    k,
                    format!(
                        "the timing line `{}` has {}; read anyway",
                        short(line),
                        time::srt_deviation(st)
                    ),
                );
                break;
            }
        }
        let text = match first {
            Some(a) => {
                let from = input::offset_in(text, lines[a]);
                let to = input::offset_in(text, lines[last]) + lines[last].len();
                &text[from..to]
            }
            None => "",
        };
        cues.push(Cue {
            index,
            id: "",
            start_ms: timing.start.ms,
            end_ms: timing.end.ms,
            settings: timing.settings,
            text,
            timing_line: t,
        });
        i = j;
    }
    cues
}
