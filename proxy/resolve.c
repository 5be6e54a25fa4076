/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * resolve.c — DNS names of pool servers.
 *
 * resolve_startup runs once per new name while a configuration is built
 * (getaddrinfo: blocking, but only at load, off the request path), so the
 * first requests have servers.
 *
 * After that the control thread (health.c) re-resolves each name with
 * evdns, without blocking: an A and an AAAA query at once, every
 * `resolve_interval`, or after the smallest record TTL when that is
 * shorter (at least 1 s).  If neither query finds an address, evdns's
 * getaddrinfo is asked too, which also reads /etc/hosts.  Every address
 * becomes a server ("api.svc:8000 (10.1.2.3)", weight of the entry); when
 * the addresses of a name changed, a new server set is built — servers
 * still present keep their objects and state — and published atomically
 * (pool_publish).  A lookup that finds nothing keeps the last good
 * servers and is tried again sooner (5 s at most).  Nameservers come from
 * global.resolvers (tests point it at their own DNS server) or
 * /etc/resolv.conf.
 */
#include "proxy/resolve.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/util.h>

#include "common/log.h"
#include "proxy/pool_internal.h"

#define RESOLVE_MAX_ADDRS	256
#define RESOLVE_MIN_MS		1000
#define RESOLVE_RETRY_MS	5000

struct resolve;

/* One configured server given by name. */
struct rs_name {
	struct resolve *r;
	struct pool *pool;
	const struct conf_server *e;
	struct event *timer;
	struct evdns_request *req4, *req6;
	struct evdns_getaddrinfo_request *gai;
	int pending;			/* callbacks to come (+1 while issuing) */
	bool dead;			/* freed when pending reaches 0 */
	bool failing;			/* the last lookup found nothing */
	bool tried_gai;
	struct sockaddr_storage addrs[RESOLVE_MAX_ADDRS];
	socklen_t addr_lens[RESOLVE_MAX_ADDRS];
	size_t n_addrs;
	int64_t ttl_ms;			/* smallest TTL seen, -1 = none */
	int last_err;
};

struct resolve {
	struct event_base *base;
	struct evdns_base *dns;
	/* bases replaced after a reload changed the nameservers: freed a
	 * little later, once the callbacks of cancelled lookups have run */
	struct evdns_base *old_dns[4];
	size_t n_old_dns;
	struct event *gc;
	char **servers;			/* the nameservers dns was built with */
	size_t n_servers;
	struct rs_name **names;
	size_t n_names;
};

/* "api.svc:8000 (10.1.2.3)" */
static void
resolve_server_name(const struct conf_server *e, const struct sockaddr *sa,
    char *buf, size_t len)
{
	char addr[80];

	server_addr_text(sa, addr, sizeof(addr));
	snprintf(buf, len, "%s (%s)", e->addr.text, addr);
}

/* Add a server for address sa of entry e unless set has it already:
 * `reuse` (the current set) lends its object if it has this one. */
static int
resolve_add(const struct conf_server *e, struct server_set *set,
    struct server_set *reuse, const struct sockaddr *sa, socklen_t sa_len)
{
	char name[512];
	struct server *s;
	int rc;

	if (server_set_find_addr(set, sa, sa_len) != NULL)
		return 0;
	s = server_set_find_addr(reuse, sa, sa_len);
	if (s != NULL && strcmp(s->host_header, e->addr.text) == 0)
		return server_set_add(set, s);
	resolve_server_name(e, sa, name, sizeof(name));
	if ((s = server_new(name, e->addr.text, sa, sa_len, e->weight)) ==
	    NULL)
		return -1;
	rc = server_set_add(set, s);
	server_unref(s);
	return rc;
}

int
resolve_startup(const struct conf_pool *conf, const struct conf_server *e,
    struct server_set *set)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", e->addr.port);
	if ((rc = getaddrinfo(e->addr.host, port, &hints, &res)) != 0) {
		log_warnx("pool: %s: %s: %s; no servers until it resolves",
		    conf->name, e->addr.text, gai_strerror(rc));
		return 0;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(struct sockaddr_storage))
			continue;
		if (resolve_add(e, set, NULL, ai->ai_addr, ai->ai_addrlen) ==
		    -1) {
			freeaddrinfo(res);
			return -1;
		}
	}
	freeaddrinfo(res);
	return 0;
}

