//! A store file damaged or changed behind keyctl's back: random bytes flipped anywhere in
//! the file, hostile values planted in any column, schema markers set to odd values,
//! tables and indexes dropped or renamed. Whatever the damage, every command must end
//! with a documented exit code (0 to 4), never panic, hang or die of a signal, and never
//! put a raw control character on stdout or stderr.
//!
//! The cases are random but replayable: the seed is printed first and in every failure
//! (`KEYCTL_TEST_SEED=N` runs the same cases again, `KEYCTL_TEST_CASE=I` only case I).

use crate::common;

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Env, id_of};
use rusqlite::types::Value;

/// How many damaged stores the main test tries (`KEYCTL_CORRUPT_CASES` overrides it).
const CASES: usize = 1000;

/// Longest any one keyctl run may take before it counts as hung.
const LIMIT: Duration = Duration::from_secs(10);

/// Worker threads: the machines this runs on have two cores.
const THREADS: usize = 2;

// ---------------------------------------------------------------------------------------
// Randomness

/// A small deterministic generator (xorshift64*); each case gets its own, derived from
/// the run's seed and the case number, so a case replays alone and whatever thread runs it.
struct Rng(u64);

impl Rng {
    fn for_case(seed: u64, case: usize) -> Rng {
        // splitmix64 of the pair, so neighbouring cases start far apart.
        let mut z = seed
            .wrapping_add((case as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// The run's seed: `KEYCTL_TEST_SEED`, else the clock. Printed so a failure can be replayed.
fn seed() -> u64 {
    let seed = std::env::var("KEYCTL_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("seed {seed}; replay with KEYCTL_TEST_SEED={seed}");
    seed
}

// ---------------------------------------------------------------------------------------
// Running keyctl

/// What one bounded run of keyctl produced.
struct Run {
    args: Vec<String>,
    output: Output,
    elapsed: Duration,
}

/// Run keyctl in `env` with `args` and `input` on stdin; a run longer than [`LIMIT`] is
/// killed and reported as an error.
fn run_bounded(env: &Env, args: &[String], input: &[u8]) -> Result<Run, String> {
    let started = Instant::now();
    let mut child = env
        .command()
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start keyctl: {e}"))?;
    let mut stdin = child.stdin.take().expect("stdin");
    // keyctl may not read stdin at all; what fits in the pipe is enough.
    let _ = stdin.write_all(input);
    drop(stdin);
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(output) => Ok(Run {
            args: args.to_vec(),
            output: output.map_err(|e| format!("cannot wait for keyctl: {e}"))?,
            elapsed: started.elapsed(),
        }),
        Err(_) => {
            // SAFETY: kill has no memory effects; the child is not reaped yet, so `pid`
            // is still ours.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            let _ = rx.recv();
            Err(format!(
                "keyctl {} still running after {LIMIT:?}: killed (a hang)",
                args.join(" ")
            ))
        }
    }
}

/// The first character of `text` that must not reach a terminal raw, if any: any control
/// character but a newline (and a tab, where `tabs` allows it: the plain table's separator).
fn raw_control(text: &str, tabs: bool) -> Option<char> {
    text.chars()
        .find(|&c| c.is_control() && c != '\n' && !(tabs && c == '\t'))
}

/// Everything a run must satisfy, whatever the store holds.
fn check(run: &Run) -> Result<(), String> {
    let o = &run.output;
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    let show = || {
        format!(
            "keyctl {}: exit {:?} after {:?}\nstdout: {stdout:?}\nstderr: {stderr:?}",
            run.args.join(" "),
            o.status,
            run.elapsed
        )
    };
    let Some(code) = o.status.code() else {
        return Err(format!("killed by a signal: {}", show()));
    };
    if !(0..=4).contains(&code) {
        return Err(format!(
            "exit code {code} is not one of keyctl's (0 to 4; 101 is a panic, 134 an abort): {}",
            show()
        ));
    }
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        return Err(format!("a panic: {}", show()));
    }
    for (name, bytes, text) in [
        ("stdout", &o.stdout, &stdout),
        ("stderr", &o.stderr, &stderr),
    ] {
        if std::str::from_utf8(bytes).is_err() {
            return Err(format!("{name} is not UTF-8: {}", show()));
        }
        let plain_list =
            name == "stdout" && run.args[0] == "list" && !run.args.contains(&"--json".into());
        if let Some(c) = raw_control(text, plain_list) {
            return Err(format!("raw control character {c:?} on {name}: {}", show()));
        }
    }
    if code >= 2 {
        if !stderr.starts_with("keyctl: ") || stderr.trim_end().len() <= "keyctl:".len() {
            return Err(format!("a failure without a message on stderr: {}", show()));
        }
        // A failed command prints no data: above all no token for a change not made.
        if !o.stdout.is_empty() {
            return Err(format!("output on stdout for a failed command: {}", show()));
        }
    }
    if code <= 1 && run.args.iter().any(|a| a == "--json") {
        serde_json::from_slice::<serde_json::Value>(&o.stdout)
            .map_err(|e| format!("stdout is not JSON ({e}): {}", show()))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The template store

/// A valid store with keys in every state, built once and copied for each case.
struct Template {
    bytes: Vec<u8>,
    /// Every key's id.
    ids: Vec<String>,
    /// `USER/NAME` of the named keys.
    refs: Vec<String>,
    /// A token of each key, and the superseded one still in its grace period.
    tokens: Vec<String>,
}

fn template() -> Template {
    let env = Env::sqlite();
    let active = env.create(&[
        "--user",
        "svc",
        "--name",
        "deploy",
        "--description",
        "deploys from CI",
        "--path",
        "/api",
        "--path",
        "=/health",
    ]);
    let unnamed = env.create(&["--user", "svc", "--expire", "90d"]);
    let expired = env.create(&["--user", "svc", "--name", "old"]);
    env.run(&["expire", id_of(&expired), "now"]).code(0);
    let revoked = env.create(&[
        "--user",
        "ci",
        "--name",
        "gone",
        "--description",
        "was here",
    ]);
    env.run(&["delete", id_of(&revoked), "--yes"]).code(0);
    let disabled = env.create(&["--user", "ci", "--name", "off", "--path", "/api/"]);
    env.run(&["disable", id_of(&disabled)]).code(0);
    let superseded = env.create(&["--user", "ops", "--name", "rotated", "--prefix", "acme"]);
    let out = env.run(&["reset", id_of(&superseded), "--grace", "1h"]);
    out.code(0);
    let rotated = out.stdout.trim().to_owned();
    let described = env.create(&["--user", "ops", "--description", "café ☕ naïve"]);
    // Revoked and expired a day ago, so that `prune` has something to remove.
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    conn.execute(
        "UPDATE keys SET deleted = deleted - 86400 WHERE id = ?1",
        [id_of(&revoked)],
    )
    .unwrap();
    conn.execute(
        "UPDATE keys SET expires = expires - 86400 WHERE id = ?1",
        [id_of(&expired)],
    )
    .unwrap();
    drop(conn);
    assert!(
        !common::dump(&env.db).is_empty(),
        "the template store has rows"
    );
    let tokens = vec![
        active, unnamed, expired, revoked, disabled, superseded, rotated, described,
    ];
    let mut ids: Vec<String> = tokens.iter().map(|t| id_of(t).to_owned()).collect();
    ids.dedup();
    Template {
        bytes: std::fs::read(&env.db).unwrap(),
        ids,
        refs: ["svc/deploy", "svc/old", "ci/gone", "ci/off", "ops/rotated"]
            .map(String::from)
            .to_vec(),
        tokens,
    }
}

// ---------------------------------------------------------------------------------------
// Damage

/// Text keyctl must never pass to a terminal as it is.
const EVIL: &str = "A\u{1b}[31mB\u{1b}]0;owned\u{7}C\rD\u{9b}2JE\u{8}F\u{7f}G\u{0}H";

/// Flip 1 to 8 bytes: in the 100-byte header, elsewhere in the first page (the schema), or
/// anywhere in the file.
fn flip_bytes(rng: &mut Rng, bytes: &mut [u8]) -> String {
    let page = match u16::from_be_bytes([bytes[16], bytes[17]]) {
        1 => 65536,
        n => usize::from(n),
    }
    .clamp(512, bytes.len());
    let n = 1 + rng.below(8);
    let mut done = Vec::new();
    for _ in 0..n {
        let at = match rng.below(3) {
            0 => rng.below(100),
            1 => 100 + rng.below(page - 100),
            _ => rng.below(bytes.len()),
        };
        let before = bytes[at];
        bytes[at] = match rng.below(3) {
            0 => before ^ (1 << rng.below(8)),
            1 => rng.next() as u8,
            _ => *rng.pick(&[0x00, 0xff, 0x80, 0x7f, 0x1b]),
        };
        done.push(format!("[{at}] {before:#04x}->{:#04x}", bytes[at]));
    }
    format!("flip {}", done.join(" "))
}

/// A hostile value to store in a column, as SQL (with `?1` bound to the returned value)
/// and a short description.
fn hostile(rng: &mut Rng, t: &Template) -> (&'static str, Value, String) {
    let plain = |v: Value| ("?1", v);
    let (sql, value) = match rng.below(22) {
        0 => plain(Value::Null),
        1 => plain(Value::Integer(i64::MIN)),
        2 => plain(Value::Integer(i64::MAX)),
        3 => plain(Value::Integer(-1)),
        4 => plain(Value::Integer(0)),
        5 => plain(Value::Integer(253_402_300_800)),
        6 => plain(Value::Integer(rng.next() as i64)),
        7 => plain(Value::Real(*rng.pick(&[
            1.5,
            -0.0,
            1e300,
            -1e300,
            f64::INFINITY,
            1.7e9,
        ]))),
        8 => plain(Value::Blob(Vec::new())),
        9 => {
            let n = rng.below(64);
            plain(Value::Blob(rng.bytes(n)))
        }
        10 => plain(Value::Blob(b"\xff\xfe\x1b[31m".to_vec())),
        11 => plain(Value::Text(String::new())),
        12 => plain(Value::Text(EVIL.into())),
        13 => plain(Value::Text("\u{1b}[2J\u{1b}[H".into())),
        14 => plain(Value::Text("x".repeat(100_000))),
        15 => plain(Value::Text(
            (*rng.pick(&[
                "12abc",
                "1e3",
                " 42",
                "0x10",
                "-5",
                "9999999999999999999999",
            ]))
            .into(),
        )),
        16 => plain(Value::Text(rng.pick(&t.tokens).clone())),
        17 => plain(Value::Text(rng.pick(&t.ids).clone())),
        18 => plain(Value::Text(
            (*rng.pick(&[
                "/api\n/x", "/api\n", "\n", "/a b", "api", "=/x\n=/x", "/%00",
            ]))
            .into(),
        )),
        19 => plain(Value::Text(
            (*rng.pick(&["kc", "KC", "a_b", "é", "x\u{202e}y", "1,2,3", "12,x"])).into(),
        )),
        // Text that is not UTF-8: SQLite stores whatever bytes it is given as TEXT.
        20 => (
            "CAST(?1 AS TEXT)",
            Value::Blob(
                rng.pick(&[&b"\xff\xfe"[..], b"ab\xc3", b"\x1b[1m\xe2\x82", b"\xc0\xaf"])
                    .to_vec(),
            ),
        ),
        _ => {
            let n = 1 + rng.below(40);
            ("CAST(?1 AS TEXT)", Value::Blob(rng.bytes(n)))
        }
    };
    let shown = match &value {
        Value::Text(s) if s.len() > 40 => format!("text of {} bytes", s.len()),
        Value::Blob(b) if b.len() > 40 => format!("blob of {} bytes", b.len()),
        v => format!("{v:?}"),
    };
    (
        sql,
        value,
        if sql == "?1" {
            shown
        } else {
            format!("CAST({shown} AS TEXT)")
        },
    )
}

/// The columns whose values keyctl reads, by table.
const COLUMNS: &[(&str, &[&str])] = &[
    ("users", &["name", "id"]),
    (
        "keys",
        &[
            "id",
            "name",
            "description",
            "prefix",
            "digest",
            "paths",
            "created",
            "updated",
            "expires",
            "deleted",
            "disabled",
            "last_used",
            "user_id",
        ],
    ),
    ("superseded", &["digest", "until", "key_seq"]),
];

/// Remove the NOT NULL constraints of `table` the way another program could: by editing
/// the schema. Returns a new connection that sees the change.
fn loosen(db: &Path, conn: rusqlite::Connection, table: &str) -> rusqlite::Connection {
    let version: i64 = conn
        .query_row("PRAGMA schema_version", [], |r| r.get(0))
        .unwrap();
    conn.execute_batch("PRAGMA writable_schema = ON").unwrap();
    conn.execute(
        "UPDATE sqlite_schema SET sql = replace(sql, 'NOT NULL', '')
         WHERE type = 'table' AND name = ?1",
        [table],
    )
    .unwrap();
    conn.execute_batch(&format!(
        "PRAGMA schema_version = {}; PRAGMA writable_schema = OFF;",
        version + 1
    ))
    .unwrap();
    drop(conn);
    open_unchecked(db)
}

/// A connection as another program might open the store: without keyctl's foreign keys.
fn open_unchecked(db: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    conn
}

/// Set 1 to 3 columns of random rows (or of every row) to hostile values.
fn tamper_columns(rng: &mut Rng, t: &Template, db: &Path) -> String {
    let mut conn = open_unchecked(db);
    let mut done = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let (table, columns) = rng.pick(COLUMNS);
        let column = rng.pick(columns);
        let rowids: Vec<i64> = conn
            .prepare(&format!("SELECT rowid FROM {table} ORDER BY rowid"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        if rowids.is_empty() {
            continue;
        }
        let every = rng.below(5) == 0;
        let rowid = *rng.pick(&rowids);
        let (expr, value, shown) = hostile(rng, t);
        let sql = if every {
            format!("UPDATE {table} SET {column} = {expr}")
        } else {
            format!("UPDATE {table} SET {column} = {expr} WHERE rowid = {rowid}")
        };
        let mut result = conn.execute(&sql, [&value]);
        if let Err(e) = &result
            && e.to_string().contains("NOT NULL")
        {
            conn = loosen(db, conn, table);
            result = conn.execute(&sql, [&value]);
        }
        let rows = if every {
            "every row".to_owned()
        } else {
            format!("row {rowid}")
        };
        done.push(match result {
            Ok(_) => format!("{table}.{column} of {rows} = {shown}"),
            // A clash with a unique column: the store keeps its value.
            Err(e) => format!("({table}.{column} of {rows} = {shown} refused: {e})"),
        });
    }
    format!("set {}", done.join("; "))
}

/// Change the schema or its markers as another program could.
fn tamper_schema(rng: &mut Rng, db: &Path) -> String {
    let conn = open_unchecked(db);
    let any = i64::from(rng.next() as i32);
    let sql = match rng.below(9) {
        0 => format!(
            "PRAGMA user_version = {}",
            rng.pick(&[
                -1,
                0,
                1,
                3,
                255,
                i64::from(i32::MAX),
                i64::from(i32::MIN),
                any
            ])
        ),
        1 => format!(
            "PRAGMA application_id = {}",
            rng.pick(&[
                -1,
                0,
                1,
                i64::from(i32::MAX),
                i64::from(i32::MIN),
                0x6B63_746D,
                any
            ])
        ),
        2 => format!("DROP TABLE {}", rng.pick(&["users", "keys", "superseded"])),
        3 => format!(
            "ALTER TABLE {0} RENAME TO {0}_old",
            rng.pick(&["users", "keys", "superseded"])
        ),
        4 => format!(
            "DROP INDEX {}",
            rng.pick(&["keys_live_name", "keys_user", "superseded_key"])
        ),
        5 => format!(
            "ALTER TABLE {}",
            rng.pick(&[
                "keys RENAME COLUMN prefix TO pfx",
                "keys RENAME COLUMN digest TO hash",
                "keys DROP COLUMN last_used",
                "keys DROP COLUMN description",
                "superseded DROP COLUMN until",
                "users RENAME COLUMN name TO who",
                "keys ADD COLUMN extra TEXT DEFAULT 'x'",
            ])
        ),
        // Another program's trigger, failing every change with a message of its choosing.
        6 => format!(
            "CREATE TRIGGER evil BEFORE {} ON {} BEGIN SELECT RAISE(ABORT, '{}'); END",
            rng.pick(&["UPDATE", "DELETE", "INSERT"]),
            rng.pick(&["keys", "superseded", "users"]),
            EVIL.replace('\0', "")
        ),
        7 => format!(
            "CREATE VIEW {} AS SELECT 1",
            rng.pick(&["v", "keys_view", "\"\u{1b}[31m\""])
        ),
        _ => "PRAGMA journal_mode = WAL".to_owned(),
    };
    match conn.execute_batch(&sql) {
        Ok(()) => sql.escape_debug().to_string(),
        Err(e) => format!("({} refused: {e})", sql.escape_debug()),
    }
}

// ---------------------------------------------------------------------------------------
// Commands

/// A random command line, and what it reads on stdin.
fn command(rng: &mut Rng, t: &Template) -> (Vec<String>, Vec<u8>) {
    let key = if rng.below(6) == 0 {
        rng.pick(&t.refs).clone()
    } else {
        rng.pick(&t.ids).clone()
    };
    let token = format!("{}\n", rng.pick(&t.tokens)).into_bytes();
    let (args, input): (Vec<&str>, Vec<u8>) = match rng.below(17) {
        0 => (vec!["list"], vec![]),
        1 => (vec!["list", "--json"], vec![]),
        2 => (vec!["list", "--all"], vec![]),
        3 => (vec!["show", &key], vec![]),
        4 => (vec!["show", &key, "--json"], vec![]),
        5 => (vec!["verify"], token),
        6 => (vec!["verify", "--json"], token),
        7 => (vec!["verify", "--path", "/api/x"], token),
        8 => (vec!["expire", &key, "30d"], vec![]),
        9 => (vec!["disable", &key], vec![]),
        10 => (vec!["enable", &key], vec![]),
        11 => (vec!["reset", &key], vec![]),
        12 => (vec!["rotate", &key, "--grace", "1h", "--json"], vec![]),
        13 => (vec!["path", &key, "/x"], vec![]),
        14 => (vec!["delete", &key, "--yes"], vec![]),
        15 => (vec!["delete", &key, "--purge", "--yes"], vec![]),
        _ => (vec!["prune", "--older-than", "1s", "--yes"], vec![]),
    };
    (args.into_iter().map(String::from).collect(), input)
}

/// An [`Env`] in memory when the machine has a tmpfs at `/dev/shm`: what is tested here
/// is what keyctl prints, not how the disk keeps it, and a write command's fsyncs to a
/// real disk would be most of the run time.
fn scratch_env() -> Env {
    let dir = tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap());
    Env::sqlite_in(dir)
}

/// What one case did, for the summary.
#[derive(Default)]
struct Tally {
    runs: usize,
    by_code: [usize; 5],
    slowest: Duration,
}

/// Damage a copy of the template and run one to three commands on it.
fn run_case(t: &Template, seed: u64, case: usize, tally: &Mutex<Tally>) -> Result<(), String> {
    let mut rng = Rng::for_case(seed, case);
    let env = scratch_env();
    let dir = env.db.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let mut bytes = t.bytes.clone();
    let damage = match rng.below(10) {
        0..=4 => {
            let what = flip_bytes(&mut rng, &mut bytes);
            std::fs::write(&env.db, &bytes).unwrap();
            what
        }
        5..=8 => {
            std::fs::write(&env.db, &bytes).unwrap();
            tamper_columns(&mut rng, t, &env.db)
        }
        _ => {
            std::fs::write(&env.db, &bytes).unwrap();
            tamper_schema(&mut rng, &env.db)
        }
    };
    let mut done = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let (args, input) = command(&mut rng, t);
        let run = run_bounded(&env, &args, &input);
        let checked = run.as_ref().map_err(Clone::clone).and_then(check);
        if let Err(why) = checked {
            return Err(format!(
                "case {case} (replay with KEYCTL_TEST_SEED={seed} KEYCTL_TEST_CASE={case}): \
                 store damaged by: {damage}\nafter: {done:?}\n{why}"
            ));
        }
        let run = run.unwrap();
        let code = run.output.status.code().unwrap() as usize;
        let mut tally = tally.lock().unwrap();
        tally.runs += 1;
        tally.by_code[code] += 1;
        tally.slowest = tally.slowest.max(run.elapsed);
        done.push(format!("{} -> {code}", args.join(" ")));
    }
    Ok(())
}

#[test]
fn every_command_survives_a_damaged_store() {
    let started = Instant::now();
    let seed = seed();
    let t = template();
    let cases: Vec<usize> = match std::env::var("KEYCTL_TEST_CASE") {
        Ok(one) => vec![one.parse().expect("KEYCTL_TEST_CASE is a case number")],
        Err(_) => {
            let n = std::env::var("KEYCTL_CORRUPT_CASES")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(CASES);
            (0..n).collect()
        }
    };
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let tally = Mutex::new(Tally::default());
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&case) = cases.get(i) else { break };
                    if let Err(why) = run_case(&t, seed, case, &tally) {
                        failures.lock().unwrap().push((case, why));
                    }
                }
            });
        }
    });
    let tally = tally.into_inner().unwrap();
    eprintln!(
        "{} cases, {} runs of keyctl in {:?} (exit codes 0-4: {:?}; slowest run {:?})",
        cases.len(),
        tally.runs,
        started.elapsed(),
        tally.by_code,
        tally.slowest
    );
    let mut failures = failures.into_inner().unwrap();
    failures.sort_by_key(|(case, _)| *case);
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of {} cases failed; the first:\n\n{}",
        failures.len(),
        cases.len(),
        failures
            .iter()
            .take(5)
            .map(|(_, why)| why.as_str())
            .collect::<Vec<_>>()
            .join("\n\n")
    );
    // Damage that keyctl shrugs off and damage it refuses must both have come up, or the
    // cases test less than they claim.
    if cases.len() >= CASES {
        assert!(
            tally.by_code[0] > 0 && tally.by_code[4] > 0,
            "{:?}",
            tally.by_code
        );
    }
}

