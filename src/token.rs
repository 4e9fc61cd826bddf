//! Token format: generation, parsing, checksum and digest.
//!
//! A token is `<prefix>_<id>_<secret><check>`:
//! - `prefix`: `[a-z0-9]{1,16}`, `kc` by default;
//! - `id`: the key's public id, `[A-Za-z0-9]{8,24}` (16 characters for new keys);
//! - `secret`: 43 base62 characters from the OS CSPRNG (43 × log2 62 ≈ 256.03 bits);
//! - `check`: CRC-32 (IEEE) of everything before it, as 6 base62 digits, zero-padded.
//!
//! The checksum lets keyctl reject a typo, a truncation or a random string as malformed
//! without touching the store, and lets secret scanners confirm a match.

use rand::TryRng;

use crate::names::{KeyId, TokenPrefix};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// Default token prefix.
pub const DEFAULT_PREFIX: &str = "kc";
/// Longest token accepted anywhere.
pub const MAX_TOKEN_LEN: usize = 120;
/// Number of base62 characters of secret in a token.
pub const SECRET_LEN: usize = 43;
/// Number of base62 characters of checksum at the end of a token.
pub const CHECK_LEN: usize = 6;
/// Length of the id of a newly created key.
pub const ID_LEN: usize = 16;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A token as issued: the only value that carries a secret out of keyctl. Its `Debug`
/// hides the text; [`Token::reveal`] is the one way to read it, for printing it once.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// The token's text: print it once, to the one who asked for it.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// The digest the store keeps.
    pub fn digest(&self) -> Digest {
        Digest::of(&self.0)
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

/// A SHA-256 digest of a whole token: the only form in which a secret is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// Digest of a token's full text.
    pub fn of(token: &str) -> Digest {
        Digest(Sha256::digest(token.as_bytes()).into())
    }

    /// Constant-time comparison with stored digest bytes of any length.
    pub fn matches(&self, stored: &[u8]) -> bool {
        self.0.as_slice().ct_eq(stored).into()
    }
}

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Digest(..)")
    }
}

impl Digest {
    /// The digest as `sha256:` and 64 lowercase hex digits: the form `keyctl export` writes
    /// and `keyctl adopt --digest` reads. A digest is not a secret, but it is what the
    /// store guards: print it only where the store's contents may go.
    pub fn to_text(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(DIGEST_TAG.len() + 64);
        out.push_str(DIGEST_TAG);
        for b in self.0 {
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
        out
    }
}

/// What a digest in text starts with: the only hash keyctl knows.
pub const DIGEST_TAG: &str = "sha256:";

/// `sha256:` and 64 hex digits, either case.
impl std::str::FromStr for Digest {
    type Err = crate::error::Invalid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            crate::error::Invalid(format!(
                "invalid digest: {why}; give sha256: and the 64 hex digits of the SHA-256 of the whole token"
            ))
        };
        let hex = s
            .strip_prefix(DIGEST_TAG)
            .ok_or_else(|| bad("it does not start with sha256:"))?;
        if hex.len() != 64 {
            return Err(bad(&format!("{} hex digits instead of 64", hex.len())));
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        };
        let mut out = [0u8; 32];
        for (slot, pair) in out.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
            match (nibble(pair[0]), nibble(pair[1])) {
                (Some(hi), Some(lo)) => *slot = hi << 4 | lo,
                _ => return Err(bad("it holds a character that is not a hex digit")),
            }
        }
        Ok(Digest(out))
    }
}

/// Shortest token `keyctl adopt` takes: shorter ones are too easy to guess.
pub const ADOPTED_MIN_LEN: usize = 16;
/// Longest token `keyctl adopt` takes.
pub const ADOPTED_MAX_LEN: usize = 256;

/// True when `text` could be an adopted token: [`ADOPTED_MIN_LEN`] to [`ADOPTED_MAX_LEN`]
/// printable ASCII characters (space included), not starting or ending with a space, and
/// not shaped like a keyctl token ([`contains_token`]): such text is a keyctl token, which
/// names its key, or a damaged one, which stays `malformed` as it was before anything was
/// adopted. Any text that is not adoptable and does not parse as a keyctl token is
/// rejected without looking at the store.
pub fn adoptable(text: &str) -> bool {
    let b = text.as_bytes();
    (ADOPTED_MIN_LEN..=ADOPTED_MAX_LEN).contains(&b.len())
        && b.iter().all(|c| (0x20..=0x7E).contains(c))
        && b.first() != Some(&b' ')
        && b.last() != Some(&b' ')
        && !contains_token(text)
}

