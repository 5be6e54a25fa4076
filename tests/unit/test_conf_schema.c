/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_conf_schema.c — the key tables: defaults, every type's good and bad
 * values, unknown keys with did-you-mean, secrets, and docs/config.md
 * being exactly what the tables produce.
 */
#include <openssl/tls1.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "conf/schema.h"
#include "tests/unit/conf_testutil.h"
#include "tests/unit/harness.h"

static void
test_conf_schema_defaults_fill_every_section(void)
{
	struct config *c = conf_test_load(
	    "admin:\n"
	    "listeners:\n  - { name: web, listen: \":8080\" }\n"
	    "routes:\n  - pool: p\n"
	    "pools:\n  p:\n    servers: [{ address: \"127.0.0.1:1\" }]\n"
	    "    health: { path: / }\n"
	    "acme:\n"
	    "backup:\n  jobs:\n    - { name: j, conninfo: x, schedule: "
	    "\"@daily\", destination: /b }\n");
	REQUIRE(c != NULL);
	CHECK_STR(c->global.state_dir, "/var/lib/limen");
	CHECK(c->global.pid_file == NULL);
	CHECK_INT(c->global.workers, ==, 0);
	CHECK_INT(c->global.shutdown_timeout_ms, ==, 30000);
	CHECK_INT(c->global.log_level, ==, LOG_LVL_INFO);
	CHECK_INT(c->global.log_format, ==, LOG_FMT_TEXT);
	CHECK(c->global.access_log_path == NULL);
	CHECK(!c->global.watch_config);
	CHECK(c->admin.enabled);
	CHECK_STR(c->admin.listen.text, "127.0.0.1:9090");
	CHECK(c->admin.token == NULL);
	REQUIRE(c->n_listeners == 1);
	CHECK_STR(c->listeners[0].name, "web");
	CHECK_INT(c->listeners[0].n_addrs, ==, 1);
	CHECK_INT(c->listeners[0].addrs[0].port, ==, 8080);
	CHECK(c->listeners[0].http2);
	CHECK(!c->listeners[0].tls.enabled);
	CHECK_INT(c->listeners[0].line, ==, 3);
	REQUIRE(c->n_routes == 1);
	struct conf_route *r = &c->routes[0];
	CHECK_INT(r->n_hosts, ==, 1);
	CHECK_STR(r->hosts[0], "*");
	CHECK_STR(r->path, "/");
	CHECK_INT(r->action, ==, ACTION_POOL);
	CHECK(r->pool == &c->pools[0]);
	CHECK_INT(r->max_body, ==, 0);
	CHECK_INT(r->hsts_max_age, ==, 0);
	CHECK(!r->rate_limit.enabled);
	CHECK(r->auth.basic == NULL && r->waf == NULL);
	REQUIRE(c->n_pools == 1);
	struct conf_pool *p = &c->pools[0];
	CHECK_STR(p->name, "p");
	CHECK_INT(p->balance, ==, BALANCE_ROUND_ROBIN);
	CHECK_INT(p->servers[0].weight, ==, 1);
	CHECK_INT(p->resolve_interval_ms, ==, 30000);
	CHECK(p->health.enabled);
	CHECK_INT(p->health.interval_ms, ==, 2000);
	CHECK_INT(p->health.timeout_ms, ==, 1000);
	CHECK_INT(p->health.rise, ==, 2);
	CHECK_INT(p->health.fall, ==, 3);
	CHECK_INT(p->health.expect_min, ==, 200);
	CHECK_INT(p->health.expect_max, ==, 399);
	CHECK_INT(p->max_fails, ==, 3);
	CHECK_INT(p->fail_timeout_ms, ==, 10000);
	CHECK_INT(p->retries, ==, 1);
	CHECK_INT(p->connect_timeout_ms, ==, 2000);
	CHECK_INT(p->response_timeout_ms, ==, 60000);
	CHECK_INT(p->idle_timeout_ms, ==, 90000);
	CHECK_INT(p->keepalive, ==, 32);
	CHECK(c->acme.enabled);
	CHECK_STR(c->acme.directory,
	    "https://acme-v02.api.letsencrypt.org/directory");
	CHECK_INT(c->acme.n_challenges, ==, 2);
	CHECK_INT(c->acme.challenges[0], ==, ACME_CHALLENGE_HTTP01);
	CHECK_INT(c->acme.challenges[1], ==, ACME_CHALLENGE_TLSALPN01);
	CHECK_INT(c->acme.key_type, ==, KEY_ECDSA_P256);
	CHECK(c->acme.storage_pg_conninfo == NULL);
	CHECK_INT(c->acme.renew_before_ms, ==, 0);
	CHECK(c->backup.enabled);
	CHECK(!c->backup.has_listen);
	REQUIRE(c->backup.n_jobs == 1);
	struct conf_backup_job *j = &c->backup.jobs[0];
	CHECK_INT(j->kind, ==, BACKUP_LOGICAL);
	CHECK_INT(j->compression, ==, COMPRESS_GZIP);
	CHECK(j->encryption_key_file == NULL);
	CHECK_INT(j->retention.keep_last, ==, 7);
	CHECK_INT(j->retention.keep_daily, ==, 0);
	CHECK(!j->verify);
	CHECK(conf_listener_find(c, "web") == &c->listeners[0]);
	CHECK(conf_listener_find(c, "nope") == NULL);
	CHECK(conf_pool_find(c, "nope") == NULL);
	CHECK_INT(c->version, >, 0);
	CHECK_INT(atomic_load(&c->refs), ==, 1);
	conf_ref(c);
	conf_unref(c);
	conf_unref(c);
}

