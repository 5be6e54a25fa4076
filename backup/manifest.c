/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * manifest.c — manifest.json, the file that makes a backup complete.
 *
 * SPEC §5: a backup is complete only when its manifest is written last,
 * by rename.  manifest_write() goes through fsutil_write_atomic (temporary
 * file, fsync, rename, fsync of the directory), so a crash leaves either
 * no manifest or a whole one.  manifest_read() is strict: a manifest that
 * does not parse or lacks a field makes the backup INVALID in the catalog,
 * never complete.
 */
#include "backup/backup.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fsutil.h"

#define MANIFEST_FORMAT	1
#define MANIFEST_MAX	(64 * 1024 * 1024)

static const char *const compression_names[] = { "none", "gzip", "zstd" };

const char *
manifest_compression_name(enum conf_compression c)
{
	return (unsigned)c <= COMPRESS_ZSTD ? compression_names[c] : "none";
}

void
manifest_time_fmt(time_t t, char buf[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* RFC 3339: "2026-11-22T03:00:00Z", "...T03:00:00.123+01:00", or a space
 * instead of the T. */
int
manifest_time_parse(const char *s, time_t *t)
{
	struct tm tm;
	const char *p;
	long off = 0;

	memset(&tm, 0, sizeof tm);
	if ((p = strptime(s, "%Y-%m-%d", &tm)) == NULL)
		return -1;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	if ((p = strptime(p + 1, "%H:%M:%S", &tm)) == NULL)
		return -1;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, hh, mm;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2 || hh > 23 ||
		    mm > 59 || strlen(p) != 6)
			return -1;
		off = sign * (hh * 3600L + mm * 60L);
		p += 6;
	} else
		return -1;
	if (*p != '\0')
		return -1;
	*t = timegm(&tm) - off;
	return 0;
}

int
manifest_add_table(struct manifest *m, const char *name, int64_t rows)
{
	struct manifest_table *t;

	t = realloc(m->tables, (m->n_tables + 1) * sizeof *t);
	if (t == NULL)
		return -1;
	m->tables = t;
	if ((t[m->n_tables].name = strdup(name)) == NULL)
		return -1;
	t[m->n_tables].rows = rows;
	m->n_tables++;
	return 0;
}

void
manifest_free(struct manifest *m)
{
	for (size_t i = 0; i < m->n_tables; i++)
		free(m->tables[i].name);
	free(m->tables);
	free(m->job);
	free(m->database);
	free(m->server_version);
	free(m->superuser);
	free(m->start_lsn);
	free(m->end_lsn);
	free(m->start_wal);
	free(m->end_wal);
	free(m->restore_point);
	memset(m, 0, sizeof *m);
}

static void
set_str(json_t *o, const char *key, const char *v)
{
	if (v != NULL)
		json_object_set_new(o, key, json_string(v));
}

