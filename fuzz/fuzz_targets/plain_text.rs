#![no_main]
use libfuzzer_sys::fuzz_target;
use recap_transcript::{Format, Mode, parse_as};

// The parser in both modes; what lenient reads must survive the WebVTT round trip.
fuzz_target!(|data: &[u8]| {
    let _ = parse_as(data, Format::PlainText, Mode::Strict);
    if let Ok(t) = parse_as(data, Format::PlainText, Mode::Lenient) {
        let back = parse_as(t.to_webvtt().as_bytes(), Format::Webvtt, Mode::Strict)
            .expect("our WebVTT is valid WebVTT");
        assert_eq!(back.segments.len(), t.segments.len());
    }
});
