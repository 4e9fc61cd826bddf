//! The key store: the operations commands and the verifier need, behind one interface.
//!
//! [`Store`] is what callers hold. It forwards each operation to a `Backend`: the SQLite
//! file in [`sqlite`], or, with the `postgres` feature, a PostgreSQL database shared by
//! many machines (`store/postgres/`), chosen by the [`Location`]. All SQL lives under this
//! module. What a change does is decided once (`change.rs`, `import.rs`), over the rows
//! each backend reads and writes in its transaction; values read back are checked once
//! (`decode.rs`).
//!
//! Every change is one transaction, and the time it records or compares is read from the
//! store's [`Clock`] inside that transaction, after any wait for another writer's lock.

mod change;
mod decode;
mod import;
pub mod location;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;

pub use location::{Location, PgUrl};

use serde::Serialize;

use crate::audit::{Action, Event};
use crate::error::{Error, Result};
use crate::key::{Key, KeyRef, Status};
use crate::names::{Description, KeyId, KeyName, TokenPrefix, UserName};
use crate::paths::PathPrefixes;
use crate::time::{Clock, Duration, Expiry, Timestamp};
use crate::token::{Digest, Token};
use crate::users::{Actor, PasswordHash};

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
    /// Who the audit log names for the changes made through this store; `None`: the user
    /// running this process.
    pub actor: Option<Actor>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            access: Access::default(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            clock: Clock::system(),
            actor: None,
        }
    }
}

/// Who makes the changes of a store, and when: every write reads its time from `clock`
/// once it holds the lock, and records `actor` in its audit event.
#[derive(Debug, Clone)]
pub(crate) struct Who {
    pub clock: Clock,
    /// Given by the caller, or, once a change needs it, the user running this process:
    /// finding that user's name reads the user database, which a verification never needs.
    actor: std::cell::OnceCell<Actor>,
}

impl Who {
    pub fn new(clock: Clock, actor: Option<Actor>) -> Who {
        Who {
            clock,
            actor: actor.map(std::cell::OnceCell::from).unwrap_or_default(),
        }
    }

    pub fn actor(&self) -> &Actor {
        self.actor.get_or_init(Actor::os_user)
    }
}

/// One user, with how many keys of each status it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UserInfo {
    /// The user.
    pub user: UserName,
    /// A service user never has a password.
    pub service: bool,
    /// Whether a password is set (never the password or its hash).
    pub password: bool,
    /// When the user was made.
    pub created: Timestamp,
    /// When `user remove` removed the user (`None`: not removed).
    pub removed: Option<Timestamp>,
    /// Keys by status.
    pub keys: KeyCounts,
}

/// How many keys a user has in each status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct KeyCounts {
    /// Usable keys.
    pub active: u64,
    /// Keys past their expiry.
    pub expired: u64,
    /// Revoked keys.
    pub revoked: u64,
    /// Disabled keys.
    pub disabled: u64,
}

/// What a password check needs to know about an account; the hash never leaves the
/// library.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub service: bool,
    pub removed: bool,
    pub password: Option<PasswordHash>,
}

/// Which events `keyctl log` prints; the conditions combine.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct EventFilter {
    /// Only events about this key (by id, or `USER/NAME` resolved to its id now).
    pub key: Option<KeyId>,
    /// Only events about this user's keys or account.
    pub user: Option<UserName>,
    /// Only events of this action.
    pub action: Option<Action>,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
}

/// What `user remove` did.
#[derive(Debug)]
#[non_exhaustive]
pub struct UserRemoved {
    /// The user's keys that were revoked or purged.
    pub keys: Vec<KeyId>,
    /// Whether they were purged (and the user with them).
    pub purged: bool,
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

/// A key with everything verification needs: what `keyctl export` writes and `keyctl
/// import` reads. It holds digests, never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyRecord {
    /// The key as `list` shows it. An import takes every field but `status` and
    /// `superseded`, which follow from the times and from `earlier`.
    pub key: Key,
    /// Digest of the current secret (an adopted token's when `key.adopted`).
    pub digest: Digest,
    /// Earlier secrets still in their grace period after a reset.
    pub earlier: Vec<EarlierSecret>,
}

