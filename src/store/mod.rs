//! The key store: one SQLite file in rollback-journal mode. All SQL lives under this module.
//!
//! Every write runs in a `BEGIN IMMEDIATE` transaction with a busy timeout, so concurrent
//! keyctl processes queue instead of failing, and a token is returned to the caller only
//! after the transaction holding its digest has committed (synchronous=FULL).

mod cache;
mod header;
pub mod schema;

use std::cell::RefCell;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior,
    params,
};

pub(crate) use cache::StoredKey;

use crate::error::{Error, Result};
use crate::key::{Key, KeyRef, Status};
use crate::time::Timestamp;
use crate::token;

/// How long a command waits for another process's lock before giving up (exit 4).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

const KEY_COLUMNS: &str = "k.id, u.name, k.name, k.description, k.prefix, k.paths,
                           k.created, k.updated, k.expires, k.deleted, k.disabled, k.last_used,
                           (SELECT group_concat(until) FROM superseded s WHERE s.key_seq = k.seq)";

/// Verification records a key's last use at most this often, so that a busy verifier does
/// not turn every read into a write.
pub const LAST_USED_INTERVAL: i64 = 60;

/// What `create` needs to make a key.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Owner; created if new.
    pub user: String,
    /// Optional name, unique among the user's live keys.
    pub name: Option<String>,
    /// Optional free text.
    pub description: Option<String>,
    /// Token prefix.
    pub prefix: String,
    /// Validated path prefixes.
    pub paths: Vec<String>,
    /// Expiry time, if any.
    pub expires: Option<Timestamp>,
}

/// Which keys `list` returns; the conditions combine.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this user's keys (the user must exist).
    pub user: Option<String>,
    /// Include revoked keys.
    pub all: bool,
    /// Only keys with one of these statuses (naming `Revoked` includes revoked keys).
    pub statuses: Vec<Status>,
    /// Only active keys that expire within this many seconds from now.
    pub expiring_within: Option<i64>,
    /// Only keys never used, or last used more than this many seconds ago.
    pub unused_since: Option<i64>,
}

impl ListFilter {
    fn keeps(&self, k: &Key, now: Timestamp) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&k.status))
            && self.expiring_within.is_none_or(|w| {
                k.status == Status::Active && k.expires.is_some_and(|e| e.0 - now.0 <= w)
            })
            && self
                .unused_since
                .is_none_or(|d| k.last_used.is_none_or(|u| u.0 < now.0 - d))
    }
}

/// An open key store.
///
/// A store remembers the keys it has verified, so that a long-running verifier does not
/// open a read transaction for every request; it checks instead, on every call, that the
/// store file's header has not changed since the key was read. Answers are the same as
/// without it, revocations included (see [`Store::set_verify_cache`]).
pub struct Store {
    conn: Connection,
    path: PathBuf,
    cache: RefCell<cache::Cache>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Open an existing store, for writing when the file allows it, else read-only.
    pub fn open(path: &Path) -> Result<Store> {
        Self::open_inner(path, false)
    }

