/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * exchange.c — the protocol-neutral request: routing, the gateway checks
 * (allow, rate_limit, max_body), dispatch to an action, and the helpers
 * actions answer with (see exchange.h).
 *
 * Response headers that every answer gets are added in exchange_send_head:
 * the route's `headers.remove` / `headers.set`, HSTS on TLS, and the
 * X-Request-ID, so no action can forget them.
 */
#include "proxy/exchange.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "common/arena.h"
#include "common/log.h"
#include "proxy/accesslog.h"
#include "proxy/acme_glue.h"
#include "proxy/action.h"
#include "proxy/metrics.h"	/* admin hook */
#include "proxy/checks.h"
#include "proxy/encode.h"
#include "proxy/headbuf.h"
#include "proxy/ratelimit.h"
#include "proxy/router.h"
#include "proxy/snapshot.h"
#include "proxy/worker.h"

#define EXCHANGE_ARENA_CHUNK 4096

/* Under AddressSanitizer an exchange's memory is really freed, never kept
 * for the next one, so that a use after free is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define EXCHANGE_KEEP_SPARES 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EXCHANGE_KEEP_SPARES 0
#endif
#endif
#ifndef EXCHANGE_KEEP_SPARES
#define EXCHANGE_KEEP_SPARES 1
#endif

struct exchange *
exchange_new(struct worker *w, const struct exchange_front *front,
    void *front_ctx)
{
	struct arena *a;
	struct evbuffer *body = NULL;
	struct exchange *x;

	if (w->n_xspare > 0) {	/* emptied by exchange_free */
		w->n_xspare--;
		a = w->xspare_arena[w->n_xspare];
		body = w->xspare_body[w->n_xspare];
	} else if ((a = arena_new(EXCHANGE_ARENA_CHUNK)) == NULL) {
		return NULL;
	}
	if ((x = arena_alloc(a, sizeof(*x))) == NULL ||
	    (body == NULL && (body = evbuffer_new()) == NULL)) {
		if (body != NULL)
			evbuffer_free(body);
		arena_free(a);
		return NULL;
	}
	x->req_body = body;
	x->arena = a;
	x->front = front;
	x->front_ctx = front_ctx;
	x->w = w;
	x->ws = w->cur;
	wsnap_ref(x->ws);
	x->conf = x->ws->snap->conf;
	x->state = EXCHANGE_ROUTE;
	x->start_ns = worker_now_ns();
	x->status = 0;
	return x;
}

void
exchange_free(struct exchange *x)
{
	struct worker *w;
	struct arena *a;
	struct evbuffer *body;

	if (x == NULL)
		return;
	if (x->on_free != NULL)
		x->on_free(x);
	accesslog_exchange(x->w, x);
	metrics_exchange_done(x);	/* admin hook */
	wsnap_unref(x->ws);
	/* x lives in its arena: nothing of it is used after this */
	w = x->w;
	a = x->arena;
	body = x->req_body;
	if (EXCHANGE_KEEP_SPARES && w->n_xspare < WORKER_XSPARES &&
	    evbuffer_get_length(body) == 0) {
		arena_reset(a);
		w->xspare_arena[w->n_xspare] = a;
		w->xspare_body[w->n_xspare] = body;
		w->n_xspare++;
		return;
	}
	evbuffer_free(body);
	arena_free(a);
}

void
exchange_spares_free(struct worker *w)
{
	while (w->n_xspare > 0) {
		w->n_xspare--;
		evbuffer_free(w->xspare_body[w->n_xspare]);
		arena_free(w->xspare_arena[w->n_xspare]);
	}
}

unsigned
exchange_method_flags(const char *m, size_t len)
{
#define IS(s) (len == sizeof(s) - 1 && memcmp(m, s, len) == 0)
	if (IS("GET"))
		return EXCHANGE_M_GET | EXCHANGE_M_IDEMPOTENT;
	if (IS("HEAD"))
		return EXCHANGE_M_HEAD | EXCHANGE_M_IDEMPOTENT;
	if (IS("PUT") || IS("DELETE") || IS("TRACE"))
		return EXCHANGE_M_IDEMPOTENT;
	if (IS("OPTIONS"))
		return EXCHANGE_M_OPTIONS | EXCHANGE_M_IDEMPOTENT;
	if (IS("CONNECT"))
		return EXCHANGE_M_CONNECT;
	return 0;
#undef IS
}

const struct exchange_header *
exchange_req_header(const struct exchange *x, const char *lname)
{
	size_t n = strlen(lname);

	for (size_t i = 0; i < x->n_req_headers; i++)
		if (x->req_headers[i].name_len == n &&
		    strncasecmp(x->req_headers[i].name, lname, n) == 0)
			return &x->req_headers[i];
	return NULL;
}

/* ---- the request id -------------------------------------------------- */

