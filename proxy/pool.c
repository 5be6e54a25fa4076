/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pool.c — live pools: servers, server sets, picking and releasing.
 *
 * Workers call pool_pick / pool_release on the request path; neither takes
 * a lock.  A pool's current server set is read through a hazard pointer
 * (the control thread may swap it after a DNS change and frees the old
 * one only when no worker still reads it); a picked server is kept alive
 * by its own reference until pool_release.  Server state is atomics: `up`
 * written by the control thread's active checks, `drained` by the admin
 * API, `active`, `fails`, `down_until_ms` and `requests` by the workers.
 *
 * Passive checks (pool_release): `max_fails` consecutive failed attempts
 * take a server out until now + fail_timeout.  The count is not reset
 * when the server goes out, so after the timeout one more failure takes
 * it out again at once (a half-open probe); one success resets it.
 *
 * pools_new carries state over a reload: a server of the same pool with
 * the same address keeps its object (and so its up/drained/active state)
 * if its weight is unchanged, else a new object copies the state.  Names
 * resolved before keep their addresses (the control thread re-resolves
 * them); new names are resolved once, synchronously, so the first
 * requests have servers.
 */
#include "proxy/pool.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "proxy/balance.h"
#include "proxy/hazard.h"
#include "proxy/pool_internal.h"
#include "proxy/resolve.h"

static atomic_uint_least64_t pool_set_gen = 1;

/* Sets swapped out by pool_publish, waiting for readers to leave. */
struct pool_retired {
	struct server_set *set;
	struct pool_retired *next;
};
static pthread_mutex_t pool_retired_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pool_retired *pool_retired_list;

int64_t
pool_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
server_addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

	buf[0] = '\0';
	if (sa->sa_family == AF_INET &&
	    inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof(ip)) != NULL)
		snprintf(buf, len, "%s:%u", ip, ntohs(in4->sin_port));
	else if (sa->sa_family == AF_INET6 &&
	    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip)) != NULL)
		snprintf(buf, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
	return buf;
}

struct server *
server_new(const char *name, const char *host_header,
    const struct sockaddr *sa, socklen_t sa_len, uint32_t weight)
{
	struct server *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->name = strdup(name)) == NULL ||
	    (s->host_header = strdup(host_header)) == NULL)
		goto fail;
	if (sa_len > sizeof(s->sa))
		goto fail;
	memcpy(&s->sa, sa, sa_len);
	s->sa_len = sa_len;
	s->weight = weight ? weight : 1;
	atomic_init(&s->refs, 1);
	atomic_init(&s->up, true);
	atomic_init(&s->drained, false);
	atomic_init(&s->active, 0);
	atomic_init(&s->fails, 0);
	atomic_init(&s->down_until_ms, 0);
	atomic_init(&s->requests, 0);
	return s;
fail:
	free(s->name);
	free(s->host_header);
	free(s);
	return NULL;
}

void
server_copy_state(struct server *dst, const struct server *src)
{
	atomic_store(&dst->up, atomic_load(&src->up));
	atomic_store(&dst->drained, atomic_load(&src->drained));
	atomic_store(&dst->fails, atomic_load(&src->fails));
	atomic_store(&dst->down_until_ms, atomic_load(&src->down_until_ms));
}

