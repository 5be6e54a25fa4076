/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * diag.h — a list of configuration problems with positions.
 *
 * The loader keeps going after a problem and appends every one here;
 * `limen check` and a rejected reload print them all, sorted by position,
 * as "FILE:LINE:COL: error: MESSAGE".  Line and column are 1-based; 0
 * means "no position" (e.g. the file cannot be opened).
 */
#ifndef LIMEN_CONF_DIAG_H
#define LIMEN_CONF_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum diag_severity { DIAG_ERROR, DIAG_WARNING };

struct diag_item {
	char *file;
	int line, col;
	enum diag_severity severity;
	char *msg;
};

struct diag {
	struct diag_item *items;
	size_t n, cap;
	size_t n_errors;
	bool oom;			/* an "out of memory" item, or one lost
					 * for want of memory: exit 2, not 1 */
};

void diag_init(struct diag *d);
void diag_free(struct diag *d);
void diag_add(struct diag *d, enum diag_severity sev, const char *file,
    int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
#define diag_error(d, file, line, col, ...) \
	diag_add(d, DIAG_ERROR, file, line, col, __VA_ARGS__)
#define diag_warning(d, file, line, col, ...) \
	diag_add(d, DIAG_WARNING, file, line, col, __VA_ARGS__)
/* Stable sort by file, line, column. */
void diag_sort(struct diag *d);
/* One line per item, "FILE:LINE:COL: error: MESSAGE". */
void diag_print(const struct diag *d, FILE *out);
/* The same, joined by newlines into a malloc'd string (for reload replies). */
char *diag_join(const struct diag *d);

#endif
