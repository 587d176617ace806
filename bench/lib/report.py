"""Markdown tables (medians over rounds; ratios taken within each round, then their median) and
the machine line that heads every report."""

import datetime
import os
import platform
import re
import statistics
import subprocess

from .targets import BASELINE, PLUGIN_CALLS, TARGETS, base_of, screen_target
from .tools import REPO, which

# Ratio columns, each shown when its reference target was measured in the run.
REFERENCES = [("upstream", "(a)"), ("nginx", "nginx"), ("envoy-wasm", "Envoy+Wasm")]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt_rps(x):
    return "–" if x is None else (f"{x / 1000:.1f}k" if x >= 1000 else f"{x:.0f}")


def fmt_lat(us):
    if us is None:
        return "–"
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def fmt_ratio(x):
    return "–" if x is None else f"{x:.2f}×"


def spread(xs):
    xs = [x for x in xs if x is not None]
    if len(xs) < 2:
        return ""
    m = statistics.median(xs)
    return f" ±{100 * (max(xs) - min(xs)) / 2 / m:.0f}%" if m else ""


def by_target(results, key=("target", "conc")):
    by = {}
    for r in results:
        by.setdefault(tuple(r[k] for k in key), {})[r["round"]] = r
    return by


def notes_of(rs):
    notes = [w for w, bad in (("noisy", any(not r["accepted"] for r in rs)),
                              ("errors", any(not r["valid"] for r in rs))) if bad]
    return f" ({', '.join(notes)})" if notes else ""


