/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * prom.c — the Prometheus text format: writer and strict parser (see
 * prom.h).
 */
#include "common/prom.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- writer --------------------------------------------------------------- */

void
prom_out_init(struct prom_out *o)
{
	memset(o, 0, sizeof(*o));
}

void
prom_out_free(struct prom_out *o)
{
	free(o->buf);
	memset(o, 0, sizeof(*o));
}

static int
prom_reserve(struct prom_out *o, size_t more)
{
	size_t cap;
	char *p;

	if (o->failed)
		return -1;
	if (o->len + more + 1 <= o->cap)
		return 0;
	cap = o->cap ? o->cap : 4096;
	while (cap < o->len + more + 1)
		cap *= 2;
	if ((p = realloc(o->buf, cap)) == NULL) {
		o->failed = true;
		return -1;
	}
	o->buf = p;
	o->cap = cap;
	return 0;
}

static void
prom_put(struct prom_out *o, const char *s, size_t n)
{
	if (prom_reserve(o, n) == -1)
		return;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

void
prom_printf(struct prom_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || prom_reserve(o, (size_t)n) == -1) {
		o->failed = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(o->buf + o->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	o->len += (size_t)n;
}

/* Escape s: in label values \ " and newline, in HELP texts \ and newline. */
static void
prom_put_escaped(struct prom_out *o, const char *s, bool quote)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		const char *rep = NULL;

		if (*s == '\\')
			rep = "\\\\";
		else if (*s == '\n')
			rep = "\\n";
		else if (*s == '"' && quote)
			rep = "\\\"";
		if (rep == NULL)
			continue;
		prom_put(o, run, (size_t)(s - run));
		prom_put(o, rep, 2);
		run = s + 1;
	}
	prom_put(o, run, (size_t)(s - run));
}

void
prom_family(struct prom_out *o, const char *name, const char *type,
    const char *help)
{
	prom_printf(o, "# HELP %s ", name);
	prom_put_escaped(o, help, false);
	prom_printf(o, "\n# TYPE %s %s\n", name, type);
}

static void
prom_put_labels(struct prom_out *o, const struct prom_label *l, size_t n,
    const char *le)
{
	if (n == 0 && le == NULL)
		return;
	prom_put(o, "{", 1);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			prom_put(o, ",", 1);
		prom_printf(o, "%s=\"", l[i].name);
		prom_put_escaped(o, l[i].value ? l[i].value : "", true);
		prom_put(o, "\"", 1);
	}
	if (le != NULL)
		prom_printf(o, "%sle=\"%s\"", n > 0 ? "," : "", le);
	prom_put(o, "}", 1);
}

void
prom_format_value(double v, char *out, size_t cap)
{
	if (isnan(v))
		snprintf(out, cap, "NaN");
	else if (isinf(v))
		snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		snprintf(out, cap, "%.0f", v);
	else
		snprintf(out, cap, "%.17g", v);
	/* %.17g is exact but may be long; prefer the shortest that reads
	 * back to the same double. */
	if (!isnan(v) && !isinf(v) && v != floor(v)) {
		for (int prec = 1; prec < 17; prec++) {
			char tmp[40];

			snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
			if (strtod(tmp, NULL) == v) {
				snprintf(out, cap, "%s", tmp);
				break;
			}
		}
	}
}

void
prom_sample(struct prom_out *o, const char *name,
    const struct prom_label *labels, size_t n_labels, double value)
{
	char v[40];

	prom_format_value(value, v, sizeof(v));
	prom_put(o, name, strlen(name));
	prom_put_labels(o, labels, n_labels, NULL);
	prom_printf(o, " %s\n", v);
}

void
prom_sample_u64(struct prom_out *o, const char *name,
    const struct prom_label *labels, size_t n_labels, uint64_t value)
{
	prom_put(o, name, strlen(name));
	prom_put_labels(o, labels, n_labels, NULL);
	prom_printf(o, " %llu\n", (unsigned long long)value);
}

