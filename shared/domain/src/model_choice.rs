//! Which model writes an output: an ordered fallback chain.
//!
//! [`chain`] is pure. It starts from the request's explicit model (then only that model), or
//! else the user's preference for the output type, then the tier's default, then the offline
//! provider; every step must pass the tenant's constraints for the output type
//! (`output_ai_constraints`: allowed models or providers, required capabilities, minimum
//! context), the tier's and the team's allowed models, and have a configured client. A model
//! whose window cannot hold the whole prompt stays in the chain as a map-reduce step (the
//! transcript is read in chunks, then the notes reduced), if one chunk fits at all.
//!
//! Preferences (per user and output type) and constraints (per tenant and output type) are
//! stored here too.

use serde::{Deserialize, Serialize};

use crate::billing::Tier;
use crate::catalog::{self, Model};
use crate::error::{Error, Result};
use crate::ids::{TenantId, UserId};
use crate::keys;
use crate::outputs;
use crate::records::{Query, Records, from_item, query_all_as, to_item};

/// The offline provider's model: no key, no cost, any length (it never needs map-reduce).
pub const OFFLINE: (&str, &str) = ("offline", "extractive");

/// The fewest transcript tokens a map step must hold, besides the prompt and the answer: a
/// model with less room than this cannot read a transcript even in chunks.
pub const MIN_CHUNK_TOKENS: u64 = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Capability {
    StructuredOutput,
    PromptCaching,
}

/// What a tenant's admins require of the model for one output type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Constraints {
    /// `provider/model`; empty: any.
    #[serde(default)]
    pub allowed_models: Vec<String>,
    /// Provider ids; empty: any.
    #[serde(default)]
    pub allowed_providers: Vec<String>,
    #[serde(default)]
    pub required_capabilities: Vec<Capability>,
    /// The smallest context window allowed, in tokens.
    #[serde(default)]
    pub min_context_window: u64,
}

/// A stored constraint, with what it applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutputConstraints {
    pub output_type: String,
    #[serde(flatten)]
    pub constraints: Constraints,
}

/// A user's model for one output type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Preference {
    pub output_type: String,
    /// `provider/model`.
    pub model: String,
}

/// One step of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Step {
    pub provider: String,
    pub model: String,
    /// The prompt does not fit the window: read in chunks, then reduce.
    #[serde(default)]
    pub map_reduce: bool,
}

impl Step {
    pub fn name(&self) -> String {
        format!("{}/{}", self.provider, self.model)
    }
}

/// Everything [`chain`] decides from.
pub struct Inputs<'a> {
    pub output_type: &'a str,
    /// The request's explicit `provider/model`.
    pub requested: Option<&'a str>,
    pub preference: Option<&'a str>,
    pub constraints: Option<&'a Constraints>,
    pub tier: Option<&'a Tier>,
    /// The transcript's team's allowed models (empty: no narrowing).
    pub team_allowed: &'a [String],
    pub catalog: &'a [Model],
    /// Whether a provider has a client (a key); the offline provider always has.
    pub configured: &'a (dyn Fn(&str) -> bool + Sync),
    /// Transcript tokens.
    pub transcript_tokens: u64,
    /// Prompt tokens besides the transcript, and the answer's budget.
    pub overhead_tokens: u64,
    pub max_output_tokens: u64,
}

fn split(name: &str) -> Option<(&str, &str)> {
    name.split_once('/')
        .filter(|(p, m)| !p.is_empty() && !m.is_empty())
}

fn listed(list: &[String], provider: &str, model: &str) -> bool {
    list.is_empty() || list.iter().any(|m| split(m) == Some((provider, model)))
}