    /// Open a store, creating it (and missing parent directories, mode 0700; the file,
    /// mode 0600) when it does not exist.
    pub fn open_or_create(path: &Path) -> Result<Store> {
        Self::open_inner(path, true)
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_inner(path: &Path, may_create: bool) -> Result<Store> {
        let shown = path.display();
        match fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                return Err(Error::Store(format!(
                    "{shown} is a directory, not a key store"
                )));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !may_create {
                    return Err(Error::Store(format!(
                        "no key store at {shown} (`keyctl create` makes one)"
                    )));
                }
                create_file(path)?;
            }
            Err(e) => return Err(Error::Store(format!("cannot read store {shown}: {e}"))),
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(|e| sql_err(path, e))?;
        // Opening reads nothing SQLite would act on; the first query does. Before it, a
        // foreign file is refused untouched, and a store already at this build's version
        // skips the schema query below.
        let current = check_header(&conn, path)?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| sql_err(path, e))?;
        let store = |conn| Store {
            conn,
            path: path.to_owned(),
            cache: RefCell::new(cache::Cache::new(cache::DEFAULT_CAPACITY)),
        };
        if current {
            return Ok(store(conn));
        }
        let state = match schema::state(&conn).map_err(|e| sql_err(path, e))? {
            schema::State::Store(v) if v >= schema::latest() => schema::State::Store(v),
            schema::State::Foreign => schema::State::Foreign,
            schema::State::Store(v) => {
                schema::migrate(&mut conn).map_err(|e| match e.sqlite_error_code() {
                    // Every command, reads included, needs the current schema.
                    Some(ErrorCode::ReadOnly) => Error::Store(format!(
                        "store {shown} has schema version {v}, older than this keyctl's ({}), and upgrading it needs write access: run any keyctl command on it once as a user who can write the file and its directory",
                        schema::latest()
                    )),
                    _ => sql_err(path, e),
                })?
            }
            schema::State::Empty => schema::migrate(&mut conn).map_err(|e| sql_err(path, e))?,
        };
        match state {
            schema::State::Store(v) if v > schema::latest() => Err(Error::Store(format!(
                "store {shown} has schema version {v}, newer than this keyctl knows ({}); upgrade keyctl",
                schema::latest()
            ))),
            schema::State::Store(_) => Ok(store(conn)),
            _ => Err(not_a_store(path)),
        }
    }

    /// Set how many keys this store remembers between verifications (default 16,384;
    /// 0 turns remembering off). A remembered key is answered from memory only while the
    /// store file's header is byte-for-byte what it was when the key was read: any commit
    /// by any process changes it, so a revocation, reset or other change takes effect at
    /// once, as without remembering. Stores in WAL mode are never remembered.
    pub fn set_verify_cache(&mut self, entries: usize) {
        self.cache.get_mut().set_capacity(entries);
    }

    /// Run `f` in an immediate transaction and commit it.
    fn write<T>(&mut self, f: impl FnOnce(&Transaction, &Path) -> Result<T>) -> Result<T> {
        let path = &self.path;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_err(path, e))?;
        let out = f(&tx, path)?;
        tx.commit().map_err(|e| sql_err(path, e))?;
        Ok(out)
    }

    /// Create a key. Returns it with its token; the token's digest is committed by then.
    pub fn create_key(&mut self, new: &NewKey, now: Timestamp) -> Result<(Key, String)> {
        self.write(|tx, path| insert_key(tx, path, new, now))
    }

    /// Create many keys in one transaction (imports, benchmarks): far faster than one
    /// [`Store::create_key`] each, since the commit (and its fsync) happens once. All or
    /// nothing: if any key is refused (e.g. a duplicate name), none is created. Returns the
    /// keys with their tokens, in the order given, once the transaction has committed.
    pub fn create_keys(&mut self, keys: &[NewKey], now: Timestamp) -> Result<Vec<(Key, String)>> {
        self.write(|tx, path| {
            keys.iter()
                .map(|new| insert_key(tx, path, new, now))
                .collect()
        })
    }

    /// One key by id or `USER/NAME`. A name resolves to the user's live key of that name,
    /// else to the most recently revoked one.
    pub fn key(&self, r: &KeyRef, now: Timestamp) -> Result<Key> {
        find(&self.conn, r, now)
            .map_err(|e| sql_err(&self.path, e))?
            .ok_or_else(|| not_found(r))
    }

    /// Keys in creation order.
    pub fn list(&self, filter: &ListFilter, now: Timestamp) -> Result<Vec<Key>> {
        let mut keys = Vec::new();
        self.for_each_key(filter, now, |key| {
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
        now: Timestamp,
        mut f: impl FnMut(Key) -> Result<()>,
    ) -> Result<()> {
        let e = |e| sql_err(&self.path, e);
        if let Some(user) = &filter.user {
            let known: Option<i64> = self
                .conn
                .query_row("SELECT id FROM users WHERE name = ?1", [user], |r| r.get(0))
                .optional()
                .map_err(e)?;
            if known.is_none() {
                return Err(Error::NotFound(format!("no user {user}")));
            }
        }
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM keys k JOIN users u ON u.id = k.user_id
             WHERE (?1 IS NULL OR u.name = ?1) AND (?2 OR k.deleted IS NULL)
             ORDER BY k.seq"
        );
        let with_revoked = filter.all || filter.statuses.contains(&Status::Revoked);
        let mut stmt = self.conn.prepare(&sql).map_err(e)?;
        let mut rows = stmt.query(params![filter.user, with_revoked]).map_err(e)?;
        while let Some(row) = rows.next().map_err(e)? {
            let key = key_from_row(row, now).map_err(e)?;
            if filter.keeps(&key, now) {
                f(key)?;
            }
        }
        Ok(())
    }

    /// Give a live key a new secret. Without `grace`, every earlier secret stops verifying
    /// at once; with it, the secret being replaced keeps verifying for `grace` seconds (never
    /// past the key's own expiry), and secrets superseded earlier keep their own grace.
    /// Returns the key, the new token, and when the replaced secret stops verifying (`None`:
    /// at once).
    pub fn reset(
        &mut self,
        r: &KeyRef,
        grace: Option<i64>,
        now: Timestamp,
    ) -> Result<(Key, String, Option<Timestamp>)> {
        self.write(|tx, path| {
            let e = |e| sql_err(path, e);
            let key = live(tx, path, r, now)?;
            let (token, digest) =
                token::generate(&key.prefix, &key.id).map_err(|e| Error::Store(e.to_string()))?;
            let until = grace
                .and_then(|g| now.plus(g))
                .map(|u| key.expires.map_or(u, |x| u.min(x)))
                .filter(|u| *u > now);
            // Superseded secrets past their grace are dead weight; without a grace, all go.
            tx.execute(
                "DELETE FROM superseded
                 WHERE key_seq = (SELECT seq FROM keys WHERE id = ?1) AND (?2 OR until <= ?3)",
                params![key.id, until.is_none(), now.0],
            )
            .map_err(e)?;
            if let Some(until) = until {
                tx.execute(
                    "INSERT INTO superseded(key_seq, digest, until)
                     SELECT seq, digest, ?2 FROM keys WHERE id = ?1",
                    params![key.id, until.0],
                )
                .map_err(e)?;
            }
            tx.execute(
                "UPDATE keys SET digest = ?2, updated = ?3 WHERE id = ?1",
                params![key.id, digest.0.as_slice(), now.0],
            )
            .map_err(e)?;
            Ok((reread(tx, path, &key.id, now)?, token, until))
        })
    }

    /// Disable (reversibly) or enable a live key. Returns the key and whether it changed.
    pub fn set_disabled(
        &mut self,
        r: &KeyRef,
        disable: bool,
        now: Timestamp,
    ) -> Result<(Key, bool)> {
        self.write(|tx, path| {
            let key = live(tx, path, r, now)?;
            if key.disabled.is_some() == disable {
                return Ok((key, false));
            }
            tx.execute(
                "UPDATE keys SET disabled = ?2, updated = ?3 WHERE id = ?1",
                params![key.id, disable.then_some(now.0), now.0],
            )
            .map_err(|e| sql_err(path, e))?;
            Ok((reread(tx, path, &key.id, now)?, true))
        })
    }

    /// Set or clear a live key's expiry.
    pub fn set_expiry(
        &mut self,
        r: &KeyRef,
        expires: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Key> {
        self.update(r, now, "expires = ?2", expires.map(|t| t.0))
    }

    /// Replace a live key's path prefixes (already validated).
    pub fn set_paths(&mut self, r: &KeyRef, paths: &[String], now: Timestamp) -> Result<Key> {
        self.update(r, now, "paths = ?2", join_paths(paths))
    }

    fn update(
        &mut self,
        r: &KeyRef,
        now: Timestamp,
        set: &str,
        value: impl rusqlite::ToSql,
    ) -> Result<Key> {
        self.write(|tx, path| {
            let key = live(tx, path, r, now)?;
            tx.execute(
                &format!("UPDATE keys SET {set}, updated = ?3 WHERE id = ?1"),
                params![key.id, value, now.0],
            )
            .map_err(|e| sql_err(path, e))?;
            reread(tx, path, &key.id, now)
        })
    }

    /// Revoke a key: it stays listed (with `--all`) and verifies as `revoked`.
    /// Revoking a revoked key changes nothing and returns it.
    pub fn revoke(&mut self, r: &KeyRef, now: Timestamp) -> Result<Key> {
        self.write(|tx, path| {
            let key = find(tx, r, now)
                .map_err(|e| sql_err(path, e))?
                .ok_or_else(|| not_found(r))?;
            if key.deleted.is_some() {
                return Ok(key);
            }
            tx.execute(
                "UPDATE keys SET deleted = ?2, updated = ?2 WHERE id = ?1",
                params![key.id, now.0],
            )
            .map_err(|e| sql_err(path, e))?;
            reread(tx, path, &key.id, now)
        })
    }

    /// Remove a key entirely. Returns it as it was.
    pub fn purge(&mut self, r: &KeyRef, now: Timestamp) -> Result<Key> {
        self.write(|tx, path| {
            let key = find(tx, r, now)
                .map_err(|e| sql_err(path, e))?
                .ok_or_else(|| not_found(r))?;
            delete_keys(tx, "k.id = ?1", params![key.id]).map_err(|e| sql_err(path, e))?;
            Ok(key)
        })
    }

    /// Keys revoked or expired before `cutoff`: what [`Store::prune`] would remove.
    pub fn prunable(&self, cutoff: Timestamp, now: Timestamp) -> Result<Vec<Key>> {
        let e = |e| sql_err(&self.path, e);
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {KEY_COLUMNS} FROM keys k JOIN users u ON u.id = k.user_id
                 WHERE {PRUNABLE} ORDER BY k.seq"
            ))
            .map_err(e)?;
        let keys = stmt
            .query_map([cutoff.0], |r| key_from_row(r, now))
            .map_err(e)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(e)?;
        Ok(keys)
    }

    /// Remove every key revoked or expired before `cutoff`; returns their ids.
    pub fn prune(&mut self, cutoff: Timestamp) -> Result<Vec<String>> {
        self.write(|tx, path| delete_keys(tx, PRUNABLE, [cutoff.0]).map_err(|e| sql_err(path, e)))
    }

    /// Remove those of the keys with these ids that are still revoked or expired before
    /// `cutoff`; returns their ids. For a caller that showed [`Store::prunable`] to someone
    /// and was told to go ahead: a key that became prunable since is not removed unseen, and
    /// one that was given a new expiry since is kept.
    pub fn prune_keys(&mut self, cutoff: Timestamp, ids: &[String]) -> Result<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = serde_json::to_string(ids).map_err(|e| Error::Invalid(e.to_string()))?;
        self.write(|tx, path| {
            delete_keys(
                tx,
                &format!("({PRUNABLE}) AND k.id IN (SELECT value FROM json_each(?2))"),
                params![cutoff.0, ids],
            )
            .map_err(|e| sql_err(path, e))
        })
    }

    /// Record a successful use, at most once per [`LAST_USED_INTERVAL`]. Best effort: on a
    /// read-only or busy store the verdict stands and the record is skipped.
    pub(crate) fn touch(&self, id: &str, last_used: Option<Timestamp>, now: Timestamp) {
        if last_used.is_some_and(|t| now.0 - t.0 < LAST_USED_INTERVAL) {
            return;
        }
        // A verifier must not wait seconds for another writer just to note a use.
        let _ = self.conn.busy_timeout(TOUCH_TIMEOUT);
        let _ = self.conn.execute(
            "UPDATE keys SET last_used = ?2 WHERE id = ?1 AND (last_used IS NULL OR last_used <= ?3)",
            params![id, now.0, now.0 - LAST_USED_INTERVAL],
        );
        let _ = self.conn.busy_timeout(BUSY_TIMEOUT);
    }

    /// What verification needs to know about the key with this id: from the cache when the
    /// store is unchanged since the key was read (`cache.rs` says why that is safe), else
    /// from one read transaction, whose header is then remembered with it.
    pub(crate) fn stored_key(&self, id: &str) -> Result<Option<Arc<StoredKey>>> {
        let cached = self
            .cache
            .borrow()
            .get(id, || header::read(&self.conn).ok());
        if cached.is_some() {
            return Ok(cached);
        }
        let e = |e| sql_err(&self.path, e);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT k.id, u.name, k.name, k.paths, k.expires, k.deleted, k.disabled,
                        k.last_used, k.digest,
                        EXISTS (SELECT 1 FROM superseded s WHERE s.key_seq = k.seq), k.seq
                 FROM keys k JOIN users u ON u.id = k.user_id WHERE k.id = ?1",
            )
            .map_err(e)?;
        let mut rows = stmt.query([id]).map_err(e)?;
        let Some(row) = rows.next().map_err(e)? else {
            return Ok(None);
        };
        // While `rows` is open, the statement holds its read transaction: the earlier
        // secrets and the header below are from the same state of the store as the row.
        let earlier = if row.get(9).map_err(e)? {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT digest, until FROM superseded WHERE key_seq = ?1")
                .map_err(e)?;
            stmt.query_map([row.get::<_, i64>(10).map_err(e)?], |r| {
                Ok((r.get(0)?, Timestamp(r.get(1)?)))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(e)?
        } else {
            Vec::new()
        };
        let paths: Option<String> = row.get(3).map_err(e)?;
        let time = |i: usize| row.get::<_, Option<i64>>(i).map(|t| t.map(Timestamp));
        let key = Arc::new(StoredKey {
            id: row.get(0).map_err(e)?,
            user: row.get(1).map_err(e)?,
            name: row.get(2).map_err(e)?,
            paths: split_paths(paths),
            expires: time(4).map_err(e)?,
            deleted: time(5).map_err(e)?,
            disabled: time(6).map_err(e)?,
            last_used: time(7).map_err(e)?,
            digest: row.get(8).map_err(e)?,
            earlier,
        });
        self.cache
            .borrow_mut()
            .insert(Arc::clone(&key), || header::read(&self.conn).ok());
        Ok(Some(key))
    }
}

