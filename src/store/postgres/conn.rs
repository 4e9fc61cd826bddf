//! Connecting to PostgreSQL: the URL's settings, TLS through rustls with libpq's `sslmode`
//! rules, the `PG*` environment variables libpq also reads, and errors in plain words that
//! never repeat a password.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::error::{Error, Result};
use crate::store::location::{PgUrl, decode};

/// How keyctl talks TLS to the server: libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it (libpq's `allow` is taken as this, which is stricter).
    Prefer,
    /// TLS or nothing, without checking the certificate (unless a root certificate is
    /// given, as libpq does).
    Require,
    /// TLS, with a certificate signed by a trusted root, for any host name.
    VerifyCa,
    /// TLS, with a certificate signed by a trusted root, for this host name.
    VerifyFull,
}

/// Where a store is, for messages, and how to reach it again.
#[derive(Clone)]
pub(crate) struct Site {
    /// The URL without its password, escaped.
    pub shown: String,
    url: PgUrl,
    pub lock_timeout: Duration,
}

impl Site {
    /// A message with the URL's password taken out, wherever it came from.
    fn clean(&self, text: &str) -> String {
        crate::names::escaped(&self.url.scrub(text))
    }

    /// Turn a client error into a message that says what to do (exit 4).
    pub fn err(&self, e: postgres::Error) -> Error {
        let p = &self.shown;
        if let Some(db) = e.as_db_error() {
            let message = self.clean(db.message());
            let code = db.code();
            let text = if *code == SqlState::LOCK_NOT_AVAILABLE
                || *code == SqlState::QUERY_CANCELED
                || *code == SqlState::T_R_SERIALIZATION_FAILURE
                || *code == SqlState::T_R_DEADLOCK_DETECTED
            {
                format!(
                    "store {p} is busy: another process held it locked for more than {}; nothing was changed, try again",
                    crate::store::seconds(self.lock_timeout)
                )
            } else if *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            {
                format!("PostgreSQL at {p} refused the login: {message}")
            } else if *code == SqlState::INVALID_CATALOG_NAME {
                format!(
                    "cannot open store {p}: {message} (keyctl makes its schema in an existing database)"
                )
            } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
                format!(
                    "store {p}: {message}; keyctl's role needs to own schema keyctl (or USAGE on it and SELECT, INSERT, UPDATE, DELETE on its tables)"
                )
            } else if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
                format!(
                    "store {p} is a read-only server (a standby replica): changes need the primary; nothing was changed"
                )
            } else if *code == SqlState::UNDEFINED_TABLE
                || *code == SqlState::UNDEFINED_COLUMN
                || *code == SqlState::UNDEFINED_FUNCTION
                || *code == SqlState::DATATYPE_MISMATCH
            {
                format!(
                    "store {p} does not have the tables keyctl made ({message}); it was changed by another program"
                )
            } else if code.code().starts_with("57P") || code.code().starts_with("08") {
                format!(
                    "lost the connection to PostgreSQL at {p} ({message}); if a change was under way, check with `keyctl log` whether it was made"
                )
            } else {
                format!("store {p}: {message}")
            };
            return Error::Store(text);
        }
        let message = self.clean(&e.to_string());
        if e.is_closed() {
            return Error::Store(format!(
                "lost the connection to PostgreSQL at {p} ({message}); if a change was under way, check with `keyctl log` whether it was made"
            ));
        }
        Error::Store(format!("PostgreSQL at {p}: {message}"))
    }

    /// A connection attempt that failed.
    pub fn connect_err(&self, e: postgres::Error) -> Error {
        if e.as_db_error().is_some() {
            return self.err(e);
        }
        let p = &self.shown;
        // The client's message says what failed; its sources say why (refused, timed out,
        // a certificate not trusted).
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            let text = s.to_string();
            if !message.contains(&text) {
                message = format!("{message}: {text}");
            }
            source = s.source();
        }
        let message = self.clean(&message);
        Error::Store(format!("cannot connect to PostgreSQL at {p}: {message}"))
    }
}

impl crate::store::decode::Damage for Site {
    fn shown(&self) -> &str {
        &self.shown
    }
}

/// Everything needed to open a connection, worked out once per store.
#[derive(Clone)]
pub(crate) struct Target {
    config: Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    pub site: Site,
}

