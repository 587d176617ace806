"""Modes `load` (saturated: wrk at each --conc) and `rate` (a fixed request rate with pace.lua):
interleaved rounds, the order of the targets rotated each round, a fresh server per round and
target, checked first, then a discarded warm-up."""

import threading
import time
import urllib.request

from .measure import measure, wait_port, wrk
from .procs import PROCS, log
from .targets import DASHBOARD, HOST, TARGETS, request_headers, verify
from .tools import BENCH


def start_server(setup, t, wrapper=(), single_process=False, wait=120):
    """Starts target `t` (a fresh process) and waits for its port. RuntimeError if it never listens."""
    argv, env = setup.command(t, wrapper=wrapper, single_process=single_process)
    for _ in range(3):  # a server that exits at once (port briefly taken) gets two more tries
        server = PROCS.start(argv, setup.log, env=env)
        if wait_port(setup.ports[t], server, wait):
            time.sleep(0.3)
            return server
        PROCS.stop(server)
        time.sleep(2)
    raise RuntimeError(f"did not listen on {HOST}:{setup.ports[t]} (see {setup.dir}/servers.log)")


def envoy_stats(setup):
    """Envoy's own count of upstream connections and requests (a proxy that did not reuse its
    upstream connections would show one connection per request)."""
    url = f"http://{HOST}:{setup.admin_port}/stats?filter=cluster.be.upstream_(cx_total|rq_total)"
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return " ".join(r.read().decode().split())
    except Exception as e:
        return f"(no stats: {e!r})"


class DashboardPoller:
    """What an open dashboard asks of the admin API (host/src/admin/dashboard/app.js): the page and
    the data it reads once, then /status, /upstreams, /plugins and /stats every second, one
    refresh after the other. Runs in a thread of this process (on the client's CPU) until stopped."""

    ONCE = ("/", "/dashboard/app.js", "/routes", "/manifest")
    EVERY_SECOND = ("/status", "/upstreams", "/plugins", "/stats")

    def __init__(self, port):
        self.port, self.refreshes, self.failures = port, 0, 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def get(self, path):
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.port}{path}", timeout=3) as r:
                r.read()
        except Exception:
            self.failures += 1

    def run(self):
        for path in self.ONCE:
            self.get(path)
        while not self.stopped.is_set():
            started = time.monotonic()
            for path in self.EVERY_SECOND:
                self.get(path)
            self.refreshes += 1
            self.stopped.wait(max(0.0, 1.0 - (time.monotonic() - started)))

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=5)
        return self.refreshes, self.failures


def mode_load(args, setup, targets, upstream, emit, rate_mode=False):
    """Returns (results, {target: why it was left out})."""
    concs = [int(c) for c in args.conc.split(",")]
    if rate_mode:
        concs = concs[:1]
    results, failed = [], {}
    for rnd in range(args.rounds):
        order = targets[rnd % len(targets):] + targets[:rnd % len(targets)]
        log(f"bench: {'rate' if rate_mode else 'load'} round {rnd + 1}/{args.rounds}: {' → '.join(order)}")
        for t in order:
            if t in failed:
                continue
            server = poller = None
            headers = request_headers(t, args.user_agent)
            try:
                server = start_server(setup, t)
                verify(t, setup.ports[t], args.user_agent)
                if t in DASHBOARD:
                    poller = DashboardPoller(setup.dash_ports[t])
                wrk(setup.ports[t], concs[0], args.warmup, headers)  # warm-up, discarded
                for c in concs:
                    if rate_mode:
                        r = measure(args, t, setup.ports[t], c, server, upstream, args.duration, headers,
                                    f"{BENCH}/pace.lua", [str(args.rate)])
                        r["rate"] = args.rate
                    else:
                        r = measure(args, t, setup.ports[t], c, server, upstream, args.duration, headers)
                    r["round"] = rnd
                    r["mode"] = "rate" if rate_mode else "load"
                    results.append(r)
                    emit(r)
                if t.startswith("envoy"):
                    log(f"   {t} envoy stats: {envoy_stats(setup)}")
            except RuntimeError as e:
                log(f"!! {TARGETS[t]}: {e}\n!! {TARGETS[t]} is left out of this run")
                failed[t] = str(e)
            finally:
                if poller:
                    refreshes, failures = poller.stop()
                    log(f"   {t}: {refreshes} dashboard refreshes, {failures} failed requests")
                PROCS.stop(server)
                time.sleep(0.5)
    return results, failed
