//! `keyctl list`: keys in creation order, never their secrets.

use std::process::ExitCode;

use super::{Ctx, output, table};
use crate::cli::ListArgs;
use crate::error::Result;
use crate::store::{Access, ListFilter};

pub fn run(args: ListArgs, ctx: &Ctx) -> Result<ExitCode> {
    let store = ctx.open(Access::Read)?;
    let filter = ListFilter {
        user: args.user,
        all: args.all,
        statuses: args.statuses,
        expiring_within: args.expiring_within,
        unused_since: args.unused_since,
    };
    if ctx.json {
        // Streamed: `list --json` on a large store runs in constant memory.
        return output::json_array(|emit| store.for_each_key(&filter, emit))
            .map(|()| ExitCode::SUCCESS);
    }
    let keys = store.list(&filter)?;
    if keys.is_empty() {
        output::note("no keys");
    } else {
        let width = if ctx.decorate {
            table::terminal_width()
        } else {
            None
        };
        table::print(&keys, ctx.decorate, width)?;
    }
    Ok(ExitCode::SUCCESS)
}
