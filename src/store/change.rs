//! What each change to existing keys and users does, decided once for every backend: a
//! backend finds rows and changes them, inside the write transaction it runs the change in.

use super::{
    Change, Issued, NewKey, Rotated, Undo, UndoKind, Updated, UserInfo, UserRemoved, Who, decode,
};
use crate::audit::Action;
use crate::error::{Error, Invalid, Result};
use crate::key::{Key, KeyRef};
use crate::names::{KeyId, KeyName, UserName};
use crate::time::{Duration, Timestamp};
use crate::token::{self, Digest, Token};
use crate::users::{Actor, PasswordHash};

/// An earlier secret of a key: its digest, the end of its grace, and whether it is an
/// adopted token.
pub(crate) type Earlier = (Vec<u8>, i64, bool);

/// A column of a key row that a change sets, with its new value.
pub(crate) enum Field {
    Disabled(Option<i64>),
    Expires(Option<i64>),
    Deleted(i64),
    Paths(Option<String>),
}

/// A new key's row.
pub(crate) struct KeyRow<'a> {
    pub id: &'a KeyId,
    /// The row number of its user.
    pub user: i64,
    pub new: &'a NewKey,
    pub digest: &'a [u8; 32],
    pub expires: Option<Timestamp>,
    pub adopted: bool,
    pub now: Timestamp,
}

/// The rows a change reads and writes, in the backend's write transaction.
pub(crate) trait WriteTx {
    /// A key, live or revoked, with its row number.
    fn find(&mut self, r: &KeyRef, now: Timestamp) -> Result<Option<(i64, Key)>>;
    /// Forget the earlier secrets of row `seq` whose grace is over at `now`.
    fn drop_ended(&mut self, seq: i64, now: Timestamp) -> Result<()>;
    /// The current secret of row `seq` (of key `id`): digest, change time, adopted.
    fn secret(&mut self, seq: i64, id: &KeyId) -> Result<(Vec<u8>, i64, bool)>;
    /// Set the current secret of row `seq`, with its change time.
    fn set_secret(&mut self, seq: i64, digest: &[u8], updated: i64, adopted: bool) -> Result<()>;
    /// The earlier secrets of row `seq` (of key `id`), oldest first.
    fn earlier(&mut self, seq: i64, id: &KeyId) -> Result<Vec<Earlier>>;
    /// Make `secrets` the earlier secrets of row `seq`, in place of any it had.
    fn set_earlier(&mut self, seq: i64, secrets: &[Earlier]) -> Result<()>;
    /// Set one column of row `seq`, and its change time to `now`.
    fn set(&mut self, seq: i64, field: Field, now: Timestamp) -> Result<()>;
    /// Remove row `seq` with its earlier secrets.
    fn delete_key(&mut self, seq: i64) -> Result<()>;
    /// The row number and user of key `id` while its current secret has this digest.
    fn holding(&mut self, id: &KeyId, digest: &[u8; 32]) -> Result<Option<(i64, i64)>>;
    /// Remove user `user` if no key of theirs is left.
    fn drop_user_if_keyless(&mut self, user: i64) -> Result<()>;
    /// The row number of key `id` if `prune` may remove it: revoked, or expired, before
    /// `cutoff`.
    fn prunable(&mut self, id: &KeyId, cutoff: i64) -> Result<Option<i64>>;
    /// The row number of user `user`, made if new (then true); refused when it was
    /// removed.
    fn user_id(&mut self, user: &UserName, now: Timestamp) -> Result<(i64, bool)>;
    /// The id of the live key named `name` of the user at row `user`.
    fn live_named(&mut self, user: i64, name: &KeyName) -> Result<Option<String>>;
    /// Insert a new key; false when its id is taken.
    fn insert_key(&mut self, row: &KeyRow) -> Result<bool>;
    /// Forget the earlier secrets with this digest that are adopted tokens whose grace is
    /// over at `now`: they no longer tie the token to their key.
    fn drop_ended_adopted(&mut self, digest: &[u8; 32], now: Timestamp) -> Result<()>;
    /// The key (other than `except`) that holds the adopted token with this digest: as
    /// its current secret, or as an earlier one still in its grace at `now`.
    fn adopted_by(
        &mut self,
        digest: &[u8; 32],
        except: Option<&KeyId>,
        now: Timestamp,
    ) -> Result<Option<KeyId>>;
    /// Add user `user`; false when the name is taken.
    fn insert_user(&mut self, user: &UserName, service: bool, now: Timestamp) -> Result<bool>;
    /// Bring back user `user` if it was removed; false when there is no such user.
    fn restore_user(&mut self, user: &UserName, service: bool) -> Result<bool>;
    /// The row number of user `user` and whether it is a service user; exit 3 when none.
    fn user_row(&mut self, user: &UserName) -> Result<(i64, bool)>;
    /// Set or clear the password of the user at row `user`.
    fn set_password(&mut self, user: i64, hash: Option<&PasswordHash>) -> Result<()>;
    /// The ids of the keys of the user at row `user`, revoked ones too when `all`, oldest
    /// first.
    fn user_keys(&mut self, user: i64, all: bool) -> Result<Vec<KeyId>>;
    /// Remove the user at row `user` with every key of theirs.
    fn purge_user(&mut self, user: i64) -> Result<()>;
    /// Revoke every live key of the user at row `user`, clear its password and mark it
    /// removed.
    fn remove_user(&mut self, user: i64, now: Timestamp) -> Result<()>;
    /// Every user as `user list` shows them.
    fn users(&mut self, now: Timestamp) -> Result<Vec<UserInfo>>;
    /// Append an event to the audit log.
    fn record(
        &mut self,
        now: Timestamp,
        actor: &Actor,
        action: Action,
        key: Option<&Key>,
        user: Option<&UserName>,
        details: serde_json::Value,
    ) -> Result<()>;
}

