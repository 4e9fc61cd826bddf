//! Verification: is this credential good for this request, and if not, why not.
//!
//! A [`Verifier`] owns a [`Store`] and answers every door the same way: `keyctl verify`,
//! the HTTP server and the library all call [`Verifier::verify`] or
//! [`Verifier::verify_request`] and get one [`Verdict`]. It remembers the keys it has
//! verified while the store is unchanged (`verify/cache.rs` says why that is safe), so a
//! long-running caller does not open a read transaction for every request.

mod cache;

use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::credential::{Credential, Outcome, Presented, Source};
use crate::error::Result;
use crate::key::{Key, Status};
use crate::names::{KeyId, KeyName, UserName};
use crate::paths::PathPrefixes;
use crate::store::{LastUses, Marker, Store, StoredKey};
use crate::time::Timestamp;
use crate::token::{self, Digest};

/// How many keys a verifier remembers unless told otherwise: a few MiB at most, and
/// enough for the keys a busy verifier sees in a minute.
pub const DEFAULT_CACHE_CAPACITY: usize = 16_384;

/// Why a credential was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// Not shaped like a keyctl token, its checksum is wrong, or the request was unreadable;
    /// for a store that holds adopted tokens, also not shaped like one of those.
    Malformed,
    /// No such key, or the secret does not match; for a store that holds adopted tokens,
    /// also a string shaped like one that is none of them.
    Unknown,
    /// The key was deleted.
    Revoked,
    /// The key is disabled (`keyctl enable` switches it back on).
    Disabled,
    /// The key is past its expiry time.
    Expired,
    /// The token was replaced by a reset; it is still in its grace period, but the caller
    /// asked for the current token only.
    Superseded,
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
    /// Every reason, in the order documented.
    pub const ALL: [Reason; 10] = [
        Reason::Malformed,
        Reason::Unknown,
        Reason::Revoked,
        Reason::Disabled,
        Reason::Expired,
        Reason::Superseded,
        Reason::PathNotAllowed,
        Reason::Missing,
        Reason::Ambiguous,
        Reason::InsecureTransport,
    ];

    /// The word used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::Unknown => "unknown",
            Reason::Revoked => "revoked",
            Reason::Disabled => "disabled",
            Reason::Expired => "expired",
            Reason::Superseded => "superseded",
            Reason::PathNotAllowed => "path_not_allowed",
            Reason::Missing => "missing",
            Reason::Ambiguous => "ambiguous",
            Reason::InsecureTransport => "insecure_transport",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something the caller should fix even when the credential is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// The credential was (also) sent in this query parameter.
    QueryString(Source),
    /// The token was replaced by a reset and stops working at this time.
    Superseded(Timestamp),
    /// A Basic credential carried another username than the expected one.
    BasicUserMismatch,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::QueryString(source) => write!(
                f,
                "the credential was sent in the query string ({source}); query strings end up in access logs and shell history, send it in a header instead"
            ),
            Warning::Superseded(until) => write!(
                f,
                "this token was replaced by a reset and stops working at {until}; switch to the new one"
            ),
            Warning::BasicUserMismatch => f.write_str("the Basic username is not the expected one"),
        }
    }
}

impl Serialize for Warning {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The answer to a verification. `id`, `user` and `name` are filled whenever the secret
/// matched, even when the key is revoked or expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Verdict {
    /// True when the credential is good (for the request path, if one was given).
    pub valid: bool,
    /// Why not, when not valid.
    pub reason: Option<Reason>,
    /// The key's id.
    pub id: Option<KeyId>,
    /// The key's user.
    pub user: Option<UserName>,
    /// The key's name.
    pub name: Option<KeyName>,
    /// The key's expiry.
    pub expires: Option<Timestamp>,
    /// The key's path prefixes.
    pub paths: PathPrefixes,
    /// True when the token is an earlier secret still in its grace period after a reset.
    pub superseded: bool,
    /// When that grace period ends.
    pub grace_until: Option<Timestamp>,
    /// Where the credential was found.
    pub source: Option<Source>,
    /// Things the caller should fix even when the credential is valid.
    pub warnings: Vec<Warning>,
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
            paths: PathPrefixes::none(),
            superseded: false,
            grace_until: None,
            source: None,
            warnings: Vec::new(),
        }
    }
}

