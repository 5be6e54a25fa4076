# SPDX-License-Identifier: BSD-2-Clause
"""waf_cost.py — what the WAF costs limen per request (issue 8), part of
`make bench` (run after bench.py, whose run.sh installed wrk and nginx).

One limen (one worker, pinned to CPU 0) with two routes to the same
backend (nginx serving a small file, pinned to CPU 1 with wrk):

  host waf.test    waf: { rules: /usr/share/modsecurity-crs, mode: block }
  host plain.test  the same route without a WAF

wrk -t1 -c8 sends `GET /small.txt?id=42&q=hello` (with a User-Agent and
Accept, as a browser or curl would, so the CRS sees an ordinary request)
to each route in turn, --rounds times for --duration seconds; the figure
is limen's own CPU time (utime + stime from /proc/PID/stat) divided by
the requests served, median over the rounds.  Before measuring, a
classic SQL-injection probe must get 403 on the WAF route and 200 on the
plain one, so the WAF is known to be on.

The table goes to stdout and build/bench/waf.md, the figures to
build/bench/waf.json; docs/performance.md keeps the latest.  Skipped (exit
0 with a note) when the CRS is not installed.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CRS = "/usr/share/modsecurity-crs"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PATH = "/small.txt?id=42&q=hello"
SQLI = "/small.txt?id=1%27%20OR%20%271%27%3D%271"
HEADERS = ["User-Agent: limen-bench/1.0", "Accept: */*"]

NGINX_CONF = """\
%(user)s
worker_processes 1;
daemon off;
pid %(work)s/backend.pid;
error_log %(work)s/backend.err warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    types { text/plain txt; }
    server { listen 127.0.0.1:%(bport)d; root %(work)s/www; }
}
"""

LIMEN_CONF = """\
global:
  state_dir: %(work)s/limen-state
  workers: 1
  shutdown_timeout: 2s
  log: { level: warn, format: text }
  access_log: "off"
listeners:
  - name: web
    listen: ["127.0.0.1:%(port)d"]
routes:
  - host: [waf.test]
    path: /
    pool: backend
    waf: { rules: %(crs)s, mode: block }
  - host: [plain.test]
    path: /
    pool: backend
pools:
  backend:
    servers:
      - { address: "127.0.0.1:%(bport)d" }
    keepalive: 32
    timeouts: { connect: 2s, response: 60s, idle: 300s }
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("exited with %d" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d not open" % port)


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def pinned(cpu, argv):
    return ["taskset", "-c", str(cpu)] + argv if cpu is not None else argv


def status_of(port, host, path):
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\nConnection: close\r\n\r\n"
           % (path, host, "\r\n".join(HEADERS))).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(req)
        line = s.makefile("rb").readline().decode("latin-1")
    m = re.match(r"HTTP/1\.[01] (\d{3})", line)
    return int(m.group(1)) if m else 0


def wrk_ms(s):
    m = re.match(r"([0-9.]+)(us|ms|s)$", s)
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]


def run_wrk(port, host, seconds, cpu):
    argv = pinned(cpu, ["wrk", "-t1", "-c8", "-d%ds" % seconds, "--latency",
                        "-H", "Host: " + host]
                  + sum((["-H", h] for h in HEADERS), [])
                  + ["http://127.0.0.1:%d%s" % (port, PATH)])
    return parse_wrk(subprocess.run(argv, capture_output=True, text=True,
                                    check=True).stdout)


