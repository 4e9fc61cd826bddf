//! Verification without a read transaction while the store is unchanged.
//!
//! Opening a read transaction in SQLite's rollback journal costs about eight system calls
//! (take and drop a shared lock, look for a hot journal and a WAL file, check the file's
//! size and change counter), most of a verification's cost in a long-running process. So a
//! [`Verifier`](super::Verifier) keeps what each verified key's row said, with the file's 100-byte
//! header as it was *inside* the read transaction that returned the row, and later serves
//! that key from memory when the header, read again just before, is byte-for-byte the
//! same: one `pread` instead of a transaction.
//!
//! Why that answer is the one a fresh read would give: in the rollback journal every
//! transaction that changes the file increments the change counter at offset 24, in page
//! 1, which the writer writes to the file before its commit point (the deletion,
//! truncation or zeroing of the journal). So an unchanged counter means no commit happened
//! since the snapshot; a writer part-way through its commit has committed nothing yet, and
//! if it dies there, the rollback of its journal restores the old header along with the old
//! rows. In exclusive locking mode a writer increments the counter only in the first
//! transaction of a locking session, but it holds its lock for the whole session, so no
//! snapshot can be taken in the middle of one. SQLite relies on the same counter to decide
//! whether its own page cache is still good. In WAL mode the counter does not track commits,
//! so nothing is cached for a store in WAL mode, which is what header bytes 18 and 19 say.
//!
//! A revocation therefore takes effect for a cached key at the same moment as without the
//! cache: when the writer commits. Any change at all to the store, including the last-use
//! record a verification writes, empties the cache; it refills as keys are verified again.

use std::collections::HashMap;
use std::sync::Arc;

use crate::store::{Marker, StoredKey};

/// After a header that rules remembering out (WAL mode), this many inserts skip reading
/// the header at all: a store in WAL mode pays for one read in a thousand verifications,
/// and one switched back to the rollback journal is remembered again soon after.
const RECHECK_AFTER: u16 = 1_000;

/// Keys by id, all read under the same marker.
pub(crate) struct Cache {
    capacity: usize,
    /// The marker every entry was read under, and the entries; `None` when empty.
    snapshot: Option<(Marker, HashMap<String, Arc<StoredKey>>)>,
    /// Inserts left that skip the header; see [`RECHECK_AFTER`].
    skip: u16,
}

impl Cache {
    pub fn new(capacity: usize) -> Cache {
        Cache {
            capacity,
            snapshot: None,
            skip: 0,
        }
    }

    /// The key with this id, when it is cached and `current` (called only then) reads a
    /// marker identical to the one its row was read under.
    pub fn get(
        &self,
        id: &str,
        current: impl FnOnce() -> Option<Marker>,
    ) -> Option<Arc<StoredKey>> {
        let (marker, entries) = self.snapshot.as_ref()?;
        let entry = entries.get(id)?;
        (current()? == *marker).then(|| Arc::clone(entry))
    }

    /// Whether the next [`Cache::insert`] will use a marker: reading one costs a little,
    /// so the caller reads it only then.
    pub fn wants_marker(&self) -> bool {
        self.capacity > 0 && self.skip == 0
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.snapshot.as_ref().map_or(0, |(_, e)| e.len())
    }

