/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * jwt.c — JWKS keys and bearer token verification (see jwt.h).
 *
 * The order of a verification is fixed so that nothing unverified is
 * trusted: split the token into three base64url parts, decode and parse
 * the protected header, refuse the algorithm unless it is in the table,
 * pick the keys that fit (kty/crv, the key's own alg, kid), verify the
 * signature over the ASCII "header.payload", and only then parse the
 * payload and check exp / nbf / iss / aud.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "acme/jws.h"
#include "common/pkey.h"
#include "conf/diag.h"
#include "proxy/jwt.h"

enum jwt_kty { KTY_RSA, KTY_EC_P256, KTY_EC_P384, KTY_ED25519 };
enum jwt_sigkind { SIG_PKCS1, SIG_PSS, SIG_ECDSA, SIG_EDDSA };

struct jwt_alg {
	const char *name;
	enum jwt_kty kty;
	enum jwt_sigkind kind;
	const char *md;			/* NULL for EdDSA */
	size_t ec_len;			/* bytes of r (and of s) for ECDSA */
};

static const struct jwt_alg jwt_algs[] = {
	{ "RS256", KTY_RSA, SIG_PKCS1, "SHA256", 0 },
	{ "RS384", KTY_RSA, SIG_PKCS1, "SHA384", 0 },
	{ "RS512", KTY_RSA, SIG_PKCS1, "SHA512", 0 },
	{ "PS256", KTY_RSA, SIG_PSS, "SHA256", 0 },
	{ "PS384", KTY_RSA, SIG_PSS, "SHA384", 0 },
	{ "PS512", KTY_RSA, SIG_PSS, "SHA512", 0 },
	{ "ES256", KTY_EC_P256, SIG_ECDSA, "SHA256", 32 },
	{ "ES384", KTY_EC_P384, SIG_ECDSA, "SHA384", 48 },
	{ "EdDSA", KTY_ED25519, SIG_EDDSA, NULL, 0 },
};
#define N_ALGS (sizeof jwt_algs / sizeof jwt_algs[0])

struct jwt_key {
	char *kid;			/* NULL if none */
	enum jwt_kty kty;
	const struct jwt_alg *alg;	/* the key's own alg, NULL if any */
	EVP_PKEY *pkey;
};

struct jwt_keyset {
	struct jwt_key keys[JWT_KEYS_MAX];
	size_t n;
};

struct jwt_token {
	json_t *header;
	json_t *claims;
	char *scratch[16];		/* formatted numbers for headers */
	size_t n_scratch;
};

static const struct jwt_alg *
alg_find(const char *name)
{
	for (size_t i = 0; i < N_ALGS; i++)
		if (strcmp(jwt_algs[i].name, name) == 0)
			return &jwt_algs[i];
	return NULL;
}

/* ---- JWKS ------------------------------------------------------------ */

/* A base64url member decoded into buf; its length, or -1. */
static long
jwk_bytes(const json_t *jwk, const char *member, unsigned char *buf,
    size_t cap)
{
	const char *s = json_string_value(json_object_get(jwk, member));
	size_t n;

	if (s == NULL || jws_b64url_decode(s, strlen(s), buf, cap, &n) == -1 ||
	    n == 0)
		return -1;
	return (long)n;
}

static EVP_PKEY *
jwk_rsa(const json_t *jwk, const char **why)
{
	unsigned char nb[1024], eb[16];
	long nl = jwk_bytes(jwk, "n", nb, sizeof nb);
	long el = jwk_bytes(jwk, "e", eb, sizeof eb);
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *key = NULL;

	*why = "RSA key needs base64url n and e";
	if (nl < 0 || el < 0)
		return NULL;
	n = BN_bin2bn(nb, (int)nl, NULL);
	e = BN_bin2bn(eb, (int)el, NULL);
	if (n == NULL || e == NULL)
		goto fail;
	*why = "RSA key shorter than 2048 bits";
	if (BN_num_bits(n) < 2048)
		goto fail;
	*why = "RSA exponent must be odd and > 1";
	if (!BN_is_odd(e) || BN_is_one(e))
		goto fail;
	*why = "invalid RSA key";
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		goto fail;
	key = pkey_fromdata_bld("RSA", bld, EVP_PKEY_PUBLIC_KEY);
fail:
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return key;
}

static EVP_PKEY *
jwk_ec(const json_t *jwk, enum jwt_kty kty, const char **why)
{
	size_t clen = kty == KTY_EC_P256 ? 32 : 48;
	unsigned char pub[1 + 2 * 48], x[64], y[64];
	long xl = jwk_bytes(jwk, "x", x, sizeof x);
	long yl = jwk_bytes(jwk, "y", y, sizeof y);
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *chk = NULL;
	EVP_PKEY *key;

	*why = "EC key needs x and y of the curve's size";
	if (xl != (long)clen || yl != (long)clen)
		return NULL;
	pub[0] = 0x04;
	memcpy(pub + 1, x, clen);
	memcpy(pub + 1 + clen, y, clen);
	params[0] = OSSL_PARAM_construct_utf8_string(
	    OSSL_PKEY_PARAM_GROUP_NAME,
	    kty == KTY_EC_P256 ? "P-256" : "P-384", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	    pub, 1 + 2 * clen);
	params[2] = OSSL_PARAM_construct_end();
	*why = "EC point is not on the curve";
	if ((key = pkey_fromdata("EC", params, EVP_PKEY_PUBLIC_KEY)) == NULL)
		return NULL;
	if ((chk = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL)) == NULL ||
	    EVP_PKEY_public_check(chk) != 1) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	EVP_PKEY_CTX_free(chk);
	return key;
}

