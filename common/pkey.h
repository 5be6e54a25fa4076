/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pkey.h — an OpenSSL 3 key from parameters, the one sequence that both
 * the ACME account key (acme/jws.c, a JWK with its private part) and the
 * gateway's JWT verification keys (proxy/jwt.c, public JWKs) go through.
 */
#ifndef LIMEN_COMMON_PKEY_H
#define LIMEN_COMMON_PKEY_H

#include <openssl/evp.h>
#include <openssl/param_build.h>

/*
 * A key of `type` ("EC", "RSA", ...) from params; selection is
 * EVP_PKEY_PUBLIC_KEY or EVP_PKEY_KEYPAIR.  NULL if OpenSSL refuses it.
 */
EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM *params, int selection);
/* The same from a parameter builder (which the caller still frees). */
EVP_PKEY *pkey_fromdata_bld(const char *type, OSSL_PARAM_BLD *bld,
    int selection);

#endif
