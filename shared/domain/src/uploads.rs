//! S3 "object created" event notifications: the upload trigger's input, in Lambda and locally
//! (the embedded file store writes the same JSON).
//!
//! Keys arrive URL-encoded as S3 writes them (`+` for a space, UTF-8 percent-escapes).
//! `sequencer` orders events for one key: a longer one is padded with zeros on the left before
//! comparing, as S3's documentation says.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::FileKey;

/// One object that was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectCreated {
    pub bucket: String,
    pub key: FileKey,
    pub size: u64,
    pub sequencer: String,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "Records", default)]
    records: Vec<Record>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "eventName", default)]
    event_name: String,
    s3: S3,
}

#[derive(Deserialize)]
struct S3 {
    bucket: Bucket,
    object: Object,
}

#[derive(Deserialize)]
struct Bucket {
    name: String,
}

#[derive(Deserialize)]
struct Object {
    key: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    sequencer: String,
}

/// Decodes a key as S3 event notifications encode it.
pub fn decode_key(raw: &str) -> Result<FileKey> {
    let plus = raw.replace('+', " ");
    let decoded = percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map_err(|_| Error::validation("key", "is not UTF-8 once decoded"))?;
    FileKey::parse(decoded.into_owned())
}

/// Encodes a key as S3 event notifications do (the inverse of [`decode_key`]).
pub fn encode_key(key: &FileKey) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/')
        .remove(b' ');
    percent_encoding::utf8_percent_encode(key.as_str(), KEEP)
        .to_string()
        .replace(' ', "+")
}

/// The created objects of an S3 event; other events (removals, tests) are left out.
pub fn parse_s3_event(json: &[u8]) -> Result<Vec<ObjectCreated>> {
    let event: Event = serde_json::from_slice(json)
        .map_err(|e| Error::validation("event", format!("is not an S3 event: {e}")))?;
    event
        .records
        .into_iter()
        .filter(|r| r.event_name.starts_with("ObjectCreated:"))
        .map(|r| {
            Ok(ObjectCreated {
                bucket: r.s3.bucket.name,
                key: decode_key(&r.s3.object.key)?,
                size: r.s3.object.size,
                sequencer: r.s3.object.sequencer,
            })
        })
        .collect()
}

/// An S3 event for one created object, as S3 writes it (the embedded store sends these).
pub fn s3_event(created: &ObjectCreated, event_time: &str) -> serde_json::Value {
    serde_json::json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "local",
        "eventTime": event_time,
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": created.bucket, "arn": format!("arn:aws:s3:::{}", created.bucket)},
            "object": {"key": encode_key(&created.key), "size": created.size, "sequencer": created.sequencer}
        }
    }]})
}

/// Orders two sequencers of the same key.
pub fn compare_sequencers(a: &str, b: &str) -> Ordering {
    let width = a.len().max(b.len());
    format!("{a:0>width$}").cmp(&format!("{b:0>width$}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode_as_s3_encodes_them() {
        let k = decode_key("t/uploads/x/R%C3%A9union+du+3+mars%2B1.vtt").unwrap();
        assert_eq!(k.as_str(), "t/uploads/x/Réunion du 3 mars+1.vtt");
        assert_eq!(decode_key(&encode_key(&k)).unwrap(), k);
        assert!(decode_key("t/%FF").is_err());
    }

    #[test]
    fn sequencers_compare_after_padding() {
        assert_eq!(compare_sequencers("0A", "00B"), Ordering::Less);
        assert_eq!(
            compare_sequencers("0055AED6DCD90281E5", "0055AED6DCD90281E6"),
            Ordering::Less
        );
        assert_eq!(compare_sequencers("1", "0001"), Ordering::Equal);
    }
}
