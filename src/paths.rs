//! Path-prefix restrictions: validating prefixes and matching request paths against them.
//!
//! - `/api` allows `/api` and `/api/...`, not `/apix` (prefixes end on a segment boundary);
//! - `/api/` allows `/api/...`;
//! - `=/exact` allows exactly `/exact`.
//!
//! A request path's query string and fragment are ignored. Percent-encoded characters are
//! decoded before matching, except that a path with a `.` or `..` segment (also written
//! `%2e`), an encoded slash or backslash, or a control character is never allowed.

use std::fmt;
use std::str::FromStr;

use percent_encoding::percent_decode_str;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Invalid;

/// Longest accepted prefix, in bytes.
pub const MAX_PREFIX_LEN: usize = 1024;
/// Most prefixes one key may have.
pub const MAX_PREFIXES: usize = 64;

/// Check a prefix as given by the user: `/...` or `=/...`, no whitespace or control
/// characters, no dot segments.
pub fn validate_prefix(prefix: &str) -> Result<(), String> {
    let shown = prefix.escape_debug();
    let path = prefix.strip_prefix('=').unwrap_or(prefix);
    if !path.starts_with('/') {
        return Err(format!(
            "invalid path prefix \"{shown}\": it must start with / (or =/ for an exact path)"
        ));
    }
    if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "invalid path prefix \"{shown}\": whitespace and control characters are not allowed"
        ));
    }
    // Matching ignores a request's query and fragment, so `/a?b` or `/#x` would silently
    // widen to `/a` or `/`.
    if prefix.contains(['?', '#']) {
        return Err(format!(
            "invalid path prefix \"{shown}\": ? and # are not allowed (query strings and fragments are ignored when matching)"
        ));
    }
    if prefix.len() > MAX_PREFIX_LEN {
        return Err(format!(
            "invalid path prefix: longer than {MAX_PREFIX_LEN} bytes"
        ));
    }
    if normalize(path).is_none() {
        return Err(format!(
            "invalid path prefix \"{shown}\": dot segments and encoded slashes can never match"
        ));
    }
    Ok(())
}

/// Decode a request path for matching; `None` when it may never be allowed.
fn normalize(raw: &str) -> Option<Vec<u8>> {
    let path = raw.split(['?', '#']).next().unwrap_or_default();
    if !path.starts_with('/') {
        return None;
    }
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || path.contains('\\') {
        return None;
    }
    let decoded: Vec<u8> = percent_decode_str(path).collect();
    if decoded.iter().any(|b| b.is_ascii_control()) {
        return None;
    }
    if decoded
        .split(|&b| b == b'/')
        .any(|seg| seg == b"." || seg == b"..")
    {
        return None;
    }
    Some(decoded)
}

/// Whether `request_path` is allowed by one of `prefixes`. An empty list allows everything.
pub fn allows<P: AsRef<str>>(prefixes: &[P], request_path: &str) -> bool {
    if prefixes.is_empty() {
        return true;
    }
    let Some(path) = normalize(request_path) else {
        return false;
    };
    prefixes.iter().any(|prefix| {
        let prefix = prefix.as_ref();
        let (exact, p) = match prefix.strip_prefix('=') {
            Some(p) => (true, p),
            None => (false, prefix),
        };
        let Some(p) = normalize(p) else {
            return false;
        };
        if exact {
            path == p
        } else if p.ends_with(b"/") {
            path.starts_with(&p)
        } else {
            path == p || (path.starts_with(&p) && path.get(p.len()) == Some(&b'/'))
        }
    })
}

/// One request-path prefix a key is restricted to: `/api`, `/api/` or `=/exact`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathPrefix(String);

impl PathPrefix {
    /// The prefix as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PathPrefix {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Invalid> {
        validate_prefix(s).map_err(Invalid)?;
        Ok(PathPrefix(s.to_owned()))
    }
}

impl AsRef<str> for PathPrefix {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PathPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The prefixes of one key: at most [`MAX_PREFIXES`], without duplicates, in the order
/// given. Empty means the key is good for any path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathPrefixes(Vec<PathPrefix>);

impl PathPrefixes {
    /// No restriction.
    pub fn none() -> PathPrefixes {
        PathPrefixes(Vec::new())
    }

    /// A list of prefixes; duplicates are dropped, keeping the first.
    pub fn new(prefixes: impl IntoIterator<Item = PathPrefix>) -> Result<PathPrefixes, Invalid> {
        let mut out: Vec<PathPrefix> = Vec::new();
        for p in prefixes {
            if !out.contains(&p) {
                out.push(p);
            }
            if out.len() > MAX_PREFIXES {
                return Err(Invalid(format!(
                    "too many path prefixes: at most {MAX_PREFIXES}"
                )));
            }
        }
        Ok(PathPrefixes(out))
    }

