//! Drafts (segments as read) to the normalized [`Transcript`]: order, repairs, ids, speakers.
use std::collections::HashMap;
use std::rc::Rc;

use crate::input::Diag;
use crate::model::{Format, Mode, ParseError, Segment, Speaker, Transcript, WarningKind};

/// A segment as a parser read it, before ordering and ids.
#[derive(Debug, Clone, Default)]
pub(crate) struct Draft {
    pub start_ms: u64,
    pub end_ms: u64,
    /// The speaker's name as found (shared by the drafts of one speaker when the parser can).
    pub speaker: Option<Rc<str>>,
    pub text: String,
    pub line: Option<u32>,
    /// Already reported and dropped (e.g. a rolling-caption duplicate).
    pub dropped: bool,
}

pub(crate) struct Finish {
    pub format: Format,
    pub mode: Mode,
    pub language: Option<String>,
    /// The media duration the source states, if any.
    pub media_duration_ms: Option<u64>,
}

/// The id of the segment at `index` (0-based): `s0001`…
pub(crate) fn segment_id(index: usize) -> String {
    let mut digits = [0u8; 20];
    let mut len = 0;
    let mut v = index + 1;
    while v > 0 || len < 4 {
        digits[len] = b'0' + (v % 10) as u8;
        v /= 10;
        len += 1;
    }
    let mut id = String::with_capacity(len + 1);
    id.push('s');
    id.extend(digits[..len].iter().rev().map(|&d| char::from(d)));
    id
}

/// The id after `prev` (the previous segment's id), without a division: a copy of it with its
/// digits counted up in place (ASCII: pops and pushes of single bytes, no UTF-8 check).
fn id_after(prev: &str) -> String {
    // Most ids end in a digit below 9: all but the last byte copied, then that digit plus one.
    if let Some((&last, head)) = prev.as_bytes().split_last()
        && matches!(last, b'0'..=b'8')
    {
        let mut id = String::with_capacity(prev.len());
        // `head` ends before an ASCII byte: a char boundary.
        id.push_str(&prev[..head.len()]);
        id.push(char::from(last + 1));
        return id;
    }
    // Room for one more digit (9…9 + 1) in the copy.
    let mut id = String::with_capacity(prev.len() + 1);
    id.push_str(prev);
    let mut nines = 0;
    while id.ends_with('9') {
        id.pop();
        nines += 1;
    }
    match id.pop() {
        Some(d @ '0'..='8') => id.push(char::from(d as u8 + 1)),
        // Only the `s` before the nines.
        Some(s) => {
            id.push(s);
            id.push('1');
        }
        None => {}
    }
    for _ in 0..nines {
        id.push('0');
    }
    id
}

/// Speaker ids by name: a scan of the few speakers most files have (by pointer first: drafts
/// of one speaker often share their name), a map past that.
#[derive(Default)]
struct SpeakerIds {
    speakers: Vec<Speaker>,
    names: Vec<Rc<str>>,
    by_name: HashMap<Rc<str>, usize>,
}

impl SpeakerIds {
    const SCAN: usize = 16;

    fn id_of(&mut self, name: Rc<str>) -> String {
        let found = if self.names.len() <= Self::SCAN {
            self.names
                .iter()
                .position(|n| Rc::ptr_eq(n, &name))
                .or_else(|| self.names.iter().position(|n| *n == name))
        } else {
            self.by_name.get(&name).copied()
        };
        if let Some(k) = found {
            return self.speakers[k].id.clone();
        }
        let id = format!("spk_{}", self.speakers.len() + 1);
        self.speakers.push(Speaker {
            id: id.clone(),
            name: name.to_string(),
        });
        self.names.push(name);
        if self.names.len() > Self::SCAN {
            if self.by_name.is_empty() {
                for (k, n) in self.names.iter().enumerate() {
                    self.by_name.insert(n.clone(), k);
                }
            } else {
                let k = self.names.len() - 1;
                self.by_name.insert(self.names[k].clone(), k);
            }
        }
        id
    }
}