/// Why `m` may not write this output, or `None` when it may.
fn refusal(i: &Inputs<'_>, m: &Model) -> Option<String> {
    let name = format!("{}/{}", m.provider, m.model);
    if !m.active {
        return Some(format!("{name} is not active"));
    }
    if m.price.is_none() {
        return Some(format!("{name} has no price"));
    }
    if !(i.configured)(&m.provider) {
        return Some(format!("no key is configured for {}", m.provider));
    }
    if let Some(t) = i.tier
        && !t.allows(&m.provider, &m.model)
    {
        return Some(format!("the {} tier does not include {name}", t.name));
    }
    if !listed(i.team_allowed, &m.provider, &m.model) {
        return Some(format!("the team does not allow {name}"));
    }
    if let Some(c) = i.constraints {
        let what = i.output_type;
        if !listed(&c.allowed_models, &m.provider, &m.model) {
            return Some(format!("{what} outputs may not use {name}"));
        }
        if !c.allowed_providers.is_empty() && !c.allowed_providers.contains(&m.provider) {
            return Some(format!("{what} outputs may not use {}", m.provider));
        }
        for cap in &c.required_capabilities {
            let has = match cap {
                Capability::StructuredOutput => m.capabilities.structured_output,
                Capability::PromptCaching => m.capabilities.prompt_caching,
            };
            if !has {
                return Some(format!("{what} outputs need {cap:?}, which {name} lacks"));
            }
        }
        if m.context_window < c.min_context_window {
            return Some(format!(
                "{what} outputs need a window of {} tokens; {name} has {}",
                c.min_context_window, m.context_window
            ));
        }
    }
    let answer = i.max_output_tokens.min(m.max_output_tokens);
    let fixed = i.overhead_tokens + answer;
    if m.provider != OFFLINE.0 && m.context_window < fixed + MIN_CHUNK_TOKENS {
        return Some(format!(
            "{name}'s window of {} tokens cannot hold even one chunk",
            m.context_window
        ));
    }
    None
}

fn step(i: &Inputs<'_>, m: &Model) -> Step {
    let answer = i.max_output_tokens.min(m.max_output_tokens);
    let whole = i.transcript_tokens + i.overhead_tokens + answer;
    Step {
        provider: m.provider.clone(),
        model: m.model.clone(),
        map_reduce: m.provider != OFFLINE.0 && whole > m.context_window,
    }
}

fn find<'a>(catalog: &'a [Model], name: &str) -> Option<&'a Model> {
    let (p, m) = split(name)?;
    catalog.iter().find(|x| x.provider == p && x.model == m)
}

/// The chain for one output. An explicit model that may not be used is an error saying why;
/// so is a chain with no step.
pub fn chain(i: &Inputs<'_>) -> Result<Vec<Step>> {
    if let Some(name) = i.requested {
        let Some(m) = find(i.catalog, name) else {
            return Err(Error::validation(
                "model",
                format!("{name:?} is not a model of the catalog (provider/model)"),
            ));
        };
        return match refusal(i, m) {
            None => Ok(vec![step(i, m)]),
            Some(why) => Err(Error::Forbidden(why.into())),
        };
    }
    let tier_default = i.tier.and_then(|t| t.default_model.as_deref());
    let offline = format!("{}/{}", OFFLINE.0, OFFLINE.1);
    let mut out: Vec<Step> = Vec::new();
    let mut why = Vec::new();
    // Last, what the team or the constraints name, in their order: a team that allows only
    // one model gets it without anyone choosing it.
    let listed = i
        .team_allowed
        .iter()
        .chain(i.constraints.map_or(&[][..], |c| &c.allowed_models[..]))
        .map(String::as_str);
    let candidates = [i.preference, tier_default, Some(offline.as_str())]
        .into_iter()
        .flatten()
        .chain(listed);
    for name in candidates {
        let Some(m) = find(i.catalog, name) else {
            why.push(format!("{name} is not in the catalog"));
            continue;
        };
        match refusal(i, m) {
            None => {
                let s = step(i, m);
                if !out.contains(&s) {
                    out.push(s);
                }
            }
            Some(w) => why.push(w),
        }
    }
    if out.is_empty() {
        return Err(Error::Forbidden(
            format!(
                "no model may write {} outputs: {}",
                i.output_type,
                why.join("; ")
            )
            .into(),
        ));
    }
    Ok(out)
}

fn check_output_type(output_type: &str) -> Result<()> {
    if outputs::builtin(output_type).is_none() {
        return Err(Error::not_found("output type"));
    }
    Ok(())
}

fn check_model_name(field: &'static str, name: &str) -> Result<()> {
    if split(name).is_none() {
        return Err(Error::validation(
            field,
            format!("{name:?} is not provider/model"),
        ));
    }
    Ok(())
}

// ---- preferences ----

pub async fn preferences(
    records: &dyn Records,
    t: &TenantId,
    u: &UserId,
) -> Result<Vec<Preference>> {
    query_all_as(records, Query::partition(keys::preferences_pk(t, u))).await
}

