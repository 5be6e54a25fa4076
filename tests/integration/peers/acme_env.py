# SPDX-License-Identifier: BSD-2-Clause
"""A pebble, a state directory and a config for `limen certs`: what the
ACME integration tests (test_acme_*.py) share.

AcmeEnv(tmp_path) starts pebble (peers/pebble.py) with its HTTP-01 port
pointed at the plaintext listener of the config it writes, optionally the
TEST-ONLY directory extension (peers/acme_directory_ext.py) in front, and
runs `limen certs -c FILE`.
"""
import base64
import re
import subprocess

from cryptography import x509

from conftest import LIMEN_BIN, free_port, run_cmd
from peers.acme_directory_ext import AcmeDirectoryExtension
from peers.pebble import Pebble

NAMES = ["a.example.com", "b.example.com"]


class AcmeEnv:
    """A pebble, a state directory and a config for `limen certs`."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.http_port = free_port()
        self.tls_port = free_port()
        self.state = tmp_path / "state"
        self.pebble = None
        self.ext = None
        self.runs = 0

    def start_pebble(self, env=None, validity=None, http_port=None,
                     tls_port=None, start=True):
        """http_port, tls_port: where pebble validates HTTP-01 and
        TLS-ALPN-01 (default: limen's listeners; another port makes that
        challenge fail).  start=False: files and ports only, .start()
        later (a CA that comes up after limen)."""
        self.pebble = Pebble(self.tmp / "pebble", http_port or self.http_port,
                             tls_port=tls_port or self.tls_port, env=env,
                             validity=validity)
        if start:
            self.pebble.start()
        else:
            self.pebble.prepare()
        return self.pebble

    def start_ext(self, **kw):
        self.ext = AcmeDirectoryExtension(self.pebble, **kw).start()
        return self.ext

    def config(self, directory=None, names=NAMES, extra_acme="",
               challenges="[http-01]"):
        directory = directory or (self.ext.directory if self.ext
                                  else self.pebble.directory)
        ca = ("  ca_roots: %s\n" % self.pebble.ca_pem) if self.pebble else ""
        text = """
global:
  state_dir: %s
  log: { level: debug, format: text }
listeners:
  - name: web
    listen: ["127.0.0.1:%d"]
  - name: websecure
    listen: ["127.0.0.1:%d"]
    tls:
      acme: true
routes:
  - host: [%s, "*", "*.wild.example.com", "10.1.2.3"]
    path: /
    respond: { status: 200, body: "hello\\n" }
acme:
  directory: %s
  email: ops@example.com
  challenges: %s
%s%s""" % (self.state, self.http_port, self.tls_port, ", ".join(names),
           directory, challenges, ca, extra_acme)
        path = self.tmp / "limen.yaml"
        path.write_text(text)
        return str(path)

    def certs(self, timeout=60, **kw):
        """Run `limen certs`; returns CompletedProcess (stderr = the log)."""
        self.runs += 1
        r = run_cmd([LIMEN_BIN, "certs", "-c", self.config(**kw)],
                    timeout=timeout)
        (self.tmp / ("certs-%d.log" % self.runs)).write_text(
            r.stdout + r.stderr)
        assert "runtime error" not in r.stderr, r.stderr
        assert "Sanitizer" not in r.stderr, r.stderr
        return r

    def cert_path(self, name):
        return self.state / "certs" / name / "cert.pem"

    def key_path(self, name):
        return self.state / "certs" / name / "key.pem"

    def leaf(self, name):
        return x509.load_pem_x509_certificate(self.cert_path(name).read_bytes())

    def stop(self):
        if self.ext:
            self.ext.stop()
        if self.pebble:
            self.pebble.stop()


def openssl_verify(root, chain_file):
    """`openssl verify` of the leaf in chain_file, with the rest of the
    file as untrusted intermediates and pebble's root as the only anchor."""
    return subprocess.run(
        ["openssl", "verify", "-CAfile", root, "-untrusted", str(chain_file),
         str(chain_file)], capture_output=True, text=True)


def san_names(cert):
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return ext.value.get_values_for_type(x509.DNSName)


def ari_cert_id(cert):
    """RFC 9773 §4.1 certID, computed independently of limen."""
    aki = cert.extensions.get_extension_for_class(
        x509.AuthorityKeyIdentifier).value.key_identifier
    serial = cert.serial_number
    raw = serial.to_bytes((serial.bit_length() + 7) // 8 or 1, "big")
    if raw[0] & 0x80:
        raw = b"\0" + raw          # DER INTEGER content keeps it positive

    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    return b64(aki) + "." + b64(raw)


def order_count(log):
    return len(re.findall(r"order created", log))
