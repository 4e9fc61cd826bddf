//! What keyctl survives: processes killed at random moments, a full disk, a store locked by
//! another writer past the busy timeout, and hostile input on every command.
//!
//! Each test ends by checking the store itself (`PRAGMA integrity_check`, the schema, the
//! rows), not only what keyctl printed.

use crate::common;

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Env, Out, id_of, secret_of};
use keyctl::store::sqlite::schema;

// ---------------------------------------------------------------------------------------
// Helpers

/// A small deterministic generator (xorshift64*), seeded per run and printed, so that a
/// failing crash schedule can be replayed with `KEYCTL_TEST_SEED`.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let seed = std::env::var("KEYCTL_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            })
            | 1;
        eprintln!("crash schedule seed: KEYCTL_TEST_SEED={seed}");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `PRAGMA integrity_check`, the schema version, the application id and the tables, read by
/// a connection that may roll back a hot journal left by a killed process (as keyctl would).
#[track_caller]
fn assert_store_intact(db: &Path) {
    let conn = rusqlite::Connection::open(db).expect("open store");
    let check: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(check, ["ok"], "integrity_check of {}", db.display());
    let fk: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0, "foreign keys of {}", db.display());
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::latest(), "user_version");
    let app: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app, schema::APPLICATION_ID, "application_id");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tables, ["events", "keys", "superseded", "users"], "tables");
    // The audit log's chain survives whatever happened.
    let store = keyctl::Store::open_with(
        db,
        &keyctl::store::Options::new(keyctl::store::Access::Read),
    )
    .unwrap();
    let mut events = Vec::new();
    store
        .events(&keyctl::store::EventFilter::default(), |e| {
            events.push(e);
            Ok(())
        })
        .unwrap();
    assert!(
        matches!(
            keyctl::audit::check(&events),
            keyctl::audit::Check::Intact { .. }
        ),
        "audit chain of {}",
        db.display()
    );
}

