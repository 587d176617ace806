"""The pieces of `bench/run`, the loopback benchmark of Portcullis against its peers.

`bench/run` is the entry point (its docstring says how to run it); these modules are its parts,
in the order a run uses them:

- `procs`: every process the benchmark starts, each in its own session, stopped by its PID;
- `tools`: what the benchmark needs and installs itself (apt packages, Envoy from PyPI, the
  proxy-wasm filter, the release builds);
- `targets`: the servers under test, their configurations (`bench/conf/*.in`), command lines
  and the check of their answers;
- `measure`: CPU accounting from /proc, the idle gate, wrk, the fixed-count client;
- `load`, `mem`, `profile`, `check`: the modes;
- `report`: Markdown tables and the machine line.

Python 3 standard library only.
"""
