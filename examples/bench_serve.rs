//! A small load client for `bench/serve.sh`: keep-alive HTTP/1.1 against `keyctl serve`'s
//! `/auth`, recording for every request when it was sent, which token it carried and the
//! status that came back, so that requests can be ordered against other events exactly.
//!
//! ```text
//! bench_serve revoke ADDR KEYCTL DB TOKENS_FILE [REVOKE] [CONNECTIONS] [PAUSE_MS]
//!     load ADDR from CONNECTIONS threads (default 8), each on one keep-alive connection,
//!     every request with a token drawn at random from TOKENS_FILE; meanwhile revoke the
//!     keys of the first REVOKE tokens (default 100) one by one by running
//!     `KEYCTL --db DB delete --yes ID`, PAUSE_MS (default 100) apart, and count the
//!     requests accepted (200) with a token sent after its revoke command had returned
//! bench_serve timeline ADDR TOKENS_FILE SECONDS [CONNECTIONS]
//!     load ADDR as fast as CONNECTIONS threads (default 8) can for SECONDS, and print
//!     each second's requests, and the 50th, 99th and 100th percentile latency in it
//! ```
//!
//! Each thread sends one request, reads the whole answer, then sends the next (closed
//! loop), over a connection it keeps for the whole run (`Connection: keep-alive` is
//! HTTP/1.1's default). A request's time is taken with `Instant::now()` just before its
//! bytes are written; a revocation's just after `keyctl delete` has exited, which is after
//! its transaction committed. The same monotonic clock orders both, so a request whose
//! time is later than its key's revocation was sent after the revocation was done, and any
//! 200 to it is a key accepted after its revocation.
//!
//! Not a test: nothing here runs under `cargo test`. Results go to stdout as one JSON object.

use std::error::Error;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// The path every request asks about (as nginx's `X-Original-URI` would carry it): allowed
/// for every key of the benchmark stores, restricted or not.
const PATH: &str = "/api/items";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> Result<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| usage().into())
    };
    let num = |i: usize, default: u64| -> Result<u64> {
        args.get(i).map_or(Ok(default), |s| Ok(s.parse()?))
    };
    match arg(0)? {
        "revoke" => revoke(
            arg(1)?,
            Path::new(arg(2)?),
            Path::new(arg(3)?),
            Path::new(arg(4)?),
            num(5, 100)? as usize,
            num(6, 8)? as usize,
            num(7, 100)?,
        ),
        "timeline" => timeline(
            arg(1)?,
            Path::new(arg(2)?),
            num(3, 10)?,
            num(4, 8)? as usize,
        ),
        _ => Err(usage().into()),
    }
}

fn usage() -> String {
    "usage: bench_serve revoke ADDR KEYCTL DB TOKENS_FILE [REVOKE] [CONNECTIONS] [PAUSE_MS]\n       \
     bench_serve timeline ADDR TOKENS_FILE SECONDS [CONNECTIONS]"
        .into()
}

/// One request as sent and answered.
#[derive(Clone, Copy)]
struct Sample {
    /// When its first byte was about to be written, in nanoseconds since the run began.
    sent: u64,
    /// How long until the whole answer was read, in nanoseconds.
    took: u64,
    /// Which token (its line in the tokens file, from 0).
    token: u32,
    /// The HTTP status; 0 when the connection failed.
    status: u16,
}

fn tokens(path: &Path) -> Result<Vec<String>> {
    let tokens: Vec<String> = std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if tokens.is_empty() {
        return Err(format!("no tokens in {}", path.display()).into());
    }
    Ok(tokens)
}

/// Every request this client can send, one per token, ready to write.
fn requests(addr: &str, tokens: &[String]) -> Vec<Vec<u8>> {
    tokens
        .iter()
        .map(|t| {
            format!(
                "GET /auth HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {t}\r\nX-Original-URI: {PATH}\r\n\r\n"
            )
            .into_bytes()
        })
        .collect()
}

/// A small xorshift generator per thread: the draw must cost nothing beside a request.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Load `addr` from `connections` threads until `stop` is set; every request's sample.
fn load(
    addr: &str,
    requests: Arc<Vec<Vec<u8>>>,
    connections: usize,
    start: Instant,
    stop: Arc<AtomicBool>,
) -> Result<Vec<Sample>> {
    let seed = start.elapsed().as_nanos() as u64 ^ u64::from(std::process::id());
    let workers: Vec<_> = (0..connections)
        .map(|i| {
            let addr = addr.to_owned();
            let requests = Arc::clone(&requests);
            let stop = Arc::clone(&stop);
            thread::spawn(move || -> Result<Vec<Sample>> {
                let mut rng = Rng::new(seed + i as u64 + 1);
                let mut samples = Vec::with_capacity(1 << 20);
                let mut conn = Conn::open(&addr)?;
                while !stop.load(Ordering::Relaxed) {
                    let token = rng.below(requests.len());
                    let sent = start.elapsed();
                    let status = match conn.ask(&requests[token]) {
                        Ok(status) => status,
                        Err(_) => {
                            // Counted as a failure, then a new connection.
                            conn = Conn::open(&addr)?;
                            0
                        }
                    };
                    samples.push(Sample {
                        sent: sent.as_nanos() as u64,
                        took: (start.elapsed() - sent).as_nanos() as u64,
                        token: token as u32,
                        status,
                    });
                }
                Ok(samples)
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.join().map_err(|_| "a load thread panicked")??);
    }
    all.sort_by_key(|s| s.sent);
    Ok(all)
}

/// One keep-alive connection.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    line: String,
}

impl Conn {
    fn open(addr: &str) -> Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Conn {
            writer: stream.try_clone()?,
            reader: BufReader::with_capacity(16 * 1024, stream),
            line: String::new(),
        })
    }

    /// Send one request and read its whole answer: the status.
    fn ask(&mut self, request: &[u8]) -> Result<u16> {
        self.writer.write_all(request)?;
        self.line.clear();
        self.reader.read_line(&mut self.line)?;
        let status: u16 = self
            .line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("not an HTTP status line")?;
        let mut length = 0usize;
        let mut close = false;
        loop {
            self.line.clear();
            if self.reader.read_line(&mut self.line)? == 0 {
                return Err("the connection closed mid-answer".into());
            }
            let line = self.line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse()?;
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.eq_ignore_ascii_case("close");
                }
            }
        }
        let mut body = vec![0; length];
        std::io::Read::read_exact(&mut self.reader, &mut body)?;
        if close {
            return Err("the server closed the connection".into());
        }
        Ok(status)
    }
}