/// Wait for `child`, failing (after killing it) if it takes longer than `limit`: keyctl must
/// never hang. Returns what it printed and how long it ran.
#[track_caller]
fn wait_bounded(mut child: Child, started: Instant, limit: Duration) -> (Out, Duration) {
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            let elapsed = started.elapsed();
            return (child.wait_with_output().expect("output").into(), elapsed);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out: Out = child.wait_with_output().expect("output").into();
            panic!("keyctl still running after {limit:?} (killed): {out:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

// ---------------------------------------------------------------------------------------
// Crashes

/// What one keyctl process printed before it exited or was killed.
struct Run {
    /// Which key a reset was for (`None`: a create).
    reset_of: Option<String>,
    /// The token, when its whole line (with the newline) reached stdout.
    token: Option<String>,
    /// Whether the process finished on its own (rather than being killed first).
    finished: bool,
}

/// Start keyctl with `args`, collecting its stdout on a thread.
fn start(env: &Env, args: &[String]) -> (Child, std::thread::JoinHandle<Vec<u8>>) {
    let mut child = env
        .command()
        .args(args)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn keyctl");
    let mut stdout = child.stdout.take().expect("stdout");
    // Whatever keyctl wrote before it died stays in the pipe; read it all.
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    (child, reader)
}

/// SIGKILL the process (if it is still running) and check what it had printed.
fn finish(
    mut child: Child,
    reader: std::thread::JoinHandle<Vec<u8>>,
    reset_of: Option<String>,
) -> Run {
    let finished = child.try_wait().expect("try_wait").is_some();
    let _ = child.kill();
    let status = child.wait().expect("wait");
    let bytes = reader.join().expect("reader");
    let text = String::from_utf8(bytes).expect("stdout is UTF-8");
    let token = text
        .strip_suffix('\n')
        .filter(|t| !t.contains('\n'))
        .map(str::to_owned);
    if let Some(t) = &token {
        assert!(
            keyctl::token::parse(t).is_some(),
            "printed a bad token {t:?}"
        );
        if let Some(id) = &reset_of {
            assert_eq!(id_of(t), id, "reset printed a token for another key");
        }
    } else {
        assert!(
            text.is_empty(),
            "stdout is a whole token line or nothing: {text:?}"
        );
    }
    if status.success() {
        assert!(token.is_some(), "a successful run printed its token");
    }
    Run {
        reset_of,
        token,
        finished: finished || status.success(),
    }
}

/// Per key: the tokens printed for it in order, and whether a reset of it was killed after
/// the last printed one (it may or may not have committed, so that token may be superseded).
#[derive(Default)]
struct History {
    printed: Vec<String>,
    uncertain_reset_after_last: bool,
}

#[test]
fn killed_creates_and_resets_never_lose_a_printed_token_or_corrupt_the_store() {
    let env = Env::sqlite();
    let mut rng = Rng::seeded();
    let mut keys: Vec<(String, History)> = Vec::new();
    let started = Instant::now();
    for i in 0..3 {
        let t = env.create(&["--user", "crash", "--name", &format!("k{i}")]);
        keys.push((
            id_of(&t).to_owned(),
            History {
                printed: vec![t],
                uncertain_reset_after_last: false,
            },
        ));
    }
    // A create takes a few milliseconds; kill delays span from before exec to after exit.
    let per_run = started.elapsed() / 3;
    let max_delay = (per_run.as_micros() as u64 * 2).clamp(10_000, 1_000_000);
    let (mut finished, mut killed_with_token, mut killed_silent, mut hot_journals) = (0, 0, 0, 0);
    let journal = env.db.with_extension("db-journal");
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut iterations = 0;
    while iterations < 60 && Instant::now() < deadline {
        iterations += 1;
        // Two processes at once on different keys: a create and a reset, each killed at its
        // own random moment (one of them is often waiting for the other's lock).
        let reset_index = rng.below(keys.len() as u64) as usize;
        let reset_id = keys[reset_index].0.clone();
        let mut create = vec!["create".to_owned(), "--user".to_owned(), "crash".to_owned()];
        if rng.below(2) == 0 {
            create.extend(["--description".to_owned(), "x".repeat(300)]);
        }
        let reset = vec!["reset".to_owned(), reset_id.clone()];
        let delays = [
            Duration::from_micros(rng.below(max_delay)),
            Duration::from_micros(rng.below(max_delay)),
        ];
        let t0 = Instant::now();
        let procs = [
            (start(&env, &create), None),
            (start(&env, &reset), Some(reset_id)),
        ];
        let mut order: Vec<usize> = vec![0, 1];
        order.sort_by_key(|&i| delays[i]);
        let mut runs: Vec<Option<Run>> = vec![None, None];
        let mut procs: Vec<_> = procs.into_iter().map(Some).collect();
        for i in order {
            if let Some(wait) = delays[i].checked_sub(t0.elapsed()) {
                std::thread::sleep(wait);
            }
            let ((child, reader), of) = procs[i].take().unwrap();
            runs[i] = Some(finish(child, reader, of));
        }
        if journal.metadata().is_ok_and(|m| m.len() > 0) {
            hot_journals += 1;
        }
        for run in runs.into_iter().flatten() {
            match (&run.token, run.finished) {
                (Some(_), true) => finished += 1,
                (Some(_), false) => killed_with_token += 1,
                (None, _) => killed_silent += 1,
            }
            match (run.reset_of, run.token) {
                (None, Some(t)) => keys.push((
                    id_of(&t).to_owned(),
                    History {
                        printed: vec![t],
                        uncertain_reset_after_last: false,
                    },
                )),
                (None, None) => {}
                (Some(id), token) => {
                    let h = &mut keys.iter_mut().find(|(k, _)| *k == id).unwrap().1;
                    match token {
                        Some(t) => {
                            h.printed.push(t);
                            h.uncertain_reset_after_last = false;
                        }
                        None => h.uncertain_reset_after_last = true,
                    }
                }
            }
        }
    }
    eprintln!(
        "{iterations} rounds in {:?}: {finished} finished, {killed_with_token} killed after printing, \
         {killed_silent} killed before printing, {hot_journals} rounds left a hot journal",
        started.elapsed()
    );
    assert!(
        killed_silent > 0 && finished + killed_with_token > 0,
        "the schedule both interrupted and completed runs"
    );

    // keyctl itself opens the store after the crashes (rolling back any hot journal) ...
    let listed = env.run(&["list", "--all", "--json"]);
    listed.code(0);
    let listed = listed.json();
    let listed: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_store_intact(&env.db);

    // ... and every key whose token was printed is there, its last printed token verifies
    // unless a killed reset may have replaced it, and every earlier token is rejected.
    for (id, h) in &keys {
        assert!(
            listed.contains(&id.as_str()),
            "key {id} was printed, then lost"
        );
        let (last, earlier) = h.printed.split_last().unwrap();
        let (code, v) = env.verify(last, &[]);
        if h.uncertain_reset_after_last {
            assert!(
                code == 0 || v["reason"] == "unknown",
                "last token of {id}: {v}"
            );
        } else {
            assert_eq!(code, 0, "last printed token of {id} must verify: {v}");
        }
        for t in earlier {
            let (code, v) = env.verify(t, &[]);
            assert_eq!(
                (code, v["reason"].as_str()),
                (1, Some("unknown")),
                "a token superseded by a completed reset of {id}: {v}"
            );
        }
    }
    // The store still takes writes.
    let t = env.create(&["--user", "after"]);
    assert_eq!(env.verify(&t, &[]).0, 0);
}

// ---------------------------------------------------------------------------------------
// Full disk

/// Run keyctl with `args` and every file it writes limited to `limit` bytes (RLIMIT_FSIZE),
/// with SIGXFSZ ignored so that a write past the limit fails with EFBIG, as on a full disk,
/// instead of killing the process. `None` (after saying why) when the limit cannot be set.
fn run_with_file_limit(env: &Env, args: &[&str], limit: u64) -> Option<Out> {
    let mut cmd = env.command();
    cmd.args(args);
    // SAFETY: only async-signal-safe calls (signal, setrlimit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR {
                return Err(std::io::Error::last_os_error());
            }
            let lim = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: limit as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    match cmd.output() {
        Ok(out) => Some(out.into()),
        Err(e) => {
            common::skip(&format!(
                "cannot limit the file size of a child process ({e})"
            ));
            None
        }
    }
}

/// Add keys until the next create must grow the store file (tried on a scratch copy), so
/// that a size limit at the current size makes that create fail.
fn fill_until_next_create_grows(env: &Env, tokens: &mut Vec<String>) {
    let description = "d".repeat(900);
    let scratch = env.dir.path().join("scratch.db");
    for _ in 0..50 {
        std::fs::copy(&env.db, &scratch).unwrap();
        let before = std::fs::metadata(&scratch).unwrap().len();
        env.command()
            .args([
                "--db",
                scratch.to_str().unwrap(),
                "create",
                "--user",
                "probe",
            ])
            .args(["--description", &description])
            .output()
            .unwrap();
        if std::fs::metadata(&scratch).unwrap().len() > before {
            return;
        }
        tokens.push(env.create(&["--user", "disk", "--description", &description]));
    }
    panic!("the store never needed to grow");
}

#[test]
fn a_full_disk_fails_the_create_cleanly_and_the_store_stays_usable() {
    let env = Env::sqlite();
    let mut tokens = vec![
        env.create(&["--user", "disk", "--name", "first"]),
        env.create(&["--user", "disk", "--name", "second", "--path", "/api"]),
    ];
    fill_until_next_create_grows(&env, &mut tokens);
    let rows = env.rows();
    let size = std::fs::metadata(&env.db).unwrap().len();

    let description = "d".repeat(900);
    let args = ["create", "--user", "disk", "--description", &description];
    let Some(out) = run_with_file_limit(&env, &args, size) else {
        return;
    };
    out.code(4);
    assert_eq!(out.stdout, "", "no token for a key that was not stored");
    assert!(
        out.stderr.contains("cannot write store")
            && out.stderr.contains("disk is full")
            && out.stderr.contains("nothing was changed"),
        "a clear message: {}",
        out.stderr
    );
    assert_eq!(env.rows(), rows, "the failed create left no trace");
    assert_eq!(std::fs::metadata(&env.db).unwrap().len(), size);

    assert_store_intact(&env.db);
    for t in &tokens {
        assert_eq!(env.verify(t, &[]).0, 0, "an earlier key still verifies");
    }
    let t = env.create(&args[1..]);
    assert_eq!(
        env.verify(&t, &[]).0,
        0,
        "without the limit, create works again"
    );
}

#[test]
fn a_full_disk_while_making_a_new_store_leaves_nothing_half_made() {
    let env = Env::sqlite();
    let Some(out) = run_with_file_limit(&env, &["create", "--user", "svc"], 0) else {
        return;
    };
    out.code(4);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("disk is full"), "{}", out.stderr);
    // Whatever was left (an empty file) is a store keyctl can still initialise.
    let t = env.create(&["--user", "svc"]);
    assert_eq!(env.verify(&t, &[]).0, 0);
    assert_store_intact(&env.db);
}

