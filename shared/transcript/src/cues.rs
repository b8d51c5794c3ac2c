//! Subtitle cues as written (SRT and WebVTT), before normalization, and their conversion to
//! drafts: text cleaning, voices, Zoom's `Name:` prefixes and YouTube's rolling captions.
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use crate::build::{self, Draft, Finish};
use crate::input::{self, Diag};
use crate::model::{Mode, ParseError, Transcript, Warning, WarningKind};
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

/// The offsets of the line ends (`\n` or `\r`) inside a cue text, when there are at most four,
/// all below `0xFFFF`, and the reader knew them all: four 16-bit lanes, first lowest, unused
/// ones `0xFFFF`. `0` (which no list of increasing offsets gives): unknown. Packed in a register
/// rather than an array, so that it is not stored a lane at a time and read back whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Breaks(pub u64);

impl Breaks {
    pub const UNKNOWN: Breaks = Breaks(0);

    /// The first line end at or after `i`, or `len` when none is (or they are unknown).
    #[inline]
    pub fn next_from(self, i: usize, len: usize) -> Option<usize> {
        if self == Breaks::UNKNOWN {
            return None;
        }
        let mut lanes = self.0;
        for _ in 0..4 {
            let b = (lanes & 0xFFFF) as usize;
            if b >= i {
                return Some(b.min(len));
            }
            lanes >>= 16;
        }
        Some(len)
    }
}

/// Collects [`Breaks`] while a reader goes through a cue's lines.
pub(crate) struct BreakList {
    at: u64,
    len: u32,
    known: bool,
}

impl BreakList {
    pub fn new() -> Self {
        BreakList {
            at: u64::MAX,
            len: 0,
            known: true,
        }
    }

    /// A line end at `offset` in the text.
    pub fn push(&mut self, offset: usize) {
        match u16::try_from(offset) {
            Ok(o) if self.len < 4 && o < u16::MAX => {
                let shift = 16 * self.len;
                self.at = (self.at & !(0xFFFF << shift)) | u64::from(o) << shift;
                self.len += 1;
            }
            _ => self.known = false,
        }
    }