pub(crate) fn finish(
    f: Finish,
    mut drafts: Vec<Draft>,
    mut diag: Diag,
) -> Result<Transcript, ParseError> {
    // Most files need none of the repairs below: one look at every draft says so.
    let mut prev_start = 0;
    let simple = drafts.iter().all(|d| {
        let ok = !d.dropped && d.end_ms >= d.start_ms && d.start_ms >= prev_start;
        prev_start = d.start_ms;
        ok
    });
    // The drafts to keep, in order (`None`: all, as they are).
    let live = (!simple).then(|| repair(&mut drafts, &mut diag));

    let mut segments = Vec::with_capacity(live.as_ref().map_or(drafts.len(), Vec::len));
    let mut speakers = SpeakerIds::default();
    // Which segment each draft became, for warnings about a draft (only when there are some).
    let mut segment_of: Vec<Option<usize>> = Vec::new();
    if diag.notes.iter().any(|n| n.cue.is_some()) {
        segment_of = vec![None; drafts.len()];
    }
    let mut end_max = 0u64;
    let mut add = |i: usize, d: Draft| {
        if d.text.is_empty() {
            diag.warn(
                WarningKind::EmptySegment,
                d.line,
                "a segment with no text (after removing markup) was dropped",
            );
            return;
        }
        let speaker = d.speaker.map(|name| speakers.id_of(name));
        end_max = end_max.max(d.end_ms);
        if let Some(slot) = segment_of.get_mut(i) {
            *slot = Some(segments.len());
        }
        segments.push(Segment {
            id: segments
                .last()
                .map_or_else(|| segment_id(0), |p: &Segment| id_after(&p.id)),
            start_ms: d.start_ms,
            end_ms: d.end_ms,
            speaker,
            text: d.text,
        });
    };
    match live {
        None => drafts.into_iter().enumerate().for_each(|(i, d)| add(i, d)),
        Some(live) => {
            for i in live {
                add(i, std::mem::take(&mut drafts[i]));
            }
        }
    }

    conclude(f, segments, speakers, end_max, &segment_of, diag)
}

/// The transcript from its segments, or the error strict mode or no segment gives.
/// `segment_of`: which segment each draft became, for warnings about a draft.
fn conclude(
    f: Finish,
    segments: Vec<Segment>,
    speakers: SpeakerIds,
    end_max: u64,
    segment_of: &[Option<usize>],
    mut diag: Diag,
) -> Result<Transcript, ParseError> {
    diag.notes.sort_by_key(|n| n.line.unwrap_or(u32::MAX));
    if f.mode == Mode::Strict
        && let Some(n) = diag.notes.iter().find(|n| n.kind.is_repair())
    {
        // A repair's warning says what is wrong, then (after the last "; ") what lenient mode
        // did about it, which strict mode does not do. The problem may quote the file's text,
        // which can hold "; " itself.
        let problem = n.message.rsplit_once("; ").map_or(&*n.message, |(p, _)| p);
        return Err(ParseError::Invalid {
            line: n.line,
            message: problem.to_string(),
        });
    }
    if segments.is_empty() {
        return Err(ParseError::NoCues(f.format));
    }
    let warnings = diag.into_warnings(|cue| segment_of.get(cue).copied().flatten().map(segment_id));
    Ok(Transcript {
        format: f.format,
        segments,
        speakers: speakers.speakers,
        duration_ms: end_max.max(f.media_duration_ms.unwrap_or(0)),
        language: f.language.filter(|l| !l.is_empty()),
        warnings,
        openai_tokens: Vec::new(),
    })
}

/// Drops, sorts and end repairs, with their warnings: the drafts to keep, in order.
fn repair(drafts: &mut [Draft], diag: &mut Diag) -> Vec<usize> {
    // Out of order: sort by start (stable), once, with one warning at the first offender.
    let mut live: Vec<usize> = (0..drafts.len()).filter(|&i| !drafts[i].dropped).collect();
    let back = |w: &[usize]| drafts[w[1]].start_ms < drafts[w[0]].start_ms;
    if let Some(p) = live.windows(2).position(back) {
        let i = live[p + 1];
        let n = live.windows(2).filter(|w| back(w)).count();
        diag.warn_cue(
            WarningKind::OutOfOrder,
            drafts[i].line,
            i,
            format!(
                "{n} segment(s) start before the one listed before them; all were sorted by start time"
            ),
        );
        live.sort_by_key(|&i| drafts[i].start_ms);
    }

    // End before start: the end moves to the next segment's start (or to its own start when
    // none starts later), so the text stays where the source put its start.
    // next_later[p]: the first start after position p that is later than p's (starts are
    // sorted, so it is the start after p's run of equal starts).
    if live.iter().all(|&i| drafts[i].end_ms >= drafts[i].start_ms) {
        return live;
    }
    let mut next_later: Vec<Option<u64>> = vec![None; live.len()];
    for p in (0..live.len().saturating_sub(1)).rev() {
        let (here, next) = (drafts[live[p]].start_ms, drafts[live[p + 1]].start_ms);
        next_later[p] = if next > here {
            Some(next)
        } else {
            next_later[p + 1]
        };
    }
    for (p, &i) in live.iter().enumerate() {
        let d = &drafts[i];
        if d.end_ms < d.start_ms {
            let new_end = next_later[p].unwrap_or(d.start_ms);
            diag.warn_cue(
                WarningKind::EndBeforeStart,
                d.line,
                i,
                format!(
                    "ends ({} ms) before it starts ({} ms); end set to {new_end} ms",
                    d.end_ms, d.start_ms
                ),
            );
            drafts[i].end_ms = new_end;
        }
    }
    live
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_count_up_like_formatting() {
        for n in (0..120).chain(9_990..10_010).chain(99_990..100_010) {
            assert_eq!(segment_id(n), format!("s{:04}", n + 1));
            assert_eq!(id_after(&segment_id(n)), format!("s{:04}", n + 2));
        }
    }
}
