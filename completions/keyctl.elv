
use builtin;
use str;

set edit:completion:arg-completer[keyctl] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'keyctl'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'keyctl'= {
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand create 'Create a key and print its token, once'
            cand list 'List keys (live ones, oldest first), never their secrets'
            cand show 'Show one key, never its secret'
            cand reset 'Give a key a new secret and print the new token, once'
            cand rotate 'Give a key a new secret and print the new token, once'
            cand expire 'Set when a key expires'
            cand path 'Replace a key''s request-path prefixes'
            cand disable 'Disable a key: verify rejects it as `disabled` until `keyctl enable`'
            cand enable 'Enable a disabled key again'
            cand delete 'Revoke a key (or remove it entirely with --purge)'
            cand prune 'Remove keys revoked or expired more than DUR ago'
            cand verify 'Check a token or a whole request: exit 0 when valid, 1 when rejected (with the reason)'
            cand export 'Write keys with the digests verification needs, as JSON Lines, for `keyctl import`'
            cand import 'Add the keys of a `keyctl export`, with their ids and digests, in one transaction'
            cand adopt 'Take over a token another system issued: it verifies as a keyctl key from now on'
            cand user 'Manage users: list them, add one, set a password, remove one with all their keys'
            cand log 'Show the audit log: who created, rotated, changed or removed which key, and when'
            cand serve 'Answer HTTP verification requests: forward auth for proxies, JSON for apps'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'keyctl;create'= {
            cand --user 'Owner of the key: 1-64 of A-Z a-z 0-9 . _ @ -'
            cand --name 'Name, unique among the user''s live keys (same alphabet as USER)'
            cand --description 'Free text shown by list and show (no control characters, at most 1000 characters)'
            cand --expire 'Expire after DUR: seconds (31536000) or with a unit s, m, h, d, w, y (90d)'
            cand --expire-at 'Expire at TIME: RFC 3339 (2030-01-01T00:00:00Z) or a date (2030-01-01, midnight UTC)'
            cand --path 'Restrict to a request-path prefix: /api (segment boundary), /api/, or =/exact; repeatable'
            cand --prefix 'Token prefix: 1-16 of a-z 0-9 (for an adopted key, the prefix of the tokens a later reset issues)'
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'keyctl;list'= {
            cand --user 'Only this user''s keys'
            cand --status 'Only keys with this status; repeatable'
            cand --expiring-within 'Only active keys that expire within DUR from now (14d, 12h)'
            cand --unused-since 'Only keys created more than DUR ago and not used since (90d)'
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --all 'Include revoked (deleted) keys'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'keyctl;show'= {
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'keyctl;reset'= {
            cand --grace 'Keep the old token valid for DUR (300, 15m, 1h, 7d)'
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'keyctl;rotate'= {
            cand --grace 'Keep the old token valid for DUR (300, 15m, 1h, 7d)'
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'keyctl;expire'= {
            cand --at 'Expire at TIME: RFC 3339 or YYYY-MM-DD'
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --never 'Never expire'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'keyctl;path'= {
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --clear 'Remove all prefixes (the key is then good for any path)'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'keyctl;disable'= {
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'keyctl;enable'= {
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'keyctl;delete'= {
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand -y 'Do not ask for confirmation'
            cand --yes 'Do not ask for confirmation'
            cand --purge 'Remove the key and its record entirely instead of revoking it'
            cand --dry-run 'Say what would be done (--json: the key as it is now) and change nothing'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'keyctl;prune'= {
            cand --older-than 'Remove keys revoked or expired more than DUR ago (30d, 1y)'
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand -y 'Do not ask for confirmation'
            cand --yes 'Do not ask for confirmation'
            cand --dry-run 'List what would be removed and change nothing'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'keyctl;verify'= {
            cand --path 'Request path to check against the key''s prefixes (query string ignored)'
            cand -H 'A request header, ''Name: value''; repeatable'
            cand --header 'A request header, ''Name: value''; repeatable'
            cand --url 'The request URL (absolute or /path?query); gives the path and query credentials'
            cand --basic-user 'Accept Basic credentials only with this username (otherwise it is ignored)'
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --request 'Read a raw HTTP/1.x request head (request line and headers) from stdin'
            cand --require-tls 'Reject a request that did not come over https (every X-Forwarded-Proto value `https`, or without that header an https URL)'
            cand --current 'Reject a token replaced by a reset even during its grace period (reason superseded)'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'keyctl;export'= {
            cand --user 'Only this user''s keys'
            cand -o 'Write to a new FILE (mode 0600) instead of stdout; - is stdout'
            cand --output 'Write to a new FILE (mode 0600) instead of stdout; - is stdout'
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --all 'Include revoked keys'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'keyctl;import'= {
            cand --on-conflict 'What to do with a key whose id, live user/name or adopted token is in the store'
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --dry-run 'Say what would be imported, skipped or replaced, and change nothing'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'keyctl;adopt'= {
            cand --user 'Owner of the key: 1-64 of A-Z a-z 0-9 . _ @ -'
            cand --name 'Name, unique among the user''s live keys (same alphabet as USER)'
            cand --description 'Free text shown by list and show (no control characters, at most 1000 characters)'
            cand --expire 'Expire after DUR: seconds (31536000) or with a unit s, m, h, d, w, y (90d)'
            cand --expire-at 'Expire at TIME: RFC 3339 (2030-01-01T00:00:00Z) or a date (2030-01-01, midnight UTC)'
            cand --path 'Restrict to a request-path prefix: /api (segment boundary), /api/, or =/exact; repeatable'
            cand --prefix 'Token prefix: 1-16 of a-z 0-9 (for an adopted key, the prefix of the tokens a later reset issues)'
            cand --digest 'Adopt by digest, without the token: sha256: and the 64 hex digits of its SHA-256'
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'keyctl;user'= {
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand list 'List users, with their keys counted by status and whether a password is set'
            cand add 'Add a user (create also adds one); --service for a user that never logs in'
            cand passwd 'Set or clear a user''s password (kept only as an argon2id hash)'
            cand remove 'Revoke (or purge) all of a user''s keys in one transaction, and remove the user'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'keyctl;user;list'= {
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'keyctl;user;add'= {
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --service 'A service user: it can never have a password, so it never logs in over HTTP'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'keyctl;user;passwd'= {
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --password-stdin 'Read the password from the first line of stdin'
            cand --clear 'Remove the password: the user can no longer log in over HTTP'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'keyctl;user;remove'= {
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --purge 'Remove the keys and the user entirely instead of revoking the keys'
            cand -y 'Do not ask for confirmation'
            cand --yes 'Do not ask for confirmation'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'keyctl;user;help'= {
            cand list 'List users, with their keys counted by status and whether a password is set'
            cand add 'Add a user (create also adds one); --service for a user that never logs in'
            cand passwd 'Set or clear a user''s password (kept only as an argon2id hash)'
            cand remove 'Revoke (or purge) all of a user''s keys in one transaction, and remove the user'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'keyctl;user;help;list'= {
        }
        &'keyctl;user;help;add'= {
        }
        &'keyctl;user;help;passwd'= {
        }
        &'keyctl;user;help;remove'= {
        }
        &'keyctl;user;help;help'= {
        }
        &'keyctl;log'= {
            cand --user 'Only events about this user''s keys or account'
            cand --action 'Only events of this action'
            cand --since 'Only events since DUR ago (30d) or since TIME (RFC 3339 or YYYY-MM-DD)'
            cand --expect-head 'With --check, also require this head hash (64 hex digits)'
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --check 'Walk the hash chain: print the number of events and the head hash'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'keyctl;serve'= {
            cand --listen 'Where to listen: HOST:PORT (port 0 picks one) or unix:PATH (mode 0660); repeatable'
            cand --challenge 'What a 401 asks for: bearer (WWW-Authenticate: Bearer, no browser dialog), basic, none'
            cand --max-expire 'The longest a key made over HTTP may live (a login asking for longer gets this)'
            cand --max-connections 'Connections served at once; more wait until one closes'
            cand --db 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]'
            cand --actor 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]'
            cand --require-tls 'Reject forward-auth requests unless every X-Forwarded-Proto value is https (403)'
            cand --access-log 'Log one line per request on stderr (credentials in query strings are redacted)'
            cand --self-service 'Serve self-service endpoints: POST /v1/authkeys (a key for a user and password, over HTTPS only) and /v1/user/keys, /v1/user (a user''s own keys)'
            cand --json 'Print JSON on stdout instead of text'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'keyctl;help'= {
            cand create 'Create a key and print its token, once'
            cand list 'List keys (live ones, oldest first), never their secrets'
            cand show 'Show one key, never its secret'
            cand reset 'Give a key a new secret and print the new token, once'
            cand expire 'Set when a key expires'
            cand path 'Replace a key''s request-path prefixes'
            cand disable 'Disable a key: verify rejects it as `disabled` until `keyctl enable`'
            cand enable 'Enable a disabled key again'
            cand delete 'Revoke a key (or remove it entirely with --purge)'
            cand prune 'Remove keys revoked or expired more than DUR ago'
            cand verify 'Check a token or a whole request: exit 0 when valid, 1 when rejected (with the reason)'
            cand export 'Write keys with the digests verification needs, as JSON Lines, for `keyctl import`'
            cand import 'Add the keys of a `keyctl export`, with their ids and digests, in one transaction'
            cand adopt 'Take over a token another system issued: it verifies as a keyctl key from now on'
            cand user 'Manage users: list them, add one, set a password, remove one with all their keys'
            cand log 'Show the audit log: who created, rotated, changed or removed which key, and when'
            cand serve 'Answer HTTP verification requests: forward auth for proxies, JSON for apps'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'keyctl;help;create'= {
        }
        &'keyctl;help;list'= {
        }
        &'keyctl;help;show'= {
        }
        &'keyctl;help;reset'= {
        }
        &'keyctl;help;expire'= {
        }
        &'keyctl;help;path'= {
        }
        &'keyctl;help;disable'= {
        }
        &'keyctl;help;enable'= {
        }
        &'keyctl;help;delete'= {
        }
        &'keyctl;help;prune'= {
        }
        &'keyctl;help;verify'= {
        }
        &'keyctl;help;export'= {
        }
        &'keyctl;help;import'= {
        }
        &'keyctl;help;adopt'= {
        }
        &'keyctl;help;user'= {
            cand list 'List users, with their keys counted by status and whether a password is set'
            cand add 'Add a user (create also adds one); --service for a user that never logs in'
            cand passwd 'Set or clear a user''s password (kept only as an argon2id hash)'
            cand remove 'Revoke (or purge) all of a user''s keys in one transaction, and remove the user'
        }
        &'keyctl;help;user;list'= {
        }
        &'keyctl;help;user;add'= {
        }
        &'keyctl;help;user;passwd'= {
        }
        &'keyctl;help;user;remove'= {
        }
        &'keyctl;help;log'= {
        }
        &'keyctl;help;serve'= {
        }
        &'keyctl;help;help'= {
        }
    ]
    $completions[$command]
}
