//! The store as one SQLite file in rollback-journal mode (its schema is public, for tools
//! that check a file).
//!
//! Every write runs in a `BEGIN IMMEDIATE` transaction with a busy timeout, so concurrent
//! keyctl processes queue instead of failing, and a token is returned to the caller only
//! after the transaction holding its digest has committed (synchronous=FULL).

mod file;
pub(crate) mod header;
pub mod schema;

use std::path::Path;
use std::time::Duration as StdDuration;

use rusqlite::types::FromSql;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use self::file::Site;
use crate::error::{Error, Invalid, Result};
use crate::key::{Key, KeyRef};
use crate::names::{KeyId, TokenPrefix};
use crate::paths::{PathPrefix, PathPrefixes};
use crate::store::{
    Backend, Change, Issued, LAST_USED_INTERVAL, ListFilter, Marker, NewKey, Options, Rotated,
    StoredKey, Undo, UndoKind, Updated,
};
use crate::time::{Clock, Duration, MAX_TIMESTAMP, Timestamp};
use crate::token;

const KEY_COLUMNS: &str = "k.id, u.name, k.name, k.description, k.prefix, k.paths,
                           k.created, k.updated, k.expires, k.deleted, k.disabled, k.last_used,
                           (SELECT group_concat(until) FROM superseded s WHERE s.key_seq = k.seq),
                           k.seq";

/// Condition for keys that `prune` removes, with the cutoff as `?1`.
const PRUNABLE: &str = "((k.deleted IS NOT NULL AND k.deleted < ?1)
                        OR (k.deleted IS NULL AND k.expires IS NOT NULL AND k.expires < ?1))";

/// A verifier waits this long at most for another writer just to note a use.
const TOUCH_TIMEOUT: StdDuration = StdDuration::from_millis(200);

/// An open store file.
pub(crate) struct Sqlite {
    conn: Connection,
    site: Site,
}

impl Sqlite {
    pub(crate) fn open(path: &Path, options: &Options) -> Result<Sqlite> {
        let site = Site {
            shown: crate::names::shown_path(path),
            path: path.to_owned(),
            lock_timeout: options.lock_timeout,
        };
        let conn = file::open(&site, options)?;
        Ok(Sqlite { conn, site })
    }

    /// Run `f` in an immediate transaction, with the time read once the write lock is
    /// held, and commit it.
    fn write<T>(
        &mut self,
        clock: &Clock,
        f: impl FnOnce(&Transaction, &Site, Timestamp) -> Result<T>,
    ) -> Result<T> {
        let site = &self.site;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| site.err(e))?;
        let out = f(&tx, site, clock.now())?;
        tx.commit().map_err(|e| site.err(e))?;
        Ok(out)
    }

    /// Run `f` in a read transaction, with the time read once the read lock is held.
    fn read<T>(
        &self,
        clock: &Clock,
        f: impl FnOnce(&Connection, Timestamp) -> Result<T>,
    ) -> Result<T> {
        let site = &self.site;
        let tx = self.conn.unchecked_transaction().map_err(|e| site.err(e))?;
        // A deferred transaction takes its lock at the first read.
        tx.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
            .map_err(|e| site.err(e))?;
        let out = f(&tx, clock.now())?;
        tx.finish().map_err(|e| site.err(e))?;
        Ok(out)
    }
}

impl Backend for Sqlite {
    fn create_keys(&mut self, keys: &[NewKey], clock: &Clock) -> Result<Vec<Issued>> {
        self.write(clock, |tx, site, now| {
            keys.iter()
                .map(|new| insert_key(tx, site, new, now))
                .collect()
        })
    }

    fn key(&self, r: &KeyRef, clock: &Clock) -> Result<Key> {
        self.read(clock, |conn, now| {
            find(conn, &self.site, r, now)?
                .map(|(_, key)| key)
                .ok_or_else(|| not_found(r))
        })
    }

