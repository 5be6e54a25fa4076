/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_auth_basic.c — htpasswd users and Basic credentials
 * (proxy/auth_basic.c), with hashes made by Debian's own tools at test
 * time: `htpasswd` from apache2-utils (-B bcrypt, -2 SHA-256, -5 SHA-512,
 * and the refused -m apr1, -s SHA-1, -d DES, -p plain) and `mkpasswd`
 * from whois (yescrypt).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "conf/diag.h"
#include "proxy/auth_basic.h"
#include "tests/unit/harness.h"

/* One line of a tool's output (the hash line), without the newline. */
static char *
run_line(const char *cmd)
{
	char buf[1024];
	FILE *p = popen(cmd, "r");
	char *line = NULL;

	if (p == NULL)
		return NULL;
	if (fgets(buf, sizeof buf, p) != NULL) {
		buf[strcspn(buf, "\r\n")] = '\0';
		line = strdup(buf);
	}
	pclose(p);
	return line;
}

/* "Basic base64(user:pass)" into out. */
static const char *
basic(const char *user, const char *pass)
{
	static char out[512];
	char plain[256];
	int n = snprintf(plain, sizeof plain, "%s:%s", user, pass);

	memcpy(out, "Basic ", 6);
	EVP_EncodeBlock((unsigned char *)out + 6, (unsigned char *)plain, n);
	return out;
}

static enum auth_basic_result
check(const struct auth_basic *ab, const char *value, char *user)
{
	return auth_basic_check(ab, value, value ? strlen(value) : 0, user, 64);
}

static struct auth_basic *
load_text(const char *text, struct diag *d)
{
	return auth_basic_load(harness_tmpfile(".htpasswd", text), "staff", d);
}

static void
expect_user_verifies(const char *line, const char *user, const char *pass)
{
	struct diag d;
	char text[1024], who[64] = "";
	struct auth_basic *ab;

	diag_init(&d);
	snprintf(text, sizeof text, "%s\n", line);
	ab = load_text(text, &d);
	CHECK_INT(d.n_errors, ==, 0);
	if (d.n)
		diag_print(&d, stderr);
	REQUIRE(ab != NULL);
	CHECK_INT(auth_basic_count(ab), ==, 1);
	CHECK_INT(check(ab, basic(user, pass), who), ==, AUTH_BASIC_OK);
	CHECK_STR(who, user);
	CHECK_INT(check(ab, basic(user, "wrong"), NULL), ==, AUTH_BASIC_DENIED);
	CHECK_INT(check(ab, basic("nobody", pass), NULL), ==,
	    AUTH_BASIC_DENIED);
	auth_basic_free(ab);
	diag_free(&d);
}

static void
test_auth_basic_accepts_htpasswd_bcrypt(void)
{
	char *line = run_line("htpasswd -nbB -C 4 alice 's3cret pass:x'");

	REQUIRE(line != NULL);
	CHECK(strncmp(line, "alice:$2y$04$", 13) == 0);
	expect_user_verifies(line, "alice", "s3cret pass:x");
	free(line);
}

static void
test_auth_basic_accepts_htpasswd_sha256_and_sha512(void)
{
	char *l2 = run_line("htpasswd -nb2 bob hunter2");
	char *l5 = run_line("htpasswd -nb5 -r 6000 carol 'pässwörd'");

	REQUIRE(l2 != NULL && l5 != NULL);
	CHECK(strstr(l2, ":$5$") != NULL);
	CHECK(strstr(l5, ":$6$rounds=6000$") != NULL);
	expect_user_verifies(l2, "bob", "hunter2");
	expect_user_verifies(l5, "carol", "pässwörd");
	free(l2);
	free(l5);
}

static void
test_auth_basic_accepts_mkpasswd_yescrypt(void)
{
	char *h = run_line("mkpasswd -m yescrypt 'correct horse'");
	char line[512];

	REQUIRE(h != NULL);
	CHECK(strncmp(h, "$y$", 3) == 0);
	snprintf(line, sizeof line, "dave:%s", h);
	expect_user_verifies(line, "dave", "correct horse");
	free(h);
}

