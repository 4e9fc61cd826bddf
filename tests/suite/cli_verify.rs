//! Black-box tests of `keyctl verify`: where the token comes from, every rejection reason
//! and its JSON, the plain output line, hostile input, and request-path matching.

use crate::common;

use common::{Env, Out, assert_no_secret_fields, forged, id_of};
use serde_json::{Value, json};

/// The fields the issue promises in `verify --json`.
const VERDICT_FIELDS: [&str; 7] = ["valid", "reason", "id", "user", "name", "expires", "paths"];

/// Check the JSON verdict's shape and that it never echoes the token.
#[track_caller]
fn assert_verdict(v: &Value, token: &str) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("verdict is an object: {v}"));
    for f in VERDICT_FIELDS {
        assert!(obj.contains_key(f), "verdict lacks {f:?}: {v}");
    }
    assert!(v["valid"].is_boolean() && v["paths"].is_array(), "{v}");
    assert_eq!(
        v["valid"] == true,
        v["reason"].is_null(),
        "reason null iff valid: {v}"
    );
    assert_no_secret_fields(v);
    if !token.is_empty() {
        assert!(
            !v.to_string().contains(token),
            "verdict echoes the token: {v}"
        );
    }
}

/// Verify `token` from stdin with `--json`, checking the verdict's shape and exit code.
#[track_caller]
fn verdict(env: &Env, token: &str, args: &[&str]) -> Value {
    let (code, v) = env.verify(token, args);
    assert_verdict(&v, token);
    assert_eq!(code, if v["valid"] == true { 0 } else { 1 }, "{v}");
    v
}

/// The secret part of a token (everything after the id), which must never be echoed.
fn secret(token: &str) -> &str {
    &token[token.len() - 49..]
}

#[test]
fn token_from_stdin_is_trimmed_and_only_the_first_line_counts() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--name", "k"]);
    for input in [
        format!("{t}\n"),
        t.clone(),
        format!("{t}\r\n"),
        format!("  \t{t} \r\n"),
        format!("{t}\nsecond line is ignored\n"),
        format!("{t}\r\n\u{0}\u{1}binary after the first line"),
    ] {
        let out = env.run_stdin(&["verify", "--json"], input.as_bytes());
        out.code(0);
        let v = out.json();
        assert_verdict(&v, &t);
        assert_eq!(v["valid"], true, "{input:?}");
        assert_eq!(v["reason"], Value::Null);
        assert_eq!(v["id"], id_of(&t));
        assert_eq!(v["user"], "svc");
        assert_eq!(v["name"], "k");
        assert_eq!(out.stderr, "", "{input:?}");
    }
}

#[test]
fn token_from_the_argument() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    let out = env.run(&["verify", &t, "--json"]);
    out.code(0);
    assert_eq!(out.json()["id"], id_of(&t));
    // The argument wins over stdin.
    let out = env.run_stdin(&["verify", &t], b"garbage\n");
    out.code(0);
    let out = env.run(&["verify", &t[..t.len() - 1]]);
    out.code(1);
    assert_eq!(out.stdout, "rejected: malformed\n");
}

#[test]
fn empty_input_is_a_usage_error() {
    let env = Env::new();
    env.create(&["--user", "svc"]);
    for input in ["", "\n", "\r\n", "   \t \r\n", "\nkc_second_line\n"] {
        let out = env.run_stdin(&["verify", "--json"], input.as_bytes());
        out.code(2);
        assert_eq!(out.stdout, "", "{input:?}");
        assert!(out.stderr.contains("no token"), "{}", out.stderr);
    }
    // stdin closed (the harness default), and an empty argument.
    env.run(&["verify"]).code(2);
    let out = env.run(&["verify", ""]);
    out.code(2);
    assert_eq!(out.stdout, "");
    env.run(&["verify", "   "]).code(2);
}

#[test]
fn plain_output_is_one_line() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--name", "k", "--path", "/api"]);

    let out = env.run_stdin(&["verify"], format!("{t}\n").as_bytes());
    out.code(0);
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    assert!(out.stdout.starts_with("valid"), "{}", out.stdout);
    assert!(out.stdout.contains(id_of(&t)) && out.stdout.contains("svc"));
    assert!(!out.stdout.contains(secret(&t)) && !out.stderr.contains(secret(&t)));

    let out = env.run_stdin(&["verify", "--path", "/admin"], format!("{t}\n").as_bytes());
    out.code(1);
    assert_eq!(out.stdout.lines().count(), 1);
    assert!(out.stdout.starts_with("rejected"), "{}", out.stdout);
    assert!(out.stdout.contains("path_not_allowed"), "{}", out.stdout);
    assert!(out.stdout.contains(id_of(&t)) && out.stdout.contains("svc"));

    let out = env.run_stdin(&["verify"], b"not-a-token\n");
    out.code(1);
    assert_eq!(out.stdout, "rejected: malformed\n");
    assert!(!out.stderr.contains("not-a-token"), "input is not echoed");

    let out = env.run_stdin(&["verify"], format!("{}\n", forged(id_of(&t))).as_bytes());
    out.code(1);
    assert_eq!(out.stdout, "rejected: unknown\n");

    env.run(&["delete", "svc/k", "--yes"]).code(0);
    let out = env.run_stdin(&["verify"], format!("{t}\n").as_bytes());
    out.code(1);
    assert!(out.stdout.starts_with("rejected") && out.stdout.contains("revoked"));
    assert!(out.stdout.contains(id_of(&t)) && out.stdout.contains("svc"));
}

