//! Self-service keys over HTTP (`--self-service`): a user logs in with a password and gets
//! a key (`POST /v1/authkeys`), and manages their own keys (`/v1/user/keys`, `/v1/user`).
//!
//! A password is accepted only over TLS (as `--require-tls` judges it) and is checked
//! against its argon2id hash off the request threads; an unknown user costs and answers the
//! same as a wrong password. Failed passwords are limited per user and per client address.
//! A key can list, show and revoke its own user's keys, but only a password creates one,
//! so a leaked key cannot mint more.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use base64::Engine as _;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use hyper::{Request, StatusCode};
use serde::Deserialize;

use super::{Answer, Shared, response};
use crate::credential::{Options as CredentialOptions, Presented};
use crate::error::Error;
use crate::key::{Key, KeyRef};
use crate::names::{Description, KeyName, UserName};
use crate::store::{Access, ListFilter, NewKey, Options, Store};
use crate::time::{Clock, Duration, Expiry};
use crate::users::Actor;
use crate::verify::Check;

/// Failed passwords allowed per user, and per client address, in [`WINDOW`].
pub const MAX_FAILURES: usize = 5;
/// The window failed passwords are counted in.
pub const WINDOW: StdDuration = StdDuration::from_secs(60);
/// Largest request body accepted.
const MAX_BODY: usize = 16 * 1024;

/// Failed password attempts, by user and by client address.
#[derive(Default)]
pub(crate) struct Limiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Limiter {
    /// How long `subjects` must wait before their next attempt, if any must.
    fn wait(&self, subjects: &[String]) -> Option<StdDuration> {
        let mut failures = self.failures.lock().ok()?;
        let now = Instant::now();
        subjects
            .iter()
            .filter_map(|s| {
                let times = failures.get_mut(s)?;
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= WINDOW)
                {
                    times.pop_front();
                }
                let oldest = *times.front()?;
                (times.len() >= MAX_FAILURES)
                    .then(|| WINDOW.saturating_sub(now.duration_since(oldest)))
            })
            .max()
    }

    fn failed(&self, subjects: &[String]) {
        if let Ok(mut failures) = self.failures.lock() {
            let now = Instant::now();
            // Forget subjects with nothing recent, so the map stays small.
            failures.retain(|_, t| t.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
            for s in subjects {
                failures.entry(s.clone()).or_default().push_back(now);
            }
        }
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Answer {
    let body = serde_json::json!({ "error": code, "message": message }).to_string() + "\n";
    Answer {
        response: response(status, "application/json", Bytes::from(body)),
        logged_path: None,
        outcome: None,
        key: None,
    }
}

fn json(status: StatusCode, value: &impl serde::Serialize, key: Option<&Key>) -> Answer {
    let body = serde_json::to_string(value).unwrap_or_default() + "\n";
    Answer {
        response: response(status, "application/json", Bytes::from(body)),
        logged_path: None,
        outcome: None,
        key: key.map(|k| k.id.to_string()),
    }
}

/// Who the request is, once proved.
struct Caller {
    user: UserName,
    /// The key it used, or `None` for a password.
    key: Option<String>,
}

pub(crate) async fn answer(shared: &Arc<Shared>, req: Request<Incoming>, client: &str) -> Answer {
    let path = req.uri().path().to_owned();
    let route = match (req.method().as_str(), path.as_str()) {
        ("POST", "/v1/authkeys") => Route::Login,
        ("POST", "/v1/user/keys") => Route::Create,
        ("GET", "/v1/user/keys") => Route::List,
        ("GET", "/v1/user") => Route::WhoAmI,
        (m, p) if p.starts_with("/v1/user/keys/") => {
            let handle = &p["/v1/user/keys/".len()..];
            let Ok(handle) = handle.parse::<KeyName>() else {
                return error(StatusCode::NOT_FOUND, "not_found", "no such key");
            };
            match m {
                "GET" => Route::Show(handle),
                "DELETE" => Route::Revoke(handle),
                _ => {
                    return error(
                        StatusCode::METHOD_NOT_ALLOWED,
                        "method_not_allowed",
                        "use GET or DELETE",
                    );
                }
            }
        }
        (_, "/v1/authkeys" | "/v1/user/keys" | "/v1/user") => {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "see the documentation for the methods of this endpoint",
            );
        }
        _ => return error(StatusCode::NOT_FOUND, "not_found", "not found"),
    };
    let caller = match route {
        // Only a password makes keys, so that a leaked key cannot mint more.
        Route::Login | Route::Create if basic_user(&req).is_none() && carries_key(&req) => {
            return error(
                StatusCode::FORBIDDEN,
                "password_required",
                "only a user's password (HTTP Basic, over HTTPS) can make keys, not a key",
            );
        }
        Route::Login | Route::Create => password(shared, &req, client).await,
        _ if basic_user(&req).is_some() => password(shared, &req, client).await,
        _ => by_key(shared, &req),
    };
    let caller = match caller {
        Ok(c) => c,
        Err(a) => return a,
    };
    let actor = Actor::http(&caller.user, client);
    match route {
        Route::Login => {
            let mut new = NewKey::new(caller.user.clone());
            let query = req.uri().query().unwrap_or("");
            let name = match param(query, "name") {
                Some(n) => match n.parse::<KeyName>() {
                    Ok(n) => n,
                    Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_name", &e.0),
                },
                None => match format!("login-{}", compact_now()).parse() {
                    Ok(n) => n,
                    Err(_) => {
                        return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "no name");
                    }
                },
            };
            let expire = match param(query, "expire").map(|e| e.parse::<Duration>()) {
                Some(Ok(d)) => d.min(shared.config.max_expire),
                Some(Err(e)) => return error(StatusCode::BAD_REQUEST, "invalid_expire", &e.0),
                None => shared.config.max_expire,
            };
            new.name = Some(name);
            new.expires = Expiry::In(expire);
            issue(shared, new, actor, true).await
        }
        Route::Create => {
            let ask = match body::<NewUserKey>(req).await {
                Ok(a) => a,
                Err(a) => return a,
            };
            let mut new = NewKey::new(caller.user.clone());
            new.name = Some(ask.handle);
            new.description = ask.alias;
            new.expires = Expiry::In(shared.config.max_expire);
            issue(shared, new, actor, false).await
        }
        Route::List => {
            let user = caller.user.clone();
            blocking(shared, move |store| {
                let filter = ListFilter {
                    user: Some(user),
                    ..ListFilter::default()
                };
                store
                    .list(&filter)
                    .map(|keys| json(StatusCode::OK, &keys, None))
            })
            .await
        }
        Route::Show(handle) => {
            let r = KeyRef::Named {
                user: caller.user.clone(),
                name: handle,
            };
            blocking(shared, move |store| {
                store.key(&r).map(|k| json(StatusCode::OK, &k, Some(&k)))
            })
            .await
        }
        Route::Revoke(handle) => {
            let r = KeyRef::Named {
                user: caller.user.clone(),
                name: handle,
            };
            blocking(shared, move |store| {
                store.set_actor(actor);
                let key = store.key(&r)?;
                let updated = store.revoke(&KeyRef::Id(key.id))?;
                Ok(json(StatusCode::OK, &updated.key, Some(&updated.key)))
            })
            .await
        }
        Route::WhoAmI => json(
            StatusCode::OK,
            &serde_json::json!({ "user": caller.user, "key": caller.key }),
            None,
        ),
    }
}

