/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * main.c — the `limen-backup` command line (SPEC §1).  Commands: run, now,
 * list, verify, restore, prune, archive-wal.
 */
#include <stdio.h>
#include <string.h>

#include "conf/config.h"

int
main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--version") == 0) {
			printf("limen-backup %s\n", LIMEN_VERSION);
			return 0;
		}
	fprintf(stderr, "limen-backup: no commands yet\n");
	return 2;
}