#[test]
fn every_rejection_reason_with_its_json() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--name", "k", "--path", "/api"]);
    let id = id_of(&t);

    let v = verdict(&env, &t, &[]);
    assert_eq!(v["valid"], true);
    assert_eq!(
        v["paths"],
        json!(["/api"]),
        "prefixes returned, not enforced"
    );
    assert_eq!(v["expires"], Value::Null);

    // malformed: typos, truncation, extension, wrong alphabet, random strings. No key named.
    let mut typo = t.clone().into_bytes();
    let i = typo.len() - 10;
    typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    for bad in [
        typo.as_str(),
        &t[..t.len() - 1],
        &format!("{t}x"),
        &t.replacen("kc_", "KC_", 1),
        &t.replacen('_', "-", 1),
        "kc_short_x",
        "Bearer abc",
        "kc_AAAAAAAAAAAAAAAA_",
    ] {
        let v = verdict(&env, bad, &[]);
        assert_eq!(v["reason"], "malformed", "{bad}");
        for f in ["id", "user", "name", "expires"] {
            assert_eq!(v[f], Value::Null, "{bad}: {f}");
        }
    }

    // unknown: a well-formed token for a key that does not exist, or with the wrong secret.
    for bad in [forged("AAAAAAAAAAAAAAAA"), forged(id)] {
        let v = verdict(&env, &bad, &[]);
        assert_eq!(v["reason"], "unknown", "{bad}");
        assert_eq!(v["id"], Value::Null, "a wrong secret learns nothing");
        assert_eq!(v["user"], Value::Null);
    }

    // path_not_allowed: the key is named.
    let v = verdict(&env, &t, &["--path", "/admin"]);
    assert_eq!(v["reason"], "path_not_allowed");
    assert_eq!(
        (&v["id"], &v["user"], &v["name"]),
        (&json!(id), &json!("svc"), &json!("k"))
    );
    assert_eq!(v["paths"], json!(["/api"]));

    // expired: named, with its expiry.
    env.run(&["expire", "svc/k", "now"]).code(0);
    let v = verdict(&env, &t, &["--path", "/api"]);
    assert_eq!(v["reason"], "expired");
    assert_eq!(
        (&v["id"], &v["user"], &v["name"]),
        (&json!(id), &json!("svc"), &json!("k"))
    );
    assert!(v["expires"].is_string());

    // revoked wins over expired and over the path; still named.
    env.run(&["delete", "svc/k", "--yes"]).code(0);
    let v = verdict(&env, &t, &["--path", "/admin"]);
    assert_eq!(v["reason"], "revoked");
    assert_eq!(
        (&v["id"], &v["user"], &v["name"]),
        (&json!(id), &json!("svc"), &json!("k"))
    );

    // Purged: unknown.
    env.run(&["delete", "svc/k", "--purge", "--yes"]).code(0);
    assert_eq!(verdict(&env, &t, &[])["reason"], "unknown");
}

#[test]
fn huge_and_binary_input_is_malformed() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    let before = env.rows();
    let mut inputs: Vec<Vec<u8>> = vec![
        vec![b'a'; 10 << 20],
        {
            let mut v = t.clone().into_bytes();
            v.extend(std::iter::repeat_n(b'A', 10 << 20));
            v
        },
        {
            let mut v = b"\x00\xff\xfe\x01\x02kc_\x80\x81".to_vec();
            v.extend((0..=255u8).cycle().take(1 << 16));
            v
        },
        format!("{t}\u{0}\n").into_bytes(),
        format!("\u{0}{t}\n").into_bytes(),
        {
            let mut v = t.clone().into_bytes();
            v.extend(b"\xff\n");
            v
        },
        "kc_\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}_x\n"
            .as_bytes()
            .to_vec(),
    ];
    // A line of 100 000 token-alphabet characters with a newline.
    inputs.push({
        let mut v = "kc_".repeat(33_334).into_bytes();
        v.push(b'\n');
        v
    });
    for input in &inputs {
        for json_flag in [true, false] {
            let args: &[&str] = if json_flag {
                &["verify", "--json"]
            } else {
                &["verify"]
            };
            let out = env.run_stdin(args, input);
            out.code(1);
            if json_flag {
                let v = out.json();
                assert_verdict(&v, &t);
                assert_eq!(v["reason"], "malformed");
            } else {
                assert_eq!(out.stdout, "rejected: malformed\n");
            }
            assert!(out.stderr.len() < 1000, "no echo of the input on stderr");
        }
    }
    // A long argument (argv has its own limits, so 100 kB).
    let out = env.run(&["verify", "--json", &"x".repeat(100_000)]);
    out.code(1);
    assert_eq!(out.json()["reason"], "malformed");
    assert!(out.stdout.len() < 1000);
    assert_eq!(env.rows(), before);
}

