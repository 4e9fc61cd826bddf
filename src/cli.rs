//! Command-line definition: every clap type, and nothing else.

use std::path::PathBuf;

use clap::builder::TypedValueParser;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgAction, ArgGroup, Args, CommandFactory, Parser, Subcommand};

use crate::key::{KeyRef, Status};
use crate::time::{Timestamp, parse_duration, parse_time};

/// The exit-code table shown in `--help`; README documents the same codes.
macro_rules! exit_codes {
    () => {
        "Exit codes:
  0  ok
  1  verify: the token was rejected
  2  invalid usage or input, or a refused confirmation (nothing was changed)
  3  key or user not found, or the key is revoked and cannot be changed
  4  the store cannot be used (not a keyctl store, newer schema, unwritable, disk full, busy)"
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
    /// Key store file [default: $XDG_DATA_HOME/keyctl/keys.db]
    #[arg(long, global = true, value_name = "PATH", env = "KEYCTL_DB")]
    pub db: Option<PathBuf>,

    /// Print JSON on stdout instead of text
    #[arg(long, global = true)]
    pub json: bool,

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
    /// Owner of the key: 1-64 of A-Z a-z 0-9 . _ @ -
    #[arg(long, value_name = "USER", value_parser = user_arg)]
    pub user: String,

    /// Name, unique among the user's live keys (same alphabet as USER)
    #[arg(long, value_name = "NAME", value_parser = name_arg)]
    pub name: Option<String>,

    /// Free text shown by list and show (no control characters, at most 1000 characters)
    #[arg(long, value_name = "TEXT", value_parser = description_arg)]
    pub description: Option<String>,

    /// Expire after DUR: seconds (31536000) or with a unit s, m, h, d, w, y (90d)
    #[arg(long, value_name = "DUR", value_parser = duration_arg, conflicts_with = "expire_at")]
    pub expire: Option<i64>,

    /// Expire at TIME: RFC 3339 (2030-01-01T00:00:00Z) or a date (2030-01-01, midnight UTC)
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    pub expire_at: Option<Timestamp>,

    /// Restrict to a request-path prefix: /api (segment boundary), /api/, or =/exact; repeatable
    #[arg(long = "path", value_name = "PREFIX")]
    pub paths: Vec<String>,

    /// Token prefix: 1-16 of a-z 0-9
    #[arg(long, value_name = "P", default_value = crate::token::DEFAULT_PREFIX, value_parser = prefix_arg)]
    pub prefix: String,
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

Exit codes: 0 ok, 2 invalid filter, 3 no such user, 4 store unusable.")]
pub struct ListArgs {
    /// Only this user's keys
    #[arg(long, value_name = "USER", value_parser = user_arg)]
    pub user: Option<String>,

    /// Include revoked (deleted) keys
    #[arg(long)]
    pub all: bool,

    /// Only keys with this status: active, expired, revoked or disabled; repeatable
    #[arg(long = "status", value_name = "STATUS", value_parser = status_arg)]
    pub statuses: Vec<Status>,

    /// Only active keys that expire within DUR from now (14d, 12h)
    #[arg(long, value_name = "DUR", value_parser = duration_arg)]
    pub expiring_within: Option<i64>,

    /// Only keys never used, or last used more than DUR ago (90d)
    #[arg(long, value_name = "DUR", value_parser = duration_arg)]
    pub unused_since: Option<i64>,
}

/// Show one key, never its secret
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  keyctl show 3fQm8WcJtP2a9LxZ
  keyctl show svc/deploy --json

Exit codes: 0 ok, 3 no such key, 4 store unusable.")]
pub struct ShowArgs {
    /// The key: its id, or USER/NAME
    #[arg(value_name = "KEY", value_parser = key_arg)]
    pub key: KeyRef,
}

/// Give a key a new secret and print the new token, once (alias: rotate)
///
/// Without --grace the old token is rejected from that moment; with --grace DUR it keeps
/// verifying (with a warning) for DUR, never past the key's expiry. Id, user, name, paths,
/// creation time and expiry stay as they were.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  NEW=$(keyctl reset ci/deploy)
  NEW=$(keyctl rotate ci/deploy --grace 1h)
  keyctl reset 3fQm8WcJtP2a9LxZ --json

Exit codes: 0 ok, 2 invalid duration, 3 no such key or key revoked, 4 store unusable.")]
pub struct ResetArgs {
    /// The key: its id, or USER/NAME
    #[arg(value_name = "KEY", value_parser = key_arg)]
    pub key: KeyRef,

    /// Keep the old token valid for DUR (300, 15m, 1h, 7d)
    #[arg(long, value_name = "DUR", value_parser = duration_arg)]
    pub grace: Option<i64>,
}

/// Set when a key expires
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("when").required(true).args(["duration", "at", "never"])))]
#[command(after_help = "\
Examples:
  keyctl expire svc/deploy 30d
  keyctl expire svc/deploy now
  keyctl expire svc/deploy --at 2030-01-01
  keyctl expire svc/deploy --never

Exit codes: 0 ok, 2 invalid duration or time, 3 no such key or key revoked, 4 store unusable.")]
pub struct ExpireArgs {
    /// The key: its id, or USER/NAME
    #[arg(value_name = "KEY", value_parser = key_arg)]
    pub key: KeyRef,

    /// Expire after DUR from now (31536000, 90d, 12h), or `now`
    #[arg(value_name = "DUR|now", value_parser = expire_arg)]
    pub duration: Option<ExpireIn>,

