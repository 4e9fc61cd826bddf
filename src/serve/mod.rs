//! `keyctl serve`: a long-running HTTP verifier for reverse proxies (forward auth) and apps.
//!
//! It trusts the forwarding headers (`X-Original-URI`, `X-Forwarded-Uri`,
//! `X-Forwarded-Proto`) of whoever calls it, so it must be reachable only by the proxy:
//! loopback or a socket. Every request is answered by the same [`Verifier`] the CLI uses,
//! one per worker thread, and every outcome maps to one status in one place (`serve/auth.rs`,
//! `serve/api.rs`); a store that cannot be read is a 503, never a 2xx.

mod api;
mod auth;
mod log;
mod metrics;
mod selfservice;

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};
use crate::store::{Access, LastUses, Options, Store};
use crate::time::Clock;
use crate::verify::Verifier;

/// Longest request line, and longest single header line, accepted (431 beyond).
pub const MAX_LINE: usize = 8 * 1024;
/// Largest request head accepted (431 beyond).
pub const MAX_HEAD: usize = 64 * 1024;
/// Most header lines accepted (431 beyond).
pub const MAX_HEADERS: usize = 100;
/// A client must send its whole request head within this time, or it is dropped.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once unless configured otherwise; more wait in the listen queue.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// How long requests in flight may take to finish after SIGTERM or SIGINT.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the keys' last uses noted by the verifiers are written to the store.
pub const USE_WRITE_INTERVAL: Duration = Duration::from_secs(1);

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A TCP address; port 0 picks a free port.
    Tcp(SocketAddr),
    /// A Unix socket, created mode 0660.
    Unix(PathBuf),
}

impl std::str::FromStr for Listen {
    type Err = crate::error::Invalid;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(crate::error::Invalid(
                    "unix: needs a path: unix:/run/keyctl.sock".into(),
                ));
            }
            return Ok(Listen::Unix(PathBuf::from(path)));
        }
        use std::net::ToSocketAddrs;
        s.to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .map(Listen::Tcp)
            .ok_or_else(|| {
                crate::error::Invalid(format!(
                    "invalid listen address {}: use HOST:PORT (127.0.0.1:7878) or unix:PATH",
                    crate::names::shown(s)
                ))
            })
    }
}

/// What a 401 asks the client for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Challenge {
    /// `WWW-Authenticate: Bearer realm="keyctl"`: no browser dialog.
    #[default]
    Bearer,
    /// `WWW-Authenticate: Basic realm="keyctl"`.
    Basic,
    /// No `WWW-Authenticate` at all, for clients that cannot handle a challenge.
    None,
}

impl std::str::FromStr for Challenge {
    type Err = crate::error::Invalid;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "bearer" => Ok(Challenge::Bearer),
            "basic" => Ok(Challenge::Basic),
            "none" => Ok(Challenge::None),
            _ => Err(crate::error::Invalid(format!(
                "invalid challenge {}: use bearer, basic or none",
                crate::names::shown(s)
            ))),
        }
    }
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct Config {
    /// The store: a file, or a PostgreSQL database.
    pub db: crate::store::Location,
    /// Where to listen (at least one).
    pub listen: Vec<Listen>,
    /// What a 401 carries.
    pub challenge: Challenge,
    /// Reject forward-auth requests whose original scheme was not https.
    pub require_tls: bool,
    /// One line per request on stderr.
    pub access_log: bool,
    /// How long a verification waits for a writer's lock before answering 503.
    pub lock_timeout: Duration,
    /// Connections served at once; more wait in the listen queue until one closes.
    pub max_connections: usize,
    /// Serve the self-service endpoints (`/v1/authkeys`, `/v1/user/...`).
    pub self_service: bool,
    /// The longest a key made over HTTP may live.
    pub max_expire: crate::time::Duration,
}

/// What every request handler shares.
pub(crate) struct Shared {
    config: Config,
    metrics: metrics::Metrics,
    limiter: selfservice::Limiter,
    /// Last uses, written every [`USE_WRITE_INTERVAL`] by a thread of their own.
    uses: Arc<LastUses>,
}

thread_local! {
    /// Each worker thread verifies through its own verifier (and its own connection).
    static VERIFIER: RefCell<Option<Verifier>> = const { RefCell::new(None) };
}

impl Shared {
    pub(crate) fn open(&self) -> Result<Store> {
        Store::open_with(
            &self.config.db,
            &Options {
                access: Access::Read,
                lock_timeout: self.config.lock_timeout,
                clock: Clock::system(),
                actor: None,
            },
        )
    }

