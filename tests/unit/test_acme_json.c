/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_acme_json.c — the CA's documents (acme/acme_json.c): what a real
 * CA sends parses, and what it must not send is refused.  The examples
 * follow RFC 8555 §7 and pebble's actual output.
 */
#include <string.h>

#include "acme/acme_json.h"
#include "tests/unit/harness.h"

#define S(x) x, strlen(x)

static void
test_acme_json_parses_directory_with_profiles_and_ari(void)
{
	const char *doc = "{"
	    "\"keyChange\": \"https://ca.test/rollover-account-key\","
	    "\"meta\": {\"externalAccountRequired\": false,"
	    " \"termsOfService\": \"data:text/plain,Do%20what%20thou%20wilt\","
	    " \"profiles\": {\"tlsserver\": \"x\", \"classic\": \"y\","
	    "   \"shortlived\": \"z\"}},"
	    "\"newAccount\": \"https://ca.test/sign-me-up\","
	    "\"newNonce\": \"https://ca.test/nonce-plz\","
	    "\"newOrder\": \"https://ca.test/order-plz\","
	    "\"renewalInfo\": \"https://ca.test/draft-ietf-acme-ari-03/renewalInfo\","
	    "\"revokeCert\": \"https://ca.test/revoke-cert\","
	    "\"someFutureThing\": [1, 2]}";
	struct acme_directory d;
	const char *err = NULL;

	REQUIRE(acme_json_directory(S(doc), &d, &err) == 0);
	CHECK_STR(d.new_nonce, "https://ca.test/nonce-plz");
	CHECK_STR(d.new_account, "https://ca.test/sign-me-up");
	CHECK_STR(d.new_order, "https://ca.test/order-plz");
	CHECK_STR(d.renewal_info,
	    "https://ca.test/draft-ietf-acme-ari-03/renewalInfo");
	CHECK_INT(d.eab_required, ==, 0);
	CHECK_INT(d.n_profiles, ==, 3);
	CHECK_STR(d.profiles[0], "classic");
	CHECK_STR(d.profiles[2], "tlsserver");
	CHECK(acme_json_has_profile(&d, "shortlived"));
	CHECK(!acme_json_has_profile(&d, "long"));
	acme_json_directory_free(&d);
}

static void
test_acme_json_refuses_directory_with_plain_http_or_missing_urls(void)
{
	struct acme_directory d;
	const char *err = NULL;

	CHECK_INT(acme_json_directory(S("{\"newNonce\": \"http://ca.test/n\","
	    "\"newAccount\": \"https://ca.test/a\", \"newOrder\": "
	    "\"https://ca.test/o\"}"), &d, &err), ==, -1);
	CHECK_STR(err, "bad or missing newNonce");
	CHECK_INT(acme_json_directory(S("{\"newNonce\": \"https://ca.test/n\","
	    "\"newAccount\": \"https://ca.test/a\"}"), &d, &err), ==, -1);
	CHECK_INT(acme_json_directory(S("[]"), &d, &err), ==, -1);
	CHECK_INT(acme_json_directory(S("{\"newNonce\": 1}"), &d, &err), ==, -1);
	/* duplicate keys are ambiguous: refused */
	CHECK_INT(acme_json_directory(S("{\"newNonce\": \"https://a.test/\","
	    "\"newNonce\": \"https://b.test/\", \"newAccount\": "
	    "\"https://ca.test/a\", \"newOrder\": \"https://ca.test/o\"}"),
	    &d, &err), ==, -1);
	CHECK_INT(acme_json_directory(S("{\"newNonce\": \"https://ca.test/ n\","
	    "\"newAccount\": \"https://ca.test/a\", \"newOrder\": "
	    "\"https://ca.test/o\"}"), &d, &err), ==, -1);
}

static void
test_acme_json_parses_pending_order(void)
{
	const char *doc = "{\"status\": \"pending\","
	    "\"expires\": \"2026-11-24T21:38:12Z\","
	    "\"identifiers\": [{\"type\": \"dns\", \"value\": \"a.test\"}],"
	    "\"finalize\": \"https://ca.test/finalize-order/XYZ\","
	    "\"authorizations\": [\"https://ca.test/authZ/1\","
	    " \"https://ca.test/authZ/2\"]}";
	struct acme_order o;
	const char *err = NULL;

	REQUIRE(acme_json_order(S(doc), &o, &err) == 0);
	CHECK_INT(o.status, ==, ACME_STATUS_PENDING);
	CHECK_INT(o.n_authorizations, ==, 2);
	CHECK_STR(o.authorizations[1], "https://ca.test/authZ/2");
	CHECK_STR(o.finalize, "https://ca.test/finalize-order/XYZ");
	CHECK(o.certificate == NULL);
	CHECK(o.error.type == NULL);
	acme_json_order_free(&o);
}

