//! `keyctl import`: keys from a `keyctl export`, with their ids and digests, in one
//! transaction.

use std::io::BufReader;
use std::process::ExitCode;

use serde::Serialize;

use super::{Ctx, output};
use crate::cli::ImportArgs;
use crate::error::{Error, Result};
use crate::export::{self, ReadKey};
use crate::names::KeyId;
use crate::store::{Access, Clash, Conflict, KeyRecord, OnConflict, Outcome};
use crate::time::Timestamp;

/// At most this many refused keys are named in the error; the count says the rest.
const MAX_NAMED: usize = 10;

/// JSON shape of import. A dry run keeps the counts true to what happened (nothing) and
/// says what a real run would do in `would`, as `prune --dry-run` does.
#[derive(Serialize)]
struct Imported {
    imported: usize,
    replaced: usize,
    skipped: usize,
    keys: Vec<Line>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    would: Option<Box<Imported>>,
}

/// What happened to the key of one line.
#[derive(Serialize)]
struct Line {
    line: usize,
    id: KeyId,
    action: &'static str,
    /// What a skipped key clashed on: `id`, `name` or `token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    conflict: Option<&'static str>,
    /// The key in the store it clashed with.
    #[serde(skip_serializing_if = "Option::is_none")]
    with: Option<KeyId>,
}

pub fn run(args: ImportArgs, ctx: &Ctx) -> Result<ExitCode> {
    let keys = read(&args, ctx)?;
    let records: Vec<KeyRecord> = keys.iter().map(|k| k.record.clone()).collect();
    // Clashes inside the file need no store: refused before a store is opened, or made.
    let now = Timestamp::now();
    let repeats = crate::store::repeats(&records, now);
    if repeats.iter().any(Option::is_some) {
        let outcomes: Vec<Outcome> = repeats
            .into_iter()
            .map(|r| r.map_or(Outcome::Imported, Outcome::Refused))
            .collect();
        return Err(refusal(&keys, &outcomes, args.on_conflict));
    }
    let access = if args.dry_run {
        Access::Read
    } else {
        Access::Create
    };
    let outcomes = match ctx.open(access) {
        // No store to clash with: a real run would make it and import everything.
        Err(Error::NoStore(_)) if args.dry_run => vec![Outcome::Imported; records.len()],
        store => {
            store?
                .import(&records, args.on_conflict, args.dry_run)?
                .outcomes
        }
    };
    if outcomes.iter().any(|o| matches!(o, Outcome::Refused(_))) {
        return Err(refusal(&keys, &outcomes, args.on_conflict));
    }
    let lines: Vec<Line> = keys
        .iter()
        .zip(&outcomes)
        .map(|(k, o)| describe(k, o))
        .collect();
    let count = |action: &str| lines.iter().filter(|l| l.action == action).count();
    let (imported, replaced, skipped) = (count("imported"), count("replaced"), count("skipped"));
    for (k, o) in keys.iter().zip(&outcomes) {
        if let Outcome::Skipped(c) = o {
            output::note(&format!(
                "line {}: key {} skipped: {}",
                k.line,
                k.record.key.id,
                clash_text(c, &keys)
            ));
        }
    }
    let done = Imported {
        imported,
        replaced,
        skipped,
        keys: lines,
        dry_run: false,
        would: None,
    };
    if args.dry_run {
        if ctx.json {
            output::json(&Imported {
                imported: 0,
                replaced: 0,
                skipped: 0,
                keys: Vec::new(),
                dry_run: true,
                would: Some(Box::new(done)),
            })?;
        } else {
            output::line(&format!(
                "would import {imported}, replace {replaced}, skip {skipped}"
            ))?;
        }
        output::note("dry run: nothing was changed");
        return Ok(ExitCode::SUCCESS);
    }
    if ctx.json {
        output::json(&done)?;
    } else {
        output::line(&format!(
            "imported {imported}, replaced {replaced}, skipped {skipped}"
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The whole export, from the file or stdin.
fn read(args: &ImportArgs, ctx: &Ctx) -> Result<Vec<ReadKey>> {
    match args.file.as_ref().filter(|p| p.as_os_str() != "-") {
        Some(path) => {
            let shown = crate::names::shown_path(path);
            let file = std::fs::File::open(path).map_err(|e| {
                Error::Invalid(format!("cannot open {shown}: {e}; nothing was imported"))
            })?;
            export::read(BufReader::new(file))
        }
        None if ctx.stdin_tty => Err(Error::Invalid(
            "import reads an export from FILE or from stdin; give a file or pipe it in".into(),
        )),
        None => export::read(std::io::stdin().lock()),
    }
}

fn describe(k: &ReadKey, o: &Outcome) -> Line {
    let (action, conflict, with) = match o {
        Outcome::Imported => ("imported", None, None),
        Outcome::Replaced => ("replaced", None, None),
        Outcome::Skipped(c) => ("skipped", Some(clash_word(c)), store_key(c)),
        Outcome::Refused(c) => ("refused", Some(clash_word(c)), store_key(c)),
    };
    Line {
        line: k.line,
        id: k.record.key.id.clone(),
        action,
        conflict,
        with,
    }
}

fn clash_word(c: &Conflict) -> &'static str {
    let (Conflict::Store(clash, _) | Conflict::Earlier(clash, _)) = c;
    match clash {
        Clash::Id => "id",
        Clash::Name => "name",
        Clash::Token => "token",
    }
}

fn store_key(c: &Conflict) -> Option<KeyId> {
    match c {
        Conflict::Store(_, id) => Some(id.clone()),
        Conflict::Earlier(..) => None,
    }
}

/// Why a key clashed, in words.
fn clash_text(c: &Conflict, keys: &[ReadKey]) -> String {
    match c {
        Conflict::Store(Clash::Id, _) => "a key with this id is in the store".to_owned(),
        Conflict::Store(Clash::Name, other) => {
            format!("its user already has a live key of this name ({other})")
        }
        Conflict::Store(Clash::Token, other) => {
            format!("its adopted token belongs to key {other} in the store")
        }
        Conflict::Earlier(clash, at) => {
            let line = keys.get(*at).map_or(0, |k| k.line);
            let what = match clash {
                Clash::Id => "its id",
                Clash::Name => "its user and name",
                Clash::Token => "its adopted token",
            };
            format!("{what} is also on line {line} of the export")
        }
    }
}

/// The error for an import that was refused, naming the lines.
fn refusal(keys: &[ReadKey], outcomes: &[Outcome], policy: OnConflict) -> Error {
    let refused: Vec<String> = keys
        .iter()
        .zip(outcomes)
        .filter_map(|(k, o)| match o {
            Outcome::Refused(c) => Some(format!(
                "line {}: key {}: {}",
                k.line,
                k.record.key.id,
                clash_text(c, keys)
            )),
            _ => None,
        })
        .collect();
    let more = refused.len().saturating_sub(MAX_NAMED);
    let mut text = refused
        .iter()
        .take(MAX_NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if more > 0 {
        text.push_str(&format!("; and {more} more"));
    }
    let within = refused.iter().any(|r| r.contains("of the export"));
    let hint = if within {
        "an export lists each key once: fix the file"
    } else {
        match policy {
            OnConflict::Fail => {
                "--on-conflict skip leaves such keys out; replace overwrites keys with the same id"
            }
            _ => {
                "replace overwrites only a key with the same id, never another key: delete or rename that key first, or use --on-conflict skip"
            }
        }
    };
    Error::Invalid(format!("nothing was imported: {text} ({hint})"))
}
