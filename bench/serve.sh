#!/usr/bin/env bash
# Benchmarks of `keyctl serve` (BENCHMARKS.md, "keyctl serve under load"): each measure
# beside its baseline, in the same run, on this machine's loopback.
#
#   bench/serve.sh          build, populate (cached), measure, write the serve results block
#
# Not a test: nothing here runs under `cargo test` or .ci/run. About 20 minutes on 2 cores
# once the builds and stores are cached. Environment:
#   KEYCTL_BENCH_DIR  where stores and tools are cached (default: ${TMPDIR:-/tmp}/keyctl-bench)
#   ROUNDS            rounds of the throughput comparison (default 5)
#   SECONDS_PER_RUN   length of each wrk run (default 10)
#   CONNECTIONS       wrk's connections (default 64; wrk runs 2 threads)
#   PORT_BASE         the servers listen on 127.0.0.1:PORT_BASE+1 to +7 (default 17870)
#   LONG_SECONDS      the minute of the memory and latency measures (default 60; less only
#                     to try the script out: the results then measure something else)
#
# The load generator and the servers share the machine's 2 cores; nothing is pinned.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROUNDS=${ROUNDS:-5}
DUR=${SECONDS_PER_RUN:-10}
CONNS=${CONNECTIONS:-64}
PORT_BASE=${PORT_BASE:-17870}
LONG=${LONG_SECONDS:-60}
BENCH_DIR=${KEYCTL_BENCH_DIR:-${TMPDIR:-/tmp}/keyctl-bench}
OHA_VERSION=1.16.0