impl KeyRecord {
    /// A record of `key` with these secrets.
    pub fn new(key: Key, digest: Digest, earlier: Vec<EarlierSecret>) -> KeyRecord {
        KeyRecord {
            key,
            digest,
            earlier,
        }
    }

    /// The digests of adopted tokens this record makes verify at `now`: such a token is
    /// found by its digest, so it can belong to one key only.
    pub(crate) fn adopted_digests(&self, now: Timestamp) -> impl Iterator<Item = &Digest> {
        let current = self.key.adopted.then_some(&self.digest);
        let earlier = self
            .earlier
            .iter()
            .filter(move |e| e.adopted && e.until > now)
            .map(|e| &e.digest);
        current.into_iter().chain(earlier)
    }

    /// The user and name a live key holds (revoked keys free their names).
    fn live_name(&self) -> Option<(&UserName, &KeyName)> {
        match (&self.key.name, self.key.deleted) {
            (Some(name), None) => Some((&self.key.user, name)),
            _ => None,
        }
    }
}

/// A secret replaced by a reset with grace: it keeps verifying until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierSecret {
    /// Its digest.
    pub digest: Digest,
    /// When it stops verifying.
    pub until: Timestamp,
    /// Whether it is a token another system issued.
    pub adopted: bool,
}

/// Which keys `export` writes.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ExportFilter {
    /// Only this user's keys (the user must exist).
    pub user: Option<UserName>,
    /// Include revoked keys.
    pub all: bool,
}

/// What `import` does with a key that clashes with one already in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnConflict {
    /// Import nothing.
    #[default]
    Fail,
    /// Leave the key out; the store's key stays as it is.
    Skip,
    /// A key with the same id is overwritten by the imported one. A clash with a key of
    /// another id (its name, its adopted token) is not resolved by overwriting a key the
    /// import does not name: it fails the import.
    Replace,
}

impl OnConflict {
    /// Every policy, in the order documented.
    pub const ALL: [OnConflict; 3] = [OnConflict::Fail, OnConflict::Skip, OnConflict::Replace];

    /// The word used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            OnConflict::Fail => "fail",
            OnConflict::Skip => "skip",
            OnConflict::Replace => "replace",
        }
    }
}

impl std::str::FromStr for OnConflict {
    type Err = crate::error::Invalid;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        OnConflict::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                crate::error::Invalid(format!(
                    "invalid conflict policy {}: use fail, skip or replace",
                    crate::names::shown(s)
                ))
            })
    }
}

/// What an imported key clashed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clash {
    /// Its id.
    Id,
    /// Its user and name (both keys live).
    Name,
    /// An adopted token, which verifies for one key only.
    Token,
}

/// A clash of an imported key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// With this key in the store.
    Store(Clash, KeyId),
    /// With the record at this index earlier in the same import.
    Earlier(Clash, usize),
}

/// What an import did, or would do, with one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Added.
    Imported,
    /// Overwrote the store's key with the same id.
    Replaced,
    /// Left out ([`OnConflict::Skip`]).
    Skipped(Conflict),
    /// Cannot be imported: nothing is.
    Refused(Conflict),
}

/// The outcome of [`Store::import`], one per record, in order.
#[derive(Debug)]
#[non_exhaustive]
pub struct ImportReport {
    /// What happened to each record.
    pub outcomes: Vec<Outcome>,
    /// True when the import was committed: not a dry run, and nothing refused.
    pub committed: bool,
}

impl ImportReport {
    /// How many records had an outcome like this one (`Skipped` and `Refused` count every
    /// conflict).
    pub fn count(&self, like: fn(&Outcome) -> bool) -> usize {
        self.outcomes.iter().filter(|o| like(o)).count()
    }
}