/// The audit details of a new key.
fn made(key: &Key) -> serde_json::Value {
    serde_json::json!({
        "name": key.name,
        "prefix": key.prefix,
        "paths": key.paths,
        "expires": key.expires,
    })
}

pub(crate) fn not_found(r: &KeyRef) -> Error {
    Error::NotFound(format!("no key {r}"))
}

/// The time before which a key must have been revoked or expired to be pruned.
pub(crate) fn cutoff(now: Timestamp, older_than: Duration) -> i64 {
    now.0.saturating_sub(older_than.secs())
}

/// A key that exists and is not revoked (management commands refuse revoked keys: exit 3).
/// Secrets superseded earlier whose grace has ended are deleted on the way: every write
/// to a key passes here.
fn live(tx: &mut impl WriteTx, r: &KeyRef, now: Timestamp) -> Result<(i64, Key)> {
    let (seq, key) = tx.find(r, now)?.ok_or_else(|| not_found(r))?;
    if key.deleted.is_some() {
        return Err(Error::NotFound(format!(
            "key {} is revoked; a revoked key cannot be changed (create a new one)",
            key.label()
        )));
    }
    tx.drop_ended(seq, now)?;
    Ok((seq, key))
}

/// A key as the transaction now has it.
fn reread(tx: &mut impl WriteTx, id: &KeyId, now: Timestamp) -> Result<Key> {
    tx.find(&KeyRef::Id(id.clone()), now)?
        .map(|(_, key)| key)
        .ok_or_else(|| Error::Store(format!("key {id} vanished during the update")))
}

