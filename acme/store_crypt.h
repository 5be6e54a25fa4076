/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store_crypt.h — the cryptography of the shared ACME store in PostgreSQL
 * (pgstore.h): private keys are sealed with AES-256-GCM before they leave
 * the process, and each name's order lock has a stable 64-bit key.
 *
 * The AES key is HKDF-SHA256 of the `acme.storage` secret (key_file or
 * key), so every instance with the same secret derives the same key.  A
 * sealed blob is
 *
 *   "LSK1" (4 bytes) | nonce (12 random bytes) | ciphertext | tag (16)
 *
 * and authenticates, besides the ciphertext, the magic and a context
 * string (the row it belongs to, e.g. "cert:a.example.com"), so a blob
 * copied into another row does not open.  Opening with the wrong key (or
 * a damaged blob) fails cleanly: no byte of the plaintext is returned.
 * Pure functions, no I/O: unit-tested in tests/unit/test_acme_store_crypt.c.
 */
#ifndef LIMEN_ACME_STORE_CRYPT_H
#define LIMEN_ACME_STORE_CRYPT_H

#include <stddef.h>
#include <stdint.h>

#define STORE_CRYPT_KEY_LEN	32
#define STORE_CRYPT_OVERHEAD	(4 + 12 + 16)

/* The AES key from the configured secret (any length > 0).  0 or -1. */
int store_crypt_derive(const char *secret, size_t len,
    uint8_t key[STORE_CRYPT_KEY_LEN]);

/*
 * Seal plain (len bytes) for context ctx: a malloc'd blob of
 * len + STORE_CRYPT_OVERHEAD bytes in *out, its size in *outlen.  0 or -1.
 */
int store_crypt_seal(const uint8_t key[STORE_CRYPT_KEY_LEN], const char *ctx,
    const void *plain, size_t len, uint8_t **out, size_t *outlen);

/*
 * Open a blob sealed for ctx: a malloc'd, NUL-terminated plaintext in
 * *out (length in *outlen; wipe it after use).  -1 if the blob is not
 * ours, damaged, or sealed with another key or for another context.
 */
int store_crypt_open(const uint8_t key[STORE_CRYPT_KEY_LEN], const char *ctx,
    const uint8_t *blob, size_t len, char **out, size_t *outlen);

/*
 * The pg_advisory_lock key of a name's orders: the first 8 bytes of
 * SHA-256("limen-acme-order:" name), big-endian, as a signed 64-bit
 * integer.  The same on every instance, for every version of limen.
 */
int64_t store_crypt_lock_key(const char *name);

#endif
