//! The normalized transcript and the errors and warnings of parsing.
use std::fmt;

use serde::{Deserialize, Serialize};

/// How forgiving the parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The format's own rules (W3C for WebVTT). Anything lenient mode would have to repair is
    /// an error instead: every [`WarningKind`] for which [`WarningKind::is_repair`] is true.
    Strict,
    /// Takes real-world files: repairs what it can and says so in [`Transcript::warnings`].
    #[default]
    Lenient,
}

/// Options of [`crate::parse`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions<'a> {
    pub mode: Mode,
    /// Only a hint: used when the content alone is ambiguous (e.g. a WebVTT file without its
    /// `WEBVTT` line). The content always wins.
    pub file_name: Option<&'a str>,
}

/// The format a transcript was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Webvtt,
    Srt,
    PlainText,
    WhisperJson,
    DeepgramJson,
    AssemblyaiJson,
    AwsTranscribeJson,
    YoutubeXml,
}

impl Format {
    /// A name for people.
    pub fn label(self) -> &'static str {
        match self {
            Format::Webvtt => "WebVTT",
            Format::Srt => "SRT",
            Format::PlainText => "plain-text transcript",
            Format::WhisperJson => "Whisper JSON",
            Format::DeepgramJson => "Deepgram JSON",
            Format::AssemblyaiJson => "AssemblyAI JSON",
            Format::AwsTranscribeJson => "AWS Transcribe JSON",
            Format::YoutubeXml => "YouTube timedtext XML",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One normalized transcript, whatever the source format.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Transcript {
    pub format: Format,
    /// Ordered by start time (stable: equal starts keep the source order).
    pub segments: Vec<Segment>,
    /// In order of first appearance.
    pub speakers: Vec<Speaker>,
    /// The end of the last segment, or the media duration the source states if that is later.
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    pub warnings: Vec<Warning>,
    /// Each segment's `o200k_base` tokens (OpenAI's encoding), in segment order: empty from
    /// the parser; [`Transcript::count_openai_tokens`] fills it. The upload trigger counts once
    /// and stores the counts with the normalized transcript, so that generation chunks for
    /// OpenAI models from them without a tokenizer of its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub openai_tokens: Vec<u32>,
}

/// A timed piece of text, usually a cue or an utterance.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Segment {
    /// `s0001`, `s0002`, … by position in [`Transcript::segments`] (more digits past 9999).
    /// Parsing the same bytes in the same mode gives the same ids.
    pub id: String,
    pub start_ms: u64,
    pub end_ms: u64,
    /// A [`Speaker::id`].
    #[serde(default)]
    pub speaker: Option<String>,
    /// Plain text: markup removed, entities decoded, whitespace collapsed to single spaces.
    pub text: String,
}

/// A speaker: `spk_1`, `spk_2`, … in order of first appearance, named as the source names them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Speaker {
    pub id: String,
    pub name: String,
}

/// Something the parser repaired, dropped or noticed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Warning {
    pub kind: WarningKind,
    /// 1-based line in the source text (after decoding), when the format has lines.
    #[serde(default)]
    pub line: Option<u32>,
    /// The segment it concerns, when that segment was kept.
    #[serde(default)]
    pub segment: Option<String>,
    pub message: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    /// The bytes were UTF-16 (with a byte order mark) and were converted.
    Transcoded,
    /// Bytes that are not UTF-8 were replaced with U+FFFD.
    InvalidUtf8,
    /// A WebVTT file without a valid `WEBVTT` first line.
    MissingHeader,
    /// A timestamp outside the format's syntax (e.g. `0:0:0.570`, a dot in SRT, minutes > 59)
    /// that was read anyway.
    NonstandardTimestamp,
    /// A cue whose timing line could not be read; the cue was dropped.
    InvalidTiming,
    /// A new cue started without the blank line before it.
    MissingBlankLine,
    /// A WebVTT line holding only spaces or tabs, read as a blank line (W3C counts it as text).
    WhitespaceLine,
    /// An SRT cue without its number.
    MissingIndex,
    /// SRT text that went on after a blank line; kept as part of the cue.
    TextAfterBlankLine,
    /// Lines outside any cue; dropped.
    OrphanText,
    /// A cue that ends before it starts; its end was moved (see the crate docs).
    EndBeforeStart,
    /// Cues out of order; they were sorted by start time.
    OutOfOrder,
    /// A vendor JSON entry with a missing or unreadable field; dropped or repaired.
    InvalidEntry,
    /// A segment with no text left after removing markup; dropped.
    EmptySegment,
    /// A repeated line of YouTube's rolling captions; removed.
    DuplicateDropped,
    /// The transcript has no timestamps; every segment starts and ends at 0.
    NoTimestamps,
}

impl WarningKind {
    /// A repair of input that breaks the format's rules: strict mode refuses the file instead.
    /// The others (empty segments, rolling-caption duplicates, missing timestamps in a format
    /// that has none) are notices in both modes.
    pub fn is_repair(self) -> bool {
        !matches!(
            self,
            WarningKind::EmptySegment | WarningKind::DuplicateDropped | WarningKind::NoTimestamps
        )
    }
}

/// Why a file could not be read as a transcript. `Display` is one sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the file is empty")]
    Empty,
    #[error("not a transcript: {0}")]
    NotATranscript(String),
    #[error("the {0} file has no cues with text")]
    NoCues(Format),
    #[error("{}", match line { Some(l) => format!("line {l}: {message}"), None => message.clone() })]
    Invalid { line: Option<u32>, message: String },
}

impl Transcript {
    /// The name of a speaker id.
    pub fn speaker_name(&self, id: &str) -> Option<&str> {
        self.speakers
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.name.as_str())
    }
}
