/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * arena.c — see arena.h.  Chunks form a singly linked list; the head is
 * the one being bumped.  Large blocks are linked behind the head so the
 * head keeps its free space.
 */
#include "common/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_DEFAULT_CHUNK 4096
#define ARENA_ALIGN alignof(max_align_t)

struct arena_chunk {
	struct arena_chunk *next;
	size_t size;		/* usable bytes after the header */
	size_t used;
	alignas(max_align_t) unsigned char data[];
};

struct arena_cleanup {
	struct arena_cleanup *next;
	void (*fn)(void *);
	void *arg;
};

struct arena {
	struct arena_chunk *head;
	struct arena_cleanup *cleanups;
	size_t chunk_size;
	size_t used;
};

static struct arena_chunk *
arena_chunk_new(size_t size)
{
	struct arena_chunk *c;

	if (size > SIZE_MAX - sizeof *c)
		return NULL;
	c = malloc(sizeof *c + size);
	if (c == NULL)
		return NULL;
	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

struct arena *
arena_new(size_t chunk_size)
{
	struct arena *a;

	if (chunk_size == 0)
		chunk_size = ARENA_DEFAULT_CHUNK;
	if ((a = calloc(1, sizeof *a)) == NULL)
		return NULL;
	a->chunk_size = chunk_size;
	return a;
}

static size_t
arena_round(size_t n)
{
	return (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
}

void *
arena_alloc(struct arena *a, size_t n)
{
	struct arena_chunk *c;
	size_t need;
	void *p;

	if (n == 0)
		n = 1;
	if (n > SIZE_MAX - ARENA_ALIGN)
		return NULL;
	need = arena_round(n);
	c = a->head;
	if (c != NULL && c->size - c->used >= need) {
		p = c->data + c->used;
		c->used += need;
		a->used += need;
		memset(p, 0, n);
		return p;
	}
	if (need > a->chunk_size / 4) {
		/* a block of its own, linked behind the head */
		if ((c = arena_chunk_new(need)) == NULL)
			return NULL;
		c->used = need;
		if (a->head != NULL) {
			c->next = a->head->next;
			a->head->next = c;
		} else
			a->head = c;
	} else {
		if ((c = arena_chunk_new(a->chunk_size)) == NULL)
			return NULL;
		c->used = need;
		c->next = a->head;
		a->head = c;
	}
	a->used += need;
	memset(c->data, 0, n);
	return c->data;
}

void *
arena_calloc(struct arena *a, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	return arena_alloc(a, n * size);
}

void *
arena_memdup(struct arena *a, const void *src, size_t n)
{
	char *p;

	if (n == SIZE_MAX || (p = arena_alloc(a, n + 1)) == NULL)
		return NULL;
	if (n)
		memcpy(p, src, n);
	p[n] = '\0';
	return p;
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
	return arena_memdup(a, s, strnlen(s, n));
}

char *
arena_strdup(struct arena *a, const char *s)
{
	return arena_memdup(a, s, strlen(s));
}

int
arena_add_cleanup(struct arena *a, void (*fn)(void *), void *arg)
{
	struct arena_cleanup *cl;

	if ((cl = arena_alloc(a, sizeof *cl)) == NULL)
		return -1;
	cl->fn = fn;
	cl->arg = arg;
	cl->next = a->cleanups;
	a->cleanups = cl;
	return 0;
}

size_t
arena_used(const struct arena *a)
{
	return a->used;
}

void
arena_free(struct arena *a)
{
	struct arena_chunk *c, *next;
	struct arena_cleanup *cl;

	if (a == NULL)
		return;
	/* cleanups live in the chunks: run them all before freeing any */
	for (cl = a->cleanups; cl != NULL; cl = cl->next)
		cl->fn(cl->arg);
	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}

void
arena_reset(struct arena *a)
{
	struct arena_chunk *c, *next, *keep = NULL;
	struct arena_cleanup *cl;

	for (cl = a->cleanups; cl != NULL; cl = cl->next)
		cl->fn(cl->arg);
	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		if (keep == NULL && c->size == a->chunk_size)
			keep = c;
		else
			free(c);
	}
	if (keep != NULL) {
		keep->next = NULL;
		keep->used = 0;
	}
	a->head = keep;
	a->cleanups = NULL;
	a->used = 0;
}
