/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * metrics.c — per-worker counters, the series registry, the rarely
 * changing tables (certificates, reloads) and the /metrics exposition.
 * See metrics.h for the design.
 *
 * Memory ordering: a worker is the only writer of its block and chunks;
 * it publishes a new chunk with a release store and readers load chunk
 * pointers with acquire.  Counter values are read relaxed: a scrape may
 * see a histogram bucket one request ahead of its _count, which
 * Prometheus tolerates (rate() over a window is what anyone reads).  To
 * keep _count == the +Inf bucket, both are computed from the buckets.
 */
#include "proxy/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/prom.h"
#include "proxy/exchange.h"
#include "proxy/pool.h"
#include "proxy/snapshot.h"
#include "proxy/worker.h"

#define METRICS_CHUNK 64		/* series per chunk */
#define METRICS_N_CHUNKS (METRICS_MAX_SERIES / METRICS_CHUNK)

const double metrics_bounds[METRICS_N_BOUNDS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};

/* The bounds in microseconds, for the request path. */
static const uint64_t metrics_bounds_us[METRICS_N_BOUNDS] = {
	5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
	2500000, 5000000, 10000000
};

static const char *const metrics_classes[METRICS_N_CLASSES] = {
	"1xx", "2xx", "3xx", "4xx", "5xx", "none"
};

/* One series' counters in one worker. */
struct metrics_ctr {
	atomic_uint_least64_t by_class[METRICS_N_CLASSES];
	atomic_uint_least64_t buckets[METRICS_N_BOUNDS + 1];
	atomic_uint_least64_t sum_us;
};

struct metrics_chunk {
	struct metrics_ctr ctr[METRICS_CHUNK];
};

/* One worker's block: written by that worker only. */
struct metrics_worker {
	_Atomic(struct metrics_chunk *) chunks[METRICS_N_CHUNKS];
	atomic_int_least64_t conn_open[METRICS_MAX_LISTENERS];
	atomic_uint_least64_t conn_accepted[METRICS_MAX_LISTENERS];
} __attribute__((aligned(64)));

struct metrics_map {
	size_t n_routes;
	unsigned *route_series;
	size_t n_listeners;
	unsigned *listener_series;
};

struct metrics_series {
	char *route;
	char *pool;
};

static _Atomic(struct metrics_worker *) metrics_workers[METRICS_MAX_WORKERS];

static struct {
	pthread_mutex_t mu;
	struct metrics_series series[METRICS_MAX_SERIES];
	atomic_uint n_series;
	char *listeners[METRICS_MAX_LISTENERS];
	atomic_uint n_listeners;

	struct metrics_cert *certs;
	bool *cert_marks;
	size_t n_certs, cap_certs;

	struct metrics_reloads reloads;
	time_t start;
} reg = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* ---- registry ------------------------------------------------------------- */

/* Caller holds reg.mu. */
static void
metrics_registry_init_locked(void)
{
	if (atomic_load(&reg.n_series) > 0)
		return;
	reg.start = time(NULL);
	reg.series[0].route = strdup("");
	reg.series[0].pool = strdup("");
	reg.listeners[0] = strdup("");
	atomic_store(&reg.n_series, 1);
	atomic_store(&reg.n_listeners, 1);
}

static unsigned
metrics_series_intern(const char *route, const char *pool)
{
	unsigned n = atomic_load(&reg.n_series);

	for (unsigned i = 0; i < n; i++)
		if (strcmp(reg.series[i].route, route) == 0 &&
		    strcmp(reg.series[i].pool, pool) == 0)
			return i;
	if (n == METRICS_MAX_SERIES)
		return METRICS_SERIES_NONE;
	if ((reg.series[n].route = strdup(route)) == NULL ||
	    (reg.series[n].pool = strdup(pool)) == NULL) {
		free(reg.series[n].route);
		reg.series[n].route = NULL;
		return METRICS_SERIES_NONE;
	}
	atomic_store_explicit(&reg.n_series, n + 1, memory_order_release);
	return n;
}

