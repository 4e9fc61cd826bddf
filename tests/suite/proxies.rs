//! `keyctl serve` behind a real nginx and a real Caddy on loopback, each configured with
//! the snippet the README shows (its placeholder ports swapped for free ones), in front of
//! a small app that records every request it gets: the README's configurations are what
//! is tested, so they cannot go stale. A missing nginx or Caddy skips the tests, and fails
//! them under `KEYCTL_TEST_STRICT=1`.

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Env, Reply, Served, free_port, has_program, http};

const README: &str = include_str!("../../README.md");

/// Where the README's configurations put keyctl, the app and the proxy.
const KEYCTL_AT: &str = "127.0.0.1:7878";
const APP_AT: &str = "127.0.0.1:8080";
const PROXY_AT: &str = "127.0.0.1:8000";

/// How long a proxy may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Nginx,
    Caddy,
}

impl Kind {
    /// The program to run: Debian puts nginx in /usr/sbin, which a user's PATH may lack.
    fn program(self) -> &'static str {
        match self {
            Kind::Nginx if Path::new("/usr/sbin/nginx").exists() => "/usr/sbin/nginx",
            Kind::Nginx => "nginx",
            Kind::Caddy => "caddy",
        }
    }

    /// What the proxy answers when keyctl cannot be reached: nginx turns a failed auth
    /// subrequest into a 500, Caddy answers its own 502.
    fn status_when_keyctl_is_down(self) -> u16 {
        match self {
            Kind::Nginx => 500,
            Kind::Caddy => 502,
        }
    }
}

/// The text of the first fenced block of language `lang` in the README section that starts
/// with the line `heading`.
fn readme_block(heading: &str, lang: &str) -> &'static str {
    let start = README
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("the README has no section {heading:?}"));
    let section = &README[start + 1..];
    let end = section[heading.len()..]
        .find("\n## ")
        .into_iter()
        .chain(section[heading.len()..].find("\n### "))
        .min()
        .map_or(section.len(), |e| e + heading.len());
    let section = &section[..end];
    let fence = format!("\n```{lang}\n");
    let open = section
        .find(&fence)
        .unwrap_or_else(|| panic!("the README section {heading:?} has no ```{lang} block"))
        + fence.len();
    let close = section[open..]
        .find("\n```\n")
        .unwrap_or_else(|| panic!("the ```{lang} block in {heading:?} is not closed"));
    &section[open..open + close + 1]
}

/// `snippet` with the README's placeholder addresses replaced by the test's ports, each
/// of which the snippet must use.
fn placed(snippet: &str, keyctl: u16, app: u16, proxy: u16) -> String {
    let mut out = snippet.to_owned();
    let ports = [(KEYCTL_AT, keyctl), (APP_AT, app), (PROXY_AT, proxy)];
    // Through markers, so that a port picked for one cannot be mistaken for another.
    for (i, (at, _)) in ports.iter().enumerate() {
        assert!(
            out.contains(at),
            "the README snippet does not use {at}:\n{snippet}"
        );
        out = out.replace(at, &format!("\u{0}{i}\u{0}"));
    }
    for (i, (_, port)) in ports.iter().enumerate() {
        out = out.replace(&format!("\u{0}{i}\u{0}"), &format!("127.0.0.1:{port}"));
    }
    out
}

