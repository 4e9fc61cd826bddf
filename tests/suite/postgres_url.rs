//! A `postgresql://` location in every build: without the `postgres` feature it is refused
//! with a message saying so; with it, a server that is not there is exit 4. Either way the
//! password in the URL is never repeated.

use crate::common;

use common::Env;

#[test]
fn a_database_url_is_refused_or_unreachable_without_repeating_its_password() {
    let env = Env::new();
    let port = common::free_port();
    for url in [
        format!("postgresql://kc:Hunter2-Secret@127.0.0.1:{port}/keys?sslmode=disable"),
        format!("postgres://kc:Hunter2-Secret@127.0.0.1:{port}/keys"),
    ] {
        for args in [
            &["--db", url.as_str(), "list"][..],
            &["--db", url.as_str(), "verify", "kc_abc_def"],
            &["--db", url.as_str(), "create", "--user", "svc"],
        ] {
            let out = env.run(args);
            assert_eq!(out.code, 4, "{args:?}: {}", out.stderr);
            assert!(out.stdout.is_empty());
            assert!(
                !out.stderr.contains("Hunter2"),
                "the password was repeated: {}",
                out.stderr
            );
            if cfg!(feature = "postgres") {
                assert!(out.stderr.contains("cannot connect"), "{}", out.stderr);
            } else {
                assert!(
                    out.stderr.contains("built without PostgreSQL support"),
                    "{}",
                    out.stderr
                );
            }
            assert!(out.stderr.contains(&format!("kc@127.0.0.1:{port}/keys")));
        }
        // From KEYCTL_DB the same.
        let out = Env::at_url(&url).run(&["list"]);
        assert_eq!(out.code, 4);
        assert!(!out.stderr.contains("Hunter2"), "{}", out.stderr);
    }
    // No store file was made anywhere for a URL.
    assert!(!env.db.exists());
    assert!(!std::path::Path::new("postgresql:").exists());
}
