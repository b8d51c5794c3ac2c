//! The files port on a directory, with presigned URLs served by the local HTTP server.
//!
//! Each put writes a new blob (temporary file, fsync, rename) and then records the key's
//! metadata in redb, so a crash leaves either the old file or the new one, never a torn one;
//! the replaced blob is removed after the commit. Presigned URLs carry an HMAC-SHA256 of the
//! method, key, expiry, length and content type, made with the store's secret.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use recap_domain::clock::{Clock, SystemClock, Timestamp};
use recap_domain::files::{
    FileKey, FileMeta, FilePage, Files, Presigned, UploadPolicy, check_size, validate_expiry,
};
use recap_domain::{Error, Result};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::queue::enqueue_in;
use crate::{blocking, db_err};
use recap_domain::uploads::{ObjectCreated, s3_event};

const FILES: TableDefinition<&str, &[u8]> = TableDefinition::new("files");
/// The sequencer of the last event notification.
const EVENT_SEQ: TableDefinition<&str, u64> = TableDefinition::new("file_event_seq");

/// Where a put announces itself, as S3 event notifications do.
struct Events {
    queue: String,
    bucket: String,
    matches: Box<dyn Fn(&str) -> bool + Send + Sync>,
}

/// Characters kept as they are in a URL path segment or query value.
const KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    size: u64,
    content_type: Option<String>,
    blob: String,
}

#[derive(Clone)]
pub struct EmbeddedFiles {
    db: Arc<redb::Database>,
    dir: PathBuf,
    base_url: Arc<str>,
    secret: Arc<[u8]>,
    clock: Arc<dyn Clock>,
    events: Option<Arc<Events>>,
}

impl std::fmt::Debug for EmbeddedFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedFiles")
            .field("dir", &self.dir)
            .field("base_url", &self.base_url)
            .finish()
    }
}

/// What a presigned URL grants, as the server reads it back from the query string.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Grant {
    #[serde(rename = "X-Recap-Method")]
    pub method: String,
    #[serde(rename = "X-Recap-Expires")]
    pub expires: i64,
    #[serde(rename = "X-Recap-Length", default)]
    pub length: Option<u64>,
    #[serde(rename = "X-Recap-Content-Type", default)]
    pub content_type: Option<String>,
    #[serde(rename = "X-Recap-Signature")]
    pub signature: String,
}

/// Why a presigned request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("the signature does not match")]
    BadSignature,
    #[error("the URL has expired")]
    Expired,
    #[error("the URL was signed for another method")]
    WrongMethod,
    #[error("the body is not the signed length")]
    WrongLength,
    #[error("the content type is not the signed one")]
    WrongContentType,
}

impl EmbeddedFiles {
    pub(crate) fn new(
        db: Arc<redb::Database>,
        dir: PathBuf,
        base_url: String,
        secret: Arc<[u8]>,
    ) -> Self {
        EmbeddedFiles {
            db,
            dir,
            base_url: base_url.trim_end_matches('/').into(),
            secret,
            clock: Arc::new(SystemClock),
            events: None,
        }
    }

    /// Announces every put of a key that `matches` with an S3 `ObjectCreated` event (the JSON
    /// S3 sends, keys URL-encoded, a growing `sequencer`) on the embedded queue `queue`,
    /// written in the same transaction as the file's metadata: a stored file is announced,
    /// even across a crash.
    pub fn with_events(
        mut self,
        queue: impl Into<String>,
        bucket: impl Into<String>,
        matches: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.events = Some(Arc::new(Events {
            queue: queue.into(),
            bucket: bucket.into(),
            matches: Box::new(matches),
        }));
        self
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn mac(
        &self,
        method: &str,
        key: &str,
        expires: i64,
        length: Option<u64>,
        content_type: Option<&str>,
    ) -> Hmac<Sha256> {
        // The secret is at least 32 bytes (see `load_or_create_secret`); HMAC takes any length.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        let canonical = format!(
            "{method}\n{key}\n{expires}\n{}\n{}",
            length.map(|l| l.to_string()).unwrap_or_default(),
            content_type.unwrap_or_default()
        );
        mac.update(canonical.as_bytes());
        mac
    }

