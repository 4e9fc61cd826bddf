//! The command line as people and scripts get it wrong: where the store comes from, help
//! and usage lines, tokens typed where a key was expected, and messages that say what to
//! do instead.

use crate::common;

use common::{Env, Out, id_of, secret_of};

#[track_caller]
fn assert_no_secret(out: &Out, token: &str) {
    let secret = secret_of(token);
    for piece in [&secret[..16], &secret[16..32]] {
        assert!(
            !out.stdout.contains(piece) && !out.stderr.contains(piece),
            "the secret was repeated: {out:?}"
        );
    }
}

#[test]
fn an_empty_keyctl_db_is_unset_and_db_always_wins() {
    let env = Env::sqlite();
    let elsewhere = env.dir.path().join("other.db");
    let t = env.create(&["--user", "svc"]);
    let db = env.db.to_str().unwrap();
    let run = |vars: &[(&str, &str)], args: &[&str]| -> Out {
        let mut cmd = env.command();
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.args(args).output().unwrap().into()
    };
    let out = run(&[("KEYCTL_DB", "")], &["--db", db, "list", "--json"]);
    out.code(0);
    assert_eq!(out.json()[0]["id"], id_of(&t));
    // Empty: the default store, which does not exist yet.
    let out = run(&[("KEYCTL_DB", "")], &["list"]);
    out.code(4);
    assert!(out.stderr.contains("xdg/keyctl/keys.db"), "{}", out.stderr);
    // --db wins over the variable.
    let out = run(
        &[("KEYCTL_DB", elsewhere.to_str().unwrap())],
        &["list", "--db", db, "--json"],
    );
    out.code(0);
    // A usage error never shows --db as if it were required.
    let out = run(&[("KEYCTL_DB", db)], &["create"]);
    out.code(2);
    assert!(!out.stderr.contains("--db <PATH>"), "{}", out.stderr);
}

#[test]
fn paths_in_messages_are_escaped() {
    let env = Env::new();
    let evil = env.dir.path().join("a\u{1b}[31mb").join("keys.db");
    let out: Out = env
        .command()
        .args(["--db", evil.to_str().unwrap(), "list"])
        .output()
        .unwrap()
        .into();
    out.code(4);
    assert!(!out.stderr.contains('\u{1b}'), "{:?}", out.stderr);
    assert!(out.stderr.contains("\\u{1b}[31m"), "{:?}", out.stderr);
}

#[test]
fn usage_lines_put_the_key_first() {
    let env = Env::new();
    let expire = env.run(&["expire", "--help"]);
    let line = expire
        .stdout
        .lines()
        .find(|l| l.starts_with("Usage:"))
        .unwrap();
    assert!(
        line.find("<KEY>").unwrap() < line.find("<DUR|now").unwrap(),
        "{line}"
    );
    let path = env.run(&["path", "--help"]);
    let line = path
        .stdout
        .lines()
        .find(|l| l.starts_with("Usage:"))
        .unwrap();
    assert!(
        line.find("<KEY>").unwrap() < line.find("<PREFIX>").unwrap(),
        "{line}"
    );
    // Following the usage line works.
    env.create(&["--user", "svc", "--name", "k"]);
    env.run(&["expire", "svc/k", "30d"]).code(0);
    env.run(&["expire", "svc/k", "--never"]).code(0);
    env.run(&["path", "svc/k", "/api", "/v2"]).code(0);
    env.run(&["path", "svc/k", "--clear"]).code(0);
}

#[test]
fn help_names_each_alias_once_and_every_reason() {
    let env = Env::new();
    let help = env.run(&["--help"]).stdout;
    let reset = help
        .lines()
        .find(|l| l.trim_start().starts_with("reset"))
        .unwrap();
    assert_eq!(reset.matches("rotate").count(), 1, "{reset}");
    let verify = env.run(&["verify", "--help"]).stdout;
    for reason in [
        "malformed",
        "unknown",
        "revoked",
        "disabled",
        "expired",
        "superseded",
        "path_not_allowed",
        "missing",
        "ambiguous",
        "insecure_transport",
    ] {
        assert!(verify.contains(reason), "verify --help lacks {reason}");
    }
}

