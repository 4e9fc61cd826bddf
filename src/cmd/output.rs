//! Printing: JSON, tables and notes. stdout carries data only; notes go to stderr.

use std::io::{BufWriter, Write};

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer as _};

use crate::error::Result;
use crate::key::Key;

/// Print `value` as JSON on stdout.
pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    // Stdout is line-buffered: without a buffer of its own, each line of pretty JSON would
    // be a write(2) of its own.
    let mut out = BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::from)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Print a JSON array on stdout as `fill` hands over its elements, so that a long list is
/// never held in memory whole. The text is the same as [`json`] of the whole array. When
/// `fill` fails before 64 KiB of output, nothing reaches stdout.
pub fn json_array<T: Serialize>(
    fill: impl FnOnce(&mut dyn FnMut(T) -> Result<()>) -> Result<()>,
) -> Result<()> {
    let mut out = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let filled = {
        let mut ser = serde_json::Serializer::pretty(&mut out);
        let mut seq = ser.serialize_seq(None).map_err(std::io::Error::from)?;
        fill(&mut |item| {
            seq.serialize_element(&item)
                .map_err(|e| std::io::Error::from(e).into())
        })
        .and_then(|()| Ok(seq.end().map_err(std::io::Error::from)?))
    };
    match filled {
        Ok(()) => {
            writeln!(out)?;
            out.flush()?;
            Ok(())
        }
        Err(e) => {
            // Drop what is buffered instead of printing half an array.
            let _ = out.into_parts();
            Err(e)
        }
    }
}

/// Print one line of data on stdout.
pub fn line(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

/// A note for the person at the terminal, on stderr.
pub fn note(text: &str) {
    eprintln!("keyctl: {text}");
}

/// Make user-supplied text safe for a terminal: control characters are shown escaped.
pub fn sanitize(text: &str) -> String {
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
    v.map_or_else(|| "-".to_owned(), |v| sanitize(&v.to_string()))
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
                sanitize(&k.paths.join(" "))
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
        writeln!(out, "{name:<12} {value}")?;
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
pub fn issued(key: &Key, token: &str, as_json: bool) -> Result<()> {
    if as_json {
        json(&WithToken { key, token })
    } else {
        line(token)
    }
}

/// After a change: the key as JSON when asked, and a note on stderr either way.
pub fn changed(key: &Key, as_json: bool, what: &str) -> Result<()> {
    if as_json {
        json(key)?;
    }
    note(&format!("key {} {what}", sanitize(&key.label())));
    Ok(())
}
