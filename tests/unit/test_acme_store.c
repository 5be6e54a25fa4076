/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_acme_store.c — ACME state on disk (acme/store.c) and what is shown
 * to the CA during validation (acme/challenge.c): modes, reloads, refusal
 * of mismatched or expired pairs, the RFC 9773 certID, the HTTP-01 token
 * store and the RFC 8737 certificate.
 */
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acme/challenge.h"
#include "acme/jws.h"
#include "acme/store.h"
#include "tests/unit/harness.h"

static char *
tmpdir(void)
{
	static char path[64];

	snprintf(path, sizeof path, "/tmp/limen-test-store-XXXXXX");
	return mkdtemp(path);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
rmtree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int
mode_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

/* A certificate for name, signed by itself, with a fixed AKI and serial
 * (RFC 9773 §4.1's example values) and the given validity in days. */
static char *
make_cert(EVP_PKEY *key, const char *name, long from_days, long to_days)
{
	static const unsigned char aki_id[] = { 0x69, 0x88, 0x5B, 0x6B, 0x87,
	    0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C,
	    0xDE, 0x01, 0xC8, 0xD4 };
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	AUTHORITY_KEYID *aki = AUTHORITY_KEYID_new();
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long len;

	ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), 0x87654321);
	X509_set_version(x, X509_VERSION_3);
	X509_gmtime_adj(X509_getm_notBefore(x), from_days * 86400);
	X509_gmtime_adj(X509_getm_notAfter(x), to_days * 86400);
	X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_ASC,
	    (const unsigned char *)name, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, key);
	aki->keyid = ASN1_OCTET_STRING_new();
	ASN1_OCTET_STRING_set(aki->keyid, aki_id, sizeof aki_id);
	X509_add1_ext_i2d(x, NID_authority_key_identifier, aki, 0, 0);
	ASN1_STRING_set(ia5, name, -1);
	GENERAL_NAME_set0_value(g, GEN_DNS, ia5);
	sk_GENERAL_NAME_push(gens, g);
	X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0);
	X509_sign(x, key, EVP_sha256());
	PEM_write_bio_X509(b, x);
	len = BIO_get_mem_data(b, &data);
	out = malloc((size_t)len + 1);
	memcpy(out, data, (size_t)len);
	out[len] = '\0';
	BIO_free(b);
	GENERAL_NAMES_free(gens);
	AUTHORITY_KEYID_free(aki);
	X509_NAME_free(n);
	X509_free(x);
	return out;
}

static void
test_store_account_key_is_created_once_with_mode_0600(void)
{
	char *dir = tmpdir(), path[PATH_MAX];
	const char *err = NULL;
	bool created;
	EVP_PKEY *a, *b;

	REQUIRE(dir != NULL);
	a = store_account_key(dir, JWS_KEY_EC_P256, &created, &err);
	REQUIRE(a != NULL);
	CHECK(created);
	snprintf(path, sizeof path, "%s/acme/account.key", dir);
	CHECK_INT(mode_of(path), ==, 0600);
	snprintf(path, sizeof path, "%s/acme", dir);
	CHECK_INT(mode_of(path), ==, 0700);
	b = store_account_key(dir, JWS_KEY_EC_P256, &created, &err);
	REQUIRE(b != NULL);
	CHECK(!created);
	CHECK_INT(EVP_PKEY_eq(a, b), ==, 1);
	EVP_PKEY_free(b);
	/* a key others can read is refused, never silently replaced */
	snprintf(path, sizeof path, "%s/acme/account.key", dir);
	chmod(path, 0644);
	b = store_account_key(dir, JWS_KEY_EC_P256, &created, &err);
	CHECK(b == NULL);
	CHECK(err != NULL && strstr(err, "0600") != NULL);
	EVP_PKEY_free(a);
	rmtree(dir);
}

