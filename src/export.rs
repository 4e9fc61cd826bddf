//! The export format: JSON Lines that `keyctl export` writes and `keyctl import` reads.
//!
//! The first line states the format, its version, when it was written and how many keys
//! follow: `{"format":"keyctl-export","version":1,"exported":"...","keys":N}`. Then one
//! line per key: every field of `keyctl list --json`, plus `digest` (the SHA-256 of the
//! current token, `sha256:` and 64 hex digits) and `superseded_digests` (each earlier token
//! still in its grace period: its `digest`, `until` and whether it is `adopted`). No token
//! and no secret is written; the digests are what the store itself holds, so a file is as
//! sensitive as the store.
//!
//! Reading is strict, because a key that arrives subtly changed (an expiry dropped by a
//! misspelt field, a line lost at the end) verifies differently from its original: every
//! field must be there, no other field may be, each value is checked by its library type,
//! and the number of keys must be the one the first line announces. Messages name the line
//! and never quote a value that looks like a token.

use std::io::{BufRead, Read};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Invalid, Result};
use crate::key::{Key, Status};
use crate::names::shown;
use crate::paths::{PathPrefix, PathPrefixes};
use crate::store::{EarlierSecret, KeyRecord};
use crate::time::Timestamp;
use crate::token::Digest;

/// What the first line's `format` says.
pub const FORMAT: &str = "keyctl-export";
/// The version of the format this build writes and reads.
pub const VERSION: u64 = 1;
/// Longest line read; a key line is a few hundred bytes.
pub const MAX_LINE: usize = 1 << 20;

/// The fields of a key line, in the order written.
pub const KEY_FIELDS: [&str; 17] = [
    "id",
    "user",
    "name",
    "description",
    "prefix",
    "paths",
    "created",
    "updated",
    "expires",
    "deleted",
    "disabled",
    "last_used",
    "superseded",
    "status",
    "adopted",
    "digest",
    "superseded_digests",
];

const HEADER_FIELDS: [&str; 4] = ["format", "version", "exported", "keys"];
const EARLIER_FIELDS: [&str; 3] = ["digest", "until", "adopted"];

#[derive(Serialize)]
struct Header {
    format: &'static str,
    version: u64,
    exported: Timestamp,
    keys: u64,
}

#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    key: &'a Key,
    digest: String,
    superseded_digests: Vec<Earlier>,
}

#[derive(Serialize)]
struct Earlier {
    digest: String,
    until: Timestamp,
    adopted: bool,
}

/// The first line of an export of `keys` keys read at `exported`, without its newline.
pub fn header_line(keys: u64, exported: Timestamp) -> String {
    let header = Header {
        format: FORMAT,
        version: VERSION,
        exported,
        keys,
    };
    serde_json::to_string(&header).unwrap_or_default()
}

/// The line of one key, without its newline.
pub fn key_line(record: &KeyRecord) -> Result<String> {
    let line = Line {
        key: &record.key,
        digest: record.digest.to_text(),
        superseded_digests: record
            .earlier
            .iter()
            .map(|e| Earlier {
                digest: e.digest.to_text(),
                until: e.until,
                adopted: e.adopted,
            })
            .collect(),
    };
    serde_json::to_string(&line).map_err(|e| Error::Output(e.into()))
}

/// One key read from an export, with the number of its line.
#[derive(Debug)]
pub struct ReadKey {
    /// The line it was on (the first line is 1, the header).
    pub line: usize,
    /// The key.
    pub record: KeyRecord,
}