// ---------------------------------------------------------------------------------------
// Regressions: one damage each, with what keyctl must say about it

/// Every command line that opens the store, on the key `id` where it takes one.
fn every_command(id: &str) -> Vec<Vec<String>> {
    [
        vec!["create", "--user", "svc"],
        vec!["list"],
        vec!["list", "--all", "--json"],
        vec!["show", id],
        vec!["show", id, "--json"],
        vec!["verify"],
        vec!["verify", "--json", "--path", "/api/x"],
        vec!["expire", id, "30d"],
        vec!["disable", id],
        vec!["enable", id],
        vec!["reset", id],
        vec!["rotate", id, "--grace", "1h", "--json"],
        vec!["path", id, "/x"],
        vec!["delete", id, "--yes"],
        vec!["delete", id, "--purge", "--yes"],
        vec!["prune", "--older-than", "1s", "--yes"],
    ]
    .into_iter()
    .map(|args| args.into_iter().map(String::from).collect())
    .collect()
}

/// Run `args` (the token on stdin), asserting the run passes [`check`] and exits `code`.
#[track_caller]
fn run_checked(env: &Env, args: &[String], token: &str, code: i32) -> Run {
    let run = run_bounded(env, args, format!("{token}\n").as_bytes()).unwrap();
    if let Err(why) = check(&run) {
        panic!("{why}");
    }
    assert_eq!(
        run.output.status.code(),
        Some(code),
        "keyctl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&run.output.stderr)
    );
    run
}

