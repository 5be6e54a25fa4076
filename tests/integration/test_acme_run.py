# SPDX-License-Identifier: BSD-2-Clause
"""The ACME manager inside `limen run` (SPEC §4, docs/acme.md "Inside
limen run"): certificates ordered from a real pebble and installed into
the running proxy's TLS listener, HTTP-01 answered by the plaintext
listener (also with redirect_https), TLS-ALPN-01 by the proxy's own TLS
listener, renewal without dropping an open connection, an unreachable CA
at start, and a restart that orders nothing new.  Pebble and the state
directory come from peers/acme_env.py (shared with test_acme_pebble.py).
"""
import calendar
import json
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest
from cryptography import x509

from conftest import SLOW, free_port, wait_for
from peers.acme_env import NAMES, AcmeEnv, ari_cert_id, order_count
from peers.acme_run import (Traffic, curl_https, issued_by_pebble, metric,
                            metrics_text, run_config, s_client_verify,
                            served_cert)

EXPIRY = "limen_certificate_expiry_timestamp_seconds"


@pytest.fixture
def acme(tmp_path):
    env = AcmeEnv(tmp_path)
    yield env
    env.stop()


def start(acme, run_limen, backend, **kw):
    b = backend()
    lim = run_limen(run_config(acme, b.address, **kw),
                    wait_ports=[acme.http_port, acme.tls_port])
    return lim, b


def test_run_serves_valid_certificates_for_two_names(acme, run_limen,
                                                     backend):
    acme.start_pebble()
    t0 = time.monotonic()
    aport = free_port()
    lim, b = start(acme, run_limen, backend, admin_port=aport)
    for n in NAMES:
        wait_for(lambda: issued_by_pebble(acme.tls_port, n), timeout=20,
                 what=lambda: "pebble certificate for %s:\n%s" %
                 (n, lim.log()))
    assert time.monotonic() - t0 < 20 * SLOW
    root = acme.pebble.roots_pem()
    for n in NAMES:
        r = s_client_verify(acme.tls_port, n, root)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Verification: OK" in r.stderr + r.stdout
        c = curl_https(acme.tls_port, n, root)
        assert c.returncode == 0, c.stderr
        assert "/hello" in c.stdout
        # the expiry is a metric (no more e-mails from the CA)
        na = calendar.timegm(served_cert(acme.tls_port, n)
                             .not_valid_after.timetuple())
        assert metric(aport, "limen_certificate_expiry_timestamp_seconds",
                      n) == na
        assert metric(aport, "limen_acme_failures_total", n) == 0
    # HTTP-01 went through the plaintext listener although it redirects
    assert order_count(lim.log()) == 2
    assert re.search(r"http-01", lim.log())
    # ...which still redirects everything else
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                        "-H", "Host: %s" % NAMES[0],
                        "http://127.0.0.1:%d/x" % acme.http_port],
                       capture_output=True, text=True, timeout=10)
    assert r.stdout == "308"


def test_run_tls_alpn_01_on_its_own_tls_listener(acme, run_limen, backend):
    acme.start_pebble()
    lim, b = start(acme, run_limen, backend, challenges="[tls-alpn-01]")
    for n in NAMES:
        wait_for(lambda: issued_by_pebble(acme.tls_port, n), timeout=20,
                 what=lambda: "pebble certificate for %s:\n%s" %
                 (n, lim.log()))
    root = acme.pebble.roots_pem()
    for n in NAMES:
        c = curl_https(acme.tls_port, n, root)
        assert c.returncode == 0, c.stderr
    assert "tls-alpn-01" in lim.log()


def test_run_restart_orders_nothing_new(acme, run_limen, backend):
    acme.start_pebble()
    lim, b = start(acme, run_limen, backend)
    for n in NAMES:
        wait_for(lambda: issued_by_pebble(acme.tls_port, n), timeout=20,
                 what="certificate for %s" % n)
    before = {n: acme.cert_path(n).read_bytes() for n in NAMES}
    assert lim.stop() == 0
    lim2 = run_limen(run_config(acme, b.address), name="again.yaml",
                     wait_ports=[acme.tls_port])
    # the stored certificates serve from the first handshake on
    root = acme.pebble.roots_pem()
    for n in NAMES:
        c = curl_https(acme.tls_port, n, root)
        assert c.returncode == 0, c.stderr
    lim2.wait_log(r"not due", timeout=10)
    assert order_count(lim2.log()) == 0, lim2.log()
    for n in NAMES:
        assert acme.cert_path(n).read_bytes() == before[n]


