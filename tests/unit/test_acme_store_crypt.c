/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_acme_store_crypt.c — sealing of private keys for the shared
 * PostgreSQL store and the per-name lock keys (acme/store_crypt.c).
 */
#include <stdlib.h>
#include <string.h>

#include "acme/store_crypt.h"
#include "tests/unit/harness.h"

static const char pem[] = "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n"
    "-----END PRIVATE KEY-----\n";

static void
test_store_crypt_round_trip_gives_back_the_plaintext(void)
{
	uint8_t key[STORE_CRYPT_KEY_LEN], *blob;
	size_t blen, plen;
	char *plain;

	REQUIRE(store_crypt_derive("correct horse", 13, key) == 0);
	REQUIRE(store_crypt_seal(key, "cert:a.example.com", pem,
	    sizeof pem - 1, &blob, &blen) == 0);
	CHECK_INT(blen, ==, sizeof pem - 1 + STORE_CRYPT_OVERHEAD);
	CHECK_MEM(blob, 4, "LSK1", 4);
	/* no plaintext PEM in the blob */
	CHECK(memmem(blob, blen, "PRIVATE KEY", 11) == NULL);
	REQUIRE(store_crypt_open(key, "cert:a.example.com", blob, blen,
	    &plain, &plen) == 0);
	CHECK_MEM(plain, plen, pem, sizeof pem - 1);
	CHECK_INT(plain[plen], ==, 0);
	free(plain);
	free(blob);
}

static void
test_store_crypt_seals_with_a_fresh_nonce_each_time(void)
{
	uint8_t key[STORE_CRYPT_KEY_LEN], *a, *b;
	size_t al, bl;

	REQUIRE(store_crypt_derive("k", 1, key) == 0);
	REQUIRE(store_crypt_seal(key, "x", pem, sizeof pem - 1, &a, &al) == 0);
	REQUIRE(store_crypt_seal(key, "x", pem, sizeof pem - 1, &b, &bl) == 0);
	CHECK(memcmp(a + 4, b + 4, 12) != 0);
	CHECK(memcmp(a, b, al) != 0);
	free(a);
	free(b);
}

static void
test_store_crypt_wrong_key_opens_nothing(void)
{
	uint8_t k1[STORE_CRYPT_KEY_LEN], k2[STORE_CRYPT_KEY_LEN], *blob;
	size_t blen, plen = 99;
	char *plain = (char *)1;

	REQUIRE(store_crypt_derive("secret one", 10, k1) == 0);
	REQUIRE(store_crypt_derive("secret two", 10, k2) == 0);
	CHECK(memcmp(k1, k2, sizeof k1) != 0);
	REQUIRE(store_crypt_seal(k1, "account", pem, sizeof pem - 1, &blob,
	    &blen) == 0);
	CHECK_INT(store_crypt_open(k2, "account", blob, blen, &plain, &plen),
	    ==, -1);
	CHECK(plain == NULL);
	free(blob);
}

static void
test_store_crypt_refuses_other_context_tamper_and_truncation(void)
{
	uint8_t key[STORE_CRYPT_KEY_LEN], *blob;
	size_t blen, plen;
	char *plain;

	REQUIRE(store_crypt_derive("s", 1, key) == 0);
	REQUIRE(store_crypt_seal(key, "cert:a.example.com", pem,
	    sizeof pem - 1, &blob, &blen) == 0);
	/* a row copied under another name */
	CHECK_INT(store_crypt_open(key, "cert:b.example.com", blob, blen,
	    &plain, &plen), ==, -1);
	/* one flipped bit of ciphertext, tag, nonce */
	for (size_t at = 4; at < blen; at += blen / 7) {
		blob[at] ^= 1;
		CHECK_INT(store_crypt_open(key, "cert:a.example.com", blob,
		    blen, &plain, &plen), ==, -1);
		blob[at] ^= 1;
	}
	CHECK_INT(store_crypt_open(key, "cert:a.example.com", blob, blen - 1,
	    &plain, &plen), ==, -1);
	CHECK_INT(store_crypt_open(key, "cert:a.example.com", blob, 10,
	    &plain, &plen), ==, -1);
	blob[0] = 'X';
	CHECK_INT(store_crypt_open(key, "cert:a.example.com", blob, blen,
	    &plain, &plen), ==, -1);
	free(blob);
}

static void
test_store_crypt_derive_is_stable_and_needs_a_secret(void)
{
	uint8_t a[STORE_CRYPT_KEY_LEN], b[STORE_CRYPT_KEY_LEN];

	REQUIRE(store_crypt_derive("same", 4, a) == 0);
	REQUIRE(store_crypt_derive("same", 4, b) == 0);
	CHECK_MEM(a, sizeof a, b, sizeof b);
	CHECK_INT(store_crypt_derive("", 0, a), ==, -1);
}

static void
test_store_crypt_lock_key_is_sha256_prefix_of_the_name(void)
{
	/* python3: struct.unpack('>q', sha256(b'limen-acme-order:' +
	 * name).digest()[:8]) */
	CHECK_INT(store_crypt_lock_key("a.example.com"), ==,
	    -6559082398946119759LL);
	CHECK_INT(store_crypt_lock_key("b.example.com"), ==,
	    -3487064150932414667LL);
	CHECK_INT(store_crypt_lock_key("a.example.com"), ==,
	    store_crypt_lock_key("a.example.com"));
}

HARNESS_MAIN(T(test_store_crypt_round_trip_gives_back_the_plaintext),
    T(test_store_crypt_seals_with_a_fresh_nonce_each_time),
    T(test_store_crypt_wrong_key_opens_nothing),
    T(test_store_crypt_refuses_other_context_tamper_and_truncation),
    T(test_store_crypt_derive_is_stable_and_needs_a_secret),
    T(test_store_crypt_lock_key_is_sha256_prefix_of_the_name))