/// Clashes within one import, before any store is read: for each record, the first earlier
/// record with the same id, the same live user and name, or the same adopted token.
/// [`Store::import`] refuses such an import whatever the conflict policy; a caller can
/// check first, without a store.
pub fn repeats(records: &[KeyRecord], now: Timestamp) -> Vec<Option<Conflict>> {
    use std::collections::HashMap;
    let mut ids: HashMap<&KeyId, usize> = HashMap::new();
    let mut names: HashMap<(&UserName, &KeyName), usize> = HashMap::new();
    let mut tokens: HashMap<&[u8; 32], usize> = HashMap::new();
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let id = ids
                .get(&r.key.id)
                .map(|&at| Conflict::Earlier(Clash::Id, at));
            let name = r
                .live_name()
                .and_then(|n| names.get(&n))
                .map(|&at| Conflict::Earlier(Clash::Name, at));
            let token = r
                .adopted_digests(now)
                .find_map(|d| tokens.get(&d.0))
                .map(|&at| Conflict::Earlier(Clash::Token, at));
            ids.entry(&r.key.id).or_insert(i);
            if let Some(n) = r.live_name() {
                names.entry(n).or_insert(i);
            }
            for d in r.adopted_digests(now) {
                tokens.entry(&d.0).or_insert(i);
            }
            id.or(name).or(token)
        })
        .collect()
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
        previous_adopted: bool,
        superseded: Vec<(Vec<u8>, i64, bool)>,
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

/// What a look-up by an adopted token's digest found, as one read saw it.
#[derive(Debug)]
pub(crate) struct AdoptedLookup {
    /// The key whose current or earlier secret has this digest.
    pub key: Option<StoredKey>,
    /// Whether the store holds any adopted secret at all.
    pub holds_adopted: bool,
    /// The store's marker as of the same read, when asked for.
    pub marker: Option<Marker>,
}

/// A cheap reading of "the store as it is now": equal readings mean nothing was committed
/// in between. The verifier keys what it remembers on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    /// The SQLite file's 100-byte header (see `verify/cache.rs` for why it is enough).
    Header(sqlite::header::Header),
    /// How many changes a PostgreSQL listener was told of (`store/postgres/watch.rs`).
    #[cfg(feature = "postgres")]
    Generation(u64),
}

impl Marker {
    /// Whether equal readings of this marker really mean "no commit in between": not so
    /// for an SQLite file in WAL mode, whose header does not count commits.
    pub(crate) fn tracks_commits(&self) -> bool {
        match self {
            Marker::Header(h) => sqlite::header::counts_commits(h),
            #[cfg(feature = "postgres")]
            Marker::Generation(_) => true,
        }
    }
}

