/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * snapshot.c — see snapshot.h.
 */
#include "proxy/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "conf/diag.h"
#include "proxy/metrics.h"	/* admin hook */
#include "proxy/gateway.h"
#include "proxy/pool.h"
#include "proxy/ratelimit.h"
#include "proxy/router.h"
#include "proxy/tls_listen.h"

/* The same route in two configurations: same hosts and path. */
static bool
snapshot_route_same(const struct conf_route *a, const struct conf_route *b)
{
	const char *pa = a->path ? a->path : "/", *pb = b->path ? b->path : "/";

	if (a->n_hosts != b->n_hosts || strcmp(pa, pb) != 0)
		return false;
	for (size_t i = 0; i < a->n_hosts; i++)
		if (strcmp(a->hosts[i], b->hosts[i]) != 0)
			return false;
	return true;
}

/*
 * The limiter of route r: the previous configuration's, when the same
 * route had the same rate_limit there (its buckets carry over a reload,
 * so a client at its limit stays there), else a new one.
 */
static struct ratelimit *
snapshot_ratelimit(const struct conf_route *r, const struct snapshot *prev)
{
	if (prev != NULL && prev->ratelimits != NULL) {
		const struct config *pc = prev->conf;

		for (size_t j = 0; j < pc->n_routes; j++) {
			const struct conf_route *o = &pc->routes[j];

			if (prev->ratelimits[j] != NULL &&
			    ratelimit_conf_same(&o->rate_limit, &r->rate_limit) &&
			    snapshot_route_same(o, r))
				return ratelimit_ref(prev->ratelimits[j]);
		}
	}
	return ratelimit_new(&r->rate_limit);
}

static void
snapshot_free(struct snapshot *s)
{
	size_t i;

	if (s == NULL)
		return;
	if (s->conf != NULL) {
		for (i = 0; i < s->conf->n_routes; i++) {
			if (s->ratelimits != NULL)
				ratelimit_free(s->ratelimits[i]);
			if (s->static_root_fds != NULL &&
			    s->static_root_fds[i] >= 0)
				close(s->static_root_fds[i]);
		}
	}
	gateway_free(s->gateway);
	free(s->ratelimits);
	free(s->static_root_fds);
	metrics_map_free(s->metrics);	/* admin hook */
	tls_listen_set_free(s->tls);
	if (s->router != NULL)
		router_free(s->router);
	if (s->pools != NULL)
		pools_unref(s->pools);
	if (s->conf != NULL)
		conf_unref(s->conf);
	free(s);
}

struct snapshot *
snapshot_build(struct config *c, struct snapshot *prev, unsigned n_workers,
    struct diag *d)
{
	static atomic_uint_least64_t generations;
	struct snapshot *s;
	size_t i, n = c->n_routes;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		conf_unref(c);
		diag_error(d, c->path, 0, 0, "out of memory");
		return NULL;
	}
	atomic_init(&s->refs, 1);
	s->generation = atomic_fetch_add(&generations, 1) + 1;
	s->conf = c;
	s->ratelimits = calloc(n ? n : 1, sizeof(*s->ratelimits));
	s->static_root_fds = calloc(n ? n : 1, sizeof(int));
	if (s->ratelimits == NULL || s->static_root_fds == NULL)
		goto oom;
	for (i = 0; i < n; i++)
		s->static_root_fds[i] = -1;
	if ((s->router = router_new(c)) == NULL)
		goto oom;
	if ((s->metrics = metrics_map_new(c)) == NULL)	/* admin hook */
		goto oom;
	if ((s->pools = pools_new(c, prev ? prev->pools : NULL,
	    n_workers)) == NULL)
		goto oom;
	if ((s->gateway = gateway_new(c, d)) == NULL) {
		snapshot_free(s);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		const struct conf_route *r = &c->routes[i];

		if (r->rate_limit.enabled &&
		    (s->ratelimits[i] = snapshot_ratelimit(r, prev)) == NULL)
			goto oom;
		if (r->action == ACTION_STATIC) {
			/* Opened now, while still privileged, and kept: every
			 * file is opened beneath this descriptor. */
			s->static_root_fds[i] = open(r->static_files.root,
			    O_PATH | O_DIRECTORY | O_CLOEXEC);
			if (s->static_root_fds[i] == -1) {
				diag_error(d, c->path, r->line, r->col,
				    "static root %s: %s", r->static_files.root,
				    strerror(errno));
				snapshot_free(s);
				return NULL;
			}
		}
	}
	/* Last: it re-reads the certificate files into the live stores. */
	if ((s->tls = tls_listen_build(c, d)) == NULL) {
		snapshot_free(s);
		return NULL;
	}
	return s;
oom:
	diag_error(d, c->path, 0, 0, "out of memory building the configuration");
	snapshot_free(s);
	return NULL;
}

void
snapshot_ref(struct snapshot *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void
snapshot_unref(struct snapshot *s)
{
	if (s != NULL && atomic_fetch_sub_explicit(&s->refs, 1,
	    memory_order_acq_rel) == 1)
		snapshot_free(s);
}

struct wsnap *
wsnap_new(struct snapshot *s)
{
	struct wsnap *ws;

	if ((ws = malloc(sizeof(*ws))) == NULL)
		return NULL;
	snapshot_ref(s);
	ws->snap = s;
	ws->refs = 1;
	return ws;
}

void
wsnap_ref(struct wsnap *ws)
{
	ws->refs++;
}

void
wsnap_unref(struct wsnap *ws)
{
	if (ws != NULL && --ws->refs == 0) {
		snapshot_unref(ws->snap);
		free(ws);
	}
}
