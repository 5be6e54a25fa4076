/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * jwks.c — JWKS sources fetched in the background (see jwks.h).
 *
 * Threads: the registry list is under a mutex (the control thread adds
 * and removes; a worker only ever drops a reference, and when that was
 * the last one it wakes the control thread, which frees the source).
 * Everything about fetching (client, timers, backoff) belongs to the
 * control thread.  Workers read `cur` (a hazard pointer for the load and
 * increment), and `last_signal` (compare-and-swap, so that a flood of
 * unknown-kid tokens wakes the control thread a few times a second at
 * most; the control thread then allows one early fetch per interval).
 */
#include "proxy/jwks.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>

#include "acme/acme_http.h"
#include "common/log.h"
#include "conf/diag.h"
#include "proxy/hazard.h"
#include "proxy/jwt.h"

struct jwks_keys {
	atomic_uint refs;
	struct jwt_keyset *ks;
};

struct jwks_source {
	struct jwks_source *next;	/* registry, under reg.mu */
	atomic_uint refs;
	char *url;
	char *ca_file;			/* NULL: the system's roots */
	struct jwks_keys *_Atomic cur;	/* NULL until a set is loaded */
	_Atomic long last_signal;	/* monotonic ms of the last wake-up */
	/* control thread */
	struct acme_http *http;
	struct acme_http_req *req;
	struct event *timer;		/* next refresh or retry */
	struct event *kick_ev;		/* early fetch, from a worker */
	long last_kick;			/* monotonic ms of the last early fetch */
	unsigned failures;
};

static struct {
	pthread_mutex_t mu;
	struct jwks_source *list;
	struct event_base *base;
	struct evdns_base *dns;
	struct event *gc_ev;
	atomic_bool running;
} reg = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* ---- pure pieces -------------------------------------------------------- */

/* Lifetimes saturate here instead of overflowing (then clamped to MAX). */
#define JWKS_AGE_CAP_S	(100L * 365 * 86400)

long
jwks_max_age(const char *cc)
{
	const char *p = cc;
	long age = -1;

	if (cc == NULL)
		return -1;
	while (*p != '\0') {
		size_t n;
		const char *tok;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		tok = p;
		n = strcspn(p, ",");
		p += n;
		while (n > 0 && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
			n--;
		if ((n == 8 && strncasecmp(tok, "no-store", 8) == 0) ||
		    (n == 8 && strncasecmp(tok, "no-cache", 8) == 0))
			return 0;
		if (n > 8 && strncasecmp(tok, "max-age=", 8) == 0) {
			long v = 0;
			size_t i = 8;

			if (tok[i] == '"' && n > 10 && tok[n - 1] == '"') {
				i++;
				n--;
			}
			if (i == n)
				continue;
			for (; i < n; i++) {
				if (tok[i] < '0' || tok[i] > '9') {
					v = -1;
					break;
				}
				if (v < JWKS_AGE_CAP_S)
					v = v * 10 + (tok[i] - '0');
			}
			if (v >= 0 && age == -1)
				age = v;
		}
	}
	return age;
}

long
jwks_lifetime(const char *cc, const char *expires, const char *date,
    time_t now)
{
	long age = jwks_max_age(cc);
	time_t exp, origin;

	if (age >= 0 || expires == NULL)
		return age;
	if (acme_http_date(expires, &exp) == -1)
		return 0;
	if (date == NULL || acme_http_date(date, &origin) == -1)
		origin = now;
	if (exp <= origin)
		return 0;
	return exp - origin > JWKS_AGE_CAP_S ? JWKS_AGE_CAP_S :
	    (long)(exp - origin);
}

long
jwks_refresh_delay(const char *cc, const char *expires, const char *date,
    time_t now)
{
	long age = jwks_lifetime(cc, expires, date, now);

	if (age < 0)
		return JWKS_REFRESH_DEFAULT_S;
	if (age < JWKS_REFRESH_MIN_S)
		return JWKS_REFRESH_MIN_S;
	if (age > JWKS_REFRESH_MAX_S)
		return JWKS_REFRESH_MAX_S;
	return age;
}

long
jwks_jitter(long delay, uint32_t rnd)
{
	long span = delay / 10;

	return span > 0 ? delay - (long)(rnd % (uint32_t)(span + 1)) : delay;
}

long
jwks_retry_delay(unsigned failures)
{
	if (failures == 0)
		failures = 1;
	if (failures > 9)
		return JWKS_RETRY_MAX_S;
	long d = 1L << (failures - 1);
	return d > JWKS_RETRY_MAX_S ? JWKS_RETRY_MAX_S : d;
}

bool
jwks_kick_allowed(long *last, long now, long interval)
{
	if (*last != 0 && now - *last < interval)
		return false;
	*last = now;
	return true;
}

bool
jwks_url_ok(const char *url)
{
	struct evhttp_uri *u;
	const char *scheme, *host;
	struct in_addr a4;
	bool ok = false;

	if ((u = evhttp_uri_parse_with_flags(url, 0)) == NULL)
		return false;
	scheme = evhttp_uri_get_scheme(u);
	host = evhttp_uri_get_host(u);
	if (scheme == NULL || host == NULL || host[0] == '\0' ||
	    evhttp_uri_get_userinfo(u) != NULL)
		goto done;
	if (strcasecmp(scheme, "https") == 0)
		ok = true;
	else if (strcasecmp(scheme, "http") == 0)
		ok = strcmp(host, "[::1]") == 0 ||
		    (inet_pton(AF_INET, host, &a4) == 1 &&
		    (ntohl(a4.s_addr) >> 24) == 127);
done:
	evhttp_uri_free(u);
	return ok;
}

/* Monotonic milliseconds, never 0. */
static long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;
}

