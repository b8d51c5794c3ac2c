//! The files port on S3.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use aws_sdk_s3::primitives::ByteStream;
use base64_cursor::{decode_cursor, encode_cursor};
use recap_domain::clock::{Clock, SystemClock};
use recap_domain::files::{
    FileKey, FileMeta, FilePage, Files, Presigned, UploadPolicy, check_size, validate_expiry,
};
use recap_domain::{Error, Result};

use crate::sdk_err;

#[derive(Debug, Clone)]
pub struct S3Files {
    client: Client,
    bucket: String,
}

impl S3Files {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Files {
            client,
            bucket: bucket.into(),
        }
    }
}

fn presigned(p: PresignedRequest, expires_in: Duration) -> Presigned {
    Presigned {
        method: p.method().to_string(),
        url: p.uri().to_string(),
        headers: p
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        expires_at: SystemClock.now().plus(expires_in),
    }
}

/// List cursors wrap S3's continuation token with the prefix it belongs to, so that a token
/// from one listing (or tenant) is refused on another.
mod base64_cursor {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use recap_domain::{Error, Result};

    pub fn encode_cursor(prefix: &str, token: &str) -> String {
        let json = serde_json::json!({ "p": prefix, "t": token });
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    pub fn decode_cursor(prefix: &str, c: &str) -> Result<String> {
        let bad = || Error::validation("cursor", "does not belong to this listing");
        let bytes = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        match (v["p"].as_str(), v["t"].as_str()) {
            (Some(p), Some(t)) if p == prefix => Ok(t.to_string()),
            _ => Err(bad()),
        }
    }
}

#[async_trait]
impl Files for S3Files {
    #[tracing::instrument(skip_all, fields(key = %key, bytes = body.len()))]
    async fn put(&self, key: &FileKey, body: Vec<u8>, content_type: &str) -> Result<()> {
        check_size(body.len() as u64)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| sdk_err("S3 PutObject", e))?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(key = %key))]
    async fn get(&self, key: &FileKey) -> Result<Option<(Vec<u8>, FileMeta)>> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(sdk_err("S3 GetObject", e)),
        };
        let content_type = out.content_type.clone();
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| Error::unavailable("S3 GetObject body", e))?
            .into_bytes()
            .to_vec();
        let meta = FileMeta {
            key: key.clone(),
            size: body.len() as u64,
            content_type,
        };
        Ok(Some((body, meta)))
    }

    #[tracing::instrument(skip_all, fields(key = %key))]
    async fn head(&self, key: &FileKey) -> Result<Option<FileMeta>> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(o) => Ok(Some(FileMeta {
                key: key.clone(),
                size: o
                    .content_length
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                content_type: o.content_type,
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(sdk_err("S3 HeadObject", e)),
        }
    }

    #[tracing::instrument(skip_all, fields(key = %key))]
    async fn delete(&self, key: &FileKey) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(|e| sdk_err("S3 DeleteObject", e))?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(prefix))]
    async fn list(&self, prefix: &str, cursor: Option<String>, limit: u32) -> Result<FilePage> {
        if limit == 0 || limit > 1000 {
            return Err(Error::validation("limit", "must be between 1 and 1000"));
        }
        let token = cursor.map(|c| decode_cursor(prefix, &c)).transpose()?;
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .max_keys(limit as i32)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| sdk_err("S3 ListObjectsV2", e))?;
        let mut files = Vec::new();
        for o in out.contents.unwrap_or_default() {
            let Some(k) = o.key else { continue };
            files.push(FileMeta {
                key: FileKey::parse(k)?,
                size: o.size.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                content_type: None,
            });
        }
        let next_cursor = match (out.is_truncated, out.next_continuation_token) {
            (Some(true), Some(t)) => Some(encode_cursor(prefix, &t)),
            _ => None,
        };
        Ok(FilePage { files, next_cursor })
    }

    async fn presign_put(&self, key: &FileKey, policy: &UploadPolicy) -> Result<Presigned> {
        policy.validate()?;
        let cfg = PresigningConfig::expires_in(policy.expires_in)
            .map_err(|e| Error::validation("expires_in", e.to_string()))?;
        // Content-Length and Content-Type are signed: S3 refuses a body of another size.
        let p = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_length(i64::try_from(policy.content_length).unwrap_or(i64::MAX))
            .content_type(&policy.content_type)
            .presigned(cfg)
            .await
            .map_err(|e| sdk_err("S3 presign PutObject", e))?;
        Ok(presigned(p, policy.expires_in))
    }

    async fn presign_get(&self, key: &FileKey, expires_in: Duration) -> Result<Presigned> {
        validate_expiry(expires_in)?;
        let cfg = PresigningConfig::expires_in(expires_in)
            .map_err(|e| Error::validation("expires_in", e.to_string()))?;
        let p = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .presigned(cfg)
            .await
            .map_err(|e| sdk_err("S3 presign GetObject", e))?;
        Ok(presigned(p, expires_in))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_cursors_are_bound_to_their_prefix() {
        let c = encode_cursor("t1/", "tok");
        assert_eq!(decode_cursor("t1/", &c).unwrap(), "tok");
        assert!(decode_cursor("t2/", &c).is_err());
        assert!(decode_cursor("t1/", "junk").is_err());
    }

    /// moto does not check signatures, so what S3 would enforce is checked here: the upload
    /// URL signs the length and type, and expires when asked.
    #[tokio::test]
    async fn presigned_put_signs_length_and_type() {
        let sdk = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
                aws_sdk_s3::config::Credentials::new("AKID", "SECRET", None, None, "test"),
            ))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let files = S3Files::new(crate::S3Options::default().client(&sdk), "bucket");
        let key = FileKey::parse("t/uploads/a b.vtt").unwrap();
        let policy = UploadPolicy {
            expires_in: Duration::from_secs(600),
            content_length: 1234,
            max_bytes: 2000,
            content_type: "text/vtt".into(),
        };
        let p = files.presign_put(&key, &policy).await.unwrap();
        assert_eq!(p.method, "PUT");
        let signed = p
            .url
            .split("X-Amz-SignedHeaders=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        let signed = signed.replace("%3B", ";");
        assert!(signed.split(';').any(|h| h == "content-length"), "{signed}");
        assert!(signed.split(';').any(|h| h == "content-type"), "{signed}");
        assert!(p.url.contains("X-Amz-Expires=600"), "{}", p.url);
        assert!(
            p.headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("content-length") && v == "1234")
        );
        let too_big = UploadPolicy {
            content_length: 2001,
            ..policy
        };
        assert!(matches!(
            files.presign_put(&key, &too_big).await,
            Err(Error::Validation { .. })
        ));
    }
}
