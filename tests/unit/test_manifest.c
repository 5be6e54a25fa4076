/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_manifest.c — manifest.json round-trips, and anything less than a
 * whole, well-formed manifest is refused (the catalog then never calls
 * the backup complete); RFC 3339 times and backup ids.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup/backup.h"
#include "common/fsutil.h"
#include "tests/unit/harness.h"

static char dir[64];

static void
scratch(void)
{
	snprintf(dir, sizeof dir, "/tmp/limen-manifest-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
}

static void
sample(struct manifest *m)
{
	memset(m, 0, sizeof *m);
	snprintf(m->id, sizeof m->id, "20261122T030000Z");
	m->job = strdup("app");
	m->kind = BACKUP_PHYSICAL;
	m->database = strdup("app");
	m->server_version = strdup("15.20");
	m->server_version_num = 150020;
	m->start = 1795316400;
	m->end = 1795316442;
	m->size = 1234;
	m->compression = COMPRESS_ZSTD;
	m->encrypted = true;
	snprintf(m->files[0].name, sizeof m->files[0].name, "base.tar.zst.enc");
	m->files[0].size = 1234;
	memset(m->files[0].sha256, 'a', 64);
	m->n_files = 1;
	manifest_add_table(m, "public.t", 42);
	manifest_add_table(m, "odd \"name\".x", 0);
	m->superuser = strdup("postgres");
	m->start_lsn = strdup("0/2000028");
	m->end_lsn = strdup("0/2000100");
	m->start_wal = strdup("000000010000000000000002");
	m->end_wal = strdup("000000010000000000000003");
	m->restore_point = strdup("limen-app-20261122T030000Z");
	m->timeline = 1;
}

static void
test_manifest_round_trips(void)
{
	struct manifest m, r;
	char path[128], err[256];

	scratch();
	sample(&m);
	REQUIRE(manifest_write(dir, &m) == 0);
	snprintf(path, sizeof path, "%s/manifest.json", dir);
	REQUIRE(manifest_read(path, &r, err, sizeof err) == 0);
	CHECK_STR(r.id, m.id);
	CHECK_STR(r.job, "app");
	CHECK_INT(r.kind, ==, BACKUP_PHYSICAL);
	CHECK_INT(r.start, ==, m.start);
	CHECK_INT(r.end, ==, m.end);
	CHECK_INT(r.size, ==, 1234);
	CHECK_INT(r.compression, ==, COMPRESS_ZSTD);
	CHECK(r.encrypted);
	CHECK_INT(r.n_files, ==, 1);
	CHECK_STR(r.files[0].name, "base.tar.zst.enc");
	CHECK_INT(r.n_tables, ==, 2);
	CHECK_STR(r.end_wal, "000000010000000000000003");
	CHECK_STR(r.restore_point, m.restore_point);
	CHECK_INT(r.timeline, ==, 1);
	manifest_free(&m);
	manifest_free(&r);
}

/* Write text as a manifest and read it: 0 or -1. */
static int
read_text(const char *text)
{
	struct manifest r;
	char path[128], err[256];
	int rc;

	snprintf(path, sizeof path, "%s/manifest.json", dir);
	if (fsutil_write_atomic(path, text, strlen(text), 0600) == -1)
		abort();
	rc = manifest_read(path, &r, err, sizeof err);
	if (rc == 0)
		manifest_free(&r);
	else
		CHECK(err[0] != '\0');
	return rc;
}

static void
test_manifest_refuses_broken_or_partial_files(void)
{
	static const char good[] =
	    "{\"format\":1,\"id\":\"20261122T030000Z\",\"job\":\"a\","
	    "\"kind\":\"logical\",\"database\":\"a\",\"server_version\":\"15\","
	    "\"server_version_num\":150000,\"start\":\"2026-11-22T03:00:00Z\","
	    "\"end\":\"2026-11-22T03:00:01Z\",\"size\":1,\"compression\":\"gzip\","
	    "\"encryption\":\"none\",\"files\":[{\"name\":\"dump.pgdump.gz\","
	    "\"size\":1,\"sha256\":\"%s\"}],\"tables\":{\"public.t\":3}}";
	char text[1024], sha[65];

	scratch();
	memset(sha, 'b', 64);
	sha[64] = '\0';
	snprintf(text, sizeof text, good, sha);
	CHECK_INT(read_text(text), ==, 0);
	/* cut short anywhere: never valid */
	for (size_t cut = 1; cut < strlen(text); cut += 7) {
		char part[1024];
		memcpy(part, text, strlen(text) - cut);
		part[strlen(text) - cut] = '\0';
		if (read_text(part) != -1)
			harness_fail(__FILE__, __LINE__, "cut %zu accepted", cut);
	}
	sha[3] = 'X';
	snprintf(text, sizeof text, good, sha);
	CHECK_INT(read_text(text), ==, -1);
	memset(sha, 'b', 64);
	snprintf(text, sizeof text, good, sha);
	{
		char *p = strstr(text, "dump.pgdump.gz");
		memcpy(p, "../x.pgdump.gz", 14);
	}
	CHECK_INT(read_text(text), ==, -1);
	CHECK_INT(read_text("[]"), ==, -1);
	CHECK_INT(read_text("{\"format\":2}"), ==, -1);
}

static void
test_manifest_times_rfc3339(void)
{
	time_t t;
	char buf[32];

	CHECK_INT(manifest_time_parse("2026-11-22T03:00:00Z", &t), ==, 0);
	CHECK_INT(t, ==, 1795316400);
	CHECK_INT(manifest_time_parse("2026-11-22T04:30:00.25+01:30", &t), ==,
	    0);
	CHECK_INT(t, ==, 1795316400);
	CHECK_INT(manifest_time_parse("2026-11-22 03:00:00z", &t), ==, 0);
	CHECK_INT(manifest_time_parse("2026-11-22T03:00:00", &t), ==, -1);
	CHECK_INT(manifest_time_parse("2026-11-22", &t), ==, -1);
	CHECK_INT(manifest_time_parse("yesterday", &t), ==, -1);
	CHECK_INT(manifest_time_parse("2026-11-22T03:00:00Z; drop", &t), ==,
	    -1);
	manifest_time_fmt(1795316400, buf);
	CHECK_STR(buf, "2026-11-22T03:00:00Z");
}

static void
test_catalog_ids(void)
{
	CHECK(catalog_id_valid("20261122T030000Z"));
	CHECK(catalog_id_valid("20261122T030000Z-2"));
	CHECK(!catalog_id_valid("20261122T030000Z-1"));
	CHECK(!catalog_id_valid("20261122T030000"));
	CHECK(!catalog_id_valid("wal"));
	CHECK(!catalog_id_valid("../20261122T030000Z"));
	CHECK_INT(catalog_id_time("20261122T030000Z-3"), ==, 1795316400);
}

HARNESS_MAIN(
    T(test_manifest_round_trips),
    T(test_manifest_refuses_broken_or_partial_files),
    T(test_manifest_times_rfc3339),
    T(test_catalog_ids)
)
