/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_jws.c — acme/jws.c against the published examples: RFC 4648
 * (base64url), RFC 7515 appendices A.2 (RS256, deterministic, so the
 * signature must match byte for byte) and A.3 (ES256, randomised, so the
 * published signature must verify and ours must verify), RFC 7638 §3.1
 * (thumbprint).  The integration test test_acme_jws.py checks the same
 * JWS output with python3-jwcrypto, an independent implementation.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acme/jws.h"
#include "tests/unit/harness.h"

/* RFC 7515 A.2 / A.3: the JWS Payload of A.1, as base64url */
#define RFC_PAYLOAD "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6" \
	"Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"

static const char a2_n[] =
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qP"
    "CJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47s"
    "oMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2"
    "R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoud"
    "F8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
static const char a2_d[] =
    "Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgv"
    "fTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f"
    "3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQl"
    "BjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuh"
    "LhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ";
static const char a2_sig[] =
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4B"
    "h-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZ"
    "LgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_d"
    "O--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6"
    "LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

static const char a3_x[] = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
static const char a3_y[] = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
static const char a3_d[] = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
static const char a3_sig[] =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKT"
    "UJqPP3-Kg6NU1Q";

static const char rfc7638_n[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aP"
    "FFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl9"
    "3lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdA"
    "ZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3"
    "XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

static EVP_PKEY *
key_ec_a3(int with_private)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv",
	    "P-256", "x", a3_x, "y", a3_y);
	EVP_PKEY *k;

	if (with_private)
		json_object_set_new(j, "d", json_string(a3_d));
	k = jws_key_from_jwk(j);
	json_decref(j);
	return k;
}

static EVP_PKEY *
key_rsa_a2(void)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "kty", "RSA", "n", a2_n,
	    "e", "AQAB", "d", a2_d);
	EVP_PKEY *k = jws_key_from_jwk(j);

	json_decref(j);
	return k;
}

static void
test_jws_b64url_encodes_rfc4648_vectors(void)
{
	static const char *const in[] = { "", "f", "fo", "foo", "foob",
	    "fooba", "foobar" };
	static const char *const want[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg",
	    "Zm9vYmE", "Zm9vYmFy" };
	char buf[16];

	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
		CHECK_INT(jws_b64url_encode(in[i], strlen(in[i]), buf,
		    sizeof buf), ==, 0);
		CHECK_STR(buf, want[i]);
		CHECK_INT(jws_b64url_len(strlen(in[i])), ==, strlen(want[i]));
	}
	/* the URL-safe alphabet: 0xfb 0xff -> "-_8" (not "+/8") */
	CHECK_INT(jws_b64url_encode("\xfb\xff", 2, buf, sizeof buf), ==, 0);
	CHECK_STR(buf, "-_8");
	/* a buffer one byte short is refused */
	CHECK_INT(jws_b64url_encode("foobar", 6, buf, 8), ==, -1);
}

static void
test_jws_b64url_decode_is_strict(void)
{
	unsigned char out[16];
	size_t n;

	CHECK_INT(jws_b64url_decode("Zm9vYmFy", 8, out, sizeof out, &n), ==, 0);
	CHECK_MEM(out, n, "foobar", 6);
	CHECK_INT(jws_b64url_decode("Zm9vYg", 6, out, sizeof out, &n), ==, 0);
	CHECK_MEM(out, n, "foob", 4);
	CHECK_INT(jws_b64url_decode("-_8", 3, out, sizeof out, &n), ==, 0);
	CHECK_MEM(out, n, "\xfb\xff", 2);
	/* padding, standard alphabet, impossible length, dirty trailing bits */
	CHECK_INT(jws_b64url_decode("Zg==", 4, out, sizeof out, &n), ==, -1);
	CHECK_INT(jws_b64url_decode("+/8", 3, out, sizeof out, &n), ==, -1);
	CHECK_INT(jws_b64url_decode("Zm9vY", 5, out, sizeof out, &n), ==, -1);
	CHECK_INT(jws_b64url_decode("Zh", 2, out, sizeof out, &n), ==, -1);
	CHECK_INT(jws_b64url_decode("Zm\n9v", 5, out, sizeof out, &n), ==, -1);
	/* output bound */
	CHECK_INT(jws_b64url_decode("Zm9vYmFy", 8, out, 5, &n), ==, -1);
}

