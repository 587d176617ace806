"""The servers under test: their names and labels, their configurations (bench/conf/*.in, with
@NAME@ placeholders), their pinned command lines, and the check of their answers that comes
before any measurement (a misconfigured peer must not be measured as fast)."""

import os
import re
import urllib.error
import urllib.request

from .tools import BENCH, screen_wasm

HOST = "127.0.0.1"
API_KEY = "bench-key"
USER_AGENT = "portcullis-bench/1.0"
CPU_PROXY, CPU_CLIENT = "1", "0"  # the server under test / the load generator and the upstream

# key -> label. The order is the tables' order; a target's port is its index here.
TARGETS = {
    "upstream": "(a) upstream direct",
    "gateway": "(b) portcullis, no plugin",
    "gateway-plugins": "(c) portcullis + key-auth + headers",
    "nginx": "(d) nginx",
    "haproxy": "(e) haproxy",
    "envoy": "(f) Envoy",
    "envoy-wasm": "(g) Envoy + proxy-wasm filter",
    "gateway-headers": "(h) portcullis + headers",
    "gateway-chain": "(i) portcullis + key-auth + rate-limit + headers",
}
GATEWAYS = ["gateway", "gateway-plugins", "gateway-headers", "gateway-chain"]
# With --baseline BIN: the gateway targets also served by another build, in the same rounds.
BASELINE = {f"{t}@base": f"{TARGETS[t][:3]} at the baseline" for t in GATEWAYS}
TARGETS.update(BASELINE)
# With --dashboard: the gateway targets also served with the admin dashboard open, its page's
# requests sent once a second (issue 18: the dashboard must not slow the data plane).
DASHBOARD = {f"{t}@dash": f"{TARGETS[t][:3]} with the dashboard open" for t in GATEWAYS}
TARGETS.update(DASHBOARD)
LANGUAGES = {"rust": "Rust", "c": "C", "js": "JavaScript", "python": "Python"}
for _lang, _name in LANGUAGES.items():
    TARGETS[f"screen-{_lang}"] = f"screen in {_name}, reuse"
for _lang, _name in LANGUAGES.items():
    TARGETS[f"screen-{_lang}-request"] = f"screen in {_name}, request"
SCREEN = [t for t in TARGETS if t.startswith("screen-")]

DEFAULT = ["upstream", "gateway", "gateway-plugins", "nginx"]
GROUPS = {
    # issue 15's comparison: the peers and the three gateway routes
    "peers": ["upstream", "nginx", "haproxy", "envoy", "envoy-wasm", "gateway", "gateway-headers", "gateway-chain"],
    # every target that needs nothing from outside Debian and this repository (the CI smoke test)
    "local": ["upstream", "nginx", "haproxy"] + GATEWAYS,
    "gateways": GATEWAYS,
    "languages": ["gateway"] + SCREEN,
}
KEYED = ("gateway-plugins", "gateway-chain")  # the load generator sends `apikey: bench-key`
# Plugin calls one request makes on each gateway route: the load report's CPU per plugin call
# divides by them, and check mode (the CI smoke test) compares them with the gateway's own count
# (`portcullis_plugin_calls_total`), so a plugin gaining or losing a phase cannot skew the figure.
PLUGIN_CALLS = {"gateway": 0, "gateway-plugins": 2, "gateway-headers": 1, "gateway-chain": 3}
# What the target's filter adds to the request, as the upstream must see it (check mode).
UPSTREAM_SEES = {"gateway-plugins": ("x-consumer", "bench"), "gateway-headers": ("x-path", "/bench/check"),
                 "gateway-chain": ("x-path", "/bench/check"), "envoy-wasm": ("x-wasm-path", "/bench/check")}


def base_of(target):
    """The target a baseline target mirrors (`gateway@base` -> `gateway`)."""
    return target.split("@", 1)[0]


def screen_target(target):
    """(language, isolation) of a screen-* target, or None."""
    if not target.startswith("screen-"):
        return None
    lang, _, iso = target[len("screen-"):].partition("-")
    return lang, iso or "reuse"


def is_gateway(target):
    return base_of(target) in GATEWAYS or screen_target(target) is not None


