/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_waf.c — libmodsecurity with Debian's OWASP CRS (proxy/waf.c): a
 * classic SQL injection and an XSS probe are blocked in block mode and
 * only logged in detect mode, a normal request passes; bodies (form and
 * JSON) are inspected within the limit, an unparsable body that fits is
 * refused, an oversized one is inspected in part; own rule files and
 * directories load; broken rules are configuration errors; transactions
 * run from several threads at once.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/diag.h"
#include "proxy/waf.h"
#include "tests/unit/harness.h"

#define CRS "/usr/share/modsecurity-crs"

static struct waf_rules *crs;

/* Load the CRS once, before the tests fork (about half a second). */
__attribute__((constructor)) static void
load_crs(void)
{
	struct diag d;

	diag_init(&d);
	crs = waf_rules_load(CRS, &d);
	if (crs == NULL)
		diag_print(&d, stderr);
	diag_free(&d);
}

struct req {
	const char *method;
	const char *target;
	const char *content_type;
	const char *body;
	size_t body_len;		/* 0: strlen(body) */
};

/* Run one request through a transaction; returns the final verdict. */
static enum waf_verdict
run(struct waf_rules *rules, enum conf_waf_mode mode, const struct req *q,
    unsigned *rule, int *status)
{
	struct waf_tx *tx = waf_tx_new(rules, mode, "req-1");
	enum waf_verdict v;
	size_t blen = q->body ? (q->body_len ? q->body_len : strlen(q->body)) :
	    0;
	char clen[32];

	if (tx == NULL)
		return (enum waf_verdict)-1;
	waf_tx_connection(tx, "192.0.2.10", 40000, "127.0.0.1", 443);
	waf_tx_request_line(tx, q->method, strlen(q->method), q->target,
	    strlen(q->target), "1.1");
	waf_tx_header(tx, "Host", 4, "app.example.com", 15);
	waf_tx_header(tx, "User-Agent", 10, "Mozilla/5.0 (X11; Linux x86_64)",
	    31);
	waf_tx_header(tx, "Accept", 6, "text/html,*/*;q=0.8", 19);
	if (q->body != NULL) {
		snprintf(clen, sizeof clen, "%zu", blen);
		waf_tx_header(tx, "Content-Type", 12, q->content_type,
		    strlen(q->content_type));
		waf_tx_header(tx, "Content-Length", 14, clen, strlen(clen));
	}
	v = waf_tx_headers_done(tx);
	if (v == WAF_PASS && q->body != NULL) {
		/* in pieces, as a front would deliver them */
		for (size_t i = 0; i < blen && waf_tx_body_wanted(tx) > 0;
		    i += 1000)
			waf_tx_body(tx, q->body + i, blen - i < 1000 ?
			    blen - i : 1000);
	}
	if (v == WAF_PASS)
		v = waf_tx_body_done(tx);
	if (rule != NULL)
		*rule = waf_tx_rule_id(tx);
	if (status != NULL)
		*status = waf_tx_status(tx);
	waf_tx_free(tx);
	return v;
}

static const struct req normal = { .method = "GET",
    .target = "/search?q=hello+world&page=2" };
static const struct req sqli = { .method = "GET",
    .target = "/search?id=1%27%20OR%20%271%27%3D%271" };
static const struct req xss = { .method = "GET",
    .target = "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E" };

static void
test_waf_block_mode_blocks_sqli_and_xss(void)
{
	unsigned rule = 0;
	int status = 0;

	REQUIRE(crs != NULL);
	CHECK(waf_rules_count(crs) > 500);
	CHECK_INT(run(crs, WAF_BLOCK, &sqli, &rule, &status), ==, WAF_DENY);
	CHECK_INT(status, ==, 403);
	CHECK_INT(rule, ==, 942100);
	CHECK_INT(run(crs, WAF_BLOCK, &xss, &rule, &status), ==, WAF_DENY);
	CHECK_INT(status, ==, 403);
	CHECK_INT(rule / 1000, ==, 941);
}

static void
test_waf_passes_normal_requests(void)
{
	static const struct req form = { .method = "POST", .target = "/login",
	    .content_type = "application/x-www-form-urlencoded",
	    .body = "user=alice&pass=correct+horse" };
	static const struct req json = { .method = "POST", .target = "/api/items",
	    .content_type = "application/json",
	    .body = "{\"name\": \"widget\", \"count\": 3}" };
	unsigned rule = 1;

	REQUIRE(crs != NULL);
	CHECK_INT(run(crs, WAF_BLOCK, &normal, &rule, NULL), ==, WAF_PASS);
	CHECK_INT(rule, ==, 0);
	CHECK_INT(run(crs, WAF_BLOCK, &form, NULL, NULL), ==, WAF_PASS);
	CHECK_INT(run(crs, WAF_BLOCK, &json, NULL, NULL), ==, WAF_PASS);
}