static EVP_PKEY *
jwk_ed25519(const json_t *jwk, const char **why)
{
	unsigned char x[64];
	long xl = jwk_bytes(jwk, "x", x, sizeof x);

	*why = "Ed25519 key needs a 32-byte x";
	if (xl != 32)
		return NULL;
	return EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, 32);
}

static bool
jwk_has_private(const json_t *jwk)
{
	static const char *const priv[] = { "d", "p", "q", "dp", "dq", "qi",
	    "oth", "k" };

	for (size_t i = 0; i < sizeof priv / sizeof priv[0]; i++)
		if (json_object_get(jwk, priv[i]) != NULL)
			return true;
	return false;
}

/* 1 if added, 0 if skipped (warning), -1 on an error. */
static int
keyset_add(struct jwt_keyset *ks, const json_t *jwk, size_t idx,
    const char *name, struct diag *d)
{
	const char *kty, *crv, *use, *alg, *kid, *why = "";
	const json_t *kidj = json_object_get(jwk, "kid");
	struct jwt_key *k;
	enum jwt_kty t;
	EVP_PKEY *pkey = NULL;

	if (!json_is_object(jwk)) {
		diag_error(d, name, 0, 0, "keys[%zu]: not an object", idx);
		return -1;
	}
	kty = json_string_value(json_object_get(jwk, "kty"));
	crv = json_string_value(json_object_get(jwk, "crv"));
	use = json_string_value(json_object_get(jwk, "use"));
	alg = json_string_value(json_object_get(jwk, "alg"));
	kid = json_string_value(kidj);
	if (kty == NULL || (kidj != NULL && kid == NULL) ||
	    (json_object_get(jwk, "use") && use == NULL) ||
	    (json_object_get(jwk, "alg") && alg == NULL)) {
		diag_error(d, name, 0, 0, "keys[%zu]: kty, kid, use and alg "
		    "must be strings", idx);
		return -1;
	}
	if (strcmp(kty, "oct") == 0) {
		diag_warning(d, name, 0, 0, "keys[%zu]: symmetric keys are "
		    "not accepted, skipped", idx);
		return 0;
	}
	if (jwk_has_private(jwk)) {
		diag_error(d, name, 0, 0, "keys[%zu]: has private key members; "
		    "a JWKS for verification holds public keys only", idx);
		return -1;
	}
	if (use != NULL && strcmp(use, "sig") != 0) {
		diag_warning(d, name, 0, 0, "keys[%zu]: use \"%s\", skipped",
		    idx, use);
		return 0;
	}
	if (strcmp(kty, "RSA") == 0)
		t = KTY_RSA;
	else if (strcmp(kty, "EC") == 0 && crv && strcmp(crv, "P-256") == 0)
		t = KTY_EC_P256;
	else if (strcmp(kty, "EC") == 0 && crv && strcmp(crv, "P-384") == 0)
		t = KTY_EC_P384;
	else if (strcmp(kty, "OKP") == 0 && crv &&
	    strcmp(crv, "Ed25519") == 0)
		t = KTY_ED25519;
	else {
		diag_warning(d, name, 0, 0, "keys[%zu]: key type %s%s%s is not "
		    "supported, skipped", idx, kty, crv ? "/" : "",
		    crv ? crv : "");
		return 0;
	}
	const struct jwt_alg *a = NULL;
	if (alg != NULL) {
		if ((a = alg_find(alg)) == NULL) {
			diag_warning(d, name, 0, 0, "keys[%zu]: alg %s is not "
			    "supported, skipped", idx, alg);
			return 0;
		}
		if (a->kty != t) {
			diag_error(d, name, 0, 0, "keys[%zu]: alg %s does not "
			    "fit a %s key", idx, alg, kty);
			return -1;
		}
	}
	switch (t) {
	case KTY_RSA:
		pkey = jwk_rsa(jwk, &why);
		break;
	case KTY_EC_P256:
	case KTY_EC_P384:
		pkey = jwk_ec(jwk, t, &why);
		break;
	case KTY_ED25519:
		pkey = jwk_ed25519(jwk, &why);
		break;
	}
	if (pkey == NULL) {
		diag_error(d, name, 0, 0, "keys[%zu]: %s", idx, why);
		return -1;
	}
	if (ks->n == JWT_KEYS_MAX) {
		EVP_PKEY_free(pkey);
		diag_error(d, name, 0, 0, "more than %d keys", JWT_KEYS_MAX);
		return -1;
	}
	k = &ks->keys[ks->n];
	k->kid = NULL;
	if (kid != NULL && (k->kid = strdup(kid)) == NULL) {
		EVP_PKEY_free(pkey);
		diag_error(d, name, 0, 0, "out of memory");
		return -1;
	}
	k->kty = t;
	k->alg = a;
	k->pkey = pkey;
	ks->n++;
	return 1;
}

