//! SECURITY.md names a test for every promise; each name must still be a test.

use std::path::Path;

/// Every `tests/FILE.rs::name` and `src/FILE.rs::module::name` reference in `text`.
fn references(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for piece in text.split('`') {
        let Some((file, path)) = piece.split_once(".rs::") else {
            continue;
        };
        if !(file.starts_with("tests/") || file.starts_with("src/")) || file.contains(' ') {
            continue;
        }
        let name = path.rsplit("::").next().unwrap_or(path);
        out.push((format!("{file}.rs"), name.to_owned()));
    }
    out
}

#[test]
fn every_test_security_md_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("SECURITY.md")).unwrap();
    let refs = references(&doc);
    assert!(refs.len() > 50, "found only {} references", refs.len());
    let missing: Vec<String> = refs
        .iter()
        .filter(|(file, name)| {
            let source = std::fs::read_to_string(root.join(file)).unwrap_or_default();
            !source.contains(&format!("fn {name}("))
        })
        .map(|(file, name)| format!("{file}::{name}"))
        .collect();
    assert!(
        missing.is_empty(),
        "SECURITY.md names tests that do not exist: {missing:#?}"
    );
}
