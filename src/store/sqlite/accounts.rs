//! Users and the audit log in the SQLite store: the rows behind `users.rs` and `audit.rs`.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::Value;

use super::file::Site;
use crate::audit::{self, Action, Event};
use crate::error::{Error, Result};
use crate::key::Key;
use crate::names::UserName;
use crate::store::decode::Damage;
use crate::store::{Account, EventFilter, KeyCounts, UserInfo};
use crate::time::Timestamp;
use crate::users::{Actor, PasswordHash};

/// Append one event to the log, chained to the last one, inside the transaction that makes
/// the change it records.
#[allow(clippy::too_many_arguments)]
pub(super) fn record(
    tx: &Transaction,
    site: &Site,
    now: Timestamp,
    actor: &Actor,
    action: Action,
    key: Option<&Key>,
    user: Option<&UserName>,
    details: Value,
) -> Result<()> {
    record_raw(
        tx,
        site,
        now,
        actor,
        action,
        key.map(|k| k.id.as_str()),
        user.or(key.map(|k| &k.user)).map(|u| u.as_str()),
        details,
    )
}

/// [`record`] for a key known only by its id and user (one that is gone already).
#[allow(clippy::too_many_arguments)]
pub(super) fn record_raw(
    tx: &Transaction,
    site: &Site,
    now: Timestamp,
    actor: &Actor,
    action: Action,
    key_id: Option<&str>,
    user: Option<&str>,
    details: Value,
) -> Result<()> {
    let e = |e| site.err(e);
    let last: Option<(i64, Vec<u8>)> = tx
        .prepare_cached("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(e)?;
    let (seq, previous) = match last {
        Some((seq, hash)) => {
            let previous: [u8; 32] = hash.try_into().map_err(|_| {
                site.damaged(&format!("audit event {seq}"), &"its hash is not 32 bytes")
            })?;
            (seq + 1, previous)
        }
        None => (1, audit::GENESIS),
    };
    let content = audit::canonical(seq, now, action, key_id, user, actor.as_str(), &details);
    let hash = audit::chain(&previous, &content);
    tx.prepare_cached(
        "INSERT INTO events(seq, time, action, key_id, user, actor, details, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut s| {
        s.execute(params![
            seq,
            now.0,
            action.as_str(),
            key_id,
            user,
            actor.as_str(),
            details.to_string(),
            hash.as_slice()
        ])
    })
    .map_err(e)?;
    Ok(())
}

/// Each event the filter keeps, in log order. A row that is not what keyctl writes is
/// still returned as well as it can be read, so that `log --check` can point at it.
pub(super) fn events(
    conn: &Connection,
    site: &Site,
    filter: &EventFilter,
    f: &mut dyn FnMut(Event) -> Result<()>,
) -> Result<()> {
    let e = |e| site.err(e);
    let mut stmt = conn
        .prepare(
            "SELECT seq, time, action, key_id, user, actor, details, hash FROM events
             WHERE (?1 IS NULL OR key_id = ?1) AND (?2 IS NULL OR user = ?2)
               AND (?3 IS NULL OR action = ?3) AND (?4 IS NULL OR time >= ?4)
             ORDER BY rowid",
        )
        .map_err(e)?;
    let mut rows = stmt
        .query(params![
            filter.key.as_ref().map(|k| k.as_str()),
            filter.user.as_ref().map(|u| u.as_str()),
            filter.action.map(Action::as_str),
            filter.since.map(|t| t.0)
        ])
        .map_err(e)?;
    while let Some(row) = rows.next().map_err(e)? {
        let text = |i: usize| -> Option<String> {
            match row.get_ref(i).ok()? {
                rusqlite::types::ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                _ => None,
            }
        };
        let action = text(2).and_then(|a| a.parse().ok()).ok_or_else(|| {
            site.damaged("an audit event", &"its action is not one keyctl records")
        })?;
        let hash: Vec<u8> = match row.get_ref(7).map_err(e)? {
            rusqlite::types::ValueRef::Blob(b) => b.to_vec(),
            _ => Vec::new(),
        };
        f(Event {
            seq: row.get::<_, Option<i64>>(0).ok().flatten().unwrap_or(-1),
            time: Timestamp(row.get::<_, Option<i64>>(1).ok().flatten().unwrap_or(-1)),
            action,
            key: text(3),
            user: text(4),
            actor: text(5).unwrap_or_default(),
            details: text(6)
                .and_then(|d| serde_json::from_str(&d).ok())
                .unwrap_or(Value::Null),
            hash: audit::hex(&hash),
        })?;
    }
    Ok(())
}

/// Every user with the counts of its keys by status at `now`.
pub(super) fn users(conn: &Connection, site: &Site, now: Timestamp) -> Result<Vec<UserInfo>> {
    let e = |e| site.err(e);
    let mut stmt = conn
        .prepare(
            "SELECT u.name, u.service, u.password IS NOT NULL, u.created, u.removed,
                    count(k.seq) FILTER (WHERE k.deleted IS NOT NULL),
                    count(k.seq) FILTER (WHERE k.deleted IS NULL AND k.disabled IS NOT NULL),
                    count(k.seq) FILTER (WHERE k.deleted IS NULL AND k.disabled IS NULL
                                         AND k.expires IS NOT NULL AND k.expires <= ?1),
                    count(k.seq) FILTER (WHERE k.deleted IS NULL AND k.disabled IS NULL
                                         AND (k.expires IS NULL OR k.expires > ?1))
             FROM users u LEFT JOIN keys k ON k.user_id = u.id
             GROUP BY u.id ORDER BY u.id",
        )
        .map_err(e)?;
    let mut rows = stmt.query([now.0]).map_err(e)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(e)? {
        let name: String = row.get(0).map_err(e)?;
        let user = UserName::try_from(name.clone())
            .map_err(|why| site.damaged(&format!("user {}", crate::names::shown(&name)), &why))?;
        let count = |i: usize| -> Result<u64> {
            Ok(row.get::<_, i64>(i).map_err(e)?.max(0).unsigned_abs())
        };
        out.push(UserInfo {
            user,
            service: row.get(1).map_err(e)?,
            password: row.get(2).map_err(e)?,
            created: Timestamp(row.get(3).map_err(e)?),
            removed: row.get::<_, Option<i64>>(4).map_err(e)?.map(Timestamp),
            keys: KeyCounts {
                revoked: count(5)?,
                disabled: count(6)?,
                expired: count(7)?,
                active: count(8)?,
            },
        });
    }
    Ok(out)
}

/// One user's row id, service flag and removal, or exit 3.
pub(super) fn user_row(tx: &Connection, site: &Site, user: &UserName) -> Result<(i64, bool)> {
    tx.query_row(
        "SELECT id, service FROM users WHERE name = ?1",
        [user.as_str()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(|e| site.err(e))?
    .ok_or_else(|| Error::NotFound(format!("no user {user}")))
}

/// The user's account as a password check needs it.
pub(super) fn account(conn: &Connection, site: &Site, user: &UserName) -> Result<Option<Account>> {
    let row: Option<(bool, Option<i64>, Option<String>)> = conn
        .query_row(
            "SELECT service, removed, password FROM users WHERE name = ?1",
            [user.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(|e| site.err(e))?;
    row.map(|(service, removed, password)| {
        let password = password
            .map(|p| {
                PasswordHash::parse(&p)
                    .map_err(|why| site.damaged(&format!("the password of user {user}"), &why))
            })
            .transpose()?;
        Ok(Account {
            service,
            removed: removed.is_some(),
            password,
        })
    })
    .transpose()
}
