
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'keyctl' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'keyctl'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'keyctl' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a key and print its token, once')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List keys (live ones, oldest first), never their secrets')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one key, never its secret')
            [CompletionResult]::new('reset', 'reset', [CompletionResultType]::ParameterValue, 'Give a key a new secret and print the new token, once')
            [CompletionResult]::new('rotate', 'rotate', [CompletionResultType]::ParameterValue, 'Give a key a new secret and print the new token, once')
            [CompletionResult]::new('expire', 'expire', [CompletionResultType]::ParameterValue, 'Set when a key expires')
            [CompletionResult]::new('path', 'path', [CompletionResultType]::ParameterValue, 'Replace a key''s request-path prefixes')
            [CompletionResult]::new('disable', 'disable', [CompletionResultType]::ParameterValue, 'Disable a key: verify rejects it as `disabled` until `keyctl enable`')
            [CompletionResult]::new('enable', 'enable', [CompletionResultType]::ParameterValue, 'Enable a disabled key again')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Revoke a key (or remove it entirely with --purge)')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Remove keys revoked or expired more than DUR ago')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check a token or a whole request: exit 0 when valid, 1 when rejected (with the reason)')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Write keys with the digests verification needs, as JSON Lines, for `keyctl import`')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Add the keys of a `keyctl export`, with their ids and digests, in one transaction')
            [CompletionResult]::new('adopt', 'adopt', [CompletionResultType]::ParameterValue, 'Take over a token another system issued: it verifies as a keyctl key from now on')
            [CompletionResult]::new('user', 'user', [CompletionResultType]::ParameterValue, 'Manage users: list them, add one, set a password, remove one with all their keys')
            [CompletionResult]::new('log', 'log', [CompletionResultType]::ParameterValue, 'Show the audit log: who created, rotated, changed or removed which key, and when')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Answer HTTP verification requests: forward auth for proxies, JSON for apps')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'keyctl;create' {
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Owner of the key: 1-64 of A-Z a-z 0-9 . _ @ -')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Name, unique among the user''s live keys (same alphabet as USER)')
            [CompletionResult]::new('--description', '--description', [CompletionResultType]::ParameterName, 'Free text shown by list and show (no control characters, at most 1000 characters)')
            [CompletionResult]::new('--expire', '--expire', [CompletionResultType]::ParameterName, 'Expire after DUR: seconds (31536000) or with a unit s, m, h, d, w, y (90d)')
            [CompletionResult]::new('--expire-at', '--expire-at', [CompletionResultType]::ParameterName, 'Expire at TIME: RFC 3339 (2030-01-01T00:00:00Z) or a date (2030-01-01, midnight UTC)')
            [CompletionResult]::new('--path', '--path', [CompletionResultType]::ParameterName, 'Restrict to a request-path prefix: /api (segment boundary), /api/, or =/exact; repeatable')
            [CompletionResult]::new('--prefix', '--prefix', [CompletionResultType]::ParameterName, 'Token prefix: 1-16 of a-z 0-9 (for an adopted key, the prefix of the tokens a later reset issues)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'keyctl;list' {
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Only this user''s keys')
            [CompletionResult]::new('--status', '--status', [CompletionResultType]::ParameterName, 'Only keys with this status; repeatable')
            [CompletionResult]::new('--expiring-within', '--expiring-within', [CompletionResultType]::ParameterName, 'Only active keys that expire within DUR from now (14d, 12h)')
            [CompletionResult]::new('--unused-since', '--unused-since', [CompletionResultType]::ParameterName, 'Only keys created more than DUR ago and not used since (90d)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Include revoked (deleted) keys')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'keyctl;show' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'keyctl;reset' {
            [CompletionResult]::new('--grace', '--grace', [CompletionResultType]::ParameterName, 'Keep the old token valid for DUR (300, 15m, 1h, 7d)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'keyctl;rotate' {
            [CompletionResult]::new('--grace', '--grace', [CompletionResultType]::ParameterName, 'Keep the old token valid for DUR (300, 15m, 1h, 7d)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'keyctl;expire' {
            [CompletionResult]::new('--at', '--at', [CompletionResultType]::ParameterName, 'Expire at TIME: RFC 3339 or YYYY-MM-DD')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--never', '--never', [CompletionResultType]::ParameterName, 'Never expire')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'keyctl;path' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--clear', '--clear', [CompletionResultType]::ParameterName, 'Remove all prefixes (the key is then good for any path)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'keyctl;disable' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'keyctl;enable' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'keyctl;delete' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--purge', '--purge', [CompletionResultType]::ParameterName, 'Remove the key and its record entirely instead of revoking it')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Say what would be done (--json: the key as it is now) and change nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'keyctl;prune' {
            [CompletionResult]::new('--older-than', '--older-than', [CompletionResultType]::ParameterName, 'Remove keys revoked or expired more than DUR ago (30d, 1y)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'List what would be removed and change nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'keyctl;verify' {
            [CompletionResult]::new('--path', '--path', [CompletionResultType]::ParameterName, 'Request path to check against the key''s prefixes (query string ignored)')
            [CompletionResult]::new('-H', '-H ', [CompletionResultType]::ParameterName, 'A request header, ''Name: value''; repeatable')
            [CompletionResult]::new('--header', '--header', [CompletionResultType]::ParameterName, 'A request header, ''Name: value''; repeatable')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'The request URL (absolute or /path?query); gives the path and query credentials')
            [CompletionResult]::new('--basic-user', '--basic-user', [CompletionResultType]::ParameterName, 'Accept Basic credentials only with this username (otherwise it is ignored)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--request', '--request', [CompletionResultType]::ParameterName, 'Read a raw HTTP/1.x request head (request line and headers) from stdin')
            [CompletionResult]::new('--require-tls', '--require-tls', [CompletionResultType]::ParameterName, 'Reject a request that did not come over https (every X-Forwarded-Proto value `https`, or without that header an https URL)')
            [CompletionResult]::new('--current', '--current', [CompletionResultType]::ParameterName, 'Reject a token replaced by a reset even during its grace period (reason superseded)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'keyctl;export' {
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Only this user''s keys')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Write to a new FILE (mode 0600) instead of stdout; - is stdout')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Write to a new FILE (mode 0600) instead of stdout; - is stdout')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Include revoked keys')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'keyctl;import' {
            [CompletionResult]::new('--on-conflict', '--on-conflict', [CompletionResultType]::ParameterName, 'What to do with a key whose id, live user/name or adopted token is in the store')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Say what would be imported, skipped or replaced, and change nothing')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'keyctl;adopt' {
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Owner of the key: 1-64 of A-Z a-z 0-9 . _ @ -')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Name, unique among the user''s live keys (same alphabet as USER)')
            [CompletionResult]::new('--description', '--description', [CompletionResultType]::ParameterName, 'Free text shown by list and show (no control characters, at most 1000 characters)')
            [CompletionResult]::new('--expire', '--expire', [CompletionResultType]::ParameterName, 'Expire after DUR: seconds (31536000) or with a unit s, m, h, d, w, y (90d)')
            [CompletionResult]::new('--expire-at', '--expire-at', [CompletionResultType]::ParameterName, 'Expire at TIME: RFC 3339 (2030-01-01T00:00:00Z) or a date (2030-01-01, midnight UTC)')
            [CompletionResult]::new('--path', '--path', [CompletionResultType]::ParameterName, 'Restrict to a request-path prefix: /api (segment boundary), /api/, or =/exact; repeatable')
            [CompletionResult]::new('--prefix', '--prefix', [CompletionResultType]::ParameterName, 'Token prefix: 1-16 of a-z 0-9 (for an adopted key, the prefix of the tokens a later reset issues)')
            [CompletionResult]::new('--digest', '--digest', [CompletionResultType]::ParameterName, 'Adopt by digest, without the token: sha256: and the 64 hex digits of its SHA-256')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'keyctl;user' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List users, with their keys counted by status and whether a password is set')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add a user (create also adds one); --service for a user that never logs in')
            [CompletionResult]::new('passwd', 'passwd', [CompletionResultType]::ParameterValue, 'Set or clear a user''s password (kept only as an argon2id hash)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Revoke (or purge) all of a user''s keys in one transaction, and remove the user')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'keyctl;user;list' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'keyctl;user;add' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--service', '--service', [CompletionResultType]::ParameterName, 'A service user: it can never have a password, so it never logs in over HTTP')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'keyctl;user;passwd' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--password-stdin', '--password-stdin', [CompletionResultType]::ParameterName, 'Read the password from the first line of stdin')
            [CompletionResult]::new('--clear', '--clear', [CompletionResultType]::ParameterName, 'Remove the password: the user can no longer log in over HTTP')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'keyctl;user;remove' {
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--purge', '--purge', [CompletionResultType]::ParameterName, 'Remove the keys and the user entirely instead of revoking the keys')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'keyctl;user;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List users, with their keys counted by status and whether a password is set')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add a user (create also adds one); --service for a user that never logs in')
            [CompletionResult]::new('passwd', 'passwd', [CompletionResultType]::ParameterValue, 'Set or clear a user''s password (kept only as an argon2id hash)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Revoke (or purge) all of a user''s keys in one transaction, and remove the user')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'keyctl;user;help;list' {
            break
        }
        'keyctl;user;help;add' {
            break
        }
        'keyctl;user;help;passwd' {
            break
        }
        'keyctl;user;help;remove' {
            break
        }
        'keyctl;user;help;help' {
            break
        }
        'keyctl;log' {
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'Only events about this user''s keys or account')
            [CompletionResult]::new('--action', '--action', [CompletionResultType]::ParameterName, 'Only events of this action')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Only events since DUR ago (30d) or since TIME (RFC 3339 or YYYY-MM-DD)')
            [CompletionResult]::new('--expect-head', '--expect-head', [CompletionResultType]::ParameterName, 'With --check, also require this head hash (64 hex digits)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--check', '--check', [CompletionResultType]::ParameterName, 'Walk the hash chain: print the number of events and the head hash')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'keyctl;serve' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Where to listen: HOST:PORT (port 0 picks one) or unix:PATH (mode 0660); repeatable')
            [CompletionResult]::new('--challenge', '--challenge', [CompletionResultType]::ParameterName, 'What a 401 asks for: bearer (WWW-Authenticate: Bearer, no browser dialog), basic, none')
            [CompletionResult]::new('--max-expire', '--max-expire', [CompletionResultType]::ParameterName, 'The longest a key made over HTTP may live (a login asking for longer gets this)')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Connections served at once; more wait until one closes')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'Key store: a file, or a PostgreSQL database (postgresql://USER@HOST:PORT/DB, with the postgres feature) [env: KEYCTL_DB] [default: $XDG_DATA_HOME/keyctl/keys.db]')
            [CompletionResult]::new('--actor', '--actor', [CompletionResultType]::ParameterName, 'Who the audit log names for this command''s changes [env: KEYCTL_ACTOR] [default: your user name]')
            [CompletionResult]::new('--require-tls', '--require-tls', [CompletionResultType]::ParameterName, 'Reject forward-auth requests unless every X-Forwarded-Proto value is https (403)')
            [CompletionResult]::new('--access-log', '--access-log', [CompletionResultType]::ParameterName, 'Log one line per request on stderr (credentials in query strings are redacted)')
            [CompletionResult]::new('--self-service', '--self-service', [CompletionResultType]::ParameterName, 'Serve self-service endpoints: POST /v1/authkeys (a key for a user and password, over HTTPS only) and /v1/user/keys, /v1/user (a user''s own keys)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON on stdout instead of text')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'keyctl;help' {
            [CompletionResult]::new('create', 'create', [CompletionResultType]::ParameterValue, 'Create a key and print its token, once')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List keys (live ones, oldest first), never their secrets')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Show one key, never its secret')
            [CompletionResult]::new('reset', 'reset', [CompletionResultType]::ParameterValue, 'Give a key a new secret and print the new token, once')
            [CompletionResult]::new('expire', 'expire', [CompletionResultType]::ParameterValue, 'Set when a key expires')
            [CompletionResult]::new('path', 'path', [CompletionResultType]::ParameterValue, 'Replace a key''s request-path prefixes')
            [CompletionResult]::new('disable', 'disable', [CompletionResultType]::ParameterValue, 'Disable a key: verify rejects it as `disabled` until `keyctl enable`')
            [CompletionResult]::new('enable', 'enable', [CompletionResultType]::ParameterValue, 'Enable a disabled key again')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Revoke a key (or remove it entirely with --purge)')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Remove keys revoked or expired more than DUR ago')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Check a token or a whole request: exit 0 when valid, 1 when rejected (with the reason)')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Write keys with the digests verification needs, as JSON Lines, for `keyctl import`')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Add the keys of a `keyctl export`, with their ids and digests, in one transaction')
            [CompletionResult]::new('adopt', 'adopt', [CompletionResultType]::ParameterValue, 'Take over a token another system issued: it verifies as a keyctl key from now on')
            [CompletionResult]::new('user', 'user', [CompletionResultType]::ParameterValue, 'Manage users: list them, add one, set a password, remove one with all their keys')
            [CompletionResult]::new('log', 'log', [CompletionResultType]::ParameterValue, 'Show the audit log: who created, rotated, changed or removed which key, and when')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Answer HTTP verification requests: forward auth for proxies, JSON for apps')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'keyctl;help;create' {
            break
        }
        'keyctl;help;list' {
            break
        }
        'keyctl;help;show' {
            break
        }
        'keyctl;help;reset' {
            break
        }
        'keyctl;help;expire' {
            break
        }
        'keyctl;help;path' {
            break
        }
        'keyctl;help;disable' {
            break
        }
        'keyctl;help;enable' {
            break
        }
        'keyctl;help;delete' {
            break
        }
        'keyctl;help;prune' {
            break
        }
        'keyctl;help;verify' {
            break
        }
        'keyctl;help;export' {
            break
        }
        'keyctl;help;import' {
            break
        }
        'keyctl;help;adopt' {
            break
        }
        'keyctl;help;user' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List users, with their keys counted by status and whether a password is set')
            [CompletionResult]::new('add', 'add', [CompletionResultType]::ParameterValue, 'Add a user (create also adds one); --service for a user that never logs in')
            [CompletionResult]::new('passwd', 'passwd', [CompletionResultType]::ParameterValue, 'Set or clear a user''s password (kept only as an argon2id hash)')
            [CompletionResult]::new('remove', 'remove', [CompletionResultType]::ParameterValue, 'Revoke (or purge) all of a user''s keys in one transaction, and remove the user')
            break
        }
        'keyctl;help;user;list' {
            break
        }
        'keyctl;help;user;add' {
            break
        }
        'keyctl;help;user;passwd' {
            break
        }
        'keyctl;help;user;remove' {
            break
        }
        'keyctl;help;log' {
            break
        }
        'keyctl;help;serve' {
            break
        }
        'keyctl;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
