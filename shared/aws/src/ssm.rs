//! SecureString parameters of SSM Parameter Store: where a deployment keeps the model
//! providers' keys (the template names them; generate reads them once, at start-up).

use std::collections::HashMap;

use aws_sdk_ssm::Client;
use recap_domain::{Error, Result};

use crate::sdk_err;

/// Most names one `GetParameters` call takes.
const MAX_NAMES: usize = 10;

#[derive(Debug, Clone)]
pub struct SsmParameters {
    client: Client,
}

impl SsmParameters {
    pub fn new(client: Client) -> Self {
        SsmParameters { client }
    }

    /// The values of `names`, decrypted, by name: one `GetParameters` call per ten names. A
    /// name that SSM does not have is an error that lists it (never a value).
    pub async fn values(&self, names: &[String]) -> Result<HashMap<String, String>> {
        let mut values = HashMap::with_capacity(names.len());
        let mut missing = Vec::new();
        for batch in names.chunks(MAX_NAMES) {
            let out = self
                .client
                .get_parameters()
                .set_names(Some(batch.to_vec()))
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| sdk_err("ssm GetParameters", e))?;
            missing.extend(out.invalid_parameters.unwrap_or_default());
            for p in out.parameters.unwrap_or_default() {
                if let (Some(name), Some(value)) = (p.name, p.value) {
                    values.insert(name, value);
                }
            }
        }
        // A parameter that came back under another spelling of its name (SSM answers with the
        // name it stores) is not the one asked for.
        missing.extend(names.iter().filter(|n| !values.contains_key(*n)).cloned());
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            return Err(Error::unexpected(
                "SSM parameters that do not exist",
                missing.join(", "),
            ));
        }
        Ok(values)
    }
}