// ---------------------------------------------------------------------------------------
// Lock contention

/// The lock timeout these tests give keyctl (`KEYCTL_LOCK_TIMEOUT`): short, so they run
/// fast; the default works the same way, only longer.
const LOCK_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest any keyctl may take while another process holds the lock: the lock timeout plus
/// generous slack for a loaded machine. Past it, the test kills keyctl and fails (a hang).
fn hang_limit() -> Duration {
    LOCK_TIMEOUT + Duration::from_secs(10)
}

#[test]
fn a_store_locked_past_the_busy_timeout_fails_every_command_cleanly() {
    let env = Env::sqlite();
    let token = env.create(&["--user", "svc", "--name", "deploy"]);
    env.create(&["--user", "svc", "--name", "other"]);
    let rows = env.rows();

    // Another process holds the store exclusively (as a stuck writer would) for longer than
    // keyctl's busy timeout.
    let holder = rusqlite::Connection::open(&env.db).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["create", "--user", "svc"],
        vec!["reset", "svc/deploy"],
        vec!["expire", "svc/deploy", "1d"],
        vec!["path", "svc/deploy", "/api"],
        vec!["disable", "svc/deploy"],
        vec!["delete", "svc/other", "--yes"],
        vec!["list"],
        vec!["show", "svc/deploy"],
    ];
    let started = Instant::now();
    let mut children: Vec<(String, Child)> = commands
        .iter()
        .map(|args| {
            let child = env
                .command()
                .env("KEYCTL_LOCK_TIMEOUT", "1")
                .args(args)
                .spawn()
                .expect("spawn keyctl");
            (args.join(" "), child)
        })
        .collect();
    let mut verify = env
        .command()
        .env("KEYCTL_LOCK_TIMEOUT", "1")
        .arg("verify")
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn keyctl");
    {
        use std::io::Write;
        let mut stdin = verify.stdin.take().unwrap();
        writeln!(stdin, "{token}").unwrap();
    }
    children.push(("verify".into(), verify));

    for (what, child) in children {
        let (out, took) = wait_bounded(child, started, hang_limit());
        out.code(4);
        assert!(
            out.stderr.contains("is busy")
                && out.stderr.contains("more than 1 s")
                && out.stderr.contains("nothing was changed"),
            "{what}: the message says the store is busy: {}",
            out.stderr
        );
        assert_eq!(out.stdout, "", "{what}: nothing on stdout");
        // It queued for the whole timeout before giving up, rather than failing at once.
        assert!(
            took >= LOCK_TIMEOUT - Duration::from_millis(200),
            "{what} gave up after {took:?}"
        );
    }
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);

    assert_eq!(env.rows(), rows, "no partial write");
    assert_store_intact(&env.db);
    assert_eq!(env.verify(&token, &[]).0, 0);
    let t = env.create(&["--user", "svc"]);
    assert_eq!(env.verify(&t, &[]).0, 0, "once released, writes work again");
}

#[test]
fn readers_answer_while_a_writer_holds_the_lock_and_writers_time_out() {
    let env = Env::sqlite();
    let token = env.create(&["--user", "svc", "--name", "deploy", "--path", "/api"]);
    let rows = env.rows();

    // A writer in the middle of a transaction, its change not yet committed.
    let holder = rusqlite::Connection::open(&env.db).unwrap();
    holder
        .execute_batch("BEGIN IMMEDIATE; UPDATE keys SET description = 'uncommitted';")
        .unwrap();

    let started = Instant::now();
    let create = env
        .command()
        .env("KEYCTL_LOCK_TIMEOUT", "1")
        .args(["create", "--user", "svc"])
        .spawn()
        .unwrap();

    // Verification, list and show read the last committed state at once.
    let t0 = Instant::now();
    let (code, v) = env.verify(&token, &["--path", "/api/x"]);
    assert_eq!(code, 0, "{v}");
    let out = env.run(&["show", "svc/deploy", "--json"]);
    out.code(0);
    assert!(out.json()["description"].is_null(), "no dirty read");
    env.run(&["list"]).code(0);
    assert!(
        t0.elapsed() < keyctl::store::DEFAULT_LOCK_TIMEOUT,
        "readers did not wait for the writer ({:?})",
        t0.elapsed()
    );

    let (out, took) = wait_bounded(create, started, hang_limit());
    out.code(4);
    assert!(out.stderr.contains("is busy"), "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert!(
        took >= LOCK_TIMEOUT - Duration::from_millis(200),
        "{took:?}"
    );

    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    // Only verify's best-effort last-use record could have been written, and it was
    // skipped while the writer held the lock.
    assert_eq!(env.rows(), rows, "no partial write");
    assert_store_intact(&env.db);
}

// ---------------------------------------------------------------------------------------
// Hostile input

/// One hostile invocation and what keyctl must answer.
struct Case {
    args: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    code: i32,
    /// For verify: the reason that must appear in the output.
    reason: Option<&'static str>,
}

fn case(code: i32, args: &[&str]) -> Case {
    case_os(code, os(args))
}

fn case_os(code: i32, args: Vec<OsString>) -> Case {
    Case {
        args,
        stdin: None,
        code,
        reason: None,
    }
}

impl Case {
    fn stdin(mut self, input: impl Into<Vec<u8>>) -> Case {
        self.stdin = Some(input.into());
        self
    }

    fn reason(mut self, reason: &'static str) -> Case {
        self.reason = Some(reason);
        self
    }

    fn shown(&self) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| {
                let s = a.to_string_lossy();
                let s: String = s.chars().take(60).collect();
                format!("{:?}", s)
            })
            .collect();
        format!("keyctl {}", args.join(" "))
    }
}

/// `args` with one argument given as raw bytes (which need not be UTF-8).
fn with_bytes(args: &[&str], raw: &[u8]) -> Vec<OsString> {
    let mut v = os(args);
    v.push(OsStr::from_bytes(raw).to_owned());
    v
}