static unsigned
metrics_listener_intern(const char *name)
{
	unsigned n = atomic_load(&reg.n_listeners);

	for (unsigned i = 0; i < n; i++)
		if (strcmp(reg.listeners[i], name) == 0)
			return i;
	if (n == METRICS_MAX_LISTENERS || (reg.listeners[n] = strdup(name)) ==
	    NULL)
		return 0;
	atomic_store_explicit(&reg.n_listeners, n + 1, memory_order_release);
	return n;
}

size_t
metrics_route_label(const struct conf_route *r, char *out, size_t cap)
{
	size_t len = 0;
	int n;

	if (cap == 0)
		return 0;
	out[0] = '\0';
	for (size_t i = 0; i < r->n_hosts; i++) {
		n = snprintf(out + len, cap - len, "%s%s", i ? "," : "",
		    r->hosts[i]);
		if (n < 0 || (size_t)n >= cap - len)
			return strlen(out);
		len += (size_t)n;
	}
	if (r->n_hosts == 0) {
		n = snprintf(out, cap, "*");
		len = n > 0 && (size_t)n < cap ? (size_t)n : 0;
	}
	n = snprintf(out + len, cap - len, "%s", r->path ? r->path : "/");
	if (n > 0 && (size_t)n < cap - len)
		len += (size_t)n;
	return strlen(out);
}

struct metrics_map *
metrics_map_new(const struct config *c)
{
	struct metrics_map *m;
	char label[1024];

	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->route_series = calloc(c->n_routes + 1,
	    sizeof(*m->route_series))) == NULL ||
	    (m->listener_series = calloc(c->n_listeners + 1,
	    sizeof(*m->listener_series))) == NULL) {
		metrics_map_free(m);
		return NULL;
	}
	m->n_routes = c->n_routes;
	m->n_listeners = c->n_listeners;
	pthread_mutex_lock(&reg.mu);
	metrics_registry_init_locked();
	for (size_t i = 0; i < c->n_routes; i++) {
		const struct conf_route *r = &c->routes[i];

		metrics_route_label(r, label, sizeof(label));
		m->route_series[i] = metrics_series_intern(label,
		    r->action == ACTION_POOL && r->pool_name ? r->pool_name : "");
	}
	for (size_t i = 0; i < c->n_listeners; i++)
		m->listener_series[i] = metrics_listener_intern(
		    c->listeners[i].name ? c->listeners[i].name : "");
	pthread_mutex_unlock(&reg.mu);
	return m;
}

void
metrics_map_free(struct metrics_map *m)
{
	if (m == NULL)
		return;
	free(m->route_series);
	free(m->listener_series);
	free(m);
}

/* ---- the request path -------------------------------------------------------- */

static inline void
metrics_bump(atomic_uint_least64_t *p, uint64_t by)
{
	atomic_store_explicit(p, atomic_load_explicit(p,
	    memory_order_relaxed) + by, memory_order_relaxed);
}

/* The worker's own block, allocated on first use (by that worker). */
static struct metrics_worker *
metrics_worker_block(unsigned worker)
{
	struct metrics_worker *b;

	if (worker >= METRICS_MAX_WORKERS)
		return NULL;
	b = atomic_load_explicit(&metrics_workers[worker],
	    memory_order_relaxed);
	if (b != NULL)
		return b;
	if ((b = aligned_alloc(64, sizeof(*b))) == NULL)
		return NULL;
	memset(b, 0, sizeof(*b));
	atomic_store_explicit(&metrics_workers[worker], b,
	    memory_order_release);
	return b;
}

static struct metrics_ctr *
metrics_ctr_get(struct metrics_worker *b, unsigned series)
{
	struct metrics_chunk *ch;
	unsigned k = series / METRICS_CHUNK;

	ch = atomic_load_explicit(&b->chunks[k], memory_order_relaxed);
	if (ch == NULL) {
		if ((ch = aligned_alloc(64, sizeof(*ch))) == NULL)
			return NULL;
		memset(ch, 0, sizeof(*ch));
		atomic_store_explicit(&b->chunks[k], ch, memory_order_release);
	}
	return &ch->ctr[series % METRICS_CHUNK];
}

