/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * renew.h — when to renew a certificate and when to try again after a
 * failure.  Pure functions of their inputs (the random draw is passed in),
 * so the policy is unit-tested without clocks or a CA.
 *
 * Renewal follows the CA's ACME Renewal Information window (RFC 9773)
 * when there is one, else starts at two thirds of the lifetime (or
 * acme.renew_before ahead of expiry), at a random point of a short window
 * so a fleet does not renew in lockstep.  One order per name per window:
 * if the certificate we hold was obtained after the window began (the
 * window was in the past, or the CA backdated notBefore), the next order
 * is not before a third of the lifetime after we obtained it — a broken
 * window cannot cause a burst of orders.
 */
#ifndef LIMEN_ACME_RENEW_H
#define LIMEN_ACME_RENEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct renew_cert {
	time_t not_before, not_after;
	time_t obtained_at;	/* when limen installed it */
};

struct renew_window {
	time_t start, end;	/* end > start */
};

/*
 * The time to start renewing (may be in the past: renew now).  ari may be
 * NULL; renew_before_s is acme.renew_before (0 = not set); rnd in [0, 1).
 */
time_t renew_due(const struct renew_cert *c, const struct renew_window *ari,
    uint64_t renew_before_s, double rnd);

/*
 * Delay before attempt failures + 1: base * 2^(failures-1), capped at
 * max, with "equal jitter" (half fixed, half random) so retries of many
 * names spread out.  failures >= 1.
 */
uint64_t renew_backoff_ms(unsigned failures, uint64_t base_ms,
    uint64_t max_ms, double rnd);

/* Seconds until the next renewalInfo poll, from the CA's Retry-After
 * (-1 if none): clamped to [1 minute, 1 day], default 6 hours. */
long renew_ari_poll_s(long retry_after);

/* "2026-11-23T21:38:12Z" into buf (at least 21 bytes); returns buf. */
const char *renew_time_str(time_t t, char *buf, size_t size);

/* A uniform draw in [0, 1) from OpenSSL's RNG. */
double renew_random(void);

#endif
