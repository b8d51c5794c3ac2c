//! The global catalog of providers and models, with versioned prices.
//!
//! A model's record carries its current price sheet and `price_version`; every version is also
//! kept, immutable, under `CATALOG#PRICES`, so a ledger entry's `price_version` can always be
//! looked up. A price change writes the new version and moves the model to it in one
//! transaction, conditioned on the version it replaces. A model without a price cannot be
//! used: [`usable`] refuses it (the offline provider's zero price is a price).

use serde::{Deserialize, Serialize};

use crate::clock::{Clock, Timestamp};
use crate::error::{Conflict, Error, Result};
use crate::keys;
use crate::money::PriceSheet;
use crate::records::{
    Condition, Item, Key, Query, Records, Update, Write, from_item, query_all_as, to_item, to_value,
};

pub const PROVIDERS: &str = "PROVIDERS";
pub const MODELS: &str = "MODELS";
pub const PRICES: &str = "PRICES";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Provider {
    pub id: String,
    pub name: String,
    /// `openai`, `anthropic`, `gemini`, `openai_compatible` or `offline`: the client to use.
    pub kind: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Capabilities {
    pub structured_output: bool,
    pub prompt_caching: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Model {
    pub provider: String,
    pub model: String,
    pub display_name: String,
    pub context_window: u64,
    pub max_output_tokens: u64,
    pub capabilities: Capabilities,
    /// The current price; `None` until one is set, and then the model cannot be used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<PriceSheet>,
    #[serde(default)]
    pub price_version: u32,
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
}

/// One version of a model's price, kept forever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PriceVersion {
    pub provider: String,
    pub model: String,
    pub version: u32,
    pub price: PriceSheet,
    pub effective_at: Timestamp,
}

fn model_key(provider: &str, model: &str) -> Key {
    Key::new(keys::catalog_pk(MODELS), format!("{provider}/{model}"))
}

fn price_key(provider: &str, model: &str, version: u32) -> Key {
    Key::new(
        keys::catalog_pk(PRICES),
        format!("{provider}/{model}#v{version:06}"),
    )
}

fn entity(key: &Key, v: &impl Serialize, kind: &str) -> Result<Item> {
    let mut item = to_item(key, v)?;
    item.insert("entity".into(), kind.into());
    Ok(item)
}

/// Per million tokens, in micro-USD: `usd(2, 500_000)` is $2.50.
const fn usd(dollars: u64, micro: u64) -> u64 {
    dollars * 1_000_000 + micro
}

/// The seeded providers and models, with list prices published by each provider (2025);
/// platform admins keep them current through the catalog routes.
pub fn seed_data() -> (Vec<Provider>, Vec<Model>) {
    let p = |id: &str, name: &str, kind: &str| Provider {
        id: id.into(),
        name: name.into(),
        kind: kind.into(),
    };
    let providers = vec![
        p("openai", "OpenAI", "openai"),
        p("anthropic", "Anthropic", "anthropic"),
        p("google", "Google", "gemini"),
        p(
            "self_hosted",
            "Self-hosted (OpenAI-compatible)",
            "openai_compatible",
        ),
        p("offline", "Offline (extractive, no network)", "offline"),
    ];
    let caps = |structured_output, prompt_caching| Capabilities {
        structured_output,
        prompt_caching,
    };
    #[allow(clippy::too_many_arguments)]
    fn m(
        provider: &str,
        model: &str,
        name: &str,
        ctx: u64,
        max_out: u64,
        caps: Capabilities,
        price: Option<PriceSheet>,
    ) -> Model {
        Model {
            provider: provider.into(),
            model: model.into(),
            display_name: name.into(),
            context_window: ctx,
            max_output_tokens: max_out,
            capabilities: caps,
            price_version: u32::from(price.is_some()),
            price,
            active: true,
            updated_at: None,
        }
    }
    let sheet = |input, read, write, output| PriceSheet {
        uncached_input: input,
        cache_read: read,
        cache_write: write,
        output,
        // Reasoning tokens are billed as output by every provider seeded here.
        reasoning: output,
    };
    let models = vec![
        m(
            "openai",
            "gpt-4o",
            "GPT-4o",
            128_000,
            16_384,
            caps(true, true),
            Some(sheet(
                usd(2, 500_000),
                usd(1, 250_000),
                usd(2, 500_000),
                usd(10, 0),
            )),
        ),
        m(
            "openai",
            "gpt-4o-mini",
            "GPT-4o mini",
            128_000,
            16_384,
            caps(true, true),
            Some(sheet(
                usd(0, 150_000),
                usd(0, 75_000),
                usd(0, 150_000),
                usd(0, 600_000),
            )),
        ),
        m(
            "anthropic",
            "claude-sonnet-4",
            "Claude Sonnet 4",
            200_000,
            64_000,
            caps(true, true),
            Some(sheet(
                usd(3, 0),
                usd(0, 300_000),
                usd(3, 750_000),
                usd(15, 0),
            )),
        ),
        m(
            "anthropic",
            "claude-3-5-haiku",
            "Claude 3.5 Haiku",
            200_000,
            8_192,
            caps(true, true),
            Some(sheet(usd(0, 800_000), usd(0, 80_000), usd(1, 0), usd(4, 0))),
        ),
        m(
            "google",
            "gemini-2.5-flash",
            "Gemini 2.5 Flash",
            1_048_576,
            65_536,
            caps(true, true),
            Some(sheet(
                usd(0, 300_000),
                usd(0, 75_000),
                usd(0, 300_000),
                usd(2, 500_000),
            )),
        ),
        m(
            "google",
            "gemini-2.5-pro",
            "Gemini 2.5 Pro",
            1_048_576,
            65_536,
            caps(true, true),
            Some(sheet(
                usd(1, 250_000),
                usd(0, 310_000),
                usd(1, 250_000),
                usd(10, 0),
            )),
        ),
        // Priced by whoever runs it: no price until a platform admin sets one.
        m(
            "self_hosted",
            "llama-3.1-8b-instruct",
            "Llama 3.1 8B (self-hosted)",
            128_000,
            4_096,
            caps(true, false),
            None,
        ),
        m(
            "offline",
            "extractive",
            "Offline extractive",
            1_000_000,
            16_384,
            caps(true, false),
            Some(PriceSheet::default()),
        ),
    ];
    (providers, models)
}

/// Writes the seeded providers, models and their first prices; what exists is left alone.
pub async fn seed(records: &dyn Records, clock: &dyn Clock) -> Result<usize> {
    let (providers, models) = seed_data();
    let now = clock.now();
    let mut written = 0;
    let put_new = async |item: Item| -> Result<bool> {
        match records.put(item, vec![Condition::NotExists]).await {
            Ok(()) => Ok(true),
            Err(e) if e.failed_write() == Some(0) => Ok(false),
            Err(e) => Err(e),
        }
    };
    for p in providers {
        let key = Key::new(keys::catalog_pk(PROVIDERS), p.id.clone());
        written += usize::from(put_new(entity(&key, &p, "provider")?).await?);
    }
    for mut m in models {
        m.updated_at = Some(now);
        if let Some(price) = m.price {
            let v = PriceVersion {
                provider: m.provider.clone(),
                model: m.model.clone(),
                version: 1,
                price,
                effective_at: now,
            };
            put_new(entity(&price_key(&m.provider, &m.model, 1), &v, "price")?).await?;
        }
        let key = model_key(&m.provider, &m.model);
        written += usize::from(put_new(entity(&key, &m, "model")?).await?);
    }
    Ok(written)
}

async fn all<T: for<'de> Deserialize<'de>>(records: &dyn Records, pk: String) -> Result<Vec<T>> {
    query_all_as(records, Query::partition(pk)).await
}

pub async fn providers(records: &dyn Records) -> Result<Vec<Provider>> {
    all(records, keys::catalog_pk(PROVIDERS)).await
}

pub async fn models(records: &dyn Records) -> Result<Vec<Model>> {
    all(records, keys::catalog_pk(MODELS)).await
}

/// `Err` naming `field` unless every `provider/model` of `names` is in the catalog: a rule that
/// names a model that does not exist would only ever refuse.
pub async fn check_known_models(
    records: &dyn Records,
    field: &'static str,
    names: &[String],
) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let known = models(records).await?;
    for name in names {
        let found = name
            .split_once('/')
            .is_some_and(|(p, m)| known.iter().any(|k| k.provider == p && k.model == m));
        if !found {
            return Err(Error::validation(
                field,
                format!("{name} is not a model of the catalog (GET /models)"),
            ));
        }
    }
    Ok(())
}

