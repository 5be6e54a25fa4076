/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * waf.c — libmodsecurity transactions for the gateway checks (see waf.h).
 *
 * The rule text handed to libmodsecurity is limen's preamble followed by
 * Include lines.  libmodsecurity 3.0 has no IncludeOptional, which
 * Debian's owasp-crs.load uses, so that file is read here and its
 * optional includes resolved with glob(3) first.
 *
 * ModSecurity reports each matching rule through the log callback (with
 * the transaction as its data pointer) and a disruptive action through
 * msc_intervention().  The CRS works in anomaly-scoring mode: attack
 * rules (941xxx XSS, 942xxx SQLi, ...) only add to a score and rule
 * 949110 denies at the end of phase 2, so the log line names the first
 * attack rule, which says what was found, and the intervention, which
 * says why it was blocked.
 */
#include <ctype.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <modsecurity/intervention.h>
#include <modsecurity/modsecurity.h>
#include <modsecurity/rules_set.h>
#include <modsecurity/transaction.h>

#include "common/log.h"
#include "conf/diag.h"
#include "proxy/waf.h"

#define WAF_LOAD_FILE_MAX (64 * 1024)	/* owasp-crs.load */
#define WAF_ID_MAX 64

struct waf_rules {
	ModSecurity *msc;
	RulesSet *rules;
	int n_rules;
};

enum waf_state { TX_HEAD, TX_BODY, TX_DONE };

struct waf_tx {
	Transaction *t;
	enum conf_waf_mode mode;
	enum waf_state state;
	size_t fed;
	int status;
	bool flagged;			/* some rule matched */
	bool reported;			/* the intervention was logged */
	unsigned rule_id;
	char rule_msg[WAF_MSG_MAX];
	char request_id[WAF_ID_MAX];
};

/*
 * The engine settings (after ModSecurity's modsecurity.conf-recommended):
 * the body parsers by Content-Type, and a 400 for a body that fitted the
 * limit but could not be parsed (a body parser evasion otherwise).  A
 * body cut at the limit (INBOUND_DATA_ERROR) is inspected as far as it
 * goes without that 400.
 */
#define STR(x) #x
#define XSTR(x) STR(x)
static const char waf_preamble[] =
    "SecRuleEngine On\n"
    "SecRequestBodyAccess On\n"
    "SecRequestBodyLimit " XSTR(WAF_BODY_MAX) "\n"
    "SecRequestBodyNoFilesLimit " XSTR(WAF_BODY_MAX) "\n"
    "SecRequestBodyLimitAction ProcessPartial\n"
    "SecResponseBodyAccess Off\n"
    "SecAuditEngine Off\n"
    "SecArgumentSeparator &\n"
    "SecCookieFormat 0\n"
    "SecRule REQUEST_HEADERS:Content-Type \"(?:application(?:/soap\\+|/)|"
    "text/)xml\" \"id:200000,phase:1,t:none,t:lowercase,pass,nolog,"
    "ctl:requestBodyProcessor=XML\"\n"
    "SecRule REQUEST_HEADERS:Content-Type \"application/json\" "
    "\"id:200001,phase:1,t:none,t:lowercase,pass,nolog,"
    "ctl:requestBodyProcessor=JSON\"\n"
    "SecRule REQBODY_ERROR \"!@eq 0\" \"id:200002,phase:2,t:none,log,"
    "deny,status:400,msg:'Failed to parse request body',severity:2,"
    "chain\"\n"
    "  SecRule INBOUND_DATA_ERROR \"@eq 0\" \"t:none\"\n";

/* ---- loading ----------------------------------------------------------- */

struct waf_text {
	char *s;
	size_t len, cap;
	bool oom;
};

