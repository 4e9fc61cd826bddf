//! Black-box tests of rotation and hygiene: `reset --grace` across its boundary,
//! repeated and concurrent resets, disable/enable, last-use tracking and its throttling,
//! the list filters, prune, and the upgrade of a version-1 store.

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::{
    Env, Out, assert_key_json, forged, id_of, list, listed, now, on_terminal, refused, secs, show,
    unprivileged,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// helpers

/// `keyctl ARGS` (a reset or rotate) and the one token it printed.
#[track_caller]
fn reset(env: &Env, args: &[&str]) -> (String, Out) {
    let out = env.run(args);
    out.code(0);
    let token = out
        .stdout
        .strip_suffix('\n')
        .expect("token line")
        .to_owned();
    assert!(!token.contains('\n'), "one line: {:?}", out.stdout);
    (token, out)
}

/// `keyctl verify --json` with the token on stdin: exit code, verdict and stderr.
fn verify_full(env: &Env, token: &str) -> (i32, Value, String) {
    let out = env.run_stdin(&["verify", "--json"], format!("{token}\n").as_bytes());
    let v = out.json();
    (out.code, v, out.stderr)
}

/// Set one integer column of key `id` in the store, to arrange states that would
/// otherwise take days (a key revoked long ago) or a minute (a use 30 s ago).
fn set_column(env: &Env, id: &str, column: &str, value: Option<i64>) {
    assert_eq!(
        env.query_i64(&format!("SELECT count(*) FROM keys WHERE id = '{id}'")),
        1,
        "key {id} exists"
    );
    let value = value.map_or("NULL".to_owned(), |v| v.to_string());
    env.sql(&format!(
        "UPDATE keys SET {column} = {value} WHERE id = '{id}'"
    ));
}

/// One integer column of key `id`, as stored.
fn column(env: &Env, id: &str, column: &str) -> Option<i64> {
    let null = env.query_i64(&format!(
        "SELECT count(*) FROM keys WHERE id = '{id}' AND {column} IS NULL"
    ));
    (null == 0).then(|| env.query_i64(&format!("SELECT {column} FROM keys WHERE id = '{id}'")))
}

/// Rows in the `superseded` table.
fn superseded_rows(env: &Env) -> i64 {
    env.query_i64("SELECT count(*) FROM superseded")
}

fn day() -> i64 {
    86_400
}

// ---------------------------------------------------------------------------------------
// reset with a grace period

#[test]
fn grace_keeps_the_old_token_working_with_a_warning() {
    let env = Env::new();
    let old = env.create(&["--user", "ci", "--name", "deploy", "--path", "/api"]);
    let before = now();
    let (new, out) = reset(&env, &["rotate", "ci/deploy", "--grace", "1h"]);
    let after = now();
    assert_ne!(new, old);
    assert_eq!(id_of(&new), id_of(&old), "same key");
    assert!(
        out.stderr.contains("keeps working until"),
        "the note says the old token lives on: {}",
        out.stderr
    );

    // The old token: valid, marked superseded, with its grace end and a warning.
    let (code, v, stderr) = verify_full(&env, &old);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["valid"], true);
    assert_eq!(v["reason"], Value::Null);
    assert_eq!(v["id"], id_of(&old));
    assert_eq!(v["user"], "ci");
    assert_eq!(v["superseded"], true);
    let until = secs(&v["grace_until"]);
    assert!(
        (before + 3600..=after + 3600).contains(&until),
        "grace ends an hour after the reset: {v}"
    );
    let until_text = v["grace_until"].as_str().unwrap();
    assert!(
        stderr.contains("warning") && stderr.contains(until_text),
        "a warning names the grace end: {stderr}"
    );
    assert!(
        !v["warnings"].as_array().unwrap().is_empty(),
        "warnings in JSON: {v}"
    );
    // The path rules still apply to the old token.
    let (code, v) = env.verify(&old, &["--path", "/admin"]);
    assert_eq!((code, &v["reason"]), (1, &json!("path_not_allowed")));
    // Plain output says valid.
    let out = env.run_stdin(&["verify"], format!("{old}\n").as_bytes());
    out.code(0);
    assert!(out.stdout.starts_with("valid"), "{}", out.stdout);

    // The new token: valid and current, no warning.
    let (code, v, stderr) = verify_full(&env, &new);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["superseded"], false);
    assert_eq!(v["grace_until"], Value::Null);
    assert_eq!(v["warnings"], json!([]));
    assert_eq!(stderr, "", "no warning for the current token");

    // show reports the grace end, never a digest.
    let k = show(&env, "ci/deploy");
    assert_eq!(k["superseded"], json!([until_text]));
    let out = env.run(&["show", "ci/deploy"]);
    out.code(0);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("grace until") && l.contains(until_text)),
        "{}",
        out.stdout
    );

    // Where the grace ends, to the second: tests/library.rs moves the clock there.
}