enum Route {
    Login,
    Create,
    List,
    Show(KeyName),
    Revoke(KeyName),
    WhoAmI,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUserKey {
    handle: KeyName,
    alias: Option<Description>,
}

/// Create a key for the caller and answer 201 with its token, shown this once.
async fn issue(shared: &Arc<Shared>, new: NewKey, actor: Actor, login: bool) -> Answer {
    blocking(shared, move |store| {
        store.set_actor(actor);
        let issued = if login {
            store.login_key(&new)?
        } else {
            store.create_key(&new)?
        };
        // The shape of `create --json`: the key's fields with the token beside them.
        #[derive(serde::Serialize)]
        struct WithToken<'a> {
            #[serde(flatten)]
            key: &'a Key,
            token: &'a str,
        }
        let body = WithToken {
            key: &issued.key,
            token: issued.token.reveal(),
        };
        Ok(json(StatusCode::CREATED, &body, Some(&issued.key)))
    })
    .await
}

/// Run store work off the request threads, on a store opened for writing as the request's
/// actor; a store error is a 503 (never a 2xx), a refusal its own status.
async fn blocking(
    shared: &Arc<Shared>,
    f: impl FnOnce(&mut Store) -> crate::Result<Answer> + Send + 'static,
) -> Answer {
    let shared = Arc::clone(shared);
    let outcome = tokio::task::spawn_blocking(move || {
        let mut store = Store::open_with(
            &shared.config.db,
            &Options {
                access: Access::Write,
                lock_timeout: shared.config.lock_timeout,
                clock: Clock::system(),
                actor: None,
            },
        )?;
        f(&mut store)
    })
    .await;
    match outcome {
        Ok(Ok(answer)) => answer,
        Ok(Err(Error::NotFound(_))) => error(StatusCode::NOT_FOUND, "not_found", "no such key"),
        Ok(Err(Error::Invalid(why))) => error(
            StatusCode::BAD_REQUEST,
            "invalid",
            &crate::token::redact(&why),
        ),
        Ok(Err(e)) => {
            shared_failed(&e);
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the store cannot be used",
            )
        }
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the request could not be served",
        ),
    }
}