static void
test_conf_schema_parses_every_value_type(void)
{
	struct config *c = conf_test_load(
	    "global:\n  workers: 4\n  shutdown_timeout: 1h30m\n"
	    "  log: { level: debug, format: json }\n"
	    "  access_log: { path: \"-\" }\n"
	    "  max_conns: 1000\n  watch_config: true\n"
	    "listeners:\n  - name: web\n    listen: [\"127.0.0.1:8080\", "
	    "\"[::1]:8080\"]\n    http2: false\n"
	    "routes:\n  - host: [App.Example.COM, \"*.Example.com\"]\n"
	    "    path: /api\n    strip_prefix: true\n    pool: p\n"
	    "    rate_limit: { rate: 10/m, key: \"header:X-Key\" }\n"
	    "    allow: 10.0.0.0/8\n    max_body: 16k\n    hsts: true\n"
	    "    headers: { set: { X-A: b }, remove: Server, request_set: "
	    "{ X-Env: prod } }\n"
	    "    auth: { forward: { url: \"http://127.0.0.1:1/a\", cache: 5s } }\n"
	    "  - host: x.example\n    respond: { status: 204 }\n    hsts: 1d\n"
	    "  - host: y.example\n    redirect: { to: /z, code: 308 }\n"
	    "pools:\n  p:\n    balance: hash\n    hash_key: \"cookie:sid\"\n"
	    "    servers:\n      - { address: \"backend.local:80\", weight: 256 }\n"
	    "    health: { tcp: true, expect_status: 204 }\n"
	    "    timeouts: { connect: 250ms }\n");
	REQUIRE(c != NULL);
	CHECK_INT(c->global.workers, ==, 4);
	CHECK_INT(c->global.shutdown_timeout_ms, ==, 5400000);
	CHECK_INT(c->global.log_level, ==, LOG_LVL_DEBUG);
	CHECK_INT(c->global.log_format, ==, LOG_FMT_JSON);
	CHECK_STR(c->global.access_log_path, "-");
	CHECK_INT(c->global.access_log_format, ==, LOG_FMT_JSON);
	CHECK_INT(c->global.max_conns, ==, 1000);
	CHECK(c->global.watch_config);
	CHECK_INT(c->listeners[0].n_addrs, ==, 2);
	CHECK_INT(c->listeners[0].addrs[1].sa.ss_family, ==, AF_INET6);
	CHECK(!c->listeners[0].http2);
	struct conf_route *r = &c->routes[0];
	CHECK_STR(r->hosts[0], "app.example.com");
	CHECK_STR(r->hosts[1], "*.example.com");
	CHECK(r->strip_prefix);
	CHECK(r->rate_limit.enabled);
	CHECK(r->rate_limit.rate > 0.166 && r->rate_limit.rate < 0.167);
	CHECK_INT(r->rate_limit.burst, ==, 1);
	CHECK_INT(r->rate_limit.key, ==, RL_KEY_HEADER);
	CHECK_STR(r->rate_limit.key_header, "X-Key");
	CHECK_INT(r->n_allow, ==, 1);
	CHECK_INT(r->max_body, ==, 16384);
	CHECK_INT(r->hsts_max_age, ==, 31536000);
	CHECK_STR(r->headers.set[0].name, "X-A");
	CHECK_STR(r->headers.set[0].value, "b");
	CHECK_INT(r->headers.n_remove, ==, 1);
	CHECK_STR(r->headers.remove[0], "Server");
	CHECK_STR(r->headers.request_set[0].value, "prod");
	REQUIRE(r->auth.forward != NULL);
	CHECK_INT(r->auth.forward->timeout_ms, ==, 2000);
	CHECK_INT(r->auth.forward->cache_ms, ==, 5000);
	CHECK_INT(c->routes[1].action, ==, ACTION_RESPOND);
	CHECK_INT(c->routes[1].respond.status, ==, 204);
	CHECK_STR(c->routes[1].respond.content_type,
	    "text/plain; charset=utf-8");
	CHECK(c->routes[1].respond.body == NULL);
	CHECK_INT(c->routes[1].hsts_max_age, ==, 86400);
	CHECK_INT(c->routes[1].index, ==, 1);
	CHECK_INT(c->routes[2].action, ==, ACTION_REDIRECT);
	CHECK_INT(c->routes[2].redirect.code, ==, 308);
	struct conf_pool *p = &c->pools[0];
	CHECK_INT(p->balance, ==, BALANCE_HASH);
	CHECK_INT(p->hash_key, ==, HASH_COOKIE);
	CHECK_STR(p->hash_key_name, "sid");
	CHECK(p->servers[0].addr.is_name);
	CHECK_INT(p->servers[0].weight, ==, 256);
	CHECK(p->health.tcp);
	CHECK_INT(p->health.expect_min, ==, 204);
	CHECK_INT(p->health.expect_max, ==, 204);
	CHECK_INT(p->connect_timeout_ms, ==, 250);
	CHECK_INT(p->response_timeout_ms, ==, 60000);
	conf_unref(c);
}