#[test]
fn grace_never_outlives_the_key() {
    let env = Env::new();
    let old = env.create(&["--user", "svc", "--name", "k", "--expire", "1h"]);
    let expires = show(&env, "svc/k")["expires"].clone();
    let v = env
        .run(&["reset", "svc/k", "--grace", "1d", "--json"])
        .code(0)
        .json();
    assert_key_json(&v);
    assert_eq!(v["superseded"], json!([expires]), "grace capped at expiry");
    let (code, verdict) = env.verify(&old, &[]);
    assert_eq!(code, 0, "{verdict}");
    assert_eq!(verdict["superseded"], true);
    assert_eq!(verdict["grace_until"], expires);
    assert_eq!(verdict["expires"], expires);
    let new = v["token"].as_str().unwrap();
    assert_eq!(env.verify(new, &[]).0, 0);

    // An expired key has no time left to give: its earlier tokens end at once.
    let old = new.to_owned();
    env.run(&["expire", "svc/k", "now"]).code(0);
    let (new, out) = reset(&env, &["reset", "svc/k", "--grace", "1d"]);
    assert!(
        !out.stderr.contains("keeps working"),
        "no grace to promise: {}",
        out.stderr
    );
    assert_eq!(show(&env, "svc/k")["superseded"], json!([]));
    assert_eq!(env.verify(&old, &[]).1["reason"], "unknown");
    assert_eq!(env.verify(&new, &[]).1["reason"], "expired");
}

#[test]
fn only_the_token_just_replaced_keeps_a_grace_period() {
    let env = Env::new();
    let t0 = env.create(&["--user", "svc", "--name", "k"]);

    // Two grace resets: only the token the second one replaced is still in grace.
    let before = now();
    let (t1, _) = reset(&env, &["reset", "svc/k", "--grace", "1d"]);
    let (t2, out) = reset(&env, &["rotate", "svc/k", "--grace", "1h"]);
    let after = now();
    let (code, v0) = env.verify(&t0, &[]);
    assert_eq!((code, &v0["reason"]), (1, &json!("unknown")), "{v0}");
    let (code, v1) = env.verify(&t1, &[]);
    assert_eq!((code, &v1["superseded"]), (0, &json!(true)), "{v1}");
    assert!((before + 3600..=after + 3600).contains(&secs(&v1["grace_until"])));
    let (code, v2) = env.verify(&t2, &[]);
    assert_eq!((code, &v2["superseded"]), (0, &json!(false)), "{v2}");
    let t1_until = v1["grace_until"].as_str().unwrap();
    assert!(
        out.stderr.contains(t1_until) && out.stderr.contains("any older one has stopped"),
        "note of the second reset names {t1_until}: {}",
        out.stderr
    );
    assert_eq!(
        show(&env, "svc/k")["superseded"],
        json!([v1["grace_until"]])
    );
    assert_eq!(superseded_rows(&env), 1);

    // However many rotations: one old token at most.
    let mut tokens = vec![t2];
    for _ in 0..5 {
        tokens.push(reset(&env, &["rotate", "svc/k", "--grace", "1h"]).0);
    }
    let working: Vec<&String> = tokens
        .iter()
        .filter(|t| env.verify(t, &[]).0 == 0)
        .collect();
    assert_eq!(
        working,
        tokens[tokens.len() - 2..].iter().collect::<Vec<_>>()
    );
    assert_eq!(superseded_rows(&env), 1);
    let (t1, t2) = (
        tokens[tokens.len() - 2].clone(),
        tokens[tokens.len() - 1].clone(),
    );

    // A plain reset ends them all, including those in grace.
    let (t3, out) = reset(&env, &["reset", "svc/k"]);
    assert!(
        out.stderr.contains("rejected from now"),
        "the note says so: {}",
        out.stderr
    );
    for old in [&t0, &t1, &t2] {
        let (code, v) = env.verify(old, &[]);
        assert_eq!((code, &v["reason"]), (1, &json!("unknown")), "{v}");
    }
    assert_eq!(env.verify(&t3, &[]).0, 0);
    assert_eq!(show(&env, "svc/k")["superseded"], json!([]));
    assert_eq!(superseded_rows(&env), 0, "nothing kept for ended secrets");

    // After a plain reset, a grace reset keeps only the token it replaces.
    let (t4, _) = reset(&env, &["reset", "svc/k", "--grace", "1h"]);
    assert_eq!(env.verify(&t3, &[]).1["superseded"], true);
    assert_eq!(env.verify(&t4, &[]).1["superseded"], false);
    assert_eq!(env.verify(&t2, &[]).1["reason"], "unknown");
    assert_eq!(
        show(&env, "svc/k")["superseded"].as_array().unwrap().len(),
        1
    );
}

#[test]
fn invalid_grace_and_revoked_keys_are_refused() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--name", "k"]);
    for bad in ["0", "-5", "1.5h", "2x", "", "99999999999y"] {
        let out = refused(&env, &["reset", "svc/k", "--grace", bad]);
        if !bad.is_empty() && bad != "-5" {
            assert!(out.stderr.contains(bad), "names {bad}: {}", out.stderr);
        }
    }
    assert_eq!(env.verify(&t, &[]).0, 0, "the token still works");

    env.run(&["delete", "svc/k", "--yes"]).code(0);
    let before = env.rows();
    for cmd in ["reset", "rotate"] {
        let out = env.run(&[cmd, "svc/k", "--grace", "1h"]);
        out.code(3);
        assert_eq!(out.stdout, "", "no token for a revoked key");
    }
    assert_eq!(env.rows(), before);
}

