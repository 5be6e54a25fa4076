/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pkey.c — see pkey.h.
 */
#include "common/pkey.h"

#include <openssl/core.h>

EVP_PKEY *
pkey_fromdata(const char *type, OSSL_PARAM *params, int selection)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *key = NULL;

	if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &key, selection, params) != 1)
		key = NULL;
	EVP_PKEY_CTX_free(ctx);
	return key;
}

EVP_PKEY *
pkey_fromdata_bld(const char *type, OSSL_PARAM_BLD *bld, int selection)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY *key;

	if (params == NULL)
		return NULL;
	key = pkey_fromdata(type, params, selection);
	OSSL_PARAM_free(params);
	return key;
}
