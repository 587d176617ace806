"""Processes the benchmark owns: each one started in a session of its own, so that it can be
stopped whole (nginx's workers, a shell's children) by signalling that session, and never by name."""

import os
import signal
import subprocess
import sys


def log(msg):
    """Progress goes to stderr; stdout carries only the report."""
    print(msg, file=sys.stderr, flush=True)


class Procs:
    """Every process this run started and has not stopped yet."""

    def __init__(self):
        self.live = []

    def start(self, argv, log_file, env=None, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", log_file)
        kw.setdefault("stderr", log_file)
        p = subprocess.Popen(argv, env=env, start_new_session=True, **kw)
        self.live.append(p)
        return p

    def stop(self, p, grace=8.0, sig=signal.SIGTERM):
        """SIGTERM to the session `p` leads (only the one we created), SIGKILL after `grace`."""
        if p is None:
            return
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        else:
            # The leader is gone; make sure nothing it left behind in its session survives.
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if p in self.live:
            self.live.remove(p)

    def stop_all(self):
        for p in list(reversed(self.live)):
            self.stop(p, grace=3.0)


PROCS = Procs()


def on_signal(signum, _frame):
    """Ctrl-C, SIGTERM, SIGHUP: leave through SystemExit so that atexit stops every process."""
    raise SystemExit(128 + signum)


def install_signal_handlers():
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
