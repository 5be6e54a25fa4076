/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pool_fixture.h — hand-built configurations with one pool of IP servers
 * for the pool and balancer unit tests (the YAML loader is not needed).
 * The test keeps its own reference to the config, so pools_unref never
 * frees it; fixture_free does.
 */
#ifndef LIMEN_TESTS_POOL_FIXTURE_H
#define LIMEN_TESTS_POOL_FIXTURE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "proxy/pool.h"

static inline void
fixture_addr(struct conf_addr *a, const char *ip, unsigned port)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)&a->sa;
	char buf[64];

	memset(a, 0, sizeof(*a));
	snprintf(buf, sizeof(buf), "%s:%u", ip, port);
	a->text = strdup(buf);
	a->host = strdup(ip);
	a->port = (uint16_t)port;
	in4->sin_family = AF_INET;
	in4->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &in4->sin_addr);
	a->sa_len = sizeof(*in4);
}

/* A config with one pool "p" of n servers 10.0.0.(i+1):8000. */
static inline struct config *
fixture_config(enum conf_balance b, const uint32_t *weights, size_t n)
{
	struct config *c = calloc(1, sizeof(*c));
	struct conf_pool *p = calloc(1, sizeof(*p));
	char ip[32];
	size_t i;

	atomic_init(&c->refs, 1);
	c->pools = p;
	c->n_pools = 1;
	p->name = strdup("p");
	p->balance = b;
	p->hash_key = HASH_CLIENT_IP;
	p->servers = calloc(n ? n : 1, sizeof(*p->servers));
	p->n_servers = n;
	for (i = 0; i < n; i++) {
		snprintf(ip, sizeof(ip), "10.0.0.%zu", i + 1);
		fixture_addr(&p->servers[i].addr, ip, 8000);
		p->servers[i].weight = weights ? weights[i] : 1;
	}
	p->resolve_interval_ms = 30000;
	p->max_fails = 3;
	p->fail_timeout_ms = 10000;
	p->retries = 1;
	return c;
}

static inline void
fixture_free(struct config *c)
{
	size_t i, j;

	for (i = 0; i < c->n_pools; i++) {
		for (j = 0; j < c->pools[i].n_servers; j++) {
			free(c->pools[i].servers[j].addr.text);
			free(c->pools[i].servers[j].addr.host);
		}
		free(c->pools[i].servers);
		free(c->pools[i].name);
		free(c->pools[i].hash_key_name);
	}
	free(c->pools);
	free(c);
}

/* Pick one server and release it at once with outcome o; its index in
 * the pool's config order (by name), or -1 for NULL. */
static inline int
fixture_pick(struct pool *p, const struct pick_ctx *ctx, enum pool_outcome o)
{
	struct server *s = pool_pick(p, ctx);
	size_t i;
	int idx = -1;

	if (s == NULL)
		return -1;
	for (i = 0; i < p->conf->n_servers; i++)
		if (strcmp(p->conf->servers[i].addr.text, s->name) == 0)
			idx = (int)i;
	pool_release(p, s, o);
	return idx;
}

/* The current server with config index i. */
static inline struct server *
fixture_server(struct pool *p, size_t i)
{
	struct server_set *set = atomic_load(&p->set);
	size_t j;

	for (j = 0; j < set->n; j++)
		if (strcmp(set->servers[j]->name,
		    p->conf->servers[i].addr.text) == 0)
			return set->servers[j];
	return NULL;
}

#endif
