//! The store as one SQLite file in rollback-journal mode (its schema is public, for tools
//! that check a file).
//!
//! Every write runs in a `BEGIN IMMEDIATE` transaction with a busy timeout, so concurrent
//! keyctl processes queue instead of failing, and a token is returned to the caller only
//! after the transaction holding its digest has committed (synchronous=FULL).

mod accounts;
mod file;
pub(crate) mod header;
pub mod schema;

use std::path::Path;
use std::time::Duration as StdDuration;

use rusqlite::types::{FromSql, Value};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use self::file::Site;
use crate::audit::{Action, Event};
use crate::error::{Error, Invalid, Result};
use crate::key::{Key, KeyRef};
use crate::names::{KeyId, KeyName, TokenPrefix, UserName};
use crate::paths::PathPrefixes;
use crate::store::change::{self, cutoff, not_found};
use crate::store::decode::{self, Damage};
use crate::store::{Account, EventFilter, UserInfo, UserRemoved, Who, import};
use crate::store::{
    AdoptedLookup, Backend, Change, ExportFilter, ImportReport, Issued, KeyRecord,
    LAST_USED_INTERVAL, ListFilter, Marker, NewKey, OnConflict, Options, Rotated, StoredKey, Undo,
    Updated,
};
use crate::time::{Clock, Duration, Timestamp};
use crate::token::Digest;
use crate::users::{Actor, PasswordHash};

