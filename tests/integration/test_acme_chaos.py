# SPDX-License-Identifier: BSD-2-Clause
"""Faults of the CA while `limen run` serves traffic (issue 7, docs/acme.md
"Failures"): pebble's chaos settings (PEBBLE_WFE_NONCEREJECT,
PEBBLE_AUTHZREUSE), challenges that fail validation (the next configured
type takes over; when every type fails the stand-in keeps serving), and a
CA that is down when limen starts and comes up later.  In each, a request
loop (peers/acme_run.Traffic: plain HTTP and new TLS connections for both
names, proxied to a backend) runs from the start and must see no failed
request, and the certificates must arrive and verify against pebble's
root.  Pebble 2.4 has no "always invalid" switch: failed validations are
real ones, pebble's validation pointed at a port where nothing listens.
"""
import calendar
import re

import pytest

from conftest import free_port, wait_for
from peers.acme_env import NAMES, AcmeEnv, order_count
from peers.acme_run import (Traffic, issued_by_pebble, metric, run_config,
                            s_client_verify, served_cert)


@pytest.fixture
def acme(tmp_path):
    env = AcmeEnv(tmp_path)
    yield env
    env.stop()


def start(acme, run_limen, backend, **kw):
    """limen run with a plaintext listener that proxies (no redirect), so
    that the request loop can use both listeners."""
    b = backend()
    kw.setdefault("redirect", False)
    lim = run_limen(run_config(acme, b.address, **kw),
                    wait_ports=[acme.http_port, acme.tls_port])
    return lim, b


def traffic(acme, names=NAMES, root=None):
    return Traffic(acme.http_port, acme.tls_port, names, root=root).start()


def wait_traffic_sees_pebble(t):
    """The request loop's latest handshakes got pebble's certificates."""
    wait_for(lambda: all(s and s[-1][2] for s in t.serials.values()),
             timeout=10, what="the request loop to see the certificates")


def wait_certs(acme, lim, names=NAMES, timeout=30):
    return {n: wait_for(lambda: issued_by_pebble(acme.tls_port, n),
                        timeout=timeout,
                        what=lambda: "pebble certificate for %s:\n%s" %
                        (n, lim.log()))
            for n in names}


def assert_verified(acme, names=NAMES):
    root = acme.pebble.roots_pem()
    for n in names:
        r = s_client_verify(acme.tls_port, n, root)
        assert r.returncode == 0, r.stdout + r.stderr


def assert_no_stand_in_after_pebble(t):
    """Once a name is served pebble's certificate, it never goes back to
    the stand-in."""
    for n, seen in t.serials.items():
        kinds = [pebble for _, _, pebble in seen]
        assert True in kinds, (n, seen)
        assert all(kinds[kinds.index(True):]), (n, seen)


def test_bad_nonces_under_traffic(acme, run_limen, backend):
    # half of pebble's nonces are refused with badNonce
    acme.start_pebble(env={"PEBBLE_WFE_NONCEREJECT": "50"})
    lim, b = start(acme, run_limen, backend)
    t = traffic(acme)
    wait_certs(acme, lim)
    wait_traffic_sees_pebble(t)
    t.check()
    assert_no_stand_in_after_pebble(t)
    assert_verified(acme)
    assert "badNonce, retrying" in lim.log()
    # a refused request is signed again, not ordered twice
    assert order_count(lim.log()) == 2, lim.log()
    assert "retrying in" not in lim.log()


def test_authz_reuse_renewal_under_traffic(acme, run_limen, backend):
    # pebble hands out the still valid authorizations again: the renewal
    # orders are ready without a challenge
    acme.start_pebble(env={"PEBBLE_AUTHZREUSE": "100"}, validity=9)
    lim, b = start(acme, run_limen, backend)
    t = traffic(acme)
    first = wait_certs(acme, lim)

    def renewed(n):
        c = issued_by_pebble(acme.tls_port, n)
        return c if c and c.serial_number != first[n].serial_number else None
    for n in NAMES:
        wait_for(lambda: renewed(n), timeout=20,
                 what=lambda: "renewal of %s:\n%s" % (n, lim.log()))
    wait_traffic_sees_pebble(t)
    t.check()
    assert_no_stand_in_after_pebble(t)
    assert_verified(acme)
    log = lim.log()
    for n in NAMES:
        assert len(re.findall(r"%s: order created" % re.escape(n), log)) \
            >= 2, log
        # one challenge answered: the renewal reused the authorization
        assert len(re.findall(r"%s: answering http-01" % re.escape(n),
                              log)) == 1, log
    assert "retrying in" not in log


@pytest.mark.parametrize("failing,other", [("http-01", "tls-alpn-01"),
                                           ("tls-alpn-01", "http-01")])
