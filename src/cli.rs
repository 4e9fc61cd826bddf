//! Command-line definition: every clap type, and nothing else.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser as _};
use clap::{ArgGroup, Args, Parser, Subcommand};

use crate::key::{KeyRef, Status};
use crate::names::{Description, KeyName, TokenPrefix, UserName};
use crate::paths::PathPrefix;
use crate::store::OnConflict;
use crate::time::{Duration, Expiry, Timestamp};
use crate::token::Digest;

/// The exit-code table shown in `--help`; README documents the same codes.
macro_rules! exit_codes {
    () => {
        "Exit codes:
  0  ok
  1  verify: the token was rejected
  2  invalid usage or input, or a refused confirmation (nothing was changed)
  3  key or user not found, or the key is revoked and cannot be changed
  4  the store cannot be used (not a keyctl store, newer schema, unwritable, disk full,
     busy), or input or output failed (then nothing was changed)"
    };
}

const MAIN_AFTER_HELP: &str = concat!(
    "Examples:
  TOKEN=$(keyctl create --user svc --name deploy --expire 90d)
  keyctl list
  printf '%s\\n' \"$TOKEN\" | keyctl verify --path /api/v1/items
  keyctl reset svc/deploy
  keyctl delete svc/deploy --yes

",
    exit_codes!()
);

/// Manage API keys in a local SQLite store: create, list, rotate, restrict, revoke, verify.
///
/// Tokens are shown once, at create and reset; the store keeps only their SHA-256 digests.
#[derive(Debug, Parser)]
#[command(name = "keyctl", version, after_help = MAIN_AFTER_HELP)]
pub struct Cli {
    /// Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with
    /// the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]
    #[arg(long, global = true, value_name = "PATH|URL")]
    pub db: Option<PathBuf>,

    /// Print JSON on stdout instead of text
    #[arg(long, global = true)]
    pub json: bool,

    /// Who the audit log names for this command's changes [env: KEYCTL_ACTOR] [default: your
    /// user name]
    #[arg(long, global = true, value_name = "NAME")]
    pub actor: Option<crate::users::Actor>,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    Create(CreateArgs),
    List(ListArgs),
    Show(ShowArgs),
    #[command(visible_alias = "rotate")]
    Reset(ResetArgs),
    Expire(ExpireArgs),
    Path(PathArgs),
    Disable(DisableArgs),
    Enable(EnableArgs),
    Delete(DeleteArgs),
    Prune(PruneArgs),
    Verify(VerifyArgs),
    Export(ExportArgs),
    Import(ImportArgs),
    Adopt(AdoptArgs),
    #[command(subcommand)]
    User(UserCommand),
    Log(LogArgs),
    #[cfg(feature = "serve")]
    Serve(ServeArgs),
}

/// Manage users: list them, add one, set a password, remove one with all their keys
///
/// Users are also made by `create`. A password lets a user get keys over HTTP (`keyctl serve
/// --self-service`); it is kept only as an argon2id hash. A service user never has one.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    List(UserListArgs),
    Add(UserAddArgs),
    Passwd(UserPasswdArgs),
    Remove(UserRemoveArgs),
}

/// List users, with their keys counted by status and whether a password is set
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  keyctl user list
  keyctl user list --json

Exit codes: 0 ok, 4 store unusable.")]
pub struct UserListArgs {}

/// Add a user (create also adds one); --service for a user that never logs in
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  keyctl user add alice
  keyctl user add deploy-bot --service

A removed user is brought back by adding it again.

Exit codes: 0 ok, 2 invalid name or the user exists, 4 store unusable.")]
pub struct UserAddArgs {
    /// The user: 1-64 of A-Z a-z 0-9 . _ @ -
    #[arg(value_name = "USER")]
    pub user: UserName,

    /// A service user: it can never have a password, so it never logs in over HTTP
    #[arg(long)]
    pub service: bool,
}

/// Set or clear a user's password (kept only as an argon2id hash)
///
/// On a terminal it asks twice without echo; otherwise --password-stdin reads one line. A
/// password has at least 12 characters. Changing it does not revoke the user's keys.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  keyctl user passwd alice
  printf '%s\\n' \"$PASSWORD\" | keyctl user passwd alice --password-stdin
  keyctl user passwd alice --clear

