//! Test harness: every test gets its own temporary directory and store, a clean environment,
//! and runs the built `keyctl` binary as a user would.

#![allow(dead_code)]

#[cfg(feature = "postgres")]
pub mod pg;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// What one run of keyctl produced.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    fn from(o: Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Assert the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Out {
        assert_eq!(
            self.code, expected,
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Parse stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

impl From<Output> for Out {
    fn from(o: Output) -> Out {
        Out::from(o)
    }
}

/// A test cannot run here (a tool or a privilege is missing): under `KEYCTL_TEST_STRICT=1`
/// (CI, which installs everything) that fails the test; otherwise it says why and the
/// caller returns, and the test passes without having checked anything.
#[track_caller]
pub fn skip(why: &str) {
    if std::env::var_os("KEYCTL_TEST_STRICT").is_some_and(|v| v == "1") {
        panic!("KEYCTL_TEST_STRICT=1 and this test cannot run: {why}");
    }
    eprintln!("skipped: {why}");
}

/// Whether util-linux `script` is here to fake a terminal; when not, the test is skipped
/// (a failure under `KEYCTL_TEST_STRICT=1`).
pub fn has_script() -> bool {
    let found = Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        skip("util-linux `script` is not installed, so no terminal can be faked");
    }
    found
}

/// True when the test runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The current time in whole seconds since the epoch, for bounding timestamps keyctl writes.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Seconds since the epoch of a JSON timestamp, asserting keyctl's format
/// (RFC 3339, whole seconds, `Z`: `2026-11-22T10:40:54Z`).
#[track_caller]
pub fn secs(v: &serde_json::Value) -> i64 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("timestamp is a string: {v}"));
    let shape_ok = s.len() == 20
        && s.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    assert!(shape_ok, "timestamp {s:?} is not YYYY-MM-DDTHH:MM:SSZ");
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("timestamp {s:?}: {e}"))
        .timestamp()
}

/// Run keyctl with `args`, expecting exit 2 (invalid input), no output on stdout, a reason
/// on stderr, and the store unchanged.
#[track_caller]
pub fn refused(env: &Env, args: &[&str]) -> Out {
    let before = env.rows();
    let out = env.run(args);
    assert_eq!(
        out.code, 2,
        "{args:?} should be refused with exit 2; stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert_eq!(out.stdout, "", "{args:?} printed data");
    assert!(!out.stderr.is_empty(), "{args:?} says why on stderr");
    assert_eq!(env.rows(), before, "{args:?} changed the store");
    out
}

/// `keyctl show KEY --json`, checked for its shape.
#[track_caller]
pub fn show(env: &Env, key: &str) -> serde_json::Value {
    let v = env.run(&["show", key, "--json"]).code(0).json();
    assert_key_json(&v);
    v
}

/// `keyctl list --json` with extra args, each key checked for its shape.
#[track_caller]
pub fn list(env: &Env, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["list", "--json"];
    all.extend_from_slice(args);
    let v = env.run(&all).code(0).json();
    let keys = v.as_array().expect("list --json prints an array").clone();
    keys.iter().for_each(assert_key_json);
    keys
}

/// The ids `list --json` prints with `args`.
#[track_caller]
pub fn listed(env: &Env, args: &[&str]) -> Vec<String> {
    list(env, args)
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The 43-character secret of a token: what must never be repeated anywhere.
pub fn secret_of(token: &str) -> &str {
    let body = token.rsplit('_').next().expect("a token");
    &body[..keyctl::token::SECRET_LEN]
}

/// A well-formed token (correct checksum) for key `id`, with a secret keyctl never issued.
pub fn forged(id: &str) -> String {
    let token = keyctl::token::generate(&"kc".parse().unwrap(), &id.parse().unwrap()).unwrap();
    token.reveal().to_owned()
}

/// The key id a token carries: `<prefix>_<id>_<rest>`.
pub fn id_of(token: &str) -> &str {
    token.split('_').nth(1).expect("token has an id part")
}

/// The JSON of one key, as documented (create and reset add `token`). Decoding into it
/// fails on a field renamed, added or missing.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct KeyJson {
    pub id: String,
    pub user: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub prefix: String,
    pub paths: Vec<String>,
    pub created: String,
    pub updated: String,
    pub expires: Option<String>,
    pub deleted: Option<String>,
    pub disabled: Option<String>,
    pub last_used: Option<String>,
    pub superseded: Vec<String>,
    pub status: String,
    pub adopted: bool,
    #[serde(default)]
    pub token: Option<String>,
}

/// The JSON of a verdict (`verify --json`, `POST /v1/verify`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct VerdictJson {
    pub valid: bool,
    pub reason: Option<String>,
    pub id: Option<String>,
    pub user: Option<String>,
    pub name: Option<String>,
    pub expires: Option<String>,
    pub paths: Vec<String>,
    pub superseded: bool,
    pub grace_until: Option<String>,
    pub source: Option<String>,
    pub warnings: Vec<String>,
}

