//! The one contract suite for Recap's ports, written once and run against every adapter.
//!
//! An adapter's test file implements [`Backend`] (fresh, empty resources on each call) and
//! invokes [`contract_tests!`], which expands to one `#[tokio::test]` per case below, so that
//! every case shows by name in each adapter's test output and none can be left out.

use std::sync::Arc;

use async_trait::async_trait;
use recap_domain::files::Files;
use recap_domain::queue::Queue;
use recap_domain::records::Records;

pub mod files;
pub mod money;
pub mod queue;
pub mod records;

#[async_trait]
pub trait Backend: Send + Sync {
    /// A fresh, empty table.
    async fn records(&self) -> Arc<dyn Records>;
    /// A fresh, empty file store whose presigned URLs a plain HTTP client can use.
    async fn files(&self) -> Arc<dyn Files>;
    /// A fresh queue (FIFO if asked, where the adapter has such queues) and its dead-letter
    /// queue, which takes a message on the receive after `max_receive` receives.
    async fn queue(&self, max_receive: u32, fifo: bool) -> (Arc<dyn Queue>, Arc<dyn Queue>);
    /// Requests the concurrency cases keep in flight at once.
    fn max_in_flight(&self) -> usize {
        1_000
    }
}

/// Expands to one test per contract case, each on a fresh backend from `$make().await`.
#[macro_export]
macro_rules! contract_tests {
    ($make:path) => {
        $crate::contract_tests!(@cases $make;
            records::put_get_replace_delete,
            records::conditions_pass_and_fail,
            records::update_semantics,
            records::transaction_all_or_nothing,
            records::transaction_refusals,
            records::query_order_and_paging,
            records::index_query_and_paging,
            records::cursor_from_elsewhere_is_refused,
            records::bad_input_writes_nothing,
            records::concurrent_conditional_updates_lose_nothing,
            files::round_trip,
            files::list_by_prefix_with_paging,
            files::presigned_urls_over_http,
            queue::send_receive_delete,
            queue::redelivery_after_visibility_timeout,
            queue::dead_letter_after_receive_limit,
            queue::send_batch_delivers_all,
            queue::deduplication_id,
            money::concurrent_reserve_no_overdraft,
            money::settle_charges_once,
            money::purchases_are_idempotent,
        );
    };
    (@cases $make:path; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let backend = $make().await;
                $crate::$module::$case(&backend).await;
            }
        )*
    };
}

/// A plain HTTP client for tests. In a workspace build reqwest has rustls with no crypto
/// provider of its own (recap-ai's choice), and building a client without one panics: this
/// installs ring, as `recap_ai::Http::new` does, first.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Waits for a condition on a queue or store that settles in time, with a bound.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
