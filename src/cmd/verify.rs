//! `keyctl verify`: is a token good (for a request path)? Exit 0 valid, 1 rejected.

use std::io::{BufRead, Read};
use std::process::ExitCode;

use super::{Ctx, output};
use crate::cli::VerifyArgs;
use crate::error::{EXIT_REJECTED, Error, Result};
use crate::store::Store;
use crate::verify::Verdict;

/// Longest first line of stdin read; anything longer is malformed without reading further.
const MAX_LINE: u64 = 4096;

pub fn run(args: VerifyArgs, ctx: &Ctx) -> Result<ExitCode> {
    let token = match args.token {
        Some(t) => t,
        None => read_token(ctx)?,
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(Error::Invalid(
            "no token given: pass it on the first line of stdin or as an argument".into(),
        ));
    }
    let store = Store::open(&ctx.db)?;
    let verdict = store.verify_at(token, args.path.as_deref(), ctx.now)?;
    if ctx.json {
        output::json(&verdict)?;
    } else {
        output::line(&describe(&verdict))?;
    }
    Ok(if verdict.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_REJECTED)
    })
}

/// The first line of stdin. Oversized or non-UTF-8 input comes back as a string that can
/// never parse as a token, so it is rejected as malformed like any other bad token.
fn read_token(ctx: &Ctx) -> Result<String> {
    if ctx.stdin_tty {
        return Err(Error::Invalid(
            "no token given: pipe it on stdin (printf '%s\\n' \"$TOKEN\" | keyctl verify) or pass it as an argument"
                .into(),
        ));
    }
    let mut line = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_LINE + 1)
        .read_until(b'\n', &mut line)?;
    if line.len() as u64 > MAX_LINE {
        return Ok("\u{0}oversized".into());
    }
    Ok(String::from_utf8(line).unwrap_or_else(|_| "\u{0}not-utf8".into()))
}

fn describe(v: &Verdict) -> String {
    let who = match (&v.id, &v.user) {
        (Some(id), Some(user)) => format!("key {id}, user {}", output::sanitize(user)),
        _ => String::new(),
    };
    match (v.valid, v.reason) {
        (true, _) => format!("valid: {who}"),
        (false, Some(reason)) if who.is_empty() => format!("rejected: {}", reason.as_str()),
        (false, Some(reason)) => format!("rejected: {} ({who})", reason.as_str()),
        (false, None) => "rejected".to_owned(),
    }
}
