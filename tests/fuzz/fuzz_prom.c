/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_prom.c — libFuzzer target for the Prometheus text parser (the
 * admin thread reads limen-backup's /metrics with it).
 *
 * Invariants checked: every sample the parser reports has a valid metric
 * name and valid label names; writing the samples back with the writer
 * and parsing that again gives the same samples (names, labels, values).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/prom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct pass {
	struct prom_out out;
	unsigned n;
	const char *want_name;		/* second pass: compare */
	char (*names)[PROM_MAX_LINE + 1];
	double *values;
	unsigned cap;
};

static int
valid_name(const char *s, int colon)
{
	if (*s == '\0' || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_' || (colon && *s == ':')))
			return 0;
	return 1;
}

static int
first_cb(void *arg, const char *name, const struct prom_label *l, size_t n,
    double v)
{
	struct pass *p = arg;

	if (!valid_name(name, 1))
		abort();
	for (size_t i = 0; i < n; i++)
		if (!valid_name(l[i].name, 0) || l[i].value == NULL)
			abort();
	prom_sample(&p->out, name, l, n, v);
	if (p->n < p->cap) {
		strncpy(p->names[p->n], name, PROM_MAX_LINE);
		p->values[p->n] = v;
	}
	p->n++;
	return 0;
}

static int
second_cb(void *arg, const char *name, const struct prom_label *l, size_t n,
    double v)
{
	struct pass *p = arg;

	if (p->n < p->cap) {
		if (strcmp(p->names[p->n], name) != 0)
			abort();
		if (!(p->values[p->n] == v || (isnan(v) &&
		    isnan(p->values[p->n]))))
			abort();
	}
	p->n++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char names[64][PROM_MAX_LINE + 1];
	static double values[64];
	struct pass p = { .names = names, .values = values, .cap = 64 };
	char err[160];
	unsigned n1;

	prom_out_init(&p.out);
	if (prom_parse((const char *)data, size, first_cb, &p, err,
	    sizeof(err)) == 0 && !p.out.failed) {
		n1 = p.n;
		p.n = 0;
		/* the writer may lengthen a line (1e15 -> 1000000000000000)
		 * past PROM_MAX_LINE; anything else must read back */
		if (prom_parse(p.out.buf ? p.out.buf : "", p.out.len, second_cb,
		    &p, err, sizeof(err)) != 0) {
			if (strstr(err, "too long") == NULL)
				abort();
		} else if (p.n != n1) {
			abort();
		}
	}
	prom_out_free(&p.out);
	return 0;
}
