/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * validate.c — cross-key checks of routes, pools, ACME, backup jobs and
 * the global section (see validate.h).  Listeners and TLS files are in
 * validate_net.c.
 */
#include "conf/validate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/strict.h"
#include "conf/diag.h"
#include "conf/schema.h"

const struct ynode *
conf_validate_at(const struct ynode *map, const char *key)
{
	const struct ynode *v = conf_yaml_get(map, key);
	return v ? v : map;
}

const struct ynode *
conf_validate_item(const struct ynode *list, size_t i)
{
	if (list != NULL && list->kind == YNODE_SEQ && i < list->n_items)
		return list->items[i];
	return list;
}

void
conf_validate_path(struct conf_ctx *x, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(x->path, sizeof x->path, fmt, ap);
	va_end(ap);
	x->plen = n < 0 ? 0 : strnlen(x->path, sizeof x->path - 1);
}

int
conf_validate_readable(struct conf_ctx *x, const struct ynode *n,
    const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1 || access(path, R_OK) == -1) {
		conf_err(x, n, "cannot read '%s': %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		conf_err(x, n, "'%s' is not a regular file", path);
		return -1;
	}
	return 0;
}

/* An RFC 9110 token: header names, cookie names. */
static bool
validate_token(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 32 || c >= 127 || strchr("\"(),/:;<=>?@[\\]{}", c))
			return false;
	}
	return true;
}

static void
validate_header_names(struct conf_ctx *x, const struct ynode *map,
    const struct conf_header_kv *kv, size_t n, bool values_are_names)
{
	for (size_t i = 0; i < n; i++) {
		const char *name = values_are_names ? kv[i].value : kv[i].name;
		if (name == NULL || validate_token(name))
			continue;
		const struct ynode *at = map && map->kind == YNODE_MAP &&
		    i < map->n_pairs ? (values_are_names ?
		    map->pairs[i].value : map->pairs[i].key) : map;
		conf_err(x, at, "invalid header name '%s'", name);
	}
}

static void
validate_header_list(struct conf_ctx *x, const char *path,
    const struct ynode *list, char **names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (names[i] == NULL || validate_token(names[i]))
			continue;
		if (list && list->kind == YNODE_SEQ)
			conf_validate_path(x, "%s[%zu]", path, i);
		else
			conf_validate_path(x, "%s", path);
		conf_err(x, conf_validate_item(list, i),
		    "invalid header name '%s'", names[i]);
	}
}

static bool
validate_route_host(const char *h)
{
	if (strcmp(h, "*") == 0)
		return true;
	if (strncmp(h, "*.", 2) == 0)
		h += 2;
	return strict_hostname(h) && strchr(h, '*') == NULL;
}

/* A prefix path: "/", "/api", "/api/"; no query, no dot segments. */
static const char *
validate_route_path(const char *p)
{
	if (p[0] != '/')
		return "must start with '/'";
	for (const char *s = p; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 32 || c >= 127)
			return "must not contain spaces or control characters";
		if (c == '?' || c == '#')
			return "must not contain '?' or '#'";
		if (c == '/' && s[1] == '/')
			return "must not contain '//'";
		if (c == '/' && s[1] == '.' && (s[2] == '/' || s[2] == '\0' ||
		    (s[2] == '.' && (s[3] == '/' || s[3] == '\0'))))
			return "must not contain '.' or '..' segments";
	}
	return NULL;
}

static bool
validate_url(const char *u, bool allow_http)
{
	if (strncmp(u, "https://", 8) == 0)
		return u[8] != '\0' && u[8] != '/';
	if (allow_http && strncmp(u, "http://", 7) == 0)
		return u[7] != '\0' && u[7] != '/';
	return false;
}

/*
 * http:// to a loopback address literal (127.0.0.0/8 or [::1]), with an
 * optional port and path: the only plain-HTTP JWKS source accepted.
 */
static bool
validate_loopback_http(const char *u)
{
	char host[64];
	const char *h, *end;
	struct in_addr a4;
	size_t n;

	if (strncmp(u, "http://", 7) != 0)
		return false;
	h = u + 7;
	if (*h == '[') {
		if ((end = strchr(h, ']')) == NULL)
			return false;
		n = (size_t)(end - h + 1);
		if (n != 5 || strncmp(h, "[::1]", 5) != 0)
			return false;
		end++;
	} else {
		end = h + strcspn(h, ":/?#");
		n = (size_t)(end - h);
		if (n == 0 || n >= sizeof host)
			return false;
		memcpy(host, h, n);
		host[n] = '\0';
		if (inet_pton(AF_INET, host, &a4) != 1 ||
		    (ntohl(a4.s_addr) >> 24) != 127)
			return false;
	}
	return *end == '\0' || *end == ':' || *end == '/';
}

