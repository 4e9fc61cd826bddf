//! `keyctl serve` through the built binary, over real sockets: forward auth (statuses,
//! headers, challenges, where the original path comes from, TLS), the JSON endpoint,
//! health, metrics, the access log, shutdown, hostile clients and revocation.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Env, Reply, Served, id_of, list, show};
use serde_json::Value;

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Forward auth as nginx asks it: the credential in the headers, the original target in
/// X-Original-URI.
fn auth(s: &Served, headers: &[(&str, &str)]) -> Reply {
    s.request("GET", "/auth", headers, b"")
}

#[track_caller]
fn assert_rejected(r: &Reply, status: u16, reason: &str) {
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(r.header("x-keyctl-reason"), Some(reason), "{r:?}");
    assert_eq!(r.header("x-keyctl-key-id"), None, "{r:?}");
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

#[test]
fn forward_auth_answers_200_with_who_and_401_or_403_with_why() {
    let env = Env::new();
    let web = env.create(&[
        "--user", "svc", "--name", "web", "--expire", "30d", "--path", "/api",
    ]);
    let plain = env.create(&["--user", "ops"]);
    let revoked = env.create(&["--user", "ops", "--name", "gone"]);
    env.run(&["delete", "ops/gone", "--yes"]).code(0);
    let disabled = env.create(&["--user", "ops", "--name", "off"]);
    env.run(&["disable", "ops/off"]).code(0);
    let expired = env.create(&["--user", "ops", "--name", "old"]);
    env.run(&["expire", "ops/old", "now"]).code(0);
    let s = Served::start(&env, &[]);

    let r = auth(
        &s,
        &[
            ("Authorization", &bearer(&web)),
            ("X-Original-URI", "/api/items?x=1"),
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, "");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("x-keyctl-key-id"), Some(id_of(&web)));
    assert_eq!(r.header("x-keyctl-user"), Some("svc"));
    assert_eq!(r.header("x-keyctl-key-name"), Some("web"));
    let shown = env.run(&["show", id_of(&web), "--json"]).json();
    assert_eq!(r.header("x-keyctl-expires"), shown["expires"].as_str());
    assert_eq!(r.header("x-keyctl-reason"), None);

    let r = auth(&s, &[("x-api-key", &plain)]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-keyctl-key-name"), None, "unnamed");
    assert_eq!(r.header("x-keyctl-expires"), None, "never expires");

    // The last character changed (the checksum's), to one it is not.
    let last = if plain.ends_with('x') { 'y' } else { 'x' };
    let forged = format!("{}{last}", &plain[..plain.len() - 1]);
    for (headers, status, reason) in [
        (vec![], 401, "missing"),
        (vec![("x-api-key", "not-a-token")], 401, "malformed"),
        (vec![("x-api-key", forged.as_str())], 401, "malformed"),
        (vec![("x-api-key", revoked.as_str())], 401, "revoked"),
        (vec![("x-api-key", disabled.as_str())], 401, "disabled"),
        (vec![("x-api-key", expired.as_str())], 401, "expired"),
        (
            vec![("x-api-key", plain.as_str()), ("x-auth-key", web.as_str())],
            401,
            "ambiguous",
        ),
        (
            vec![("x-api-key", web.as_str()), ("X-Original-URI", "/admin")],
            403,
            "path_not_allowed",
        ),
    ] {
        let r = auth(&s, &headers);
        assert_rejected(&r, status, reason);
    }
    // The id of a key whose secret is unknown is not told.
    let other = format!("kc_{}_{}", id_of(&plain), "B".repeat(43));
    let other = format!("{other}{}", keyctl::token::checksum(&other));
    assert_rejected(&auth(&s, &[("x-api-key", &other)]), 401, "unknown");
    // Any method, and anything under /auth.
    for method in ["POST", "HEAD", "PUT", "DELETE", "OPTIONS"] {
        let r = s.request(method, "/auth", &[("x-api-key", &plain)], b"");
        assert_eq!(r.status, 200, "{method}: {r:?}");
    }
}

#[test]
fn a_401_challenges_as_asked_and_a_403_never_does() {
    let env = Env::new();
    let web = env.create(&["--user", "svc", "--path", "/api"]);
    for (args, challenge) in [
        (&[][..], Some("Bearer realm=\"keyctl\"")),
        (&["--challenge", "bearer"], Some("Bearer realm=\"keyctl\"")),
        (&["--challenge", "basic"], Some("Basic realm=\"keyctl\"")),
        (&["--challenge", "none"], None),
    ] {
        let s = Served::start(&env, args);
        let r = auth(&s, &[]);
        assert_eq!(r.status, 401);
        assert_eq!(r.header("www-authenticate"), challenge, "{args:?}");
        let r = auth(&s, &[("x-api-key", &web), ("X-Original-URI", "/x")]);
        assert_eq!(r.status, 403);
        assert_eq!(r.header("www-authenticate"), None, "{args:?}: {r:?}");
    }
    let out = env.run(&["serve", "--challenge", "digest"]);
    out.code(2);
}

#[test]
fn the_original_path_and_query_come_from_the_proxy() {
    let env = Env::new();
    let web = env.create(&["--user", "svc", "--path", "/api"]);
    let any = env.create(&["--user", "ops"]);
    let s = Served::start(&env, &[]);
    let key = ("x-api-key", web.as_str());
    // nginx: X-Original-URI; Traefik and Caddy: X-Forwarded-Uri; X-Original-URI first.
    assert_eq!(auth(&s, &[key, ("X-Original-URI", "/api/x")]).status, 200);
    assert_eq!(auth(&s, &[key, ("X-Forwarded-Uri", "/api/x")]).status, 200);
    assert_eq!(auth(&s, &[key, ("X-Forwarded-Uri", "/admin")]).status, 403);
    assert_eq!(
        auth(
            &s,
            &[
                key,
                ("X-Original-URI", "/api/x"),
                ("X-Forwarded-Uri", "/admin")
            ]
        )
        .status,
        200
    );
    // Envoy with path_prefix /auth: the rest of the target is the original.
    assert_eq!(s.request("GET", "/auth/api/x?y=1", &[key], b"").status, 200);
    assert_eq!(s.request("GET", "/auth/admin", &[key], b"").status, 403);
    // No original path known: only a key good for every path passes.
    assert_rejected(&auth(&s, &[key]), 403, "path_not_allowed");
    assert_eq!(auth(&s, &[("x-api-key", &any)]).status, 200);
    // The path rules of keyctl verify apply.
    for evil in [
        "/api/../admin",
        "/api/%2e%2e/admin",
        "/api/..;/admin",
        "/api%2fadmin",
    ] {
        assert_rejected(
            &auth(&s, &[key, ("X-Original-URI", evil)]),
            403,
            "path_not_allowed",
        );
    }
    // Query credentials are read from the original request, never from /auth's own.
    let r = auth(
        &s,
        &[("X-Original-URI", &format!("/api/x?accesskey={web}"))],
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = s.request("GET", &format!("/auth?accesskey={any}"), &[], b"");
    assert_rejected(&r, 401, "missing");
    assert_eq!(
        s.request("GET", &format!("/auth/x?api_key={any}"), &[], b"")
            .status,
        200
    );
    // A token that is both in a header and in the query is one credential, not two.
    let r = auth(
        &s,
        &[key, ("X-Original-URI", &format!("/api/x?api_key={web}"))],
    );
    assert_eq!(r.status, 200);
}

#[test]
fn require_tls_needs_every_forwarded_proto_to_say_https() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    let s = Served::start(&env, &["--require-tls"]);
    let key = ("x-api-key", t.as_str());
    assert_eq!(auth(&s, &[key, ("X-Forwarded-Proto", "https")]).status, 200);
    assert_rejected(&auth(&s, &[key]), 403, "insecure_transport");
    for protos in [
        &["http"][..],
        &["http", "https"],
        &["https", "http"],
        &["https, http"],
    ] {
        let mut headers = vec![key];
        headers.extend(protos.iter().map(|p| ("X-Forwarded-Proto", *p)));
        assert_rejected(&auth(&s, &headers), 403, "insecure_transport");
    }
    // Without --require-tls plain http is fine.
    let s = Served::start(&env, &[]);
    assert_eq!(auth(&s, &[key]).status, 200);
}

#[test]
fn superseded_tokens_pass_with_their_grace_end() {
    let env = Env::new();
    let old = env.create(&["--user", "svc", "--name", "k"]);
    let out = env.run(&["rotate", "svc/k", "--grace", "1h", "--json"]);
    out.code(0);
    let until = out.json()["superseded"][0].as_str().unwrap().to_owned();
    let s = Served::start(&env, &[]);
    let r = auth(&s, &[("x-api-key", &old)]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-keyctl-superseded"), Some("true"));
    assert_eq!(r.header("x-keyctl-grace-until"), Some(until.as_str()));
    let new = out.json()["token"].as_str().unwrap().to_owned();
    let r = auth(&s, &[("x-api-key", &new)]);
    assert_eq!((r.status, r.header("x-keyctl-superseded")), (200, None));
}

fn post_json(s: &Served, body: &str) -> Reply {
    s.request(
        "POST",
        "/v1/verify",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

#[test]
fn the_json_endpoint_answers_as_verify_json_does() {
    let env = Env::new();
    let web = env.create(&["--user", "svc", "--name", "web", "--path", "/api"]);
    let s = Served::start(&env, &[]);
    for (path, args) in [
        (None, vec!["verify", "--json", web.as_str()]),
        (
            Some("/api/x"),
            vec!["verify", "--json", "--path", "/api/x", web.as_str()],
        ),
        (
            Some("/admin"),
            vec!["verify", "--json", "--path", "/admin", web.as_str()],
        ),
    ] {
        let mut ask = serde_json::json!({ "token": web });
        if let Some(p) = path {
            ask["path"] = p.into();
        }
        let r = post_json(&s, &ask.to_string());
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let served: Value = serde_json::from_str(&r.body).unwrap();
        let cli = env.run(&args).json();
        assert_eq!(served, cli, "the same JSON as verify --json");
    }
    let r = post_json(&s, &serde_json::json!({"token": "nope"}).to_string());
    assert_eq!(r.status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&r.body).unwrap()["reason"],
        "malformed"
    );

    for (body, ctype) in [
        ("{not json", "application/json"),
        ("{\"token\": 5}", "application/json"),
        ("{\"tokn\": \"x\"}", "application/json"),
        ("{\"token\": \"x\"}", "text/plain"),
    ] {
        let r = s.request(
            "POST",
            "/v1/verify",
            &[("Content-Type", ctype)],
            body.as_bytes(),
        );
        assert_eq!(r.status, 400, "{body} {ctype}: {r:?}");
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert!(v["error"].is_string(), "{v}");
    }
    let r = s.request("POST", "/v1/verify", &[], br#"{"token": "x"}"#);
    assert_eq!(r.status, 400, "no content type: {r:?}");
    let big = format!("{{\"token\": \"{}\"}}", "a".repeat(70 * 1024));
    let r = post_json(&s, &big);
    assert_eq!(r.status, 400, "{:?}", r.status);
    assert!(r.body.contains("64 KiB"), "{}", r.body);
    for method in ["GET", "PUT", "DELETE"] {
        let r = s.request(method, "/v1/verify", &[], b"");
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("POST"));
    }
    // An error never repeats a token sent in the body.
    let r = post_json(&s, &format!("{{\"token\": [\"{web}\"]}}"));
    assert_eq!(r.status, 400);
    assert!(!r.body.contains(&web[20..40]), "{}", r.body);
    assert_eq!(s.request("GET", "/nowhere", &[], b"").status, 404);
}

/// Make the store unreadable under a running server: its header overwritten in place,
/// as a disk error or a stray write would.
fn damage(env: &Env) -> Vec<u8> {
    let original = std::fs::read(&env.db).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&env.db)
        .unwrap();
    f.write_all(&[0u8; 100]).unwrap();
    f.sync_all().unwrap();
    original
}

#[test]
fn a_store_that_cannot_be_read_is_a_503_never_a_2xx() {
    let env = Env::sqlite();
    let t = env.create(&["--user", "svc"]);
    let s = Served::start(&env, &[]);
    assert_eq!(s.request("GET", "/healthz", &[], b"").status, 200);
    assert_eq!(auth(&s, &[("x-api-key", &t)]).status, 200);
    let original = damage(&env);
    for _ in 0..3 {
        let r = auth(&s, &[("x-api-key", &t)]);
        assert_eq!(r.status, 503, "{r:?}");
        assert_eq!(r.header("x-keyctl-key-id"), None);
        assert_eq!(
            post_json(&s, &format!("{{\"token\": \"{t}\"}}")).status,
            503
        );
        assert_eq!(s.request("GET", "/healthz", &[], b"").status, 503);
    }
    assert!(s.stderr().contains("503"), "logged: {}", s.stderr());
    // Back as it was: back in service, without a restart.
    std::fs::write(&env.db, original).unwrap();
    assert_eq!(s.request("GET", "/healthz", &[], b"").status, 200);
    assert_eq!(auth(&s, &[("x-api-key", &t)]).status, 200);
}

#[test]
fn serve_refuses_a_missing_store_and_a_busy_address() {
    let env = Env::new();
    let out = env.run(&["serve", "--listen", "127.0.0.1:0"]);
    out.code(4);
    assert!(out.stderr.contains("no key store"), "{}", out.stderr);
    env.create(&["--user", "svc"]);
    let s = Served::start(&env, &[]);
    let taken = format!("127.0.0.1:{}", s.port);
    let out = env.run(&["serve", "--listen", &taken]);
    out.code(4);
    assert!(out.stderr.contains("cannot listen"), "{}", out.stderr);
    env.run(&["serve", "--listen", "nowhere"]).code(2);
}

/// The samples of one metric family, as `{labels}` → value.
fn samples(text: &str, name: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (metric, value) = l.rsplit_once(' ')?;
            let (n, labels) = metric.split_once('{').map_or((metric, ""), |(n, l)| (n, l));
            let value: f64 = value.parse().ok()?;
            (n == name).then(|| (labels.trim_end_matches('}').to_owned(), value))
        })
        .collect()
}

#[test]
fn metrics_count_verifications_and_requests_in_prometheus_text() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--path", "/api"]);
    let s = Served::start(&env, &[]);
    for _ in 0..3 {
        auth(&s, &[("x-api-key", &t), ("X-Original-URI", "/api/x")]);
    }
    auth(&s, &[("x-api-key", &t), ("X-Original-URI", "/admin")]);
    auth(&s, &[]);
    post_json(&s, &format!("{{\"token\": \"{t}\"}}"));
    let r = s.request("GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().contains("text"), "{r:?}");
    let text = &r.body;
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    let v = samples(text, "keyctl_verifications_total");
    let get = |labels: &str| v.iter().find(|(l, _)| l == labels).map(|(_, n)| *n);
    assert_eq!(get("result=\"valid\""), Some(4.0), "{text}");
    assert_eq!(get("result=\"path_not_allowed\""), Some(1.0));
    assert_eq!(get("result=\"missing\""), Some(1.0));
    let requests = samples(text, "keyctl_http_requests_total");
    let req = |labels: &str| requests.iter().find(|(l, _)| l == labels).map(|(_, n)| *n);
    assert_eq!(req("endpoint=\"auth\",status=\"200\""), Some(3.0), "{text}");
    assert_eq!(req("endpoint=\"auth\",status=\"403\""), Some(1.0));
    assert_eq!(req("endpoint=\"verify\",status=\"200\""), Some(1.0));
    let count = samples(text, "keyctl_verification_duration_seconds_count");
    assert_eq!(count, vec![(String::new(), 6.0)], "{text}");
    let remembered = samples(text, "keyctl_verifier_remembered_keys");
    assert!(remembered.len() == 1 && remembered[0].1 >= 1.0, "{text}");
    // A connection per request here, this one's included.
    let connections = samples(text, "keyctl_connections_total");
    assert_eq!(connections, vec![(String::new(), 7.0)], "{text}");
    assert!(!text.contains(&t[20..40]), "no secret in metrics");
}

#[test]
fn the_access_log_has_a_line_per_request_and_no_secret() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    let s = Served::start(&env, &["--access-log"]);
    auth(
        &s,
        &[
            ("Authorization", &bearer(&t)),
            ("X-Original-URI", "/v1/items?page=2"),
        ],
    );
    auth(
        &s,
        &[("X-Original-URI", &format!("/v1/items?accesskey={t}&x=1"))],
    );
    s.request("GET", &format!("/auth/v1/{t}?api_key={t}"), &[], b"");
    post_json(&s, &format!("{{\"token\": \"{t}\"}}"));
    let (code, log) = s.stop();
    assert_eq!(code, Some(0));
    let secret = &t[t.len() - 49..t.len() - 6];
    assert!(!log.contains(&secret[..12]), "a secret in the log: {log}");
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("us") && l.starts_with("20"))
        .collect();
    assert_eq!(lines.len(), 4, "{log}");
    let first: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(
        &first[1..6],
        ["GET", "/v1/items?page=2", "200", "valid", id_of(&t)]
    );
    assert!(
        lines[1].contains("/v1/items?accesskey=REDACTED&x=1"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains("/v1/REDACTED?api_key=REDACTED"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].contains("POST /v1/verify 200 valid"),
        "{}",
        lines[3]
    );
    assert!(log.contains("warning: the credential was sent in the query string"));
}

