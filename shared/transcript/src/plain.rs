//! Plain-text speaker turns: `Name: text`, `[hh:mm:ss] Name: text` (also `(mm:ss)`), and
//! Otter's `Name  0:15` line followed by the text. Lines that start no turn continue the
//! current one. A turn without a timestamp starts where the one before started; a turn ends
//! where the next later one starts (the last one ends where it starts).
use std::rc::Rc;

use crate::build::{self, Draft, Finish};
use crate::input::{self, Diag};
use crate::model::{Format, Mode, ParseError, Transcript, WarningKind};
use crate::text;
use crate::time;

struct Turn<'a> {
    start_ms: Option<u64>,
    name: Option<&'a str>,
    text: &'a str,
}

/// A whole-token timestamp such as `01:02:03`, `2:05` or `00:01:02.500`.
fn stamp(s: &str) -> Option<u64> {
    let mut pos = 0;
    let st = time::lenient_timestamp(s.as_bytes(), &mut pos)?;
    (pos == s.len()).then_some(st.ms)
}

fn turn(line: &str) -> Option<Turn<'_>> {
    let t = line.trim();
    // [00:01:02] Name: text   /   (01:02) text
    if let Some(close) = match t.as_bytes().first() {
        Some(b'[') => t.find(']'),
        Some(b'(') => t.find(')'),
        _ => None,
    } && let Some(ms) = stamp(&t[1..close])
    {
        let rest = t[close + 1..].trim_start();
        return Some(match text::speaker_prefix(rest) {
            Some((name, text)) => Turn {
                start_ms: Some(ms),
                name: Some(name),
                text,
            },
            None => Turn {
                start_ms: Some(ms),
                name: None,
                text: rest,
            },
        });
    }
    // Otter: `Name  0:15` (two spaces or a tab before the time, nothing after it).
    if let Some(cut) = t.rfind([' ', '\t'])
        && let Some(ms) = stamp(&t[cut + 1..])
    {
        let head = &t[..cut + 1];
        let name = head.trim_end();
        if (head.ends_with("  ") || head.ends_with('\t') || head.len() > name.len() + 1)
            && text::plausible_name(name)
        {
            return Some(Turn {
                start_ms: Some(ms),
                name: Some(name),
                text: "",
            });
        }
    }
    text::speaker_prefix(t).map(|(name, text)| Turn {
        start_ms: None,
        name: Some(name),
        text,
    })
}

/// Whether the text reads as speaker turns: at least two turn lines, making at least a tenth
/// of the non-blank lines among the first 2,000.
pub(crate) fn looks_like(text: &str) -> bool {
    let mut lines = 0usize;
    let mut turns = 0usize;
    for l in text.lines().take(2000) {
        if l.trim().is_empty() {
            continue;
        }
        lines += 1;
        if turn(l).is_some() {
            turns += 1;
        }
    }
    turns >= 2 && turns * 10 >= lines
}

fn append(out: &mut String, s: &str) {
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
}

pub(crate) fn parse(text: &str, mode: Mode, mut diag: Diag) -> Result<Transcript, ParseError> {
    let mut drafts: Vec<Draft> = Vec::new();
    let mut timed = false;
    let mut last_start = 0u64;
    for (i, line) in input::split_lines(text).into_iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match turn(line) {
            Some(t) => {
                if let Some(ms) = t.start_ms {
                    timed = true;
                    last_start = ms;
                }
                let mut d = Draft {
                    start_ms: last_start,
                    end_ms: last_start,
                    speaker: t.name.map(Rc::from),
                    line: input::line_no(i),
                    ..Draft::default()
                };
                append(&mut d.text, t.text);
                drafts.push(d);
            }
            None => match drafts.last_mut() {
                Some(d) => append(&mut d.text, line),
                None => {
                    let mut d = Draft {
                        start_ms: last_start,
                        end_ms: last_start,
                        line: input::line_no(i),
                        ..Draft::default()
                    };
                    append(&mut d.text, line);
                    drafts.push(d);
                }
            },
        }
    }
    if timed {
        // Ends: the next later start.
        let mut next: Option<(u64, u64)> = None;
        for d in drafts.iter_mut().rev() {
            d.end_ms = match next {
                Some((start, _)) if start > d.start_ms => start,
                Some((start, end)) if start == d.start_ms => end,
                _ => d.start_ms,
            };
            next = Some((d.start_ms, d.end_ms));
        }
    } else {
        diag.warn(
            WarningKind::NoTimestamps,
            None,
            "the transcript has no timestamps; every segment is at 0 ms",
        );
    }
    build::finish(
        Finish {
            format: Format::PlainText,
            mode,
            language: None,
            media_duration_ms: None,
        },
        drafts,
        diag,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_lines_are_recognised() {
        let t = turn("[00:01:02] Alice: Hello there").expect("bracketed");
        assert_eq!(
            (t.start_ms, t.name, t.text),
            (Some(62_000), Some("Alice"), "Hello there")
        );
        let t = turn("Bob Jones  1:05").expect("otter");
        assert_eq!(
            (t.start_ms, t.name, t.text),
            (Some(65_000), Some("Bob Jones"), "")
        );
        assert!(turn("We met at 10:30").is_none());
        let t = turn("Carol: fine").expect("prefix");
        assert_eq!((t.start_ms, t.name), (None, Some("Carol")));
    }
}
