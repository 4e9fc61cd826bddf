//! The store file itself: finding, creating and opening it, refusing what is not a keyctl
//! store before SQLite acts on it, and saying in plain words what went wrong.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::{header, schema};
use crate::error::{Error, Result};
use crate::store::decode::Damage;
use crate::store::{Access, Options};

const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Where a store is, for messages and for its side files.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    /// The path, escaped for messages.
    pub shown: String,
    pub path: PathBuf,
    pub lock_timeout: std::time::Duration,
}

impl Site {
    /// Turn an SQLite error into a message that says what to do (exit 4).
    pub fn err(&self, e: rusqlite::Error) -> Error {
        let p = &self.shown;
        let column = match &e {
            rusqlite::Error::InvalidColumnType(_, name, _) => format!("column {name}"),
            _ => "a column".to_owned(),
        };
        if let Some(damaged) = self.wrong_type(&column, &e) {
            return damaged;
        }
        // SQLite's message may quote the store itself (a damaged schema, a trigger's
        // RAISE text): whatever bytes another program put there.
        let message = crate::names::escaped(&e.to_string());
        let extended = match &e {
            rusqlite::Error::SqliteFailure(f, _) => Some(f.extended_code),
            _ => None,
        };
        let full = || {
            format!(
                "cannot write store {p}: the disk is full or a file size limit was reached; nothing was changed"
            )
        };
        Error::Store(match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => format!(
                "store {p} is busy: another process held it locked for more than {}; nothing was changed, try again",
                crate::store::seconds(self.lock_timeout)
            ),
            Some(ErrorCode::ReadOnly)
                if extended == Some(rusqlite::ffi::SQLITE_READONLY_ROLLBACK)
                    || sidecar(&self.path, "-journal").exists() =>
            {
                self.unfinished_write()
            }
            Some(ErrorCode::ReadOnly) => format!(
                "store {p} is read-only: this command needs write access to the file and its directory"
            ),
            Some(ErrorCode::CannotOpen) => format!(
                "cannot open store {p} ({message}): check that the file and its directory exist and are writable"
            ),
            Some(ErrorCode::NotADatabase) => {
                format!("{p} is not a keyctl store; it was left untouched")
            }
            // A write past RLIMIT_FSIZE fails with EFBIG, which SQLite reports as
            // IOERR_WRITE; either way the transaction was rolled back.
            Some(ErrorCode::DiskFull) => full(),
            Some(ErrorCode::SystemIoFailure)
                if extended == Some(rusqlite::ffi::SQLITE_IOERR_WRITE) =>
            {
                full()
            }
            _ => match &e {
                // A statement that does not fit the tables: the schema is not keyctl's,
                // and the statement itself means nothing to the reader.
                rusqlite::Error::SqlInputError { msg, .. } => format!(
                    "store {p} does not have the tables keyctl made ({}); it was changed by another program",
                    crate::names::escaped(msg)
                ),
                _ => format!("store {p}: {message}"),
            },
        })
    }

    /// A process stopped in the middle of a change left its journal behind; only someone
    /// who can write the store can roll it back, and until then nobody can read it.
    fn unfinished_write(&self) -> String {
        format!(
            "store {p} has an unfinished change: a keyctl (or other) process was stopped in the middle of writing it, and its journal {p}-journal is still there. \
             Nothing is lost, but the change must be rolled back before the store can be read, and that needs write access: \
             run any keyctl command (for example `keyctl list`) once as a user who can write the store and its directory",
            p = self.shown
        )
    }

    /// A value of a type keyctl never writes where it was read (text in a time, a blob in
    /// a name, text that is not UTF-8) as [`Site::damaged`], naming it `what`; `None` for
    /// any other error.
    pub fn wrong_type(&self, what: &str, e: &rusqlite::Error) -> Option<Error> {
        use rusqlite::types::Type;
        let why = match e {
            rusqlite::Error::InvalidColumnType(_, _, ty) => format!(
                "a {} value, of a type keyctl never writes there",
                ty.to_string().to_lowercase()
            ),
            rusqlite::Error::FromSqlConversionFailure(_, Type::Text, _) => {
                "text that is not valid UTF-8".to_owned()
            }
            rusqlite::Error::FromSqlConversionFailure(_, ty, why) => format!(
                "a {} value keyctl cannot read ({})",
                ty.to_string().to_lowercase(),
                crate::names::escaped(&why.to_string())
            ),
            rusqlite::Error::IntegralValueOutOfRange(_, v) => format!("{v} is out of range"),
            _ => return None,
        };
        Some(self.damaged(what, &why))
    }
}

