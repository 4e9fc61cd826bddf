//! `keyctl adopt`: tokens another system issued (VoIPBIN `vb_` access keys, Haplo hex keys)
//! verify as keyctl keys through every door (stdin, headers, query strings, raw requests,
//! the library, `keyctl serve`), with every rule of a keyctl key, and never slow a keyctl
//! token down.

use crate::common;

use std::time::Duration;

use base64::Engine as _;
use keyctl::store::Options;
use keyctl::{Check, Credential, Reason, Source, Store, Verifier};
use serde_json::Value;

use common::{Env, Out, Served};

/// A VoIPBIN-style access key, as their documentation shows one.
const VB: &str = "vb_a3Bf9xKmPq2nR7sT4wYzLp8mN5qR1xWe";
/// Its SHA-256, as VoIPBIN keeps it (computed with `printf %s "$VB" | sha256sum`).
const VB_DIGEST: &str = "sha256:780075c2de066f87a3a053efe6ec8997e1412b1528b7f2e15c4eb5cd067123ac";
/// A key keyctl only ever sees as a digest.
const VB_UNSEEN: &str = "vb_Zq8mN5qR1xWeA3Bf9xKmPq2nR7sT4wYz";
const VB_UNSEEN_DIGEST: &str =
    "sha256:aff78954ffab051d6fd6f99308569aedcf813c775d08729dafa74791a3cc8f3d";
/// A Haplo-style API key: 44 hex characters, sent as the password of HTTP Basic.
const HAPLO: &str = "0123456789ABCDEF0123456789ABCDEF0123456789AB";

/// Adopt `token` (on stdin) with extra arguments; returns the new key's id.
#[track_caller]
fn adopt(env: &Env, token: &str, args: &[&str]) -> String {
    let mut all = vec!["adopt"];
    all.extend_from_slice(args);
    let out = env.run_stdin(&all, format!("{token}\n").as_bytes());
    out.code(0);
    assert_never_shows(&out, token);
    let id = out.stdout.trim_end().to_owned();
    assert!(
        out.stdout == format!("{id}\n") && keyctl::token::valid_id(&id),
        "stdout is the new key's id: {:?}",
        out.stdout
    );
    id
}

#[track_caller]
fn assert_never_shows(out: &Out, token: &str) {
    let secret = &token[token.len() - 12..];
    assert!(
        !out.stdout.contains(secret) && !out.stderr.contains(secret),
        "the token was printed:\n{}\n{}",
        out.stdout,
        out.stderr
    );
}

/// `verify --json` with `args` (no stdin): exit code and verdict.
fn verify_args(env: &Env, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["verify", "--json"];
    all.extend_from_slice(args);
    let out = env.run(&all);
    (out.code, out.json())
}

#[track_caller]
fn assert_valid_for(verdict: &(i32, Value), id: &str) {
    assert_eq!(verdict.0, 0, "{}", verdict.1);
    assert_eq!(verdict.1["valid"], true, "{}", verdict.1);
    assert_eq!(verdict.1["id"], id, "{}", verdict.1);
}

#[track_caller]
fn assert_reason(verdict: &(i32, Value), reason: &str) {
    assert_eq!(verdict.0, 1, "{}", verdict.1);
    assert_eq!(verdict.1["reason"], reason, "{}", verdict.1);
}

fn key_json(env: &Env, key: &str) -> Value {
    env.run(&["show", key, "--json"]).code(0).json()
}