/// A token with a correct checksum for any prefix, id and secret.
fn forge(prefix: &str, id: &str, secret: &str) -> String {
    let signed = format!("{prefix}_{id}_{secret}");
    let check = keyctl::token::checksum(&signed);
    format!("{signed}{check}")
}

/// A store with a path-restricted key, an unrestricted one and one revoked long ago.
struct Fixture {
    env: Env,
    api: String,
    other: String,
    old: String,
}

fn fixture() -> Fixture {
    let env = Env::sqlite();
    let api = env.create(&[
        "--user", "svc", "--name", "deploy", "--path", "/api", "--expire", "30d",
    ]);
    let other = env.create(&["--user", "svc", "--name", "other", "--description", "plain"]);
    let old = env.create(&["--user", "svc", "--name", "old"]);
    env.run(&["delete", "svc/old", "--yes"]).code(0);
    // Revoked 100 days ago, so that `prune` has something to ask about.
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    conn.execute(
        "UPDATE keys SET deleted = deleted - 8640000, updated = updated - 8640000 WHERE id = ?1",
        [id_of(&old)],
    )
    .unwrap();
    Fixture {
        env,
        api,
        other,
        old,
    }
}

fn run_case(env: &Env, c: &Case) -> Out {
    let mut cmd = env.command();
    cmd.args(&c.args);
    let Some(input) = &c.stdin else {
        return cmd.output().expect("run keyctl").into();
    };
    let mut child = cmd.stdin(Stdio::piped()).spawn().expect("spawn keyctl");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.clone();
    // keyctl stops reading oversized input early; the broken pipe is expected.
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait keyctl");
    writer.join().unwrap();
    out.into()
}

/// Run every case against the fixture store: exit code, a message on stderr for every
/// failure, no raw escape or control characters printed, no secret echoed, rows unchanged.
#[track_caller]
fn check_cases(f: &Fixture, cases: &[Case]) {
    let rows = f.env.rows();
    assert!(!rows.is_empty());
    eprintln!("{} hostile cases", cases.len());
    let secrets: Vec<&str> = [&f.api, &f.other, &f.old]
        .iter()
        .map(|t| &secret_of(t)[..20])
        .collect();
    for c in cases {
        let what = c.shown();
        let started = Instant::now();
        let out = run_case(&f.env, c);
        assert_eq!(
            out.code, c.code,
            "{what}: exit code\nstdout: {}\nstderr: {}",
            out.stdout, out.stderr
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what} took {:?}",
            started.elapsed()
        );
        // A rejection (exit 1) is an answer, given on stdout with its reason; any other
        // failure explains itself on stderr.
        if c.code == 1 {
            assert!(
                c.reason.is_some(),
                "{what}: a rejection case names its reason"
            );
        } else if c.code != 0 {
            assert!(
                !out.stderr.trim().is_empty(),
                "{what}: a failure explains itself on stderr"
            );
        }
        assert!(
            !out.stdout.chars().any(|ch| ch.is_control() && ch != '\n'),
            "{what}: control characters on stdout: {:?}",
            out.stdout
        );
        assert!(
            !out.stderr.contains('\u{1b}'),
            "{what}: escape sequence on stderr: {:?}",
            out.stderr
        );
        // keyctl's own messages escape everything; clap's usage errors are checked above.
        for line in out.stderr.lines().filter(|l| l.starts_with("keyctl:")) {
            assert!(
                !line.chars().any(char::is_control),
                "{what}: control characters in {line:?}"
            );
        }
        for s in &secrets {
            assert!(
                !out.stdout.contains(s) && !out.stderr.contains(s),
                "{what}: a secret was echoed"
            );
        }
        if let Some(reason) = c.reason {
            assert!(
                out.stdout.contains(reason),
                "{what}: reason {reason}: {}",
                out.stdout
            );
        }
        assert_eq!(f.env.rows(), rows, "{what}: the store changed");
    }
}

const SQL: [&str; 6] = [
    "svc'; DROP TABLE keys; --",
    "' OR '1'='1",
    "x\" OR 1=1 --",
    "Robert'); DROP TABLE users;--",
    "%",
    "svc/*",
];

