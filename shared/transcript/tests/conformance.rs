//! Every file of the corpus, with a pass/fail table per suite (`cargo test -p recap-transcript
//! --test conformance -- --nocapture` prints it; a failure message carries it too).
mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};

use common::wpt::{self, CueView};
use common::{Status, Table, read};
use recap_transcript::{
    Format, Mode, ParseError, ParseOptions, RawCue, Transcript, WarningKind, parse, srt_cues,
    webvtt_cues,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn opts(mode: Mode, name: &str) -> ParseOptions<'_> {
    ParseOptions {
        mode,
        file_name: Some(name),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

#[test]
fn corpus_is_byte_exact() {
    let sums = String::from_utf8(read("SHA256SUMS")).expect("SHA256SUMS is text");
    let mut checked = 0;
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let (sum, path) = line.split_once("  ").expect("`sum  path` lines");
        let path = path.trim_start_matches("./");
        assert_eq!(hex(&Sha256::digest(read(path))), sum, "{path} changed");
        checked += 1;
    }
    assert_eq!(checked, 52, "SHA256SUMS lists the 52 corpus files");
}

#[test]
fn conformance() {
    let mut table = Table::default();
    subcue(&mut table);
    wpt_suite(&mut table);
    fasrt_differential(&mut table);
    real_files(&mut table);
    let rendered = table.render();
    println!("{rendered}");
    assert_eq!(table.failures(), 0, "conformance failures:{rendered}");
}

fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| "PANIC".to_owned())
}

// ---------------------------------------------------------------------------------------------
// subcue 0.1.1's vectors, lenient mode: cue count, first and last cue (times and raw text), and
// the indices, ids and order where a vector gives them. Error vectors: strict refuses them, and
// lenient either refuses them too or repairs them with a warning.

/// Deliberate differences from subcue, each with its reason (never counted as passed).
const SUBCUE_DEVIATIONS: &[(&str, &str)] = &[
    (
        "SRT15",
        "a lone number between blank lines is a cue number without timing (dropped, warned), not text",
    ),
    (
        "SRT16",
        "text after a blank line below the timing line is kept as the cue's text (cdown/srt), not dropped",
    ),
];

fn cue_tuple(c: &RawCue) -> Value {
    serde_json::json!([c.start_ms, c.end_ms, c.text])
}

fn subcue(table: &mut Table) {
    const SUITE: &str = "subcue vectors (lenient)";
    let doc: Value =
        serde_json::from_slice(&read("subcue/conformance-vectors.json")).expect("json");
    let vectors = doc["vectors"].as_array().expect("vectors");
    for v in vectors {
        let id = v["id"].as_str().unwrap_or("?");
        let fmt = v["format"].as_str().unwrap_or("?");
        let kind = v["kind"].as_str().unwrap_or("?");
        let case = format!("{id} {} ({kind})", v["file"].as_str().unwrap_or(""));
        if fmt == "ass" {
            table.add(
                SUITE,
                case,
                Status::Skip,
                "ASS/SSA is not a transcript format read here",
            );
            continue;
        }
        let Some(bytes) = v["hex"].as_str().and_then(unhex) else {
            table.add(
                SUITE,
                case,
                Status::Skip,
                "no bytes in the vector file (perf size only; see the benchmark)",
            );
            continue;
        };
        if let Some((_, why)) = SUBCUE_DEVIATIONS.iter().find(|(d, _)| *d == id) {
            table.add(
                SUITE,
                case,
                Status::Skip,
                format!("deliberate difference: {why}"),
            );
            continue;
        }
        let r = guarded(|| check_subcue(v, fmt, kind, &bytes)).and_then(|r| r);
        table.result(SUITE, case, r);
    }
}