fn stderr(run: &Run) -> String {
    String::from_utf8_lossy(&run.output.stderr).into_owned()
}

#[test]
fn a_negative_schema_version_is_refused_by_every_command_untouched() {
    let env = Env::sqlite();
    let token = env.create(&["--user", "svc", "--name", "deploy"]);
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    conn.pragma_update(None, "user_version", -1).unwrap();
    drop(conn);
    let before = std::fs::read(&env.db).unwrap();
    for args in every_command(id_of(&token)) {
        let run = run_checked(&env, &args, &token, 4);
        let said = stderr(&run);
        assert!(
            said.contains("its schema version is -1, which keyctl never writes")
                && said.contains("left untouched"),
            "keyctl {}: {said}",
            args.join(" ")
        );
        assert!(run.output.stdout.is_empty(), "keyctl {}", args.join(" "));
    }
    assert!(
        std::fs::read(&env.db).unwrap() == before,
        "the file is unchanged"
    );
}

#[test]
fn a_tampered_prefix_makes_reset_fail_before_any_token_is_printed() {
    for prefix in ["KC", "", "a_b", EVIL] {
        let env = Env::sqlite();
        let token = env.create(&["--user", "svc", "--name", "deploy"]);
        let id = id_of(&token);
        let conn = rusqlite::Connection::open(&env.db).unwrap();
        conn.execute("UPDATE keys SET prefix = ?1", [prefix])
            .unwrap();
        drop(conn);
        let rows = env.rows();
        for args in [
            vec!["reset", id],
            vec!["rotate", id, "--grace", "1h", "--json"],
        ] {
            let args: Vec<String> = args.into_iter().map(String::from).collect();
            let run = run_checked(&env, &args, "", 4);
            assert!(
                run.output.stdout.is_empty(),
                "no token for a reset not made"
            );
            assert!(
                stderr(&run)
                    .contains("holds a value keyctl did not write (the token prefix of key"),
                "prefix {prefix:?}: {}",
                stderr(&run)
            );
        }
        assert_eq!(
            env.rows(),
            rows,
            "prefix {prefix:?}: the secret is unchanged"
        );
        assert_eq!(env.verify(&token, &[]).0, 0, "the token still works");
    }
}