#[test]
fn hostile_input_to_create_is_refused_and_changes_nothing() {
    let f = fixture();
    let long = "a".repeat(100_000);
    let mut cases = Vec::new();
    for s in SQL {
        cases.push(case(2, &["create", "--user", s]));
        cases.push(case(2, &["create", "--user", "svc", "--name", s]));
    }
    let too_many_paths: Vec<String> = (0..65).map(|i| format!("/p{i}")).collect();
    let mut many = vec!["create", "--user", "svc"];
    for p in &too_many_paths {
        many.extend(["--path", p.as_str()]);
    }
    cases.extend([
        // A duplicate name is refused inside the transaction, which is rolled back.
        case(2, &["create", "--user", "svc", "--name", "deploy"]),
        // Escape sequences and control characters.
        case(2, &["create", "--user", "\u{1b}[31mred"]),
        case(2, &["create", "--user", "\u{1b}]0;pwned\u{7}"]),
        case(2, &["create", "--user", "a\rb"]),
        case(2, &["create", "--user", "svc", "--name", "a\u{9b}31m"]),
        case(
            2,
            &[
                "create",
                "--user",
                "svc",
                "--description",
                "\u{1b}[2J\u{1b}[H",
            ],
        ),
        case(
            2,
            &[
                "create",
                "--user",
                "svc",
                "--description",
                "\u{1b}]8;;https://evil\u{7}x",
            ],
        ),
        case(
            2,
            &["create", "--user", "svc", "--description", "line\nbreak"],
        ),
        case(2, &["create", "--user", "svc", "--description", "cr\rover"]),
        case(
            2,
            &["create", "--user", "svc", "--description", "csi\u{9b}31m"],
        ),
        case(
            2,
            &["create", "--user", "svc", "--description", "del\u{7f}"],
        ),
        // Very long values.
        case(2, &["create", "--user", &"u".repeat(65)]),
        case(2, &["create", "--user", &long]),
        case(2, &["create", "--user", "svc", "--name", &long]),
        case(
            2,
            &[
                "create",
                "--user",
                "svc",
                "--description",
                &"d".repeat(1001),
            ],
        ),
        case(2, &["create", "--user", "svc", "--description", &long]),
        case(2, &["create", "--user", "svc", "--prefix", &"p".repeat(17)]),
        case(2, &["create", "--user", "svc", "--prefix", "KC"]),
        case(2, &["create", "--user", "svc", "--prefix", "k_c"]),
        case(2, &["create", "--user", "svc", "--prefix", "kc';--"]),
        case(2, &many),
        // Durations: negative, zero, fractional, overflowing, foreign digits.
        case(2, &["create", "--user", "svc", "--expire=-5d"]),
        case(2, &["create", "--user", "svc", "--expire=-1"]),
        case(2, &["create", "--user", "svc", "--expire", "0"]),
        case(2, &["create", "--user", "svc", "--expire", "1.5h"]),
        case(2, &["create", "--user", "svc", "--expire", "1e9"]),
        case(2, &["create", "--user", "svc", "--expire", "0x10"]),
        case(
            2,
            &[
                "create",
                "--user",
                "svc",
                "--expire",
                "99999999999999999999",
            ],
        ),
        case(
            2,
            &["create", "--user", "svc", "--expire", "9223372036854775807"],
        ),
        case(
            2,
            &[
                "create",
                "--user",
                "svc",
                "--expire",
                "9223372036854775807y",
            ],
        ),
        case(2, &["create", "--user", "svc", "--expire", "300000y"]),
        // Parses, but now + 7990 years is past 9999.
        case(2, &["create", "--user", "svc", "--expire", "7990y"]),
        case(2, &["create", "--user", "svc", "--expire", "\u{663}d"]),
        case(2, &["create", "--user", "svc", "--expire", "\u{ff15}d"]),
        case(2, &["create", "--user", "svc", "--expire", "5 d"]),
        case(
            2,
            &["create", "--user", "svc", "--expire", "1d; DROP TABLE keys"],
        ),
        // Impossible and out-of-range dates.
        case(2, &["create", "--user", "svc", "--expire-at", "2030-02-30"]),
        case(2, &["create", "--user", "svc", "--expire-at", "2031-02-29"]),
        case(2, &["create", "--user", "svc", "--expire-at", "2030-13-01"]),
        case(2, &["create", "--user", "svc", "--expire-at", "2030-00-10"]),
        case(
            2,
            &[
                "create",
                "--user",
                "svc",
                "--expire-at",
                "2030-01-01T24:00:01Z",
            ],
        ),
        case(
            2,
            &[
                "create",
                "--user",
                "svc",
                "--expire-at",
                "2030-01-01T00:00:00+25:00",
            ],
        ),
        case(
            2,
            &[
                "create",
                "--user",
                "svc",
                "--expire-at",
                "1969-12-31T23:59:59Z",
            ],
        ),
        case(
            2,
            &["create", "--user", "svc", "--expire-at", "10000-01-01"],
        ),
        case(2, &["create", "--user", "svc", "--expire-at", "2000-01-01"]),
        case(
            2,
            &[
                "create",
                "--user",
                "svc",
                "--expire-at",
                "2030-01-01'; DROP TABLE keys;--",
            ],
        ),
        // Path prefixes: dot segments, encoded slashes, controls, not a path.
        case(2, &["create", "--user", "svc", "--path", "/api/../admin"]),
        case(2, &["create", "--user", "svc", "--path", "/api/./x"]),
        case(
            2,
            &["create", "--user", "svc", "--path", "/api/%2e%2e/admin"],
        ),
        case(2, &["create", "--user", "svc", "--path", "/api/%2E%2e"]),
        case(2, &["create", "--user", "svc", "--path", "/api/.%2E"]),
        case(2, &["create", "--user", "svc", "--path", "/api%2fadmin"]),
        case(2, &["create", "--user", "svc", "--path", "/api%5Cadmin"]),
        case(2, &["create", "--user", "svc", "--path", "/api\\admin"]),
        case(2, &["create", "--user", "svc", "--path", "/a%00b"]),
        case(2, &["create", "--user", "svc", "--path", "/a%1b[31m"]),
        case(2, &["create", "--user", "svc", "--path", "/\u{1b}[2J"]),
        case(2, &["create", "--user", "svc", "--path", "/a b"]),
        // `?` and `#` would widen the prefix: matching ignores queries and fragments.
        case(2, &["create", "--user", "svc", "--path", "/#admin"]),
        case(2, &["create", "--user", "svc", "--path", "/api?user=me"]),
        case(2, &["create", "--user", "svc", "--path", "api"]),
        case(2, &["create", "--user", "svc", "--path", "=api"]),
        case(
            2,
            &["create", "--user", "svc", "--path", "'; DROP TABLE keys;--"],
        ),
        case(
            2,
            &[
                "create",
                "--user",
                "svc",
                "--path",
                &format!("/{}", "a".repeat(2000)),
            ],
        ),
        // Invalid UTF-8 (NUL cannot be in an argument at all).
        case_os(2, with_bytes(&["create", "--user"], b"svc\xff")),
        case_os(
            2,
            with_bytes(&["create", "--user", "svc", "--description"], b"\xc3\x28"),
        ),
        case_os(
            2,
            with_bytes(&["create", "--user", "svc", "--path"], b"/api/\xfe"),
        ),
    ]);
    assert!(cases.len() >= 60, "{} cases", cases.len());
    check_cases(&f, &cases);
}

