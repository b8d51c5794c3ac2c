//! SRT (SubRip). No formal spec; strict is `N`, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, text, blank
//! line. Lenient also reads, with a warning each: dots or short milliseconds, missing hours,
//! minutes > 59, a missing cue number, a missing blank line, text going on after a blank line
//! (kept, as cdown/srt does), cue numbers without a timing line (dropped), text outside cues
//! (dropped). Byte order marks and CR, LF or CRLF line ends are fine in both modes.
use crate::build::Finish;
use crate::cues::{BreakList, Breaks, Cue, Drafter};
use crate::input::{self, Diag, Line, LineReader};
use crate::model::{Format, Mode, ParseError, Transcript, WarningKind};
use crate::time;

// Not inlined into `parse_text`: the hot loops' code layout then does not move with the other
// parsers' code (a few per cent on the large files).
#[inline(never)]
pub(crate) fn parse(text: &str, mode: Mode, mut diag: Diag) -> Result<Transcript, ParseError> {
    let mut drafter = Drafter::new(text, true, mode);
    read(text, &mut diag, &mut |cue| drafter.push(cue));
    drafter.finish(
        Finish {
            format: Format::Srt,
            mode,
            language: None,
            media_duration_ms: None,
        },
        diag,
    )
}

fn blank(line: &str) -> bool {
    line.bytes().all(|b| b.is_ascii_whitespace())
}

/// A cue number: only ASCII digits (at most 19, so it fits), surrounding whitespace allowed.
fn index_of(line: &str) -> Option<u64> {
    let b = line.as_bytes();
    // Most lines start with a letter, and a cue number's ends are digits (nothing to trim).
    let t = match (b.first(), b.last()) {
        (Some(f), Some(l)) if f.is_ascii_digit() && l.is_ascii_digit() => b,
        (Some(f), _) if f.is_ascii_alphabetic() => return None,
        _ => line.trim().as_bytes(),
    };
    if t.is_empty() || t.len() > 19 {
        return None;
    }
    let mut n = 0u64;
    for &d in t {
        if !d.is_ascii_digit() {
            return None;
        }
        // 19 digits always fit in a u64.
        n = n * 10 + u64::from(d - b'0');
    }
    Some(n)
}

fn short(line: &str) -> String {
    let mut s: String = line.trim().chars().take(60).collect();
    if s.len() < line.trim().len() {
        s.push('…');
    }
    s
}

struct Lines<'a, 'l> {
    lines: &'l [Line<'a>],
}

impl Lines<'_, '_> {
    /// A cue starts at `k`: a timing line, or a number and then a timing line.
    fn starts_cue(&self, k: usize) -> bool {
        let l = self.lines;
        l[k].arrow || (l.get(k + 1).is_some_and(|n| n.arrow) && index_of(l[k].text).is_some())
    }

    /// A cue number whose timing line is missing.
    fn index_without_timing(&self, k: usize) -> bool {
        !self.lines.get(k + 1).is_some_and(|n| n.arrow) && index_of(self.lines[k].text).is_some()
    }
}

pub(crate) fn cues<'a>(text: &'a str, diag: &mut Diag) -> Vec<Cue<'a>> {
    let mut cues = Vec::new();
    read(text, diag, &mut |cue| cues.push(cue));
    cues
}

/// Reads the cues of `text` into `sink`, in order.
fn read<'a>(text: &'a str, diag: &mut Diag, sink: &mut dyn FnMut(Cue<'a>)) {
    let (pos, base, count) = usual_cues(text, sink);
    if pos < text.len() {
        other_cues(&mut LineReader::new(text), pos, base, count, sink, diag);
    }
}

/// The first line at or after `p` (line `ln`) that is not empty: its start and index.
fn first_full(b: &[u8], mut p: usize, mut ln: usize) -> Option<(usize, usize)> {
    while p < b.len() {
        match input::next_line(b, p) {
            Some(next) => (p, ln) = (next, ln + 1),
            None => return Some((p, ln)),
        }
    }
    None
}

/// A usual cue's first two lines, from `p`: (number, start, end, settings, where its text
/// starts). The number is 1 to 19 ASCII digits and nothing else; the timing line is
/// [`time::srt_timing`]'s.
type Header<'a> = (u64, u64, u64, &'a str, usize);

fn usual_header<'a>(r: &mut LineReader<'a>, text: &'a str, p: usize) -> Option<Header<'a>> {
    let b = text.as_bytes();
    let mut e = p;
    let mut index = 0u64;
    while e < b.len() && b[e].is_ascii_digit() && e - p < 19 {
        index = index * 10 + u64::from(b[e] - b'0');
        e += 1;
    }
    if e == p {
        return None;
    }
    // More than 19 digits, or something after them, is not a usual cue number.
    let t = input::next_line(b, e)?;
    if t >= b.len() {
        return None;
    }
    // Most timing lines are the 29 bytes of the two stamps and the arrow.
    if let Some(line) = b.get(t..t + 29)
        && let Some(next) = input::next_line(b, t + 29)
        && let Some((start, end)) = time::srt_stamps(line)
    {
        return Some((index, start, end, "", next));
    }
    let (timing, next) = r.line_at(t);
    let (start, end, settings) = time::srt_timing(timing.text)?;
    Some((index, start, end, settings, next))
}

