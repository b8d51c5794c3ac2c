//! The state the function tests run routes and handlers over: every port on one embedded
//! store (files announce nothing: the tests deliver S3's events themselves), no providers.

#![allow(dead_code)]

use std::sync::Arc;

use recap_domain::clock::{IdGen, SystemClock};
use recap_http::AppState;

/// The ports over `store`, with `ids`.
pub fn state(store: &recap_embedded::EmbeddedStore, ids: Arc<dyn IdGen>) -> AppState {
    AppState {
        records: Arc::new(store.records()),
        files: Arc::new(store.files("http://127.0.0.1:9")),
        clock: Arc::new(SystemClock),
        ids,
        generate: Arc::new(store.queue(recap_embedded::QueueConfig::new("generate"))),
        models: Arc::new(recap_domain::generation::NoProviders),
        tokens: None,
    }
}

/// [`state`] with the built-in transcript types, the model catalog and the tiers seeded.
pub async fn seeded(store: &recap_embedded::EmbeddedStore, ids: Arc<dyn IdGen>) -> AppState {
    let state = state(store, ids);
    let records = state.records.as_ref();
    recap_domain::transcript_types::seed(records).await.unwrap();
    recap_domain::catalog::seed(records, &SystemClock)
        .await
        .unwrap();
    recap_domain::billing::seed(records).await.unwrap();
    state
}
