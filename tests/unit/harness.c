/* SPDX-License-Identifier: BSD-2-Clause */
/* harness.c — see harness.h. */
#include "tests/unit/harness.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int harness_failures;

void
harness_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	harness_failures++;
	fprintf(stdout, "#   %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static int
run_one(const struct harness_test *t, int nofork)
{
	pid_t pid;
	int status;

	if (nofork) {
		harness_failures = 0;
		t->fn();
		return harness_failures == 0;
	}
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1) {
		perror("fork");
		return 0;
	}
	if (pid == 0) {
		harness_failures = 0;
		t->fn();
		fflush(stdout);
		_exit(harness_failures ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) == -1)
		return 0;
	if (WIFSIGNALED(status)) {
		printf("#   %s: killed by signal %d\n", t->name,
		    WTERMSIG(status));
		return 0;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int
selected(const char *name, int argc, char **argv)
{
	if (argc <= 1)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strstr(name, argv[i]))
			return 1;
	return 0;
}

int
harness_run(const struct harness_test *tests, size_t n, int argc, char **argv)
{
	int nofork = getenv("HARNESS_NOFORK") != NULL;
	int passed = 0, failed = 0, num = 0;

	for (size_t i = 0; i < n; i++) {
		if (!selected(tests[i].name, argc, argv))
			continue;
		num++;
		if (run_one(&tests[i], nofork)) {
			passed++;
			printf("ok %d - %s\n", num, tests[i].name);
		} else {
			failed++;
			printf("not ok %d - %s\n", num, tests[i].name);
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

const void *
harness_guarded(const void *data, size_t len)
{
	static unsigned char *map;
	static size_t maplen;
	long pg = sysconf(_SC_PAGESIZE);
	size_t need = ((len + (size_t)pg - 1) / (size_t)pg + 1) * (size_t)pg;

	if (map)
		munmap(map, maplen);
	map = mmap(NULL, need, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		perror("mmap");
		abort();
	}
	maplen = need;
	mprotect(map + need - (size_t)pg, (size_t)pg, PROT_NONE);
	unsigned char *start = map + need - (size_t)pg - len;
	memcpy(start, data, len);
	return start;
}

static char tmp_paths[64][64];
static int tmp_count;

static void
tmp_cleanup(void)
{
	for (int i = 0; i < tmp_count; i++)
		unlink(tmp_paths[i]);
}

const char *
harness_tmpfile(const char *suffix, const char *contents)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof path, "/tmp/limen-unit-XXXXXX%s",
	    suffix ? suffix : "");
	fd = mkstemps(path, suffix ? (int)strlen(suffix) : 0);
	if (fd == -1) {
		perror("mkstemps");
		abort();
	}
	size_t len = strlen(contents);
	if (write(fd, contents, len) != (ssize_t)len)
		abort();
	close(fd);
	if (tmp_count == 0)
		atexit(tmp_cleanup);
	if (tmp_count < 64)
		memcpy(tmp_paths[tmp_count++], path, sizeof path);
	return path;
}