    /// Remember a key read in a transaction, with the marker read inside that same
    /// transaction. A different marker than the cached keys were read under means the
    /// store changed: they are forgotten.
    pub fn insert(&mut self, key: Arc<StoredKey>, marker: Option<Marker>) {
        if self.capacity == 0 {
            return;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        let marker = match marker {
            Some(m) if m.tracks_commits() => m,
            Some(_) => {
                self.snapshot = None;
                self.skip = RECHECK_AFTER;
                return;
            }
            // No marker now (a PostgreSQL listener that is down, an unreadable header):
            // nothing is remembered, and the next read tries again.
            None => {
                self.snapshot = None;
                return;
            }
        };
        if self.snapshot.as_ref().is_none_or(|(m, _)| *m != marker) {
            self.snapshot = Some((marker, HashMap::new()));
        }
        let Some((_, entries)) = self.snapshot.as_mut() else {
            return;
        };
        if entries.len() >= self.capacity && !entries.contains_key(key.id.as_str()) {
            // Any entry will do: a verifier with more keys in use than the capacity loses
            // only the transactions it would have saved.
            if let Some(victim) = entries.keys().next().cloned() {
                entries.remove(&victim);
            }
        }
        entries.insert(key.id.to_string(), key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::header::{self, Header};

    fn key(id: &str) -> Arc<StoredKey> {
        Arc::new(StoredKey {
            id: format!("{id}0000000").parse().unwrap(),
            user: "svc".parse().unwrap(),
            name: None,
            paths: crate::paths::PathPrefixes::none(),
            expires: None,
            deleted: None,
            disabled: None,
            last_used: None,
            digest: vec![7; 32],
            earlier: Vec::new(),
        })
    }

    /// A rollback-journal header with this change counter.
    fn header(counter: u8) -> Marker {
        header_in_format(counter, 1)
    }

    /// A header of a database in WAL mode.
    fn wal_header() -> Marker {
        header_in_format(1, 2)
    }

    fn header_in_format(counter: u8, format: u8) -> Marker {
        let mut bytes = [0u8; header::LEN];
        bytes[..16].copy_from_slice(b"SQLite format 3\0");
        bytes[18] = format;
        bytes[19] = format;
        bytes[27] = counter;
        Marker::Header(Header::from_bytes(&bytes))
    }

    /// Cache ids are the test's letter padded to a valid key id.
    fn id(letter: &str) -> String {
        format!("{letter}0000000")
    }

    #[test]
    fn answers_only_under_the_same_header() {
        let mut cache = Cache::new(10);
        cache.insert(key("a"), Some(header(1)));
        assert!(cache.get(&id("a"), || Some(header(1))).is_some());
        assert!(
            cache.get(&id("a"), || Some(header(2))).is_none(),
            "store changed"
        );
        assert!(cache.get(&id("a"), || None).is_none(), "header unreadable");
        assert!(
            cache.get(&id("b"), || Some(header(1))).is_none(),
            "never read"
        );
    }

    #[test]
    fn does_not_read_the_header_for_a_key_it_does_not_hold() {
        let cache = Cache::new(10);
        assert!(
            cache
                .get(&id("a"), || panic!("header read for nothing"))
                .is_none()
        );
    }

    #[test]
    fn a_new_header_forgets_every_key_read_under_the_old_one() {
        let mut cache = Cache::new(10);
        cache.insert(key("a"), Some(header(1)));
        cache.insert(key("b"), Some(header(2)));
        assert!(cache.get(&id("a"), || Some(header(2))).is_none());
        assert!(cache.get(&id("a"), || Some(header(1))).is_none());
        assert!(cache.get(&id("b"), || Some(header(2))).is_some());
    }

    #[test]
    fn holds_at_most_its_capacity() {
        let mut cache = Cache::new(3);
        for letter in ["a", "b", "c", "d", "e"] {
            cache.insert(key(letter), Some(header(1)));
            assert!(cache.len() <= 3);
            assert!(
                cache.get(&id(letter), || Some(header(1))).is_some(),
                "the newest stays"
            );
        }
        cache.insert(key("e"), Some(header(1)));
        assert_eq!(cache.len(), 3, "re-inserting evicts nothing");
        let mut off = Cache::new(0);
        assert!(!off.wants_marker(), "no marker read with the cache off");
        off.insert(key("a"), Some(header(1)));
        assert!(off.get(&id("a"), || Some(header(1))).is_none(), "off");
    }

    #[test]
    fn nothing_is_remembered_in_wal_mode_or_from_a_short_header() {
        let wal = wal_header();
        let mut cache = Cache::new(10);
        cache.insert(key("a"), Some(wal));
        assert!(cache.get(&id("a"), || Some(wal)).is_none());
        #[allow(irrefutable_let_patterns)] // refutable with the postgres feature
        let Marker::Header(h) = header(1) else {
            unreachable!("a header")
        };
        let short = Marker::Header(Header::from_bytes(&h.bytes()[..50]));
        let mut cache = Cache::new(10);
        cache.insert(key("a"), Some(short));
        assert!(cache.get(&id("a"), || Some(short)).is_none());
    }

    #[test]
    fn a_store_in_wal_mode_is_checked_again_only_now_and_then() {
        let mut cache = Cache::new(10);
        cache.insert(key("a"), Some(wal_header()));
        for _ in 0..RECHECK_AFTER {
            assert!(!cache.wants_marker(), "header read again too soon");
            cache.insert(key("a"), None);
        }
        // Back in the rollback journal: remembered again.
        assert!(cache.wants_marker());
        cache.insert(key("a"), Some(header(1)));
        assert!(cache.get(&id("a"), || Some(header(1))).is_some());
    }
}
