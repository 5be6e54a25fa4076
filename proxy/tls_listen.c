/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tls_listen.c — the process-wide TLS registry and the per-configuration
 * contexts (see tls_listen.h).
 *
 * The registry is a short list (one entry per TLS listener name ever
 * configured) under one mutex, touched only by the control thread at
 * reload time and by whoever installs certificates.  The data path never
 * sees it: workers read the SSL_CTX pointer from their snapshot.
 */
#include "proxy/tls_listen.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme.h"
#include "common/log.h"
#include "conf/diag.h"
#include "proxy/acme_glue.h"
#include "proxy/tls.h"

struct tls_entry {
	char *name;
	struct certstore *store;
	struct tls_entry *next;
};

static struct {
	pthread_mutex_t mu;
	struct tls_keyring *ring;
	struct tls_entry *entries;
} reg = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* The store for a listener name, created on first use.  Under reg.mu. */
static struct certstore *
tls_listen_store_locked(const char *name, bool create)
{
	struct tls_entry *e;

	for (e = reg.entries; e != NULL; e = e->next)
		if (strcmp(e->name, name) == 0)
			return e->store;
	if (!create)
		return NULL;
	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->name = strdup(name)) == NULL ||
	    (e->store = certstore_new()) == NULL) {
		if (e != NULL)
			free(e->name);
		free(e);
		return NULL;
	}
	e->next = reg.entries;
	reg.entries = e;
	return e->store;
}

/* Self-signed stand-ins for the ACME names nothing covers yet, so a
 * handshake for them succeeds (with a warning in the browser) until the
 * ACME manager installs the real certificate. */
static void
tls_listen_fallbacks(const struct config *c, struct certstore *store,
    const struct conf_listener *l)
{
	char **names = NULL, err[256];
	int n;

	if ((n = acme_names(c, &names)) < 0)
		return;
	for (int i = 0; i < n; i++)
		if (certstore_ensure_fallback(store, names[i], NULL, err,
		    sizeof(err)) == -1)
			log_warnx("listener %s: %s: no stand-in certificate: %s",
			    l->name, names[i], err);
	acme_names_free(names, n);
}

struct tls_listen_set *
tls_listen_build(const struct config *c, struct diag *d)
{
	struct tls_listen_set *s;
	char err[512];
	size_t i;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->ctx = calloc(c->n_listeners ? c->n_listeners : 1,
	    sizeof(*s->ctx))) == NULL) {
		free(s);
		diag_error(d, c->path, 0, 0, "out of memory");
		return NULL;
	}
	s->n = c->n_listeners;
	pthread_mutex_lock(&reg.mu);
	for (i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];
		struct certstore *store;

		if (!l->tls.enabled)
			continue;
		if (reg.ring == NULL &&
		    (reg.ring = tls_keyring_new(0)) == NULL) {
			diag_error(d, c->path, l->line, l->col,
			    "listener %s: no session ticket keys (randomness)",
			    l->name);
			goto fail;
		}
		if ((store = tls_listen_store_locked(l->name, true)) == NULL) {
			diag_error(d, c->path, l->line, l->col, "out of memory");
			goto fail;
		}
		if (certstore_set_static(store, l->tls.certs, l->tls.n_certs,
		    err, sizeof(err)) == -1) {
			diag_error(d, c->path, l->line, l->col,
			    "listener %s: %s", l->name, err);
			goto fail;
		}
		if (l->tls.acme)
			tls_listen_fallbacks(c, store, l);
		if ((s->ctx[i] = tls_ctx_new(l, store, reg.ring, err,
		    sizeof(err))) == NULL) {
			diag_error(d, c->path, l->line, l->col,
			    "listener %s: %s", l->name, err);
			goto fail;
		}
		if (l->tls.acme)
			tls_ctx_set_acme_hook(s->ctx[i], acme_glue_alpn, NULL);
	}
	pthread_mutex_unlock(&reg.mu);
	return s;
fail:
	pthread_mutex_unlock(&reg.mu);
	tls_listen_set_free(s);
	return NULL;
}

void
tls_listen_set_free(struct tls_listen_set *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		SSL_CTX_free(s->ctx[i]);
	free(s->ctx);
	free(s);
}

SSL_CTX *
tls_listen_ctx(const struct tls_listen_set *s, const struct config *c,
    const struct conf_listener *l)
{
	size_t i;

	if (s == NULL || l == NULL || l < c->listeners ||
	    l >= c->listeners + c->n_listeners)
		return NULL;
	i = (size_t)(l - c->listeners);
	return i < s->n ? s->ctx[i] : NULL;
}

struct certstore *
tls_listen_store(const char *name)
{
	struct certstore *s;

	pthread_mutex_lock(&reg.mu);
	if ((s = tls_listen_store_locked(name, false)) != NULL)
		certstore_ref(s);
	pthread_mutex_unlock(&reg.mu);
	return s;
}

int
tls_listen_install(const struct config *c, const char *name,
    const char *cert_path, const char *key_path, char *err, size_t errlen)
{
	int ok = 0, failed = 0;
	char e2[256];

	pthread_mutex_lock(&reg.mu);
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];
		struct certstore *store;

		if (!l->tls.enabled || !l->tls.acme ||
		    (store = tls_listen_store_locked(l->name, false)) == NULL)
			continue;
		if (certstore_install(store, name, cert_path, key_path, e2,
		    sizeof(e2)) == -1) {
			if (failed++ == 0 && errlen > 0)
				snprintf(err, errlen, "%s", e2);
		} else
			ok++;
	}
	pthread_mutex_unlock(&reg.mu);
	if (ok == 0 && failed == 0 && errlen > 0)
		snprintf(err, errlen, "no listener with tls.acme");
	return ok > 0 ? 0 : -1;
}

void
tls_listen_shutdown(void)
{
	struct tls_entry *e;

	pthread_mutex_lock(&reg.mu);
	while ((e = reg.entries) != NULL) {
		reg.entries = e->next;
		certstore_unref(e->store);
		free(e->name);
		free(e);
	}
	if (reg.ring != NULL)
		tls_keyring_unref(reg.ring);
	reg.ring = NULL;
	pthread_mutex_unlock(&reg.mu);
}