/// The fields every key has in JSON (create, list, show, reset, expire, path, delete): every
/// field of [`KeyJson`] but `token`.
pub const KEY_FIELDS: [&str; 15] = [
    "id",
    "user",
    "name",
    "description",
    "prefix",
    "paths",
    "created",
    "updated",
    "expires",
    "deleted",
    "disabled",
    "last_used",
    "superseded",
    "status",
    "adopted",
];

/// Decode `v` into `T`, failing the test with the JSON when it does not fit.
#[track_caller]
pub fn decode<T: serde::de::DeserializeOwned>(v: &serde_json::Value) -> T {
    serde_json::from_value(v.clone())
        .unwrap_or_else(|e| panic!("JSON does not have the documented shape ({e}): {v}"))
}

/// Assert the JSON shape of one key: every documented field, timestamps in keyctl's format,
/// and no secret material under any name.
#[track_caller]
pub fn assert_key_json(k: &serde_json::Value) {
    let obj = k
        .as_object()
        .unwrap_or_else(|| panic!("key is an object: {k}"));
    for f in KEY_FIELDS {
        assert!(obj.contains_key(f), "key JSON lacks {f:?}: {k}");
    }
    let _: KeyJson = decode(k);
    assert!(k["id"].is_string() && k["user"].is_string() && k["prefix"].is_string());
    assert!(k["paths"].is_array(), "paths is an array: {k}");
    secs(&k["created"]);
    secs(&k["updated"]);
    for f in ["expires", "deleted"] {
        if !k[f].is_null() {
            secs(&k[f]);
        }
    }
    assert!(k["adopted"].is_boolean(), "adopted is true or false: {k}");
    let status = k["status"].as_str().expect("status");
    assert!(
        ["active", "expired", "revoked", "disabled"].contains(&status),
        "status {status}"
    );
    assert_no_secret_fields(k);
}

/// No object anywhere in `v` has a field that looks like stored secret material.
#[track_caller]
pub fn assert_no_secret_fields(v: &serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (name, value) in m {
                let n = name.to_ascii_lowercase();
                assert!(
                    !["hash", "digest", "secret", "sha"]
                        .iter()
                        .any(|bad| n.contains(bad)),
                    "field {name:?} looks like secret material: {v}"
                );
                assert_no_secret_fields(value);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(assert_no_secret_fields),
        _ => {}
    }
}

/// A temporary home with its own store: a file in the temp dir, or a database named by a
/// URL ([`Env::at_url`]).
pub struct Env {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    /// The store's URL when it is a PostgreSQL database; `db` is then unused.
    pub url: Option<String>,
    /// The database made for this env, dropped with it.
    #[cfg(feature = "postgres")]
    _database: Option<pg::TestDb>,
}

