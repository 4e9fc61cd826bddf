//! The library as a long-running verifier uses it: one `Verifier` kept open in this process,
//! verifying again and again, while keyctl commands (other processes) and other SQLite
//! connections change the same store. Every committed change must show in the very next
//! verification, whether or not the store remembered the key (it does, after one
//! verification), in the rollback journal and in WAL mode.

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use keyctl::store::{LastUses, Options};
use keyctl::time::{Clock, Timestamp};
use keyctl::{Check, Credential, Reason, Source, Store, Verdict, Verifier};
use rusqlite::Connection;

use common::{Env, id_of};

fn verifier(db: &Path) -> Verifier {
    Verifier::new(Store::open(db).unwrap())
}

fn verify(store: &mut Verifier, token: &str, path: Option<&str>) -> Verdict {
    let check = Check {
        path,
        ..Check::default()
    };
    store
        .verify(&Credential::new(token, Source::Argument), &check)
        .expect("verify")
}

/// The reason a token is rejected for, or `None` when it is valid; checked twice, so the
/// second answer comes from what the verifier remembered when there is anything to remember.
#[track_caller]
fn reason(store: &mut Verifier, token: &str, path: Option<&str>) -> Option<Reason> {
    let first = verify(store, token, path);
    let second = verify(store, token, path);
    assert_eq!(first, second, "the same answer twice in a row");
    assert_eq!(first.valid, first.reason.is_none(), "{first:?}");
    first.reason
}

fn to_wal(db: &Path) {
    let conn = Connection::open(db).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

fn every_command_shows_in_the_next_verification(wal: bool) {
    let env = Env::sqlite();
    let token = env.create(&["--user", "svc", "--name", "web", "--path", "/api"]);
    let other = env.create(&["--user", "svc", "--name", "other"]);
    if wal {
        to_wal(&env.db);
    }
    let store = &mut verifier(&env.db);
    let run = |args: &[&str]| {
        env.run(args).code(0);
    };
    assert_eq!(reason(store, &token, Some("/api/items")), None);
    assert_eq!(reason(store, &other, None), None);

    run(&["disable", "svc/web"]);
    assert_eq!(reason(store, &token, None), Some(Reason::Disabled));
    assert_eq!(reason(store, &other, None), None, "other keys unchanged");
    run(&["enable", "svc/web"]);
    assert_eq!(reason(store, &token, Some("/api/items")), None);

    run(&["path", "svc/web", "/v2"]);
    assert_eq!(
        reason(store, &token, Some("/api/items")),
        Some(Reason::PathNotAllowed)
    );
    assert_eq!(reason(store, &token, Some("/v2/items")), None);
    run(&["path", "svc/web", "--clear"]);
    assert_eq!(reason(store, &token, Some("/api/items")), None);

    run(&["expire", "svc/web", "now"]);
    assert_eq!(reason(store, &token, None), Some(Reason::Expired));
    run(&["expire", "svc/web", "--never"]);
    assert_eq!(reason(store, &token, None), None);

    let out = env.run(&["reset", "svc/web", "--grace", "1h"]);
    out.code(0);
    let second = out.stdout.trim().to_owned();
    let during_grace = verify(store, &token, None);
    assert_eq!(verify(store, &token, None), during_grace);
    assert!(
        during_grace.valid && during_grace.superseded,
        "{during_grace:?}"
    );
    assert_eq!(reason(store, &second, None), None);

    let out = env.run(&["reset", "svc/web"]);
    out.code(0);
    let third = out.stdout.trim().to_owned();
    assert_eq!(reason(store, &token, None), Some(Reason::Unknown));
    assert_eq!(reason(store, &second, None), Some(Reason::Unknown));
    assert_eq!(reason(store, &third, None), None);

    run(&["delete", "--yes", "svc/web"]);
    assert_eq!(reason(store, &third, None), Some(Reason::Revoked));
    run(&["delete", "--yes", "--purge", id_of(&third)]);
    assert_eq!(reason(store, &third, None), Some(Reason::Unknown));
    assert_eq!(reason(store, &other, None), None);
}

#[test]
fn every_command_shows_in_the_next_verification_rollback_journal() {
    every_command_shows_in_the_next_verification(false);
}

#[test]
fn every_command_shows_in_the_next_verification_wal() {
    every_command_shows_in_the_next_verification(true);
}

#[test]
fn a_remembered_key_is_answered_while_a_writer_holds_the_store() {
    // An exclusive lock keeps every reader out in the rollback journal; an answer for a key
    // the store remembers needs no lock, and nothing has been committed meanwhile.
    let env = Env::sqlite();
    let token = env.create(&["--user", "svc"]);
    let store = &mut verifier(&env.db);
    assert_eq!(reason(store, &token, None), None);
    let writer = Connection::open(&env.db).unwrap();
    writer.execute_batch("BEGIN EXCLUSIVE").unwrap();
    writer
        .execute("UPDATE keys SET deleted = 1", [])
        .expect("revoke inside the open transaction");
    assert_eq!(reason(store, &token, None), None, "not committed yet");
    writer.execute_batch("COMMIT").unwrap();
    assert_eq!(reason(store, &token, None), Some(Reason::Revoked));
}

#[test]
fn writes_in_exclusive_locking_mode_show_once_the_writer_lets_go() {
    // In exclusive locking mode SQLite increments the file's change counter only in the
    // first transaction of a locking session; the later ones must show all the same.
    let env = Env::sqlite();
    let a = env.create(&["--user", "svc", "--name", "a"]);
    let b = env.create(&["--user", "svc", "--name", "b"]);
    let store = &mut verifier(&env.db);
    // Twice round: the first verification of each key records its last use, a change to
    // the store that makes it forget what it read before.
    for token in [&a, &b, &a, &b] {
        assert_eq!(reason(store, token, None), None);
    }
    let writer = Connection::open(&env.db).unwrap();
    writer
        .execute_batch("PRAGMA locking_mode=EXCLUSIVE")
        .unwrap();
    writer
        .execute("UPDATE keys SET disabled = 1 WHERE name = 'a'", [])
        .unwrap();
    writer
        .execute("UPDATE keys SET deleted = 1 WHERE name = 'b'", [])
        .unwrap();
    drop(writer);
    assert_eq!(reason(store, &a, None), Some(Reason::Disabled));
    assert_eq!(reason(store, &b, None), Some(Reason::Revoked));
}

#[test]
fn last_use_is_recorded_at_most_once_a_minute() {
    let env = Env::sqlite();
    let token = env.create(&["--user", "svc"]);
    let (store, t) = store_at(&env.db, common::now());
    let mut store = Verifier::new(store);
    let last_used = || {
        let out = env.run(&["show", id_of(&token), "--json"]);
        out.code(0);
        out.json()["last_used"].clone()
    };
    let mut at = |now: i64| {
        t.store(now, Ordering::SeqCst);
        let v = verify(&mut store, &token, None);
        assert!(v.valid, "{v:?}");
    };
    let t0 = common::now();
    at(t0);
    let first = last_used();
    assert_eq!(common::secs(&first), t0);
    at(t0 + 30);
    assert_eq!(last_used(), first, "within the minute: not written again");
    at(t0 + 61);
    assert_eq!(common::secs(&last_used()), t0 + 61);
}

/// POSIX locks held by this process on the file, as `/proc/locks` lists them.
fn locks_held(db: &Path) -> usize {
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(db).unwrap().ino().to_string();
    let pid = std::process::id().to_string();
    std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&"POSIX")
                && f.get(4) == Some(&pid.as_str())
                && f.get(5).and_then(|dev_ino| dev_ino.rsplit(':').next()) == Some(&ino)
        })
        .count()
}

