//! Verification: is this credential good for this request, and if not, why not.
//!
//! [`Store::verify`] checks one [`Credential`]; [`Store::verify_request`] first picks the one
//! credential a request [`Presented`] (or reports it missing, ambiguous, or sent over plain
//! HTTP when TLS is required), then checks it against the request path.

use serde::Serialize;

use crate::credential::{Credential, Outcome, Presented};
use crate::error::Result;
use crate::key::{Key, Status};
use crate::store::Store;
use crate::time::Timestamp;
use crate::token::{self, Digest};

/// Why a credential was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Not shaped like a keyctl token, its checksum is wrong, or the request was unreadable.
    Malformed,
    /// No such key, or the secret does not match.
    Unknown,
    /// The key was deleted.
    Revoked,
    /// The key is disabled (`keyctl enable` switches it back on).
    Disabled,
    /// The key is past its expiry time.
    Expired,
    /// The request path is outside the key's path prefixes.
    PathNotAllowed,
    /// The request carried no credential.
    Missing,
    /// The request carried more than one distinct credential.
    Ambiguous,
    /// TLS was required and the request did not come over https.
    InsecureTransport,
}

impl Reason {
    /// The word used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::Unknown => "unknown",
            Reason::Revoked => "revoked",
            Reason::Disabled => "disabled",
            Reason::Expired => "expired",
            Reason::PathNotAllowed => "path_not_allowed",
            Reason::Missing => "missing",
            Reason::Ambiguous => "ambiguous",
            Reason::InsecureTransport => "insecure_transport",
        }
    }
}

/// The answer to a verification. `id`, `user` and `name` are filled whenever the secret
/// matched, even when the key is revoked or expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// True when the credential is good (for the request path, if one was given).
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
    /// True when the token is an earlier secret still in its grace period after a reset.
    pub superseded: bool,
    /// When that grace period ends.
    pub grace_until: Option<Timestamp>,
    /// Where the credential was found (`stdin`, `header:authorization-bearer`, ...).
    pub source: Option<String>,
    /// Things the caller should fix even when the credential is valid.
    pub warnings: Vec<String>,
}

impl Verdict {
    /// A rejection that names no key.
    pub fn rejected(reason: Reason) -> Verdict {
        Verdict {
            valid: false,
            reason: Some(reason),
            id: None,
            user: None,
            name: None,
            expires: None,
            paths: Vec::new(),
            superseded: false,
            grace_until: None,
            source: None,
            warnings: Vec::new(),
        }
    }
}

/// How to check a request beyond its credential.
#[derive(Debug, Clone, Default)]
pub struct RequestCheck<'a> {
    /// Path to check against the key's prefixes; when `None`, the request's own path is used.
    pub path: Option<&'a str>,
    /// Reject a request that did not come over https.
    pub require_tls: bool,
}