/// Read a whole export: the header, then every key. Any fault (unreadable or malformed line,
/// unknown version, missing or extra keys) is an error naming the line, and nothing of the
/// file is returned.
pub fn read(mut input: impl BufRead) -> Result<Vec<ReadKey>> {
    let mut announced: Option<u64> = None;
    let mut keys = Vec::new();
    let mut buf = Vec::new();
    let mut number = 0;
    loop {
        buf.clear();
        let read = input
            .by_ref()
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|source| Error::Input {
                what: "the export",
                source,
            })?;
        if read == 0 {
            break;
        }
        number += 1;
        let at =
            |why: String| Error::Invalid(format!("line {number}: {why}; nothing was imported"));
        if buf.len() > MAX_LINE {
            return Err(at(format!("longer than {MAX_LINE} bytes")));
        }
        let text = std::str::from_utf8(&buf).map_err(|_| at("not UTF-8 text".into()))?;
        if text.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(text).map_err(|e| {
            at(format!(
                "not valid JSON ({} at column {})",
                json_fault(&e),
                e.column()
            ))
        })?;
        match announced {
            None => announced = Some(header(value).map_err(at)?),
            Some(n) if keys.len() as u64 >= n => {
                return Err(at(format!(
                    "a key more than the {n} the first line announces"
                )));
            }
            Some(_) => keys.push(ReadKey {
                line: number,
                record: record(value).map_err(at)?,
            }),
        }
    }
    match announced {
        None => Err(Error::Invalid(
            "the input is empty: not a keyctl export; nothing was imported".into(),
        )),
        Some(n) if keys.len() as u64 != n => Err(Error::Invalid(format!(
            "the export ends after {} of the {n} keys its first line announces: it was cut short; nothing was imported",
            keys.len()
        ))),
        Some(_) => Ok(keys),
    }
}

/// What kind of JSON fault, in words of our own: serde_json's would quote the input.
fn json_fault(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Eof => "it ends too early",
        serde_json::error::Category::Syntax => "a syntax error",
        _ => "an unreadable value",
    }
}

/// The number of keys a header announces.
fn header(value: Value) -> std::result::Result<u64, String> {
    let not_export = || {
        format!(
            "not a keyctl export: the first line must state the format, {{\"format\":\"{FORMAT}\",\"version\":{VERSION},...}}"
        )
    };
    let Value::Object(obj) = value else {
        return Err(not_export());
    };
    if obj.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(not_export());
    }
    match obj.get("version") {
        Some(v) if v.as_u64() == Some(VERSION) => {}
        Some(v) => {
            let version = match v.as_u64() {
                Some(n) => n.to_string(),
                None => "that is not a whole number".to_owned(),
            };
            return Err(format!(
                "export format version {version}, and this keyctl reads version {VERSION} only (a newer keyctl wrote it: upgrade keyctl to import it)"
            ));
        }
        None => return Err(not_export()),
    }
    exact_fields(&obj, &HEADER_FIELDS, "the first line")?;
    let _: Timestamp = text(field(&obj, "exported")?, "exported")?;
    field(&obj, "keys")?
        .as_u64()
        .ok_or_else(|| "`keys` must be a whole number".to_owned())
}

/// One key line.
fn record(value: Value) -> std::result::Result<KeyRecord, String> {
    let Value::Object(obj) = value else {
        return Err("not a JSON object".into());
    };
    exact_fields(&obj, &KEY_FIELDS, "a key line")?;
    let f = |name| field(&obj, name);
    let paths = match f("paths")? {
        Value::Array(items) => items
            .iter()
            .map(|p| text::<PathPrefix>(p, "paths"))
            .collect::<std::result::Result<Vec<_>, _>>()?,
        _ => return Err("`paths` must be an array of path prefixes".into()),
    };
    let paths = PathPrefixes::new(paths).map_err(|e| format!("`paths`: {e}"))?;
    let superseded = match f("superseded")? {
        Value::Array(items) => items
            .iter()
            .map(|t| text::<Timestamp>(t, "superseded"))
            .collect::<std::result::Result<Vec<_>, _>>()?,
        _ => return Err("`superseded` must be an array of times".into()),
    };
    let key = Key {
        id: text(f("id")?, "id")?,
        user: text(f("user")?, "user")?,
        name: optional(f("name")?, "name")?,
        description: optional(f("description")?, "description")?,
        prefix: text(f("prefix")?, "prefix")?,
        paths,
        created: text(f("created")?, "created")?,
        updated: text(f("updated")?, "updated")?,
        expires: optional(f("expires")?, "expires")?,
        deleted: optional(f("deleted")?, "deleted")?,
        disabled: optional(f("disabled")?, "disabled")?,
        last_used: optional(f("last_used")?, "last_used")?,
        superseded,
        status: text::<Status>(f("status")?, "status")?,
        adopted: boolean(f("adopted")?, "adopted")?,
    };
    let digest = text::<Digest>(f("digest")?, "digest")?;
    let earlier = match f("superseded_digests")? {
        Value::Array(items) => items
            .iter()
            .map(earlier)
            .collect::<std::result::Result<Vec<_>, _>>()?,
        _ => return Err("`superseded_digests` must be an array".into()),
    };
    Ok(KeyRecord::new(key, digest, earlier))
}

