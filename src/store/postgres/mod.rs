//! The store as a PostgreSQL database shared by many machines (`--db postgresql://...`).
//!
//! The same tables and rules as the SQLite store, in their own schema `keyctl`
//! ([`schema`]). Every change is one transaction that first takes one advisory lock, so
//! changes are serialised as SQLite's are (the audit chain needs a total order anyway),
//! reads the time once it holds the lock, appends its audit event, and sends a
//! notification on channel `keyctl` before it commits; a token is returned only after the
//! commit. Reads that take more than one statement run in one read-only repeatable-read
//! transaction, so they see one state of the store.
//!
//! A long-running verifier learns of changes through `LISTEN` (`watch.rs`). A connection
//! that breaks is opened again at the next operation, at most once per back-off period,
//! and an operation under way when it broke fails (exit 4, or 503 in `serve`); a change is
//! never retried, since whether its commit arrived cannot be known.

mod conn;
pub mod schema;
mod watch;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use postgres::error::SqlState;
use postgres::types::{FromSql, ToSql};
use postgres::{Client, GenericClient, IsolationLevel, Row, Statement, Transaction};

use self::conn::{Site, Target};
use crate::audit::{self, Action, Event};
use crate::error::{Error, Invalid, Result};
use crate::key::{Key, KeyRef};
use crate::names::{KeyId, KeyName, TokenPrefix, UserName};
use crate::paths::PathPrefixes;
use crate::store::change::{self, cutoff, not_found};
use crate::store::decode::{self, Damage};
use crate::store::location::PgUrl;
use crate::store::{
    Access, Account, AdoptedLookup, Backend, Change, EventFilter, ExportFilter, ImportReport,
    Issued, KeyCounts, KeyRecord, LAST_USED_INTERVAL, ListFilter, Marker, NewKey, OnConflict,
    Options, Rotated, StoredKey, Undo, Updated, UserInfo, UserRemoved, Who, import,
};
use crate::time::{Clock, Duration, Timestamp};
use crate::token::Digest;
use crate::users::{Actor, PasswordHash};

pub use self::watch::LIVENESS;

const KEY_COLUMNS: &str = "k.id, u.name, k.name, k.description, k.prefix, k.paths,
     k.created, k.updated, k.expires, k.deleted, k.disabled, k.last_used,
     (SELECT array_agg(s.until ORDER BY s.id) FROM keyctl.superseded s WHERE s.key_seq = k.seq),
     k.seq, k.adopted";

/// Condition for keys that `prune` removes, with the cutoff as `$1`.
const PRUNABLE: &str = "((k.deleted IS NOT NULL AND k.deleted < $1)
                        OR (k.deleted IS NULL AND k.expires IS NOT NULL AND k.expires < $1))";

/// Rows fetched at a time when walking many keys: memory stays flat.
const BATCH: i32 = 256;

/// A verifier waits this long at most for another writer just to note a use.
const TOUCH_TIMEOUT_MS: &str = "200ms";

/// Keys whose use this connection recorded lately, at most this many.
const RECORDED_MAX: usize = 16_384;

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// One connection and the statements prepared on it.
struct Conn {
    client: Client,
    stmts: HashMap<String, Statement>,
}

/// A client (or a transaction on it) with the connection's prepared statements.
struct Db<'a, C: GenericClient> {
    c: &'a mut C,
    stmts: &'a mut HashMap<String, Statement>,
    site: &'a Site,
}

impl<C: GenericClient> Db<'_, C> {
    fn stmt(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.c.prepare(sql).map_err(|e| self.site.err(e))?;
        self.stmts.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
        let s = self.stmt(sql)?;
        self.c.query(&s, params).map_err(|e| self.site.err(e))
    }

    fn opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
        let s = self.stmt(sql)?;
        self.c.query_opt(&s, params).map_err(|e| self.site.err(e))
    }

    fn one(&mut self, sql: &str, params: Params<'_>) -> Result<Row> {
        let s = self.stmt(sql)?;
        self.c.query_one(&s, params).map_err(|e| self.site.err(e))
    }

    fn exec(&mut self, sql: &str, params: Params<'_>) -> Result<u64> {
        let s = self.stmt(sql)?;
        self.c.execute(&s, params).map_err(|e| self.site.err(e))
    }
}

/// An open store in a PostgreSQL database.
pub(crate) struct Postgres {
    target: Target,
    conn: RefCell<Option<Conn>>,
    /// When to try connecting again after a failure (shared by the process).
    backoff: Arc<conn::Backoff>,
    /// The process's watch of this database, once a verifier asked for a marker.
    watch: RefCell<Option<Arc<watch::Watch>>>,
    /// Keys whose use was recorded lately, by this connection: a remembered key's row
    /// still shows its old last use, and must not cost a write on every verification.
    recorded: RefCell<HashMap<KeyId, Timestamp>>,
}

impl Postgres {
    pub(crate) fn open(url: &PgUrl, options: &Options) -> Result<Postgres> {
        let target = Target::new(url, options.lock_timeout)?;
        let client = conn::blocking(|| -> Result<Client> {
            let mut client = target.connect()?;
            check_schema(&mut client, &target.site, options.access)?;
            Ok(client)
        })?;
        Ok(Postgres {
            backoff: conn::backoff(target.site_key()),
            target,
            conn: RefCell::new(Some(Conn {
                client,
                stmts: HashMap::new(),
            })),
            watch: RefCell::new(None),
            recorded: RefCell::new(HashMap::new()),
        })
    }

    fn site(&self) -> &Site {
        &self.target.site
    }

    /// Run `f` on the connection, opening it again first if it broke (at most once per
    /// back-off period; meanwhile the last failure is repeated at once).
    fn with_conn<T>(&self, f: impl FnOnce(&mut Conn, &Site) -> Result<T>) -> Result<T> {
        conn::blocking(|| {
            let mut slot = self.conn.borrow_mut();
            if slot.as_ref().is_none_or(|c| c.client.is_closed()) {
                *slot = None;
                if let Some(why) = self.backoff.pausing() {
                    return Err(Error::Store(why));
                }
                let reopened = self.target.connect().and_then(|mut client| {
                    check_schema(&mut client, self.site(), Access::Read)?;
                    Ok(client)
                });
                match reopened {
                    Ok(client) => {
                        self.backoff.succeeded();
                        *slot = Some(Conn {
                            client,
                            stmts: HashMap::new(),
                        });
                    }
                    Err(e) => {
                        self.backoff.failed(&e.to_string());
                        return Err(e);
                    }
                }
            }
            let Some(conn) = slot.as_mut() else {
                return Err(Error::Store(format!(
                    "no connection to {}",
                    self.site().shown
                )));
            };
            let out = f(conn, self.site());
            if out.is_err() {
                // A statement prepared before a migration may no longer fit the tables.
                conn.stmts.clear();
            }
            out
        })
    }

