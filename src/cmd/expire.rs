//! `keyctl expire`: set, move or clear a key's expiry.

use std::process::ExitCode;

use super::{Ctx, output};
use crate::cli::ExpireArgs;
use crate::error::Result;
use crate::store::Access;
use crate::time::Expiry;

pub fn run(args: ExpireArgs, ctx: &Ctx) -> Result<ExitCode> {
    let expiry = match (args.duration, args.at) {
        (Some(e), _) => e,
        (None, Some(at)) => Expiry::At(at),
        (None, None) => Expiry::Never,
    };
    let mut store = ctx.open(Access::Write)?;
    let key = store.set_expiry(&args.key, expiry)?;
    let what = match key.expires {
        Some(t) if key.status == crate::key::Status::Expired => format!("expired at {t}"),
        Some(t) => format!("expires at {t}"),
        None => "never expires".to_owned(),
    };
    output::changed(&key, ctx.json, &what)?;
    Ok(ExitCode::SUCCESS)
}
