//! `keyctl adopt`: take over a token another system issued, keeping only its digest.

use std::process::ExitCode;

use super::{Ctx, output, secret};
use crate::cli::AdoptArgs;
use crate::error::{Error, Result};
use crate::store::Access;
use crate::token::AdoptedToken;

pub fn run(args: AdoptArgs, ctx: &Ctx) -> Result<ExitCode> {
    let new = super::create::new_key(args.key)?;
    // The token is read before the store is opened, and never kept: only its digest is.
    let digest = match args.digest {
        Some(digest) => digest,
        None => read_token(ctx)?.digest(),
    };
    let mut store = ctx.open(Access::Create)?;
    let key = store.adopt_key(&new, &digest)?;
    if ctx.json {
        output::json(&key)?;
    } else {
        output::line(key.id.as_str())?;
    }
    output::note(&format!(
        "adopted the token as key {}: it verifies as this key from now on; `keyctl reset` replaces it with a keyctl token",
        output::sanitize(key.label())
    ));
    Ok(ExitCode::SUCCESS)
}

/// The token to adopt: the first line of stdin, or typed at the terminal without echo.
fn read_token(ctx: &Ctx) -> Result<AdoptedToken> {
    let text = if ctx.stdin_tty {
        secret::prompt("Token to adopt: ", "the token from the terminal")?
    } else {
        secret::first_line("the token from stdin")?.ok_or_else(|| {
            Error::Invalid(
                "cannot adopt this token: the first line of stdin is too long or not UTF-8 text"
                    .into(),
            )
        })?
    };
    if text.is_empty() {
        return Err(Error::Invalid(
            "no token given: pass the token to adopt on the first line of stdin, or its digest with --digest sha256:HEX".into(),
        ));
    }
    Ok(text.parse()?)
}