/* Same set of hosts, in any order (hosts are lower-cased already). */
static bool
validate_same_hosts(const struct conf_route *a, const struct conf_route *b)
{
	for (int pass = 0; pass < 2; pass++) {
		const struct conf_route *p = pass ? b : a, *q = pass ? a : b;
		for (size_t i = 0; i < p->n_hosts; i++) {
			bool found = false;
			for (size_t j = 0; j < q->n_hosts && !found; j++)
				found = p->hosts[i] && q->hosts[j] &&
				    strcmp(p->hosts[i], q->hosts[j]) == 0;
			if (!found)
				return false;
		}
	}
	return true;
}

static void
validate_route(struct conf_ctx *x, const struct ynode *rn,
    struct conf_route *r, size_t i)
{
	struct config *c = x->c;
	const struct ynode *hn = conf_yaml_get(rn, "host");
	const char *why;

	for (size_t h = 0; h < r->n_hosts; h++) {
		if (r->hosts[h] == NULL || validate_route_host(r->hosts[h]))
			continue;
		if (hn && hn->kind == YNODE_SEQ)
			conf_validate_path(x, "routes[%zu].host[%zu]", i, h);
		else
			conf_validate_path(x, "routes[%zu].host", i);
		conf_err(x, hn ? conf_validate_item(hn, h) : rn, "invalid host '%s' "
		    "(expected a name, \"*.name\" or \"*\")", r->hosts[h]);
	}
	conf_validate_path(x, "routes[%zu].path", i);
	if (r->path && (why = validate_route_path(r->path)) != NULL)
		conf_err(x, conf_validate_at(rn, "path"), "'%s' %s", r->path, why);

	if (r->pool_name != NULL) {
		conf_validate_path(x, "routes[%zu].pool", i);
		r->pool = conf_pool_find(c, r->pool_name);
		if (r->pool == NULL) {
			const char *names[256];
			size_t n = 0;
			for (size_t p = 0; p < c->n_pools && n < 256; p++)
				names[n++] = c->pools[p].name;
			const char *hint = conf_did_you_mean(r->pool_name,
			    names, n);
			if (hint)
				conf_err(x, conf_validate_at(rn, "pool"),
				    "unknown pool '%s' (did you mean '%s'?)",
				    r->pool_name, hint);
			else
				conf_err(x, conf_validate_at(rn, "pool"),
				    "unknown pool '%s'", r->pool_name);
		}
	}
	if (r->strip_prefix && r->action != ACTION_POOL) {
		conf_validate_path(x, "routes[%zu].strip_prefix", i);
		conf_err(x, conf_validate_at(rn, "strip_prefix"),
		    "only applies to routes with a pool");
	}
	if (r->action == ACTION_REDIRECT && r->redirect.to != NULL &&
	    r->redirect.to[0] != '/' && !validate_url(r->redirect.to, true)) {
		conf_validate_path(x, "routes[%zu].redirect.to", i);
		conf_err(x, conf_validate_at(conf_yaml_get(rn, "redirect"), "to"),
		    "'%s' is not an http(s) URL or a path", r->redirect.to);
	}
	if (r->action == ACTION_RESPOND && r->respond.body != NULL &&
	    (r->respond.status < 200 || r->respond.status == 204 ||
	    r->respond.status == 304)) {
		conf_validate_path(x, "routes[%zu].respond.body", i);
		conf_err(x, conf_validate_at(conf_yaml_get(rn, "respond"),
		    "body"), "status %d cannot have a body",
		    r->respond.status);
	}
	if (r->action == ACTION_STATIC && r->static_files.root != NULL) {
		struct stat st;
		const struct ynode *sn = conf_validate_at(
		    conf_yaml_get(rn, "static"), "root");
		conf_validate_path(x, "routes[%zu].static.root", i);
		if (stat(r->static_files.root, &st) == -1)
			conf_err(x, sn, "cannot access '%s': %s",
			    r->static_files.root, strerror(errno));
		else if (!S_ISDIR(st.st_mode))
			conf_err(x, sn, "'%s' is not a directory",
			    r->static_files.root);
	}

	const struct ynode *hd = conf_yaml_get(rn, "headers");
	conf_validate_path(x, "routes[%zu].headers.set", i);
	validate_header_names(x, conf_yaml_get(hd, "set"), r->headers.set,
	    r->headers.n_set, false);
	conf_validate_path(x, "routes[%zu].headers.request_set", i);
	validate_header_names(x, conf_yaml_get(hd, "request_set"),
	    r->headers.request_set, r->headers.n_request_set, false);
	char base[64];
	snprintf(base, sizeof base, "routes[%zu].headers.remove", i);
	validate_header_list(x, base, conf_yaml_get(hd, "remove"),
	    r->headers.remove, r->headers.n_remove);
	if (r->rate_limit.enabled && r->rate_limit.key == RL_KEY_HEADER &&
	    !validate_token(r->rate_limit.key_header)) {
		conf_validate_path(x, "routes[%zu].rate_limit.key", i);
		conf_err(x, conf_validate_at(conf_yaml_get(rn, "rate_limit"),
		    "key"), "invalid header name '%s'", r->rate_limit.key_header);
	}

