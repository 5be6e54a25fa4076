# SPDX-License-Identifier: BSD-2-Clause
"""Reload, shutdown, signals, access log (SPEC §1 signals, §3 Reload,
§6 access log)."""
import json
import os
import signal
import socket
import threading
import time

from conftest import LIMEN_BIN, free_port, port_open, run_cmd, wait_for
from proxyutil import config, get, pool, read_response, wait_port_closed, needs_loader

pytestmark = needs_loader()


def respond(body, host="*"):
    return {"host": [host], "respond": {"status": 200, "body": body}}


class Loop:
    """Requests in a steady loop on fresh and keep-alive connections."""

    def __init__(self, port):
        self.port = port
        self.ok = 0
        self.failed = []
        self.bodies = set()
        self.stop = False
        self.threads = [threading.Thread(target=self.fresh, daemon=True),
                        threading.Thread(target=self.keepalive,
                                         daemon=True)]

    def fresh(self):
        while not self.stop:
            try:
                r = get(self.port, "/")
                if r.status != 200:
                    raise AssertionError(r.status)
                self.bodies.add(r.body)
                self.ok += 1
            except Exception as e:     # noqa: BLE001 - counted
                self.failed.append(repr(e))

    def keepalive(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        f = s.makefile("rb")
        while not self.stop:
            try:
                s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                r = read_response(f)
                if r.status != 200:
                    raise AssertionError(r.status)
                self.bodies.add(r.body)
                self.ok += 1
            except Exception as e:     # noqa: BLE001 - counted
                self.failed.append("keepalive " + repr(e))
                return
        s.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *a):
        self.stop = True
        for t in self.threads:
            t.join(10)


def test_reload_under_load_loses_nothing(run_limen, tmp_path):
    port = free_port()
    path = tmp_path / "limen.yaml"
    lim = run_limen(config(port, [respond("one\n")], None, tmp_path),
                    wait_ports=[port])
    with Loop(port) as loop:
        wait_for(lambda: loop.ok > 50, what="traffic")
        for i in range(4):
            path.write_text(config(port, [respond("gen%d\n" % i)], None,
                                   tmp_path))
            if i % 2:
                lim.send_signal(signal.SIGHUP)
                want = ("gen%d\n" % i).encode()
                wait_for(lambda: get(port, "/").body == want,
                         what="SIGHUP reload")
            else:
                r = run_cmd([LIMEN_BIN, "reload", "-c", str(path)])
                assert r.returncode == 0, r.stderr
                assert "live" in r.stdout
                assert get(port, "/").body == ("gen%d\n" % i).encode()
        n = loop.ok
        wait_for(lambda: loop.ok > n + 50, what="more traffic")
    assert loop.failed == []
    assert b"gen3\n" in loop.bodies and b"one\n" in loop.bodies


def test_broken_file_keeps_the_old_config(run_limen, tmp_path):
    port = free_port()
    path = tmp_path / "limen.yaml"
    lim = run_limen(config(port, [respond("good\n")], None, tmp_path),
                    wait_ports=[port])
    path.write_text(config(port, [respond("bad\n")], None, tmp_path)
                    + "bogus_key: 1\n")
    r = run_cmd([LIMEN_BIN, "reload", "-c", str(path)])
    assert r.returncode == 1
    assert "bogus_key" in r.stderr
    lim.send_signal(signal.SIGHUP)
    lim.wait_log(r"reload: rejected")
    assert get(port, "/").body == b"good\n"


def test_reload_rejected_by_the_instance_reports_why(run_limen, tmp_path):
    """A file that parses but cannot be applied (its new port is taken)."""
    port, taken = free_port(), socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    path = tmp_path / "limen.yaml"
    run_limen(config(port, [respond("good\n")], None, tmp_path),
              wait_ports=[port])
    listeners = [{"name": "web", "listen": [
        "127.0.0.1:%d" % port, "127.0.0.1:%d" % taken.getsockname()[1]]}]
    path.write_text(config(port, [respond("new\n")], None, tmp_path,
                           listeners=listeners))
    r = run_cmd([LIMEN_BIN, "reload", "-c", str(path)])
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Address already in use" in r.stderr
    assert get(port, "/").body == b"good\n"
    taken.close()