fn shared_failed(e: &Error) {
    super::log::note(&format!("self-service: answering 503: {e}"));
}

/// Whether the request presents a key in any way a verifier would find it.
fn carries_key(req: &Request<Incoming>) -> bool {
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()));
    Presented::from_target_and_headers(req.uri(), headers, &CredentialOptions::default())
        .map_or(true, |p| !p.credentials.is_empty())
}

/// The user and password of `Authorization: Basic`, if the request carries one.
fn basic_user(req: &Request<Incoming>) -> Option<(String, String)> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Prove the caller by password: over TLS only, limited in failures, the same answer for
/// an unknown user as for a wrong password.
#[allow(clippy::result_large_err)] // the refusal is the whole response, returned once
async fn password(
    shared: &Arc<Shared>,
    req: &Request<Incoming>,
    client: &str,
) -> Result<Caller, Answer> {
    let mut proto = Presented::default();
    for v in req.headers().get_all("x-forwarded-proto") {
        let Ok(v) = v.to_str() else {
            return Err(ssl_required());
        };
        let _ = proto.add_header("x-forwarded-proto", v, &CredentialOptions::default());
    }
    if !proto.is_https() {
        return Err(ssl_required());
    }
    let unauthorized = || {
        error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a user and password (HTTP Basic) are needed, and these are not right",
        )
    };
    let Some((user, password)) = basic_user(req) else {
        return Err(unauthorized());
    };
    let subjects = vec![format!("user:{user}"), format!("client:{client}")];
    if let Some(wait) = shared.limiter.wait(&subjects) {
        let mut a = error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many wrong passwords; try again later",
        );
        let secs = wait.as_secs().max(1).to_string();
        if let Ok(v) = HeaderValue::from_str(&secs) {
            a.response.headers_mut().insert(RETRY_AFTER, v);
        }
        return Err(a);
    }
    let name: Option<UserName> = user.parse().ok();
    let shared2 = Arc::clone(shared);
    let check = tokio::task::spawn_blocking(move || -> crate::Result<bool> {
        let store = shared2.open()?;
        match &name {
            Some(n) => store.check_password(n, &password),
            // Not even a valid name: the same work, the same answer.
            None => Ok(crate::users::password_matches(&password, None)),
        }
    })
    .await;
    match check {
        Ok(Ok(true)) => Ok(Caller {
            user: user.parse().map_err(|_| unauthorized())?,
            key: None,
        }),
        Ok(Ok(false)) => {
            shared.limiter.failed(&subjects);
            Err(unauthorized())
        }
        Ok(Err(e)) => {
            shared_failed(&e);
            Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the store cannot be read",
            ))
        }
        Err(_) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the request could not be served",
        )),
    }
}

fn ssl_required() -> Answer {
    error(
        StatusCode::FORBIDDEN,
        "ssl_required",
        "a password is accepted only over HTTPS",
    )
}

/// Prove the caller by one of its keys, presented as to any door.
#[allow(clippy::result_large_err)] // the refusal is the whole response, returned once
fn by_key(shared: &Shared, req: &Request<Incoming>) -> Result<Caller, Answer> {
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()));
    let presented =
        Presented::from_target_and_headers(req.uri(), headers, &CredentialOptions::default());
    let unauthorized = |reason: &str| {
        error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            &format!("a valid key or a user and password are needed ({reason})"),
        )
    };
    let Ok(presented) = presented else {
        return Err(unauthorized("malformed"));
    };
    let path = presented.path.clone().unwrap_or_default();
    let check = Check {
        path: Some(&path),
        require_tls: shared.config.require_tls,
        current: false,
    };
    match shared.with_verifier(|v| v.verify_request(&presented, &check)) {
        Ok(v) if v.valid => match v.user {
            Some(user) => Ok(Caller {
                user,
                key: v.id.map(|id| id.to_string()),
            }),
            None => Err(unauthorized("unknown")),
        },
        Ok(v) => Err(unauthorized(v.reason.map_or("rejected", |r| r.as_str()))),
        Err(e) => {
            shared.store_failed(&e);
            Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the store cannot be read",
            ))
        }
    }
}

/// A JSON request body, at most [`MAX_BODY`].
async fn body<T: serde::de::DeserializeOwned>(req: Request<Incoming>) -> Result<T, Answer> {
    if !super::is_json(&req) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid",
            "the body must be JSON (Content-Type: application/json)",
        ));
    }
    let bytes = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "invalid",
                "the body is too large or unreadable",
            ));
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid",
            &crate::token::redact(&format!(
                "expected {{\"handle\": \"...\", \"alias\": \"...\"}}: {e}"
            )),
        )
    })
}

/// A query parameter's percent-decoded value.
fn param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
        (n == name).then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// The time now as `YYYYMMDDTHHMMSSZ`, for default key names.
fn compact_now() -> String {
    crate::time::Timestamp::now()
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect()
}