/// The cues written the usual way, read without the line table of [`other_cues`]: a number, a
/// standard timing line, text lines that do not start with whitespace or hold `-->`, empty
/// lines, then the next such cue or the end. These are exactly the cues [`other_cues`] reads
/// without a warning. Stops at the first cue that is not usual; returns its byte offset and
/// 0-based line (`text.len()` when all were), and the number of cues read.
fn usual_cues<'a>(text: &'a str, sink: &mut dyn FnMut(Cue<'a>)) -> (usize, usize, usize) {
    let b = text.as_bytes();
    let len = b.len();
    let mut r = LineReader::new(text);
    let mut count = 0;
    let Some((mut pos, mut line)) = first_full(b, 0, 0) else {
        return (len, 0, 0);
    };
    let Some(mut head) = usual_header(&mut r, text, pos) else {
        return (pos, line, count);
    };
    loop {
        let (index, start_ms, end_ms, settings, mut p) = head;
        let mut ln = line + 2;
        let mut span: Option<(usize, usize)> = None;
        let mut regular = true;
        let mut breaks = BreakList::new();
        while p < len {
            if let Some(next) = input::next_line(b, p) {
                // An empty line ends the text.
                (p, ln) = (next, ln + 1);
                break;
            }
            let (l, next) = r.line_at(p);
            if l.arrow || b[p].is_ascii_whitespace() {
                return (pos, line, count);
            }
            if let Some((a, end)) = span {
                breaks.push(end - a);
            }
            span = Some((span.map_or(p, |s| s.0), p + l.text.len()));
            regular &= l.regular;
            (p, ln) = (next, ln + 1);
        }
        let cue = Cue {
            index: Some(index),
            id: "",
            start_ms,
            end_ms,
            settings,
            text: span.map_or("", |(a, b)| &text[a..b]),
            timing_line: line + 1,
            regular,
            breaks: breaks.done(),
        };
        let Some((p, ln)) = first_full(b, p, ln) else {
            sink(cue);
            return (len, ln, count + 1);
        };
        // The next cue must be usual too: only then is this one known to end here.
        let Some(next_head) = usual_header(&mut r, text, p) else {
            return (pos, line, count);
        };
        sink(cue);
        count += 1;
        (head, pos, line) = (next_head, p, ln);
    }
}

/// The cues from byte `from` (a line start; `base` lines before it), line by line, with every
/// repair lenient mode makes.
fn other_cues<'a>(
    r: &mut LineReader<'a>,
    from: usize,
    base: usize,
    mut count: usize,
    sink: &mut dyn FnMut(Cue<'a>),
    diag: &mut Diag,
) {
    let text = r.text();
    let lines = input::split_marked_from(r, from);
    let l = Lines { lines: &lines };
    let n = lines.len();
    let line_no = |i: usize| input::line_no(base + i);
    let mut i = 0;
    while i < n {
        if blank(lines[i].text) {
            i += 1;
            continue;
        }
        let (index, t) = match index_of(lines[i].text) {
            Some(ix) if i + 1 < n && lines[i + 1].arrow => (Some(ix), i + 1),
            _ if lines[i].arrow => (None, i),
            ix => {
                let mut j = i + 1;
                while j < n && !blank(lines[j].text) && !l.starts_cue(j) {
                    j += 1;
                }
                match ix {
                    Some(ix) => diag.warn(
                        WarningKind::InvalidTiming,
                        line_no(i),
                        format!("cue {ix} has no timing line; its lines were dropped"),
                    ),
                    None => diag.warn(
                        WarningKind::OrphanText,
                        line_no(i),
                        format!("text outside any cue: `{}`; dropped", short(lines[i].text)),
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
            if blank(lines[j].text) {
                let mut k = j + 1;
                while k < n && blank(lines[k].text) {
                    k += 1;
                }
                if k >= n || l.starts_cue(k) || l.index_without_timing(k) {
                    j = k;
                    break;
                }
                diag.warn(
                    WarningKind::TextAfterBlankLine,
                    line_no(k),
                    "the text of a cue goes on after a blank line; kept in that cue",
                );
                j = k;
                continue;
            }
            if lines[j].arrow && time::lenient_timing(lines[j].text).is_some() {
                let mut stop = j;
                if first.is_some() && last + 1 == j && index_of(lines[last].text).is_some() {
                    stop = last;
                    match before_last {
                        Some(b) => last = b,
                        None => first = None,
                    }
                }
                diag.warn(
                    WarningKind::MissingBlankLine,
                    line_no(stop),
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

        let line = lines[t].text;
        let Some(timing) = time::lenient_timing(line) else {
            diag.warn(
                WarningKind::InvalidTiming,
                line_no(t),
                format!(
                    "the timing line `{}` cannot be read; its cue was dropped",
                    short(line)
                ),
            );
            i = j;
            continue;
        };
        let k = count;
        if index.is_none() {
            diag.warn_cue(
                WarningKind::MissingIndex,
                line_no(t),
                k,
                "a cue has no number before its timing line",
            );
        }
        for st in [&timing.start, &timing.end] {
            if !st.is_srt() {
                diag.warn_cue(
                    WarningKind::NonstandardTimestamp,
                    line_no(t),
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
        let (text, regular) = match first {
            Some(a) => {
                let from = input::offset_in(text, lines[a].text);
                let to = input::offset_in(text, lines[last].text) + lines[last].text.len();
                (&text[from..to], lines[a..=last].iter().all(|l| l.regular))
            }
            None => ("", true),
        };
        count += 1;
        sink(Cue {
            index,
            id: "",
            start_ms: timing.start.ms,
            end_ms: timing.end.ms,
            settings: timing.settings,
            text,
            timing_line: base + t,
            regular,
            breaks: Breaks::UNKNOWN,
        });
        i = j;
    }
}
