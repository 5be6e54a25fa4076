/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * main.c — the `limen` command line (SPEC §1).
 *
 *   limen [run] [-c FILE]     proxy + ACME manager in the foreground
 *   limen check [-c FILE]     validate; every problem as FILE:LINE:COL
 *   limen reload [-c FILE]    make the running instance load FILE again
 *   limen certs [-c FILE]     obtain or renew the ACME certificates now
 *   limen --version
 *
 * Options may stand before or after the command.  Exit codes: 0 success,
 * 1 user error (bad config, bad argument), 2 internal failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme/oneshot.h"
#include "conf/config.h"
#include "conf/diag.h"
#include "conf/schema.h"
#include "common/evlog.h"
#include "proxy/gateway.h"
#include "proxy/server.h"

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: limen [run | check | reload | certs] [-c FILE | --config FILE]\n"
	    "       limen --version\n"
	    "  run     run the proxy and the ACME manager in the foreground\n"
	    "  check   validate the configuration and print every problem\n"
	    "  reload  make the running instance load the configuration again\n"
	    "  certs   obtain or renew the ACME certificates now, then exit\n"
	    "  -c, --config FILE   configuration file (default %s)\n",
	    CONF_DEFAULT_PATH);
}

static int
cmd_check(const char *path)
{
	struct diag d;
	struct config *c;

	diag_init(&d);
	/* Like `limen run`: the backup jobs' password files belong to the
	 * companion's user (limen.service runs this check as User=limen);
	 * limen-backup reads and checks them itself when it loads. */
	c = conf_load_ex(path, CONF_LOAD_SKIP_BACKUP_SECRETS, &d);
	if (c != NULL) {
		/* the users files, JWKS and WAF rules the routes name */
		struct gateway *g = gateway_new(c, &d);

		if (g == NULL) {
			conf_unref(c);
			c = NULL;
		}
		gateway_free(g);
	}
	diag_sort(&d);
	diag_print(&d, stderr);
	if (c == NULL) {
		/* out of memory is not the file's fault: 2, as SPEC §1 */
		int rc = d.oom ? 2 : 1;

		diag_free(&d);
		return rc;
	}
	conf_unref(c);
	diag_free(&d);
	printf("%s: ok\n", path);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *path = CONF_DEFAULT_PATH, *cmd = NULL;

	evlog_install();	/* libevent's messages in limen's log format */

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (++i == argc) {
				fprintf(stderr, "limen: %s needs a file name\n", a);
				return 1;
			}
			path = argv[i];
		} else if (strncmp(a, "--config=", 9) == 0) {
			path = a + 9;
		} else if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
			printf("limen %s\n", LIMEN_VERSION);
			return 0;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (a[0] == '-') {
			fprintf(stderr, "limen: unknown option '%s'\n", a);
			usage(stderr);
			return 1;
		} else if (cmd == NULL) {
			cmd = a;
		} else {
			fprintf(stderr, "limen: unexpected argument '%s'\n", a);
			usage(stderr);
			return 1;
		}
	}
	if (cmd == NULL || strcmp(cmd, "run") == 0)
		return server_run(path);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(path);
	if (strcmp(cmd, "config-docs") == 0)	/* hidden: docs/config.md */
		return conf_docs_write(stdout) == 0 ? 0 : 2;
	if (strcmp(cmd, "reload") == 0)
		return server_reload_command(path);
	if (strcmp(cmd, "certs") == 0)
		return oneshot_certs(path);
	fprintf(stderr, "limen: unknown command '%s'\n", cmd);
	usage(stderr);
	return 1;
}
