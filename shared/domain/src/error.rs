//! The one domain error. HTTP maps each variant to a status and a stable problem `type`.

use std::borrow::Cow;

/// A boxed error kept as the source of [`Error::Unexpected`] and [`Error::Unavailable`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing does not exist, or belongs to another tenant (never said which).
    #[error("{what} not found")]
    NotFound { what: Cow<'static, str> },

    #[error(transparent)]
    Conflict(#[from] Conflict),

    /// Input that can never succeed as sent.
    #[error("invalid {field}: {message}")]
    Validation {
        field: Cow<'static, str>,
        message: String,
    },

    /// No valid credentials: no token, a bad one, or one without a tenant.
    #[error("not authenticated: {0}")]
    Unauthenticated(Cow<'static, str>),

    #[error("forbidden: {0}")]
    Forbidden(Cow<'static, str>),

    /// Whole credits: what the operation needs and what the balance holds.
    #[error("insufficient credits: {needed} needed, {available} available")]
    InsufficientCredits { needed: u64, available: u64 },

    /// A dependency is down or throttling; the same call may succeed later.
    #[error("{what} is unavailable")]
    Unavailable {
        what: Cow<'static, str>,
        #[source]
        source: Option<BoxError>,
    },

    /// A bug or an unmapped failure. Its text is logged, never sent to a client.
    #[error("unexpected error: {context}")]
    Unexpected {
        context: Cow<'static, str>,
        #[source]
        source: Option<BoxError>,
    },
}

/// Why a write was refused because of the state it found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// The condition of write number `write` (0 for a single write, the position in a
    /// transaction otherwise) did not hold; nothing was written.
    #[error("the condition of write {write} failed")]
    ConditionFailed { write: usize },
    /// Another transaction touched the same items at the same time; nothing was written and a
    /// retry may succeed.
    #[error("the transaction collided with another one")]
    TransactionConflict,
    /// A domain-level conflict, such as a name already taken.
    #[error("{0}")]
    State(String),
}

impl Error {
    pub fn validation(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Error::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<Cow<'static, str>>) -> Self {
        Error::NotFound { what: what.into() }
    }

    pub fn unexpected(context: impl Into<Cow<'static, str>>, source: impl Into<BoxError>) -> Self {
        Error::Unexpected {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    pub fn unavailable(what: impl Into<Cow<'static, str>>, source: impl Into<BoxError>) -> Self {
        Error::Unavailable {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    /// The write whose condition failed, when this is a condition failure.
    pub fn failed_write(&self) -> Option<usize> {
        match self {
            Error::Conflict(Conflict::ConditionFailed { write }) => Some(*write),
            _ => None,
        }
    }
}
