//! Path-prefix restrictions: validating prefixes and matching request paths against them.
//!
//! - `/api` allows `/api` and `/api/...`, not `/apix` (prefixes end on a segment boundary);
//! - `/api/` allows `/api/...`;
//! - `=/exact` allows exactly `/exact`.
//!
//! A request path's query string and fragment are ignored and percent-encoded characters are
//! decoded before matching. A restricted key never allows a path that some back end may resolve
//! elsewhere than keyctl reads it (see `normalize` for the rules).

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
/// characters, and nothing a request path may not contain (such a prefix could never match).
pub fn validate_prefix(prefix: &str) -> Result<(), String> {
    let shown = crate::names::shown(prefix);
    let path = prefix.strip_prefix('=').unwrap_or(prefix);
    if !path.starts_with('/') {
        return Err(format!(
            "invalid path prefix {shown}: it must start with / (or =/ for an exact path)"
        ));
    }
    if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "invalid path prefix {shown}: whitespace and control characters are not allowed"
        ));
    }
    // Matching ignores a request's query and fragment, so `/a?b` or `/#x` would silently
    // widen to `/a` or `/`.
    if prefix.contains(['?', '#']) {
        return Err(format!(
            "invalid path prefix {shown}: ? and # are not allowed (query strings and fragments are ignored when matching)"
        ));
    }
    if prefix.len() > MAX_PREFIX_LEN {
        return Err(format!(
            "invalid path prefix: longer than {MAX_PREFIX_LEN} bytes"
        ));
    }
    if normalize(path).is_none() {
        return Err(format!(
            "invalid path prefix {shown}: it could never match: a path with a dot segment in any spelling, a ;, ?, # or % once decoded, an encoded slash, or text that is not UTF-8 is never allowed"
        ));
    }
    Ok(())
}

/// Decode a request path for matching; `None` when it may never be allowed.
///
/// Back ends disagree about paths: servlet containers drop `;params` from each segment before
/// resolving `..`, some decode twice or accept IIS `%u` escapes or overlong UTF-8, and some fold
/// look-alikes (NFKC, IDNA) into ASCII. So a path is refused when, once percent-decoded, it is
/// not UTF-8, has a control character, was sent with an encoded slash (which decoding would
/// turn into a segment boundary), or has a segment that [`segment_is_safe`] refuses.
fn normalize(raw: &str) -> Option<String> {
    let path = raw.split(['?', '#']).next().unwrap_or_default();
    if !path.starts_with('/') {
        return None;
    }
    if path.to_ascii_lowercase().contains("%2f") {
        return None;
    }
    let decoded = String::from_utf8(percent_decode_str(path).collect()).ok()?;
    if decoded.chars().any(char::is_control) {
        return None;
    }
    decoded.split('/').all(segment_is_safe).then_some(decoded)
}

/// What a character of a decoded segment may become on a back end that folds look-alikes.
#[derive(Debug, PartialEq)]
enum Fold {
    /// One or more dots: ASCII, NFKC's (fullwidth, small, leaders, ellipses) or IDNA's
    /// ideographic full stops.
    Dots(u8),
    /// Default-ignorable, which NFKC case folding drops: it must not hide a dot segment.
    Invisible,
    /// Delimits or escapes on some back end: `;` (path parameters), `%` (a second decoding or
    /// `%u`), `?` and `#` (a second parse), `/` and `\`, or a look-alike NFKC folds into one.
    Delimiter,
    Other,
}

fn fold(c: char) -> Fold {
    match c {
        '.' | '\u{2024}' | '\u{3002}' | '\u{FE12}' | '\u{FE52}' | '\u{FF0E}' | '\u{FF61}' => {
            Fold::Dots(1)
        }
        '\u{2025}' | '\u{FE30}' => Fold::Dots(2),
        '\u{2026}' | '\u{FE19}' => Fold::Dots(3),
        ';' | '%' | '?' | '#' | '/' | '\\' => Fold::Delimiter,
        // Characters whose NFKC form contains one of those.
        '\u{037E}'
        | '\u{2047}'..='\u{2049}'
        | '\u{2100}'
        | '\u{2101}'
        | '\u{2105}'
        | '\u{2106}' => Fold::Delimiter,
        '\u{FE14}' | '\u{FE16}' | '\u{FE54}' | '\u{FE56}' | '\u{FE5F}' | '\u{FE68}'
        | '\u{FE6A}' => Fold::Delimiter,
        '\u{FF03}' | '\u{FF05}' | '\u{FF0F}' | '\u{FF1B}' | '\u{FF1F}' | '\u{FF3C}' => {
            Fold::Delimiter
        }
        // Default_Ignorable_Code_Point.
        '\u{00AD}'
        | '\u{034F}'
        | '\u{061C}'
        | '\u{115F}'..='\u{1160}'
        | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{3164}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}'
        | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFF8}'
        | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}' => Fold::Invisible,
        _ => Fold::Other,
    }
}

