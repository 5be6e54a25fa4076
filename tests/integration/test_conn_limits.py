# SPDX-License-Identifier: BSD-2-Clause
"""Connection limits on accept (proxy/connlimit.c, proxy/worker.c):
global.max_conns, global.max_conns_per_ip, and the accept backoff when
limen runs out of file descriptors (EMFILE must not spin the loop)."""
import os
import socket
import subprocess
import time

from conftest import free_port, wait_for
from proxyutil import config, raw_exchange, read_response, needs_loader

pytestmark = needs_loader()

GOOD = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
ROUTES = [{"host": ["*"], "respond": {"status": 200, "body": "ok\n"}}]


def _held(port, src="127.0.0.1"):
    """A keep-alive connection that limen has really accepted."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5,
                                 source_address=(src, 0))
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert read_response(s.makefile("rb")).status == 200
    return s


def _refused(port, src="127.0.0.1"):
    """True when limen closes a new connection without answering."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5,
                                     source_address=(src, 0))
    except OSError:
        return True
    with s:
        try:
            s.sendall(GOOD)
            return s.recv(100) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True


def _served(port, src="127.0.0.1"):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5,
                                     source_address=(src, 0))
        with s:
            s.sendall(GOOD)
            return s.recv(100).startswith(b"HTTP/1.1 200 ")
    except OSError:
        return False


def test_max_conns_closes_excess_connections(run_limen, tmp_path):
    port = free_port()
    run_limen(config(port, ROUTES, None, tmp_path,
                     extra_global={"max_conns": 6}), wait_ports=[port])
    # wait_ports' probe connection may still be counted for a moment
    wait_for(lambda: _served(port), what="a first answer")
    held = []
    try:
        held = [_held(port) for _ in range(6)]
        assert _refused(port)
        assert _refused(port, "127.0.0.2")   # the total, whatever the address
        held.pop().close()
        wait_for(lambda: _served(port), what="a freed slot")
        for s in held:      # the held ones were never disturbed
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            assert read_response(s.makefile("rb")).status == 200
    finally:
        for s in held:
            s.close()


def test_max_conns_per_ip_limits_one_address_only(run_limen, tmp_path):
    port = free_port()
    run_limen(config(port, ROUTES, None, tmp_path,
                     extra_global={"max_conns_per_ip": 3}), wait_ports=[port])
    wait_for(lambda: _served(port), what="a first answer")
    held = []
    try:
        held = [_held(port) for _ in range(3)]
        assert _refused(port)
        # another client address is not affected
        other = [_held(port, "127.0.0.2") for _ in range(3)]
        held += other
        assert _refused(port, "127.0.0.2")
        assert _served(port, "127.0.0.3")
        held.pop(0).close()
        wait_for(lambda: _served(port), what="a freed slot")
    finally:
        for s in held:
            s.close()


def _cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return soft.replace("unlimited", "unlimited"), hard
    raise AssertionError("no Max open files line")


def test_out_of_descriptors_pauses_accepting_without_spinning(run_limen,
                                                              tmp_path):
    port = free_port()
    lim = run_limen(config(port, ROUTES, None, tmp_path), wait_ports=[port])
    wait_for(lambda: _served(port), what="a first answer")
    nfd = len(os.listdir("/proc/%d/fd" % lim.pid))
    soft, hard = _nofile(lim.pid)
    # lower only the soft limit (raising the hard one needs privilege)
    subprocess.run(["prlimit", "--pid", str(lim.pid),
                    "--nofile=%d:%s" % (nfd + 4, hard)], check=True)
    held = []
    try:
        for _ in range(20):     # more than limen can accept now
            held.append(socket.create_connection(("127.0.0.1", port),
                                                 timeout=5))
        wait_for(lambda: "pausing accepts" in lim.log(), what="the log line")
        cpu0, t0 = _cpu_seconds(lim.pid), time.monotonic()
        time.sleep(1.0)     # measuring: a spinning loop burns a core here
        used = _cpu_seconds(lim.pid) - cpu0
        wall = time.monotonic() - t0
        # a spinning accept loop measured 0.28 s here; paused: 0.00
        assert used < 0.1 * wall, "%.2f s CPU in %.2f s" % (used, wall)
        # one line per listener socket and episode, not one per retry
        assert lim.log().count("pausing accepts") <= 2, lim.log()
    finally:
        for s in held:
            s.close()
    subprocess.run(["prlimit", "--pid", str(lim.pid),
                    "--nofile=%s:%s" % (soft, hard)], check=True)
    wait_for(lambda: _served(port), what="accepting again")
    assert lim.alive()
