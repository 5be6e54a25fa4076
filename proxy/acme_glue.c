/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * acme_glue.c — the ACME manager inside `limen run` (see acme_glue.h).
 *
 * State shared with the workers is small: the manager pointer (atomic;
 * set once on the control thread, cleared only after the workers have
 * stopped) for HTTP-01 lookups, which the manager makes thread-safe
 * itself, and the TLS-ALPN-01 map, a short list under a mutex (one entry
 * per name with a pending challenge, for a few seconds each).
 */
#include "proxy/acme_glue.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <openssl/pem.h>

#include "acme/acme.h"
#include "acme/store.h"
#include "common/log.h"
#include "proxy/exchange.h"
#include "proxy/metrics.h"
#include "proxy/tls_listen.h"

#define ACME_GLUE_PREFIX "/.well-known/acme-challenge/"
#define ACME_GLUE_KEYAUTH_MAX 512
/* as acme/acme.c when global.state_dir is not set */
#define ACME_GLUE_STATE_DIR "/var/lib/limen"

struct alpn_entry {
	char *name;
	struct cert_bundle *bundle;
	struct alpn_entry *next;
};

static struct {
	_Atomic(struct acme_manager *) m;
	struct event_base *base;
	struct evdns_base *dns;
	struct config *conf;		/* the live configuration (control) */
	pthread_mutex_t mu;		/* alpn */
	struct alpn_entry *alpn;
} glue = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* ---- hooks (control thread) ------------------------------------------ */

/* The leaf's notAfter from a PEM file, 0 if unreadable (only the
 * certificate is read here, never the key). */
static time_t
acme_glue_not_after(const char *cert_path)
{
	BIO *b;
	X509 *x = NULL;
	struct tm tm;
	time_t t = 0;

	if ((b = BIO_new_file(cert_path, "r")) == NULL)
		return 0;
	if ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL &&
	    ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
		t = timegm(&tm);
	X509_free(x);
	BIO_free(b);
	return t;
}

static void
acme_glue_installed(void *arg, const char *name, const char *cert_path,
    const char *key_path)
{
	char err[256];
	time_t na;

	(void)arg;
	if (glue.conf == NULL)
		return;
	if (tls_listen_install(glue.conf, name, cert_path, key_path, err,
	    sizeof(err)) == -1)
		log_warnx("acme: %s: certificate not installed: %s", name, err);
	else
		log_info("acme: %s: certificate installed", name);
	if ((na = acme_glue_not_after(cert_path)) != 0)
		metrics_cert_set(name, na, "acme");
}

static struct cert_bundle *
acme_glue_bundle(const char *cert_pem, const char *key_pem, char *err,
    size_t errlen)
{
	BIO *cb = NULL, *kb = NULL;
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	struct cert_bundle *b = NULL;

	if ((cb = BIO_new_mem_buf(cert_pem, -1)) == NULL ||
	    (kb = BIO_new_mem_buf(key_pem, -1)) == NULL ||
	    (x = PEM_read_bio_X509(cb, NULL, NULL, NULL)) == NULL ||
	    (k = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL)) == NULL) {
		snprintf(err, errlen, "unreadable challenge certificate");
		goto fail;
	}
	b = certbundle_new(x, NULL, k, err, errlen);
fail:
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(cb);
	BIO_free(kb);
	return b;
}

static int
acme_glue_alpn_set(void *arg, const char *name, const char *cert_pem,
    const char *key_pem)
{
	struct alpn_entry *e;
	struct cert_bundle *b;
	char err[256];

	(void)arg;
	if ((b = acme_glue_bundle(cert_pem, key_pem, err, sizeof(err))) ==
	    NULL) {
		log_warnx("acme: %s: tls-alpn-01: %s", name, err);
		return -1;
	}
	pthread_mutex_lock(&glue.mu);
	for (e = glue.alpn; e != NULL; e = e->next)
		if (strcmp(e->name, name) == 0)
			break;
	if (e == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL ||
		    (e->name = strdup(name)) == NULL) {
			pthread_mutex_unlock(&glue.mu);
			free(e);
			certbundle_unref(b);
			return -1;
		}
		e->next = glue.alpn;
		glue.alpn = e;
	}
	certbundle_unref(e->bundle);
	e->bundle = b;
	pthread_mutex_unlock(&glue.mu);
	return 0;
}