#[test]
fn a_vb_token_adopted_from_stdin_verifies_through_every_door_of_the_cli() {
    let env = Env::new();
    let id = adopt(
        &env,
        VB,
        &["--user", "voipbin", "--name", "billing", "--path", "/v1.0"],
    );
    let key = key_json(&env, &id);
    assert_eq!(key["adopted"], true);
    assert_eq!(key["user"], "voipbin");
    common::assert_key_json(&key);
    // Only the digest is kept.
    let stored = env.stored_bytes();
    assert!(!stored.windows(VB.len()).any(|w| w == VB.as_bytes()));

    // stdin, with and without a path; the argument.
    assert_valid_for(&env.verify(VB, &[]), &id);
    assert_valid_for(&env.verify(VB, &["--path", "/v1.0/calls"]), &id);
    assert_valid_for(&verify_args(&env, &[VB]), &id);
    // The headers and query parameters such keys travel in.
    let header = format!("x-api-key: {VB}");
    let v = verify_args(&env, &["--header", &header, "--path", "/v1.0/calls"]);
    assert_valid_for(&v, &id);
    assert_eq!(v.1["source"], "header:x-api-key");
    let url = format!("https://api.voipbin.net/v1.0/calls?accesskey={VB}");
    let v = verify_args(&env, &["--url", &url]);
    assert_valid_for(&v, &id);
    assert_eq!(v.1["source"], "query:accesskey");
    assert_eq!(v.1["warnings"].as_array().unwrap().len(), 1, "query warns");
    let bearer = format!("Authorization: Bearer {VB}");
    assert_valid_for(
        &verify_args(&env, &["-H", &bearer, "--path", "/v1.0/x"]),
        &id,
    );
    let request = format!("GET /v1.0/calls HTTP/1.1\r\nHost: api\r\nX-Api-Key: {VB}\r\n\r\n");
    let out = env.run_stdin(&["verify", "--request", "--json"], request.as_bytes());
    assert_valid_for(&(out.code, out.json()), &id);

    // The key's path rule applies through every door.
    assert_reason(
        &verify_args(&env, &["--header", &header, "--path", "/admin"]),
        "path_not_allowed",
    );
    let url = format!("https://api.voipbin.net/admin?accesskey={VB}");
    assert_reason(&verify_args(&env, &["--url", &url]), "path_not_allowed");
    // One character off is another token: no such key.
    let typo = VB.replace("a3B", "a3C");
    assert_reason(&env.verify(&typo, &[]), "unknown");
}

#[test]
fn a_haplo_key_is_adopted_and_verifies_as_the_password_of_basic() {
    let env = Env::new();
    let id = adopt(&env, HAPLO, &["--user", "haplo-sync", "--path", "/api"]);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("haplo:{HAPLO}"));
    let header = format!("Authorization: Basic {basic}");
    let v = verify_args(
        &env,
        &["-H", &header, "--basic-user", "haplo", "--path", "/api/x"],
    );
    assert_valid_for(&v, &id);
    assert_eq!(v.1["source"], "basic");
}

#[test]
fn adopted_by_digest_the_token_verifies_without_keyctl_ever_seeing_it() {
    let env = Env::new();
    let out = env.run(&[
        "adopt",
        "--user",
        "voipbin",
        "--digest",
        VB_UNSEEN_DIGEST,
        "--json",
    ]);
    out.code(0);
    let key = out.json();
    assert_eq!(key["adopted"], true);
    let id = key["id"].as_str().unwrap();
    assert_valid_for(&env.verify(VB_UNSEEN, &[]), id);
    // Hex in capitals is the same digest: already adopted.
    let upper = format!("sha256:{}", VB_UNSEEN_DIGEST[7..].to_uppercase());
    let out = env.run(&["adopt", "--user", "other", "--digest", &upper]);
    out.code(2);
    assert!(out.stderr.contains("already adopted"), "{}", out.stderr);

    for bad in [
        "780075c2de066f87a3a053efe6ec8997e1412b1528b7f2e15c4eb5cd067123ac",
        "sha256:780075c2",
        "sha256:zz0075c2de066f87a3a053efe6ec8997e1412b1528b7f2e15c4eb5cd067123ac",
        "md5:780075c2de066f87a3a053efe6ec8997",
    ] {
        let before = env.rows();
        let out = env.run(&["adopt", "--user", "x", "--digest", bad]);
        out.code(2);
        assert!(
            out.stderr.contains("invalid digest"),
            "{bad}: {}",
            out.stderr
        );
        assert_eq!(env.rows(), before, "{bad}");
    }
}

