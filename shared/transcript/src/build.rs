//! Drafts (segments as read) to the normalized [`Transcript`]: order, repairs, ids, speakers.
use std::collections::HashMap;

use crate::input::Diag;
use crate::model::{Format, Mode, ParseError, Segment, Speaker, Transcript, WarningKind};

/// A segment as a parser read it, before ordering and ids.
#[derive(Debug, Clone, Default)]
pub(crate) struct Draft {
    pub start_ms: u64,
    pub end_ms: u64,
    /// The speaker's name as found.
    pub speaker: Option<String>,
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
    let n = index + 1;
    let mut digits = [0u8; 20];
    let mut len = 0;
    let mut v = n;
    while v > 0 || len < 4 {
        digits[len] = b'0' + (v % 10) as u8;
        v /= 10;
        len += 1;
    }
    let mut id = String::with_capacity(len + 1);
    id.push('s');
    id.extend(digits[..len].iter().rev().map(|&d| d as char));
    id
}

pub(crate) fn finish(
    f: Finish,
    mut drafts: Vec<Draft>,
    mut diag: Diag,
) -> Result<Transcript, ParseError> {
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

    let mut segments = Vec::with_capacity(live.len());
    let mut speakers: Vec<Speaker> = Vec::new();
    let mut speaker_ids: HashMap<String, String> = HashMap::new();
    let mut segment_of: Vec<Option<usize>> = vec![None; drafts.len()];
    let mut end_max = 0u64;
    for i in live {
        let d = std::mem::take(&mut drafts[i]);
        if d.text.is_empty() {
            diag.warn(
                WarningKind::EmptySegment,
                d.line,
                "a segment with no text (after removing markup) was dropped",
            );
            continue;
        }
        let speaker = d.speaker.map(|name| {
            if let Some(id) = speaker_ids.get(&name) {
                return id.clone();
            }
            let id = format!("spk_{}", speakers.len() + 1);
            speakers.push(Speaker {
                id: id.clone(),
                name: name.clone(),
            });
            speaker_ids.insert(name, id.clone());
            id
        });
        end_max = end_max.max(d.end_ms);
        segment_of[i] = Some(segments.len());
        segments.push(Segment {
            id: segment_id(segments.len()),
            start_ms: d.start_ms,
            end_ms: d.end_ms,
            speaker,
            text: d.text,
        });
    }

    diag.notes.sort_by_key(|n| n.line.unwrap_or(u32::MAX));
    if f.mode == Mode::Strict
        && let Some(n) = diag.notes.iter().find(|n| n.kind.is_repair())
    {
        return Err(ParseError::Invalid {
            line: n.line,
            message: n.message.clone(),
        });
    }
    if segments.is_empty() {
        return Err(ParseError::NoCues(f.format));
    }
    let warnings = diag.into_warnings(|cue| segment_of.get(cue).copied().flatten().map(segment_id));
    Ok(Transcript {
        format: f.format,
        segments,
        speakers,
        duration_ms: end_max.max(f.media_duration_ms.unwrap_or(0)),
        language: f.language.filter(|l| !l.is_empty()),
        warnings,
    })
}