    /// Run `f` in a read-only transaction that sees one state of the store, with the
    /// time read once it began.
    fn read<T>(
        &self,
        clock: &Clock,
        f: impl FnOnce(&mut Db<'_, Transaction<'_>>, Timestamp) -> Result<T>,
    ) -> Result<T> {
        self.with_conn(|conn, site| {
            let mut tx = conn
                .client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(|e| site.err(e))?;
            let out = {
                let mut db = Db {
                    c: &mut tx,
                    stmts: &mut conn.stmts,
                    site,
                };
                f(&mut db, clock.now())?
            };
            tx.commit().map_err(|e| site.err(e))?;
            Ok(out)
        })
    }

    /// Run `f` in a transaction that holds the write lock, with the time read once the
    /// lock is held; announce the change and commit.
    fn write<T>(
        &mut self,
        clock: &Clock,
        f: impl FnOnce(&mut Db<'_, Transaction<'_>>, Timestamp) -> Result<T>,
    ) -> Result<T> {
        self.with_conn(|conn, site| {
            let mut tx = conn.client.transaction().map_err(|e| site.err(e))?;
            let out = {
                let mut db = Db {
                    c: &mut tx,
                    stmts: &mut conn.stmts,
                    site,
                };
                lock(&mut db)?;
                let out = f(&mut db, clock.now())?;
                db.exec("SELECT pg_notify($1, '')", &[&watch::CHANNEL])?;
                out
            };
            tx.commit().map_err(|e| site.err(e))?;
            Ok(out)
        })
    }

    /// This process's watch of the database, started on first use.
    fn watch(&self) -> Arc<watch::Watch> {
        let mut slot = self.watch.borrow_mut();
        match &*slot {
            Some(w) => Arc::clone(w),
            None => {
                let w = watch::watch(&self.target, self.target.site_key());
                *slot = Some(Arc::clone(&w));
                w
            }
        }
    }
}

/// Take the lock that serialises changes (waiting at most the lock timeout).
fn lock<C: GenericClient>(db: &mut Db<'_, C>) -> Result<()> {
    db.exec(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&schema::LOCK.0, &schema::LOCK.1],
    )?;
    Ok(())
}

/// Check that the database holds a keyctl store at this build's schema version, making or
/// upgrading it as `access` allows; refuse anything else untouched.
fn check_schema(client: &mut Client, site: &Site, access: Access) -> Result<()> {
    let p = &site.shown;
    // The common case in one round trip, without parameters: a store at this version.
    match client.simple_query("SELECT application, version FROM keyctl.meta") {
        Ok(messages) => {
            let rows: Vec<_> = messages
                .iter()
                .filter_map(|m| match m {
                    postgres::SimpleQueryMessage::Row(r) => Some((r.get(0), r.get(1))),
                    _ => None,
                })
                .collect();
            let latest = schema::latest().to_string();
            if let [(Some(schema::APPLICATION), Some(v))] = rows.as_slice()
                && *v == latest
            {
                return Ok(());
            }
        }
        Err(e) => {
            let expected = e.as_db_error().is_some_and(|d| {
                [
                    SqlState::UNDEFINED_TABLE,
                    SqlState::INVALID_SCHEMA_NAME,
                    SqlState::UNDEFINED_COLUMN,
                ]
                .contains(d.code())
            });
            if !expected {
                return Err(site.err(e));
            }
        }
    }
    let state = schema::state(client).map_err(|e| site.err(e))?;
    let state = match state {
        schema::State::Missing if access != Access::Create => {
            return Err(Error::NoStore(format!(
                "no key store in database {p}: it has no schema keyctl (`keyctl create` makes one)"
            )));
        }
        schema::State::Empty if access == Access::Read => {
            return Err(Error::Store(format!(
                "schema keyctl in {p} is empty, not a key store yet; it was left untouched (`keyctl create` makes a store in it)"
            )));
        }
        schema::State::Missing | schema::State::Empty => {
            schema::migrate(client).map_err(|e| site.err(e))?
        }
        schema::State::Store(v) if (0..schema::latest()).contains(&v) => {
            schema::migrate(client).map_err(|e| site.err(e))?
        }
        other => other,
    };
    match state {
        schema::State::Store(v) if v > schema::latest() => Err(Error::Store(format!(
            "store {p} has schema version {v}, newer than this keyctl knows ({}); upgrade keyctl",
            schema::latest()
        ))),
        schema::State::Store(v) if v < 1 => Err(Error::Store(format!(
            "store {p} is damaged: its schema version is {v}, which keyctl never writes; it was left untouched"
        ))),
        schema::State::Store(_) => Ok(()),
        _ => Err(Error::Store(format!(
            "schema keyctl in {p} was not made by keyctl; it was left untouched"
        ))),
    }
}

impl Backend for Postgres {
    fn create_keys(&mut self, keys: &[NewKey], action: Action, who: &Who) -> Result<Vec<Issued>> {
        self.write(&who.clock, |db, now| {
            change::create_keys(db, keys, action, who, now)
        })
    }

