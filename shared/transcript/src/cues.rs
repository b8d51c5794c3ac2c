//! Subtitle cues as written (SRT and WebVTT), before normalization, and their conversion to
//! drafts: text cleaning, voices, Zoom's `Name:` prefixes and YouTube's rolling captions.
use std::collections::HashMap;
use std::rc::Rc;

use crate::build::Draft;
use crate::input::{self, Diag};
use crate::model::{Mode, ParseError, Warning, WarningKind};
use crate::text::{self, Hints};

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
    /// The text's whitespace is regular (see [`crate::input::Line`]): cleaning may skip it.
    pub regular: bool,
    /// Where the text's line ends are, when its reader knew them.
    pub breaks: Breaks,
}

/// The offsets of the line ends (`\n` or `\r`) inside a cue text, when there are at most four
/// and the reader knew them all; unused entries are `u32::MAX`. `None`: unknown.
pub(crate) type Breaks = Option<[u32; 4]>;

/// Collects [`Breaks`] while a reader goes through a cue's lines.
pub(crate) struct BreakList {
    at: [u32; 4],
    len: usize,
    known: bool,
}

impl BreakList {
    pub fn new() -> Self {
        BreakList {
            at: [u32::MAX; 4],
            len: 0,
            known: true,
        }
    }

    /// A line end at `offset` in the text.
    pub fn push(&mut self, offset: usize) {
        match u32::try_from(offset) {
            Ok(o) if self.len < 4 && o < u32::MAX => {
                self.at[self.len] = o;
                self.len += 1;
            }
            _ => self.known = false,
        }
    }

    pub fn done(&self) -> Breaks {
        self.known.then_some(self.at)
    }
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

/// Cleans cues into drafts, one at a time as a parser reads them (while their text is still in
/// the cache). `srt` enables SRT's `{\…}` codes. In lenient mode, [`Drafter::finish`] makes
/// Zoom-style `Name: text` prefixes speakers when at least half the cues have one and no cue
/// has a `<v>` voice, and removes the lines of files with inline timestamp tags (YouTube's
/// rolling captions) that repeat the previous cue.
pub(crate) struct Drafter<'a> {
    /// The text the cues are read from.
    whole: &'a str,
    /// The first markup byte at or after `markup_from` (see [`Drafter::first_markup`]).
    next_markup: usize,
    markup_from: usize,
    srt: bool,
    mode: Mode,
    drafts: Vec<Draft>,
    /// The cue texts as written, for the rolling-caption pass (lenient mode only).
    texts: Vec<&'a str>,
    voices: Voices<'a>,
    scratch: String,
    any_voice: bool,
    any_timestamp_tag: bool,
    /// Drafts with text, and how many of them start with a `Name:` prefix (lenient mode).
    with_text: usize,
    prefixes: usize,
}

impl<'a> Drafter<'a> {
    pub fn new(whole: &'a str, srt: bool, mode: Mode) -> Self {
        Drafter {
            whole,
            next_markup: 0,
            markup_from: usize::MAX,
            srt,
            mode,
            drafts: Vec::with_capacity(whole.len() / 64 + 1),
            texts: Vec::new(),
            voices: Voices::default(),
            scratch: String::new(),
            any_voice: false,
            any_timestamp_tag: false,
            with_text: 0,
            prefixes: 0,
        }
    }

    pub fn push(&mut self, cue: Cue<'a>) {
        let mut voice = None;
        let hints = Hints {
            regular: cue.regular,
            breaks: cue.breaks,
            first_markup: Some(self.first_markup(cue.text)),
        };
        let voices = &mut self.voices;
        let digit_after_lt =
            text::clean_cue(cue.text, self.srt, hints, &mut self.scratch, &mut |v| {
                voice = voices.name(v);
                voice.is_some()
            });
        // Cleaned in a reused buffer, then copied at its exact size (no slack to carry).
        let buf = self.scratch.as_str().to_owned();
        self.any_voice |= voice.is_some();
        if self.mode == Mode::Lenient {
            // Inline timestamp tags: `clean_cue` saw every `<`.
            self.any_timestamp_tag |= digit_after_lt;
            self.texts.push(cue.text);
            // Counted now, while the text is in the cache (used unless lines are removed).
            if !self.scratch.is_empty() {
                self.with_text += 1;
                self.prefixes += usize::from(text::speaker_prefix(&self.scratch).is_some());
            }
        }
        self.drafts.push(Draft {
            start_ms: cue.start_ms,
            end_ms: cue.end_ms,
            speaker: voice,
            text: buf,
            line: input::line_no(cue.timing_line),
            dropped: false,
        });
    }