/// A token another system issued, to be kept by keyctl as its SHA-256 digest
/// (`keyctl adopt`): [`adoptable`] text. Like [`Token`], its `Debug` hides the text.
#[derive(Clone, PartialEq, Eq)]
pub struct AdoptedToken(String);

impl AdoptedToken {
    /// The digest the store keeps.
    pub fn digest(&self) -> Digest {
        Digest::of(&self.0)
    }
}

impl std::fmt::Debug for AdoptedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdoptedToken(..)")
    }
}

/// Messages say what is wrong with the text, never what the text is.
impl std::str::FromStr for AdoptedToken {
    type Err = crate::error::Invalid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: String| crate::error::Invalid(format!("cannot adopt this token: {why}"));
        let len = s.chars().count();
        if let Some(at) = s.chars().position(|c| !(' '..='~').contains(&c)) {
            return Err(bad(format!(
                "character {} is not printable ASCII (tokens are letters, digits, punctuation and spaces)",
                at + 1
            )));
        }
        if !(ADOPTED_MIN_LEN..=ADOPTED_MAX_LEN).contains(&len) {
            return Err(bad(format!(
                "it has {len} characters, and an adopted token has {ADOPTED_MIN_LEN} to {ADOPTED_MAX_LEN}"
            )));
        }
        if s.starts_with(' ') || s.ends_with(' ') {
            return Err(bad(
                "it starts or ends with a space, which every way of presenting it trims".into(),
            ));
        }
        if parse(s).is_some() {
            return Err(bad(
                "it is a keyctl token: its key is in a keyctl store already (move it with export and import)"
                    .into(),
            ));
        }
        if contains_token(s) {
            return Err(bad(
                "it is shaped like a keyctl token (letters and digits, an id between two underscores, then more), and keyctl reads such text only as one of its own tokens"
                    .into(),
            ));
        }
        Ok(AdoptedToken(s.to_owned()))
    }
}

/// The public parts of a well-formed token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// The token's prefix, e.g. `kc`.
    pub prefix: &'a str,
    /// The key id the token belongs to.
    pub id: &'a str,
}

/// True for a valid token prefix: `[a-z0-9]{1,16}`.
pub fn valid_prefix(p: &str) -> bool {
    (1..=16).contains(&p.len())
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// True for a valid key id: `[A-Za-z0-9]{8,24}`.
pub fn valid_id(id: &str) -> bool {
    (8..=24).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Parse a token, checking its shape and checksum. `None` means malformed.
pub fn parse(token: &str) -> Option<Parsed<'_>> {
    if token.len() > MAX_TOKEN_LEN
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return None;
    }
    let (prefix, rest) = token.split_once('_')?;
    let (id, body) = rest.split_once('_')?;
    if !valid_prefix(prefix)
        || !valid_id(id)
        || body.len() != SECRET_LEN + CHECK_LEN
        || !body.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return None;
    }
    let (signed, check) = token.split_at(token.len() - CHECK_LEN);
    if checksum_bytes(signed) != check.as_bytes() {
        return None;
    }
    Some(Parsed { prefix, id })
}

/// The 6-character base62 checksum of `text`.
pub fn checksum(text: &str) -> String {
    checksum_bytes(text).iter().map(|&b| b as char).collect()
}

/// [`checksum`] without allocating, for the verify path.
fn checksum_bytes(text: &str) -> [u8; CHECK_LEN] {
    let mut n = crc32(text.as_bytes());
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// CRC-32 with the IEEE polynomial (the one zlib and PNG use), a byte at a time.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc = (crc >> 8) ^ CRC_TABLE[((crc ^ u32::from(byte)) & 0xFF) as usize];
    }
    !crc
}

/// The CRC-32 of every byte value, computed at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// `n` uniformly random base62 characters from the OS CSPRNG.
pub(crate) fn random_base62(n: usize) -> Result<String, crate::Error> {
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        rand::rngs::SysRng
            .try_fill_bytes(&mut buf)
            .map_err(|e| crate::Error::Random(e.to_string()))?;
        // 248 = 4 × 62: rejecting bytes at or above it keeps every character equally likely.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == n {
                break;
            }
            out.push(BASE62[usize::from(b % 62)] as char);
        }
    }
    Ok(out)
}

