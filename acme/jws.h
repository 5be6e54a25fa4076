/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * jws.h — the cryptography of ACME, as pure functions: base64url, keys,
 * JWK (RFC 7517) and its thumbprint (RFC 7638), JWS signatures in the
 * flattened JSON serialization (RFC 7515, ES256 / RS256), the HTTP-01 key
 * authorization (RFC 8555 §8.1) and certificate signing requests.
 *
 * Nothing here does I/O or keeps state; keys are OpenSSL EVP_PKEYs owned
 * by the caller.  Together with store.c this is the only code that
 * touches private keys, so that a later split into a key process stays
 * possible (STYLE 3.8).  Every function returns 0 / -1 or a pointer /
 * NULL; malloc'd results are the caller's to free.
 */
#ifndef LIMEN_ACME_JWS_H
#define LIMEN_ACME_JWS_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

enum jws_key_type { JWS_KEY_EC_P256, JWS_KEY_RSA_2048 };

/* A SHA-256 thumbprint in base64url: 43 characters. */
#define JWS_THUMBPRINT_LEN 43

/* Length of the unpadded base64url encoding of n bytes (without NUL). */
size_t jws_b64url_len(size_t n);
/* Encode n bytes into out (outsize must hold jws_b64url_len(n) + 1 for the
 * NUL); -1 if it does not. */
int jws_b64url_encode(const void *in, size_t n, char *out, size_t outsize);
/* The same into a malloc'd string. */
char *jws_b64url(const void *in, size_t n);
/* Strict decoding of unpadded base64url: rejects '=', characters outside
 * the alphabet, a length of 4k+1 and non-zero trailing bits.  Writes at
 * most outsize bytes; -1 on bad input or a too small buffer. */
int jws_b64url_decode(const char *in, size_t n, void *out, size_t outsize,
    size_t *outlen);

/* A new key: EC on P-256, or RSA with 2048 bits. */
EVP_PKEY *jws_key_new(enum jws_key_type type);
/* Which supported type a key is; -1 for anything else (other curves,
 * RSA below 2048 bits). */
int jws_key_type(EVP_PKEY *key);
/* The private key as PKCS#8 PEM, malloc'd and NUL-terminated.  The caller
 * must OPENSSL_cleanse() it before freeing. */
char *jws_key_to_pem(EVP_PKEY *key, size_t *len);
/* A private key from PEM (PKCS#8, SEC1 or PKCS#1); NULL if it cannot be
 * parsed or is not a supported type. */
EVP_PKEY *jws_key_from_pem(const char *pem, size_t len);
/* A key from a JWK object (EC P-256 or RSA; private when "d" is present);
 * for tests and imports. */
EVP_PKEY *jws_key_from_jwk(const json_t *jwk);

/* The public JWK of a key with only the required members, the way ACME's
 * "jwk" header carries it.  Returns a new reference. */
json_t *jws_jwk(EVP_PKEY *key);
/* The RFC 7638 SHA-256 thumbprint, NUL-terminated, in out[44]. */
int jws_thumbprint(EVP_PKEY *key, char out[JWS_THUMBPRINT_LEN + 1]);
/* "ES256" or "RS256"; NULL for an unsupported key. */
const char *jws_alg(EVP_PKEY *key);

/*
 * The JWS signature of data as it goes into the "signature" member: for
 * ES256 the 64-byte r || s (not DER), for RS256 the PKCS#1 v1.5 block.
 * sig must hold 512 bytes; *siglen receives the length.
 */
int jws_sign_raw(EVP_PKEY *key, const void *data, size_t n,
    unsigned char *sig, size_t *siglen);
/* Check a raw JWS signature (the inverse of jws_sign_raw); 0 if valid. */
int jws_verify_raw(EVP_PKEY *key, const void *data, size_t n,
    const unsigned char *sig, size_t siglen);

/*
 * An ACME request body: the flattened JSON serialization of a JWS whose
 * protected header holds alg, nonce, url and either kid (when kid is not
 * NULL) or the account's jwk.  payload is the JSON text to sign; NULL
 * signs the empty payload of a POST-as-GET.  Returns a malloc'd string.
 */
char *jws_sign(EVP_PKEY *key, const char *kid, const char *nonce,
    const char *url, const char *payload);

/* token "." thumbprint(account key), malloc'd (RFC 8555 §8.1). */
char *jws_key_authorization(const char *token, EVP_PKEY *account_key);

/*
 * A PKCS#10 request for names (dNSName SANs; the first one also as CN
 * when it fits in 64 characters), signed with cert_key, returned as
 * base64url DER for the "csr" member of a finalize request.
 */
char *jws_csr(EVP_PKEY *cert_key, const char *const *names, size_t n_names);

#endif