def test_failed_validation_falls_back_under_traffic(acme, run_limen, backend,
                                                   failing, other):
    # pebble validates the preferred type on a port where nobody listens
    dead = free_port()
    if failing == "http-01":
        acme.start_pebble(http_port=dead)
    else:
        acme.start_pebble(tls_port=dead)
    aport = free_port()
    lim, b = start(acme, run_limen, backend, admin_port=aport,
                   challenges="[%s, %s]" % (failing, other))
    t = traffic(acme)
    wait_certs(acme, lim)
    wait_traffic_sees_pebble(t)
    t.check()
    assert_no_stand_in_after_pebble(t)
    assert_verified(acme)
    log = lim.log()
    for n in NAMES:
        assert re.search(r"%s: %s: .*; trying %s next" % (
            re.escape(n), failing, other), log), log
        # the failed authorization counts once; the certificate is there
        assert metric(aport, "limen_acme_failures_total", n) == 1
        assert metric(aport, "limen_certificate_expiry_timestamp_seconds",
                      n) > 0
    assert order_count(log) == 4, log


def test_every_challenge_failing_keeps_the_stand_in(acme, run_limen,
                                                    backend):
    acme.start_pebble(http_port=free_port(), tls_port=free_port())
    aport = free_port()
    lim, b = start(acme, run_limen, backend, admin_port=aport,
                   challenges="[http-01, tls-alpn-01]")
    t = traffic(acme)
    for n in NAMES:
        lim.wait_log(r"%s: tls-alpn-01: .*; retrying in \d+ s" %
                     re.escape(n), timeout=20)
        wait_for(lambda: metric(aport, "limen_acme_failures_total", n) == 2,
                 timeout=5, what="two failures counted for %s" % n)
    t.check()
    for n in NAMES:
        c = served_cert(acme.tls_port, n)
        assert c.issuer == c.subject            # the self-signed stand-in
        assert metric(aport, "limen_certificate_expiry_timestamp_seconds",
                      n) is None
    assert lim.alive()


def test_ca_down_at_start_comes_up_later(acme, run_limen, backend):
    # pebble's files and ports exist, the process does not run yet
    acme.start_pebble(start=False)
    aport = free_port()
    lim, b = start(acme, run_limen, backend, admin_port=aport)
    t = traffic(acme)
    for n in NAMES:
        lim.wait_log(r"%s: DIRECTORY: .*; retrying in \d+ s" % re.escape(n),
                     timeout=15)
        c = served_cert(acme.tls_port, n)
        assert c.issuer == c.subject            # the self-signed stand-in
    acme.pebble.start()
    # no restart, no reload: the next retry finds the CA
    wait_certs(acme, lim, timeout=40)
    wait_traffic_sees_pebble(t)
    t.check()
    assert_no_stand_in_after_pebble(t)
    assert_verified(acme)
    for n in NAMES:
        assert metric(aport, "limen_acme_failures_total", n) >= 1
        assert metric(aport, "limen_certificate_expiry_timestamp_seconds",
                      n) > 0
    assert order_count(lim.log()) == 2, lim.log()


def test_renewal_failure_keeps_the_old_certificate(acme, run_limen, backend):
    acme.start_pebble(validity=20)
    aport = free_port()
    lim, b = start(acme, run_limen, backend, admin_port=aport)
    first = wait_certs(acme, lim)
    t = traffic(acme)
    wait_traffic_sees_pebble(t)
    # the CA goes away before the renewals (two thirds: 12-13 s)
    acme.pebble.stop()
    for n in NAMES:
        lim.wait_log(r"%s: .*; retrying in \d+ s \(attempt \d+\) \(the "
                     r"current certificate stays\)" % re.escape(n),
                     timeout=25)
        assert served_cert(acme.tls_port, n).serial_number == \
            first[n].serial_number
        assert metric(aport, "limen_acme_failures_total", n) >= 1
    # it comes back, having forgotten everything (a new pebble: new
    # roots, no account): the next retry renews both names
    acme.pebble.start()

    def renewed(n):
        c = issued_by_pebble(acme.tls_port, n)
        return c if c and c.serial_number != first[n].serial_number else None
    second = {n: wait_for(lambda: renewed(n), timeout=30,
                          what=lambda: "renewal of %s:\n%s" %
                          (n, lim.log()))
              for n in NAMES}
    wait_for(lambda: all(t.serials[n][-1][1] == second[n].serial_number
                         for n in NAMES), timeout=10,
             what="the request loop to see the renewed certificates")
    t.check()
    for n in NAMES:
        # the first certificate served until the second replaced it
        assert [s for _, s, _ in t.serials[n]][-2:] == [
            first[n].serial_number, second[n].serial_number], t.serials[n]
        assert metric(aport, "limen_certificate_expiry_timestamp_seconds",
                      n) == calendar.timegm(
                          second[n].not_valid_after.timetuple())
    assert_verified(acme)
