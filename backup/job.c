/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * job.c — one run of a backup job, as a small state machine:
 *
 *   LOCKED   the job's lock file is held (flock), so a job never runs
 *            twice at once, whoever started it (scheduler, `now`, prune)
 *   CLEANED  directories without a complete manifest (a crash, a full
 *            disk, a kill -9 of an earlier run) are removed
 *   RUNNING  the kind (job_logical.c / job_physical.c) writes its files
 *            into DESTINATION/JOB/ID/ through the stream chain; each file
 *            is fsynced by its sink
 *   CHECKED  every file is read back from disk and its size and SHA-256
 *            compared with what was written
 *   COMMITTED manifest.json written atomically (temporary file, fsync,
 *            rename, fsync of the directory) — only now is the backup
 *            complete; then the job directory is fsynced
 *   VERIFIED the restore test when the job says `verify: true`
 *   PRUNED   the retention policy applied
 *
 * Any failure before COMMITTED removes the backup's directory and keeps
 * every earlier backup; a failure that cannot even do that (kill -9,
 * power loss) leaves a directory without a manifest, which `list` shows
 * as partial and the next run removes.
 */
#include "backup/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"

volatile sig_atomic_t backup_stop;

int
bpath(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

const struct conf_backup_job *
job_find(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->backup.n_jobs; i++)
		if (strcmp(cfg->backup.jobs[i].name, name) == 0)
			return &cfg->backup.jobs[i];
	return NULL;
}

int
job_open(struct job_ctx *ctx, const struct config *cfg,
    const char *config_path, const struct conf_backup_job *job)
{
	char err[512];

	memset(ctx, 0, sizeof *ctx);
	ctx->cfg = cfg;
	ctx->config_path = config_path;
	ctx->job = job;
	ctx->lock_fd = -1;
	if (job->destination == NULL || job->destination[0] != '/') {
		log_warnx("job %s: destination must be an absolute path",
		    job->name);
		return -1;
	}
	/* leave room for ID/file names below the job directory */
	if (snprintf(ctx->jobdir, sizeof ctx->jobdir, "%s/%s",
	    job->destination, job->name) >= (int)sizeof ctx->jobdir - 256) {
		log_warnx("job %s: destination path too long", job->name);
		return -1;
	}
	if (job->encryption_key_file != NULL) {
		if (encrypt_load_key(job->encryption_key_file, ctx->key, err,
		    sizeof err) == -1) {
			log_warnx("job %s: encryption key: %s", job->name, err);
			return -1;
		}
		ctx->has_key = true;
	}
	return 0;
}

void
job_close(struct job_ctx *ctx)
{
	if (ctx->lock_fd != -1)
		close(ctx->lock_fd);
	ctx->lock_fd = -1;
	memset(ctx->key, 0, sizeof ctx->key);
}

const uint8_t *
job_key(const struct job_ctx *ctx)
{
	return ctx->has_key ? ctx->key : NULL;
}

/*
 * Create the job directory.  For a physical job, PostgreSQL's
 * archive_command (running as the server's user) writes JOB/wal/: when we
 * are root, hand JOB/ and JOB/wal/ to that user (run_as) if root owns them.
 */
int
job_prepare_dirs(struct job_ctx *ctx)
{
	char wal[PATH_MAX];
	struct stat st;
	bool drop;
	uid_t uid;
	gid_t gid;

	if (fsutil_mkdirs(ctx->jobdir, 0750) == -1) {
		log_warn("job %s: create %s", ctx->job->name, ctx->jobdir);
		return -1;
	}
	if (ctx->job->kind != BACKUP_PHYSICAL || geteuid() != 0)
		return 0;
	if (cluster_user(ctx->job, &drop, &uid, &gid) == -1 || !drop)
		return 0;
	wal_dir(ctx, wal, sizeof wal);
	if (mkdir(wal, 0750) == -1 && errno != EEXIST) {
		log_warn("job %s: create %s", ctx->job->name, wal);
		return -1;
	}
	if (stat(ctx->jobdir, &st) == 0 && st.st_uid == 0 &&
	    chown(ctx->jobdir, uid, gid) == -1)
		log_warn("job %s: chown %s", ctx->job->name, ctx->jobdir);
	if (stat(wal, &st) == 0 && st.st_uid == 0 &&
	    chown(wal, uid, gid) == -1)
		log_warn("job %s: chown %s", ctx->job->name, wal);
	return 0;
}