static void
test_waf_inspects_form_and_json_bodies(void)
{
	static const struct req form = { .method = "POST", .target = "/login",
	    .content_type = "application/x-www-form-urlencoded",
	    .body = "user=admin&pass=x%27%20or%201%3D1--" };
	static const struct req json = { .method = "POST", .target = "/api/items",
	    .content_type = "application/json",
	    .body = "{\"name\": \"<script>alert(document.cookie)</script>\"}" };
	static const struct req broken = { .method = "POST", .target = "/api/items",
	    .content_type = "application/json",
	    .body = "{\"name\": \"widget\", " };
	unsigned rule = 0;
	int status = 0;

	REQUIRE(crs != NULL);
	CHECK_INT(run(crs, WAF_BLOCK, &form, &rule, NULL), ==, WAF_DENY);
	CHECK_INT(rule / 1000, ==, 942);
	CHECK_INT(run(crs, WAF_BLOCK, &json, &rule, NULL), ==, WAF_DENY);
	CHECK_INT(rule / 1000, ==, 941);
	CHECK_INT(run(crs, WAF_BLOCK, &broken, &rule, &status), ==, WAF_DENY);
	CHECK_INT(status, ==, 400);
	CHECK_INT(rule, ==, 200002);
}

/*
 * A body over the limit: a valid but large JSON document is not refused
 * as unparsable, and what lies beyond the limit is not inspected (the
 * documented ProcessPartial behaviour); an attack inside the limit of a
 * large form still is.
 */
static void
test_waf_bounds_body_inspection(void)
{
	size_t n = WAF_BODY_MAX * 2;
	char *big = malloc(n + 64), *form = malloc(n + 64);
	struct req q = { .method = "POST", .target = "/api/items",
	    .content_type = "application/json", .body = big };
	struct waf_tx *tx;

	REQUIRE(crs != NULL && big && form);
	memset(big, ' ', n);
	memcpy(big, "{\"a\": \"b\"", 9);
	strcpy(big + n - 40, ", \"x\": \"1' or 1=1--\"}");
	CHECK_INT(run(crs, WAF_BLOCK, &q, NULL, NULL), ==, WAF_PASS);
	snprintf(form, n, "q=1%%27%%20or%%201%%3D1--&pad=");
	memset(form + strlen(form), 'a', n - strlen(form));
	form[n] = '\0';
	q.content_type = "application/x-www-form-urlencoded";
	q.body = form;
	CHECK_INT(run(crs, WAF_BLOCK, &q, NULL, NULL), ==, WAF_DENY);
	/* the transaction stops asking for bytes past the limit */
	tx = waf_tx_new(crs, WAF_BLOCK, "r");
	REQUIRE(tx != NULL);
	CHECK_INT(waf_tx_body_wanted(tx), ==, 0);	/* head first */
	waf_tx_request_line(tx, "POST", 4, "/", 1, "1.1");
	waf_tx_header(tx, "Host", 4, "a.example.com", 13);
	CHECK_INT(waf_tx_headers_done(tx), ==, WAF_PASS);
	CHECK_INT(waf_tx_body_wanted(tx), ==, WAF_BODY_MAX + 1);
	waf_tx_body(tx, form, n);
	CHECK_INT(waf_tx_body_wanted(tx), ==, 0);
	waf_tx_free(tx);
	free(big);
	free(form);
}

/* Run fn with stderr going to a file; return what was written. */
static char *
capture_stderr(enum waf_verdict (*fn)(unsigned *), unsigned *rule,
    enum waf_verdict *v)
{
	const char *path = harness_tmpfile(".log", "");
	int saved = dup(2), fd = open(path, O_WRONLY | O_TRUNC);
	char *out = calloc(1, 8192);
	FILE *f;

	fflush(stderr);
	dup2(fd, 2);
	*v = fn(rule);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	if ((f = fopen(path, "r")) != NULL) {
		if (fread(out, 1, 8191, f) == 0)
			out[0] = '\0';
		fclose(f);
	}
	return out;
}

static enum waf_verdict
detect_sqli(unsigned *rule)
{
	return run(crs, WAF_DETECT, &sqli, rule, NULL);
}

static enum waf_verdict
block_xss(unsigned *rule)
{
	return run(crs, WAF_BLOCK, &xss, rule, NULL);
}