impl Damage for Site {
    fn shown(&self) -> &str {
        &self.shown
    }
}

/// Open the store at `site` as `options` allow, migrated to this build's schema.
pub(crate) fn open(site: &Site, options: &Options) -> Result<Connection> {
    let shown = &site.shown;
    let path = site.path.as_path();
    let mut created = false;
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(Error::Store(format!(
                "{shown} is a directory, not a key store"
            )));
        }
        Ok(m) if m.len() == 0 => check_empty(site, &m, options.access)?,
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if options.access != Access::Create {
                return Err(Error::NoStore(format!(
                    "no key store at {shown} (`keyctl create` makes one)"
                )));
            }
            created = create_file(site)?;
            if !created {
                // Another process made it a moment ago: treat it as any existing file.
                let m = fs::metadata(path)
                    .map_err(|e| Error::Store(format!("cannot read store {shown}: {e}")))?;
                if m.len() == 0 {
                    check_empty(site, &m, options.access)?;
                }
            }
        }
        Err(e) => return Err(Error::Store(format!("cannot read store {shown}: {e}"))),
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| site.err(e))?;
    // Opening reads nothing SQLite would act on; the first query does. Before it, a
    // foreign file is refused untouched, and a store already at this build's version
    // skips the schema query below.
    let current = check_header(&conn, site)?;
    conn.busy_timeout(options.lock_timeout)
        .map_err(|e| site.err(e))?;
    if current {
        return Ok(conn);
    }
    let state = match schema::state(&conn).map_err(|e| site.err(e))? {
        schema::State::Empty if options.access == Access::Read && !created => {
            return Err(empty(site));
        }
        schema::State::Store(v) if !(0..=schema::latest()).contains(&v) => {
            schema::State::Store(v)
        }
        schema::State::Store(v) if v == schema::latest() => schema::State::Store(v),
        schema::State::Foreign => schema::State::Foreign,
        schema::State::Store(v) => schema::migrate(&mut conn).map_err(|e| match e.sqlite_error_code() {
            // Every command, reads included, needs the current schema.
            Some(ErrorCode::ReadOnly) if !sidecar(path, "-journal").exists() => Error::Store(format!(
                "store {shown} has schema version {v}, older than this keyctl's ({}), and upgrading it needs write access: run any keyctl command on it once as a user who can write the file and its directory",
                schema::latest()
            )),
            _ => site.err(e),
        })?,
        schema::State::Empty => schema::migrate(&mut conn).map_err(|e| site.err(e))?,
    };
    match state {
        schema::State::Store(v) if v > schema::latest() => Err(Error::Store(format!(
            "store {shown} has schema version {v}, newer than this keyctl knows ({}); upgrade keyctl",
            schema::latest()
        ))),
        schema::State::Store(v) if v < 0 => Err(Error::Store(format!(
            "store {shown} is damaged: its schema version is {v}, which keyctl never writes; it was left untouched"
        ))),
        schema::State::Store(_) => Ok(conn),
        _ => Err(not_a_store(shown)),
    }
}

fn empty(site: &Site) -> Error {
    Error::Store(format!(
        "{} is an empty file, not a key store yet; it was left untouched (`keyctl create` makes a store in it)",
        site.shown
    ))
}

