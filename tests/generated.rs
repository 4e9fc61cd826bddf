//! Completions and man pages are generated from the clap definition; the checked-in copies
//! must match. Regenerate with `UPDATE_GENERATED=1 cargo test --test generated`.

use std::path::Path;

use clap::CommandFactory;

#[test]
fn cli_definition_is_consistent() {
    keyctl::cli::Cli::command().debug_assert();
    // What the binary parses: the same, plus the hidden `--force` traps.
    keyctl::cli::command().debug_assert();
}

#[test]
fn completions_and_man_pages_are_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let update = std::env::var_os("UPDATE_GENERATED").is_some();
    let mut stale = Vec::new();
    for (rel, contents) in keyctl::generate::files().expect("render") {
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
        "stale generated files {stale:?}: run `UPDATE_GENERATED=1 cargo test --test generated` and commit them"
    );
}

#[test]
fn completions_and_man_pages_do_not_offer_force() {
    for (rel, contents) in keyctl::generate::files().expect("render") {
        let text = String::from_utf8_lossy(&contents);
        assert!(!text.contains("force"), "{rel} offers --force");
    }
}
