use aws_config::{BehaviorVersion, SdkConfig};

/// Names of the resources and client settings, read from the environment.
#[derive(Debug, Clone)]
pub struct AwsConfig {
    pub sdk: SdkConfig,
    /// `RECAP_TABLE`
    pub table: String,
    /// `RECAP_BUCKET`
    pub bucket: String,
    /// `RECAP_GENERATE_QUEUE_URL`
    pub generate_queue_url: String,
    pub s3: S3Options,
}

/// S3 client settings that emulators need.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct S3Options {
    /// `RECAP_S3_PATH_STYLE=1`: `http://host/bucket/key` instead of `http://bucket.host/key`.
    pub path_style: bool,
    /// `RECAP_S3_CHECKSUMS=when_required`: no default CRC checksums on requests and responses.
    pub checksums_when_required: bool,
}

impl S3Options {
    pub fn from_env() -> Self {
        let on =
            |k: &str| std::env::var(k).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        S3Options {
            path_style: on("RECAP_S3_PATH_STYLE"),
            checksums_when_required: std::env::var("RECAP_S3_CHECKSUMS")
                .is_ok_and(|v| v == "when_required"),
        }
    }
}

impl AwsConfig {
    /// Loads credentials, region and endpoints the SDK's usual way (`AWS_ENDPOINT_URL`
    /// included), the HTTPS client's trust roots from `RECAP_TLS_ROOTS` ([`TrustRoots`]), and
    /// the resource names from `RECAP_*`. Missing names are empty: each
    /// function uses only the resources it is granted.
    pub async fn from_env() -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(client) = https_client(TrustRoots::from_env()) {
            loader = loader.http_client(client);
        }
        if env_credentials() {
            // Lambda hands a function its role's credentials in these variables, and the
            // default chain would take them first too; building that chain also builds its
            // web-identity provider's STS client (endpoint partitions parsed, regexes
            // compiled), which cost every cold start and was never used. Without them (profile
            // files, web identity, containers, instance metadata) the default chain stays.
            loader = loader.credentials_provider(
                aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
            );
        }
        let sdk = loader.load().await;
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        AwsConfig {
            sdk,
            table: var("RECAP_TABLE"),
            bucket: var("RECAP_BUCKET"),
            generate_queue_url: var("RECAP_GENERATE_QUEUE_URL"),
            s3: S3Options::from_env(),
        }
    }

    #[cfg(feature = "dynamodb")]
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    #[cfg(feature = "s3")]
    pub fn s3(&self) -> aws_sdk_s3::Client {
        s3_client(&self.sdk, self.s3)
    }

    #[cfg(feature = "sqs")]
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk)
    }

    #[cfg(feature = "ssm")]
    pub fn ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(&self.sdk)
    }
}

/// Whether the environment holds an access key and its secret (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`), the first source the SDK's default credentials chain reads.
fn env_credentials() -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY")
}

#[cfg(feature = "s3")]
pub(crate) fn s3_client(sdk: &SdkConfig, o: S3Options) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
    let mut b = aws_sdk_s3::config::Builder::from(sdk).force_path_style(o.path_style);
    if o.checksums_when_required {
        b = b
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

#[cfg(feature = "s3")]
impl S3Options {
    pub fn client(self, sdk: &SdkConfig) -> aws_sdk_s3::Client {
        s3_client(sdk, self)
    }
}

/// The roots the SDK clients' HTTPS connections trust.
///
/// The SDK's default is the platform's store, which it reads and decodes (PEM) when a client is
/// built: on a Debian host or in `provided.al2023`, a few hundred certificates, 4 to 5 ms of
/// every cold start (measured with `scripts/bench-coldstart` and perf; see the README). Recap's
/// functions call AWS endpoints only (the model providers go through `recap-ai`'s own client),
/// and every AWS endpoint's certificate chains to Amazon Trust Services, so the default is that
/// CA's five roots, built in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustRoots {
    /// `RECAP_TLS_ROOTS=aws` or unset: Amazon Trust Services' five roots
    /// (`src/amazon-trust-services.pem`), as Amazon recommends for a custom trust store.
    AmazonTrustServices,
    /// `RECAP_TLS_ROOTS=system`: the platform's store (`SSL_CERT_FILE`, `SSL_CERT_DIR` or the
    /// usual paths), for an endpoint behind another CA, such as a TLS proxy or an emulator
    /// served over HTTPS with its own certificate.
    System,
}

/// Amazon Trust Services' roots, PEM (see [`TrustRoots::AmazonTrustServices`]).
pub const AMAZON_TRUST_SERVICES_PEM: &str = include_str!("amazon-trust-services.pem");

impl TrustRoots {
    pub fn from_env() -> Self {
        Self::parse(std::env::var("RECAP_TLS_ROOTS").ok().as_deref())
    }

