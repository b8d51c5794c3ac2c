//! What each client sends (path, headers, body) and how it reads the answer, usage included,
//! against the provider's documented shapes.

mod common;

use common::{Fake, KEY, Reply, Wire, answer_json, fast_retry, request};
use recap_ai::{
    AnthropicClient, ApiKey, CompatibleFormat, GeminiClient, Http, OpenAiClient, ProviderConfig,
    ProviderError, Providers, for_provider,
};
use recap_domain::models::ModelError;
use recap_domain::money::Usage;
use serde_json::{Value, json};

fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn header<'a>(seen: &'a common::Seen, name: &str) -> Option<&'a str> {
    seen.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Every key anywhere in a JSON value.
fn keys(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                found.extend(map.keys().cloned());
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    found
}

#[tokio::test]
async fn openai_sends_a_strict_json_schema_and_maps_cached_and_reasoning_tokens() {
    let wire = Wire::OpenAi;
    let usage = json!({
        "prompt_tokens": 2_000,
        "completion_tokens": 300,
        "total_tokens": 2_300,
        "prompt_tokens_details": { "cached_tokens": 1_536, "audio_tokens": 0 },
        "completion_tokens_details": {
            "reasoning_tokens": 128, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0
        }
    });
    let mut body = wire.success(&answer_json());
    body["usage"] = usage;
    let fake = Fake::start(vec![Reply::json(200, body)]).await;
    let client = wire.client(&wire.config(&fake.url, &[]));
    let req = request("gpt-4o-mini");

    let answer = client.call(&req).await.unwrap();

    assert_eq!(parsed(&answer.text), answer_json());
    assert_eq!(
        answer.model, "gpt-4o-mini-2024-07-18",
        "the model that answered"
    );
    assert_eq!(
        answer.usage,
        Usage {
            uncached_input: 464,
            cache_read: 1_536,
            cache_write: 0,
            output: 172,
            reasoning: 128,
        }
    );

    let seen = &fake.seen()[0];
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(
        header(seen, "authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(header(seen, "content-type"), Some("application/json"));
    let sent = &seen.body;
    assert_eq!(sent["model"], "gpt-4o-mini");
    assert_eq!(sent["max_completion_tokens"], 1_500);
    assert!(sent.get("max_tokens").is_none());
    assert_eq!(
        sent["response_format"],
        json!({
            "type": "json_schema",
            "json_schema": { "name": "one_pager", "schema": req.json_schema, "strict": true }
        })
    );
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["role"], "user");
    let content = messages[0]["content"].as_str().unwrap();
    assert!(
        content.starts_with(&req.cacheable_prefix),
        "the transcript opens the prompt"
    );
    assert!(content.ends_with(&req.instructions));
}

#[tokio::test]
async fn openai_without_usage_details_counts_everything_as_uncached_output() {
    // Older models and many compatible servers omit the details objects, or send nulls.
    let wire = Wire::Compatible;
    let mut body = wire.success(&answer_json());
    body["usage"] = json!({
        "prompt_tokens": 812, "completion_tokens": 64, "total_tokens": 876,
        "prompt_tokens_details": null
    });
    body["model"] = json!("llama3.1:8b");
    let fake = Fake::start(vec![Reply::json(200, body)]).await;
    let client = wire.client(&wire.config(&fake.url, &[]));

    let answer = client.call(&request("llama3.1:8b")).await.unwrap();

    assert_eq!(
        answer.usage,
        Usage {
            uncached_input: 812,
            output: 64,
            ..Usage::default()
        }
    );
    assert_eq!(answer.model, "llama3.1:8b");
}

#[tokio::test]
async fn openai_compatible_uses_max_tokens_and_sends_no_key_when_none_is_set() {
    let wire = Wire::Compatible;
    let fake = Fake::start(vec![wire.ok()]).await;
    let mut config = wire.config(&fake.url, &[]);
    config.openai_compatible.key = None;
    let client = wire.client(&config);
    let req = request("llama3.1:8b");

    client.call(&req).await.unwrap();

    let seen = &fake.seen()[0];
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(header(seen, "authorization"), None);
    assert_eq!(seen.body["max_tokens"], 1_500);
    assert!(seen.body.get("max_completion_tokens").is_none());
    assert_eq!(seen.body["response_format"]["type"], "json_schema");
    assert_eq!(
        seen.body["response_format"]["json_schema"]["schema"],
        req.json_schema
    );
}

#[tokio::test]
async fn openai_compatible_json_object_mode_puts_the_schema_in_the_prompt() {
    let wire = Wire::Compatible;
    let fake = Fake::start(vec![wire.ok()]).await;
    let config = wire.config(
        &fake.url,
        &[("RECAP_OPENAI_COMPATIBLE_RESPONSE_FORMAT", "json_object")],
    );
    assert_eq!(
        config.openai_compatible.format,
        CompatibleFormat::JsonObject
    );
    let client = wire.client(&config);
    let req = request("llama3.1:8b");

    let answer = client.call(&req).await.unwrap();

    assert_eq!(parsed(&answer.text), answer_json());
    let sent = &fake.seen()[0].body;
    assert_eq!(sent["response_format"], json!({ "type": "json_object" }));
    let content = sent["messages"][0]["content"].as_str().unwrap();
    assert!(content.starts_with(&req.cacheable_prefix));
    assert!(
        content.contains("JSON"),
        "JSON mode needs the word in the prompt"
    );
    assert!(
        content.contains(&req.json_schema.to_string()),
        "the schema is in the prompt"
    );
}

#[tokio::test]
async fn openai_refusal_is_rejected() {
    let wire = Wire::OpenAi;
    let mut body = wire.success(&answer_json());
    body["choices"][0]["message"] =
        json!({ "role": "assistant", "content": null, "refusal": "I can't help with that." });
    let fake = Fake::start(vec![Reply::json(200, body)]).await;
    let client = wire.client(&wire.config(&fake.url, &[]));

    let err = client.call(&request("gpt-4o-mini")).await.unwrap_err();

    assert!(
        matches!(&err, ModelError::Rejected(m) if m.contains("can't help")),
        "{err:?}"
    );
}

#[tokio::test]
async fn openai_answer_without_usage_is_malformed() {
    let wire = Wire::OpenAi;
    let mut body = wire.success(&answer_json());
    body.as_object_mut().unwrap().remove("usage");
    let fake = Fake::start(vec![Reply::json(200, body)]).await;
    let client = wire.client(&wire.config(&fake.url, &[]));

    let err = client.call(&request("gpt-4o-mini")).await.unwrap_err();

    assert!(matches!(err, ModelError::Malformed(_)), "{err:?}");
}

#[tokio::test]
async fn anthropic_forces_one_tool_caches_the_prefix_block_and_maps_cache_tokens() {
    let wire = Wire::Anthropic;
    let mut body = wire.success(&answer_json());
    body["usage"] = json!({
        "input_tokens": 42,
        "cache_creation_input_tokens": 2_048,
        "cache_read_input_tokens": 10_240,
        "output_tokens": 512,
        "service_tier": "standard"
    });
    // A text block before the tool call, as Claude sometimes writes.
    body["content"] = json!([
        { "type": "text", "text": "Here is the one-pager." },
        { "type": "tool_use", "id": "toolu_01", "name": "one_pager", "input": answer_json() }
    ]);
    let fake = Fake::start(vec![Reply::json(200, body)]).await;
    let client = wire.client(&wire.config(&fake.url, &[]));
    let req = request("claude-sonnet-4-5");

    let answer = client.call(&req).await.unwrap();

    assert_eq!(
        parsed(&answer.text),
        answer_json(),
        "the tool input, serialized"
    );
    assert_eq!(answer.model, "claude-sonnet-4-5-20250929");
    assert_eq!(
        answer.usage,
        Usage {
            uncached_input: 42,
            cache_read: 10_240,
            cache_write: 2_048,
            output: 512,
            reasoning: 0,
        }
    );

    let seen = &fake.seen()[0];
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(header(seen, "x-api-key"), Some(KEY));
    assert_eq!(header(seen, "anthropic-version"), Some("2023-06-01"));
    assert_eq!(header(seen, "authorization"), None);
    let sent = &seen.body;
    assert_eq!(sent["model"], "claude-sonnet-4-5");
    assert_eq!(sent["max_tokens"], 1_500);
    let tools = sent["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0]["name"], "one_pager");
    assert_eq!(tools[0]["input_schema"], req.json_schema);
    assert_eq!(
        sent["tool_choice"],
        json!({ "type": "tool", "name": "one_pager" })
    );
    let content = sent["messages"][0]["content"].as_array().unwrap();
    assert_eq!(sent["messages"][0]["role"], "user");
    assert_eq!(
        content[0],
        json!({ "type": "text", "text": req.cacheable_prefix, "cache_control": { "type": "ephemeral" } }),
        "the prefix, first, in its own cacheable block"
    );
    assert_eq!(
        content[1],
        json!({ "type": "text", "text": req.instructions })
    );
    assert_eq!(content.len(), 2);
}

#[tokio::test]
async fn anthropic_without_a_tool_call_returns_the_text_and_still_reports_usage() {
    // Cut by max_tokens before the tool call: the caller's validation decides; the tokens
    // were spent and must be metered.
    let wire = Wire::Anthropic;
    let body = json!({
        "id": "msg_02", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": [ { "type": "text", "text": "Let me think about" } ],
        "stop_reason": "max_tokens", "stop_sequence": null,
        "usage": { "input_tokens": 900, "output_tokens": 1_500 }
    });
    let fake = Fake::start(vec![Reply::json(200, body)]).await;
    let client = wire.client(&wire.config(&fake.url, &[]));

    let answer = client.call(&request("claude-sonnet-4-5")).await.unwrap();

    assert_eq!(answer.text, "Let me think about");
    assert_eq!(
        answer.usage,
        Usage {
            uncached_input: 900,
            output: 1_500,
            ..Usage::default()
        }
    );
}

#[tokio::test]
async fn gemini_sends_a_gemini_schema_and_maps_cached_and_thought_tokens() {
    let wire = Wire::Gemini;
    let body = json!({
        "candidates": [{
            "content": { "role": "model", "parts": [
                { "text": "Weighing the points…", "thought": true },
                { "text": answer_json().to_string() }
            ] },
            "finishReason": "STOP",
            "index": 0
        }],
        "usageMetadata": {
            "promptTokenCount": 5_000,
            "cachedContentTokenCount": 4_096,
            "candidatesTokenCount": 350,
            "thoughtsTokenCount": 800,
            "totalTokenCount": 6_150,
            "promptTokensDetails": [ { "modality": "TEXT", "tokenCount": 5_000 } ],
            "cacheTokensDetails": [ { "modality": "TEXT", "tokenCount": 4_096 } ]
        },
        "modelVersion": "gemini-2.5-flash-preview-05-20",
        "responseId": "abc"
    });
    let fake = Fake::start(vec![Reply::json(200, body)]).await;
    let client = wire.client(&wire.config(&fake.url, &[]));
    let req = request("gemini-2.5-flash");

    let answer = client.call(&req).await.unwrap();

    assert_eq!(
        parsed(&answer.text),
        answer_json(),
        "thought parts are not the answer"
    );
    assert_eq!(answer.model, "gemini-2.5-flash-preview-05-20");
    assert_eq!(
        answer.usage,
        Usage {
            uncached_input: 904,
            cache_read: 4_096,
            cache_write: 0,
            output: 350,
            reasoning: 800,
        }
    );

    let seen = &fake.seen()[0];
    assert_eq!(seen.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(header(seen, "x-goog-api-key"), Some(KEY));
    assert_eq!(header(seen, "authorization"), None);
    let sent = &seen.body;
    let parts = sent["contents"][0]["parts"].as_array().unwrap();
    assert_eq!(sent["contents"][0]["role"], "user");
    assert_eq!(parts[0]["text"], req.cacheable_prefix, "the prefix first");
    assert_eq!(parts[1]["text"], req.instructions);
    let config = &sent["generationConfig"];
    assert_eq!(config["responseMimeType"], "application/json");
    assert_eq!(config["maxOutputTokens"], 1_500);
    let schema = &config["responseSchema"];
    let schema_keys = keys(schema);
    assert!(
        !schema_keys.iter().any(|k| k == "additionalProperties"),
        "{schema}"
    );
    assert!(!schema_keys.iter().any(|k| k == "$schema"), "{schema}");
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["required"], json!(["title", "points"]));
    assert_eq!(
        schema["properties"]["points"]["items"]["properties"]["segment_ids"],
        json!({ "type": "array", "items": { "type": "string" } })
    );
}

#[tokio::test]
async fn gemini_blocked_prompt_is_rejected_and_odd_model_ids_never_reach_the_url() {
    let wire = Wire::Gemini;
    let body = json!({
        "promptFeedback": { "blockReason": "SAFETY", "safetyRatings": [] },
        "usageMetadata": { "promptTokenCount": 12, "totalTokenCount": 12 },
        "modelVersion": "gemini-2.5-flash"
    });
    let fake = Fake::start(vec![Reply::json(200, body)]).await;
    let client = wire.client(&wire.config(&fake.url, &[]));

    let err = client.call(&request("gemini-2.5-flash")).await.unwrap_err();
    assert!(
        matches!(&err, ModelError::Rejected(m) if m.contains("SAFETY")),
        "{err:?}"
    );

    let err = client.call(&request("../files/x?key=")).await.unwrap_err();
    assert!(matches!(err, ModelError::Rejected(_)), "{err:?}");
    assert_eq!(fake.count(), 1, "the odd id was not sent");

    // "models/…" as the API lists them is accepted.
    client
        .call(&request("models/gemini-2.5-flash"))
        .await
        .unwrap_err();
    assert_eq!(
        fake.seen()[1].path,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
}

/// Every object schema (a node with `properties`) anywhere in `schema`.
fn object_schemas(schema: &Value) -> Vec<&Value> {
    let mut found = Vec::new();
    let mut stack = vec![schema];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if map.get("properties").is_some_and(Value::is_object) {
                    found.push(v);
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    found
}

#[tokio::test]
async fn the_built_in_output_types_go_out_in_each_providers_dialect() {
    let openai = Fake::start(vec![Wire::OpenAi.ok()]).await;
    let gemini = Fake::start(vec![Wire::Gemini.ok()]).await;
    let openai_client = Wire::OpenAi.client(&Wire::OpenAi.config(&openai.url, &[]));
    let gemini_client = Wire::Gemini.client(&Wire::Gemini.config(&gemini.url, &[]));
    let kinds = recap_domain::outputs::builtins();
    assert!(!kinds.is_empty());

    for (n, kind) in kinds.iter().enumerate() {
        let mut req = request("gpt-4o-mini");
        req.schema_name = kind.key.clone();
        req.json_schema = kind.json_schema.clone();
        openai_client.call(&req).await.unwrap();
        req.model = "gemini-2.5-flash".into();
        gemini_client.call(&req).await.unwrap();

        // OpenAI's strict mode takes only closed objects that require all their properties.
        let format = &openai.seen()[n].body["response_format"]["json_schema"];
        assert_eq!(format["name"], kind.key.as_str());
        assert_eq!(format["strict"], true, "{}", kind.key);
        let objects = object_schemas(&format["schema"]);
        assert!(!objects.is_empty());
        for object in objects {
            assert_eq!(
                object["additionalProperties"], false,
                "{}: {object}",
                kind.key
            );
            let mut declared: Vec<&str> = object["properties"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let mut required: Vec<&str> = object["required"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            declared.sort_unstable();
            required.sort_unstable();
            assert_eq!(declared, required, "{}: {object}", kind.key);
        }

        // Gemini: nothing outside its subset, the same requirements.
        let schema = &gemini.seen()[n].body["generationConfig"]["responseSchema"];
        assert!(
            !keys(schema)
                .iter()
                .any(|k| k == "additionalProperties" || k.starts_with('$'))
        );
        assert_eq!(
            schema["required"], kind.json_schema["required"],
            "{}",
            kind.key
        );
    }
}

#[tokio::test]
async fn the_factory_builds_only_configured_providers() {
    let none = ProviderConfig::from_vars(&|_| None).unwrap();
    for kind in ["openai", "anthropic", "gemini", "openai_compatible"] {
        assert!(
            for_provider(kind, &none).unwrap().is_none(),
            "{kind} without a key"
        );
    }
    assert!(matches!(
        for_provider("offline-ish", &none),
        Err(ProviderError::UnknownKind(k)) if k == "offline-ish"
    ));

    // An OpenAI-compatible server is configured by its URL; a key is optional.
    let local = ProviderConfig::from_vars(&|name| {
        (name == "RECAP_OPENAI_COMPATIBLE_BASE_URL").then(|| "http://127.0.0.1:11434/v1".into())
    })
    .unwrap();
    assert!(for_provider("openai_compatible", &local).unwrap().is_some());
    assert!(for_provider("openai", &local).unwrap().is_none());

    let fake = Fake::start(vec![Wire::Anthropic.ok()]).await;
    let providers = Providers::from_config(&Wire::Anthropic.config(&fake.url, &[])).unwrap();
    assert_eq!(providers.kinds(), vec![recap_ai::ProviderKind::Anthropic]);
    assert!(providers.get("openai").is_none());
    let answer = providers
        .get("anthropic")
        .unwrap()
        .call(&request("claude-haiku-4-5"))
        .await
        .unwrap();
    assert_eq!(parsed(&answer.text), answer_json());
}

#[tokio::test]
async fn catalog_providers_find_the_client_of_their_kind() {
    use recap_domain::generation::ModelRegistry;

    let fake = Fake::start(vec![Wire::Gemini.ok()]).await;
    let providers = Providers::from_config(&Wire::Gemini.config(&fake.url, &[])).unwrap();
    let (catalog, _) = recap_domain::catalog::seed_data();
    let registry = providers.for_catalog(&catalog);

    // The seeded catalog names Gemini's provider "google".
    let google = registry
        .models("google")
        .expect("google is the gemini kind");
    for id in ["openai", "anthropic", "self_hosted", "offline", "gemini"] {
        assert!(registry.models(id).is_none(), "{id}");
    }
    let answer = google.call(&request("gemini-2.5-flash")).await.unwrap();
    assert_eq!(parsed(&answer.text), answer_json());
    assert_eq!(fake.count(), 1);
}

#[test]
fn clients_do_not_show_their_keys() {
    let key = || ApiKey::new(KEY).unwrap();
    let retry = fast_retry();
    let http = Http::for_policy(&retry).unwrap();
    let shown = [
        format!(
            "{:?}",
            OpenAiClient::openai(&http, "https://api.openai.com/v1", key(), retry).unwrap()
        ),
        format!(
            "{:?}",
            OpenAiClient::compatible(
                &http,
                "http://x/v1",
                Some(key()),
                CompatibleFormat::JsonSchema,
                retry
            )
            .unwrap()
        ),
        format!(
            "{:?}",
            AnthropicClient::new(&http, "https://api.anthropic.com/v1", key(), retry).unwrap()
        ),
        format!(
            "{:?}",
            GeminiClient::new(
                &http,
                "https://generativelanguage.googleapis.com/v1beta",
                key(),
                retry
            )
            .unwrap()
        ),
    ];
    for text in shown {
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains("0123456789"), "{text}");
    }
}