Exit codes: 0 ok, 2 too short, a service user, or no password given, 3 no such user,
4 store unusable.")]
pub struct UserPasswdArgs {
    /// The user
    #[arg(value_name = "USER")]
    pub user: UserName,

    /// Read the password from the first line of stdin
    #[arg(long, conflicts_with = "clear")]
    pub password_stdin: bool,

    /// Remove the password: the user can no longer log in over HTTP
    #[arg(long)]
    pub clear: bool,
}

/// Revoke (or purge) all of a user's keys in one transaction, and remove the user
///
/// Asks for confirmation on a terminal; without a terminal, --yes is required. Without
/// --purge the keys stay visible as revoked and the user can be added back.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  keyctl user remove alice
  keyctl user remove old-partner --purge --yes

Exit codes: 0 ok, 2 not confirmed, 3 no such user, 4 store unusable.")]
pub struct UserRemoveArgs {
    /// The user
    #[arg(value_name = "USER")]
    pub user: UserName,

    /// Remove the keys and the user entirely instead of revoking the keys
    #[arg(long)]
    pub purge: bool,

    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// Show the audit log: who created, rotated, changed or removed which key, and when
///
/// Every change is recorded in the transaction that makes it, with the actor (--actor,
/// KEYCTL_ACTOR, or the user running keyctl) and what changed, never a secret. Each event
/// is chained to the one before by a SHA-256 hash: --check walks the chain and prints the
/// number of events and the head hash; --expect-head compares it with one recorded
/// elsewhere, since whoever can write the store could rewrite the whole chain.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  keyctl log
  keyctl log svc/deploy
  keyctl log --user ci --action reset --since 30d --json
  keyctl log --check
  keyctl log --check --expect-head 3f1c...e9

Exit codes: 0 ok (--check: the chain is intact), 1 --check: the chain is broken or the head
differs, 2 invalid filter, 3 no such key, 4 store unusable.")]
pub struct LogArgs {
    /// Only events of this key: its id, USER/NAME, or one of its tokens
    #[arg(value_name = "KEY")]
    pub key: Option<KeyRef>,

    /// Only events about this user's keys or account
    #[arg(long, value_name = "USER")]
    pub user: Option<UserName>,

    /// Only events of this action
    #[arg(long, value_name = "ACTION", value_parser = action_arg())]
    pub action: Option<crate::audit::Action>,

    /// Only events since DUR ago (30d) or since TIME (RFC 3339 or YYYY-MM-DD)
    #[arg(long, value_name = "DUR|TIME")]
    pub since: Option<Since>,

    /// Walk the hash chain: print the number of events and the head hash
    #[arg(long, conflicts_with_all = ["key", "user", "action", "since"])]
    pub check: bool,

    /// With --check, also require this head hash (64 hex digits)
    #[arg(long, value_name = "HASH", requires = "check", value_parser = head_arg)]
    pub expect_head: Option<String>,
}

/// A start for `log --since`: a duration back from now, or a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// This long before now.
    Ago(Duration),
    /// This time.
    At(Timestamp),
}

impl std::str::FromStr for Since {
    type Err = crate::error::Invalid;

    fn from_str(s: &str) -> Result<Since, Self::Err> {
        if let Ok(t) = s.parse::<Timestamp>() {
            return Ok(Since::At(t));
        }
        s.parse::<Duration>().map(Since::Ago)
    }
}

fn action_arg() -> impl clap::builder::TypedValueParser<Value = crate::audit::Action> {
    PossibleValuesParser::new(crate::audit::Action::ALL.map(crate::audit::Action::as_str))
        .try_map(|s| s.parse::<crate::audit::Action>())
}

fn head_arg(s: &str) -> Result<String, String> {
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err("a head hash is 64 hex digits, as `keyctl log --check` prints it".into())
    }
}

/// Create a key and print its token, once
///
/// stdout is exactly the token and a newline, so `TOKEN=$(keyctl create ...)` works; a note
/// on stderr says it will not be shown again. The user is created if new.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  keyctl create --user svc --expire 31536000
  keyctl create --user ci --name deploy --expire 90d --path /deploy
  keyctl create --user partner --prefix acme --path =/v1/status --json

