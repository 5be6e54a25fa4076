/* SPDX-License-Identifier: BSD-2-Clause */
/* schema_pools.c — the key tables of `pools:` (a mapping name -> pool). */
#include <string.h>

#include "common/arena.h"
#include "common/strict.h"
#include "conf/schema.h"

#define P(f) offsetof(struct conf_pool, f)
#define S(f) offsetof(struct conf_server, f)
#define HC(f) offsetof(struct conf_health, f)

static const struct conf_enum balances[] = {
	{ "round_robin", BALANCE_ROUND_ROBIN },
	{ "least_conn", BALANCE_LEAST_CONN },
	{ "random_two", BALANCE_RANDOM_TWO },
	{ "hash", BALANCE_HASH },
	{ NULL, 0 },
};

/* hash_key: client_ip | header:NAME | cookie:NAME */
static int
parse_hash_key(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	struct conf_pool *p = base;
	const char *s = conf_scalar(x, n, "client_ip, header:NAME or cookie:NAME");

	if (s == NULL)
		return -1;
	if (strcmp(s, "client_ip") == 0) {
		p->hash_key = HASH_CLIENT_IP;
		return 0;
	}
	if (strncmp(s, "header:", 7) == 0 && s[7] != '\0') {
		p->hash_key = HASH_HEADER;
		p->hash_key_name = arena_strdup(x->a, s + 7);
		return 0;
	}
	if (strncmp(s, "cookie:", 7) == 0 && s[7] != '\0') {
		p->hash_key = HASH_COOKIE;
		p->hash_key_name = arena_strdup(x->a, s + 7);
		return 0;
	}
	conf_err(x, n, "expected client_ip, header:NAME or cookie:NAME, not '%s'",
	    s);
	return -1;
}

static const struct conf_type t_hash_key = {
	"client_ip, header:NAME or cookie:NAME", parse_hash_key };

/* expect_status: 200, or a range 200-399 */
static int
parse_status_range(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	struct conf_health *h = base;
	const char *s = conf_scalar(x, n, "a status or a range"), *e, *dash;
	char lo[8];
	uint64_t a, b;

	if (s == NULL)
		return -1;
	dash = strchr(s, '-');
	if (dash == NULL) {
		if (strict_uint(s, 100, 599, &a, &e) == -1)
			goto bad;
		b = a;
	} else {
		size_t l = (size_t)(dash - s);
		if (l == 0 || l >= sizeof lo)
			goto bad;
		memcpy(lo, s, l);
		lo[l] = '\0';
		if (strict_uint(lo, 100, 599, &a, &e) == -1 ||
		    strict_uint(dash + 1, 100, 599, &b, &e) == -1 || b < a)
			goto bad;
	}
	h->expect_min = (int)a;
	h->expect_max = (int)b;
	return 0;
bad:
	conf_err(x, n, "expected a status or a range like 200-399, not '%s'", s);
	return -1;
}

static const struct conf_type t_status_range = { "status or range",
	parse_status_range };

static const struct conf_key server_keys[] = {
	{ .name = "address", .type = &conf_t_addr, .off = S(addr),
	  .flags = CK_REQUIRED, .example = "\"10.0.0.11:8000\"",
	  .doc = "host:port; a DNS name is re-resolved and every A/AAAA "
	    "record becomes a server" },
	{ .name = "weight", .type = &conf_t_u32, .off = S(weight), .def = "1",
	  .min = 1, .max = 256, .doc = "share of the traffic, 1..256" },
	{ .name = NULL },
};

static const struct conf_section server_section = {
	.name = "pools.NAME.servers[]", .keys = server_keys,
	.size = sizeof(struct conf_server), .doc = "One upstream server.",
};

static void
health_finish(struct conf_ctx *x, const struct ynode *n, void *obj,
    const bool *seen)
{
	struct conf_health *h = obj;

	if (h->tcp && h->path != NULL)
		conf_err(x, n, "give either path or tcp: true, not both");
	else if (!h->tcp && h->path == NULL)
		conf_err(x, n, "needs path (HTTP check) or tcp: true");
	else if (h->path != NULL && h->path[0] != '/')
		conf_err_key(x, n, "path", "must start with '/'");
	if (h->timeout_ms > h->interval_ms)
		conf_err(x, n, "timeout (%llums) is longer than interval (%llums)",
		    (unsigned long long)h->timeout_ms,
		    (unsigned long long)h->interval_ms);
}

static const struct conf_key health_keys[] = {
	{ .name = "path", .type = &conf_t_string, .off = HC(path),
	  .example = "/health", .doc = "HTTP GET this path" },
	{ .name = "tcp", .type = &conf_t_bool, .off = HC(tcp), .def = "false",
	  .doc = "or only open a TCP connection" },
	{ .name = "interval", .type = &conf_t_duration, .off = HC(interval_ms),
	  .def = "2s", .min = 100, .doc = "time between checks" },
	{ .name = "timeout", .type = &conf_t_duration, .off = HC(timeout_ms),
	  .def = "1s", .min = 1, .doc = "deadline of one check" },
	{ .name = "rise", .type = &conf_t_u32, .off = HC(rise), .def = "2",
	  .min = 1, .max = 100, .doc = "successes before a server is up" },
	{ .name = "fall", .type = &conf_t_u32, .off = HC(fall), .def = "3",
	  .min = 1, .max = 100, .doc = "failures before a server is down" },
	{ .name = "expect_status", .type = &t_status_range, .off = HC(expect_min),
	  .def = "200-399", .doc = "healthy statuses: one or a range" },
	{ .name = "host", .type = &conf_t_string, .off = HC(host),
	  .example = "app.example.com",
	  .doc = "Host header of the check (default: the server address)" },
	{ .name = NULL },
};