static void
test_jws_thumbprint_matches_rfc7638_example(void)
{
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "n",
	    rfc7638_n, "e", "AQAB", "alg", "RS256", "kid", "2011-04-29");
	EVP_PKEY *k = jws_key_from_jwk(j);
	char tp[JWS_THUMBPRINT_LEN + 1];

	json_decref(j);
	REQUIRE(k != NULL);
	CHECK_INT(jws_thumbprint(k, tp), ==, 0);
	CHECK_STR(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	EVP_PKEY_free(k);
}

static void
test_jws_thumbprint_of_ec_key_uses_crv_kty_x_y(void)
{
	EVP_PKEY *k = key_ec_a3(0);
	char tp[JWS_THUMBPRINT_LEN + 1];
	json_t *jwk;

	REQUIRE(k != NULL);
	jwk = jws_jwk(k);
	CHECK_STR(json_string_value(json_object_get(jwk, "x")), a3_x);
	CHECK_STR(json_string_value(json_object_get(jwk, "y")), a3_y);
	CHECK_INT(json_object_size(jwk), ==, 4);
	json_decref(jwk);
	CHECK_INT(jws_thumbprint(k, tp), ==, 0);
	/* computed independently with python3-jwcrypto's JWK.thumbprint() */
	CHECK_STR(tp, "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U");
	EVP_PKEY_free(k);
}

static void
test_jws_rs256_signature_matches_rfc7515_a2(void)
{
	const char *input = "eyJhbGciOiJSUzI1NiJ9." RFC_PAYLOAD;
	EVP_PKEY *k = key_rsa_a2();
	unsigned char sig[512];
	size_t n;
	char *b64;

	REQUIRE(k != NULL);
	CHECK_STR(jws_alg(k), "RS256");
	CHECK_INT(jws_sign_raw(k, input, strlen(input), sig, &n), ==, 0);
	b64 = jws_b64url(sig, n);
	CHECK_STR(b64, a2_sig);
	CHECK_INT(jws_verify_raw(k, input, strlen(input), sig, n), ==, 0);
	free(b64);
	EVP_PKEY_free(k);
}

static void
test_jws_es256_verifies_rfc7515_a3_and_our_own(void)
{
	const char *input = "eyJhbGciOiJFUzI1NiJ9." RFC_PAYLOAD;
	EVP_PKEY *pub = key_ec_a3(0), *priv = key_ec_a3(1);
	unsigned char sig[512], ours[512];
	size_t n, m;

	REQUIRE(pub != NULL && priv != NULL);
	CHECK_STR(jws_alg(priv), "ES256");
	REQUIRE(jws_b64url_decode(a3_sig, strlen(a3_sig), sig, sizeof sig,
	    &n) == 0);
	CHECK_INT(n, ==, 64);
	CHECK_INT(jws_verify_raw(pub, input, strlen(input), sig, n), ==, 0);
	/* a flipped bit fails */
	sig[10] ^= 1;
	CHECK_INT(jws_verify_raw(pub, input, strlen(input), sig, n), ==, -1);
	CHECK_INT(jws_sign_raw(priv, input, strlen(input), ours, &m), ==, 0);
	CHECK_INT(m, ==, 64);
	CHECK_INT(jws_verify_raw(pub, input, strlen(input), ours, m), ==, 0);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(priv);
}