    fn for_each_key(
        &self,
        filter: &ListFilter,
        clock: &Clock,
        f: &mut dyn FnMut(Key) -> Result<()>,
    ) -> Result<()> {
        let site = &self.site;
        let e = |e| site.err(e);
        self.read(clock, |conn, now| {
            if let Some(user) = &filter.user {
                let known: Option<i64> = conn
                    .query_row(
                        "SELECT id FROM users WHERE name = ?1",
                        [user.as_str()],
                        |r| r.get(0),
                    )
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
            let mut stmt = conn.prepare(&sql).map_err(e)?;
            let user = filter.user.as_ref().map(|u| u.as_str());
            let mut rows = stmt
                .query(params![user, filter.with_revoked()])
                .map_err(e)?;
            while let Some(row) = rows.next().map_err(e)? {
                let (_, key) = key_from_row(site, row, now)?;
                if filter.keeps(&key, now) {
                    f(key)?;
                }
            }
            Ok(())
        })
    }

    fn reset(&mut self, r: &KeyRef, grace: Option<Duration>, clock: &Clock) -> Result<Rotated> {
        self.write(clock, |tx, site, now| {
            let e = |e| site.err(e);
            let (seq, key) = live(tx, site, r, now)?;
            let token = token::generate(&key.prefix, &key.id)?;
            let until = grace
                .and_then(|g| now.plus(g.secs()))
                .map(|u| key.expires.map_or(u, |x| u.min(x)))
                .filter(|u| *u > now);
            let (previous, updated): (Vec<u8>, i64) = tx
                .query_row(
                    "SELECT digest, updated FROM keys WHERE seq = ?1",
                    [seq],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(e)?;
            let superseded = superseded_of(tx, seq).map_err(e)?;
            // Only the secret being replaced gets a grace period: one old token at most.
            tx.execute("DELETE FROM superseded WHERE key_seq = ?1", [seq])
                .map_err(e)?;
            if let Some(until) = until {
                tx.execute(
                    "INSERT INTO superseded(key_seq, digest, until) VALUES (?1, ?2, ?3)",
                    params![seq, previous, until.0],
                )
                .map_err(e)?;
            }
            let digest = token.digest().0;
            tx.execute(
                "UPDATE keys SET digest = ?2, updated = ?3 WHERE seq = ?1",
                params![seq, digest.as_slice(), now.0],
            )
            .map_err(e)?;
            let undo = Undo(UndoKind::Reset {
                id: key.id.clone(),
                digest,
                previous,
                superseded,
                updated,
            });
            Ok(Rotated {
                key: reread(tx, site, &key.id, now)?,
                token,
                previous_until: until,
                undo,
            })
        })
    }

    fn update(&mut self, r: &KeyRef, change: &Change, clock: &Clock) -> Result<Updated> {
        self.write(clock, |tx, site, now| {
            let e = |e| site.err(e);
            let (seq, key) = match change {
                Change::Revoke => {
                    let found = find(tx, site, r, now)?.ok_or_else(|| not_found(r))?;
                    if found.1.deleted.is_some() {
                        return Ok(Updated {
                            key: found.1,
                            changed: false,
                        });
                    }
                    found
                }
                _ => live(tx, site, r, now)?,
            };
            let set = |column: &str, value: Option<i64>| {
                tx.execute(
                    &format!("UPDATE keys SET {column} = ?2, updated = ?3 WHERE seq = ?1"),
                    params![seq, value, now.0],
                )
                .map_err(e)
            };
            match change {
                Change::Disabled(disable) if key.disabled.is_some() == *disable => {
                    return Ok(Updated {
                        key,
                        changed: false,
                    });
                }
                Change::Disabled(disable) => set("disabled", disable.then_some(now.0))?,
                Change::Expiry(expiry) => set("expires", expiry.at(now)?.map(|t| t.0))?,
                Change::Revoke => set("deleted", Some(now.0))?,
                Change::Paths(paths) => tx
                    .execute(
                        "UPDATE keys SET paths = ?2, updated = ?3 WHERE seq = ?1",
                        params![seq, join_paths(paths), now.0],
                    )
                    .map_err(e)?,
            };
            Ok(Updated {
                key: reread(tx, site, &key.id, now)?,
                changed: true,
            })
        })
    }

    fn purge(&mut self, r: &KeyRef, clock: &Clock) -> Result<Key> {
        self.write(clock, |tx, site, now| {
            let (seq, key) = find(tx, site, r, now)?.ok_or_else(|| not_found(r))?;
            delete_key(tx, seq).map_err(|e| site.err(e))?;
            Ok(key)
        })
    }

    fn prunable(&self, older_than: Duration, clock: &Clock) -> Result<Vec<Key>> {
        let site = &self.site;
        let e = |e| site.err(e);
        self.read(clock, |conn, now| {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {KEY_COLUMNS} FROM keys k JOIN users u ON u.id = k.user_id
                     WHERE {PRUNABLE} ORDER BY k.seq"
                ))
                .map_err(e)?;
            let mut rows = stmt.query([cutoff(now, older_than)]).map_err(e)?;
            let mut keys = Vec::new();
            while let Some(row) = rows.next().map_err(e)? {
                keys.push(key_from_row(site, row, now)?.1);
            }
            Ok(keys)
        })
    }

