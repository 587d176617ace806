"""Mode `check` (and the CI smoke test): every target in front of an echo upstream written here,
checked as before a measurement (status, length, the headers a filter adds to the response,
401 without a key), and what reaches the upstream: the header the target's filter adds to the
request must be there. Prints what each one sent upstream; measures nothing."""

import http.server
import json
import threading
import time

from .load import start_server
from .procs import PROCS, log
from .targets import HOST, PLUGIN_CALLS, TARGETS, UPSTREAM_SEES, base_of, plugin_calls_per_request, verify


class Echo(http.server.BaseHTTPRequestHandler):
    """100 bytes for every GET, and a record of the request headers it got."""
    protocol_version = "HTTP/1.1"
    seen = []

    def do_GET(self):
        Echo.seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.wfile.write(b"x" * 100)

    def log_message(self, *a):
        pass


def mode_check(args, setup, targets):
    """Returns (Markdown lines, {target: what was wrong})."""
    srv = http.server.ThreadingHTTPServer((HOST, setup.up_port), Echo)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    out, failed = [], {}
    try:
        for t in targets:
            server = None
            try:
                server = start_server(setup, t)
                Echo.seen.clear()
                hdr = verify(t, setup.ports[t], args.user_agent)
                if t == "upstream":
                    line = f"- {TARGETS[t]}: ok (the benchmark upstream itself; it answered {json.dumps(hdr)})"
                else:
                    up = Echo.seen[0] if Echo.seen else {}
                    want = UPSTREAM_SEES.get(base_of(t))
                    if not Echo.seen:
                        raise RuntimeError("nothing reached the upstream")
                    if want and up.get(want[0]) != want[1]:
                        raise RuntimeError(f"the upstream did not get `{want[0]}: {want[1]}`: {up}")
                    line = f"- {TARGETS[t]}: ok; upstream saw {json.dumps(up)}; client got {json.dumps(hdr)}"
                    declared = PLUGIN_CALLS.get(base_of(t))
                    if declared is not None:
                        made = plugin_calls_per_request(t, setup.ports[t], setup.admin_ports[t], args.user_agent)
                        if made != declared:
                            raise RuntimeError(f"a request made {made} plugin calls, bench/lib/targets.py's "
                                               f"PLUGIN_CALLS says {declared}: correct it")
                        line += f"; {made} plugin calls per request"
                out.append(line)
                log(line)
            except RuntimeError as e:
                log(f"!! {TARGETS[t]}: {e}")
                failed[t] = str(e)
            finally:
                PROCS.stop(server)
                time.sleep(0.3)
    finally:
        srv.shutdown()
    return "\n".join(out) + "\n", failed
