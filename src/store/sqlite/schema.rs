//! Schema: ordered, forward-only migrations, each applied in one transaction.
//!
//! `PRAGMA application_id` marks a file as a keyctl store; `PRAGMA user_version` is the
//! number of migrations applied. A store with a higher version than [`MIGRATIONS`] knows
//! is refused.

use rusqlite::{Connection, TransactionBehavior};

/// "kctl": marks an SQLite file as a keyctl store.
pub const APPLICATION_ID: i32 = 0x6B63_746C;

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: users and keys. A key's secret is kept only as the SHA-256 digest of its token.
    "CREATE TABLE users (
        id      INTEGER PRIMARY KEY,
        name    TEXT NOT NULL UNIQUE,
        created INTEGER NOT NULL
     );
     CREATE TABLE keys (
        seq         INTEGER PRIMARY KEY,
        id          TEXT NOT NULL UNIQUE,
        user_id     INTEGER NOT NULL REFERENCES users(id),
        name        TEXT,
        description TEXT,
        prefix      TEXT NOT NULL,
        digest      BLOB NOT NULL,
        paths       TEXT,
        created     INTEGER NOT NULL,
        updated     INTEGER NOT NULL,
        expires     INTEGER,
        deleted     INTEGER
     );
     CREATE UNIQUE INDEX keys_live_name ON keys(user_id, name) WHERE deleted IS NULL;
     CREATE INDEX keys_user ON keys(user_id);",
    // 2: rotation with grace (earlier secrets that still verify until `until`), reversible
    // disabling, and last use.
    "ALTER TABLE keys ADD COLUMN disabled INTEGER;
     ALTER TABLE keys ADD COLUMN last_used INTEGER;
     CREATE TABLE superseded (
        key_seq INTEGER NOT NULL REFERENCES keys(seq) ON DELETE CASCADE,
        digest  BLOB NOT NULL,
        until   INTEGER NOT NULL
     );
     CREATE INDEX superseded_key ON superseded(key_seq);",
    // 3: adopted secrets: digests of tokens another system issued (`keyctl adopt`). Such a
    // token carries no keyctl id, so it is found by its digest; only adopted digests are
    // indexed, so stores without them pay nothing, and one token belongs to one key.
    "ALTER TABLE keys ADD COLUMN adopted INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE superseded ADD COLUMN adopted INTEGER NOT NULL DEFAULT 0;
     CREATE UNIQUE INDEX keys_adopted_digest ON keys(digest) WHERE adopted = 1;
     CREATE INDEX superseded_adopted_digest ON superseded(digest) WHERE adopted = 1;",
    // 4: accounts and the audit log. A service user never has a password; a password is
    // kept only as an argon2id hash. Every change appends an event whose hash chains it to
    // the one before (`audit.rs`).
    "ALTER TABLE users ADD COLUMN service INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE users ADD COLUMN password TEXT;
     ALTER TABLE users ADD COLUMN removed INTEGER;
     CREATE TABLE events (
        seq     INTEGER PRIMARY KEY,
        time    INTEGER NOT NULL,
        action  TEXT NOT NULL,
        key_id  TEXT,
        user    TEXT,
        actor   TEXT NOT NULL,
        details TEXT NOT NULL,
        hash    BLOB NOT NULL
     );",
];

/// The schema version this build writes.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// Where an opened database stands relative to this build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// A new, empty database: keyctl may initialise it.
    Empty,
    /// A keyctl store at this schema version.
    Store(i64),
    /// Some other SQLite database.
    Foreign,
}