#[test]
fn sqlite_messages_quoting_a_damaged_store_are_escaped() {
    // A trigger's RAISE text and a damaged schema entry reach keyctl as SQLite's message.
    let env = Env::sqlite();
    let token = env.create(&["--user", "svc", "--name", "deploy"]);
    let id = id_of(&token);
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    conn.execute_batch(&format!(
        "CREATE TRIGGER evil BEFORE UPDATE ON keys BEGIN SELECT RAISE(ABORT, '{}'); END",
        EVIL.replace('\0', "")
    ))
    .unwrap();
    drop(conn);
    let run = run_checked(&env, &["disable".into(), id.into()], "", 4);
    assert!(stderr(&run).contains("A\\u{1b}[31mB"), "{}", stderr(&run));

    let env = Env::sqlite();
    env.create(&["--user", "svc"]);
    let mut bytes = std::fs::read(&env.db).unwrap();
    // The first page holds the schema as SQL text; put an escape in the middle of a word.
    let at = bytes
        .windows(6)
        .position(|w| w == b"digest")
        .expect("the schema names the digest column");
    bytes[at + 2] = 0x1b;
    std::fs::write(&env.db, &bytes).unwrap();
    for args in [vec!["list"], vec!["show", "svc/x"]] {
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        let run = run_checked(&env, &args, "", 4);
        assert!(stderr(&run).contains("\\u{1b}"), "{}", stderr(&run));
    }
}

