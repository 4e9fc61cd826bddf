//! Verification without a read transaction while the store file is unchanged.
//!
//! Opening a read transaction in SQLite's rollback journal costs about eight system calls
//! (take and drop a shared lock, look for a hot journal and a WAL file, check the file's
//! size and change counter), most of a verification's cost in a long-running process. So a
//! [`Store`](super::Store) keeps what each verified key's row said, with the file's 100-byte
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

use super::header::{self, Header};
use crate::time::Timestamp;

/// How many keys a store remembers for verification unless told otherwise: a few MiB at
/// most, and enough for the keys a busy verifier sees in a minute.
pub const DEFAULT_CAPACITY: usize = 16_384;

/// What verification needs to know about a key, as one read transaction saw it.
pub(crate) struct StoredKey {
    pub id: String,
    pub user: String,
    pub name: Option<String>,
    pub paths: Vec<String>,
    pub expires: Option<Timestamp>,
    pub deleted: Option<Timestamp>,
    pub disabled: Option<Timestamp>,
    pub last_used: Option<Timestamp>,
    /// Digest of the current token.
    pub digest: Vec<u8>,
    /// Digests of earlier tokens after a reset with grace, with the end of each grace
    /// period (some may have passed since they were read).
    pub earlier: Vec<(Vec<u8>, Timestamp)>,
}

/// After a header that rules remembering out (WAL mode), this many inserts skip reading
/// the header at all: a store in WAL mode pays for one read in a thousand verifications,
/// and one switched back to the rollback journal is remembered again soon after.
const RECHECK_AFTER: u16 = 1_000;

/// Keys by id, all read under the same header.
pub(crate) struct Cache {
    capacity: usize,
    /// The header every entry was read under, and the entries; `None` when empty.
    snapshot: Option<(Header, HashMap<String, Arc<StoredKey>>)>,
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

    /// Remember at most `capacity` keys (0: none).
    pub fn set_capacity(&mut self, capacity: usize) {
        *self = Cache::new(capacity);
    }

    /// The key with this id, when it is cached and `current` (called only then) reads a
    /// header identical to the one its row was read under.
    pub fn get(
        &self,
        id: &str,
        current: impl FnOnce() -> Option<Header>,
    ) -> Option<Arc<StoredKey>> {
        let (header, entries) = self.snapshot.as_ref()?;
        let entry = entries.get(id)?;
        (current()? == *header).then(|| Arc::clone(entry))
    }

    /// Remember a key read in a transaction, whose header `header` (called only when the
    /// key may be remembered at all) reads from inside that same transaction. A different
    /// header than the cached keys were read under means the store changed: they are
    /// forgotten.
    pub fn insert(&mut self, key: Arc<StoredKey>, header: impl FnOnce() -> Option<Header>) {
        if self.capacity == 0 {
            return;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        let Some(header) = header().filter(change_counter_tracks_commits) else {
            self.snapshot = None;
            self.skip = RECHECK_AFTER;
            return;
        };
        if self.snapshot.as_ref().is_none_or(|(h, _)| *h != header) {
            self.snapshot = Some((header, HashMap::new()));
        }
        let Some((_, entries)) = self.snapshot.as_mut() else {
            return;
        };
        if entries.len() >= self.capacity && !entries.contains_key(&key.id) {
            // Any entry will do: a verifier with more keys in use than the capacity loses
            // only the transactions it would have saved.
            if let Some(victim) = entries.keys().next().cloned() {
                entries.remove(&victim);
            }
        }
        entries.insert(key.id.clone(), key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.snapshot.as_ref().map_or(0, |(_, e)| e.len())
    }
}

/// True for a complete header of a database in a rollback-journal mode: file format
/// versions (bytes 18 and 19) 1. WAL mode (2) does not maintain the change counter.
fn change_counter_tracks_commits(h: &Header) -> bool {
    let b = h.bytes();
    b.len() == header::LEN && b[18] == 1 && b[19] == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> Arc<StoredKey> {
        Arc::new(StoredKey {
            id: id.into(),
            user: "svc".into(),
            name: None,
            paths: Vec::new(),
            expires: None,
            deleted: None,
            disabled: None,
            last_used: None,
            digest: vec![7; 32],
            earlier: Vec::new(),
        })
    }

    /// A rollback-journal header with this change counter.
    fn header(counter: u8) -> Header {
        header_in_format(counter, 1)
    }

    /// A header of a database in WAL mode.
    fn wal_header() -> Header {
        header_in_format(1, 2)
    }

    fn header_in_format(counter: u8, format: u8) -> Header {
        let mut bytes = [0u8; header::LEN];
        bytes[..16].copy_from_slice(b"SQLite format 3\0");
        bytes[18] = format;
        bytes[19] = format;
        bytes[27] = counter;
        Header::from_bytes(&bytes)
    }

    #[test]
    fn answers_only_under_the_same_header() {
        let mut cache = Cache::new(10);
        cache.insert(key("a"), || Some(header(1)));
        assert!(cache.get("a", || Some(header(1))).is_some());
        assert!(
            cache.get("a", || Some(header(2))).is_none(),
            "store changed"
        );
        assert!(cache.get("a", || None).is_none(), "header unreadable");
        assert!(cache.get("b", || Some(header(1))).is_none(), "never read");
    }

    #[test]
    fn does_not_read_the_header_for_a_key_it_does_not_hold() {
        let cache = Cache::new(10);
        assert!(
            cache
                .get("a", || panic!("header read for nothing"))
                .is_none()
        );
    }

    #[test]
    fn a_new_header_forgets_every_key_read_under_the_old_one() {
        let mut cache = Cache::new(10);
        cache.insert(key("a"), || Some(header(1)));
        cache.insert(key("b"), || Some(header(2)));
        assert!(cache.get("a", || Some(header(2))).is_none());
        assert!(cache.get("a", || Some(header(1))).is_none());
        assert!(cache.get("b", || Some(header(2))).is_some());
    }

    #[test]
    fn holds_at_most_its_capacity() {
        let mut cache = Cache::new(3);
        for id in ["a", "b", "c", "d", "e"] {
            cache.insert(key(id), || Some(header(1)));
            assert!(cache.len() <= 3);
            assert!(
                cache.get(id, || Some(header(1))).is_some(),
                "the newest stays"
            );
        }
        cache.insert(key("e"), || Some(header(1)));
        assert_eq!(cache.len(), 3, "re-inserting evicts nothing");
        cache.set_capacity(0);
        cache.insert(key("a"), || panic!("header read with the cache off"));
        assert!(cache.get("a", || Some(header(1))).is_none(), "off");
    }

    #[test]
    fn nothing_is_remembered_in_wal_mode_or_from_a_short_header() {
        let wal = wal_header();
        let mut cache = Cache::new(10);
        cache.insert(key("a"), || Some(wal));
        assert!(cache.get("a", || Some(wal)).is_none());
        let short = Header::from_bytes(&header(1).bytes()[..50]);
        let mut cache = Cache::new(10);
        cache.insert(key("a"), || Some(short));
        assert!(cache.get("a", || Some(short)).is_none());
    }

    #[test]
    fn a_store_in_wal_mode_is_checked_again_only_now_and_then() {
        let mut cache = Cache::new(10);
        cache.insert(key("a"), || Some(wal_header()));
        for _ in 0..RECHECK_AFTER {
            cache.insert(key("a"), || panic!("header read again too soon"));
        }
        // Back in the rollback journal: remembered again.
        cache.insert(key("a"), || Some(header(1)));
        assert!(cache.get("a", || Some(header(1))).is_some());
    }
}
