/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_conf_validate.c — checks across keys: references, collisions,
 * shadowed routes, files that must load (certificates and keys made here
 * with OpenSSL), cron expressions and names.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/conf_testutil.h"
#include "tests/unit/harness.h"

static char dir[64];

static void
scratch(void)
{
	snprintf(dir, sizeof dir, "/tmp/limen-validate-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
}

/* A self-signed EC certificate and its key as base.crt / base.key. */
static void
write_cert(const char *base)
{
	char path[128];
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	FILE *f;

	if (k == NULL || x == NULL)
		abort();
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)"t.example", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	if (X509_sign(x, k, EVP_sha256()) == 0)
		abort();
	snprintf(path, sizeof path, "%s/%s.crt", dir, base);
	if ((f = fopen(path, "w")) == NULL || !PEM_write_X509(f, x))
		abort();
	fclose(f);
	snprintf(path, sizeof path, "%s/%s.key", dir, base);
	if ((f = fopen(path, "w")) == NULL ||
	    !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL))
		abort();
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void
test_conf_validate_route_pool_must_exist(void)
{
	CHECK_STR(conf_test_errors(
	    "routes:\n  - pool: api2\n  - path: /x\n    pool: zzz\n"
	    "pools:\n  api:\n    servers: [{ address: \"127.0.0.1:1\" }]\n"),
	    "t.yaml:2:11: error: routes[0].pool: unknown pool 'api2' (did you "
	    "mean 'api'?)\n"
	    "t.yaml:4:11: error: routes[1].pool: unknown pool 'zzz'\n");
}

static void
test_conf_validate_exactly_one_action(void)
{
	CHECK_STR(conf_test_errors(
	    "routes:\n  - path: /a\n  - path: /b\n    pool: p\n"
	    "    respond: { status: 200 }\n"
	    "pools:\n  p:\n    servers: [{ address: \"127.0.0.1:1\" }]\n"),
	    "t.yaml:2:5: error: routes[0]: needs one action: pool, redirect, "
	    "respond or static\n"
	    "t.yaml:3:5: error: routes[1]: has pool and respond; give exactly "
	    "one action (pool, redirect, respond or static)\n");
}

static void
test_conf_validate_shadowed_route(void)
{
	CHECK_STR(conf_test_errors(
	    "routes:\n"
	    "  - { host: [A.example, b.example], path: /api, respond: {} }\n"
	    "  - { host: [b.example, a.example], path: /api, respond: {} }\n"
	    "  - { host: [a.example], path: /api, respond: {} }\n"
	    "  - { path: /x, respond: {} }\n"
	    "  - { host: \"*\", path: /x, respond: {} }\n"),
	    "t.yaml:3:5: error: routes[1]: never matches: routes[0] (line 2) "
	    "has the same hosts and path\n"
	    "t.yaml:6:5: error: routes[4]: never matches: routes[3] (line 5) "
	    "has the same hosts and path\n");
}

static void
test_conf_validate_route_hosts_and_paths(void)
{
	CHECK_STR(conf_test_errors(
	    "routes:\n"
	    "  - host: [ok.example, \"bad host\", \"*.*.x\", \"a.*\"]\n"
	    "    respond: {}\n"
	    "  - host: \"x.example:80\"\n    path: api\n    respond: {}\n"
	    "  - { path: \"/a/../b\", respond: {} }\n"
	    "  - { path: \"/a?b\", respond: {} }\n"
	    "  - { path: \"/a//b\", respond: {} }\n"),
	    "t.yaml:2:24: error: routes[0].host[1]: invalid host 'bad host' "
	    "(expected a name, \"*.name\" or \"*\")\n"
	    "t.yaml:2:36: error: routes[0].host[2]: invalid host '*.*.x' "
	    "(expected a name, \"*.name\" or \"*\")\n"
	    "t.yaml:2:45: error: routes[0].host[3]: invalid host 'a.*' "
	    "(expected a name, \"*.name\" or \"*\")\n"
	    "t.yaml:4:11: error: routes[1].host: invalid host 'x.example:80' "
	    "(expected a name, \"*.name\" or \"*\")\n"
	    "t.yaml:5:11: error: routes[1].path: 'api' must start with '/'\n"
	    "t.yaml:7:13: error: routes[2].path: '/a/../b' must not contain "
	    "'.' or '..' segments\n"
	    "t.yaml:8:13: error: routes[3].path: '/a?b' must not contain '?' "
	    "or '#'\n"
	    "t.yaml:9:13: error: routes[4].path: '/a//b' must not contain "
	    "'//'\n");
}

