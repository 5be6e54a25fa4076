/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_metrics.c — per-worker request counters summed at scrape time,
 * series surviving a reload, listener gauges, the certificate table and
 * an exposition that the strict parser accepts.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/prom.h"
#include "proxy/metrics.h"
#include "tests/unit/conf_testutil.h"
#include "tests/unit/harness.h"

static const char conf_text[] =
    "listeners:\n"
    "  - { name: web, listen: [\"127.0.0.1:1\"] }\n"
    "  - { name: alt, listen: [\"127.0.0.1:2\"] }\n"
    "routes:\n"
    "  - { host: [a.example, b.example], path: /api, pool: backend }\n"
    "  - { host: [\"*\"], respond: { status: 404 } }\n"
    "pools:\n"
    "  backend: { servers: [ { address: \"127.0.0.1:3\" } ] }\n";

static void
test_metrics_route_label_joins_hosts_and_path(void)
{
	struct config *c = conf_test_load(conf_text);
	char buf[128];

	REQUIRE(c != NULL);
	metrics_route_label(&c->routes[0], buf, sizeof(buf));
	CHECK_STR(buf, "a.example,b.example/api");
	metrics_route_label(&c->routes[1], buf, sizeof(buf));
	CHECK_STR(buf, "*/");
	conf_unref(c);
}

struct worker_arg {
	unsigned id;
	const struct metrics_map *m;
};

static void *
hammer(void *p)
{
	struct worker_arg *a = p;

	for (int i = 0; i < 100000; i++)
		metrics_request_done(a->id, a->m, 0, 200, 1000000);
	return NULL;
}

