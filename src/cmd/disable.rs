//! `keyctl disable` and `keyctl enable`: switch a key off and on again, reversibly.

use std::process::ExitCode;

use super::{Ctx, output};
use crate::error::Result;
use crate::key::KeyRef;
use crate::store::Store;

pub fn run(key: &KeyRef, ctx: &Ctx, disable: bool) -> Result<ExitCode> {
    let mut store = Store::open(&ctx.db)?;
    let (key, changed) = store.set_disabled(key, disable, ctx.now)?;
    let what = match (disable, changed) {
        (true, true) => "is disabled; verify rejects it until `keyctl enable`",
        (true, false) => "was already disabled",
        (false, true) => "is enabled",
        (false, false) => "was not disabled",
    };
    output::changed(&key, ctx.json, what)?;
    Ok(ExitCode::SUCCESS)
}
