/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * jwt.h — bearer JWT verification with keys from a JWKS (SPEC §2
 * routes[].auth.jwt, §3 Gateway checks).
 *
 * A key set is parsed once per configuration (jwt_keyset_load, while the
 * config is built) into OpenSSL public keys, immutable afterwards and
 * shared by every worker.  A request's `Authorization: Bearer ...` value
 * is verified against it with jwt_verify(): compact JWS only (RFC 7515
 * §7.1), strict unpadded base64url, JSON objects without duplicate
 * members, signature checked before any claim is trusted.
 *
 * Algorithms: RS256 RS384 RS512 PS256 PS384 PS512 (RSA >= 2048 bits),
 * ES256 ES384 (P-256 / P-384, raw r||s signatures), EdDSA (Ed25519).
 * `none`, HMAC (HS*) and anything else are refused, so a token "signed"
 * with an RSA public key as an HMAC secret can never pass.  A key is only
 * used for the algorithm its type fits (kty/crv) and, if the key names
 * one, its `alg`; `kid` in the token selects the key (without a kid, every
 * fitting key is tried).  Keys with `use` other than "sig", symmetric
 * ("oct") keys and unknown types are skipped with a warning; a key with
 * private members ("d") is an error.
 *
 * Claims: `exp` is required, `exp` and `nbf` are checked with the
 * configured leeway, `iss` and `aud` (a string or an array of strings)
 * against the configuration when it names them.
 *
 * `jwks_url` is proxy/jwks.c: a background fetch that calls
 * jwt_keyset_parse() on each body and swaps the set in.
 */
#ifndef LIMEN_PROXY_JWT_H
#define LIMEN_PROXY_JWT_H

#include <stddef.h>
#include <time.h>

#include "conf/config.h"

struct diag;
struct jwt_keyset;
struct jwt_token;

#define JWT_JWKS_MAX (1024 * 1024)	/* JWKS document, bytes */
#define JWT_KEYS_MAX 64			/* keys kept from one JWKS */
#define JWT_TOKEN_MAX 16384		/* compact token, bytes */
#define JWT_HEADER_VALUE_MAX 4096	/* a claim copied into a header */

enum jwt_result {
	JWT_OK,
	JWT_MISSING,		/* no Authorization, or not "Bearer" */
	JWT_MALFORMED,		/* not a well-formed compact JWS */
	JWT_BAD_ALG,		/* none, HS*, unknown, or "crit" */
	JWT_NO_KEY,		/* no key fits the kid / alg */
	JWT_BAD_SIGNATURE,
	JWT_EXPIRED,		/* exp passed (or missing) */
	JWT_NOT_YET_VALID,	/* nbf in the future */
	JWT_BAD_ISSUER,
	JWT_BAD_AUDIENCE
};

/*
 * Parse a JWKS ({"keys": [...]}).  Problems go to d with `name`; returns
 * NULL on any error or when no usable key remains.
 */
struct jwt_keyset *jwt_keyset_parse(const char *name, const char *json,
    size_t len, struct diag *d);
/* The same from a file (regular, at most JWT_JWKS_MAX bytes). */
struct jwt_keyset *jwt_keyset_load(const char *path, struct diag *d);
void jwt_keyset_free(struct jwt_keyset *ks);
size_t jwt_keyset_count(const struct jwt_keyset *ks);

/*
 * Verify an Authorization header value (NULL: none) at time `now`, with
 * the issuer, audience and leeway of `policy`.  ks may be NULL (no key
 * set loaded yet): a well-formed token then gives JWT_NO_KEY.  On JWT_OK *out (if out is
 * not NULL) receives the verified token, to free with jwt_token_free().
 * Thread-safe; no I/O.
 */
enum jwt_result jwt_verify(const struct jwt_keyset *ks,
    const struct conf_auth_jwt *policy, const char *value, size_t len,
    time_t now, struct jwt_token **out);
/* The same for the bare compact token. */
enum jwt_result jwt_verify_token(const struct jwt_keyset *ks,
    const struct conf_auth_jwt *policy, const char *token, size_t len,
    time_t now, struct jwt_token **out);
void jwt_token_free(struct jwt_token *t);

/* A short, fixed description for logs ("token expired"). */
const char *jwt_result_str(enum jwt_result r);
/*
 * The WWW-Authenticate value for a 401 (RFC 6750 §3): `Bearer` for
 * JWT_MISSING, else `Bearer error="invalid_token",
 * error_description="..."`.  A static string.
 */
const char *jwt_challenge(enum jwt_result r);

struct jwt_header {
	const char *name;		/* from the configuration */
	const char *value;		/* owned by the token */
	size_t value_len;
};

/*
 * The request headers policy->claims_to_headers asks for, from a verified
 * token: string claims as they are, numbers in decimal; other types,
 * missing claims, values longer than JWT_HEADER_VALUE_MAX and values with
 * control characters (CR, LF, NUL, ...) are left out, never altered into
 * something else.  Fills at most cap entries; returns how many.
 */
size_t jwt_claims_to_headers(struct jwt_token *t,
    const struct conf_auth_jwt *policy, struct jwt_header *out, size_t cap);
/* A claim of a verified token as a string (NULL if absent or not one). */
const char *jwt_token_claim_string(const struct jwt_token *t,
    const char *claim);

#endif