    pub fn done(&self) -> Breaks {
        if self.known {
            Breaks(self.at)
        } else {
            Breaks::UNKNOWN
        }
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
    /// Where the lines of the cues from `ends_from` on end in their drafts' texts (lenient mode
    /// only: from the first cue of a small file, from the cue after the first timestamp tag of
    /// a large one): the rolling-caption pass then need not clean each of their lines again.
    ends: Few<text::OutLines>,
    ends_from: usize,
    /// At most 64 KiB of text.
    small: bool,
    voices: Voices<'a>,
    /// Where a large file's cue texts with markup are cleaned (allocated at the first).
    scratch: String,
    any_voice: bool,
    any_timestamp_tag: bool,
    /// Drafts with text, and how many of them start with a `Name:` prefix (lenient mode).
    with_text: usize,
    prefixes: usize,
}

impl<'a> Drafter<'a> {
    pub fn new(whole: &'a str, srt: bool, mode: Mode) -> Self {
        let small = whole.len() <= 64 * 1024;
        let record = mode == Mode::Lenient && small;
        Drafter {
            whole,
            next_markup: 0,
            markup_from: usize::MAX,
            srt,
            mode,
            drafts: Vec::with_capacity(whole.len() / 64 + 1),
            // A small file's line ends are recorded from its first cue (cleaning its lines
            // again would cost more); a large file's once a timestamp tag is seen.
            ends: Few::new(
                text::OutLines::new(),
                if record { whole.len() / 64 + 1 } else { 0 },
            ),
            ends_from: if record { 0 } else { usize::MAX },
            small,
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
        let first_markup = self.first_markup(cue.text);
        let hints = Hints {
            regular: cue.regular,
            breaks: cue.breaks,
            first_markup: Some(first_markup),
        };
        let voices = &mut self.voices;
        let mut voice_of = |v| {
            voice = voices.name(v);
            voice.is_some()
        };
        let raw = cue.text;
        // Without markup the text only loses whitespace, and a small file's texts are small:
        // cleaned straight into their own string (little slack). Otherwise a text may shrink a
        // lot: cleaned in a reused buffer, then copied at its exact size.
        let plain = self.small || first_markup >= raw.len();
        let mut own = String::with_capacity(if plain { raw.len() } else { 0 });
        let out = if plain {
            &mut own
        } else {
            if self.scratch.capacity() == 0 {
                self.scratch.reserve(self.whole.len().min(512));
            }
            &mut self.scratch
        };
        let digit_after_lt = if self.ends_from <= self.drafts.len() {
            record_ends(raw, self.srt, hints, out, &mut voice_of, &mut self.ends)
        } else {
            text::clean_cue(raw, self.srt, hints, out, &mut voice_of, &mut ())
        };
        let buf = if plain {
            own
        } else {
            self.scratch.as_str().to_owned()
        };
        self.any_voice |= voice.is_some();
        if self.mode == Mode::Lenient {
            // Inline timestamp tags: `clean_cue` saw every `<`.
            if digit_after_lt && !self.any_timestamp_tag {
                self.any_timestamp_tag = true;
                self.ends_from = self.ends_from.min(self.drafts.len() + 1);
            }
            // Counted now, while the text is in the cache (used unless lines are removed).
            if !buf.is_empty() {
                self.with_text += 1;
                self.prefixes += usize::from(text::speaker_prefix(&buf).is_some());
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

    /// The transcript: in lenient mode after the rolling-caption pass and with Zoom-style
    /// prefixes as speakers (see [`Drafter`]).
    pub fn finish(mut self, f: Finish, mut diag: Diag) -> Result<Transcript, ParseError> {
        if self.mode == Mode::Lenient {
            if self.any_timestamp_tag {
                let ends = (self.ends_from, &self.ends);
                dedupe_rolling(self.whole, ends, &mut self.drafts, self.srt, &mut diag);
            }
            if !self.any_voice {
                let counts = (!self.any_timestamp_tag).then_some((self.with_text, self.prefixes));
                speaker_prefixes(&mut self.drafts, counts);
            }
        }
        build::finish(f, self.drafts, diag)
    }
}

/// A list kept in place for its first [`FEW_FIRST`] entries (a small file's cues need no
/// allocation), the others in a vector.
pub(crate) struct Few<T> {
    first: [T; FEW_FIRST],
    len: usize,
    more: Vec<T>,
    /// The vector's capacity when the first entry goes there.
    hint: usize,
}

const FEW_FIRST: usize = 16;

impl<T: Copy> Few<T> {
    /// `fill` is never read (it stands for the entries not pushed yet).
    pub fn new(fill: T, hint: usize) -> Self {
        Few {
            first: [fill; FEW_FIRST],
            len: 0,
            more: Vec::new(),
            hint,
        }
    }

    pub fn push(&mut self, v: T) {
        if let Some(slot) = self.first.get_mut(self.len) {
            *slot = v;
        } else {
            if self.more.capacity() == 0 {
                self.more.reserve(self.hint.saturating_sub(FEW_FIRST));
            }
            self.more.push(v);
        }
        self.len += 1;
    }

    pub fn get(&self, k: usize) -> Option<T> {
        if k >= self.len {
            return None;
        }
        match k.checked_sub(FEW_FIRST) {
            None => Some(self.first[k]),
            Some(m) => self.more.get(m).copied(),
        }
    }
}

/// [`text::clean_cue`], with the line ends of `raw` in `out` added to `ends` (kept out of the
/// usual path's code: large files only need it for rolling captions).
#[inline(never)]
fn record_ends<'r>(
    raw: &'r str,
    srt: bool,
    hints: Hints,
    out: &mut String,
    voice: &mut dyn FnMut(&'r str) -> bool,
    ends: &mut Few<text::OutLines>,
) -> bool {
    let mut lines = text::OutLines::new();
    let digit_after_lt = text::clean_cue(raw, srt, hints, out, voice, &mut lines);
    ends.push(lines);
    digit_after_lt
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

/// The texts of the cues of `whole` as written, in order: the cues a [`Drafter`] was given
/// (the readers give the same cues each time; rolling captions are read in lenient mode).
fn cue_texts(whole: &str, srt: bool) -> Vec<&str> {
    let mut diag = Diag::default();
    let cues = if srt {
        crate::srt::cues(whole, &mut diag)
    } else {
        crate::vtt::cues(whole, Mode::Lenient, &mut diag).unwrap_or_default()
    };
    cues.into_iter().map(|c| c.text).collect()
}

/// YouTube's auto-captions roll: each cue repeats the previous cue's last line above the new
/// words, and a 10 ms cue repeats the finished line. Lines equal to one of the previous cue's
/// lines are removed from the top of each cue; a cue left with nothing is dropped.
fn dedupe_rolling(
    whole: &str,
    (ends_from, ends): (usize, &Few<text::OutLines>),
    drafts: &mut [Draft],
    srt: bool,
    diag: &mut Diag,
) {
    // The lines of the previous cue and of this one in one buffer (sized once), and a set of
    // the previous cue's lines only when it has many (each line enters a set at most once).
    let most = drafts.iter().map(|d| d.text.len()).max().unwrap_or(0);
    let mut lines = RollingLines::with_capacity(most);
    let mut prev_set: Option<HashSet<String>> = None;
    let mut scratch = String::new();
    let mut removed_lines = 0usize;
    // The cues as written, read again only if some cue's line ends were not recorded (they
    // are not kept for every cue of every file: this pass is rare).
    let mut texts: Option<Vec<&str>> = None;
    let drafts_len = drafts.len();
    for (k, draft) in drafts.iter_mut().enumerate() {
        // The lines cleaned one by one, or (the same) cut from the draft's cleaned text.
        let known = k
            .checked_sub(ends_from)
            .and_then(|e| ends.get(e))
            .is_some_and(|e| {
                e.each_line(&draft.text, |l| {
                    if !l.is_empty() {
                        lines.push(l);
                    }
                })
            });
        if !known {
            let texts = texts.get_or_insert_with(|| cue_texts(whole, srt));
            debug_assert_eq!(texts.len(), drafts_len);
            for_each_line(texts.get(k).copied().unwrap_or_default(), |l| {
                text::clean_into(l, srt, &mut scratch);
                if !scratch.is_empty() {
                    lines.push(&scratch);
                }
            });
        }
        let count = lines.cur_len();
        let repeated = match &prev_set {
            None => (0..count)
                .take_while(|&k| lines.prev_contains(lines.cur(k)))
                .count(),
            Some(set) => (0..count)
                .take_while(|&k| set.contains(lines.cur(k)))
                .count(),
        };
        if repeated > 0 {
            removed_lines += repeated;
            if repeated == count {
                draft.dropped = true;
                diag.warn(
                    WarningKind::DuplicateDropped,
                    draft.line,
                    "a rolling-caption cue that only repeats the previous one was dropped",
                );
            } else {
                let mut joined = String::with_capacity(draft.text.len());
                for k in repeated..count {
                    if k > repeated {
                        joined.push(' ');
                    }
                    joined.push_str(lines.cur(k));
                }
                draft.text = joined;
            }
        }
        if lines.next_cue() {
            prev_set = (lines.prev_len() > RollingLines::SCAN).then(|| {
                (0..lines.prev_len())
                    .map(|k| lines.prev(k).to_owned())
                    .collect()
            });
        }
    }
    if removed_lines > 0 {
        diag.warn(
            WarningKind::DuplicateDropped,
            None,
            rolling_message(removed_lines),
        );
    }
}

/// `format!("rolling captions: {removed} repeated line(s) removed")`, without the formatting
/// machinery (a tenth of a small file's parse).
fn rolling_message(removed: usize) -> String {
    const HEAD: &str = "rolling captions: ";
    const TAIL: &str = " repeated line(s) removed";
    let mut digits = [0u8; 20];
    let mut k = digits.len();
    let mut v = removed;
    loop {
        k -= 1;
        digits[k] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let mut m = String::with_capacity(HEAD.len() + (digits.len() - k) + TAIL.len());
    m.push_str(HEAD);
    for &d in &digits[k..] {
        m.push(char::from(d));
    }
    m.push_str(TAIL);
    debug_assert_eq!(
        m,
        format!("rolling captions: {removed} repeated line(s) removed")
    );
    m
}

/// [`input::split_lines`] without the vector.
fn for_each_line(s: &str, mut f: impl FnMut(&str)) {
    let bytes = s.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        match memchr::memchr2(b'\n', b'\r', &bytes[start..]) {
            Some(off) => {
                let end = start + off;
                f(&s[start..end]);
                start = if bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n') {
                    end + 2
                } else {
                    end + 1
                };
            }
            None => {
                f(&s[start..]);
                break;
            }
        }
    }
}

/// The cleaned, non-empty lines of the previous cue, then those of the current one, in one
/// buffer.
struct RollingLines {
    buf: String,
    /// Where each line ends in `buf`.
    ends: Vec<usize>,
    /// How many of the lines are the previous cue's.
    prev: usize,
}

impl RollingLines {
    /// Up to this many lines, a look-up scans them.
    const SCAN: usize = 8;

    fn with_capacity(bytes: usize) -> Self {
        RollingLines {
            buf: String::with_capacity(bytes.saturating_mul(2)),
            ends: Vec::with_capacity(8),
            prev: 0,
        }
    }

    /// A line of the current cue.
    fn push(&mut self, line: &str) {
        self.buf.push_str(line);
        self.ends.push(self.buf.len());
    }

    fn line(&self, k: usize) -> &str {
        let from = if k == 0 { 0 } else { self.ends[k - 1] };
        &self.buf[from..self.ends[k]]
    }

    fn prev_len(&self) -> usize {
        self.prev
    }

    fn prev(&self, k: usize) -> &str {
        self.line(k)
    }

    fn cur_len(&self) -> usize {
        self.ends.len() - self.prev
    }

    fn cur(&self, k: usize) -> &str {
        self.line(self.prev + k)
    }

    fn prev_contains(&self, line: &str) -> bool {
        (0..self.prev).any(|k| self.line(k) == line)
    }

    /// The current cue's lines become the previous ones, if there are any (returns whether).
    fn next_cue(&mut self) -> bool {
        if self.cur_len() == 0 {
            return false;
        }
        let cut = if self.prev == 0 {
            0
        } else {
            self.ends[self.prev - 1]
        };
        self.buf.drain(..cut);
        self.ends.drain(..self.prev);
        for e in &mut self.ends {
            *e -= cut;
        }
        self.prev = self.ends.len();
        true
    }
}
