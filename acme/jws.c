/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * jws.c — see jws.h.  JSON goes through jansson (never snprintf, so every
 * value is escaped), keys and signatures through OpenSSL 3's EVP and
 * OSSL_PARAM interfaces only (no deprecated EC_KEY / RSA calls).
 */
#include "acme/jws.h"
#include "common/base64.h"
#include "common/pkey.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
jws_b64url_len(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

int
jws_b64url_encode(const void *in, size_t n, char *out, size_t outsize)
{
	const unsigned char *p = in;
	size_t o = 0;

	if (n > (SIZE_MAX - 1) / 4 * 3 || outsize < jws_b64url_len(n) + 1)
		return -1;
	for (; n >= 3; p += 3, n -= 3) {
		uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
		out[o++] = b64url_alphabet[v >> 18 & 63];
		out[o++] = b64url_alphabet[v >> 12 & 63];
		out[o++] = b64url_alphabet[v >> 6 & 63];
		out[o++] = b64url_alphabet[v & 63];
	}
	if (n > 0) {
		uint32_t v = (uint32_t)p[0] << 16 | (n > 1 ? (uint32_t)p[1] << 8 : 0);
		out[o++] = b64url_alphabet[v >> 18 & 63];
		out[o++] = b64url_alphabet[v >> 12 & 63];
		if (n > 1)
			out[o++] = b64url_alphabet[v >> 6 & 63];
	}
	out[o] = '\0';
	return 0;
}

char *
jws_b64url(const void *in, size_t n)
{
	size_t len = jws_b64url_len(n) + 1;
	char *s = malloc(len);

	if (s == NULL)
		return NULL;
	if (jws_b64url_encode(in, n, s, len) == -1) {
		free(s);
		return NULL;
	}
	return s;
}

int
jws_b64url_decode(const char *in, size_t n, void *out, size_t outsize,
    size_t *outlen)
{
	return base64_decode(BASE64_URL_NOPAD, in, n, out, outsize, outlen);
}

EVP_PKEY *
jws_key_new(enum jws_key_type type)
{
	switch (type) {
	case JWS_KEY_EC_P256:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	case JWS_KEY_RSA_2048:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	}
	return NULL;
}

int
jws_key_type(EVP_PKEY *key)
{
	char group[64];

	if (key == NULL)
		return -1;
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_utf8_string_param(key,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL) != 1)
			return -1;
		if (strcmp(group, SN_X9_62_prime256v1) != 0)
			return -1;
		return JWS_KEY_EC_P256;
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(key) < 2048)
			return -1;
		return JWS_KEY_RSA_2048;
	}
	return -1;
}

const char *
jws_alg(EVP_PKEY *key)
{
	switch (jws_key_type(key)) {
	case JWS_KEY_EC_P256:
		return "ES256";
	case JWS_KEY_RSA_2048:
		return "RS256";
	}
	return NULL;
}

char *
jws_key_to_pem(EVP_PKEY *key, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long n;

	if (b == NULL)
		return NULL;
	if (PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1) {
		BIO_free(b);
		return NULL;
	}
	n = BIO_get_mem_data(b, &data);
	if (n > 0 && (out = malloc((size_t)n + 1)) != NULL) {
		memcpy(out, data, (size_t)n);
		out[n] = '\0';
		if (len)
			*len = (size_t)n;
	}
	/* the memory BIO held the key too */
	if (n > 0)
		OPENSSL_cleanse(data, (size_t)n);
	BIO_free(b);
	return out;
}

