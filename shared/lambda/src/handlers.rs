//! The event functions' handlers, apart from the runtime that feeds them, so that the tests
//! run each one on the real event JSON in `events/`. A function's `main.rs` builds the ports
//! and hands one of these to [`crate::serve_events`] or [`crate::serve_json`].

use recap_domain::clock::Clock;
use recap_domain::reconcile::Report;
use recap_domain::records::Records;
use recap_domain::transcripts::Ingested;
use recap_domain::{generation, transcripts};
use serde_json::Value;

/// `on-upload`: every object of an S3 `ObjectCreated` notification (keys URL-encoded, as S3
/// sends them) is parsed and its transcript marked ready or failed; then the outputs named when
/// a transcript was created are requested as its owner. An error fails the invocation, so
/// Lambda delivers the event again; what was done already is skipped then.
pub async fn on_upload(
    p: generation::Ports<'_>,
    event: Value,
) -> Result<Vec<Ingested>, recap_domain::Error> {
    let bytes = serde_json::to_vec(&event)
        .map_err(|e| recap_domain::Error::unexpected("re-encoding the event", e))?;
    let ports = transcripts::Ports {
        records: p.records,
        files: p.files,
        clock: p.clock,
        ids: p.ids,
    };
    let outcomes = transcripts::on_upload_event(ports, &bytes).await?;
    let requested = generation::after_upload(p, &bytes).await?;
    tracing::info!(?outcomes, outputs = requested.len(), "event handled");
    Ok(outcomes)
}

/// `generate`: each message of an SQS batch is one generation job. Answers the partial batch
/// response: only the messages that failed, which SQS delivers again (and, after
/// `max_receives`, to the dead-letter queue). On a message's last receive a transient failure
/// fails its output for good and releases the reservation.
pub async fn generate(
    p: generation::Ports<'_>,
    event: Value,
    max_receives: u32,
) -> Result<Value, crate::Error> {
    crate::sqs_batch(event, move |m| async move {
        let last = m.receive_count() >= max_receives;
        let done = generation::process(p, &m.body, last).await?;
        tracing::info!(?done, message = %m.message_id, "generation job");
        Ok(())
    })
    .await
}

/// The fields of an EventBridge scheduled event that the logs keep.
#[derive(Debug, Default, serde::Deserialize)]
struct Scheduled {
    #[serde(default)]
    id: String,
    #[serde(default)]
    time: String,
    #[serde(default, rename = "detail-type")]
    detail_type: String,
}

/// `reconcile`, on its schedule: releases expired reservations, rolls subscription periods
/// over and corrects balances that drifted. The run does not depend on the event (a manual
/// invocation with any payload reconciles too), and running it twice changes nothing the
/// second time; an error fails the invocation.
pub async fn reconcile(
    records: &dyn Records,
    clock: &dyn Clock,
    event: Value,
) -> Result<Report, recap_domain::Error> {
    let scheduled: Scheduled = serde_json::from_value(event).unwrap_or_default();
    let report = recap_domain::reconcile::run(records, clock).await?;
    tracing::info!(
        event = %scheduled.id,
        scheduled_at = %scheduled.time,
        detail_type = %scheduled.detail_type,
        ?report,
        "reconciled"
    );
    Ok(report)
}
