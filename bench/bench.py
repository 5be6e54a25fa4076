# SPDX-License-Identifier: BSD-2-Clause
"""bench.py — limen beside nginx and HAProxy, per core (issue 6).

Started by bench/run.sh (`make bench`), which installs the peers first.
Everything runs on 127.0.0.1 from configs in bench/ rendered into a
scratch directory; nothing is started as a system service.

Layout on a 2-CPU machine: every proxy is pinned to CPU 0 with one
worker; the backend (nginx serving a small file and a 1 MiB file) and the
load generators (wrk, h2load, idle_conns.py) are pinned to CPU 1.  All
proxies run for the whole benchmark; each scenario warms every proxy up
once, then measures them interleaved (A B C A B C ...) for --rounds
rounds and keeps the median of each figure.

Figures per proxy and scenario:
- requests/s and p50/p99 latency, as the load generator saw them;
- CPU time per request: the proxy's own utime+stime from /proc/PID/stat
  (the nginx worker's, not the master's) before and after the run,
  divided by the requests completed.  This is the stable figure on a
  shared, noisy machine: it does not depend on how much CPU the load
  generator got;
- for the idle scenario, memory per connection: the growth of the
  proxy's resident set (VmRSS) while N idle keep-alive connections are
  held, divided by N.  It runs first, on freshly started processes, so
  heap left over from earlier scenarios cannot hide the cost.  RSS is
  read once it has settled, not at a fixed delay: sampled every 250 ms
  from the moment the last connection has had its response, until the
  samples of the last 2 s agree within 1 % of the growth (64 KiB at
  least), at most 15 s (settled_rss()).  Every proxy gets the same rule;
  it matters for limen, which frees an idle connection's buffers in a
  sweep 250-500 ms after its last request.

A scenario that limen cannot run yet (its configuration is refused, or a
probe request fails: no TLS or HTTP/2 yet) is reported as "not yet" for
limen while the peers are still measured.  The table ends with limen's
ratio to the best peer in each column.
"""
import argparse
import json
import os
import platform
import re
import resource
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
CLK_TCK = os.sysconf("SC_CLK_TCK")
SMALL = b"limen bench: a small response body, the size of a short JSON answer or a redirect page.\n"
BIG_SIZE = 1 << 20


# ---- small helpers ------------------------------------------------------------

def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