void
metrics_request_done(unsigned worker, const struct metrics_map *m,
    size_t route, int status, uint64_t duration_ns)
{
	struct metrics_worker *b;
	struct metrics_ctr *c;
	unsigned series = METRICS_SERIES_NONE, cls, k;
	uint64_t us = duration_ns / 1000;

	if (m != NULL && route < m->n_routes)
		series = m->route_series[route];
	if ((b = metrics_worker_block(worker)) == NULL ||
	    (c = metrics_ctr_get(b, series)) == NULL)
		return;
	cls = status >= 100 && status <= 599 ? (unsigned)(status / 100 - 1) :
	    METRICS_N_CLASSES - 1;
	for (k = 0; k < METRICS_N_BOUNDS && us > metrics_bounds_us[k]; k++)
		;
	metrics_bump(&c->by_class[cls], 1);
	metrics_bump(&c->buckets[k], 1);
	metrics_bump(&c->sum_us, us);
}

void
metrics_exchange_done(const struct exchange *x)
{
	const struct snapshot *s = x->ws != NULL ? x->ws->snap : NULL;

	metrics_request_done(x->w->id, s != NULL ? s->metrics : NULL,
	    x->route != NULL ? x->route->index : SIZE_MAX, x->status,
	    worker_now_ns() - x->start_ns);
}

unsigned
metrics_conn_open(unsigned worker, const struct snapshot *s,
    const struct conf_listener *l)
{
	struct metrics_worker *b;
	const struct metrics_map *m = s != NULL ? s->metrics : NULL;
	unsigned series = 0;

	if (m != NULL && l != NULL && l >= s->conf->listeners &&
	    (size_t)(l - s->conf->listeners) < m->n_listeners)
		series = m->listener_series[l - s->conf->listeners];
	if ((b = metrics_worker_block(worker)) != NULL) {
		atomic_store_explicit(&b->conn_open[series],
		    atomic_load_explicit(&b->conn_open[series],
		    memory_order_relaxed) + 1, memory_order_relaxed);
		metrics_bump(&b->conn_accepted[series], 1);
	}
	return series;
}

void
metrics_conn_close(unsigned worker, unsigned series)
{
	struct metrics_worker *b;

	if (series >= METRICS_MAX_LISTENERS ||
	    (b = metrics_worker_block(worker)) == NULL)
		return;
	atomic_store_explicit(&b->conn_open[series],
	    atomic_load_explicit(&b->conn_open[series],
	    memory_order_relaxed) - 1, memory_order_relaxed);
}

/* ---- reading ------------------------------------------------------------------ */

unsigned
metrics_n_series(void)
{
	return atomic_load_explicit(&reg.n_series, memory_order_acquire);
}

void
metrics_series_read(unsigned i, struct metrics_series_totals *t)
{
	uint64_t sum_us = 0;

	memset(t, 0, sizeof(*t));
	if (i >= metrics_n_series())
		return;
	t->route = reg.series[i].route;
	t->pool = reg.series[i].pool;
	for (unsigned w = 0; w < METRICS_MAX_WORKERS; w++) {
		struct metrics_worker *b = atomic_load_explicit(
		    &metrics_workers[w], memory_order_acquire);
		struct metrics_chunk *ch;
		struct metrics_ctr *c;

		if (b == NULL)
			continue;
		ch = atomic_load_explicit(&b->chunks[i / METRICS_CHUNK],
		    memory_order_acquire);
		if (ch == NULL)
			continue;
		c = &ch->ctr[i % METRICS_CHUNK];
		for (unsigned k = 0; k < METRICS_N_CLASSES; k++)
			t->by_class[k] += atomic_load_explicit(&c->by_class[k],
			    memory_order_relaxed);
		for (unsigned k = 0; k <= METRICS_N_BOUNDS; k++)
			t->buckets[k] += atomic_load_explicit(&c->buckets[k],
			    memory_order_relaxed);
		sum_us += atomic_load_explicit(&c->sum_us,
		    memory_order_relaxed);
	}
	for (unsigned k = 0; k <= METRICS_N_BOUNDS; k++)
		t->count += t->buckets[k];
	t->sum_seconds = (double)sum_us / 1e6;
}