#[test]
fn hostile_input_to_the_management_commands_is_refused_and_changes_nothing() {
    let f = fixture();
    let mut cases = Vec::new();
    for s in SQL {
        for cmd in ["show", "reset", "rotate", "disable", "enable"] {
            cases.push(case(2, &[cmd, s]));
        }
        cases.push(case(2, &["expire", s, "now"]));
        cases.push(case(2, &["path", s, "--clear"]));
        cases.push(case(2, &["delete", s, "--yes", "--purge"]));
        cases.push(case(2, &["list", "--user", s]));
        cases.push(case(2, &["show", &format!("svc/{s}")]));
    }
    cases.extend([
        // Key references that look like paths, globs or escapes.
        case(2, &["show", "../../etc/passwd"]),
        case(2, &["show", "\u{1b}[31mAAAAAAAA"]),
        case(2, &["show", &"A".repeat(25)]),
        case(2, &["show", &"A".repeat(100_000)]),
        case(3, &["show", "AAAAAAAAAAAAAAAA"]),
        case(3, &["show", "nobody/deploy"]),
        case(3, &["reset", "AAAAAAAAAAAAAAAA"]),
        case(3, &["disable", "nobody/x"]),
        case(3, &["delete", "AAAAAAAAAAAAAAAA", "--yes"]),
        case_os(2, with_bytes(&["show"], b"svc/\xffdeploy")),
        case_os(2, with_bytes(&["list", "--user"], b"\xff\xfe")),
        case(3, &["list", "--user", "nobody"]),
        case(2, &["list", "--status", "active' OR 1=1 --"]),
        case(2, &["list", "--status", "\u{1b}[31m"]),
        case(2, &["list", "--expiring-within=-1d"]),
        case(2, &["list", "--unused-since", "99999999999999999999d"]),
        // Grace periods and expiries.
        case(2, &["rotate", "svc/deploy", "--grace=-1h"]),
        case(2, &["rotate", "svc/deploy", "--grace", "0"]),
        case(2, &["rotate", "svc/deploy", "--grace", "1.5d"]),
        case(
            2,
            &["reset", "svc/deploy", "--grace", "99999999999999999999"],
        ),
        case(2, &["expire", "svc/deploy", "--", "-5d"]),
        case(2, &["expire", "svc/deploy", "0"]),
        case(2, &["expire", "svc/deploy", "99999999999999999999"]),
        case(2, &["expire", "svc/deploy", "7990y"]),
        case(2, &["expire", "svc/deploy", "now; DROP TABLE keys"]),
        case(2, &["expire", "svc/deploy", "tomorrow"]),
        case(2, &["expire", "svc/deploy", "--at", "2030-02-30"]),
        case(2, &["expire", "svc/deploy", "--at", "2030-02-29T00:00:00Z"]),
        case(2, &["expire", "svc/deploy", "--at", "2030-01-01T00:60:00Z"]),
        case(2, &["expire", "svc/deploy", "--at", "-2030-01-01"]),
        case(3, &["expire", "svc/old", "1d"]),
        // Path prefixes.
        case(2, &["path", "svc/deploy", "/api/../admin"]),
        case(2, &["path", "svc/deploy", "/%2e%2e"]),
        case(2, &["path", "svc/deploy", "/ok", "/bad/.."]),
        case(2, &["path", "svc/deploy", "/x\ny"]),
        case(2, &["path", "svc/deploy", "/\u{1b}]8;;http://evil\u{7}"]),
        case_os(2, with_bytes(&["path", "svc/deploy"], b"/api/\xff")),
        case(3, &["path", "svc/old", "/api"]),
        // Confirmation cannot be piped in.
        case(2, &["delete", "svc/deploy"]).stdin("y\n"),
        case(2, &["delete", "svc/deploy", "--purge"]).stdin("yes\n"),
        case(2, &["prune", "--older-than", "30d"]).stdin("y\n"),
        case(2, &["prune", "--older-than=-1d", "--yes"]),
        case(2, &["prune", "--older-than", "0", "--yes"]),
        case(
            2,
            &["prune", "--older-than", "99999999999999999999y", "--yes"],
        ),
        case(
            2,
            &["prune", "--older-than", "30d; DROP TABLE keys", "--yes"],
        ),
        // A store path that is not UTF-8 and does not exist.
        case_os(4, {
            let mut v = os(&["list", "--db"]);
            v.push(OsStr::from_bytes(b"/nonexistent/\xff/keys.db").to_owned());
            v
        }),
    ]);
    assert!(cases.len() >= 60, "{} cases", cases.len());
    check_cases(&f, &cases);
}