static void
test_conf_validate_action_details(void)
{
	CHECK_STR(conf_test_errors(
	    "routes:\n"
	    "  - { path: /a, redirect: { to: \"ftp://x\" } }\n"
	    "  - { path: /b, respond: { status: 204, body: x } }\n"
	    "  - { path: /c, static: { root: /nonexistent/www } }\n"
	    "  - { path: /d, static: { root: /etc/hostname } }\n"
	    "  - { path: /e, strip_prefix: true, respond: {} }\n"
	    "  - path: /f\n    respond: {}\n"
	    "    headers: { set: { \"Bad Name\": x }, remove: [\"a:b\"] }\n"
	    "    rate_limit: { rate: 1/s, key: \"header:a b\" }\n"),
	    "t.yaml:2:33: error: routes[0].redirect.to: 'ftp://x' is not an "
	    "http(s) URL or a path\n"
	    "t.yaml:3:47: error: routes[1].respond.body: status 204 cannot "
	    "have a body\n"
	    "t.yaml:4:33: error: routes[2].static.root: cannot access "
	    "'/nonexistent/www': No such file or directory\n"
	    "t.yaml:5:33: error: routes[3].static.root: '/etc/hostname' is not "
	    "a directory\n"
	    "t.yaml:6:31: error: routes[4].strip_prefix: only applies to "
	    "routes with a pool\n"
	    "t.yaml:9:23: error: routes[5].headers.set: invalid header name "
	    "'Bad Name'\n"
	    "t.yaml:9:49: error: routes[5].headers.remove[0]: invalid header "
	    "name 'a:b'\n"
	    "t.yaml:10:35: error: routes[5].rate_limit.key: invalid header "
	    "name 'a b'\n");
}

static void
test_conf_validate_auth_files_and_urls(void)
{
	CHECK_STR(conf_test_errors(
	    "routes:\n  - respond: {}\n    auth:\n"
	    "      basic: { users_file: /nonexistent/htpasswd }\n"
	    "      forward: { url: \"127.0.0.1:4180\" }\n"
	    "      jwt: { jwks_url: \"http://id/jwks\", claims_to_headers: "
	    "{ sub: \"X User\" } }\n"
	    "  - path: /x\n    respond: {}\n"
	    "    auth: { jwt: { jwks_file: /etc/hostname, jwks_url: \"https://x\" } }\n"),
	    "t.yaml:4:28: error: routes[0].auth.basic.users_file: cannot read "
	    "'/nonexistent/htpasswd': No such file or directory\n"
	    "t.yaml:5:23: error: routes[0].auth.forward.url: '127.0.0.1:4180' "
	    "is not an http(s) URL\n"
	    "t.yaml:6:24: error: routes[0].auth.jwt.jwks_url: 'http://id/jwks' "
	    "is not an https URL (plain http only to a loopback address)\n"
	    "t.yaml:6:68: error: routes[0].auth.jwt.claims_to_headers: invalid "
	    "header name 'X User'\n"
	    "t.yaml:9:18: error: routes[1].auth.jwt: needs exactly one of "
	    "jwks_file and jwks_url\n");
}