static void
acme_glue_alpn_clear(void *arg, const char *name)
{
	struct alpn_entry *e, **pp;

	(void)arg;
	pthread_mutex_lock(&glue.mu);
	for (pp = &glue.alpn; (e = *pp) != NULL; pp = &e->next)
		if (strcmp(e->name, name) == 0) {
			*pp = e->next;
			certbundle_unref(e->bundle);
			free(e->name);
			free(e);
			break;
		}
	pthread_mutex_unlock(&glue.mu);
}

static void
acme_glue_status(void *arg, const char *name,
    const struct acme_name_status *st)
{
	(void)arg;
	/* called once per finished attempt; the manager logs failures and
	 * retries itself */
	if (st->failures > 0)
		metrics_acme_failure(name, st->last_error);
	else
		metrics_acme_success(name);
	log_debug("acme: %s: %s, %u failures in a row, next attempt %lld",
	    name, st->has_cert ? "certificate" : "no certificate",
	    st->failures, (long long)st->next_attempt);
}

/* ---- TLS-ALPN-01 lookups (workers) ----------------------------------- */

struct cert_bundle *
acme_glue_alpn(const char *servername, void *arg)
{
	struct alpn_entry *e;
	struct cert_bundle *b = NULL;

	(void)arg;
	if (servername == NULL)
		return NULL;
	pthread_mutex_lock(&glue.mu);
	for (e = glue.alpn; e != NULL; e = e->next)
		if (strcmp(e->name, servername) == 0) {
			b = e->bundle;
			certbundle_ref(b);
			break;
		}
	pthread_mutex_unlock(&glue.mu);
	return b;
}

/* ---- HTTP-01 (workers) ----------------------------------------------- */

int
acme_glue_http01(struct exchange *x)
{
	struct acme_manager *m;
	char token[128], ka[ACME_GLUE_KEYAUTH_MAX];
	size_t plen = sizeof(ACME_GLUE_PREFIX) - 1, tlen;
	int n;

	if ((m = atomic_load(&glue.m)) == NULL || x->tls ||
	    (x->listener != NULL && x->listener->tls.enabled) ||
	    !(x->method_flags & (EXCHANGE_M_GET | EXCHANGE_M_HEAD)) ||
	    x->path_len <= plen ||
	    memcmp(x->path, ACME_GLUE_PREFIX, plen) != 0)
		return -1;
	tlen = x->path_len - plen;
	if (tlen >= sizeof(token))
		return -1;
	memcpy(token, x->path + plen, tlen);
	token[tlen] = '\0';
	if ((n = acme_manager_http01_lookup(m, token, ka, sizeof(ka))) < 0)
		return -1;
	exchange_resp_start(x, 200);
	exchange_respond(x, 200, "application/octet-stream", ka, (size_t)n);
	return 0;
}

/* ---- life cycle (control thread) ------------------------------------- */

static bool
acme_glue_wanted(const struct config *c)
{
	for (size_t i = 0; i < c->n_listeners; i++)
		if (c->listeners[i].tls.enabled && c->listeners[i].tls.acme)
			return true;
	return false;
}