EVP_PKEY *
jws_key_from_pem(const char *pem, size_t len)
{
	BIO *b;
	EVP_PKEY *key;

	if (len > INT32_MAX || (b = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return NULL;
	key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (key != NULL && jws_key_type(key) == -1) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	return key;
}

/* A JWK member as a big number; NULL if absent or not base64url. */
static BIGNUM *
jwk_bn(const json_t *jwk, const char *member)
{
	const char *s = json_string_value(json_object_get(jwk, member));
	unsigned char buf[1024];
	size_t n;

	if (s == NULL ||
	    jws_b64url_decode(s, strlen(s), buf, sizeof buf, &n) == -1 ||
	    n == 0)
		return NULL;
	return BN_bin2bn(buf, (int)n, NULL);
}

static EVP_PKEY *
jwk_ec(const json_t *jwk)
{
	BIGNUM *x = jwk_bn(jwk, "x"), *y = jwk_bn(jwk, "y"), *d = NULL;
	unsigned char pub[65];
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *key = NULL;
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	int selection = EVP_PKEY_PUBLIC_KEY;

	if (crv == NULL || strcmp(crv, "P-256") != 0 || x == NULL ||
	    y == NULL || BN_num_bytes(x) > 32 || BN_num_bytes(y) > 32)
		goto done;
	pub[0] = 0x04;
	if (BN_bn2binpad(x, pub + 1, 32) != 32 ||
	    BN_bn2binpad(y, pub + 33, 32) != 32)
		goto done;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    SN_X9_62_prime256v1, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    pub, sizeof pub))
		goto done;
	if (json_object_get(jwk, "d") != NULL) {
		if ((d = jwk_bn(jwk, "d")) == NULL ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d))
			goto done;
		selection = EVP_PKEY_KEYPAIR;
	}
	key = pkey_fromdata_bld("EC", bld, selection);
done:
	OSSL_PARAM_BLD_free(bld);
	BN_free(x);
	BN_free(y);
	BN_clear_free(d);
	return key;
}

static EVP_PKEY *
jwk_rsa(const json_t *jwk)
{
	BIGNUM *n = jwk_bn(jwk, "n"), *e = jwk_bn(jwk, "e"), *d = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *key = NULL;
	int selection = EVP_PKEY_PUBLIC_KEY;

	if (n == NULL || e == NULL || (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		goto done;
	if (json_object_get(jwk, "d") != NULL) {
		if ((d = jwk_bn(jwk, "d")) == NULL ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d))
			goto done;
		selection = EVP_PKEY_KEYPAIR;
	}
	key = pkey_fromdata_bld("RSA", bld, selection);
done:
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	BN_clear_free(d);
	return key;
}

EVP_PKEY *
jws_key_from_jwk(const json_t *jwk)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	EVP_PKEY *key = NULL;

	if (kty == NULL)
		return NULL;
	if (strcmp(kty, "EC") == 0)
		key = jwk_ec(jwk);
	else if (strcmp(kty, "RSA") == 0)
		key = jwk_rsa(jwk);
	if (key != NULL && jws_key_type(key) == -1) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	return key;
}

/* A key parameter as base64url of its big-endian bytes (padded to pad
 * bytes when pad > 0: EC coordinates are fixed-length, RFC 7518 §6.2.1). */
static json_t *
param_b64(EVP_PKEY *key, const char *name, int pad)
{
	BIGNUM *bn = NULL;
	unsigned char buf[1024];
	int n;
	char *s;
	json_t *j = NULL;

	if (EVP_PKEY_get_bn_param(key, name, &bn) != 1)
		return NULL;
	n = pad > 0 ? BN_bn2binpad(bn, buf, pad) :
	    BN_num_bytes(bn) <= (int)sizeof buf ? BN_bn2bin(bn, buf) : -1;
	BN_free(bn);
	if (n <= 0 || (s = jws_b64url(buf, (size_t)n)) == NULL)
		return NULL;
	j = json_string(s);
	free(s);
	return j;
}

json_t *
jws_jwk(EVP_PKEY *key)
{
	json_t *jwk;

	switch (jws_key_type(key)) {
	case JWS_KEY_EC_P256:
		jwk = json_object();
		if (jwk == NULL ||
		    json_object_set_new(jwk, "kty", json_string("EC")) ||
		    json_object_set_new(jwk, "crv", json_string("P-256")) ||
		    json_object_set_new(jwk, "x",
		    param_b64(key, OSSL_PKEY_PARAM_EC_PUB_X, 32)) ||
		    json_object_set_new(jwk, "y",
		    param_b64(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32)))
			break;
		return jwk;
	case JWS_KEY_RSA_2048:
		jwk = json_object();
		if (jwk == NULL ||
		    json_object_set_new(jwk, "kty", json_string("RSA")) ||
		    json_object_set_new(jwk, "n",
		    param_b64(key, OSSL_PKEY_PARAM_RSA_N, 0)) ||
		    json_object_set_new(jwk, "e",
		    param_b64(key, OSSL_PKEY_PARAM_RSA_E, 0)))
			break;
		return jwk;
	default:
		return NULL;
	}
	json_decref(jwk);
	return NULL;
}

