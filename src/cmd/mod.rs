//! The CLI's commands: each parses nothing, calls the library, and prints.

mod adopt;
mod create;
mod delete;
mod disable;
mod expire;
mod export;
mod import;
mod list;
mod log;
mod output;
mod path;
mod prompt;
mod prune;
pub mod quick;
mod reset;
mod secret;
#[cfg(feature = "serve")]
mod serve;
mod show;
mod table;
mod user;
mod verify;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};
use crate::store::{Access, Location, Options, Store};
use crate::time::Clock;

/// Everything a command needs to know about how it was run, resolved once.
#[derive(Debug)]
pub struct Ctx {
    /// The store: a file, or a PostgreSQL database.
    pub db: Location,
    /// Print JSON instead of text.
    pub json: bool,
    /// Whether stdin is a terminal (prompts are allowed only then).
    pub stdin_tty: bool,
    /// Whether tables may use box drawing (stdout a terminal, NO_COLOR unset, TERM not dumb).
    pub decorate: bool,
    /// How long to wait for another process's lock.
    pub lock_timeout: std::time::Duration,
    /// Who the audit log names for this command's changes.
    pub actor: Option<crate::users::Actor>,
}

/// The environment variables keyctl reads, resolved once; tests build this by hand.
#[derive(Debug, Default)]
pub struct Environment {
    /// `KEYCTL_DB`; empty counts as unset.
    pub db: Option<OsString>,
    /// `KEYCTL_LOCK_TIMEOUT`.
    pub lock_timeout: Option<OsString>,
    /// `KEYCTL_ACTOR`.
    pub actor: Option<OsString>,
}

impl Environment {
    /// Read from the process environment.
    pub fn read() -> Environment {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        Environment {
            db: var("KEYCTL_DB"),
            lock_timeout: var("KEYCTL_LOCK_TIMEOUT"),
            actor: var("KEYCTL_ACTOR"),
        }
    }
}

impl Ctx {
    fn new(cli: &Cli, env: Environment) -> Result<Ctx> {
        // --db wins over KEYCTL_DB, which wins over the default; empty means unset.
        let db = match cli
            .db
            .clone()
            .filter(|p| !p.as_os_str().is_empty())
            .map(PathBuf::into_os_string)
            .or(env.db)
        {
            Some(p) => Location::parse(&p),
            None => directories::ProjectDirs::from("", "", "keyctl")
                .map(|d| Location::File(d.data_dir().join("keys.db")))
                .ok_or_else(|| {
                    Error::Store(
                        "cannot find a data directory (is HOME set?); pass --db PATH or set KEYCTL_DB"
                            .into(),
                    )
                })?,
        };
        let lock_timeout = match env.lock_timeout {
            None => crate::store::DEFAULT_LOCK_TIMEOUT,
            Some(v) => {
                let text = v.to_string_lossy();
                let d: crate::time::Duration = text
                    .parse()
                    .map_err(|e| Error::Invalid(format!("KEYCTL_LOCK_TIMEOUT: {e}")))?;
                std::time::Duration::from_secs(d.secs().unsigned_abs())
            }
        };
        // --actor wins over KEYCTL_ACTOR, which wins over the user running keyctl.
        let actor = match (&cli.actor, env.actor) {
            (Some(a), _) => Some(a.clone()),
            (None, Some(v)) => Some(v.to_string_lossy().parse().map_err(
                |e: crate::error::Invalid| Error::Invalid(format!("KEYCTL_ACTOR: {e}")),
            )?),
            (None, None) => None,
        };
        let stdout_tty = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        Ok(Ctx {
            db,
            json: cli.json,
            stdin_tty: std::io::stdin().is_terminal(),
            decorate: stdout_tty && !no_color && !dumb,
            lock_timeout,
            actor,
        })
    }

    /// Open the store for what the command does.
    pub fn open(&self, access: Access) -> Result<Store> {
        Store::open_with(
            &self.db,
            &Options {
                access,
                lock_timeout: self.lock_timeout,
                clock: Clock::system(),
                actor: self.actor.clone(),
            },
        )
    }
}

/// Report a command-line error (exit 2) or print help or version (exit 0). The message
/// repeats what was typed, so control characters in it are escaped before they reach a
/// terminal, and anything shaped like a token is left out.
pub fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !e.use_stderr() {
        e.exit();
    }
    let mut text = e.render().to_string();
    let invalid_subcommand = match e.get(ContextKind::InvalidSubcommand) {
        Some(ContextValue::String(s)) => Some(s.as_str()),
        _ => None,
    };
    let invalid_arg = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => Some(s.as_str()),
        _ => None,
    };
    let tip = match (e.kind(), invalid_subcommand, invalid_arg) {
        (ErrorKind::InvalidSubcommand, Some("version"), _) => {
            Some("tip: keyctl prints its version with `keyctl --version`")
        }
        (ErrorKind::UnknownArgument, _, Some(arg)) if arg == "-f" || arg.starts_with("--force") => {
            Some("tip: to skip the confirmation, use '--yes'")
        }
        _ => None,
    };
    if let Some(tip) = tip {
        text = format!("{}\n\n{tip}\n", text.trim_end());
    }
    output::note_raw(&crate::token::redact(&text));
    ExitCode::from(crate::error::EXIT_USAGE)
}

/// Run the parsed command line; returns the exit code for a completed command.
pub fn run(cli: Cli, env: Environment) -> Result<ExitCode> {
    let ctx = Ctx::new(&cli, env)?;
    match cli.command {
        Command::Create(args) => create::run(args, &ctx),
        Command::List(args) => list::run(args, &ctx),
        Command::Show(args) => show::run(args, &ctx),
        Command::Reset(args) => reset::run(args, &ctx),
        Command::Expire(args) => expire::run(args, &ctx),
        Command::Path(args) => path::run(args, &ctx),
        Command::Disable(args) => disable::run(&args.key, &ctx, true),
        Command::Enable(args) => disable::run(&args.key, &ctx, false),
        Command::Delete(args) => delete::run(args, &ctx),
        Command::Prune(args) => prune::run(args, &ctx),
        Command::Verify(args) => verify::run(args, &ctx),
        Command::Export(args) => export::run(args, &ctx),
        Command::Import(args) => import::run(args, &ctx),
        Command::Adopt(args) => adopt::run(args, &ctx),
        Command::User(command) => user::run(command, &ctx),
        Command::Log(args) => log::run(args, &ctx),
        #[cfg(feature = "serve")]
        Command::Serve(args) => serve::run(args, &ctx),
    }
}

/// Print a failed command's error on stderr, once.
pub fn report(e: &Error) {
    output::note(&e.to_string());
}