    fn key(&self, r: &KeyRef, clock: &Clock) -> Result<Key> {
        self.read(clock, |db, now| {
            find(db, r, now)?
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
        self.read(clock, |db, now| {
            if let Some(user) = &filter.user {
                known_user(db, user)?;
            }
            let sql = format!(
                "SELECT {KEY_COLUMNS} FROM keyctl.keys k JOIN keyctl.users u ON u.id = k.user_id
                 WHERE ($1::text IS NULL OR u.name = $1) AND ($2 OR k.deleted IS NULL)
                 ORDER BY k.seq"
            );
            let user = filter.user.as_ref().map(|u| u.as_str());
            let with_revoked = filter.with_revoked();
            walk(db, &sql, &[&user, &with_revoked], |db, row| {
                let (_, key) = key_from_row(db.site, &row, now)?;
                if filter.keeps(&key, now) {
                    f(key)?;
                }
                Ok(())
            })
        })
    }

    fn reset(&mut self, r: &KeyRef, grace: Option<Duration>, who: &Who) -> Result<Rotated> {
        self.write(&who.clock, |db, now| change::reset(db, r, grace, who, now))
    }

    fn update(&mut self, r: &KeyRef, change: &Change, who: &Who) -> Result<Updated> {
        self.write(&who.clock, |db, now| {
            change::update(db, r, change, who, now)
        })
    }

    fn purge(&mut self, r: &KeyRef, who: &Who) -> Result<Key> {
        self.write(&who.clock, |db, now| change::purge(db, r, who, now))
    }

    fn prunable(&self, older_than: Duration, clock: &Clock) -> Result<Vec<Key>> {
        self.read(clock, |db, now| {
            let sql = format!(
                "SELECT {KEY_COLUMNS} FROM keyctl.keys k JOIN keyctl.users u ON u.id = k.user_id
                 WHERE {PRUNABLE} ORDER BY k.seq"
            );
            let mut keys = Vec::new();
            let cut = cutoff(now, older_than);
            walk(db, &sql, &[&cut], |db, row| {
                keys.push(key_from_row(db.site, &row, now)?.1);
                Ok(())
            })?;
            Ok(keys)
        })
    }

    fn prune(&mut self, ids: &[KeyId], older_than: Duration, who: &Who) -> Result<Vec<KeyId>> {
        self.write(&who.clock, |db, now| {
            change::prune(db, ids, older_than, who, now)
        })
    }

    fn undo(&mut self, undo: &Undo, who: &Who) -> Result<()> {
        self.write(&who.clock, |db, now| change::undo(db, undo, who, now))
    }

    fn lookup(&self, id: &str, marker: bool) -> Result<Option<(StoredKey, Option<Marker>)>> {
        // The marker is read before the row: a change committed after it bumps it, so a
        // key remembered under it is never older than the marker says.
        let marker = if marker { self.watch().marker() } else { None };
        self.with_conn(|conn, site| {
            let mut db = Db {
                c: &mut conn.client,
                stmts: &mut conn.stmts,
                site,
            };
            Ok(stored_key(&mut db, id)?.map(|key| (key, marker)))
        })
    }

    fn lookup_adopted(&self, digest: &Digest, marker: bool) -> Result<AdoptedLookup> {
        let marker = if marker { self.watch().marker() } else { None };
        self.read(&Clock::system(), |db, _| {
            let digest = digest.0.as_slice();
            let mut id: Option<String> = db
                .opt(
                    "SELECT id FROM keyctl.keys WHERE digest = $1 AND adopted",
                    &[&digest],
                )?
                .map(|r| get(db.site, &r, 0, "id", "adopted"))
                .transpose()?;
            if id.is_none() {
                // Past its grace or not, the key says: verification compares the times.
                id = db
                    .opt(
                        "SELECT k.id FROM keyctl.superseded s JOIN keyctl.keys k ON k.seq = s.key_seq
                         WHERE s.digest = $1 AND s.adopted ORDER BY s.until DESC LIMIT 1",
                        &[&digest],
                    )?
                    .map(|r| get(db.site, &r, 0, "id", "adopted"))
                    .transpose()?;
            }
            let holds_adopted = id.is_some() || holds_adopted(db)?;
            let key = match &id {
                Some(id) => stored_key(db, id)?,
                None => None,
            };
            Ok(AdoptedLookup {
                key,
                holds_adopted,
                marker,
            })
        })
    }

    fn adopt_keys(&mut self, keys: &[(NewKey, Digest)], who: &Who) -> Result<Vec<Key>> {
        self.write(&who.clock, |db, now| change::adopt_keys(db, keys, who, now))
    }

    fn export(
        &self,
        filter: &ExportFilter,
        clock: &Clock,
        start: &mut dyn FnMut(u64, Timestamp) -> Result<()>,
        f: &mut dyn FnMut(KeyRecord) -> Result<()>,
    ) -> Result<()> {
        self.read(clock, |db, now| {
            let user = filter.user.as_ref().map(|u| u.as_str());
            if let Some(user) = &filter.user {
                known_user(db, user)?;
            }
            let from = "FROM keyctl.keys k JOIN keyctl.users u ON u.id = k.user_id
                        WHERE ($1::text IS NULL OR u.name = $1) AND ($2 OR k.deleted IS NULL)";
            let count: i64 = db
                .one(&format!("SELECT count(*) {from}"), &[&user, &filter.all])?
                .get(0);
            start(count.max(0).unsigned_abs(), now)?;
            let sql = format!(
                "SELECT {KEY_COLUMNS}, k.digest,
                        (SELECT array_agg(s.digest ORDER BY s.id) FROM keyctl.superseded s WHERE s.key_seq = k.seq),
                        (SELECT array_agg(s.adopted ORDER BY s.id) FROM keyctl.superseded s WHERE s.key_seq = k.seq)
                 {from} ORDER BY k.seq"
            );
            walk(db, &sql, &[&user, &filter.all], |db, row| {
                let site = db.site;
                let (_, key) = key_from_row(site, &row, now)?;
                let digest = decode::digest(
                    site,
                    get(site, &row, 15, "secret digest", &key.id)?,
                    &key.id,
                )?;
                let untils: Option<Vec<i64>> = get(site, &row, 12, "grace end", &key.id)?;
                let digests: Option<Vec<Vec<u8>>> =
                    get(site, &row, 16, "earlier digest", &key.id)?;
                let adopted: Option<Vec<bool>> = get(site, &row, 17, "adopted mark", &key.id)?;
                let rows = digests
                    .unwrap_or_default()
                    .into_iter()
                    .zip(untils.unwrap_or_default())
                    .zip(adopted.unwrap_or_default())
                    .map(|((d, until), adopted)| (d, until, adopted));
                let earlier = decode::earlier(site, &key.id, rows, now)?;
                f(KeyRecord {
                    key,
                    digest,
                    earlier,
                })
            })
        })
    }

    fn import(
        &mut self,
        records: &[KeyRecord],
        on_conflict: OnConflict,
        dry_run: bool,
        who: &Who,
    ) -> Result<ImportReport> {
        self.with_conn(|conn, site| {
            // A dry run only reads; a real one holds the write lock from its first read on,
            // so that what it checked is what it changes.
            let mut tx = conn.client.transaction().map_err(|e| site.err(e))?;
            let report = {
                let mut db = Db {
                    c: &mut tx,
                    stmts: &mut conn.stmts,
                    site,
                };
                if !dry_run {
                    lock(&mut db)?;
                }
                import::import(&mut db, records, on_conflict, dry_run, who)?
            };
            if report.committed {
                tx.execute("SELECT pg_notify($1, '')", &[&watch::CHANNEL])
                    .map_err(|e| site.err(e))?;
                tx.commit().map_err(|e| site.err(e))?;
            } else {
                // Nothing was written: ending the transaction leaves the store as it was.
                tx.rollback().map_err(|e| site.err(e))?;
            }
            Ok(report)
        })
    }

    fn users(&self, clock: &Clock) -> Result<Vec<UserInfo>> {
        #[allow(clippy::redundant_closure)] // `users` alone is not general enough
        self.read(clock, |db, now| users(db, now))
    }

    fn user_add(&mut self, user: &UserName, service: bool, who: &Who) -> Result<UserInfo> {
        self.write(&who.clock, |db, now| {
            change::user_add(db, user, service, who, now)
        })
    }

    fn user_password(
        &mut self,
        user: &UserName,
        hash: Option<&PasswordHash>,
        who: &Who,
    ) -> Result<UserInfo> {
        self.write(&who.clock, |db, now| {
            change::user_password(db, user, hash, who, now)
        })
    }

    fn user_remove(&mut self, user: &UserName, purge: bool, who: &Who) -> Result<UserRemoved> {
        self.write(&who.clock, |db, now| {
            change::user_remove(db, user, purge, who, now)
        })
    }

    fn account(&self, user: &UserName) -> Result<Option<Account>> {
        self.with_conn(|conn, site| {
            let mut db = Db {
                c: &mut conn.client,
                stmts: &mut conn.stmts,
                site,
            };
            let row = db.opt(
                "SELECT service, removed, password FROM keyctl.users WHERE name = $1",
                &[&user.as_str()],
            )?;
            let Some(row) = row else { return Ok(None) };
            let what = format!("user {user}");
            let service: bool = get(site, &row, 0, "service mark", &what)?;
            let removed: Option<i64> = get(site, &row, 1, "removal time", &what)?;
            let password: Option<String> = get(site, &row, 2, "password", &what)?;
            let password = password
                .map(|p| {
                    PasswordHash::parse(&p)
                        .map_err(|why| site.damaged(&format!("the password of user {user}"), &why))
                })
                .transpose()?;
            Ok(Some(Account {
                service,
                removed: removed.is_some(),
                password,
            }))
        })
    }

    fn events(&self, filter: &EventFilter, f: &mut dyn FnMut(Event) -> Result<()>) -> Result<()> {
        self.read(&Clock::system(), |db, _| {
            let key = filter.key.as_ref().map(|k| k.as_str());
            let user = filter.user.as_ref().map(|u| u.as_str());
            let action = filter.action.map(Action::as_str);
            let since = filter.since.map(|t| t.0);
            walk(
                db,
                "SELECT seq, time, action, key_id, user_name, actor, details, hash FROM keyctl.events
                 WHERE ($1::text IS NULL OR key_id = $1) AND ($2::text IS NULL OR user_name = $2)
                   AND ($3::text IS NULL OR action = $3) AND ($4::bigint IS NULL OR time >= $4)
                 ORDER BY seq",
                &[&key, &user, &action, &since],
                |db, row| {
                    let text = |i: usize| row.try_get::<_, Option<String>>(i).ok().flatten();
                    let action = text(2).and_then(|a| a.parse().ok()).ok_or_else(|| {
                        db.site
                            .damaged("an audit event", &"its action is not one keyctl records")
                    })?;
                    let hash: Vec<u8> = row.try_get(7).unwrap_or_default();
                    f(Event {
                        seq: row.try_get::<_, i64>(0).unwrap_or(-1),
                        time: Timestamp(row.try_get::<_, i64>(1).unwrap_or(-1)),
                        action,
                        key: text(3),
                        user: text(4),
                        actor: text(5).unwrap_or_default(),
                        details: text(6)
                            .and_then(|d| serde_json::from_str(&d).ok())
                            .unwrap_or(serde_json::Value::Null),
                        hash: audit::hex(&hash),
                    })
                },
            )
        })
    }

    fn marker(&self) -> Option<Marker> {
        self.watch().marker()
    }

    fn ping(&self, _clock: &Clock) -> Result<()> {
        self.with_conn(|conn, site| {
            let mut db = Db {
                c: &mut conn.client,
                stmts: &mut conn.stmts,
                site,
            };
            db.query("SELECT version FROM keyctl.meta", &[])?;
            Ok(())
        })
    }

    fn record_uses(&self, uses: &[(KeyId, Timestamp)]) -> Result<()> {
        // A remembered key's row is not re-read after its last use is written (no
        // notification follows), so the keys written lately are skipped here instead.
        let uses: Vec<&(KeyId, Timestamp)> = {
            let mut recorded = self.recorded.borrow_mut();
            let fresh: Vec<_> = uses
                .iter()
                .filter(|(id, now)| !recorded.get(id).is_some_and(|t| super::recent(*t, *now)))
                .collect();
            if recorded.len() + fresh.len() > RECORDED_MAX {
                recorded.clear();
            }
            recorded.extend(fresh.iter().map(|(id, now)| (id.clone(), *now)));
            fresh
        };
        if uses.is_empty() {
            return Ok(());
        }
        // No notification: a last use changes no verdict. A standby refuses the write.
        self.with_conn(|conn, site| {
            let mut tx = conn.client.transaction().map_err(|e| site.err(e))?;
            tx.batch_execute(&format!(
                "SET LOCAL lock_timeout = '{TOUCH_TIMEOUT_MS}'; SET LOCAL synchronous_commit = off"
            ))
            .map_err(|e| site.err(e))?;
            {
                let mut db = Db {
                    c: &mut tx,
                    stmts: &mut conn.stmts,
                    site,
                };
                for (id, now) in &uses {
                    db.exec(
                        "UPDATE keyctl.keys SET last_used = $2
                         WHERE id = $1 AND (last_used IS NULL OR last_used <= $3)",
                        &[&id.as_str(), &now.0, &(now.0 - LAST_USED_INTERVAL)],
                    )?;
                }
            }
            tx.commit().map_err(|e| site.err(e))
        })
    }
}

/// Walk the rows of `sql` a batch at a time (a portal in the current transaction), calling
/// `f` with each.
fn walk(
    db: &mut Db<'_, Transaction<'_>>,
    sql: &str,
    params: Params<'_>,
    mut f: impl FnMut(&mut Db<'_, Transaction<'_>>, Row) -> Result<()>,
) -> Result<()> {
    let stmt = db.stmt(sql)?;
    let portal = db.c.bind(&stmt, params).map_err(|e| db.site.err(e))?;
    loop {
        let rows =
            db.c.query_portal(&portal, BATCH)
                .map_err(|e| db.site.err(e))?;
        let done = rows.len() < BATCH as usize;
        for row in rows {
            f(db, row)?;
        }
        if done {
            return Ok(());
        }
    }
}

/// A write transaction, for the changes every backend makes alike.
impl change::WriteTx for Db<'_, Transaction<'_>> {
    fn find(&mut self, r: &KeyRef, now: Timestamp) -> Result<Option<(i64, Key)>> {
        find(self, r, now)
    }

    fn drop_ended(&mut self, seq: i64, now: Timestamp) -> Result<()> {
        self.exec(
            "DELETE FROM keyctl.superseded WHERE key_seq = $1 AND until <= $2",
            &[&seq, &now.0],
        )
        .map(drop)
    }

    fn secret(&mut self, seq: i64, id: &KeyId) -> Result<(Vec<u8>, i64, bool)> {
        let row = self.one(
            "SELECT digest, updated, adopted FROM keyctl.keys WHERE seq = $1",
            &[&seq],
        )?;
        Ok((
            get(self.site, &row, 0, "secret digest", id)?,
            get(self.site, &row, 1, "change time", id)?,
            get(self.site, &row, 2, "adopted mark", id)?,
        ))
    }

    fn set_secret(&mut self, seq: i64, digest: &[u8], updated: i64, adopted: bool) -> Result<()> {
        self.exec(
            "UPDATE keyctl.keys SET digest = $2, updated = $3, adopted = $4 WHERE seq = $1",
            &[&seq, &digest, &updated, &adopted],
        )
        .map(drop)
    }

    fn earlier(&mut self, seq: i64, id: &KeyId) -> Result<Vec<change::Earlier>> {
        superseded_rows(self, seq, id)
    }

    fn set_earlier(&mut self, seq: i64, secrets: &[change::Earlier]) -> Result<()> {
        self.exec("DELETE FROM keyctl.superseded WHERE key_seq = $1", &[&seq])?;
        for (digest, until, adopted) in secrets {
            self.exec(
                "INSERT INTO keyctl.superseded(key_seq, digest, until, adopted)
                 VALUES ($1, $2, $3, $4)",
                &[&seq, digest, until, adopted],
            )?;
        }
        Ok(())
    }

    fn set(&mut self, seq: i64, field: change::Field, now: Timestamp) -> Result<()> {
        let sql = |column: &str| {
            format!("UPDATE keyctl.keys SET {column} = $2, updated = $3 WHERE seq = $1")
        };
        match field {
            change::Field::Disabled(at) => self.exec(&sql("disabled"), &[&seq, &at, &now.0]),
            change::Field::Expires(at) => self.exec(&sql("expires"), &[&seq, &at, &now.0]),
            change::Field::Deleted(at) => self.exec(&sql("deleted"), &[&seq, &at, &now.0]),
            change::Field::Paths(paths) => self.exec(&sql("paths"), &[&seq, &paths, &now.0]),
        }
        .map(drop)
    }

    fn delete_key(&mut self, seq: i64) -> Result<()> {
        self.exec("DELETE FROM keyctl.superseded WHERE key_seq = $1", &[&seq])?;
        self.exec("DELETE FROM keyctl.keys WHERE seq = $1", &[&seq])?;
        Ok(())
    }

    fn holding(&mut self, id: &KeyId, digest: &[u8; 32]) -> Result<Option<(i64, i64)>> {
        self.opt(
            "SELECT seq, user_id FROM keyctl.keys WHERE id = $1 AND digest = $2",
            &[&id.as_str(), &digest.as_slice()],
        )?
        .map(|row| {
            Ok((
                get(self.site, &row, 0, "row number", id)?,
                get(self.site, &row, 1, "user", id)?,
            ))
        })
        .transpose()
    }

    fn drop_user_if_keyless(&mut self, user: i64) -> Result<()> {
        self.exec(
            "DELETE FROM keyctl.users WHERE id = $1
             AND NOT EXISTS (SELECT 1 FROM keyctl.keys WHERE user_id = $1)",
            &[&user],
        )
        .map(drop)
    }

    fn prunable(&mut self, id: &KeyId, cutoff: i64) -> Result<Option<i64>> {
        let select = format!("SELECT k.seq FROM keyctl.keys k WHERE k.id = $2 AND {PRUNABLE}");
        self.opt(&select, &[&cutoff, &id.as_str()])?
            .map(|row| get(self.site, &row, 0, "row number", id))
            .transpose()
    }

    fn user_id(&mut self, user: &UserName, now: Timestamp) -> Result<(i64, bool)> {
        user_id(self, user, now)
    }

    fn live_named(&mut self, user: i64, name: &KeyName) -> Result<Option<String>> {
        self.opt(
            "SELECT id FROM keyctl.keys WHERE user_id = $1 AND name = $2 AND deleted IS NULL",
            &[&user, &name.as_str()],
        )?
        .map(|row| get(self.site, &row, 0, "id", "named"))
        .transpose()
    }

    fn insert_key(&mut self, row: &change::KeyRow) -> Result<bool> {
        let new = row.new;
        self.exec(
            "INSERT INTO keyctl.keys(id, user_id, name, description, prefix, digest, paths,
                                     created, updated, expires, adopted)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)
             ON CONFLICT (id) DO NOTHING",
            &[
                &row.id.as_str(),
                &row.user,
                &new.name.as_ref().map(|n| n.as_str()),
                &new.description.as_ref().map(|d| d.as_str()),
                &new.prefix.as_str(),
                &row.digest.as_slice(),
                &decode::join_paths(&new.paths),
                &row.now.0,
                &row.expires.map(|t| t.0),
                &row.adopted,
            ],
        )
        .map(|n| n == 1)
    }

