//! The contract suite on the embedded adapters, plus what only they can show: presigned URL
//! refusals (the emulator does not check signatures), durability across a restart, and a
//! crash in the middle of transactions.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use recap_contract::{Backend, contract_tests};
use recap_domain::clock::{Clock, ManualClock, SystemClock};
use recap_domain::files::{FileKey, Files, UploadPolicy};
use recap_domain::queue::{Message, Queue};
use recap_domain::records::{Query, Records, Write};
use recap_embedded::{EmbeddedFiles, EmbeddedStore, QueueConfig, files_router};
use serde_json::json;

struct Embedded {
    _dir: tempfile::TempDir,
    store: EmbeddedStore,
    files: EmbeddedFiles,
    /// The files' clock: tests move it instead of sleeping past an expiry.
    clock: Arc<ManualClock>,
}

async fn backend() -> Embedded {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let clock = Arc::new(ManualClock::at(SystemClock.now()));
    let files = store
        .files(format!("http://{addr}"))
        .with_clock(clock.clone());
    let app = files_router(files.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Embedded {
        _dir: dir,
        store,
        files,
        clock,
    }
}

#[async_trait]
impl Backend for Embedded {
    async fn records(&self) -> Arc<dyn Records> {
        Arc::new(self.store.records())
    }
    async fn files(&self) -> Arc<dyn Files> {
        Arc::new(self.files.clone())
    }
    async fn queue(&self, max_receive: u32, _fifo: bool) -> (Arc<dyn Queue>, Arc<dyn Queue>) {
        let name = uuid::Uuid::new_v4().to_string();
        let dlq = format!("{name}-dlq");
        let q = self
            .store
            .queue(QueueConfig::new(&name).dead_letter(&dlq, max_receive));
        (
            Arc::new(q),
            Arc::new(self.store.queue(QueueConfig::new(dlq))),
        )
    }
}

contract_tests!(backend);

fn policy(len: usize) -> UploadPolicy {
    UploadPolicy {
        expires_in: Duration::from_secs(60),
        content_length: len as u64,
        max_bytes: 1 << 20,
        content_type: "text/plain".into(),
    }
}

#[tokio::test]
async fn presigned_urls_refuse_tampering_expiry_and_other_sizes() {
    let b = backend().await;
    let http = recap_contract::http_client();
    let k = FileKey::parse("t/uploads/x.txt").unwrap();
    let put = b.files.presign_put(&k, &policy(5)).await.unwrap();
    let send = |url: String, body: &'static [u8], ct: &'static str| {
        let http = http.clone();
        async move {
            http.put(url)
                .header("content-type", ct)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        send(put.url.clone(), b"123456", "text/plain").await,
        403,
        "a larger body than signed"
    );
    assert_eq!(
        send(put.url.clone(), b"1234", "text/plain").await,
        403,
        "a smaller body than signed"
    );
    assert_eq!(
        send(put.url.clone(), b"12345", "text/html").await,
        403,
        "another content type"
    );
    let other_key = put.url.replace("/x.txt?", "/y.txt?");
    assert_eq!(
        send(other_key, b"12345", "text/plain").await,
        403,
        "another key"
    );
    let longer = put.url.replace("X-Recap-Length=5", "X-Recap-Length=6");
    assert_eq!(
        send(longer, b"123456", "text/plain").await,
        403,
        "a tampered length"
    );
    let unsigned = put.url.split('?').next().unwrap().to_string();
    assert_eq!(
        send(unsigned, b"12345", "text/plain").await,
        403,
        "no signature"
    );
    assert_eq!(
        b.files.head(&k).await.unwrap(),
        None,
        "nothing was stored by refused uploads"
    );
    let get_url = put.url.clone();
    assert_eq!(
        http.get(get_url).send().await.unwrap().status().as_u16(),
        403,
        "a PUT URL does not GET"
    );
    assert_eq!(send(put.url.clone(), b"12345", "text/plain").await, 200);

    let short = UploadPolicy {
        expires_in: Duration::from_secs(1),
        ..policy(5)
    };
    let expiring = b.files.presign_put(&k, &short).await.unwrap();
    b.clock.advance(Duration::from_secs(1));
    assert_eq!(
        send(expiring.url, b"12345", "text/plain").await,
        403,
        "expired"
    );
    let body = http
        .get(
            b.files
                .presign_get(&k, Duration::from_secs(5))
                .await
                .unwrap()
                .url,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(body.headers()["content-type"], "text/plain");
    assert_eq!(body.bytes().await.unwrap().as_ref(), b"12345");
}

#[tokio::test]
async fn data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store
            .records()
            .put(
                json!({"pk": "p", "sk": "s", "v": 1})
                    .as_object()
                    .unwrap()
                    .clone(),
                vec![],
            )
            .await
            .unwrap();
        store
            .files("http://127.0.0.1:9")
            .put(
                &FileKey::parse("t/f").unwrap(),
                b"kept".to_vec(),
                "text/plain",
            )
            .await
            .unwrap();
        store
            .queue(QueueConfig::new("q"))
            .send(Message::new("waiting"))
            .await
            .unwrap();
        let again = EmbeddedStore::open(dir.path());
        assert!(
            matches!(again, Err(recap_domain::Error::Unavailable { .. })),
            "a second opener is refused: {again:?}"
        );
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let page = store.records().query(Query::partition("p")).await.unwrap();
    assert_eq!(page.items.len(), 1);
    let f = store
        .files("http://127.0.0.1:9")
        .get(&FileKey::parse("t/f").unwrap())
        .await
        .unwrap();
    assert_eq!(f.unwrap().0, b"kept");
    let m = store
        .queue(QueueConfig::new("q"))
        .receive(1, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(m[0].body, "waiting");
}

#[tokio::test]
async fn a_stale_receipt_cannot_delete_a_redelivered_message() {
    let b = backend().await;
    let clock = Arc::new(ManualClock::at(SystemClock.now()));
    let q = b
        .store
        .queue(QueueConfig::new("stale"))
        .with_clock(clock.clone());
    q.send(Message::new("x")).await.unwrap();
    let first = q
        .receive(1, Duration::from_secs(10), Duration::ZERO)
        .await
        .unwrap()
        .pop()
        .unwrap();
    clock.advance(Duration::from_secs(11));
    let second = q
        .receive(1, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert!(matches!(
        q.delete(&first.receipt).await,
        Err(recap_domain::Error::Conflict(_))
    ));
    q.delete(&second.receipt).await.unwrap();
    assert!(matches!(
        q.delete("garbage").await,
        Err(recap_domain::Error::Validation { .. })
    ));
}

const CRASH_DIR: &str = "RECAP_CRASH_CHILD_DIR";

/// Not a test of its own: the body of the child process that `a_crash_leaves_no_half_transaction`
/// kills. It returns at once unless that test started it.
#[tokio::test]
async fn crash_child_process() {
    let Ok(dir) = std::env::var(CRASH_DIR) else {
        return;
    };
    let store = EmbeddedStore::open(&dir).unwrap();
    let r = store.records();
    for batch in 0u32.. {
        let writes = (0..100)
            .map(|i| Write::put(json!({"pk": format!("batch#{batch}"), "sk": format!("{i:03}"), "pad": "x".repeat(2000)}).as_object().unwrap().clone()))
            .collect();
        r.transact(writes).await.unwrap();
        println!("committed {batch}");
    }
}

#[tokio::test]
async fn a_crash_leaves_no_half_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child_process", "--nocapture"])
        .env(CRASH_DIR, dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Let it commit some transactions, then kill it (SIGKILL) wherever it is.
    let store_file = dir.path().join("recap.redb");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&store_file).map(|m| m.len()).unwrap_or(0) < 4 << 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "the child wrote nothing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let r = store.records();
    let mut complete = 0;
    for batch in 0.. {
        let page = r
            .query(Query::partition(format!("batch#{batch}")).limit(1000))
            .await
            .unwrap();
        match page.items.len() {
            0 => break,
            100 => complete += 1,
            n => panic!("batch {batch} has {n} of 100 items after the crash"),
        }
    }
    assert!(
        complete > 0,
        "the child committed nothing before it was killed"
    );
    let after = r
        .query(Query::partition(format!("batch#{}", complete + 1)).limit(10))
        .await
        .unwrap();
    assert!(after.items.is_empty());
}

#[tokio::test]
async fn one_receive_moves_every_exhausted_message_and_still_fills_its_batch() {
    let b = backend().await;
    let q = b
        .store
        .queue(QueueConfig::new("work").dead_letter("work-dlq", 1));
    let dlq = b.store.queue(QueueConfig::new("work-dlq"));
    for p in ["p1", "p2", "p3"] {
        q.send(Message::new(p)).await.unwrap();
    }
    // Received once each and put straight back: all three are now at their receive limit.
    let first = q.receive(10, Duration::ZERO, Duration::ZERO).await.unwrap();
    assert_eq!(first.len(), 3);
    q.send(Message::new("f1")).await.unwrap();
    q.send(Message::new("f2")).await.unwrap();
    let got = q
        .receive(2, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    let bodies: Vec<_> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(
        bodies,
        vec!["f1", "f2"],
        "the exhausted ones went to the DLQ, not to the caller"
    );
    let dead = dlq
        .receive(10, Duration::from_secs(30), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(dead.len(), 3);
}