const KEY_COLUMNS: &str = "k.id, u.name, k.name, k.description, k.prefix, k.paths,
                           k.created, k.updated, k.expires, k.deleted, k.disabled, k.last_used,
                           (SELECT group_concat(until) FROM superseded s WHERE s.key_seq = k.seq),
                           k.seq, k.adopted";

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
    fn create_keys(&mut self, keys: &[NewKey], action: Action, who: &Who) -> Result<Vec<Issued>> {
        self.write(&who.clock, |tx, site, now| {
            change::create_keys(&mut Tx { tx, site }, keys, action, who, now)
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

    fn reset(&mut self, r: &KeyRef, grace: Option<Duration>, who: &Who) -> Result<Rotated> {
        self.write(&who.clock, |tx, site, now| {
            change::reset(&mut Tx { tx, site }, r, grace, who, now)
        })
    }

    fn update(&mut self, r: &KeyRef, change: &Change, who: &Who) -> Result<Updated> {
        self.write(&who.clock, |tx, site, now| {
            change::update(&mut Tx { tx, site }, r, change, who, now)
        })
    }

    fn purge(&mut self, r: &KeyRef, who: &Who) -> Result<Key> {
        self.write(&who.clock, |tx, site, now| {
            change::purge(&mut Tx { tx, site }, r, who, now)
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

    fn prune(&mut self, ids: &[KeyId], older_than: Duration, who: &Who) -> Result<Vec<KeyId>> {
        self.write(&who.clock, |tx, site, now| {
            change::prune(&mut Tx { tx, site }, ids, older_than, who, now)
        })
    }

    fn undo(&mut self, undo: &Undo, who: &Who) -> Result<()> {
        self.write(&who.clock, |tx, site, now| {
            change::undo(&mut Tx { tx, site }, undo, who, now)
        })
    }

    fn lookup(&self, id: &str, marker: bool) -> Result<Option<(StoredKey, Option<Marker>)>> {
        stored_key(&self.conn, &self.site, id, marker)
    }

    fn lookup_adopted(&self, digest: &Digest, marker: bool) -> Result<AdoptedLookup> {
        let site = &self.site;
        let e = |e| site.err(e);
        let tx = self.conn.unchecked_transaction().map_err(e)?;
        let digest = digest.0.as_slice();
        let mut id: Option<String> = tx
            .prepare_cached("SELECT id FROM keys WHERE digest = ?1 AND adopted = 1")
            .and_then(|mut s| s.query_row([digest], |r| r.get(0)).optional())
            .map_err(e)?;
        if id.is_none() {
            // Past its grace or not, the key says: verification compares the times.
            id = tx
                .prepare_cached(
                    "SELECT k.id FROM superseded s JOIN keys k ON k.seq = s.key_seq
                     WHERE s.digest = ?1 AND s.adopted = 1 ORDER BY s.until DESC LIMIT 1",
                )
                .and_then(|mut s| s.query_row([digest], |r| r.get(0)).optional())
                .map_err(e)?;
        }
        let holds_adopted = id.is_some() || holds_adopted(&tx).map_err(e)?;
        let key = match &id {
            Some(id) => stored_key(&tx, site, id, false)?.map(|(key, _)| key),
            None => None,
        };
        let marker = if marker {
            header::read(&tx).ok().map(Marker::Header)
        } else {
            None
        };
        tx.finish().map_err(e)?;
        Ok(AdoptedLookup {
            key,
            holds_adopted,
            marker,
        })
    }

    fn adopt_keys(&mut self, keys: &[(NewKey, Digest)], who: &Who) -> Result<Vec<Key>> {
        self.write(&who.clock, |tx, site, now| {
            change::adopt_keys(&mut Tx { tx, site }, keys, who, now)
        })
    }

    fn export(
        &self,
        filter: &ExportFilter,
        clock: &Clock,
        start: &mut dyn FnMut(u64, Timestamp) -> Result<()>,
        f: &mut dyn FnMut(KeyRecord) -> Result<()>,
    ) -> Result<()> {
        let site = &self.site;
        let e = |e| site.err(e);
        self.read(clock, |conn, now| {
            let user = filter.user.as_ref().map(|u| u.as_str());
            if let Some(user) = user {
                let known: Option<i64> = conn
                    .query_row("SELECT id FROM users WHERE name = ?1", [user], |r| r.get(0))
                    .optional()
                    .map_err(e)?;
                if known.is_none() {
                    return Err(Error::NotFound(format!(
                        "no user {}",
                        crate::names::shown(user)
                    )));
                }
            }
            let from = "FROM keys k JOIN users u ON u.id = k.user_id
                        WHERE (?1 IS NULL OR u.name = ?1) AND (?2 OR k.deleted IS NULL)";
            let count: i64 = conn
                .query_row(
                    &format!("SELECT count(*) {from}"),
                    params![user, filter.all],
                    |r| r.get(0),
                )
                .map_err(e)?;
            start(count.max(0).unsigned_abs(), now)?;
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {KEY_COLUMNS}, k.digest {from} ORDER BY k.seq"
                ))
                .map_err(e)?;
            let mut rows = stmt.query(params![user, filter.all]).map_err(e)?;
            while let Some(row) = rows.next().map_err(e)? {
                let (seq, key) = key_from_row(site, row, now)?;
                let digest = decode::digest(
                    site,
                    column(site, row, 15, "secret digest", &key.id)?,
                    &key.id,
                )?;
                let rows = superseded_rows(conn, seq).map_err(e)?;
                let earlier = decode::earlier(site, &key.id, rows, now)?;
                f(KeyRecord {
                    key,
                    digest,
                    earlier,
                })?;
            }
            Ok(())
        })
    }

    fn import(
        &mut self,
        records: &[KeyRecord],
        on_conflict: OnConflict,
        dry_run: bool,
        who: &Who,
    ) -> Result<ImportReport> {
        let site = &self.site;
        let e = |e| site.err(e);
        // A dry run only reads; a real one holds the write lock from its first read on, so
        // that what it checked is what it changes.
        let behavior = if dry_run {
            TransactionBehavior::Deferred
        } else {
            TransactionBehavior::Immediate
        };
        let tx = self.conn.transaction_with_behavior(behavior).map_err(e)?;
        tx.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
            .map_err(e)?;
        let report = import::import(
            &mut Tx { tx: &tx, site },
            records,
            on_conflict,
            dry_run,
            who,
        )?;
        if report.committed {
            tx.commit().map_err(e)?;
        } else {
            // Nothing was written: ending the transaction leaves the file as it was.
            tx.rollback().map_err(e)?;
        }
        Ok(report)
    }

    fn users(&self, clock: &Clock) -> Result<Vec<UserInfo>> {
        self.read(clock, |conn, now| accounts::users(conn, &self.site, now))
    }

    fn user_add(&mut self, user: &UserName, service: bool, who: &Who) -> Result<UserInfo> {
        self.write(&who.clock, |tx, site, now| {
            change::user_add(&mut Tx { tx, site }, user, service, who, now)
        })
    }

    fn user_password(
        &mut self,
        user: &UserName,
        hash: Option<&PasswordHash>,
        who: &Who,
    ) -> Result<UserInfo> {
        self.write(&who.clock, |tx, site, now| {
            change::user_password(&mut Tx { tx, site }, user, hash, who, now)
        })
    }

    fn user_remove(&mut self, user: &UserName, purge: bool, who: &Who) -> Result<UserRemoved> {
        self.write(&who.clock, |tx, site, now| {
            change::user_remove(&mut Tx { tx, site }, user, purge, who, now)
        })
    }

    fn account(&self, user: &UserName) -> Result<Option<Account>> {
        accounts::account(&self.conn, &self.site, user)
    }

    fn events(&self, filter: &EventFilter, f: &mut dyn FnMut(Event) -> Result<()>) -> Result<()> {
        self.read(&Clock::system(), |conn, _| {
            accounts::events(conn, &self.site, filter, f)
        })
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

    fn record_uses(&self, uses: &[(KeyId, Timestamp)]) -> Result<()> {
        let e = |e| self.site.err(e);
        let _ = self.conn.busy_timeout(TOUCH_TIMEOUT);
        let written = (|| {
            let tx = self.conn.unchecked_transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "UPDATE keys SET last_used = ?2
                     WHERE id = ?1 AND (last_used IS NULL OR last_used <= ?3)",
                )?;
                for (id, now) in uses {
                    stmt.execute(params![id.as_str(), now.0, now.0 - LAST_USED_INTERVAL])?;
                }
            }
            tx.commit()
        })();
        let _ = self.conn.busy_timeout(self.site.lock_timeout);
        written.map_err(e)
    }
}

/// What verification needs about key `id`, read on `conn`, and its marker when asked.
fn stored_key(
    conn: &Connection,
    site: &Site,
    id: &str,
    marker: bool,
) -> Result<Option<(StoredKey, Option<Marker>)>> {
    let e = |e| site.err(e);
    let mut stmt = conn
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
        superseded_of(conn, seq)
            .map_err(e)?
            .into_iter()
            .map(|(digest, until)| {
                Ok((digest, decode::checked_time(site, id, "grace end", until)?))
            })
            .collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    let time = |i: usize, what: &str| -> Result<Option<Timestamp>> {
        column::<Option<i64>>(site, row, i, what, id)?
            .map(|t| decode::checked_time(site, id, what, t))
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
        header::read(conn).ok().map(Marker::Header)
    } else {
        None
    };
    Ok(Some((key, marker)))
}

/// One user's line of `user list`.
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

/// Whether the store holds any adopted secret: one step into a partial index each.
fn holds_adopted(conn: &Connection) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM keys WHERE adopted = 1)
             OR EXISTS (SELECT 1 FROM superseded WHERE adopted = 1)",
    )?
    .query_row([], |r| r.get(0))
}

