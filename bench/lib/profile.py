"""Where the server's work goes, three ways:

- `perf`: `perf record` (cpu-clock, 999 Hz) of the server under saturated wrk load, self time by
  symbol grouped by crate, in µs per request (depends on load and on the machine's noise);
- `callgrind`: instructions per request, counted by `valgrind --tool=callgrind` over an exact
  number of requests sent one at a time after a warm-up (counters zeroed with `callgrind_control
  -z` after the warm-up, dumped with `-d` after the last answer), grouped the same way. The count
  does not depend on other processes, so two builds can be compared on a busy machine;
- `syscalls`: system calls per request (`strace -c` attached to every thread of the server) and
  voluntary context switches per request (each one a sleep, so later a wake-up; counted without
  strace, from /proc), over an exact number of requests.
"""

import bisect
import glob
import os
import re
import shutil
import signal
import subprocess
import threading
import time

from .load import start_server
from .measure import (TCK, fixed_requests, idle_gate, parse_wrk, session_pids, session_ticks,
                      session_tids, wrk)
from .procs import PROCS, log
from .targets import CPU_CLIENT, TARGETS, is_gateway, request_headers, screen_target, verify

CRATES = [
    # (group, predicate on (object, symbol))
    ("kernel", lambda d, s: d.startswith("[kernel")),
    ("allocator (glibc malloc/free)", lambda d, s: d.startswith("libc") and re.match(
        r"(_int_malloc|_int_free|__libc_malloc|malloc|free|cfree|__libc_free|realloc|_int_realloc|"
        r"malloc_consolidate|__libc_calloc|calloc|unlink_chunk|tcache_\w+|_int_memalign|__memalign|"
        r"__posix_memalign|posix_memalign|aligned_alloc|__libc_realloc|alloc_perturb|sysmalloc)\b", s)),
    ("libc memcpy/memmove/memset", lambda d, s: d.startswith("libc") and re.match(r"__mem|mem(cpy|move|set|cmp)", s)),
    ("libc other", lambda d, s: d.startswith("libc") or d.startswith("ld-linux")),
    ("vDSO (clock_gettime)", lambda d, s: d == "[vdso]"),
    ("JIT code (Wasm guests)", lambda d, s: d.startswith(("[JIT]", "//anon", "???")) or d in ("[unknown]", "perf-")),
]
RUST_GROUPS = {"tokio": "tokio", "mio": "tokio", "hyper": "hyper", "hyper_util": "hyper", "h2": "hyper",
               "httparse": "hyper (httparse)", "http": "http", "http_body": "http", "http_body_util": "http",
               "wasmtime": "wasmtime", "wasmtime_environ": "wasmtime", "cranelift_codegen": "wasmtime",
               "wasmtime_internal_core": "wasmtime", "wasmtime_internal_fiber": "wasmtime",
               "wasmtime_internal_cranelift": "wasmtime", "wasmtime_wasi": "wasmtime",
               "cranelift_bforest": "wasmtime", "cranelift_entity": "wasmtime",
               "portcullis": "portcullis", "bench_upstream": "portcullis", "bytes": "bytes",
               "hashbrown": "std/core/alloc", "std": "std/core/alloc", "core": "std/core/alloc",
               "alloc": "std/core/alloc", "__rustc": "std/core/alloc", "dashmap": "dashmap",
               "tracing": "tracing", "tracing_core": "tracing", "tracing_subscriber": "tracing",
               "arc_swap": "arc-swap"}


def rust_group(sym):
    """The first path segment naming a crate, skipping the generic wrappers of core/alloc/std
    (drop_in_place<hyper::..> is hyper's), then the wrapper itself."""
    segs = re.findall(r"(?:^|[<\s(,&*\[])([a-z_][a-z0-9_]*)::", sym)
    for s in segs:
        if s not in ("core", "alloc", "std", "__rustc"):
            return RUST_GROUPS.get(s, f"other crates ({s})")
    for s in segs:
        return RUST_GROUPS.get(s, f"other crates ({s})")
    return None