/// A new secret for a live key; the one it replaces verifies until the grace ends.
pub(crate) fn reset(
    tx: &mut impl WriteTx,
    r: &KeyRef,
    grace: Option<Duration>,
    who: &Who,
    now: Timestamp,
) -> Result<Rotated> {
    let (seq, key) = live(tx, r, now)?;
    let token = token::generate(&key.prefix, &key.id)?;
    let until = grace
        .and_then(|g| now.plus(g.secs()))
        .map(|u| key.expires.map_or(u, |x| u.min(x)))
        .filter(|u| *u > now);
    let (previous, updated, previous_adopted) = tx.secret(seq, &key.id)?;
    let superseded = tx.earlier(seq, &key.id)?;
    // Only the secret being replaced gets a grace period: one old token at most. An
    // adopted token replaced with grace stays adopted: found by its digest.
    let kept: Vec<Earlier> = until
        .map(|u| (previous.clone(), u.0, previous_adopted))
        .into_iter()
        .collect();
    tx.set_earlier(seq, &kept)?;
    let digest = token.digest().0;
    tx.set_secret(seq, &digest, now.0, false)?;
    let undo = Undo(UndoKind::Reset {
        id: key.id.clone(),
        digest,
        previous,
        previous_adopted,
        superseded,
        updated,
    });
    let key = reread(tx, &key.id, now)?;
    let details = serde_json::json!({ "grace_until": until });
    tx.record(now, who.actor(), Action::Reset, Some(&key), None, details)?;
    Ok(Rotated {
        key,
        token,
        previous_until: until,
        undo,
    })
}

/// Disable, enable, expire, restrict or revoke a key.
pub(crate) fn update(
    tx: &mut impl WriteTx,
    r: &KeyRef,
    change: &Change,
    who: &Who,
    now: Timestamp,
) -> Result<Updated> {
    let (seq, key) = match change {
        Change::Revoke => {
            let found = tx.find(r, now)?.ok_or_else(|| not_found(r))?;
            if found.1.deleted.is_some() {
                return Ok(Updated {
                    key: found.1,
                    changed: false,
                });
            }
            found
        }
        _ => live(tx, r, now)?,
    };
    let field = match change {
        Change::Disabled(disable) if key.disabled.is_some() == *disable => {
            return Ok(Updated {
                key,
                changed: false,
            });
        }
        Change::Disabled(disable) => Field::Disabled(disable.then_some(now.0)),
        Change::Expiry(expiry) => Field::Expires(expiry.at(now)?.map(|t| t.0)),
        Change::Revoke => Field::Deleted(now.0),
        Change::Paths(paths) => Field::Paths(decode::join_paths(paths)),
    };
    tx.set(seq, field, now)?;
    let after = reread(tx, &key.id, now)?;
    let status = |key: &Key, after: &Key| serde_json::json!({ "status": { "old": key.status, "new": after.status } });
    let (action, details) = match change {
        Change::Disabled(true) => (Action::Disable, status(&key, &after)),
        Change::Disabled(false) => (Action::Enable, status(&key, &after)),
        Change::Revoke => (Action::Delete, status(&key, &after)),
        Change::Expiry(_) => (
            Action::Expire,
            serde_json::json!({ "expires": { "old": key.expires, "new": after.expires } }),
        ),
        Change::Paths(_) => (
            Action::Path,
            serde_json::json!({ "paths": { "old": key.paths, "new": after.paths } }),
        ),
    };
    tx.record(now, who.actor(), action, Some(&after), None, details)?;
    Ok(Updated {
        key: after,
        changed: true,
    })
}

/// Remove a key, live or revoked, for good.
pub(crate) fn purge(tx: &mut impl WriteTx, r: &KeyRef, who: &Who, now: Timestamp) -> Result<Key> {
    let (seq, key) = tx.find(r, now)?.ok_or_else(|| not_found(r))?;
    tx.delete_key(seq)?;
    let details = serde_json::json!({ "status": { "old": key.status, "new": "purged" } });
    tx.record(now, who.actor(), Action::Purge, Some(&key), None, details)?;
    Ok(key)
}