fn check_subcue(v: &Value, fmt: &str, kind: &str, bytes: &[u8]) -> Result<String, String> {
    let exp = &v["expect"];
    if v["len"].as_u64() != Some(bytes.len() as u64)
        || v["sha256"].as_str() != Some(&hex(&Sha256::digest(bytes)))
    {
        return Err("vector bytes do not match their len/sha256".into());
    }
    let name = if fmt == "srt" { "x.srt" } else { "x.vtt" };
    let strict = parse(bytes, &opts(Mode::Strict, name));
    let lenient = parse(bytes, &opts(Mode::Lenient, name));
    if kind == "error" {
        if strict.is_ok() {
            return Err("strict mode accepted an error vector".into());
        }
        let repaired = lenient
            .as_ref()
            .map(|t| t.warnings.iter().any(|w| w.kind.is_repair()))
            .unwrap_or(true);
        if !repaired {
            return Err("lenient mode accepted an error vector without a warning".into());
        }
        return Ok(format!(
            "strict: {}; lenient: {}",
            strict.err().map(|e| e.to_string()).unwrap_or_default(),
            match &lenient {
                Ok(t) => format!("{} segment(s), warned", t.segments.len()),
                Err(e) => e.to_string(),
            }
        ));
    }
    let list = if fmt == "srt" {
        srt_cues(bytes)
    } else {
        webvtt_cues(bytes, Mode::Lenient).map_err(|e| e.to_string())?
    };
    let cues = &list.cues;
    let want = exp["cues"].as_u64().unwrap_or(0) as usize;
    if cues.len() != want {
        return Err(format!("{} cues, expected {want}", cues.len()));
    }
    let mut checks = vec![format!("{want} cues")];
    for (key, cue) in [("first", cues.first()), ("last", cues.last())] {
        if let Some(e) = exp.get(key) {
            let got = cue.map(cue_tuple).unwrap_or(Value::Null);
            if &got != e {
                return Err(format!("{key} cue {got}, expected {e}"));
            }
            checks.push(key.into());
        }
    }
    if let Some(e) = exp.get("indices") {
        let got: Vec<Value> = cues.iter().map(|c| serde_json::json!(c.index)).collect();
        if &Value::Array(got.clone()) != e {
            return Err(format!("indices {got:?}, expected {e}"));
        }
        checks.push("indices".into());
    }
    if let Some(e) = exp.get("ids") {
        let got: Vec<Value> = cues
            .iter()
            .map(|c| {
                if c.id.is_empty() {
                    Value::Null
                } else {
                    Value::from(c.id.clone())
                }
            })
            .collect();
        if &Value::Array(got.clone()) != e {
            return Err(format!("ids {got:?}, expected {e}"));
        }
        checks.push("ids".into());
    }
    if let Some(e) = exp.get("order") {
        let got: Vec<Value> = cues.iter().map(|c| Value::from(c.start_ms)).collect();
        if &Value::Array(got.clone()) != e {
            return Err(format!("order {got:?}, expected {e}"));
        }
        checks.push("order".into());
    }
    // The normalized transcript agrees: as many segments as cues with text, or the right error.
    let with_text = cues.iter().filter(|c| !c.text.trim().is_empty()).count();
    // Lenient mode drops YouTube rolling-caption repeats, each with a warning.
    let dropped = |t: &Transcript| {
        t.warnings
            .iter()
            .filter(|w| w.kind == WarningKind::DuplicateDropped && w.line.is_some())
            .count()
    };
    match (&lenient, with_text) {
        (Ok(t), n) if t.segments.len() + dropped(t) == n => {
            checks.push(format!("{} segments", t.segments.len()));
            if dropped(t) > 0 {
                checks.push(format!("{} rolling repeat(s) dropped", dropped(t)));
            }
        }
        (Err(ParseError::Empty | ParseError::NoCues(_) | ParseError::NotATranscript(_)), 0) => {
            checks.push("no-cue error".into())
        }
        (other, n) => return Err(format!("parse gave {other:?}, expected {n} segments")),
    }
    if kind == "valid" {
        match (&strict, with_text) {
            (Ok(_), _) | (Err(ParseError::NoCues(_)), 0) => checks.push("strict accepts".into()),
            (Err(e), _) => return Err(format!("strict refused a valid vector: {e}")),
        }
    }
    Ok(checks.join(", "))
}

