//! `keyctl create`: make a key and print its token once.

use std::process::ExitCode;

use super::{Ctx, output};
use crate::cli::CreateArgs;
use crate::error::{Error, Result};
use crate::store::{NewKey, Store};

pub fn run(args: CreateArgs, ctx: &Ctx) -> Result<ExitCode> {
    let paths = crate::paths::validate_prefixes(&args.paths).map_err(Error::Invalid)?;
    let expires = match (args.expire, args.expire_at) {
        (Some(secs), _) => Some(ctx.now.plus(secs).ok_or_else(|| {
            Error::Invalid(format!(
                "--expire {secs}: the expiry would be after the year 9999"
            ))
        })?),
        (None, Some(at)) if at <= ctx.now => {
            return Err(Error::Invalid(format!(
                "--expire-at {at} is not in the future; the key would be born expired"
            )));
        }
        (None, at) => at,
    };
    let new = NewKey {
        user: args.user,
        name: args.name,
        description: args.description,
        prefix: args.prefix,
        paths,
        expires,
    };
    let mut store = Store::open_or_create(&ctx.db)?;
    let (key, token) = store.create_key(&new, ctx.now)?;
    output::issued(&key, &token, ctx.json)?;
    output::note(&format!(
        "created key {}; the token is shown only this once, store it now",
        output::sanitize(&key.label())
    ));
    Ok(ExitCode::SUCCESS)
}
