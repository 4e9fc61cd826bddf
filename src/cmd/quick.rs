//! A clap-free reading of the command line that scripts and request hooks run in loops:
//! `keyctl verify`, with the token on stdin or as its one argument, with `--db PATH`,
//! `--json`, `--current` and `--path REQUEST_PATH` around it.
//!
//! Clap builds its whole command tree, every subcommand and argument, on each run: about
//! 0.15 ms, a tenth of a whole `keyctl verify` (BENCHMARKS.md). This takes only the shapes
//! it understands completely and returns `None` for anything else, `--help` and every
//! error included, which then go to clap as before. The tests hold it to clap's own answer
//! for every command line it takes.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use crate::cli::{Cli, Command, VerifyArgs};

/// The parsed command line, when it is a plain `verify`.
pub fn parse(args: &[OsString]) -> Option<Cli> {
    let mut db: Option<OsString> = None;
    let mut path: Option<String> = None;
    let mut json = false;
    let mut verify = false;
    let mut current = false;
    let mut token: Option<String> = None;
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        match arg.to_str()? {
            "verify" if !verify => verify = true,
            "--json" if !json => json = true,
            "--current" if verify && !current => current = true,
            "--db" if db.is_none() => db = Some(value(rest.next())?.to_owned()),
            "--path" if verify && path.is_none() => {
                path = Some(value(rest.next())?.to_str()?.to_owned());
            }
            other => {
                if let Some(v) = other.strip_prefix("--db=").filter(|_| db.is_none()) {
                    db = Some(value(Some(OsStr::new(v)))?.to_owned());
                } else if let Some(v) = other.strip_prefix("--path=") {
                    (verify && path.is_none()).then_some(())?;
                    path = Some(value(Some(OsStr::new(v)))?.to_str()?.to_owned());
                } else if verify && token.is_none() && !other.is_empty() && !other.starts_with('-')
                {
                    token = Some(other.to_owned());
                } else {
                    return None;
                }
            }
        }
    }
    verify.then_some(())?;
    Some(Cli {
        db: db.map(PathBuf::from),
        json,
        actor: None,
        command: Command::Verify(VerifyArgs {
            token,
            path,
            headers: Vec::new(),
            url: None,
            request: false,
            basic_user: None,
            require_tls: false,
            current,
        }),
    })
}

/// An option's value, unless it is missing, empty or looks like an option itself (clap's
/// call, then).
fn value<T: AsRef<OsStr> + ?Sized>(v: Option<&T>) -> Option<&OsStr> {
    let v = v?.as_ref();
    (!v.is_empty() && !v.as_encoded_bytes().starts_with(b"-")).then_some(v)
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use proptest::prelude::*;

    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        std::iter::once("keyctl")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    /// What clap makes of the same command line, as text (`Cli` has no `PartialEq`).
    fn clap(args: &[OsString]) -> Option<String> {
        Cli::try_parse_from(args).ok().map(|c| format!("{c:?}"))
    }

    fn quick(args: &[OsString]) -> Option<String> {
        parse(args).map(|c| format!("{c:?}"))
    }

    #[test]
    fn takes_the_plain_verify_shapes_exactly_as_clap_does() {
        for words in [
            &["verify"][..],
            &["--db", "s.db", "verify"],
            &["verify", "--db", "s.db"],
            &["--db=s.db", "verify", "--json"],
            &["--json", "verify", "--path", "/api/items?x=1"],
            &["verify", "--path=/api", "--db", "verify", "--json"],
            &["--db", "verify", "verify"],
            &["verify", "TOKEN"],
            &["verify", "verify"],
            &[
                "--db",
                "s.db",
                "verify",
                "kc_x_y",
                "--current",
                "--path",
                "/p",
            ],
        ] {
            let args = argv(words);
            assert!(quick(&args).is_some(), "{words:?} not taken");
            assert_eq!(quick(&args), clap(&args), "{words:?}");
        }
    }

    #[test]
    fn leaves_everything_else_to_clap() {
        for words in [
            &[][..],
            &["verify", "TOKEN", "TOKEN"],
            &["TOKEN", "verify"],
            &["verify", "--current", "--current"],
            &["verify", "--help"],
            &["--db", "verify"],
            &["--db", "-x", "verify"],
            &["--db=", "verify"],
            &["--db", "a", "--db", "b", "verify"],
            &["--json", "--json", "verify"],
            &["--path", "/a", "verify"],
            &["verify", "--path"],
            &["verify", "--path", "/a", "--path", "/b"],
            &["verify", "--request"],
            &["verify", "-H", "Authorization: Bearer x"],
            &["verify", "--"],
            &["list"],
        ] {
            assert_eq!(quick(&argv(words)), None, "{words:?}");
        }
    }

    #[test]
    fn leaves_the_environment_to_the_caller_as_clap_does() {
        // KEYCTL_DB is read once, in cmd::Environment, for both.
        assert_eq!(parse(&argv(&["verify"])).unwrap().db, None);
        assert_eq!(Cli::try_parse_from(argv(&["verify"])).unwrap().db, None);
    }

    proptest! {
        /// Any command line built from these words: taken only when clap agrees exactly.
        #[test]
        fn never_disagrees_with_clap(words in proptest::collection::vec(
            prop::sample::select(vec![
                "verify", "--db", "--db=x.db", "x.db", "--json", "--path", "--path=/p", "/p",
                "-x", "--", "TOKEN", "--request", "-H", "list", "--help", "", "--current",
            ]),
            0..7,
        )) {
            let args = argv(&words);
            if let Some(quick) = quick(&args) {
                prop_assert_eq!(Some(quick), clap(&args), "{:?}", words);
            }
        }
    }
}
