/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * catalog.c — the backups of a job, as they are on disk.
 *
 * There is no database beside the files: DESTINATION/JOB/ID/ is a backup,
 * complete when ID/manifest.json reads back whole and names the same id;
 * a directory without one is PARTIAL (being written, or left by a crash:
 * job_clean_partial removes those under the job lock), one whose manifest
 * is broken is INVALID.  The result of the last restore test lives beside
 * the manifest in verify.json, so the manifest itself is never rewritten.
 */
#include "backup/backup.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fsutil.h"

static const char *const status_names[] = { "partial", "invalid",
	"complete", "verified", "verify-failed" };

const char *
catalog_status_name(enum catalog_status s)
{
	return status_names[s];
}

bool
catalog_is_complete(const struct catalog_entry *e)
{
	return e->status >= CATALOG_COMPLETE;
}

/* "20261122T030000Z", optionally "-2" .. "-9". */
bool
catalog_id_valid(const char *id)
{
	static const char shape[] = "dddddddd" "T" "dddddd" "Z";
	size_t i;

	for (i = 0; shape[i]; i++) {
		char c = id[i];
		if (shape[i] == 'd' ? (c < '0' || c > '9') : c != shape[i])
			return false;
	}
	if (id[i] == '\0')
		return true;
	return id[i] == '-' && id[i + 1] >= '2' && id[i + 1] <= '9' &&
	    id[i + 2] == '\0';
}

time_t
catalog_id_time(const char *id)
{
	struct tm tm;

	if (!catalog_id_valid(id))
		return -1;
	memset(&tm, 0, sizeof tm);
	if (strptime(id, "%Y%m%dT%H%M%SZ", &tm) == NULL)
		return -1;
	return timegm(&tm);
}

static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct catalog_entry *)a)->id,
	    ((const struct catalog_entry *)b)->id);
}

static void
load_verify(struct catalog_entry *e, const char *dir)
{
	char path[PATH_MAX];
	json_t *o, *v;

	bpath(path, sizeof path, "%s/verify.json", dir);
	if ((o = json_load_file(path, 0, NULL)) == NULL)
		return;
	v = json_object_get(o, "time");
	if (json_is_string(v))
		manifest_time_parse(json_string_value(v), &e->verify_time);
	v = json_object_get(o, "message");
	if (json_is_string(v))
		e->verify_msg = strdup(json_string_value(v));
	v = json_object_get(o, "ok");
	if (json_is_boolean(v) && e->verify_time != 0)
		e->status = json_is_true(v) ? CATALOG_VERIFIED :
		    CATALOG_VERIFY_FAILED;
	json_decref(o);
}

int
catalog_load(const char *jobdir, struct catalog *c)
{
	DIR *d;
	struct dirent *de;
	size_t cap = 0;

	memset(c, 0, sizeof *c);
	if ((d = opendir(jobdir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		char dir[PATH_MAX], mpath[PATH_MAX], err[256];
		struct catalog_entry *e;
		struct stat st;

		if (!catalog_id_valid(de->d_name))
			continue;
		snprintf(dir, sizeof dir, "%s/%s", jobdir, de->d_name);
		if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode))
			continue;
		if (c->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct catalog_entry *ne = realloc(c->e,
			    ncap * sizeof *ne);
			if (ne == NULL)
				goto fail;
			c->e = ne;
			cap = ncap;
		}
		e = &c->e[c->n++];
		memset(e, 0, sizeof *e);
		strcpy(e->id, de->d_name);
		bpath(mpath, sizeof mpath, "%s/manifest.json", dir);
		if (access(mpath, F_OK) == -1) {
			e->status = CATALOG_PARTIAL;
			continue;
		}
		if (manifest_read(mpath, &e->m, err, sizeof err) == -1) {
			e->status = CATALOG_INVALID;
			e->problem = strdup(err);
			continue;
		}
		if (strcmp(e->m.id, e->id) != 0) {
			manifest_free(&e->m);
			e->status = CATALOG_INVALID;
			e->problem = strdup("manifest names another backup");
			continue;
		}
		e->status = CATALOG_COMPLETE;
		load_verify(e, dir);
	}
	closedir(d);
	if (c->n > 1)
		qsort(c->e, c->n, sizeof *c->e, entry_cmp);
	return 0;
fail:
	closedir(d);
	catalog_free(c);
	return -1;
}

void
catalog_free(struct catalog *c)
{
	for (size_t i = 0; i < c->n; i++) {
		manifest_free(&c->e[i].m);
		free(c->e[i].verify_msg);
		free(c->e[i].problem);
	}
	free(c->e);
	memset(c, 0, sizeof *c);
}

const struct catalog_entry *
catalog_find(const struct catalog *c, const char *id)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->e[i].id, id) == 0)
			return &c->e[i];
	return NULL;
}

const struct catalog_entry *
catalog_newest_complete(const struct catalog *c)
{
	for (size_t i = c->n; i > 0; i--)
		if (catalog_is_complete(&c->e[i - 1]))
			return &c->e[i - 1];
	return NULL;
}

int
catalog_record_verify(const char *backup_dir, bool ok, const char *msg)
{
	char path[PATH_MAX], tbuf[32];
	json_t *o;
	char *text;
	int rc;

	snprintf(path, sizeof path, "%s/verify.json", backup_dir);
	manifest_time_fmt(time(NULL), tbuf);
	o = json_object();
	json_object_set_new(o, "time", json_string(tbuf));
	json_object_set_new(o, "ok", json_boolean(ok));
	json_object_set_new(o, "message", json_string(msg ? msg : ""));
	text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(o);
	if (text == NULL)
		return -1;
	rc = fsutil_write_atomic(path, text, strlen(text), 0640);
	free(text);
	return rc;
}
