//! `keyctl serve --self-service`: keys for a user and password over HTTPS only, a user's
//! own keys by password or by key, failed passwords limited, and the README's curl lines
//! run against the real server.

use crate::common;

use std::time::Instant;

use base64::Engine as _;
use common::{Env, Reply, Served, id_of};
use serde_json::Value;

const PASSWORD: &str = "correct horse battery staple";

fn basic(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// An env with user alice (password set), a service user and a user without a password,
/// and a server with self-service on.
fn setup() -> (Env, Served) {
    let env = Env::new();
    env.run(&["user", "add", "alice"]).code(0);
    env.run_stdin(
        &["user", "passwd", "alice", "--password-stdin"],
        format!("{PASSWORD}\n").as_bytes(),
    )
    .code(0);
    env.run(&["user", "add", "bot", "--service"]).code(0);
    env.run(&["user", "add", "nopass"]).code(0);
    let s = Served::start(
        &env,
        &["--self-service", "--max-expire", "30d", "--access-log"],
    );
    (env, s)
}

fn login(s: &Served, auth: &str, query: &str, https: bool, client: &str) -> Reply {
    let mut headers = vec![("Authorization", auth), ("X-Forwarded-For", client)];
    if https {
        headers.push(("X-Forwarded-Proto", "https"));
    }
    s.request("POST", &format!("/v1/authkeys{query}"), &headers, b"")
}

fn body(r: &Reply) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {r:?}"))
}

#[test]
fn a_login_over_https_gets_a_key_shown_once_and_plain_http_gets_nothing() {
    let (env, s) = setup();
    let auth = basic("alice", PASSWORD);
    let r = login(&s, &auth, "", false, "10.0.0.1");
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(body(&r)["error"], "ssl_required");
    let r = s.request(
        "POST",
        "/v1/authkeys",
        &[
            ("Authorization", &auth),
            ("X-Forwarded-Proto", "http"),
            ("X-Forwarded-Proto", "https"),
        ],
        b"",
    );
    assert_eq!(r.status, 403, "every X-Forwarded-Proto must say https");
    assert_eq!(
        env.run(&["list", "--json"]).json(),
        serde_json::json!([]),
        "nothing made"
    );

    let r = login(&s, &auth, "?name=laptop&expire=1y", true, "10.0.0.1");
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.www_authenticate(), None);
    let key = body(&r);
    let token = key["token"].as_str().unwrap().to_owned();
    assert_eq!(
        (&key["user"], &key["name"]),
        (&Value::from("alice"), &Value::from("laptop"))
    );
    common::assert_key_json(&{
        let mut k = key.clone();
        k.as_object_mut().unwrap().remove("token");
        k
    });
    // Capped by --max-expire.
    let expires = common::secs(&key["expires"]);
    let made = common::secs(&key["created"]);
    assert_eq!(expires - made, 30 * 86_400);
    assert_eq!(env.verify(&token, &[]).0, 0);
    // The default name.
    let r = login(&s, &auth, "", true, "10.0.0.1");
    assert_eq!(r.status, 201);
    let name = body(&r)["name"].as_str().unwrap().to_owned();
    assert!(
        name.starts_with("login-") && name.ends_with('Z') && name.len() == 22,
        "{name}"
    );
    // Shown once: never by list, show, the log or the access log.
    let (_, stderr) = s.stop();
    let everything = env.run(&["list", "--json"]).stdout
        + &env.run(&["log", "--json"]).stdout
        + &env.rows()
        + &stderr;
    assert!(!everything.contains(&token[20..]), "the token elsewhere");
    assert!(!everything.contains(PASSWORD), "the password elsewhere");
    let log = env.run(&["log", "--action", "login", "--json"]).json();
    assert_eq!(log[0]["actor"], "http:alice@10.0.0.1");
}

trait Challenge {
    fn www_authenticate(&self) -> Option<&str>;
}

