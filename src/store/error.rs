//! Store failures: what kind, from what, and whether trying again can help.
//!
//! Modelled on pingora's `Error`: a kind that callers decide on, a context for the
//! log, and the cause kept as the source. A refusal that is final (a value the store
//! will never take, a key of the wrong type, a script the server rejects) is
//! [`ErrorKind::Rejected`]: senders are answered once with a non-retryable status
//! instead of `503` forever.

use std::fmt;

/// What kind of failure a [`StoreError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The store could not be reached or did not answer in time; it may later.
    Unavailable,
    /// The store answered with a refusal that retrying will not change.
    Rejected,
    /// A stored record could not be read back.
    Corrupt,
}

impl ErrorKind {
    /// The kind as a word, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Corrupt => "corrupt",
        }
    }
}

/// A store failure.
#[derive(Debug)]
pub struct StoreError {
    kind: ErrorKind,
    context: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// A failure of `kind`, described by `context`.
    pub fn new(kind: ErrorKind, context: impl Into<String>) -> Self {
        Self {
            kind,
            context: context.into(),
            source: None,
        }
    }

    /// The store could not be reached or did not answer.
    pub fn unavailable(context: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, context)
    }

    /// The store refused, for good.
    pub fn rejected(context: impl Into<String>) -> Self {
        Self::new(ErrorKind::Rejected, context)
    }

    /// Record `id` cannot be read back.
    pub fn corrupt(id: &str, reason: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Corrupt, format!("corrupt record {id}: {reason}"))
    }

    /// The same failure, caused by `source`.
    pub fn because(mut self, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Its kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        self.kind == ErrorKind::Unavailable
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store {}: {}", self.kind.as_str(), self.context)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

/// The cause is part of the message (every log line that shows a store error shows
/// why), so it is not also returned as the `source`, which would print it twice.
impl std::error::Error for StoreError {}