static void
test_store_saves_and_loads_a_pair(void)
{
	char *dir = tmpdir(), cpath[PATH_MAX], kpath[PATH_MAX];
	EVP_PKEY *key = jws_key_new(JWS_KEY_EC_P256);
	char *cert = make_cert(key, "x.example.com", -1, 89);
	char *kpem = jws_key_to_pem(key, NULL);
	struct store_cert info;
	const char *err = NULL;

	REQUIRE(dir != NULL && cert != NULL && kpem != NULL);
	CHECK_INT(store_cert_load(dir, "x.example.com", time(NULL), &info,
	    &err), ==, 0);
	CHECK(err == NULL);
	REQUIRE(store_cert_save(dir, "x.example.com", cert, strlen(cert),
	    kpem, strlen(kpem), &err) == 0);
	store_cert_paths(dir, "x.example.com", cpath, sizeof cpath, kpath,
	    sizeof kpath);
	CHECK_INT(mode_of(kpath), ==, 0600);
	REQUIRE(store_cert_load(dir, "x.example.com", time(NULL), &info,
	    &err) == 1);
	CHECK_INT(info.not_after - info.not_before, ==, 90 * 86400);
	CHECK_INT(info.obtained_at, >=, time(NULL) - 5);
	/* RFC 9773 §4.1 example: AKI 69:88:5B..., serial 00:87:65:43:21 */
	CHECK_STR(info.ari_id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
	CHECK_STR(info.serial, "87654321");
	store_cert_free(&info);
	/* the name must match */
	CHECK_INT(store_cert_check(cert, strlen(cert), "y.example.com", key,
	    time(NULL), NULL, &info, &err), ==, -1);
	CHECK_STR(err, "certificate is not for this name");
	free(cert);
	free(kpem);
	EVP_PKEY_free(key);
	rmtree(dir);
}

static void
test_store_treats_mismatched_or_expired_pairs_as_absent(void)
{
	char *dir = tmpdir();
	EVP_PKEY *key = jws_key_new(JWS_KEY_EC_P256);
	EVP_PKEY *other = jws_key_new(JWS_KEY_EC_P256);
	char *cert = make_cert(key, "m.example.com", -1, 89);
	char *old = make_cert(key, "e.example.com", -90, -1);
	char *kpem = jws_key_to_pem(other, NULL), *kgood = jws_key_to_pem(key,
	    NULL);
	struct store_cert info;
	const char *err = NULL;

	REQUIRE(dir != NULL);
	/* a crash between the two renames: new key, old certificate */
	REQUIRE(store_cert_save(dir, "m.example.com", cert, strlen(cert),
	    kpem, strlen(kpem), &err) == 0);
	CHECK_INT(store_cert_load(dir, "m.example.com", time(NULL), &info,
	    &err), ==, 0);
	CHECK_STR(err, "certificate does not match its key");
	REQUIRE(store_cert_save(dir, "e.example.com", old, strlen(old), kgood,
	    strlen(kgood), &err) == 0);
	CHECK_INT(store_cert_load(dir, "e.example.com", time(NULL), &info,
	    &err), ==, 0);
	CHECK_STR(err, "certificate has expired");
	CHECK_INT(store_cert_check("junk", 4, "m.example.com", NULL,
	    time(NULL), NULL, &info, &err), ==, -1);
	free(cert);
	free(old);
	free(kpem);
	free(kgood);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	rmtree(dir);
}

static void
test_challenge_store_serves_tokens_until_cleared(void)
{
	struct challenge_store *s = challenge_store_new();
	char buf[128];

	REQUIRE(s != NULL);
	CHECK_INT(challenge_store_lookup(s, "tok1", buf, sizeof buf), ==, -1);
	REQUIRE(challenge_store_set(s, "tok1", "tok1.thumb") == 0);
	REQUIRE(challenge_store_set(s, "tok2", "tok2.thumb") == 0);
	CHECK_INT(challenge_store_lookup(s, "tok1", buf, sizeof buf), ==, 10);
	CHECK_STR(buf, "tok1.thumb");
	/* too small a buffer is a miss, not a truncation */
	CHECK_INT(challenge_store_lookup(s, "tok1", buf, 10), ==, -1);
	REQUIRE(challenge_store_set(s, "tok1", "tok1.other") == 0);
	CHECK_INT(challenge_store_lookup(s, "tok1", buf, sizeof buf), ==, 10);
	CHECK_STR(buf, "tok1.other");
	challenge_store_clear(s, "tok1");
	CHECK_INT(challenge_store_lookup(s, "tok1", buf, sizeof buf), ==, -1);
	CHECK_INT(challenge_store_lookup(s, "tok2", buf, sizeof buf), ==, 10);
	challenge_store_free(s);
}

static void
test_challenge_http01_token_from_path(void)
{
	CHECK_STR(challenge_http01_token("/.well-known/acme-challenge/abc-_9"),
	    "abc-_9");
	CHECK(challenge_http01_token("/.well-known/acme-challenge/") == NULL);
	CHECK(challenge_http01_token("/.well-known/acme-challenge/a/b") == NULL);
	CHECK(challenge_http01_token("/.well-known/acme-challenge/..") == NULL);
	CHECK(challenge_http01_token("/.well-known/acme-challenge/a?x") == NULL);
	CHECK(challenge_http01_token("/other/abc") == NULL);
}

static void
test_challenge_tlsalpn_cert_carries_acme_identifier(void)
{
	char *cert_pem = NULL, *key_pem = NULL;
	BIO *b;
	X509 *x;
	EVP_PKEY *key;
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
	X509_EXTENSION *ext;
	const ASN1_OCTET_STRING *val;
	unsigned char md[32], want[34] = { 0x04, 0x20 };
	int idx;

	REQUIRE(challenge_tlsalpn_cert("t.example.com", "tok.thumb", &cert_pem,
	    &key_pem) == 0);
	b = BIO_new_mem_buf(cert_pem, -1);
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	REQUIRE(x != NULL);
	key = jws_key_from_pem(key_pem, strlen(key_pem));
	REQUIRE(key != NULL);
	CHECK_INT(X509_check_private_key(x, key), ==, 1);
	CHECK_INT(X509_check_host(x, "t.example.com", 0, 0, NULL), ==, 1);
	idx = X509_get_ext_by_OBJ(x, oid, -1);
	REQUIRE(idx >= 0);
	ext = X509_get_ext(x, idx);
	CHECK_INT(X509_EXTENSION_get_critical(ext), ==, 1);
	val = X509_EXTENSION_get_data(ext);
	EVP_Digest("tok.thumb", 9, md, NULL, EVP_sha256(), NULL);
	memcpy(want + 2, md, 32);
	CHECK_MEM(ASN1_STRING_get0_data(val), (size_t)ASN1_STRING_length(val),
	    want, sizeof want);
	ASN1_OBJECT_free(oid);
	EVP_PKEY_free(key);
	X509_free(x);
	free(cert_pem);
	free(key_pem);
}

HARNESS_MAIN(
    T(test_store_account_key_is_created_once_with_mode_0600),
    T(test_store_saves_and_loads_a_pair),
    T(test_store_treats_mismatched_or_expired_pairs_as_absent),
    T(test_challenge_store_serves_tokens_until_cleared),
    T(test_challenge_http01_token_from_path),
    T(test_challenge_tlsalpn_cert_carries_acme_identifier))
