//! Generation: billed input cost and makespan of the four outputs of one long transcript.
//!
//! `cargo bench --bench generation` (a bench binary that prints figures, not a timed test).
//!
//! The whole local stack runs (HTTP routes, embedded store, the generate consumer as `recap
//! serve` runs it) against a fake provider that bills like the real ones: a prompt's leading
//! part (schema, then transcript) of 1,024 tokens or more is read from its cache when the same
//! part was sent before and is cached by now; a prompt is cached `L / 10` after its call
//! starts (about a first token's time); every call takes `L`. Recap's warm-up wait is set to
//! `0.15 L`. Cache reads cost 10 % of the
//! input price and writes the input price (automatic caching without a write surcharge), and
//! the same calls are also priced at Anthropic's, OpenAI's and Gemini's published cache rates.
//!
//! Three runs of the same four outputs:
//! - **separate**: the provider caches nothing (the transcript sent separately for each output,
//!   the baseline);
//! - **cached, together**: caching on, but the four calls start at once (no warm-up wait);
//! - **cached, lead and follow** (what Recap does): the first output's call starts, the other
//!   three wait for its prompt to be cached, then run side by side.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use common::Stack;
use recap_domain::generation::ModelRegistry;
use recap_domain::models::{ModelAnswer, ModelError, ModelRequest, Models};
use recap_domain::money::{PriceSheet, Usage, cost};
use serde_json::{Value, json};

const T: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const ADMIN: &str = "11111111-1111-4111-8111-111111111111";
const PLATFORM: &str = "99999999-9999-4999-8999-999999999999";
const MIN_CACHED_TOKENS: u64 = 1_024;

struct Billing {
    caching: bool,
    latency: Duration,
    /// Prompt prefix → when it is readable from the cache.
    cache: Mutex<HashMap<String, Instant>>,
    usages: Mutex<Vec<Usage>>,
}

fn item(id: &str, quote: &str) -> Value {
    json!({"text": "point", "quote": quote, "segments": [id]})
}

/// A valid answer for the output type the instructions name, citing the first segment.
fn answer(r: &ModelRequest) -> Value {
    let line = r.cacheable_prefix.lines().next().unwrap_or_default();
    let id = line
        .trim_start_matches('[')
        .split(' ')
        .next()
        .unwrap_or("s0001");
    let text = line.split_once("] ").map_or("", |x| x.1);
    let text = text.split_once(": ").map_or(text, |x| x.1);
    let quote: String = text
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let it = item(id, &quote);
    let kind = ["one_pager", "slides", "bytes", "anchors"]
        .into_iter()
        .find(|k| r.instructions.contains(&format!("`{k}`")))
        .unwrap_or("bytes");
    let body = match kind {
        "one_pager" => {
            json!({"title": "T", "summary": "S", "key_points": [it], "action_items": []})
        }
        "slides" => json!({"title": "T", "slides": [{"title": "S", "bullets": [it]}]}),
        "anchors" => json!({"chapters": [{"title": "Start", "segment": id}], "key_moments": [it]}),
        _ => json!({"bytes": [it]}),
    };
    json!({ kind: body })
}

#[async_trait]
impl Models for Billing {
    async fn call(&self, r: &ModelRequest) -> Result<ModelAnswer, ModelError> {
        let started = Instant::now();
        let shared = format!("{}{}", r.json_schema, r.cacheable_prefix);
        let shared_tokens = recap_transcript::heuristic_tokens(&shared);
        let mut usage = Usage {
            uncached_input: recap_transcript::heuristic_tokens(&r.instructions),
            output: 300,
            ..Usage::default()
        };
        let hit = {
            let mut cache = self.cache.lock().unwrap();
            let hit = self.caching
                && shared_tokens >= MIN_CACHED_TOKENS
                && cache.get(&shared).is_some_and(|at| *at <= started);
            if self.caching && shared_tokens >= MIN_CACHED_TOKENS {
                cache.entry(shared).or_insert(started + self.latency / 10);
            }
            hit
        };
        if hit {
            usage.cache_read = shared_tokens;
        } else if self.caching && shared_tokens >= MIN_CACHED_TOKENS {
            usage.cache_write = shared_tokens;
        } else {
            usage.uncached_input += shared_tokens;
        }
        tokio::time::sleep(self.latency.saturating_sub(started.elapsed())).await;
        self.usages.lock().unwrap().push(usage);
        Ok(ModelAnswer {
            text: answer(r).to_string(),
            usage,
            model: r.model.clone(),
        })
    }
}

struct Registry {
    fake: Arc<Billing>,
    warmup: Duration,
}

impl ModelRegistry for Registry {
    fn models(&self, provider: &str) -> Option<Arc<dyn Models>> {
        (provider == "openai").then(|| self.fake.clone() as Arc<dyn Models>)
    }
    fn cache_warmup(&self, _: &str) -> Duration {
        self.warmup
    }
    fn sleep(
        &self,
        d: Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(d))
    }
}

struct Run {
    usages: Vec<Usage>,
    makespan: Duration,
}

