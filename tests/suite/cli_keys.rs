//! Black-box tests of the key-management commands (create, list, show, reset, expire, path,
//! delete) and of the help texts, run through the built binary against a temporary store.

use crate::common;

use clap::CommandFactory;
use common::{
    Env, Out, Terminal, assert_key_json, id_of, list, now, on_terminal, refused, secs, show,
};
use serde_json::Value;

fn ids(keys: &[Value]) -> Vec<&str> {
    keys.iter().map(|k| k["id"].as_str().unwrap()).collect()
}

fn has_box_drawing(s: &str) -> bool {
    s.chars().any(|c| ('\u{2500}'..='\u{257f}').contains(&c))
}

// ---------------------------------------------------------------------------------------
// create

#[test]
fn create_prints_exactly_the_token_and_a_note_on_stderr() {
    let env = Env::new();
    let out = env.run(&["create", "--user", "svc"]);
    out.code(0);
    let token = out.stdout.strip_suffix('\n').expect("newline after token");
    assert!(!token.contains(['\n', '\r', ' ']), "{:?}", out.stdout);

    // Form: kc_<id>_<49 base62>, alphabet [A-Za-z0-9_], at most 120 characters.
    assert!(token.len() <= 120);
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    );
    let parts: Vec<&str> = token.split('_').collect();
    assert_eq!(parts.len(), 3, "{token}");
    assert_eq!(parts[0], "kc");
    assert!((8..=24).contains(&parts[1].len()));
    assert!(parts[1].bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(
        parts[2].len(),
        43 + 6,
        "256-bit secret and 6-character checksum"
    );
    assert!(parts[2].bytes().all(|b| b.is_ascii_alphanumeric()));
    let (signed, check) = token.split_at(token.len() - 6);
    assert_eq!(keyctl::token::checksum(signed), check);

    // The note says the token is shown once, and does not repeat it.
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("once"), "{}", out.stderr);
    assert!(!out.stderr.contains(&parts[2][..43]));

    // The token carries the key's public id verbatim.
    let keys = list(&env, &[]);
    assert_eq!(ids(&keys), [parts[1]]);
    assert_eq!(keys[0]["user"], "svc");
    let (code, v) = env.verify(token, &[]);
    assert_eq!((code, &v["valid"]), (0, &Value::Bool(true)));
}

#[test]
fn every_create_gets_a_new_id_and_secret() {
    let env = Env::new();
    let a = env.create(&["--user", "svc"]);
    let b = env.create(&["--user", "svc"]);
    assert_ne!(id_of(&a), id_of(&b));
    assert_ne!(a.rsplit('_').next(), b.rsplit('_').next());
    assert_eq!(list(&env, &[]).len(), 2);
}

#[test]
fn create_json_has_every_key_field_and_the_token() {
    let env = Env::new();
    let before = now();
    let out = env.run(&[
        "create",
        "--user",
        "ci.bot@example-1",
        "--name",
        "deploy_2",
        "--description",
        "deploys from CI; owner ops",
        "--path",
        "/deploy",
        "--path",
        "=/status",
        "--json",
    ]);
    let after = now();
    out.code(0);
    assert!(out.stderr.contains("once"), "{}", out.stderr);
    let v = out.json();
    assert_key_json(&v);
    let token = v["token"].as_str().expect("token field");
    assert_eq!(v["id"], id_of(token));
    assert_eq!(v["user"], "ci.bot@example-1");
    assert_eq!(v["name"], "deploy_2");
    assert_eq!(v["description"], "deploys from CI; owner ops");
    assert_eq!(v["prefix"], "kc");
    assert_eq!(v["paths"], serde_json::json!(["/deploy", "=/status"]));
    assert_eq!(v["expires"], Value::Null);
    assert_eq!(v["deleted"], Value::Null);
    assert_eq!(v["status"], "active");
    let created = secs(&v["created"]);
    assert!((before..=after).contains(&created));
    assert_eq!(v["updated"], v["created"]);

    // show gives the same key, without the token.
    let mut shown = show(&env, "ci.bot@example-1/deploy_2");
    assert!(shown.get("token").is_none());
    shown["token"] = v["token"].clone();
    assert_eq!(shown, v);
    let (code, _) = env.verify(token, &["--path", "/deploy/x"]);
    assert_eq!(code, 0);
}

#[test]
fn create_with_a_custom_prefix() {
    let env = Env::new();
    let token = env.create(&["--user", "partner", "--prefix", "acme"]);
    assert!(token.starts_with("acme_"), "{token}");
    assert_eq!(show(&env, id_of(&token))["prefix"], "acme");
    assert_eq!(env.verify(&token, &[]).0, 0);

    let longest = "abcdefghij012345";
    let token = env.create(&["--user", "partner", "--prefix", longest]);
    assert!(token.starts_with(&format!("{longest}_")) && token.len() <= 120);
    assert_eq!(env.verify(&token, &[]).0, 0);
}

#[test]
fn duplicate_name_is_refused_and_changes_nothing() {
    let env = Env::new();
    env.create(&["--user", "svc", "--name", "deploy"]);
    let before = env.rows();
    let out = refused(&env, &["create", "--user", "svc", "--name", "deploy"]);
    assert!(out.stderr.contains("deploy"), "{}", out.stderr);
    assert_eq!(env.rows(), before);
    // Names are per user, and a revoked key's name can be used again.
    env.create(&["--user", "other", "--name", "deploy"]);
    env.run(&["delete", "svc/deploy", "--yes"]).code(0);
    let token = env.create(&["--user", "svc", "--name", "deploy"]);
    assert_eq!(show(&env, "svc/deploy")["id"], id_of(&token));
}