#[test]
fn concurrent_resets_leave_exactly_one_current_secret() {
    for grace in [None, Some("1h")] {
        let env = Env::new();
        let mut previous = env.create(&["--user", "svc", "--name", "k"]);
        let mut resets = 0;
        for round in 0..5 {
            let mut args = vec!["reset", "svc/k"];
            if let Some(g) = grace {
                args.extend(["--grace", g]);
            }
            let children: Vec<_> = (0..2)
                .map(|_| env.command().args(&args).spawn().expect("spawn keyctl"))
                .collect();
            let tokens: Vec<String> = children
                .into_iter()
                .map(|c| {
                    let out = Out::from(c.wait_with_output().expect("wait keyctl"));
                    out.code(0);
                    out.stdout.trim_end().to_owned()
                })
                .collect();
            resets += 2;
            assert_ne!(tokens[0], tokens[1], "round {round}");
            let verdicts: Vec<(i32, Value)> = tokens.iter().map(|t| env.verify(t, &[])).collect();
            let current: Vec<usize> = (0..2)
                .filter(|&i| verdicts[i].0 == 0 && verdicts[i].1["superseded"] == false)
                .collect();
            assert_eq!(
                current.len(),
                1,
                "round {round}, grace {grace:?}: exactly one current secret: {verdicts:?}"
            );
            let other = &verdicts[1 - current[0]];
            match grace {
                None => {
                    assert_eq!((other.0, &other.1["reason"]), (1, &json!("unknown")));
                    assert_eq!(env.verify(&previous, &[]).1["reason"], "unknown");
                    assert_eq!(show(&env, "svc/k")["superseded"], json!([]));
                }
                Some(_) => {
                    // The loser of the race still works for its grace, but a job that
                    // checks with --current learns that it lost.
                    assert_eq!((other.0, &other.1["superseded"]), (0, &json!(true)));
                    let loser = &tokens[1 - current[0]];
                    let (code, v) = env.verify(loser, &["--current"]);
                    assert_eq!((code, &v["reason"]), (1, &json!("superseded")), "{v}");
                    let winner = &tokens[current[0]];
                    assert_eq!(env.verify(winner, &["--current"]).0, 0);
                    // One old token at most: the one the second reset replaced.
                    assert_eq!(env.verify(&previous, &[]).1["reason"], "unknown");
                    let kept = show(&env, "svc/k")["superseded"].as_array().unwrap().len();
                    assert_eq!(kept, 1, "round {round}, {resets} resets");
                }
            }
            previous = tokens[current[0]].clone();
        }
    }
}

// ---------------------------------------------------------------------------------------
// disable and enable

#[test]
fn disable_rejects_until_enable() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--name", "k", "--path", "/api"]);
    let id = id_of(&t).to_owned();

    let before = now();
    let out = env.run(&["disable", "svc/k"]);
    let after = now();
    out.code(0);
    assert_eq!(out.stdout, "", "data only with --json");
    assert!(out.stderr.contains("disabled"), "{}", out.stderr);

    let (code, v) = env.verify(&t, &[]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["valid"], false);
    assert_eq!(v["reason"], "disabled");
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["user"], "svc");
    assert_eq!(v["name"], "k");
    let out = env.run_stdin(&["verify"], format!("{t}\n").as_bytes());
    out.code(1);
    assert!(
        out.stdout.contains("disabled") && out.stdout.contains(&id),
        "{}",
        out.stdout
    );
    // A wrong secret stays unknown: disabling reveals nothing to a guesser.
    assert_eq!(env.verify(&forged(&id), &[]).1["reason"], "unknown");

    let k = show(&env, "svc/k");
    assert_eq!(k["status"], "disabled");
    assert!((before..=after).contains(&secs(&k["disabled"])));
    assert_eq!(list(&env, &[])[0]["status"], "disabled");
    let out = env.run(&["list"]);
    out.code(0);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains(&id) && l.contains("disabled")),
        "{}",
        out.stdout
    );

    // Disabling again changes nothing and succeeds.
    let rows = env.rows();
    let out = env.run(&["disable", &id]);
    out.code(0);
    assert!(out.stderr.contains("already"), "{}", out.stderr);
    assert_eq!(env.rows(), rows);

    let v = env.run(&["enable", "svc/k", "--json"]).code(0).json();
    assert_key_json(&v);
    assert_eq!(v["status"], "active");
    assert_eq!(v["disabled"], Value::Null);
    assert_eq!(env.verify(&t, &["--path", "/api/x"]).0, 0);
    assert_eq!(show(&env, "svc/k")["status"], "active");

    let rows = env.rows();
    let out = env.run(&["enable", "svc/k"]);
    out.code(0);
    assert!(out.stderr.contains("not disabled"), "{}", out.stderr);
    assert_eq!(env.rows(), rows);

    // A disabled key still rotates; the new token is disabled too.
    let v = env.run(&["disable", "svc/k", "--json"]).code(0).json();
    assert_eq!(v["status"], "disabled");
    let (new, _) = reset(&env, &["reset", "svc/k", "--grace", "1h"]);
    assert_eq!(env.verify(&new, &[]).1["reason"], "disabled");
    assert_eq!(env.verify(&t, &[]).1["reason"], "disabled");
    env.run(&["enable", "svc/k"]).code(0);
    assert_eq!(env.verify(&new, &[]).0, 0);
}

