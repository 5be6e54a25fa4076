/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store.h — ACME state on disk (SPEC §4):
 *
 *   STATE_DIR/acme/account.key        the account key, PEM, 0600, created once
 *   STATE_DIR/certs/NAME/cert.pem     leaf + chain, as issued
 *   STATE_DIR/certs/NAME/key.pem      its private key, 0600
 *
 * Directories are created 0700.  Files are written with
 * fsutil_write_atomic (temporary file, fsync, rename, directory fsync);
 * the key is written before the certificate, and a pair whose key does not
 * match its certificate (a crash between the two renames) is treated as
 * absent on load, so it is ordered again rather than served.  The file
 * time of cert.pem records when limen obtained it (renewal policy, see
 * renew.h).
 */
#ifndef LIMEN_ACME_STORE_H
#define LIMEN_ACME_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>

#include "acme/jws.h"

/* What we know about one stored (or just downloaded) certificate. */
struct store_cert {
	time_t not_before, not_after;
	time_t obtained_at;
	char *ari_id;		/* RFC 9773 certID; NULL without an AKI */
	char *serial;		/* hex, for log lines */
};

void store_cert_free(struct store_cert *c);

/*
 * Load the account key, or create one of `type` if there is none.
 * Sets *created when it made a new one.  -1 with *err on failure (an
 * unreadable or foreign file is an error, never silently replaced).
 */
EVP_PKEY *store_account_key(const char *state_dir, enum jws_key_type type,
    bool *created, const char **err);

/*
 * Replace the local account key with pem (0600, atomically): the local
 * copy of the account shared through PostgreSQL (pgstore.h).
 */
int store_account_key_write(const char *state_dir, const char *pem,
    size_t len, const char **err);

/* Paths of a name's files (buffers of PATH_MAX); -1 if too long. */
int store_cert_paths(const char *state_dir, const char *name, char *cert_path,
    size_t cert_size, char *key_path, size_t key_size);

/*
 * Check a PEM chain from the CA (or from disk): one or more certificates,
 * the first one for `name`, matching `key` (when not NULL), and valid at
 * `now`.  On success *pem_out (if not NULL) receives the chain
 * re-encoded as clean PEM (malloc'd) and *info what renewal needs.
 */
int store_cert_check(const char *pem, size_t len, const char *name,
    EVP_PKEY *key, time_t now, char **pem_out, struct store_cert *info,
    const char **err);

/*
 * Load NAME's certificate and key.  Returns 1 and fills *info if a
 * usable pair is stored, 0 if there is none (or only an expired,
 * mismatched or damaged one: *err says which, for a log line), -1 on a
 * system error (*err).
 */
int store_cert_load(const char *state_dir, const char *name, time_t now,
    struct store_cert *info, const char **err);

/* Save a new pair for NAME (key first, then certificate). */
int store_cert_save(const char *state_dir, const char *name,
    const char *cert_pem, size_t cert_len, const char *key_pem,
    size_t key_len, const char **err);

#endif