/// The operations on keys, one implementation per kind of store. Each write is one
/// transaction that reads the time from `clock` once it holds the write lock.
pub(crate) trait Backend: Send {
    /// Insert keys, all or none, each recorded as `action` (a create, or a login).
    fn create_keys(&mut self, keys: &[NewKey], action: Action, who: &Who) -> Result<Vec<Issued>>;
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
    fn reset(&mut self, r: &KeyRef, grace: Option<Duration>, who: &Who) -> Result<Rotated>;
    /// Change a live key (revoking a revoked key changes nothing).
    fn update(&mut self, r: &KeyRef, change: &Change, who: &Who) -> Result<Updated>;
    /// Remove a key entirely; returns it as it was.
    fn purge(&mut self, r: &KeyRef, who: &Who) -> Result<Key>;
    /// Keys revoked or expired more than `older_than` ago.
    fn prunable(&self, older_than: Duration, clock: &Clock) -> Result<Vec<Key>>;
    /// Remove those of `ids` that are still prunable; returns the ids removed.
    fn prune(&mut self, ids: &[KeyId], older_than: Duration, who: &Who) -> Result<Vec<KeyId>>;
    /// Reverse a create or reset, unless the key changed since.
    fn undo(&mut self, undo: &Undo, who: &Who) -> Result<()>;
    /// What verification needs about key `id`, and, when `marker`, the store's marker as
    /// of the same read.
    fn lookup(&self, id: &str, marker: bool) -> Result<Option<(StoredKey, Option<Marker>)>>;
    /// The key holding the adopted secret with this digest (current, or earlier and
    /// possibly past its grace), whether the store holds adopted secrets at all, and, when
    /// `marker`, the store's marker as of the same read. Indexed: never a scan.
    fn lookup_adopted(&self, digest: &Digest, marker: bool) -> Result<AdoptedLookup>;
    /// Create keys whose secrets are tokens another system issued, known by their
    /// digests; all or none.
    fn adopt_keys(&mut self, keys: &[(NewKey, Digest)], who: &Who) -> Result<Vec<Key>>;
    /// Call `start` with the number of keys the filter keeps and the time of reading, then
    /// `f` with each of them in creation order, all in one read.
    fn export(
        &self,
        filter: &ExportFilter,
        clock: &Clock,
        start: &mut dyn FnMut(u64, Timestamp) -> Result<()>,
        f: &mut dyn FnMut(KeyRecord) -> Result<()>,
    ) -> Result<()>;
    /// Add keys with their ids and secrets, all or none (see [`Store::import`]).
    fn import(
        &mut self,
        records: &[KeyRecord],
        on_conflict: OnConflict,
        dry_run: bool,
        who: &Who,
    ) -> Result<ImportReport>;
    /// Every user, in the order made.
    fn users(&self, clock: &Clock) -> Result<Vec<UserInfo>>;
    /// Add a user; an existing one is refused.
    fn user_add(&mut self, user: &UserName, service: bool, who: &Who) -> Result<UserInfo>;
    /// Set (or, with `None`, clear) a user's password hash.
    fn user_password(
        &mut self,
        user: &UserName,
        hash: Option<&PasswordHash>,
        who: &Who,
    ) -> Result<UserInfo>;
    /// Revoke (or purge, with the user) every key of a user, in one transaction.
    fn user_remove(&mut self, user: &UserName, purge: bool, who: &Who) -> Result<UserRemoved>;
    /// What a password check needs about a user; `None` when there is no such user.
    fn account(&self, user: &UserName) -> Result<Option<Account>>;
    /// Each event the filter keeps, in log order.
    fn events(&self, filter: &EventFilter, f: &mut dyn FnMut(Event) -> Result<()>) -> Result<()>;
    /// The store's marker now, if it can be read cheaply.
    fn marker(&self) -> Option<Marker>;
    /// Read something, to tell whether the store can be read at all.
    fn ping(&self, clock: &Clock) -> Result<()>;
    /// Record that each key verified at its time, in one transaction, waiting only briefly
    /// for another writer's lock. A last use less than [`LAST_USED_INTERVAL`] older than
    /// the new one stays.
    fn record_uses(&self, uses: &[(KeyId, Timestamp)]) -> Result<()>;
}

/// An open key store.
pub struct Store {
    backend: Box<dyn Backend>,
    who: Who,
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
    pub fn open(location: impl Into<Location>) -> Result<Store> {
        Store::open_with(location, &Options::new(Access::Write))
    }

    /// Open a store, creating it when it does not exist (see [`Access::Create`]).
    pub fn open_or_create(location: impl Into<Location>) -> Result<Store> {
        Store::open_with(location, &Options::new(Access::Create))
    }

    /// Open a store with these options: a file (a path), or a PostgreSQL database (a
    /// [`Location::Postgres`], with the `postgres` feature; without it, such a location is
    /// refused).
    pub fn open_with(location: impl Into<Location>, options: &Options) -> Result<Store> {
        let location = location.into();
        let backend: Box<dyn Backend> = match &location {
            Location::File(path) => Box::new(sqlite::Sqlite::open(path, options)?),
            #[cfg(feature = "postgres")]
            Location::Postgres(url) => Box::new(postgres::Postgres::open(url, options)?),
            #[cfg(not(feature = "postgres"))]
            Location::Postgres(url) => {
                return Err(Error::Store(format!(
                    "{} is a PostgreSQL database, and this keyctl was built without PostgreSQL support: build it with `--features postgres`",
                    url.shown()
                )));
            }
        };
        Ok(Store {
            location: location.shown(),
            backend,
            who: Who::new(options.clock.clone(), options.actor.clone()),
        })
    }

    /// Name `actor` in the audit log for the changes made from now on.
    pub fn set_actor(&mut self, actor: Actor) {
        self.who.actor = std::cell::OnceCell::from(actor);
    }

    /// Where the store is, escaped for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The clock the store reads times from.
    pub fn clock(&self) -> &Clock {
        &self.who.clock
    }

