#!/usr/bin/env bash
# Benchmarks for the PostgreSQL store, each beside its baseline in the same run, on a local
# throwaway cluster (BENCHMARKS.md, "A shared store on PostgreSQL"):
#
#   bench/pg.sh     build (release, --features postgres), start a cluster, measure, print
#
# Not a test. Takes about 10 minutes on 2 cores, most of it the release build. Needs
# Debian's postgresql (initdb, pg_ctl, psql), hyperfine, wrk and python3. Environment:
#   RUNS       hyperfine runs per command (default 200)
#   SECONDS_WRK  seconds of each wrk run (default 10)
#   REVOKES    revocations timed across two serve instances (default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUNS=${RUNS:-200}
SECONDS_WRK=${SECONDS_WRK:-10}
REVOKES=${REVOKES:-200}

missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
command -v wrk >/dev/null || missing+=(wrk)
command -v psql >/dev/null || missing+=(postgresql-client)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

cargo build --release --features postgres --target-dir target/pg-bench
KEYCTL=$ROOT/target/pg-bench/release/keyctl

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  as_pg "$BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then setpriv --reuid=postgres --regid=postgres --clear-groups -- "$@"; else "$@"; fi
}
[ "$(id -u)" -ne 0 ] || chown postgres: "$WORK"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$BIN/initdb" -A trust -U postgres -D "$WORK/data" >/dev/null
cat >>"$WORK/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$WORK'
EOF
as_pg "$BIN/pg_ctl" -w -D "$WORK/data" -l "$WORK/log" start >/dev/null
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres PGDATABASE=bench
psql -d postgres -qAtc 'CREATE DATABASE bench'
URL="postgresql://postgres@127.0.0.1:$PORT/bench?sslmode=disable"
SQLITE=$WORK/keys.db
TOKEN=$("$KEYCTL" --db "$URL" create --user bench 2>/dev/null)
STOKEN=$("$KEYCTL" --db "$SQLITE" create --user bench 2>/dev/null)
# A table shaped like keyctl.keys, with the same indexes, for psql's comparable insert.
psql -qAtc 'CREATE TABLE bench_keys (LIKE keyctl.keys INCLUDING ALL)'

echo "## one-shot verify and create (hyperfine, $RUNS runs each)"
hyperfine -N -w 20 -r "$RUNS" --export-json "$WORK/verify.json" \
  -n "keyctl verify (PostgreSQL)" "$KEYCTL --db $URL verify $TOKEN" \
  -n "psql -Atc 'select 1'" "psql -Atc 'select 1'" >/dev/null
hyperfine -N -w 20 -r "$RUNS" --export-json "$WORK/create.json" \
  -n "keyctl create (PostgreSQL)" "$KEYCTL --db $URL create --user bench" \
  -n "psql insert" "psql -Atc \"INSERT INTO bench_keys(id, user_id, prefix, digest, created, updated) VALUES (md5(random()::text), 1, 'kc', sha256(random()::text::bytea), 0, 0)\"" >/dev/null
python3 - "$WORK/verify.json" "$WORK/create.json" <<'EOF'
import json, sys
for path in sys.argv[1:]:
    r = json.load(open(path))["results"]
    ms = lambda x: sorted(x["times"])[len(x["times"]) // 2] * 1000
    for x in r:
        print(f"  {x['command']:32} median {ms(x):6.2f} ms  mean {x['mean']*1000:6.2f} ms")
    print(f"  ratio (median): {ms(r[0]) / ms(r[1]):.2f}x")
EOF

echo "## serve /auth, cache warm (wrk -t2 -c16, ${SECONDS_WRK}s each)"
serve() { # db token port -> starts serve, records its pid
  "$KEYCTL" --db "$1" serve --listen "127.0.0.1:$3" 2>>"$WORK/serve.log" &
  PIDS+=($!)
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$3/healthz" && break; sleep 0.05; done
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1=$(free_port); serve "$SQLITE" "$STOKEN" "$P1"
P2=$(free_port); serve "$URL" "$TOKEN" "$P2"
rps() { # port token
  wrk -t2 -c16 -d2s -H "Authorization: Bearer $2" -H "X-Original-URI: /" "http://127.0.0.1:$1/auth" >/dev/null
  wrk -t2 -c16 -d"${SECONDS_WRK}s" -H "Authorization: Bearer $2" -H "X-Original-URI: /" "http://127.0.0.1:$1/auth" \
    | awk '/Requests\/sec/ {print $2} /Non-2xx/ {print "non-2xx " $0 > "/dev/stderr"}'
}
S=$(rps "$P1" "$STOKEN"); P=$(rps "$P2" "$TOKEN")
echo "  serve on SQLite:     $S requests/s"
echo "  serve on PostgreSQL: $P requests/s"
python3 -c "print(f'  ratio: {float(\"$P\") / float(\"$S\"):.2f}x')"

echo "## revocation propagation across two serve instances ($REVOKES keys)"
P3=$(free_port); serve "$URL" "$TOKEN" "$P3"
python3 - "$KEYCTL" "$URL" "$P2" "$P3" "$REVOKES" <<'EOF'
import http.client, subprocess, sys, time
keyctl, url, a, b, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
conns = {p: http.client.HTTPConnection("127.0.0.1", p) for p in (a, b)}
def status(port, token):
    c = conns[port]
    c.request("GET", "/auth", headers={"Authorization": f"Bearer {token}", "X-Original-URI": "/"})
    r = c.getresponse(); r.read()
    return r.status
tokens = [subprocess.run([keyctl, "--db", url, "create", "--user", "rev"], capture_output=True, text=True, check=True).stdout.strip() for _ in range(n)]
after_return, after_commit = [], []
for t in tokens:
    for p in (a, b):
        assert status(p, t) == 200 and status(p, t) == 200
    started = time.perf_counter()
    subprocess.run([keyctl, "--db", url, "delete", t.split("_")[1], "--yes"], capture_output=True, check=True)
    returned = time.perf_counter()
    pending = {a, b}
    while pending:
        for p in list(pending):
            if status(p, t) == 401:
                pending.discard(p)
        if time.perf_counter() - returned > 5:
            sys.exit(f"not revoked after 5 s on {pending}")
    done = time.perf_counter()
    after_return.append(done - returned)
    after_commit.append(done - started)
def q(xs, f):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(len(xs) * f))] * 1000
print(f"  from the command's return to rejection on both: p50 {q(after_return, .5):.2f} ms, p99 {q(after_return, .99):.2f} ms, max {max(after_return)*1000:.2f} ms")
print(f"  from the command's start (an upper bound on from-commit): p50 {q(after_commit, .5):.2f} ms, p99 {q(after_commit, .99):.2f} ms")
EOF
