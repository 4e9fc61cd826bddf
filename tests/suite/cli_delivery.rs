//! What happens around a change rather than in it: a token that cannot be delivered, a
//! command that waits for another process's lock, and a writer killed in the middle of a
//! change.

use crate::common;

use std::fs::File;
use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Env, Out, id_of, secs};
use serde_json::Value;

/// Where keyctl's stdout goes.
enum Sink {
    /// A pipe whose reader has gone away (`keyctl rotate | (exec 0<&-; ...)`).
    ClosedPipe,
    /// `/dev/full`: every write fails with ENOSPC.
    Full,
}

/// Run keyctl with stdout sent to `sink`; stderr is captured.
fn run_into(env: &Env, args: &[&str], sink: Sink) -> Out {
    let stdout: Stdio = match sink {
        Sink::ClosedPipe => {
            let (reader, writer) = std::io::pipe().expect("pipe");
            drop(reader);
            writer.into()
        }
        Sink::Full => File::options()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full")
            .into(),
    };
    let out = env
        .command()
        .args(args)
        .stdout(stdout)
        .output()
        .expect("run keyctl");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_created_key_whose_token_cannot_be_written_is_removed_again() {
    let env = Env::new();
    env.create(&["--user", "ops"]);
    for sink in [Sink::ClosedPipe, Sink::Full] {
        for json in [false, true] {
            let before = env.keys_rows();
            let mut args = vec!["create", "--user", "svc", "--name", "deploy"];
            if json {
                args.push("--json");
            }
            let out = run_into(&env, &args, sink_copy(&sink));
            out.code(4);
            assert!(
                out.stderr.contains("cannot write the token")
                    && out.stderr.contains("was removed again"),
                "{}",
                out.stderr
            );
            assert!(
                !out.stderr.contains("kc_"),
                "no token on stderr: {}",
                out.stderr
            );
            assert_eq!(
                env.keys_rows(),
                before,
                "the store is as it was, new user included"
            );
            assert_eq!(env.actions().last().unwrap(), "undo", "the log says so");
        }
    }
    // The name is free: nothing was left behind.
    env.create(&["--user", "svc", "--name", "deploy"]);
}

fn sink_copy(sink: &Sink) -> Sink {
    match sink {
        Sink::ClosedPipe => Sink::ClosedPipe,
        Sink::Full => Sink::Full,
    }
}

#[test]
fn a_reset_whose_token_cannot_be_written_is_undone() {
    let env = Env::new();
    let t0 = env.create(&["--user", "svc", "--name", "deploy"]);
    // A token in grace from an earlier rotation must come back too.
    let out = env.run(&["rotate", "svc/deploy", "--grace", "1h"]);
    out.code(0);
    let t1 = out.stdout.trim().to_owned();
    for sink in [Sink::ClosedPipe, Sink::Full] {
        for args in [
            &["rotate", "svc/deploy"][..],
            &["rotate", "svc/deploy", "--grace", "2h", "--json"],
        ] {
            let before = env.keys_rows();
            let out = run_into(&env, args, sink_copy(&sink));
            out.code(4);
            assert!(
                out.stderr.contains("was undone") && out.stderr.contains("previous token"),
                "{}",
                out.stderr
            );
            assert_eq!(env.keys_rows(), before, "{args:?}: the store is as it was");
            let actions = env.actions();
            assert_eq!(actions[actions.len() - 2..], ["reset", "undo"]);
            assert_eq!(
                env.verify(&t1, &["--current"]).0,
                0,
                "still the current token"
            );
            let (code, v) = env.verify(&t0, &[]);
            assert_eq!((code, &v["superseded"]), (0, &Value::Bool(true)), "{v}");
        }
    }
}

#[test]
fn a_full_stderr_neither_aborts_nor_undoes_a_delivered_token() {
    let env = Env::new();
    env.create(&["--user", "svc", "--name", "deploy"]);
    for args in [
        &["create", "--user", "svc"][..],
        &["rotate", "svc/deploy"],
        &["list"],
        &["show", "svc/nope"],
    ] {
        let out = env
            .command()
            .args(args)
            .stderr(File::options().write(true).open("/dev/full").unwrap())
            .output()
            .unwrap();
        let code = out.status.code();
        let expected = if args[0] == "show" { 3 } else { 0 };
        assert_eq!(code, Some(expected), "{args:?}: no panic, no abort");
        if args[0] != "list" && args[0] != "show" {
            let token = String::from_utf8(out.stdout).unwrap();
            assert_eq!(
                env.verify(token.trim(), &[]).0,
                0,
                "{args:?}: delivered and kept"
            );
        }
    }
}

/// Hold the store's write lock (`BEGIN IMMEDIATE`) or every lock (`BEGIN EXCLUSIVE`) from
/// this process, until the returned connection is dropped.
fn hold(env: &Env, how: &str) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    conn.execute_batch(&format!("BEGIN {how}")).unwrap();
    conn
}