def classify(dso, sym):
    for g, pred in CRATES:
        if pred(dso, sym):
            return g
    if "portcullis" in dso or dso == "bench-upstream":  # the gateway's binary, under any name
        g = rust_group(sym)
        if g:
            return g
        if sym.startswith(("wasmtime_", "cranelift")):
            return "wasmtime"
        return "portcullis binary, unnamed (C/asm, e.g. wasmtime trampolines)"
    if dso in ("nginx", "haproxy", "envoy"):
        return f"{dso} (its own code)"
    return f"other ({dso})"


def group_lines(groups, per_req, unit):
    return [f"      {g:45} {p:6.2f}%  {p / 100 * per_req:9.2f} {unit}" for g, p in sorted(groups.items(), key=lambda x: -x[1])]


# --------------------------------------------------------------------------------------------
# perf


def mode_perf(args, setup, targets, emit):
    """perf record of the server's processes for --perf-secs while wrk runs at the first --conc;
    self time by symbol, grouped by crate, in µs per request."""
    conc = int(args.conc.split(",")[0])
    summaries, failed = [], {}
    for t in targets:
        server = None
        headers = request_headers(t, args.user_agent)
        try:
            server = start_server(setup, t)
            verify(t, setup.ports[t], args.user_agent)
            wrk(setup.ports[t], conc, args.warmup, headers)
            idle_gate(args.max_foreign, 3, args.max_wait)
            data = f"{setup.dir}/perf-{t}.data"
            pids = ",".join(str(p) for p, _ in session_pids(server.pid))
            ts0 = session_ticks(server.pid)
            holder = {}
            th = threading.Thread(target=lambda: holder.setdefault(
                "out", wrk(setup.ports[t], conc, args.perf_secs + 4, headers)))
            th.start()
            time.sleep(2)
            # perf itself on CPU 0 (with wrk), never on the server's core.
            perf = subprocess.run(["taskset", "-c", CPU_CLIENT, "timeout", str(args.perf_secs + 30), "perf", "record",
                                   "-F", "999", "-g", "-p", pids, "-o", data, "--", "sleep", str(args.perf_secs)],
                                  capture_output=True, text=True)
            th.join()
            ts1 = session_ticks(server.pid)
            r = parse_wrk(holder["out"])
            cpu_us = 1e6 * (ts1 - ts0) / TCK / max(1, r["requests"])
            if perf.returncode != 0 or not os.path.exists(data):
                raise RuntimeError(f"perf record failed: {perf.stderr.strip()[-400:]}")
            rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,sym", "--stdio",
                                  "-g", "none", "--percent-limit", "0", "--demangle"],
                                 capture_output=True, text=True).stdout
            with open(f"{setup.dir}/perf-{t}.report.txt", "w") as f:
                f.write(rep)
            groups, syms = {}, []
            for line in rep.splitlines():
                m = re.match(r"\s+([\d.]+)%\s+(.+?)\s+\[([.k])\]\s+(.*)$", line)
                if not m:
                    continue
                pct, dso, sym = float(m.group(1)), m.group(2), m.group(4).strip()
                g = classify(dso, sym)
                groups[g] = groups.get(g, 0.0) + pct
                syms.append((pct, g, dso, sym))
            summary = dict(mode="perf", target=t, conc=conc, rps=r["rps"], requests=r["requests"],
                           cpu_us_per_req=cpu_us, total_pct=sum(groups.values()),
                           groups={g: round(p, 2) for g, p in sorted(groups.items(), key=lambda x: -x[1])},
                           top=[dict(pct=p, group=g, dso=d, sym=s[:160]) for p, g, d, s in sorted(syms, reverse=True)[:40]])
            summaries.append(summary)
            emit(summary)
            log(f"   perf {t}: {r['rps']:.0f} req/s, {cpu_us:.2f} us/req, samples {summary['total_pct']:.1f}%")
            for line in group_lines(groups, cpu_us, "µs/req"):
                log(line)
        except RuntimeError as e:
            log(f"!! {TARGETS[t]}: {e}")
            failed[t] = str(e)
        finally:
            PROCS.stop(server)
            time.sleep(0.5)
    text = []
    for s in summaries:
        text.append(f"**perf, {TARGETS[s['target']]}** (c={s['conc']}): {s['rps']:.0f} req/s, "
                    f"{s['cpu_us_per_req']:.2f} µs of server CPU per request; self time by group:\n")
        text += ["| group | share of samples | µs per request |", "|---|---:|---:|"]
        text += [f"| {g} | {p:.1f}% | {p / 100 * s['cpu_us_per_req']:.2f} |" for g, p in s["groups"].items()]
        text.append(f"\n(perf data and report: {setup.dir}/perf-{s['target']}.*)\n" if args.keep else "")
    return "\n".join(text) + "\n", failed