/* ---- key sets ----------------------------------------------------------- */

static void
keys_unref(struct jwks_keys *k)
{
	if (k != NULL && atomic_fetch_sub_explicit(&k->refs, 1,
	    memory_order_acq_rel) == 1) {
		jwt_keyset_free(k->ks);
		free(k);
	}
}

/* Drop the registry's reference on a set swapped out of a source: once
 * no reader is between its load and its increment (a few instructions). */
static void
keys_retire(struct jwks_keys *old)
{
	struct timespec pause = { 0, 100000 };

	if (old == NULL)
		return;
	while (hazard_in_use(old))
		nanosleep(&pause, NULL);
	keys_unref(old);
}

const struct jwt_keyset *
jwks_acquire(struct jwks_source *s, struct jwks_keys **hold)
{
	struct jwks_keys *k;

	k = hazard_protect((void *_Atomic *)&s->cur);
	if (k != NULL)
		atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
	hazard_clear();
	*hold = k;
	return k != NULL ? k->ks : NULL;
}

void
jwks_release(struct jwks_keys *hold)
{
	keys_unref(hold);
}

const char *
jwks_source_url(const struct jwks_source *s)
{
	return s->url;
}

/* ---- fetching (control thread) ------------------------------------------ */

static void fetch_start(struct jwks_source *s);

static void
schedule(struct jwks_source *s, long seconds)
{
	struct timeval tv = { seconds, 0 };

	evtimer_add(s->timer, &tv);
}

static void
fetch_failed(struct jwks_source *s, const char *why)
{
	struct jwks_keys *k = atomic_load(&s->cur);
	long delay;

	s->failures++;
	delay = jwks_retry_delay(s->failures);
	if (k != NULL)
		log_warnx("jwks: %s: %s; keeping the %zu keys loaded before, "
		    "retry in %lds", s->url, why, jwt_keyset_count(k->ks),
		    delay);
	else
		log_warnx("jwks: %s: %s; no keys yet, tokens are refused "
		    "(503), retry in %lds", s->url, why, delay);
	schedule(s, delay);
}

