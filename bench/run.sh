#!/usr/bin/env bash
# Benchmarks for keyctl: each measure beside its baseline, in the same run.
#
#   bench/run.sh            build, populate (cached), measure, write the table into BENCHMARKS.md
#
# Not a test: nothing here runs under `cargo test` or .ci/run. Takes about 5 to 10 minutes on
# 2 cores, most of it populating the 1M-key store the first time. Environment:
#   KEYCTL_BENCH_DIR  where stores are cached (default: ${TMPDIR:-/tmp}/keyctl-bench)
#   ROUNDS            rounds of the verify comparison (default 60; the slower groups run a
#                     third or a sixth as many); runs are pooled across rounds
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROUNDS=${ROUNDS:-60}

# --- tools -------------------------------------------------------------------------------
missing=()
command -v sqlite3 >/dev/null || missing+=(sqlite3)
[ -x /usr/bin/time ] || missing+=(time)
command -v strace >/dev/null || missing+=(strace)
command -v python3 >/dev/null || missing+=(python3)
LINUX_X86_64=$([ "$(uname -sm)" = "Linux x86_64" ] && echo yes || true)
[ -z "$LINUX_X86_64" ] || command -v musl-gcc >/dev/null || missing+=(musl-tools)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ -n "$LINUX_X86_64" ] && ! rustup target list --installed | grep -qx x86_64-unknown-linux-musl; then
  rustup target add x86_64-unknown-linux-musl
fi
TRUE_BIN=$(type -P true)   # the system's true binary, not the shell builtin
BENCH_DIR=${KEYCTL_BENCH_DIR:-${TMPDIR:-/tmp}/keyctl-bench}
# hyperfine from crates.io into a root of its own: Debian 12's (1.15) cannot feed a command
# its stdin without a shell around it (`--input` came in 1.16).
HYPERFINE_VERSION=1.19.0
export HYPERFINE=$BENCH_DIR/tools/bin/hyperfine
if ! [ -x "$HYPERFINE" ] || [ "$("$HYPERFINE" --version)" != "hyperfine $HYPERFINE_VERSION" ]; then
  echo "installing hyperfine $HYPERFINE_VERSION into $BENCH_DIR/tools (a few minutes)..." >&2
  cargo install --quiet --locked --root "$BENCH_DIR/tools" hyperfine --version "$HYPERFINE_VERSION"
fi

# --- build -------------------------------------------------------------------------------
# The measured binary is the release build (`cargo build-static`: static, musl) where the
# platform has it. Beside it, for verify: the default dynamic `cargo build --release`, and
# a static glibc build, so that the cost of each choice is on record. The library is
# measured as a service would build it: `cargo build --release`, the platform's default.
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --release --quiet --bin keyctl --example bench_store
DYNAMIC=$TARGET/release/keyctl
BENCH=$TARGET/release/examples/bench_store
if [ -n "$LINUX_X86_64" ]; then
  cargo build-static --quiet --bin keyctl --example noop
  KEYCTL=$TARGET/x86_64-unknown-linux-musl/release/keyctl
  NOOP=$TARGET/x86_64-unknown-linux-musl/release/examples/noop
  BUILD="static, musl (cargo build-static)"
  cargo build --release --quiet --bin keyctl --target x86_64-unknown-linux-gnu \
    --config "target.x86_64-unknown-linux-gnu.rustflags=['-Ctarget-feature=+crt-static']"
  GLIBC_STATIC=$TARGET/x86_64-unknown-linux-gnu/release/keyctl
else
  cargo build --release --quiet --example noop
  KEYCTL=$DYNAMIC
  NOOP=$TARGET/release/examples/noop
  BUILD="dynamic (cargo build --release)"
  GLIBC_STATIC=$DYNAMIC
fi

# --- stores (cached: the key depends on the schema and on how the populator makes keys) --
cache_key=$(cat src/store/sqlite/schema.rs examples/bench_store.rs | sha256sum | cut -c1-12)
STORES=$BENCH_DIR/$cache_key
OUT=$STORES/results-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$STORES" "$OUT"
for n in 1000 100000 1000000; do
  if [ ! -s "$STORES/tokens-$n.txt" ]; then
    rm -f "$STORES/keys-$n.db" "$STORES/keys-$n.db-journal"
    echo "populating $n keys..." >&2
    "$BENCH" populate "$STORES/keys-$n.db" "$n" "$STORES/tokens-$n.txt" 10000 \
      >"$STORES/populate-$n.json"
  fi
  head -n 1 "$STORES/tokens-$n.txt" >"$STORES/token-$n.txt"