static void
test_acme_json_refuses_valid_order_without_certificate(void)
{
	struct acme_order o;
	const char *err = NULL;

	CHECK_INT(acme_json_order(S("{\"status\": \"valid\", \"finalize\": "
	    "\"https://ca.test/f\", \"authorizations\": [\"https://ca.test/a\"]}"),
	    &o, &err), ==, -1);
	CHECK_INT(acme_json_order(S("{\"status\": \"sleeping\", \"finalize\": "
	    "\"https://ca.test/f\", \"authorizations\": [\"https://ca.test/a\"]}"),
	    &o, &err), ==, -1);
	CHECK_STR(err, "unknown status");
	CHECK_INT(acme_json_order(S("{\"status\": \"pending\", \"finalize\": "
	    "\"https://ca.test/f\", \"authorizations\": []}"), &o, &err), ==, -1);
}

static void
test_acme_json_parses_invalid_order_with_error(void)
{
	struct acme_order o;
	const char *err = NULL;

	REQUIRE(acme_json_order(S("{\"status\": \"invalid\", \"finalize\": "
	    "\"https://ca.test/f\", \"authorizations\": [\"https://ca.test/a\"],"
	    "\"error\": {\"type\": \"urn:ietf:params:acme:error:unauthorized\","
	    "\"detail\": \"no \\u00e9\\n\", \"status\": 403}}"), &o, &err) == 0);
	CHECK_INT(o.status, ==, ACME_STATUS_INVALID);
	CHECK(acme_json_problem_is(&o.error, "unauthorized"));
	/* non-ASCII and control characters never reach a log line */
	CHECK_STR(o.error.detail, "no ???");
	CHECK_INT(o.error.status, ==, 403);
	acme_json_order_free(&o);
}