#[test]
fn a_revocation_is_honoured_on_the_very_next_request() {
    let env = Env::new();
    let tokens: Vec<String> = (0..100)
        .map(|i| env.create(&["--user", "svc", "--name", &format!("k{i}")]))
        .collect();
    let keep = env.create(&["--user", "ops"]);
    let s = Served::start(&env, &[]);
    let mut stale = 0;
    for (i, t) in tokens.iter().enumerate() {
        assert_eq!(auth(&s, &[("x-api-key", t)]).status, 200);
        // The other verifier thread remembers this key too, before the revocation.
        assert_eq!(auth(&s, &[("x-api-key", t)]).status, 200);
        let args: [&str; 3] = match i % 4 {
            0 => ["delete", id_of(t), "--yes"],
            1 => ["disable", id_of(t), ""],
            2 => ["expire", id_of(t), "now"],
            _ => ["reset", id_of(t), ""],
        };
        let args: Vec<&str> = args.into_iter().filter(|a| !a.is_empty()).collect();
        env.run(&args).code(0);
        if common::settled(
            |r: &Reply| r.status == 401,
            || auth(&s, &[("x-api-key", t)]),
        )
        .status
            != 401
        {
            stale += 1;
        }
    }
    assert_eq!(stale, 0, "requests accepted after the change was committed");
    assert_eq!(auth(&s, &[("x-api-key", &keep)]).status, 200);
    env.run(&["path", id_of(&keep), "/only"]).code(0);
    let r = common::settled(
        |r: &Reply| r.status == 403,
        || auth(&s, &[("x-api-key", &keep), ("X-Original-URI", "/other")]),
    );
    assert_eq!(r.status, 403);
}

