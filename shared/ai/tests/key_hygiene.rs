//! Keys never show: not in errors, not in Debug output, not in logs, even when a provider
//! echoes them back. Alone in its binary: tracing caches per-callsite interest process-wide,
//! so other tests running without a subscriber would hide the logs from this one.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{Fake, KEY, Wire, fast_retry, request};
use recap_domain::models::ModelError;

/// A `std::io::Write` that keeps everything written to it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn keys_stay_out_of_errors_and_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    for wire in Wire::ALL {
        // Servers that echo the key back, in a refusal and in a rejection.
        let echo = format!("Incorrect API key provided: {KEY}");
        let fake = Fake::start(vec![wire.fail(503, &echo), wire.fail(401, &echo)]).await;
        let client = wire.client_with(&fake, fast_retry());
        assert_eq!(
            client.call(&request(wire.model())).await.unwrap_err(),
            ModelError::Unauthorized
        );
        // The key did go out, in the provider's header.
        let sent = format!("{:?}", fake.seen()[0].headers);
        assert!(sent.contains(KEY), "{wire:?}: the key was not sent");

        let fake = Fake::start(vec![wire.fail(400, &echo)]).await;
        let client = wire.client_with(&fake, fast_retry());
        let err = client.call(&request(wire.model())).await.unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(KEY), "{wire:?}: {shown}");
        assert!(shown.contains("<redacted>"), "{wire:?}: {shown}");

        let config = wire.config(&fake.url, &[]);
        assert!(
            !format!("{config:?}").contains(KEY),
            "{wire:?}: config Debug"
        );
    }

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("credentials refused"),
        "nothing logged: {logs}"
    );
    assert!(logs.contains("retrying"), "nothing logged: {logs}");
    assert!(!logs.contains(KEY), "a key was logged:\n{logs}");
}
