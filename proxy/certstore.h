/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * certstore.h — server certificates by name, swappable while serving.
 *
 * A certificate bundle is a leaf, its chain and its private key, parsed
 * once and reference counted.  A store maps names (exact and "*.domain")
 * to at most one ECDSA and one RSA bundle each, so every client gets the
 * best certificate it supports.  Writers (startup, SIGHUP reload, ACME
 * renewals) build a whole new lookup table and publish it with one
 * pointer swap; the handshake path takes a read lock only long enough to
 * find a name and take references on its bundles.  A bundle that is no
 * longer in the table lives on as long as a handshake or a connection
 * still holds it (OpenSSL keeps its own references to the X509 and
 * EVP_PKEY it serves).
 *
 * Priority of sources for one name: static certificates from the
 * configuration (in file order), then installed ones (ACME), then a
 * self-signed fallback.  A name without any entry gets "*.parent", then
 * the default: the first static certificate, else the first installed,
 * else the first fallback.
 *
 * Errors are returned in a caller buffer (err, errlen) and never logged
 * here twice; nothing secret ever goes into a message.
 */
#ifndef LIMEN_PROXY_CERTSTORE_H
#define LIMEN_PROXY_CERTSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "conf/config.h"

enum certstore_key {
	CERTSTORE_KEY_ECDSA,
	CERTSTORE_KEY_RSA,
	CERTSTORE_KEY__MAX
};

/* Longest DNS name we accept (RFC 1035 presentation form, no final dot). */
#define CERTSTORE_NAME_MAX 253
/* Lifetime of the self-signed stand-in for a name without a certificate. */
#define CERTSTORE_FALLBACK_LIFETIME (7 * 24 * 3600)
/* Largest certificate (chain) and key file we read. */
#define CERTSTORE_FILE_MAX (1024 * 1024)

struct cert_bundle;
struct certstore;

/* ---- bundles ------------------------------------------------------------ */

/*
 * Load a PEM leaf (followed by its chain) from cert_path and a PEM private
 * key from key_path (the two may be the same file).  Checks that the key
 * matches the leaf, is ECDSA or RSA, and gives at least 112 bits of
 * security (RSA >= 2048).  Returns a bundle with one reference, or NULL
 * with a message in err.  The key file's bytes are wiped after parsing.
 */
struct cert_bundle *certstore_bundle_load(const char *cert_path,
    const char *key_path, char *err, size_t errlen);
/*
 * A bundle from objects in memory (the ACME TLS-ALPN-01 certificate, a
 * freshly generated one).  Takes its own references on leaf, chain
 * members and key; the caller keeps its own.  chain may be NULL.
 */
struct cert_bundle *certstore_bundle_new(X509 *leaf, STACK_OF(X509) *chain,
    EVP_PKEY *key, char *err, size_t errlen);
void certstore_bundle_ref(struct cert_bundle *b);
/* Drop one reference; the last one frees the bundle (NULL is fine). */
void certstore_bundle_unref(struct cert_bundle *b);

/* Borrowed views, valid while the caller holds a reference. */
X509 *certstore_bundle_leaf(const struct cert_bundle *b);
STACK_OF(X509) *certstore_bundle_chain(const struct cert_bundle *b);
EVP_PKEY *certstore_bundle_key(const struct cert_bundle *b);
enum certstore_key certstore_bundle_type(const struct cert_bundle *b);
time_t certstore_bundle_not_after(const struct cert_bundle *b);
/* The DNS names the leaf covers (subjectAltName, else the CN), lower-case. */
size_t certstore_bundle_n_names(const struct cert_bundle *b);
const char *certstore_bundle_name(const struct cert_bundle *b, size_t i);

/*
 * Generate a self-signed certificate for names (the first one is also the
 * CN if it fits), valid from one minute ago for lifetime seconds, with a
 * fresh P-256 or RSA-2048 key.  Names may be "*.domain".  Used for the
 * stand-in served until ACME delivers, and by tests.
 */
struct cert_bundle *certstore_selfsigned(const char *const *names,
    size_t n_names, enum certstore_key type, long lifetime,
    char *err, size_t errlen);

/*
 * Normalise a DNS name into out (CERTSTORE_NAME_MAX + 1 bytes): lower-case,
 * one trailing dot removed.  Only letters, digits, '-', '_' and '.', no
 * empty label, no label over 63 bytes; a leading "*." only if
 * allow_wildcard.  Returns the length or -1.  This is the check applied
 * to SNI names from clients.
 */
int certstore_name_normalize(const char *in, size_t len, char *out,
    bool allow_wildcard);

/* ---- the store ---------------------------------------------------------- */

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
 * client sent no SNI) fill out[CERTSTORE_KEY_ECDSA] and
 * out[CERTSTORE_KEY_RSA] with new references (or NULL) from the exact
 * entry, else the wildcard "*.parent" entry, else the default.  Returns
 * how many were found (0: nothing to serve).  Safe from any thread.
 */
int certstore_select(struct certstore *s, const char *servername,
    struct cert_bundle *out[CERTSTORE_KEY__MAX]);

/* How many times a new table was published (tests, metrics). */
unsigned long certstore_generation(struct certstore *s);

#endif
