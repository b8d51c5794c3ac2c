//! The public API as the service uses it.
use recap_transcript::{
    Format, Mode, ParseError, ParseOptions, TokenizerFamily, Transcript, WarningKind, chunk,
    detect, estimate_tokens, parse,
};

fn lenient(s: &str, name: &str) -> Result<Transcript, ParseError> {
    parse(
        s.as_bytes(),
        &ParseOptions {
            mode: Mode::Lenient,
            file_name: Some(name),
        },
    )
}

fn strict(s: &str, name: &str) -> Result<Transcript, ParseError> {
    parse(
        s.as_bytes(),
        &ParseOptions {
            mode: Mode::Strict,
            file_name: Some(name),
        },
    )
}

fn speaker_of(t: &Transcript, i: usize) -> Option<&str> {
    t.segments[i]
        .speaker
        .as_deref()
        .and_then(|id| t.speaker_name(id))
}

#[test]
fn errors_are_one_clear_sentence() {
    assert_eq!(lenient("", "a.srt"), Err(ParseError::Empty));
    assert_eq!(
        lenient(" \n\t\n", "a.srt").unwrap_err().to_string(),
        "the file is empty"
    );
    let e = lenient("fn main() {}\n", "main.rs").unwrap_err();
    assert!(matches!(e, ParseError::NotATranscript(_)), "{e:?}");
    assert!(e.to_string().starts_with("not a transcript: "), "{e}");
    assert_eq!(
        lenient("WEBVTT\n\nNOTE only a comment\n", "a.vtt")
            .unwrap_err()
            .to_string(),
        "the WebVTT file has no cues with text"
    );
    let e = strict("1\n00:00:01.000 --> 00:00:02,000\nhi\n", "a.srt").unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 2: the timing line `00:00:01.000 --> 00:00:02,000` has a dot before the milliseconds"
    );
    // Strict mode says what is wrong, not what lenient mode would have done about it.
    let e = strict("1\n00:00:01,000 --> 00:00:02,000\nhi\n\nthere\n", "b.srt").unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 5: the text of a cue goes on after a blank line"
    );
    // The problem may quote the file, "; " and all.
    let e = strict(
        "stray; text\n\n1\n00:00:01,000 --> 00:00:02,000\nhi\n",
        "c.srt",
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "line 1: text outside any cue: `stray; text`");
    let warned = lenient("1\n00:00:01,000 --> 00:00:02,000\nhi\n\nthere\n", "b.srt").unwrap();
    assert_eq!(
        warned.warnings[0].message,
        "the text of a cue goes on after a blank line; kept in that cue"
    );
    let e = lenient("{\"hello\": 1}", "a.json").unwrap_err();
    assert!(e.to_string().contains("not from Whisper"), "{e}");
}

