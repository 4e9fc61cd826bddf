//! `keyctl prune`: remove keys revoked or expired long ago.

use std::io::IsTerminal;
use std::process::ExitCode;

use serde::Serialize;

use super::{Ctx, output, prompt};
use crate::cli::PruneArgs;
use crate::error::Result;
use crate::key::Key;
use crate::names::KeyId;
use crate::store::Access;

/// JSON shape of prune. A dry run keeps `purged` and `ids` true to what happened (nothing)
/// and says what a real run would remove in `would_purge`, so that a script reading `ids`
/// never mistakes a dry run for a removal.
#[derive(Serialize)]
struct Pruned {
    purged: usize,
    ids: Vec<KeyId>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    would_purge: Option<Vec<KeyId>>,
}

pub fn run(args: PruneArgs, ctx: &Ctx) -> Result<ExitCode> {
    let mut store = ctx.open(Access::Write)?;
    let candidates = store.prunable(args.older_than)?;
    let listed: Vec<KeyId> = candidates.iter().map(|k| k.id.clone()).collect();
    let when = format!("more than {} ago", args.older_than);
    if args.dry_run {
        if ctx.json {
            output::json(&Pruned {
                purged: 0,
                ids: Vec::new(),
                dry_run: true,
                would_purge: Some(listed),
            })?;
        } else {
            for line in describe(&candidates) {
                output::line(&line)?;
            }
            output::note(&format!(
                "dry run: would remove {} key(s) revoked or expired {when}; nothing was changed",
                candidates.len()
            ));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !candidates.is_empty() && !args.yes {
        // Listed only when asking: without a terminal the refusal is the whole answer.
        if ctx.stdin_tty {
            for line in describe(&candidates) {
                output::note_raw(&format!("  {line}\n"));
            }
        }
        prompt::confirm(
            &format!(
                "Remove {} key(s) revoked or expired {when}?",
                candidates.len()
            ),
            ctx,
        )?;
    }
    // Exactly the keys that were listed (and confirmed), if they are still prunable.
    let ids = if listed.is_empty() {
        Vec::new()
    } else {
        store.prune(&listed, args.older_than)?
    };
    if ctx.json {
        output::json(&Pruned {
            purged: ids.len(),
            ids,
            dry_run: false,
            would_purge: None,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    // The ids removed are the data; with nothing removed there is nothing to say, so that
    // a daily cron job mails nothing.
    for id in &ids {
        output::line(id.as_str())?;
    }
    if !ids.is_empty() || std::io::stderr().is_terminal() {
        output::note(&format!("purged {} key(s)", ids.len()));
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per key, in aligned columns: id, `user/name` (or user), status, and when it
/// was revoked or expired.
fn describe(keys: &[Key]) -> Vec<String> {
    let rows: Vec<[String; 4]> = keys
        .iter()
        .map(|k| {
            let who = match &k.name {
                Some(name) => format!("{}/{name}", k.user),
                None => k.user.to_string(),
            };
            let when = match (k.deleted, k.expires) {
                (Some(t), _) => format!("revoked {t}"),
                (None, Some(t)) => format!("expired {t}"),
                (None, None) => "-".to_owned(),
            };
            [
                output::sanitize(&k.id),
                output::sanitize(&who),
                k.status.as_str().to_owned(),
                when,
            ]
        })
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (w0, w1, w2) = (width(0), width(1), width(2));
    rows.iter()
        .map(|[id, who, status, when]| format!("{id:<w0$}  {who:<w1$}  {status:<w2$}  {when}"))
        .collect()
}
