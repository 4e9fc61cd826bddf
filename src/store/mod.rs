//! The key store: the operations commands and the verifier need, behind one interface.
//!
//! [`Store`] is what callers hold. It forwards each operation to a [`Backend`]: the SQLite
//! file in [`sqlite`] today; a shared database would be a second module beside it
//! (`store/postgres/`) implementing the same trait. All SQL lives under this module.
//!
//! Every change is one transaction, and the time it records or compares is read from the
//! store's [`Clock`] inside that transaction, after any wait for another writer's lock.

pub mod sqlite;

use std::path::Path;

use crate::error::{Error, Result};
use crate::key::{Key, KeyRef, Status};
use crate::names::{Description, KeyId, KeyName, TokenPrefix, UserName};
use crate::paths::PathPrefixes;
use crate::time::{Clock, Duration, Expiry, Timestamp};
use crate::token::Token;

/// How long a command waits for another process's lock before giving up, by default.
pub const DEFAULT_LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Verification records a key's last use at most this often, so that a busy verifier does
/// not turn every read into a write.
pub const LAST_USED_INTERVAL: i64 = 60;

/// What a caller may do to the store file when opening it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// Read keys and verify (which records last use where it can). Never initialises or
    /// creates anything: a missing or empty file is refused.
    Read,
    /// Change keys in an existing store. An empty file owned by the current user is
    /// initialised (mode 0600 first); one owned by anybody else is refused untouched.
    #[default]
    Write,
    /// Like `Write`, and a missing store is created (directories 0700, file 0600).
    Create,
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct Options {
    /// What the caller may do.
    pub access: Access,
    /// How long to wait for another process's lock before failing.
    pub lock_timeout: std::time::Duration,
    /// Where times come from.
    pub clock: Clock,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            access: Access::default(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            clock: Clock::system(),
        }
    }
}

impl Options {
    /// Default options with this access.
    pub fn new(access: Access) -> Options {
        Options {
            access,
            ..Options::default()
        }
    }
}

/// What `create` needs to make a key.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewKey {
    /// Owner; created if new.
    pub user: UserName,
    /// Optional name, unique among the user's live keys.
    pub name: Option<KeyName>,
    /// Optional free text.
    pub description: Option<Description>,
    /// Token prefix.
    pub prefix: TokenPrefix,
    /// Path prefixes (empty: any path).
    pub paths: PathPrefixes,
    /// When the key expires; a time not in the future is refused.
    pub expires: Expiry,
}

impl NewKey {
    /// A key for `user` with no name, no description, the default prefix, no path
    /// restriction and no expiry; set the fields to change that.
    pub fn new(user: UserName) -> NewKey {
        NewKey {
            user,
            name: None,
            description: None,
            prefix: TokenPrefix::default(),
            paths: PathPrefixes::none(),
            expires: Expiry::Never,
        }
    }
}

/// Which keys `list` returns; the conditions combine.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ListFilter {
    /// Only this user's keys (the user must exist).
    pub user: Option<UserName>,
    /// Include revoked keys.
    pub all: bool,
    /// Only keys with one of these statuses (naming `Revoked` includes revoked keys).
    pub statuses: Vec<Status>,
    /// Only active keys that expire within this long from now.
    pub expiring_within: Option<Duration>,
    /// Only keys created more than this long ago and not used since.
    pub unused_since: Option<Duration>,
}

impl ListFilter {
    pub(crate) fn with_revoked(&self) -> bool {
        self.all || self.statuses.contains(&Status::Revoked)
    }

    pub(crate) fn keeps(&self, k: &Key, now: Timestamp) -> bool {
        let ago = |d: Duration| now.0.saturating_sub(d.secs());
        (self.statuses.is_empty() || self.statuses.contains(&k.status))
            && self.expiring_within.is_none_or(|w| {
                k.status == Status::Active
                    && k.expires
                        .is_some_and(|e| e.0.saturating_sub(now.0) <= w.secs())
            })
            && self
                .unused_since
                .is_none_or(|d| k.created.0 < ago(d) && k.last_used.is_none_or(|u| u.0 < ago(d)))
    }
}

/// A key just created, with its only token.
#[derive(Debug)]
#[non_exhaustive]
pub struct Issued {
    /// The key as committed.
    pub key: Key,
    /// Its token: shown once, never stored.
    pub token: Token,
    /// How to take the key back if the token cannot be delivered.
    pub undo: Undo,
}

/// A key given a new secret.
#[derive(Debug)]
#[non_exhaustive]
pub struct Rotated {
    /// The key as committed.
    pub key: Key,
    /// The new token: shown once, never stored.
    pub token: Token,
    /// When the token it replaced stops verifying; `None`: it already has.
    pub previous_until: Option<Timestamp>,
    /// How to put the previous secrets back if the new token cannot be delivered.
    pub undo: Undo,
}

/// A change to a key, and whether it changed anything.
#[derive(Debug)]
#[non_exhaustive]
pub struct Updated {
    /// The key after the change.
    pub key: Key,
    /// False when the key already was as asked.
    pub changed: bool,
}