    /// Expire at TIME: RFC 3339 or YYYY-MM-DD
    #[arg(long, value_name = "TIME", value_parser = time_arg)]
    pub at: Option<Timestamp>,

    /// Never expire
    #[arg(long)]
    pub never: bool,
}

/// A relative expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpireIn {
    /// Expire at the time of the command.
    Now,
    /// Expire this many seconds after the command.
    Seconds(i64),
}

/// Replace a key's request-path prefixes
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["prefixes", "clear"])))]
#[command(after_help = "\
Prefixes: /api allows /api and /api/... but not /apix; /api/ allows /api/...; =/exact allows
exactly /exact.

Examples:
  keyctl path svc/deploy /deploy /status
  keyctl path svc/deploy =/v1/health
  keyctl path svc/deploy --clear

Exit codes: 0 ok, 2 invalid prefix, 3 no such key or key revoked, 4 store unusable.")]
pub struct PathArgs {
    /// The key: its id, or USER/NAME
    #[arg(value_name = "KEY", value_parser = key_arg)]
    pub key: KeyRef,

    /// New prefixes: /api, /api/ or =/exact
    #[arg(value_name = "PREFIX")]
    pub prefixes: Vec<String>,

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
    /// The key: its id, or USER/NAME
    #[arg(value_name = "KEY", value_parser = key_arg)]
    pub key: KeyRef,
}

/// Enable a disabled key again
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  keyctl enable svc/deploy

Exit codes: 0 ok, 3 no such key or key revoked, 4 store unusable.")]
pub struct EnableArgs {
    /// The key: its id, or USER/NAME
    #[arg(value_name = "KEY", value_parser = key_arg)]
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
    #[arg(long, value_name = "DUR", value_parser = duration_arg)]
    pub older_than: i64,

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
    /// The key: its id, or USER/NAME
    #[arg(value_name = "KEY", value_parser = key_arg)]
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
/// the query parameters _auth_key, _api_auth, accesskey and api_key. Reasons: malformed,
/// unknown, revoked, expired, path_not_allowed, missing, ambiguous, insecure_transport.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  printf '%s\\n' \"$TOKEN\" | keyctl verify
  printf '%s\\n' \"$TOKEN\" | keyctl verify --path /api/v1/items --json
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
    #[arg(long = "header", short = 'H', value_name = "HEADER")]
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

    /// Reject a request that did not come over https (an https URL or X-Forwarded-Proto: https)
    #[arg(long)]
    pub require_tls: bool,
}

/// The command line as it is parsed: [`Cli`], plus a hidden `--force` on `delete` and
/// `prune` that is refused, as an unknown argument, with a tip to use `--yes`. The trap is
/// kept out of [`Cli`] itself because the completions and man pages are generated from that,
/// and they must not offer `--force`.
pub fn command() -> clap::Command {
    Cli::command()
        .mut_subcommand("delete", |c| c.arg(refused_option("force", "--yes")))
        .mut_subcommand("prune", |c| c.arg(refused_option("force", "--yes")))
}

/// `--LONG`, in any form (`--LONG`, `--LONG=x`, `--LONG x`), refused with a tip naming the
/// option that was meant.
fn refused_option(long: &'static str, meant: &'static str) -> clap::Arg {
    clap::Arg::new(long)
        .long(long)
        .hide(true)
        .num_args(0..=1)
        .default_missing_value("")
        .action(ArgAction::Set)
        .value_parser(NotAnOption(meant))
}

/// The parser behind [`refused_option`]: it fails as an unknown argument would, with a tip.
#[derive(Debug, Clone, Copy)]
struct NotAnOption(&'static str);

impl TypedValueParser for NotAnOption {
    type Value = bool;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        _value: &std::ffi::OsStr,
    ) -> Result<bool, clap::Error> {
        let mut err = clap::Error::new(ErrorKind::UnknownArgument).with_cmd(cmd);
        let typed = arg.and_then(|a| a.get_long()).unwrap_or_default();
        err.insert(
            ContextKind::InvalidArg,
            ContextValue::String(format!("--{typed}")),
        );
        err.insert(
            ContextKind::SuggestedArg,
            ContextValue::String(self.0.to_owned()),
        );
        err.insert(
            ContextKind::Usage,
            ContextValue::StyledStr(cmd.clone().render_usage()),
        );
        Err(err)
    }
}

fn user_arg(s: &str) -> Result<String, String> {
    crate::key::check_user(s).map(|()| s.to_owned())
}

fn name_arg(s: &str) -> Result<String, String> {
    crate::key::check_name(s).map(|()| s.to_owned())
}

fn description_arg(s: &str) -> Result<String, String> {
    crate::key::check_description(s).map(|()| s.to_owned())
}

fn prefix_arg(s: &str) -> Result<String, String> {
    if crate::token::valid_prefix(s) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "invalid prefix \"{}\": use 1 to 16 of a-z 0-9",
            s.escape_debug()
        ))
    }
}

fn status_arg(s: &str) -> Result<Status, String> {
    s.parse()
}

fn key_arg(s: &str) -> Result<KeyRef, String> {
    s.parse()
}

fn duration_arg(s: &str) -> Result<i64, String> {
    parse_duration(s)
}

fn time_arg(s: &str) -> Result<Timestamp, String> {
    parse_time(s)
}

fn expire_arg(s: &str) -> Result<ExpireIn, String> {
    if s == "now" {
        Ok(ExpireIn::Now)
    } else {
        parse_duration(s).map(ExpireIn::Seconds)
    }
}
