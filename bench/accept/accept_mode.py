# SPDX-License-Identifier: BSD-2-Clause
"""SO_REUSEPORT per worker vs one listening socket shared by every worker
(issue 3: "measure and choose"; results in docs/performance.md).

A throwaway experiment, not part of `make bench`: build limen with
shared-accept.patch applied (it adds LIMEN_SHARED_ACCEPT=1, which makes
every worker watch one socket, and logs each worker's accept count), copy
bin/limen somewhere, and run

    python3 bench/accept/accept_mode.py ROUNDS keepalive,close BINARY

Each round runs both modes interleaved with wrk (2 threads): keep-alive
with 200 connections, and one connection per request (Connection: close,
50 connections), 4 s each, two workers answering a `respond` route.  It
prints one JSON line per run: requests/s, limen's CPU time per request
from /proc, wrk's p99, the two busiest threads' CPU seconds and each
worker's accepts.
"""
import json
import os
import re
import socket
import subprocess
import sys
import time

BIN = sys.argv[3] if len(sys.argv) > 3 else "/tmp/limen-exp"
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def cpu(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
def threads(pid):
    out = {}
    for t in os.listdir("/proc/%d/task" % pid):
        f = open("/proc/%d/task/%s/stat" % (pid, t)).read().rsplit(")", 1)[1].split()
        out[t] = (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    return out
def run(mode, scenario, secs=4):
    port = free_port()
    d = "/tmp/limen-accept-%s" % port; os.makedirs(d)
    conf = """global:
  workers: 2
  state_dir: %s/state
listeners:
  - name: web
    listen: ["127.0.0.1:%d"]
routes:
  - respond: {status: 200, body: "ok\\n"}
""" % (d, port)
    open(d + "/l.yaml", "w").write(conf)
    env = dict(os.environ)
    if mode == "shared":
        env["LIMEN_SHARED_ACCEPT"] = "1"
    log = open(d + "/log", "w")
    p = subprocess.Popen([BIN, "-c", d + "/l.yaml"], stderr=log, stdout=log, env=env)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port)).close(); break
        except OSError: time.sleep(0.05)
    t0 = threads(p.pid); c0 = cpu(p.pid)
    args = ["wrk", "-t2", "-c200", "--latency", "-d%ds" % secs, "http://127.0.0.1:%d/" % port]
    if scenario == "close":
        args = ["wrk", "-t2", "-c50", "--latency", "-d%ds" % secs, "-H", "Connection: close", "http://127.0.0.1:%d/" % port]
    out = subprocess.run(args, capture_output=True, text=True).stdout
    c1 = cpu(p.pid); t1 = threads(p.pid)
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p.terminate(); p.wait()
    txt = open(d + "/log").read()
    acc = {}
    for w, k in re.findall(r"accepts w(\d+) (\d+)", txt):
        acc[w] = int(k)
    per = sorted((t1[t] - t0.get(t, 0) for t in t1), reverse=True)[:2]
    return {"mode": mode, "sc": scenario, "rps": rps, "us_per_req": (c1 - c0) / reqs * 1e6,
            "top2_thread_cpu": [round(x, 2) for x in per], "accepts": acc, "p99": re.search(r"99%\s+(\S+)", out).group(1) if "99%" in out else None}
res = []
for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else 3):
    for sc in sys.argv[2].split(","):
        for mode in ("reuseport", "shared"):
            r = run(mode, sc); res.append(r); print(json.dumps(r), flush=True)