static const struct conf_section health_section = {
	.name = "pools.NAME.health", .keys = health_keys,
	.size = sizeof(struct conf_health), .finish = health_finish,
	.doc = "Active health checks.  Without this section every server is "
	    "considered up until passive checks say otherwise.",
};

static const struct conf_key passive_keys[] = {
	{ .name = "max_fails", .type = &conf_t_u32, .off = P(max_fails),
	  .def = "3", .doc = "failed requests that mark a server down; 0 = off" },
	{ .name = "fail_timeout", .type = &conf_t_duration,
	  .off = P(fail_timeout_ms), .def = "10s",
	  .doc = "window for max_fails, and how long the server stays down" },
	{ .name = NULL },
};

static const struct conf_section passive_section = {
	.name = "pools.NAME.passive", .keys = passive_keys,
	.doc = "Passive health: failures seen on real traffic.",
};

static const struct conf_key timeouts_keys[] = {
	{ .name = "connect", .type = &conf_t_duration,
	  .off = P(connect_timeout_ms), .def = "2s", .min = 1,
	  .doc = "to open a connection to a server" },
	{ .name = "response", .type = &conf_t_duration,
	  .off = P(response_timeout_ms), .def = "60s", .min = 1,
	  .doc = "from request sent to response headers" },
	{ .name = "idle", .type = &conf_t_duration, .off = P(idle_timeout_ms),
	  .def = "90s", .min = 1, .doc = "an idle kept-alive upstream connection" },
	{ .name = NULL },
};

static const struct conf_section timeouts_section = {
	.name = "pools.NAME.timeouts", .keys = timeouts_keys,
	.doc = "Upstream deadlines.",
};

static void
pool_finish(struct conf_ctx *x, const struct ynode *n, void *obj,
    const bool *seen)
{
	struct conf_pool *p = obj;
	int hk = conf_key_index(&conf_schema_pool, "hash_key");

	p->line = n->line;
	p->col = n->col;
	p->index = x->index;
	if (n->kind != YNODE_MAP)
		return;
	if (p->balance == BALANCE_HASH && !seen[hk])
		conf_err_key(x, n, "balance", "hash needs hash_key (client_ip, "
		    "header:NAME or cookie:NAME)");
	else if (p->balance != BALANCE_HASH && seen[hk])
		conf_err_key(x, n, "hash_key", "only used with balance: hash");
	if (p->servers != NULL && p->n_servers == 0)
		conf_err_key(x, n, "servers", "needs at least one server");
}

static const struct conf_key pool_keys[] = {
	{ .name = "balance", .type = &conf_t_enum, .off = P(balance),
	  .def = "round_robin", .enums = balances,
	  .doc = "round_robin, least_conn, random_two or hash" },
	{ .name = "hash_key", .type = &t_hash_key, .off = P(hash_key),
	  .example = "client_ip",
	  .doc = "for hash: client_ip, header:NAME or cookie:NAME" },
	{ .name = "servers", .type = &conf_t_list, .off = P(servers),
	  .off2 = P(n_servers), .flags = CK_REQUIRED, .sub = &server_section,
	  .doc = "the upstream servers" },
	{ .name = "resolve_interval", .type = &conf_t_duration,
	  .off = P(resolve_interval_ms), .def = "30s", .min = 1000,
	  .doc = "how often DNS names are resolved again" },
	{ .name = "health", .type = &conf_t_section, .off = P(health),
	  .off2 = P(health) + HC(enabled), .sub = &health_section,
	  .doc = "active checks" },
	{ .name = "passive", .type = &conf_t_inline, .sub = &passive_section,
	  .doc = "passive checks" },
	{ .name = "retries", .type = &conf_t_u32, .off = P(retries), .def = "1",
	  .max = 10, .doc = "tries on another server for a failed request "
	    "that is safe to retry" },
	{ .name = "timeouts", .type = &conf_t_inline, .sub = &timeouts_section,
	  .doc = "connect, response and idle deadlines" },
	{ .name = "keepalive", .type = &conf_t_u32, .off = P(keepalive),
	  .def = "32", .max = 100000,
	  .doc = "idle upstream connections kept per server per worker" },
	{ .name = NULL },
};

const struct conf_section conf_schema_pool = {
	.name = "pools.NAME", .keys = pool_keys, .size = sizeof(struct conf_pool),
	.name_off = CONF_NAME_OFF(struct conf_pool, name), .finish = pool_finish,
	.doc = "A named group of upstream servers with balancing and health "
	    "checks.",
};
