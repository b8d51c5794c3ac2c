//! The files port: transcript uploads, normalized transcripts and rendered outputs.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::error::{Error, Result};

/// S3's limit on a key's length.
pub const MAX_KEY_BYTES: usize = 1024;
/// The largest file Recap stores in one piece (bodies pass through memory): transcripts,
/// normalized transcripts and rendered outputs are far below it.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Refuses a body over [`MAX_FILE_BYTES`] before anything is written.
pub fn check_size(len: u64) -> Result<()> {
    if len > MAX_FILE_BYTES {
        return Err(Error::validation(
            "file",
            format!("{len} bytes is over the limit of {MAX_FILE_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// SigV4's limit on a presigned URL's life, which the embedded store follows.
pub const MAX_PRESIGN: Duration = Duration::from_secs(7 * 24 * 3600);

/// A file's key: `/`-separated segments, none empty, `.` or `..`, no control characters and
/// no backslash, at most 1024 bytes. Tenant files start with the tenant id (see `keys`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FileKey(String);

impl FileKey {
    pub fn parse(s: impl Into<String>) -> Result<Self> {
        let s = s.into();
        let bad = |m: &str| Err(Error::validation("file_key", m.to_string()));
        if s.is_empty() || s.len() > MAX_KEY_BYTES {
            return bad("must be 1 to 1024 bytes");
        }
        if s.chars().any(|c| c.is_control() || c == '\\') {
            return bad("must not contain control characters or backslashes");
        }
        if s.split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        {
            return bad("segments must not be empty, '.' or '..'");
        }
        Ok(FileKey(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for FileKey {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        FileKey::parse(s)
    }
}

impl From<FileKey> for String {
    fn from(k: FileKey) -> String {
        k.0
    }
}

impl fmt::Display for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileKey({:?})", self.0)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for FileKey {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_KEY_BYTES))
            .description(Some(
                "A file's key in the store: `/`-separated, starting with the tenant's id.",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for FileKey {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    pub key: FileKey,
    pub size: u64,
    pub content_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePage {
    /// In key order.
    pub files: Vec<FileMeta>,
    pub next_cursor: Option<String>,
}

/// A request a client makes without credentials: method, URL and the headers it must send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Presigned {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub expires_at: Timestamp,
}

/// What a presigned upload allows: one key, a body of exactly `content_length` bytes (signed,
/// so a larger body is refused by the store), one content type, until it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadPolicy {
    pub expires_in: Duration,
    pub content_length: u64,
    pub max_bytes: u64,
    pub content_type: String,
}

impl UploadPolicy {
    pub fn validate(&self) -> Result<()> {
        validate_expiry(self.expires_in)?;
        if self.content_length == 0 {
            return Err(Error::validation(
                "size_bytes",
                "an upload must not be empty",
            ));
        }
        if self.content_length > self.max_bytes.min(MAX_FILE_BYTES) {
            return Err(Error::validation(
                "size_bytes",
                format!(
                    "{} bytes is over the upload limit of {} bytes",
                    self.content_length,
                    self.max_bytes.min(MAX_FILE_BYTES)
                ),
            ));
        }
        if self.content_type.is_empty() || self.content_type.chars().any(char::is_control) {
            return Err(Error::validation("content_type", "must be a media type"));
        }
        Ok(())
    }
}

pub fn validate_expiry(d: Duration) -> Result<()> {
    if d < Duration::from_secs(1) || d > MAX_PRESIGN {
        return Err(Error::validation(
            "expires_in",
            "must be between 1 second and 7 days",
        ));
    }
    Ok(())
}

#[async_trait]
pub trait Files: Send + Sync {
    /// Stores the whole body under the key, replacing any file there.
    async fn put(&self, key: &FileKey, body: Vec<u8>, content_type: &str) -> Result<()>;
    /// The body and metadata, or `None` when there is no such file.
    async fn get(&self, key: &FileKey) -> Result<Option<(Vec<u8>, FileMeta)>>;
    async fn head(&self, key: &FileKey) -> Result<Option<FileMeta>>;
    /// Deleting a missing file is not an error.
    async fn delete(&self, key: &FileKey) -> Result<()>;
    /// Files whose key starts with `prefix`, in key order, `limit` (1 to 1000) at a time.
    /// Listings give keys and sizes only (`content_type` is `None`), as S3's does; `head`
    /// gives the type.
    async fn list(&self, prefix: &str, cursor: Option<String>, limit: u32) -> Result<FilePage>;
    async fn presign_put(&self, key: &FileKey, policy: &UploadPolicy) -> Result<Presigned>;
    async fn presign_get(&self, key: &FileKey, expires_in: Duration) -> Result<Presigned>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_refuse_traversal_and_oddities() {
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            "a/../b",
            "./a",
            "a\\b",
            "a\nb",
            &"x".repeat(1025),
        ] {
            assert!(FileKey::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            FileKey::parse("t/a b/ü.vtt").unwrap().as_str(),
            "t/a b/ü.vtt"
        );
    }

    #[test]
    fn upload_policy_limits() {
        let p = UploadPolicy {
            expires_in: Duration::from_secs(60),
            content_length: 10,
            max_bytes: 10,
            content_type: "text/vtt".into(),
        };
        assert!(p.validate().is_ok());
        assert!(
            UploadPolicy {
                content_length: 11,
                ..p.clone()
            }
            .validate()
            .is_err()
        );
        assert!(
            UploadPolicy {
                content_length: 0,
                ..p.clone()
            }
            .validate()
            .is_err()
        );
        assert!(
            UploadPolicy {
                expires_in: Duration::ZERO,
                ..p.clone()
            }
            .validate()
            .is_err()
        );
        assert!(
            UploadPolicy {
                expires_in: MAX_PRESIGN + Duration::from_secs(1),
                ..p
            }
            .validate()
            .is_err()
        );
    }
}