static void
fetched_cb(const struct acme_http_response *resp, void *arg)
{
	struct jwks_source *s = arg;
	struct jwks_keys *k;
	struct jwt_keyset *ks;
	struct diag d;
	char why[300];
	long delay;

	s->req = NULL;
	if (resp->status != 200) {
		if (resp->status == 0)
			snprintf(why, sizeof why, "%s",
			    resp->error ? resp->error : "no response");
		else
			snprintf(why, sizeof why, "HTTP status %d",
			    resp->status);
		fetch_failed(s, why);
		return;
	}
	diag_init(&d);
	ks = jwt_keyset_parse(s->url, resp->body, resp->body_len, &d);
	for (size_t i = 0; i < d.n; i++)
		if (d.items[i].severity == DIAG_WARNING || ks == NULL)
			log_debug("jwks: %s: %s", s->url, d.items[i].msg);
	if (ks == NULL) {
		const char *msg = "not a usable JWKS";

		for (size_t i = 0; i < d.n; i++)
			if (d.items[i].severity == DIAG_ERROR) {
				msg = d.items[i].msg;
				break;
			}
		snprintf(why, sizeof why, "%s", msg);
		diag_free(&d);
		fetch_failed(s, why);
		return;
	}
	diag_free(&d);
	if ((k = calloc(1, sizeof *k)) == NULL) {
		jwt_keyset_free(ks);
		fetch_failed(s, "out of memory");
		return;
	}
	atomic_init(&k->refs, 1);
	k->ks = ks;
	keys_retire(atomic_exchange(&s->cur, k));
	s->failures = 0;
	delay = jwks_jitter(jwks_refresh_delay(resp->cache_control,
	    resp->expires, resp->date, time(NULL)), arc4random());
	log_info("jwks: %s: %zu keys loaded, next refresh in %lds", s->url,
	    jwt_keyset_count(ks), delay);
	schedule(s, delay);
}

static void
fetch_start(struct jwks_source *s)
{
	if (s->req != NULL)
		return;
	evtimer_del(s->timer);
	s->req = acme_http_request(s->http, ACME_HTTP_GET, s->url, NULL, 0,
	    NULL, "application/jwk-set+json, application/json",
	    JWKS_TIMEOUT_MS, fetched_cb, s);
	if (s->req == NULL)
		fetch_failed(s, "cannot start a request for this URL");
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fetch_start(arg);
}

static void
kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jwks_source *s = arg;

	(void)fd;
	(void)what;
	/* a fetch under way answers the question already */
	if (s->req != NULL || s->http == NULL ||
	    !jwks_kick_allowed(&s->last_kick, mono_ms(),
	    JWKS_KICK_INTERVAL_S * 1000L))
		return;
	log_info("jwks: %s: early refresh (a token's key is not in the set)",
	    s->url);
	fetch_start(s);
}

void
jwks_source_kick(struct jwks_source *s)
{
	long now = mono_ms(), last = atomic_load(&s->last_signal), want = last;

	if (!atomic_load(&reg.running) ||
	    !jwks_kick_allowed(&want, now, JWKS_KICK_SIGNAL_MS))
		return;
	/* one thread per JWKS_KICK_SIGNAL_MS wakes the control thread */
	if (atomic_compare_exchange_strong(&s->last_signal, &last, want))
		event_active(s->kick_ev, EV_READ, 0);
}

/* Set up fetching for s on the running loop; a failure is logged and
 * leaves s without keys (fail closed). */
static void
source_start(struct jwks_source *s)
{
	const char *err = "out of memory";

	if ((s->http = acme_http_new(reg.base, reg.dns, s->ca_file,
	    &err)) == NULL ||
	    (s->timer = evtimer_new(reg.base, timer_cb, s)) == NULL ||
	    (s->kick_ev = event_new(reg.base, -1, 0, kick_cb, s)) == NULL) {
		log_warnx("jwks: %s: cannot fetch: %s; tokens are refused",
		    s->url, err);
		return;
	}
	if (strncasecmp(s->url, "http:", 5) == 0)
		acme_http_allow_plain(s->http, 1);	/* loopback only */
	fetch_start(s);
}

/* Undo source_start() (control thread). */
static void
source_stop(struct jwks_source *s)
{
	if (s->req != NULL)
		acme_http_cancel(s->req);
	s->req = NULL;
	if (s->timer != NULL)
		event_free(s->timer);
	if (s->kick_ev != NULL)
		event_free(s->kick_ev);
	s->timer = s->kick_ev = NULL;
	acme_http_free(s->http);
	s->http = NULL;
}

static void
source_free(struct jwks_source *s)
{
	source_stop(s);
	keys_retire(atomic_exchange(&s->cur, NULL));
	free(s->url);
	free(s->ca_file);
	free(s);
}