static void
test_conf_schema_items_know_their_index_and_position(void)
{
	struct config *c = conf_test_load(
	    "pools:\n"
	    "  a:\n    servers: [{ address: \"x:1\" }, { address: \"x:2\" }]\n"
	    "  b:\n    servers: [{ address: \"x:1\" }, { address: \"x:2\" },\n"
	    "              { address: \"x:3\" }]\n"
	    "routes:\n  - pool: b\n  - { path: /a, pool: a }\n");
	REQUIRE(c != NULL);
	CHECK_INT(c->pools[0].index, ==, 0);
	CHECK_INT(c->pools[1].index, ==, 1);
	CHECK_INT(c->pools[1].line, ==, 5);
	CHECK_INT(c->pools[1].col, ==, 5);
	CHECK_INT(c->pools[1].n_servers, ==, 3);
	CHECK_INT(c->routes[1].index, ==, 1);
	CHECK_INT(c->routes[1].line, ==, 9);
	CHECK(c->routes[0].pool == &c->pools[1]);
	CHECK(c->routes[1].pool == conf_pool_find(c, "a"));
	conf_unref(c);
}

static void
test_conf_schema_unknown_keys_suggest_the_closest(void)
{
	CHECK_STR(conf_test_errors(
	    "global:\n  stat_dir: /x\n  shutdown_timout: 1s\n  zzzz: 1\n"
	    "listners: []\n"
	    "routes:\n  - respond: {}\n    rate_limit: { rat: 1/s }\n"),
	    "t.yaml:2:3: error: global: unknown key 'stat_dir' (did you mean "
	    "'state_dir'?)\n"
	    "t.yaml:3:3: error: global: unknown key 'shutdown_timout' (did "
	    "you mean 'shutdown_timeout'?)\n"
	    "t.yaml:4:3: error: global: unknown key 'zzzz'\n"
	    "t.yaml:5:1: error: unknown key 'listners' (did you mean "
	    "'listeners'?)\n"
	    "t.yaml:8:17: error: routes[0].rate_limit: missing required key "
	    "'rate'\n"
	    "t.yaml:8:19: error: routes[0].rate_limit: unknown key 'rat' "
	    "(did you mean 'rate'?)\n");
}