Exit codes: 0 ok, 2 invalid input or duplicate name, 4 store unusable.")]
pub struct CreateArgs {
    #[command(flatten)]
    pub key: KeySettings,
}

/// What a new key is: its owner, name, description, expiry, paths and token prefix (create
/// and adopt).
#[derive(Debug, Args)]
pub struct KeySettings {
    /// Owner of the key: 1-64 of A-Z a-z 0-9 . _ @ -
    #[arg(long, value_name = "USER")]
    pub user: UserName,

    /// Name, unique among the user's live keys (same alphabet as USER)
    #[arg(long, value_name = "NAME")]
    pub name: Option<KeyName>,

    /// Free text shown by list and show (no control characters, at most 1000 characters)
    #[arg(long, value_name = "TEXT")]
    pub description: Option<Description>,

    /// Expire after DUR: seconds (31536000) or with a unit s, m, h, d, w, y (90d)
    #[arg(
        long,
        value_name = "DUR",
        conflicts_with = "expire_at",
        allow_hyphen_values = true
    )]
    pub expire: Option<Duration>,

    /// Expire at TIME: RFC 3339 (2030-01-01T00:00:00Z) or a date (2030-01-01, midnight UTC)
    #[arg(long, value_name = "TIME")]
    pub expire_at: Option<Timestamp>,

    /// Restrict to a request-path prefix: /api (segment boundary), /api/, or =/exact; repeatable
    #[arg(long = "path", value_name = "PREFIX")]
    pub paths: Vec<PathPrefix>,

    /// Token prefix: 1-16 of a-z 0-9 (for an adopted key, the prefix of the tokens a
    /// later reset issues)
    #[arg(long, value_name = "P", default_value = crate::token::DEFAULT_PREFIX)]
    pub prefix: TokenPrefix,
}

/// List keys (live ones, oldest first), never their secrets
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  keyctl list
  keyctl list --user svc --all
  keyctl list --status expired --status disabled
  keyctl list --expiring-within 14d --json
  keyctl list --unused-since 90d --user ci

Filters combine: a key is listed only when it passes all of them.

Not on a terminal (or with NO_COLOR or TERM=dumb): a header line, then a line per key,
fields separated by tabs, values whole, - for none, path prefixes separated by spaces.

Exit codes: 0 ok, 2 invalid filter, 3 no such user, 4 store unusable.")]
pub struct ListArgs {
    /// Only this user's keys
    #[arg(long, value_name = "USER")]
    pub user: Option<UserName>,

    /// Include revoked (deleted) keys
    #[arg(long)]
    pub all: bool,

    /// Only keys with this status; repeatable
    #[arg(long = "status", value_name = "STATUS", value_parser = status_arg())]
    pub statuses: Vec<Status>,

    /// Only active keys that expire within DUR from now (14d, 12h)
    #[arg(long, value_name = "DUR", allow_hyphen_values = true)]
    pub expiring_within: Option<Duration>,

    /// Only keys created more than DUR ago and not used since (90d)
    #[arg(long, value_name = "DUR", allow_hyphen_values = true)]
    pub unused_since: Option<Duration>,
}

/// Show one key, never its secret
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  keyctl show 3fQm8WcJtP2a9LxZ
  keyctl show svc/deploy --json

  keyctl show \"$TOKEN\"       # which key is this token? (the secret is not checked)

Exit codes: 0 ok, 3 no such key, 4 store unusable.")]
pub struct ShowArgs {
    /// The key: its id, USER/NAME, or one of its tokens
    #[arg(value_name = "KEY")]
    pub key: KeyRef,
}

/// Give a key a new secret and print the new token, once
///
/// Without --grace the old token is rejected from that moment; with --grace DUR it keeps
/// verifying (with a warning) for DUR, never past the key's expiry. Only the token being
/// replaced gets a grace period: tokens replaced earlier stop working at once. Id, user,
/// name, paths, creation time and expiry stay as they were. If the new token cannot be
/// written out in full, the reset is undone and the command fails.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  NEW=$(keyctl reset ci/deploy)
  NEW=$(keyctl rotate ci/deploy --grace 1h)
  keyctl reset 3fQm8WcJtP2a9LxZ --json

