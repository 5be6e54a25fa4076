/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_acme_json.c — libFuzzer target for the CA's JSON documents
 * (acme/acme_json.c), the point where outside input enters the ACME
 * client.  The first byte picks the document kind (directory, order,
 * authorization, challenge, problem, renewal info, account); the rest is
 * the document.  Whatever is accepted must be internally consistent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acme/acme_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *doc = (const char *)data + 1, *err = NULL;
	size_t len;

	if (size < 1)
		return 0;
	len = size - 1;
	switch (data[0] % 7) {
	case 0: {
		struct acme_directory d;
		if (acme_json_directory(doc, len, &d, &err) == 0) {
			if (d.new_nonce == NULL || d.new_order == NULL ||
			    strncmp(d.new_account, "https://", 8) != 0)
				abort();
			for (size_t i = 0; i < d.n_profiles; i++)
				(void)acme_json_has_profile(&d, d.profiles[i]);
			acme_json_directory_free(&d);
		}
		break;
	}
	case 1: {
		struct acme_order o;
		if (acme_json_order(doc, len, &o, &err) == 0) {
			if (o.n_authorizations == 0 || o.finalize == NULL ||
			    (o.status == ACME_STATUS_VALID &&
			    o.certificate == NULL))
				abort();
			acme_json_order_free(&o);
		}
		break;
	}
	case 2: {
		struct acme_authz a;
		if (acme_json_authz(doc, len, &a, &err) == 0) {
			for (size_t i = 0; i < a.n_challenges; i++)
				if (a.challenges[i].type != ACME_CHAL_OTHER &&
				    strspn(a.challenges[i].token,
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				    "qrstuvwxyz0123456789-_") !=
				    strlen(a.challenges[i].token))
					abort();
			acme_json_authz_free(&a);
		}
		break;
	}
	case 3: {
		struct acme_challenge c;
		if (acme_json_challenge(doc, len, &c, &err) == 0)
			acme_json_challenge_free(&c);
		break;
	}
	case 4: {
		struct acme_problem p;
		if (acme_json_problem(doc, len, &p, &err) == 0) {
			(void)acme_json_problem_is(&p, "badNonce");
			acme_json_problem_free(&p);
		}
		break;
	}
	case 5: {
		struct acme_renewal_info r;
		if (acme_json_renewal_info(doc, len, &r, &err) == 0) {
			if (r.end <= r.start)
				abort();
			acme_json_renewal_info_free(&r);
		}
		break;
	}
	default: {
		enum acme_status st;
		char buf[64];
		time_t t;
		(void)acme_json_account_status(doc, len, &st, &err);
		/* also the time parser on a bounded NUL-terminated copy */
		if (len < sizeof buf) {
			memcpy(buf, doc, len);
			buf[len] = '\0';
			(void)acme_json_time(buf, &t);
		}
		break;
	}
	}
	return 0;
}