impl Target {
    /// Read the URL (and the `PG*` variables for what it leaves out).
    pub fn new(url: &PgUrl, lock_timeout: Duration) -> Result<Target> {
        let site = Site {
            shown: url.shown(),
            url: url.clone(),
            lock_timeout,
        };
        let invalid = |why: String| {
            Error::Store(format!(
                "cannot use store {}: {}",
                site.shown,
                site.clean(&why)
            ))
        };
        // keyctl reads the TLS settings itself; the client gets the rest.
        let raw = url.expose();
        let (base, query) = raw.split_once('?').unwrap_or((raw, ""));
        let mut mode = None;
        let mut root: Option<String> = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match decode(k).as_str() {
                "sslmode" => {
                    mode = Some(match decode(v).as_str() {
                        "disable" => SslMode::Disable,
                        "allow" | "prefer" => SslMode::Prefer,
                        "require" => SslMode::Require,
                        "verify-ca" => SslMode::VerifyCa,
                        "verify-full" => SslMode::VerifyFull,
                        other => {
                            return Err(invalid(format!(
                                "sslmode={} is not one of disable, allow, prefer, require, verify-ca, verify-full",
                                crate::names::shown(other)
                            )));
                        }
                    });
                }
                "sslrootcert" => root = Some(decode(v)),
                k @ ("sslcert" | "sslkey" | "sslpassword" | "sslcrl" | "sslcrldir" | "sslsni"
                | "requiressl" | "sslcompression" | "gssencmode" | "krbsrvname"
                | "service" | "passfile") => {
                    return Err(invalid(format!(
                        "the connection parameter {k} is not supported by keyctl"
                    )));
                }
                _ => kept.push(pair),
            }
        }
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mode = match mode {
            Some(m) => m,
            None => match env("PGSSLMODE").as_deref() {
                None | Some("prefer" | "allow") => SslMode::Prefer,
                Some("disable") => SslMode::Disable,
                Some("require") => SslMode::Require,
                Some("verify-ca") => SslMode::VerifyCa,
                Some("verify-full") => SslMode::VerifyFull,
                Some(other) => {
                    return Err(invalid(format!(
                        "PGSSLMODE={} is not one of disable, allow, prefer, require, verify-ca, verify-full",
                        crate::names::shown(other)
                    )));
                }
            },
        };
        let root = root.or_else(|| env("PGSSLROOTCERT"));
        let client_url = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let mut config: Config = client_url
            .parse()
            .map_err(|e: postgres::Error| invalid(format!("{e}")))?;
        // What the URL leaves out comes from the variables libpq reads.
        if config.get_hosts().is_empty() {
            match env("PGHOST") {
                Some(hosts) => {
                    for h in hosts.split(',') {
                        config.host(h);
                    }
                }
                None => {
                    let socket_dir = ["/var/run/postgresql", "/tmp"]
                        .into_iter()
                        .find(|d| std::path::Path::new(d).is_dir())
                        .unwrap_or("/tmp");
                    config.host(socket_dir);
                }
            }
        }
        if config.get_ports().is_empty()
            && let Some(port) = env("PGPORT")
        {
            let port = port
                .parse()
                .map_err(|_| invalid(format!("PGPORT={port} is not a port number")))?;
            config.port(port);
        }
        if config.get_user().is_none()
            && let Some(user) = env("PGUSER")
        {
            config.user(&user);
        }
        if config.get_dbname().is_none()
            && let Some(db) = env("PGDATABASE")
        {
            config.dbname(&db);
        }
        if config.get_password().is_none()
            && let Some(password) = env("PGPASSWORD")
        {
            config.password(password);
        }
        if config.get_application_name().is_none() {
            config.application_name("keyctl");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(lock_timeout.max(Duration::from_secs(1)));
        }
        // The wait for another writer's lock, as `KEYCTL_LOCK_TIMEOUT` says, set in the
        // start-up packet: no round trip.
        let lock = format!("-c lock_timeout={}", lock_timeout.as_millis().max(1));
        let options = match config.get_options() {
            Some(o) if !o.is_empty() => format!("{o} {lock}"),
            _ => lock,
        };
        config.options(&options);
        // PostgreSQL never speaks TLS on a Unix socket, and libpq ignores sslmode there.
        let local = config
            .get_hosts()
            .iter()
            .all(|h| matches!(h, postgres::config::Host::Unix(_)));
        let mode = if local { SslMode::Disable } else { mode };
        let tls = tls_for(mode, root.as_deref()).map_err(invalid)?;
        config.ssl_mode(match mode {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            _ => postgres::config::SslMode::Require,
        });
        Ok(Target { config, tls, site })
    }

    /// What tells one database from another for the process's watches and back-offs.
    pub fn site_key(&self) -> &str {
        &self.site.shown
    }

    /// A new connection.
    pub fn connect(&self) -> Result<Client> {
        match &self.tls {
            None => self.config.connect(NoTls),
            Some(tls) => self.config.connect(tls.clone()),
        }
        .map_err(|e| self.site.connect_err(e))
    }
}

