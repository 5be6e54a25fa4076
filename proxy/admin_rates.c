/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * admin_rates.c — "recent request rates" for the status page and the
 * status API: every ADMIN_RATE_PERIOD_MS the admin thread records the
 * counters it shows (per pool, server and route) in a ring covering
 * ADMIN_RATE_WINDOW_S; a rate is the difference between the value now
 * and the oldest sample in the ring, over the time between them.
 *
 * Counters are named by string keys ("route:LABEL", "server:POOL NAME",
 * ...); only the current configuration's routes and servers are sampled.
 * A key absent from every sample of the ring is forgotten, so servers
 * that DNS or a reload removed do not pile up.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/admin_internal.h"
#include "proxy/metrics.h"
#include "proxy/pool.h"
#include "proxy/snapshot.h"

#define RATE_SLOTS (ADMIN_RATE_WINDOW_S * 1000 / ADMIN_RATE_PERIOD_MS + 1)

struct rate_entry {
	char *key;
	double v[RATE_SLOTS];
	bool seen[RATE_SLOTS];
};

static struct {
	int64_t t_ms[RATE_SLOTS];	/* 0: slot unused */
	unsigned head;
	struct rate_entry *e;
	size_t n, cap;
} rates;

static int64_t
rates_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct rate_entry *
rates_find(const char *key, bool create)
{
	for (size_t i = 0; i < rates.n; i++)
		if (strcmp(rates.e[i].key, key) == 0)
			return &rates.e[i];
	if (!create)
		return NULL;
	if (rates.n == rates.cap) {
		size_t cap = rates.cap ? rates.cap * 2 : 32;
		struct rate_entry *e = realloc(rates.e, cap * sizeof(*e));

		if (e == NULL)
			return NULL;
		rates.e = e;
		rates.cap = cap;
	}
	memset(&rates.e[rates.n], 0, sizeof(rates.e[0]));
	if ((rates.e[rates.n].key = strdup(key)) == NULL)
		return NULL;
	return &rates.e[rates.n++];
}

static void
rates_record(const char *key, double v)
{
	struct rate_entry *e = rates_find(key, true);

	if (e != NULL) {
		e->v[rates.head] = v;
		e->seen[rates.head] = true;
	}
}

void
admin_rates_sample(struct snapshot *s)
{
	char key[1200];

	rates.head = (rates.head + 1) % RATE_SLOTS;
	rates.t_ms[rates.head] = rates_now_ms();
	for (size_t i = 0; i < rates.n; i++)
		rates.e[i].seen[rates.head] = false;

	/* the current routes, from the request counters */
	for (size_t r = 0; s != NULL && r < s->conf->n_routes; r++) {
		struct metrics_series_totals t;

		metrics_series_read(metrics_route_series(s, r), &t);
		snprintf(key, sizeof(key), "route:%s\x1f%s", t.route, t.pool);
		rates_record(key, (double)t.count);
		snprintf(key, sizeof(key), "route5xx:%s\x1f%s", t.route, t.pool);
		rates_record(key, (double)t.by_class[4]);
		snprintf(key, sizeof(key), "routesum:%s\x1f%s", t.route, t.pool);
		rates_record(key, t.sum_seconds);
	}
	/* servers, from their own counters */
	for (size_t p = 0; s != NULL && s->pools != NULL && p < s->pools->n;
	    p++) {
		struct pool *pl = &s->pools->pools[p];
		struct server_set *set = pool_servers(pl);

		for (size_t i = 0; set != NULL && i < set->n; i++) {
			snprintf(key, sizeof(key), "server:%s\x1f%s",
			    pl->conf->name, set->servers[i]->name);
			rates_record(key, (double)atomic_load(
			    &set->servers[i]->requests));
		}
		if (set != NULL)
			server_set_unref(set);
	}

	/* forget keys seen in no slot */
	for (size_t i = 0; i < rates.n;) {
		bool any = false;

		for (unsigned k = 0; k < RATE_SLOTS; k++)
			any = any || rates.e[i].seen[k];
		if (any) {
			i++;
			continue;
		}
		free(rates.e[i].key);
		rates.e[i] = rates.e[--rates.n];
	}
}

double
admin_rate(const char *key, double current)
{
	struct rate_entry *e = rates_find(key, false);
	int64_t now = rates_now_ms(), oldest_t = 0;
	double oldest_v = 0;

	if (e == NULL)
		return 0;
	/* the oldest sample still inside the window */
	for (unsigned k = 0; k < RATE_SLOTS; k++) {
		int64_t t = rates.t_ms[k];

		if (t == 0 || !e->seen[k] ||
		    now - t > (int64_t)ADMIN_RATE_WINDOW_S * 1000 +
		    ADMIN_RATE_PERIOD_MS)
			continue;
		if (oldest_t == 0 || t < oldest_t) {
			oldest_t = t;
			oldest_v = e->v[k];
		}
	}
	if (oldest_t == 0 || now - oldest_t < 500 || current < oldest_v)
		return 0;
	return (current - oldest_v) * 1000.0 / (double)(now - oldest_t);
}

void
admin_rates_free(void)
{
	for (size_t i = 0; i < rates.n; i++)
		free(rates.e[i].key);
	free(rates.e);
	memset(&rates, 0, sizeof(rates));
}