static void
resolve_ms(struct timeval *tv, int64_t ms)
{
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

static void
resolve_name_free(struct rs_name *n)
{
	if (n->timer != NULL)
		event_free(n->timer);
	free(n);
}

/* Record one address of an answer. */
static void
resolve_name_addr(struct rs_name *n, const struct sockaddr *sa,
    socklen_t len)
{
	size_t i;

	if (n->n_addrs >= RESOLVE_MAX_ADDRS || len > sizeof(n->addrs[0]))
		return;
	for (i = 0; i < n->n_addrs; i++)
		if (n->addr_lens[i] == len && memcmp(&n->addrs[i], sa, len) == 0)
			return;
	memcpy(&n->addrs[n->n_addrs], sa, len);
	n->addr_lens[n->n_addrs++] = len;
}

/* Whether the entry's servers in set are exactly the addresses found. */
static bool
resolve_same(struct rs_name *n, struct server_set *set, size_t *had)
{
	size_t i, mine = 0;
	struct server *s;

	for (i = 0; i < set->n; i++)
		if (strcmp(set->servers[i]->host_header, n->e->addr.text) == 0)
			mine++;
	*had = mine;
	if (mine != n->n_addrs)
		return false;
	for (i = 0; i < n->n_addrs; i++) {
		s = server_set_find_addr(set, (struct sockaddr *)&n->addrs[i],
		    n->addr_lens[i]);
		if (s == NULL || strcmp(s->host_header, n->e->addr.text) != 0)
			return false;
	}
	return true;
}

static void
resolve_log_change(struct rs_name *n, size_t had)
{
	char list[512], one[80];
	size_t i, len = 0;

	list[0] = '\0';
	for (i = 0; i < n->n_addrs && len + sizeof(one) < sizeof(list); i++) {
		server_addr_text((struct sockaddr *)&n->addrs[i], one,
		    sizeof(one));
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
		    i ? " " : "", one);
	}
	log_info("resolve: %s: %s: %zu addresses (was %zu): %s%s",
	    n->pool->conf->name, n->e->addr.text, n->n_addrs, had, list,
	    i < n->n_addrs ? " ..." : "");
}

/* Publish a new set if the addresses of n changed. */
static void
resolve_publish(struct rs_name *n)
{
	const char *pname = n->pool->conf->name;
	struct server_set *cur, *set = NULL;
	size_t i, had;

	if ((cur = pool_servers(n->pool)) == NULL)
		return;
	if (resolve_same(n, cur, &had)) {
		server_set_unref(cur);
		return;
	}
	if ((set = server_set_new()) == NULL)
		goto fail;
	for (i = 0; i < cur->n; i++)
		if (strcmp(cur->servers[i]->host_header, n->e->addr.text) != 0 &&
		    server_set_add(set, cur->servers[i]) == -1)
			goto fail;
	for (i = 0; i < n->n_addrs; i++)
		if (resolve_add(n->e, set, cur, (struct sockaddr *)&n->addrs[i],
		    n->addr_lens[i]) == -1)
			goto fail;
	server_set_unref(cur);
	cur = NULL;
	if (pool_publish(n->pool, set) == -1) {
		log_warnx("resolve: %s: %s: out of memory", pname,
		    n->e->addr.text);
		return;
	}
	resolve_log_change(n, had);
	return;
fail:
	log_warnx("resolve: %s: %s: out of memory", pname, n->e->addr.text);
	server_set_unref(set);
	server_set_unref(cur);
}

static void resolve_gai_cb(int err, struct evutil_addrinfo *res, void *arg);