/// The TLS connector for `mode`; `None` for no TLS at all.
fn tls_for(
    mode: SslMode,
    root: Option<&str>,
) -> std::result::Result<Option<tokio_postgres_rustls::MakeRustlsConnect>, String> {
    if mode == SslMode::Disable {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // libpq checks the certificate with require (and prefer) too when a root certificate
    // is given or ~/.postgresql/root.crt exists.
    let default_root = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".postgresql/root.crt"))
        .filter(|p| p.exists());
    let root: Option<String> = match (root, mode) {
        (Some(r), _) => Some(r.to_owned()),
        (None, _) => default_root.map(|p| p.display().to_string()),
    };
    let verify = match (mode, &root) {
        (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
            return Err(format!(
                "sslmode={} needs the certificate of the authority that signed the server's: give sslrootcert=PATH (a PEM file), or sslrootcert=system to trust the system's authorities",
                if mode == SslMode::VerifyCa {
                    "verify-ca"
                } else {
                    "verify-full"
                }
            ));
        }
        (SslMode::VerifyFull, Some(_)) => Some(true),
        (_, Some(_)) => Some(false),
        (_, None) => None,
    };
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let config = match (verify, root) {
        (Some(names), Some(root)) => {
            let roots = Arc::new(roots(&root)?);
            let webpki =
                rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| format!("TLS: {e}"))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Verify { webpki, names }))
                .with_no_client_auth()
        }
        _ => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unchecked(provider)))
            .with_no_client_auth(),
    };
    Ok(Some(tokio_postgres_rustls::MakeRustlsConnect::new(config)))
}

/// The trusted roots: a PEM file, or the system's (`system`).
fn roots(root: &str) -> std::result::Result<rustls::RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    let mut store = rustls::RootCertStore::empty();
    if root == "system" {
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            let _ = store.add(cert);
        }
    } else {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(root)
            .and_then(|i| i.collect())
            .map_err(|e| {
                format!(
                    "cannot read the root certificate {}: {e}",
                    crate::names::shown(root)
                )
            })?;
        for cert in certs {
            store.add(cert).map_err(|e| {
                format!(
                    "cannot use the root certificate {}: {e}",
                    crate::names::shown(root)
                )
            })?;
        }
    }
    if store.is_empty() {
        return Err(format!(
            "no root certificate found in {}",
            crate::names::shown(root)
        ));
    }
    Ok(store)
}

/// verify-full: the chain and the name; verify-ca (and require with a root): the chain.
#[derive(Debug)]
struct Verify {
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    names: bool,
}

impl ServerCertVerifier for Verify {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) if !self.names => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// prefer and require without a root: encrypted, the certificate not checked (libpq's
/// rule; README says what that protects against).
#[derive(Debug)]
struct Unchecked(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Run `f`, which blocks on the network, from wherever the caller is: inside a worker of a
/// multi-threaded tokio runtime (`keyctl serve`), the worker hands its other tasks on first,
/// since the synchronous client runs a runtime of its own.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Longest pause between attempts to reconnect after a connection broke.
const MAX_BACKOFF: Duration = Duration::from_millis(1000);

/// When connections to one database of this process may be tried again, shared by every
/// store and the listener: while the server is down, the process tries about once per
/// pause (not once per request), and once any connection succeeds, every store tries again
/// at once.
#[derive(Default)]
pub(crate) struct Backoff {
    /// Not before this instant; the pause that set it; the failure to repeat meanwhile.
    state: std::sync::Mutex<Option<(std::time::Instant, Duration, String)>>,
}

impl Backoff {
    /// The failure to answer with now, while a pause lasts.
    pub fn pausing(&self) -> Option<String> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .as_ref()
            .filter(|(until, _, _)| std::time::Instant::now() < *until)
            .map(|(_, _, why)| why.clone())
    }

    /// A connection attempt failed: pause, twice as long as last time.
    pub fn failed(&self, why: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let pause = state
            .as_ref()
            .map_or(Duration::from_millis(50), |(_, p, _)| {
                (*p * 2).min(MAX_BACKOFF)
            });
        *state = Some((std::time::Instant::now() + pause, pause, why.to_owned()));
    }

    /// A connection succeeded: no pause.
    pub fn succeeded(&self) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// The process's back-off for the database `key` names.
pub(crate) fn backoff(key: &str) -> Arc<Backoff> {
    static ALL: std::sync::Mutex<Vec<(String, Arc<Backoff>)>> = std::sync::Mutex::new(Vec::new());
    let mut all = ALL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, b)) = all.iter().find(|(k, _)| k == key) {
        return Arc::clone(b);
    }
    let b = Arc::new(Backoff::default());
    all.push((key.to_owned(), Arc::clone(&b)));
    b
}
