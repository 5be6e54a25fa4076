# SPDX-License-Identifier: BSD-2-Clause
"""Let's Encrypt's ACME test server (Debian's `pebble`) as a test peer.

Pebble(workdir, http_port=P).start() makes a CA and a certificate for
pebble's own HTTPS endpoint (trustme), starts pebble-challtestsrv as the
DNS server that resolves every name to 127.0.0.1, and pebble itself, all
on free ports of 127.0.0.1.  `http_port` is where pebble's validation
authority connects for HTTP-01: the port limen answers on.

  .directory       https://127.0.0.1:PORT/dir
  .ca_pem          the trust anchor for the directory's own TLS
                   (limen's acme.ca_roots)
  .roots_pem()     pebble's issuing root (management port), for
                   `openssl verify` of what limen obtained

env: extra environment, e.g. {"PEBBLE_WFE_NONCEREJECT": "30"};
validity: certificateValidityPeriod in seconds (None: pebble's default).
prepare() makes the files and ports only (start() does it if needed), for
a test whose CA comes up after limen.
PEBBLE_VA_NOSLEEP=1 is always set so validations are immediate.
"""
import json
import os
import socket
import ssl
import subprocess
import time
import urllib.request

import trustme


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pebble:
    def __init__(self, workdir, http_port, tls_port=None, env=None,
                 validity=None):
        self.workdir = str(workdir)
        self.http_port = http_port
        self.tls_port = tls_port or _free_port()
        self.env = env or {}
        self.validity = validity
        self.port = _free_port()
        self.mgmt_port = _free_port()
        self.dns_port = _free_port()
        self.cts_mgmt_port = _free_port()
        self.procs = []
        os.makedirs(self.workdir, exist_ok=True)

    @property
    def directory(self):
        return "https://127.0.0.1:%d/dir" % self.port

    def _path(self, name):
        return os.path.join(self.workdir, name)

    def prepare(self):
        """Make the CA files and pebble's config without starting it (a
        test of a CA that comes up later needs .ca_pem before)."""
        if getattr(self, "ca_pem", None):
            return self
        ca = trustme.CA()
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        self.ca_pem = self._path("pebble-ca.pem")
        ca.cert_pem.write_to_path(self.ca_pem)
        leaf.private_key_pem.write_to_path(self._path("pebble-wfe.key"))
        with open(self._path("pebble-wfe.pem"), "wb") as f:
            for blob in leaf.cert_chain_pems:
                f.write(blob.bytes())
        self.wfe_cert = self._path("pebble-wfe.pem")
        self.wfe_key = self._path("pebble-wfe.key")
        conf = {
            "listenAddress": "127.0.0.1:%d" % self.port,
            "managementListenAddress": "127.0.0.1:%d" % self.mgmt_port,
            "certificate": self.wfe_cert,
            "privateKey": self.wfe_key,
            "httpPort": self.http_port,
            "tlsPort": self.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
        if self.validity is not None:
            conf["certificateValidityPeriod"] = self.validity
        with open(self._path("pebble.json"), "w") as f:
            json.dump({"pebble": conf}, f)
        return self

    def start(self, timeout=15.0):
        self.prepare()
        self._spawn("challtestsrv", [
            "pebble-challtestsrv", "-defaultIPv6", "", "-http01", "",
            "-https01", "", "-tlsalpn01", "",
            "-dns01", "127.0.0.1:%d" % self.dns_port,
            "-management", "127.0.0.1:%d" % self.cts_mgmt_port], {})
        env = {"PEBBLE_VA_NOSLEEP": "1"}
        env.update(self.env)
        self._spawn("pebble", [
            "pebble", "-config", self._path("pebble.json"),
            "-dnsserver", "127.0.0.1:%d" % self.dns_port], env)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.get_directory()
                return self
            except OSError:
                for name, p, _ in self.procs:
                    if p.poll() is not None:
                        raise RuntimeError("%s exited:\n%s" %
                                           (name, self.log(name)))
                if time.monotonic() > deadline:
                    raise RuntimeError("pebble did not start:\n" +
                                       self.log("pebble"))
                time.sleep(0.05)

    def _spawn(self, name, argv, env):
        e = dict(os.environ)
        e.update(env)
        logf = open(self._path(name + ".log"), "wb")
        p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT,
                             env=e, cwd=self.workdir)
        self.procs.append((name, p, logf))

    def log(self, name="pebble"):
        with open(self._path(name + ".log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def ssl_context(self):
        return ssl.create_default_context(cafile=self.ca_pem)

    def get_directory(self):
        with urllib.request.urlopen(self.directory, timeout=2,
                                    context=self.ssl_context()) as r:
            return json.load(r)

    def _mgmt(self, path):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        url = "https://127.0.0.1:%d%s" % (self.mgmt_port, path)
        with urllib.request.urlopen(url, timeout=5, context=ctx) as r:
            return r.read()

    def roots_pem(self):
        """Pebble's current issuing root (it makes new ones at start)."""
        path = self._path("pebble-root.pem")
        with open(path, "wb") as f:
            f.write(self._mgmt("/roots/0"))
        return path

    def stop(self):
        for _, p, logf in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            logf.close()
        self.procs = []
