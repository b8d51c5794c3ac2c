//! The queue port's contract: SQS semantics on every adapter.

use std::collections::HashSet;
use std::time::Duration;

use recap_domain::queue::Message;

use crate::{Backend, eventually};

const VIS: Duration = Duration::from_secs(1);
const NO_WAIT: Duration = Duration::ZERO;

pub async fn send_receive_delete(b: &dyn Backend) {
    let (q, _) = b.queue(5, false).await;
    let id = q
        .send(
            Message::new(r#"{"job":"j-1"}"#)
                .attr("tenant", "t-1")
                .attr("kind", "generate")
                .dedup("job-j-1"),
        )
        .await
        .unwrap();
    assert!(!id.is_empty());
    let got = eventually("the message", || async {
        Some(
            q.receive(10, Duration::from_secs(30), Duration::from_secs(1))
                .await
                .unwrap(),
        )
        .filter(|v| !v.is_empty())
    })
    .await;
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.message_id, id);
    assert_eq!(m.body, r#"{"job":"j-1"}"#);
    assert_eq!(m.attributes.get("tenant").map(String::as_str), Some("t-1"));
    assert_eq!(
        m.attributes.get("kind").map(String::as_str),
        Some("generate")
    );
    assert_eq!(m.attributes.len(), 2);
    assert_eq!(m.dedup_id.as_deref(), Some("job-j-1"));
    assert_eq!(m.receive_count, 1);
    assert!(
        q.receive(10, VIS, NO_WAIT).await.unwrap().is_empty(),
        "hidden while in flight"
    );
    q.delete(&m.receipt).await.unwrap();
    tokio::time::sleep(VIS + Duration::from_millis(300)).await;
    assert!(
        q.receive(10, VIS, NO_WAIT).await.unwrap().is_empty(),
        "deleted for good"
    );
}

pub async fn redelivery_after_visibility_timeout(b: &dyn Backend) {
    let (q, _) = b.queue(5, false).await;
    q.send(Message::new("again")).await.unwrap();
    let first = eventually("the message", || async {
        q.receive(1, VIS, Duration::from_secs(1))
            .await
            .unwrap()
            .pop()
    })
    .await;
    assert_eq!(first.receive_count, 1);
    let second = eventually("the redelivery", || async {
        q.receive(1, VIS, Duration::from_secs(1))
            .await
            .unwrap()
            .pop()
    })
    .await;
    assert_eq!(second.body, "again");
    assert_eq!(second.receive_count, 2);
    assert_eq!(second.message_id, first.message_id);
    // Returned to the queue at once.
    q.release(&second.receipt).await.unwrap();
    let third = q
        .receive(1, Duration::from_secs(30), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(third.len(), 1, "released messages are visible at once");
    assert_eq!(third[0].receive_count, 3);
    q.delete(&third[0].receipt).await.unwrap();
}

pub async fn dead_letter_after_receive_limit(b: &dyn Backend) {
    let (q, dlq) = b.queue(2, false).await;
    q.send(Message::new("poison").attr("job", "j-9"))
        .await
        .unwrap();
    for n in 1..=2 {
        let m = eventually("a delivery", || async {
            q.receive(1, VIS, Duration::from_secs(1))
                .await
                .unwrap()
                .pop()
        })
        .await;
        assert_eq!(m.receive_count, n);
    }
    // Past the limit it moves to the dead-letter queue instead of being delivered.
    let dead = eventually("the dead letter", || async {
        let again = q.receive(1, VIS, NO_WAIT).await.unwrap();
        assert!(
            again.is_empty(),
            "delivered past the receive limit: {again:?}"
        );
        dlq.receive(1, Duration::from_secs(30), NO_WAIT)
            .await
            .unwrap()
            .pop()
    })
    .await;
    assert_eq!(dead.body, "poison");
    assert_eq!(dead.attributes.get("job").map(String::as_str), Some("j-9"));
    dlq.delete(&dead.receipt).await.unwrap();
    tokio::time::sleep(VIS + Duration::from_millis(300)).await;
    assert!(q.receive(10, VIS, NO_WAIT).await.unwrap().is_empty());
}

pub async fn send_batch_delivers_all(b: &dyn Backend) {
    let (q, _) = b.queue(5, false).await;
    let msgs: Vec<Message> = (0..25)
        .map(|i| Message::new(format!("m{i}")).attr("n", i.to_string()))
        .collect();
    let ids = q.send_batch(msgs).await.unwrap();
    assert_eq!(ids.len(), 25);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 25);
    let mut bodies = HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while bodies.len() < 25 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of 25 arrived",
            bodies.len()
        );
        for m in q
            .receive(10, Duration::from_secs(60), Duration::from_secs(1))
            .await
            .unwrap()
        {
            assert_eq!(m.attributes["n"], m.body[1..]);
            q.delete(&m.receipt).await.unwrap();
            assert!(bodies.insert(m.body.clone()), "delivered twice: {}", m.body);
        }
    }
    assert!(
        q.send_batch(vec![Message::new("")]).await.is_err(),
        "an empty body is refused"
    );
}

pub async fn deduplication_id(b: &dyn Backend) {
    let (q, _) = b.queue(5, true).await;
    q.send(Message::new("first").dedup("job-1")).await.unwrap();
    q.send(Message::new("second").dedup("job-1")).await.unwrap();
    q.send(Message::new("other").dedup("job-2")).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..5 {
        for m in q
            .receive(10, Duration::from_secs(60), Duration::from_millis(500))
            .await
            .unwrap()
        {
            q.delete(&m.receipt).await.unwrap();
            got.push(m.body);
        }
    }
    got.sort();
    if q.deduplicates() {
        assert_eq!(
            got,
            vec!["first", "other"],
            "a second send of job-1 within the window is dropped"
        );
    } else {
        assert_eq!(
            got,
            vec!["first", "other", "second"],
            "a standard queue delivers both"
        );
    }
}