int
manifest_write(const char *dir, const struct manifest *m)
{
	char path[PATH_MAX], tbuf[32];
	json_t *o, *files, *tables;
	char *text = NULL;
	int rc = -1;

	if (snprintf(path, sizeof path, "%s/manifest.json", dir) >=
	    (int)sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	o = json_object();
	json_object_set_new(o, "format", json_integer(MANIFEST_FORMAT));
	json_object_set_new(o, "id", json_string(m->id));
	set_str(o, "job", m->job);
	json_object_set_new(o, "kind", json_string(m->kind == BACKUP_PHYSICAL ?
	    "physical" : "logical"));
	set_str(o, "database", m->database);
	set_str(o, "server_version", m->server_version);
	json_object_set_new(o, "server_version_num",
	    json_integer(m->server_version_num));
	manifest_time_fmt(m->start, tbuf);
	json_object_set_new(o, "start", json_string(tbuf));
	manifest_time_fmt(m->end, tbuf);
	json_object_set_new(o, "end", json_string(tbuf));
	json_object_set_new(o, "size", json_integer((json_int_t)m->size));
	json_object_set_new(o, "compression",
	    json_string(manifest_compression_name(m->compression)));
	json_object_set_new(o, "encryption",
	    json_string(m->encrypted ? "aes-256-gcm" : "none"));
	files = json_array();
	for (size_t i = 0; i < m->n_files; i++) {
		json_t *f = json_object();
		json_object_set_new(f, "name", json_string(m->files[i].name));
		json_object_set_new(f, "size",
		    json_integer((json_int_t)m->files[i].size));
		json_object_set_new(f, "sha256",
		    json_string(m->files[i].sha256));
		json_array_append_new(files, f);
	}
	json_object_set_new(o, "files", files);
	tables = json_object();
	for (size_t i = 0; i < m->n_tables; i++)
		json_object_set_new(tables, m->tables[i].name,
		    json_integer(m->tables[i].rows));
	json_object_set_new(o, "tables", tables);
	if (m->kind == BACKUP_PHYSICAL) {
		json_t *ph = json_object();
		set_str(ph, "superuser", m->superuser);
		set_str(ph, "start_lsn", m->start_lsn);
		set_str(ph, "end_lsn", m->end_lsn);
		set_str(ph, "start_wal", m->start_wal);
		set_str(ph, "end_wal", m->end_wal);
		set_str(ph, "restore_point", m->restore_point);
		json_object_set_new(ph, "timeline", json_integer(m->timeline));
		json_object_set_new(o, "physical", ph);
	}
	json_object_set_new(o, "limen_version", json_string(LIMEN_VERSION));
	text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(o);
	if (text == NULL) {
		errno = ENOMEM;
		return -1;
	}
	rc = fsutil_write_atomic(path, text, strlen(text), 0640);
	free(text);
	return rc;
}

static const char *
get_str(json_t *o, const char *key, bool required, char **out,
    const char **missing)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v)) {
		if (required && *missing == NULL)
			*missing = key;
		return NULL;
	}
	if (!json_is_string(v)) {
		if (*missing == NULL)
			*missing = key;
		return NULL;
	}
	if (out && (*out = strdup(json_string_value(v))) == NULL &&
	    *missing == NULL)
		*missing = key;
	return json_string_value(v);
}

