//! `keyctl export` and `keyctl import`: a store moved to another place answers every token
//! as before, and an import that cannot be done whole changes nothing.

use crate::common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use common::{Env, Out};

const VB: &str = "vb_a3Bf9xKmPq2nR7sT4wYzLp8mN5qR1xWe";
const VB_UNSEEN: &str = "vb_Zq8mN5qR1xWeA3Bf9xKmPq2nR7sT4wYz";
const VB_UNSEEN_DIGEST: &str =
    "sha256:aff78954ffab051d6fd6f99308569aedcf813c775d08729dafa74791a3cc8f3d";

/// Run keyctl on another store than the env's own.
fn on(env: &Env, db: impl AsRef<OsStr>, args: &[&str]) -> Out {
    let mut all = vec!["--db", db.as_ref().to_str().unwrap()];
    all.extend_from_slice(args);
    env.run(&all)
}

fn on_stdin(env: &Env, db: impl AsRef<OsStr>, args: &[&str], input: &[u8]) -> Out {
    let mut all = vec!["--db", db.as_ref().to_str().unwrap()];
    all.extend_from_slice(args);
    env.run_stdin(&all, input)
}

/// Every kind of key a store holds, and every token that was ever issued for them (the
/// ones that no longer verify too).
struct Source {
    env: Env,
    tokens: Vec<String>,
}

fn source() -> Source {
    let env = Env::new();
    let mut tokens = Vec::new();
    let mut create = |args: &[&str]| {
        let t = env.create(args);
        tokens.push(t.clone());
        t
    };
    create(&[
        "--user",
        "svc",
        "--name",
        "active",
        "--description",
        "the plain one",
    ]);
    create(&[
        "--user", "svc", "--name", "soon", "--expire", "30d", "--prefix", "acme",
    ]);
    create(&["--user", "svc", "--name", "expired"]);
    create(&[
        "--user",
        "svc",
        "--name",
        "disabled",
        "--expire-at",
        "2099-01-01",
    ]);
    create(&["--user", "ops", "--name", "revoked", "--path", "/api"]);
    create(&["--user", "ops", "--name", "graced", "--path", "/api"]);
    create(&["--user", "ops", "--name", "rotated"]);
    create(&[
        "--user",
        "ops",
        "--name",
        "paths",
        "--path",
        "/api",
        "--path",
        "=/v1/health",
    ]);
    create(&["--user", "ci"]);
    env.run(&["expire", "svc/expired", "now"]).code(0);
    env.run(&["disable", "svc/disabled"]).code(0);
    env.run(&["delete", "ops/revoked", "--yes"]).code(0);
    // A name freed by a revocation, taken again.
    create(&["--user", "ops", "--name", "revoked"]);
    let graced = env
        .run(&["reset", "ops/graced", "--grace", "2h"])
        .code(0)
        .stdout
        .clone();
    tokens.push(graced.trim().to_owned());
    let rotated = env.run(&["reset", "ops/rotated"]).code(0).stdout.clone();
    tokens.push(rotated.trim().to_owned());
    // Adopted tokens: one from stdin, one by digest, one replaced with grace.
    env.run_stdin(
        &[
            "adopt", "--user", "voipbin", "--name", "billing", "--path", "/v1.0",
        ],
        format!("{VB}\n").as_bytes(),
    )
    .code(0);
    env.run(&["adopt", "--user", "voipbin", "--digest", VB_UNSEEN_DIGEST])
        .code(0);
    let haplo = "0123456789ABCDEF0123456789ABCDEF0123456789AB";
    env.run_stdin(
        &["adopt", "--user", "haplo", "--name", "sync"],
        format!("{haplo}\n").as_bytes(),
    )
    .code(0);
    let new = env
        .run(&["reset", "haplo/sync", "--grace", "1h"])
        .code(0)
        .stdout
        .clone();
    tokens.extend([VB.to_owned(), VB_UNSEEN.to_owned(), haplo.to_owned()]);
    tokens.push(new.trim().to_owned());
    // A last use on record.
    assert_eq!(env.verify(&tokens[0], &[]).0, 0);
    // Strings that are nobody's token.
    tokens.push("abc123xyz789abcdef".to_owned());
    tokens.push("short".to_owned());
    tokens.push("kc_3fQm8WcJtP2a9LxZ_Ky9Pf34qY6Nb3wWD25RQ4F5ZR3qa7yEeeby3abP3E2Z31O7vJ".to_owned());
    Source { env, tokens }
}

