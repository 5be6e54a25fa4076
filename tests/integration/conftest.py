# SPDX-License-Identifier: BSD-2-Clause
"""Fixtures for limen's integration tests.

Every test starts the real binaries (bin/limen, bin/limen-backup, or the
sanitized ones when LIMEN_BIN points there) on a config it writes itself,
on free ports of 127.0.0.1, with real peers.  At teardown a test fails if
the process printed a sanitizer report or died on its own.

Wait on conditions with deadlines (port open, log line, file present),
never on fixed sleeps.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.dirname(__file__))

LIMEN_BIN = os.environ.get("LIMEN_BIN", os.path.join(ROOT, "bin", "limen"))
BACKUP_BIN = os.environ.get("LIMEN_BACKUP_BIN",
                            os.path.join(ROOT, "bin", "limen-backup"))
SANITIZED = os.environ.get("LIMEN_SAN", "0") == "1"
# sanitized binaries are slower: scale deadlines
SLOW = 3.0 if SANITIZED else 1.0

SAN_PATTERNS = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|"
    r"LeakSanitizer has encountered a fatal error|"
    r"SUMMARY: UndefinedBehaviorSanitizer")


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout=10.0, interval=0.02, what="condition"):
    """Poll cond() until it returns a true value; fail after timeout.
    what may be a callable, called only on failure (e.g. to show a log as
    it is then, not as it was when waiting began)."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " +
                                 (what() if callable(what) else what))
        time.sleep(interval)


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Process:
    """A started binary with its stderr captured to a file."""

    def __init__(self, argv, log_path, env=None, cwd=None):
        self.argv = argv
        self.log_path = log_path
        self.logf = open(log_path, "wb")
        e = dict(os.environ)
        e.setdefault("ASAN_OPTIONS",
                     "detect_leaks=1:abort_on_error=1:halt_on_error=1")
        e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        if env:
            e.update(env)
        self.proc = subprocess.Popen(argv, stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=e, cwd=cwd)

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, pattern, timeout=10.0):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.log()), timeout,
                        what="log line /%s/ in:\n%s" % (pattern, self.log()))

    def alive(self):
        return self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=20.0):
        """Stop the process; return its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        return self.proc.returncode

    def sanitizer_report(self):
        m = SAN_PATTERNS.search(self.log())
        return self.log() if m else None


class Limen(Process):
    def __init__(self, config_path, log_path, args=("run",), env=None,
                 cwd=None):
        self.config_path = config_path
        super().__init__([LIMEN_BIN, *args, "-c", config_path], log_path,
                         env=env, cwd=cwd)


@pytest.fixture
def run_limen(tmp_path):
    """run_limen(yaml_text, wait_ports=[...]) -> Limen, stopped at teardown.

    Teardown fails the test if limen printed a sanitizer report or did
    not exit 0 on SIGTERM.
    """
    started = []

    def start(config_text, wait_ports=(), name="limen.yaml", env=None,
              expect_start=True):
        path = tmp_path / name
        path.write_text(config_text)
        lim = Limen(str(path), str(tmp_path / ("limen-%d.log" % len(started))),
                    env=env, cwd=str(tmp_path))
        started.append(lim)
        if expect_start:
            for p in wait_ports:
                wait_for(lambda: port_open(p) or not lim.alive(),
                         what="port %d" % p)
                assert lim.alive(), "limen exited:\n" + lim.log()
        return lim

    yield start
    for lim in started:
        was_alive = lim.alive()
        rc = lim.stop()
        rep = lim.sanitizer_report()
        assert rep is None, "sanitizer report:\n" + rep
        if was_alive:
            assert rc == 0, "limen exit code %s on SIGTERM:\n%s" % (rc, lim.log())


def run_cmd(argv, timeout=60, **kw):
    """Run a command to completion; returns CompletedProcess (text)."""
    e = dict(os.environ)
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    e.update(kw.pop("env", {}) or {})
    return subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout * SLOW, env=e, **kw)


@pytest.fixture
def backend():
    """backend(**opts) -> a started echo backend (peers/echo_backend.py)."""
    from peers.echo_backend import EchoBackend
    started = []

    def start(**opts):
        b = EchoBackend(**opts)
        b.start()
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()
