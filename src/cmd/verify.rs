//! `keyctl verify`: is a token, or a request's credential, good? Exit 0 valid, 1 rejected.

use std::io::BufReader;
use std::process::ExitCode;

use super::{Ctx, output, secret};
use crate::cli::VerifyArgs;
use crate::credential::{Credential, Options, Presented, Source};
use crate::error::{EXIT_REJECTED, Error, Result};
use crate::store::Access;
use crate::verify::{Check, Reason, Verdict, Verifier};

pub fn run(args: VerifyArgs, ctx: &Ctx) -> Result<ExitCode> {
    let verdict = match gather(&args, ctx)? {
        Ok(presented) => {
            // One verification per process: nothing to remember it for.
            let mut verifier = Verifier::with_cache(ctx.open(Access::Read)?, 0);
            let check = Check {
                path: args.path.as_deref(),
                require_tls: args.require_tls,
                current: args.current,
            };
            let verdict = verifier.verify_request(&presented, &check)?;
            // The process ends in a moment, and closing the store would only tear down
            // what the exit drops anyway (its statements, page cache and file lock): a
            // tenth of a whole verification. Anything it wrote is committed already.
            std::mem::forget(verifier);
            verdict
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

/// Collect what was presented: a bare token (argument, stdin, or typed at a prompt), or
/// headers, a URL and a raw request. An unreadable request is a rejection (`malformed`),
/// not a usage error.
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
        None if as_request => None,
        None if ctx.stdin_tty => Some(Credential::new(
            secret::prompt("Token: ", "the token from the terminal")?,
            Source::Stdin,
        )),
        // A line too long or not UTF-8 cannot be a token: malformed, without reading on.
        None => match secret::first_line("the token from stdin")? {
            Some(token) => Some(Credential::new(token, Source::Stdin)),
            None => return Ok(Err(Reason::Malformed)),
        },
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

fn describe(v: &Verdict) -> String {
    let who = match (&v.id, &v.user) {
        (Some(id), Some(user)) => format!("key {id}, user {}", output::sanitize(user)),
        _ => String::new(),
    };
    match (v.valid, v.reason) {
        (true, _) => format!("valid: {who}"),
        (false, Some(reason)) if who.is_empty() => format!("rejected: {reason}"),
        (false, Some(reason)) => format!("rejected: {reason} ({who})"),
        (false, None) => "rejected".to_owned(),
    }
}
