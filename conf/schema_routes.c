/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * schema_routes.c — the key tables of `routes:`: matching (host, path),
 * the one action (pool, redirect, respond, static) and the per-route
 * policies (rate limit, allow list, body limit, headers, auth, WAF).
 */
#include <string.h>

#include "common/arena.h"
#include "common/strict.h"
#include "conf/schema.h"

#define R(f) offsetof(struct conf_route, f)

/* ---- rate_limit ---------------------------------------------------------- */

/* key: client_ip | header:NAME */
static int
parse_rl_key(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	struct conf_rate_limit *rl = base;
	const char *s = conf_scalar(x, n, "client_ip or header:NAME");

	if (s == NULL)
		return -1;
	if (strcmp(s, "client_ip") == 0) {
		rl->key = RL_KEY_CLIENT_IP;
		return 0;
	}
	if (strncmp(s, "header:", 7) == 0 && s[7] != '\0') {
		rl->key = RL_KEY_HEADER;
		if ((rl->key_header = arena_strdup(x->a, s + 7)) == NULL)
			return -1;
		return 0;
	}
	conf_err(x, n, "expected client_ip or header:NAME, not '%s'", s);
	return -1;
}

static const struct conf_type t_rl_key = { "client_ip or header:NAME",
	parse_rl_key };

static void
rl_finish(struct conf_ctx *x, const struct ynode *n, void *obj,
    const bool *seen)
{
	struct conf_rate_limit *rl = obj;

	/* no burst given: one second's worth, at least 1 */
	if (rl->burst == 0) {
		double b = rl->rate < 1 ? 1 : rl->rate;
		rl->burst = b > UINT32_MAX ? UINT32_MAX : (uint32_t)(b + 0.999);
	}
}

#define RL(f) offsetof(struct conf_rate_limit, f)
static const struct conf_key rl_keys[] = {
	{ .name = "rate", .type = &conf_t_rate, .off = RL(rate),
	  .flags = CK_REQUIRED, .example = "100/s",
	  .doc = "sustained rate: N/s, N/m, N/h or N/d" },
	{ .name = "burst", .type = &conf_t_u32, .off = RL(burst), .def = "0",
	  .doc = "requests allowed above the rate at once; 0 = one "
	    "second's worth" },
	{ .name = "key", .type = &t_rl_key, .off = RL(key), .def = "client_ip",
	  .doc = "what is counted: client_ip or header:NAME" },
	{ .name = NULL },
};

static const struct conf_section rl_section = {
	.name = "routes[].rate_limit", .keys = rl_keys,
	.size = sizeof(struct conf_rate_limit), .finish = rl_finish,
	.doc = "A token bucket per key; over the limit the answer is 429 "
	    "with Retry-After.",
};

/* ---- actions ------------------------------------------------------------- */

static const struct conf_enum redirect_codes[] = {
	{ "301", 301 }, { "302", 302 }, { "303", 303 }, { "307", 307 },
	{ "308", 308 }, { NULL, 0 },
};

#define RD(f) offsetof(struct conf_redirect, f)
static const struct conf_key redirect_keys[] = {
	{ .name = "to", .type = &conf_t_string, .off = RD(to),
	  .flags = CK_REQUIRED, .example = "https://app.example.com",
	  .doc = "target: an absolute http(s) URL or a path" },
	{ .name = "code", .type = &conf_t_enum, .off = RD(code), .def = "302",
	  .enums = redirect_codes, .doc = "301, 302, 303, 307 or 308" },
	{ .name = "keep_path", .type = &conf_t_bool, .off = RD(keep_path),
	  .def = "false", .doc = "append the request's path and query to `to`" },
	{ .name = NULL },
};

static const struct conf_section redirect_section = {
	.name = "routes[].redirect", .keys = redirect_keys,
	.size = sizeof(struct conf_redirect),
	.doc = "Answer with a redirect.",
};

static void
respond_finish(struct conf_ctx *x, const struct ynode *n, void *obj,
    const bool *seen)
{
	struct conf_respond *r = obj;

	r->body_len = r->body ? strlen(r->body) : 0;
}

#define RS(f) offsetof(struct conf_respond, f)
static const struct conf_key respond_keys[] = {
	{ .name = "status", .type = &conf_t_int, .off = RS(status),
	  .def = "200", .min = 100, .max = 599, .doc = "HTTP status, 100..599" },
	{ .name = "body", .type = &conf_t_string, .off = RS(body),
	  .example = "\"no such site\\n\"", .doc = "the body; none if unset" },
	{ .name = "content_type", .type = &conf_t_string,
	  .off = RS(content_type), .def = "text/plain; charset=utf-8",
	  .doc = "Content-Type of the body" },
	{ .name = NULL },
};