fn connect(s: &Served) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c
}

fn read_reply(mut c: TcpStream) -> Option<Reply> {
    let mut raw = Vec::new();
    let _ = c.read_to_end(&mut raw);
    (!raw.is_empty()).then(|| common::parse_reply(&raw))
}

#[test]
fn oversized_requests_get_431_never_a_2xx() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    let s = Served::start(&env, &[]);
    let key = ("x-api-key", t.as_str());
    let long_target = format!("/auth?x={}", "a".repeat(9 * 1024));
    let r = s.request("GET", &long_target, &[key], b"");
    assert_eq!(r.status, 431, "request line over 8 KiB");
    let long_value = "a".repeat(9 * 1024);
    let r = auth(&s, &[key, ("X-Filler", &long_value)]);
    assert_eq!(r.status, 431, "header line over 8 KiB");
    let filler: Vec<(String, String)> = (0..10)
        .map(|i| (format!("X-F{i}"), "b".repeat(7 * 1024)))
        .collect();
    let mut headers: Vec<(&str, &str)> = filler
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    headers.push(key);
    let r = auth(&s, &headers);
    assert_eq!(r.status, 431, "header block over 64 KiB");
    let many: Vec<(String, String)> = (0..101).map(|i| (format!("X-H{i}"), "v".into())).collect();
    let mut headers: Vec<(&str, &str)> =
        many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    headers.push(key);
    let r = auth(&s, &headers);
    assert!(
        r.status == 431 || r.status == 400,
        "over 100 headers: {r:?}"
    );
    // Garbage is refused and the server goes on.
    let mut c = connect(&s);
    c.write_all(b"\x16\x03\x01\x02\x00garbage\r\n\r\n").unwrap();
    if let Some(r) = read_reply(c) {
        assert!(r.status >= 400, "{r:?}");
    }
    assert_eq!(auth(&s, &[key]).status, 200, "still serving");
}