/// Read the markers of an opened database.
pub fn state(conn: &Connection) -> rusqlite::Result<State> {
    let (app, version, objects): (i32, i64, i64) = conn.query_row(
        "SELECT (SELECT application_id FROM pragma_application_id),
                (SELECT user_version FROM pragma_user_version),
                (SELECT count(*) FROM sqlite_schema)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(match (app, version, objects) {
        (APPLICATION_ID, v, _) => State::Store(v),
        (0, 0, 0) => State::Empty,
        _ => State::Foreign,
    })
}

/// Apply every migration the database lacks, each in its own immediate transaction.
/// Re-reads the version inside each transaction, so concurrent processes migrate once.
/// Returns the final version; a foreign or newer database is left untouched.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<State> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = match state(&tx)? {
            State::Empty => 0,
            State::Store(v) if v < latest() => v,
            done => return Ok(done),
        };
        let step = MIGRATIONS[version as usize];
        tx.execute_batch(step)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_database_migrates_to_latest() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(state(&conn).unwrap(), State::Empty);
        assert_eq!(migrate(&mut conn).unwrap(), State::Store(latest()));
        assert_eq!(
            migrate(&mut conn).unwrap(),
            State::Store(latest()),
            "idempotent"
        );
    }

    #[test]
    fn each_migration_applies_from_the_previous_version() {
        for target in 1..=latest() {
            let conn = Connection::open_in_memory().unwrap();
            for (i, step) in MIGRATIONS.iter().take(target as usize).enumerate() {
                conn.execute_batch(step)
                    .unwrap_or_else(|e| panic!("migration {}: {e}", i + 1));
            }
            conn.pragma_update(None, "application_id", APPLICATION_ID)
                .unwrap();
            conn.pragma_update(None, "user_version", target).unwrap();
            assert_eq!(state(&conn).unwrap(), State::Store(target));
        }
    }

    #[test]
    fn v1_enforces_unique_live_names() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO users(id, name, created) VALUES (1, 'svc', 0)",
            [],
        )
        .unwrap();
        let insert =
            "INSERT INTO keys(id, user_id, name, prefix, digest, created, updated, deleted)
                      VALUES (?1, 1, 'deploy', 'kc', x'00', 0, 0, ?2)";
        conn.execute(insert, rusqlite::params!["aaaaaaaa", None::<i64>])
            .unwrap();
        assert!(
            conn.execute(insert, rusqlite::params!["bbbbbbbb", None::<i64>])
                .is_err()
        );
        conn.execute(insert, rusqlite::params!["cccccccc", 5])
            .unwrap();
    }

    #[test]
    fn v2_keeps_v1_keys_and_adds_rotation_columns() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(
            "INSERT INTO users(id, name, created) VALUES (1, 'svc', 0);
             INSERT INTO keys(id, user_id, prefix, digest, created, updated)
             VALUES ('aaaaaaaa', 1, 'kc', x'00', 0, 0);",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), State::Store(latest()));
        let (id, disabled, last_used): (String, Option<i64>, Option<i64>) = conn
            .query_row("SELECT id, disabled, last_used FROM keys", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((id.as_str(), disabled, last_used), ("aaaaaaaa", None, None));
        conn.execute(
            "INSERT INTO superseded(key_seq, digest, until) VALUES (1, x'01', 9)",
            [],
        )
        .unwrap();
        conn.execute("DELETE FROM keys", []).unwrap();
        let left: i64 = conn
            .query_row("SELECT count(*) FROM superseded", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0, "purging a key removes its superseded secrets");
    }

    #[test]
    fn v3_marks_every_existing_secret_as_keyctl_and_indexes_adopted_digests() {
        let mut conn = Connection::open_in_memory().unwrap();
        for step in &MIGRATIONS[..2] {
            conn.execute_batch(step).unwrap();
        }
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute_batch(
            "INSERT INTO users(id, name, created) VALUES (1, 'svc', 0);
             INSERT INTO keys(id, user_id, prefix, digest, created, updated)
             VALUES ('aaaaaaaa', 1, 'kc', x'00', 0, 0);
             INSERT INTO superseded(key_seq, digest, until) VALUES (1, x'01', 9);",
        )
        .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), State::Store(latest()));
        let marks: (i64, i64) = conn
            .query_row(
                "SELECT (SELECT adopted FROM keys), (SELECT adopted FROM superseded)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(marks, (0, 0));
        // One adopted token belongs to one key.
        let adopt = "INSERT INTO keys(id, user_id, prefix, digest, created, updated, adopted)
                     VALUES (?1, 1, 'kc', x'02', 0, 0, 1)";
        conn.execute(adopt, ["bbbbbbbb"]).unwrap();
        assert!(conn.execute(adopt, ["cccccccc"]).is_err());
    }

    /// The plan SQLite chooses for `sql`, one line per step.
    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap();
        rows.join("\n")
    }

    #[test]
    fn adopted_digests_are_found_through_partial_indexes_never_a_scan_of_the_keys() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        // The statements of `store/sqlite/mod.rs` that a foreign string may run.
        let by_digest = plan(
            &conn,
            "SELECT id FROM keys WHERE digest = x'00' AND adopted = 1",
        );
        assert!(
            by_digest.contains("USING COVERING INDEX keys_adopted_digest (digest=?)")
                || by_digest.contains("USING INDEX keys_adopted_digest (digest=?)"),
            "{by_digest}"
        );
        let earlier = plan(
            &conn,
            "SELECT k.id FROM superseded s JOIN keys k ON k.seq = s.key_seq
             WHERE s.digest = x'00' AND s.adopted = 1 ORDER BY s.until DESC LIMIT 1",
        );
        assert!(
            earlier.contains("superseded_adopted_digest (digest=?)"),
            "{earlier}"
        );
        let holds = plan(
            &conn,
            "SELECT EXISTS (SELECT 1 FROM keys WHERE adopted = 1)
                 OR EXISTS (SELECT 1 FROM superseded WHERE adopted = 1)",
        );
        assert!(
            holds.contains("keys USING COVERING INDEX keys_adopted_digest")
                && holds.contains("superseded USING COVERING INDEX superseded_adopted_digest"),
            "{holds}"
        );
    }

    #[test]
    fn newer_and_foreign_databases_are_left_alone() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.pragma_update(None, "user_version", latest() + 1)
            .unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), State::Store(latest() + 1));

        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE notes(x)").unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), State::Foreign);
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 1);
    }
}