void
jwt_keyset_free(struct jwt_keyset *ks)
{
	if (ks == NULL)
		return;
	for (size_t i = 0; i < ks->n; i++) {
		free(ks->keys[i].kid);
		EVP_PKEY_free(ks->keys[i].pkey);
	}
	free(ks);
}

size_t
jwt_keyset_count(const struct jwt_keyset *ks)
{
	return ks->n;
}

struct jwt_keyset *
jwt_keyset_parse(const char *name, const char *text, size_t len,
    struct diag *d)
{
	struct jwt_keyset *ks = NULL;
	json_error_t jerr;
	json_t *root = NULL, *keys;
	size_t errors = d->n_errors, i;
	json_t *jwk;

	if (len > JWT_JWKS_MAX) {
		diag_error(d, name, 0, 0, "JWKS larger than %d bytes",
		    JWT_JWKS_MAX);
		return NULL;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		diag_error(d, name, jerr.line > 0 ? jerr.line : 0,
		    jerr.column > 0 ? jerr.column : 0, "JWKS: %s", jerr.text);
		return NULL;
	}
	keys = json_object_get(root, "keys");
	if (!json_is_array(keys)) {
		diag_error(d, name, 0, 0, "JWKS: no \"keys\" array");
		goto fail;
	}
	if ((ks = calloc(1, sizeof *ks)) == NULL) {
		diag_error(d, name, 0, 0, "out of memory");
		goto fail;
	}
	json_array_foreach(keys, i, jwk)
		(void)keyset_add(ks, jwk, i, name, d);
	if (d->n_errors != errors)
		goto fail;
	for (i = 0; i < ks->n; i++)
		for (size_t j = 0; j < i; j++)
			if (ks->keys[i].kid && ks->keys[j].kid &&
			    strcmp(ks->keys[i].kid, ks->keys[j].kid) == 0 &&
			    ks->keys[i].kty == ks->keys[j].kty)
				diag_warning(d, name, 0, 0, "two keys with kid "
				    "\"%s\"", ks->keys[i].kid);
	if (ks->n == 0) {
		diag_error(d, name, 0, 0, "JWKS has no usable signing key");
		goto fail;
	}
	json_decref(root);
	return ks;
fail:
	jwt_keyset_free(ks);
	json_decref(root);
	return NULL;
}