#[test]
fn disable_and_enable_of_revoked_or_missing_keys_fail() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--name", "k"]);
    env.run(&["delete", "svc/k", "--yes"]).code(0);
    let before = env.rows();
    for cmd in ["disable", "enable"] {
        for key in [id_of(&t), "svc/k", "svc/none", "AAAAAAAAAAAAAAAA"] {
            let out = env.run(&[cmd, key]);
            out.code(3);
            assert_eq!(out.stdout, "");
            assert!(!out.stderr.is_empty());
        }
    }
    assert_eq!(env.rows(), before);
    assert_eq!(env.verify(&t, &[]).1["reason"], "revoked");
    assert_eq!(show(&env, id_of(&t))["status"], "revoked");
}

// ---------------------------------------------------------------------------------------
// last use

#[test]
fn last_used_is_recorded_by_successful_verifies_only() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--name", "k", "--path", "/api"]);
    let id = id_of(&t).to_owned();
    assert_eq!(show(&env, "svc/k")["last_used"], Value::Null);
    assert_eq!(list(&env, &[])[0]["last_used"], Value::Null);

    // Rejections of every kind leave it alone.
    assert_eq!(env.verify(&t, &["--path", "/admin"]).0, 1);
    assert_eq!(env.verify(&forged(&id), &[]).1["reason"], "unknown");
    env.run(&["disable", "svc/k"]).code(0);
    assert_eq!(env.verify(&t, &[]).1["reason"], "disabled");
    env.run(&["enable", "svc/k"]).code(0);
    env.run(&["expire", "svc/k", "now"]).code(0);
    assert_eq!(env.verify(&t, &[]).1["reason"], "expired");
    env.run(&["expire", "svc/k", "--never"]).code(0);
    assert_eq!(column(&env, &id, "last_used"), None);
    assert_eq!(show(&env, "svc/k")["last_used"], Value::Null);

    let before = now();
    assert_eq!(env.verify(&t, &["--path", "/api/items"]).0, 0);
    let after = now();
    let used = column(&env, &id, "last_used").expect("recorded");
    assert!((before..=after).contains(&used));
    let k = show(&env, "svc/k");
    assert_eq!(secs(&k["last_used"]), used);
    assert_eq!(list(&env, &[])[0]["last_used"], k["last_used"]);

    // A revoked key's use is not recorded either.
    set_column(&env, &id, "last_used", Some(used - 3600));
    env.run(&["delete", "svc/k", "--yes"]).code(0);
    assert_eq!(env.verify(&t, &[]).1["reason"], "revoked");
    assert_eq!(column(&env, &id, "last_used"), Some(used - 3600));
}

#[test]
fn last_used_is_written_at_most_once_a_minute() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    let id = id_of(&t).to_owned();

    // Used 30 s ago: a verify is answered without writing anything.
    let recent = now() - 30;
    set_column(&env, &id, "last_used", Some(recent));
    let rows = env.rows();
    for _ in 0..2 {
        assert_eq!(env.verify(&t, &[]).0, 0);
    }
    assert_eq!(column(&env, &id, "last_used"), Some(recent));
    assert_eq!(env.rows(), rows, "a throttled verify writes nothing");
    assert_eq!(secs(&show(&env, &id)["last_used"]), recent);

    // Used two minutes ago: the next verify records the new use.
    set_column(&env, &id, "last_used", Some(now() - 120));
    let before = now();
    assert_eq!(env.verify(&t, &[]).0, 0);
    let after = now();
    let used = column(&env, &id, "last_used").unwrap();
    assert!(
        (before..=after).contains(&used),
        "{used} in {before}..={after}"
    );

    // A token in grace counts as a use of the key too.
    reset(&env, &["reset", &id, "--grace", "1h"]);
    set_column(&env, &id, "last_used", Some(now() - 120));
    let before = now();
    assert_eq!(env.verify(&t, &[]).1["superseded"], true);
    let used = column(&env, &id, "last_used").unwrap();
    assert!(used >= before, "{used} >= {before}");
}

#[test]
fn verify_on_a_read_only_store_answers_and_skips_the_record() {
    let env = Env::sqlite();
    let t = env.create(&["--user", "svc", "--name", "k"]);
    let id = id_of(&t).to_owned();
    let (new, _) = reset(&env, &["reset", "svc/k", "--grace", "1h"]);
    let before = fs::read(&env.db).unwrap();
    let dir = env.db.parent().unwrap().to_owned();
    let Some(reader) = unprivileged(&env) else {
        return;
    };

    for _ in 0..2 {
        for (token, superseded) in [(&new, false), (&t, true)] {
            let out = reader(&["verify", "--json"], format!("{token}\n").as_bytes());
            out.code(0);
            let v = out.json();
            assert_eq!(v["valid"], true, "{v}");
            assert_eq!(v["id"], id.as_str());
            assert_eq!(v["superseded"], superseded);
            assert!(!out.stderr.contains("read-only"), "{}", out.stderr);
        }
        let out = reader(
            &["verify", "--json"],
            format!("{}\n", forged(&id)).as_bytes(),
        );
        out.code(1);
        assert_eq!(out.json()["reason"], "unknown");
    }
    assert!(fs::read(&env.db).unwrap() == before, "the store changed");
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        1,
        "no journal left behind"
    );

    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(&env.db, fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(column(&env, &id, "last_used"), None, "nothing recorded");
    // Once writable again, the next verify records the use.
    assert_eq!(env.verify(&new, &[]).0, 0);
    assert!(column(&env, &id, "last_used").is_some());
}

// ---------------------------------------------------------------------------------------
// list filters