def cpu_ticks(pid):
    """utime + stime of a process (all its threads), in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS for %d" % pid)


IDLE_SAMPLE_S = 0.25     # idle scenario: RSS sampling period
IDLE_WINDOW_S = 2.0      # ... stable over this long
IDLE_MAX_S = 15.0        # ... or give up waiting and take the last sample


def settled_rss(pid, before):
    """The proxy's VmRSS once it has settled after the idle connections
    came in, and how many seconds that took.

    A proxy may still be changing its memory for a while after the last
    connection went idle (limen frees an idle connection's buffers in a
    sweep 250-500 ms after its last request, then returns the pages), so
    one sample at a fixed delay can catch one proxy half-way.  RSS is
    sampled every IDLE_SAMPLE_S; it has settled when every sample of the
    last IDLE_WINDOW_S is within 1 % of the growth (at least 64 KiB) of
    the others.  The same rule for every proxy, bounded by IDLE_MAX_S.
    """
    t0 = time.monotonic()
    samples = []
    need = int(IDLE_WINDOW_S / IDLE_SAMPLE_S) + 1
    while True:
        samples.append(rss_bytes(pid))
        win = samples[-need:]
        slack = max(64 * 1024, 0.01 * max(0, win[-1] - before))
        if len(win) == need and max(win) - min(win) <= slack:
            break
        if time.monotonic() - t0 >= IDLE_MAX_S:
            break
        time.sleep(IDLE_SAMPLE_S)
    return samples[-1], round(time.monotonic() - t0, 2)


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except OSError:
                pass
    return out


def loadavg():
    """The 1-minute load average: how busy the machine was besides us."""
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def render(template, values):
    with open(os.path.join(HERE, template)) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace("@%s@" % k, str(v))
    left = re.findall(r"@[A-Z_]+@", text)
    assert not left, "unfilled %s in %s" % (left, template)
    return text


def pinned(cpu, argv):
    return ["taskset", "-c", str(cpu)] + argv if cpu is not None else argv


# ---- parsing the load generators' output ----------------------------------------

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def wrk_time_ms(s):
    m = re.match(r"([0-9.]+)(us|ms|s|m|h)$", s)
    return float(m.group(1)) * UNIT_MS[m.group(2)]


def parse_wrk(out):
    """wrk --latency output -> {requests, rps, p50_ms, p99_ms, errors}."""
    r = {}
    m = re.search(r"^\s*(\d+) requests in ([0-9.]+)(\w+),", out, re.M)
    r["requests"] = int(m.group(1))
    r["rps"] = float(re.search(r"^Requests/sec:\s+([0-9.]+)", out, re.M).group(1))
    for pct in ("50", "99"):
        m = re.search(r"^\s+%s%%\s+(\S+)" % pct, out, re.M)
        r["p%s_ms" % pct] = wrk_time_ms(m.group(1))
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    r["errors"] = errors
    return r


def percentile(sorted_vals, pct):
    if not sorted_vals:
        return float("nan")
    k = min(len(sorted_vals) - 1, max(0, int(round(pct / 100.0 * len(sorted_vals))) - 1))
    return sorted_vals[k]


def parse_h2load(out, log_text):
    """h2load output and its --log-file -> {requests, rps, p50_ms, p99_ms, errors}."""
    r = {}
    m = re.search(r"^finished in ([0-9.]+)(\w+), ([0-9.]+) req/s", out, re.M)
    r["rps"] = float(m.group(3))
    m = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out, re.M)
    r["requests"] = int(m.group(3))
    r["errors"] = int(m.group(5)) + int(m.group(6)) + int(m.group(7))
    lat = []
    for line in log_text.splitlines():
        cols = line.split("\t")
        if len(cols) >= 3 and cols[1] != "-1":
            lat.append(int(cols[2]) / 1000.0)
    lat.sort()
    r["p50_ms"] = percentile(lat, 50)
    r["p99_ms"] = percentile(lat, 99)
    return r


def parse_tlshs(out, duration):
    """tls_handshakes.py's JSON line -> {requests, rps, p50_ms, p99_ms, errors}."""
    d = json.loads(out)
    lat = d["latencies_ms"]
    return {"requests": d["requests"], "rps": d["requests"] / float(duration),
            "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99),
            "errors": d["errors"]}


# ---- the processes under test -----------------------------------------------------

