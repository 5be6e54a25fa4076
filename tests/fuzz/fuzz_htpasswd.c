/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_htpasswd.c — libFuzzer target for htpasswd users files and Basic
 * credentials (proxy/auth_basic.c).  The first byte picks the mode: even,
 * the rest is a users file; odd, an Authorization value checked against
 * a fixed table (a SHA-crypt entry with the minimum 1000 rounds, so each
 * verification stays cheap).
 *
 * Invariants: no crash or leak; a file that loads has as many users as
 * its non-comment lines at most; only the right password for "fuzz"
 * passes ("pw"; the seed corpus has it).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/diag.h"
#include "proxy/auth_basic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed[] =
    "# fixed table\n"
    "fuzz:$5$rounds=1000$ftGQvPBXsdQUptzK$1c7Ru.HWqipWoYLmYIoEV7Db/RurebnXRV.2m/f4Fo9\n";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct auth_basic *table;
	const char *s = (const char *)data + 1;
	size_t n = size - 1, lines = 0;
	struct auth_basic *ab;
	struct diag d;
	char user[64];

	if (size < 1)
		return 0;
	diag_init(&d);
	if (data[0] % 2 == 0) {
		ab = auth_basic_parse("fuzz", s, n, "realm", &d);
		for (size_t i = 0; i < n; i++)
			lines += s[i] == '\n';
		if (ab != NULL && auth_basic_count(ab) > lines + 1)
			abort();
		if (ab != NULL && (d.n_errors != 0 ||
		    strncmp(auth_basic_challenge(ab), "Basic realm=", 12)))
			abort();
		auth_basic_free(ab);
	} else {
		if (table == NULL &&
		    (table = auth_basic_parse("fixed", fixed, strlen(fixed),
		    NULL, &d)) == NULL)
			abort();
		auth_basic_cache_clear();
		if (auth_basic_check(table, s, n, user, sizeof user) ==
		    AUTH_BASIC_OK && strcmp(user, "fuzz") != 0)
			abort();
	}
	diag_free(&d);
	return 0;
}
