/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * job_physical.c — a physical backup: pg_basebackup over the replication
 * protocol, plus the WAL that `archive-wal` keeps.
 *
 * pg_basebackup writes one tar to stdout (-D - -Ft) with the WAL needed
 * to reach consistency (-X fetch) and its own backup_manifest; the stream
 * chain compresses, encrypts, hashes and fsyncs it.  After the base
 * backup the job creates a named restore point and, in the same
 * REPEATABLE READ transaction, counts the rows of every logged table:
 * `verify` recovers a scratch cluster to exactly that restore point and
 * compares.  Then it switches WAL and waits until the segment holding the
 * restore point is in the archive, which also proves that archiving
 * works — a physical backup without its WAL could not be restored.
 */
#include "backup/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PHYSICAL_STALL_S	(30 * 60)
#define PHYSICAL_WAL_WAIT_S	120

/* "write-ahead log start point: 0/2000028 on timeline 1" */
static int
physical_parse_log(const char *text, struct manifest *m)
{
	const char *p;
	char lsn[32];
	unsigned tl;

	if (text == NULL)
		return -1;
	if ((p = strstr(text, "write-ahead log start point: ")) == NULL ||
	    sscanf(p, "write-ahead log start point: %31s on timeline %u",
	    lsn, &tl) != 2)
		return -1;
	if ((m->start_lsn = strdup(lsn)) == NULL)
		return -1;
	m->timeline = tl;
	if ((p = strstr(text, "write-ahead log end point: ")) == NULL ||
	    sscanf(p, "write-ahead log end point: %31s", lsn) != 1)
		return -1;
	if ((m->end_lsn = strdup(lsn)) == NULL)
		return -1;
	return 0;
}

/* pg_basebackup into dir/base.tar(.gz...) */
static int
physical_basebackup(struct job_ctx *ctx, const char *dir, struct manifest *m)
{
	const struct conf_backup_job *job = ctx->job;
	struct job_dump d;
	char label[128], *errtext = NULL;
	int rc = -1;

	snprintf(label, sizeof label, "limen %s %s", job->name, m->id);
	if (job_dump_open(&d, ctx, dir, m, "base.tar", "pg_basebackup") == -1)
		goto out;
	{
		const char *argv[] = { d.tool, "-D", "-", "--format=tar",
			"--wal-method=fetch", "--checkpoint=fast", "--verbose",
			"--no-password", "--label", label, "-d", d.conninfo,
			NULL };
		if (job_dump_spawn(&d, argv, "pg_basebackup") == -1)
			goto out;
	}
	if (job_dump_finish(&d, PHYSICAL_STALL_S, &errtext) == -1)
		goto out;
	if (physical_parse_log(errtext, m) == -1) {
		log_warnx("job %s: pg_basebackup did not report its WAL "
		    "positions", job->name);
		goto out;
	}
	m->n_files = 1;
	rc = 0;
out:
	job_dump_close(&d);
	free(errtext);
	return rc;
}

int
job_physical_run(struct job_ctx *ctx, const char *dir, struct manifest *m)
{
	const struct conf_backup_job *job = ctx->job;
	struct pg_conn *conn;
	char *v = NULL, *segsize = NULL, sql[256], seg[25];
	uint64_t seg_bytes;
	time_t deadline;
	int rc = -1;

	if ((conn = pg_connect(job, NULL)) == NULL)
		return -1;
	if ((m->database = strdup(pg_dbname(conn))) == NULL ||
	    (m->server_version = strdup(pg_server_version(conn))) == NULL)
		goto out;
	m->server_version_num = pg_server_version_num(conn);
	if ((v = pg_query_value(conn, "SHOW archive_mode")) == NULL)
		goto out;
	if (strcmp(v, "off") == 0) {
		log_warnx("job %s: the server has archive_mode = off; a "
		    "physical job needs archive_mode = on and archive_command "
		    "= 'limen-backup -c CONFIG archive-wal %s %%p %%f'",
		    job->name, job->name);
		goto out;
	}
	if ((m->superuser = pg_query_value(conn,
	    "SELECT rolname FROM pg_roles WHERE oid = 10")) == NULL ||
	    (segsize = pg_query_value(conn,
	    "SELECT pg_size_bytes(current_setting('wal_segment_size'))")) ==
	    NULL)
		goto out;
	seg_bytes = strtoull(segsize, NULL, 10);

	if (physical_basebackup(ctx, dir, m) == -1)
		goto out;
	if (wal_segment_name(m->timeline, m->start_lsn, seg_bytes, seg) == -1 ||
	    (m->start_wal = strdup(seg)) == NULL)
		goto out;

	/* the restore point and the counts, in one snapshot */
	snprintf(sql, sizeof sql, "limen-%.40s-%s", job->name, m->id);
	if ((m->restore_point = strdup(sql)) == NULL)
		goto out;
	if (pg_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ") == -1)
		goto out;
	{
		char *q = NULL, *lit;
		lit = pg_quote_literal(conn, m->restore_point);
		if (lit == NULL || asprintf(&q, "SELECT pg_walfile_name("
		    "pg_create_restore_point(%s))", lit) == -1) {
			free(lit);
			goto out;
		}
		free(lit);
		free(v);
		v = pg_query_value(conn, q);
		free(q);
		if (v == NULL || !wal_is_segment(v)) {
			log_warnx("job %s: cannot create a restore point (the "
			    "role needs EXECUTE on pg_create_restore_point "
			    "and pg_switch_wal)", job->name);
			pg_exec(conn, "ROLLBACK");
			goto out;
		}
		if ((m->end_wal = strdup(v)) == NULL)
			goto out;
	}
	if (pg_count_rows(conn, true, m) == -1 || pg_exec(conn, "COMMIT") == -1)
		goto out;
	free(v);
	if ((v = pg_query_value(conn, "SELECT pg_switch_wal()")) == NULL)
		goto out;

	deadline = time(NULL) + PHYSICAL_WAL_WAIT_S;
	while (!wal_archived(ctx, m->end_wal)) {
		if (backup_stop)
			goto out;
		if (time(NULL) > deadline) {
			log_warnx("job %s: WAL segment %s was not archived "
			    "within %d s: is archive_command set to "
			    "'limen-backup -c CONFIG archive-wal %s %%p %%f'?",
			    job->name, m->end_wal, PHYSICAL_WAL_WAIT_S,
			    job->name);
			goto out;
		}
		usleep(100000);
	}
	rc = 0;
out:
	free(v);
	free(segsize);
	pg_close(conn);
	return rc;
}
