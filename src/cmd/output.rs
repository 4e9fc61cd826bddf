//! Printing: JSON, tables and notes. stdout carries data only; notes go to stderr.

use std::io::{BufWriter, Write};

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer as _};

use crate::error::{Error, Result};
use crate::key::Key;
use crate::store::{Store, Undo};
use crate::token::Token;

/// Print `value` as JSON on stdout.
pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    json_to(&mut std::io::stdout().lock(), value).map_err(Error::Output)
}

fn json_to<T: Serialize + ?Sized>(out: &mut impl Write, value: &T) -> std::io::Result<()> {
    // Stdout is line-buffered: without a buffer of its own, each line of pretty JSON would
    // be a write(2) of its own.
    let mut out = BufWriter::new(out);
    serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::from)?;
    writeln!(out)?;
    out.flush()
}

/// Print a JSON array on stdout as `fill` hands over its elements, so that a long list is
/// never held in memory whole. The text is the same as [`json`] of the whole array. When
/// `fill` fails before 64 KiB of output, nothing reaches stdout.
pub fn json_array<T: Serialize>(
    fill: impl FnOnce(&mut dyn FnMut(T) -> Result<()>) -> Result<()>,
) -> Result<()> {
    let mut out = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let io = |e: serde_json::Error| Error::Output(e.into());
    let filled = {
        let mut ser = serde_json::Serializer::pretty(&mut out);
        let mut seq = ser.serialize_seq(None).map_err(io)?;
        fill(&mut |item| seq.serialize_element(&item).map_err(io))
            .and_then(|()| seq.end().map_err(io))
    };
    match filled {
        Ok(()) => writeln!(out)
            .and_then(|()| out.flush())
            .map_err(Error::Output),
        Err(e) => {
            // Drop what is buffered instead of printing half an array.
            let _ = out.into_parts();
            Err(e)
        }
    }
}

/// Print rows under a header: aligned columns for a terminal, tab-separated lines (one
/// header word per column) otherwise. Every cell is escaped.
pub fn columns(header: &[&str], rows: &[Vec<String>], decorate: bool) -> Result<()> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(sanitize).collect())
        .collect();
    let mut text = String::new();
    if decorate {
        let width = |i: usize| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..header.len()).map(width).collect();
        let line = |cells: Vec<&str>| {
            let mut l = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    l.push_str(c);
                } else {
                    l.push_str(&format!("{c:<w$}  ", w = widths[i]));
                }
            }
            l.trim_end().to_owned() + "\n"
        };
        text.push_str(&line(header.to_vec()));
        for r in &rows {
            text.push_str(&line(r.iter().map(String::as_str).collect()));
        }
    } else {
        text.push_str(&header.join("\t"));
        text.push('\n');
        for r in &rows {
            text.push_str(&r.join("\t"));
            text.push('\n');
        }
    }
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}

/// Print one line of data on stdout.
pub fn line(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}

/// A note for the person at the terminal, on stderr. A note that cannot be written is
/// dropped: it never fails a command, let alone aborts one.
pub fn note(text: &str) {
    note_raw(&format!("keyctl: {text}\n"));
}

/// Text on stderr as it is, if stderr takes it.
pub fn note_raw(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Make user-supplied text safe for a terminal: control characters are shown escaped.
pub fn sanitize(text: impl AsRef<str>) -> String {
    let text = text.as_ref();
    if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        text.to_owned()
    }
}

fn join_times(times: &[crate::time::Timestamp]) -> String {
    if times.is_empty() {
        return "-".to_owned();
    }
    times
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

fn or_dash(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| sanitize(v.to_string()))
}

/// Print one key as `field: value` lines.
pub fn key_details(k: &Key) -> Result<()> {
    let fields = [
        ("id", sanitize(&k.id)),
        ("user", sanitize(&k.user)),
        ("name", or_dash(k.name.as_ref())),
        ("description", or_dash(k.description.as_ref())),
        ("status", k.status.as_str().to_owned()),
        ("prefix", sanitize(&k.prefix)),
        (
            "paths",
            if k.paths.is_empty() {
                "-".into()
            } else {
                // As in `list`: a space between prefixes, which never contain one.
                sanitize(k.paths.join(" "))
            },
        ),
        ("created", k.created.to_string()),
        ("updated", k.updated.to_string()),
        ("expires", or_dash(k.expires)),
        ("deleted", or_dash(k.deleted)),
        ("disabled", or_dash(k.disabled)),
        ("last used", or_dash(k.last_used)),
        ("grace until", join_times(&k.superseded)),
    ];
    let mut out = std::io::stdout().lock();
    for (name, value) in fields {
        writeln!(out, "{name:<12} {value}").map_err(Error::Output)?;
    }
    Ok(())
}

/// JSON shape of create and reset: the key and its token.
#[derive(Serialize)]
pub struct WithToken<'a> {
    #[serde(flatten)]
    pub key: &'a Key,
    pub token: &'a str,
}

/// Print a freshly issued token (create, reset): the token alone, or JSON with the key.
/// When it cannot be written in full, the change that made it is undone, so that no
/// secret the caller never received is left working (or, for a reset, a working one
/// replaced by it); `undone` says what that means in the error.
pub fn deliver(
    store: &mut Store,
    key: &Key,
    token: &Token,
    undo: &Undo,
    as_json: bool,
    undone: &str,
) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let written = if as_json {
        json_to(
            &mut out,
            &WithToken {
                key,
                token: token.reveal(),
            },
        )
    } else {
        writeln!(out, "{}", token.reveal()).and_then(|()| out.flush())
    };
    drop(out);
    let Err(e) = written else {
        return Ok(());
    };
    let why = e.kind();
    Err(Error::Undelivered(match store.undo(undo) {
        Ok(()) => format!("cannot write the token to stdout ({why}); {undone}"),
        Err(undo_error) => format!(
            "cannot write the token to stdout ({why}), and undoing the change failed too: {undo_error}"
        ),
    }))
}

/// After a change: the key as JSON when asked, and a note on stderr either way.
pub fn changed(key: &Key, as_json: bool, what: &str) -> Result<()> {
    if as_json {
        json(key)?;
    }
    note(&format!("key {} {what}", sanitize(key.label())));
    Ok(())
}
