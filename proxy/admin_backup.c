/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * admin_backup.c — what limen-backup reports about its jobs, for the
 * status page and API: its /metrics (backup.listen) is fetched every
 * ADMIN_BACKUP_POLL_S (every ADMIN_BACKUP_RETRY_S while it does not
 * answer, e.g. just after both started) with a non-blocking evhttp
 * request that gives up after ADMIN_BACKUP_TIMEOUT_S, parsed strictly
 * (common/prom.h), and kept until the next poll.  Every `limen_backup_*{job="..."}` sample becomes
 * a field of that job ("last_success_timestamp_seconds", ...), so new
 * metrics of the companion show up without a change here.
 *
 * The companion is a separate process (it holds the database
 * credentials), so HTTP is the only way its state reaches limen.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "common/log.h"
#include "common/prom.h"
#include "conf/config.h"
#include "proxy/admin_internal.h"

#define BACKUP_BODY_MAX (1024 * 1024)
#define ADMIN_BACKUP_RETRY_S 1
#define BACKUP_PREFIX "limen_backup_"

static struct {
	struct event_base *base;
	struct event *timer;
	char host[INET6_ADDRSTRLEN];
	char hostport[INET6_ADDRSTRLEN + 8];
	uint16_t port;
	struct evhttp_connection *conn;	/* of the last poll; freed by the next */
	bool inflight;
	json_t *jobs;			/* job -> { field: value } */
	time_t fetched_at;		/* last success */
	time_t tried_at;
	char error[320];		/* of the last poll, "" if it worked */
	char why[64];			/* from the error callback of this poll */
} bk;

static int
backup_sample_cb(void *arg, const char *name, const struct prom_label *l,
    size_t n, double value)
{
	json_t *jobs = arg, *job;
	const char *jn = prom_label_get(l, n, "backup_job");

	if (jn == NULL || strncmp(name, BACKUP_PREFIX,
	    strlen(BACKUP_PREFIX)) != 0)
		return 0;
	if ((job = json_object_get(jobs, jn)) == NULL) {
		job = json_object();
		if (job == NULL || json_object_set_new(jobs, jn, job) == -1)
			return -1;
	}
	json_object_set_new(job, name + strlen(BACKUP_PREFIX),
	    json_real(value));
	return 0;
}

static void
backup_error_cb(enum evhttp_request_error e, void *arg)
{
	const char *why = "failed";

	switch (e) {
	case EVREQ_HTTP_TIMEOUT:
		why = "timed out";
		break;
	case EVREQ_HTTP_EOF:
		why = "connection closed or refused";
		break;
	case EVREQ_HTTP_INVALID_HEADER:
		why = "invalid response";
		break;
	case EVREQ_HTTP_DATA_TOO_LONG:
		why = "response too large";
		break;
	default:
		break;
	}
	snprintf(bk.why, sizeof(bk.why), "%s", why);
}

/* The next poll: sooner while the companion does not answer. */
static void
backup_schedule(void)
{
	struct timeval tv = { bk.error[0] ? ADMIN_BACKUP_RETRY_S :
	    ADMIN_BACKUP_POLL_S, 0 };

	if (bk.timer != NULL)
		evtimer_add(bk.timer, &tv);
}

static void backup_done(struct evhttp_request *req);

static void
backup_done_cb(struct evhttp_request *req, void *arg)
{
	/* The connection is not freed here: libevent still uses it after
	 * this callback (and never frees it itself after a failure). */
	bk.inflight = false;
	backup_done(req);
	backup_schedule();
}

static void
backup_done(struct evhttp_request *req)
{
	struct evbuffer *body;
	json_t *jobs;
	char err[160];
	size_t len;
	int code;

	if (req == NULL || (code = evhttp_request_get_response_code(req)) == 0) {
		snprintf(bk.error, sizeof(bk.error), "%s: %s", bk.hostport,
		    bk.why[0] ? bk.why : "no answer");
		return;
	}
	if (code != 200) {
		snprintf(bk.error, sizeof(bk.error), "%s: HTTP %d", bk.hostport,
		    code);
		return;
	}
	body = evhttp_request_get_input_buffer(req);
	len = evbuffer_get_length(body);
	if ((jobs = json_object()) == NULL)
		return;
	if (prom_parse((const char *)evbuffer_pullup(body, -1), len,
	    backup_sample_cb, jobs, err, sizeof(err)) != 0) {
		snprintf(bk.error, sizeof(bk.error), "%s: bad metrics (%s)",
		    bk.hostport, err);
		json_decref(jobs);
		return;
	}
	json_decref(bk.jobs);
	bk.jobs = jobs;
	bk.fetched_at = time(NULL);
	bk.error[0] = '\0';
}

