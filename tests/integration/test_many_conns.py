# SPDX-License-Identifier: BSD-2-Clause
"""Issue 6: 10,000 connections opened and held while normal traffic
continues.  limen raises its soft descriptor limit to the hard one at
start (proxy/server.c), so it is started here with a soft limit of 1024;
the test raises its own limit with `resource` to hold the sockets."""
import resource
import socket
import time

import pytest

from conftest import SLOW, free_port, wait_for
from proxyutil import config, get, needs_loader, read_response, rss_kib

pytestmark = needs_loader()

N = 10000
ROUTES = [{"host": ["*"], "respond": {"status": 200, "body": "ok\n"}}]


def _nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return [int(x) for x in line.split()[3:5]]
    raise AssertionError("no Max open files line")


def test_ten_thousand_idle_connections_while_traffic_goes_on(run_limen,
                                                             tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # limen needs N + a few; this process N + a few more
    if hard != resource.RLIM_INFINITY and hard < N + 200:
        pytest.skip("hard descriptor limit %d < %d" % (hard, N + 200))
    port = free_port()
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        lim = run_limen(config(port, ROUTES, None, tmp_path),
                        wait_ports=[port])
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # started with 1024: limen raised its own soft limit
    assert _nofile(lim.pid) == [hard, hard], open(
        "/proc/%d/limits" % lim.pid).read()
    assert get(port, "/").status == 200
    rss0 = rss_kib(lim.pid)

    held = []
    t0 = time.monotonic()
    try:
        for i in range(N):
            held.append(socket.create_connection(("127.0.0.1", port),
                                                 timeout=10))
            if i % 2000 == 1999:
                # normal traffic goes on while the count climbs
                r = get(port, "/", timeout=2 * SLOW)
                assert r.status == 200
        opened = time.monotonic() - t0

        # limen accepted them all (its descriptors, not just the
        # kernel's queue): fds = N + listeners, logs, epoll...
        def fds():
            import os
            return len(os.listdir("/proc/%d/fd" % lim.pid))
        wait_for(lambda: fds() >= N, timeout=20,
                 what="limen to accept %d connections (has %d fds)"
                 % (N, fds()))

        # a normal client still gets answers promptly
        worst = 0.0
        for _ in range(20):
            t = time.monotonic()
            r = get(port, "/", timeout=2 * SLOW)
            worst = max(worst, time.monotonic() - t)
            assert r.status == 200 and r.body == b"ok\n"
        assert worst < 1.0 * SLOW, "slowest answer %.3f s" % worst

        # the held ones are still served, first and last ones alike
        for s in held[:50] + held[-50:]:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            assert read_response(s.makefile("rb")).status == 200
        per_conn = (rss_kib(lim.pid) - rss0) * 1024 / N
        print("opened %d in %.2f s; %.0f bytes RSS per idle connection"
              % (N, opened, per_conn))
        assert lim.alive()
    finally:
        for s in held:
            s.close()
    wait_for(lambda: get(port, "/").status == 200, what="answers after")