    /// Parse and check each prefix.
    pub fn parse<S: AsRef<str>>(prefixes: &[S]) -> Result<PathPrefixes, Invalid> {
        let parsed = prefixes
            .iter()
            .map(|p| p.as_ref().parse())
            .collect::<Result<Vec<PathPrefix>, Invalid>>()?;
        PathPrefixes::new(parsed)
    }

    /// Whether `request_path` is allowed (always, when there are no prefixes).
    pub fn allows(&self, request_path: &str) -> bool {
        allows(&self.0, request_path)
    }

    /// True when the key is good for any path.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The prefixes, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, PathPrefix> {
        self.0.iter()
    }

    /// The prefixes joined with `sep`.
    pub fn join(&self, sep: &str) -> String {
        self.0
            .iter()
            .map(PathPrefix::as_str)
            .collect::<Vec<_>>()
            .join(sep)
    }
}

impl<'a> IntoIterator for &'a PathPrefixes {
    type Item = &'a PathPrefix;
    type IntoIter = std::slice::Iter<'a, PathPrefix>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Serialize for PathPrefix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PathPrefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for PathPrefixes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for PathPrefixes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PathPrefixes::new(Vec::<PathPrefix>::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn segment_boundary_prefix() {
        let p = v(&["/api"]);
        assert!(allows(&p, "/api"));
        assert!(allows(&p, "/api/"));
        assert!(allows(&p, "/api/v1/x"));
        assert!(allows(&p, "/api?x=1"));
        assert!(allows(&p, "/api/v1?next=/admin"));
        assert!(!allows(&p, "/apix"));
        assert!(!allows(&p, "/ap"));
        assert!(!allows(&p, "/"));
        assert!(!allows(&p, "/admin/api"));
    }

    #[test]
    fn trailing_slash_and_exact() {
        let p = v(&["/api/"]);
        assert!(allows(&p, "/api/x") && allows(&p, "/api/"));
        assert!(!allows(&p, "/api"));
        let p = v(&["=/exact"]);
        assert!(allows(&p, "/exact") && allows(&p, "/exact?q"));
        assert!(!allows(&p, "/exact/") && !allows(&p, "/exact/x") && !allows(&p, "/exactly"));
    }

    #[test]
    fn dot_segments_and_encoded_slashes_are_refused() {
        let p = v(&["/api"]);
        for bad in [
            "/api/../admin",
            "/api/./x",
            "/api/%2e%2e/admin",
            "/api/%2E%2e/admin",
            "/api/.%2e/x",
            "/api/%2e",
            "/api/..",
            "/api%2fx",
            "/api/a%2Fb",
            "/api/a%5cb",
            "/api\\x",
            "/api/%00",
            "api",
            "",
            "/api/\n",
        ] {
            assert!(!allows(&p, bad), "{bad:?}");
        }
        assert!(allows(&p, "/api/a%2eb"));
        assert!(allows(&p, "/api/...x"));
        assert!(allows(&p, "/ap%69/x"));
    }

    #[test]
    fn no_prefixes_allow_everything_and_several_combine() {
        assert!(allows::<&str>(&[], "/anything/../at/all"));
        let p = v(&["/a", "=/b"]);
        assert!(allows(&p, "/a/1") && allows(&p, "/b") && !allows(&p, "/b/1"));
    }

    #[test]
    fn prefix_validation() {
        for ok in ["/", "/api", "/api/", "=/exact", "/a-b_c.d~e"] {
            assert!(validate_prefix(ok).is_ok(), "{ok}");
        }
        for bad in [
            "api",
            "=api",
            "",
            "=",
            "/a b",
            "/a\tb",
            "/a\u{1b}[31m",
            "/a/../b",
            "/a/%2e%2e",
            "/a%2fb",
            "/a?b",
            "/#x",
            "=/a?",
        ] {
            assert!(validate_prefix(bad).is_err(), "{bad:?}");
        }
        assert!(validate_prefix(&format!("/{}", "a".repeat(2000))).is_err());
        let parsed = PathPrefixes::parse(&["/a", "/b", "/a"]).unwrap();
        assert_eq!(parsed.join(" "), "/a /b");
        assert!(parsed.allows("/b/x") && !parsed.allows("/c"));
        let many: Vec<String> = (0..=MAX_PREFIXES).map(|i| format!("/p{i}")).collect();
        assert!(PathPrefixes::parse(&many).is_err());
        assert!(PathPrefixes::parse(&many[1..]).is_ok());
    }
}