/// The key (other than `except`) that holds the adopted token with this digest: as its
/// current secret, or as an earlier one still in its grace at `now`.
fn adopted_by(
    conn: &Connection,
    site: &Site,
    digest: &[u8; 32],
    except: Option<&KeyId>,
    now: Timestamp,
) -> Result<Option<KeyId>> {
    let except = except.map(|id| id.as_str());
    let id: Option<String> = conn
        .prepare_cached(
            "SELECT id FROM keys WHERE digest = ?1 AND adopted = 1 AND id IS NOT ?2
             UNION ALL
             SELECT k.id FROM superseded s JOIN keys k ON k.seq = s.key_seq
             WHERE s.digest = ?1 AND s.adopted = 1 AND s.until > ?3 AND k.id IS NOT ?2
             LIMIT 1",
        )
        .and_then(|mut s| {
            s.query_row(params![digest.as_slice(), except, now.0], |r| r.get(0))
                .optional()
        })
        .map_err(|e| site.err(e))?;
    id.map(|id| decode::key_id(site, id)).transpose()
}

/// Earlier secrets of a key with their grace ends and whether each is adopted.
fn superseded_rows(conn: &Connection, seq: i64) -> rusqlite::Result<Vec<(Vec<u8>, i64, bool)>> {
    conn.prepare_cached(
        "SELECT digest, until, adopted FROM superseded WHERE key_seq = ?1 ORDER BY rowid",
    )?
    .query_map([seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
    .collect()
}

fn superseded_of(conn: &Connection, seq: i64) -> rusqlite::Result<Vec<(Vec<u8>, i64)>> {
    conn.prepare_cached("SELECT digest, until FROM superseded WHERE key_seq = ?1 ORDER BY rowid")?
        .query_map([seq], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// A write transaction, for the changes and imports every backend makes alike.
struct Tx<'a> {
    tx: &'a Transaction<'a>,
    site: &'a Site,
}

impl change::WriteTx for Tx<'_> {
    fn find(&mut self, r: &KeyRef, now: Timestamp) -> Result<Option<(i64, Key)>> {
        find(self.tx, self.site, r, now)
    }

    fn drop_ended(&mut self, seq: i64, now: Timestamp) -> Result<()> {
        self.tx
            .execute(
                "DELETE FROM superseded WHERE key_seq = ?1 AND until <= ?2",
                params![seq, now.0],
            )
            .map(drop)
            .map_err(|e| self.site.err(e))
    }

    fn secret(&mut self, seq: i64, _: &KeyId) -> Result<(Vec<u8>, i64, bool)> {
        self.tx
            .query_row(
                "SELECT digest, updated, adopted FROM keys WHERE seq = ?1",
                [seq],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(|e| self.site.err(e))
    }

    fn set_secret(&mut self, seq: i64, digest: &[u8], updated: i64, adopted: bool) -> Result<()> {
        self.tx
            .execute(
                "UPDATE keys SET digest = ?2, updated = ?3, adopted = ?4 WHERE seq = ?1",
                params![seq, digest, updated, adopted],
            )
            .map(drop)
            .map_err(|e| self.site.err(e))
    }

    fn earlier(&mut self, seq: i64, _: &KeyId) -> Result<Vec<change::Earlier>> {
        superseded_rows(self.tx, seq).map_err(|e| self.site.err(e))
    }

    fn set_earlier(&mut self, seq: i64, secrets: &[change::Earlier]) -> Result<()> {
        let e = |e| self.site.err(e);
        self.tx
            .execute("DELETE FROM superseded WHERE key_seq = ?1", [seq])
            .map_err(e)?;
        for (digest, until, adopted) in secrets {
            self.tx
                .execute(
                    "INSERT INTO superseded(key_seq, digest, until, adopted)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![seq, digest, until, adopted],
                )
                .map_err(e)?;
        }
        Ok(())
    }

    fn set(&mut self, seq: i64, field: change::Field, now: Timestamp) -> Result<()> {
        let (column, value) = match field {
            change::Field::Disabled(at) => ("disabled", at.map(Value::from)),
            change::Field::Expires(at) => ("expires", at.map(Value::from)),
            change::Field::Deleted(at) => ("deleted", Some(Value::from(at))),
            change::Field::Paths(paths) => ("paths", paths.map(Value::from)),
        };
        self.tx
            .execute(
                &format!("UPDATE keys SET {column} = ?2, updated = ?3 WHERE seq = ?1"),
                params![seq, value, now.0],
            )
            .map(drop)
            .map_err(|e| self.site.err(e))
    }

    fn delete_key(&mut self, seq: i64) -> Result<()> {
        delete_key(self.tx, seq).map_err(|e| self.site.err(e))
    }

    fn holding(&mut self, id: &KeyId, digest: &[u8; 32]) -> Result<Option<(i64, i64)>> {
        self.tx
            .query_row(
                "SELECT seq, user_id FROM keys WHERE id = ?1 AND digest = ?2",
                params![id.as_str(), digest.as_slice()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.site.err(e))
    }

    fn drop_user_if_keyless(&mut self, user: i64) -> Result<()> {
        self.tx
            .execute(
                "DELETE FROM users WHERE id = ?1
                 AND NOT EXISTS (SELECT 1 FROM keys WHERE user_id = ?1)",
                [user],
            )
            .map(drop)
            .map_err(|e| self.site.err(e))
    }

    fn prunable(&mut self, id: &KeyId, cutoff: i64) -> Result<Option<i64>> {
        self.tx
            .prepare_cached(&format!(
                "SELECT k.seq FROM keys k WHERE k.id = ?2 AND {PRUNABLE}"
            ))
            .and_then(|mut s| {
                s.query_row(params![cutoff, id.as_str()], |r| r.get(0))
                    .optional()
            })
            .map_err(|e| self.site.err(e))
    }

    fn user_id(&mut self, user: &UserName, now: Timestamp) -> Result<(i64, bool)> {
        user_id(self.tx, self.site, user, now)
    }

    fn live_named(&mut self, user: i64, name: &KeyName) -> Result<Option<String>> {
        self.tx
            .prepare_cached(
                "SELECT id FROM keys WHERE user_id = ?1 AND name = ?2 AND deleted IS NULL",
            )
            .and_then(|mut s| {
                s.query_row(params![user, name.as_str()], |r| r.get(0))
                    .optional()
            })
            .map_err(|e| self.site.err(e))
    }

    fn insert_key(&mut self, row: &change::KeyRow) -> Result<bool> {
        let new = row.new;
        self.tx
            .prepare_cached(
                "INSERT INTO keys(id, user_id, name, description, prefix, digest, paths,
                                  created, updated, expires, adopted)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)
                 ON CONFLICT(id) DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    row.id.as_str(),
                    row.user,
                    new.name.as_ref().map(|n| n.as_str()),
                    new.description.as_ref().map(|d| d.as_str()),
                    new.prefix.as_str(),
                    row.digest.as_slice(),
                    decode::join_paths(&new.paths),
                    row.now.0,
                    row.expires.map(|t| t.0),
                    row.adopted
                ])
            })
            .map(|n| n == 1)
            .map_err(|e| self.site.err(e))
    }

    fn drop_ended_adopted(&mut self, digest: &[u8; 32], now: Timestamp) -> Result<()> {
        self.tx
            .prepare_cached(
                "DELETE FROM superseded WHERE digest = ?1 AND adopted = 1 AND until <= ?2",
            )
            .and_then(|mut s| s.execute(params![digest.as_slice(), now.0]))
            .map(drop)
            .map_err(|e| self.site.err(e))
    }

    fn adopted_by(
        &mut self,
        digest: &[u8; 32],
        except: Option<&KeyId>,
        now: Timestamp,
    ) -> Result<Option<KeyId>> {
        adopted_by(self.tx, self.site, digest, except, now)
    }

    fn insert_user(&mut self, user: &UserName, service: bool, now: Timestamp) -> Result<bool> {
        self.tx
            .execute(
                "INSERT INTO users(name, created, service) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name) DO NOTHING",
                params![user.as_str(), now.0, service],
            )
            .map(|n| n == 1)
            .map_err(|e| self.site.err(e))
    }

    fn restore_user(&mut self, user: &UserName, service: bool) -> Result<bool> {
        self.tx
            .execute(
                "UPDATE users SET removed = NULL, service = ?2
                 WHERE name = ?1 AND removed IS NOT NULL",
                params![user.as_str(), service],
            )
            .map(|n| n == 1)
            .map_err(|e| self.site.err(e))
    }

    fn user_row(&mut self, user: &UserName) -> Result<(i64, bool)> {
        accounts::user_row(self.tx, self.site, user)
    }

    fn set_password(&mut self, user: i64, hash: Option<&PasswordHash>) -> Result<()> {
        self.tx
            .execute(
                "UPDATE users SET password = ?2 WHERE id = ?1",
                params![user, hash.map(PasswordHash::as_str)],
            )
            .map(drop)
            .map_err(|e| self.site.err(e))
    }

    fn user_keys(&mut self, user: i64, all: bool) -> Result<Vec<KeyId>> {
        self.tx
            .prepare(
                "SELECT id FROM keys WHERE user_id = ?1 AND (?2 OR deleted IS NULL) ORDER BY seq",
            )
            .and_then(|mut s| {
                s.query_map(params![user, all], |r| r.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()
            })
            .map_err(|e| self.site.err(e))?
            .into_iter()
            .map(|k| decode::key_id(self.site, k))
            .collect()
    }

    fn purge_user(&mut self, user: i64) -> Result<()> {
        let e = |e| self.site.err(e);
        self.tx
            .execute(
                "DELETE FROM superseded WHERE key_seq IN (SELECT seq FROM keys WHERE user_id = ?1)",
                [user],
            )
            .map_err(e)?;
        self.tx
            .execute("DELETE FROM keys WHERE user_id = ?1", [user])
            .map_err(e)?;
        self.tx
            .execute("DELETE FROM users WHERE id = ?1", [user])
            .map_err(e)?;
        Ok(())
    }

    fn remove_user(&mut self, user: i64, now: Timestamp) -> Result<()> {
        let e = |e| self.site.err(e);
        self.tx
            .execute(
                "UPDATE keys SET deleted = ?2, updated = ?2 WHERE user_id = ?1 AND deleted IS NULL",
                params![user, now.0],
            )
            .map_err(e)?;
        self.tx
            .execute(
                "UPDATE users SET password = NULL, removed = ?2 WHERE id = ?1",
                params![user, now.0],
            )
            .map_err(e)?;
        Ok(())
    }

    fn users(&mut self, now: Timestamp) -> Result<Vec<UserInfo>> {
        accounts::users(self.tx, self.site, now)
    }

    fn record(
        &mut self,
        now: Timestamp,
        actor: &Actor,
        action: Action,
        key: Option<&Key>,
        user: Option<&UserName>,
        details: serde_json::Value,
    ) -> Result<()> {
        accounts::record(self.tx, self.site, now, actor, action, key, user, details)
    }
}