    fn prune(&mut self, ids: &[KeyId], older_than: Duration, clock: &Clock) -> Result<Vec<KeyId>> {
        self.write(clock, |tx, site, now| {
            let e = |e| site.err(e);
            let mut removed = Vec::new();
            let mut select = tx
                .prepare(&format!(
                    "SELECT k.seq FROM keys k WHERE k.id = ?2 AND {PRUNABLE}"
                ))
                .map_err(e)?;
            for id in ids {
                let seq: Option<i64> = select
                    .query_row(params![cutoff(now, older_than), id.as_str()], |r| r.get(0))
                    .optional()
                    .map_err(e)?;
                if let Some(seq) = seq {
                    delete_key(tx, seq).map_err(e)?;
                    removed.push(id.clone());
                }
            }
            Ok(removed)
        })
    }

    fn undo(&mut self, undo: &Undo) -> Result<()> {
        // Undoing needs no time; any clock will do.
        self.write(&Clock::system(), |tx, site, _| {
            let e = |e| site.err(e);
            let changed_since = |id: &KeyId| {
                Error::Store(format!(
                    "key {id} was changed by another command in the meantime, so it was left as it is"
                ))
            };
            match &undo.0 {
                UndoKind::Create {
                    id,
                    digest,
                    user_created,
                } => {
                    let found: Option<(i64, i64)> = tx
                        .query_row(
                            "SELECT seq, user_id FROM keys WHERE id = ?1 AND digest = ?2",
                            params![id.as_str(), digest.as_slice()],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .optional()
                        .map_err(e)?;
                    let (seq, user) = found.ok_or_else(|| changed_since(id))?;
                    delete_key(tx, seq).map_err(e)?;
                    if *user_created {
                        tx.execute(
                            "DELETE FROM users WHERE id = ?1
                             AND NOT EXISTS (SELECT 1 FROM keys WHERE user_id = ?1)",
                            [user],
                        )
                        .map_err(e)?;
                    }
                }
                UndoKind::Reset {
                    id,
                    digest,
                    previous,
                    superseded,
                    updated,
                } => {
                    let seq: i64 = tx
                        .query_row(
                            "SELECT seq FROM keys WHERE id = ?1 AND digest = ?2",
                            params![id.as_str(), digest.as_slice()],
                            |r| r.get(0),
                        )
                        .optional()
                        .map_err(e)?
                        .ok_or_else(|| changed_since(id))?;
                    tx.execute(
                        "UPDATE keys SET digest = ?2, updated = ?3 WHERE seq = ?1",
                        params![seq, previous, updated],
                    )
                    .map_err(e)?;
                    tx.execute("DELETE FROM superseded WHERE key_seq = ?1", [seq])
                        .map_err(e)?;
                    for (digest, until) in superseded {
                        tx.execute(
                            "INSERT INTO superseded(key_seq, digest, until) VALUES (?1, ?2, ?3)",
                            params![seq, digest, until],
                        )
                        .map_err(e)?;
                    }
                }
            }
            Ok(())
        })
    }

    fn lookup(&self, id: &str, marker: bool) -> Result<Option<(StoredKey, Option<Marker>)>> {
        let site = &self.site;
        let e = |e| site.err(e);
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
        let seq: i64 = row.get(10).map_err(e)?;
        let earlier = if row.get(9).map_err(e)? {
            superseded_of(&self.conn, seq)
                .map_err(e)?
                .into_iter()
                .map(|(digest, until)| Ok((digest, checked_time(site, id, "grace end", until)?)))
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let time = |i: usize, what: &str| -> Result<Option<Timestamp>> {
            column::<Option<i64>>(site, row, i, what, id)?
                .map(|t| checked_time(site, id, what, t))
                .transpose()
        };
        let key = StoredKey {
            id: parsed(site, row, 0, "key id", id)?,
            user: parsed(site, row, 1, "user", id)?,
            name: parsed_opt(site, row, 2, "name", id)?,
            paths: paths(site, row, 3, id)?,
            expires: time(4, "expiry")?,
            deleted: time(5, "revocation time")?,
            disabled: time(6, "disabling time")?,
            last_used: time(7, "last use")?,
            digest: column(site, row, 8, "secret digest", id)?,
            earlier,
        };
        let marker = if marker {
            header::read(&self.conn).ok().map(Marker::Header)
        } else {
            None
        };
        Ok(Some((key, marker)))
    }

    fn ping(&self, clock: &Clock) -> Result<()> {
        self.read(clock, |conn, _| {
            conn.query_row("SELECT count(*) FROM keys", [], |_| Ok(()))
                .map_err(|e| self.site.err(e))
        })
    }

    fn marker(&self) -> Option<Marker> {
        header::read(&self.conn).ok().map(Marker::Header)
    }

    fn record_use(&self, id: &KeyId, last_used: Option<Timestamp>, now: Timestamp) {
        if last_used.is_some_and(|t| now.0.saturating_sub(t.0) < LAST_USED_INTERVAL) {
            return;
        }
        let _ = self.conn.busy_timeout(TOUCH_TIMEOUT);
        let _ = self.conn.execute(
            "UPDATE keys SET last_used = ?2 WHERE id = ?1 AND (last_used IS NULL OR last_used <= ?3)",
            params![id.as_str(), now.0, now.0 - LAST_USED_INTERVAL],
        );
        let _ = self.conn.busy_timeout(self.site.lock_timeout);
    }
}

fn cutoff(now: Timestamp, older_than: Duration) -> i64 {
    now.0.saturating_sub(older_than.secs())
}

fn not_found(r: &KeyRef) -> Error {
    Error::NotFound(format!("no key {r}"))
}

/// Find a key (live or revoked), with its row number.
fn find(conn: &Connection, site: &Site, r: &KeyRef, now: Timestamp) -> Result<Option<(i64, Key)>> {
    let e = |e| site.err(e);
    let base = format!("SELECT {KEY_COLUMNS} FROM keys k JOIN users u ON u.id = k.user_id");
    let mut stmt;
    let mut rows = match r {
        KeyRef::Id(id) => {
            stmt = conn
                .prepare_cached(&format!("{base} WHERE k.id = ?1"))
                .map_err(e)?;
            stmt.query([id.as_str()]).map_err(e)?
        }
        KeyRef::Named { user, name } => {
            stmt = conn
                .prepare_cached(&format!(
                    "{base} WHERE u.name = ?1 AND k.name = ?2
                     ORDER BY k.deleted IS NOT NULL, k.seq DESC LIMIT 1"
                ))
                .map_err(e)?;
            stmt.query([user.as_str(), name.as_str()]).map_err(e)?
        }
    };
    match rows.next().map_err(e)? {
        Some(row) => key_from_row(site, row, now).map(Some),
        None => Ok(None),
    }
}

/// A key that exists and is not revoked (management commands refuse revoked keys: exit 3).
/// Secrets superseded earlier whose grace has ended are deleted on the way: every write
/// to a key passes here.
fn live(tx: &Transaction, site: &Site, r: &KeyRef, now: Timestamp) -> Result<(i64, Key)> {
    let (seq, key) = find(tx, site, r, now)?.ok_or_else(|| not_found(r))?;
    if key.deleted.is_some() {
        return Err(Error::NotFound(format!(
            "key {} is revoked; a revoked key cannot be changed (create a new one)",
            key.label()
        )));
    }
    tx.execute(
        "DELETE FROM superseded WHERE key_seq = ?1 AND until <= ?2",
        params![seq, now.0],
    )
    .map_err(|e| site.err(e))?;
    Ok((seq, key))
}

fn reread(tx: &Transaction, site: &Site, id: &KeyId, now: Timestamp) -> Result<Key> {
    find(tx, site, &KeyRef::Id(id.clone()), now)?
        .map(|(_, key)| key)
        .ok_or_else(|| Error::Store(format!("key {id} vanished during the update")))
}

fn superseded_of(conn: &Connection, seq: i64) -> rusqlite::Result<Vec<(Vec<u8>, i64)>> {
    conn.prepare_cached("SELECT digest, until FROM superseded WHERE key_seq = ?1 ORDER BY rowid")?
        .query_map([seq], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// Delete one key and its superseded secrets.
fn delete_key(tx: &Transaction, seq: i64) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM superseded WHERE key_seq = ?1", [seq])?;
    tx.execute("DELETE FROM keys WHERE seq = ?1", [seq])?;
    Ok(())
}

/// Insert one key inside a write transaction: the user (created if new), the live-name
/// check, and the key with a fresh id and secret. Statements are cached, so a bulk insert
/// parses each of them once.
fn insert_key(tx: &Transaction, site: &Site, new: &NewKey, now: Timestamp) -> Result<Issued> {
    let e = |e| site.err(e);
    let expires = new.expires.at(now)?;
    if let Some(t) = expires.filter(|t| *t <= now) {
        return Err(Invalid(format!(
            "the expiry {t} is not in the future; the key would be born expired"
        ))
        .into());
    }
    let user_created = tx
        .prepare_cached(
            "INSERT INTO users(name, created) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
        )
        .and_then(|mut s| s.execute(params![new.user.as_str(), now.0]))
        .map_err(e)?
        == 1;
    let uid: i64 = tx
        .prepare_cached("SELECT id FROM users WHERE name = ?1")
        .and_then(|mut s| s.query_row([new.user.as_str()], |r| r.get(0)))
        .map_err(e)?;
    if let Some(name) = &new.name {
        let existing: Option<String> = tx
            .prepare_cached(
                "SELECT id FROM keys WHERE user_id = ?1 AND name = ?2 AND deleted IS NULL",
            )
            .and_then(|mut s| {
                s.query_row(params![uid, name.as_str()], |r| r.get(0))
                    .optional()
            })
            .map_err(e)?;
        if let Some(id) = existing {
            return Err(Error::Invalid(format!(
                "user {} already has a key named {name} ({}); choose another --name or delete that key",
                new.user,
                crate::names::shown(&id)
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
        let id = KeyId::random()?;
        let token = token::generate(&new.prefix, &id)?;
        let digest = token.digest().0;
        let inserted = insert
            .execute(params![
                id.as_str(),
                uid,
                new.name.as_ref().map(|n| n.as_str()),
                new.description.as_ref().map(|d| d.as_str()),
                new.prefix.as_str(),
                digest.as_slice(),
                paths,
                now.0,
                expires.map(|t| t.0)
            ])
            .map_err(e)?;
        // A clash of two random 95-bit ids is practically impossible; retry if it happens.
        if inserted == 1 {
            let key = reread(tx, site, &id, now)?;
            return Ok(Issued {
                key,
                token,
                undo: Undo(UndoKind::Create {
                    id,
                    digest,
                    user_created,
                }),
            });
        }
    }
}

/// A time as keyctl writes it, or the store is damaged.
fn checked_time(site: &Site, key: &str, what: &str, t: i64) -> Result<Timestamp> {
    if (0..=MAX_TIMESTAMP).contains(&t) {
        Ok(Timestamp(t))
    } else {
        Err(site.damaged(
            &format!("the {what} of key {}", crate::names::shown(key)),
            &format!("{t} is not a time between 1970 and 9999"),
        ))
    }
}

/// Column `i` of `row`; a value of a type keyctl never writes there is damage to the store,
/// reported as the `what` of `key`.
fn column<T: FromSql>(site: &Site, row: &Row, i: usize, what: &str, key: &str) -> Result<T> {
    row.get(i).map_err(|e| {
        let what = format!("the {what} of key {}", crate::names::shown(key));
        site.wrong_type(&what, &e).unwrap_or_else(|| site.err(e))
    })
}

/// A text column checked by its library type, or the store is damaged.
fn parsed<T: TryFrom<String, Error = Invalid>>(
    site: &Site,
    row: &Row,
    i: usize,
    what: &str,
    key: &str,
) -> Result<T> {
    let text: String = column(site, row, i, what, key)?;
    T::try_from(text).map_err(|why| {
        site.damaged(
            &format!("the {what} of key {}", crate::names::shown(key)),
            &why,
        )
    })
}

fn parsed_opt<T: TryFrom<String, Error = Invalid>>(
    site: &Site,
    row: &Row,
    i: usize,
    what: &str,
    key: &str,
) -> Result<Option<T>> {
    match row.get_ref(i).map_err(|e| site.err(e))? {
        rusqlite::types::ValueRef::Null => Ok(None),
        _ => parsed(site, row, i, what, key).map(Some),
    }
}

/// Prefixes never contain whitespace, so a newline separates them.
fn join_paths(paths: &PathPrefixes) -> Option<String> {
    (!paths.is_empty()).then(|| paths.join("\n"))
}

fn paths(site: &Site, row: &Row, i: usize, key: &str) -> Result<PathPrefixes> {
    let joined: Option<String> = column(site, row, i, "path prefixes", key)?;
    let damaged = |why: &dyn std::fmt::Display| {
        site.damaged(
            &format!("the path prefixes of key {}", crate::names::shown(key)),
            why,
        )
    };
    let list = joined
        .iter()
        .flat_map(|p| p.split('\n'))
        .map(|p| p.parse::<PathPrefix>())
        .collect::<Result<Vec<_>, Invalid>>()
        .map_err(|why| damaged(&why))?;
    PathPrefixes::new(list).map_err(|why| damaged(&why))
}

fn key_from_row(site: &Site, row: &Row, now: Timestamp) -> Result<(i64, Key)> {
    let e = |e| site.err(e);
    let seq: i64 = row.get(13).map_err(e)?;
    let row_name = format!("in row {seq}");
    let raw_id: String = column(site, row, 0, "id", &row_name)?;
    let id: KeyId = parsed(site, row, 0, "id", &row_name)?;
    let key = raw_id.as_str();
    let time = |i: usize, what: &str| -> Result<Option<Timestamp>> {
        column::<Option<i64>>(site, row, i, what, key)?
            .map(|t| checked_time(site, key, what, t))
            .transpose()
    };
    let expires = time(8, "expiry")?;
    let deleted = time(9, "revocation time")?;
    let disabled = time(10, "disabling time")?;
    let superseded: Option<String> = column(site, row, 12, "grace end", key)?;
    let mut superseded: Vec<Timestamp> = superseded
        .iter()
        .flat_map(|s| s.split(','))
        .map(|t| match t.parse() {
            Ok(t) => checked_time(site, key, "grace end", t),
            Err(_) => Err(site.damaged(
                &format!("the grace end of key {}", crate::names::shown(key)),
                &format!("{} is not a time", crate::names::shown(t)),
            )),
        })
        .filter(|t| t.as_ref().map_or(true, |t| *t > now))
        .collect::<Result<_>>()?;
    superseded.sort();
    let prefix: TokenPrefix = parsed(site, row, 4, "token prefix", key)?;
    Ok((
        seq,
        Key {
            user: parsed(site, row, 1, "user", key)?,
            name: parsed_opt(site, row, 2, "name", key)?,
            description: parsed_opt(site, row, 3, "description", key)?,
            prefix,
            paths: paths(site, row, 5, key)?,
            created: time(6, "creation time")?.ok_or_else(|| {
                site.damaged(
                    &format!("key {}", crate::names::shown(key)),
                    &"no creation time",
                )
            })?,
            updated: time(7, "change time")?.ok_or_else(|| {
                site.damaged(
                    &format!("key {}", crate::names::shown(key)),
                    &"no change time",
                )
            })?,
            expires,
            deleted,
            disabled,
            last_used: time(11, "last use")?,
            superseded,
            status: Key::status_at(expires, deleted, disabled, now),
            id,
        },
    ))
}