#[test]
fn detection_uses_content_before_the_name() {
    let srt = b"1\n00:00:01,000 --> 00:00:02,000\nhi\n";
    assert_eq!(
        detect(srt, Some("notes.vtt")),
        Some(Format::Webvtt),
        "no header: the name decides"
    );
    assert_eq!(detect(srt, Some("notes.txt")), Some(Format::Srt));
    assert_eq!(
        detect(b"WEBVTT\n\n00:01.000 --> 00:02.000\nhi", Some("x.srt")),
        Some(Format::Webvtt)
    );
    assert_eq!(
        detect(b"Alice: hi\nBob: hello\n", None),
        Some(Format::PlainText)
    );
    assert_eq!(
        detect(b"Just a sentence: with a colon.\nAnd prose.\n", None),
        None
    );
    assert_eq!(detect(b"<html><body>hi</body></html>", None), None);
    assert_eq!(
        detect(b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f\x10", None),
        None
    );
}

#[test]
fn plain_text_turns_get_speakers_and_times() {
    let t = lenient(
        "[00:00:05] Alice: Hello there.\nStill Alice.\n[00:00:09] Bob: Hi Alice.\n[00:01:00] Alice: Bye.\n",
        "call.txt",
    )
    .expect("turns");
    assert_eq!(t.format, Format::PlainText);
    let got: Vec<_> = t
        .segments
        .iter()
        .map(|s| (s.start_ms, s.end_ms, s.text.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (5000, 9000, "Hello there. Still Alice."),
            (9000, 60_000, "Hi Alice."),
            (60_000, 60_000, "Bye.")
        ]
    );
    assert_eq!(
        t.speakers
            .iter()
            .map(|s| (s.id.as_str(), s.name.as_str()))
            .collect::<Vec<_>>(),
        [("spk_1", "Alice"), ("spk_2", "Bob")]
    );
    assert_eq!(speaker_of(&t, 2), Some("Alice"));

    let otter = lenient(
        "Jane Doe  0:00\nWelcome everyone.\n\nJohn  1:05\nThanks Jane.\n",
        "otter.txt",
    )
    .expect("otter");
    assert_eq!(otter.segments.len(), 2);
    assert_eq!(
        (otter.segments[1].start_ms, otter.segments[1].text.as_str()),
        (65_000, "Thanks Jane.")
    );
    assert_eq!(speaker_of(&otter, 0), Some("Jane Doe"));

    let untimed = lenient("Alice: one\nBob: two\n", "x.txt").expect("untimed");
    assert!(
        untimed
            .warnings
            .iter()
            .any(|w| w.kind == WarningKind::NoTimestamps)
    );
}

#[test]
fn zoom_speaker_prefixes_are_lenient_only() {
    let zoom = "WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.000\nAlice Smith: Good morning.\n\n2\n00:00:02.500 --> 00:00:04.000\nBob: Morning!\n";
    let t = lenient(zoom, "zoom.vtt").expect("zoom");
    assert_eq!(speaker_of(&t, 0), Some("Alice Smith"));
    assert_eq!(t.segments[0].text, "Good morning.");
    let s = strict(zoom, "zoom.vtt").expect("valid WebVTT");
    assert!(s.speakers.is_empty());
    assert_eq!(s.segments[0].text, "Alice Smith: Good morning.");
}

#[test]
fn srt_repairs_are_warned_and_located() {
    let srt = "2\n00:00:05,000 --> 00:00:01,000\nbackwards\n\n1\n00:00:02,000 --> 00:00:03,000\nfirst\n\n3\n00:00:09,000 --> 00:00:10,000\n<i>last</i> &amp; done\n";
    let t = lenient(srt, "x.srt").expect("repairs");
    let got: Vec<_> = t
        .segments
        .iter()
        .map(|s| (s.id.as_str(), s.start_ms, s.end_ms, s.text.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("s0001", 2000, 3000, "first"),
            ("s0002", 5000, 9000, "backwards"),
            ("s0003", 9000, 10_000, "last & done")
        ]
    );
    let kinds: Vec<_> = t
        .warnings
        .iter()
        .map(|w| (w.kind, w.line, w.segment.as_deref()))
        .collect();
    assert!(
        kinds.contains(&(WarningKind::EndBeforeStart, Some(2), Some("s0002"))),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(WarningKind::OutOfOrder, Some(6), Some("s0001"))),
        "{kinds:?}"
    );
    assert!(strict(srt, "x.srt").is_err());
    // Same bytes, same ids and output.
    assert_eq!(lenient(srt, "x.srt").expect("again"), t);
}

#[test]
fn json_shape_uses_the_documented_names() {
    let t = lenient("WEBVTT\n\n00:01.000 --> 00:02.000\n<v Ann>Hi\n", "a.vtt").expect("vtt");
    let v = serde_json::to_value(&t).expect("json");
    assert_eq!(v["format"], "webvtt");
    assert_eq!(
        v["segments"][0],
        serde_json::json!({"id": "s0001", "start_ms": 1000, "end_ms": 2000, "speaker": "spk_1", "text": "Hi"})
    );
    assert_eq!(
        v["speakers"][0],
        serde_json::json!({"id": "spk_1", "name": "Ann"})
    );
    assert_eq!(v["duration_ms"], 2000);
    assert!(v.get("language").is_none());
    assert_eq!(v["warnings"], serde_json::json!([]));
}