#[test]
fn values_of_a_type_keyctl_never_writes_are_reported_as_damage() {
    let cases: &[(&str, &str, Value, &str)] = &[
        (
            "expires",
            "?1",
            Value::Text("soon".into()),
            "the expiry of key",
        ),
        (
            "created",
            "?1",
            Value::Real(1.5),
            "the creation time of key",
        ),
        (
            "last_used",
            "?1",
            Value::Blob(vec![1, 2]),
            "the last use of key",
        ),
        (
            "description",
            "CAST(?1 AS TEXT)",
            Value::Blob(b"ab\xff".to_vec()),
            "not valid UTF-8",
        ),
        ("name", "?1", Value::Blob(vec![0x1b]), "the name of key"),
        (
            "paths",
            "?1",
            Value::Blob(b"/api".to_vec()),
            "the path prefixes of key",
        ),
        ("digest", "?1", Value::Text("secret".into()), "digest"),
    ];
    for (column, expr, value, names) in cases {
        let env = Env::sqlite();
        let token = env.create(&["--user", "svc", "--name", "deploy"]);
        let conn = rusqlite::Connection::open(&env.db).unwrap();
        conn.execute(&format!("UPDATE keys SET {column} = {expr}"), [value])
            .unwrap();
        drop(conn);
        // `show` reads every column but the digest; `verify` reads the digest.
        let args: Vec<String> = if *column == "digest" {
            vec!["verify".into()]
        } else {
            vec!["show".into(), id_of(&token).into()]
        };
        let run = run_checked(&env, &args, &token, 4);
        let said = stderr(&run);
        assert!(
            said.contains("holds a value keyctl did not write") && said.contains(names),
            "{column} = {value:?}: {said}"
        );
        assert!(!said.contains("Invalid column type"), "{said}");
    }
    // The end of a grace period that is no number is named as it is, not as some number.
    let env = Env::sqlite();
    let token = env.create(&["--user", "svc", "--name", "deploy"]);
    env.run(&["reset", id_of(&token), "--grace", "1h"]).code(0);
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    conn.execute("UPDATE superseded SET until = 'soon'", [])
        .unwrap();
    drop(conn);
    let run = run_checked(&env, &["show".into(), id_of(&token).into()], "", 4);
    assert!(
        stderr(&run).contains("(the grace end of key \"")
            && stderr(&run).contains("\"soon\" is not a time)"),
        "{}",
        stderr(&run)
    );
}