#[test]
fn invalid_create_input_is_refused_and_changes_nothing() {
    let long_user = "u".repeat(65);
    let long_prefix = "p".repeat(17);
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["--user", ""],
        vec!["--user", "a b"],
        vec!["--user", "svc/x"],
        vec!["--user", &long_user],
        vec!["--user", "sv\u{e9}"],
        vec!["--user", "svc", "--name", ""],
        vec!["--user", "svc", "--name", "a b"],
        vec!["--user", "svc", "--name", "a/b"],
        vec!["--user", "svc", "--description", "a\nb"],
        vec!["--user", "svc", "--description", "\u{1b}[31mred"],
        vec!["--user", "svc", "--prefix", ""],
        vec!["--user", "svc", "--prefix", "KC"],
        vec!["--user", "svc", "--prefix", "k_c"],
        vec!["--user", "svc", "--prefix", &long_prefix],
        vec!["--user", "svc", "--path", "api"],
        vec!["--user", "svc", "--path", "=api"],
        vec!["--user", "svc", "--path", ""],
        vec!["--user", "svc", "--path", "/a b"],
        vec!["--user", "svc", "--path", "/a\tb"],
        vec!["--user", "svc", "--path", "/a\u{1b}[31m"],
        vec!["--user", "svc", "--path", "/ok", "--path", "bad"],
        vec!["--user", "svc", "--expire-at", "tomorrow"],
        vec!["--user", "svc", "--expire-at", "2030-02-30"],
        vec!["--user", "svc", "--expire-at", "2030-1-1"],
        vec![
            "--user",
            "svc",
            "--expire",
            "1d",
            "--expire-at",
            "2030-01-01",
        ],
    ];
    let env = Env::new();
    // On a fresh machine, a refused create does not even make the store.
    for args in &cases {
        let mut all = vec!["create"];
        all.extend_from_slice(args);
        refused(&env, &all);
    }
    assert!(!env.store_exists(), "a refused create made a store");
    env.create(&["--user", "svc", "--name", "first"]);
    let before = env.rows();
    for args in &cases {
        let mut all = vec!["create"];
        all.extend_from_slice(args);
        refused(&env, &all);
        assert_eq!(env.rows(), before, "{all:?} changed the store");
    }
}

#[test]
fn invalid_durations_name_the_value_and_the_accepted_forms() {
    let env = Env::new();
    env.create(&["--user", "svc"]);
    let before = env.rows();
    for dur in [
        "0",
        "0d",
        "-5",
        "-5d",
        "1.5h",
        "1.5",
        "5x",
        "d",
        "1e3",
        "99999999999999999999",
        "300000y",
        // Parses, but now + this is after the year 9999.
        "253000000000",
    ] {
        let arg = format!("--expire={dur}");
        let out = refused(&env, &["create", "--user", "svc", &arg]);
        assert!(out.stderr.contains(dur), "{dur}: {}", out.stderr);
        if dur.starts_with('-') {
            assert!(
                out.stderr.contains("positive") && out.stderr.contains("`now`"),
                "{dur}: {}",
                out.stderr
            );
        } else if dur != "253000000000" {
            assert!(out.stderr.contains("90d"), "{dur}: {}", out.stderr);
        }
        assert_eq!(env.rows(), before, "{dur} changed the store");
    }
}

#[test]
fn negative_durations_and_dates_get_messages_that_help() {
    let env = Env::new();
    env.create(&["--user", "svc", "--name", "deploy"]);
    let before = env.rows();
    for args in [
        &["expire", "svc/deploy", "-5d"][..],
        &["create", "--user", "svc", "--expire", "-5d"],
        &["reset", "svc/deploy", "--grace", "-1h"],
    ] {
        let out = refused(&env, args);
        assert!(
            out.stderr.contains("durations are positive") && out.stderr.contains("`now`"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("-- -5"), "no clap tip: {}", out.stderr);
    }
    let out = refused(&env, &["expire", "svc/deploy", "2030-01-01"]);
    assert!(out.stderr.contains("--at"), "{}", out.stderr);
    let out = refused(&env, &["create", "--user", "svc", "--expire", "2030-01-01"]);
    assert!(out.stderr.contains("--expire-at"), "{}", out.stderr);
    assert_eq!(env.rows(), before);
}

#[test]
fn expire_duration_is_exact_to_the_second() {
    let env = Env::new();
    for (dur, secs_) in [
        ("31536000", 31_536_000),
        ("45s", 45),
        ("5m", 300),
        ("12h", 43_200),
        ("90d", 7_776_000),
        ("2w", 1_209_600),
        ("1y", 31_536_000),
    ] {
        let before = now();
        let v = env
            .run(&["create", "--user", "svc", "--expire", dur, "--json"])
            .code(0)
            .json();
        let after = now();
        let created = secs(&v["created"]);
        let expires = secs(&v["expires"]);
        assert!((before..=after).contains(&created), "{dur}");
        assert_eq!(expires - created, secs_, "{dur}");
        assert!((before + secs_..=after + secs_).contains(&expires), "{dur}");
        assert_eq!(v["status"], "active");
    }
}

#[test]
fn expire_at_takes_dates_and_offsets_and_refuses_the_past() {
    let env = Env::new();
    for (at, want) in [
        ("2030-01-01", "2030-01-01T00:00:00Z"),
        ("2030-01-01T00:00:00Z", "2030-01-01T00:00:00Z"),
        ("2030-01-01T02:00:00+02:00", "2030-01-01T00:00:00Z"),
        ("2030-06-15T12:30:45-04:30", "2030-06-15T17:00:45Z"),
        ("2030-06-15T12:30:45.999Z", "2030-06-15T12:30:45Z"),
    ] {
        let v = env
            .run(&["create", "--user", "svc", "--expire-at", at, "--json"])
            .code(0)
            .json();
        assert_eq!(v["expires"], want, "{at}");
    }
    let before = env.rows();
    for past in [
        "2001-01-01",
        "1970-01-01T00:00:00Z",
        "2020-06-01T00:00:00+02:00",
    ] {
        let out = refused(&env, &["create", "--user", "svc", "--expire-at", past]);
        assert!(out.stderr.contains("future"), "{}", out.stderr);
    }
    assert_eq!(env.rows(), before);
}

// ---------------------------------------------------------------------------------------
// list

#[test]
fn list_is_in_creation_order_and_filters_by_user() {
    let env = Env::new();
    let a = env.create(&["--user", "u1", "--name", "zeta"]);
    let b = env.create(&["--user", "u2", "--name", "alpha"]);
    let c = env.create(&["--user", "u1"]);
    assert_eq!(ids(&list(&env, &[])), [id_of(&a), id_of(&b), id_of(&c)]);
    assert_eq!(ids(&list(&env, &["--user", "u1"])), [id_of(&a), id_of(&c)]);
    assert_eq!(ids(&list(&env, &["--user", "u2"])), [id_of(&b)]);
    // --json works before the subcommand too (it is global).
    let v = env.run(&["--json", "list", "--user", "u2"]).code(0).json();
    assert_eq!(v.as_array().unwrap().len(), 1);

    let out = env.run(&["list", "--user", "nobody"]);
    out.code(3);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("nobody"), "{}", out.stderr);
    env.run(&["list", "--user", "no body"]).code(2);
}