struct jwt_keyset *
jwt_keyset_load(const char *path, struct diag *d)
{
	struct jwt_keyset *ks = NULL;
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		diag_error(d, path, 0, 0, "cannot open JWKS: %s",
		    strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > JWT_JWKS_MAX) {
		diag_error(d, path, 0, 0, "JWKS must be a regular file of at "
		    "most %d bytes", JWT_JWKS_MAX);
		goto done;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		goto done;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			diag_error(d, path, 0, 0, "cannot read JWKS");
			goto done;
		}
		got += (size_t)r;
	}
	ks = jwt_keyset_parse(path, buf, got, d);
done:
	free(buf);
	close(fd);
	return ks;
}

/* ---- verification ---------------------------------------------------- */

/* Decode a base64url part and parse it as a JSON object. */
static json_t *
part_json(const char *s, size_t n)
{
	unsigned char *buf = malloc(n / 4 * 3 + 3);
	json_t *j = NULL;
	size_t len;

	if (buf == NULL)
		return NULL;
	if (jws_b64url_decode(s, n, buf, n / 4 * 3 + 3, &len) == 0)
		j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES,
		    NULL);
	free(buf);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* JOSE r||s into DER for OpenSSL; the DER length or -1. */
static int
ecdsa_der(const unsigned char *raw, size_t half, unsigned char **der)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, (int)half, NULL);
	BIGNUM *s = BN_bin2bn(raw + half, (int)half, NULL);
	int len = -1;

	if (sig == NULL || r == NULL || s == NULL ||
	    ECDSA_SIG_set0(sig, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		goto done;
	}
	*der = NULL;
	len = i2d_ECDSA_SIG(sig, der);
done:
	ECDSA_SIG_free(sig);
	return len;
}

static bool
sig_verify(const struct jwt_alg *a, EVP_PKEY *pkey, const char *input,
    size_t input_len, const unsigned char *sig, size_t sig_len)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char *der = NULL;
	bool ok = false;
	int derlen;

	if (mctx == NULL)
		return false;
	if (EVP_DigestVerifyInit_ex(mctx, &pctx, a->md, NULL, NULL, pkey,
	    NULL) != 1)
		goto done;
	if (a->kind == SIG_PSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
	    RSA_PSS_SALTLEN_DIGEST) != 1))
		goto done;
	if (a->kind == SIG_ECDSA) {
		if (sig_len != 2 * a->ec_len ||
		    (derlen = ecdsa_der(sig, a->ec_len, &der)) < 0)
			goto done;
		ok = EVP_DigestVerify(mctx, der, (size_t)derlen,
		    (const unsigned char *)input, input_len) == 1;
	} else
		ok = EVP_DigestVerify(mctx, sig, sig_len,
		    (const unsigned char *)input, input_len) == 1;
done:
	OPENSSL_free(der);
	EVP_MD_CTX_free(mctx);
	return ok;
}

static bool
aud_matches(const json_t *aud, const char *want)
{
	size_t i;
	json_t *v;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	if (json_is_array(aud))
		json_array_foreach(aud, i, v)
			if (json_is_string(v) &&
			    strcmp(json_string_value(v), want) == 0)
				return true;
	return false;
}

