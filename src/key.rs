//! Keys as users see them: fields, status, names, and how a command names a key.

use serde::{Deserialize, Serialize};

use crate::error::Invalid;
use crate::names::{Description, KeyId, KeyName, TokenPrefix, UserName, shown};
use crate::paths::PathPrefixes;
use crate::time::Timestamp;

/// Where a key stands, as computed at the time of reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

impl Status {
    /// Every status, in the order documented.
    pub const ALL: [Status; 4] = [
        Status::Active,
        Status::Expired,
        Status::Revoked,
        Status::Disabled,
    ];
}

impl std::str::FromStr for Status {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Invalid> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                Invalid(format!(
                    "invalid status {}: use active, expired, revoked or disabled",
                    shown(s)
                ))
            })
    }
}

/// One key, without any secret material. This is the JSON shape of `list` and `show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Key {
    /// Public id, carried verbatim in the key's tokens.
    pub id: KeyId,
    /// The user or service the key belongs to.
    pub user: UserName,
    /// Optional name, unique among the user's live keys.
    pub name: Option<KeyName>,
    /// Optional free text.
    pub description: Option<Description>,
    /// Token prefix.
    pub prefix: TokenPrefix,
    /// Request-path prefixes the key is restricted to (empty: unrestricted).
    pub paths: PathPrefixes,
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
    /// True when the current secret is a token another system issued, adopted with
    /// `keyctl adopt` (or imported as such); a `reset` gives the key a keyctl token.
    pub adopted: bool,
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

/// How a command names a key: its id, `USER/NAME`, or one of its tokens (whose id part
/// names the key; the secret is neither checked nor kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// The key's public id.
    Id(KeyId),
    /// A user's named key.
    Named {
        /// The user.
        user: UserName,
        /// The key's name.
        name: KeyName,
    },
}

impl std::str::FromStr for KeyRef {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Invalid> {
        if let Some(parsed) = crate::token::parse(s) {
            return Ok(KeyRef::Id(KeyId::try_from(parsed.id.to_owned())?));
        }
        if let Some((user, name)) = s.split_once('/')
            && let (Ok(user), Ok(name)) = (user.parse(), name.parse())
        {
            return Ok(KeyRef::Named { user, name });
        }
        if let Ok(id) = s.parse() {
            return Ok(KeyRef::Id(id));
        }
        let why = if crate::token::contains_token(s) {
            "it looks like a token, but a damaged one (not shown)".to_owned()
        } else {
            format!("{} is neither", shown(s))
        };
        Err(Invalid(format!(
            "invalid key: {why}; give a key id (8 to 24 letters and digits), USER/NAME, or a token of the key"
        )))
    }
}

impl std::fmt::Display for KeyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyRef::Id(id) => f.write_str(id.as_str()),
            KeyRef::Named { user, name } => write!(f, "{user}/{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_refs() {
        let id = |s: &str| KeyRef::Id(s.parse().unwrap());
        assert_eq!("abcdEFGH1234".parse(), Ok(id("abcdEFGH1234")));
        assert_eq!(
            "svc/deploy".parse(),
            Ok(KeyRef::Named {
                user: "svc".parse().unwrap(),
                name: "deploy".parse().unwrap()
            })
        );
        for bad in ["", "abc", "svc/", "/x", "a/b/c", "svc/de ploy", "kc_abc"] {
            assert!(bad.parse::<KeyRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_token_names_its_key_and_is_never_repeated() {
        let token = "kc_3fQm8WcJtP2a9LxZ_Ky9Pf34qY6Nb3wWD25RQ4F5ZR3qa7yEeeby3abP3E2Z31O7vJ";
        assert_eq!(
            token.parse(),
            Ok(KeyRef::Id("3fQm8WcJtP2a9LxZ".parse().unwrap()))
        );
        let damaged = &token[..token.len() - 1];
        let err = damaged.parse::<KeyRef>().unwrap_err().to_string();
        assert!(!err.contains("Ky9Pf34q") && err.contains("token"), "{err}");
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
}
