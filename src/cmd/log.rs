//! `keyctl log`: the audit log, filtered, and the check of its hash chain.

use std::process::ExitCode;

use super::{Ctx, output};
use crate::audit::{self, Event};
use crate::cli::{LogArgs, Since};
use crate::error::{EXIT_REJECTED, Error, Result};
use crate::store::{Access, EventFilter};

pub fn run(args: LogArgs, ctx: &Ctx) -> Result<ExitCode> {
    let store = ctx.open(Access::Read)?;
    if args.check {
        let mut events = Vec::new();
        store.events(&EventFilter::default(), |e| {
            events.push(e);
            Ok(())
        })?;
        return check(&events, args.expect_head.as_deref(), ctx);
    }
    let key = match &args.key {
        Some(r) => Some(store.key(r).map(|k| k.id).or_else(|e| match (r, e) {
            // A purged key is gone from the store but not from the log.
            (crate::key::KeyRef::Id(id), Error::NotFound(_)) => Ok(id.clone()),
            (_, e) => Err(e),
        })?),
        None => None,
    };
    let since = args.since.map(|s| match s {
        Since::At(t) => t,
        Since::Ago(d) => crate::time::Timestamp(store.clock().now().0.saturating_sub(d.secs())),
    });
    let filter = EventFilter {
        key,
        user: args.user,
        action: args.action,
        since,
    };
    if ctx.json {
        return output::json_array(|emit| store.events(&filter, emit)).map(|()| ExitCode::SUCCESS);
    }
    let mut rows = Vec::new();
    store.events(&filter, |e| {
        rows.push(row(&e));
        Ok(())
    })?;
    if rows.is_empty() {
        output::note("no events");
        return Ok(ExitCode::SUCCESS);
    }
    let header = ["SEQ", "TIME", "ACTION", "KEY", "USER", "ACTOR", "DETAILS"];
    output::columns(&header, &rows, ctx.decorate)?;
    Ok(ExitCode::SUCCESS)
}

fn row(e: &Event) -> Vec<String> {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    vec![
        e.seq.to_string(),
        e.time.to_string(),
        e.action.to_string(),
        or_dash(&e.key),
        or_dash(&e.user),
        e.actor.clone(),
        e.details.to_string(),
    ]
}

#[derive(serde::Serialize)]
struct Checked<'a> {
    intact: bool,
    events: u64,
    head: Option<&'a str>,
    expected_head: Option<&'a str>,
    first_bad: Option<i64>,
    problem: Option<String>,
}

/// Walk the chain; exit 0 when intact (and, when given, the head is the expected one),
/// else 1, naming the first event that does not fit.
fn check(events: &[Event], expected: Option<&str>, ctx: &Ctx) -> Result<ExitCode> {
    let result = audit::check(events);
    let (intact, count, head, first_bad, problem) = match &result {
        audit::Check::Intact { events, head } => {
            let problem = expected.filter(|x| *x != head).map(|x| {
                format!(
                    "the head is {head}, not the expected {x}: the log was cut short or rewritten since that head was recorded"
                )
            });
            (
                problem.is_none(),
                *events,
                Some(head.as_str()),
                None,
                problem,
            )
        }
        audit::Check::Broken { position, seq, why } => (
            false,
            *position - 1,
            None,
            Some(*seq),
            Some(format!(
                "event {position} (numbered {seq}) does not fit: {why}"
            )),
        ),
    };
    if ctx.json {
        output::json(&Checked {
            intact,
            events: count,
            head,
            expected_head: expected,
            first_bad,
            problem: problem.clone(),
        })?;
    } else if let Some(head) = head {
        output::line(&format!("{count} events, head {head}"))?;
    }
    match problem {
        None => Ok(ExitCode::SUCCESS),
        Some(p) => {
            output::note(&format!("the audit log is not intact: {p}"));
            Ok(ExitCode::from(EXIT_REJECTED))
        }
    }
}