#[test]
fn hostile_and_almost_right_tokens_and_requests_are_rejected_and_change_nothing() {
    use base64::Engine as _;
    let f = fixture();
    let api = f.api.as_str();
    let id = id_of(api);
    let secret = secret_of(api);
    let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);

    let mut one_changed = api.as_bytes().to_vec();
    let i = api.len() - 10;
    one_changed[i] = if one_changed[i] == b'A' { b'B' } else { b'A' };
    let one_changed = String::from_utf8(one_changed).unwrap();
    let mut other_secret = secret.to_owned().into_bytes();
    other_secret[0] = if other_secret[0] == b'A' { b'B' } else { b'A' };
    let other_secret = String::from_utf8(other_secret).unwrap();
    let almost: Vec<(String, &str)> = vec![
        (one_changed.clone(), "malformed"),
        (api[..api.len() - 1].to_owned(), "malformed"),
        (format!("{api}A"), "malformed"),
        (format!("kd{}", &api[2..]), "malformed"),
        (api.to_uppercase(), "malformed"),
        (api.replacen('_', "-", 1), "malformed"),
        (format!("{api} {api}"), "malformed"),
        (format!("{api}\u{1b}[31m"), "malformed"),
        (format!("{api}\u{9b}31m"), "malformed"),
        // Checksums right, secrets wrong: an unknown key, another prefix, another secret.
        (forge("kc", "AAAAAAAAAAAAAAAA", secret), "unknown"),
        (forge("kd", id, secret), "unknown"),
        (forge("kc", id, &other_secret), "unknown"),
        (forge("kc", id_of(&f.other), secret), "unknown"),
        // Without its secret, a revoked key is just unknown.
        (forge("kc", id_of(&f.old), secret), "unknown"),
        ("kc_' OR 1=1 --".to_owned(), "malformed"),
        (
            format!("kc_{id}_' UNION SELECT digest FROM keys--"),
            "malformed",
        ),
    ];
    let mut cases = Vec::new();
    for (token, reason) in &almost {
        cases.push(
            case(1, &["verify", "--json"])
                .stdin(format!("{token}\n"))
                .reason(reason),
        );
        cases.push(
            case(
                1,
                &[
                    "verify",
                    "--header",
                    &format!("Authorization: Bearer {token}"),
                ],
            )
            .reason(reason),
        );
    }
    let mut nul = api.as_bytes().to_vec();
    nul.insert(10, 0);
    let mut invalid = api.as_bytes().to_vec();
    invalid[5] = 0xff;
    let huge = vec![b'a'; 10 << 20];
    let binary: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let many_headers: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    cases.extend([
        // NUL bytes and invalid UTF-8 on stdin and in requests.
        case(1, &["verify"]).stdin(nul.clone()).reason("malformed"),
        case(1, &["verify"])
            .stdin([api.as_bytes(), b"\0\n"].concat())
            .reason("malformed"),
        case(1, &["verify"])
            .stdin(invalid.clone())
            .reason("malformed"),
        case(1, &["verify"]).stdin(huge).reason("malformed"),
        case(1, &["verify"]).stdin(binary).reason("malformed"),
        case(2, &["verify"]).stdin(""),
        case(2, &["verify"]).stdin(" \t\r\n"),
        case_os(2, with_bytes(&["verify"], &invalid)),
        case(1, &["verify", &"k".repeat(100_000)]).reason("malformed"),
        case(1, &["verify", "--request"])
            .stdin(
                [
                    b"GET /api HTTP/1.1\r\nX-Api-Key: ".as_slice(),
                    &nul,
                    b"\r\n\r\n",
                ]
                .concat(),
            )
            .reason("malformed"),
        case(1, &["verify", "--request"])
            .stdin(
                [
                    b"GET /api HTTP/1.1\r\nX-Api-Key: ".as_slice(),
                    &invalid,
                    b"\r\n\r\n",
                ]
                .concat(),
            )
            .reason("malformed"),
        case(1, &["verify", "--request"])
            .stdin("GET /api HTTP/1.1\r\nX-Api-Key: \u{1b}[2J\r\n\r\n")
            .reason("malformed"),
        case(1, &["verify", "--request"])
            .stdin(format!("GET /api HTTP/1.1\r\n{many_headers}\r\n"))
            .reason("malformed"),
        case(1, &["verify", "--request"])
            .stdin(format!(
                "GET /api HTTP/1.1\r\nAuthorization: Bearer {api}\r\nX-Api-Key: {}\r\n\r\n",
                f.other
            ))
            .reason("ambiguous"),
        // Headers and URLs.
        case(1, &["verify", "--header", "x-api-key: \u{1b}[31m"]).reason("malformed"),
        case(1, &["verify", "--header", "x-auth-key: ' OR 1=1 --"]).reason("malformed"),
        case(2, &["verify", "--header", "no colon at all"]),
        // An unknown header, however long, is no credential.
        case(
            1,
            &["verify", "--header", &format!("{}: v", "X".repeat(100_000))],
        )
        .reason("missing"),
        case(
            1,
            &[
                "verify",
                "--header",
                &format!("x-api-key: {}", "k".repeat(100_000)),
            ],
        )
        .reason("malformed"),
        case(
            1,
            &["verify", "--header", "Authorization: Basic !!!not-base64"],
        )
        .reason("malformed"),
        case(
            1,
            &[
                "verify",
                "--header",
                &format!("Authorization: Basic {}", b64(b"haplo:\xff\xfe")),
            ],
        )
        .reason("malformed"),
        case(
            1,
            &[
                "verify",
                "--header",
                &format!(
                    "Authorization: Basic {}",
                    b64(format!("haplo:{api}").as_bytes())
                ),
                "--basic-user",
                "' OR 1=1",
            ],
        )
        .reason("unknown"),
        case(
            1,
            &["verify", "--url", "https://x.example/api?accesskey=%00"],
        )
        .reason("malformed"),
        case(
            1,
            &[
                "verify",
                "--url",
                "https://x.example/api?accesskey=%1b%5b31m",
            ],
        )
        .reason("malformed"),
        // The right token for the wrong path: dot segments, encoded slashes, controls.
        case(
            1,
            &[
                "verify",
                "--url",
                &format!("https://x.example/api/%2e%2e/admin?accesskey={api}"),
            ],
        )
        .reason("path_not_allowed"),
        case(
            1,
            &[
                "verify",
                "--url",
                &format!("https://x.example/api%2fadmin?api_key={api}"),
            ],
        )
        .reason("path_not_allowed"),
        case(
            1,
            &[
                "verify",
                "--header",
                &format!("x-api-key: {api}"),
                "--url",
                "https://x.example/api/..%2Fadmin",
            ],
        )
        .reason("path_not_allowed"),
        case(1, &["verify", "--request"])
            .stdin(format!(
                "GET /api/../admin HTTP/1.1\r\nAuthorization: Bearer {api}\r\n\r\n"
            ))
            .reason("path_not_allowed"),
        case(1, &["verify", "--request"])
            .stdin(format!(
                "GET /api/%2E%2E/admin HTTP/1.1\nX-Auth-Key: {api}\n\n"
            ))
            .reason("path_not_allowed"),
        case(1, &["verify", "--path", "/api/%2e%2e/admin"])
            .stdin(format!("{api}\n"))
            .reason("path_not_allowed"),
        case(1, &["verify", "--path", "/api/./x"])
            .stdin(format!("{api}\n"))
            .reason("path_not_allowed"),
        case(1, &["verify", "--path", "/api/\u{1b}[31m"])
            .stdin(format!("{api}\n"))
            .reason("path_not_allowed"),
        case(1, &["verify", "--path", "/api%2F..%2Fadmin"])
            .stdin(format!("{api}\n"))
            .reason("path_not_allowed"),
        case(1, &["verify", "--path", "/api\\..\\admin"])
            .stdin(format!("{api}\n"))
            .reason("path_not_allowed"),
    ]);
    assert!(cases.len() >= 60, "{} cases", cases.len());
    check_cases(&f, &cases);
}

#[test]
fn sql_shaped_text_that_is_valid_is_stored_literally() {
    let env = Env::sqlite();
    let description = "'); DROP TABLE keys; -- \" OR 1=1 /* ünïcödé 🔑 */";
    // No `;` in the path: a prefix with one is refused (servlet containers drop `;params`).
    let path = "/'OR'1'='1/**/UNION/**/SELECT/**/key--";
    let user = "Robert.DROP-TABLE@users";
    let t = env.create(&[
        "--user",
        user,
        "--name",
        "bobby",
        "--description",
        description,
        "--path",
        path,
    ]);
    let key = env.run(&["show", &format!("{user}/bobby"), "--json"]);
    key.code(0);
    let key = key.json();
    assert_eq!(key["description"], description);
    assert_eq!(key["paths"], serde_json::json!([path]));
    assert_eq!(key["user"], user);
    assert_store_intact(&env.db);
    assert_eq!(env.verify(&t, &["--path", path]).0, 0);
    let list = env.run(&["list", "--json"]);
    assert_eq!(list.code(0).json().as_array().unwrap().len(), 1);
}

/// Text with every kind of terminal control keyctl must not pass through: CSI and OSC
/// escape sequences, a bell, a carriage return, an 8-bit CSI, backspaces and DEL.
const EVIL: &str = "A\u{1b}[31mB\u{1b}]0;owned\u{7}C\rD\u{9b}2JE\u{8}\u{8}F\u{7f}G";