static void text_add(struct waf_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
text_add(struct waf_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);

	if (t->oom || n < 0)
		return;
	if (t->len + (size_t)n + 1 > t->cap) {
		size_t ncap = (t->len + (size_t)n + 1) * 2;
		char *ns = realloc(t->s, ncap);

		if (ns == NULL) {
			t->oom = true;
			return;
		}
		t->s = ns;
		t->cap = ncap;
	}
	va_start(ap, fmt);
	vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

static bool
is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool
glob_matches(const char *pattern)
{
	glob_t g;
	bool any;

	any = glob(pattern, GLOB_NOSORT, NULL, &g) == 0 && g.gl_pathc > 0;
	globfree(&g);
	return any;
}

/* Translate Debian's owasp-crs.load (Include / IncludeOptional lines). */
static int
text_from_load_file(struct waf_text *t, const char *load, struct diag *d)
{
	char *buf = malloc(WAF_LOAD_FILE_MAX + 1), *line, *save = NULL;
	FILE *f = fopen(load, "r");
	size_t n;
	int rc = -1;

	if (buf == NULL || f == NULL) {
		diag_error(d, load, 0, 0, "cannot read the rule loader");
		goto done;
	}
	n = fread(buf, 1, WAF_LOAD_FILE_MAX + 1, f);
	if (n > WAF_LOAD_FILE_MAX) {
		diag_error(d, load, 0, 0, "rule loader too large");
		goto done;
	}
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *p = line, *arg, *end;
		bool optional;

		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		if (strncmp(p, "IncludeOptional", 15) == 0 &&
		    isspace((unsigned char)p[15])) {
			optional = true;
			arg = p + 15;
		} else if (strncmp(p, "Include", 7) == 0 &&
		    isspace((unsigned char)p[7])) {
			optional = false;
			arg = p + 7;
		} else {
			text_add(t, "%s\n", p);
			continue;
		}
		while (isspace((unsigned char)*arg))
			arg++;
		end = arg + strlen(arg);
		while (end > arg && isspace((unsigned char)end[-1]))
			*--end = '\0';
		if (*arg == '"' && end > arg + 1 && end[-1] == '"') {
			end[-1] = '\0';
			arg++;
		}
		if (optional && !glob_matches(arg))
			continue;
		text_add(t, "Include %s\n", arg);
	}
	rc = 0;
done:
	if (f != NULL)
		fclose(f);
	free(buf);
	return rc;
}

static int
rules_text(struct waf_text *t, const char *path, struct diag *d)
{
	char p[4096];

	text_add(t, "%s", waf_preamble);
	/* libmodsecurity takes Include arguments verbatim: no quoting */
	if (strpbrk(path, " \t\n\"'") != NULL) {
		diag_error(d, path, 0, 0, "waf rules: the path must not "
		    "contain spaces or quotes");
		return -1;
	}
	if (is_file(path)) {
		text_add(t, "Include %s\n", path);
		return 0;
	}
	if (!is_dir(path)) {
		diag_error(d, path, 0, 0, "waf rules: no such file or "
		    "directory");
		return -1;
	}
	snprintf(p, sizeof p, "%s/owasp-crs.load", path);
	if (is_file(p))
		return text_from_load_file(t, p, d);
	snprintf(p, sizeof p, "%s/crs-setup.conf", path);
	if (is_file(p)) {
		text_add(t, "Include %s\n", p);
		snprintf(p, sizeof p, "%s/rules/*.conf", path);
		if (glob_matches(p))
			text_add(t, "Include %s\n", p);
		return 0;
	}
	snprintf(p, sizeof p, "%s/*.conf", path);
	if (!glob_matches(p)) {
		diag_error(d, path, 0, 0, "waf rules: no *.conf files in the "
		    "directory");
		return -1;
	}
	text_add(t, "Include %s\n", p);
	return 0;
}

static void waf_log_cb(void *data, const void *msg);

struct waf_rules *
waf_rules_load(const char *path, struct diag *d)
{
	struct waf_text t = { 0 };
	struct waf_rules *r = calloc(1, sizeof *r);
	const char *err = NULL;

	if (r == NULL) {
		diag_error(d, path, 0, 0, "out of memory");
		return NULL;
	}
	if (rules_text(&t, path, d) == -1)
		goto fail;
	if (t.oom) {
		diag_error(d, path, 0, 0, "out of memory");
		goto fail;
	}
	if ((r->msc = msc_init()) == NULL ||
	    (r->rules = msc_create_rules_set()) == NULL) {
		diag_error(d, path, 0, 0, "cannot start libmodsecurity");
		goto fail;
	}
	msc_set_connector_info(r->msc, "limen");
	msc_set_log_cb(r->msc, waf_log_cb);
	r->n_rules = msc_rules_add(r->rules, t.s, &err);
	if (r->n_rules < 0) {
		diag_error(d, path, 0, 0, "waf rules: %s",
		    err ? err : "cannot load");
		free((void *)err);
		goto fail;
	}
	free(t.s);
	return r;
fail:
	free(t.s);
	waf_rules_free(r);
	return NULL;
}

