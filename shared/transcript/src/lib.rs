//! Transcript formats in, one normalized transcript out. Pure: no I/O crates.
//!
//! [`parse`] detects the format from the content ([`detect`]; the file name only breaks ties)
//! and reads WebVTT, SRT, plain-text speaker turns, Whisper / Deepgram / AssemblyAI / AWS
//! Transcribe JSON and YouTube timedtext XML into a [`Transcript`]: segments with integer
//! millisecond times, speakers, the duration, the language when the source states it, and
//! typed [`Warning`]s for everything repaired or dropped.
//!
//! # Modes
//! [`Mode::Strict`] follows each format's rules (for WebVTT, the W3C parser algorithm) and
//! returns [`ParseError::Invalid`] where [`Mode::Lenient`] would repair something (every
//! warning kind with [`WarningKind::is_repair`]). Lenient also reads: WebVTT without its
//! header, Teams' short times (`0:0:0.570`) and `<v Name>` voices, Zoom's `Name: text` cues,
//! YouTube's rolling captions (repeated lines removed); SRT with dot or short milliseconds,
//! missing numbers or blank lines, text after a blank line, cues out of order.
//!
//! # Normalization
//! - Segment ids are `s0001`, `s0002`… by position after sorting by start time (stable), so
//!   the same bytes give the same ids. Speakers are `spk_1`, `spk_2`… in order of first
//!   appearance, named as the source names them (Deepgram's `0` and AWS's `spk_0` are
//!   "Speaker 1", AssemblyAI's `A` is "Speaker A", other labels as written).
//! - Text: tags and entities handled as described in the `text` module; whitespace collapsed
//!   to single spaces; a segment left empty is dropped with a warning.
//! - A cue that ends before it starts gets its end moved to the next later start (or to its
//!   own start), with a warning. Cues out of order are sorted, with a warning.
//! - Nothing is limited by size here: the service enforces limits before calling. No input
//!   makes the parsers panic or go quadratic (fuzzed, see `fuzz/`).

mod build;
mod cues;
mod input;
mod json;
mod model;
mod plain;
mod srt;
mod text;
mod time;
mod tokens;
mod vtt;
mod youtube;

pub use cues::{CueList, RawCue, srt_cues, webvtt_cues};
pub use model::{
    Format, Mode, ParseError, ParseOptions, Segment, Speaker, Transcript, Warning, WarningKind,
};
pub use tokens::{Chunk, TokenizerFamily, chunk, chunk_by, estimate_tokens, heuristic_tokens};

use input::Diag;

/// The format of `bytes`, from their content; `file_name` only decides between WebVTT and SRT
/// when a file has cue timings but no `WEBVTT` line. `None` when it is no transcript this crate
/// reads.
pub fn detect(bytes: &[u8], file_name: Option<&str>) -> Option<Format> {
    let mut diag = Diag::default();
    let text = input::decode(bytes, &mut diag);
    sniff(&text, file_name).ok().map(|(f, _)| f)
}

/// Detects the format and parses. See the crate docs.
pub fn parse(bytes: &[u8], opts: &ParseOptions) -> Result<Transcript, ParseError> {
    let mut diag = Diag::default();
    let text = input::decode(bytes, &mut diag);
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    let (format, json) = sniff(&text, opts.file_name).map_err(ParseError::NotATranscript)?;
    parse_text(&text, format, json, opts.mode, diag)
}

/// Parses as the given format, without detection.
pub fn parse_as(bytes: &[u8], format: Format, mode: Mode) -> Result<Transcript, ParseError> {
    let mut diag = Diag::default();
    let text = input::decode(bytes, &mut diag);
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    parse_text(&text, format, None, mode, diag)
}

fn parse_text(
    text: &str,
    format: Format,
    json: Option<serde_json::Value>,
    mode: Mode,
    diag: Diag,
) -> Result<Transcript, ParseError> {
    match format {
        Format::Webvtt => vtt::parse(text, mode, diag),
        Format::Srt => srt::parse(text, mode, diag),
        Format::PlainText => plain::parse(text, mode, diag),
        Format::YoutubeXml => youtube::parse(text, mode, diag),
        Format::WhisperJson
        | Format::DeepgramJson
        | Format::AssemblyaiJson
        | Format::AwsTranscribeJson => {
            let value = match json {
                Some(v) => v,
                None => serde_json::from_str(text).map_err(|e| ParseError::Invalid {
                    line: u32::try_from(e.line()).ok(),
                    message: format!("invalid JSON: {e}"),
                })?,
            };
            json::parse(&value, format, mode, diag)
        }
    }
}

