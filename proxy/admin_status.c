/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * admin_status.c — the status document behind GET /api/v1/status and the
 * status page: process, configuration, reloads, listeners, routes, pools
 * with each server's state, certificates, backup jobs.
 *
 * Shape (times are Unix seconds, rates per second over the last minute):
 *   { "version", "started_at", "now",
 *     "config": { "version", "file", "loaded_at" },
 *     "reloads": { "success", "failure", "last_at", "last_ok", "last_error" },
 *     "listeners": [ { "name", "addresses", "tls", "connections_open",
 *                      "connections_accepted" } ],
 *     "routes": [ { "route", "pool", "action", "requests", "rate",
 *                   "errors_5xx", "error_rate", "avg_seconds" } ],
 *     "pools": [ { "name", "balance", "health_checks", "usable", "rate",
 *                  "servers": [ { "name", "address", "weight", "health",
 *                                 "up", "drained", "failing", "active",
 *                                 "requests", "rate" } ] } ],
 *     "certificates": [ { "name", "source", "not_after", "days_left",
 *                         "acme_failures", "last_error", "last_error_at" } ],
 *     "backup": { "configured", "source", "fetched_at", "error",
 *                 "jobs": [ { "name", "kind", "schedule", "last_success",
 *                             "last_attempt", "next_run", "failures",
 *                             "running", "backups", "last_verify_success" } ] } }
 * A server's "health" is one word: "up", "down" (active checks),
 * "failing" (out after passive failures) or "drained".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/config.h"
#include "proxy/admin_internal.h"
#include "proxy/metrics.h"
#include "proxy/pool.h"
#include "proxy/snapshot.h"

void
admin_time_text(time_t t, char *out, size_t cap)
{
	struct tm tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL) {
		snprintf(out, cap, "-");
		return;
	}
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *
status_time(time_t t)
{
	return t ? json_integer((json_int_t)t) : json_null();
}

/* A rate rounded to 0.01/s so the page and tests see stable numbers. */
static json_t *
status_rate(double r)
{
	return json_real(round(r * 100.0) / 100.0);
}

static const char *
status_action(const struct conf_route *r)
{
	switch (r->action) {
	case ACTION_POOL:
		return "pool";
	case ACTION_REDIRECT:
		return "redirect";
	case ACTION_RESPOND:
		return "respond";
	case ACTION_STATIC:
		return "static";
	}
	return "?";
}

static const char *
status_balance(enum conf_balance b)
{
	switch (b) {
	case BALANCE_ROUND_ROBIN:
		return "round_robin";
	case BALANCE_LEAST_CONN:
		return "least_conn";
	case BALANCE_RANDOM_TWO:
		return "random_two";
	case BALANCE_HASH:
		return "hash";
	}
	return "?";
}

static json_t *
status_listeners(const struct config *c)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];
		json_t *o = json_object(), *addrs = json_array();
		int64_t open;
		uint64_t acc;

		for (size_t j = 0; addrs != NULL && j < l->n_addrs; j++)
			json_array_append_new(addrs,
			    json_string(l->addrs[j].text));
		metrics_listener_read(l->name, &open, &acc);
		json_object_set_new(o, "name", json_string(l->name));
		json_object_set_new(o, "addresses", addrs);
		json_object_set_new(o, "tls", json_boolean(l->tls.enabled));
		json_object_set_new(o, "connections_open", json_integer(open));
		json_object_set_new(o, "connections_accepted",
		    json_integer((json_int_t)acc));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *
