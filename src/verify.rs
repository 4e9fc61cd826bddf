//! Verification: is this token good for this request path, and if not, why not.

use serde::Serialize;

use crate::error::Result;
use crate::key::Status;
use crate::store::Store;
use crate::time::Timestamp;
use crate::token::{self, Digest};

/// Why a token was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Not shaped like a keyctl token, or its checksum is wrong.
    Malformed,
    /// No such key, or the secret does not match.
    Unknown,
    /// The key was deleted.
    Revoked,
    /// The key is past its expiry time.
    Expired,
    /// The request path is outside the key's path prefixes.
    PathNotAllowed,
}

impl Reason {
    /// The word used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::Unknown => "unknown",
            Reason::Revoked => "revoked",
            Reason::Expired => "expired",
            Reason::PathNotAllowed => "path_not_allowed",
        }
    }
}

/// The answer to a verification. `id`, `user` and `name` are filled whenever the secret
/// matched, even when the key is revoked or expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// True when the token is good (for the request path, if one was given).
    pub valid: bool,
    /// Why not, when not valid.
    pub reason: Option<Reason>,
    /// The key's id.
    pub id: Option<String>,
    /// The key's user.
    pub user: Option<String>,
    /// The key's name.
    pub name: Option<String>,
    /// The key's expiry.
    pub expires: Option<Timestamp>,
    /// The key's path prefixes.
    pub paths: Vec<String>,
}

impl Verdict {
    fn rejected(reason: Reason) -> Verdict {
        Verdict {
            valid: false,
            reason: Some(reason),
            id: None,
            user: None,
            name: None,
            expires: None,
            paths: Vec::new(),
        }
    }
}

impl Store {
    /// Verify `token`, and when `request_path` is given, check it against the key's path
    /// prefixes. Store errors (busy, unreadable) are errors, not rejections.
    pub fn verify(&self, token: &str, request_path: Option<&str>) -> Result<Verdict> {
        self.verify_at(token, request_path, Timestamp::now())
    }

    /// [`Store::verify`] at a given time.
    pub fn verify_at(
        &self,
        token: &str,
        request_path: Option<&str>,
        now: Timestamp,
    ) -> Result<Verdict> {
        let Some(parsed) = token::parse(token) else {
            return Ok(Verdict::rejected(Reason::Malformed));
        };
        let Some((key, stored)) = self.secret(parsed.id, now)? else {
            return Ok(Verdict::rejected(Reason::Unknown));
        };
        if !Digest::of(token).matches(&stored) {
            return Ok(Verdict::rejected(Reason::Unknown));
        }
        let reason = match key.status {
            Status::Revoked => Some(Reason::Revoked),
            Status::Expired => Some(Reason::Expired),
            Status::Active => request_path
                .filter(|p| !crate::paths::allows(&key.paths, p))
                .map(|_| Reason::PathNotAllowed),
        };
        Ok(Verdict {
            valid: reason.is_none(),
            reason,
            id: Some(key.id),
            user: Some(key.user),
            name: key.name,
            expires: key.expires,
            paths: key.paths,
        })
    }
}