unsigned
metrics_route_series(const struct snapshot *s, size_t route)
{
	if (s == NULL || s->metrics == NULL || route >= s->metrics->n_routes)
		return METRICS_SERIES_NONE;
	return s->metrics->route_series[route];
}

static void
metrics_listener_read_idx(unsigned idx, int64_t *open, uint64_t *accepted)
{
	*open = 0;
	*accepted = 0;
	for (unsigned w = 0; w < METRICS_MAX_WORKERS; w++) {
		struct metrics_worker *b = atomic_load_explicit(
		    &metrics_workers[w], memory_order_acquire);

		if (b == NULL)
			continue;
		*open += atomic_load_explicit(&b->conn_open[idx],
		    memory_order_relaxed);
		*accepted += atomic_load_explicit(&b->conn_accepted[idx],
		    memory_order_relaxed);
	}
	/* Opens and closes of one connection may be seen by different
	 * workers' sums at slightly different moments; never below 0. */
	if (*open < 0)
		*open = 0;
}

void
metrics_listener_read(const char *name, int64_t *open, uint64_t *accepted)
{
	unsigned n = atomic_load_explicit(&reg.n_listeners,
	    memory_order_acquire);

	*open = 0;
	*accepted = 0;
	for (unsigned i = 1; i < n; i++)
		if (strcmp(reg.listeners[i], name) == 0) {
			metrics_listener_read_idx(i, open, accepted);
			return;
		}
}

/* ---- certificates, ACME, reloads -------------------------------------------------- */

/* Caller holds reg.mu.  The entry for name, created if asked. */
static struct metrics_cert *
metrics_cert_find(const char *name, bool create, size_t *idx)
{
	for (size_t i = 0; i < reg.n_certs; i++)
		if (strcmp(reg.certs[i].name, name) == 0) {
			if (idx)
				*idx = i;
			return &reg.certs[i];
		}
	if (!create)
		return NULL;
	if (reg.n_certs == reg.cap_certs) {
		size_t cap = reg.cap_certs ? reg.cap_certs * 2 : 16;
		struct metrics_cert *c = realloc(reg.certs, cap * sizeof(*c));
		bool *m;

		if (c == NULL)
			return NULL;
		reg.certs = c;
		if ((m = realloc(reg.cert_marks, cap * sizeof(*m))) == NULL)
			return NULL;
		reg.cert_marks = m;
		reg.cap_certs = cap;
	}
	memset(&reg.certs[reg.n_certs], 0, sizeof(reg.certs[0]));
	snprintf(reg.certs[reg.n_certs].name, sizeof(reg.certs[0].name), "%s",
	    name);
	reg.cert_marks[reg.n_certs] = false;
	if (idx)
		*idx = reg.n_certs;
	return &reg.certs[reg.n_certs++];
}

static void
metrics_cert_delete_locked(size_t i)
{
	memmove(&reg.certs[i], &reg.certs[i + 1],
	    (reg.n_certs - i - 1) * sizeof(reg.certs[0]));
	memmove(&reg.cert_marks[i], &reg.cert_marks[i + 1],
	    (reg.n_certs - i - 1) * sizeof(reg.cert_marks[0]));
	reg.n_certs--;
}

void
metrics_cert_set(const char *name, time_t not_after, const char *source)
{
	struct metrics_cert *c;
	size_t i;

	pthread_mutex_lock(&reg.mu);
	if ((c = metrics_cert_find(name, true, &i)) != NULL) {
		c->not_after = not_after;
		snprintf(c->source, sizeof(c->source), "%s",
		    source ? source : "");
		reg.cert_marks[i] = false;
	}
	pthread_mutex_unlock(&reg.mu);
}

