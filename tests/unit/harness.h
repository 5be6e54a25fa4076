/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * harness.h — the unit-test harness (picotest lines, tinytest checks).
 *
 * A test file defines `static void test_something(void)` functions and
 * ends with HARNESS_MAIN(T(test_a), T(test_b), ...).  Each test runs in a
 * forked child so one crash does not hide the rest (HARNESS_NOFORK=1 runs
 * them in-process, for gdb).  CHECK_* macros record a failure with both
 * values and carry on; REQUIRE_* stop the test.  Output is one line per
 * test ("ok 3 - test_router_prefers_exact_host") and a closing
 * "N passed, N failed" line.  Arguments select tests by substring.
 */
#ifndef LIMEN_HARNESS_H
#define LIMEN_HARNESS_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>

struct harness_test {
	const char *name;
	void (*fn)(void);
};

extern int harness_failures;

void harness_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int harness_run(const struct harness_test *tests, size_t n, int argc,
    char **argv);
/*
 * Copy len bytes so that they end exactly at a PROT_NONE page: reading one
 * byte past the end crashes even without ASan (picohttpparser's trick).
 * The copy stays valid until the next call.
 */
const void *harness_guarded(const void *data, size_t len);
/* Write a temporary file with the given contents; returns its path
 * (static buffer, valid until the next call).  Removed at exit. */
const char *harness_tmpfile(const char *suffix, const char *contents);

#define T(fn) { #fn, fn }
#define HARNESS_MAIN(...)                                                  \
	int main(int argc, char **argv)                                    \
	{                                                                  \
		static const struct harness_test tests_[] = { __VA_ARGS__ };\
		return harness_run(tests_, sizeof tests_ / sizeof tests_[0], \
		    argc, argv);                                           \
	}

#define CHECK(c)                                                           \
	do {                                                               \
		if (!(c))                                                  \
			harness_fail(__FILE__, __LINE__, "CHECK(%s)", #c); \
	} while (0)
#define CHECK_INT(a, op, b)                                                \
	do {                                                               \
		long long a_ = (long long)(a), b_ = (long long)(b);        \
		if (!(a_ op b_))                                           \
			harness_fail(__FILE__, __LINE__,                   \
			    "CHECK_INT(%s %s %s): %lld vs %lld", #a, #op,  \
			    #b, a_, b_);                                   \
	} while (0)
#define CHECK_STR(a, b)                                                    \
	do {                                                               \
		const char *a_ = (a), *b_ = (b);                           \
		if (a_ == NULL || b_ == NULL ? a_ != b_ : strcmp(a_, b_))  \
			harness_fail(__FILE__, __LINE__,                   \
			    "CHECK_STR(%s, %s): \"%s\" vs \"%s\"", #a, #b, \
			    a_ ? a_ : "(null)", b_ ? b_ : "(null)");       \
	} while (0)
#define CHECK_MEM(a, alen, b, blen)                                        \
	do {                                                               \
		size_t al_ = (alen), bl_ = (blen);                         \
		if (al_ != bl_ || memcmp((a), (b), al_))                   \
			harness_fail(__FILE__, __LINE__,                   \
			    "CHECK_MEM(%s, %s): \"%.*s\" vs \"%.*s\"", #a, \
			    #b, (int)al_, (const char *)(a), (int)bl_,     \
			    (const char *)(b));                            \
	} while (0)
#define REQUIRE(c)                                                         \
	do {                                                               \
		if (!(c)) {                                                \
			harness_fail(__FILE__, __LINE__, "REQUIRE(%s)", #c);\
			return;                                            \
		}                                                          \
	} while (0)

#endif