/// Fill `buf` from the OS CSPRNG.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<(), crate::Error> {
    rand::rngs::SysRng
        .try_fill_bytes(buf)
        .map_err(|e| crate::Error::Random(e.to_string()))
}

/// A new token for key `id` with `prefix`.
pub fn generate(prefix: &TokenPrefix, id: &KeyId) -> Result<Token, crate::Error> {
    let mut token = format!("{prefix}_{id}_{}", random_base62(SECRET_LEN)?);
    let check = checksum(&token);
    token.push_str(&check);
    Ok(Token(token))
}

/// A regular expression matching keyctl tokens, for secret scanners (the checksum confirms).
pub const TOKEN_REGEX: &str = r"\b[a-z0-9]{1,16}_[A-Za-z0-9]{8,24}_[A-Za-z0-9]{49}\b";

/// True when `text` holds something shaped like a keyctl token (checksum or not): such
/// text is never repeated in a message. Looser than [`TOKEN_REGEX`], so that a token with
/// a typo or cut short is caught too.
pub fn contains_token(text: &str) -> bool {
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric();
    // A run of 8 to 24 alphanumerics between two underscores (the id), followed by 20 or
    // more alphanumerics (most of a secret), is a token or most of one.
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(|&b| b == b'_') {
        let start = i + off + 1;
        let id_len = bytes[start..].iter().take_while(|&&b| word(b)).count();
        let after = start + id_len;
        if (8..=24).contains(&id_len) && bytes.get(after) == Some(&b'_') {
            let secret = bytes[after + 1..].iter().take_while(|&&b| word(b)).count();
            if secret >= 20 {
                return true;
            }
        }
        i = start;
    }
    false
}

