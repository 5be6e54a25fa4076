/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * prune.c — apply the retention plan of retention.c to a job's catalog.
 *
 * Runs under the job lock (a backup in progress is never pruned under
 * it).  Only complete backups take part; partial ones are job.c's to
 * clean.  For physical jobs, WAL files older than the start segment of
 * the oldest kept base backup go too; with no kept base backup, no WAL is
 * removed.  --dry-run prints the plan and changes nothing.
 */
#include "backup/backup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"

static int
prune_wal(struct job_ctx *ctx, const char *oldest, bool dry_run, bool print)
{
	char dir[PATH_MAX], **names = NULL;
	size_t n = 0, gone = 0;
	int rc = 0;

	if (wal_list(ctx, &names, &n) == -1)
		return -1;
	wal_dir(ctx, dir, sizeof dir);
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX];

		if (!retention_wal_deletable(names[i], oldest))
			continue;
		if (dry_run) {
			if (print)
				printf("would delete wal %s\n", names[i]);
			continue;
		}
		bpath(path, sizeof path, "%s/%s", dir, names[i]);
		if (unlink(path) == -1 && errno != ENOENT) {
			log_warn("prune: %s", path);
			rc = -1;
			continue;
		}
		gone++;
		if (print)
			printf("deleted wal %s\n", names[i]);
	}
	if (gone > 0) {
		fsutil_fsync_dir(dir);
		log_info("job %s: pruned %zu WAL files older than %s",
		    ctx->job->name, gone, oldest);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int
prune_run(struct job_ctx *ctx, bool dry_run, bool print)
{
	struct catalog cat;
	struct retention_item *items = NULL;
	size_t *idx = NULL, n = 0;
	const char *oldest_wal = NULL;
	char reasons[96];
	int rc = -1;

	if (!dry_run && job_lock(ctx) == -1)
		return -1;
	if (catalog_load(ctx->jobdir, &cat) == -1) {
		log_warn("job %s: read %s", ctx->job->name, ctx->jobdir);
		return -1;
	}
	if (cat.n > 0 && ((items = calloc(cat.n, sizeof *items)) == NULL ||
	    (idx = calloc(cat.n, sizeof *idx)) == NULL))
		goto out;
	for (size_t i = 0; i < cat.n; i++) {
		const struct catalog_entry *e = &cat.e[i];
		if (!catalog_is_complete(e))
			continue;
		items[n].time = e->m.start;
		items[n].bad = e->status == CATALOG_VERIFY_FAILED;
		idx[n++] = i;
	}
	retention_plan(items, n, &ctx->job->retention, time(NULL));
	for (size_t k = 0; k < n; k++) {
		const struct catalog_entry *e = &cat.e[idx[k]];
		char dir[PATH_MAX];

		if (items[k].keep) {
			retention_reasons(items[k].keep, reasons,
			    sizeof reasons);
			if (print)
				printf("keep %s (%s)\n", e->id, reasons);
			/* oldest kept base backup: entries go oldest first */
			if (e->m.kind == BACKUP_PHYSICAL && oldest_wal == NULL)
				oldest_wal = e->m.start_wal;
			continue;
		}
		if (dry_run) {
			if (print)
				printf("would delete %s\n", e->id);
			continue;
		}
		bpath(dir, sizeof dir, "%s/%s", ctx->jobdir, e->id);
		if (job_rmtree(dir) == -1) {
			log_warn("job %s: prune %s", ctx->job->name, dir);
			goto out;
		}
		log_info("job %s: pruned backup %s", ctx->job->name, e->id);
		if (print)
			printf("deleted %s\n", e->id);
	}
	fsutil_fsync_dir(ctx->jobdir);
	if (ctx->job->kind == BACKUP_PHYSICAL && oldest_wal != NULL &&
	    prune_wal(ctx, oldest_wal, dry_run, print) == -1)
		goto out;
	rc = 0;
out:
	free(items);
	free(idx);
	catalog_free(&cat);
	return rc;
}
