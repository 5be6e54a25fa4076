/* SPDX-License-Identifier: BSD-2-Clause */
/* test_fsutil.c — atomic writes, mkdirs, bounded and secret reads. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "tests/unit/harness.h"

static char dir[64];

static void
mkscratch(void)
{
	snprintf(dir, sizeof dir, "/tmp/limen-fsutil-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
}

static void
test_fsutil_write_atomic_replaces_whole_file_with_mode(void)
{
	char path[128], *data;
	size_t len;
	struct stat st;

	mkscratch();
	snprintf(path, sizeof path, "%s/a/b/key.pem", dir);
	REQUIRE(fsutil_mkdirs(dir, 0700) == 0);
	snprintf(path, sizeof path, "%s/key.pem", dir);
	REQUIRE(fsutil_write_atomic(path, "old", 3, 0600) == 0);
	REQUIRE(fsutil_write_atomic(path, "new contents", 12, 0600) == 0);
	REQUIRE(fsutil_read_file(path, 100, &data, &len) == 0);
	CHECK_MEM(data, len, "new contents", 12);
	free(data);
	REQUIRE(stat(path, &st) == 0);
	CHECK_INT(st.st_mode & 0777, ==, 0600);
}

static void
test_fsutil_mkdirs_creates_every_level(void)
{
	char path[128];
	struct stat st;

	mkscratch();
	snprintf(path, sizeof path, "%s/x/y/z", dir);
	REQUIRE(fsutil_mkdirs(path, 0700) == 0);
	REQUIRE(stat(path, &st) == 0);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_INT(fsutil_mkdirs(path, 0700), ==, 0);
}

static void
test_fsutil_read_file_refuses_past_max(void)
{
	const char *p = harness_tmpfile(".txt", "0123456789");
	char *data = NULL;
	size_t len;

	CHECK_INT(fsutil_read_file(p, 5, &data, &len), ==, -1);
	CHECK_INT(errno, ==, EFBIG);
	CHECK_INT(fsutil_read_file(p, 10, &data, &len), ==, 0);
	CHECK_INT(len, ==, 10);
	free(data);
}

static void
test_fsutil_read_secret_refuses_group_readable_file(void)
{
	const char *p = harness_tmpfile(".secret", "s3cret\n");
	char *data = NULL;
	size_t len;

	chmod(p, 0644);
	CHECK_INT(fsutil_read_secret(p, 100, 0, &data, &len), ==, -1);
	CHECK_INT(errno, ==, EPERM);
	chmod(p, 0600);
	REQUIRE(fsutil_read_secret(p, 100, 0, &data, &len) == 0);
	CHECK_STR(data, "s3cret");
	free(data);
}

HARNESS_MAIN(T(test_fsutil_write_atomic_replaces_whole_file_with_mode),
    T(test_fsutil_mkdirs_creates_every_level),
    T(test_fsutil_read_file_refuses_past_max),
    T(test_fsutil_read_secret_refuses_group_readable_file))
