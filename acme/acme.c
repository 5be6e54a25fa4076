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
 *
 * With `acme.storage: { postgres: ... }` (pgstore.h) a name's order also
 * needs the name's advisory lock: name_wake asks for it first, and only
 * the instance that gets it orders (or checks for renewal); the others
 * retry later and meanwhile install what the lock holder saves, which
 * the store reports as it appears.  The local files stay as a cache, so
 * a restart while PostgreSQL is down still serves.
 */
#include "acme/acme.h"

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "acme/acme_http.h"
#include "acme/challenge.h"
#include "acme/client.h"
#include "acme/pgstore.h"
#include "acme/renew.h"
#include "acme/store.h"
#include "common/fsutil.h"
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
/* Shared storage: another instance holds a name's lock, or the store
 * could not be asked; look again after this (plus jitter). */
#define PG_BUSY_RETRY_MS	(5 * 1000)
#define PG_FAILED_RETRY_MS	(10 * 1000)

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
	/* where in a renewal window (lifetime rule or ARI) this name
	 * renews: drawn once, so that the timer and the order agree on the
	 * moment instead of each drawing its own */
	double rnd;
	bool gave_up;
	char *last_error;
	/* shared storage (pgstore.h) */
	int64_t pg_rev;		/* row last installed or saved; 0 = none */
	bool pg_locking;	/* waiting for the answer to a lock request */
	bool pg_locked;		/* we hold the name's lock: an order runs */
	bool pg_waiting;	/* due, waiting for the store to be up */
	bool pg_dirty;		/* obtained but not saved to the store yet */
	bool pg_busy;		/* another instance held the lock last time */
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
	/* shared storage, when configured */
	struct pgstore *pg;
	bool pg_ready;		/* connected, account known */
	char *pg_conninfo;	/* what pg was made with (reloads) */
	char *pg_secret;
	char *pg_kid;		/* account URL last saved to the store */
	char *pg_down;		/* why the store is unreachable, or NULL */
	/* stateless HTTP-01 for the shared account (any thread reads) */
	pthread_mutex_t thumb_mu;
	char thumb[JWS_THUMBPRINT_LEN + 1];	/* "" = off */
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

/*
 * With shared storage, every instance answers HTTP-01 for the shared
 * account, whichever instance ordered: the key authorization is the token
 * "." the account key's thumbprint (RFC 8555 §8.1), which only ever
 * proves control to this account (the "stateless" mode of acme.sh).  The
 * CA's request may reach any instance behind a load balancer.
 */
static int
http01_stateless(struct acme_manager *m, const char *token, char *out,
    size_t outsize)
{
	size_t n = strlen(token);
	int rc = -1;

	if (n < 16 || n > 256)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)token[i]) && token[i] != '-' &&
		    token[i] != '_')
			return -1;
	pthread_mutex_lock(&m->thumb_mu);
	if (m->thumb[0] != '\0' && n + 1 + strlen(m->thumb) < outsize)
		rc = snprintf(out, outsize, "%s.%s", token, m->thumb);
	pthread_mutex_unlock(&m->thumb_mu);
	return rc;
}

