//! `keyctl prune`: remove keys revoked or expired long ago.

use std::process::ExitCode;

use serde::Serialize;

use super::{Ctx, delete::confirm, output};
use crate::cli::PruneArgs;
use crate::error::Result;
use crate::names::KeyId;
use crate::store::Access;

#[derive(Serialize)]
struct Pruned {
    purged: usize,
    ids: Vec<KeyId>,
}

pub fn run(args: PruneArgs, ctx: &Ctx) -> Result<ExitCode> {
    let mut store = ctx.open(Access::Write)?;
    let candidates = store.prunable(args.older_than)?;
    let ids = if candidates.is_empty() {
        Vec::new()
    } else {
        if !args.yes {
            confirm(
                &format!(
                    "Remove {} key(s) revoked or expired more than {} ago?",
                    candidates.len(),
                    args.older_than
                ),
                ctx,
            )?;
        }
        let ids: Vec<KeyId> = candidates.into_iter().map(|k| k.id).collect();
        store.prune(&ids, args.older_than)?
    };
    if ctx.json {
        output::json(&Pruned {
            purged: ids.len(),
            ids,
        })?;
    } else {
        output::line(&format!("purged {} key(s)", ids.len()))?;
    }
    Ok(ExitCode::SUCCESS)
}