static void
test_metrics_workers_count_apart_and_sum_on_read(void)
{
	struct config *c = conf_test_load(conf_text);
	struct metrics_map *m;
	struct metrics_series_totals t;
	struct worker_arg args[4];
	pthread_t th[4];
	unsigned s;

	REQUIRE(c != NULL);
	REQUIRE((m = metrics_map_new(c)) != NULL);
	for (unsigned i = 0; i < 4; i++) {
		args[i] = (struct worker_arg){ i, m };
		pthread_create(&th[i], NULL, hammer, &args[i]);
	}
	for (unsigned i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	s = metrics_n_series();
	CHECK_INT(s, ==, 3);		/* none, route 0, route 1 */
	for (unsigned i = 0; i < s; i++) {
		metrics_series_read(i, &t);
		if (strcmp(t.route, "a.example,b.example/api") != 0)
			continue;
		CHECK_STR(t.pool, "backend");
		CHECK_INT(t.by_class[1], ==, 400000);
		CHECK_INT(t.count, ==, 400000);
		CHECK_INT(t.buckets[0], ==, 400000);	/* 1 ms <= 5 ms */
		CHECK(t.sum_seconds > 399.9 && t.sum_seconds < 400.1);
	}
	metrics_map_free(m);
	conf_unref(c);
}

static void
test_metrics_classes_and_buckets(void)
{
	struct config *c = conf_test_load(conf_text);
	struct metrics_map *m;
	struct metrics_series_totals t;

	REQUIRE(c != NULL);
	REQUIRE((m = metrics_map_new(c)) != NULL);
	metrics_request_done(0, m, 1, 404, 5000000);	/* exactly 5 ms */
	metrics_request_done(0, m, 1, 503, 20000000000ULL);	/* 20 s */
	metrics_request_done(1, m, 1, 0, 60000000);	/* aborted, 60 ms */
	metrics_request_done(1, m, SIZE_MAX, 400, 1000);	/* no route */
	metrics_series_read(metrics_n_series() - 1, &t);
	CHECK_STR(t.route, "*/");
	CHECK_STR(t.pool, "");
	CHECK_INT(t.by_class[3], ==, 1);
	CHECK_INT(t.by_class[4], ==, 1);
	CHECK_INT(t.by_class[5], ==, 1);
	CHECK_INT(t.buckets[0], ==, 1);			/* le 0.005 */
	CHECK_INT(t.buckets[4], ==, 1);			/* le 0.1 */
	CHECK_INT(t.buckets[METRICS_N_BOUNDS], ==, 1);	/* +Inf only */
	metrics_series_read(METRICS_SERIES_NONE, &t);
	CHECK_INT(t.by_class[3], ==, 1);
	metrics_map_free(m);
	conf_unref(c);
}

static void
test_metrics_series_survive_a_reload(void)
{
	struct config *c1 = conf_test_load(conf_text), *c2;
	struct metrics_map *m1, *m2;
	struct metrics_series_totals t;
	char text[sizeof(conf_text) + 64];

	REQUIRE(c1 != NULL);
	/* the new config puts a route in front: indexes move */
	snprintf(text, sizeof(text), "%s", conf_text);
	{
		char *r = strstr(text, "routes:\n") + 8;
		const char *ins = "  - { host: [c.example], respond: { status: 200 } }\n";
		memmove(r + strlen(ins), r, strlen(r) + 1);
		memcpy(r, ins, strlen(ins));
	}
	REQUIRE((c2 = conf_test_load(text)) != NULL);
	m1 = metrics_map_new(c1);
	m2 = metrics_map_new(c2);
	metrics_request_done(0, m1, 0, 200, 1000);
	metrics_request_done(0, m2, 1, 200, 1000);
	metrics_series_read(1, &t);
	CHECK_STR(t.route, "a.example,b.example/api");
	CHECK_INT(t.count, ==, 2);
	metrics_map_free(m1);
	metrics_map_free(m2);
	conf_unref(c1);
	conf_unref(c2);
}

static void
test_metrics_certificates_mark_and_sweep(void)
{
	struct metrics_cert *certs;
	size_t n;

	metrics_cert_set("b.example", 2000, "static");
	metrics_cert_set("a.example", 1000, "static");
	metrics_acme_failure("c.example", "rate limited");
	metrics_acme_failure("c.example", "dns: no such host");
	metrics_cert_mark("static");
	metrics_cert_set("a.example", 3000, "static");
	metrics_cert_sweep("static");
	certs = metrics_certs(&n);
	REQUIRE(certs != NULL);
	REQUIRE(n == 2);
	CHECK_STR(certs[0].name, "a.example");
	CHECK_INT(certs[0].not_after, ==, 3000);
	CHECK_STR(certs[1].name, "c.example");
	CHECK_STR(certs[1].source, "acme");
	CHECK_INT(certs[1].acme_failures, ==, 2);
	CHECK_STR(certs[1].last_error, "dns: no such host");
	free(certs);
	metrics_acme_success("c.example");
	certs = metrics_certs(&n);
	CHECK_STR(certs[1].last_error, "");
	free(certs);
}

static int
count_cb(void *arg, const char *name, const struct prom_label *l, size_t n,
    double v)
{
	(*(int *)arg)++;
	return 0;
}

static void
test_metrics_exposition_parses(void)
{
	struct config *c = conf_test_load(conf_text);
	struct metrics_map *m;
	struct prom_out o;
	char err[128];
	int n = 0;

	REQUIRE(c != NULL);
	REQUIRE((m = metrics_map_new(c)) != NULL);
	metrics_request_done(0, m, 0, 200, 1000);
	metrics_cert_set("a.example", 1900000000, "static");
	metrics_acme_failure("b.example", "oops \"quoted\"\n");
	metrics_reload_done(false, "bad");
	prom_out_init(&o);
	metrics_exposition(&o, NULL);
	REQUIRE(!o.failed);
	CHECK_INT(prom_parse(o.buf, o.len, count_cb, &n, err, sizeof(err)),
	    ==, 0);
	CHECK(n > 20);
	CHECK(strstr(o.buf, "limen_http_requests_total{route=\"a.example,"
	    "b.example/api\",pool=\"backend\",code=\"2xx\"} 1\n") != NULL);
	CHECK(strstr(o.buf, "limen_certificate_expiry_timestamp_seconds{name="
	    "\"a.example\",source=\"static\"} 1900000000\n") != NULL);
	CHECK(strstr(o.buf, "limen_acme_failures_total{name=\"b.example\"} 1\n")
	    != NULL);
	CHECK(strstr(o.buf, "limen_config_reloads_total{result=\"failure\"} 1\n")
	    != NULL);
	CHECK(strstr(o.buf, "limen_config_last_reload_success 0\n") != NULL);
	prom_out_free(&o);
	metrics_map_free(m);
	conf_unref(c);
}

HARNESS_MAIN(
	T(test_metrics_route_label_joins_hosts_and_path),
	T(test_metrics_workers_count_apart_and_sum_on_read),
	T(test_metrics_classes_and_buckets),
	T(test_metrics_series_survive_a_reload),
	T(test_metrics_certificates_mark_and_sweep),
	T(test_metrics_exposition_parses)
)