#[test]
fn a_header_with_an_unknown_file_format_is_refused_untouched() {
    // SQLite opens such a file read-only and then blames the file's permissions.
    for (at, value) in [(18, 3), (19, 3), (18, 0), (19, 0x7f)] {
        let env = Env::sqlite();
        let token = env.create(&["--user", "svc", "--name", "deploy"]);
        let mut bytes = std::fs::read(&env.db).unwrap();
        bytes[at] = value;
        std::fs::write(&env.db, &bytes).unwrap();
        for args in [vec!["list"], vec!["disable", id_of(&token)]] {
            let args: Vec<String> = args.into_iter().map(String::from).collect();
            let run = run_checked(&env, &args, "", 4);
            let said = stderr(&run);
            assert!(
                said.contains("is damaged: its header gives file format versions")
                    && !said.contains("read-only"),
                "byte {at} = {value}: {said}"
            );
        }
        assert!(std::fs::read(&env.db).unwrap() == bytes, "left untouched");
    }
}

#[test]
fn a_schema_keyctl_did_not_make_is_named_without_quoting_sql() {
    let env = Env::sqlite();
    let token = env.create(&["--user", "svc", "--name", "deploy"]);
    let conn = rusqlite::Connection::open(&env.db).unwrap();
    conn.execute_batch("ALTER TABLE keys RENAME COLUMN prefix TO pfx")
        .unwrap();
    drop(conn);
    for args in [vec!["list"], vec!["show", id_of(&token)]] {
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        let run = run_checked(&env, &args, "", 4);
        let said = stderr(&run);
        assert!(
            said.contains("does not have the tables keyctl made (no such column: k.prefix)"),
            "{said}"
        );
        assert!(
            !said.contains("SELECT") && said.lines().count() == 1,
            "{said}"
        );
    }
}