fn spawn(env: &Env, args: &[&str], stdin: Option<&str>) -> Child {
    let mut child = env
        .command()
        .env("KEYCTL_LOCK_TIMEOUT", "20")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().unwrap();
        writeln!(pipe, "{input}").unwrap();
    }
    child
}

const WAIT: Duration = Duration::from_millis(2500);

#[test]
fn a_grace_period_starts_when_the_reset_gets_the_lock() {
    let env = Env::sqlite();
    env.create(&["--user", "svc", "--name", "deploy"]);
    let holder = hold(&env, "IMMEDIATE");
    let reset = spawn(
        &env,
        &["rotate", "svc/deploy", "--grace", "3s", "--json"],
        None,
    );
    std::thread::sleep(WAIT);
    let released = common::now();
    drop(holder);
    let out: Out = reset.wait_with_output().unwrap().into();
    out.code(0);
    let v = out.json();
    let until = secs(&v["superseded"][0]);
    assert!(
        until >= released + 3 - 1,
        "grace ends {until}, the lock was released at {released}: the grace was spent waiting"
    );
    assert!(secs(&v["updated"]) >= released - 1, "{v}");
}

#[test]
fn a_verification_judges_expiry_when_it_reads_the_key() {
    let env = Env::sqlite();
    let token = env.create(&["--user", "svc", "--expire", "2s"]);
    let holder = hold(&env, "EXCLUSIVE");
    let started = Instant::now();
    let verify = spawn(&env, &["verify", "--json"], Some(&token));
    std::thread::sleep(WAIT);
    drop(holder);
    let out: Out = verify.wait_with_output().unwrap().into();
    assert!(started.elapsed() >= WAIT, "it waited for the lock");
    out.code(1);
    assert_eq!(out.json()["reason"], "expired", "expired while waiting");
}

/// Not a test of its own: run by `a_writer_killed_mid_change_...` in a child process, it
/// starts a change big enough to spill to the store file, says so, and waits to be killed.
#[test]
#[ignore = "helper run by another test"]
fn helper_write_and_wait_to_be_killed() {
    let Some(db) = std::env::var_os("KEYCTL_TEST_HOT_DB") else {
        return;
    };
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        "PRAGMA cache_size = 1; BEGIN IMMEDIATE;
         UPDATE keys SET description = hex(randomblob(800));",
    )
    .unwrap();
    println!("in the middle of a change");
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn a_writer_killed_mid_change_is_explained_to_readers_and_recovered_by_a_writer() {
    let env = Env::sqlite();
    let token = env.create(&["--user", "svc", "--name", "deploy"]);
    for i in 0..40 {
        env.create(&["--user", "svc", "--name", &format!("filler{i}")]);
    }
    let mut writer = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "cli_delivery::helper_write_and_wait_to_be_killed",
            "--ignored",
            "--nocapture",
        ])
        .env("KEYCTL_TEST_HOT_DB", &env.db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut said = [0u8; 256];
    let mut stdout = writer.stdout.take().unwrap();
    let mut seen = String::new();
    while !seen.contains("in the middle of a change") {
        let n = stdout.read(&mut said).unwrap();
        assert!(n > 0, "the helper ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&said[..n]));
    }
    writer.kill().unwrap();
    writer.wait().unwrap();
    let journal = common::sidecar(&env.db, "-journal");
    assert!(
        journal.metadata().is_ok_and(|m| m.len() > 0),
        "a journal was left behind"
    );

    let Some(reader) = common::unprivileged(&env) else {
        return;
    };
    let out = reader(&["verify"], format!("{token}\n").as_bytes());
    out.code(4);
    for words in [
        "unfinished change",
        "stopped in the middle",
        "write access",
        "keyctl list",
    ] {
        assert!(out.stderr.contains(words), "says {words:?}: {}", out.stderr);
    }
    assert!(
        !out.stderr.contains("this command needs write access"),
        "{}",
        out.stderr
    );
    reader(&["list"], b"").code(4);

    // Any command by someone who can write the store rolls the change back.
    common::restore_access(&env);
    env.run(&["list"]).code(0);
    assert!(!journal.exists() || journal.metadata().unwrap().len() == 0);
    assert_eq!(env.verify(&token, &[]).0, 0);
    let id = id_of(&token);
    let shown = env.run(&["show", id, "--json"]).json();
    assert!(shown["description"].is_null(), "the change was rolled back");
}
