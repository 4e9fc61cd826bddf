//! Forward auth: `/auth` and everything under it, any method, for nginx `auth_request`,
//! Caddy `forward_auth`, Traefik ForwardAuth and Envoy `ext_authz`.
//!
//! The credential is found exactly as `keyctl verify --request` finds it, in the headers
//! the proxy passed on and in the query string of the original request. The original
//! request is `X-Original-URI` (nginx), else `X-Forwarded-Uri` (Traefik, Caddy), else, for
//! `/auth/REST`, `/REST` (Envoy with `path_prefix: /auth`).

use std::time::Instant;

use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Request, StatusCode};

use super::{Answer, Challenge, Shared, response};
use crate::credential::{Options, Presented};
use crate::verify::{Check, Reason, Verdict};

/// The one place a verdict becomes a forward-auth status: 200 exactly when valid (Envoy
/// accepts nothing else), 403 for a good key used where it may not be, 401 for the rest
/// (nginx turns any other status into a 500).
pub(crate) fn status_of(verdict: &Verdict) -> StatusCode {
    match verdict.reason {
        None if verdict.valid => StatusCode::OK,
        Some(Reason::PathNotAllowed | Reason::InsecureTransport) => StatusCode::FORBIDDEN,
        _ => StatusCode::UNAUTHORIZED,
    }
}

pub(crate) fn answer(shared: &Shared, req: &Request<Incoming>) -> Answer {
    let original = original_uri(req);
    let read = match &original {
        Some(Err(())) => Err(()),
        Some(Ok(o)) => presented(req, Some(o)),
        None => presented(req, None),
    };
    let original = original.and_then(Result::ok);
    let verdict = match read {
        Ok(presented) => {
            // Without the original path, only a key good for every path can pass.
            let path = presented.path.clone().unwrap_or_default();
            let check = Check {
                path: Some(&path),
                require_tls: shared.config.require_tls,
                current: false,
            };
            let started = Instant::now();
            let verdict = shared.with_verifier(|v| v.verify_request(&presented, &check));
            match verdict {
                Ok(verdict) => {
                    shared.metrics.verified(&verdict, started.elapsed());
                    verdict
                }
                Err(e) => {
                    shared.store_failed(&e);
                    return Answer {
                        response: response(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "text/plain; charset=utf-8",
                            Bytes::from_static(b"the store cannot be read\n"),
                        ),
                        logged_path: original,
                        outcome: None,
                        key: None,
                    };
                }
            }
        }
        Err(()) => {
            let verdict = Verdict::rejected(Reason::Malformed);
            shared.metrics.verified(&verdict, std::time::Duration::ZERO);
            verdict
        }
    };
    for warning in &verdict.warnings {
        if shared.config.access_log {
            super::log::note(&format!("warning: {warning}"));
        }
    }
    let status = status_of(&verdict);
    let mut r = response(status, "text/plain", Bytes::new());
    let h = r.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    match verdict.reason {
        None => {
            if let Some(id) = &verdict.id {
                set("x-keyctl-key-id", id);
            }
            if let Some(user) = &verdict.user {
                set("x-keyctl-user", user);
            }
            if let Some(name) = &verdict.name {
                set("x-keyctl-key-name", name);
            }
            if let Some(expires) = verdict.expires {
                set("x-keyctl-expires", &expires.to_string());
            }
            if let Some(until) = verdict.grace_until {
                set("x-keyctl-superseded", "true");
                set("x-keyctl-grace-until", &until.to_string());
            }
        }
        Some(reason) => {
            set("x-keyctl-reason", reason.as_str());
            let challenge = match shared.config.challenge {
                _ if status != StatusCode::UNAUTHORIZED => None,
                Challenge::Bearer => Some("Bearer realm=\"keyctl\""),
                Challenge::Basic => Some("Basic realm=\"keyctl\""),
                Challenge::None => None,
            };
            if let Some(c) = challenge {
                h.insert(WWW_AUTHENTICATE, HeaderValue::from_static(c));
            }
        }
    }
    Answer {
        response: r,
        logged_path: original,
        outcome: Some(verdict.reason.map_or("valid", Reason::as_str)),
        key: verdict.id.as_ref().map(ToString::to_string),
    }
}

/// The original request's target: `X-Original-URI`, else `X-Forwarded-Uri`, else what
/// follows `/auth` in this request's own target. `Err` when the header is not UTF-8.
fn original_uri(req: &Request<Incoming>) -> Option<Result<String, ()>> {
    for name in ["x-original-uri", "x-forwarded-uri"] {
        if let Some(v) = req.headers().get(name) {
            return Some(
                std::str::from_utf8(v.as_bytes())
                    .map(str::to_owned)
                    .map_err(|_| ()),
            );
        }
    }
    let rest = req.uri().path().strip_prefix("/auth")?;
    if !rest.starts_with('/') {
        return None;
    }
    Some(Ok(match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_owned(),
    }))
}

/// What the request presented: its headers and the original target, read exactly as
/// `keyctl verify --request` reads them. Anything unreadable is `Err` (malformed).
fn presented(req: &Request<Incoming>, original: Option<&str>) -> Result<Presented, ()> {
    let mut presented = Presented::default();
    if let Some(uri) = original {
        presented.add_url(uri).map_err(|_| ())?;
    }
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()));
    presented
        .add_headers(headers, &Options::default())
        .map_err(|_| ())?;
    Ok(presented)
}
