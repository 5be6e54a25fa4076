/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * acme.c — the ACME manager (see acme.h): names, timers, retries.
 *
 * Each managed name has one timer and at most one running order.  The
 * timer fires when the name needs work: an order (no certificate yet), a
 * renewal check (renew.c's time, or the next ARI poll), or a retry after
 * a failure (exponential backoff with jitter, or the CA's Retry-After if
 * longer).  A failed validation moves on to the next configured challenge
 * type at once; other failures wait.  A certificate already installed is
 * never touched by a failure: it keeps serving until a renewal works.
 */
#include "acme/acme.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "acme/acme_http.h"
#include "acme/challenge.h"
#include "acme/client.h"
#include "acme/renew.h"
#include "acme/store.h"
#include "common/log.h"
#include "conf/config.h"

#define DEFAULT_DIRECTORY "https://acme-v02.api.letsencrypt.org/directory"
#define DEFAULT_STATE_DIR "/var/lib/limen"
#define RETRY_BASE_MS	(60 * 1000)
#define RETRY_MAX_MS	(6 * 3600 * 1000)
/* When the CA did not answer at all (down, unreachable, not started yet),
 * retries start sooner: they cost the CA nothing and no rate limit
 * counts them, and the name is served by a stand-in meanwhile. */
#define RETRY_UNREACHABLE_BASE_MS (5 * 1000)
/* Names are started this far apart, so a start with many names does not
 * hit the CA all at once. */
#define STAGGER_MS	100

struct mname {
	TAILQ_ENTRY(mname) entry;
	struct acme_manager *m;
	char *name;
	bool have_cert;
	struct store_cert cert;
	struct client_order *order;
	struct event *timer;
	time_t next;
	unsigned attempts;
	unsigned failures;
	size_t chal_pref;
	bool gave_up;
	char *last_error;
};

struct acme_manager {
	struct event_base *base;
	struct evdns_base *dns;
	struct acme_hooks hooks;
	struct client_ctx ctx;
	struct challenge_store *tokens;
	char *ca_roots;
	TAILQ_HEAD(, mname) names;
	uint64_t retry_base_ms, retry_max_ms;
	unsigned max_attempts;
};

/* ---- which names ------------------------------------------------------- */

bool
acme_name_valid(const char *s)
{
	size_t n = strlen(s), label = 0, labels = 1;
	bool digits_only = true;

	if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			labels++;
			label = 0;
			digits_only = true;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-'))
			return false;
		if (c == '-' && label == 0)
			return false;
		if (!(c >= '0' && c <= '9'))
			digits_only = false;
		if (++label > 63)
			return false;
	}
	/* a numeric last label: an IPv4 address or not a public name */
	return labels >= 2 && s[n - 1] != '-' && !digits_only;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
acme_names(const struct config *cfg, char ***out)
{
	char **v = NULL, lower[256];
	size_t n = 0, cap = 0, w = 0;
	bool acme = false;

	*out = NULL;
	for (size_t i = 0; i < cfg->n_listeners; i++)
		if (cfg->listeners[i].tls.enabled && cfg->listeners[i].tls.acme)
			acme = true;
	if (!acme)
		return 0;
	for (size_t r = 0; r < cfg->n_routes; r++)
		for (size_t h = 0; h < cfg->routes[r].n_hosts; h++) {
			const char *host = cfg->routes[r].hosts[h];
			size_t len = strlen(host);

			if (len >= sizeof lower)
				continue;
			for (size_t k = 0; k <= len; k++)
				lower[k] = (char)tolower((unsigned char)host[k]);
			if (!acme_name_valid(lower))
				continue;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				char **nv = realloc(v, ncap * sizeof *v);
				if (nv == NULL)
					goto fail;
				v = nv;
				cap = ncap;
			}
			if ((v[n] = strdup(lower)) == NULL)
				goto fail;
			n++;
		}
	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, cmp_name);
	for (size_t i = 0; i < n; i++) {
		if (w > 0 && strcmp(v[w - 1], v[i]) == 0) {
			free(v[i]);
			continue;
		}
		v[w++] = v[i];
	}
	if (w > INT_MAX)
		goto fail;
	*out = v;
	return (int)w;
