//! What the server says on stderr: notes, and with `--access-log` one line per request.
//! Nothing here ever holds a token: query credentials and anything shaped like a token
//! are replaced by `REDACTED` before a line is written.

use std::io::Write;
use std::time::Duration;

use hyper::{Method, StatusCode};
use percent_encoding::percent_decode_str;

use crate::credential::CREDENTIAL_PARAMS;
use crate::token::contains_token;

/// A note on stderr; one that cannot be written is dropped.
pub(crate) fn note(text: &str) {
    let line = format!("keyctl: serve: {}\n", crate::token::redact(text));
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// One access-log line: time, method, path, status, outcome, key id, microseconds.
pub(crate) fn access(
    method: &Method,
    path: &str,
    status: StatusCode,
    outcome: Option<&str>,
    key: Option<&str>,
    took: Duration,
) {
    let line = format!(
        "{} {} {} {} {} {} {}us\n",
        crate::time::Timestamp::now(),
        crate::token::redact(method.as_str()),
        crate::token::redact(&redact_target(path)),
        status.as_u16(),
        outcome.unwrap_or("-"),
        key.unwrap_or("-"),
        took.as_micros()
    );
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// A request target with every credential in it replaced: the values of credential query
/// parameters, and any path segment or query value shaped like a token.
pub(crate) fn redact_target(target: &str) -> String {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let path: Vec<&str> = path
        .split('/')
        .map(|seg| {
            if contains_token(&percent_decode_str(seg).decode_utf8_lossy()) {
                "REDACTED"
            } else {
                seg
            }
        })
        .collect();
    let mut out = path.join("/");
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                let decoded_name = percent_decode_str(name).decode_utf8_lossy();
                let decoded_value = percent_decode_str(value).decode_utf8_lossy();
                if CREDENTIAL_PARAMS.contains(&&*decoded_name) || contains_token(&decoded_value) {
                    format!("{name}=REDACTED")
                } else {
                    pair.to_owned()
                }
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_the_log() {
        let token = "kc_3fQm8WcJtP2a9LxZ_Ky9Pf34qY6Nb3wWD25RQ4F5ZR3qa7yEeeby3abP3E2Z31O7vJ";
        for (target, expected) in [
            (
                "/v1/items?accesskey=abc&x=1",
                "/v1/items?accesskey=REDACTED&x=1",
            ),
            ("/v1/items?%61pi_key=abc", "/v1/items?%61pi_key=REDACTED"),
            (&format!("/v1?next={token}"), "/v1?next=REDACTED"),
            (&format!("/keys/{token}/x"), "/keys/REDACTED/x"),
            ("/plain/path", "/plain/path"),
        ] {
            assert_eq!(redact_target(target), expected);
        }
    }
}