/// What to check beyond the credential itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Check<'a> {
    /// Path to check against the key's prefixes; for a request, `None` uses the request's
    /// own path, and for a bare credential it skips the path check.
    pub path: Option<&'a str>,
    /// Reject a request that did not come over https.
    pub require_tls: bool,
    /// Reject a token replaced by a reset even during its grace period (`superseded`).
    pub current: bool,
}

/// Verifies credentials against one store, remembering keys while the store is
/// unchanged. Keep one per thread for the life of a service.
///
/// ```
/// use keyctl::credential::{Credential, Source};
/// use keyctl::store::{NewKey, Store};
/// use keyctl::{Check, Reason, Verifier};
///
/// let dir = tempfile::tempdir()?;
/// let mut store = Store::open_or_create(&dir.path().join("keys.db"))?;
/// let mut new = NewKey::new("svc".parse()?);
/// new.paths = keyctl::paths::PathPrefixes::parse(&["/api"])?;
/// let issued = store.create_key(&new)?;
/// let token = issued.token.reveal();
///
/// let mut verifier = Verifier::new(store);
/// let at = |path| Check { path: Some(path), ..Check::default() };
/// let verdict = verifier.verify(&Credential::new(token, Source::Argument), &at("/api/items"))?;
/// assert!(verdict.valid);
/// assert_eq!(verdict.id.as_ref(), Some(&issued.key.id));
///
/// let verdict = verifier.verify(&Credential::new(token, Source::Argument), &at("/admin"))?;
/// assert_eq!(verdict.reason, Some(Reason::PathNotAllowed));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Verifier {
    store: Store,
    cache: cache::Cache,
    /// Whether the store held adopted tokens when its marker read so: while it still
    /// does, a string that is neither a keyctl token nor adopted costs no look-up.
    adopted: Option<(Marker, bool)>,
    /// Where uses are noted, when they are written by somebody else.
    uses: Option<Arc<LastUses>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("store", &self.store)
            .field("remembered", &self.cache.len())
            .finish()
    }
}

impl Verifier {
    /// A verifier that remembers up to [`DEFAULT_CACHE_CAPACITY`] keys.
    pub fn new(store: Store) -> Verifier {
        Verifier::with_cache(store, DEFAULT_CACHE_CAPACITY)
    }

    /// A verifier that remembers up to `capacity` keys (0: none, as for a one-shot
    /// command). A remembered key is answered from memory only while the store reads
    /// exactly as when the key was read: any commit by any process changes that, so a
    /// revocation, reset or other change takes effect at once, as without remembering.
    pub fn with_cache(store: Store, capacity: usize) -> Verifier {
        Verifier {
            store,
            cache: cache::Cache::new(capacity),
            adopted: None,
            uses: None,
        }
    }

    /// This verifier, noting each key's use in `uses` instead of writing it to the store
    /// itself (see [`LastUses`]).
    pub fn sharing_uses(mut self, uses: Arc<LastUses>) -> Verifier {
        self.uses = Some(uses);
        self
    }

    /// The store verified against.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// How many keys are remembered now.
    pub fn remembered(&self) -> usize {
        self.cache.len()
    }

    /// Verify one credential, and when `check.path` is given, check it against the key's
    /// path prefixes. Store errors (busy, unreadable) are errors, not rejections.
    pub fn verify(&mut self, credential: &Credential, check: &Check) -> Result<Verdict> {
        let mut verdict = self.check_token(&credential.token, check.path, check.current)?;
        verdict.source = Some(credential.source.clone());
        if credential.source.is_query() {
            verdict
                .warnings
                .push(Warning::QueryString(credential.source.clone()));
        }
        Ok(verdict)
    }