    fn drop_ended_adopted(&mut self, digest: &[u8; 32], now: Timestamp) -> Result<()> {
        self.exec(
            "DELETE FROM keyctl.superseded WHERE digest = $1 AND adopted AND until <= $2",
            &[&digest.as_slice(), &now.0],
        )
        .map(drop)
    }

    fn adopted_by(
        &mut self,
        digest: &[u8; 32],
        except: Option<&KeyId>,
        now: Timestamp,
    ) -> Result<Option<KeyId>> {
        adopted_by(self, digest, except, now)
    }

    fn insert_user(&mut self, user: &UserName, service: bool, now: Timestamp) -> Result<bool> {
        self.exec(
            "INSERT INTO keyctl.users(name, created, service) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO NOTHING",
            &[&user.as_str(), &now.0, &service],
        )
        .map(|n| n == 1)
    }

    fn restore_user(&mut self, user: &UserName, service: bool) -> Result<bool> {
        self.exec(
            "UPDATE keyctl.users SET removed = NULL, service = $2
             WHERE name = $1 AND removed IS NOT NULL",
            &[&user.as_str(), &service],
        )
        .map(|n| n == 1)
    }

    fn user_row(&mut self, user: &UserName) -> Result<(i64, bool)> {
        user_row(self, user)
    }