    /// Create a key. Its token is returned once the key is committed.
    pub fn create_key(&mut self, new: &NewKey) -> Result<Issued> {
        let mut issued =
            self.backend
                .create_keys(std::slice::from_ref(new), Action::Create, &self.who)?;
        issued
            .pop()
            .ok_or_else(|| Error::Store("the new key vanished before commit".into()))
    }

    /// Create a key for a user who logged in over HTTP: as [`Store::create_key`], recorded
    /// in the audit log as a login.
    pub fn login_key(&mut self, new: &NewKey) -> Result<Issued> {
        let mut issued =
            self.backend
                .create_keys(std::slice::from_ref(new), Action::Login, &self.who)?;
        issued
            .pop()
            .ok_or_else(|| Error::Store("the new key vanished before commit".into()))
    }

    /// Create many keys in one transaction (imports, benchmarks): far faster than one
    /// [`Store::create_key`] each, since the commit (and its fsync) happens once. All or
    /// nothing: if any key is refused (a duplicate name, say), none is created.
    pub fn create_keys(&mut self, keys: &[NewKey]) -> Result<Vec<Issued>> {
        self.backend.create_keys(keys, Action::Create, &self.who)
    }

    /// One key by id or `USER/NAME`. A name resolves to the user's live key of that name,
    /// else to the most recently revoked one.
    pub fn key(&self, r: &KeyRef) -> Result<Key> {
        self.backend.key(r, &self.who.clock)
    }

    /// Take over a token another system issued, known by its SHA-256 `digest` (from
    /// [`AdoptedToken::digest`](crate::token::AdoptedToken::digest), or given by a system
    /// that kept only digests): a new key with a fresh id, as `new` says, whose secret is
    /// that token. It verifies like any key's; a [`Store::reset`] gives the key a keyctl
    /// token. A token already adopted by a key (live, revoked, or in a grace period) is
    /// refused: one token verifies for one key.
    pub fn adopt_key(&mut self, new: &NewKey, digest: &Digest) -> Result<Key> {
        let mut adopted = self
            .backend
            .adopt_keys(&[(new.clone(), digest.clone())], &self.who)?;
        adopted
            .pop()
            .ok_or_else(|| Error::Store("the adopted key vanished before commit".into()))
    }

    /// Adopt many tokens in one transaction, as [`Store::create_keys`] creates many keys:
    /// all or nothing.
    pub fn adopt_keys(&mut self, keys: &[(NewKey, Digest)]) -> Result<Vec<Key>> {
        self.backend.adopt_keys(keys, &self.who)
    }

    /// Every key the filter keeps, in creation order, with the digests verification needs,
    /// in one read: `start` first gets their number and the time of reading, then `f` each
    /// record. An error from either stops the walk and is returned.
    pub fn export(
        &self,
        filter: &ExportFilter,
        mut start: impl FnMut(u64, Timestamp) -> Result<()>,
        mut f: impl FnMut(KeyRecord) -> Result<()>,
    ) -> Result<()> {
        self.backend
            .export(filter, &self.who.clock, &mut start, &mut f)
    }

    /// Add exported keys with their ids, users, names, settings, times and digests, so
    /// that every token that verified in the store they came from verifies here with the
    /// same result. One transaction: when any record is [`Outcome::Refused`] (a clash
    /// within `records`, or one `on_conflict` does not resolve), nothing is imported and
    /// the report says why. A `dry_run` reports the same and changes nothing. Users are
    /// created as needed; secrets whose grace has ended are dropped.
    pub fn import(
        &mut self,
        records: &[KeyRecord],
        on_conflict: OnConflict,
        dry_run: bool,
    ) -> Result<ImportReport> {
        self.backend
            .import(records, on_conflict, dry_run, &self.who)
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
        self.backend.for_each_key(filter, &self.who.clock, &mut f)
    }

    /// Give a live key a new secret. Without `grace`, every earlier secret stops verifying
    /// at once; with it, the secret being replaced keeps verifying for `grace` (never past
    /// the key's own expiry), and any secret replaced earlier stops at once: at most one
    /// old token works at a time.
    pub fn reset(&mut self, r: &KeyRef, grace: Option<Duration>) -> Result<Rotated> {
        self.backend.reset(r, grace, &self.who)
    }