# --------------------------------------------------------------------------------------------
# callgrind


def callgrind_self_costs(path):
    """Self cost (Ir) per (object, function) in a callgrind dump, and the file's total. The
    cost line after a `calls=` line is the call's inclusive cost and belongs to the callee."""
    names = {"ob": {}, "fn": {}}
    costs = {}
    ob = fn = "???"
    total = 0
    skip_next = False
    name_re = re.compile(r"^(c?)(ob|fn)=\((\d+)\)(?: (.*))?$")
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                if skip_next:
                    skip_next = False
                    continue
                parts = line.split()
                if len(parts) >= 2:
                    costs[(ob, fn)] = costs.get((ob, fn), 0) + int(parts[1])
                continue
            if line.startswith("calls="):
                skip_next = True
                continue
            if line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
                continue
            m = name_re.match(line)
            if m:
                kind, num, name = m.group(2), m.group(3), m.group(4)
                if name is not None:
                    names[kind][num] = name
                if not m.group(1):  # ob= / fn= (not the callee's cob= / cfn=)
                    if kind == "ob":
                        ob = names["ob"].get(num, "???")
                    else:
                        fn = names["fn"].get(num, "???")
    return costs, total


def perf_map(pid):
    """The functions a JIT named in /tmp/perf-PID.map (wasmtime's `--wasm-perfmap`): sorted
    (start, end, name) triples; empty when the file is absent (an old binary, or no guest)."""
    spans = []
    try:
        with open(f"/tmp/perf-{pid}.map", errors="replace") as f:
            for line in f:
                start, size, name = (line.rstrip("\n").split(" ", 2) + ["", ""])[:3]
                try:
                    spans.append((int(start, 16), int(start, 16) + int(size, 16), name))
                except ValueError:
                    continue
    except OSError:
        return []
    return sorted(spans)


def guest_name(spans, fn):
    """The JIT function an unnamed callgrind function (`0x...`) falls in, or None."""
    if not spans or not fn.startswith("0x"):
        return None
    try:
        addr = int(fn, 16)
    except ValueError:
        return None
    i = bisect.bisect_right(spans, (addr, float("inf"), "")) - 1
    if i >= 0 and spans[i][0] <= addr < spans[i][1]:
        return spans[i][2]
    return None


def callgrind_targets(targets):
    """Callgrind runs the gateway targets, the upstream, nginx (without its master) and haproxy;
    Envoy is left out, and said so: its V8 engine and 100 MB binary are not for valgrind."""
    return [t for t in targets if not t.startswith("envoy")]