int
acme_manager_http01_lookup(struct acme_manager *m, const char *token,
    char *out, size_t outsize)
{
	int n = challenge_store_lookup(m->tokens, token, out, outsize);

	return n >= 0 ? n : http01_stateless(m, token, out, outsize);
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
static bool pg_gate(struct mname *mn);
static void pg_after_order(struct mname *mn, enum client_outcome outcome);

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
	time_t due = renew_due(&rc, NULL, m->ctx.renew_before_s, mn->rnd),
	    poll;

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

	bool pg_locked = mn->pg_locked;

	mn->order = NULL;
	mn->pg_locked = false;
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
	if (pg_locked)
		pg_after_order(mn, res->outcome);
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
		.rnd = mn->rnd,
	};

	(void)fd;
	(void)what;
	mn->next = 0;
	if (mn->order != NULL || !pg_gate(mn))
		return;
	if (!mn->have_cert)
		log_info("acme: %s: ordering a certificate", mn->name);
	if ((mn->order = client_order_start(&m->ctx, &p, order_done,
	    mn)) == NULL) {
		log_warnx("acme: %s: cannot start an order: out of memory",
		    mn->name);
		name_schedule_ms(mn, m->retry_base_ms);
		if (mn->pg_locked) {
			mn->pg_locked = false;
			pgstore_unlock(m->pg, mn->name);
		}
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
	/* a lock still being asked for is released when its answer finds
	 * no name */
	if (mn->pg_locked && mn->m->pg != NULL)
		pgstore_unlock(mn->m->pg, mn->name);
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
	mn->rnd = renew_random();
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

/* ---- shared storage (pgstore.h) ------------------------------------------- */

static uint64_t
pg_jitter(uint64_t ms)
{
	return ms + (uint64_t)(renew_random() * (double)ms / 3);
}

/*
 * A bounded run (limen certs) counts an unreachable store as a failed
 * attempt, so it ends; `limen run` just waits for the store.  (Waiting
 * for a lock, or installing another instance's certificate, is not an
 * attempt: name_status is not called for them.)
 */
static void
pg_fail_attempt(struct mname *mn, const char *why)
{
	struct acme_manager *m = mn->m;

	mn->attempts++;
	mn->failures++;
	free(mn->last_error);
	if ((mn->last_error = malloc(strlen(why) + 32)) != NULL)
		sprintf(mn->last_error, "shared store: %s", why);
	if (mn->failures >= m->max_attempts) {
		mn->gave_up = true;
		mn->next = 0;
		log_warnx("acme: %s: shared store: %s; giving up after %u "
		    "attempts", mn->name, why, mn->failures);
	} else {
		name_schedule_ms(mn, renew_backoff_ms(mn->failures,
		    m->retry_base_ms, m->retry_max_ms, renew_random()));
	}
	name_report(mn);
}

/*
 * May name_wake order now?  Without shared storage, yes.  With it, only
 * while holding the name's lock: ask for it (the answer, PGSTORE_LOCKED,
 * calls name_wake again) and wait.
 */
static bool
pg_gate(struct mname *mn)
{
	struct acme_manager *m = mn->m;

	if (m->pg == NULL || mn->pg_locked)
		return true;
	if (mn->pg_locking)
		return false;
	if (!m->pg_ready) {
		if (m->max_attempts > 0 && m->pg_down != NULL)
			pg_fail_attempt(mn, m->pg_down);
		else
			mn->pg_waiting = true;
		return false;
	}
	mn->pg_locking = true;
	pgstore_lock(m->pg, mn->name, m->ctx.kid == NULL);
	return false;
}

/*
 * A certificate from the store (saved by another instance, or found under
 * the lock): checked, written to the local cache, installed.  1 if
 * installed, 0 if ours lasts as long (kept), -1 if not usable.
 */
static int
pg_adopt(struct mname *mn, const char *cert_pem, const char *key_pem,
    int64_t rev)
{
	struct acme_manager *m = mn->m;
	struct store_cert info, cur;
	EVP_PKEY *key;
	char *clean = NULL, tb[32];
	const char *err = NULL;
	int rc = -1;

	mn->pg_rev = rev;
	memset(&info, 0, sizeof info);
	if ((key = jws_key_from_pem(key_pem, strlen(key_pem))) == NULL) {
		log_warnx("acme: %s: shared store: its private key is not "
		    "usable", mn->name);
		return -1;
	}
	if (store_cert_check(cert_pem, strlen(cert_pem), mn->name, key,
	    time(NULL), &clean, &info, &err) == -1) {
		log_warnx("acme: %s: shared store: certificate not used: %s",
		    mn->name, err);
		goto done;
	}
	rc = 0;
	if (mn->have_cert && info.not_after <= mn->cert.not_after)
		goto done;
	if (store_cert_save(m->ctx.state_dir, mn->name, clean, strlen(clean),
	    key_pem, strlen(key_pem), &err) == -1 ||
	    store_cert_load(m->ctx.state_dir, mn->name, time(NULL), &cur,
	    &err) != 1) {
		log_warnx("acme: %s: shared store: cannot keep a local copy: "
		    "%s", mn->name, err ? err : "unreadable");
		rc = -1;
		goto done;
	}
	store_cert_free(&mn->cert);
	mn->cert = cur;
	mn->have_cert = true;
	mn->pg_busy = false;
	mn->failures = 0;
	mn->gave_up = false;
	free(mn->last_error);
	mn->last_error = NULL;
	log_info("acme: %s: certificate from the shared store installed, "
	    "valid until %s", mn->name, renew_time_str(mn->cert.not_after, tb,
	    sizeof tb));
	name_installed(mn);
	rc = 1;
done:
	store_cert_free(&info);
	free(clean);
	EVP_PKEY_free(key);
	return rc;
}

/* Save the local pair of a name to the store (which then releases the
 * name's lock).  0, or -1 if the local files cannot be read. */
static int
pg_save(struct mname *mn)
{
	struct acme_manager *m = mn->m;
	char cpath[PATH_MAX], kpath[PATH_MAX], *cert = NULL, *key = NULL;
	size_t clen, klen = 0;
	int rc = -1;

	if (store_cert_paths(m->ctx.state_dir, mn->name, cpath, sizeof cpath,
	    kpath, sizeof kpath) == -1 ||
	    fsutil_read_file(cpath, 1024 * 1024, &cert, &clen) == -1 ||
	    fsutil_read_secret(kpath, 64 * 1024, 0, &key, &klen) == -1) {
		log_warnx("acme: %s: cannot read the local copy to save it to "
		    "the shared store", mn->name);
		goto done;
	}
	pgstore_save(m->pg, mn->name, cert, key, mn->cert.not_after);
	mn->pg_dirty = false;
	rc = 0;
done:
	free(cert);
	if (key != NULL) {
		OPENSSL_cleanse(key, klen);
		free(key);
	}
	return rc;
}

static void
pg_save_account_url(struct acme_manager *m)
{
	char *kid;

	if (m->ctx.kid == NULL || (m->pg_kid != NULL &&
	    strcmp(m->pg_kid, m->ctx.kid) == 0) ||
	    (kid = strdup(m->ctx.kid)) == NULL)
		return;
	free(m->pg_kid);
	m->pg_kid = kid;
	pgstore_set_account_url(m->pg, kid);
}

/* An order (or renewal check) made under the lock has ended. */
static void
pg_after_order(struct mname *mn, enum client_outcome outcome)
{
	struct acme_manager *m = mn->m;

	if (m->pg == NULL)
		return;
	pg_save_account_url(m);
	/* a new certificate, or one from before the store had this name
	 * (moving from local storage): share it; the save unlocks */
	if (mn->have_cert && (outcome == CLIENT_INSTALLED ||
	    (outcome == CLIENT_NOT_DUE && mn->pg_rev == 0)) &&
	    pg_save(mn) == 0)
		return;
	pgstore_unlock(m->pg, mn->name);
}

/* The store's account for this directory replaces ours if different. */
static int
pg_account(struct acme_manager *m, const char *pem, const char *url)
{
	EVP_PKEY *k = pem ? jws_key_from_pem(pem, strlen(pem)) : NULL;
	const char *err = NULL;

	if (k == NULL) {
		log_warnx("acme: storage: the shared account key is not a "
		    "usable key; not ordering");
		return -1;
	}
	if (EVP_PKEY_eq(k, m->ctx.account_key) != 1) {
		EVP_PKEY_free(m->ctx.account_key);
		m->ctx.account_key = k;
		free(m->ctx.kid);
		m->ctx.kid = NULL;
		if (store_account_key_write(m->ctx.state_dir, pem, strlen(pem),
		    &err) == -1)
			log_warnx("acme: storage: local copy of the account "
			    "key: %s", err);
		log_info("acme: storage: using the shared account key");
	} else {
		EVP_PKEY_free(k);
	}
	pthread_mutex_lock(&m->thumb_mu);
	if (jws_thumbprint(m->ctx.account_key, m->thumb) == -1)
		m->thumb[0] = '\0';
	pthread_mutex_unlock(&m->thumb_mu);
	if (url != NULL && m->ctx.kid == NULL &&
	    strncmp(url, "https://", 8) == 0 &&
	    (m->ctx.kid = strdup(url)) != NULL) {
		free(m->pg_kid);
		m->pg_kid = strdup(url);
	}
	return 0;
}

/* The store cannot be used (unreachable, wrong key, unusable account). */
static void
pg_set_down(struct acme_manager *m, const char *why)
{
	struct mname *mn;

	m->pg_ready = false;
	free(m->pg_down);
	m->pg_down = strdup(why);
	if (m->max_attempts == 0 || m->pg_down == NULL)
		return;
	TAILQ_FOREACH(mn, &m->names, entry)
		if (mn->pg_waiting) {
			mn->pg_waiting = false;
			pg_fail_attempt(mn, m->pg_down);
		}
}

static void
pg_event(const struct pgstore_event *ev, void *arg)
{
	struct acme_manager *m = arg;
	struct mname *mn = ev->name != NULL ? name_find(m, ev->name) : NULL;
	unsigned k = 0;

	switch (ev->type) {
	case PGSTORE_READY:
		if (pg_account(m, ev->account_key_pem, ev->account_url) == -1) {
			pg_set_down(m, "the shared account key is not usable");
			break;
		}
		m->pg_ready = true;
		free(m->pg_down);
		m->pg_down = NULL;
		TAILQ_FOREACH(mn, &m->names, entry) {
			if (mn->pg_dirty && mn->have_cert && !mn->pg_locked &&
			    !mn->pg_locking)
				pg_save(mn);
			if (mn->pg_waiting) {
				mn->pg_waiting = false;
				name_schedule_ms(mn, (uint64_t)k++ * STAGGER_MS);
			}
		}
		break;
	case PGSTORE_DOWN:
		pg_set_down(m, ev->error ? ev->error : "unreachable");
		break;
	case PGSTORE_LOCKED:
		if (mn == NULL || !mn->pg_locking || mn->order != NULL) {
			pgstore_unlock(m->pg, ev->name);
			break;
		}
		mn->pg_locking = false;
		mn->pg_locked = true;
		mn->pg_busy = false;
		/* registered by another instance meanwhile: no newAccount */
		if (ev->account_url != NULL && m->ctx.kid == NULL &&
		    strncmp(ev->account_url, "https://", 8) == 0 &&
		    (m->ctx.kid = strdup(ev->account_url)) != NULL) {
			free(m->pg_kid);
			m->pg_kid = strdup(ev->account_url);
		}
		if (ev->error != NULL)
			log_warnx("acme: %s: shared store: %s", mn->name,
			    ev->error);
		/* someone else's certificate since we last looked: take it;
		 * the order below then only checks whether it is due */
		if (ev->cert_pem != NULL && ev->key_pem != NULL &&
		    ev->rev != mn->pg_rev)
			pg_adopt(mn, ev->cert_pem, ev->key_pem, ev->rev);
		else if (ev->cert_pem == NULL)
			mn->pg_rev = 0;
		evtimer_del(mn->timer);
		name_wake(-1, 0, mn);
		break;
	case PGSTORE_BUSY:
		if (mn == NULL || !mn->pg_locking)
			break;
		mn->pg_locking = false;
		if (!mn->pg_busy)
			log_info("acme: %s: another instance holds its lock; "
			    "waiting for its certificate in the shared store",
			    mn->name);
		else
			log_debug("acme: %s: lock still held elsewhere",
			    mn->name);
		mn->pg_busy = true;
		name_schedule_ms(mn, pg_jitter(PG_BUSY_RETRY_MS));
		break;
	case PGSTORE_LOCK_FAILED:
		if (mn == NULL || !mn->pg_locking)
			break;
		mn->pg_locking = false;
		log_warnx("acme: %s: shared store: %s; no order until it "
		    "answers", mn->name, ev->error ? ev->error : "failed");
		if (m->max_attempts > 0)
			pg_fail_attempt(mn, ev->error ? ev->error : "failed");
		else if (!m->pg_ready)
			mn->pg_waiting = true;
		else
			name_schedule_ms(mn, pg_jitter(PG_FAILED_RETRY_MS));
		break;
	case PGSTORE_SAVED:
		if (mn == NULL)
			break;
		if (ev->rev > 0) {
			mn->pg_rev = ev->rev;
			log_info("acme: %s: certificate saved to the shared "
			    "store", mn->name);
		} else {
			log_info("acme: %s: the shared store already has a "
			    "certificate that lasts longer", mn->name);
		}
		break;
	case PGSTORE_SAVE_FAILED:
		if (mn == NULL)
			break;
		mn->pg_dirty = true;
		log_warnx("acme: %s: cannot save the certificate to the shared "
		    "store: %s; it serves from the local copy and is saved "
		    "when the store answers again", mn->name,
		    ev->error ? ev->error : "failed");
		break;
	case PGSTORE_CERT:
		if (mn == NULL || ev->rev == mn->pg_rev || mn->pg_locked ||
		    mn->order != NULL)
			break;
		if (ev->error != NULL || ev->cert_pem == NULL ||
		    ev->key_pem == NULL) {
			log_warnx("acme: %s: shared store: %s", mn->name,
			    ev->error ? ev->error : "incomplete row");
			mn->pg_rev = ev->rev;
			break;
		}
		if (pg_adopt(mn, ev->cert_pem, ev->key_pem, ev->rev) == 1 &&
		    !mn->pg_locking)
			name_schedule_at(mn, name_next_check(mn));
		break;
	}
}

static int
pg_start(struct acme_manager *m, const struct conf_acme *a)
{
	char *pem;
	size_t len;
	const char *err = NULL;

	if (a->storage_key == NULL || a->storage_key[0] == '\0') {
		log_warnx("acme: storage: postgres needs key_file (or key) to "
		    "encrypt the private keys it stores; not starting ACME");
		return -1;
	}
	if ((pem = jws_key_to_pem(m->ctx.account_key, &len)) == NULL) {
		log_warnx("acme: storage: out of memory");
		return -1;
	}
	log_info("acme: storage: PostgreSQL, shared with the other instances "
	    "(local copies in %s/certs)", m->ctx.state_dir);
	m->pg = pgstore_new(m->base, a->storage_pg_conninfo, a->storage_key,
	    m->ctx.directory_url, pem, pg_event, m, &err);
	OPENSSL_cleanse(pem, len);
	free(pem);
	if (m->pg == NULL) {
		log_warnx("acme: storage: %s", err);
		return -1;
	}
	if ((m->pg_conninfo = strdup(a->storage_pg_conninfo)) == NULL ||
	    (m->pg_secret = strdup(a->storage_key)) == NULL)
		log_warnx("acme: storage: out of memory");
	return 0;
}

static void
wipe_str(char **s)
{
	if (*s != NULL) {
		OPENSSL_cleanse(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

/* Leave the store (shutdown, or a reload that changes it).  Orders made
 * under its locks stop; their names start again in a moment. */
static void
pg_stop(struct acme_manager *m)
{
	struct mname *mn;
	unsigned k = 0;

	if (m->pg == NULL)
		return;
	pgstore_free(m->pg);
	m->pg = NULL;
	m->pg_ready = false;
	wipe_str(&m->pg_conninfo);
	wipe_str(&m->pg_secret);
	free(m->pg_kid);
	m->pg_kid = NULL;
	free(m->pg_down);
	m->pg_down = NULL;
	pthread_mutex_lock(&m->thumb_mu);
	m->thumb[0] = '\0';
	pthread_mutex_unlock(&m->thumb_mu);
	TAILQ_FOREACH(mn, &m->names, entry) {
		bool again = mn->pg_locking || mn->pg_locked || mn->pg_waiting;

		if (mn->pg_locked) {
			client_order_cancel(mn->order);
			mn->order = NULL;
		}
		mn->pg_locking = mn->pg_locked = mn->pg_waiting = false;
		mn->pg_rev = 0;
		if (again)
			name_schedule_ms(mn, 1000 + (uint64_t)k++ * STAGGER_MS);
	}
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
	pthread_mutex_init(&m->thumb_mu, NULL);
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
	if (cfg->acme.storage_pg_conninfo != NULL &&
	    pg_start(m, &cfg->acme) == -1)
		goto fail;
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
	pg_stop(m);
	acme_http_free(m->ctx.http);
	client_ctx_clear(&m->ctx);
	challenge_store_free(m->tokens);
	free(m->ca_roots);
	pthread_mutex_destroy(&m->thumb_mu);
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
	if ((restart && m->pg != NULL) ||
	    !str_eq(cfg->acme.storage_pg_conninfo, m->pg_conninfo) ||
	    !str_eq(cfg->acme.storage_key, m->pg_secret)) {
		pg_stop(m);
		if (cfg->acme.storage_pg_conninfo != NULL &&
		    pg_start(m, &cfg->acme) == -1)
			log_warnx("acme: reload: shared storage not started");
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
	st->busy = mn->order != NULL || mn->pg_locking;
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
