//! Test harness: every test gets its own temporary directory and store, a clean environment,
//! and runs the built `keyctl` binary as a user would.

#![allow(dead_code)]

use std::io::Write;
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

/// A temporary home with its own store.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("store").join("keys.db");
        Env { dir, db }
    }

    /// A command for the built binary with a controlled environment: no inherited
    /// `KEYCTL_*`, `NO_COLOR` or `XDG_*`; `HOME` and `XDG_DATA_HOME` inside the temp dir;
    /// `KEYCTL_DB` pointing at this env's store.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyctl"));
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("KEYCTL_") || k.starts_with("XDG_") || k == "NO_COLOR" || k == "TERM" {
                cmd.env_remove(&key);
            }
        }
        cmd.env("HOME", self.dir.path())
            .env("XDG_DATA_HOME", self.dir.path().join("xdg"))
            .env("KEYCTL_DB", &self.db)
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
        (out.code, out.json())
    }

    /// Every row of the store, as text, for "nothing changed" checks. Empty when no store.
    pub fn rows(&self) -> String {
        dump(&self.db)
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
                .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                .collect();
            out.push_str(&format!("{t}: {}\n", vals.join(" | ")));
        }
    }
    out
}