    fn set_password(&mut self, user: i64, hash: Option<&PasswordHash>) -> Result<()> {
        self.exec(
            "UPDATE keyctl.users SET password = $2 WHERE id = $1",
            &[&user, &hash.map(PasswordHash::as_str)],
        )
        .map(drop)
    }

    fn user_keys(&mut self, user: i64, all: bool) -> Result<Vec<KeyId>> {
        let rows = self.query(
            "SELECT id FROM keyctl.keys WHERE user_id = $1 AND ($2 OR deleted IS NULL) ORDER BY seq",
            &[&user, &all],
        )?;
        rows.iter()
            .map(|r| decode::key_id(self.site, get(self.site, r, 0, "id", "of the user")?))
            .collect()
    }

    fn purge_user(&mut self, user: i64) -> Result<()> {
        self.exec(
            "DELETE FROM keyctl.superseded
             WHERE key_seq IN (SELECT seq FROM keyctl.keys WHERE user_id = $1)",
            &[&user],
        )?;
        self.exec("DELETE FROM keyctl.keys WHERE user_id = $1", &[&user])?;
        self.exec("DELETE FROM keyctl.users WHERE id = $1", &[&user])?;
        Ok(())
    }

    fn remove_user(&mut self, user: i64, now: Timestamp) -> Result<()> {
        self.exec(
            "UPDATE keyctl.keys SET deleted = $2, updated = $2
             WHERE user_id = $1 AND deleted IS NULL",
            &[&user, &now.0],
        )?;
        self.exec(
            "UPDATE keyctl.users SET password = NULL, removed = $2 WHERE id = $1",
            &[&user, &now.0],
        )?;
        Ok(())
    }

