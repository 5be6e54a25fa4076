/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * hazard.h — hazard pointers: lock-free reading of a pointer that another
 * thread may swap and free (a pool's server set, replaced by DNS).
 *
 * A reader protects the current value of an atomic pointer for a short
 * critical section (one pick); a writer that swapped the pointer frees the
 * old object only once no thread protects it (hazard_in_use).  Each thread
 * owns one record on its own cache line, so readers never write a shared
 * line.  One protection per thread at a time: critical sections must not
 * nest.
 */
#ifndef LIMEN_PROXY_HAZARD_H
#define LIMEN_PROXY_HAZARD_H

#include <stdbool.h>

/* Load *src and protect the value until hazard_clear(); returns it
 * (NULL only if *src is NULL or the thread's record cannot be allocated). */
void *hazard_protect(void *_Atomic *src);
void hazard_clear(void);
/* Whether any thread protects p right now (for the thread that retired p). */
bool hazard_in_use(const void *p);

#endif