static void
test_waf_detect_mode_only_logs(void)
{
	enum waf_verdict v;
	unsigned rule = 0;
	char *log;

	REQUIRE(crs != NULL);
	log = capture_stderr(detect_sqli, &rule, &v);
	CHECK_INT(v, ==, WAF_PASS);
	CHECK_INT(rule, ==, 942100);
	CHECK(strstr(log, "waf: request req-1 flagged (detect mode)") != NULL);
	CHECK(strstr(log, "rule 942100 \"SQL Injection Attack Detected") !=
	    NULL);
	CHECK(strstr(log, "Inbound Anomaly Score Exceeded") != NULL);
	/* request data is never quoted */
	CHECK(strstr(log, "1' OR") == NULL);
	free(log);
	log = capture_stderr(block_xss, &rule, &v);
	CHECK_INT(v, ==, WAF_DENY);
	CHECK(strstr(log, "waf: request req-1 blocked in phase 2: rule "
	    "941") != NULL);
	CHECK(strstr(log, "<script>") == NULL);
	free(log);
}

static void
test_waf_loads_own_rule_file_and_directory(void)
{
	static const char rule[] = "SecRule ARGS:x \"@streq evil\" "
	    "\"id:1001,phase:2,deny,status:418,log,msg:'custom rule'\"\n";
	static const struct req evil = { .method = "GET",
	    .target = "/?x=evil" };
	char dir[] = "/tmp/limen-waf-XXXXXX", path[128];
	struct waf_rules *r;
	struct diag d;
	unsigned id = 0;
	int status = 0;
	FILE *f;

	diag_init(&d);
	r = waf_rules_load(harness_tmpfile(".conf", rule), &d);
	REQUIRE(r != NULL);
	CHECK_INT(run(r, WAF_BLOCK, &evil, &id, &status), ==, WAF_DENY);
	CHECK_INT(status, ==, 418);
	CHECK_INT(id, ==, 1001);
	CHECK_INT(run(r, WAF_BLOCK, &normal, NULL, NULL), ==, WAF_PASS);
	/* without the CRS, this SQL injection is nobody's business */
	CHECK_INT(run(r, WAF_BLOCK, &sqli, NULL, NULL), ==, WAF_PASS);
	waf_rules_free(r);
	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/10-custom.conf", dir);
	REQUIRE((f = fopen(path, "w")) != NULL);
	fputs(rule, f);
	fclose(f);
	r = waf_rules_load(dir, &d);
	REQUIRE(r != NULL);
	CHECK_INT(run(r, WAF_BLOCK, &evil, NULL, &status), ==, WAF_DENY);
	waf_rules_free(r);
	unlink(path);
	rmdir(dir);
	CHECK_INT(d.n_errors, ==, 0);
	diag_free(&d);
}

static void
test_waf_rule_errors_are_config_errors(void)
{
	struct diag d;
	char *all;
	char dir[] = "/tmp/limen-waf-XXXXXX";

	diag_init(&d);
	CHECK(waf_rules_load("/nonexistent/rules", &d) == NULL);
	CHECK(waf_rules_load(harness_tmpfile(".conf",
	    "SecRule ARGS \"@rx x\" \"phase:2,deny\"\n"), &d) == NULL);
	CHECK(waf_rules_load(harness_tmpfile(".conf", "NoSuchDirective on\n"),
	    &d) == NULL);
	REQUIRE(mkdtemp(dir) != NULL);
	CHECK(waf_rules_load(dir, &d) == NULL);
	rmdir(dir);
	CHECK_INT(d.n_errors, ==, 4);
	all = diag_join(&d);
	CHECK(strstr(all, "no such file or directory") != NULL);
	CHECK(strstr(all, "waf rules: ") != NULL);
	CHECK(strstr(all, "no *.conf files") != NULL);
	free(all);
	diag_free(&d);
}

static void *
worker(void *arg)
{
	long bad = 0;

	for (int i = 0; i < 40; i++) {
		const struct req *q = (i % 3 == 0) ? &sqli :
		    (i % 3 == 1) ? &xss : &normal;
		enum waf_verdict want = q == &normal ? WAF_PASS : WAF_DENY;

		if (run(crs, WAF_BLOCK, q, NULL, NULL) != want)
			bad++;
	}
	*(long *)arg = bad;
	return NULL;
}

static void
test_waf_transactions_from_several_threads(void)
{
	pthread_t th[4];
	long bad[4];

	REQUIRE(crs != NULL);
	for (int i = 0; i < 4; i++)
		REQUIRE(pthread_create(&th[i], NULL, worker, &bad[i]) == 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(bad[i], ==, 0);
	}
}

HARNESS_MAIN(
    T(test_waf_block_mode_blocks_sqli_and_xss),
    T(test_waf_passes_normal_requests),
    T(test_waf_inspects_form_and_json_bodies),
    T(test_waf_bounds_body_inspection),
    T(test_waf_detect_mode_only_logs),
    T(test_waf_loads_own_rule_file_and_directory),
    T(test_waf_rule_errors_are_config_errors),
    T(test_waf_transactions_from_several_threads))
