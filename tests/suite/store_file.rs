//! Black-box tests of the store file: where it lives, its permissions, what keyctl refuses
//! to open (and leaves untouched), read-only use, secrets at rest, and many processes
//! writing at once.

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Env, Out, id_of, unprivileged};

/// The permission bits of a file or directory.
fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn run(cmd: &mut Command) -> Out {
    cmd.output().expect("run").into()
}

/// The store file and its SQLite side files (journal, WAL, shared memory), as they exist.
fn store_files(db: &Path) -> Vec<PathBuf> {
    let name = db.file_name().unwrap().to_string_lossy().into_owned();
    let mut files: Vec<PathBuf> = fs::read_dir(db.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&name))
        .collect();
    files.sort();
    files
}

// ---------------------------------------------------------------------------------------
// location and permissions

#[test]
fn new_store_is_private_whatever_the_umask() {
    for umask in [0o000, 0o002, 0o022, 0o077, 0o277, 0o777] {
        let env = Env::sqlite();
        let top = mode(env.dir.path());
        let db = env.dir.path().join("a").join("b").join("c").join("keys.db");
        let mut cmd = env.command();
        cmd.args(["create", "--user", "svc", "--db"]).arg(&db);
        // SAFETY: umask is async-signal-safe and touches no memory.
        unsafe {
            cmd.pre_exec(move || {
                libc::umask(umask);
                Ok(())
            });
        }
        let out = run(&mut cmd);
        out.code(0);
        let token = out.stdout.trim();
        assert_eq!(mode(&db), 0o600, "file, umask {umask:o}");
        for dir in ["a", "a/b", "a/b/c"] {
            assert_eq!(
                mode(&env.dir.path().join(dir)),
                0o700,
                "{dir}, umask {umask:o}"
            );
        }
        assert_eq!(
            mode(env.dir.path()),
            top,
            "an existing directory is left as it was"
        );
        for f in store_files(&db) {
            assert_eq!(mode(&f) & 0o077, 0, "{} is private", f.display());
        }
        let out = run(env.command().args(["verify", "--db"]).arg(&db).arg(token));
        out.code(0);
    }
}

#[test]
fn db_flag_before_or_after_the_subcommand_wins_over_keyctl_db() {
    let env = Env::sqlite();
    let other = env.dir.path().join("other.db");
    let t1 = out_token(run(env
        .command()
        .arg("--db")
        .arg(&other)
        .args(["create", "--user", "a"])));
    let t2 = out_token(run(env
        .command()
        .args(["create", "--user", "b", "--db"])
        .arg(&other)));
    let t3 = out_token(run(env
        .command()
        .arg(format!("--db={}", other.display()))
        .args(["create", "--user", "c"])));
    assert!(!env.db.exists(), "KEYCTL_DB was not used");
    let v = run(env.command().args(["list", "--json", "--db"]).arg(&other))
        .code(0)
        .json();
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id_of(&t1), id_of(&t2), id_of(&t3)]);
    assert_eq!(mode(&other), 0o600);
}

fn out_token(out: Out) -> String {
    out.code(0);
    out.stdout.trim_end().to_owned()
}

#[test]
fn keyctl_db_names_the_store() {
    let env = Env::sqlite();
    let t = env.create(&["--user", "svc"]);
    assert!(env.db.exists());
    assert_eq!(mode(&env.db), 0o600);
    assert_eq!(mode(env.db.parent().unwrap()), 0o700);
    assert!(env.rows().contains(id_of(&t)));
    assert!(
        !env.dir.path().join("xdg").exists(),
        "the default store was not touched"
    );
}

#[test]
fn default_store_is_under_xdg_data_home_or_home() {
    let env = Env::sqlite();
    let out = run(env
        .command()
        .env_remove("KEYCTL_DB")
        .args(["create", "--user", "svc"]));
    out.code(0);
    let xdg = env.dir.path().join("xdg");
    let db = xdg.join("keyctl").join("keys.db");
    assert!(db.exists(), "store at $XDG_DATA_HOME/keyctl/keys.db");
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&xdg.join("keyctl")), 0o700);
    assert_eq!(mode(&xdg), 0o700);
    assert!(common::dump(&db).contains(id_of(out.stdout.trim())));
    assert!(!env.db.exists());
    run(env
        .command()
        .env_remove("KEYCTL_DB")
        .args(["list", "--json"]))
    .code(0);

    // Without XDG_DATA_HOME: $HOME/.local/share/keyctl/keys.db.
    let out = run(env
        .command()
        .env_remove("KEYCTL_DB")
        .env_remove("XDG_DATA_HOME")
        .args(["create", "--user", "svc"]));
    out.code(0);
    let db = env.dir.path().join(".local/share/keyctl/keys.db");
    assert!(common::dump(&db).contains(id_of(out.stdout.trim())));
}

