//! Shell completions and man pages, rendered from the clap definition.
//!
//! The rendered files are checked in under `completions/` and `man/`; `tests/generated.rs`
//! fails when they are stale, and `UPDATE_GENERATED=1 cargo test --test generated` rewrites them.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// Every generated file: its path relative to the repository root, and its contents.
pub fn files() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for (shell, file) in [
        (Shell::Bash, "keyctl.bash"),
        (Shell::Zsh, "_keyctl"),
        (Shell::Fish, "keyctl.fish"),
        (Shell::Elvish, "keyctl.elv"),
        (Shell::PowerShell, "_keyctl.ps1"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "keyctl", &mut buf);
        out.push((format!("completions/{file}"), buf));
    }
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = vec![cmd.clone()];
    pages.extend(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    for page in pages {
        let man = clap_mangen::Man::new(page);
        let mut buf = Vec::new();
        man.render(&mut buf)?;
        out.push((format!("man/{}", man.get_filename()), buf));
    }
    Ok(out)
}
