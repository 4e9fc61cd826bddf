//! `keyctl verify` on what HTTP clients send: every presentation (Bearer, Basic,
//! credential headers, query parameters, raw request heads, stdin, argument) against every key
//! state, plus `ambiguous`, `missing`, `insecure_transport`, JSON `source`/`warnings`, the
//! request-head limits, and that no token ever reaches stderr.

use crate::common;

use std::io::Write;
use std::process::Stdio;

use base64::Engine as _;
use common::{Env, Out, id_of, secret_of};
use proptest::prelude::*;
use serde_json::Value;

/// One way of handing keyctl a credential: command-line arguments and optional stdin.
struct Invocation {
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
}

impl Invocation {
    fn args(args: &[&str]) -> Invocation {
        Invocation {
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            stdin: None,
        }
    }

    fn request(head: String) -> Invocation {
        Invocation {
            args: vec!["--request".into()],
            stdin: Some(head.into_bytes()),
        }
    }

    fn with(mut self, more: &[&str]) -> Invocation {
        self.args.extend(more.iter().map(|s| (*s).to_owned()));
        self
    }

    /// Runs `keyctl verify --json` with these arguments; returns the output and its JSON.
    fn run(&self, env: &Env) -> (Out, Value) {
        let mut all = vec!["verify", "--json"];
        all.extend(self.args.iter().map(String::as_str));
        let out = match &self.stdin {
            Some(input) => env.run_stdin(&all, input),
            None => env.run(&all),
        };
        let json = out.json();
        (out, json)
    }
}

/// Where the request path of a presentation comes from.
#[derive(Clone, Copy, PartialEq)]
enum PathFrom {
    /// The URL or the request line; `--path` can override it.
    Request,
    /// Only `--path`.
    Flag,
}

/// A presentation: builds an invocation carrying `token` for request path `path`.
struct Presentation {
    name: &'static str,
    /// Expected JSON `source`.
    source: &'static str,
    /// Expect a warning (query-string credential, or a Basic username that is not the expected one).
    warns: bool,
    path_from: PathFrom,
    /// The credential is dropped before the store is asked: every state gives `unknown`.
    always_unknown: bool,
    build: fn(&str, &str) -> Invocation,
}

const fn p(
    name: &'static str,
    source: &'static str,
    path_from: PathFrom,
    build: fn(&str, &str) -> Invocation,
) -> Presentation {
    Presentation {
        name,
        source,
        warns: false,
        path_from,
        always_unknown: false,
        build,
    }
}