/* All answers are in: publish and schedule the next lookup. */
static void
resolve_name_done(struct rs_name *n)
{
	struct evutil_addrinfo hints;
	struct timeval tv;
	int64_t next = (int64_t)n->pool->conf->resolve_interval_ms;
	char port[8];

	if (next <= 0)
		next = 30000;
	if (n->n_addrs == 0 && !n->tried_gai) {
		/* nothing from DNS: maybe /etc/hosts knows it */
		n->tried_gai = true;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = EVUTIL_AI_NUMERICSERV;
		snprintf(port, sizeof(port), "%u", n->e->addr.port);
		n->pending += 2;	/* the callback, and a guard */
		n->gai = evdns_getaddrinfo(n->r->dns, n->e->addr.host, port,
		    &hints, resolve_gai_cb, n);
		if (--n->pending > 0)
			return;
	}
	if (n->n_addrs == 0) {
		if (!n->failing)
			log_warnx("resolve: %s: %s: %s; keeping the last "
			    "servers", n->pool->conf->name, n->e->addr.text,
			    n->last_err ? evdns_err_to_string(n->last_err) :
			    "no addresses");
		n->failing = true;
		if (next > RESOLVE_RETRY_MS)
			next = RESOLVE_RETRY_MS;
	} else {
		if (n->failing)
			log_info("resolve: %s: %s: resolves again",
			    n->pool->conf->name, n->e->addr.text);
		n->failing = false;
		resolve_publish(n);
		if (n->ttl_ms >= 0 && n->ttl_ms < next)
			next = n->ttl_ms;
	}
	if (next < RESOLVE_MIN_MS)
		next = RESOLVE_MIN_MS;
	resolve_ms(&tv, next);
	evtimer_add(n->timer, &tv);
}

/* One callback came back: finish when it was the last. */
static void
resolve_name_step(struct rs_name *n)
{
	if (--n->pending > 0)
		return;
	if (n->dead)
		resolve_name_free(n);
	else
		resolve_name_done(n);
}

static void
resolve_dns_cb(int result, char type, int count, int ttl, void *addresses,
    void *arg)
{
	struct rs_name *n = arg;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	int i;

	if (type == DNS_IPv4_A)
		n->req4 = NULL;
	else if (type == DNS_IPv6_AAAA)
		n->req6 = NULL;
	else
		n->req4 = n->req6 = NULL;	/* an error without a type */
	if (n->dead || result != DNS_ERR_NONE) {
		if (result != DNS_ERR_NONE && result != DNS_ERR_NODATA)
			n->last_err = result;
		resolve_name_step(n);
		return;
	}
	for (i = 0; i < count; i++) {
		if (type == DNS_IPv4_A) {
			memset(&sin, 0, sizeof(sin));
			sin.sin_family = AF_INET;
			sin.sin_port = htons(n->e->addr.port);
			memcpy(&sin.sin_addr, (char *)addresses + 4 * i, 4);
			resolve_name_addr(n, (struct sockaddr *)&sin,
			    sizeof(sin));
		} else if (type == DNS_IPv6_AAAA) {
			memset(&sin6, 0, sizeof(sin6));
			sin6.sin6_family = AF_INET6;
			sin6.sin6_port = htons(n->e->addr.port);
			memcpy(&sin6.sin6_addr, (char *)addresses + 16 * i, 16);
			resolve_name_addr(n, (struct sockaddr *)&sin6,
			    sizeof(sin6));
		}
	}
	if (count > 0 && ttl >= 0 &&
	    (n->ttl_ms < 0 || (int64_t)ttl * 1000 < n->ttl_ms))
		n->ttl_ms = (int64_t)ttl * 1000;
	resolve_name_step(n);
}

static void
resolve_gai_cb(int err, struct evutil_addrinfo *res, void *arg)
{
	struct rs_name *n = arg;
	struct evutil_addrinfo *ai;

	n->gai = NULL;
	if (err == 0 && !n->dead)
		for (ai = res; ai != NULL; ai = ai->ai_next)
			if (ai->ai_family == AF_INET ||
			    ai->ai_family == AF_INET6)
				resolve_name_addr(n, ai->ai_addr,
				    (socklen_t)ai->ai_addrlen);
	if (res != NULL)
		evutil_freeaddrinfo(res);
	resolve_name_step(n);
}

