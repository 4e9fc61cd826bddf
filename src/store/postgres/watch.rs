//! Being told of every change: one `LISTEN` connection per database per process, which
//! turns notifications into a generation number, the store's [`Marker`].
//!
//! Every change keyctl commits sends a notification on [`CHANNEL`] in the same transaction,
//! so PostgreSQL delivers it exactly when the change becomes visible. A verifier remembers
//! a key together with the generation read *before* the key's row, and answers from memory
//! only while the generation is the same: any commit after that read bumps it once its
//! notification arrives, so a revocation holds on every instance as soon as its
//! notification is delivered (milliseconds on a healthy network).
//!
//! While the listening connection is down, or has not shown it is alive for [`LIVENESS`]
//! (a silent network failure), there is no marker: nothing is remembered and every
//! verification reads the database. Each reconnection bumps the generation, so nothing read
//! before a gap, in which notifications may have been missed, is trusted after it.
//!
//! A one-shot command never asks for a marker and never starts a watch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;

use super::conn::Target;
use crate::store::Marker;

/// The channel keyctl notifies on.
pub const CHANNEL: &str = "keyctl";

/// How often the listener shows it is alive when nothing else happens.
const PING_EVERY: Duration = Duration::from_millis(200);

/// How long a successful round trip on the listening connection keeps the marker valid.
pub const LIVENESS: Duration = Duration::from_millis(1000);

/// Longest pause between attempts to reconnect.
const MAX_BACKOFF: Duration = Duration::from_millis(1000);

/// What the listener thread tells the verifiers.
pub(crate) struct Watch {
    generation: AtomicU64,
    /// Milliseconds since [`Watch::epoch`] until which the listener counts as alive; 0
    /// while it is down.
    alive_until: AtomicU64,
    epoch: Instant,
}

impl Watch {
    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// The marker now: `None` while the listener is down or not known to be alive.
    pub fn marker(&self) -> Option<Marker> {
        let until = self.alive_until.load(Ordering::Acquire);
        if until == 0 || self.millis(Instant::now()) >= until {
            return None;
        }
        Some(Marker::Generation(self.generation.load(Ordering::Acquire)))
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn alive_since(&self, sent: Instant) {
        let until = self.millis(sent + LIVENESS).max(1);
        self.alive_until.store(until, Ordering::Release);
    }

    fn down(&self) {
        self.alive_until.store(0, Ordering::Release);
    }
}

/// The watches of this process, one per database URL, alive while some store holds one.
static WATCHES: Mutex<Vec<(String, Weak<Watch>)>> = Mutex::new(Vec::new());

/// The watch for this database, started if none is running.
pub(crate) fn watch(target: &Target, key: &str) -> Arc<Watch> {
    let mut watches = WATCHES.lock().unwrap_or_else(|e| e.into_inner());
    watches.retain(|(_, w)| w.strong_count() > 0);
    if let Some(w) = watches
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, w)| w.upgrade())
    {
        return w;
    }
    let watch = Arc::new(Watch {
        generation: AtomicU64::new(1),
        alive_until: AtomicU64::new(0),
        epoch: Instant::now(),
    });
    watches.push((key.to_owned(), Arc::downgrade(&watch)));
    let weak = Arc::downgrade(&watch);
    let target = target.clone();
    let started = std::thread::Builder::new()
        .name("keyctl-listen".into())
        .spawn(move || listen(&target, &weak));
    if started.is_err() {
        // No thread, no marker: verifiers read the database every time.
        watch.down();
    }
    watch
}

/// The listener thread: connect, `LISTEN`, count notifications, ping, reconnect; until no
/// store holds the watch any more.
fn listen(target: &Target, weak: &Weak<Watch>) {
    let mut backoff = Duration::from_millis(50);
    let mut said_down = false;
    loop {
        let Some(watch) = weak.upgrade() else { return };
        let client = target.connect().and_then(|mut c| {
            c.batch_execute(&format!("LISTEN {CHANNEL}"))
                .map_err(|e| target.site.err(e))?;
            Ok(c)
        });
        let shared = super::conn::backoff(target.site_key());
        let mut client = match client {
            Ok(c) => c,
            Err(e) => {
                watch.down();
                shared.failed(&e.to_string());
                if !said_down {
                    note(&format!(
                        "not told of changes, so remembering no key, until the database is back: {e}"
                    ));
                    said_down = true;
                }
                drop(watch);
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        shared.succeeded();
        if said_down {
            note("told of changes again");
            said_down = false;
        }
        backoff = Duration::from_millis(50);
        // Anything may have changed while nobody listened.
        watch.bump();
        watch.alive_since(Instant::now());
        drop(watch);
        loop {
            let Some(watch) = weak.upgrade() else { return };
            let mut lost = false;
            {
                let mut notes = client.notifications();
                let mut iter = notes.timeout_iter(PING_EVERY);
                loop {
                    match iter.next() {
                        Ok(Some(_)) => {
                            watch.bump();
                            // Take whatever else arrived with it, then show liveness.
                            if iter.size_hint().0 == 0 {
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(_) => {
                            lost = true;
                            break;
                        }
                    }
                }
            }
            if !lost {
                // A round trip shows the connection is alive, and delivers every
                // notification of a commit made before the server answered it.
                let sent = Instant::now();
                lost = client.is_valid(LIVENESS).is_err();
                if !lost {
                    let mut pending = client.notifications();
                    let mut iter = pending.iter();
                    while let Ok(Some(_)) = iter.next() {
                        watch.bump();
                    }
                    watch.alive_since(sent);
                }
            }
            if lost || client.is_closed() {
                watch.down();
                break;
            }
        }
    }
}

fn note(text: &str) {
    eprintln!("keyctl: {text}");
}
