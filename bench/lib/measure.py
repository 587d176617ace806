"""Measuring on a shared 2-core machine: CPU time of a server's whole session from /proc, the idle
gate before a run, the noise check after it, wrk bounded in time, and a small client that sends
an exact number of requests (for the counts that do not depend on load: instructions, syscalls)."""

import http.client
import os
import re
import resource
import signal
import socket
import subprocess
import threading
import time

from .procs import log
from .targets import CPU_CLIENT, HOST

TCK = os.sysconf("SC_CLK_TCK")


def port_open(port):
    try:
        socket.create_connection((HOST, port), 0.2).close()
        return True
    except OSError:
        return False


def wait_port(port, proc, t):
    end = time.time() + t
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        if port_open(port):
            return True
        time.sleep(0.1)
    return False


def session_pids(sid):
    """[(pid, stat fields after the name)] of every process in session `sid`."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rfind(")") + 2:].split()
        if int(fields[3]) == sid:  # field 6, `session`
            out.append((int(d), fields))
    return out


def session_ticks(sid):
    """CPU ticks (user+sys, all threads) of every process in session `sid`."""
    return sum(int(f[11]) + int(f[12]) for _, f in session_pids(sid))


def session_threads(sid):
    return sum(int(f[17]) for _, f in session_pids(sid))


def session_tids(sid):
    """Every thread of every process in session `sid`."""
    tids = []
    for pid, _ in session_pids(sid):
        try:
            tids += [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            pass
    return tids


def session_mem(sid):
    """RSS and PSS (KiB) summed over the session's processes, and the process names."""
    rss = pss = 0
    names = []
    for pid, _ in session_pids(sid):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
            with open(f"/proc/{pid}/comm") as f:
                names.append(f.read().strip())
        except OSError:
            pass
    return rss, pss, names


def cpu_stat():
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                f_ = line.split()
                v = list(map(int, f_[1:8]))
                out[f_[0]] = (sum(v) - v[3] - v[4], sum(v), int(f_[8]))  # busy, total, steal
    return out


def tcp_states(port, local=False):
    """{state: count} of IPv4 TCP sockets whose remote (or local) port is `port`."""
    n = {}
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                p = line.split()
                addr = p[1] if local else p[2]
                if int(addr.split(":")[1], 16) == port:
                    st = {"01": "ESTABLISHED", "06": "TIME_WAIT", "0A": "LISTEN"}.get(p[3], p[3])
                    n[st] = n.get(st, 0) + 1
    except OSError:
        pass
    return n


def idle_gate(max_busy_pct, need_quiet_s, max_wait):
    """Waits until the machine has been quiet (< max_busy_pct of one core busy) for need_quiet_s
    seconds in a row; gives up after max_wait seconds. Returns (seconds waited, quiet?)."""
    t0 = time.time()
    warned = False
    quiet = 0
    while True:
        a, ta = cpu_stat(), time.time()
        time.sleep(1.0)
        b, tb = cpu_stat(), time.time()
        pct = 100.0 * sum(b[k][0] - a[k][0] for k in b) / TCK / (tb - ta)
        if pct < max_busy_pct:
            quiet += 1
            if quiet >= need_quiet_s:
                return time.time() - t0, True
        else:
            quiet = 0
            if not warned:
                log(f"   .. machine busy ({pct:.0f}% of a core used by others), waiting up to {max_wait}s")
                warned = True
        if time.time() - t0 > max_wait:
            log("   .. still busy; measuring anyway (the result will likely be rejected as noisy)")
            return time.time() - t0, False


def to_us(s):
    m = re.match(r"([\d.]+)(us|ms|s)$", s)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]


def parse_wrk(out):
    r = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for q in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{q}(?:\.000)?%\s+(\S+)", out, re.M)
        r[f"p{q}_us"] = to_us(m.group(1)) if m else None
    r["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", out)
    r["sock_err"] = m.group(1).strip() if m else ""
    for m in re.finditer(r"^PACE (.*)$", out, re.M):  # pace.lua's own summary (rate mode)
        for kv in m.group(1).split():
            k, v = kv.split("=", 1)
            r[f"pace_{k}"] = v if "/" in v else float(v)
    return r


def wrk(port, conc, dur, headers, script=None, script_args=()):
    """One bounded wrk run from CPU 0, sending `headers` ({name: value}); returns its stdout."""
    cmd = ["taskset", "-c", CPU_CLIENT, "timeout", "-k", "5", str(dur + 20), "wrk", "-t1", f"-c{conc}",
           f"-d{dur}s", "--latency"]
    if script:
        cmd += ["-s", script]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    cmd += [f"http://{HOST}:{port}/"]
    if script_args:
        cmd += ["--"] + list(script_args)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=dur + 40)
    except BaseException:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
        raise
    return out