def report_load(results, targets, concs, rounds):
    """Saturated load: req/s, latency, CPU per request, ratios to the references measured."""
    by = by_target(results)
    refs = [(k, name) for k, name in REFERENCES if k in targets]
    lines = []
    for c in concs:
        lines.append(f"**c={c}**, medians of {rounds} interleaved rounds (± half the min–max spread); "
                     "ratios taken within each round, then their median:\n")
        head = "| target | req/s | p50 | p99 | server CPU/req |"
        head += "".join(f" req/s ÷ {n} |" for _, n in refs) + "".join(f" CPU/req ÷ {n} |" for _, n in refs)
        # Issue 15's figure: what one plugin call adds to a request, over the route without.
        per_call = "gateway" in targets
        if per_call:
            head += " CPU per plugin call over (b) |"
        lines += [head, "|---|" + "---:|" * (4 + 2 * len(refs) + per_call)]
        for t in targets:
            rs = by.get((t, c), {})
            if not rs:
                lines.append(f"| {TARGETS[t]} | not measured |" + " |" * (3 + 2 * len(refs)))
                continue

            def ratio(ref, key):
                out = [r[key] / o[key] for rnd, r in rs.items()
                       if (o := by.get((ref, c), {}).get(rnd)) and o[key]]
                return fmt_ratio(med(out))

            cpu = [r["cpu_us_per_req"] for r in rs.values()]
            rps = [r["rps"] for r in rs.values()]
            lines.append(
                f"| {TARGETS[t]}{notes_of(rs.values())} | {fmt_rps(med(rps))}{spread(rps)} "
                f"| {fmt_lat(med(r['p50_us'] for r in rs.values()))} | {fmt_lat(med(r['p99_us'] for r in rs.values()))} "
                f"| {med(cpu):.1f} µs{spread(cpu)} |"
                + "".join(f" {ratio(k, 'rps')} |" for k, _ in refs)
                + "".join(f" {ratio(k, 'cpu_us_per_req')} |" for k, _ in refs)
                + (f" {per_plugin_call(t, rs, by.get(('gateway', c), {}))} |" if per_call else ""))
        lines += ["", "| target | wrk CPU/req | upstream CPU/req | CPU 0 busy (wrk, upstream) | CPU 1 busy (server) "
                  "| server threads | upstream sockets after (ESTAB / TIME_WAIT) | others' CPU (% of a core) |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for t in targets:
            rs = list(by.get((t, c), {}).values())
            if not rs:
                continue
            est = med(r["upstream_sockets"].get("ESTABLISHED", 0) for r in rs)
            tw = max(r["upstream_sockets"].get("TIME_WAIT", 0) for r in rs)
            lines.append(
                f"| {TARGETS[t]} | {med(r['client_us_per_req'] for r in rs):.1f} µs "
                f"| {med(r['upstream_us_per_req'] for r in rs):.1f} µs "
                f"| {med(r['cpu_busy_pct'].get('cpu0') for r in rs):.0f}% "
                f"| {med(r['cpu_busy_pct'].get('cpu1') for r in rs):.0f}% "
                f"| {max(r['server_threads'] for r in rs)} | {est:.0f} / {tw} "
                f"| {med(r['foreign_pct'] for r in rs):.1f} (max abs {max(abs(r['foreign_pct']) for r in rs):.1f}) |")
        lines.append("")
    return "\n".join(lines)


def per_plugin_call(target, rounds_of_target, rounds_of_gateway):
    """(CPU/req of `target` − CPU/req of (b)) ÷ the plugin calls a request makes on `target`, per
    round, then the median; blank for a target without plugin calls (or another build's)."""
    calls = PLUGIN_CALLS.get(target)
    if not calls:
        return ""
    out = [(r["cpu_us_per_req"] - g["cpu_us_per_req"]) / calls for rnd, r in rounds_of_target.items()
           if (g := rounds_of_gateway.get(rnd))]
    return f"{med(out):.1f} µs" if out else ""


def report_rate(results, targets, rate, rounds):
    by = {}
    for r in results:
        by.setdefault(r["target"], {})[r["round"]] = r
    conc = results[0]["conc"] if results else "?"
    lines = [f"**Fixed rate {rate} req/s**, wrk -t1 -c{conc} + bench/pace.lua, medians of {rounds} interleaved "
             "rounds (max over rounds in brackets for p99.9):\n",
             "| target | achieved req/s | p50 | p90 | p99 | p99.9 | max | server CPU/req at this rate | CPU 1 busy | others' CPU (max abs) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for t in targets:
        rs = list(by.get(t, {}).values())
        if not rs:
            lines.append(f"| {TARGETS[t]} | not measured | | | | | | | | |")
            continue

        def g(k):
            return med(r.get(k) for r in rs)

        lines.append(
            f"| {TARGETS[t]}{notes_of(rs)} | {g('pace_achieved'):.0f} | {fmt_lat(g('pace_p50_us'))} "
            f"| {fmt_lat(g('pace_p90_us'))} | {fmt_lat(g('pace_p99_us'))} "
            f"| {fmt_lat(g('pace_p99.9_us'))} ({fmt_lat(max(r['pace_p99.9_us'] for r in rs))}) "
            f"| {fmt_lat(g('pace_max_us'))} | {g('cpu_us_per_req'):.1f} µs{spread([r['cpu_us_per_req'] for r in rs])} "
            f"| {med(r['cpu_busy_pct'].get('cpu1') for r in rs):.0f}% | {max(abs(r['foreign_pct']) for r in rs):.1f} |")
    lines.append("")
    return "\n".join(lines)


def report_baseline(results, targets, concs, rounds):
    """Each gateway target's CPU per request and req/s over the baseline binary's, within rounds."""
    by = by_target(results)
    lines = []
    for c in concs:
        lines += [f"**c={c}**, this build over the baseline (medians of {rounds} within-round ratios, "
                  "min–max in brackets):\n",
                  "| target | CPU/req | CPU/req baseline | CPU/req ÷ baseline | req/s ÷ baseline |",
                  "|---|---:|---:|---:|---:|"]
        for base in [t for t in targets if t in BASELINE]:
            t = base_of(base)
            now, then = by.get((t, c), {}), by.get((base, c), {})
            both = [rnd for rnd in now if rnd in then]
            cpu = [now[r]["cpu_us_per_req"] / then[r]["cpu_us_per_req"] for r in both if then[r]["cpu_us_per_req"]]
            rps = [now[r]["rps"] / then[r]["rps"] for r in both if then[r]["rps"]]
            if not cpu or not rps:
                continue
            lines.append(
                f"| {TARGETS[t]} | {med(now[r]['cpu_us_per_req'] for r in both):.1f} µs "
                f"| {med(then[r]['cpu_us_per_req'] for r in both):.1f} µs "
                f"| {fmt_ratio(med(cpu))} ({min(cpu):.2f}–{max(cpu):.2f}) "
                f"| {fmt_ratio(med(rps))} ({min(rps):.2f}–{max(rps):.2f}) |")
        lines.append("")
    return "\n".join(lines)


def report_languages(results, targets, concs, rounds):
    """The screen targets next to (b): CPU per request and what the plugin adds to it, the
    difference taken within each round, then its median."""
    by = by_target(results)
    lines = []
    for c in concs:
        base = by.get(("gateway", c), {})
        lines += [f"**Plugin languages, c={c}**: the `screen` plugin on (b)'s route, medians of {rounds} "
                  f"interleaved rounds (± half the min–max spread); overhead = CPU/req − (b)'s in the same round:\n",
                  "| target | req/s | p50 | p99 | server CPU/req | overhead over (b) | CPU/req ÷ (b) | others' CPU (max) |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for t in ["gateway"] + [t for t in targets if screen_target(t)]:
            rs = by.get((t, c), {})
            if not rs:
                lines.append(f"| {TARGETS[t]} | not measured | | | | | | |")
                continue
            cpu = [r["cpu_us_per_req"] for r in rs.values()]
            diff = [r["cpu_us_per_req"] - base[n]["cpu_us_per_req"] for n, r in rs.items() if n in base]
            ratio = [r["cpu_us_per_req"] / base[n]["cpu_us_per_req"] for n, r in rs.items()
                     if n in base and base[n]["cpu_us_per_req"]]
            over = "–" if t == "gateway" or not diff else \
                f"{med(diff):+.1f} µs ({min(diff):+.1f} to {max(diff):+.1f})"
            lines.append(
                f"| {TARGETS[t]}{notes_of(rs.values())} | {fmt_rps(med(r['rps'] for r in rs.values()))} "
                f"| {fmt_lat(med(r['p50_us'] for r in rs.values()))} | {fmt_lat(med(r['p99_us'] for r in rs.values()))} "
                f"| {med(cpu):.1f} µs{spread(cpu)} | {over} | {fmt_ratio(med(ratio))} "
                f"| {max(r['foreign_pct'] for r in rs.values()):.1f} |")
        lines.append("")
    return "\n".join(lines)


def first_line(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except Exception:
        return "?"


def machine(bins):
    """The facts a figure depends on: the commit, the machine, the peers' versions."""
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    except OSError:
        pass
    commit = first_line(["git", "-C", REPO, "rev-parse", "HEAD"])
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip() != ""
    info = dict(commit=commit, dirty=dirty, nproc=os.cpu_count(), cpu=model, kernel=platform.release(),
                time=f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
                wrk=first_line(["wrk", "--version"]).split(" Copyright")[0] if which("wrk") else None)
    if which("nginx"):
        info["nginx"] = first_line([which("nginx"), "-v"])
    if which("haproxy"):
        info["haproxy"] = first_line([which("haproxy"), "-v"]).split(" - ")[0]
    if bins.get("envoy"):
        out = subprocess.run([bins["envoy"], "--version"], capture_output=True, text=True, timeout=30).stdout
        m = re.search(r"/(\d+\.\d+\.\d+)/(\w+)/(\w+)/(\w+)", out)
        info["envoy"] = f"{m.group(1)} ({m.group(3)}, {m.group(4)})" if m else "?"
    line = (f"{info['nproc']} × {model}, Linux {info['kernel']}; portcullis {commit[:10]}"
            f"{' (+ local changes)' if dirty else ''}; "
            + "; ".join(f"{k} {info[k]}" if k == "envoy" else info[k] for k in ("nginx", "haproxy", "envoy", "wrk")
                        if info.get(k))
            + f"; {info['time']}")
    return line, info
