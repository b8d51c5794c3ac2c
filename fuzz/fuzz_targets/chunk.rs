#![no_main]
use libfuzzer_sys::fuzz_target;
use recap_transcript::{Mode, ParseOptions, TokenizerFamily, chunk, parse};

// Chunking any transcript covers every segment, in order, and terminates.
fuzz_target!(|input: (u16, u16, &[u8])| {
    let (window, overlap, data) = input;
    let Ok(t) = parse(data, &ParseOptions { mode: Mode::Lenient, file_name: None }) else {
        return;
    };
    let chunks = chunk(&t, u64::from(window), u64::from(overlap), TokenizerFamily::Other);
    assert_eq!(chunks.first().map(|c| c.first_segment), Some(0));
    assert_eq!(chunks.last().map(|c| c.last_segment), Some(t.segments.len() - 1));
    for w in chunks.windows(2) {
        assert!(w[1].first_segment > w[0].first_segment);
        assert!(w[1].first_segment <= w[0].last_segment + 1);
        assert!(w[1].last_segment > w[0].last_segment);
    }
});