def measure(args, target, port, conc, server, upstream, dur, headers, script=None, script_args=()):
    """One measured wrk run, rerun (up to --attempts) while the machine was noisy; the least noisy
    is kept and flagged. Returns a result dict."""
    best = None
    for attempt in range(args.attempts):
        waited, quiet = idle_gate(args.max_foreign, 3, args.max_wait)
        c0 = cpu_stat()
        ts0, tu0 = session_ticks(server.pid), session_ticks(upstream.pid)
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.time()
        out = wrk(port, conc, dur, headers, script, script_args)
        el = time.time() - t0
        c1 = cpu_stat()
        ts1, tu1 = session_ticks(server.pid), session_ticks(upstream.pid)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        sockets = tcp_states(args.port_base)
        try:
            r = parse_wrk(out)
        except Exception:
            raise RuntimeError(f"cannot read wrk's output:\n{out}")
        client_s = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        server_s = (ts1 - ts0) / TCK
        up_s = (tu1 - tu0) / TCK if upstream.pid != server.pid else 0.0
        busy_s = sum(c1[k][0] - c0[k][0] for k in c1) / TCK
        # Other processes' CPU, in % of one core. Negative when the kernel counted less CPU time
        # than our processes used: ticks were lost (e.g. the VM's CPUs were descheduled by its
        # host without steal accounting). Both mean a run that is not clean.
        foreign = 100.0 * (busy_s - client_s - server_s - up_s) / el
        with open("/proc/loadavg") as f:
            loadavg = f.read().split()[0]
        r.update(target=target, conc=conc, attempt=attempt, waited_s=round(waited, 1), quiet_before=quiet,
                 elapsed_s=round(el, 2), server_cpu_s=server_s, upstream_cpu_s=up_s,
                 client_cpu_s=round(client_s, 3), foreign_pct=round(foreign, 1),
                 steal_pct=round(100.0 * sum(c1[k][2] - c0[k][2] for k in c1) / TCK / el, 1),
                 # % of wall time; /proc/stat's idle figure can fall short of wall time on this
                 # kind of VM, so the busy figure is divided by wall time, not by busy+idle.
                 cpu_busy_pct={k: round(100 * (c1[k][0] - c0[k][0]) / TCK / el, 1) for k in c1},
                 cpu_ticked_pct={k: round(100 * (c1[k][1] - c0[k][1]) / TCK / el, 1) for k in c1},
                 server_threads=session_threads(server.pid), upstream_sockets=sockets,
                 loadavg=loadavg, ts=round(t0, 1))
        r["cpu_us_per_req"] = 1e6 * server_s / max(1, r["requests"])
        r["client_us_per_req"] = 1e6 * client_s / max(1, r["requests"])
        r["upstream_us_per_req"] = 1e6 * up_s / max(1, r["requests"])
        r["accepted"] = abs(foreign) <= args.max_foreign
        r["valid"] = r["non2xx"] == 0 and not r["sock_err"]
        flag = "" if r["accepted"] else "  NOISY"
        if not r["valid"]:
            flag += f"  ERRORS non2xx={r['non2xx']} {r['sock_err']}"
        extra = ""
        if "pace_achieved" in r:
            extra = (f"  achieved {r['pace_achieved']:.0f}/s p50 {r['pace_p50_us']:.0f} p99 {r['pace_p99_us']:.0f}"
                     f" max {r['pace_max_us']:.0f} us")
        log(f"   {target:16} c={conc:<4} {r['rps']:>9.0f} req/s  p50 {r['p50_us'] or 0:>7.0f} us  "
            f"p99 {r['p99_us'] or 0:>7.0f} us  server {r['cpu_us_per_req']:6.2f} us/req  "
            f"wrk {r['client_us_per_req']:5.2f} us/req  busy {r['cpu_busy_pct']}  others {foreign:+.1f}%"
            f"  up-sockets {sockets}{extra}{flag}")
        if best is None or abs(r["foreign_pct"]) < abs(best["foreign_pct"]):
            best = r
        if r["accepted"]:
            return r
    return best


def fixed_requests(port, total, headers, conns=1, timeout=60.0):
    """Sends exactly `total` GET / requests over `conns` keep-alive connections (one thread
    each, one request at a time per connection) and reads every answer. Returns the number of
    answers that were not 200 with 100 bytes; raises RuntimeError on a connection failure."""
    bad = [0]
    errors = []
    lock = threading.Lock()

    def worker(n):
        try:
            c = http.client.HTTPConnection(HOST, port, timeout=timeout)
            for _ in range(n):
                c.request("GET", "/", headers=headers)
                resp = c.getresponse()
                body = resp.read()
                if resp.status != 200 or len(body) != 100:
                    with lock:
                        bad[0] += 1
            c.close()
        except (OSError, http.client.HTTPException) as e:
            errors.append(repr(e))

    share = [total // conns + (1 if i < total % conns else 0) for i in range(conns)]
    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in share if n]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise RuntimeError(f"the fixed-count client failed: {errors[0]}")
    return bad[0]
