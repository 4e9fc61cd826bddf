//! Every `sh` block of README.md, run in order in one shell against a throwaway store, with
//! `keyctl` on `PATH`: the README's examples work when followed as written.

use crate::common;

use std::os::unix::fs::PermissionsExt;

use common::{Env, Out};

/// The `sh` blocks of the README, in order.
fn sh_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn every_sh_block_of_the_readme_runs_in_order() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let blocks = sh_blocks(&readme);
    assert!(blocks.len() >= 8, "found only {} sh blocks", blocks.len());
    let env = Env::new();
    let bin = env.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_keyctl"), bin.join("keyctl")).unwrap();
    // Commands that stand for the reader's own tools: they take their input and succeed.
    for stub in ["deploy-secret", "mail"] {
        let path = bin.join(stub);
        std::fs::write(&path, "#!/bin/sh\ncat >/dev/null\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut script = String::from("set -eu\n");
    for (i, block) in blocks.iter().enumerate() {
        script.push_str(&format!("echo '--- block {}' >&2\n{block}", i + 1));
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out: Out = env
        .command_of("bash")
        .env("PATH", path)
        .env_remove("KEYCTL_DB")
        .current_dir(env.dir.path())
        .args(["-c", &script])
        .output()
        .expect("run bash")
        .into();
    assert_eq!(
        out.code, 0,
        "a README block failed (the last '--- block N' on stderr names it)\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout.contains("valid: key"),
        "the tour verified a token: {}",
        out.stdout
    );
    assert!(!out.stderr.contains("command not found"), "{}", out.stderr);
}

#[test]
fn the_readme_shows_the_test_command() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(readme.contains("cargo test"));
}
