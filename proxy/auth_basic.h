/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * auth_basic.h — HTTP Basic authentication against an htpasswd file
 * (SPEC §2 routes[].auth.basic, §3 Gateway checks).
 *
 * The users file is read once per configuration (auth_basic_load, called
 * while a config is built, so a reload re-reads it) into an immutable
 * table that every worker reads without locks.  Only strong hashes are
 * accepted: bcrypt ($2a$ $2b$ $2y$, `htpasswd -B`), SHA-crypt ($5$ $6$,
 * `htpasswd -2` / `-5`) and yescrypt ($y$, `mkpasswd`); MD5 ($apr1$ $1$),
 * SHA-1 ({SHA}), DES crypt and plain-text lines are load errors, one per
 * line, with the line number.
 *
 * Verification uses libcrypt's crypt_rn and compares the result in
 * constant time.  A successful verification is remembered for
 * AUTH_BASIC_CACHE_TTL_MS in a small per-thread cache (bcrypt costs
 * milliseconds by design; Caddy does the same): the cache key is an
 * HMAC-SHA256, under a random per-process key, of the user, the stored
 * hash and the password, so no password is kept, a changed users file
 * invalidates its entries, and a lookup compares keys in constant time.
 * An unknown user is verified against a dummy hash of the same kind, so
 * the answer takes as long as for a known user.
 */
#ifndef LIMEN_PROXY_AUTH_BASIC_H
#define LIMEN_PROXY_AUTH_BASIC_H

#include <stddef.h>
#include <stdint.h>

struct diag;
struct auth_basic;

#define AUTH_BASIC_FILE_MAX (1024 * 1024)	/* users file, bytes */
#define AUTH_BASIC_USER_MAX 255			/* user name, bytes */
#define AUTH_BASIC_HEADER_MAX 4096		/* Authorization value */
#define AUTH_BASIC_CACHE_TTL_MS 60000
#define AUTH_BASIC_CACHE_SLOTS 64		/* per thread */

enum auth_basic_result {
	AUTH_BASIC_OK,			/* user verified */
	AUTH_BASIC_MISSING,		/* no credentials, or another scheme */
	AUTH_BASIC_MALFORMED,		/* "Basic" with an invalid token */
	AUTH_BASIC_DENIED		/* unknown user or wrong password */
};

/*
 * Read the users file at `path` (regular file, at most AUTH_BASIC_FILE_MAX
 * bytes).  realm NULL means "limen".  Every problem is added to d as
 * "PATH:LINE:1: error: ..." (never with the hash itself); returns NULL if
 * there was any.
 */
struct auth_basic *auth_basic_load(const char *path, const char *realm,
    struct diag *d);
/* The same from a buffer; `name` is used in messages. */
struct auth_basic *auth_basic_parse(const char *name, const char *text,
    size_t len, const char *realm, struct diag *d);
void auth_basic_free(struct auth_basic *ab);
size_t auth_basic_count(const struct auth_basic *ab);

/*
 * Check an Authorization header value (value NULL: the request had none).
 * On AUTH_BASIC_OK the user name is copied to user (user_cap bytes,
 * NUL-terminated; user may be NULL).  Any other result means 401 with
 * auth_basic_challenge().  May take milliseconds (bcrypt): the caller runs
 * it on a worker thread that can afford it.  Thread-safe.
 */
enum auth_basic_result auth_basic_check(const struct auth_basic *ab,
    const char *value, size_t len, char *user, size_t user_cap);
/* The same at a given monotonic time (tests of the cache). */
enum auth_basic_result auth_basic_check_at(const struct auth_basic *ab,
    const char *value, size_t len, char *user, size_t user_cap,
    uint64_t now_ms);
/* Forget this thread's cached verifications. */
void auth_basic_cache_clear(void);

/* The WWW-Authenticate value for a 401: `Basic realm="...", charset="UTF-8"`. */
const char *auth_basic_challenge(const struct auth_basic *ab);

#endif