/* Decode one member of a flattened JWS into a NUL-terminated string. */
static char *
member_decoded(json_t *jws, const char *name)
{
	const char *s = json_string_value(json_object_get(jws, name));
	char *out;
	size_t n;

	if (s == NULL || (out = malloc(strlen(s) + 1)) == NULL)
		return NULL;
	if (jws_b64url_decode(s, strlen(s), out, strlen(s), &n) == -1) {
		free(out);
		return NULL;
	}
	out[n] = '\0';
	return out;
}

static void
test_jws_sign_builds_flattened_jws_with_jwk_or_kid(void)
{
	EVP_PKEY *k = jws_key_new(JWS_KEY_EC_P256);
	char *body, *hdr_s = NULL, *pl = NULL, *input = NULL;
	json_t *jws = NULL, *hdr = NULL, *jwk;
	unsigned char sig[128];
	size_t n;

	REQUIRE(k != NULL);
	body = jws_sign(k, NULL, "nonce-1", "https://ca.test/new-acct",
	    "{\"termsOfServiceAgreed\":true}");
	REQUIRE(body != NULL);
	jws = json_loads(body, 0, NULL);
	REQUIRE(jws != NULL);
	CHECK_INT(json_object_size(jws), ==, 3);
	hdr_s = member_decoded(jws, "protected");
	pl = member_decoded(jws, "payload");
	REQUIRE(hdr_s != NULL && pl != NULL);
	CHECK_STR(pl, "{\"termsOfServiceAgreed\":true}");
	hdr = json_loads(hdr_s, 0, NULL);
	REQUIRE(hdr != NULL);
	CHECK_STR(json_string_value(json_object_get(hdr, "alg")), "ES256");
	CHECK_STR(json_string_value(json_object_get(hdr, "nonce")), "nonce-1");
	CHECK_STR(json_string_value(json_object_get(hdr, "url")),
	    "https://ca.test/new-acct");
	CHECK(json_object_get(hdr, "kid") == NULL);
	jwk = json_object_get(hdr, "jwk");
	CHECK_STR(json_string_value(json_object_get(jwk, "kty")), "EC");
	/* the signature covers protected "." payload as sent */
	n = strlen(json_string_value(json_object_get(jws, "protected"))) + 1 +
	    strlen(json_string_value(json_object_get(jws, "payload")));
	input = malloc(n + 1);
	snprintf(input, n + 1, "%s.%s",
	    json_string_value(json_object_get(jws, "protected")),
	    json_string_value(json_object_get(jws, "payload")));
	{
		const char *s = json_string_value(json_object_get(jws,
		    "signature"));
		size_t sl;
		REQUIRE(jws_b64url_decode(s, strlen(s), sig, sizeof sig,
		    &sl) == 0);
		CHECK_INT(jws_verify_raw(k, input, n, sig, sl), ==, 0);
	}
	free(body);
	free(hdr_s);
	free(pl);
	json_decref(jws);
	json_decref(hdr);

	/* with a kid, no jwk, and POST-as-GET has an empty payload */
	body = jws_sign(k, "https://ca.test/acct/1", "n2",
	    "https://ca.test/order/1", NULL);
	REQUIRE(body != NULL);
	jws = json_loads(body, 0, NULL);
	CHECK_STR(json_string_value(json_object_get(jws, "payload")), "");
	hdr_s = member_decoded(jws, "protected");
	hdr = json_loads(hdr_s, 0, NULL);
	CHECK_STR(json_string_value(json_object_get(hdr, "kid")),
	    "https://ca.test/acct/1");
	CHECK(json_object_get(hdr, "jwk") == NULL);
	free(body);
	free(hdr_s);
	free(input);
	json_decref(jws);
	json_decref(hdr);
	EVP_PKEY_free(k);
}

static void
test_jws_key_authorization_is_token_dot_thumbprint(void)
{
	EVP_PKEY *k = key_ec_a3(0);
	char *ka = jws_key_authorization("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", k);

	CHECK_STR(ka, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA."
	    "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U");
	free(ka);
	EVP_PKEY_free(k);
}