#[test]
fn no_output_repeats_the_token() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--name", "k", "--path", "/api"]);
    let s = secret(&t);
    let mut outs: Vec<Out> = Vec::new();
    for args in [
        vec!["verify", "--json"],
        vec!["verify"],
        vec!["verify", "--path", "/x"],
        vec!["verify", "--json", "--path", "/x"],
    ] {
        outs.push(env.run_stdin(&args, format!("{t}\n").as_bytes()));
        // A near miss (one character off) must not be echoed either.
        let near = format!(
            "{}{}",
            &t[..t.len() - 1],
            if t.ends_with('0') { '1' } else { '0' }
        );
        outs.push(env.run_stdin(&args, format!("{near}\n").as_bytes()));
    }
    outs.push(env.run(&["list", "--json", "--all"]));
    outs.push(env.run(&["list"]));
    outs.push(env.run(&["show", "svc/k", "--json"]));
    outs.push(env.run(&["show", "svc/k"]));
    outs.push(env.run(&["path", "svc/k", "/b", "--json"]));
    outs.push(env.run(&["expire", "svc/k", "1d", "--json"]));
    outs.push(env.run(&["delete", "svc/k", "--yes", "--json"]));
    outs.push(env.run(&["reset", "svc/k"]));
    for out in &outs {
        for part in [&s[..20], &s[20..40], &s[29..]] {
            assert!(
                !out.stdout.contains(part) && !out.stderr.contains(part),
                "output repeats part of the secret:\n{}\n{}",
                out.stdout,
                out.stderr
            );
        }
    }
}

#[test]
fn verify_without_a_store_cannot_answer() {
    let env = Env::new();
    let out = env.run_stdin(
        &["verify"],
        format!("{}\n", forged("AAAAAAAAAAAAAAAA")).as_bytes(),
    );
    out.code(4);
    assert_eq!(out.stdout, "");
    assert!(!env.store_exists(), "verify does not create a store");
}

/// Verify `token` against each request path; `true` when it is allowed.
#[track_caller]
fn check_paths(env: &Env, token: &str, cases: &[(&str, bool)]) {
    for &(path, allowed) in cases {
        let v = verdict(env, token, &["--path", path]);
        let want = if allowed {
            Value::Null
        } else {
            json!("path_not_allowed")
        };
        assert_eq!(v["reason"], want, "request path {path:?}");
    }
}

#[test]
fn path_prefix_ends_on_a_segment_boundary() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--path", "/api"]);
    check_paths(
        &env,
        &t,
        &[
            ("/api", true),
            ("/api/", true),
            ("/api/v1/items", true),
            ("/api?x=1", true),
            ("/api/v1?next=/admin", true),
            ("/api#frag", true),
            ("/apix", false),
            ("/apix?/api", false),
            ("/ap", false),
            ("/", false),
            ("/admin/api", false),
            ("/API", false),
            ("api", false),
        ],
    );
}

#[test]
fn trailing_slash_and_exact_prefixes() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--path", "/api/"]);
    check_paths(
        &env,
        &t,
        &[
            ("/api/", true),
            ("/api/x", true),
            ("/api", false),
            ("/apix", false),
        ],
    );
    let t = env.create(&["--user", "svc", "--path", "=/exact"]);
    check_paths(
        &env,
        &t,
        &[
            ("/exact", true),
            ("/exact?q=1", true),
            ("/exact/", false),
            ("/exact/x", false),
            ("/exactly", false),
            ("/", false),
        ],
    );
    // Several prefixes combine.
    let t = env.create(&["--user", "svc", "--path", "/a", "--path", "=/b"]);
    check_paths(
        &env,
        &t,
        &[("/a/1", true), ("/b", true), ("/b/1", false), ("/c", false)],
    );
}

#[test]
fn dot_segments_and_encoded_slashes_are_never_allowed() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--path", "/api"]);
    check_paths(
        &env,
        &t,
        &[
            ("/api/../admin", false),
            ("/api/./x", false),
            ("/api/..", false),
            ("/api/.", false),
            ("/api/%2e%2e/admin", false),
            ("/api/%2E%2E/admin", false),
            ("/api/.%2e/admin", false),
            ("/api/%2e/x", false),
            ("/api%2fx", false),
            ("/api%2Fv1", false),
            ("/api/a%2Fb", false),
            ("/api/a%5cb", false),
            ("/api\\x", false),
            ("/api/%00", false),
            // Dots inside a segment are fine, and so are other encoded characters.
            ("/api/a%2eb", true),
            ("/api/...x", true),
            ("/api/v1.json", true),
            ("/ap%69/x", true),
        ],
    );
}

#[test]
fn a_key_without_prefixes_allows_every_path() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    check_paths(
        &env,
        &t,
        &[("/anything", true), ("/a/../b", true), ("/", true)],
    );
    assert_eq!(verdict(&env, &t, &[])["paths"], json!([]));
}
