/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * certstore.h — server certificates by name, swappable while serving.
 *
 * A store maps names (exact and "*.domain") to at most one ECDSA and one
 * RSA bundle each (bundles: certbundle.h), so every client gets the best
 * certificate it supports.  Writers (startup, SIGHUP reload, ACME
 * renewals) build a whole new lookup table and publish it with one atomic
 * pointer swap; the handshake path never locks: a hazard pointer covers
 * its lookup and the references it takes on the bundles found.  A bundle
 * that is no longer in the table lives on as long as a handshake or a
 * connection still holds it (OpenSSL keeps its own references to the
 * X509 and EVP_PKEY it serves).
 *
 * Priority of sources for one name: static certificates from the
 * configuration (in file order), then installed ones (ACME), then a
 * self-signed fallback.  A name without any entry gets "*.parent", then
 * the default: the first static certificate, else the first installed,
 * else the first fallback.
 *
 * Errors are returned in a caller buffer (err, errlen), not logged (the
 * exceptions: certstore_reload logs each failing pair, and an expired
 * static certificate is a warning); nothing secret ever goes into a
 * message.
 */
#ifndef LIMEN_PROXY_CERTSTORE_H
#define LIMEN_PROXY_CERTSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "conf/config.h"
#include "proxy/certbundle.h"

/* Lifetime of the self-signed stand-in for a name without a certificate. */
#define CERTSTORE_FALLBACK_LIFETIME (7 * 24 * 3600)

struct certstore;

/* A new, empty store with one reference.  NULL on allocation failure. */
struct certstore *certstore_new(void);
void certstore_ref(struct certstore *s);
void certstore_unref(struct certstore *s);

/*
 * Replace the static certificates with certs[0..n) (from a listener's
 * `tls.certificates`), reading every file again.  All or nothing: if one
 * pair fails to load, the store is left as it was and -1 is returned with
 * the file and reason in err.  Certificates past their notAfter are
 * loaded with a warning in the log.
 */
int certstore_set_static(struct certstore *s, const struct conf_cert *certs,
    size_t n, char *err, size_t errlen);

/*
 * Install (or replace) the certificate for one name, e.g. after an ACME
 * order: load the files, check that the leaf covers name, has not
 * expired, and publish.  Replaces every bundle installed for that name
 * and drops its fallback.  Handshakes already running keep what they
 * picked; the next ones see the new certificate.  0 or -1 with err.
 */
int certstore_install(struct certstore *s, const char *name,
    const char *cert_path, const char *key_path, char *err, size_t errlen);
/* The same from a bundle in memory (takes a reference; not reloadable
 * from disk by certstore_reload). */
int certstore_install_bundle(struct certstore *s, const char *name,
    struct cert_bundle *b, char *err, size_t errlen);
/*
 * Make sure name has something to serve: if no static or installed
 * certificate covers it (exactly or by wildcard) and it has no fallback
 * with at least half its lifetime left, generate a self-signed ECDSA one
 * valid CERTSTORE_FALLBACK_LIFETIME and publish it.  Sets *created (if
 * not NULL) to whether one was made.  0 or -1 with err.
 */
int certstore_ensure_fallback(struct certstore *s, const char *name,
    bool *created, char *err, size_t errlen);
/* Forget what was installed for name (and its fallback).  0, or -1 if
 * there was nothing. */
int certstore_remove(struct certstore *s, const char *name);

/*
 * Read every static and installed certificate file again (SIGHUP): pairs
 * that load replace their old bundle, pairs that fail keep the old one.
 * Returns 0 if all loaded, -1 (the first failure in err) otherwise; in
 * both cases what did load is published.
 */
int certstore_reload(struct certstore *s, char *err, size_t errlen);

/*
 * Whether a static or installed (not fallback) certificate covers name,
 * exactly or by a one-label wildcard.
 */
bool certstore_covers(struct certstore *s, const char *name);

/*
 * The handshake lookup: for servername (normalised, may be NULL when the
 * client sent no SNI) fill out[CERTBUNDLE_KEY_ECDSA] and
 * out[CERTBUNDLE_KEY_RSA] with new references (or NULL) from the exact
 * entry, else the wildcard "*.parent" entry, else the default.  Returns
 * how many were found (0: nothing to serve).  Safe from any thread.
 */
int certstore_select(struct certstore *s, const char *servername,
    struct cert_bundle *out[CERTBUNDLE_KEY__MAX]);

/* How many times a new table was published (tests, metrics). */
unsigned long certstore_generation(struct certstore *s);

#endif