/// Find a key (live or revoked) inside or outside a transaction.
fn find(conn: &Connection, r: &KeyRef, now: Timestamp) -> rusqlite::Result<Option<Key>> {
    let base = format!("SELECT {KEY_COLUMNS} FROM keys k JOIN users u ON u.id = k.user_id");
    match r {
        KeyRef::Id(id) => conn
            .prepare_cached(&format!("{base} WHERE k.id = ?1"))?
            .query_row([id], |row| key_from_row(row, now))
            .optional(),
        KeyRef::Named { user, name } => conn
            .query_row(
                &format!(
                    "{base} WHERE u.name = ?1 AND k.name = ?2
                     ORDER BY k.deleted IS NOT NULL, k.seq DESC LIMIT 1"
                ),
                [user, name],
                |row| key_from_row(row, now),
            )
            .optional(),
    }
}

/// Insert one key inside a write transaction: the user (created if new), the live-name
/// check, and the key with a fresh id and secret. Statements are cached, so a bulk insert
/// parses each of them once.
fn insert_key(
    tx: &Transaction,
    path: &Path,
    new: &NewKey,
    now: Timestamp,
) -> Result<(Key, String)> {
    let e = |e| sql_err(path, e);
    tx.prepare_cached(
        "INSERT INTO users(name, created) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
    )
    .and_then(|mut s| s.execute(params![new.user, now.0]))
    .map_err(e)?;
    let uid: i64 = tx
        .prepare_cached("SELECT id FROM users WHERE name = ?1")
        .and_then(|mut s| s.query_row([&new.user], |r| r.get(0)))
        .map_err(e)?;
    if let Some(name) = &new.name {
        let existing: Option<String> = tx
            .prepare_cached(
                "SELECT id FROM keys WHERE user_id = ?1 AND name = ?2 AND deleted IS NULL",
            )
            .and_then(|mut s| s.query_row(params![uid, name], |r| r.get(0)).optional())
            .map_err(e)?;
        if let Some(id) = existing {
            return Err(Error::Invalid(format!(
                "user {} already has a key named {name} ({id}); choose another --name or delete that key",
                new.user
            )));
        }
    }
    let paths = join_paths(&new.paths);
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO keys(id, user_id, name, description, prefix, digest, paths,
                              created, updated, expires)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)
             ON CONFLICT(id) DO NOTHING",
        )
        .map_err(e)?;
    loop {
        let id = token::new_id().map_err(|e| Error::Store(e.to_string()))?;
        let (token, digest) =
            token::generate(&new.prefix, &id).map_err(|e| Error::Store(e.to_string()))?;
        let inserted = insert
            .execute(params![
                id,
                uid,
                new.name,
                new.description,
                new.prefix,
                digest.0.as_slice(),
                paths,
                now.0,
                new.expires.map(|t| t.0)
            ])
            .map_err(e)?;
        // A clash of two random 95-bit ids is practically impossible; retry if it happens.
        if inserted == 1 {
            let key = find(tx, &KeyRef::Id(id), now)
                .map_err(e)?
                .ok_or_else(|| Error::Store("the new key vanished before commit".into()))?;
            return Ok((key, token));
        }
    }
}