#[test]
fn list_all_includes_revoked_keys() {
    let env = Env::new();
    let a = env.create(&["--user", "svc"]);
    let b = env.create(&["--user", "svc"]);
    env.run(&["delete", id_of(&a), "--yes"]).code(0);
    assert_eq!(ids(&list(&env, &[])), [id_of(&b)]);
    let all = list(&env, &["--all"]);
    assert_eq!(ids(&all), [id_of(&a), id_of(&b)]);
    assert_eq!(all[0]["status"], "revoked");
    secs(&all[0]["deleted"]);
    assert_eq!(all[1]["status"], "active");
    assert_eq!(ids(&list(&env, &["--all", "--user", "svc"])).len(), 2);
}

#[test]
fn list_of_an_empty_store() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    env.run(&["delete", id_of(&t), "--purge", "--yes"]).code(0);
    let out = env.run(&["list", "--json"]);
    out.code(0);
    assert_eq!(out.stdout.trim(), "[]");
    // Plain: no data on stdout; the user's keys are gone but the user is known.
    let out = env.run(&["list"]);
    out.code(0);
    assert_eq!(out.stdout.trim(), "");
    assert_eq!(
        env.run(&["list", "--user", "svc", "--json"]).code(0).json(),
        serde_json::json!([])
    );
}

/// The header of plain `list` output: one word per column, tab-separated.
const PLAIN_HEADER: &str =
    "ID\tUSER\tNAME\tSTATUS\tEXPIRES\tPATHS\tLAST_USED\tCREATED\tDESCRIPTION";

/// `keyctl list ARGS` with stdout not a terminal: its lines split into tab-separated fields,
/// after checking the header and that every row has as many fields as the header.
#[track_caller]
fn plain_rows(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Vec<Vec<String>> {
    let mut cmd = env.command();
    cmd.arg("list").args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out: Out = cmd.output().expect("run").into();
    out.code(0);
    assert!(!has_box_drawing(&out.stdout), "{}", out.stdout);
    assert!(!out.stdout.contains('\u{1b}'), "no escape sequences");
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some(PLAIN_HEADER), "{}", out.stdout);
    lines
        .map(|line| {
            let fields: Vec<String> = line.split('\t').map(str::to_owned).collect();
            assert_eq!(fields.len(), 9, "{line:?}");
            for f in &fields {
                assert!(!f.is_empty(), "empty field in {line:?}");
                assert_eq!(f.trim(), f, "padding in {line:?}");
                assert!(!f.chars().any(char::is_control), "{line:?}");
            }
            fields
        })
        .collect()
}

#[test]
fn plain_list_is_tab_separated_when_not_a_terminal() {
    let env = Env::new();
    let a = env.create(&["--user", "svc", "--name", "deploy", "--path", "/api"]);
    let b = env.create(&["--user", "ops", "--expire", "90d"]);
    env.run(&["expire", id_of(&b), "now"]).code(0);
    let keys = list(&env, &[]);
    for (var, value) in [("NONE", ""), ("NO_COLOR", "1"), ("TERM", "dumb")] {
        let rows = plain_rows(&env, &[], &[(var, value)]);
        assert_eq!(rows.len(), 2, "{var}");
        let created_a = keys[0]["created"].as_str().unwrap();
        assert_eq!(
            rows[0],
            [
                id_of(&a),
                "svc",
                "deploy",
                "active",
                "-",
                "/api",
                "-",
                created_a,
                "-"
            ]
        );
        let (expires_b, created_b) = (
            keys[1]["expires"].as_str().unwrap(),
            keys[1]["created"].as_str().unwrap(),
        );
        assert_eq!(
            rows[1],
            [
                id_of(&b),
                "ops",
                "-",
                "expired",
                expires_b,
                "-",
                "-",
                created_b,
                "-"
            ]
        );
        assert!(
            !rows.concat().concat().contains(&a[a.len() - 49..]),
            "no secret in list"
        );
    }
}

#[test]
fn plain_list_keeps_long_values_whole() {
    let env = Env::new();
    let user = "u".repeat(64);
    let name = format!("{}-name", "n".repeat(59));
    let description = "deploys from CI to the データ基盤 cluster, owner ops; "
        .repeat(12)
        .trim_end()
        .to_owned();
    let paths: Vec<String> = (0..6)
        .map(|i| format!("/api/v{i}/{}", "segment/".repeat(12)))
        .collect();
    let mut args = vec![
        "--user",
        &user,
        "--name",
        &name,
        "--description",
        &description,
    ];
    for p in &paths {
        args.extend(["--path", p]);
    }
    let t = env.create(&args);
    assert_eq!(env.verify(&t, &["--path", &paths[0]]).0, 0);

    let keys = list(&env, &[]);
    let rows = plain_rows(&env, &[], &[]);
    assert_eq!(rows.len(), 1);
    let k = &keys[0];
    assert_eq!(
        rows[0],
        [
            id_of(&t),
            user.as_str(),
            name.as_str(),
            "active",
            "-",
            paths.join(" ").as_str(),
            k["last_used"].as_str().expect("used"),
            k["created"].as_str().unwrap(),
            description.as_str(),
        ],
        "whole values"
    );
}

#[test]
fn list_on_a_terminal_draws_a_table_unless_no_color() {
    let env = Env::new();
    let a = env.create(&["--user", "svc", "--name", "deploy"]);
    let Some(out) = on_terminal(&env, "stty cols 120; \"$KEYCTL\" list", b"", &[]) else {
        return;
    };
    out.code(0);
    assert!(has_box_drawing(&out.stdout), "{}", out.stdout);
    assert!(out.stdout.contains(id_of(&a)), "{}", out.stdout);

    // A terminal that reports no size (as under `docker run -t`) still shows whole ids.
    let out = on_terminal(&env, "stty cols 0 rows 0; \"$KEYCTL\" list", b"", &[]).unwrap();
    out.code(0);
    assert!(out.stdout.contains(id_of(&a)), "{}", out.stdout);

    for (var, value) in [("NO_COLOR", "1"), ("TERM", "dumb")] {
        let out = on_terminal(
            &env,
            "stty cols 120; \"$KEYCTL\" list",
            b"",
            &[(var, value)],
        )
        .unwrap();
        out.code(0);
        assert!(!has_box_drawing(&out.stdout), "{var}: {}", out.stdout);
        assert!(out.stdout.contains(id_of(&a)));
    }
}

/// The cells of one line of a drawn table, trimmed; `None` for a border line.
fn table_cells(line: &str) -> Option<Vec<&str>> {
    let inner = line.strip_prefix('│')?.strip_suffix('│')?;
    Some(inner.split('┆').map(str::trim).collect())
}

/// A free-text cell shows `whole`, or its beginning cut short with `…`.
#[track_caller]
fn shows_or_cuts(cell: &str, whole: &str) {
    match cell.strip_suffix('…') {
        Some(head) if cell != whole => {
            assert!(
                whole.starts_with(head),
                "{cell:?} is not the start of {whole:?}"
            )
        }
        _ => assert_eq!(cell, whole),
    }
}

