//! Lambda `on-upload`: S3 `ObjectCreated` events for `{tenant}/uploads/{transcript}/…`.
//! Parses the upload, stores the normalized transcript and marks the record, then requests the
//! outputs named at the transcript's creation; duplicate and older events do nothing. Needs
//! `RECAP_TABLE`, `RECAP_BUCKET` and `RECAP_GENERATE_QUEUE_URL`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), recap_lambda::Error> {
    recap_http::telemetry::init();
    let aws = recap_lambda::AwsPorts::from_env().await;
    let models = recap_lambda::KeysConfigured::from_env(std::sync::Arc::new(aws.records.clone()));
    let ports = aws.generation(&models);
    recap_lambda::serve_events(|event| async move {
        recap_lambda::handlers::on_upload(ports, event)
            .await
            .map(|_| ())
    })
    .await
}