/// Keys in every state, in creation order:
/// a svc active, never expires, used just now
/// b svc active, expires in 1 h
/// c ops active, expires in 30 d
/// d ops disabled, expires in 1 h
/// e svc revoked
/// f ops expired
/// g ops active, never expires, last used 2 h ago
/// All were created three days ago.
struct Fleet {
    env: Env,
    ids: std::collections::BTreeMap<char, String>,
}

impl Fleet {
    fn new() -> Fleet {
        let env = Env::new();
        let mut ids = std::collections::BTreeMap::new();
        let specs: [(char, &str, &[&str]); 7] = [
            ('a', "svc", &[]),
            ('b', "svc", &["--expire", "1h"]),
            ('c', "ops", &["--expire", "30d"]),
            ('d', "ops", &["--expire", "1h"]),
            ('e', "svc", &[]),
            ('f', "ops", &["--expire", "1h"]),
            ('g', "ops", &[]),
        ];
        let mut a_token = String::new();
        for (c, user, extra) in specs {
            let name = c.to_string();
            let mut args = vec!["--user", user, "--name", &name];
            args.extend_from_slice(extra);
            let t = env.create(&args);
            ids.insert(c, id_of(&t).to_owned());
            if c == 'a' {
                a_token = t;
            }
        }
        assert_eq!(env.verify(&a_token, &[]).0, 0);
        env.run(&["disable", "ops/d"]).code(0);
        env.run(&["delete", "svc/e", "--yes"]).code(0);
        env.run(&["expire", "ops/f", "now"]).code(0);
        set_column(&env, &ids[&'g'], "last_used", Some(now() - 7200));
        for id in ids.values() {
            set_column(&env, id, "created", Some(now() - 3 * day()));
        }
        Fleet { env, ids }
    }

    /// Ids of the keys named by letters, in creation order.
    fn ids(&self, letters: &str) -> Vec<String> {
        letters.chars().map(|c| self.ids[&c].clone()).collect()
    }

    #[track_caller]
    fn check(&self, args: &[&str], letters: &str) {
        assert_eq!(
            listed(&self.env, args),
            self.ids(letters),
            "list {args:?} should give {letters}"
        );
    }
}

#[test]
fn list_filters_by_status() {
    let f = Fleet::new();
    f.check(&[], "abcdfg");
    f.check(&["--all"], "abcdefg");
    f.check(&["--status", "active"], "abcg");
    f.check(&["--status", "disabled"], "d");
    f.check(&["--status", "expired"], "f");
    // Naming revoked lists revoked keys without --all.
    f.check(&["--status", "revoked"], "e");
    f.check(&["--status", "revoked", "--all"], "e");
    f.check(&["--status", "active", "--status", "revoked"], "abceg");
    f.check(&["--status", "expired", "--status", "disabled"], "df");
    f.check(&["--all", "--status", "active"], "abcg");
    for k in list(&f.env, &["--status", "disabled", "--status", "expired"]) {
        assert!(["disabled", "expired"].contains(&k["status"].as_str().unwrap()));
    }
}

#[test]
fn list_filters_by_expiry_window_use_and_user() {
    let f = Fleet::new();
    // Active keys expiring in the window: not d (disabled), not f (already expired).
    f.check(&["--expiring-within", "1d"], "b");
    f.check(&["--expiring-within", "3600"], "b");
    f.check(&["--expiring-within", "60d"], "bc");
    f.check(&["--expiring-within", "1m"], "");
    f.check(&["--expiring-within", "60d", "--all"], "bc");

    // Never used, or last used before the cutoff.
    f.check(&["--unused-since", "1h"], "bcdfg");
    f.check(&["--unused-since", "1d"], "bcdf");
    f.check(&["--unused-since", "1d", "--all"], "bcdef");
    // A key younger than the window has had no chance to be used.
    f.check(&["--unused-since", "4d"], "");
    let new = id_of(&f.env.create(&["--user", "ops"])).to_owned();
    assert_eq!(listed(&f.env, &["--unused-since", "1d"]), f.ids("bcdf"));
    set_column(&f.env, &new, "created", Some(now() - 2 * day()));
    let mut with_new = f.ids("bcdf");
    with_new.push(new.clone());
    assert_eq!(listed(&f.env, &["--unused-since", "1d"]), with_new);
    f.env.run(&["delete", "--purge", "--yes", &new]).code(0);

    f.check(&["--user", "svc"], "ab");
    f.check(&["--user", "svc", "--all"], "abe");
    f.check(&["--user", "ops"], "cdfg");
}

#[test]
fn list_filters_combine() {
    let f = Fleet::new();
    f.check(&["--user", "ops", "--status", "active"], "cg");
    f.check(
        &[
            "--user",
            "ops",
            "--status",
            "active",
            "--unused-since",
            "1d",
        ],
        "c",
    );
    f.check(&["--user", "svc", "--expiring-within", "1d"], "b");
    f.check(&["--user", "ops", "--expiring-within", "1d"], "");
    f.check(
        &["--user", "svc", "--status", "revoked", "--status", "active"],
        "abe",
    );
    f.check(
        &[
            "--status",
            "active",
            "--unused-since",
            "1h",
            "--expiring-within",
            "60d",
        ],
        "bc",
    );
    f.check(&["--status", "revoked", "--unused-since", "1h"], "e");

    // The table shows when each key was last used.
    let out = f.env.run(&["list", "--user", "svc"]);
    out.code(0);
    let header: Vec<&str> = out.stdout.lines().next().unwrap().split('\t').collect();
    assert_eq!(header[6], "LAST_USED", "{}", out.stdout);
    let used = list(&f.env, &["--user", "svc"])[0]["last_used"].clone();
    let row = |id: &str| -> Vec<String> {
        let line = out.stdout.lines().find(|l| l.contains(id)).unwrap();
        line.split('\t').map(str::to_owned).collect()
    };
    assert_eq!(row(&f.ids[&'a'])[6], used.as_str().unwrap());
    assert_eq!(row(&f.ids[&'b'])[6], "-");
}