static void
test_conf_schema_bad_values_say_what_is_expected(void)
{
	CHECK_STR(conf_test_errors(
	    "global:\n"
	    "  shutdown_timeout: 30\n"
	    "  workers: many\n"
	    "  log: { level: verbose, format: jsn }\n"
	    "  watch_config: yes\n"
	    "  max_conns: -1\n"
	    "  pid_file:\n"
	    "  state_dir: [a]\n"
	    "  access_log: on\n"
	    "routes:\n"
	    "  - max_body: 10mb\n"
	    "    respond: { status: 700 }\n"
	    "    rate_limit: { rate: 5, key: ip }\n"
	    "    hsts: forever\n"
	    "    allow: [10.0.0.0/33, nope]\n"),
	    "t.yaml:2:21: error: global.shutdown_timeout: invalid duration "
	    "'30': missing unit (ms, s, m, h, d, w, y)\n"
	    "t.yaml:3:12: error: global.workers: expected auto or a number "
	    "1..1024, not 'many'\n"
	    "t.yaml:4:17: error: global.log.level: invalid value 'verbose' "
	    "(expected error, warn, info or debug)\n"
	    "t.yaml:4:34: error: global.log.format: invalid value 'jsn' (did "
	    "you mean 'json'?)\n"
	    "t.yaml:5:17: error: global.watch_config: expected true or false, "
	    "not 'yes'\n"
	    "t.yaml:6:14: error: global.max_conns: invalid number '-1' "
	    "(expected 0..4294967295)\n"
	    "t.yaml:7:12: error: global.pid_file: missing value\n"
	    "t.yaml:8:14: error: global.state_dir: expected a string, not a "
	    "list\n"
	    "t.yaml:9:15: error: global.access_log: expected off or a mapping "
	    "with path and format\n"
	    "t.yaml:11:15: error: routes[0].max_body: invalid size '10mb': "
	    "unknown unit (k, m, g)\n"
	    "t.yaml:12:24: error: routes[0].respond.status: invalid number "
	    "'700' (expected 100..599)\n"
	    "t.yaml:13:25: error: routes[0].rate_limit.rate: invalid rate "
	    "'5': expected N/s, N/m, N/h or N/d\n"
	    "t.yaml:13:33: error: routes[0].rate_limit.key: expected "
	    "client_ip or header:NAME, not 'ip'\n"
	    "t.yaml:14:11: error: routes[0].hsts: expected a duration or "
	    "true, not 'forever'\n"
	    "t.yaml:15:13: error: routes[0].allow[0]: invalid network "
	    "'10.0.0.0/33': prefix length must be 0..32\n"
	    "t.yaml:15:26: error: routes[0].allow[1]: invalid network "
	    "'nope': invalid address\n");
}

static void
test_conf_schema_wrong_shapes(void)
{
	CHECK_STR(conf_test_errors(
	    "global: [1]\nlisteners: { name: x }\nroutes: x\npools: [a]\n"),
	    "t.yaml:1:9: error: global: expected a mapping, not a list\n"
	    "t.yaml:2:12: error: listeners: expected a list, not a mapping\n"
	    "t.yaml:3:9: error: routes: expected a list, not a string\n"
	    "t.yaml:4:8: error: pools: expected a mapping of names, not a "
	    "list\n");
	CHECK_STR(conf_test_errors("- a\n"),
	    "t.yaml:1:1: error: expected a mapping, not a list\n");
}