/// One request as the app received it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    target: String,
    /// Header names lowercase, every value in the order received.
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    /// Every value of a header, by lowercase name.
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The app behind the proxy: answers every request 200 with `user=<X-Keyctl-User>` and
/// records it, so a test can count what got through.
struct App {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl App {
    fn start() -> App {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the app");
        let port = listener.local_addr().expect("app address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, stop) = (Arc::clone(&seen), Arc::clone(&stop));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Ok(stream) = stream {
                        App::answer(stream, &seen);
                    }
                }
            })
        };
        App {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Read one request (head and `Content-Length` body), record it, answer, close.
    fn answer(mut stream: TcpStream, seen: &Mutex<Vec<Seen>>) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        };
        let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap_or_default().split(' ');
        let method = request_line.next().unwrap_or_default().to_owned();
        let target = request_line.next().unwrap_or_default().to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = raw[head_end + 4..].to_vec();
        while body.len() < length {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => body.extend_from_slice(&buf[..n]),
            }
        }
        let request = Seen {
            method,
            target,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        let user = request.all("x-keyctl-user").join(",");
        seen.lock().unwrap().push(request);
        let text = format!("user={user}\n");
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        );
    }

    /// How many requests reached the app.
    fn hits(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The last request that reached the app.
    fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a request reached the app")
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A running nginx or Caddy, killed when dropped (also when the test panics).
struct Proxy {
    kind: Kind,
    child: Child,
    port: u16,
    /// Files the proxy logs to, shown when it fails to start.
    logs: Vec<PathBuf>,
}

impl Proxy {
    /// Spawn `cmd` and wait until it listens on `port`.
    fn start(kind: Kind, mut cmd: Command, port: u16, logs: Vec<PathBuf>) -> Proxy {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {kind:?}: {e}"));
        let mut proxy = Proxy {
            kind,
            child,
            port,
            logs,
        };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!(
                    "{kind:?} exited ({status}) before listening:\n{}",
                    proxy.log()
                );
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return proxy;
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "{kind:?} did not listen on port {port} within {START_TIMEOUT:?}:\n{}",
                proxy.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        self.logs
            .iter()
            .map(|p| {
                let text = std::fs::read_to_string(p).unwrap_or_default();
                format!("--- {}\n{text}", p.display())
            })
            .collect()
    }

    fn get(&self, target: &str, headers: &[(&str, &str)]) -> Reply {
        http(self.port, "GET", target, headers, b"")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The README's nginx `server` block inside the smallest whole nginx.conf that runs
/// unprivileged from `dir`: one process in the foreground (so no `user`: nothing switches
/// users), every path inside `dir`.
fn start_nginx(dir: &Path, keyctl: u16, app: u16, port: u16) -> Proxy {
    let server = placed(readme_block("### nginx", "nginx"), keyctl, app, port);
    let d = dir.display();
    let conf = format!(
        "daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{
    worker_connections 64;
}}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;

{server}}}
"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("write nginx.conf");
    let stderr = dir.join("stderr.log");
    let mut cmd = Command::new(Kind::Nginx.program());
    // -e: the error log before the configuration is read, instead of /var/log/nginx.
    cmd.arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).expect("nginx stderr"));
    Proxy::start(
        Kind::Nginx,
        cmd,
        port,
        vec![path, stderr, dir.join("error.log")],
    )
}

/// The README's Caddy site block in a Caddyfile with the admin endpoint off (so that tests
/// running at once do not fight over its port), and Caddy's data and configuration
/// directories inside `dir`.
fn start_caddy(dir: &Path, keyctl: u16, app: u16, port: u16) -> Proxy {
    let site = placed(readme_block("### Caddy", "caddyfile"), keyctl, app, port);
    let path = dir.join("Caddyfile");
    std::fs::write(&path, format!("{{\n\tadmin off\n}}\n\n{site}")).expect("write Caddyfile");
    let log = dir.join("caddy.log");
    let mut cmd = Command::new(Kind::Caddy.program());
    cmd.args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&path)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("caddy log"));
    Proxy::start(Kind::Caddy, cmd, port, vec![path, log])
}

/// A proxy in front of the app, asking a `keyctl serve` of a store with three keys:
/// alice's (any path), bob's (`/public` only) and carol's (revoked).
struct Stack {
    // Dropped in this order: the proxy first, the temp dir last.
    proxy: Proxy,
    app: App,
    served: Option<Served>,
    env: Env,
    alice: String,
    bob: String,
    carol: String,
}

impl Stack {
    /// `None` (after saying why) when the proxy is not installed.
    fn start(kind: Kind) -> Option<Stack> {
        if !has_program(
            kind.program(),
            "the README's proxy configurations are tested against the real proxy",
        ) {
            return None;
        }
        let env = Env::new();
        let alice = env.create(&["--user", "alice", "--name", "full"]);
        let bob = env.create(&["--user", "bob", "--name", "public", "--path", "/public"]);
        let carol = env.create(&["--user", "carol", "--name", "gone"]);
        env.run(&["delete", "carol/gone", "--yes"]).code(0);
        let served = Served::start(&env, &[]);
        let app = App::start();
        let dir = env.dir.path().join(format!("{kind:?}").to_lowercase());
        std::fs::create_dir(&dir).expect("proxy dir");
        let port = free_port();
        let proxy = match kind {
            Kind::Nginx => start_nginx(&dir, served.port, app.port, port),
            Kind::Caddy => start_caddy(&dir, served.port, app.port, port),
        };
        Some(Stack {
            proxy,
            app,
            served: Some(served),
            env,
            alice,
            bob,
            carol,
        })
    }

    /// What keyctl serve printed, for failure messages.
    fn stderr(&self) -> String {
        self.served.as_ref().map(Served::stderr).unwrap_or_default()
    }