static const struct conf_section respond_section = {
	.name = "routes[].respond", .keys = respond_keys,
	.size = sizeof(struct conf_respond), .finish = respond_finish,
	.doc = "Answer with a fixed response.",
};

#define ST(f) offsetof(struct conf_static, f)
static const struct conf_key static_keys[] = {
	{ .name = "root", .type = &conf_t_path, .off = ST(root),
	  .flags = CK_REQUIRED, .example = "/srv/www",
	  .doc = "directory served; nothing outside it is ever read" },
	{ .name = "index", .type = &conf_t_string, .off = ST(index),
	  .def = "index.html", .doc = "file served for a directory" },
	{ .name = "spa_fallback", .type = &conf_t_bool, .off = ST(spa_fallback),
	  .def = "false",
	  .doc = "serve the root's index for paths that do not exist" },
	{ .name = NULL },
};

static const struct conf_section static_section = {
	.name = "routes[].static", .keys = static_keys,
	.size = sizeof(struct conf_static),
	.doc = "Serve files from a directory.",
};

/* ---- headers, auth, waf -------------------------------------------------- */

#define H(f) offsetof(struct conf_headers, f)
static const struct conf_key headers_keys[] = {
	{ .name = "set", .type = &conf_t_kv, .off = H(set), .off2 = H(n_set),
	  .example = "{ X-Frame-Options: DENY }",
	  .doc = "response headers to set (replacing any from upstream)" },
	{ .name = "remove", .type = &conf_t_strings, .off = H(remove),
	  .off2 = H(n_remove), .example = "[Server]",
	  .doc = "response headers to remove" },
	{ .name = "request_set", .type = &conf_t_kv, .off = H(request_set),
	  .off2 = H(n_request_set), .example = "{ X-Env: prod }",
	  .doc = "request headers to set towards the upstream" },
	{ .name = NULL },
};

static const struct conf_section headers_section = {
	.name = "routes[].headers", .keys = headers_keys,
	.size = sizeof(struct conf_headers),
	.doc = "Header rewriting.",
};

#define AB(f) offsetof(struct conf_auth_basic, f)
static const struct conf_key basic_keys[] = {
	{ .name = "users_file", .type = &conf_t_path, .off = AB(users_file),
	  .flags = CK_REQUIRED, .example = "/etc/limen/htpasswd",
	  .doc = "htpasswd lines: bcrypt or SHA-crypt hashes" },
	{ .name = "realm", .type = &conf_t_string, .off = AB(realm),
	  .def = "limen", .doc = "realm shown by browsers" },
	{ .name = NULL },
};

static const struct conf_section basic_section = {
	.name = "routes[].auth.basic", .keys = basic_keys,
	.size = sizeof(struct conf_auth_basic),
	.doc = "HTTP Basic authentication.",
};

#define AF(f) offsetof(struct conf_auth_forward, f)
static const struct conf_key forward_keys[] = {
	{ .name = "url", .type = &conf_t_string, .off = AF(url),
	  .flags = CK_REQUIRED, .example = "http://127.0.0.1:4180/oauth2/auth",
	  .doc = "asked for every request; 2xx lets it through" },
	{ .name = "copy_headers", .type = &conf_t_strings,
	  .off = AF(copy_headers), .off2 = AF(n_copy_headers),
	  .example = "[X-Auth-Request-User]",
	  .doc = "headers of the answer copied into the upstream request" },
	{ .name = "timeout", .type = &conf_t_duration, .off = AF(timeout_ms),
	  .def = "2s", .min = 1, .doc = "deadline for the auth answer" },
	{ .name = "cache", .type = &conf_t_duration, .off = AF(cache_ms),
	  .def = "0", .doc = "cache positive answers this long; 0 = no cache" },
	{ .name = NULL },
};

static const struct conf_section forward_section = {
	.name = "routes[].auth.forward", .keys = forward_keys,
	.size = sizeof(struct conf_auth_forward),
	.doc = "Forward authentication (oauth2-proxy, Authelia).",
};

static void
jwt_finish(struct conf_ctx *x, const struct ynode *n, void *obj,
    const bool *seen)
{
	struct conf_auth_jwt *j = obj;

	if ((j->jwks_file == NULL) == (j->jwks_url == NULL))
		conf_err(x, n, "needs exactly one of jwks_file and jwks_url");
}