def parse_wrk(out):
    """wrk --latency output -> {requests, rps, p50_ms, p99_ms, errors}."""
    r = {"requests": int(re.search(r"^\s*(\d+) requests in", out,
                                   re.M).group(1)),
         "rps": float(re.search(r"^Requests/sec:\s+([0-9.]+)", out,
                                re.M).group(1))}
    for pct in ("50", "99"):
        r["p%s_ms" % pct] = wrk_ms(re.search(r"^\s+%s%%\s+(\S+)" % pct, out,
                                             re.M).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["errors"] = int(m.group(1)) if m else 0
    return r


def publish(out, name, text, data):
    """Print a result and keep it in OUT/NAME.md and OUT/NAME.json."""
    print(text)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, name + ".md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(data, f, indent=1)


def stop_all(procs, work):
    """SIGTERM what is still running (newest first), then remove work."""
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limen", default=os.path.join(ROOT, "bin", "limen"))
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true",
                    help="1 s runs, 1 round")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench"))
    args = ap.parse_args()
    if args.quick:
        args.duration, args.rounds = 1, 1
    if not os.path.isdir(CRS):
        log("waf_cost: %s not installed; skipped" % CRS)
        return 0
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None:
            log("waf_cost: %s missing (bench/run.sh installs it)" % tool)
            return 1
    ncpu = os.cpu_count() or 1
    proxy_cpu, load_cpu = (0, 1) if ncpu >= 2 else (None, None)

    work = tempfile.mkdtemp(prefix="limen-waf-bench-")
    procs = []
    try:
        os.makedirs(os.path.join(work, "www"))
        os.makedirs(os.path.join(work, "limen-state"))
        with open(os.path.join(work, "www", "small.txt"), "w") as f:
            f.write("limen bench: a small response body.\n")
        if os.geteuid() == 0:
            os.chmod(work, 0o755)
        bport, port = free_port(), free_port()
        v = {"work": work, "bport": bport, "port": port, "crs": CRS,
             "user": "user www-data;" if os.geteuid() == 0 else ""}
        for name, text in (("backend.conf", NGINX_CONF % v),
                           ("limen.yaml", LIMEN_CONF % v)):
            with open(os.path.join(work, name), "w") as f:
                f.write(text)
        logf = open(os.path.join(work, "procs.log"), "wb")
        backend = subprocess.Popen(
            pinned(load_cpu, ["nginx", "-e", os.path.join(work, "nginx.err"),
                              "-c", os.path.join(work, "backend.conf")]),
            stdout=logf, stderr=subprocess.STDOUT)
        procs.append(backend)
        wait_port(bport, backend)
        limen = subprocess.Popen(
            pinned(proxy_cpu, [args.limen, "run", "-c",
                               os.path.join(work, "limen.yaml")]),
            stdout=logf, stderr=subprocess.STDOUT)
        procs.append(limen)
        wait_port(port, limen, timeout=60)   # the CRS takes a while to load

        probes = {(h, p): status_of(port, h, p)
                  for h in ("waf.test", "plain.test") for p in (PATH, SQLI)}
        want = {("waf.test", PATH): 200, ("waf.test", SQLI): 403,
                ("plain.test", PATH): 200, ("plain.test", SQLI): 200}
        if probes != want:
            log("waf_cost: probes %s, expected %s" % (probes, want))
            return 1

        hosts = (("no WAF", "plain.test"),
                 ("waf: { mode: block } with the CRS", "waf.test"))
        for _, h in hosts:                      # warm-up
            run_wrk(port, h, 1, load_cpu)
        runs = {label: [] for label, _ in hosts}
        for rnd in range(args.rounds):
            for label, h in hosts:
                t0 = cpu_ticks(limen.pid)
                r = run_wrk(port, h, args.duration, load_cpu)
                t1 = cpu_ticks(limen.pid)
                r["cpu_us"] = ((t1 - t0) / CLK_TCK * 1e6 /
                               max(r["requests"], 1))
                runs[label].append(r)
                if r["errors"]:
                    log("waf_cost: %d responses were not 2xx/3xx: the "
                        "figure is suspect" % r["errors"])
                log("waf_cost: round %d %-36s %8.0f req/s %7.1f µs/req" %
                    (rnd + 1, label, r["rps"], r["cpu_us"]))
        med = {label: {k: statistics.median(x[k] for x in rs)
                       for k in ("rps", "p50_ms", "p99_ms", "cpu_us")}
               for label, rs in runs.items()}
        with open("/proc/loadavg") as f:
            load = f.read().split()[0]
        base = med[hosts[0][0]]["cpu_us"]
        lines = ["| route | req/s | p50 | p99 | CPU µs/req | × no WAF |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for label, _ in hosts:
            m = med[label]
            lines.append("| %s | %.0f | %.2f ms | %.2f ms | %.1f | %.1f |" % (
                label, m["rps"], m["p50_ms"], m["p99_ms"], m["cpu_us"],
                m["cpu_us"] / base if base else float("nan")))
        table = "\n".join(lines)
        head = ("WAF cost: %s, one worker, wrk -t1 -c8, %d round(s) of "
                "%d s, load average %s at the end\n\n" % (
                    subprocess.run([args.limen, "--version"], capture_output=True,
                                   text=True).stdout.strip() or "?",
                    args.rounds, args.duration, load))
        publish(args.out, "waf", head + table,
                {"runs": runs, "median": med, "loadavg": load})
        return 0
    finally:
        stop_all(procs, work)


if __name__ == "__main__":
    sys.exit(main())