static void
test_conf_schema_secret_files_are_read_and_checked(void)
{
	char dir[] = "/tmp/limen-conf-XXXXXX", path[128], y[512];
	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/token", dir);
	REQUIRE(fsutil_write_atomic(path, "s3cret\n", 7, 0600) == 0);
	snprintf(y, sizeof y, "admin:\n  token_file: %s\n", path);
	struct config *c = conf_test_load(y);
	REQUIRE(c != NULL);
	CHECK_STR(c->admin.token, "s3cret");
	CHECK_STR(c->admin.token_file, path);
	conf_unref(c);

	REQUIRE(chmod(path, 0644) == 0);
	char want[512];
	snprintf(want, sizeof want, "t.yaml:2:15: error: admin.token_file: "
	    "'%s' is readable by group or others (chmod 600 it)\n", path);
	CHECK_STR(conf_test_errors(y), want);
	snprintf(y, sizeof y, "admin:\n  token_file: %s/missing\n", dir);
	snprintf(want, sizeof want, "t.yaml:2:15: error: admin.token_file: "
	    "cannot read '%s/missing': No such file or directory\n", dir);
	CHECK_STR(conf_test_errors(y), want);
	CHECK_STR(conf_test_errors("admin:\n  token: a\n  token_file: /x\n"),
	    "t.yaml:3:15: error: admin.token_file: cannot read '/x': No such "
	    "file or directory\n"
	    "t.yaml:3:15: error: admin: give either 'token' or 'token_file', "
	    "not both\n");

	/* limen (the proxy) may skip the backup companion's secrets */
	snprintf(y, sizeof y, "backup:\n  jobs:\n    - { name: j, conninfo: x, "
	    "schedule: \"@daily\", destination: /b, password_file: %s/nope }\n",
	    dir);
	struct diag d;
	diag_init(&d);
	c = conf_load_buffer_ex("t.yaml", y, strlen(y),
	    CONF_LOAD_SKIP_BACKUP_SECRETS, &d);
	CHECK(c != NULL);
	CHECK_INT(d.n, ==, 0);
	if (c) {
		CHECK(c->backup.jobs[0].password == NULL);
		CHECK(c->backup.jobs[0].password_file != NULL);
	}
	conf_unref(c);
	diag_free(&d);
	CHECK(conf_test_load(y) == NULL);
	unlink(path);
	rmdir(dir);
}

static void
test_conf_schema_load_reports_unreadable_file(void)
{
	struct diag d;
	char *s;

	diag_init(&d);
	CHECK(conf_load("/nonexistent/limen.yaml", &d) == NULL);
	s = diag_join(&d);
	CHECK_STR(s, "/nonexistent/limen.yaml: error: cannot read: No such "
	    "file or directory\n");
	free(s);
	diag_free(&d);
}

/* Every key of every table: documented, with a default or an example. */
static void
check_table(const struct conf_section *s, int depth)
{
	size_t n = 0;

	CHECK(s->name != NULL && s->doc != NULL);
	for (const struct conf_key *k = s->keys; k->name; k++, n++) {
		bool group = k->type == &conf_t_section ||
		    k->type == &conf_t_inline || k->type == &conf_t_list ||
		    k->type == &conf_t_named || k->type == &conf_t_section_ptr;
		if (k->doc == NULL || (!group && !(k->flags & CK_REQUIRED) &&
		    k->def == NULL && k->example == NULL))
			harness_fail(__FILE__, __LINE__, "%s.%s: no doc, default "
			    "or example", s->name, k->name);
		if (k->type == &conf_t_enum)
			CHECK(k->enums != NULL);
		if (k->sub != NULL && depth < 8)
			check_table(k->sub, depth + 1);
	}
	CHECK_INT(n, <, 64);
}

static void
test_conf_schema_tables_are_complete(void)
{
	check_table(&conf_schema_root, 0);
}

static void
test_conf_docs_match_the_tables(void)
{
	char *gen = NULL, *file = NULL;
	size_t glen = 0, flen = 0;
	FILE *f = open_memstream(&gen, &glen);

	REQUIRE(f != NULL);
	REQUIRE(conf_docs_write(f) == 0);
	fclose(f);
	if (fsutil_read_file("docs/config.md", 1 << 20, &file, &flen) == -1) {
		harness_fail(__FILE__, __LINE__, "cannot read docs/config.md "
		    "(run the tests from the repository root)");
		free(gen);
		return;
	}
	if (glen != flen || memcmp(gen, file, glen) != 0)
		harness_fail(__FILE__, __LINE__, "docs/config.md is out of date: "
		    "run `bin/limen config-docs > docs/config.md`");
	free(gen);
	free(file);
}

HARNESS_MAIN(T(test_conf_schema_defaults_fill_every_section),
    T(test_conf_schema_parses_every_value_type),
    T(test_conf_schema_items_know_their_index_and_position),
    T(test_conf_schema_unknown_keys_suggest_the_closest),
    T(test_conf_schema_bad_values_say_what_is_expected),
    T(test_conf_schema_wrong_shapes),
    T(test_conf_schema_secret_files_are_read_and_checked),
    T(test_conf_schema_load_reports_unreadable_file),
    T(test_conf_schema_tables_are_complete),
    T(test_conf_docs_match_the_tables))