void
prom_histogram(struct prom_out *o, const char *name,
    const struct prom_label *labels, size_t n_labels, const double *bounds,
    size_t n_bounds, const uint64_t *counts, double sum)
{
	uint64_t cum = 0;
	char le[40], v[40];

	for (size_t i = 0; i <= n_bounds; i++) {
		cum += counts[i];
		if (i < n_bounds)
			prom_format_value(bounds[i], le, sizeof(le));
		else
			snprintf(le, sizeof(le), "+Inf");
		prom_printf(o, "%s_bucket", name);
		prom_put_labels(o, labels, n_labels, le);
		prom_printf(o, " %llu\n", (unsigned long long)cum);
	}
	prom_format_value(sum, v, sizeof(v));
	prom_printf(o, "%s_sum", name);
	prom_put_labels(o, labels, n_labels, NULL);
	prom_printf(o, " %s\n", v);
	prom_printf(o, "%s_count", name);
	prom_put_labels(o, labels, n_labels, NULL);
	prom_printf(o, " %llu\n", (unsigned long long)cum);
}

/* ---- parser --------------------------------------------------------------- */

static bool
prom_name_start(char c, bool colon)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	    (colon && c == ':');
}

static bool
prom_name_char(char c, bool colon)
{
	return prom_name_start(c, colon) || (c >= '0' && c <= '9');
}

/* Length of a metric (colon) or label name at s, 0 if none. */
static size_t
prom_name_len(const char *s, bool colon)
{
	size_t n = 0;

	if (!prom_name_start(s[0], colon))
		return 0;
	while (prom_name_char(s[n], colon))
		n++;
	return n;
}

static int
prom_parse_value(const char *s, double *out)
{
	char *end;

	if (*s == '\0' || strchr(" \t", *s) != NULL)
		return -1;
	/* strtod also reads hex and "infinity"; Go's ParseFloat (which
	 * Prometheus uses) reads those too, so this is not laxer. */
	errno = 0;
	*out = strtod(s, &end);
	if (end == s || *end != '\0' || (errno == ERANGE && !isinf(*out) &&
	    *out != 0))
		return -1;
	return 0;
}