#[test]
fn a_client_that_sends_its_headers_slowly_is_dropped() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    let s = Served::start(&env, &[]);
    let mut slow = connect(&s);
    let started = Instant::now();
    slow.write_all(b"GET /auth HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // A byte now and then, never the end of the head.
    let mut dropped = None;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(500));
        if slow.write_all(b"X").is_err() {
            dropped = Some(started.elapsed());
            break;
        }
        // Meanwhile everyone else is served.
        assert_eq!(auth(&s, &[("x-api-key", &t)]).status, 200);
        let mut probe = [0u8; 1];
        slow.set_nonblocking(true).unwrap();
        let read = slow.read(&mut probe);
        slow.set_nonblocking(false).unwrap();
        // Closed (0 bytes) or answered: either way no longer waiting for this client.
        if read.is_ok() {
            dropped = Some(started.elapsed());
            break;
        }
    }
    let took = dropped.expect("the slow client was never dropped");
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(15),
        "{took:?}"
    );
}

#[test]
fn connections_beyond_the_cap_wait_their_turn() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    let s = Served::start(&env, &["--max-connections", "2"]);
    let a = connect(&s);
    let b = connect(&s);
    std::thread::sleep(Duration::from_millis(200));
    // A third waits in the listen queue: no answer while two are open.
    let mut c = connect(&s);
    c.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    c.write_all(
        format!("GET /auth HTTP/1.1\r\nHost: x\r\nx-api-key: {t}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let mut buf = [0u8; 64];
    assert!(c.read(&mut buf).is_err(), "answered beyond the cap");
    drop(a);
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let r = read_reply(c).expect("answered once a connection closed");
    assert_eq!(r.status, 200);
    drop(b);
}

#[test]
fn sigterm_lets_requests_in_flight_finish_then_exits_0() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    let s = Served::start(&env, &[]);
    // A request in flight: its head is half sent when the signal comes.
    let mut c = connect(&s);
    c.write_all(b"GET /auth HTTP/1.1\r\nHost: x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(s.pid() as i32, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(300));
    // New connections are no longer taken.
    let refused = TcpStream::connect(("127.0.0.1", s.port)).map_or(true, |mut n| {
        n.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let _ = n.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut buf = [0u8; 16];
        !matches!(n.read(&mut buf), Ok(k) if k > 0)
    });
    assert!(refused, "a new connection was served after SIGTERM");
    c.write_all(format!("x-api-key: {t}\r\n\r\n").as_bytes())
        .unwrap();
    let r = read_reply(c).expect("the request in flight was answered");
    assert_eq!(r.status, 200);
    let (code, _) = s.stop();
    assert_eq!(code, Some(0));
    // The last use noted by that request was written before the server exited.
    assert!(show(&env, id_of(&t))["last_used"].is_string());
}

#[test]
fn last_uses_are_written_in_the_background_within_seconds() {
    let env = Env::new();
    let tokens: Vec<String> = (0..50)
        .map(|i| env.create(&["--user", "svc", "--name", &format!("k{i}")]))
        .collect();
    let unused = env.create(&["--user", "svc", "--name", "unused"]);
    let s = Served::start(&env, &[]);
    for t in &tokens {
        assert_eq!(auth(&s, &[("x-api-key", t)]).status, 200);
    }
    // A rejected verification is no use.
    env.run(&["disable", id_of(&unused)]).code(0);
    let r = common::settled(
        |r: &Reply| r.status == 401,
        || auth(&s, &[("x-api-key", &unused)]),
    );
    assert_eq!(r.status, 401);
    let used = || {
        list(&env, &["--all"])
            .iter()
            .filter(|k| k["last_used"].is_string())
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while used() < tokens.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    // The server is still running: the writes did not wait for it to stop.
    assert_eq!(used(), tokens.len());
    assert!(show(&env, id_of(&unused))["last_used"].is_null());
    // Verifying goes on answering from memory after those writes.
    for t in &tokens {
        assert_eq!(auth(&s, &[("x-api-key", t)]).status, 200);
    }
    let (code, _) = s.stop();
    assert_eq!(code, Some(0));
}

#[test]
fn a_unix_socket_listener_is_private_to_its_group_and_removed_on_exit() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    use std::os::unix::net::UnixStream;
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    let sock = env.dir.path().join("auth.sock");
    let listen = format!("unix:{}", sock.display());
    let s = Served::start(&env, &["--listen", &listen]);
    assert!(
        s.stderr()
            .contains(&format!("serving unix:{}", sock.display())),
        "{}",
        s.stderr()
    );
    let meta = std::fs::metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    let mut c = UnixStream::connect(&sock).unwrap();
    c.write_all(
        format!("GET /auth HTTP/1.1\r\nHost: x\r\nx-api-key: {t}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).unwrap();
    assert_eq!(common::parse_reply(&raw).status, 200);
    // A second server does not take over a live socket, nor a file that is not one.
    let out = env.run(&["serve", "--listen", &listen]);
    out.code(4);
    let (code, _) = s.stop();
    assert_eq!(code, Some(0));
    assert!(!sock.exists(), "removed on exit");
    let plain = env.dir.path().join("plain");
    std::fs::write(&plain, "data").unwrap();
    let out = env.run(&["serve", "--listen", &format!("unix:{}", plain.display())]);
    out.code(4);
    assert_eq!(
        std::fs::read_to_string(&plain).unwrap(),
        "data",
        "left untouched"
    );
}