fn list_all(env: &Env, db: impl AsRef<OsStr>) -> Value {
    on(env, db, &["list", "--all", "--json"]).code(0).json()
}

/// Every verdict a token can get from a store: each path, and with --current.
fn verdicts(env: &Env, db: impl AsRef<OsStr>, tokens: &[String]) -> Vec<(i32, String, Value)> {
    let db = db.as_ref().to_str().unwrap();
    let mut out = Vec::new();
    for token in tokens {
        for extra in [
            &[][..],
            &["--path", "/api/x"],
            &["--path", "/v1/health"],
            &["--path", "/v1.0/calls"],
            &["--path", "/elsewhere"],
            &["--current"],
        ] {
            let mut args = vec!["--db", db];
            args.extend_from_slice(extra);
            let (code, mut verdict) = env.verify(token, &args);
            verdict["source"] = Value::Null;
            let shown = token.get(..8).unwrap_or(token);
            out.push((code, format!("{shown} {extra:?}"), verdict));
        }
    }
    out
}

#[test]
fn a_store_exported_and_imported_into_an_empty_one_lists_and_verifies_the_same() {
    let Source { env, tokens } = source();
    let file = env.dir.path().join("keys.jsonl");
    let out = env.run(&["export", "--all", "--output", file.to_str().unwrap()]);
    out.code(0);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("exported 13 key(s)"), "{}", out.stderr);
    let text = fs::read_to_string(&file).unwrap();
    for token in tokens.iter().filter(|t| t.len() > 20) {
        let secret = &token[token.len() - 12..];
        assert!(!text.contains(secret), "a token in the export: {token}");
    }

    let target = env.dir.path().join("server").join("keys.db");
    let out = on(&env, &target, &["import", file.to_str().unwrap()]);
    out.code(0);
    assert_eq!(out.stdout, "imported 13, replaced 0, skipped 0\n");
    let mode = fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "made as create makes a store");

    let listed = list_all(&env, env.location());
    assert_eq!(listed.as_array().unwrap().len(), 13);
    assert_eq!(list_all(&env, &target), listed);
    let kinds = |field: &str, value: Value| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k[field] == value)
            .count()
    };
    assert_eq!(kinds("status", "expired".into()), 1);
    assert_eq!(kinds("status", "disabled".into()), 1);
    assert_eq!(kinds("status", "revoked".into()), 1);
    assert_eq!(kinds("adopted", true.into()), 2);

    let before = verdicts(&env, env.location(), &tokens);
    let after = verdicts(&env, &target, &tokens);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a);
    }
    // Every kind of answer is among them, grace included.
    let reasons: Vec<&Value> = before.iter().map(|(_, _, v)| &v["reason"]).collect();
    for reason in [
        Value::Null,
        "unknown".into(),
        "malformed".into(),
        "expired".into(),
        "disabled".into(),
        "revoked".into(),
        "path_not_allowed".into(),
        "superseded".into(),
    ] {
        assert!(reasons.contains(&&reason), "no verdict {reason}");
    }
    assert!(
        before
            .iter()
            .any(|(c, _, v)| *c == 0 && v["superseded"] == true)
    );
}

