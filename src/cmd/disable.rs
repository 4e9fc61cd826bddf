//! `keyctl disable` and `keyctl enable`: switch a key off and on again, reversibly.

use std::process::ExitCode;

use super::{Ctx, output};
use crate::error::Result;
use crate::key::KeyRef;
use crate::store::Access;

pub fn run(key: &KeyRef, ctx: &Ctx, disable: bool) -> Result<ExitCode> {
    let mut store = ctx.open(Access::Write)?;
    let updated = store.set_disabled(key, disable)?;
    let what = match (disable, updated.changed) {
        (true, true) => "is disabled; verify rejects it until `keyctl enable`",
        (true, false) => "was already disabled",
        (false, true) => "is enabled",
        (false, false) => "was not disabled",
    };
    output::changed(&updated.key, ctx.json, what)?;
    Ok(ExitCode::SUCCESS)
}
