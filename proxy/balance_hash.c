/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * balance_hash.c — consistent hashing on a ring with virtual nodes.
 *
 * Each server owns weight * k points on a 64-bit ring (k = 160, fewer
 * when the pool is very large so the ring stays under 2^20 points); a
 * point is the hash of the server's address (IP and port) and the point
 * number, so a server keeps its points when the set changes.  A key (the
 * client IP, or the value of a header or cookie that the runtime passes
 * in pick_ctx) goes to the owner of the first point at or after its hash,
 * walking on past unusable or already tried servers.  Adding one server
 * to N moves only the keys the new server takes, about 1/(N+1) of them.
 * The ring is built with the server set (set_init, in the control thread
 * or at load) and only read on the request path.  When the configured
 * header or cookie is missing, the client IP is the key.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/balance.h"

#define HASH_POINTS_PER_WEIGHT	160
#define HASH_MAX_POINTS		(1u << 20)
#define HASH_SEEN_WORDS		16	/* early stop for sets up to 1024 */

struct hash_point {
	uint64_t h;
	uint32_t server;		/* position in the set */
};

struct hash_ring {
	size_t n;
	struct hash_point *points;
};

static void *
hash_state_new(const struct conf_pool *conf, unsigned n_workers)
{
	return (void *)conf;	/* only the key settings are needed */
}

static void
hash_ring_free(void *lb)
{
	struct hash_ring *r = lb;

	if (r != NULL)
		free(r->points);
	free(r);
}

static int
hash_point_cmp(const void *a, const void *b)
{
	const struct hash_point *x = a, *y = b;

	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return x->server < y->server ? -1 : x->server > y->server;
}

/* The identity of a server on the ring: its IP address and port. */
static size_t
hash_server_key(const struct server *s, unsigned char *buf)
{
	const struct sockaddr_in *in4;
	const struct sockaddr_in6 *in6;

	if (s->sa.ss_family == AF_INET) {
		in4 = (const struct sockaddr_in *)&s->sa;
		memcpy(buf, &in4->sin_addr, 4);
		memcpy(buf + 4, &in4->sin_port, 2);
		return 6;
	}
	if (s->sa.ss_family == AF_INET6) {
		in6 = (const struct sockaddr_in6 *)&s->sa;
		memcpy(buf, &in6->sin6_addr, 16);
		memcpy(buf + 16, &in6->sin6_port, 2);
		return 18;
	}
	/* no address (should not happen): fall back to the name */
	return 0;
}

static int
hash_set_init(const struct conf_pool *conf, struct server_set *set)
{
	struct hash_ring *r;
	uint64_t total_w = 0, k, seed;
	unsigned char key[18];
	size_t i, j, kl, np, pts;

	for (i = 0; i < set->n; i++)
		total_w += balance_weight(set->servers[i]);
	k = HASH_POINTS_PER_WEIGHT;
	if (total_w * k > HASH_MAX_POINTS)
		k = total_w ? HASH_MAX_POINTS / total_w : 1;
	if (k == 0)
		k = 1;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -1;
	if (total_w > 0 &&
	    (r->points = calloc(total_w * k, sizeof(*r->points))) == NULL) {
		free(r);
		return -1;
	}
	np = 0;
	for (i = 0; i < set->n; i++) {
		kl = hash_server_key(set->servers[i], key);
		pts = balance_weight(set->servers[i]) * k;
		for (j = 0; j < pts; j++) {
			seed = j;
			r->points[np].h = kl ? balance_hash(key, kl, seed) :
			    balance_hash(set->servers[i]->name,
			    strlen(set->servers[i]->name), seed);
			r->points[np].server = (uint32_t)i;
			np++;
		}
	}
	r->n = np;
	qsort(r->points, r->n, sizeof(*r->points), hash_point_cmp);
	set->lb = r;
	set->lb_free = hash_ring_free;
	return 0;
}

/* The hash of the request's key (see the file comment). */
static uint64_t
hash_key(const struct conf_pool *conf, const struct pick_ctx *ctx)
{
	const struct sockaddr_in *in4;
	const struct sockaddr_in6 *in6;
	const unsigned char *a;

	if (conf->hash_key != HASH_CLIENT_IP && ctx->hash_value != NULL)
		return balance_hash(ctx->hash_value, ctx->hash_len, 0);
	if (ctx->client == NULL)
		return 0;
	if (ctx->client->sa_family == AF_INET) {
		in4 = (const struct sockaddr_in *)ctx->client;
		return balance_hash(&in4->sin_addr, 4, 0);
	}
	if (ctx->client->sa_family == AF_INET6) {
		in6 = (const struct sockaddr_in6 *)ctx->client;
		a = in6->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return balance_hash(a + 12, 4, 0);
		return balance_hash(a, 16, 0);
	}
	return 0;
}

static struct server *
hash_pick(void *state, struct server_set *set, const struct pick_ctx *ctx,
    int64_t now_ms)
{
	const struct conf_pool *conf = state;
	struct hash_ring *r = set->lb;
	struct server *s;
	uint64_t h, seen_bits[HASH_SEEN_WORDS] = { 0 };
	size_t lo, hi, mid, i, idx, seen = 0;

	if (r == NULL || r->n == 0)
		return NULL;
	h = hash_key(conf, ctx);
	lo = 0;
	hi = r->n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (r->points[mid].h < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* walk on past unusable servers; stop once each was seen unusable */
	for (i = 0; i < r->n; i++) {
		idx = r->points[(lo + i) % r->n].server;
		s = set->servers[idx];
		if (balance_usable(s, ctx, now_ms))
			return s;
		if (idx < HASH_SEEN_WORDS * 64 &&
		    !(seen_bits[idx / 64] & (1ULL << (idx % 64)))) {
			seen_bits[idx / 64] |= 1ULL << (idx % 64);
			if (++seen == set->n)
				break;
		}
	}
	return NULL;
}

const struct balance_ops balance_hash_ops = {
	.name = "hash",
	.state_new = hash_state_new,
	.set_init = hash_set_init,
	.pick = hash_pick,
};