/// Remove those of `ids` that are still prunable; the ids removed.
pub(crate) fn prune(
    tx: &mut impl WriteTx,
    ids: &[KeyId],
    older_than: Duration,
    who: &Who,
    now: Timestamp,
) -> Result<Vec<KeyId>> {
    let mut removed = Vec::new();
    for id in ids {
        if let Some(seq) = tx.prunable(id, cutoff(now, older_than))? {
            let key = reread(tx, id, now)?;
            tx.delete_key(seq)?;
            let details = serde_json::json!({ "status": { "old": key.status, "new": "pruned" } });
            tx.record(now, who.actor(), Action::Prune, Some(&key), None, details)?;
            removed.push(id.clone());
        }
    }
    Ok(removed)
}

/// Take back a create or a reset whose token could not be delivered, unless the key was
/// changed since.
pub(crate) fn undo(tx: &mut impl WriteTx, undo: &Undo, who: &Who, now: Timestamp) -> Result<()> {
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
            let (seq, user) = tx.holding(id, digest)?.ok_or_else(|| changed_since(id))?;
            let key = reread(tx, id, now)?;
            tx.delete_key(seq)?;
            let details = serde_json::json!({ "undid": "create" });
            tx.record(now, who.actor(), Action::Undo, Some(&key), None, details)?;
            if *user_created {
                tx.drop_user_if_keyless(user)?;
            }
        }
        UndoKind::Reset {
            id,
            digest,
            previous,
            previous_adopted,
            superseded,
            updated,
        } => {
            let (seq, _) = tx.holding(id, digest)?.ok_or_else(|| changed_since(id))?;
            tx.set_secret(seq, previous, *updated, *previous_adopted)?;
            tx.set_earlier(seq, superseded)?;
            let key = reread(tx, id, now)?;
            let details = serde_json::json!({ "undid": "reset" });
            tx.record(now, who.actor(), Action::Undo, Some(&key), None, details)?;
        }
    }
    Ok(())
}

/// Keys made in one transaction, each with its token and how to undo it.
pub(crate) fn create_keys(
    tx: &mut impl WriteTx,
    keys: &[NewKey],
    action: Action,
    who: &Who,
    now: Timestamp,
) -> Result<Vec<Issued>> {
    keys.iter()
        .map(|new| {
            let (key, token, undo) = insert_key(tx, new, now, None)?;
            let token = token
                .ok_or_else(|| Error::Store(format!("key {} was made without a token", key.id)))?;
            tx.record(now, who.actor(), action, Some(&key), None, made(&key))?;
            Ok(Issued { key, token, undo })
        })
        .collect()
}

/// Keys for tokens other systems issued, known by their digests, in one transaction.
pub(crate) fn adopt_keys(
    tx: &mut impl WriteTx,
    keys: &[(NewKey, Digest)],
    who: &Who,
    now: Timestamp,
) -> Result<Vec<Key>> {
    let mut adopted = Vec::with_capacity(keys.len());
    for (new, digest) in keys {
        tx.drop_ended_adopted(&digest.0, now)?;
        if let Some(holder) = tx.adopted_by(&digest.0, None, now)? {
            let key = tx
                .find(&KeyRef::Id(holder), now)?
                .map(|(_, k)| k.label())
                .unwrap_or_default();
            return Err(Error::Invalid(format!(
                "this token is already adopted, by key {key}: a token belongs to one key (delete that key with --purge first to adopt it again)"
            )));
        }
        let key = insert_key(tx, new, now, Some(digest))?.0;
        tx.record(
            now,
            who.actor(),
            Action::Adopt,
            Some(&key),
            None,
            made(&key),
        )?;
        adopted.push(key);
    }
    Ok(adopted)
}