static bool
b64url_chars(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

enum jwt_result
jwt_verify_token(const struct jwt_keyset *ks,
    const struct conf_auth_jwt *policy, const char *tok, size_t len,
    time_t now, struct jwt_token **out)
{
	const char *dot1, *dot2, *algname, *kid = NULL;
	const struct jwt_alg *a;
	enum jwt_result res = JWT_MALFORMED;
	json_t *hdr = NULL, *claims = NULL, *kidj, *v;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	bool tried = false, verified = false;
	double leeway = policy ? (double)policy->leeway_ms / 1000.0 : 0;

	if (out != NULL)
		*out = NULL;
	if (len == 0 || len > JWT_TOKEN_MAX ||
	    (dot1 = memchr(tok, '.', len)) == NULL ||
	    (dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - tok))) ==
	    NULL || !b64url_chars(tok, (size_t)(dot1 - tok)) ||
	    !b64url_chars(dot1 + 1, (size_t)(dot2 - dot1 - 1)) ||
	    !b64url_chars(dot2 + 1, len - (size_t)(dot2 + 1 - tok)))
		return JWT_MALFORMED;
	if ((hdr = part_json(tok, (size_t)(dot1 - tok))) == NULL)
		goto done;
	algname = json_string_value(json_object_get(hdr, "alg"));
	if (algname == NULL)
		goto done;
	res = JWT_BAD_ALG;
	if ((a = alg_find(algname)) == NULL ||
	    json_object_get(hdr, "crit") != NULL)
		goto done;
	res = JWT_MALFORMED;
	if ((kidj = json_object_get(hdr, "kid")) != NULL &&
	    (kid = json_string_value(kidj)) == NULL)
		goto done;
	siglen = len - (size_t)(dot2 + 1 - tok);
	if ((sig = malloc(siglen / 4 * 3 + 3)) == NULL ||
	    jws_b64url_decode(dot2 + 1, siglen, sig, siglen / 4 * 3 + 3,
	    &siglen) == -1 || siglen == 0)
		goto done;
	for (size_t i = 0; ks != NULL && i < ks->n && !verified; i++) {
		const struct jwt_key *k = &ks->keys[i];

		if (k->kty != a->kty || (k->alg != NULL && k->alg != a) ||
		    (kid != NULL && (k->kid == NULL ||
		    strcmp(k->kid, kid) != 0)))
			continue;
		tried = true;
		verified = sig_verify(a, k->pkey, tok, (size_t)(dot2 - tok),
		    sig, siglen);
	}
	if (!verified) {
		res = tried ? JWT_BAD_SIGNATURE : JWT_NO_KEY;
		goto done;
	}
	/* signed: now the claims may be read */
	res = JWT_MALFORMED;
	if ((claims = part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1))) == NULL)
		goto done;
	v = json_object_get(claims, "exp");
	if (!json_is_number(v)) {
		res = v == NULL ? JWT_EXPIRED : JWT_MALFORMED;
		goto done;
	}
	if (!((double)now < json_number_value(v) + leeway)) {
		res = JWT_EXPIRED;
		goto done;
	}
	if ((v = json_object_get(claims, "nbf")) != NULL) {
		if (!json_is_number(v))
			goto done;
		if (json_number_value(v) > (double)now + leeway) {
			res = JWT_NOT_YET_VALID;
			goto done;
		}
	}
	if (policy != NULL && policy->issuer != NULL) {
		const char *iss = json_string_value(json_object_get(claims,
		    "iss"));

		if (iss == NULL || strcmp(iss, policy->issuer) != 0) {
			res = JWT_BAD_ISSUER;
			goto done;
		}
	}
	if (policy != NULL && policy->audience != NULL &&
	    !aud_matches(json_object_get(claims, "aud"), policy->audience)) {
		res = JWT_BAD_AUDIENCE;
		goto done;
	}
	res = JWT_OK;
	if (out != NULL) {
		struct jwt_token *t = calloc(1, sizeof *t);

		if (t == NULL) {
			res = JWT_MALFORMED;
			goto done;
		}
		t->header = hdr;
		t->claims = claims;
		hdr = claims = NULL;
		*out = t;
	}
