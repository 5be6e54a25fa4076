/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_jwt.c — JWKS parsing and bearer token verification (proxy/jwt.c)
 * against tokens made at test time by python3-jwcrypto, an independent
 * implementation (tests/unit/jwt_tokens.py): valid RS/PS/ES/EdDSA tokens,
 * expired, not yet valid, wrong audience and issuer, wrong key, unknown
 * kid, alg none, HS256 keyed with the RSA public key, algorithm confusion
 * between key types, tampered payload and signature, duplicate claims,
 * DER instead of raw ECDSA signatures.  Plus hand-written key sets that
 * must be refused, and the claims copied into headers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf/diag.h"
#include "proxy/jwt.h"
#include "tests/unit/harness.h"

static char dir[] = "/tmp/limen-jwt-XXXXXX";
static time_t now;

static const char *const result_names[] = {
	"JWT_OK", "JWT_MISSING", "JWT_MALFORMED", "JWT_BAD_ALG", "JWT_NO_KEY",
	"JWT_BAD_SIGNATURE", "JWT_EXPIRED", "JWT_NOT_YET_VALID",
	"JWT_BAD_ISSUER", "JWT_BAD_AUDIENCE",
};

static struct conf_header_kv c2h[] = {
	{ "sub", "X-User" }, { "uid", "X-Uid" }, { "score", "X-Score" },
	{ "evil", "X-Evil" }, { "flag", "X-Flag" }, { "absent", "X-Absent" },
};

static struct conf_auth_jwt policy = {
	.issuer = "https://id.example.com",
	.audience = "api",
	.leeway_ms = 30000,
	.claims_to_headers = c2h,
	.n_claims_to_headers = sizeof c2h / sizeof c2h[0],
};

static void
cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* Run the generator once (see generate_once). */
static int
generate(void)
{
	static int done = 0;
	char cmd[256];

	if (done)
		return done;
	now = time(NULL);
	if (mkdtemp(dir) == NULL)
		return done = -1;
	atexit(cleanup);
	snprintf(cmd, sizeof cmd,
	    "/usr/bin/python3 tests/unit/jwt_tokens.py %s %lld 2>/dev/null",
	    dir, (long long)now);
	return done = system(cmd) == 0 ? 1 : -1;
}

/* Before main: the tests run in forked children and share the files. */
__attribute__((constructor)) static void
generate_once(void)
{
	(void)generate();
}

static struct jwt_keyset *
load(const char *file, struct diag *d)
{
	char path[128];

	snprintf(path, sizeof path, "%s/%s", dir, file);
	return jwt_keyset_load(path, d);
}

static void
test_jwt_matches_jwcrypto_cases(void)
{
	char path[128], line[20000], name[64], want[64];
	struct jwt_keyset *ks;
	struct diag d;
	FILE *f;
	int n = 0;

	REQUIRE(generate() == 1);
	diag_init(&d);
	ks = load("jwks.json", &d);
	REQUIRE(ks != NULL);
	/* rsa1 ec1 ec384 ed1; the "use": "enc" key is skipped */
	CHECK_INT(jwt_keyset_count(ks), ==, 4);
	CHECK_INT(d.n_errors, ==, 0);
	CHECK_INT(d.n, ==, 1);
	snprintf(path, sizeof path, "%s/tokens.txt", dir);
	f = fopen(path, "r");
	REQUIRE(f != NULL);
	while (fgets(line, sizeof line, f) != NULL) {
		char *tok;
		enum jwt_result r;

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%63s %63s", name, want) != 2)
			continue;
		tok = strchr(strchr(line, ' ') + 1, ' ') + 1;
		r = jwt_verify_token(ks, &policy, tok, strlen(tok), now, NULL);
		if (strcmp(result_names[r], want) != 0)
			harness_fail(__FILE__, __LINE__, "%s: got %s, want %s",
			    name, result_names[r], want);
		n++;
	}
	fclose(f);
	CHECK_INT(n, >=, 35);
	jwt_keyset_free(ks);
	diag_free(&d);
}