/* Keep a client's X-Request-ID if it is short and printable, else make one. */
static void
exchange_set_request_id(struct exchange *x)
{
	const struct exchange_header *h = exchange_req_header(x, "x-request-id");

	if (h != NULL && h->value_len > 0 &&
	    h->value_len < sizeof(x->request_id)) {
		size_t i;
		for (i = 0; i < h->value_len; i++) {
			unsigned char ch = (unsigned char)h->value[i];
			if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
				break;
		}
		if (i == h->value_len) {
			memcpy(x->request_id, h->value, h->value_len);
			x->request_id[h->value_len] = '\0';
			x->request_id_len = h->value_len;
			return;
		}
	}
	x->request_id_len = worker_request_id(x->w, x->request_id);
}

static void
exchange_client_ip(struct exchange *x)
{
	if (x->client.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)&x->client;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12],
			    x->client_ip, sizeof(x->client_ip));
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, x->client_ip,
			    sizeof(x->client_ip));
	} else if (x->client.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)&x->client;
		const uint8_t *b = (const uint8_t *)&s4->sin_addr;
		size_t n = 0;

		/* inet_ntop's dotted quad without its sprintf (issue 6: once
		 * per request) */
		for (int i = 0; i < 4; i++) {
			if (i > 0)
				x->client_ip[n++] = '.';
			n += headbuf_fmt_u64(x->client_ip + n, b[i]);
		}
		x->client_ip[n] = '\0';
	} else {
		strcpy(x->client_ip, "-");
	}
}

/* The client's address as 16 bytes, IPv4 mapped into IPv6 (like CIDRs). */
static void
exchange_client_addr16(const struct exchange *x, uint8_t out[16])
{
	memset(out, 0, 16);
	if (x->client.ss_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)(const void *)
		    &x->client)->sin6_addr, 16);
	} else if (x->client.ss_family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)(const void *)
		    &x->client)->sin_addr, 4);
	}
}

static bool
cidr_match(const struct conf_cidr *c, const uint8_t a[16])
{
	unsigned bits = c->prefix, i;

	for (i = 0; bits >= 8; i++, bits -= 8)
		if (a[i] != c->addr[i])
			return false;
	if (bits == 0)
		return true;
	return ((a[i] ^ c->addr[i]) & (uint8_t)(0xff << (8 - bits))) == 0;
}

/* ---- routing and checks ---------------------------------------------- */

static bool
exchange_is_acme_challenge(const struct exchange *x)
{
	static const char pfx[] = "/.well-known/acme-challenge/";

	return x->path_len >= sizeof(pfx) - 1 &&
	    memcmp(x->path, pfx, sizeof(pfx) - 1) == 0;
}

static void
exchange_redirect_https(struct exchange *x)
{
	const char *h = x->host_len ? x->host : "localhost";

	exchange_resp_start(x, 308);
	if (x->query != NULL)
		exchange_resp_addf(x, "Location", "https://%.*s%.*s?%.*s",
		    (int)(x->host_len ? x->host_len : 9), h, (int)x->path_len,
		    x->path, (int)x->query_len, x->query);
	else
		exchange_resp_addf(x, "Location", "https://%.*s%.*s",
		    (int)(x->host_len ? x->host_len : 9), h, (int)x->path_len,
		    x->path);
	exchange_respond(x, 308, NULL, NULL, 0);
}

/* allow, rate_limit, max_body; 0 to go on, -1 if answered. */
static int
exchange_checks(struct exchange *x)
{
	const struct conf_route *r = x->route;
	struct ratelimit *rl;
	unsigned wait;

	if (r->n_allow > 0) {
		uint8_t a[16];
		size_t i;

		exchange_client_addr16(x, a);
		for (i = 0; i < r->n_allow; i++)
			if (cidr_match(&r->allow[i], a))
				break;
		if (i == r->n_allow) {
			exchange_error(x, 403);
			return -1;
		}
	}
	rl = x->ws->snap->ratelimits[r->index];
	if (rl != NULL) {
		const void *key;
		size_t len;
		uint8_t a[16];

		if (r->rate_limit.key == RL_KEY_HEADER &&
		    r->rate_limit.key_header != NULL) {
			char lname[128];
			const struct exchange_header *h;
			size_t n = strlen(r->rate_limit.key_header);

			if (n >= sizeof(lname))
				n = sizeof(lname) - 1;
			for (size_t i = 0; i < n; i++)
				lname[i] = (char)((r->rate_limit.key_header[i] >= 'A' &&
				    r->rate_limit.key_header[i] <= 'Z') ?
				    r->rate_limit.key_header[i] + 32 :
				    r->rate_limit.key_header[i]);
			lname[n] = '\0';
			h = exchange_req_header(x, lname);
			key = h ? h->value : "";
			len = h ? h->value_len : 0;
		} else {
			exchange_client_addr16(x, a);
			key = a;
			len = sizeof(a);
		}
		wait = ratelimit_take(rl, key, len, worker_now_ns() / 1000000);
		if (wait > 0) {
			exchange_resp_start(x, 429);
			exchange_resp_addf(x, "Retry-After", "%u", wait);
			exchange_respond(x, 429, NULL, NULL, 0);
			return -1;
		}
	}
	if (r->max_body != 0 && x->req_body_kind == EXCHANGE_BODY_LENGTH &&
	    x->req_content_length > r->max_body) {
		exchange_error(x, 413);
		return -1;
	}
	return 0;
}

