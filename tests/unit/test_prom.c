/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_prom.c — the Prometheus text format writer (escaping, values,
 * histograms) and the strict parser that reads limen-backup's /metrics.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/prom.h"
#include "tests/unit/harness.h"

struct seen {
	int n;
	char name[64];
	char labels[256];
	double value;
};

static int
collect(void *arg, const char *name, const struct prom_label *l, size_t n,
    double v)
{
	struct seen *s = arg;

	s->n++;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->labels[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(s->labels);
		snprintf(s->labels + len, sizeof(s->labels) - len, "%s%s=%s",
		    i ? "," : "", l[i].name, l[i].value);
	}
	s->value = v;
	return 0;
}

static void
test_prom_escapes_label_values_and_help(void)
{
	struct prom_out o;
	struct prom_label l[2] = { { "route", "a\\b\"c\nd" }, { "pool", "" } };

	prom_out_init(&o);
	prom_family(&o, "x_total", "counter", "back\\slash\nnewline \"q\"");
	prom_sample_u64(&o, "x_total", l, 2, 7);
	REQUIRE(!o.failed);
	CHECK_STR(o.buf, "# HELP x_total back\\\\slash\\nnewline \"q\"\n"
	    "# TYPE x_total counter\n"
	    "x_total{route=\"a\\\\b\\\"c\\nd\",pool=\"\"} 7\n");
	prom_out_free(&o);
}

static void
test_prom_values_read_back(void)
{
	char b[40];

	prom_format_value(1, b, sizeof(b));
	CHECK_STR(b, "1");
	prom_format_value(0.005, b, sizeof(b));
	CHECK_STR(b, "0.005");
	prom_format_value(2.5, b, sizeof(b));
	CHECK_STR(b, "2.5");
	prom_format_value(INFINITY, b, sizeof(b));
	CHECK_STR(b, "+Inf");
	prom_format_value(-INFINITY, b, sizeof(b));
	CHECK_STR(b, "-Inf");
	prom_format_value(NAN, b, sizeof(b));
	CHECK_STR(b, "NaN");
	prom_format_value(1795473399, b, sizeof(b));
	CHECK_STR(b, "1795473399");
	prom_format_value(0.1 + 0.2, b, sizeof(b));
	CHECK(strtod(b, NULL) == 0.1 + 0.2);
}

static void
test_prom_histogram_is_cumulative_with_inf_sum_count(void)
{
	static const double bounds[2] = { 0.1, 1 };
	const uint64_t counts[3] = { 2, 3, 1 };
	struct prom_label l = { "route", "r" };
	struct prom_out o;

	prom_out_init(&o);
	prom_histogram(&o, "d_seconds", &l, 1, bounds, 2, counts, 4.5);
	CHECK_STR(o.buf,
	    "d_seconds_bucket{route=\"r\",le=\"0.1\"} 2\n"
	    "d_seconds_bucket{route=\"r\",le=\"1\"} 5\n"
	    "d_seconds_bucket{route=\"r\",le=\"+Inf\"} 6\n"
	    "d_seconds_sum{route=\"r\"} 4.5\n"
	    "d_seconds_count{route=\"r\"} 6\n");
	prom_out_free(&o);
}

static void
test_prom_parse_reads_what_the_writer_wrote(void)
{
	struct prom_label l = { "job", "we\"ird\\\nname" };
	struct prom_out o;
	struct seen s = { 0 };
	char err[128];

	prom_out_init(&o);
	prom_family(&o, "limen_backup_runs_total", "counter", "runs");
	prom_sample(&o, "limen_backup_runs_total", &l, 1, 3);
	CHECK_INT(prom_parse(o.buf, o.len, collect, &s, err, sizeof(err)),
	    ==, 0);
	CHECK_INT(s.n, ==, 1);
	CHECK_STR(s.name, "limen_backup_runs_total");
	CHECK_STR(s.labels, "job=we\"ird\\\nname");
	CHECK(s.value == 3);
	prom_out_free(&o);
}

static void
test_prom_parse_accepts_timestamps_specials_and_comments(void)
{
	const char *t = "# a comment\n\nup 1 1700000000000\n"
	    "x{a=\"1\",} +Inf\ny{ a = \"2\" } -1.5e3\nz NaN\n";
	struct seen s = { 0 };
	char err[128];

	CHECK_INT(prom_parse(t, strlen(t), collect, &s, err, sizeof(err)),
	    ==, 0);
	CHECK_INT(s.n, ==, 4);
}

static void
test_prom_parse_rejects_malformed_lines(void)
{
	static const char *const bad[] = {
		"1x 1\n", "x{a=1} 1\n", "x{a=\"1\" 1\n", "x{a=\"\\q\"} 1\n",
		"x 1 2 3\n", "x abc\n", "x{a=\"1\",a=\"2\"} 1\n", "x\n",
		"# TYPE x sideways\n", "x{=\"1\"} 1\n", "x 1 12.5\n",
		"x{a=\"unterminated} 1\n",
	};
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (prom_parse(bad[i], strlen(bad[i]), NULL, NULL, err,
		    sizeof(err)) != -1)
			harness_fail(__FILE__, __LINE__, "accepted: %s", bad[i]);
		else
			CHECK(strncmp(err, "line 1: ", 8) == 0);
	}
}

HARNESS_MAIN(
	T(test_prom_escapes_label_values_and_help),
	T(test_prom_values_read_back),
	T(test_prom_histogram_is_cumulative_with_inf_sum_count),
	T(test_prom_parse_reads_what_the_writer_wrote),
	T(test_prom_parse_accepts_timestamps_specials_and_comments),
	T(test_prom_parse_rejects_malformed_lines)
)
