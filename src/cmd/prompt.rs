//! Asking the person at the terminal to confirm a change, for `delete` and `prune`.
//!
//! The answer is one whole line, read in the terminal's own line mode: the terminal echoes
//! what is typed and allows editing it, nothing after the line is consumed, and keyctl never
//! changes a terminal setting or hides the cursor, so there is nothing to restore when the
//! prompt is left by Enter, Ctrl-D, Ctrl-C or a crash.

use std::io::{Read, Write};
use std::os::fd::AsFd;

use super::Ctx;
use crate::error::{Error, Result};

/// Longest answer kept; the rest of a longer line is read and dropped (the answer is no).
const MAX_ANSWER: usize = 64;

/// Ask `question` on stderr and read the answer from stdin, a terminal; `Ok` only for `y`
/// or `yes`. Without a terminal, refuse rather than hang or take piped text as consent.
pub(super) fn confirm(question: &str, ctx: &Ctx) -> Result<()> {
    if !ctx.stdin_tty {
        return Err(Error::Invalid(
            "stdin is not a terminal, so keyctl cannot ask for confirmation; pass --yes. Nothing was changed"
                .into(),
        ));
    }
    let mut err = std::io::stderr().lock();
    // A prompt that cannot be shown is not a prompt that was answered. One write: stderr is
    // unbuffered, and the terminal's echo of an answer typed ahead must not land inside it.
    err.write_all(format!("{question} [y/N] ").as_bytes())
        .and_then(|()| err.flush())
        .map_err(|e| Error::Invalid(format!("cannot ask for confirmation: {e}")))?;
    let answer = read_line()
        .map_err(|e| Error::Invalid(format!("cannot read the answer: {e}; nothing was changed")))?;
    let Some(answer) = answer else {
        // Ctrl-D: end the prompt's line so that what follows starts on a line of its own.
        let _ = writeln!(err);
        return Err(Error::Invalid("not confirmed; nothing was changed".into()));
    };
    if is_yes(&answer) {
        Ok(())
    } else {
        Err(Error::Invalid("not confirmed; nothing was changed".into()))
    }
}

/// True for the answers that confirm: `y` or `yes`, in any case, with any surrounding
/// whitespace.
fn is_yes(answer: &str) -> bool {
    let a = answer.trim();
    a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes")
}

/// One line from stdin, without its newline; `None` at end of input before a newline.
///
/// Bytes are read one at a time straight from the file descriptor, not through `Stdin`'s
/// buffer: even on a terminal switched out of line mode, or on input that is not a
/// terminal, nothing past the newline is taken from whoever reads stdin next (the shell).
fn read_line() -> std::io::Result<Option<String>> {
    let mut input = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) => return Ok(None),
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => {
                if line.len() < MAX_ANSWER {
                    line.push(byte[0]);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::is_yes;

    #[test]
    fn only_y_and_yes_confirm() {
        for yes in ["y", "Y", "yes", "YES", "Yes", " yes ", "\ty\r", "yEs\t"] {
            assert!(is_yes(yes), "{yes:?}");
        }
        for no in [
            "",
            " ",
            "n",
            "no",
            "N",
            "ye",
            "yess",
            "y es",
            "yes please",
            "ok",
            "true",
            "1",
            "oui",
            "\u{1b}[A",
            "y\u{0}",
        ] {
            assert!(!is_yes(no), "{no:?}");
        }
    }
}
