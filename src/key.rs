//! Keys as users see them: fields, status, names, and how a command names a key.

use serde::Serialize;

use crate::time::Timestamp;

/// Longest user or key name.
pub const MAX_NAME_LEN: usize = 64;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 1000;

/// Where a key stands, as computed at the time of reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Usable.
    Active,
    /// Past its expiry time.
    Expired,
    /// Deleted (revoked); kept for the record.
    Revoked,
    /// Switched off by `keyctl disable`; `keyctl enable` switches it back on.
    Disabled,
}

impl Status {
    /// The word used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Expired => "expired",
            Status::Revoked => "revoked",
            Status::Disabled => "disabled",
        }
    }
}

impl std::str::FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(Status::Active),
            "expired" => Ok(Status::Expired),
            "revoked" => Ok(Status::Revoked),
            "disabled" => Ok(Status::Disabled),
            _ => Err(format!(
                "invalid status \"{}\": use active, expired, revoked or disabled",
                s.escape_debug()
            )),
        }
    }
}

/// One key, without any secret material. This is the JSON shape of `list` and `show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Key {
    /// Public id, carried verbatim in the key's tokens.
    pub id: String,
    /// The user or service the key belongs to.
    pub user: String,
    /// Optional name, unique among the user's live keys.
    pub name: Option<String>,
    /// Optional free text.
    pub description: Option<String>,
    /// Token prefix.
    pub prefix: String,
    /// Request-path prefixes the key is restricted to (empty: unrestricted).
    pub paths: Vec<String>,
    /// When the key was created.
    pub created: Timestamp,
    /// When the key was last changed.
    pub updated: Timestamp,
    /// When the key expires (`None`: never).
    pub expires: Option<Timestamp>,
    /// When the key was revoked (`None`: not revoked).
    pub deleted: Option<Timestamp>,
    /// When the key was disabled (`None`: enabled).
    pub disabled: Option<Timestamp>,
    /// When a verification last succeeded, to within a minute (`None`: never).
    pub last_used: Option<Timestamp>,
    /// Grace ends of earlier secrets that still verify after a `reset --grace`.
    pub superseded: Vec<Timestamp>,
    /// Status at the time of reading.
    pub status: Status,
}

impl Key {
    /// Status of a key with these times, at `now`: revoked, else disabled, else expired.
    pub fn status_at(
        expires: Option<Timestamp>,
        deleted: Option<Timestamp>,
        disabled: Option<Timestamp>,
        now: Timestamp,
    ) -> Status {
        if deleted.is_some() {
            Status::Revoked
        } else if disabled.is_some() {
            Status::Disabled
        } else if expires.is_some_and(|e| e <= now) {
            Status::Expired
        } else {
            Status::Active
        }
    }

    /// `user/name` when named, else the id: how messages refer to the key.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{} ({}/{})", self.id, self.user, name),
            None => format!("{} ({})", self.id, self.user),
        }
    }
}

/// True for a valid user or key name: 1 to 64 of `[A-Za-z0-9._@-]`.
pub fn valid_name(s: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b))
}

/// Check a user name, with a message naming the value.
pub fn check_user(s: &str) -> Result<(), String> {
    check_named("user", s)
}

/// Check a key name, with a message naming the value.
pub fn check_name(s: &str) -> Result<(), String> {
    check_named("key name", s)
}

fn check_named(what: &str, s: &str) -> Result<(), String> {
    if valid_name(s) {
        Ok(())
    } else {
        Err(format!(
            "invalid {what} \"{}\": use 1 to {MAX_NAME_LEN} of A-Z a-z 0-9 . _ @ -",
            s.escape_debug()
        ))
    }
}

/// Check a description: at most 1000 characters, no control characters.
pub fn check_description(s: &str) -> Result<(), String> {
    if s.chars().count() > MAX_DESCRIPTION_LEN {
        Err(format!(
            "description is too long: at most {MAX_DESCRIPTION_LEN} characters"
        ))
    } else if s.chars().any(char::is_control) {
        Err("description must not contain control characters (newlines, tabs, escapes)".into())
    } else {
        Ok(())
    }
}

/// How a command names a key: its id, or `USER/NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// The key's public id.
    Id(String),
    /// A user's named key.
    Named {
        /// The user.
        user: String,
        /// The key's name.
        name: String,
    },
}

impl std::str::FromStr for KeyRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((user, name)) = s.split_once('/') {
            if valid_name(user) && valid_name(name) {
                return Ok(KeyRef::Named {
                    user: user.into(),
                    name: name.into(),
                });
            }
        } else if crate::token::valid_id(s) {
            return Ok(KeyRef::Id(s.into()));
        }
        Err(format!(
            "invalid key \"{}\": give a key id (8 to 24 letters and digits) or USER/NAME",
            s.escape_debug()
        ))
    }
}

impl std::fmt::Display for KeyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyRef::Id(id) => f.write_str(id),
            KeyRef::Named { user, name } => write!(f, "{user}/{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("svc") && valid_name("a.b_c@d-e") && valid_name(&"x".repeat(64)));
        assert!(
            !valid_name("")
                && !valid_name("a b")
                && !valid_name("a/b")
                && !valid_name(&"x".repeat(65))
        );
        assert!(!valid_name("'; DROP TABLE keys; --"));
    }

    #[test]
    fn key_refs() {
        assert_eq!(
            "abcdEFGH1234".parse(),
            Ok(KeyRef::Id("abcdEFGH1234".into()))
        );
        assert_eq!(
            "svc/deploy".parse(),
            Ok(KeyRef::Named {
                user: "svc".into(),
                name: "deploy".into()
            })
        );
        for bad in ["", "abc", "svc/", "/x", "a/b/c", "svc/de ploy", "kc_abc"] {
            assert!(bad.parse::<KeyRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn status() {
        let now = Timestamp(100);
        let t = |n| Some(Timestamp(n));
        assert_eq!(Key::status_at(None, None, None, now), Status::Active);
        assert_eq!(Key::status_at(t(101), None, None, now), Status::Active);
        assert_eq!(Key::status_at(t(100), None, None, now), Status::Expired);
        assert_eq!(Key::status_at(t(100), None, t(1), now), Status::Disabled);
        assert_eq!(Key::status_at(t(101), t(1), t(1), now), Status::Revoked);
        for s in ["active", "expired", "revoked", "disabled"] {
            assert_eq!(s.parse::<Status>().unwrap().as_str(), s);
        }
        assert!("deleted".parse::<Status>().is_err());
    }

    #[test]
    fn descriptions() {
        assert!(check_description("deploys from CI; owner: ops@example.com").is_ok());
        assert!(check_description("a\nb").is_err() && check_description("\u{1b}[31m").is_err());
        assert!(check_description(&"é".repeat(1000)).is_ok());
        assert!(check_description(&"é".repeat(1001)).is_err());
    }
}