/// The key id in a token: `kc_ID_SECRET`.
fn key_id(token: &str) -> Result<&str> {
    token
        .split('_')
        .nth(1)
        .ok_or_else(|| format!("not a keyctl token: {token:.8}...").into())
}

fn revoke(
    addr: &str,
    keyctl: &Path,
    db: &Path,
    tokens_file: &Path,
    count: usize,
    connections: usize,
    pause_ms: u64,
) -> Result<()> {
    let tokens = tokens(tokens_file)?;
    if count > tokens.len() {
        return Err(format!("only {} tokens to revoke from", tokens.len()).into());
    }
    let requests = Arc::new(requests(addr, &tokens));
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let loader = {
        let (addr, requests, stop) = (addr.to_owned(), Arc::clone(&requests), Arc::clone(&stop));
        thread::spawn(move || load(&addr, requests, connections, start, stop))
    };
    // Load alone first, so that every key's last use is recorded and the verifiers warm.
    thread::sleep(Duration::from_secs(2));
    let mut revoked_at = Vec::with_capacity(count);
    let mut command_ms = Vec::with_capacity(count);
    for token in &tokens[..count] {
        let began = start.elapsed();
        let output = Command::new(keyctl)
            .arg("--db")
            .arg(db)
            .args(["delete", "--yes", key_id(token)?])
            .stdin(Stdio::null())
            .output()?;
        let done = start.elapsed();
        if !output.status.success() {
            stop.store(true, Ordering::Relaxed);
            return Err(format!(
                "keyctl delete failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        revoked_at.push(done.as_nanos() as u64);
        command_ms.push((done - began).as_secs_f64() * 1e3);
        thread::sleep(Duration::from_millis(pause_ms));
    }
    // Keep loading a while after the last revocation.
    thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let samples = loader.join().map_err(|_| "the load thread panicked")??;

    let mut accepted_after = 0u64;
    let mut refused_after = 0u64;
    let mut accepted_before = 0u64;
    let mut other = 0u64;
    for s in &samples {
        if s.status != 200 && s.status != 401 {
            other += 1;
        }
        let Some(&at) = revoked_at.get(s.token as usize) else {
            continue;
        };
        match (s.sent >= at, s.status) {
            (true, 200) => accepted_after += 1,
            (true, _) => refused_after += 1,
            (false, 200) => accepted_before += 1,
            (false, _) => {}
        }
    }
    // 200s to a token still answered while its revoke ran (sent before it returned, answered
    // after it began): allowed, and counted to show that the race window was exercised.
    let seconds = samples.last().map_or(0.0, |s| s.sent as f64 / 1e9);
    command_ms.sort_by(f64::total_cmp);
    println!(
        "{{\"requests\": {}, \"seconds\": {seconds:.2}, \"per_second\": {:.0}, \"revoked\": {count}, \"connections\": {connections}, \
         \"accepted_after_revoke\": {accepted_after}, \"refused_after_revoke\": {refused_after}, \
         \"accepted_before_revoke\": {accepted_before}, \"not_200_or_401\": {other}, \
         \"delete_ms_median\": {:.2}, \"delete_ms_max\": {:.2}}}",
        samples.len(),
        samples.len() as f64 / seconds.max(1e-9),
        command_ms[command_ms.len() / 2],
        command_ms[command_ms.len() - 1],
    );
    Ok(())
}

fn timeline(addr: &str, tokens_file: &Path, seconds: u64, connections: usize) -> Result<()> {
    let tokens = tokens(tokens_file)?;
    let requests = Arc::new(requests(addr, &tokens));
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let loader = {
        let (addr, stop) = (addr.to_owned(), Arc::clone(&stop));
        thread::spawn(move || load(&addr, requests, connections, start, stop))
    };
    thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let samples = loader.join().map_err(|_| "the load thread panicked")??;
    let mut per_second: Vec<Vec<u64>> = vec![Vec::new(); seconds as usize + 1];
    let mut failed = 0u64;
    for s in &samples {
        if s.status != 200 {
            failed += 1;
        }
        per_second[(s.sent / 1_000_000_000) as usize].push(s.took);
    }
    let rows: Vec<String> = per_second
        .iter_mut()
        .take(seconds as usize)
        .enumerate()
        .map(|(i, took)| {
            took.sort_unstable();
            let pct = |p: f64| {
                took.get(((took.len() as f64 * p) as usize).min(took.len().saturating_sub(1)))
                    .map_or(0.0, |&ns| ns as f64 / 1e6)
            };
            format!(
                "{{\"second\": {i}, \"requests\": {}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}, \"max_ms\": {:.3}}}",
                took.len(),
                pct(0.5),
                pct(0.99),
                took.last().map_or(0.0, |&ns| ns as f64 / 1e6)
            )
        })
        .collect();
    println!(
        "{{\"connections\": {connections}, \"not_200\": {failed}, \"seconds\": [\n  {}\n]}}",
        rows.join(",\n  ")
    );
    Ok(())
}
