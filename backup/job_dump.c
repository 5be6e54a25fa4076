/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * job_dump.c — one PostgreSQL tool (pg_dump, pg_basebackup) writing a
 * backup file to its stdout.
 *
 * The tool's stdout is a pipe; this side pumps it through the stream
 * chain (compress, encrypt, hash, fsync) into DIR/NAME.  Both kinds of
 * job use it the same way:
 *
 *   job_dump_open()    create the file, the chain, the pipe, the tool's
 *                      conninfo and password environment
 *   job_dump_spawn()   start the tool with stdout on the pipe
 *   ...                the job's own work while the tool runs
 *   job_dump_finish()  pump to EOF, reap the tool, finish the chain and
 *                      record the file's size and sha256 in the manifest
 *   job_dump_close()   always: kill a tool still running, free it all
 *
 * A failure anywhere leaves a partial file that no manifest names; the
 * next run removes it (job_clean_partial).
 */
#include "backup/backup.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
job_dump_open(struct job_dump *d, const struct job_ctx *ctx, const char *dir,
    struct manifest *m, const char *base, const char *tool)
{
	const struct conf_backup_job *job = ctx->job;
	char path[PATH_MAX], bindir[PATH_MAX];

	memset(d, 0, sizeof *d);
	d->ctx = ctx;
	d->file = &m->files[0];
	d->fd = d->pipefd[0] = d->pipefd[1] = d->child.errfd = -1;

	snprintf(d->file->name, sizeof d->file->name, "%s%s", base,
	    stream_suffix(job->compression, ctx->has_key));
	if (bpath(path, sizeof path, "%s/%s", dir, d->file->name) == -1) {
		log_warn("job %s: %s/%s", job->name, dir, d->file->name);
		return -1;
	}
	if ((d->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0640)) == -1) {
		log_warn("job %s: create %s", job->name, path);
		return -1;
	}
	if ((d->sink = stream_sink_new(d->fd, true)) == NULL ||
	    (d->chain = stream_encoder(job->compression, job_key(ctx),
	    d->sink)) == NULL ||
	    (d->conninfo = pg_child_conninfo(job, NULL)) == NULL) {
		log_warnx("job %s: out of memory", job->name);
		return -1;
	}
	if (pipe2(d->pipefd, O_CLOEXEC) == -1) {
		log_warn("job %s: pipe", job->name);
		return -1;
	}
	d->pwenv = pg_child_password_env(job);
	pg_bindir(job, m->server_version_num, bindir, sizeof bindir);
	proc_tool(bindir, tool, d->tool, sizeof d->tool);
	return 0;
}

int
job_dump_spawn(struct job_dump *d, const char *const *argv, const char *name)
{
	const char *env[2] = { d->pwenv, NULL };
	struct proc_opts o = { .argv = argv, .name = name, .env = env,
		.stdin_fd = -1, .stdout_fd = d->pipefd[1] };

	d->child.errfd = -1;
	if (proc_spawn(&o, &d->child) == -1)
		return -1;
	close(d->pipefd[1]);	/* EOF on the pipe once the tool exits */
	d->pipefd[1] = -1;
	return 0;
}

int
job_dump_finish(struct job_dump *d, int stall_s, char **errtext)
{
	const char *job = d->ctx->job->name;

	if (stream_pump_fd(d->pipefd[0], d->chain, stall_s, NULL, NULL) ==
	    -1) {
		log_warnx("job %s: %s: %s", job, d->file->name,
		    stream_error(d->chain));
		return -1;
	}
	close(d->pipefd[0]);
	d->pipefd[0] = -1;
	if (proc_wait(&d->child, 0, errtext) == -1) {
		log_warnx("job %s: %s failed", job, d->child.name);
		return -1;
	}
	if (stream_finish(d->chain) == -1) {
		log_warnx("job %s: %s: %s", job, d->file->name,
		    stream_error(d->chain));
		return -1;
	}
	stream_sink_result(d->sink, &d->file->size, d->file->sha256);
	return 0;
}

void
job_dump_close(struct job_dump *d)
{
	if (d->child.pid > 0) {
		/* the tool may block on a full pipe: close our end first */
		if (d->pipefd[0] != -1)
			close(d->pipefd[0]);
		d->pipefd[0] = -1;
		proc_kill(&d->child);
	}
	if (d->pipefd[0] != -1)
		close(d->pipefd[0]);
	if (d->pipefd[1] != -1)
		close(d->pipefd[1]);
	if (d->chain)
		stream_free(d->chain);
	else if (d->sink)
		stream_free(d->sink);
	if (d->fd != -1)
		close(d->fd);
	free(d->conninfo);
	if (d->pwenv) {
		memset(d->pwenv, 0, strlen(d->pwenv));
		free(d->pwenv);
	}
	memset(d, 0, sizeof *d);
	d->fd = d->pipefd[0] = d->pipefd[1] = -1;
}