    /// The offset in `text` (a part of the whole text, after the last cue's) of its first
    /// markup byte, or its length. One search runs on through cues without markup.
    fn first_markup(&mut self, text: &str) -> usize {
        if text.is_empty() {
            return 0;
        }
        let whole = self.whole.as_bytes();
        let from = input::offset_in(self.whole, text);
        if from < self.markup_from || self.next_markup < from {
            self.markup_from = from;
            let rest = &whole[from..];
            let found = if self.srt {
                memchr::memchr3(b'<', b'&', b'{', rest)
            } else {
                memchr::memchr2(b'<', b'&', rest)
            };
            self.next_markup = found.map_or(whole.len(), |k| from + k);
        }
        (self.next_markup - from).min(text.len())
    }

    pub fn finish(mut self, diag: &mut Diag) -> Vec<Draft> {
        if self.mode == Mode::Lenient {
            if self.any_timestamp_tag {
                dedupe_rolling(&self.texts, &mut self.drafts, self.srt, diag);
            }
            if !self.any_voice {
                let counts = (!self.any_timestamp_tag).then_some((self.with_text, self.prefixes));
                speaker_prefixes(&mut self.drafts, counts);
            }
        }
        self.drafts
    }
}

/// The speaker names of voice annotations (`<v Name>`), each cleaned once and shared by the
/// drafts that carry it.
#[derive(Default)]
struct Voices<'a> {
    /// The first few annotations, as written, with their names (`None`: cleaned to nothing).
    few: Vec<(&'a str, Option<Rc<str>>)>,
    /// The others.
    more: HashMap<&'a str, Option<Rc<str>>>,
}

impl<'a> Voices<'a> {
    const FEW: usize = 16;

    fn name(&mut self, annotation: &'a str) -> Option<Rc<str>> {
        if let Some((_, name)) = self.few.iter().find(|(a, _)| *a == annotation) {
            return name.clone();
        }
        if let Some(name) = self.more.get(annotation) {
            return name.clone();
        }
        let cleaned = text::voice_name(annotation);
        let name = (!cleaned.is_empty()).then(|| Rc::from(&*cleaned));
        if self.few.len() < Self::FEW {
            self.few.push((annotation, name.clone()));
        } else {
            self.more.insert(annotation, name.clone());
        }
        name
    }
}

/// Zoom writes `Name: text` in every cue. Taken as speakers only when at least half the cues
/// with text start that way, so a stray `Note: …` does not invent a speaker.
fn speaker_prefixes(drafts: &mut [Draft], counts: Option<(usize, usize)>) {
    let (with_text, misses) = match counts {
        Some((with_text, prefixes)) => (with_text, with_text - prefixes),
        None => {
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
            (with_text, misses)
        }
    };
    if misses * 2 > with_text {
        return;
    }
    if misses == with_text {
        return;
    }
    for d in drafts {
        if let Some((name, rest)) = text::speaker_prefix(&d.text) {
            let (name, rest) = (Rc::from(name), rest.to_owned());
            d.speaker = Some(name);
            d.text = rest;
        }
    }
}

/// YouTube's auto-captions roll: each cue repeats the previous cue's last line above the new
/// words, and a 10 ms cue repeats the finished line. Lines equal to one of the previous cue's
/// lines are removed from the top of each cue; a cue left with nothing is dropped.
fn dedupe_rolling(texts: &[&str], drafts: &mut [Draft], srt: bool, diag: &mut Diag) {
    let mut prev: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut removed_lines = 0usize;
    for (text, draft) in texts.iter().zip(drafts.iter_mut()) {
        let lines: Vec<String> = input::split_lines(text)
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
