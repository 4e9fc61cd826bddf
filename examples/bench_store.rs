//! Populate and measure keyctl stores for `bench/run.sh`, through the public library API.
//!
//! ```text
//! bench_store populate DB KEYS TOKENS_FILE [SAMPLE]   create a store of KEYS keys, write SAMPLE tokens
//! bench_store verify-rate DB TOKENS_FILE [TOKENS] [SECONDS] [ROUNDS]
//!                                                     verifications per second, one thread,
//!                                                     with and without the verify cache
//! bench_store bytes-per-key DB                        store file size / number of keys
//! ```
//!
//! Not a test: nothing here runs under `cargo test`. Results go to stdout as one JSON object.

use std::error::Error;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use keyctl::paths::PathPrefixes;
use keyctl::store::{ListFilter, NewKey, Store};
use keyctl::time::Expiry;
use keyctl::{Check, Credential, Source, Verifier};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Keys per transaction while populating: large enough that commits are negligible, small
/// enough that the returned tokens stay a few tens of MiB.
const BATCH: usize = 50_000;
/// Distinct users the keys are spread over.
const USERS: usize = 1_000;

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
        "populate" => populate(
            Path::new(arg(1)?),
            num(2, 0)?,
            Path::new(arg(3)?),
            num(4, 10_000)?,
        ),
        "verify-rate" => verify_rate(
            Path::new(arg(1)?),
            Path::new(arg(2)?),
            num(3, 2_000)?,
            num(4, 3)?,
            num(5, 5)?,
        ),
        "bytes-per-key" => bytes_per_key(Path::new(arg(1)?)),
        _ => Err(usage().into()),
    }
}

fn usage() -> String {
    "usage: bench_store populate DB KEYS TOKENS_FILE [SAMPLE]\n       \
     bench_store verify-rate DB TOKENS_FILE [TOKENS] [SECONDS] [ROUNDS]\n       \
     bench_store bytes-per-key DB"
        .into()
}

/// A key like those a CI setup makes: named, spread over many users, a quarter restricted
/// to a path, half with an expiry a year out.
fn new_key(i: u64) -> Result<NewKey> {
    let mut key = NewKey::new(format!("svc{:04}", i % USERS as u64).parse()?);
    key.name = Some(format!("key{i}").parse()?);
    if i.is_multiple_of(4) {
        key.paths = PathPrefixes::parse(&["/api"])?;
    }
    if i.is_multiple_of(2) {
        key.expires = Expiry::In("365d".parse()?);
    }
    Ok(key)
}

fn populate(db: &Path, keys: u64, tokens: &Path, sample: u64) -> Result<()> {
    if db.exists() {
        return Err(format!("{} exists; populate makes a new store", db.display()).into());
    }
    let started = Instant::now();
    let mut store = Store::open_or_create(db)?;
    // Every `stride`-th key is sampled, so the sample is spread over the whole store.
    let stride = (keys / sample.max(1)).max(1);
    let mut sampled = Vec::new();
    let mut next = 0;
    while next < keys {
        let end = (next + BATCH as u64).min(keys);
        let batch = (next..end).map(new_key).collect::<Result<Vec<NewKey>>>()?;
        let created = store.create_keys(&batch)?;
        for (i, issued) in (next..end).zip(created) {
            if i.is_multiple_of(stride) && (sampled.len() as u64) < sample {
                sampled.push(issued.token.reveal().to_owned());
            }
        }
        next = end;
    }
    drop(store);
    let elapsed = started.elapsed().as_secs_f64();
    let mut out = fs::File::create(tokens)?;
    for token in &sampled {
        writeln!(out, "{token}")?;
    }
    println!(
        "{{\"keys\": {keys}, \"seconds\": {elapsed:.3}, \"keys_per_second\": {:.0}, \"sampled_tokens\": {}}}",
        keys as f64 / elapsed,
        sampled.len()
    );
    Ok(())
}

/// Verify the first `tokens` sampled tokens round-robin, `rounds` times for `seconds` each
/// through a verifier that remembers keys (the default) and as many through one that does
/// not (`Verifier::with_cache(store, 0)`), alternating, so that both see the machine alike. Each round
/// opens the store anew, so that neither connection inherits the other's history. One
/// warm-up pass comes first, timed apart: it is where the store records each key's last
/// use (a write, at most once a minute per key), as a long-running verifier does when a key
/// is first seen; the rounds then measure the steady state, well inside that minute, like a
/// verifier whose keys are in constant use.
fn verify_rate(db: &Path, tokens: &Path, count: u64, seconds: u64, rounds: u64) -> Result<()> {
    let credentials: Vec<Credential> = fs::read_to_string(tokens)?
        .lines()
        .take(count as usize)
        .map(|t| Credential::new(t, Source::Argument))
        .collect();
    if credentials.is_empty() {
        return Err(format!("no tokens in {}", tokens.display()).into());
    }
    let mut store = Verifier::new(Store::open(db)?);
    let started = Instant::now();
    for c in &credentials {
        let verdict = store.verify(c, &Check::default())?;
        if !verdict.valid {
            return Err(format!("a sampled token was rejected: {:?}", verdict.reason).into());
        }
    }
    let first_use = started.elapsed().as_secs_f64() / credentials.len() as f64;
    drop(store);
    let (mut fast, mut slow) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        fast.push(rate(db, &credentials, seconds, true)?);
        slow.push(rate(db, &credentials, seconds, false)?);
    }
    let (fast, slow) = (median(&mut fast), median(&mut slow));
    println!(
        "{{\"per_second\": {fast:.0}, \"uncached_per_second\": {slow:.0}, \"distinct_tokens\": {}, \"first_use_ms\": {:.3}}}",
        credentials.len(),
        first_use * 1000.0
    );
    Ok(())
}

/// Verifications per second over `seconds` through a newly opened store, after one untimed
/// pass over the tokens; every verification must be valid.
fn rate(db: &Path, credentials: &[Credential], seconds: u64, remember: bool) -> Result<f64> {
    let store = Store::open(db)?;
    let mut store = if remember {
        Verifier::new(store)
    } else {
        Verifier::with_cache(store, 0)
    };
    let mut pass = || -> Result<u64> {
        let mut valid = 0;
        for c in credentials {
            valid += u64::from(store.verify(c, &Check::default())?.valid);
        }
        let rejected = credentials.len() as u64 - valid;
        if rejected > 0 {
            return Err(format!("{rejected} sampled tokens were rejected").into());
        }
        Ok(valid)
    };
    pass()?;
    let budget = Duration::from_secs(seconds);
    let started = Instant::now();
    let mut done = 0;
    // Check the clock once per pass, not per verification.
    while started.elapsed() < budget {
        done += pass()?;
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}

fn median(rates: &mut [f64]) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn bytes_per_key(db: &Path) -> Result<()> {
    let store = Store::open(db)?;
    let mut all = ListFilter::default();
    all.all = true;
    let keys = store.list(&all)?.len() as u64;
    drop(store);
    let bytes = fs::metadata(db)?.len();
    println!(
        "{{\"keys\": {keys}, \"bytes\": {bytes}, \"bytes_per_key\": {:.1}}}",
        bytes as f64 / keys.max(1) as f64
    );
    Ok(())
}