/* The first valid token of the generated set, as "Bearer ..." */
static char *
bearer(const char *case_name)
{
	char path[128], line[20000], *out = NULL;
	size_t cl = strlen(case_name);
	FILE *f;

	snprintf(path, sizeof path, "%s/tokens.txt", dir);
	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, case_name, cl) == 0 && line[cl] == ' ') {
			line[strcspn(line, "\n")] = '\0';
			if (asprintf(&out, "Bearer %s",
			    strchr(line + cl + 1, ' ') + 1) < 0)
				out = NULL;
			break;
		}
	fclose(f);
	return out;
}

static void
test_jwt_bearer_header_and_challenges(void)
{
	struct jwt_keyset *ks;
	struct jwt_token *t = NULL;
	struct diag d;
	char *v, *lower;

	REQUIRE(generate() == 1);
	diag_init(&d);
	REQUIRE((ks = load("jwks.json", &d)) != NULL);
	REQUIRE((v = bearer("es256_valid")) != NULL);
	CHECK_INT(jwt_verify(ks, &policy, v, strlen(v), now, &t), ==, JWT_OK);
	REQUIRE(t != NULL);
	CHECK_STR(jwt_token_claim_string(t, "sub"), "alice");
	jwt_token_free(t);
	REQUIRE(asprintf(&lower, "bearer  %s", v + 7) > 0);
	CHECK_INT(jwt_verify(ks, &policy, lower, strlen(lower), now, NULL), ==,
	    JWT_OK);
	CHECK_INT(jwt_verify(ks, &policy, NULL, 0, now, NULL), ==, JWT_MISSING);
	CHECK_INT(jwt_verify(ks, &policy, "Basic abc", 9, now, NULL), ==,
	    JWT_MISSING);
	CHECK_INT(jwt_verify(ks, &policy, "Bearer ", 7, now, NULL), ==,
	    JWT_MALFORMED);
	CHECK_INT(jwt_verify(ks, &policy, "Bearer a.b.c", 12, now, NULL), ==,
	    JWT_MALFORMED);
	/* a later clock: the same token has expired (1 h + leeway) */
	CHECK_INT(jwt_verify(ks, &policy, v, strlen(v), now + 3631, NULL), ==,
	    JWT_EXPIRED);
	CHECK_STR(jwt_challenge(JWT_MISSING), "Bearer");
	CHECK_STR(jwt_challenge(JWT_EXPIRED),
	    "Bearer error=\"invalid_token\", error_description=\"token expired\"");
	CHECK_STR(jwt_challenge(JWT_BAD_ALG), "Bearer error=\"invalid_token\"");
	CHECK_STR(jwt_result_str(JWT_BAD_AUDIENCE), "wrong audience");
	free(lower);
	free(v);
	jwt_keyset_free(ks);
	diag_free(&d);
}

static void
test_jwt_claims_to_headers_strings_and_numbers_only(void)
{
	struct jwt_header h[8];
	struct jwt_keyset *ks;
	struct jwt_token *t = NULL;
	struct diag d;
	size_t n;
	char *v;

	REQUIRE(generate() == 1);
	diag_init(&d);
	REQUIRE((ks = load("jwks.json", &d)) != NULL);
	REQUIRE((v = bearer("eddsa_valid")) != NULL);
	REQUIRE(jwt_verify(ks, &policy, v, strlen(v), now, &t) == JWT_OK);
	n = jwt_claims_to_headers(t, &policy, h, 8);
	/* sub, uid, score; not evil (CR LF), flag (bool), absent */
	REQUIRE(n == 3);
	CHECK_STR(h[0].name, "X-User");
	CHECK_MEM(h[0].value, h[0].value_len, "alice", 5);
	CHECK_STR(h[1].name, "X-Uid");
	CHECK_MEM(h[1].value, h[1].value_len, "42", 2);
	CHECK_STR(h[2].name, "X-Score");
	CHECK_MEM(h[2].value, h[2].value_len, "1.5", 3);
	CHECK_INT(jwt_claims_to_headers(t, &policy, h, 1), ==, 1);
	jwt_token_free(t);
	free(v);
	jwt_keyset_free(ks);
	diag_free(&d);
}

