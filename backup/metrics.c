/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * metrics.c — what the companion tells Prometheus, and the tiny HTTP
 * endpoint (libevent evhttp) on backup.listen that serves it:
 *
 *   GET /metrics   Prometheus text format 0.0.4, per job (see
 *                  docs/backup.md for each metric and an alert rule)
 *   GET /healthz   "ok" while the scheduler runs
 *
 * The values live in the scheduler (sched.c); they are rebuilt from the
 * catalog at start and after every run, so a restart of the companion
 * does not reset "last success" and an alert on it keeps working.
 */
#include "backup/backup.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct metrics_buf {
	char *s;
	size_t len, cap;
	bool failed;
};

static void
mb_printf(struct metrics_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
mb_printf(struct metrics_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = (b->cap + (size_t)n + 1) * 2;
		char *ns = realloc(b->s, ncap);
		if (ns == NULL) {
			b->failed = true;
			return;
		}
		b->s = ns;
		b->cap = ncap;
	}
}

/* Job names come from the config; escape them for a label value. */
static void
mb_label(struct metrics_buf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			mb_printf(b, "\\%c", *v);
		else if (*v == '\n')
			mb_printf(b, "\\n");
		else
			mb_printf(b, "%c", *v);
	}
}

struct metric_def {
	const char *name;
	const char *type;
	const char *help;
	size_t offset;		/* of a double in struct metrics_job */
};

#define M(field) offsetof(struct metrics_job, field)
static const struct metric_def metric_defs[] = {
	{ "limen_backup_last_success_timestamp_seconds", "gauge",
	  "End time of the newest complete backup (0 = none).",
	  M(last_success) },
	{ "limen_backup_last_attempt_timestamp_seconds", "gauge",
	  "Start time of the last run (0 = none since start).",
	  M(last_attempt) },
	{ "limen_backup_last_duration_seconds", "gauge",
	  "Duration of the newest complete backup.", M(last_duration) },
	{ "limen_backup_last_size_bytes", "gauge",
	  "Size of the newest complete backup on disk.", M(last_size) },
	{ "limen_backup_failures_total", "counter",
	  "Runs that failed since the companion started.", M(failures) },
	{ "limen_backup_runs_total", "counter",
	  "Runs since the companion started.", M(runs) },
	{ "limen_backup_last_verify_timestamp_seconds", "gauge",
	  "When the newest complete backup was last restore-tested "
	  "(0 = never).", M(last_verify_time) },
	{ "limen_backup_next_run_timestamp_seconds", "gauge",
	  "When the scheduler runs the job next.", M(next_run) },
	{ "limen_backup_backups", "gauge",
	  "Complete backups on disk.", M(backups) },
};
#undef M

char *
backup_metrics_render(const struct metrics_job *jobs, size_t n)
{
	struct metrics_buf b = { NULL, 0, 0, false };

	mb_printf(&b, "%s", "");
	for (size_t d = 0; d < sizeof metric_defs / sizeof metric_defs[0];
	    d++) {
		const struct metric_def *md = &metric_defs[d];
		mb_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", md->name,
		    md->help, md->name, md->type);
		for (size_t i = 0; i < n; i++) {
			double v = *(const double *)(const void *)
			    ((const char *)&jobs[i] + md->offset);
			mb_printf(&b, "%s{backup_job=\"", md->name);
			mb_label(&b, jobs[i].name);
			mb_printf(&b, "\"} %.17g\n", v);
		}
	}
	mb_printf(&b, "# HELP limen_backup_last_verify_success Result of the "
	    "last restore test of the newest complete backup (1 ok, 0 "
	    "failed; absent = never tested).\n"
	    "# TYPE limen_backup_last_verify_success gauge\n");
	for (size_t i = 0; i < n; i++) {
		if (jobs[i].last_verify < 0)
			continue;
		mb_printf(&b, "limen_backup_last_verify_success{backup_job=\"");
		mb_label(&b, jobs[i].name);
		mb_printf(&b, "\"} %d\n", jobs[i].last_verify);
	}
	mb_printf(&b, "# HELP limen_backup_running Whether a run of the job "
	    "is in progress.\n# TYPE limen_backup_running gauge\n");
	for (size_t i = 0; i < n; i++) {
		mb_printf(&b, "limen_backup_running{backup_job=\"");
		mb_label(&b, jobs[i].name);
		mb_printf(&b, "\"} %d\n", jobs[i].running ? 1 : 0);
	}
	if (b.failed) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

void
metrics_from_catalog(struct metrics_job *mj, const char *jobdir)
{
	struct catalog cat;
	const struct catalog_entry *e;

	if (catalog_load(jobdir, &cat) == -1)
		return;
	mj->backups = 0;
	for (size_t i = 0; i < cat.n; i++)
		if (catalog_is_complete(&cat.e[i]))
			mj->backups++;
	if ((e = catalog_newest_complete(&cat)) != NULL) {
		mj->last_success = (double)e->m.end;
		mj->last_duration = (double)(e->m.end - e->m.start);
		mj->last_size = (double)e->m.size;
		mj->last_verify_time = (double)e->verify_time;
		mj->last_verify = e->status == CATALOG_VERIFIED ? 1 :
		    e->status == CATALOG_VERIFY_FAILED ? 0 : -1;
	}
	catalog_free(&cat);
}

/* ---- the endpoint ----------------------------------------------------------- */

struct metrics_http {
	struct evhttp *http;
	char *(*render)(void *arg);
	void *arg;
};

static void
metrics_http_cb(struct evhttp_request *req, void *arg)
{
	struct metrics_http *mh = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	char *text;

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(hdr, "Allow", "GET, HEAD");
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	if (strcmp(uri, "/healthz") == 0) {
		evhttp_add_header(hdr, "Content-Type", "text/plain");
		evbuffer_add_printf(out, "ok\n");
		evhttp_send_reply(req, 200, "OK", out);
		return;
	}
	if (strcmp(uri, "/metrics") != 0) {
		evhttp_send_error(req, 404, "Not Found");
		return;
	}
	if ((text = mh->render(mh->arg)) == NULL) {
		evhttp_send_error(req, 500, "Internal Server Error");
		return;
	}
	evhttp_add_header(hdr, "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	evbuffer_add(out, text, strlen(text));
	free(text);
	evhttp_send_reply(req, 200, "OK", out);
}

struct metrics_http *
metrics_http_start(struct event_base *base, const struct conf_addr *addr,
    char *(*render)(void *arg), void *arg)
{
	struct metrics_http *mh = calloc(1, sizeof *mh);
	const char *host = addr->host ? addr->host : "0.0.0.0";

	if (mh == NULL)
		return NULL;
	mh->render = render;
	mh->arg = arg;
	if ((mh->http = evhttp_new(base)) == NULL)
		goto fail;
	evhttp_set_timeout(mh->http, 10);
	evhttp_set_max_headers_size(mh->http, 16 * 1024);
	evhttp_set_max_body_size(mh->http, 0);
	evhttp_set_allowed_methods(mh->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_gencb(mh->http, metrics_http_cb, mh);
	if (evhttp_bind_socket_with_handle(mh->http, host, addr->port) ==
	    NULL) {
		log_warn("backup.listen %s: cannot listen",
		    addr->text ? addr->text : host);
		goto fail;
	}
	return mh;
fail:
	if (mh->http)
		evhttp_free(mh->http);
	free(mh);
	return NULL;
}

void
metrics_http_free(struct metrics_http *mh)
{
	if (mh == NULL)
		return;
	evhttp_free(mh->http);
	free(mh);
}