# --- tools -------------------------------------------------------------------------------
missing=()
command -v wrk >/dev/null || missing+=(wrk)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing+=(nginx-light)
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3)
command -v sqlite3 >/dev/null || missing+=(sqlite3)
[ -x /usr/bin/time ] || missing+=(time)
LINUX_X86_64=$([ "$(uname -sm)" = "Linux x86_64" ] && echo yes || true)
[ -z "$LINUX_X86_64" ] || command -v musl-gcc >/dev/null || missing+=(musl-tools)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
NGINX=$([ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx || command -v nginx)
if [ -n "$LINUX_X86_64" ] && ! rustup target list --installed | grep -qx x86_64-unknown-linux-musl; then
  rustup target add x86_64-unknown-linux-musl
fi
# oha, the rate-limited load generator, from crates.io into a root of its own.
OHA=$BENCH_DIR/tools/bin/oha
if ! [ -x "$OHA" ] || [ "$("$OHA" --version)" != "oha $OHA_VERSION" ]; then
  echo "installing oha $OHA_VERSION into $BENCH_DIR/tools (a few minutes)..." >&2
  cargo install --quiet --locked --root "$BENCH_DIR/tools" oha --version "$OHA_VERSION"
fi

# --- build -------------------------------------------------------------------------------
# Measured: `cargo build --release`, the build a service is given by default. Beside it,
# in the throughput rounds and the memory measure only, the musl build that the README
# installs (`cargo build-static`), whose allocator is musl's.
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --release --quiet --bin keyctl --example bench_store --example bench_serve
KEYCTL=$TARGET/release/keyctl
BENCH_STORE=$TARGET/release/examples/bench_store
BENCH_SERVE=$TARGET/release/examples/bench_serve
MUSL=""
if [ -n "$LINUX_X86_64" ]; then
  cargo build-static --quiet --bin keyctl
  MUSL=$TARGET/x86_64-unknown-linux-musl/release/keyctl
fi

# --- stores (shared with bench/run.sh: same cache, same key) -----------------------------
cache_key=$(cat src/store/sqlite/schema.rs examples/bench_store.rs | sha256sum | cut -c1-12)
STORES=$BENCH_DIR/$cache_key
OUT=$STORES/serve-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$STORES" "$OUT/www" "$OUT/nginx"
for n in 100000 1000000; do
  if [ ! -s "$STORES/tokens-$n.txt" ]; then
    rm -f "$STORES/keys-$n.db" "$STORES/keys-$n.db-journal"
    echo "populating $n keys..." >&2
    "$BENCH_STORE" populate "$STORES/keys-$n.db" "$n" "$STORES/tokens-$n.txt" 10000 \
      >"$STORES/populate-$n.json"
  fi
  # 1,000 of the 10,000 sampled tokens, every tenth: spread over the whole store.
  awk 'NR % 10 == 1' "$STORES/tokens-$n.txt" | head -n 1000 >"$OUT/tokens-$n.txt"
done
# Work on copies: the servers record last use, and the revocation run revokes keys.
cp "$STORES/keys-100000.db" "$OUT/auth.db"
cp "$STORES/keys-100000.db" "$OUT/revoke.db"
cp "$STORES/keys-1000000.db" "$OUT/memory.db"
# Written to disk now, or the first commit of a measure (a last-use record) would wait
# for the whole copy to be written out.
sync "$OUT"/*.db

# The same credential for nginx and keyctl: HTTP Basic, user uNNNN, password the keyctl
# token of the same line. nginx checks the password against a {SHA} htpasswd line;
# keyctl takes the password as the token (and ignores the user name).
python3 - "$OUT" <<'PY'
import base64, hashlib, sys
out = sys.argv[1]
tokens = [l.strip() for l in open(f"{out}/tokens-100000.txt") if l.strip()]
with open(f"{out}/htpasswd", "w") as h, open(f"{out}/auth-100000.txt", "w") as a:
    for i, t in enumerate(tokens):
        user = f"u{i:04d}"
        sha = base64.b64encode(hashlib.sha1(t.encode()).digest()).decode()
        h.write(f"{user}:{{SHA}}{sha}\n")
        a.write("Basic " + base64.b64encode(f"{user}:{t}".encode()).decode() + "\n")
tokens = [l.strip() for l in open(f"{out}/tokens-1000000.txt") if l.strip()]
with open(f"{out}/auth-1000000.txt", "w") as a:
    for i, t in enumerate(tokens):
        a.write("Basic " + base64.b64encode(f"u{i:04d}:{t}".encode()).decode() + "\n")
PY

# --- servers -----------------------------------------------------------------------------
P_KEYCTL=$((PORT_BASE + 1)) P_MUSL=$((PORT_BASE + 2)) P_BASIC=$((PORT_BASE + 3))
P_CHAIN=$((PORT_BASE + 4)) P_CHAIN_CLOSE=$((PORT_BASE + 5)) P_SPARE=$((PORT_BASE + 6))
P_OPEN=$((PORT_BASE + 7))
for p in $P_KEYCTL $P_MUSL $P_BASIC $P_CHAIN $P_CHAIN_CLOSE $P_SPARE $P_OPEN; do
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$p/"; then
    echo "port $p is in use; set PORT_BASE" >&2
    exit 1
  fi
done
PIDS=()
NGINX_PID=""
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -z "$NGINX_PID" ] || kill "$NGINX_PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

start_keyctl() { # start_keyctl BINARY DB PORT NAME: serve in the background, wait until ready
  "$1" serve --db "$2" --listen "127.0.0.1:$3" 2>"$OUT/$4.stderr" &
  PIDS+=($!)
  eval "PID_$4=$!"
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$3/healthz" && return 0
    sleep 0.1
  done
  echo "keyctl serve ($4) did not start:" >&2
  cat "$OUT/$4.stderr" >&2
  exit 1
}
alive() { # alive NAME...: every named server still runs (a dead one ends the run)
  local name
  for name in "$@"; do
    local pid
    pid=$(eval echo "\$PID_$name")
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "keyctl serve ($name) has died:" >&2
      cat "$OUT/$name.stderr" >&2
      exit 1
    fi
  done
}

start_keyctl "$KEYCTL" "$OUT/auth.db" "$P_KEYCTL" keyctl
[ -z "$MUSL" ] || start_keyctl "$MUSL" "$OUT/auth.db" "$P_MUSL" musl

# nginx: two worker processes (one per core, as `worker_processes auto` would choose here),
# no access log (keyctl serve logs nothing by default either), and keep-alive connections
# without a request limit, as hyper's. Three servers:
#  - auth_basic: the baseline, protecting a location that answers 204. `return 204` would
#    run before the access phase and so skip the password check altogether; `try_files`
#    of a file that does not exist, `=204`, answers in the content phase, after it.
#  - the README's nginx configuration, word for word but for its ports and the app's
#    proxy_pass, replaced by the same 204.
#  - the same without its `upstream` block, so a new connection to keyctl per check:
#    reported, not claimed, to show what the keep-alive connections are worth.
#  - the same 204 with no check at all: the latency floor of this machine, reported.
readme_nginx=$(awk '/^### nginx$/ {s=1} s && /^```nginx$/ {b=1; next} b && /^```$/ {exit} b' README.md)
chain=$(printf '%s\n' "$readme_nginx" |
  sed -e "s/127.0.0.1:7878/127.0.0.1:$P_KEYCTL/; s/127.0.0.1:8000/127.0.0.1:$P_CHAIN/" \
    -e "s|proxy_pass http://127.0.0.1:8080;|root $OUT/www; try_files /nonexistent =204;|")
grep -q "try_files /nonexistent =204" <<<"$chain" && grep -q "auth_request /_keyctl/auth" <<<"$chain" ||
  { echo "the README's nginx block is not as this script expects" >&2; exit 1; }
chain_close=$(printf '%s\n' "$chain" |
  sed -e '/^upstream keyctl {$/,/^}$/d' -e '/proxy_http_version 1.1;/d' -e '/proxy_set_header Connection "";/d' \
    -e "s/127.0.0.1:$P_CHAIN;/127.0.0.1:$P_CHAIN_CLOSE;/" \
    -e "s|proxy_pass http://keyctl/auth;|proxy_pass http://127.0.0.1:$P_KEYCTL/auth;|")
grep -q "proxy_pass http://127.0.0.1:$P_KEYCTL/auth;" <<<"$chain_close" && ! grep -q "^upstream" <<<"$chain_close" ||
  { echo "the README's nginx block is not as this script expects" >&2; exit 1; }
cat >"$OUT/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $OUT/nginx/client_body;
    proxy_temp_path $OUT/nginx/proxy;
    fastcgi_temp_path $OUT/nginx/fastcgi;
    uwsgi_temp_path $OUT/nginx/uwsgi;
    scgi_temp_path $OUT/nginx/scgi;

    server {
        listen 127.0.0.1:$P_BASIC;
        root $OUT/www;
        location / {
            auth_basic "bench";
            auth_basic_user_file $OUT/htpasswd;
            try_files /nonexistent =204;
        }
    }

$chain

    server {
        listen 127.0.0.1:$P_OPEN;
        root $OUT/www;
        location / {
            try_files /nonexistent =204;
        }
    }

$chain_close
}
EOF
"$NGINX" -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" -e "$OUT/nginx/error.log" &
NGINX_PID=$!
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$P_BASIC/" && break
  sleep 0.1
done

# --- checks: every door lets a good token through and stops a wrong one -----------------
expect_open=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_OPEN/api/items")
[ "$expect_open" = 204 ] || { echo "check failed: the open nginx server answered $expect_open" >&2; exit 1; }
GOOD=$(sed -n 5p "$OUT/auth-100000.txt")
WRONG="Basic $(printf 'u0004:kc_wrongwrongwrongwr_wrongwrongwrongwrongwrongwrongwrongwrongwrongwr' | base64 -w0)"
expect() { # expect STATUS URL [CURL-ARGS...]
  local want=$1 url=$2 got
  shift 2
  got=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url")
  [ "$got" = "$want" ] || { echo "check failed: $url $* answered $got, not $want" >&2; exit 1; }
}
for url in "http://127.0.0.1:$P_BASIC/api/items" "http://127.0.0.1:$P_CHAIN/api/items" \
  "http://127.0.0.1:$P_CHAIN_CLOSE/api/items"; do
  expect 204 "$url" -H "Authorization: $GOOD"
  expect 401 "$url" -H "Authorization: $WRONG"
  expect 401 "$url"
done
for p in $P_KEYCTL ${MUSL:+$P_MUSL}; do
  expect 200 "http://127.0.0.1:$p/auth" -H "Authorization: $GOOD" -H "X-Original-URI: /api/items"
  expect 401 "http://127.0.0.1:$p/auth" -H "Authorization: $WRONG" -H "X-Original-URI: /api/items"
done
echo "checks passed: nginx auth_basic and the chain answer 204 to a good password and 401 to a wrong one or none" >&2

# --- helpers -----------------------------------------------------------------------------
# A key's first successful verification in a minute writes its last use (an fsync'd
# transaction, which also empties every verifier's cache). Runs meant to measure the
# steady state between those writes start by marking every key used now: one transaction
# before the run, none during it (each run is shorter than the minute). What the writes
# cost is measured on its own below.
IN_USE="($(cut -d_ -f2 "$OUT/tokens-100000.txt" | sed "s/.*/'&'/" | paste -sd,))"
fresh() { sqlite3 -cmd ".timeout 5000" "$1" "UPDATE keys SET last_used = unixepoch() WHERE id IN $IN_USE"; }
stale() { sqlite3 -cmd ".timeout 5000" "$1" "UPDATE keys SET last_used = unixepoch() - 3600 WHERE id IN $IN_USE"; }

run_wrk() { # run_wrk NAME URL AUTH-FILE [X-ORIGINAL-URI]: one wrk run, summary in $OUT/NAME.json
  local name=$1 url=$2 auth=$3 original=${4:-}
  env BENCH_AUTH="$auth" BENCH_OUT="$OUT/$name.json" BENCH_PATH="$(sed -E 's|^https?://[^/]+||' <<<"$url")" \
    ${original:+BENCH_ORIGINAL=$original} \
    wrk -t2 -c"$CONNS" -d"${DUR}s" --timeout 5s -s bench/serve.lua "$url" >"$OUT/$name.txt" 2>&1
}

declare -A TARGET_URL=(
  [nginx]="http://127.0.0.1:$P_BASIC/api/items"
  [keyctl]="http://127.0.0.1:$P_KEYCTL/auth"
  [musl]="http://127.0.0.1:$P_MUSL/auth"
  [chain]="http://127.0.0.1:$P_CHAIN/api/items"
  [chain_close]="http://127.0.0.1:$P_CHAIN_CLOSE/api/items"
)
targets=(nginx keyctl chain chain_close)
[ -z "$MUSL" ] || targets+=(musl)
measure() { # measure NAME TARGET: one wrk run against a target, from fresh last uses
  local target=$2
  case $target in nginx) ;; *) fresh "$OUT/auth.db" ;; esac
  case $target in
    keyctl | musl) run_wrk "$1" "${TARGET_URL[$target]}" "$OUT/auth-100000.txt" /api/items ;;
    *) run_wrk "$1" "${TARGET_URL[$target]}" "$OUT/auth-100000.txt" ;;
  esac
}

