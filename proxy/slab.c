/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * slab.c — fixed-size records in page-aligned blocks (see slab.h).
 *
 * A block is SLAB_BLOCK bytes at a SLAB_BLOCK-aligned address: its header
 * first, then the records.  Records never handed out are carved from the
 * block in order (so untouched pages stay untouched); freed ones go on the
 * block's free list, linked through their first word.  The slab keeps two
 * lists: every block (to unmap them all) and the blocks with room, taken
 * from the head; a block that gets room again goes to the tail, so new
 * records fill the oldest blocks first and the others can empty out.
 */
#include "proxy/slab.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct slab_block {
	struct slab *slab;
	struct slab_block *prev, *next;		/* s->all */
	struct slab_block *aprev, *anext;	/* s->avail (blocks with room) */
	void *free;				/* freed records */
	unsigned used;				/* records handed out */
	unsigned carved;			/* records ever handed out */
	int listed;				/* on s->avail */
};

struct slab {
	size_t rsize;			/* record size, rounded up */
	size_t off;			/* offset of the first record */
	unsigned per_block;
	void *owner;
	struct slab_block *all;
	struct slab_block *avail, *avail_tail;
	struct slab_block *spare;	/* an empty block kept mapped */
	size_t used, blocks;
};

#define SLAB_ALIGN 8
#define ROUND_UP(n, a) (((n) + (a) - 1) / (a) * (a))

struct slab *
slab_new(size_t size, void *owner)
{
	struct slab *s;

	if (size == 0 || size > SLAB_BLOCK / 4)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->rsize = ROUND_UP(size, SLAB_ALIGN);
	s->off = ROUND_UP(sizeof(struct slab_block), SLAB_ALIGN);
	s->per_block = (unsigned)((SLAB_BLOCK - s->off) / s->rsize);
	s->owner = owner;
	return s;
}

static struct slab_block *
slab_block_of(const void *rec)
{
	return (struct slab_block *)((uintptr_t)rec &
	    ~(uintptr_t)(SLAB_BLOCK - 1));
}

static void
slab_avail_remove(struct slab *s, struct slab_block *b)
{
	if (!b->listed)
		return;
	if (b->aprev != NULL)
		b->aprev->anext = b->anext;
	else
		s->avail = b->anext;
	if (b->anext != NULL)
		b->anext->aprev = b->aprev;
	else
		s->avail_tail = b->aprev;
	b->aprev = b->anext = NULL;
	b->listed = 0;
}

static void
slab_avail_append(struct slab *s, struct slab_block *b)
{
	if (b->listed)
		return;
	b->anext = NULL;
	b->aprev = s->avail_tail;
	if (s->avail_tail != NULL)
		s->avail_tail->anext = b;
	else
		s->avail = b;
	s->avail_tail = b;
	b->listed = 1;
}

/* A fresh block, aligned: map twice the size and cut the slack off. */
static struct slab_block *
slab_block_new(struct slab *s)
{
	struct slab_block *b;
	uintptr_t p, a;
	void *m;

	m = mmap(NULL, 2 * SLAB_BLOCK, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	p = (uintptr_t)m;
	a = ROUND_UP(p, (uintptr_t)SLAB_BLOCK);
	if (a > p)
		(void)munmap(m, a - p);
	if (p + 2 * SLAB_BLOCK > a + SLAB_BLOCK)
		(void)munmap((void *)(a + SLAB_BLOCK),
		    p + 2 * SLAB_BLOCK - (a + SLAB_BLOCK));
	b = (struct slab_block *)a;	/* mmap gives zeroed pages */
	b->slab = s;
	b->next = s->all;
	if (s->all != NULL)
		s->all->prev = b;
	s->all = b;
	s->blocks++;
	return b;
}

static void
slab_block_unmap(struct slab *s, struct slab_block *b)
{
	slab_avail_remove(s, b);
	if (b->prev != NULL)
		b->prev->next = b->next;
	else
		s->all = b->next;
	if (b->next != NULL)
		b->next->prev = b->prev;
	if (s->spare == b)
		s->spare = NULL;
	s->blocks--;
	(void)munmap(b, SLAB_BLOCK);
}

void *
slab_alloc(struct slab *s)
{
	struct slab_block *b = s->avail;
	void *rec;

	if (b == NULL) {
		if ((b = slab_block_new(s)) == NULL)
			return NULL;
		slab_avail_append(s, b);
	}
	if (b->free != NULL) {
		rec = b->free;
		memcpy(&b->free, rec, sizeof(void *));
	} else {
		rec = (char *)b + s->off + (size_t)b->carved * s->rsize;
		b->carved++;
	}
	if (s->spare == b)
		s->spare = NULL;
	if (++b->used == s->per_block)
		slab_avail_remove(s, b);
	s->used++;
	memset(rec, 0, s->rsize);
	return rec;
}

void
slab_release(void *rec)
{
	struct slab_block *b;
	struct slab *s;

	if (rec == NULL)
		return;
	b = slab_block_of(rec);
	s = b->slab;
	memcpy(rec, &b->free, sizeof(void *));
	b->free = rec;
	b->used--;
	s->used--;
	if (b->used == 0) {
		if (s->spare != NULL && s->spare != b) {
			slab_block_unmap(s, b);
			return;
		}
		s->spare = b;	/* last in line: fill the others first */
		slab_avail_remove(s, b);
	}
	slab_avail_append(s, b);
}

void *
slab_owner(const void *rec)
{
	return slab_block_of(rec)->slab->owner;
}

void
slab_free_all(struct slab *s)
{
	if (s == NULL)
		return;
	while (s->all != NULL)
		slab_block_unmap(s, s->all);
	free(s);
}

size_t
slab_used(const struct slab *s)
{
	return s->used;
}

size_t
slab_blocks(const struct slab *s)
{
	return s->blocks;
}

size_t
slab_record_size(const struct slab *s)
{
	return s->rsize;
}
