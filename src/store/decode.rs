//! Values read back from a store, checked by their library types the same way in every
//! backend: a value keyctl would never have written is damage to the store, reported with
//! the store's name, the key and the field.

use std::fmt::Display;

use crate::error::{Error, Invalid, Result};
use crate::names::{KeyId, shown};
use crate::paths::{PathPrefix, PathPrefixes};
use crate::store::EarlierSecret;
use crate::time::{MAX_TIMESTAMP, Timestamp};
use crate::token::Digest;

/// A store that can say it holds a value keyctl did not write.
pub(crate) trait Damage {
    /// The store's name, as messages show it.
    fn shown(&self) -> &str;

    /// `what` (a field of a key, say) holds a value keyctl did not write, because `why`.
    fn damaged(&self, what: &str, why: &dyn Display) -> Error {
        Error::Store(format!(
            "store {} holds a value keyctl did not write ({what}: {why}); it was changed by another program, fix or remove that row",
            self.shown()
        ))
    }
}

/// A time as keyctl writes it.
pub(crate) fn checked_time(site: &impl Damage, key: &str, what: &str, t: i64) -> Result<Timestamp> {
    if (0..=MAX_TIMESTAMP).contains(&t) {
        Ok(Timestamp(t))
    } else {
        Err(site.damaged(
            &format!("the {what} of key {}", shown(key)),
            &format!("{t} is not a time between 1970 and 9999"),
        ))
    }
}

/// Text checked by its library type: the `what` of `key`.
pub(crate) fn text<T: TryFrom<String, Error = Invalid>>(
    site: &impl Damage,
    what: &str,
    key: &str,
    text: String,
) -> Result<T> {
    T::try_from(text)
        .map_err(|why| site.damaged(&format!("the {what} of key {}", shown(key)), &why))
}

/// A key id.
pub(crate) fn key_id(site: &impl Damage, id: String) -> Result<KeyId> {
    KeyId::try_from(id.clone()).map_err(|why| site.damaged(&format!("key id {}", shown(&id)), &why))
}

/// A digest as keyctl keeps it: 32 bytes.
pub(crate) fn digest(site: &impl Damage, bytes: Vec<u8>, key: &str) -> Result<Digest> {
    <[u8; 32]>::try_from(bytes.as_slice())
        .map(Digest)
        .map_err(|_| {
            site.damaged(
                &format!("the secret digest of key {}", shown(key)),
                &format!("{} bytes instead of 32", bytes.len()),
            )
        })
}

/// Path prefixes as stored: none, or each on a line of its own (a prefix never contains
/// whitespace).
pub(crate) fn paths(site: &impl Damage, key: &str, joined: Option<String>) -> Result<PathPrefixes> {
    let damaged =
        |why: &dyn Display| site.damaged(&format!("the path prefixes of key {}", shown(key)), why);
    let list = joined
        .iter()
        .flat_map(|p| p.split('\n'))
        .map(|p| p.parse::<PathPrefix>())
        .collect::<Result<Vec<_>, Invalid>>()
        .map_err(|why| damaged(&why))?;
    PathPrefixes::new(list).map_err(|why| damaged(&why))
}

/// Path prefixes as they are stored (see [`paths`]).
pub(crate) fn join_paths(paths: &PathPrefixes) -> Option<String> {
    (!paths.is_empty()).then(|| paths.join("\n"))
}

/// The earlier secrets of key `key` still in their grace at `now`, from their rows:
/// digest, grace end, adopted.
pub(crate) fn earlier(
    site: &impl Damage,
    key: &KeyId,
    rows: impl IntoIterator<Item = (Vec<u8>, i64, bool)>,
    now: Timestamp,
) -> Result<Vec<EarlierSecret>> {
    let mut earlier = Vec::new();
    for (d, until, adopted) in rows {
        let until = checked_time(site, key, "grace end", until)?;
        if until > now {
            earlier.push(EarlierSecret {
                digest: digest(site, d, key)?,
                until,
                adopted,
            });
        }
    }
    Ok(earlier)
}