    /// Run `f` with this thread's verifier, opening the store first if need be. A store
    /// that cannot be opened is an error for this request; the next one tries again.
    pub(crate) fn with_verifier<T>(&self, f: impl FnOnce(&mut Verifier) -> Result<T>) -> Result<T> {
        VERIFIER.with_borrow_mut(|slot| {
            if slot.is_none() {
                *slot = Some(Verifier::new(self.open()?).sharing_uses(Arc::clone(&self.uses)));
            }
            let verifier = slot.as_mut().expect("just set");
            let before = verifier.remembered();
            let out = f(verifier);
            self.metrics
                .remembered_changed(before, verifier.remembered());
            out
        })
    }

    /// Whether the store can be read now.
    fn healthy(&self) -> Result<()> {
        self.with_verifier(|v| v.store().ping())
    }

    /// Log a failure to read the store: the operator must hear of a 503 without the
    /// access log.
    pub(crate) fn store_failed(&self, e: &Error) {
        log::note(&format!("cannot answer from the store, answering 503: {e}"));
    }
}

/// A server bound to its listeners, not yet serving.
pub struct Server {
    shared: Arc<Shared>,
    listeners: Vec<Bound>,
    runtime: tokio::runtime::Runtime,
}

enum Bound {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener, PathBuf),
}

impl Server {
    /// Bind every listener and check that the store can be opened. Binding happens here,
    /// so that [`Server::addresses`] can report the real ports before serving begins.
    pub fn bind(config: Config) -> Result<Server> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("keyctl-serve")
            .build()
            .map_err(|e| Error::Store(format!("cannot start the server's threads: {e}")))?;
        let shared = Arc::new(Shared {
            metrics: metrics::Metrics::new(),
            limiter: selfservice::Limiter::default(),
            uses: Arc::new(LastUses::new()),
            config,
        });
        // Refuse to start on a store that is not there or not a keyctl store.
        shared.open()?;
        let mut listeners = Vec::new();
        for listen in &shared.config.listen {
            listeners.push(bind_one(listen)?);
        }
        Ok(Server {
            shared,
            listeners,
            runtime,
        })
    }

    /// Where the server listens: `http://127.0.0.1:PORT` or `unix:PATH`, with real ports.
    pub fn addresses(&self) -> Vec<String> {
        self.listeners
            .iter()
            .map(|l| match l {
                Bound::Tcp(t) => t
                    .local_addr()
                    .map_or_else(|_| "http://?".into(), |a| format!("http://{a}")),
                Bound::Unix(_, path) => format!("unix:{}", crate::names::shown_path(path)),
            })
            .collect()
    }

    /// Serve until SIGTERM or SIGINT, then stop accepting, let requests in flight finish
    /// (at most [`DRAIN_TIMEOUT`]) and return.
    pub fn run(self) -> Result<()> {
        let Server {
            shared,
            listeners,
            runtime,
        } = self;
        let sockets: Vec<PathBuf> = listeners
            .iter()
            .filter_map(|l| match l {
                Bound::Unix(_, p) => Some(p.clone()),
                Bound::Tcp(_) => None,
            })
            .collect();
        let (stop_writing, stopped) = std::sync::mpsc::channel::<()>();
        let writer = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("keyctl-last-use".into())
                .spawn(move || write_uses(&shared, &stopped))
                .map_err(|e| Error::Store(format!("cannot start the server's threads: {e}")))?
        };
        let result = runtime.block_on(serve(shared, listeners));
        for path in sockets {
            let _ = std::fs::remove_file(path);
        }
        // Connections that did not finish within the drain time are dropped here.
        runtime.shutdown_timeout(Duration::from_millis(100));
        // The writer writes what is left, then stops.
        drop(stop_writing);
        let _ = writer.join();
        result
    }
}

/// Write the last uses the verifiers noted, every [`USE_WRITE_INTERVAL`] and once more
/// when `stop` closes. Verifiers never write them: a write in a request would hold up
/// that request, and every other, while it waits for the disk.
fn write_uses(shared: &Shared, stop: &std::sync::mpsc::Receiver<()>) {
    let mut store = None;
    let mut failing = false;
    loop {
        let last = !matches!(
            stop.recv_timeout(USE_WRITE_INTERVAL),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout)
        );
        if shared.uses.pending() > 0 {
            let written = match &store {
                Some(store) => shared.uses.write(store),
                None => shared
                    .open()
                    .and_then(|s| shared.uses.write(store.insert(s))),
            };
            match written {
                Ok(_) => failing = false,
                Err(e) => {
                    // Said once, not every second; the uses wait for the next try.
                    if !failing {
                        log::note(&format!("cannot record keys' last use, will retry: {e}"));
                    }
                    failing = true;
                    store = None;
                }
            }
        }
        if last {
            return;
        }
    }
}