const fn query(
    name: &'static str,
    source: &'static str,
    build: fn(&str, &str) -> Invocation,
) -> Presentation {
    Presentation {
        warns: true,
        ..p(name, source, PathFrom::Request, build)
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Percent-encodes every byte, with uppercase hex.
fn pct_all(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// Percent-encodes `_` (lowercase hex) and every third character (uppercase hex).
fn pct_some(s: &str) -> String {
    s.bytes()
        .enumerate()
        .map(|(i, b)| match (b, i % 3) {
            (b'_', _) => "%5f".to_owned(),
            (_, 0) => format!("%{b:02X}"),
            _ => (b as char).to_string(),
        })
        .collect()
}

fn url(path: &str) -> String {
    format!("http://api.example.com{path}")
}

fn h(value: String, path: &str) -> Invocation {
    Invocation::args(&["-H", &value, "--url", &url(path)])
}

const HEADERS: &[Presentation] = &[
    p(
        "bearer",
        "header:authorization-bearer",
        PathFrom::Request,
        |t, path| h(format!("Authorization: Bearer {t}"), path),
    ),
    p(
        "bearer, lowercase, path from --path",
        "header:authorization-bearer",
        PathFrom::Flag,
        |t, path| {
            Invocation::args(&[
                "--header",
                &format!("authorization: bearer {t}"),
                "--path",
                path,
            ])
        },
    ),
    p(
        "bearer among other headers",
        "header:authorization-bearer",
        PathFrom::Request,
        |t, path| {
            Invocation::args(&[
                "-H",
                "Accept: */*",
                "-H",
                &format!("AUTHORIZATION:Bearer   {t}  "),
            ])
            .with(&["-H", "X-Request-Id: 42", "--url", &url(path)])
        },
    ),
    p(
        "x-auth-key",
        "header:x-auth-key",
        PathFrom::Request,
        |t, path| h(format!("x-auth-key: {t}"), path),
    ),
    p(
        "X-Auth-Key",
        "header:x-auth-key",
        PathFrom::Request,
        |t, path| h(format!("X-Auth-Key: {t}"), path),
    ),
    p(
        "x-api-auth",
        "header:x-api-auth",
        PathFrom::Request,
        |t, path| h(format!("x-api-auth: {t}"), path),
    ),
    p(
        "X-API-AUTH",
        "header:x-api-auth",
        PathFrom::Flag,
        |t, path| Invocation::args(&["-H", &format!("X-API-AUTH: {t}"), "--path", path]),
    ),
    p(
        "x-api-key",
        "header:x-api-key",
        PathFrom::Request,
        |t, path| h(format!("x-api-key: {t}"), path),
    ),
    p(
        "X-Api-Key",
        "header:x-api-key",
        PathFrom::Request,
        |t, path| h(format!("X-Api-Key: {t}"), path),
    ),
];

const BASIC: &[Presentation] = &[
    p("basic, any user", "basic", PathFrom::Request, |t, path| {
        h(
            format!("Authorization: Basic {}", b64(&format!("anyone:{t}"))),
            path,
        )
    }),
    p("basic, empty user", "basic", PathFrom::Flag, |t, path| {
        Invocation::args(&[
            "-H",
            &format!("authorization: basic {}", b64(&format!(":{t}"))),
            "--path",
            path,
        ])
    }),
    p(
        "basic, --basic-user matches",
        "basic",
        PathFrom::Request,
        |t, path| {
            h(
                format!("Authorization: Basic {}", b64(&format!("haplo:{t}"))),
                path,
            )
            .with(&["--basic-user", "haplo"])
        },
    ),
    Presentation {
        warns: true,
        always_unknown: true,
        ..p(
            "basic, --basic-user differs",
            "basic",
            PathFrom::Request,
            |t, path| {
                h(
                    format!("Authorization: Basic {}", b64(&format!("Haplo:{t}"))),
                    path,
                )
                .with(&["--basic-user", "haplo"])
            },
        )
    },
];

const QUERIES: &[Presentation] = &[
    query("_auth_key, fully encoded", "query:_auth_key", |t, path| {
        Invocation::args(&[
            "--url",
            &format!("https://api.example.com{path}?_auth_key={}", pct_all(t)),
        ])
    }),
    query(
        "_api_auth among other params",
        "query:_api_auth",
        |t, path| {
            Invocation::args(&[
                "--url",
                &format!("{}?a=1&_api_auth={}&b=%20", url(path), pct_some(t)),
            ])
        },
    ),
    query("accesskey, origin-form", "query:accesskey", |t, path| {
        Invocation::args(&["--url", &format!("{path}?accesskey={t}")])
    }),
    query("api_key with fragment", "query:api_key", |t, path| {
        Invocation::args(&[
            "--url",
            &format!("{}?api_key={}#top", url(path), pct_some(t)),
        ])
    }),
    query(
        "accesskey, url plus unrelated header",
        "query:accesskey",
        |t, path| {
            Invocation::args(&[
                "-H",
                "Accept: */*",
                "--url",
                &format!("{}?accesskey={}", url(path), pct_all(t)),
            ])
        },
    ),
];

const REQUESTS: &[Presentation] = &[
    p(
        "raw CRLF, bearer",
        "header:authorization-bearer",
        PathFrom::Request,
        |t, path| {
            Invocation::request(format!(
                "GET {path}?x=1 HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer {t}\r\nAccept: */*\r\n\r\n"
            ))
        },
    ),
    p(
        "raw LF, bearer",
        "header:authorization-bearer",
        PathFrom::Request,
        |t, path| {
            Invocation::request(format!(
                "GET {path} HTTP/1.1\nHost: api.example.com\nAuthorization: Bearer {t}\n\n"
            ))
        },
    ),
    p("raw CRLF, basic", "basic", PathFrom::Request, |t, path| {
        Invocation::request(format!(
            "POST {path} HTTP/1.1\r\nHost: h\r\nAuthorization: Basic {}\r\n\r\n",
            b64(&format!("haplo:{t}"))
        ))
    }),
    p(
        "raw LF, basic with --basic-user",
        "basic",
        PathFrom::Request,
        |t, path| {
            Invocation::request(format!(
                "POST {path} HTTP/1.0\nAuthorization: Basic {}\n\n",
                b64(&format!("haplo:{t}"))
            ))
            .with(&["--basic-user", "haplo"])
        },
    ),
    Presentation {
        warns: true,
        always_unknown: true,
        ..p(
            "raw CRLF, basic with wrong user",
            "basic",
            PathFrom::Request,
            |t, path| {
                Invocation::request(format!(
                    "GET {path} HTTP/1.1\r\nAuthorization: Basic {}\r\n\r\n",
                    b64(&format!("other:{t}"))
                ))
                .with(&["--basic-user", "haplo"])
            },
        )
    },
    p(
        "raw CRLF, X-AUTH-KEY",
        "header:x-auth-key",
        PathFrom::Request,
        |t, path| Invocation::request(format!("DELETE {path} HTTP/1.1\r\nX-AUTH-KEY: {t}\r\n\r\n")),
    ),
    p(
        "raw LF, x-api-auth",
        "header:x-api-auth",
        PathFrom::Request,
        |t, path| Invocation::request(format!("GET {path} HTTP/1.1\nx-api-auth:{t}\n\n")),
    ),
    p(
        "raw CRLF, x-api-key",
        "header:x-api-key",
        PathFrom::Request,
        |t, path| Invocation::request(format!("GET {path} HTTP/1.1\r\nX-Api-Key: {t}\r\n\r\n")),
    ),
    Presentation {
        warns: true,
        ..p(
            "raw CRLF, accesskey in target",
            "query:accesskey",
            PathFrom::Request,
            |t, path| {
                Invocation::request(format!(
                    "GET {path}?accesskey={} HTTP/1.1\r\nHost: h\r\n\r\n",
                    pct_some(t)
                ))
            },
        )
    },
    Presentation {
        warns: true,
        ..p(
            "raw LF, _api_auth in absolute target",
            "query:_api_auth",
            PathFrom::Request,
            |t, path| {
                Invocation::request(format!(
                    "GET https://api.example.com{path}?_api_auth={} HTTP/1.1\nHost: api.example.com\n\n",
                    pct_all(t)
                ))
            },
        )
    },
    Presentation {
        warns: true,
        ..p(
            "raw CRLF, _auth_key after another param",
            "query:_auth_key",
            PathFrom::Request,
            |t, path| Invocation::request(format!("GET {path}?q=a&_auth_key={t} HTTP/1.1\r\n\r\n")),
        )
    },
];

const PLAIN: &[Presentation] = &[
    p("stdin", "stdin", PathFrom::Flag, |t, path| Invocation {
        args: vec!["--path".into(), path.into()],
        stdin: Some(format!("{t}\r\n").into_bytes()),
    }),
    p("argument", "argument", PathFrom::Flag, |t, path| {
        Invocation::args(&[t, "--path", path])
    }),
    p(
        "argument with --url for the path",
        "argument",
        PathFrom::Request,
        |t, path| Invocation::args(&[t, "--url", &url(path)]),
    ),
];

/// A store holding one key in each state, and the token for each.
struct Keys {
    env: Env,
    /// Active, no path restriction.
    active: String,
    /// The old token of a key that was reset: well formed, right id, wrong secret.
    wrong_secret: String,
    /// Deleted with `--yes`.
    revoked: String,
    /// Expired with `expire KEY now`.
    expired: String,
    /// Active, restricted to `/api`.
    restricted: String,
}

impl Keys {
    fn new() -> Keys {
        let env = Env::new();
        let active = env.create(&["--user", "svc", "--name", "active"]);
        let wrong_secret = env.create(&["--user", "svc", "--name", "reset"]);
        env.run(&["reset", id_of(&wrong_secret)]).code(0);
        let revoked = env.create(&["--user", "svc", "--name", "revoked"]);
        env.run(&["delete", id_of(&revoked), "--yes"]).code(0);
        let expired = env.create(&["--user", "svc", "--name", "expired"]);
        env.run(&["expire", id_of(&expired), "now"]).code(0);
        let restricted = env.create(&["--user", "svc", "--name", "restricted", "--path", "/api"]);
        Keys {
            env,
            active,
            wrong_secret,
            revoked,
            expired,
            restricted,
        }
    }

    fn all_tokens(&self) -> [&str; 5] {
        [
            &self.active,
            &self.wrong_secret,
            &self.revoked,
            &self.expired,
            &self.restricted,
        ]
    }
}

/// Problems if any of `tokens`, or any 16-character piece of their secrets, is in `text`.
fn leaks(text: &str, tokens: &[&str]) -> Option<String> {
    tokens.iter().find_map(|t| {
        let secret = secret_of(t);
        (0..=secret.len() - 16)
            .map(|i| &secret[i..i + 16])
            .find(|piece| text.contains(piece))
            .map(|_| format!("a secret appears in: {text:?}"))
    })
}

/// Checks one run; returns a description of each mismatch.
#[allow(clippy::too_many_arguments)]
fn check(
    label: &str,
    out: &Out,
    v: &Value,
    reason: Option<&str>,
    id: Option<&str>,
    source: Option<&str>,
    warns: bool,
    tokens: &[&str],
) -> Vec<String> {
    let mut bad = Vec::new();
    let mut expect = |what: &str, ok: bool| {
        if !ok {
            bad.push(format!(
                "{label}: {what}\n  exit {}\n  stdout {}\n  stderr {:?}",
                out.code, out.stdout, out.stderr
            ));
        }
    };
    expect(
        "exit code",
        out.code == if reason.is_none() { 0 } else { 1 },
    );
    expect("valid", v["valid"] == Value::Bool(reason.is_none()));
    expect("reason", v["reason"].as_str() == reason);
    expect("id", v["id"].as_str() == id);
    expect("source", v["source"].as_str() == source);
    let warnings = v["warnings"].as_array();
    expect("warnings is an array", warnings.is_some());
    let json_warns = warnings.is_some_and(|w| !w.is_empty());
    expect("warnings in JSON", json_warns == warns);
    expect("warning on stderr", out.stderr.contains("warning") == warns);
    if let Some(leak) = leaks(&out.stderr, tokens).or_else(|| leaks(&out.stdout, tokens)) {
        expect(&leak, false);
    }
    bad
}

/// Runs every presentation against every key state; fails listing every mismatch.
fn check_presentations(presentations: &[Presentation]) {
    let keys = Keys::new();
    let tokens = keys.all_tokens();
    let mut bad = Vec::new();
    for pr in presentations {
        // (state, token, request path, --path override, expected reason, id expected)
        let mut cases = vec![
            ("valid", &keys.active, "/other", None, None, true),
            (
                "wrong secret",
                &keys.wrong_secret,
                "/other",
                None,
                Some("unknown"),
                false,
            ),
            (
                "revoked",
                &keys.revoked,
                "/other",
                None,
                Some("revoked"),
                true,
            ),
            (
                "expired",
                &keys.expired,
                "/other",
                None,
                Some("expired"),
                true,
            ),
            (
                "path restricted",
                &keys.restricted,
                "/other",
                None,
                Some("path_not_allowed"),
                true,
            ),
            (
                "path allowed",
                &keys.restricted,
                "/api/items",
                None,
                None,
                true,
            ),
            (
                "path segment boundary",
                &keys.restricted,
                "/apix",
                None,
                Some("path_not_allowed"),
                true,
            ),
        ];
        if pr.path_from == PathFrom::Request {
            cases.push((
                "--path overrides to a disallowed path",
                &keys.restricted,
                "/api/items",
                Some("/other"),
                Some("path_not_allowed"),
                true,
            ));
            cases.push((
                "--path overrides to an allowed path",
                &keys.restricted,
                "/other",
                Some("/api"),
                None,
                true,
            ));
        }
        for (state, token, path, path_flag, reason, has_id) in cases {
            let mut inv = (pr.build)(token, path);
            if let Some(flag) = path_flag {
                inv = inv.with(&["--path", flag]);
            }
            let (out, v) = inv.run(&keys.env);
            let (reason, id) = if pr.always_unknown {
                (Some("unknown"), None)
            } else {
                (reason, has_id.then(|| id_of(token)))
            };
            bad.extend(check(
                &format!("{} / {state}", pr.name),
                &out,
                &v,
                reason,
                id,
                Some(pr.source),
                pr.warns,
                &tokens,
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn header_presentations_in_every_key_state() {
    check_presentations(HEADERS);
}

#[test]
fn basic_presentations_in_every_key_state() {
    check_presentations(BASIC);
}

#[test]
fn query_presentations_in_every_key_state() {
    check_presentations(QUERIES);
}

#[test]
fn raw_request_presentations_in_every_key_state() {
    check_presentations(REQUESTS);
}

#[test]
fn stdin_and_argument_in_every_key_state() {
    check_presentations(PLAIN);
}

/// The CRC-32 (IEEE) checksum of the token format, as 6 base62 digits (README).
fn checksum(text: &str) -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut crc = !0u32;
    for &byte in text.as_bytes() {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    let mut n = !crc;
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).unwrap()
}

#[test]
fn forged_secret_with_a_correct_checksum_is_unknown_in_every_presentation() {
    let env = Env::new();
    let token = env.create(&["--user", "svc"]);
    // Same id, another secret, a checksum that matches: passes the shape check, fails the store.
    let signed = format!("kc_{}_{}", id_of(&token), "Z".repeat(43));
    let forged = format!("{signed}{}", checksum(&signed));
    // The checksum helper agrees with keyctl: the real token checks out.
    let (real_signed, real_check) = token.split_at(token.len() - 6);
    assert_eq!(checksum(real_signed), real_check);
    let mut bad = Vec::new();
    for pr in HEADERS
        .iter()
        .chain(BASIC)
        .chain(QUERIES)
        .chain(REQUESTS)
        .chain(PLAIN)
    {
        let (out, v) = (pr.build)(&forged, "/api").run(&env);
        bad.extend(check(
            pr.name,
            &out,
            &v,
            Some("unknown"),
            None,
            Some(pr.source),
            pr.warns,
            &[&token, &forged],
        ));
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn a_token_with_a_bad_checksum_is_malformed() {
    let env = Env::new();
    let token = env.create(&["--user", "svc"]);
    let mut typo = token.clone();
    let last = typo.pop().unwrap();
    typo.push(if last == 'a' { 'b' } else { 'a' });
    for inv in [
        Invocation::args(&["-H", &format!("Authorization: Bearer {typo}")]),
        Invocation::args(&["--url", &format!("/x?accesskey={typo}")]),
        Invocation::request(format!("GET / HTTP/1.1\r\nx-auth-key: {typo}\r\n\r\n")),
    ] {
        let (out, v) = inv.run(&env);
        out.code(1);
        assert_eq!(v["reason"], "malformed", "{}", out.stdout);
        assert!(leaks(&out.stderr, &[&token]).is_none(), "{}", out.stderr);
    }
}

/// Expects a rejection for `reason` that names no key, and no secret in the output.
#[track_caller]
fn rejected(env: &Env, inv: Invocation, reason: &str, tokens: &[&str]) {
    let (out, v) = inv.run(env);
    let bad = check(reason, &out, &v, Some(reason), None, None, false, tokens);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[track_caller]
fn valid(env: &Env, inv: Invocation, source: &str, warns: bool, tokens: &[&str]) {
    let (out, v) = inv.run(env);
    let id = id_of(tokens[0]);
    let bad = check(
        source,
        &out,
        &v,
        None,
        Some(id),
        Some(source),
        warns,
        tokens,
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn two_different_tokens_are_ambiguous() {
    let env = Env::new();
    let a = env.create(&["--user", "svc"]);
    let b = env.create(&["--user", "svc"]);
    let ts: &[&str] = &[&a, &b];
    let bearer = format!("Authorization: Bearer {a}");
    rejected(
        &env,
        Invocation::args(&["-H", &bearer, "-H", &format!("x-api-key: {b}")]),
        "ambiguous",
        ts,
    );
    rejected(
        &env,
        Invocation::args(&[
            "-H",
            &format!("x-auth-key: {a}"),
            "-H",
            &format!("X-Auth-Key: {b}"),
        ]),
        "ambiguous",
        ts,
    );
    rejected(
        &env,
        Invocation::args(&[
            "-H",
            &bearer,
            "--url",
            &format!("https://h/api?accesskey={b}"),
        ]),
        "ambiguous",
        ts,
    );
    rejected(
        &env,
        Invocation::args(&[
            "--url",
            &format!("https://h/api?_auth_key={a}&_api_auth={b}"),
        ]),
        "ambiguous",
        ts,
    );
    rejected(
        &env,
        Invocation::args(&[
            &a,
            "-H",
            &format!("Authorization: Basic {}", b64(&format!("u:{b}"))),
        ]),
        "ambiguous",
        ts,
    );
    for eol in ["\r\n", "\n"] {
        rejected(
            &env,
            Invocation::request(format!(
                "GET /?api_key={b} HTTP/1.1{eol}Authorization: Bearer {a}{eol}{eol}"
            )),
            "ambiguous",
            ts,
        );
    }
    // A second credential that is not even a token still makes the request ambiguous.
    rejected(
        &env,
        Invocation::args(&["-H", &bearer, "-H", "x-api-key: nonsense"]),
        "ambiguous",
        ts,
    );
    // Even when the other one would be rejected anyway, keyctl does not pick one.
    env.run(&["delete", id_of(&b), "--yes"]).code(0);
    rejected(
        &env,
        Invocation::args(&["-H", &bearer, "-H", &format!("x-api-auth: {b}")]),
        "ambiguous",
        ts,
    );
}

#[test]
fn the_same_token_twice_is_not_ambiguous() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    let ts: &[&str] = &[&t];
    let basic = format!("Authorization: Basic {}", b64(&format!("haplo:{t}")));
    valid(
        &env,
        Invocation::args(&[
            "-H",
            &format!("Authorization: Bearer {t}"),
            "-H",
            &format!("x-api-key: {t}"),
        ]),
        "header:authorization-bearer",
        false,
        ts,
    );
    valid(
        &env,
        Invocation::args(&[
            "-H",
            &basic,
            "-H",
            &format!("x-auth-key: {t}"),
            "-H",
            &format!("x-auth-key: {t}"),
        ]),
        "basic",
        false,
        ts,
    );
    valid(
        &env,
        Invocation::args(&[&t, "-H", &format!("x-api-auth: {t}")]),
        "header:x-api-auth",
        false,
        ts,
    );
    valid(
        &env,
        Invocation::request(format!(
            "GET / HTTP/1.1\r\nx-auth-key: {t}\r\nX-Api-Key: {t}\r\n\r\n"
        )),
        "header:x-auth-key",
        false,
        ts,
    );
    // The token also went through a query string: that still deserves the warning.
    valid(
        &env,
        Invocation::args(&[
            "-H",
            &format!("x-api-key: {t}"),
            "--url",
            &format!("/v1?api_key={}", pct_all(&t)),
        ]),
        "header:x-api-key",
        true,
        ts,
    );
    // The request target is read before the headers, so the query is the source reported.
    valid(
        &env,
        Invocation::request(format!(
            "GET /?accesskey={t}&_auth_key={} HTTP/1.1\nAuthorization: Bearer {t}\n\n",
            pct_some(&t)
        )),
        "query:accesskey",
        true,
        ts,
    );
}

#[test]
fn no_credential_is_missing() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    let ts: &[&str] = &[&t];
    rejected(
        &env,
        Invocation::args(&["-H", "Accept: */*"]),
        "missing",
        ts,
    );
    rejected(
        &env,
        Invocation::args(&["--url", "https://h/api?key=1&token=2&ApiKey=3"]),
        "missing",
        ts,
    );
    rejected(
        &env,
        Invocation::args(&["--url", "/api", "--path", "/api"]),
        "missing",
        ts,
    );
    // Other schemes, and look-alike header names, carry no credential keyctl knows.
    rejected(
        &env,
        Invocation::args(&[
            "-H",
            &format!("Authorization: Token {t}"),
            "-H",
            &format!("x-auth-keys: {t}"),
        ]),
        "missing",
        ts,
    );
    rejected(
        &env,
        Invocation::args(&["--url", &format!("/api?AccessKey={t}&_auth_key_={t}")]),
        "missing",
        ts,
    );
    for eol in ["\r\n", "\n"] {
        rejected(
            &env,
            Invocation::request(format!("GET /api HTTP/1.1{eol}Host: h{eol}{eol}")),
            "missing",
            ts,
        );
    }
}

#[test]
fn require_tls_rejects_plain_http() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    let ts: &[&str] = &[&t];
    let bearer = format!("Authorization: Bearer {t}");
    let tls = |inv: Invocation| inv.with(&["--require-tls"]);
    // Plain http URL, or nothing saying https.
    rejected(
        &env,
        tls(Invocation::args(&["-H", &bearer, "--url", "http://h/api"])),
        "insecure_transport",
        ts,
    );
    rejected(
        &env,
        tls(Invocation::args(&["-H", &bearer])),
        "insecure_transport",
        ts,
    );
    rejected(
        &env,
        tls(Invocation::args(&["-H", &bearer, "--url", "/api"])),
        "insecure_transport",
        ts,
    );
    rejected(
        &env,
        tls(Invocation::args(&[
            "-H",
            &bearer,
            "-H",
            "X-Forwarded-Proto: http",
        ])),
        "insecure_transport",
        ts,
    );
    rejected(&env, tls(Invocation::args(&[&t])), "insecure_transport", ts);
    for eol in ["\r\n", "\n"] {
        rejected(
            &env,
            tls(Invocation::request(format!(
                "GET /api HTTP/1.1{eol}Host: h{eol}x-api-key: {t}{eol}{eol}"
            ))),
            "insecure_transport",
            ts,
        );
        rejected(
            &env,
            tls(Invocation::request(format!(
                "GET http://h/api HTTP/1.1{eol}x-api-key: {t}{eol}{eol}"
            ))),
            "insecure_transport",
            ts,
        );
    }
    // Even a request that would otherwise be missing its credential: transport comes first.
    rejected(
        &env,
        tls(Invocation::args(&["--url", "http://h/api"])),
        "insecure_transport",
        ts,
    );

    // An https URL or X-Forwarded-Proto: https passes.
    valid(
        &env,
        tls(Invocation::args(&["-H", &bearer, "--url", "https://h/api"])),
        "header:authorization-bearer",
        false,
        ts,
    );
    valid(
        &env,
        tls(Invocation::args(&["-H", &bearer, "--url", "HTTPS://h/api"])),
        "header:authorization-bearer",
        false,
        ts,
    );
    valid(
        &env,
        tls(Invocation::args(&[
            "-H",
            &bearer,
            "-H",
            "x-forwarded-proto: https",
        ])),
        "header:authorization-bearer",
        false,
        ts,
    );
    valid(
        &env,
        tls(Invocation::args(&[
            "--url",
            &format!("https://h/api?accesskey={t}"),
        ])),
        "query:accesskey",
        true,
        ts,
    );
    for eol in ["\r\n", "\n"] {
        valid(
            &env,
            tls(Invocation::request(format!(
                "GET /api HTTP/1.1{eol}X-Forwarded-Proto: https{eol}x-api-key: {t}{eol}{eol}"
            ))),
            "header:x-api-key",
            false,
            ts,
        );
        valid(
            &env,
            tls(Invocation::request(format!(
                "GET https://h/api HTTP/1.1{eol}x-api-key: {t}{eol}{eol}"
            ))),
            "header:x-api-key",
            false,
            ts,
        );
    }
    // Without --require-tls, plain http is fine.
    valid(
        &env,
        Invocation::args(&["-H", &bearer, "--url", "http://h/api"]),
        "header:authorization-bearer",
        false,
        ts,
    );
}

/// Runs `keyctl verify --json --request` feeding `head` then `tail_len` more bytes of `fill`
/// without closing stdin until everything is written or keyctl stops reading. Returns the
/// output and how many bytes keyctl accepted before its end of the pipe closed.
fn feed_request(
    env: &Env,
    args: &[&str],
    head: &[u8],
    fill: &[u8],
    tail_len: usize,
) -> (Out, usize) {
    let mut all = vec!["verify", "--json", "--request"];
    all.extend_from_slice(args);
    let mut child = env
        .command()
        .args(&all)
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn keyctl");
    let mut stdin = child.stdin.take().expect("stdin");
    let head = head.to_vec();
    let fill = fill.to_vec();
    let writer = std::thread::spawn(move || {
        let mut written = 0;
        if stdin.write_all(&head).is_err() {
            return written;
        }
        written += head.len();
        let chunk = fill.repeat(64 * 1024 / fill.len().max(1));
        while written < head.len() + tail_len {
            let n = chunk.len().min(head.len() + tail_len - written);
            match stdin.write(&chunk[..n]) {
                Ok(n) => written += n,
                Err(_) => break,
            }
        }
        written
    });
    let output = child.wait_with_output().expect("wait keyctl");
    let written = writer.join().expect("writer thread");
    let out = Out {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    (out, written)
}

const HUGE: usize = 32 * 1024 * 1024;

#[track_caller]
fn assert_malformed_early(out: &Out, written: usize, total: usize) {
    out.code(1);
    assert_eq!(out.json()["reason"], "malformed", "{}", out.stdout);
    assert!(
        written < total,
        "keyctl read all {total} bytes instead of stopping at the limit"
    );
}

#[test]
fn an_endless_header_line_is_malformed_without_reading_on() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    let head = format!("GET / HTTP/1.1\r\nx-api-key: {t}\r\nX-Long: ");
    let (out, written) = feed_request(&env, &[], head.as_bytes(), b"a", HUGE);
    assert_malformed_early(&out, written, head.len() + HUGE);
    assert!(leaks(&out.stderr, &[&t]).is_none());
}

#[test]
fn an_endless_stream_of_headers_is_malformed_without_reading_on() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    for eol in ["\r\n", "\n"] {
        let head = format!("GET / HTTP/1.1{eol}x-api-key: {t}{eol}");
        let header = format!("X-More: a{eol}");
        let (out, written) = feed_request(&env, &[], head.as_bytes(), header.as_bytes(), HUGE);
        assert_malformed_early(&out, written, head.len() + HUGE);
        assert!(leaks(&out.stderr, &[&t]).is_none());
    }
}

/// A request head with a valid credential, padded with `lines` filler headers so that the
/// whole head (blank line included) is exactly `total` bytes.
fn padded_head(token: &str, lines: usize, total: usize, eol: &str) -> Vec<u8> {
    let mut head = format!("GET /api HTTP/1.1{eol}Authorization: Bearer {token}{eol}");
    let fixed = head.len() + eol.len() + lines * ("X-Fill: ".len() + eol.len());
    let pad = total - fixed;
    for i in 0..lines {
        let n = pad / lines + usize::from(i < pad % lines);
        head.push_str("X-Fill: ");
        head.push_str(&"f".repeat(n));
        head.push_str(eol);
    }
    head.push_str(eol);
    assert_eq!(head.len(), total);
    head.into_bytes()
}

#[test]
fn request_head_size_limit_is_64_kib() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    for eol in ["\r\n", "\n"] {
        // 20 filler lines of ~3.2 KiB: under the line and header-count limits.
        let (out, _) = feed_request(&env, &[], &padded_head(&t, 20, 64 * 1024, eol), b"x", 0);
        out.code(0);
        assert_eq!(out.json()["source"], "header:authorization-bearer");
        let (out, _) = feed_request(&env, &[], &padded_head(&t, 20, 64 * 1024 + 1, eol), b"x", 0);
        out.code(1);
        assert_eq!(out.json()["reason"], "malformed");
        assert!(leaks(&out.stderr, &[&t]).is_none());
    }
    // Far over the limit, still streaming: stops early.
    let head = padded_head(&t, 60, 200 * 1024, "\r\n");
    let (out, written) = feed_request(&env, &[], &head, b"x", HUGE);
    assert_malformed_early(&out, written, head.len() + HUGE);
}

#[test]
fn at_most_100_headers() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    for eol in ["\r\n", "\n"] {
        let head = |n: usize| {
            let mut s = format!("GET / HTTP/1.1{eol}x-auth-key: {t}{eol}");
            for i in 1..n {
                s.push_str(&format!("X-H{i}: v{eol}"));
            }
            s.push_str(eol);
            s.into_bytes()
        };
        let (out, _) = feed_request(&env, &[], &head(100), b"x", 0);
        out.code(0);
        assert_eq!(out.json()["source"], "header:x-auth-key");
        let (out, _) = feed_request(&env, &[], &head(101), b"x", 0);
        out.code(1);
        assert_eq!(out.json()["reason"], "malformed");
        assert!(leaks(&out.stderr, &[&t]).is_none());
    }
}

#[test]
fn at_most_8_kib_per_line() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    for eol in ["\r\n", "\n"] {
        let head = |len: usize| {
            let filler = format!("X-Fill: {}", "f".repeat(len - "X-Fill: ".len()));
            assert_eq!(filler.len(), len);
            format!("GET / HTTP/1.1{eol}{filler}{eol}x-api-auth: {t}{eol}{eol}").into_bytes()
        };
        let (out, _) = feed_request(&env, &[], &head(8 * 1024), b"x", 0);
        out.code(0);
        assert_eq!(out.json()["source"], "header:x-api-auth");
        let (out, _) = feed_request(&env, &[], &head(8 * 1024 + 1), b"x", 0);
        out.code(1);
        assert_eq!(out.json()["reason"], "malformed");
        assert!(leaks(&out.stderr, &[&t]).is_none());
        // The request line is held to the same limit.
        let long_target = format!(
            "GET /{} HTTP/1.1{eol}x-api-auth: {t}{eol}{eol}",
            "a".repeat(9000)
        );
        let (out, _) = feed_request(&env, &[], long_target.as_bytes(), b"x", 0);
        out.code(1);
        assert_eq!(out.json()["reason"], "malformed");
    }
}

#[test]
fn a_huge_body_after_the_blank_line_is_ignored() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--path", "/api"]);
    let other = env.create(&["--user", "svc"]);
    for eol in ["\r\n", "\n"] {
        // The body starts with what looks like another credential: it must not be read.
        let head = format!(
            "POST /api/upload HTTP/1.1{eol}Authorization: Bearer {t}{eol}Content-Length: 33554432{eol}{eol}x-api-key: {other}{eol}{eol}"
        );
        let (out, written) = feed_request(&env, &[], head.as_bytes(), b"B", HUGE);
        out.code(0);
        let v = out.json();
        assert_eq!(v["valid"], true);
        assert_eq!(v["source"], "header:authorization-bearer");
        assert_eq!(v["id"], id_of(&t));
        assert!(written < head.len() + HUGE, "keyctl read the body");
        assert!(leaks(&out.stderr, &[&t, &other]).is_none());
    }
}

#[test]
fn unreadable_requests_are_malformed_and_name_no_secret() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    let cases: Vec<Invocation> = vec![
        Invocation::request(format!("GARBAGE{t}\r\n\r\n")),
        Invocation::request(format!("GET /api HTTP/2\r\nx-api-key: {t}\r\n\r\n")),
        Invocation::request(format!("GET /api HTTP/1.1\r\nx-api-key {t}\r\n\r\n")),
        Invocation::request(format!(
            "GET /api HTTP/1.1\r\nx-api-key: {t}\r\n {t}\r\n\r\n"
        )),
        Invocation::request(String::new()),
        Invocation {
            args: vec!["--request".into()],
            stdin: Some(
                [
                    b"GET / HTTP/1.1\r\nx-api-key: ".as_slice(),
                    &[0xff, 0xfe],
                    b"\r\n\r\n",
                ]
                .concat(),
            ),
        },
        Invocation::args(&["-H", &format!("Authorization: Basic {t}!")]),
        Invocation::args(&["-H", &format!("Authorization: Basic {}", b64(&t))]),
        Invocation::args(&["--url", &format!("ftp://h/?accesskey={t}")]),
        Invocation::args(&["--url", &format!("https://user:{t}@h/api")]),
        Invocation::args(&["--url", &format!("https://h/a b?accesskey={t}")]),
    ];
    for inv in cases {
        let (out, v) = inv.run(&env);
        out.code(1);
        assert_eq!(v["reason"], "malformed", "{:?}: {}", inv.args, out.stdout);
        assert!(leaks(&out.stderr, &[&t]).is_none(), "{}", out.stderr);
        assert!(leaks(&out.stdout, &[&t]).is_none(), "{}", out.stdout);
    }
}

#[test]
fn a_header_without_a_colon_is_a_usage_error_that_names_no_secret() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    for header in [
        format!("x-api-key {t}"),
        format!("Authorization Bearer {t}"),
        format!(": {t}"),
        format!("bad name: {t}"),
    ] {
        let out = env.run(&["verify", "--header", &header]);
        out.code(2);
        assert!(out.stderr.contains("header"), "{}", out.stderr);
        assert!(leaks(&out.stderr, &[&t]).is_none(), "{}", out.stderr);
        assert_eq!(out.stdout, "");
    }
}

#[test]
fn dot_segments_and_encoded_slashes_in_the_request_path_are_refused() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--path", "/api"]);
    let bearer = format!("Authorization: Bearer {t}");
    for target in [
        "/api/../admin",
        "/api/%2e%2e/admin",
        "/api/%2E/x",
        "/api%2fx",
        "/api/./x",
    ] {
        let (out, v) =
            Invocation::args(&["-H", &bearer, "--url", &format!("https://h{target}")]).run(&env);
        out.code(1);
        assert_eq!(v["reason"], "path_not_allowed", "{target}");
        let (out, v) =
            Invocation::request(format!("GET {target}?x=/api HTTP/1.1\r\n{bearer}\r\n\r\n"))
                .run(&env);
        out.code(1);
        assert_eq!(v["reason"], "path_not_allowed", "{target}");
    }
    // The query string is not part of the path.
    let (out, _) =
        Invocation::args(&["-H", &bearer, "--url", "https://h/api?next=/admin"]).run(&env);
    out.code(0);
    let (out, _) =
        Invocation::args(&["-H", &bearer, "--url", "https://h/admin?next=/api"]).run(&env);
    out.code(1);
}

/// Request paths that reach outside `/api` on some back end although keyctl reads them under it:
/// `;params` that servlet containers drop before resolving `..`, double encoding, overlong
/// UTF-8, IIS `%u`, and look-alikes that NFKC folds into dots or delimiters.
const LOOK_ALIKE_ATTACKS: &[&str] = &[
    "/api/..;/admin",
    "/api/%2e%2e;/admin",
    "/api/.;/admin",
    "/api/..;jsessionid=1/admin",
    "/api/..%3B/admin",
    "/api/%252e%252e/admin",
    "/api/%%32%65%%32%65/admin",
    "/api/%c0%ae%c0%ae/admin",
    "/api/%e0%80%ae/x",
    "/api/%u002e%u002e/admin",
    "/api/\u{FF0E}\u{FF0E}/admin",
    "/api/%EF%BC%8E%EF%BC%8E/admin",
    "/api/\u{2025}/admin",
    "/api/%E2%80%A5/admin",
    "/api/\u{2024}\u{2024}/admin",
    "/api/\u{FF61}\u{FF61}/admin",
    "/api/\u{FE30}/admin",
    "/api/.\u{AD}./admin",
    "/api/..\u{FF0F}admin",
    "/api/..\u{FF1B}/admin",
    "/api/..%3f/admin",
    "/api/%ff/x",
];

#[test]
fn look_alike_dot_segments_params_and_double_encodings_are_refused_in_every_path_source() {
    let env = Env::new();
    let restricted = env.create(&["--user", "svc", "--name", "restricted", "--path", "/api"]);
    let open = env.create(&["--user", "svc", "--name", "open"]);
    for target in LOOK_ALIKE_ATTACKS {
        for (token, want) in [(&restricted, Some("path_not_allowed")), (&open, None)] {
            let bearer = format!("Authorization: Bearer {token}");
            let sources = [
                (
                    "--path",
                    Invocation {
                        args: vec!["--path".into(), (*target).into()],
                        stdin: Some(format!("{token}\n").into_bytes()),
                    },
                ),
                (
                    "--url path",
                    Invocation::args(&["-H", &bearer, "--url", target]),
                ),
                (
                    "--url",
                    Invocation::args(&["-H", &bearer, "--url", &format!("https://h{target}")]),
                ),
                (
                    "--request",
                    Invocation::request(format!("GET {target} HTTP/1.1\r\n{bearer}\r\n\r\n")),
                ),
            ];
            for (source, inv) in sources {
                let (out, v) = inv.run(&env);
                out.code(if want.is_some() { 1 } else { 0 });
                assert_eq!(v["reason"].as_str(), want, "{source} {target:?}: {v}");
                assert_eq!(v["valid"], want.is_none(), "{source} {target:?}: {v}");
            }
        }
    }
    // Dots, escapes and non-ASCII inside a name stay allowed.
    for target in [
        "/api/a%2eb",
        "/api/...x",
        "/ap%69/x",
        "/api/caf%C3%A9",
        "/api/a\u{FF0E}b",
    ] {
        let bearer = format!("Authorization: Bearer {restricted}");
        let (out, v) =
            Invocation::request(format!("GET {target} HTTP/1.1\r\n{bearer}\r\n\r\n")).run(&env);
        out.code(0);
        assert_eq!(v["valid"], true, "{target:?}: {v}");
        let (out, _) =
            Invocation::args(&["-H", &bearer, "--url", &format!("https://h{target}")]).run(&env);
        out.code(0);
    }
}

#[test]
fn plain_output_names_the_reason_and_no_secret() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    let out = env.run(&[
        "verify",
        "-H",
        &format!("Authorization: Bearer {t}"),
        "--url",
        "/x",
    ]);
    out.code(0);
    assert!(out.stdout.starts_with("valid"), "{}", out.stdout);
    assert!(out.stdout.contains(id_of(&t)));
    let out = env.run(&["verify", "--url", &format!("/x?accesskey={t}")]);
    out.code(0);
    assert!(out.stderr.contains("warning"), "{}", out.stderr);
    assert!(leaks(&out.stderr, &[&t]).is_none(), "{}", out.stderr);
    assert!(leaks(&out.stdout, &[&t]).is_none(), "{}", out.stdout);
    let out = env.run(&["verify", "-H", "Accept: */*"]);
    out.code(1);
    assert_eq!(out.stdout.trim(), "rejected: missing");
}

