/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * arena.h — a bump allocator with cleanup hooks (nginx pool, h2o mem pool).
 *
 * Everything allocated from an arena lives exactly as long as the arena:
 * one per loaded configuration, one per HTTP exchange.  Allocation is a
 * pointer bump inside a chunk; requests larger than a quarter of a chunk
 * get a block of their own so they do not waste the current chunk.
 * Memory is returned zeroed and aligned for any type.  Cleanup hooks
 * release non-memory resources (file descriptors, SSL_CTX, ...) when the
 * arena is freed, last registered first.
 *
 * Allocation failures return NULL (the caller sheds one request or rejects
 * one configuration, never the process); an arena is not thread-safe.
 */
#ifndef LIMEN_COMMON_ARENA_H
#define LIMEN_COMMON_ARENA_H

#include <stddef.h>

struct arena;

/* chunk_size 0 means the default (4 KiB). */
struct arena *arena_new(size_t chunk_size);
/* Zeroed, max_align_t-aligned memory; n 0 gives a valid unique pointer. */
void *arena_alloc(struct arena *a, size_t n);
/* n * size with overflow check. */
void *arena_calloc(struct arena *a, size_t n, size_t size);
char *arena_strdup(struct arena *a, const char *s);
/* Copies at most n bytes of s (stops at a NUL) and terminates. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* Copies exactly n bytes and adds a NUL after them. */
void *arena_memdup(struct arena *a, const void *p, size_t n);
/* fn(arg) runs at arena_free, in reverse order of registration. */
int arena_add_cleanup(struct arena *a, void (*fn)(void *), void *arg);
/* Bytes handed out so far (for tests and metrics). */
size_t arena_used(const struct arena *a);
/* Runs the cleanups, frees every chunk; NULL is fine. */
void arena_free(struct arena *a);
/* Runs the cleanups and empties a for reuse, keeping one chunk of the
 * arena's chunk size (a worker's cache of exchange arenas, issue 6). */
void arena_reset(struct arena *a);

#endif
