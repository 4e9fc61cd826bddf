//! `keyctl reset`: a new secret for a key; the old token stops verifying at once.

use std::process::ExitCode;

use super::{Ctx, output};
use crate::cli::ResetArgs;
use crate::error::Result;
use crate::store::Store;

pub fn run(args: ResetArgs, ctx: &Ctx) -> Result<ExitCode> {
    let mut store = Store::open(&ctx.db)?;
    let (key, token) = store.reset(&args.key, ctx.now)?;
    output::issued(&key, &token, ctx.json)?;
    output::note(&format!(
        "new secret for key {}; earlier tokens are rejected from now; the token is shown only this once",
        output::sanitize(&key.label())
    ));
    Ok(ExitCode::SUCCESS)
}