int
acme_glue_start(struct event_base *base, struct config *c)
{
	static const struct acme_hooks hooks = {
		.cert_installed = acme_glue_installed,
		.tlsalpn01_set = acme_glue_alpn_set,
		.tlsalpn01_clear = acme_glue_alpn_clear,
		.name_status = acme_glue_status,
	};
	struct acme_manager *m;

	glue.base = base;
	if (!acme_glue_wanted(c))
		return 0;
	if (glue.conf != NULL)
		conf_unref(glue.conf);
	conf_ref(c);
	glue.conf = c;
	if (glue.dns == NULL && (glue.dns = evdns_base_new(base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL) {
		log_warnx("acme: no DNS resolver: certificates are not "
		    "ordered");
		return -1;
	}
	if ((m = acme_manager_new(base, glue.dns, c, &hooks)) == NULL) {
		log_warnx("acme: not running (see above); names without a "
		    "certificate keep their self-signed stand-in");
		return -1;
	}
	atomic_store(&glue.m, m);
	return 0;
}

/*
 * After a reload: a TLS listener with `acme: true` that is new (or
 * renamed) has a new, empty store; give it the certificates the manager
 * already holds instead of stand-ins until their next renewal.
 */
static void
acme_glue_reinstall(struct acme_manager *m, const struct config *c)
{
	struct acme_name_status st;
	char **names = NULL, cpath[PATH_MAX], kpath[PATH_MAX];
	int n;

	if ((n = acme_names(c, &names)) <= 0)
		return;
	for (int i = 0; i < n; i++) {
		bool missing = false;

		if (acme_manager_status(m, names[i], &st) == -1 || !st.has_cert)
			continue;
		for (size_t j = 0; j < c->n_listeners && !missing; j++) {
			const struct conf_listener *l = &c->listeners[j];
			struct certstore *store;

			if (!l->tls.enabled || !l->tls.acme ||
			    (store = tls_listen_store(l->name)) == NULL)
				continue;
			missing = !certstore_covers(store, names[i]);
			certstore_unref(store);
		}
		if (missing && store_cert_paths(c->global.state_dir ?
		    c->global.state_dir : ACME_GLUE_STATE_DIR, names[i], cpath,
		    sizeof(cpath), kpath, sizeof(kpath)) == 0)
			acme_glue_installed(NULL, names[i], cpath, kpath);
	}
	acme_names_free(names, n);
}

/*
 * After a reload: a name the manager no longer manages (its host was
 * removed) is not renewed and not served for any route; drop its expiry
 * and failure series so that no alert fires for it.
 */
static void
acme_glue_forget(struct acme_manager *m)
{
	struct acme_name_status st;
	struct metrics_cert *certs;
	size_t n;

	if ((certs = metrics_certs(&n)) == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		if (strcmp(certs[i].source, "acme") == 0 &&
		    acme_manager_status(m, certs[i].name, &st) == -1) {
			metrics_cert_remove(certs[i].name);
			log_info("acme: %s: no longer configured; its metrics "
			    "are removed", certs[i].name);
		}
	free(certs);
}

void
acme_glue_reload(struct config *c)
{
	struct acme_manager *m = atomic_load(&glue.m);

	if (m == NULL) {
		if (glue.base != NULL)
			(void)acme_glue_start(glue.base, c);
		return;
	}
	conf_ref(c);
	conf_unref(glue.conf);
	glue.conf = c;
	if (acme_manager_update_config(m, c) == -1)
		log_warnx("acme: reload: the previous ACME settings stay");
	acme_glue_forget(m);
	acme_glue_reinstall(m, c);
}

void
acme_glue_stop(void)
{
	struct acme_manager *m = atomic_exchange(&glue.m, NULL);
	struct alpn_entry *e;

	if (m != NULL)
		acme_manager_free(m);
	if (glue.dns != NULL)
		evdns_base_free(glue.dns, 0);
	glue.dns = NULL;
	if (glue.conf != NULL)
		conf_unref(glue.conf);
	glue.conf = NULL;
	glue.base = NULL;
	pthread_mutex_lock(&glue.mu);
	while ((e = glue.alpn) != NULL) {
		glue.alpn = e->next;
		certbundle_unref(e->bundle);
		free(e->name);
		free(e);
	}
	pthread_mutex_unlock(&glue.mu);
}