    fn presign(
        &self,
        method: &str,
        key: &FileKey,
        expires_in: Duration,
        length: Option<u64>,
        content_type: Option<&str>,
    ) -> Result<Presigned> {
        validate_expiry(expires_in)?;
        let expires_at = self.clock.now().plus(expires_in);
        let expires = expires_at.seconds();
        let sig = self
            .mac(method, key.as_str(), expires, length, content_type)
            .finalize()
            .into_bytes();
        let path: Vec<String> = key
            .as_str()
            .split('/')
            .map(|s| utf8_percent_encode(s, KEEP).to_string())
            .collect();
        let mut url = format!(
            "{}/files/{}?X-Recap-Method={method}&X-Recap-Expires={expires}",
            self.base_url,
            path.join("/")
        );
        let mut headers = Vec::new();
        if let Some(l) = length {
            url.push_str(&format!("&X-Recap-Length={l}"));
            headers.push(("content-length".to_string(), l.to_string()));
        }
        if let Some(ct) = content_type {
            url.push_str(&format!(
                "&X-Recap-Content-Type={}",
                utf8_percent_encode(ct, KEEP)
            ));
            headers.push(("content-type".to_string(), ct.to_string()));
        }
        url.push_str(&format!(
            "&X-Recap-Signature={}",
            URL_SAFE_NO_PAD.encode(sig)
        ));
        Ok(Presigned {
            method: method.to_string(),
            url,
            headers,
            expires_at: Timestamp(expires * 1000),
        })
    }

    /// Checks a presigned request: signature first, then expiry, method, length and type.
    pub(crate) fn verify(
        &self,
        key: &FileKey,
        method: &str,
        g: &Grant,
        length: Option<u64>,
        content_type: Option<&str>,
    ) -> std::result::Result<(), GrantError> {
        let sig = URL_SAFE_NO_PAD
            .decode(&g.signature)
            .map_err(|_| GrantError::BadSignature)?;
        self.mac(
            &g.method,
            key.as_str(),
            g.expires,
            g.length,
            g.content_type.as_deref(),
        )
        .verify_slice(&sig)
        .map_err(|_| GrantError::BadSignature)?;
        if self.clock.now().seconds() >= g.expires {
            return Err(GrantError::Expired);
        }
        if g.method != method {
            return Err(GrantError::WrongMethod);
        }
        if g.length.is_some() && g.length != length {
            return Err(GrantError::WrongLength);
        }
        if g.content_type.is_some() && g.content_type.as_deref() != content_type {
            return Err(GrantError::WrongContentType);
        }
        Ok(())
    }

    fn blob_path(&self, blob: &str) -> PathBuf {
        self.dir.join(blob)
    }
}

fn read_meta(db: &redb::Database, key: &str) -> Result<Option<Stored>> {
    let txn = db.begin_read().map_err(db_err)?;
    let t = match txn.open_table(FILES) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(db_err(e)),
    };
    let found = t.get(key).map_err(db_err)?;
    found
        .map(|g| {
            serde_json::from_slice(g.value())
                .map_err(|e| Error::unexpected("decoding file metadata", e))
        })
        .transpose()
}

fn io(context: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::unexpected(context, e)
}