static void
resolve_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rs_name *n = arg;

	if (n->pending > 0)
		return;
	n->n_addrs = 0;
	n->ttl_ms = -1;
	n->last_err = 0;
	n->tried_gai = false;
	/* a guard, so that an answer given at once cannot finish early */
	n->pending = 3;
	n->req4 = evdns_base_resolve_ipv4(n->r->dns, n->e->addr.host, 0,
	    resolve_dns_cb, n);
	if (n->req4 == NULL)
		n->pending--;
	n->req6 = evdns_base_resolve_ipv6(n->r->dns, n->e->addr.host, 0,
	    resolve_dns_cb, n);
	if (n->req6 == NULL)
		n->pending--;
	resolve_name_step(n);
}

/* Stop n: cancel its lookups; it is freed when their callbacks ran. */
static void
resolve_name_kill(struct rs_name *n)
{
	n->dead = true;
	evtimer_del(n->timer);
	n->pending++;
	if (n->req4 != NULL)
		evdns_cancel_request(n->r->dns, n->req4);
	if (n->req6 != NULL)
		evdns_cancel_request(n->r->dns, n->req6);
	if (n->gai != NULL)
		evdns_getaddrinfo_cancel(n->gai);
	resolve_name_step(n);
}

static void
resolve_names_kill(struct resolve *r)
{
	size_t i;

	for (i = 0; i < r->n_names; i++)
		resolve_name_kill(r->names[i]);
	free(r->names);
	r->names = NULL;
	r->n_names = 0;
}

static bool
resolve_same_servers(struct resolve *r, const struct conf_global *g)
{
	size_t i;

	if (r->dns == NULL || r->n_servers != g->n_resolvers)
		return false;
	for (i = 0; i < g->n_resolvers; i++)
		if (strcmp(r->servers[i], g->resolvers[i]) != 0)
			return false;
	return true;
}

static void
resolve_servers_free(struct resolve *r)
{
	size_t i;

	for (i = 0; i < r->n_servers; i++)
		free(r->servers[i]);
	free(r->servers);
	r->servers = NULL;
	r->n_servers = 0;
}

/*
 * Shutdown, outside the loop: let cancelled lookups call back, then free
 * the evdns bases (failing what is left, whose callbacks run too).
 */
static void
resolve_dns_free(struct resolve *r)
{
	size_t j;
	int i;

	for (i = 0; i < 10; i++)
		event_base_loop(r->base, EVLOOP_NONBLOCK);
	if (r->dns != NULL)
		evdns_base_free(r->dns, 1);
	for (j = 0; j < r->n_old_dns; j++)
		evdns_base_free(r->old_dns[j], 1);
	r->dns = NULL;
	r->n_old_dns = 0;
	for (i = 0; i < 10; i++)
		event_base_loop(r->base, EVLOOP_NONBLOCK);
}

static void
resolve_gc_cb(evutil_socket_t fd, short what, void *arg)
{
	struct resolve *r = arg;
	size_t j;

	for (j = 0; j < r->n_old_dns; j++)
		evdns_base_free(r->old_dns[j], 1);
	r->n_old_dns = 0;
}

/* In the loop (a reload): retire the current evdns base. */
static void
resolve_dns_retire(struct resolve *r)
{
	struct timeval tv = { 2, 0 };

	if (r->dns == NULL)
		return;
	if (r->n_old_dns == sizeof(r->old_dns) / sizeof(r->old_dns[0]))
		resolve_gc_cb(-1, 0, r);	/* reloads in a burst */
	r->old_dns[r->n_old_dns++] = r->dns;
	r->dns = NULL;
	evtimer_add(r->gc, &tv);
}

