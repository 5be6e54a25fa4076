/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * action_proxy_auth.c — the auth.forward subrequest (SPEC §3 Gateway
 * checks; the nginx auth_request / Traefik ForwardAuth contract, decided
 * by proxy/auth_forward.h).
 *
 * A small dedicated HTTP/1.1 client on the worker's event_base: one
 * connection per subrequest (`Connection: close`), `GET url` with the
 * client's passable headers and the X-Forwarded-* set, the whole answer
 * read into one evbuffer bounded by the head limit plus
 * AUTH_FORWARD_BODY_MAX, one timer for the configured timeout.  A 2xx
 * copies copy_headers onto the request and goes on with the WAF and the
 * action; any other status goes back to the client as it is; a timeout,
 * a refused connection or an unparsable answer is 503.  If the client
 * goes away first, the exchange's on_free tears the subrequest down.
 *
 * With `cache`, a 2xx answer's copied headers are kept per worker thread
 * (FWD_CACHE_SLOTS entries of at most FWD_CACHE_VALUE bytes, keyed by
 * auth_forward_cache_key() and the snapshot generation, so a reload
 * starts afresh); requests with neither Authorization nor Cookie are
 * never cached.
 *
 * https URLs are verified against the system's trusted roots
 * (SSL_CERT_FILE / SSL_CERT_DIR are honoured, as everywhere in OpenSSL).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>

#include "common/arena.h"
#include "common/log.h"
#include "proxy/auth_forward.h"
#include "proxy/checks.h"
#include "proxy/exchange.h"
#include "proxy/gateway.h"
#include "proxy/h1_parse.h"
#include "proxy/snapshot.h"
#include "proxy/worker.h"

#define FWD_HEAD_MAX (32 * 1024)
#define FWD_CACHE_SLOTS 64
#define FWD_CACHE_VALUE 1024		/* names and values of one entry */

struct fwd_cache_entry {
	unsigned char key[32];
	uint64_t generation;		/* 0: empty */
	uint64_t expires_ms;
	uint16_t n_headers;
	uint16_t len;
	char blob[FWD_CACHE_VALUE];	/* name NUL value NUL ... */
};

static _Thread_local struct fwd_cache_entry fwd_cache[FWD_CACHE_SLOTS];

struct fwd {
	struct exchange *x;
	const struct conf_auth_forward *conf;
	struct bufferevent *bev;
	struct event *timer;
	struct h1_response resp;
	bool cacheable;
	bool tls;
	unsigned char key[32];
};

static void fwd_cache_store(struct fwd *f);

static void
fwd_close(struct fwd *f)
{
	if (f->bev != NULL)
		bufferevent_free(f->bev);
	if (f->timer != NULL)
		event_free(f->timer);
	f->bev = NULL;
	f->timer = NULL;
	f->x->on_free = NULL;
}

static void
fwd_on_free(struct exchange *x)
{
	fwd_close(x->action_ctx);
}

static void
fwd_fail(struct fwd *f, const char *why)
{
	struct exchange *x = f->x;

	log_warnx("auth: request %s: forward auth %s: %s", x->request_id,
	    f->conf->url, why);
	fwd_close(f);
	x->action_ctx = NULL;
	exchange_error(x, 503);
}