/// Whether the behaviour suites run against PostgreSQL (`KEYCTL_TEST_BACKEND=postgres`)
/// rather than an SQLite file.
pub fn on_postgres() -> bool {
    std::env::var("KEYCTL_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// `ask` again until `done` holds of its answer, for as long as a committed change may
/// take to reach a running `keyctl serve`: no time at all on SQLite, where serve reads the
/// store's header with every request; on PostgreSQL the change arrives by notification,
/// within the second the README promises. The last answer.
pub fn settled<T>(done: impl Fn(&T) -> bool, mut ask: impl FnMut() -> T) -> T {
    use std::time::{Duration, Instant};
    let patience = if on_postgres() {
        Duration::from_secs(1)
    } else {
        Duration::ZERO
    };
    let start = Instant::now();
    loop {
        let answer = ask();
        if done(&answer) || start.elapsed() >= patience {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl Env {
    /// A fresh store: a file in a new temp dir, or, when the suites run against PostgreSQL,
    /// a new database on the test server.
    pub fn new() -> Env {
        if on_postgres() {
            #[cfg(feature = "postgres")]
            {
                let database = pg::fresh_db()
                    .expect("KEYCTL_TEST_BACKEND=postgres needs KEYCTL_TEST_POSTGRES");
                let mut env = Env::at_url(&database.url);
                env._database = Some(database);
                return env;
            }
            #[cfg(not(feature = "postgres"))]
            panic!("KEYCTL_TEST_BACKEND=postgres needs a build with the postgres feature");
        }
        Env::sqlite()
    }

    /// A fresh store in an SQLite file, whatever the suites run against: for tests about
    /// the file itself.
    pub fn sqlite() -> Env {
        Env::sqlite_in(tempfile::tempdir().expect("tempdir"))
    }

    /// [`Env::sqlite`] in a temp dir of the caller's choice.
    pub fn sqlite_in(dir: tempfile::TempDir) -> Env {
        let db = dir.path().join("store").join("keys.db");
        Env {
            dir,
            db,
            url: None,
            #[cfg(feature = "postgres")]
            _database: None,
        }
    }

    /// A temporary home whose store is the database at `url` (`KEYCTL_DB=url`).
    pub fn at_url(url: &str) -> Env {
        Env {
            url: Some(url.to_owned()),
            ..Env::sqlite()
        }
    }

    /// Whether the store exists yet (a file, or keyctl's schema in the database).
    pub fn store_exists(&self) -> bool {
        match &self.url {
            #[cfg(feature = "postgres")]
            Some(url) => pg::client(url)
                .query_one("SELECT to_regnamespace('keyctl') IS NOT NULL", &[])
                .map(|r| r.get::<_, bool>(0))
                .unwrap_or(false),
            #[cfg(not(feature = "postgres"))]
            Some(_) => unreachable!("a database store without the postgres feature"),
            None => self.db.exists(),
        }
    }

    /// Run SQL statements on the store's tables, as another program with write access
    /// could (tests use it to age keys or to tamper).
    pub fn sql(&self, statements: &str) {
        match &self.url {
            #[cfg(feature = "postgres")]
            Some(url) => pg::client(url)
                .batch_execute(&format!("SET search_path TO keyctl; {statements}"))
                .unwrap_or_else(|e| panic!("{statements}: {e}")),
            #[cfg(not(feature = "postgres"))]
            Some(_) => unreachable!("a database store without the postgres feature"),
            None => self
                .sqlite_conn()
                .and_then(|c| c.execute_batch(statements))
                .unwrap_or_else(|e| panic!("{statements}: {e}")),
        }
    }

    /// The one integer a query on the store's tables gives.
    pub fn query_i64(&self, query: &str) -> i64 {
        match &self.url {
            #[cfg(feature = "postgres")]
            Some(url) => {
                let mut c = pg::client(url);
                c.batch_execute("SET search_path TO keyctl").unwrap();
                c.query_one(query, &[])
                    .map(|r| r.get::<_, i64>(0))
                    .unwrap_or_else(|e| panic!("{query}: {e}"))
            }
            #[cfg(not(feature = "postgres"))]
            Some(_) => unreachable!("a database store without the postgres feature"),
            None => self
                .sqlite_conn()
                .and_then(|c| c.query_row(query, [], |r| r.get(0)))
                .unwrap_or_else(|e| panic!("{query}: {e}")),
        }
    }

    /// A connection to the store file that waits for keyctl's locks as keyctl does.
    fn sqlite_conn(&self) -> rusqlite::Result<rusqlite::Connection> {
        let conn = rusqlite::Connection::open(&self.db)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(conn)
    }

    /// What `KEYCTL_DB` says for this env: the store file, or the database URL.
    pub fn location(&self) -> std::ffi::OsString {
        match &self.url {
            Some(url) => url.into(),
            None => self.db.clone().into_os_string(),
        }
    }

    /// A command for the built binary with a controlled environment: no inherited
    /// `KEYCTL_*`, `PG*`, `NO_COLOR` or `XDG_*`; `HOME` and `XDG_DATA_HOME` inside the temp dir;
    /// `KEYCTL_DB` pointing at this env's store (file or database).
    pub fn command(&self) -> Command {
        self.command_of(env!("CARGO_BIN_EXE_keyctl"))
    }

    /// Like [`Env::command`], for another program (`script`, `setpriv`, `sh`) that runs keyctl
    /// in the same controlled environment.
    pub fn command_of(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            // PG*: a PostgreSQL store is named by its whole URL, never by the environment
            // of whoever runs the tests (pg_virtualenv sets PGPASSWORD, PGHOST, ...).
            if k.starts_with("KEYCTL_")
                || k.starts_with("XDG_")
                || k.starts_with("PG")
                || k == "NO_COLOR"
                || k == "TERM"
            {
                cmd.env_remove(&key);
            }
        }
        cmd.env("HOME", self.dir.path())
            .env("XDG_DATA_HOME", self.dir.path().join("xdg"))
            .env("KEYCTL_DB", self.location())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Run keyctl with `args` and stdin closed.
    pub fn run(&self, args: &[&str]) -> Out {
        Out::from(self.command().args(args).output().expect("run keyctl"))
    }

    /// Run keyctl with `args`, feeding `input` on stdin.
    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Out {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn keyctl");
        let mut stdin = child.stdin.take().expect("stdin");
        // keyctl may stop reading early (oversized input); a broken pipe here is expected.
        let _ = stdin.write_all(input);
        drop(stdin);
        Out::from(child.wait_with_output().expect("wait keyctl"))
    }

    /// Create a key and return its token, asserting success.
    #[track_caller]
    pub fn create(&self, args: &[&str]) -> String {
        let mut all = vec!["create"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        out.code(0);
        let token = out
            .stdout
            .strip_suffix('\n')
            .expect("token line")
            .to_owned();
        assert!(
            !token.contains('\n'),
            "stdout is exactly one line: {:?}",
            out.stdout
        );
        token
    }

    /// Verify a token given on stdin, with extra args; returns the JSON verdict and exit code.
    pub fn verify(&self, token: &str, args: &[&str]) -> (i32, serde_json::Value) {
        let mut all = vec!["verify", "--json"];
        all.extend_from_slice(args);
        let out = self.run_stdin(&all, format!("{token}\n").as_bytes());
        let v = out.json();
        let _: VerdictJson = decode(&v);
        (out.code, v)
    }

    /// Every row of the store, as text, for "nothing changed" checks. Empty when no store.
    pub fn rows(&self) -> String {
        #[cfg(feature = "postgres")]
        if let Some(url) = &self.url {
            return pg::rows(url);
        }
        dump(&self.db)
    }

    /// Everything the store holds, for checks that a secret is not in it: the file's bytes,
    /// or every row of the database as text.
    pub fn stored_bytes(&self) -> Vec<u8> {
        match &self.url {
            Some(_) => self.rows().into_bytes(),
            None => std::fs::read(&self.db).expect("the store file"),
        }
    }

    /// [`Env::rows`] without the audit log: for changes undone, which the log records.
    pub fn keys_rows(&self) -> String {
        self.rows()
            .lines()
            .filter(|l| !l.starts_with("events:"))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    /// The actions of the audit log, in order.
    pub fn actions(&self) -> Vec<String> {
        let out = self.run(&["log", "--json"]);
        out.code(0);
        out.json()
            .as_array()
            .expect("an array of events")
            .iter()
            .map(|e| e["action"].as_str().expect("an action").to_owned())
            .collect()
    }
}

/// All rows of all tables of the store at `path`, read-only.
pub fn dump(path: &Path) -> String {
    if !path.exists() {
        return String::new();
    }
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open store");
    let mut out = String::new();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for t in tables {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{t}\" ORDER BY rowid"))
            .unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            let vals: Vec<String> = (0..n)
                .map(|i| match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) => {
                        format!("{:?}", String::from_utf8_lossy(t))
                    }
                    other => format!("{other:?}"),
                })
                .collect();
            out.push_str(&format!("{t}: {}\n", vals.join(" | ")));
        }
    }
    out
}

/// Give the store back to the test's own user after [`unprivileged`].
pub fn restore_access(env: &Env) {
    let dir = env.db.parent().unwrap();
    if is_root() {
        for p in [&env.db, &dir.to_path_buf()] {
            std::os::unix::fs::chown(p, Some(0), Some(0)).unwrap();
        }
    }
    std::fs::set_permissions(&env.db, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// The path of a store's journal (`-journal`) or WAL (`-wal`) file.
pub fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Runs keyctl with some arguments and some input on stdin.
pub type Runner<'a> = Box<dyn Fn(&[&str], &[u8]) -> Out + 'a>;

/// How to run keyctl as a user who cannot write the store; `None` (after saying why) when
/// that cannot be arranged here.
pub fn unprivileged(env: &Env) -> Option<Runner<'_>> {
    let root = is_root();
    let dir = env.db.parent().unwrap().to_owned();
    if !root {
        std::fs::set_permissions(&env.db, std::fs::Permissions::from_mode(0o400)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();
        return Some(Box::new(move |args, input| env.run_stdin(args, input)));
    }
    // Root ignores permissions: run keyctl as `nobody` instead, if setpriv can switch.
    let nobody = 65534;
    let works = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "true",
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        skip(
            "running as root and `setpriv` cannot switch to an unprivileged user, so read-only access cannot be tested",
        );
        return None;
    }
    for p in [&env.db, &dir] {
        std::os::unix::fs::chown(p, Some(nobody), Some(nobody)).unwrap();
    }
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&env.db, std::fs::Permissions::from_mode(0o400)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();
    Some(Box::new(move |args, input| {
        let mut child = env
            .command_of("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_keyctl"))
            .args(args)
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn setpriv");
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(input);
        drop(stdin);
        child.wait_with_output().expect("wait").into()
    }))
}

/// How long a test waits for a terminal session before it gives up and kills it.
const TERMINAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A shell command line running on a pseudo-terminal through util-linux `script`, with
/// `$KEYCTL` set to the built binary: typing into it, waiting for what it shows, and its
/// exit code and everything the terminal showed (keyctl's stdout and stderr, and the echo of
/// what was typed) at the end. A session that outlives [`TERMINAL_TIMEOUT`] is killed.
pub struct Terminal {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    shown: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Terminal {
    /// Start `shell` (sh syntax) on a terminal, with extra environment `vars`. `None`, after
    /// saying so, when `script` is not installed; with `KEYCTL_TEST_STRICT=1` that fails.
    pub fn start(env: &Env, shell: &str, vars: &[(&str, &str)]) -> Option<Terminal> {
        use std::io::Read;
        if !has_script() {
            return None;
        }
        let mut cmd = env.command_of("script");
        cmd.args(["-qec", shell, "/dev/null"])
            .env("KEYCTL", env!("CARGO_BIN_EXE_keyctl"))
            .stdin(Stdio::piped());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn script");
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("script stdout");
        let shown = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = shown.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Some(Terminal {
            child,
            stdin,
            shown,
            reader: Some(reader),
        })
    }

    /// Type `input` at the terminal.
    pub fn type_in(&mut self, input: &[u8]) {
        let stdin = self.stdin.as_mut().expect("input not closed yet");
        stdin.write_all(input).expect("type into script");
        stdin.flush().expect("type into script");
    }

    /// Everything the terminal has shown so far.
    pub fn shown(&self) -> String {
        String::from_utf8_lossy(&self.shown.lock().unwrap()).into_owned()
    }

    /// Wait until the terminal has shown `text`.
    #[track_caller]
    pub fn wait_for(&self, text: &str) {
        let deadline = std::time::Instant::now() + TERMINAL_TIMEOUT;
        while !self.shown().contains(text) {
            assert!(
                std::time::Instant::now() < deadline,
                "the terminal never showed {text:?}; it showed:\n{}",
                self.shown()
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// End the input (`script` passes that on as one Ctrl-D) and wait for the command line to
    /// finish: its exit code, and what the terminal showed as stdout.
    #[track_caller]
    pub fn finish(mut self) -> Out {
        drop(self.stdin.take());
        let deadline = std::time::Instant::now() + TERMINAL_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait script") {
                break status;
            }
            if std::time::Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the terminal session did not end; it showed:\n{}",
                    self.shown()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        if let Some(reader) = self.reader.take() {
            reader.join().expect("terminal reader");
        }
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut stderr);
        }
        Out {
            code: status.code().unwrap_or(-1),
            stdout: self.shown(),
            stderr,
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // A test that failed half-way leaves no session behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Run `shell` on a terminal (see [`Terminal`]), typing all of `input` at once; `None` when
/// `script` is not installed.
pub fn on_terminal(env: &Env, shell: &str, input: &[u8], vars: &[(&str, &str)]) -> Option<Out> {
    let mut term = Terminal::start(env, shell, vars)?;
    term.type_in(input);
    Some(term.finish())
}

/// A `keyctl serve` started by a test on a free loopback port (unless `args` name a
/// `--listen`), stopped with SIGTERM when dropped.
pub struct Served {
    child: Option<std::process::Child>,
    /// The first TCP port it listens on (0 when it listens on sockets only).
    pub port: u16,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    /// Start `keyctl serve ARGS` for `env`'s store and wait until it says it is serving.
    pub fn start(env: &Env, args: &[&str]) -> Served {
        use std::io::BufRead;
        let mut cmd = env.command();
        cmd.arg("serve");
        if !args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        let mut child = cmd.args(args).spawn().expect("spawn keyctl serve");
        let stderr = child.stderr.take().expect("stderr");
        let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Option<u16>>();
        let sink = std::sync::Arc::clone(&text);
        let reader = std::thread::spawn(move || {
            let mut ready = Some(ready_tx);
            let mut port = None;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("keyctl: serving http://127.0.0.1:") {
                    port = port.or(addr.trim().parse().ok());
                }
                let serving = line.starts_with("keyctl: serving");
                sink.lock().unwrap().push_str(&format!("{line}\n"));
                if serving && let Some(tx) = ready.take() {
                    // Every listener prints its line before serving begins; wait briefly
                    // for the others.
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    let _ = tx.send(port);
                }
            }
            if let Some(tx) = ready {
                let _ = tx.send(None);
            }
        });
        let port = ready_rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .ok()
            .flatten();
        let served = Served {
            child: Some(child),
            port: port.unwrap_or(0),
            stderr: text,
            reader: Some(reader),
        };
        assert!(
            served.stderr().contains("keyctl: serving"),
            "keyctl serve did not start: {}",
            served.stderr()
        );
        served
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// One request to it; see [`http`].
    pub fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        http(self.port, method, target, headers, body)
    }

    /// Send SIGTERM and wait for it to exit; returns its exit code and all it printed.
    pub fn stop(mut self) -> (Option<i32>, String) {
        let code = self.terminate();
        (code, self.stderr())
    }

    fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait serve") {
                break status;
            }
            if started.elapsed() > std::time::Duration::from_secs(20) {
                let _ = child.kill();
                break child.wait().expect("wait serve");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        status.code()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// An HTTP response as a test sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Header names lowercase, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// The first value of a header, by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a new connection to 127.0.0.1:`port`, with `Connection:
/// close`, read to the end. Handles `Content-Length` and chunked bodies.
pub fn http(port: u16, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut head =
        format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send");
    stream.write_all(body).expect("send body");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_reply(&raw)
}

/// Parse a whole HTTP/1.1 response.
pub fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        let mut out = Vec::new();
        let mut rest = rest;
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&rest[..eol])
                    .split(';')
                    .next()
                    .unwrap()
                    .trim(),
                16,
            )
            .unwrap_or(0);
            if size == 0 {
                break;
            }
            let start = eol + 2;
            out.extend_from_slice(&rest[start..(start + size).min(rest.len())]);
            rest = &rest[(start + size + 2).min(rest.len())..];
        }
        out
    } else {
        rest.to_vec()
    };
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// A free TCP port on loopback (bound and released: another process may take it first,
/// which a test sees as a failure to start).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Whether `program` can be run here; when not, the test is skipped (a failure under
/// `KEYCTL_TEST_STRICT=1`).
pub fn has_program(program: &str, why: &str) -> bool {
    let found = Command::new(program)
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        skip(&format!("`{program}` is not installed: {why}"));
    }
    found
}
