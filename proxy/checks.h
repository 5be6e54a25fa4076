/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * checks.h — the gateway part of the exchange's CHECKS stage (SPEC §3
 * Gateway checks), run by exchange.c after allow and rate_limit and
 * before the action:
 *
 *   strip the identity headers auth sets (a client cannot forge them;
 *   checks_strip(), before allow) -> allow -> rate_limit -> auth.basic -> auth.jwt -> auth.forward (every configured one must
 *   pass) -> waf -> action
 *
 * It reads the per-configuration state of proxy/gateway.h held by the
 * exchange's snapshot.  auth.forward is asynchronous (a subrequest on the
 * worker's event_base, proxy/action_proxy_auth.c): checks_run() then
 * returns CHECKS_PENDING and the exchange continues later through
 * exchange_act() or an answer of its own.
 */
#ifndef LIMEN_PROXY_CHECKS_H
#define LIMEN_PROXY_CHECKS_H

#include <stddef.h>

struct exchange;

enum checks_result {
	CHECKS_PASS,		/* go on to the action now */
	CHECKS_ANSWERED,	/* a response was sent (401, 403, 503...) */
	CHECKS_PENDING		/* forward auth in flight */
};

/* Drop every client request header that auth may set (first of all). */
void checks_strip(struct exchange *x);
enum checks_result checks_run(struct exchange *x);

/* Add (copy) a request header; 0 or -1. */
int checks_req_add(struct exchange *x, const char *name, size_t name_len,
    const char *value, size_t value_len);

/* The forward-auth subrequest (action_proxy_auth.c): CHECKS_PENDING,
 * CHECKS_PASS for a cached 2xx (headers already copied), or
 * CHECKS_ANSWERED if it could not even start (503 sent). */
enum checks_result checks_forward_start(struct exchange *x);
/* Forward auth passed: the WAF, then the action. */
void checks_after_forward(struct exchange *x);

#endif
