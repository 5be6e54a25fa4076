/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * gateway.c — per-configuration state of the gateway checks (see
 * gateway.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>

#include "conf/diag.h"
#include "proxy/auth_basic.h"
#include "proxy/gateway.h"
#include "proxy/jwks.h"
#include "proxy/jwt.h"
#include "proxy/waf.h"

struct gateway_waf {
	const char *path;
	struct waf_rules *rules;
};

struct gateway {
	struct gateway_route *routes;
	size_t n_routes;
	struct gateway_waf *wafs;	/* distinct rule sets */
	size_t n_wafs;
	SSL_CTX *tls_client;		/* https forward auth */
};

void
gateway_free(struct gateway *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->n_routes; i++) {
		auth_basic_free(g->routes[i].basic);
		jwt_keyset_free(g->routes[i].jwks);
		jwks_source_unref(g->routes[i].jwks_src);
	}
	for (size_t i = 0; i < g->n_wafs; i++)
		waf_rules_free(g->wafs[i].rules);
	SSL_CTX_free(g->tls_client);
	free(g->routes);
	free(g->wafs);
	free(g);
}

static struct waf_rules *
gateway_waf(struct gateway *g, const char *path, struct diag *d)
{
	struct waf_rules *r;

	for (size_t i = 0; i < g->n_wafs; i++)
		if (strcmp(g->wafs[i].path, path) == 0)
			return g->wafs[i].rules;
	if ((r = waf_rules_load(path, d)) == NULL)
		return NULL;
	g->wafs[g->n_wafs].path = path;
	g->wafs[g->n_wafs].rules = r;
	g->n_wafs++;
	return r;
}

static int
gateway_tls_new(struct gateway *g)
{
	if ((g->tls_client = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(g->tls_client, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_default_verify_paths(g->tls_client) != 1)
		return -1;
	SSL_CTX_set_verify(g->tls_client, SSL_VERIFY_PEER, NULL);
	return 0;
}

struct gateway *
gateway_new(const struct config *c, struct diag *d)
{
	struct gateway *g = calloc(1, sizeof *g);
	size_t errors = d->n_errors;

	if (g == NULL ||
	    (c->n_routes > 0 &&
	    ((g->routes = calloc(c->n_routes, sizeof *g->routes)) == NULL ||
	    (g->wafs = calloc(c->n_routes, sizeof *g->wafs)) == NULL))) {
		diag_error(d, c->path, 0, 0, "out of memory");
		gateway_free(g);
		return NULL;
	}
	g->n_routes = c->n_routes;
	for (size_t i = 0; i < c->n_routes; i++) {
		const struct conf_route *r = &c->routes[i];
		struct gateway_route *gr = &g->routes[i];

		if (r->auth.basic != NULL && r->auth.basic->users_file != NULL)
			gr->basic = auth_basic_load(r->auth.basic->users_file,
			    r->auth.basic->realm, d);
		if (r->auth.jwt != NULL) {
			if (r->auth.jwt->jwks_file != NULL)
				gr->jwks = jwt_keyset_load(
				    r->auth.jwt->jwks_file, d);
			else
				gr->jwks_src = jwks_source_get(
				    r->auth.jwt->jwks_url,
				    r->auth.jwt->jwks_ca_file, d);
		}
		if (r->auth.forward != NULL) {
			gr->forward = true;
			if (auth_forward_parse_url(r->auth.forward->url,
			    &gr->forward_url) == -1)
				diag_error(d, c->path, r->line, r->col,
				    "routes[%zu].auth.forward.url: not an "
				    "http(s) URL", i);
			else if (gr->forward_url.tls && g->tls_client == NULL &&
			    gateway_tls_new(g) == -1)
				diag_error(d, c->path, r->line, r->col,
				    "routes[%zu].auth.forward.url: cannot "
				    "set up a TLS client with the system's "
				    "trusted roots", i);
		}
		if (r->waf != NULL && r->waf->rules != NULL) {
			gr->waf = gateway_waf(g, r->waf->rules, d);
			gr->waf_mode = r->waf->mode;
		}
	}
	if (d->n_errors != errors) {
		gateway_free(g);
		return NULL;
	}
	return g;
}

SSL_CTX *
gateway_tls_client(const struct gateway *g)
{
	return g->tls_client;
}

const struct gateway_route *
gateway_route(const struct gateway *g, size_t index)
{
	return index < g->n_routes ? &g->routes[index] : NULL;
}

static bool
name_is(const char *name, size_t len, const char *lit)
{
	return strlen(lit) == len && strncasecmp(name, lit, len) == 0;
}

bool
gateway_strips_request_header(const struct conf_route *r, const char *name,
    size_t len)
{
	if (r->auth.forward != NULL)
		for (size_t i = 0; i < r->auth.forward->n_copy_headers; i++)
			if (name_is(name, len, r->auth.forward->copy_headers[i]))
				return true;
	if (r->auth.jwt != NULL)
		for (size_t i = 0; i < r->auth.jwt->n_claims_to_headers; i++)
			if (name_is(name, len,
			    r->auth.jwt->claims_to_headers[i].value))
				return true;
	return false;
}