void
metrics_cert_remove(const char *name)
{
	size_t i;

	pthread_mutex_lock(&reg.mu);
	if (metrics_cert_find(name, false, &i) != NULL)
		metrics_cert_delete_locked(i);
	pthread_mutex_unlock(&reg.mu);
}

void
metrics_cert_mark(const char *source)
{
	pthread_mutex_lock(&reg.mu);
	for (size_t i = 0; i < reg.n_certs; i++)
		if (strcmp(reg.certs[i].source, source) == 0)
			reg.cert_marks[i] = true;
	pthread_mutex_unlock(&reg.mu);
}

void
metrics_cert_sweep(const char *source)
{
	pthread_mutex_lock(&reg.mu);
	for (size_t i = reg.n_certs; i-- > 0;)
		if (reg.cert_marks[i] &&
		    strcmp(reg.certs[i].source, source) == 0)
			metrics_cert_delete_locked(i);
	pthread_mutex_unlock(&reg.mu);
}

void
metrics_acme_failure(const char *name, const char *error)
{
	struct metrics_cert *c;

	pthread_mutex_lock(&reg.mu);
	if ((c = metrics_cert_find(name, true, NULL)) != NULL) {
		if (c->source[0] == '\0')
			snprintf(c->source, sizeof(c->source), "acme");
		c->acme_failures++;
		snprintf(c->last_error, sizeof(c->last_error), "%s",
		    error ? error : "failed");
		c->last_error_at = time(NULL);
	}
	pthread_mutex_unlock(&reg.mu);
}

void
metrics_acme_success(const char *name)
{
	struct metrics_cert *c;

	pthread_mutex_lock(&reg.mu);
	if ((c = metrics_cert_find(name, false, NULL)) != NULL)
		c->last_error[0] = '\0';
	pthread_mutex_unlock(&reg.mu);
}

static int
metrics_cert_cmp(const void *a, const void *b)
{
	return strcmp(((const struct metrics_cert *)a)->name,
	    ((const struct metrics_cert *)b)->name);
}

struct metrics_cert *
metrics_certs(size_t *n)
{
	struct metrics_cert *out;

	pthread_mutex_lock(&reg.mu);
	*n = reg.n_certs;
	if ((out = malloc((reg.n_certs + 1) * sizeof(*out))) != NULL &&
	    reg.n_certs > 0)
		memcpy(out, reg.certs, reg.n_certs * sizeof(*out));
	else
		*n = 0;
	pthread_mutex_unlock(&reg.mu);
	if (out != NULL && *n > 1)
		qsort(out, *n, sizeof(*out), metrics_cert_cmp);
	return out;
}

void
metrics_reload_done(bool ok, const char *error)
{
	pthread_mutex_lock(&reg.mu);
	if (ok)
		reg.reloads.ok++;
	else
		reg.reloads.failed++;
	reg.reloads.last_at = time(NULL);
	reg.reloads.last_ok = ok;
	snprintf(reg.reloads.last_error, sizeof(reg.reloads.last_error), "%s",
	    ok || error == NULL ? "" : error);
	pthread_mutex_unlock(&reg.mu);
}

void
metrics_reloads(struct metrics_reloads *r)
{
	pthread_mutex_lock(&reg.mu);
	*r = reg.reloads;
	pthread_mutex_unlock(&reg.mu);
}

time_t
metrics_start_time(void)
{
	time_t t;

	pthread_mutex_lock(&reg.mu);
	metrics_registry_init_locked();
	t = reg.start;
	pthread_mutex_unlock(&reg.mu);
	return t;
}

/* ---- exposition ----------------------------------------------------------------- */

static bool
metrics_series_current(const struct snapshot *s, unsigned i)
{
	if (s == NULL || s->metrics == NULL)
		return false;
	for (size_t r = 0; r < s->metrics->n_routes; r++)
		if (s->metrics->route_series[r] == i)
			return true;
	return false;
}