static void
test_conf_validate_jwks_url_http_only_to_loopback(void)
{
	CHECK_STR(conf_test_errors(
	    "routes:\n"
	    "  - path: /a\n    respond: {}\n"
	    "    auth: { jwt: { jwks_url: \"http://127.0.0.1:8080/jwks\" } }\n"
	    "  - path: /b\n    respond: {}\n"
	    "    auth: { jwt: { jwks_url: \"http://[::1]/jwks\" } }\n"
	    "  - path: /c\n    respond: {}\n"
	    "    auth: { jwt: { jwks_url: \"http://127.0.0.1.evil.test/\" } }\n"
	    "  - path: /d\n    respond: {}\n"
	    "    auth: { jwt: { jwks_url: \"https://id.test/k\", "
	    "jwks_ca_file: /nonexistent/ca.pem } }\n"
	    "  - path: /e\n    respond: {}\n"
	    "    auth: { jwt: { jwks_file: /etc/hostname, "
	    "jwks_ca_file: /etc/hostname } }\n"),
	    "t.yaml:10:30: error: routes[2].auth.jwt.jwks_url: "
	    "'http://127.0.0.1.evil.test/' is not an https URL (plain http "
	    "only to a loopback address)\n"
	    "t.yaml:13:65: error: routes[3].auth.jwt.jwks_ca_file: cannot read "
	    "'/nonexistent/ca.pem': No such file or directory\n"
	    "t.yaml:16:60: error: routes[4].auth.jwt.jwks_ca_file: jwks_ca_file "
	    "is for jwks_url only\n");
}

static void
test_conf_validate_listeners_do_not_collide(void)
{
	CHECK_STR(conf_test_errors(
	    "admin:\n  listen: 127.0.0.1:8080\n"
	    "listeners:\n"
	    "  - { name: a, listen: [\":80\", \"127.0.0.1:81\"] }\n"
	    "  - { name: a, listen: \"0.0.0.0:81\" }\n"
	    "  - { name: b, listen: [\"[::1]:80\", \"localhost:82\"] }\n"
	    "  - { name: c, listen: \"127.0.0.1:8080\" }\n"
	    "  - { name: d, listen: [\"127.0.0.2:83\", \"127.0.0.3:83\"] }\n"),
	    "t.yaml:2:11: error: admin.listen: '127.0.0.1:8080' collides with "
	    "listeners[3].listen '127.0.0.1:8080' (line 7)\n"
	    "t.yaml:5:13: error: listeners[1].name: duplicate listener name 'a' "
	    "(first at line 4)\n"
	    "t.yaml:5:24: error: listeners[1].listen: '0.0.0.0:81' collides "
	    "with listeners[0].listen[1] '127.0.0.1:81' (line 4)\n"
	    "t.yaml:6:25: error: listeners[2].listen[0]: '[::1]:80' collides "
	    "with listeners[0].listen[0] ':80' (line 4)\n"
	    "t.yaml:6:37: error: listeners[2].listen[1]: 'localhost:82': listen "
	    "on an IP address or :port, not a host name\n");
}