/* The answer is complete in buf: head parsed in f->resp, body after it. */
static void
fwd_answer(struct fwd *f, const char *buf, size_t len)
{
	struct exchange *x = f->x;
	const struct h1_response *r = &f->resp;
	enum auth_forward_verdict v = auth_forward_decide(r->status);
	struct evbuffer *body = NULL;
	size_t i;

	if (v == AUTH_FORWARD_UNAVAILABLE) {
		fwd_fail(f, "unexpected status");
		return;
	}
	if (v == AUTH_FORWARD_PASS) {
		for (i = 0; i < r->n_headers; i++) {
			const struct h1_header *h = &r->headers[i];

			if (auth_forward_copy_header(f->conf, h->name,
			    h->name_len) &&
			    checks_req_add(x, h->name, h->name_len, h->value,
			    h->value_len) == -1) {
				fwd_fail(f, "out of memory");
				return;
			}
		}
		if (f->cacheable)
			fwd_cache_store(f);
		fwd_close(f);
		x->action_ctx = NULL;
		checks_after_forward(x);
		return;
	}
	/* RELAY: the answer as it is, the body decoded from its framing. */
	if ((body = evbuffer_new()) == NULL) {
		fwd_fail(f, "out of memory");
		return;
	}
	if (r->body == H1_BODY_CHUNKED) {
		struct h1_chunked c;
		const char *p = buf + r->head_len;
		size_t left = len - r->head_len, used, off, dlen;
		enum h1_err err;
		int rc = 0;

		h1_chunked_init(&c);
		while (rc == 0 && left > 0) {
			rc = h1_chunked_feed(&c, p, left, &used, &off, &dlen,
			    &err);
			if (rc == -1)
				break;
			if (dlen > 0)
				evbuffer_add(body, p + off, dlen);
			p += used;
			left -= used;
			if (used == 0 && dlen == 0)
				break;
		}
		if (rc != 1) {
			evbuffer_free(body);
			fwd_fail(f, "bad chunked body");
			return;
		}
	} else if (r->body != H1_BODY_NONE) {
		size_t n = len - r->head_len;

		if (r->body == H1_BODY_LENGTH && n > r->content_length)
			n = (size_t)r->content_length;
		evbuffer_add(body, buf + r->head_len, n);
	}
	exchange_resp_start(x, r->status);
	for (i = 0; i < r->n_headers; i++) {
		const struct h1_header *h = &r->headers[i];

		if (auth_forward_relay_header(h->name, h->name_len))
			exchange_resp_add(x, h->name, h->name_len, h->value,
			    h->value_len);
	}
	fwd_close(f);
	x->action_ctx = NULL;
	len = evbuffer_get_length(body);
	if (exchange_send_head(x, EXCHANGE_BODY_LENGTH, len) == 0 && len > 0)
		exchange_send_body(x, body, len);
	evbuffer_free(body);
	exchange_send_end(x);
}

/* Is the whole answer in? 1 yes (parsed), 0 not yet, -1 bad. */
static int
fwd_complete(struct fwd *f, const char *buf, size_t len, bool eof)
{
	enum h1_err err;
	int rc;

	rc = h1_parse_response(buf, len, false, &f->resp, &err);
	if (rc == -1)
		return -1;
	if (rc == H1_AGAIN)
		return eof ? -1 : 0;
	if (f->resp.status < 200)
		return -1;
	switch (f->resp.body) {
	case H1_BODY_NONE:
		return 1;
	case H1_BODY_LENGTH:
		if (len - f->resp.head_len >= f->resp.content_length)
			return 1;
		return eof ? -1 : 0;
	case H1_BODY_CHUNKED:
		if (eof)
			return 1;	/* checked when decoding */
		/* the last chunk ends with an empty line */
		if (len - f->resp.head_len >= 5 &&
		    memcmp(buf + len - 5, "0\r\n\r\n", 5) == 0)
			return 1;
		return 0;
	case H1_BODY_UNTIL_CLOSE:
		return eof ? 1 : 0;
	}
	return -1;
}

static void
fwd_check(struct fwd *f, bool eof)
{
	struct evbuffer *in = bufferevent_get_input(f->bev);
	size_t len = evbuffer_get_length(in);
	const char *buf;
	int rc;

	if (len > FWD_HEAD_MAX + AUTH_FORWARD_BODY_MAX) {
		fwd_fail(f, "answer too long");
		return;
	}
	if (len == 0) {
		if (eof)
			fwd_fail(f, "connection closed without an answer");
		return;
	}
	buf = (const char *)evbuffer_pullup(in, -1);
	rc = fwd_complete(f, buf, len, eof);
	if (rc == -1)
		fwd_fail(f, "unparsable answer");
	else if (rc == 1)
		fwd_answer(f, buf, len);
}

static void
fwd_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	fwd_check(arg, false);
}

