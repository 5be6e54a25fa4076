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
	struct stream *sink = NULL, *chain = NULL;
	struct proc dump = { .pid = 0, .errfd = -1 };
	char path[PATH_MAX], tool[PATH_MAX], bindir[PATH_MAX], *snap = NULL;
	char *conninfo = NULL, *pwenv = NULL, *snaparg = NULL;
	const char *env[2] = { NULL, NULL };
	struct manifest_file *f = &m->files[0];
	int fd = -1, pipefd[2] = { -1, -1 }, rc = -1;

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

	snprintf(f->name, sizeof f->name, "dump.pgdump%s",
	    stream_suffix(job->compression, ctx->has_key));
	snprintf(path, sizeof path, "%s/%s", dir, f->name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640)) ==
	    -1) {
		log_warn("job %s: create %s", job->name, path);
		goto fail;
	}
	if ((sink = stream_sink_new(fd, true)) == NULL ||
	    (chain = stream_encoder(job->compression, job_key(ctx), sink)) ==
	    NULL) {
		log_warnx("job %s: out of memory", job->name);
		goto fail;
	}
	if (pipe2(pipefd, O_CLOEXEC) == -1) {
		log_warn("job %s: pipe", job->name);
		goto fail;
	}
	if ((conninfo = pg_child_conninfo(job, NULL)) == NULL ||
	    asprintf(&snaparg, "--snapshot=%s", snap) == -1)
		goto fail;
	pwenv = pg_child_password_env(job);
	env[0] = pwenv;
	pg_bindir(job, m->server_version_num, bindir, sizeof bindir);
	proc_tool(bindir, "pg_dump", tool, sizeof tool);
	{
		const char *argv[] = { tool, "--format=custom", "-Z0",
			"--no-password", snaparg, "-d", conninfo, NULL };
		struct proc_opts o = { .argv = argv, .name = "pg_dump",
			.env = env, .stdin_fd = -1, .stdout_fd = pipefd[1] };
		if (proc_spawn(&o, &dump) == -1)
			goto fail;
	}
	close(pipefd[1]);
	pipefd[1] = -1;

	/* in the exported snapshot, while pg_dump reads the same one */
	if (pg_count_rows(conn, false, m) == -1) {
		log_warnx("job %s: counting rows failed", job->name);
		goto fail;
	}
	if (stream_pump_fd(pipefd[0], chain, LOGICAL_STALL_S, NULL, NULL) ==
	    -1) {
		log_warnx("job %s: %s: %s", job->name, f->name,
		    stream_error(chain));
		goto fail;
	}
	close(pipefd[0]);
	pipefd[0] = -1;
	if (proc_wait(&dump, 0, NULL) == -1) {
		log_warnx("job %s: pg_dump failed", job->name);
		goto fail;
	}
	if (pg_exec(conn, "COMMIT") == -1)
		goto fail;
	if (stream_finish(chain) == -1) {
		log_warnx("job %s: %s: %s", job->name, f->name,
		    stream_error(chain));
		goto fail;
	}
	stream_sink_result(sink, &f->size, f->sha256);
	m->n_files = 1;
	rc = 0;
fail:
	if (dump.pid > 0) {
		if (pipefd[0] != -1)
			close(pipefd[0]);
		pipefd[0] = -1;
		proc_kill(&dump);
	}
	if (pipefd[0] != -1)
		close(pipefd[0]);
	if (pipefd[1] != -1)
		close(pipefd[1]);
	if (chain)
		stream_free(chain);
	else if (sink)
		stream_free(sink);
	if (fd != -1)
		close(fd);
	free(snap);
	free(snaparg);
	free(conninfo);
	if (pwenv) {
		memset(pwenv, 0, strlen(pwenv));
		free(pwenv);
	}
	pg_close(conn);
	return rc;
}