fn earlier(value: &Value) -> std::result::Result<EarlierSecret, String> {
    let Value::Object(obj) = value else {
        return Err("each of `superseded_digests` must be an object".into());
    };
    exact_fields(obj, &EARLIER_FIELDS, "each of `superseded_digests`")?;
    Ok(EarlierSecret {
        digest: text(field(obj, "digest")?, "superseded_digests: digest")?,
        until: text(field(obj, "until")?, "superseded_digests: until")?,
        adopted: boolean(field(obj, "adopted")?, "superseded_digests: adopted")?,
    })
}

/// Every field of `expected` and no other, so that a misspelt field is not silently lost.
fn exact_fields(
    obj: &Map<String, Value>,
    expected: &[&str],
    what: &str,
) -> std::result::Result<(), String> {
    if let Some(unknown) = obj.keys().find(|k| !expected.contains(&k.as_str())) {
        return Err(format!("{what} has an unknown field {}", shown(unknown)));
    }
    match expected.iter().find(|f| !obj.contains_key(**f)) {
        Some(missing) => Err(format!("{what} lacks the field `{missing}`")),
        None => Ok(()),
    }
}

fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> std::result::Result<&'a Value, String> {
    obj.get(name)
        .ok_or_else(|| format!("the field `{name}` is missing"))
}

/// A string field checked by its library type.
fn text<T: std::str::FromStr<Err = Invalid>>(
    v: &Value,
    name: &str,
) -> std::result::Result<T, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("`{name}` must be a string"))?;
    s.parse().map_err(|e: Invalid| format!("`{name}`: {e}"))
}

/// A string field or null.
fn optional<T: std::str::FromStr<Err = Invalid>>(
    v: &Value,
    name: &str,
) -> std::result::Result<Option<T>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(_) => text(v, name).map(Some),
        _ => Err(format!("`{name}` must be a string or null")),
    }
}