static void
test_conf_validate_tls_certificates_load_and_match(void)
{
	char y[2048];

	scratch();
	write_cert("a");
	write_cert("b");
	snprintf(y, sizeof y,
	    "listeners:\n  - name: s\n    listen: \"127.0.0.1:8443\"\n"
	    "    tls:\n      certificates:\n"
	    "        - { cert: %s/a.crt, key: %s/a.key }\n", dir, dir);
	struct config *c = conf_test_load(y);
	CHECK_STR(conf_test_msgs, "");
	REQUIRE(c != NULL);
	CHECK(c->listeners[0].tls.enabled);
	CHECK_INT(c->listeners[0].tls.min_version, ==, 0x0303);
	conf_unref(c);

	snprintf(y, sizeof y,
	    "listeners:\n  - name: s\n    listen: \"127.0.0.1:8443\"\n"
	    "    tls:\n      certificates:\n"
	    "        - cert: %s/a.crt\n          key: %s/b.key\n"
	    "        - cert: %s/a.key\n          key: %s/a.key\n"
	    "        - cert: %s/none.crt\n          key: %s/b.crt\n",
	    dir, dir, dir, dir, dir, dir);
	char want[2048];
	snprintf(want, sizeof want,
	    "t.yaml:7:16: error: listeners[0].tls.certificates[0].key: '%s/b.key'"
	    " does not match the certificate '%s/a.crt'\n"
	    "t.yaml:8:17: error: listeners[0].tls.certificates[1].cert: cannot "
	    "load certificate '%s/a.key': no start line\n"
	    "t.yaml:10:17: error: listeners[0].tls.certificates[2].cert: cannot "
	    "read '%s/none.crt': No such file or directory\n",
	    dir, dir, dir, dir);
	CHECK_STR(conf_test_errors(y), want);
	CHECK_STR(conf_test_errors(
	    "listeners:\n  - name: s\n    listen: \":8443\"\n"
	    "    redirect_https: true\n    tls: { acme: true }\n"),
	    "t.yaml:4:21: error: listeners[0].redirect_https: a TLS listener "
	    "cannot redirect to https (it would loop)\n"
	    "t.yaml:5:18: error: listeners[0].tls.acme: needs an acme: "
	    "section\n");
	CHECK_STR(conf_test_errors(
	    "listeners:\n  - name: s\n    listen: \":8443\"\n    tls: {}\n"),
	    "t.yaml:4:10: error: listeners[0].tls: needs acme: true or "
	    "certificates\n");
}

static void
test_conf_validate_pools(void)
{
	CHECK_STR(conf_test_errors(
	    "pools:\n"
	    "  a:\n    balance: hash\n    servers: [{ address: \"x:1\" }]\n"
	    "  b:\n    hash_key: client_ip\n    servers: []\n"
	    "  c:\n    balance: hash\n    hash_key: \"header:a b\"\n"
	    "    servers: [{ address: \"x:1\" }]\n"
	    "    health: { interval: 1s, timeout: 2s }\n"),
	    "t.yaml:3:14: error: pools.a.balance: hash needs hash_key "
	    "(client_ip, header:NAME or cookie:NAME)\n"
	    "t.yaml:6:15: error: pools.b.hash_key: only used with balance: "
	    "hash\n"
	    "t.yaml:7:14: error: pools.b.servers: needs at least one server\n"
	    "t.yaml:10:15: error: pools.c.hash_key: invalid header name 'a b'\n"
	    "t.yaml:12:13: error: pools.c.health: needs path (HTTP check) or "
	    "tcp: true\n"
	    "t.yaml:12:13: error: pools.c.health: timeout (2000ms) is longer "
	    "than interval (1000ms)\n");
}

static void
test_conf_validate_acme(void)
{
	CHECK_STR(conf_test_errors(
	    "acme:\n  directory: http://acme.example/dir\n  email: nobody\n"
	    "  challenges: [http-01, http-01]\n  key_type: rsa4096\n"
	    "  ca_roots: /nonexistent/ca.pem\n"
	    "  storage: { postgres: \"dbname=x\" }\n"),
	    "t.yaml:2:14: error: acme.directory: must be an https:// URL\n"
	    "t.yaml:3:10: error: acme.email: 'nobody' is not an email address\n"
	    "t.yaml:4:25: error: acme.challenges[1]: 'http-01' is listed twice\n"
	    "t.yaml:5:13: error: acme.key_type: invalid value 'rsa4096' "
	    "(expected ecdsa-p256 or rsa-2048)\n"
	    "t.yaml:6:13: error: acme.ca_roots: cannot read "
	    "'/nonexistent/ca.pem': No such file or directory\n"
	    "t.yaml:7:12: error: acme.storage: needs key or key_file to "
	    "encrypt the private keys it stores\n");
}

