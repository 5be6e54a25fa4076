/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * auth_basic.c — htpasswd users and Basic credentials (see auth_basic.h).
 *
 * The table is a sorted array of (user, hash) searched with bsearch; it is
 * built once and never changed.  Hash strings are checked for shape at load
 * (cheap: running bcrypt on every entry at load would cost seconds for a
 * few hundred users); crypt_rn() itself rejects anything the shape check
 * let through, and then the request is denied.
 */
#include <ctype.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "common/base64.h"
#include "conf/diag.h"
#include "proxy/auth_basic.h"

struct basic_user {
	char *name;
	char *hash;
};

struct auth_basic {
	struct basic_user *users;	/* sorted by name */
	size_t n_users;
	char *dummy;			/* hash verified for unknown users */
	char *challenge;
};

struct basic_cache_slot {
	unsigned char key[32];
	uint64_t expires_ms;		/* 0 = empty */
};

static _Thread_local struct basic_cache_slot cache[AUTH_BASIC_CACHE_SLOTS];
static unsigned char cache_hmac_key[32];
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static bool cache_usable;

/* A bcrypt hash of a random password (cost 5), for unknown users when the
 * file has no entry at all. */
static const char basic_fallback_dummy[] =
    "$2y$05$T9KovS/QEDpCXDDX1hBpcut44XK3mtNCOXCJfiHHx/.wutRY6.7.O";