#[test]
fn export_to_stdout_pipes_into_import_and_filters_by_user_and_revocation() {
    let Source { env, .. } = source();
    let out = env.run(&["export", "--user", "ops"]);
    out.code(0);
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["format"], "keyctl-export");
    assert_eq!(lines[0]["version"], 1);
    assert_eq!(lines[0]["keys"], 4, "ops's live keys: revoked left out");
    assert_eq!(lines.len(), 5);
    for key in &lines[1..] {
        assert_eq!(key["user"], "ops");
        assert_ne!(key["status"], "revoked");
        assert!(key["digest"].as_str().unwrap().starts_with("sha256:"));
        assert!(key["superseded_digests"].is_array());
    }
    let target = env.dir.path().join("ops.db");
    let out = on_stdin(&env, &target, &["import", "--json"], out.stdout.as_bytes());
    out.code(0);
    let summary = out.json();
    assert_eq!(
        (
            summary["imported"].clone(),
            summary["replaced"].clone(),
            summary["skipped"].clone()
        ),
        (4.into(), 0.into(), 0.into())
    );
    assert_eq!(summary["keys"][0]["line"], 2);
    assert_eq!(summary["keys"][0]["action"], "imported");

    on(&env, env.location(), &["export", "--user", "nobody"]).code(3);
}