static void
metrics_render_requests(struct prom_out *o, struct snapshot *s)
{
	unsigned n = metrics_n_series();
	struct metrics_series_totals *t;

	if ((t = calloc(n, sizeof(*t))) == NULL) {
		o->failed = true;
		return;
	}
	for (unsigned i = 0; i < n; i++)
		metrics_series_read(i, &t[i]);

	prom_family(o, "limen_http_requests_total", "counter",
	    "Requests answered, by route, pool and status class (code=\"none\": "
	    "no response was sent).  route=\"\": no route matched.");
	for (unsigned i = 0; i < n; i++)
		for (unsigned k = 0; k < METRICS_N_CLASSES; k++) {
			struct prom_label l[3] = { { "route", t[i].route },
			    { "pool", t[i].pool }, { "code", metrics_classes[k] } };

			if (t[i].by_class[k] > 0)
				prom_sample_u64(o, "limen_http_requests_total",
				    l, 3, t[i].by_class[k]);
		}

	prom_family(o, "limen_http_request_duration_seconds", "histogram",
	    "Time from the start of a request to the end of its response, by "
	    "route and pool.");
	for (unsigned i = 0; i < n; i++) {
		struct prom_label l[2] = { { "route", t[i].route },
		    { "pool", t[i].pool } };

		if (t[i].count == 0 && !metrics_series_current(s, i))
			continue;
		prom_histogram(o, "limen_http_request_duration_seconds", l, 2,
		    metrics_bounds, METRICS_N_BOUNDS, t[i].buckets,
		    t[i].sum_seconds);
	}
	free(t);
}

static void
metrics_render_upstreams(struct prom_out *o, struct snapshot *s)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
		{ "limen_upstream_server_up", "gauge",
		  "1 if the server takes requests: healthy by the active "
		  "checks and not out after passive failures." },
		{ "limen_upstream_server_drained", "gauge",
		  "1 if the server was drained through the admin API." },
		{ "limen_upstream_server_active_requests", "gauge",
		  "Requests in flight to the server (all workers)." },
		{ "limen_upstream_server_requests_total", "counter",
		  "Attempts sent to the server." },
		{ "limen_pool_usable_servers", "gauge",
		  "Servers of the pool that take requests now (up, not "
		  "drained)." },
	};
	int64_t now = pool_now_ms();

	if (s == NULL || s->pools == NULL)
		return;
	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		prom_family(o, fam[f].name, fam[f].type, fam[f].help);
		for (size_t p = 0; p < s->pools->n; p++) {
			struct pool *pl = &s->pools->pools[p];
			struct server_set *set = pool_servers(pl);
			uint64_t usable = 0;

			if (set == NULL) {
				o->failed = true;
				continue;
			}
			for (size_t i = 0; i < set->n; i++) {
				struct server *sv = set->servers[i];
				struct prom_label l[2] = {
				    { "pool", pl->conf->name },
				    { "server", sv->name } };
				bool up = atomic_load(&sv->up) &&
				    atomic_load(&sv->down_until_ms) <= now;
				bool drained = atomic_load(&sv->drained);

				if (up && !drained)
					usable++;
				switch (f) {
				case 0:
					prom_sample_u64(o, fam[f].name, l, 2, up);
					break;
				case 1:
					prom_sample_u64(o, fam[f].name, l, 2,
					    drained);
					break;
				case 2:
					prom_sample_u64(o, fam[f].name, l, 2,
					    atomic_load(&sv->active));
					break;
				case 3:
					prom_sample_u64(o, fam[f].name, l, 2,
					    atomic_load(&sv->requests));
					break;
				default:
					break;
				}
			}
			if (f == 4) {
				struct prom_label l = { "pool", pl->conf->name };
				prom_sample_u64(o, fam[f].name, &l, 1, usable);
			}
			server_set_unref(set);
		}
	}
}