    /// Send a request through the proxy; assert it reached the app as `user`, unchanged.
    #[track_caller]
    fn passes(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        user: &str,
    ) {
        let before = self.app.hits();
        let reply = http(self.proxy.port, method, target, headers, body);
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, format!("user={user}\n").as_str()),
            "{:?}: {method} {target} {headers:?}: {reply:?}\nkeyctl serve:\n{}",
            self.proxy.kind,
            self.stderr()
        );
        assert_eq!(self.app.hits(), before + 1, "the app got the request once");
        let seen = self.app.last();
        assert_eq!(
            (seen.method.as_str(), seen.target.as_str()),
            (method, target)
        );
        assert_eq!(
            seen.all("x-keyctl-user"),
            [user],
            "exactly one X-Keyctl-User"
        );
        assert_eq!(seen.body.as_bytes(), body, "the body reached the app");
    }

    /// Send a request through the proxy; assert keyctl refused it with `status` and
    /// `reason`, and the app never saw it.
    #[track_caller]
    fn refused(&self, target: &str, headers: &[(&str, &str)], status: u16, reason: &str) {
        let before = self.app.hits();
        let reply = self.proxy.get(target, headers);
        let kind = self.proxy.kind;
        assert_eq!(
            (reply.status, reply.header("x-keyctl-reason")),
            (status, Some(reason)),
            "{kind:?}: GET {target} {headers:?}: {reply:?}\nkeyctl serve:\n{}",
            self.stderr()
        );
        if status == 401 {
            assert_eq!(
                reply.header("www-authenticate"),
                Some("Bearer realm=\"keyctl\""),
                "{kind:?} passes keyctl's challenge on"
            );
        }
        assert_eq!(
            self.app.hits(),
            before,
            "{kind:?}: a refused request reached the app: {:?}",
            self.app.last()
        );
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn lets_valid_keys_through(kind: Kind) {
    let Some(s) = Stack::start(kind) else { return };
    let alice = bearer(&s.alice);
    s.passes(
        "GET",
        "/v1/items",
        &[("Authorization", &alice)],
        b"",
        "alice",
    );
    s.passes(
        "GET",
        "/v1/items?page=2",
        &[("x-api-key", &s.alice)],
        b"",
        "alice",
    );
    // The client's own X-Keyctl-User is replaced, not passed on beside keyctl's.
    s.passes(
        "GET",
        "/v1/items",
        &[("Authorization", &alice), ("X-Keyctl-User", "root")],
        b"",
        "alice",
    );
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("alice:{}", s.alice))
    );
    s.passes(
        "GET",
        "/v1/items",
        &[("Authorization", &basic)],
        b"",
        "alice",
    );
    s.passes(
        "POST",
        "/v1/items",
        &[
            ("Authorization", &alice),
            ("Content-Type", "application/json"),
        ],
        b"{\"name\":\"x\"}",
        "alice",
    );
    s.passes(
        "GET",
        "/public/status",
        &[("x-api-key", &s.bob)],
        b"",
        "bob",
    );
    s.passes(
        "GET",
        &format!("/public/status?api_key={}", s.bob),
        &[],
        b"",
        "bob",
    );
    assert_eq!(s.app.hits(), 7);
}

fn stops_refused_requests_before_the_app(kind: Kind) {
    let Some(s) = Stack::start(kind) else { return };
    let foreign = Env::new().create(&["--user", "alice"]);
    let mut mangled = s.alice.clone();
    mangled.pop();
    mangled.push(if s.alice.ends_with('A') { 'B' } else { 'A' });
    let carol = bearer(&s.carol);
    s.refused("/v1/items", &[], 401, "missing");
    let nonsense = [("Authorization", "Bearer nonsense")];
    s.refused("/v1/items", &nonsense, 401, "malformed");
    s.refused("/v1/items", &[("x-api-key", &mangled)], 401, "malformed");
    s.refused("/v1/items", &[("x-api-key", &foreign)], 401, "unknown");
    s.refused("/v1/items", &[("Authorization", &carol)], 401, "revoked");
    let two = [("x-api-key", s.alice.as_str()), ("x-auth-key", &s.bob)];
    s.refused("/v1/items", &two, 401, "ambiguous");
    let bob = [("x-api-key", s.bob.as_str())];
    s.refused("/admin", &bob, 403, "path_not_allowed");
    s.refused("/public/../admin", &bob, 403, "path_not_allowed");
    // A client claiming another target: the proxy must set these headers itself.
    let forged = [
        ("x-api-key", s.bob.as_str()),
        ("X-Original-URI", "/public/status"),
        ("X-Forwarded-Uri", "/public/status"),
    ];
    s.refused("/admin", &forged, 403, "path_not_allowed");
    assert_eq!(s.app.hits(), 0, "no refused request reached the app");
    // keyctl did answer them all, with the proxy in between.
    s.passes(
        "GET",
        "/public/status",
        &[("x-api-key", &s.bob)],
        b"",
        "bob",
    );
}