/// Insert one key: the user (created if new), the live-name check, and the key with a
/// fresh id and a new secret, or the `adopted` token's digest. Returns the key, its token
/// when keyctl made one, and how to undo the insert.
fn insert_key(
    tx: &mut impl WriteTx,
    new: &NewKey,
    now: Timestamp,
    adopted: Option<&Digest>,
) -> Result<(Key, Option<Token>, Undo)> {
    let expires = new.expires.at(now)?;
    if let Some(t) = expires.filter(|t| *t <= now) {
        return Err(Invalid(format!(
            "the expiry {t} is not in the future; the key would be born expired"
        ))
        .into());
    }
    let (user, user_created) = tx.user_id(&new.user, now)?;
    if let Some(name) = &new.name
        && let Some(id) = tx.live_named(user, name)?
    {
        return Err(Error::Invalid(format!(
            "user {} already has a key named {name} ({}); choose another --name or delete that key",
            new.user,
            crate::names::shown(&id)
        )));
    }
    loop {
        let id = KeyId::random()?;
        let (token, digest) = match adopted {
            Some(digest) => (None, digest.0),
            None => {
                let token = token::generate(&new.prefix, &id)?;
                let digest = token.digest().0;
                (Some(token), digest)
            }
        };
        let row = KeyRow {
            id: &id,
            user,
            new,
            digest: &digest,
            expires,
            adopted: adopted.is_some(),
            now,
        };
        // A clash of two random 95-bit ids is practically impossible; retry if it happens.
        if tx.insert_key(&row)? {
            let key = reread(tx, &id, now)?;
            let undo = Undo(UndoKind::Create {
                id,
                digest,
                user_created,
            });
            return Ok((key, token, undo));
        }
    }
}

/// One user as `user list` shows it.
fn user_info(tx: &mut impl WriteTx, user: &UserName, now: Timestamp) -> Result<UserInfo> {
    tx.users(now)?
        .into_iter()
        .find(|u| u.user == *user)
        .ok_or_else(|| Error::NotFound(format!("no user {user}")))
}

/// A key for a removed user is refused until the user is added again.
pub(crate) fn removed(user: &UserName) -> Error {
    Error::Invalid(format!(
        "user {user} was removed; `keyctl user add {user}` brings it back"
    ))
}

/// Add a user, or bring back a removed one.
pub(crate) fn user_add(
    tx: &mut impl WriteTx,
    user: &UserName,
    service: bool,
    who: &Who,
    now: Timestamp,
) -> Result<UserInfo> {
    if !tx.insert_user(user, service, now)? && !tx.restore_user(user, service)? {
        return Err(Error::Invalid(format!("user {user} exists already")));
    }
    let details = serde_json::json!({ "service": service });
    tx.record(now, who.actor(), Action::UserAdd, None, Some(user), details)?;
    user_info(tx, user, now)
}

/// Set or clear a user's password.
pub(crate) fn user_password(
    tx: &mut impl WriteTx,
    user: &UserName,
    hash: Option<&PasswordHash>,
    who: &Who,
    now: Timestamp,
) -> Result<UserInfo> {
    let (id, service) = tx.user_row(user)?;
    if service && hash.is_some() {
        return Err(Error::Invalid(format!(
            "{user} is a service user, and a service user never has a password"
        )));
    }
    tx.set_password(id, hash)?;
    let what = if hash.is_some() { "set" } else { "cleared" };
    let details = serde_json::json!({ "password": what });
    tx.record(
        now,
        who.actor(),
        Action::UserPasswd,
        None,
        Some(user),
        details,
    )?;
    user_info(tx, user, now)
}

/// Revoke (or purge) every key of a user, and the user with them.
pub(crate) fn user_remove(
    tx: &mut impl WriteTx,
    user: &UserName,
    purge: bool,
    who: &Who,
    now: Timestamp,
) -> Result<UserRemoved> {
    let (id, _) = tx.user_row(user)?;
    let keys = tx.user_keys(id, purge)?;
    if purge {
        tx.purge_user(id)?;
    } else {
        tx.remove_user(id, now)?;
    }
    let details = serde_json::json!({ "keys": keys, "purged": purge });
    tx.record(
        now,
        who.actor(),
        Action::UserRemove,
        None,
        Some(user),
        details,
    )?;
    Ok(UserRemoved {
        keys,
        purged: purge,
    })
}
