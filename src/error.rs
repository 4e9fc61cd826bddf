//! The error type: each variant owns one of keyctl's documented exit codes.

use std::fmt;

/// Exit code for a verification that was answered "rejected".
pub const EXIT_REJECTED: u8 = 1;
/// Exit code for invalid usage or input, including a refused confirmation.
pub const EXIT_USAGE: u8 = 2;
/// Exit code for a key or user that does not exist (or is revoked, for management commands).
pub const EXIT_NOT_FOUND: u8 = 3;
/// Exit code for a store that cannot be used, or input or output that failed.
pub const EXIT_STORE: u8 = 4;

/// A value that keyctl refuses, with a message that says why (and never repeats a token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

/// Everything that can go wrong in keyctl, grouped by exit code.
///
/// Messages never contain a token or any part of a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad input: the command changed nothing (exit 2).
    #[error("{0}")]
    Invalid(String),
    /// No such key or user, or the key is revoked and cannot be managed (exit 3).
    #[error("{0}")]
    NotFound(String),
    /// The store cannot be used: not a keyctl store, newer schema, unwritable, busy (exit 4).
    #[error("{0}")]
    Store(String),
    /// There is no store where one was asked for, and the command does not make one
    /// (exit 4).
    #[error("{0}")]
    NoStore(String),
    /// Writing output failed (a closed pipe is treated as success where nothing is lost).
    #[error("cannot write output: {0}")]
    Output(std::io::Error),
    /// Reading input (stdin, a file) failed.
    #[error("cannot read {what}: {source}")]
    Input {
        /// What was being read.
        what: &'static str,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A new token could not be written out in full; the change that made it was undone
    /// (or, if even that failed, the message says so).
    #[error("{0}")]
    Undelivered(String),
    /// The operating system's random generator failed; nothing was created.
    #[error("the OS random generator failed ({0}); nothing was changed")]
    Random(String),
}

impl Error {
    /// The process exit code documented for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Invalid(_) => EXIT_USAGE,
            Error::NotFound(_) => EXIT_NOT_FOUND,
            Error::Store(_)
            | Error::NoStore(_)
            | Error::Output(_)
            | Error::Input { .. }
            | Error::Undelivered(_)
            | Error::Random(_) => EXIT_STORE,
        }
    }

    /// True when stdout was closed by the reader (e.g. `keyctl list | head -1`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Self {
        Error::Invalid(e.0)
    }
}

/// Shorthand for results in keyctl.
pub type Result<T, E = Error> = std::result::Result<T, E>;