def test_run_unreachable_ca_keeps_serving_with_fallback(acme, run_limen,
                                                         backend, tmp_path):
    acme.start_pebble()          # only for its CA file; the URL is dead
    dead = "https://127.0.0.1:%d/dir" % free_port()
    aport = free_port()
    lim, b = start(acme, run_limen, backend, redirect=False, directory=dead,
                   admin_port=aport)
    # plaintext HTTP is proxied as usual
    r = subprocess.run(["curl", "-sS", "--max-time", "5",
                        "-H", "Host: %s" % NAMES[0],
                        "http://127.0.0.1:%d/plain" % acme.http_port],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "/plain" in r.stdout, r.stderr
    # TLS handshakes succeed with the self-signed stand-in
    for n in NAMES:
        c = served_cert(acme.tls_port, n)
        assert c.issuer == c.subject
        assert n in c.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(
                x509.DNSName)
    lim.wait_log(r"acme: .*retrying in", timeout=15)
    assert lim.alive()
    for n in NAMES:
        wait_for(lambda: (metric(aport, "limen_acme_failures_total", n)
                          or 0) >= 1, timeout=15,
                 what="failure metric for %s" % n)


def test_run_renewal_keeps_open_connection(acme, run_limen, backend):
    acme.start_pebble(validity=12)
    lim, b = start(acme, run_limen, backend)
    n = NAMES[0]
    first = wait_for(lambda: issued_by_pebble(acme.tls_port, n), timeout=20,
                     what="first certificate")
    root = acme.pebble.roots_pem()
    # a keep-alive connection made with the first certificate
    ctx = ssl.create_default_context(cafile=root)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1",
                                                  acme.tls_port), timeout=5),
                        server_hostname=n)

    def ask(path):
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, n))
                  .encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(4096)
        head, body = data.split(b"\r\n\r\n", 1)
        m = re.search(rb"(?i)content-length: *(\d+)", head)
        need = int(m.group(1)) if m else 0
        while len(body) < need:
            body += s.recv(4096)
        return head, body

    head, body = ask("/one")
    assert head.startswith(b"HTTP/1.1 200"), head

    def renewed():
        c = issued_by_pebble(acme.tls_port, n)
        return c if c and c.serial_number != first.serial_number else None
    second = wait_for(renewed, timeout=30,
                      what=lambda: "renewed certificate:\n" +
                      lim.log())
    assert second.not_valid_after >= first.not_valid_after
    head, body = ask("/two")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"/two" in body
    s.close()


def test_run_reload_orders_an_added_name(acme, run_limen, backend):
    acme.start_pebble()
    b = backend()
    aport = free_port()
    first, added = NAMES
    lim = run_limen(run_config(acme, b.address, names=[first],
                               redirect=False, admin_port=aport),
                    wait_ports=[acme.http_port, acme.tls_port])
    wait_for(lambda: issued_by_pebble(acme.tls_port, first), timeout=20,
             what="first name")
    assert metric(aport, EXPIRY, added) is None
    t = Traffic(acme.http_port, acme.tls_port, [first]).start()
    (acme.tmp / "limen.yaml").write_text(run_config(
        acme, b.address, redirect=False, admin_port=aport))
    lim.send_signal(signal.SIGHUP)
    c = wait_for(lambda: issued_by_pebble(acme.tls_port, added), timeout=20,
                 what=lambda: "added name after reload:\n" + lim.log())
    # its expiry is on /metrics as soon as it is served
    wait_for(lambda: metric(aport, EXPIRY, added) ==
             calendar.timegm(c.not_valid_after.timetuple()), timeout=5,
             what="expiry metric of the added name")
    t.check(min_ok=5)
    assert order_count(lim.log()) == 2
    r = curl_https(acme.tls_port, added, acme.pebble.roots_pem())
    assert r.returncode == 0, r.stderr


