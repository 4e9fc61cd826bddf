#!/usr/bin/env python3
"""Turn one bench/run.sh result directory into the Markdown table of BENCHMARKS.md.

Each hyperfine group ran ROUNDS times; the runs of a command are pooled across rounds and
the table gives their median, so slow drift of the machine weighs on every command alike.
"""

import glob
import json
import os
import platform
import statistics
import subprocess
import sys


def pooled(out, group):
    """Command name -> every run's time in seconds, over all rounds of the group."""
    times = {}
    for path in sorted(glob.glob(os.path.join(out, f"{group}-*.json"))):
        if not path[len(os.path.join(out, group)) + 1 :][:-5].isdigit():
            continue
        for result in json.load(open(path))["results"]:
            times.setdefault(result["command"], []).extend(result["times"])
    return {name: statistics.median(ts) for name, ts in times.items()}


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def main():
    out = sys.argv[1]
    verify = pooled(out, "verify")
    create = pooled(out, "create")
    listing = pooled(out, "list")
    peak = json.load(open(os.path.join(out, "list-peak-kib.json")))
    rate = json.load(open(os.path.join(out, "verify-rate.json")))
    size = json.load(open(os.path.join(out, "bytes-per-key.json")))

    rows = []

    def row(what, value, base_name, base, ratio, target, met):
        rows.append((what, value, base_name, base, ratio, target, met))

    def ms(s):
        return f"{s * 1000:.2f} ms"

    def compare(what, value, base_name, base, limit=None, note=""):
        ratio = value / base
        target = f"≤ {limit:.2f}×" if limit else note or "(reported)"
        met = ("yes" if ratio <= limit else "**no**") if limit else "–"
        row(what, ms(value), base_name, ms(base), f"{ratio:.2f}×", target, met)

    sqlite_open = "`sqlite3 STORE 'pragma user_version'`, 1k"
    noop = "`noop`, a static program that only returns (process floor)"
    for how, suffix in [("token on stdin", ""), ("token as argument", ", argument")]:
        compare(f"`keyctl verify`, 1k keys, {how}", verify[f"verify 1k{suffix}"], noop, verify["noop"], 3.0)
        compare(f"`keyctl verify`, 1k keys, {how}", verify[f"verify 1k{suffix}"], sqlite_open, verify["sqlite3 open 1k"], 0.45)
    compare("`keyctl verify`, 1M keys", verify["verify 1M, argument"], "`keyctl verify`, 1k keys", verify["verify 1k, argument"], 1.10)
    compare("`keyctl verify`, 100k keys", verify["verify 100k, argument"], "`keyctl verify`, 1k keys", verify["verify 1k, argument"])
    compare("`sqlite3` open, 1M keys", verify["sqlite3 open 1M"], sqlite_open, verify["sqlite3 open 1k"])
    compare("`true`, the system's (dynamic, glibc)", verify["true"], noop, verify["noop"])
    compare("`sqlite3` open, 1k keys", verify["sqlite3 open 1k"], noop, verify["noop"])
    compare("`keyctl verify`, 1k keys, default dynamic build", verify["verify 1k, dynamic build"], sqlite_open, verify["sqlite3 open 1k"], note="(reported)")
    compare("`keyctl verify`, 1k keys, static glibc build", verify["verify 1k, static glibc build"], sqlite_open, verify["sqlite3 open 1k"], note="(reported)")
    compare("`keyctl create`, 100k keys", create["create"], "`sqlite3` insert of one key row, same durability", create["sqlite3 insert"], 1.30)
    compare("`keyctl list --json`, 100k keys", listing["list --json"], "`sqlite3 -json` over the same rows and fields", listing["sqlite3 -json"], 1.50)
    mib = peak["list --json"] / 1024
    row("`keyctl list --json`, 100k keys: peak memory", f"{mib:.1f} MiB", "`sqlite3 -json`", f"{peak['sqlite3 -json'] / 1024:.1f} MiB", "–", "< 64 MiB", "yes" if mib < 64 else "**no**")
    per_second, uncached = rate["per_second"], rate["uncached_per_second"]
    row(f"library `Verifier`, 1M keys, one thread, {rate['distinct_tokens']:,} keys in use", f"{per_second:,.0f} /s",
        "the same with the verify cache off (`Verifier::with_cache(store, 0)`)", f"{uncached:,.0f} /s", f"{per_second / uncached:.1f}× as many",
        "≥ 200,000 /s", "yes" if per_second >= 200_000 else "**no**")
    row("library `Verifier`, first use of a key in a minute (records last use)", f"{rate['first_use_ms']:.2f} ms", "", "", "–", "(reported)", "–")
    audit = json.load(open(os.path.join(out, "audit-bytes.json")))
    per_key = (size["bytes"] - audit["bytes"]) / size["keys"]
    row("store size, 1M keys: keys, users and their indexes", f"{per_key:.0f} B/key", "", "", "–", "≤ 300 B/key", "yes" if per_key <= 300 else "**no**")
    row(f"the same store's audit log, {audit['events']:,} events (one per key created)", f"{audit['bytes'] / audit['events']:.0f} B/event",
        "the whole file", f"{size['bytes_per_key']:.0f} B/key", "–", "(reported)", "–")
    adopted = pooled(out, "adopted")
    if adopted:
        compare("`keyctl verify` of a keyctl token, 100k keys + 1,000 adopted tokens", adopted["verify, 1000 adopted tokens added"],
                "the same, 100k keys + 1,000 keyctl keys", adopted["verify, 1000 keyctl keys added"], 1.05)
    adopted_file = os.path.join(out, "adopted-rate.json")
    if os.path.exists(adopted_file):
        a = json.load(open(adopted_file))
        for what, key in [("", "per_second"), (", cache off", "uncached_per_second")]:
            mine, base = a[f"adopted_{key}"], a[f"plain_{key}"]
            row(f"library verify of keyctl tokens{what}, 100k keys + 1,000 adopted tokens", f"{mine:,.0f} /s",
                f"the same, 100k keys + 1,000 keyctl keys", f"{base:,.0f} /s", f"{mine / base:.2f}×", "≥ 0.95×", "yes" if mine / base >= 0.95 else "**no**")
        row("library: a foreign string rejected, store with adopted tokens (one indexed look-up)", f"{a['foreign_adopted_per_second']:,.0f} /s",
            "store without (answered from the text)", f"{a['foreign_plain_per_second']:,.0f} /s", "–", "(reported)", "–")

    print("| measure | keyctl (median) | baseline | baseline (median) | ratio | target | met |")
    print("| --- | ---: | --- | ---: | ---: | --- | --- |")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    counts_file = os.path.join(out, "counts.jsonl")
    if os.path.exists(counts_file):
        print("One run of each (minor page faults: median of 21 runs; system calls: one traced run):")
        print()
        print("| command | minor page faults | system calls | of which `mmap`, `munmap` |")
        print("| --- | ---: | ---: | ---: |")
        for line in open(counts_file):
            c = json.loads(line)
            print(f"| {c['label']} | {c['minor_faults']:.0f} | {c['syscalls']} | {c['mmap']}, {c['munmap']} |")
        print()
    journal = pooled(out, "journal")
    if journal:
        print("Journal modes, 100k keys (medians; keyctl runs only in the modes a file can carry):")
        print()
        print("| journal mode | `keyctl verify` | `keyctl create` | library verify/s | same, cache off | sqlite3 lookup | sqlite3 insert |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for mode in ["delete", "truncate", "persist", "wal"]:
            cell = lambda what: ms(journal[f"{mode}: {what}"]) if f"{mode}: {what}" in journal else "–"
            rate_file = os.path.join(out, f"journal-rate-{mode}.json")
            lib = json.load(open(rate_file)) if os.path.exists(rate_file) else {}
            per_second = lambda what: f"{lib[what]:,.0f}" if what in lib else "–"
            print(f"| {mode.upper()} | {cell('keyctl verify')} | {cell('keyctl create')} | {per_second('per_second')} | {per_second('uncached_per_second')} | {cell('sqlite3 lookup')} | {cell('sqlite3 insert')} |")
        print()
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-").strip()
    mem = sh("awk '/MemTotal/ {printf \"%.0f GiB\", $2/1048576}' /proc/meminfo")
    fs = sh(f"df -T {out} | awk 'NR==2 {{print $2}}'")
    commit = sh("git rev-parse --short HEAD") + (" (with uncommitted changes)" if sh("git status --porcelain --untracked-files=no") else "")
    print(f"keyctl build: {sys.argv[2] if len(sys.argv) > 2 else '?'}. "
          f"Measured {os.path.basename(out).removeprefix('results-')} at commit {commit}, on "
          f"{sh('nproc')} cores of {cpu}, {mem} memory, Linux {platform.release()}, stores on {fs}; "
          f"{sh(os.environ.get('HYPERFINE', 'hyperfine') + ' --version')}, sqlite3 {sh('sqlite3 --version').split(' ')[0]}, {sh('rustc --version')}. "
          f"Each hyperfine group ran {len(glob.glob(os.path.join(out, 'verify-[0-9]*.json')))} rounds, pooled.")


if __name__ == "__main__":
    main()