	const struct ynode *au = conf_yaml_get(rn, "auth");
	if (r->auth.basic && r->auth.basic->users_file) {
		conf_validate_path(x, "routes[%zu].auth.basic.users_file", i);
		conf_validate_readable(x, conf_validate_at(conf_yaml_get(au,
		    "basic"), "users_file"), r->auth.basic->users_file);
	}
	if (r->auth.forward && r->auth.forward->url) {
		const struct ynode *fn = conf_yaml_get(au, "forward");
		conf_validate_path(x, "routes[%zu].auth.forward.url", i);
		if (!validate_url(r->auth.forward->url, true))
			conf_err(x, conf_validate_at(fn, "url"),
			    "'%s' is not an http(s) URL", r->auth.forward->url);
		snprintf(base, sizeof base, "routes[%zu].auth.forward.copy_headers",
		    i);
		validate_header_list(x, base, conf_yaml_get(fn, "copy_headers"),
		    r->auth.forward->copy_headers, r->auth.forward->n_copy_headers);
	}
	if (r->auth.jwt) {
		const struct ynode *jn = conf_yaml_get(au, "jwt");
		if (r->auth.jwt->jwks_file) {
			conf_validate_path(x, "routes[%zu].auth.jwt.jwks_file", i);
			conf_validate_readable(x, conf_validate_at(jn,
			    "jwks_file"), r->auth.jwt->jwks_file);
		}
		if (r->auth.jwt->jwks_url &&
		    !validate_url(r->auth.jwt->jwks_url, false) &&
		    !validate_loopback_http(r->auth.jwt->jwks_url)) {
			conf_validate_path(x, "routes[%zu].auth.jwt.jwks_url", i);
			conf_err(x, conf_validate_at(jn, "jwks_url"),
			    "'%s' is not an https URL (plain http only to a "
			    "loopback address)", r->auth.jwt->jwks_url);
		}
		if (r->auth.jwt->jwks_ca_file) {
			conf_validate_path(x, "routes[%zu].auth.jwt.jwks_ca_file",
			    i);
			if (r->auth.jwt->jwks_url == NULL)
				conf_err(x, conf_validate_at(jn, "jwks_ca_file"),
				    "jwks_ca_file is for jwks_url only");
			else
				conf_validate_readable(x, conf_validate_at(jn,
				    "jwks_ca_file"), r->auth.jwt->jwks_ca_file);
		}
		conf_validate_path(x, "routes[%zu].auth.jwt.claims_to_headers", i);
		validate_header_names(x, conf_yaml_get(jn, "claims_to_headers"),
		    r->auth.jwt->claims_to_headers,
		    r->auth.jwt->n_claims_to_headers, true);
	}
	if (r->waf && r->waf->rules) {
		struct stat st;
		conf_validate_path(x, "routes[%zu].waf.rules", i);
		if (stat(r->waf->rules, &st) == -1)
			conf_err(x, conf_validate_at(conf_yaml_get(rn, "waf"),
			    "rules"), "cannot access '%s': %s", r->waf->rules,
			    strerror(errno));
	}
}

static void
validate_routes(struct conf_ctx *x, const struct ynode *root)
{
	const struct ynode *rl = conf_yaml_get(root, "routes");
	struct config *c = x->c;

	for (size_t i = 0; i < c->n_routes; i++) {
		const struct ynode *rn = conf_validate_item(rl, i);
		struct conf_route *r = &c->routes[i];
		validate_route(x, rn, r, i);
		for (size_t j = 0; j < i; j++) {
			const struct conf_route *o = &c->routes[j];
			if (r->path == NULL || o->path == NULL ||
			    strcmp(r->path, o->path) != 0 ||
			    !validate_same_hosts(r, o))
				continue;
			conf_validate_path(x, "routes[%zu]", i);
			conf_err(x, rn, "never matches: routes[%zu] (line %d) has "
			    "the same hosts and path", j, o->line);
			break;
		}
	}
}

