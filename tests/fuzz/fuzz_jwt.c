/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_jwt.c — libFuzzer target for bearer tokens and JWKS documents
 * (proxy/jwt.c).  The first byte picks the mode: 0 a bare compact token,
 * 1 an Authorization value, both verified against a fixed key set
 * (Ed25519, P-256, RSA; the seed corpus has tokens signed with their
 * private halves, which are not kept); 2 a JWKS document; 3 exactly: a
 * Cache-Control value, optionally a newline and an Expires value, for the
 * jwks_url refresh schedule (proxy/jwks.c);
 * 4 exactly: an Authorization value with no key set loaded yet.
 *
 * Invariants: no crash or leak; a token that verifies yields headers
 * whose values hold no control character; a JWKS that parses has at
 * least one key; the refresh delay stays within its bounds; nothing
 * verifies without keys.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/diag.h"
#include "proxy/jwks.h"
#include "proxy/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_jwks[] =
    "{\"keys\": [{\"crv\": \"Ed25519\", \"kid\": \"ed\", \"kty\":"
    " \"OKP\", \"x\": \"ZttL01SrGMVVUYWNikJQ1QVGUKmhZLF5K-J-A4G0u"
    "Hc\"}, {\"crv\": \"P-256\", \"kid\": \"ec\", \"kty\": \"EC\""
    ", \"x\": \"-eyqprfMMRqTdlpl6q6FSO2faY0hwfzK_QwkscP_urc\", \""
    "y\": \"4Lw4_mWnPwOWMpNMgLArqyNSkn9e6XHSlzrs9brggdo\"}, {\"e\""
    ": \"AQAB\", \"kid\": \"rsa\", \"kty\": \"RSA\", \"n\": \"357"
    "nsfz5gAHMMEMxqhLOrXyei29eDXp88WzvIiMmDOyjm7Mw2UhACmbqSb5fYo1"
    "RfS9ilcdoysyq6FkPdQHkcwYTOXqhxcDpLo9vWOqHyCV9C5c9hm4_cksss1-"
    "oQu_i9hgAe9lcYCDpGeBC5woKSG3ssOt0XhrdMmY0R6odG_CPzTgVdItpOAp"
    "h8tUtD87pvrklX6d95uBCH2znm5wWrbBLAUmwXmqxHG17CkNCNHRgxAPvsft"
    "qfpD1zfPyoANkY0ZwE_7XOl8016t7y5RF_P7NFM9D2oCEkddsXVPx8b_QQMg"
    "EdLpW_tmrY-ASxwOFzHVXL-sUfVc1OdrhzxTZCQ\"}]}";

static struct conf_header_kv c2h[] = {
	{ "sub", "X-User" }, { "uid", "X-Uid" }, { "score", "X-Score" },
	{ "name", "X-Name" }, { "aud", "X-Aud" },
};
static struct conf_auth_jwt policy = {
	.issuer = "https://id.example.com", .audience = "api",
	.leeway_ms = 30000, .claims_to_headers = c2h,
	.n_claims_to_headers = sizeof c2h / sizeof c2h[0],
};

static struct jwt_keyset *
fixed_keys(void)
{
	static struct jwt_keyset *ks;
	struct diag d;

	if (ks == NULL) {
		diag_init(&d);
		ks = jwt_keyset_parse("fixed", fixed_jwks, strlen(fixed_jwks),
		    &d);
		diag_free(&d);
		if (ks == NULL)
			abort();
	}
	return ks;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data + 1;
	size_t n = size - 1;
	struct jwt_token *t = NULL;
	struct jwt_keyset *ks;
	struct jwt_header h[8];
	enum jwt_result r;
	struct diag d;

	if (size < 1)
		return 0;
	if (data[0] == 3) {
		/* Cache-Control, then (after a newline) an Expires value */
		char cc[256], *exp;
		long delay;

		if (n >= sizeof cc)
			return 0;
		memcpy(cc, s, n);
		cc[n] = '\0';
		if ((exp = strchr(cc, '\n')) != NULL)
			*exp++ = '\0';
		delay = jwks_refresh_delay(cc, exp, NULL, 1800000000);
		if (jwks_max_age(cc) < -1 || delay < JWKS_REFRESH_MIN_S ||
		    delay > JWKS_REFRESH_MAX_S)
			abort();
		return 0;
	}
	if (data[0] == 4) {
		if (jwt_verify(NULL, &policy, s, n, 1800000000, &t) == JWT_OK ||
		    t != NULL)
			abort();
		return 0;
	}
	switch (data[0] % 3) {
	case 0:
	case 1:
		if (data[0] % 3 == 0)
			r = jwt_verify_token(fixed_keys(), &policy, s, n,
			    1800000000, &t);
		else
			r = jwt_verify(fixed_keys(), &policy, s, n, 1800000000,
			    &t);
		if ((r == JWT_OK) != (t != NULL))
			abort();
		if (jwt_challenge(r) == NULL || jwt_result_str(r) == NULL)
			abort();
		if (t != NULL) {
			size_t k = jwt_claims_to_headers(t, &policy, h, 8);

			for (size_t i = 0; i < k; i++)
				for (size_t j = 0; j < h[i].value_len; j++)
					if ((unsigned char)h[i].value[j] < 0x20 ||
					    h[i].value[j] == 0x7f)
						abort();
			jwt_token_free(t);
		}
		break;
	case 2:
		diag_init(&d);
		ks = jwt_keyset_parse("fuzz", s, n, &d);
		if (ks != NULL && jwt_keyset_count(ks) == 0)
			abort();
		jwt_keyset_free(ks);
		diag_free(&d);
		break;
	}
	return 0;
}