fn bind_one(listen: &Listen) -> Result<Bound> {
    match listen {
        Listen::Tcp(addr) => {
            let l = std::net::TcpListener::bind(addr)
                .map_err(|e| Error::Store(format!("cannot listen on {addr}: {e}")))?;
            l.set_nonblocking(true)
                .map_err(|e| Error::Store(format!("cannot listen on {addr}: {e}")))?;
            Ok(Bound::Tcp(l))
        }
        Listen::Unix(path) => {
            use std::os::unix::fs::{FileTypeExt, PermissionsExt};
            let shown = crate::names::shown_path(path);
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                // Only a socket nobody answers on (left by a server that died) is replaced;
                // anything else is not ours to remove.
                let stale = meta.file_type().is_socket()
                    && std::os::unix::net::UnixStream::connect(path).is_err();
                if !stale {
                    return Err(Error::Store(format!(
                        "cannot listen on unix:{shown}: it exists and is not a stale socket; remove it or choose another path"
                    )));
                }
                std::fs::remove_file(path)
                    .map_err(|e| Error::Store(format!("cannot replace unix:{shown}: {e}")))?;
            }
            let l = std::os::unix::net::UnixListener::bind(path)
                .map_err(|e| Error::Store(format!("cannot listen on unix:{shown}: {e}")))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
                .and_then(|()| l.set_nonblocking(true))
                .map_err(|e| Error::Store(format!("cannot listen on unix:{shown}: {e}")))?;
            Ok(Bound::Unix(l, path.clone()))
        }
    }
}

async fn serve(shared: Arc<Shared>, listeners: Vec<Bound>) -> Result<()> {
    let graceful = Arc::new(hyper_util::server::graceful::GracefulShutdown::new());
    let permits = Arc::new(Semaphore::new(shared.config.max_connections.max(1)));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_headers(MAX_HEADERS)
        .max_header_size(MAX_HEAD)
        .max_buf_size(MAX_HEAD + MAX_LINE);
    // Each listener's task accepts and starts every connection itself, on the worker thread
    // it runs on: a connection reaches its first request without waking another thread,
    // which counts when a proxy opens a connection per request.
    let mut acceptors = Vec::new();
    for listener in listeners {
        let accept = Acceptor {
            shared: Arc::clone(&shared),
            graceful: Arc::clone(&graceful),
            permits: Arc::clone(&permits),
            http: http.clone(),
        };
        let task = match listener {
            Bound::Tcp(l) => {
                let l = tokio::net::TcpListener::from_std(l)
                    .map_err(|e| Error::Store(format!("cannot listen: {e}")))?;
                tokio::spawn(async move {
                    loop {
                        let Ok(permit) = Arc::clone(&accept.permits).acquire_owned().await else {
                            return;
                        };
                        match l.accept().await {
                            Ok((stream, peer)) => {
                                let _ = stream.set_nodelay(true);
                                accept.start(stream, peer.ip().to_string().into(), permit);
                            }
                            Err(e) => accept_failed(&e).await,
                        }
                    }
                })
            }
            Bound::Unix(l, _) => {
                let l = tokio::net::UnixListener::from_std(l)
                    .map_err(|e| Error::Store(format!("cannot listen: {e}")))?;
                tokio::spawn(async move {
                    loop {
                        let Ok(permit) = Arc::clone(&accept.permits).acquire_owned().await else {
                            return;
                        };
                        match l.accept().await {
                            Ok((stream, _)) => accept.start(stream, "unix".into(), permit),
                            Err(e) => accept_failed(&e).await,
                        }
                    }
                })
            }
        };
        acceptors.push(task);
    }
    Signals::new()?.recv().await;
    // Stop accepting (an acceptor may be waiting for a permit, or for a connection), and
    // let the acceptors and the references to the shutdown they hold go: every connection
    // they started is watched before the shutdown begins. A connection is started in the
    // same step as it is accepted, with no await between, so none is lost half-way.
    for task in &acceptors {
        task.abort();
    }
    for task in acceptors {
        let _ = task.await;
    }
    // Only the acceptors shared it, and they are gone.
    let Some(graceful) = Arc::into_inner(graceful) else {
        return Ok(());
    };
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            log::note("requests still in flight after the drain time were dropped");
        }
    }
    Ok(())
}

/// What a listener's task needs to start a connection.
struct Acceptor {
    shared: Arc<Shared>,
    graceful: Arc<hyper_util::server::graceful::GracefulShutdown>,
    permits: Arc<Semaphore>,
    http: hyper::server::conn::http1::Builder,
}