# --- 1 and 2: requests per second, side by side, rounds in a new random order each -------
echo "warm-up..." >&2
for t in "${targets[@]}"; do SECONDS_SAVED=$DUR; DUR=3; measure "warmup-$t" "$t"; DUR=$SECONDS_SAVED; done
echo "throughput: $ROUNDS rounds of ${#targets[@]} runs of ${DUR}s..." >&2
for r in $(seq "$ROUNDS"); do
  for t in $(printf '%s\n' "${targets[@]}" | shuf); do
    measure "rps-$t-$r" "$t"
    alive keyctl ${MUSL:+musl}
  done
done
# Counts of TIME_WAIT sockets after the rounds: the chain without keep-alive opens a
# connection to keyctl per request.
ss -tan state time-wait | wc -l >"$OUT/time-wait.txt"

# --- the cost of last-use writes: a run that starts with every key's last use stale ------
echo "last-use writes..." >&2
for r in 1 2 3; do
  for kind in fresh stale; do
    "$kind" "$OUT/auth.db"
    run_wrk "lastuse-$kind-$r" "${TARGET_URL[keyctl]}" "$OUT/auth-100000.txt" /api/items
  done
done
stale "$OUT/auth.db"
"$BENCH_SERVE" timeline "127.0.0.1:$P_KEYCTL" "$OUT/tokens-100000.txt" $((LONG + 15)) 8 >"$OUT/timeline.json"
alive keyctl

