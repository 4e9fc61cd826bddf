//! `keyctl prune`: remove keys revoked or expired long ago.

use std::process::ExitCode;

use serde::Serialize;

use super::{Ctx, delete::confirm, output};
use crate::cli::PruneArgs;
use crate::error::{Error, Result};
use crate::store::Store;

#[derive(Serialize)]
struct Pruned {
    purged: usize,
    ids: Vec<String>,
}

pub fn run(args: PruneArgs, ctx: &Ctx) -> Result<ExitCode> {
    let cutoff = ctx
        .now
        .plus(-args.older_than)
        .ok_or_else(|| Error::Invalid(format!("--older-than {}: too far back", args.older_than)))?;
    let mut store = Store::open(&ctx.db)?;
    let candidates = store.prunable(cutoff, ctx.now)?;
    let ids = if candidates.is_empty() {
        Vec::new()
    } else {
        if !args.yes {
            confirm(
                &format!(
                    "Remove {} key(s) revoked or expired before {cutoff}?",
                    candidates.len()
                ),
                ctx,
            )?;
        }
        store.prune(cutoff)?
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