#[test]
fn control_characters_planted_in_the_store_are_never_printed_raw() {
    let env = Env::sqlite();
    let token = env.create(&["--user", "svc", "--name", "deploy", "--path", "/api"]);
    let other = env.create(&["--user", "ops", "--name", "other"]);
    // keyctl refuses such text on input; plant it as another program with write access
    // to the store could.
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    conn.execute(
        "UPDATE keys SET name = ?1, description = ?1 || char(9) || 'tab',
                         paths = '/api' || char(10) || '/' || ?1",
        [EVIL],
    )
    .unwrap();
    conn.execute("UPDATE users SET name = ?1 WHERE name = 'svc'", [EVIL])
        .unwrap();
    conn.execute(
        "UPDATE keys SET prefix = ?1 WHERE id = ?2",
        [EVIL, id_of(&other)],
    )
    .unwrap();
    let third = env.create(&["--user", "ops"]);
    conn.execute(
        "UPDATE keys SET id = ?1 WHERE id = ?2",
        [format!("Z{EVIL}").as_str(), id_of(&third)],
    )
    .unwrap();
    drop(conn);

    let id = id_of(&token);
    let runs: Vec<(&str, Out)> = vec![
        ("list", env.run(&["list"])),
        ("list --all", env.run(&["list", "--all"])),
        ("list --json", env.run(&["list", "--json"])),
        ("show", env.run(&["show", id])),
        ("show other", env.run(&["show", id_of(&other)])),
        ("show --json", env.run(&["show", id, "--json"])),
        (
            "verify",
            env.run_stdin(&["verify"], format!("{token}\n").as_bytes()),
        ),
        (
            "verify --json",
            env.run_stdin(&["verify", "--json"], format!("{token}\n").as_bytes()),
        ),
        (
            "verify path",
            env.run_stdin(&["verify", "--path", "/x"], format!("{token}\n").as_bytes()),
        ),
        ("expire", env.run(&["expire", id, "30d"])),
        ("disable", env.run(&["disable", id])),
        ("enable", env.run(&["enable", id])),
        ("rotate", env.run(&["rotate", id, "--grace", "1h"])),
        ("delete", env.run(&["delete", id, "--yes"])),
    ];
    let no_controls = |s: &str| !s.chars().any(|c| c.is_control() && c != '\n');
    for (what, out) in &runs {
        // Values keyctl never writes: refused, naming the key and what is wrong.
        out.code(4);
        assert!(
            out.stderr.contains("a value keyctl did not write"),
            "{what}: {}",
            out.stderr
        );
        assert_eq!(out.stdout, "", "{what}");
        assert!(
            no_controls(&out.stderr),
            "{what}: raw control characters on stderr: {:?}",
            out.stderr
        );
    }
    assert!(
        runs[0].1.stderr.contains("\\u{1b}[31m"),
        "shown escaped: {}",
        runs[0].1.stderr
    );
}

#[test]
fn without_the_secret_verify_says_the_same_for_every_key_state() {
    let env = Env::sqlite();
    let ids: Vec<String> = ["active", "revoked", "disabled", "expired"]
        .iter()
        .map(|name| id_of(&env.create(&["--user", "svc", "--name", name])).to_owned())
        .collect();
    env.run(&["delete", "svc/revoked", "--yes"]).code(0);
    env.run(&["disable", "svc/disabled"]).code(0);
    env.run(&["expire", "svc/expired", "now"]).code(0);
    let rows = env.rows();

    let secret = "Q".repeat(keyctl::token::SECRET_LEN);
    let (code, nobody) = env.verify(&forge("kc", "NoSuchKey0000000", &secret), &[]);
    assert_eq!(code, 1);
    assert_eq!(nobody["reason"], "unknown");
    for id in &ids {
        // A well-formed token for a real key with a wrong secret: the same answer as for a
        // key that does not exist. Whether the key is revoked, disabled or expired, and whose
        // it is, is told only to someone holding its secret.
        let (code, v) = env.verify(&forge("kc", id, &secret), &[]);
        assert_eq!((code, &v), (1, &nobody), "key {id}");
        let plain = env.run_stdin(
            &["verify"],
            format!("{}\n", forge("kc", id, &secret)).as_bytes(),
        );
        assert_eq!(plain.code(1).stdout, "rejected: unknown\n");
    }
    assert_eq!(env.rows(), rows);
}

#[test]
fn another_user_can_neither_read_nor_use_the_store() {
    if !common::is_root() {
        common::skip(
            "needs root to run keyctl as another user (the store's modes are checked by store_file::new_store_is_private_whatever_the_umask)",
        );
        return;
    }
    let switch = ["--reuid=65534", "--regid=65534", "--clear-groups", "--"];
    let works = std::process::Command::new("setpriv")
        .args(switch)
        .arg("true")
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        common::skip("`setpriv` cannot switch to an unprivileged user here");
        return;
    }
    let env = Env::sqlite();
    let token = env.create(&["--user", "svc", "--name", "deploy"]);
    let rows = env.rows();
    use std::os::unix::fs::PermissionsExt;
    let open = std::fs::Permissions::from_mode(0o755);
    std::fs::set_permissions(env.dir.path(), open.clone()).unwrap();
    let as_nobody = |args: &[&str]| -> Out {
        let mut child = env
            .command_of("setpriv")
            .args(switch)
            .arg(env!("CARGO_BIN_EXE_keyctl"))
            .args(args)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            let _ = writeln!(stdin, "{token}");
        }
        child.wait_with_output().unwrap().into()
    };
    // First through the store's private directory (0700), then with the directory opened
    // up by mistake: the file itself (0600) still keeps everyone else out.
    for loosen_dir in [false, true] {
        if loosen_dir {
            std::fs::set_permissions(env.db.parent().unwrap(), open.clone()).unwrap();
        }
        for args in [
            vec!["list", "--all", "--json"],
            vec!["show", "svc/deploy"],
            vec!["verify"],
            vec!["create", "--user", "intruder"],
            vec!["reset", "svc/deploy"],
        ] {
            let out = as_nobody(&args);
            assert_eq!(out.code, 4, "{args:?} as nobody: {out:?}");
            assert_eq!(out.stdout, "", "{args:?}");
            assert!(out.stderr.contains("keyctl:"), "{args:?}: {}", out.stderr);
        }
    }
    assert_eq!(env.rows(), rows);
    assert_eq!(env.verify(&token, &[]).0, 0);
}
