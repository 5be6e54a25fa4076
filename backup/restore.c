/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * restore.c — `restore JOB [--id ID] [--time T] --to-db NAME [--force]`.
 *
 * A restore never touches the job's source database and never leaves a
 * half-restored target: it restores into a temporary database
 * (limen_restore_PID), and only when that worked does it drop the old
 * target (with --force) and rename the temporary one to NAME.
 *
 * Logical backups are decoded (decrypt, decompress) straight into
 * pg_restore's stdin.  Physical backups are recovered in a scratch cluster
 * (cluster.c) — to the time asked, to the backup's own restore point with
 * --id, or to the end of the archived WAL — and the job's database is
 * copied from there with pg_dump | pg_restore.  Progress goes to stderr.
 */
#include "backup/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct restore_progress {
	uint64_t total;
	const char *what;
};

static void
restore_progress_cb(uint64_t done, void *arg)
{
	struct restore_progress *p = arg;

	if (p->total > 0)
		log_info("restore: %s: %.1f of %.1f MiB read (%d%%)", p->what,
		    (double)done / 1048576.0, (double)p->total / 1048576.0,
		    (int)(done * 100 / p->total));
}

/* pg_restore into dbname from stdin, fed by decoding the backup's file. */
int
restore_logical_into(struct job_ctx *ctx, const char *dir,
    const struct manifest *m, const char *dbname, bool progress)
{
	const struct conf_backup_job *job = ctx->job;
	struct proc pr = { .pid = 0, .errfd = -1 };
	struct stream *sink = NULL;
	struct restore_progress prog = { m->files[0].size, m->id };
	char path[PATH_MAX], tool[PATH_MAX], bindir[PATH_MAX], err[512];
	char *conninfo = NULL, *pwenv = NULL;
	const char *env[2] = { NULL, NULL };
	int pipefd[2] = { -1, -1 }, rc = -1;

	snprintf(path, sizeof path, "%s/%s", dir, m->files[0].name);
	if (m->encrypted && !ctx->has_key) {
		log_warnx("job %s: backup %s is encrypted and the job has no "
		    "encryption key_file", job->name, m->id);
		return -1;
	}
	if ((conninfo = pg_child_conninfo(job, dbname)) == NULL)
		return -1;
	pwenv = pg_child_password_env(job);
	env[0] = pwenv;
	if (pipe2(pipefd, O_CLOEXEC) == -1) {
		log_warn("pipe");
		goto out;
	}
	pg_bindir(job, m->server_version_num, bindir, sizeof bindir);
	proc_tool(bindir, "pg_restore", tool, sizeof tool);
	{
		const char *argv[] = { tool, "--no-owner", "--no-acl",
			"--exit-on-error", "--no-password", "-d", conninfo,
			NULL };
		struct proc_opts o = { .argv = argv, .name = "pg_restore",
			.env = env, .stdin_fd = pipefd[0], .stdout_fd = -1 };
		if (proc_spawn(&o, &pr) == -1)
			goto out;
	}
	close(pipefd[0]);
	pipefd[0] = -1;
	if ((sink = stream_sink_new(pipefd[1], false)) == NULL)
		goto out;
	if (stream_decode_file(path, m->compression, job_key(ctx), sink,
	    progress ? restore_progress_cb : NULL, &prog, err,
	    sizeof err) == -1) {
		log_warnx("job %s: restore of %s: %s", job->name, m->id, err);
		close(pipefd[1]);
		pipefd[1] = -1;
		proc_wait(&pr, 60, NULL);
		goto out;
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	if (proc_wait(&pr, 0, NULL) == -1) {
		log_warnx("job %s: pg_restore of %s failed", job->name, m->id);
		goto out;
	}
	rc = 0;
out:
	if (pr.pid > 0)
		proc_kill(&pr);
	if (pipefd[0] != -1)
		close(pipefd[0]);
	if (pipefd[1] != -1)
		close(pipefd[1]);
	stream_free(sink);
	free(conninfo);
	if (pwenv) {
		memset(pwenv, 0, strlen(pwenv));
		free(pwenv);
	}
	return rc;
}

/* pg_dump from a scratch cluster piped into pg_restore on the job's
 * server. */
static int
restore_copy_from_cluster(struct job_ctx *ctx, const struct cluster *cl,
    const struct manifest *m, const char *dbname)
{
	const struct conf_backup_job *job = ctx->job;
	struct proc dump = { .pid = 0, .errfd = -1 };
	struct proc rest = { .pid = 0, .errfd = -1 };
	char dtool[PATH_MAX], rtool[PATH_MAX], bindir[PATH_MAX];
	char *conninfo = NULL, *pwenv = NULL, *src = NULL;
	const char *env[2] = { NULL, NULL };
	int pipefd[2] = { -1, -1 }, rc = -1;

	if ((conninfo = pg_child_conninfo(job, dbname)) == NULL)
		return -1;
	if (asprintf(&src, "host='%s' port=5432 user='%s' dbname='%s'",
	    cl->sock, m->superuser, m->database) == -1) {
		src = NULL;
		goto out;
	}
	pwenv = pg_child_password_env(job);
	env[0] = pwenv;
	if (pipe2(pipefd, O_CLOEXEC) == -1) {
		log_warn("pipe");
		goto out;
	}
	pg_bindir(job, m->server_version_num, bindir, sizeof bindir);
	proc_tool(bindir, "pg_dump", dtool, sizeof dtool);
	proc_tool(bindir, "pg_restore", rtool, sizeof rtool);
	{
		const char *argv[] = { dtool, "--format=custom", "-Z0",
			"--no-password", "-d", src, NULL };
		struct proc_opts o = { .argv = argv, .name = "pg_dump",
			.stdin_fd = -1, .stdout_fd = pipefd[1] };
		if (proc_spawn(&o, &dump) == -1)
			goto out;
	}
	{
		const char *argv[] = { rtool, "--no-owner", "--no-acl",
			"--exit-on-error", "--no-password", "-d", conninfo,
			NULL };
		struct proc_opts o = { .argv = argv, .name = "pg_restore",
			.env = env, .stdin_fd = pipefd[0], .stdout_fd = -1 };
		if (proc_spawn(&o, &rest) == -1)
			goto out;
	}
	close(pipefd[0]);
	close(pipefd[1]);
	pipefd[0] = pipefd[1] = -1;
	log_info("restore: copying database %s from the recovered cluster",
	    m->database);
	if (proc_wait(&dump, 0, NULL) == -1) {
		proc_kill(&rest);
		goto out;
	}
	if (proc_wait(&rest, 0, NULL) == -1)
		goto out;
	rc = 0;
out:
	if (dump.pid > 0)
		proc_kill(&dump);
	if (rest.pid > 0)
		proc_kill(&rest);
	if (pipefd[0] != -1)
		close(pipefd[0]);
	if (pipefd[1] != -1)
		close(pipefd[1]);
	free(src);
	free(conninfo);
	if (pwenv) {
		memset(pwenv, 0, strlen(pwenv));
		free(pwenv);
	}
	return rc;
}

/* The backup to restore from: --id, or the newest complete one whose
 * restore test did not fail (and, with --time, that ended before it). */
static const struct catalog_entry *
restore_pick(struct job_ctx *ctx, const struct catalog *cat,
    const struct restore_req *r)
{
	const struct catalog_entry *e;
	char tbuf[32];

	if (r->id != NULL) {
		e = catalog_find(cat, r->id);
		if (e == NULL || !catalog_is_complete(e)) {
			log_warnx("job %s: no complete backup %s",
			    ctx->job->name, r->id);
			return NULL;
		}
		if (r->time_text && e->m.end > r->time) {
			manifest_time_fmt(e->m.end, tbuf);
			log_warnx("job %s: backup %s ended at %s, after %s",
			    ctx->job->name, r->id, tbuf, r->time_text);
			return NULL;
		}
		return e;
	}
	for (size_t i = cat->n; i > 0; i--) {
		e = &cat->e[i - 1];
		if (!catalog_is_complete(e) ||
		    e->status == CATALOG_VERIFY_FAILED)
			continue;
		if (r->time_text && e->m.end > r->time)
			continue;
		return e;
	}
	if (r->time_text)
		log_warnx("job %s: no complete backup ended before %s",
		    ctx->job->name, r->time_text);
	else
		log_warnx("job %s: no complete backup to restore",
		    ctx->job->name);
	return NULL;
}

int
restore_run(struct job_ctx *ctx, const struct restore_req *r)
{
	const struct conf_backup_job *job = ctx->job;
	struct pg_conn *admin = NULL;
	struct catalog cat;
	const struct catalog_entry *e;
	struct cluster cl;
	char tmp[64], dir[PATH_MAX];
	bool cluster_used = false, tmp_made = false;
	int exists, rc = BACKUP_EXIT_FAIL;

	memset(&cl, 0, sizeof cl);
	if (r->time_text && job->kind != BACKUP_PHYSICAL) {
		log_warnx("job %s: --time needs a physical job", job->name);
		return BACKUP_EXIT_USER;
	}
	if (catalog_load(ctx->jobdir, &cat) == -1) {
		log_warn("job %s: read %s", job->name, ctx->jobdir);
		return BACKUP_EXIT_FAIL;
	}
	if ((e = restore_pick(ctx, &cat, r)) == NULL) {
		rc = BACKUP_EXIT_USER;
		goto out;
	}
	if ((admin = pg_connect(job, NULL)) == NULL)
		goto out;
	if (strcmp(pg_dbname(admin), r->to_db) == 0 ||
	    strcmp(e->m.database, r->to_db) == 0) {
		log_warnx("job %s: %s is the job's source database; restore "
		    "into another name", job->name, r->to_db);
		rc = BACKUP_EXIT_USER;
		goto out;
	}
	if ((exists = pg_database_exists(admin, r->to_db)) == -1)
		goto out;
	if (exists && !r->force) {
		log_warnx("job %s: database %s exists; use --force to replace "
		    "it", job->name, r->to_db);
		rc = BACKUP_EXIT_USER;
		goto out;
	}
	bpath(dir, sizeof dir, "%s/%s", ctx->jobdir, e->id);
	log_info("job %s: restoring backup %s into database %s", job->name,
	    e->id, r->to_db);
	if (verify_files(dir, &e->m) == -1)
		goto out;
	snprintf(tmp, sizeof tmp, "limen_restore_%d", (int)getpid());
	if (pg_drop_database(admin, tmp) == -1 ||
	    pg_create_database(admin, tmp) == -1)
		goto out;
	tmp_made = true;
	if (e->m.kind == BACKUP_LOGICAL) {
		if (restore_logical_into(ctx, dir, &e->m, tmp, true) == -1)
			goto out;
	} else {
		enum cluster_target t = r->time_text ? CLUSTER_TARGET_TIME :
		    r->id ? CLUSTER_TARGET_NAME : CLUSTER_TARGET_LATEST;
		cluster_used = true;
		if (cluster_start(ctx, dir, &e->m, t, r->time_text, &cl) == -1 ||
		    restore_copy_from_cluster(ctx, &cl, &e->m, tmp) == -1)
			goto out;
	}
	if (backup_stop)
		goto out;
	if (exists && pg_drop_database(admin, r->to_db) == -1)
		goto out;
	if (pg_rename_database(admin, tmp, r->to_db) == -1)
		goto out;
	tmp_made = false;
	log_info("job %s: backup %s restored into database %s", job->name,
	    e->id, r->to_db);
	printf("%s\n", e->id);
	rc = BACKUP_EXIT_OK;
out:
	if (cluster_used)
		cluster_destroy(&cl);
	if (tmp_made && admin && pg_drop_database(admin, tmp) == -1)
		log_warnx("job %s: could not drop %s", job->name, tmp);
	if (rc == BACKUP_EXIT_FAIL)
		log_warnx("job %s: restore failed; database %s is unchanged",
		    job->name, r->to_db);
	pg_close(admin);
	catalog_free(&cat);
	return rc;
}