/// An existing empty file becomes a store only when a writing command opens it, the file
/// belongs to the user running keyctl, and its mode can be made 0600 first.
fn check_empty(site: &Site, meta: &fs::Metadata, access: Access) -> Result<()> {
    if access == Access::Read {
        return Err(empty(site));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(Error::Store(format!(
            "{} is an empty file owned by another user (uid {}); keyctl makes a store only in an empty file of its own, so it was left untouched",
            site.shown,
            meta.uid()
        )));
    }
    fs::set_permissions(&site.path, fs::Permissions::from_mode(0o600)).map_err(|e| {
        Error::Store(format!(
            "cannot make {} private (mode 0600) before using it as a store: {e}; it was left untouched",
            site.shown
        ))
    })
}

fn not_a_store(shown: &str) -> Error {
    Error::Store(format!(
        "{shown} is not a keyctl store; it was left untouched"
    ))
}

/// Refuse anything that is neither empty nor an SQLite database, before SQLite reads it.
/// Returns true when the file header says it is a keyctl store at this build's schema
/// version and no journal or WAL file could hold a newer header: the answer the schema
/// query would give, without the query (it is most of the cost of opening a store).
///
/// Reading the header unlocked is safe because only this exact answer is trusted. The
/// application id and version only move forward, through a migration; a header torn by a
/// concurrent write, or anything else, takes the locked path through [`schema::state`].
fn check_header(conn: &Connection, site: &Site) -> Result<bool> {
    let head = header::read(conn)
        .map_err(|e| Error::Store(format!("cannot read store {}: {e}", site.shown)))?;
    let head = head.bytes();
    if head.is_empty() {
        return Ok(false);
    }
    if !head.starts_with(SQLITE_HEADER) {
        return Err(not_a_store(&site.shown));
    }
    let field = |at: usize| {
        head.get(at..at + 4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    // File format versions (bytes 18 and 19): 1 for a rollback journal, 2 for WAL. SQLite
    // opens a file claiming a later version read-only or not at all, and would then blame
    // the permissions of a file it merely does not understand.
    if let Some(&[write, read]) = head.get(18..20)
        && !(matches!(write, 1 | 2) && matches!(read, 1 | 2))
    {
        if field(68) != Some(schema::APPLICATION_ID) {
            return Err(not_a_store(&site.shown));
        }
        return Err(Error::Store(format!(
            "store {} is damaged: its header gives file format versions {write} and {read}, and SQLite writes only 1 or 2; it was left untouched",
            site.shown
        )));
    }
    // Offsets from the SQLite file format: user_version at 60, application_id at 68.
    let current = field(60).map(i64::from) == Some(schema::latest())
        && field(68) == Some(schema::APPLICATION_ID)
        && !sidecar(&site.path, "-journal").exists()
        && !sidecar(&site.path, "-wal").exists();
    Ok(current)
}

/// The path of the store's journal or WAL file.
pub(crate) fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Create the store file (0600) and any missing parent directories (0700), whatever the
/// umask. Returns false when another process created the file first.
fn create_file(site: &Site) -> Result<bool> {
    let path = site.path.as_path();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let missing: Vec<&Path> = parent.ancestors().take_while(|p| !p.exists()).collect();
        for dir in missing.into_iter().rev() {
            match fs::DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => fs::set_permissions(dir, fs::Permissions::from_mode(0o700)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(e),
            }
            .map_err(|e| {
                Error::Store(format!(
                    "cannot create directory {}: {e}",
                    crate::names::shown_path(dir)
                ))
            })?;
        }
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => file
            .set_permissions(fs::Permissions::from_mode(0o600))
            .map(|()| true)
            .map_err(|e| Error::Store(format!("cannot set permissions of {}: {e}", site.shown))),
        // Another keyctl created it a moment ago; opening it is safe.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::Store(format!(
            "cannot create store {}: {e}",
            site.shown
        ))),
    }
}