/// What it takes to reverse a create or a reset whose token never reached anyone. It holds
/// digests, so its `Debug` shows none of it.
pub struct Undo(pub(crate) UndoKind);

pub(crate) enum UndoKind {
    /// Remove the key (and its user, if the create made it and it has no other key).
    Create {
        id: KeyId,
        digest: [u8; 32],
        user_created: bool,
    },
    /// Put back the secrets a reset replaced.
    Reset {
        id: KeyId,
        digest: [u8; 32],
        previous: Vec<u8>,
        superseded: Vec<(Vec<u8>, i64)>,
        updated: i64,
    },
}

impl std::fmt::Debug for Undo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Undo(..)")
    }
}

/// The changes [`Backend::update`] makes to one live key.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    Disabled(bool),
    Expiry(Expiry),
    Paths(PathPrefixes),
    Revoke,
}

/// What verification needs to know about a key, as one read saw it.
#[derive(Debug)]
pub(crate) struct StoredKey {
    pub id: KeyId,
    pub user: UserName,
    pub name: Option<KeyName>,
    pub paths: PathPrefixes,
    pub expires: Option<Timestamp>,
    pub deleted: Option<Timestamp>,
    pub disabled: Option<Timestamp>,
    pub last_used: Option<Timestamp>,
    /// Digest of the current token.
    pub digest: Vec<u8>,
    /// Digests of earlier tokens after a reset with grace, with the end of each grace
    /// period (some may have passed since they were read).
    pub earlier: Vec<(Vec<u8>, Timestamp)>,
}

/// A cheap reading of "the store as it is now": equal readings mean nothing was committed
/// in between. The verifier keys what it remembers on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    /// The SQLite file's 100-byte header (see `verify/cache.rs` for why it is enough).
    Header(sqlite::header::Header),
}

impl Marker {
    /// Whether equal readings of this marker really mean "no commit in between": not so
    /// for an SQLite file in WAL mode, whose header does not count commits.
    pub(crate) fn tracks_commits(&self) -> bool {
        match self {
            Marker::Header(h) => sqlite::header::counts_commits(h),
        }
    }
}

/// The operations on keys, one implementation per kind of store. Each write is one
/// transaction that reads the time from `clock` once it holds the write lock.
pub(crate) trait Backend: Send {
    /// Insert keys, all or none.
    fn create_keys(&mut self, keys: &[NewKey], clock: &Clock) -> Result<Vec<Issued>>;
    /// One key, live or revoked.
    fn key(&self, r: &KeyRef, clock: &Clock) -> Result<Key>;
    /// Each key the filter keeps, in creation order.
    fn for_each_key(
        &self,
        filter: &ListFilter,
        clock: &Clock,
        f: &mut dyn FnMut(Key) -> Result<()>,
    ) -> Result<()>;
    /// A new secret for a live key.
    fn reset(&mut self, r: &KeyRef, grace: Option<Duration>, clock: &Clock) -> Result<Rotated>;
    /// Change a live key (revoking a revoked key changes nothing).
    fn update(&mut self, r: &KeyRef, change: &Change, clock: &Clock) -> Result<Updated>;
    /// Remove a key entirely; returns it as it was.
    fn purge(&mut self, r: &KeyRef, clock: &Clock) -> Result<Key>;
    /// Keys revoked or expired more than `older_than` ago.
    fn prunable(&self, older_than: Duration, clock: &Clock) -> Result<Vec<Key>>;
    /// Remove those of `ids` that are still prunable; returns the ids removed.
    fn prune(&mut self, ids: &[KeyId], older_than: Duration, clock: &Clock) -> Result<Vec<KeyId>>;
    /// Reverse a create or reset, unless the key changed since.
    fn undo(&mut self, undo: &Undo) -> Result<()>;
    /// What verification needs about key `id`, and, when `marker`, the store's marker as
    /// of the same read.
    fn lookup(&self, id: &str, marker: bool) -> Result<Option<(StoredKey, Option<Marker>)>>;
    /// The store's marker now, if it can be read cheaply.
    fn marker(&self) -> Option<Marker>;
    /// Read something, to tell whether the store can be read at all.
    fn ping(&self, clock: &Clock) -> Result<()>;
    /// Record that key `id` verified at `now` (best effort, at most once a minute).
    fn record_use(&self, id: &KeyId, last_used: Option<Timestamp>, now: Timestamp);
}

/// An open key store.
pub struct Store {
    backend: Box<dyn Backend>,
    clock: Clock,
    location: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Open an existing store for changes (see [`Access::Write`]).
    pub fn open(path: &Path) -> Result<Store> {
        Store::open_with(path, &Options::new(Access::Write))
    }

    /// Open a store, creating it when it does not exist (see [`Access::Create`]).
    pub fn open_or_create(path: &Path) -> Result<Store> {
        Store::open_with(path, &Options::new(Access::Create))
    }

    /// Open a store with these options.
    pub fn open_with(path: &Path, options: &Options) -> Result<Store> {
        let backend = sqlite::Sqlite::open(path, options)?;
        Ok(Store {
            location: crate::names::shown_path(path),
            backend: Box::new(backend),
            clock: options.clock.clone(),
        })
    }

