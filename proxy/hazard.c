/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * hazard.c — one hazard record per thread, on its own cache line, in a
 * list that only grows (records of finished threads are reused).  The
 * protect loop stores the pointer and checks that the source still holds
 * it (sequentially consistent), so a writer that swapped the source and
 * then scans the records either sees the protection or the reader sees
 * the new value and tries again.
 */
#include "proxy/hazard.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/log.h"

struct hazard_rec {
	_Alignas(64) void *_Atomic ptr;
	atomic_bool used;
	struct hazard_rec *next;
};

static struct hazard_rec *_Atomic hazard_head;
static _Thread_local struct hazard_rec *hazard_mine;
static pthread_key_t hazard_key;
static pthread_once_t hazard_once = PTHREAD_ONCE_INIT;

static void
hazard_thread_exit(void *arg)
{
	struct hazard_rec *r = arg;

	atomic_store(&r->ptr, NULL);
	atomic_store(&r->used, false);
}

static void
hazard_init(void)
{
	if (pthread_key_create(&hazard_key, hazard_thread_exit) != 0)
		fatalx("hazard: pthread_key_create failed");
}

static struct hazard_rec *
hazard_record(void)
{
	struct hazard_rec *r;
	bool f;

	if (hazard_mine != NULL)
		return hazard_mine;
	pthread_once(&hazard_once, hazard_init);
	for (r = atomic_load(&hazard_head); r != NULL; r = r->next) {
		f = false;
		if (!atomic_load(&r->used) &&
		    atomic_compare_exchange_strong(&r->used, &f, true))
			goto found;
	}
	if ((r = aligned_alloc(64, sizeof(*r))) == NULL)
		return NULL;
	atomic_init(&r->ptr, NULL);
	atomic_init(&r->used, true);
	r->next = atomic_load(&hazard_head);
	while (!atomic_compare_exchange_weak(&hazard_head, &r->next, r))
		;
found:
	hazard_mine = r;
	pthread_setspecific(hazard_key, r);
	return r;
}

void *
hazard_protect(void *_Atomic *src)
{
	struct hazard_rec *r = hazard_record();
	void *v;

	if (r == NULL)
		return NULL;	/* out of memory: the caller sees nothing */
	for (;;) {
		v = atomic_load(src);
		atomic_store(&r->ptr, v);
		if (atomic_load(src) == v)
			return v;
	}
}

void
hazard_clear(void)
{
	if (hazard_mine != NULL)
		atomic_store_explicit(&hazard_mine->ptr, NULL,
		    memory_order_release);
}

bool
hazard_in_use(const void *p)
{
	struct hazard_rec *r;

	for (r = atomic_load(&hazard_head); r != NULL; r = r->next)
		if (atomic_load(&r->ptr) == p)
			return true;
	return false;
}