int
jws_thumbprint(EVP_PKEY *key, char out[JWS_THUMBPRINT_LEN + 1])
{
	json_t *jwk = jws_jwk(key);
	char *canon;
	unsigned char md[32];
	unsigned int mdlen;
	int rc = -1;

	if (jwk == NULL)
		return -1;
	/* RFC 7638 §3: required members only, sorted, no whitespace; the
	 * values are base64url or fixed names, so no escaping is involved */
	canon = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(jwk);
	if (canon == NULL)
		return -1;
	if (EVP_Digest(canon, strlen(canon), md, &mdlen, EVP_sha256(),
	    NULL) == 1 && mdlen == sizeof md)
		rc = jws_b64url_encode(md, mdlen, out, JWS_THUMBPRINT_LEN + 1);
	free(canon);
	return rc;
}

int
jws_sign_raw(EVP_PKEY *key, const void *data, size_t n, unsigned char *sig,
    size_t *siglen)
{
	EVP_MD_CTX *md = NULL;
	unsigned char der[512];
	size_t derlen = sizeof der;
	const unsigned char *p = der;
	ECDSA_SIG *es = NULL;
	const BIGNUM *r, *s;
	int type = jws_key_type(key), rc = -1;

	if (type == -1 || (md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &derlen, data, n) != 1)
		goto done;
	if (type == JWS_KEY_RSA_2048) {
		memcpy(sig, der, derlen);
		*siglen = derlen;
		rc = 0;
		goto done;
	}
	/* RFC 7518 §3.4: ES256 is R || S, each 32 bytes, not ASN.1 DER */
	if ((es = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL)
		goto done;
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, sig, 32) != 32 || BN_bn2binpad(s, sig + 32, 32) != 32)
		goto done;
	*siglen = 64;
	rc = 0;
done:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	return rc;
}

int
jws_verify_raw(EVP_PKEY *key, const void *data, size_t n,
    const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *md = NULL;
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *der = NULL;
	const unsigned char *check = sig;
	size_t checklen = siglen;
	int type = jws_key_type(key), rc = -1, len;

	if (type == -1)
		return -1;
	if (type == JWS_KEY_EC_P256) {
		if (siglen != 64 || (es = ECDSA_SIG_new()) == NULL ||
		    (r = BN_bin2bn(sig, 32, NULL)) == NULL ||
		    (s = BN_bin2bn(sig + 32, 32, NULL)) == NULL ||
		    ECDSA_SIG_set0(es, r, s) != 1)
			goto done;
		r = s = NULL;
		if ((len = i2d_ECDSA_SIG(es, &der)) <= 0)
			goto done;
		check = der;
		checklen = (size_t)len;
	}
	if ((md = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestVerify(md, check, checklen, data, n) == 1)
		rc = 0;
done:
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	BN_free(r);
	BN_free(s);
	return rc;
}

char *
jws_sign(EVP_PKEY *key, const char *kid, const char *nonce, const char *url,
    const char *payload)
{
	json_t *hdr = NULL, *out = NULL;
	char *hdr_json = NULL, *hdr_b64 = NULL, *pl_b64 = NULL, *input = NULL;
	char *sig_b64 = NULL, *result = NULL;
	unsigned char sig[512];
	size_t siglen, inlen;
	const char *alg = jws_alg(key);

	if (alg == NULL || nonce == NULL || url == NULL)
		return NULL;
	if ((hdr = json_object()) == NULL ||
	    json_object_set_new(hdr, "alg", json_string(alg)) ||
	    json_object_set_new(hdr, "nonce", json_string(nonce)) ||
	    json_object_set_new(hdr, "url", json_string(url)))
		goto done;
	if (kid != NULL) {
		if (json_object_set_new(hdr, "kid", json_string(kid)))
			goto done;
	} else if (json_object_set_new(hdr, "jwk", jws_jwk(key))) {
		goto done;
	}
	if ((hdr_json = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS)) == NULL ||
	    (hdr_b64 = jws_b64url(hdr_json, strlen(hdr_json))) == NULL ||
	    (pl_b64 = jws_b64url(payload ? payload : "",
	    payload ? strlen(payload) : 0)) == NULL)
		goto done;
	/* the signing input is ASCII(b64(header) "." b64(payload)) */
	inlen = strlen(hdr_b64) + 1 + strlen(pl_b64);
	if ((input = malloc(inlen + 1)) == NULL)
		goto done;
	snprintf(input, inlen + 1, "%s.%s", hdr_b64, pl_b64);
	if (jws_sign_raw(key, input, inlen, sig, &siglen) == -1 ||
	    (sig_b64 = jws_b64url(sig, siglen)) == NULL)
		goto done;
	if ((out = json_object()) == NULL ||
	    json_object_set_new(out, "protected", json_string(hdr_b64)) ||
	    json_object_set_new(out, "payload", json_string(pl_b64)) ||
	    json_object_set_new(out, "signature", json_string(sig_b64)))
		goto done;
	result = json_dumps(out, JSON_COMPACT);
done:
	json_decref(hdr);
	json_decref(out);
	free(hdr_json);
	free(hdr_b64);
	free(pl_b64);
	free(input);
	free(sig_b64);
	return result;
}

