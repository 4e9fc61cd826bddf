//! Accounts: passwords, kept only as argon2id hashes, and who is acting.
//!
//! A password lets a user get keys over HTTP (`keyctl serve --self-service`); service users
//! never have one. Hashes use the OWASP parameters for argon2id (19 MiB, 2 iterations, one
//! lane), and a check against an unknown user costs the same as against a known one.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash as Phc, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{Error, Invalid};

/// Shortest password accepted, in characters.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest password accepted, in bytes (hashing cost grows with length).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// A password as typed: at least 12 characters. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// The password's text, for hashing.
    fn reveal(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl FromStr for Password {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Password, Invalid> {
        if s.chars().count() < MIN_PASSWORD_LEN {
            Err(Invalid(format!(
                "a password has at least {MIN_PASSWORD_LEN} characters"
            )))
        } else if s.len() > MAX_PASSWORD_LEN {
            Err(Invalid(format!(
                "a password has at most {MAX_PASSWORD_LEN} bytes"
            )))
        } else if s.chars().any(char::is_control) {
            Err(Invalid(
                "a password must not contain control characters".into(),
            ))
        } else {
            Ok(Password(s.to_owned()))
        }
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// An argon2id hash of a password in PHC string form (`$argon2id$v=19$m=19456,...`): all
/// the store keeps of a password.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Hash a password with a fresh random salt.
    pub fn new(password: &Password) -> Result<PasswordHash, Error> {
        let mut salt = [0u8; 16];
        crate::token::fill_random(&mut salt)?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Random(e.to_string()))?;
        let hash = hasher()
            .hash_password(password.reveal(), &salt)
            .map_err(|e| Error::Store(format!("cannot hash the password: {e}")))?;
        Ok(PasswordHash(hash.to_string()))
    }

    /// A hash read back from a store, checked for shape.
    pub fn parse(text: &str) -> Result<PasswordHash, Invalid> {
        let phc = Phc::new(text).map_err(|e| Invalid(format!("not a password hash: {e}")))?;
        if phc.algorithm.as_str() != "argon2id" {
            return Err(Invalid("not an argon2id password hash".into()));
        }
        Ok(PasswordHash(text.to_owned()))
    }

    /// The PHC string, for the store.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// argon2id with OWASP's parameters.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP's argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Whether `password` matches `hash`. Without a hash (no such user, or no password set) the
/// password is checked against a fixed dummy hash all the same, so that the answer takes
/// as long as for a real user and says nothing about which users exist.
pub fn password_matches(password: &str, hash: Option<&PasswordHash>) -> bool {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        let password: Password = "no password can match this one".parse().ok()?;
        PasswordHash::new(&password).ok().map(|h| h.0)
    });
    let (phc, real) = match (hash, dummy) {
        (Some(h), _) => (h.0.as_str(), true),
        (None, Some(d)) => (d.as_str(), false),
        (None, None) => return false,
    };
    let Ok(phc) = Phc::new(phc) else {
        return false;
    };
    let ok = hasher().verify_password(password.as_bytes(), &phc).is_ok();
    ok && real
}

/// Who makes a change, as the audit log records it: `--actor`, `KEYCTL_ACTOR` (a CI job
/// id), the OS user name, or `http:USER@ADDRESS` for a change made over HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Actor(String);

impl Actor {
    /// The user running this process, by name when the system has one for it.
    pub fn os_user() -> Actor {
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        let name = os_user_name(uid).unwrap_or_else(|| format!("uid:{uid}"));
        Actor(name)
    }

    /// A change made over HTTP by `user`, from `client`.
    pub fn http(user: &crate::names::UserName, client: &str) -> Actor {
        Actor(clean(&format!("http:{user}@{client}")))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// At most 128 characters with control characters replaced: an actor is only a label.
fn clean(s: &str) -> String {
    s.chars()
        .take(128)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

impl FromStr for Actor {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Actor, Invalid> {
        if s.is_empty() || s.chars().count() > 128 || s.chars().any(char::is_control) {
            return Err(Invalid(format!(
                "invalid actor {}: 1 to 128 characters, no control characters",
                crate::names::shown(s)
            )));
        }
        if crate::token::contains_token(s) {
            return Err(Invalid("an actor must not contain a token".into()));
        }
        Ok(Actor(s.to_owned()))
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The login name of `uid` from the system's user database.
fn os_user_name(uid: libc::uid_t) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    let mut pwd = std::mem::MaybeUninit::<libc::passwd>::uninit();
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes into `pwd` and `buf`, both valid for the sizes given, and
    // sets `result` to `pwd` on success or to null; nothing is read unless it succeeded.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            pwd.as_mut_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    // SAFETY: on success `pwd` is initialised and `pw_name` points into `buf`, a
    // NUL-terminated string.
    let name = unsafe { std::ffi::CStr::from_ptr((*result).pw_name) };
    name.to_str().ok().map(clean).filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_at_least_twelve_characters_and_never_shown() {
        assert!("short".parse::<Password>().is_err());
        assert!("twelve chars".parse::<Password>().is_ok());
        assert!("ünïcödé-twelve".parse::<Password>().is_ok());
        assert!("with a\nnewline!".parse::<Password>().is_err());
        let p: Password = "correct horse battery".parse().unwrap();
        assert_eq!(format!("{p:?}"), "Password(..)");
    }

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_check() {
        let p: Password = "correct horse battery".parse().unwrap();
        let h = PasswordHash::new(&p).unwrap();
        assert!(
            h.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            h.as_str()
        );
        assert!(!h.as_str().contains("horse"));
        assert!(password_matches("correct horse battery", Some(&h)));
        assert!(!password_matches("correct horse batterY", Some(&h)));
        assert!(!password_matches("correct horse battery", None));
        let again = PasswordHash::new(&p).unwrap();
        assert_ne!(h, again, "a fresh salt each time");
        assert_eq!(PasswordHash::parse(h.as_str()).unwrap(), h);
        assert!(PasswordHash::parse("plain text").is_err());
    }

    #[test]
    fn actors() {
        assert!("ci-job-1234".parse::<Actor>().is_ok());
        assert!("".parse::<Actor>().is_err());
        assert!("a\u{1b}b".parse::<Actor>().is_err());
        let me = Actor::os_user();
        assert!(!me.as_str().is_empty());
        let http = Actor::http(&"svc".parse().unwrap(), "127.0.0.1:5000");
        assert_eq!(http.as_str(), "http:svc@127.0.0.1:5000");
    }
}