    /// Where the store is, escaped for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The clock the store reads times from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Create a key. Its token is returned once the key is committed.
    pub fn create_key(&mut self, new: &NewKey) -> Result<Issued> {
        let mut issued = self
            .backend
            .create_keys(std::slice::from_ref(new), &self.clock)?;
        issued
            .pop()
            .ok_or_else(|| Error::Store("the new key vanished before commit".into()))
    }

    /// Create many keys in one transaction (imports, benchmarks): far faster than one
    /// [`Store::create_key`] each, since the commit (and its fsync) happens once. All or
    /// nothing: if any key is refused (a duplicate name, say), none is created.
    pub fn create_keys(&mut self, keys: &[NewKey]) -> Result<Vec<Issued>> {
        self.backend.create_keys(keys, &self.clock)
    }

    /// One key by id or `USER/NAME`. A name resolves to the user's live key of that name,
    /// else to the most recently revoked one.
    pub fn key(&self, r: &KeyRef) -> Result<Key> {
        self.backend.key(r, &self.clock)
    }

    /// Keys in creation order.
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<Key>> {
        let mut keys = Vec::new();
        self.for_each_key(filter, |key| {
            keys.push(key);
            Ok(())
        })?;
        Ok(keys)
    }

    /// Call `f` with each key [`Store::list`] would return, in the same order, one at a
    /// time: memory stays flat however many keys the store holds. An error from `f` stops
    /// the walk and is returned.
    pub fn for_each_key(
        &self,
        filter: &ListFilter,
        mut f: impl FnMut(Key) -> Result<()>,
    ) -> Result<()> {
        self.backend.for_each_key(filter, &self.clock, &mut f)
    }

    /// Give a live key a new secret. Without `grace`, every earlier secret stops verifying
    /// at once; with it, the secret being replaced keeps verifying for `grace` (never past
    /// the key's own expiry), and any secret replaced earlier stops at once: at most one
    /// old token works at a time.
    pub fn reset(&mut self, r: &KeyRef, grace: Option<Duration>) -> Result<Rotated> {
        self.backend.reset(r, grace, &self.clock)
    }

    /// Disable (reversibly) or enable a live key.
    pub fn set_disabled(&mut self, r: &KeyRef, disable: bool) -> Result<Updated> {
        self.backend
            .update(r, &Change::Disabled(disable), &self.clock)
    }

    /// Set or clear a live key's expiry, counted from the time of the change.
    pub fn set_expiry(&mut self, r: &KeyRef, expiry: Expiry) -> Result<Key> {
        self.backend
            .update(r, &Change::Expiry(expiry), &self.clock)
            .map(|u| u.key)
    }

    /// Replace a live key's path prefixes.
    pub fn set_paths(&mut self, r: &KeyRef, paths: &PathPrefixes) -> Result<Key> {
        self.backend
            .update(r, &Change::Paths(paths.clone()), &self.clock)
            .map(|u| u.key)
    }

    /// Revoke a key: it stays listed (with `--all`) and verifies as `revoked`. Revoking a
    /// revoked key changes nothing.
    pub fn revoke(&mut self, r: &KeyRef) -> Result<Updated> {
        self.backend.update(r, &Change::Revoke, &self.clock)
    }

    /// Remove a key entirely. Returns it as it was.
    pub fn purge(&mut self, r: &KeyRef) -> Result<Key> {
        self.backend.purge(r, &self.clock)
    }

    /// Keys revoked or expired more than `older_than` ago: what [`Store::prune`] removes.
    pub fn prunable(&self, older_than: Duration) -> Result<Vec<Key>> {
        self.backend.prunable(older_than, &self.clock)
    }

    /// Remove those of `ids` that are still revoked or expired more than `older_than` ago
    /// (a key enabled or extended meanwhile stays). Returns the ids removed.
    pub fn prune(&mut self, ids: &[KeyId], older_than: Duration) -> Result<Vec<KeyId>> {
        self.backend.prune(ids, older_than, &self.clock)
    }

    /// Take back a create or reset whose token could not be delivered: the created key is
    /// removed, or the reset key's previous secrets are restored. Refused, changing
    /// nothing, when the key was changed by someone else since.
    pub fn undo(&mut self, undo: &Undo) -> Result<()> {
        self.backend.undo(undo)
    }

    /// Whether the store can be read now (for health checks).
    pub fn ping(&self) -> Result<()> {
        self.backend.ping(&self.clock)
    }

    pub(crate) fn lookup(
        &self,
        id: &str,
        marker: bool,
    ) -> Result<Option<(StoredKey, Option<Marker>)>> {
        self.backend.lookup(id, marker)
    }

    pub(crate) fn marker(&self) -> Option<Marker> {
        self.backend.marker()
    }

    pub(crate) fn record_use(&self, id: &KeyId, last_used: Option<Timestamp>, now: Timestamp) {
        self.backend.record_use(id, last_used, now);
    }
}