/// `Err` naming `field` unless every provider id of `names` is in the catalog.
pub async fn check_known_providers(
    records: &dyn Records,
    field: &'static str,
    names: &[String],
) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let known = providers(records).await?;
    for name in names {
        if !known.iter().any(|k| &k.id == name) {
            return Err(Error::validation(
                field,
                format!("{name} is not a provider of the catalog (GET /providers)"),
            ));
        }
    }
    Ok(())
}

pub async fn model(records: &dyn Records, provider: &str, model: &str) -> Result<Model> {
    match records.get(&model_key(provider, model)).await? {
        Some(item) => from_item(item),
        None => Err(Error::not_found("model")),
    }
}

/// A model that may be called: active and priced. Its price and version come with it.
pub async fn usable(
    records: &dyn Records,
    provider: &str,
    model: &str,
) -> Result<(Model, PriceSheet)> {
    let m = self::model(records, provider, model)
        .await
        .map_err(|e| match e {
            Error::NotFound { .. } => {
                Error::validation("model", format!("no model {provider}/{model}"))
            }
            e => e,
        })?;
    if !m.active {
        return Err(Error::validation(
            "model",
            format!("{provider}/{model} is not active"),
        ));
    }
    match m.price {
        Some(p) => Ok((m, p)),
        None => Err(Error::validation(
            "model",
            format!(
                "{provider}/{model} has no price and cannot be used until a platform admin sets one"
            ),
        )),
    }
}

