//! `keyctl reset`: a new secret for a key; the old token stops verifying at once, or after
//! the grace period given with `--grace`.

use std::process::ExitCode;

use super::{Ctx, output};
use crate::cli::ResetArgs;
use crate::error::Result;
use crate::store::Access;

pub fn run(args: ResetArgs, ctx: &Ctx) -> Result<ExitCode> {
    let mut store = ctx.open(Access::Write)?;
    let rotated = store.reset(&args.key, args.grace)?;
    let key = &rotated.key;
    output::deliver(
        &mut store,
        key,
        &rotated.token,
        &rotated.undo,
        ctx.json,
        &format!(
            "the reset of key {} was undone: its previous token works as before",
            key.id
        ),
    )?;
    let old = match rotated.previous_until {
        Some(until) => {
            format!("the previous token keeps working until {until}, and any older one has stopped")
        }
        None => "earlier tokens are rejected from now".to_owned(),
    };
    output::note(&format!(
        "new secret for key {}; {old}; the new token is shown only this once",
        output::sanitize(key.label())
    ));
    Ok(ExitCode::SUCCESS)
}
