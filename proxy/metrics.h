/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * metrics.h — limen's Prometheus metrics (SPEC §6) and the counters the
 * status page reads.
 *
 * The request path writes only to memory its own worker owns: one
 * `struct metrics_worker` per worker (allocated by that worker, aligned to
 * a cache line), holding per-series counters and histogram buckets.  A
 * counter is bumped with a relaxed load and store (one writer, no locked
 * instruction); /metrics sums the workers' values when it is scraped.
 *
 * A series is one (route, pool) pair or one listener, interned by its
 * labels in a registry that only grows (so counters survive reloads and a
 * route that comes back continues its count).  Each snapshot carries a
 * `struct metrics_map` built with it (snapshot_build): route index and
 * listener index -> series, so the request path never looks anything up.
 *
 * Everything else (certificates, ACME failures, reloads) changes rarely
 * and lives under one mutex.  Upstream servers are read from the pools'
 * own atomics (pool.h) at scrape time.
 */
#ifndef LIMEN_PROXY_METRICS_H
#define LIMEN_PROXY_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "conf/config.h"

struct exchange;
struct prom_out;
struct snapshot;

#define METRICS_MAX_WORKERS 256
#define METRICS_MAX_SERIES 4096		/* (route, pool) pairs, ever */
#define METRICS_MAX_LISTENERS 64	/* listener names, ever */
#define METRICS_N_BOUNDS 11		/* request duration buckets (+Inf) */
#define METRICS_N_CLASSES 6		/* 1xx .. 5xx, and "none" */

/* Series 0 is "no route matched" (route="", pool=""). */
#define METRICS_SERIES_NONE 0u

struct metrics_map;

/* ---- building (control thread) ------------------------------------------ */

/* The series of config c's routes and listeners; NULL on allocation
 * failure (then everything counts under series 0 / listener 0). */
struct metrics_map *metrics_map_new(const struct config *c);
void metrics_map_free(struct metrics_map *m);
/* The label of route r as it appears in metrics: hosts joined by ',',
 * then the path ("app.example.com/api", "*\/").  Into out; its length. */
size_t metrics_route_label(const struct conf_route *r, char *out, size_t cap);

/* ---- the request path (worker thread `worker`) ---------------------------- */

/*
 * One exchange ended (status 0: no response was sent).  route is an
 * index into the map's config, or SIZE_MAX when no route matched.
 */
void metrics_request_done(unsigned worker, const struct metrics_map *m,
    size_t route, int status, uint64_t duration_ns);
/* The same, from the exchange itself (the hook in exchange_free). */
void metrics_exchange_done(const struct exchange *x);
/* A connection was accepted on listener l (of snapshot s); returns the
 * listener series to hand to metrics_conn_close when it ends. */
unsigned metrics_conn_open(unsigned worker, const struct snapshot *s,
    const struct conf_listener *l);
void metrics_conn_close(unsigned worker, unsigned listener_series);

/* ---- rare events (any thread) ------------------------------------------- */

/* A certificate for name is served until not_after.  source: "static",
 * "acme".  Replaces what was known for name. */
void metrics_cert_set(const char *name, time_t not_after, const char *source);
/* Forget name (its certificate is no longer served). */
void metrics_cert_remove(const char *name);
/* Forget every certificate of source that was not set again since
 * metrics_cert_mark(source) (static certificates after a reload). */
void metrics_cert_mark(const char *source);
void metrics_cert_sweep(const char *source);
/* An ACME attempt for name failed; error (may be NULL) is kept for the
 * status page until the next failure or success. */
void metrics_acme_failure(const char *name, const char *error);
/* An ACME attempt for name succeeded (clears the last error). */
void metrics_acme_success(const char *name);
/* A reload ended: live (ok) or rejected with error (may be NULL). */
void metrics_reload_done(bool ok, const char *error);

/* ---- reading (admin thread) ------------------------------------------------ */

/* Totals of one series, summed over the workers. */
struct metrics_series_totals {
	const char *route;		/* labels: owned by the registry */
	const char *pool;
	uint64_t by_class[METRICS_N_CLASSES];
	uint64_t buckets[METRICS_N_BOUNDS + 1];
	uint64_t count;
	double sum_seconds;
};

/* The number of series so far and the totals of series i. */
unsigned metrics_n_series(void);
void metrics_series_read(unsigned i, struct metrics_series_totals *t);
/* The series of route index `route` in snapshot s (SERIES_NONE if none). */
unsigned metrics_route_series(const struct snapshot *s, size_t route);
/* Open connections and accepted connections of the listener named name. */
void metrics_listener_read(const char *name, int64_t *open, uint64_t *accepted);

struct metrics_cert {
	char name[256];
	char source[16];
	time_t not_after;		/* 0: no certificate (ACME only failed) */
	uint64_t acme_failures;
	char last_error[256];		/* "" if none since the last success */
	time_t last_error_at;
};
/* A copy of the certificate table, sorted by name; *n entries; free(). */
struct metrics_cert *metrics_certs(size_t *n);

struct metrics_reloads {
	uint64_t ok, failed;
	time_t last_at;			/* 0: never reloaded */
	bool last_ok;
	char last_error[512];
};
void metrics_reloads(struct metrics_reloads *r);
time_t metrics_start_time(void);

/* The whole exposition for snapshot s (the current configuration). */
void metrics_exposition(struct prom_out *o, struct snapshot *s);

/* The request duration bucket bounds, in seconds. */
extern const double metrics_bounds[METRICS_N_BOUNDS];

#endif
