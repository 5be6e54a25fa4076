/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * job_logical.c — a logical backup: pg_dump -Fc, and the row count of
 * every table in the very snapshot pg_dump reads.
 *
 * A REPEATABLE READ transaction exports its snapshot
 * (pg_export_snapshot); pg_dump starts with --snapshot=that, and while it
 * streams, the same transaction counts the rows of every table.  The
 * counts in the manifest are therefore exactly what the dump holds, which
 * is what `verify` compares a restored copy against.  pg_dump writes
 * uncompressed custom format (-Z0) to a pipe; compression, encryption,
 * hashing and fsync happen in the stream chain.
 */
#include "backup/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOGICAL_STALL_S	(30 * 60)	/* pg_dump silent this long: stuck */

int
job_logical_run(struct job_ctx *ctx, const char *dir, struct manifest *m)
{
	const struct conf_backup_job *job = ctx->job;
	struct pg_conn *conn = NULL;
	struct job_dump d;
	char *snap = NULL, *snaparg = NULL;
	int rc = -1;

	memset(&d, 0, sizeof d);
	d.fd = d.pipefd[0] = d.pipefd[1] = -1;
	if ((conn = pg_connect(job, NULL)) == NULL)
		return -1;
	if ((m->database = strdup(pg_dbname(conn))) == NULL ||
	    (m->server_version = strdup(pg_server_version(conn))) == NULL)
		goto fail;
	m->server_version_num = pg_server_version_num(conn);
	if (pg_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY") ==
	    -1 || (snap = pg_query_value(conn,
	    "SELECT pg_export_snapshot()")) == NULL)
		goto fail;

	if (job_dump_open(&d, ctx, dir, m, "dump.pgdump", "pg_dump") == -1)
		goto fail;
	if (asprintf(&snaparg, "--snapshot=%s", snap) == -1) {
		snaparg = NULL;
		goto fail;
	}
	{
		const char *argv[] = { d.tool, "--format=custom", "-Z0",
			"--no-password", snaparg, "-d", d.conninfo, NULL };
		if (job_dump_spawn(&d, argv, "pg_dump") == -1)
			goto fail;
	}

	/* in the exported snapshot, while pg_dump reads the same one */
	if (pg_count_rows(conn, false, m) == -1) {
		log_warnx("job %s: counting rows failed", job->name);
		goto fail;
	}
	if (job_dump_finish(&d, LOGICAL_STALL_S, NULL) == -1)
		goto fail;
	if (pg_exec(conn, "COMMIT") == -1)
		goto fail;
	m->n_files = 1;
	rc = 0;
fail:
	job_dump_close(&d);
	free(snap);
	free(snaparg);
	pg_close(conn);
	return rc;
}
