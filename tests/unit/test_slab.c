/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_slab.c — proxy/slab.c: fixed-size records in aligned blocks, as
 * conn.c keeps its compact idle connections.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/slab.h"
#include "tests/unit/harness.h"

static void
test_slab_records_are_zeroed_aligned_and_know_their_owner(void)
{
	int owner;
	struct slab *s = slab_new(211, &owner);
	unsigned char *a, *b;

	REQUIRE(s != NULL);
	CHECK_INT(slab_record_size(s), ==, 216);
	a = slab_alloc(s);
	b = slab_alloc(s);
	REQUIRE(a != NULL && b != NULL);
	CHECK_INT((uintptr_t)a % 8, ==, 0);
	CHECK_INT((uintptr_t)(b - a) >= 216 || (uintptr_t)(a - b) >= 216, ==, 1);
	CHECK_INT(slab_owner(a) == &owner, ==, 1);
	for (size_t i = 0; i < 211; i++)
		if (a[i] != 0)
			harness_fail(__FILE__, __LINE__, "byte %zu not zero", i);
	memset(a, 0xaa, 211);
	slab_release(a);
	a = slab_alloc(s);	/* the freed one comes back, zeroed */
	REQUIRE(a != NULL);
	CHECK_INT(a[0] | a[100] | a[210], ==, 0);
	CHECK_INT(slab_used(s), ==, 2);
	slab_free_all(s);
}

static void
test_slab_unmaps_empty_blocks_but_one_spare(void)
{
	struct slab *s = slab_new(200, NULL);
	enum { N = 2000 };
	void **recs = calloc(N, sizeof(*recs));
	size_t full;

	REQUIRE(s != NULL && recs != NULL);
	for (int i = 0; i < N; i++) {
		recs[i] = slab_alloc(s);
		REQUIRE(recs[i] != NULL);
		memset(recs[i], i & 0xff, 200);
	}
	full = slab_blocks(s);
	/* 2000 records of 200 bytes need 7 blocks of 64 KiB */
	CHECK_INT(full, ==, (N + (SLAB_BLOCK / 200 - 2)) / (SLAB_BLOCK / 200 - 1));
	for (int i = 0; i < N; i++) {	/* contents intact */
		unsigned char *p = recs[i];
		if (p[0] != (i & 0xff) || p[199] != (i & 0xff))
			harness_fail(__FILE__, __LINE__, "record %d changed", i);
	}
	for (int i = 0; i < N; i++)
		slab_release(recs[i]);
	CHECK_INT(slab_used(s), ==, 0);
	CHECK_INT(slab_blocks(s), ==, 1);
	/* filling again reuses the spare before mapping more */
	for (int i = 0; i < N; i++)
		REQUIRE((recs[i] = slab_alloc(s)) != NULL);
	CHECK_INT(slab_blocks(s), ==, full);
	slab_free_all(s);
	free(recs);
}

static void
test_slab_fills_older_blocks_before_new_ones(void)
{
	struct slab *s = slab_new(1000, NULL);
	enum { N = 300 };
	void *recs[N];
	size_t blocks;

	REQUIRE(s != NULL);
	for (int i = 0; i < N; i++)
		REQUIRE((recs[i] = slab_alloc(s)) != NULL);
	blocks = slab_blocks(s);
	/* free every other record: no block empties, none is unmapped */
	for (int i = 0; i < N; i += 2)
		slab_release(recs[i]);
	CHECK_INT(slab_blocks(s), ==, blocks);
	for (int i = 0; i < N; i += 2)
		REQUIRE((recs[i] = slab_alloc(s)) != NULL);
	CHECK_INT(slab_blocks(s), ==, blocks);
	CHECK_INT(slab_used(s), ==, N);
	CHECK_INT(slab_new(SLAB_BLOCK, NULL) == NULL, ==, 1);
	CHECK_INT(slab_new(0, NULL) == NULL, ==, 1);
	slab_free_all(s);
}

HARNESS_MAIN(T(test_slab_records_are_zeroed_aligned_and_know_their_owner),
    T(test_slab_unmaps_empty_blocks_but_one_spare),
    T(test_slab_fills_older_blocks_before_new_ones))