/// A decoded segment is safe unless it has a delimiter or is `.` or `..` in any spelling.
/// Three or more dots (`...`) are an ordinary name, and so are dots among other characters.
fn segment_is_safe(segment: &str) -> bool {
    let mut dots = 0u32;
    let mut only_dots = true;
    for c in segment.chars() {
        match fold(c) {
            Fold::Dots(n) => dots = dots.saturating_add(u32::from(n)),
            Fold::Invisible => {}
            Fold::Delimiter => return false,
            Fold::Other => only_dots = false,
        }
    }
    !(only_dots && (dots == 1 || dots == 2))
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
        } else if p.ends_with('/') {
            path.starts_with(&p)
        } else {
            path == p || (path.starts_with(&p) && path.as_bytes().get(p.len()) == Some(&b'/'))
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

    /// Paths that reach outside `/api` on some back end, each with what it exploits.
    const ATTACKS: &[&str] = &[
        // Servlet containers drop `;params` from a segment, then resolve `..`.
        "/api/..;/admin",
        "/api/%2e%2e;/admin",
        "/api/.;/admin",
        "/api/..;jsessionid=1/admin",
        "/api/..%3b/admin",
        "/api/%2E%2E%3B/admin",
        // Decoded twice.
        "/api/%252e%252e/admin",
        "/api/%252E%252E/admin",
        "/api/%%32%65%%32%65/admin",
        "/api/..%252fadmin",
        // Overlong UTF-8 (`.` and `/`).
        "/api/%c0%ae%c0%ae/admin",
        "/api/%C0%AE/admin",
        "/api/%e0%80%ae%e0%80%ae/admin",
        "/api/..%c0%afadmin",
        // IIS `%u`.
        "/api/%u002e%u002e/admin",
        "/api/%U002E%U002E/admin",
        "/api/..%u2215admin",
        // Look-alikes NFKC or IDNA fold into dots, raw and percent-encoded.
        "/api/\u{FF0E}\u{FF0E}/admin",
        "/api/%EF%BC%8E%ef%bc%8e/admin",
        "/api/\u{2025}/admin",
        "/api/%E2%80%A5/admin",
        "/api/\u{2024}\u{2024}/admin",
        "/api/\u{2024}/x",
        "/api/\u{FE52}\u{FE52}/admin",
        "/api/\u{FE30}/admin",
        "/api/\u{FF61}\u{FF61}/admin",
        "/api/\u{3002}/x",
        "/api/.\u{FF0E}/admin",
        "/api/.\u{00AD}./admin",
        "/api/\u{200B}../admin",
        // Look-alikes NFKC folds into a delimiter.
        "/api/..\u{FF0F}admin",
        "/api/..\u{FF3C}admin",
        "/api/..\u{FF1B}/admin",
        "/api/..\u{037E}/admin",
        "/api/\u{FF05}2e\u{FF05}2e/admin",
        // Decoded, then parsed again.
        "/api/..%3f/admin",
        "/api/..%23/admin",
        // Not UTF-8, or a C1 control character.
        "/api/%ff/x",
        "/api/%c2%85",
    ];

    #[test]
    fn every_attack_spelling_is_refused_under_a_prefix_and_allowed_without() {
        let p = v(&["/api"]);
        for attack in ATTACKS {
            assert!(!allows(&p, attack), "{attack:?}");
            assert!(!allows(&v(&["/"]), attack), "{attack:?} under /");
            assert!(allows::<&str>(&[], attack), "{attack:?} without prefixes");
        }
    }

    #[test]
    fn dots_and_non_ascii_inside_a_name_are_allowed() {
        let p = v(&["/api"]);
        for ok in [
            "/api/a%2eb",
            "/api/...x",
            "/api/...",
            "/ap%69/x",
            "/api/caf%C3%A9",
            "/api/caf\u{e9}",
            "/api/a\u{FF0E}b",
            "/api/\u{2026}",
            "/api/\u{FF41}\u{FF42}",
            "/api/v1.json?x=..;/admin",
            "/api/a%20b",
        ] {
            assert!(allows(&p, ok), "{ok:?}");
        }
    }

    /// Every character whose NFKC form has a dot or a delimiter is classified as such, so a
    /// back end that normalises cannot find a dot segment or a delimiter keyctl did not see.
    #[test]
    fn fold_covers_every_character_nfkc_turns_into_a_dot_or_delimiter() {
        use unicode_normalization::UnicodeNormalization;
        for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
            let nfkc: String = std::iter::once(c).nfkc().collect();
            if nfkc.contains([';', '%', '?', '#', '/', '\\']) {
                assert_eq!(fold(c), Fold::Delimiter, "U+{:04X}", c as u32);
            } else if !nfkc.is_empty() && nfkc.chars().all(|d| d == '.') {
                assert_eq!(fold(c), Fold::Dots(nfkc.len() as u8), "U+{:04X}", c as u32);
            } else if let Fold::Dots(_) = fold(c) {
                // The rest are IDNA's ideographic full stops.
                assert_eq!(nfkc, "\u{3002}", "U+{:04X}", c as u32);
            }
        }
    }

    #[test]
    fn no_prefixes_allow_everything_and_several_combine() {
        assert!(allows::<&str>(&[], "/anything/../at/all"));
        let p = v(&["/a", "=/b"]);
        assert!(allows(&p, "/a/1") && allows(&p, "/b") && !allows(&p, "/b/1"));
    }

    #[test]
    fn prefix_validation() {
        for ok in [
            "/",
            "/api",
            "/api/",
            "=/exact",
            "/a-b_c.d~e",
            "/caf%C3%A9",
            "/a/...",
        ] {
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
            "/a;b",
            "/api/..;",
            "/a%25",
            "/a/%252e%252e",
            "/a/%c0%ae",
            "/a/%u002e",
            "/a/\u{FF0E}\u{FF0E}",
            "/a/\u{2025}",
            "/a/%E2%80%A5",
            "=/a/\u{FF61}",
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