static bool
sha256_hex_valid(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

int
manifest_read(const char *path, struct manifest *m, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o, *v, *files, *tables;
	const char *missing = NULL, *s, *key;
	char *text = NULL;
	size_t len;

	memset(m, 0, sizeof *m);
	if (fsutil_read_file(path, MANIFEST_MAX, &text, &len) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (o == NULL || !json_is_object(o)) {
		snprintf(err, errlen, "%s:%d: %s", path, je.line,
		    o ? "not an object" : je.text);
		json_decref(o);
		return -1;
	}
	v = json_object_get(o, "format");
	if (!json_is_integer(v) || json_integer_value(v) != MANIFEST_FORMAT) {
		snprintf(err, errlen, "%s: unknown manifest format", path);
		goto fail;
	}
	s = get_str(o, "id", true, NULL, &missing);
	if (s && (strlen(s) >= sizeof m->id || !catalog_id_valid(s)))
		missing = "id";
	else if (s)
		strcpy(m->id, s);
	get_str(o, "job", true, &m->job, &missing);
	s = get_str(o, "kind", true, NULL, &missing);
	if (s && strcmp(s, "logical") == 0)
		m->kind = BACKUP_LOGICAL;
	else if (s && strcmp(s, "physical") == 0)
		m->kind = BACKUP_PHYSICAL;
	else if (missing == NULL)
		missing = "kind";
	get_str(o, "database", true, &m->database, &missing);
	get_str(o, "server_version", true, &m->server_version, &missing);
	v = json_object_get(o, "server_version_num");
	if (json_is_integer(v))
		m->server_version_num = (int)json_integer_value(v);
	else if (missing == NULL)
		missing = "server_version_num";
	s = get_str(o, "start", true, NULL, &missing);
	if (s && manifest_time_parse(s, &m->start) == -1 && missing == NULL)
		missing = "start";
	s = get_str(o, "end", true, NULL, &missing);
	if (s && manifest_time_parse(s, &m->end) == -1 && missing == NULL)
		missing = "end";
	v = json_object_get(o, "size");
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		m->size = (uint64_t)json_integer_value(v);
	else if (missing == NULL)
		missing = "size";
	s = get_str(o, "compression", true, NULL, &missing);
	if (s) {
		int found = -1;
		for (int i = 0; i <= COMPRESS_ZSTD; i++)
			if (strcmp(s, compression_names[i]) == 0)
				found = i;
		if (found < 0 && missing == NULL)
			missing = "compression";
		m->compression = found < 0 ? COMPRESS_NONE :
		    (enum conf_compression)found;
	}
	s = get_str(o, "encryption", true, NULL, &missing);
	if (s && strcmp(s, "aes-256-gcm") == 0)
		m->encrypted = true;
	else if (s && strcmp(s, "none") != 0 && missing == NULL)
		missing = "encryption";
	files = json_object_get(o, "files");
	if (!json_is_array(files) || json_array_size(files) == 0 ||
	    json_array_size(files) > MANIFEST_MAX_FILES) {
		if (missing == NULL)
			missing = "files";
	} else {
		size_t i;
		json_t *f;
		json_array_foreach(files, i, f) {
			const char *name = json_string_value(
			    json_object_get(f, "name"));
			const char *sha = json_string_value(
			    json_object_get(f, "sha256"));
			json_t *sz = json_object_get(f, "size");
			if (name == NULL || sha == NULL || !json_is_integer(sz) ||
			    json_integer_value(sz) < 0 ||
			    strlen(name) >= sizeof m->files[0].name ||
			    strchr(name, '/') != NULL || name[0] == '.' ||
			    !sha256_hex_valid(sha)) {
				if (missing == NULL)
					missing = "files";
				break;
			}
			strcpy(m->files[i].name, name);
			strcpy(m->files[i].sha256, sha);
			m->files[i].size = (uint64_t)json_integer_value(sz);
			m->n_files++;
		}
	}
	tables = json_object_get(o, "tables");
	if (!json_is_object(tables)) {
		if (missing == NULL)
			missing = "tables";
	} else {
		json_object_foreach(tables, key, v) {
			if (!json_is_integer(v) ||
			    manifest_add_table(m, key, json_integer_value(v))) {
				if (missing == NULL)
					missing = "tables";
				break;
			}
		}
	}
	if (m->kind == BACKUP_PHYSICAL) {
		json_t *ph = json_object_get(o, "physical");
		if (!json_is_object(ph)) {
			if (missing == NULL)
				missing = "physical";
		} else {
			get_str(ph, "superuser", true, &m->superuser, &missing);
			get_str(ph, "start_lsn", true, &m->start_lsn, &missing);
			get_str(ph, "end_lsn", true, &m->end_lsn, &missing);
			get_str(ph, "start_wal", true, &m->start_wal, &missing);
			get_str(ph, "end_wal", true, &m->end_wal, &missing);
			get_str(ph, "restore_point", true, &m->restore_point,
			    &missing);
			v = json_object_get(ph, "timeline");
			if (json_is_integer(v))
				m->timeline = (unsigned)json_integer_value(v);
			if ((m->start_wal && !wal_is_segment(m->start_wal)) ||
			    (m->end_wal && !wal_is_segment(m->end_wal)))
				if (missing == NULL)
					missing = "physical.start_wal";
		}
	}
	if (missing != NULL) {
		snprintf(err, errlen, "%s: missing or invalid \"%s\"", path,
		    missing);
		goto fail;
	}
	json_decref(o);
	return 0;
fail:
	json_decref(o);
	manifest_free(m);
	return -1;
}