static void
test_acme_json_parses_authz_and_challenges(void)
{
	const char *doc = "{\"status\": \"pending\","
	    "\"identifier\": {\"type\": \"dns\", \"value\": \"a.test\"},"
	    "\"challenges\": ["
	    " {\"type\": \"dns-01\", \"url\": \"https://ca.test/chalZ/1\","
	    "  \"token\": \"Ai8QaUuquZfFTvzAWJJ7Vlbh4kxZMthEmdOvYdvEHc0\","
	    "  \"status\": \"pending\"},"
	    " {\"type\": \"http-01\", \"url\": \"https://ca.test/chalZ/2\","
	    "  \"token\": \"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA\","
	    "  \"status\": \"pending\"},"
	    " {\"type\": \"tls-alpn-01\", \"url\": \"https://ca.test/chalZ/3\","
	    "  \"token\": \"SjvOVlQFUu3DbhP8DGNvc1zmmrWyv4nTqZOlSaiMZVo\","
	    "  \"status\": \"pending\"},"
	    " {\"type\": \"carrier-pigeon-00\", \"url\": \"https://ca.test/c4\","
	    "  \"status\": \"pending\"}],"
	    "\"expires\": \"2026-11-24T21:38:12Z\"}";
	struct acme_authz a;
	const char *err = NULL;

	REQUIRE(acme_json_authz(S(doc), &a, &err) == 0);
	CHECK_INT(a.status, ==, ACME_STATUS_PENDING);
	CHECK_STR(a.identifier, "a.test");
	CHECK_INT(a.wildcard, ==, 0);
	CHECK_INT(a.n_challenges, ==, 4);
	CHECK_INT(a.challenges[0].type, ==, ACME_CHAL_DNS01);
	CHECK_INT(a.challenges[1].type, ==, ACME_CHAL_HTTP01);
	CHECK_STR(a.challenges[1].token,
	    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA");
	CHECK_INT(a.challenges[2].type, ==, ACME_CHAL_TLSALPN01);
	CHECK_INT(a.challenges[3].type, ==, ACME_CHAL_OTHER);
	CHECK(a.challenges[3].token == NULL);
	acme_json_authz_free(&a);
}

static void
test_acme_json_refuses_tokens_that_could_escape_a_path(void)
{
	struct acme_challenge c;
	const char *err = NULL;

	CHECK_INT(acme_json_challenge(S("{\"type\": \"http-01\", \"url\": "
	    "\"https://ca.test/c\", \"status\": \"pending\", \"token\": "
	    "\"../../../../etc/passwd/aaaaaaaaaaaaaaaaaaa\"}"), &c, &err), ==, -1);
	CHECK_STR(err, "bad or missing token");
	CHECK_INT(acme_json_challenge(S("{\"type\": \"http-01\", \"url\": "
	    "\"https://ca.test/c\", \"status\": \"pending\", \"token\": "
	    "\"short\"}"), &c, &err), ==, -1);
	REQUIRE(acme_json_challenge(S("{\"type\": \"http-01\", \"url\": "
	    "\"https://ca.test/c\", \"status\": \"valid\", \"token\": "
	    "\"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA\"}"), &c, &err) == 0);
	CHECK_INT(c.status, ==, ACME_STATUS_VALID);
	acme_json_challenge_free(&c);
}

static void
test_acme_json_parses_problem_documents(void)
{
	struct acme_problem p;
	const char *err = NULL;

	REQUIRE(acme_json_problem(S("{\"type\": "
	    "\"urn:ietf:params:acme:error:badNonce\", \"detail\": "
	    "\"JWS has an invalid anti-replay nonce\", \"status\": 400}"), &p,
	    &err) == 0);
	CHECK(acme_json_problem_is(&p, "badNonce"));
	CHECK(!acme_json_problem_is(&p, "badNonc"));
	CHECK_INT(p.status, ==, 400);
	acme_json_problem_free(&p);
	/* a problem without type is about:blank (RFC 7807 §4.2) */
	REQUIRE(acme_json_problem(S("{\"detail\": \"x\"}"), &p, &err) == 0);
	CHECK_STR(p.type, "about:blank");
	acme_json_problem_free(&p);
	CHECK_INT(acme_json_problem(S("{\"status\": 99}"), &p, &err), ==, -1);
	CHECK_INT(acme_json_problem(S("not json"), &p, &err), ==, -1);
}

static void
test_acme_json_parses_renewal_info_window(void)
{
	struct acme_renewal_info r;
	const char *err = NULL;

	REQUIRE(acme_json_renewal_info(S("{\"suggestedWindow\": {"
	    "\"start\": \"2025-01-02T04:00:00Z\", "
	    "\"end\": \"2025-01-03T04:00:00.5+01:00\"},"
	    "\"explanationURL\": \"https://ca.test/why\"}"), &r, &err) == 0);
	CHECK_INT(r.start, ==, 1735790400);
	CHECK_INT(r.end, ==, 1735790400 + 86400 - 3600);
	CHECK_STR(r.explanation_url, "https://ca.test/why");
	acme_json_renewal_info_free(&r);
	/* an empty or inverted window is ignored */
	CHECK_INT(acme_json_renewal_info(S("{\"suggestedWindow\": {"
	    "\"start\": \"2025-01-02T04:00:00Z\", "
	    "\"end\": \"2025-01-02T04:00:00Z\"}}"), &r, &err), ==, -1);
	CHECK_INT(acme_json_renewal_info(S("{}"), &r, &err), ==, -1);
}

static void
test_acme_json_time_is_rfc3339_only(void)
{
	time_t t;

	CHECK_INT(acme_json_time("1970-01-01T00:00:00Z", &t), ==, 0);
	CHECK_INT(t, ==, 0);
	CHECK_INT(acme_json_time("2000-02-29T12:00:00Z", &t), ==, 0);
	CHECK_INT(t, ==, 951825600);
	CHECK_INT(acme_json_time("2026-11-23T21:38:12.123456789-00:30", &t),
	    ==, 0);
	CHECK_INT(t, ==, 1795469892 + 1800);
	CHECK_INT(acme_json_time("2001-02-29T12:00:00Z", &t), ==, -1);
	CHECK_INT(acme_json_time("2026-11-23 21:38:12Z", &t), ==, -1);
	CHECK_INT(acme_json_time("2026-11-23T21:38:12", &t), ==, -1);
	CHECK_INT(acme_json_time("2026-13-23T21:38:12Z", &t), ==, -1);
	CHECK_INT(acme_json_time("2026-11-23T21:38:12.Z", &t), ==, -1);
	CHECK_INT(acme_json_time("2026-11-23T21:38:12Zjunk", &t), ==, -1);
}

HARNESS_MAIN(
    T(test_acme_json_parses_directory_with_profiles_and_ari),
    T(test_acme_json_refuses_directory_with_plain_http_or_missing_urls),
    T(test_acme_json_parses_pending_order),
    T(test_acme_json_refuses_valid_order_without_certificate),
    T(test_acme_json_parses_invalid_order_with_error),
    T(test_acme_json_parses_authz_and_challenges),
    T(test_acme_json_refuses_tokens_that_could_escape_a_path),
    T(test_acme_json_parses_problem_documents),
    T(test_acme_json_parses_renewal_info_window),
    T(test_acme_json_time_is_rfc3339_only))