/// A price version, as a ledger entry names it.
pub async fn price(
    records: &dyn Records,
    provider: &str,
    model: &str,
    version: u32,
) -> Result<PriceVersion> {
    match records.get(&price_key(provider, model, version)).await? {
        Some(item) => from_item(item),
        None => Err(Error::not_found("price version")),
    }
}

/// Every price version of a model, oldest first.
pub async fn prices(
    records: &dyn Records,
    provider: &str,
    model: &str,
) -> Result<Vec<PriceVersion>> {
    let page = records
        .query(
            Query::partition(keys::catalog_pk(PRICES))
                .begins_with(format!("{provider}/{model}#v"))
                .limit(1000),
        )
        .await?;
    page.items.into_iter().map(from_item).collect()
}

/// What a platform admin sends to add or change a model.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ModelInput {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub display_name: Option<String>,
    pub context_window: Option<u64>,
    pub max_output_tokens: Option<u64>,
    pub capabilities: Option<Capabilities>,
    pub price: Option<PriceSheet>,
    pub active: Option<bool>,
}

fn check_name(field: &'static str, s: &str) -> Result<()> {
    let ok = (1..=80).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            field,
            "must be 1-80 of a-z, 0-9, '-', '_' or '.'",
        ))
    }
}

/// The largest context window a model may be given: 100 million tokens.
pub const MAX_CONTEXT_WINDOW: u64 = 100_000_000;

fn check_limits(ctx: u64, max_out: u64) -> Result<()> {
    if ctx > MAX_CONTEXT_WINDOW {
        return Err(Error::validation(
            "context_window",
            format!("must be at most {MAX_CONTEXT_WINDOW} tokens"),
        ));
    }
    if ctx == 0 || max_out == 0 || max_out > ctx {
        return Err(Error::validation(
            "max_output_tokens",
            "context_window and max_output_tokens must be positive, and the output must fit the window",
        ));
    }
    Ok(())
}