done:
	free(sig);
	json_decref(hdr);
	json_decref(claims);
	return res;
}

enum jwt_result
jwt_verify(const struct jwt_keyset *ks, const struct conf_auth_jwt *policy,
    const char *value, size_t len, time_t now, struct jwt_token **out)
{
	size_t i;

	if (out != NULL)
		*out = NULL;
	if (value == NULL || len < 7 || strncasecmp(value, "bearer", 6) != 0 ||
	    value[6] != ' ')
		return JWT_MISSING;
	for (i = 7; i < len && value[i] == ' '; i++)
		;
	while (len > i && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	return jwt_verify_token(ks, policy, value + i, len - i, now, out);
}

void
jwt_token_free(struct jwt_token *t)
{
	if (t == NULL)
		return;
	json_decref(t->header);
	json_decref(t->claims);
	for (size_t i = 0; i < t->n_scratch; i++)
		free(t->scratch[i]);
	free(t);
}

const char *
jwt_token_claim_string(const struct jwt_token *t, const char *claim)
{
	return json_string_value(json_object_get(t->claims, claim));
}

static bool
header_value_ok(const char *s, size_t n)
{
	if (n > JWT_HEADER_VALUE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

size_t
jwt_claims_to_headers(struct jwt_token *t,
    const struct conf_auth_jwt *policy, struct jwt_header *out, size_t cap)
{
	size_t k = 0;

	for (size_t i = 0; i < policy->n_claims_to_headers && k < cap; i++) {
		const struct conf_header_kv *kv = &policy->claims_to_headers[i];
		json_t *v = json_object_get(t->claims, kv->name);
		char num[64], *s;

		if (json_is_string(v)) {
			const char *sv = json_string_value(v);
			size_t sl = json_string_length(v);

			if (!header_value_ok(sv, sl))
				continue;
			out[k].name = kv->value;
			out[k].value = sv;
			out[k].value_len = sl;
			k++;
			continue;
		}
		if (json_is_integer(v))
			snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
			    json_integer_value(v));
		else if (json_is_real(v) && isfinite(json_real_value(v))) {
			double r = json_real_value(v);

			if (r == floor(r) && fabs(r) < 9007199254740992.0)
				snprintf(num, sizeof num, "%.0f", r);
			else
				snprintf(num, sizeof num, "%.17g", r);
		} else
			continue;
		if (t->n_scratch == sizeof t->scratch / sizeof t->scratch[0] ||
		    (s = strdup(num)) == NULL)
			continue;
		t->scratch[t->n_scratch++] = s;
		out[k].name = kv->value;
		out[k].value = s;
		out[k].value_len = strlen(s);
		k++;
	}
	return k;
}

const char *
jwt_result_str(enum jwt_result r)
{
	switch (r) {
	case JWT_OK:
		return "ok";
	case JWT_MISSING:
		return "no bearer token";
	case JWT_MALFORMED:
		return "malformed token";
	case JWT_BAD_ALG:
		return "algorithm not accepted";
	case JWT_NO_KEY:
		return "no key for this token";
	case JWT_BAD_SIGNATURE:
		return "bad signature";
	case JWT_EXPIRED:
		return "token expired";
	case JWT_NOT_YET_VALID:
		return "token not yet valid";
	case JWT_BAD_ISSUER:
		return "wrong issuer";
	case JWT_BAD_AUDIENCE:
		return "wrong audience";
	}
	return "invalid token";
}

const char *
jwt_challenge(enum jwt_result r)
{
	switch (r) {
	case JWT_MISSING:
		return "Bearer";
	case JWT_EXPIRED:
		return "Bearer error=\"invalid_token\", "
		    "error_description=\"token expired\"";
	case JWT_NOT_YET_VALID:
		return "Bearer error=\"invalid_token\", "
		    "error_description=\"token not yet valid\"";
	case JWT_BAD_ISSUER:
	case JWT_BAD_AUDIENCE:
		return "Bearer error=\"invalid_token\", "
		    "error_description=\"token not for this service\"";
	default:
		return "Bearer error=\"invalid_token\"";
	}
}
