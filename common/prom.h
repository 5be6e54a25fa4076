/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * prom.h — the Prometheus text exposition format (version 0.0.4), both
 * ways: a writer for limen's /metrics and a strict parser for reading
 * another exporter (the status page reads limen-backup's /metrics).
 *
 * The writer appends to a growable buffer and remembers an allocation
 * failure instead of reporting it on every call (check prom_out.failed
 * once at the end).  It escapes label values (backslash, double quote,
 * newline) and HELP texts (backslash, newline), and prints values the
 * way Prometheus reads them back: integers exactly, "+Inf", "-Inf",
 * "NaN".  A histogram is written from per-bucket (not cumulative) counts
 * with its _bucket{le=...} lines, the +Inf bucket, _sum and _count.
 *
 * The parser accepts exactly the text format: comment lines, HELP and
 * TYPE lines, and samples `name{label="value",...} value [timestamp]`;
 * anything else is an error with its line number.
 */
#ifndef LIMEN_COMMON_PROM_H
#define LIMEN_COMMON_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define PROM_MAX_LABELS 16
#define PROM_MAX_LINE 4096

struct prom_out {
	char *buf;
	size_t len, cap;
	bool failed;			/* an allocation failed: output incomplete */
};

struct prom_label {
	const char *name;
	const char *value;
};

void prom_out_init(struct prom_out *o);
void prom_out_free(struct prom_out *o);
void prom_printf(struct prom_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "# HELP name help\n# TYPE name type\n"; type is counter, gauge,
 * histogram, summary or untyped. */
void prom_family(struct prom_out *o, const char *name, const char *type,
    const char *help);
/* One sample line: name{labels} value. */
void prom_sample(struct prom_out *o, const char *name,
    const struct prom_label *labels, size_t n_labels, double value);
void prom_sample_u64(struct prom_out *o, const char *name,
    const struct prom_label *labels, size_t n_labels, uint64_t value);
/*
 * A histogram's samples: bounds[0..n_bounds) ascending (the +Inf bucket
 * is added), counts[0..n_bounds] per bucket (counts[n_bounds] above the
 * last bound), sum of the observed values.  labels may not contain "le".
 */
void prom_histogram(struct prom_out *o, const char *name,
    const struct prom_label *labels, size_t n_labels, const double *bounds,
    size_t n_bounds, const uint64_t *counts, double sum);

/* A value as Prometheus writes it, into out (>= 32 bytes). */
void prom_format_value(double v, char *out, size_t cap);

/*
 * Parse text[0..len).  cb is called for every sample with its name,
 * labels (values unescaped) and value; a non-zero return stops the parse
 * and is returned.  0, or -1 with "line N: reason" in err.
 */
typedef int (*prom_sample_cb)(void *arg, const char *name,
    const struct prom_label *labels, size_t n_labels, double value);
int prom_parse(const char *text, size_t len, prom_sample_cb cb, void *arg,
    char *err, size_t errlen);

/* The value of label `name` among labels, or NULL. */
const char *prom_label_get(const struct prom_label *labels, size_t n,
    const char *name);

#endif
