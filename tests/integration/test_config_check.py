# SPDX-License-Identifier: BSD-2-Clause
"""`limen check` (SPEC §1) on the default config, on a configuration that
uses every key of SPEC §2, and on files with mistakes: every error at its
line and column, exit 1; `FILE: ok` and exit 0 otherwise."""
import os
import subprocess

from conftest import LIMEN_BIN, ROOT, run_cmd


def check(path, *extra, env=None, before=False):
    argv = [LIMEN_BIN, "-c", str(path), "check"] if before else \
        [LIMEN_BIN, "check", "-c", str(path)]
    return run_cmd(argv + list(extra), env=env)


def make_cert(d, name, cn):
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
         "-subj", "/CN=" + cn, "-keyout", str(d / (name + ".key")),
         "-out", str(d / (name + ".crt"))],
        check=True, capture_output=True)


def secret(path, text):
    path.write_text(text)
    path.chmod(0o600)


def test_default_config_passes():
    path = os.path.join(ROOT, "conf", "limen.yaml")
    r = check(path)
    assert r.stderr == ""
    assert r.stdout == path + ": ok\n"
    assert r.returncode == 0


def test_options_may_stand_before_the_command():
    path = os.path.join(ROOT, "conf", "limen.yaml")
    r = check(path, before=True)
    assert (r.returncode, r.stdout) == (0, path + ": ok\n")


def full_config(d):
    make_cert(d, "example", "app.example.com")
    secret(d / "admin.token", "t0ken\n")
    secret(d / "db.password", "pw\n")
    secret(d / "backup.key", "k" * 64 + "\n")
    # real files: `limen check` loads the users file and the JWKS
    subprocess.run(["htpasswd", "-c", "-b", "-B", "-C", "5",
                    str(d / "htpasswd"), "staff", "pw"], check=True,
                   capture_output=True)
    from jwcrypto import jwk
    (d / "jwks.json").write_text('{"keys": [%s]}\n' % jwk.JWK.generate(
        kty="EC", crv="P-256", kid="k1").export_public())
    (d / "www").mkdir()
    (d / "crs").mkdir()
    (d / "crs" / "local.conf").write_text(
        'SecRule ARGS "@contains attack" "id:1001,phase:2,deny,status:403"\n')
    (d / "acme-ca.pem").write_text((d / "example.crt").read_text())
    return f"""\
global:
  state_dir: {d}/state
  pid_file: {d}/limen.pid
  workers: auto
  shutdown_timeout: 30s
  log: {{ level: info, format: json }}
  access_log: {{ path: {d}/access.log, format: json }}
  user: root
  group: root
  watch_config: true
  max_conns_per_ip: 100
  max_conns: 10000

admin:
  listen: 127.0.0.1:9090
  token_file: {d}/admin.token

listeners:
  - name: web
    listen: [":80"]
    redirect_https: true
  - name: websecure
    listen: [":443"]
    proxy_protocol: false
    tls:
      acme: true
      certificates:
        - {{ cert: {d}/example.crt, key: {d}/example.key }}
      min_version: "1.2"
    http2: true

routes:
  - host: [app.example.com]
    path: /api
    strip_prefix: false
    pool: backend
    rate_limit: {{ rate: 100/s, burst: 50, key: client_ip }}
    allow: [10.0.0.0/8, 192.168.0.0/16]
    max_body: 10m
    headers: {{ set: {{ X-Frame-Options: DENY }}, remove: [Server],
               request_set: {{ X-Env: prod }} }}
    auth:
      basic: {{ users_file: {d}/htpasswd, realm: staff }}
      forward: {{ url: "http://127.0.0.1:4180/oauth2/auth", copy_headers: [X-Auth-Request-User], timeout: 2s, cache: 10s }}
      jwt: {{ jwks_file: {d}/jwks.json, issuer: "https://id.example.com", audience: api,
             claims_to_headers: {{ sub: X-User }}, leeway: 1m }}
    compress: true
    waf: {{ rules: {d}/crs, mode: block }}
    hsts: true
  - host: [app.example.com]
    path: /
    pool: frontend
  - host: [old.example.com]
    redirect: {{ to: "https://app.example.com", code: 301, keep_path: true }}
  - host: ["*"]
    respond: {{ status: 404, body: "no such site\\n", content_type: text/plain }}
  - host: [static.example.com]
    static: {{ root: {d}/www, index: index.html, spa_fallback: true }}

pools:
  backend:
    balance: round_robin
    servers:
      - {{ address: "10.0.0.11:8000", weight: 2 }}
      - {{ address: "api.default.svc.cluster.local:8000" }}
    resolve_interval: 30s
    health:
      path: /health
      interval: 2s
      timeout: 1s
      rise: 2
      fall: 3
      expect_status: 200-399
      host: app.example.com
    passive: {{ max_fails: 3, fail_timeout: 10s }}
    retries: 1
    timeouts: {{ connect: 2s, response: 60s, idle: 90s }}
    keepalive: 32
  frontend:
    balance: hash
    hash_key: "cookie:session"
    servers: [{{ address: "127.0.0.1:3000" }}]

acme:
  directory: https://acme-v02.api.letsencrypt.org/directory
  email: ops@example.com
  ca_roots: {d}/acme-ca.pem
  challenges: [http-01, tls-alpn-01]
  key_type: ecdsa-p256
  profile: tlsserver
  renew_before: 30d
  storage: local

backup:
  listen: 127.0.0.1:9091
  jobs:
    - name: app
      conninfo: "host=/run/postgresql dbname=app user=backup"
      password_file: {d}/db.password
      kind: logical
      schedule: "0 3 * * *"
      timezone: UTC
      destination: /var/backups/limen
      compression: gzip
      encryption: {{ key_file: {d}/backup.key }}
      retention: {{ keep_last: 3, keep_daily: 7, keep_weekly: 4, keep_monthly: 6 }}
      verify: true
    - name: wal
      conninfo: "dbname=app password=${{LIMEN_TEST_PG_PASSWORD}}"
      kind: physical
      schedule: "@hourly"
      destination: /var/backups/limen-wal
      compression: zstd
"""


