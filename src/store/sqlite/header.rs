//! The store file's first bytes, read through the SQLite connection's own file handle.
//!
//! keyctl never opens the store file a second time once SQLite has it. POSIX record locks
//! belong to the process, not to a descriptor: closing *any* descriptor of a file drops
//! every lock the process holds on it, including the lock of an SQLite connection in the
//! middle of a write in another thread. Reading through the connection's descriptor opens
//! and closes nothing.

use std::ffi::{c_int, c_void};
use std::ptr;

use rusqlite::{Connection, ffi};

/// The database header: the first 100 bytes of an SQLite file.
pub const LEN: usize = 100;

/// The first [`LEN`] bytes of a database file, or all of a shorter one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    buf: [u8; LEN],
    len: usize,
}

impl Header {
    /// The bytes read: none when the file is empty.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// A header holding these bytes (at most [`LEN`] of them).
    #[cfg(test)]
    pub fn from_bytes(bytes: &[u8]) -> Header {
        let len = bytes.len().min(LEN);
        let mut buf = [0; LEN];
        buf[..len].copy_from_slice(&bytes[..len]);
        Header { buf, len }
    }
}

/// Read the header of the connection's main database file. Takes no lock: what the bytes
/// mean is the caller's business, and they may be from the middle of another process's
/// write.
pub fn read(conn: &Connection) -> rusqlite::Result<Header> {
    let mut file: *mut ffi::sqlite3_file = ptr::null_mut();
    // SAFETY: `handle` is the live connection `conn` borrows. FILE_POINTER writes the
    // `sqlite3_file` of the "main" database into `file`; that object belongs to the
    // connection's pager, which keeps it open, at the same address, until the connection
    // closes, and `conn` is borrowed for the whole function. Connections are used from one
    // thread at a time (`Connection` is not `Sync`), so nothing else uses the file
    // meanwhile. `xFileSize` and `xRead` are the VFS's own methods, called as SQLite
    // calls them: `xRead` fills `len` bytes of the buffer, which holds `LEN >= len`.
    unsafe {
        let rc = ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_FILE_POINTER,
            (&raw mut file).cast::<c_void>(),
        );
        check(rc)?;
        let methods = if file.is_null() {
            ptr::null()
        } else {
            (*file).pMethods
        };
        let (Some(size_of), Some(read_at)) = methods
            .as_ref()
            .map_or((None, None), |m| (m.xFileSize, m.xRead))
        else {
            return Err(rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_CANTOPEN),
                Some("the store file is not open".into()),
            ));
        };
        let mut size: ffi::sqlite3_int64 = 0;
        check(size_of(file, &mut size))?;
        let len = usize::try_from(size).unwrap_or(0).min(LEN);
        let mut header = Header { buf: [0; LEN], len };
        check(read_at(
            file,
            header.buf.as_mut_ptr().cast::<c_void>(),
            len as c_int,
            0,
        ))?;
        Ok(header)
    }
}

/// True for a complete header of a database in a rollback-journal mode: file format
/// versions (bytes 18 and 19) 1. WAL mode (2) does not maintain the change counter.
pub fn counts_commits(h: &Header) -> bool {
    let b = h.bytes();
    b.len() == LEN && b[18] == 1 && b[19] == 1
}

fn check(rc: c_int) -> rusqlite::Result<()> {
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), None))
    }
}