impl import::ImportTx for Tx<'_> {
    fn key_seq(&mut self, id: &KeyId) -> Result<Option<i64>> {
        self.tx
            .prepare_cached("SELECT seq FROM keys WHERE id = ?1")
            .and_then(|mut s| s.query_row([id.as_str()], |r| r.get(0)).optional())
            .map_err(|e| self.site.err(e))
    }

    fn named(&mut self, user: &UserName, name: &KeyName, id: &KeyId) -> Result<Option<KeyId>> {
        self.tx
            .prepare_cached(
                "SELECT k.id FROM keys k JOIN users u ON u.id = k.user_id
                 WHERE u.name = ?1 AND k.name = ?2 AND k.deleted IS NULL AND k.id != ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![user.as_str(), name.as_str(), id.as_str()], |row| {
                    row.get::<_, String>(0)
                })
                .optional()
            })
            .map_err(|e| self.site.err(e))?
            .map(|id| decode::key_id(self.site, id))
            .transpose()
    }

    fn insert_record(&mut self, r: &KeyRecord, seq: Option<i64>, now: Timestamp) -> Result<()> {
        insert_record(self.tx, self.site, r, seq, now)
    }
}

/// Delete one key and its superseded secrets.
fn delete_key(tx: &Transaction, seq: i64) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM superseded WHERE key_seq = ?1", [seq])?;
    tx.execute("DELETE FROM keys WHERE seq = ?1", [seq])?;
    Ok(())
}