def mode_callgrind(args, setup, targets, emit):
    rows, failed = [], {}
    n, warm = args.requests, args.warmup_requests
    for t in targets:
        server = None
        out = f"{setup.dir}/callgrind-{t}.out"
        wrapper = ["valgrind", "--tool=callgrind", "--collect-atstart=yes", f"--callgrind-out-file={out}",
                   "--vgdb=yes", "--error-limit=no"]
        try:
            if is_gateway(t):
                precompile(setup, t)
            # Even loaded from the cache, a 12-18 MB JavaScript or Python component takes minutes
            # to start under valgrind (plugin-costs: 9 minutes for JavaScript on a busy machine).
            big = (screen_target(t) or ("",))[0] in ("js", "python")
            server = start_server(setup, t, wrapper=wrapper, single_process=True, wait=1800 if big else 300)
            headers = request_headers(t, args.user_agent)
            verify(t, setup.ports[t], args.user_agent)
            bad = fixed_requests(setup.ports[t], warm, headers, conns=args.fixed_conns)
            zero = subprocess.run(["callgrind_control", "-z", str(server.pid)], capture_output=True, text=True, timeout=60)
            if zero.returncode != 0 or "OK" not in zero.stdout:
                raise RuntimeError(f"callgrind_control -z failed: {zero.stdout}{zero.stderr}")
            t0 = time.time()
            bad += fixed_requests(setup.ports[t], n, headers, conns=args.fixed_conns)
            el = time.time() - t0
            for f in glob.glob(f"{out}.*"):
                os.unlink(f)
            dump = subprocess.run(["callgrind_control", "-d", str(server.pid)], capture_output=True, text=True, timeout=60)
            dumps = sorted(glob.glob(f"{out}.*"))
            if dump.returncode != 0 or not dumps:
                raise RuntimeError(f"callgrind_control -d wrote no dump: {dump.stdout}{dump.stderr}")
            costs, total = callgrind_self_costs(dumps[-1])
            spans = perf_map(server.pid)
            if spans:  # into the run directory, kept with --keep like the dumps
                shutil.move(f"/tmp/perf-{server.pid}.map", f"{setup.dir}/perf-{t}.map")
            guests, groups = {}, {}
            for (ob, fn), ir in costs.items():
                name = guest_name(spans, fn)
                if name:
                    guests[name] = guests.get(name, 0) + ir
                g = classify(os.path.basename(ob), fn)
                groups[g] = groups.get(g, 0) + ir
            top = sorted(costs.items(), key=lambda x: -x[1])[:30]
            row = dict(mode="callgrind", target=t, requests=n, warmup_requests=warm, conns=args.fixed_conns,
                       bad_answers=bad, instructions=total, instructions_per_req=total / n, seconds=round(el, 2),
                       groups={g: ir / n for g, ir in sorted(groups.items(), key=lambda x: -x[1])},
                       top=[dict(ir_per_req=ir / n, object=os.path.basename(ob), fn=fn[:160]) for (ob, fn), ir in top],
                       guest_top=[dict(ir_per_req=ir / n, fn=name[:160])
                                  for name, ir in sorted(guests.items(), key=lambda x: -x[1])[:30]])
            rows.append(row)
            emit(row)
            log(f"   callgrind {t}: {total / n:,.0f} instructions per request ({n} requests after {warm} warm-up, "
                f"{el:.1f}s under valgrind){f', {bad} bad answers' if bad else ''}")
            for g, ir in list(row["groups"].items())[:8]:
                log(f"      {g:45} {ir:12,.0f}")
            if row["guest_top"]:
                log("      guest functions (self, per request):")
                for g in row["guest_top"][:12]:
                    log(f"        {g['ir_per_req']:10,.0f}  {g['fn'][:110]}")
            if bad:
                raise RuntimeError(f"{bad} answers were not 200 with 100 bytes")
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            log(f"!! {TARGETS[t]}: {e}")
            failed[t] = str(e)
            if is_gateway(t):
                hint = pool_hint(setup)
                if hint:
                    failed[t] += f"; {hint}"
                    log(f"!! {hint}")
        finally:
            PROCS.stop(server, grace=30)
            time.sleep(0.5)
    text = [f"**Instructions per request** (valgrind --tool=callgrind, user space of the server's process, "
            f"all threads), {n} requests over {args.fixed_conns} keep-alive connection(s), one at a time, after "
            f"{warm} warm-up requests; independent of the machine's load:\n",
            "| target | instructions/request | " + " | ".join(f"top {i}" for i in (1, 2, 3)) + " |",
            "|---|---:|---|---|---|"]
    for r in rows:
        tops = [f"{g} {ir:,.0f}" for g, ir in list(r["groups"].items())[:3]]
        text.append(f"| {TARGETS[r['target']]} | {r['instructions_per_req']:,.0f} | " + " | ".join(tops + [""] * (3 - len(tops))) + " |")
    ref = next((r for r in rows if r["target"] == "nginx"), None)
    if ref:
        text.append("\nOver nginx: " + ", ".join(f"{TARGETS[r['target']]} {r['instructions_per_req'] / ref['instructions_per_req']:.2f}×"
                                                for r in rows))
    return "\n".join(text) + "\n", failed