def test_full_spec_example_passes(tmp_path):
    path = tmp_path / "limen.yaml"
    path.write_text(full_config(tmp_path))
    r = check(path, env={"LIMEN_TEST_PG_PASSWORD": "x"})
    assert r.stderr == ""
    assert r.stdout == "%s: ok\n" % path
    assert r.returncode == 0


def test_unset_environment_variable_is_an_error(tmp_path):
    path = tmp_path / "limen.yaml"
    text = full_config(tmp_path)
    path.write_text(text)
    env = dict(os.environ)
    env.pop("LIMEN_TEST_PG_PASSWORD", None)
    r = subprocess.run([LIMEN_BIN, "check", "-c", str(path)], env=env,
                       capture_output=True, text=True, timeout=60)
    line = text.splitlines().index(
        '      conninfo: "dbname=app password=${LIMEN_TEST_PG_PASSWORD}"') + 1
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == (
        "%s:%d:17: error: backup.jobs[1].conninfo: environment variable "
        "'LIMEN_TEST_PG_PASSWORD' is not set\n" % (path, line))


MISTAKES = """\
global:
  stat_dir: /var/lib/limen
  shutdown_timeout: 30
  log: { level: verbose }
listeners:
  - name: web
    listen: [":8080", ":8080"]
  - name: secure
    listen: "127.0.0.1:8443"
    tls:
      certificates:
        - { cert: /nonexistent/site.crt, key: /nonexistent/site.key }
routes:
  - host: [app.example.com]
    path: /api
    pool: api2
    allow: [10.0.0.1/8]
  - host: app.example.com
    path: /api
    pool: api
  - host: ["bad host"]
    redirect: { to: "https://x.example", code: 300 }
pools:
  api:
    balance: hash
    servers:
      - address: "10.0.0.1"
backup:
  jobs:
    - name: db
      conninfo: "dbname=app"
      schedule: "0 25 * * *"
      destination: /var/backups
"""


def test_every_mistake_is_reported_at_its_position(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(MISTAKES)
    r = check(path)
    p = str(path)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.splitlines() == [
        p + ":2:3: error: global: unknown key 'stat_dir' (did you mean "
        "'state_dir'?)",
        p + ":3:21: error: global.shutdown_timeout: invalid duration '30': "
        "missing unit (ms, s, m, h, d, w, y)",
        p + ":4:17: error: global.log.level: invalid value 'verbose' "
        "(expected error, warn, info or debug)",
        p + ":7:23: error: listeners[0].listen[1]: ':8080' collides with "
        "listeners[0].listen[0] ':8080' (line 7)",
        p + ":12:19: error: listeners[1].tls.certificates[0].cert: cannot "
        "read '/nonexistent/site.crt': No such file or directory",
        p + ":12:47: error: listeners[1].tls.certificates[0].key: cannot "
        "read '/nonexistent/site.key': No such file or directory",
        p + ":16:11: error: routes[0].pool: unknown pool 'api2' (did you "
        "mean 'api'?)",
        p + ":17:13: error: routes[0].allow[0]: invalid network "
        "'10.0.0.1/8': host bits set after the prefix length",
        p + ":18:5: error: routes[1]: never matches: routes[0] (line 14) "
        "has the same hosts and path",
        p + ":21:12: error: routes[2].host[0]: invalid host 'bad host' "
        "(expected a name, \"*.name\" or \"*\")",
        p + ":22:48: error: routes[2].redirect.code: invalid value '300' "
        "(expected 301, 302, 303, 307 or 308)",
        p + ":25:14: error: pools.api.balance: hash needs hash_key "
        "(client_ip, header:NAME or cookie:NAME)",
        p + ":27:18: error: pools.api.servers[0].address: invalid address "
        "'10.0.0.1': missing port (host:port or :port)",
        p + ":32:17: error: backup.jobs[0].schedule: invalid cron "
        "expression '0 25 * * *': invalid hour field (0-23)",
    ]


def test_yaml_syntax_error_is_reported_with_position(tmp_path):
    path = tmp_path / "syntax.yaml"
    path.write_text("global:\n  workers: [1, 2\nroutes: []\n")
    r = check(path)
    assert r.returncode == 1
    assert r.stderr == (
        str(path) + ":3:7: error: YAML syntax error: did not find expected "
        "',' or ']' (while parsing a flow sequence)\n")


def test_missing_file_is_a_user_error(tmp_path):
    path = tmp_path / "nope.yaml"
    r = check(path)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == "%s: error: cannot read: No such file or directory\n" \
        % path


def test_config_docs_are_generated_from_the_tables():
    r = run_cmd([LIMEN_BIN, "config-docs"])
    assert r.returncode == 0
    with open(os.path.join(ROOT, "docs", "config.md")) as f:
        assert r.stdout == f.read()