Exit codes: 0 ok, 2 invalid duration, 3 no such key or key revoked, 4 store unusable.")]
pub struct ResetArgs {
    /// The key: its id, USER/NAME, or one of its tokens
    #[arg(value_name = "KEY")]
    pub key: KeyRef,

    /// Keep the old token valid for DUR (300, 15m, 1h, 7d)
    #[arg(long, value_name = "DUR", allow_hyphen_values = true)]
    pub grace: Option<Duration>,
}

/// Set when a key expires
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("when").required(true).args(["duration", "at", "never"])))]
#[command(override_usage = "keyctl expire [OPTIONS] <KEY> <DUR|now|--at <TIME>|--never>")]
#[command(after_help = "\
Examples:
  keyctl expire svc/deploy 30d
  keyctl expire svc/deploy now
  keyctl expire svc/deploy --at 2030-01-01
  keyctl expire svc/deploy --never

Exit codes: 0 ok, 2 invalid duration or time, 3 no such key or key revoked, 4 store unusable.")]
pub struct ExpireArgs {
    /// The key: its id, USER/NAME, or one of its tokens
    #[arg(value_name = "KEY")]
    pub key: KeyRef,

    /// Expire after DUR from now (31536000, 90d, 12h), or `now`
    #[arg(value_name = "DUR|now", value_parser = expire_in, allow_hyphen_values = true)]
    pub duration: Option<Expiry>,

    /// Expire at TIME: RFC 3339 or YYYY-MM-DD
    #[arg(long, value_name = "TIME")]
    pub at: Option<Timestamp>,

    /// Never expire
    #[arg(long)]
    pub never: bool,
}

/// Replace a key's request-path prefixes
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["prefixes", "clear"])))]
#[command(
    override_usage = "keyctl path [OPTIONS] <KEY> <PREFIX>...\n       keyctl path [OPTIONS] <KEY> --clear"
)]
#[command(after_help = "\
Prefixes: /api allows /api and /api/... but not /apix; /api/ allows /api/...; =/exact allows
exactly /exact.

Examples:
  keyctl path svc/deploy /deploy /status
  keyctl path svc/deploy =/v1/health
  keyctl path svc/deploy --clear

Exit codes: 0 ok, 2 invalid prefix, 3 no such key or key revoked, 4 store unusable.")]
pub struct PathArgs {
    /// The key: its id, USER/NAME, or one of its tokens
    #[arg(value_name = "KEY")]
    pub key: KeyRef,

    /// New prefixes: /api, /api/ or =/exact
    #[arg(value_name = "PREFIX")]
    pub prefixes: Vec<PathPrefix>,

    /// Remove all prefixes (the key is then good for any path)
    #[arg(long)]
    pub clear: bool,
}

/// Disable a key: verify rejects it as `disabled` until `keyctl enable`
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  keyctl disable svc/deploy
  keyctl enable svc/deploy

Exit codes: 0 ok, 3 no such key or key revoked, 4 store unusable.")]
pub struct DisableArgs {
    /// The key: its id, USER/NAME, or one of its tokens
    #[arg(value_name = "KEY")]
    pub key: KeyRef,
}

/// Enable a disabled key again
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  keyctl enable svc/deploy

Exit codes: 0 ok, 3 no such key or key revoked, 4 store unusable.")]
pub struct EnableArgs {
    /// The key: its id, USER/NAME, or one of its tokens
    #[arg(value_name = "KEY")]
    pub key: KeyRef,
}

/// Remove keys revoked or expired more than DUR ago
///
/// Prints how many keys were removed. On a terminal it first lists the keys (id, user/name,
/// status, when revoked or expired) and asks; the answer is a line: y or yes goes ahead,
/// anything else changes nothing. Without a terminal, --yes is required.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  keyctl prune --older-than 90d --dry-run
  keyctl prune --older-than 90d
  keyctl prune --older-than 30d --yes --json