#[test]
fn an_export_file_is_private_and_never_overwrites_anything() {
    let Source { env, .. } = source();
    let file = env.dir.path().join("out.jsonl");
    // Whatever the umask.
    let out = env
        .command_of("sh")
        .args(["-c", "umask 000; exec \"$0\" export --all --output \"$1\""])
        .arg(env!("CARGO_BIN_EXE_keyctl"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let precious = env.dir.path().join("precious.txt");
    fs::write(&precious, "not an export\n").unwrap();
    let out = env.run(&["export", "--output", precious.to_str().unwrap()]);
    out.code(2);
    assert!(out.stderr.contains("never overwrites"), "{}", out.stderr);
    assert_eq!(fs::read_to_string(&precious).unwrap(), "not an export\n");

    // A failed export leaves no file behind.
    let failed = env.dir.path().join("failed.jsonl");
    env.run(&[
        "export",
        "--user",
        "nobody",
        "--output",
        failed.to_str().unwrap(),
    ])
    .code(3);
    assert!(!failed.exists());
    let out = env.run(&["export", "--all", "--output", "-", "--json"]);
    out.code(0);
    assert!(out.stdout.starts_with("{\"format\":\"keyctl-export\""));
}

/// A store with keys of its own, and an export of another store whose keys clash with them.
struct Clashing {
    env: Env,
    target: std::path::PathBuf,
    export: String,
}

fn clashing() -> Clashing {
    let Source { env, .. } = source();
    let export = env.run(&["export", "--all"]).code(0).stdout.clone();
    let target = env.dir.path().join("target.db");
    on(
        &env,
        &target,
        &["create", "--user", "svc", "--name", "active"],
    )
    .code(0);
    on(&env, &target, &["create", "--user", "other"]).code(0);
    Clashing {
        env,
        target,
        export,
    }
}

/// Import `input` into the target with `args`; asserts exit 2 and that the target is
/// byte for byte as it was, with no journal left; returns stderr.
#[track_caller]
fn refused(c: &Clashing, args: &[&str], input: &str) -> String {
    let before = fs::read(&c.target).unwrap();
    let mut all = vec!["import"];
    all.extend_from_slice(args);
    let out = on_stdin(&c.env, &c.target, &all, input.as_bytes());
    out.code(2);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains("nothing was imported"),
        "{}",
        out.stderr
    );
    assert_eq!(
        fs::read(&c.target).unwrap(),
        before,
        "the target store changed"
    );
    assert!(!common::sidecar(&c.target, "-journal").exists());
    out.stderr
}

#[test]
fn a_conflict_imports_nothing_and_names_the_line() {
    let c = clashing();
    // svc/active is a live name in both stores.
    let line = c
        .export
        .lines()
        .position(|l| l.contains("\"name\":\"active\""))
        .unwrap()
        + 1;
    let err = refused(&c, &[], &c.export);
    assert!(
        err.contains(&format!("line {line}: key "))
            && err.contains("its user already has a live key of this name"),
        "{err}"
    );
    // Imported once, everything clashes on its id the second time.
    let fresh = c.env.dir.path().join("fresh.db");
    on_stdin(&c.env, &fresh, &["import"], c.export.as_bytes()).code(0);
    let before = fs::read(&fresh).unwrap();
    let out = on_stdin(&c.env, &fresh, &["import"], c.export.as_bytes());
    out.code(2);
    assert!(
        out.stderr.contains("line 2: key ")
            && out.stderr.contains("a key with this id is in the store")
    );
    assert!(
        out.stderr.contains("and 3 more"),
        "at most ten named: {}",
        out.stderr
    );
    assert_eq!(fs::read(&fresh).unwrap(), before);
    // replace overwrites keys with the same id, never another key: the name still clashes.
    let err = refused(&c, &["--on-conflict", "replace"], &c.export);
    assert!(err.contains("never another key"), "{err}");
    // An adopted token another key of the target holds.
    let target_adopted = on_stdin(
        &c.env,
        &c.target,
        &["adopt", "--user", "mine"],
        format!("{VB}\n").as_bytes(),
    );
    target_adopted.code(0);
    let without_name_clash: String = c
        .export
        .lines()
        .filter(|l| !l.contains("\"name\":\"active\""))
        .map(|l| format!("{}\n", l.replace("\"keys\":13", "\"keys\":12")))
        .collect();
    let err = refused(&c, &[], &without_name_clash);
    assert!(err.contains("its adopted token belongs to key"), "{err}");
}

#[test]
fn skip_leaves_clashing_keys_out_and_replace_overwrites_the_same_id() {
    let c = clashing();
    let out = on_stdin(
        &c.env,
        &c.target,
        &["import", "--on-conflict", "skip"],
        c.export.as_bytes(),
    );
    out.code(0);
    assert_eq!(out.stdout, "imported 12, replaced 0, skipped 1\n");
    assert!(
        out.stderr
            .contains("skipped: its user already has a live key of this name")
    );
    // The target's svc/active stayed its own.
    let listed = list_all(&c.env, &c.target);
    assert_eq!(listed.as_array().unwrap().len(), 14);

    // The source changes; replace brings the change over, keeping the order of the list.
    let src = &c.env;
    src.run(&["disable", "svc/soon"]).code(0);
    src.run(&["path", "ops/paths", "/only"]).code(0);
    let again = src.run(&["export", "--all"]).code(0).stdout.clone();
    let out = on_stdin(
        &c.env,
        &c.target,
        &["import", "--on-conflict", "skip"],
        again.as_bytes(),
    );
    assert_eq!(out.code(0).stdout, "imported 0, replaced 0, skipped 13\n");
    let order = |v: &Value| -> Vec<Value> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].clone())
            .collect()
    };
    let before = list_all(&c.env, &c.target);
    // Without the clashing name, replace replaces all 12 keys it imported before.
    let without_active: String = again
        .lines()
        .filter(|l| !l.contains("\"name\":\"active\""))
        .map(|l| format!("{}\n", l.replace("\"keys\":13", "\"keys\":12")))
        .collect();
    let out = on_stdin(
        &c.env,
        &c.target,
        &["import", "--on-conflict", "replace"],
        without_active.as_bytes(),
    );
    assert_eq!(out.code(0).stdout, "imported 0, replaced 12, skipped 0\n");
    let after = list_all(&c.env, &c.target);
    assert_eq!(
        order(&after),
        order(&before),
        "replaced keys keep their place"
    );
    let show = |key: &str| {
        on(&c.env, &c.target, &["show", key, "--json"])
            .code(0)
            .json()
    };
    assert_eq!(show("svc/soon")["status"], "disabled");
    assert_eq!(show("ops/paths")["paths"], serde_json::json!(["/only"]));
}

