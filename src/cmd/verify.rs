//! `keyctl verify`: is a token, or a request's credential, good? Exit 0 valid, 1 rejected.

use std::io::{BufRead, BufReader, Read};
use std::process::ExitCode;

use super::{Ctx, output};
use crate::cli::VerifyArgs;
use crate::credential::{Credential, Options, Presented, Source};
use crate::error::{EXIT_REJECTED, Error, Result};
use crate::store::Store;
use crate::verify::{Reason, RequestCheck, Verdict};

/// Longest first line of stdin read; anything longer is malformed without reading further.
const MAX_LINE: u64 = 4096;

pub fn run(args: VerifyArgs, ctx: &Ctx) -> Result<ExitCode> {
    let verdict = match gather(&args, ctx)? {
        Ok(presented) => {
            let mut store = Store::open(&ctx.db)?;
            // One verification per process: nothing to remember it for.
            store.set_verify_cache(0);
            let check = RequestCheck {
                path: args.path.as_deref(),
                require_tls: args.require_tls,
            };
            store.verify_request(&presented, &check, ctx.now)?
        }
        Err(reason) => Verdict::rejected(reason),
    };
    for warning in &verdict.warnings {
        output::note(&format!("warning: {warning}"));
    }
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

/// Collect what was presented: a bare token (argument or stdin), or headers, a URL and a
/// raw request. An unreadable request is a rejection (`malformed`), not a usage error.
fn gather(args: &VerifyArgs, ctx: &Ctx) -> Result<std::result::Result<Presented, Reason>> {
    let opts = Options {
        basic_user: args.basic_user.clone(),
    };
    let as_request = args.request || args.url.is_some() || !args.headers.is_empty();
    let mut presented = if args.request {
        if ctx.stdin_tty {
            return Err(Error::Invalid(
                "--request reads the request head from stdin; pipe it in".into(),
            ));
        }
        match Presented::read_request_head(BufReader::new(std::io::stdin().lock()), &opts) {
            Ok(p) => p,
            Err(_) => return Ok(Err(Reason::Malformed)),
        }
    } else {
        Presented::default()
    };
    for header in &args.headers {
        if presented.add_header_line(header, &opts).is_err() {
            return Ok(Err(Reason::Malformed));
        }
    }
    if let Some(url) = &args.url
        && presented.add_url(url).is_err()
    {
        return Ok(Err(Reason::Malformed));
    }
    let token = match &args.token {
        Some(t) => Some(Credential::new(t.trim(), Source::Argument)),
        None if !as_request => Some(Credential::new(read_token(ctx)?, Source::Stdin)),
        None => None,
    };
    if let Some(token) = token {
        if token.token.is_empty() {
            return Err(Error::Invalid(
                "no token given: pass it on the first line of stdin or as an argument".into(),
            ));
        }
        presented.credentials.push(token);
    }
    Ok(Ok(presented))
}

/// The first line of stdin, trimmed. Oversized or non-UTF-8 input comes back as a string
/// that can never parse as a token, so it is rejected as malformed like any other bad token.
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
    Ok(String::from_utf8(line).map_or_else(|_| "\u{0}not-utf8".into(), |s| s.trim().to_owned()))
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
