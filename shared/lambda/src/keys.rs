//! The generate function's provider keys: each from the SSM SecureString parameter that
//! `RECAP_OPENAI_API_KEY_PARAMETER` (…) names, as the template sets them, or else from the key
//! variable itself (`OPENAI_API_KEY`, …). Read once, at start-up: one `GetParameters` call for
//! every named parameter, and no SSM client at all when none is named.

use std::collections::HashMap;

use async_trait::async_trait;
use recap_ai::{ApiKey, KeySource, KeySourceError, ProviderKind};

/// Keys resolved at start-up, by provider kind ([`KeySource`] for `ProviderConfig::load`).
#[derive(Debug, Default)]
pub struct ParameterKeys {
    keys: HashMap<ProviderKind, ApiKey>,
}

impl ParameterKeys {
    /// Reads the parameters that `vars` names from SSM (decrypted); the other providers' keys
    /// come from their key variables. A named parameter that cannot be read (missing, access
    /// denied) is an error naming it: a function started without the key it was deployed with
    /// would fall back to other models without saying why.
    pub async fn load(
        aws: &recap_aws::AwsConfig,
        vars: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<Self, KeySourceError> {
        let named = named(vars);
        let Some((first, _)) = named.first() else {
            return Ok(Self::resolve(vars, &[], &HashMap::new()));
        };
        let mut names: Vec<String> = named.iter().map(|(_, n)| n.clone()).collect();
        names.sort_unstable();
        names.dedup();
        let values = recap_aws::SsmParameters::new(aws.ssm())
            .values(&names)
            .await
            .map_err(|e| KeySourceError {
                provider: *first,
                source_name: format!("the SSM parameters {}", names.join(", ")),
                source: Box::new(e),
            })?;
        Ok(Self::resolve(vars, &named, &values))
    }

    /// Each provider's key: its parameter's value (from `values`, by name) when `named` has
    /// one, else its key variable.
    fn resolve(
        vars: &dyn Fn(&str) -> Option<String>,
        named: &[(ProviderKind, String)],
        values: &HashMap<String, String>,
    ) -> Self {
        let keys = ProviderKind::ALL
            .into_iter()
            .filter_map(|kind| {
                let value = match named.iter().find(|(k, _)| *k == kind) {
                    Some((_, name)) => values.get(name).cloned(),
                    None => vars(kind.key_var()),
                };
                Some((kind, ApiKey::new(value?)?))
            })
            .collect();
        ParameterKeys { keys }
    }
}

/// The providers whose key parameter `vars` names, with the name.
fn named(vars: &dyn Fn(&str) -> Option<String>) -> Vec<(ProviderKind, String)> {
    ProviderKind::ALL
        .into_iter()
        .filter_map(|kind| {
            let name = vars(kind.key_parameter_var())?;
            let name = name.trim();
            (!name.is_empty()).then(|| (kind, name.to_owned()))
        })
        .collect()
}

#[async_trait]
impl KeySource for ParameterKeys {
    async fn key(&self, provider: ProviderKind) -> Result<Option<ApiKey>, KeySourceError> {
        Ok(self.keys.get(&provider).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn a_named_parameter_wins_over_the_key_variable_and_the_others_come_from_theirs() {
        let env = vars(&[
            ("RECAP_OPENAI_API_KEY_PARAMETER", " /recap/dev/openai "),
            ("OPENAI_API_KEY", "sk-from-env"),
            ("ANTHROPIC_API_KEY", "sk-ant-env"),
            ("RECAP_GEMINI_API_KEY_PARAMETER", ""),
            ("GEMINI_API_KEY", "   "),
        ]);
        let named = named(&env);
        assert_eq!(named, [(ProviderKind::OpenAi, "/recap/dev/openai".into())]);
        let values = HashMap::from([("/recap/dev/openai".to_string(), "sk-from-ssm".to_string())]);
        let keys = ParameterKeys::resolve(&env, &named, &values);
        let key = |k| {
            futures::executor::block_on(keys.key(k))
                .unwrap()
                .map(|k| k.expose().to_owned())
        };
        assert_eq!(key(ProviderKind::OpenAi).as_deref(), Some("sk-from-ssm"));
        assert_eq!(key(ProviderKind::Anthropic).as_deref(), Some("sk-ant-env"));
        assert_eq!(key(ProviderKind::Gemini), None, "blank is not configured");
        assert_eq!(key(ProviderKind::OpenAiCompatible), None);
        assert!(!format!("{keys:?}").contains("sk-"), "{keys:?}");
    }

    #[tokio::test]
    async fn without_a_named_parameter_every_key_comes_from_its_variable() {
        let aws = recap_aws::AwsConfig::from_env().await;
        let keys = ParameterKeys::load(&aws, &vars(&[("GEMINI_API_KEY", "g-key")]))
            .await
            .unwrap();
        assert!(keys.key(ProviderKind::Gemini).await.unwrap().is_some());
        assert!(keys.key(ProviderKind::OpenAi).await.unwrap().is_none());
    }
}