fail:
	acme_names_free(v, (int)n);
	return -1;
}

void
acme_names_free(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* ---- challenges, through the proxy's hooks -------------------------------- */

static int
publish(void *arg, enum acme_chal_type type, const char *name,
    const char *token, const char *keyauth)
{
	struct acme_manager *m = arg;
	char *cert = NULL, *key = NULL;
	int rc;

	switch (type) {
	case ACME_CHAL_HTTP01:
		if (challenge_store_set(m->tokens, token, keyauth) == -1)
			return -1;
		if (m->hooks.http01_set != NULL)
			m->hooks.http01_set(m->hooks.arg, token, keyauth);
		return 0;
	case ACME_CHAL_TLSALPN01:
		if (m->hooks.tlsalpn01_set == NULL ||
		    challenge_tlsalpn_cert(name, keyauth, &cert, &key) == -1)
			return -1;
		rc = m->hooks.tlsalpn01_set(m->hooks.arg, name, cert, key);
		OPENSSL_cleanse(key, strlen(key));
		free(key);
		free(cert);
		return rc;
	default:
		return -1;
	}
}

static void
unpublish(void *arg, enum acme_chal_type type, const char *name,
    const char *token)
{
	struct acme_manager *m = arg;

	switch (type) {
	case ACME_CHAL_HTTP01:
		challenge_store_clear(m->tokens, token);
		if (m->hooks.http01_clear != NULL)
			m->hooks.http01_clear(m->hooks.arg, token);
		break;
	case ACME_CHAL_TLSALPN01:
		if (m->hooks.tlsalpn01_clear != NULL)
			m->hooks.tlsalpn01_clear(m->hooks.arg, name);
		break;
	default:
		break;
	}
}

int
acme_manager_http01_lookup(struct acme_manager *m, const char *token,
    char *out, size_t outsize)
{
	return challenge_store_lookup(m->tokens, token, out, outsize);
}

/* ---- settings from the config ------------------------------------------ */

/*
 * Copy the ACME settings of cfg into ctx (fresh strings).  Challenge
 * types are the configured ones that can be answered: HTTP-01 needs a
 * plaintext listener, TLS-ALPN-01 the proxy's hook and a TLS listener.
 */
static int
settings_from(const struct config *cfg, const struct acme_hooks *hooks,
    struct client_ctx *ctx, char **ca_roots)
{
	const struct conf_acme *a = &cfg->acme;
	bool plain = false, tls = false;
	static const enum acme_chal_type def[] = { ACME_CHAL_HTTP01,
	    ACME_CHAL_TLSALPN01 };

	for (size_t i = 0; i < cfg->n_listeners; i++) {
		if (!cfg->listeners[i].tls.enabled)
			plain = true;
		else if (cfg->listeners[i].tls.acme)
			tls = true;
	}
	memset(ctx, 0, sizeof *ctx);
	*ca_roots = NULL;
	if ((ctx->directory_url = strdup(a->directory ? a->directory :
	    DEFAULT_DIRECTORY)) == NULL ||
	    (a->email && (ctx->email = strdup(a->email)) == NULL) ||
	    (a->profile && (ctx->profile = strdup(a->profile)) == NULL) ||
	    (ctx->state_dir = strdup(cfg->global.state_dir ?
	    cfg->global.state_dir : DEFAULT_STATE_DIR)) == NULL ||
	    (a->ca_roots && (*ca_roots = strdup(a->ca_roots)) == NULL)) {
		client_ctx_clear(ctx);
		free(*ca_roots);
		*ca_roots = NULL;
		return -1;
	}
	ctx->cert_key_type = a->key_type == KEY_RSA_2048 ? JWS_KEY_RSA_2048 :
	    JWS_KEY_EC_P256;
	ctx->renew_before_s = a->renew_before_ms / 1000;
	for (size_t i = 0; i < (a->n_challenges ? a->n_challenges : 2) &&
	    i < 2; i++) {
		enum acme_chal_type t;

		if (a->n_challenges)
			t = a->challenges[i] == ACME_CHALLENGE_TLSALPN01 ?
			    ACME_CHAL_TLSALPN01 : ACME_CHAL_HTTP01;
		else
			t = def[i];
		if ((t == ACME_CHAL_HTTP01 && plain) ||
		    (t == ACME_CHAL_TLSALPN01 && tls &&
		    hooks->tlsalpn01_set != NULL))
			ctx->challenges[ctx->n_challenges++] = t;
	}
	return 0;
}

/* ---- per-name scheduling ------------------------------------------------- */

static void name_wake(evutil_socket_t fd, short what, void *arg);

static void
name_report(struct mname *mn)
{
	struct acme_name_status st;

	if (mn->m->hooks.name_status == NULL)
		return;
	acme_manager_status(mn->m, mn->name, &st);
	mn->m->hooks.name_status(mn->m->hooks.arg, mn->name, &st);
}

static void
name_schedule_ms(struct mname *mn, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
	    (suseconds_t)(ms % 1000 * 1000) };

	mn->next = time(NULL) + (time_t)((ms + 999) / 1000);
	evtimer_add(mn->timer, &tv);
}