#[test]
fn list_on_a_terminal_fits_80_to_200_columns_without_wrapping() {
    use unicode_width::UnicodeWidthStr;

    let env = Env::new();
    let user = format!("{}@example.com", "ci.deploy.bot.".repeat(3));
    let name = format!("{}v2", "production-database-migrations-".repeat(2));
    let description = "Runs the nightly migrations of the データ基盤 cluster; owner: ops on call. "
        .repeat(4)
        .trim_end()
        .to_owned();
    let long = env.create(&[
        "--user",
        &user,
        "--name",
        &name,
        "--description",
        &description,
        "--expire",
        "90d",
        "--path",
        "/api/v1/migrations/データ",
        "--path",
        "=/status/health/check/endpoint",
        "--path",
        "/admin,/internal",
    ]);
    assert_eq!(
        env.verify(&long, &["--path", "/api/v1/migrations/データ/x"])
            .0,
        0
    );
    let disabled = env.create(&["--user", "svc"]);
    env.run(&["disable", id_of(&disabled)]).code(0);
    let expired = env.create(&["--user", &user, "--description", "short", "--expire", "1d"]);
    env.run(&["expire", id_of(&expired), "now"]).code(0);
    let revoked = env.create(&["--user", "ops", "--name", &name]);
    env.run(&["delete", id_of(&revoked), "--yes"]).code(0);
    let keys = list(&env, &["--all"]);
    assert_eq!(keys.len(), 4);

    for cols in [80, 100, 120, 160, 200] {
        let shell = format!("stty cols {cols}; \"$KEYCTL\" list --all");
        let Some(out) = on_terminal(&env, &shell, b"", &[]) else {
            return;
        };
        out.code(0);
        let lines: Vec<&str> = out
            .stdout
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .collect();
        for line in &lines {
            assert!(
                line.width() <= cols,
                "{cols}: a line of {} columns:\n{}",
                line.width(),
                out.stdout
            );
        }
        // Top border, header, rule, a line per key, bottom border: nothing wrapped.
        assert_eq!(lines.len(), keys.len() + 4, "{cols}:\n{}", out.stdout);
        assert!(has_box_drawing(&out.stdout));
        let header = table_cells(lines[1]).expect("header line");
        let at = |name: &str| header.iter().position(|h| *h == name);
        for core in ["ID", "USER", "NAME", "STATUS", "EXPIRES"] {
            assert!(at(core).is_some(), "{cols}: no {core} in {header:?}");
        }
        if cols == 80 {
            assert_eq!(header, ["ID", "USER", "NAME", "STATUS", "EXPIRES"]);
        }
        if cols == 200 {
            assert!(at("DESCRIPTION").is_some(), "{header:?}");
        }
        if cols >= 160 {
            assert_eq!(header.len(), 9, "{cols}: every column: {header:?}");
        }

        for k in &keys {
            let id = k["id"].as_str().unwrap();
            let mine: Vec<&str> = lines.iter().copied().filter(|l| l.contains(id)).collect();
            assert_eq!(
                mine.len(),
                1,
                "{cols}: id {id} whole on one line:\n{}",
                out.stdout
            );
            let cells = table_cells(mine[0]).expect("a row");
            assert_eq!(cells.len(), header.len());
            let text = |field: &str| k[field].as_str().unwrap_or("-").to_owned();
            assert_eq!(cells[at("ID").unwrap()], id);
            assert_eq!(cells[at("STATUS").unwrap()], text("status"));
            for (column, field) in [
                ("EXPIRES", "expires"),
                ("LAST USED", "last_used"),
                ("CREATED", "created"),
            ] {
                if let Some(i) = at(column) {
                    assert_eq!(cells[i], text(field), "{cols}: {column} whole");
                }
            }
            let paths: Vec<&str> = k["paths"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap())
                .collect();
            let paths = if paths.is_empty() {
                "-".to_owned()
            } else {
                paths.join(" ")
            };
            for (column, whole) in [
                ("USER", text("user")),
                ("NAME", text("name")),
                ("PATHS", paths),
                ("DESCRIPTION", text("description")),
            ] {
                if let Some(i) = at(column) {
                    shows_or_cuts(cells[i], &whole);
                }
            }
        }
    }
}

#[test]
fn one_prefix_with_a_comma_is_told_apart_from_two_prefixes() {
    let env = Env::new();
    let one = env.create(&["--user", "svc", "--name", "one", "--path", "/api,/admin"]);
    let two = env.create(&[
        "--user", "svc", "--name", "two", "--path", "/api", "--path", "/admin",
    ]);
    assert_eq!(
        show(&env, "svc/one")["paths"],
        serde_json::json!(["/api,/admin"])
    );
    assert_eq!(
        show(&env, "svc/two")["paths"],
        serde_json::json!(["/api", "/admin"])
    );
    let (want_one, want_two) = ("/api,/admin", "/api /admin");

    let rows = plain_rows(&env, &[], &[]);
    assert_eq!(
        (rows[0][0].as_str(), rows[0][5].as_str()),
        (id_of(&one), want_one)
    );
    assert_eq!(
        (rows[1][0].as_str(), rows[1][5].as_str()),
        (id_of(&two), want_two)
    );

    for (key, want) in [("svc/one", want_one), ("svc/two", want_two)] {
        let out = env.run(&["show", key]);
        out.code(0);
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with("paths "))
            .expect("a paths line");
        assert_eq!(line.strip_prefix("paths").unwrap().trim(), want, "{key}");
    }

    let Some(out) = on_terminal(&env, "stty cols 120; \"$KEYCTL\" list", b"", &[]) else {
        return;
    };
    out.code(0);
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .collect();
    let header = table_cells(lines[1]).expect("header");
    let paths = header
        .iter()
        .position(|h| *h == "PATHS")
        .expect("PATHS shown");
    for (key, want) in [(&one, want_one), (&two, want_two)] {
        let row = lines.iter().find(|l| l.contains(id_of(key))).expect("row");
        assert_eq!(table_cells(row).unwrap()[paths], want, "{}", out.stdout);
    }
}

// ---------------------------------------------------------------------------------------
// show