    fn users(&mut self, now: Timestamp) -> Result<Vec<UserInfo>> {
        users(self, now)
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
        record(self, now, actor, action, key, user, details)
    }
}

/// An import's questions and changes, in its transaction.
impl import::ImportTx for Db<'_, Transaction<'_>> {
    fn key_seq(&mut self, id: &KeyId) -> Result<Option<i64>> {
        self.opt("SELECT seq FROM keyctl.keys WHERE id = $1", &[&id.as_str()])?
            .map(|row| get::<i64>(self.site, &row, 0, "row number", id))
            .transpose()
    }

    fn named(&mut self, user: &UserName, name: &KeyName, id: &KeyId) -> Result<Option<KeyId>> {
        self.opt(
            "SELECT k.id FROM keyctl.keys k JOIN keyctl.users u ON u.id = k.user_id
             WHERE u.name = $1 AND k.name = $2 AND k.deleted IS NULL AND k.id != $3",
            &[&user.as_str(), &name.as_str(), &id.as_str()],
        )?
        .map(|row| decode::key_id(self.site, get(self.site, &row, 0, "id", "by name")?))
        .transpose()
    }

    fn insert_record(&mut self, r: &KeyRecord, seq: Option<i64>, now: Timestamp) -> Result<()> {
        insert_record(self, r, seq, now)
    }
}