// ---------------------------------------------------------------------------------------------
// WPT: each `.test` file's assertions on cue ids, text and timings, against the W3C parser
// (strict cue list). Settings, regions and style sheets are not kept: skipped, with counts.

fn wpt_suite(table: &mut Table) {
    const SUITE: &str = "wpt webvtt file-parsing (W3C cues)";
    let dir = common::corpus().join("wpt-webvtt/support");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("wpt dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 24, "24 WPT .test files");
    for path in files {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let src = std::fs::read_to_string(&path).expect("ascii");
        let r = guarded(|| {
            let (js, body) = wpt::split(&src);
            let list = webvtt_cues(body.as_bytes(), Mode::Strict).map_err(|e| e.to_string())?;
            let views: Vec<CueView> = list
                .cues
                .iter()
                .map(|c| CueView {
                    id: c.id.clone(),
                    text: c.text.clone(),
                    start_ms: c.start_ms,
                    end_ms: c.end_ms,
                })
                .collect();
            // Also: lenient parsing of the same body never panics.
            let _ = parse(body.as_bytes(), &opts(Mode::Lenient, "x.vtt"));
            Ok::<_, String>(wpt::run(&js, &views))
        });
        match r.and_then(|r| r) {
            Err(e) => table.add(SUITE, name, Status::Fail, e),
            Ok(o) => {
                let skipped: usize = o.skipped.values().sum();
                let what = o
                    .skipped
                    .iter()
                    .map(|(k, n)| format!("{k}×{n}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                if !o.failures.is_empty() {
                    table.add(SUITE, name, Status::Fail, o.failures.join("; "));
                } else if o.passed == 0 {
                    table.add(
                        SUITE,
                        name,
                        Status::Skip,
                        format!("nothing a transcript keeps is asserted ({what})"),
                    );
                } else if skipped > 0 {
                    table.add(
                        SUITE,
                        name,
                        Status::Pass,
                        format!("{} checked; skipped {skipped} not kept: {what}", o.passed),
                    );
                } else {
                    table.add(SUITE, name, Status::Pass, format!("{} checked", o.passed));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// fasrt (W3C-conformant per its docs) as a second opinion: our strict WebVTT cue list against
// fasrt's on every WebVTT input: ids, times and text.

fn fasrt_cues(s: &str) -> Vec<(String, u64, u64, String)> {
    // W3C §6.1 preprocessing (NUL to U+FFFD) is the caller's job with fasrt.
    let s = s.replace('\0', "\u{FFFD}");
    fasrt::vtt::Parser::new(&s)
        .filter_map(Result::ok)
        .filter_map(|b| match b {
            fasrt::vtt::Block::Cue(c) => {
                let h = c.header_ref();
                Some((
                    h.identifier()
                        .map(|i| i.as_str().to_owned())
                        .unwrap_or_default(),
                    h.start().to_duration().as_millis() as u64,
                    h.end().to_duration().as_millis() as u64,
                    c.body_ref().replace("\r\n", "\n").replace('\r', "\n"),
                ))
            }
            _ => None,
        })
        .collect()
}

/// Cues where fasrt departs from the W3C algorithm, checked by hand against the spec: (input,
/// cue index, why). Only the identifier differs there; the cue's times and text still compare.
const FASRT_KNOWN: &[(&str, usize, &str)] = &[(
    "webvtt-py/netflix_chicas_del_cable.vtt",
    0,
    "a line of spaces, then `1`, then the timing line: W3C reads one block whose arrow is on its \
     third line, so the cue starts at the timing line with no id; fasrt takes `1` as the id",
)];

fn fasrt_differential(table: &mut Table) {
    const SUITE: &str = "fasrt differential (strict WebVTT)";
    let mut inputs: Vec<(String, String)> = Vec::new();
    let dir = common::corpus().join("wpt-webvtt/support");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("wpt dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    for p in files {
        let src = std::fs::read_to_string(&p).expect("ascii");
        inputs.push((
            format!(
                "wpt/{}",
                p.file_name().unwrap_or_default().to_string_lossy()
            ),
            wpt::split(&src).1,
        ));
    }
    for f in [
        "captions_with_bom.vtt",
        "cue_tags.vtt",
        "invalid_timeframe.vtt",
        "metadata_headers.vtt",
        "netflix_chicas_del_cable.vtt",
        "sample.vtt",
        "teams_timeframe.vtt",
        "using_identifiers.vtt",
        "youtube_dl.vtt",
    ] {
        let bytes = read(&format!("webvtt-py/{f}"));
        inputs.push((
            format!("webvtt-py/{f}"),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    for (name, s) in inputs {
        let mut theirs = fasrt_cues(&s);
        let ours: Vec<(String, u64, u64, String)> = match webvtt_cues(s.as_bytes(), Mode::Strict) {
            Ok(l) => l
                .cues
                .into_iter()
                .map(|c| (c.id, c.start_ms, c.end_ms, c.text))
                .collect(),
            Err(_) => Vec::new(),
        };
        let mut known = Vec::new();
        for (_, i, why) in FASRT_KNOWN.iter().filter(|(n, _, _)| *n == name) {
            if let (Some(o), Some(t)) = (ours.get(*i), theirs.get_mut(*i))
                && o.0 != t.0
            {
                known.push(format!("cue {i} id {:?} vs fasrt {:?}: {why}", o.0, t.0));
                t.0 = o.0.clone();
            }
        }
        if ours == theirs {
            let note = if known.is_empty() {
                String::new()
            } else {
                format!("; known difference: {}", known.join("; "))
            };
            table.add(
                SUITE,
                name,
                Status::Pass,
                format!("{} cues agree{note}", ours.len()),
            );
        } else {
            let first = ours
                .iter()
                .zip(&theirs)
                .position(|(a, b)| a != b)
                .unwrap_or(ours.len().min(theirs.len()));
            table.add(
                SUITE,
                name,
                Status::Fail,
                format!(
                    "{} vs fasrt {} cues; first difference at {first}: ours {:?} fasrt {:?}",
                    ours.len(),
                    theirs.len(),
                    ours.get(first),
                    theirs.get(first)
                ),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Real files: what a user of each would notice.

type Check =
    fn(&Result<Transcript, ParseError>, &Result<Transcript, ParseError>) -> Result<String, String>;

fn ok(r: &Result<Transcript, ParseError>) -> Result<&Transcript, String> {
    r.as_ref().map_err(|e| format!("lenient failed: {e}"))
}

fn texts(t: &Transcript) -> Vec<&str> {
    t.segments.iter().map(|s| s.text.as_str()).collect()
}

fn names(t: &Transcript) -> Vec<&str> {
    t.speakers.iter().map(|s| s.name.as_str()).collect()
}

fn has_warning(t: &Transcript, kind: WarningKind, line: Option<u32>) -> bool {
    t.warnings
        .iter()
        .any(|w| w.kind == kind && (line.is_none() || w.line == line))
}

fn expect(cond: bool, what: impl Into<String>) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what.into()) }
}

fn strict_refuses(s: &Result<Transcript, ParseError>, line: Option<u32>) -> Result<(), String> {
    match s {
        Err(ParseError::Invalid { line: l, .. }) if line.is_none() || *l == line => Ok(()),
        other => Err(format!(
            "strict should refuse (line {line:?}), got {:?}",
            other.as_ref().map(|t| t.segments.len())
        )),
    }
}

const REAL: &[(&str, Format, Check)] = &[
    ("webvtt-py/sample.vtt", Format::Webvtt, |l, s| {
        let t = ok(l)?;
        expect(
            t.segments.len() == 16,
            format!("{} segments, expected 16", t.segments.len()),
        )?;
        let first = &t.segments[0];
        expect(
            first.start_ms == 500 && first.end_ms == 7000 && first.text == "Caption text #1",
            format!("first {first:?}"),
        )?;
        expect(
            s.is_ok() && t.warnings.is_empty(),
            "valid file: strict accepts, no warnings",
        )?;
        Ok("16 segments; strict accepts".into())
    }),
    (
        "webvtt-py/netflix_chicas_del_cable.vtt",
        Format::Webvtt,
        |l, s| {
            let t = ok(l)?;
            expect(
                t.segments.len() == 865,
                format!("{} segments, expected 865", t.segments.len()),
            )?;
            expect(
                t.segments[0].text == "[Alba] En 1928,",
                format!("first text {:?}", t.segments[0].text),
            )?;
            expect(
                has_warning(t, WarningKind::WhitespaceLine, Some(16)),
                "whitespace-only line 16 noted",
            )?;
            strict_refuses(s, Some(20))?;
            let w3c = webvtt_cues(
                &read("webvtt-py/netflix_chicas_del_cable.vtt"),
                Mode::Strict,
            )
            .map_err(|e| e.to_string())?;
            expect(
                w3c.cues.len() == 865,
                format!("W3C cues {}", w3c.cues.len()),
            )?;
            Ok("865 segments (W3C: 865 cues); strict refuses: line 20 follows a line of spaces, not a blank line".into())
        },
    ),
    ("webvtt-py/captions_with_bom.vtt", Format::Webvtt, |l, s| {
        let t = ok(l)?;
        expect(
            t.segments.len() == 4 && t.warnings.is_empty() && s.is_ok(),
            format!("{} segments, {:?}", t.segments.len(), t.warnings),
        )?;
        Ok("BOM: 4 segments, no warning".into())
    }),
    ("webvtt-py/teams_timeframe.vtt", Format::Webvtt, |l, s| {
        let t = ok(l)?;
        let got: Vec<_> = t
            .segments
            .iter()
            .map(|g| {
                (
                    g.start_ms,
                    g.end_ms,
                    g.text.as_str(),
                    t.speaker_name(g.speaker.as_deref().unwrap_or("")),
                )
            })
            .collect();
        expect(
            got == vec![
                (0, 570, "There you go.", Some("Yuri Bakulin")),
                (210, 1130, "Why hello there, Yuri.", Some("Adrian Petrescu")),
            ],
            format!("{got:?}"),
        )?;
        expect(
            has_warning(t, WarningKind::NonstandardTimestamp, Some(3)),
            "short times warned",
        )?;
        strict_refuses(s, Some(3))?;
        Ok("Teams short times and <v> voices: 2 speakers".into())
    }),
    ("webvtt-py/youtube_dl.vtt", Format::Webvtt, |l, _| {
        let t = ok(l)?;
        expect(
            texts(t) == ["yeah", "what", "this will happen is I'm telling"],
            format!("{:?}", texts(t)),
        )?;
        expect(
            has_warning(t, WarningKind::DuplicateDropped, None),
            "dedup noted",
        )?;
        Ok("rolling captions de-duplicated: 3 segments".into())
    }),
    ("webvtt-py/cue_tags.vtt", Format::Webvtt, |l, _| {
        let t = ok(l)?;
        expect(
            texts(t)
                == [
                    "When the moon hits your eye",
                    "Like a big-a pizza pie",
                    "That's amore",
                ],
            format!("{:?}", texts(t)),
        )?;
        expect(t.segments[0].start_ms == 16_500, "hour-less time")?;
        Ok("inline timestamps and classes removed".into())
    }),
    ("webvtt-py/invalid_timeframe.vtt", Format::Webvtt, |l, s| {
        let t = ok(l)?;
        expect(
            t.segments.len() == 6 && has_warning(t, WarningKind::InvalidTiming, Some(6)),
            format!("{} segments {:?}", t.segments.len(), t.warnings),
        )?;
        strict_refuses(s, Some(6))?;
        Ok("bad cue dropped with a warning at line 6; strict refuses".into())
    }),
    ("webvtt-py/metadata_headers.vtt", Format::Webvtt, |l, _| {
        let t = ok(l)?;
        expect(
            t.segments.len() == 2 && t.language.as_deref() == Some("en"),
            format!("{} {:?}", t.segments.len(), t.language),
        )?;
        Ok("2 segments, language en".into())
    }),
    ("webvtt-py/using_identifiers.vtt", Format::Webvtt, |l, _| {
        let t = ok(l)?;
        let w3c = webvtt_cues(&read("webvtt-py/using_identifiers.vtt"), Mode::Strict)
            .map_err(|e| e.to_string())?;
        let ids: Vec<&str> = w3c.cues.iter().map(|c| c.id.as_str()).collect();
        expect(
            t.segments.len() == 6 && ids == ["", "second caption", "", "4", "", ""],
            format!("{ids:?}"),
        )?;
        Ok("6 segments; cue ids read".into())
    }),
    ("webvtt-py/sample.srt", Format::Srt, |l, s| {
        let t = ok(l)?;
        expect(
            t.segments.len() == 5 && s.is_ok(),
            format!("{}", t.segments.len()),
        )?;
        Ok("5 segments; strict accepts".into())
    }),
    ("webvtt-py/styles2.srt", Format::Srt, |l, _| {
        let t = ok(l)?;
        expect(t.segments.len() == 6, "6 segments")?;
        expect(
            t.segments[2].text == "Some italic and normal coloured text. By the way, 2 < 3 !",
            format!("{:?}", t.segments[2].text),
        )?;
        expect(
            t.segments[4].text == "-Stéphane ? Où on se gare ?",
            "accents",
        )?;
        Ok("<font>/<i> removed, literal `<` kept".into())
    }),
    ("webvtt-py/missing_timeframe.srt", Format::Srt, |l, s| {
        let t = ok(l)?;
        expect(
            texts(t)
                == [
                    "Caption text #1",
                    "Caption text #3",
                    "Caption text #4",
                    "Caption text #5",
                ],
            format!("{:?}", texts(t)),
        )?;
        expect(
            has_warning(t, WarningKind::InvalidTiming, Some(5)),
            format!("{:?}", t.warnings),
        )?;
        strict_refuses(s, Some(5))?;
        Ok("cue without timing dropped, warned at line 5".into())
    }),
    ("srt/monsters.srt", Format::Srt, |l, s| {
        let t = ok(l)?;
        expect(
            t.segments.len() == 3
                && t.segments[0].start_ms == 1_897_894
                && t.segments[0].text == "我有个点子 OK, look, I think I have a plan here.",
            format!("{:?}", t.segments[0]),
        )?;
        expect(s.is_ok(), "strict accepts the `hack the gibson` suffix")?;
        Ok("index 421+, text after the timing kept as settings".into())
    }),
    ("srt/monsters-win.srt", Format::Srt, |l, _| {
        let t = ok(l)?;
        let unix = parse(&read("srt/monsters.srt"), &opts(Mode::Lenient, "m.srt"))
            .map_err(|e| e.to_string())?;
        expect(
            t.segments == unix.segments,
            "CRLF gives the same segments as LF",
        )?;
        Ok("CRLF = LF".into())
    }),
    ("srt/monsters-bad-order.srt", Format::Srt, |l, s| {
        let t = ok(l)?;
        let starts: Vec<u64> = t.segments.iter().map(|g| g.start_ms).collect();
        expect(
            starts.windows(2).all(|w| w[0] <= w[1])
                && has_warning(t, WarningKind::OutOfOrder, None),
            format!("{starts:?}"),
        )?;
        expect(
            t.segments[0]
                .text
                .ends_with("OK, look, I think I have a plan here."),
            "sorted",
        )?;
        strict_refuses(s, None)?;
        Ok("sorted by start, warned".into())
    }),
    ("srt/monsters-bad-newline.srt", Format::Srt, |l, s| {
        let t = ok(l)?;
        expect(
            t.segments.len() == 3 && t.segments[2].text.ends_with("release it into the wild."),
            format!("{:?}", texts(t)),
        )?;
        expect(
            has_warning(t, WarningKind::TextAfterBlankLine, Some(5)),
            "warned",
        )?;
        strict_refuses(s, Some(5))?;
        Ok("text after blank lines kept in its cue".into())
    }),
    (
        "youtube/transcript.xml.static",
        Format::YoutubeXml,
        |l, _| {
            let t = ok(l)?;
            expect(
                texts(t)
                    == [
                        "Hey, this is just a test",
                        "this is not the original transcript",
                        "just something shorter, I made up for testing",
                    ],
                format!("{:?}", texts(t)),
            )?;
            expect(
                t.segments[1].start_ms == 1540 && t.segments[1].end_ms == 5700,
                "times",
            )?;
            expect(
                has_warning(t, WarningKind::EmptySegment, Some(5)),
                "empty <text/> noted",
            )?;
            Ok("3 segments, escaped <i> removed, empty caption dropped".into())
        },
    ),
    (
        "vendor-json/dg_speakers.json",
        Format::DeepgramJson,
        |l, s| {
            let t = ok(l)?;
            expect(
                t.segments.len() == 22 && names(t) == ["Speaker 1", "Speaker 2", "Speaker 3"],
                format!("{} {:?}", t.segments.len(), names(t)),
            )?;
            expect(
                t.segments[0].start_ms == 3040 && t.segments[0].text == "And,",
                format!("{:?}", t.segments[0]),
            )?;
            expect(
                t.duration_ms == 169_802 && s.is_ok(),
                "duration from metadata",
            )?;
            Ok("22 utterances, 3 speakers".into())
        },
    ),
    (
        "vendor-json/dg_utterances.json",
        Format::DeepgramJson,
        |l, _| {
            let t = ok(l)?;
            expect(
                t.segments.len() == 6 && t.speakers.is_empty(),
                format!("{}", t.segments.len()),
            )?;
            expect(
                t.segments[0].text == "Yeah. As as much as, it's worth celebrating,",
                "text",
            )?;
            Ok("6 utterances, no speakers".into())
        },
    ),
    (
        "vendor-json/dg_whisper_transcription.json",
        Format::DeepgramJson,
        |l, _| {
            let t = ok(l)?;
            expect(
                !t.segments.is_empty()
                    && t.segments[0].text.starts_with("yeah as much as it's worth"),
                format!("{:?}", t.segments.first()),
            )?;
            let words: usize = t
                .segments
                .iter()
                .map(|g| g.text.split_whitespace().count())
                .sum();
            expect(words == 59, format!("{words} words, expected 59"))?;
            Ok(format!(
                "59 words grouped into {} segments",
                t.segments.len()
            ))
        },
    ),
    (
        "vendor-json/assemblyai_utterances.json",
        Format::AssemblyaiJson,
        |l, _| {
            let t = ok(l)?;
            let g = &t.segments[0];
            expect(
                t.segments.len() == 1
                    && g.start_ms == 170
                    && g.end_ms == 25_140
                    && names(t) == ["Speaker A"]
                    && t.language.as_deref() == Some("en"),
                format!("{g:?}"),
            )?;
            Ok("1 utterance, Speaker A, ms times".into())
        },
    ),
    (
        "vendor-json/aws_transcribe_expert.json",
        Format::AwsTranscribeJson,
        |l, _| {
            let t = ok(l)?;
            expect(
                t.segments[0].start_ms == 449
                    && t.segments[0]
                        .text
                        .starts_with("Our company has a new strategic initiative"),
                format!("{:?}", t.segments[0]),
            )?;
            let words: usize = t
                .segments
                .iter()
                .map(|g| g.text.split_whitespace().count())
                .sum();
            expect(words == 1148 - 64, format!("{words} words"))?;
            Ok(format!(
                "1084 words in {} sentences, punctuation attached",
                t.segments.len()
            ))
        },
    ),
    (
        "vendor-json/aws_transcribe_asr_srtize_ja.json",
        Format::AwsTranscribeJson,
        |l, _| {
            let t = ok(l)?;
            expect(
                texts(t).join(" ").starts_with("皆さん 初め まして"),
                format!("{:?}", texts(t)),
            )?;
            expect(t.segments[0].start_ms == 6540, "times from strings")?;
            Ok("Japanese tokens, string times".into())
        },
    ),
    (
        "vendor-json/whisper_timestamped.json",
        Format::WhisperJson,
        |l, _| {
            let t = ok(l)?;
            expect(
                t.segments.len() == 4
                    && t.language.as_deref() == Some("en")
                    && t.segments[0].start_ms == 120,
                format!("{:?}", t.segments.first()),
            )?;
            expect(
                t.segments[0].text.starts_with("Yeah, as much as"),
                "leading space trimmed",
            )?;
            Ok("4 segments, language en".into())
        },
    ),
    (
        "vendor-json/whisper_ctranslate2_gossos_word_stamps.json",
        Format::WhisperJson,
        |l, _| {
            let t = ok(l)?;
            expect(
                t.segments.len() == 2
                    && t.segments[0].start_ms == 1180
                    && t.segments[0].end_ms == 16_000
                    && t.language.as_deref() == Some("Catalan"),
                format!("{:?}", t.segments.first()),
            )?;
            Ok("2 segments, 1.1799999999999993 s → 1180 ms".into())
        },
    ),
];

fn real_files(table: &mut Table) {
    const SUITE: &str = "real files";
    for (path, format, check) in REAL {
        let bytes = read(path);
        let name = path.rsplit('/').next().unwrap_or(path);
        let r = guarded(|| {
            let detected = recap_transcript::detect(&bytes, Some(name));
            if detected != Some(*format) {
                return Err(format!("detected {detected:?}, expected {format:?}"));
            }
            // Content wins over a misleading name.
            if recap_transcript::detect(&bytes, Some("x.txt")) != Some(*format)
                && *format != Format::Webvtt
            {
                return Err("detection depends on the file name".into());
            }
            let l = parse(&bytes, &opts(Mode::Lenient, name));
            let s = parse(&bytes, &opts(Mode::Strict, name));
            let again = parse(&bytes, &opts(Mode::Lenient, name));
            if l.as_ref().ok().map(|t| &t.segments) != again.as_ref().ok().map(|t| &t.segments) {
                return Err("two parses of the same bytes differ".into());
            }
            check(&l, &s)
        });
        table.result(SUITE, *path, r.and_then(|r| r));
    }
    // Every corpus file, both modes, and the vectors' bytes: no panic, whatever the result.
    let mut n = 0;
    let mut panics = Vec::new();
    for entry in walk(&common::corpus()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        for mode in [Mode::Strict, Mode::Lenient] {
            n += 1;
            if guarded(|| parse(&bytes, &opts(mode, "f"))).is_err() {
                panics.push(entry.display().to_string());
            }
        }
    }
    table.result(
        "no panics",
        "every corpus file, strict and lenient",
        if panics.is_empty() {
            Ok(format!("{n} parses"))
        } else {
            Err(format!("panicked on {panics:?}"))
        },
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}