static void
validate_pools(struct conf_ctx *x, const struct ynode *root)
{
	const struct ynode *pm = conf_yaml_get(root, "pools");
	struct config *c = x->c;

	for (size_t i = 0; i < c->n_pools; i++) {
		struct conf_pool *p = &c->pools[i];
		const struct ynode *pn = pm && i < pm->n_pairs ?
		    pm->pairs[i].value : pm;
		if (p->balance == BALANCE_HASH && p->hash_key != HASH_CLIENT_IP &&
		    !validate_token(p->hash_key_name)) {
			conf_validate_path(x, "pools.%s.hash_key", p->name);
			conf_err(x, conf_validate_at(pn, "hash_key"),
			    "invalid %s name '%s'", p->hash_key == HASH_HEADER ?
			    "header" : "cookie", p->hash_key_name);
		}
		if (p->health.enabled && p->health.host &&
		    !strict_hostname(p->health.host)) {
			conf_validate_path(x, "pools.%s.health.host", p->name);
			conf_err(x, conf_validate_at(conf_yaml_get(pn, "health"),
			    "host"), "invalid host name '%s'", p->health.host);
		}
	}
}

static void
validate_acme(struct conf_ctx *x, const struct ynode *root)
{
	const struct ynode *an = conf_yaml_get(root, "acme");
	struct config *c = x->c;

	if (c->acme.enabled && c->acme.ca_roots != NULL) {
		conf_validate_path(x, "acme.ca_roots");
		conf_validate_readable(x, conf_validate_at(an, "ca_roots"),
		    c->acme.ca_roots);
	}
}

static bool
validate_job_name(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

static void
validate_backup(struct conf_ctx *x, const struct ynode *root)
{
	const struct ynode *jl = conf_yaml_get(conf_yaml_get(root, "backup"),
	    "jobs");
	struct config *c = x->c;

	for (size_t i = 0; i < c->backup.n_jobs; i++) {
		struct conf_backup_job *j = &c->backup.jobs[i];
		const struct ynode *jn = conf_validate_item(jl, i);
		if (j->name != NULL) {
			conf_validate_path(x, "backup.jobs[%zu].name", i);
			if (!validate_job_name(j->name))
				conf_err(x, conf_validate_at(jn, "name"),
				    "'%s' must be 1..64 letters, digits, '-' "
				    "or '_'", j->name);
			for (size_t k = 0; k < i; k++) {
				if (c->backup.jobs[k].name &&
				    strcmp(c->backup.jobs[k].name, j->name) == 0) {
					conf_err(x, conf_validate_at(jn, "name"),
					    "duplicate job name '%s' (first at "
					    "line %d)", j->name,
					    c->backup.jobs[k].line);
					break;
				}
			}
		}
		if (j->destination != NULL && j->destination[0] != '/') {
			conf_validate_path(x, "backup.jobs[%zu].destination", i);
			conf_err(x, conf_validate_at(jn, "destination"),
			    "'%s' must be an absolute path", j->destination);
		}
		conf_validate_backup_cron(x, jn, j, i);
	}
}

static void
validate_global(struct conf_ctx *x, const struct ynode *root)
{
	const struct ynode *gn = conf_yaml_get(root, "global");
	struct conf_global *g = &x->c->global;
	char buf[4096];

	const struct ynode *rl = conf_yaml_get(gn, "resolvers");
	for (size_t i = 0; i < g->n_resolvers; i++) {
		struct conf_addr ad;
		const char *err = "not an IP address";
		if (g->resolvers[i] == NULL)
			continue;
		if (strict_addr(x->a, g->resolvers[i], &ad, &err) == 0 &&
		    ad.host != NULL && !ad.is_name)
			continue;
		if (rl && rl->kind == YNODE_SEQ)
			conf_validate_path(x, "global.resolvers[%zu]", i);
		else
			conf_validate_path(x, "global.resolvers");
		conf_err(x, conf_validate_item(rl, i), "invalid resolver '%s': "
		    "%s (expected ip:port)", g->resolvers[i], err);
	}
	if (g->user != NULL) {
		struct passwd pw, *pwp = NULL;
		if (getpwnam_r(g->user, &pw, buf, sizeof buf, &pwp) != 0 ||
		    pwp == NULL) {
			conf_validate_path(x, "global.user");
			conf_err(x, conf_validate_at(gn, "user"),
			    "no such user '%s'", g->user);
		}
	}
	if (g->group != NULL) {
		struct group gr, *grp = NULL;
		if (getgrnam_r(g->group, &gr, buf, sizeof buf, &grp) != 0 ||
		    grp == NULL) {
			conf_validate_path(x, "global.group");
			conf_err(x, conf_validate_at(gn, "group"),
			    "no such group '%s'", g->group);
		}
	}
}

void
conf_validate(struct conf_ctx *x, const struct ynode *root)
{
	if (root->kind != YNODE_MAP)
		return;
	validate_global(x, root);
	conf_validate_listeners(x, root);
	validate_pools(x, root);
	validate_routes(x, root);
	validate_acme(x, root);
	validate_backup(x, root);
	conf_validate_path(x, "%s", "");
}