/// Adds a model (platform admins). Its provider must exist.
pub async fn create_model(
    records: &dyn Records,
    clock: &dyn Clock,
    input: ModelInput,
) -> Result<Model> {
    let provider = input
        .provider
        .ok_or_else(|| Error::validation("provider", "is required"))?;
    let model = input
        .model
        .ok_or_else(|| Error::validation("model", "is required"))?;
    check_name("provider", &provider)?;
    check_name("model", &model)?;
    let ctx = input
        .context_window
        .ok_or_else(|| Error::validation("context_window", "is required"))?;
    let max_out = input
        .max_output_tokens
        .ok_or_else(|| Error::validation("max_output_tokens", "is required"))?;
    check_limits(ctx, max_out)?;
    if let Some(p) = &input.price {
        p.validate()?;
    }
    if records
        .get(&Key::new(keys::catalog_pk(PROVIDERS), provider.clone()))
        .await?
        .is_none()
    {
        return Err(Error::validation(
            "provider",
            format!("no provider {provider}"),
        ));
    }
    let now = clock.now();
    let m = Model {
        display_name: input.display_name.unwrap_or_else(|| model.clone()),
        provider: provider.clone(),
        model: model.clone(),
        context_window: ctx,
        max_output_tokens: max_out,
        capabilities: input.capabilities.unwrap_or_default(),
        price_version: u32::from(input.price.is_some()),
        price: input.price,
        active: input.active.unwrap_or(true),
        updated_at: Some(now),
    };
    let mut writes = vec![
        Write::put(entity(&model_key(&provider, &model), &m, "model")?).when(Condition::NotExists),
    ];
    if let Some(price) = m.price {
        let v = PriceVersion {
            provider: provider.clone(),
            model: model.clone(),
            version: 1,
            price,
            effective_at: now,
        };
        writes.push(
            Write::put(entity(&price_key(&provider, &model, 1), &v, "price")?)
                .when(Condition::NotExists),
        );
    }
    match records.transact(writes).await {
        Ok(()) => Ok(m),
        Err(e) if e.failed_write().is_some() => {
            Err(Conflict::State(format!("the model {provider}/{model} exists already")).into())
        }
        Err(e) => Err(e),
    }
}

/// Changes a model (platform admins). A new price becomes a new version; older versions stay.
pub async fn update_model(
    records: &dyn Records,
    clock: &dyn Clock,
    provider: &str,
    model: &str,
    input: ModelInput,
) -> Result<Model> {
    let current = self::model(records, provider, model).await?;
    if input.provider.as_deref().is_some_and(|p| p != provider)
        || input.model.as_deref().is_some_and(|m| m != model)
    {
        return Err(Error::validation(
            "model",
            "a model cannot be renamed; add a new one",
        ));
    }
    let now = clock.now();
    let mut update = Update::new().set("updated_at", to_value(&now)?);
    let ctx = input.context_window.unwrap_or(current.context_window);
    let max_out = input.max_output_tokens.unwrap_or(current.max_output_tokens);
    check_limits(ctx, max_out)?;
    update = update
        .set("context_window", ctx)
        .set("max_output_tokens", max_out);
    if let Some(n) = input.display_name {
        update = update.set("display_name", n);
    }
    if let Some(c) = input.capabilities {
        update = update.set("capabilities", to_value(&c)?);
    }
    if let Some(a) = input.active {
        update = update.set("active", a);
    }
    let mut writes = Vec::new();
    if let Some(price) = input.price.filter(|p| Some(*p) != current.price) {
        price.validate()?;
        let version = current.price_version + 1;
        let v = PriceVersion {
            provider: provider.into(),
            model: model.into(),
            version,
            price,
            effective_at: now,
        };
        writes.push(
            Write::put(entity(&price_key(provider, model, version), &v, "price")?)
                .when(Condition::NotExists),
        );
        update = update
            .set("price", to_value(&price)?)
            .set("price_version", version);
    }
    writes.insert(
        0,
        Write::update(model_key(provider, model), update)
            .when(Condition::equals("price_version", current.price_version)),
    );
    match records.transact(writes).await {
        Ok(()) => self::model(records, provider, model).await,
        Err(e) if e.failed_write().is_some() => {
            Err(Conflict::State("the model's price changed meanwhile; read it again".into()).into())
        }
        Err(e) => Err(e),
    }
}
