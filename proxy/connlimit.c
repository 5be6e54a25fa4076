/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * connlimit.c — lock-free connection limits on accept (see connlimit.h).
 */
#include "proxy/connlimit.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define CONNLIMIT_SLOTS 65536u		/* 256 KiB of counters */

static atomic_uint connlimit_n;
static atomic_uint connlimit_slot[CONNLIMIT_SLOTS];
static uint64_t connlimit_key[2];
static pthread_once_t connlimit_once = PTHREAD_ONCE_INIT;

static void
connlimit_init(void)
{
	if (getrandom(connlimit_key, sizeof(connlimit_key), 0) !=
	    sizeof(connlimit_key)) {
		connlimit_key[0] = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL;
		connlimit_key[1] = (uint64_t)time(NULL) ^ connlimit_key[0];
	}
}

/* A keyed mix of 64-bit words (splitmix64 finaliser rounds): fast, and
 * unpredictable without the key, which is all this table needs. */
static uint64_t
connlimit_mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 31;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 29;
	return h;
}

/* The two slots of an address; false for families we do not count. */
static bool
connlimit_slots(const struct sockaddr *sa, uint32_t *a, uint32_t *b)
{
	uint64_t v;
	uint64_t h;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		v = s4->sin_addr.s_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		const uint8_t *p = s6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			uint32_t x;

			memcpy(&x, p + 12, 4);
			v = x;
		} else {
			/* one client usually owns a whole /64 */
			memcpy(&v, p, 8);
			v ^= 0x6000000000000000ULL;
		}
	} else
		return false;
	pthread_once(&connlimit_once, connlimit_init);
	h = connlimit_mix(connlimit_key[0], v);
	*a = (uint32_t)(h % CONNLIMIT_SLOTS);
	h = connlimit_mix(connlimit_key[1], v);
	*b = (uint32_t)(h % CONNLIMIT_SLOTS);
	if (*b == *a)
		*b = (*a + 1) % CONNLIMIT_SLOTS;
	return true;
}

int
connlimit_admit(const struct sockaddr *sa, uint32_t max_conns,
    uint32_t max_per_ip)
{
	unsigned flags = 0;
	uint32_t a, b;

	if (max_conns != 0) {
		if (atomic_fetch_add_explicit(&connlimit_n, 1,
		    memory_order_relaxed) >= max_conns) {
			atomic_fetch_sub_explicit(&connlimit_n, 1,
			    memory_order_relaxed);
			return -1;
		}
		flags |= CONNLIMIT_TOTAL;
	}
	if (max_per_ip != 0 && connlimit_slots(sa, &a, &b)) {
		unsigned na, nb;

		na = atomic_fetch_add_explicit(&connlimit_slot[a], 1,
		    memory_order_relaxed);
		nb = atomic_fetch_add_explicit(&connlimit_slot[b], 1,
		    memory_order_relaxed);
		if ((na < nb ? na : nb) >= max_per_ip) {
			atomic_fetch_sub_explicit(&connlimit_slot[a], 1,
			    memory_order_relaxed);
			atomic_fetch_sub_explicit(&connlimit_slot[b], 1,
			    memory_order_relaxed);
			connlimit_release(sa, flags);
			return -1;
		}
		flags |= CONNLIMIT_IP;
	}
	return (int)flags;
}

void
connlimit_release(const struct sockaddr *sa, unsigned flags)
{
	uint32_t a, b;

	if (flags & CONNLIMIT_TOTAL)
		atomic_fetch_sub_explicit(&connlimit_n, 1,
		    memory_order_relaxed);
	if ((flags & CONNLIMIT_IP) && connlimit_slots(sa, &a, &b)) {
		atomic_fetch_sub_explicit(&connlimit_slot[a], 1,
		    memory_order_relaxed);
		atomic_fetch_sub_explicit(&connlimit_slot[b], 1,
		    memory_order_relaxed);
	}
}

uint32_t
connlimit_total(void)
{
	return atomic_load_explicit(&connlimit_n, memory_order_relaxed);
}
