//! `keyctl delete`: revoke a key, or purge it, after confirmation.

use std::process::ExitCode;

use super::{Ctx, output, prompt};
use crate::cli::DeleteArgs;
use crate::error::Result;
use crate::key::KeyRef;
use crate::store::Access;

pub fn run(args: DeleteArgs, ctx: &Ctx) -> Result<ExitCode> {
    let mut store = ctx.open(Access::Write)?;
    let key = store.key(&args.key)?;
    let label = output::sanitize(key.label());
    let (verb, done, would) = if args.purge {
        ("Remove", "was removed from the store", "would be removed")
    } else if key.deleted.is_some() {
        output::note(&format!("key {label} was already revoked"));
        if ctx.json {
            output::json(&key)?;
        }
        return Ok(ExitCode::SUCCESS);
    } else {
        ("Revoke", "is revoked", "would be revoked")
    };
    if args.dry_run {
        output::changed(
            &key,
            ctx.json,
            &format!("{would} (dry run: nothing was changed)"),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if !args.yes {
        prompt::confirm(&format!("{verb} key {label}?"), ctx)?;
    }
    // By the id that was shown, not by USER/NAME again: while the prompt waited, the key
    // may have been revoked and its name given to a new key, which was not confirmed.
    let id = KeyRef::Id(key.id);
    let key = if args.purge {
        store.purge(&id)?
    } else {
        store.revoke(&id)?.key
    };
    output::changed(&key, ctx.json, done)?;
    Ok(ExitCode::SUCCESS)
}