static void
name_schedule_at(struct mname *mn, time_t t)
{
	time_t now = time(NULL);

	name_schedule_ms(mn, t <= now ? 0 : (uint64_t)(t - now) * 1000);
}

static void
name_installed(struct mname *mn)
{
	struct acme_manager *m = mn->m;
	char cpath[PATH_MAX], kpath[PATH_MAX];

	if (store_cert_paths(m->ctx.state_dir, mn->name, cpath, sizeof cpath,
	    kpath, sizeof kpath) == 0)
		m->hooks.cert_installed(m->hooks.arg, mn->name, cpath, kpath);
}

/* When to look at a name that has a certificate again. */
static time_t
name_next_check(struct mname *mn)
{
	struct acme_manager *m = mn->m;
	struct renew_cert rc = { mn->cert.not_before, mn->cert.not_after,
	    mn->cert.obtained_at };
	time_t due = renew_due(&rc, NULL, m->ctx.renew_before_s,
	    renew_random()), poll;

	/* a CA with ARI may ask for an earlier renewal: ask it now and then */
	if (m->ctx.dir.renewal_info != NULL) {
		poll = time(NULL) + renew_ari_poll_s(-1);
		if (poll < due)
			due = poll;
	}
	return due;
}

static void
order_done(const struct client_result *res, void *arg)
{
	struct mname *mn = arg;
	struct acme_manager *m = mn->m;
	const char *err = NULL;
	char tb[32], tb2[32];
	uint64_t delay;
	int rc;

	mn->order = NULL;
	mn->attempts++;
	switch (res->outcome) {
	case CLIENT_INSTALLED:
		store_cert_free(&mn->cert);
		rc = store_cert_load(m->ctx.state_dir, mn->name, time(NULL),
		    &mn->cert, &err);
		if (rc != 1) {
			/* just written, yet unreadable: treat as a failure */
			mn->have_cert = false;
			free(mn->last_error);
			mn->last_error = strdup(err ? err : "stored certificate "
			    "unreadable");
			mn->failures++;
			log_warnx("acme: %s: %s", mn->name, mn->last_error);
			name_schedule_ms(mn, renew_backoff_ms(mn->failures,
			    m->retry_base_ms, m->retry_max_ms, renew_random()));
			break;
		}
		mn->have_cert = true;
		mn->failures = 0;
		mn->chal_pref = 0;
		free(mn->last_error);
		mn->last_error = NULL;
		log_info("acme: %s: certificate installed, valid until %s",
		    mn->name, renew_time_str(mn->cert.not_after, tb, sizeof tb));
		name_installed(mn);
		name_schedule_at(mn, name_next_check(mn));
		break;
	case CLIENT_NOT_DUE:
		mn->failures = 0;
		mn->chal_pref = 0;
		free(mn->last_error);
		mn->last_error = NULL;
		log_info("acme: %s: certificate valid until %s, not due; "
		    "next check %s", mn->name, renew_time_str(
		    mn->cert.not_after, tb, sizeof tb),
		    renew_time_str(res->next_check, tb2, sizeof tb2));
		name_schedule_at(mn, res->next_check);
		break;
	case CLIENT_FAILED:
		mn->failures++;
		free(mn->last_error);
		mn->last_error = strdup(res->error);
		if (m->max_attempts > 0 && mn->failures >= m->max_attempts) {
			mn->gave_up = true;
			mn->next = 0;
			log_warnx("acme: %s: %s; giving up after %u attempts%s",
			    mn->name, res->error, mn->failures, mn->have_cert ?
			    " (the current certificate stays)" : "");
			break;
		}
		if (res->authz_failed && mn->chal_pref + 1 <
		    m->ctx.n_challenges) {
			/* the CA could not reach us this way: the next
			 * configured challenge type, at once */
			mn->chal_pref++;
			log_warnx("acme: %s: %s; trying %s next", mn->name,
			    res->error, acme_json_chal_name(
			    m->ctx.challenges[mn->chal_pref]));
			name_schedule_ms(mn, 1000);
			break;
		}
		mn->chal_pref = 0;
		delay = renew_backoff_ms(mn->failures, res->unreachable &&
		    m->retry_base_ms > RETRY_UNREACHABLE_BASE_MS ?
		    RETRY_UNREACHABLE_BASE_MS : m->retry_base_ms,
		    m->retry_max_ms, renew_random());
		if (res->retry_after > 0 &&
		    (uint64_t)res->retry_after * 1000 > delay)
			delay = (uint64_t)res->retry_after * 1000;
		if (m->max_attempts > 0 && delay > m->retry_max_ms) {
			/* a bounded run (limen certs) does not wait hours
			 * for a rate limit */
			mn->gave_up = true;
			mn->next = 0;
			log_warnx("acme: %s: %s; the CA asks to wait %llu s, "
			    "giving up", mn->name, res->error,
			    (unsigned long long)(delay + 999) / 1000);
			break;
		}
		log_warnx("acme: %s: %s; retrying in %llu s (attempt %u)%s",
		    mn->name, res->error, (unsigned long long)(delay + 999) /
		    1000, mn->failures + 1, mn->have_cert ?
		    " (the current certificate stays)" : "");
		name_schedule_ms(mn, delay);
		break;
	}
	name_report(mn);
}

