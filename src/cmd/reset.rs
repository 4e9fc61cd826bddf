//! `keyctl reset`: a new secret for a key; the old token stops verifying at once, or after
//! the grace period given with `--grace`.

use std::process::ExitCode;

use super::{Ctx, output};
use crate::cli::ResetArgs;
use crate::error::Result;
use crate::store::Store;

pub fn run(args: ResetArgs, ctx: &Ctx) -> Result<ExitCode> {
    let mut store = Store::open(&ctx.db)?;
    let (key, token, until) = store.reset(&args.key, args.grace, ctx.now)?;
    output::issued(&key, &token, ctx.json)?;
    // Tokens superseded earlier may keep a longer grace; the note is about the one replaced.
    let old = match until {
        Some(until) => format!("the previous token keeps working until {until}"),
        None => "earlier tokens are rejected from now".to_owned(),
    };
    output::note(&format!(
        "new secret for key {}; {old}; the new token is shown only this once",
        output::sanitize(&key.label())
    ));
    Ok(ExitCode::SUCCESS)
}
