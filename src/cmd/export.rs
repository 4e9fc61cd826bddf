//! `keyctl export`: keys with the digests verification needs, as JSON Lines, to stdout or
//! to a new private file.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use super::{Ctx, output};
use crate::cli::ExportArgs;
use crate::error::{Error, Result};
use crate::export;
use crate::store::{Access, ExportFilter, Store};

/// JSON shape of `export --output FILE --json`.
#[derive(Serialize)]
struct Exported<'a> {
    exported: u64,
    output: &'a str,
}

pub fn run(args: ExportArgs, ctx: &Ctx) -> Result<ExitCode> {
    let store = ctx.open(Access::Read)?;
    let filter = ExportFilter {
        user: args.user,
        all: args.all,
    };
    let path = args.output.filter(|p| p.as_os_str() != "-");
    let Some(path) = path else {
        let mut out = BufWriter::new(std::io::stdout().lock());
        let n = write(&store, &filter, &mut out)?;
        out.flush().map_err(Error::Output)?;
        drop(out);
        output::note(&format!("exported {n} key(s)"));
        return Ok(ExitCode::SUCCESS);
    };
    let shown = crate::names::shown_path(&path);
    let file = create(&path, &shown)?;
    let mut out = BufWriter::new(file);
    let written = write(&store, &filter, &mut out).and_then(|n| {
        let file = out
            .into_inner()
            .map_err(|e| Error::Output(e.into_error()))?;
        file.sync_all().map_err(Error::Output)?;
        Ok(n)
    });
    let n = match written {
        Ok(n) => n,
        Err(e) => {
            // Half an export is worse than none: an import would refuse it, but a reader
            // might not notice. The file is the one this run created.
            let _ = fs::remove_file(&path);
            return Err(e);
        }
    };
    if ctx.json {
        output::json(&Exported {
            exported: n,
            output: &shown,
        })?;
    }
    output::note(&format!(
        "exported {n} key(s) to {shown}; it holds their digests: keep it as private as the store"
    ));
    Ok(ExitCode::SUCCESS)
}

/// Write the header and every key; returns how many keys.
fn write(store: &Store, filter: &ExportFilter, out: &mut impl Write) -> Result<u64> {
    let mut count = 0;
    let out = std::cell::RefCell::new(out);
    store.export(
        filter,
        |keys, now| {
            writeln!(out.borrow_mut(), "{}", export::header_line(keys, now)).map_err(Error::Output)
        },
        |record| {
            count += 1;
            writeln!(out.borrow_mut(), "{}", export::key_line(&record)?).map_err(Error::Output)
        },
    )?;
    Ok(count)
}

/// A new file, mode 0600 whatever the umask. An existing file is never overwritten: it may
/// be another export, or anything else, and an export is not worth losing either for.
fn create(path: &Path, shown: &str) -> Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Error::Invalid(format!(
                "{shown} exists: export never overwrites a file; remove it or choose another name (nothing was written)"
            )),
            _ => Error::Output(std::io::Error::new(
                e.kind(),
                format!("cannot create {shown}: {e}"),
            )),
        })?;
    if let Err(e) = file.set_permissions(fs::Permissions::from_mode(0o600)) {
        let _ = fs::remove_file(path);
        return Err(Error::Output(std::io::Error::new(
            e.kind(),
            format!("cannot make {shown} private (mode 0600): {e}"),
        )));
    }
    Ok(file)
}
