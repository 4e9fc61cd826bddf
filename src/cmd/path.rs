//! `keyctl path`: replace a key's request-path prefixes.

use std::process::ExitCode;

use super::{Ctx, output};
use crate::cli::PathArgs;
use crate::error::{Error, Result};
use crate::store::Store;

pub fn run(args: PathArgs, ctx: &Ctx) -> Result<ExitCode> {
    let paths = crate::paths::validate_prefixes(&args.prefixes).map_err(Error::Invalid)?;
    let mut store = Store::open(&ctx.db)?;
    let key = store.set_paths(&args.key, &paths, ctx.now)?;
    let what = if key.paths.is_empty() {
        "is good for any path".to_owned()
    } else {
        format!("is restricted to {}", key.paths.join(" "))
    };
    output::changed(&key, ctx.json, &what)?;
    Ok(ExitCode::SUCCESS)
}