char *
jws_key_authorization(const char *token, EVP_PKEY *account_key)
{
	char tp[JWS_THUMBPRINT_LEN + 1];
	size_t len;
	char *s;

	if (jws_thumbprint(account_key, tp) == -1)
		return NULL;
	len = strlen(token) + 1 + JWS_THUMBPRINT_LEN + 1;
	if ((s = malloc(len)) == NULL)
		return NULL;
	snprintf(s, len, "%s.%s", token, tp);
	return s;
}

char *
jws_csr(EVP_PKEY *cert_key, const char *const *names, size_t n_names)
{
	X509_REQ *req = NULL;
	X509_NAME *subj = NULL;
	GENERAL_NAMES *gens = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	unsigned char *der = NULL;
	char *out = NULL;
	int len;

	if (n_names == 0 || jws_key_type(cert_key) == -1)
		return NULL;
	if ((req = X509_REQ_new()) == NULL ||
	    X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
	    X509_REQ_set_pubkey(req, cert_key) != 1 ||
	    (subj = X509_NAME_new()) == NULL)
		goto done;
	/* CN is optional for ACME; it is limited to 64 characters */
	if (strlen(names[0]) <= 64 && X509_NAME_add_entry_by_NID(subj,
	    NID_commonName, MBSTRING_ASC, (const unsigned char *)names[0], -1,
	    -1, 0) != 1)
		goto done;
	if (X509_REQ_set_subject_name(req, subj) != 1 ||
	    (gens = GENERAL_NAMES_new()) == NULL)
		goto done;
	for (size_t i = 0; i < n_names; i++) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

		if (g == NULL || ia5 == NULL ||
		    ASN1_STRING_set(ia5, names[i], -1) != 1) {
			GENERAL_NAME_free(g);
			ASN1_IA5STRING_free(ia5);
			goto done;
		}
		GENERAL_NAME_set0_value(g, GEN_DNS, ia5);
		if (sk_GENERAL_NAME_push(gens, g) == 0) {
			GENERAL_NAME_free(g);
			goto done;
		}
	}
	if (X509V3_add1_i2d(&exts, NID_subject_alt_name, gens, 0,
	    X509V3_ADD_DEFAULT) != 1 ||
	    X509_REQ_add_extensions(req, exts) != 1 ||
	    X509_REQ_sign(req, cert_key, EVP_sha256()) <= 0 ||
	    (len = i2d_X509_REQ(req, &der)) <= 0)
		goto done;
	out = jws_b64url(der, (size_t)len);
done:
	OPENSSL_free(der);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	X509_NAME_free(subj);
	X509_REQ_free(req);
	return out;
}
