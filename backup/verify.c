/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * verify.c — a backup is only as good as its last restore.
 *
 * `verify` (and every run of a job with `verify: true`) checks the files
 * against the manifest (size and SHA-256: a flipped bit is caught before
 * anything is restored), restores the backup — a logical one into a
 * scratch database on the job's server, a physical one into a scratch
 * cluster recovered to the backup's restore point — counts the rows of
 * every table and compares them with the counts the manifest recorded at
 * backup time, then drops the scratch copy.  The outcome is written to
 * the catalog (ID/verify.json) and shows in `list` and /metrics.
 */
#include "backup/backup.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
verify_files(const char *backup_dir, const struct manifest *m)
{
	for (size_t i = 0; i < m->n_files; i++) {
		char path[PATH_MAX], hex[65];
		uint64_t size;

		snprintf(path, sizeof path, "%s/%s", backup_dir,
		    m->files[i].name);
		if (stream_hash_file(path, &size, hex) == -1) {
			log_warn("%s", path);
			return -1;
		}
		if (size != m->files[i].size) {
			log_warnx("%s: size %llu, the manifest says %llu: the "
			    "file is damaged", path, (unsigned long long)size,
			    (unsigned long long)m->files[i].size);
			return -1;
		}
		if (strcmp(hex, m->files[i].sha256) != 0) {
			log_warnx("%s: SHA-256 differs from the manifest: the "
			    "file is damaged", path);
			return -1;
		}
	}
	return 0;
}

int
verify_compare_counts(const struct manifest *want, const struct manifest *got)
{
	int diffs = 0;

	for (size_t i = 0; i < want->n_tables; i++) {
		const struct manifest_table *w = &want->tables[i];
		bool found = false;

		for (size_t j = 0; j < got->n_tables; j++) {
			if (strcmp(got->tables[j].name, w->name) != 0)
				continue;
			found = true;
			if (got->tables[j].rows != w->rows) {
				log_warnx("table %s: %lld rows restored, %lld "
				    "at backup time", w->name,
				    (long long)got->tables[j].rows,
				    (long long)w->rows);
				diffs++;
			}
		}
		if (!found) {
			log_warnx("table %s: missing after restore", w->name);
			diffs++;
		}
	}
	for (size_t j = 0; j < got->n_tables; j++) {
		bool found = false;
		for (size_t i = 0; i < want->n_tables && !found; i++)
			found = strcmp(got->tables[j].name,
			    want->tables[i].name) == 0;
		if (!found) {
			log_warnx("table %s: restored but not in the manifest",
			    got->tables[j].name);
			diffs++;
		}
	}
	return diffs ? -1 : 0;
}

/* "limen_verify_<job>_<pid>", a safe identifier. */
static void
verify_scratch_name(const char *job, char *out, size_t len)
{
	char clean[24];
	size_t n = 0;

	for (const char *p = job; *p && n < sizeof clean - 1; p++)
		clean[n++] = isalnum((unsigned char)*p) ?
		    (char)tolower((unsigned char)*p) : '_';
	clean[n] = '\0';
	snprintf(out, len, "limen_verify_%s_%d", clean, (int)getpid());
}

static int
verify_logical(struct job_ctx *ctx, const char *dir, const struct manifest *m,
    struct manifest *got)
{
	struct pg_conn *admin = NULL, *conn = NULL;
	char scratch[64];
	int rc = -1;

	verify_scratch_name(ctx->job->name, scratch, sizeof scratch);
	if ((admin = pg_connect(ctx->job, NULL)) == NULL)
		return -1;
	if (pg_drop_database(admin, scratch) == -1 ||
	    pg_create_database(admin, scratch) == -1) {
		log_warnx("job %s: cannot create the scratch database %s (the "
		    "job's role needs CREATEDB)", ctx->job->name, scratch);
		goto out;
	}
	if (restore_logical_into(ctx, dir, m, scratch, false) == -1)
		goto drop;
	if ((conn = pg_connect(ctx->job, scratch)) == NULL)
		goto drop;
	if (pg_count_rows(conn, false, got) == 0)
		rc = 0;
	pg_close(conn);
drop:
	if (pg_drop_database(admin, scratch) == -1)
		log_warnx("job %s: could not drop the scratch database %s",
		    ctx->job->name, scratch);
out:
	pg_close(admin);
	return rc;
}

static int
verify_physical(struct job_ctx *ctx, const char *dir,
    const struct manifest *m, struct manifest *got)
{
	struct cluster cl;
	struct pg_conn *conn;
	int rc = -1;

	if (cluster_start(ctx, dir, m, CLUSTER_TARGET_NAME, NULL, &cl) == 0 &&
	    (conn = pg_connect_socket(cl.sock, m->superuser, m->database)) !=
	    NULL) {
		if (pg_count_rows(conn, true, got) == 0)
			rc = 0;
		pg_close(conn);
	}
	cluster_destroy(&cl);
	return rc;
}

int
verify_run(struct job_ctx *ctx, const char *id)
{
	struct catalog cat;
	const struct catalog_entry *e;
	struct manifest got;
	char dir[PATH_MAX], msg[256];
	int rc = BACKUP_EXIT_FAIL, r;

	memset(&got, 0, sizeof got);
	if (catalog_load(ctx->jobdir, &cat) == -1) {
		log_warn("job %s: read %s", ctx->job->name, ctx->jobdir);
		return BACKUP_EXIT_FAIL;
	}
	e = id ? catalog_find(&cat, id) : catalog_newest_complete(&cat);
	if (e == NULL || !catalog_is_complete(e)) {
		if (id)
			log_warnx("job %s: no complete backup %s",
			    ctx->job->name, id);
		else
			log_warnx("job %s: no complete backup to verify",
			    ctx->job->name);
		rc = BACKUP_EXIT_USER;
		goto out;
	}
	bpath(dir, sizeof dir, "%s/%s", ctx->jobdir, e->id);
	log_info("job %s: verifying %s", ctx->job->name, e->id);
	if (verify_files(dir, &e->m) == -1) {
		snprintf(msg, sizeof msg, "a file is damaged (checksum)");
		goto record;
	}
	if (e->m.kind == BACKUP_PHYSICAL)
		r = verify_physical(ctx, dir, &e->m, &got);
	else
		r = verify_logical(ctx, dir, &e->m, &got);
	if (r == -1) {
		snprintf(msg, sizeof msg, "the restore failed");
		goto record;
	}
	if (verify_compare_counts(&e->m, &got) == -1) {
		snprintf(msg, sizeof msg, "row counts differ from the manifest");
		goto record;
	}
	snprintf(msg, sizeof msg, "%zu tables, row counts match",
	    e->m.n_tables);
	rc = BACKUP_EXIT_OK;
record:
	if (backup_stop && rc != BACKUP_EXIT_OK) {
		log_warnx("job %s: verify of %s interrupted", ctx->job->name,
		    e->id);
		goto out;
	}
	if (catalog_record_verify(dir, rc == BACKUP_EXIT_OK, msg) == -1)
		log_warn("job %s: record the verify result of %s",
		    ctx->job->name, e->id);
	if (rc == BACKUP_EXIT_OK)
		log_info("job %s: backup %s verified: %s", ctx->job->name,
		    e->id, msg);
	else
		log_warnx("job %s: backup %s FAILED verification: %s",
		    ctx->job->name, e->id, msg);
out:
	manifest_free(&got);
	catalog_free(&cat);
	return rc;
}