int
job_lock(struct job_ctx *ctx)
{
	char path[PATH_MAX];

	if (ctx->lock_fd != -1)
		return 0;
	if (job_prepare_dirs(ctx) == -1)
		return -1;
	bpath(path, sizeof path, "%s/.lock", ctx->jobdir);
	if ((ctx->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) ==
	    -1) {
		log_warn("job %s: open %s", ctx->job->name, path);
		return -1;
	}
	if (flock(ctx->lock_fd, LOCK_EX | LOCK_NB) == -1) {
		int e = errno;
		if (e == EWOULDBLOCK)
			log_warnx("job %s: already running (%s is locked)",
			    ctx->job->name, path);
		else
			log_warn("job %s: lock %s", ctx->job->name, path);
		close(ctx->lock_fd);
		ctx->lock_fd = -1;
		errno = e;
		return -1;
	}
	return 0;
}

static int
rmtree_cb(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	if (flag == FTW_DP)
		return rmdir(path) == -1 && errno != ENOENT ? -1 : 0;
	return unlink(path) == -1 && errno != ENOENT ? -1 : 0;
}

int
job_rmtree(const char *path)
{
	if (nftw(path, rmtree_cb, 16, FTW_DEPTH | FTW_PHYS) == -1 &&
	    errno != ENOENT)
		return -1;
	return 0;
}

int
job_clean_partial(struct job_ctx *ctx)
{
	struct catalog cat;
	int rc = 0;

	if (catalog_load(ctx->jobdir, &cat) == -1) {
		log_warn("job %s: read %s", ctx->job->name, ctx->jobdir);
		return -1;
	}
	for (size_t i = 0; i < cat.n; i++) {
		char dir[PATH_MAX];

		if (cat.e[i].status == CATALOG_INVALID)
			log_warnx("job %s: backup %s has a broken manifest "
			    "(%s); left in place", ctx->job->name, cat.e[i].id,
			    cat.e[i].problem ? cat.e[i].problem : "?");
		if (cat.e[i].status != CATALOG_PARTIAL)
			continue;
		bpath(dir, sizeof dir, "%s/%s", ctx->jobdir, cat.e[i].id);
		if (job_rmtree(dir) == -1) {
			log_warn("job %s: remove partial backup %s",
			    ctx->job->name, dir);
			rc = -1;
		} else
			log_info("job %s: removed partial backup %s",
			    ctx->job->name, cat.e[i].id);
	}
	catalog_free(&cat);
	if (fsutil_fsync_dir(ctx->jobdir) == -1 && errno != ENOENT)
		rc = -1;
	return rc;
}

/* Create DESTINATION/JOB/ID for a backup started at t. */
static int
job_make_dir(struct job_ctx *ctx, time_t t, char id[BACKUP_ID_MAX],
    char *dir, size_t dirlen)
{
	struct tm tm;
	char base[BACKUP_ID_MAX];

	gmtime_r(&t, &tm);
	strftime(base, sizeof base, "%Y%m%dT%H%M%SZ", &tm);
	for (int n = 1; n <= 9; n++) {
		if (n == 1)
			snprintf(id, BACKUP_ID_MAX, "%s", base);
		else
			bpath(id, BACKUP_ID_MAX, "%s-%d", base, n);
		bpath(dir, dirlen, "%s/%s", ctx->jobdir, id);
		if (mkdir(dir, 0750) == 0)
			return 0;
		if (errno != EEXIST) {
			log_warn("job %s: mkdir %s", ctx->job->name, dir);
			return -1;
		}
	}
	log_warnx("job %s: too many backups in the second %s", ctx->job->name,
	    base);
	errno = EEXIST;
	return -1;
}

