//! The CLI's commands: each parses nothing, calls the library, and prints.

mod create;
mod delete;
mod disable;
mod expire;
mod list;
mod output;
mod path;
mod prompt;
mod prune;
pub mod quick;
mod reset;
mod show;
mod verify;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};
use crate::time::Timestamp;

/// Everything a command needs to know about how it was run, resolved once.
#[derive(Debug)]
pub struct Ctx {
    /// The store file.
    pub db: PathBuf,
    /// Print JSON instead of text.
    pub json: bool,
    /// Whether stdin is a terminal (prompts are allowed only then).
    pub stdin_tty: bool,
    /// Whether tables may use box drawing (stdout a terminal, NO_COLOR unset, TERM not dumb).
    pub decorate: bool,
    /// The time of the command, to the second.
    pub now: Timestamp,
}

impl Ctx {
    fn new(cli: &Cli) -> Result<Ctx> {
        let db = match &cli.db {
            Some(p) if !p.as_os_str().is_empty() => p.clone(),
            _ => directories::ProjectDirs::from("", "", "keyctl")
                .map(|d| d.data_dir().join("keys.db"))
                .ok_or_else(|| {
                    Error::Store(
                        "cannot find a data directory (is HOME set?); pass --db PATH or set KEYCTL_DB"
                            .into(),
                    )
                })?,
        };
        let stdout_tty = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        Ok(Ctx {
            db,
            json: cli.json,
            stdin_tty: std::io::stdin().is_terminal(),
            decorate: stdout_tty && !no_color && !dumb,
            now: Timestamp::now(),
        })
    }
}

/// Report a command-line error (exit 2) or print help or version (exit 0). The message
/// repeats what was typed, so control characters in it are escaped before they reach a
/// terminal.
pub fn usage_error(e: clap::Error) -> ExitCode {
    if !e.use_stderr() {
        e.exit();
    }
    let text = e.render().to_string();
    let safe: String = text
        .chars()
        .map(|c| match c {
            '\n' => "\n".to_owned(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect();
    eprint!("{safe}");
    ExitCode::from(crate::error::EXIT_USAGE)
}

/// Run the parsed command line; returns the exit code for a completed command.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let ctx = Ctx::new(&cli)?;
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
    }
}
