//! Where a store is: a file, or a PostgreSQL database named by a URL.
//!
//! `--db` and `KEYCTL_DB` take either. A value starting `postgresql://` or `postgres://` is
//! a database; anything else is a path. A URL may carry a password: it is kept only to
//! connect, and every way of showing a location ([`Location::shown`], `Debug`) leaves it
//! out.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

/// A store's location.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file.
    File(PathBuf),
    /// A PostgreSQL database.
    Postgres(PgUrl),
}

impl Location {
    /// A path, or a `postgresql://`/`postgres://` URL.
    pub fn parse(value: &OsStr) -> Location {
        match value.to_str().and_then(PgUrl::parse) {
            Some(url) => Location::Postgres(url),
            None => Location::File(PathBuf::from(value)),
        }
    }

    /// The location for messages: an escaped path, or the URL without its password.
    pub fn shown(&self) -> String {
        match self {
            Location::File(path) => crate::names::shown_path(path),
            Location::Postgres(url) => url.shown(),
        }
    }

    /// The file, for a file store.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Location::File(path) => Some(path),
            Location::Postgres(_) => None,
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File(path) => f.debug_tuple("File").field(path).finish(),
            Location::Postgres(url) => f.debug_tuple("Postgres").field(url).finish(),
        }
    }
}

impl From<&Path> for Location {
    fn from(path: &Path) -> Location {
        Location::File(path.to_owned())
    }
}

impl From<&PathBuf> for Location {
    fn from(path: &PathBuf) -> Location {
        Location::File(path.clone())
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Location {
        Location::File(path)
    }
}

impl From<&Location> for Location {
    fn from(l: &Location) -> Location {
        l.clone()
    }
}

impl From<PgUrl> for Location {
    fn from(url: PgUrl) -> Location {
        Location::Postgres(url)
    }
}

/// A `postgresql://` or `postgres://` URL as given, which may hold a password. Its `Debug`
/// and [`PgUrl::shown`] never show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl {
    raw: String,
}

impl PgUrl {
    /// The URL, when `s` starts with `postgresql://` or `postgres://`; what it holds is
    /// checked when a store is opened.
    pub fn parse(s: &str) -> Option<PgUrl> {
        (s.starts_with("postgresql://") || s.starts_with("postgres://"))
            .then(|| PgUrl { raw: s.to_owned() })
    }

    /// The URL as given, password and all: only for connecting.
    pub fn expose(&self) -> &str {
        &self.raw
    }

    /// The password in the URL, percent-decoded, if it has one (in the user part, or as a
    /// `password` parameter): what messages must never repeat.
    pub fn passwords(&self) -> Vec<String> {
        let mut found = Vec::new();
        if let Some((start, end)) = self.password_span() {
            found.push(self.raw[start..end].to_owned());
        }
        if let Some((_, query)) = self.raw.split_once('?') {
            for pair in query.split('&') {
                if let Some((k, v)) = pair.split_once('=')
                    && decode(k) == "password"
                {
                    found.push(v.to_owned());
                }
            }
        }
        let decoded: Vec<String> = found.iter().map(|p| decode(p)).collect();
        found.extend(decoded);
        found.retain(|p| !p.is_empty());
        found.sort();
        found.dedup();
        found
    }

    /// Byte range of the password in `user:password@`, if any.
    fn password_span(&self) -> Option<(usize, usize)> {
        let after = self.raw.find("://")? + 3;
        let rest = &self.raw[after..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let at = authority.rfind('@')?;
        let colon = authority[..at].find(':')?;
        Some((after + colon + 1, after + at))
    }

    /// The URL for messages: without its password, control characters escaped.
    pub fn shown(&self) -> String {
        let mut text = match self.password_span() {
            Some((start, end)) => format!("{}{}", &self.raw[..start - 1], &self.raw[end..]),
            None => self.raw.clone(),
        };
        if let Some((base, query)) = text.split_once('?') {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|pair| decode(pair.split('=').next().unwrap_or("")) != "password")
                .collect();
            text = if kept.is_empty() {
                base.to_owned()
            } else {
                format!("{base}?{}", kept.join("&"))
            };
        }
        let text = crate::names::escaped(&text);
        // A password percent-encoded some other way than it was found still goes.
        self.passwords()
            .iter()
            .fold(text, |t, p| t.replace(p.as_str(), "***"))
    }

    /// `message` with every occurrence of the URL's password replaced.
    pub fn scrub(&self, message: &str) -> String {
        self.passwords()
            .iter()
            .fold(message.to_owned(), |t, p| t.replace(p.as_str(), "***"))
    }
}

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PgUrl").field(&self.shown()).finish()
    }
}

/// Percent-decoding, lossy.
pub(crate) fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_databases_and_anything_else_a_path() {
        for url in [
            "postgresql://u@h/db",
            "postgres://h",
            "postgresql:///db?host=/run",
        ] {
            assert!(matches!(
                Location::parse(OsStr::new(url)),
                Location::Postgres(_)
            ));
        }
        for path in [
            "keys.db",
            "/srv/postgresql/keys.db",
            "postgresql:/x",
            "pg://h",
        ] {
            assert_eq!(
                Location::parse(OsStr::new(path)),
                Location::File(PathBuf::from(path))
            );
        }
    }

    #[test]
    fn the_password_is_never_shown() {
        let url = PgUrl::parse(
            "postgresql://kc:s3cr%65t@db.example:5432/keys?sslmode=require&password=other",
        )
        .unwrap();
        assert_eq!(
            url.shown(),
            "postgresql://kc@db.example:5432/keys?sslmode=require"
        );
        let debug = format!("{:?}", Location::Postgres(url.clone()));
        for secret in ["s3cr%65t", "s3cret", "other"] {
            assert!(!debug.contains(secret), "{debug}");
            assert!(!url.shown().contains(secret));
        }
        assert_eq!(url.scrub("bad s3cret and other"), "bad *** and ***");
        let plain = PgUrl::parse("postgres://kc@h/db").unwrap();
        assert_eq!(plain.shown(), "postgres://kc@h/db");
        assert!(plain.passwords().is_empty());
        // A colon after the @ is a port, not a password.
        let port = PgUrl::parse("postgres://h:5433/db").unwrap();
        assert_eq!(port.shown(), "postgres://h:5433/db");
    }
}