impl Challenge for Reply {
    fn www_authenticate(&self) -> Option<&str> {
        self.header("www-authenticate")
    }
}

#[test]
fn a_wrong_password_and_an_unknown_user_are_told_apart_by_nothing() {
    let (_env, s) = setup();
    let timed = |user: &str, password: &str, client: &str| {
        let started = Instant::now();
        let r = login(&s, &basic(user, password), "", true, client);
        (r, started.elapsed())
    };
    let (wrong, t_wrong) = timed("alice", "not the password at all", "10.0.0.2");
    let (unknown, t_unknown) = timed("mallory", "not the password at all", "10.0.0.3");
    let (service, _) = timed("bot", PASSWORD, "10.0.0.4");
    let (nopass, _) = timed("nopass", PASSWORD, "10.0.0.5");
    for r in [&wrong, &unknown, &service, &nopass] {
        assert_eq!(r.status, 401, "{r:?}");
        assert_eq!(r.www_authenticate(), None, "no challenge");
        assert_eq!(r.body, wrong.body, "the same body");
    }
    // Both paid for a full argon2id check (tens of milliseconds even optimised); neither
    // answered early.
    let floor = std::time::Duration::from_millis(5);
    assert!(
        t_wrong > floor && t_unknown > floor,
        "{t_wrong:?} {t_unknown:?}"
    );
}

#[test]
fn failed_passwords_are_limited_per_user_and_per_client() {
    let (_env, s) = setup();
    let wrong = basic("alice", "not the password at all");
    for i in 0..5 {
        let r = login(&s, &wrong, "", true, &format!("10.1.0.{i}"));
        assert_eq!(r.status, 401, "attempt {i}");
    }
    // Alice is limited from anywhere, even with the right password.
    let r = login(&s, &basic("alice", PASSWORD), "", true, "10.1.1.1");
    assert_eq!(r.status, 429, "{r:?}");
    let after: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&after), "{after}");
    // One client trying many users is limited too.
    for i in 0..5 {
        let r = login(
            &s,
            &basic(&format!("user{i}"), "not the password at all"),
            "",
            true,
            "10.2.0.1",
        );
        assert_eq!(r.status, 401);
    }
    let r = login(
        &s,
        &basic("nopass", "whatever it is!!"),
        "",
        true,
        "10.2.0.1",
    );
    assert_eq!(r.status, 429);
    // Others are not.
    let r = login(
        &s,
        &basic("bot", "not the password at all"),
        "",
        true,
        "10.3.0.1",
    );
    assert_eq!(r.status, 401);
}