static void
fwd_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct fwd *f = arg;
	unsigned long e;

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (what & BEV_EVENT_EOF) {
		fwd_check(f, true);
		return;
	}
	if ((what & BEV_EVENT_ERROR) && f->tls &&
	    (e = bufferevent_get_openssl_error(bev)) != 0) {
		const char *r = ERR_reason_error_string(e);

		while (bufferevent_get_openssl_error(bev) != 0)
			;
		ERR_clear_error();
		fwd_fail(f, r != NULL ? r : "TLS handshake failed");
		return;
	}
	fwd_fail(f, (what & BEV_EVENT_ERROR) ?
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()) :
	    "connection failed");
}

static void
fwd_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fwd_fail(arg, "timed out");
}

static int
fwd_write_request(struct fwd *f, const struct auth_forward_url *u)
{
	struct exchange *x = f->x;
	struct evbuffer *out = bufferevent_get_output(f->bev);
	struct auth_forward_header xf[AUTH_FORWARD_XF_N];
	struct auth_forward_req req;
	char *uri;
	size_t n, ulen;

	evbuffer_add_printf(out, "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "Connection: close\r\n", u->path, u->authority);
	for (size_t i = 0; i < x->n_req_headers; i++) {
		const struct exchange_header *h = &x->req_headers[i];

		if (!auth_forward_pass_request_header(h->name, h->name_len))
			continue;
		evbuffer_add(out, h->name, h->name_len);
		evbuffer_add(out, ": ", 2);
		evbuffer_add(out, h->value, h->value_len);
		evbuffer_add(out, "\r\n", 2);
	}
	ulen = x->path_len + (x->query ? 1 + x->query_len : 0);
	if ((uri = arena_alloc(x->arena, ulen + 1)) == NULL)
		return -1;
	memcpy(uri, x->path, x->path_len);
	if (x->query != NULL) {
		uri[x->path_len] = '?';
		memcpy(uri + x->path_len + 1, x->query, x->query_len);
	}
	uri[ulen] = '\0';
	memset(&req, 0, sizeof(req));
	req.method = x->method;
	req.method_len = x->method_len;
	req.tls = x->tls;
	req.host = x->host_header ? x->host_header : x->host;
	req.host_len = x->host_header ? x->host_header_len : x->host_len;
	req.uri = uri;
	req.uri_len = ulen;
	req.client_ip = x->client_ip;
	n = auth_forward_xf_headers(&req, xf);
	for (size_t i = 0; i < n; i++) {
		evbuffer_add_printf(out, "%s: ", xf[i].name);
		evbuffer_add(out, xf[i].value, xf[i].value_len);
		evbuffer_add(out, "\r\n", 2);
	}
	return evbuffer_add(out, "\r\n", 2);
}

static uint64_t
fwd_now_ms(void)
{
	return worker_now_ns() / 1000000;
}

/* A cached pass for this request: headers copied, 1; else 0; -1 on OOM. */
static int
fwd_cache_lookup(struct fwd *f)
{
	struct exchange *x = f->x;
	struct fwd_cache_entry *e;
	const char *p;

	e = &fwd_cache[f->key[0] % FWD_CACHE_SLOTS];
	if (e->generation != x->ws->snap->generation ||
	    e->expires_ms <= fwd_now_ms() ||
	    CRYPTO_memcmp(e->key, f->key, sizeof(f->key)) != 0)
		return 0;
	p = e->blob;
	for (unsigned i = 0; i < e->n_headers; i++) {
		size_t nl = strlen(p), vl = strlen(p + nl + 1);

		if (checks_req_add(x, p, nl, p + nl + 1, vl) == -1)
			return -1;
		p += nl + vl + 2;
	}
	return 1;
}

static void
fwd_cache_store(struct fwd *f)
{
	struct exchange *x = f->x;
	struct fwd_cache_entry *e = &fwd_cache[f->key[0] % FWD_CACHE_SLOTS];
	size_t len = 0, n = 0;

	e->generation = 0;
	for (size_t i = 0; i < f->resp.n_headers; i++) {
		const struct h1_header *h = &f->resp.headers[i];

		if (!auth_forward_copy_header(f->conf, h->name, h->name_len))
			continue;
		if (len + h->name_len + h->value_len + 2 > sizeof(e->blob) ||
		    memchr(h->value, '\0', h->value_len) != NULL)
			return;		/* too big to keep: not cached */
		memcpy(e->blob + len, h->name, h->name_len);
		len += h->name_len;
		e->blob[len++] = '\0';
		memcpy(e->blob + len, h->value, h->value_len);
		len += h->value_len;
		e->blob[len++] = '\0';
		n++;
	}
	memcpy(e->key, f->key, sizeof(e->key));
	e->n_headers = (uint16_t)n;
	e->len = (uint16_t)len;
	e->expires_ms = fwd_now_ms() + f->conf->cache_ms;
	e->generation = x->ws->snap->generation;
}

/* A plain or TLS bufferevent for the auth URL (TLS: SNI and the name or
 * address verified against the system's trusted roots). */
static struct bufferevent *
fwd_bev_new(struct exchange *x, const struct auth_forward_url *u)
{
	struct bufferevent *bev;
	unsigned char ip[16];
	SSL *ssl;

	if (!u->tls)
		return bufferevent_socket_new(x->w->base, -1,
		    BEV_OPT_CLOSE_ON_FREE);
	if ((ssl = SSL_new(gateway_tls_client(x->ws->snap->gateway))) ==
	    NULL)
		return NULL;
	if (inet_pton(AF_INET, u->host, ip) == 1 ||
	    inet_pton(AF_INET6, u->host, ip) == 1) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		    u->host) != 1)
			goto fail;
	} else if (SSL_set_tlsext_host_name(ssl, u->host) != 1 ||
	    SSL_set1_host(ssl, u->host) != 1)
		goto fail;
	bev = bufferevent_openssl_socket_new(x->w->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		goto fail;
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
fail:
	SSL_free(ssl);
	return NULL;
}

