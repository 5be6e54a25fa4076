/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * acme_http.c — see acme_http.h.
 *
 * One request = one evhttp_connection over one bufferevent_openssl.  The
 * response is copied out in libevent's callback and delivered from a
 * separate event, where the connection can safely be freed: libevent
 * must not see its connection freed from inside its own callbacks.  A
 * total deadline timer frees the connection (which drops the request
 * without calling back) and delivers a "timeout".
 */
#include "acme/acme_http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/log.h"

#ifndef LIMEN_VERSION
#define LIMEN_VERSION "dev"
#endif

struct acme_http_req {
	TAILQ_ENTRY(acme_http_req) entry;
	struct acme_http *h;
	struct evhttp_connection *conn;
	struct evhttp_request *req;	/* owned by libevent until done */
	struct event *deadline;
	struct event *deliver;
	acme_http_cb *cb;
	void *arg;
	char *url;			/* for log lines */
	/* the response, copied out of libevent */
	int status;
	bool answered;		/* the server sent something HTTP-like */
	char error[256];
	char *content_type, *location, *replay_nonce, *retry_after;
	char *cache_control, *expires, *date;
	char *body;
	size_t body_len;
	int done;
};

struct acme_http {
	struct event_base *base;
	struct evdns_base *dns;
	SSL_CTX *ctx;
	int allow_plain;
	TAILQ_HEAD(, acme_http_req) reqs;
};

static char http_err[256];