static void
test_conf_validate_backup_jobs(void)
{
	CHECK_STR(conf_test_errors(
	    "backup:\n  listen: \":9091\"\n  jobs:\n"
	    "    - name: app\n      conninfo: x\n"
	    "      schedule: \"61 * * * *\"\n      destination: rel/dir\n"
	    "      timezone: Mars/Olympus\n"
	    "    - name: app\n      conninfo: x\n      schedule: \"@daily\"\n"
	    "      destination: /b\n      retention: { keep_last: 0 }\n"
	    "    - { name: \"a b\", conninfo: x, schedule: \"@hourly\", "
	    "destination: /c, kind: incremental }\n"
	    "listeners:\n  - { name: w, listen: \"127.0.0.1:9091\" }\n"),
	    "t.yaml:2:11: error: backup.listen: ':9091' collides with "
	    "listeners[0].listen '127.0.0.1:9091' (line 16)\n"
	    "t.yaml:6:17: error: backup.jobs[0].schedule: invalid cron "
	    "expression '61 * * * *': invalid minute field (0-59)\n"
	    "t.yaml:7:20: error: backup.jobs[0].destination: 'rel/dir' must be "
	    "an absolute path\n"
	    "t.yaml:8:17: error: backup.jobs[0].timezone: unknown time zone "
	    "'Mars/Olympus'\n"
	    "t.yaml:9:13: error: backup.jobs[1].name: duplicate job name 'app' "
	    "(first at line 4)\n"
	    "t.yaml:13:18: error: backup.jobs[1].retention: keeps nothing: set "
	    "at least one keep_* above 0\n"
	    "t.yaml:14:15: error: backup.jobs[2].name: 'a b' must be 1..64 "
	    "letters, digits, '-' or '_'\n"
	    "t.yaml:14:79: error: backup.jobs[2].kind: invalid value "
	    "'incremental' (expected logical or physical)\n");
}

static void
test_conf_validate_global_user_and_group(void)
{
	CHECK_STR(conf_test_errors(
	    "global:\n  user: no-such-user-limen\n  group: no-such-group-limen\n"),
	    "t.yaml:2:9: error: global.user: no such user 'no-such-user-limen'\n"
	    "t.yaml:3:10: error: global.group: no such group "
	    "'no-such-group-limen'\n");
	CHECK_STR(conf_test_errors(
	    "global:\n  resolvers: [\"127.0.0.1:53\", \"dns.example:53\", "
	    "\"10.0.0.1\"]\n"),
	    "t.yaml:2:31: error: global.resolvers[1]: invalid resolver "
	    "'dns.example:53': not an IP address (expected ip:port)\n"
	    "t.yaml:2:49: error: global.resolvers[2]: invalid resolver "
	    "'10.0.0.1': missing port (host:port or :port) (expected ip:port)\n");
	struct config *c = conf_test_load("global:\n  user: root\n  group: root\n"
	    "  resolvers: \"[::1]:5353\"\n");
	if (c)
		CHECK_STR(c->global.resolvers[0], "[::1]:5353");
	CHECK(c != NULL);
	conf_unref(c);
}

HARNESS_MAIN(T(test_conf_validate_route_pool_must_exist),
    T(test_conf_validate_exactly_one_action),
    T(test_conf_validate_shadowed_route),
    T(test_conf_validate_route_hosts_and_paths),
    T(test_conf_validate_action_details),
    T(test_conf_validate_auth_files_and_urls),
    T(test_conf_validate_jwks_url_http_only_to_loopback),
    T(test_conf_validate_listeners_do_not_collide),
    T(test_conf_validate_tls_certificates_load_and_match),
    T(test_conf_validate_pools),
    T(test_conf_validate_acme),
    T(test_conf_validate_backup_jobs),
    T(test_conf_validate_global_user_and_group))