#[test]
fn a_directory_is_not_a_store() {
    let env = Env::sqlite();
    fs::create_dir_all(&env.db).unwrap();
    for args in [vec!["create", "--user", "svc"], vec!["list"]] {
        let out = env.run(&args);
        out.code(4);
        assert_eq!(out.stdout, "");
    }
}

// ---------------------------------------------------------------------------------------
// files keyctl refuses

/// Every command that opens the store, with arguments that would otherwise be fine.
fn every_store_command() -> Vec<Vec<String>> {
    let token = {
        let signed = format!("kc_AAAAAAAAAAAAAAAA_{}", "Q".repeat(43));
        format!("{signed}{}", keyctl::token::checksum(&signed))
    };
    [
        vec!["create", "--user", "svc"],
        vec!["create", "--user", "svc", "--name", "k", "--json"],
        vec!["list"],
        vec!["list", "--all", "--json"],
        vec!["show", "svc/k"],
        vec!["reset", "svc/k"],
        vec!["expire", "svc/k", "1d"],
        vec!["path", "svc/k", "/x"],
        vec!["delete", "svc/k", "--yes"],
        vec!["delete", "svc/k", "--yes", "--purge"],
        vec!["verify", &token],
    ]
    .iter()
    .map(|a| a.iter().map(|s| s.to_string()).collect())
    .collect()
}