/// What verification needs about key `id`, in one statement (one state of the store).
fn stored_key<C: GenericClient>(db: &mut Db<'_, C>, id: &str) -> Result<Option<StoredKey>> {
    let Some(row) = db.opt(
        "SELECT k.id, u.name, k.name, k.paths, k.expires, k.deleted, k.disabled,
                k.last_used, k.digest,
                (SELECT array_agg(s.digest ORDER BY s.id) FROM keyctl.superseded s WHERE s.key_seq = k.seq),
                (SELECT array_agg(s.until ORDER BY s.id) FROM keyctl.superseded s WHERE s.key_seq = k.seq)
         FROM keyctl.keys k JOIN keyctl.users u ON u.id = k.user_id WHERE k.id = $1",
        &[&id],
    )?
    else {
        return Ok(None);
    };
    let site = db.site;
    let time = |i: usize, what: &str| -> Result<Option<Timestamp>> {
        get::<Option<i64>>(site, &row, i, what, id)?
            .map(|t| decode::checked_time(site, id, what, t))
            .transpose()
    };
    let digests: Option<Vec<Vec<u8>>> = get(site, &row, 9, "earlier digest", id)?;
    let untils: Option<Vec<i64>> = get(site, &row, 10, "grace end", id)?;
    let earlier = digests
        .unwrap_or_default()
        .into_iter()
        .zip(untils.unwrap_or_default())
        .map(|(d, until)| Ok((d, decode::checked_time(site, id, "grace end", until)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(StoredKey {
        id: parsed(site, &row, 0, "key id", id)?,
        user: parsed(site, &row, 1, "user", id)?,
        name: parsed_opt(site, &row, 2, "name", id)?,
        paths: paths(site, &row, 3, id)?,
        expires: time(4, "expiry")?,
        deleted: time(5, "revocation time")?,
        disabled: time(6, "disabling time")?,
        last_used: time(7, "last use")?,
        digest: get(site, &row, 8, "secret digest", id)?,
        earlier,
    }))
}

/// Append one event to the log, chained to the last one, inside the transaction that makes
/// the change it records (which holds the write lock: the chain has one order).
fn record(
    db: &mut Db<'_, Transaction<'_>>,
    now: Timestamp,
    actor: &Actor,
    action: Action,
    key: Option<&Key>,
    user: Option<&UserName>,
    details: serde_json::Value,
) -> Result<()> {
    let key_id = key.map(|k| k.id.as_str());
    let user = user.or(key.map(|k| &k.user)).map(|u| u.as_str());
    let last = db.opt(
        "SELECT seq, hash FROM keyctl.events ORDER BY seq DESC LIMIT 1",
        &[],
    )?;
    let (seq, previous) = match last {
        Some(row) => {
            let seq: i64 = row.get(0);
            let hash: Vec<u8> = row.get(1);
            let previous: [u8; 32] = hash.try_into().map_err(|_| {
                db.site
                    .damaged(&format!("audit event {seq}"), &"its hash is not 32 bytes")
            })?;
            (seq + 1, previous)
        }
        None => (1, audit::GENESIS),
    };
    let content = audit::canonical(seq, now, action, key_id, user, actor.as_str(), &details);
    let hash = audit::chain(&previous, &content);
    db.exec(
        "INSERT INTO keyctl.events(seq, time, action, key_id, user_name, actor, details, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &seq,
            &now.0,
            &action.as_str(),
            &key_id,
            &user,
            &actor.as_str(),
            &details.to_string(),
            &hash.as_slice(),
        ],
    )?;
    Ok(())
}

/// Every user with the counts of its keys by status at `now`.
fn users<C: GenericClient>(db: &mut Db<'_, C>, now: Timestamp) -> Result<Vec<UserInfo>> {
    let rows = db.query(
        "SELECT u.name, u.service, u.password IS NOT NULL, u.created, u.removed,
                count(k.seq) FILTER (WHERE k.deleted IS NOT NULL),
                count(k.seq) FILTER (WHERE k.deleted IS NULL AND k.disabled IS NOT NULL),
                count(k.seq) FILTER (WHERE k.deleted IS NULL AND k.disabled IS NULL
                                     AND k.expires IS NOT NULL AND k.expires <= $1),
                count(k.seq) FILTER (WHERE k.deleted IS NULL AND k.disabled IS NULL
                                     AND (k.expires IS NULL OR k.expires > $1))
         FROM keyctl.users u LEFT JOIN keyctl.keys k ON k.user_id = u.id
         GROUP BY u.id ORDER BY u.id",
        &[&now.0],
    )?;
    let site = db.site;
    rows.iter()
        .map(|row| {
            let name: String = get(site, row, 0, "name", "a user")?;
            let user = UserName::try_from(name.clone()).map_err(|why| {
                site.damaged(&format!("user {}", crate::names::shown(&name)), &why)
            })?;
            let count = |i: usize| -> Result<u64> {
                Ok(get::<i64>(site, row, i, "key count", &name)?
                    .max(0)
                    .unsigned_abs())
            };
            let created: i64 = get(site, row, 3, "creation time", &name)?;
            let removed: Option<i64> = get(site, row, 4, "removal time", &name)?;
            Ok(UserInfo {
                user,
                service: get(site, row, 1, "service mark", &name)?,
                password: get(site, row, 2, "password", &name)?,
                created: Timestamp(created),
                removed: removed.map(Timestamp),
                keys: KeyCounts {
                    revoked: count(5)?,
                    disabled: count(6)?,
                    expired: count(7)?,
                    active: count(8)?,
                },
            })
        })
        .collect()
}

/// One user's row id and service flag, or exit 3.
fn user_row<C: GenericClient>(db: &mut Db<'_, C>, user: &UserName) -> Result<(i64, bool)> {
    let row = db
        .opt(
            "SELECT id, service FROM keyctl.users WHERE name = $1",
            &[&user.as_str()],
        )?
        .ok_or_else(|| Error::NotFound(format!("no user {user}")))?;
    let what = format!("user {user}");
    Ok((
        get(db.site, &row, 0, "row number", &what)?,
        get(db.site, &row, 1, "service mark", &what)?,
    ))
}

/// Exit 3 unless the user exists.
fn known_user<C: GenericClient>(db: &mut Db<'_, C>, user: &UserName) -> Result<()> {
    match db.opt(
        "SELECT id FROM keyctl.users WHERE name = $1",
        &[&user.as_str()],
    )? {
        Some(_) => Ok(()),
        None => Err(Error::NotFound(format!(
            "no user {}",
            crate::names::shown(user.as_str())
        ))),
    }
}

/// Find a key (live or revoked), with its row number.
fn find<C: GenericClient>(
    db: &mut Db<'_, C>,
    r: &KeyRef,
    now: Timestamp,
) -> Result<Option<(i64, Key)>> {
    let base =
        format!("SELECT {KEY_COLUMNS} FROM keyctl.keys k JOIN keyctl.users u ON u.id = k.user_id");
    let row = match r {
        KeyRef::Id(id) => db.opt(&format!("{base} WHERE k.id = $1"), &[&id.as_str()])?,
        KeyRef::Named { user, name } => db.opt(
            &format!(
                "{base} WHERE u.name = $1 AND k.name = $2
                 ORDER BY k.deleted IS NOT NULL, k.seq DESC LIMIT 1"
            ),
            &[&user.as_str(), &name.as_str()],
        )?,
    };
    row.map(|row| key_from_row(db.site, &row, now)).transpose()
}

/// Whether the store holds any adopted secret: one step into a partial index each.
fn holds_adopted<C: GenericClient>(db: &mut Db<'_, C>) -> Result<bool> {
    Ok(db
        .one(
            "SELECT EXISTS (SELECT 1 FROM keyctl.keys WHERE adopted)
                 OR EXISTS (SELECT 1 FROM keyctl.superseded WHERE adopted)",
            &[],
        )?
        .get(0))
}

/// The key (other than `except`) that holds the adopted token with this digest: as its
/// current secret, or as an earlier one still in its grace at `now`.
fn adopted_by<C: GenericClient>(
    db: &mut Db<'_, C>,
    digest: &[u8; 32],
    except: Option<&KeyId>,
    now: Timestamp,
) -> Result<Option<KeyId>> {
    let except = except.map(|id| id.as_str());
    let row = db.opt(
        "SELECT id FROM keyctl.keys WHERE digest = $1 AND adopted AND id IS DISTINCT FROM $2::text
         UNION ALL
         SELECT k.id FROM keyctl.superseded s JOIN keyctl.keys k ON k.seq = s.key_seq
         WHERE s.digest = $1 AND s.adopted AND s.until > $3 AND k.id IS DISTINCT FROM $2::text
         LIMIT 1",
        &[&digest.as_slice(), &except, &now.0],
    )?;
    row.map(|r| decode::key_id(db.site, get(db.site, &r, 0, "id", "adopted")?))
        .transpose()
}

/// Earlier secrets of a key with their grace ends and whether each is adopted.
fn superseded_rows(
    db: &mut Db<'_, Transaction<'_>>,
    seq: i64,
    key: &str,
) -> Result<Vec<(Vec<u8>, i64, bool)>> {
    let rows = db.query(
        "SELECT digest, until, adopted FROM keyctl.superseded WHERE key_seq = $1 ORDER BY id",
        &[&seq],
    )?;
    rows.iter()
        .map(|r| {
            Ok((
                get(db.site, r, 0, "earlier digest", key)?,
                get(db.site, r, 1, "grace end", key)?,
                get(db.site, r, 2, "adopted mark", key)?,
            ))
        })
        .collect()
}

/// The user's id, creating the user if new; true when it was created.
fn user_id(
    db: &mut Db<'_, Transaction<'_>>,
    user: &UserName,
    now: Timestamp,
) -> Result<(i64, bool)> {
    let created = db.exec(
        "INSERT INTO keyctl.users(name, created) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        &[&user.as_str(), &now.0],
    )? == 1;
    let row = db.one(
        "SELECT id, removed FROM keyctl.users WHERE name = $1",
        &[&user.as_str()],
    )?;
    let what = format!("user {user}");
    let uid: i64 = get(db.site, &row, 0, "row number", &what)?;
    let removed: Option<i64> = get(db.site, &row, 1, "removal time", &what)?;
    if removed.is_some() {
        return Err(change::removed(user));
    }
    Ok((uid, created))
}

/// Insert an imported key as it was, at row `seq` (the key it replaces) or at the end.
/// Earlier secrets whose grace has ended are left out.
fn insert_record(
    db: &mut Db<'_, Transaction<'_>>,
    r: &KeyRecord,
    seq: Option<i64>,
    now: Timestamp,
) -> Result<()> {
    let k = &r.key;
    let (uid, _) = user_id(db, &k.user, now)?;
    // As for adopt: a grace that has ended no longer ties a token to its old key.
    for digest in r.adopted_digests(now) {
        db.exec(
            "DELETE FROM keyctl.superseded WHERE digest = $1 AND adopted AND until <= $2",
            &[&digest.0.as_slice(), &now.0],
        )?;
    }
    let time = |t: Option<Timestamp>| t.map(|t| t.0);
    let (name, description) = (
        k.name.as_ref().map(|n| n.as_str()),
        k.description.as_ref().map(|d| d.as_str()),
    );
    let params: [&(dyn ToSql + Sync); 14] = [
        &k.id.as_str(),
        &uid,
        &name,
        &description,
        &k.prefix.as_str(),
        &r.digest.0.as_slice(),
        &decode::join_paths(&k.paths),
        &k.created.0,
        &k.updated.0,
        &time(k.expires),
        &time(k.deleted),
        &time(k.disabled),
        &time(k.last_used),
        &k.adopted,
    ];
    match seq {
        Some(seq) => {
            let mut with_seq: Vec<&(dyn ToSql + Sync)> = vec![&seq];
            with_seq.extend_from_slice(&params);
            db.exec(
                "INSERT INTO keyctl.keys(seq, id, user_id, name, description, prefix, digest,
                                         paths, created, updated, expires, deleted, disabled,
                                         last_used, adopted)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                &with_seq,
            )?
        }
        None => db.exec(
            "INSERT INTO keyctl.keys(id, user_id, name, description, prefix, digest, paths,
                                     created, updated, expires, deleted, disabled, last_used,
                                     adopted)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            &params,
        )?,
    };
    let row = db.one(
        "SELECT seq FROM keyctl.keys WHERE id = $1",
        &[&k.id.as_str()],
    )?;
    let seq: i64 = get(db.site, &row, 0, "row number", &k.id)?;
    for earlier in r.earlier.iter().filter(|x| x.until > now) {
        db.exec(
            "INSERT INTO keyctl.superseded(key_seq, digest, until, adopted) VALUES ($1, $2, $3, $4)",
            &[
                &seq,
                &earlier.digest.0.as_slice(),
                &earlier.until.0,
                &earlier.adopted,
            ],
        )?;
    }
    Ok(())
}