static int
resolve_dns_new(struct resolve *r, const struct conf_global *g)
{
	size_t i;
	int rc;

	if ((r->dns = evdns_base_new(r->base, 0)) == NULL)
		return -1;
	evdns_base_set_option(r->dns, "timeout:", "2");
	evdns_base_set_option(r->dns, "attempts:", "2");
	evdns_base_set_option(r->dns, "randomize-case:", "0");
	if (g->n_resolvers == 0) {
		rc = evdns_base_resolv_conf_parse(r->dns, DNS_OPTIONS_ALL,
		    "/etc/resolv.conf");
		if (rc != 0 && rc != 6)	/* 6: no nameserver line */
			log_warnx("resolve: /etc/resolv.conf: error %d", rc);
		if (evdns_base_count_nameservers(r->dns) == 0)
			evdns_base_nameserver_ip_add(r->dns, "127.0.0.1");
		return 0;
	}
	if ((r->servers = calloc(g->n_resolvers, sizeof(*r->servers))) ==
	    NULL)
		return -1;
	for (i = 0; i < g->n_resolvers; i++) {
		if ((r->servers[r->n_servers] = strdup(g->resolvers[i])) ==
		    NULL)
			return -1;
		r->n_servers++;
		if (evdns_base_nameserver_ip_add(r->dns, g->resolvers[i]) != 0)
			log_warnx("resolve: nameserver %s: not an address",
			    g->resolvers[i]);
	}
	return 0;
}

struct resolve *
resolve_new(struct event_base *base)
{
	struct resolve *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->base = base;
	if ((r->gc = evtimer_new(base, resolve_gc_cb, r)) == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

void
resolve_apply(struct resolve *r, struct pools *p)
{
	const struct conf_pool *conf;
	struct rs_name *n, **grown;
	struct server_set *set;
	struct timeval tv;
	size_t i, j, k, have;
	bool any = false;

	resolve_names_kill(r);
	for (i = 0; p != NULL && i < p->n && !any; i++)
		for (j = 0; j < p->pools[i].conf->n_servers; j++)
			any |= p->pools[i].conf->servers[j].addr.is_name;
	if (!any)
		return;
	if (!resolve_same_servers(r, &p->config->global)) {
		resolve_dns_retire(r);
		resolve_servers_free(r);
		if (resolve_dns_new(r, &p->config->global) == -1) {
			log_warnx("resolve: cannot set up DNS; names are not "
			    "followed");
			resolve_dns_retire(r);
			resolve_servers_free(r);
			return;
		}
	}
	for (i = 0; i < p->n; i++) {
		conf = p->pools[i].conf;
		for (j = 0; j < conf->n_servers; j++) {
			if (!conf->servers[j].addr.is_name)
				continue;
			if ((n = calloc(1, sizeof(*n))) == NULL ||
			    (grown = realloc(r->names, (r->n_names + 1) *
			    sizeof(*grown))) == NULL) {
				free(n);
				log_warnx("resolve: out of memory");
				return;
			}
			r->names = grown;
			n->r = r;
			n->pool = &p->pools[i];
			n->e = &conf->servers[j];
			n->ttl_ms = -1;
			if ((n->timer = evtimer_new(r->base, resolve_timer_cb,
			    n)) == NULL) {
				free(n);
				log_warnx("resolve: out of memory");
				return;
			}
			r->names[r->n_names++] = n;
			/* resolved at load: next lookup after the interval,
			 * or soon if the name had no address then */
			have = 0;
			if ((set = pool_servers(n->pool)) != NULL) {
				for (k = 0; k < set->n; k++)
					have += strcmp(set->servers[k]->
					    host_header, n->e->addr.text) == 0;
				server_set_unref(set);
			}
			resolve_ms(&tv, have ? (int64_t)(conf->
			    resolve_interval_ms ? conf->resolve_interval_ms :
			    30000) : RESOLVE_MIN_MS);
			evtimer_add(n->timer, &tv);
		}
	}
}

void
resolve_free(struct resolve *r)
{
	if (r == NULL)
		return;
	resolve_names_kill(r);
	resolve_dns_free(r);
	resolve_servers_free(r);
	event_free(r->gc);
	free(r);
}