pub async fn preference(
    records: &dyn Records,
    t: &TenantId,
    u: &UserId,
    output_type: &str,
) -> Result<Option<Preference>> {
    check_output_type(output_type)?;
    records
        .get(&keys::preference(t, u, output_type))
        .await?
        .map(from_item)
        .transpose()
}

/// Sets the user's model for an output type. The model must be in the catalog, active and
/// allowed by the tier and the tenant's constraints; the key is checked when an output is
/// made (keys can change between now and then).
pub async fn set_preference(
    records: &dyn Records,
    t: &TenantId,
    u: &UserId,
    output_type: &str,
    model: &str,
    tier: Option<&Tier>,
) -> Result<Preference> {
    check_output_type(output_type)?;
    check_model_name("model", model)?;
    let catalog = catalog::models(records).await?;
    let constraints = constraints(records, t, output_type).await?;
    let kind = outputs::builtin(output_type).ok_or_else(|| Error::not_found("output type"))?;
    {
        let inputs = Inputs {
            output_type,
            requested: Some(model),
            preference: None,
            constraints: constraints.as_ref(),
            tier,
            team_allowed: &[],
            catalog: &catalog,
            configured: &|_| true,
            transcript_tokens: 0,
            overhead_tokens: crate::credits::PROMPT_OVERHEAD_TOKENS,
            max_output_tokens: kind.default_max_output_tokens,
        };
        chain(&inputs).map_err(|e| match e {
            Error::Forbidden(why) => Error::validation("model", why.into_owned()),
            e => e,
        })?;
    }
    let p = Preference {
        output_type: output_type.to_string(),
        model: model.to_string(),
    };
    records
        .put(to_item(&keys::preference(t, u, output_type), &p)?, vec![])
        .await?;
    Ok(p)
}

/// Deletes the preference; deleting one that is not there is fine (the outcome is the same).
pub async fn delete_preference(
    records: &dyn Records,
    t: &TenantId,
    u: &UserId,
    output_type: &str,
) -> Result<()> {
    check_output_type(output_type)?;
    records
        .delete(&keys::preference(t, u, output_type), vec![])
        .await
        .map(|_| ())
}

// ---- constraints ----

pub async fn all_constraints(
    records: &dyn Records,
    t: &TenantId,
) -> Result<Vec<OutputConstraints>> {
    query_all_as(records, Query::partition(keys::output_constraints_pk(t))).await
}

pub async fn constraints(
    records: &dyn Records,
    t: &TenantId,
    output_type: &str,
) -> Result<Option<Constraints>> {
    check_output_type(output_type)?;
    Ok(records
        .get(&keys::output_constraints(t, output_type))
        .await?
        .map(from_item::<OutputConstraints>)
        .transpose()?
        .map(|c| c.constraints))
}

pub async fn set_constraints(
    records: &dyn Records,
    t: &TenantId,
    output_type: &str,
    c: Constraints,
) -> Result<OutputConstraints> {
    check_output_type(output_type)?;
    for m in &c.allowed_models {
        check_model_name("allowed_models", m)?;
    }
    if c.allowed_models.len() > 100 || c.allowed_providers.len() > 100 {
        return Err(Error::validation(
            "allowed_models",
            "at most 100 models and 100 providers",
        ));
    }
    if c.min_context_window > 100_000_000 {
        return Err(Error::validation(
            "min_context_window",
            "at most 100,000,000 tokens",
        ));
    }
    crate::catalog::check_known_models(records, "allowed_models", &c.allowed_models).await?;
    crate::catalog::check_known_providers(records, "allowed_providers", &c.allowed_providers)
        .await?;
    let stored = OutputConstraints {
        output_type: output_type.to_string(),
        constraints: c,
    };
    records
        .put(
            to_item(&keys::output_constraints(t, output_type), &stored)?,
            vec![],
        )
        .await?;
    Ok(stored)
}

