//! Time and identity as ports, so that tests control both.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Milliseconds since the Unix epoch, UTC.
///
/// Written as RFC 3339 in UTC with milliseconds (`2026-11-25T01:09:30.120Z`): readable in the
/// API, and of fixed width for the years 0000-9999, so stored timestamps sort as strings. Reads
/// RFC 3339 with any offset, and integer milliseconds (what the first records were written
/// with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

const RFC3339_MS: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

impl Timestamp {
    /// RFC 3339, UTC, milliseconds; `None` beyond the years 0000-9999.
    pub fn to_rfc3339(self) -> Option<String> {
        let t =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000).ok()?;
        if !(0..=9999).contains(&t.year()) {
            return None;
        }
        t.format(RFC3339_MS).ok()
    }

    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        let t =
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
        i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000))
            .ok()
            .map(Timestamp)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_rfc3339() {
            Some(s) => f.write_str(&s),
            None => write!(f, "{}ms", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.to_rfc3339() {
            Some(text) => s.serialize_str(&text),
            None => Err(serde::ser::Error::custom(format!(
                "timestamp {} ms is outside the years 0000-9999",
                self.0
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Millis(i64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Millis(ms) => Ok(Timestamp(ms)),
            Repr::Text(s) => Timestamp::parse_rfc3339(&s).ok_or_else(|| {
                serde::de::Error::custom(format!("{s:?} is not an RFC 3339 timestamp"))
            }),
        }
    }
}

/// Always RFC 3339 in the API; integer milliseconds are only read from old records.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("RFC 3339; answered in UTC with milliseconds."))
            .examples(["2026-11-25T01:09:30.120Z"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Timestamp {}

impl Timestamp {
    pub fn millis(self) -> i64 {
        self.0
    }
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }
    pub fn seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }
}

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Timestamp(i64::try_from(ms).unwrap_or(i64::MAX))
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn at(t: Timestamp) -> Self {
        ManualClock(AtomicI64::new(t.0))
    }
    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

/// New identities: UUID v7, so that ids sort by creation time.
pub trait IdGen: Send + Sync {
    fn new_id(&self) -> Uuid;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemIds;

impl IdGen for SystemIds {
    fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_in_utc_and_read_back_from_either_form() {
        let t = Timestamp(1_795_568_970_120);
        let json = serde_json::to_value(t).unwrap();
        assert_eq!(json, serde_json::json!("2026-11-25T01:09:30.120Z"));
        assert_eq!(serde_json::from_value::<Timestamp>(json).unwrap(), t);
        // Records written before timestamps were text.
        assert_eq!(
            serde_json::from_value::<Timestamp>(serde_json::json!(1_795_568_970_120_i64)).unwrap(),
            t
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-25T02:09:30.12+01:00"),
            Some(t)
        );
        assert!(serde_json::from_value::<Timestamp>(serde_json::json!("yesterday")).is_err());
        // Fixed width, so they sort as strings.
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert!(Timestamp(0).to_string() < t.to_string());
    }
}