#[test]
fn show_by_id_and_by_user_and_name() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--name", "deploy", "--description", "CI"]);
    let by_id = show(&env, id_of(&t));
    assert_eq!(show(&env, "svc/deploy"), by_id);
    assert_eq!(by_id["id"], id_of(&t));
    assert!(by_id.get("token").is_none());

    let out = env.run(&["show", "svc/deploy"]);
    out.code(0);
    for (field, value) in [
        ("id", id_of(&t)),
        ("user", "svc"),
        ("name", "deploy"),
        ("description", "CI"),
        ("status", "active"),
        ("prefix", "kc"),
    ] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == [field, value]),
            "{field}: {}",
            out.stdout
        );
    }
    assert!(!out.stdout.contains(&t[t.len() - 49..]));
}

#[test]
fn show_of_a_missing_key_is_not_found() {
    let env = Env::new();
    env.create(&["--user", "svc", "--name", "deploy"]);
    for key in ["AAAAAAAAAAAAAAAA", "svc/other", "nobody/deploy"] {
        let out = env.run(&["show", key]);
        out.code(3);
        assert_eq!(out.stdout, "");
        assert!(out.stderr.contains(key), "{}", out.stderr);
    }
    for bad in ["a/b/c", "x", "svc/de ploy", ""] {
        refused(&env, &["show", bad]);
    }
}

// ---------------------------------------------------------------------------------------
// reset

#[test]
fn reset_issues_a_new_token_and_rejects_the_old_one() {
    let env = Env::new();
    let created = env
        .run(&[
            "create", "--user", "svc", "--name", "deploy", "--path", "/api", "--expire", "30d",
            "--json",
        ])
        .code(0)
        .json();
    let old = created["token"].as_str().unwrap().to_owned();

    let before = now();
    let out = env.run(&["reset", "svc/deploy"]);
    let after = now();
    out.code(0);
    let new = out.stdout.strip_suffix('\n').expect("token line");
    assert!(!new.contains('\n'));
    assert_ne!(new, old);
    assert_eq!(id_of(new), id_of(&old), "same key id");
    assert!(new.starts_with("kc_"));
    assert!(out.stderr.contains("once"), "{}", out.stderr);
    assert!(!out.stderr.contains(&new[new.len() - 49..]));

    let (code, v) = env.verify(&old, &[]);
    assert_eq!((code, &v["reason"]), (1, &Value::from("unknown")));
    let (code, v) = env.verify(new, &["--path", "/api/x"]);
    assert_eq!((code, &v["valid"]), (0, &Value::Bool(true)));

    let now_key = show(&env, "svc/deploy");
    for f in [
        "id",
        "user",
        "name",
        "description",
        "prefix",
        "paths",
        "created",
        "expires",
    ] {
        assert_eq!(now_key[f], created[f], "{f} changed by reset");
    }
    assert!((before..=after).contains(&secs(&now_key["updated"])));
    assert_eq!(now_key["status"], "active");
}

#[test]
fn reset_json_and_custom_prefix() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--prefix", "acme"]);
    let v = env.run(&["reset", id_of(&t), "--json"]).code(0).json();
    assert_key_json(&v);
    let new = v["token"].as_str().unwrap();
    assert!(new.starts_with("acme_"), "prefix kept: {new}");
    assert_eq!(v["id"], id_of(&t));
    assert_eq!(env.verify(new, &[]).0, 0);
    assert_eq!(env.verify(&t, &[]).0, 1);
}

#[test]
fn reset_of_a_missing_key_is_not_found() {
    let env = Env::new();
    env.create(&["--user", "svc"]);
    let before = env.rows();
    for key in ["AAAAAAAAAAAAAAAA", "svc/none"] {
        let out = env.run(&["reset", key]);
        out.code(3);
        assert_eq!(out.stdout, "");
    }
    assert_eq!(env.rows(), before);
}

// ---------------------------------------------------------------------------------------
// expire

#[test]
fn expire_after_a_duration_now_at_and_never() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--name", "k"]);

    let before = now();
    let out = env.run(&["expire", "svc/k", "90d", "--json"]);
    let after = now();
    out.code(0);
    let v = out.json();
    assert_key_json(&v);
    let expires = secs(&v["expires"]);
    assert!((before + 7_776_000..=after + 7_776_000).contains(&expires));
    assert_eq!(
        expires - secs(&v["updated"]),
        7_776_000,
        "exactly DUR after the command"
    );
    assert!(out.stderr.contains("expires"), "{}", out.stderr);

    let out = env.run(&["expire", "svc/k", "3600"]);
    out.code(0);
    assert_eq!(out.stdout, "", "without --json, data only: nothing");
    assert_eq!(
        secs(&show(&env, "svc/k")["expires"]) - secs(&show(&env, "svc/k")["updated"]),
        3600
    );

    let before = now();
    env.run(&["expire", "svc/k", "now"]).code(0);
    let after = now();
    let k = show(&env, "svc/k");
    assert_eq!(k["status"], "expired");
    assert!((before..=after).contains(&secs(&k["expires"])));
    let (code, v) = env.verify(&t, &[]);
    assert_eq!((code, &v["reason"]), (1, &Value::from("expired")));

    env.run(&["expire", "svc/k", "--at", "2030-01-01"]).code(0);
    assert_eq!(show(&env, "svc/k")["expires"], "2030-01-01T00:00:00Z");
    env.run(&["expire", "svc/k", "--at", "2031-01-01T01:00:00+01:00"])
        .code(0);
    assert_eq!(show(&env, "svc/k")["expires"], "2031-01-01T00:00:00Z");
    assert_eq!(env.verify(&t, &[]).0, 0);

    env.run(&["expire", "svc/k", "now"]).code(0);
    let v = env
        .run(&["expire", "svc/k", "--never", "--json"])
        .code(0)
        .json();
    assert_eq!(v["expires"], Value::Null);
    assert_eq!(v["status"], "active");
    assert_eq!(env.verify(&t, &[]).0, 0, "valid again");
}

#[test]
fn invalid_expire_is_refused_and_changes_nothing() {
    let env = Env::new();
    env.create(&["--user", "svc", "--name", "k", "--expire", "1d"]);
    let before = env.rows();
    for args in [
        vec![],
        vec!["0"],
        vec!["0h"],
        vec!["1.5h"],
        vec!["5x"],
        vec!["--", "-5"],
        vec!["soon"],
        vec!["99999999999999999999"],
        vec!["253000000000"],
        vec!["--at", "tomorrow"],
        vec!["--at", "2030-13-01"],
        vec!["5d", "--never"],
        vec!["now", "--at", "2030-01-01"],
        vec!["--never", "--at", "2030-01-01"],
    ] {
        let mut all = vec!["expire", "svc/k"];
        all.extend_from_slice(&args);
        refused(&env, &all);
        assert_eq!(env.rows(), before, "{all:?}");
    }
    let out = env.run(&["expire", "svc/none", "1d"]);
    out.code(3);
    assert_eq!(env.rows(), before);
}

