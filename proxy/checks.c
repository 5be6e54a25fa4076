/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * checks.c — the gateway checks of one exchange (see checks.h): identity
 * headers stripped, then auth.basic, auth.jwt, auth.forward and the WAF,
 * with the per-configuration state of proxy/gateway.h.
 *
 * exchange.c calls checks_strip() before allow and rate_limit, and
 * checks_run() after them.
 *
 * The WAF inspects the request line and headers, then waits (the
 * exchange stays in CHECKS) for the first WAF_BODY_MAX bytes of a request
 * body, or the whole body if shorter, and inspects them; they stay in
 * req_body, so the action streams the body on as usual.  The rest of a
 * longer body is not inspected.
 */
#include "proxy/checks.h"

#include <netinet/in.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "common/arena.h"
#include "common/log.h"
#include "proxy/auth_basic.h"
#include "proxy/exchange.h"
#include "proxy/gateway.h"
#include "proxy/jwks.h"
#include "proxy/jwt.h"
#include "proxy/snapshot.h"
#include "proxy/waf.h"

#define CHECKS_JWT_HEADERS_MAX 32

int
checks_req_add(struct exchange *x, const char *name, size_t name_len,
    const char *value, size_t value_len)
{
	struct exchange_header *h;

	/* The front's array has no spare room: grow into a new arena copy
	 * (a handful of auth headers per request at most). */
	h = arena_calloc(x->arena, x->n_req_headers + 2, sizeof(*h));
	if (h == NULL)
		return -1;
	if (x->n_req_headers > 0)
		memcpy(h, x->req_headers, x->n_req_headers * sizeof(*h));
	if ((h[x->n_req_headers].name = arena_strndup(x->arena, name,
	    name_len)) == NULL ||
	    (h[x->n_req_headers].value = arena_strndup(x->arena, value,
	    value_len)) == NULL)
		return -1;
	h[x->n_req_headers].name_len = name_len;
	h[x->n_req_headers].value_len = value_len;
	x->req_headers = h;
	x->n_req_headers++;
	return 0;
}

void
checks_strip(struct exchange *x)
{
	size_t i, n = 0;

	for (i = 0; i < x->n_req_headers; i++) {
		const struct exchange_header *h = &x->req_headers[i];

		if (gateway_strips_request_header(x->route, h->name,
		    h->name_len))
			continue;
		x->req_headers[n++] = *h;
	}
	x->n_req_headers = n;
}

static void
checks_401(struct exchange *x, const char *challenge)
{
	exchange_resp_start(x, 401);
	exchange_resp_add_ref(x, "WWW-Authenticate", 16, challenge,
	    strlen(challenge));
	exchange_respond(x, 401, NULL, NULL, 0);
}

static int
checks_basic(struct exchange *x, const struct gateway_route *g)
{
	const struct exchange_header *h = exchange_req_header(x,
	    "authorization");
	char user[AUTH_BASIC_USER_MAX + 1];
	enum auth_basic_result r;

	r = auth_basic_check(g->basic, h ? h->value : NULL,
	    h ? h->value_len : 0, user, sizeof(user));
	if (r == AUTH_BASIC_OK)
		return 0;
	if (r == AUTH_BASIC_DENIED)
		log_info("auth: request %s: basic credentials refused",
		    x->request_id);
	checks_401(x, auth_basic_challenge(g->basic));
	return -1;
}

static int
checks_jwt(struct exchange *x, const struct gateway_route *g)
{
	const struct conf_auth_jwt *policy = x->route->auth.jwt;
	const struct exchange_header *h = exchange_req_header(x,
	    "authorization");
	struct jwt_header out[CHECKS_JWT_HEADERS_MAX];
	struct jwt_token *tok = NULL;
	const struct jwt_keyset *ks = g->jwks;
	struct jwks_keys *hold = NULL;
	enum jwt_result r;
	size_t n;
	int rc = 0;

	if (g->jwks_src != NULL)
		ks = jwks_acquire(g->jwks_src, &hold);
	r = jwt_verify(ks, policy, h ? h->value : NULL,
	    h ? h->value_len : 0, time(NULL), &tok);
	jwks_release(hold);
	if (r == JWT_NO_KEY && g->jwks_src != NULL) {
		/* a rotated key, or none loaded yet: fetch early (limited) */
		jwks_source_kick(g->jwks_src);
		if (ks == NULL) {
			/* fail closed, like an unreachable forward auth */
			log_info("auth: request %s: bearer token refused: no "
			    "keys from %s yet", x->request_id,
			    jwks_source_url(g->jwks_src));
			exchange_error(x, 503);
			return -1;
		}
	}
	if (r != JWT_OK) {
		if (r != JWT_MISSING)
			log_info("auth: request %s: bearer token refused: %s",
			    x->request_id, jwt_result_str(r));
		checks_401(x, jwt_challenge(r));
		return -1;
	}
	n = jwt_claims_to_headers(tok, policy, out, CHECKS_JWT_HEADERS_MAX);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = checks_req_add(x, out[i].name, strlen(out[i].name),
		    out[i].value, out[i].value_len);
	jwt_token_free(tok);
	if (rc == -1) {
		exchange_error(x, 500);
		return -1;
	}
	return 0;
}

