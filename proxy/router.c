/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * router.c — (host, path) to route, built once per configuration.
 *
 * The rule (SPEC §3, docs/routing.md): host classes are tried from the
 * most specific — the exact host, then "*.<rest>" where <rest> is the
 * host without its first label (a wildcard covers exactly one label),
 * then "*" — and the first class that has a route whose path prefix
 * matches wins; within it the longest prefix on a segment boundary wins,
 * and between equal prefixes the route written first.  So a host that has
 * exact routes for /api only still reaches the wildcard or "*" routes for
 * its other paths, as Traefik and Caddy do: a more specific host never
 * hides a less specific one for paths it does not handle.
 *
 * Layout: every (host key, route) pair is one entry; the entries are
 * sorted once by (class, key, prefix length descending, route order), so
 * each key's entries are contiguous and already in match order.  Exact
 * hosts and wildcard suffixes are open-addressing hash tables over those
 * runs; "*" is a single run.  A match is at most three hash probes and a
 * walk down the longest-first run: no allocation, no lock, and the
 * structure is never written after router_new, so every worker shares it.
 */
#include "proxy/router.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { RCLASS_EXACT, RCLASS_WILD, RCLASS_STAR };

struct router_entry {
	int cls;
	const char *key;		/* exact host, or wildcard suffix */
	size_t key_len;
	const char *prefix;
	size_t prefix_len;
	size_t order;			/* route index, for ties */
	const struct conf_route *route;
};

struct router_host {
	const char *key;		/* NULL: empty slot */
	size_t key_len;
	const struct router_entry *entries;	/* longest prefix first */
	size_t n;
};

struct router_table {
	struct router_host *slots;
	size_t mask;			/* slots - 1 (a power of two) */
};

struct router {
	struct router_entry *entries;
	size_t n_entries;
	struct router_table exact;	/* "app.example.com" */
	struct router_table wild;	/* "*.example.com" keyed "example.com" */
	struct router_host star;	/* "*" */
};

static uint64_t
router_hash(const char *s, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);	/* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static const struct router_host *
table_find(const struct router_table *t, const char *key, size_t n)
{
	size_t i;

	if (t->slots == NULL)
		return NULL;
	for (i = (size_t)router_hash(key, n) & t->mask;;
	    i = (i + 1) & t->mask) {
		const struct router_host *h = &t->slots[i];
		if (h->key == NULL)
			return NULL;
		if (h->key_len == n && memcmp(h->key, key, n) == 0)
			return h;
	}
}

static int
table_init(struct router_table *t, size_t n_keys)
{
	size_t size = 8;

	while (size < n_keys * 2)
		size <<= 1;
	t->slots = calloc(size, sizeof(*t->slots));
	if (t->slots == NULL)
		return -1;
	t->mask = size - 1;
	return 0;
}

static void
table_add(struct router_table *t, const struct router_entry *e, size_t n)
{
	size_t i;

	for (i = (size_t)router_hash(e->key, e->key_len) & t->mask;
	    t->slots[i].key != NULL; i = (i + 1) & t->mask)
		;
	t->slots[i].key = e->key;
	t->slots[i].key_len = e->key_len;
	t->slots[i].entries = e;
	t->slots[i].n = n;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct router_entry *x = a, *y = b;
	size_t n;
	int c;

	if (x->cls != y->cls)
		return x->cls < y->cls ? -1 : 1;
	n = x->key_len < y->key_len ? x->key_len : y->key_len;
	if ((c = memcmp(x->key, y->key, n)) != 0)
		return c;
	if (x->key_len != y->key_len)
		return x->key_len < y->key_len ? -1 : 1;
	if (x->prefix_len != y->prefix_len)
		return x->prefix_len > y->prefix_len ? -1 : 1;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return 0;
}

static bool
entry_same_key(const struct router_entry *a, const struct router_entry *b)
{
	return a->cls == b->cls && a->key_len == b->key_len &&
	    memcmp(a->key, b->key, a->key_len) == 0;
}

static void
entry_set_host(struct router_entry *e, const char *host)
{
	size_t n = strlen(host);

	if (n == 1 && host[0] == '*') {
		e->cls = RCLASS_STAR;
		e->key = "";
		e->key_len = 0;
	} else if (n > 2 && host[0] == '*' && host[1] == '.') {
		e->cls = RCLASS_WILD;
		e->key = host + 2;
		e->key_len = n - 2;
	} else {
		e->cls = RCLASS_EXACT;
		e->key = host;
		e->key_len = n;
	}
}

struct router *
router_new(const struct config *c)
{
	struct router *r;
	size_t n = 0, i, j, k, n_exact = 0, n_wild = 0;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	for (i = 0; i < c->n_routes; i++)
		n += c->routes[i].n_hosts > 0 ? c->routes[i].n_hosts : 1;
	if (n > 0 && (r->entries = calloc(n, sizeof(*r->entries))) == NULL)
		goto fail;

	for (i = 0, k = 0; i < c->n_routes; i++) {
		const struct conf_route *rt = &c->routes[i];
		const char *prefix = rt->path != NULL && rt->path[0] != '\0' ?
		    rt->path : "/";
		size_t nh = rt->n_hosts > 0 ? rt->n_hosts : 1;

		for (j = 0; j < nh; j++, k++) {
			struct router_entry *e = &r->entries[k];
			/* a route without hosts serves every host */
			entry_set_host(e, rt->n_hosts > 0 ? rt->hosts[j] : "*");
			e->prefix = prefix;
			e->prefix_len = strlen(prefix);
			e->order = i;
			e->route = rt;
		}
	}
	r->n_entries = n;
	if (n > 0)
		qsort(r->entries, n, sizeof(*r->entries), entry_cmp);

	/* count distinct keys per class, then fill the tables */
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && entry_same_key(&r->entries[i],
		    &r->entries[j]); j++)
			;
		if (r->entries[i].cls == RCLASS_EXACT)
			n_exact++;
		else if (r->entries[i].cls == RCLASS_WILD)
			n_wild++;
	}
	if (table_init(&r->exact, n_exact) == -1 ||
	    table_init(&r->wild, n_wild) == -1)
		goto fail;
	for (i = 0; i < n; i = j) {
		const struct router_entry *e = &r->entries[i];

		for (j = i + 1; j < n && entry_same_key(e, &r->entries[j]); j++)
			;
		if (e->cls == RCLASS_EXACT) {
			table_add(&r->exact, e, j - i);
		} else if (e->cls == RCLASS_WILD) {
			table_add(&r->wild, e, j - i);
		} else {
			r->star.key = "*";
			r->star.key_len = 1;
			r->star.entries = e;
			r->star.n = j - i;
		}
	}
	return r;