// ---------------------------------------------------------------------------------------
// path

#[test]
fn path_replaces_and_clears_prefixes() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--name", "k", "--path", "/a"]);
    let v = env
        .run(&["path", "svc/k", "/b", "=/c", "/b", "--json"])
        .code(0)
        .json();
    assert_key_json(&v);
    assert_eq!(
        v["paths"],
        serde_json::json!(["/b", "=/c"]),
        "replaced, deduplicated"
    );
    assert_eq!(
        env.verify(&t, &["--path", "/a"]).1["reason"],
        "path_not_allowed"
    );
    assert_eq!(env.verify(&t, &["--path", "/b/x"]).0, 0);
    assert_eq!(env.verify(&t, &["--path", "/c"]).0, 0);

    let out = env.run(&["path", "svc/k", "--clear"]);
    out.code(0);
    assert_eq!(out.stdout, "");
    assert_eq!(show(&env, "svc/k")["paths"], serde_json::json!([]));
    assert_eq!(env.verify(&t, &["--path", "/anything"]).0, 0);
}

#[test]
fn invalid_path_prefixes_are_refused_and_change_nothing() {
    let env = Env::new();
    env.create(&["--user", "svc", "--name", "k", "--path", "/a"]);
    let before = env.rows();
    for args in [
        vec![],
        vec!["api"],
        vec!["=api"],
        vec!["/ok", "bad"],
        vec!["/a b"],
        vec!["/a\u{7}"],
        vec!["/a/../b"],
        vec!["/a", "--clear"],
    ] {
        let mut all = vec!["path", "svc/k"];
        all.extend_from_slice(&args);
        refused(&env, &all);
        assert_eq!(env.rows(), before, "{all:?}");
    }
    env.run(&["path", "svc/none", "/x"]).code(3);
    assert_eq!(env.rows(), before);
}

// ---------------------------------------------------------------------------------------
// delete

#[test]
fn delete_without_yes_and_without_a_terminal_refuses() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--name", "k"]);
    let before = env.rows();
    for args in [vec!["delete", "svc/k"], vec!["delete", "svc/k", "--purge"]] {
        let out = refused(&env, &args);
        assert!(out.stderr.contains("--yes"), "{}", out.stderr);
        // An answer on piped stdin is not a confirmation.
        let out = env.run_stdin(&args, b"y\n");
        out.code(2);
        assert_eq!(env.rows(), before);
    }
    assert_eq!(env.verify(&t, &[]).0, 0);
}

#[test]
fn delete_asks_on_a_terminal() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--name", "k"]);
    let before = env.rows();
    let Some(out) = on_terminal(&env, "\"$KEYCTL\" delete svc/k", b"n\n", &[]) else {
        return;
    };
    out.code(2);
    let question = format!("Revoke key {} (svc/k)? [y/N] ", id_of(&t));
    assert!(out.stdout.contains(&question), "it asked: {}", out.stdout);
    assert_eq!(env.rows(), before, "answered no: nothing changed");
    let out = on_terminal(&env, "\"$KEYCTL\" delete svc/k --purge", b"n\n", &[]).unwrap();
    out.code(2);
    assert!(
        out.stdout
            .contains(&format!("Remove key {} (svc/k)? [y/N] ", id_of(&t))),
        "{}",
        out.stdout
    );
    assert_eq!(env.rows(), before);
    // The question is on stderr: with stderr gone, stdout shows none of it.
    let out = on_terminal(&env, "\"$KEYCTL\" delete svc/k 2>/dev/null", b"n\n", &[]).unwrap();
    out.code(2);
    assert!(!out.stdout.contains("[y/N]"), "{}", out.stdout);
    assert_eq!(env.rows(), before);
    on_terminal(&env, "\"$KEYCTL\" delete svc/k", b"y\n", &[])
        .unwrap()
        .code(0);
    assert_eq!(env.verify(&t, &[]).1["reason"], "revoked");
}

/// Delete `svc/k` on a terminal, answering `typed`, then let the shell read a line: what
/// keyctl left of the input. Returns keyctl's exit code and the shell's line.
fn answer_then_read(env: &Env, key: &str, typed: &[u8]) -> Option<(i32, String)> {
    let shell =
        format!("\"$KEYCTL\" delete {key}; echo \"code=$?\"; read rest; echo \"LEFT=[$rest]\"");
    let out = on_terminal(env, &shell, typed, &[])?;
    out.code(0);
    let code = out
        .stdout
        .split("code=")
        .nth(1)
        .and_then(|s| s.lines().next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no exit code shown: {}", out.stdout));
    let left = out
        .stdout
        .split("LEFT=[")
        .nth(1)
        .and_then(|s| s.split_once(']'))
        .map(|(left, _)| left.to_owned())
        .unwrap_or_else(|| panic!("the shell read nothing: {}", out.stdout));
    Some((code, left))
}

#[test]
fn the_answer_is_a_whole_line_and_nothing_after_it_is_consumed() {
    let env = Env::new();
    // Confirmations: the key is revoked, and nothing of the answer reaches the shell.
    for (i, typed) in ["yes\n", "y\n", "YES\n", "Yes\n", "  y \t\n"]
        .iter()
        .enumerate()
    {
        let name = format!("yes{i}");
        let t = env.create(&["--user", "svc", "--name", &name]);
        let Some((code, left)) = answer_then_read(&env, &format!("svc/{name}"), typed.as_bytes())
        else {
            return;
        };
        assert_eq!((code, left.as_str()), (0, ""), "{typed:?}");
        assert_eq!(env.verify(&t, &[]).1["reason"], "revoked", "{typed:?}");
    }
    // Exactly one line is read: the next one is still there for the shell.
    let t = env.create(&["--user", "svc", "--name", "next"]);
    let (code, left) = answer_then_read(&env, "svc/next", b"yes\necho next\n").unwrap();
    assert_eq!((code, left.as_str()), (0, "echo next"));
    assert_eq!(env.verify(&t, &[]).1["reason"], "revoked");

    // Anything else is no: exit 2, nothing changed, nothing left over.
    let t = env.create(&["--user", "svc", "--name", "k"]);
    let before = env.rows();
    for typed in [
        "no\n",
        "n\n",
        "\n",
        "   \n",
        "yess\n",
        "ye\n",
        "y es\n",
        "yes please\n",
        "nyes\n",
        "o\n",
    ] {
        let (code, left) = answer_then_read(&env, "svc/k", typed.as_bytes()).unwrap();
        assert_eq!((code, left.as_str()), (2, ""), "{typed:?}");
        assert_eq!(env.rows(), before, "{typed:?}");
    }
    let (code, left) = answer_then_read(&env, "svc/k", b"no\ny\n").unwrap();
    assert_eq!(
        (code, left.as_str()),
        (2, "y"),
        "the line after no is not an answer"
    );
    assert_eq!(env.rows(), before);
    assert_eq!(env.verify(&t, &[]).0, 0);
}

#[test]
fn end_of_input_at_the_prompt_is_no() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--name", "k"]);
    let before = env.rows();
    // Ctrl-D on an empty line (`script` sends one when its input ends).
    let Some(out) = on_terminal(&env, "\"$KEYCTL\" delete svc/k; echo \"code=$?\"", b"", &[])
    else {
        return;
    };
    out.code(0);
    assert!(out.stdout.contains("[y/N] "), "it asked: {}", out.stdout);
    assert!(out.stdout.contains("not confirmed"), "{}", out.stdout);
    assert!(out.stdout.contains("code=2"), "{}", out.stdout);
    assert_eq!(env.rows(), before);
    assert_eq!(env.verify(&t, &[]).0, 0);
}