#[test]
fn a_key_reads_and_revokes_its_users_keys_but_cannot_make_one() {
    let (env, s) = setup();
    let other = env.create(&["--user", "bob", "--name", "web"]);
    let r = login(
        &s,
        &basic("alice", PASSWORD),
        "?name=laptop",
        true,
        "10.0.0.1",
    );
    let token = body(&r)["token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {token}");
    let password = basic("alice", PASSWORD);
    let https = ("X-Forwarded-Proto", "https");
    let json = ("Content-Type", "application/json");

    let r = s.request("GET", "/v1/user", &[("Authorization", &bearer)], b"");
    assert_eq!(
        body(&r),
        serde_json::json!({"user": "alice", "key": id_of(&token)})
    );
    let r = s.request(
        "GET",
        "/v1/user",
        &[("Authorization", &password), https],
        b"",
    );
    assert_eq!(body(&r), serde_json::json!({"user": "alice", "key": null}));

    // Only a password makes keys.
    let new = br#"{"handle": "ci", "alias": "nightly build"}"#;
    let r = s.request(
        "POST",
        "/v1/user/keys",
        &[("Authorization", &bearer), json, https],
        new,
    );
    assert_eq!(
        (r.status, body(&r)["error"].clone()),
        (403, Value::from("password_required"))
    );
    let r = s.request(
        "POST",
        "/v1/user/keys",
        &[("x-api-key", &token), json, https],
        new,
    );
    assert_eq!(r.status, 403);
    let r = s.request(
        "POST",
        "/v1/user/keys",
        &[("Authorization", &password), json, https],
        new,
    );
    assert_eq!(r.status, 201, "{r:?}");
    let ci = body(&r);
    assert_eq!(
        (&ci["name"], &ci["description"]),
        (&Value::from("ci"), &Value::from("nightly build"))
    );
    assert!(ci["token"].as_str().unwrap().starts_with("kc_"));

    let r = s.request("GET", "/v1/user/keys", &[("x-api-key", &token)], b"");
    let listed = body(&r);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["laptop", "ci"], "only alice's keys");
    assert!(!r.body.contains("token"), "no token in a listing");
    let r = s.request(
        "GET",
        "/v1/user/keys/ci",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(body(&r)["id"], ci["id"]);
    let r = s.request(
        "GET",
        "/v1/user/keys/web",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(r.status, 404, "bob's key is not alice's");
    let r = s.request(
        "DELETE",
        "/v1/user/keys/ci",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(
        (r.status, body(&r)["status"].clone()),
        (200, Value::from("revoked"))
    );
    assert_eq!(
        env.verify(ci["token"].as_str().unwrap(), &[]).1["reason"],
        "revoked"
    );
    assert_eq!(env.verify(&other, &[]).0, 0);
    // A revoked key proves nothing any more.
    env.run(&["delete", id_of(&token), "--yes"]).code(0);
    let r = common::settled(
        |r: &Reply| r.status == 401,
        || s.request("GET", "/v1/user", &[("Authorization", &bearer)], b""),
    );
    assert_eq!(r.status, 401);
    let log = env.run(&["log", "--user", "alice", "--json"]).json();
    let actions: Vec<(&str, &str)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert!(
        actions.contains(&("create", "http:alice@127.0.0.1")),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("delete", "http:alice@127.0.0.1")),
        "{actions:?}"
    );
}

#[test]
fn self_service_is_off_unless_asked_for() {
    let env = Env::new();
    env.create(&["--user", "alice"]);
    let s = Served::start(&env, &[]);
    let r = s.request(
        "POST",
        "/v1/authkeys",
        &[("X-Forwarded-Proto", "https")],
        b"",
    );
    assert_eq!(r.status, 404);
}

/// The `$ curl` lines of the README's self-service block.
fn readme_curls() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("### Self-service over HTTP")
        .expect("the section");
    let block = &readme[start..];
    let block = &block[block.find("```console").unwrap()..];
    let block = &block[..block[3..].find("```").unwrap() + 3];
    block
        .lines()
        .filter_map(|l| l.strip_prefix("$ "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_readme_curl_lines_work_against_the_server() {
    let curls = readme_curls();
    assert!(curls.len() >= 6, "{curls:?}");
    if !common::has_program("curl", "the README's curl lines run through it") {
        return;
    }
    let (env, s) = setup();
    let base = format!("http://127.0.0.1:{}", s.port);
    let mut token = String::new();
    for line in &curls {
        // What the TLS proxy in front would add, and the server instead of the proxy.
        let line = line.replace("https://keys.example.com", &base).replacen(
            "curl ",
            "curl -H 'X-Forwarded-Proto: https' ",
            1,
        );
        let out: common::Out = env
            .command_of("bash")
            .args(["-c", &line])
            .env("PASSWORD", PASSWORD)
            .env("TOKEN", &token)
            .output()
            .unwrap()
            .into();
        assert_eq!(out.code, 0, "{line}\n{out:?}");
        if token.is_empty() {
            let v: Value = serde_json::from_str(&out.stdout).unwrap();
            token = v["token"].as_str().unwrap().to_owned();
        }
    }
    assert_eq!(env.verify(&token, &[]).0, 0);
}