enum checks_result
checks_forward_start(struct exchange *x)
{
	const struct gateway_route *g;
	struct fwd *f;
	struct timeval tv;
	uint64_t ms;

	g = gateway_route(x->ws->snap->gateway, x->route->index);
	if ((f = arena_calloc(x->arena, 1, sizeof(*f))) == NULL) {
		exchange_error(x, 503);
		return CHECKS_ANSWERED;
	}
	f->x = x;
	f->conf = x->route->auth.forward;
	f->tls = g->forward_url.tls;
	x->action_ctx = f;
	x->on_free = fwd_on_free;
	if (f->conf->cache_ms > 0) {
		const struct exchange_header *a = exchange_req_header(x,
		    "authorization");
		const struct exchange_header *c = exchange_req_header(x,
		    "cookie");

		f->cacheable = auth_forward_cache_key(x->route->index,
		    a ? a->value : NULL, a ? a->value_len : 0,
		    c ? c->value : NULL, c ? c->value_len : 0, f->key) == 0;
		if (f->cacheable) {
			int rc = fwd_cache_lookup(f);

			if (rc != 0) {
				x->on_free = NULL;
				x->action_ctx = NULL;
				if (rc == -1) {
					exchange_error(x, 500);
					return CHECKS_ANSWERED;
				}
				/* the caller goes on with the WAF and the
				 * action */
				return CHECKS_PASS;
			}
		}
	}
	ms = f->conf->timeout_ms ? f->conf->timeout_ms : 2000;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if ((f->timer = evtimer_new(x->w->base, fwd_timeout_cb, f)) == NULL ||
	    evtimer_add(f->timer, &tv) == -1 ||
	    (f->bev = fwd_bev_new(x, &g->forward_url)) == NULL) {
		fwd_fail(f, "cannot set up the connection");
		return CHECKS_ANSWERED;
	}
	bufferevent_setcb(f->bev, fwd_read_cb, NULL, fwd_event_cb, f);
	if (fwd_write_request(f, &g->forward_url) == -1 ||
	    bufferevent_enable(f->bev, EV_READ | EV_WRITE) == -1 ||
	    bufferevent_socket_connect_hostname(f->bev, NULL, AF_UNSPEC,
	    g->forward_url.host, g->forward_url.port) == -1) {
		fwd_fail(f, "cannot connect");
		return CHECKS_ANSWERED;
	}
	return CHECKS_PENDING;
}