void
exchange_start(struct exchange *x)
{
	struct snapshot *s = x->ws->snap;

	exchange_client_ip(x);
	exchange_set_request_id(x);
	if (exchange_is_acme_challenge(x) && acme_glue_http01(x) == 0)
		return;
	if (x->listener != NULL && x->listener->redirect_https &&
	    !exchange_is_acme_challenge(x)) {
		exchange_redirect_https(x);
		return;
	}
	x->route = router_match(s->router, x->host, x->host_len, x->path,
	    x->path_len);
	if (x->route == NULL) {
		exchange_error(x, 404);
		return;
	}
	checks_strip(x);
	if (exchange_checks(x) == -1)
		return;
	switch (checks_run(x)) {
	case CHECKS_PASS:
		exchange_act(x);
		break;
	case CHECKS_ANSWERED:
	case CHECKS_PENDING:
		break;
	}
}

void
exchange_act(struct exchange *x)
{
	x->state = EXCHANGE_ACTION;
	switch (x->route->action) {
	case ACTION_POOL:
		action_proxy_run(x);
		break;
	case ACTION_REDIRECT:
		action_redirect_run(x);
		break;
	case ACTION_RESPOND:
		action_respond_run(x);
		break;
	case ACTION_STATIC:
		action_static_run(x);
		break;
	default:
		exchange_error(x, 500);
		break;
	}
}

/* ---- the response ---------------------------------------------------- */

const char *
exchange_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: break;
	}
	if (status >= 200 && status < 300)
		return "OK";
	return "Unknown";
}

void
exchange_resp_start(struct exchange *x, int status)
{
	x->status = status;
	x->n_resp_headers = 0;
}

int
exchange_resp_add_ref(struct exchange *x, const char *name, size_t name_len,
    const char *value, size_t value_len)
{
	struct exchange_header *h;

	if (x->n_resp_headers == x->cap_resp_headers) {
		size_t cap = x->cap_resp_headers ? x->cap_resp_headers * 2 : 16;
		if ((h = arena_calloc(x->arena, cap, sizeof(*h))) == NULL)
			return -1;
		if (x->n_resp_headers)
			memcpy(h, x->resp_headers,
			    x->n_resp_headers * sizeof(*h));
		x->resp_headers = h;
		x->cap_resp_headers = cap;
	}
	h = &x->resp_headers[x->n_resp_headers++];
	h->name = name;
	h->name_len = name_len;
	h->value = value;
	h->value_len = value_len;
	return 0;
}

int
exchange_resp_add(struct exchange *x, const char *name, size_t name_len,
    const char *value, size_t value_len)
{
	char *n, *v;

	if ((n = arena_memdup(x->arena, name, name_len)) == NULL ||
	    (v = arena_memdup(x->arena, value, value_len)) == NULL)
		return -1;
	return exchange_resp_add_ref(x, n, name_len, v, value_len);
}

int
exchange_resp_addf(struct exchange *x, const char *name, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	return exchange_resp_add(x, name, strlen(name), buf, (size_t)n);
}

void
exchange_resp_remove(struct exchange *x, const char *lname)
{
	size_t n = strlen(lname), i, j;

	for (i = j = 0; i < x->n_resp_headers; i++) {
		struct exchange_header *h = &x->resp_headers[i];
		if (h->name_len == n && strncasecmp(h->name, lname, n) == 0)
			continue;
		x->resp_headers[j++] = *h;
	}
	x->n_resp_headers = j;
}

static void
exchange_resp_remove_ci(struct exchange *x, const char *name)
{
	char l[128];
	size_t n = strlen(name);

	if (n >= sizeof(l))
		return;
	for (size_t i = 0; i <= n; i++)
		l[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ?
		    name[i] + 32 : name[i]);
	exchange_resp_remove(x, l);
}

