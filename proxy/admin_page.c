/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * admin_page.c — the status page at GET / on the admin listener: the
 * status document (admin_status.c) as one HTML page for people, in the
 * spirit of HAProxy's stats page but meant to be read at a glance: a row
 * of summary tiles (anything red needs attention), then pools and their
 * servers, routes, certificates, backup jobs, listeners and reloads.
 *
 * Self-contained: inline CSS, no script, no external asset (the page
 * must work on an air-gapped host, and the CSP forbids anything else); a
 * <meta refresh> reloads it every ADMIN_PAGE_REFRESH_S.  Every value
 * that comes from the configuration or a peer is HTML-escaped.  Rows
 * carry data-* attributes (data-server, data-health, data-days, ...) so
 * tests and scripts can read the page without parsing prose.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/admin_internal.h"

#define ADMIN_PAGE_REFRESH_S 5
#define CERT_DAYS_WARN 21		/* amber below this many days */
#define CERT_DAYS_CRIT 7		/* red below this */

static const char page_css[] =
"*{box-sizing:border-box}"
"body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,"
"sans-serif;color:#1f2328;background:#f6f8fa}"
"header{background:#24292f;color:#fff;padding:12px 24px;display:flex;"
"align-items:baseline;gap:24px;flex-wrap:wrap}"
"header h1{margin:0;font-size:20px;letter-spacing:.5px}"
"header .meta{color:#c9d1d9;font-size:13px}"
"main{padding:16px 24px;max-width:1400px}"
".tiles{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:8px}"
".tile{background:#fff;border:1px solid #d0d7de;border-left:6px solid "
"#8c959f;border-radius:6px;padding:10px 14px;min-width:170px}"
".tile b{display:block;font-size:22px}"
".tile span{color:#57606a;font-size:12px;text-transform:uppercase;"
"letter-spacing:.4px}"
".tile.ok{border-left-color:#1a7f37}.tile.warn{border-left-color:#bf8700}"
".tile.bad{border-left-color:#cf222e}"
"h2{font-size:16px;margin:22px 0 8px}"
"h3{font-size:14px;margin:14px 0 6px}"
"table{border-collapse:collapse;width:100%;background:#fff;"
"border:1px solid #d0d7de;border-radius:6px;overflow:hidden}"
"th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #eaeef2;"
"white-space:nowrap}"
"th{background:#f6f8fa;font-weight:600;font-size:12px;color:#57606a;"
"text-transform:uppercase;letter-spacing:.3px}"
"td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}"
"td.wrap{white-space:normal}"
"tr:last-child td{border-bottom:0}"
".badge{display:inline-block;padding:1px 8px;border-radius:10px;"
"font-size:12px;font-weight:600;color:#fff;background:#8c959f}"
".b-up,.b-ok{background:#1a7f37}.b-down,.b-failed,.b-bad{background:#cf222e}"
".b-failing,.b-warn,.b-running{background:#bf8700}"
".b-drained,.b-never{background:#6e7781}"
".muted{color:#57606a}.err{color:#cf222e}"
".pool{margin-bottom:12px}"
".pool h3 .muted{font-weight:400}"
".alert{background:#ffebe9;border:1px solid #ff8182;border-radius:6px;"
"padding:8px 12px;margin:8px 0;white-space:pre-wrap}"
"footer{padding:16px 24px;color:#57606a;font-size:12px}";

/* ---- small helpers ------------------------------------------------------- */