def test_reload_adds_and_removes_listeners(run_limen, tmp_path):
    p1, p2 = free_port(), free_port()
    path = tmp_path / "limen.yaml"
    run_limen(config(p1, [respond("x\n")], None, tmp_path),
              wait_ports=[p1])
    # an established keep-alive connection survives the reloads
    s = socket.create_connection(("127.0.0.1", p1), timeout=5)
    f = s.makefile("rb")
    listeners = [{"name": "web", "listen": ["127.0.0.1:%d" % p1,
                                            "127.0.0.1:%d" % p2]}]
    path.write_text(config(p1, [respond("x\n")], None, tmp_path,
                           listeners=listeners))
    assert run_cmd([LIMEN_BIN, "reload", "-c", str(path)]).returncode == 0
    assert get(p2, "/").status == 200
    listeners = [{"name": "web", "listen": ["127.0.0.1:%d" % p2]}]
    path.write_text(config(p2, [respond("y\n")], None, tmp_path,
                           listeners=listeners))
    assert run_cmd([LIMEN_BIN, "reload", "-c", str(path)]).returncode == 0
    assert wait_port_closed(p1)
    assert get(p2, "/").body == b"y\n"
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert read_response(f).body == b"y\n"
    s.close()


def test_sigterm_lets_a_request_in_flight_finish(run_limen, backend,
                                                 tmp_path):
    b = backend()
    port = free_port()
    lim = run_limen(config(port, [{"host": ["*"], "pool": "p"}],
                           {"p": pool(b.address)}, tmp_path),
                    wait_ports=[port])
    result = {}

    def slow():
        result["r"] = get(port, "/slow/700", timeout=10)

    t = threading.Thread(target=slow)
    t.start()
    wait_for(lambda: b.count >= 1, what="request at the backend")
    lim.send_signal(signal.SIGTERM)
    assert wait_port_closed(port), "still accepting after SIGTERM"
    t.join(10)
    assert result["r"].status == 200
    assert lim.proc.wait(10) == 0
    assert not os.path.exists(tmp_path / "limen.pid")


def test_pid_file_and_sd_notify(run_limen, tmp_path):
    sock_path = str(tmp_path / "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(sock_path)
    ns.settimeout(10)
    port = free_port()
    lim = run_limen(config(port, [respond("x\n")], None, tmp_path),
                    wait_ports=[port], env={"NOTIFY_SOCKET": sock_path})
    assert ns.recv(512) == b"READY=1"
    pid = int((tmp_path / "limen.pid").read_text())
    assert pid == lim.pid
    lim.send_signal(signal.SIGHUP)
    assert ns.recv(512).startswith(b"RELOADING=1\nMONOTONIC_USEC=")
    assert ns.recv(512) == b"READY=1"
    lim.send_signal(signal.SIGTERM)
    assert ns.recv(512) == b"STOPPING=1"
    ns.close()


def test_access_log_lines_and_reopen(run_limen, backend, tmp_path):
    b = backend()
    port = free_port()
    log = tmp_path / "access.log"
    lim = run_limen(config(port, [{"host": ["*"], "path": "/api",
                                   "pool": "p"}, respond("x\n")],
                           {"p": pool(b.address)}, tmp_path,
                           access_log={"path": str(log), "format": "json"}),
                    wait_ports=[port])
    r = get(port, "/api/v?q=1", "Site.example.com", method="POST",
            body=b"12345")
    rid = r.header("X-Request-ID")
    get(port, "/nothing")
    wait_for(lambda: log.exists() and log.read_text().count("\n") >= 2,
             what="access log lines")
    # each worker buffers its own lines, so two requests on two connections
    # may be logged in either order: pick them by method
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    a = next(x for x in lines if x["method"] == "POST")
    other = next(x for x in lines if x["method"] == "GET")
    assert a["method"] == "POST" and a["path"] == "/api/v"
    assert a["host"] == "site.example.com" and a["status"] == 200
    assert a["client"] == "127.0.0.1" and a["request_id"] == rid
    assert a["pool"] == "p" and a["upstream"] == b.address
    assert a["route"] == "*/api" and a["bytes_in"] > 5
    assert a["bytes_out"] == len(r.body) and a["duration_ms"] >= 0
    assert "time" in a
    assert other["route"] == "*/" and other["pool"] is None
    # rotation: move the file away, SIGUSR1, a new file appears
    os.rename(log, tmp_path / "access.log.1")
    lim.send_signal(signal.SIGUSR1)
    wait_for(lambda: get(port, "/again") and log.exists() and
             "/again" in log.read_text(), what="reopened access log")


def test_privileges_are_dropped_after_binding(run_limen, tmp_path):
    import pwd
    nobody = pwd.getpwnam("nobody")
    port = free_port()
    lim = run_limen(config(port, [respond("x\n")], None, tmp_path,
                           extra_global={"user": "nobody"}),
                    wait_ports=[port])
    assert get(port, "/").body == b"x\n"
    with open("/proc/%d/status" % lim.pid) as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    assert status["Uid"].split() == [str(nobody.pw_uid)] * 4
    assert status["Gid"].split()[0] == str(nobody.pw_gid)
    assert status["NoNewPrivs"].strip() == "1"
    # the control socket and state_dir belong to the new user
    st = os.stat(tmp_path / "state" / "control.sock")
    assert st.st_uid == nobody.pw_uid and st.st_mode & 0o777 == 0o600