static bool
is_hash64(int c)
{
	return c == '.' || c == '/' || (c >= '0' && c <= '9') ||
	    (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
all_hash64(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_hash64((unsigned char)s[i]))
			return false;
	return true;
}

/* $2a$/$2b$/$2y$, two-digit cost 04..31, 22 salt + 31 hash characters. */
static bool
shape_bcrypt(const char *h, size_t n)
{
	int cost;

	if (n != 60 || h[0] != '$' || h[1] != '2' ||
	    (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') || h[3] != '$' ||
	    !isdigit((unsigned char)h[4]) || !isdigit((unsigned char)h[5]) ||
	    h[6] != '$')
		return false;
	cost = (h[4] - '0') * 10 + (h[5] - '0');
	return cost >= 4 && cost <= 31 && all_hash64(h + 7, 53);
}

/* $5$ / $6$ [rounds=N$] salt (0..16) $ digest (43 / 86 characters). */
static bool
shape_sha(const char *h, size_t n)
{
	size_t want = h[1] == '5' ? 43 : 86, i = 3, salt;

	if (n > 9 && strncmp(h + 3, "rounds=", 7) == 0) {
		size_t digits = 0;

		for (i = 10; i < n && isdigit((unsigned char)h[i]); i++)
			digits++;
		if (digits == 0 || digits > 9 || i >= n || h[i] != '$')
			return false;
		i++;
	}
	for (salt = 0; i < n && h[i] != '$'; i++, salt++)
		if (h[i] == ':' || (unsigned char)h[i] < 0x21 ||
		    (unsigned char)h[i] > 0x7e)
			return false;
	if (salt > 16 || i >= n)
		return false;
	i++;
	return n - i == want && all_hash64(h + i, want);
}

/* $y$params$salt$digest with a 43-character digest. */
static bool
shape_yescrypt(const char *h, size_t n)
{
	size_t dollars = 0, last = 0;

	for (size_t i = 0; i < n; i++) {
		if (h[i] == '$') {
			dollars++;
			last = i;
		} else if (!is_hash64((unsigned char)h[i]))
			return false;
	}
	return dollars == 4 && n - last - 1 == 43;
}

/* NULL if the hash is usable, else why not (never quoting the hash). */
static const char *
basic_hash_problem(const char *h, size_t n)
{
	if (n >= 4 && h[0] == '$' && h[1] == '2' && h[3] == '$')
		return shape_bcrypt(h, n) ? NULL :
		    "malformed bcrypt hash";
	if (n >= 3 && h[0] == '$' && (h[1] == '5' || h[1] == '6') &&
	    h[2] == '$')
		return shape_sha(h, n) ? NULL : "malformed SHA-crypt hash";
	if (n >= 3 && strncmp(h, "$y$", 3) == 0)
		return shape_yescrypt(h, n) ? NULL :
		    "malformed yescrypt hash";
	if (n >= 6 && strncmp(h, "$apr1$", 6) == 0)
		return "MD5 (apr1) hashes are not supported; re-create the "
		    "entry with `htpasswd -B` (bcrypt)";
	if (n >= 3 && strncmp(h, "$1$", 3) == 0)
		return "MD5-crypt hashes are not supported; re-create the "
		    "entry with `htpasswd -B` (bcrypt)";
	if (n >= 5 && strncmp(h, "{SHA}", 5) == 0)
		return "unsalted SHA-1 hashes are not supported; re-create "
		    "the entry with `htpasswd -B` (bcrypt)";
	if (n == 13 && all_hash64(h, n))
		return "DES crypt hashes are not supported; re-create the "
		    "entry with `htpasswd -B` (bcrypt)";
	return "not a bcrypt, SHA-crypt or yescrypt hash (plain-text "
	    "passwords are not supported; use `htpasswd -B`)";
}

static int
user_cmp(const void *a, const void *b)
{
	return strcmp(((const struct basic_user *)a)->name,
	    ((const struct basic_user *)b)->name);
}

static char *
basic_challenge_for(const char *realm)
{
	size_t n = strlen(realm), k = 0;
	char *q = malloc(n * 2 + 1), *out = NULL;

	if (q == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (realm[i] == '"' || realm[i] == '\\')
			q[k++] = '\\';
		q[k++] = realm[i];
	}
	q[k] = '\0';
	if (asprintf(&out, "Basic realm=\"%s\", charset=\"UTF-8\"", q) < 0)
		out = NULL;
	free(q);
	return out;
}

void
auth_basic_free(struct auth_basic *ab)
{
	if (ab == NULL)
		return;
	for (size_t i = 0; i < ab->n_users; i++) {
		free(ab->users[i].name);
		OPENSSL_cleanse(ab->users[i].hash, strlen(ab->users[i].hash));
		free(ab->users[i].hash);
	}
	free(ab->users);
	free(ab->dummy);
	free(ab->challenge);
	free(ab);
}

size_t
auth_basic_count(const struct auth_basic *ab)
{
	return ab->n_users;
}

struct auth_basic *
auth_basic_parse(const char *name, const char *text, size_t len,
    const char *realm, struct diag *d)
{
	struct auth_basic *ab = calloc(1, sizeof *ab);
	size_t errors = d->n_errors, cap = 0, pos = 0;
	int line = 0;

	if (ab == NULL)
		goto oom;
	if (realm == NULL)
		realm = "limen";
	for (const char *r = realm; *r; r++)
		if ((unsigned char)*r < 0x20 || *r == 0x7f) {
			diag_error(d, name, 0, 0, "realm has a control character");
			goto fail;
		}
	if ((ab->challenge = basic_challenge_for(realm)) == NULL)
		goto oom;
	if (len > AUTH_BASIC_FILE_MAX) {
		diag_error(d, name, 0, 0, "users file larger than %d bytes",
		    AUTH_BASIC_FILE_MAX);
		goto fail;
	}
	while (pos < len) {
		const char *l = text + pos, *nl = memchr(l, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - l) : len - pos;
		const char *colon, *h;
		size_t ulen, hlen;
		bool bad = false;

		pos += n + (nl != NULL);
		line++;
		if (n > 0 && l[n - 1] == '\r')
			n--;
		if (n == 0 || l[0] == '#')
			continue;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)l[i] < 0x20 || l[i] == 0x7f)
				bad = true;
		if (bad) {
			diag_error(d, name, line, 1, "control character in line");
			continue;
		}
		if ((colon = memchr(l, ':', n)) == NULL) {
			diag_error(d, name, line, 1, "expected USER:HASH");
			continue;
		}
		ulen = (size_t)(colon - l);
		h = colon + 1;
		hlen = n - ulen - 1;
		if (ulen == 0 || ulen > AUTH_BASIC_USER_MAX) {
			diag_error(d, name, line, 1,
			    "user name must be 1 to %d bytes",
			    AUTH_BASIC_USER_MAX);
			continue;
		}
		/* Apache allows a trailing ":comment" after the hash */
		if (memchr(h, ':', hlen) != NULL)
			hlen = (size_t)((const char *)memchr(h, ':', hlen) - h);
		const char *why = basic_hash_problem(h, hlen);
		if (why != NULL) {
			diag_error(d, name, line, 1, "user '%.*s': %s",
			    (int)ulen, l, why);
			continue;
		}
		if (ab->n_users == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct basic_user *nu = reallocarray(ab->users, ncap,
			    sizeof *nu);

			if (nu == NULL)
				goto oom;
			ab->users = nu;
			cap = ncap;
		}
		struct basic_user *u = &ab->users[ab->n_users];
		if ((u->name = strndup(l, ulen)) == NULL)
			goto oom;
		if ((u->hash = strndup(h, hlen)) == NULL) {
			free(u->name);
			goto oom;
		}
		ab->n_users++;
	}
	if (ab->n_users > 0) {
		qsort(ab->users, ab->n_users, sizeof *ab->users, user_cmp);
		for (size_t i = 1; i < ab->n_users; i++)
			if (strcmp(ab->users[i - 1].name, ab->users[i].name) == 0)
				diag_error(d, name, 0, 0,
				    "user '%s' appears more than once",
				    ab->users[i].name);
	}
	/* unknown users cost one verification like the first entry's */
	ab->dummy = strdup(ab->n_users ? ab->users[0].hash :
	    basic_fallback_dummy);
	if (ab->dummy == NULL)
		goto oom;
	if (d->n_errors != errors)
		goto fail;
	return ab;
oom:
	diag_error(d, name, 0, 0, "out of memory");
fail:
	auth_basic_free(ab);
	return NULL;
}

