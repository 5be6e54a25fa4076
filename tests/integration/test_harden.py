# SPDX-License-Identifier: BSD-2-Clause
"""Robustness around reload and shutdown (issues 3 and 6): rate-limit
buckets carried over a reload, reloads after the drop to global.user,
a second SIGTERM while shutting down, and exit code 2 when the
configuration cannot be loaded for want of memory."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import LIMEN_BIN, SANITIZED, free_port, run_cmd, wait_for
from proxyutil import config, get, needs_loader

pytestmark = needs_loader()


def respond(body, host="*", **kw):
    r = {"host": [host], "respond": {"status": 200, "body": body}}
    r.update(kw)
    return r


def live_count(lim):
    return len(re.findall(r"reload: configuration \d+ is live", lim.log()))


def sighup_and_wait(lim):
    n = live_count(lim)
    lim.send_signal(signal.SIGHUP)
    wait_for(lambda: live_count(lim) > n or "reload: rejected" in lim.log(),
             what="the reload to finish")
    assert live_count(lim) > n, lim.log()


# ---- rate limits across reloads ---------------------------------------

def test_rate_limit_buckets_survive_a_reload(run_limen, tmp_path):
    port = free_port()
    path = tmp_path / "limen.yaml"
    limited = respond("api\n", path="/api",
                      rate_limit={"rate": "1/m", "burst": 3})
    lim = run_limen(config(port, [limited, respond("home\n")], None,
                           tmp_path), wait_ports=[port])
    assert [get(port, "/api").status for _ in range(4)] == \
        [200, 200, 200, 429]

    # another route changes; this one does not: still at its limit,
    # through SIGHUP and through `limen reload`
    path.write_text(config(port, [respond("other\n", path="/other"),
                                  limited, respond("home2\n")],
                           None, tmp_path))
    sighup_and_wait(lim)
    assert get(port, "/").body == b"home2\n"    # the new config serves
    r = get(port, "/api")
    assert r.status == 429 and int(r.header("Retry-After")) >= 1
    r = run_cmd([LIMEN_BIN, "reload", "-c", str(path)])
    assert r.returncode == 0, r.stderr
    assert get(port, "/api").status == 429

    # a changed rate_limit is a new limiter: a full bucket
    limited2 = dict(limited, rate_limit={"rate": "1/m", "burst": 2})
    path.write_text(config(port, [limited2, respond("home3\n")], None,
                           tmp_path))
    sighup_and_wait(lim)
    assert [get(port, "/api").status for _ in range(3)] == [200, 200, 429]


# ---- privileges -------------------------------------------------------

def _world_dir():
    """A directory the unprivileged user can enter (tmp_path cannot)."""
    d = tempfile.mkdtemp(prefix="limen-priv-")
    os.chmod(d, 0o755)
    return d


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
def test_reload_of_a_root_only_file_after_dropping_privileges(tmp_path):
    d = _world_dir()
    try:
        port = free_port()
        path = os.path.join(d, "limen.yaml")
        text = config(port, [respond("one\n")], None, tmp_path,
                      extra_global={"user": "nobody",
                                    "state_dir": os.path.join(d, "state")})
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)       # root only
        from conftest import Limen
        lim = Limen(path, str(tmp_path / "priv.log"), cwd=str(tmp_path))
        try:
            wait_for(lambda: "listening on" in lim.log() or not lim.alive(),
                     what="start")
            assert lim.alive(), lim.log()
            # warned at start: reloads will not be able to read it
            assert "reloads will be rejected until nobody can read it" \
                in lim.log()
            with open(path, "w") as f:
                f.write(text.replace("one", "two"))
            r = run_cmd([LIMEN_BIN, "reload", "-c", path])
            assert r.returncode == 1, r.stdout + r.stderr
            assert "Permission denied" in r.stderr
            assert "limen runs as nobody (global.user)" in r.stderr
            assert "limen runs as nobody (global.user)" in lim.log()
            assert get(port, "/").body == b"one\n"   # the old one serves

            # readable by the user: the same reload works
            os.chmod(path, 0o644)
            r = run_cmd([LIMEN_BIN, "reload", "-c", path])
            assert r.returncode == 0, r.stderr
            assert get(port, "/").body == b"two\n"

            # a secret file the new configuration names, root only
            users = os.path.join(d, "users")
            crypted = subprocess.run(
                ["openssl", "passwd", "-6", "pw"], capture_output=True,
                text=True, check=True).stdout.strip()
            with open(users, "w") as f:
                f.write("alice:%s\n" % crypted)
            os.chmod(users, 0o600)
            route = respond("three\n",
                            auth={"basic": {"users_file": users}})
            with open(path, "w") as f:
                f.write(config(port, [route], None, tmp_path, extra_global={
                    "user": "nobody", "state_dir": os.path.join(d, "state")}))
            lim.send_signal(signal.SIGHUP)
            wait_for(lambda: lim.log().count("reload: rejected") >= 2,
                     what="the second rejection")
            assert users in lim.log()
            assert get(port, "/").body == b"two\n"
            assert lim.stop() == 0, lim.log()
            assert lim.sanitizer_report() is None, lim.log()
        finally:
            if lim.alive():
                lim.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---- shutdown ---------------------------------------------------------

def test_second_sigterm_while_shutting_down_is_ignored(run_limen, tmp_path):
    port = free_port()
    lim = run_limen(config(port, [respond("x\n")], None, tmp_path),
                    wait_ports=[port])
    assert get(port, "/").status == 200
    lim.send_signal(signal.SIGTERM)
    # keep signalling through the drain and the final cleanup
    deadline = time.monotonic() + 20
    while lim.alive() and time.monotonic() < deadline:
        try:
            lim.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            break
        time.sleep(0.002)
    rc = lim.proc.wait(10)
    assert rc == 0, "exit %s:\n%s" % (rc, lim.log())
    assert "shutdown: complete" in lim.log()


# ---- out of memory ----------------------------------------------------

@pytest.mark.skipif(SANITIZED, reason="ASan reserves terabytes of address "
                    "space: RLIMIT_AS cannot make malloc fail there")
def test_out_of_memory_loading_the_config_exits_2(tmp_path):
    small = tmp_path / "small.yaml"
    small.write_text(config(free_port(), [respond("x\n")]))
    # close to the 4 MiB file limit, and many nodes to allocate (the
    # key is unknown: without a limit the answer is a quick user error)
    big = tmp_path / "big.yaml"
    big.write_text(small.read_text() + "padding: [" + "1," * 1900000 + "1]\n")
    r = run_cmd([LIMEN_BIN, "check", "-c", str(big)])
    assert r.returncode == 1 and "unknown key 'padding'" in r.stderr

    def check(path, mib):
        return subprocess.run(
            ["prlimit", "--as=%d" % (mib << 20), LIMEN_BIN, "check", "-c",
             str(path)], capture_output=True, text=True, timeout=60)

    # the smallest address-space limit limen starts under, then the big
    # file under it: its nodes no longer fit
    for mib in range(40, 400, 8):
        if check(small, mib).returncode == 0:
            break
    else:
        pytest.fail("limen check never ran under an address-space limit")
    r = check(big, mib)
    assert "out of memory" in r.stderr or \
        "Cannot allocate memory" in r.stderr, r.stderr[-500:]
    assert r.returncode == 2, r.stderr[-500:]