#define AJ(f) offsetof(struct conf_auth_jwt, f)
static const struct conf_key jwt_keys[] = {
	{ .name = "jwks_file", .type = &conf_t_path, .off = AJ(jwks_file),
	  .example = "/etc/limen/jwks.json", .doc = "the signing keys (JWKS)" },
	{ .name = "jwks_url", .type = &conf_t_string, .off = AJ(jwks_url),
	  .example = "https://id.example.com/.well-known/jwks.json",
	  .doc = "or fetched from here (https; http only to loopback) and "
	  "refreshed in the background" },
	{ .name = "jwks_ca_file", .type = &conf_t_path, .off = AJ(jwks_ca_file),
	  .example = "/etc/limen/idp-ca.pem",
	  .doc = "PEM roots to verify jwks_url's server with, instead of the "
	  "system's" },
	{ .name = "issuer", .type = &conf_t_string, .off = AJ(issuer),
	  .example = "https://id.example.com", .doc = "required `iss`" },
	{ .name = "audience", .type = &conf_t_string, .off = AJ(audience),
	  .example = "api", .doc = "required `aud`" },
	{ .name = "claims_to_headers", .type = &conf_t_kv,
	  .off = AJ(claims_to_headers), .off2 = AJ(n_claims_to_headers),
	  .example = "{ sub: X-User }",
	  .doc = "claim: header pairs passed to the upstream" },
	{ .name = "leeway", .type = &conf_t_duration, .off = AJ(leeway_ms),
	  .def = "30s", .doc = "clock skew allowed for exp/nbf" },
	{ .name = NULL },
};

static const struct conf_section jwt_section = {
	.name = "routes[].auth.jwt", .keys = jwt_keys,
	.size = sizeof(struct conf_auth_jwt), .finish = jwt_finish,
	.doc = "Bearer JWT validation.",
};

#define AU(f) offsetof(struct conf_auth, f)
static const struct conf_key auth_keys[] = {
	{ .name = "basic", .type = &conf_t_section_ptr, .off = AU(basic),
	  .sub = &basic_section, .doc = "HTTP Basic" },
	{ .name = "forward", .type = &conf_t_section_ptr, .off = AU(forward),
	  .sub = &forward_section, .doc = "forward auth" },
	{ .name = "jwt", .type = &conf_t_section_ptr, .off = AU(jwt),
	  .sub = &jwt_section, .doc = "JWT bearer tokens" },
	{ .name = NULL },
};

static const struct conf_section auth_section = {
	.name = "routes[].auth", .keys = auth_keys,
	.size = sizeof(struct conf_auth),
	.doc = "Authentication: every method configured must pass.",
};

static const struct conf_enum waf_modes[] = {
	{ "block", WAF_BLOCK }, { "detect", WAF_DETECT }, { NULL, 0 },
};

#define W(f) offsetof(struct conf_waf, f)
static const struct conf_key waf_keys[] = {
	{ .name = "rules", .type = &conf_t_path, .off = W(rules),
	  .flags = CK_REQUIRED, .example = "/usr/share/modsecurity-crs",
	  .doc = "ModSecurity rules file or directory" },
	{ .name = "mode", .type = &conf_t_enum, .off = W(mode), .def = "block",
	  .enums = waf_modes, .doc = "block (403) or detect (log only)" },
	{ .name = NULL },
};

static const struct conf_section waf_section = {
	.name = "routes[].waf", .keys = waf_keys, .size = sizeof(struct conf_waf),
	.doc = "Web application firewall (libmodsecurity).",
};

/* hsts: a duration, true (one year) or false */
static int
parse_hsts(struct conf_ctx *x, const struct conf_key *k,
    const struct ynode *n, void *dst, void *base)
{
	const char *s = conf_scalar(x, n, "a duration or true"), *e;
	uint64_t ms;

	if (s == NULL)
		return -1;
	if (strcmp(s, "true") == 0)
		ms = 365ULL * 86400 * 1000;
	else if (strcmp(s, "false") == 0)
		ms = 0;
	else if (strict_duration(s, &ms, &e) == -1) {
		conf_err(x, n, "expected a duration or true, not '%s'", s);
		return -1;
	}
	*(uint64_t *)dst = ms / 1000;
	return 0;
}

static const struct conf_type t_hsts = { "duration or bool", parse_hsts };

/* ---- the route ----------------------------------------------------------- */

