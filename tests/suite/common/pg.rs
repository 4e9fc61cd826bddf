//! PostgreSQL for tests: a fresh database per test on the server named by
//! `KEYCTL_TEST_POSTGRES`, or a whole throwaway cluster of a test's own (for tests that stop
//! the server or configure TLS and logins).
//!
//! `KEYCTL_TEST_POSTGRES` is a URL to a server where tests may create and drop databases
//! (`postgresql://postgres:PASSWORD@localhost:5433/postgres`, as `pg_virtualenv` sets up).
//! Without it, tests that need it are skipped with a notice; under `KEYCTL_TEST_STRICT=1`
//! that is a failure. A cluster of the test's own needs only Debian's `postgresql`
//! (`initdb` and `pg_ctl`); without them it is skipped the same way.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Env, skip};

/// The server tests may create databases on, when one is named.
pub fn server() -> Option<String> {
    match std::env::var("KEYCTL_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            skip("KEYCTL_TEST_POSTGRES is not set, so there is no PostgreSQL server to test on");
            None
        }
    }
}

/// A connection for the test's own checks (never keyctl's code).
pub fn client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to the test server: {e}"))
}

/// A database made for one test, dropped when the test ends.
pub struct TestDb {
    /// The URL keyctl is given (`--db` or `KEYCTL_DB`).
    pub url: String,
    admin: String,
    name: String,
}

impl TestDb {
    /// A new empty database on the server at `admin` (a URL whose user may create
    /// databases).
    pub fn on(admin: &str) -> TestDb {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "keyctl_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        client(admin)
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("cannot create a test database: {e}"));
        TestDb {
            url: with_database(admin, &name),
            admin: admin.to_owned(),
            name,
        }
    }

    /// A connection to this database for the test's own checks.
    pub fn client(&self) -> postgres::Client {
        client(&self.url)
    }

    /// Every row of keyctl's tables, as text, for "nothing changed" checks.
    pub fn rows(&self) -> String {
        rows(&self.url)
    }
}

/// Every row of keyctl's tables in the database at `url`, as text, table by table (the
/// audit log's lines start `events:`, as [`Env::rows`] gives them for a file).
pub fn rows(url: &str) -> String {
    let mut c = client(url);
    let mut out = String::new();
    for table in ["meta", "users", "keys", "superseded", "events"] {
        let exists: bool = c
            .query_one(
                &format!("SELECT to_regclass('keyctl.{table}') IS NOT NULL"),
                &[],
            )
            .unwrap()
            .get(0);
        if !exists {
            continue;
        }
        // A superseded secret's row id is a surrogate that a reset undone gives anew; its
        // place in the order is what counts.
        let query = match table {
            "superseded" => "SELECT (key_seq, digest, until, adopted)::text
                             FROM keyctl.superseded ORDER BY id"
                .to_owned(),
            _ => format!("SELECT t::text FROM keyctl.{table} t ORDER BY 1"),
        };
        for row in c.query(&query, &[]).unwrap() {
            out.push_str(&format!("{table}: {}\n", row.get::<_, String>(0)));
        }
    }
    out
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// A fresh database on the `KEYCTL_TEST_POSTGRES` server, or `None` (skipped).
pub fn fresh_db() -> Option<TestDb> {
    server().map(|s| TestDb::on(&s))
}

/// `url` with its database replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

impl Env {
    /// A test home whose `KEYCTL_DB` is this database.
    pub fn on(db: &TestDb) -> Env {
        Env::at_url(&db.url)
    }
}

/// A PostgreSQL cluster of the test's own, in its temp dir, on a free loopback port,
/// stopped (immediately) when dropped.
pub struct Cluster {
    dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    /// The TCP port on 127.0.0.1.
    pub port: u16,
}

/// Where `initdb` and `pg_ctl` are: `PATH`, else the newest Debian version.
fn bindir() -> Option<PathBuf> {
    if Command::new("pg_ctl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        return Some(PathBuf::new());
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
    });
    versions.pop()
}

impl Cluster {
    /// Make and start a cluster: `conf` lines added to postgresql.conf, `hba` the whole
    /// pg_hba.conf (`None`: trust on loopback and the socket). `None` (skipped) when
    /// PostgreSQL's server programs are not installed.
    pub fn start(conf: &[&str], hba: Option<&str>) -> Option<Cluster> {
        let cluster = Cluster::init(conf, hba)?;
        cluster.start_again();
        Some(cluster)
    }

    /// Make a cluster as [`Cluster::start`] does, without starting it.
    pub fn init(conf: &[&str], hba: Option<&str>) -> Option<Cluster> {
        let Some(bin) = bindir() else {
            skip("PostgreSQL's initdb and pg_ctl are not installed (Debian: postgresql)");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let cluster = Cluster {
            port: super::free_port(),
            dir,
            data,
            bin,
        };
        if super::is_root() {
            // PostgreSQL refuses to run as root: the cluster belongs to `postgres`.
            let (uid, gid) = postgres_user();
            std::os::unix::fs::chown(cluster.dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let out = cluster
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&cluster.data)
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut config = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\nfsync = off\nmax_connections = 200\n",
            cluster.port,
            cluster.dir.path().display()
        );
        for line in conf {
            config.push_str(line);
            config.push('\n');
        }
        cluster.append("postgresql.conf", &config);
        if let Some(hba) = hba {
            cluster.write("pg_hba.conf", hba);
        }
        Some(cluster)
    }

    /// A file in the cluster's directory, owned by the cluster's user.
    pub fn write(&self, name: &str, text: &str) {
        let path = self.data.join(name);
        std::fs::write(&path, text).unwrap();
        self.own(&path);
    }

    fn append(&self, name: &str, text: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data.join(name))
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    /// Give a file to the cluster's user, mode 0600 (as PostgreSQL wants its key).
    pub fn own(&self, path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        if super::is_root() {
            let (uid, gid) = postgres_user();
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// The data directory.
    pub fn data(&self) -> &Path {
        &self.data
    }

    /// The cluster's temp dir (its socket is here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut cmd = if super::is_root() {
            let mut c = Command::new("setpriv");
            let (uid, gid) = postgres_user();
            c.args([
                &format!("--reuid={uid}"),
                &format!("--regid={gid}"),
                "--clear-groups",
                "--",
            ])
            .arg(path);
            c
        } else {
            Command::new(path)
        };
        cmd.env("LC_ALL", "C").stdin(Stdio::null());
        cmd
    }

    /// Start it (again), waiting until it accepts connections.
    pub fn start_again(&self) {
        let out = self
            .command("pg_ctl")
            .args(["-w", "-t", "60", "-D"])
            .arg(&self.data)
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .arg("start")
            .stdout(Stdio::null())
            .output()
            .expect("run pg_ctl");
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
        );
    }

    /// Stop it (fast shutdown: sessions are ended), waiting until it has.
    pub fn stop(&self) {
        self.pg_ctl_stop("fast");
    }

    fn pg_ctl_stop(&self, mode: &str) {
        let _ = self
            .command("pg_ctl")
            .args(["-w", "-t", "60", "-m", mode, "-D"])
            .arg(&self.data)
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// The URL of database `db` as user `postgres` over TCP, without TLS.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://postgres@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// A new database on this cluster, dropped with it.
    pub fn db(&self) -> TestDb {
        TestDb::on(&self.url("postgres"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.pg_ctl_stop("immediate");
    }
}

/// The uid and gid of the `postgres` system user (Debian's package makes it).
fn postgres_user() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("run id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a postgres user (running as root, the test cluster needs one)")
    };
    (id("-u"), id("-g"))
}
