//! `recap demo`, run as the real binary on corpus files: the folder it writes, the table it
//! prints, the data `recap serve` shows afterwards, and one clear line for a bad file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const ALL: [&str; 4] = ["one_pager", "slides", "bytes", "anchors"];

fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("shared/transcript/tests/corpus")
        .join(rel)
}

/// Runs `recap demo` in `cwd` with the default log filter (what a user sees).
fn demo(cwd: &Path, args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recap"))
        .arg("demo")
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .env_remove("RECAP_JWT_SECRET")
        .env_remove("OPENAI_API_KEY")
        .output()
        .expect("run recap")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The table's row of an output type, split into its columns (two spaces or more apart).
fn row<'a>(stdout: &'a str, output_type: &str) -> Vec<&'a str> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("{output_type} ")))
        .unwrap_or_else(|| panic!("no row for {output_type}:\n{stdout}"));
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

async fn get(http: &reqwest::Client, url: String, token: &str) -> Value {
    let res = http.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    serde_json::from_slice(&res.bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn a_vendor_json_call_becomes_four_outputs_in_a_folder_that_serve_shows_too() {
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = (dir.path().join("data"), dir.path().join("out"));
    let run = demo(
        dir.path(),
        &[
            corpus("vendor-json/dg_speakers.json").as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "--data".as_ref(),
            data.as_os_str(),
        ],
    );
    let (stdout, stderr) = (text(&run.stdout), text(&run.stderr));
    assert!(run.status.success(), "{stderr}\n{stdout}");
    assert_eq!(stderr, "", "nothing but progress (hidden off a terminal)");
    assert!(
        stdout.contains("\"dg_speakers\": Deepgram JSON, 22 segments, 3 speakers"),
        "{stdout}"
    );

    let want: [(&str, &[&str]); 4] = [
        ("one_pager", &["output.md", "output.html", "result.json"]),
        ("slides", &["slides.marp.md", "output.html", "result.json"]),
        ("bytes", &["bytes.json", "output.md", "result.json"]),
        ("anchors", &["chapters.txt", "chapters.vtt", "result.json"]),
    ];
    for (kind, files) in want {
        for f in files {
            let path = out.join(kind).join(f);
            let len = std::fs::metadata(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .len();
            assert!(len > 0, "{} is empty", path.display());
        }
        // OUTPUT, STATUS, CREDITS, COST, QUOTES, FILES: the offline provider is free.
        let cols = row(&stdout, kind);
        assert_eq!(cols[..4], [kind, "done", "0", "$0.000000"], "{stdout}");
        assert!(
            cols[4].ends_with("verified, 0 dropped") && !cols[4].starts_with("0 "),
            "{stdout}"
        );
        let listed: Vec<String> = files.iter().map(|f| format!("{kind}/{f}")).collect();
        assert_eq!(cols[5], listed.join(" "), "{stdout}");
    }
    assert!(stdout.contains("Total: 0 credits ($0.000000)"), "{stdout}");
    assert!(
        stdout.contains(&format!("Wrote 12 files to {}", out.display())),
        "{stdout}"
    );
    let md = std::fs::read_to_string(out.join("one_pager/output.md")).unwrap();
    assert!(md.starts_with("# dg_speakers"), "{md}");
    let vtt = std::fs::read_to_string(out.join("anchors/chapters.vtt")).unwrap();
    assert!(vtt.starts_with("WEBVTT"), "{vtt}");

    // `recap serve` on the same data directory shows them to the demo tenant.
    let server = recap::Server::bind(recap::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data: data.clone(),
        jwt_secret: None,
    })
    .await
    .unwrap();
    let (url, token) = (server.url().to_string(), server.demo_token().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let http = recap_contract::http_client();
    let list = get(&http, format!("{url}/transcripts"), &token).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["items"][0]["title"], "dg_speakers");
    assert_eq!(list["items"][0]["status"], "ready");
    let id = list["items"][0]["id"].as_str().unwrap();
    let outputs = get(&http, format!("{url}/transcripts/{id}/outputs"), &token).await;
    let mut kinds: Vec<&str> = outputs["items"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|o| assert_eq!(o["status"], "done", "{o}"))
        .map(|o| o["output_type"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["anchors", "bytes", "one_pager", "slides"]);
    let _ = stop.send(());
    running.await.unwrap().unwrap();
}

#[test]
fn defaults_write_under_recap_demo_and_outputs_picks_a_subset() {
    let dir = tempfile::tempdir().unwrap();
    let run = demo(
        dir.path(),
        &[
            corpus("webvtt-py/sample.vtt").as_os_str(),
            "--outputs".as_ref(),
            "anchors,bytes".as_ref(),
        ],
    );
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let folder = dir.path().join("recap-demo/sample");
    assert!(folder.join("anchors/chapters.txt").is_file(), "{stdout}");
    assert!(folder.join("bytes/bytes.json").is_file(), "{stdout}");
    assert!(!folder.join("one_pager").exists(), "only what was asked");
    assert_eq!(row(&stdout, "anchors")[1], "done");
    assert!(!stdout.contains("one_pager"), "{stdout}");
    assert!(
        dir.path().join(".recap/recap.redb").is_file(),
        "the default data directory is `recap serve`'s"
    );
    // A second run keeps the first's data and adds its own transcript.
    let again = demo(dir.path(), &[corpus("webvtt-py/sample.vtt").as_os_str()]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    for kind in ALL {
        assert_eq!(row(&text(&again.stdout), kind)[1], "done");
    }
}

/// One line on stderr, no panic, a failing exit code.
fn fails_with_one_line(run: &Output) -> String {
    let err = text(&run.stderr);
    assert!(!run.status.success(), "{}", text(&run.stdout));
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.starts_with("recap: "), "{err}");
    err
}

#[test]
fn bad_files_fail_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bad = |name: &str, bytes: &[u8]| -> String {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let run = demo(
            dir.path(),
            &[path.as_os_str(), "--data".as_ref(), data.as_os_str()],
        );
        fails_with_one_line(&run)
    };

    let missing = demo(
        dir.path(),
        &[
            "no-such-file.vtt".as_ref(),
            "--data".as_ref(),
            data.as_os_str(),
        ],
    );
    let err = fails_with_one_line(&missing);
    assert!(err.contains("cannot read no-such-file.vtt"), "{err}");

    let err = bad(
        "photo.png",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02",
    );
    assert!(
        err.contains("photo.png") && err.contains("not a transcript"),
        "{err}"
    );

    let err = bad("empty-cues.vtt", b"WEBVTT\n\nNOTE nothing was said\n");
    assert!(
        err.contains("empty-cues.vtt") && err.contains("no cues"),
        "{err}"
    );

    let err = bad("empty.srt", b"");
    assert!(err.contains("empty.srt is empty"), "{err}");

    // A priced model without its key is refused before anything is written.
    let keyless = demo(
        dir.path(),
        &[
            corpus("srt/monsters.srt").as_os_str(),
            "--model".as_ref(),
            "openai/gpt-4o-mini".as_ref(),
            "--data".as_ref(),
            data.as_os_str(),
        ],
    );
    let err = fails_with_one_line(&keyless);
    assert!(
        err.contains("no key is configured for the provider openai"),
        "{err}"
    );
}

/// A provider that cannot be reached fails the job transiently: it goes back to the queue for
/// a later receive (minutes away), which the demo reports at once instead of waiting for it.
#[test]
fn an_unreachable_provider_is_reported_as_retrying_without_waiting_for_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on: every attempt is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let started = std::time::Instant::now();
    let run = Command::new(env!("CARGO_BIN_EXE_recap"))
        .arg("demo")
        .arg(corpus("webvtt-py/sample.vtt"))
        .args(["--outputs", "bytes", "--model", "openai/gpt-4o-mini"])
        .args(["--timeout", "120", "--data"])
        .arg(dir.path().join("data"))
        .arg("--out")
        .arg(dir.path().join("out"))
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .env_remove("RECAP_JWT_SECRET")
        .env("OPENAI_API_KEY", "sk-test")
        .env("RECAP_OPENAI_BASE_URL", &url)
        .env("RECAP_AI_RETRY_BUDGET_SECS", "1")
        .output()
        .expect("run recap");
    let (stdout, stderr) = (text(&run.stdout), text(&run.stderr));
    assert_eq!(run.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        !stderr.contains("gave up waiting"),
        "reported before the timeout: {stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(100),
        "{stderr}"
    );
    assert_eq!(row(&stdout, "bytes")[1], "retrying", "{stdout}");
    assert!(
        stdout.contains("bytes failed for now:")
            && stdout.contains("`recap serve` on the same data directory tries it again"),
        "{stdout}"
    );
    assert!(stderr.contains("1 of 1 outputs failed"), "{stderr}");
}