#[test]
fn invalid_list_filters_are_refused() {
    let f = Fleet::new();
    for (flag, bad) in [
        ("--status", "bogus"),
        ("--status", "Active"),
        ("--status", ""),
        ("--expiring-within", "0"),
        ("--expiring-within", "1.5d"),
        ("--expiring-within", "soon"),
        ("--unused-since", "0s"),
        ("--unused-since", "3x"),
        ("--unused-since", "99999999999y"),
    ] {
        let out = refused(&f.env, &["list", flag, bad, "--json"]);
        if !bad.is_empty() {
            assert!(out.stderr.contains(bad), "names {bad}: {}", out.stderr);
        }
    }
    let out = f.env.run(&["list", "--status", "bogus"]);
    assert!(
        out.stderr.contains("active") && out.stderr.contains("disabled"),
        "lists the statuses: {}",
        out.stderr
    );
    let out = f
        .env
        .run(&["list", "--user", "nobody", "--status", "active"]);
    out.code(3);
    assert_eq!(out.stdout, "");
}

// ---------------------------------------------------------------------------------------
// prune

/// A store with keys revoked or expired long ago and recently, plus live ones: the env,
/// and the ids and first tokens, in creation order, of
/// [old revoked, recent revoked, old expired, expired 10 days ago, live, disabled long ago].
fn prune_fleet() -> (Env, Vec<String>, Vec<String>) {
    let env = Env::new();
    let names = [
        "old-revoked",
        "new-revoked",
        "old-expired",
        "new-expired",
        "live",
        "old-disabled",
    ];
    let mut tokens = Vec::new();
    for name in names {
        tokens.push(env.create(&["--user", "svc", "--name", name, "--expire", "1d"]));
    }
    let ids: Vec<String> = tokens.iter().map(|t| id_of(t).to_owned()).collect();
    // Superseded secrets of a pruned key go with it; the live key keeps its own.
    reset(&env, &["reset", "svc/old-revoked", "--grace", "1d"]);
    reset(&env, &["reset", "svc/live", "--grace", "1d"]);
    env.run(&["delete", "svc/old-revoked", "--yes"]).code(0);
    env.run(&["delete", "svc/new-revoked", "--yes"]).code(0);
    env.run(&["disable", "svc/old-disabled"]).code(0);
    let long_ago = now() - 40 * day();
    set_column(&env, &ids[0], "deleted", Some(long_ago));
    set_column(&env, &ids[2], "expires", Some(long_ago));
    set_column(&env, &ids[3], "expires", Some(now() - 10 * day()));
    set_column(&env, &ids[5], "disabled", Some(long_ago));
    (env, ids, tokens)
}

/// The ids at these positions.
fn pick(ids: &[String], at: &[usize]) -> Vec<String> {
    at.iter().map(|&i| ids[i].clone()).collect()
}

#[test]
fn prune_without_yes_and_without_a_terminal_refuses() {
    let (env, _, _) = prune_fleet();
    let out = refused(&env, &["prune", "--older-than", "30d"]);
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    // An answer on piped stdin is not a confirmation.
    let before = env.rows();
    let out = env.run_stdin(&["prune", "--older-than", "30d"], b"y\n");
    out.code(2);
    assert_eq!(out.stdout, "");
    assert_eq!(env.rows(), before);
    assert_eq!(listed(&env, &["--all"]).len(), 6);
}

#[test]
fn prune_removes_keys_revoked_or_expired_long_ago() {
    let (env, ids, tokens) = prune_fleet();
    assert_eq!(superseded_rows(&env), 2);
    let out = env.run(&["prune", "--older-than", "30d", "--yes"]);
    out.code(0);
    assert_eq!(
        out.stdout,
        format!("{}\n{}\n", ids[0], ids[2]),
        "the ids removed"
    );
    assert!(out.stderr.contains("purged 2 key(s)"), "{}", out.stderr);
    // Nothing left to do: nothing said at all, so that cron mails nothing.
    let out = env.run(&["prune", "--older-than", "30d", "--yes"]);
    out.code(0);
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
    assert_eq!(
        listed(&env, &["--all"]),
        pick(&ids, &[1, 3, 4, 5]),
        "recent ones, live ones and disabled ones stay"
    );
    assert_eq!(
        superseded_rows(&env),
        1,
        "only the live key's grace is left"
    );
    for gone in [&ids[0], &ids[2]] {
        env.run(&["show", gone]).code(3);
    }
    assert_eq!(env.verify(&tokens[0], &[]).1["reason"], "unknown");
    assert_eq!(env.verify(&tokens[1], &[]).1["reason"], "revoked");
    assert_eq!(env.verify(&tokens[4], &[]).1["superseded"], true);

    // Nothing left that old: nothing to confirm, nothing removed.
    let rows = env.rows();
    for args in [
        vec!["prune", "--older-than", "30d", "--yes"],
        vec!["prune", "--older-than", "30d"],
    ] {
        let out = env.run(&args);
        out.code(0);
        assert_eq!(out.stdout, "");
    }
    assert_eq!(env.rows(), rows);

    // A shorter window reaches the key that expired 10 days ago; JSON lists what went.
    let v = env
        .run(&["prune", "--older-than", "1w", "--yes", "--json"])
        .code(0)
        .json();
    assert_eq!(v, json!({"purged": 1, "ids": [ids[3]]}));
    let v = env
        .run(&["prune", "--older-than", "1w", "--yes", "--json"])
        .code(0)
        .json();
    assert_eq!(v, json!({"purged": 0, "ids": []}));
    assert_eq!(listed(&env, &["--all"]), pick(&ids, &[1, 4, 5]));
}