const NOT_A_TRANSCRIPT: &str = "no WebVTT header, SRT cue timings, speaker turns, Whisper, \
     Deepgram, AssemblyAI or AWS Transcribe JSON, or YouTube timedtext XML was found";

/// The format, and the JSON value when it was parsed to find out.
fn sniff(
    text: &str,
    file_name: Option<&str>,
) -> Result<(Format, Option<serde_json::Value>), String> {
    let t = text.trim_start();
    if t.starts_with("WEBVTT") {
        return Ok((Format::Webvtt, None));
    }
    if t.starts_with('{') || t.starts_with('[') {
        match serde_json::from_str::<serde_json::Value>(t) {
            Ok(v) => {
                return match json::classify(&v) {
                    Some(f) => Ok((f, Some(v))),
                    None => Err(
                        "JSON, but not from Whisper, Deepgram, AssemblyAI or AWS Transcribe".into(),
                    ),
                };
            }
            // `[00:01] Name: text` starts like a JSON array.
            Err(e) if t.starts_with('{') => {
                return Err(format!(
                    "the file starts like JSON but is not valid JSON ({e})"
                ));
            }
            Err(_) => {}
        }
    }
    if t.starts_with('<') {
        return if youtube::looks_like(t) {
            Ok((Format::YoutubeXml, None))
        } else {
            Err("XML or HTML, but not YouTube timedtext".into())
        };
    }
    let binary = text
        .chars()
        .take(4096)
        .filter(|&c| c == '\u{FFFD}' || (c.is_control() && !c.is_whitespace()))
        .count();
    if binary > 8 {
        return Err("the file looks binary".into());
    }
    let has_timing = text.lines().take(500).any(|l| l.contains("-->"));
    if has_timing {
        let vtt_name = file_name.is_some_and(|n| {
            let n = n.to_ascii_lowercase();
            n.ends_with(".vtt") || n.ends_with(".webvtt")
        });
        return Ok((
            if vtt_name {
                Format::Webvtt
            } else {
                Format::Srt
            },
            None,
        ));
    }
    if plain::looks_like(text) {
        return Ok((Format::PlainText, None));
    }
    Err(NOT_A_TRANSCRIPT.into())
}

impl Transcript {
    /// The transcript as WebVTT: one cue per segment, its id as cue identifier, speakers as
    /// `<v Name>`, text escaped (`&`, `<`, `>`), the language as a `Language:` header line.
    /// Parsing it again (strict or lenient) gives the same segments and speakers.
    pub fn to_webvtt(&self) -> String {
        let mut out = String::with_capacity(
            16 + self
                .segments
                .iter()
                .map(|s| s.text.len() + 48)
                .sum::<usize>(),
        );
        out.push_str("WEBVTT\n");
        if let Some(lang) = &self.language {
            let lang: String = lang.split_whitespace().collect::<Vec<_>>().join(" ");
            if !lang.contains("-->") {
                out.push_str("Language: ");
                out.push_str(&lang);
                out.push('\n');
            }
        }
        for s in &self.segments {
            out.push('\n');
            out.push_str(&s.id);
            out.push('\n');
            time::write_vtt_time(&mut out, s.start_ms);
            out.push_str(" --> ");
            time::write_vtt_time(&mut out, s.end_ms);
            out.push('\n');
            if let Some(name) = s.speaker.as_deref().and_then(|id| self.speaker_name(id)) {
                out.push_str("<v ");
                text::escape_vtt(&mut out, name);
                // `Name-` + `>` would make `-->`, which ends a cue; the space is trimmed on
                // reading. (Found by fuzzing.)
                if name.ends_with('-') {
                    out.push(' ');
                }
                out.push('>');
            }
            text::escape_vtt(&mut out, &s.text);
            out.push('\n');
        }
        out
    }
}
