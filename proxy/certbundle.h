/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * certbundle.h — one server certificate: leaf, chain and private key,
 * parsed and checked once, reference counted, immutable afterwards.
 *
 * Bundles are what the certstore (certstore.h) maps names to and what a
 * handshake installs on its SSL.  A bundle is shared by the store's
 * tables, handshakes in progress and the ACME client; the last
 * certbundle_unref() frees it.  Also here: the self-signed certificate
 * generator (fallbacks, tests) and the DNS-name check applied to SNI.
 *
 * Errors are returned in a caller buffer (err, errlen), never logged, and
 * never contain key material.
 */
#ifndef LIMEN_PROXY_CERTBUNDLE_H
#define LIMEN_PROXY_CERTBUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

enum certbundle_key {
	CERTBUNDLE_KEY_ECDSA,
	CERTBUNDLE_KEY_RSA,
	CERTBUNDLE_KEY__MAX
};

/* Longest DNS name we accept (presentation form, no final dot). */
#define CERTBUNDLE_NAME_MAX 253
/* Largest certificate (chain) or key file we read. */
#define CERTBUNDLE_FILE_MAX (1024 * 1024)
/* Most chain certificates after the leaf. */
#define CERTBUNDLE_CHAIN_MAX 10

struct cert_bundle;

/*
 * Load a PEM leaf (followed by its chain) from cert_path and a PEM private
 * key from key_path (the two may be the same file).  Checks that the key
 * matches the leaf, is ECDSA or RSA, and that leaf, chain and key pass
 * OpenSSL security level 2 (112 bits: RSA >= 2048, no SHA-1 signatures).
 * Encrypted keys are refused (never a passphrase prompt).  Returns a
 * bundle with one reference, or NULL with the file and reason in err.  The
 * key file's bytes are wiped after parsing.
 */
struct cert_bundle *certbundle_load(const char *cert_path,
    const char *key_path, char *err, size_t errlen);
/*
 * A bundle from objects in memory (the ACME TLS-ALPN-01 certificate, a
 * freshly generated one), with the same checks.  Takes its own references
 * on leaf, chain members and key; the caller keeps its own.  chain may be
 * NULL.
 */
struct cert_bundle *certbundle_new(X509 *leaf, STACK_OF(X509) *chain,
    EVP_PKEY *key, char *err, size_t errlen);
void certbundle_ref(struct cert_bundle *b);
/* Drop one reference; the last one frees the bundle (NULL is fine). */
void certbundle_unref(struct cert_bundle *b);

/* Borrowed views, valid while the caller holds a reference. */
X509 *certbundle_leaf(const struct cert_bundle *b);
STACK_OF(X509) *certbundle_chain(const struct cert_bundle *b);
EVP_PKEY *certbundle_key(const struct cert_bundle *b);
enum certbundle_key certbundle_type(const struct cert_bundle *b);
time_t certbundle_not_after(const struct cert_bundle *b);
/* The DNS names the leaf covers (subjectAltName, else the CN), normalised;
 * "*.domain" wildcards included. */
size_t certbundle_n_names(const struct cert_bundle *b);
const char *certbundle_name(const struct cert_bundle *b, size_t i);
/* Whether the leaf is valid for name (exactly or by its wildcards). */
bool certbundle_covers(const struct cert_bundle *b, const char *name);

/*
 * Generate a self-signed certificate for names (the first one is also the
 * CN if it fits), valid from one minute ago for lifetime seconds, with a
 * fresh P-256 or RSA-2048 key, CA:FALSE, serverAuth.  Names may be
 * "*.domain".  Used for the stand-in served until ACME delivers, and by
 * tests.
 */
struct cert_bundle *certbundle_selfsigned(const char *const *names,
    size_t n_names, enum certbundle_key type, long lifetime,
    char *err, size_t errlen);

/*
 * Normalise a DNS name into out (CERTBUNDLE_NAME_MAX + 1 bytes):
 * lower-case, one trailing dot removed.  Only letters, digits, '-', '_'
 * and '.', no empty label, no label over 63 bytes; a leading "*." only if
 * allow_wildcard.  Returns the length or -1.  This is the check applied
 * to SNI names from clients.
 */
int certbundle_name_normalize(const char *in, size_t len, char *out,
    bool allow_wildcard);

#endif