/// The user's id, creating the user if new; true when it was created.
fn user_id(tx: &Transaction, site: &Site, user: &UserName, now: Timestamp) -> Result<(i64, bool)> {
    let e = |e| site.err(e);
    let created = tx
        .prepare_cached(
            "INSERT INTO users(name, created) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
        )
        .and_then(|mut s| s.execute(params![user.as_str(), now.0]))
        .map_err(e)?
        == 1;
    let (uid, removed): (i64, Option<i64>) = tx
        .prepare_cached("SELECT id, removed FROM users WHERE name = ?1")
        .and_then(|mut s| s.query_row([user.as_str()], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(e)?;
    if removed.is_some() {
        return Err(change::removed(user));
    }
    Ok((uid, created))
}

/// Insert an imported key as it was, at row `seq` (the key it replaces) or at the end.
/// Earlier secrets whose grace has ended are left out.
fn insert_record(
    tx: &Transaction,
    site: &Site,
    r: &KeyRecord,
    seq: Option<i64>,
    now: Timestamp,
) -> Result<()> {
    let e = |e| site.err(e);
    let k = &r.key;
    let (uid, _) = user_id(tx, site, &k.user, now)?;
    // As for adopt: a grace that has ended no longer ties a token to its old key.
    for digest in r.adopted_digests(now) {
        tx.prepare_cached(
            "DELETE FROM superseded WHERE digest = ?1 AND adopted = 1 AND until <= ?2",
        )
        .and_then(|mut s| s.execute(params![digest.0.as_slice(), now.0]))
        .map_err(e)?;
    }
    let time = |t: Option<Timestamp>| t.map(|t| t.0);
    tx.prepare_cached(
        "INSERT INTO keys(seq, id, user_id, name, description, prefix, digest, paths, created,
                          updated, expires, deleted, disabled, last_used, adopted)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )
    .and_then(|mut s| {
        s.execute(params![
            seq,
            k.id.as_str(),
            uid,
            k.name.as_ref().map(|n| n.as_str()),
            k.description.as_ref().map(|d| d.as_str()),
            k.prefix.as_str(),
            r.digest.0.as_slice(),
            decode::join_paths(&k.paths),
            k.created.0,
            k.updated.0,
            time(k.expires),
            time(k.deleted),
            time(k.disabled),
            time(k.last_used),
            k.adopted,
        ])
    })
    .map_err(e)?;
    let seq: i64 = tx
        .prepare_cached("SELECT seq FROM keys WHERE id = ?1")
        .and_then(|mut s| s.query_row([k.id.as_str()], |r| r.get(0)))
        .map_err(e)?;
    for earlier in r.earlier.iter().filter(|x| x.until > now) {
        tx.prepare_cached(
            "INSERT INTO superseded(key_seq, digest, until, adopted) VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut s| {
            s.execute(params![
                seq,
                earlier.digest.0.as_slice(),
                earlier.until.0,
                earlier.adopted
            ])
        })
        .map_err(e)?;
    }
    Ok(())
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
    decode::text(site, what, key, column(site, row, i, what, key)?)
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

fn paths(site: &Site, row: &Row, i: usize, key: &str) -> Result<PathPrefixes> {
    decode::paths(site, key, column(site, row, i, "path prefixes", key)?)
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
            .map(|t| decode::checked_time(site, key, what, t))
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
            Ok(t) => decode::checked_time(site, key, "grace end", t),
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
            adopted: column(site, row, 14, "adopted mark", key)?,
            id,
        },
    ))
}
