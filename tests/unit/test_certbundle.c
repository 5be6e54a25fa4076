/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_certbundle.c — loading certificate/key pairs (chains, names,
 * expiry, the pairs we refuse), the DNS-name check used on SNI, and the
 * self-signed generator.  Every certificate and key is generated here at
 * test time.
 */
#include "proxy/certbundle.h"
#include "tests/unit/harness.h"
#include "tests/unit/tls_testutil.h"

static void
test_certbundle_name_normalize_accepts_dns_names_only(void)
{
	char out[CERTBUNDLE_NAME_MAX + 1], big[300];

	CHECK_INT(certbundle_name_normalize("App.Example.COM.", 16, out, false),
	    ==, 15);
	CHECK_STR(out, "app.example.com");
	CHECK_INT(certbundle_name_normalize("*.example.com", 13, out, false),
	    ==, -1);
	CHECK_INT(certbundle_name_normalize("*.example.com", 13, out, true),
	    ==, 13);
	CHECK_INT(certbundle_name_normalize("a..b", 4, out, true), ==, -1);
	CHECK_INT(certbundle_name_normalize("a.*.b", 5, out, true), ==, -1);
	CHECK_INT(certbundle_name_normalize("a b", 3, out, true), ==, -1);
	CHECK_INT(certbundle_name_normalize("a\0b", 3, out, true), ==, -1);
	CHECK_INT(certbundle_name_normalize("", 0, out, true), ==, -1);
	CHECK_INT(certbundle_name_normalize(".", 1, out, true), ==, -1);
	CHECK_INT(certbundle_name_normalize("10.0.0.1", 8, out, false), ==, 8);
	memset(big, 'a', sizeof big);
	CHECK_INT(certbundle_name_normalize(big, 64, out, false), ==, -1);
	CHECK_INT(certbundle_name_normalize(big, 63, out, false), ==, 63);
	for (int i = 63; i < 254; i += 64)
		big[i] = '.';
	CHECK_INT(certbundle_name_normalize(big, 254, out, false), ==, -1);
}

static void
test_certbundle_load_reads_chain_names_and_expiry(void)
{
	EVP_PKEY *cak = tu_key(CERTBUNDLE_KEY_ECDSA);
	EVP_PKEY *k = tu_key(CERTBUNDLE_KEY_ECDSA);
	X509 *ca = tu_cert(cak, "Test CA", NULL, NULL, NULL, 1, -60, 86400 * 10);
	X509 *leaf = tu_cert(k, "www.example.com",
	    "DNS:www.example.com,DNS:*.Example.com,IP:127.0.0.1", ca, cak, 0,
	    -60, 86400);
	STACK_OF(X509) *chain = sk_X509_new_null();
	const char *cp, *kp;
	char err[256] = "";
	struct cert_bundle *b;

	sk_X509_push(chain, ca);
	tu_write_pem(leaf, chain, k, "chain", &cp, &kp);
	b = certbundle_load(cp, kp, err, sizeof err);
	REQUIRE(b != NULL);
	CHECK_INT(certbundle_type(b), ==, CERTBUNDLE_KEY_ECDSA);
	CHECK_INT(sk_X509_num(certbundle_chain(b)), ==, 1);
	CHECK_INT(certbundle_n_names(b), ==, 2);
	CHECK_STR(certbundle_name(b, 0), "www.example.com");
	CHECK_STR(certbundle_name(b, 1), "*.example.com");
	CHECK(certbundle_not_after(b) > time(NULL) + 86000);
	CHECK(certbundle_not_after(b) <= time(NULL) + 86400);
	certbundle_unref(b);
	sk_X509_free(chain);
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(k);
	EVP_PKEY_free(cak);
}

