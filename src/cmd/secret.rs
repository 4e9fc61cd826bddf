//! Reading a token from stdin or from the terminal, for `verify` and `adopt`: never from
//! the command line unless the user puts it there.

use std::io::{BufRead, Read};

use crate::error::{Error, Result};

/// Longest first line of stdin read; anything longer is not a token, without reading on.
const MAX_LINE: u64 = 4096;

/// The first line of stdin, trimmed; `None` when it is too long or not UTF-8, so it cannot
/// be a token (the rest is left unread).
pub(super) fn first_line(what: &'static str) -> Result<Option<String>> {
    Ok(line_as_typed(what)?.map(|s| s.trim().to_owned()))
}

/// The first line of stdin without its line end, as typed (a password keeps its spaces);
/// `None` when it is too long or not UTF-8.
pub(super) fn line_as_typed(what: &'static str) -> Result<Option<String>> {
    let mut line = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_LINE + 1)
        .read_until(b'\n', &mut line)
        .map_err(|source| Error::Input { what, source })?;
    if line.len() as u64 > MAX_LINE {
        return Ok(None);
    }
    let text = String::from_utf8(line).ok();
    Ok(text.map(|s| s.trim_end_matches(['\n', '\r']).to_owned()))
}

/// Ask for a token on the terminal without echoing it, as `htpasswd -v` does, so that it
/// never has to go on a command line.
pub(super) fn prompt(label: &str, what: &'static str) -> Result<String> {
    prompt_as_typed(label, what).map(|t| t.trim().to_owned())
}

/// [`prompt`], keeping what was typed as it is (a password keeps its spaces).
pub(super) fn prompt_as_typed(label: &str, what: &'static str) -> Result<String> {
    rpassword::prompt_password(label).map_err(|source| Error::Input { what, source })
}
