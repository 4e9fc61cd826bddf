//! `keyctl show`: one key, never its secret.

use std::process::ExitCode;

use super::{Ctx, output};
use crate::cli::ShowArgs;
use crate::error::Result;
use crate::store::Access;

pub fn run(args: ShowArgs, ctx: &Ctx) -> Result<ExitCode> {
    let key = ctx.open(Access::Read)?.key(&args.key)?;
    if ctx.json {
        output::json(&key)?;
    } else {
        output::key_details(&key)?;
    }
    Ok(ExitCode::SUCCESS)
}