/* Free the sources no configuration uses any more (control thread). */
static void
gc_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jwks_source **pp, *s, *dead = NULL;

	(void)fd;
	(void)what;
	(void)arg;
	pthread_mutex_lock(&reg.mu);
	for (pp = &reg.list; (s = *pp) != NULL;) {
		if (atomic_load(&s->refs) == 0) {
			*pp = s->next;
			s->next = dead;
			dead = s;
		} else
			pp = &s->next;
	}
	pthread_mutex_unlock(&reg.mu);
	while ((s = dead) != NULL) {
		dead = s->next;
		log_debug("jwks: %s: no longer used", s->url);
		source_free(s);
	}
}

/* ---- the registry ------------------------------------------------------- */

static bool
same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

struct jwks_source *
jwks_source_get(const char *url, const char *ca_file, struct diag *d)
{
	struct jwks_source *s;
	const char *err = NULL;
	struct acme_http *probe;

	if (!jwks_url_ok(url)) {
		diag_error(d, url, 0, 0, "jwks_url: not an https URL (plain "
		    "http only to a loopback address)");
		return NULL;
	}
	pthread_mutex_lock(&reg.mu);
	for (s = reg.list; s != NULL; s = s->next)
		if (strcmp(s->url, url) == 0 && same(s->ca_file, ca_file)) {
			atomic_fetch_add(&s->refs, 1);
			pthread_mutex_unlock(&reg.mu);
			return s;
		}
	pthread_mutex_unlock(&reg.mu);

	/* the CA file must load now: a configuration error, not a log line */
	if ((probe = acme_http_new(NULL, NULL, ca_file, &err)) == NULL) {
		diag_error(d, ca_file ? ca_file : url, 0, 0, "jwks: %s", err);
		return NULL;
	}
	acme_http_free(probe);
	if ((s = calloc(1, sizeof *s)) == NULL ||
	    (s->url = strdup(url)) == NULL ||
	    (ca_file != NULL && (s->ca_file = strdup(ca_file)) == NULL)) {
		if (s != NULL)
			free(s->url);
		free(s);
		diag_error(d, url, 0, 0, "out of memory");
		return NULL;
	}
	atomic_init(&s->refs, 1);
	atomic_init(&s->cur, NULL);
	atomic_init(&s->last_signal, 0);
	if (atomic_load(&reg.running))
		source_start(s);
	pthread_mutex_lock(&reg.mu);
	s->next = reg.list;
	reg.list = s;
	pthread_mutex_unlock(&reg.mu);
	return s;
}

void
jwks_source_unref(struct jwks_source *s)
{
	struct jwks_source **pp;

	if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	if (atomic_load(&reg.running)) {
		event_active(reg.gc_ev, EV_READ, 0);
		return;
	}
	/* not running: single-threaded (`limen check`, start, shutdown) */
	pthread_mutex_lock(&reg.mu);
	for (pp = &reg.list; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	pthread_mutex_unlock(&reg.mu);
	source_free(s);
}

int
jwks_start(struct event_base *base)
{
	struct jwks_source *s;

	reg.base = base;
	if ((reg.gc_ev = event_new(base, -1, 0, gc_cb, NULL)) == NULL)
		return -1;
	if ((reg.dns = evdns_base_new(base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL &&
	    (reg.dns = evdns_base_new(base, 0)) == NULL) {
		event_free(reg.gc_ev);
		reg.gc_ev = NULL;
		return -1;
	}
	pthread_mutex_lock(&reg.mu);
	for (s = reg.list; s != NULL; s = s->next)
		source_start(s);
	atomic_store(&reg.running, true);
	pthread_mutex_unlock(&reg.mu);
	return 0;
}

void
jwks_stop(void)
{
	struct jwks_source *s;

	if (!atomic_load(&reg.running))
		return;
	gc_cb(-1, 0, NULL);
	pthread_mutex_lock(&reg.mu);
	atomic_store(&reg.running, false);
	for (s = reg.list; s != NULL; s = s->next)
		source_stop(s);
	pthread_mutex_unlock(&reg.mu);
	event_free(reg.gc_ev);
	reg.gc_ev = NULL;
	evdns_base_free(reg.dns, 0);
	reg.dns = NULL;
	reg.base = NULL;
}
