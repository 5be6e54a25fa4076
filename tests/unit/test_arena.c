/* SPDX-License-Identifier: BSD-2-Clause */
/* test_arena.c — the bump arena: alignment, zeroing, large blocks, cleanups. */
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/arena.h"
#include "tests/unit/harness.h"

static void
test_arena_alloc_is_aligned_and_zeroed(void)
{
	struct arena *a = arena_new(256);
	REQUIRE(a != NULL);
	for (size_t n = 1; n < 100; n += 7) {
		unsigned char *p = arena_alloc(a, n);
		REQUIRE(p != NULL);
		CHECK_INT((uintptr_t)p % alignof(max_align_t), ==, 0);
		for (size_t i = 0; i < n; i++)
			CHECK_INT(p[i], ==, 0);
		memset(p, 0xa5, n);
	}
	arena_free(a);
}

static void
test_arena_large_block_keeps_chunk_space(void)
{
	struct arena *a = arena_new(1024);
	char *small1 = arena_alloc(a, 16);
	char *big = arena_alloc(a, 100000);
	char *small2 = arena_alloc(a, 16);

	REQUIRE(small1 && big && small2);
	memset(big, 1, 100000);
	/* the second small allocation comes from the same chunk */
	CHECK(small2 > small1 && small2 - small1 < 1024);
	CHECK_INT(arena_used(a), >=, 100032);
	arena_free(a);
}

static void
test_arena_large_block_first(void)
{
	struct arena *a = arena_new(64);
	REQUIRE(arena_alloc(a, 5000) != NULL);
	REQUIRE(arena_alloc(a, 8) != NULL);
	REQUIRE(arena_alloc(a, 5000) != NULL);
	arena_free(a);
}

static void
test_arena_strdup_and_strndup_copy_and_terminate(void)
{
	struct arena *a = arena_new(0);
	CHECK_STR(arena_strdup(a, "hello"), "hello");
	CHECK_STR(arena_strndup(a, "hello", 3), "hel");
	CHECK_STR(arena_strndup(a, "hi", 10), "hi");
	CHECK_STR(arena_strdup(a, ""), "");
	char *m = arena_memdup(a, "a\0b", 3);
	CHECK_MEM(m, 4, "a\0b\0", 4);
	arena_free(a);
}

static void
test_arena_calloc_refuses_overflow(void)
{
	struct arena *a = arena_new(0);
	CHECK(arena_calloc(a, SIZE_MAX / 2, 4) == NULL);
	CHECK(arena_alloc(a, SIZE_MAX - 4) == NULL);
	CHECK(arena_calloc(a, 10, 8) != NULL);
	arena_free(a);
}

static int order[8], n_order;

static void
record(void *arg)
{
	order[n_order++] = (int)(intptr_t)arg;
}

static void
test_arena_cleanups_run_last_first(void)
{
	struct arena *a = arena_new(128);
	n_order = 0;
	REQUIRE(arena_add_cleanup(a, record, (void *)1) == 0);
	(void)arena_alloc(a, 500);
	REQUIRE(arena_add_cleanup(a, record, (void *)2) == 0);
	REQUIRE(arena_add_cleanup(a, record, (void *)3) == 0);
	arena_free(a);
	CHECK_INT(n_order, ==, 3);
	CHECK_INT(order[0], ==, 3);
	CHECK_INT(order[1], ==, 2);
	CHECK_INT(order[2], ==, 1);
	arena_free(NULL);
}

HARNESS_MAIN(T(test_arena_alloc_is_aligned_and_zeroed),
    T(test_arena_large_block_keeps_chunk_space),
    T(test_arena_large_block_first),
    T(test_arena_strdup_and_strndup_copy_and_terminate),
    T(test_arena_calloc_refuses_overflow),
    T(test_arena_cleanups_run_last_first))