/// Text safe to print: control characters (but newlines) escaped, and every word shaped
/// like a token replaced.
pub fn redact(text: &str) -> String {
    text.split_inclusive(|c: char| c.is_whitespace() || c == '\'' || c == '"')
        .map(|word| {
            if contains_token(word) {
                let end = word
                    .chars()
                    .last()
                    .filter(|c| c.is_whitespace() || *c == '\'' || *c == '"')
                    .map(String::from)
                    .unwrap_or_default();
                format!("(token not shown){end}")
            } else {
                word.chars()
                    .map(|c| match c {
                        '\n' => "\n".to_owned(),
                        c if c.is_control() => c.escape_default().to_string(),
                        c => c.to_string(),
                    })
                    .collect()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_known_vector() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    fn new_token() -> String {
        let id = KeyId::random().unwrap();
        generate(&TokenPrefix::default(), &id)
            .unwrap()
            .reveal()
            .to_owned()
    }

    #[test]
    fn generated_tokens_parse_and_carry_the_id() {
        let id = KeyId::random().unwrap();
        let token = generate(&TokenPrefix::default(), &id).unwrap();
        assert_eq!(format!("{token:?}"), "Token(..)");
        let text = token.reveal();
        assert_eq!(text.len(), 2 + 1 + 16 + 1 + 43 + 6);
        let parsed = parse(text).unwrap();
        assert_eq!(
            parsed,
            Parsed {
                prefix: "kc",
                id: id.as_str()
            }
        );
        assert!(token.digest().matches(&Digest::of(text).0));
        let long: TokenPrefix = "abcdefghijklmnop".parse().unwrap();
        let token = generate(&long, &"ABCDEFGHIJKLMNOPQRSTUVWX".parse().unwrap()).unwrap();
        assert!(token.reveal().len() <= MAX_TOKEN_LEN);
        assert_eq!(parse(token.reveal()).unwrap().prefix, long.as_str());
        assert!(contains_token(token.reveal()));
    }

    #[test]
    fn token_shaped_text_is_recognised() {
        let token = new_token();
        assert!(contains_token(&token));
        assert!(contains_token(&format!("show {token}")));
        assert!(contains_token(&token[..token.len() - 10]), "cut short");
        for plain in [
            "svc/deploy",
            "kc_abc",
            "3fQm8WcJtP2a9LxZ",
            "a_b_c",
            "",
            "___",
        ] {
            assert!(!contains_token(plain), "{plain}");
        }
    }

    #[test]
    fn every_single_character_change_is_detected() {
        let token = new_token();
        let bytes = token.as_bytes();
        for i in 0..bytes.len() {
            for &c in b"0aZ_" {
                if bytes[i] == c {
                    continue;
                }
                let mut t = bytes.to_vec();
                t[i] = c;
                let t = String::from_utf8(t).unwrap();
                assert!(parse(&t).is_none(), "accepted {i}:{}", c as char);
            }
        }
    }

    #[test]
    fn truncation_extension_and_junk_are_malformed() {
        let token = new_token();
        assert!(parse(&token[..token.len() - 1]).is_none());
        assert!(parse(&format!("{token}0")).is_none());
        assert!(parse(&format!(" {token}")).is_none());
        for junk in [
            "",
            "_",
            "kc_",
            "kc__",
            "KC_abcdefgh_x",
            "not a token",
            "kc_short_x",
        ] {
            assert!(parse(junk).is_none(), "{junk}");
        }
        assert!(parse(&"a".repeat(500)).is_none());
    }

    #[test]
    fn readme_example_is_well_formed() {
        let example = "kc_3fQm8WcJtP2a9LxZ_Ky9Pf34qY6Nb3wWD25RQ4F5ZR3qa7yEeeby3abP3E2Z31O7vJ";
        assert_eq!(parse(example).map(|p| p.id), Some("3fQm8WcJtP2a9LxZ"));
    }

    #[test]
    fn prefixes_and_ids_are_checked() {
        assert!(valid_prefix("kc") && valid_prefix("a1") && valid_prefix(&"z".repeat(16)));
        assert!(!valid_prefix("") && !valid_prefix("Kc") && !valid_prefix("k_c"));
        assert!(!valid_prefix(&"z".repeat(17)));
        assert!(valid_id("abcdEFG1") && !valid_id("abc") && !valid_id("abcdefg-"));
    }

    #[test]
    fn digests_read_back_from_their_text() {
        let d = Digest::of("vb_a3Bf9xKmPq2nR7sT4wYzLp8mN5qR1xWe");
        let text = d.to_text();
        assert!(text.starts_with("sha256:") && text.len() == 71, "{text}");
        assert_eq!(text.parse::<Digest>(), Ok(d.clone()));
        assert_eq!(
            text.to_uppercase().replace("SHA256:", "sha256:").parse(),
            Ok(d)
        );
        // The SHA-256 of "abc", from FIPS 180-2.
        let abc = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(Digest::of("abc").to_text(), abc);
        for bad in [
            "",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha256:",
            "sha256:ba7816bf",
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0",
            "sha256:ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "md5:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015aé",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
    }

    #[test]
    fn adopted_tokens_are_printable_ascii_and_never_keyctl_tokens() {
        for ok in [
            "vb_a3Bf9xKmPq2nR7sT4wYzLp8mN5qR1xWe",
            "0123456789ABCDEF0123456789ABCDEF0123456789AB",
            "abc123xyz789abcd",
            "with inner spaces !~",
            &"x".repeat(256),
        ] {
            let t: AdoptedToken = ok.parse().unwrap();
            assert!(adoptable(ok), "{ok}");
            assert_eq!(t.digest(), Digest::of(ok));
            assert_eq!(format!("{t:?}"), "AdoptedToken(..)");
        }
        let keyctl = new_token();
        let secret = "abc123xyz789abcdé";
        for bad in [
            "short",
            "abc123xyz789abc",
            &"x".repeat(257),
            " leading-space-token",
            "trailing-space-token ",
            "tab\tinside-the-token",
            secret,
            keyctl.as_str(),
            &keyctl[..keyctl.len() - 1],
            &format!("{keyctl}0"),
            "acme_ABCDEFGH12345678_abcdefghijklmnopqrstuvwxyz",
        ] {
            let err = bad.parse::<AdoptedToken>().unwrap_err().to_string();
            assert!(
                !err.contains("abc123") && !err.contains(&keyctl[3..20]),
                "{err}"
            );
            assert!(!adoptable(bad), "{bad:?}");
        }
    }

    #[test]
    fn random_base62_is_roughly_uniform() {
        let s = random_base62(62 * 400).unwrap();
        let mut counts = [0usize; 62];
        for b in s.bytes() {
            counts[BASE62.iter().position(|&c| c == b).unwrap()] += 1;
        }
        // Each character expects 400; a broken mapping (e.g. b % 62 without rejection) shows
        // up as a systematic skew, far beyond these loose bounds only in gross failures.
        assert!(
            counts.iter().all(|&c| (250..=560).contains(&c)),
            "{counts:?}"
        );
    }
}
