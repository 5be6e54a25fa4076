/* SPDX-License-Identifier: BSD-2-Clause */
/* diag.c — see diag.h. */
#include "conf/diag.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void
diag_init(struct diag *d)
{
	memset(d, 0, sizeof *d);
}

void
diag_free(struct diag *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->items[i].file);
		free(d->items[i].msg);
	}
	free(d->items);
	memset(d, 0, sizeof *d);
}

void
diag_add(struct diag *d, enum diag_severity sev, const char *file, int line,
    int col, const char *fmt, ...)
{
	struct diag_item *it;
	va_list ap;
	char *msg;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		void *p = realloc(d->items, cap * sizeof *d->items);
		if (p == NULL) {
			d->oom = true;
			return;
		}
		d->items = p;
		d->cap = cap;
	}
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	if (msg == NULL) {
		d->oom = true;
		return;
	}
	/* Allocation failures are reported as "out of memory", or with
	 * strerror(ENOMEM) when a read or a library call ran out. */
	if (strncmp(msg, "out of memory", 13) == 0 ||
	    strstr(msg, strerror(ENOMEM)) != NULL)
		d->oom = true;
	it = &d->items[d->n++];
	it->file = strdup(file ? file : "-");
	it->line = line;
	it->col = col;
	it->severity = sev;
	it->msg = msg;
	if (sev == DIAG_ERROR)
		d->n_errors++;
}

static int
item_cmp(const struct diag_item *a, const struct diag_item *b)
{
	int c = strcmp(a->file ? a->file : "", b->file ? b->file : "");
	if (c)
		return c;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return 0;
}

void
diag_sort(struct diag *d)
{
	/* insertion sort: stable, and lists are short */
	for (size_t i = 1; i < d->n; i++) {
		struct diag_item t = d->items[i];
		size_t j = i;
		while (j > 0 && item_cmp(&d->items[j - 1], &t) > 0) {
			d->items[j] = d->items[j - 1];
			j--;
		}
		d->items[j] = t;
	}
}

static int
format_item(const struct diag_item *it, char *buf, size_t cap)
{
	const char *sev = it->severity == DIAG_ERROR ? "error" : "warning";
	if (it->line > 0)
		return snprintf(buf, cap, "%s:%d:%d: %s: %s", it->file,
		    it->line, it->col, sev, it->msg);
	return snprintf(buf, cap, "%s: %s: %s", it->file, sev, it->msg);
}

void
diag_print(const struct diag *d, FILE *out)
{
	char line[4096];
	for (size_t i = 0; i < d->n; i++) {
		format_item(&d->items[i], line, sizeof line);
		fprintf(out, "%s\n", line);
	}
}

char *
diag_join(const struct diag *d)
{
	size_t len = 0, cap = 1024;
	char *s = malloc(cap), line[4096];

	if (s == NULL)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < d->n; i++) {
		int n = format_item(&d->items[i], line, sizeof line);
		if (n < 0)
			continue;
		if ((size_t)n >= sizeof line)
			n = sizeof line - 1;
		while (len + (size_t)n + 2 > cap) {
			char *p = realloc(s, cap * 2);
			if (p == NULL)
				return s;
			s = p;
			cap *= 2;
		}
		memcpy(s + len, line, (size_t)n);
		len += (size_t)n;
		s[len++] = '\n';
		s[len] = '\0';
	}
	return s;
}