#[test]
fn ctrl_c_at_the_prompt_changes_nothing_and_leaves_the_terminal_as_it_was() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--name", "k"]);
    let before = env.rows();
    // The trap keeps the shell going after Ctrl-C, to report keyctl's exit and compare the
    // terminal's settings (echo, line mode, ...) from before and after.
    let shell = "trap 'echo interrupted' INT; modes=$(stty -g); \"$KEYCTL\" delete svc/k; \
                 echo \"code=$?\"; [ \"$modes\" = \"$(stty -g)\" ] && echo 'modes kept'; echo done";
    let Some(mut term) = Terminal::start(&env, shell, &[]) else {
        return;
    };
    term.wait_for("[y/N] ");
    term.type_in(b"\x03");
    term.wait_for("done");
    let out = term.finish();
    out.code(0);
    assert!(
        out.stdout.contains("code=130"),
        "killed by SIGINT: {}",
        out.stdout
    );
    assert!(out.stdout.contains("modes kept"), "{}", out.stdout);
    // Nothing hid the cursor, so nothing had to show it again.
    assert!(
        !out.stdout.contains("\x1b[?25l"),
        "the cursor was hidden: {:?}",
        out.stdout
    );
    assert_eq!(env.rows(), before);
    assert_eq!(env.verify(&t, &[]).0, 0);
}

#[test]
fn delete_acts_on_the_key_that_was_shown_not_on_its_name() {
    let env = Env::new();
    let old = env.create(&["--user", "svc", "--name", "k"]);
    let Some(mut term) = Terminal::start(&env, "\"$KEYCTL\" delete svc/k", &[]) else {
        return;
    };
    term.wait_for("[y/N] ");
    // While the question waits, the key is revoked elsewhere and its name reused.
    env.run(&["delete", id_of(&old), "--yes"]).code(0);
    let new = env.create(&["--user", "svc", "--name", "k"]);
    term.type_in(b"y\n");
    let out = term.finish();
    out.code(0);
    assert!(out.stdout.contains(id_of(&old)), "{}", out.stdout);
    assert_eq!(env.verify(&old, &[]).1["reason"], "revoked");
    assert_eq!(
        env.verify(&new, &[]).0,
        0,
        "the new key of that name was not confirmed and stays"
    );

    // The same with --purge: the shown key is gone by then, so nothing is removed.
    let Some(mut term) = Terminal::start(&env, "\"$KEYCTL\" delete svc/k --purge", &[]) else {
        return;
    };
    term.wait_for("[y/N] ");
    env.run(&["delete", id_of(&new), "--purge", "--yes"])
        .code(0);
    let newer = env.create(&["--user", "svc", "--name", "k"]);
    let before = env.rows();
    term.type_in(b"yes\n");
    let out = term.finish();
    out.code(3);
    assert!(
        out.stdout.contains(&format!("no key {}", id_of(&new))),
        "{}",
        out.stdout
    );
    assert_eq!(env.rows(), before);
    assert_eq!(env.verify(&newer, &[]).0, 0);
}

#[test]
fn delete_dry_run_changes_nothing_and_needs_no_confirmation() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--name", "k"]);
    let key = show(&env, "svc/k");
    let before = env.rows();
    for (args, would) in [
        (vec!["delete", "svc/k", "--dry-run"], "would be revoked"),
        (
            vec!["delete", id_of(&t), "--dry-run", "--yes"],
            "would be revoked",
        ),
        (
            vec!["delete", "svc/k", "--purge", "--dry-run"],
            "would be removed",
        ),
    ] {
        let out = env.run(&args);
        out.code(0);
        assert_eq!(out.stdout, "", "{args:?}");
        assert!(out.stderr.contains(id_of(&t)), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(would), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("nothing was changed"), "{}", out.stderr);
        assert_eq!(env.rows(), before, "{args:?}");

        // --json: the key as it is, the shape a real run prints.
        let mut json_args = args.clone();
        json_args.push("--json");
        let v = env.run(&json_args).code(0).json();
        assert_key_json(&v);
        assert_eq!(v, key, "{json_args:?}");
        assert_eq!(env.rows(), before, "{json_args:?}");
    }
    // On a terminal it does not ask either.
    if let Some(out) = on_terminal(&env, "\"$KEYCTL\" delete svc/k --dry-run", b"", &[]) {
        out.code(0);
        assert!(!out.stdout.contains("[y/N]"), "{}", out.stdout);
        assert!(out.stdout.contains("would be revoked"), "{}", out.stdout);
    }
    assert_eq!(env.rows(), before);
    assert_eq!(env.verify(&t, &[]).0, 0);

    // A revoked key: nothing would change; a missing one is not found.
    env.run(&["delete", "svc/k", "--yes"]).code(0);
    let before = env.rows();
    let out = env.run(&["delete", "svc/k", "--dry-run"]);
    out.code(0);
    assert!(out.stderr.contains("already revoked"), "{}", out.stderr);
    env.run(&["delete", "svc/none", "--dry-run"]).code(3);
    assert_eq!(env.rows(), before);
}

#[test]
fn force_is_refused_with_a_pointer_to_yes() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--name", "k"]);
    let before = env.rows();
    for args in [
        vec!["delete", "svc/k", "--force"],
        vec!["delete", "--force", "svc/k"],
        vec!["delete", "svc/k", "--force=yes"],
        vec!["delete", "svc/k", "--purge", "--force", "--yes"],
    ] {
        let out = refused(&env, &args);
        assert!(
            out.stderr.contains("unexpected argument '--force'"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("'--yes'"), "{args:?}: {}", out.stderr);
        assert_eq!(env.rows(), before, "{args:?}");
    }
    assert_eq!(env.verify(&t, &[]).0, 0);
    let help = env.run(&["delete", "--help"]);
    assert!(!help.stdout.contains("--force"), "hidden: {}", help.stdout);
}