pub async fn delete_constraints(
    records: &dyn Records,
    t: &TenantId,
    output_type: &str,
) -> Result<()> {
    check_output_type(output_type)?;
    records
        .delete(&keys::output_constraints(t, output_type), vec![])
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::seed_tiers;
    use crate::catalog::seed_data;

    fn inputs<'a>(
        catalog: &'a [Model],
        configured: &'a (dyn Fn(&str) -> bool + Sync),
    ) -> Inputs<'a> {
        Inputs {
            output_type: "one_pager",
            requested: None,
            preference: None,
            constraints: None,
            tier: None,
            team_allowed: &[],
            catalog,
            configured,
            transcript_tokens: 10_000,
            overhead_tokens: 1_500,
            max_output_tokens: 4_000,
        }
    }

    fn names(c: &[Step]) -> Vec<String> {
        c.iter()
            .map(|s| {
                format!(
                    "{}{}",
                    s.name(),
                    if s.map_reduce { " (map-reduce)" } else { "" }
                )
            })
            .collect()
    }

    #[test]
    fn preference_then_tier_default_then_offline() {
        let (_, catalog) = seed_data();
        let all = |_: &str| true;
        let tiers = seed_tiers();
        let pro = tiers.iter().find(|t| t.id == "pro").unwrap();
        let mut i = inputs(&catalog, &all);
        i.preference = Some("anthropic/claude-3-5-haiku");
        i.tier = Some(pro);
        let c = chain(&i).unwrap();
        assert_eq!(c.len(), 3, "{:?}", names(&c));
        assert_eq!(c[0].provider, "anthropic");
        assert_eq!(c[1].name(), pro.default_model.clone().unwrap());
        assert_eq!(c[2].name(), "offline/extractive");
    }

    #[test]
    fn without_keys_only_the_offline_provider_is_left() {
        let (_, catalog) = seed_data();
        let none = |p: &str| p == "offline";
        let mut i = inputs(&catalog, &none);
        i.preference = Some("openai/gpt-4o-mini");
        assert_eq!(names(&chain(&i).unwrap()), ["offline/extractive"]);
        // Asked for by name, a model without a key is refused with the reason.
        i.requested = Some("openai/gpt-4o-mini");
        let e = chain(&i).unwrap_err().to_string();
        assert!(e.contains("no key is configured for openai"), "{e}");
    }

    #[test]
    fn tier_team_and_constraints_narrow_the_chain() {
        let (_, catalog) = seed_data();
        let all = |_: &str| true;
        let tiers = seed_tiers();
        let free = tiers.iter().find(|t| t.id == "free").unwrap();
        let mut i = inputs(&catalog, &all);
        i.tier = Some(free);
        i.requested = Some("anthropic/claude-3-5-haiku");
        assert!(
            chain(&i)
                .unwrap_err()
                .to_string()
                .contains("tier does not include")
        );
        i.requested = None;
        let team = vec!["openai/gpt-4o-mini".to_string()];
        i.team_allowed = &team;
        i.preference = Some("openai/gpt-4o-mini");
        // The team allows only gpt-4o-mini: offline drops out.
        assert_eq!(names(&chain(&i).unwrap()), ["openai/gpt-4o-mini"]);
        let c = Constraints {
            allowed_providers: vec!["google".into()],
            ..Constraints::default()
        };
        i.constraints = Some(&c);
        let e = chain(&i).unwrap_err().to_string();
        assert!(e.contains("no model may write one_pager outputs"), "{e}");
        assert!(e.contains("may not use openai"), "{e}");
    }

    #[test]
    fn capability_and_window_constraints() {
        let (_, catalog) = seed_data();
        let all = |_: &str| true;
        let mut i = inputs(&catalog, &all);
        let caching = Constraints {
            required_capabilities: vec![Capability::PromptCaching],
            ..Constraints::default()
        };
        i.constraints = Some(&caching);
        i.preference = Some("openai/gpt-4o-mini");
        let c = chain(&i).unwrap();
        assert!(c.iter().all(|s| s.provider != "offline"), "{:?}", names(&c));
        let huge = Constraints {
            min_context_window: 2_000_000,
            ..Constraints::default()
        };
        i.constraints = Some(&huge);
        assert!(chain(&i).is_err());
    }

    #[test]
    fn a_transcript_longer_than_the_window_is_map_reduced_never_cut() {
        let (_, catalog) = seed_data();
        let all = |_: &str| true;
        let mut i = inputs(&catalog, &all);
        i.preference = Some("openai/gpt-4o-mini");
        i.transcript_tokens = 500_000;
        let c = chain(&i).unwrap();
        assert_eq!(
            names(&c),
            ["openai/gpt-4o-mini (map-reduce)", "offline/extractive"]
        );
        i.transcript_tokens = 1_000;
        assert!(!chain(&i).unwrap()[0].map_reduce);
    }
}