static void
name_wake(evutil_socket_t fd, short what, void *arg)
{
	struct mname *mn = arg;
	struct acme_manager *m = mn->m;
	struct client_params p = {
		.name = mn->name,
		.have_cert = mn->have_cert,
		.cert = { mn->cert.not_before, mn->cert.not_after,
		    mn->cert.obtained_at },
		.ari_id = mn->cert.ari_id,
		.first_challenge = mn->chal_pref,
		.rnd = renew_random(),
	};

	(void)fd;
	(void)what;
	mn->next = 0;
	if (mn->order != NULL)
		return;
	if (!mn->have_cert)
		log_info("acme: %s: ordering a certificate", mn->name);
	if ((mn->order = client_order_start(&m->ctx, &p, order_done,
	    mn)) == NULL) {
		log_warnx("acme: %s: cannot start an order: out of memory",
		    mn->name);
		name_schedule_ms(mn, m->retry_base_ms);
	}
}

static struct mname *
name_find(struct acme_manager *m, const char *name)
{
	struct mname *mn;

	TAILQ_FOREACH(mn, &m->names, entry)
		if (strcmp(mn->name, name) == 0)
			return mn;
	return NULL;
}

static void
name_free(struct mname *mn)
{
	TAILQ_REMOVE(&mn->m->names, mn, entry);
	client_order_cancel(mn->order);
	if (mn->timer != NULL)
		event_free(mn->timer);
	store_cert_free(&mn->cert);
	free(mn->last_error);
	free(mn->name);
	free(mn);
}

