//! Normalized → WebVTT → parse gives the same segments and speakers.
use proptest::prelude::*;
use recap_transcript::{Format, Mode, Segment, Speaker, Transcript, parse_as};

const NAMES: &[&str] = &["Alice", "Bob & Co", "Dr. <Who>", "Zoë 日本", "Jean--"];

fn transcript(
    items: Vec<(u64, u64, Option<usize>, String)>,
    language: Option<String>,
) -> Option<Transcript> {
    let mut segments = Vec::new();
    let mut speakers: Vec<Speaker> = Vec::new();
    let mut start = 0u64;
    for (gap, dur, who, raw) in items {
        let text = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            continue;
        }
        start += gap;
        let speaker = who.map(|w| {
            let name = NAMES[w];
            match speakers.iter().find(|s| s.name == name) {
                Some(s) => s.id.clone(),
                None => {
                    let id = format!("spk_{}", speakers.len() + 1);
                    speakers.push(Speaker {
                        id: id.clone(),
                        name: name.into(),
                    });
                    id
                }
            }
        });
        segments.push(Segment {
            id: format!("s{:04}", segments.len() + 1),
            start_ms: start,
            end_ms: start + dur,
            speaker,
            text,
        });
    }
    let duration_ms = segments.iter().map(|s| s.end_ms).max()?;
    Some(Transcript {
        format: Format::Webvtt,
        segments,
        speakers,
        duration_ms,
        language,
        warnings: Vec::new(),
        openai_tokens: Vec::new(),
    })
}

fn items() -> impl Strategy<Value = Vec<(u64, u64, Option<usize>, String)>> {
    prop::collection::vec(
        (
            0u64..5_000_000,
            0u64..20_000,
            prop::option::of(0usize..NAMES.len()),
            "[a-zA-Z0-9 &<>;:.,'\"!?é日\\-]{0,40}",
        ),
        1..30,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn webvtt_round_trip_keeps_segments(items in items(), lang in prop::option::of("[a-z]{2}")) {
        let Some(t) = transcript(items, lang) else { return Ok(()) };
        let vtt = t.to_webvtt();
        let back = parse_as(vtt.as_bytes(), Format::Webvtt, Mode::Strict)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{vtt}")))?;
        prop_assert_eq!(&back.segments, &t.segments, "{}", vtt);
        prop_assert_eq!(&back.speakers, &t.speakers);
        prop_assert_eq!(&back.language, &t.language);
        prop_assert!(back.warnings.is_empty(), "{:?}", back.warnings);

        // Lenient reads the same, unless a text looks like Zoom's `Name: text`.
        if t.segments.iter().all(|s| !s.text.contains(':')) {
            let lenient = parse_as(vtt.as_bytes(), Format::Webvtt, Mode::Lenient)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&lenient.segments, &t.segments);
        }
    }
}
