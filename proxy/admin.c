/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * admin.c — the admin thread and its HTTP endpoints (see admin.h).
 *
 *   GET  /healthz                       200 "ok" while serving; 503 while
 *                                       starting or shutting down
 *   GET  /metrics                       Prometheus text (metrics.c)
 *   GET  /api/v1/status                 JSON (admin_status.c)
 *   GET  /                              the status page (admin_page.c)
 *   POST /api/v1/pools/POOL/servers/ADDRESS/drain | /enable
 *
 * Who may POST: with admin.token_file set, a request carrying
 * "Authorization: Bearer TOKEN" (compared in constant time, on SHA-256
 * digests so the length does not leak either); 401 otherwise.  Without a
 * token, only clients on a loopback address (403 otherwise).  In both
 * cases a request with an Origin header naming another host is refused
 * (403): a web page in an operator's browser must not be able to drain
 * servers through a form post to 127.0.0.1.
 *
 * Where it listens: admin.listen, default 127.0.0.1:9090, bound by the
 * control thread before privileges are dropped.  A non-loopback address
 * is allowed (Prometheus scraping a pod's IP needs one) but logged as a
 * warning.  A reload that changes the address rebinds here (a privileged
 * port then fails, with a warning, and the old socket stays).
 *
 * Threading: admin_publish() (control thread) hands the new snapshot over
 * under a mutex and wakes the admin loop; everything else happens in the
 * admin thread, which keeps its own snapshot reference.
 */
#include "proxy/admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/log.h"
#include "common/prom.h"
#include "conf/config.h"
#include "proxy/admin_internal.h"
#include "proxy/confwatch.h"
#include "proxy/metrics.h"
#include "proxy/pool.h"
#include "proxy/snapshot.h"

#define ADMIN_TIMEOUT_S 10
#define ADMIN_MAX_HEADERS 8192
#define ADMIN_MAX_BODY 4096
#define ADMIN_BACKLOG 64

static struct {
	pthread_t thread;
	bool started;
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct sockaddr_storage addr;	/* what `bound` listens on */
	socklen_t addr_len;
	char addr_text[96];

	char *config_path;
	struct snapshot *snap;		/* the admin thread's own view */
	struct event *publish_ev, *rate_ev;

	pthread_mutex_t mu;		/* guards next */
	struct snapshot *next;

	atomic_bool ready, stopping;
} adm = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* ---- listening ----------------------------------------------------------- */

static bool
admin_is_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in *in4 = (const void *)sa;
	const struct sockaddr_in6 *in6 = (const void *)sa;

	if (sa->sa_family == AF_INET)
		return (ntohl(in4->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
		    in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

/* A listening socket on a; -1 with errno. */
static int
admin_socket(const struct conf_addr *a)
{
	int fd, one = 1, zero = 0;

	if ((fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (a->sa.ss_family == AF_INET6 && a->host == NULL)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
		    sizeof(zero));
	if (bind(fd, (const struct sockaddr *)&a->sa, a->sa_len) == -1 ||
	    listen(fd, ADMIN_BACKLOG) == -1) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Listen on c's admin.listen (or nowhere without an admin section),
 * replacing the current socket.  0, or -1 (logged; the old one stays). */
static int
admin_bind(const struct config *c)
{
	const struct conf_addr *a = &c->admin.listen;
	struct evhttp_bound_socket *b;
	int fd;

	if (!c->admin.enabled || a->text == NULL || a->is_name) {
		if (adm.bound != NULL) {
			evhttp_del_accept_socket(adm.http, adm.bound);
			adm.bound = NULL;
			adm.addr_len = 0;
			log_info("admin: no longer listening");
		}
		return 0;
	}
	if (adm.bound != NULL && adm.addr_len == a->sa_len &&
	    memcmp(&adm.addr, &a->sa, a->sa_len) == 0)
		return 0;
	if ((fd = admin_socket(a)) == -1) {
		log_error("admin.listen %s: %s", a->text, strerror(errno));
		return -1;
	}
	if ((b = evhttp_accept_socket_with_handle(adm.http, fd)) == NULL) {
		log_error("admin.listen %s: cannot accept", a->text);
		close(fd);
		return -1;
	}
	if (adm.bound != NULL)
		evhttp_del_accept_socket(adm.http, adm.bound);
	adm.bound = b;
	memcpy(&adm.addr, &a->sa, a->sa_len);
	adm.addr_len = a->sa_len;
	snprintf(adm.addr_text, sizeof(adm.addr_text), "%s", a->text);
	if (a->host == NULL || !admin_is_loopback((const void *)&a->sa))
		log_warnx("admin: listening on %s, which is not a loopback "
		    "address: anyone who reaches it can read the metrics and "
		    "status%s", a->text, c->admin.token ? "" :
		    "; POST is only accepted from loopback clients until "
		    "admin.token_file is set");
	else
		log_info("admin: listening on %s", a->text);
	return 0;
}

/* ---- replies ---------------------------------------------------------------- */

static void
admin_headers(struct evhttp_request *req, const char *ctype)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Server", "limen");
}

static void
admin_reply(struct evhttp_request *req, int code, const char *ctype,
    const void *body, size_t len)
{
	struct evbuffer *b = evbuffer_new();

	admin_headers(req, ctype);
	if (b != NULL)
		evbuffer_add(b, body, len);
	evhttp_send_reply(req, code, NULL, b);
	if (b != NULL)
		evbuffer_free(b);
}

static void
admin_reply_text(struct evhttp_request *req, int code, const char *text)
{
	admin_reply(req, code, "text/plain; charset=utf-8", text, strlen(text));
}

/* Reply with a JSON document (takes the reference). */
static void
admin_reply_json(struct evhttp_request *req, int code, json_t *doc)
{
	char *s = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS |
	    JSON_REAL_PRECISION(12)) :
	    NULL;

	json_decref(doc);
	if (s == NULL) {
		admin_reply_text(req, 500, "out of memory\n");
		return;
	}
	admin_reply(req, code, "application/json", s, strlen(s));
	free(s);
}

static void
admin_reply_error(struct evhttp_request *req, int code, const char *msg)
{
	admin_reply_json(req, code, json_pack("{s:s}", "error", msg));
}

/* ---- endpoints ------------------------------------------------------------------- */

static void
admin_healthz(struct evhttp_request *req)
{
	if (atomic_load(&adm.stopping))
		admin_reply_text(req, 503, "stopping\n");
	else if (!atomic_load(&adm.ready))
		admin_reply_text(req, 503, "starting\n");
	else
		admin_reply_text(req, 200, "ok\n");
}

static void
admin_metrics(struct evhttp_request *req)
{
	struct prom_out o;

	prom_out_init(&o);
	metrics_exposition(&o, adm.snap);
	if (o.failed)
		admin_reply_text(req, 500, "out of memory\n");
	else
		admin_reply(req, 200, PROM_CONTENT_TYPE, o.buf, o.len);
	prom_out_free(&o);
}

static void
admin_status(struct evhttp_request *req)
{
	admin_reply_json(req, 200, admin_status_json(adm.snap));
}

static void
admin_page(struct evhttp_request *req)
{
	json_t *st = admin_status_json(adm.snap);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char *html;
	size_t len = 0;

	html = st ? admin_page_render(st, &len) : NULL;
	json_decref(st);
	if (html == NULL) {
		admin_reply_text(req, 500, "out of memory\n");
		return;
	}
	evhttp_add_header(h, "Content-Security-Policy", "default-src 'none'; "
	    "style-src 'unsafe-inline'; frame-ancestors 'none'; "
	    "form-action 'none'; base-uri 'none'");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	admin_reply(req, 200, "text/html; charset=utf-8", html, len);
	free(html);
}

/* Percent-decode one path segment into out; -1 if malformed, empty, or
 * it decodes to a NUL or a '/'. */
static int
admin_decode_segment(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			char hex[3] = { 0 };
			char *end;

			if (i + 2 >= n)
				return -1;
			hex[0] = s[i + 1];
			hex[1] = s[i + 2];
			c = (unsigned char)strtoul(hex, &end, 16);
			if (end != hex + 2 || c == '\0' || c == '/')
				return -1;
			i += 2;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

static bool
admin_token_ok(const char *token, const char *auth)
{
	unsigned char want[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
	unsigned wl = 0, gl = 0;
	const char *given;

	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
		return false;
	given = auth + 7;
	while (*given == ' ')
		given++;
	if (EVP_Digest(token, strlen(token), want, &wl, EVP_sha256(),
	    NULL) != 1 || EVP_Digest(given, strlen(given), got, &gl,
	    EVP_sha256(), NULL) != 1 || wl != gl)
		return false;
	return CRYPTO_memcmp(want, got, wl) == 0;
}

/* The Origin header, if any, must name the host the request was sent to. */
static bool
admin_origin_ok(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *origin = evhttp_find_header(h, "Origin");
	const char *host = evhttp_find_header(h, "Host");
	const char *p;

	if (origin == NULL)
		return true;
	if (host == NULL || (p = strstr(origin, "://")) == NULL)
		return false;
	return strcasecmp(p + 3, host) == 0;
}

/* 0 if the request may change state; else replied and -1. */
static int
admin_authorize(struct evhttp_request *req)
{
	const char *token = adm.snap->conf->admin.token;
	struct evhttp_connection *ec = evhttp_request_get_connection(req);
	const struct sockaddr *peer = ec ? evhttp_connection_get_addr(ec) :
	    NULL;

	if (!admin_origin_ok(req)) {
		admin_reply_error(req, 403, "cross-origin request refused");
		return -1;
	}
	if (token != NULL && token[0] != '\0') {
		if (admin_token_ok(token, evhttp_find_header(
		    evhttp_request_get_input_headers(req), "Authorization")))
			return 0;
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "WWW-Authenticate", "Bearer realm=\"limen\"");
		admin_reply_error(req, 401, "a valid bearer token is required");
		return -1;
	}
	if (peer == NULL || !admin_is_loopback(peer)) {
		admin_reply_error(req, 403, "without admin.token_file, only "
		    "loopback clients may change state");
		return -1;
	}
	return 0;
}

/* /api/v1/pools/POOL/servers/ADDRESS/(drain|enable) */
static void
admin_drain(struct evhttp_request *req, const char *path)
{
	const char *seg[8];
	size_t len[8], n = 0;
	char pool_name[256], address[512];
	struct pool *p = NULL;
	struct server_set *set;
	bool drain;
	json_t *doc, *servers;

	for (const char *s = path + 1; n < 8;) {
		const char *e = strchr(s, '/');

		seg[n] = s;
		len[n] = e ? (size_t)(e - s) : strlen(s);
		n++;
		if (e == NULL)
			break;
		s = e + 1;
	}
	if (n != 7 || len[3] == 0 || len[5] == 0 ||
	    strncmp(seg[4], "servers/", 8) != 0 ||
	    (!(len[6] == 5 && strncmp(seg[6], "drain", 5) == 0) &&
	    !(len[6] == 6 && strncmp(seg[6], "enable", 6) == 0))) {
		admin_reply_error(req, 404, "no such endpoint; use POST "
		    "/api/v1/pools/POOL/servers/ADDRESS/drain or /enable");
		return;
	}
	drain = seg[6][0] == 'd';
	if (admin_decode_segment(seg[3], len[3], pool_name,
	    sizeof(pool_name)) == -1 || admin_decode_segment(seg[5], len[5],
	    address, sizeof(address)) == -1) {
		admin_reply_error(req, 400, "bad percent-encoding in the path");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "POST");
		admin_reply_error(req, 405, "use POST");
		return;
	}
	if (admin_authorize(req) == -1)
		return;
	for (size_t i = 0; adm.snap->pools != NULL && i < adm.snap->pools->n;
	    i++)
		if (strcmp(adm.snap->pools->pools[i].conf->name, pool_name) == 0)
			p = &adm.snap->pools->pools[i];
	if (p == NULL) {
		admin_reply_error(req, 404, "no such pool");
		return;
	}
	if (pool_set_drained(p, address, drain) == -1) {
		admin_reply_error(req, 404, "no such server in this pool");
		return;
	}
	log_info("admin: %s %s/%s", drain ? "drained" : "enabled", pool_name,
	    address);
	doc = json_object();
	servers = json_array();
	if ((set = pool_servers(p)) != NULL) {
		for (size_t i = 0; i < set->n; i++)
			json_array_append_new(servers, json_pack("{s:s,s:s,s:b}",
			    "name", set->servers[i]->name, "address",
			    set->servers[i]->host_header, "drained",
			    (int)atomic_load(&set->servers[i]->drained)));
		server_set_unref(set);
	}
	json_object_set_new(doc, "pool", json_string(pool_name));
	json_object_set_new(doc, "server", json_string(address));
	json_object_set_new(doc, "drained", json_boolean(drain));
	json_object_set_new(doc, "servers", servers);
	admin_reply_json(req, 200, doc);
}

static void
admin_request_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	bool get = m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD;

	if (path == NULL || path[0] != '/') {
		admin_reply_text(req, 400, "bad request\n");
		return;
	}
	if (adm.snap == NULL) {
		admin_reply_text(req, 503, "starting\n");
		return;
	}
	if (strncmp(path, "/api/v1/pools/", 14) == 0) {
		admin_drain(req, path);
		return;
	}
	if (strcmp(path, "/healthz") != 0 && strcmp(path, "/metrics") != 0 &&
	    strcmp(path, "/api/v1/status") != 0 && strcmp(path, "/") != 0) {
		admin_reply_text(req, 404, "not found\n");
		return;
	}
	if (!get) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		admin_reply_text(req, 405, "method not allowed\n");
		return;
	}
	if (strcmp(path, "/healthz") == 0)
		admin_healthz(req);
	else if (strcmp(path, "/metrics") == 0)
		admin_metrics(req);
	else if (strcmp(path, "/api/v1/status") == 0)
		admin_status(req);
	else
		admin_page(req);
}

/* ---- configuration changes (admin thread) ---------------------------------- */

static void
admin_apply(struct snapshot *s)
{
	const struct config *c = s->conf;

	if (adm.snap != NULL)
		snapshot_unref(adm.snap);
	adm.snap = s;
	(void)admin_bind(c);
	admin_certs_scan(c);
	admin_backup_configure(adm.base, c);
	if (c->global.watch_config && adm.config_path != NULL)
		(void)confwatch_start(adm.base, adm.config_path);
	else if (confwatch_active()) {
		confwatch_stop();
		log_info("watch_config: off");
	}
}

static void
admin_publish_cb(evutil_socket_t fd, short what, void *arg)
{
	struct snapshot *s;

	pthread_mutex_lock(&adm.mu);
	s = adm.next;
	adm.next = NULL;
	pthread_mutex_unlock(&adm.mu);
	if (s != NULL)
		admin_apply(s);
}

static void
admin_rate_cb(evutil_socket_t fd, short what, void *arg)
{
	admin_rates_sample(adm.snap);
}

static void *
admin_main(void *arg)
{
	event_base_loop(adm.base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* ---- the control thread's side --------------------------------------------- */

int
admin_open(const struct config *c)
{
	if ((adm.base = event_base_new()) == NULL ||
	    (adm.http = evhttp_new(adm.base)) == NULL) {
		log_error("admin: out of memory");
		return -1;
	}
	evhttp_set_timeout(adm.http, ADMIN_TIMEOUT_S);
	evhttp_set_max_headers_size(adm.http, ADMIN_MAX_HEADERS);
	evhttp_set_max_body_size(adm.http, ADMIN_MAX_BODY);
	evhttp_set_allowed_methods(adm.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST);
	evhttp_set_gencb(adm.http, admin_request_cb, NULL);
	return admin_bind(c);
}

int
admin_start(struct snapshot *s, const char *config_path)
{
	struct timeval tv = { ADMIN_RATE_PERIOD_MS / 1000,
	    (ADMIN_RATE_PERIOD_MS % 1000) * 1000 };

	if (adm.base == NULL)
		return -1;
	if ((adm.config_path = strdup(config_path)) == NULL ||
	    (adm.publish_ev = event_new(adm.base, -1, EV_PERSIST,
	    admin_publish_cb, NULL)) == NULL ||
	    (adm.rate_ev = event_new(adm.base, -1, EV_PERSIST, admin_rate_cb,
	    NULL)) == NULL) {
		log_error("admin: out of memory");
		return -1;
	}
	snapshot_ref(s);
	admin_apply(s);
	admin_rates_sample(s);
	event_add(adm.rate_ev, &tv);
	/* the workers run: a probe queued during startup gets "ok" */
	atomic_store(&adm.ready, true);
	if (pthread_create(&adm.thread, NULL, admin_main, NULL) != 0) {
		log_error("admin: cannot start its thread");
		return -1;
	}
	adm.started = true;
	return 0;
}

void
admin_publish(struct snapshot *s)
{
	struct snapshot *old;

	if (!adm.started)
		return;
	snapshot_ref(s);
	pthread_mutex_lock(&adm.mu);
	old = adm.next;
	adm.next = s;
	pthread_mutex_unlock(&adm.mu);
	if (old != NULL)
		snapshot_unref(old);
	event_active(adm.publish_ev, EV_READ, 0);
}

void
admin_stopping(void)
{
	atomic_store(&adm.stopping, true);
}

void
admin_stop(void)
{
	if (adm.started) {
		event_base_loopexit(adm.base, NULL);
		pthread_join(adm.thread, NULL);
		adm.started = false;
	}
	confwatch_stop();
	admin_backup_free();
	admin_rates_free();
	if (adm.http != NULL)
		evhttp_free(adm.http);
	if (adm.publish_ev != NULL)
		event_free(adm.publish_ev);
	if (adm.rate_ev != NULL)
		event_free(adm.rate_ev);
	if (adm.base != NULL)
		event_base_free(adm.base);
	if (adm.next != NULL)
		snapshot_unref(adm.next);
	if (adm.snap != NULL)
		snapshot_unref(adm.snap);
	free(adm.config_path);
	adm.http = NULL;
	adm.bound = NULL;
	adm.publish_ev = adm.rate_ev = NULL;
	adm.base = NULL;
	adm.next = adm.snap = NULL;
	adm.config_path = NULL;
}