static void
test_certbundle_without_san_uses_cn(void)
{
	EVP_PKEY *k = tu_key(CERTBUNDLE_KEY_ECDSA);
	X509 *x = tu_cert(k, "Legacy.Example.ORG", NULL, NULL, NULL, 0, -60,
	    86400);
	char err[256];
	struct cert_bundle *b = certbundle_new(x, NULL, k, err,
	    sizeof err);

	REQUIRE(b != NULL);
	CHECK_INT(certbundle_n_names(b), ==, 1);
	CHECK_STR(certbundle_name(b, 0), "legacy.example.org");
	certbundle_unref(b);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void
test_certbundle_load_rejects_bad_pairs(void)
{
	EVP_PKEY *k1 = tu_key(CERTBUNDLE_KEY_ECDSA);
	EVP_PKEY *k2 = tu_key(CERTBUNDLE_KEY_ECDSA);
	EVP_PKEY *weak = EVP_RSA_gen(1024);
	X509 *x1 = tu_cert(k1, "a.example", "DNS:a.example", NULL, NULL, 0,
	    -60, 86400);
	X509 *xw = tu_cert(weak, "w.example", "DNS:w.example", NULL, NULL, 0,
	    -60, 86400);
	const char *cp, *kp;
	char err[256] = "";
	FILE *f;

	/* the key of another certificate */
	tu_write_pem(x1, NULL, k2, "mismatch", &cp, &kp);
	CHECK(certbundle_load(cp, kp, err, sizeof err) == NULL);
	CHECK(strstr(err, "does not match") != NULL);
	/* RSA under 2048 bits */
	REQUIRE(weak != NULL);
	tu_write_pem(xw, NULL, weak, "weak", &cp, &kp);
	CHECK(certbundle_load(cp, kp, err, sizeof err) == NULL);
	CHECK(strstr(err, "not usable") != NULL);
	/* a missing file, named in the message */
	CHECK(certbundle_load("/nonexistent/x.crt", kp, err,
	    sizeof err) == NULL);
	CHECK(strstr(err, "/nonexistent/x.crt") != NULL);
	/* an encrypted key: refused, never a passphrase prompt */
	tu_write_pem(x1, NULL, k1, "enc", &cp, &kp);
	REQUIRE((f = fopen(kp, "w")) != NULL);
	PEM_write_PrivateKey(f, k1, EVP_aes_128_cbc(),
	    (unsigned char *)"secret", 6, NULL, NULL);
	fclose(f);
	CHECK(certbundle_load(cp, kp, err, sizeof err) == NULL);
	CHECK(strstr(err, "encrypted") != NULL);
	/* garbage where the certificate should be */
	cp = harness_tmpfile(".crt", "not a certificate\n");
	CHECK(certbundle_load(cp, kp, err, sizeof err) == NULL);
	CHECK(ERR_peek_error() == 0);
	X509_free(x1);
	X509_free(xw);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(weak);
}

static void
test_certbundle_selfsigned_rsa_and_wildcards(void)
{
	const char *names[] = { "a.example", "*.b.example" };
	char err[256] = "";
	struct cert_bundle *b = certbundle_selfsigned(names, 2,
	    CERTBUNDLE_KEY_RSA, 3600, err, sizeof err);
	const char *bad[] = { "a b" };

	REQUIRE(b != NULL);
	CHECK_INT(certbundle_type(b), ==, CERTBUNDLE_KEY_RSA);
	CHECK_INT(certbundle_n_names(b), ==, 2);
	CHECK(X509_check_host(certbundle_leaf(b), "x.b.example", 0, 0,
	    NULL) == 1);
	certbundle_unref(b);
	CHECK(certbundle_selfsigned(bad, 1, CERTBUNDLE_KEY_ECDSA, 3600, err,
	    sizeof err) == NULL);
	CHECK(certbundle_selfsigned(NULL, 0, CERTBUNDLE_KEY_ECDSA, 3600, err,
	    sizeof err) == NULL);
}

HARNESS_MAIN(
    T(test_certbundle_name_normalize_accepts_dns_names_only),
    T(test_certbundle_load_reads_chain_names_and_expiry),
    T(test_certbundle_without_san_uses_cn),
    T(test_certbundle_load_rejects_bad_pairs),
    T(test_certbundle_selfsigned_rsa_and_wildcards))
