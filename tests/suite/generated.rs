//! Shell completions and man pages are rendered from the clap definition here (so the
//! binary carries no generator), and the checked-in copies under `completions/` and `man/`
//! must match. Regenerate with `UPDATE_GENERATED=1 cargo test --test suite generated`.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;
use keyctl::cli::Cli;

/// Sections every man page ends with: what clap does not know about.
const MAN_SECTIONS: &str = r#".SH ENVIRONMENT
.TP
\fBKEYCTL_DB\fR
The key store file, when \fB\-\-db\fR is not given. Empty means unset.
.TP
\fBKEYCTL_LOCK_TIMEOUT\fR
How long to wait for another process that holds the store locked before giving up with
exit code 4: a duration such as \fB30\fR or \fB2m\fR (default \fB5\fR seconds).
.TP
\fBKEYCTL_ACTOR\fR
Who the audit log names for the changes a command makes, when \fB\-\-actor\fR is not
given (a CI job id, say); without either, the name of the user running keyctl.
.TP
\fBNO_COLOR\fR
When set and not empty, tables are printed without box drawing, as when stdout is not a
terminal.
.TP
\fBXDG_DATA_HOME\fR
Where the default store lives: \fI$XDG_DATA_HOME/keyctl/keys.db\fR (usually
\fI~/.local/share/keyctl/keys.db\fR).
.SH FILES
.TP
\fI$XDG_DATA_HOME/keyctl/keys.db\fR
The default key store: an SQLite file, mode 0600, in a directory created with mode 0700.
It holds SHA\-256 digests of tokens, never a token.
.TP
\fIkeys.db\-journal\fR
SQLite's rollback journal, present only while a change is being written, or after a
process was stopped in the middle of one (any keyctl run by a user who can write the
store rolls it back).
.SH "EXIT STATUS"
.TP
\fB0\fR
ok (verify: the token is valid)
.TP
\fB1\fR
verify: the token was rejected
.TP
\fB2\fR
invalid usage or input, or a refused confirmation; nothing was changed
.TP
\fB3\fR
key or user not found, or the key is revoked and cannot be changed
.TP
\fB4\fR
the store cannot be used (not a keyctl store, newer schema, unwritable, disk full, busy
past the lock timeout), or input or output failed; a token that could not be written out
was withdrawn
"#;

/// Every generated file: its path relative to the repository root, and its contents.
fn files() -> Vec<(String, Vec<u8>)> {
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
        let versioned = page.get_version().is_some();
        let man = clap_mangen::Man::new(page);
        let mut buf = Vec::new();
        man.render_title(&mut buf).unwrap();
        man.render_name_section(&mut buf).unwrap();
        man.render_synopsis_section(&mut buf).unwrap();
        man.render_description_section(&mut buf).unwrap();
        man.render_options_section(&mut buf).unwrap();
        man.render_subcommands_section(&mut buf).unwrap();
        man.render_extra_section(&mut buf).unwrap();
        buf.write_all(MAN_SECTIONS.as_bytes()).unwrap();
        if versioned {
            man.render_version_section(&mut buf).unwrap();
        }
        out.push((format!("man/{}", man.get_filename()), buf));
    }
    out
}

#[test]
fn cli_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn completions_and_man_pages_are_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let update = std::env::var_os("UPDATE_GENERATED").is_some();
    let mut stale = Vec::new();
    for (rel, contents) in files() {
        let path = root.join(&rel);
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &contents).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(&contents[..]) {
            stale.push(rel);
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files {stale:?}: run `UPDATE_GENERATED=1 cargo test --test suite generated` and commit them"
    );
}

#[test]
fn status_values_complete_in_every_shell() {
    for (rel, contents) in files() {
        if !rel.starts_with("completions/") {
            continue;
        }
        let text = String::from_utf8(contents).unwrap();
        for status in ["active", "expired", "revoked", "disabled"] {
            assert!(text.contains(status), "{rel} does not offer {status}");
        }
    }
}

#[test]
fn every_man_page_documents_environment_files_and_exit_status() {
    for (rel, contents) in files() {
        if rel.starts_with("man/") {
            let text = String::from_utf8(contents).unwrap();
            for section in [
                ".SH ENVIRONMENT",
                ".SH FILES",
                ".SH \"EXIT STATUS\"",
                "KEYCTL_DB",
                "NO_COLOR",
                "XDG_DATA_HOME",
            ] {
                assert!(text.contains(section), "{rel} lacks {section}");
            }
        }
    }
}
