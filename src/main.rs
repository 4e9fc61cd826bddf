//! The keyctl binary: parse the command line, run it, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = match keyctl::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return keyctl::cmd::usage_error(e),
    };
    match keyctl::cmd::run(cli) {
        Ok(code) => code,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyctl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
