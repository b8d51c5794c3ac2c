//! `recap serve` as a user runs it: the real binary, a real port, curl-like requests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Running {
    child: Child,
    url: String,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Running {
    /// The demo token the banner prints.
    fn demo_token(&mut self) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "no token printed"
            );
            if let Some(rest) = line.split("Bearer ").nth(1) {
                return rest.split('\'').next().unwrap().to_string();
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &std::path::Path) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_recap"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("recap starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("a first line");
    let url = first
        .trim()
        .strip_prefix("Recap is listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first:?}"))
        .to_string();
    Running { child, url, stdout }
}

#[tokio::test]
async fn serve_answers_health_and_problem_json_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = serve(dir.path());
    let http = recap_contract::http_client();

    let res = http
        .get(format!("{}/health", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("x-request-id"));
    let body: serde_json::Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    assert_eq!(body["status"], "ok");

    let res = http
        .get(format!("{}/no/such/route", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    assert_eq!(body["type"], "https://recap.dev/problems/not-found");
    assert_eq!(body["status"], 404);

    // A second server on the same data directory is refused with a clear message.
    let out = Command::new(env!("CARGO_BIN_EXE_recap"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another process has it open"), "{err}");

    // SIGTERM: a clean exit, and the store opens again afterwards.
    let pid = app.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = app.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "recap did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let again = serve(dir.path());
    let res = http
        .get(format!("{}/health", again.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[test]
fn bad_arguments_get_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_recap"))
        .args(["serve", "--addr", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'nope'"));
}

#[tokio::test]
async fn an_upload_through_its_presigned_url_becomes_a_ready_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = serve(dir.path());
    let token = app.demo_token();
    let http = recap_contract::http_client();
    let file = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/shared/transcript/tests/corpus/srt/monsters-win.srt"
    ))
    .unwrap();
    let body = serde_json::json!({
        "title": "Monsters", "type": "media", "sub_type": "interview",
        "size_bytes": file.len(), "file_name": "Monsters – épisode 1.srt",
    });
    let res = http
        .post(format!("{}/transcripts", app.url))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: serde_json::Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    let upload = &created["upload"];
    let put = |bytes: Vec<u8>| {
        let mut req = http.put(upload["url"].as_str().unwrap());
        for h in upload["headers"].as_array().unwrap() {
            if h[0] != "content-length" {
                req = req.header(h[0].as_str().unwrap(), h[1].as_str().unwrap());
            }
        }
        req.body(bytes).send()
    };
    // The URL is signed for this exact size.
    let mut longer = file.clone();
    longer.extend_from_slice(b"\r\n\r\n");
    assert_eq!(put(longer).await.unwrap().status(), 403);
    assert_eq!(put(file).await.unwrap().status(), 200);

    // The server's own upload trigger parses it.
    let url = format!(
        "{}/transcripts/{}",
        app.url,
        created["id"].as_str().unwrap()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let t = loop {
        let res = http.get(&url).bearer_auth(&token).send().await.unwrap();
        let t: serde_json::Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
        if t["status"] != "awaiting_upload" && t["status"] != "processing" {
            break t;
        }
        assert!(std::time::Instant::now() < deadline, "still {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(t["status"], "ready", "{t}");
    assert_eq!(t["format"], "srt");
    assert_eq!(t["segment_count"], 3);
    let download = t["segments_url"]["url"].as_str().unwrap();
    let normalized: serde_json::Value = serde_json::from_slice(
        &http
            .get(download)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let first = normalized["segments"][0]["text"].as_str().unwrap();
    assert!(
        first.contains("我有个点子") && first.contains("I think I have a plan"),
        "{first}"
    );
    assert_eq!(normalized["segments"][0]["start_ms"], 1_897_894);
}