void
waf_rules_free(struct waf_rules *r)
{
	if (r == NULL)
		return;
	if (r->rules != NULL)
		msc_rules_cleanup(r->rules);
	if (r->msc != NULL)
		msc_cleanup(r->msc);
	free(r);
}

int
waf_rules_count(const struct waf_rules *r)
{
	return r->n_rules;
}

/* ---- transactions ------------------------------------------------------ */

/* Copy the value of `[key "..."]` from a ModSecurity message, printable
 * ASCII only. */
static bool
msg_field(const char *m, const char *key, char *out, size_t cap)
{
	char pat[16];
	const char *p, *e;
	size_t k = 0;

	snprintf(pat, sizeof pat, "[%s \"", key);
	if ((p = strstr(m, pat)) == NULL)
		return false;
	p += strlen(pat);
	if ((e = strstr(p, "\"]")) == NULL)
		return false;
	for (; p < e && k + 1 < cap; p++)
		out[k++] = *p >= 0x20 && *p < 0x7f ? *p : '?';
	out[k] = '\0';
	return true;
}

/* Rules that score or correlate rather than detect. */
static bool
is_evaluation_rule(unsigned id)
{
	return (id >= 949000 && id < 950000) || (id >= 959000 && id < 960000) ||
	    (id >= 980000 && id < 981000);
}

static void
waf_log_cb(void *data, const void *msg)
{
	struct waf_tx *tx = data;
	char id[16], text[WAF_MSG_MAX];
	unsigned long n;

	if (tx == NULL || msg == NULL)
		return;
	tx->flagged = true;
	if (tx->rule_id != 0 || !msg_field(msg, "id", id, sizeof id))
		return;
	n = strtoul(id, NULL, 10);
	if (n == 0 || n > 0xffffffffu || is_evaluation_rule((unsigned)n))
		return;
	tx->rule_id = (unsigned)n;
	if (!msg_field(msg, "msg", text, sizeof text))
		text[0] = '\0';
	memcpy(tx->rule_msg, text, sizeof text);
}

struct waf_tx *
waf_tx_new(const struct waf_rules *r, enum conf_waf_mode mode,
    const char *request_id)
{
	struct waf_tx *tx = calloc(1, sizeof *tx);

	if (tx == NULL)
		return NULL;
	tx->mode = mode;
	tx->status = 403;
	snprintf(tx->request_id, sizeof tx->request_id, "%s",
	    request_id ? request_id : "-");
	tx->t = msc_new_transaction(r->msc, r->rules, tx);
	if (tx->t == NULL) {
		free(tx);
		return NULL;
	}
	return tx;
}

void
waf_tx_free(struct waf_tx *tx)
{
	if (tx == NULL)
		return;
	msc_process_logging(tx->t);
	msc_transaction_cleanup(tx->t);
	free(tx);
}

int
waf_tx_connection(struct waf_tx *tx, const char *client_ip, int client_port,
    const char *server_ip, int server_port)
{
	return msc_process_connection(tx->t, client_ip, client_port,
	    server_ip, server_port) ? 0 : -1;
}

int
waf_tx_request_line(struct waf_tx *tx, const char *method, size_t method_len,
    const char *target, size_t target_len, const char *version)
{
	char *m = strndup(method, method_len), *u = strndup(target, target_len);
	int rc = -1;

	if (m != NULL && u != NULL)
		rc = msc_process_uri(tx->t, u, m, version) ? 0 : -1;
	free(m);
	free(u);
	return rc;
}