fn refuses_a_key_on_the_first_request_after_its_revocation(kind: Kind) {
    let Some(s) = Stack::start(kind) else { return };
    let alice = bearer(&s.alice);
    s.passes(
        "GET",
        "/v1/items",
        &[("Authorization", &alice)],
        b"",
        "alice",
    );
    s.env.run(&["delete", "alice/full", "--yes"]).code(0);
    common::settled(
        |r: &Reply| r.status == 401,
        || s.proxy.get("/v1/items", &[("Authorization", &alice)]),
    );
    s.refused("/v1/items", &[("Authorization", &alice)], 401, "revoked");
    assert_eq!(s.app.hits(), 1);
}

/// The configuration keeps its connections to keyctl open: checking a request costs no
/// new connection (nor a socket left in TIME_WAIT) on either side.
fn reuses_connections_to_keyctl(kind: Kind) {
    let Some(s) = Stack::start(kind) else {
        return;
    };
    for _ in 0..20 {
        s.passes("GET", "/v1/items", &[("x-api-key", &s.alice)], b"", "alice");
    }
    let served = s.served.as_ref().expect("keyctl serve");
    let metrics = served.request("GET", "/metrics", &[], b"").body;
    let accepted: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("keyctl_connections_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no connection count in {metrics}"));
    // This request's own connection, and at most a few from the proxy.
    assert!(
        accepted <= 4.0,
        "{kind:?}: {accepted} connections for 20 checks"
    );
}

fn fails_closed_when_keyctl_is_down(kind: Kind) {
    let Some(mut s) = Stack::start(kind) else {
        return;
    };
    let alice = bearer(&s.alice);
    s.passes(
        "GET",
        "/v1/items",
        &[("Authorization", &alice)],
        b"",
        "alice",
    );
    let (code, _) = s.served.take().expect("keyctl serve").stop();
    assert_eq!(code, Some(0), "keyctl serve stops on SIGTERM");
    let reply = s.proxy.get("/v1/items", &[("Authorization", &alice)]);
    assert_eq!(reply.status, kind.status_when_keyctl_is_down(), "{reply:?}");
    assert_eq!(s.app.hits(), 1, "nothing reached the app without keyctl");
}

#[test]
fn nginx_lets_valid_keys_through_and_the_app_sees_the_user() {
    lets_valid_keys_through(Kind::Nginx);
}

#[test]
fn nginx_stops_refused_requests_before_the_app() {
    stops_refused_requests_before_the_app(Kind::Nginx);
}

#[test]
fn nginx_refuses_a_key_on_the_first_request_after_its_revocation() {
    refuses_a_key_on_the_first_request_after_its_revocation(Kind::Nginx);
}

#[test]
fn nginx_fails_closed_when_keyctl_is_down() {
    fails_closed_when_keyctl_is_down(Kind::Nginx);
}

#[test]
fn nginx_reuses_connections_to_keyctl() {
    reuses_connections_to_keyctl(Kind::Nginx);
}

#[test]
fn caddy_lets_valid_keys_through_and_the_app_sees_the_user() {
    lets_valid_keys_through(Kind::Caddy);
}

#[test]
fn caddy_stops_refused_requests_before_the_app() {
    stops_refused_requests_before_the_app(Kind::Caddy);
}

#[test]
fn caddy_refuses_a_key_on_the_first_request_after_its_revocation() {
    refuses_a_key_on_the_first_request_after_its_revocation(Kind::Caddy);
}

#[test]
fn caddy_fails_closed_when_keyctl_is_down() {
    fails_closed_when_keyctl_is_down(Kind::Caddy);
}

#[test]
fn caddy_reuses_connections_to_keyctl() {
    reuses_connections_to_keyctl(Kind::Caddy);
}

#[test]
fn readme_snippets_are_found_and_use_every_placeholder() {
    // The other tests depend on finding these; a renamed heading or fence fails here first,
    // with or without the proxies installed.
    for (heading, lang) in [("### nginx", "nginx"), ("### Caddy", "caddyfile")] {
        let block = readme_block(heading, lang);
        let text = placed(block, 1111, 2222, 3333);
        for port in ["1111", "2222", "3333"] {
            assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        }
    }
    assert!(readme_block("### nginx", "nginx").contains("auth_request "));
    assert!(readme_block("### Caddy", "caddyfile").contains("forward_auth "));
}