static void
page_esc(FILE *f, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

static const char *
jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

static double
jnum(const json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

static bool
jtrue(const json_t *o, const char *k)
{
	return json_is_true(json_object_get(o, k));
}

static bool
jnull(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	return v == NULL || json_is_null(v);
}

/* "3m ago", "2h 5m ago", "in 4h"; "never" for 0 / null. */
static void
page_ago(FILE *f, double t, double now)
{
	double d = now - t;
	bool future = d < 0;
	long s;

	if (t <= 0) {
		fputs("never", f);
		return;
	}
	s = (long)fabs(d);
	if (future)
		fputs("in ", f);
	if (s < 60)
		fprintf(f, "%lds", s);
	else if (s < 3600)
		fprintf(f, "%ldm", s / 60);
	else if (s < 86400)
		fprintf(f, "%ldh %ldm", s / 3600, (s % 3600) / 60);
	else
		fprintf(f, "%ldd %ldh", s / 86400, (s % 86400) / 3600);
	if (!future)
		fputs(" ago", f);
}

static void
page_time(FILE *f, double t)
{
	char buf[40];

	admin_time_text((time_t)t, buf, sizeof(buf));
	page_esc(f, buf);
}

static void
page_rate(FILE *f, double r)
{
	if (r >= 100)
		fprintf(f, "%.0f/s", r);
	else if (r > 0)
		fprintf(f, "%.2f/s", r);
	else
		fputs("0/s", f);
}

static void
page_tile(FILE *f, const char *id, const char *cls, const char *value,
    const char *label)
{
	fprintf(f, "<div class=\"tile %s\" id=\"tile-%s\"><b>", cls, id);
	page_esc(f, value);
	fputs("</b><span>", f);
	page_esc(f, label);
	fputs("</span></div>\n", f);
}

/* ---- sections ---------------------------------------------------------------- */

static void
page_tiles(FILE *f, const json_t *st)
{
	const json_t *pools = json_object_get(st, "pools");
	const json_t *certs = json_object_get(st, "certificates");
	const json_t *bk = json_object_get(st, "backup");
	const json_t *jobs = json_object_get(bk, "jobs");
	const json_t *rel = json_object_get(st, "reloads");
	const json_t *p, *sv, *c, *j;
	size_t i, k, up = 0, total = 0, empty_pools = 0;
	double rate = 0, min_days = 1e9;
	char v[64];

	json_array_foreach(pools, i, p) {
		rate += jnum(p, "rate");
		if (jnum(p, "usable") == 0 && json_array_size(
		    json_object_get(p, "servers")) > 0)
			empty_pools++;
		json_array_foreach(json_object_get(p, "servers"), k, sv) {
			total++;
			if (strcmp(jstr(sv, "health"), "up") == 0)
				up++;
		}
	}
	snprintf(v, sizeof(v), "%zu / %zu", up, total);
	page_tile(f, "servers", total == 0 ? "" : empty_pools ? "bad" :
	    up < total ? "warn" : "ok", v, "servers up");

	{
		const json_t *routes = json_object_get(st, "routes"), *r;
		double req = 0, err = 0;

		json_array_foreach(routes, i, r) {
			req += jnum(r, "rate");
			err += jnum(r, "error_rate");
		}
		if (req < rate)
			req = rate;
		snprintf(v, sizeof(v), "%.2f/s", req);
		page_tile(f, "rate", "", v, "requests (1 min)");
		snprintf(v, sizeof(v), "%.1f%%", req > 0 ? 100 * err / req : 0);
		page_tile(f, "errors", req > 0 && err / req > 0.05 ? "bad" :
		    err > 0 ? "warn" : "ok", v, "5xx (1 min)");
	}

	json_array_foreach(certs, i, c)
		if (!jnull(c, "days_left") && jnum(c, "days_left") < min_days)
			min_days = jnum(c, "days_left");
	if (json_array_size(certs) == 0)
		snprintf(v, sizeof(v), "none");
	else if (min_days >= 1e9)
		snprintf(v, sizeof(v), "missing");
	else
		snprintf(v, sizeof(v), "%.0f days", min_days);
	page_tile(f, "certs", json_array_size(certs) == 0 ? "" :
	    min_days < CERT_DAYS_CRIT ? "bad" : min_days < CERT_DAYS_WARN ?
	    "warn" : "ok", v, "first certificate expiry");

	if (jtrue(bk, "configured")) {
		size_t ok = 0, n = json_array_size(jobs);

		json_array_foreach(jobs, i, j)
			if (!jnull(j, "last_success") && (jnull(j,
			    "last_attempt") || jnum(j, "last_success") >=
			    jnum(j, "last_attempt") || jtrue(j, "running")))
				ok++;
		snprintf(v, sizeof(v), "%zu / %zu", ok, n);
		page_tile(f, "backups", !jnull(bk, "error") || ok < n ? "bad" :
		    "ok", v, "backup jobs ok");
	}
	snprintf(v, sizeof(v), "%.0f / %.0f", jnum(rel, "success"),
	    jnum(rel, "failure"));
	page_tile(f, "reloads", jnull(rel, "last_ok") ? "" :
	    jtrue(rel, "last_ok") ? "ok" : "bad", v, "reloads ok / failed");
}

static void
page_pools(FILE *f, const json_t *st)
{
	const json_t *pools = json_object_get(st, "pools"), *p, *sv;
	size_t i, k;

	fputs("<h2 id=\"pools\">Pools</h2>\n", f);
	if (json_array_size(pools) == 0)
		fputs("<p class=\"muted\">No pools configured.</p>\n", f);
	json_array_foreach(pools, i, p) {
		const json_t *servers = json_object_get(p, "servers");

		fputs("<div class=\"pool\" data-pool=\"", f);
		page_esc(f, jstr(p, "name"));
		fputs("\"><h3>", f);
		page_esc(f, jstr(p, "name"));
		fprintf(f, " <span class=\"muted\">%s &middot; %.0f of %zu "
		    "usable &middot; ", jstr(p, "balance"), jnum(p, "usable"),
		    json_array_size(servers));
		page_rate(f, jnum(p, "rate"));
		fputs(jtrue(p, "health_checks") ? "" : " &middot; no active "
		    "health checks", f);
		fputs("</span></h3>\n<table><tr><th>server</th><th>health</th>"
		    "<th class=\"num\">active</th><th class=\"num\">req/s</th>"
		    "<th class=\"num\">requests</th><th class=\"num\">weight"
		    "</th></tr>\n", f);
		json_array_foreach(servers, k, sv) {
			const char *h = jstr(sv, "health");

			fputs("<tr data-server=\"", f);
			page_esc(f, jstr(sv, "name"));
			fputs("\" data-health=\"", f);
			page_esc(f, h);
			fputs("\"><td>", f);
			page_esc(f, jstr(sv, "name"));
			fputs("</td><td><span class=\"badge b-", f);
			page_esc(f, h);
			fputs("\">", f);
			page_esc(f, h);
			fprintf(f, "</span></td><td class=\"num\">%.0f</td>"
			    "<td class=\"num\" data-rate=\"%.2f\">",
			    jnum(sv, "active"), jnum(sv, "rate"));
			page_rate(f, jnum(sv, "rate"));
			fprintf(f, "</td><td class=\"num\">%.0f</td>"
			    "<td class=\"num\">%.0f</td></tr>\n",
			    jnum(sv, "requests"), jnum(sv, "weight"));
		}
		if (json_array_size(servers) == 0)
			fputs("<tr><td colspan=\"6\" class=\"muted\">no servers "
			    "(DNS has no records?)</td></tr>\n", f);
		fputs("</table></div>\n", f);
	}
}

static void
page_routes(FILE *f, const json_t *st)
{
	const json_t *routes = json_object_get(st, "routes"), *r;
	size_t i;

	fputs("<h2 id=\"routes\">Routes</h2>\n<table><tr><th>route</th>"
	    "<th>to</th><th class=\"num\">req/s</th><th class=\"num\">5xx/s"
	    "</th><th class=\"num\">avg time</th><th class=\"num\">requests"
	    "</th><th class=\"num\">5xx</th></tr>\n", f);
	json_array_foreach(routes, i, r) {
		fputs("<tr data-route=\"", f);
		page_esc(f, jstr(r, "route"));
		fputs("\"><td>", f);
		page_esc(f, jstr(r, "route"));
		fputs("</td><td>", f);
		if (jnull(r, "pool"))
			fprintf(f, "<span class=\"muted\">%s</span>",
			    jstr(r, "action"));
		else
			page_esc(f, jstr(r, "pool"));
		fputs("</td><td class=\"num\">", f);
		page_rate(f, jnum(r, "rate"));
		fprintf(f, "</td><td class=\"num%s\">", jnum(r, "error_rate") >
		    0 ? " err" : "");
		page_rate(f, jnum(r, "error_rate"));
		fputs("</td><td class=\"num\">", f);
		if (jnull(r, "avg_seconds"))
			fputs("&ndash;", f);
		else
			fprintf(f, "%.1f ms", jnum(r, "avg_seconds") * 1000);
		fprintf(f, "</td><td class=\"num\">%.0f</td><td class=\"num\">"
		    "%.0f</td></tr>\n", jnum(r, "requests"),
		    jnum(r, "errors_5xx"));
	}
	fputs("</table>\n", f);
}

static void
page_certs(FILE *f, const json_t *st)
{
	const json_t *certs = json_object_get(st, "certificates"), *c;
	double now = jnum(st, "now");
	size_t i;

	fputs("<h2 id=\"certificates\">Certificates</h2>\n", f);
	if (json_array_size(certs) == 0) {
		fputs("<p class=\"muted\">No certificates.</p>\n", f);
		return;
	}
	fputs("<table><tr><th>name</th><th>source</th><th>expires</th>"
	    "<th class=\"num\">days left</th><th class=\"num\">ACME failures"
	    "</th><th>last ACME error</th></tr>\n", f);
	json_array_foreach(certs, i, c) {
		bool has = !jnull(c, "days_left");
		double d = jnum(c, "days_left");
		const char *cls = !has || d < CERT_DAYS_CRIT ? "bad" :
		    d < CERT_DAYS_WARN ? "warn" : "ok";

		fputs("<tr data-cert=\"", f);
		page_esc(f, jstr(c, "name"));
		fputs("\"><td>", f);
		page_esc(f, jstr(c, "name"));
		fputs("</td><td>", f);
		page_esc(f, jstr(c, "source"));
		fputs("</td><td>", f);
		if (has)
			page_time(f, jnum(c, "not_after"));
		else
			fputs("<span class=\"err\">no certificate</span>", f);
		if (has)
			fprintf(f, "</td><td class=\"num\" data-days=\"%.0f\">"
			    "<span class=\"badge b-%s\">%.0f</span>", d, cls, d);
		else
			fputs("</td><td class=\"num\">&ndash;", f);
		fprintf(f, "</td><td class=\"num\">%.0f</td><td class=\"wrap\">",
		    jnum(c, "acme_failures"));
		if (!jnull(c, "last_error")) {
			fputs("<span class=\"err\">", f);
			page_esc(f, jstr(c, "last_error"));
			fputs("</span> <span class=\"muted\">(", f);
			page_ago(f, jnum(c, "last_error_at"), now);
			fputs(")</span>", f);
		}
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
}

static void
page_backups(FILE *f, const json_t *st)
{
	const json_t *bk = json_object_get(st, "backup"), *jobs, *j;
	double now = jnum(st, "now");
	size_t i;

	if (!jtrue(bk, "configured"))
		return;
	jobs = json_object_get(bk, "jobs");
	fputs("<h2 id=\"backups\">Backups</h2>\n", f);
	if (!jnull(bk, "error")) {
		fputs("<div class=\"alert\">limen-backup unreachable: ", f);
		page_esc(f, jstr(bk, "error"));
		fputs("</div>\n", f);
	}
	fputs("<table><tr><th>job</th><th>kind</th><th>schedule</th>"
	    "<th>state</th><th>last success</th><th>last attempt</th>"
	    "<th>next run</th><th class=\"num\">backups</th>"
	    "<th class=\"num\">failures</th></tr>\n", f);
	json_array_foreach(jobs, i, j) {
		const char *state;

		if (!jtrue(j, "reported"))
			state = "unknown";
		else if (jnum(j, "running") > 0)
			state = "running";
		else if (jnull(j, "last_success"))
			state = jnull(j, "last_attempt") ? "never" : "failed";
		else if (!jnull(j, "last_attempt") && jnum(j, "last_attempt") >
		    jnum(j, "last_success"))
			state = "failed";
		else
			state = "ok";
		fputs("<tr data-job=\"", f);
		page_esc(f, jstr(j, "name"));
		fprintf(f, "\" data-state=\"%s\" data-last-success=\"%.0f\">"
		    "<td>", state, jnum(j, "last_success"));
		page_esc(f, jstr(j, "name"));
		fputs("</td><td>", f);
		page_esc(f, jstr(j, "kind"));
		fputs("</td><td><code>", f);
		page_esc(f, jstr(j, "schedule"));
		fprintf(f, "</code></td><td><span class=\"badge b-%s\">%s</span>"
		    "</td><td>", state, state);
		page_ago(f, jnum(j, "last_success"), now);
		fputs("</td><td>", f);
		page_ago(f, jnum(j, "last_attempt"), now);
		fputs("</td><td>", f);
		if (jnull(j, "next_run"))
			fputs("&ndash;", f);
		else
			page_ago(f, jnum(j, "next_run"), now);
		fprintf(f, "</td><td class=\"num\">%.0f</td><td class=\"num\">"
		    "%.0f</td></tr>\n", jnum(j, "backups"), jnum(j, "failures"));
	}
	if (json_array_size(jobs) == 0)
		fputs("<tr><td colspan=\"9\" class=\"muted\">no jobs</td></tr>\n",
		    f);
	fputs("</table>\n", f);
}

static void
page_listeners(FILE *f, const json_t *st)
{
	const json_t *ls = json_object_get(st, "listeners"), *l, *a;
	size_t i, k;

	fputs("<h2 id=\"listeners\">Listeners</h2>\n<table><tr><th>name</th>"
	    "<th>addresses</th><th>TLS</th><th class=\"num\">open "
	    "connections</th><th class=\"num\">accepted</th></tr>\n", f);
	json_array_foreach(ls, i, l) {
		fputs("<tr data-listener=\"", f);
		page_esc(f, jstr(l, "name"));
		fputs("\"><td>", f);
		page_esc(f, jstr(l, "name"));
		fputs("</td><td>", f);
		json_array_foreach(json_object_get(l, "addresses"), k, a) {
			if (k > 0)
				fputs(", ", f);
			page_esc(f, json_string_value(a));
		}
		fprintf(f, "</td><td>%s</td><td class=\"num\">%.0f</td>"
		    "<td class=\"num\">%.0f</td></tr>\n",
		    jtrue(l, "tls") ? "yes" : "no",
		    jnum(l, "connections_open"), jnum(l, "connections_accepted"));
	}
	fputs("</table>\n", f);
}

static void
page_reloads(FILE *f, const json_t *st)
{
	const json_t *rel = json_object_get(st, "reloads");
	const json_t *cfg = json_object_get(st, "config");
	double now = jnum(st, "now");

	fputs("<h2 id=\"reloads\">Configuration</h2>\n<table>", f);
	fputs("<tr><th>file</th><td>", f);
	page_esc(f, jstr(cfg, "file"));
	fprintf(f, "</td></tr><tr><th>version</th><td id=\"config-version\">"
	    "%.0f</td></tr><tr><th>loaded</th><td>", jnum(cfg, "version"));
	page_time(f, jnum(cfg, "loaded_at"));
	fputs(" <span class=\"muted\">(", f);
	page_ago(f, jnum(cfg, "loaded_at"), now);
	fprintf(f, ")</span></td></tr><tr><th>reloads</th><td>%.0f ok, "
	    "%.0f rejected", jnum(rel, "success"), jnum(rel, "failure"));
	if (!jnull(rel, "last_at")) {
		fputs("; last ", f);
		page_ago(f, jnum(rel, "last_at"), now);
		fprintf(f, ": <span class=\"badge b-%s\">%s</span>",
		    jtrue(rel, "last_ok") ? "ok" : "bad",
		    jtrue(rel, "last_ok") ? "live" : "rejected");
	}
	fputs("</td></tr></table>\n", f);
	if (!jnull(rel, "last_at") && !jtrue(rel, "last_ok") &&
	    !jnull(rel, "last_error")) {
		fputs("<div class=\"alert\" id=\"reload-error\">The last reload "
		    "was rejected; the previous configuration keeps serving.\n",
		    f);
		page_esc(f, jstr(rel, "last_error"));
		fputs("</div>\n", f);
	}
}

char *
admin_page_render(const json_t *st, size_t *len)
{
	char *buf = NULL, started[40];
	FILE *f;

	if ((f = open_memstream(&buf, len)) == NULL)
		return NULL;
	admin_time_text((time_t)jnum(st, "started_at"), started,
	    sizeof(started));
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\">"
	    "<meta http-equiv=\"refresh\" content=\"%d\">"
	    "<meta name=\"viewport\" content=\"width=device-width\">"
	    "<title>limen status</title><style>%s</style></head><body>\n",
	    ADMIN_PAGE_REFRESH_S, page_css);
	fputs("<header><h1>limen</h1><span class=\"meta\">version ", f);
	page_esc(f, jstr(st, "version"));
	fputs(" &middot; up since ", f);
	page_esc(f, started);
	fputs(" &middot; configuration ", f);
	fprintf(f, "%.0f", jnum(json_object_get(st, "config"), "version"));
	fputs(" &middot; now ", f);
	page_time(f, jnum(st, "now"));
	fputs("</span></header>\n<main>\n<div class=\"tiles\">\n", f);
	page_tiles(f, st);
	fputs("</div>\n", f);
	page_pools(f, st);
	page_routes(f, st);
	page_certs(f, st);
	page_backups(f, st);
	page_listeners(f, st);
	page_reloads(f, st);
	fprintf(f, "</main>\n<footer>Refreshes every %d s. Machine-readable: "
	    "<a href=\"/api/v1/status\">/api/v1/status</a>, "
	    "<a href=\"/metrics\">/metrics</a>.</footer>\n</body></html>\n",
	    ADMIN_PAGE_REFRESH_S);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