def test_run_reload_removing_a_name_stops_renewing_it(acme, run_limen,
                                                       backend):
    acme.start_pebble(validity=12)
    ext = acme.start_ext()      # no ARI: here only to count the orders
    b = backend()
    aport = free_port()
    keep, gone = NAMES
    lim = run_limen(run_config(acme, b.address, redirect=False,
                               admin_port=aport),
                    wait_ports=[acme.http_port, acme.tls_port])
    first = {n: wait_for(lambda: issued_by_pebble(acme.tls_port, n),
                         timeout=20, what="certificate for %s" % n)
             for n in NAMES}
    for n in NAMES:
        wait_for(lambda: metric(aport, EXPIRY, n), timeout=5,
                 what="expiry metric of %s" % n)
    t = Traffic(acme.http_port, acme.tls_port, [keep]).start()
    (acme.tmp / "limen.yaml").write_text(run_config(
        acme, b.address, names=[keep], redirect=False, admin_port=aport))
    lim.send_signal(signal.SIGHUP)
    lim.wait_log(r"configuration 2 is live", timeout=10)
    # no alert for a name that is not served any more: both of its
    # series are gone, from /metrics and from the status API
    wait_for(lambda: 'name="%s"' % gone not in metrics_text(aport),
             timeout=5, what="metrics of %s removed:\n%s" %
             (gone, metrics_text(aport)))
    assert metric(aport, EXPIRY, keep) is not None
    status = json.loads(subprocess.run(
        ["curl", "-sS", "--max-time", "5",
         "http://127.0.0.1:%d/api/v1/status" % aport],
        capture_output=True, text=True, timeout=10).stdout)
    assert [c["name"] for c in status["certificates"]] == [keep]
    assert re.search(r"%s: no longer configured; not renewed" %
                     re.escape(gone), lim.log())
    # past the point where the removed name would have been renewed (two
    # thirds of its lifetime and the 5 % spread): the kept one was, the
    # removed one was not
    c = first[gone]
    nb = calendar.timegm(c.not_valid_before.timetuple())
    na = calendar.timegm(c.not_valid_after.timetuple())
    wait_for(lambda: (issued_by_pebble(acme.tls_port, keep) or
                      first[keep]).serial_number !=
             first[keep].serial_number, timeout=20,
             what=lambda: "renewal of %s:\n%s" % (keep, lim.log()))
    wait_for(lambda: time.time() > nb + (na - nb) * 0.72 + 1.5,
             timeout=na - nb, interval=0.1, what="renewal time of " + gone)
    t.check(min_ok=5)
    assert len(ext.orders_of(keep)) == 2
    assert len(ext.orders_of(gone)) == 1, lim.log()
    assert 'name="%s"' % gone not in metrics_text(aport)


def test_run_reload_new_acme_listener_gets_the_certificates(acme, run_limen,
                                                            backend):
    acme.start_pebble()
    b = backend()
    lim = run_limen(run_config(acme, b.address),
                    wait_ports=[acme.http_port, acme.tls_port])
    for n in NAMES:
        wait_for(lambda: issued_by_pebble(acme.tls_port, n), timeout=20,
                 what="certificate for %s" % n)
    port2 = free_port()
    text = run_config(acme, b.address).replace("routes:", """  - name: websecure2
    listen: ["127.0.0.1:%d"]
    tls:
      acme: true
routes:""" % port2)
    (acme.tmp / "limen.yaml").write_text(text)
    lim.send_signal(signal.SIGHUP)
    lim.wait_log(r"configuration 2 is live", timeout=10)
    root = acme.pebble.roots_pem()
    for n in NAMES:
        c = wait_for(lambda: curl_https(port2, n, root).returncode == 0,
                     timeout=5, what="pebble certificate on the new listener")
        assert c
    assert order_count(lim.log()) == 2


def lifetime(cert):
    return (calendar.timegm(cert.not_valid_before.timetuple()),
            calendar.timegm(cert.not_valid_after.timetuple()))


def watch_renewals(acme, lim, first, timeout=30):
    """Wait until both names serve a certificate other than first[n]."""
    def renewed(n):
        c = issued_by_pebble(acme.tls_port, n)
        return c if c and c.serial_number != first[n].serial_number else None
    return {n: wait_for(lambda: renewed(n), timeout=timeout,
                        what=lambda: "renewal of %s:\n%s" % (n, lim.log()))
            for n in NAMES}


def assert_old_then_new(t, first, second):
    """Every handshake of the request loop verified; each name was served
    its first certificate until the renewed one replaced it for good."""
    for n in NAMES:
        assert [s for _, s, _ in t.serials[n]] == [
            first[n].serial_number, second[n].serial_number], t.serials[n]