#[test]
fn malformed_lines_unknown_versions_and_cut_files_import_nothing() {
    let c = clashing();
    let lines: Vec<&str> = c.export.lines().collect();
    let with_line = |n: usize, text: &str| -> String {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{}\n", if i + 1 == n { text } else { l }))
            .collect()
    };
    let cases = [
        (with_line(4, "{\"id\": "), "line 4: not valid JSON"),
        (
            with_line(5, &lines[4].replace("\"expires\"", "\"expiry\"")),
            "line 5: a key line has an unknown field \"expiry\"",
        ),
        (
            with_line(6, &lines[5].replace("sha256:", "md5:")),
            "line 6: `digest`: invalid digest",
        ),
        (
            with_line(7, &lines[6].replace("\"user\":\"", "\"user\":\"no spaces ")),
            "line 7: `user`: invalid user",
        ),
        (
            with_line(1, &lines[0].replace("\"version\":1", "\"version\":2")),
            "line 1: export format version 2",
        ),
        (
            with_line(1, "{\"format\":\"something-else\",\"version\":1}"),
            "line 1: not a keyctl export",
        ),
        (
            lines[..lines.len() - 1]
                .iter()
                .map(|l| format!("{l}\n"))
                .collect(),
            "cut short",
        ),
        (format!("{}{}\n", c.export, lines[2]), "more than the 13"),
        (String::new(), "empty"),
    ];
    for (input, expected) in cases {
        let err = refused(&c, &[], &input);
        assert!(err.contains(expected), "{expected:?}: {err}");
        // A dry run says the same and changes nothing either.
        let err = refused(&c, &["--dry-run"], &input);
        assert!(err.contains(expected), "{expected:?}: {err}");
    }
    // Nor is a store made for a file that cannot be imported.
    let nowhere = c.env.dir.path().join("nowhere").join("keys.db");
    let out = on_stdin(&c.env, &nowhere, &["import"], with_line(4, "{").as_bytes());
    out.code(2);
    assert!(!nowhere.exists() && !nowhere.parent().unwrap().exists());
}

#[test]
fn a_dry_run_reports_and_changes_nothing() {
    let c = clashing();
    let before = fs::read(&c.target).unwrap();
    let out = on_stdin(
        &c.env,
        &c.target,
        &["import", "--dry-run", "--on-conflict", "skip", "--json"],
        c.export.as_bytes(),
    );
    out.code(0);
    let report = out.json();
    assert_eq!(report["imported"], 0);
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["would"]["imported"], 12);
    assert_eq!(report["would"]["skipped"], 1);
    assert_eq!(fs::read(&c.target).unwrap(), before);
    let out = on_stdin(
        &c.env,
        &c.target,
        &["import", "--dry-run"],
        c.export.as_bytes(),
    );
    out.code(2);
    assert_eq!(fs::read(&c.target).unwrap(), before);
    // Into a store that does not exist yet: everything would be imported, nothing is made.
    let nowhere = c.env.dir.path().join("new.db");
    let out = on_stdin(
        &c.env,
        &nowhere,
        &["import", "--dry-run"],
        c.export.as_bytes(),
    );
    assert_eq!(out.code(0).stdout, "would import 13, replace 0, skip 0\n");
    assert!(out.stderr.contains("dry run: nothing was changed"));
    assert!(!nowhere.exists());
}

#[test]
fn a_file_that_repeats_a_key_is_refused_before_any_store_is_touched() {
    let Source { env, .. } = source();
    let export = env.run(&["export"]).code(0).stdout.clone();
    let lines: Vec<&str> = export.lines().collect();
    let doubled = format!(
        "{}\n{}{}\n",
        lines[0].replace("\"keys\":12", "\"keys\":13"),
        lines[1..]
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
        lines[3]
    );
    let target = env.dir.path().join("t.db");
    let out = on_stdin(
        &env,
        &target,
        &["import", "--on-conflict", "replace"],
        doubled.as_bytes(),
    );
    out.code(2);
    assert!(
        out.stderr.contains("line 14: key ")
            && out.stderr.contains("is also on line 4 of the export"),
        "{}",
        out.stderr
    );
    assert!(!target.exists());
}

#[test]
fn import_refuses_to_wait_on_a_terminal() {
    let env = Env::new();
    let Some(out) = common::on_terminal(&env, "\"$KEYCTL\" import", b"", &[]) else {
        return;
    };
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stdout.contains("pipe it in"), "{}", out.stdout);
    assert!(!env.store_exists());
}