    /// Disable (reversibly) or enable a live key.
    pub fn set_disabled(&mut self, r: &KeyRef, disable: bool) -> Result<Updated> {
        self.backend
            .update(r, &Change::Disabled(disable), &self.who)
    }

    /// Set or clear a live key's expiry, counted from the time of the change.
    pub fn set_expiry(&mut self, r: &KeyRef, expiry: Expiry) -> Result<Key> {
        self.backend
            .update(r, &Change::Expiry(expiry), &self.who)
            .map(|u| u.key)
    }

    /// Replace a live key's path prefixes.
    pub fn set_paths(&mut self, r: &KeyRef, paths: &PathPrefixes) -> Result<Key> {
        self.backend
            .update(r, &Change::Paths(paths.clone()), &self.who)
            .map(|u| u.key)
    }

    /// Revoke a key: it stays listed (with `--all`) and verifies as `revoked`. Revoking a
    /// revoked key changes nothing.
    pub fn revoke(&mut self, r: &KeyRef) -> Result<Updated> {
        self.backend.update(r, &Change::Revoke, &self.who)
    }

    /// Remove a key entirely. Returns it as it was.
    pub fn purge(&mut self, r: &KeyRef) -> Result<Key> {
        self.backend.purge(r, &self.who)
    }

    /// Keys revoked or expired more than `older_than` ago: what [`Store::prune`] removes.
    pub fn prunable(&self, older_than: Duration) -> Result<Vec<Key>> {
        self.backend.prunable(older_than, &self.who.clock)
    }

    /// Remove those of `ids` that are still revoked or expired more than `older_than` ago
    /// (a key enabled or extended meanwhile stays). Returns the ids removed.
    pub fn prune(&mut self, ids: &[KeyId], older_than: Duration) -> Result<Vec<KeyId>> {
        self.backend.prune(ids, older_than, &self.who)
    }

    /// Take back a create or reset whose token could not be delivered: the created key is
    /// removed, or the reset key's previous secrets are restored. Refused, changing
    /// nothing, when the key was changed by someone else since.
    pub fn undo(&mut self, undo: &Undo) -> Result<()> {
        self.backend.undo(undo, &self.who)
    }

    /// Every user, in the order made, with counts of their keys by status.
    pub fn users(&self) -> Result<Vec<UserInfo>> {
        self.backend.users(&self.who.clock)
    }

    /// Add a user (`create` also adds one implicitly). A service user can never have a
    /// password. An existing user is refused.
    pub fn user_add(&mut self, user: &UserName, service: bool) -> Result<UserInfo> {
        self.backend.user_add(user, service, &self.who)
    }

    /// Set a user's password (kept only as an argon2id hash), or clear it with `None`. A
    /// password does not change the user's keys. Service users are refused.
    pub fn set_password(
        &mut self,
        user: &UserName,
        password: Option<&crate::users::Password>,
    ) -> Result<UserInfo> {
        let hash = password.map(PasswordHash::new).transpose()?;
        self.backend.user_password(user, hash.as_ref(), &self.who)
    }

    /// Revoke every key of `user` (or purge them, and the user, with `purge`), in one
    /// transaction: a verification sees all of them revoked or none. The user's password
    /// is cleared.
    pub fn user_remove(&mut self, user: &UserName, purge: bool) -> Result<UserRemoved> {
        self.backend.user_remove(user, purge, &self.who)
    }

    /// Whether `password` is `user`'s password. An unknown user, a service user, a removed
    /// user and a user without a password all fail, after the same work as a real check,
    /// so that the answer and its time say nothing about which users exist.
    pub fn check_password(&self, user: &UserName, password: &str) -> Result<bool> {
        let account = self.backend.account(user)?;
        let hash = account
            .as_ref()
            .filter(|a| !a.service && !a.removed)
            .and_then(|a| a.password.as_ref());
        Ok(crate::users::password_matches(password, hash))
    }

    /// Call `f` with each event of the audit log the filter keeps, in order.
    pub fn events(
        &self,
        filter: &EventFilter,
        mut f: impl FnMut(Event) -> Result<()>,
    ) -> Result<()> {
        self.backend.events(filter, &mut f)
    }