#[test]
fn invalid_prune_is_refused() {
    let (env, _, _) = prune_fleet();
    for args in [
        vec!["prune", "--yes"],
        vec!["prune", "--older-than", "0", "--yes"],
        vec!["prune", "--older-than", "30", "days", "--yes"],
        vec!["prune", "--older-than", "1.5d", "--yes"],
        vec!["prune", "--older-than", "-1d", "--yes"],
        vec!["prune", "--older-than", "month", "--yes"],
    ] {
        refused(&env, &args);
    }
}

#[test]
fn prune_lists_the_keys_and_asks_on_a_terminal() {
    let (env, ids, _) = prune_fleet();
    let revoked = show(&env, &ids[0])["deleted"].as_str().unwrap().to_owned();
    let expired = show(&env, &ids[2])["expires"].as_str().unwrap().to_owned();
    let before = env.rows();
    let Some(out) = on_terminal(&env, "\"$KEYCTL\" prune --older-than 30d", b"n\n", &[]) else {
        return;
    };
    out.code(2);
    assert_eq!(env.rows(), before, "answered no: nothing changed");
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    let line_of = |id: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("{id} is listed: {}", out.stdout))
    };
    let question = lines
        .iter()
        .position(|l| {
            l.starts_with("Remove 2 key(s) revoked or expired more than 30d ago?")
                && l.contains("? [y/N]")
        })
        .unwrap_or_else(|| panic!("it asked: {}", out.stdout));
    let (first, second) = (line_of(&ids[0]), line_of(&ids[2]));
    assert!(first < second && second < question, "{}", out.stdout);
    let words = |i: usize| lines[i].split_whitespace().collect::<Vec<_>>();
    assert_eq!(
        words(first),
        [
            ids[0].as_str(),
            "svc/old-revoked",
            "revoked",
            "revoked",
            &revoked
        ]
    );
    assert_eq!(
        words(second),
        [
            ids[2].as_str(),
            "svc/old-expired",
            "expired",
            "expired",
            &expired
        ]
    );
    for kept in pick(&ids, &[1, 3, 4, 5]) {
        assert!(
            !out.stdout.contains(&kept),
            "{kept} is not listed: {}",
            out.stdout
        );
    }

    // The list and the question are on stderr: with stderr gone, stdout shows none of it.
    let out = on_terminal(
        &env,
        "\"$KEYCTL\" prune --older-than 30d 2>/dev/null",
        b"n\n",
        &[],
    )
    .unwrap();
    out.code(2);
    assert!(
        !out.stdout.contains(&ids[0]) && !out.stdout.contains("[y/N]"),
        "{}",
        out.stdout
    );
    assert_eq!(env.rows(), before);

    let out = on_terminal(&env, "\"$KEYCTL\" prune --older-than 30d", b"yes\n", &[]).unwrap();
    out.code(0);
    assert!(out.stdout.contains("purged 2"), "{}", out.stdout);
    assert_eq!(listed(&env, &["--all"]), pick(&ids, &[1, 3, 4, 5]));
}

#[test]
fn prune_dry_run_lists_and_changes_nothing() {
    let (env, ids, _) = prune_fleet();
    let before = env.rows();
    for args in [
        vec!["prune", "--older-than", "30d", "--dry-run"],
        vec!["prune", "--older-than", "30d", "--dry-run", "--yes"],
    ] {
        let out = env.run(&args);
        out.code(0);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{args:?}: {}", out.stdout);
        assert!(lines[0].starts_with(&ids[0]), "{}", out.stdout);
        assert!(lines[1].starts_with(&ids[2]), "{}", out.stdout);
        assert!(
            out.stderr.contains("would remove 2 key(s)")
                && out.stderr.contains("nothing was changed"),
            "{}",
            out.stderr
        );
        assert_eq!(env.rows(), before, "{args:?}");

        let mut json_args = args.clone();
        json_args.push("--json");
        let v = env.run(&json_args).code(0).json();
        assert_eq!(
            v,
            json!({"purged": 0, "ids": [], "dry_run": true, "would_purge": [ids[0], ids[2]]}),
            "{json_args:?}"
        );
        assert_eq!(env.rows(), before, "{json_args:?}");
    }
    let v = env
        .run(&["prune", "--older-than", "1y", "--dry-run", "--json"])
        .code(0)
        .json();
    assert_eq!(
        v,
        json!({"purged": 0, "ids": [], "dry_run": true, "would_purge": []})
    );
    // On a terminal it does not ask either.
    if let Some(out) = on_terminal(
        &env,
        "\"$KEYCTL\" prune --older-than 30d --dry-run",
        b"",
        &[],
    ) {
        out.code(0);
        assert!(!out.stdout.contains("[y/N]"), "{}", out.stdout);
        assert!(
            out.stdout.contains("would remove 2 key(s)"),
            "{}",
            out.stdout
        );
    }
    assert_eq!(env.rows(), before);
    assert_eq!(listed(&env, &["--all"]).len(), 6);
}