    /// The roots a value of `RECAP_TLS_ROOTS` names (see the variants).
    pub fn parse(value: Option<&str>) -> Self {
        match value {
            Some("system") => TrustRoots::System,
            Some("aws") | None => TrustRoots::AmazonTrustServices,
            Some(other) => {
                tracing::warn!(
                    value = other,
                    "RECAP_TLS_ROOTS is `aws` or `system`; using `aws`"
                );
                TrustRoots::AmazonTrustServices
            }
        }
    }
}

/// The SDK's own HTTPS client (hyper, rustls over ring) trusting `roots`. The SDK clients are
/// built without `default-https-client`, so every client gets this one. `None` only if rustls
/// refuses the trust store (it holds no usable root): the clients then have no HTTPS client
/// and every AWS call fails with the SDK's "no HTTP client" error, which names the cause.
fn https_client(
    roots: TrustRoots,
) -> Option<aws_smithy_runtime_api::client::http::SharedHttpClient> {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let store = match roots {
        // The platform's store (what the SDK's default trusts), read on the first connection.
        TrustRoots::System => TrustStore::default(),
        TrustRoots::AmazonTrustServices => TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(AMAZON_TRUST_SERVICES_PEM.as_bytes()),
    };
    match TlsContext::builder().with_trust_store(store).build() {
        Ok(context) => Some(
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                .tls_context(context)
                .build_https(),
        ),
        Err(e) => {
            tracing::error!(error = %e, ?roots, "the TLS context was refused; AWS calls will fail");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use sha2::{Digest, Sha256};

    /// SHA-256 of each root's Subject Public Key Info, as Amazon Trust Services publishes them
    /// (https://www.amazontrust.com/repository/).
    const PUBLISHED_SPKI_SHA256: [(&str, &str); 5] = [
        (
            "Amazon Root CA 1",
            "fbe3018031f9586bcbf41727e417b7d1c45c2f47f93be372a17b96b50757d5a2",
        ),
        (
            "Amazon Root CA 2",
            "7f4296fc5b6a4e3b35d3c369623e364ab1af381d8fa7121533c9d6c633ea2461",
        ),
        (
            "Amazon Root CA 3",
            "36abc32656acfc645c61b71613c4bf21c787f5cabbee48348d58597803d7abc9",
        ),
        (
            "Amazon Root CA 4",
            "f7ecded5c66047d28ed6466b543c40e0743abe81d109254dcf845d4c2c7853c5",
        ),
        (
            "Starfield Services Root Certificate Authority - G2",
            "2b071c59a0a0ae76b0eadb2bad23bad4580b69c3601b630c2eaf0613afa83f92",
        ),
    ];

    /// DER of a SEQUENCE around `contents` (webpki hands out the SPKI's contents only).
    fn sequence(contents: &[u8]) -> Vec<u8> {
        let mut out = vec![0x30];
        let n = contents.len();
        match n {
            0..=0x7f => out.push(n as u8),
            0x80..=0xff => out.extend([0x81, n as u8]),
            _ => out.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(contents);
        out
    }

    #[test]
    fn the_built_in_roots_are_amazon_trust_services_five() {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_PEM.as_bytes())
                .collect::<Result<_, _>>()
                .expect("the built-in PEM parses");
        let hashes: Vec<String> = certs
            .iter()
            .map(|c| {
                let anchor = webpki::anchor_from_trusted_cert(c).expect("a usable trust anchor");
                let spki = sequence(anchor.subject_public_key_info.as_ref());
                Sha256::digest(&spki)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            })
            .collect();
        let published: Vec<String> = PUBLISHED_SPKI_SHA256
            .iter()
            .map(|(_, h)| h.to_string())
            .collect();
        assert_eq!(hashes, published);
    }

    #[test]
    fn recap_tls_roots_names_the_store() {
        assert_eq!(TrustRoots::parse(None), TrustRoots::AmazonTrustServices);
        assert_eq!(
            TrustRoots::parse(Some("aws")),
            TrustRoots::AmazonTrustServices
        );
        assert_eq!(TrustRoots::parse(Some("system")), TrustRoots::System);
        assert_eq!(
            TrustRoots::parse(Some("bogus")),
            TrustRoots::AmazonTrustServices
        );
        // Both build a client (the platform's store is read on the first connection), since the
        // SDK clients have no default one to fall back to.
        assert!(https_client(TrustRoots::System).is_some());
        assert!(https_client(TrustRoots::AmazonTrustServices).is_some());
    }

    /// The SDK reads the roots (and would panic on a bad PEM) when a client is built.
    #[cfg(feature = "dynamodb")]
    #[tokio::test]
    async fn a_client_builds_over_the_built_in_roots() {
        let http = https_client(TrustRoots::AmazonTrustServices).expect("a client");
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .http_client(http)
            .load()
            .await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        assert_eq!(
            client.config().region().map(|r| r.as_ref()),
            Some("us-east-1")
        );
    }
}