#[test]
fn revocation_expiry_disabling_and_paths_apply_to_adopted_keys() {
    let env = Env::new();
    let id = adopt(&env, VB, &["--user", "voipbin", "--path", "=/v1.0/calls"]);
    let unseen = env
        .run(&["adopt", "--user", "voipbin", "--digest", VB_UNSEEN_DIGEST])
        .code(0)
        .stdout
        .trim()
        .to_owned();
    assert_valid_for(&env.verify(VB, &["--path", "/v1.0/calls"]), &id);
    assert_reason(
        &env.verify(VB, &["--path", "/v1.0/calls/1"]),
        "path_not_allowed",
    );

    env.run(&["disable", &id]).code(0);
    assert_reason(&env.verify(VB, &[]), "disabled");
    env.run(&["enable", &id]).code(0);
    assert_valid_for(&env.verify(VB, &[]), &id);

    env.run(&["expire", &unseen, "now"]).code(0);
    let v = env.verify(VB_UNSEEN, &[]);
    assert_reason(&v, "expired");
    assert_eq!(
        v.1["id"],
        unseen.as_str(),
        "the secret matched: the key is named"
    );

    env.run(&["delete", &id, "--yes"]).code(0);
    let v = env.verify(VB, &[]);
    assert_reason(&v, "revoked");
    assert_eq!(v.1["id"], id.as_str());

    // Filters see adopted keys as any other key.
    let listed = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["list", "--json"];
        all.extend_from_slice(args);
        env.run(&all)
            .code(0)
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(listed(&["--status", "expired"]), [unseen.as_str()]);
    assert_eq!(listed(&["--status", "revoked"]), [id.as_str()]);
    assert_eq!(listed(&["--user", "voipbin"]), [unseen.as_str()]);
    let created = env.create(&["--user", "svc"]);
    assert_eq!(key_json(&env, common::id_of(&created))["adopted"], false);
}

#[test]
fn a_reset_gives_an_adopted_key_a_keyctl_token_and_grace_keeps_the_old_one_for_a_while() {
    let env = Env::new();
    let id = adopt(
        &env,
        VB,
        &["--user", "voipbin", "--name", "billing", "--prefix", "vb"],
    );
    // A second adopted key keeps the store one that holds adopted tokens.
    adopt(&env, HAPLO, &["--user", "haplo"]);

    let out = env.run(&["reset", "voipbin/billing", "--grace", "1h", "--json"]);
    out.code(0);
    let reset = out.json();
    let new = reset["token"].as_str().unwrap().to_owned();
    assert!(
        new.starts_with(&format!("vb_{id}_")),
        "a keyctl token, prefix vb: {new}"
    );
    assert_eq!(
        reset["adopted"], false,
        "the current secret is keyctl's now"
    );
    assert_eq!(reset["superseded"].as_array().unwrap().len(), 1);
    assert_valid_for(&env.verify(&new, &[]), &id);
    let old = env.verify(VB, &[]);
    assert_valid_for(&old, &id);
    assert_eq!(old.1["superseded"], true);
    assert!(old.1["grace_until"].is_string());
    assert_reason(&env.verify(VB, &["--current"]), "superseded");

    // Without grace, the adopted token stops at once.
    let out = env.run(&["reset", "voipbin/billing"]);
    out.code(0);
    let newest = out.stdout.trim();
    assert_valid_for(&env.verify(newest, &[]), &id);
    assert_reason(&env.verify(VB, &[]), "unknown");
    assert_reason(&env.verify(&new, &[]), "unknown");

    // Once no adopted token is left in the store, a string that is no keyctl token is
    // malformed again, as in a store that never held one.
    let haplo = env.run(&["list", "--user", "haplo", "--json"]).json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.run(&["reset", &haplo]).code(0);
    assert_reason(&env.verify(VB, &[]), "malformed");
    assert_reason(&env.verify(HAPLO, &[]), "malformed");
}

#[test]
fn a_reset_of_an_adopted_key_undone_for_want_of_a_reader_keeps_the_adopted_token() {
    let env = Env::new();
    let id = adopt(&env, VB, &["--user", "voipbin"]);
    // stdout closed before keyctl writes: the new token never reaches anyone.
    let mut child = env
        .command()
        .args(["reset", &id])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(4));
    assert_valid_for(&env.verify(VB, &[]), &id);
    assert_eq!(key_json(&env, &id)["adopted"], true);
}