static void
check_csr(enum jws_key_type type)
{
	static const char *const names[] = { "a.example.com", "b.example.com" };
	EVP_PKEY *k = jws_key_new(type), *pub;
	char *csr = jws_csr(k, names, 2);
	unsigned char der[4096];
	const unsigned char *p = der;
	size_t n;
	X509_REQ *req = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *gens = NULL;
	char cn[128];

	REQUIRE(k != NULL && csr != NULL);
	REQUIRE(jws_b64url_decode(csr, strlen(csr), der, sizeof der, &n) == 0);
	req = d2i_X509_REQ(NULL, &p, (long)n);
	REQUIRE(req != NULL);
	pub = X509_REQ_get0_pubkey(req);
	CHECK_INT(EVP_PKEY_eq(pub, k), ==, 1);
	CHECK_INT(X509_REQ_verify(req, pub), ==, 1);
	CHECK_INT(X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req),
	    NID_commonName, cn, sizeof cn), >, 0);
	CHECK_STR(cn, "a.example.com");
	exts = X509_REQ_get_extensions(req);
	gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	REQUIRE(gens != NULL);
	CHECK_INT(sk_GENERAL_NAME_num(gens), ==, 2);
	for (int i = 0; i < sk_GENERAL_NAME_num(gens) && i < 2; i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		CHECK_INT(g->type, ==, GEN_DNS);
		CHECK_MEM(ASN1_STRING_get0_data(g->d.dNSName),
		    (size_t)ASN1_STRING_length(g->d.dNSName), names[i],
		    strlen(names[i]));
	}
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	free(csr);
	EVP_PKEY_free(k);
}

static void
test_jws_csr_lists_every_name_for_ec_key(void)
{
	check_csr(JWS_KEY_EC_P256);
}

static void
test_jws_csr_lists_every_name_for_rsa_key(void)
{
	check_csr(JWS_KEY_RSA_2048);
}

static void
test_jws_key_pem_round_trip_and_unsupported_keys(void)
{
	EVP_PKEY *k = jws_key_new(JWS_KEY_EC_P256), *back, *p384;
	size_t len;
	char *pem = jws_key_to_pem(k, &len), *pem384;

	REQUIRE(pem != NULL);
	CHECK(strstr(pem, "BEGIN PRIVATE KEY") != NULL);
	back = jws_key_from_pem(pem, len);
	REQUIRE(back != NULL);
	CHECK_INT(EVP_PKEY_eq(k, back), ==, 1);
	CHECK_INT(jws_key_type(back), ==, JWS_KEY_EC_P256);
	CHECK(jws_key_from_pem("garbage", 7) == NULL);
	/* other curves are refused: the JWK and alg would be wrong */
	p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	REQUIRE(p384 != NULL);
	CHECK_INT(jws_key_type(p384), ==, -1);
	CHECK(jws_alg(p384) == NULL);
	pem384 = jws_key_to_pem(p384, &len);
	CHECK(jws_key_from_pem(pem384, len) == NULL);
	OPENSSL_cleanse(pem, strlen(pem));
	free(pem);
	free(pem384);
	EVP_PKEY_free(k);
	EVP_PKEY_free(back);
	EVP_PKEY_free(p384);
}

HARNESS_MAIN(
    T(test_jws_b64url_encodes_rfc4648_vectors),
    T(test_jws_b64url_decode_is_strict),
    T(test_jws_thumbprint_matches_rfc7638_example),
    T(test_jws_thumbprint_of_ec_key_uses_crv_kty_x_y),
    T(test_jws_rs256_signature_matches_rfc7515_a2),
    T(test_jws_es256_verifies_rfc7515_a3_and_our_own),
    T(test_jws_sign_builds_flattened_jws_with_jwk_or_kid),
    T(test_jws_key_authorization_is_token_dot_thumbprint),
    T(test_jws_csr_lists_every_name_for_ec_key),
    T(test_jws_csr_lists_every_name_for_rsa_key),
    T(test_jws_key_pem_round_trip_and_unsupported_keys))