/// A key that exists and is not revoked (management commands refuse revoked keys: exit 3).
fn live(tx: &Transaction, path: &Path, r: &KeyRef, now: Timestamp) -> Result<Key> {
    let key = find(tx, r, now)
        .map_err(|e| sql_err(path, e))?
        .ok_or_else(|| not_found(r))?;
    if key.deleted.is_some() {
        return Err(Error::NotFound(format!(
            "key {} is revoked; a revoked key cannot be changed (create a new one)",
            key.label()
        )));
    }
    Ok(key)
}

fn reread(tx: &Transaction, path: &Path, id: &str, now: Timestamp) -> Result<Key> {
    find(tx, &KeyRef::Id(id.to_owned()), now)
        .map_err(|e| sql_err(path, e))?
        .ok_or_else(|| Error::Store(format!("key {id} vanished during the update")))
}

/// Condition for keys that `prune` removes, with the cutoff as `?1`.
const PRUNABLE: &str = "(k.deleted IS NOT NULL AND k.deleted < ?1)
                        OR (k.deleted IS NULL AND k.expires IS NOT NULL AND k.expires < ?1)";

const TOUCH_TIMEOUT: Duration = Duration::from_millis(200);

/// Delete the keys matching `condition` (on alias `k`) and their superseded secrets.
fn delete_keys(
    tx: &Transaction,
    condition: &str,
    args: impl rusqlite::Params + Clone,
) -> rusqlite::Result<Vec<String>> {
    let ids = tx
        .prepare(&format!("SELECT k.id FROM keys k WHERE {condition}"))?
        .query_map(args.clone(), |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    tx.execute(
        &format!(
            "DELETE FROM superseded WHERE key_seq IN (SELECT k.seq FROM keys k WHERE {condition})"
        ),
        args.clone(),
    )?;
    tx.execute(&format!("DELETE FROM keys AS k WHERE {condition}"), args)?;
    Ok(ids)
}

fn key_from_row(r: &Row, now: Timestamp) -> rusqlite::Result<Key> {
    let expires = r.get::<_, Option<i64>>(8)?.map(Timestamp);
    let deleted = r.get::<_, Option<i64>>(9)?.map(Timestamp);
    let disabled = r.get::<_, Option<i64>>(10)?.map(Timestamp);
    let paths: Option<String> = r.get(5)?;
    let superseded: Option<String> = r.get(12)?;
    let mut superseded: Vec<Timestamp> = superseded
        .iter()
        .flat_map(|s| s.split(','))
        .filter_map(|t| t.parse().ok().map(Timestamp))
        .filter(|t| *t > now)
        .collect();
    superseded.sort();
    Ok(Key {
        id: r.get(0)?,
        user: r.get(1)?,
        name: r.get(2)?,
        description: r.get(3)?,
        prefix: r.get(4)?,
        paths: split_paths(paths),
        created: Timestamp(r.get(6)?),
        updated: Timestamp(r.get(7)?),
        expires,
        deleted,
        disabled,
        last_used: r.get::<_, Option<i64>>(11)?.map(Timestamp),
        superseded,
        status: Key::status_at(expires, deleted, disabled, now),
    })
}

/// Prefixes never contain whitespace, so a newline separates them.
fn join_paths(paths: &[String]) -> Option<String> {
    (!paths.is_empty()).then(|| paths.join("\n"))
}

fn split_paths(joined: Option<String>) -> Vec<String> {
    joined
        .map(|p| p.split('\n').map(str::to_owned).collect())
        .unwrap_or_default()
}

fn not_found(r: &KeyRef) -> Error {
    Error::NotFound(format!("no key {r}"))
}

fn not_a_store(path: &Path) -> Error {
    Error::Store(format!(
        "{} is not a keyctl store; it was left untouched",
        path.display()
    ))
}

/// Refuse anything that is neither empty nor an SQLite database, before SQLite reads it.
/// Returns true when the file header says it is a keyctl store at this build's schema
/// version and no journal or WAL file could hold a newer header: the answer the schema
/// query would give, without the query (it is most of the cost of opening a store).
///
/// Reading the header unlocked is safe because only this exact answer is trusted. The
/// application id and version only move forward, through a migration; a header torn by a
/// concurrent write, or anything else, takes the locked path through [`schema::state`].
fn check_header(conn: &Connection, path: &Path) -> Result<bool> {
    let head = header::read(conn)
        .map_err(|e| Error::Store(format!("cannot read store {}: {e}", path.display())))?;
    let head = head.bytes();
    if head.is_empty() {
        return Ok(false);
    }
    if !head.starts_with(SQLITE_HEADER) {
        return Err(not_a_store(path));
    }
    let field = |at: usize| {
        head.get(at..at + 4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    // Offsets from the SQLite file format: user_version at 60, application_id at 68.
    let current = field(60).map(i64::from) == Some(schema::latest())
        && field(68) == Some(schema::APPLICATION_ID)
        && !sidecar(path, "-journal").exists()
        && !sidecar(path, "-wal").exists();
    Ok(current)
}

/// The path of the store's journal or WAL file.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Create the store file (0600) and any missing parent directories (0700), whatever the umask.
fn create_file(path: &Path) -> Result<()> {
    let shown = path.display();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let missing: Vec<&Path> = parent.ancestors().take_while(|p| !p.exists()).collect();
        for dir in missing.into_iter().rev() {
            match fs::DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(0o700)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(e),
            }
            .map_err(|e| Error::Store(format!("cannot create directory {}: {e}", dir.display())))?;
        }
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => file
            .set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::Store(format!("cannot set permissions of {shown}: {e}"))),
        // Another keyctl created it a moment ago; opening it below is safe.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::Store(format!("cannot create store {shown}: {e}"))),
    }
}

