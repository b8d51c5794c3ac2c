//! Recap's domain: entities, newtypes, rules, ports and use cases.
//!
//! Nothing here knows AWS, HTTP or any model provider. The ports ([`records`], [`files`],
//! [`queue`], [`clock`]) are small traits that the adapters (`recap-embedded`, `recap-aws`)
//! implement with the same semantics; the contract suite (`recap-contract`) proves it.

pub mod access;
pub mod billing;
pub mod catalog;
pub mod clock;
pub mod credits;
pub mod error;
pub mod files;
pub mod generation;
pub mod ids;
pub mod json_schema;
pub mod keys;
pub mod model_choice;
pub mod models;
pub mod money;
pub mod outputs;
pub mod playlists;
pub mod queue;
pub mod reconcile;
pub mod records;
pub mod roles;
pub mod teams;
pub mod tenants;
pub mod text;
pub mod transcript_types;
pub mod transcripts;
pub mod uploads;
pub mod users;

pub use error::{Conflict, Error, Result};