#[test]
fn opening_a_store_keeps_the_locks_of_other_connections() {
    // Closing any descriptor of a file drops every POSIX lock the process holds on it, so
    // opening (and dropping) a Store must not open and close the file behind SQLite's back
    // while another connection in this process is writing.
    let env = Env::sqlite();
    env.create(&["--user", "svc"]);
    let writer = Connection::open(&env.db).unwrap();
    writer.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let held = locks_held(&env.db);
    assert!(held > 0, "the writer holds its lock");
    let store = Store::open(&env.db).unwrap();
    assert_eq!(locks_held(&env.db), held, "after Store::open");
    drop(store);
    assert_eq!(locks_held(&env.db), held, "after dropping the Store");
    writer.execute_batch("COMMIT").unwrap();
}

#[test]
fn a_verifier_can_move_to_another_thread() {
    fn send<T: Send>(_: &T) {}
    let env = Env::sqlite();
    let token = env.create(&["--user", "svc"]);
    let mut store = verifier(&env.db);
    send(&store);
    let verdict = std::thread::spawn(move || verify(&mut store, &token, None))
        .join()
        .unwrap();
    assert!(verdict.valid, "{verdict:?}");
}

#[test]
fn prune_removes_only_the_listed_keys_still_prunable() {
    let env = Env::sqlite();
    let old = env.create(&["--user", "svc", "--name", "old", "--expire", "1d"]);
    let later = env.create(&["--user", "svc", "--name", "later", "--expire", "3d"]);
    let extended = env.create(&["--user", "svc", "--name", "extended", "--expire", "1d"]);
    let (mut store, t) = store_at(&env.db, common::now() + 5 * 86_400);
    let older_than: keyctl::time::Duration = "3d".parse().unwrap();
    let listed: Vec<_> = store
        .prunable(older_than)
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(listed.len(), 2, "old and extended, four days past expiry");
    // Meanwhile one listed key gets a new expiry, and one more becomes prunable.
    env.run(&["expire", "svc/extended", "--never"]).code(0);
    t.fetch_add(86_400, Ordering::SeqCst);
    let removed = store.prune(&listed, older_than).unwrap();
    assert_eq!(
        removed.iter().map(|id| id.to_string()).collect::<Vec<_>>(),
        [id_of(&old)]
    );
    for (token, code) in [(&later, 0), (&extended, 0)] {
        env.run(&["show", id_of(token)]).code(code);
    }
}