/// Turn an SQLite error into a message that says what to do, with exit code 4.
fn sql_err(path: &Path, e: rusqlite::Error) -> Error {
    let p = path.display();
    let secs = BUSY_TIMEOUT.as_secs();
    let extended = match &e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.extended_code),
        _ => None,
    };
    let full = || {
        format!(
            "cannot write store {p}: the disk is full or a file size limit was reached; nothing was changed"
        )
    };
    Error::Store(match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => format!(
            "store {p} is busy: another process held it locked for more than {secs} s; nothing was changed, try again"
        ),
        Some(ErrorCode::ReadOnly) => format!(
            "store {p} is read-only: this command needs write access to the file and its directory"
        ),
        Some(ErrorCode::CannotOpen) => format!(
            "cannot open store {p} ({e}): check that the file and its directory exist and are writable"
        ),
        Some(ErrorCode::NotADatabase) => {
            format!("{p} is not a keyctl store; it was left untouched")
        }
        // A write past RLIMIT_FSIZE fails with EFBIG, which SQLite reports as IOERR_WRITE;
        // either way the transaction was rolled back.
        Some(ErrorCode::DiskFull) => full(),
        Some(ErrorCode::SystemIoFailure) if extended == Some(rusqlite::ffi::SQLITE_IOERR_WRITE) => {
            full()
        }
        _ => format!("store {p}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::{Credential, Source};

    fn new_key(user: &str, name: Option<&str>) -> NewKey {
        NewKey {
            user: user.into(),
            name: name.map(Into::into),
            description: None,
            prefix: "kc".into(),
            paths: vec!["/api".into()],
            expires: None,
        }
    }

    #[test]
    fn create_keys_inserts_a_batch_whose_tokens_verify() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_or_create(&dir.path().join("keys.db")).unwrap();
        let now = Timestamp(1_800_000_000);
        let batch: Vec<NewKey> = (0..50)
            .map(|i| new_key(&format!("svc{}", i % 3), Some(&format!("k{i}"))))
            .collect();
        let created = store.create_keys(&batch, now).unwrap();
        assert_eq!(created.len(), 50);
        for ((key, _), new) in created.iter().zip(&batch) {
            assert_eq!((&key.user, &key.name), (&new.user, &new.name));
            assert_eq!(key.paths, new.paths);
            assert_eq!(key.created, now);
        }
        let listed = store.list(&ListFilter::default(), now).unwrap();
        let ids: Vec<&str> = listed.iter().map(|k| k.id.as_str()).collect();
        let created_ids: Vec<&str> = created.iter().map(|(k, _)| k.id.as_str()).collect();
        assert_eq!(ids, created_ids, "listed in creation order, none missing");
        for (key, token) in &created {
            let verdict = store
                .verify_at(&Credential::new(token.clone(), Source::Argument), None, now)
                .unwrap();
            assert!(verdict.valid, "{verdict:?}");
            assert_eq!(verdict.id.as_deref(), Some(key.id.as_str()));
        }
        assert!(store.create_keys(&[], now).unwrap().is_empty());
    }

    #[test]
    fn create_keys_is_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_or_create(&dir.path().join("keys.db")).unwrap();
        let now = Timestamp(1_800_000_000);
        let batch = [
            new_key("svc", Some("a")),
            new_key("other", None),
            new_key("svc", Some("a")),
        ];
        let err = store.create_keys(&batch, now).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err}");
        let all = ListFilter {
            all: true,
            ..ListFilter::default()
        };
        assert!(store.list(&all, now).unwrap().is_empty());
        // The refused batch left nothing behind: the same name is free.
        store.create_keys(&batch[..2], now).unwrap();
        assert_eq!(store.list(&all, now).unwrap().len(), 2);
    }

    #[test]
    fn prune_keys_removes_only_listed_keys_still_prunable() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_or_create(&dir.path().join("keys.db")).unwrap();
        let now = Timestamp(1_800_000_000);
        let cutoff = Timestamp(now.0 - 1000);
        let batch = [
            new_key("svc", Some("revoked")),
            new_key("svc", Some("expired")),
            new_key("svc", Some("later")),
            new_key("svc", Some("live")),
        ];
        let ids: Vec<KeyRef> = store
            .create_keys(&batch, Timestamp(now.0 - 9000))
            .unwrap()
            .into_iter()
            .map(|(k, _)| KeyRef::Id(k.id))
            .collect();
        store.revoke(&ids[0], Timestamp(now.0 - 5000)).unwrap();
        store
            .set_expiry(&ids[1], Some(Timestamp(now.0 - 3000)), now)
            .unwrap();
        let shown: Vec<String> = store
            .prunable(cutoff, now)
            .unwrap()
            .into_iter()
            .map(|k| k.id)
            .collect();
        assert_eq!(shown.len(), 2);

        // After the list was shown: another key becomes prunable, a listed one gets a new
        // expiry.
        store.revoke(&ids[2], Timestamp(now.0 - 4000)).unwrap();
        store.set_expiry(&ids[1], None, now).unwrap();
        assert_eq!(
            store.prune_keys(cutoff, &shown).unwrap(),
            [shown[0].clone()]
        );
        let left: Vec<String> = store
            .list(
                &ListFilter {
                    all: true,
                    ..ListFilter::default()
                },
                now,
            )
            .unwrap()
            .into_iter()
            .map(|k| k.id)
            .collect();
        let id = |r: &KeyRef| r.to_string();
        assert_eq!(left, [id(&ids[1]), id(&ids[2]), id(&ids[3])]);
        assert!(store.prune_keys(cutoff, &[]).unwrap().is_empty());
        assert!(store.prune_keys(cutoff, &shown).unwrap().is_empty());
    }
}