# --- 3: latency at half the maximum rate, oha -q with latency correction -----------------
# Half the maximum: half the median requests/s of keyctl's wrk rounds above. Beside it, at
# half of nginx's own median (a lower rate), nginx and keyctl both: the same absolute rate.
# oha sends one header set for all requests, so keyctl's token goes in the query string
# (`/auth/api/items?accesskey=TOKEN`, which keyctl reads as a forward-auth request for
# /api/items?accesskey=TOKEN), one of 1,000 URLs at random per request. nginx gets one
# user's password (oha cannot vary a header): the 500th of the htpasswd's 1,000 lines, the
# average line nginx reads to. --latency-correction times each request from when the rate
# meant it to be sent, so a server that falls behind is charged for the wait.
half() { python3 - "$OUT" "$1" <<'PY'
import glob, json, statistics, sys
rates = [json.load(open(p))["per_second"] for p in glob.glob(f"{sys.argv[1]}/rps-{sys.argv[2]}-*.json")]
print(round(statistics.median(rates) / 2))
PY
}
Q_KEYCTL=$(half keyctl)
Q_NGINX=$(half nginx)
sed "s|^|http://127.0.0.1:$P_KEYCTL/auth/api/items?accesskey=|" "$OUT/tokens-100000.txt" >"$OUT/urls-keyctl.txt"
NGINX_USER="u0499:$(sed -n 500p "$OUT/tokens-100000.txt")"
oha() { # oha NAME RATE SECONDS ARGS...: oha's summary, and the CPU time oha and keyctl took
  local name=$1 q=$2 s=$3 before
  shift 3
  before=$(awk '{print $14 + $15}' "/proc/$PID_keyctl/stat")
  /usr/bin/time -f '{"elapsed_s": %e, "oha_user_s": %U, "oha_sys_s": %S}' -o "$OUT/$name.time" \
    "$OHA" --no-tui --output-format json -c 32 -q "$q" --latency-correction -z "${s}s" "$@" \
    >"$OUT/$name.json" 2>"$OUT/$name.stderr"
  echo "{\"keyctl_cpu_s\": $(($(awk '{print $14 + $15}' "/proc/$PID_keyctl/stat") - before))e-2}" >"$OUT/$name.keyctl"
}
echo "latency: keyctl at $Q_KEYCTL/s, both at $Q_NGINX/s..." >&2
echo "{\"keyctl\": $Q_KEYCTL, \"nginx\": $Q_NGINX}" >"$OUT/latency-rates.json"
for r in 1 2 3; do
  for what in $(printf '%s\n' keyctl keyctl_at_nginx nginx floor floor_at_keyctl | shuf); do
    case $what in
      keyctl) fresh "$OUT/auth.db"; oha "latency-keyctl-$r" "$Q_KEYCTL" $((2 * DUR)) --urls-from-file "$OUT/urls-keyctl.txt" ;;
      keyctl_at_nginx) fresh "$OUT/auth.db"; oha "latency-keyctlatnginx-$r" "$Q_NGINX" $((2 * DUR)) --urls-from-file "$OUT/urls-keyctl.txt" ;;
      nginx) oha "latency-nginx-$r" "$Q_NGINX" $((2 * DUR)) -a "$NGINX_USER" "${TARGET_URL[nginx]}" ;;
      floor) oha "latency-floor-$r" "$Q_NGINX" $((2 * DUR)) "http://127.0.0.1:$P_OPEN/api/items" ;;
      floor_at_keyctl) oha "latency-flooratkeyctl-$r" "$Q_KEYCTL" $((2 * DUR)) "http://127.0.0.1:$P_OPEN/api/items" ;;
    esac
  done
  alive keyctl
