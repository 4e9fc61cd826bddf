//! Path-prefix restrictions: validating prefixes and matching request paths against them.
//!
//! - `/api` allows `/api` and `/api/...`, not `/apix` (prefixes end on a segment boundary);
//! - `/api/` allows `/api/...`;
//! - `=/exact` allows exactly `/exact`.
//!
//! A request path's query string and fragment are ignored. Percent-encoded characters are
//! decoded before matching, except that a path with a `.` or `..` segment (also written
//! `%2e`), an encoded slash or backslash, or a control character is never allowed.

use percent_encoding::percent_decode_str;

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

/// Check a whole list of prefixes and drop duplicates, keeping the first occurrence.
pub fn validate_prefixes(prefixes: &[String]) -> Result<Vec<String>, String> {
    if prefixes.len() > MAX_PREFIXES {
        return Err(format!("too many path prefixes: at most {MAX_PREFIXES}"));
    }
    let mut out: Vec<String> = Vec::with_capacity(prefixes.len());
    for p in prefixes {
        validate_prefix(p)?;
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    Ok(out)
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
pub fn allows(prefixes: &[String], request_path: &str) -> bool {
    if prefixes.is_empty() {
        return true;
    }
    let Some(path) = normalize(request_path) else {
        return false;
    };
    prefixes.iter().any(|prefix| {
        let (exact, p) = match prefix.strip_prefix('=') {
            Some(p) => (true, p),
            None => (false, prefix.as_str()),
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
        assert!(allows(&[], "/anything/../at/all"));
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
        assert_eq!(
            validate_prefixes(&v(&["/a", "/b", "/a"])).unwrap(),
            v(&["/a", "/b"])
        );
    }
}