static const char *const action_keys[] = { "pool", "redirect", "respond",
	"static" };
static const enum conf_action action_values[] = { ACTION_POOL,
	ACTION_REDIRECT, ACTION_RESPOND, ACTION_STATIC };

static void
route_finish(struct conf_ctx *x, const struct ynode *n, void *obj,
    const bool *seen)
{
	const struct conf_section *s = &conf_schema_route;
	struct conf_route *r = obj;
	const char *given[4];
	size_t ng = 0;

	r->line = n->line;
	r->col = n->col;
	r->index = x->index;
	for (size_t i = 0; i < 4; i++) {
		int ki = conf_key_index(s, action_keys[i]);
		if (ki >= 0 && seen[ki]) {
			given[ng++] = action_keys[i];
			r->action = action_values[i];
		}
	}
	if (n->kind != YNODE_MAP)
		return;
	if (ng == 0)
		conf_err(x, n, "needs one action: pool, redirect, respond or "
		    "static");
	else if (ng > 1)
		conf_err(x, n, "has %s and %s; give exactly one action (pool, "
		    "redirect, respond or static)", given[0], given[1]);
}

static const struct conf_key route_keys[] = {
	{ .name = "host", .type = &conf_t_strings, .off = R(hosts),
	  .off2 = R(n_hosts), .flags = CK_LOWER, .def = "\"*\"",
	  .doc = "host names: exact, \"*.example.com\" (one label) or \"*\"; "
	    "a string or a list" },
	{ .name = "path", .type = &conf_t_string, .off = R(path), .def = "/",
	  .doc = "prefix on segment boundaries: /api matches /api, /api/, "
	    "/api/x, not /apix" },
	{ .name = "strip_prefix", .type = &conf_t_bool, .off = R(strip_prefix),
	  .def = "false", .doc = "remove the matched path before proxying" },
	{ .name = "pool", .type = &conf_t_string, .off = R(pool_name),
	  .example = "backend", .doc = "action: proxy to this pool" },
	{ .name = "redirect", .type = &conf_t_section, .off = R(redirect),
	  .off2 = CONF_NO_OFF2, .sub = &redirect_section,
	  .doc = "action: answer with a redirect" },
	{ .name = "respond", .type = &conf_t_section, .off = R(respond),
	  .off2 = CONF_NO_OFF2, .sub = &respond_section,
	  .doc = "action: answer with a fixed response" },
	{ .name = "static", .type = &conf_t_section, .off = R(static_files),
	  .off2 = CONF_NO_OFF2, .sub = &static_section,
	  .doc = "action: serve files" },
	{ .name = "rate_limit", .type = &conf_t_section, .off = R(rate_limit),
	  .off2 = R(rate_limit) + RL(enabled), .sub = &rl_section,
	  .doc = "limit requests per client" },
	{ .name = "allow", .type = &conf_t_cidrs, .off = R(allow),
	  .off2 = R(n_allow), .example = "[10.0.0.0/8, 192.168.0.0/16]",
	  .doc = "only these networks (else 403); everyone if unset" },
	{ .name = "max_body", .type = &conf_t_size, .off = R(max_body),
	  .def = "0", .doc = "largest request body (else 413); 0 = unlimited" },
	{ .name = "headers", .type = &conf_t_section, .off = R(headers),
	  .off2 = CONF_NO_OFF2, .sub = &headers_section,
	  .doc = "header rewriting" },
	{ .name = "auth", .type = &conf_t_section, .off = R(auth),
	  .off2 = CONF_NO_OFF2, .sub = &auth_section,
	  .doc = "authentication" },
	{ .name = "compress", .type = &conf_t_bool, .off = R(compress),
	  .def = "false",
	  .doc = "gzip / br / zstd by Accept-Encoding for text types" },
	{ .name = "waf", .type = &conf_t_section_ptr, .off = R(waf),
	  .sub = &waf_section, .doc = "web application firewall" },
	{ .name = "hsts", .type = &t_hsts, .off = R(hsts_max_age),
	  .def = "false",
	  .doc = "Strict-Transport-Security max-age on TLS answers; true = 1 "
	    "year" },
	{ .name = NULL },
};

const struct conf_section conf_schema_route = {
	.name = "routes[]", .keys = route_keys,
	.size = sizeof(struct conf_route), .finish = route_finish,
	.doc = "Requests go to the route with the best host match (exact, "
	    "then wildcard, then \"*\"), then the longest path.  Each route has "
	    "exactly one action: `pool`, `redirect`, `respond` or `static`.",
};
