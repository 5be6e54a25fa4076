# SPDX-License-Identifier: BSD-2-Clause
"""The built-in ACME client against a real pebble (SPEC §4, docs/acme.md).

Each test starts its own pebble (peers/pebble.py) on free ports, points
pebble's HTTP-01 port at the plaintext listener of the config it writes,
and runs `limen certs -c FILE`, which answers HTTP-01 itself.  ARI and
profiles, which Debian's pebble lacks, go through the TEST-ONLY directory
extension in peers/acme_directory_ext.py.
"""
import calendar
import os
import re
import stat
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from conftest import SLOW, free_port, wait_for
from peers.acme_env import (NAMES, AcmeEnv, ari_cert_id, openssl_verify,
                            order_count, san_names)


@pytest.fixture
def acme(tmp_path):
    env = AcmeEnv(tmp_path)
    yield env
    env.stop()


def test_certificates_for_two_names_verify_against_pebble_root(acme):
    acme.start_pebble()
    t0 = time.monotonic()
    r = acme.certs()
    assert r.returncode == 0, r.stdout + r.stderr
    assert time.monotonic() - t0 < 30 * SLOW
    root = acme.pebble.roots_pem()
    for name in NAMES:
        assert re.search(r"^%s: ok, valid until " % re.escape(name),
                         r.stdout, re.M), r.stdout
        v = openssl_verify(root, acme.cert_path(name))
        assert v.returncode == 0, v.stdout + v.stderr
        assert san_names(acme.leaf(name)) == [name]
        assert stat.S_IMODE(os.stat(acme.key_path(name)).st_mode) == 0o600
        key = load_pem_private_key(acme.key_path(name).read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert (key.public_key().public_numbers() ==
                acme.leaf(name).public_key().public_numbers())
    # the account key: created once, private
    acct = acme.state / "acme" / "account.key"
    assert stat.S_IMODE(os.stat(acct).st_mode) == 0o600
    # hosts that are not plain DNS names were not ordered
    assert "wild.example.com" not in r.stderr
    assert "10.1.2.3" not in r.stdout
    assert order_count(r.stderr) == 2


def test_restart_orders_nothing_new(acme):
    acme.start_pebble()
    acme.start_ext()            # only to count what limen sends
    r = acme.certs()
    assert r.returncode == 0, r.stdout + r.stderr
    before = {n: acme.cert_path(n).read_bytes() for n in NAMES}
    acct = (acme.state / "acme" / "account.key").read_bytes()
    posts = len(acme.ext.posts)
    assert len(acme.ext.new_orders()) == 2

    r = acme.certs()
    assert r.returncode == 0, r.stdout + r.stderr
    assert order_count(r.stderr) == 0, r.stderr
    assert len(acme.ext.new_orders()) == 2
    # not a single signed request: the stored certificates were enough
    assert len(acme.ext.posts) == posts
    assert "not due" in r.stderr
    for n in NAMES:
        assert acme.cert_path(n).read_bytes() == before[n]
    assert (acme.state / "acme" / "account.key").read_bytes() == acct


def test_bad_nonces_are_retried_until_the_order_succeeds(acme):
    # pebble rejects 30% of good nonces with badNonce (certbot gives up)
    acme.start_pebble(env={"PEBBLE_WFE_NONCEREJECT": "30"})
    r = acme.certs()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "badNonce, retrying" in r.stderr
    root = acme.pebble.roots_pem()
    for name in NAMES:
        assert openssl_verify(root, acme.cert_path(name)).returncode == 0


def test_unreachable_ca_fails_cleanly_after_backoff(acme):
    dead = free_port()          # nothing listens there
    t0 = time.monotonic()
    r = acme.certs(directory="https://127.0.0.1:%d/dir" % dead)
    took = time.monotonic() - t0
    assert r.returncode == 1, r.stdout + r.stderr
    for name in NAMES:
        assert re.search(r"^%s: failed: DIRECTORY: cannot connect" %
                         re.escape(name), r.stdout, re.M), r.stdout
    # three attempts each, with growing (jittered) waits in between
    assert len(re.findall(r"a\.example\.com: DIRECTORY: cannot connect; "
                          r"retrying in \d+ s", r.stderr)) == 2
    assert "giving up after 3 attempts" in r.stderr
    assert took < 20 * SLOW
    assert not acme.cert_path(NAMES[0]).exists()


def test_rsa_2048_certificate_keys(acme):
    acme.start_pebble()
    r = acme.certs(names=["rsa.example.com"],
                   extra_acme="  key_type: rsa-2048\n")
    assert r.returncode == 0, r.stdout + r.stderr
    key = load_pem_private_key(
        acme.key_path("rsa.example.com").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    root = acme.pebble.roots_pem()
    assert openssl_verify(root,
                          acme.cert_path("rsa.example.com")).returncode == 0


def test_short_lifetime_is_renewed_at_two_thirds(acme):
    acme.start_pebble(validity=10)
    r = acme.certs(names=["short.example.com"])
    assert r.returncode == 0, r.stdout + r.stderr
    first = acme.leaf("short.example.com")
    nb = calendar.timegm(first.not_valid_before.timetuple())
    na = calendar.timegm(first.not_valid_after.timetuple())
    ordered = 0
    if time.time() < nb + (na - nb) * 0.6:
        # before two thirds of the lifetime: nothing to do (unless a
        # loaded machine made this run end after that point: then the
        # order it made is right, and the last step is not needed)
        r = acme.certs(names=["short.example.com"])
        assert r.returncode == 0, r.stdout + r.stderr
        ordered = order_count(r.stderr)
        if time.time() < nb + (na - nb) * 2 // 3:
            assert ordered == 0, r.stderr
    if ordered == 0:
        # past 2/3 and the 5 % spread (waiting on the clock, not
        # sleeping blind)
        wait_for(lambda: time.time() > nb + (na - nb) * 0.72 + 1,
                 timeout=na - nb + 5, interval=0.1,
                 what="two thirds of lifetime")
        r = acme.certs(names=["short.example.com"])
        assert r.returncode == 0, r.stdout + r.stderr
        ordered = order_count(r.stderr)
    assert ordered == 1, r.stderr
    assert acme.leaf("short.example.com").serial_number != first.serial_number


def test_ari_window_renews_once_with_replaces(acme):
    acme.start_pebble()
    ext = acme.start_ext(renewal_info=True)
    r = acme.certs(names=["ari.example.com"])
    assert r.returncode == 0, r.stdout + r.stderr
    first = acme.leaf("ari.example.com")
    cert_id = ari_cert_id(first)

    # the CA's window lies in the future: a check, no order
    now = time.time()
    ext.window = (now + 86400, now + 2 * 86400)
    r = acme.certs(names=["ari.example.com"])
    assert r.returncode == 0, r.stderr
    assert ext.ari_ids[-1] == cert_id
    assert order_count(r.stderr) == 0, r.stderr

    # the window has begun (and the certificate predates it): renew, and
    # say which certificate this replaces
    os.utime(acme.cert_path("ari.example.com"),
             (now - 10 * 86400, now - 10 * 86400))
    ext.window = (now - 2 * 86400, now - 86400)
    r = acme.certs(names=["ari.example.com"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert order_count(r.stderr) == 1, r.stderr
    assert ext.new_orders()[-1].get("replaces") == cert_id
    second = acme.leaf("ari.example.com")
    assert second.serial_number != first.serial_number

    # the same past window again: already acted on, no burst of orders
    orders = len(ext.new_orders())
    r = acme.certs(names=["ari.example.com"])
    assert r.returncode == 0, r.stderr
    assert len(ext.new_orders()) == orders, r.stderr
    assert ext.ari_ids[-1] == ari_cert_id(second)


def test_profile_is_sent_only_when_the_directory_lists_it(acme):
    acme.start_pebble()
    ext = acme.start_ext(profiles={"classic": "the usual",
                                   "shortlived": "160 hours"})
    r = acme.certs(names=["p1.example.com"],
                   extra_acme="  profile: shortlived\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert ext.new_orders()[-1].get("profile") == "shortlived"

    r = acme.certs(names=["p2.example.com"],
                   extra_acme="  profile: tlsserver\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "profile" not in ext.new_orders()[-1]
    assert "does not offer profile 'tlsserver'" in r.stderr


def test_tls_alpn01_certificates(acme):
    # pebble validates over TLS with ALPN acme-tls/1 on the TLS listener
    acme.start_pebble()
    r = acme.certs(challenges="[tls-alpn-01]")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "answering tls-alpn-01" in r.stderr
    assert "answered TLS-ALPN-01 for a.example.com" in r.stderr
    root = acme.pebble.roots_pem()
    for name in NAMES:
        assert openssl_verify(root, acme.cert_path(name)).returncode == 0


def test_failed_http01_falls_back_to_tls_alpn01(acme):
    # pebble's HTTP-01 validation goes to a port where nobody answers
    acme.start_pebble(http_port=free_port())
    r = acme.certs(names=["fb.example.com"],
                   challenges="[http-01, tls-alpn-01]")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"fb\.example\.com: http-01: .*; trying tls-alpn-01 "
                     r"next", r.stderr), r.stderr
    assert order_count(r.stderr) == 2
    root = acme.pebble.roots_pem()
    assert openssl_verify(root,
                          acme.cert_path("fb.example.com")).returncode == 0