/* Start managing name: load what is stored, install it, schedule. */
static int
name_add(struct acme_manager *m, const char *name, unsigned k)
{
	struct mname *mn = calloc(1, sizeof *mn);
	const char *err = NULL;
	char tb[32];
	int rc;

	if (mn == NULL || (mn->name = strdup(name)) == NULL ||
	    (mn->timer = evtimer_new(m->base, name_wake, mn)) == NULL) {
		if (mn != NULL)
			free(mn->name);
		free(mn);
		return -1;
	}
	mn->m = m;
	TAILQ_INSERT_TAIL(&m->names, mn, entry);
	rc = store_cert_load(m->ctx.state_dir, name, time(NULL), &mn->cert,
	    &err);
	if (rc == 1) {
		mn->have_cert = true;
		log_info("acme: %s: stored certificate valid until %s",
		    name, renew_time_str(mn->cert.not_after, tb, sizeof tb));
		name_installed(mn);
	} else if (err != NULL) {
		log_warnx("acme: %s: stored certificate not used: %s", name,
		    err);
	}
	/* checks of stored certificates and first orders alike start now,
	 * a little apart */
	name_schedule_ms(mn, (uint64_t)k * STAGGER_MS);
	return 0;
}

/* ---- the manager --------------------------------------------------------- */

static int
names_sync(struct acme_manager *m, const struct config *cfg)
{
	char **names;
	int n = acme_names(cfg, &names);
	struct mname *mn, *tmp;
	unsigned k = 0;

	if (n == -1)
		return -1;
	for (mn = TAILQ_FIRST(&m->names); mn != NULL; mn = tmp) {
		bool keep = false;

		tmp = TAILQ_NEXT(mn, entry);
		for (int i = 0; i < n && !keep; i++)
			keep = strcmp(names[i], mn->name) == 0;
		if (!keep) {
			log_info("acme: %s: no longer configured; not renewed",
			    mn->name);
			name_free(mn);
		}
	}
	for (int i = 0; i < n; i++)
		if (name_find(m, names[i]) == NULL &&
		    name_add(m, names[i], k++) == -1) {
			acme_names_free(names, n);
			return -1;
		}
	acme_names_free(names, n);
	return 0;
}

struct acme_manager *
acme_manager_new(struct event_base *base, struct evdns_base *dns,
    const struct config *cfg, const struct acme_hooks *hooks)
{
	struct acme_manager *m = calloc(1, sizeof *m);
	const char *err = NULL;
	bool created;

	if (m == NULL) {
		log_warnx("acme: out of memory");
		return NULL;
	}
	m->base = base;
	m->dns = dns;
	m->hooks = *hooks;
	m->retry_base_ms = RETRY_BASE_MS;
	m->retry_max_ms = RETRY_MAX_MS;
	TAILQ_INIT(&m->names);
	if (settings_from(cfg, hooks, &m->ctx, &m->ca_roots) == -1 ||
	    (m->tokens = challenge_store_new()) == NULL) {
		log_warnx("acme: out of memory");
		goto fail;
	}
	if (m->ctx.n_challenges == 0) {
		log_warnx("acme: no way to answer a challenge: HTTP-01 needs a "
		    "listener without tls, TLS-ALPN-01 a listener with "
		    "tls.acme");
		goto fail;
	}
	m->ctx.base = base;
	m->ctx.publish = publish;
	m->ctx.unpublish = unpublish;
	m->ctx.publish_arg = m;
	if ((m->ctx.http = acme_http_new(base, dns, m->ca_roots, &err)) ==
	    NULL) {
		log_warnx("acme: %s", err);
		goto fail;
	}
	/* the account key is always ES256 (SPEC §4); key_type is for
	 * certificates */
	m->ctx.account_key = store_account_key(m->ctx.state_dir,
	    JWS_KEY_EC_P256, &created, &err);
	if (m->ctx.account_key == NULL) {
		log_warnx("acme: account key: %s", err);
		goto fail;
	}
	if (created)
		log_info("acme: created a new account key in %s/acme",
		    m->ctx.state_dir);
	if (names_sync(m, cfg) == -1) {
		log_warnx("acme: out of memory");
		goto fail;
	}
	return m;
fail:
	acme_manager_free(m);
	return NULL;
}

void
acme_manager_free(struct acme_manager *m)
{
	struct mname *mn;

	if (m == NULL)
		return;
	while ((mn = TAILQ_FIRST(&m->names)) != NULL)
		name_free(mn);
	acme_http_free(m->ctx.http);
	client_ctx_clear(&m->ctx);
	challenge_store_free(m->tokens);
	free(m->ca_roots);
	free(m);
}

