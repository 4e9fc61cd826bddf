//! `keyctl expire`: set, move or clear a key's expiry.

use std::process::ExitCode;

use super::{Ctx, output};
use crate::cli::{ExpireArgs, ExpireIn};
use crate::error::{Error, Result};
use crate::store::Store;

pub fn run(args: ExpireArgs, ctx: &Ctx) -> Result<ExitCode> {
    let expires = match (args.duration, args.at) {
        (Some(ExpireIn::Now), _) => Some(ctx.now),
        (Some(ExpireIn::Seconds(secs)), _) => Some(ctx.now.plus(secs).ok_or_else(|| {
            Error::Invalid(format!(
                "{secs} seconds from now would be after the year 9999"
            ))
        })?),
        (None, at) => at,
    };
    let mut store = Store::open(&ctx.db)?;
    let key = store.set_expiry(&args.key, expires, ctx.now)?;
    let what = match key.expires {
        Some(t) if t <= ctx.now => format!("expired at {t}"),
        Some(t) => format!("expires at {t}"),
        None => "never expires".to_owned(),
    };
    output::changed(&key, ctx.json, &what)?;
    Ok(ExitCode::SUCCESS)
}
