//! Vendor JSON: Whisper, Deepgram, AssemblyAI, AWS Transcribe.
//!
//! Times in seconds (numbers, or AWS's decimal strings) are rounded to milliseconds;
//! AssemblyAI's are milliseconds already. Speakers: Deepgram's `0` is "Speaker 1", AWS's
//! `spk_0` is "Speaker 1", AssemblyAI's `A` is "Speaker A"; other labels (WhisperX's
//! `SPEAKER_00`) are kept as written. Without utterances or segments, words are grouped: a new
//! segment at a change of speaker, after a word that ends a sentence, after a pause of 1.5 s
//! or more, or after 60 words.
use std::rc::Rc;

use serde_json::Value;

use crate::build::{self, Draft, Finish};
use crate::input::Diag;
use crate::model::{Format, Mode, ParseError, Transcript, WarningKind};
use crate::time;

/// Which vendor wrote this JSON object, from its keys.
pub(crate) fn classify(v: &Value) -> Option<Format> {
    let obj = v.as_object()?;
    if let Some(results) = obj.get("results").and_then(Value::as_object) {
        if results.contains_key("channels") || results.contains_key("utterances") {
            return Some(Format::DeepgramJson);
        }
        if results.contains_key("items")
            || results.contains_key("transcripts")
            || results.contains_key("audio_segments")
        {
            return Some(Format::AwsTranscribeJson);
        }
    }
    if obj.get("segments").is_some_and(Value::is_array) {
        return Some(Format::WhisperJson);
    }
    if obj.contains_key("audio_url")
        || obj.contains_key("acoustic_model")
        || obj.get("utterances").is_some_and(Value::is_array)
    {
        return Some(Format::AssemblyaiJson);
    }
    if obj.get("words").is_some_and(Value::is_array) && obj.contains_key("text") {
        return Some(Format::WhisperJson);
    }
    None
}

pub(crate) fn parse(
    v: &Value,
    format: Format,
    mode: Mode,
    mut diag: Diag,
) -> Result<Transcript, ParseError> {
    let mut r = Read {
        diag: &mut diag,
        drafts: Vec::new(),
    };
    let (language, media_duration_ms) = match format {
        Format::DeepgramJson => r.deepgram(v),
        Format::AssemblyaiJson => r.assemblyai(v),
        Format::AwsTranscribeJson => r.aws(v),
        _ => r.whisper(v),
    };
    let drafts = r.drafts;
    build::finish(
        Finish {
            format,
            mode,
            language,
            media_duration_ms,
        },
        drafts,
        diag,
    )
}

fn secs(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => time::seconds_to_ms(n.as_f64()?),
        Value::String(s) => time::decimal_seconds_to_ms(s),
        _ => None,
    }
}

fn millis(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| time::seconds_to_ms(n.as_f64()? / 1000.0)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn str_of<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn arr(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// "Speaker 1" for a zero-based number or `spk_0`; other labels as written.
fn speaker_name(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Number(n) => n
            .as_u64()
            .map(|n| format!("Speaker {}", n.saturating_add(1))),
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(
            match s.strip_prefix("spk_").and_then(|n| n.parse::<u64>().ok()) {
                Some(n) => format!("Speaker {}", n.saturating_add(1)),
                None if s.len() == 1 && s.bytes().all(|b| b.is_ascii_uppercase()) => {
                    format!("Speaker {s}")
                }
                None => s.trim().to_owned(),
            },
        ),
        _ => None,
    }
}

struct Word {
    start: u64,
    end: u64,
    text: String,
    speaker: Option<String>,
}

fn ends_sentence(w: &str) -> bool {
    w.ends_with(['.', '?', '!', '…', '。', '？', '！'])
}

struct Read<'d> {
    diag: &'d mut Diag,
    drafts: Vec<Draft>,
}

