//! `recap transcript parse`, run as the real binary.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("shared/transcript/tests/corpus")
        .join(rel)
}

fn recap(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recap"))
        .arg("transcript")
        .arg("parse")
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .expect("run recap")
}

fn stderr_line(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line on stderr: {err:?}"
    );
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn prints_the_normalized_transcript_as_json() {
    let out = recap(&[corpus("webvtt-py/teams_timeframe.vtt").as_os_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["format"], "webvtt");
    assert_eq!(v["segments"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        v["segments"][0],
        serde_json::json!({"id": "s0001", "start_ms": 0, "end_ms": 570, "speaker": "spk_1", "text": "There you go."})
    );
    assert_eq!(
        v["speakers"][1],
        serde_json::json!({"id": "spk_2", "name": "Adrian Petrescu"})
    );
    assert_eq!(v["duration_ms"], 1130);
    // Lenient mode read Teams' short times, and says so.
    assert_eq!(v["warnings"][0]["kind"], "nonstandard_timestamp");
    assert_eq!(v["warnings"][0]["line"], 3);
}

#[test]
fn strict_refuses_what_lenient_repairs() {
    let file = corpus("webvtt-py/teams_timeframe.vtt");
    let out = recap(&[file.as_os_str(), "--strict".as_ref()]);
    assert!(!out.status.success());
    let err = stderr_line(&out);
    assert!(
        err.starts_with("recap: ")
            && err.contains("teams_timeframe.vtt: line 3: the timing line `0:0:0.0 --> 0:0:0.570`"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn empty_and_non_transcript_files_fail_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.srt");
    std::fs::write(&empty, "").expect("write");
    let out = recap(&[empty.as_os_str()]);
    assert!(!out.status.success());
    assert!(stderr_line(&out).ends_with("empty.srt: the file is empty\n"));

    let prose = dir.path().join("notes.txt");
    std::fs::write(&prose, "Shopping list\n- eggs\n- milk\n").expect("write");
    let out = recap(&[prose.as_os_str()]);
    assert!(!out.status.success());
    assert!(stderr_line(&out).contains("notes.txt: not a transcript: "));

    let no_cues = dir.path().join("header.vtt");
    std::fs::write(&no_cues, "WEBVTT\n\nNOTE nothing here\n").expect("write");
    let out = recap(&[no_cues.as_os_str()]);
    assert!(!out.status.success());
    assert!(stderr_line(&out).ends_with("header.vtt: the WebVTT file has no cues with text\n"));

    let missing = dir.path().join("missing.vtt");
    let out = recap(&[missing.as_os_str()]);
    assert!(!out.status.success());
    assert!(stderr_line(&out).contains("cannot read"));
}

/// `recap transcript parse FILE | head`: the reader goes away early; recap ends quietly with
/// the status a SIGPIPE'd tool has, not with an error message.
#[test]
fn a_reader_that_stops_early_ends_it_quietly() {
    use std::io::Read;
    // About 140 KB of JSON: more than a pipe holds.
    let mut child = Command::new(env!("CARGO_BIN_EXE_recap"))
        .args(["transcript", "parse"])
        .arg(corpus("webvtt-py/netflix_chicas_del_cable.vtt"))
        .env("RUST_LOG", "off")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run recap");
    let mut head = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    // The pipe's read end is closed here.
    let out = child.wait_with_output().unwrap();
    assert_eq!(&head[..1], b"{");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(out.status.code(), Some(141));
}