static int
prom_parse_comment(char *line, char *err, size_t errlen)
{
	char *p = line + 1, *name;
	size_t n;
	bool type;

	while (*p == ' ' || *p == '\t')
		p++;
	if (strncmp(p, "HELP", 4) == 0 && (p[4] == ' ' || p[4] == '\t'))
		type = false;
	else if (strncmp(p, "TYPE", 4) == 0 && (p[4] == ' ' || p[4] == '\t'))
		type = true;
	else
		return 0;		/* an ordinary comment */
	p += 5;
	while (*p == ' ' || *p == '\t')
		p++;
	name = p;
	if ((n = prom_name_len(name, true)) == 0) {
		snprintf(err, errlen, "bad metric name in %s line",
		    type ? "TYPE" : "HELP");
		return -1;
	}
	p = name + n;
	if (*p != '\0' && *p != ' ' && *p != '\t') {
		snprintf(err, errlen, "bad metric name");
		return -1;
	}
	if (!type) {
		/* escapes in HELP: only \\ and \n */
		for (; *p != '\0'; p++)
			if (*p == '\\' && p[1] != '\\' && p[1] != 'n') {
				snprintf(err, errlen, "bad escape in HELP");
				return -1;
			} else if (*p == '\\') {
				p++;
			}
		return 0;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (strcmp(p, "counter") != 0 && strcmp(p, "gauge") != 0 &&
	    strcmp(p, "histogram") != 0 && strcmp(p, "summary") != 0 &&
	    strcmp(p, "untyped") != 0) {
		snprintf(err, errlen, "unknown metric type '%.40s'", p);
		return -1;
	}
	return 0;
}

static int
prom_parse_sample(char *line, prom_sample_cb cb, void *arg, char *err,
    size_t errlen)
{
	struct prom_label labels[PROM_MAX_LABELS];
	size_t n_labels = 0, n;
	char *p = line, *name, *w, *val, *ts;
	double value;

	if ((n = prom_name_len(p, true)) == 0) {
		snprintf(err, errlen, "bad metric name");
		return -1;
	}
	name = p;
	p += n;
	if (*p == '{') {
		*p++ = '\0';
		for (;;) {
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p == '}')
				break;
			if ((n = prom_name_len(p, false)) == 0) {
				snprintf(err, errlen, "bad label name");
				return -1;
			}
			if (n_labels == PROM_MAX_LABELS) {
				snprintf(err, errlen, "too many labels");
				return -1;
			}
			labels[n_labels].name = p;
			p += n;
			while (*p == ' ' || *p == '\t')
				*p++ = '\0';
			if (*p != '=') {
				snprintf(err, errlen, "expected '=' after label "
				    "name");
				return -1;
			}
			*p++ = '\0';
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p != '"') {
				snprintf(err, errlen, "expected '\"' to open a "
				    "label value");
				return -1;
			}
			w = ++p;
			labels[n_labels].value = w;
			for (;;) {
				if (*p == '\0') {
					snprintf(err, errlen, "unterminated "
					    "label value");
					return -1;
				}
				if (*p == '"')
					break;
				if (*p == '\\') {
					p++;
					if (*p == 'n')
						*w++ = '\n';
					else if (*p == '\\' || *p == '"')
						*w++ = *p;
					else {
						snprintf(err, errlen, "bad escape "
						    "in label value");
						return -1;
					}
					p++;
					continue;
				}
				*w++ = *p++;
			}
			p++;
			*w = '\0';
			for (size_t i = 0; i < n_labels; i++)
				if (strcmp(labels[i].name,
				    labels[n_labels].name) == 0) {
					snprintf(err, errlen, "duplicate label "
					    "'%s'", labels[i].name);
					return -1;
				}
			n_labels++;
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p == ',') {
				p++;
				continue;
			}
			if (*p != '}') {
				snprintf(err, errlen, "expected ',' or '}'");
				return -1;
			}
			break;
		}
		p++;		/* past '}' */
	}
	if (*p != ' ' && *p != '\t') {
		snprintf(err, errlen, "expected a space before the value");
		return -1;
	}
	*p++ = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	val = p;
	while (*p != '\0' && *p != ' ' && *p != '\t')
		p++;
	ts = NULL;
	if (*p != '\0') {
		*p++ = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '\0') {
			ts = p;
			while (*p != '\0' && *p != ' ' && *p != '\t')
				p++;
			while (*p == ' ' || *p == '\t')
				*p++ = '\0';
			if (*p != '\0') {
				snprintf(err, errlen, "trailing text after the "
				    "timestamp");
				return -1;
			}
		}
	}
	if (prom_parse_value(val, &value) == -1) {
		snprintf(err, errlen, "bad value '%.40s'", val);
		return -1;
	}
	if (ts != NULL) {
		char *end;

		if (*ts == '+')
			ts++;
		errno = 0;
		(void)strtoll(ts, &end, 10);
		if (end == ts || *end != '\0' || errno != 0) {
			snprintf(err, errlen, "bad timestamp");
			return -1;
		}
	}
	return cb != NULL ? cb(arg, name, labels, n_labels, value) : 0;
}

int
prom_parse(const char *text, size_t len, prom_sample_cb cb, void *arg,
    char *err, size_t errlen)
{
	char line[PROM_MAX_LINE + 1], why[160];
	size_t pos = 0, lineno = 0;
	int rc;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;

		lineno++;
		if (n > PROM_MAX_LINE) {
			snprintf(err, errlen, "line %zu: too long", lineno);
			return -1;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + (nl ? 1 : 0);
		if (memchr(line, '\0', n) != NULL) {
			snprintf(err, errlen, "line %zu: NUL byte", lineno);
			return -1;
		}
		why[0] = '\0';
		if (n == 0)
			continue;
		if (line[0] == '#')
			rc = prom_parse_comment(line, why, sizeof(why));
		else
			rc = prom_parse_sample(line, cb, arg, why, sizeof(why));
		if (rc == -1 && why[0] != '\0') {
			snprintf(err, errlen, "line %zu: %s", lineno, why);
			return -1;
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

const char *
prom_label_get(const struct prom_label *labels, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(labels[i].name, name) == 0)
			return labels[i].value;
	return NULL;
}
