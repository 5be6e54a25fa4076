/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tls_listen.h — the TLS state of the running proxy: what lives for the
 * whole process (the session ticket key ring, one certificate store per
 * TLS listener name) and what each configuration generation builds from
 * it (one SSL_CTX per TLS listener, held by the snapshot).
 *
 * snapshot_build() calls tls_listen_build() for every new configuration
 * (start and reload): the store of each TLS listener is looked up by the
 * listener's name (created the first time), its static certificates are
 * read again from their files (all or nothing: a bad file rejects the
 * reload and the old certificates keep serving), ACME names without a
 * certificate get a self-signed stand-in, and a new SSL_CTX is made on
 * top.  Connections accepted under the old snapshot keep the old context
 * (OpenSSL holds a reference per SSL); tickets keep resuming because the
 * ring and the listener names stay.
 *
 * The stores outlive configurations so that certificates installed at
 * run time (ACME) survive a reload: tls_listen_install() puts one into
 * the store of every listener with `tls.acme: true`.
 *
 * Thread-safety: build/free run in the control thread; lookups of
 * contexts from a set are plain reads of an immutable array (any worker);
 * tls_listen_install and tls_listen_store take the registry mutex.
 */
#ifndef LIMEN_PROXY_TLS_LISTEN_H
#define LIMEN_PROXY_TLS_LISTEN_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "conf/config.h"
#include "proxy/certstore.h"

struct diag;

/* The contexts of one configuration: one per listener (NULL for plain). */
struct tls_listen_set {
	SSL_CTX **ctx;			/* indexed like config->listeners */
	size_t n;
};

/*
 * Build the contexts of config c.  Problems (unreadable certificate, key
 * mismatch, no randomness) go to d with the listener's position; NULL
 * then.  A configuration without TLS listeners gets an empty set.
 */
struct tls_listen_set *tls_listen_build(const struct config *c,
    struct diag *d);
/* Drop the set's context references (NULL is fine). */
void tls_listen_set_free(struct tls_listen_set *s);
/* The context of listener l of the set's configuration, or NULL. */
SSL_CTX *tls_listen_ctx(const struct tls_listen_set *s, const struct config *c,
    const struct conf_listener *l);

/*
 * The store of the TLS listener called name with a new reference, or NULL
 * if no configuration had such a TLS listener.
 */
struct certstore *tls_listen_store(const char *name);
/*
 * Install cert/key files for a name into the store of every listener with
 * `tls.acme: true` (the ACME manager's cert_installed hook).  0 when at
 * least one store took it, -1 with the first reason in err.
 */
int tls_listen_install(const struct config *c, const char *name,
    const char *cert_path, const char *key_path, char *err, size_t errlen);

/* Free the ring and the stores (at exit, after the workers stopped). */
void tls_listen_shutdown(void);

#endif
