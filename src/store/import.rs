//! What an import does with each record, decided once for every backend: a backend
//! answers the questions and makes the changes, inside the transaction it runs the
//! import in.

use std::collections::HashSet;

use super::change::WriteTx;
use super::{Clash, Conflict, ImportReport, KeyRecord, OnConflict, Outcome, Who};
use crate::audit::Action;
use crate::error::Result;
use crate::names::{KeyId, KeyName, UserName};
use crate::time::Timestamp;

/// The questions an import asks of the store, and the changes it makes.
pub(crate) trait ImportTx: WriteTx {
    /// The row number of key `id`, when the store holds it.
    fn key_seq(&mut self, id: &KeyId) -> Result<Option<i64>>;
    /// The live key of `user` named `name`, other than `id`.
    fn named(&mut self, user: &UserName, name: &KeyName, id: &KeyId) -> Result<Option<KeyId>>;
    /// Store a record, at row `seq` when it replaces a key.
    fn insert_record(&mut self, r: &KeyRecord, seq: Option<i64>, now: Timestamp) -> Result<()>;
}

/// Decide each record's outcome and, unless one is refused or this is a dry run, make
/// the changes. `committed` in the report says whether the caller must commit; otherwise
/// nothing was written and it rolls back.
pub(crate) fn import(
    tx: &mut impl ImportTx,
    records: &[KeyRecord],
    on_conflict: OnConflict,
    dry_run: bool,
    who: &Who,
) -> Result<ImportReport> {
    let now = who.clock.now();
    let repeats = super::repeats(records, now);
    let existing = records
        .iter()
        .map(|r| tx.key_seq(&r.key.id))
        .collect::<Result<Vec<_>>>()?;
    // Keys the import overwrites no longer hold their names or tokens.
    let replaced: HashSet<&KeyId> = if on_conflict == OnConflict::Replace {
        records
            .iter()
            .zip(&existing)
            .filter(|(_, seq)| seq.is_some())
            .map(|(r, _)| &r.key.id)
            .collect()
    } else {
        HashSet::new()
    };
    let other = |holder: KeyId| (!replaced.contains(&holder)).then_some(holder);
    let mut outcomes = Vec::with_capacity(records.len());
    for ((r, seq), repeat) in records.iter().zip(&existing).zip(repeats) {
        if let Some(c) = repeat {
            outcomes.push(Outcome::Refused(c));
            continue;
        }
        let by_name = match (&r.key.name, r.key.deleted) {
            (Some(name), None) => tx
                .named(&r.key.user, name, &r.key.id)?
                .and_then(other)
                .map(|id| Conflict::Store(Clash::Name, id)),
            _ => None,
        };
        let mut by_token = None;
        for d in r.adopted_digests(now) {
            if let Some(id) = tx.adopted_by(&d.0, Some(&r.key.id), now)?.and_then(other) {
                by_token = Some(Conflict::Store(Clash::Token, id));
                break;
            }
        }
        let by_id = seq.map(|_| Conflict::Store(Clash::Id, r.key.id.clone()));
        outcomes.push(match (on_conflict, by_id, by_name.or(by_token)) {
            (OnConflict::Skip, Some(c), _) | (OnConflict::Skip, None, Some(c)) => {
                Outcome::Skipped(c)
            }
            (OnConflict::Fail, Some(c), _) | (_, _, Some(c)) => Outcome::Refused(c),
            (OnConflict::Replace, Some(_), None) => Outcome::Replaced,
            (_, None, None) => Outcome::Imported,
        });
    }
    let refused = outcomes.iter().any(|o| matches!(o, Outcome::Refused(_)));
    if refused || dry_run {
        return Ok(ImportReport {
            outcomes,
            committed: false,
        });
    }
    for (seq, outcome) in existing.iter().zip(&outcomes) {
        if let (Some(seq), Outcome::Replaced) = (seq, outcome) {
            tx.delete_key(*seq)?;
        }
    }
    for ((r, seq), outcome) in records.iter().zip(&existing).zip(&outcomes) {
        let (how, seq) = match outcome {
            Outcome::Imported => ("imported", None),
            Outcome::Replaced => ("replaced", *seq),
            _ => continue,
        };
        tx.insert_record(r, seq, now)?;
        let details = serde_json::json!({ "outcome": how, "status": r.key.status });
        tx.record(
            now,
            who.actor(),
            Action::Import,
            Some(&r.key),
            None,
            details,
        )?;
    }
    Ok(ImportReport {
        outcomes,
        committed: true,
    })
}
