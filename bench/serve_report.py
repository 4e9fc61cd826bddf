#!/usr/bin/env python3
"""Turn one bench/serve.sh result directory into the serve results block of BENCHMARKS.md.

usage: serve_report.py OUT KEYCTL CONNECTIONS SECONDS ROUNDS OHA_VERSION NGINX LONG_SECONDS

Throughput: the median of each target's rounds, its range, and the ratio of medians; the
per-round ratio range shows how far the pairing holds on a machine whose speed drifts.
"""

import glob
import json
import os
import platform
import statistics
import subprocess
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def runs(out, prefix):
    """Round number -> summary, for files PREFIX-N.json."""
    found = {}
    for path in glob.glob(os.path.join(out, f"{prefix}-*.json")):
        tail = path[len(os.path.join(out, prefix)) + 1 : -5]
        if tail.isdigit():
            found[int(tail)] = load(path)
    return found


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def rate(x):
    return f"{x:,.0f} /s"


def ms(x):
    return f"{x:.2f} ms"


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def spread(values, fmt):
    lo, hi = min(values), max(values)
    return f"{fmt(statistics.median(values))} ({fmt(lo)} to {fmt(hi)})"


def main():
    out, keyctl, conns, seconds, rounds, oha_version, nginx, long = sys.argv[1:9]
    rows = []
    problems = []

    def row(measure, value, baseline, base_value, ratio, target, met):
        rows.append(f"| {measure} | {value} | {baseline} | {base_value} | {ratio} | {target} | {met} |")

    def yes(ok):
        return "yes" if ok else "**no**"

    # Throughput.
    rps = {t: runs(out, f"rps-{t}") for t in ["nginx", "keyctl", "musl", "chain", "chain_close"]}
    for t, by_round in rps.items():
        for r, s in by_round.items():
            if s["not_2xx"] or s["socket_errors"]:
                problems.append(f"{t} round {r}: {s['not_2xx']} not 2xx, {s['socket_errors']} socket errors")
    med = {t: statistics.median(s["per_second"] for s in v.values()) for t, v in rps.items() if v}
    rng = {t: [s["per_second"] for s in v.values()] for t, v in rps.items() if v}

    def per_round_ratio(a, b):
        common = sorted(set(rps[a]) & set(rps[b]))
        return [rps[a][r]["per_second"] / rps[b][r]["per_second"] for r in common]

    def pair(measure, t, target_ratio, claimed=True):
        ratio = med[t] / med["nginx"]
        pr = per_round_ratio(t, "nginx")
        ratio_text = f"{ratio:.2f}× (rounds {min(pr):.2f} to {max(pr):.2f}×)"
        target = f"≥ {target_ratio:.1f}×" if claimed else "(reported)"
        met = yes(ratio >= target_ratio) if claimed else "–"
        below = sum(1 for x in pr if x < target_ratio)
        if claimed and below:
            met += f" (median; {below} of {len(pr)} rounds below)"
        row(measure, spread(rng[t], rate), "nginx `auth_basic`, 1,000 `{SHA}` users",
            spread(rng["nginx"], rate), ratio_text, target, met)

    pair("1. `keyctl serve` `/auth`, requests/s", "keyctl", 1.0)
    row("1. `keyctl serve` `/auth`, requests/s", spread(rng["keyctl"], rate), "", "", "–",
        "≥ 30,000 /s", yes(med["keyctl"] >= 30000))
    pair("2. nginx `auth_request` → `keyctl serve` (the README's configuration)", "chain", 0.5)
    pair("2. the same without its `upstream` block: a new connection to keyctl per check",
         "chain_close", 0.5, claimed=False)
    if "musl" in med:
        pair("1. `keyctl serve` `/auth`, musl build (`cargo build-static`)", "musl", 1.0, claimed=False)

    # Last-use writes.
    fresh = [s["per_second"] for s in runs(out, "lastuse-fresh").values()]
    stale = [s["per_second"] for s in runs(out, "lastuse-stale").values()]
    fresh_p99 = [s["p99_ms"] for s in runs(out, "lastuse-fresh").values()]
    stale_p99 = [s["p99_ms"] for s in runs(out, "lastuse-stale").values()]
    stale_max = [s["max_ms"] for s in runs(out, "lastuse-stale").values()]
    row(f"`/auth`, a {seconds} s run that starts with the 1,000 keys' last use to write",
        spread(stale, rate), "the same run with every last use written just before",
        spread(fresh, rate), f"{statistics.median(stale) / statistics.median(fresh):.2f}×",
        "(reported)", "–")
    row("the same: wrk's p99 latency (saturated, 64 connections)", spread(stale_p99, ms),
        "the same, last uses written before", spread(fresh_p99, ms),
        f"{statistics.median(stale_p99) / statistics.median(fresh_p99):.1f}×", "(reported)", "–")
    timeline = load(os.path.join(out, "timeline.json"))["seconds"]
    per_sec = [s["requests"] for s in timeline]
    typical = statistics.median(per_sec)
    slow = [s for s in timeline if s["requests"] < typical / 2]
    if slow:
        row(f"`bench_serve timeline`, {int(long) + 15} s from stale last uses: seconds under half the median rate",
            f"{len(slow)} s (seconds {', '.join(str(s['second']) for s in slow)}); "
            f"worst {min(s['requests'] for s in slow):,} requests, max latency "
            f"{max(s['max_ms'] for s in slow):.0f} ms",
            "the median second", f"{typical:,.0f} requests", "–", "(reported)", "–")
    else:
        row(f"`bench_serve timeline`, {int(long) + 15} s from stale last uses: seconds under half the median rate",
            "none", "the median second", f"{typical:,.0f} requests", "–", "(reported)", "–")

    # Latency.
    lk = runs(out, "latency-keyctl")
    lkn = runs(out, "latency-keyctlatnginx")
    ln = runs(out, "latency-nginx")

    def p(d, q):
        return d["latencyPercentiles"][q] * 1000

    for name, d in [("keyctl", x) for x in lk.values()] + [("keyctl", x) for x in lkn.values()] + [
        ("nginx", x) for x in ln.values()
    ]:
        codes = d.get("statusCodeDistribution", {})
        bad = sum(v for k, v in codes.items() if k not in ("200", "204"))
        if bad or d["summary"]["successRate"] < 1:
            problems.append(f"latency run of {name}: {codes}, success rate {d['summary']['successRate']}")

    def got(runs_):
        return statistics.median(d["summary"]["requestsPerSec"] for d in runs_.values())

    k99 = [p(d, "p99") for d in lk.values()]
    kn99 = [p(d, "p99") for d in lkn.values()]
    n99 = [p(d, "p99") for d in ln.values()]
    row(f"3. p99 latency at half keyctl's maximum ({got(lk):,.0f} /s), 20 s windows between last-use writes",
        spread(k99, ms), "", "", "–", "≤ 2 ms", yes(statistics.median(k99) <= 2))
    row(f"3. p99 latency at half nginx's maximum ({got(ln):,.0f} /s), the same windows",
        spread(kn99, ms), "nginx `auth_basic`, the same rate", spread(n99, ms),
        f"{statistics.median(kn99) / statistics.median(n99):.2f}×", "(reported)", "–")
    k50 = [p(d, "p50") for d in lk.values()]
    kn50 = [p(d, "p50") for d in lkn.values()]
    n50 = [p(d, "p50") for d in ln.values()]
    row("3. median latency, at half keyctl's maximum; at half nginx's", f"{spread(k50, ms)}; {spread(kn50, ms)}",
        "nginx, at half its maximum", spread(n50, ms), "–", "(reported)", "–")
    lfk = runs(out, "latency-flooratkeyctl")
    lf = runs(out, "latency-floor")
    if lf and lfk:
        row("3. p99 latency of nginx answering the same 204 with no check at all, "
            "at half keyctl's maximum; at half nginx's",
            f"{spread([p(d, 'p99') for d in lfk.values()], ms)}; {spread([p(d, 'p99') for d in lf.values()], ms)}",
            "", "", "–", "(reported: this VM's floor)", "–")

    def cores(name):
        t = load(os.path.join(out, f"{name}.time"))
        k = load(os.path.join(out, f"{name}.keyctl"))
        return (t["oha_user_s"] + t["oha_sys_s"]) / t["elapsed_s"], k["keyctl_cpu_s"] / t["elapsed_s"]

    used = [cores(f"latency-keyctl-{r}") for r in lk]
    row("3. cores busy at half keyctl's maximum: oha; keyctl",
        f"{statistics.median(u[0] for u in used):.2f}; {statistics.median(u[1] for u in used):.2f}",
        "", "", "–", "(reported, of 2)", "–")
    minute = load(os.path.join(out, "latency-keyctl-minute.json"))
    row(f"3. p99 latency at half keyctl's maximum over {int(long) + 5} s, every key's last use written once in it",
        f"{p(minute, 'p99'):.2f} ms (p99.9 {p(minute, 'p99.9'):.1f} ms, max "
        f"{minute['summary']['slowest'] * 1000:.0f} ms)", "", "", "–", "≤ 2 ms",
        yes(p(minute, "p99") <= 2))

    # Memory.
    mg = load(os.path.join(out, "memory-glibc.json"))
    ng = load(os.path.join(out, "memory-nginx.json"))
    load_run = load(os.path.join(out, "memory-glibc-load.json"))
    row(f"4. resident memory, 1M-key store, after {long} s of load (VmRSS; VmHWM)",
        f"{mib(mg['rss_kib'])}; {mib(mg['hwm_kib'])}", "idle, just started", mib(mg["idle_kib"]),
        "–", "≤ 64 MiB", yes(max(mg["rss_kib"], mg["hwm_kib"]) <= 64 * 1024))
    row("4. the load of that minute", rate(load_run["per_second"]),
        "nginx, master and 2 workers, after its runs", mib(ng["rss_kib"]), "–", "(reported)", "–")
    if os.path.exists(os.path.join(out, "memory-musl.json")):
        mm = load(os.path.join(out, "memory-musl.json"))
        row("4. the same, musl build", f"{mib(mm['rss_kib'])}; {mib(mm['hwm_kib'])}",
            "idle, just started", mib(mm["idle_kib"]), "–", "(reported)", "–")

    # Revocation.
    rv = load(os.path.join(out, "revoke.json"))
    row("5. requests accepted (200) with a token sent after its `keyctl delete --yes` returned",
        f"{rv['accepted_after_revoke']}", "requests with those tokens after their revocation (401)",
        f"{rv['refused_after_revoke']:,}", "–", "0", yes(rv["accepted_after_revoke"] == 0))
    row("5. that run", f"{rv['requests']:,} requests in {rv['seconds']:.1f} s ({rate(rv['per_second'])}), "
        f"{rv['connections']} connections", "`keyctl delete --yes`, median (max)",
        f"{rv['delete_ms_median']:.1f} ms ({rv['delete_ms_max']:.1f} ms)", "–", "(reported)", "–")
    if rv["not_200_or_401"]:
        problems.append(f"revocation run: {rv['not_200_or_401']} answers neither 200 nor 401")

    print("| measure | keyctl (median, range) | baseline | baseline (median, range) | ratio | target | met |")
    print("| --- | ---: | --- | ---: | ---: | --- | --- |")
    for r in rows:
        print(r)
    print()
    tw = open(os.path.join(out, "time-wait.txt")).read().strip()
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    mem = sh("awk '/MemTotal/ {printf \"%.0f GiB\", $2/1048576}' /proc/meminfo")
    print(
        f"`cargo build --release` (glibc, dynamic), commit {sh('git rev-parse --short HEAD')}; "
        f"measured {os.path.basename(out)[len('serve-'):]} on {os.cpu_count()} cores of {cpu}, {mem} memory, "
        f"Linux {platform.release()}; {sh(nginx + ' -v 2>&1').replace('nginx version: ', '')}, "
        f"{sh('wrk -v 2>&1 | head -1').split(' [')[0]}, oha {oha_version}, {sh('rustc --version')}. "
        f"wrk: 2 threads, {conns} keep-alive connections, {seconds} s runs, {rounds} rounds. "
        f"{tw} sockets in TIME_WAIT after the rounds."
    )
    if problems:
        print()
        print("Problems in this run: " + "; ".join(problems) + ".")


if __name__ == "__main__":
    main()