#[test]
fn what_cannot_be_adopted_is_refused_without_being_repeated_and_changes_nothing() {
    let env = Env::new();
    let keyctl = env.create(&["--user", "svc"]);
    adopt(&env, VB, &["--user", "voipbin"]);
    let cases: Vec<(String, &str)> = vec![
        ("short-token\n".into(), "11 characters"),
        ("x".repeat(257), "257 characters"),
        ("vb_tab\there_0123456789\n".into(), "not printable ASCII"),
        ("vb_caf\u{e9}_0123456789abc\n".into(), "not printable ASCII"),
        ("\n".into(), "no token given"),
        (String::new(), "no token given"),
        (keyctl.clone(), "it is a keyctl token"),
        (format!("{VB}\n"), "already adopted"),
    ];
    for (input, expected) in cases {
        let before = env.rows();
        let out = env.run_stdin(&["adopt", "--user", "someone"], input.as_bytes());
        out.code(2);
        assert!(out.stderr.contains(expected), "{expected}: {}", out.stderr);
        assert_eq!(out.stdout, "");
        let text = input.trim();
        if text.len() >= 12 {
            assert_never_shows(&out, text);
        }
        assert_eq!(env.rows(), before, "{expected}");
    }
    // A revoked key still holds its adopted token: purging it frees the token.
    let id = env.run(&["list", "--user", "voipbin", "--json"]).json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    env.run(&["delete", &id, "--yes"]).code(0);
    let out = env.run_stdin(&["adopt", "--user", "again"], format!("{VB}\n").as_bytes());
    out.code(2);
    assert!(out.stderr.contains("--purge"), "{}", out.stderr);
    env.run(&["delete", &id, "--purge", "--yes"]).code(0);
    adopt(&env, VB, &["--user", "again"]);
}

#[test]
fn a_string_that_is_no_keyctl_token_is_malformed_unless_the_store_holds_adopted_ones() {
    let env = Env::new();
    let keyctl = env.create(&["--user", "svc"]);
    let garbage = "abc123xyz789abcdef";
    assert_reason(&env.verify(garbage, &[]), "malformed");
    assert_reason(&env.verify(VB, &[]), "malformed");
    adopt(&env, HAPLO, &["--user", "haplo"]);
    // Now it could be an adopted token with a wrong secret, like a keyctl token with one.
    assert_reason(&env.verify(garbage, &[]), "unknown");
    assert_reason(&env.verify(VB, &[]), "unknown");
    // Never adoptable, so malformed whatever the store holds.
    for never in ["short", "has\u{e9}accent-0123456789", &"y".repeat(300)] {
        assert_reason(&env.verify(never, &[]), "malformed");
    }
    // A damaged keyctl token is still malformed, and a good one still verifies.
    assert_reason(&env.verify(&keyctl[..keyctl.len() - 1], &[]), "malformed");
    assert_eq!(env.verify(&keyctl, &[]).0, 0);
}

fn verifier(env: &Env, lock_timeout: Duration) -> Verifier {
    let options = Options {
        lock_timeout,
        ..Options::default()
    };
    let location = keyctl::store::Location::parse(&env.location());
    Verifier::new(Store::open_with(location, &options).unwrap())
}

fn reason(v: &mut Verifier, token: &str, path: Option<&str>) -> Option<Reason> {
    let check = Check {
        path,
        ..Check::default()
    };
    let verdict = v
        .verify(&Credential::new(token, Source::Argument), &check)
        .expect("verify");
    verdict.reason
}

#[test]
fn the_library_verifies_adopted_tokens_and_sees_every_change_at_once() {
    let env = Env::new();
    let keyctl = env.create(&["--user", "svc"]);
    let v = &mut verifier(&env, Duration::from_secs(5));
    assert_eq!(reason(v, VB, None), Some(Reason::Malformed));
    let id = adopt(&env, VB, &["--user", "voipbin", "--path", "/v1.0"]);
    assert_eq!(
        reason(v, VB, Some("/v1.0/calls")),
        None,
        "adopted meanwhile"
    );
    assert_eq!(reason(v, VB, Some("/admin")), Some(Reason::PathNotAllowed));
    assert_eq!(reason(v, "abc123xyz789abcdef", None), Some(Reason::Unknown));
    assert_eq!(reason(v, &keyctl, None), None);
    env.run(&["delete", &id, "--yes"]).code(0);
    assert_eq!(reason(v, VB, None), Some(Reason::Revoked));
    env.run(&["delete", &id, "--purge", "--yes"]).code(0);
    assert_eq!(reason(v, VB, None), Some(Reason::Malformed), "none left");
    // By digest, into the store the verifier holds open.
    env.run(&["adopt", "--user", "voipbin", "--digest", VB_DIGEST])
        .code(0);
    assert_eq!(reason(v, VB, None), None);
}