static void
test_auth_basic_rejects_weak_hashes_with_line_numbers(void)
{
	char *md5 = run_line("htpasswd -nbm u1 pw");
	char *sha1 = run_line("htpasswd -nbs u2 pw");
	char *des = run_line("htpasswd -nbd u3 pw");
	char *plain = run_line("htpasswd -nbp u4 pw 2>/dev/null");
	char *good = run_line("htpasswd -nbB -C 4 ok pw");
	char text[2048];
	struct diag d;
	char *all;

	REQUIRE(md5 && sha1 && des && plain && good);
	snprintf(text, sizeof text, "# users\n%s\n%s\n\n%s\n%s\n%s\n",
	    good, md5, sha1, des, plain);
	diag_init(&d);
	CHECK(load_text(text, &d) == NULL);
	CHECK_INT(d.n_errors, ==, 4);
	all = diag_join(&d);
	REQUIRE(all != NULL);
	CHECK(strstr(all, ":3:1: error: user 'u1': MD5 (apr1)") != NULL);
	CHECK(strstr(all, ":5:1: error: user 'u2': unsalted SHA-1") != NULL);
	CHECK(strstr(all, ":6:1: error: user 'u3': DES crypt") != NULL);
	CHECK(strstr(all, ":7:1: error: user 'u4': not a bcrypt") != NULL);
	/* the hash itself is never quoted */
	CHECK(strstr(all, strchr(md5, ':') + 1) == NULL);
	free(all);
	diag_free(&d);
	free(md5);
	free(sha1);
	free(des);
	free(plain);
	free(good);
}