static void
backup_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evhttp_request *req;

	if (bk.inflight)
		return;		/* the last one is still running */
	if (bk.conn != NULL)
		evhttp_connection_free(bk.conn);
	bk.conn = NULL;
	bk.tried_at = time(NULL);
	bk.why[0] = '\0';
	if ((bk.conn = evhttp_connection_base_new(bk.base, NULL, bk.host,
	    bk.port)) == NULL)
		goto fail;
	evhttp_connection_set_timeout(bk.conn, ADMIN_BACKUP_TIMEOUT_S);
	evhttp_connection_set_retries(bk.conn, 0);
	evhttp_connection_set_max_body_size(bk.conn, BACKUP_BODY_MAX);
	evhttp_connection_set_max_headers_size(bk.conn, 16384);
	if ((req = evhttp_request_new(backup_done_cb, NULL)) == NULL) {
		evhttp_connection_free(bk.conn);
		bk.conn = NULL;
		goto fail;
	}
	evhttp_request_set_error_cb(req, backup_error_cb);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
	    bk.hostport);
	evhttp_add_header(evhttp_request_get_output_headers(req), "User-Agent",
	    "limen/" LIMEN_VERSION);
	if (evhttp_make_request(bk.conn, req, EVHTTP_REQ_GET, "/metrics") ==
	    -1) {
		/* the request was freed by evhttp_make_request */
		evhttp_connection_free(bk.conn);
		bk.conn = NULL;
		goto fail;
	}
	bk.inflight = true;
	return;
fail:
	snprintf(bk.error, sizeof(bk.error), "%s: cannot send a request",
	    bk.hostport);
	backup_schedule();
}

/* Where to reach the companion: its listen address, a wildcard replaced
 * by the loopback address. */
static int
backup_target(const struct conf_addr *a, char *host, size_t cap,
    uint16_t *port)
{
	const struct sockaddr_in *in4 = (const void *)&a->sa;
	const struct sockaddr_in6 *in6 = (const void *)&a->sa;

	*port = a->port;
	if (a->host == NULL || a->is_name) {
		snprintf(host, cap, a->is_name && a->host ? "%s" : "127.0.0.1",
		    a->host);
		return 0;
	}
	if (a->sa.ss_family == AF_INET) {
		if (in4->sin_addr.s_addr == htonl(INADDR_ANY))
			snprintf(host, cap, "127.0.0.1");
		else
			inet_ntop(AF_INET, &in4->sin_addr, host, (socklen_t)cap);
		return 0;
	}
	if (a->sa.ss_family == AF_INET6) {
		if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
			snprintf(host, cap, "::1");
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, host, (socklen_t)cap);
		return 0;
	}
	return -1;
}

void
admin_backup_configure(struct event_base *base, const struct config *c)
{
	char host[sizeof(bk.host)];
	uint16_t port;

	if (!c->backup.enabled || !c->backup.has_listen ||
	    backup_target(&c->backup.listen, host, sizeof(host), &port) == -1) {
		admin_backup_free();
		return;
	}
	if (bk.timer != NULL && strcmp(host, bk.host) == 0 && port == bk.port)
		return;
	admin_backup_free();
	bk.base = base;
	snprintf(bk.host, sizeof(bk.host), "%s", host);
	bk.port = port;
	snprintf(bk.hostport, sizeof(bk.hostport), strchr(host, ':') ?
	    "[%s]:%u" : "%s:%u", host, (unsigned)port);
	if ((bk.timer = evtimer_new(base, backup_poll_cb, NULL)) == NULL) {
		log_warnx("admin: cannot poll limen-backup: out of memory");
		return;
	}
	backup_poll_cb(-1, 0, NULL);
}

json_t *
admin_backup_json(void)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "configured", json_boolean(bk.timer != NULL));
	if (bk.timer == NULL)
		return o;
	json_object_set_new(o, "source", json_string(bk.hostport));
	json_object_set_new(o, "fetched_at", bk.fetched_at ?
	    json_integer((json_int_t)bk.fetched_at) : json_null());
	json_object_set_new(o, "error", bk.error[0] ? json_string(bk.error) :
	    json_null());
	json_object_set_new(o, "metrics", bk.jobs ? json_deep_copy(bk.jobs) :
	    json_object());
	return o;
}

void
admin_backup_free(void)
{
	if (bk.conn != NULL)
		evhttp_connection_free(bk.conn);
	if (bk.timer != NULL)
		event_free(bk.timer);
	json_decref(bk.jobs);
	memset(&bk, 0, sizeof(bk));
}
