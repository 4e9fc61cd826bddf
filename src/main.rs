//! The keyctl binary: parse the command line, run it, map errors to exit codes.

use std::process::ExitCode;

use clap::FromArgMatches as _;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // A plain `verify` skips clap's start-up work; every other command line goes to clap.
    let cli = match keyctl::cmd::quick::parse(&args, std::env::var_os("KEYCTL_DB")) {
        Some(cli) => cli,
        None => match keyctl::cli::command()
            .try_get_matches_from(args)
            .and_then(|mut m| keyctl::cli::Cli::from_arg_matches_mut(&mut m))
        {
            Ok(cli) => cli,
            Err(e) => return keyctl::cmd::usage_error(e),
        },
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
