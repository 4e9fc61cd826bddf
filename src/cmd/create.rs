//! `keyctl create`: make a key and print its token once.

use std::process::ExitCode;

use super::{Ctx, output};
use crate::cli::{CreateArgs, KeySettings};
use crate::error::Result;
use crate::paths::PathPrefixes;
use crate::store::{Access, NewKey};
use crate::time::Expiry;

/// The new key the command line describes.
pub(super) fn new_key(args: KeySettings) -> Result<NewKey> {
    let mut new = NewKey::new(args.user);
    new.name = args.name;
    new.description = args.description;
    new.prefix = args.prefix;
    new.paths = PathPrefixes::new(args.paths)?;
    new.expires = match (args.expire, args.expire_at) {
        (Some(d), _) => Expiry::In(d),
        (None, Some(at)) => Expiry::At(at),
        (None, None) => Expiry::Never,
    };
    Ok(new)
}

pub fn run(args: CreateArgs, ctx: &Ctx) -> Result<ExitCode> {
    let new = new_key(args.key)?;
    let mut store = ctx.open(Access::Create)?;
    let issued = store.create_key(&new)?;
    let key = &issued.key;
    output::deliver(
        &mut store,
        key,
        &issued.token,
        &issued.undo,
        ctx.json,
        &format!("the key {} was removed again, nothing was changed", key.id),
    )?;
    output::note(&format!(
        "created key {}; the token is shown only this once, store it now",
        output::sanitize(key.label())
    ));
    Ok(ExitCode::SUCCESS)
}
