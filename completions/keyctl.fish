# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_keyctl_global_optspecs
    string join \n db= json actor= h/help V/version
end

function __fish_keyctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_keyctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_keyctl_using_subcommand
    set -l cmd (__fish_keyctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c keyctl -n "__fish_keyctl_needs_command" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_needs_command" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_needs_command" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyctl -n "__fish_keyctl_needs_command" -s V -l version -d 'Print version'
complete -c keyctl -n "__fish_keyctl_needs_command" -f -a "create" -d 'Create a key and print its token, once'
complete -c keyctl -n "__fish_keyctl_needs_command" -f -a "list" -d 'List keys (live ones, oldest first), never their secrets'
complete -c keyctl -n "__fish_keyctl_needs_command" -f -a "show" -d 'Show one key, never its secret'
complete -c keyctl -n "__fish_keyctl_needs_command" -f -a "reset" -d 'Give a key a new secret and print the new token, once'
complete -c keyctl -n "__fish_keyctl_needs_command" -f -a "rotate" -d 'Give a key a new secret and print the new token, once'
complete -c keyctl -n "__fish_keyctl_needs_command" -f -a "expire" -d 'Set when a key expires'
complete -c keyctl -n "__fish_keyctl_needs_command" -f -a "path" -d 'Replace a key\'s request-path prefixes'
complete -c keyctl -n "__fish_keyctl_needs_command" -f -a "disable" -d 'Disable a key: verify rejects it as `disabled` until `keyctl enable`'
complete -c keyctl -n "__fish_keyctl_needs_command" -f -a "enable" -d 'Enable a disabled key again'
complete -c keyctl -n "__fish_keyctl_needs_command" -f -a "delete" -d 'Revoke a key (or remove it entirely with --purge)'
complete -c keyctl -n "__fish_keyctl_needs_command" -f -a "prune" -d 'Remove keys revoked or expired more than DUR ago'
complete -c keyctl -n "__fish_keyctl_needs_command" -f -a "verify" -d 'Check a token or a whole request: exit 0 when valid, 1 when rejected (with the reason)'
complete -c keyctl -n "__fish_keyctl_needs_command" -f -a "export" -d 'Write keys with the digests verification needs, as JSON Lines, for `keyctl import`'
complete -c keyctl -n "__fish_keyctl_needs_command" -f -a "import" -d 'Add the keys of a `keyctl export`, with their ids and digests, in one transaction'
complete -c keyctl -n "__fish_keyctl_needs_command" -f -a "adopt" -d 'Take over a token another system issued: it verifies as a keyctl key from now on'
complete -c keyctl -n "__fish_keyctl_needs_command" -f -a "user" -d 'Manage users: list them, add one, set a password, remove one with all their keys'
complete -c keyctl -n "__fish_keyctl_needs_command" -f -a "log" -d 'Show the audit log: who created, rotated, changed or removed which key, and when'
complete -c keyctl -n "__fish_keyctl_needs_command" -f -a "serve" -d 'Answer HTTP verification requests: forward auth for proxies, JSON for apps'
complete -c keyctl -n "__fish_keyctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c keyctl -n "__fish_keyctl_using_subcommand create" -l user -d 'Owner of the key: 1-64 of A-Z a-z 0-9 . _ @ -' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand create" -l name -d 'Name, unique among the user\'s live keys (same alphabet as USER)' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand create" -l description -d 'Free text shown by list and show (no control characters, at most 1000 characters)' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand create" -l expire -d 'Expire after DUR: seconds (31536000) or with a unit s, m, h, d, w, y (90d)' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand create" -l expire-at -d 'Expire at TIME: RFC 3339 (2030-01-01T00:00:00Z) or a date (2030-01-01, midnight UTC)' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand create" -l path -d 'Restrict to a request-path prefix: /api (segment boundary), /api/, or =/exact; repeatable' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand create" -l prefix -d 'Token prefix: 1-16 of a-z 0-9 (for an adopted key, the prefix of the tokens a later reset issues)' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand create" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand create" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand create" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand create" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyctl -n "__fish_keyctl_using_subcommand list" -l user -d 'Only this user\'s keys' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand list" -l status -d 'Only keys with this status; repeatable' -r -f -a "active\t''
expired\t''
revoked\t''
disabled\t''"
complete -c keyctl -n "__fish_keyctl_using_subcommand list" -l expiring-within -d 'Only active keys that expire within DUR from now (14d, 12h)' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand list" -l unused-since -d 'Only keys created more than DUR ago and not used since (90d)' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand list" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand list" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand list" -l all -d 'Include revoked (deleted) keys'
complete -c keyctl -n "__fish_keyctl_using_subcommand list" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand list" -s h -l help -d 'Print help'
complete -c keyctl -n "__fish_keyctl_using_subcommand show" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand show" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand show" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand show" -s h -l help -d 'Print help'
complete -c keyctl -n "__fish_keyctl_using_subcommand reset" -l grace -d 'Keep the old token valid for DUR (300, 15m, 1h, 7d)' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand reset" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand reset" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand reset" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand reset" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyctl -n "__fish_keyctl_using_subcommand rotate" -l grace -d 'Keep the old token valid for DUR (300, 15m, 1h, 7d)' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand rotate" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand rotate" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand rotate" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand rotate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyctl -n "__fish_keyctl_using_subcommand expire" -l at -d 'Expire at TIME: RFC 3339 or YYYY-MM-DD' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand expire" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand expire" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand expire" -l never -d 'Never expire'
complete -c keyctl -n "__fish_keyctl_using_subcommand expire" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand expire" -s h -l help -d 'Print help'
complete -c keyctl -n "__fish_keyctl_using_subcommand path" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand path" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand path" -l clear -d 'Remove all prefixes (the key is then good for any path)'
complete -c keyctl -n "__fish_keyctl_using_subcommand path" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand path" -s h -l help -d 'Print help'
complete -c keyctl -n "__fish_keyctl_using_subcommand disable" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand disable" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand disable" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand disable" -s h -l help -d 'Print help'
complete -c keyctl -n "__fish_keyctl_using_subcommand enable" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand enable" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand enable" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand enable" -s h -l help -d 'Print help'
complete -c keyctl -n "__fish_keyctl_using_subcommand delete" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand delete" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand delete" -s y -l yes -d 'Do not ask for confirmation'
complete -c keyctl -n "__fish_keyctl_using_subcommand delete" -l purge -d 'Remove the key and its record entirely instead of revoking it'
complete -c keyctl -n "__fish_keyctl_using_subcommand delete" -l dry-run -d 'Say what would be done (--json: the key as it is now) and change nothing'
complete -c keyctl -n "__fish_keyctl_using_subcommand delete" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyctl -n "__fish_keyctl_using_subcommand prune" -l older-than -d 'Remove keys revoked or expired more than DUR ago (30d, 1y)' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand prune" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand prune" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand prune" -s y -l yes -d 'Do not ask for confirmation'
complete -c keyctl -n "__fish_keyctl_using_subcommand prune" -l dry-run -d 'List what would be removed and change nothing'
complete -c keyctl -n "__fish_keyctl_using_subcommand prune" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand prune" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyctl -n "__fish_keyctl_using_subcommand verify" -l path -d 'Request path to check against the key\'s prefixes (query string ignored)' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand verify" -s H -l header -d 'A request header, \'Name: value\'; repeatable' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand verify" -l url -d 'The request URL (absolute or /path?query); gives the path and query credentials' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand verify" -l basic-user -d 'Accept Basic credentials only with this username (otherwise it is ignored)' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand verify" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand verify" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand verify" -l request -d 'Read a raw HTTP/1.x request head (request line and headers) from stdin'
complete -c keyctl -n "__fish_keyctl_using_subcommand verify" -l require-tls -d 'Reject a request that did not come over https (every X-Forwarded-Proto value `https`, or without that header an https URL)'
complete -c keyctl -n "__fish_keyctl_using_subcommand verify" -l current -d 'Reject a token replaced by a reset even during its grace period (reason superseded)'
complete -c keyctl -n "__fish_keyctl_using_subcommand verify" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyctl -n "__fish_keyctl_using_subcommand export" -l user -d 'Only this user\'s keys' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand export" -s o -l output -d 'Write to a new FILE (mode 0600) instead of stdout; - is stdout' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand export" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand export" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand export" -l all -d 'Include revoked keys'
complete -c keyctl -n "__fish_keyctl_using_subcommand export" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyctl -n "__fish_keyctl_using_subcommand import" -l on-conflict -d 'What to do with a key whose id, live user/name or adopted token is in the store' -r -f -a "fail\t''
skip\t''
replace\t''"
complete -c keyctl -n "__fish_keyctl_using_subcommand import" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand import" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand import" -l dry-run -d 'Say what would be imported, skipped or replaced, and change nothing'
complete -c keyctl -n "__fish_keyctl_using_subcommand import" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand import" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyctl -n "__fish_keyctl_using_subcommand adopt" -l user -d 'Owner of the key: 1-64 of A-Z a-z 0-9 . _ @ -' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand adopt" -l name -d 'Name, unique among the user\'s live keys (same alphabet as USER)' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand adopt" -l description -d 'Free text shown by list and show (no control characters, at most 1000 characters)' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand adopt" -l expire -d 'Expire after DUR: seconds (31536000) or with a unit s, m, h, d, w, y (90d)' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand adopt" -l expire-at -d 'Expire at TIME: RFC 3339 (2030-01-01T00:00:00Z) or a date (2030-01-01, midnight UTC)' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand adopt" -l path -d 'Restrict to a request-path prefix: /api (segment boundary), /api/, or =/exact; repeatable' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand adopt" -l prefix -d 'Token prefix: 1-16 of a-z 0-9 (for an adopted key, the prefix of the tokens a later reset issues)' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand adopt" -l digest -d 'Adopt by digest, without the token: sha256: and the 64 hex digits of its SHA-256' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand adopt" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand adopt" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand adopt" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand adopt" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and not __fish_seen_subcommand_from list add passwd remove help" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and not __fish_seen_subcommand_from list add passwd remove help" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and not __fish_seen_subcommand_from list add passwd remove help" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and not __fish_seen_subcommand_from list add passwd remove help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and not __fish_seen_subcommand_from list add passwd remove help" -f -a "list" -d 'List users, with their keys counted by status and whether a password is set'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and not __fish_seen_subcommand_from list add passwd remove help" -f -a "add" -d 'Add a user (create also adds one); --service for a user that never logs in'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and not __fish_seen_subcommand_from list add passwd remove help" -f -a "passwd" -d 'Set or clear a user\'s password (kept only as an argon2id hash)'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and not __fish_seen_subcommand_from list add passwd remove help" -f -a "remove" -d 'Revoke (or purge) all of a user\'s keys in one transaction, and remove the user'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and not __fish_seen_subcommand_from list add passwd remove help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from list" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from list" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from list" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from add" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from add" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from add" -l service -d 'A service user: it can never have a password, so it never logs in over HTTP'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from add" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l password-stdin -d 'Read the password from the first line of stdin'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l clear -d 'Remove the password: the user can no longer log in over HTTP'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from passwd" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from remove" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from remove" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from remove" -l purge -d 'Remove the keys and the user entirely instead of revoking the keys'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from remove" -s y -l yes -d 'Do not ask for confirmation'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from remove" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "list" -d 'List users, with their keys counted by status and whether a password is set'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add a user (create also adds one); --service for a user that never logs in'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "passwd" -d 'Set or clear a user\'s password (kept only as an argon2id hash)'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Revoke (or purge) all of a user\'s keys in one transaction, and remove the user'
complete -c keyctl -n "__fish_keyctl_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c keyctl -n "__fish_keyctl_using_subcommand log" -l user -d 'Only events about this user\'s keys or account' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand log" -l action -d 'Only events of this action' -r -f -a "create\t''
adopt\t''
reset\t''
expire\t''
path\t''
disable\t''
enable\t''
delete\t''
purge\t''
prune\t''
undo\t''
user_add\t''
user_remove\t''
user_passwd\t''
login\t''
import\t''"
complete -c keyctl -n "__fish_keyctl_using_subcommand log" -l since -d 'Only events since DUR ago (30d) or since TIME (RFC 3339 or YYYY-MM-DD)' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand log" -l expect-head -d 'With --check, also require this head hash (64 hex digits)' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand log" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand log" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand log" -l check -d 'Walk the hash chain: print the number of events and the head hash'
complete -c keyctl -n "__fish_keyctl_using_subcommand log" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand log" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyctl -n "__fish_keyctl_using_subcommand serve" -l listen -d 'Where to listen: HOST:PORT (port 0 picks one) or unix:PATH (mode 0660); repeatable' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand serve" -l challenge -d 'What a 401 asks for: bearer (WWW-Authenticate: Bearer, no browser dialog), basic, none' -r -f -a "bearer\t''
basic\t''
none\t''"
complete -c keyctl -n "__fish_keyctl_using_subcommand serve" -l max-expire -d 'The longest a key made over HTTP may live (a login asking for longer gets this)' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand serve" -l max-connections -d 'Connections served at once; more wait until one closes' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand serve" -l db -d 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]' -r -F
complete -c keyctl -n "__fish_keyctl_using_subcommand serve" -l actor -d 'Who the audit log names for this command\'s changes [env: KEYCTL_ACTOR] [default: your user name]' -r
complete -c keyctl -n "__fish_keyctl_using_subcommand serve" -l require-tls -d 'Reject forward-auth requests unless every X-Forwarded-Proto value is https (403)'
complete -c keyctl -n "__fish_keyctl_using_subcommand serve" -l access-log -d 'Log one line per request on stderr (credentials in query strings are redacted)'
complete -c keyctl -n "__fish_keyctl_using_subcommand serve" -l self-service -d 'Serve self-service endpoints: POST /v1/authkeys (a key for a user and password, over HTTPS only) and /v1/user/keys, /v1/user (a user\'s own keys)'
complete -c keyctl -n "__fish_keyctl_using_subcommand serve" -l json -d 'Print JSON on stdout instead of text'
complete -c keyctl -n "__fish_keyctl_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and not __fish_seen_subcommand_from create list show reset expire path disable enable delete prune verify export import adopt user log serve help" -f -a "create" -d 'Create a key and print its token, once'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and not __fish_seen_subcommand_from create list show reset expire path disable enable delete prune verify export import adopt user log serve help" -f -a "list" -d 'List keys (live ones, oldest first), never their secrets'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and not __fish_seen_subcommand_from create list show reset expire path disable enable delete prune verify export import adopt user log serve help" -f -a "show" -d 'Show one key, never its secret'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and not __fish_seen_subcommand_from create list show reset expire path disable enable delete prune verify export import adopt user log serve help" -f -a "reset" -d 'Give a key a new secret and print the new token, once'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and not __fish_seen_subcommand_from create list show reset expire path disable enable delete prune verify export import adopt user log serve help" -f -a "expire" -d 'Set when a key expires'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and not __fish_seen_subcommand_from create list show reset expire path disable enable delete prune verify export import adopt user log serve help" -f -a "path" -d 'Replace a key\'s request-path prefixes'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and not __fish_seen_subcommand_from create list show reset expire path disable enable delete prune verify export import adopt user log serve help" -f -a "disable" -d 'Disable a key: verify rejects it as `disabled` until `keyctl enable`'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and not __fish_seen_subcommand_from create list show reset expire path disable enable delete prune verify export import adopt user log serve help" -f -a "enable" -d 'Enable a disabled key again'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and not __fish_seen_subcommand_from create list show reset expire path disable enable delete prune verify export import adopt user log serve help" -f -a "delete" -d 'Revoke a key (or remove it entirely with --purge)'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and not __fish_seen_subcommand_from create list show reset expire path disable enable delete prune verify export import adopt user log serve help" -f -a "prune" -d 'Remove keys revoked or expired more than DUR ago'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and not __fish_seen_subcommand_from create list show reset expire path disable enable delete prune verify export import adopt user log serve help" -f -a "verify" -d 'Check a token or a whole request: exit 0 when valid, 1 when rejected (with the reason)'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and not __fish_seen_subcommand_from create list show reset expire path disable enable delete prune verify export import adopt user log serve help" -f -a "export" -d 'Write keys with the digests verification needs, as JSON Lines, for `keyctl import`'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and not __fish_seen_subcommand_from create list show reset expire path disable enable delete prune verify export import adopt user log serve help" -f -a "import" -d 'Add the keys of a `keyctl export`, with their ids and digests, in one transaction'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and not __fish_seen_subcommand_from create list show reset expire path disable enable delete prune verify export import adopt user log serve help" -f -a "adopt" -d 'Take over a token another system issued: it verifies as a keyctl key from now on'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and not __fish_seen_subcommand_from create list show reset expire path disable enable delete prune verify export import adopt user log serve help" -f -a "user" -d 'Manage users: list them, add one, set a password, remove one with all their keys'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and not __fish_seen_subcommand_from create list show reset expire path disable enable delete prune verify export import adopt user log serve help" -f -a "log" -d 'Show the audit log: who created, rotated, changed or removed which key, and when'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and not __fish_seen_subcommand_from create list show reset expire path disable enable delete prune verify export import adopt user log serve help" -f -a "serve" -d 'Answer HTTP verification requests: forward auth for proxies, JSON for apps'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and not __fish_seen_subcommand_from create list show reset expire path disable enable delete prune verify export import adopt user log serve help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "list" -d 'List users, with their keys counted by status and whether a password is set'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "add" -d 'Add a user (create also adds one); --service for a user that never logs in'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "passwd" -d 'Set or clear a user\'s password (kept only as an argon2id hash)'
complete -c keyctl -n "__fish_keyctl_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "remove" -d 'Revoke (or purge) all of a user\'s keys in one transaction, and remove the user'