done
S1K=$STORES/keys-1000.db S100K=$STORES/keys-100000.db S1M=$STORES/keys-1000000.db
# Open each store once with keyctl, so that any pending migration is not part of a timing.
for s in "$S1K" "$S100K" "$S1M"; do "$KEYCTL" --db "$s" verify <"$STORES/token-1000.txt" >/dev/null || true; done

round() { # round NAME ROUNDS "HYPERFINE-OPTIONS" (LABEL COMMAND)... : one hyperfine group
  # run ROUNDS times, its commands in a new random order each time; report.py pools the
  # runs. Many short rounds spread the machine's drift over every command alike.
  local name=$1 rounds=$(($2 > 0 ? $2 : 1)) opts=$3
  shift 3
  local -a labels=() cmds=() args=()
  while [ $# -gt 0 ]; do labels+=("$1"); cmds+=("$2"); shift 2; done
  for r in $(seq "$rounds"); do
    args=()
    for i in $(shuf -i 0-$((${#labels[@]} - 1))); do args+=(-n "${labels[$i]}" "${cmds[$i]}"); done
    # shellcheck disable=SC2086 # the options are words
    "$HYPERFINE" --style basic $opts --export-json "$OUT/$name-$r.json" "${args[@]}" \
      >"$OUT/$name-$r.txt" 2>&1 || { cat "$OUT/$name-$r.txt" >&2; exit 1; }
  done
}

# --- verify: against opening the same file with sqlite3, and the process floor ----------
# Every command runs without a shell (-N), with the 1k store's token on stdin (the commands
# that take no input ignore it). The floors: `noop`, a Rust program that only returns,
# built like keyctl, and the system's `true`. The store sizes are compared with the token
# as an argument, each store's own.
echo "verify..." >&2
T1K=$(cat "$STORES/token-1000.txt") T100K=$(cat "$STORES/token-100000.txt") T1M=$(cat "$STORES/token-1000000.txt")
round verify "$ROUNDS" "-N --input $STORES/token-1000.txt --warmup 2 --runs 5" \
  noop "$NOOP" \
  true "$TRUE_BIN" \
  "sqlite3 open 1k" "sqlite3 $S1K 'pragma user_version'" \
  "sqlite3 open 1M" "sqlite3 $S1M 'pragma user_version'" \
  "verify 1k" "$KEYCTL --db $S1K verify" \
  "verify 1k, argument" "$KEYCTL --db $S1K verify $T1K" \
  "verify 100k, argument" "$KEYCTL --db $S100K verify $T100K" \
  "verify 1M, argument" "$KEYCTL --db $S1M verify $T1M" \
  "verify 1k, dynamic build" "$DYNAMIC --db $S1K verify" \
  "verify 1k, static glibc build" "$GLIBC_STATIC --db $S1K verify"

# Page faults (minor: every page of the binary, its data and its heap that the process
# touches; major faults stay at 0 once the files are cached) and system calls of one run
# each, the median of 21 runs and one traced run.
counts() { # counts LABEL STDIN COMMAND...
  local label=$1 input=$2 faults=()
  shift 2
  for _ in $(seq 21); do
    faults+=("$(/usr/bin/time -f %R "$@" <"$input" 2>&1 >/dev/null | tail -n 1)")
  done
  strace -f -qq -o "$OUT/strace.txt" "$@" <"$input" >/dev/null 2>&1 || true
  python3 - "$label" "$OUT/strace.txt" "${faults[@]}" >>"$OUT/counts.jsonl" <<'PY'
import json, re, statistics, sys
label, trace, faults = sys.argv[1], sys.argv[2], [int(f) for f in sys.argv[3:]]
calls = [re.match(r"(?:\d+ +)?(\w+)\(", l) for l in open(trace)]
names = [m.group(1) for m in calls if m]
print(json.dumps({"label": label, "minor_faults": statistics.median(faults), "syscalls": len(names),
                  "mmap": names.count("mmap"), "munmap": names.count("munmap")}))
PY
}
rm -f "$OUT/counts.jsonl"
counts noop /dev/null "$NOOP"
counts "verify 1k" "$STORES/token-1000.txt" "$KEYCTL" --db "$S1K" verify
counts "verify 1k, argument" /dev/null "$KEYCTL" --db "$S1K" verify "$T1K"
counts "verify 1M" "$STORES/token-1000000.txt" "$KEYCTL" --db "$S1M" verify
counts "sqlite3 open 1k" /dev/null sqlite3 "$S1K" 'pragma user_version'
rm -f "$OUT/strace.txt"

# --- create: one key, against the sqlite3 CLI inserting a comparable row -----------------
# Both on copies of the 100k store, rollback journal, synchronous=FULL, one IMMEDIATE
# transaction that upserts the user and inserts a key row with a 16-character id and a
# 32-byte digest.
echo "create..." >&2
cp "$S100K" "$OUT/create-keyctl.db"
cp "$S100K" "$OUT/create-sqlite3.db"
INSERT="PRAGMA synchronous=FULL; BEGIN IMMEDIATE;
INSERT INTO users(name, created) VALUES ('bench', unixepoch()) ON CONFLICT(name) DO NOTHING;
INSERT INTO keys(id, user_id, prefix, digest, created, updated)
  SELECT substr(hex(randomblob(8)), 1, 16), id, 'kc', randomblob(32), unixepoch(), unixepoch()
  FROM users WHERE name = 'bench';
COMMIT;"
round create "$((ROUNDS / 4))" "-N --warmup 2 --runs 6" \
  "sqlite3 insert" "sqlite3 $OUT/create-sqlite3.db \"$INSERT\"" \
  "create" "$KEYCTL --db $OUT/create-keyctl.db create --user bench"

# --- list --json on 100k keys, against sqlite3 -json over the same rows and fields --------
echo "list..." >&2
LIST_SQL="SELECT k.id, u.name AS user, k.name, k.description, k.prefix, k.paths,
  strftime('%Y-%m-%dT%H:%M:%SZ', k.created, 'unixepoch') AS created,
  strftime('%Y-%m-%dT%H:%M:%SZ', k.updated, 'unixepoch') AS updated,
  strftime('%Y-%m-%dT%H:%M:%SZ', k.expires, 'unixepoch') AS expires,
  strftime('%Y-%m-%dT%H:%M:%SZ', k.deleted, 'unixepoch') AS deleted,
  strftime('%Y-%m-%dT%H:%M:%SZ', k.disabled, 'unixepoch') AS disabled,
  strftime('%Y-%m-%dT%H:%M:%SZ', k.last_used, 'unixepoch') AS last_used,
  (SELECT json_group_array(strftime('%Y-%m-%dT%H:%M:%SZ', s.until, 'unixepoch'))
     FROM superseded s WHERE s.key_seq = k.seq AND s.until > unixepoch()) AS superseded,
  CASE WHEN k.deleted IS NOT NULL THEN 'revoked' WHEN k.disabled IS NOT NULL THEN 'disabled'
       WHEN k.expires <= unixepoch() THEN 'expired' ELSE 'active' END AS status,
  k.adopted != 0 AS adopted
  FROM keys k JOIN users u ON u.id = k.user_id WHERE k.deleted IS NULL ORDER BY k.seq"
round list "$((ROUNDS / 12))" "-N --warmup 1 --runs 2 --output=pipe" \
  "sqlite3 -json" "sqlite3 -json $S100K \"$LIST_SQL\"" \
  "list --json" "$KEYCTL --db $S100K list --json"
peak_kib() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident/ {print $2}'; }
{
  echo "{\"list --json\": $(peak_kib "$KEYCTL" --db "$S100K" list --json),"
  echo " \"sqlite3 -json\": $(peak_kib sqlite3 -json "$S100K" "$LIST_SQL")}"
} >"$OUT/list-peak-kib.json"

# --- in-process verifications per second and bytes per key, 1M keys ---------------------
echo "library..." >&2
# 10 rounds of 1 s with the verify cache and 10 without, alternating: about 20 s in all,
# inside the minute after the warm-up pass records each key's last use.
"$BENCH" verify-rate "$S1M" "$STORES/tokens-1000000.txt" 2000 1 10 >"$OUT/verify-rate.json"
"$BENCH" bytes-per-key "$S1M" >"$OUT/bytes-per-key.json"
# The audit log's share of that file: one "created" event per populated key.
sqlite3 "$S1M" "SELECT json_object('bytes', (SELECT sum(pgsize) FROM dbstat WHERE name = 'events'),
  'events', (SELECT count(*) FROM events))" >"$OUT/audit-bytes.json"

# --- adopted tokens: a keyctl token costs the same in a store that holds them -------------
# Two copies of the 100k store, 1000 keys added to each: keyctl keys to one, adopted
# VoIPBIN-style tokens to the other. keyctl verify on each (one process per token), then
# the library's rates on both, alternating, and how fast each rejects foreign strings.
echo "adopted..." >&2
"$BENCH" extend "$S100K" "$OUT/plain.db" 1000 created >/dev/null
"$BENCH" extend "$S100K" "$OUT/adopted.db" 1000 adopted >/dev/null
round adopted "$((ROUNDS / 6))" "-N --input $STORES/token-100000.txt --warmup 2 --runs 6" \
  "verify, 1000 keyctl keys added" "$KEYCTL --db $OUT/plain.db verify" \
  "verify, 1000 adopted tokens added" "$KEYCTL --db $OUT/adopted.db verify"
"$BENCH" adopted-cost "$OUT/plain.db" "$OUT/adopted.db" "$STORES/tokens-100000.txt" 2000 1 5 >"$OUT/adopted-rate.json"

# --- journal modes: the same work under each, on copies of the 100k store ----------------
# keyctl opens stores in whatever mode the file is in; only WAL is a property of the file,
# so keyctl itself runs in DELETE and WAL. The sqlite3 CLI does keyctl's lookup and insert
# under all four modes, with its own cost held equal.
echo "journal modes..." >&2
ID=$(cut -d_ -f2 "$STORES/token-100000.txt")
LOOKUP="SELECT k.id, u.name, k.digest FROM keys k JOIN users u ON u.id = k.user_id WHERE k.id = '$ID'"
jm_args=()
for mode in delete truncate persist wal; do
  for use in verify create lookup insert; do cp "$S100K" "$OUT/jm-$mode-$use.db"; done
  if [ "$mode" = wal ]; then
    for use in verify create lookup insert; do sqlite3 "$OUT/jm-$mode-$use.db" 'PRAGMA journal_mode=WAL' >/dev/null; done
  fi
  # Readers see the file as the mode's last writer left it (PERSIST: a zeroed -journal).
  sqlite3 "$OUT/jm-$mode-lookup.db" "PRAGMA journal_mode=$mode; $INSERT" >/dev/null
  jm_args+=("$mode: sqlite3 lookup" "sqlite3 $OUT/jm-$mode-lookup.db \"PRAGMA journal_mode=$mode; $LOOKUP\"")
  jm_args+=("$mode: sqlite3 insert" "sqlite3 $OUT/jm-$mode-insert.db \"PRAGMA journal_mode=$mode; $INSERT\"")
  if [ "$mode" = delete ] || [ "$mode" = wal ]; then
    jm_args+=("$mode: keyctl verify" "$KEYCTL --db $OUT/jm-$mode-verify.db verify")
    jm_args+=("$mode: keyctl create" "$KEYCTL --db $OUT/jm-$mode-create.db create --user bench")
  fi
done
round journal "$((ROUNDS / 6))" "-N --input $STORES/token-100000.txt --warmup 2 --runs 6" "${jm_args[@]}"
for mode in delete wal; do
  "$BENCH" verify-rate "$OUT/jm-$mode-verify.db" "$STORES/tokens-100000.txt" 2000 1 3 >"$OUT/journal-rate-$mode.json"
done
rm -f "$OUT"/*.db "$OUT"/*.db-*

# --- the table ---------------------------------------------------------------------------
python3 bench/report.py "$OUT" "$BUILD" >"$OUT/results.md"
python3 - "$OUT/results.md" BENCHMARKS.md <<'PY'
import sys, re
table, doc = open(sys.argv[1]).read(), sys.argv[2]
text = open(doc).read()
begin, end = "<!-- results:begin -->", "<!-- results:end -->"
new = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda m: f"{begin}\n{table}{end}", text, flags=re.S)
open(doc, "w").write(new)
PY
cat "$OUT/results.md"
echo "raw results: $OUT" >&2