#[test]
fn prune_force_is_refused_with_a_pointer_to_yes() {
    let (env, _, _) = prune_fleet();
    for args in [
        vec!["prune", "--older-than", "30d", "--force"],
        vec!["prune", "--force", "--older-than", "30d", "--yes"],
        vec!["prune", "--force"],
    ] {
        let out = refused(&env, &args);
        assert!(
            out.stderr.contains("unexpected argument '--force'") && out.stderr.contains("'--yes'"),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert_eq!(listed(&env, &["--all"]).len(), 6);
}

// ---------------------------------------------------------------------------------------
// upgrading a version-1 store

/// The schema of version 1 as it shipped: a frozen copy, so that a later edit of the
/// migrations cannot quietly change what this test upgrades from.
const V1_SCHEMA: &str = "CREATE TABLE users (
        id      INTEGER PRIMARY KEY,
        name    TEXT NOT NULL UNIQUE,
        created INTEGER NOT NULL
     );
     CREATE TABLE keys (
        seq         INTEGER PRIMARY KEY,
        id          TEXT NOT NULL UNIQUE,
        user_id     INTEGER NOT NULL REFERENCES users(id),
        name        TEXT,
        description TEXT,
        prefix      TEXT NOT NULL,
        digest      BLOB NOT NULL,
        paths       TEXT,
        created     INTEGER NOT NULL,
        updated     INTEGER NOT NULL,
        expires     INTEGER,
        deleted     INTEGER
     );
     CREATE UNIQUE INDEX keys_live_name ON keys(user_id, name) WHERE deleted IS NULL;
     CREATE INDEX keys_user ON keys(user_id);";

/// A store as the first schema version left it, with one key (svc/deploy, restricted to
/// `/api`, created three days ago): its id, token and creation time.
fn version_1_store(env: &Env) -> (&'static str, String, i64) {
    fs::create_dir_all(env.db.parent().unwrap()).unwrap();
    let id = "V1keyAAAAAAAAAAA";
    let token = keyctl::token::generate(&"kc".parse().unwrap(), &id.parse().unwrap()).unwrap();
    let digest = token.digest();
    let token = token.reveal().to_owned();
    let created = now() - 3 * day();
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    conn.execute_batch(V1_SCHEMA).unwrap();
    conn.pragma_update(None, "application_id", 0x6B63_746C_i32)
        .unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    conn.execute(
        "INSERT INTO users(id, name, created) VALUES (1, 'svc', ?1)",
        [created],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO keys(id, user_id, name, prefix, digest, paths, created, updated)
             VALUES (?1, 1, 'deploy', 'kc', ?2, '/api', ?3, ?3)",
        rusqlite::params![id, digest.0.as_slice(), created],
    )
    .unwrap();
    (id, token, created)
}

#[test]
fn a_version_1_store_is_upgraded_and_keeps_its_keys() {
    let env = Env::sqlite();
    let (id, token, created) = version_1_store(&env);

    let keys = list(&env, &[]);
    assert_eq!(keys.len(), 1);
    let k = &keys[0];
    assert_eq!(k["id"], id);
    assert_eq!(k["user"], "svc");
    assert_eq!(k["name"], "deploy");
    assert_eq!(k["paths"], json!(["/api"]));
    assert_eq!(secs(&k["created"]), created);
    assert_eq!(k["status"], "active");
    assert_eq!(k["disabled"], Value::Null);
    assert_eq!(k["last_used"], Value::Null);
    assert_eq!(k["superseded"], json!([]));
    let version = env.query_i64("SELECT user_version FROM pragma_user_version");
    assert_eq!(version, keyctl::store::sqlite::schema::latest());

    // The old token still works, and every new feature works on the upgraded store.
    assert_eq!(env.verify(&token, &["--path", "/api/x"]).0, 0);
    assert!(column(&env, id, "last_used").is_some());
    let (new, _) = reset(&env, &["rotate", "svc/deploy", "--grace", "1h"]);
    assert_eq!(env.verify(&token, &[]).1["superseded"], true);
    env.run(&["disable", "svc/deploy"]).code(0);
    assert_eq!(env.verify(&new, &[]).1["reason"], "disabled");
}

#[test]
fn a_version_1_store_that_cannot_be_written_is_refused_with_what_to_do() {
    let env = Env::sqlite();
    let (_, token, _) = version_1_store(&env);
    let before = fs::read(&env.db).unwrap();
    let Some(as_reader) = unprivileged(&env) else {
        return;
    };
    let token = format!("{token}\n");
    for (args, input) in [
        (&["verify"][..], token.as_bytes()),
        (&["list", "--json"], b""),
        (&["show", "svc/deploy"], b""),
    ] {
        let out = as_reader(args, input);
        out.code(4);
        assert_eq!(out.stdout, "", "{args:?}");
        assert!(
            out.stderr.contains("schema version 1")
                && out.stderr.contains("needs write access")
                && out.stderr.contains("run any keyctl command on it once"),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert_eq!(fs::read(&env.db).unwrap(), before, "the store is unchanged");
}