def expand(names):
    """Target names and group names, as given on the command line, in table order."""
    out = {x for t in names for x in GROUPS.get(t, [t])}
    unknown = sorted(out - set(TARGETS))
    if unknown:
        raise ValueError(f"unknown target {', '.join(unknown)}; choose from {', '.join(TARGETS)}, "
                         f"or a group: {', '.join(GROUPS)}")
    return [t for t in TARGETS if t in out]


def template(name, **subs):
    with open(f"{BENCH}/conf/{name}") as f:
        text = f.read()
    for k, v in subs.items():
        text = text.replace(f"@{k}@", str(v))
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise ValueError(f"bench/conf/{name}: no value for {', '.join(left)}")
    return text


class Setup:
    """One run directory: every target's configuration written there, one port per target."""

    def __init__(self, args, run_dir, bins, targets, big=False):
        self.args, self.dir, self.bins = args, run_dir, bins
        b = args.port_base
        self.up_port = b
        self.ports = {t: b + 1 + i for i, t in enumerate(TARGETS)}
        self.admin_port = b + 1 + len(TARGETS)  # Envoy's admin listener
        # The gateway's admin listener: for the targets with the dashboard open, and in check
        # mode for every gateway target (its plugin calls are counted there).
        self.admin_ports = {t: b + 2 + len(TARGETS) + i for i, t in enumerate(t for t in TARGETS if is_gateway(t))}
        with_admin = [t for t in targets if t in DASHBOARD or ("check" in args.modes and is_gateway(t))]
        self.dash_ports = {t: self.admin_ports[t] for t in DASHBOARD}
        subs = dict(DIR=run_dir, UP_PORT=self.up_port)
        # The gateway watches its manifest's directory: the manifests get one of their own, so
        # that logs, perf data and traces written into the run directory do not wake it.
        self.manifests = f"{run_dir}/manifests"
        os.makedirs(self.manifests, exist_ok=True)
        for t in targets:
            if is_gateway(t):
                sc = screen_target(t)
                text = (template("gateway-screen.toml.in", PORT=self.ports[t], WASM=screen_wasm(sc[0]),
                                 ISOLATION=sc[1], **subs) if sc
                        else template(f"{base_of(t)}.toml.in", PORT=self.ports[t], **subs))
                if t in with_admin:
                    text += f'\n[admin]\naddress = "{HOST}:{self.admin_ports[t]}"\n'
                self.write(f"manifests/{t}.toml", text)
        # Mem mode holds thousands of idle connections: nginx and haproxy need room for them.
        self.write("nginx.conf", template("nginx.conf.in", PORT=self.ports["nginx"],
                                          WORKER_CONNECTIONS=16384 if big else 4096, **subs))
        self.write("haproxy.cfg", template("haproxy.cfg.in", PORT=self.ports["haproxy"],
                                           MAXCONN=8000 if big else 4000, **subs))
        for v, t in (("plain", "envoy"), ("wasm", "envoy-wasm")):
            if t in targets and "envoy" in bins:
                self.write(f"{t}.yaml", template(f"envoy-{v}.yaml.in", PORT=self.ports[t], ADMIN_PORT=self.admin_port,
                                                 FILTER_WASM=bins.get("filter", ""), **subs))
        self.log = open(f"{run_dir}/servers.log", "a")

    def write(self, name, text):
        with open(f"{self.dir}/{name}", "w") as f:
            f.write(text)

    def command(self, target, wrapper=(), single_process=False):
        """argv (pinned to the server's CPU, inside `wrapper`, e.g. valgrind) and environment of a
        target's server. `single_process`: nginx without its master, for tools that follow one
        process."""
        argv = ["taskset", "-c", CPU_PROXY] + list(wrapper)
        env = dict(os.environ)
        if target == "upstream":
            return argv + [self.bins["upstream"], f"{HOST}:{self.ports['upstream']}"], env
        if is_gateway(target):
            env.pop("RUST_LOG", None)
            env["PORTCULLIS_CACHE_DIR"] = f"{self.dir}/wasm-cache"
            if any("valgrind" in w for w in wrapper):
                # 1000 pool slots reserve ~4 TiB of address space; valgrind gives under 64 GiB.
                env["PORTCULLIS_PLUGIN_INSTANCES"] = "8"
                # Names of the guests' compiled functions in /tmp/perf-PID.map, for the report.
                env["PORTCULLIS_WASM_PERFMAP"] = "true"
            binary = self.args.baseline if target in BASELINE else self.bins["gateway"]
            return argv + [binary, "--log-level", "warn", "run", f"{self.manifests}/{target}.toml"], env
        if target == "nginx":
            g = "daemon off; worker_processes 1;" + (" master_process off;" if single_process else "")
            return argv + [self.bins["nginx"], "-p", self.dir, "-e", f"{self.dir}/nginx-error.log", "-c",
                           f"{self.dir}/nginx.conf", "-g", g], env
        if target == "haproxy":
            return argv + [self.bins["haproxy"], "-db", "-f", f"{self.dir}/haproxy.cfg"], env
        if target in ("envoy", "envoy-wasm"):
            return argv + [self.bins["envoy"], "-c", f"{self.dir}/{target}.yaml", "--concurrency", "1",
                           "--disable-hot-restart", "-l", "warn"], env
        raise ValueError(target)