status_routes(struct snapshot *s)
{
	const struct config *c = s->conf;
	json_t *a = json_array();
	char key[1200];

	for (size_t i = 0; a != NULL && i < c->n_routes; i++) {
		struct metrics_series_totals t;
		json_t *o = json_object();
		double rate, sum_rate;

		metrics_series_read(metrics_route_series(s, i), &t);
		snprintf(key, sizeof(key), "route:%s\x1f%s", t.route, t.pool);
		rate = admin_rate(key, (double)t.count);
		json_object_set_new(o, "route", json_string(t.route ? t.route :
		    ""));
		json_object_set_new(o, "pool", c->routes[i].action ==
		    ACTION_POOL ? json_string(c->routes[i].pool_name) :
		    json_null());
		json_object_set_new(o, "action",
		    json_string(status_action(&c->routes[i])));
		json_object_set_new(o, "requests",
		    json_integer((json_int_t)t.count));
		json_object_set_new(o, "rate", status_rate(rate));
		json_object_set_new(o, "errors_5xx",
		    json_integer((json_int_t)t.by_class[4]));
		snprintf(key, sizeof(key), "route5xx:%s\x1f%s", t.route, t.pool);
		json_object_set_new(o, "error_rate", status_rate(admin_rate(key,
		    (double)t.by_class[4])));
		snprintf(key, sizeof(key), "routesum:%s\x1f%s", t.route, t.pool);
		sum_rate = admin_rate(key, t.sum_seconds);
		json_object_set_new(o, "avg_seconds", rate > 0 ?
		    json_real(round(sum_rate / rate * 1e4) / 1e4) : json_null());
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *
status_pools(struct snapshot *s)
{
	json_t *a = json_array();
	int64_t now = pool_now_ms();
	char key[1200];

	for (size_t p = 0; a != NULL && s->pools != NULL && p < s->pools->n;
	    p++) {
		struct pool *pl = &s->pools->pools[p];
		struct server_set *set = pool_servers(pl);
		json_t *o = json_object(), *servers = json_array();
		unsigned usable = 0;
		double pool_rate = 0;

		for (size_t i = 0; set != NULL && i < set->n; i++) {
			struct server *sv = set->servers[i];
			json_t *so = json_object();
			bool up = atomic_load(&sv->up);
			bool drained = atomic_load(&sv->drained);
			bool failing = atomic_load(&sv->down_until_ms) > now;
			uint64_t reqs = atomic_load(&sv->requests);
			double rate;
			const char *health = drained ? "drained" : !up ? "down" :
			    failing ? "failing" : "up";

			if (up && !drained && !failing)
				usable++;
			snprintf(key, sizeof(key), "server:%s\x1f%s",
			    pl->conf->name, sv->name);
			rate = admin_rate(key, (double)reqs);
			pool_rate += rate;
			json_object_set_new(so, "name", json_string(sv->name));
			json_object_set_new(so, "address",
			    json_string(sv->host_header));
			json_object_set_new(so, "weight", json_integer(sv->weight));
			json_object_set_new(so, "health", json_string(health));
			json_object_set_new(so, "up", json_boolean(up));
			json_object_set_new(so, "drained", json_boolean(drained));
			json_object_set_new(so, "failing", json_boolean(failing));
			json_object_set_new(so, "active",
			    json_integer(atomic_load(&sv->active)));
			json_object_set_new(so, "requests",
			    json_integer((json_int_t)reqs));
			json_object_set_new(so, "rate", status_rate(rate));
			json_array_append_new(servers, so);
		}
		if (set != NULL)
			server_set_unref(set);
		json_object_set_new(o, "name", json_string(pl->conf->name));
		json_object_set_new(o, "balance",
		    json_string(status_balance(pl->conf->balance)));
		json_object_set_new(o, "health_checks",
		    json_boolean(pl->conf->health.enabled));
		json_object_set_new(o, "usable", json_integer(usable));
		json_object_set_new(o, "rate", status_rate(pool_rate));
		json_object_set_new(o, "servers", servers);
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *
status_certs(time_t now)
{
	struct metrics_cert *c;
	json_t *a = json_array();
	size_t n;

	if (a == NULL || (c = metrics_certs(&n)) == NULL)
		return a;
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();

		json_object_set_new(o, "name", json_string(c[i].name));
		json_object_set_new(o, "source", json_string(c[i].source));
		json_object_set_new(o, "not_after", status_time(c[i].not_after));
		json_object_set_new(o, "days_left", c[i].not_after ?
		    json_integer((json_int_t)floor(difftime(c[i].not_after,
		    now) / 86400.0)) : json_null());
		json_object_set_new(o, "acme_failures",
		    json_integer((json_int_t)c[i].acme_failures));
		json_object_set_new(o, "last_error", c[i].last_error[0] ?
		    json_string(c[i].last_error) : json_null());
		json_object_set_new(o, "last_error_at",
		    c[i].last_error[0] ? status_time(c[i].last_error_at) :
		    json_null());
		json_array_append_new(a, o);
	}
	free(c);
	return a;
}

/* The configured jobs with what the companion reports about them. */
static json_t *
status_backup(const struct config *c)
{
	static const struct {
		const char *out, *metric;
	} fields[] = {
		{ "last_success", "last_success_timestamp_seconds" },
		{ "last_attempt", "last_attempt_timestamp_seconds" },
		{ "next_run", "next_run_timestamp_seconds" },
		{ "last_duration_seconds", "last_duration_seconds" },
		{ "last_size_bytes", "last_size_bytes" },
		{ "failures", "failures_total" },
		{ "runs", "runs_total" },
		{ "running", "running" },
		{ "backups", "backups" },
		{ "last_verify_success", "last_verify_success" },
	};
	json_t *b = admin_backup_json(), *metrics, *jobs = json_array();

	if (b == NULL || jobs == NULL) {
		json_decref(jobs);
		return b;
	}
	metrics = json_object_get(b, "metrics");
	for (size_t i = 0; c->backup.enabled && i < c->backup.n_jobs; i++) {
		const struct conf_backup_job *j = &c->backup.jobs[i];
		json_t *o = json_object(), *m = json_object_get(metrics, j->name);

		json_object_set_new(o, "name", json_string(j->name));
		json_object_set_new(o, "kind", json_string(j->kind ==
		    BACKUP_PHYSICAL ? "physical" : "logical"));
		json_object_set_new(o, "schedule", json_string(j->schedule ?
		    j->schedule : ""));
		json_object_set_new(o, "reported", json_boolean(m != NULL));
		for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
			json_t *v = json_object_get(m, fields[f].metric);
			double d = v ? json_real_value(v) : 0;

			if (v == NULL || (d == 0 && strstr(fields[f].metric,
			    "timestamp") != NULL))
				json_object_set_new(o, fields[f].out,
				    json_null());
			else if (d == floor(d) && fabs(d) < 1e15)
				json_object_set_new(o, fields[f].out,
				    json_integer((json_int_t)d));
			else
				json_object_set_new(o, fields[f].out,
				    json_real(d));
		}
		json_array_append_new(jobs, o);
	}
	json_object_del(b, "metrics");
	json_object_set_new(b, "jobs", jobs);
	return b;
}

json_t *
admin_status_json(struct snapshot *s)
{
	const struct config *c = s->conf;
	struct metrics_reloads r;
	time_t now = time(NULL);
	json_t *o, *cfg, *rel;

	metrics_reloads(&r);
	if ((o = json_object()) == NULL)
		return NULL;
	json_object_set_new(o, "version", json_string(LIMEN_VERSION));
	json_object_set_new(o, "started_at", status_time(metrics_start_time()));
	json_object_set_new(o, "now", json_integer((json_int_t)now));

	cfg = json_object();
	json_object_set_new(cfg, "version",
	    json_integer((json_int_t)s->generation));
	json_object_set_new(cfg, "file", json_string(c->path ? c->path : ""));
	json_object_set_new(cfg, "loaded_at", status_time(c->loaded_at));
	json_object_set_new(o, "config", cfg);

	rel = json_object();
	json_object_set_new(rel, "success", json_integer((json_int_t)r.ok));
	json_object_set_new(rel, "failure", json_integer((json_int_t)r.failed));
	json_object_set_new(rel, "last_at", status_time(r.last_at));
	json_object_set_new(rel, "last_ok", r.last_at ? json_boolean(r.last_ok) :
	    json_null());
	json_object_set_new(rel, "last_error", r.last_error[0] ?
	    json_string(r.last_error) : json_null());
	json_object_set_new(o, "reloads", rel);

	json_object_set_new(o, "listeners", status_listeners(c));
	json_object_set_new(o, "routes", status_routes(s));
	json_object_set_new(o, "pools", status_pools(s));
	json_object_set_new(o, "certificates", status_certs(now));
	json_object_set_new(o, "backup", status_backup(c));
	return o;
}
