//! Subtitle cues as written (SRT and WebVTT), before normalization, and their conversion to
//! drafts: text cleaning, voices, Zoom's `Name:` prefixes and YouTube's rolling captions.
use crate::build::Draft;
use crate::input::{self, Diag};
use crate::model::{Mode, ParseError, Warning, WarningKind};
use crate::text;

/// A cue borrowed from the decoded text.
#[derive(Debug, Clone)]
pub(crate) struct Cue<'a> {
    pub index: Option<u64>,
    pub id: &'a str,
    pub start_ms: u64,
    pub end_ms: u64,
    pub settings: &'a str,
    /// From the start of the first text line to the end of the last, terminators as written.
    pub text: &'a str,
    /// 0-based index of the timing line.
    pub timing_line: usize,
}

/// A cue as the file wrote it: times as read (even an end before the start), text with its
/// markup and line breaks (`\n`). For conformance tests and tools; [`crate::parse`] is the
/// normal entry point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawCue {
    /// The SRT cue number, when written.
    pub index: Option<u64>,
    /// The WebVTT cue identifier (`""` when none).
    pub id: String,
    pub start_ms: u64,
    pub end_ms: u64,
    /// WebVTT cue settings or whatever followed the SRT end time.
    pub settings: String,
    pub text: String,
    /// 1-based line of the timing line.
    pub line: u32,
}

/// The cues of a file and the warnings of reading them. In strict mode [`crate::parse`]
/// refuses the file if any of these warnings is a repair; this list shows them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CueList {
    pub cues: Vec<RawCue>,
    pub warnings: Vec<Warning>,
}

impl Cue<'_> {
    fn to_raw(&self) -> RawCue {
        RawCue {
            index: self.index,
            id: self.id.to_owned(),
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            settings: self.settings.to_owned(),
            text: input::split_lines(self.text).join("\n"),
            line: input::line_no(self.timing_line).unwrap_or(u32::MAX),
        }
    }
}

fn list(cues: &[Cue<'_>], diag: Diag) -> CueList {
    CueList {
        cues: cues.iter().map(Cue::to_raw).collect(),
        warnings: diag.into_warnings(|_| None),
    }
}

/// WebVTT cues. Strict: the W3C parser algorithm exactly (what a browser shows). Lenient: also
/// the extensions listed in the crate docs.
pub fn webvtt_cues(bytes: &[u8], mode: Mode) -> Result<CueList, ParseError> {
    let mut diag = Diag::default();
    let text = input::decode(bytes, &mut diag);
    let cues = crate::vtt::cues(&text, mode, &mut diag)?;
    Ok(list(&cues, diag))
}

/// SRT cues. Strict and lenient read the same cues; the warnings say what strict refuses.
pub fn srt_cues(bytes: &[u8]) -> CueList {
    let mut diag = Diag::default();
    let text = input::decode(bytes, &mut diag);
    let cues = crate::srt::cues(&text, &mut diag);
    list(&cues, diag)
}

/// Cleans the cues into drafts. `srt` enables SRT's `{\…}` codes. In lenient mode, Zoom-style
/// `Name: text` prefixes become speakers when at least half the cues have one and no cue has
/// a `<v>` voice; files with inline timestamp tags (YouTube's rolling captions) lose lines
/// that repeat the previous cue.
pub(crate) fn to_drafts(cues: &[Cue<'_>], srt: bool, mode: Mode, diag: &mut Diag) -> Vec<Draft> {
    let mut drafts = Vec::with_capacity(cues.len());
    let mut any_voice = false;
    let mut any_timestamp_tag = false;
    for cue in cues {
        let mut buf = String::with_capacity(cue.text.len());
        let voice = text::clean_into(cue.text, srt, &mut buf);
        any_voice |= voice.is_some();
        if mode == Mode::Lenient
            && !any_timestamp_tag
            && memchr::memchr(b'<', cue.text.as_bytes()).is_some()
        {
            any_timestamp_tag = has_timestamp_tag(cue.text);
        }
        drafts.push(Draft {
            start_ms: cue.start_ms,
            end_ms: cue.end_ms,
            speaker: voice,
            text: buf,
            line: input::line_no(cue.timing_line),
            dropped: false,
        });
    }
    if mode == Mode::Lenient {
        if any_timestamp_tag {
            dedupe_rolling(cues, &mut drafts, srt, diag);
        }
        if !any_voice {
            speaker_prefixes(&mut drafts);
        }
    }
    drafts
}

fn has_timestamp_tag(s: &str) -> bool {
    memchr::memchr_iter(b'<', s.as_bytes())
        .any(|i| s.as_bytes().get(i + 1).is_some_and(u8::is_ascii_digit))
}

/// Zoom writes `Name: text` in every cue. Taken as speakers only when at least half the cues
/// with text start that way, so a stray `Note: …` does not invent a speaker.
fn speaker_prefixes(drafts: &mut [Draft]) {
    let with_text = drafts.iter().filter(|d| !d.text.is_empty()).count();
    // Stop counting as soon as the answer is known (most files have no prefix at all).
    let mut misses = 0;
    for d in drafts.iter().filter(|d| !d.text.is_empty()) {
        if text::speaker_prefix(&d.text).is_none() {
            misses += 1;
            if misses * 2 > with_text {
                return;
            }
        }
    }
    if misses == with_text {
        return;
    }
    for d in drafts {
        if let Some((name, rest)) = text::speaker_prefix(&d.text) {
            let (name, rest) = (name.to_owned(), rest.to_owned());
            d.speaker = Some(name);
            d.text = rest;
        }
    }
}

/// YouTube's auto-captions roll: each cue repeats the previous cue's last line above the new
/// words, and a 10 ms cue repeats the finished line. Lines equal to one of the previous cue's
/// lines are removed from the top of each cue; a cue left with nothing is dropped.
fn dedupe_rolling(cues: &[Cue<'_>], drafts: &mut [Draft], srt: bool, diag: &mut Diag) {
    let mut prev: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut removed_lines = 0usize;
    for (cue, draft) in cues.iter().zip(drafts.iter_mut()) {
        let lines: Vec<String> = input::split_lines(cue.text)
            .into_iter()
            .map(|l| text::clean(l, srt).1)
            .filter(|l| !l.is_empty())
            .collect();
        let repeated = lines.iter().take_while(|l| prev.contains(*l)).count();
        if repeated > 0 {
            removed_lines += repeated;
            if repeated == lines.len() {
                draft.dropped = true;
                diag.warn(
                    WarningKind::DuplicateDropped,
                    draft.line,
                    "a rolling-caption cue that only repeats the previous one was dropped",
                );
            } else {
                draft.text = lines[repeated..].join(" ");
            }
        }
        if !lines.is_empty() {
            prev = lines.into_iter().collect();
        }
    }
    if removed_lines > 0 {
        diag.warn(
            WarningKind::DuplicateDropped,
            None,
            format!("rolling captions: {removed_lines} repeated line(s) removed"),
        );
    }
}