impl Acceptor {
    /// Serve one accepted connection from `peer` (an address, or `unix`) in a task of its
    /// own, holding `permit` until it ends.
    fn start<S>(&self, stream: S, peer: Arc<str>, permit: tokio::sync::OwnedSemaphorePermit)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        self.shared.metrics.connection();
        let shared = Arc::clone(&self.shared);
        let service = hyper::service::service_fn(move |req| {
            let shared = Arc::clone(&shared);
            let peer = Arc::clone(&peer);
            async move { Ok::<_, Infallible>(handle(&shared, req, &peer).await) }
        });
        let c = self
            .graceful
            .watch(self.http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = c.await;
            drop(permit);
        });
    }
}

/// Accepting fails when the process runs out of file descriptors, for one: say so and
/// pause, rather than spin.
async fn accept_failed(e: &std::io::Error) {
    log::note(&format!("cannot accept a connection: {e}"));
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// SIGTERM and SIGINT.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        let e = |e: std::io::Error| Error::Store(format!("cannot handle signals: {e}"));
        Ok(Signals {
            term: signal(SignalKind::terminate()).map_err(e)?,
            int: signal(SignalKind::interrupt()).map_err(e)?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// A response and what the access log says of it.
pub(crate) struct Answer {
    pub response: Response<Full<Bytes>>,
    /// The path to log (the original request's, for forward auth), not yet redacted.
    pub logged_path: Option<String>,
    /// `valid`, a reason, or nothing when no verification happened.
    pub outcome: Option<&'static str>,
    /// The key verified, when one was named.
    pub key: Option<String>,
}

impl Answer {
    pub(crate) fn plain(status: StatusCode, body: &'static str) -> Answer {
        Answer {
            response: response(
                status,
                "text/plain; charset=utf-8",
                Bytes::from_static(body.as_bytes()),
            ),
            logged_path: None,
            outcome: None,
            key: None,
        }
    }
}

/// Whether a request says its body is JSON (`Content-Type: application/json`, any
/// parameters).
pub(crate) fn is_json(req: &Request<Incoming>) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// A response with no-store caching: answers about credentials must not be reused. An
/// empty body has no content type.
pub(crate) fn response(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
) -> Response<Full<Bytes>> {
    let typed = !body.is_empty();
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if typed {
        h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    r
}

/// The client a request came from: the last `X-Forwarded-For` entry (what the proxy in
/// front saw), else the connection's peer.
fn client_of(req: &Request<Incoming>, peer: &str) -> String {
    req.headers()
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or(peer)
        .to_owned()
}

async fn handle(shared: &Arc<Shared>, req: Request<Incoming>, peer: &str) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let method = req.method().clone();
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    let endpoint = metrics::Endpoint::of(req.uri().path());
    let answer = if target.len() > MAX_LINE
        || req
            .headers()
            .iter()
            .any(|(n, v)| n.as_str().len() + v.len() + 2 > MAX_LINE)
    {
        Answer::plain(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request line or header line too long\n",
        )
    } else {
        match endpoint {
            metrics::Endpoint::Auth => auth::answer(shared, &req),
            metrics::Endpoint::Verify => api::answer(shared, req).await,
            metrics::Endpoint::Health if method == Method::GET || method == Method::HEAD => {
                match shared.healthy() {
                    Ok(()) => Answer::plain(StatusCode::OK, "ok\n"),
                    Err(e) => {
                        shared.store_failed(&e);
                        Answer::plain(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "the store cannot be read\n",
                        )
                    }
                }
            }
            metrics::Endpoint::Metrics if method == Method::GET || method == Method::HEAD => {
                let mut a = Answer::plain(StatusCode::OK, "");
                a.response = response(
                    StatusCode::OK,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    Bytes::from(shared.metrics.render()),
                );
                a
            }
            metrics::Endpoint::Health | metrics::Endpoint::Metrics => {
                let mut a = Answer::plain(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
                a.response
                    .headers_mut()
                    .insert(hyper::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                a
            }
            metrics::Endpoint::SelfService if shared.config.self_service => {
                let client = client_of(&req, peer);
                selfservice::answer(shared, req, &client).await
            }
            metrics::Endpoint::SelfService | metrics::Endpoint::Other => {
                Answer::plain(StatusCode::NOT_FOUND, "not found\n")
            }
        }
    };
    let status = answer.response.status();
    shared.metrics.request(endpoint, status);
    if shared.config.access_log {
        log::access(
            &method,
            answer.logged_path.as_deref().unwrap_or(&target),
            status,
            answer.outcome,
            answer.key.as_deref(),
            started.elapsed(),
        );
    }
    answer.response
}