    /// Whether the store can be read now (for health checks).
    pub fn ping(&self) -> Result<()> {
        self.backend.ping(&self.who.clock)
    }

    pub(crate) fn lookup(
        &self,
        id: &str,
        marker: bool,
    ) -> Result<Option<(StoredKey, Option<Marker>)>> {
        self.backend.lookup(id, marker)
    }

    pub(crate) fn lookup_adopted(&self, digest: &Digest, marker: bool) -> Result<AdoptedLookup> {
        self.backend.lookup_adopted(digest, marker)
    }

    pub(crate) fn marker(&self) -> Option<Marker> {
        self.backend.marker()
    }

    /// Record a key's use now, unless its last use is recent (best effort: a store that
    /// cannot be written, or is busy, keeps the old time).
    pub(crate) fn record_use(&self, id: &KeyId, last_used: Option<Timestamp>, now: Timestamp) {
        if !last_used.is_some_and(|t| recent(t, now)) {
            let _ = self.backend.record_uses(&[(id.clone(), now)]);
        }
    }
}

/// A wait, as messages give it: `5 s`, `200 ms`.
pub(crate) fn seconds(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

/// Whether a last use at `t` is recent enough, at `now`, not to be written again.
pub(crate) fn recent(t: Timestamp, now: Timestamp) -> bool {
    now.0.saturating_sub(t.0) < LAST_USED_INTERVAL
}

/// Last uses noted by verifiers that share this, waiting to be written together.
///
/// A verifier made with [`Verifier::sharing_uses`](crate::verify::Verifier::sharing_uses)
/// notes each key's use here instead of writing it, and answers at once; whoever owns
/// this calls [`LastUses::write`] now and then (`keyctl serve`: every second) to record
/// every use noted since in one transaction. A server verifying thousands of keys a
/// minute then makes one small write a second, instead of one write per key, each of
/// which would also make every verifier forget what it remembers.
#[derive(Debug, Default)]
pub struct LastUses {
    inner: std::sync::Mutex<NotedUses>,
}

#[derive(Debug, Default)]
struct NotedUses {
    /// Uses to write, the latest of each key.
    pending: std::collections::HashMap<KeyId, Timestamp>,
    /// Uses written lately: a verifier that remembers a key still holds its old last use.
    written: std::collections::HashMap<KeyId, Timestamp>,
}

impl LastUses {
    /// Nothing noted yet.
    pub fn new() -> LastUses {
        LastUses::default()
    }

    fn noted(&self) -> std::sync::MutexGuard<'_, NotedUses> {
        // The maps stay consistent whatever a panicking holder did.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Note that key `id`, last used at `last_used`, verified at `now`.
    pub(crate) fn note(&self, id: &KeyId, last_used: Option<Timestamp>, now: Timestamp) {
        if last_used.is_some_and(|t| recent(t, now)) {
            return;
        }
        let mut noted = self.noted();
        if noted.pending.contains_key(id) || noted.written.get(id).is_some_and(|t| recent(*t, now))
        {
            return;
        }
        noted.pending.insert(id.clone(), now);
    }

    /// How many uses wait to be written.
    pub fn pending(&self) -> usize {
        self.noted().pending.len()
    }

    /// Write every use noted so far to `store`, in one transaction, and return how many.
    /// When the store cannot take them (busy, read-only, unreachable), they stay noted for
    /// the next call and the error is returned.
    pub fn write(&self, store: &Store) -> Result<usize> {
        let uses: Vec<(KeyId, Timestamp)> = std::mem::take(&mut self.noted().pending)
            .into_iter()
            .collect();
        let Some(latest) = uses.iter().map(|(_, t)| *t).max() else {
            return Ok(0);
        };
        let written = store.backend.record_uses(&uses);
        let mut noted = self.noted();
        match written {
            Ok(()) => {
                noted.written.retain(|_, t| recent(*t, latest));
                noted.written.extend(uses.iter().cloned());
                Ok(uses.len())
            }
            Err(e) => {
                for (id, t) in uses {
                    noted.pending.entry(id).or_insert(t);
                }
                Err(e)
            }
        }
    }
}
