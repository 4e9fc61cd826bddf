//! Users and the audit log through the built binary: accounts and passwords, one event per
//! change with the right actor, and tampering with the log found by `keyctl log --check`.

use crate::common;

use common::{Env, Out, id_of};
use serde_json::Value;

fn events(env: &Env) -> Vec<Value> {
    let out = env.run(&["log", "--json"]);
    out.code(0);
    out.json().as_array().expect("an array").clone()
}

#[test]
fn every_change_is_one_event_with_its_actor_and_no_secret() {
    let env = Env::new();
    let run = |args: &[&str], actor: Option<&str>| -> Out {
        let mut cmd = env.command();
        if let Some(a) = actor {
            cmd.env("KEYCTL_ACTOR", a);
        }
        let mut child = cmd
            .args(args)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            let _ = stdin.write_all(b"correct horse battery\n");
        }
        let out: Out = child.wait_with_output().unwrap().into();
        out.code(0);
        out
    };
    let token = run(&["create", "--user", "svc", "--name", "web"], Some("ci-1"))
        .stdout
        .trim()
        .to_owned();
    let id = id_of(&token).to_owned();
    let expired = run(
        &["create", "--user", "svc", "--name", "old", "--expire", "1s"],
        None,
    )
    .stdout
    .trim()
    .to_owned();
    let rotated = run(
        &["--actor", "alice", "rotate", "svc/web", "--grace", "1h"],
        Some("ci-1"),
    );
    let steps: Vec<(Vec<&str>, &str, &str)> = vec![
        (vec!["expire", "svc/web", "30d"], "expire", "ci-2"),
        (vec!["path", "svc/web", "/api"], "path", "ci-2"),
        (vec!["disable", "svc/web"], "disable", "ci-2"),
        (vec!["enable", "svc/web"], "enable", "ci-2"),
        (vec!["user", "add", "bob"], "user_add", "ci-2"),
        (
            vec!["user", "passwd", "bob", "--password-stdin"],
            "user_passwd",
            "ci-2",
        ),
        (vec!["adopt", "--user", "bob"], "adopt", "ci-2"),
        (vec!["delete", "svc/web", "--yes"], "delete", "ci-2"),
        (
            vec!["delete", "svc/web", "--purge", "--yes"],
            "purge",
            "ci-2",
        ),
        (
            vec!["user", "remove", "bob", "--yes"],
            "user_remove",
            "ci-2",
        ),
    ];
    for (args, _, actor) in &steps {
        if args[0] == "adopt" {
            let mut cmd = env.command();
            let out: Out = {
                use std::io::Write;
                let mut child = cmd
                    .env("KEYCTL_ACTOR", actor)
                    .args(args)
                    .stdin(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(b"vb_a3Bf9xKmPq2nR7sT4wYzLp8mN5qR1xWe\n")
                    .unwrap();
                child.wait_with_output().unwrap().into()
            };
            out.code(0);
        } else {
            run(args, Some(actor));
        }
    }
    // The short-lived key expired long ago, as far as prune can tell.
    env.sql(&format!(
        "UPDATE keys SET expires = expires - 86400 WHERE id = '{}'",
        id_of(&expired)
    ));
    run(&["prune", "--older-than", "1h", "--yes"], Some("cron"));

    let log = events(&env);
    let got: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    let me = got[1].1;
    assert_ne!(me, "", "the OS user by default");
    let mut expected = vec![("create", "ci-1"), ("create", me), ("reset", "alice")];
    expected.extend(steps.iter().map(|(_, action, actor)| (*action, *actor)));
    expected.push(("prune", "cron"));
    assert_eq!(got, expected);
    assert_eq!(log[0]["key"], id);
    assert_eq!(log[0]["user"], "svc");
    assert_eq!(log[3]["details"]["expires"]["old"], Value::Null);
    assert!(log[3]["details"]["expires"]["new"].is_string());
    assert_eq!(
        log[4]["details"]["paths"]["new"],
        serde_json::json!(["/api"])
    );
    assert_eq!(log.last().unwrap()["key"], id_of(&expired));
    for (i, e) in log.iter().enumerate() {
        assert_eq!(e["seq"], i + 1);
    }
    // Never a token, a secret, a digest or a password.
    let text = env.run(&["log", "--json"]).stdout + &env.rows();
    for secret in [
        &token[token.len() - 40..],
        &rotated.stdout.trim()[20..60],
        "correct horse battery",
        "a3Bf9xKmPq2nR7sT4wYzLp8mN5qR1xWe",
    ] {
        assert!(!text.contains(secret), "{secret} in the log or store");
    }
    // Filters.
    let by = |args: &[&str]| -> usize {
        let mut all = vec!["log", "--json"];
        all.extend_from_slice(args);
        let out = env.run(&all);
        out.code(0);
        out.json().as_array().unwrap().len()
    };
    assert_eq!(by(&[&id]), 8, "every event of the purged key, by its id");
    assert_eq!(by(&["--action", "reset"]), 1);
    assert_eq!(by(&["--user", "bob"]), 4);
    assert_eq!(by(&["--since", "1d"]), log.len());
    assert_eq!(by(&["--since", "2999-01-01"]), 0);
    let out = env.run(&["log", "--check"]);
    out.code(0);
    assert!(
        out.stdout
            .starts_with(&format!("{} events, head ", log.len())),
        "{}",
        out.stdout
    );

    // An import is recorded in the store it goes into, one event per key.
    let exported = env.run(&["export", "--all"]);
    exported.code(0);
    let target = env.dir.path().join("target.db");
    let out: Out = {
        use std::io::Write;
        let mut child = env
            .command()
            .env("KEYCTL_ACTOR", "migration")
            .args(["--db", target.to_str().unwrap(), "import"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(exported.stdout.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap().into()
    };
    out.code(0);
    let imported = env
        .run(&["--db", target.to_str().unwrap(), "log", "--json"])
        .json();
    let keys = env.run(&["list", "--all", "--json"]).json();
    assert_eq!(
        imported.as_array().unwrap().len(),
        keys.as_array().unwrap().len()
    );
    for e in imported.as_array().unwrap() {
        assert_eq!(
            (&e["action"], &e["actor"]),
            (&Value::from("import"), &Value::from("migration"))
        );
    }
}

/// Run `keyctl log --check` after `sql` changed the events, then put them back.
fn check_after(env: &Env, sql: &str, extra: &[&str]) -> Out {
    env.sql(&format!(
        "CREATE TABLE events_kept AS SELECT * FROM events; {sql}"
    ));
    let mut args = vec!["log", "--check"];
    args.extend_from_slice(extra);
    let out = env.run(&args);
    env.sql(
        "DELETE FROM events; INSERT INTO events SELECT * FROM events_kept; DROP TABLE events_kept",
    );
    out
}

#[test]
fn changing_removing_moving_or_adding_any_event_is_found() {
    let env = Env::new();
    env.create(&["--user", "svc", "--name", "a"]);
    for args in [
        &["rotate", "svc/a"][..],
        &["expire", "svc/a", "1d"],
        &["path", "svc/a", "/x"],
        &["disable", "svc/a"],
        &["enable", "svc/a"],
    ] {
        env.run(args).code(0);
    }
    let n = 6;
    let out = env.run(&["log", "--check"]);
    out.code(0);
    let head = out.stdout.split("head ").nth(1).unwrap().trim().to_owned();
    assert_eq!(
        check_after(&env, "", &["--expect-head", &head]).code,
        0,
        "untouched events"
    );
    for seq in 1..=n {
        let others = if seq == n { 1 } else { seq + 1 };
        for (what, sql) in [
            (
                "actor changed",
                format!("UPDATE events SET actor = 'mallory' WHERE seq = {seq}"),
            ),
            (
                "time changed",
                format!("UPDATE events SET time = time + 1 WHERE seq = {seq}"),
            ),
            (
                "details changed",
                format!("UPDATE events SET details = '{{}}' WHERE seq = {seq}"),
            ),
            (
                "action changed",
                format!(
                    "UPDATE events SET action = CASE action WHEN 'enable' THEN 'disable'
                     ELSE 'enable' END WHERE seq = {seq}"
                ),
            ),
            ("removed", format!("DELETE FROM events WHERE seq = {seq}")),
            (
                "moved",
                format!(
                    "UPDATE events SET seq = -1 WHERE seq = {seq};
                     UPDATE events SET seq = {seq} WHERE seq = {others};
                     UPDATE events SET seq = {others} WHERE seq = -1"
                ),
            ),
            (
                "inserted",
                format!(
                    "UPDATE events SET seq = seq + 1000 WHERE seq >= {seq};
                     UPDATE events SET seq = seq - 999 WHERE seq >= 1000;
                     CREATE TABLE events_copy AS SELECT * FROM events WHERE seq = {seq} + 1;
                     UPDATE events_copy SET seq = {seq};
                     INSERT INTO events SELECT * FROM events_copy;
                     DROP TABLE events_copy"
                ),
            ),
        ] {
            let out = check_after(&env, &sql, &[]);
            // The last event removed leaves a shorter chain that is intact in itself: only
            // the recorded head tells.
            if what == "removed" && seq == n {
                out.code(0);
                let out = check_after(&env, &sql, &["--expect-head", &head]);
                out.code(1);
                assert!(
                    out.stderr.contains("cut short or rewritten"),
                    "{}",
                    out.stderr
                );
                continue;
            }
            out.code(1);
            assert!(
                out.stderr.contains("not intact") && out.stderr.contains("does not fit"),
                "{what} at {seq}: {}",
                out.stderr
            );
        }
    }
    // Cut short: an intact chain of fewer events, which only the expected head reveals.
    let out = check_after(
        &env,
        "DELETE FROM events WHERE seq > 3",
        &["--expect-head", &head],
    );
    out.code(1);
    let out = check_after(&env, "DELETE FROM events WHERE seq > 3", &[]);
    out.code(0);
    assert!(out.stdout.starts_with("3 events"), "{}", out.stdout);
    let out = check_after(&env, "DELETE FROM events WHERE seq > 3", &["--json"]);
    out.code(0);
    assert_eq!(out.json()["events"], 3);
    // The JSON check names the first bad event.
    let out = check_after(
        &env,
        "UPDATE events SET actor = 'mallory' WHERE seq = 4",
        &["--json"],
    );
    out.code(1);
    assert_eq!(out.json()["first_bad"], 4, "{}", out.stdout);
    // Every change above was put back.
    env.run(&["log", "--check", "--expect-head", &head]).code(0);
}

#[test]
fn users_are_listed_with_their_keys_and_passwords_are_only_hashes() {
    let env = Env::new();
    env.create(&["--user", "svc", "--name", "a"]);
    env.create(&["--user", "svc", "--name", "b", "--expire", "1s"]);
    env.create(&["--user", "svc", "--name", "c"]);
    env.run(&["disable", "svc/c"]).code(0);
    env.run(&["user", "add", "bot", "--service"]).code(0);
    env.run(&["user", "add", "alice"]).code(0);
    env.run(&["user", "add", "alice"]).code(2);
    env.run(&["user", "add", "a b"]).code(2);
    let set = |user: &str, password: &str| -> Out {
        env.run_stdin(
            &["user", "passwd", user, "--password-stdin"],
            format!("{password}\n").as_bytes(),
        )
    };
    set("alice", "correct horse battery").code(0);
    let out = set("alice", "too short");
    out.code(2);
    assert!(out.stderr.contains("12 characters"), "{}", out.stderr);
    set("bot", "correct horse battery").code(2);
    set("nobody", "correct horse battery").code(3);
    env.run(&["user", "passwd", "alice"]).code(2);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = env.run(&["user", "list", "--json"]);
    out.code(0);
    let users = out.json();
    let find = |name: &str| {
        users
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["user"] == name)
            .cloned()
            .unwrap()
    };
    let svc = find("svc");
    assert_eq!(
        (
            &svc["keys"]["active"],
            &svc["keys"]["expired"],
            &svc["keys"]["disabled"]
        ),
        (&Value::from(1), &Value::from(1), &Value::from(1))
    );
    assert_eq!(
        (&find("alice")["password"], &find("bot")["service"]),
        (&Value::from(true), &Value::from(true))
    );
    let rows = env.rows();
    assert!(!rows.contains("correct horse"), "no password in the store");
    assert!(
        rows.contains("$argon2id$v=19$m=19456,t=2,p=1$"),
        "an argon2id hash"
    );
    assert!(!out.stdout.contains("argon2"), "no hash in output");
    let plain = env.run(&["user", "list"]);
    plain.code(0);
    assert!(
        plain.stdout.starts_with("USER\tKIND\tPASSWORD"),
        "{}",
        plain.stdout
    );
    env.run(&["user", "passwd", "alice", "--clear"]).code(0);
    assert!(!env.rows().contains("argon2"), "cleared");
}

#[test]
fn removing_a_user_revokes_every_key_at_once() {
    let env = Env::new();
    let tokens: Vec<String> = (0..30)
        .map(|i| env.create(&["--user", "leaver", "--name", &format!("k{i}")]))
        .collect();
    let other = env.create(&["--user", "stays"]);
    env.run(&["user", "remove", "leaver"]).code(2);
    // A reader in a loop: every snapshot sees all 30 keys live, or none.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let seen = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut seen = std::collections::BTreeSet::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                seen.insert(env.query_i64(
                    "SELECT count(*) FROM keys k JOIN users u ON u.id = k.user_id
                     WHERE u.name = 'leaver' AND k.deleted IS NULL",
                ));
            }
            seen
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        let out = env.run(&["user", "remove", "leaver", "--yes", "--json"]);
        out.code(0);
        assert_eq!(out.json()["keys"].as_array().unwrap().len(), 30);
        std::thread::sleep(std::time::Duration::from_millis(50));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        reader.join().unwrap()
    });
    assert!(seen.iter().all(|n| *n == 0 || *n == 30), "{seen:?}");
    for t in &tokens {
        assert_eq!(env.verify(t, &[]).1["reason"], "revoked");
    }
    assert_eq!(env.verify(&other, &[]).0, 0);
    // A removed user gets no new key until added back.
    env.run(&["create", "--user", "leaver"]).code(2);
    env.run(&["user", "add", "leaver"]).code(0);
    env.create(&["--user", "leaver"]);
    // --purge takes the keys and the user away.
    env.run(&["user", "remove", "leaver", "--purge", "--yes"])
        .code(0);
    assert!(!env.keys_rows().contains("leaver"));
    env.run(&["user", "remove", "nobody", "--yes"]).code(3);
}

#[test]
fn on_a_terminal_passwd_asks_twice_without_echo() {
    let env = Env::new();
    env.run(&["user", "add", "alice"]).code(0);
    for (second, code) in [("correct horse battery", 0), ("another password!!", 2)] {
        let Some(mut term) = common::Terminal::start(&env, "\"$KEYCTL\" user passwd alice", &[])
        else {
            return;
        };
        term.wait_for("New password:");
        std::thread::sleep(std::time::Duration::from_millis(100));
        term.type_in(b"correct horse battery\n");
        term.wait_for("Again:");
        std::thread::sleep(std::time::Duration::from_millis(100));
        term.type_in(format!("{second}\n").as_bytes());
        let out = term.finish();
        assert!(!out.stdout.contains("horse"), "not echoed: {out:?}");
        let set = env.rows().contains("argon2id");
        assert_eq!(set, code == 0, "{out:?}");
        if code != 0 {
            assert!(out.stdout.contains("differ"), "{out:?}");
        }
        env.run(&["user", "passwd", "alice", "--clear"]).code(0);
    }
}