static void
test_auth_basic_rejects_malformed_lines(void)
{
	struct diag d;
	char *all;

	diag_init(&d);
	CHECK(load_text("nocolon\n:$2y$04$abc\n"
	    "x:$2y$04$tooshort\n"
	    "y:$6$salt$short\n"
	    "z:$2y$99$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	    &d) == NULL);
	CHECK_INT(d.n_errors, ==, 5);
	all = diag_join(&d);
	CHECK(strstr(all, ":1:1: error: expected USER:HASH") != NULL);
	CHECK(strstr(all, ":2:1: error: user name must be") != NULL);
	CHECK(strstr(all, ":3:1: error: user 'x': malformed bcrypt") != NULL);
	CHECK(strstr(all, ":4:1: error: user 'y': malformed SHA-crypt") != NULL);
	CHECK(strstr(all, ":5:1: error: user 'z': malformed bcrypt") != NULL);
	free(all);
	diag_free(&d);
}

static void
test_auth_basic_rejects_duplicate_users(void)
{
	char *a = run_line("htpasswd -nbB -C 4 same one");
	char *b = run_line("htpasswd -nb2 same two");
	char text[512];
	struct diag d;

	REQUIRE(a && b);
	snprintf(text, sizeof text, "%s\r\n%s\r\n", a, b);
	diag_init(&d);
	CHECK(load_text(text, &d) == NULL);
	CHECK_INT(d.n_errors, ==, 1);
	CHECK(d.n && strstr(d.items[0].msg, "'same' appears more than once"));
	diag_free(&d);
	free(a);
	free(b);
}

static void
test_auth_basic_refuses_missing_or_oversized_file(void)
{
	struct diag d;
	char *big = malloc(AUTH_BASIC_FILE_MAX + 2);

	REQUIRE(big != NULL);
	memset(big, '#', AUTH_BASIC_FILE_MAX + 1);
	big[AUTH_BASIC_FILE_MAX + 1] = '\0';
	diag_init(&d);
	CHECK(auth_basic_load("/nonexistent/htpasswd", NULL, &d) == NULL);
	CHECK(auth_basic_load("/tmp", NULL, &d) == NULL);
	CHECK(load_text(big, &d) == NULL);
	CHECK_INT(d.n_errors, ==, 3);
	CHECK(strstr(d.items[2].msg, "larger than") != NULL);
	diag_free(&d);
	free(big);
}

static void
test_auth_basic_classifies_authorization_values(void)
{
	char *line = run_line("htpasswd -nbB -C 4 eve pw");
	char text[256];
	struct diag d;
	struct auth_basic *ab;

	REQUIRE(line != NULL);
	snprintf(text, sizeof text, "%s\n", line);
	diag_init(&d);
	ab = load_text(text, &d);
	REQUIRE(ab != NULL);
	CHECK_INT(check(ab, NULL, NULL), ==, AUTH_BASIC_MISSING);
	CHECK_INT(check(ab, "Bearer abc", NULL), ==, AUTH_BASIC_MISSING);
	CHECK_INT(check(ab, "Basicx ZXZlOnB3", NULL), ==, AUTH_BASIC_MISSING);
	CHECK_INT(check(ab, "Basic", NULL), ==, AUTH_BASIC_MALFORMED);
	CHECK_INT(check(ab, "Basic !!!!", NULL), ==, AUTH_BASIC_MALFORMED);
	/* "eve:pw" is ZXZlOnB3; without padding rules / with bad trailing bits */
	CHECK_INT(check(ab, "Basic ZXZlOnB3", NULL), ==, AUTH_BASIC_OK);
	CHECK_INT(check(ab, "bAsIc   ZXZlOnB3 ", NULL), ==, AUTH_BASIC_OK);
	CHECK_INT(check(ab, "Basic ZXZlOnB", NULL), ==, AUTH_BASIC_MALFORMED);
	CHECK_INT(check(ab, "Basic ZXZlOnB3=", NULL), ==, AUTH_BASIC_MALFORMED);
	/* "eve" alone (no colon) and ":pw" (empty user) */
	CHECK_INT(check(ab, "Basic ZXZl", NULL), ==, AUTH_BASIC_MALFORMED);
	CHECK_INT(check(ab, "Basic OnB3", NULL), ==, AUTH_BASIC_MALFORMED);
	/* "eve:p\nw": control characters in credentials */
	CHECK_INT(check(ab, basic("eve", "p\nw"), NULL), ==,
	    AUTH_BASIC_MALFORMED);
	CHECK_INT(check(ab, basic("eve", "pw2"), NULL), ==, AUTH_BASIC_DENIED);
	CHECK_INT(check(ab, basic("eve", "p"), NULL), ==, AUTH_BASIC_DENIED);
	CHECK_INT(check(ab, basic("Eve", "pw"), NULL), ==, AUTH_BASIC_DENIED);
	auth_basic_free(ab);
	diag_free(&d);
	free(line);
}

static void
test_auth_basic_challenge_quotes_realm(void)
{
	struct diag d;
	struct auth_basic *ab;

	diag_init(&d);
	ab = auth_basic_parse("mem", "", 0, "a \"b\" \\c", &d);
	REQUIRE(ab != NULL);
	CHECK_STR(auth_basic_challenge(ab),
	    "Basic realm=\"a \\\"b\\\" \\\\c\", charset=\"UTF-8\"");
	/* no users: everyone is refused */
	CHECK_INT(check(ab, basic("a", "b"), NULL), ==, AUTH_BASIC_DENIED);
	auth_basic_free(ab);
	ab = auth_basic_parse("mem", "", 0, NULL, &d);
	REQUIRE(ab != NULL);
	CHECK_STR(auth_basic_challenge(ab),
	    "Basic realm=\"limen\", charset=\"UTF-8\"");
	auth_basic_free(ab);
	CHECK(auth_basic_parse("mem", "", 0, "bad\r\nrealm", &d) == NULL);
	diag_free(&d);
}

static double
timed_check(const struct auth_basic *ab, const char *value, uint64_t now,
    enum auth_basic_result *res)
{
	struct timespec a, b;

	/* the thread's CPU time: bcrypt is pure CPU, and a loaded machine
	 * (CI, other tests) must not make one check look slower */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	*res = auth_basic_check_at(ab, value, strlen(value), NULL, 0, now);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	return (double)(b.tv_sec - a.tv_sec) * 1e3 +
	    (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

/* The cheapest of three checks: noise (caches) only ever adds time. */
static double
min_check(const struct auth_basic *ab, const char *value, uint64_t now,
    enum auth_basic_result *res)
{
	double best = 1e9;

	for (int i = 0; i < 3; i++) {
		double t = timed_check(ab, value, now, res);

		if (t < best)
			best = t;
	}
	return best;
}

/*
 * A verified password is remembered for the TTL (a cached check skips
 * bcrypt, cost 10 = tens of milliseconds), wrong passwords never are, and
 * the entry expires.
 */
static void
test_auth_basic_caches_success_briefly(void)
{
	char *line = run_line("htpasswd -nbB -C 10 frank pw");
	char text[256], good[128], bad[128];
	enum auth_basic_result r;
	struct auth_basic *ab;
	struct diag d;
	double base, fast, again;

	REQUIRE(line != NULL);
	snprintf(text, sizeof text, "%s\n", line);
	diag_init(&d);
	ab = load_text(text, &d);
	REQUIRE(ab != NULL);
	snprintf(good, sizeof good, "%s", basic("frank", "pw"));
	snprintf(bad, sizeof bad, "%s", basic("frank", "px"));
	auth_basic_cache_clear();
	base = min_check(ab, bad, 1000, &r);	/* never cached */
	CHECK_INT(r, ==, AUTH_BASIC_DENIED);
	(void)timed_check(ab, good, 1000, &r);
	CHECK_INT(r, ==, AUTH_BASIC_OK);
	fast = min_check(ab, good, 2000, &r);
	CHECK_INT(r, ==, AUTH_BASIC_OK);
	CHECK(fast * 4 < base);
	again = timed_check(ab, good, 1000 + AUTH_BASIC_CACHE_TTL_MS + 1, &r);
	CHECK_INT(r, ==, AUTH_BASIC_OK);
	CHECK(again * 2 > base);
	if (!(fast * 4 < base) || !(again * 2 > base))
		fprintf(stderr, "base %.3f fast %.3f again %.3f ms\n", base,
		    fast, again);
	auth_basic_free(ab);
	diag_free(&d);
	free(line);
}

/* An unknown user costs a verification too (no user enumeration by time). */
static void
test_auth_basic_unknown_user_costs_a_verification(void)
{
	char *line = run_line("htpasswd -nbB -C 10 gina pw");
	char text[256], k[128], u[128];
	enum auth_basic_result r;
	struct auth_basic *ab;
	struct diag d;
	double known, unknown;

	REQUIRE(line != NULL);
	snprintf(text, sizeof text, "%s\n", line);
	diag_init(&d);
	ab = load_text(text, &d);
	REQUIRE(ab != NULL);
	snprintf(k, sizeof k, "%s", basic("gina", "nope"));
	snprintf(u, sizeof u, "%s", basic("nobody", "nope"));
	auth_basic_cache_clear();
	known = min_check(ab, k, 0, &r);
	CHECK_INT(r, ==, AUTH_BASIC_DENIED);
	unknown = min_check(ab, u, 0, &r);
	CHECK_INT(r, ==, AUTH_BASIC_DENIED);
	CHECK(unknown * 2 > known);
	auth_basic_free(ab);
	diag_free(&d);
	free(line);
}

static void
test_auth_basic_ignores_apache_comment_field(void)
{
	char *line = run_line("htpasswd -nbB -C 4 hank pw");
	char text[256];

	REQUIRE(line != NULL);
	snprintf(text, sizeof text, "%s:Hank Smith", line);
	expect_user_verifies(text, "hank", "pw");
	free(line);
}

HARNESS_MAIN(
    T(test_auth_basic_accepts_htpasswd_bcrypt),
    T(test_auth_basic_accepts_htpasswd_sha256_and_sha512),
    T(test_auth_basic_accepts_mkpasswd_yescrypt),
    T(test_auth_basic_rejects_weak_hashes_with_line_numbers),
    T(test_auth_basic_rejects_malformed_lines),
    T(test_auth_basic_rejects_duplicate_users),
    T(test_auth_basic_refuses_missing_or_oversized_file),
    T(test_auth_basic_classifies_authorization_values),
    T(test_auth_basic_challenge_quotes_realm),
    T(test_auth_basic_caches_success_briefly),
    T(test_auth_basic_unknown_user_costs_a_verification),
    T(test_auth_basic_ignores_apache_comment_field))