#[async_trait]
impl Files for EmbeddedFiles {
    #[tracing::instrument(skip_all, fields(key = %key, bytes = body.len()))]
    async fn put(&self, key: &FileKey, body: Vec<u8>, content_type: &str) -> Result<()> {
        check_size(body.len() as u64)?;
        let db = self.db.clone();
        let key = key.as_str().to_string();
        let blob = uuid::Uuid::new_v4().simple().to_string();
        let path = self.blob_path(&blob);
        let dir = self.dir.clone();
        let content_type = (!content_type.is_empty()).then(|| content_type.to_string());
        let events = self.events.clone().filter(|e| (e.matches)(key.as_str()));
        let now = self.clock.now();
        blocking(move || {
            use std::io::Write as _;
            let tmp = dir.join(format!("{blob}.tmp"));
            let mut f = std::fs::File::create(&tmp).map_err(io("writing a file"))?;
            f.write_all(&body).map_err(io("writing a file"))?;
            f.sync_all().map_err(io("writing a file"))?;
            std::fs::rename(&tmp, &path).map_err(io("writing a file"))?;
            let meta = Stored {
                size: body.len() as u64,
                content_type,
                blob,
            };
            let bytes = serde_json::to_vec(&meta)
                .map_err(|e| Error::unexpected("encoding file metadata", e))?;
            let txn = db.begin_write().map_err(db_err)?;
            let old = {
                let mut t = txn.open_table(FILES).map_err(db_err)?;
                let old = t.insert(key.as_str(), bytes.as_slice()).map_err(db_err)?;
                old.and_then(|g| serde_json::from_slice::<Stored>(g.value()).ok())
            };
            if let Some(ev) = events {
                let seq = {
                    let mut t = txn.open_table(EVENT_SEQ).map_err(db_err)?;
                    let n = t.get("files").map_err(db_err)?.map_or(0, |g| g.value()) + 1;
                    t.insert("files", n).map_err(db_err)?;
                    n
                };
                let created = ObjectCreated {
                    bucket: ev.bucket.clone(),
                    key: FileKey::parse(key.clone())?,
                    size: body.len() as u64,
                    sequencer: format!("{seq:016X}"),
                };
                let body = s3_event(&created, &now.to_string()).to_string();
                enqueue_in(&txn, &ev.queue, body, now.millis())?;
            }
            txn.commit().map_err(db_err)?;
            if let Some(old) = old {
                let _ = std::fs::remove_file(dir.join(old.blob));
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(key = %key))]
    async fn get(&self, key: &FileKey) -> Result<Option<(Vec<u8>, FileMeta)>> {
        let db = self.db.clone();
        let dir = self.dir.clone();
        let key = key.clone();
        blocking(move || {
            let Some(m) = read_meta(&db, key.as_str())? else {
                return Ok(None);
            };
            let body = match std::fs::read(dir.join(&m.blob)) {
                Ok(b) => b,
                // Replaced between the metadata read and now: read the new one.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let Some(m2) = read_meta(&db, key.as_str())? else {
                        return Ok(None);
                    };
                    let b = std::fs::read(dir.join(&m2.blob)).map_err(io("reading a file"))?;
                    return Ok(Some((
                        b,
                        FileMeta {
                            key,
                            size: m2.size,
                            content_type: m2.content_type,
                        },
                    )));
                }
                Err(e) => return Err(Error::unexpected("reading a file", e)),
            };
            Ok(Some((
                body,
                FileMeta {
                    key,
                    size: m.size,
                    content_type: m.content_type,
                },
            )))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(key = %key))]
    async fn head(&self, key: &FileKey) -> Result<Option<FileMeta>> {
        let db = self.db.clone();
        let key = key.clone();
        blocking(move || {
            Ok(read_meta(&db, key.as_str())?.map(|m| FileMeta {
                key,
                size: m.size,
                content_type: m.content_type,
            }))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(key = %key))]
    async fn delete(&self, key: &FileKey) -> Result<()> {
        let db = self.db.clone();
        let dir = self.dir.clone();
        let key = key.as_str().to_string();
        blocking(move || {
            let txn = db.begin_write().map_err(db_err)?;
            let old = {
                let mut t = txn.open_table(FILES).map_err(db_err)?;
                let old = t.remove(key.as_str()).map_err(db_err)?;
                old.and_then(|g| serde_json::from_slice::<Stored>(g.value()).ok())
            };
            txn.commit().map_err(db_err)?;
            if let Some(old) = old {
                let _ = std::fs::remove_file(dir.join(old.blob));
            }
            Ok(())
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(prefix))]
    async fn list(&self, prefix: &str, cursor: Option<String>, limit: u32) -> Result<FilePage> {
        if limit == 0 || limit > 1000 {
            return Err(Error::validation("limit", "must be between 1 and 1000"));
        }
        let after = match cursor {
            None => None,
            Some(c) => {
                let bad = || Error::validation("cursor", "does not belong to this listing");
                let k = URL_SAFE_NO_PAD
                    .decode(c)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(bad)?;
                if !k.starts_with(prefix) {
                    return Err(bad());
                }
                Some(k)
            }
        };
        let db = self.db.clone();
        let prefix = prefix.to_string();
        blocking(move || {
            let txn = db.begin_read().map_err(db_err)?;
            let t = match txn.open_table(FILES) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => {
                    return Ok(FilePage {
                        files: vec![],
                        next_cursor: None,
                    });
                }
                Err(e) => return Err(db_err(e)),
            };
            let lower = match &after {
                Some(a) => std::ops::Bound::Excluded(a.as_str()),
                None => std::ops::Bound::Included(prefix.as_str()),
            };
            let mut files = Vec::new();
            let mut more = false;
            for r in t
                .range::<&str>((lower, std::ops::Bound::Unbounded))
                .map_err(db_err)?
            {
                let (k, v) = r.map_err(db_err)?;
                let k = k.value();
                if !k.starts_with(prefix.as_str()) {
                    break;
                }
                if files.len() == limit as usize {
                    more = true;
                    break;
                }
                let m: Stored = serde_json::from_slice(v.value())
                    .map_err(|e| Error::unexpected("decoding file metadata", e))?;
                files.push(FileMeta {
                    key: FileKey::parse(k)?,
                    size: m.size,
                    content_type: None,
                });
            }
            let next_cursor = if more {
                files.last().map(|f| URL_SAFE_NO_PAD.encode(f.key.as_str()))
            } else {
                None
            };
            Ok(FilePage { files, next_cursor })
        })
        .await
    }

    async fn presign_put(&self, key: &FileKey, policy: &UploadPolicy) -> Result<Presigned> {
        policy.validate()?;
        self.presign(
            "PUT",
            key,
            policy.expires_in,
            Some(policy.content_length),
            Some(&policy.content_type),
        )
    }

    async fn presign_get(&self, key: &FileKey, expires_in: Duration) -> Result<Presigned> {
        self.presign("GET", key, expires_in, None, None)
    }
}
