#![no_main]
use libfuzzer_sys::fuzz_target;
use recap_transcript::{Format, Mode, parse_as};

fuzz_target!(|data: &[u8]| {
    for format in [
        Format::WhisperJson,
        Format::DeepgramJson,
        Format::AssemblyaiJson,
        Format::AwsTranscribeJson,
    ] {
        for mode in [Mode::Strict, Mode::Lenient] {
            let _ = parse_as(data, format, mode);
        }
    }
});