async fn run(transcript: &str, caching: bool, warmup: Duration, latency: Duration) -> Run {
    let fake = Arc::new(Billing {
        caching,
        latency,
        cache: Mutex::new(HashMap::new()),
        usages: Mutex::new(Vec::new()),
    });
    let s = Stack::seeded().await.with_models(Arc::new(Registry {
        fake: fake.clone(),
        warmup,
    }));
    let admin = s.who(T, ADMIN);
    // The first user of the tenant is its admin.
    assert_eq!(s.get(&admin, "/me").await.0, StatusCode::OK);
    let platform = s.who_admin(T, PLATFORM, true);
    let (st, m) = s
        .call(
            &platform,
            Method::POST,
            "/models",
            Some(r#"{"provider":"openai","model":"bench-cached","context_window":200000,"max_output_tokens":8000,"capabilities":{"structured_output":true,"prompt_caching":true},"price":{"uncached_input":3000000,"cache_read":300000,"cache_write":3000000,"output":15000000,"reasoning":15000000}}"#),
        )
        .await;
    assert!(st.is_success() || st == StatusCode::CONFLICT, "{m}");
    let (st, bought) = s
        .call_with(
            &admin,
            Method::POST,
            "/credits/purchases",
            Some(
                &json!({"user_id": ADMIN, "credits": 10_000, "amount_micro_usd": 10_000_000})
                    .to_string(),
            ),
            &[("idempotency-key", "bench")],
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{bought}");
    let (st, t) = s
        .call(
            &admin,
            Method::POST,
            "/transcripts",
            Some(&json!({"title": "Long call", "type": "meeting", "content": transcript, "file_name": "call.vtt"}).to_string()),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    s.drain_uploads().await;
    let id = t["id"].as_str().unwrap();
    let (st, q) = s
        .call(
            &admin,
            Method::POST,
            &format!("/transcripts/{id}/outputs"),
            Some(r#"{"output_types":["one_pager","slides","bytes","anchors"],"model":"openai/bench-cached"}"#),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{q}");
    let started = Instant::now();
    s.drain_jobs().await;
    let makespan = started.elapsed();
    let (_, list) = s.get(&admin, &format!("/transcripts/{id}/outputs")).await;
    for o in list["items"].as_array().unwrap() {
        assert_eq!(o["status"], "done", "{o}");
    }
    let usages = fake.usages.lock().unwrap().clone();
    assert_eq!(usages.len(), 4, "one call per output");
    Run { usages, makespan }
}

/// The input part of the calls' cost at `price`, in micro-USD.
fn input_cost(usages: &[Usage], price: &PriceSheet) -> u64 {
    usages
        .iter()
        .map(|u| {
            cost(
                &Usage {
                    output: 0,
                    reasoning: 0,
                    ..*u
                },
                price,
            )
        })
        .sum()
}

/// Input $3/M; cache read and write as multiples of it.
fn sheet(read: f64, write: f64) -> PriceSheet {
    let input = 3_000_000u64;
    PriceSheet {
        uncached_input: input,
        cache_read: (input as f64 * read) as u64,
        cache_write: (input as f64 * write) as u64,
        output: 15_000_000,
        reasoning: 15_000_000,
    }
}

#[tokio::main]
async fn main() {
    let latency = Duration::from_millis(
        std::env::var("BENCH_LATENCY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(500),
    );
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/shared/transcript/tests/corpus/webvtt-py/netflix_chicas_del_cable.vtt"
    );
    let transcript = std::fs::read_to_string(path).expect("corpus file");
    // Recap waits a little longer than the provider's time to cache (L / 10), to be safe.
    let warmup = latency * 3 / 20;
    let separate = run(&transcript, false, warmup, latency).await;
    let together = run(&transcript, true, Duration::ZERO, latency).await;
    let follow = run(&transcript, true, warmup, latency).await;

    let shared = follow
        .usages
        .iter()
        .map(|u| u.cache_read + u.cache_write)
        .max()
        .unwrap_or(0);
    println!(
        "four outputs (one_pager, slides, bytes, anchors) of netflix_chicas_del_cable.vtt: \
         shared prompt prefix {shared} tokens; call latency L = {} ms\n",
        latency.as_millis()
    );
    let fake = sheet(0.10, 1.0);
    let base = input_cost(&separate.usages, &fake) as f64;
    let l = latency.as_secs_f64();
    println!(
        "{:<34} {:>14} {:>10} {:>12} {:>10}",
        "run", "input µUSD", "vs separate", "makespan", "vs L"
    );
    for (name, r) in [
        ("separate (no cache)", &separate),
        ("cached, four at once", &together),
        ("cached, lead and follow (Recap)", &follow),
    ] {
        let c = input_cost(&r.usages, &fake) as f64;
        println!(
            "{name:<34} {c:>14.0} {:>9.3}x {:>9.0} ms {:>9.2}x",
            c / base,
            r.makespan.as_secs_f64() * 1000.0,
            r.makespan.as_secs_f64() / l
        );
    }
    println!("\nthe lead-and-follow calls priced at published cache rates (read, write x input):");
    for (name, read, write) in [
        ("fake above (0.10, 1.00)", 0.10, 1.0),
        ("Anthropic 5-min cache (0.10, 1.25)", 0.10, 1.25),
        ("OpenAI automatic (0.50, 1.00)", 0.50, 1.0),
        ("Gemini 2.5 implicit (0.25, 1.00)", 0.25, 1.0),
    ] {
        let p = sheet(read, write);
        let ratio = input_cost(&follow.usages, &p) as f64 / input_cost(&separate.usages, &p) as f64;
        println!("  {name:<36} {ratio:.3}x");
    }
    let cost_ratio = input_cost(&follow.usages, &fake) as f64 / base;
    let makespan_ratio = follow.makespan.as_secs_f64() / l;
    println!(
        "\nRESULT cost ratio {cost_ratio:.3}x (target <= 0.35x), makespan {makespan_ratio:.2} L (target <= 1.2 L)"
    );
}
