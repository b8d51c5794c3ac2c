#![no_main]
use libfuzzer_sys::fuzz_target;
use recap_transcript::{Mode, ParseOptions, detect, parse};

// Detection, then the whole parse in both modes, on any bytes.
fuzz_target!(|data: &[u8]| {
    let _ = detect(data, Some("f.vtt"));
    for mode in [Mode::Strict, Mode::Lenient] {
        let _ = parse(data, &ParseOptions { mode, file_name: None });
    }
});
