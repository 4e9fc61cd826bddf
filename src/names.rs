//! Validated names: users, keys, descriptions, token prefixes and key ids.
//!
//! Each type can only hold a value that keyctl accepts, so the store, the verifier and the
//! server take these types and never re-check a string. Every one parses with `FromStr`
//! (clap uses that directly) and prints, serialises and compares as its text.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Invalid;

/// Longest user or key name.
pub const MAX_NAME_LEN: usize = 64;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 1000;

/// A value in an error message: escaped, shortened, and never a token.
pub(crate) fn shown(value: &str) -> String {
    if crate::token::contains_token(value) {
        return "(a value that looks like a token, not shown)".to_owned();
    }
    let mut out: String = value.chars().take(80).collect::<String>();
    if out.len() < value.len() {
        out.push('…');
    }
    format!("\"{}\"", out.escape_debug())
}

/// A path in a message: shown as text, with control characters escaped.
pub(crate) fn shown_path(path: &std::path::Path) -> String {
    escaped(&path.display().to_string())
}

/// Text from elsewhere (a path, a message of SQLite's quoting a damaged store) made safe
/// for a terminal: control characters escaped, nothing else changed.
pub(crate) fn escaped(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = Invalid;

            fn from_str(s: &str) -> Result<Self, Invalid> {
                let check: fn(&str) -> Result<(), Invalid> = $check;
                check(s).map(|()| $name(s.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = Invalid;

            fn try_from(s: String) -> Result<Self, Invalid> {
                let check: fn(&str) -> Result<(), Invalid> = $check;
                check(&s).map(|()| $name(s))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?
                    .try_into()
                    .map_err(serde::de::Error::custom)
            }
        }
    };
}

fn is_name(s: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b))
}

fn check_named(what: &str, s: &str) -> Result<(), Invalid> {
    if is_name(s) {
        Ok(())
    } else {
        Err(Invalid(format!(
            "invalid {what} {}: use 1 to {MAX_NAME_LEN} of A-Z a-z 0-9 . _ @ -",
            shown(s)
        )))
    }
}

text_type!(
    /// A user or service that owns keys: 1 to 64 of `A-Z a-z 0-9 . _ @ -`.
    UserName,
    |s| check_named("user", s)
);

text_type!(
    /// A key's name, unique among its user's live keys: the same alphabet as [`UserName`].
    KeyName,
    |s| check_named("key name", s)
);

text_type!(
    /// Free text about a key: at most 1000 characters, no control characters.
    Description,
    |s| {
        if s.chars().count() > MAX_DESCRIPTION_LEN {
            Err(Invalid(format!(
                "description is too long: at most {MAX_DESCRIPTION_LEN} characters"
            )))
        } else if s.chars().any(char::is_control) {
            Err(Invalid(
                "description must not contain control characters (newlines, tabs, escapes)".into(),
            ))
        } else {
            Ok(())
        }
    }
);

text_type!(
    /// The first part of every token of a key: 1 to 16 of `a-z 0-9` (`kc` by default).
    TokenPrefix,
    |s| {
        if crate::token::valid_prefix(s) {
            Ok(())
        } else {
            Err(Invalid(format!(
                "invalid token prefix {}: use 1 to 16 of a-z 0-9",
                shown(s)
            )))
        }
    }
);

text_type!(
    /// A key's public id: 8 to 24 of `A-Z a-z 0-9` (16 for keys keyctl creates).
    KeyId,
    |s| {
        if crate::token::valid_id(s) {
            Ok(())
        } else {
            Err(Invalid(format!(
                "invalid key id {}: use 8 to 24 letters and digits",
                shown(s)
            )))
        }
    }
);

impl Default for TokenPrefix {
    fn default() -> Self {
        TokenPrefix(crate::token::DEFAULT_PREFIX.to_owned())
    }
}

impl KeyId {
    /// A new random id from the OS random generator.
    pub(crate) fn random() -> Result<KeyId, crate::Error> {
        crate::token::random_base62(crate::token::ID_LEN).map(KeyId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["svc", "a.b_c@d-e", &"x".repeat(64)] {
            assert!(
                ok.parse::<UserName>().is_ok() && ok.parse::<KeyName>().is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "",
            "a b",
            "a/b",
            &"x".repeat(65),
            "'; DROP TABLE keys; --",
            "é",
        ] {
            let err = bad.parse::<UserName>().unwrap_err().to_string();
            assert!(err.starts_with("invalid user"), "{err}");
            assert!(bad.parse::<KeyName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes_and_ids() {
        assert_eq!("kc".parse::<TokenPrefix>().unwrap(), TokenPrefix::default());
        for bad in ["KC", "", "k_c", &"z".repeat(17)] {
            assert!(bad.parse::<TokenPrefix>().is_err(), "{bad}");
        }
        assert!("abcdEFG1".parse::<KeyId>().is_ok());
        assert!("abc".parse::<KeyId>().is_err() && "abcdefg-".parse::<KeyId>().is_err());
        assert!(KeyId::random().unwrap().as_str().len() == crate::token::ID_LEN);
    }

    #[test]
    fn descriptions() {
        assert!(
            "deploys from CI; owner: ops@example.com"
                .parse::<Description>()
                .is_ok()
        );
        assert!("a\nb".parse::<Description>().is_err());
        assert!("\u{1b}[31m".parse::<Description>().is_err());
        assert!("é".repeat(1000).parse::<Description>().is_ok());
        assert!("é".repeat(1001).parse::<Description>().is_err());
    }

    #[test]
    fn escaped_leaves_only_printable_text() {
        assert_eq!(escaped("a\u{1b}[31mb\n\u{9b}é"), "a\\u{1b}[31mb\\n\\u{9b}é");
    }

    #[test]
    fn errors_never_repeat_a_token() {
        let token = "kc_3fQm8WcJtP2a9LxZ_Ky9Pf34qY6Nb3wWD25RQ4F5ZR3qa7yEeeby3abP3E2Z31O7vJ";
        for err in [
            token.parse::<UserName>().unwrap_err(),
            format!("x {token}").parse::<KeyName>().unwrap_err(),
            token.parse::<TokenPrefix>().unwrap_err(),
            token.parse::<KeyId>().unwrap_err(),
        ] {
            assert!(!err.to_string().contains("Ky9Pf34q"), "{err}");
        }
    }

    #[test]
    fn serde_checks_on_the_way_in() {
        let user: UserName = serde_json::from_str("\"svc\"").unwrap();
        assert_eq!(serde_json::to_string(&user).unwrap(), "\"svc\"");
        assert!(serde_json::from_str::<UserName>("\"a b\"").is_err());
    }
}
