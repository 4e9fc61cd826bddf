//! `keyctl delete`: revoke a key, or purge it, after confirmation.

use std::process::ExitCode;

use super::{Ctx, output};
use crate::cli::DeleteArgs;
use crate::error::{Error, Result};
use crate::key::KeyRef;
use crate::store::Access;

pub fn run(args: DeleteArgs, ctx: &Ctx) -> Result<ExitCode> {
    let mut store = ctx.open(Access::Write)?;
    let key = store.key(&args.key)?;
    let (verb, done) = if args.purge {
        ("Remove", "was removed from the store")
    } else if key.deleted.is_some() {
        output::note(&format!(
            "key {} was already revoked",
            output::sanitize(key.label())
        ));
        if ctx.json {
            output::json(&key)?;
        }
        return Ok(ExitCode::SUCCESS);
    } else {
        ("Revoke", "is revoked")
    };
    if !args.yes {
        confirm(
            &format!("{verb} key {}?", output::sanitize(key.label())),
            ctx,
        )?;
    }
    // The key confirmed, by id: not whatever USER/NAME names by now.
    let confirmed = KeyRef::Id(key.id);
    let key = if args.purge {
        store.purge(&confirmed)?
    } else {
        store.revoke(&confirmed)?.key
    };
    output::changed(&key, ctx.json, done)?;
    Ok(ExitCode::SUCCESS)
}

/// Ask on the terminal; without one, refuse rather than hang.
pub(super) fn confirm(prompt: &str, ctx: &Ctx) -> Result<()> {
    if !ctx.stdin_tty {
        return Err(Error::Invalid(
            "stdin is not a terminal, so keyctl cannot ask for confirmation; pass --yes. Nothing was changed"
                .into(),
        ));
    }
    let yes = dialoguer::Confirm::new()
        .with_prompt(prompt)
        .default(false)
        .interact()
        .map_err(|e| Error::Invalid(format!("cannot ask for confirmation: {e}")))?;
    if yes {
        Ok(())
    } else {
        Err(Error::Invalid("not confirmed; nothing was changed".into()))
    }
}
