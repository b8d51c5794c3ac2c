//! Bytes → normalized transcript throughput, beside fasrt's raw parse of the same bytes.
//!
//! `cargo bench -p recap-transcript` (release profile as deployed: LTO, this crate at opt-level 3).
//! fasrt is timed iterating its cues and touching each body (no text cleaning, no ids, no
//! output structure), so the ratio is ours-with-normalization against its parse alone.
use std::hint::black_box;
use std::time::{Duration, Instant};

use recap_transcript::{Format, Mode, parse_as};

const MIB: f64 = 1024.0 * 1024.0;

/// Best of `runs` timings (after one warm-up), in MiB/s.
fn rate(bytes: usize, runs: usize, mut f: impl FnMut() -> usize) -> (f64, usize) {
    let mut out = f();
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        out = black_box(f());
        best = best.min(t.elapsed());
    }
    (bytes as f64 / MIB / best.as_secs_f64(), out)
}

fn fasrt_srt(s: &str) -> usize {
    fasrt::srt::Parser::lossy(s)
        .filter_map(Result::ok)
        .fold(0, |n, e| {
            black_box(e.body_ref().len());
            n + 1
        })
}

fn fasrt_vtt(s: &str) -> usize {
    fasrt::vtt::Parser::new(s)
        .filter_map(Result::ok)
        .filter_map(|b| match b {
            fasrt::vtt::Block::Cue(c) => Some(black_box(c.body_ref().len())),
            _ => None,
        })
        .count()
}

fn ours(bytes: &[u8], format: Format, mode: Mode) -> usize {
    parse_as(bytes, format, mode).map_or(0, |t| t.segments.len())
}

const LINES: &[&str] = &[
    "So the plan for the quarter is to ship the new onboarding flow,",
    "<i>and then</i> we measure retention &amp; activation weekly.",
    "I think that's right — but the data pipeline needs work first.",
    "Can we get the dashboard before the board meeting on Friday?",
    "Ça dépend de l'équipe ; ils sont déjà très occupés.",
    "<b>Yes.</b> Let's make it the first item tomorrow.",
];

fn stamp(ms: u64, sep: char) -> String {
    format!(
        "{:02}:{:02}:{:02}{sep}{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// An SRT and a WebVTT file of at least `min` bytes with the same cues.
fn generate(min: usize) -> (String, String) {
    let mut srt = String::with_capacity(min + 4096);
    let mut vtt = String::with_capacity(min + 4096);
    vtt.push_str("WEBVTT\n\n");
    let speakers = ["Alice Martin", "Bob", "Chandra Rao"];
    let mut i = 0u64;
    while srt.len() < min || vtt.len() < min {
        let start = i * 2500;
        let end = start + 2300;
        let a = LINES[(i % 6) as usize];
        let b = LINES[((i * 7 + 3) % 6) as usize];
        srt.push_str(&format!(
            "{}\n{} --> {}\n{a}\n{b}\n\n",
            i + 1,
            stamp(start, ','),
            stamp(end, ',')
        ));
        vtt.push_str(&format!(
            "{}\n{} --> {} align:start position:10%\n<v {}>{a}\n{b}\n\n",
            i + 1,
            stamp(start, '.'),
            stamp(end, '.'),
            speakers[(i % 3) as usize]
        ));
        i += 1;
    }
    (srt, vtt)
}

/// `BENCH_ONLY=srt` runs only the rows whose name contains `srt`.
fn wanted(name: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |f| name.contains(&f))
}

fn row(name: &str, bytes: usize, ours: (f64, usize), theirs: Option<(f64, usize)>) {
    match theirs {
        Some((t, tn)) => println!(
            "{name:<44} {:>8.2} MiB  ours {:>7.1} MiB/s ({:>6} segments)  fasrt {:>7.1} MiB/s ({:>6} cues)  ratio {:.2}x",
            bytes as f64 / MIB,
            ours.0,
            ours.1,
            t,
            tn,
            ours.0 / t
        ),
        None => println!(
            "{name:<44} {:>8.2} MiB  ours {:>7.1} MiB/s ({:>6} segments)",
            bytes as f64 / MIB,
            ours.0,
            ours.1
        ),
    }
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    println!("best of {runs} runs; ours = bytes → normalized Transcript (lenient unless noted)\n");

    let (srt, vtt) = generate(12 * 1024 * 1024);
    if wanted("generated.srt") {
        row(
            "generated.srt",
            srt.len(),
            rate(srt.len(), runs, || {
                ours(srt.as_bytes(), Format::Srt, Mode::Lenient)
            }),
            Some(rate(srt.len(), runs, || fasrt_srt(&srt))),
        );
    }
    if wanted("generated.srt (strict)") {
        row(
            "generated.srt (strict)",
            srt.len(),
            rate(srt.len(), runs, || {
                ours(srt.as_bytes(), Format::Srt, Mode::Strict)
            }),
            Some(rate(srt.len(), runs, || fasrt_srt(&srt))),
        );
    }
    if wanted("generated.vtt") {
        row(
            "generated.vtt",
            vtt.len(),
            rate(vtt.len(), runs, || {
                ours(vtt.as_bytes(), Format::Webvtt, Mode::Lenient)
            }),
            Some(rate(vtt.len(), runs, || fasrt_vtt(&vtt))),
        );
    }
    if wanted("generated.vtt (strict)") {
        row(
            "generated.vtt (strict)",
            vtt.len(),
            rate(vtt.len(), runs, || {
                ours(vtt.as_bytes(), Format::Webvtt, Mode::Strict)
            }),
            Some(rate(vtt.len(), runs, || fasrt_vtt(&vtt))),
        );
    }

    // The corpus: each file many times over, so that timings are not all overhead.
    println!();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let files = [
        ("webvtt-py/netflix_chicas_del_cable.vtt", Format::Webvtt),
        ("webvtt-py/sample.vtt", Format::Webvtt),
        ("webvtt-py/youtube_dl.vtt", Format::Webvtt),
        ("webvtt-py/styles2.srt", Format::Srt),
        ("srt/monsters.srt", Format::Srt),
        ("vendor-json/dg_speakers.json", Format::DeepgramJson),
        (
            "vendor-json/aws_transcribe_expert.json",
            Format::AwsTranscribeJson,
        ),
        (
            "vendor-json/assemblyai_utterances.json",
            Format::AssemblyaiJson,
        ),
        ("vendor-json/whisper_timestamped.json", Format::WhisperJson),
        ("youtube/transcript.xml.static", Format::YoutubeXml),
    ];
    for (rel, format) in files {
        if !wanted(rel) {
            continue;
        }
        let bytes = std::fs::read(dir.join(rel)).expect("corpus file");
        let reps = (4 * 1024 * 1024 / bytes.len()).max(1);
        let total = bytes.len() * reps;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mine = rate(total, runs, || {
            (0..reps)
                .map(|_| ours(&bytes, format, Mode::Lenient))
                .sum::<usize>()
                / reps
        });
        let theirs = match format {
            Format::Srt => Some(rate(total, runs, || {
                (0..reps).map(|_| fasrt_srt(&text)).sum::<usize>() / reps
            })),
            Format::Webvtt => Some(rate(total, runs, || {
                (0..reps).map(|_| fasrt_vtt(&text)).sum::<usize>() / reps
            })),
            _ => None,
        };
        row(&format!("{rel} ×{reps}"), total, mine, theirs);
    }
}
