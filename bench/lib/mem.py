"""Mode `mem`: the server's RSS idle, while bench/idle_conns.py holds --conns idle keep-alive
connections (each having carried one request, as an idle client's would), and after they close
(does the process give the memory back?)."""

import subprocess
import sys
import time

from .load import start_server
from .measure import session_mem, tcp_states
from .procs import PROCS, log
from .targets import CPU_CLIENT, TARGETS, request_headers, verify
from .tools import BENCH


def mode_mem(args, setup, targets, emit):
    rows, failed = [], {}
    for t in targets:
        server = client = None
        try:
            server = start_server(setup, t)
            verify(t, setup.ports[t], args.user_agent)
            time.sleep(1.0)
            idle = session_mem(server.pid)
            hdrs = [f"{k}: {v}" for k, v in request_headers(t, args.user_agent).items()]
            client = PROCS.start(["taskset", "-c", CPU_CLIENT, "timeout", "-k", "5", "300", sys.executable,
                                  f"{BENCH}/idle_conns.py", str(setup.ports[t]), str(args.conns)] + hdrs,
                                 setup.log, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            ready = client.stdout.readline().strip()
            if not ready.startswith("READY"):
                raise RuntimeError(f"idle_conns.py did not get its connections: {ready!r}")
            time.sleep(2.0)
            held = session_mem(server.pid)
            est = tcp_states(setup.ports[t], local=True).get("ESTABLISHED", 0)
            up_est = tcp_states(setup.up_port).get("ESTABLISHED", 0)
            time.sleep(3.0)
            held2 = session_mem(server.pid)  # a second reading: has the RSS settled?
            client.stdin.write("close\n")
            client.stdin.flush()
            closed = client.stdout.readline().strip()
            client.wait(30)
            time.sleep(2.0)
            after = session_mem(server.pid)
            row = dict(mode="mem", target=t, conns=args.conns, client=ready, closed=closed,
                       idle_rss_kib=idle[0], idle_pss_kib=idle[1], held_rss_kib=held[0], held_pss_kib=held[1],
                       held2_rss_kib=held2[0], after_close_rss_kib=after[0], processes=idle[2],
                       server_established=est, upstream_established=up_est,
                       per_conn_rss_bytes=round((held2[0] - idle[0]) * 1024 / args.conns),
                       per_conn_pss_bytes=round((held2[1] - idle[1]) * 1024 / args.conns))
            rows.append(row)
            emit(row)
            log(f"   {t:16} idle RSS {idle[0] / 1024:7.1f} MiB  held {held[0] / 1024:7.1f} / {held2[0] / 1024:7.1f} MiB  "
                f"after close {after[0] / 1024:7.1f} MiB  per conn {row['per_conn_rss_bytes']} B  "
                f"server ESTAB {est} upstream ESTAB {up_est}  {ready}  {idle[2]}")
        except RuntimeError as e:
            log(f"!! {TARGETS[t]}: {e}")
            failed[t] = str(e)
        finally:
            if client is not None:
                PROCS.stop(client)
            PROCS.stop(server)
            time.sleep(0.5)
    lines = [f"**Memory**: RSS summed over the server's processes; held = {args.conns} idle keep-alive "
             "connections, each having carried one request:\n",
             "| target | processes | idle RSS | RSS holding conns | RSS after close | after close ÷ idle "
             "| per connection (RSS) | per connection (PSS) | server-side ESTAB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {TARGETS[r['target']]} | {'+'.join(r['processes'])} | {r['idle_rss_kib'] / 1024:.1f} MiB "
                     f"| {r['held2_rss_kib'] / 1024:.1f} MiB | {r['after_close_rss_kib'] / 1024:.1f} MiB "
                     f"| {r['after_close_rss_kib'] / max(1, r['idle_rss_kib']):.2f}× "
                     f"| {r['per_conn_rss_bytes'] / 1024:.1f} KiB | {r['per_conn_pss_bytes'] / 1024:.1f} KiB "
                     f"| {r['server_established']} |")
    return "\n".join(lines) + "\n", failed