def precompile(setup, target):
    """Compiles a gateway target's components into its disk cache with `portcullis check`, outside
    valgrind: the gateway under valgrind then loads them from the cache instead of compiling
    (Cranelift under valgrind takes minutes for the 12-18 MB JavaScript and Python components)."""
    argv, env = setup.command(target)
    if argv[-2] != "run":
        raise RuntimeError(f"unexpected gateway command line: {argv}")
    argv[-2] = "check"
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"`portcullis check` of {target}'s manifest failed: {done.stdout}{done.stderr}")


def pool_hint(setup):
    """Why the gateway did not start under valgrind, when the log says it was the Wasm pool."""
    try:
        with open(f"{setup.dir}/servers.log") as f:
            log_text = f.read()[-20000:]
    except OSError:
        return None
    m = re.findall(r"mmap failed to reserve (0x[0-9a-f]+) bytes", log_text)
    if not m:
        return None
    size = int(m[-1], 16)
    return (f"the gateway's Wasm pooling allocator reserves {size / 2**40:.1f} TiB of address space at start, "
            "more than valgrind gives its client (under 64 GiB); this binary predates --plugin-instances "
            "(PORTCULLIS_PLUGIN_INSTANCES, set to 8 here), which lets it start with a smaller pool")


# --------------------------------------------------------------------------------------------
# syscalls and wake-ups


def mode_syscalls(args, setup, targets, emit):
    """Counted per thread, twice over the same length of time: while the requests run, then
    idle. A thread as busy idle as under load (the epoch ticker, a stats flush) does periodic
    work that scales with time, not with requests: it is reported apart, per second."""
    rows, failed = [], {}
    n, warm = args.requests, args.warmup_requests
    for t in targets:
        server = None
        try:
            server = start_server(setup, t)
            headers = request_headers(t, args.user_agent)
            verify(t, setup.ports[t], args.user_agent)
            fixed_requests(setup.ports[t], warm, headers, conns=args.fixed_conns)

            def requests():
                return fixed_requests(setup.ports[t], n, headers, conns=args.fixed_conns)

            # Wake-ups without strace (which adds stops of its own).
            s0 = thread_switches(server.pid)
            t0 = time.time()
            requests()
            el = time.time() - t0
            s1 = thread_switches(server.pid)
            time.sleep(el)
            s2 = thread_switches(server.pid)
            busy_sw = {k: s1[k][1] - s0.get(k, (k, 0))[1] for k in s1}
            idle_sw = {k: s2.get(k, s1[k])[1] - s1[k][1] for k in s1}
            bg_sw = periodic(busy_sw, idle_sw)
            # Then the system calls, over the same number of requests, and idle for as long.
            busy, el_s, bad = strace_calls(setup, server, f"strace-{t}", requests)
            if not busy:
                raise RuntimeError(f"strace counted no system call ({setup.dir}/strace-{t}.*, servers.log)")
            idle, _, _ = strace_calls(setup, server, f"strace-{t}-idle", lambda: time.sleep(el_s))
            bg = periodic({k: sum(v.values()) for k, v in busy.items()}, {k: sum(v.values()) for k, v in idle.items()})
            per_req = {}
            for tid, calls in busy.items():
                if tid not in bg:
                    for k, v in calls.items():
                        per_req[k] = per_req.get(k, 0) + v / n
            per_req = dict(sorted(per_req.items(), key=lambda x: -x[1]))
            names = {tid: name for tid, (name, _) in s1.items()}
            row = dict(mode="syscalls", target=t, requests=n, conns=args.fixed_conns, bad_answers=bad,
                       syscalls_per_req=sum(per_req.values()), by_syscall=per_req,
                       periodic_threads=sorted({names.get(k, str(k)) for k in bg | bg_sw}),
                       periodic_syscalls_per_s=sum(sum(idle.get(k, {}).values()) for k in bg) / max(el_s, 1e-3),
                       wakeups_per_req=sum(v for k, v in busy_sw.items() if k not in bg_sw) / n,
                       periodic_wakeups_per_s=sum(idle_sw[k] for k in bg_sw) / max(el, 1e-3))
            rows.append(row)
            emit(row)
            log(f"   syscalls {t}: {row['syscalls_per_req']:.2f} per request, wake-ups {row['wakeups_per_req']:.2f} per "
                f"request; periodic threads {row['periodic_threads']}: {row['periodic_syscalls_per_s']:.0f} syscalls/s, "
                f"{row['periodic_wakeups_per_s']:.0f} wake-ups/s; " + ", ".join(f"{k} {v:.2f}" for k, v in list(per_req.items())[:8]))
            if bad:
                raise RuntimeError(f"{bad} answers were not 200 with 100 bytes")
        except RuntimeError as e:
            log(f"!! {TARGETS[t]}: {e}")
            failed[t] = str(e)
        finally:
            PROCS.stop(server)
            time.sleep(0.5)
    text = [f"**System calls and wake-ups per request**, {n} requests over {args.fixed_conns} keep-alive "
            f"connection(s), one at a time, after {warm} warm-up requests; syscalls by strace on every thread of "
            "the server, wake-ups = voluntary context switches of its threads (counted without strace). Threads "
            "as busy idle as under load (periodic work) are counted apart, per second:\n",
            "| target | syscalls/request | wake-ups/request | the most frequent per request | periodic threads: syscalls/s, wake-ups/s |",
            "|---|---:|---:|---|---|"]
    for r in rows:
        most = ", ".join(f"{k} {v:.2f}" for k, v in list(r["by_syscall"].items())[:6])
        per = (f"{', '.join(r['periodic_threads'])}: {r['periodic_syscalls_per_s']:.0f}, {r['periodic_wakeups_per_s']:.0f}"
               if r["periodic_threads"] else "none")
        text.append(f"| {TARGETS[r['target']]} | {r['syscalls_per_req']:.2f} | {r['wakeups_per_req']:.2f} | {most} | {per} |")
    return "\n".join(text) + "\n", failed