/// Column `i` of `row`; a value keyctl cannot read there (a column retyped by another
/// program) is damage to the store, reported as the `what` of `key`.
fn get<'r, T: FromSql<'r>>(
    site: &Site,
    row: &'r Row,
    i: usize,
    what: &str,
    key: &str,
) -> Result<T> {
    row.try_get(i).map_err(|e| {
        site.damaged(
            &format!("the {what} of key {}", crate::names::shown(key)),
            &crate::names::escaped(&e.to_string()),
        )
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
    decode::text(site, what, key, get(site, row, i, what, key)?)
}

fn parsed_opt<T: TryFrom<String, Error = Invalid>>(
    site: &Site,
    row: &Row,
    i: usize,
    what: &str,
    key: &str,
) -> Result<Option<T>> {
    get::<Option<String>>(site, row, i, what, key)?
        .map(|t| decode::text(site, what, key, t))
        .transpose()
}

fn paths(site: &Site, row: &Row, i: usize, key: &str) -> Result<PathPrefixes> {
    decode::paths(site, key, get(site, row, i, "path prefixes", key)?)
}

fn key_from_row(site: &Site, row: &Row, now: Timestamp) -> Result<(i64, Key)> {
    let seq: i64 = get(site, row, 13, "row number", "?")?;
    let row_name = format!("in row {seq}");
    let raw_id: String = get(site, row, 0, "id", &row_name)?;
    let id: KeyId = parsed(site, row, 0, "id", &row_name)?;
    let key = raw_id.as_str();
    let time = |i: usize, what: &str| -> Result<Option<Timestamp>> {
        get::<Option<i64>>(site, row, i, what, key)?
            .map(|t| decode::checked_time(site, key, what, t))
            .transpose()
    };
    let expires = time(8, "expiry")?;
    let deleted = time(9, "revocation time")?;
    let disabled = time(10, "disabling time")?;
    let untils: Option<Vec<i64>> = get(site, row, 12, "grace end", key)?;
    let mut superseded: Vec<Timestamp> = untils
        .unwrap_or_default()
        .into_iter()
        .map(|t| decode::checked_time(site, key, "grace end", t))
        .filter(|t| t.as_ref().map_or(true, |t| *t > now))
        .collect::<Result<_>>()?;
    superseded.sort();
    let prefix: TokenPrefix = parsed(site, row, 4, "token prefix", key)?;
    let required = |t: Option<Timestamp>, what: &str| {
        t.ok_or_else(|| site.damaged(&format!("key {}", crate::names::shown(key)), &what))
    };
    Ok((
        seq,
        Key {
            user: parsed(site, row, 1, "user", key)?,
            name: parsed_opt(site, row, 2, "name", key)?,
            description: parsed_opt(site, row, 3, "description", key)?,
            prefix,
            paths: paths(site, row, 5, key)?,
            created: required(time(6, "creation time")?, "no creation time")?,
            updated: required(time(7, "change time")?, "no change time")?,
            expires,
            deleted,
            disabled,
            last_used: time(11, "last use")?,
            superseded,
            status: Key::status_at(expires, deleted, disabled, now),
            adopted: get(site, row, 14, "adopted mark", key)?,
            id,
        },
    ))
}
