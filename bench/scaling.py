# SPDX-License-Identifier: BSD-2-Clause
"""scaling.py — does limen scale with workers? (issue 6), part of
`make bench` (run after bench.py, whose run.sh installed wrk and nginx).

Two limen processes on the same backend (nginx serving a small file),
one with `workers: 1`, one with `workers: 2`, measured in turn (A B A B)
with wrk -t2 -c200 keep-alive for --duration seconds, --rounds times.

On a 2-core machine the load generator and the backend share the CPUs
with limen, so requests/s cannot show what two free cores would give.
The figure is computed from CPU time instead, per worker thread (the
threads are named limen-w0, limen-w1: /proc/PID/task/TID/comm):

  capacity(1 worker)  = requests / CPU seconds of limen-w0
  capacity(2 workers) = requests / CPU seconds of the busiest worker

i.e. the request rate at which the busiest worker would fill its core.
Their ratio is the scaling factor: it is 2.0 when a second worker costs
nothing extra per request (no lock, no shared cache line) and the kernel
spreads connections evenly (SO_REUSEPORT); uneven spreading or
contention lower it.  The issue's target is at least 1.8.

The table goes to stdout and build/bench/scaling.md, the figures to
build/bench/scaling.json; docs/performance.md keeps the latest.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from waf_cost import NGINX_CONF, ROOT, CLK_TCK, free_port, parse_wrk, \
    publish, stop_all, wait_port, log

LIMEN_CONF = """\
global:
  state_dir: %(work)s/limen-state-%(workers)d
  workers: %(workers)d
  shutdown_timeout: 2s
  log: { level: warn, format: text }
  access_log: "off"
listeners:
  - name: web
    listen: ["127.0.0.1:%(port)d"]
routes:
  - host: ["*"]
    path: /
    pool: backend
pools:
  backend:
    servers:
      - { address: "127.0.0.1:%(bport)d" }
    keepalive: 256
    timeouts: { connect: 2s, response: 60s, idle: 300s }
"""


def worker_ticks(pid):
    """{thread name: utime+stime} for limen's worker threads."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                name = f.read().strip()
            if not name.startswith("limen-w"):
                continue
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[name] = int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return out


def run_wrk(port, seconds):
    argv = ["wrk", "-t2", "-c200", "-d%ds" % seconds, "--latency",
            "http://127.0.0.1:%d/small.txt" % port]
    return parse_wrk(subprocess.run(argv, capture_output=True, text=True,
                                    check=True).stdout)


def measure(limen, port, seconds):
    t0 = worker_ticks(limen.pid)
    r = run_wrk(port, seconds)
    t1 = worker_ticks(limen.pid)
    busy = {k: (t1[k] - t0.get(k, 0)) / CLK_TCK for k in t1}
    r["worker_cpu_s"] = busy
    top = max(busy.values()) if busy else 0
    r["capacity"] = r["requests"] / top if top else 0.0
    total = sum(busy.values())
    r["cpu_us"] = total * 1e6 / max(r["requests"], 1)
    r["busiest_share"] = top / total if total else 0.0
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limen", default=os.path.join(ROOT, "bin", "limen"))
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1 s, 1 round")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench"))
    args = ap.parse_args()
    if args.quick:
        args.duration, args.rounds = 1, 1
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            log("scaling: %s missing (bench/run.sh installs it)" % tool)
            return 1

    work = tempfile.mkdtemp(prefix="limen-scaling-bench-")
    procs = []
    try:
        os.makedirs(os.path.join(work, "www"))
        with open(os.path.join(work, "www", "small.txt"), "w") as f:
            f.write("limen bench: a small response body.\n")
        if os.geteuid() == 0:
            os.chmod(work, 0o755)
        bport = free_port()
        v = {"work": work, "bport": bport,
             "user": "user www-data;" if os.geteuid() == 0 else ""}
        with open(os.path.join(work, "backend.conf"), "w") as f:
            f.write(NGINX_CONF % v)
        logf = open(os.path.join(work, "procs.log"), "wb")
        backend = subprocess.Popen(
            ["nginx", "-e", os.path.join(work, "nginx.err"), "-c",
             os.path.join(work, "backend.conf")],
            stdout=logf, stderr=subprocess.STDOUT)
        procs.append(backend)
        wait_port(bport, backend)
        limens = {}
        for n in (1, 2):
            port = free_port()
            os.makedirs(os.path.join(work, "limen-state-%d" % n))
            conf = os.path.join(work, "limen-%d.yaml" % n)
            with open(conf, "w") as f:
                f.write(LIMEN_CONF % dict(v, port=port, workers=n))
            p = subprocess.Popen([args.limen, "run", "-c", conf],
                                 stdout=logf, stderr=subprocess.STDOUT)
            procs.append(p)
            wait_port(port, p)
            limens[n] = (p, port)
            run_wrk(port, 1)                    # warm-up

        runs = {1: [], 2: []}
        for rnd in range(args.rounds):
            for n, (p, port) in limens.items():
                r = measure(p, port, args.duration)
                runs[n].append(r)
                if r["errors"]:
                    log("scaling: %d responses were not 2xx/3xx: the "
                        "figure is suspect" % r["errors"])
                log("scaling: round %d workers=%d %8.0f req/s %6.1f µs/req "
                    "busiest worker %.0f%% capacity %.0f req/s" % (
                        rnd + 1, n, r["rps"], r["cpu_us"],
                        100 * r["busiest_share"], r["capacity"]))
        med = {n: {k: statistics.median(x[k] for x in rs)
                   for k in ("rps", "p99_ms", "cpu_us", "capacity",
                             "busiest_share")}
               for n, rs in runs.items()}
        factor = med[2]["capacity"] / med[1]["capacity"] \
            if med[1]["capacity"] else float("nan")
        with open("/proc/loadavg") as f:
            load = f.read().split()[0]
        lines = ["| workers | req/s (shared CPUs) | p99 | CPU µs/req | "
                 "busiest worker's share | capacity req/s |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for n in (1, 2):
            m = med[n]
            lines.append("| %d | %.0f | %.2f ms | %.1f | %.0f%% | %.0f |" % (
                n, m["rps"], m["p99_ms"], m["cpu_us"],
                100 * m["busiest_share"], m["capacity"]))
        table = "\n".join(lines) + (
            "\n\nscaling factor (capacity 2 workers / 1 worker): %.2f "
            "(target >= 1.8)" % factor)
        head = ("Scaling: %s, wrk -t2 -c200, %d round(s) of %d s, load "
                "average %s at the end\n\n" % (
                    subprocess.run([args.limen, "--version"],
                                   capture_output=True,
                                   text=True).stdout.strip() or "?",
                    args.rounds, args.duration, load))
        publish(args.out, "scaling", head + table,
                {"runs": runs, "median": med, "factor": factor,
                 "loadavg": load})
        return 0
    finally:
        stop_all(procs, work)


if __name__ == "__main__":
    sys.exit(main())