impl Store {
    /// Verify one credential, and when `request_path` is given, check it against the key's
    /// path prefixes. Store errors (busy, unreadable) are errors, not rejections.
    ///
    /// ```
    /// use keyctl::credential::{Credential, Source};
    /// use keyctl::store::{NewKey, Store};
    /// use keyctl::time::Timestamp;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let mut store = Store::open_or_create(&dir.path().join("keys.db"))?;
    /// let new = NewKey {
    ///     user: "svc".into(),
    ///     name: None,
    ///     description: None,
    ///     prefix: "kc".into(),
    ///     paths: vec!["/api".into()],
    ///     expires: None,
    /// };
    /// let (key, token) = store.create_key(&new, Timestamp::now())?;
    ///
    /// let verdict = store.verify(&Credential::new(token.clone(), Source::Argument), Some("/api/items"))?;
    /// assert!(verdict.valid);
    /// assert_eq!(verdict.id.as_deref(), Some(key.id.as_str()));
    ///
    /// let verdict = store.verify(&Credential::new(token, Source::Argument), Some("/admin"))?;
    /// assert_eq!(verdict.reason, Some(keyctl::Reason::PathNotAllowed));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify(&self, credential: &Credential, request_path: Option<&str>) -> Result<Verdict> {
        self.verify_at(credential, request_path, Timestamp::now())
    }

    /// [`Store::verify`] at a given time.
    pub fn verify_at(
        &self,
        credential: &Credential,
        request_path: Option<&str>,
        now: Timestamp,
    ) -> Result<Verdict> {
        let mut verdict = self.check_token(&credential.token, request_path, now)?;
        verdict.source = Some(credential.source.label());
        if credential.source.is_query() {
            verdict.warnings.push(query_warning(&credential.source));
        }
        Ok(verdict)
    }

    /// Verify what a request presented: exactly one distinct credential, over https when
    /// required, good for the request path.
    pub fn verify_request(
        &self,
        presented: &Presented,
        check: &RequestCheck,
        now: Timestamp,
    ) -> Result<Verdict> {
        if check.require_tls && !presented.https {
            return Ok(Verdict::rejected(Reason::InsecureTransport));
        }
        let path = check.path.or(presented.path.as_deref());
        match presented.outcome() {
            Outcome::One(credential) => {
                let mut verdict = self.verify_at(&credential, path, now)?;
                // The same token also sent in a query string has leaked there all the same.
                let in_query = presented.credentials.iter().find(|c| c.source.is_query());
                if let Some(query) = in_query.filter(|_| !credential.source.is_query()) {
                    verdict.warnings.push(query_warning(&query.source));
                }
                Ok(verdict)
            }
            Outcome::Ambiguous => Ok(Verdict::rejected(Reason::Ambiguous)),
            Outcome::Missing if presented.basic_user_mismatch => {
                let mut verdict = Verdict::rejected(Reason::Unknown);
                verdict.source = Some("basic".into());
                verdict
                    .warnings
                    .push("the Basic username is not the expected one".into());
                Ok(verdict)
            }
            Outcome::Missing => Ok(Verdict::rejected(Reason::Missing)),
        }
    }

    fn check_token(
        &self,
        token: &str,
        request_path: Option<&str>,
        now: Timestamp,
    ) -> Result<Verdict> {
        let Some(parsed) = token::parse(token) else {
            return Ok(Verdict::rejected(Reason::Malformed));
        };
        let Some(key) = self.stored_key(parsed.id)? else {
            return Ok(Verdict::rejected(Reason::Unknown));
        };
        let digest = Digest::of(token);
        // The current secret first; earlier ones only when it does not match.
        let grace_until = if digest.matches(&key.digest) {
            None
        } else {
            let mut in_grace = key.earlier.iter().filter(|(_, until)| *until > now);
            match in_grace.find(|(d, _)| digest.matches(d)) {
                Some((_, until)) => Some(*until),
                None => return Ok(Verdict::rejected(Reason::Unknown)),
            }
        };
        let reason = match Key::status_at(key.expires, key.deleted, key.disabled, now) {
            Status::Revoked => Some(Reason::Revoked),
            Status::Disabled => Some(Reason::Disabled),
            Status::Expired => Some(Reason::Expired),
            Status::Active => request_path
                .filter(|p| !crate::paths::allows(&key.paths, p))
                .map(|_| Reason::PathNotAllowed),
        };
        if reason.is_none() {
            self.touch(&key.id, key.last_used, now);
        }
        let mut warnings = Vec::new();
        if let Some(until) = grace_until {
            warnings.push(format!(
                "this token was replaced by a reset and stops working at {until}; switch to the new one"
            ));
        }
        Ok(Verdict {
            valid: reason.is_none(),
            reason,
            id: Some(key.id.clone()),
            user: Some(key.user.clone()),
            name: key.name.clone(),
            expires: key.expires,
            paths: key.paths.clone(),
            superseded: grace_until.is_some(),
            grace_until,
            source: None,
            warnings,
        })
    }
}

/// The warning for a credential found in a query string.
fn query_warning(source: &crate::credential::Source) -> String {
    format!(
        "the credential was sent in the query string ({}); query strings end up in access logs and shell history, send it in a header instead",
        source.label()
    )
}