int
exchange_send_head(struct exchange *x, enum exchange_body body,
    uint64_t length)
{
	const struct conf_route *r = x->route;
	size_t i;

	if (x->state == EXCHANGE_STREAM || x->state == EXCHANGE_DONE)
		return -1;
	if (r != NULL) {
		for (i = 0; i < r->headers.n_remove; i++)
			exchange_resp_remove_ci(x, r->headers.remove[i]);
		for (i = 0; i < r->headers.n_set; i++) {
			exchange_resp_remove_ci(x, r->headers.set[i].name);
			exchange_resp_add_ref(x, r->headers.set[i].name,
			    strlen(r->headers.set[i].name),
			    r->headers.set[i].value,
			    strlen(r->headers.set[i].value));
		}
		if (r->hsts_max_age > 0 && x->tls) {
			exchange_resp_remove(x, "strict-transport-security");
			exchange_resp_addf(x, "Strict-Transport-Security",
			    "max-age=%llu",
			    (unsigned long long)r->hsts_max_age);
		}
	}
	exchange_resp_remove(x, "x-request-id");
	exchange_resp_add_ref(x, "X-Request-ID", 12, x->request_id,
	    x->request_id_len);
	if (r != NULL && r->compress && encode_head(x, &body, &length) == -1)
		return -1;
	x->resp_body = body;
	x->resp_content_length = length;
	x->state = EXCHANGE_STREAM;
	return x->front->send_head(x);
}

int
exchange_send_body(struct exchange *x, struct evbuffer *src, size_t n)
{
	if (n == 0)
		return 0;
	if (x->encoder != NULL)
		return encode_body(x, src, n);
	x->bytes_out += n;
	return x->front->send_body(x, src, n);
}

int
exchange_send_body_mem(struct exchange *x, const void *p, size_t n)
{
	struct evbuffer *b;
	int rc;

	if (n == 0)
		return 0;
	/* Copied: the bytes often live in the arena, which may be freed
	 * before the socket has taken them. */
	if ((b = evbuffer_new()) == NULL)
		return -1;
	if (evbuffer_add(b, p, n) == -1) {
		evbuffer_free(b);
		return -1;
	}
	rc = exchange_send_body(x, b, n);
	evbuffer_free(b);
	return rc;
}

void
exchange_send_end(struct exchange *x)
{
	if (x->state == EXCHANGE_DONE || x->state == EXCHANGE_ABORTED)
		return;
	if (x->encoder != NULL) {
		switch (encode_end(x)) {
		case -1:
			exchange_error(x, 500);	/* head is out: cuts the
						 * connection */
			return;
		case 1:
			return;		/* encode.c calls again when done */
		}
	}
	x->state = EXCHANGE_DONE;
	x->front->send_end(x);
}

void
exchange_respond(struct exchange *x, int status, const char *ctype,
    const char *body, size_t body_len)
{
	char *buf;
	int n;

	if (x->status != status)
		exchange_resp_start(x, status);
	if (body == NULL && status >= 300) {
		buf = arena_alloc(x->arena, 160);
		n = buf ? snprintf(buf, 160, "%d %s\nrequest-id: %s\n", status,
		    exchange_reason(status), x->request_id) : -1;
		if (n > 0) {
			body = buf;
			body_len = (size_t)n;
		}
	}
	if (body != NULL || status >= 200) {
		if (status != 204 && status != 304)
			exchange_resp_addf(x, "Content-Type", "%s",
			    ctype ? ctype : "text/plain; charset=utf-8");
	}
	exchange_resp_add_ref(x, "Date", 4, worker_date(x->w),
	    strlen(worker_date(x->w)));
	if (status == 204 || status == 304 || (status >= 100 && status < 200)) {
		exchange_send_head(x, EXCHANGE_BODY_NONE, 0);
	} else {
		exchange_send_head(x, EXCHANGE_BODY_LENGTH, body ? body_len : 0);
		if (body != NULL && body_len > 0 &&
		    !(x->method_flags & EXCHANGE_M_HEAD))
			exchange_send_body_mem(x, body, body_len);
	}
	exchange_send_end(x);
}

void
exchange_error(struct exchange *x, int status)
{
	if (x->state == EXCHANGE_STREAM || x->state == EXCHANGE_DONE ||
	    x->state == EXCHANGE_ABORTED) {
		/* Too late for a status: the client must see a cut. */
		x->close_after = true;
		if (x->state == EXCHANGE_STREAM) {
			x->state = EXCHANGE_ABORTED;
			x->front->send_end(x);
		}
		return;
	}
	if (x->request_id_len == 0) {
		exchange_client_ip(x);
		exchange_set_request_id(x);
	}
	if (status == 400 || status == 408 || status == 413 || status == 414 ||
	    status == 431)
		x->close_after = true;
	exchange_resp_start(x, status);
	exchange_respond(x, status, NULL, NULL, 0);
}

void
exchange_req_body_drained(struct exchange *x)
{
	if (!x->req_body_done)
		x->front->req_body_resume(x);
}

void
exchange_continue(struct exchange *x)
{
	if (x->expect_continue && !x->req_body_done)
		x->front->send_continue(x);
}

size_t
exchange_out_pending(struct exchange *x)
{
	return x->front->out_pending(x);
}
