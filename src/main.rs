//! The keyctl binary: parse the command line, run it, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser as _;
use keyctl::cmd::{self, Environment};

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let env = Environment::read();
    // A plain `verify` skips clap's start-up work; every other command line goes to clap.
    let cli = match cmd::quick::parse(&args) {
        Some(cli) => cli,
        None => match keyctl::cli::Cli::try_parse_from(args) {
            Ok(cli) => cli,
            Err(e) => return cmd::usage_error(e),
        },
    };
    match cmd::run(cli, env) {
        Ok(code) => code,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            cmd::report(&e);
            ExitCode::from(e.exit_code())
        }
    }
}