/// Run every store command against the file at `env.db`; each must exit 4, print nothing on
/// stdout, give `message` on stderr, and leave the file byte-for-byte as it was.
#[track_caller]
fn refused_and_untouched(env: &Env, message: &str) {
    let before = fs::read(&env.db).unwrap();
    let files = store_files(&env.db);
    for args in every_store_command() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = env.run(&args);
        out.code(4);
        assert_eq!(out.stdout, "", "{args:?}");
        assert!(out.stderr.contains(message), "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        assert!(
            fs::read(&env.db).unwrap() == before,
            "{args:?} changed the file"
        );
        assert_eq!(store_files(&env.db), files, "{args:?} left files behind");
    }
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_left_untouched() {
    for contents in [
        b"my diary: today I wrote a key manager\n".to_vec(),
        b"hi".to_vec(),
        {
            // An SQLite header followed by garbage.
            let mut v = b"SQLite format 3\0".to_vec();
            v.extend((0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
            v
        },
    ] {
        let env = Env::sqlite();
        fs::create_dir_all(env.db.parent().unwrap()).unwrap();
        fs::write(&env.db, &contents).unwrap();
        refused_and_untouched(&env, "not a keyctl store");
    }
}

#[test]
fn a_foreign_sqlite_database_is_refused_and_left_untouched() {
    let setups = [
        "CREATE TABLE notes(x); INSERT INTO notes VALUES ('keep me');",
        // Looks a little like a keyctl store, but is not marked as one.
        "CREATE TABLE keys(id TEXT); PRAGMA user_version = 1;",
        "PRAGMA user_version = 7;",
        "PRAGMA application_id = 42;",
    ];
    for setup in setups {
        let env = Env::sqlite();
        fs::create_dir_all(env.db.parent().unwrap()).unwrap();
        let conn = rusqlite::Connection::open(&env.db).unwrap();
        conn.execute_batch(setup).unwrap();
        drop(conn);
        refused_and_untouched(&env, "not a keyctl store");
    }
}

#[test]
fn a_newer_store_is_refused_with_a_hint_to_upgrade() {
    let env = Env::sqlite();
    env.create(&["--user", "svc", "--name", "k"]);
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert!(version >= 1, "the schema version is in user_version");
    conn.pragma_update(None, "user_version", version + 1)
        .unwrap();
    drop(conn);
    refused_and_untouched(&env, "upgrade keyctl");
}

#[test]
fn an_empty_file_is_made_a_store_only_by_a_writing_command_of_its_owner() {
    let env = Env::sqlite();
    fs::create_dir_all(env.db.parent().unwrap()).unwrap();
    fs::write(&env.db, b"").unwrap();
    fs::set_permissions(&env.db, fs::Permissions::from_mode(0o644)).unwrap();
    // Reading commands never write: the file stays empty, and its mode as it was.
    for args in [&["list"][..], &["show", "svc/x"], &["verify", "kc_x"]] {
        let out = env.run(args);
        out.code(4);
        assert!(
            out.stderr.contains("empty file"),
            "{args:?}: {}",
            out.stderr
        );
        let meta = fs::metadata(&env.db).unwrap();
        assert_eq!((meta.len(), meta.permissions().mode() & 0o777), (0, 0o644));
    }
    // A writing command of the owner makes it a store, private first.
    let t = env.create(&["--user", "svc"]);
    assert_eq!(env.verify(&t, &[]).0, 0);
    assert_eq!(mode(&env.db), 0o600);
}

#[test]
fn an_empty_file_of_another_user_is_left_untouched() {
    if !common::is_root() {
        common::skip("only root can make a file owned by another user");
        return;
    }
    // A world-writable empty file planted by someone else in a shared directory.
    let env = Env::sqlite();
    fs::create_dir_all(env.db.parent().unwrap()).unwrap();
    fs::write(&env.db, b"").unwrap();
    std::os::unix::fs::chown(&env.db, Some(65534), Some(65534)).unwrap();
    fs::set_permissions(&env.db, fs::Permissions::from_mode(0o666)).unwrap();
    for args in [&["create", "--user", "svc"][..], &["reset", "svc/x"]] {
        let out = env.run(args);
        out.code(4);
        assert!(
            out.stderr.contains("owned by another user"),
            "{}",
            out.stderr
        );
        assert_eq!(out.stdout, "");
        let meta = fs::metadata(&env.db).unwrap();
        assert_eq!((meta.len(), meta.permissions().mode() & 0o777), (0, 0o666));
    }
}

#[test]
fn commands_other_than_create_need_an_existing_store() {
    let env = Env::sqlite();
    for args in every_store_command() {
        if args[0] == "create" {
            continue;
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = env.run(&args);
        out.code(4);
        assert_eq!(out.stdout, "", "{args:?}");
        assert!(
            out.stderr.contains("keyctl create"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            !env.db.parent().unwrap().exists(),
            "{args:?} created the store's directory"
        );
    }
}

// ---------------------------------------------------------------------------------------
// read-only access

/// Runs keyctl with some arguments and some input on stdin.
#[test]
fn read_only_store_can_be_read_but_not_written() {
    let env = Env::sqlite();
    let t = env.create(&["--user", "svc", "--name", "k", "--path", "/api"]);
    let before = fs::read(&env.db).unwrap();
    let dir = env.db.parent().unwrap().to_owned();
    let Some(as_reader) = unprivileged(&env) else {
        return;
    };

    // Reading works, more than once (nothing left behind that would block the next reader).
    for _ in 0..2 {
        let out = as_reader(
            &["verify", "--json", "--path", "/api/x"],
            format!("{t}\n").as_bytes(),
        );
        out.code(0);
        assert_eq!(out.json()["id"], id_of(&t));
        let out = as_reader(&["verify", "--path", "/admin"], format!("{t}\n").as_bytes());
        out.code(1);
        let out = as_reader(&["list", "--json"], b"");
        out.code(0);
        assert_eq!(out.json()[0]["id"], id_of(&t));
        as_reader(&["list"], b"").code(0);
        let out = as_reader(&["show", "svc/k", "--json"], b"");
        out.code(0);
        assert_eq!(out.json()["id"], id_of(&t));
    }

    // Writing fails clearly, and changes nothing.
    for args in [
        vec!["create", "--user", "svc"],
        vec!["create", "--user", "new"],
        vec!["reset", "svc/k"],
        vec!["expire", "svc/k", "1d"],
        vec!["path", "svc/k", "/x"],
        vec!["delete", "svc/k", "--yes"],
    ] {
        let out = as_reader(&args, b"");
        out.code(4);
        assert_eq!(
            out.stdout, "",
            "{args:?} printed a token it could not store"
        );
        assert!(
            out.stderr.contains("read-only") || out.stderr.contains("writable"),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert!(fs::read(&env.db).unwrap() == before, "the store changed");
    assert_eq!(store_files(&env.db), std::slice::from_ref(&env.db));

    // Give the files back so the temporary directory can be removed.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(&env.db, fs::Permissions::from_mode(0o600)).unwrap();
}

// ---------------------------------------------------------------------------------------
// secrets at rest

#[test]
fn secrets_never_reach_the_store_files() {
    let env = Env::sqlite();
    let mut tokens = vec![
        env.create(&["--user", "svc", "--name", "a"]),
        env.create(&["--user", "svc", "--prefix", "acme", "--path", "/api"]),
    ];
    let v = env
        .run(&["create", "--user", "ops", "--json"])
        .code(0)
        .json();
    tokens.push(v["token"].as_str().unwrap().to_owned());
    let ops_id = id_of(&tokens[2]).to_owned();
    for key in ["svc/a", &ops_id] {
        let out = env.run(&["reset", key]);
        out.code(0);
        tokens.push(out.stdout.trim().to_owned());
    }
    let acme_id = id_of(&tokens[1]).to_owned();
    let v = env.run(&["reset", &acme_id, "--json"]).code(0).json();
    tokens.push(v["token"].as_str().unwrap().to_owned());
    for t in &tokens {
        assert!(keyctl::token::parse(t).is_some(), "{t}");
    }

    let mut raw = Vec::new();
    for f in store_files(&env.db) {
        raw.extend(fs::read(&f).unwrap());
    }
    raw.extend(env.rows().into_bytes());
    let contains = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    for t in &tokens {
        assert!(!contains(t.as_bytes()), "a whole token is in the store");
        // The secret is the 43 characters after `<prefix>_<id>_`; no 10 of them in a row may
        // appear (a chance match of 10 random base62 characters is about 1 in 10^17).
        let secret = &t.as_bytes()[t.len() - 49..t.len() - 6];
        for part in secret.windows(10) {
            assert!(
                !contains(part),
                "part of a secret is in the store: {}",
                String::from_utf8_lossy(part)
            );
        }
    }
    // The public ids are there: the store is not simply empty.
    assert!(contains(id_of(&tokens[0]).as_bytes()));
}

// ---------------------------------------------------------------------------------------
// concurrency

/// Start `n` keyctl processes at once with the given arguments (`{i}` replaced by the
/// process number) and collect their results.
fn all_at_once(env: &Env, n: usize, args: &[&str]) -> Vec<Out> {
    let children: Vec<_> = (0..n)
        .map(|i| {
            let args: Vec<String> = args
                .iter()
                .map(|a| a.replace("{i}", &i.to_string()))
                .collect();
            env.command().args(&args).spawn().expect("spawn keyctl")
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait keyctl").into())
        .collect()
}

#[track_caller]
fn assert_not_locked(out: &Out) {
    let err = out.stderr.to_ascii_lowercase();
    assert!(
        !err.contains("locked") && !err.contains("busy"),
        "{}",
        out.stderr
    );
}

#[test]
fn parallel_creates_on_a_fresh_store_lose_nothing() {
    const N: usize = 12;
    let env = Env::sqlite();
    assert!(!env.db.parent().unwrap().exists());
    let outs = all_at_once(
        &env,
        N,
        &[
            "create", "--user", "ci", "--name", "job-{i}", "--path", "/api",
        ],
    );
    let mut tokens = Vec::new();
    for out in &outs {
        assert_not_locked(out);
        out.code(0);
        tokens.push(out.stdout.trim_end().to_owned());
    }
    let mut unique = tokens.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), N, "every token is different");

    let conn = rusqlite::Connection::open(&env.db).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM keys", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    assert_eq!(rows, N as i64, "no write was lost");
    let listed = env.run(&["list", "--json"]).code(0).json();
    assert_eq!(listed.as_array().unwrap().len(), N);

    // Every printed token verifies, also while the others are verifying.
    let mut children = Vec::new();
    for t in &tokens {
        let mut child = env
            .command()
            .args(["verify", "--json", "--path", "/api/x"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{t}\n").as_bytes())
            .unwrap();
        children.push((t, child));
    }
    for (t, child) in children {
        let out: Out = child.wait_with_output().unwrap().into();
        assert_not_locked(&out);
        out.code(0);
        assert_eq!(out.json()["id"], id_of(t));
    }
    assert_eq!(mode(&env.db), 0o600);
    assert_eq!(mode(env.db.parent().unwrap()), 0o700);
}

#[test]
fn parallel_creates_of_one_name_make_exactly_one_key() {
    const N: usize = 8;
    let env = Env::sqlite();
    env.create(&["--user", "seed"]);
    let outs = all_at_once(&env, N, &["create", "--user", "ci", "--name", "deploy"]);
    for out in &outs {
        assert_not_locked(out);
        assert!(out.code == 0 || out.code == 2, "{out:?}");
    }
    let winners: Vec<&Out> = outs.iter().filter(|o| o.code == 0).collect();
    assert_eq!(winners.len(), 1, "{outs:?}");
    let v = env.run(&["list", "--user", "ci", "--json"]).code(0).json();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["id"], id_of(winners[0].stdout.trim()));
}

#[test]
fn parallel_resets_leave_exactly_the_last_token_valid() {
    const N: usize = 8;
    let env = Env::sqlite();
    let first = env.create(&["--user", "ci", "--name", "deploy"]);
    let outs = all_at_once(&env, N, &["reset", "ci/deploy"]);
    let mut valid = 0;
    for out in &outs {
        assert_not_locked(out);
        out.code(0);
        let t = out.stdout.trim();
        assert_eq!(id_of(t), id_of(&first));
        if env.verify(t, &[]).0 == 0 {
            valid += 1;
        }
    }
    assert_eq!(valid, 1, "exactly one printed token is the current one");
    assert_eq!(env.verify(&first, &[]).1["reason"], "unknown");
}