def request_headers(target, user_agent):
    """The headers every benchmark request to `target` carries, as {name: value}."""
    h = {"apikey": API_KEY} if base_of(target) in KEYED else {}
    if user_agent:
        h["user-agent"] = USER_AGENT
    return h


def fetch(port, headers=None, path="/bench/check"):
    req = urllib.request.Request(f"http://{HOST}:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
    except urllib.error.HTTPError as e:
        return e.code, e.read(), {k.lower(): v for k, v in e.headers.items()}


def verify(target, port, user_agent=False):
    """Refuses to measure a target that does not answer as expected (RuntimeError). Returns the
    response headers."""
    t = base_of(target)
    status, body, hdr = fetch(port, request_headers(target, user_agent))
    if status != 200 or len(body) != 100:
        raise RuntimeError(f"expected 200 with 100 bytes, got {status} with {len(body)} bytes: {body[:200]!r}")
    server = hdr.get("server", "")
    if t == "nginx" and not server.startswith("nginx"):
        raise RuntimeError(f"not nginx answering: server={server!r}")
    if t.startswith("envoy") and server != "envoy":
        raise RuntimeError(f"not Envoy answering: server={server!r}")
    if t == "envoy-wasm" and hdr.get("x-wasm-resp") != "1":
        raise RuntimeError(f"the proxy-wasm filter's response header x-wasm-resp is missing: {hdr}")
    if t in ("gateway-plugins", "gateway-headers", "gateway-chain") and hdr.get("x-gateway") != "portcullis":
        raise RuntimeError(f"the `headers` plugin's response header x-gateway is missing: {hdr}")
    if t == "gateway-chain" and hdr.get("ratelimit-limit") != "1000000":
        raise RuntimeError(f"the `rate-limit` plugin's RateLimit-Limit is missing or wrong: {hdr}")
    if t in KEYED:
        for key in (None, {"apikey": "wrong-key"}):
            status, body, _ = fetch(port, key)
            if status != 401:
                raise RuntimeError(f"a request with {'a wrong' if key else 'no'} key got {status}, not 401: {body[:200]!r}")
    if screen_target(t):
        if hdr.get("x-screen") != "allowed":
            raise RuntimeError(f"the `screen` plugin's response header x-screen is missing: {hdr}")
        status, body, hdr2 = fetch(port, {"user-agent": "BadBot"})
        if status != 403 or hdr2.get("content-type") != "application/json":
            raise RuntimeError(f"a denied user-agent got {status}, not a 403 in JSON: {body[:200]!r}")
    if t in ("upstream", "nginx", "haproxy", "envoy", "gateway"):
        extra = [h for h in ("x-gateway", "x-wasm-resp", "x-screen") if h in hdr]
        if extra:
            raise RuntimeError(f"a filter's header ({', '.join(extra)}) present without the filter: {hdr}")
    return hdr


def plugin_calls_per_request(target, port, admin_port, user_agent=False):
    """Plugin calls one request to `target` makes, by the gateway's own count: its
    `portcullis_plugin_calls_total` read around one request (the admin API on `admin_port`)."""

    def calls():
        with urllib.request.urlopen(f"http://{HOST}:{admin_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("portcullis_plugin_calls_total{"))

    before = calls()
    status, _, _ = fetch(port, request_headers(target, user_agent))
    if status != 200:
        raise RuntimeError(f"expected 200, got {status}")
    return round(calls() - before)
