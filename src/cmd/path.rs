//! `keyctl path`: replace a key's request-path prefixes.

use std::process::ExitCode;

use super::{Ctx, output};
use crate::cli::PathArgs;
use crate::error::Result;
use crate::paths::PathPrefixes;
use crate::store::Access;

pub fn run(args: PathArgs, ctx: &Ctx) -> Result<ExitCode> {
    let paths = PathPrefixes::new(args.prefixes)?;
    let mut store = ctx.open(Access::Write)?;
    let key = store.set_paths(&args.key, &paths)?;
    let what = if key.paths.is_empty() {
        "is good for any path".to_owned()
    } else {
        format!("is restricted to {}", output::sanitize(key.paths.join(" ")))
    };
    output::changed(&key, ctx.json, &what)?;
    Ok(ExitCode::SUCCESS)
}