fn boolean(v: &Value, name: &str) -> std::result::Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| format!("`{name}` must be true or false"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> KeyRecord {
        let line = r#"{"id":"3fQm8WcJtP2a9LxZ","user":"svc","name":"deploy","description":"from CI","prefix":"kc","paths":["/api"],"created":"2026-01-01T00:00:00Z","updated":"2026-01-02T00:00:00Z","expires":"2030-01-01T00:00:00Z","deleted":null,"disabled":null,"last_used":null,"superseded":["2029-01-01T00:00:00Z"],"status":"active","adopted":true,"digest":"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","superseded_digests":[{"digest":"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ac","until":"2029-01-01T00:00:00Z","adopted":false}]}"#;
        record(serde_json::from_str(line).unwrap()).unwrap()
    }

    fn file(lines: &[String]) -> Vec<u8> {
        lines
            .iter()
            .flat_map(|l| format!("{l}\n").into_bytes())
            .collect()
    }

    #[test]
    fn a_key_line_has_exactly_the_documented_fields_and_reads_back() {
        let sampled = sample();
        let line = key_line(&sampled).unwrap();
        let value: Value = serde_json::from_str(&line).unwrap();
        let names: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = KEY_FIELDS.to_vec();
        expected.sort_unstable();
        let mut names = names;
        names.sort_unstable();
        assert_eq!(names, expected);
        // Every field `list --json` prints is there, with the same value.
        let listed = serde_json::to_value(&sampled.key).unwrap();
        for (name, v) in listed.as_object().unwrap() {
            assert_eq!(&value[name], v, "{name}");
        }
        assert_eq!(record(value).unwrap(), sampled);
    }

    #[test]
    fn a_whole_export_reads_back_and_its_count_is_checked() {
        let r = sample();
        let head = header_line(1, Timestamp(1_800_000_000));
        let keys = read(&file(&[head.clone(), key_line(&r).unwrap()])[..]).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].line, 2);
        assert_eq!(keys[0].record, r);

        let short = read(
            &file(&[
                head.replace("\"keys\":1", "\"keys\":2"),
                key_line(&r).unwrap(),
            ])[..],
        );
        assert!(short.unwrap_err().to_string().contains("cut short"));
        let long = read(&file(&[head.clone(), key_line(&r).unwrap(), key_line(&r).unwrap()])[..]);
        assert!(long.unwrap_err().to_string().starts_with("line 3:"));
        assert!(read(&b""[..]).unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn faults_name_their_line_and_never_quote_a_token() {
        let token = "kc_3fQm8WcJtP2a9LxZ_Ky9Pf34qY6Nb3wWD25RQ4F5ZR3qa7yEeeby3abP3E2Z31O7vJ";
        let head = header_line(1, Timestamp(0));
        let good = key_line(&sample()).unwrap();
        let cases = [
            (vec![token.to_owned()], "line 1: not valid JSON"),
            (vec![format!("\"{token}\"")], "line 1: not a keyctl export"),
            (
                vec![head.replace("\"version\":1", "\"version\":2")],
                "version 2",
            ),
            (
                vec![head.replace("\"version\":1", "\"version\":\"1\"")],
                "not a whole number",
            ),
            (vec![good.clone()], "line 1: not a keyctl export"),
            (
                vec![head.clone(), good.replace("\"expires\"", "\"expire\"")],
                "line 2: a key line has an unknown field \"expire\"",
            ),
            (
                vec![head.clone(), good.replace(",\"disabled\":null", "")],
                "line 2: a key line lacks the field `disabled`",
            ),
            (
                vec![
                    head.clone(),
                    good.replace("\"svc\"", &format!("\"{token}\"")),
                ],
                "line 2: `user`: invalid user",
            ),
            (
                vec![head.clone(), good.replace("\"/api\"", "\"/a/../b\"")],
                "line 2: `paths`",
            ),
            (
                vec![
                    head.clone(),
                    good.replace("\"adopted\":true", "\"adopted\":1"),
                ],
                "`adopted` must be true or false",
            ),
            (
                vec![head.clone(), good.replacen("sha256:ba78", "sha256:zz78", 1)],
                "`digest`: invalid digest",
            ),
            (
                vec![
                    head.clone(),
                    good.replace("2029-01-01T00:00:00Z\",\"adopted\"", "soon\",\"adopted\""),
                ],
                "superseded_digests: until",
            ),
            (
                vec![
                    head.clone(),
                    good.replace("\"active\"", &format!("\"{token}\"")),
                ],
                "`status`: invalid status",
            ),
            (
                vec![head.clone(), format!("{good} {token}")],
                "line 2: not valid JSON",
            ),
        ];
        for (lines, expected) in cases {
            let err = read(&file(&lines)[..]).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected:?} in {err}");
            assert!(!err.contains("Ky9Pf34q"), "{err}");
            assert!(err.ends_with("nothing was imported"), "{err}");
        }
        let mut not_utf8 = file(std::slice::from_ref(&head));
        not_utf8.extend_from_slice(b"\xff\n");
        assert!(
            read(&not_utf8[..])
                .unwrap_err()
                .to_string()
                .starts_with("line 2: not UTF-8")
        );
        let mut huge = file(&[head]);
        huge.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        assert!(
            read(&huge[..])
                .unwrap_err()
                .to_string()
                .contains("longer than")
        );
    }
}