fail:
	router_free(r);
	return NULL;
}

void
router_free(struct router *r)
{
	if (r == NULL)
		return;
	free(r->exact.slots);
	free(r->wild.slots);
	free(r->entries);
	free(r);
}

int
router_path_has_prefix(const char *path, size_t path_len, const char *prefix,
    size_t prefix_len)
{
	if (prefix_len == 0)
		return 1;
	if (path_len < prefix_len || memcmp(path, prefix, prefix_len) != 0)
		return 0;
	return path_len == prefix_len || prefix[prefix_len - 1] == '/' ||
	    path[prefix_len] == '/';
}

static const struct conf_route *
host_match(const struct router_host *h, const char *path, size_t path_len)
{
	if (h == NULL)
		return NULL;
	for (size_t i = 0; i < h->n; i++) {
		const struct router_entry *e = &h->entries[i];
		if (router_path_has_prefix(path, path_len, e->prefix,
		    e->prefix_len))
			return e->route;
	}
	return NULL;
}

const struct conf_route *
router_match(const struct router *r, const char *host, size_t host_len,
    const char *path, size_t path_len)
{
	const struct conf_route *rt;
	const char *dot;

	if (host_len > 0) {
		rt = host_match(table_find(&r->exact, host, host_len), path,
		    path_len);
		if (rt != NULL)
			return rt;
		/* "*.example.com" covers "x.example.com", one label only */
		dot = memchr(host, '.', host_len);
		if (dot != NULL && dot != host && dot + 1 < host + host_len) {
			rt = host_match(table_find(&r->wild, dot + 1,
			    (size_t)(host + host_len - dot - 1)), path,
			    path_len);
			if (rt != NULL)
				return rt;
		}
	}
	return r->star.key != NULL ? host_match(&r->star, path, path_len) :
	    NULL;
}

/* ---- host normalisation ------------------------------------------------ */

static int
parse_port(const char *p, size_t n)
{
	unsigned v = 0;

	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	return v <= 65535 ? (int)v : -1;
}

int
router_host_normalize(const char *in, size_t len, char *out, size_t cap)
{
	const char *end = in + len, *p, *colon;
	size_t n, label = 0;

	if (len == 0)
		return -1;
	if (in[0] == '[') {
		/* IPv6 literal, canonicalised: "[::0001]" -> "[::1]" */
		char tmp[INET6_ADDRSTRLEN + 1], canon[INET6_ADDRSTRLEN];
		struct in6_addr a;
		const char *rb = memchr(in, ']', len);

		if (rb == NULL || (size_t)(rb - in - 1) >= sizeof(tmp) ||
		    rb - in - 1 < 2)
			return -1;
		memcpy(tmp, in + 1, (size_t)(rb - in - 1));
		tmp[rb - in - 1] = '\0';
		if (memchr(tmp, '%', strlen(tmp)) != NULL ||
		    inet_pton(AF_INET6, tmp, &a) != 1 ||
		    inet_ntop(AF_INET6, &a, canon, sizeof(canon)) == NULL)
			return -1;
		p = rb + 1;
		if (p < end && (*p != ':' || parse_port(p + 1,
		    (size_t)(end - p - 1)) == -1))
			return -1;
		n = strlen(canon) + 2;
		if (n + 1 > cap)
			return -1;
		out[0] = '[';
		memcpy(out + 1, canon, n - 2);
		out[n - 1] = ']';
		out[n] = '\0';
		return (int)n;
	}

	colon = memchr(in, ':', len);
	if (colon != NULL) {
		if (parse_port(colon + 1, (size_t)(end - colon - 1)) == -1)
			return -1;
		end = colon;
	}
	if (end > in && end[-1] == '.')
		end--;				/* "example.com." */
	n = (size_t)(end - in);
	if (n == 0 || n > 253 || n + 1 > cap)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c >= 'A' && c <= 'Z')
			c |= 0x20;
		if (c == '.') {
			if (label == 0)
				return -1;	/* empty label */
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_') {
			if (++label > 63)
				return -1;
		} else {
			return -1;
		}
		out[i] = (char)c;
	}
	if (label == 0)
		return -1;
	out[n] = '\0';
	return (int)n;
}