#[test]
fn a_token_names_its_key_and_is_never_repeated() {
    let env = Env::new();
    let token = env.create(&["--user", "svc", "--name", "deploy"]);
    let out = env.run(&["show", &token, "--json"]);
    out.code(0);
    assert_eq!(out.json()["id"], id_of(&token));
    assert_no_secret(&out, &token);
    // The secret is not checked: a token of the key with another secret names it too.
    let other_secret = format!("kc_{}_{}", id_of(&token), "A".repeat(43));
    let forged = format!("{other_secret}{}", keyctl::token::checksum(&other_secret));
    env.run(&["show", &forged]).code(0);
    // Damaged tokens, and tokens where no key is expected, are never echoed.
    for args in [
        vec!["show".to_owned(), format!("{token}x")],
        vec!["show".to_owned(), token[..token.len() - 1].to_owned()],
        vec!["verify".to_owned(), token.clone(), "extra".to_owned()],
        vec!["create".to_owned(), "--user".to_owned(), token.clone()],
        vec!["list".to_owned(), token.clone()],
        vec!["verify".to_owned(), token.clone(), token.clone()],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = env.run(&args);
        out.code(2);
        assert_no_secret(&out, &token);
    }
    // Every command taking a KEY takes a token.
    let rotated = env.run(&["rotate", &token]);
    rotated.code(0);
    assert_no_secret(&rotated, &token);
    let new = rotated.stdout.trim().to_owned();
    env.run(&["disable", &new]).code(0);
    env.run(&["enable", &new]).code(0);
    env.run(&["delete", &new, "--yes"]).code(0);
}

#[test]
fn mistakes_get_tips() {
    let env = Env::new();
    let out = env.run(&["version"]);
    out.code(2);
    assert!(out.stderr.contains("keyctl --version"), "{}", out.stderr);
    env.create(&["--user", "svc", "--name", "k"]);
    let before = env.rows();
    for args in [
        &["delete", "svc/k", "--force"][..],
        &["prune", "--older-than", "1d", "--force"],
    ] {
        let out = env.run(args);
        out.code(2);
        assert!(out.stderr.contains("--yes"), "{args:?}: {}", out.stderr);
    }
    assert_eq!(env.rows(), before);
}

#[test]
fn verify_on_a_terminal_asks_for_the_token_without_echoing_it() {
    let env = Env::new();
    let token = env.create(&["--user", "svc"]);
    for (input, expect) in [
        (token.as_str(), "valid: key"),
        ("nonsense", "rejected: malformed"),
    ] {
        let Some(mut term) = common::Terminal::start(&env, "\"$KEYCTL\" verify", &[]) else {
            return;
        };
        // Typed once the prompt shows; echo goes off just after it is printed.
        term.wait_for("Token:");
        std::thread::sleep(std::time::Duration::from_millis(100));
        term.type_in(format!("{input}\n").as_bytes());
        let out = term.finish();
        assert!(out.stdout.contains(expect), "{out:?}");
        assert!(
            !out.stdout.contains(input),
            "typed input not echoed: {out:?}"
        );
    }
}

#[test]
fn basic_with_the_wrong_user_rejects_the_request_whatever_else_it_carries() {
    let env = Env::new();
    let token = env.create(&["--user", "svc"]);
    let basic = |user: &str| {
        use base64::Engine as _;
        let pair = format!("{user}:{token}");
        format!(
            "Authorization: Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    };
    let api_key = format!("x-api-key: {token}");
    let bearer = format!("Authorization: Bearer {token}");
    for extra in [&api_key, &bearer] {
        let out = env.run(&[
            "verify",
            "--json",
            "--basic-user",
            "haplo",
            "-H",
            &basic("mallory"),
            "-H",
            extra,
        ]);
        out.code(1);
        assert_eq!(out.json()["reason"], "unknown", "{}", out.stdout);
        let out = env.run(&[
            "verify",
            "--json",
            "--basic-user",
            "haplo",
            "-H",
            &basic("haplo"),
            "-H",
            extra,
        ]);
        out.code(0);
    }
}

#[test]
fn require_tls_needs_every_forwarded_proto_to_say_https() {
    let env = Env::new();
    let token = env.create(&["--user", "svc"]);
    let bearer = format!("Authorization: Bearer {token}");
    let run = |protos: &[&str]| -> Out {
        let mut args = vec!["verify", "--json", "--require-tls", "-H", &bearer];
        let headers: Vec<String> = protos
            .iter()
            .map(|p| format!("X-Forwarded-Proto: {p}"))
            .collect();
        for h in &headers {
            args.extend(["-H", h]);
        }
        env.run(&args)
    };
    for protos in [
        &["http", "https"][..],
        &["https", "http"],
        &["https, http"],
        &["http"],
    ] {
        let out = run(protos);
        out.code(1);
        assert_eq!(out.json()["reason"], "insecure_transport", "{protos:?}");
    }
    for protos in [&["https"][..], &["https", "HTTPS"], &["https, https"]] {
        run(protos).code(0);
    }
}