done
# A whole minute and more of steady load: every key's last use is written once in it.
oha "latency-keyctl-minute" "$Q_KEYCTL" $((LONG + 5)) --urls-from-file "$OUT/urls-keyctl.txt"
alive keyctl

# --- 4: memory on 1,000,000 keys after a minute of load ----------------------------------
mem() { # mem NAME BINARY: VmRSS before and after 60 s of wrk, and VmHWM, in KiB
  local name=$1
  start_keyctl "$2" "$OUT/memory.db" "$P_SPARE" "mem_$name"
  local pid
  pid=$(eval echo "\$PID_mem_$name")
  local idle
  idle=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
  SECONDS_SAVED=$DUR
  DUR=$LONG
  run_wrk "memory-$name-load" "http://127.0.0.1:$P_SPARE/auth" "$OUT/auth-1000000.txt" /api/items
  DUR=$SECONDS_SAVED
  alive "mem_$name"
  printf '{"idle_kib": %s, "rss_kib": %s, "hwm_kib": %s}\n' "$idle" \
    "$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")" \
    "$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")" >"$OUT/memory-$name.json"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}
echo "memory..." >&2
mem glibc "$KEYCTL"
[ -z "$MUSL" ] || mem musl "$MUSL"
# nginx's resident memory (master and workers), after all of its runs above.
nginx_kib=0
for pid in $NGINX_PID $(pgrep -P "$NGINX_PID"); do
  nginx_kib=$((nginx_kib + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")))
done
echo "{\"rss_kib\": $nginx_kib}" >"$OUT/memory-nginx.json"

# --- 5: revocation under load ------------------------------------------------------------
echo "revocation..." >&2
fresh "$OUT/revoke.db"
start_keyctl "$KEYCTL" "$OUT/revoke.db" "$P_SPARE" revoke
"$BENCH_SERVE" revoke "127.0.0.1:$P_SPARE" "$KEYCTL" "$OUT/revoke.db" "$OUT/tokens-100000.txt" \
  100 8 100 >"$OUT/revoke.json"
alive revoke

# --- the table ---------------------------------------------------------------------------
python3 bench/serve_report.py "$OUT" "$KEYCTL" "$CONNS" "$DUR" "$ROUNDS" "$OHA_VERSION" \
  "$NGINX" "$LONG" >"$OUT/results.md"
python3 - "$OUT/results.md" BENCHMARKS.md <<'PY'
import sys, re
table, doc = open(sys.argv[1]).read(), sys.argv[2]
text = open(doc).read()
begin, end = "<!-- serve-results:begin -->", "<!-- serve-results:end -->"
if begin not in text:
    sys.exit(f"{doc} has no {begin} block")
new = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda m: f"{begin}\n{table}{end}", text, flags=re.S)
open(doc, "w").write(new)
PY
cat "$OUT/results.md"
rm -f "$OUT"/*.db "$OUT"/*.db-*
echo "raw results: $OUT" >&2
