//! Identifiers, parsed once at the edge.
//!
//! Every id is a UUID in canonical text form: 36 characters, lowercase, hyphenated. The fixed
//! length matters: a tenant id is the first part of every tenant key, and no tenant's id can
//! then be a prefix of another's. Tenant and user ids come from the identity provider (as
//! Cognito's `sub` does) and may be any UUID version; the ids Recap mints are v7, so that they
//! sort by creation time.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::error::Error;

/// The length of every id's text form.
pub const ID_LEN: usize = 36;

/// Parses a UUID written in canonical hyphenated form (either case), refusing the other forms
/// `uuid` would accept (simple, braced, URN), so that one id has exactly one spelling.
pub fn parse_canonical(field: &'static str, s: &str) -> Result<Uuid, Error> {
    let hyphens_ok = s.len() == ID_LEN
        && s.char_indices()
            .all(|(i, c)| matches!(i, 8 | 13 | 18 | 23) == (c == '-'));
    if !hyphens_ok {
        return Err(Error::validation(
            field,
            "expected a UUID in canonical form (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
        ));
    }
    Uuid::parse_str(s)
        .map_err(|_| Error::validation(field, "expected a UUID of hexadecimal digits"))
}

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Uuid);

        impl $name {
            pub const FIELD: &'static str = $field;

            pub fn from_uuid(u: Uuid) -> Self {
                $name(u)
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
            pub fn parse(s: &str) -> Result<Self, Error> {
                parse_canonical($field, s).map($name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0.hyphenated())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                uuid_schema()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }
    };
}

/// What [`parse_canonical`] accepts, as a schema.
#[cfg(feature = "openapi")]
fn uuid_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom("uuid".into())))
        .pattern(Some(
            "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        ))
        .description(Some("A UUID in canonical form; answered in lowercase."))
        .into()
}

define_id!(
    /// The tenant: every tenant key starts with it. It comes from the caller's token only.
    TenantId,
    "tenant_id"
);
define_id!(
    /// A user, as the identity provider names it (`sub`).
    UserId,
    "user_id"
);
define_id!(TeamId, "team_id");
define_id!(TranscriptId, "transcript_id");
define_id!(OutputId, "output_id");
define_id!(JobId, "job_id");
define_id!(PlaylistId, "playlist_id");
define_id!(RequestId, "request_id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_round_trips_lowercase() {
        let t = TenantId::parse("0F8FAD5B-D9CB-469F-A165-70867728950E").unwrap();
        assert_eq!(t.to_string(), "0f8fad5b-d9cb-469f-a165-70867728950e");
        assert_eq!(t.to_string().len(), ID_LEN);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"0f8fad5b-d9cb-469f-a165-70867728950e\"");
        assert_eq!(serde_json::from_str::<TenantId>(&json).unwrap(), t);
    }

    #[test]
    fn other_spellings_and_garbage_are_refused_with_the_field_named() {
        for bad in [
            "",
            "0f8fad5bd9cb469fa16570867728950e",
            "{0f8fad5b-d9cb-469f-a165-70867728950e}",
            "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e",
            "0f8fad5b-d9cb-469f-a165-70867728950",
            "0f8fad5b-d9cb-469f-a165-70867728950e0",
            "0f8fad5b-d9cb-469f-a165_70867728950e",
            "zf8fad5b-d9cb-469f-a165-70867728950e",
            "0f8fad5b-d9cb-469f-a165-7086772895é",
            "../../etc/passwd-aaaaaaaaaaaaaaaaaaa",
        ] {
            match TenantId::parse(bad) {
                Err(Error::Validation { field, .. }) => assert_eq!(field, "tenant_id", "{bad}"),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        assert!(serde_json::from_str::<UserId>("\"nope\"").is_err());
    }
}