class Proc:
    """A server started from a rendered config, pinned to a CPU."""

    def __init__(self, name, argv, work, cpu, port):
        self.name, self.argv, self.work, self.cpu, self.port = name, argv, work, cpu, port
        self.proc = None
        self.logf = None

    def start(self, timeout=10):
        self.logf = open(os.path.join(self.work, self.name + ".log"), "wb")
        self.proc = subprocess.Popen(pinned(self.cpu, self.argv), stdout=self.logf,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            wait_until(lambda: port_open(self.port) or self.proc.poll() is not None,
                       timeout, "%s on port %d" % (self.name, self.port))
        except RuntimeError:
            self.stop()
            raise
        if self.proc.poll() is not None:
            raise RuntimeError("%s exited: %s" % (self.name, self.log_tail()))

    def log_tail(self, n=3):
        with open(os.path.join(self.work, self.name + ".log"), "rb") as f:
            lines = f.read().decode("utf-8", "replace").strip().splitlines()
        return " | ".join(lines[-n:]) or "nothing"

    def stat_pid(self):
        """The process doing the proxying: the nginx worker, else itself."""
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.logf:
            self.logf.close()
            self.logf = None


class Nginx(Proc):
    def stat_pid(self):
        kids = children(self.proc.pid)
        if len(kids) != 1:
            raise RuntimeError("nginx master %d has workers %r" % (self.proc.pid, kids))
        return kids[0]

    def start(self, timeout=10):
        super().start(timeout)
        wait_until(lambda: len(children(self.proc.pid)) == 1, timeout, "nginx worker")


# ---- scenarios --------------------------------------------------------------------

# name, title, needs (capability), tool, path, connections, extra args
SCENARIOS = [
    ("idle", "idle keep-alive connections (memory)", "http", "idle", "/small.txt", None, []),
    ("h1", "HTTP/1.1 keep-alive, small responses", "http", "wrk", "/small.txt", 50, []),
    ("tls", "HTTPS keep-alive, small responses", "https", "wrk", "/small.txt", 50, []),
    ("handshake", "full TLS handshake per request", "https", "tlshs", "/small.txt", 4, []),
    ("h2", "HTTP/2 over TLS, 16 connections x 16 streams", "h2", "h2load", "/small.txt", 16, []),
    ("big", "1 MiB responses, HTTP/1.1 keep-alive", "http", "wrk", "/big.bin", 8, []),
]


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="limen-bench.")
        os.chmod(self.work, 0o755)
        self.gen_cpu = 1 if os.cpu_count() and os.cpu_count() > 1 else None
        self.proxy_cpu = 0 if self.gen_cpu is not None else None
        self.procs = []
        self.proxies = {}        # name -> (Proc, set of capabilities, http port, https port)
        self.not_yet = {}        # name -> reason, per capability
        self.results = {}        # scenario -> proxy -> [run results]
        self.versions = {}

    # -- set-up --------------------------------------------------------------------
    def prepare_files(self):
        www = os.path.join(self.work, "www")
        os.makedirs(www)
        with open(os.path.join(www, "small.txt"), "wb") as f:
            f.write(SMALL)
        with open(os.path.join(www, "big.bin"), "wb") as f:
            f.write(os.urandom(BIG_SIZE))
        for p in (www, os.path.join(www, "small.txt"), os.path.join(www, "big.bin")):
            os.chmod(p, 0o755 if os.path.isdir(p) else 0o644)
        key, cert = os.path.join(self.work, "key.pem"), os.path.join(self.work, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=bench.test", "-addext",
                        "subjectAltName=DNS:bench.test,IP:127.0.0.1"],
                       check=True, capture_output=True)
        with open(os.path.join(self.work, "haproxy.pem"), "w") as out:
            for p in (cert, key):
                with open(p) as f:
                    out.write(f.read())
        os.makedirs(os.path.join(self.work, "limen-state"), mode=0o700)

    def values(self, http_port, https_port):
        root = os.geteuid() == 0
        return {"WORK": self.work, "BACKEND_PORT": self.backend_port,
                "HTTP_PORT": http_port, "HTTPS_PORT": https_port,
                "USER": "user www-data;" if root else ""}

    def write(self, name, text):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_backend(self):
        self.backend_port = free_port()
        conf = self.write("backend-nginx.conf",
                          render("backend-nginx.conf", self.values(0, 0)))
        b = Nginx("backend", ["nginx", "-e", os.path.join(self.work, "backend.err"),
                              "-c", conf], self.work, self.gen_cpu, self.backend_port)
        b.start()
        self.procs.append(b)

    def start_proxy(self, name):
        hp, sp = free_port(), free_port()
        v = self.values(hp, sp)
        if name == "nginx":
            conf = self.write("nginx.conf", render("nginx.conf", v))
            p = Nginx("nginx", ["nginx", "-e", os.path.join(self.work, "nginx.err"),
                                "-c", conf], self.work, self.proxy_cpu, hp)
        elif name == "haproxy":
            conf = self.write("haproxy.cfg", render("haproxy.cfg", v))
            p = Proc("haproxy", ["haproxy", "-db", "-f", conf], self.work,
                     self.proxy_cpu, hp)
        else:
            p = self.start_limen_proc(v, hp)
            if p is None:
                return
        if name == "limen":
            try:
                p.start(timeout=5)
            except RuntimeError as e:
                p.stop()
                self.not_yet["limen"] = "`limen run` does not serve: %s; its log: %s" % (
                    e, p.log_tail(1))
                return
        else:
            p.start()
        self.procs.append(p)
        self.proxies[name] = [p, self.probe(name, hp, sp), hp, sp]

    def start_limen_proc(self, v, hp):
        """limen on the full config, or without TLS if it refuses that."""
        text = render("limen.yaml", v)
        plain = re.sub(r"  # tls-begin.*?# tls-end\n", "", text, flags=re.S)
        reasons = []
        for label, t in (("with TLS", text), ("plain HTTP only", plain)):
            conf = self.write("limen-%s.yaml" % ("tls" if t is text else "plain"), t)
            r = subprocess.run([self.args.limen, "check", "-c", conf],
                               capture_output=True, text=True)
            if r.returncode == 0:
                p = Proc("limen", [self.args.limen, "run", "-c", conf], self.work,
                         self.proxy_cpu, hp)
                if t is plain:
                    self.not_yet["limen"] = "refuses the TLS listener: " + reasons[0]
                return p
            msg = (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[0]
            reasons.append(msg)
        self.not_yet["limen"] = "`limen check` refuses the bench config: " + reasons[-1]
        return None

    def curl(self, url, *extra):
        out = os.path.join(self.work, "probe.out")
        if os.path.exists(out):
            os.unlink(out)
        r = subprocess.run(["curl", "-sk", "--max-time", "5", *extra, "-o", out,
                            "-w", "%{http_code} %{http_version}", url],
                           capture_output=True, text=True)
        body = b""
        if os.path.exists(out):
            with open(out, "rb") as f:
                body = f.read()
        return r.stdout.strip(), body

    def probe(self, name, hp, sp):
        """Which scenarios this proxy can serve right now."""
        caps, why = set(), []
        st, body = self.curl("http://127.0.0.1:%d/small.txt" % hp)
        st2, big = self.curl("http://127.0.0.1:%d/big.bin" % hp)
        if st.startswith("200") and body == SMALL and st2.startswith("200") \
                and len(big) == BIG_SIZE:
            caps.add("http")
        else:
            why.append("plain HTTP probe: %s" % st)
        st, body = self.curl("https://127.0.0.1:%d/small.txt" % sp, "--http1.1")
        if st.startswith("200") and body == SMALL:
            caps.add("https")
        else:
            why.append("HTTPS probe: %s" % (st or "no answer"))
        st, body = self.curl("https://127.0.0.1:%d/small.txt" % sp, "--http2")
        if st == "200 2" and body == SMALL:
            caps.add("h2")
        else:
            why.append("HTTP/2 probe: %s" % (st or "no answer"))
        if name != "limen" and caps != {"http", "https", "h2"}:
            raise RuntimeError("%s does not serve the benchmark: %s" % (name, "; ".join(why)))
        if why and name == "limen":
            self.not_yet.setdefault("limen", "; ".join(why))
        return caps

    def collect_versions(self):
        def first_line(argv):
            try:
                r = subprocess.run(argv, capture_output=True, text=True)
                return (r.stdout + r.stderr).strip().splitlines()[0]
            except (OSError, IndexError):
                return "?"
        self.versions = {
            "nginx": first_line(["nginx", "-v"]),
            "haproxy": first_line(["haproxy", "-v"]),
            "limen": first_line([self.args.limen, "--version"]),
            "wrk": first_line(["wrk", "-v"]),
            "h2load": first_line(["h2load", "--version"]),
            "kernel": platform.release(),
            "cpu": self.cpu_model(),
        }

    @staticmethod
    def cpu_model():
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return platform.processor() or "?"

    # -- running ---------------------------------------------------------------------
    def load(self, sc, proxy, duration):
        """One run of a load scenario against one proxy -> result dict."""
        name, _, needs, tool, path, conns, extra = sc
        p, caps, hp, sp = self.proxies[proxy]
        scheme_port = ("http", hp) if needs == "http" else ("https", sp)
        url = "%s://127.0.0.1:%d%s" % (scheme_port[0], scheme_port[1], path)
        pid = p.stat_pid()
        before = cpu_ticks(pid)
        if tool == "wrk":
            argv = ["wrk", "-t1", "-c%d" % conns, "-d%ds" % duration, "--latency",
                    "--timeout", "10s", *extra, url]
            r = subprocess.run(pinned(self.gen_cpu, argv), capture_output=True, text=True,
                               timeout=duration + 60)
            after = cpu_ticks(pid)
            if r.returncode != 0:
                raise RuntimeError("wrk failed: " + r.stderr)
            res = parse_wrk(r.stdout)
        elif tool == "tlshs":
            argv = [sys.executable, os.path.join(HERE, "tls_handshakes.py"), "127.0.0.1",
                    str(sp), path, str(duration), str(conns)]
            r = subprocess.run(pinned(self.gen_cpu, argv), capture_output=True, text=True,
                               timeout=duration + 60)
            after = cpu_ticks(pid)
            if r.returncode != 0:
                raise RuntimeError("tls_handshakes.py failed: " + r.stderr)
            res = parse_tlshs(r.stdout, duration)
        else:
            logf = os.path.join(self.work, "h2load.log")
            argv = ["h2load", "-c%d" % conns, "-m16", "-t1", "-D", str(duration),
                    "--log-file=" + logf, url]
            r = subprocess.run(pinned(self.gen_cpu, argv), capture_output=True, text=True,
                               timeout=duration + 60)
            after = cpu_ticks(pid)
            if r.returncode != 0:
                raise RuntimeError("h2load failed: " + r.stdout + r.stderr)
            with open(logf) as f:
                res = parse_h2load(r.stdout, f.read())
        ticks = after - before
        res["cpu_us"] = ticks / CLK_TCK * 1e6 / max(1, res["requests"])
        res["cpu_ticks"] = ticks
        if not p.alive():
            raise RuntimeError("%s died during %s: %s" % (proxy, name, p.log_tail()))
        return res

    def idle(self, proxy, n):
        p, caps, hp, sp = self.proxies[proxy]
        pid = p.stat_pid()
        before = rss_bytes(pid)
        client = subprocess.Popen(pinned(self.gen_cpu, [sys.executable,
                                  os.path.join(HERE, "idle_conns.py"), "127.0.0.1",
                                  str(hp), str(n), "/small.txt"]),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            line = client.stdout.readline().strip()
            if not line.startswith("ready"):
                raise RuntimeError("idle client against %s: %s" % (proxy, line))
            during, settle = settled_rss(pid, before)
            client.stdin.write("go\n")
            client.stdin.flush()
            alive = client.stdout.readline().strip()
        finally:
            client.stdin.close()
            client.wait(60)
        m = re.match(r"alive (\d+)/(\d+)", alive)
        ok = bool(m) and m.group(1) == m.group(2)
        return {"conns": n, "rss_before": before, "rss_during": during,
                "mem_per_conn": (during - before) / n, "errors": 0 if ok else 1,
                "check": alive, "settle_s": settle}

    def run(self):
        a = self.args
        self.prepare_files()
        self.collect_versions()
        self.start_backend()
        for name in a.proxies:
            self.start_proxy(name)
        chosen = [s for s in SCENARIOS if s[0] in a.scenarios]
        for sc in chosen:
            name, title, needs = sc[0], sc[1], sc[2]
            runnable = [n for n in a.proxies if n in self.proxies and
                        needs in self.proxies[n][1]]
            self.results[name] = {n: [] for n in runnable}
            if sc[3] == "idle":
                for n in runnable:
                    log("%-9s %-8s %d idle connections" % (name, n, a.conns))
                    self.results[name][n].append(self.idle(n, a.conns))
                continue
            for n in runnable:
                log("%-9s %-8s warm-up" % (name, n))
                self.load(sc, n, 1)
            for rnd in range(a.rounds):
                for n in runnable:
                    res = self.load(sc, n, a.duration)
                    log("%-9s %-8s round %d: %8.0f req/s  %7.1f us CPU/req  p99 %.2f ms%s"
                        % (name, n, rnd + 1, res["rps"], res["cpu_us"], res["p99_ms"],
                           "  (%d errors)" % res["errors"] if res["errors"] else ""))
                    self.results[name][n].append(res)

    def stop(self):
        for p in reversed(self.procs):
            p.stop()
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)


# ---- the report ------------------------------------------------------------------

def median_of(runs, key):
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else None


def summarise(results):
    out = {}
    for sc, per in results.items():
        out[sc] = {}
        for proxy, runs in per.items():
            if not runs:
                continue
            s = {k: median_of(runs, k) for k in
                 ("rps", "p50_ms", "p99_ms", "cpu_us", "mem_per_conn")}
            s["errors"] = sum(r.get("errors", 0) for r in runs)
            s["runs"] = len(runs)
            out[sc][proxy] = {k: v for k, v in s.items() if v is not None}
    return out


# the direction of "better" for each figure, and limen's target ratio
COLUMNS = [("rps", "req/s", max), ("p50_ms", "p50 ms", min), ("p99_ms", "p99 ms", min),
           ("cpu_us", "CPU µs/req", min), ("mem_per_conn", "B/conn", min)]


def fmt(key, v):
    if v is None:
        return ""
    if key == "rps":
        return "{:,.0f}".format(v)
    if key in ("p50_ms", "p99_ms"):
        return "%.2f" % v
    if key == "cpu_us":
        return "%.1f" % v if v < 1000 else "{:,.0f}".format(v)
    return "{:,.0f}".format(v)


def table(summary, proxies, not_yet, conns):
    lines = ["| scenario | proxy | req/s | p50 ms | p99 ms | CPU µs/req | B/conn |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    titles = {s[0]: s[1] for s in SCENARIOS}
    titles["idle"] = "%s idle keep-alive connections" % "{:,}".format(conns)
    for sc, per in summary.items():
        keys = ["mem_per_conn"] if sc == "idle" else ["rps", "p50_ms", "p99_ms", "cpu_us"]
        for proxy in proxies:
            cells = []
            if proxy in per:
                s = per[proxy]
                for k, _, _ in COLUMNS:
                    c = fmt(k, s.get(k)) if k in keys else ""
                    cells.append(c)
                if s.get("errors"):
                    cells[-1 if sc == "idle" else 0] += " (%d errors)" % s["errors"]
            elif proxy == "limen":
                cells = ["not yet" if k in keys else "" for k, _, _ in COLUMNS]
            else:
                continue
            lines.append("| %s | %s | %s |" % (titles[sc], proxy, " | ".join(cells)))
        peers = [p for p in proxies if p != "limen" and p in per]
        if "limen" in proxies and peers:
            cells = []
            for k, _, best in COLUMNS:
                if k not in keys or "limen" not in per or k not in per["limen"]:
                    cells.append("not yet" if k in keys else "")
                    continue
                b = best(per[p][k] for p in peers)
                cells.append("%.2f" % (per["limen"][k] / b) if b else "")
            lines.append("| | **limen ÷ best peer** | %s |" % " | ".join(cells))
    notes = []
    for proxy, why in not_yet.items():
        notes.append("- %s: %s" % (proxy, why))
    return "\n".join(lines), notes


def serve(b):
    """--serve: the bench set-up without the load, for perf/strace/callgrind."""
    try:
        b.prepare_files()
        b.start_backend()
        for name in b.args.proxies:
            b.start_proxy(name)
        print(json.dumps({"work": b.work, "backend_port": b.backend_port,
                          "proxies": {n: {"pid": v[0].stat_pid(), "http_port": v[2],
                                          "https_port": v[3]}
                                      for n, v in b.proxies.items()}}), flush=True)
        sys.stdin.read()
    finally:
        b.stop()
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=int, default=5, help="seconds per run (5)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    ap.add_argument("--conns", type=int, default=10000,
                    help="idle keep-alive connections (10000)")
    ap.add_argument("--proxies", default="limen,nginx,haproxy")
    ap.add_argument("--scenarios", default=",".join(s[0] for s in SCENARIOS))
    ap.add_argument("--limen", default=os.path.join(ROOT, "bin", "limen"))
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "bench"),
                    help="where results.json and results.md go")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 1 s runs, 1 round, 500 idle connections")
    ap.add_argument("--serve", action="store_true",
                    help="for profiling: start the backend and the proxies, print their "
                    "pids and ports as JSON, and keep them running until stdin closes")
    a = ap.parse_args(argv)
    a.proxies = a.proxies.split(",")
    a.scenarios = a.scenarios.split(",")
    if a.quick:
        a.duration, a.rounds, a.conns = 1, 1, 500
    # the idle scenario holds 10,000 connections: every process started
    # from here (proxies, clients) inherits the raised soft limit
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    b = Bench(a)
    if a.serve:
        return serve(b)
    t0 = time.monotonic()
    load0 = loadavg()
    try:
        b.run()
    finally:
        b.stop()
    summary = summarise(b.results)
    tab, notes = table(summary, a.proxies, b.not_yet, a.conns)
    header = ("limen bench: %d s runs, %d interleaved rounds (medians), proxies on CPU %s, "
              "load generators and backend on CPU %s; %s; load average %s before, "
              "%s after; took %.0f s"
              % (a.duration, a.rounds, b.proxy_cpu, b.gen_cpu, b.versions.get("cpu"),
                 load0, loadavg(), time.monotonic() - t0))
    report = "\n".join([header, "", tab, ""] + notes)
    print(report)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(report + "\n")
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump({"args": {k: v for k, v in vars(a).items()}, "versions": b.versions,
                   "not_yet": b.not_yet, "runs": b.results, "summary": summary},
                  f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