/* Read every file back and compare with what the kind recorded. */
static int
job_check_on_disk(struct job_ctx *ctx, const char *dir,
    const struct manifest *m)
{
	if (m->n_files == 0) {
		log_warnx("job %s: the backup wrote no file", ctx->job->name);
		return -1;
	}
	return verify_files(dir, m);
}

int
job_backup(struct job_ctx *ctx, char id[BACKUP_ID_MAX])
{
	const struct conf_backup_job *job = ctx->job;
	struct manifest m;
	char dir[PATH_MAX], size_text[32];
	struct timespec t0, t1;
	int rc = -1;

	memset(&m, 0, sizeof m);
	id[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &t0);
	m.start = time(NULL);
	if (job_prepare_dirs(ctx) == -1)
		return -1;
	if (job_make_dir(ctx, m.start, id, dir, sizeof dir) == -1)
		return -1;
	snprintf(m.id, sizeof m.id, "%s", id);
	m.kind = job->kind;
	m.compression = job->compression;
	m.encrypted = ctx->has_key;
	if ((m.job = strdup(job->name)) == NULL)
		goto fail;
	log_info("job %s: backup %s started (%s)", job->name, id,
	    job->kind == BACKUP_PHYSICAL ? "physical" : "logical");

	if ((job->kind == BACKUP_PHYSICAL ? job_physical_run(ctx, dir, &m) :
	    job_logical_run(ctx, dir, &m)) == -1)
		goto fail;
	if (backup_stop) {
		log_warnx("job %s: backup %s interrupted", job->name, id);
		goto fail;
	}
	if (job_check_on_disk(ctx, dir, &m) == -1)
		goto fail;
	if (fsutil_fsync_dir(dir) == -1) {
		log_warn("job %s: fsync %s", job->name, dir);
		goto fail;
	}
	m.size = 0;
	for (size_t i = 0; i < m.n_files; i++)
		m.size += m.files[i].size;
	m.end = time(NULL);
	if (manifest_write(dir, &m) == -1) {
		log_warn("job %s: write the manifest of %s", job->name, id);
		goto fail;
	}
	if (fsutil_fsync_dir(ctx->jobdir) == -1) {
		log_warn("job %s: fsync %s", job->name, ctx->jobdir);
		goto fail;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	snprintf(size_text, sizeof size_text, "%.1f MiB",
	    (double)m.size / (1024.0 * 1024.0));
	log_info("job %s: backup %s complete: %s, %zu tables, %.1f s",
	    job->name, id, size_text, m.n_tables,
	    (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	rc = 0;
fail:
	if (rc == -1) {
		/* no manifest: never complete; remove what was written */
		char mpath[PATH_MAX];
		bpath(mpath, sizeof mpath, "%s/manifest.json", dir);
		unlink(mpath);
		if (job_rmtree(dir) == -1)
			log_warn("job %s: remove %s (the next run will)",
			    job->name, dir);
		else
			fsutil_fsync_dir(ctx->jobdir);
		log_warnx("job %s: backup %s failed", job->name, id);
	}
	manifest_free(&m);
	return rc;
}

int
job_run(struct job_ctx *ctx, char id[BACKUP_ID_MAX])
{
	int rc;

	id[0] = '\0';
	if (job_lock(ctx) == -1)
		return BACKUP_EXIT_FAIL;
	job_clean_partial(ctx);
	if (job_backup(ctx, id) == -1)
		return BACKUP_EXIT_FAIL;
	rc = BACKUP_EXIT_OK;
	if (ctx->job->verify && !backup_stop) {
		if (verify_run(ctx, id) != BACKUP_EXIT_OK)
			rc = BACKUP_EXIT_FAIL;
	}
	if (!backup_stop && prune_run(ctx, false, false) == -1)
		log_warnx("job %s: pruning failed; the backup itself is fine",
		    ctx->job->name);
	return rc;
}