static bool
str_eq(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

int
acme_manager_update_config(struct acme_manager *m, const struct config *cfg)
{
	struct client_ctx nc;
	struct acme_http *http = NULL;
	char *roots, **names;
	int n = -1;
	const char *err;
	struct mname *mn;
	bool restart;

	if (settings_from(cfg, &m->hooks, &nc, &roots) == -1) {
		log_warnx("acme: reload: out of memory");
		return -1;
	}
	if (nc.n_challenges == 0 &&
	    (n = acme_names(cfg, &names)) > 0)
		acme_names_free(names, n);
	if (nc.n_challenges == 0 && n == 0) {
		/* ACME is off in the new configuration: nothing to renew */
		client_ctx_clear(&nc);
		free(roots);
		return names_sync(m, cfg);
	}
	if (nc.n_challenges == 0) {
		log_warnx("acme: reload: no way to answer a challenge; keeping "
		    "the previous ACME settings");
		client_ctx_clear(&nc);
		free(roots);
		return -1;
	}
	restart = !str_eq(nc.directory_url, m->ctx.directory_url) ||
	    !str_eq(roots, m->ca_roots) ||
	    !str_eq(nc.state_dir, m->ctx.state_dir);
	if (restart && (http = acme_http_new(m->base, m->dns, roots,
	    &err)) == NULL) {
		log_warnx("acme: reload: %s; keeping the previous ACME settings",
		    err);
		client_ctx_clear(&nc);
		free(roots);
		return -1;
	}
	if (restart) {
		/* running orders belong to the old CA: stop them, and start
		 * every name again from its stored state */
		TAILQ_FOREACH(mn, &m->names, entry) {
			client_order_cancel(mn->order);
			mn->order = NULL;
		}
		acme_http_free(m->ctx.http);
		m->ctx.http = http;
		client_ctx_reset(&m->ctx);
		free(m->ca_roots);
		m->ca_roots = roots;
		roots = NULL;
		free(m->ctx.directory_url);
		m->ctx.directory_url = nc.directory_url;
		nc.directory_url = NULL;
		if (!str_eq(nc.state_dir, m->ctx.state_dir)) {
			free(m->ctx.state_dir);
			m->ctx.state_dir = nc.state_dir;
			nc.state_dir = NULL;
		}
	}
	free(m->ctx.email);
	m->ctx.email = nc.email;
	nc.email = NULL;
	free(m->ctx.profile);
	m->ctx.profile = nc.profile;
	nc.profile = NULL;
	m->ctx.cert_key_type = nc.cert_key_type;
	m->ctx.renew_before_s = nc.renew_before_s;
	memcpy(m->ctx.challenges, nc.challenges, sizeof nc.challenges);
	m->ctx.n_challenges = nc.n_challenges;
	client_ctx_clear(&nc);
	free(roots);
	if (restart) {
		/* names are reloaded from the (maybe new) state_dir */
		while ((mn = TAILQ_FIRST(&m->names)) != NULL)
			name_free(mn);
	}
	TAILQ_FOREACH(mn, &m->names, entry)
		if (mn->chal_pref >= m->ctx.n_challenges)
			mn->chal_pref = 0;
	if (names_sync(m, cfg) == -1) {
		log_warnx("acme: reload: out of memory");
		return -1;
	}
	return 0;
}

int
acme_manager_status(struct acme_manager *m, const char *name,
    struct acme_name_status *st)
{
	struct mname *mn = name_find(m, name);

	memset(st, 0, sizeof *st);
	if (mn == NULL)
		return -1;
	st->has_cert = mn->have_cert;
	st->not_after = mn->have_cert ? mn->cert.not_after : 0;
	st->busy = mn->order != NULL;
	st->attempts = mn->attempts;
	st->failures = mn->failures;
	st->gave_up = mn->gave_up;
	st->next_attempt = mn->next;
	st->last_error = mn->last_error;
	return 0;
}

void
acme_manager_set_retry(struct acme_manager *m, uint64_t base_ms,
    uint64_t max_ms, unsigned max_attempts)
{
	m->retry_base_ms = base_ms;
	m->retry_max_ms = max_ms;
	m->max_attempts = max_attempts;
}