--json prints {\"purged\": N, \"ids\": [...]}; with --dry-run, {\"purged\": 0, \"ids\": [],
\"dry_run\": true, \"would_purge\": [...]}.

Exit codes: 0 ok (also for --dry-run), 2 invalid duration or not confirmed, 4 store unusable.")]
pub struct PruneArgs {
    /// Remove keys revoked or expired more than DUR ago (30d, 1y)
    #[arg(long, value_name = "DUR", allow_hyphen_values = true)]
    pub older_than: Duration,

    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// List what would be removed and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Revoke a key (or remove it entirely with --purge)
///
/// A revoked key stays visible with `list --all` and `show`, and verify rejects it as
/// `revoked`. On a terminal it asks first; the answer is a line: y or yes goes ahead,
/// anything else changes nothing. Without a terminal, --yes is required.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  keyctl delete svc/deploy
  keyctl delete 3fQm8WcJtP2a9LxZ --yes
  keyctl delete svc/old --purge --dry-run
  keyctl delete svc/old --purge --yes

Exit codes: 0 ok (also for --dry-run), 2 not confirmed, 3 no such key, 4 store unusable.")]
pub struct DeleteArgs {
    /// The key: its id, USER/NAME, or one of its tokens
    #[arg(value_name = "KEY")]
    pub key: KeyRef,

    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Remove the key and its record entirely instead of revoking it
    #[arg(long)]
    pub purge: bool,

    /// Say what would be done (--json: the key as it is now) and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Check a token or a whole request: exit 0 when valid, 1 when rejected (with the reason)
///
/// The token is read from the first line of stdin (preferred: other users can see command
/// arguments) or taken from the argument. With --header, --url or --request, keyctl instead
/// finds the credential where an HTTP client put it: `Authorization: Bearer`, `Authorization:
/// Basic` (the password is the token), the headers x-auth-key, x-api-auth and x-api-key, or
/// the query parameters _auth_key, _api_auth, accesskey and api_key. On a terminal, with no
/// token and no request given, it asks for the token without echoing it. A token taken
/// over with `keyctl adopt` is verified the same way. Reasons: malformed, unknown,
/// revoked, disabled, expired, superseded (with --current), path_not_allowed, missing,
/// ambiguous, insecure_transport.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  printf '%s\\n' \"$TOKEN\" | keyctl verify
  printf '%s\\n' \"$TOKEN\" | keyctl verify --path /api/v1/items --json
  printf '%s\\n' \"$NEW\" | keyctl verify --current
  keyctl verify --header \"Authorization: Bearer $TOKEN\" --url https://api.example.com/v1/items
  keyctl verify --header \"x-auth-key: $TOKEN\" --path /v1/items
  printf 'GET /v1/items HTTP/1.1\\r\\nX-Api-Key: %s\\r\\n\\r\\n' \"$TOKEN\" | keyctl verify --request

Exit codes: 0 valid, 1 rejected, 2 no token given, 4 store unusable.")]
pub struct VerifyArgs {
    /// The token (default: the first line of stdin)
    #[arg(value_name = "TOKEN")]
    pub token: Option<String>,

    /// Request path to check against the key's prefixes (query string ignored)
    #[arg(long, value_name = "REQUEST_PATH")]
    pub path: Option<String>,

    /// A request header, 'Name: value'; repeatable
    #[arg(long = "header", short = 'H', value_name = "HEADER", value_parser = header_arg)]
    pub headers: Vec<String>,

    /// The request URL (absolute or /path?query); gives the path and query credentials
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Read a raw HTTP/1.x request head (request line and headers) from stdin
    #[arg(long, conflicts_with = "token")]
    pub request: bool,

    /// Accept Basic credentials only with this username (otherwise it is ignored)
    #[arg(long, value_name = "NAME")]
    pub basic_user: Option<String>,

    /// Reject a request that did not come over https (every X-Forwarded-Proto value
    /// `https`, or without that header an https URL)
    #[arg(long)]
    pub require_tls: bool,

    /// Reject a token replaced by a reset even during its grace period (reason superseded)
    #[arg(long)]
    pub current: bool,
}

/// Write keys with the digests verification needs, as JSON Lines, for `keyctl import`
///
/// The first line states the format and version and how many keys follow; then one line
/// per key: every field of `list --json`, plus `digest` (of the current token) and
/// `superseded_digests` (tokens still in a grace period). No token or secret is written,
/// but the digests are what the store guards: keep an export as private as the store.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  keyctl export --all --output keys.jsonl
  keyctl export --user svc > svc.jsonl
  keyctl --db laptop.db export --all | ssh server keyctl import

With --output, the file is created with mode 0600 and an existing file is never
overwritten (exit 2); if the export fails half-way, the file is removed. Without it, the
export goes to stdout. Revoked keys are left out unless --all is given; then they arrive
revoked, and their tokens are rejected as `revoked` as before.

Exit codes: 0 ok, 2 the output file exists, 3 no such user, 4 store unusable or writing failed.")]
pub struct ExportArgs {
    /// Only this user's keys
    #[arg(long, value_name = "USER")]
    pub user: Option<UserName>,

    /// Include revoked keys
    #[arg(long)]
    pub all: bool,

    /// Write to a new FILE (mode 0600) instead of stdout; - is stdout
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Add the keys of a `keyctl export`, with their ids and digests, in one transaction
///
/// Every token that verified in the store the keys came from verifies here with the same
/// result: the same key, expiry, paths, disabled or revoked state, and grace periods. Like
/// `create`, it makes the store if there is none. A malformed line, an unknown format
/// version, a file cut short, or (by default) a key whose id, live user/name or adopted
/// token is already in the store imports nothing and names the line. Prints a summary:
/// imported, replaced, skipped.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  keyctl import keys.jsonl
  keyctl import --dry-run < keys.jsonl
  keyctl import --on-conflict skip keys.jsonl --json
  keyctl --db laptop.db export --all | keyctl --db /srv/keys/keys.db import

--on-conflict: fail (the default) imports nothing when any key clashes; skip leaves the
clashing keys out and keeps the store's; replace overwrites the store's key with the same
id, and still fails on a clash with another key (a name or adopted token it holds).
--json prints {\"imported\": N, \"replaced\": N, \"skipped\": N, \"keys\": [...]}; with
--dry-run the counts are 0 and \"would\" holds what a real run would do.

Exit codes: 0 ok (also for --dry-run), 2 malformed export or refused by a conflict (nothing
was imported), 4 store unusable.")]
pub struct ImportArgs {
    /// The export to read; without it, or with -, stdin
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// What to do with a key whose id, live user/name or adopted token is in the store
    #[arg(long, value_name = "POLICY", default_value = "fail", value_parser = conflict_arg())]
    pub on_conflict: OnConflict,

    /// Say what would be imported, skipped or replaced, and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Take over a token another system issued: it verifies as a keyctl key from now on
///
/// Reads the token from the first line of stdin (or asks for it on a terminal, without
/// echo) and keeps only its SHA-256 digest, under a new key with a fresh keyctl id. The
/// token must be 16 to 256 printable ASCII characters, not shaped like a keyctl token. With
/// --digest, a system that kept only SHA-256 digests of its tokens hands over a digest
/// instead, and the token is never seen. `verify`, `serve` and the library then accept
/// that exact string, with the key's expiry, paths, disabling and revocation like any
/// key's; `reset` gives the key a keyctl token (with --grace, the adopted one keeps working
/// for a while). Prints the new key's id.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  printf '%s\\n' \"$VB_KEY\" | keyctl adopt --user voipbin --name billing --path /v1.0
  keyctl adopt --user haplo --prefix hp < haplo-key.txt
  keyctl adopt --user partner --digest \"sha256:$HEX\"   # HEX: the token's SHA-256

A token already adopted (by a live, revoked or grace-period key) is refused: one token
verifies for one key. --prefix sets the prefix of the keyctl tokens a later reset issues.

Exit codes: 0 ok, 2 invalid token, digest or option, or token already adopted, 4 store unusable.")]
pub struct AdoptArgs {
    #[command(flatten)]
    pub key: KeySettings,

    /// Adopt by digest, without the token: sha256: and the 64 hex digits of its SHA-256
    #[arg(long, value_name = "sha256:HEX")]
    pub digest: Option<Digest>,
}

/// Answer HTTP verification requests: forward auth for proxies, JSON for apps
///
/// Endpoints: /auth and /auth/... (forward auth, any method: 200 with X-Keyctl-* headers
/// when valid, 401 or 403 with X-Keyctl-Reason when not), POST /v1/verify (JSON in, the JSON
/// of `verify --json` out), GET /healthz (200 when the store can be read, else 503) and GET
/// /metrics (Prometheus). A store that cannot be read is answered 503, never 2xx.
///
/// It trusts the X-Original-URI, X-Forwarded-Uri and X-Forwarded-Proto headers of whoever
/// calls it, so it must be reachable only by the proxy in front of it: keep it on loopback
/// (the default) or a Unix socket, never on a public address.
#[cfg(feature = "serve")]
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  keyctl serve
  keyctl serve --listen 127.0.0.1:9000 --access-log
  keyctl serve --listen unix:/run/keyctl/auth.sock --challenge none --require-tls

It prints one line per listener on stderr when ready (keyctl: serving http://127.0.0.1:7878)
and stops on SIGTERM or SIGINT, letting requests in flight finish (at most 10 s).

Exit codes: 0 stopped by a signal, 2 invalid arguments, 4 store unusable or cannot listen.")]
pub struct ServeArgs {
    /// Where to listen: HOST:PORT (port 0 picks one) or unix:PATH (mode 0660); repeatable
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    pub listen: Vec<crate::serve::Listen>,

    /// What a 401 asks for: bearer (WWW-Authenticate: Bearer, no browser dialog), basic, none
    #[arg(long, value_name = "KIND", default_value = "bearer", value_parser = PossibleValuesParser::new(["bearer", "basic", "none"]).try_map(|s| s.parse::<crate::serve::Challenge>()))]
    pub challenge: crate::serve::Challenge,

    /// Reject forward-auth requests unless every X-Forwarded-Proto value is https (403)
    #[arg(long)]
    pub require_tls: bool,

    /// Log one line per request on stderr (credentials in query strings are redacted)
    #[arg(long)]
    pub access_log: bool,

    /// Serve self-service endpoints: POST /v1/authkeys (a key for a user and password,
    /// over HTTPS only) and /v1/user/keys, /v1/user (a user's own keys)
    #[arg(long)]
    pub self_service: bool,

    /// The longest a key made over HTTP may live (a login asking for longer gets this)
    #[arg(
        long,
        value_name = "DUR",
        default_value = "90d",
        requires = "self_service"
    )]
    pub max_expire: Duration,

    /// Connections served at once; more wait until one closes
    #[arg(long, value_name = "N", default_value_t = crate::serve::DEFAULT_MAX_CONNECTIONS, value_parser = clap::value_parser!(u16).range(1..).map(usize::from))]
    pub max_connections: usize,
}

fn status_arg() -> impl clap::builder::TypedValueParser<Value = Status> {
    PossibleValuesParser::new(Status::ALL.map(Status::as_str)).try_map(|s| s.parse::<Status>())
}

fn conflict_arg() -> impl clap::builder::TypedValueParser<Value = OnConflict> {
    PossibleValuesParser::new(OnConflict::ALL.map(OnConflict::as_str))
        .try_map(|s| s.parse::<OnConflict>())
}

fn expire_in(s: &str) -> Result<Expiry, crate::error::Invalid> {
    if s == "now" {
        Ok(Expiry::Now)
    } else {
        s.parse().map(Expiry::In)
    }
}

/// A header must be `Name: value`; a line without a colon is a mistake on the command
/// line, not a request to judge. The message never repeats the line: it may hold a token.
fn header_arg(s: &str) -> Result<String, String> {
    match s.split_once(':') {
        Some((name, _)) if crate::credential::is_header_name(name) => Ok(s.to_owned()),
        Some(_) => {
            Err("the header name before ':' is empty or not a valid HTTP header name".into())
        }
        None => Err("a header is 'Name: value', and this one has no ':'".into()),
    }
}