/// Randomly cased header names for the credential headers.
fn any_case(name: &'static str) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<bool>(), name.len()).prop_map(move |upper| {
        name.chars()
            .zip(upper)
            .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

proptest! {
    // Each case runs the binary; a few cases are enough on top of the parser proptests.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the header-name case and whichever characters are percent-encoded (upper or
    /// lower hex), the token comes through valid from a raw request.
    #[test]
    fn any_header_case_and_any_percent_encoding_verifies(
        header in prop_oneof![any_case("x-auth-key"), any_case("x-api-auth"), any_case("x-api-key"), any_case("authorization")],
        param in prop_oneof![Just("_auth_key"), Just("_api_auth"), Just("accesskey"), Just("api_key")],
        encode in proptest::collection::vec(0u8..3, 120),
        lf in any::<bool>(),
    ) {
        let env = Env::new();
        let t = env.create(&["--user", "svc", "--path", "/api"]);
        let encoded: String = t
            .bytes()
            .zip(encode.iter().cycle())
            .map(|(b, e)| match e {
                0 => (b as char).to_string(),
                1 => format!("%{b:02X}"),
                _ => format!("%{b:02x}"),
            })
            .collect();
        let eol = if lf { "\n" } else { "\r\n" };
        let value = if header.eq_ignore_ascii_case("authorization") {
            format!("Bearer {t}")
        } else {
            t.clone()
        };
        let head = format!("GET /api/v1?{param}={encoded} HTTP/1.1{eol}{header}: {value}{eol}{eol}");
        let (out, v) = Invocation::request(head).run(&env);
        prop_assert_eq!(out.code, 0, "{}", out.stdout);
        prop_assert_eq!(v["id"].as_str(), Some(id_of(&t)));
        prop_assert!(!v["warnings"].as_array().unwrap().is_empty());
        prop_assert!(leaks(&out.stderr, &[&t]).is_none());
    }
}