static void
metrics_render_listeners(struct prom_out *o)
{
	unsigned n = atomic_load_explicit(&reg.n_listeners,
	    memory_order_acquire);
	int64_t open[METRICS_MAX_LISTENERS];
	uint64_t acc[METRICS_MAX_LISTENERS];

	for (unsigned i = 0; i < n; i++)
		metrics_listener_read_idx(i, &open[i], &acc[i]);
	prom_family(o, "limen_connections_open", "gauge",
	    "Client connections open now, by listener.");
	for (unsigned i = 1; i < n; i++) {
		struct prom_label l = { "listener", reg.listeners[i] };
		prom_sample(o, "limen_connections_open", &l, 1,
		    (double)open[i]);
	}
	prom_family(o, "limen_connections_accepted_total", "counter",
	    "Client connections accepted, by listener.");
	for (unsigned i = 1; i < n; i++) {
		struct prom_label l = { "listener", reg.listeners[i] };
		prom_sample_u64(o, "limen_connections_accepted_total", &l, 1,
		    acc[i]);
	}
}

static void
metrics_render_certs(struct prom_out *o)
{
	struct metrics_cert *c;
	size_t n;

	if ((c = metrics_certs(&n)) == NULL) {
		o->failed = true;
		return;
	}
	prom_family(o, "limen_certificate_expiry_timestamp_seconds", "gauge",
	    "notAfter of the certificate served for a name (Unix time).");
	for (size_t i = 0; i < n; i++) {
		struct prom_label l[2] = { { "name", c[i].name },
		    { "source", c[i].source } };

		if (c[i].not_after > 0)
			prom_sample(o, "limen_certificate_expiry_timestamp_seconds",
			    l, 2, (double)c[i].not_after);
	}
	prom_family(o, "limen_acme_failures_total", "counter",
	    "ACME orders or renewals that failed, by name.");
	for (size_t i = 0; i < n; i++) {
		struct prom_label l = { "name", c[i].name };

		if (strcmp(c[i].source, "acme") == 0 || c[i].acme_failures > 0)
			prom_sample_u64(o, "limen_acme_failures_total", &l, 1,
			    c[i].acme_failures);
	}
	free(c);
}

void
metrics_exposition(struct prom_out *o, struct snapshot *s)
{
	struct metrics_reloads r;
	struct prom_label l;

	metrics_reloads(&r);
	prom_family(o, "limen_build_info", "gauge",
	    "Always 1; the version is in the label.");
	l = (struct prom_label){ "version", LIMEN_VERSION };
	prom_sample(o, "limen_build_info", &l, 1, 1);
	prom_family(o, "limen_start_time_seconds", "gauge",
	    "When the process started (Unix time).");
	prom_sample(o, "limen_start_time_seconds", NULL, 0,
	    (double)metrics_start_time());

	metrics_render_requests(o, s);
	metrics_render_upstreams(o, s);
	metrics_render_listeners(o);
	metrics_render_certs(o);

	prom_family(o, "limen_config_reloads_total", "counter",
	    "Reloads of the configuration, by result.");
	l = (struct prom_label){ "result", "success" };
	prom_sample_u64(o, "limen_config_reloads_total", &l, 1, r.ok);
	l = (struct prom_label){ "result", "failure" };
	prom_sample_u64(o, "limen_config_reloads_total", &l, 1, r.failed);
	prom_family(o, "limen_config_last_reload_success", "gauge",
	    "1 if the last reload succeeded (or none was tried), 0 if it "
	    "was rejected.");
	prom_sample(o, "limen_config_last_reload_success", NULL, 0,
	    r.last_at == 0 || r.last_ok ? 1 : 0);
	prom_family(o, "limen_config_last_reload_timestamp_seconds", "gauge",
	    "When the last reload was tried (Unix time; 0: never).");
	prom_sample(o, "limen_config_last_reload_timestamp_seconds", NULL, 0,
	    (double)r.last_at);
	if (s != NULL) {
		prom_family(o, "limen_config_generation", "gauge",
		    "Generation of the configuration in service.");
		prom_sample_u64(o, "limen_config_generation", NULL, 0,
		    s->generation);
		prom_family(o, "limen_config_loaded_timestamp_seconds", "gauge",
		    "When the configuration in service was loaded (Unix time).");
		prom_sample(o, "limen_config_loaded_timestamp_seconds", NULL, 0,
		    (double)s->conf->loaded_at);
	}
}
