# SPDX-License-Identifier: BSD-2-Clause
"""bench/waf_cost.py's bookkeeping (issue 8): reading wrk's output.  The
measurement itself is `make bench`, not a test."""
import os
import sys

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "bench"))
import waf_cost  # noqa: E402

WRK_OUT = """Running 5s test @ http://127.0.0.1:41000/small.txt?id=42&q=hello
  1 threads and 8 connections
  Latency Distribution
     50%  850.00us
     75%    2.00ms
     90%    3.00ms
     99%    1.20s
  1205 requests in 5.00s, 300.00KB read
  Non-2xx or 3xx responses: 4
Requests/sec:    241.00
Transfer/sec:     60.00KB
"""


def test_waf_cost_reads_wrk_counts_latency_and_errors():
    r = waf_cost.parse_wrk(WRK_OUT)
    assert r == {"requests": 1205, "rps": 241.0, "p50_ms": 0.85,
                 "p99_ms": 1200.0, "errors": 4}
