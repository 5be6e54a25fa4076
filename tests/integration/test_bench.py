# SPDX-License-Identifier: BSD-2-Clause
"""bench/bench.py's bookkeeping (issue 6).

`make bench` itself is not a test (it takes minutes and its figures depend
on the machine); these tests check what would silently spoil its table:
reading wrk's, h2load's and the handshake client's output, reading
/proc, the medians, and the "not yet" and ratio rows.  The idle-connection
client runs for real against a local echo backend.
"""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "bench"))
import bench  # noqa: E402

WRK_OUT = """Running 5s test @ http://127.0.0.1:41000/small.txt
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms  512.00us  20.00ms   90.00%
    Req/Sec    24.10k     1.20k   26.00k    80.00%
  Latency Distribution
     50%  850.00us
     75%    2.00ms
     90%    3.00ms
     99%    1.20s
  120500 requests in 5.00s, 30.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  24100.00
Transfer/sec:      6.00MB
"""

H2LOAD_OUT = """starting benchmark...
finished in 5.00s, 40000.00 req/s, 10.00MB/s
requests: 200000 total, 200256 started, 200000 done, 199990 succeeded, 10 failed, 0 errored, 0 timeout
status codes: 199990 2xx, 0 3xx, 0 4xx, 10 5xx
"""


def test_parse_wrk_reads_counts_latency_units_and_errors():
    r = bench.parse_wrk(WRK_OUT)
    assert r["requests"] == 120500
    assert r["rps"] == 24100.0
    assert r["p50_ms"] == pytest.approx(0.85)
    assert r["p99_ms"] == pytest.approx(1200.0)
    assert r["errors"] == 7


def test_parse_h2load_takes_percentiles_from_the_log_file():
    log = "".join("1700000000%06d\t200\t%d\n" % (i, (i + 1) * 1000)
                  for i in range(100))
    log += "1700000001000000\t-1\t5\n"       # a failed stream: no latency
    r = bench.parse_h2load(H2LOAD_OUT, log)
    assert r["requests"] == 200000
    assert r["rps"] == 40000.0
    assert r["errors"] == 10
    assert r["p50_ms"] == 50.0
    assert r["p99_ms"] == 99.0


def test_proc_readers_see_this_process():
    assert bench.cpu_ticks(os.getpid()) >= 0
    assert bench.rss_bytes(os.getpid()) > 1 << 20
    child = subprocess.Popen(["sleep", "5"])
    try:
        assert child.pid in bench.children(os.getpid())
    finally:
        child.kill()
        child.wait()


def test_settled_rss_waits_for_a_stable_window(monkeypatch):
    """The idle scenario reads RSS once it stopped moving, not at once."""
    samples = iter([100, 400, 700, 1000] + [1000] * 20)
    monkeypatch.setattr(bench, "rss_bytes", lambda pid: next(samples) << 20)
    monkeypatch.setattr(bench, "IDLE_SAMPLE_S", 0.001)
    monkeypatch.setattr(bench, "IDLE_WINDOW_S", 0.004)
    rss, took = bench.settled_rss(1, 0)
    assert rss == 1000 << 20
    # never settles: bounded, the last sample is taken
    grow = iter(range(1, 100000))
    monkeypatch.setattr(bench, "rss_bytes", lambda pid: next(grow) << 20)
    monkeypatch.setattr(bench, "IDLE_MAX_S", 0.05)
    rss, took = bench.settled_rss(1, 0)
    assert rss > 4 << 20 and took < 1


def test_summary_takes_medians_and_the_table_marks_limen_not_yet():
    results = {"h1": {"nginx": [{"rps": 10, "p50_ms": 1, "p99_ms": 5, "cpu_us": 30,
                                 "errors": 0},
                                {"rps": 30, "p50_ms": 3, "p99_ms": 7, "cpu_us": 20,
                                 "errors": 0},
                                {"rps": 20, "p50_ms": 2, "p99_ms": 6, "cpu_us": 25,
                                 "errors": 0}]}}
    s = bench.summarise(results)
    assert s["h1"]["nginx"]["rps"] == 20
    assert s["h1"]["nginx"]["cpu_us"] == 25
    tab, notes = bench.table(s, ["limen", "nginx"], {"limen": "no loader"}, 10000)
    rows = tab.splitlines()
    assert "| HTTP/1.1 keep-alive, small responses | limen | not yet | not yet |" \
        in "\n".join(rows)
    assert notes == ["- limen: no loader"]


def test_table_ratio_is_limen_over_the_best_peer():
    s = {"h1": {"nginx": {"rps": 100.0, "p50_ms": 1.0, "p99_ms": 4.0, "cpu_us": 20.0},
                "haproxy": {"rps": 80.0, "p50_ms": 2.0, "p99_ms": 2.0, "cpu_us": 25.0},
                "limen": {"rps": 120.0, "p50_ms": 1.0, "p99_ms": 3.0, "cpu_us": 15.0}},
         "idle": {"nginx": {"mem_per_conn": 800.0}, "haproxy": {"mem_per_conn": 1200.0},
                  "limen": {"mem_per_conn": 600.0}}}
    tab, _ = bench.table(s, ["limen", "nginx", "haproxy"], {}, 10000)
    ratios = [l for l in tab.splitlines() if "limen ÷ best peer" in l]
    # req/s against the highest, latency and CPU against the lowest
    assert ratios[0].split("|")[3:7] == [" 1.20 ", " 1.00 ", " 1.50 ", " 0.75 "]
    assert ratios[1].split("|")[7] == " 0.75 "


def test_idle_client_holds_connections_and_checks_them(backend):
    # 5: the echo backend's listen backlog is Python's default, 5; more
    # connections at once would wait on SYN retransmits
    b = backend()
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "bench", "idle_conns.py"),
                          "127.0.0.1", str(b.port), "5", "/x"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready 5"
        p.stdin.write("go\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "alive 5/5"
    finally:
        p.stdin.close()
        assert p.wait(30) == 0


def test_parse_tlshs_counts_requests_over_the_asked_duration():
    out = json.dumps({"requests": 200, "errors": 1, "seconds": 5.2,
                      "latencies_ms": [float(i) for i in range(1, 201)]})
    r = bench.parse_tlshs(out, 5)
    assert r["rps"] == 40.0
    assert r["errors"] == 1
    assert (r["p50_ms"], r["p99_ms"]) == (100.0, 198.0)