int
waf_tx_header(struct waf_tx *tx, const char *name, size_t name_len,
    const char *value, size_t value_len)
{
	return msc_add_n_request_header(tx->t, (const unsigned char *)name,
	    name_len, (const unsigned char *)value, value_len) ? 0 : -1;
}

/* Read the intervention, if any; log it; the verdict for the mode. */
static enum waf_verdict
tx_verdict(struct waf_tx *tx, const char *phase)
{
	ModSecurityIntervention it = { 200, 0, NULL, NULL, 0 };
	char why[WAF_MSG_MAX] = "";
	bool block;

	if (msc_intervention(tx->t, &it) == 0 || !it.disruptive) {
		free(it.log);
		free(it.url);
		return WAF_PASS;
	}
	if (it.status >= 400 && it.status <= 599)
		tx->status = it.status;
	if (it.log == NULL || !msg_field(it.log, "msg", why, sizeof why))
		snprintf(why, sizeof why, "%s", "denied by a rule");
	/* a rule that denies by itself is only named by the intervention */
	if (tx->rule_id == 0 && it.log != NULL) {
		char id[16];
		unsigned long n;

		if (msg_field(it.log, "id", id, sizeof id) &&
		    (n = strtoul(id, NULL, 10)) > 0 && n <= 0xffffffffu &&
		    !is_evaluation_rule((unsigned)n)) {
			tx->rule_id = (unsigned)n;
			memcpy(tx->rule_msg, why, sizeof why);
		}
	}
	free(it.log);
	free(it.url);
	block = tx->mode == WAF_BLOCK;
	if (!tx->reported) {
		log_warnx("waf: request %s %s in %s: rule %u \"%s\"; %s",
		    tx->request_id, block ? "blocked" : "flagged (detect mode)",
		    phase, tx->rule_id, tx->rule_msg, why);
		tx->reported = true;
	}
	if (block) {
		tx->state = TX_DONE;
		return WAF_DENY;
	}
	return WAF_PASS;
}

enum waf_verdict
waf_tx_headers_done(struct waf_tx *tx)
{
	if (tx->state != TX_HEAD)
		return tx->state == TX_DONE && tx->mode == WAF_BLOCK &&
		    tx->reported ? WAF_DENY : WAF_PASS;
	msc_process_request_headers(tx->t);
	tx->state = TX_BODY;
	return tx_verdict(tx, "phase 1");
}

size_t
waf_tx_body_wanted(const struct waf_tx *tx)
{
	if (tx->state != TX_BODY || tx->fed > WAF_BODY_MAX)
		return 0;
	return WAF_BODY_MAX + 1 - tx->fed;
}

int
waf_tx_body(struct waf_tx *tx, const void *data, size_t len)
{
	size_t want = waf_tx_body_wanted(tx);

	if (len > want)
		len = want;
	if (len == 0)
		return 0;
	tx->fed += len;
	/* returns 0 once the body passes the limit: that is expected */
	(void)msc_append_request_body(tx->t, data, len);
	return 0;
}

enum waf_verdict
waf_tx_body_done(struct waf_tx *tx)
{
	enum waf_verdict v;

	if (tx->state == TX_HEAD && waf_tx_headers_done(tx) == WAF_DENY)
		return WAF_DENY;
	if (tx->state != TX_BODY)
		return tx->state == TX_DONE && tx->mode == WAF_BLOCK &&
		    tx->reported ? WAF_DENY : WAF_PASS;
	msc_process_request_body(tx->t);
	v = tx_verdict(tx, "phase 2");
	tx->state = TX_DONE;
	if (v == WAF_PASS && tx->flagged && !tx->reported)
		log_debug("waf: request %s: rule %u \"%s\" matched, below "
		    "the blocking threshold", tx->request_id, tx->rule_id,
		    tx->rule_msg);
	return v;
}

int
waf_tx_status(const struct waf_tx *tx)
{
	return tx->status;
}

bool
waf_tx_flagged(const struct waf_tx *tx)
{
	return tx->flagged;
}

unsigned
waf_tx_rule_id(const struct waf_tx *tx)
{
	return tx->rule_id;
}

const char *
waf_tx_rule_msg(const struct waf_tx *tx)
{
	return tx->rule_msg;
}