static void
checks_waf_free(void *arg)
{
	waf_tx_free(arg);
}

/*
 * The body part of the WAF: once WAF_BODY_MAX bytes (or the whole body)
 * are in req_body, feed them (without draining) and decide.  0 while
 * waiting, 1 passed (on_req_body and action_ctx cleared), -1 answered.
 */
static int
checks_waf_body(struct exchange *x)
{
	struct waf_tx *tx = x->action_ctx;
	size_t have = evbuffer_get_length(x->req_body);
	size_t want = waf_tx_body_wanted(tx);

	if (!x->req_body_done && have < want)
		return 0;
	if (have > want)
		have = want;
	x->on_req_body = NULL;
	x->action_ctx = NULL;
	if (have > 0 && waf_tx_body(tx, evbuffer_pullup(x->req_body,
	    (ev_ssize_t)have), have) == -1) {
		exchange_error(x, 500);
		return -1;
	}
	if (waf_tx_body_done(tx) == WAF_DENY) {
		exchange_error(x, waf_tx_status(tx));
		return -1;
	}
	return 1;
}

static void
checks_waf_on_body(struct exchange *x)
{
	if (checks_waf_body(x) == 1)
		exchange_act(x);
}

/* 0 passed, 1 waiting for the body (continues by itself), -1 answered. */
static int
checks_waf(struct exchange *x, const struct gateway_route *g)
{
	struct waf_tx *tx;
	char *target;
	size_t tlen;
	int port = 0;
	enum waf_verdict v;

	if ((tx = waf_tx_new(g->waf, g->waf_mode, x->request_id)) == NULL ||
	    arena_add_cleanup(x->arena, checks_waf_free, tx) == -1) {
		waf_tx_free(tx);
		exchange_error(x, 500);
		return -1;
	}
	if (x->client.ss_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)(const void *)
		    &x->client)->sin_port);
	else if (x->client.ss_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)(const void *)
		    &x->client)->sin6_port);
	tlen = x->path_len + (x->query ? 1 + x->query_len : 0);
	if ((target = arena_alloc(x->arena, tlen + 1)) == NULL) {
		exchange_error(x, 500);
		return -1;
	}
	memcpy(target, x->path, x->path_len);
	if (x->query != NULL) {
		target[x->path_len] = '?';
		memcpy(target + x->path_len + 1, x->query, x->query_len);
	}
	target[tlen] = '\0';
	if (waf_tx_connection(tx, x->client_ip, port, "0.0.0.0", 0) == -1 ||
	    waf_tx_request_line(tx, x->method, x->method_len, target, tlen,
	    x->http_major == 2 ? "2.0" : x->http_minor == 0 ? "1.0" :
	    "1.1") == -1) {
		exchange_error(x, 500);
		return -1;
	}
	for (size_t i = 0; i < x->n_req_headers; i++)
		if (waf_tx_header(tx, x->req_headers[i].name,
		    x->req_headers[i].name_len, x->req_headers[i].value,
		    x->req_headers[i].value_len) == -1) {
			exchange_error(x, 500);
			return -1;
		}
	v = waf_tx_headers_done(tx);
	if (v == WAF_DENY) {
		exchange_error(x, waf_tx_status(tx));
		return -1;
	}
	if (x->req_body_kind != EXCHANGE_BODY_NONE &&
	    waf_tx_body_wanted(tx) > 0) {
		/* Wait for the first WAF_BODY_MAX bytes (or the whole body):
		 * they stay in req_body for the action. */
		x->action_ctx = tx;
		x->on_req_body = checks_waf_on_body;
		exchange_continue(x);
		switch (checks_waf_body(x)) {
		case 0:
			return 1;	/* waiting */
		case 1:
			return 0;
		default:
			return -1;
		}
	}
	if (waf_tx_body_done(tx) == WAF_DENY) {
		exchange_error(x, waf_tx_status(tx));
		return -1;
	}
	return 0;
}

enum checks_result
checks_run(struct exchange *x)
{
	const struct gateway_route *g;

	g = gateway_route(x->ws->snap->gateway, x->route->index);
	if (g == NULL)
		return CHECKS_PASS;
	if (g->basic != NULL && checks_basic(x, g) == -1)
		return CHECKS_ANSWERED;
	if ((g->jwks != NULL || g->jwks_src != NULL) &&
	    checks_jwt(x, g) == -1)
		return CHECKS_ANSWERED;
	if (g->forward) {
		enum checks_result r = checks_forward_start(x);

		if (r != CHECKS_PASS)	/* PASS: a cached answer */
			return r;
	}
	if (g->waf != NULL)
		switch (checks_waf(x, g)) {
		case -1:
			return CHECKS_ANSWERED;
		case 1:
			return CHECKS_PENDING;
		}
	return CHECKS_PASS;
}

void
checks_after_forward(struct exchange *x)
{
	const struct gateway_route *g;

	g = gateway_route(x->ws->snap->gateway, x->route->index);
	if (g->waf != NULL && checks_waf(x, g) != 0)
		return;		/* answered, or waiting for the body */
	exchange_act(x);
}