def test_run_renewal_at_two_thirds_one_order_per_window(acme, run_limen,
                                                        backend):
    # 17 s: renewed at 11-12 s, which leaves a loaded machine (sanitizers)
    # a few seconds to finish the order before the old one expires
    acme.start_pebble(validity=18)
    ext = acme.start_ext()      # no renewalInfo: the lifetime rule
    lim, b = start(acme, run_limen, backend, redirect=False)
    first = {n: wait_for(lambda: issued_by_pebble(acme.tls_port, n),
                         timeout=20, what="certificate for %s" % n)
             for n in NAMES}
    # from now on every handshake must verify: the old certificate serves
    # until the new one is installed, never a stand-in or nothing
    t = Traffic(acme.http_port, acme.tls_port, NAMES,
                root=acme.pebble.roots_pem()).start()
    second = watch_renewals(acme, lim, first)
    # watch on until well inside the new certificates' first third: no
    # second order for the same window
    t_renewed = time.time()
    wait_for(lambda: time.time() > t_renewed + 3, timeout=5, interval=0.1)
    t.check(min_ok=10)
    assert_old_then_new(t, first, second)
    for n in NAMES:
        nb, na = lifetime(first[n])
        orders = ext.orders_of(n)
        assert len(orders) == 2, (n, orders, lim.log())
        # not before two thirds of the lifetime (whole seconds)
        assert orders[1][0] >= nb + (na - nb) * 2 / 3 - 1, (n, orders, nb)
        assert "replaces" not in orders[1][1]
        assert lifetime(second[n])[1] >= na


def test_run_renewal_in_the_ari_window_with_replaces(acme, run_limen,
                                                     backend):
    # 23 s: two thirds at 15-16.5 s, the window at 17-18 s, and 5 s left
    # for the order before the old one expires
    acme.start_pebble(validity=24)
    ext = acme.start_ext(renewal_info=True)
    lim, b = start(acme, run_limen, backend, redirect=False)
    first = {n: wait_for(lambda: issued_by_pebble(acme.tls_port, n),
                         timeout=20, what="certificate for %s" % n)
             for n in NAMES}
    # the CA suggests renewing later than two thirds of the lifetime
    # (limen asks when that rule comes due): the window decides
    win = {}
    for n in NAMES:
        nb = lifetime(first[n])[0]
        win[n] = (nb + 17, nb + 18)
        ext.windows[ari_cert_id(first[n])] = win[n]
    t = Traffic(acme.http_port, acme.tls_port, NAMES,
                root=acme.pebble.roots_pem()).start()
    second = watch_renewals(acme, lim, first)
    # the window is now in the past, and the new certificates were got
    # inside it: that must not start a burst of orders
    t_renewed = time.time()
    wait_for(lambda: time.time() > t_renewed + 3, timeout=5, interval=0.1)
    t.check(min_ok=10)
    assert_old_then_new(t, first, second)
    for n in NAMES:
        orders = ext.orders_of(n)
        assert len(orders) == 2, (n, orders, lim.log())
        assert orders[1][0] >= win[n][0] - 0.5, (n, orders, win)
        assert orders[1][1].get("replaces") == ari_cert_id(first[n])
        # asked when two thirds came, then at the moment chosen in the
        # window (not again and again)
        assert 1 <= ext.ari_ids.count(ari_cert_id(first[n])) <= 2, \
            ext.ari_ids
    assert "the CA's renewal window has begun" in lim.log()
    # a restart checks the new certificates with the CA, which still shows
    # the same window, now in the past: they were got inside it, so
    # nothing is ordered
    for n in NAMES:
        ext.windows[ari_cert_id(second[n])] = win[n]
    assert lim.stop() == 0
    lim2 = run_limen(run_config(acme, b.address, redirect=False),
                     name="again.yaml", wait_ports=[acme.tls_port])
    for n in NAMES:
        lim2.wait_log(r"%s: certificate valid until .*not due" %
                      re.escape(n), timeout=10)
        assert ari_cert_id(second[n]) in ext.ari_ids
        assert len(ext.orders_of(n)) == 2
    assert order_count(lim2.log()) == 0, lim2.log()


def test_run_sends_the_profile_the_directory_lists(acme, run_limen, backend):
    acme.start_pebble()
    ext = acme.start_ext(profiles={"classic": "the usual",
                                   "shortlived": "160 hours"})
    lim, b = start(acme, run_limen, backend,
                   extra_acme="  profile: shortlived\n")
    for n in NAMES:
        wait_for(lambda: issued_by_pebble(acme.tls_port, n), timeout=20,
                 what=lambda: "certificate for %s:\n%s" % (n, lim.log()))
        assert [p.get("profile") for _, p in ext.orders_of(n)] == \
            ["shortlived"]
