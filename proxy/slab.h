/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * slab.h — fixed-size records packed in page-aligned blocks (issue 6).
 *
 * For many small records of one size that live long and come and go in
 * bursts: conn.c's compact idle connections.  malloc spreads such records
 * over a heap that also holds everything the busy connections allocated,
 * so once those are freed the records pin pages that are otherwise empty
 * (malloc_trim cannot return them) and each record pays a chunk header.
 * Here records sit back to back in SLAB_BLOCK-sized, SLAB_BLOCK-aligned
 * blocks mapped on their own; a record finds its block (and the slab) by
 * rounding its address down.  Pages of a block are only touched as records
 * are first handed out; a block whose records are all freed is unmapped
 * (one empty block is kept as a spare).  Single-threaded: one slab per
 * worker.
 */
#ifndef LIMEN_PROXY_SLAB_H
#define LIMEN_PROXY_SLAB_H

#include <stddef.h>

#define SLAB_BLOCK (64 * 1024)

struct slab;

/* A slab of records of size bytes (rounded up to 8; at most a quarter of
 * a block); owner is returned by slab_owner().  NULL on failure. */
struct slab *slab_new(size_t size, void *owner);
/* Unmaps every block: every record of s is gone. */
void slab_free_all(struct slab *s);
/* A zeroed record, or NULL (out of memory). */
void *slab_alloc(struct slab *s);
/* Give back a record from slab_alloc (of any slab). */
void slab_release(void *rec);
/* The owner of the slab that rec came from. */
void *slab_owner(const void *rec);
/* Records handed out, blocks mapped (spare included). */
size_t slab_used(const struct slab *s);
size_t slab_blocks(const struct slab *s);
/* Bytes one record takes in a block (its size rounded up). */
size_t slab_record_size(const struct slab *s);

#endif