def periodic(busy, idle):
    """The threads that did at least half as much idle as under load."""
    return {k for k, v in idle.items() if v > 0 and v >= 0.5 * busy.get(k, 0)}


def thread_switches(sid):
    """{tid: (thread name, voluntary context switches)} over the session's threads."""
    out = {}
    for pid in session_tids(sid):
        try:
            name = vol = None
            with open(f"/proc/{pid}/status") as f:  # /proc/TID works for any thread
                for line in f:
                    if line.startswith("Name:"):
                        name = line.split(None, 1)[1].strip()
                    elif line.startswith("voluntary_ctxt_switches"):
                        vol = int(line.split()[1])
            if vol is not None:
                out[pid] = (name, vol)
        except OSError:
            pass
    return out


def strace_calls(setup, server, name, action):
    """strace attached to every thread of `server` (one output file per thread) while `action`
    runs: ({tid: {syscall: calls}}, seconds attached, what `action` returned)."""
    prefix = f"{setup.dir}/{name}"
    argv = ["timeout", "-s", "INT", "600", "strace", "-f", "-ff", "-qq", "-o", prefix]
    for tid in session_tids(server.pid):
        argv += ["-p", str(tid)]
    strace = PROCS.start(argv, setup.log)
    try:
        t0 = time.time()
        time.sleep(1.5)  # attached to every thread
        result = action()
    finally:
        PROCS.stop(strace, grace=30, sig=signal.SIGINT)
    el = time.time() - t0
    calls = {}
    call_re = re.compile(r"^([a-z_0-9]+)\(")  # a call's first line; `<... resumed>` lines are not counted
    for path in glob.glob(f"{prefix}.*"):
        tid = int(path.rsplit(".", 1)[1])
        c = calls.setdefault(tid, {})
        with open(path, errors="replace") as f:
            for line in f:
                m = call_re.match(line)
                if m:
                    c[m.group(1)] = c.get(m.group(1), 0) + 1
    return calls, el, result