impl Read<'_> {
    fn bad(&mut self, what: &str, index: usize) {
        self.diag.warn(
            WarningKind::InvalidEntry,
            None,
            format!("{what} {index} has no usable start or end time; dropped"),
        );
    }

    fn push(&mut self, start: u64, end: u64, speaker: Option<String>, text: &str) {
        self.drafts.push(Draft {
            start_ms: start,
            end_ms: end,
            speaker: speaker.map(Rc::from),
            text: collapse(text),
            line: None,
            dropped: false,
        });
    }

    fn words(&mut self, words: Vec<Word>) {
        let mut cur: Option<Draft> = None;
        let mut count = 0;
        let mut last_end = 0;
        let mut last_text_ends = false;
        for w in words {
            let split = match &cur {
                None => true,
                Some(d) => {
                    d.speaker.as_deref() != w.speaker.as_deref()
                        || last_text_ends
                        || w.start.saturating_sub(last_end) >= 1500
                        || count >= 60
                }
            };
            if split {
                if let Some(d) = cur.take() {
                    self.drafts.push(d);
                }
                cur = Some(Draft {
                    start_ms: w.start,
                    end_ms: w.end,
                    speaker: w.speaker.as_deref().map(Rc::from),
                    ..Draft::default()
                });
                count = 0;
            }
            if let Some(d) = cur.as_mut() {
                if !d.text.is_empty() {
                    d.text.push(' ');
                }
                d.text.push_str(w.text.trim());
                d.end_ms = d.end_ms.max(w.end);
            }
            count += 1;
            last_end = w.end;
            last_text_ends = ends_sentence(&w.text);
        }
        if let Some(d) = cur {
            self.drafts.push(d);
        }
    }

    fn whisper(&mut self, v: &Value) -> (Option<String>, Option<u64>) {
        let language = str_of(v, "language").map(str::to_owned);
        let duration = secs(v.get("duration"));
        let segments = arr(v.get("segments"));
        if !segments.is_empty() {
            for (i, s) in segments.iter().enumerate() {
                match (secs(s.get("start")), secs(s.get("end"))) {
                    (Some(a), Some(b)) => {
                        let speaker = speaker_name(s.get("speaker"));
                        self.push(a, b, speaker, str_of(s, "text").unwrap_or(""));
                    }
                    _ => self.bad("segment", i),
                }
            }
        } else {
            let words = self.collect_words(
                arr(v.get("words")),
                "word",
                |w| str_of(w, "word").or_else(|| str_of(w, "text")),
                secs,
            );
            self.words(words);
        }
        (language, duration)
    }

    fn collect_words(
        &mut self,
        items: &[Value],
        what: &str,
        text: impl Fn(&Value) -> Option<&str>,
        time: fn(Option<&Value>) -> Option<u64>,
    ) -> Vec<Word> {
        let mut words = Vec::with_capacity(items.len());
        for (i, w) in items.iter().enumerate() {
            match (time(w.get("start")), time(w.get("end"))) {
                (Some(start), Some(end)) => words.push(Word {
                    start,
                    end,
                    text: text(w).unwrap_or("").to_owned(),
                    speaker: speaker_name(w.get("speaker")),
                }),
                _ => self.bad(what, i),
            }
        }
        words
    }

    fn deepgram(&mut self, v: &Value) -> (Option<String>, Option<u64>) {
        let results = &v["results"];
        let channels = arr(results.get("channels"));
        let language = channels
            .first()
            .and_then(|c| str_of(c, "detected_language"))
            .map(str::to_owned);
        let duration = secs(v.pointer("/metadata/duration"));
        let multichannel = channels.len() > 1;
        let utterances = arr(results.get("utterances"));
        if !utterances.is_empty() {
            for (i, u) in utterances.iter().enumerate() {
                match (secs(u.get("start")), secs(u.get("end"))) {
                    (Some(a), Some(b)) => {
                        let speaker = speaker_name(u.get("speaker")).or_else(|| {
                            multichannel
                                .then(|| u.get("channel").and_then(Value::as_u64))
                                .flatten()
                                .map(|c| format!("Channel {}", c + 1))
                        });
                        self.push(a, b, speaker, str_of(u, "transcript").unwrap_or(""));
                    }
                    _ => self.bad("utterance", i),
                }
            }
            return (language, duration);
        }
        for (c, channel) in channels.iter().enumerate() {
            let Some(alt) = arr(channel.get("alternatives")).first() else {
                continue;
            };
            let channel_name = multichannel.then(|| format!("Channel {}", c + 1));
            let paragraphs = arr(alt.pointer("/paragraphs/paragraphs"));
            if !paragraphs.is_empty() {
                for p in paragraphs {
                    let speaker = speaker_name(p.get("speaker")).or_else(|| channel_name.clone());
                    for (i, s) in arr(p.get("sentences")).iter().enumerate() {
                        match (secs(s.get("start")), secs(s.get("end"))) {
                            (Some(a), Some(b)) => {
                                self.push(a, b, speaker.clone(), str_of(s, "text").unwrap_or(""))
                            }
                            _ => self.bad("sentence", i),
                        }
                    }
                }
                continue;
            }
            let mut words = self.collect_words(
                arr(alt.get("words")),
                "word",
                |w| str_of(w, "punctuated_word").or_else(|| str_of(w, "word")),
                secs,
            );
            if let Some(name) = &channel_name {
                for w in &mut words {
                    w.speaker.get_or_insert_with(|| name.clone());
                }
            }
            self.words(words);
        }
        (language, duration)
    }

    fn assemblyai(&mut self, v: &Value) -> (Option<String>, Option<u64>) {
        let language = str_of(v, "language_code").map(str::to_owned);
        let duration = secs(v.get("audio_duration"));
        let utterances = arr(v.get("utterances"));
        if !utterances.is_empty() {
            for (i, u) in utterances.iter().enumerate() {
                match (millis(u.get("start")), millis(u.get("end"))) {
                    (Some(a), Some(b)) => {
                        let speaker = speaker_name(u.get("speaker"));
                        self.push(a, b, speaker, str_of(u, "text").unwrap_or(""));
                    }
                    _ => self.bad("utterance", i),
                }
            }
        } else if !arr(v.get("words")).is_empty() {
            let words =
                self.collect_words(arr(v.get("words")), "word", |w| str_of(w, "text"), millis);
            self.words(words);
        } else if let Some(text) = str_of(v, "text") {
            self.diag.warn(
                WarningKind::NoTimestamps,
                None,
                "the transcript has no utterances or words with times; its text is one segment at 0 ms",
            );
            self.push(0, 0, None, text);
        }
        (language, duration)
    }

    fn aws(&mut self, v: &Value) -> (Option<String>, Option<u64>) {
        let results = &v["results"];
        let language = str_of(results, "language_code").map(str::to_owned);
        let segments = arr(results.get("audio_segments"));
        if !segments.is_empty() {
            for (i, s) in segments.iter().enumerate() {
                match (secs(s.get("start_time")), secs(s.get("end_time"))) {
                    (Some(a), Some(b)) => {
                        let speaker = speaker_name(s.get("speaker_label"));
                        self.push(a, b, speaker, str_of(s, "transcript").unwrap_or(""));
                    }
                    _ => self.bad("audio segment", i),
                }
            }
            return (language, None);
        }
        // Older jobs put speakers in `speaker_labels.segments[].items[]`, keyed by start time.
        let mut by_start: std::collections::HashMap<&str, &Value> =
            std::collections::HashMap::new();
        for seg in arr(results.pointer("/speaker_labels/segments")) {
            for it in arr(seg.get("items")) {
                if let (Some(t), Some(label)) = (str_of(it, "start_time"), it.get("speaker_label"))
                {
                    by_start.insert(t, label);
                }
            }
        }
        let mut words: Vec<Word> = Vec::new();
        for (i, it) in arr(results.get("items")).iter().enumerate() {
            let content = it
                .pointer("/alternatives/0/content")
                .and_then(Value::as_str)
                .unwrap_or("");
            if str_of(it, "type") == Some("punctuation") {
                if let Some(w) = words.last_mut() {
                    w.text.push_str(content);
                }
                continue;
            }
            match (secs(it.get("start_time")), secs(it.get("end_time"))) {
                (Some(start), Some(end)) => {
                    let label = it.get("speaker_label").or_else(|| {
                        str_of(it, "start_time").and_then(|t| by_start.get(t).copied())
                    });
                    words.push(Word {
                        start,
                        end,
                        text: content.to_owned(),
                        speaker: speaker_name(label),
                    });
                }
                _ => self.bad("item", i),
            }
        }
        self.words(words);
        (language, None)
    }
}
