//! Populate and measure keyctl stores for `bench/run.sh`, through the public library API.
//!
//! ```text
//! bench_store populate DB KEYS TOKENS_FILE [SAMPLE]   create a store of KEYS keys, write SAMPLE tokens
//! bench_store verify-rate DB TOKENS_FILE [TOKENS] [SECONDS] [ROUNDS]
//!                                                     verifications per second, one thread,
//!                                                     with and without the verify cache
//! bench_store bytes-per-key DB                        store file size / number of keys
//! bench_store extend SRC DST KEYS created|adopted      copy SRC to DST and add KEYS keys
//!                                                     of that kind, in one transaction
//! bench_store adopted-cost PLAIN ADOPTED TOKENS_FILE [TOKENS] [SECONDS] [ROUNDS]
//!                                                     keyctl tokens verified per second in
//!                                                     both stores, and foreign strings
//!                                                     rejected per second
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
use keyctl::token::Digest;
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
        "extend" => extend(
            Path::new(arg(1)?),
            Path::new(arg(2)?),
            num(3, 1_000)?,
            arg(4)?,
        ),
        "adopted-cost" => adopted_cost(
            Path::new(arg(1)?),
            Path::new(arg(2)?),
            Path::new(arg(3)?),
            num(4, 2_000)?,
            num(5, 1)?,
            num(6, 5)?,
        ),
        _ => Err(usage().into()),
    }
}

fn usage() -> String {
    "usage: bench_store populate DB KEYS TOKENS_FILE [SAMPLE]\n       \
     bench_store verify-rate DB TOKENS_FILE [TOKENS] [SECONDS] [ROUNDS]\n       \
     bench_store bytes-per-key DB\n       \
     bench_store extend SRC DST KEYS created|adopted\n       \
     bench_store adopted-cost PLAIN ADOPTED TOKENS_FILE [TOKENS] [SECONDS] [ROUNDS]"
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
        fast.push(rate(db, &credentials, seconds, true, true)?);
        slow.push(rate(db, &credentials, seconds, false, true)?);
    }
    let (fast, slow) = (median(&mut fast), median(&mut slow));
    println!(
        "{{\"per_second\": {fast:.0}, \"uncached_per_second\": {slow:.0}, \"distinct_tokens\": {}, \"first_use_ms\": {:.3}}}",
        credentials.len(),
        first_use * 1000.0
    );
    Ok(())
}

/// A copy of `src` at `dst` with `keys` more keys: keyctl keys (`created`), or tokens of
/// another system (`adopted`, VoIPBIN-style, adopted by digest). Two copies made from the
/// same store, one each way, differ only in whether they hold adopted tokens.
fn extend(src: &Path, dst: &Path, keys: u64, kind: &str) -> Result<()> {
    if dst.exists() {
        return Err(format!("{} exists; extend makes a new copy", dst.display()).into());
    }
    fs::copy(src, dst)?;
    let mut store = Store::open(dst)?;
    let new = |i: u64| -> Result<NewKey> {
        let mut key = NewKey::new(format!("extra{:02}", i % 50).parse()?);
        key.name = Some(format!("extra{i}").parse()?);
        Ok(key)
    };
    match kind {
        "created" => {
            let batch = (0..keys).map(new).collect::<Result<Vec<_>>>()?;
            store.create_keys(&batch)?;
        }
        "adopted" => {
            let batch = (0..keys)
                .map(|i| Ok((new(i)?, Digest::of(&format!("vb_bench{i:024}")))))
                .collect::<Result<Vec<_>>>()?;
            store.adopt_keys(&batch)?;
        }
        _ => return Err(usage().into()),
    }
    println!("{{\"keys\": {keys}, \"kind\": \"{kind}\"}}");
    Ok(())
}

/// keyctl tokens verified per second in `plain` and in `adopted` (copies of one store made
/// by `extend`, with keyctl keys and adopted tokens added), with the verify cache and
/// without, rounds alternating so that both see the machine alike; then strings that are
/// neither keyctl tokens nor adopted ones, rejected per second: `plain` answers them from
/// the text and a remembered "no adopted tokens here", `adopted` with one indexed look-up
/// each.
fn adopted_cost(
    plain: &Path,
    adopted: &Path,
    tokens: &Path,
    count: u64,
    seconds: u64,
    rounds: u64,
) -> Result<()> {
    let credentials: Vec<Credential> = fs::read_to_string(tokens)?
        .lines()
        .take(count as usize)
        .map(|t| Credential::new(t, Source::Argument))
        .collect();
    if credentials.is_empty() {
        return Err(format!("no tokens in {}", tokens.display()).into());
    }
    let foreign: Vec<Credential> = (0..credentials.len())
        .map(|i| Credential::new(format!("vb_nobody{i:024}"), Source::Argument))
        .collect();
    // First uses record last use in both, outside the timing.
    for db in [plain, adopted] {
        rate(db, &credentials, 0, true, true)?;
    }
    let mut runs: [Vec<f64>; 6] = Default::default();
    for _ in 0..rounds {
        runs[0].push(rate(plain, &credentials, seconds, true, true)?);
        runs[1].push(rate(adopted, &credentials, seconds, true, true)?);
        runs[2].push(rate(plain, &credentials, seconds, false, true)?);
        runs[3].push(rate(adopted, &credentials, seconds, false, true)?);
        runs[4].push(rate(plain, &foreign, seconds, true, false)?);
        runs[5].push(rate(adopted, &foreign, seconds, true, false)?);
    }
    let [a, b, c, d, e, f] = runs.map(|mut r| median(&mut r));
    println!(
        "{{\"plain_per_second\": {a:.0}, \"adopted_per_second\": {b:.0}, \
         \"plain_uncached_per_second\": {c:.0}, \"adopted_uncached_per_second\": {d:.0}, \
         \"foreign_plain_per_second\": {e:.0}, \"foreign_adopted_per_second\": {f:.0}, \
         \"distinct_tokens\": {}}}",
        credentials.len()
    );
    Ok(())
}

/// Verifications per second over `seconds` through a newly opened store, after one untimed
/// pass over the tokens; every verification must be valid (or, unless `valid`, rejected).
fn rate(
    db: &Path,
    credentials: &[Credential],
    seconds: u64,
    remember: bool,
    valid: bool,
) -> Result<f64> {
    let store = Store::open(db)?;
    let mut store = if remember {
        Verifier::new(store)
    } else {
        Verifier::with_cache(store, 0)
    };
    let mut pass = || -> Result<u64> {
        let mut as_expected = 0;
        for c in credentials {
            as_expected += u64::from(store.verify(c, &Check::default())?.valid == valid);
        }
        let wrong = credentials.len() as u64 - as_expected;
        if wrong > 0 {
            let what = if valid { "rejected" } else { "accepted" };
            return Err(format!("{wrong} sampled tokens were {what}").into());
        }
        Ok(as_expected)
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