    /// Verify what a request presented: exactly one distinct credential, over https when
    /// required, good for the request path (`check.path`, else the request's own).
    pub fn verify_request(&mut self, presented: &Presented, check: &Check) -> Result<Verdict> {
        if check.require_tls && !presented.is_https() {
            return Ok(Verdict::rejected(Reason::InsecureTransport));
        }
        if presented.basic_user_mismatch {
            // A client that sent Basic with the wrong username is refused, whatever else
            // it sent: the username was part of what it was asked for.
            let mut verdict = Verdict::rejected(Reason::Unknown);
            verdict.source = Some(Source::Basic);
            verdict.warnings.push(Warning::BasicUserMismatch);
            return Ok(verdict);
        }
        let path = check.path.or(presented.path.as_deref());
        match presented.outcome() {
            Outcome::One(credential) => {
                let mut verdict = self.verify(&credential, &Check { path, ..*check })?;
                // The same token also sent in a query string has leaked there all the same.
                let in_query = presented.credentials.iter().find(|c| c.source.is_query());
                if let Some(query) = in_query.filter(|_| !credential.source.is_query()) {
                    verdict
                        .warnings
                        .push(Warning::QueryString(query.source.clone()));
                }
                Ok(verdict)
            }
            Outcome::Ambiguous => Ok(Verdict::rejected(Reason::Ambiguous)),
            Outcome::Missing => Ok(Verdict::rejected(Reason::Missing)),
        }
    }

    /// The key with this id: remembered, or read (with the store's marker, to remember it).
    fn stored_key(&mut self, id: &str) -> Result<Option<Arc<StoredKey>>> {
        let store = &self.store;
        if let Some(key) = self.cache.get(id, || store.marker()) {
            return Ok(Some(key));
        }
        let Some((key, marker)) = store.lookup(id, self.cache.wants_marker())? else {
            return Ok(None);
        };
        let key = Arc::new(key);
        self.cache.insert(Arc::clone(&key), marker);
        Ok(Some(key))
    }

    /// The key whose adopted token `token` may be, for a string that is not a keyctl
    /// token: `Err(Malformed)` without touching the store when it cannot be adopted, or the
    /// store holds no adopted token (known from an earlier look-up while the store's marker
    /// is unchanged); else one indexed look-up by digest, `Err(Unknown)` when it finds none.
    fn adopted_key(&mut self, token: &str) -> Result<std::result::Result<Arc<StoredKey>, Reason>> {
        if !token::adoptable(token) {
            return Ok(Err(Reason::Malformed));
        }
        if let Some((marker, false)) = self.adopted
            && self.store.marker() == Some(marker)
        {
            return Ok(Err(Reason::Malformed));
        }
        let found = self
            .store
            .lookup_adopted(&Digest::of(token), self.cache.wants_marker())?;
        self.adopted = found
            .marker
            .filter(Marker::tracks_commits)
            .map(|m| (m, found.holds_adopted));
        Ok(match found.key {
            Some(key) => Ok(Arc::new(key)),
            None if found.holds_adopted => Err(Reason::Unknown),
            None => Err(Reason::Malformed),
        })
    }

    fn check_token(
        &mut self,
        token: &str,
        request_path: Option<&str>,
        current_only: bool,
    ) -> Result<Verdict> {
        // A keyctl token names its key: one look-up by id, as if nothing were adopted.
        let key = match token::parse(token) {
            Some(parsed) => match self.stored_key(parsed.id)? {
                Some(key) => key,
                None => return Ok(Verdict::rejected(Reason::Unknown)),
            },
            None => match self.adopted_key(token)? {
                Ok(key) => key,
                Err(reason) => return Ok(Verdict::rejected(reason)),
            },
        };
        // After the lookup, which may have waited for a writer's lock.
        let now = self.store.clock().now();
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
            Status::Active if current_only && grace_until.is_some() => Some(Reason::Superseded),
            Status::Active => request_path
                .filter(|p| !key.paths.allows(p))
                .map(|_| Reason::PathNotAllowed),
        };
        if reason.is_none() {
            match &self.uses {
                Some(uses) => uses.note(&key.id, key.last_used, now),
                None => self.store.record_use(&key.id, key.last_used, now),
            }
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
            warnings: grace_until.map(Warning::Superseded).into_iter().collect(),
        })
    }
}
