/* SPDX-License-Identifier: BSD-2-Clause */
/* renew.c — see renew.h. */
#include "acme/renew.h"

#include <stdio.h>

#include <openssl/rand.h>

time_t
renew_due(const struct renew_cert *c, const struct renew_window *ari,
    uint64_t renew_before_s, double rnd)
{
	time_t life = c->not_after - c->not_before, start, width, t;

	if (rnd < 0 || rnd >= 1)
		rnd = 0;
	if (life <= 0)
		return c->not_before;	/* nonsense dates: renew now */
	/* the CA's window, unless we already renewed inside it */
	if (ari != NULL && ari->end > ari->start &&
	    c->obtained_at < ari->start)
		return ari->start + (time_t)(rnd * (double)(ari->end - ari->start));
	if (renew_before_s > 0 && (time_t)renew_before_s < life)
		start = c->not_after - (time_t)renew_before_s;
	else
		start = c->not_before + life * 2 / 3;
	width = life / 20;
	t = start + (time_t)(rnd * (double)width);
	/* one order per window: a window that had begun when we obtained
	 * this certificate has been acted on already */
	if (c->obtained_at >= start && t < c->obtained_at + life / 3)
		t = c->obtained_at + life / 3;
	return t;
}

uint64_t
renew_backoff_ms(unsigned failures, uint64_t base_ms, uint64_t max_ms,
    double rnd)
{
	uint64_t d = base_ms;

	if (rnd < 0 || rnd >= 1)
		rnd = 0;
	for (unsigned i = 1; i < failures && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	return d / 2 + (uint64_t)(rnd * (double)(d - d / 2));
}

long
renew_ari_poll_s(long retry_after)
{
	if (retry_after < 0)
		return 6 * 3600;
	if (retry_after < 60)
		return 60;
	if (retry_after > 86400)
		return 86400;
	return retry_after;
}

double
renew_random(void)
{
	uint32_t v;

	if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
		return 0.5;
	return (double)v / 4294967296.0;
}

const char *
renew_time_str(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)t);
	return buf;
}