struct auth_basic *
auth_basic_load(const char *path, const char *realm, struct diag *d)
{
	struct auth_basic *ab = NULL;
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		diag_error(d, path, 0, 0, "cannot open users file: %s",
		    strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		diag_error(d, path, 0, 0, "users file is not a regular file");
		goto done;
	}
	if (st.st_size > AUTH_BASIC_FILE_MAX) {
		diag_error(d, path, 0, 0, "users file larger than %d bytes",
		    AUTH_BASIC_FILE_MAX);
		goto done;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		diag_error(d, path, 0, 0, "out of memory");
		goto done;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			diag_error(d, path, 0, 0, "cannot read users file: %s",
			    r == 0 ? "short read" : strerror(errno));
			goto done;
		}
		got += (size_t)r;
	}
	ab = auth_basic_parse(path, buf, got, realm, d);
done:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, got);
		free(buf);
	}
	close(fd);
	return ab;
}

const char *
auth_basic_challenge(const struct auth_basic *ab)
{
	return ab->challenge;
}

/* ---- credentials ----------------------------------------------------- */

static void
cache_init(void)
{
	cache_usable = RAND_bytes(cache_hmac_key, sizeof cache_hmac_key) == 1;
}

static int
cache_key(const char *user, const char *hash, const char *pass,
    size_t pass_len, unsigned char key[32])
{
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	size_t outl = 0;
	int rc = -1;

	pthread_once(&cache_once, cache_init);
	if (!cache_usable)
		return -1;
	params[0] = OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
	    (ctx = EVP_MAC_CTX_new(mac)) == NULL ||
	    EVP_MAC_init(ctx, cache_hmac_key, sizeof cache_hmac_key,
	    params) != 1 ||
	    EVP_MAC_update(ctx, (const unsigned char *)user,
	    strlen(user) + 1) != 1 ||
	    EVP_MAC_update(ctx, (const unsigned char *)hash,
	    strlen(hash) + 1) != 1 ||
	    EVP_MAC_update(ctx, (const unsigned char *)pass, pass_len) != 1 ||
	    EVP_MAC_final(ctx, key, &outl, 32) != 1 || outl != 32)
		goto fail;
	rc = 0;
