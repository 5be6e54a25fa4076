/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cluster.c — a throw-away PostgreSQL cluster built from a physical
 * backup, for `verify` and `restore` of physical jobs.
 *
 * In a private scratch directory (mode 0700, owned by the user that runs
 * it — `run_as`, default postgres, when limen-backup is root):
 *   data/   the base backup, unpacked by tar running as that user
 *   wal/    the archived WAL the recovery needs, decoded
 *   sock/   the only way in: a Unix socket, no TCP listener
 * plus our own postgresql.conf and pg_hba.conf ("local all all trust"), so
 * nothing of the source server's network or archive settings applies:
 * archive_mode is off (the scratch cluster never writes into the job's
 * archive), restore_command copies from wal/, hot_standby is off (no
 * parameter checks against the primary), fsync is off (it is scratch).
 *
 * Recovery stops at the target (a restore point name, a time, or the end
 * of the archive) and promotes.  PostgreSQL itself refuses to promote when
 * the WAL ends before a named or timed target ("recovery ended before
 * configured recovery target was reached") and exits, so "the server
 * accepts connections and is not in recovery" means "the target was
 * reached".  cluster_destroy() stops it (immediate) and removes it all.
 */
#include "backup/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fsutil.h"

#define CLUSTER_START_S	600	/* recovery of a big backlog takes a while */

int
cluster_user(const struct conf_backup_job *job, bool *drop, uid_t *uid,
    gid_t *gid)
{
	const char *name = job->run_as ? job->run_as : "postgres";
	struct passwd *pw;

	*drop = false;
	*uid = getuid();
	*gid = getgid();
	if (geteuid() != 0)
		return 0;
	if ((pw = getpwnam(name)) == NULL) {
		log_warnx("job %s: user %s (run_as) does not exist; PostgreSQL "
		    "refuses to run as root", job->name, name);
		return -1;
	}
	*drop = true;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

int
cluster_scratch_root(const struct conf_backup_job *job, char *out, size_t len)
{
	const char *root = job->scratch_dir;

	if (root == NULL)
		root = getenv("TMPDIR");
	if (root == NULL || *root == '\0')
		root = "/var/tmp";
	if (snprintf(out, len, "%s", root) >= (int)len)
		return -1;
	return 0;
}

static int
cluster_mkdir(struct cluster *cl, const char *path)
{
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return -1;
	if (cl->drop && chown(path, cl->uid, cl->gid) == -1)
		return -1;
	return 0;
}

static int
cluster_write(struct cluster *cl, const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(text);

	if (fd == -1)
		return -1;
	if (write(fd, text, len) != (ssize_t)len ||
	    (cl->drop && fchown(fd, cl->uid, cl->gid) == -1)) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* Unpack the base backup's tar into data/ with tar running as the user. */
static int
cluster_unpack(struct job_ctx *ctx, struct cluster *cl, const char *path,
    const struct manifest *m)
{
	struct proc tar = { .pid = 0, .errfd = -1 };
	struct stream *sink = NULL;
	char err[512];
	int pipefd[2] = { -1, -1 }, rc = -1;

	if (pipe2(pipefd, O_CLOEXEC) == -1)
		return -1;
	{
		const char *argv[] = { "tar", "-x", "-f", "-", "-C", cl->data,
			"--no-same-owner", NULL };
		struct proc_opts o = { .argv = argv, .name = "tar",
			.stdin_fd = pipefd[0], .stdout_fd = -1,
			.drop = cl->drop, .uid = cl->uid, .gid = cl->gid };
		if (proc_spawn(&o, &tar) == -1)
			goto out;
	}
	close(pipefd[0]);
	pipefd[0] = -1;
	if ((sink = stream_sink_new(pipefd[1], false)) == NULL)
		goto out;
	if (stream_decode_file(path, m->compression, job_key(ctx), sink, NULL,
	    NULL, err, sizeof err) == -1) {
		log_warnx("unpack %s: %s", m->id, err);
		goto out;
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	if (proc_wait(&tar, 0, NULL) == -1)
		goto out;
	rc = 0;
out:
	if (pipefd[1] != -1)
		close(pipefd[1]);
	if (pipefd[0] != -1)
		close(pipefd[0]);
	if (tar.pid > 0)
		proc_kill(&tar);
	stream_free(sink);
	return rc;
}

/* Wait until the server accepts connections out of recovery. */
static int
cluster_wait_ready(struct cluster *cl, const struct manifest *m)
{
	time_t deadline = time(NULL) + CLUSTER_START_S;
	const char *keys[] = { "host", "port", "user", "dbname",
		"connect_timeout", NULL };
	const char *vals[] = { cl->sock, "5432", m->superuser, m->database,
		"5", NULL };

	while (time(NULL) < deadline && !backup_stop) {
		int status;

		if (waitpid(cl->pm.pid, &status, WNOHANG) == cl->pm.pid) {
			cl->pm.pid = 0;
			log_warnx("the scratch PostgreSQL stopped during "
			    "recovery; its log follows");
			proc_log_stderr(&cl->pm);
			return -1;
		}
		if (PQpingParams(keys, vals, 0) == PQPING_OK) {
			struct pg_conn *c = pg_connect_socket(cl->sock,
			    m->superuser, m->database);
			char *v = c ? pg_query_value(c,
			    "SELECT pg_is_in_recovery()") : NULL;
			bool done = v && strcmp(v, "f") == 0;

			free(v);
			pg_close(c);
			if (done)
				return 0;
		}
		usleep(100000);
	}
	log_warnx("the scratch PostgreSQL did not finish recovery");
	return -1;
}

int
cluster_start(struct job_ctx *ctx, const char *backup_dir,
    const struct manifest *m, enum cluster_target target, const char *when,
    struct cluster *cl)
{
	const struct conf_backup_job *job = ctx->job;
	char root[PATH_MAX], path[PATH_MAX], tool[PATH_MAX], wal[PATH_MAX];
	char conf[PATH_MAX], hba[PATH_MAX], ident[PATH_MAX];
	char a_conf[PATH_MAX + 32], a_hba[PATH_MAX + 32], a_ident[PATH_MAX + 32];
	char a_sock[PATH_MAX + 40], a_restore[2 * PATH_MAX + 64];
	char a_target[160], tbuf[64];

	memset(cl, 0, sizeof *cl);
	cl->pm.errfd = -1;
	if (cluster_user(job, &cl->drop, &cl->uid, &cl->gid) == -1)
		return -1;
	if (cluster_scratch_root(job, root, sizeof root) == -1 ||
	    fsutil_mkdirs(root, 0755) == -1) {
		log_warn("job %s: scratch directory %s", job->name, root);
		return -1;
	}
	bpath(cl->dir, sizeof cl->dir, "%s/limen-scratch-XXXXXX", root);
	if (mkdtemp(cl->dir) == NULL) {
		log_warn("job %s: create a scratch directory in %s", job->name,
		    root);
		cl->dir[0] = '\0';
		return -1;
	}
	bpath(cl->data, sizeof cl->data, "%s/data", cl->dir);
	bpath(cl->sock, sizeof cl->sock, "%s/sock", cl->dir);
	bpath(wal, sizeof wal, "%s/wal", cl->dir);
	bpath(conf, sizeof conf, "%s/postgresql.conf", cl->dir);
	bpath(hba, sizeof hba, "%s/pg_hba.conf", cl->dir);
	bpath(ident, sizeof ident, "%s/pg_ident.conf", cl->dir);
	if ((cl->drop && chown(cl->dir, cl->uid, cl->gid) == -1) ||
	    cluster_mkdir(cl, cl->data) == -1 ||
	    cluster_mkdir(cl, cl->sock) == -1 ||
	    cluster_mkdir(cl, wal) == -1 ||
	    cluster_write(cl, conf, "# limen-backup scratch cluster\n") ==
	    -1 ||
	    cluster_write(cl, hba, "local all all trust\n") == -1 ||
	    cluster_write(cl, ident, "") == -1) {
		log_warn("job %s: prepare %s", job->name, cl->dir);
		return -1;
	}
	snprintf(path, sizeof path, "%s/%s", backup_dir, m->files[0].name);
	log_info("job %s: unpacking %s into a scratch cluster in %s",
	    job->name, m->id, cl->dir);
	if (cluster_unpack(ctx, cl, path, m) == -1)
		return -1;
	bpath(path, sizeof path, "%s/recovery.signal", cl->data);
	if (cluster_write(cl, path, "") == -1) {
		log_warn("create %s", path);
		return -1;
	}
	if (wal_stage(ctx, m->start_wal,
	    target == CLUSTER_TARGET_NAME ? m->end_wal : NULL, wal, cl->drop,
	    cl->uid, cl->gid) == -1)
		return -1;

	switch (target) {
	case CLUSTER_TARGET_NAME:
		snprintf(a_target, sizeof a_target, "recovery_target_name=%s",
		    m->restore_point);
		break;
	case CLUSTER_TARGET_TIME:
		/* RFC 3339 as checked by manifest_time_parse: PostgreSQL
		 * reads it as is, fractions of a second included */
		snprintf(tbuf, sizeof tbuf, "%s", when ? when : "");
		/* its parser wants "2026-11-22 03:00:00.5+00", not T and Z */
		for (char *p = tbuf; *p; p++) {
			if (*p == 'T' || *p == 't')
				*p = ' ';
			else if ((*p == 'Z' || *p == 'z') && p[1] == '\0' &&
			    (size_t)(p - tbuf) + 4 <= sizeof tbuf) {
				strcpy(p, "+00");
				break;
			}
		}
		snprintf(a_target, sizeof a_target, "recovery_target_time=%s",
		    tbuf);
		break;
	default:
		snprintf(a_target, sizeof a_target,
		    "recovery_target_timeline=latest");
		break;
	}
	snprintf(a_conf, sizeof a_conf, "config_file=%s", conf);
	snprintf(a_hba, sizeof a_hba, "hba_file=%s", hba);
	snprintf(a_ident, sizeof a_ident, "ident_file=%s", ident);
	snprintf(a_sock, sizeof a_sock, "unix_socket_directories=%s", cl->sock);
	snprintf(a_restore, sizeof a_restore,
	    "restore_command=cp '%s/%%f' '%%p'", wal);
	pg_bindir(job, m->server_version_num, cl->bindir, sizeof cl->bindir);
	proc_tool(cl->bindir, "postgres", tool, sizeof tool);
	{
		const char *argv[] = { tool, "-D", cl->data,
			"-c", a_conf, "-c", a_hba, "-c", a_ident,
			"-c", "listen_addresses=", "-c", "port=5432",
			"-c", a_sock, "-c", "archive_mode=off",
			"-c", "hot_standby=off", "-c", "fsync=off",
			"-c", "shared_buffers=32MB", "-c", "max_connections=20",
			"-c", "shared_preload_libraries=",
			"-c", "logging_collector=off",
			"-c", "log_destination=stderr",
			"-c", a_restore, "-c", a_target,
			"-c", "recovery_target_action=promote", NULL };
		struct proc_opts o = { .argv = argv, .name = "scratch postgres",
			.stdin_fd = -1, .stdout_fd = -1, .drop = cl->drop,
			.uid = cl->uid, .gid = cl->gid, .cwd = cl->dir };
		if (proc_spawn(&o, &cl->pm) == -1)
			return -1;
	}
	if (cluster_wait_ready(cl, m) == -1)
		return -1;
	log_info("job %s: scratch cluster recovered (%s)", job->name,
	    target == CLUSTER_TARGET_NAME ? m->restore_point :
	    target == CLUSTER_TARGET_TIME ? tbuf : "end of the archive");
	return 0;
}

void
cluster_destroy(struct cluster *cl)
{
	if (cl->pm.pid > 0) {
		int status;
		kill(cl->pm.pid, SIGQUIT);	/* immediate shutdown */
		for (int i = 0; i < 500; i++) {
			if (waitpid(cl->pm.pid, &status, WNOHANG) == cl->pm.pid) {
				cl->pm.pid = 0;
				break;
			}
			usleep(20000);
		}
		if (cl->pm.pid > 0) {
			kill(cl->pm.pid, SIGKILL);
			waitpid(cl->pm.pid, &status, 0);
			cl->pm.pid = 0;
		}
	}
	if (cl->pm.errfd != -1) {
		close(cl->pm.errfd);
		cl->pm.errfd = -1;
	}
	if (cl->dir[0] != '\0' && job_rmtree(cl->dir) == -1)
		log_warn("remove %s", cl->dir);
	cl->dir[0] = '\0';
}
