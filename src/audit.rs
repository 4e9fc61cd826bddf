//! The audit log: one event per change, chained by hashes so that tampering shows.
//!
//! Each event stores the SHA-256 of the previous event's hash followed by its own
//! canonical content (its number, time, action, key, user, actor and what changed, as
//! JSON with a fixed field order and sorted keys). Changing, removing, reordering or
//! inserting any event breaks the chain from there on; rewriting the whole chain is caught
//! by comparing the head hash with one recorded elsewhere. An event never holds a token,
//! a secret, a digest or a password.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::time::Timestamp;

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// A key was created.
    Create,
    /// A token another system issued was adopted as a key.
    Adopt,
    /// A key got a new secret.
    Reset,
    /// A key's expiry was set or cleared.
    Expire,
    /// A key's path prefixes were replaced.
    Path,
    /// A key was disabled.
    Disable,
    /// A key was enabled.
    Enable,
    /// A key was revoked.
    Delete,
    /// A key was removed entirely.
    Purge,
    /// Keys revoked or expired long ago were removed.
    Prune,
    /// A create or reset was taken back because its token could not be delivered.
    Undo,
    /// A user was added.
    UserAdd,
    /// A user's keys were revoked or purged, and the user removed.
    UserRemove,
    /// A user's password was set or cleared.
    UserPasswd,
    /// A user logged in over HTTP and got a key.
    Login,
    /// Keys were imported.
    Import,
}

impl Action {
    /// Every action, in the order documented.
    pub const ALL: [Action; 16] = [
        Action::Create,
        Action::Adopt,
        Action::Reset,
        Action::Expire,
        Action::Path,
        Action::Disable,
        Action::Enable,
        Action::Delete,
        Action::Purge,
        Action::Prune,
        Action::Undo,
        Action::UserAdd,
        Action::UserRemove,
        Action::UserPasswd,
        Action::Login,
        Action::Import,
    ];

    /// The word used in output and in `keyctl log --action`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Adopt => "adopt",
            Action::Reset => "reset",
            Action::Expire => "expire",
            Action::Path => "path",
            Action::Disable => "disable",
            Action::Enable => "enable",
            Action::Delete => "delete",
            Action::Purge => "purge",
            Action::Prune => "prune",
            Action::Undo => "undo",
            Action::UserAdd => "user_add",
            Action::UserRemove => "user_remove",
            Action::UserPasswd => "user_passwd",
            Action::Login => "login",
            Action::Import => "import",
        }
    }
}

impl std::str::FromStr for Action {
    type Err = crate::error::Invalid;

    fn from_str(s: &str) -> Result<Action, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                crate::error::Invalid(format!(
                    "invalid action {}: use one of {}",
                    crate::names::shown(s),
                    Action::ALL.map(Action::as_str).join(", ")
                ))
            })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the log, from 1.
    pub seq: i64,
    /// When the change was committed.
    pub time: Timestamp,
    /// What was done.
    pub action: Action,
    /// The key changed, when one was.
    pub key: Option<String>,
    /// The user whose key (or account) it was.
    pub user: Option<String>,
    /// Who made the change.
    pub actor: String,
    /// What changed: old and new values (expiry, paths, status, ids pruned), never a
    /// secret.
    pub details: serde_json::Value,
    /// This event's hash, hex: SHA-256 of the previous hash and this event's content.
    pub hash: String,
}

/// The hash before the first event.
pub const GENESIS: [u8; 32] = [0; 32];

/// The canonical content of an event: what its hash covers.
pub fn canonical(
    seq: i64,
    time: Timestamp,
    action: Action,
    key: Option<&str>,
    user: Option<&str>,
    actor: &str,
    details: &serde_json::Value,
) -> String {
    // serde_json's maps keep keys sorted, so the same event always gives the same text.
    serde_json::json!([seq, time.0, action.as_str(), key, user, actor, details]).to_string()
}

/// The hash of an event with this content after an event whose hash was `previous`.
pub fn chain(previous: &[u8; 32], content: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(previous);
    h.update(content.as_bytes());
    h.finalize().into()
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What walking the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Every event is where it should be; `head` is the last hash (the genesis hash for
    /// an empty log).
    Intact {
        /// How many events.
        events: u64,
        /// The last event's hash, hex.
        head: String,
    },
    /// The first event that does not fit.
    Broken {
        /// Its position in the walk, from 1.
        position: u64,
        /// Its recorded number.
        seq: i64,
        /// What is wrong.
        why: String,
    },
}

/// Walk events in log order and check each against its predecessor.
pub fn check<'a>(events: impl IntoIterator<Item = &'a Event>) -> Check {
    let mut previous = GENESIS;
    let mut count = 0u64;
    for event in events {
        count += 1;
        let broken = |why: String| Check::Broken {
            position: count,
            seq: event.seq,
            why,
        };
        if event.seq != count as i64 {
            return broken(format!(
                "it is numbered {} where event {count} belongs (an event was removed, inserted or moved)",
                event.seq
            ));
        }
        let content = canonical(
            event.seq,
            event.time,
            event.action,
            event.key.as_deref(),
            event.user.as_deref(),
            &event.actor,
            &event.details,
        );
        let expected = chain(&previous, &content);
        if hex(&expected) != event.hash {
            return broken(
                "its hash does not match its content and the event before it (it, or an event before it, was changed)".into(),
            );
        }
        previous = expected;
    }
    Check::Intact {
        events: count,
        head: hex(&previous),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: i64) -> Vec<Event> {
        let mut previous = GENESIS;
        (1..=n)
            .map(|seq| {
                let details = serde_json::json!({"expires": {"old": null, "new": seq}});
                let content = canonical(
                    seq,
                    Timestamp(1000 + seq),
                    Action::Expire,
                    Some("abcdefgh12345678"),
                    Some("svc"),
                    "ci",
                    &details,
                );
                previous = chain(&previous, &content);
                Event {
                    seq,
                    time: Timestamp(1000 + seq),
                    action: Action::Expire,
                    key: Some("abcdefgh12345678".into()),
                    user: Some("svc".into()),
                    actor: "ci".into(),
                    details,
                    hash: hex(&previous),
                }
            })
            .collect()
    }

    #[test]
    fn an_untouched_log_is_intact_and_any_change_breaks_it() {
        let events = log(5);
        let Check::Intact { events: n, head } = check(&events) else {
            panic!("intact")
        };
        assert_eq!((n, head.as_str()), (5, events[4].hash.as_str()));
        assert_eq!(
            check(&[]),
            Check::Intact {
                events: 0,
                head: hex(&GENESIS)
            }
        );
        for i in 0..5 {
            let mut changed = events.clone();
            changed[i].actor = "mallory".into();
            assert!(
                matches!(check(&changed), Check::Broken { position, .. } if position == i as u64 + 1)
            );
            let mut removed = events.clone();
            removed.remove(i);
            if i < 4 {
                assert!(matches!(check(&removed), Check::Broken { .. }));
            } else {
                assert!(
                    matches!(check(&removed), Check::Intact { events: 4, .. }),
                    "a cut end needs the head to be seen"
                );
            }
            let mut swapped = events.clone();
            swapped.swap(i, (i + 1) % 5);
            assert!(matches!(check(&swapped), Check::Broken { .. }));
        }
    }

    #[test]
    fn actions_round_trip() {
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>().unwrap(), a);
        }
        assert!("rotate".parse::<Action>().is_err());
    }
}