fail:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}

void
auth_basic_cache_clear(void)
{
	OPENSSL_cleanse(cache, sizeof cache);
}

static uint64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* crypt the password with `hash` as setting; constant-time compare. */
static bool
basic_verify(const char *hash, const char *pass)
{
	struct crypt_data *cd = calloc(1, sizeof *cd);
	const char *out;
	size_t hl = strlen(hash);
	bool ok = false;

	if (cd == NULL)
		return false;
	out = crypt_rn(pass, hash, cd, sizeof *cd);
	if (out != NULL && out[0] != '*' && strlen(out) == hl)
		ok = CRYPTO_memcmp(out, hash, hl) == 0;
	OPENSSL_cleanse(cd, sizeof *cd);
	free(cd);
	return ok;
}

enum auth_basic_result
auth_basic_check_at(const struct auth_basic *ab, const char *value,
    size_t len, char *user, size_t user_cap, uint64_t now_ms)
{
	unsigned char cred[AUTH_BASIC_HEADER_MAX], key[32];
	enum auth_basic_result res = AUTH_BASIC_MALFORMED;
	size_t i = 0, clen = 0;
	struct basic_user probe, *u;
	struct basic_cache_slot *slot = NULL;
	char *colon;
	bool have_key = false;

	if (value == NULL || len < 5 || strncasecmp(value, "basic", 5) != 0 ||
	    (len > 5 && value[5] != ' '))
		return AUTH_BASIC_MISSING;
	i = 5;
	while (i < len && value[i] == ' ')
		i++;
	while (len > i && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	if (i == len || len - i > AUTH_BASIC_HEADER_MAX ||
	    base64_decode(BASE64_STD_PADDED, value + i, len - i, cred,
	    sizeof cred - 1, &clen) == -1)
		goto out;
	/* user-id and password: no control characters (RFC 7617 §2) */
	for (size_t k = 0; k < clen; k++)
		if (cred[k] < 0x20 || cred[k] == 0x7f)
			goto out;
	cred[clen] = '\0';
	if ((colon = memchr(cred, ':', clen)) == NULL ||
	    colon == (char *)cred ||
	    (size_t)(colon - (char *)cred) > AUTH_BASIC_USER_MAX)
		goto out;
	*colon = '\0';
	probe.name = (char *)cred;
	u = ab->n_users == 0 ? NULL : bsearch(&probe, ab->users, ab->n_users,
	    sizeof *ab->users, user_cmp);
	res = AUTH_BASIC_DENIED;
	if (u == NULL) {
		/* same work as for a known user, then no */
		(void)basic_verify(ab->dummy, colon + 1);
		goto out;
	}
	if (cache_key(u->name, u->hash, colon + 1,
	    clen - (size_t)(colon + 1 - (char *)cred), key) == 0) {
		have_key = true;
		slot = &cache[key[0] % AUTH_BASIC_CACHE_SLOTS];
		if (slot->expires_ms > now_ms &&
		    CRYPTO_memcmp(slot->key, key, sizeof key) == 0) {
			res = AUTH_BASIC_OK;
			goto ok;
		}
	}
	if (!basic_verify(u->hash, colon + 1))
		goto out;
	res = AUTH_BASIC_OK;
	if (have_key) {
		memcpy(slot->key, key, sizeof key);
		slot->expires_ms = now_ms + AUTH_BASIC_CACHE_TTL_MS;
	}
ok:
	if (user != NULL && user_cap > 0)
		snprintf(user, user_cap, "%s", u->name);
out:
	OPENSSL_cleanse(cred, sizeof cred);
	OPENSSL_cleanse(key, sizeof key);
	return res;
}

enum auth_basic_result
auth_basic_check(const struct auth_basic *ab, const char *value, size_t len,
    char *user, size_t user_cap)
{
	return auth_basic_check_at(ab, value, len, user, user_cap,
	    monotonic_ms());
}