#[test]
fn a_verifier_rejects_a_foreign_string_without_reading_a_store_that_holds_no_adopted_token() {
    // An exclusive lock keeps every reader out: a verifier that had to read the store would
    // fail busy. One that knows, from the unchanged header, that the store holds no
    // adopted token answers at once, as it does for a key it remembers.
    let env = Env::sqlite();
    let keyctl = env.create(&["--user", "svc"]);
    let v = &mut verifier(&env, Duration::from_millis(100));
    assert_eq!(reason(v, &keyctl, None), None);
    assert_eq!(reason(v, &keyctl, None), None);
    assert_eq!(
        reason(v, "abc123xyz789abcdef", None),
        Some(Reason::Malformed)
    );
    let writer = rusqlite::Connection::open(&env.db).unwrap();
    writer.execute_batch("BEGIN EXCLUSIVE").unwrap();
    for _ in 0..3 {
        assert_eq!(
            reason(v, "another-string-0123456789", None),
            Some(Reason::Malformed)
        );
        assert_eq!(reason(v, &keyctl, None), None);
    }
    writer.execute_batch("ROLLBACK").unwrap();
}

#[test]
fn a_damaged_keyctl_token_stays_malformed_without_a_look_up_in_a_store_with_adopted_tokens() {
    // With an exclusive lock held, any look-up would fail busy: the answers below come
    // from the text alone.
    let env = Env::sqlite();
    let token = env.create(&["--user", "svc"]);
    adopt(&env, VB, &["--user", "voipbin"]);
    let v = &mut verifier(&env, Duration::from_millis(50));
    let writer = rusqlite::Connection::open(&env.db).unwrap();
    writer.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let mut damaged = Vec::new();
    for i in 0..token.len() {
        for c in ['a', 'Z', '0'] {
            let mut t: Vec<char> = token.chars().collect();
            if t[i] != c && t[i] != '_' {
                t[i] = c;
                damaged.push(t.into_iter().collect::<String>());
            }
        }
    }
    for cut in 1..20 {
        damaged.push(token[..token.len() - cut].to_owned());
    }
    for extra in ["0", "_", "abc", "_x"] {
        damaged.push(format!("{token}{extra}"));
    }
    for t in &damaged {
        assert_eq!(reason(v, t, None), Some(Reason::Malformed), "{t}");
    }
    // The same text cannot be adopted either.
    writer.execute_batch("ROLLBACK").unwrap();
    let out = env.run_stdin(
        &["adopt", "--user", "x"],
        format!("{}\n", damaged[5]).as_bytes(),
    );
    out.code(2);
    assert!(
        out.stderr.contains("shaped like a keyctl token"),
        "{}",
        out.stderr
    );
}

#[test]
fn keyctl_serve_answers_for_adopted_tokens() {
    let env = Env::new();
    let id = adopt(
        &env,
        VB,
        &["--user", "voipbin", "--name", "billing", "--path", "/v1.0"],
    );
    let s = Served::start(&env, &[]);
    let r = s.request(
        "GET",
        "/auth",
        &[("x-api-key", VB), ("X-Original-URI", "/v1.0/calls")],
        b"",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("x-keyctl-key-id"), Some(id.as_str()));
    assert_eq!(r.header("x-keyctl-user"), Some("voipbin"));
    let r = s.request("GET", &format!("/auth/v1.0/calls?accesskey={VB}"), &[], b"");
    assert_eq!(r.status, 200, "{r:?}");
    let r = s.request(
        "GET",
        "/auth",
        &[("x-api-key", VB), ("X-Original-URI", "/admin")],
        b"",
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-keyctl-reason"), Some("path_not_allowed"));
    let body = serde_json::json!({"token": VB, "path": "/v1.0/calls"}).to_string();
    let r = s.request(
        "POST",
        "/v1/verify",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let verdict: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (verdict["valid"].clone(), verdict["id"].clone()),
        (Value::Bool(true), Value::from(id.as_str()))
    );

    env.run(&["delete", "voipbin/billing", "--yes"]).code(0);
    let r = s.request(
        "GET",
        "/auth",
        &[("x-api-key", VB), ("X-Original-URI", "/v1.0/calls")],
        b"",
    );
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.header("x-keyctl-reason"), Some("revoked"));
    let (code, log) = s.stop();
    assert_eq!(code, Some(0));
    assert!(!log.contains(&VB[5..]), "the token reached the log: {log}");
}
