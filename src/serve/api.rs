//! `POST /v1/verify` for apps: `{"token": "...", "path": "/v1/items"}` in, exactly the JSON
//! of `keyctl verify --json` out.

use std::time::Instant;

use http_body_util::{BodyExt, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, HeaderValue};
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;

use super::{Answer, Shared, response};
use crate::credential::{Credential, Source};
use crate::verify::Check;

/// Largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ask {
    token: String,
    path: Option<String>,
}

fn error(status: StatusCode, message: &str) -> Answer {
    let body = serde_json::json!({ "error": crate::token::redact(message) }).to_string() + "\n";
    Answer {
        response: response(status, "application/json", Bytes::from(body)),
        logged_path: None,
        outcome: None,
        key: None,
    }
}

pub(crate) async fn answer(shared: &Shared, req: Request<Incoming>) -> Answer {
    if req.method() != Method::POST {
        let mut a = error(StatusCode::METHOD_NOT_ALLOWED, "use POST");
        a.response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return a;
    }
    if !super::is_json(&req) {
        return error(
            StatusCode::BAD_REQUEST,
            "the body must be JSON, sent with Content-Type: application/json",
        );
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return error(StatusCode::BAD_REQUEST, "the body is larger than 64 KiB");
        }
        Err(_) => return error(StatusCode::BAD_REQUEST, "the body could not be read"),
    };
    let ask: Ask = match serde_json::from_slice(&body) {
        Ok(ask) => ask,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("expected {{\"token\": \"...\", \"path\": \"/...\"}}: {e}"),
            );
        }
    };
    let check = Check {
        path: ask.path.as_deref(),
        ..Check::default()
    };
    let started = Instant::now();
    let credential = Credential::new(ask.token, Source::Argument);
    match shared.with_verifier(|v| v.verify(&credential, &check)) {
        Ok(verdict) => {
            shared.metrics.verified(&verdict, started.elapsed());
            let body = serde_json::to_string(&verdict).unwrap_or_default() + "\n";
            Answer {
                response: response(StatusCode::OK, "application/json", Bytes::from(body)),
                logged_path: None,
                outcome: Some(verdict.reason.map_or("valid", |r| r.as_str())),
                key: verdict.id.as_ref().map(ToString::to_string),
            }
        }
        Err(e) => {
            shared.store_failed(&e);
            error(StatusCode::SERVICE_UNAVAILABLE, "the store cannot be read")
        }
    }
}