#[test]
fn token_estimates() {
    assert_eq!(estimate_tokens("hello world", TokenizerFamily::OpenAi), 2);
    assert_eq!(estimate_tokens("abcdefgh", TokenizerFamily::Anthropic), 2);
    assert_eq!(estimate_tokens("abcdefghi", TokenizerFamily::Gemini), 3);
    assert_eq!(estimate_tokens("日本語", TokenizerFamily::Other), 3);
    let t = lenient("Alice: one two three\nBob: four five\n", "x.txt").expect("t");
    assert_eq!(
        t.token_estimate(TokenizerFamily::Other),
        estimate_tokens("one two three", TokenizerFamily::Other)
            + estimate_tokens("four five", TokenizerFamily::Other)
    );
}

/// OpenAI counts are made once (at upload) and carried with the transcript: chunking for
/// OpenAI models reads them, and falls back to the estimate for a transcript without them.
#[test]
fn openai_counts_are_stored_with_the_transcript_and_chunking_reads_them() {
    // "hello world" is 2 o200k tokens; the heuristic says 3 (11 chars / 4, rounded up).
    let mut t = lenient("Alice: hello world\nBob: 日本語のテキストです。\n", "x.txt").expect("t");
    assert!(t.openai_tokens.is_empty(), "the parser does not count");
    let heuristic = t.segment_tokens(TokenizerFamily::OpenAi);
    assert_eq!(heuristic[0], 3);

    t.count_openai_tokens();
    let exact: Vec<u64> = t
        .segments
        .iter()
        .map(|s| estimate_tokens(&s.text, TokenizerFamily::OpenAi))
        .collect();
    assert_eq!(exact[0], 2);
    assert_eq!(t.segment_tokens(TokenizerFamily::OpenAi), exact);
    assert_eq!(
        t.token_estimate(TokenizerFamily::OpenAi),
        exact.iter().sum::<u64>()
    );
    // The other families do not use OpenAI's counts.
    assert_eq!(t.segment_tokens(TokenizerFamily::Anthropic), heuristic);

    // Stored and read back with the transcript (as the upload trigger writes it to the files).
    let json = serde_json::to_value(&t).expect("encodes");
    assert_eq!(json["openai_tokens"], serde_json::json!(exact));
    let back: Transcript = serde_json::from_value(json).expect("decodes");
    assert_eq!(back.segment_tokens(TokenizerFamily::OpenAi), exact);
    // A file from before the counts: no field, and the estimate instead.
    let mut old = serde_json::to_value(&t).expect("encodes");
    old.as_object_mut()
        .expect("an object")
        .remove("openai_tokens");
    let old: Transcript = serde_json::from_value(old).expect("decodes");
    assert_eq!(old.segment_tokens(TokenizerFamily::OpenAi), heuristic);
    // Counts that do not cover every segment are not trusted.
    let mut short = t.clone();
    short.openai_tokens.pop();
    assert_eq!(short.segment_tokens(TokenizerFamily::OpenAi), heuristic);

    // Spread from an exact total for a transcript without counts: never below the estimate,
    // and together at least the total.
    let mut spread = old.clone();
    spread.spread_openai_tokens(100);
    let shares = spread.segment_tokens(TokenizerFamily::OpenAi);
    assert!(shares.iter().sum::<u64>() >= 100, "{shares:?}");
    assert!(
        shares.iter().zip(&heuristic).all(|(s, h)| s >= h),
        "{shares:?}"
    );
    let mut low = old.clone();
    low.spread_openai_tokens(1);
    assert_eq!(low.segment_tokens(TokenizerFamily::OpenAi), heuristic);
    // Counts already there are kept.
    let mut kept = t.clone();
    kept.spread_openai_tokens(1_000);
    assert_eq!(kept.segment_tokens(TokenizerFamily::OpenAi), exact);

    // A window of 2 holds "hello world" by its count (2), not by the estimate (3).
    let by_count = chunk(&t, 2, 0, TokenizerFamily::OpenAi);
    assert_eq!(by_count[0].tokens, 2);
    assert_eq!(by_count[0].last_segment, 0);
    assert_eq!(chunk(&old, 2, 0, TokenizerFamily::OpenAi)[0].tokens, 3);
}