#[test]
fn delete_yes_revokes_and_keeps_the_record() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--name", "k", "--path", "/api"]);
    let before = now();
    let out = env.run(&["delete", "svc/k", "--yes"]);
    let after = now();
    out.code(0);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("revoked"), "{}", out.stderr);

    assert!(list(&env, &[]).is_empty());
    let all = list(&env, &["--all"]);
    assert_eq!(ids(&all), [id_of(&t)]);
    assert_eq!(all[0]["status"], "revoked");
    let k = show(&env, id_of(&t));
    assert_eq!(k["status"], "revoked");
    assert!((before..=after).contains(&secs(&k["deleted"])));
    assert_eq!(
        show(&env, "svc/k")["id"],
        id_of(&t),
        "USER/NAME finds it too"
    );

    let (code, v) = env.verify(&t, &["--path", "/other"]);
    assert_eq!(code, 1);
    assert_eq!(v["reason"], "revoked");
    assert_eq!(v["id"], id_of(&t));
    assert_eq!(v["user"], "svc");
    assert_eq!(v["name"], "k");

    // Revoking again changes nothing.
    let rows = env.rows();
    env.run(&["delete", "svc/k", "--yes"]).code(0);
    assert_eq!(env.rows(), rows);
}

#[test]
fn revoked_keys_cannot_be_managed() {
    let env = Env::new();
    let t = env.create(&["--user", "svc", "--name", "k"]);
    env.run(&["delete", id_of(&t), "--yes"]).code(0);
    let before = env.rows();
    for args in [
        vec!["reset", id_of(&t)],
        vec!["reset", "svc/k"],
        vec!["expire", id_of(&t), "1d"],
        vec!["expire", id_of(&t), "--never"],
        vec!["path", id_of(&t), "/x"],
        vec!["path", "svc/k", "--clear"],
    ] {
        let out = env.run(&args);
        out.code(3);
        assert_eq!(out.stdout, "", "{args:?}");
        assert!(out.stderr.contains("revoked"), "{args:?}: {}", out.stderr);
        assert_eq!(env.rows(), before, "{args:?}");
    }
    assert_eq!(env.verify(&t, &[]).1["reason"], "revoked");
}

#[test]
fn delete_purge_removes_the_key_entirely() {
    let env = Env::new();
    let keep = env.create(&["--user", "svc", "--name", "keep"]);
    let t = env.create(&["--user", "svc", "--name", "k"]);
    let out = env.run(&["delete", "svc/k", "--purge", "--yes"]);
    out.code(0);
    assert_eq!(out.stdout, "");
    env.run(&["show", id_of(&t)]).code(3);
    env.run(&["show", "svc/k"]).code(3);
    assert_eq!(ids(&list(&env, &["--all"])), [id_of(&keep)]);
    assert!(
        !env.keys_rows().contains(id_of(&t)),
        "no row mentions the key, but the audit log"
    );
    assert_eq!(env.actions().last().unwrap(), "purge");
    let (code, v) = env.verify(&t, &[]);
    assert_eq!((code, &v["reason"]), (1, &Value::from("unknown")));

    // A revoked key can be purged too; a missing one is not found.
    env.run(&["delete", "svc/keep", "--yes"]).code(0);
    env.run(&["delete", id_of(&keep), "--purge", "--yes"])
        .code(0);
    assert!(list(&env, &["--all"]).is_empty());
    let before = env.rows();
    env.run(&["delete", id_of(&keep), "--yes"]).code(3);
    env.run(&["delete", "svc/nothing", "--purge", "--yes"])
        .code(3);
    assert_eq!(env.rows(), before);
}

#[test]
fn delete_json_prints_the_key() {
    let env = Env::new();
    let t = env.create(&["--user", "svc"]);
    let v = env
        .run(&["delete", id_of(&t), "--yes", "--json"])
        .code(0)
        .json();
    assert_key_json(&v);
    assert_eq!(v["status"], "revoked");
}

// ---------------------------------------------------------------------------------------
// help and version

#[test]
fn cli_definition_is_consistent() {
    keyctl::cli::Cli::command().debug_assert();
}

#[test]
fn every_command_has_help_with_examples_and_exit_codes() {
    let env = Env::new();
    for sub in [
        "create", "list", "show", "reset", "expire", "path", "delete", "prune", "verify",
    ] {
        for args in [vec![sub, "--help"], vec!["help", sub]] {
            let out = env.run(&args);
            out.code(0);
            assert!(out.stdout.contains("Examples"), "{args:?}:\n{}", out.stdout);
            assert!(
                out.stdout.contains("Exit codes"),
                "{args:?}:\n{}",
                out.stdout
            );
            assert!(out.stdout.contains(&format!("keyctl {sub}")), "{args:?}");
        }
    }
    let out = env.run(&["--help"]);
    out.code(0);
    assert!(out.stdout.contains("Examples"));
    for code in [
        "0  ok",
        "1  verify",
        "2  invalid",
        "3  key or user not found",
        "4  the store",
    ] {
        assert!(out.stdout.contains(code), "{code}:\n{}", out.stdout);
    }
    assert!(!env.store_exists(), "help does not touch the store");
}

#[test]
fn version_and_usage_errors() {
    let env = Env::new();
    let out = env.run(&["--version"]);
    out.code(0);
    assert_eq!(
        out.stdout.trim(),
        format!("keyctl {}", env!("CARGO_PKG_VERSION"))
    );
    refused(&env, &[]);
    refused(&env, &["frobnicate"]);
    // No abbreviated subcommands: `del` is not `delete`.
    env.create(&["--user", "svc", "--name", "k"]);
    let before = env.rows();
    refused(&env, &["del", "svc/k", "--yes"]);
    assert_eq!(env.rows(), before);
}

#[test]
fn usage_errors_escape_control_characters_they_repeat() {
    let env = Env::new();
    for arg in ["ab\rcd", "a\u{1b}[31mb", "x\u{9b}2J"] {
        let out = env.run(&["show", arg]);
        out.code(2);
        assert!(out.stderr.contains("invalid key"), "{}", out.stderr);
        assert!(
            !out.stderr.chars().any(|c| c.is_control() && c != '\n'),
            "raw control character in {:?}",
            out.stderr
        );
    }
    assert_eq!(env.rows(), "");
}