void
server_ref(struct server *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void
server_unref(struct server *s)
{
	if (s == NULL ||
	    atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(s->name);
	free(s->host_header);
	free(s);
}

struct server_set *
server_set_new(void)
{
	struct server_set *set;

	if ((set = calloc(1, sizeof(*set))) == NULL)
		return NULL;
	atomic_init(&set->refs, 1);
	set->gen = atomic_fetch_add(&pool_set_gen, 1);
	return set;
}

int
server_set_add(struct server_set *set, struct server *s)
{
	struct server **grown;

	if ((grown = realloc(set->servers,
	    (set->n + 1) * sizeof(*grown))) == NULL)
		return -1;
	set->servers = grown;
	server_ref(s);
	s->index = set->n;
	set->servers[set->n++] = s;
	return 0;
}

struct server *
server_set_find_addr(struct server_set *set, const struct sockaddr *sa,
    socklen_t sa_len)
{
	size_t i;

	if (set == NULL)
		return NULL;
	for (i = 0; i < set->n; i++)
		if (set->servers[i]->sa_len == sa_len &&
		    memcmp(&set->servers[i]->sa, sa, sa_len) == 0)
			return set->servers[i];
	return NULL;
}

void
server_set_unref(struct server_set *set)
{
	size_t i;

	if (set == NULL ||
	    atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (i = 0; i < set->n; i++)
		server_unref(set->servers[i]);
	if (set->lb_free != NULL)
		set->lb_free(set->lb);
	free(set->servers);
	free(set);
}

/* The server of prev named `name`, or NULL. */
static struct server *
pool_prev_find(struct server_set *prev, const char *name)
{
	size_t i;

	if (prev == NULL)
		return NULL;
	for (i = 0; i < prev->n; i++)
		if (strcmp(prev->servers[i]->name, name) == 0)
			return prev->servers[i];
	return NULL;
}

/*
 * Add a server of the new config to set: the object of the previous
 * config if it is the same server with the same weight, else a new one
 * that copies the previous state.
 */
static int
pool_add_carried(const struct conf_pool *conf, struct server_set *set,
    struct server_set *prev, const char *name, const char *host_header, const struct sockaddr *sa,
    socklen_t sa_len, uint32_t weight)
{
	struct server *old, *s;
	int rc;

	old = pool_prev_find(prev, name);
	if (old != NULL && old->weight == (weight ? weight : 1) &&
	    strcmp(old->host_header, host_header) == 0 &&
	    old->sa_len == sa_len && memcmp(&old->sa, sa, sa_len) == 0) {
		s = old;
		server_ref(s);
	} else {
		if ((s = server_new(name, host_header, sa, sa_len, weight)) ==
		    NULL)
			return -1;
		if (old != NULL)
			server_copy_state(s, old);
	}
	/* no active checks any more: nothing would ever bring it up */
	if (!conf->health.enabled)
		atomic_store(&s->up, true);
	rc = server_set_add(set, s);
	server_unref(s);
	return rc;
}

/* The servers of one configured entry, resolved by name if needed. */
static int
pool_add_entry(struct server_set *set, struct server_set *prev,
    const struct conf_pool *conf, const struct conf_server *e)
{
	struct server *s;
	size_t i, before = set->n;

	if (!e->addr.is_name)
		return pool_add_carried(conf, set, prev, e->addr.text,
		    e->addr.text,
		    (const struct sockaddr *)&e->addr.sa, e->addr.sa_len,
		    e->weight);
	/* a name resolved before: keep its servers until the next lookup */
	for (i = 0; prev != NULL && i < prev->n; i++) {
		s = prev->servers[i];
		if (strcmp(s->host_header, e->addr.text) != 0 ||
		    server_set_find_addr(set, (struct sockaddr *)&s->sa,
		    s->sa_len) != NULL)
			continue;
		if (pool_add_carried(conf, set, prev, s->name, s->host_header,
		    (struct sockaddr *)&s->sa, s->sa_len, e->weight) == -1)
			return -1;
	}
	if (set->n > before)
		return 0;
	return resolve_startup(conf, e, set);
}

static int
pool_init(struct pool *p, const struct conf_pool *conf, struct pool *prev,
    unsigned n_workers)
{
	struct server_set *set = NULL, *prev_set = NULL;
	size_t i;

	p->conf = conf;
	if ((p->balance = balance_new(conf, n_workers)) == NULL)
		return -1;
	if (prev != NULL)
		prev_set = pool_servers(prev);
	if ((set = server_set_new()) == NULL)
		goto fail;
	for (i = 0; i < conf->n_servers; i++)
		if (pool_add_entry(set, prev_set, conf, &conf->servers[i]) == -1)
			goto fail;
	if (balance_set_init(conf, set) == -1)
		goto fail;
	atomic_init(&p->set, set);
	server_set_unref(prev_set);
	return 0;
fail:
	server_set_unref(set);
	server_set_unref(prev_set);
	return -1;
}

static struct pool *
pools_find_name(struct pools *ps, const char *name)
{
	size_t i;

	if (ps == NULL)
		return NULL;
	for (i = 0; i < ps->n; i++)
		if (strcmp(ps->pools[i].conf->name, name) == 0)
			return &ps->pools[i];
	return NULL;
}

struct pools *
pools_new(const struct config *c, struct pools *prev, unsigned n_workers)
{
	struct pools *ps;
	size_t i;

	if ((ps = calloc(1, sizeof(*ps))) == NULL)
		return NULL;
	atomic_init(&ps->refs, 1);
	ps->n_workers = n_workers ? n_workers : 1;
	if (c->n_pools > 0 &&
	    (ps->pools = calloc(c->n_pools, sizeof(*ps->pools))) == NULL) {
		free(ps);
		return NULL;
	}
	ps->config = (struct config *)c;
	conf_ref(ps->config);
	for (i = 0; i < c->n_pools; i++) {
		if (pool_init(&ps->pools[i], &c->pools[i],
		    pools_find_name(prev, c->pools[i].name),
		    ps->n_workers) == -1)
			goto fail;
		ps->n = i + 1;
	}
	return ps;
fail:
	/* the failed pool cleaned its set; its balancer is freed here */
	balance_free(ps->pools[i].balance);
	pools_unref(ps);
	return NULL;
}

void
pools_ref(struct pools *p)
{
	atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void
pools_unref(struct pools *p)
{
	size_t i;

	if (p == NULL ||
	    atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
		return;
	/* nobody picks from these pools any more: free the sets directly */
	for (i = 0; i < p->n; i++) {
		server_set_unref(atomic_load(&p->pools[i].set));
		balance_free(p->pools[i].balance);
	}
	free(p->pools);
	conf_unref(p->config);
	free(p);
}

struct pool *
pools_find(struct pools *p, const struct conf_pool *conf)
{
	size_t i;

	if (p == NULL || conf == NULL)
		return NULL;
	if (conf->index < p->n && p->pools[conf->index].conf == conf)
		return &p->pools[conf->index];
	for (i = 0; i < p->n; i++)
		if (p->pools[i].conf == conf)
			return &p->pools[i];
	return pools_find_name(p, conf->name);
}

struct server *
pool_pick(struct pool *p, const struct pick_ctx *ctx)
{
	struct server_set *set;
	struct server *s;

	set = hazard_protect((void *_Atomic *)&p->set);
	s = balance_pick(p->balance, set, ctx, pool_now_ms());
	if (s != NULL) {
		server_ref(s);
		atomic_fetch_add_explicit(&s->active, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->requests, 1,
		    memory_order_relaxed);
	}
	hazard_clear();
	return s;
}

static const char *
pool_outcome_text(enum pool_outcome o)
{
	switch (o) {
	case POOL_FAIL_CONNECT:
		return "connect failed";
	case POOL_FAIL_RESET:
		return "connection reset";
	case POOL_FAIL_TIMEOUT:
		return "response timeout";
	default:
		return "ok";
	}
}

/* A failed attempt: count it, and take the server out at max_fails. */
static void
pool_passive_fail(struct pool *p, struct server *s, enum pool_outcome o)
{
	const struct conf_pool *conf = p->conf;
	unsigned n;
	int64_t now, old;

	if (conf->max_fails == 0)
		return;
	n = atomic_fetch_add(&s->fails, 1) + 1;
	if (n < conf->max_fails)
		return;
	now = pool_now_ms();
	old = atomic_load(&s->down_until_ms);
	if (old > now)
		return;		/* already out: another worker saw it too */
	if (atomic_compare_exchange_strong(&s->down_until_ms, &old,
	    now + (int64_t)conf->fail_timeout_ms))
		log_warnx("pool: %s/%s: out for %llums after %u failures (%s)",
		    conf->name, s->name,
		    (unsigned long long)conf->fail_timeout_ms, n,
		    pool_outcome_text(o));
}

void
pool_release(struct pool *p, struct server *s, enum pool_outcome o)
{
	if (s == NULL)
		return;
	atomic_fetch_sub_explicit(&s->active, 1, memory_order_relaxed);
	switch (o) {
	case POOL_OK:
		/* read first: a healthy server's line is not written */
		if (atomic_load_explicit(&s->fails, memory_order_relaxed) != 0)
			atomic_store(&s->fails, 0);
		break;
	case POOL_FAIL_CONNECT:
	case POOL_FAIL_RESET:
	case POOL_FAIL_TIMEOUT:
		if (p != NULL)
			pool_passive_fail(p, s, o);
		break;
	case POOL_ABORTED:
		break;
	}
	server_unref(s);
}

bool
pool_any_usable(struct pool *p)
{
	struct server_set *set;
	int64_t now = pool_now_ms();
	bool any = false;
	size_t i;

	set = hazard_protect((void *_Atomic *)&p->set);
	for (i = 0; set != NULL && i < set->n && !any; i++)
		any = balance_usable(set->servers[i], NULL, now);
	hazard_clear();
	return any;
}

int
pool_set_drained(struct pool *p, const char *address, bool drained)
{
	struct server_set *set;
	struct server *s;
	char buf[INET6_ADDRSTRLEN + 16];
	size_t i;
	int found = 0;

	if ((set = pool_servers(p)) == NULL)
		return -1;
	for (i = 0; i < set->n; i++) {
		s = set->servers[i];
		/* the name, the configured address (all its records), or
		 * the IP and port of one record */
		if (strcmp(s->name, address) != 0 &&
		    strcmp(s->host_header, address) != 0 &&
		    strcmp(server_addr_text((struct sockaddr *)&s->sa, buf,
		    sizeof(buf)), address) != 0)
			continue;
		atomic_store(&s->drained, drained);
		log_info("pool: %s/%s: %s", p->conf->name, s->name,
		    drained ? "drained" : "enabled");
		found = 1;
	}
	server_set_unref(set);
	return found ? 0 : -1;
}

const char *
pool_cookie_value(const char *cookie, size_t len, const char *name,
    size_t *vlen)
{
	size_t nl = strlen(name), i = 0, start, end, eq;

	while (i < len) {
		while (i < len && (cookie[i] == ' ' || cookie[i] == '\t' ||
		    cookie[i] == ';'))
			i++;
		start = i;
		while (i < len && cookie[i] != ';')
			i++;
		end = i;
		while (end > start && (cookie[end - 1] == ' ' ||
		    cookie[end - 1] == '\t'))
			end--;
		for (eq = start; eq < end && cookie[eq] != '='; eq++)
			;
		if (eq == end || eq - start != nl ||
		    memcmp(cookie + start, name, nl) != 0)
			continue;
		eq++;
		if (end - eq >= 2 && cookie[eq] == '"' && cookie[end - 1] == '"') {
			eq++;
			end--;
		}
		*vlen = end - eq;
		return cookie + eq;
	}
	return NULL;
}

struct server_set *
pool_servers(struct pool *p)
{
	struct server_set *set;

	set = hazard_protect((void *_Atomic *)&p->set);
	if (set != NULL)
		atomic_fetch_add(&set->refs, 1);
	hazard_clear();
	return set;
}

int
pool_publish(struct pool *p, struct server_set *set)
{
	struct pool_retired *r;
	struct server_set *old;

	if (balance_set_init(p->conf, set) == -1 ||
	    (r = malloc(sizeof(*r))) == NULL) {
		server_set_unref(set);
		return -1;
	}
	old = atomic_exchange(&p->set, set);
	r->set = old;
	pthread_mutex_lock(&pool_retired_lock);
	r->next = pool_retired_list;
	pool_retired_list = r;
	pthread_mutex_unlock(&pool_retired_lock);
	return 0;
}

void
pool_reclaim(bool all)
{
	struct pool_retired **rp, *r;
	struct timespec pause = { 0, 1000000 };

	pthread_mutex_lock(&pool_retired_lock);
	for (;;) {
		rp = &pool_retired_list;
		while ((r = *rp) != NULL) {
			if (hazard_in_use(r->set)) {
				rp = &r->next;
				continue;
			}
			*rp = r->next;
			server_set_unref(r->set);
			free(r);
		}
		if (!all || pool_retired_list == NULL)
			break;
		/* readers hold a set for one pick only: this is short */
		nanosleep(&pause, NULL);
	}
	pthread_mutex_unlock(&pool_retired_lock);
}