static void
test_jwt_keyset_refuses_private_small_and_bad_keys(void)
{
	struct diag d;
	char *all;
	/* P-256 x/y that are not a point on the curve */
	static const char bad_point[] = "{\"keys\":[{\"kty\":\"EC\","
	    "\"crv\":\"P-256\",\"x\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
	    "\"y\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}";
	static const char mismatch[] = "{\"keys\":[{\"kty\":\"OKP\","
	    "\"crv\":\"Ed25519\",\"alg\":\"RS256\","
	    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}";
	static const char only_oct[] = "{\"keys\":[{\"kty\":\"oct\","
	    "\"k\":\"c2VjcmV0\"},{\"kty\":\"OKP\",\"crv\":\"X25519\","
	    "\"x\":\"AQ\"}]}";
	static const char short_ed[] = "{\"keys\":[{\"kty\":\"OKP\","
	    "\"crv\":\"Ed25519\",\"x\":\"AQID\"}]}";

	REQUIRE(generate() == 1);
	diag_init(&d);
	CHECK(load("jwks_private.json", &d) == NULL);
	CHECK(load("jwks_rsa1024.json", &d) == NULL);
	CHECK(jwt_keyset_parse("a", bad_point, strlen(bad_point), &d) == NULL);
	CHECK(jwt_keyset_parse("b", mismatch, strlen(mismatch), &d) == NULL);
	CHECK(jwt_keyset_parse("c", only_oct, strlen(only_oct), &d) == NULL);
	CHECK(jwt_keyset_parse("d", short_ed, strlen(short_ed), &d) == NULL);
	CHECK(jwt_keyset_parse("e", "{\"keys\":{}}", 11, &d) == NULL);
	CHECK(jwt_keyset_parse("f", "{\"keys\":[]}\n x", 14, &d) == NULL);
	CHECK(jwt_keyset_parse("g", "{\"keys\":[],\"keys\":[]}", 21, &d) ==
	    NULL);
	all = diag_join(&d);
	REQUIRE(all != NULL);
	CHECK(strstr(all, "private key members") != NULL);
	CHECK(strstr(all, "shorter than 2048 bits") != NULL);
	CHECK(strstr(all, "a: error: keys[0]: EC point is not on the curve"));
	CHECK(strstr(all, "b: error: keys[0]: alg RS256 does not fit"));
	CHECK(strstr(all, "c: warning: keys[0]: symmetric keys"));
	CHECK(strstr(all, "c: warning: keys[1]: key type OKP/X25519"));
	CHECK(strstr(all, "c: error: JWKS has no usable signing key"));
	CHECK(strstr(all, "d: error: keys[0]: Ed25519 key needs"));
	CHECK(strstr(all, "e: error: JWKS: no \"keys\" array"));
	CHECK(strstr(all, "f:2:") != NULL);
	CHECK(strstr(all, "g:") != NULL);
	free(all);
	diag_free(&d);
}

/* A policy without issuer/audience checks only the signature and times. */
static void
test_jwt_without_issuer_and_audience(void)
{
	struct conf_auth_jwt open_policy = { .leeway_ms = 0 };
	struct jwt_keyset *ks;
	struct diag d;
	char *v;

	REQUIRE(generate() == 1);
	diag_init(&d);
	REQUIRE((ks = load("jwks.json", &d)) != NULL);
	REQUIRE((v = bearer("wrong_audience")) != NULL);
	CHECK_INT(jwt_verify(ks, &open_policy, v, strlen(v), now, NULL), ==,
	    JWT_OK);
	free(v);
	/* with no leeway, 10 s past exp is expired */
	REQUIRE((v = bearer("exp_in_leeway")) != NULL);
	CHECK_INT(jwt_verify(ks, &open_policy, v, strlen(v), now, NULL), ==,
	    JWT_EXPIRED);
	free(v);
	jwt_keyset_free(ks);
	diag_free(&d);
}

HARNESS_MAIN(
    T(test_jwt_matches_jwcrypto_cases),
    T(test_jwt_bearer_header_and_challenges),
    T(test_jwt_claims_to_headers_strings_and_numbers_only),
    T(test_jwt_keyset_refuses_private_small_and_bad_keys),
    T(test_jwt_without_issuer_and_audience))