/// A store whose clock the test sets, and the handle to set it.
fn store_at(db: &Path, start: i64) -> (Store, Arc<AtomicI64>) {
    let t = Arc::new(AtomicI64::new(start));
    let clock = {
        let t = Arc::clone(&t);
        Clock::new(move || Timestamp(t.load(Ordering::SeqCst)))
    };
    let options = Options {
        clock,
        ..Options::default()
    };
    (Store::open_with(db, &options).unwrap(), t)
}

#[test]
fn a_grace_period_ends_to_the_second_and_expiry_likewise() {
    let env = Env::sqlite();
    let old = env.create(&["--user", "ci", "--name", "deploy"]);
    let start = common::now();
    let (mut store, t) = store_at(&env.db, start);
    let key: keyctl::KeyRef = "ci/deploy".parse().unwrap();
    let rotated = store.reset(&key, Some("90s".parse().unwrap())).unwrap();
    let until = rotated.previous_until.expect("a grace period");
    assert_eq!(until, Timestamp(start + 90));
    let new = rotated.token.reveal().to_owned();
    store
        .set_expiry(&key, keyctl::time::Expiry::In("1h".parse().unwrap()))
        .unwrap();
    let mut verifier = Verifier::new(store);
    t.store(start + 89, Ordering::SeqCst);
    let v = verify(&mut verifier, &old, None);
    assert!(
        v.valid && v.superseded && v.grace_until == Some(until),
        "{v:?}"
    );
    t.store(start + 90, Ordering::SeqCst);
    assert_eq!(reason(&mut verifier, &old, None), Some(Reason::Unknown));
    assert_eq!(reason(&mut verifier, &new, None), None);
    t.store(start + 3599, Ordering::SeqCst);
    assert_eq!(reason(&mut verifier, &new, None), None);
    t.store(start + 3600, Ordering::SeqCst);
    assert_eq!(reason(&mut verifier, &new, None), Some(Reason::Expired));
}

#[test]
fn verifiers_sharing_last_uses_leave_the_writing_to_their_owner() {
    let env = Env::sqlite();
    let a = env.create(&["--user", "svc", "--name", "a"]);
    let b = env.create(&["--user", "svc", "--name", "b"]);
    let uses = Arc::new(LastUses::new());
    let mut one = verifier(&env.db).sharing_uses(Arc::clone(&uses));
    let mut two = verifier(&env.db).sharing_uses(Arc::clone(&uses));
    assert_eq!(reason(&mut one, &a, None), None);
    assert_eq!(reason(&mut two, &a, None), None);
    assert_eq!(reason(&mut two, &b, None), None);
    // Noted once each, and not written yet.
    assert_eq!(uses.pending(), 2);
    let last_used = |name: &str| common::show(&env, &format!("svc/{name}"))["last_used"].clone();
    assert!(last_used("a").is_null() && last_used("b").is_null());

    // A store that refuses the write keeps them noted.
    env.run(&["disable", "svc/b"]).code(0);
    let busy = Connection::open(&env.db).unwrap();
    busy.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let writer = Store::open(&env.db).unwrap();
    assert!(uses.write(&writer).is_err());
    assert_eq!(uses.pending(), 2);
    busy.execute_batch("ROLLBACK").unwrap();

    assert_eq!(uses.write(&writer).unwrap(), 2);
    assert_eq!(uses.pending(), 0);
    assert!(last_used("a").is_string() && last_used("b").is_string());
    // Remembered keys still hold their old last use: they are not noted again.
    assert_eq!(reason(&mut one, &a, None), None);
    assert_eq!(uses.pending(), 0);
    assert_eq!(uses.write(&writer).unwrap(), 0);
}