fn turns_transcript() -> Transcript {
    // Turns: A(3 segments) B(1) A(2) C(4); each text is 40 ASCII chars = 10 tokens (heuristic).
    let mut s = String::new();
    let text = "word word word word word word word word";
    for (i, who) in ["A", "A", "A", "B", "A", "A", "C", "C", "C", "C"]
        .iter()
        .enumerate()
    {
        s.push_str(&format!("[00:00:{i:02}] Speaker{who}: {text}.\n"));
    }
    lenient(&s, "t.txt").expect("turns")
}

#[test]
fn chunks_cut_between_turns_with_overlap() {
    let t = turns_transcript();
    let fam = TokenizerFamily::Other;
    assert!(
        t.segments
            .iter()
            .all(|s| estimate_tokens(&s.text, fam) == 10)
    );
    assert_eq!(
        chunk(&t, 1000, 50, fam),
        [recap_transcript::Chunk {
            first_segment: 0,
            last_segment: 9,
            tokens: 100
        }]
    );

    let chunks = chunk(&t, 45, 10, fam);
    let spans: Vec<_> = chunks
        .iter()
        .map(|c| (c.first_segment, c.last_segment, c.tokens))
        .collect();
    // Turns A+B (40); then B again as overlap (10) and A (20); then C (40), whose turn would
    // not fit with any overlap, so the overlap gives way.
    assert_eq!(spans, [(0, 3, 40), (3, 5, 30), (6, 9, 40)]);
    for c in &chunks {
        assert!(c.tokens <= 45);
    }
    assert_eq!(
        chunks.last().map(|c| c.last_segment),
        Some(9),
        "covers everything"
    );
    for w in chunks.windows(2) {
        assert!(
            w[1].first_segment > w[0].first_segment && w[1].first_segment <= w[0].last_segment + 1
        );
        assert!(
            w[1].last_segment > w[0].last_segment,
            "each chunk brings new segments"
        );
    }
    // A turn longer than the window is cut between its segments; a segment longer than the
    // window is a chunk of its own.
    let tiny = chunk(&t, 5, 0, fam);
    assert_eq!(tiny.len(), 10);
    assert!(
        tiny.iter()
            .all(|c| c.first_segment == c.last_segment && c.tokens == 10)
    );
}

#[test]
fn sorting_sees_past_dropped_rolling_repeats() {
    // Found by fuzzing: a dropped repeat between two cues hid that they were out of order.
    let vtt = "WEBVTT\n\n00:00:10.000 --> 00:00:11.000\nhello<00:00:10.500><c> there</c>\n\n\
               00:00:11.000 --> 00:00:11.010\nhello there\n\n00:00:05.000 --> 00:00:06.000\nearlier\n";
    let t = lenient(vtt, "yt.vtt").expect("rolling");
    let got: Vec<_> = t
        .segments
        .iter()
        .map(|s| (s.start_ms, s.text.as_str()))
        .collect();
    assert_eq!(got, [(5000, "earlier"), (10_000, "hello there")]);
    assert!(t.warnings.iter().any(|w| w.kind == WarningKind::OutOfOrder));
}

#[test]
fn webvtt_output_never_writes_an_arrow() {
    // Found by fuzzing: a speaker name ending in `-` made `-->` with the tag's `>`.
    let t = lenient("Jane n--  5:00\nhello\nBob  5:10\nhi\n", "otter.txt").expect("otter");
    assert_eq!(t.speakers[0].name, "Jane n--");
    let back = parse(
        t.to_webvtt().as_bytes(),
        &ParseOptions {
            mode: Mode::Strict,
            file_name: None,
        },
    )
    .expect("valid WebVTT");
    assert_eq!(back.segments, t.segments);
    assert_eq!(back.speakers, t.speakers);
}
