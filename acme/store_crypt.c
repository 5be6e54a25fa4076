/* SPDX-License-Identifier: BSD-2-Clause */
/* store_crypt.c — see store_crypt.h. */
#include "acme/store_crypt.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define MAGIC		"LSK1"
#define MAGIC_LEN	4
#define NONCE_LEN	12
#define TAG_LEN		16
#define MAX_PLAIN	(1024 * 1024)

int
store_crypt_derive(const char *secret, size_t len,
    uint8_t key[STORE_CRYPT_KEY_LEN])
{
	static const char salt[] = "limen-acme-storage";
	static const char info[] = "aes-256-gcm key v1";
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM p[5];
	int rc = -1;

	if (len == 0)
		return -1;
	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) == NULL ||
	    (kctx = EVP_KDF_CTX_new(kdf)) == NULL)
		goto fail;
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    (void *)secret, len);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	    (void *)salt, sizeof salt - 1);
	p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
	    (void *)info, sizeof info - 1);
	p[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, key, STORE_CRYPT_KEY_LEN, p) != 1)
		goto fail;
	rc = 0;
fail:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return rc;
}

/* The authenticated data: the magic, then the context. */
static int
crypt_aad(EVP_CIPHER_CTX *c, const char *ctx)
{
	int outl;

	return EVP_CipherUpdate(c, NULL, &outl, (const uint8_t *)MAGIC,
	    MAGIC_LEN) == 1 && EVP_CipherUpdate(c, NULL, &outl,
	    (const uint8_t *)ctx, (int)strlen(ctx)) == 1 ? 0 : -1;
}

int
store_crypt_seal(const uint8_t key[STORE_CRYPT_KEY_LEN], const char *ctx,
    const void *plain, size_t len, uint8_t **out, size_t *outlen)
{
	EVP_CIPHER_CTX *c = NULL;
	uint8_t *b = NULL, *nonce;
	int outl, fin;

	*out = NULL;
	if (len > MAX_PLAIN ||
	    (b = malloc(len + STORE_CRYPT_OVERHEAD)) == NULL ||
	    (c = EVP_CIPHER_CTX_new()) == NULL)
		goto fail;
	memcpy(b, MAGIC, MAGIC_LEN);
	nonce = b + MAGIC_LEN;
	if (RAND_bytes(nonce, NONCE_LEN) != 1 ||
	    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
	    crypt_aad(c, ctx) == -1 ||
	    (len > 0 && EVP_EncryptUpdate(c, b + MAGIC_LEN + NONCE_LEN, &outl,
	    plain, (int)len) != 1) ||
	    EVP_EncryptFinal_ex(c, b + MAGIC_LEN + NONCE_LEN + len, &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
	    b + MAGIC_LEN + NONCE_LEN + len) != 1)
		goto fail;
	EVP_CIPHER_CTX_free(c);
	*out = b;
	*outlen = len + STORE_CRYPT_OVERHEAD;
	return 0;
fail:
	EVP_CIPHER_CTX_free(c);
	free(b);
	return -1;
}

int
store_crypt_open(const uint8_t key[STORE_CRYPT_KEY_LEN], const char *ctx,
    const uint8_t *blob, size_t len, char **out, size_t *outlen)
{
	EVP_CIPHER_CTX *c = NULL;
	const uint8_t *nonce, *ct, *tag;
	size_t ctlen;
	char *p = NULL;
	int outl = 0, fin = 0;

	*out = NULL;
	if (len < STORE_CRYPT_OVERHEAD || len - STORE_CRYPT_OVERHEAD >
	    MAX_PLAIN || memcmp(blob, MAGIC, MAGIC_LEN) != 0)
		return -1;
	nonce = blob + MAGIC_LEN;
	ct = nonce + NONCE_LEN;
	ctlen = len - STORE_CRYPT_OVERHEAD;
	tag = ct + ctlen;
	if ((p = malloc(ctlen + 1)) == NULL ||
	    (c = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
	    crypt_aad(c, ctx) == -1 ||
	    (ctlen > 0 && EVP_DecryptUpdate(c, (uint8_t *)p, &outl, ct,
	    (int)ctlen) != 1) ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
	    (void *)tag) != 1 ||
	    EVP_DecryptFinal_ex(c, (uint8_t *)p + outl, &fin) != 1)
		goto fail;
	EVP_CIPHER_CTX_free(c);
	p[ctlen] = '\0';
	*out = p;
	*outlen = ctlen;
	return 0;
fail:
	EVP_CIPHER_CTX_free(c);
	if (p != NULL) {
		/* never hand out (or leave behind) unauthenticated bytes */
		OPENSSL_cleanse(p, ctlen + 1);
		free(p);
	}
	return -1;
}

int64_t
store_crypt_lock_key(const char *name)
{
	static const char prefix[] = "limen-acme-order:";
	uint8_t md[SHA256_DIGEST_LENGTH];
	char buf[sizeof prefix + 256];
	size_t n = strlen(name);
	uint64_t v = 0;

	/* names are at most 253 characters (acme_name_valid) */
	if (n > 256)
		n = 256;
	memcpy(buf, prefix, sizeof prefix - 1);
	memcpy(buf + sizeof prefix - 1, name, n);
	SHA256((const uint8_t *)buf, sizeof prefix - 1 + n, md);
	for (int i = 0; i < 8; i++)
		v = v << 8 | md[i];
	return (int64_t)v;
}