struct acme_http *
acme_http_new(struct event_base *base, struct evdns_base *dns,
    const char *ca_roots, const char **err)
{
	struct acme_http *h = calloc(1, sizeof *h);

	if (h == NULL) {
		*err = "out of memory";
		return NULL;
	}
	h->base = base;
	h->dns = dns;
	TAILQ_INIT(&h->reqs);
	if ((h->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(h->ctx, TLS1_2_VERSION) != 1) {
		*err = "cannot create a TLS context";
		goto fail;
	}
	SSL_CTX_set_verify(h->ctx, SSL_VERIFY_PEER, NULL);
	if (ca_roots != NULL) {
		if (SSL_CTX_load_verify_locations(h->ctx, ca_roots, NULL) != 1) {
			snprintf(http_err, sizeof http_err,
			    "cannot load CA roots from %s: %s", ca_roots,
			    ERR_reason_error_string(ERR_peek_last_error()));
			ERR_clear_error();
			*err = http_err;
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(h->ctx) != 1) {
		*err = "cannot load the system's trusted roots";
		goto fail;
	}
	return h;
fail:
	SSL_CTX_free(h->ctx);
	free(h);
	return NULL;
}

/* The request's strings (the response copied out of libevent) and r. */
static void
req_strings_free(struct acme_http_req *r)
{
	free(r->url);
	free(r->content_type);
	free(r->location);
	free(r->replay_nonce);
	free(r->retry_after);
	free(r->cache_control);
	free(r->expires);
	free(r->date);
	free(r->body);
	free(r);
}

static void
req_free(struct acme_http_req *r)
{
	TAILQ_REMOVE(&r->h->reqs, r, entry);
	if (r->conn != NULL)
		evhttp_connection_free(r->conn);	/* drops r->req too */
	if (r->deadline != NULL)
		event_free(r->deadline);
	if (r->deliver != NULL)
		event_free(r->deliver);
	req_strings_free(r);
}

void
acme_http_free(struct acme_http *h)
{
	struct acme_http_req *r;

	if (h == NULL)
		return;
	while ((r = TAILQ_FIRST(&h->reqs)) != NULL)
		req_free(r);
	SSL_CTX_free(h->ctx);
	free(h);
}

void
acme_http_allow_plain(struct acme_http *h, int allow)
{
	h->allow_plain = allow;
}

void
acme_http_cancel(struct acme_http_req *r)
{
	if (r != NULL)
		req_free(r);
}

/* From the loop, outside libevent's HTTP code: hand the result over. */
static void
deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct acme_http_req *r = arg;
	struct acme_http_response resp = {
		.status = r->status,
		.answered = r->answered,
		.error = r->error[0] ? r->error : NULL,
		.content_type = r->content_type,
		.location = r->location,
		.replay_nonce = r->replay_nonce,
		.retry_after = r->retry_after,
		.cache_control = r->cache_control,
		.expires = r->expires,
		.date = r->date,
		.body = r->body ? r->body : "",
		.body_len = r->body_len,
	};
	acme_http_cb *cb = r->cb;
	void *cbarg = r->arg;

	(void)fd;
	(void)what;
	/* the callback may free the whole client: be done with r first,
	 * but keep the response's strings alive until it returns */
	TAILQ_REMOVE(&r->h->reqs, r, entry);
	if (r->conn != NULL)
		evhttp_connection_free(r->conn);
	event_free(r->deadline);
	event_free(r->deliver);
	cb(&resp, cbarg);
	req_strings_free(r);
}

static void
finish(struct acme_http_req *r)
{
	if (r->done)
		return;
	r->done = 1;
	event_del(r->deadline);
	event_active(r->deliver, EV_TIMEOUT, 1);
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct acme_http_req *r = arg;

	(void)fd;
	(void)what;
	if (r->done)
		return;
	/* freeing the connection drops the request without a callback */
	evhttp_connection_free(r->conn);
	r->conn = NULL;
	r->req = NULL;
	r->status = 0;
	snprintf(r->error, sizeof r->error, "timeout");
	finish(r);
}

static char *
header_dup(struct evkeyvalq *hdrs, const char *name)
{
	const char *v = evhttp_find_header(hdrs, name);

	return v ? strdup(v) : NULL;
}

static const char *
req_error_name(enum evhttp_request_error e)
{
	switch (e) {
	case EVREQ_HTTP_TIMEOUT:
		return "timeout";
	case EVREQ_HTTP_EOF:
		return "connection closed";
	case EVREQ_HTTP_INVALID_HEADER:
		return "invalid response header";
	case EVREQ_HTTP_BUFFER_ERROR:
		return "connection error";
	case EVREQ_HTTP_REQUEST_CANCEL:
		return "cancelled";
	case EVREQ_HTTP_DATA_TOO_LONG:
		return "response too large";
	}
	return "error";
}

/* Why the exchange failed, in the words most useful to an operator:
 * the certificate check, then OpenSSL, then the socket, then libevent. */
static void
describe_failure(struct acme_http_req *r, const char *fallback)
{
	struct bufferevent *bev = r->conn ?
	    evhttp_connection_get_bufferevent(r->conn) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	unsigned long x, ossl = 0;
	long vr;
	int sockerr = EVUTIL_SOCKET_ERROR();

	while (bev != NULL && (x = bufferevent_get_openssl_error(bev)) != 0)
		if (ossl == 0 && ERR_GET_LIB(x) != 0)
			ossl = x;
	if (ssl != NULL && (vr = SSL_get_verify_result(ssl)) != X509_V_OK) {
		snprintf(r->error, sizeof r->error,
		    "TLS: certificate verify failed: %s",
		    X509_verify_cert_error_string(vr));
	} else if (ossl != 0) {
		char buf[200];
		ERR_error_string_n(ossl, buf, sizeof buf);
		snprintf(r->error, sizeof r->error, "TLS: %s", buf);
	} else if (sockerr != 0 && fallback == NULL) {
		snprintf(r->error, sizeof r->error, "%s",
		    evutil_socket_error_to_string(sockerr));
	} else {
		snprintf(r->error, sizeof r->error, "%s",
		    fallback ? fallback : "connection failed");
	}
}

static void
error_cb(enum evhttp_request_error e, void *arg)
{
	struct acme_http_req *r = arg;

	if (r->done || r->conn == NULL)
		return;
	if (e == EVREQ_HTTP_DATA_TOO_LONG || e == EVREQ_HTTP_INVALID_HEADER)
		r->answered = true;
	describe_failure(r, e == EVREQ_HTTP_EOF || e == EVREQ_HTTP_BUFFER_ERROR ?
	    NULL : req_error_name(e));
}

static void
done_cb(struct evhttp_request *req, void *arg)
{
	struct acme_http_req *r = arg;
	struct evbuffer *in;
	struct evkeyvalq *hdrs;
	size_t n;

	if (r->done)
		return;
	r->req = NULL;		/* libevent frees it after this callback */
	if (req == NULL || evhttp_request_get_response_code(req) == 0) {
		r->status = 0;
		/* libevent reports a failed connect this way, without the
		 * error callback and after errno has been overwritten */
		if (r->error[0] == '\0')
			describe_failure(r, "cannot connect");
		finish(r);
		return;
	}
	r->status = evhttp_request_get_response_code(req);
	r->answered = true;
	hdrs = evhttp_request_get_input_headers(req);
	r->content_type = header_dup(hdrs, "Content-Type");
	r->location = header_dup(hdrs, "Location");
	r->replay_nonce = header_dup(hdrs, "Replay-Nonce");
	r->retry_after = header_dup(hdrs, "Retry-After");
	r->cache_control = header_dup(hdrs, "Cache-Control");
	r->expires = header_dup(hdrs, "Expires");
	r->date = header_dup(hdrs, "Date");
	in = evhttp_request_get_input_buffer(req);
	n = evbuffer_get_length(in);
	if (n > ACME_HTTP_MAX_BODY) {
		r->status = 0;
		snprintf(r->error, sizeof r->error, "response too large");
	} else if ((r->body = malloc(n + 1)) == NULL) {
		r->status = 0;
		snprintf(r->error, sizeof r->error, "out of memory");
	} else {
		evbuffer_remove(in, r->body, n);
		r->body[n] = '\0';
		r->body_len = n;
	}
	r->error[0] = r->status ? '\0' : r->error[0];
	finish(r);
}

struct acme_http_req *
acme_http_request(struct acme_http *h, enum acme_http_method method,
    const char *url, const char *body, size_t body_len,
    const char *content_type, const char *accept, uint64_t timeout_ms,
    acme_http_cb *cb, void *arg)
{
	struct evhttp_uri *uri = NULL;
	struct acme_http_req *r = NULL;
	struct bufferevent *bev = NULL;
	struct evkeyvalq *out;
	const char *scheme, *rawhost, *path, *query;
	char host[256], hosthdr[300], target[4096];
	struct in6_addr a6;
	struct timeval tv = { (time_t)(timeout_ms / 1000),
	    (suseconds_t)(timeout_ms % 1000 * 1000) };
	SSL *ssl = NULL;
	int port, is_ip, plain = 0;
	enum evhttp_cmd_type type = method == ACME_HTTP_POST ?
	    EVHTTP_REQ_POST : method == ACME_HTTP_HEAD ? EVHTTP_REQ_HEAD :
	    EVHTTP_REQ_GET;

	if ((uri = evhttp_uri_parse_with_flags(url, 0)) == NULL ||
	    (scheme = evhttp_uri_get_scheme(uri)) == NULL ||
	    (strcasecmp(scheme, "https") != 0 &&
	    !(h->allow_plain && (plain = strcasecmp(scheme, "http") == 0))) ||
	    (rawhost = evhttp_uri_get_host(uri)) == NULL || rawhost[0] == '\0' ||
	    evhttp_uri_get_userinfo(uri) != NULL)
		goto fail;
	/* libevent keeps the brackets of an IPv6 literal */
	if (rawhost[0] == '[') {
		size_t n = strlen(rawhost);
		if (n < 3 || rawhost[n - 1] != ']' || n - 2 >= sizeof host)
			goto fail;
		memcpy(host, rawhost + 1, n - 2);
		host[n - 2] = '\0';
	} else if (snprintf(host, sizeof host, "%s", rawhost) >=
	    (int)sizeof host) {
		goto fail;
	}
	port = evhttp_uri_get_port(uri);
	if (port == -1)
		port = plain ? 80 : 443;
	path = evhttp_uri_get_path(uri);
	query = evhttp_uri_get_query(uri);
	if (snprintf(target, sizeof target, "%s%s%s",
	    path && path[0] ? path : "/", query ? "?" : "", query ? query : "") >=
	    (int)sizeof target)
		goto fail;
	if (port == (plain ? 80 : 443))
		snprintf(hosthdr, sizeof hosthdr, "%s", rawhost);
	else
		snprintf(hosthdr, sizeof hosthdr, "%s:%d", rawhost, port);
	is_ip = inet_pton(AF_INET, host, &a6) == 1 ||
	    inet_pton(AF_INET6, host, &a6) == 1;

	if ((r = calloc(1, sizeof *r)) == NULL || (r->url = strdup(url)) == NULL)
		goto fail;
	r->h = h;
	r->cb = cb;
	r->arg = arg;
	TAILQ_INSERT_TAIL(&h->reqs, r, entry);
	if ((r->deadline = evtimer_new(h->base, deadline_cb, r)) == NULL ||
	    (r->deliver = event_new(h->base, -1, 0, deliver_cb, r)) == NULL)
		goto fail;

	if (plain) {
		if ((bev = bufferevent_socket_new(h->base, -1,
		    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)) == NULL)
			goto fail;
		goto connect;
	}
	/* TLS: SNI for names, and verify the name or address we dialled */
	if ((ssl = SSL_new(h->ctx)) == NULL)
		goto fail;
	if (is_ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1)
			goto fail;
	} else if (SSL_set_tlsext_host_name(ssl, host) != 1 ||
	    SSL_set1_host(ssl, host) != 1) {
		goto fail;
	}
	bev = bufferevent_openssl_socket_new(h->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL)
		goto fail;
	ssl = NULL;		/* owned by the bufferevent now */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
connect:
	r->conn = evhttp_connection_base_bufferevent_new(h->base, h->dns, bev,
	    host, (unsigned short)port);
	if (r->conn == NULL) {
		bufferevent_free(bev);
		goto fail;
	}
	evhttp_connection_set_max_body_size(r->conn, ACME_HTTP_MAX_BODY);
	evhttp_connection_set_max_headers_size(r->conn, ACME_HTTP_MAX_HEADERS);
	evhttp_connection_set_timeout_tv(r->conn, &tv);
	evhttp_connection_set_retries(r->conn, 0);

	if ((r->req = evhttp_request_new(done_cb, r)) == NULL)
		goto fail;
	evhttp_request_set_error_cb(r->req, error_cb);
	out = evhttp_request_get_output_headers(r->req);
	evhttp_add_header(out, "Host", hosthdr);
	evhttp_add_header(out, "User-Agent", "limen/" LIMEN_VERSION);
	evhttp_add_header(out, "Accept", accept ? accept : "application/json");
	evhttp_add_header(out, "Connection", "close");
	if (body != NULL) {
		evhttp_add_header(out, "Content-Type",
		    content_type ? content_type : "application/jose+json");
		evbuffer_add(evhttp_request_get_output_buffer(r->req), body,
		    body_len);
	}
	if (evhttp_make_request(r->conn, r->req, type, target) != 0) {
		/* libevent freed the request */
		r->req = NULL;
		goto fail;
	}
	evtimer_add(r->deadline, &tv);
	evhttp_uri_free(uri);
	return r;
fail:
	SSL_free(ssl);
	if (r != NULL) {
		/* a request not handed to libevent yet is still ours */
		if (r->req != NULL)
			evhttp_request_free(r->req);
		if (r->h != NULL) {
			req_free(r);
		} else {
			free(r->url);
			free(r);
		}
	}
	evhttp_uri_free(uri);
	return NULL;
}

int
acme_http_date(const char *v, time_t *out)
{
	struct tm tm;
	const char *end;
	time_t t;

	if (v == NULL)
		return -1;
	while (*v == ' ' || *v == '\t')
		v++;
	/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
	memset(&tm, 0, sizeof tm);
	end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (end == NULL)
		return -1;
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end != '\0' || (t = timegm(&tm)) == (time_t)-1)
		return -1;
	*out = t;
	return 0;
}

long
acme_http_retry_after(const char *v, time_t now)
{
	char *e;
	long n;
	time_t t;

	if (v == NULL)
		return -1;
	while (*v == ' ' || *v == '\t')
		v++;
	if (isdigit((unsigned char)*v)) {
		n = strtol(v, &e, 10);
		while (*e == ' ' || *e == '\t')
			e++;
		if (*e != '\0' || n < 0 || n > 365L * 86400)
			return -1;
		return n;
	}
	if (acme_http_date(v, &t) == -1)
		return -1;
	return t <= now ? 0 : (long)(t - now) > 365L * 86400 ? -1 :
	    (long)(t - now);
}
