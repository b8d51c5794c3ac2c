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
    /// included) and the resource names from `RECAP_*`. Missing names are empty: each
    /// function uses only the resources it is granted.
    pub async fn from_env() -> Self {
        let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
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
