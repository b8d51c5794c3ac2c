//! Lambda `generate`: the generate queue's consumer. Each message is one job: call the model,
//! check the answer and its quotes, render, store, settle. Failed messages are reported one by
//! one (partial batch response); on the last receive a job fails for good and its reservation
//! is released. Needs `RECAP_TABLE`, `RECAP_BUCKET` and `RECAP_GENERATE_QUEUE_URL`; the
//! providers' keys come from the SSM parameters `RECAP_OPENAI_API_KEY_PARAMETER` (…) name.

/// The queue's `maxReceiveCount` (infra/template.yaml).
const MAX_RECEIVES: u32 = 5;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), recap_lambda::Error> {
    recap_http::telemetry::init();
    let aws = recap_lambda::AwsPorts::from_env().await;
    // Each provider's key from the SSM parameter the template names (RECAP_*_API_KEY_PARAMETER),
    // else from its key variable: read once, here.
    let vars = |k: &str| std::env::var(k).ok();
    let keys = recap_lambda::ParameterKeys::load(&aws.config, &vars).await?;
    let config = recap_ai::ProviderConfig::load(&vars, &keys).await?;
    let providers = recap_ai::Providers::from_config(&config)?;
    // The catalog's providers are read on the first job that needs them, not here.
    let models =
        recap_lambda::CatalogOnFirstUse::new(std::sync::Arc::new(aws.records.clone()), providers);
    let ports = aws.generation(&models);
    recap_lambda::serve_json(|event| recap_lambda::handlers::generate(ports, event, MAX_RECEIVES))
        .await
}
