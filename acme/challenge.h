/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * challenge.h — what limen shows the CA while an authorization is being
 * validated, answered from memory (SPEC §4):
 *
 *  - HTTP-01: a token store mapping a challenge token to its key
 *    authorization, read by whichever listener serves
 *    /.well-known/acme-challenge/TOKEN.  Lookups may come from any worker
 *    thread; the store is locked and copies out.
 *  - TLS-ALPN-01 (RFC 8737): a self-signed certificate for the name with
 *    the critical acmeIdentifier extension, which the TLS listener
 *    presents to a client that offers ALPN "acme-tls/1".
 */
#ifndef LIMEN_ACME_CHALLENGE_H
#define LIMEN_ACME_CHALLENGE_H

#include <stddef.h>

#define CHALLENGE_HTTP01_PREFIX "/.well-known/acme-challenge/"

struct challenge_store;

struct challenge_store *challenge_store_new(void);
void challenge_store_free(struct challenge_store *s);
/* Add or replace token -> key_authorization; -1 on allocation failure. */
int challenge_store_set(struct challenge_store *s, const char *token,
    const char *key_authorization);
void challenge_store_clear(struct challenge_store *s, const char *token);
/* Copy the key authorization for token into out; its length, or -1 if
 * the token is unknown or out is too small. */
int challenge_store_lookup(struct challenge_store *s, const char *token,
    char *out, size_t outsize);

/* The token of an HTTP-01 request path, or NULL if the path is not
 * CHALLENGE_HTTP01_PREFIX followed by a base64url token. */
const char *challenge_http01_token(const char *path);

/*
 * The TLS-ALPN-01 certificate for name and key_authorization: a fresh
 * P-256 key and a self-signed certificate (valid for a week) whose
 * acmeIdentifier extension holds SHA-256(key_authorization).  Both as
 * malloc'd PEM; the caller cleanses and frees *key_pem.
 */
int challenge_tlsalpn_cert(const char *name, const char *key_authorization,
    char **cert_pem, char **key_pem);

#endif
